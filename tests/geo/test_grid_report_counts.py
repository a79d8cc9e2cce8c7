"""The report locates many incidents with the assignment index, few with an R-tree: the
same grid for every point (edges and corners shared by grids go to the lowest code)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.grid_report import count_incidents, metrics, validate_grids

CRS = 32650


def _grids():
    boxes = [shapely.box(x, y, x + 100, y + 100) for y in (0, 100) for x in (0, 100, 200)]
    boxes.append(shapely.box(50, 50, 150, 150))  # overlaps four others
    codes = ["B3", "A2", "C1", "A1", "B1", "C2", "A0"]
    return gpd.GeoDataFrame({"code": codes, "parent_code": "P"}, geometry=boxes, crs=CRS)


def _points(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-20, 320, (n, 2))
    xy[:300] = np.round(xy[:300] / 50) * 50  # on edges, corners and the overlap's edges
    return gpd.GeoSeries(shapely.points(xy), crs=CRS)


def test_index_and_rtree_locate_every_point_alike(monkeypatch):
    grids, points = _grids(), _points()
    by_index = count_incidents(grids, points)
    monkeypatch.setattr(metrics, "_INDEX_POINTS_PER_GRID", 10**9)  # the R-tree
    by_tree = count_incidents(grids, points)
    pd.testing.assert_frame_equal(by_index, by_tree)
    assert by_index["count"].sum() == len(points) and by_index["count"].iloc[-1] > 0


def test_counts_given_equal_points_given():
    grids, points = _grids(), _points(3000, seed=2)
    when = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(3000), "h")
    incidents = gpd.GeoDataFrame({"reported_at": when}, geometry=points.values, crs=CRS)
    outline = gpd.GeoDataFrame({"code": ["P"]}, geometry=[shapely.box(0, 0, 300, 200)], crs=CRS)
    located = validate_grids(grids, communities=outline, incidents=incidents, walk_tours=False)
    counts = count_incidents(grids, points).assign(first=when.min(), last=when.max())
    counted = validate_grids(grids, communities=outline, incident_counts=counts, walk_tours=False)
    cols = ["incidents", "incidents_per_month"]
    pd.testing.assert_frame_equal(counted.metrics[cols], located.metrics[cols])
    for key in ("unassigned_incidents", "months"):
        assert counted.summary[key] == located.summary[key]
    with pytest.raises(ValueError, match="not both"):
        validate_grids(grids, communities=outline, incidents=incidents, incident_counts=counts)
    with pytest.raises(ValueError, match="first"):
        validate_grids(grids, communities=outline, incident_counts=counts[["grid_code", "count"]])


def test_coordinates_count_as_their_points(monkeypatch):
    grids, points = _grids(), _points()
    xy = shapely.get_coordinates(points.values)
    pd.testing.assert_frame_equal(
        count_incidents(grids, xy, crs=CRS), count_incidents(grids, points)
    )
    monkeypatch.setattr(metrics, "_INDEX_POINTS_PER_GRID", 10**9)
    pd.testing.assert_frame_equal(
        count_incidents(grids, xy, crs=CRS), count_incidents(grids, points)
    )
    with pytest.raises(ValueError, match="reproject"):
        count_incidents(grids, xy, crs=4326)
