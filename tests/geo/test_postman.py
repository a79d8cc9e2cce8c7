"""The one matching / Euler-circuit home (geo/postman.py), against brute force and networkx."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from gridpatrol.geo.errors import SchemaError
from gridpatrol.geo.postman import euler_circuit, match_odd_nodes, matching_cost


def _brute(D: np.ndarray) -> float:
    """Optimal matching cost by trying every pairing (small k only)."""

    def best(nodes: tuple[int, ...]) -> float:
        if not nodes:
            return 0.0
        i, rest = nodes[0], nodes[1:]
        return min(D[i, j] + best(rest[:p] + rest[p + 1 :]) for p, j in enumerate(rest))

    return best(tuple(range(len(D))))


def _points_matrix(k: int, seed: int) -> np.ndarray:
    xy = np.random.default_rng(seed).uniform(0, 1000, (k, 2))
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def _check_perfect(pairs, k):
    flat = [x for p in pairs for x in p]
    assert sorted(flat) == list(range(k))
    assert all(i < j for i, j in pairs)


@pytest.mark.parametrize("k", [2, 4, 6, 8, 10])
@pytest.mark.parametrize("seed", range(4))
def test_small_matchings_are_optimal(k, seed):
    D = _points_matrix(k, seed)
    pairs = match_odd_nodes(D)
    _check_perfect(pairs, k)
    assert sum(D[i, j] for i, j in pairs) == pytest.approx(_brute(D))
    assert matching_cost(D) == pytest.approx(_brute(D))


@pytest.mark.parametrize("k", [14, 20])
def test_medium_matchings_equal_networkx(k):
    D = _points_matrix(k, 7)
    G = nx.Graph()
    G.add_weighted_edges_from((i, j, D[i, j]) for i, j in itertools.combinations(range(k), 2))
    want = sum(D[i, j] for i, j in nx.min_weight_matching(G))
    pairs = match_odd_nodes(D)
    _check_perfect(pairs, k)
    assert sum(D[i, j] for i, j in pairs) == pytest.approx(want)


def test_large_matching_is_perfect_near_optimal_and_above_the_bound():
    k = 40
    D = _points_matrix(k, 3)
    G = nx.Graph()
    G.add_weighted_edges_from((i, j, D[i, j]) for i, j in itertools.combinations(range(k), 2))
    opt = sum(D[i, j] for i, j in nx.min_weight_matching(G))
    pairs = match_odd_nodes(D)
    _check_perfect(pairs, k)
    got = sum(D[i, j] for i, j in pairs)
    assert opt - 1e-6 <= got <= opt * 1.05
    # the heuristic path (exact limit below k) is the one taken here
    heur = match_odd_nodes(D, exact_max=4)
    _check_perfect(heur, k)
    assert opt - 1e-6 <= sum(D[i, j] for i, j in heur) <= opt * 1.05


def test_unreachable_pairs_are_avoided_and_asymmetry_averaged():
    D = np.array(
        [[0, 1, np.inf, 9], [1, 0, 9, np.inf], [np.inf, 9, 0, 2], [9, np.inf, 2, 0]], dtype=float
    )
    assert match_odd_nodes(D) == [(0, 1), (2, 3)]
    Dt = D.copy()
    Dt[0, 1] = 1.0000001
    assert match_odd_nodes(Dt) == [(0, 1), (2, 3)]


def test_bad_matrices_raise():
    assert match_odd_nodes(np.zeros((0, 0))) == []
    with pytest.raises(SchemaError, match="even number"):
        match_odd_nodes(np.zeros((3, 3)))
    with pytest.raises(SchemaError, match="square"):
        match_odd_nodes(np.zeros((2, 4)))


def test_euler_circuit_walks_every_edge_once_and_closes():
    # two triangles sharing node 0, plus a doubled edge 3-4 hanging off node 3
    u = [0, 1, 2, 0, 3, 4, 3, 5]
    v = [1, 2, 0, 3, 4, 3, 5, 0]
    for rng in (None, np.random.default_rng(1)):
        walk = euler_circuit(u, v, start=0, rng=rng)
        assert sorted(e for e, _ in walk) == list(range(len(u)))
        nodes = [(u[e], v[e]) if o == 0 else (v[e], u[e]) for e, o in walk]
        assert nodes[0][0] == 0 and nodes[-1][1] == 0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(nodes))


def test_euler_circuit_skips_edges_it_cannot_reach():
    walk = euler_circuit([0, 1, 5], [1, 0, 6], start=0)
    assert sorted(e for e, _ in walk) == [0, 1]


def test_every_exact_path_agrees_with_networkx_on_street_like_distances():
    # Manhattan distances give ties and odd assignment cycles: the assignment bound,
    # subsets and blossom are each taken for some k
    rng = np.random.default_rng(0)
    for k in (4, 6, 8, 10, 12, 14, 18, 22):
        for _ in range(4):
            xy = rng.uniform(0, 300, (k, 2))
            D = np.abs(xy[:, None, :] - xy[None, :, :]).sum(-1)
            G = nx.Graph()
            G.add_weighted_edges_from((i, j, D[i, j]) for i in range(k) for j in range(i + 1, k))
            best = sum(D[i, j] for i, j in nx.min_weight_matching(G))
            pairs = match_odd_nodes(D)
            _check_perfect(pairs, k)
            assert sum(D[i, j] for i, j in pairs) == pytest.approx(best)
