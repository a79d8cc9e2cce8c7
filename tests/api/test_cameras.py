"""Camera endpoints on the Helsinki extract: views, coverage, blind spots, siting, import,
edit and history."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.geo.coverage import NO_CAMERAS_NOTE
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as


@pytest.fixture(scope="module")
def client(tmp_path_factory, helsinki):
    url = f"sqlite:///{tmp_path_factory.mktemp('cams') / 'p.db'}"
    with open_store(url) as s:
        s.write(helsinki.layers())
        s.write({"grids": quadrant_grids(helsinki.buildings.total_bounds)})
        s.set_setting("bounds", list(helsinki.bounds))
    app = create_app(Settings(database_url=url, max_page_size=500, max_body_mb=5))
    with client_as(app) as c:
        yield c


def test_every_helsinki_camera_has_a_view_that_stops_at_walls(client, helsinki):
    body = client.get("/api/cameras/views").json()
    views = gpd.GeoDataFrame.from_features(body["features"], crs=4326)
    assert set(views["source_id"]) == set(helsinki.cameras["source_id"])
    assert set(views["band"]) <= {"identify", "recognise", "observe"}
    metric = views.estimate_utm_crs()
    seen = shapely.union_all(views.to_crs(metric).geometry.values)
    roofs = shapely.union_all(helsinki.buildings.to_crs(metric).geometry.values)
    # the views lie outside the footprints (up to slivers between rays)
    assert shapely.area(shapely.intersection(seen, roofs)) < 0.01 * shapely.area(seen)


def test_coverage_per_grid_community_and_street(client):
    grid = client.get("/api/cameras/coverage").json()
    assert grid["n_cameras"] == 221 and 0 < grid["street_share"] < 1
    assert len(grid["rows"]) == 4
    assert all(0 <= r["street_share"] <= 1 and 0 <= r["area_share"] <= 1 for r in grid["rows"])
    assert any(r["street_share"] > 0 for r in grid["rows"])
    community = client.get("/api/cameras/coverage", params={"by": "community"}).json()
    assert len(community["rows"]) == 1
    assert community["rows"][0]["seen_street_m"] == pytest.approx(
        sum(r["seen_street_m"] for r in grid["rows"]), rel=1e-3
    )
    street = client.get("/api/cameras/coverage", params={"by": "street"}).json()
    assert len(street["rows"]) > 10 and "name" in street["rows"][0]
    assert client.get("/api/cameras/coverage", params={"by": "planet"}).status_code == 422


def test_blind_spots(client):
    blind = client.get("/api/cameras/blindspots", params={"limit": 50}).json()
    assert 0 < blind["numberReturned"] <= 50
    props = blind["features"][0]["properties"]
    assert props["rank"] == 1 and props["seen_share"] <= 0.1
    areas = client.get("/api/cameras/blindspots", params={"kind": "areas"}).json()
    assert areas["numberReturned"] > 0
    from gridpatrol.services.cameras import blind_dwell_points

    with open_store(client.app.state.settings.database_url) as store:
        dwell = blind_dwell_points(store, limit=5)
    assert len(dwell) == 5 and dwell["rank"].tolist() == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_siting_ten_cameras_on_helsinki(client):
    r = client.post("/api/cameras/siting", params={"n": 10})
    assert r.status_code == 200, r.text
    out = r.json()
    summary = out["summary"]
    assert summary["suggested"] == 10
    assert summary["street_share_after"] > summary["street_share_before"]
    added = [f["properties"]["added_street_m"] for f in out["sites"]["features"]]
    assert sum(added) == pytest.approx(summary["added_street_m"], abs=1.0)
    assert client.post("/api/cameras/siting", params={"n": -1}).status_code == 422


def test_import_edit_history(client, tmp_path):
    csv = tmp_path / "cams.csv"
    csv.write_text(
        "id,lon,lat,direction,angle,range,height\n"
        "new:1,24.9440,60.1690,90,70,25,5\n"
        "new:2,24.9450,60.1695,,,,\n"
    )
    r = client.post("/api/cameras/import", files={"file": ("cams.csv", csv.read_bytes())})
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2 and r.json()["defaulted"]["direction"] == 1
    r = client.patch("/api/cameras/new:2/edit", json={"direction": 180, "fov": 45})
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["direction"] == 180 and "direction" not in props["defaulted"]
    assert client.patch("/api/cameras/new:2/edit", json={"fov": 999}).status_code == 422
    assert client.patch("/api/cameras/nope/edit", json={"fov": 10}).status_code == 404
    hist = client.get("/api/cameras/new:2/history").json()
    assert [e["action"] for e in hist] == ["import", "edit"]
    assert hist[1]["detail"]["direction"] == {"from": None, "to": 180}
    assert client.delete("/api/cameras/new:1/edit").status_code == 204
    assert [e["action"] for e in client.get("/api/cameras/new:1/history").json()] == [
        "import",
        "delete",
    ]
    # a broken file changes nothing
    bad = b"id,lon,lat,direction\nx,24.9,60.1,north-ish\n"
    r = client.post("/api/cameras/import", files={"file": ("bad.csv", bad)})
    assert r.status_code == 422 and "direction" in r.json()["detail"]
    assert client.get("/api/cameras/x/history").status_code == 404


def test_project_without_cameras_has_zero_coverage_and_a_note(tmp_path, helsinki):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    layers = {k: v for k, v in helsinki.layers().items() if k != "cameras"}
    grids = quadrant_grids(helsinki.buildings.total_bounds)
    with open_store(url) as s:
        s.write(layers)
        s.write({"grids": grids})
    app = create_app(Settings(database_url=url))
    with client_as(app) as c:
        empty = tmp_path / "none.geojson"
        empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
        r = c.post("/api/cameras/import", files={"file": ("none.geojson", empty.read_bytes())})
        assert r.status_code == 200 and r.json() == {
            "imported": 0,
            "defaulted": {},
            "note": NO_CAMERAS_NOTE,
        }
        body = c.get("/api/cameras/coverage").json()
        assert body["street_share"] == 0 and body["note"] == NO_CAMERAS_NOTE
        assert all(r["street_share"] == 0 and r["area_share"] == 0 for r in body["rows"])
        assert c.get("/api/cameras/views").json()["features"] == []
        assert c.get("/api/cameras/blindspots").json()["numberReturned"] > 0
        # the cameras page fits the project's grids, not the whole world
        page = c.get("/maps/cameras")
        assert page.status_code == 200
        fit = re.search(
            r"fitBounds\(\s*\[\[([-\d.]+),\s*([-\d.]+)\],\s*\[([-\d.]+),\s*([-\d.]+)\]\]", page.text
        )
        assert fit, "the cameras page of a project without cameras sets no map extent"
        miny, minx, maxy, maxx = (float(g) for g in fit.groups())
        assert (minx, miny, maxx, maxy) == pytest.approx(tuple(grids.total_bounds), abs=1e-6)


@pytest.mark.browser
def test_cameras_page_draws_views_blind_streets_and_sites(client, tmp_path):
    """The cameras page in headless Chromium, zoomed on a street corner: views by band,
    blind streets, suggested sites; no request leaves the machine, no console error."""
    import os
    from pathlib import Path

    from tests.maps.cdp import CHROMIUM, check_page, serve_app

    if CHROMIUM is None:
        pytest.skip("browser tests need Chromium: apt-get install chromium")
    app = client.app
    out = os.environ.get("GRIDPATROL_SCREENSHOTS")
    zoom = """new Promise(done => {
      const map = Object.values(window).find(v => v && v._layers && v.getCenter);
      map.setView([60.1676, 24.9440], 18);
      const marker = Object.values(map._layers).find(l => l.getPopup && l.getPopup());
      marker.openPopup();
      const form = document.querySelector('form.gp-cam-edit');
      form.querySelector('input[name=direction]').value = '123';
      form.requestSubmit();
      setTimeout(() => done({layers: Object.keys(map._layers).length,
        edit: form.querySelector('.gp-cam-msg').textContent,
        legend: document.getElementById('gp-coverage-legend').textContent}), 1500);
    })"""
    with serve_app(app) as base:
        report = check_page(
            f"{base}/maps/cameras?sites=5",
            str(Path(out) / "cameras-coverage.png") if out else None,
            zoom,
        )
    assert report["external_requests"] == [] and report["console_errors"] == []
    assert report["exceptions"] == []
    legend = report["evaluate"]["legend"]
    assert "Street coverage" in legend and "after the suggestions" in legend
    assert report["evaluate"]["layers"] > 221
    # the popup form reached the API, which wants a planner (the page is anonymous)
    assert report["evaluate"]["edit"] == "log in as a planner to edit cameras"


def test_import_edit_and_history_on_both_stores(store_url):
    """The camera write path in one transaction each, on SQLite and PostGIS."""
    from gridpatrol.services import cameras as service

    cams = gpd.GeoDataFrame(
        {"camera_id": ["a", "b"], "bearing": [10.0, None], "range": [25.0, 30.0]},
        geometry=[shapely.Point(24.94, 60.17), shapely.Point(24.95, 60.17)],
        crs=4326,
    )
    with open_store(store_url) as store:
        report = service.import_cameras(store, cams, actor="t")
        assert report["imported"] == 2 and report["defaulted"]["direction"] == 1
        service.edit_camera(store, "b", {"direction": 270, "lon": 24.951}, actor="t")
        with pytest.raises(service.SchemaError):
            service.edit_camera(store, "b", {"fov": 0}, actor="t")
        row = store.read("cameras", where={"source_id": "b"})
        assert row["direction"].iloc[0] == 270 and row.geometry.x.iloc[0] == pytest.approx(24.951)
        hist = service.camera_history(store, "b")
        assert hist["action"].tolist() == ["import", "edit"]
        assert hist["detail"].iloc[1]["position"]["to"] == [24.951, 60.17]
        # a refused import changes nothing
        bad = cams.assign(bearing=["x", "y"])
        with pytest.raises(service.SchemaError):
            service.import_cameras(store, bad)
        assert store.read("cameras", where={"source_id": "a"})["direction"].iloc[0] == 10
        assert len(service.camera_history(store, "a")) == 1


def test_import_from_geopackage_in_a_metric_crs(tmp_path):
    from gridpatrol.services import cameras as service

    path = tmp_path / "cams.gpkg"
    gpd.GeoDataFrame(
        {"id": ["g1"], "azimuth": [200.0], "hfov": [75.0], "height": [6.5]},
        geometry=[shapely.Point(385600.0, 6671900.0)],
        crs="EPSG:3067",
    ).to_file(path, driver="GPKG")
    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as store:
        assert service.import_cameras(store, path)["imported"] == 1
        cam = store.read("cameras").iloc[0]
    assert (cam["direction"], cam["fov"], cam["height_m"]) == (200.0, 75.0, 6.5)
    assert 24 < cam.geometry.x < 26 and cam["defaulted"] == "camera_type,range_m"
