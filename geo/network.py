"""Street networks: osmnx graphs to and from the model's street layers. Never downloads.

Graphs are osmnx ``MultiDiGraph`` objects: a two-way street is two opposite edges, a
one-way street (driving network) one edge. Lengths are metres (``length``).
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from .errors import SchemaError

NETWORKS = ("walk", "drive")


def _ox():
    """osmnx, imported when first needed: it pulls in sklearn (seconds of start-up)."""
    import osmnx

    return osmnx


def _first(value):
    if isinstance(value, (list, tuple)):
        return value[0] if value else ""
    return value


def _text(value) -> str:
    value = _first(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def graph_to_layers(
    G: nx.MultiDiGraph, *, network: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split an osmnx graph into ``street_nodes`` and ``streets`` layers.

    Parameters
    ----------
    G
        An osmnx graph (any CRS; the layers keep it).
    network
        ``"walk"`` or ``"drive"``.

    Returns
    -------
    (nodes, edges) with the model's columns, in the graph's CRS.
    """
    if network not in NETWORKS:
        raise SchemaError(f"network must be one of {NETWORKS}, not {network!r}")
    nodes, edges = _ox().convert.graph_to_gdfs(G, nodes=True, edges=True, fill_edge_geometry=True)
    nodes = nodes.reset_index()
    node_layer = gpd.GeoDataFrame(
        {
            "network": network,
            "node_id": nodes["osmid"].astype("int64"),
            "street_count": pd.to_numeric(
                nodes["street_count"] if "street_count" in nodes else 0, errors="coerce"
            ),
        },
        geometry=nodes.geometry.values,
        crs=nodes.crs,
    )
    node_layer["street_count"] = node_layer["street_count"].fillna(0).astype("int64")
    edges = edges.reset_index()
    oneway = edges["oneway"] if "oneway" in edges else pd.Series(False, index=edges.index)
    edge_layer = gpd.GeoDataFrame(
        {
            "network": network,
            "u": edges["u"].astype("int64"),
            "v": edges["v"].astype("int64"),
            "key": edges["key"].astype("int64"),
            "osm_id": edges["osmid"].map(_text) if "osmid" in edges else "",
            "name": edges["name"].map(_text) if "name" in edges else "",
            "highway": edges["highway"].map(_text) if "highway" in edges else "",
            "length_m": edges["length"].astype("float64"),
            "oneway": oneway.map(lambda v: bool(_first(v)) if v == v else False),
        },
        geometry=edges.geometry.values,
        crs=edges.crs,
    )
    return node_layer, edge_layer


def graph_from_layers(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame) -> nx.MultiDiGraph:
    """Rebuild an osmnx graph from ``street_nodes`` and ``streets`` layers of one network."""
    if nodes.crs is None or edges.crs is None:
        raise SchemaError("street layers need a CRS")
    if len(edges) == 0:
        raise SchemaError("the street layer is empty: import OSM data first")
    gnodes = gpd.GeoDataFrame(
        {
            "x": shapely.get_x(nodes.geometry.values),
            "y": shapely.get_y(nodes.geometry.values),
            "street_count": nodes["street_count"].to_numpy(),
        },
        geometry=nodes.geometry.values,
        index=pd.Index(nodes["node_id"].to_numpy(), name="osmid"),
        crs=nodes.crs,
    )
    gedges = gpd.GeoDataFrame(
        {
            "osmid": edges["osm_id"].to_numpy(),
            "name": edges["name"].to_numpy(),
            "highway": edges["highway"].to_numpy(),
            "length": edges["length_m"].to_numpy(),
            "oneway": edges["oneway"].to_numpy(),
        },
        geometry=edges.geometry.values,
        index=pd.MultiIndex.from_arrays(
            [edges["u"].to_numpy(), edges["v"].to_numpy(), edges["key"].to_numpy()],
            names=["u", "v", "key"],
        ),
        crs=edges.crs,
    )
    return _ox().convert.graph_from_gdfs(gnodes, gedges)


def edges_in_area(G: nx.MultiDiGraph, area, *, min_share: float = 0.5) -> list[tuple]:
    """Edges ``(u, v, key)`` lying mostly inside ``area`` (a polygon in the graph's CRS).

    An edge counts when at least ``min_share`` of its length is inside: streets along the
    boundary go to one side, not both.
    """
    _, edges = _ox().convert.graph_to_gdfs(G, nodes=True, edges=True, fill_edge_geometry=True)
    geoms = edges.geometry.values
    inside = shapely.length(shapely.intersection(geoms, area))
    total = shapely.length(geoms)
    keep = inside >= min_share * np.maximum(total, 1e-9)
    return [tuple(ix) for ix in edges.index[keep]]


def nearest_node(G: nx.MultiDiGraph, x: float, y: float, *, among=None):
    """The graph node closest to (x, y) in the graph's CRS, optionally among some nodes."""
    if among is None:
        return _ox().distance.nearest_nodes(G, x, y)
    nodes = list(among)
    pts = shapely.points([G.nodes[n]["x"] for n in nodes], [G.nodes[n]["y"] for n in nodes])
    return nodes[int(shapely.STRtree(pts).nearest(shapely.Point(x, y)))]


def main_component(G: nx.MultiDiGraph, edges: list[tuple]) -> set:
    """Nodes of the weakly connected component holding most of ``edges``' length.

    A station placed by hand often snaps to a stray footway; routing from the component
    that holds the streets to patrol is what the planner meant.
    """
    best, best_len = set(), -1.0
    for comp in nx.weakly_connected_components(G):
        length = sum(G.edges[e].get("length", 0.0) for e in edges if e[0] in comp)
        if length > best_len:
            best, best_len = comp, length
    return best


def nearest_edges(
    G: nx.MultiDiGraph, x, y, *, candidates: list[tuple] | None = None
) -> list[tuple]:
    """For each point, the closest edge ``(u, v, key)``, among ``candidates`` when given."""
    _, edges = _ox().convert.graph_to_gdfs(G, nodes=True, edges=True, fill_edge_geometry=True)
    if candidates is not None:
        edges = edges.loc[[c for c in candidates if c in edges.index]]
    if len(edges) == 0:
        return []
    tree = shapely.STRtree(edges.geometry.values)
    pos = tree.nearest(shapely.points(np.asarray(x, dtype=float), np.asarray(y, dtype=float)))
    return [tuple(edges.index[p]) for p in np.atleast_1d(pos)]


def unreachable_streets(G: nx.MultiDiGraph, edges: list[tuple], depot) -> gpd.GeoDataFrame:
    """The streets a patrol from ``depot`` cannot walk, with the reason, for drawing.

    Parameters
    ----------
    G
        The street graph (any CRS; the result is in it).
    edges
        Edges ``(u, v, key)`` the planner reported unreachable.
    depot
        The station's node.

    Returns
    -------
    GeoDataFrame
        ``u``, ``v``, ``key``, ``reason`` and the edge's line: reason ``"disconnected"``
        (no street links it with the station's network) or ``"one_way"`` (one-way
        streets lead there but none back).
    """
    comp = nx.node_connected_component(G.to_undirected(as_view=True), depot)
    rows, lines = [], []
    for e in edges:
        u, v, key = (*e, 0)[:3] if len(e) == 2 else e
        data = G.edges[u, v, key]
        geom = data.get("geometry")
        if geom is None:
            geom = shapely.LineString(
                [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])]
            )
        reason = "one_way" if u in comp else "disconnected"
        rows.append({"u": u, "v": v, "key": key, "reason": reason})
        lines.append(geom)
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["u", "v", "key", "reason"]),
        geometry=lines,
        crs=G.graph.get("crs"),
    )
