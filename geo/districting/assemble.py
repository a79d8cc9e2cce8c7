"""Assembling grid polygons from regions of cells (step 5 of the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from .cells import _GRID_SIZE, _group_union, _overlay, _union_all

_SLIVER_M2 = 1.0  # m2: an isolated piece this small is an overlay leftover, not a grid


def _best_neighbour(geoms: np.ndarray, r_self: int, piece) -> int | None:
    cand = [
        q
        for q in shapely.STRtree(geoms).query(piece, predicate="intersects").tolist()
        if q != r_self and not shapely.is_empty(geoms[q])
    ]
    if not cand:
        return None
    shared = shapely.length(
        _overlay(
            shapely.intersection,
            shapely.boundary(geoms[cand]),
            shapely.boundary(piece),
            _GRID_SIZE,
        )
    )
    if shared.max() <= 0:
        return None
    return cand[int(np.argmax(shared))]


def _assemble(
    G: np.ndarray, region: np.ndarray, blk: np.ndarray, absorb: Sequence[int] = ()
) -> list:
    k = region.max() + 1
    # 1. per region and block: the cells of one block come from one Voronoi diagram and
    #    form a coverage, so the fast coverage union applies (plain union if not noded)
    nb = int(blk.max()) + 1 if len(blk) else 1
    key = region.astype(np.int64) * nb + blk
    uk, inv = np.unique(key, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uk) + 1))
    pieces = np.empty(len(uk), dtype=object)
    for q in range(len(uk)):
        members = G[order[bounds[q] : bounds[q + 1]]]
        if len(members) == 1:
            pieces[q] = members[0]
            continue
        pieces[q] = _union_all(members, coverage=True, grid_size=_GRID_SIZE)
    # 2. per region: snap rounding nodes edges that are equal only up to floating point
    #    (the two sides of a street clipped in different blocks); a plain union would
    #    leave cracks there
    geoms = _group_union(pieces, uk // nb, k, coverage=False, grid_size=_GRID_SIZE)
    # rare: a block-level union that came out not quite noded leaves a crack; redo those
    # regions from their cells in one snap-rounded union
    # regions, and snap rounding itself can split a region at a point, so try a few
    # precisions and keep the first that gives one polygon
    multi = np.flatnonzero(shapely.get_num_geometries(geoms) > 1)
    for gs in (_GRID_SIZE, None, 10 * _GRID_SIZE, 100 * _GRID_SIZE):
        if len(multi) == 0:
            break
        sel = np.isin(region, multi)
        redo = _group_union(G[sel], region[sel], k, coverage=False, grid_size=gs)
        one = shapely.get_num_geometries(redo[multi]) == 1
        geoms[multi[one]] = redo[multi[one]]
        multi = multi[~one]
    geoms = np.array([g if g is not None else shapely.Polygon() for g in geoms], dtype=object)
    # Slivers (< _SLIVER_M2) that share no boundary line with any grid are numerical
    # leftovers of the overlays: they are dropped, i.e. left as a (reported) gap, rather
    # than becoming a grid of their own or a detached part of one.
    for r in absorb:
        q = _best_neighbour(geoms, r, geoms[r])
        if q is not None:
            geoms[q] = _overlay(shapely.union, geoms[q], geoms[r], _GRID_SIZE)
            geoms[r] = shapely.Polygon()
        elif shapely.area(geoms[r]) < _SLIVER_M2:
            geoms[r] = shapely.Polygon()
    # move detached fragments to the neighbour sharing most boundary with them
    for _ in range(4):
        multi = np.flatnonzero(shapely.get_num_geometries(geoms) > 1)
        if len(multi) == 0:
            break
        for r in multi.tolist():
            parts = shapely.get_parts(geoms[r])
            main = int(np.argmax(shapely.area(parts)))
            geoms[r] = parts[main]
            for p_i, p in enumerate(parts):
                if p_i == main:
                    continue
                q = _best_neighbour(geoms, r, p)
                if q is None and shapely.area(p) < _SLIVER_M2:
                    continue
                if q is None:
                    geoms[r] = _overlay(shapely.union, geoms[r], p, _GRID_SIZE)
                else:
                    geoms[q] = _overlay(shapely.union, geoms[q], p, _GRID_SIZE)
    keep = ~shapely.is_empty(geoms)
    return list(geoms[keep])
