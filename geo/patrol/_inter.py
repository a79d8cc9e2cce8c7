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
