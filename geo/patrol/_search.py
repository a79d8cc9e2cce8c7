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

from ..postman import match_odd_nodes

_EPS = 1e-7


@dataclass
class SearchResult:
    """Best solution of one search run (routes as orientation arrays)."""

    routes: list[np.ndarray]
    costs: list[float]
    iterations: int
    stopped_by: str
    elite: list[list[np.ndarray]] = field(default_factory=list)


class Core:
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
    #: routes longer than this (edges) skip the O(n^2)-per-move intra-route search
    intra_max = 700
    #: instances with more required edges run the large-instance search (see ``large``)
    large_at = 1200

    def __init__(
        self, D: np.ndarray, S: np.ndarray, E: np.ndarray, C: np.ndarray, F: np.ndarray
    ) -> None:
        self.T = len(S) // 2
        self.DEP = 2 * self.T
        self.D = np.ascontiguousarray(D, dtype=float)
        self.S = np.concatenate([np.asarray(S, dtype=np.int64), [0, 0]])
        self.E = np.concatenate([np.asarray(E, dtype=np.int64), [0, 0]])
        self.C = np.concatenate([np.where(F, 0.0, np.asarray(C, dtype=float)), [0.0, 0.0]])
        self.F = np.concatenate([np.asarray(F, dtype=bool), [False, False]])
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
            and np.allclose(self.D, self.D.T)
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

    # ------------------------------------------------------------ intra route
    def intra(self, x: np.ndarray) -> np.ndarray:
        """Improve one route by 2-opt and or-opt (segments of 1-3 edges) to a local optimum."""
        key = x.tobytes()
        if key in self._intra_cache or len(x) > self.intra_max + 2:
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
        # Hierholzer on the multigraph: edges 0..m-1 tasks, then deadhead links
        eu = np.concatenate([u, np.array([a for a, _ in extra], dtype=np.int64)])
        ev = np.concatenate([v, np.array([b for _, b in extra], dtype=np.int64)])
        m = len(tasks)
        adj: dict[int, list[int]] = {}
        for i in range(len(eu)):
            adj.setdefault(int(eu[i]), []).append(i)
            adj.setdefault(int(ev[i]), []).append(i)
        if rng is not None:
            for lst in adj.values():
                rng.shuffle(lst)
        used = np.zeros(len(eu), dtype=bool)
        stack = [(0, -1, 0)]  # (node, edge used to arrive, orientation)
        circuit = []
        while stack:
            node, _, _ = stack[-1]
            lst = adj.get(node, [])
            while lst and used[lst[-1]]:
                lst.pop()
            if lst:
                i = lst.pop()
                used[i] = True
                if int(eu[i]) == node:
                    stack.append((int(ev[i]), i, 0))
                else:
                    stack.append((int(eu[i]), i, 1))
            else:
                circuit.append(stack.pop())
        circuit.reverse()
        seq = [2 * int(tasks[i]) + o for _, i, o in circuit if 0 <= i < m]
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

    # ------------------------------------------------------------ inter route
    def _best_inter(self, xa, ca, xb, cb):
        """Best leximax-improving move between two routes, or None."""
        D = self.D
        na, nb = len(xa), len(xb)
        A = self._prep(xa)
        B = self._prep(xb)
        sa, ea, linka, cuma, rxa, rsa, rea, rlinka, rcuma, rbada = A
        sb, eb, linkb, cumb, rxb, rsb, reb, rlinkb, rcumb, rbadb = B
        best = [max(ca, cb), min(ca, cb)]
        best_move = None

        def consider(na_, nb_, tag, shape_extra):
            nonlocal best_move
            hi = np.maximum(na_, nb_)
            m = float(hi.min())
            tol = _EPS * max(1.0, best[0])
            if not np.isfinite(m) or m > best[0] + tol:
                return
            lo = np.where(hi <= m + _EPS * max(1.0, m), np.minimum(na_, nb_), np.inf)
            a = int(np.argmin(lo))
            lv = float(lo.flat[a])
            if m < best[0] - tol or lv < best[1] - _EPS * max(1.0, best[1]):
                best[0], best[1] = m, lv
                best_move = (tag, np.unravel_index(a, hi.shape), shape_extra)

        # relocation of x[i:i+l] from one route into the other
        for x1, c1, P1, x2, c2, P2, direction in (
            (xa, ca, A, xb, cb, B, 0),
            (xb, cb, B, xa, ca, A, 1),
        ):
            s1, e1, link1, cum1, rx1, rs1, re1, rlink1, rcum1, rbad1 = P1
            s2, e2, link2, cum2, rx2, rs2, re2, rlink2, rcum2, rbad2 = P2
            n1, n2 = len(x1), len(x2)
            G = np.arange(1, n2)[None, :]
            for ln in range(1, self.inter_max_seg + 1):
                if n1 - 1 - ln < 1:
                    break
                Ix = np.arange(1, n1 - ln)[:, None]
                remg = link1[Ix] + link1[Ix + ln] - D[e1[Ix - 1], s1[Ix + ln]]
                intf = cum1[Ix + ln] - cum1[Ix] - link1[Ix]
                intr = rcum1[n1 - Ix] - rcum1[n1 - Ix - ln] - rlink1[n1 - Ix - ln]
                badr = (rbad1[n1 - Ix] - rbad1[n1 - Ix - ln]) > 0
                new1 = c1 - remg - intf
                fwd = D[e2[G - 1], s1[Ix]] + intf + D[e1[Ix + ln - 1], s2[G]] - link2[G]
                rev = D[e2[G - 1], rs1[n1 - Ix - ln]] + intr + D[re1[n1 - Ix - 1], s2[G]] - link2[G]
                rev = np.where(badr, np.inf, rev)
                use_rev = rev < fwd
                new2 = c2 + np.minimum(fwd, rev)
                new1b = np.broadcast_to(new1, new2.shape)
                if direction == 0:
                    consider(new1b, new2, ("rel", 0, ln), use_rev)
                else:
                    consider(new2, new1b, ("rel", 1, ln), use_rev)
        # 2-opt*: exchange tails (head_a + tail_b, head_b + tail_a)
        Ix = np.arange(1, na)[:, None]
        J = np.arange(1, nb)[None, :]
        ta = cuma[na] - cuma[Ix] - linka[Ix]
        tb = cumb[nb] - cumb[J] - linkb[J]
        newa = cuma[Ix] + D[ea[Ix - 1], sb[J]] + tb
        newb = cumb[J] + D[eb[J - 1], sa[Ix]] + ta
        consider(newa, newb, ("2opts", 0, 0), None)
        # 2-opt* with reversal: head_a + reversed head_b, reversed tail_a + tail_b
        if not self.tail_reversal:
            return self._apply_inter(best_move, xa, xb, na, nb, rxa, rxb)
        rtb = rcumb[nb] - rcumb[nb - J] - rlinkb[nb - J]
        bad_b = (rbadb[nb] - rbadb[nb - J]) > 0
        newa = cuma[Ix] + D[ea[Ix - 1], rsb[nb - J]] + rtb
        newa = np.where(bad_b, np.inf, newa)
        newb = rcuma[na - Ix] + D[rea[na - Ix - 1], sb[J]] + tb
        newb = np.where(rbada[na - Ix] > 0, np.inf, newb)
        consider(newa, newb, ("2optr", 0, 0), None)

        return self._apply_inter(best_move, xa, xb, na, nb, rxa, rxb)

    @staticmethod
    def _apply_inter(best_move, xa, xb, na, nb, rxa, rxb):
        if best_move is None:
            return None
        (tag, src, ln), pos, extra = best_move
        if tag == "rel":
            x1, x2 = (xa, xb) if src == 0 else (xb, xa)
            i, g = int(pos[0]) + 1, int(pos[1]) + 1
            seg = x1[i : i + ln]
            if extra[pos]:
                seg = seg[::-1] ^ 1
            new1 = np.concatenate([x1[:i], x1[i + ln :]])
            new2 = np.concatenate([x2[:g], seg, x2[g:]])
            return (new1, new2) if src == 0 else (new2, new1)
        i, j = int(pos[0]) + 1, int(pos[1]) + 1
        if tag == "2opts":
            return (np.concatenate([xa[:i], xb[j:]]), np.concatenate([xb[:j], xa[i:]]))
        return (np.concatenate([xa[:i], rxb[nb - j :]]), np.concatenate([rxa[: na - i], xb[j:]]))

    # ------------------------------------------------------- joint inter route
    def _gaps(self, x: np.ndarray):
        """Per-route arrays for the joint evaluation (cut/gap j = 1..n-1, task i = 1..n-2)."""
        key = x.tobytes()
        got = self._gap_cache.get(key)
        if got is not None:
            return got
        s, e, link, cum, rx, rs, re, rlink, rcum, rbad = self._prep(x)
        n = len(x)
        j = np.arange(1, n)
        gaps = (
            e[j - 1],
            s[j],
            link[j],
            cum[j],
            cum[n] - cum[j] - link[j],
            rs[n - j],
            rcum[n] - rcum[n - j] - rlink[n - j],
            (rbad[n] - rbad[n - j]) > 0,
        )
        i = np.arange(1, n - 1)
        remg = link[i] + link[i + 1] - self.D[e[i - 1], s[i + 1]] + self.C[x[i]]
        segs = (x[i], remg)
        if len(self._gap_cache) > 4000:
            self._gap_cache.clear()
        got = self._gap_cache[key] = (gaps, segs)
        return got

    def _best_from(self, a: int, routes: list[np.ndarray], costs: list[float], others: list[int]):
        """Best leximax-improving move between route ``a`` and any other route.

        Same moves as :meth:`_best_inter` with single-edge relocation, evaluated for all
        partners at once.  Returns ``(b, new_a, new_b)`` or None.
        """
        D, S, E, C, F = self.D, self.S, self.E, self.C, self.F
        xa, ca = routes[a], costs[a]
        na = len(xa)
        sa, ea, linka, cuma, rxa, rsa, rea, rlinka, rcuma, rbada = self._prep(xa)
        gl, sl, gb, sb_ = [], [], [], []
        for b in others:
            g, sg = self._gaps(routes[b])
            gl.append(g)
            sl.append(sg)
            gb.append(np.full(len(g[0]), b))
            sb_.append(np.full(len(sg[0]), b))
        G = [np.concatenate([g[t] for g in gl]) for t in range(8)]
        g_eprev, g_s, g_link, g_head, g_tail, g_rs, g_rtail, g_rbad = G
        g_bid = np.concatenate(gb)
        g_j = np.concatenate([np.arange(1, len(g[0]) + 1) for g in gl])
        cost_arr = np.asarray(costs)
        g_cost = cost_arr[g_bid]
        best = [0.0, 0.0]
        tol = _EPS * max(1.0, ca)
        best_move = None

        def consider(new_a, new_b, old_other, tag, extra=None):
            nonlocal best_move
            old_hi = np.maximum(ca, old_other)
            old_lo = np.minimum(ca, old_other)
            hi = np.maximum(new_a, new_b)
            dh = hi - old_hi
            m = float(dh.min())
            if not np.isfinite(m) or m > best[0] + tol:
                return
            lo = np.minimum(new_a, new_b)
            dl = np.where(dh <= m + tol, lo - old_lo, np.inf)
            idx = int(np.argmin(dl))
            lv = float(dl.flat[idx])
            if m < -tol:
                cand = (m, lv)
            elif lv < -tol:
                cand = (0.0, lv)
            else:
                return
            if cand[0] < best[0] - tol or (cand[0] <= best[0] + tol and cand[1] < best[1] - tol):
                best[0], best[1] = cand
                best_move = (tag, np.unravel_index(idx, dh.shape), extra)

        if na > 2:
            # (1) one edge of a into a gap of another route
            Ix = np.arange(1, na - 1)
            o = xa[Ix][:, None]
            saving = linka[Ix] + linka[Ix + 1] - D[ea[Ix - 1], sa[Ix + 1]] + C[xa[Ix]]
            new_a = (ca - saving)[:, None]
            fwd = D[g_eprev[None, :], S[o]] + C[o] + D[E[o], g_s[None, :]] - g_link[None, :]
            ro = o ^ 1
            rev = D[g_eprev[None, :], S[ro]] + C[ro] + D[E[ro], g_s[None, :]] - g_link[None, :]
            rev = np.where(F[ro], np.inf, rev)
            consider(
                new_a, g_cost[None, :] + np.minimum(fwd, rev), g_cost[None, :], "out", rev < fwd
            )
        s_o = np.concatenate([sg[0] for sg in sl])
        if len(s_o):
            # (2) one edge of another route into a gap of a
            s_rem = np.concatenate([sg[1] for sg in sl])
            s_bid = np.concatenate(sb_)
            s_cost = cost_arr[s_bid]
            Ga = np.arange(1, na)[None, :]
            o = s_o[:, None]
            fwd = D[ea[Ga - 1], S[o]] + C[o] + D[E[o], sa[Ga]] - linka[Ga]
            ro = o ^ 1
            rev = D[ea[Ga - 1], S[ro]] + C[ro] + D[E[ro], sa[Ga]] - linka[Ga]
            rev = np.where(F[ro], np.inf, rev)
            consider(
                ca + np.minimum(fwd, rev),
                (s_cost - s_rem)[:, None],
                s_cost[:, None],
                "in",
                (rev < fwd, s_bid),
            )
        # (3) tail exchange with every cut of every other route
        Ix = np.arange(1, na)[:, None]
        ta = cuma[na] - cuma[Ix] - linka[Ix]
        new_a = cuma[Ix] + D[ea[Ix - 1], g_s[None, :]] + g_tail[None, :]
        new_b = g_head[None, :] + D[g_eprev[None, :], sa[Ix]] + ta
        consider(new_a, new_b, g_cost[None, :], "2opts")
        if self.tail_reversal:
            new_a = cuma[Ix] + D[ea[Ix - 1], g_rs[None, :]] + g_rtail[None, :]
            new_a = np.where(g_rbad[None, :], np.inf, new_a)
            new_b = rcuma[na - Ix] + D[rea[na - Ix - 1], g_s[None, :]] + g_tail[None, :]
            new_b = np.where(rbada[na - Ix] > 0, np.inf, new_b)
            consider(new_a, new_b, g_cost[None, :], "2optr")
        if best_move is None:
            return None
        tag, (r, c), extra = best_move
        if tag == "out":
            i = r + 1
            b = int(g_bid[c])
            g = int(g_j[c])
            oo = xa[i] ^ 1 if extra[r, c] else xa[i]
            xb = routes[b]
            return b, np.concatenate([xa[:i], xa[i + 1 :]]), np.concatenate([xb[:g], [oo], xb[g:]])
        if tag == "in":
            use_rev, s_bid = extra
            b = int(s_bid[r])
            start = int(np.searchsorted(s_bid, b))
            i = r - start + 1
            xb = routes[b]
            oo = xb[i] ^ 1 if use_rev[r, c] else xb[i]
            g = c + 1
            return b, np.concatenate([xa[:g], [oo], xa[g:]]), np.concatenate([xb[:i], xb[i + 1 :]])
        i = r + 1
        b = int(g_bid[c])
        j = int(g_j[c])
        xb = routes[b]
        nb = len(xb)
        if tag == "2opts":
            return b, np.concatenate([xa[:i], xb[j:]]), np.concatenate([xb[:j], xa[i:]])
        rxb = xb[::-1] ^ 1
        return (b, np.concatenate([xa[:i], rxb[nb - j :]]), np.concatenate([rxa[: na - i], xb[j:]]))

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
        for r in sorted(range(len(routes)), key=lambda r: -costs[r]):
            if self.timed_out():
                break
            y = self.euler(routes[r]) if self.symmetric else routes[r]
            y = self.intra(y)
            cy = self.cost(y)
            if cy < costs[r] - 1e-9:
                routes[r], costs[r] = y, cy
        return routes, costs

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
        if self.T == 0:
            return SearchResult([self.empty() for _ in range(k)], [0.0] * k, 0, "empty")
        if initial is None and self.large and self.symmetric:
            # O(T log T) apart from the matching: an Euler tour of every edge at once
            x = np.array([self.DEP, *range(0, 2 * self.T, 2), self.DEP], dtype=np.int64)
            routes = self.split(self.euler(x, rng if seed else None), k)
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
