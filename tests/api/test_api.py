import re

import pytest
from fastapi.testclient import TestClient

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids


@pytest.fixture(scope="module")
def client(tmp_path_factory, helsinki):
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'p.db'}"
    with open_store(url) as s:
        s.write(helsinki.layers())
        s.write({"grids": quadrant_grids(helsinki.buildings.total_bounds)})
        s.set_setting("bounds", list(helsinki.bounds))
    app = create_app(Settings(database_url=url, max_page_size=500, max_body_mb=1))
    with TestClient(app) as c:
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
    r = client.post("/api/grids", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_overview_page_is_offline(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.text
    srcs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/static/") for s in srcs), srcs
    for src in srcs:
        assert client.get(src).status_code == 200, src


def test_overview_language(client):
    assert "网格" in client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    assert "Grids" in client.get("/?lang=en", headers={"accept-language": "zh-CN"}).text
