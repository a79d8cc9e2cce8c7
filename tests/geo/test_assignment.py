"""GridIndex: exact point-in-grid assignment with the lowest-code boundary rule."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from gridpatrol.geo.assignment import Assignment, GridIndex
from gridpatrol.geo.errors import CRSError, InvalidGeometryError, SchemaError

UTM = "EPSG:32650"
X0, Y0 = 500_000.0, 3_400_000.0


def brute_force(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The documented rule, literally: lowest position whose closed polygon covers the point."""
    out = np.full(len(x), -1, dtype=np.int64)
    points = shapely.points(x, y)
    for pos in range(len(geoms) - 1, -1, -1):
        hit = shapely.covers(geoms[pos], points)
        out[hit] = pos
    return out


def squares(n: int = 4, size: float = 100.0) -> gpd.GeoDataFrame:
    """n x n squares sharing edges; codes in a shuffled order, rows in another."""
    rng = np.random.default_rng(3)
    geoms = [
        box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)
        for j in range(n)
        for i in range(n)
    ]
    codes = [f"S{k:02d}" for k in rng.permutation(n * n)]
    return gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs=UTM)


def jagged_tessellation(n_seeds: int = 40, seed: int = 0) -> gpd.GeoDataFrame:
    """Voronoi cells clipped to a 2 x 2 km box, boundaries densified; one enclave in a hole,
    one grid a two-part MultiPolygon, a deliberate overlap and a gap."""
    rng = np.random.default_rng(seed)
    area = box(X0, Y0, X0 + 2000, Y0 + 2000)
    pts = shapely.points(rng.uniform(X0, X0 + 2000, n_seeds), rng.uniform(Y0, Y0 + 2000, n_seeds))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=area))
    cells = shapely.intersection(cells, area)
    cells = shapely.segmentize(cells, 15.0)
    cells = list(cells)
    # enclave filling a hole of cell 0 and a two-part grid filling holes of cells 1 and 2
    holes = []
    for i in range(3):
        c = shapely.centroid(cells[i])
        r = 0.3 * shapely.distance(c, shapely.get_exterior_ring(cells[i]))
        holes.append(shapely.buffer(c, r, quad_segs=8))
    for i in range(3):
        cells[i] = Polygon(cells[i].exterior, [holes[i].exterior])
    cells.append(holes[0])
    cells.append(MultiPolygon([holes[1], holes[2]]))
    # an overlap (grows cell 3 by 5 m) and a gap (shrinks cell 4 by 5 m)
    cells[3] = shapely.buffer(cells[3], 5.0, quad_segs=2)
    cells[4] = shapely.buffer(cells[4], -5.0, quad_segs=2)
    codes = [f"V{k:03d}" for k in rng.permutation(len(cells))]
    return gpd.GeoDataFrame({"code": codes}, geometry=cells, crs=UTM)


# ------------------------------------------------------------------- agreement
@pytest.mark.parametrize("cell_size", [None, 1.0, 7.3, 60.0])
def test_random_points_match_brute_force(cell_size):
    grids = jagged_tessellation()
    index = GridIndex.from_geodataframe(grids, cell_size=cell_size)
    rng = np.random.default_rng(1)
    x = rng.uniform(X0 - 50, X0 + 2050, 20_000)
    y = rng.uniform(Y0 - 50, Y0 + 2050, 20_000)
    result = index.assign(x, y)
    assert isinstance(result, Assignment)
    assert len(index) == len(grids) and "GridIndex(" in repr(index) and index.nbytes > 0
    assert result.position.dtype == np.int64 and result.snapped.dtype == bool
    np.testing.assert_array_equal(result.position, brute_force(index.geometries, x, y))
    assert not result.snapped.any()


def test_boundary_and_vertex_points_match_brute_force():
    grids = jagged_tessellation(seed=5)
    index = GridIndex.from_geodataframe(grids)
    parts = shapely.get_parts(index.geometries)
    rings = shapely.get_rings(parts)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    mid = (a + b) / 2
    pts = np.vstack([coords, mid])
    result = index.assign(pts[:, 0], pts[:, 1])
    expected = brute_force(index.geometries, pts[:, 0], pts[:, 1])
    np.testing.assert_array_equal(result.position, expected)
    assert (result.position[: len(coords)] >= 0).all()  # every vertex is on some grid


def test_shared_edge_and_corner_go_to_lowest_code():
    grids = squares(2)  # 2 x 2 squares of 100 m
    index = GridIndex.from_geodataframe(grids)
    assert list(index.codes) == sorted(grids["code"])
    code_at = {}
    for code, geom in zip(grids["code"], grids.geometry, strict=True):
        code_at[(round(geom.bounds[0] - X0), round(geom.bounds[1] - Y0))] = code
    sw, se, nw, ne = code_at[(0, 0)], code_at[(100, 0)], code_at[(0, 100)], code_at[(100, 100)]
    x = np.array([X0 + 100, X0 + 100, X0 + 50, X0 + 100, X0 + 10, X0 + 200])
    y = np.array([Y0 + 100, Y0 + 30, Y0 + 100, Y0 + 150, Y0 + 10, Y0 + 200])
    pos = index.assign(x, y).position
    got = [index.codes[p] for p in pos]
    assert got == [
        min(sw, se, nw, ne),  # shared corner of all four
        min(sw, se),  # vertical shared edge
        min(sw, nw),  # horizontal shared edge
        min(nw, ne),
        sw,  # interior
        ne,  # outer corner: covered by one grid only
    ]


@pytest.mark.parametrize("cell_size", [10.0, 40.0, 12.5])
def test_points_on_cell_borders_that_are_also_grid_edges(cell_size):
    # grid edges run exactly along raster cell / sub-cell borders (sub-cells are cell/4)
    grids = squares(3)
    index = GridIndex.from_geodataframe(grids, cell_size=cell_size)
    step = np.arange(-20.0, 320.0, 2.5)
    gx, gy = np.meshgrid(X0 + step, Y0 + step)
    x, y = gx.ravel(), gy.ravel()
    np.testing.assert_array_equal(index.assign(x, y).position, brute_force(index.geometries, x, y))


def test_large_input_is_chunked(monkeypatch):
    import gridpatrol.geo.assignment as mod

    grids = jagged_tessellation(seed=3)
    index = GridIndex.from_geodataframe(grids)
    rng = np.random.default_rng(8)
    x = rng.uniform(X0 - 10, X0 + 2010, 3000)
    y = rng.uniform(Y0 - 10, Y0 + 2010, 3000)
    whole = index.assign(x, y, snap_tolerance=8.0)
    monkeypatch.setattr(mod, "_CHUNK", 1000)
    chunked = index.assign(x, y, snap_tolerance=8.0)
    np.testing.assert_array_equal(whole.position, chunked.position)
    np.testing.assert_array_equal(whole.snapped, chunked.snapped)
    assert whole.snapped.any()


def test_rule_is_independent_of_row_order():
    grids = jagged_tessellation(seed=2)
    rng = np.random.default_rng(4)
    x = rng.uniform(X0, X0 + 2000, 5000)
    y = rng.uniform(Y0, Y0 + 2000, 5000)
    a = GridIndex.from_geodataframe(grids)
    b = GridIndex.from_geodataframe(grids.sample(frac=1.0, random_state=9))
    ca = a.codes[a.assign(x, y).position]
    cb = b.codes[b.assign(x, y).position]
    np.testing.assert_array_equal(ca, cb)
    # input_rows maps positions back to the rows of the frame given
    assert list(grids["code"].to_numpy()[a.input_rows]) == list(a.codes)


def test_overlaps_and_containment_lowest_code_wins():
    big = box(X0, Y0, X0 + 1000, Y0 + 1000)
    small = box(X0 + 400, Y0 + 400, X0 + 500, Y0 + 500)
    for big_code, small_code in (("A", "B"), ("B", "A")):
        grids = gpd.GeoDataFrame({"code": [small_code, big_code]}, geometry=[small, big], crs=UTM)
        index = GridIndex.from_geodataframe(grids, cell_size=7.0)
        rng = np.random.default_rng(0)
        x = rng.uniform(X0 + 380, X0 + 520, 5000)
        y = rng.uniform(Y0 + 380, Y0 + 520, 5000)
        x = np.r_[x, X0 + 450, X0 + 400]
        y = np.r_[y, Y0 + 450, Y0 + 450]
        pos = index.assign(x, y).position
        np.testing.assert_array_equal(pos, brute_force(index.geometries, x, y))
        assert (pos >= 0).all()
        # centre of the small square and its edge are covered by both: "A" wins
        assert index.codes[pos[-2]] == "A" and index.codes[pos[-1]] == "A"


def test_holes_and_enclaves():
    host = Polygon(
        [(X0, Y0), (X0 + 300, Y0), (X0 + 300, Y0 + 300), (X0, Y0 + 300)],
        [[(X0 + 100, Y0 + 100), (X0 + 200, Y0 + 100), (X0 + 200, Y0 + 200), (X0 + 100, Y0 + 200)]],
    )
    hole_only = Polygon(
        [(X0 + 1000, Y0), (X0 + 1300, Y0), (X0 + 1300, Y0 + 300), (X0 + 1000, Y0 + 300)],
        [
            [
                (X0 + 1100, Y0 + 100),
                (X0 + 1200, Y0 + 100),
                (X0 + 1200, Y0 + 200),
                (X0 + 1100, Y0 + 200),
            ]
        ],
    )
    enclave = box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200)
    grids = gpd.GeoDataFrame(
        {"code": ["H", "E", "O"]}, geometry=[host, enclave, hole_only], crs=UTM
    )
    index = GridIndex.from_geodataframe(grids)
    x = np.array([X0 + 150, X0 + 50, X0 + 100, X0 + 1150, X0 + 1050, X0 + 1100])
    y = np.array([Y0 + 150, Y0 + 50, Y0 + 150, Y0 + 150, Y0 + 50, Y0 + 150])
    pos = index.assign(x, y).position
    codes = [index.codes[p] if p >= 0 else None for p in pos]
    # enclave interior, host ring, hole edge shared by E and H -> "E" (< "H"),
    # empty hole -> unassigned, other host, empty hole's edge belongs to its host
    assert codes == ["E", "H", "E", None, "O", "O"]


def test_multipolygon_parts_far_apart():
    two = MultiPolygon([box(X0, Y0, X0 + 50, Y0 + 50), box(X0 + 5000, Y0, X0 + 5050, Y0 + 50)])
    mid = box(X0 + 2000, Y0, X0 + 2050, Y0 + 50)
    grids = gpd.GeoDataFrame({"code": [7, 3]}, geometry=[two, mid], crs=UTM)
    index = GridIndex.from_geodataframe(grids)
    assert list(index.codes) == [3, 7]  # integer codes sort numerically
    pos = index.assign(
        np.array([X0 + 25, X0 + 5025, X0 + 2025, X0 + 1000]), np.full(4, Y0 + 25)
    ).position
    assert [index.codes[p] if p >= 0 else None for p in pos] == [7, 7, 3, None]


def test_non_finite_and_far_away_points_are_unassigned():
    index = GridIndex.from_geodataframe(squares(2))
    x = np.array([np.nan, np.inf, X0 + 50, -1e300, X0 + 1e9])
    y = np.array([Y0 + 50, Y0 + 50, np.nan, Y0, Y0])
    result = index.assign(x, y, snap_tolerance=5.0)
    assert (result.position == -1).all() and not result.snapped.any()
    empty = index.assign(np.array([]), np.array([]))
    assert empty.position.shape == (0,) and empty.snapped.shape == (0,)


def test_x_y_must_match():
    index = GridIndex.from_geodataframe(squares(2))
    with pytest.raises(SchemaError, match="differ in length"):
        index.assign(np.zeros(3), np.zeros(2))
    with pytest.raises(SchemaError, match="snap_tolerance"):
        index.assign(np.zeros(1), np.zeros(1), snap_tolerance=-1)


# ------------------------------------------------------------------- snapping
def test_snapping_within_tolerance_is_flagged_beyond_is_unassigned():
    grids = squares(2)  # covers [X0, X0+200] x [Y0, Y0+200]
    index = GridIndex.from_geodataframe(grids)
    x = np.array([X0 - 0.5, X0 - 2.0, X0 + 50, X0 + 210, X0 - 3.0])
    y = np.array([Y0 + 50, Y0 + 50, Y0 + 50, Y0 + 50, Y0 - 4.0])  # last: 5 m from corner
    result = index.assign(x, y, snap_tolerance=1.0)
    west_south = index.assign(np.array([X0 + 1]), np.array([Y0 + 50])).position[0]
    assert list(result.position) == [west_south, -1, west_south, -1, -1]
    assert list(result.snapped) == [True, False, False, False, False]
    # exactly at the tolerance counts as within; the corner point is 5 m away
    r5 = index.assign(x, y, snap_tolerance=5.0)
    assert list(r5.snapped) == [True, True, False, False, True]
    # without tolerance nothing snaps
    r0 = index.assign(x, y)
    assert not r0.snapped.any() and list(r0.position) == [-1, -1, west_south, -1, -1]


def test_snapping_matches_brute_force_nearest():
    grids = jagged_tessellation(seed=6)  # has a 5 m gap around one cell and an outer edge
    index = GridIndex.from_geodataframe(grids)
    rng = np.random.default_rng(2)
    x = rng.uniform(X0 - 20, X0 + 2020, 6000)
    y = rng.uniform(Y0 - 20, Y0 + 2020, 6000)
    tol = 4.0
    result = index.assign(x, y, snap_tolerance=tol)
    covered = brute_force(index.geometries, x, y)
    dist = shapely.distance(shapely.points(x, y)[:, None], index.geometries[None, :])
    nearest = np.argmin(dist, axis=1)  # argmin returns the lowest position among equals
    expected = np.where(covered >= 0, covered, np.where(dist.min(axis=1) <= tol, nearest, -1))
    np.testing.assert_array_equal(result.position, expected)
    np.testing.assert_array_equal(result.snapped, (covered < 0) & (expected >= 0))
    assert result.snapped.sum() > 20


def test_snapping_tie_goes_to_lowest_code():
    grids = squares(2)
    index = GridIndex.from_geodataframe(grids)
    # 1 m west of the shared corner between the two western squares: equidistant to both
    result = index.assign(np.array([X0 - 1.0]), np.array([Y0 + 100.0]), snap_tolerance=2.0)
    both = index.assign(np.array([X0 + 1.0, X0 + 1.0]), np.array([Y0 + 99.0, Y0 + 101.0]))
    assert result.snapped[0]
    assert result.position[0] == min(both.position)


# ------------------------------------------------------------------- assign_points
def test_assign_points_dataframe():
    grids = squares(2)
    index = GridIndex.from_geodataframe(grids)
    pts = gpd.GeoDataFrame(
        {"id": [10, 11, 12, 13, 14]},
        geometry=[
            Point(X0 + 10, Y0 + 10),
            Point(X0 - 0.5, Y0 + 10),
            None,
            Point(),
            Point(X0 + 5000, Y0),
        ],
        crs=UTM,
        index=[5, 6, 7, 8, 9],
    )
    df = index.assign_points(pts, snap_tolerance=1.0)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["code", "snapped", "unassigned"]
    assert list(df.index) == [5, 6, 7, 8, 9]
    inside = index.codes[index.assign(np.array([X0 + 10]), np.array([Y0 + 10])).position[0]]
    assert list(df["code"][:2]) == [inside, inside]
    assert df["code"][2:].isna().all()
    assert list(df["snapped"]) == [False, True, False, False, False]
    assert list(df["unassigned"]) == [False, False, True, True, True]


def test_assign_points_crs_checks():
    index = GridIndex.from_geodataframe(squares(2))
    pts = gpd.GeoDataFrame(geometry=[Point(X0, Y0)], crs=UTM)
    with pytest.raises(CRSError, match="reproject"):
        index.assign_points(pts.to_crs("EPSG:32651"))
    with pytest.raises(CRSError, match="no CRS"):
        index.assign_points(gpd.GeoDataFrame(geometry=[Point(X0, Y0)]))
    with pytest.raises(CRSError):
        index.assign_points(pts.to_crs("EPSG:4326"))
    with pytest.raises(InvalidGeometryError, match="only Point"):
        index.assign_points(gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 1, Y0 + 1)], crs=UTM))


# ------------------------------------------------------------------- build errors
def test_geographic_or_missing_crs_raises():
    grids = squares(2)
    with pytest.raises(CRSError, match="geographic"):
        GridIndex.from_geodataframe(grids.to_crs("EPSG:4326"))
    with pytest.raises(CRSError, match="no CRS"):
        GridIndex.from_geodataframe(grids.set_crs(None, allow_override=True))
    with pytest.raises(CRSError, match="metre"):
        GridIndex.from_geodataframe(grids.set_crs("EPSG:2263", allow_override=True))  # US ft


@pytest.mark.parametrize(
    ("geom", "message"),
    [
        (Polygon(), "empty geometry"),
        (None, "no geometry"),
        (
            Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)]),
            "invalid: Self-intersection",
        ),
        (Point(X0, Y0), "grids must be Polygon or MultiPolygon"),
    ],
)
def test_bad_geometries_raise_with_useful_message(geom, message):
    grids = squares(2)
    grids.loc[2, "geometry"] = geom
    code = grids.loc[2, "code"]
    with pytest.raises(InvalidGeometryError, match=message) as err:
        GridIndex.from_geodataframe(grids)
    assert repr(code) in str(err.value) and "row 2" in str(err.value)


def test_schema_errors():
    grids = squares(2)
    with pytest.raises(SchemaError, match="no 'name' column"):
        GridIndex.from_geodataframe(grids, code_column="name")
    dup = grids.copy()
    dup.loc[1, "code"] = dup.loc[0, "code"]
    with pytest.raises(SchemaError, match="more than once"):
        GridIndex.from_geodataframe(dup)
    missing = grids.copy()
    missing.loc[1, "code"] = None
    with pytest.raises(SchemaError, match="missing"):
        GridIndex.from_geodataframe(missing)
    with pytest.raises(InvalidGeometryError, match="empty"):
        GridIndex.from_geodataframe(grids.iloc[:0])
    with pytest.raises(SchemaError, match="cell_size"):
        GridIndex.from_geodataframe(grids, cell_size=0)
    with pytest.raises(SchemaError, match="raster cells"):
        GridIndex.from_geodataframe(grids, cell_size=1e-4)
