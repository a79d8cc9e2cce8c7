import re

import pytest

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory, helsinki):
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'p.db'}"
    with open_store(url) as s:
        s.write(helsinki.layers())
        s.write({"grids": quadrant_grids(helsinki.buildings.total_bounds)})
        s.set_setting("bounds", list(helsinki.bounds))
    app = create_app(Settings(database_url=url, max_page_size=500, max_body_mb=1))
    with client_as(app) as c:
        yield c


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["store"] == "embedded" and body["schema_version"] >= 1


def test_layers_listed_with_counts(client):
    layers = {layer["name"]: layer for layer in client.get("/api/layers").json()}
    assert layers["cameras"]["count"] == 221
    assert layers["grids"]["count"] == 4


def test_geojson_is_rfc7946(client):
    r = client.get("/api/cameras", params={"limit": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 5
    assert body["numberMatched"] == 221
    f = body["features"][0]
    lon, lat = f["geometry"]["coordinates"]
    assert 24 < lon < 26 and 60 < lat < 61  # lon, lat order, WGS84
    assert f["id"].startswith("osm:node/")
    assert "crs" not in body  # RFC 7946 has no crs member


def test_paging_walks_every_feature_once(client):
    seen, url = [], "/api/cameras?limit=100"
    while url:
        body = client.get(url).json()
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert len(seen) == 221 == len(set(seen))


def test_page_size_is_capped(client):
    body = client.get("/api/streets", params={"limit": 100000}).json()
    assert body["numberReturned"] == 500


def test_bbox_filter(client):
    everything = client.get("/api/buildings").json()["numberMatched"]
    box = "24.935,60.165,24.945,60.170"
    body = client.get("/api/buildings", params={"bbox": box}).json()
    assert 0 < body["numberMatched"] < everything


@pytest.mark.parametrize("box", ["1,2,3", "a,b,c,d", "24.9,60.2,24.8,60.1", "60.1,200,60.2,201"])
def test_bad_bbox_is_422_with_reason(client, box):
    r = client.get("/api/buildings", params={"bbox": box})
    assert r.status_code == 422
    assert "bbox" in r.json()["detail"]


def test_filters(client):
    body = client.get("/api/streets", params={"network": "drive", "limit": 500}).json()
    assert body["numberMatched"] > 0
    assert {f["properties"]["network"] for f in body["features"]} == {"drive"}


def test_openapi_docs(client):
    spec = client.get("/openapi.json").json()
    assert "/api/grids" in spec["paths"] and "/health" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_huge_payload_is_refused(client):
    r = client.post(
        "/api/grids", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_overview_page_is_offline(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.text
    srcs = [
        s
        for s in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        if not s.startswith("data:")
    ]
    assert srcs and all(s.startswith("/static/") for s in srcs), srcs
    for src in srcs:
        assert client.get(src).status_code == 200, src


def test_overview_language(client):
    assert (
        "gridpatrol · 概览" in client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    )
    assert (
        "gridpatrol · Overview"
        in client.get("/?lang=en", headers={"accept-language": "zh-CN"}).text
    )


# -- incidents ------------------------------------------------------------------------


def _incident(i, **over):
    body = {
        "incident_id": f"api-{i}",
        "reported_at": "2026-11-20T09:00:00+02:00",
        "category": "sanitation",
        "description": "overflowing bins",
        "location": {"lon": 24.945, "lat": 60.168, "crs": "wgs84"},
    }
    body.update(over)
    return body


def test_report_one_incident_and_read_it_back(client):
    r = client.post("/api/incidents", json=_incident(1))
    assert r.status_code == 200, r.text
    assert r.json()["created"] == ["api-1"]
    feature = client.get("/api/incidents/api-1").json()
    assert feature["properties"]["grid_code"] != ""
    assert feature["properties"]["status"] == "reported"


def test_batch_is_whole_or_nothing_and_partial_returns_reasons(client):
    batch = [_incident(10), _incident(11, category="ghosts")]
    r = client.post("/api/incidents/batch", json=batch)
    assert r.status_code == 422
    assert r.json()["rejected"][0]["incident_id"] == "api-11"
    assert client.get("/api/incidents/api-10").status_code == 404
    r = client.post("/api/incidents/batch", params={"partial": "true"}, json=batch)
    assert r.status_code == 200 and r.json()["created"] == ["api-10"]
    assert "unknown category" in r.json()["rejected"][0]["reason"]


def test_a_refused_single_report_says_just_the_reason(client):
    r = client.post("/api/incidents", json=_incident(12, category="ghosts"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "unknown category 'ghosts'" in detail
    assert "row" not in detail and "partial" not in detail and "rejected" not in r.json()
    # the batch keeps its batch wording
    r = client.post("/api/incidents/batch", json=[_incident(12, category="ghosts")])
    assert r.status_code == 422 and "partial=true" in r.json()["detail"]


@pytest.mark.parametrize(
    "location, reason",
    [
        ({"lon": 24.945, "lat": 160.168}, "latitude 160.168 is out of range (-90..90)"),
        ({"lon": 60.168, "lat": 24.945}, "lon/lat look swapped"),
    ],
)
def test_single_report_location_reasons(client, location, reason):
    r = client.post("/api/incidents", json=_incident(13, location=location))
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(reason)


def test_nan_longitude_is_named(client):
    body = '{"incident_id": "api-14", "reported_at": "2026-11-20T09:00:00+02:00", ' + (
        '"category": "sanitation", "location": {"lon": NaN, "lat": 60.168}}'
    )
    r = client.post("/api/incidents", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "lon is not a finite number" in r.text


def test_geojson_batch_in_gcj02(client):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "fc-1",
                "geometry": {"type": "Point", "coordinates": [24.946, 60.169]},
                "properties": {"reported_at": "2026-11-20T10:00:00+02:00", "category": "traffic"},
            }
        ],
    }
    r = client.post("/api/incidents/batch", params={"crs": "gcj02"}, json=fc)
    assert r.status_code == 200, r.text
    again = client.post("/api/incidents/batch", params={"crs": "gcj02"}, json=fc)
    assert again.json()["unchanged"] == ["fc-1"]


def test_dispatch_actions_history_and_figures(client):
    client.post("/api/incidents", json=_incident(20))
    assert (
        client.post(
            "/api/incidents/api-20/actions", json={"action": "verify", "actor": "x"}
        ).status_code
        == 409
    )
    for action in ("assign", "start", "resolve", "verify"):
        r = client.post(
            "/api/incidents/api-20/actions", json={"action": action, "actor": "worker 3"}
        )
        assert r.status_code == 200, r.text
    history = client.get("/api/incidents/api-20/history").json()
    assert [e["action"] for e in history] == ["report", "assign", "start", "resolve", "verify"]
    figures = client.get("/api/incidents/figures").json()
    assert sum(f["closed"] for f in figures) >= 1


def test_hotspots_and_density(client):
    batch = [
        _incident(100 + i, location={"lon": 24.945 + i * 1e-4, "lat": 60.168, "crs": "wgs84"})
        for i in range(30)
    ]
    assert client.post("/api/incidents/batch", json=batch).status_code == 200
    gi = client.get(
        "/api/incidents/hotspots", params={"units": "cells", "cell_size": 200, "permutations": 9999}
    ).json()
    assert gi["features"] and {"gi_z", "p_sim", "hotspot"} <= set(gi["features"][0]["properties"])
    assert any(f["properties"]["hotspot"] == "hot" for f in gi["features"])
    kde = client.get("/api/incidents/density").json()
    assert kde["features"] and kde["features"][0]["properties"]["density"] > 0


def test_hotspot_filters_are_validated(client):
    assert client.get("/api/incidents/hotspots", params={"hours": "late"}).status_code == 422
    assert client.get("/api/incidents/hotspots", params={"weekdays": "8"}).status_code == 422
    assert client.get("/api/incidents/density", params={"start": "yesterday"}).status_code == 422
    empty = client.get("/api/incidents/density", params={"categories": "no_such"}).json()
    assert empty["features"] == []
