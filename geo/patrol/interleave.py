"""Do the routes of different teams interleave? One measure, used by the planner and benches.

A team's *territory hull* is the convex hull of the streets it serves.  The *interleave
share* of a team is the share of the length it walks (serving and deadheading alike) that
lies inside another team's territory hull: 0 when every team keeps to its own area, near 1
when the routes criss-cross the same streets.  Issue 14 asks for at most 0.05 per team.

Convex hulls rather than the streets themselves, because what a planner sees on the map,
and what makes two teams meet, is one team walking through the area the other one covers,
not only on its streets.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import shapely

from .plan import Plan

__all__ = ["edge_line", "interleave_shares", "territory_hulls"]


def edge_line(G: nx.MultiDiGraph, u, v, key=None) -> shapely.LineString:
    """The geometry of edge ``(u, v, key)`` of an osmnx graph (straight when it has none)."""
    data = G.get_edge_data(u, v)
    if G.is_multigraph():
        data = data[key] if key in data else next(iter(data.values()))
    d = data
    if "geometry" in d:
        return d["geometry"]
    return shapely.LineString(
        [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])]
    )


def _by_team(plan: Plan) -> dict[int, list]:
    teams: dict[int, list] = {}
    for r in plan.routes:  # a team may have several sorties
        teams.setdefault(r.team, []).append(r)
    return dict(sorted(teams.items()))


def territory_hulls(G: nx.MultiDiGraph, plan: Plan) -> list[shapely.Geometry | None]:
    """Convex hull of the streets each team serves, in the graph's CRS (``None``: none).

    Returns
    -------
    list
        One polygon (or line/point for a degenerate territory) per team, in team order.
    """
    out = []
    for routes in _by_team(plan).values():
        served = [edge_line(G, *e) for r in routes for e in r.served]
        out.append(shapely.convex_hull(shapely.union_all(served)) if served else None)
    return out


def _walked(route, *, approach: bool) -> list[tuple]:
    """Edges of a route; without ``approach``, from its first served street to its last."""
    if approach or not route.served:
        return list(route.edges)
    ids = set(map(tuple, route.served))
    # a two-way street is served along either of its arcs
    on = [tuple(e) in ids or (e[1], e[0], *e[2:]) in ids for e in route.edges]
    first = on.index(True)
    last = len(on) - 1 - on[::-1].index(True)
    return list(route.edges[first : last + 1])


def interleave_shares(
    G: nx.MultiDiGraph,
    plan: Plan,
    *,
    hulls: Sequence[shapely.Geometry | None] | None = None,
    approach: bool = True,
) -> np.ndarray:
    """Share of each team's walked length inside another team's territory hull.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The projected (metric) graph the plan was made on.
    plan : Plan
        A plan from :class:`~gridpatrol.geo.patrol.MinMaxRoutes`; sorties of one team
        count together.
    hulls : sequence, optional
        Territory hulls per team (default: :func:`territory_hulls`).
    approach : bool
        Count the walk from the station to the first served street and back from the
        last (the issue's measure).  ``False`` measures only the walk within the
        territory: a team whose station lies in or beyond another territory has to
        cross it to reach its own.

    Returns
    -------
    ndarray, shape (teams,)
        Fractions in [0, 1]; 0 for a team that walks nothing or when there is one team.
    """
    teams = _by_team(plan)
    if hulls is None:
        hulls = territory_hulls(G, plan)
    out = np.zeros(len(teams))
    for t, routes in enumerate(teams.values()):
        lines = [edge_line(G, *e) for r in routes for e in _walked(r, approach=approach)]
        total = float(sum(line.length for line in lines))
        others = [h for j, h in enumerate(hulls) if j != t and h is not None and h.area > 0]
        if not others or total <= 0:
            continue
        union = shapely.union_all(others)
        shapely.prepare(union)
        inside = shapely.length(shapely.intersection(np.array(lines, dtype=object), union))
        out[t] = float(inside.sum()) / total
    return out
