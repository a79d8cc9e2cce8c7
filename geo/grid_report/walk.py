"""Walk tours of the grid report: the Chinese-postman tour of each grid's streets.

The matching of odd nodes is :func:`gridpatrol.geo.postman.match_odd_nodes`; here are
the street network, the pieces a grid's streets fall into and the spanning tree joining
them (the rural-postman heuristic of Frederickson 1979).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree

from ..geometry import check_geometries
from ..postman import matching_cost
from .inputs import _check_layers, _codes, _geoms, _numbers, _require

_TOUR_MARGIN_M = 250.0  # streets this far around a grid may be used to walk between its streets


@dataclass
class _Network:
    """The walk network as undirected edges on node numbers 0..n-1."""

    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    mid: np.ndarray
    n_nodes: int
    route: np.ndarray  # the shortest of parallel edges (and no loops): the edges to route on
    _full: Any = None

    @classmethod
    def from_layer(cls, streets: gpd.GeoDataFrame) -> _Network:
        geoms = _geoms(streets)
        if "length_m" in streets.columns:
            length = _numbers(streets, "streets", "length_m")
        else:
            length = shapely.length(geoms)
        m = len(geoms)
        if "u" in streets.columns and "v" in streets.columns:
            _, inv = np.unique(
                np.r_[streets["u"].to_numpy(), streets["v"].to_numpy()], return_inverse=True
            )
        else:  # no topology given: nodes are the line ends, matched to the centimetre
            ends = np.r_[
                shapely.get_coordinates(shapely.get_point(geoms, 0)),
                shapely.get_coordinates(shapely.get_point(geoms, -1)),
            ]
            _, inv = np.unique(np.round(ends, 2), axis=0, return_inverse=True)
        inv = inv.ravel()
        u, v = inv[:m], inv[m:]
        # an osmnx walk graph holds every street twice (u->v and v->u): keep one of each;
        # distinct streets between the same two nodes differ in length and are kept
        lo, hi = np.minimum(u, v), np.maximum(u, v)
        key = pd.DataFrame({"lo": lo, "hi": hi, "len": np.round(length, 1)})
        keep = ~key.duplicated().to_numpy() & (length > 0)
        lo, hi, length = lo[keep], hi[keep], length[keep]
        mid = shapely.line_interpolate_point(geoms[keep], 0.5, normalized=True)
        # csr matrices add up duplicate entries, so route on the shortest of parallel edges
        order = np.lexsort((length, hi, lo))
        first = np.r_[True, (lo[order][1:] != lo[order][:-1]) | (hi[order][1:] != hi[order][:-1])]
        route = np.zeros(len(lo), dtype=bool)
        route[order[first]] = True
        route &= lo != hi
        return cls(lo, hi, length, mid, int(inv.max(initial=-1)) + 1, route)

    def full(self):
        if self._full is None:
            r = self.route
            self._full = _csr(self.u[r], self.v[r], self.length[r], self.n_nodes)
        return self._full


def _csr(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int):
    """Symmetric sparse distance matrix of edges without duplicates."""
    w = np.maximum(w, 1e-9)  # a zero would be read as "no edge"
    return coo_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n, n)).tocsr()


def _tour(net: _Network, own: np.ndarray, local: np.ndarray) -> tuple[float, int]:
    """Length of a closed walk over every edge in ``own``; and the number of street pieces.

    ``local`` are the edges near the grid, which the walk may use to get between its own
    streets (the full network is used when they are not enough).
    """
    if len(own) == 0:
        return 0.0, 0
    edges = np.union1d(own, local)
    nodes, inv = np.unique(np.r_[net.u[edges], net.v[edges]], return_inverse=True)
    lu, lv = inv[: len(edges)], inv[len(edges) :]
    r = net.route[edges]
    L = _csr(lu[r], lv[r], net.length[edges][r], len(nodes))
    is_own = np.isin(edges, own)
    ou, ov = lu[is_own], lv[is_own]
    mine = np.unique(np.r_[ou, ov])
    deg = np.bincount(np.r_[ou, ov], minlength=len(nodes))
    total = float(net.length[own].sum())
    # connect the pieces of the grid's streets: minimum spanning tree of the shortest
    # walks between pieces (the rural-postman heuristic of Frederickson 1979)
    own_graph = coo_matrix((np.ones(len(ou)), (ou, ov)), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(own_graph, directed=False)
    comps = np.unique(comp[mine])
    if len(comps) > 1:
        members = [mine[comp[mine] == c] for c in comps]
        dist, ends = _between(net, nodes, L, members)
        mst = minimum_spanning_tree(np.where(np.isfinite(dist), np.maximum(dist, 1e-9), 0.0))
        for a, c in zip(*mst.nonzero(), strict=True):
            x, y = ends[a, c]
            deg[x] += 1
            deg[y] += 1
            total += float(dist[a, c])
    odd = np.flatnonzero(deg % 2 == 1)
    if len(odd):
        D = dijkstra(L, indices=odd)[:, odd]
        if not np.isfinite(D).all():
            D = np.minimum(D, dijkstra(net.full(), indices=nodes[odd])[:, nodes[odd]])
        total += matching_cost(D)
    return total, int(len(comps))


def _between(net: _Network, nodes: np.ndarray, L, members: list[np.ndarray]):
    """Shortest walk between every two pieces and the (local) node pair it joins.

    Uses the streets near the grid, and the whole network where they do not connect.
    """
    k = len(members)
    dist = np.full((k, k), np.inf)
    ends = np.zeros((k, k, 2), dtype=np.int64)
    for a in range(k):
        da = dijkstra(L, indices=members[a])
        full = None
        for c in range(k):
            if c == a:
                continue
            sub = da[:, members[c]]
            if not np.isfinite(sub).any():
                if full is None:
                    full = dijkstra(net.full(), indices=nodes[members[a]])
                sub = full[:, nodes[members[c]]]
            r, s = np.unravel_index(np.argmin(sub), sub.shape)
            dist[a, c] = sub[r, s]
            ends[a, c] = (members[a][r], members[c][s])
    return dist, ends


def _by_input(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(pairs[0], kind="stable")
    return pairs[0][order], pairs[1][order]


def _walk_tours(
    g: np.ndarray, net: _Network, buffer_m: float, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(g)
    street_len = np.full(n, np.nan)
    tour = np.full(n, np.nan)
    pieces = np.full(n, np.nan)
    if len(net.u) == 0:
        street_len[which] = 0.0
        tour[which] = 0.0
        pieces[which] = 0
        return street_len, tour, pieces
    tree = shapely.STRtree(net.mid)
    sub = g[which]
    # a grid's streets: those whose midpoint is in it or within the buffer of it, so the
    # streets along its boundary count for every grid they bound
    gi, ei = _by_input(tree.query(sub, predicate="dwithin", distance=buffer_m))
    li, le = _by_input(tree.query(sub, predicate="dwithin", distance=_TOUR_MARGIN_M))
    own_at = np.searchsorted(gi, np.arange(len(sub) + 1))
    loc_at = np.searchsorted(li, np.arange(len(sub) + 1))
    for k, i in enumerate(which):
        own = ei[own_at[k] : own_at[k + 1]]
        local = le[loc_at[k] : loc_at[k + 1]]
        street_len[i] = float(net.length[own].sum())
        tour[i], pieces[i] = _tour(net, own, local)
    return street_len, tour, pieces


#: The per-grid columns of a walk tour, in the report's order.
TOUR_COLUMNS = (
    "street_length_m",
    "tour_length_m",
    "tour_minutes",
    "minutes_per_day",
    "tour_pieces",
)


def _tour_columns(
    g: np.ndarray,
    net: _Network,
    buffer_m: float,
    which: np.ndarray,
    walk_speed_kmh: float,
    patrols_per_day: float,
) -> dict[str, np.ndarray]:
    """The :data:`TOUR_COLUMNS` of grids ``which`` (NaN for the others)."""
    street_len, tour, pieces = _walk_tours(g, net, buffer_m, which)
    minutes = tour / (walk_speed_kmh * 1000.0 / 60.0)
    return {
        "street_length_m": street_len,
        "tour_length_m": tour,
        "tour_minutes": minutes,
        "minutes_per_day": minutes * patrols_per_day,
        "tour_pieces": pieces,
    }


def walk_tour_table(
    grids: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame,
    boundary_buffer_m: float = 5.0,
    walk_speed_kmh: float = 4.0,
    patrols_per_day: float = 2,
) -> pd.DataFrame:
    """The walk tour of each grid, alone: the costly part of a report, to cache apart.

    A grid's tour depends on its own outline and the streets only (not on the other
    grids, the buildings or the incidents), so a table made once per grid version can
    be joined to every later report of it with :meth:`GridReport.with_walk_tours`.

    Parameters
    ----------
    grids
        Grid (or sub-grid) polygons with ``code``, in the metric CRS of ``streets``.
    streets, boundary_buffer_m, walk_speed_kmh, patrols_per_day
        As in :func:`~gridpatrol.geo.grid_report.validate_grids`.

    Returns
    -------
    DataFrame indexed by ``code`` with the :data:`TOUR_COLUMNS`.
    """
    _check_layers({"grids": grids, "streets": streets})
    _require(grids, "grids", ["code"])
    codes = _codes(grids, "grids", "code", unique=True)
    g = _geoms(grids)
    check_geometries(g, what="grid", labels=[repr(c) for c in codes])
    check_geometries(_geoms(streets), what="streets", allowed=("LineString", "MultiLineString"))
    columns = _tour_columns(
        g,
        _Network.from_layer(streets),
        boundary_buffer_m,
        np.arange(len(g)),
        walk_speed_kmh,
        patrols_per_day,
    )
    return pd.DataFrame(columns, index=pd.Index(codes, name="code"))
