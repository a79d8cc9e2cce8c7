"""The one geometry validator, polygon repair and compactness (geo/geometry.py)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import GeometryCollection, LineString, Point, Polygon, box

from gridpatrol.geo.errors import InvalidGeometryError
from gridpatrol.geo.geometry import (
    check_geometries,
    make_polygonal,
    polsby_popper,
    polygonal_part,
)

BOWTIE = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])


def test_good_polygons_pass_and_lines_pass_when_allowed():
    check_geometries([box(0, 0, 1, 1), box(2, 2, 3, 3)], what="grids")
    check_geometries(
        gpd.GeoSeries([LineString([(0, 0), (1, 1)])]), what="streets", allowed=("LineString",)
    )


@pytest.mark.parametrize(
    ("geom", "message"),
    [
        (None, r"grids row 1 has no geometry"),
        (Polygon(), r"grids row 1 has an empty geometry"),
        (Point(0, 0), r"grids row 1 is a Point, but grids must be Polygon or MultiPolygon"),
        (shapely.polygons([[0, 0], [1, 0], [1, np.inf], [0, 0]]), "has NaN or infinite"),
        (BOWTIE, r"grids row 1 is invalid: Self-intersection.*\(1 invalid in grids\); repair"),
    ],
)
def test_the_first_bad_row_is_named_with_what_is_wrong(geom, message):
    with pytest.raises(InvalidGeometryError, match=message):
        check_geometries([box(0, 0, 1, 1), geom, box(5, 5, 6, 6)], what="grids")


def test_labels_and_hint_shape_the_message():
    with pytest.raises(InvalidGeometryError, match=r"^grid 'B' is invalid: .*; redraw it$"):
        check_geometries(
            [box(0, 0, 1, 1), BOWTIE], what="grid", labels=["'A'", "'B'"], hint="redraw it"
        )
    with pytest.raises(InvalidGeometryError, match=r"^feature 7 has no geometry"):
        check_geometries([None], what="x", labels=lambda i: f"feature {i + 7}")


def test_polygonal_part_keeps_polygons_only():
    sq = box(0, 0, 1, 1)
    mixed = GeometryCollection([sq, LineString([(5, 5), (6, 6)]), Point(9, 9), box(1, 0, 2, 1)])
    out = polygonal_part(np.array([sq, mixed, LineString([(0, 0), (1, 0)]), None], dtype=object))
    assert out[0] is sq
    assert out[1].geom_type == "Polygon" and out[1].area == pytest.approx(2.0)
    assert out[2].is_empty and out[2].geom_type == "Polygon"
    assert out[3].is_empty and out[3].geom_type == "Polygon"


def test_make_polygonal_repairs_and_keeps_the_area():
    out = make_polygonal(gpd.GeoSeries([BOWTIE, box(0, 0, 2, 2), None]))
    assert shapely.is_valid(out).all()
    assert set(shapely.get_type_id(out)) <= {3, 6}
    assert out[0].area == pytest.approx(50.0)  # two triangles of the bow tie
    assert out[1].equals(box(0, 0, 2, 2))
    assert out[2].is_empty


def test_polsby_popper_disc_square_line():
    disc = Point(0, 0).buffer(100, quad_segs=256)
    pp = polsby_popper([disc, box(0, 0, 10, 10), Polygon(), box(0, 0, 1000, 1)])
    assert pp[0] == pytest.approx(1.0, abs=1e-4)
    assert pp[1] == pytest.approx(math.pi / 4)
    assert pp[2] == 0.0
    assert pp[3] < 0.01
