import geopandas as gpd
import gpxpy
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids


@pytest.fixture(scope="module")
def client(tmp_path_factory, helsinki):
    url = f"sqlite:///{tmp_path_factory.mktemp('patrol') / 'p.db'}"
    with open_store(url) as s:
        s.write(helsinki.layers())
        s.write({"grids": quadrant_grids(helsinki.buildings.total_bounds)})
        s.write(
            {
                "stations": gpd.GeoDataFrame(
                    {"station_id": ["S1"], "name": ["Station"]},
                    geometry=[shapely.Point(24.9445, 60.1690)],
                    crs=4326,
                )
            }
        )
        s.set_setting("bounds", list(helsinki.bounds))
    with TestClient(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        yield c


@pytest.fixture(scope="module")
def plan(client):
    r = client.post(
        "/api/patrols",
        json={
            "station_id": "S1",
            "k": 3,
            "area_code": "091001001001002",
            "days": 2,
            "time_limit_s": 3,
            "hotspots": False,
            "name": "test",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_plan_covers_area_and_is_balanced(plan):
    summary = plan["summary"]
    assert summary["required_streets"] > 50
    for day in summary["days"]:
        assert day["coverage"] == 1.0
        assert day["longest_m"] >= day["lower_bound_m"] - 1e-6
    routes = plan["routes"]["features"]
    day1 = [f for f in routes if f["properties"]["day"] == 1]
    lengths = [f["properties"]["length_m"] for f in day1]
    assert len(day1) == 3 and max(lengths) / min(lengths) < 1.10
    for f in day1:  # closed walk: starts and ends at the station
        coords = f["geometry"]["coordinates"]
        assert np.allclose(coords[0], coords[-1])


def test_rotation_days_differ_with_near_equal_longest(plan):
    days = plan["summary"]["days"]
    assert abs(days[0]["longest_m"] - days[1]["longest_m"]) <= 0.05 * days[0]["longest_m"]
    geoms = {}
    for f in plan["routes"]["features"]:
        geoms.setdefault(f["properties"]["day"], []).append(shapely.geometry.shape(f["geometry"]))
    assert not all(a.equals(b) for a, b in zip(geoms[1], geoms[2], strict=False))


def test_gpx_reads_back_with_gpxpy(client, plan):
    team = plan["summary"]["teams"][0]
    r = client.get(f"/api/patrols/{plan['plan_id']}/teams/{team}/route.gpx")
    assert r.status_code == 200 and "gpx" in r.headers["content-type"]
    gpx = gpxpy.parse(r.text)
    pts = gpx.tracks[0].segments[0].points
    route = next(
        f
        for f in plan["routes"]["features"]
        if f["properties"]["team_id"] == team and f["properties"]["day"] == 1
    )
    assert len(pts) == len(route["geometry"]["coordinates"])
    assert abs(pts[0].longitude - route["geometry"]["coordinates"][0][0]) < 1e-6
    assert any(w.name == "Station" for w in gpx.waypoints)


def test_compliance_from_uploaded_track(client, plan):
    team = plan["summary"]["teams"][1]
    gpx_text = client.get(f"/api/patrols/{plan['plan_id']}/teams/{team}/route.gpx").text
    r = client.post(
        f"/api/patrols/{plan['plan_id']}/teams/{team}/compliance",
        files={"track": ("walk.gpx", gpx_text, "application/gpx+xml")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["walked_share"] > 0.98
    bad = client.post(
        f"/api/patrols/{plan['plan_id']}/teams/{team}/compliance",
        files={"track": ("walk.gpx", "<gpx><trk>", "application/gpx+xml")},
    )
    assert bad.status_code == 422


def test_plan_pages(client, plan):
    team = plan["summary"]["teams"][0]
    page = client.get(f"/patrols/{plan['plan_id']}")
    assert page.status_code == 200 and "gp-legend" in page.text
    phone = client.get(f"/patrols/{plan['plan_id']}/teams/{team}?lang=zh")
    assert phone.status_code == 200 and "下载 GPX" in phone.text and "route.gpx" in phone.text


def test_unknown_station_and_area(client):
    r = client.post("/api/patrols", json={"station_id": "nope", "k": 2})
    assert r.status_code == 404
    r = client.post("/api/patrols", json={"station_id": "S1", "k": 2, "area_code": "999"})
    assert r.status_code == 404
