"""Tests of gridpatrol.geo.network helpers used by patrol planning."""

from __future__ import annotations

import networkx as nx
import shapely

from gridpatrol.geo.network import unreachable_streets
from gridpatrol.geo.patrol import MinMaxRoutes


def test_unreachable_streets_carry_their_reason_and_line():
    G = nx.MultiDiGraph(crs="EPSG:3067")
    for n, (x, y) in {0: (0, 0), 1: (100, 0), 2: (200, 0), 5: (0, 500), 6: (100, 500)}.items():
        G.add_node(n, x=float(x), y=float(y))
    G.add_edge(0, 1, 0, length=100.0, oneway=False)
    G.add_edge(1, 0, 0, length=100.0, oneway=False)
    G.add_edge(1, 2, 0, length=100.0, oneway=True)  # a one-way dead end: no way back
    G.add_edge(5, 6, 0, length=100.0, oneway=False)  # an island
    G.add_edge(6, 5, 0, length=100.0, oneway=False)
    plan = MinMaxRoutes.from_graph(G, depot=0, k=1).solve(seed=0, time_limit=2.0)
    out = unreachable_streets(G, plan.unreachable, 0)
    assert sorted(out["reason"]) == ["disconnected", "one_way"]
    assert set(zip(out["u"], out["v"], strict=True)) == {(1, 2), (5, 6)}
    one_way = out.loc[out["reason"] == "one_way"].geometry.iloc[0]
    assert shapely.equals(one_way, shapely.LineString([(100, 0), (200, 0)]))
    assert out.crs == "EPSG:3067"
