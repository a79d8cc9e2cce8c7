"""The one hot-spot pipeline (geo/hotspots.hot_spots)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridpatrol.geo.errors import CRSError
from gridpatrol.geo.hotspots import count_points, gi_star, hot_spots, square_cells

UTM = "EPSG:32650"


def _cells():
    return square_cells((0, 0, 799, 799), cell_size=100.0, crs=UTM)  # 8 x 8


def test_a_cluster_is_hot_and_matches_the_two_steps():
    rng = np.random.default_rng(0)
    xy = np.r_[rng.uniform(0, 200, (300, 2)), rng.uniform(0, 800, (60, 2))]
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=UTM)
    cells = _cells()
    got = hot_spots(cells, pts, permutations=999, seed=1).units
    want = gi_star(cells, count_points(cells, pts), permutations=999, seed=1).units
    assert (got["count"].to_numpy() == want["count"].to_numpy()).all()
    assert (got["hotspot"] == want["hotspot"]).all()
    assert got["count"].sum() == len(pts)
    hot = got[got["hotspot"] == "hot"]
    assert len(hot) and (hot.geometry.centroid.x < 300).all()


def test_no_points_no_hot_spots_and_crs_mismatch_refused():
    cells = _cells()
    empty = gpd.GeoDataFrame(geometry=[], crs=UTM)
    out = hot_spots(cells, empty, permutations=99).units
    assert (out["count"] == 0).all() and (out["hotspot"] == "none").all()
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(50, 50)], crs=UTM).to_crs(4326)
    with pytest.raises(CRSError):
        hot_spots(cells, pts, permutations=99)
