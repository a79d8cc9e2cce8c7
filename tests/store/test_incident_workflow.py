"""Incident ingest, assignment, re-assignment and dispatch over both stores."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.crs import wgs84_to_gcj02
from gridpatrol.geo.errors import ConflictError, NotFoundError
from gridpatrol.services import grid_index as grid_index_module
from gridpatrol.services import incidents as inc
from gridpatrol.services.report_queue import ReportQueue
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids, shared_path

BOUNDS = (24.92, 60.16, 24.96, 60.18)
NOW = pd.Timestamp("2026-11-20T12:00:00Z")


@pytest.fixture
def project(store):
    grids = quadrant_grids(BOUNDS)
    areas = gpd.GeoDataFrame(
        {"code": ["091001001001"], "level": ["community"], "parent_code": ["091001001"]},
        geometry=[shapely.box(*BOUNDS)],
        crs=4326,
    )
    store.write({"grids": grids, "areas": areas})
    store.set_setting("bounds", list(BOUNDS))
    store.write(
        {
            "addresses": gpd.GeoDataFrame(
                {"source_id": ["a1"], "street": ["Aleksanterinkatu"], "housenumber": ["52"]},
                geometry=[shapely.Point(24.95, 60.175)],
                crs=4326,
            )
        }
    )
    return store


def rows(n=3, **over):
    base = pd.DataFrame(
        {
            "incident_id": [f"r{i}" for i in range(n)],
            "reported_at": ["2026-11-20T09:00:00+02:00"] * n,
            "category": ["fire", "sanitation", "矛盾纠纷"][:n] + ["other"] * max(0, n - 3),
            "lon": np.linspace(24.925, 24.955, n),
            "lat": [60.165] * n,
            "description": ["smoke", "rubbish", "noise"][:n] + [""] * max(0, n - 3),
        }
    )
    for k, v in over.items():
        base[k] = v
    return base


def test_ingest_assigns_grid_and_hierarchy(project):
    res = inc.ingest_incidents(project, rows(), now=NOW)
    assert sorted(res.created) == ["r0", "r1", "r2"]
    got = project.read("incidents").set_index("incident_id")
    assert got.loc["r0", "grid_code"] == "091001001001003"  # SW quadrant
    assert got.loc["r2", "grid_code"] == "091001001001004"  # SE quadrant
    assert got.loc["r0", "community_code"] == "091001001001"
    assert got.loc["r2", "category"] == "dispute"  # the Chinese name maps to the key
    assert got.loc["r0", "reported_grid_code"] == got.loc["r0", "grid_code"]
    assert str(got.loc["r0", "reported_at"]) == "2026-11-20 07:00:00+00:00"


def test_resubmitting_a_batch_changes_nothing(project):
    inc.ingest_incidents(project, rows(), now=NOW)
    before = project.read("incidents"), project.read("incident_events")
    res = inc.ingest_incidents(project, rows(), now=NOW + pd.Timedelta(hours=1))
    assert res.unchanged == ["r0", "r1", "r2"] and not res.created and not res.updated
    after = project.read("incidents"), project.read("incident_events")
    pd.testing.assert_frame_equal(
        before[0].drop(columns="geometry"), after[0].drop(columns="geometry")
    )
    assert len(after[1]) == len(before[1])


def test_same_id_updates_and_is_recorded(project):
    inc.ingest_incidents(project, rows(), now=NOW)
    res = inc.ingest_incidents(project, rows(description=["fire out", "rubbish", "noise"]), now=NOW)
    assert res.updated == ["r0"] and project.count("incidents") == 3
    history = inc.incident_history(project, "r0")
    assert history["action"].tolist() == ["report", "update"]


def test_one_bad_row_stores_nothing(project):
    bad = rows()
    bad.loc[1, "category"] = "aliens"
    with pytest.raises(inc.BatchRejected, match="unknown category 'aliens'") as err:
        inc.ingest_incidents(project, bad, now=NOW)
    assert err.value.rejected["incident_id"].tolist() == ["r1"]
    assert project.count("incidents") == 0 and project.count("incident_events") == 0


def test_partial_stores_good_rows_and_reports_bad(project):
    bad = rows(6)
    bad.loc[1, ["lon", "lat"]] = [0.0, 0.0]
    bad.loc[2, ["lon", "lat"]] = [60.165, 24.93]  # swapped
    bad.loc[3, "reported_at"] = "2027-01-01T00:00:00+00:00"  # future
    bad.loc[4, ["lon", "lat"]] = [30.0, 60.0]  # far outside
    bad.loc[5, "reported_at"] = "2026-11-20 09:00"  # no timezone
    res = inc.ingest_incidents(project, bad, partial=True, now=NOW)
    assert res.created == ["r0"]
    reasons = {r["incident_id"]: r["reason"] for r in res.rejected}
    assert "(0, 0)" in reasons["r1"]
    assert "swapped" in reasons["r2"]
    assert "future" in reasons["r3"]
    assert "outside the served area" in reasons["r4"]
    assert "no time zone" in reasons["r5"]


def test_gcj02_and_address_locations(project):
    glon, glat = wgs84_to_gcj02([24.93], [60.17])  # outside China: GCJ-02 equals WGS84
    df = pd.DataFrame(
        {
            "incident_id": ["g1", "h1", "h2"],
            "reported_at": ["2026-11-20T09:00:00+08:00"] * 3,
            "category": ["traffic"] * 3,
            "lon": [glon[0], np.nan, np.nan],
            "lat": [glat[0], np.nan, np.nan],
            "crs": ["gcj02", None, None],
            "address": ["", "aleksanterinkatu  52", "Nowhere street 1"],
        }
    )
    res = inc.ingest_incidents(project, df, partial=True, now=NOW)
    assert sorted(res.created) == ["g1", "h1"]
    assert "matches no building address" in res.rejected[0]["reason"]
    h1 = project.read("incidents", where={"incident_id": "h1"}).iloc[0]
    assert h1["grid_code"] == "091001001001002" and h1["input_crs"] == "address"


def test_snapping_and_unassigned(project):
    df = rows(2)
    df["lon"] = [24.9199, 24.90]  # ~6 m and ~1.1 km west of the westmost grids
    df["lat"] = [60.165, 60.165]
    res = inc.ingest_incidents(project, df, now=NOW)
    assert res.snapped == ["r0"] and res.unassigned == ["r1"]
    got = project.read("incidents").set_index("incident_id")
    assert got.loc["r0", "grid_code"] == "091001001001003"
    assert got.loc["r1", "grid_code"] == "" and got.loc["r1", "assignment"] == "unassigned"


def test_new_grid_version_reassigns_and_keeps_reported_grid(project):
    inc.ingest_incidents(project, rows(), now=NOW)
    minx, miny, maxx, maxy = BOUNDS
    v2 = gpd.GeoDataFrame(
        {
            "version": 2,
            "code": ["091001001001001", "091001001001002"],
            "parent_code": "091001001001",
        },
        geometry=[shapely.box(minx, miny, 24.93, maxy), shapely.box(24.93, miny, maxx, maxy)],
        crs=4326,
    )
    project.write({"grids": v2})
    counts = inc.reassign_all(project, version=2)
    assert counts["moved"] == 3
    got = project.read("incidents").set_index("incident_id")
    assert got.loc["r0", "grid_code"] == "091001001001001"
    assert got.loc["r0", "reported_grid_code"] == "091001001001003"
    assert got.loc["r0", "grid_version"] == 2
    assert "reassign" in inc.incident_history(project, "r0")["action"].tolist()


def test_dispatch_loop_with_escalation_and_history(project):
    inc.ingest_incidents(project, rows(), now=NOW)
    t0 = pd.Timestamp("2026-11-20T07:00:00Z")  # reported; fire must be taken in 15 min
    late = inc.escalate_overdue(project, now=t0 + pd.Timedelta(minutes=20))
    assert "r0" in late
    r0 = project.read("incidents", where={"incident_id": "r0"}).iloc[0]
    assert r0["level"] == "community"
    inc.act(project, "r0", "start", actor="grid worker 7", at=t0 + pd.Timedelta(minutes=25))
    with pytest.raises(ConflictError, match="cannot verify"):
        inc.act(project, "r0", "verify", actor="x")
    inc.act(project, "r0", "resolve", actor="grid worker 7", at=t0 + pd.Timedelta(hours=2))
    inc.act(project, "r0", "verify", actor="community office", at=t0 + pd.Timedelta(hours=3))
    r0 = project.read("incidents", where={"incident_id": "r0"}).iloc[0]
    assert r0["status"] == "verified" and r0["closed_level"] == "community"
    history = inc.incident_history(project, "r0")
    assert history["action"].tolist() == ["report", "escalate", "start", "resolve", "verify"]
    assert history["actor"].tolist()[2] == "grid worker 7"
    with pytest.raises(NotFoundError):
        inc.act(project, "nope", "start", actor="x")


@pytest.mark.shared
def test_chicago_carjackings_land_in_their_recorded_district(tmp_path):
    districts = gpd.read_file(shared_path("data", "chicago", "chicago_police_districts.geojson"))
    cars = gpd.read_file(shared_path("data", "chicago", "chicago_carjackings_2020.geojson"))
    with open_store(str(tmp_path / "chi.db")) as s:
        grids = districts.assign(code=districts["dist_num"].astype(int).astype(str), version=1)
        s.write({"grids": grids[["code", "version", "geometry"]]})
        s.set_setting("bounds", [float(b) for b in districts.total_bounds])
        s.set_setting("timezone", "America/Chicago")
        df = pd.DataFrame(
            {
                "incident_id": cars["ID"].astype(str),
                "reported_at": pd.to_datetime(cars["Date"], format="%m/%d/%Y %I:%M:%S %p"),
                "category": "VEHICULAR HIJACKING",
                "lon": cars["Longitude"],
                "lat": cars["Latitude"],
            }
        )
        res = inc.ingest_incidents(s, df, partial=True, now=pd.Timestamp("2021-06-01", tz="UTC"))
        got = s.read("incidents").set_index("incident_id")
    truth = cars.set_index(cars["ID"].astype(str))["District"].astype(int).astype(str)
    agree = (got["grid_code"] == truth.reindex(got.index)).sum() / len(cars)
    assert agree >= 0.98, (agree, res.rejected[:3])


@pytest.mark.shared
def test_shenzhen_gcj02_polygons_and_points_line_up(tmp_path):
    sz = gpd.read_file(shared_path("data", "shenzhen", "shenzhen_districts_amap_gcj02.geojson"))
    districts = sz[sz["level"] == "district"].reset_index(drop=True)
    with open_store(str(tmp_path / "sz.db")) as s:
        from gridpatrol.store.files import load_layer_file

        path = tmp_path / "sz.geojson"
        districts.assign(code=districts["adcode"].astype(str)).to_file(path, driver="GeoJSON")
        grids = load_layer_file(path, "grids", crs="gcj02")
        # converted: every vertex moved by a few hundred metres
        raw = shapely.get_coordinates(districts.geometry.values)
        conv = shapely.get_coordinates(grids.geometry.values)
        shift_m = np.hypot((raw[:, 0] - conv[:, 0]) * 103_000, (raw[:, 1] - conv[:, 1]) * 111_000)
        assert 100 < shift_m.min() and shift_m.max() < 800
        s.write({"grids": grids})
        s.set_setting("bounds", [float(b) for b in grids.total_bounds])
        # A phone in each district reports in GCJ-02 from a point 20 m inside the boundary.
        inner = districts.to_crs(32650).buffer(-20).to_crs(4326)
        pts = [
            shapely.Point(
                shapely.get_coordinates(
                    g.exterior
                    if g.geom_type == "Polygon"
                    else max(g.geoms, key=lambda p: p.area).exterior
                )[0]
            )
            for g in inner
        ]
        df = pd.DataFrame(
            {
                "incident_id": [f"sz{i}" for i in range(len(pts))],
                "reported_at": "2026-11-20T09:00:00+08:00",
                "category": "traffic",
                "lon": [p.x for p in pts],
                "lat": [p.y for p in pts],
                "crs": "gcj02",
            }
        )
        inc.ingest_incidents(s, df, now=NOW)
        got = s.read("incidents").set_index("incident_id")
    assert got["grid_code"].tolist() == districts["adcode"].astype(str).tolist()


def test_times_parse_column_wise_with_the_same_rules():
    from gridpatrol.geo.incidents import parse_times

    reasons: dict[int, list[str]] = {}
    values = pd.Series(
        [
            "2026-11-20T09:00:00+02:00",
            "2026-11-20T09:00:00Z",
            "2026-11-20 09:00",  # no zone: the default zone applies
            "20/11/2026 nonsense",
            None,
            pd.Timestamp("2026-11-20T09:00:00+08:00"),  # not a string: the general parser
        ],
        dtype=object,
    )
    got = parse_times(values, default_tz="Asia/Shanghai", reasons=reasons)
    assert got.iloc[0] == pd.Timestamp("2026-11-20T07:00:00Z")
    assert got.iloc[1] == pd.Timestamp("2026-11-20T09:00:00Z")
    assert got.iloc[2] == pd.Timestamp("2026-11-20T01:00:00Z")
    assert got.iloc[5] == pd.Timestamp("2026-11-20T01:00:00Z")
    assert "is not a date/time" in reasons[3][0]
    assert reasons[4] == ["reported_at is missing"]
    assert set(reasons) == {3, 4}
    reasons = {}
    parse_times(pd.Series(["2026-11-20T09:00:00"]), default_tz=None, reasons=reasons)
    assert "has no time zone" in reasons[0][0]


def test_chunks_land_whole_and_repeated_ids_across_chunks_are_rejected(project):
    batch = rows(6)
    batch["incident_id"] = ["c0", "c1", "c2", "c3", "c1", "c5"]
    chunks = [batch.iloc[:3], batch.iloc[3:]]
    with pytest.raises(inc.BatchRejected) as err:
        inc.ingest_incident_chunks(project, chunks, now=NOW)
    assert [int(r) for r in err.value.rejected["row"]] == [4]
    assert project.count("incidents") == 0  # the first chunk was rolled back too
    res = inc.ingest_incident_chunks(project, chunks, now=NOW, partial=True)
    assert sorted(res.created) == ["c0", "c1", "c2", "c3", "c5"]
    assert [r["row"] for r in res.rejected] == [4]
    assert project.count("incidents") == 5


def test_assignment_index_is_persisted_per_grid_version(tmp_path, monkeypatch):
    """A new process loads the index from beside the store instead of building it; a
    change to the grids builds (and persists) a new one."""
    from pathlib import Path

    from gridpatrol.geo.assignment import GridIndex

    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as s:
        s.write({"grids": quadrant_grids(BOUNDS)})
        index, _ = inc.grid_index(s, 1)
        files = list(
            (Path(s.path).parent / f".{Path(s.path).name}.index").glob("grids-v1-*.pickle")
        )
        assert len(files) == 1
        grid_index_module._INDEX_CACHE.clear()  # as in a fresh process

        def no_build(*a, **k):
            raise AssertionError("built again instead of loading the persisted index")

        monkeypatch.setattr(GridIndex, "from_geodataframe", no_build)
        loaded, _ = inc.grid_index(s, 1)
        pts = gpd.GeoSeries(
            shapely.points([24.925, 24.955, 24.925, 24.955], [60.165, 60.165, 60.175, 60.175]),
            crs=4326,
        ).to_crs(index.crs)
        x, y = pts.x.to_numpy(), pts.y.to_numpy()
        expected = index.assign(x, y).position
        assert sorted(expected) == [0, 1, 2, 3]  # one point in each quadrant
        assert (loaded.assign(x, y).position == expected).all()
        assert list(loaded.codes) == list(index.codes)
        monkeypatch.undo()
        s.write({"grids": quadrant_grids(BOUNDS).iloc[:2]}, mode="replace")
        rebuilt, _ = inc.grid_index(s, 1)
        assert len(rebuilt.codes) == 2
        files2 = list(
            (Path(s.path).parent / f".{Path(s.path).name}.index").glob("grids-v1-*.pickle")
        )
        assert len(files2) == 1 and files2 != files  # the stale file is gone


def test_report_queue_answers_each_report_of_a_group_commit(project):
    """Reports queued together are stored together, and each caller gets its own answer:
    created, rejected with its own reason, or (an id sent twice) created then updated."""
    import threading

    queue = ReportQueue()
    answers: dict[int, tuple] = {}
    done = threading.Event()
    base = rows(4).to_dict("records")
    base[2]["category"] = "ghosts"  # bad: unknown category
    again = dict(base[0], description="more smoke")  # same id as the first, changed
    items = [*base, again]

    def callback_for(i):
        def callback(result, error):
            answers[i] = (result, error)
            if len(answers) == len(items):
                done.set()

        return callback

    for i, row in enumerate(items):
        row = {**row, "crs": "wgs84"}
        queue.submit(project.url, row, actor="test", callback=callback_for(i))
    assert done.wait(60)
    created = {i for i, (r, e) in answers.items() if r is not None and r.created}
    assert created == {0, 1, 3}
    assert isinstance(answers[2][1], inc.ReportRejected) and "ghosts" in str(answers[2][1])
    assert "partial" not in str(answers[2][1]) and "row" not in str(answers[2][1])
    assert answers[4][0].updated == ["r0"]  # the repeated id waited for the next batch
    stored = project.read("incidents").set_index("incident_id")
    assert sorted(stored.index) == ["r0", "r1", "r3"]
    assert stored.loc["r0", "description"] == "more smoke"
