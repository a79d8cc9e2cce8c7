"""Routes cut into shifts over a cycle, and walks re-ordered to turn back least (issue 14)."""

from __future__ import annotations

import networkx as nx
import numpy as np

from gridpatrol.geo.patrol import MinMaxRoutes
from gridpatrol.geo.patrol._turns import fewest_turns

FAST = {"time_limit": 5.0, "max_iterations": 30}


def grid(n: int = 8, m: int = 8, length: float = 100.0) -> nx.Graph:
    G = nx.grid_2d_graph(n, m)
    for u, v in G.edges:
        G.edges[u, v]["length"] = length
    for node in G.nodes:
        G.nodes[node]["x"], G.nodes[node]["y"] = float(node[0] * length), float(node[1] * length)
    return G


def served(plan) -> set:
    return {frozenset(e) for r in plan.routes for e in r.served}


def uturns(route) -> int:
    n = route.nodes
    return sum(1 for i in range(1, len(n) - 1) if n[i - 1] == n[i + 1])


def test_every_sortie_fits_its_shift_and_the_cycle_covers_the_route():
    G = grid()
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2)
    plan = solver.solve(seed=0, **FAST)
    cut = solver.cut_into_shifts(plan, shift=3000.0)
    assert cut.beyond_shift == [] and cut.over_shift == []
    assert all(r.cost <= 3000.0 + 1e-6 and r.nodes[0] == r.nodes[-1] == (0, 0) for r in cut.routes)
    assert served(cut) == {frozenset(e) for e in G.edges} and cut.coverage == 1.0
    # one sortie a day: days are 0..n-1 per team, and each team's streets are its route's
    for team in range(2):
        days = sorted(r.sortie for r in cut.routes if r.team == team)
        assert days == list(range(cut.days[team]))
        mine = {frozenset(e) for r in cut.routes if r.team == team for e in r.served}
        assert mine == {frozenset(e) for e in plan.routes[team].served}
    # a shift as long as the route: one day per team
    whole = solver.cut_into_shifts(plan, shift=plan.longest)
    assert whole.days == [1, 1]


def test_streets_too_far_for_a_shift_are_reported_not_overrun():
    G = grid()
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=1)
    plan = solver.solve(seed=0, **FAST)
    # 1,200 m: a round trip reaches streets up to 550 m away (Manhattan) and back
    cut = solver.cut_into_shifts(plan, shift=1200.0)
    assert cut.over_shift == [] and all(r.cost <= 1200.0 + 1e-6 for r in cut.routes)
    far = {
        frozenset(e)
        for e in G.edges
        if min(sum(e[0]), sum(e[1])) * 100 + 100 + max(sum(e[0]), sum(e[1])) * 100 > 1200
    }
    assert {frozenset(e) for e in cut.beyond_shift} == far
    assert served(cut) == {frozenset(e) for e in G.edges} - far
    assert cut.coverage == (G.number_of_edges() - len(far)) / G.number_of_edges()


def test_priority_streets_are_in_every_shift_the_rest_rotate():
    G = grid()
    hot = [((1, 1), (1, 2)), ((2, 0), (2, 1))]
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=1, service={hot[0]: 200.0})
    plan = solver.solve(seed=0, **FAST)
    cut = solver.cut_into_shifts(plan, shift=3000.0, every_shift=hot)
    assert cut.days[0] > 2 and cut.every_shift_rotated == []
    rest = []
    for r in cut.routes:
        assert r.cost <= 3000.0 + 1e-6
        got = {frozenset(e) for e in r.served}
        assert {frozenset(e) for e in hot} <= got
        rest.append(got - {frozenset(e) for e in hot})
    # the other streets are walked once per cycle: the shifts differ
    assert sum(len(x) for x in rest) == len(set().union(*rest)) == G.number_of_edges() - 2
    # priority streets whose own tour takes more than the allowed share rotate instead
    tight = solver.cut_into_shifts(plan, shift=3000.0, every_shift=hot, every_shift_share=0.1)
    assert tight.every_shift_rotated == [solver.street_id(hot[0]), solver.street_id(hot[1])]


def test_fewest_turns_keeps_the_arcs_and_removes_avoidable_uturns():
    # a square block walked as out-and-back spurs: 0-1-0-3-2-3-0 style U-turns
    xy = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], dtype=float)
    arcs = [
        (0, 1, 0, "a"),
        (1, 0, 0, None),
        (0, 3, 0, "d"),
        (3, 2, 0, "c"),
        (2, 1, 0, "b"),
        (1, 2, 0, None),
        (2, 3, 0, None),
        (3, 0, 0, None),
    ]
    got = fewest_turns(arcs, 0, xy=xy)
    assert sorted(got, key=repr) == sorted(arcs, key=repr)
    assert got[0][0] == 0 and got[-1][1] == 0
    assert all(a[1] == b[0] for a, b in zip(got[:-1], got[1:], strict=True))
    nodes = [got[0][0]] + [a[1] for a in got]
    turns = sum(1 for i in range(1, len(nodes) - 1) if nodes[i - 1] == nodes[i + 1])
    # a block walked both ways turns back once (at the depot, between the two laps); the
    # given order turned back twice
    assert turns == 1


def test_plans_have_fewer_uturns_with_turn_smoothing():
    G = grid(6, 6)
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=3)
    plan = solver.solve(seed=0, **FAST)
    solver.smooth_turns = False
    raw = solver._plan(
        plan.sequences,
        seed=0,
        iterations=0,
        seconds=0.0,
        stopped_by="",
        shift=None,
        split_sorties=False,
    )
    assert [r.cost for r in raw.routes] == [r.cost for r in plan.routes]
    assert served(raw) == served(plan)
    assert sum(map(uturns, plan.routes)) <= sum(map(uturns, raw.routes))
