"""Visibility polygons: what a viewer sees on the ground when walls block the view.

Each viewer casts rays at a fixed angular step across its field of view; a ray stops at
the first building wall it meets or at the viewer's range. The visibility polygon is the
fan through the ray ends. Between two rays that end on the same wall the polygon edge
lies on that wall, so a straight wall is exact; what can be missed is a gap narrower
than the ray spacing (``range * step`` in radians: 0.5 m at 30 m with 1° rays) and a
sliver behind a building corner between two rays.

Why hand-written: the maintained exact tools do one viewer at a time in a Python loop
and need a clean polygonal environment (VisiLibity1's bindings, last released 2018,
reject touching or overlapping footprints, which OSM has everywhere; CGAL's
scikit-geometry is not on PyPI for current Pythons). Thousands of cameras among
100,000 buildings need one vectorised pass, so the ray test below runs on flat numpy
arrays of (ray, wall) pairs, found through one shapely STRtree query.
"""

from __future__ import annotations

import numpy as np
import shapely

#: rays closer than this to the viewer are treated as starting inside the wall
_EPS = 1e-9


def wall_segments(buildings) -> tuple[np.ndarray, np.ndarray]:
    """Every edge of every ring of ``buildings`` as ``(segments, owner)``.

    Parameters
    ----------
    buildings
        Array of (multi)polygons in a metric CRS.

    Returns
    -------
    segments
        ``(m, 4)`` array of ``ax, ay, bx, by``.
    owner
        ``(m,)`` index of the building each segment belongs to.
    """
    buildings = np.asarray(buildings, dtype=object)
    polys, poly_owner = shapely.get_parts(buildings, return_index=True)
    rings, ring_owner = shapely.get_rings(polys, return_index=True)
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    same = vertex_ring[1:] == vertex_ring[:-1]
    seg = np.hstack([coords[:-1][same], coords[1:][same]])
    owner = poly_owner[ring_owner[vertex_ring[:-1][same]]]
    return seg, owner


def ray_distances(
    x: np.ndarray,
    y: np.ndarray,
    start: np.ndarray,
    step: np.ndarray,
    n_rays: np.ndarray,
    full: np.ndarray,
    reach: np.ndarray,
    buildings,
    *,
    max_triplets: int = 3_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance along each ray to the first wall, capped at the viewer's reach.

    Viewer ``i`` casts ``n_rays[i]`` rays at compass bearings ``start[i] + k * step[i]``
    (degrees, 0 = north, clockwise), ``k = 0 .. n_rays[i] - 1``; a full-circle viewer's
    rays go all the way round (``n_rays * step == 360``).

    Parameters
    ----------
    x, y
        Viewer positions (metric CRS).
    start, step
        Bearing of each viewer's first ray and the angle between its rays, degrees.
    n_rays
        Rays per viewer.
    full
        True for viewers that look all the way round.
    reach
        Longest ray per viewer, metres.
    buildings
        Array of obstacle (multi)polygons in the same CRS.
    max_triplets
        Work in chunks of about this many (ray, wall) tests, to bound memory.

    Returns
    -------
    ray_viewer, ray_bearing, ray_dist
        Flat arrays, one entry per ray (bearing in radians), grouped by viewer in order.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    start_r = np.radians(np.asarray(start, float))
    step_r = np.radians(np.asarray(step, float))
    n_rays = np.asarray(n_rays, np.int64)
    full = np.asarray(full, bool)
    reach = np.asarray(reach, float)
    offsets = np.concatenate([[0], np.cumsum(n_rays)])
    ray_viewer = np.repeat(np.arange(len(x)), n_rays)
    k_local = np.arange(offsets[-1]) - offsets[ray_viewer]
    ray_bearing = start_r[ray_viewer] + k_local * step_r[ray_viewer]
    ray_dist = reach[ray_viewer].copy()
    buildings = np.asarray(buildings, dtype=object)
    if len(x) == 0 or len(buildings) == 0:
        return ray_viewer, ray_bearing, ray_dist

    seg, owner = wall_segments(buildings)
    # walls -> their building -> viewers whose reach box touches the building
    tree = shapely.STRtree(buildings)
    vi, bi = tree.query(shapely.box(x - reach, y - reach, x + reach, y + reach))
    if len(vi) == 0:
        return ray_viewer, ray_bearing, ray_dist
    first = np.searchsorted(owner, np.arange(len(buildings)))
    count = np.searchsorted(owner, np.arange(len(buildings)), side="right") - first
    pv, ps = _expand(vi, first[bi], count[bi])  # (viewer, wall segment) pairs

    # rough chunking: about 30 rays per wall seen at 30 m
    n_chunks = max(1, int(len(pv) * 30 // max_triplets) + 1)
    for chunk in np.array_split(np.arange(len(pv)), n_chunks):
        v, s = pv[chunk], ps[chunk]
        px, py = x[v], y[v]
        ax, ay, bx, by = seg[s, 0], seg[s, 1], seg[s, 2], seg[s, 3]
        # bearings of both ends; the wall subtends the shorter arc between them
        fa = np.arctan2(ax - px, ay - py)
        fb = np.arctan2(bx - px, by - py)
        delta = (fb - fa + np.pi) % (2 * np.pi) - np.pi
        rel = (np.minimum(fa, fa + delta) - start_r[v]) % (2 * np.pi)
        span = np.abs(delta)
        st = step_r[v]
        tv, ts, tk = [], [], []
        # the arc [rel, rel + span] may run past 2*pi: sectors test it shifted back too
        for shift in (0.0, 2 * np.pi):
            k0 = np.ceil((rel - shift) / st - 1e-9).astype(np.int64)
            k1 = np.floor((rel + span - shift) / st + 1e-9).astype(np.int64)
            use = ~full[v] if shift else np.ones(len(v), bool)
            k0 = np.where(full[v], k0, np.maximum(k0, 0))
            k1 = np.where(full[v], k1, np.minimum(k1, n_rays[v] - 1))
            cnt = np.where(use, np.maximum(0, k1 - k0 + 1), 0)
            tv.append(np.repeat(v, cnt))
            ts.append(np.repeat(s, cnt))
            tk.append(_expand(v, k0, cnt)[1])
        tv, ts, tk = np.concatenate(tv), np.concatenate(ts), np.concatenate(tk)
        tk = np.where(full[tv], tk % np.maximum(n_rays[tv], 1), tk)
        theta = start_r[tv] + tk * step_r[tv]
        dx, dy = np.sin(theta), np.cos(theta)
        ax, ay, bx, by = seg[ts, 0], seg[ts, 1], seg[ts, 2], seg[ts, 3]
        ex, ey = bx - ax, by - ay
        wx, wy = ax - x[tv], ay - y[tv]
        denom = dx * ey - dy * ex
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (wx * ey - wy * ex) / denom
            u = (wx * dy - wy * dx) / denom
        hit = (np.abs(denom) > _EPS) & (t >= 0) & (u >= -1e-9) & (u <= 1 + 1e-9)
        np.minimum.at(ray_dist, offsets[tv[hit]] + tk[hit], t[hit])
    return ray_viewer, ray_bearing, ray_dist


def _expand(owner: np.ndarray, first: np.ndarray, count: np.ndarray):
    """``(owner[j], first[j] + l)`` for every ``l < count[j]``, flattened."""
    count = np.asarray(count, np.int64)
    total = int(count.sum())
    base = np.repeat(first - np.cumsum(count) + count, count)
    return np.repeat(owner, count), base + np.arange(total)


def fan_polygons(
    x: np.ndarray,
    y: np.ndarray,
    n_rays: np.ndarray,
    full: np.ndarray,
    ray_bearing: np.ndarray,
    ray_dist: np.ndarray,
) -> np.ndarray:
    """Polygons through the ray ends of each viewer (from :func:`ray_distances`).

    A sector viewer's fan starts and ends at the viewer; a full-circle viewer's fan is the
    ring of its ray ends. Rays of length zero (the viewer stands at a wall) collapse; the
    resulting invalid rings are repaired, and a viewer that sees nothing gets an empty
    polygon.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n_rays = np.asarray(n_rays, np.int64)
    full = np.asarray(full, bool)
    n = len(x)
    if n == 0:
        return np.array([], dtype=object)
    viewer = np.repeat(np.arange(n), n_rays)
    ex = x[viewer] + ray_dist * np.sin(ray_bearing)
    ey = y[viewer] + ray_dist * np.cos(ray_bearing)
    # vertices per ring: sectors add the apex first and last, full circles close on ray 0
    offsets = np.concatenate([[0], np.cumsum(n_rays)])
    extra = np.where(full, 1, 2)
    size = n_rays + extra
    ring_start = np.concatenate([[0], np.cumsum(size)])[:-1]
    total = int(size.sum())
    cx = np.empty(total)
    cy = np.empty(total)
    k_local = np.arange(len(viewer)) - offsets[viewer]
    pos = ring_start[viewer] + k_local + np.where(full[viewer], 0, 1)
    cx[pos], cy[pos] = ex, ey
    sec = ~full
    cx[ring_start[sec]], cy[ring_start[sec]] = x[sec], y[sec]
    last = ring_start + size - 1
    cx[last[sec]], cy[last[sec]] = x[sec], y[sec]
    cx[last[full]], cy[last[full]] = ex[offsets[:-1][full]], ey[offsets[:-1][full]]
    ring_id = np.repeat(np.arange(n), size)
    rings = shapely.linearrings(np.column_stack([cx, cy]), indices=ring_id)
    polys = shapely.polygons(rings)
    bad = ~shapely.is_valid(polys)
    if bad.any():
        polys[bad] = shapely.make_valid(polys[bad])
        polys[bad] = [_polygonal(g) for g in polys[bad]]
    return polys


def _polygonal(geom):
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)
