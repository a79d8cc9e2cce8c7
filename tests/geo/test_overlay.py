"""The one largest-share and point-in-zone rules (geo/overlay.py) and their callers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box

from gridpatrol.geo.assignment import GridIndex
from gridpatrol.geo.errors import SchemaError
from gridpatrol.geo.grids import buildings_to_grids
from gridpatrol.geo.hotspots import count_points
from gridpatrol.geo.overlay import code_rank, largest_share, locate_points

UTM = "EPSG:32650"


def test_largest_share_owner_pairs_and_min_area():
    zones = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10), box(0, 10, 20, 20)], dtype=object)
    items = np.array(
        [
            box(2, 2, 4, 4),  # inside zone 0
            box(8, 2, 11, 4),  # 2/3 in zone 0, 1/3 in zone 1
            box(9.99, 2, 15, 4),  # a hair in zone 0
            box(50, 50, 51, 51),  # nowhere
        ],
        dtype=object,
    )
    s = largest_share(items, zones, min_area=0.1)
    assert list(s.owner) == [0, 0, 1, -1]
    assert list(zip(s.item, s.zone, strict=True)) == [(0, 0), (1, 0), (1, 1), (2, 1)]
    assert s.area == pytest.approx([4.0, 4.0, 2.0, 10.0])
    # below min_area a sliver is not listed but still decides when it is all there is
    sliver = largest_share([box(9.99, 2, 10, 4)], zones, min_area=0.1)
    assert list(sliver.owner) == [0] and len(sliver.item) == 0


def test_ties_go_to_the_lowest_rank_then_position():
    zones = [box(0, 0, 10, 10), box(10, 0, 20, 10)]
    half = [box(8, 2, 12, 4)]  # exactly half in each
    assert largest_share(half, zones).owner[0] == 0
    assert largest_share(half, zones[::-1]).owner[0] == 0  # the first listed
    assert largest_share(half, zones, rank=[1, 0]).owner[0] == 1
    with pytest.raises(SchemaError, match="one value per zone"):
        largest_share(half, zones, rank=[0])


def test_buildings_to_grids_ties_go_to_the_lower_code_whatever_the_row_order():
    grids = gpd.GeoDataFrame(
        {"code": ["B", "A"]}, geometry=[box(10, 0, 20, 10), box(0, 0, 10, 10)], crs=UTM
    )
    b = gpd.GeoDataFrame(geometry=[box(8, 2, 12, 4), box(12, 2, 14, 4)], crs=UTM)
    assert list(buildings_to_grids(b, grids)) == ["A", "B"]
    assert list(buildings_to_grids(b, grids.iloc[::-1])) == ["A", "B"]


def test_code_rank():
    assert list(code_rank(["002", "001", "010"])) == [1, 0, 2]


def test_locate_points_boundary_overlap_and_outside():
    zones = [box(0, 0, 10, 10), box(10, 0, 20, 10), box(5, 5, 15, 15)]
    pts = [Point(2, 2), Point(10, 2), Point(12, 8), Point(30, 30), None, Point()]
    assert list(locate_points(pts, zones)) == [0, 0, 1, -1, -1, -1]
    assert list(locate_points(pts, zones, rank=[2, 1, 0])) == [0, 1, 2, -1, -1, -1]


def test_grid_index_answers_the_same_rule():
    # 4 x 4 grids of 100 m, codes in scrambled row order; points on edges, corners, inside
    rng = np.random.default_rng(0)
    cells = [box(x, y, x + 100, y + 100) for x in range(0, 400, 100) for y in range(0, 400, 100)]
    codes = [f"{c:03d}" for c in rng.permutation(len(cells))]
    grids = gpd.GeoDataFrame({"code": codes}, geometry=cells, crs=UTM)
    xy = np.r_[
        rng.integers(0, 9, (300, 2)) * 50.0,  # many on shared edges and corners
        rng.uniform(-20, 420, (300, 2)),
    ]
    pts = shapely.points(xy)
    index = GridIndex.from_geodataframe(grids)
    fast = index.assign(xy[:, 0], xy[:, 1]).position
    fast_codes = np.where(fast >= 0, np.asarray(index.codes, dtype=object)[fast], "")
    exact = locate_points(pts, grids.geometry, rank=code_rank(codes))
    exact_codes = np.where(exact >= 0, np.asarray(codes, dtype=object)[exact], "")
    assert (fast_codes == exact_codes).all()
    # and the hot-spot count is the same rule
    counts = count_points(grids, gpd.GeoDataFrame(geometry=pts, crs=UTM))
    assert (counts == np.bincount(exact[exact >= 0], minlength=len(grids))).all()
    assert counts.sum() == (exact >= 0).sum() > 0
