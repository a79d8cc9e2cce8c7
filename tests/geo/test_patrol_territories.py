"""Territories and several stations in the patrol solver, and the interleave measure."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from gridpatrol.geo.errors import InfeasiblePlanError, NotFoundError, SchemaError
from gridpatrol.geo.patrol import MinMaxRoutes
from gridpatrol.geo.patrol.interleave import interleave_shares, territory_hulls
from gridpatrol.geo.patrol.plan import Plan, Route

FAST = {"time_limit": 5.0}


def city(n: int = 10) -> nx.MultiDiGraph:
    """A square street grid with 100 m blocks, as osmnx gives it (two arcs per street)."""
    G = nx.MultiDiGraph(crs="EPSG:3067")
    for i in range(n):
        for j in range(n):
            G.add_node((i, j), x=100.0 * i, y=100.0 * j)
    for (i, j) in list(G.nodes):
        for di, dj in ((1, 0), (0, 1)):
            if (i + di, j + dj) in G:
                length = 100.0 + ((i + j) % 3)
                G.add_edge((i, j), (i + di, j + dj), 0, length=length)
                G.add_edge((i + di, j + dj), (i, j), 0, length=length)
    return G


def streets(plan: Plan) -> list:
    return [frozenset(e[:2]) for r in plan.routes for e in r.served]


def check_closed_walks(G, plan: Plan, stations: list) -> None:
    for r in plan.routes:
        home = stations[r.team]
        assert r.nodes[0] == home and r.nodes[-1] == home
        cost = 0.0
        for i, (a, b, key) in enumerate(r.edges):
            assert (a, b) == (r.nodes[i], r.nodes[i + 1]) and G.has_edge(a, b, key)
            cost += G.edges[a, b, key]["length"]
        assert math.isclose(cost, r.cost)


def test_teams_at_three_stations_walk_their_own_corner():
    G = city()
    stations = [(0, 0), (9, 0), (5, 9)]
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=3, depots=stations)
    plan = solver.solve(seed=0, territories=True, **FAST)
    check_closed_walks(G, plan, stations)
    served = streets(plan)
    assert len(served) == len(set(served)) == G.number_of_edges() // 2  # each street once
    assert plan.coverage == 1.0 and plan.longest >= plan.lower_bound - 1e-9
    xy = {n: np.array([d["x"], d["y"]]) for n, d in G.nodes(data=True)}
    for r in plan.routes:
        # a team's streets lie nearer its own station than any other, on average
        mids = np.array([(xy[e[0]] + xy[e[1]]) / 2 for e in r.served])
        dist = [np.linalg.norm(mids - xy[s], axis=1).mean() for s in stations]
        assert int(np.argmin(dist)) == r.team
    # balanced within reason; on a grid a border across the blocks is a staircase that
    # pulls each hull half a block over the neighbour: ~0.13 here, not yet the 0.05 goal
    assert plan.longest <= 1.35 * plan.shortest
    assert interleave_shares(G, plan).max() <= 0.2


def test_one_station_gives_compact_balanced_territories():
    G = city()
    solver = MinMaxRoutes.from_graph(G, depot=(5, 5), k=4)
    plan = solver.solve(seed=0, territories=True, **FAST)
    check_closed_walks(G, plan, [(5, 5)] * 4)
    assert sorted(streets(plan), key=sorted) == sorted(
        {frozenset((u, v)) for u, v, _ in G.edges(keys=True)}, key=sorted
    )
    assert plan.longest <= 1.3 * plan.lower_bound
    hulls = territory_hulls(G, plan)
    overlap = sum(hulls[a].intersection(hulls[b]).area for a in range(4) for b in range(a))
    assert overlap <= 0.05 * 900.0 * 900.0
    # the walk within each territory stays out of the others (the way from the station
    # to a territory that does not hold it may cross another)
    assert interleave_shares(G, plan, approach=False).max() <= 0.2


def test_several_stations_need_territories_and_valid_stations():
    G = city(4)
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2, depots=[(0, 0), (3, 3)])
    with pytest.raises(InfeasiblePlanError, match="territories=True"):
        solver.solve(seed=0, **FAST)
    with pytest.raises(InfeasiblePlanError, match="territories=True"):
        solver.rotations(2, seed=0, **FAST)
    with pytest.raises(SchemaError, match="3 stations for 2 teams"):
        MinMaxRoutes.from_graph(G, depot=(0, 0), k=2, depots=[(0, 0)] * 3)
    with pytest.raises(NotFoundError, match="not a node"):
        MinMaxRoutes.from_graph(G, depot=(0, 0), k=2, depots=[(0, 0), (9, 9)])


def test_without_coordinates_stations_share_by_network_distance():
    edges = [(i, i + 1, 10.0) for i in range(20)] + [(20, 0, 10.0)]  # a ring
    solver = MinMaxRoutes.from_edges(edges, depot=0, k=2, depots=[0, 10])
    plan = solver.solve(seed=0, territories=True, **FAST)
    assert [r.nodes[0] for r in plan.routes] == [0, 10]
    assert [r.nodes[-1] for r in plan.routes] == [0, 10]
    assert sorted(e for r in plan.routes for e in r.served) == list(range(21))
    assert plan.coverage == 1.0
    # each station serves the half of the ring nearer to it (out and back, or round)
    assert sorted(len(r.served) for r in plan.routes) in ([10, 11], [9, 12])
    assert plan.longest <= 210.0


def test_rotations_keep_territories_and_sorties_start_at_home():
    G = city(8)
    stations = [(0, 0), (7, 7)]
    solver = MinMaxRoutes.from_graph(G, depot=(0, 0), k=2, depots=stations)
    days = solver.rotations(3, seed=0, territories=True, **FAST)
    assert len(days) == 3
    first = [set(map(frozenset, (e[:2] for e in r.served))) for r in days[0].routes]
    for plan in days:
        check_closed_walks(G, plan, stations)
        assert [set(map(frozenset, (e[:2] for e in r.served))) for r in plan.routes] == first
    assert days[1].routes[0].nodes != days[0].routes[0].nodes  # walked the other way
    shifts = solver.cut_into_shifts(days[0], shift=2000.0)
    assert len(shifts.routes) > 2
    check_closed_walks(G, shifts, stations)
    assert {e for r in shifts.routes for e in r.served} == {
        e for r in days[0].routes for e in r.served
    }


def test_interleave_share_counts_walking_inside_another_hull():
    G = city(4)
    a = [((0, 0), (1, 0), 0), ((1, 0), (1, 1), 0), ((1, 1), (0, 1), 0), ((0, 1), (0, 0), 0)]
    b = [((2, 2), (3, 2), 0), ((3, 2), (3, 3), 0), ((3, 3), (2, 3), 0), ((2, 3), (2, 2), 0)]
    # team 1 walks from (0, 0) through team 0's square to its own and back
    reach = [((0, 0), (1, 0), 0), ((1, 0), (2, 0), 0), ((2, 0), (2, 1), 0), ((2, 1), (2, 2), 0)]
    back = [(v, u, k) for u, v, k in reversed(reach)]

    def route(team, edges, served):
        nodes = [edges[0][0]] + [e[1] for e in edges]
        return Route(team, nodes, edges, 100.0 * len(edges), 0.0, served)

    plan = Plan(
        [route(0, a, a), route(1, reach + b + back, b)], 0, 0, 0, 0, [], 1.0, 0.0
    )
    share = interleave_shares(G, plan)
    assert share[0] == 0.0
    # of its 12 blocks team 1 walks (0,0)-(1,0) there and back inside team 0's square
    assert share[1] == pytest.approx(2 / 12)
    assert interleave_shares(G, plan, approach=False)[1] == 0.0
