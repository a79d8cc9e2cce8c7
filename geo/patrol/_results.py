"""Search results turned into plans: street paths, sorties within a shift, rotations.

Mixed into :class:`.minmax.MinMaxRoutes` (uses its nodes, arcs, tasks and search core).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import dijkstra

from ..errors import InfeasiblePlanError, SchemaError
from ._cycle import EVERY_SHIFT_SHARE, best_orientation, cut_route, round_trips
from ._turns import fewest_turns
from .plan import Plan, Route


class _Results:
    """Plans from the search's orientation arrays."""

    #: re-order each expanded walk to turn back least (same arcs, same length)
    smooth_turns = True

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

    def cut_into_shifts(
        self,
        plan: Plan,
        *,
        shift: float | Sequence[float],
        every_shift: Sequence[Hashable] = (),
        every_shift_share: float = EVERY_SHIFT_SHARE,
    ) -> Plan:
        """The routes of ``plan`` cut into a cycle of depot-to-depot sorties, one a day.

        Each team's route is cut, in its order, into the fewest sorties that fit the
        shift (walk from and back to the depot, streets and dwells included); the team
        walks one a day, so its number of sorties is the days it needs to cover its
        streets (``Plan.days``).  The ``every_shift`` streets a team serves are added to
        each of its sorties; the others rotate, each walked once per cycle.

        Parameters
        ----------
        plan : Plan
            A plan returned by this solver.
        shift : float or sequence of float
            Longest sortie (cost unit), for all teams or per team.
        every_shift : sequence of hashable
            Required edge ids (priority streets: hot spots, camera blind spots), most
            important first, walked in every sortie of the team whose route serves them.
        every_shift_share : float
            Largest share of a shift those streets may take (their own tour from the
            depot); beyond it the least important rotate (``Plan.every_shift_rotated``).

        Returns
        -------
        Plan
            Same served streets, ``Route.sortie`` the day (0-based) of each team's
            sortie.  Streets that no sortie can reach and walk back from within a shift
            are in ``Plan.beyond_shift``, not served; the other sorties fit the shift.
        """
        if len(plan.sequences) != self.k:
            raise SchemaError("this plan was not made by this solver: solve() first")
        shifts = self._shift_list(shift)
        index = {t.eid: i for i, t in enumerate(self._tasks)}
        prio = [index[self.street_id(e)] for e in every_shift if self.street_id(e) in index]
        rt = round_trips(self._core)
        pieces, beyond, rotated = [], [], []
        for team, x in enumerate(plan.sequences):
            home = self._team_pos[team]
            if home != 0:
                # a team from its own station: greedy sorties from there (cut_route
                # assumes the solver's depot; priority streets are not repeated here yet)
                seq = np.asarray(x[1:-1], dtype=np.int64)
                parts = self._sorties(seq, shifts[team], home=home) if len(seq) else []
                pieces += [(team, j, part) for j, part in enumerate(parts)]
                continue
            cut = cut_route(
                self._core,
                np.asarray(x, dtype=np.int64),
                shifts[team],
                every_shift=prio,
                every_shift_share=every_shift_share,
                rt=rt,
            )
            pieces += [(team, j, s[1:-1]) for j, s in enumerate(cut.sorties)]
            beyond += cut.beyond
            rotated += cut.rotated
        out = self._plan(
            plan.sequences,
            seed=plan.seed,
            iterations=plan.iterations,
            seconds=plan.seconds,
            stopped_by=plan.stopped_by,
            shift=shift,
            split_sorties=True,
            pieces=pieces,
        )
        n_served = len({e for r in out.routes for e in r.served})
        return replace(
            out,
            beyond_shift=[self._tasks[t].eid for t in sorted(set(beyond))],
            every_shift_rotated=[self._tasks[t].eid for t in rotated],
            days=[sum(1 for r in out.routes if r.team == t) for t in range(self.k)],
            coverage=1.0 if not self._tasks else n_served / len(self._tasks),
        )

    def _shift_list(self, shift: float | Sequence[float] | None) -> list[float]:
        if shift is None:
            return [math.inf] * self.k
        if isinstance(shift, (int, float, np.floating, np.integer)):
            return [float(shift)] * self.k
        shifts = [float(s) for s in shift]
        if len(shifts) != self.k:
            raise SchemaError(f"shift has {len(shifts)} values for {self.k} teams")
        return shifts

    # ------------------------------------------------------------ results
    def _walk(
        self, seq: np.ndarray, paths: dict[int, np.ndarray], *, dep: int | None = None
    ) -> tuple[list, list, float, float, list]:
        """Expand an orientation sequence into node and edge lists.

        The expanded closed walk is then re-ordered into the Euler circuit of the same
        arcs that turns back least (:func:`._turns.fewest_turns`): same length, same
        served streets, fewer U-turns.
        """
        dep = self._dep if dep is None else dep
        arcs: list[tuple] = []  # (u, v, key, served street id or None), node indices
        cost = dead = 0.0

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
                arcs.append((x, y, key, None))
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
            arcs.append((a, b, key, (t.eid,)))
            cost += c + self._extra[o // 2]
            cur = b
        deadhead(cur, dep)
        if self.smooth_turns:
            arcs = fewest_turns(arcs, dep, xy=self._xy)
        nodes = self.nodes
        walk_nodes = [nodes[dep]] + [nodes[v] for _, v, _, _ in arcs]
        edges = [(nodes[u], nodes[v], key) for u, v, key, _ in arcs]
        served = [tag[0] for *_, tag in arcs if tag is not None]
        return walk_nodes, edges, cost, dead, served

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
        pieces: list[tuple[int, int, np.ndarray]] | None = None,
    ) -> Plan:
        shifts = self._shift_list(shift)
        seqs = [] if pieces is None else list(pieces)
        rt = None
        for team, x in enumerate(routes if pieces is None else ()):
            seq = np.asarray(x[1:-1], dtype=np.int64)
            home = self._team_pos[team]
            if split_sorties and home != 0 and self._team_cost(team, x) > shifts[team] + 1e-9:
                # a team from its own station: greedy sorties from there (the cycle's
                # cut below assumes the solver's depot)
                for j, part in enumerate(self._sorties(seq, shifts[team], home=home)):
                    seqs.append((team, j, part))
            elif split_sorties and self._core.cost(x) > shifts[team] + 1e-9:
                # the cycle's cut without priority streets; a street beyond the shift
                # is a sortie of its own here, flagged over_shift
                rt = round_trips(self._core) if rt is None else rt
                cut = cut_route(self._core, np.asarray(x, dtype=np.int64), shifts[team], rt=rt)
                parts = [s[1:-1] for s in cut.sorties]
                parts += [np.array([best_orientation(self._core, t)]) for t in cut.beyond]
                seqs += [(team, j, part) for j, part in enumerate(parts)]
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
            # (not in a cycle's sorties: their cut priced shortest paths, and must fit)
            own = getattr(self, "_team_paths", None) if pieces is None else None
            team_paths = own[team] if own is not None else paths
            nodes, edges, cost, dead, served = self._walk(seq, team_paths, dep=self._team_dep[team])
            flag = cost > shifts[team] * (1 + 1e-9) + 1e-6
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
