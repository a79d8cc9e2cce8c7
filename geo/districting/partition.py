"""Graph partition: balanced, contiguous regions of cells (step 4 of the package docstring)."""

from __future__ import annotations

import heapq
import math
from collections import deque

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..errors import InfeasiblePlanError, SchemaError
from ..grids import child_codes, reading_order
from .assemble import _assemble
from .cells import _Community

_STREET_PENALTY = 0.6  # region growing: crossing a street costs this times the grid side
_STREET_DISCOUNT = 0.15  # polish: grid boundary along a street costs this much of inside one
_BALANCE_WEIGHT = 1.0  # polish: weight of the squared relative deviation from the mean load


def _weighted_kmeans(xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator):
    n = len(xy)
    p = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    centers = [xy[rng.choice(n, p=p)]]
    d2 = ((xy - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        q = d2 * w
        if q.sum() <= 0:
            q = np.ones(n)
        c = xy[rng.choice(n, p=q / q.sum())]
        centers.append(c)
        d2 = np.minimum(d2, ((xy - c) ** 2).sum(1))
    C = np.array(centers)
    for _ in range(12):
        lab = cKDTree(C).query(xy)[1]
        sw = np.bincount(lab, weights=w, minlength=k)
        sx = np.bincount(lab, weights=w * xy[:, 0], minlength=k)
        sy = np.bincount(lab, weights=w * xy[:, 1], minlength=k)
        good = sw > 0
        C[good, 0] = sx[good] / sw[good]
        C[good, 1] = sy[good] / sw[good]
    return C


def _solve_community(com: _Community, band: tuple[float, float], seed: int) -> list[list]:
    rows: list[list] = []
    for g, c in zip(com.locked_geoms, com.locked_codes, strict=True):
        rows.append([c, com.code, True, g])
    G = com.node_geom
    new_geoms: list = []
    if G is not None and len(G):
        n = len(G)
        # connected components get their own share of k
        if n > 1:
            ii = [a for a, nb in enumerate(com.adj) for _ in nb]
            jj = [b for nb in com.adj for b in nb]
            mat = coo_matrix((np.ones(len(ii)), (ii, jj)), shape=(n, n))
            ncomp, lab = connected_components(mat, directed=False)
        else:
            ncomp, lab = 1, np.zeros(1, dtype=int)
        loads = np.bincount(lab, weights=com.node_load, minlength=ncomp)
        # components too light for a grid of their own (cut off by a locked grid, or by
        # a pinch of the community) join a neighbouring grid after the dissolve
        small = (loads < band[0]) & (np.arange(ncomp) != np.argmax(loads))
        ks = np.zeros(ncomp, dtype=int)
        ks[~small] = _share_k(loads[~small], max(com.k, 1))
        region = np.full(n, -1)
        next_id = 0
        absorb = []
        for c in range(ncomp):
            nodes = np.flatnonzero(lab == c)
            if small[c]:
                region[nodes] = next_id
                absorb.append(next_id)
                next_id += 1
                continue
            r = _partition(nodes, com, ks[c], band, seed, component=c, fixed_k=com.fixed_k)
            region[nodes] = r + next_id
            next_id = region[nodes].max() + 1
        new_geoms = _assemble(G, region, com.node_block, absorb)
    # code the grids
    taken = {c for c in com.locked_codes if c is not None}
    all_geoms = [r[3] for r in rows] + list(new_geoms)
    order = reading_order(gpd.GeoSeries(all_geoms)) if all_geoms else []
    nlock = len(rows)
    need = [i for i in order if not (i < nlock and rows[i][0] is not None)]
    try:
        fresh = iter(child_codes(com.code, len(need), level="grid", taken=taken))
    except SchemaError as e:
        raise InfeasiblePlanError(
            f"community {com.code} would get more grids than codes: {e}; "
            "widen the band or give n_grids"
        ) from None
    coded = []
    for i in order:
        if i < nlock and rows[i][0] is not None:
            coded.append(rows[i])
        elif i < nlock:
            rows[i][0] = next(fresh)
            coded.append(rows[i])
        else:
            coded.append([next(fresh), com.code, False, all_geoms[i]])
    return coded


def _share_k(loads: np.ndarray, k_total: int) -> np.ndarray:
    """Share ``k_total`` grids among graph components in proportion to their load."""
    if len(loads) == 1:
        return np.array([k_total])
    total = loads.sum()
    if total <= 0:
        return np.ones(len(loads), dtype=int)
    return np.maximum(1, np.round(loads / total * k_total).astype(int))


def _f(W: float, lo: float, hi: float, T: float) -> float:
    """Balance cost of one region: steep outside the band, gentle inside."""
    out = (max(0.0, lo - W) + max(0.0, W - hi)) / T
    d = (W - T) / T
    return 1e3 * out * out + 200.0 * out + _BALANCE_WEIGHT * d * d


def _partition(
    nodes: np.ndarray,
    com: _Community,
    k: int,
    band,
    seed: int,
    *,
    component: int = 0,
    fixed_k: bool,
    tries: int = 3,
):
    """Contiguous balanced partition of one connected component; returns labels 0..k'-1."""
    lo, hi = band
    n = len(nodes)
    w = com.node_load[nodes]
    if k <= 1 or n <= 1 or w.sum() <= 0:
        return np.zeros(n, dtype=int)
    local = {int(g): i for i, g in enumerate(nodes)}
    adj = [[local[b] for b in com.adj[g] if b in local] for g in nodes]
    elen = [
        [d for b, d in zip(com.adj[g], com.edge_len[g], strict=True) if b in local] for g in nodes
    ]
    esh = [
        [d for b, d in zip(com.adj[g], com.edge_shared[g], strict=True) if b in local]
        for g in nodes
    ]
    blk = com.node_block[nodes]
    xy = com.node_xy[nodes]
    W_total = w.sum()
    T = W_total / k
    if fixed_k and not (lo <= T <= hi):
        # a number of grids was asked for whose mean load lies outside the band:
        # balance around the mean instead
        lo, hi = 0.85 * T, 1.15 * T
    area = float(shapely.area(com.node_geom[nodes]).sum())
    side = math.sqrt(area / k)
    penalty = _STREET_PENALTY * side

    def attempt(rng, k):
        pos = np.flatnonzero(w > 0)
        k = min(k, len(pos))
        C = _weighted_kmeans(xy[pos], w[pos], k, rng)
        # seeds: nearest loaded node to each centre, distinct
        tree = cKDTree(xy[pos])
        seeds: list[int] = []
        used: set[int] = set()
        for c in C:
            _, cand = tree.query(c, k=min(len(pos), 8))
            for q in np.atleast_1d(cand):
                v = int(pos[q])
                if v not in used:
                    used.add(v)
                    seeds.append(v)
                    break
        k = len(seeds)
        region = np.full(n, -1)
        Wr = np.zeros(k)
        heaps: list[list] = [[] for _ in range(k)]
        for r, s in enumerate(seeds):
            region[s] = r
            Wr[r] = w[s]
            for b, d in zip(adj[s], elen[s], strict=True):
                heapq.heappush(heaps[r], (d + (penalty if blk[b] != blk[s] else 0.0), b))
        active = [(Wr[r], r) for r in range(k)]
        heapq.heapify(active)
        while active:
            _, r = heapq.heappop(active)
            h = heaps[r]
            grown = False
            while h:
                cost, v = heapq.heappop(h)
                if region[v] >= 0:
                    continue
                if Wr[r] + w[v] > hi and Wr[r] >= lo:
                    break  # closing: adding would overshoot the band
                if Wr[r] + w[v] > T and abs(Wr[r] + w[v] - T) > abs(Wr[r] - T) and Wr[r] >= lo:
                    break
                region[v] = r
                Wr[r] += w[v]
                for b, d in zip(adj[v], elen[v], strict=True):
                    if region[b] < 0:
                        heapq.heappush(h, (cost + d + (penalty if blk[b] != blk[v] else 0.0), b))
                grown = True
                break
            if grown and Wr[r] < T:
                heapq.heappush(active, (Wr[r], r))

        # leftover pockets
        un = np.flatnonzero(region < 0)
        if len(un):
            unset = set(un.tolist())
            seen: set[int] = set()
            for s in un.tolist():
                if s in seen:
                    continue
                comp = []
                dq = deque([s])
                seen.add(s)
                while dq:
                    v = dq.popleft()
                    comp.append(v)
                    for b in adj[v]:
                        if b in unset and b not in seen:
                            seen.add(b)
                            dq.append(b)
                cw = w[comp].sum()
                nbr_regions = {region[b] for v in comp for b in adj[v] if region[b] >= 0}
                if (cw >= lo and not fixed_k) or not nbr_regions:
                    r = len(Wr)
                    Wr = np.append(Wr, cw)
                    region[comp] = r
                else:
                    r = min(sorted(nbr_regions), key=Wr.__getitem__)
                    region[comp] = r
                    Wr[r] += cw
        # pockets may have been merged into neighbours later in the loop: that's fine.
        region = _polish(region, w, adj, esh, blk, lo, hi, T, side)
        # relabel 0..k'-1
        _, region = np.unique(region, return_inverse=True)
        return region

    # several seedings; keep the partition with the fewest / smallest band violations
    best, best_score = None, None
    for t in range(max(1, tries)):
        region = attempt(np.random.default_rng([seed, component, t]), k)
        Wr = np.bincount(region, weights=w)
        out = np.maximum(0.0, lo - Wr) + np.maximum(0.0, Wr - hi)
        score = (int((out > 0).sum()), float(out.sum()), float(((Wr - T) ** 2).sum()))
        if best_score is None or score < best_score:
            best, best_score = region, score
        if score[0] == 0:
            break
    return best


def _connected_without(members: set[int], v: int, adj) -> bool:
    rest = members - {v}
    if not rest:
        return False
    start = next(iter(rest))
    seen = {start}
    dq = deque([start])
    while dq:
        x = dq.popleft()
        for b in adj[x]:
            if b in rest and b not in seen:
                seen.add(b)
                dq.append(b)
    return len(seen) == len(rest)


def _polish(region, w, adj, esh, blk, lo, hi, T, side, max_moves: int | None = None):
    """Boundary moves that lower balance cost + boundary cost, keeping regions connected.

    The boundary cost of a region is the length of its boundary shared with other
    regions divided by ``side``; boundary along a street (between cells of different
    blocks) costs only ``_STREET_DISCOUNT`` of that. Every accepted move lowers the
    total, so the loop ends.
    """
    k = region.max() + 1
    n = len(region)
    Wr = np.bincount(region, weights=w, minlength=k)
    members: list[set[int]] = [set() for _ in range(k)]
    for v, r in enumerate(region.tolist()):
        members[r].add(v)
    nloaded = np.bincount(region, weights=(w > 0).astype(float), minlength=k)
    ecost = [
        [
            sl / side * (_STREET_DISCOUNT if blk[b] != blk[v] else 1.0)
            for b, sl in zip(adj[v], esh[v], strict=True)
        ]
        for v in range(n)
    ]
    fcache = {}

    def f(W):
        key = round(W, 6)
        if key not in fcache:
            fcache[key] = _f(W, lo, hi, T)
        return fcache[key]

    reg = region.tolist()
    queue = deque(v for v in range(n) if any(reg[b] != reg[v] for b in adj[v]))
    inq = set(queue)
    moves = 0
    limit = max_moves if max_moves is not None else 50 * n
    while queue and moves < limit:
        v = queue.popleft()
        inq.discard(v)
        a = reg[v]
        wv = w[v]
        if wv > 0 and nloaded[a] <= 1:
            continue
        link: dict[int, float] = {}
        for b, c in zip(adj[v], ecost[v], strict=True):
            rb = reg[b]
            link[rb] = link.get(rb, 0.0) + c
        if len(link) == 1 and a in link:
            continue
        la = link.get(a, 0.0)
        fa = f(Wr[a])
        fa2 = f(Wr[a] - wv)
        best, best_d = -1, -1e-9
        for rb, lb in link.items():
            if rb == a:
                continue
            d = (fa2 - fa) + (f(Wr[rb] + wv) - f(Wr[rb])) + (la - lb)
            if d < best_d:
                best, best_d = rb, d
        if best < 0 or not _connected_without(members[a], v, adj):
            continue
        members[a].discard(v)
        members[best].add(v)
        reg[v] = best
        Wr[a] -= wv
        Wr[best] += wv
        if wv > 0:
            nloaded[a] -= 1
            nloaded[best] += 1
        moves += 1
        for b in adj[v]:
            if b not in inq:
                queue.append(b)
                inq.add(b)
        if v not in inq:
            queue.append(v)
            inq.add(v)
    return np.asarray(reg)
