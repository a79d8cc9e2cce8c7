"""Embed tokens: admin-only creation, scope checks, public incident counts, framing."""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.maps.embed import ORDER
from gridpatrol.services import embed as tk
from gridpatrol.services.incidents import ingest_incidents
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as

ANCESTORS = "https://portal.example.org https://*.example.net"
SECRET_WORDS = "confidential-description-text"


def make_app(url: str, **kw) -> object:
    values = {
        "escalation_interval_s": 0,
        "frame_ancestors": ANCESTORS,
        "public_url": "https://maps.example.org",
        **kw,
    }
    settings = Settings(database_url=url, **values)
    return create_app(settings)


def _points(box: tuple[float, float, float, float], n: int, seed: int) -> np.ndarray:
    """``n`` points well inside ``box`` (the middle third)."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = box
    w, h = maxx - minx, maxy - miny
    return np.column_stack(
        [rng.uniform(minx + w / 3, maxx - w / 3, n), rng.uniform(miny + h / 3, maxy - h / 3, n)]
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory, helsinki):
    """Helsinki with four quadrant grids; 12 incidents in Q1, 2 in Q2, 6 in Q3.

    The token area is the north half (Q1 + Q2), a little inside.
    """
    folder = tmp_path_factory.mktemp("embed")
    url = f"sqlite:///{folder / 'p.db'}"
    grids = quadrant_grids(helsinki.buildings.total_bounds)
    minx, miny, maxx, maxy = helsinki.buildings.total_bounds
    midy = (miny + maxy) / 2
    pad = (maxy - miny) / 50
    area = (minx + pad, midy + pad, maxx - pad, maxy - pad)
    b = dict(zip(grids["name"], grids.geometry.bounds.itertuples(index=False), strict=True))
    pts = np.vstack([_points(b["Q1"], 12, 1), _points(b["Q2"], 2, 2), _points(b["Q3"], 6, 3)])
    incidents = pd.DataFrame(
        {
            "incident_id": [f"INC-9f3a-{i:04d}" for i in range(len(pts))],
            "reported_at": "2026-11-20T21:13:07+02:00",
            "category": "public_order",
            "description": [f"{SECRET_WORDS} {i:04d}" for i in range(len(pts))],
            "lon": pts[:, 0],
            "lat": pts[:, 1],
        }
    )
    with open_store(url) as s:
        s.write(helsinki.layers())
        s.write({"grids": grids})
        s.set_setting("bounds", list(helsinki.bounds))
        ingest_incidents(s, incidents, now=pd.Timestamp("2026-11-21", tz="UTC"))
        assert s.count("incidents") == 20
    return {
        "url": url,
        "folder": folder,
        "area": area,
        "grids": grids,
        "incidents": incidents,
        "south": (minx + pad, miny + pad, maxx - pad, midy - pad),
    }


@pytest.fixture(scope="module")
def client(project):
    with client_as(make_app(project["url"]), "admin") as c:
        yield c


def header(secret: str) -> dict[str, str]:
    return {"X-Embed-Token": secret}


def make_token(client, area, layers=("grids", "incidents_aggregate"), **kw) -> dict:
    body = {"label": "Community portal", "layers": list(layers), "area": list(area), **kw}
    r = client.post("/api/embed/tokens", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def token(client, project):
    return make_token(client, project["area"])


# -- admin ------------------------------------------------------------------------------


def test_creating_tokens_needs_an_admin_token(client, project):
    body = {"label": "x", "layers": ["grids"], "area": list(project["area"])}
    app = client.app
    with client_as(app, role=None) as anonymous:
        assert anonymous.post("/api/embed/tokens", json=body).status_code == 401
        assert anonymous.get("/api/embed/tokens").status_code == 401
        bad = {"Authorization": "Bearer gpt_not-a-token"}
        assert anonymous.post("/api/embed/tokens", json=body, headers=bad).status_code == 401
    for role in ("planner", "dispatcher", "patrol", "viewer"):
        with client_as(app, role) as other:
            assert other.post("/api/embed/tokens", json=body).status_code == 403
            assert other.delete("/api/embed/tokens/abc").status_code == 403
    r = client.post("/api/embed/tokens", json=body)
    assert r.status_code == 201 and r.json()["created_by"].startswith("test admin (")


def test_created_token_and_embed_code(token):
    secret = token["token"]
    assert secret.startswith("gpe_") and len(secret) >= 4 + 43  # 32 random bytes, urlsafe
    assert re.fullmatch(r"gpe_[A-Za-z0-9_-]+", secret)
    assert token["embed_code"].startswith(
        f'<iframe src="https://maps.example.org/embed/map#token={secret}"'
    )
    assert "?token=" not in token["embed_code"] and "?token=" not in token["embed_url"]
    assert token["layers"] == ["grids", "incidents_aggregate"] and token["revoked_at"] is None


def test_listing_shows_no_secrets(client, token):
    r = client.get("/api/embed/tokens")
    assert r.status_code == 200
    listed = {t["id"]: t for t in r.json()}
    assert token["id"] in listed
    assert token["token"] not in r.text
    assert hashlib.sha256(token["token"].encode()).hexdigest() not in r.text
    assert "token" not in listed[token["id"]] and "token_hash" not in listed[token["id"]]


def test_only_the_hash_is_stored(client, project, token):
    with open_store(project["url"]) as s:
        rows = s.read("embed_tokens", where={"token_id": token["id"]})
    assert rows["token_hash"].iloc[0] == hashlib.sha256(token["token"].encode()).hexdigest()
    # The plain token is in no file of the store (database, WAL, shared memory, index cache).
    files = [p for p in project["folder"].rglob("p.db*") if p.is_file()]
    assert files
    for path in files:
        assert token["token"].encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"layers": ["incidents"]}, 422, "incidents_aggregate"),
        ({"layers": ["grids", "addresses"]}, 422, "not embeddable"),
        ({"area": [25.0, 60.2, 24.9, 60.1]}, 422, "min < max"),
        ({"area": {"type": "Point", "coordinates": [24.9, 60.1]}}, 422, "Polygon"),
        ({"area": "999999999"}, 404, "999999999"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, 422, "past"),
    ],
)
def test_bad_token_requests_say_why(client, project, body, status, words):
    full = {"label": "x", "layers": ["grids"], "area": list(project["area"]), **body}
    r = client.post("/api/embed/tokens", json=full)
    assert r.status_code == status, r.text
    assert words in r.text


def test_area_by_grid_code_and_geojson(client, project):
    code = project["grids"]["code"].iloc[0]
    r = client.post(
        "/api/embed/tokens",
        json={"label": "grid", "layers": ["grids"], "area": code},
    )
    assert r.status_code == 201 and r.json()["area_code"] == code
    polygon = shapely.geometry.mapping(shapely.box(*project["area"]))
    r = client.post(
        "/api/embed/tokens",
        json={"label": "poly", "layers": ["grids"], "area": polygon},
    )
    assert r.status_code == 201


def test_token_lifecycle_on_each_store(store):
    secret, record = tk.create_token(store, layers=["grids"], area=[24.9, 60.1, 25.0, 60.2])
    scope = tk.resolve_token(store, secret)
    assert scope.layers == ("grids",) and scope.area.bounds == (24.9, 60.1, 25.0, 60.2)
    assert store.read("embed_tokens")["token_hash"].tolist() == [tk.hash_token(secret)]
    with pytest.raises(tk.ScopeError, match="'cameras' is outside"):
        tk.check_scope(scope, "cameras", None)
    tk.revoke_token(store, record["id"])
    with pytest.raises(tk.EmbedTokenError, match="revoked"):
        tk.resolve_token(store, secret)
    with pytest.raises(tk.EmbedTokenError, match="not known"):
        tk.resolve_token(store, secret + "x")


# -- scope ------------------------------------------------------------------------------


def test_data_inside_the_scope(client, project, token):
    r = client.get("/embed/data/grids", headers=header(token["token"]))
    assert r.status_code == 200
    body = r.json()
    assert {f["properties"]["code"] for f in body["features"]} == set(project["grids"]["code"][:2])
    area = shapely.box(*project["area"]).buffer(1e-9)
    for f in body["features"]:
        assert area.covers(shapely.geometry.shape(f["geometry"]))  # clipped to the area
        assert set(f["properties"]) == {"code", "name", "households"}


def test_layer_outside_the_scope_is_403(client, token):
    for layer in ("buildings", "cameras", "incidents", "embed_tokens", "nonsense"):
        r = client.get(f"/embed/data/{layer}", headers=header(token["token"]))
        assert r.status_code == 403, layer
        assert f"layer {layer!r} is outside this embed token's scope" in r.json()["detail"]


def test_bbox_outside_the_area_is_403(client, project, token):
    south = ",".join(str(v) for v in project["south"])
    r = client.get("/embed/data/grids", params={"bbox": south}, headers=header(token["token"]))
    assert r.status_code == 403
    assert "outside this embed token's area" in r.json()["detail"]
    r = client.get(
        "/embed/data/incidents_aggregate", params={"bbox": south}, headers=header(token["token"])
    )
    assert r.status_code == 403
    # A bbox overlapping the area gets the area's part of it.
    minx, miny, maxx, maxy = project["area"]
    half = f"{minx},{miny - 0.05},{(minx + maxx) / 2 - 1e-4},{maxy}"
    r = client.get("/embed/data/grids", params={"bbox": half}, headers=header(token["token"]))
    assert r.status_code == 200
    assert [f["properties"]["code"] for f in r.json()["features"]] == [
        project["grids"]["code"].iloc[0]
    ]


def test_missing_and_unknown_tokens_are_401(client):
    assert client.get("/embed/data/grids").status_code == 401
    r = client.get("/embed/data/grids", headers=header("gpe_" + "A" * 43))
    assert r.status_code == 401 and "not known" in r.json()["detail"]
    assert client.get("/embed/scope").status_code == 401
    r = client.get("/embed/scope", headers=header("nope"))
    assert r.status_code == 401 and "not known" in r.json()["detail"]


def test_tokens_in_the_url_query_are_refused(client, token):
    """A ?token= reaches request lines and access logs: refused, saying what to do."""
    for path in ("/embed/map", "/embed/scope", "/embed/data/grids"):
        r = client.get(path, params={"token": token["token"]})
        assert r.status_code == 400, (path, r.text)
        assert "#token=" in r.text and "X-Embed-Token" in r.text
        assert token["token"] not in r.text
    # ... even next to a valid header: the URL already leaked it.
    r = client.get("/embed/data/grids", params={"token": "x"}, headers=header(token["token"]))
    assert r.status_code == 400


def test_embed_page_is_served_without_token_or_data(client, project, token):
    """The page shell holds no token and no data: its script reads #token= and sends it
    in the X-Embed-Token header to scope and data/{layer} (relative to the page)."""
    page = client.get("/embed/map")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "location.hash" in page.text and "X-Embed-Token" in page.text
    assert "get('scope')" in page.text and "get('data/' + n)" in page.text
    assert token["token"] not in page.text
    grid_code = str(project["grids"]["code"].iloc[0])
    assert grid_code not in page.text  # no layer is in the shell


def test_revoked_tokens_are_refused(client, project):
    t = make_token(client, project["area"])
    assert client.get("/embed/data/grids", headers=header(t["token"])).status_code == 200
    r = client.delete(f"/api/embed/tokens/{t['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = client.get("/embed/data/grids", headers=header(t["token"]))
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    r = client.get("/embed/scope", headers=header(t["token"]))
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    assert client.delete("/api/embed/tokens/nosuchid").status_code == 404


def test_expired_tokens_are_refused(client, project):
    with open_store(project["url"]) as s:
        secret, _ = tk.create_token(
            s,
            layers=["grids"],
            area=list(project["area"]),
            expires_at=pd.Timestamp("2021-01-01", tz="UTC"),
            now=pd.Timestamp("2020-01-01", tz="UTC"),
        )
    r = client.get("/embed/data/grids", headers=header(secret))
    assert r.status_code == 403 and "expired" in r.json()["detail"]


# -- public incidents -------------------------------------------------------------------


def _assert_no_incident_details(text: str, incidents: pd.DataFrame) -> None:
    for iid in incidents["incident_id"]:
        assert iid not in text
    assert "INC-" not in text and SECRET_WORDS not in text
    assert "2026-11-20" not in text and "21:13" not in text and "19:13" not in text
    for word in ("incident_id", "description", "reported_at", "category", "public_order"):
        assert word not in text
    for lon, lat in incidents[["lon", "lat"]].itertuples(index=False):
        assert repr(lon)[:12] not in text and repr(lat)[:12] not in text


def _assert_no_incident_points(body: dict, incidents: pd.DataFrame) -> None:
    """No vertex of any output geometry is (within 0.1 m) an incident's location."""
    coords = np.vstack(
        [shapely.get_coordinates(shapely.geometry.shape(f["geometry"])) for f in body["features"]]
    )
    points = incidents[["lon", "lat"]].to_numpy()
    nearest = np.abs(coords[:, None, :] - points[None, :, :]).max(axis=2).min()
    assert nearest > 1e-6
    assert {f["geometry"]["type"] for f in body["features"]} <= {"Polygon", "MultiPolygon"}


def test_incident_counts_hide_details_and_small_counts(client, project, token):
    r = client.get("/embed/data/incidents_aggregate", headers=header(token["token"]))
    assert r.status_code == 200
    _assert_no_incident_details(r.text, project["incidents"])
    body = r.json()
    _assert_no_incident_points(body, project["incidents"])
    assert body["min_count"] == 5
    by_code = {f["id"]: f["properties"] for f in body["features"]}
    q1, q2, q3, _ = project["grids"]["code"]
    assert set(by_code) == {q1, q2}  # Q3's six incidents are outside the area
    assert by_code[q1]["count"] == 12 and by_code[q1]["count_text"] == "12"
    assert by_code[q2]["count"] is None and by_code[q2]["count_text"] == "<5"
    assert by_code[q2]["suppressed"] is True
    assert not re.search(r'"count":\s*[0-4]\b', r.text)  # 2 appears nowhere as a count


def test_bbox_picks_units_but_never_changes_counts(client, project, token):
    lon, lat = project["incidents"][["lon", "lat"]].iloc[0]
    tiny = f"{lon - 1e-5},{lat - 1e-5},{lon + 1e-5},{lat + 1e-5}"
    r = client.get(
        "/embed/data/incidents_aggregate", params={"bbox": tiny}, headers=header(token["token"])
    )
    assert r.status_code == 200
    (feature,) = r.json()["features"]
    assert feature["properties"]["count"] == 12


def test_suppression_threshold_is_a_setting(project, token):
    with client_as(make_app(project["url"], embed_min_count=15), role=None) as c:
        r = c.get("/embed/data/incidents_aggregate", headers=header(token["token"]))
    props = [f["properties"] for f in r.json()["features"]]
    assert all(p["count"] is None and p["count_text"] == "<15" for p in props)
    assert not re.search(r'"count(_text)?":\s*"?12', r.text)  # no count of 12 anywhere


def test_incident_counts_per_cell(client, project):
    t = make_token(client, project["area"], layers=["incidents_aggregate"], incident_unit="cell")
    r = client.get("/embed/data/incidents_aggregate", headers=header(t["token"]))
    assert r.status_code == 200
    _assert_no_incident_details(r.text, project["incidents"])
    _assert_no_incident_points(r.json(), project["incidents"])
    props = [f["properties"] for f in r.json()["features"]]
    assert len(props) > 4 and {p["unit"] for p in props} == {"cell"}
    shown = [p["count"] for p in props if not p["suppressed"]]
    assert all(c >= 5 for c in shown) and sum(shown) <= 14
    assert all(p["count"] is None for p in props if p["suppressed"])


def test_embed_page_shows_only_counts(client, project, token):
    page = client.get("/embed/map")
    scope = client.get("/embed/scope", headers=header(token["token"]))
    assert scope.status_code == 200, scope.text
    body = scope.json()
    assert body["label"] == "Community portal" and body["min_count"] == 5
    assert body["layers"] == ["grids", "incidents_aggregate"]
    assert body["area"]["type"] in ("Polygon", "MultiPolygon")
    for text in (page.text, scope.text):
        _assert_no_incident_details(text, project["incidents"])
    assert "fewer than 5" in page.text


# -- framing and language ---------------------------------------------------------------


def test_embed_pages_may_be_framed_by_the_allowed_origins(client, token):
    for path in ("/embed/map", "/embed/scope", "/embed/data/grids"):
        r = client.get(path, headers=header(token["token"]))
        assert f"frame-ancestors {ANCESTORS}" in r.headers["content-security-policy"]
        assert r.headers.get("x-frame-options", "").upper() != "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_frame_ancestors_cannot_inject_directives(project, token):
    with client_as(
        make_app(project["url"], frame_ancestors="https://a.example; script-src *"), role=None
    ) as c:
        r = c.get("/embed/map", headers=header(token["token"]))
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "a.example" not in csp


def test_embed_page_in_chinese(client, token):
    zh = client.get("/embed/map", params={"lang": "zh"})
    assert "gridpatrol · 地图" in zh.text
    assert "少于 5" in zh.text  # the legend, and the tooltip text in the script's labels
    browser = client.get(
        "/embed/map",
        headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert "地图" in browser.text
    assert "地图" not in client.get("/embed/map").text


# -- browser ----------------------------------------------------------------------------

from tests.maps.cdp import CHROMIUM, serve_app  # noqa: E402

COUNT_LAYERS = """(async () => {
  const ready = await window.gpEmbedReady;
  const maps = Object.values(window).filter(v => v && v._layers && v.getCenter);
  const n = maps.length ? Object.keys(maps[0]._layers).length : 0;
  const title = (document.getElementById('gp-title') || {}).textContent;
  return {maps: maps.length, layers: n, title: title, ready: ready};
})()"""


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="browser tests need Chromium: apt-get install chromium",
)
def test_embed_page_loads_offline_in_a_browser(client, project):
    from tests.maps.cdp import check_page

    layers = ["streets", "buildings", "grids", "incidents_aggregate", "cameras", "areas"]
    token = make_token(client, project["area"], layers=layers)
    layers_in_order = [n for n in ORDER if n in layers]
    with serve_app(make_app(project["url"])) as base:
        url = f"{base}/embed/map?lang=zh#token={token['token']}"
        shots = os.environ.get("GRIDPATROL_SCREENSHOTS")
        report = check_page(url, shots and os.path.join(shots, "embed.png"), COUNT_LAYERS)
    assert report["external_requests"] == [], report["external_requests"]
    assert report["failed_requests"] == [], report["failed_requests"]
    assert report["console_errors"] == [], report["console_errors"]
    assert report["exceptions"] == [], report["exceptions"]
    assert [e for e in report["log_entries"] if e["level"] == "error"] == [], report["log_entries"]
    assert report["evaluate"]["ready"] == {"layers": layers_in_order}, report["evaluate"]
    assert report["evaluate"]["maps"] == 1 and report["evaluate"]["layers"] > 100
    assert "地图 · Community portal" in report["evaluate"]["title"]
