"""Did a team walk its planned route? Compare a GPS track with the planned streets.

Method (geometric coverage, not path inference): every planned street is sampled every
:data:`SAMPLE_SPACING_M` metres (at the middle of equal pieces); a sample is *covered*
when the GPS track lies within ``max_distance_m`` of it. The track counts as the
polyline through its points in time order, so sparse fixes (one every 30-60 s) still
cover the street between them; consecutive points more than ``max_gap_m`` apart are
not joined (a signal loss must not draw a straight line across blocks). A street is
*walked* when its covered share reaches ``min_covered_share``. The two opposite arcs of
a two-way street are one street: walking it either way covers both. Track length
farther than ``max_distance_m`` from every planned street is *off plan*.

Known limits: a planned street running within ``max_distance_m`` of a street that was
walked (a parallel sidewalk, a short stub at a junction) counts as covered for that
stretch; a heading check or an HMM matcher would separate them.

Why hand-written: PyPI has map matchers (``leuvenmapmatching``, last release 2022;
``mappymatch``, which pulls matplotlib and igraph and pins an older pandas;
``gotrackit``, ``fastmm`` with compiled cores). They answer a different question --
which path through the whole network a trace most likely took -- and we need a simpler,
more robust one: how much of a *known plan* lies along the trace. That is a few
vectorised shapely calls on an STRtree, with no new dependency.

Pure: graphs and geometries in, plain dataclasses out, no I/O.
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

from .crs import check_crs
from .errors import InvalidGeometryError, SchemaError
from .walk_edges import (
    _check_edges,
    _check_metric_graph,
    _edge_length,
    _oriented_coords,
    _plain,
    street_label,
)

__all__ = ["SAMPLE_SPACING_M", "ComplianceReport", "EdgeCoverage", "check_compliance"]

#: Spacing of the sample points along planned streets.
SAMPLE_SPACING_M = 5.0


@dataclass(frozen=True)
class EdgeCoverage:
    """Coverage of one planned edge.

    Attributes
    ----------
    u, v, key
        The planned arc (as given in the plan, direction of travel).
    street : str
        Street name, or highway type ("footway"...) when unnamed.
    named : bool
        True when ``street`` is a real name.
    street_id : int
        Index of the street; the two opposite arcs of one street share it.
    length_m : float
        Length of the edge.
    covered_m : float
        Length of it with the track within ``max_distance_m``.
    covered_share : float
        ``covered_m / length_m`` (1.0 for a zero-length edge the track passed).
    walked : bool
        ``covered_share >= min_covered_share``.
    """

    u: Hashable
    v: Hashable
    key: Any
    street: str
    named: bool
    street_id: int
    length_m: float
    covered_m: float
    covered_share: float
    walked: bool

    def to_dict(self) -> dict:
        """Plain JSON-ready mapping."""
        out = asdict(self)
        for name in ("u", "v", "key"):
            out[name] = _plain(out[name])
        return out


@dataclass(frozen=True)
class ComplianceReport:
    """How much of a plan a GPS track walked.

    Attributes
    ----------
    edges : list of EdgeCoverage
        One per distinct planned arc, in plan order.
    missed : list of EdgeCoverage
        Planned streets not walked, one entry per street, in plan order.
    planned_length_m : float
        Length of the distinct planned streets (a street planned both ways counts once).
    walked_length_m : float
        Length of the planned streets that were walked.
    walked_share : float
        ``walked_length_m / planned_length_m``: the share of planned length walked.
    covered_length_m, covered_share : float
        Same with partial coverage counted (sum of covered stretches).
    n_streets, n_walked : int
        Number of distinct planned streets, and of those walked.
    track_length_m : float
        Length of the track polyline (gaps longer than ``max_gap_m`` left out).
    off_plan_m, off_plan_share : float
        Track length farther than ``max_distance_m`` from every planned street, and its
        share of ``track_length_m``.
    n_track_points : int
        Points in the track.
    max_distance_m, min_covered_share, max_gap_m : float
        Parameters used.
    """

    edges: list[EdgeCoverage]
    missed: list[EdgeCoverage]
    planned_length_m: float
    walked_length_m: float
    walked_share: float
    covered_length_m: float
    covered_share: float
    n_streets: int
    n_walked: int
    track_length_m: float
    off_plan_m: float
    off_plan_share: float
    n_track_points: int
    max_distance_m: float
    min_covered_share: float
    max_gap_m: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready mapping."""
        out = asdict(self)
        out["edges"] = [e.to_dict() for e in self.edges]
        out["missed"] = [e.to_dict() for e in self.missed]
        return out


def _check_positive(value, name: str, *, upper: float | None = None) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SchemaError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(out) or out <= 0 or (upper is not None and out > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise SchemaError(f"{name} must be greater than 0{bound}, not {value!r}")
    return out


def _track_xy(track_points, crs) -> np.ndarray:
    """Track points as an (n, 2) array in the graph's CRS, checked."""
    if isinstance(track_points, (gpd.GeoDataFrame, gpd.GeoSeries)):
        check_crs(track_points, crs, what="the GPS track")
        geoms = np.asarray(
            track_points.geometry.values
            if isinstance(track_points, gpd.GeoDataFrame)
            else track_points.values
        )
    elif isinstance(track_points, np.ndarray) and track_points.ndim == 2:
        if track_points.shape[1] != 2:
            raise SchemaError(f"track coordinates must be (n, 2) x/y, not {track_points.shape}")
        return track_points.astype("float64")
    elif isinstance(track_points, Sequence) and not isinstance(track_points, (str, bytes)):
        geoms = np.asarray(
            [p if isinstance(p, shapely.Geometry) else shapely.points(p) for p in track_points],
            dtype=object,
        )
    else:
        raise SchemaError(
            "track_points must be a GeoDataFrame/GeoSeries of points, a list of points or "
            f"an (n, 2) array, not {type(track_points).__name__}"
        )
    if len(geoms) == 0:
        return np.empty((0, 2))
    kinds = shapely.get_type_id(geoms)
    bad = np.flatnonzero((kinds != 0) | shapely.is_empty(geoms))
    if len(bad):
        raise InvalidGeometryError(
            f"the GPS track must be non-empty points; point {int(bad[0])} is "
            f"{shapely.to_wkt(geoms[bad[0]]) if geoms[bad[0]] is not None else None}"
        )
    return shapely.get_coordinates(geoms)


def _track_segments(xy: np.ndarray, max_gap_m: float) -> np.ndarray:
    """Track as an array of 2-point lines (and single points where isolated)."""
    if len(xy) == 0:
        return np.empty(0, dtype=object)
    if len(xy) == 1:
        return shapely.points(xy)
    step = np.hypot(*(xy[1:] - xy[:-1]).T)
    keep = step <= max_gap_m
    segs = shapely.linestrings(np.stack([xy[:-1][keep], xy[1:][keep]], axis=1))
    # Points joined to no neighbour still count (a lone fix between two gaps).
    joined = np.zeros(len(xy), dtype=bool)
    joined[:-1] |= keep
    joined[1:] |= keep
    return np.concatenate([segs, shapely.points(xy[~joined])])


def _samples(lines: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoints of equal pieces (about ``spacing`` long) of each line.

    Returns the points, the index of the line each belongs to, and the number of pieces
    of each line.
    """
    length = shapely.length(lines)
    n = np.maximum(1, np.ceil(length / spacing)).astype("int64")
    owner = np.repeat(np.arange(len(lines)), n)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
    frac = (rank + 0.5) / n[owner]
    return shapely.line_interpolate_point(lines[owner], frac, normalized=True), owner, n


def _near_share(lines: np.ndarray, others: np.ndarray, distance: float) -> np.ndarray:
    """Share of the length of each line lying within ``distance`` of any of ``others``."""
    if len(lines) == 0:
        return np.zeros(0)
    if len(others) == 0:
        return np.zeros(len(lines))
    pts, owner, n = _samples(lines, SAMPLE_SPACING_M)
    hit = np.unique(shapely.STRtree(others).query(pts, predicate="dwithin", distance=distance)[0])
    return np.bincount(owner[hit], minlength=len(lines)) / n


def check_compliance(
    G: nx.MultiDiGraph,
    planned_edges: Sequence,
    track_points,
    *,
    max_distance_m: float = 20.0,
    min_covered_share: float = 0.8,
    max_gap_m: float = 150.0,
) -> ComplianceReport:
    """Compare a GPS track with a planned route.

    Parameters
    ----------
    G
        The osmnx graph the plan was made on, projected to metres.
    planned_edges
        ``[(u, v, key), ...]``: the planned route (need not be one walk; a list of
        streets to cover is fine). Repeated arcs count once.
    track_points
        GPS fixes in time order, in the graph's CRS: a GeoDataFrame or GeoSeries of
        points (its CRS is checked), a list of shapely points or (x, y) pairs, or an
        (n, 2) array. An empty track is accepted and walks nothing.
    max_distance_m
        How far the track may lie from a street and still count as walking it; phone
        GPS in a city is often 5-15 m off.
    min_covered_share
        Share of a street's length that must be covered for it to count as walked.
    max_gap_m
        Consecutive fixes farther apart than this are not joined by a straight line.

    Returns
    -------
    ComplianceReport

    Raises
    ------
    CRSError
        The graph is not metric, or the track is in another CRS.
    SchemaError, NotFoundError, InvalidGeometryError
        Bad parameters, planned edges not in ``G``, track items that are not points.
    """
    crs = _check_metric_graph(G)
    max_d = _check_positive(max_distance_m, "max_distance_m")
    share_needed = _check_positive(min_covered_share, "min_covered_share", upper=1.0)
    max_gap = _check_positive(max_gap_m, "max_gap_m")
    if not isinstance(planned_edges, Sequence) or len(planned_edges) == 0:
        raise SchemaError("planned_edges must be a non-empty list of (u, v, key)")
    arcs: list[tuple] = []
    seen: set[tuple] = set()
    for arc in (_check_edges(G, [e])[0] for e in planned_edges):
        if arc not in seen:
            seen.add(arc)
            arcs.append(arc)
    xy = _track_xy(track_points, crs)

    # Streets: an arc and an opposite planned-or-not arc of about the same length are one.
    street_of: dict[tuple, int] = {}
    street_arcs: list[tuple] = []
    for arc in arcs:
        if arc in street_of:
            continue
        sid = len(street_arcs)
        street_arcs.append(arc)
        street_of[arc] = sid
        partner = _opposite_arc(G, arc)
        if partner is not None:
            street_of.setdefault(partner, sid)

    lines = [shapely.LineString(_oriented_coords(G, a)) for a in street_arcs]
    lengths = np.array([_edge_length(G, a) for a in street_arcs])
    segments = _track_segments(xy, max_gap)

    # Coverage of each street: share of its samples within max_d of the track.
    shares = _near_share(np.asarray(lines, dtype=object), segments, max_d)
    walked = shares >= share_needed - 1e-9

    # Off plan: the part of the track farther than max_d from every planned street.
    seg_len = shapely.length(segments) if len(segments) else np.zeros(0)
    track_len = float(seg_len.sum())
    lines_only = segments[seg_len > 0] if len(segments) else segments
    near = _near_share(lines_only, np.asarray(lines, dtype=object), max_d)
    off = float((shapely.length(lines_only) * (1.0 - near)).sum()) if len(lines_only) else 0.0

    edges = []
    for arc in arcs:
        sid = street_of[arc]
        name, named = street_label(G, arc)
        length = _edge_length(G, arc)
        edges.append(
            EdgeCoverage(
                u=arc[0],
                v=arc[1],
                key=arc[2],
                street=name,
                named=named,
                street_id=sid,
                length_m=length,
                covered_m=float(shares[sid] * length),
                covered_share=float(shares[sid]),
                walked=bool(walked[sid]),
            )
        )
    first_of_street = {}
    for e in edges:
        first_of_street.setdefault(e.street_id, e)
    missed = [e for sid, e in first_of_street.items() if not walked[sid]]
    planned = float(lengths.sum())
    walked_len = float(lengths[walked].sum())
    covered_len = float((lengths * shares).sum())
    notes = []
    if len(xy) == 0:
        notes.append("the track is empty: nothing was walked")
    elif track_len == 0:
        notes.append("the track has no two consecutive fixes within max_gap_m")
    return ComplianceReport(
        edges=edges,
        missed=missed,
        planned_length_m=planned,
        walked_length_m=walked_len,
        walked_share=walked_len / planned if planned > 0 else float(walked.all()),
        covered_length_m=covered_len,
        covered_share=covered_len / planned if planned > 0 else float(shares.mean()),
        n_streets=len(street_arcs),
        n_walked=int(walked.sum()),
        track_length_m=track_len,
        off_plan_m=max(0.0, off),
        off_plan_share=max(0.0, off) / track_len if track_len > 0 else 0.0,
        n_track_points=len(xy),
        max_distance_m=max_d,
        min_covered_share=share_needed,
        max_gap_m=max_gap,
        notes=notes,
    )


def _opposite_arc(G: nx.MultiDiGraph, arc: tuple) -> tuple | None:
    """The reverse arc of the same street: ``v -> u`` with the closest length (within 5 %)."""
    u, v, key = arc
    if u == v or not G.has_edge(v, u):
        return None
    length = _edge_length(G, arc)
    best = min(G[v][u], key=lambda k: abs(_edge_length(G, (v, u, k)) - length))
    other = _edge_length(G, (v, u, best))
    if abs(other - length) <= max(1.0, 0.05 * length):
        return (v, u, best)
    return None
