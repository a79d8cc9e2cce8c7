"""Reports count incidents in the database (issue 13 §2): the same figures as locating
every incident in Python, on both back ends; walk tours on request, kept per version."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.geo import grid_report
from gridpatrol.services import grid_versions as gv
from gridpatrol.services import incidents as inc
from tests.conftest import quadrant_grids

BOUNDS = (24.92, 60.16, 24.96, 60.18)
MID_X, MID_Y = 24.94, 60.17


def _incidents(n: int, *, seed: int = 0, prefix: str = "i") -> pd.DataFrame:
    """Points inside, on the shared edges, just outside (snapped) and far outside the grids,
    over two months, in three categories."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(24.915, 24.965, n)
    lat = rng.uniform(60.158, 60.182, n)
    lon[:10], lat[:10] = MID_X, rng.uniform(60.161, 60.179, 10)  # on the N-S shared edge
    lon[10:15], lat[10:15] = MID_X, MID_Y  # the corner all four grids share
    lon[15:20], lat[15:20] = 25.1, 60.3  # far outside: unassigned
    seconds = rng.integers(0, 61 * 86400, n)
    return pd.DataFrame(
        {
            "incident_id": [f"{prefix}{k}" for k in range(n)],
            "reported_at": pd.Timestamp("2026-09-01", tz="UTC") + pd.to_timedelta(seconds, "s"),
            "category": rng.choice(["fire", "traffic", "sanitation"], n),
            "lon": lon,
            "lat": lat,
        }
    )


@pytest.fixture
def project(store):
    store.set_setting("bounds", list(BOUNDS))
    gv.activate(store, gv.create_draft(store, quadrant_grids(BOUNDS), name="first"))
    inc.ingest_incidents(store, _incidents(400), now=pd.Timestamp("2026-11-21", tz="UTC"))
    return store


def _located_in_python(store, version):
    """Today's path: every incident read and located by validate_grids, level by level;
    the metrics of both levels and the summary of the grids (not sub-grids)."""
    grids = store.read("grids", where={"version": version})
    crs = store.metric_crs(grids)
    incidents = store.read("incidents")
    reports = [
        grid_report.validate_grids(
            layer,
            parents=report_outline(layer),
            incidents=incidents.to_crs(crs) if len(incidents) else None,
            walk_tours=False,
        )
        for _, layer in grids.to_crs(crs).groupby("level", sort=True)
    ]
    reports.sort(key=lambda r: r.summary["levels"] != ["grid"])
    metrics = pd.concat([r.metrics for r in reports])
    return grid_report.GridReport([], metrics, reports[0].summary, crs)


def _assert_same_incident_figures(new, old):
    cols = ["incidents", "incidents_per_month"]
    pd.testing.assert_frame_equal(new.metrics[cols], old.metrics[cols])
    for key in ("unassigned_incidents", "months"):
        assert new.summary[key] == old.summary[key], key


def test_report_counts_from_sql_equal_located_counts(project, monkeypatch):
    read = project.read

    def no_incident_reads(layer, **kw):
        assert layer != "incidents", "the report read every incident"
        return read(layer, **kw)

    monkeypatch.setattr(project, "read", no_incident_reads)
    new = gv.version_report(project, 1)
    monkeypatch.setattr(project, "read", read)
    old = _located_in_python(project, 1)
    _assert_same_incident_figures(new, old)
    assert new.metrics["incidents"].sum() > 200 and new.summary["unassigned_incidents"] >= 5


def test_counts_follow_a_new_version_and_incidents_reported_before_it(project):
    edited = quadrant_grids(BOUNDS)
    edited.loc[2, "geometry"] = shapely.box(24.92, 60.16, 24.95, 60.17)  # SW takes from SE
    edited.loc[3, "geometry"] = shapely.box(24.95, 60.16, 24.96, 60.17)
    v2 = gv.create_draft(project, edited, name="second")
    # a draft: incidents are assigned to version 1, so version 2's report locates them
    draft = gv.version_report(project, v2)
    gv.activate(project, v2, confirm=True)
    inc.ingest_incidents(project, _incidents(50, seed=1, prefix="late"))
    new = gv.version_report(project, v2)
    _assert_same_incident_figures(new, _located_in_python(project, v2))
    counted = new.metrics["incidents"].sum() + new.summary["unassigned_incidents"]
    assert counted == 450 and draft.metrics["incidents"].sum() < new.metrics["incidents"].sum()
    # version 1 is retired: its report locates the incidents again
    _assert_same_incident_figures(gv.version_report(project, 1), _located_in_python(project, 1))


def test_no_incidents_and_subgrids_keep_todays_figures(store):
    store.set_setting("bounds", list(BOUNDS))
    grids = quadrant_grids(BOUNDS)
    sub = grids.iloc[[0]].assign(
        code="091001001001001001", parent_code=grids["code"].iloc[0], level="subgrid"
    )
    gv.activate(store, gv.create_draft(store, pd.concat([grids, sub], ignore_index=True)))
    empty = gv.version_report(store, 1)
    assert empty.metrics["incidents"].isna().all() and empty.summary["months"] is None
    inc.ingest_incidents(store, _incidents(100), now=pd.Timestamp("2026-11-21", tz="UTC"))
    _assert_same_incident_figures(gv.version_report(store, 1), _located_in_python(store, 1))


def test_count_by_equals_pandas_groupby(project):
    got = project.count_by("incidents", ["category"], time_column="reported_at", time_bucket="day")
    df = project.read("incidents")
    want = (
        df.assign(day=df["reported_at"].dt.floor("D"))
        .groupby(["category", "day"])["reported_at"]
        .agg(["size", "min", "max"])
        .reset_index()
        .rename(columns={"size": "count", "min": "first", "max": "last"})
    )
    pd.testing.assert_frame_equal(
        got.sort_values(["category", "day"]).reset_index(drop=True),
        want.astype(got.dtypes.to_dict()),
        check_dtype=False,
    )
    total = project.count_by("incidents", time_column="reported_at")
    assert total["count"].tolist() == [len(df)]
    assert total["first"].iloc[0] == df["reported_at"].min()
    months = project.count_by("incidents", time_column="reported_at", time_bucket="month")
    assert (
        months["count"].tolist() == df["reported_at"].dt.month.value_counts().sort_index().tolist()
    )
    ids = df["incident_id"].tolist()[:7]  # a list filter, as read() takes it
    some = project.count_by("incidents", ["category"], where={"incident_id": ids})
    assert some["count"].sum() == 7
    none = project.count_by("incidents", where={"category": "nothing"}, time_column="reported_at")
    assert none["count"].tolist() == [0] and none["first"].isna().all()


def _walk_streets() -> gpd.GeoDataFrame:
    """A street grid over the quadrants: every 0.005 degrees, both ways."""
    lines = [shapely.LineString([(x, 60.16), (x, 60.18)]) for x in np.arange(24.92, 24.961, 0.005)]
    lines += [shapely.LineString([(24.92, y), (24.96, y)]) for y in np.arange(60.16, 60.181, 0.005)]
    # cut at crossings so the network has nodes there
    pieces = shapely.get_parts(shapely.node(shapely.MultiLineString(lines)))
    ends = np.round(shapely.get_coordinates(shapely.boundary(pieces)), 7)
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel().reshape(-1, 2)
    streets = gpd.GeoDataFrame(
        {"network": "walk", "u": node[:, 0], "v": node[:, 1], "length_m": 1.0},
        geometry=pieces,
        crs=4326,
    )
    streets["length_m"] = streets.to_crs(3067).length
    return streets


def test_walk_tours_on_request_equal_todays_and_are_kept_per_version(project, monkeypatch):
    project.write({"streets": _walk_streets()})
    assert gv.version_report(project, 1).metrics["tour_minutes"].isna().all()  # off by default
    made = []
    real = grid_report.walk_tour_table
    monkeypatch.setattr(
        grid_report, "walk_tour_table", lambda *a, **k: made.append(1) or real(*a, **k)
    )
    report = gv.version_report(project, 1, walk_tours=True)
    # today's path: validate_grids computing the tours itself
    grids = project.read("grids", where={"version": 1})
    crs = project.metric_crs(grids)
    grids = grids.to_crs(crs)
    streets = project.read("streets").to_crs(crs)
    today = grid_report.validate_grids(
        grids, communities=report_outline(grids), streets=streets, walk_tours=True
    )
    cols = list(grid_report.TOUR_COLUMNS)
    pd.testing.assert_frame_equal(report.metrics[cols], today.metrics[cols])
    assert report.summary["tour_minutes_total"] == pytest.approx(
        today.summary["tour_minutes_total"]
    )
    assert report.metrics["tour_minutes"].gt(0).all()
    inc.ingest_incidents(project, _incidents(30, seed=3, prefix="new"))
    gv.version_report(project, 1, walk_tours=True)  # new incidents: tours kept
    assert len(made) == 1
    project.update(
        "grids", where={"version": 1, "code": grids["code"].iloc[0]}, values={"name": "x"}
    )
    gv.version_report(project, 1, walk_tours=True)  # grids changed: made again
    assert len(made) == 2


def report_outline(grids):
    """The community outline the service checks grids against when there are no areas."""
    outline = grids.dissolve(by="parent_code")
    return gpd.GeoDataFrame(
        {"code": outline.index.astype(str)}, geometry=outline.geometry.values, crs=grids.crs
    )


def test_grids_page_counts_and_version_sizes_come_from_the_store(project):
    from gridpatrol.services import analysis

    incidents = project.read("incidents")
    measures = analysis.grid_measures(project).set_index("code")["incidents"]
    want = incidents["grid_code"].value_counts()  # what the page counted before
    assert measures.to_dict() == {c: int(want.get(c, 0)) for c in measures.index}
    gv.create_draft(project, copy_of=1)
    assert gv.list_versions(project).set_index("version")["grids"].to_dict() == {1: 4, 2: 4}


def test_cli_report_with_and_without_walk_tours(project):
    import json

    from typer.testing import CliRunner

    from gridpatrol.cli import app as cli

    project.write({"streets": _walk_streets()})
    plain = CliRunner().invoke(cli, ["report", "1", "--db", project.url])
    assert plain.exit_code == 0, plain.output
    assert "4 grids" in plain.output and "tour_minutes" not in plain.output
    full = CliRunner().invoke(cli, ["report", "1", "--walk-tours", "--json", "--db", project.url])
    assert full.exit_code == 0, full.output
    metrics = json.loads(full.output)["metrics"]
    assert all(m["tour_minutes"] > 0 and m["incidents"] >= 0 for m in metrics)


def test_coordinates_are_the_points_read_gives(project):
    xy = project.coordinates("incidents")
    want = shapely.get_coordinates(project.read("incidents").geometry.values)
    assert xy.shape == want.shape
    np.testing.assert_array_equal(np.sort(xy, axis=0), np.sort(want, axis=0))
    one = project.coordinates("incidents", where={"incident_id": "i1"})
    assert one.shape == (1, 2)
    with pytest.raises(ValueError, match="not a point layer"):
        project.coordinates("grids")
