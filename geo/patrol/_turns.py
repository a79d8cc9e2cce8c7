"""A closed walk re-ordered so that a team turns back as rarely as possible.

The solver's route, expanded into street arcs (served streets and the shortest paths
between them), is a closed walk: a directed multigraph in which every node has as many
arcs in as out.  Any Euler circuit of that multigraph walks the same arcs, so it has the
same length and serves the same streets; only the turns differ.  This module picks one
with few U-turns and small turns (fewer, longer straight stretches):

1. at every node, each incoming arc is paired with an outgoing one by an optimal
   assignment on turn costs (a U-turn, back to the node one came from, costs far more
   than any turn; otherwise the turn angle);
2. the pairing splits the arcs into closed trails; they are joined into one by swapping
   the successors of two incoming arcs of different trails at a shared node, cheapest
   swap first (Kruskal with lazily re-priced swaps);
3. the circuit is opened at the depot where its transition is worst (a U-turn at the
   station costs nothing: the walk ends there).

A U-turn remains where a node is a dead end of the walk (one neighbour) or the walk
must come back the way it went (a street served both ways, a dead-end spur).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable

import numpy as np
from scipy.optimize import linear_sum_assignment

#: cost of turning back to the node one came from (a turn angle costs at most 1)
UTURN_COST = 10.0


def _turn_cost(p: int, n: int, q: int, xy: np.ndarray | None) -> float:
    if q == p:
        return UTURN_COST
    if xy is None:
        return 0.0
    a = xy[n] - xy[p]
    b = xy[q] - xy[n]
    na, nb = math.hypot(*a), math.hypot(*b)
    if na == 0 or nb == 0:
        return 0.0
    cos = max(-1.0, min(1.0, float(a @ b) / (na * nb)))
    return math.degrees(math.acos(cos)) / 180.0


def fewest_turns(
    arcs: list[tuple[int, int, Hashable, Hashable]],
    depot: int,
    *,
    xy: np.ndarray | None = None,
) -> list[tuple[int, int, Hashable, Hashable]]:
    """The arcs of a closed walk from ``depot`` re-ordered to turn back least.

    Parameters
    ----------
    arcs : list of (u, v, key, tag)
        The walk's arcs in order, node indices ``u -> v``; ``key`` and ``tag`` (e.g. the
        served street, or None) are carried along.  ``arcs[0]`` leaves ``depot`` and the
        last one returns to it.
    depot : int
        Start and end node.
    xy : ndarray, optional
        Node coordinates (planar) for turn angles; without them only U-turns count.

    Returns
    -------
    list of (u, v, key, tag)
        The same arcs (as a multiset) forming one closed walk from ``depot``.
    """
    m = len(arcs)
    if m < 3:
        return list(arcs)
    into: dict[int, list[int]] = {}
    out: dict[int, list[int]] = {}
    for i, (u, v, _, _) in enumerate(arcs):
        out.setdefault(u, []).append(i)
        into.setdefault(v, []).append(i)

    def cost(a: int, b: int) -> float:
        return _turn_cost(arcs[a][0], arcs[a][1], arcs[b][1], xy)

    succ = [-1] * m
    for n, ins in into.items():
        outs = out[n]
        if len(ins) == 1:
            succ[ins[0]] = outs[0]
            continue
        M = np.array([[cost(a, b) for b in outs] for a in ins])
        r, c = linear_sum_assignment(M)
        for i, j in zip(r, c, strict=True):
            succ[ins[i]] = outs[j]
    # closed trails of the pairing, then joined by successor swaps
    trail = [-1] * m
    n_trails = 0
    for s in range(m):
        if trail[s] >= 0:
            continue
        a = s
        while trail[a] < 0:
            trail[a] = n_trails
            a = succ[a]
        n_trails += 1
    parent = list(range(n_trails))

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    def swap_delta(a1: int, a2: int) -> float:
        b1, b2 = succ[a1], succ[a2]
        return cost(a1, b2) + cost(a2, b1) - cost(a1, b1) - cost(a2, b2)

    if n_trails > 1:
        heap = []
        for n, ins in into.items():
            if len(ins) < 2:
                continue
            away = n != depot  # ties: join at the depot, where the circuit is opened
            for i in range(len(ins)):
                for j in range(i + 1, len(ins)):
                    if trail[ins[i]] != trail[ins[j]]:
                        heap.append((swap_delta(ins[i], ins[j]), away, ins[i], ins[j]))
        heapq.heapify(heap)
        joined = 1
        while heap and joined < n_trails:
            d, away, a1, a2 = heapq.heappop(heap)
            r1, r2 = find(trail[a1]), find(trail[a2])
            if r1 == r2:
                continue
            now = swap_delta(a1, a2)
            if now > d + 1e-12:  # re-priced after an earlier swap at this node
                heapq.heappush(heap, (now, away, a1, a2))
                continue
            succ[a1], succ[a2] = succ[a2], succ[a1]
            parent[r2] = r1
            joined += 1
        # pairs of the same original trail can become joinable only through others;
        # the network of a closed walk is connected, so every trail has been joined
    # open the circuit at the depot where its transition costs most
    ends = into.get(depot, [])
    if not ends:
        return list(arcs)
    last = max(ends, key=lambda a: (cost(a, succ[a]), -a))
    order = []
    a = succ[last]
    while True:
        order.append(a)
        if a == last:
            break
        a = succ[a]
    if len(order) != m:  # not joined into one circuit (should not happen): keep the walk
        return list(arcs)
    return [arcs[a] for a in order]
