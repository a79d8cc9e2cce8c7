"""Tests of balanced grid proposals (geo/districting.py) on a small inline community."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridpatrol.geo.districting import (
    GridProposer,
    Proposal,
    balance_index,
    polsby_popper,
    proposal_metrics,
)
from gridpatrol.geo.errors import CRSError, InfeasiblePlanError, InvalidGeometryError, SchemaError
from gridpatrol.geo.grids import reading_order

CRS = "EPSG:32650"
X0, Y0 = 500_000.0, 2_500_000.0


def _town(seed: int = 3, nx: int = 4, ny: int = 3, block: float = 100.0):
    """A community of nx * ny street blocks with small houses and one apartment slab."""
    rng = np.random.default_rng(seed)
    W, H = nx * block, ny * block
    community = gpd.GeoDataFrame(
        {"code": ["C01"]}, geometry=[shapely.box(X0, Y0, X0 + W, Y0 + H)], crs=CRS
    )
    lines = [
        shapely.LineString([(X0 + i * block, Y0 - 5), (X0 + i * block, Y0 + H + 5)])
        for i in range(1, nx)
    ]
    lines += [
        shapely.LineString([(X0 - 5, Y0 + j * block), (X0 + W + 5, Y0 + j * block)])
        for j in range(1, ny)
    ]
    streets = gpd.GeoDataFrame(geometry=lines, crs=CRS)
    geoms, hh = [], []
    for i in range(nx):
        for j in range(ny):
            bx, by = X0 + i * block, Y0 + j * block
            if (i, j) == (1, 1):  # an apartment slab with many households
                geoms.append(shapely.box(bx + 20, by + 40, bx + 80, by + 56))
                hh.append(180)
                continue
            for gx in np.arange(bx + 10, bx + block - 15, 16.0):
                for gy in np.arange(by + 10, by + block - 15, 16.0):
                    w, d = rng.uniform(8, 12), rng.uniform(7, 11)
                    geoms.append(shapely.box(gx, gy, gx + w, gy + d))
                    hh.append(int(rng.integers(3, 9)))
    buildings = gpd.GeoDataFrame(
        {"households": hh, "workload": np.asarray(hh, float) * 1.5}, geometry=geoms, crs=CRS
    )
    return community, buildings, streets


@pytest.fixture(scope="module")
def town():
    return _town()


@pytest.fixture(scope="module")
def proposal(town):
    community, buildings, streets = town
    gp = GridProposer.from_geodataframes(community, buildings, streets=streets, band=(300, 500))
    return gp.solve(seed=0)[0]


def test_exact_cover_no_split_contiguous(town, proposal):
    community, buildings, _ = town
    m = proposal_metrics(proposal.grids, community, buildings)
    assert m["gaps_m2"] < 1e-3
    assert m["overlaps_m2"] < 1e-3
    assert m["outside_m2"] < 1e-3
    assert m["split_buildings"] == 0
    assert m["noncontiguous"] == 0
    assert (proposal.grids.geometry.geom_type == "Polygon").all()
    assert m["unassigned_buildings"] == 0
    union = shapely.union_all(proposal.grids.geometry.values)
    assert abs(union.area - community.geometry.iloc[0].area) < 1e-3
    # every building lies inside exactly one grid
    g = np.asarray(proposal.grids.geometry.values, dtype=object)
    shrunk = shapely.buffer(np.asarray(buildings.geometry.values, dtype=object), -1e-3)
    inside = shapely.contains(g[:, None], shrunk[None, :])
    assert (inside.sum(axis=0) == 1).all()


def test_band_and_metrics(town, proposal):
    _, buildings, _ = town
    grids = proposal.grids
    total = buildings.households.sum()
    assert grids.households.sum() == total
    assert proposal.metrics["share_in_band"] >= 0.8
    assert 0 <= proposal.metrics["balance_index"] <= 100
    assert proposal.metrics["n_grids"] == len(grids)
    assert set(grids.columns) >= {
        "code",
        "parent_code",
        "households",
        "n_buildings",
        "polsby_popper",
        "locked",
        "geometry",
    }
    assert grids.n_buildings.sum() == len(buildings)
    assert (grids.polsby_popper > 0).all() and (grids.polsby_popper <= 1).all()
    assert proposal.metrics["mean_polsby_popper"] == pytest.approx(grids.polsby_popper.mean())


def test_grids_follow_streets(town, proposal):
    community, buildings, streets = town
    m = proposal_metrics(proposal.grids, community, buildings, streets=streets)
    assert m["street_share"] > 0.5


def test_codes_stable_west_east_north_south(town, proposal):
    grids = proposal.grids
    assert list(grids.code) == [f"C01{i:03d}" for i in range(1, len(grids) + 1)]
    assert (grids.parent_code == "C01").all()
    # rows of representative points, as high as the median grid size, north to south;
    # west to east within a row (the project's reading order, geo.grids.reading_order)
    pts = grids.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    h = float(np.median(np.sqrt(grids.area.to_numpy())))
    row = np.floor((y.max() - y) / h)
    assert (np.diff(row) >= 0).all()
    same = np.diff(row) == 0
    assert (np.diff(x)[same] > 0).all()
    assert list(reading_order(grids.geometry)) == list(range(len(grids)))


def test_deterministic_for_a_seed(town):
    community, buildings, streets = town
    a = GridProposer.from_geodataframes(community, buildings, streets=streets).solve(seed=7)
    b = GridProposer.from_geodataframes(community, buildings, streets=streets).solve(seed=7)
    ga, gb = a[0].grids, b[0].grids
    assert list(ga.code) == list(gb.code)
    assert all(shapely.equals_exact(ga.geometry.values, gb.geometry.values, tolerance=0))
    assert list(ga.households) == list(gb.households)


def test_locked_grid_kept(town):
    community, buildings, streets = town
    lock = shapely.box(X0, Y0 + 200, X0 + 100, Y0 + 300)  # north-west block
    locked = gpd.GeoDataFrame({"code": ["C01900"]}, geometry=[lock], crs=CRS)
    p = GridProposer.from_geodataframes(community, buildings, streets=streets, locked=locked).solve(
        seed=0
    )[0]
    g = p.grids
    row = g[g.code == "C01900"]
    assert len(row) == 1 and bool(row.locked.iloc[0])
    assert shapely.equals_exact(row.geometry.iloc[0], lock, tolerance=0)
    others = g[g.code != "C01900"]
    assert not others.locked.any()
    assert (
        shapely.area(shapely.intersection(shapely.union_all(others.geometry.values), lock)) < 1e-3
    )
    m = p.metrics
    assert m["gaps_m2"] < 1e-3 and m["overlaps_m2"] < 1e-3
    assert m["split_buildings"] == 0 and m["noncontiguous"] == 0


def test_n_grids_and_weight(town):
    community, buildings, streets = town
    p = GridProposer.from_geodataframes(
        community, buildings, streets=streets, n_grids=4, weight="workload"
    ).solve(seed=1)[0]
    g = p.grids
    assert len(g) == 4
    assert g.load.sum() == pytest.approx(buildings.workload.sum())
    assert g.households.sum() == buildings.households.sum()
    assert p.metrics["split_buildings"] == 0 and p.metrics["noncontiguous"] == 0
    assert g.load.max() / g.load.min() < 1.35


def test_without_streets_and_alternatives(town):
    community, buildings, _ = town
    props = GridProposer.from_geodataframes(community, buildings).solve(seed=0, n_alternatives=3)
    assert len(props) == 3 and all(isinstance(p, Proposal) for p in props)
    assert [p.rank for p in props] == [0, 1, 2]
    keys = [(-p.metrics["share_in_band"], -p.metrics["balance_index"]) for p in props]
    assert keys == sorted(keys)
    for p in props:
        assert p.metrics["split_buildings"] == 0
        assert p.metrics["gaps_m2"] < 1e-3 and p.metrics["noncontiguous"] == 0


def test_metrics_detect_bad_proposal(town):
    community, buildings, _ = town
    # halves cut through a column of buildings (x = X0 + 210 .. 222), overlapping by 3 m,
    # leaving a 10 m strip uncovered, plus a two-part grid
    a = shapely.box(X0, Y0, X0 + 215, Y0 + 300)
    b = shapely.box(X0 + 212, Y0, X0 + 400, Y0 + 290)
    c = shapely.MultiPolygon(
        [
            shapely.box(X0 + 300, Y0 + 292, X0 + 310, Y0 + 300),
            shapely.box(X0 + 320, Y0 + 292, X0 + 330, Y0 + 300),
        ]
    )
    bad = gpd.GeoDataFrame(geometry=[a, b, c], crs=CRS)
    m = proposal_metrics(bad, community, buildings)
    assert m["overlaps_m2"] == pytest.approx(3 * 290)
    assert m["gaps_m2"] == pytest.approx(185 * 10 - 2 * 80)
    assert m["noncontiguous"] == 1
    assert m["split_buildings"] > 0


def test_geographic_or_mismatched_crs_raises(town):
    community, buildings, streets = town
    with pytest.raises(CRSError, match="not a metric projected CRS"):
        GridProposer.from_geodataframes(community.to_crs(4326), buildings.to_crs(4326))
    with pytest.raises(CRSError, match="reproject"):
        GridProposer.from_geodataframes(community, buildings.to_crs(32649))
    with pytest.raises(CRSError, match="no CRS"):
        GridProposer.from_geodataframes(community.set_crs(None, allow_override=True), buildings)
    with pytest.raises(CRSError):
        proposal_metrics(community.to_crs(4326), community, buildings)


def test_schema_and_geometry_errors(town):
    community, buildings, _ = town
    with pytest.raises(SchemaError, match="households"):
        GridProposer.from_geodataframes(community, buildings.drop(columns="households"))
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    bad = gpd.GeoDataFrame({"code": ["X"]}, geometry=[bowtie], crs=CRS)
    with pytest.raises(InvalidGeometryError, match="invalid"):
        GridProposer.from_geodataframes(bad, buildings)


def test_small_helpers():
    assert balance_index([400, 400, 400]) == pytest.approx(100.0)
    assert balance_index([0, 0, 1000]) < 40
    sq = shapely.box(0, 0, 10, 10)
    assert polsby_popper([sq])[0] == pytest.approx(math.pi / 4)


def test_several_communities_and_parallel_workers(monkeypatch):
    from gridpatrol.geo.districting import solver

    monkeypatch.setattr(solver, "_PARALLEL_MIN_COST", 0)  # use workers even if small
    c1, b1, s1 = _town(seed=4, nx=3, ny=2)
    shift = 300.0
    c2, b2, s2 = _town(seed=5, nx=2, ny=2)
    c2 = c2.set_geometry(c2.translate(xoff=shift)).assign(code=["C02"])
    b2 = b2.set_geometry(b2.translate(xoff=shift))
    s2 = s2.set_geometry(s2.translate(xoff=shift))
    comm = gpd.GeoDataFrame(
        {"code": ["C01", "C02"]},
        geometry=[c1.geometry.iloc[0], c2.geometry.iloc[0]],
        crs=CRS,
    )
    bld = gpd.GeoDataFrame(
        {"households": np.concatenate([b1.households, b2.households])},
        geometry=np.concatenate([b1.geometry.values, b2.geometry.values]),
        crs=CRS,
    )
    st = gpd.GeoDataFrame(
        geometry=np.concatenate([s1.geometry.values, s2.geometry.values]), crs=CRS
    )
    one = GridProposer.from_geodataframes(comm, bld, streets=st).solve(seed=2)[0]
    two = GridProposer.from_geodataframes(comm, bld, streets=st, n_jobs=2).solve(seed=2)[0]
    assert list(one.grids.code) == list(two.grids.code)
    assert all(
        shapely.equals_exact(one.grids.geometry.values, two.grids.geometry.values, tolerance=0)
    )
    g = one.grids
    assert g.code.is_unique
    assert set(g.parent_code) == {"C01", "C02"}
    assert all(
        c.startswith(p) and len(c) == len(p) + 3 for c, p in zip(g.code, g.parent_code, strict=True)
    )
    m = proposal_metrics(g, comm, bld)
    assert m["split_buildings"] == 0 and m["noncontiguous"] == 0
    assert m["gaps_m2"] < 1e-3 and m["overlaps_m2"] < 1e-3


def test_n_grids_per_parent_and_bad_options(town):
    community, buildings, streets = town
    p = GridProposer.from_geodataframes(
        community, buildings, streets=streets, n_grids={"C01": 5}
    ).solve(seed=0)[0]
    assert len(p.grids) == 5
    with pytest.raises(InfeasiblePlanError):
        GridProposer.from_geodataframes(community, buildings, n_grids=0)
    with pytest.raises(SchemaError, match="band"):
        GridProposer.from_geodataframes(community, buildings, band=(500, 300))
    with pytest.raises(SchemaError, match="seed"):
        GridProposer.from_geodataframes(community, buildings).solve(seed=-1)
    outside = gpd.GeoDataFrame(geometry=[shapely.box(X0 - 50, Y0, X0 + 50, Y0 + 50)], crs=CRS)
    with pytest.raises(InvalidGeometryError, match="outside"):
        GridProposer.from_geodataframes(community, buildings, locked=outside)


def test_locked_grid_cutting_buildings_reports_them_split(town):
    community, buildings, streets = town
    # x = X0 + 150 runs through a column of houses in the second block column
    lock = shapely.box(X0 + 150, Y0 + 200, X0 + 250, Y0 + 300)
    locked = gpd.GeoDataFrame(geometry=[lock], crs=CRS)
    p = GridProposer.from_geodataframes(community, buildings, streets=streets, locked=locked)
    prop = p.solve(seed=0)[0]
    cut = shapely.intersects(shapely.boundary(lock), buildings.geometry.values).sum()
    assert cut > 0
    assert prop.metrics["split_buildings"] == cut  # unavoidable, and reported
    assert prop.metrics["gaps_m2"] < 1e-3 and prop.metrics["noncontiguous"] == 0
    kept = prop.grids[prop.grids.locked]
    assert len(kept) == 1 and shapely.equals_exact(kept.geometry.iloc[0], lock, tolerance=0)
    assert kept.code.iloc[0].startswith("C01")  # a locked grid without a code gets one
