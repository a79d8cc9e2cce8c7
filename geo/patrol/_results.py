"""Search results turned into plans: street paths, sorties within a shift, rotations.

Mixed into :class:`.minmax.MinMaxRoutes` (uses its nodes, arcs, tasks and search core).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import dijkstra

from ..errors import InfeasiblePlanError, SchemaError
from .plan import Plan, Route


class _Results:
    """Plans from the search's orientation arrays."""

    def rotations(
        self,
        n: int,
        *,
        seed: int = 0,
        time_limit: float = 10.0,
        tolerance: float = 0.05,
        max_iterations: int | None = None,
        max_stall: int | None = 2000,
        shift: float | Sequence[float] | None = None,
        split_sorties: bool = False,
        territories: bool = False,
    ) -> list[Plan]:
        """Several different plans whose longest routes are within ``tolerance``.

        The search keeps the distinct good solutions it meets; the best is returned first,
        then the most different ones (share of edges changing team) among those whose
        longest route is at most ``(1 + tolerance)`` times the best.  Team numbers are
        re-assigned so that a team serves as few of yesterday's edges as possible.

        Parameters
        ----------
        n : int
            Number of plans wanted (>= 1).
        seed, time_limit, max_iterations, max_stall, shift, split_sorties
            As in :meth:`solve`; ``time_limit`` is for all plans together.  When fewer
            than ``n`` distinct plans are found by then (a loaded machine, a large
            area), up to ``2 n`` more perturbations with a complete local search are
            tried, so the call may run over the limit.
        tolerance : float
            Allowed relative excess of a plan's longest route over the best one.
        territories : bool
            As in :meth:`solve`: each team keeps its territory every day; the plans
            differ in the order and direction each team walks it (every other day the
            reverse, on undirected networks).

        Returns
        -------
        list of Plan
            ``n`` plans, fewer only if the instance has fewer distinct solutions within
            the tolerance than asked (e.g. a single required edge).
        """
        if n < 1:
            raise InfeasiblePlanError(f"n must be at least 1, got {n}")
        self._check_territories(territories)
        if territories:
            return self._territory_rotations(
                n, seed=seed, time_limit=time_limit, shift=shift, split_sorties=split_sorties
            )
        self._team_paths = None
        t0 = time.perf_counter()
        core = self._core
        res = core.run(
            self.k,
            seed=seed,
            time_limit=0.6 * self._search_limit(time_limit),
            max_iterations=max_iterations,
            max_stall=max_stall,
            lower_bound=-1.0,
            elite_tolerance=tolerance,
        )
        best = max(res.costs)
        pool = [r for r in res.elite]
        rng = np.random.default_rng(seed + 7919)
        # look for 4n candidates until SEARCH_SHARE of the limit; while fewer than n are
        # distinct (a loaded machine), go on until the limit itself
        soft = t0 + self._search_limit(time_limit)
        hard = t0 + time_limit - self._expand_seconds
        distinct = {b"#".join(sorted(x.tobytes() for x in r)) for r in [res.routes, *pool]}
        tries = 0
        while len(pool) < 4 * n and tries < 50 * n:
            now = time.perf_counter()
            if now >= hard or (now >= soft and len(distinct) >= n):
                break
            tries += 1
            core.deadline = hard
            cand = core.ruin_recreate(res.routes, res.costs, rng)
            cr, cc = core.local_search(cand)
            if max(cc) <= best * (1 + tolerance) + 1e-9:
                pool.append(cr)
                distinct.add(b"#".join(sorted(x.tobytes() for x in cr)))
        extra = 0
        while len(distinct) < n and extra < 2 * n:
            extra += 1
            core.deadline = time.perf_counter() + max(1.0, time_limit)  # a full descent
            cr, cc = core.local_search(core.ruin_recreate(res.routes, res.costs, rng))
            if max(cc) <= best * (1 + tolerance) + 1e-9:
                pool.append(cr)
                distinct.add(b"#".join(sorted(x.tobytes() for x in cr)))
        # a candidate found after the search may beat its best (a search cut short on a
        # busy machine): the best of all comes first, the others within tolerance of it
        sols = [res.routes] + pool
        longest = [max(core.cost(x) for x in r) if r else 0.0 for r in sols]
        top = min(longest)
        order = sorted(range(len(sols)), key=lambda i: longest[i])
        sols = [sols[i] for i in order if longest[i] <= top * (1 + tolerance) + 1e-9]
        sigs, uniq = set(), []
        for r in sols:
            sig = b"#".join(sorted(x.tobytes() for x in r))
            if sig not in sigs:
                sigs.add(sig)
                uniq.append(r)
        T = core.T
        labels = []
        for r in uniq:
            lab = np.empty(T, dtype=np.int64)
            for j, x in enumerate(r):
                lab[x[1:-1] // 2] = j
            labels.append(lab)

        def distance(a: int, b: int) -> float:
            if T == 0:
                return 0.0
            ov = np.zeros((self.k, self.k))
            np.add.at(ov, (labels[a], labels[b]), 1)
            i, j = linear_sum_assignment(-ov)
            return 1.0 - ov[i, j].sum() / T

        chosen = [0]
        while len(chosen) < min(n, len(uniq)):
            scores = [
                (min(distance(c, j) for c in chosen), -j)
                for j in range(len(uniq))
                if j not in chosen
            ]
            _, negj = max(scores)
            chosen.append(-negj)
        plans = []
        prev = None
        for c in chosen:
            routes = list(uniq[c])
            if prev is not None and T:
                ov = np.zeros((self.k, self.k))
                np.add.at(ov, (labels[prev], labels[c]), 1)
                i, j = linear_sum_assignment(ov)  # minimise overlap: team i takes route j
                perm = [0] * self.k
                for a, b in zip(i, j, strict=True):
                    perm[a] = b
                routes = [routes[perm[a]] for a in range(self.k)]
                labels[c] = np.argsort(perm)[labels[c]]
            prev = c
            plans.append(
                self._plan(
                    routes,
                    seed=seed,
                    iterations=res.iterations,
                    seconds=time.perf_counter() - t0,
                    stopped_by=res.stopped_by,
                    shift=shift,
                    split_sorties=split_sorties,
                )
            )
        return plans

    def _territory_rotations(
        self, n: int, *, seed: int, time_limit: float, shift, split_sorties: bool
    ) -> list[Plan]:
        """``n`` plans on the same territories: day ``d`` from seed ``seed + d``, and
        walked backwards on odd days when the network allows it (a team is not seen at
        the same corner at the same hour every day)."""
        t0 = time.perf_counter()
        plans = []
        for day in range(n):
            left = time_limit - (time.perf_counter() - t0)
            res = self._territory_search(
                seed=seed + day, time_limit=self._search_limit(max(left, 0.1) / (n - day))
            )
            routes = res.routes
            if day % 2 == 1 and self._core.symmetric:
                routes = [np.concatenate([x[:1], x[-2:0:-1] ^ 1, x[-1:]]) for x in routes]
            plans.append(
                self._plan(
                    routes,
                    seed=seed + day,
                    iterations=res.iterations,
                    seconds=time.perf_counter() - t0,
                    stopped_by=res.stopped_by,
                    shift=shift,
                    split_sorties=split_sorties,
                )
            )
        return plans

    def cut_into_shifts(self, plan: Plan, *, shift: float | Sequence[float]) -> Plan:
        """The routes of ``plan`` cut into depot-to-depot sorties of at most ``shift``.

        Each team walks its sorties on successive days (one shift a day), so the number
        of a team's sorties is the days it needs to cover its streets.  A sortie still
        longer than ``shift`` (one far street) is flagged ``over_shift``.

        Parameters
        ----------
        plan : Plan
            A plan returned by this solver.
        shift : float or sequence of float
            Longest sortie (cost unit), for all teams or per team.

        Returns
        -------
        Plan
            Same served streets, ``Route.sortie`` numbering each team's sorties.
        """
        if len(plan.sequences) != self.k:
            raise SchemaError("this plan was not made by this solver: solve() first")
        return self._plan(
            plan.sequences,
            seed=plan.seed,
            iterations=plan.iterations,
            seconds=plan.seconds,
            stopped_by=plan.stopped_by,
            shift=shift,
            split_sorties=True,
        )

    # ------------------------------------------------------------ results
    def _walk(
        self, seq: np.ndarray, paths: dict[int, np.ndarray], *, dep: int | None = None
    ) -> tuple[list, list, float, float, list]:
        """Expand an orientation sequence into node and edge lists (from node ``dep``)."""
        nodes = self.nodes
        dep = self._dep if dep is None else dep
        walk_nodes = [dep]
        edges: list[tuple] = []
        cost = dead = 0.0
        served = []

        def deadhead(a: int, b: int) -> None:
            nonlocal cost, dead
            if a == b:
                return
            pred = paths[a]
            path = [b]
            while path[-1] != a:
                p = int(pred[path[-1]])
                if p < 0:
                    raise InfeasiblePlanError("internal error: broken shortest path")
                path.append(p)
            path.reverse()
            for x, y in zip(path[:-1], path[1:], strict=True):
                c, key = self._arc[(x, y)]
                edges.append((nodes[x], nodes[y], key))
                walk_nodes.append(y)
                cost += c
                dead += c

        cur = dep
        for o in seq:
            t = self._tasks[o // 2]
            if o % 2 == 0:
                a, b, c, key = t.u, t.v, t.cost_uv, t.key_uv
            else:
                a, b, c, key = t.v, t.u, t.cost_vu, t.key_vu
            deadhead(cur, a)
            edges.append((nodes[a], nodes[b], key))
            walk_nodes.append(b)
            cost += c + self._extra[o // 2]
            served.append(t.eid)
            cur = b
        deadhead(cur, dep)
        return [nodes[i] for i in walk_nodes], edges, cost, dead, served

    def _sorties(self, seq: np.ndarray, limit: float, *, home: int = 0) -> list[np.ndarray]:
        """Greedy split of a route into sorties of cost <= limit from relevant node
        ``home`` (the team's station) and back (linear)."""
        core = self._core
        D, S, E, C = core.D, core.S, core.E, core.C
        out, cur, run = [], [], 0.0  # run: cost from the depot to the end of cur
        for o in seq:
            o = int(o)
            if cur:
                ext = run + D[E[cur[-1]], S[o]] + C[o]
                if ext + D[E[o], home] > limit + 1e-9:
                    out.append(np.array(cur, dtype=np.int64))
                    cur, run = [], 0.0
                else:
                    cur.append(o)
                    run = ext
                    continue
            cur.append(o)
            run = D[home, S[o]] + C[o]
        if cur:
            out.append(np.array(cur, dtype=np.int64))
        return out

    def _plan(
        self,
        routes: list[np.ndarray],
        *,
        seed: int,
        iterations: int,
        seconds: float,
        stopped_by: str,
        shift: float | Sequence[float] | None,
        split_sorties: bool,
    ) -> Plan:
        if shift is None:
            shifts = [math.inf] * self.k
        elif isinstance(shift, (int, float, np.floating, np.integer)):
            shifts = [float(shift)] * self.k
        else:
            shifts = [float(s) for s in shift]
            if len(shifts) != self.k:
                raise SchemaError(f"shift has {len(shifts)} values for {self.k} teams")
        seqs = []
        for team, x in enumerate(routes):
            seq = np.asarray(x[1:-1], dtype=np.int64)
            if split_sorties and self._team_cost(team, x) > shifts[team] + 1e-9:
                home = self._team_pos[team]
                for j, part in enumerate(self._sorties(seq, shifts[team], home=home)):
                    seqs.append((team, j, part))
            else:
                seqs.append((team, 0, seq))
        sources = {self._dep, *self._team_dep}
        for _, _, seq in seqs:
            for o in seq:
                t = self._tasks[o // 2]
                sources.add(t.v if o % 2 == 0 else t.u)
        src = np.array(sorted(sources), dtype=np.int64)
        paths: dict[int, np.ndarray] = {n: self._pred[n] for n in src if n in self._pred}
        src = np.array([n for n in src if n not in paths], dtype=np.int64)
        for lo in range(0, len(src), 256):
            _, pred = dijkstra(
                self._csr, directed=True, indices=src[lo : lo + 256], return_predecessors=True
            )
            for i, s in enumerate(src[lo : lo + 256]):
                paths[int(s)] = pred[i]
        out = []
        over = set()
        for team, j, seq in seqs:
            # territory plans: each team deadheads on its own paths (around other
            # teams' territories), when the solver kept them
            own = getattr(self, "_team_paths", None)
            team_paths = own[team] if own is not None else paths
            nodes, edges, cost, dead, served = self._walk(seq, team_paths, dep=self._team_dep[team])
            flag = cost > shifts[team] + 1e-9
            if flag:
                over.add(team)
            out.append(
                Route(
                    team=team,
                    nodes=nodes,
                    edges=edges,
                    cost=cost,
                    deadhead_cost=dead,
                    served=served,
                    sortie=j,
                    over_shift=flag,
                )
            )
        costs = [r.cost for r in out] or [0.0]
        n_served = len({e for r in out for e in r.served})
        return Plan(
            routes=out,
            longest=max(costs),
            shortest=min(costs),
            total_cost=float(sum(costs)),
            total_deadhead=float(sum(r.deadhead_cost for r in out)),
            unreachable=list(self.unreachable),
            coverage=1.0 if not self._tasks else n_served / len(self._tasks),
            lower_bound=self.lower_bound,
            over_shift=sorted(over),
            seed=seed,
            iterations=iterations,
            seconds=seconds,
            stopped_by=stopped_by,
            sequences=list(routes),
        )
