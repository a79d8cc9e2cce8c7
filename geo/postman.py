"""The two graph steps of a Chinese-postman tour: pair the odd nodes, walk an Euler circuit.

:func:`match_odd_nodes` is the one minimum-weight perfect matching of the project (the
grid report's walk tours and the patrol solver's re-sequencing both call it);
:func:`euler_circuit` walks every edge of a multigraph whose degrees are even.

Why hand-written: networkx has both (``min_weight_matching``, ``eulerian_circuit``), but
its blossom matching is pure Python and takes seconds per call past a few dozen nodes,
where OSM footways give hundreds of odd nodes per grid; and ``eulerize`` builds the
all-pairs shortest-path matrix of the whole graph. Here the matching is solved in steps,
each exact where it applies:

1. the assignment relaxation (scipy ``linear_sum_assignment``): half the optimal
   assignment is a lower bound on the matching; when all its cycles are even, each cycle
   splits into two matchings and the cheaper reaches the bound, so it is optimal;
2. otherwise, up to ``_DP_MATCHING_MAX`` nodes, dynamic programming over node subsets
   (numpy, exact);
3. up to ``exact_max`` nodes, networkx's blossom algorithm (exact);
4. beyond, the assignment's even cycles split optimally, one node per odd cycle left over
   and matched on its own (by this same function), then pair exchanges until none
   improves: within a few per cent of optimal on street networks, never below the bound.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment

from .errors import SchemaError

__all__ = ["EXACT_MATCHING_MAX", "euler_circuit", "match_odd_nodes", "matching_cost"]

#: Nodes up to which the matching is exact (blossom); beyond, assignment + exchanges.
EXACT_MATCHING_MAX = 24
_DP_MATCHING_MAX = 12  # nodes up to which the exact matching is solved over subsets


def _prepared(D: np.ndarray) -> np.ndarray:
    """``D`` as a finite symmetric float matrix (missing links become very expensive)."""
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise SchemaError(f"the distance matrix must be square, not of shape {D.shape}")
    if len(D) % 2:
        raise SchemaError(
            f"a perfect matching needs an even number of nodes, not {len(D)}: "
            "pass the odd-degree nodes of a graph (there is always an even number)"
        )
    finite = np.isfinite(D)
    big = np.nanmax(D[finite], initial=0.0) * 4 * len(D) + 1.0
    D = np.where(finite, D, big)
    return (D + D.T) / 2.0  # shortest paths summed in another order differ in the last bits


def match_odd_nodes(
    D: np.ndarray, *, exact_max: int = EXACT_MATCHING_MAX, max_rounds: int = 50
) -> list[tuple[int, int]]:
    """Index pairs of a minimum-weight perfect matching on a distance matrix.

    Parameters
    ----------
    D
        Square matrix of distances between an even number of nodes (the odd-degree nodes
        of a graph); made symmetric by averaging, infinite entries (no path) are avoided.
    exact_max
        Nodes up to which the matching is exact; beyond, the assignment relaxation and
        pair exchanges (see the module docstring).
    max_rounds
        Pair exchanges tried at most ``max_rounds`` times the number of nodes.

    Returns
    -------
    list of (i, j)
        Each node in exactly one pair, ``i < j``, pairs sorted.

    Raises
    ------
    SchemaError
        ``D`` is not square or has an odd number of nodes.
    """
    D = _prepared(D)
    k = len(D)
    if k == 0:
        return []
    if k == 2:
        return [(0, 1)]
    cycles = _assignment_cycles(D)
    if all(len(c) % 2 == 0 for c in cycles):
        pairs = [p for c in cycles for p in _split_even_cycle(D, c)]
    elif k <= _DP_MATCHING_MAX:
        pairs = _matching_by_subsets(D)
    elif k <= exact_max:
        pairs = _matching_by_blossom(D)
    else:
        pairs = _matching_by_exchange(D, cycles, exact_max=exact_max, max_rounds=max_rounds)
    return sorted((min(i, j), max(i, j)) for i, j in pairs)


def matching_cost(D: np.ndarray, *, exact_max: int = EXACT_MATCHING_MAX) -> float:
    """Total distance of :func:`match_odd_nodes`' pairs (0 for no nodes)."""
    pairs = match_odd_nodes(D, exact_max=exact_max)
    if not pairs:
        return 0.0
    S = _prepared(D)
    i, j = np.array(pairs).T
    return float(S[i, j].sum())


def _assignment_cycles(D: np.ndarray) -> list[list[int]]:
    """The cycles of the optimal assignment (no node assigned to itself)."""
    k = len(D)
    cost = D.copy()
    np.fill_diagonal(cost, D.max() * 4 * k + 1.0)
    _, succ = linear_sum_assignment(cost)
    seen = np.zeros(k, dtype=bool)
    cycles = []
    for start in range(k):
        if seen[start]:
            continue
        cycle = [start]
        seen[start] = True
        nxt = int(succ[start])
        while nxt != start:
            cycle.append(nxt)
            seen[nxt] = True
            nxt = int(succ[nxt])
        cycles.append(cycle)
    return cycles


def _split_even_cycle(D: np.ndarray, cycle: list[int]) -> list[tuple[int, int]]:
    """The cheaper of the two matchings an even cycle splits into."""
    steps = D[cycle, np.roll(cycle, -1)]
    off = 0 if steps[0::2].sum() <= steps[1::2].sum() else 1
    n = len(cycle)
    return [(cycle[(i + off) % n], cycle[(i + off + 1) % n]) for i in range(0, n, 2)]


@functools.lru_cache(maxsize=_DP_MATCHING_MAX)
def _subset_layers(k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Subsets of k nodes with 2, 4, ... members, each with its lowest member."""
    masks = np.arange(1 << k, dtype=np.int64)
    size = np.zeros(1 << k, dtype=np.int64)
    for bit in range(k):
        size += (masks >> bit) & 1
    low = np.log2(masks & -masks, where=masks > 0, out=np.zeros(1 << k)).astype(np.int64)
    return [(masks[size == 2 * p], low[size == 2 * p]) for p in range(1, k // 2 + 1)]


def _matching_by_subsets(D: np.ndarray) -> list[tuple[int, int]]:
    """Exact matching by dynamic programming over node subsets.

    best[S] = min over j in S of D[i, j] + best[S - {i, j}], i the lowest node of S; one
    numpy step per subset size, which beats blossom in Python up to ~12 nodes.
    """
    k = len(D)
    best = np.full(1 << k, np.inf)
    best[0] = 0.0
    partner = np.zeros(1 << k, dtype=np.int64)
    j = np.arange(k)
    for masks, low in _subset_layers(k):
        rest = masks[:, None] ^ (1 << low)[:, None] ^ (1 << j)[None, :]
        valid = ((masks[:, None] >> j[None, :]) & 1).astype(bool) & (j[None, :] != low[:, None])
        cand = np.where(valid, D[low[:, None], j[None, :]] + best[rest], np.inf)
        pick = cand.argmin(axis=1)
        best[masks] = cand[np.arange(len(masks)), pick]
        partner[masks] = pick
    pairs = []
    mask = (1 << k) - 1
    while mask:
        i = (mask & -mask).bit_length() - 1
        p = int(partner[mask])
        pairs.append((i, p))
        mask ^= (1 << i) | (1 << p)
    return pairs


def _matching_by_blossom(D: np.ndarray) -> list[tuple[int, int]]:
    k = len(D)
    top = float(D.max()) + 1.0
    G = nx.Graph()
    G.add_weighted_edges_from((i, j, top - D[i, j]) for i in range(k) for j in range(i + 1, k))
    return [(int(i), int(j)) for i, j in nx.max_weight_matching(G, maxcardinality=True)]


def _matching_by_exchange(
    D: np.ndarray, cycles: list[list[int]], *, exact_max: int, max_rounds: int
) -> list[tuple[int, int]]:
    """Assignment cycles split, leftovers matched, then the best pair exchange until none
    improves. For two pairs (a, b), (c, d) an exchange tries (a, c)(b, d) and (a, d)(b, c);
    all pairs of pairs are scored at once in numpy."""
    k = len(D)
    pairs: list[tuple[int, int]] = []
    left: list[int] = []
    for cycle in cycles:
        if len(cycle) % 2 == 0:
            pairs += _split_even_cycle(D, cycle)
            continue
        # drop the node whose removal leaves the cheapest alternate pairing
        best = None
        for drop in range(len(cycle)):
            rest = cycle[drop + 1 :] + cycle[:drop]
            c = sum(D[rest[i], rest[i + 1]] for i in range(0, len(rest) - 1, 2))
            if best is None or c < best[0]:
                best = (c, cycle[drop], rest)
        left.append(best[1])
        pairs += [(best[2][i], best[2][i + 1]) for i in range(0, len(best[2]) - 1, 2)]
    if left:  # one node per odd cycle: an even number, at most a third of the nodes
        sub = D[np.ix_(left, left)]
        pairs += [
            (left[i], left[j]) for i, j in match_odd_nodes(sub, exact_max=exact_max, max_rounds=0)
        ]
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    for _ in range(max_rounds * k):
        cur = D[a, b]
        base = cur[:, None] + cur[None, :]
        gain1 = base - (D[a[:, None], a[None, :]] + D[b[:, None], b[None, :]])
        gain2 = base - (D[a[:, None], b[None, :]] + D[b[:, None], a[None, :]])
        np.fill_diagonal(gain1, 0.0)
        np.fill_diagonal(gain2, 0.0)
        g1, g2 = gain1.max(), gain2.max()
        if max(g1, g2) <= 1e-9:
            break
        if g1 >= g2:
            p, q = np.unravel_index(gain1.argmax(), gain1.shape)
            a[p], b[p], a[q], b[q] = a[p], a[q], b[p], b[q]
        else:
            p, q = np.unravel_index(gain2.argmax(), gain2.shape)
            a[p], b[p], a[q], b[q] = a[p], b[q], b[p], a[q]
    return [(int(x), int(y)) for x, y in zip(a, b, strict=True)]


def euler_circuit(
    u: Sequence[int] | np.ndarray,
    v: Sequence[int] | np.ndarray,
    *,
    start: int,
    rng: np.random.Generator | None = None,
) -> list[tuple[int, int]]:
    """A closed walk over every edge of a multigraph, from ``start`` (Hierholzer).

    Parameters
    ----------
    u, v
        The ends of each edge (parallel edges and loops allowed). For a closed walk over
        all of them, every node has even degree and the edges are connected with
        ``start``; otherwise the walk is open (odd degrees) or misses what it cannot
        reach from ``start``.
    start
        The node the walk starts and ends at.
    rng
        Shuffles the order edges are taken in (another walk over the same edges).

    Returns
    -------
    list of (edge, orientation)
        Edge positions in walking order, orientation 0 when walked from ``u`` to ``v``,
        1 from ``v`` to ``u``. Fewer than ``len(u)`` entries when not every edge could be
        walked (odd degrees or a disconnected edge).
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if u.shape != v.shape:
        raise SchemaError(f"u and v differ in length ({len(u)} vs {len(v)})")
    adj: dict[int, list[int]] = {}
    for i in range(len(u)):
        adj.setdefault(int(u[i]), []).append(i)
        adj.setdefault(int(v[i]), []).append(i)
    if rng is not None:
        for lst in adj.values():
            rng.shuffle(lst)
    used = np.zeros(len(u), dtype=bool)
    stack = [(int(start), -1, 0)]  # (node, edge used to arrive, orientation)
    circuit = []
    while stack:
        node = stack[-1][0]
        lst = adj.get(node, [])
        while lst and used[lst[-1]]:
            lst.pop()
        if lst:
            i = lst.pop()
            used[i] = True
            if int(u[i]) == node:
                stack.append((int(v[i]), i, 0))
            else:
                stack.append((int(u[i]), i, 1))
        else:
            circuit.append(stack.pop())
    circuit.reverse()
    return [(i, o) for _, i, o in circuit if i >= 0]
