"""Patrol routes as teams walk them: geometry, turn-by-turn steps, summary, GeoJSON.

A route is what the patrol solver (:mod:`gridpatrol.geo.patrol`) returns for one team: an
ordered list of directed edges ``[(u, v, key), ...]`` of an osmnx ``MultiDiGraph``
projected to metres, each edge in the direction of travel (a two-way street walked
against its stored direction is given as its reverse arc), from the station node and,
for a closed walk, back to it. Dwell stops are ``(position, minutes)`` or
``(position, minutes, label)``, where ``position`` is either

* an ``int`` from ``0`` to ``len(edges)``: the node reached after that many edges
  (``0`` = at the station before leaving, ``len(edges)`` = at the end of the walk), or
* an edge ``(u, v, key)``: at the end of the first traversal of that street (either
  direction, so the solver's id of a two-way street works whichever arc it names).

Graph node ids are *not* accepted as positions: osmnx node ids are integers too, and an
integer is always read as a position.

Turn directions come from the change of compass bearing at the junction, measured
between the last :data:`BEARING_REACH_M` metres of the incoming edge and the first
:data:`BEARING_REACH_M` metres of the outgoing one (a short window ignores the tiny
kinks OSM ways have at their ends). With ``delta`` the change in degrees, positive to
the right:

=====================  ===================
``abs(delta)``         action
=====================  ===================
< 20                   straight (continue)
20 to < 45             slight left/right
45 to < 120            left/right
120 to < 165           sharp left/right
>= 165                 u-turn
=====================  ===================

An edge followed by its own reverse arc is a U-turn whatever the angle. Consecutive
edges on the same street (same ``name``, or for unnamed ways the same ``highway`` type,
such as "footway") are merged into one step, except

* at a U-turn, or where a dwell stop sits between them;
* at a junction (a node with more than two neighbours), where a named street is split
  by a sharp turn, and an unnamed way by any turn sharper than slight: "the footway"
  is many different footways, and the walker must know which one to take.

Where the way merely bends (a node with two neighbours) nothing is said.

Pure: graphs in, plain dataclasses out (each with ``to_dict()``), no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from .crs import WGS84, CRSLike, parse_crs
from .errors import CRSError
from .walk_edges import (  # noqa: F401  (re-exported: the public names of this module)
    BEARING_REACH_M,
    DWELL_LABEL,
    TURN_THRESHOLDS,
    Edge,
    _check_edges,
    _check_metric_graph,
    _check_speed,
    _compass,
    _edge_length,
    _end_bearings,
    _first_text,
    _graph_crs,
    _node_xy,
    _oriented_coords,
    _plain,
    _resolve_dwells,
    _turn_action,
    street_label,
)

__all__ = [
    "BEARING_REACH_M",
    "TURN_THRESHOLDS",
    "RouteStop",
    "RouteSummary",
    "Step",
    "route_geometry",
    "route_stops",
    "route_summary",
    "route_to_geojson_feature",
    "street_label",
    "turn_list",
]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Step:
    """One step of a turn list (as data; phrased by ``maps/steps.py``).

    Attributes
    ----------
    index : int
        Position of the step in the list.
    action : str
        ``"start"``, ``"depart"`` (first street), ``"straight"``, ``"slight_left"``,
        ``"left"``, ``"sharp_left"``, ``"slight_right"``, ``"right"``, ``"sharp_right"``,
        ``"u_turn"``, ``"dwell"`` or ``"arrive"``.
    street : str
        Street name, or the highway type ("footway", "path"...) of an unnamed way;
        empty for start, dwell and arrive steps (they carry the node instead).
    named : bool
        True when ``street`` is a real street name.
    distance_m : float
        Metres walked in this step (0 for start, dwell and arrive).
    cumulative_m : float
        Metres walked from the start to the end of this step.
    minutes : float
        Duration of the step: walking time, or the dwell time.
    cumulative_minutes : float
        Time from the start to the end of this step, dwells included.
    node : hashable
        Node where the step begins (the junction of a turn, the dwell node).
    bearing_change : float or None
        Change of bearing in degrees at ``node`` (positive to the right), None when it
        does not apply.
    edges : list of int
        Positions in the route of the edges walked in this step.
    highway : str
        OSM ``highway`` type of the way walked ("residential", "footway"...), empty for
        start, dwell and arrive steps; renderers phrase it per language.
    heading : str
        Compass heading ("north"...) of a ``depart`` step, else empty.
    same_street : bool
        True when a turn or straight step stays on the street of the previous step.
    label : str
        Dwell label for ``dwell`` steps; ``"station"`` or ``"end"`` for ``arrive``.

    A step is data: ``maps/steps.py`` phrases it per language at render time
    ("Turn left onto Aleksanterinkatu, walk 120 m", "左转进入Aleksanterinkatu，步行 120 米").
    """

    index: int
    action: str
    street: str
    named: bool
    distance_m: float
    cumulative_m: float
    minutes: float
    cumulative_minutes: float
    node: Hashable
    bearing_change: float | None = None
    edges: list[int] = field(default_factory=list)
    highway: str = ""
    heading: str = ""
    same_street: bool = False
    label: str = ""

    def to_dict(self) -> dict:
        """Plain JSON-ready mapping."""
        out = asdict(self)
        out["node"] = _plain(self.node)
        return out


@dataclass(frozen=True)
class RouteSummary:
    """Totals of one route.

    Attributes
    ----------
    length_m : float
        Walked length (sum of the edges' ``length``).
    walk_minutes, dwell_minutes, total_minutes : float
        Walking time at the given speed, time spent at dwell stops, and their sum.
    n_edges, n_dwells : int
        Number of edges walked and of dwell stops.
    station : hashable
        First node of the walk.
    closed : bool
        True when the walk ends where it starts.
    speed_kmh : float
        Walking speed used.
    """

    length_m: float
    walk_minutes: float
    dwell_minutes: float
    total_minutes: float
    n_edges: int
    n_dwells: int
    station: Hashable
    closed: bool
    speed_kmh: float

    def to_dict(self) -> dict:
        """Plain JSON-ready mapping."""
        out = asdict(self)
        out["station"] = _plain(self.station)
        return out


@dataclass(frozen=True)
class RouteStop:
    """A point where a team stops: the station, or a dwell stop.

    Attributes
    ----------
    kind : str
        ``"station"`` or ``"dwell"``.
    name : str
        "Station" or the dwell label ("hot spot"...).
    position : int
        Node position in the route (0 .. number of edges).
    node : hashable
        Graph node.
    x, y : float
        Coordinates in the graph's CRS.
    lon, lat : float
        WGS84 coordinates.
    minutes : float
        Dwell time (0 for the station).
    """

    kind: str
    name: str
    position: int
    node: Hashable
    x: float
    y: float
    lon: float
    lat: float
    minutes: float = 0.0

    def to_dict(self) -> dict:
        """Plain JSON-ready mapping."""
        out = asdict(self)
        out["node"] = _plain(self.node)
        return out


# --------------------------------------------------------------------------- public


def route_geometry(
    G: nx.MultiDiGraph, edges: Sequence, *, to_crs: CRSLike | None = None
) -> shapely.LineString:
    """The line a team walks, in the direction of travel.

    Parameters
    ----------
    G
        osmnx graph; any CRS (the route is returned in it unless ``to_crs`` is given).
    edges
        ``[(u, v, key), ...]`` in the order walked; ``(u, v)`` picks the shortest
        parallel edge.
    to_crs
        Reproject the line to this CRS (e.g. ``"EPSG:4326"`` for GPX).

    Returns
    -------
    shapely.LineString
        Edge geometries joined end to end (each reversed when stored the other way,
        straight lines for edges without one), starting at the first edge's ``u`` and
        ending at the last edge's ``v``.

    Raises
    ------
    SchemaError, NotFoundError, InvalidGeometryError
        Malformed edges, edges not in ``G``, or edges that do not join into one walk.
    CRSError
        ``to_crs`` is given but the graph has no CRS.
    """
    walk = _check_edges(G, edges)
    target = None
    if to_crs is not None:
        target = parse_crs(to_crs)
        if isinstance(target, str):
            raise CRSError("route_geometry cannot write gcj02/bd09; use WGS84 or a projected CRS")
        source = _graph_crs(G)
    parts = [_oriented_coords(G, e) for e in walk]
    coords = np.concatenate([parts[0]] + [p[1:] for p in parts[1:]])
    line = shapely.LineString(coords)
    if target is not None and not source.equals(target, ignore_axis_order=True):
        line = gpd.GeoSeries([line], crs=source).to_crs(target).iloc[0]
    return line


def route_summary(
    G: nx.MultiDiGraph, edges: Sequence, *, speed_kmh: float, dwells=None
) -> RouteSummary:
    """Length and duration of a route.

    Parameters
    ----------
    G
        osmnx graph projected to metres.
    edges
        ``[(u, v, key), ...]`` in the order walked.
    speed_kmh
        Walking speed.
    dwells
        ``[(position, minutes[, label]), ...]``; see the module docstring.

    Raises
    ------
    CRSError
        The graph is not in a projected metric CRS.
    """
    _check_metric_graph(G)
    speed = _check_speed(speed_kmh)
    walk = _check_edges(G, edges)
    stops = _resolve_dwells(G, walk, dwells)
    length = float(sum(_edge_length(G, e) for e in walk))
    walk_min = length / (speed * 1000.0 / 60.0)
    dwell_min = float(sum(m for _, m, _ in stops))
    return RouteSummary(
        length_m=length,
        walk_minutes=walk_min,
        dwell_minutes=dwell_min,
        total_minutes=walk_min + dwell_min,
        n_edges=len(walk),
        n_dwells=len(stops),
        station=walk[0][0],
        closed=walk[-1][1] == walk[0][0],
        speed_kmh=speed,
    )


def turn_list(G: nx.MultiDiGraph, edges: Sequence, *, speed_kmh: float, dwells=None) -> list[Step]:
    """Turn-by-turn steps of a route, dwell stops included.

    Parameters
    ----------
    G
        osmnx graph projected to metres.
    edges
        ``[(u, v, key), ...]`` in the order walked, from the station.
    speed_kmh
        Walking speed, for the minutes of each step.
    dwells
        ``[(position, minutes[, label]), ...]``; see the module docstring.

    Returns
    -------
    list of Step
        "Start at station", one step per street stretch ("Head north on ...",
        "Turn left onto ...", "Continue on ..."), "Dwell 12 min at hot spot" steps and
        "Arrive at station". The ``distance_m`` of the steps add up to
        :func:`route_summary`'s ``length_m``; the last ``cumulative_minutes`` is its
        ``total_minutes``.

    Raises
    ------
    CRSError
        The graph is not in a projected metric CRS (bearings need one).
    """
    _check_metric_graph(G)
    speed = _check_speed(speed_kmh)
    walk = _check_edges(G, edges)
    stops = _resolve_dwells(G, walk, dwells)
    m_per_min = speed * 1000.0 / 60.0

    coords = [_oriented_coords(G, e) for e in walk]
    bearings = [_end_bearings(c) for c in coords]
    lengths = [_edge_length(G, e) for e in walk]
    labels = [street_label(G, e) for e in walk]
    dwell_at: dict[int, list[tuple[float, str]]] = {}
    for pos, minutes, label in stops:
        dwell_at.setdefault(pos, []).append((minutes, label))

    steps: list[Step] = []
    dist = 0.0
    clock = 0.0

    def add(**kw) -> None:
        steps.append(Step(index=len(steps), **kw))

    def add_dwells(pos: int) -> None:
        nonlocal clock
        node = walk[pos][0] if pos < len(walk) else walk[-1][1]
        for minutes, label in dwell_at.get(pos, []):
            clock += minutes
            add(
                action="dwell",
                street="",
                named=False,
                distance_m=0.0,
                cumulative_m=dist,
                minutes=minutes,
                cumulative_minutes=clock,
                node=node,
                label=label,
            )

    station = walk[0][0]
    closed = walk[-1][1] == station
    add(
        action="start",
        street="",
        named=False,
        distance_m=0.0,
        cumulative_m=0.0,
        minutes=0.0,
        cumulative_minutes=0.0,
        node=station,
    )
    add_dwells(0)

    # Group edges into stretches: (first edge, last edge, action, bearing change).
    stretches: list[list] = []
    for i in range(len(walk)):
        if i == 0:
            stretches.append([0, 0, "depart", None])
            continue
        delta = (bearings[i][0] - bearings[i - 1][1] + 540.0) % 360.0 - 180.0
        reverse = (
            walk[i][0] == walk[i - 1][1]
            and walk[i][1] == walk[i - 1][0]
            and (walk[i][0] != walk[i][1])
        )
        action = _turn_action(delta, reverse)
        if labels[i] == labels[i - 1] and i not in dwell_at and action != "u_turn":
            node = walk[i][0]
            junction = len(set(G.successors(node)) | set(G.predecessors(node))) > 2
            named = labels[i][1]
            if (
                not junction
                or action in ("straight", "slight_left", "slight_right")
                or (named and action in ("left", "right"))
            ):
                stretches[-1][1] = i
                continue
        stretches.append([i, i, action, None if math.isnan(delta) else round(delta, 1)])

    for first, last, action, delta in stretches:
        if first > 0:
            add_dwells(first)
        d = float(sum(lengths[first : last + 1]))
        dist += d
        minutes = d / m_per_min
        clock += minutes
        name, named = labels[first]
        same = first > 0 and labels[first - 1] == labels[first]
        add(
            action=action,
            highway=_first_text(G.edges[walk[first]].get("highway")),
            heading=_compass(bearings[first][0]) if action == "depart" else "",
            same_street=same,
            street=name,
            named=named,
            distance_m=d,
            cumulative_m=dist,
            minutes=minutes,
            cumulative_minutes=clock,
            node=walk[first][0],
            bearing_change=delta,
            edges=list(range(first, last + 1)),
        )
    add_dwells(len(walk))
    end = walk[-1][1]
    add(
        action="arrive",
        street="",
        named=False,
        distance_m=0.0,
        cumulative_m=dist,
        minutes=0.0,
        cumulative_minutes=clock,
        node=end,
        label="station" if closed else "end",
    )
    return steps


def route_stops(G: nx.MultiDiGraph, edges: Sequence, *, dwells=None) -> list[RouteStop]:
    """The station and the dwell stops of a route, with graph and WGS84 coordinates.

    Parameters
    ----------
    G
        osmnx graph with a CRS.
    edges
        ``[(u, v, key), ...]`` in the order walked.
    dwells
        ``[(position, minutes[, label]), ...]``; see the module docstring.

    Returns
    -------
    list of RouteStop
        The station first, then dwell stops in route order (ready for GPX waypoints).
    """
    crs = _graph_crs(G)
    walk = _check_edges(G, edges)
    stops = _resolve_dwells(G, walk, dwells)
    nodes = [walk[0][0]] + [walk[p][0] if p < len(walk) else walk[-1][1] for p, _, _ in stops]
    xy = np.array([_node_xy(G, n) for n in nodes])
    ll = shapely.get_coordinates(gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs(WGS84).values)
    out = [RouteStop("station", "Station", 0, nodes[0], *map(float, xy[0]), *map(float, ll[0]))]
    for (pos, minutes, label), node, p, q in zip(stops, nodes[1:], xy[1:], ll[1:], strict=True):
        out.append(
            RouteStop(
                "dwell",
                label,
                pos,
                node,
                float(p[0]),
                float(p[1]),
                float(q[0]),
                float(q[1]),
                minutes,
            )
        )
    return out


def route_to_geojson_feature(
    G: nx.MultiDiGraph,
    edges: Sequence,
    *,
    team: Any,
    speed_kmh: float,
    dwells=None,
    precision: int = 7,
) -> dict:
    """One route as an RFC 7946 GeoJSON Feature in WGS84.

    Parameters
    ----------
    G
        osmnx graph projected to metres.
    edges
        ``[(u, v, key), ...]`` in the order walked.
    team
        Team id written to the properties.
    speed_kmh
        Walking speed, for the minutes.
    dwells
        ``[(position, minutes[, label]), ...]``; see the module docstring.
    precision
        Decimals kept in longitudes/latitudes (7 is about 1 cm).

    Returns
    -------
    dict
        ``{"type": "Feature", "geometry": {"type": "LineString", "coordinates":
        [[lon, lat], ...]}, "properties": {...}}`` with coordinates in the direction of
        travel and properties ``team``, ``length_m``, ``minutes`` (total, dwells
        included), ``walk_minutes``, ``dwell_minutes``, ``speed_kmh``, ``closed``.
    """
    summary = route_summary(G, edges, speed_kmh=speed_kmh, dwells=dwells)
    line = route_geometry(G, edges, to_crs=WGS84)
    coords = [
        [round(float(x), precision), round(float(y), precision)]
        for x, y in shapely.get_coordinates(line)
    ]
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": {
            "team": _plain(team),
            "length_m": round(summary.length_m, 1),
            "minutes": round(summary.total_minutes, 1),
            "walk_minutes": round(summary.walk_minutes, 1),
            "dwell_minutes": round(summary.dwell_minutes, 1),
            "speed_kmh": summary.speed_kmh,
            "closed": summary.closed,
        },
    }
