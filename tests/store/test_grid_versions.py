import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.errors import ConflictError
from gridpatrol.services import grid_versions as gv
from gridpatrol.services import incidents as inc
from tests.conftest import quadrant_grids

BOUNDS = (24.92, 60.16, 24.96, 60.18)


@pytest.fixture
def project(store):
    store.set_setting("bounds", list(BOUNDS))
    v1 = gv.create_draft(store, quadrant_grids(BOUNDS), name="first")
    gv.activate(store, v1)
    store.write(
        {
            "buildings": gpd.GeoDataFrame(
                {"source_id": ["b1", "b2"], "households": [40, 60], "households_estimated": False},
                geometry=[
                    shapely.box(24.9251, 60.1651, 24.9253, 60.1653),
                    shapely.box(24.9451, 60.1751, 24.9453, 60.1753),
                ],
                crs=4326,
            )
        }
    )
    inc.ingest_incidents(
        store,
        pd.DataFrame(
            {
                "incident_id": ["i1", "i2"],
                "reported_at": "2026-11-20T09:00:00+00:00",
                "category": "fire",
                "lon": [24.9252, 24.9452],
                "lat": [60.1652, 60.1752],
            }
        ),
        now=pd.Timestamp("2026-11-21", tz="UTC"),
    )
    return store


def moved_west_half(bounds):
    """Version 2: the SW quadrant grows east to 24.93 at the expense of SE."""
    g = quadrant_grids(bounds)
    minx, miny, maxx, maxy = bounds
    my = (miny + maxy) / 2
    g.loc[2, "geometry"] = shapely.box(minx, miny, 24.95, my)
    g.loc[3, "geometry"] = shapely.box(24.95, miny, maxx, my)
    return g


def test_draft_save_conflict_is_409_not_a_lost_edit(project):
    v2 = gv.create_draft(project, copy_of=1, name="redraw")
    rev = int(gv.get_version(project, v2)["revision"])
    edit_a = moved_west_half(BOUNDS)
    edit_b = quadrant_grids(BOUNDS).iloc[:3]
    assert gv.save_draft(project, v2, edit_a, base_revision=rev) == rev + 1
    with pytest.raises(ConflictError, match="saved by someone else"):
        gv.save_draft(project, v2, edit_b, base_revision=rev)
    assert project.count("grids", where={"version": v2}) == 4  # planner A's edit survives


def test_active_version_cannot_be_saved_over(project):
    with pytest.raises(ConflictError, match="not a draft"):
        gv.save_draft(project, 1, quadrant_grids(BOUNDS), base_revision=1)


def test_diff_lists_moved_buildings_households_and_incidents(project):
    v2 = gv.create_draft(project, moved_west_half(BOUNDS), name="redraw")
    d = gv.diff_versions(project, 1, v2)
    assert sorted(d.changed) == ["091001001001003", "091001001001004"]
    assert d.unchanged == ["091001001001001", "091001001001002"]
    assert d.buildings_moved.empty  # b1 stays SW, b2 is north
    g3 = moved_west_half(BOUNDS)
    g3.loc[2, "geometry"] = shapely.box(BOUNDS[0], BOUNDS[1], 24.925, 60.17)
    g3.loc[3, "geometry"] = shapely.box(24.925, BOUNDS[1], BOUNDS[2], 60.17)
    v3 = gv.create_draft(project, g3)
    d = gv.diff_versions(project, 1, v3)
    assert d.buildings_moved["source_id"].tolist() == ["b1"]
    assert d.households_moved.iloc[0]["households"] == 40
    assert d.incidents_moved.to_dict("records") == [
        {"incident_id": "i1", "from_code": "091001001001003", "to_code": "091001001001004"}
    ]
    assert d.summary()["households_moved"] == 40


def test_activation_reassigns_incidents(project):
    g3 = quadrant_grids(BOUNDS)
    g3.loc[2, "geometry"] = shapely.box(BOUNDS[0], BOUNDS[1], 24.925, 60.17)
    g3.loc[3, "geometry"] = shapely.box(24.925, BOUNDS[1], BOUNDS[2], 60.17)
    v2 = gv.create_draft(project, g3)
    counts = gv.activate(project, v2)
    assert counts["moved"] == 1
    versions = gv.list_versions(project).set_index("version")
    assert versions.loc[1, "status"] == "retired" and versions.loc[v2, "status"] == "active"
    i1 = project.read("incidents", where={"incident_id": "i1"}).iloc[0]
    assert i1["grid_code"] == "091001001001004" and i1["reported_grid_code"] == "091001001001003"
