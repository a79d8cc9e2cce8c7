"""Construction and perturbation of the patrol search: giant tour, split, ruin and
recreate, merge-and-split.  Mixed into :class:`._search.Core`."""

from __future__ import annotations

import numpy as np


class _Construction:
    """Building routes from scratch and perturbing a solution."""

    # ------------------------------------------------------------ construction
    def giant_tour(self, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
        """Greedy nearest-edge giant tour through all tasks, from and to the depot."""
        T = self.T
        if T == 0:
            return self.empty()
        D, S, E, C, F = self.D, self.S[: 2 * T], self.E[: 2 * T], self.C[: 2 * T], self.F[: 2 * T]
        alive = ~F.copy()
        seq = []
        cur = 0
        for _ in range(T):
            d = D[cur, S] - 1e-6 * C  # ties: prefer longer edges
            if noise > 0:
                d = d * (1.0 + noise * rng.random(len(d)))
            d = np.where(alive, d, np.inf)
            o = int(np.argmin(d))
            seq.append(o)
            alive[o] = False
            alive[o ^ 1] = False
            cur = int(E[o])
        return np.array([self.DEP, *seq, self.DEP], dtype=np.int64)

    def split(self, giant: np.ndarray, k: int) -> list[np.ndarray]:
        """Optimal min-max split of a giant tour into at most k depot-to-depot pieces."""
        seq = giant[1:-1]
        m = len(seq)
        if m == 0:
            return [self.empty() for _ in range(k)]
        if m > self.split_exact_max:
            return self._split_bisect(giant, k)
        x = giant
        s, e, link, cum, *_ = self._prep(x)
        a = np.arange(1, m + 1)[:, None]  # first task position in x
        b = np.arange(1, m + 1)[None, :]  # last task position in x
        seg = self.D[0, s[a]] + (cum[b + 1] - cum[a] - link[a]) + self.D[e[b], 0]
        seg = np.where(b >= a, seg, np.inf)
        f = np.full(m + 1, np.inf)
        f[0] = 0.0
        choice = []
        for _ in range(k):
            # g[b] = min over a <= b of max(f[a-1], seg[a, b]); or keep f[b] (empty route)
            cand = np.maximum(f[:-1][:, None], seg)
            arg = np.argmin(cand, axis=0)
            g = np.empty(m + 1)
            g[0] = 0.0
            g[1:] = cand[arg, np.arange(m)]
            keep = f <= g
            g = np.where(keep, f, g)
            choice.append((arg, keep))
            f = g
        # backtrack
        routes = []
        bpos = m
        for arg, keep in reversed(choice):
            if bpos == 0 or keep[bpos]:
                routes.append(self.empty())
                continue
            apos = int(arg[bpos - 1]) + 1
            routes.append(np.concatenate([[self.DEP], seq[apos - 1 : bpos], [self.DEP]]))
            bpos = apos - 1
        routes.reverse()
        return routes

    #: giant tours longer than this are split by bisection (the exact split keeps an
    #: m x m matrix)
    split_exact_max = 1500

    def _split_bisect(self, giant: np.ndarray, k: int) -> list[np.ndarray]:
        """Min-max split of a long giant tour: bisection on the longest piece.

        For a bound ``L``, pieces are cut greedily, each as long as its round trip from
        the depot stays within ``L``; the smallest ``L`` needing at most ``k`` pieces is
        found by bisection.  O(m log m) per test, no m x m matrix; within the bisection
        tolerance of the exact split except where a piece's return trip is not monotone.
        """
        seq = giant[1:-1]
        m = len(seq)
        s, e, link, cum, *_ = self._prep(giant)
        go = self.D[0, s[1 : m + 1]]  # depot -> first task of a piece starting at a
        back = self.D[e[1 : m + 1], 0]  # last task of a piece ending at b -> depot
        body0 = cum[1 : m + 1] + link[1 : m + 1]  # cum[a] + link[a], a = 1..m
        body1 = cum[2 : m + 2]  # cum[b + 1], b = 1..m

        def cuts(L: float) -> list[int] | None:
            out, a = [], 0  # a, b: 0-based positions in seq
            while a < m:
                if len(out) == k:
                    return None
                base = go[a] - body0[a]
                hi = int(np.searchsorted(body1, L - base, side="right"))
                hi = min(max(hi, a + 1), m)
                segc = base + body1[a:hi] + back[a:hi]
                ok = np.flatnonzero(segc <= L)
                if len(ok) == 0:
                    return None
                b = a + int(ok[-1])
                out.append(b + 1)
                a = b + 1
            return out

        lo = float(np.max(go + (body1 - body0) + back))  # the costliest single task
        hi = float(self.cost(giant)) + 2.0 * float(np.max(go)) + 1.0
        best = cuts(hi) or [m]
        for _ in range(40):
            if hi - lo <= 1e-4 * max(1.0, hi):
                break
            mid = 0.5 * (lo + hi)
            got = cuts(mid)
            if got is None:
                lo = mid
            else:
                hi, best = mid, got
        routes, a = [], 0
        for b in best:
            routes.append(np.concatenate([[self.DEP], seq[a:b], [self.DEP]]))
            a = b
        routes += [self.empty() for _ in range(k - len(routes))]
        return routes

    # ------------------------------------------------------------ perturbation
    def ruin_recreate(
        self, routes: list[np.ndarray], costs: list[float], rng: np.random.Generator
    ) -> list[np.ndarray]:
        T = self.T
        D, S, E = self.D, self.S, self.E
        k = len(routes)
        owner = np.empty(T, dtype=np.int64)
        for r, x in enumerate(routes):
            owner[x[1:-1] // 2] = r
        longest = int(np.argmax(costs))
        if rng.random() < 0.6 and len(routes[longest]) > 2:
            t0 = int(rng.choice(routes[longest][1:-1]) // 2)
        else:
            t0 = int(rng.integers(T))
        qmax = max(3, min(40, int(self.ruin_share * T) + 2))
        q = int(rng.integers(2, qmax + 1)) if T > 2 else T
        u, v = S[2 * t0], E[2 * t0]
        allS, allE = S[0 : 2 * T : 2], E[0 : 2 * T : 2]
        dist = np.minimum.reduce(
            [D[u, allS], D[u, allE], D[v, allS], D[v, allE], D[allS, u], D[allE, v]]
        )
        dist = dist * (1.0 + 0.3 * rng.random(T))
        removed = np.argsort(dist, kind="stable")[:q]
        rm = np.zeros(2 * T + 2, dtype=bool)
        rm[2 * removed] = True
        rm[2 * removed + 1] = True
        new_routes = [x[~rm[x]] for x in routes]
        new_costs = [self.cost(x) for x in new_routes]
        order = removed.copy()
        rng.shuffle(order)
        balance = rng.random() < self.recreate_balance
        for t in order:
            o2 = np.array([2 * t, 2 * t + 1])
            best = None
            curmax = max(new_costs)
            noise = 1.0 + 0.2 * rng.random(k)
            for r in range(k):
                x = new_routes[r]
                ex = E[x[:-1]]
                sx = S[x[1:]]
                old = D[ex, sx]
                ins = (
                    D[ex[None, :], S[o2][:, None]]
                    + self.C[o2][:, None]
                    + D[E[o2][:, None], sx[None, :]]
                    - old[None, :]
                )
                ins[self.F[o2]] = np.inf
                a = int(np.argmin(ins))
                delta = float(ins.flat[a])
                newc = new_costs[r] + delta
                if balance:
                    score = (0, newc * noise[r])
                else:
                    score = (0, delta * noise[r]) if newc <= curmax else (1, newc * noise[r])
                if best is None or score < best[0]:
                    best = (score, r, a, delta)
            _, r, a, delta = best
            which, g = divmod(a, len(new_routes[r]) - 1)
            x = new_routes[r]
            new_routes[r] = np.concatenate([x[: g + 1], [o2[which]], x[g + 1 :]])
            new_costs[r] += delta
        return new_routes

    def merge_split(
        self, routes: list[np.ndarray], costs: list[float], rng: np.random.Generator
    ) -> list[np.ndarray]:
        """Merge the longest route with 1-2 others, re-tour the union, split it again."""
        k = len(routes)
        a = int(np.argmax(costs))
        others = [r for r in range(k) if r != a]
        if not others:
            return self.ruin_recreate(routes, costs, rng)
        m = 1 if k == 2 or rng.random() < 0.6 else 2
        # prefer routes close to the longest one (mean distance between their nodes)
        na = self.S[routes[a][1:-1]]
        if len(na) == 0:
            return self.ruin_recreate(routes, costs, rng)
        score = []
        for r in others:
            nr = self.S[routes[r][1:-1]]
            d = self.D[np.ix_(na, nr)].min() if len(nr) else 0.0
            score.append(d * (1.0 + rng.random()))
        pick = [others[i] for i in np.argsort(score, kind="stable")[:m]]
        group = [a, *pick]
        tasks = np.concatenate([routes[r][1:-1] for r in group])
        x = np.array([self.DEP, *tasks, self.DEP], dtype=np.int64)
        if self.symmetric:
            giant = self.euler(x, rng)
        else:
            giant = self.intra(x)
        parts = self.split(giant, len(group))
        out = list(routes)
        for r, part in zip(group, parts, strict=True):
            out[r] = part
        return out

    # ------------------------------------------------------------ territories
    def territories(self, k: int, rng: np.random.Generator) -> list[np.ndarray]:
        """One compact territory per route: sectors around the depot, balanced.

        Edges are ordered by the bearing of their midpoint from the depot, starting after
        the widest empty sector, and cut into ``k`` runs of equal work; each run becomes
        one route along an Euler tour of its edges (:meth:`euler`).  Then, until the
        deadline or no change helps, the longest route hands the edges at its border to
        its neighbour sector (the shorter one), as many as halve their difference, then
        fewer.  Sectors do not overlap, so routes of different teams do not interleave;
        every sector touches the depot.  Needs ``xy`` and symmetric costs.
        """
        T = self.T
        xy = self.xy
        mid = 0.5 * (xy[self.S[0 : 2 * T : 2]] + xy[self.E[0 : 2 * T : 2]]) - xy[0]
        ang = np.arctan2(mid[:, 1], mid[:, 0])
        order = np.argsort(ang, kind="stable")
        sa = ang[order]
        gaps = np.diff(np.concatenate([sa, [sa[0] + 2 * np.pi]]))
        order = np.roll(order, -(int(np.argmax(gaps)) + 1))  # start after the widest gap
        work = self.C[2 * order]
        cum = np.cumsum(work)
        cuts = [0]
        for j in range(1, k):
            cuts.append(int(np.searchsorted(cum, cum[-1] * j / k)))
        cuts.append(T)
        cuts = list(np.maximum.accumulate(cuts))

        def route(a: int, b: int) -> np.ndarray:
            x = np.array([self.DEP, *(2 * order[a:b]), self.DEP], dtype=np.int64)
            return self.euler(x) if b - a > 1 else self.intra(x)

        routes = [route(cuts[j], cuts[j + 1]) for j in range(k)]
        costs = [self.cost(x) for x in routes]
        step_share = {j: 0.5 for j in range(k)}
        while not self.timed_out():
            j = int(np.argmax(costs))
            nbs = [n for n in (j - 1, j + 1) if 0 <= n < k]
            if not nbs or step_share[j] < 0.01:
                break
            nb = min(nbs, key=lambda n: costs[n])
            size = cuts[j + 1] - cuts[j]
            gap = (costs[j] - costs[nb]) / max(costs[j], 1e-9)
            move = int(size * gap * step_share[j])
            if move < 1:
                step_share[j] = 0.0
                continue
            new = list(cuts)
            if nb == j + 1:
                new[j + 1] = cuts[j + 1] - move
            else:
                new[j] = cuts[j] + move
            lo, hi = min(j, nb), max(j, nb)
            ra, rb = route(new[lo], new[lo + 1]), route(new[hi], new[hi + 1])
            ca, cb = self.cost(ra), self.cost(rb)
            if max(ca, cb) < max(costs[lo], costs[hi]) - 1e-9:
                cuts = new
                routes[lo], routes[hi], costs[lo], costs[hi] = ra, rb, ca, cb
                step_share[lo] = step_share[hi] = 0.5
            else:
                step_share[j] *= 0.5
        return routes
