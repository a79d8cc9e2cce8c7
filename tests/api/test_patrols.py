import dataclasses
import json

import geopandas as gpd
import gpxpy
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.geo.errors import SchemaError
from gridpatrol.geo.network import edges_in_area
from gridpatrol.services import patrols as service
from gridpatrol.services.incidents import ingest_incidents
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as  # noqa: E402

AREA = "091001001001002"
MORNING = "Unioninkatu"  # the morning incidents cluster on this street, the evening ones on
EVENING = "Snellmaninkatu"  # this one: each shift's dwells follow its own hours


def _street_point(streets: gpd.GeoDataFrame, name: str, area) -> shapely.Point:
    on = streets[(streets["name"] == name) & streets.within(area)]
    return on.geometry.iloc[len(on) // 2].interpolate(0.5, normalized=True)


DX, DY, N, NB = 0.0012, 0.0006, 40, 10  # about 130 m x 130 m around the spot


def _shift_incidents(streets: gpd.GeoDataFrame, area) -> pd.DataFrame:
    """A cluster on MORNING at 9 h and one on EVENING at 19 h, over a scattered background."""
    rng = np.random.default_rng(5)
    minx, miny, maxx, maxy = area.bounds
    rows = []
    for street, hour in ((MORNING, 9), (EVENING, 19)):
        p = _street_point(streets, street, area)
        lon = np.r_[p.x + rng.uniform(-DX, DX, N), rng.uniform(minx, maxx, NB)]
        lat = np.r_[p.y + rng.uniform(-DY, DY, N), rng.uniform(miny, maxy, NB)]
        for i in range(len(lon)):
            rows.append(
                {
                    "incident_id": f"INC-{street[:4]}-{i:03d}",
                    "reported_at": f"2026-11-{10 + i % 9:02d}T{hour:02d}:{i % 60:02d}:00+00:00",
                    "category": "public_order",
                    "lon": lon[i],
                    "lat": lat[i],
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('patrol') / 'p.db'}"


@pytest.fixture(scope="module")
def client(db_url, helsinki):
    url = db_url
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
        grids = quadrant_grids(helsinki.buildings.total_bounds)
        area = grids.loc[grids["code"] == AREA].geometry.iloc[0]
        walk = helsinki.layers()["streets"]
        walk = walk[walk["network"] == "walk"]
        ingest_incidents(s, _shift_incidents(walk, area), now=pd.Timestamp("2026-11-21", tz="UTC"))
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        yield c


@pytest.fixture(scope="module")
def plan(client):
    r = client.post(
        "/api/patrols",
        json={
            "station_id": "S1",
            "k": 3,
            "area_code": AREA,
            "days": 2,
            "time_limit_s": 3,
            "hotspots": False,
            # no priorities: this plan checks balance and rotation over the area's streets
            # (blind spots are tested in test_patrols_cameras.py); with them the 3 s search
            # balanced less reliably on a clean CI run
            "camera_blind_spots": False,
            # one balanced k-route plan over the area (territories, the default, are
            # tested in test_patrol_territories_api.py)
            "territories": False,
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
    # steps phrased in Chinese at render time, day as 第 1 天
    assert "从平安驿站出发" in phone.text and "到达平安驿站" in phone.text
    assert "第 1 天" in phone.text and "Start at station" not in phone.text
    # unreachable streets drawn with their reason
    summary = plan["summary"]
    features = summary["unreachable_geojson"]["features"]
    assert len(features) == len(summary["unreachable_streets"])
    assert {f["properties"]["reason"] for f in features} <= {"disconnected", "one_way"}
    if features:
        assert "Unreachable: " in page.text
        zh_page = client.get(f"/patrols/{plan['plan_id']}?lang=zh")
        # folium embeds the GeoJSON as ASCII-escaped JSON
        assert "无法到达" in zh_page.text or json.dumps("无法到达")[1:-1] in zh_page.text


def test_unknown_station_and_area(client):
    r = client.post("/api/patrols", json={"station_id": "nope", "k": 2})
    assert r.status_code == 404
    r = client.post("/api/patrols", json={"station_id": "S1", "k": 2, "area_code": "999"})
    assert r.status_code == 404


@pytest.fixture(scope="module")
def shift_plan(client):
    r = client.post(
        "/api/patrols",
        json={
            "station_id": "S1",
            "k": 2,
            "area_code": AREA,
            "required_streets": [MORNING, EVENING],
            "shifts": [
                {"name": "morning", "start": "08:00", "end": "10:00"},
                {"name": "evening", "start": "18:30", "end": "21:00"},
            ],
            "stagger_minutes": 20,
            "dwell_minutes": 10,
            "max_dwells": 1,
            "camera_blind_spots": False,  # only hot-spot dwells, to compare shifts
            "time_limit_s": 2,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_two_shifts_get_own_routes_with_names_and_staggered_starts(shift_plan):
    routes = [f["properties"] for f in shift_plan["routes"]["features"]]
    by_shift = {}
    for p in routes:
        by_shift.setdefault(p["shift"], []).append(p)
    assert set(by_shift) == {"morning", "evening"}
    starts = {s: sorted(p["start_time"] for p in ps) for s, ps in by_shift.items()}
    assert starts == {"morning": ["08:00", "08:20"], "evening": ["18:30", "18:50"]}
    shifts = {s["name"]: s for s in shift_plan["summary"]["shifts"]}
    assert shifts["morning"]["hours"] == [8, 10] and shifts["evening"]["hours"] == [18, 21]
    assert shifts["morning"]["limit_minutes"] == 120 and shifts["evening"]["limit_minutes"] == 150
    days = shift_plan["summary"]["days"]
    assert [d["shift"] for d in days] == ["morning", "evening"]
    assert all(d["coverage"] == 1.0 for d in days)
    # a team starting later has less time before the shift ends: flagged against that
    for p in routes:
        start = int(p["start_time"][:2]) * 60 + int(p["start_time"][3:])
        end = {"morning": 600, "evening": 1260}[p["shift"]]
        assert p["over_shift"] == (p["minutes"] > end - start + 1e-6)


def test_each_shift_dwells_at_hot_spots_of_its_hours(client, shift_plan, db_url):
    with open_store(db_url) as s:
        walk = s.read("streets", where={"network": "walk"})
        grids = s.read("grids", where={"code": AREA})
    area = grids.geometry.iloc[0]
    expected = {
        "morning": _street_point(walk, MORNING, area),
        "evening": _street_point(walk, EVENING, area),
    }
    for shift, spot in expected.items():
        other = expected["evening" if shift == "morning" else "morning"]
        dwell = []
        for team in shift_plan["summary"]["teams"]:
            r = client.get(
                f"/api/patrols/{shift_plan['plan_id']}/teams/{team}/route.gpx",
                params={"shift": shift},
            )
            assert r.status_code == 200, r.text
            gpx = gpxpy.parse(r.text)
            assert shift in gpx.tracks[0].name
            dwell += [w for w in gpx.waypoints if w.name != "Station"]
        assert dwell, f"no dwell stop in the {shift} shift"
        for w in dwell:
            p = shapely.Point(w.longitude, w.latitude)
            assert p.distance(spot) < p.distance(other)
    r = client.get(
        f"/api/patrols/{shift_plan['plan_id']}/teams/team-1/route.gpx", params={"shift": "noon"}
    )
    assert r.status_code == 404


def test_required_highways_are_served_other_streets_only_connect(client, db_url):
    r = client.post(
        "/api/patrols",
        json={
            "station_id": "S1",
            "k": 2,
            "area_code": AREA,
            "required_highways": ["residential"],
            "hotspots": False,
            "camera_blind_spots": False,  # blind streets would be required too
            "time_limit_s": 2,
        },
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    with open_store(db_url) as s:
        G = service.load_graph(s, "walk")
        area = service.area_polygon(s, service.PlanRequest("S1", area_code=AREA), G.graph["crs"])
        routes = s.read("patrol_routes", where={"plan_id": plan["plan_id"]})
    in_area = edges_in_area(G, area)
    residential = [e for e in in_area if G.edges[e]["highway"] == "residential"]
    assert 0 < len(residential) < len(in_area)
    assert plan["summary"]["required_streets"] == len(residential)
    assert plan["summary"]["days"][0]["coverage"] == 1.0
    walked = {(u, v) for edges in routes["edges"] for u, v, _ in json.loads(edges)}
    for u, v, _ in residential:  # served in one direction or the other
        assert (u, v) in walked or (v, u) in walked
    kinds = {G.edges[u, v, k]["highway"] for e in routes["edges"] for u, v, k in json.loads(e)}
    assert "residential" in kinds and len(kinds) > 1  # other streets as connectors
    assert sum(routes["deadhead_m"]) > 0


def test_unknown_required_street_or_highway_is_422_with_close_matches(client):
    body = {"station_id": "S1", "k": 2, "area_code": AREA, "hotspots": False}
    r = client.post("/api/patrols", json=body | {"required_streets": ["Unioninkadu"]})
    assert r.status_code == 422, r.text
    assert "Unioninkadu" in r.text and "Unioninkatu" in r.text
    r = client.post("/api/patrols", json=body | {"required_highways": ["residental"]})
    assert r.status_code == 422 and "residential" in r.text
    r = client.post(
        "/api/patrols",
        json=body | {"shifts": [{"name": "x", "start": "25:00", "end": "02:00"}]},
    )
    assert r.status_code == 422 and "HH:MM" in r.text


def test_shift_hours_limits_and_midnight():
    req = service.PlanRequest(
        "S1",
        shifts=[
            {"name": "night", "start": "22:00", "end": "06:00"},
            {"name": "late", "start": "18:30", "end": "21:15"},
        ],
        shift_minutes=150,
    )
    night, late = service.plan_shifts(req, n_teams=3)
    assert (night.hours, night.minutes, night.start) == ((22, 6), 150.0, "22:00")
    assert (late.hours, late.minutes, late.start) == ((18, 22), 150.0, "18:30")
    with pytest.raises(SchemaError, match="too short"):
        service.plan_shifts(_with(req, stagger_minutes=90), n_teams=3)
    with pytest.raises(SchemaError, match="needs shifts"):
        service.plan_shifts(service.PlanRequest("S1", stagger_minutes=5), n_teams=2)
    single = service.plan_shifts(service.PlanRequest("S1", hours=(8, 12)), n_teams=2)
    assert [(s.name, s.hours, s.minutes) for s in single] == [("", (8, 12), None)]


def _with(req, **changes):
    return dataclasses.replace(req, **changes)


def test_cycle_plan_fits_each_shift_and_walks_hot_spots_every_day(client, db_url):
    r = client.post(
        "/api/patrols",
        json={
            "station_id": "S1",
            "k": 2,
            "area_code": AREA,
            "cycle": True,
            "cycle_days": 2,
            "shift_minutes": 90,
            "hours": [8, 11],  # the morning cluster: a hot spot dwell
            "dwell_minutes": 5,
            "camera_blind_spots": False,
            "time_limit_s": 2,
        },
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    cycle = plan["summary"]["cycle"]
    assert cycle["days"] == max(t["shifts"] for t in cycle["teams"]) > 2
    assert cycle["lengthened"] and any("cycle lasts" in n for n in plan["summary"]["notes"])
    assert cycle["every_shift_streets"] >= 1
    routes = plan["routes"]["features"]
    for t in cycle["teams"]:
        assert max(t["minutes_per_shift"]) <= 90 + 1e-6
        assert len(t["km_per_shift"]) == t["days_to_full_coverage"] == t["shifts"]
    for f in routes:
        assert f["properties"]["minutes"] <= 90 + 0.01 and not f["properties"]["over_shift"]
    with open_store(db_url) as s:
        rows = s.read("patrol_routes", where={"plan_id": plan["plan_id"]})
    # the hot spot is walked (with its dwell) in every shift of the team whose streets it
    # is on; the last day covers all
    dwells = rows.assign(
        dwell=[any(st["kind"] == "dwell" for st in json.loads(x)) for x in rows["stops"]]
    ).groupby("team_id")["dwell"]
    assert dwells.all().any() and (dwells.all() == dwells.any()).all()
    days = plan["summary"]["days"]
    assert [d["day"] for d in days] == list(range(1, cycle["days"] + 1))
    assert days[-1]["coverage"] == cycle["coverage"] == 1.0
