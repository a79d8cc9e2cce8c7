"""Intra-route moves of the patrol search: 2-opt, or-opt, Euler re-sequencing.

Mixed into :class:`._search.Core` (see there for the model: orientation arrays, ``D``,
``S``, ``E``, ``C``, ``F``).
"""

from __future__ import annotations

import numpy as np

from ..postman import euler_circuit, match_odd_nodes

_EPS = 1e-7


class _RouteMoves:
    """Moves that change one route."""

    #: routes longer than this (edges) skip the O(n^2)-per-move intra-route search
    intra_max = 700
    #: the same on large instances (Euler re-sequencing does most of the work there;
    #: granular inter-route moves need the time)
    large_intra_max = 250

    # ------------------------------------------------------------ intra route
    def intra(self, x: np.ndarray) -> np.ndarray:
        """Improve one route by 2-opt and or-opt (segments of 1-3 edges) to a local optimum."""
        key = x.tobytes()
        limit = self.large_intra_max if self.large else self.intra_max
        if key in self._intra_cache or len(x) > limit + 2:
            return x
        D = self.D
        while len(x) > 3 and not self.timed_out():
            n = len(x)
            s, e, link, cum, rx, rs, re, rlink, rcum, rbad = self._prep(x)
            total = cum[n]
            best = -_EPS * max(1.0, total)
            move = None
            # 2-opt: reverse x[i:j], 1 <= i < j <= n-1
            idx_i = np.arange(1, n - 1)[:, None]
            idx_j = np.arange(2, n)[None, :]
            new = (
                cum[idx_i]
                + D[e[idx_i - 1], rs[n - idx_j]]
                + (rcum[n - idx_i] - rcum[n - idx_j] - rlink[n - idx_j])
                + D[re[n - idx_i - 1], s[idx_j]]
                + (total - cum[idx_j] - link[idx_j])
            )
            ok = (idx_j > idx_i) & (rbad[n - idx_i] - rbad[n - idx_j] == 0)
            delta = np.where(ok, new - total, np.inf)
            a = int(np.argmin(delta))
            d = delta.flat[a]
            if d < best:
                best = d
                ii, jj = divmod(a, delta.shape[1])
                move = ("2opt", ii + 1, jj + 2)
            # or-opt: move x[i:i+l] (maybe reversed) to gap p (between x[p-1] and x[p])
            P = np.arange(1, n)[None, :]
            for ln in (1, 2, 3):
                if n - 1 - ln < 1:
                    break
                Ix = np.arange(1, n - ln)[:, None]
                remg = link[Ix] + link[Ix + ln] - D[e[Ix - 1], s[Ix + ln]]
                intf = cum[Ix + ln] - cum[Ix] - link[Ix]
                intr = rcum[n - Ix] - rcum[n - Ix - ln] - rlink[n - Ix - ln]
                badr = (rbad[n - Ix] - rbad[n - Ix - ln]) > 0
                fwd = D[e[P - 1], s[Ix]] + D[e[Ix + ln - 1], s[P]] - link[P]
                rev = (
                    D[e[P - 1], rs[n - Ix - ln]] + D[re[n - Ix - 1], s[P]] - link[P] + (intr - intf)
                )
                rev = np.where(badr, np.inf, rev)
                valid = (P < Ix) | (P > Ix + ln)
                dl = np.where(valid, np.minimum(fwd, rev) - remg, np.inf)
                a = int(np.argmin(dl))
                d = dl.flat[a]
                if d < best:
                    best = d
                    ii, pp = divmod(a, dl.shape[1])
                    move = ("or", ii + 1, ln, pp + 1, bool(rev.flat[a] < fwd.flat[a]))
            if move is None:
                break
            if move[0] == "2opt":
                _, i, j = move
                x = np.concatenate([x[:i], x[i:j][::-1] ^ 1, x[j:]])
            else:
                _, i, ln, p, reverse = move
                seg = x[i : i + ln]
                if reverse:
                    seg = seg[::-1] ^ 1
                rest = np.concatenate([x[:i], x[i + ln :]])
                q = p if p < i else p - ln
                x = np.concatenate([rest[:q], seg, rest[q:]])
        x = self._fix(x, self.DEP)
        self._intra_cache.add(x.tobytes())
        return x

    # ------------------------------------------------------------ Euler re-sequencing
    def _matching(self, odd: np.ndarray) -> list[tuple[int, int]]:
        """Min-cost perfect matching of odd nodes under D (:func:`..postman.match_odd_nodes`).

        Pair exchanges cost O(n^2) each: on large sets they are capped so that a
        re-sequencing stays within a fraction of a second per thousand odd nodes.
        """
        if len(odd) == 0:
            return []
        rounds = 50 if len(odd) <= 200 else 2 if len(odd) <= 600 else 0
        pairs = match_odd_nodes(self.D[np.ix_(odd, odd)], max_rounds=rounds)
        return [(int(odd[i]), int(odd[j])) for i, j in pairs]

    def euler(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Re-sequence a route through an Euler tour of its edges (undirected only).

        Connect the components of the served edges and the depot by a spanning tree of
        shortest paths, make degrees even by a min-cost matching (exact Chinese postman
        tour when the edges form one connected piece with the depot), walk an Euler
        circuit from the depot.  Returns the better of ``x`` and the new sequence.
        """
        key = x.tobytes()
        if not self.symmetric or len(x) <= 3:
            return x
        if rng is None and key in self._euler_cache:
            return self._euler_cache[key]
        tasks = x[1:-1] // 2
        graph = getattr(self, "_euler_graph", None)
        if graph is not None and graph[0] == key:
            # same edges as the last call: another circuit of the same multigraph (the
            # connection and the matching are the costly part)
            _, eu, ev = graph
        else:
            eu, ev = self._euler_multigraph(tasks)
            self._euler_graph = (key, eu, ev)
        m = len(tasks)
        circuit = euler_circuit(eu, ev, start=0, rng=rng)
        seq = [2 * int(tasks[i]) + o for i, o in circuit if i < m]
        y = np.array([self.DEP, *seq, self.DEP], dtype=np.int64)
        if len(seq) != m:
            return x
        y = self.intra(y)
        if rng is not None:
            return y
        out = y if self.cost(y) < self.cost(x) - 1e-9 else x
        self._euler_cache[out.tobytes()] = out
        self._euler_cache[key] = out
        return out

    def _euler_multigraph(self, tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End nodes of the edges of an Eulerian multigraph holding ``tasks`` and the
        depot: the tasks first, then shortest-path links (spanning tree, matching)."""
        u = self.S[2 * tasks]
        v = self.E[2 * tasks]
        nodes = np.unique(np.concatenate([[0], u, v]))
        loc = {int(a): i for i, a in enumerate(nodes)}
        parent = list(range(len(nodes)))

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for a, b in zip(u, v, strict=True):
            ra, rb = find(loc[int(a)]), find(loc[int(b)])
            if ra != rb:
                parent[ra] = rb
        comp = np.array([find(i) for i in range(len(nodes))])
        extra: list[tuple[int, int]] = []
        if len(set(comp.tolist())) > 1:
            M = self.D[np.ix_(nodes, nodes)]
            in_tree = comp == comp[0]
            dist = M[in_tree].min(axis=0)
            src = np.asarray(nodes[in_tree][np.argmin(M[in_tree], axis=0)])
            while not in_tree.all():
                cand = np.where(in_tree, np.inf, dist)
                j = int(np.argmin(cand))
                extra.append((int(src[j]), int(nodes[j])))
                new = comp == comp[j]
                in_tree |= new
                sub = M[new]
                nd = sub.min(axis=0)
                better = nd < dist
                dist = np.where(better, nd, dist)
                src = np.where(better, nodes[new][np.argmin(sub, axis=0)], src)
        ends = np.concatenate([u, v] + ([np.array(extra).ravel()] if extra else []))
        deg = np.bincount(ends, minlength=len(self.D))
        odd = np.flatnonzero(deg % 2)
        extra += self._matching(odd)
        # Euler circuit of the multigraph: edges 0..m-1 tasks, then deadhead links
        eu = np.concatenate([u, np.array([a for a, _ in extra], dtype=np.int64)])
        ev = np.concatenate([v, np.array([b for _, b in extra], dtype=np.int64)])
        return eu, ev
