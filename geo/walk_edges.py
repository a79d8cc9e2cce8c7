"""Edges of a walk: validation, oriented geometry, bearings and turn classification.

Steps are data; ``maps/steps.py`` phrases them in every language (the one home of the
wording).

Helpers shared by :mod:`gridpatrol.geo.walks` (turn lists, summaries) and
:mod:`gridpatrol.geo.compliance` (walked tracks against planned walks); see
:mod:`gridpatrol.geo.walks` for the conventions (edges ``(u, v, key)`` in the direction
of travel on a projected osmnx ``MultiDiGraph``, dwell positions).

Pure, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np
import pyproj
import shapely

from .crs import check_metric_crs, parse_crs
from .errors import CRSError, InvalidGeometryError, NotFoundError, SchemaError

__all__ = ["BEARING_REACH_M", "DWELL_LABEL", "TURN_THRESHOLDS", "Edge", "street_label"]

#: Metres of each edge used to measure its bearing at a junction.
BEARING_REACH_M = 15.0

#: Upper bounds (degrees, exclusive) of |bearing change| for straight, slight, plain and
#: sharp turns; anything at or above the last bound is a U-turn.
TURN_THRESHOLDS = (20.0, 45.0, 120.0, 165.0)

#: Default label of a dwell stop.
DWELL_LABEL = "hot spot"

_COMPASS = ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest")

Edge = tuple[Hashable, Hashable, Any]


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- validation


def _graph_crs(G: nx.MultiDiGraph) -> pyproj.CRS:
    crs = G.graph.get("crs")
    if crs is None:
        raise CRSError("the graph has no CRS (G.graph['crs']): build it with osmnx or set one")
    parsed = parse_crs(crs)
    if isinstance(parsed, str):
        raise CRSError(f"the graph is in {parsed}: convert it to WGS84 and project it first")
    return parsed


def _check_metric_graph(G: nx.MultiDiGraph) -> pyproj.CRS:
    return check_metric_crs(_graph_crs(G), what="the street graph")


def _check_speed(speed_kmh) -> float:
    try:
        speed = float(speed_kmh)
    except (TypeError, ValueError):
        raise SchemaError(f"speed_kmh must be a number of km/h, not {speed_kmh!r}") from None
    if not math.isfinite(speed) or speed <= 0:
        raise SchemaError(f"speed_kmh must be positive (about 4-5 for a patrol), not {speed_kmh!r}")
    return speed


def _check_edges(G: nx.MultiDiGraph, edges: Sequence) -> list[Edge]:
    """Resolve ``(u, v, key)`` (or ``(u, v)``: shortest parallel edge) and check the chain."""
    if not isinstance(G, nx.MultiDiGraph):
        raise SchemaError(f"expected an osmnx MultiDiGraph, got {type(G).__name__}")
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence) or len(edges) == 0:
        raise SchemaError("a route needs a non-empty list of edges (u, v, key)")
    out: list[Edge] = []
    for i, edge in enumerate(edges):
        if not isinstance(edge, (tuple, list)) or len(edge) not in (2, 3):
            raise SchemaError(f"route edge {i} is {edge!r}; expected (u, v, key)")
        u, v = edge[0], edge[1]
        if not G.has_edge(u, v):
            raise NotFoundError(f"route edge {i} ({u}, {v}) is not in the graph")
        if len(edge) == 3:
            key = edge[2]
            if key not in G[u][v]:
                raise NotFoundError(
                    f"route edge {i} ({u}, {v}, {key!r}) is not in the graph; keys there are "
                    f"{sorted(G[u][v])}"
                )
        else:
            key = min(G[u][v], key=lambda k: _edge_length(G, (u, v, k)))
        if out and out[-1][1] != u:
            raise InvalidGeometryError(
                f"route edge {i} starts at node {u} but edge {i - 1} ended at node "
                f"{out[-1][1]}: the edges must form one walk in the direction of travel"
            )
        out.append((u, v, key))
    return out


# --------------------------------------------------------------------------- edges


def _node_xy(G: nx.MultiDiGraph, n: Hashable) -> tuple[float, float]:
    data = G.nodes[n]
    try:
        return float(data["x"]), float(data["y"])
    except KeyError:
        raise SchemaError(f"node {n} has no x/y coordinates") from None


def _oriented_coords(G: nx.MultiDiGraph, edge: Edge) -> np.ndarray:
    """Coordinates of an edge from ``u`` to ``v``, whatever the stored direction.

    A stored geometry is reversed when its first point is nearer ``v`` than ``u``; its
    end points are then set exactly on the nodes so that consecutive edges join.
    Edges without a geometry are straight lines.
    """
    u, v, key = edge
    pu, pv = _node_xy(G, u), _node_xy(G, v)
    geom = G.edges[u, v, key].get("geometry")
    if geom is None or shapely.is_empty(geom):
        return np.array([pu, pv], dtype="float64")
    coords = shapely.get_coordinates(geom).astype("float64")
    if len(coords) < 2:
        return np.array([pu, pv], dtype="float64")
    if u != v:
        d_fwd = math.dist(coords[0], pu) + math.dist(coords[-1], pv)
        d_rev = math.dist(coords[0], pv) + math.dist(coords[-1], pu)
        if d_rev < d_fwd:
            coords = coords[::-1].copy()
    coords[0] = pu
    coords[-1] = pv
    return coords


def _edge_length(G: nx.MultiDiGraph, edge: Edge) -> float:
    """The edge's ``length`` (metres), or its geometry's length when it has none."""
    value = G.edges[edge].get("length")
    try:
        length = float(value)
    except (TypeError, ValueError):
        length = float("nan")
    if not math.isfinite(length) or length < 0:
        length = float(shapely.LineString(_oriented_coords(G, edge)).length)
    return length


def _first_text(value) -> str:
    if isinstance(value, (list, tuple)):
        value = next((x for x in value if _first_text(x)), "")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def street_label(G: nx.MultiDiGraph, edge: Edge) -> tuple[str, bool]:
    """Name of the street an edge belongs to, and whether it is a real name.

    Unnamed ways are called by their ``highway`` type ("footway", "path"...), or "way".
    """
    data = G.edges[edge]
    name = _first_text(data.get("name"))
    if name:
        return name, True
    return _first_text(data.get("highway")).replace("_", " ") or "way", False


def _bearing(a, b) -> float:
    """Compass bearing (degrees, 0 = grid north, clockwise) from point a to point b."""
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360.0


def _end_bearings(coords: np.ndarray) -> tuple[float, float]:
    """Bearing leaving the start of a polyline and bearing arriving at its end."""
    line = shapely.LineString(coords)
    reach = min(BEARING_REACH_M, line.length)
    if reach <= 0:
        return float("nan"), float("nan")
    ahead = line.interpolate(reach)
    behind = line.interpolate(line.length - reach)
    return _bearing(coords[0], (ahead.x, ahead.y)), _bearing((behind.x, behind.y), coords[-1])


def _turn_action(delta: float, reverse: bool) -> str:
    if reverse:
        return "u_turn"
    if math.isnan(delta):
        return "straight"
    mag = abs(delta)
    side = "right" if delta > 0 else "left"
    straight, slight, plain, sharp = TURN_THRESHOLDS
    if mag < straight:
        return "straight"
    if mag < slight:
        return f"slight_{side}"
    if mag < plain:
        return side
    if mag < sharp:
        return f"sharp_{side}"
    return "u_turn"


def _compass(bearing: float) -> str:
    if math.isnan(bearing):
        return ""
    return _COMPASS[int(((bearing % 360.0) + 22.5) // 45.0) % 8]


# --------------------------------------------------------------------------- dwells


def _resolve_dwells(G: nx.MultiDiGraph, edges: list[Edge], dwells) -> list[tuple[int, float, str]]:
    """``(position, minutes[, label])`` -> sorted ``(node_position, minutes, label)``."""
    if dwells is None:
        return []
    out = []
    for i, item in enumerate(dwells):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise SchemaError(f"dwell {i} is {item!r}; expected (position, minutes[, label])")
        where, minutes = item[0], item[1]
        label = str(item[2]) if len(item) == 3 else DWELL_LABEL
        try:
            minutes = float(minutes)
        except (TypeError, ValueError):
            raise SchemaError(f"dwell {i}: minutes must be a number, not {minutes!r}") from None
        if not math.isfinite(minutes) or minutes < 0:
            raise SchemaError(f"dwell {i}: minutes must be zero or more, not {minutes!r}")
        if isinstance(where, (tuple, list)):
            if len(where) not in (2, 3) or not G.has_edge(*where):
                raise NotFoundError(f"dwell {i}: edge {tuple(where)!r} is not in the graph")
            pos = _edge_position(edges, tuple(where))
            if pos is None:
                raise NotFoundError(f"dwell {i}: edge {tuple(where)!r} is not on the route")
        elif isinstance(where, (int, np.integer)) and not isinstance(where, bool):
            pos = int(where)
            if not 0 <= pos <= len(edges):
                raise SchemaError(
                    f"dwell {i}: position {pos} is outside the route (0 .. {len(edges)}); "
                    "positions count edges walked, they are not node ids"
                )
        else:
            raise SchemaError(
                f"dwell {i}: position must be an int (edges walked) or an edge (u, v, key), "
                f"not {where!r}"
            )
        out.append((pos, minutes, label))
    return sorted(out, key=lambda d: d[0])  # stable: same-position dwells keep their order


def _edge_position(edges: list[Edge], edge: tuple) -> int | None:
    """Node position at the end of the first traversal of ``edge`` (either direction)."""
    u, v = edge[0], edge[1]
    key = edge[2] if len(edge) == 3 else None
    for i, (a, b, k) in enumerate(edges):
        if (a, b) == (u, v) and (key is None or k == key):
            return i + 1
    for i, (a, b, _) in enumerate(edges):
        if (a, b) == (v, u):
            return i + 1
    return None
