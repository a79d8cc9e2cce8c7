"""Numeric core of the min-max k-rural-postman solver.

Pure numpy, no I/O, no graph objects: :mod:`gridpatrol.geo.patrol.minmax` turns a street
network into the arrays below and turns the resulting task sequences back into walks.

Model
-----
* ``D`` is the ``(r, r)`` shortest-path matrix among the *relevant* nodes (the depot is
  node 0, then every end point of a reachable required edge).  It is finite: every
  relevant node lies in the depot's strongly connected component.
* A required edge ("task") ``t`` has two orientations ``o = 2 t`` (u -> v) and
  ``o = 2 t + 1`` (v -> u); ``o ^ 1`` flips an orientation.  ``S[o]``/``E[o]`` are the
  start/end node, ``C[o]`` the service cost (edge cost plus any dwell) and ``F[o]`` is
  True when the orientation is forbidden (the reverse of a one-way street).
* Orientation ids ``DEP = 2 T`` and ``DEP + 1`` are a zero-cost pseudo task at the depot.
  A route is an int array ``[DEP, o_1, ..., o_m, DEP]``; its cost is
  ``sum C[o_i] + sum D[E[o_i], S[o_{i+1}]]`` (deadheads are shortest paths).

Search
------
Route-first / cluster-second start (greedy giant tour improved as one route and
re-sequenced along an Euler tour, then the optimal min-max split of that tour into k
pieces, Frederickson-Hecht-Kim style), then iterated local search:

* intra-route 2-opt and or-opt of 1-3 edges (each edge in its best direction), and
  re-sequencing of a route along an Euler tour of its edges (spanning tree of shortest
  paths between its pieces, min-cost matching of odd nodes; undirected networks only);
* inter-route relocation of an edge and 2-opt* (tail exchange, with and without
  reversal), evaluated for one route against all others at once and accepted when the
  pair of changed routes decreases in the leximax order (a descent of the sorted
  vector of route costs, hence never of the longest route);
* perturbation by ruin-and-recreate of edges around a random edge, or by merging the
  longest route with its neighbours and re-splitting the union optimally;
  record-to-record acceptance, restarts from a new giant tour or from the best plan.

Large instances (more than ``Core.large_at`` required edges, undirected): the giant tour
is an Euler tour of all edges at once (spanning tree of shortest paths between the
pieces, odd nodes matched by :func:`gridpatrol.geo.postman.match_odd_nodes`), split by
bisection on the longest piece (no m x m matrix); a few other circuits of the same
Euler multigraph are split too and the best split kept.  The local search alternates
granular inter-route moves (relocation and tail exchange, each street only next to its
``granular_k`` nearest streets on foot, and only from the streets at a route's border:
O(border x granular_k) per move instead of O(n^2)) with re-sequencing each route along
its own Euler tour; perturbations are unchanged.  Every loop checks the deadline.

The moves live in :mod:`._moves` (one route), :mod:`._inter` (two routes) and
:mod:`._build` (construction, perturbation); :class:`Core` mixes them in.

Every decision depends on the seed and iteration counts only, never on the clock, so a
run stopped by ``max_iterations`` or ``max_stall`` is reproducible.

Why by hand: no maintained library solves the min-max k-rural-postman problem.
OR-Tools, VROOM and PyVRP route *nodes* (vehicle routing), and ``postman_problems``
builds one Chinese/rural postman tour; transforming arcs to nodes triples the instance
and loses the "either direction" choice, so the arc-routing search is written here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ._build import _Construction
from ._inter import _InterMoves
from ._moves import _EPS, _RouteMoves


@dataclass
class SearchResult:
    """Best solution of one search run (routes as orientation arrays)."""

    routes: list[np.ndarray]
    costs: list[float]
    iterations: int
    stopped_by: str
    elite: list[list[np.ndarray]] = field(default_factory=list)


class Core(_RouteMoves, _InterMoves, _Construction):
    """Min-max k-rural-postman search on precomputed arrays.

    Parameters
    ----------
    D : ndarray, shape (r, r)
        Shortest-path costs among relevant nodes; node 0 is the depot.
    S, E : ndarray of int, shape (2 T,)
        Start and end node of each task orientation.
    C : ndarray of float, shape (2 T,)
        Service cost of each orientation (0 where forbidden).
    F : ndarray of bool, shape (2 T,)
        Forbidden orientations (reverse direction of one-way streets).
    xy : ndarray, shape (r, 2), optional
        Planar coordinates of the relevant nodes; large undirected instances then start
        from compact territories (:meth:`territories`).
    symmetric_paths : bool, optional
        Whether ``D`` is symmetric, when the caller knows (every arc has a reverse arc of
        the same cost); checked on ``D`` otherwise.
    """

    #: record-to-record threshold (relative to the run's best longest route); it shrinks
    #: to 0 as the run stalls
    accept_threshold = 0.01
    #: largest share of the edges removed by one ruin-and-recreate step
    ruin_share = 0.15
    #: iterations without improvement of the run before a restart (alternately from a new
    #: randomised giant tour and from the best plan)
    restart_after = 150
    #: share of perturbations that merge the longest route with neighbours and re-split
    merge_split_share = 0.2
    #: pair mode (``joint = False``): inter-route moves are tried only from routes within
    #: this share of the longest
    pair_focus = 1.0
    #: longest run of consecutive edges relocated between two routes in one move
    inter_max_seg = 1
    #: also try the tail exchange that reverses the exchanged parts
    tail_reversal = True
    #: evaluate moves from one route to all others at once (faster for many routes)
    joint = True
    #: share of recreate steps that insert each edge where the route stays shortest
    recreate_balance = 0.0
    #: instances with more required edges start from an Euler tour of all edges, split
    #: (the greedy giant tour's 2-opt costs O(n^2) per move)
    euler_start_at = 300
    #: instances with more required edges run the large-instance search (see ``large``)
    large_at = 1200
    #: large instances: inter-route moves on neighbour lists (granular search)
    granular = True
    #: Euler circuits of all edges split at the start (large instances); at most this
    #: share of the time limit on the extra ones
    construction_starts = 8
    construction_share = 0.1
    #: rounds of granular moves then re-sequencing in one large-instance local search
    granular_rounds = 4

    def __init__(
        self,
        D: np.ndarray,
        S: np.ndarray,
        E: np.ndarray,
        C: np.ndarray,
        F: np.ndarray,
        *,
        xy: np.ndarray | None = None,
        symmetric_paths: bool | None = None,
    ) -> None:
        self.T = len(S) // 2
        self.DEP = 2 * self.T
        self.D = np.ascontiguousarray(D, dtype=float)
        self.S = np.concatenate([np.asarray(S, dtype=np.int64), [0, 0]])
        self.E = np.concatenate([np.asarray(E, dtype=np.int64), [0, 0]])
        self.C = np.concatenate([np.where(F, 0.0, np.asarray(C, dtype=float)), [0.0, 0.0]])
        self.F = np.concatenate([np.asarray(F, dtype=bool), [False, False]])
        self.xy = None if xy is None else np.asarray(xy, dtype=float)
        self._intra_cache: set[bytes] = set()
        self._pair_cache: set[bytes] = set()
        self._euler_cache: dict[bytes, np.ndarray] = {}
        self._prep_cache: dict[bytes, tuple] = {}
        self._gap_cache: dict[bytes, tuple] = {}
        self.use_euler = True
        self.deadline = float("inf")
        T = self.T
        self.symmetric = bool(
            not self.F.any()
            and np.allclose(self.C[0 : 2 * T : 2], self.C[1 : 2 * T : 2])
            and (np.allclose(self.D, self.D.T) if symmetric_paths is None else symmetric_paths)
        )
        #: large instances: quadratic moves (intra-route 2-opt/or-opt on long routes, the
        #: joint inter-route evaluation) are replaced by Euler re-sequencing and
        #: merge-and-split of neighbouring routes, whose cost grows ~linearly
        self.large = T > self.large_at

    # ------------------------------------------------------------------ basics
    def empty(self) -> np.ndarray:
        return np.array([self.DEP, self.DEP], dtype=np.int64)

    def cost(self, x: np.ndarray) -> float:
        if len(x) <= 2:
            return 0.0
        return float(self.C[x].sum() + self.D[self.E[x[:-1]], self.S[x[1:]]].sum())

    def _prep(self, x: np.ndarray):
        """Per-route arrays: start/end nodes, links, cumulated cost; same for reverse."""
        key = x.tobytes()
        got = self._prep_cache.get(key)
        if got is not None:
            return got
        if len(self._prep_cache) > 4000:
            self._prep_cache.clear()
        got = self._prep_cache[key] = self._prep_raw(x)
        return got

    def _prep_raw(self, x: np.ndarray):
        S, E, C, D = self.S, self.E, self.C, self.D
        n = len(x)
        s = S[x]
        e = E[x]
        link = np.zeros(n)
        link[1:] = D[e[:-1], s[1:]]
        cum = np.zeros(n + 1)
        np.cumsum(link + C[x], out=cum[1:])
        rx = x[::-1] ^ 1
        rs = S[rx]
        re = E[rx]
        rlink = np.zeros(n)
        rlink[1:] = D[re[:-1], rs[1:]]
        rcum = np.zeros(n + 1)
        np.cumsum(rlink + C[rx], out=rcum[1:])
        rbad = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(self.F[rx], out=rbad[1:])
        return s, e, link, cum, rx, rs, re, rlink, rcum, rbad

    @staticmethod
    def _fix(x: np.ndarray, dep: int) -> np.ndarray:
        x = np.array(x, dtype=np.int64)
        x[0] = dep
        x[-1] = dep
        return x

    def timed_out(self) -> bool:
        return time.perf_counter() > self.deadline

    def local_search(self, routes: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
        """Descend to a local optimum of the leximax order of route costs."""
        if self.large:
            return self._large_local_search(routes)
        routes = [self.intra(self._fix(x, self.DEP)) for x in routes]
        costs = [self.cost(x) for x in routes]
        k = len(routes)
        while not self.timed_out():
            moved = False
            order = sorted(range(k), key=lambda r: -costs[r])
            if self.joint and k > 1:
                byt = [x.tobytes() for x in routes]
                for a in order:
                    partners = [
                        b
                        for b in range(k)
                        if b != a
                        and (len(routes[a]) > 2 or len(routes[b]) > 2)
                        and byt[a] + b"|" + byt[b] not in self._pair_cache
                    ]
                    if not partners:
                        continue
                    res = self._best_from(a, routes, costs, partners)
                    if res is None:
                        for b in partners:
                            self._pair_cache.add(byt[a] + b"|" + byt[b])
                            self._pair_cache.add(byt[b] + b"|" + byt[a])
                        continue
                    b = res[0]
                    na_, nb_ = (self.intra(self._fix(x, self.DEP)) for x in res[1:])
                    ca_, cb_ = self.cost(na_), self.cost(nb_)
                    if (max(ca_, cb_), min(ca_, cb_)) >= (
                        max(costs[a], costs[b]),
                        min(costs[a], costs[b]),
                    ):
                        self._pair_cache.add(byt[a] + b"|" + byt[b])
                        self._pair_cache.add(byt[b] + b"|" + byt[a])
                        continue
                    routes[a], routes[b] = na_, nb_
                    costs[a], costs[b] = ca_, cb_
                    moved = True
                    break
                order = []
            focus = costs[order[0]] * (1.0 - self.pair_focus) if order else 0.0
            for ai in range(len(order)):
                if moved or costs[order[ai]] < focus:
                    break
                for bi in range(ai + 1, k):
                    a, b = order[ai], order[bi]
                    if len(routes[a]) <= 2 and len(routes[b]) <= 2:
                        continue
                    key = routes[a].tobytes() + b"|" + routes[b].tobytes()
                    if key in self._pair_cache:
                        continue
                    res = self._best_inter(routes[a], costs[a], routes[b], costs[b])
                    if res is None:
                        self._pair_cache.add(key)
                        self._pair_cache.add(routes[b].tobytes() + b"|" + routes[a].tobytes())
                        continue
                    na_, nb_ = (self.intra(self._fix(x, self.DEP)) for x in res)
                    ca_, cb_ = self.cost(na_), self.cost(nb_)
                    if (max(ca_, cb_), min(ca_, cb_)) >= (
                        max(costs[a], costs[b]),
                        min(costs[a], costs[b]),
                    ):
                        # numerical disagreement: do not loop on it
                        self._pair_cache.add(key)
                        continue
                    routes[a], routes[b] = na_, nb_
                    costs[a], costs[b] = ca_, cb_
                    moved = True
                    break
                if moved:
                    break
            if not moved and self.use_euler:
                for r in sorted(range(k), key=lambda r: -costs[r]):
                    y = self.euler(routes[r])
                    if y is not routes[r]:
                        cy = self.cost(y)
                        if cy < costs[r] - 1e-9:
                            routes[r], costs[r] = y, cy
                            moved = True
                            break
            if not moved:
                break
        if len(self._euler_cache) > 50_000:
            self._euler_cache.clear()
        if len(self._pair_cache) > 50_000:
            self._pair_cache.clear()
        if len(self._intra_cache) > 50_000:
            self._intra_cache.clear()
        return routes, costs

    def _large_local_search(self, routes: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
        """Large instances: each route re-sequenced along an Euler tour (or 2-opt/or-opt
        when short), longest first, until the deadline."""
        routes = [self._fix(x, self.DEP) for x in routes]
        costs = [self.cost(x) for x in routes]
        for _ in range(self.granular_rounds if self.granular and len(routes) > 1 else 1):
            if len(routes) > 1 and self.granular:
                routes, costs = self._granular_descent(routes, costs)
            changed = False
            for r in sorted(range(len(routes)), key=lambda r: -costs[r]):
                if self.timed_out():
                    break
                y = self.euler(routes[r]) if self.symmetric else routes[r]
                y = self.intra(y)
                cy = self.cost(y)
                if cy < costs[r] - 1e-9:
                    routes[r], costs[r] = y, cy
                    changed = True
            if not changed or self.timed_out():
                break
        return routes, costs

    def _granular_descent(
        self, routes: list[np.ndarray], costs: list[float]
    ) -> tuple[list[np.ndarray], list[float]]:
        """Inter-route moves restricted to neighbour lists (:meth:`_granular_from`),
        longest route first, until no route has an improving move or the deadline."""
        stuck: set[int] = set()
        k = len(routes)
        while not self.timed_out():
            moved = False
            for a in sorted(range(k), key=lambda r: -costs[r]):
                if a in stuck or self.timed_out():
                    continue
                res = self._granular_from(a, routes, costs)
                if res is None:
                    stuck.add(a)
                    continue
                b, xa, xb = res
                xa, xb = self._fix(xa, self.DEP), self._fix(xb, self.DEP)
                ca, cb = self.cost(xa), self.cost(xb)
                hi, lo = max(costs[a], costs[b]), min(costs[a], costs[b])
                tol = _EPS * max(1.0, hi)
                if not (
                    max(ca, cb) < hi - tol or (max(ca, cb) <= hi + tol and min(ca, cb) < lo - tol)
                ):
                    stuck.add(a)  # numerical disagreement: do not loop on it
                    continue
                routes[a], routes[b], costs[a], costs[b] = xa, xb, ca, cb
                stuck.discard(a)
                stuck.discard(b)
                moved = True
                break
            if not moved:
                break
        return routes, costs

    # ------------------------------------------------------------ driver
    def run(
        self,
        k: int,
        *,
        seed: int,
        time_limit: float,
        max_iterations: int | None,
        max_stall: int | None,
        lower_bound: float = 0.0,
        elite_tolerance: float | None = None,
        initial: list[np.ndarray] | None = None,
    ) -> SearchResult:
        """Iterated local search; returns the best solution found."""
        t0 = time.perf_counter()
        self.deadline = t0 + time_limit
        rng = np.random.default_rng(seed)

        def key_of(c):
            return (round(max(c), 9), round(sum(c), 9))

        if self.T == 0:
            return SearchResult([self.empty() for _ in range(k)], [0.0] * k, 0, "empty")
        if initial is None and self.symmetric and self.T > self.euler_start_at:
            # O(T log T) apart from the matching: an Euler tour of every edge at once
            x = np.array([self.DEP, *range(0, 2 * self.T, 2), self.DEP], dtype=np.int64)
            t_giant = time.perf_counter()
            routes = self.split(self.euler(x, rng if seed else None), k)
            t_giant = time.perf_counter() - t_giant
            # other circuits of the same Euler multigraph split differently (the split's
            # longest piece varies by several per cent): keep the best of a few
            t_more = time.perf_counter()
            for _ in range(self.construction_starts - 1):
                if time.perf_counter() - t_more > self.construction_share * time_limit:
                    break
                other = self.split(self.euler(x, rng), k)
                if key_of(list(map(self.cost, other))) < key_of(list(map(self.cost, routes))):
                    routes = other
            # sectors cost about one more Euler tour of everything, then balancing
            room = self.deadline - time.perf_counter() > 2.0 * t_giant
            if self.large and self.xy is not None and k > 1 and room:
                # compact sectors around the depot, when the street network allows them
                sectors = self.territories(k, rng)
                if max(map(self.cost, sectors)) <= max(map(self.cost, routes)) * 1.02:
                    routes = sectors
        elif initial is None:
            giant = self.intra(self.giant_tour(rng, noise=0.0 if seed == 0 else 0.3))
            giant = self.euler(giant)
            routes = self.split(giant, k)
        else:
            routes = [self._fix(x, self.DEP) for x in initial]
        routes, costs = self.local_search(routes)
        cur_r, cur_c = routes, costs
        best_r, best_c = list(routes), list(costs)

        def key(c):
            return (round(max(c), 9), round(sum(c), 9))

        elite: dict[bytes, tuple[float, list[np.ndarray]]] = {}

        def remember(r, c):
            if elite_tolerance is None:
                return
            if max(c) <= max(best_c) * (1 + elite_tolerance) + _EPS:
                sig = b"#".join(sorted(x.tobytes() for x in r))
                if sig not in elite:
                    elite[sig] = (max(c), list(r))
                if len(elite) > 400:
                    lim = max(best_c) * (1 + elite_tolerance) + _EPS
                    for s_ in [s_ for s_, v in elite.items() if v[0] > lim]:
                        del elite[s_]

        remember(best_r, best_c)
        it = 0
        stall = 0
        run_c = list(cur_c)
        run_stall = 0
        n_restart = 0
        stopped = "time"
        while True:
            if max(best_c) <= lower_bound + _EPS:
                stopped = "lower_bound"
                break
            if max_iterations is not None and it >= max_iterations:
                stopped = "iterations"
                break
            if max_stall is not None and stall >= max_stall:
                stopped = "stall"
                break
            if self.timed_out():
                stopped = "time"
                break
            it += 1
            if rng.random() < self.merge_split_share:
                cand = self.merge_split(cur_r, cur_c, rng)
            else:
                cand = self.ruin_recreate(cur_r, cur_c, rng)
            cand_r, cand_c = self.local_search(cand)
            remember(cand_r, cand_c)
            if key(cand_c) < key(best_c):
                best_r, best_c = list(cand_r), list(cand_c)
                stall = 0
            else:
                stall += 1
            if key(cand_c) < key(run_c):
                run_c = list(cand_c)
                run_stall = 0
            else:
                run_stall += 1
            # record-to-record acceptance, threshold shrinking with the stall of this run
            thr = self.accept_threshold * max(0.0, 1.0 - run_stall / self.restart_after)
            if key(cand_c) <= key(cur_c) or max(cand_c) <= max(run_c) * (1 + thr):
                cur_r, cur_c = cand_r, cand_c
            if run_stall >= self.restart_after:
                # diversify: new randomised giant tour, split, local search
                n_restart += 1
                if n_restart % 2 == 1:
                    giant = self.euler(self.intra(self.giant_tour(rng, noise=0.5)))
                    cur_r, cur_c = self.local_search(self.split(giant, k))
                else:
                    cur_r, cur_c = list(best_r), list(best_c)
                run_c = list(cur_c)
                run_stall = 0
                remember(cur_r, cur_c)
                if key(cur_c) < key(best_c):
                    best_r, best_c = list(cur_r), list(cur_c)
                    stall = 0
        elite_list = []
        if elite_tolerance is not None:
            lim = max(best_c) * (1 + elite_tolerance) + _EPS
            elite_list = [v[1] for v in sorted(elite.values(), key=lambda v: v[0]) if v[0] <= lim]
        return SearchResult(best_r, best_c, it, stopped, elite_list)
