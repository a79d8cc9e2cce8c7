"""The geometric checks of the grid report: coverage, gaps, overlaps, shapes, split buildings."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..geometry import polygonal_part
from ..overlay import code_rank, largest_share, locate_points
from .inputs import _Names, _sliver_note
from .results import Problem


def _coverage(
    g: np.ndarray,
    codes: np.ndarray,
    parents: np.ndarray,
    parent_idx: np.ndarray,
    comm: np.ndarray,
    comm_codes: np.ndarray,
    tol: float,
    problems: list[Problem],
    names: _Names,
    gap_when_empty: np.ndarray,
) -> dict[str, Any]:
    """gap, overlap, crosses_parent and unknown_parent problems; returns area totals.

    A parent without children is one gap only where ``gap_when_empty``."""
    n, m = len(g), len(comm)
    known = parent_idx >= 0
    shapely.prepare(comm)
    tree = shapely.STRtree(g)

    # unknown_parent: say which community holds the grid, so the fix is one edit
    if (~known).any():
        pts = shapely.point_on_surface(g[~known])
        ci = locate_points(pts, comm, rank=code_rank(comm_codes))
        for k, i in enumerate(np.flatnonzero(~known)):
            pw = names.missing_parent
            hint = (
                f" It lies in {names.parent(ci[k])} {comm_codes[ci[k]]}: set parent_code to that."
                if ci[k] >= 0
                else f" It lies in none of the {names.plural(pw)} given."
            )
            problems.append(
                Problem(
                    "unknown_parent",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} names parent {pw} {parents[i]!r}, "
                    f"which is not among the {names.plural(pw)} given.{hint}",
                    location=pts[k],
                    level=names.level[i],
                    details={
                        "parent_code": parents[i],
                        "suggested_parent": comm_codes[ci[k]] if ci[k] >= 0 else None,
                    },
                )
            )

    # crosses_parent: cheap prepared containment first, exact difference only where needed
    outside_area = np.zeros(n)
    ki = np.flatnonzero(known)
    inside = shapely.contains(comm[parent_idx[ki]], g[ki])
    cand = ki[~inside]
    if len(cand):
        out = polygonal_part(shapely.difference(g[cand], comm[parent_idx[cand]]))
        area = shapely.area(out)
        outside_area[cand] = area
        for i, o, a in zip(cand, out, area, strict=True):
            if a > tol:
                c = comm_codes[parent_idx[i]]
                pw = names.parent(parent_idx[i])
                problems.append(
                    Problem(
                        "crosses_parent",
                        (codes[i],),
                        f"{names.unit(i, cap=True)} {codes[i]} extends {a:,.1f} m² outside its "
                        f"{pw} {c}. Clip it to the {pw} boundary (or move it to the {pw} it lies "
                        f"in).{_sliver_note(a, float(shapely.length(o)))}",
                        location=o,
                        area_m2=float(a),
                        community_code=c,
                        level=names.level[i],
                    )
                )

    # gap: per community, what none of its own grids cover
    order = np.argsort(parent_idx[ki], kind="stable")
    grouped = ki[order]
    bounds = np.searchsorted(parent_idx[grouped], np.arange(m + 1))
    unions = np.empty(m, dtype=object)
    excess = np.zeros(m)  # sum of grid areas minus area of their union: > 0 iff overlaps
    gareas = shapely.area(g)
    for c in range(m):
        members = grouped[bounds[c] : bounds[c + 1]]
        unions[c] = shapely.union_all(g[members]) if len(members) else shapely.Polygon()
        excess[c] = gareas[members].sum() - shapely.area(unions[c])
    gaps = polygonal_part(shapely.difference(comm, unions))
    counts = np.diff(bounds)
    gaps[(counts == 0) & ~gap_when_empty] = shapely.Polygon()
    parts, pcomm = shapely.get_parts(gaps, return_index=True)
    pareas = shapely.area(parts)
    keep = pareas > tol
    parts, pcomm, pareas = parts[keep], pcomm[keep], pareas[keep]

    # overlap: intersect only the candidate pairs that can overlap (a community whose grids'
    # areas add up to its union's area has none inside; grids inside disjoint communities
    # cannot overlap across them)
    left, right = tree.query(g, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    same = known[left] & known[right] & (parent_idx[left] == parent_idx[right])
    maybe = np.where(same, excess[np.where(known[left], parent_idx[left], 0)] > tol, True)
    cross = ~same
    if cross.any():
        contained = np.zeros(n, dtype=bool)
        contained[ki[inside]] = True
        both_in = contained[left] & contained[right]
        comm_ov = _community_overlaps(comm, tol)
        pl = np.where(known[left], parent_idx[left], -1)
        pr = np.where(known[right], parent_idx[right], -1)
        disjoint = (
            np.array(
                [(min(a, b), max(a, b)) not in comm_ov for a, b in zip(pl, pr, strict=True)],
                dtype=bool,
            )
            if len(pl)
            else np.zeros(0, dtype=bool)
        )
        maybe &= ~(cross & both_in & disjoint)
    left, right = left[maybe], right[maybe]
    overlap_total = 0.0
    if len(left):
        ov = polygonal_part(shapely.intersection(g[left], g[right]))
        areas = shapely.area(ov)
        for i, j, o, a in zip(left, right, ov, areas, strict=True):
            if a > tol:
                overlap_total += float(a)
                ci = comm_codes[parent_idx[i]] if known[i] else None
                problems.append(
                    Problem(
                        "overlap",
                        tuple(sorted((codes[i], codes[j]))),
                        f"{names.units(i, cap=True)} {min(codes[i], codes[j])} and "
                        f"{max(codes[i], codes[j])} overlap "
                        f"on {a:,.1f} m². Give the overlap to one of them and cut it from the "
                        f"other.{_sliver_note(a, float(shapely.length(o)))}",
                        location=o,
                        area_m2=float(a),
                        community_code=ci,
                        level=names.level[i],
                    )
                )
    return {
        "gap_area_m2": float(pareas.sum()),
        "overlap_area_m2": overlap_total,
        "outside_area_m2": float(outside_area[outside_area > tol].sum()),
        "gaps": (parts, pcomm, pareas),
        "grid_counts": counts,
    }


def _gaps(
    g: np.ndarray,
    codes: np.ndarray,
    parent_idx: np.ndarray,
    comm_codes: np.ndarray,
    cover: dict[str, Any],
    buildings: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    problems: list[Problem],
    names: _Names,
) -> None:
    """gap problems, naming the grids around each gap and the buildings left in it."""
    parts, pcomm, pareas = cover["gaps"]
    if not len(parts):
        return
    # the community's grids along each gap, the one sharing most boundary with it first
    pi, gi = shapely.STRtree(g).query(parts, predicate="intersects")
    own = parent_idx[gi] == pcomm[pi]
    pi, gi = pi[own], gi[own]
    shared = shapely.length(shapely.intersection(shapely.boundary(parts[pi]), g[gi]))
    order = np.lexsort((codes[gi], -shared, pi))
    neighbours: dict[int, list[str]] = {}
    for k in order:
        if shared[k] > 0:
            neighbours.setdefault(int(pi[k]), []).append(codes[gi[k]])
    loose: dict[int, np.ndarray] = {}
    if buildings is not None:
        b, households, unheld = buildings
        rows = np.flatnonzero(unheld)
        pi, bi = shapely.STRtree(b[rows]).query(parts, predicate="intersects")
        for p in np.unique(pi):
            loose[int(p)] = rows[bi[pi == p]]
    for p, (poly, c, a) in enumerate(zip(parts, pcomm, pareas, strict=True)):
        near = neighbours.get(p, [])
        details: dict[str, Any] = {}
        child, pw = names.child_of(c), names.parent(c)
        if cover["grid_counts"][c] == 0:
            msg = (
                f"{names.parent(c, cap=True)} {comm_codes[c]} has no {child}s: its {a:,.0f} m² "
                f"are covered by none. Draw its {child}s (or run the grid proposer)."
            )
        else:
            who = f" between {child}s {', '.join(near)}" if near else f" away from every {child}"
            msg = (
                f"{a:,.1f} m² of {pw} {comm_codes[c]}{who} belong to no {child}. "
                f"Extend a neighbouring {child} over it."
                f"{_sliver_note(a, float(shapely.length(poly)))}"
            )
        if p in loose:
            hh = float(households[loose[p]].sum())
            msg += (
                f" {len(loose[p])} building(s) with {hh:g} households stand in it and "
                f"count for no {child}."
            )
            details = {"buildings": len(loose[p]), "households": hh}
        problems.append(
            Problem(
                "gap",
                tuple(near),
                msg,
                location=poly,
                area_m2=float(a),
                community_code=comm_codes[c],
                details=details,
                level=names.child_level(c),
            )
        )


def _community_overlaps(comm: np.ndarray, tol: float) -> set[tuple[int, int]]:
    if len(comm) < 2:
        return set()
    a, b = shapely.STRtree(comm).query(comm, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return set()
    areas = shapely.area(shapely.intersection(comm[a], comm[b]))
    return {(int(i), int(j)) for i, j, x in zip(a, b, areas, strict=True) if x > tol}


def _shapes(g: np.ndarray, codes: np.ndarray, problems: list[Problem], names: _Names) -> np.ndarray:
    """multipart / noncontiguous problems; returns the number of parts of each grid."""
    nparts = shapely.get_num_geometries(g)
    for i in np.flatnonzero(nparts > 1):
        parts = shapely.get_parts(g[i])
        areas = shapely.area(parts)
        main = int(np.argmax(areas))
        n_comp, labels = connected_components(
            coo_matrix(_touching(parts), shape=(len(parts), len(parts))), directed=False
        )
        others = np.delete(parts, main)
        location = shapely.union_all(others)
        small = float(areas.sum() - areas[main])
        if n_comp > 1:
            detached = parts[labels != labels[main]]
            gap = float(shapely.distance(parts[main], shapely.union_all(detached)))
            problems.append(
                Problem(
                    "noncontiguous",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} has {n_comp} separate pieces "
                    f"({len(parts)} parts); {float(shapely.area(detached).sum()):,.0f} m² lie "
                    f"apart from the main part (nearest {gap:,.1f} m away). Give the detached "
                    f"parts to the {names.units(i)} around them, or join them to the main part.",
                    location=shapely.union_all(detached),
                    area_m2=float(shapely.area(detached).sum()),
                    details={"n_parts": len(parts), "n_pieces": n_comp, "distance_m": gap},
                    level=names.level[i],
                )
            )
        else:
            problems.append(
                Problem(
                    "multipart",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} is {len(parts)} polygons that touch "
                    "only at corners, so "
                    "it is not one area a worker can cross. Widen the connection or give the "
                    "smaller parts to a neighbour.",
                    location=location,
                    area_m2=small,
                    details={"n_parts": len(parts)},
                    level=names.level[i],
                )
            )
    return nparts


def _touching(parts: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    a, b = shapely.STRtree(parts).query(parts, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    return np.ones(len(a)), (a, b)


def _buildings(
    g: np.ndarray,
    codes: np.ndarray,
    parent_idx: np.ndarray,
    comm_codes: np.ndarray,
    b: np.ndarray,
    households: np.ndarray,
    labels: np.ndarray,
    tol: float,
    problems: list[Problem],
    names: _Names,
) -> np.ndarray:
    """Assign each building to the grid holding most of its footprint; split_building."""
    n = len(b)
    ov = largest_share(b, g, min_area=tol, rank=code_rank(codes))
    owner = ov.owner
    if n == 0 or len(g) == 0:
        return owner
    barea = shapely.area(b)
    bi, gi, area = ov.item, ov.zone, ov.area  # by building, largest first
    n_held = np.bincount(bi, minlength=n)
    start = np.searchsorted(bi, np.arange(n + 1))
    for k in np.flatnonzero(n_held > 1):
        rows = np.arange(start[k], start[k + 1])
        shares = area[rows] / barea[k]
        held_by = [codes[gi[r]] for r in rows]
        split = ", ".join(f"{c} {s:.0%}" for c, s in zip(held_by, shares, strict=True))
        problems.append(
            Problem(
                "split_building",
                tuple(held_by),
                f"Building {labels[k]} ({households[k]:g} households) is divided between "
                f"{names.units(gi[rows[0]])} {split}. It counts for {held_by[0]}, which "
                f"holds {shares[0]:.0%} of its footprint; move the boundary so the building "
                f"lies wholly in {held_by[0]}.",
                location=b[k],
                area_m2=float(barea[k]),
                community_code=(
                    comm_codes[parent_idx[gi[rows[0]]]] if parent_idx[gi[rows[0]]] >= 0 else None
                ),
                details={
                    "building": labels[k],
                    "households": households[k],
                    "assigned_to": held_by[0],
                    "shares": {c: float(s) for c, s in zip(held_by, shares, strict=True)},
                },
                level=names.level[gi[rows[0]]],
            )
        )
    return owner
