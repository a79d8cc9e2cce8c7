"""Inter-route moves of the patrol search: relocation and tail exchange (2-opt*).

Mixed into :class:`._search.Core`; a move is accepted when the pair of changed routes
decreases in the leximax order.
"""

from __future__ import annotations

import numpy as np

from ._moves import _EPS


class _InterMoves:
    """Moves between two routes, pairwise or from one route to all others at once."""

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

    # ------------------------------------------------------- granular inter route
    #: neighbour list length of the granular moves (each edge considers this many of its
    #: nearest edges, by walking distance between their end points)
    granular_k = 16

    def neighbours(self) -> np.ndarray:
        """(T, granular_k) nearest other edges of each edge (min distance between ends).

        Computed once, in row blocks (no T x T matrix kept): O(T^2) cheap array work.
        """
        got = getattr(self, "_neighbours", None)
        if got is not None:
            return got
        T = self.T
        K = min(self.granular_k, max(T - 1, 1))
        u, v = self.S[0 : 2 * T : 2], self.E[0 : 2 * T : 2]
        D = self.D
        if self.xy is not None and T > 8 * K:
            # O(T log T): 3 K nearest by straight-line distance between midpoints, the
            # K nearest of those on foot (a river or a railway makes them differ)
            from scipy.spatial import cKDTree

            mid = 0.5 * (self.xy[u] + self.xy[v])
            _, cand = cKDTree(mid).query(mid, k=3 * K + 1)
            cand = cand[:, 1:]
            ui, vi = u[:, None], v[:, None]
            uc, vc = u[cand], v[cand]
            walk = np.minimum(np.minimum(D[ui, uc], D[ui, vc]), np.minimum(D[vi, uc], D[vi, vc]))
            keep = np.argsort(walk, axis=1, kind="stable")[:, :K]
            self._neighbours = np.take_along_axis(cand, keep, axis=1)
            return self._neighbours
        out = np.empty((T, K), dtype=np.int64)
        for lo in range(0, T, 256):
            hi = min(T, lo + 256)
            du, dv = D[u[lo:hi]], D[v[lo:hi]]
            block = np.minimum(np.minimum(du[:, u], du[:, v]), np.minimum(dv[:, u], dv[:, v]))
            block = np.minimum(block, np.minimum(D[u][:, u[lo:hi]], D[v][:, u[lo:hi]]).T)
            block[np.arange(hi - lo), np.arange(lo, hi)] = np.inf
            part = np.argpartition(block, K - 1, axis=1)[:, :K] if K < T else None
            if part is None:
                part = np.argsort(block, axis=1)[:, :K]
            out[lo:hi] = part
        self._neighbours = out
        return out

    def _granular_from(self, a: int, routes: list[np.ndarray], costs: list[float]):
        """Best leximax-improving move between route ``a`` and the routes of its edges'
        nearest neighbours (granular search): relocation of one edge out of or into
        ``a`` next to a neighbour, and tail exchange (with and without reversal) at cuts
        next to a neighbour.  O(len(a) * granular_k) per call.  Returns
        ``(b, new_a, new_b)`` or None."""
        D, S, E, C, F = self.D, self.S, self.E, self.C, self.F
        xa, ca = routes[a], costs[a]
        na = len(xa)
        if na <= 2:
            return None
        k = len(routes)
        NB = self.neighbours()
        owner = np.empty(self.T + 1, dtype=np.int64)
        posn = np.empty(self.T + 1, dtype=np.int64)
        g_parts, s_parts = [], []
        goff = np.zeros(k + 1, dtype=np.int64)
        soff = np.zeros(k + 1, dtype=np.int64)
        for b, x in enumerate(routes):
            t = x[1:-1] // 2
            owner[t] = b
            posn[t] = np.arange(1, len(x) - 1)
            g, sg = self._gaps(x)
            g_parts.append(g)
            s_parts.append(sg)
            goff[b + 1] = goff[b] + len(g[0])
            soff[b + 1] = soff[b] + len(sg[0])
        G = [np.concatenate([g[t] for g in g_parts]) for t in range(8)]
        g_eprev, g_s, g_link, g_head, g_tail, g_rs, g_rtail, g_rbad = G
        s_o = np.concatenate([sg[0] for sg in s_parts])
        s_rem = np.concatenate([sg[1] for sg in s_parts])
        cost_arr = np.asarray(costs, dtype=float)
        sa, ea, linka, cuma, rxa, rsa, rea, rlinka, rcuma, rbada = self._prep(xa)
        nb = NB[xa[1:-1] // 2]  # (m, K) neighbour edges
        own = owner[nb]
        # only the edges of a at its border (a neighbour in another route) can move
        border = np.flatnonzero((own != a).any(axis=1))
        if len(border) == 0:
            return None
        P = (border + 1)[:, None]  # positions of those edges in a
        nb, own = nb[border], own[border]
        q = posn[nb]
        other = own != a
        tol = _EPS * max(1.0, ca)
        best = [0.0, 0.0]
        best_move = None

        def consider(new_a, new_b, b, tag, info):
            nonlocal best_move
            old_o = cost_arr[b]
            old_hi = np.maximum(ca, old_o)
            dh = np.maximum(new_a, new_b) - old_hi
            dh = np.where(b != a, dh, np.inf)
            m = float(dh.min()) if dh.size else np.inf
            if not np.isfinite(m) or m > best[0] + tol:
                return
            dl = np.where(dh <= m + tol, np.minimum(new_a, new_b) - np.minimum(ca, old_o), np.inf)
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
                best_move = (tag, idx, info)

        own2 = np.concatenate([own, own], axis=1)
        jj = np.concatenate([q, q + 1], axis=1)  # gaps before / after each neighbour
        gi = goff[own2] + jj - 1
        ok2 = np.concatenate([other, other], axis=1)
        # (1) an edge of a next to a neighbour in another route
        o = xa[P]
        saving = linka[P] + linka[P + 1] - D[ea[P - 1], sa[P + 1]] + C[o]
        fwd = D[g_eprev[gi], S[o]] + C[o] + D[E[o], g_s[gi]] - g_link[gi]
        ro = o ^ 1
        rev = D[g_eprev[gi], S[ro]] + C[ro] + D[E[ro], g_s[gi]] - g_link[gi]
        rev = np.where(F[ro], np.inf, rev)
        new_b = cost_arr[own2] + np.minimum(fwd, rev)
        new_b = np.where(ok2, new_b, np.inf)
        consider(
            np.broadcast_to(ca - saving, new_b.shape), new_b, own2, "out", (rev < fwd, own2, jj)
        )
        # (2) a neighbour edge into a, just before / after the edge of a it is near
        si = soff[own] + q - 1
        on = s_o[si]
        on2 = np.concatenate([on, on], axis=1)
        ga = np.concatenate([np.broadcast_to(P, q.shape), np.broadcast_to(P + 1, q.shape)], axis=1)
        fwd = D[ea[ga - 1], S[on2]] + C[on2] + D[E[on2], sa[ga]] - linka[ga]
        ro = on2 ^ 1
        rev = D[ea[ga - 1], S[ro]] + C[ro] + D[E[ro], sa[ga]] - linka[ga]
        rev = np.where(F[ro], np.inf, rev)
        new_a = np.where(ok2, ca + np.minimum(fwd, rev), np.inf)
        rem = np.concatenate([s_rem[si], s_rem[si]], axis=1)
        consider(
            new_a,
            cost_arr[own2] - rem,
            own2,
            "in",
            (rev < fwd, own2, np.concatenate([q, q], axis=1), ga),
        )
        # (3) tail exchange: cut a before / after its edge, b before / after the neighbour
        I4 = np.concatenate([ga, ga], axis=1)
        J4 = np.concatenate([jj, q + 1, q], axis=1)
        own4 = np.concatenate([own2, own2], axis=1)
        g4 = goff[own4] + J4 - 1
        ok4 = np.concatenate([ok2, ok2], axis=1)
        ta = cuma[na] - cuma[I4] - linka[I4]
        new_a = cuma[I4] + D[ea[I4 - 1], g_s[g4]] + g_tail[g4]
        new_b = g_head[g4] + D[g_eprev[g4], sa[I4]] + ta
        consider(np.where(ok4, new_a, np.inf), new_b, own4, "2opts", (own4, I4, J4))
        if self.tail_reversal:
            new_a = cuma[I4] + D[ea[I4 - 1], g_rs[g4]] + g_rtail[g4]
            new_a = np.where(g_rbad[g4] | ~ok4, np.inf, new_a)
            new_b = rcuma[na - I4] + D[rea[na - I4 - 1], g_s[g4]] + g_tail[g4]
            new_b = np.where(rbada[na - I4] > 0, np.inf, new_b)
            consider(new_a, new_b, own4, "2optr", (own4, I4, J4))
        if best_move is None:
            return None
        tag, idx, info = best_move
        r, c = np.unravel_index(idx, info[1].shape if tag in ("out", "in") else info[0].shape)
        if tag == "out":
            use_rev, ob, gj = info
            b, g, i = int(ob[r, c]), int(gj[r, c]), int(P[r, 0])
            oo = xa[i] ^ 1 if use_rev[r, c] else xa[i]
            xb = routes[b]
            return b, np.concatenate([xa[:i], xa[i + 1 :]]), np.concatenate([xb[:g], [oo], xb[g:]])
        if tag == "in":
            use_rev, ob, qq, gaa = info
            b, i, g = int(ob[r, c]), int(qq[r, c]), int(gaa[r, c])
            xb = routes[b]
            oo = xb[i] ^ 1 if use_rev[r, c] else xb[i]
            return b, np.concatenate([xa[:g], [oo], xa[g:]]), np.concatenate([xb[:i], xb[i + 1 :]])
        ob, II, JJ = info
        b, i, j = int(ob[r, c]), int(II[r, c]), int(JJ[r, c])
        xb = routes[b]
        nbl = len(xb)
        if tag == "2opts":
            return b, np.concatenate([xa[:i], xb[j:]]), np.concatenate([xb[:j], xa[i:]])
        rxb = xb[::-1] ^ 1
        return b, np.concatenate([xa[:i], rxb[nbl - j :]]), np.concatenate([rxa[: na - i], xb[j:]])
