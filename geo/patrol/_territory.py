"""Territories: one compact area per team, around its station.

With coordinates (every osmnx graph) territories are convex cells of the plane, see
:func:`station_territory_routes`; without them, or on one-way networks, network cells
as follows.


Angle sectors around the station (``Core.territories``) put streets that are close on the
map but far apart on foot into one team's area. Here each required street goes to the seed
nearest *along the network*, plus a per-territory bias that balances the workload: an
additively weighted network Voronoi partition. With additive weights a street's shortest
path from its seed only crosses streets of the same territory (if ``d(s, t) + b_s`` is
smallest for ``t``, it is for every node on the path too, by the triangle inequality), so
every territory is connected through the street network (for nodes exactly; a street goes
by the mean distance of its two ends, so a street on a tie may join the other side). Seeds
start by farthest-point sampling on network distance and move to their territory's medoid
(network k-medoids, a few Lloyd rounds); the biases are then tuned until the estimated
workloads (street length plus the walk from the station and back) are balanced, and
finally on the routes' real costs. Written here because no maintained library partitions
the edges of a graph with capacities on shortest-path distance (networkx offers node
Voronoi cells without weights or balance).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "network_territories",
    "station_territory_routes",
    "street_points",
    "sub_core",
    "sub_nodes",
    "territory_hulls_xy",
    "territory_routes",
]


def _task_distance(core, seeds: np.ndarray) -> np.ndarray:
    """Network distance (k, T) from each seed node to each street (mean of its two ends)."""
    T = core.T
    a, b = core.S[0 : 2 * T : 2], core.E[0 : 2 * T : 2]
    D = core.D
    # mean over both ends (each in either direction): smoother borders than the nearer end
    return 0.5 * (
        np.minimum(D[seeds][:, a], D[a][:, seeds].T) + np.minimum(D[seeds][:, b], D[b][:, seeds].T)
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


# ------------------------------------------------------------------ several stations
# Convex territories are what keeps routes from interleaving: the measure (and what a
# planner sees) is one team walking inside the convex hull of another team's streets, and
# convex cells do not overlap; only streets crossing a border make hulls overlap.  So
# territories here are cells of the plane, not of the network: different stations share
# the area by a power diagram around them (cells are convex polygons), its weights tuned
# until each station's cell holds work in proportion to its teams; teams of one station
# share its cell by a second power diagram around k-means centres, balanced on the real
# route costs.  Measured on the Helsinki demo and North Bayreuth (k = 4, 5, 10), these
# compact cells interleaved less than angular sectors around the station at k = 4-5 (thin
# sectors are nearly all border), and moving the streets of two hulls' overlap to one
# side (tried) did not lower the measure.


def sub_nodes(core, tasks: np.ndarray, depot_pos: int) -> np.ndarray:
    """Relevant nodes of :func:`sub_core`, in its order (the depot first)."""
    tasks = np.asarray(tasks, dtype=np.int64)
    ends = np.unique(np.concatenate([core.S[2 * tasks], core.E[2 * tasks]]))
    return np.concatenate([[depot_pos], ends[ends != depot_pos]]).astype(np.int64)


def sub_core(core, tasks: np.ndarray, depot_pos: int, *, D: np.ndarray | None = None):
    """A search core for some required streets only, walked from another relevant node.

    Parameters
    ----------
    core : Core
        The full instance.
    tasks : ndarray of int
        Street (task) indices of ``core`` to keep.
    depot_pos : int
        Relevant-node index in ``core`` of the depot of the new core (a station).
    D : ndarray, optional
        Path costs among :func:`sub_nodes` (default: ``core``'s), e.g. on paths that
        keep out of other territories.

    Returns
    -------
    Core
        Node 0 is ``depot_pos``; task ``i`` is ``tasks[i]`` of ``core``; its deadline is
        ``core``'s.  Orientations no closed walk from this depot can take are forbidden.
    """
    from ._search import Core  # late: _search mixes in modules that import this one

    tasks = np.asarray(tasks, dtype=np.int64)
    o = np.stack([2 * tasks, 2 * tasks + 1], axis=1).ravel()
    nodes = sub_nodes(core, tasks, depot_pos)
    loc = np.full(len(core.D), -1, dtype=np.int64)
    loc[nodes] = np.arange(len(nodes))
    if D is None:
        D = core.D[np.ix_(nodes, nodes)]
    S, E = loc[core.S[o]], loc[core.E[o]]
    F = core.F[o] | (D[0, S] + D[E, 0] >= 1e17)
    xy = None if core.xy is None else core.xy[nodes]
    sub = Core(D, S, E, core.C[o], F, xy=xy, symmetric_paths=True if core.symmetric else None)
    sub.deadline = core.deadline
    return sub


def _to_parent(x: np.ndarray, tasks: np.ndarray, dep: int) -> np.ndarray:
    """A route of a :func:`sub_core` in the orientation numbers of the full core."""
    mid = np.asarray(x[1:-1], dtype=np.int64)
    return np.concatenate([[dep], 2 * tasks[mid // 2] + (mid & 1), [dep]]).astype(np.int64)


def _power_cells(
    mid: np.ndarray, work: np.ndarray, sites: np.ndarray, share: np.ndarray, *, rounds: int = 80
) -> np.ndarray:
    """Cell of each street in a power diagram of ``sites`` holding ``share`` of the work."""
    d2 = ((mid[None, :, :] - sites[:, None, :]) ** 2).sum(axis=2)  # (G, T)
    w = np.zeros(len(sites))
    target = share * work.sum()
    step = 0.5 * float(np.median(d2))
    best, best_err = np.argmin(d2, axis=0), np.inf
    for _ in range(rounds):
        lab = np.argmin(d2 - w[:, None], axis=0)
        load = np.bincount(lab, weights=work, minlength=len(sites))
        rel = (target - load) / max(target.mean(), 1e-9)
        err = float(np.abs(rel).max())
        if err < best_err:
            best, best_err = lab, err
        if err < 0.01:
            break
        w += step * rel
        step *= 0.93
    return best


def _group_routes(
    core, tasks: np.ndarray, depot_pos: int, n: int, rng, pts: np.ndarray
) -> list[np.ndarray]:
    """``n`` routes from one station over ``tasks``: balanced sectors around it."""
    if len(tasks) == 0:
        return [np.array([core.DEP, core.DEP], dtype=np.int64) for _ in range(n)]
    sub = sub_core(core, tasks, depot_pos)
    if n == 1 or sub.T <= n:
        x = np.array([sub.DEP, *range(0, 2 * sub.T, 2), sub.DEP], dtype=np.int64)
        routes = [sub.euler(x) if sub.T > 1 else x]
        routes += [sub.empty() for _ in range(n - 1)]
    elif sub.xy is not None and sub.symmetric:
        return _cell_routes(core, tasks, depot_pos, n, pts)
    else:
        routes = [x if len(x) > 2 else sub.empty() for x in territory_routes(sub, n)]
    return [_to_parent(x, tasks, core.DEP) for x in routes]


def _kmeans_sites(mid: np.ndarray, work: np.ndarray, n: int, start: np.ndarray) -> np.ndarray:
    """``n`` work-weighted k-means centres of the street middles (farthest-point start)."""
    sites = [mid[int(np.argmax(((mid - start) ** 2).sum(axis=1)))]]
    d2 = ((mid - sites[0]) ** 2).sum(axis=1)
    for _ in range(1, n):
        sites.append(mid[int(np.argmax(d2))])
        d2 = np.minimum(d2, ((mid - sites[-1]) ** 2).sum(axis=1))
    sites = np.array(sites)
    for _ in range(12):  # Lloyd rounds
        lab = np.argmin(((mid[None] - sites[:, None]) ** 2).sum(axis=2), axis=0)
        new = sites.copy()
        for j in range(n):
            mine = lab == j
            if mine.any():
                new[j] = np.average(mid[mine], axis=0, weights=work[mine] + 1e-9)
        if np.allclose(new, sites):
            break
        sites = new
    return sites


def _cell_routes(
    core, tasks: np.ndarray, depot_pos: int, n: int, pts: np.ndarray, *, rounds: int = 12
) -> list[np.ndarray]:
    """``n`` balanced routes in compact convex cells (a power diagram) of one station's
    streets: k-means centres, weights tuned first on estimated then on real route costs.

    Fat cells rather than thin sectors: a convex hull spills over its border by the
    streets that cross it, and a thin sector is nearly all border.  A team whose cell
    does not hold the station walks through others to reach it (the approach).
    """
    sub = sub_core(core, tasks, depot_pos)
    mid = pts[tasks, pts.shape[1] // 2]
    work = sub.C[0 : 2 * sub.T : 2]
    station = core.xy[depot_pos]
    sites = _kmeans_sites(mid, work, n, station)
    d2 = ((mid[None] - sites[:, None]) ** 2).sum(axis=2)
    home = 2.0 * np.hypot(*(sites - station).T)  # there and back, as the crow flies
    scale = float(np.median(d2))

    def estimate(lab):
        return 1.33 * np.bincount(lab, weights=work, minlength=n) + home

    w = np.zeros(n)
    step = 0.5 * scale
    best_w, best = w.copy(), np.inf
    for _ in range(80):
        load = estimate(np.argmin(d2 - w[:, None], axis=0))
        if load.max() < best:
            best_w, best = w.copy(), load.max()
        rel = (load.mean() - load) / max(load.mean(), 1e-9)
        if np.abs(rel).max() < 0.01:
            break
        w += step * rel
        step *= 0.93
    w = best_w

    def build(w):
        lab = np.argmin(d2 - w[:, None], axis=0)
        routes = []
        for j in range(n):
            mine = np.flatnonzero(lab == j)
            x = np.array([sub.DEP, *(2 * mine), sub.DEP], dtype=np.int64)
            routes.append(sub.euler(x) if len(mine) > 1 else x)
        return routes, np.array([sub.cost(x) for x in routes])

    routes, costs = build(w)
    best = (routes, costs, w)
    step = 0.3 * scale
    for _ in range(rounds):  # on the real route costs
        if core.timed_out() or costs.max() <= 1.02 * costs.mean():
            break
        trial = best[2] + step * (costs.mean() - costs) / max(costs.mean(), 1e-9)
        routes, costs = build(trial)
        if costs.max() < best[1].max():
            best = (routes, costs, trial)
            step *= 1.2
        else:
            costs = best[1]
            step *= 0.5
    return [_to_parent(x, tasks, core.DEP) for x in best[0]]


def street_points(core, pts: np.ndarray | None = None) -> np.ndarray | None:
    """Points along each street (T, m, 2), the middle one at ``m // 2``; by default its
    two ends and their midpoint (``None`` without coordinates)."""
    if pts is not None:
        return np.asarray(pts, dtype=float)
    if core.xy is None:
        return None
    T = core.T
    a, b = core.xy[core.S[0 : 2 * T : 2]], core.xy[core.E[0 : 2 * T : 2]]
    return np.stack([a, 0.5 * (a + b), b], axis=1)


def station_territory_routes(
    core, team_pos, *, seed: int = 0, pts: np.ndarray | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """One route per team inside its own territory, from its own station.

    Parameters
    ----------
    core : Core
        The full instance; ``team_pos`` are relevant-node indices of its matrix.
    team_pos : sequence of int
        Station of each team (teams may share one).
    seed : int
        Seed of the sector search.
    pts : ndarray, shape (T, m, 2), optional
        Points along each street's real geometry, its middle at ``m // 2`` (curved
        streets and loops); default: :func:`street_points`.

    Returns
    -------
    routes : list of ndarray
        Orientation sequences of ``core`` framed by ``core.DEP``; route ``j`` is to be
        walked from and to station ``team_pos[j]``.
    labels : ndarray of int, shape (T,)
        Territory (team) of each street.
    """
    k = len(team_pos)
    T = core.T
    rng = np.random.default_rng(seed)
    pts = street_points(core, pts)
    stations = sorted(set(int(p) for p in team_pos))
    teams_of = {p: [j for j in range(k) if int(team_pos[j]) == p] for p in stations}
    allowed = np.where(core.F[: 2 * T], np.inf, core.C[: 2 * T]).reshape(T, 2).min(axis=1)
    work = np.where(np.isfinite(allowed), allowed, 0.0)
    if len(stations) == 1:
        group = np.zeros(T, dtype=np.int64)
    elif core.xy is not None:
        mid = pts[:, pts.shape[1] // 2]
        share = np.array([len(teams_of[p]) for p in stations], dtype=float) / k
        group = _power_cells(mid, work, core.xy[stations], share)
    else:  # no coordinates: additively weighted network Voronoi around the stations
        seeds = np.array(stations, dtype=np.int64)
        dist = _task_distance(core, seeds)
        group = _assign(dist, np.zeros(len(seeds)))
    routes: list[np.ndarray] = [None] * k  # type: ignore[list-item]
    labels = np.empty(T, dtype=np.int64)
    for g, p in enumerate(stations):
        tasks = np.flatnonzero(group == g)
        teams = teams_of[p]
        for j, x in zip(teams, _group_routes(core, tasks, p, len(teams), rng, pts), strict=True):
            routes[j] = x
            labels[x[1:-1] // 2] = j
    return routes, labels


def territory_hulls_xy(pts: np.ndarray, labels: np.ndarray, k: int) -> list:
    """Convex hull of each territory's street points (``None``: no street)."""
    import shapely

    return [
        shapely.convex_hull(shapely.multipoints(pts[labels == j].reshape(-1, 2)))
        if (labels == j).any()
        else None
        for j in range(k)
    ]
