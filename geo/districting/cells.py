"""Geometry preparation: units (merged footprints), street blocks, one cell per unit and
the cell adjacency graph (steps 1-3 of the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..geometry import polygonal_part

_SAMPLE_SPACING_M = 12.0  # distance between points sampled along footprint outlines
_AREA_EPS = 1e-6  # m2: below this an intersection is numerical noise
_GRID_SIZE = 1e-6  # m: snap-rounding precision of overlays that must not leave gaps
_MIN_SHARED_M = 0.5  # cells are neighbours when their boundaries share this much length


@dataclass
class _Community:
    code: str
    polygon: Any
    free: Any
    locked_geoms: list = field(default_factory=list)
    locked_codes: list = field(default_factory=list)
    # graph
    node_geom: np.ndarray | None = None
    node_xy: np.ndarray | None = None
    node_load: np.ndarray | None = None
    node_block: np.ndarray | None = None
    adj: list | None = None
    edge_len: list | None = None
    edge_shared: list | None = None
    k: int = 0
    fixed_k: bool = False


def _blocks(free, lines) -> np.ndarray:
    parts = shapely.get_parts(free)
    if lines is None or len(lines) == 0:
        return parts
    clipped = shapely.intersection(lines, free)
    clipped = clipped[~shapely.is_empty(clipped)]
    linework = np.concatenate([shapely.get_parts(clipped), [shapely.boundary(free)]])
    linework = linework[np.isin(shapely.get_type_id(linework), (1, 2, 5))]
    noded = shapely.node(shapely.multilinestrings(shapely.get_parts(shapely.get_parts(linework))))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return parts
    shapely.prepare(free)
    keep = shapely.contains_properly(free, shapely.point_on_surface(faces))
    faces = faces[keep]
    # polygonize may miss slivers of free: keep whatever is left as extra blocks
    rest = _overlay(
        shapely.difference, free, _union_all(faces, coverage=True, grid_size=None), None
    )
    if not shapely.is_empty(rest):
        extra = shapely.get_parts(rest)
        extra = extra[shapely.area(extra) > _AREA_EPS]
        faces = np.concatenate([faces, extra])
    return faces


def _units(fp: np.ndarray, load: np.ndarray):
    """Merge footprints that overlap (by area) into units."""
    n = len(fp)
    if n == 0:
        return fp, load, np.zeros(0, dtype=int)
    tree = shapely.STRtree(fp)
    i, j = tree.query(fp, predicate="intersects")
    m = i < j
    i, j = i[m], j[m]
    if len(i):
        a = shapely.area(_overlay(shapely.intersection, fp[i], fp[j], None))
        ov = a > 0.01
        i, j = i[ov], j[ov]
    if len(i) == 0:
        return fp, load, np.ones(n, dtype=int)
    g = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    nc, lab = connected_components(g, directed=False)
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=nc)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ufp = np.empty(nc, dtype=object)
    for c in range(nc):
        members = order[starts[c] : starts[c] + counts[c]]
        ufp[c] = fp[members[0]] if len(members) == 1 else shapely.union_all(fp[members])
    uload = np.bincount(lab, weights=load, minlength=nc)
    return ufp, uload, counts


_PRECISIONS = (None, 1e-5, 1e-4, 1e-3)  # fallbacks when an overlay raises


def _overlay(op, a, b, grid_size: float | None):
    """``op(a, b, grid_size=...)`` that survives GEOS topology exceptions.

    Snap rounding occasionally fails on nearly coincident edges ("unable to assign free
    hole to a shell"); the failing elements are redone at other precisions.
    """
    try:
        return op(a, b, grid_size=grid_size)
    except shapely.errors.GEOSException:
        if np.ndim(a) or np.ndim(b):
            a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
            return np.array(
                [_overlay(op, x, y, grid_size) for x, y in zip(a, b, strict=True)], dtype=object
            )
        for gs in _PRECISIONS:
            if gs == grid_size:
                continue
            try:
                return op(a, b, grid_size=gs)
            except shapely.errors.GEOSException:
                continue
        return op(shapely.make_valid(a), shapely.make_valid(b), grid_size=1e-3)


def _union_all(members: np.ndarray, *, coverage: bool, grid_size: float | None):
    """Union of one group, falling back from coverage union to overlay at other precisions."""
    if coverage:
        try:
            return shapely.coverage_union_all(members)
        except shapely.errors.GEOSException:
            pass
    for gs in (grid_size, *[p for p in _PRECISIONS if p != grid_size]):
        try:
            return shapely.union_all(members, grid_size=gs)
        except shapely.errors.GEOSException:
            continue
    return shapely.union_all(shapely.make_valid(members), grid_size=1e-3)


def _group_union(
    geoms: np.ndarray, owner: np.ndarray, n: int, *, coverage: bool, grid_size: float | None = None
):
    """Union of geometries per owner id (0..n-1) with one vectorized call."""
    res = np.empty(n, dtype=object)
    res[:] = None
    if len(geoms) == 0:
        return res
    order = np.argsort(owner, kind="stable")
    o = owner[order]
    counts = np.bincount(o, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(o)) - starts[o]
    # bucket owners by size (powers of two) to keep the padded arrays small
    bucket = np.where(counts > 0, 2 ** np.ceil(np.log2(np.maximum(counts, 1))), 0).astype(int)
    sizes = np.unique(bucket)
    for s in sizes:
        if s == 0:
            continue
        ids = np.flatnonzero(bucket == s)
        if len(ids) == 0:
            continue
        arr = np.empty((len(ids), int(s)), dtype=object)
        arr[:] = None
        row = np.full(n, -1)
        row[ids] = np.arange(len(ids))
        sel = row[o] >= 0
        arr[row[o[sel]], pos[sel]] = geoms[order][sel]
        try:
            if coverage:
                res[ids] = shapely.coverage_union_all(arr, axis=1)
            else:
                res[ids] = shapely.union_all(arr, axis=1, grid_size=grid_size)
        except shapely.errors.GEOSException:  # one bad group: redo them one by one
            for r, i in enumerate(ids):
                members = arr[r][arr[r] != None]  # noqa: E711
                res[i] = _union_all(members, coverage=coverage, grid_size=grid_size)
    return res


def _voronoi_cells(ufp, uload, ublock, blocks) -> np.ndarray:
    """Cell of each unit: Voronoi cells of its outline points, within its block."""
    nu, nb = len(ufp), len(blocks)
    cells = np.empty(nu, dtype=object)
    rings = shapely.segmentize(shapely.boundary(ufp), _SAMPLE_SPACING_M)
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    _, first = np.unique(np.round(xy, 2), axis=0, return_index=True)  # shared corners
    first = np.sort(first)
    xy, idx = xy[first], idx[first]
    order = np.argsort(ublock[idx], kind="stable")
    xy, idx = xy[order], idx[order]
    bcounts = np.bincount(ublock[idx], minlength=nb)
    bstart = np.concatenate([[0], np.cumsum(bcounts)[:-1]])
    vcells, vowner = [], []
    for b in np.flatnonzero(bcounts):
        s, e = bstart[b], bstart[b] + bcounts[b]
        owners = idx[s:e]
        u_in = np.unique(owners)
        if len(u_in) == 1:
            cells[u_in[0]] = blocks[b]
            continue
        try:
            vp = shapely.voronoi_polygons(
                shapely.multipoints(xy[s:e]), extend_to=blocks[b], ordered=True
            )
            parts = shapely.get_parts(vp)
        except shapely.errors.GEOSException:
            parts = np.zeros(0, dtype=object)
        if len(parts) != e - s:  # degenerate points: the block goes to its heaviest unit
            heavy = u_in[np.argmax(uload[u_in])]
            for u in u_in:
                cells[u] = blocks[b] if u == heavy else ufp[u]
            continue
        vcells.append(parts)
        vowner.append(owners)
    if vcells:
        merged = _group_union(np.concatenate(vcells), np.concatenate(vowner), nu, coverage=True)
        has = np.flatnonzero(
            np.array(
                [m is not None and c is None for m, c in zip(merged, cells, strict=True)],
                dtype=bool,
            )
        )
        cells[has] = _overlay(shapely.intersection, merged[has], blocks[ublock[has]], None)
    missing = np.flatnonzero(np.array([c is None for c in cells], dtype=bool))
    cells[missing] = ufp[missing]
    return cells


def _adjacency(G: np.ndarray, block: np.ndarray, xy: np.ndarray):
    """Neighbour lists, centroid distances and shared boundary lengths of the nodes."""
    n = len(G)
    adj: list[list[int]] = [[] for _ in range(n)]
    elen: list[list[float]] = [[] for _ in range(n)]
    eshared: list[list[float]] = [[] for _ in range(n)]
    if n < 2:
        return adj, elen, eshared
    i, j = shapely.STRtree(G).query(G, predicate="intersects")
    m = i < j
    i, j = i[m], j[m]
    # Neighbours share at least _MIN_SHARED_M of boundary, not just a point: a dissolve of
    # cells touching along a few millimetres can come apart. Across blocks the two sides
    # of a street were clipped separately and coincide only up to floating point, so the
    # overlay there snap-rounds (grid_size); cells of one block share exact Voronoi edges.
    bi, bj = shapely.boundary(G[i]), shapely.boundary(G[j])
    cross = block[i] != block[j]
    shared = np.empty(len(i))
    shared[~cross] = shapely.length(_overlay(shapely.intersection, bi[~cross], bj[~cross], None))
    shared[cross] = shapely.length(_overlay(shapely.intersection, bi[cross], bj[cross], _GRID_SIZE))
    ok = shared >= _MIN_SHARED_M
    i, j, shared = i[ok], j[ok], shared[ok]
    d = np.hypot(*(xy[i] - xy[j]).T)
    for a, b, dd, sl in zip(i.tolist(), j.tolist(), d.tolist(), shared.tolist(), strict=True):
        adj[a].append(b)
        adj[b].append(a)
        elen[a].append(dd)
        elen[b].append(dd)
        eshared[a].append(sl)
        eshared[b].append(sl)
    return adj, elen, eshared


def _prepare_graph(com: _Community, fp_all: np.ndarray, load_all: np.ndarray, lines) -> None:
    """Units, blocks, cells and their adjacency graph for one community (in place)."""
    free = com.free
    com.node_geom = np.zeros(0, dtype=object)
    com.node_xy = np.zeros((0, 2))
    com.node_load = np.zeros(0)
    com.node_block = np.zeros(0, dtype=int)
    com.adj, com.edge_len, com.edge_shared = [], [], []
    if shapely.is_empty(free) or shapely.area(free) <= _AREA_EPS:
        return
    shapely.prepare(free)
    # clip footprints to the free area
    inside = shapely.within(fp_all, free)
    fp = fp_all.copy()
    if (~inside).any():
        clipped = _overlay(shapely.intersection, fp_all[~inside], free, None)
        fp[~inside] = polygonal_part(clipped)
    ok = ~shapely.is_empty(fp) & (shapely.area(fp) > _AREA_EPS)
    ufp, uload, _ = _units(fp[ok], load_all[ok])
    nu = len(ufp)

    blocks = _blocks(free, lines)
    nb = len(blocks)
    btree = shapely.STRtree(blocks)
    urep = shapely.point_on_surface(ufp)
    ublock = np.full(nu, -1)
    if nu:
        pi, bi = btree.query(urep, predicate="intersects")
        ublock[pi[::-1]] = bi[::-1]
        miss = np.flatnonzero(ublock < 0)
        if len(miss):
            ublock[miss] = btree.query_nearest(urep[miss], all_matches=False)[1]
    cells = _voronoi_cells(ufp, uload, ublock, blocks) if nu else np.zeros(0, dtype=object)

    # empty blocks become zero-load nodes
    has_unit = np.zeros(nb, dtype=bool)
    has_unit[ublock] = True
    empty_block_id = np.flatnonzero(~has_unit)
    allc = np.concatenate([cells, blocks[empty_block_id]])
    own = np.concatenate([np.arange(nu), np.full(len(empty_block_id), -1)])
    node_block_all = np.concatenate([ublock, empty_block_id]).astype(int)

    # footprint correction: a cell holds its own footprint whole, and no other footprint
    if nu:
        ci, fj = shapely.STRtree(ufp).query(allc, predicate="intersects")
        m = own[ci] != fj
        ci, fj = ci[m], fj[m]
        if len(ci):
            foreign = _group_union(ufp[fj], ci, len(allc), coverage=False)
            hit = np.unique(ci)
            allc[hit] = _overlay(shapely.difference, allc[hit], foreign[hit], None)
        cells = allc[:nu]
        shapely.prepare(cells)
        need = ~shapely.covers(cells, ufp)
        if need.any():
            cells[need] = _overlay(shapely.union, cells[need], ufp[need], None)
        allc[:nu] = cells
    bad = ~np.isin(shapely.get_type_id(allc), (3, 6))
    if bad.any():
        allc[bad] = polygonal_part(allc[bad])

    # multipart cells: the parts holding some of the own footprint stay with the unit
    # (the one holding most at least); the others, and every part of an empty block,
    # become zero-load nodes of their own
    parts, pidx = shapely.get_parts(allc, return_index=True)
    nparts = np.bincount(pidx, minlength=len(allc))
    is_unit_part = own[pidx] >= 0
    keep = is_unit_part.copy()
    sel = np.flatnonzero(is_unit_part & (nparts[pidx] > 1))
    if len(sel):
        ov = shapely.area(_overlay(shapely.intersection, parts[sel], ufp[own[pidx[sel]]], None))
        keep[sel] = ov > 0.01
        best = sel[np.lexsort((-ov, pidx[sel]))]
        first = np.ones(len(best), dtype=bool)
        first[1:] = pidx[best][1:] != pidx[best][:-1]
        keep[best[first]] = True
        merged = _group_union(parts[sel[keep[sel]]], pidx[sel[keep[sel]]], nu, coverage=False)
        multi = np.unique(pidx[sel])
        cells = allc[:nu].copy()
        cells[multi] = merged[multi]
    else:
        cells = allc[:nu]
    loose = ~keep & (shapely.area(parts) > _AREA_EPS)
    op = parts[loose]
    com.node_geom = np.concatenate([cells, op])
    com.node_load = np.concatenate([uload, np.zeros(len(op))])
    com.node_block = np.concatenate([ublock, node_block_all[pidx[loose]]]).astype(int)
    com.node_xy = np.concatenate(
        [
            shapely.get_coordinates(shapely.centroid(ufp)).reshape(-1, 2),
            shapely.get_coordinates(shapely.point_on_surface(op)).reshape(-1, 2),
        ]
    )
    com.adj, com.edge_len, com.edge_shared = _adjacency(com.node_geom, com.node_block, com.node_xy)
