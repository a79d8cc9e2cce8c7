"""The same tests on both back ends (PostGIS runs when GRIDPATROL_TEST_POSTGIS_URL is set)."""

import sqlite3

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.errors import ConflictError, InvalidGeometryError, StoreError
from gridpatrol.store.base import SCHEMA_VERSION, open_store
from tests.conftest import quadrant_grids

BOUNDS = (24.92, 60.16, 24.96, 60.18)


def test_round_trip_keeps_values_and_geometry(store):
    grids = quadrant_grids(BOUNDS).assign(households=[320, 410, 0, 505])
    assert store.write({"grids": grids}) == {"grids": 4}
    back = store.read("grids")
    assert back["code"].tolist() == grids["code"].tolist()
    assert back["households"].tolist() == [320, 410, 0, 505]
    assert back.crs.to_epsg() == 4326
    assert all(
        shapely.equals_exact(a, b, 1e-12)
        for a, b in zip(back.geometry, grids.geometry, strict=False)
    )


def test_bbox_filter_and_paging(store):
    store.write({"grids": quadrant_grids(BOUNDS)})
    ne = store.read("grids", bbox=(24.95, 60.175, 24.955, 60.178))
    assert ne["name"].tolist() == ["Q2"]
    assert store.count("grids", bbox=(24.95, 60.175, 24.955, 60.178)) == 1
    page = store.read("grids", limit=2, offset=2)
    assert page["name"].tolist() == ["Q3", "Q4"]


def test_upsert_updates_instead_of_duplicating(store):
    grids = quadrant_grids(BOUNDS)
    store.write({"grids": grids})
    store.write({"grids": grids.assign(households=7)})
    back = store.read("grids")
    assert len(back) == 4 and set(back["households"]) == {7}


def test_append_of_existing_key_conflicts_and_changes_nothing(store):
    store.write({"grids": quadrant_grids(BOUNDS)})
    with pytest.raises(ConflictError):
        store.write({"grids": quadrant_grids(BOUNDS).assign(households=9)}, mode="append")
    assert set(store.read("grids")["households"]) == {0}


def test_batch_lands_whole_or_not_at_all(store):
    good = quadrant_grids(BOUNDS)
    bowtie = shapely.Polygon([(24.9, 60.1), (25.0, 60.2), (25.0, 60.1), (24.9, 60.2)])
    bad_buildings = gpd.GeoDataFrame({"source_id": ["b1"]}, geometry=[bowtie], crs=4326)
    with pytest.raises(InvalidGeometryError):
        store.write({"grids": good, "buildings": bad_buildings})
    assert store.count("grids") == 0


def test_failure_inside_a_transaction_rolls_back_earlier_writes(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.write({"grids": quadrant_grids(BOUNDS)})
            raise RuntimeError("boom")
    assert store.count("grids") == 0


def test_replace_where_only_touches_matching_rows(store):
    store.write(
        {"grids": pd.concat([quadrant_grids(BOUNDS, version=1), quadrant_grids(BOUNDS, version=2)])}
    )
    store.write(
        {"grids": quadrant_grids(BOUNDS, version=2).iloc[:1]},
        mode="replace",
        replace_where={"grids": {"version": 2}},
    )
    assert store.count("grids", where={"version": 1}) == 4
    assert store.count("grids", where={"version": 2}) == 1


def test_settings_and_schema_version(store):
    store.set_setting("bounds", list(BOUNDS))
    assert store.get_setting("bounds") == list(BOUNDS)
    assert store.get_setting("missing", 5) == 5
    assert store.schema_version == SCHEMA_VERSION


def test_reopen_keeps_data(store_url):
    with open_store(store_url) as s:
        s.write({"grids": quadrant_grids(BOUNDS)})
    with open_store(store_url) as s:
        assert s.count("grids") == 4


def test_helsinki_layers_round_trip(store, helsinki):
    written = store.write(helsinki.layers(), mode="replace")
    assert written["cameras"] == 221
    assert store.count("cameras") == 221
    assert store.count("streets", where={"network": "walk"}) > 1000


# -- embedded only: file-level behaviour ------------------------------------------------


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "p.db"
    open_store(str(path)).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE gridpatrol_meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this release"):
        open_store(str(path))


def test_older_store_gains_new_columns(tmp_path):
    # A store written by a release whose grids table lacked 'kind' and 'households'.
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE gridpatrol_meta (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO gridpatrol_meta VALUES ('schema_version', '1')")
    con.execute(
        "CREATE TABLE grids (fid INTEGER PRIMARY KEY, version INTEGER, code TEXT, name TEXT, "
        "level TEXT, parent_code TEXT, geom BLOB NOT NULL, minx REAL, miny REAL, maxx REAL, "
        "maxy REAL, UNIQUE (version, code))"
    )
    con.execute(
        "INSERT INTO grids VALUES (1, 1, 'g1', 'old', 'grid', '', ?, 0, 0, 1, 1)",
        (shapely.to_wkb(shapely.box(0, 0, 1, 1)),),
    )
    con.commit()
    con.close()
    with open_store(str(path)) as s:
        old = s.read("grids")
        assert old["name"].tolist() == ["old"]
        s.write({"grids": quadrant_grids(BOUNDS)})
        assert s.count("grids") == 5


def test_not_a_store(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a gridpatrol store"):
        open_store(str(path))


def test_a_lease_is_held_by_one_holder_until_it_expires(store):
    """The escalation timer of several workers runs once: one lease holder at a time."""
    assert store.try_lease("escalation", holder="a", seconds=60)
    assert not store.try_lease("escalation", holder="b", seconds=60)
    assert store.try_lease("escalation", holder="a", seconds=60)  # the holder renews
    assert store.try_lease("other", holder="b", seconds=60)  # leases are per name
    assert store.try_lease("escalation", holder="a", seconds=-1)  # expired at once
    assert store.try_lease("escalation", holder="b", seconds=60)  # so b takes it over
    assert not store.try_lease("escalation", holder="a", seconds=60)


def test_revisions_count_writes_per_layer(store):
    before = store.revisions("grids", "cameras")
    store.set_setting("bounds", [0, 0, 1, 1])
    assert store.revisions("grids", "cameras") == before
    store.write({"grids": quadrant_grids((24.92, 60.16, 24.96, 60.18))})
    after = store.revisions("grids", "cameras")
    assert after["grids"] == before["grids"] + 1 and after["cameras"] == before["cameras"]
    store.update("grids", where={"version": 1}, values={"name": "x"})
    store.delete("grids", where={"version": 1})
    assert store.revisions("grids")["grids"] == before["grids"] + 3
