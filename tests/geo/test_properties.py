"""Property tests (hypothesis) for the geometry functions: assignment and validation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridpatrol.geo.assignment import GridIndex
from gridpatrol.geo.errors import GridPatrolError
from gridpatrol.geo.model import validate_layer

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: A 2 km square in central Helsinki, ETRS-TM35FIN (metres).
X0, Y0, SIDE = 385_000.0, 6_671_000.0, 2_000.0


def _cuts(n: int):
    """``n`` distinct cut positions in (0, 1), at least 1/40 apart."""
    return st.lists(st.integers(1, 39), min_size=n, max_size=n, unique=True).map(
        lambda v: [i / 40 for i in sorted(v)]
    )


@SETTINGS
@given(
    xs=st.integers(0, 4).flatmap(_cuts),
    ys=st.integers(0, 4).flatmap(_cuts),
    fx=st.floats(0.001, 0.999),
    fy=st.floats(0.001, 0.999),
    cell=st.data(),
)
def test_a_point_inside_a_grid_is_assigned_to_it(xs, ys, fx, fy, cell):
    """Grids tiling a square (random cuts); a point strictly inside one is assigned to it."""
    ex = [0.0, *xs, 1.0]
    ey = [0.0, *ys, 1.0]
    boxes, codes = [], []
    for i in range(len(ex) - 1):
        for j in range(len(ey) - 1):
            boxes.append(
                shapely.box(
                    X0 + ex[i] * SIDE,
                    Y0 + ey[j] * SIDE,
                    X0 + ex[i + 1] * SIDE,
                    Y0 + ey[j + 1] * SIDE,
                )
            )
            codes.append(f"G{i:02d}{j:02d}")
    grids = gpd.GeoDataFrame({"code": codes}, geometry=boxes, crs="EPSG:3067")
    k = cell.draw(st.integers(0, len(boxes) - 1))
    minx, miny, maxx, maxy = boxes[k].bounds
    x, y = minx + fx * (maxx - minx), miny + fy * (maxy - miny)
    index = GridIndex.from_geodataframe(grids)
    result = index.assign(np.array([x]), np.array([y]))
    assert result.position[0] >= 0 and index.codes[result.position[0]] == codes[k]
    assert not result.snapped[0]


coordinate = (
    st.floats(-200, 200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, 24.94, 60.17, 1e300, -1e300])
)
ring = st.lists(st.tuples(coordinate, coordinate), min_size=0, max_size=8)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN or 1e300 coordinates warn: not a crash
@SETTINGS
@given(rings=st.lists(ring, min_size=1, max_size=3), closed=st.booleans())
def test_validation_never_crashes_on_any_polygon(rings, closed):
    """Any polygon (self-crossing, unclosed, degenerate, huge, NaN) gives a layer or a
    GridPatrolError, never another exception."""
    geoms = []
    for r in rings:
        pts = list(r) + (r[:1] if closed and r else [])
        try:
            geoms.append(shapely.Polygon(pts))
        except (ValueError, shapely.errors.GEOSException):
            geoms.append(shapely.Polygon())  # what shapely cannot build arrives empty
    grids = gpd.GeoDataFrame(
        {
            "version": 1,
            "code": [f"091001001001{i:03d}" for i in range(len(geoms))],
            "name": "x",
            "level": "grid",
            "parent_code": "091001001001",
        },
        geometry=geoms,
        crs=4326,
    )
    try:
        out = validate_layer(grids, "grids")
    except GridPatrolError:
        return
    assert len(out) == len(grids) and out.geometry.is_valid.all()
