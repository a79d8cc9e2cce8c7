"""A team's route cut into shifts over a cycle: depot-to-depot sorties that fit a shift.

A k-route plan gives each team one long closed walk.  A volunteer team walks one shift a
day, so its walk is cut into sorties, each from the station and back within the shift
(walk to the area, the streets, dwells, walk back), and the team's cycle lasts as many
days as it has sorties.  Priority streets (hot spots, camera blind spots) are added to
every sortie; the other streets rotate, each walked once per cycle.

The cut is the classic route-first, cluster-second split: the route's order is kept and
cut greedily into the longest pieces that fit, which for a fixed order gives the fewest
sorties (a piece of a feasible sortie is feasible: shortest paths obey the triangle
inequality).  Each piece's length is found by galloping then bisection, so a team's cut
costs O(sorties * log(streets per sortie)) evaluations of a sortie.

A street whose round trip from the depot alone exceeds the shift can never be walked in
one; it is returned apart (``beyond``), not as an over-long sortie.

Works on the search core's arrays (:class:`._search.Core`): a route is an array
``[DEP, o1, o2, ..., DEP]`` of task orientations, ``o // 2`` the task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Largest share of a shift the every-shift (priority) streets may take; beyond it the
#: least important of them rotate with the others, so that a shift still walks new streets.
EVERY_SHIFT_SHARE = 0.5


@dataclass
class TeamCut:
    """One team's route cut into sorties.

    Attributes
    ----------
    sorties : list of ndarray
        Core routes ``[DEP, ..., DEP]``, one per day of the cycle, in order.
    beyond : list of int
        Tasks whose round trip from the depot alone is longer than the shift.
    rotated : list of int
        Priority tasks that did not fit in every sortie (their tour took more than
        ``EVERY_SHIFT_SHARE`` of the shift) and rotate with the other streets.
    """

    sorties: list[np.ndarray] = field(default_factory=list)
    beyond: list[int] = field(default_factory=list)
    rotated: list[int] = field(default_factory=list)


def round_trips(core) -> np.ndarray:
    """Per task, the cheapest depot -> task -> depot walk (inf if neither direction)."""
    T = core.T
    o = np.arange(2 * T)
    rt = core.D[0, core.S[o]] + core.C[o] + core.D[core.E[o], 0]
    rt = np.where(core.F[: 2 * T], np.inf, rt)
    return rt.reshape(T, 2).min(axis=1) if T else np.zeros(0)


def best_orientation(core, t: int) -> int:
    """The orientation of task ``t`` with the cheaper round trip from the depot."""
    o = np.array([2 * t, 2 * t + 1])
    rt = core.D[0, core.S[o]] + core.C[o] + core.D[core.E[o], 0]
    return int(o[np.argmin(np.where(core.F[o], np.inf, rt))])


def _insert(core, seq: np.ndarray, extra: list[int], limit: float | None = None):
    """``[DEP, *seq, DEP]`` with each task of ``extra`` inserted where it adds least.

    With ``limit``, a task is left out when inserting it would exceed the limit.
    Returns the route and its cost.
    """
    D, S, E, C, F = core.D, core.S, core.E, core.C, core.F
    x = np.concatenate([[core.DEP], seq, [core.DEP]]).astype(np.int64)
    cost = core.cost(x)
    for t in extra:
        e, s = E[x[:-1]], S[x[1:]]
        base = D[e, s]
        best = None
        for q in (2 * t, 2 * t + 1):
            if F[q]:
                continue
            delta = D[e, S[q]] + C[q] + D[E[q], s] - base
            i = int(np.argmin(delta))
            if best is None or delta[i] < best[0]:
                best = (float(delta[i]), i, q)
        if best is None or (limit is not None and cost + best[0] > limit + 1e-9):
            continue
        x = np.insert(x, best[1] + 1, best[2])
        cost += best[0]
    return x, cost


def cut_route(
    core,
    x: np.ndarray,
    limit: float,
    *,
    every_shift: list[int] = (),
    every_shift_share: float = EVERY_SHIFT_SHARE,
    rt: np.ndarray | None = None,
) -> TeamCut:
    """Cut one team's core route into sorties of cost at most ``limit``.

    Parameters
    ----------
    core : Core
        The search core the route belongs to.
    x : ndarray
        The team's route ``[DEP, ..., DEP]``.
    limit : float
        Longest sortie (the shift, in cost units; dwells are part of the costs).
    every_shift : list of int
        Priority tasks, most important first; those on this route are added to every
        sortie (up to ``every_shift_share`` of the shift, the rest rotate).
    rt : ndarray, optional
        :func:`round_trips` of the core (computed when not given).

    Returns
    -------
    TeamCut
    """
    rt = round_trips(core) if rt is None else rt
    tasks = np.asarray(x[1:-1], dtype=np.int64)
    on_route = set((tasks // 2).tolist())
    out = TeamCut()
    far = rt[tasks // 2] > limit + 1e-9
    out.beyond = sorted(set((tasks[far] // 2).tolist()))
    tasks = tasks[~far]
    # the every-shift streets of this route, most important first, while their own tour
    # takes at most the allowed share of the shift
    prio = [t for t in dict.fromkeys(every_shift) if t in on_route and rt[t] <= limit + 1e-9]
    budget = every_shift_share * limit
    keep = list(prio)
    while keep and _insert(core, np.zeros(0, dtype=np.int64), keep)[1] > budget + 1e-9:
        keep.pop()
    out.rotated = prio[len(keep) :]
    prio_set = set(keep)
    rest = np.array([o for o in tasks.tolist() if o // 2 not in prio_set], dtype=np.int64)
    if len(rest) == 0:
        if keep:
            out.sorties.append(_insert(core, np.zeros(0, dtype=np.int64), keep)[0])
        return out

    def fits(i: int, j: int):
        got = _insert(core, rest[i:j], keep)
        return got if got[1] <= limit + 1e-9 else None

    i, n = 0, len(rest)
    while i < n:
        first = fits(i, i + 1)
        if first is None:  # fits alone (not beyond), but not with every priority street
            out.sorties.append(_insert(core, rest[i : i + 1], keep, limit)[0])
            i += 1
            continue
        good, good_x = i + 1, first[0]
        step, bad = 1, n + 1
        while good < n:  # gallop to a piece that does not fit, then bisect
            j = min(good + step, n)
            got = fits(i, j)
            if got is None:
                bad = j
                break
            good, good_x = j, got[0]
            step *= 2
        while bad - good > 1:
            mid = (good + bad) // 2
            got = fits(i, mid)
            if got is None:
                bad = mid
            else:
                good, good_x = mid, got[0]
        out.sorties.append(good_x)
        i = good
    return out
