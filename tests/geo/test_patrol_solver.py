"""Tests of the min-max k-rural-postman solver (gridpatrol.geo.patrol)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import networkx as nx
import pytest

from gridpatrol.geo.errors import GridPatrolError, InfeasiblePlanError, NotFoundError
from gridpatrol.geo.patrol import MinMaxRoutes, Plan, Route

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FAST = {"time_limit": 5.0, "max_iterations": 40}


def grid(n: int = 4, m: int = 4, length: float = 100.0) -> nx.Graph:
    G = nx.grid_2d_graph(n, m)
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v]["length"] = length + (i % 3) * 10.0
    return G


def check_walks(G: nx.Graph | nx.MultiDiGraph, plan: Plan, depot, weight="length") -> None:
    """Each route is a closed walk from the depot over existing edges with the right cost."""
    for r in plan.routes:
        assert r.nodes[0] == depot and r.nodes[-1] == depot
        assert len(r.edges) == len(r.nodes) - 1
        cost = 0.0
        for i, (a, b, key) in enumerate(r.edges):
            assert (a, b) == (r.nodes[i], r.nodes[i + 1])
            if G.is_multigraph():
                assert G.has_edge(a, b, key)
                cost += G.edges[a, b, key][weight]
            else:
                assert G.has_edge(a, b)
                cost += G.edges[a, b][weight]
        assert math.isclose(cost, r.cost)
        assert 0 <= r.deadhead_cost <= r.cost + 1e-9


def served_set(plan: Plan) -> set:
    return {frozenset(e[:2]) if len(e) == 2 else e for r in plan.routes for e in r.served}


def test_grid_covers_all_edges_with_k_closed_routes():
    G = grid()
    plan = MinMaxRoutes.from_graph(G, depot=(0, 0), k=3).solve(seed=0, **FAST)
    assert isinstance(plan, Plan) and all(isinstance(r, Route) for r in plan.routes)
    assert len(plan.routes) == 3 and sorted(r.team for r in plan.routes) == [0, 1, 2]
    check_walks(G, plan, (0, 0))
    assert served_set(plan) == {frozenset(e) for e in G.edges}
    assert sum(len(r.served) for r in plan.routes) == G.number_of_edges()
    assert plan.coverage == 1.0 and plan.unreachable == []
    assert plan.longest == max(r.cost for r in plan.routes)
    assert plan.shortest == min(r.cost for r in plan.routes)
    assert plan.longest >= plan.lower_bound - 1e-9
    assert math.isclose(plan.total_deadhead, sum(r.deadhead_cost for r in plan.routes))


def fhk_split_value(G: nx.Graph, depot, k: int) -> float:
    """Frederickson-Hecht-Kim: Euler tour of the eulerized graph, optimal split in k."""
    H = nx.eulerize(G)
    tour = [(u, v) for u, v in nx.eulerian_circuit(H, source=depot)]
    w = [G.edges[u, v]["length"] for u, v in tour]
    d = dict(nx.single_source_dijkstra_path_length(G, depot, weight="length"))
    m = len(tour)
    pre = [0.0]
    for x in w:
        pre.append(pre[-1] + x)

    def seg(a: int, b: int) -> float:  # tour edges a..b-1
        return d[tour[a][0]] + pre[b] - pre[a] + d[tour[b - 1][1]]

    f = [0.0] + [math.inf] * m
    for _ in range(k):
        f = [0.0] + [
            min(min(max(f[a], seg(a, b)) for a in range(b)), f[b]) for b in range(1, m + 1)
        ]
    return f[m]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_minmax_not_worse_than_fhk_split(k):
    G = grid(4, 5)
    plan = MinMaxRoutes.from_graph(G, depot=(0, 0), k=k).solve(seed=1, **FAST)
    assert plan.longest <= fhk_split_value(G, (0, 0), k) + 1e-9


def test_deterministic_for_a_seed():
    G = grid(5, 5)
    solver = MinMaxRoutes.from_graph(G, depot=(2, 2), k=3)
    a = solver.solve(seed=7, time_limit=30.0, max_iterations=25)
    b = MinMaxRoutes.from_graph(G, depot=(2, 2), k=3).solve(
        seed=7, time_limit=30.0, max_iterations=25
    )
    assert a.stopped_by in ("iterations", "lower_bound", "stall")
    assert [r.edges for r in a.routes] == [r.edges for r in b.routes]
    assert a.longest == b.longest
    again = solver.solve(seed=7, time_limit=30.0, max_iterations=25)  # warm caches
    assert [r.edges for r in again.routes] == [r.edges for r in a.routes]


def test_disconnected_required_edges_are_reported():
    G = grid(3, 3)
    G.add_edge("x", "y", length=50.0)
    G.add_edge("y", "z", length=50.0)
    plan = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2).solve(seed=0, **FAST)
    assert sorted(plan.unreachable) == sorted([("x", "y"), ("y", "z")])
    assert plan.coverage == 1.0
    assert served_set(plan) == {frozenset(e) for e in grid(3, 3).edges}
    check_walks(G, plan, (0, 0))


def test_required_subset_rural_postman():
    G = grid(4, 4)
    req = [((0, 3), (1, 3)), ((3, 3), (3, 2)), ((3, 0), (2, 0))]
    plan = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2, required=req).solve(seed=0, **FAST)
    assert served_set(plan) == {frozenset(e) for e in req}
    check_walks(G, plan, (0, 0))


def test_one_way_arcs_respected_in_directed_mode():
    # a one-way ring 0 -> 1 -> 2 -> 3 -> 0 plus a two-way spoke 0 - 4
    edges = [
        (0, 1, 10.0),
        (1, 2, 10.0),
        (2, 3, 10.0),
        (3, 0, 10.0),
        (0, 4, 5.0, 5.0),
        (2, 4, 7.0, None),
    ]  # last one: one-way 2 -> 4 written as a 4-tuple
    solver = MinMaxRoutes.from_edges(edges, depot=0, k=2, directed=True)
    plan = solver.solve(seed=0, **FAST)
    for r in plan.routes:
        for a, b, key in r.edges:
            u, v = edges[key][:2]
            if key in (0, 1, 2, 3, 5):
                assert (a, b) == (u, v), f"one-way edge {key} traversed backwards"
            else:
                assert {a, b} == {u, v}
        assert r.nodes[0] == 0 and r.nodes[-1] == 0
    assert sorted(e for r in plan.routes for e in r.served) == list(range(6))


def test_osmnx_like_multidigraph_merges_two_way_streets():
    G = nx.MultiDiGraph()
    grid_ = grid(3, 3)
    for u, v, d in grid_.edges(data=True):
        G.add_edge(u, v, key=0, length=d["length"], oneway=False)
        G.add_edge(v, u, key=0, length=d["length"], oneway=False)
    # make one street one-way: remove its reverse arc and flag it
    G.remove_edge((1, 1), (1, 0), key=0)
    G.edges[(1, 0), (1, 1), 0]["oneway"] = True
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2)
    plan = solver.solve(seed=0, **FAST)
    served = [e for r in plan.routes for e in r.served]
    assert len(served) == grid_.number_of_edges()  # one task per street, not per arc
    assert {solver.street_id(e) for e in G.edges(keys=True)} == set(served)
    assert len(set(served)) == len(served)
    check_walks(G, plan, (0, 0))
    for r in plan.routes:
        assert ((1, 1), (1, 0), 0) not in r.edges


def test_unreachable_one_way_dead_end_is_reported():
    # 0 - 1 two-way; 1 -> 2 one-way with no way back: cannot be part of a closed walk
    edges = [(0, 1, 3.0, 3.0), (1, 2, 4.0)]
    plan = MinMaxRoutes.from_edges(edges, depot=0, k=1, directed=True).solve(seed=0, **FAST)
    assert plan.unreachable == [1]
    assert plan.routes[0].served == [0]


def test_rotations_differ_and_stay_within_tolerance():
    G = grid(4, 5)
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=3)
    plans = solver.rotations(3, seed=0, time_limit=6.0, tolerance=0.05, max_iterations=60)
    assert len(plans) == 3
    longest = [p.longest for p in plans]
    assert max(longest) <= min(longest) * 1.05 + 1e-9
    splits = [frozenset(frozenset(map(frozenset, r.served)) for r in p.routes) for p in plans]
    assert len(set(splits)) == 3, "plans must differ in their edge-to-team split"
    for p in plans:
        check_walks(G, p, (0, 0))
        assert served_set(p) == {frozenset(e) for e in G.edges}


def test_shift_overflow_flagged_and_sorties_split():
    G = grid(4, 4)
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2)
    plan = solver.solve(seed=0, shift=500.0, **FAST)
    assert plan.longest > 500.0
    assert plan.over_shift and all(r.over_shift == (r.cost > 500.0) for r in plan.routes)
    split = solver.solve(seed=0, shift=800.0, split_sorties=True, **FAST)
    assert len(split.routes) > 2
    for r in split.routes:
        assert r.nodes[0] == (0, 0) and r.nodes[-1] == (0, 0)
        assert r.over_shift == (r.cost > 800.0)
    assert served_set(split) == {frozenset(e) for e in G.edges}
    check_walks(G, split, (0, 0))
    roomy = solver.solve(seed=0, shift=1e9, **FAST)
    assert roomy.over_shift == [] and not any(r.over_shift for r in roomy.routes)


def test_per_team_shift_limits_flag_late_starters():
    G = grid(4, 4)
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2)
    plan = solver.solve(seed=0, **FAST)
    longest = plan.longest
    # team 1 starts late: its limit is below every route, team 0's above
    staggered = solver.solve(seed=0, shift=[longest + 1.0, 1.0], **FAST)
    assert staggered.over_shift == [1]
    with pytest.raises(GridPatrolError, match="2 teams"):
        solver.solve(seed=0, shift=[1.0, 2.0, 3.0], **FAST)


def test_time_limit_covers_search_and_path_expansion(monkeypatch):
    import time

    # a virtual clock that ticks 1 ms per reading: the deadline is met in clock readings,
    # so a busy machine cannot make the test fail and a missed deadline check still does
    now = [0.0]

    def tick() -> float:
        now[0] += 1e-3
        return now[0]

    monkeypatch.setattr(time, "perf_counter", tick)
    solver = MinMaxRoutes.from_graph(grid(12, 12), depot=(0, 0), k=4)
    t0 = time.perf_counter()
    plan = solver.solve(seed=0, time_limit=0.6, max_stall=None)
    elapsed = time.perf_counter() - t0
    assert plan.stopped_by == "time"
    assert plan.iterations > 0  # the search ran until its share of the limit
    assert plan.seconds <= 0.6 and elapsed <= 0.6


def test_rotations_give_n_plans_even_when_the_time_limit_is_spent():
    solver = MinMaxRoutes.from_graph(grid(10, 10), depot=(0, 0), k=3)
    plans = solver.rotations(3, seed=0, time_limit=0.001, tolerance=0.2)
    assert len(plans) == 3
    assert len({frozenset(map(tuple, (r.edges for r in p.routes))) for p in plans}) == 3


def test_service_time_adds_to_route_cost():
    edges = [(0, 1, 10.0), (1, 2, 10.0), (2, 0, 10.0)]
    base = MinMaxRoutes.from_edges(edges, depot=0, k=1).solve(seed=0, **FAST)
    dwell = MinMaxRoutes.from_edges(edges, depot=0, k=1, service={1: 15.0}).solve(seed=0, **FAST)
    assert dwell.longest == pytest.approx(base.longest + 15.0)
    assert dwell.routes[0].deadhead_cost == base.routes[0].deadhead_cost


def test_bad_input_raises_clear_errors():
    G = grid(2, 2)
    with pytest.raises(InfeasiblePlanError, match="k must be"):
        MinMaxRoutes.from_graph(G, depot=(0, 0), k=0)
    with pytest.raises(NotFoundError, match="depot"):
        MinMaxRoutes.from_graph(G, depot=(9, 9), k=2)
    with pytest.raises(GridPatrolError, match="length"):
        MinMaxRoutes.from_graph(nx.path_graph(3), depot=0, k=1)
    with pytest.raises(ValueError):
        MinMaxRoutes.from_edges([(0, 1, -1.0)], depot=0, k=1)


def test_more_teams_than_edges_and_no_required_edges():
    plan = MinMaxRoutes.from_edges([(0, 1, 4.0)], depot=0, k=3).solve(seed=0, **FAST)
    assert len(plan.routes) == 3 and plan.longest == 8.0 and plan.shortest == 0.0
    empty = MinMaxRoutes.from_edges([(0, 1, 4.0)], depot=0, k=2, required=[]).solve(seed=0)
    assert empty.longest == 0.0 and empty.coverage == 1.0


@pytest.mark.shared
def test_real_carp_instance_gdb1():
    path = SHARED / "bench" / "carp" / "gdb" / "gdb1.dat"
    if not path.exists():
        pytest.skip("../shared is absent")
    text = path.read_text(encoding="latin-1")
    edges = [
        (int(a), int(b), int(c))
        for a, b, c in re.findall(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*coste\s+(\d+)", text)
    ]
    G = nx.MultiGraph()
    for i, (u, v, c) in enumerate(edges):
        G.add_edge(u, v, key=i, length=c)
    plan = MinMaxRoutes.from_edges(edges, depot=1, k=4).solve(
        seed=0, time_limit=3.0, max_iterations=200
    )
    check_walks(G, plan, 1)
    assert sorted(e for r in plan.routes for e in r.served) == list(range(len(edges)))
    # computed/mmkcpp_computed.csv: gdb1, k=4: lb_simple 74, FHK 107
    assert 74 <= plan.longest <= 107


def test_lower_bound_counts_the_odd_node_deadheading_and_stays_valid():
    # a 1 x 3 ladder: 4 odd nodes, every closed walk repeats streets to pair them
    G = grid(2, 4)
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=1)
    work = sum(d["length"] for _, _, d in G.edges(data=True))
    assert solver.lower_bound > work  # the matching of odd nodes is counted
    plan = solver.solve(seed=0, **FAST)
    # one route: the exact Chinese postman tour meets the bound
    assert plan.longest >= solver.lower_bound - 1e-9
    assert math.isclose(plan.longest, solver.lower_bound)


@pytest.mark.parametrize("k", [1, 3])
def test_large_instance_search_gives_valid_plans(k, monkeypatch):
    from gridpatrol.geo.patrol import _search

    # the large-instance path (Euler construction, bisection split, no quadratic moves)
    monkeypatch.setattr(_search.Core, "large_at", 10)
    monkeypatch.setattr(_search.Core, "split_exact_max", 5)
    monkeypatch.setattr(_search.Core, "intra_max", 4)
    G = grid(6, 7)
    plan = MinMaxRoutes.from_graph(G, depot=(2, 3), k=k).solve(seed=1, **FAST)
    check_walks(G, plan, (2, 3))
    assert served_set(plan) == {frozenset(e) for e in G.edges}
    assert len(plan.routes) == k
    assert plan.lower_bound - 1e-9 <= plan.longest <= 1.5 * plan.lower_bound


@pytest.mark.parametrize("with_xy", [True, False])
def test_granular_moves_keep_every_edge_once_and_never_lengthen_the_plan(with_xy):
    import numpy as np

    G = grid(9, 9)
    if with_xy:
        for (i, j), d in G.nodes.items():
            d["x"], d["y"] = 100.0 * i, 100.0 * j
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=4)
    core = solver._core
    core.deadline = float("inf")
    nb = core.neighbours()
    assert nb.shape == (core.T, min(core.granular_k, core.T - 1))
    assert not (nb == np.arange(core.T)[:, None]).any()  # no edge is its own neighbour
    # a deliberately poor start: the giant tour cut into unequal pieces
    x = np.array([core.DEP, *range(0, 2 * core.T, 2), core.DEP])
    giant = core.euler(x)
    cuts = [0, 10, 20, 40, core.T]
    routes = [
        np.array([core.DEP, *giant[1:-1][a:b], core.DEP])
        for a, b in zip(cuts, cuts[1:], strict=False)
    ]
    costs = [core.cost(r) for r in routes]
    before = sorted(costs, reverse=True)
    out, out_costs = core._granular_descent(list(routes), list(costs))
    tasks = np.concatenate([r[1:-1] // 2 for r in out])
    assert sorted(tasks.tolist()) == list(range(core.T))
    assert all(r[0] == core.DEP and r[-1] == core.DEP for r in out)
    assert all(math.isclose(c, core.cost(r)) for r, c in zip(out, out_costs, strict=True))
    assert sorted(out_costs, reverse=True) < before  # leximax descent
    assert max(out_costs) < max(costs)


def test_osm_loop_streets_are_two_way():
    # osmnx stores a loop street as two arcs u -> u (keys 0 and 1), one per direction
    G = nx.MultiDiGraph()
    G.add_edge(0, 1, key=0, length=10.0)
    G.add_edge(1, 0, key=0, length=10.0)
    G.add_edge(1, 1, key=0, length=50.0)
    G.add_edge(1, 1, key=1, length=50.0)
    solver = MinMaxRoutes.from_graph(G, depot=0, k=1)
    plan = solver.solve(seed=0, **FAST)
    assert math.isclose(plan.longest, 70.0)
    assert len(plan.routes[0].served) == 2


def test_sector_territories_cover_every_edge_once_and_do_not_overlap(monkeypatch):
    import numpy as np

    from gridpatrol.geo.patrol import _search

    monkeypatch.setattr(_search.Core, "large_at", 10)
    G = grid(8, 8)
    for (i, j), d in G.nodes.items():
        d["x"], d["y"] = 100.0 * i, 100.0 * j
    solver = MinMaxRoutes.from_graph(G, depot=(4, 4), k=4)
    core = solver._core
    core.deadline = float("inf")
    routes = core.territories(4, np.random.default_rng(0))
    tasks = np.concatenate([x[1:-1] // 2 for x in routes])
    assert sorted(tasks.tolist()) == list(range(core.T))
    # sectors: the bearings of a territory's edges form one run around the depot
    xy = core.xy
    for x in routes:
        t = x[1:-1] // 2
        mid = 0.5 * (xy[core.S[2 * t]] + xy[core.E[2 * t]]) - xy[0]
        ang = np.sort(np.arctan2(mid[:, 1], mid[:, 0]))
        gaps = np.diff(np.concatenate([ang, [ang[0] + 2 * np.pi]]))
        assert gaps.max() >= np.pi / 2 - 1e-9  # the other three quarters lie elsewhere
    plan = solver.solve(seed=0, **FAST)
    check_walks(G, plan, (4, 4))
    assert served_set(plan) == {frozenset(e) for e in G.edges}


@pytest.mark.parametrize("k", [2, 4])
def test_network_territories_are_connected_balanced_and_do_not_overlap(k):
    import shapely

    G = grid(9, 9)
    for (i, j), d in G.nodes.items():
        d["x"], d["y"] = 100.0 * i, 100.0 * j
    solver = MinMaxRoutes.from_graph(G, depot=(4, 4), k=k)
    plan = solver.solve(seed=0, territories=True, **FAST)
    check_walks(G, plan, (4, 4))
    assert served_set(plan) == {frozenset(e) for e in G.edges}
    assert len(plan.routes) == k
    assert plan.longest <= 1.3 * plan.lower_bound
    hulls = []
    for r in plan.routes:
        # each team's streets form one piece of the street network
        assert nx.is_connected(nx.Graph([tuple(e) for e in r.served]))
        pts = (
            [G.nodes[n]["x"] for e in r.served for n in e],
            [G.nodes[n]["y"] for e in r.served for n in e],
        )
        hulls.append(shapely.MultiPoint(list(zip(*pts, strict=True))).convex_hull)
    overlap = sum(hulls[a].intersection(hulls[b]).area for a in range(k) for b in range(a + 1, k))
    assert overlap <= 0.1 * 800.0 * 800.0  # compact: hulls barely overlap
