"""Territories that follow the street network: one connected, compact area per team.

Angle sectors around the station (``Core.territories``) put streets that are close on the
map but far apart on foot into one team's area.  Here each required street goes to the
seed nearest *along the network*, plus a per-territory bias that balances the workload:
an additively weighted network Voronoi partition.  With additive weights a street's
shortest path from its seed only crosses streets of the same territory (if ``d(s, t) +
b_s`` is smallest for ``t``, it is for every node on the path too, by the triangle
inequality), so every territory is connected through the street network.  Seeds start by
farthest-point sampling on network distance and move to their territory's medoid (network
k-medoids, a few Lloyd rounds); the biases are then tuned until the estimated workloads
(street length plus the walk from the station and back) are balanced, and finally on the
routes' real costs.  Written here because no maintained library partitions the edges of a
graph with capacities on shortest-path distance (networkx offers node Voronoi cells
without weights or balance).
"""

from __future__ import annotations

import numpy as np

__all__ = ["network_territories", "territory_routes"]


def _task_distance(core, seeds: np.ndarray) -> np.ndarray:
    """Network distance (k, T) from each seed node to the nearer end of each street."""
    T = core.T
    a, b = core.S[0 : 2 * T : 2], core.E[0 : 2 * T : 2]
    D = core.D
    # both directions: an undirected street is reached from either end
    return np.minimum(
        np.minimum(D[seeds][:, a], D[seeds][:, b]),
        np.minimum(D[a][:, seeds].T, D[b][:, seeds].T),
    )


def _farthest_seeds(core, k: int) -> np.ndarray:
    """``k`` street end nodes spread by farthest-point sampling on network distance."""
    T = core.T
    ends = np.unique(np.concatenate([core.S[0 : 2 * T : 2], core.E[0 : 2 * T : 2]]))
    D = core.D
    dmin = np.minimum(D[0, ends], D[ends, 0])
    seeds = [int(ends[np.argmax(np.where(np.isfinite(dmin), dmin, -1.0))])]
    dmin = np.minimum(D[seeds[0], ends], D[ends, seeds[0]])
    for _ in range(1, k):
        nxt = int(np.argmax(np.where(np.isfinite(dmin), dmin, -1.0)))
        seeds.append(int(ends[nxt]))
        dmin = np.minimum(dmin, np.minimum(D[ends[nxt], ends], D[ends, ends[nxt]]))
    return np.array(seeds, dtype=np.int64)


def _assign(dist: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.argmin(dist + bias[:, None], axis=0)


def _medoid(core, tasks: np.ndarray, weight: np.ndarray) -> int:
    """The street end node with the least weighted network distance to the streets."""
    nodes = np.unique(np.concatenate([core.S[2 * tasks], core.E[2 * tasks]]))
    if len(nodes) > 1500:  # keep the (nodes x streets) block small
        nodes = nodes[:: int(np.ceil(len(nodes) / 1500))]
    sub = np.minimum(core.D[nodes][:, core.S[2 * tasks]], core.D[nodes][:, core.E[2 * tasks]])
    return int(nodes[np.argmin((np.where(np.isfinite(sub), sub, 1e18) * weight).sum(axis=1))])


def network_territories(core, k: int, *, lloyd_rounds: int = 4, balance_rounds: int = 60):
    """Split the required streets into ``k`` connected, balanced territories.

    Needs ``k >= 2`` and more streets than territories.

    Returns
    -------
    labels : ndarray of int, shape (T,)
        Territory of each required street.
    seeds : ndarray of int, shape (k,)
        Seed node of each territory.
    dist : ndarray, shape (k, T)
        Network distance from each seed to each street.
    bias : ndarray, shape (k,)
        Additive weights that balance the estimated workloads.
    """
    T = core.T
    length = core.C[0 : 2 * T : 2]
    seeds = _farthest_seeds(core, k)
    bias = np.zeros(k)
    dist = _task_distance(core, seeds)
    for _ in range(lloyd_rounds):
        lab = _assign(dist, bias)
        new = seeds.copy()
        for j in range(k):
            members = np.flatnonzero(lab == j)
            if len(members):
                new[j] = _medoid(core, members, length[members] + 1.0)
        if np.array_equal(new, seeds):
            break
        seeds = new
        dist = _task_distance(core, seeds)
    home = np.minimum(core.D[0, seeds], core.D[seeds, 0])
    home = np.where(np.isfinite(home), home, 0.0)
    scale = float(np.median(dist[np.isfinite(dist)])) if np.isfinite(dist).any() else 1.0

    def loads(lab: np.ndarray) -> np.ndarray:
        work = np.bincount(lab, weights=length, minlength=k)
        # a territory's deadheading: to and from the station, plus about a third of its
        # street length to link its streets (odd nodes) - a rough estimate the real
        # routes correct below
        return 1.33 * work + 2.0 * home

    best_lab, best_max = None, np.inf
    step = 0.5 * scale
    for _ in range(balance_rounds):
        lab = _assign(dist, bias)
        load = loads(lab)
        if load.max() < best_max:
            best_lab, best_max = lab, load.max()
        rel = (load - load.mean()) / max(load.mean(), 1e-9)
        if np.abs(rel).max() < 0.01:
            break
        bias += step * rel
        step *= 0.93
    return best_lab, seeds, dist, bias


def territory_routes(core, k: int, *, rounds: int = 40) -> list[np.ndarray]:
    """One route per network territory, the territories re-balanced on real route costs."""
    T = core.T
    if k <= 1 or T <= k:
        x = np.array([core.DEP, *range(0, 2 * T, 2), core.DEP], dtype=np.int64)
        routes = [core.euler(x)] if T > 1 else [x]
        return routes + [core.empty() for _ in range(k - len(routes))]
    lab, seeds, dist, bias = network_territories(core, k)

    def build(lab: np.ndarray) -> list[np.ndarray]:
        out = []
        for j in range(k):
            members = np.flatnonzero(lab == j)
            x = np.array([core.DEP, *(2 * members), core.DEP], dtype=np.int64)
            out.append(core.euler(x) if len(members) > 1 else core._fix(x, core.DEP))
        return out

    routes = build(lab)
    costs = np.array([core.cost(x) for x in routes])
    best = (routes, costs.max(), bias)
    scale = float(np.median(dist[np.isfinite(dist)]))
    step = 0.3 * scale
    for _ in range(rounds):
        if core.timed_out() or step < 1e-3 * scale:
            break
        rel = (costs - costs.mean()) / max(costs.mean(), 1e-9)
        if np.abs(rel).max() < 0.005:
            break
        trial = best[2] + step * rel
        lab = _assign(dist, trial)
        routes = build(lab)
        costs = np.array([core.cost(x) for x in routes])
        if costs.max() < best[1]:
            best = (routes, costs.max(), trial)
            step *= 1.2
        else:  # overshoot: back to the best biases, a smaller step
            costs = np.array([core.cost(x) for x in best[0]])
            step *= 0.5
    return list(best[0])
