"""Camera blind spots feed the patrol planner (issue 15, section 4), on the Helsinki extract:
blind streets with incidents are walked on every rotation day, blind areas are dwell stops;
a project without cameras plans normally, with a note."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.geo.network import edges_in_area
from gridpatrol.services import cameras
from gridpatrol.services import patrols as service
from gridpatrol.services.incidents import ingest_incidents
from gridpatrol.store.base import open_store
from tests.api.test_patrols import AREA, _shift_incidents
from tests.conftest import quadrant_grids
from tests.tokens import client_as

STATION = shapely.Point(24.9445, 60.1690)


def _project(url: str, helsinki, *, with_cameras: bool) -> None:
    layers = helsinki.layers()
    if not with_cameras:
        layers.pop("cameras")
    with open_store(url) as s:
        s.write(layers)
        grids = quadrant_grids(helsinki.buildings.total_bounds)
        s.write({"grids": grids})
        s.write(
            {
                "stations": gpd.GeoDataFrame(
                    {"station_id": ["S1"], "name": ["Station"]}, geometry=[STATION], crs=4326
                )
            }
        )
        s.set_setting("bounds", list(helsinki.bounds))
        area = grids.loc[grids["code"] == AREA].geometry.iloc[0]
        walk = layers["streets"][layers["streets"]["network"] == "walk"]
        ingest_incidents(s, _shift_incidents(walk, area), now=pd.Timestamp("2026-11-21", tz="UTC"))


@pytest.fixture(scope="module")
def db_url(tmp_path_factory, helsinki):
    url = f"sqlite:///{tmp_path_factory.mktemp('patrolcams') / 'p.db'}"
    _project(url, helsinki, with_cameras=True)
    return url


BODY = {
    "station_id": "S1",
    "k": 2,
    "area_code": AREA,
    "days": 2,
    # only residential streets are asked for: the blind streets must be added to each day
    "required_highways": ["residential"],
    "hotspots": False,
    "max_dwells": 3,
    "time_limit_s": 3,
}


@pytest.fixture(scope="module")
def blind_plan(db_url):
    with client_as(create_app(Settings(database_url=db_url, escalation_interval_s=0))) as c:
        r = c.post("/api/patrols", json=BODY)  # the option is on by default: cameras exist
        assert r.status_code == 201, r.text
        return r.json()


def _blind_streets_in_area(db_url) -> set[tuple]:
    """(ends, key) of the blind streets with incidents in the plan's area, either way."""
    with open_store(db_url) as s:
        G = service.load_graph(s, "walk")
        area = service.area_polygon(s, service.PlanRequest("S1", area_code=AREA), G.graph["crs"])
        blind = cameras.blind_street_priorities(s)
    in_area = {(frozenset((str(u), str(v))), str(k)) for u, v, k in edges_in_area(G, area)}
    blind = blind[blind["network"] == "walk"]
    ids = zip(blind["u"], blind["v"], blind["key"], strict=True)
    return {(frozenset((str(u), str(v))), str(k)) for u, v, k in ids} & in_area


def test_blind_streets_are_walked_on_every_day(blind_plan, db_url):
    summary = blind_plan["summary"]
    blind = _blind_streets_in_area(db_url)
    assert blind, "the Helsinki incidents should leave some blind street in the area"
    used = summary["camera_blind_spots"]
    assert used["used"] and used["streets"] == len(blind)
    assert "camera coverage" in used["source"]
    assert any("from camera coverage" in n for n in summary["notes"])
    with open_store(db_url) as s:
        routes = s.read("patrol_routes", where={"plan_id": blind_plan["plan_id"]})
    assert sorted(routes["day"].unique()) == [1, 2]
    # streets the station cannot reach are listed, not walked
    blind -= {(frozenset(map(str, e[:2])), str(e[2])) for e in summary["unreachable_streets"]}
    assert len(blind) >= used["streets"] - len(summary["unreachable_streets"]) > 0
    ends = {pair for pair, _ in blind}
    for day, grp in routes.groupby("day"):
        # a two-way street is named by either arc (keys may differ): compare by its ends
        walked = {frozenset((str(u), str(v))) for e in grp["edges"] for u, v, _ in json.loads(e)}
        assert ends <= walked, f"day {day} misses blind streets {ends - walked}"
    assert all(d["coverage"] == 1.0 for d in summary["days"])


def test_blind_areas_are_dwell_stops(blind_plan, db_url):
    used = blind_plan["summary"]["camera_blind_spots"]
    assert 0 < used["dwell_points"] <= 3
    with open_store(db_url) as s:
        routes = s.read("patrol_routes", where={"plan_id": blind_plan["plan_id"]})
        points = cameras.blind_dwell_points(s, limit=3)
        grid = s.read("grids", where={"code": AREA}).geometry.iloc[0]
    points = points[points.within(grid)]
    metric = points.estimate_utm_crs()
    points = points.to_crs(metric)
    for day, grp in routes.groupby("day"):
        stops = [st for js in grp["stops"] for st in json.loads(js)]
        blind = [st for st in stops if st["name"] == "camera blind spot"]
        assert len(blind) == used["dwell_points"] == len(points), f"day {day}: {blind}"
        at = gpd.GeoSeries.from_xy(
            [st["lon"] for st in blind], [st["lat"] for st in blind], crs=4326
        ).to_crs(metric)
        for p in points.geometry:  # each blind area's point has a dwell stop near it
            assert at.distance(p).min() < 150
        assert grp["dwell_minutes"].sum() == pytest.approx(12.0 * len(blind))


def test_option_off_plans_only_the_asked_streets(db_url):
    with client_as(create_app(Settings(database_url=db_url, escalation_interval_s=0))) as c:
        r = c.post("/api/patrols", json=BODY | {"days": 1, "camera_blind_spots": False})
    assert r.status_code == 201, r.text
    summary = r.json()["summary"]
    assert summary["camera_blind_spots"] == {"used": False}
    with open_store(db_url) as s:
        G = service.load_graph(s, "walk")
        area = service.area_polygon(s, service.PlanRequest("S1", area_code=AREA), G.graph["crs"])
    residential = [e for e in edges_in_area(G, area) if G.edges[e]["highway"] == "residential"]
    assert summary["required_streets"] == len(residential)


def test_project_without_cameras_plans_normally_with_a_note(tmp_path, helsinki):
    url = f"sqlite:///{tmp_path / 'nocams.db'}"
    _project(url, helsinki, with_cameras=False)
    with open_store(url) as s:
        assert s.read("cameras").empty
        plan_id = service.plan_patrols(
            s, service.PlanRequest(**(BODY | {"days": 1, "camera_blind_spots": True}))
        )
        meta, routes = service.get_plan(s, plan_id)
    summary = meta["summary"]
    assert summary["camera_blind_spots"]["used"] is False
    assert service.NO_CAMERAS_PLAN_NOTE in summary["notes"]
    assert summary["days"][0]["coverage"] == 1.0 and len(routes) == 2


def test_cli_plan_has_the_same_option(db_url):
    from typer.testing import CliRunner

    from gridpatrol.cli import app as cli_app

    args = ["plan", "--station", "S1", "--k", "2", "--area", AREA, "--highways", "residential"]
    args += ["--no-hotspots", "--max-dwells", "2", "--time-limit", "2", "--db", db_url]
    on = CliRunner().invoke(cli_app, args, catch_exceptions=False)
    assert on.exit_code == 0, on.output
    assert "from camera coverage" in " ".join(on.output.split())
    off = CliRunner().invoke(cli_app, [*args, "--no-camera-blind-spots"], catch_exceptions=False)
    assert off.exit_code == 0, off.output
    assert "camera coverage" not in off.output
    with open_store(db_url) as s:
        plans = s.read("patrol_plans").sort_values("created_at")
    requests = [json.loads(r) for r in plans["request"]]
    assert [r["camera_blind_spots"] for r in requests[-2:]] == [None, False]
