"""Plans with territories through the API: teams at their own stations, hulls in the summary."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as

AREA = "091001001001002"


@pytest.fixture(scope="module")
def client(tmp_path_factory, helsinki):
    url = f"sqlite:///{tmp_path_factory.mktemp('territories') / 't.db'}"
    grids = quadrant_grids(helsinki.buildings.total_bounds)
    area = grids.loc[grids["code"] == AREA].geometry.iloc[0]
    minx, miny, maxx, maxy = area.bounds
    with open_store(url) as s:
        s.write(helsinki.layers())
        s.write({"grids": grids})
        s.write(
            {  # two compounds at opposite corners of the area
                "stations": gpd.GeoDataFrame(
                    {"station_id": ["S1", "S2"], "name": ["West", "East"]},
                    geometry=[
                        shapely.Point(minx + 0.1 * (maxx - minx), miny + 0.1 * (maxy - miny)),
                        shapely.Point(maxx - 0.1 * (maxx - minx), maxy - 0.1 * (maxy - miny)),
                    ],
                    crs=4326,
                )
            }
        )
        s.set_setting("bounds", list(helsinki.bounds))
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        yield c


BODY = {
    "station_id": "S1",
    "k": 2,
    "area_code": AREA,
    "time_limit_s": 3,
    "hotspots": False,
    "camera_blind_spots": False,
}


def test_teams_start_from_their_own_stations(client):
    r = client.post("/api/patrols", json=BODY | {"team_stations": {"team-2": "S2"}, "days": 2})
    assert r.status_code == 201, r.text
    plan = r.json()
    terr = plan["summary"]["territories"]
    assert set(terr["interleave_share"]) == {"team-1", "team-2"}
    hulls = terr["hulls_geojson"]["features"]
    assert [f["properties"]["station_id"] for f in hulls] == ["S1", "S2"]
    starts = {}
    for f in plan["routes"]["features"]:
        coords = f["geometry"]["coordinates"]
        assert np.allclose(coords[0], coords[-1])  # a closed walk from its own station
        starts.setdefault(f["properties"]["team_id"], set()).add(tuple(np.round(coords[0], 6)))
    assert all(len(s) == 1 for s in starts.values())  # the same station on every day
    west, east = (next(iter(starts[t])) for t in ("team-1", "team-2"))
    assert west[0] < east[0] and west[1] < east[1]
    # each territory lies around its own station, the two hardly overlap
    a, b = (shapely.geometry.shape(f["geometry"]) for f in hulls)
    assert a.contains(shapely.Point(west).buffer(0.001)) or a.distance(shapely.Point(west)) < 0.002
    assert a.intersection(b).area <= 0.2 * min(a.area, b.area)
    assert 0.0 <= terr["interleave_share_max"] <= 0.25


def test_several_stations_without_territories_and_unknown_ones_are_client_errors(client):
    r = client.post(
        "/api/patrols",
        json=BODY | {"team_stations": {"team-2": "S2"}, "territories": False},
    )
    assert r.status_code == 422 and "territories" in r.text
    r = client.post("/api/patrols", json=BODY | {"team_stations": {"team-2": "S9"}})
    assert r.status_code == 404 and "S9" in r.text
    r = client.post("/api/patrols", json=BODY | {"team_stations": {"nobody": "S2"}})
    assert r.status_code == 404 and "nobody" in r.text
