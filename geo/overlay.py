"""Which zone holds what: the one largest-share rule and the one point-in-zone rule.

:func:`largest_share` gives each item (a building footprint, a grid of another layer) to
the zone holding the largest part of its area; :func:`locate_points` gives each point to
a zone covering it. Every "building → grid" and "incident → grid" count in geo/ goes
through one of them (issue 11), so a building or incident counts for the same grid in the
grid report, proposals, alignment, version diffs and hot spots.

Tie-break, the same for both: **the zone of lowest rank** among equals (equal overlap
areas for :func:`largest_share`; several covering zones, a point on a shared edge or in
an overlap, for :func:`locate_points`). Every caller with grid codes passes
``rank=code_rank(codes)``, so ties go to **the lower code**, as in
:class:`gridpatrol.geo.assignment.GridIndex`; zones without codes (hot-spot cells) rank
by position.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import shapely

from .errors import SchemaError

__all__ = ["Overlaps", "code_rank", "largest_share", "locate_points"]


class Overlaps(NamedTuple):
    """Result of :func:`largest_share`.

    ``owner[i]`` is the zone holding most of item ``i`` (``-1``: none holds any area).
    ``item``, ``zone``, ``area`` list every overlap larger than ``min_area``, sorted by
    item, then largest area first, then zone rank; so the first row of an item is its
    owner when that overlap exceeds ``min_area``.
    """

    owner: np.ndarray
    item: np.ndarray
    zone: np.ndarray
    area: np.ndarray


def code_rank(codes: Any) -> np.ndarray:
    """Rank of each code in ascending order: pass as ``rank=`` so ties go to the lower code
    (grid layers; codes compared as strings)."""
    codes = np.asarray(codes).astype(str)
    rank = np.empty(len(codes), dtype=np.int64)
    rank[np.argsort(codes, kind="stable")] = np.arange(len(codes))
    return rank


def _array(geoms: Any) -> np.ndarray:
    return np.asarray(getattr(geoms, "values", geoms), dtype=object)


def _ranks(rank: Any, n: int) -> np.ndarray:
    if rank is None:
        return np.arange(n)
    rank = np.asarray(rank)
    if rank.shape != (n,):
        raise SchemaError(f"rank needs one value per zone ({n}), not shape {rank.shape}")
    return rank


def largest_share(items: Any, zones: Any, *, min_area: float = 0.0, rank: Any = None) -> Overlaps:
    """The zone holding the largest share of each item's area, and all overlaps.

    Parameters
    ----------
    items, zones
        Polygons (arrays or GeoSeries) in one metric CRS (the callers check it).
    min_area
        Overlaps of at most this many m² are left out of the listed pairs (they still
        decide the owner when nothing larger overlaps).
    rank
        Order of the zones for ties (default: their position; see the module docstring).

    Returns
    -------
    Overlaps
    """
    items, zones = _array(items), _array(zones)
    n = len(items)
    owner = np.full(n, -1, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if n == 0 or len(zones) == 0:
        return Overlaps(owner, empty, empty, np.zeros(0))
    zrank = _ranks(rank, len(zones))
    ii, zi = shapely.STRtree(zones).query(items, predicate="intersects")
    if len(ii) == 0:
        return Overlaps(owner, empty, empty, np.zeros(0))
    # most items lie inside one zone: settle those with a prepared containment test
    single = np.bincount(ii, minlength=n)[ii] == 1
    inside = np.zeros(len(ii), dtype=bool)
    if single.any():
        shapely.prepare(zones)
        inside[single] = shapely.contains(zones[zi[single]], items[ii[single]])
    area = np.zeros(len(ii))
    area[inside] = shapely.area(items[ii[inside]])
    rest = ~inside
    if rest.any():  # lines and points an intersection leaves have no area
        area[rest] = shapely.area(shapely.intersection(items[ii[rest]], zones[zi[rest]]))
    order = np.lexsort((zrank[zi], -area, ii))
    ii, zi, area = ii[order], zi[order], area[order]
    first = np.r_[True, ii[1:] != ii[:-1]]
    held = first & (area > 0)
    owner[ii[held]] = zi[held]
    keep = area > min_area
    return Overlaps(owner, ii[keep], zi[keep], area[keep])


def locate_points(points: Any, zones: Any, *, rank: Any = None) -> np.ndarray:
    """Position of the zone covering each point (interior or boundary), ``-1`` if none.

    A point covered by several zones (on a shared edge, in an overlap) goes to the zone
    listed first, or of lowest ``rank``; missing or empty points are ``-1``. This is the
    exact rule :class:`gridpatrol.geo.assignment.GridIndex` answers fast (with zones in
    code order).
    """
    points, zones = _array(points), _array(zones)
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(zones) == 0:
        return out
    zrank = _ranks(rank, len(zones))
    pi, zi = shapely.STRtree(zones).query(points, predicate="intersects")
    if len(pi):
        order = np.lexsort((zrank[zi], pi))
        pi, zi = pi[order], zi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[pi[first]] = zi[first]
    return out
