"""Geometry rules every layer goes through: validation, repair to polygons, compactness.

One home each (issue 11): :func:`check_geometries` is the validator behind the model's
layer checks, the grid index, the grid report, alignment and districting;
:func:`polygonal_part` and :func:`make_polygonal` are the one way an overlay result or a
repaired geometry is reduced to its polygons; :func:`polsby_popper` the one compactness
measure of proposals and reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from gridpatrol.lazy import lazy_module

from .errors import InvalidGeometryError

# imported on first use, so the service answers before they load (gridpatrol.lazy)
np = lazy_module("numpy")
shapely = lazy_module("shapely")

__all__ = [
    "POLYGONAL",
    "check_geometries",
    "make_polygonal",
    "polsby_popper",
    "polygonal_part",
]

#: Type names of polygonal geometries (the default of :func:`check_geometries`).
POLYGONAL = ("Polygon", "MultiPolygon")
# GEOS type ids (shapely.GeometryType: POLYGON, MULTIPOLYGON; MULTIPOINT, MULTILINESTRING,
# GEOMETRYCOLLECTION), fixed numbers written out so that importing this module, which the
# store does when the service starts, does not import shapely
_POLYGON_IDS = [3, 6]
_COLLECTION_IDS = [4, 5, 7]

#: What the messages of :func:`check_geometries` tell the user to do by default.
REPAIR_HINT = "repair it (shapely.make_valid, or QGIS Fix geometries) and try again"


def _array(geoms: Any) -> np.ndarray:
    values = getattr(geoms, "values", geoms)  # a GeoSeries gives its GeometryArray
    return np.asarray(values, dtype=object)


def check_geometries(
    geoms: Any,
    *,
    what: str,
    allowed: Sequence[str] = POLYGONAL,
    labels: Sequence[Any] | Callable[[int], str] | None = None,
    hint: str = REPAIR_HINT,
) -> None:
    """Raise :class:`InvalidGeometryError` naming the first bad geometry, else nothing.

    Checked in this order, each over the whole array: missing (None), empty, of a type not
    in ``allowed``, with NaN or infinite coordinates, invalid (GEOS's reason is quoted).

    Parameters
    ----------
    geoms
        Array-like of shapely geometries or a GeoSeries.
    what
        The layer as the message names it ("grids", "buildings.geojson" ...).
    allowed
        Geometry type names accepted.
    labels
        How a row is named: one label per row (``"grid 'A'"``), or a function of the
        position; by default ``"{what} row {i}"``.
    hint
        What to do, appended to the message of an invalid geometry.
    """
    g = _array(geoms)
    if callable(labels):
        where = labels
    elif labels is not None:
        names = list(labels)

        def where(i: int) -> str:
            return f"{what} {names[i]}"

    else:

        def where(i: int) -> str:
            return f"{what} row {i}"

    def fail(mask: np.ndarray, problem: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        raise InvalidGeometryError(f"{where(i)} {problem(i)}")

    missing = shapely.is_missing(g)
    if missing.any():
        fail(missing, lambda i: "has no geometry; drop the row or draw it")
    empty = shapely.is_empty(g)
    if empty.any():
        fail(empty, lambda i: "has an empty geometry; drop the row or draw it")
    ids = [int(shapely.GeometryType[t.upper()]) for t in allowed]
    wrong = ~np.isin(shapely.get_type_id(g), ids)
    if wrong.any():
        fail(wrong, lambda i: f"is a {g[i].geom_type}, but {what} must be {' or '.join(allowed)}")
    if not np.isfinite(shapely.get_coordinates(g)).all():
        nonfinite = ~np.array([np.isfinite(shapely.get_coordinates(x)).all() for x in g])
        fail(nonfinite, lambda i: "has NaN or infinite coordinates")
    valid = shapely.is_valid(g)
    if not valid.all():
        n_bad = int((~valid).sum())
        fail(
            ~valid,
            lambda i: (
                f"is invalid: {shapely.is_valid_reason(g[i])} ({n_bad} invalid in {what}); {hint}"
            ),
        )


def polygonal_part(geoms: Any) -> np.ndarray:
    """Only the polygons of each geometry: overlays and ``make_valid`` leave stray lines
    and points. Polygons pass unchanged, collections keep the union of their polygons,
    anything without area becomes an empty Polygon."""
    out = _array(geoms).copy()
    if len(out) == 0:
        return out
    tid = shapely.get_type_id(out)
    for i in np.flatnonzero(np.isin(tid, _COLLECTION_IDS)):  # rare: loops over few
        parts = shapely.get_parts(out[i])
        parts = parts[np.isin(shapely.get_type_id(parts), _POLYGON_IDS)]
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    out[~np.isin(shapely.get_type_id(out), _POLYGON_IDS)] = shapely.Polygon()
    return out


def make_polygonal(geoms: Any) -> np.ndarray:
    """Repair to polygons: invalid geometries through ``shapely.make_valid``, then every
    geometry reduced to its :func:`polygonal_part`; missing ones become empty Polygons."""
    out = _array(geoms).copy()
    if len(out) == 0:
        return out
    broken = ~shapely.is_valid(out) & ~shapely.is_missing(out)
    if broken.any():
        out[broken] = shapely.make_valid(out[broken])
    return polygonal_part(out)


def polsby_popper(geoms: Any) -> np.ndarray:
    """Polsby-Popper compactness ``4 pi A / P^2`` of each geometry (1 = disc, 0 = line).

    Parameters
    ----------
    geoms
        Array-like of polygons (or a GeoSeries).

    Returns
    -------
    numpy.ndarray
        One value per geometry; 0 for empty geometries.
    """
    g = _array(geoms)
    a = shapely.area(g)
    p = shapely.length(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, 4.0 * math.pi * a / np.maximum(p, 1e-12) ** 2, 0.0)
