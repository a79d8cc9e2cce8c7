"""The planner's validation report for a grid layer (issue 4 §1).

:func:`validate_grids` checks a layer of management grids (网格) against their
communities (社区) and, when given, the buildings, streets, water and incidents around
them; :func:`validate_grid` checks one draft grid against its community and the other
grids already drawn there. Both return a :class:`GridReport`: a list of
:class:`Problem` (each with a kind, the grid codes, a message saying what is wrong and
what to do, an area where it has one and a location a map can point at), a per-grid
metrics table and a summary. :meth:`GridReport.to_dict` is plain JSON with geometries in
the input CRS (the API layer reprojects).

The same rules check sub-grids (子网格, ``level == "subgrid"``) against their grids: pass
the grids as ``parents=`` (an alias of ``communities=``) and a smaller ``band``.
Dedicated grids (专属网格, ``kind == "dedicated"``: campuses, parks) get every geometric
check but no household band (``exempt_band_kinds``). Messages name the level ("Sub-grid
... outside its grid ...") and every :class:`Problem` carries it as ``level``. A layer
holding both grids and sub-grids is validated one level at a time (call twice): sub-grids
lie inside their grids, so one call would report them as overlaps.

Problem kinds
-------------
``gap``
    Part of a community covered by none of its grids (a community without any grid is
    one gap; a grid without sub-grids is not).
``overlap``
    Two grids overlap.
``crosses_parent``
    A grid extends outside its parent community (a sub-grid outside its grid).
``split_building``
    A building footprint is divided between grids; it counts for the grid holding most of
    its footprint.
``multipart``
    A grid is a MultiPolygon whose parts touch only at points (connected by a corner).
``noncontiguous``
    A grid has parts separated from each other: its worker has to leave it to go between
    them.
``households_out_of_band``
    Households per grid outside ``band`` (grids of ``exempt_band_kinds`` are not checked).
``unknown_parent``
    A grid's ``parent_code`` is not among the communities (parents) given.

Why this is written here: no library has the grid-management rules as such (cover the
community with no gaps or overlaps, never cross it, keep buildings whole, 300-500
households). Each check is a few vectorised shapely 2 calls (``STRtree`` queries,
array-wise ``intersection`` / ``difference``); only the per-community unions and the
per-grid walk tours loop in Python. The walk tour is the Chinese-postman tour (Edmonds &
Johnson 1973): the graph algorithms come from scipy (Dijkstra, components, minimum
spanning tree) and networkx (minimum-weight matching); only the glue is ours, because
networkx's own ``eulerize`` builds the full shortest-path matrix of the whole graph and
handles neither disconnected pieces nor thousands of grids.

Boundary shares (``street_share``, ``water_share``, ``parent_share``) are not exclusive:
a boundary stretch along a street that is also the community boundary counts for both;
``other_share`` is the share along none of them. They are measured by cutting each grid
boundary into pieces of at most ``boundary_buffer_m`` and testing each piece's midpoint,
so they are exact to about half a piece per change of kind.

All layers must share one projected CRS in metres; anything else raises
:class:`~gridpatrol.geo.errors.CRSError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree

from .crs import check_metric_layers
from .errors import SchemaError
from .geometry import POLYGONAL, check_geometries, polsby_popper, polygonal_part
from .overlay import code_rank, largest_share, locate_points
from .postman import matching_cost

__all__ = [
    "PROBLEM_KINDS",
    "GridReport",
    "Problem",
    "validate_grid",
    "validate_grids",
]

PROBLEM_KINDS = (
    "gap",
    "overlap",
    "crosses_parent",
    "split_building",
    "multipart",
    "noncontiguous",
    "households_out_of_band",
    "unknown_parent",
)

_PARENT_TOL_M = 0.5  # a grid boundary piece this close to its community boundary runs along it
_TOUR_MARGIN_M = 250.0  # streets this far around a grid may be used to walk between its streets

_THIN_M = 1.0  # a gap or overlap narrower than this on average is called a sliver

_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
_LINEAR_NAMES = ("LineString", "MultiLineString")


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (numpy scalars, NaN -> None, tuples -> lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _geometry_out(geom: Any, geometry: Literal["wkt", "geojson"]) -> Any:
    if geom is None:
        return None
    if geometry == "wkt":
        return shapely.to_wkt(geom, rounding_precision=3)
    return _plain(shapely.geometry.mapping(geom))


@dataclass(frozen=True)
class Problem:
    """One thing the planner should fix.

    Attributes
    ----------
    kind
        One of :data:`PROBLEM_KINDS`.
    grid_codes
        The grids involved; for ``split_building`` the grid the building counts for first.
    message
        What is wrong and what to do, in one or two sentences.
    location
        Where a map should point: the gap or overlap polygon, the part outside the
        community, the building, the detached parts, or a point inside the grid. In the
        input CRS.
    area_m2
        Area of the gap, overlap, outside part or building; None when it has none.
    community_code
        The parent concerned (the community, or the grid of a sub-grid), when there is one.
    details
        Figures behind the message (shares, households, band ...), JSON-ready.
    level
        The level of the grids involved: ``"grid"`` or ``"subgrid"``.
    """

    kind: str
    grid_codes: tuple[str, ...]
    message: str
    location: Any = None
    area_m2: float | None = None
    community_code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    level: str | None = None

    @property
    def grid_code(self) -> str | None:
        """The first (main) grid involved, or None."""
        return self.grid_codes[0] if self.grid_codes else None

    def to_dict(self, *, geometry: Literal["wkt", "geojson"] = "wkt") -> dict[str, Any]:
        """Plain data; ``location`` as WKT or a GeoJSON-like mapping in the input CRS."""
        return {
            "kind": self.kind,
            "grid_code": self.grid_code,
            "grid_codes": list(self.grid_codes),
            "community_code": self.community_code,
            "level": self.level,
            "message": self.message,
            "area_m2": _plain(self.area_m2),
            "location": _geometry_out(self.location, geometry),
            "details": _plain(self.details),
        }


@dataclass
class GridReport:
    """Result of :func:`validate_grids` / :func:`validate_grid`.

    Attributes
    ----------
    problems
        Every problem found, ordered by kind (as in :data:`PROBLEM_KINDS`) then grid code.
    metrics
        One row per grid, indexed by ``code``: ``parent_code``, ``households``,
        ``n_buildings``, ``area_m2``, ``perimeter_m``, ``n_parts``, ``polsby_popper``,
        ``street_share``, ``water_share``, ``parent_share``, ``other_share``,
        ``incidents``, ``incidents_per_month``, ``street_length_m``, ``tour_length_m``,
        ``tour_minutes``, ``minutes_per_day``, ``tour_pieces`` (NaN where not measured).
    summary
        ``n_grids``, ``n_communities`` (the parents given), ``n_problems``,
        ``problems_by_kind``, ``share_in_band`` (of the grids not exempt), ``band_exempt``,
        ``levels`` and ``parent_levels`` (those present), ``gap_area_m2``,
        ``overlap_area_m2``, ``outside_area_m2``,
        ``mean_polsby_popper``, ``households``, ``unassigned_buildings``,
        ``unassigned_households``, ``unassigned_incidents``, ``band``,
        ``households_source`` (``"buildings"``, ``"grids"`` or None), ``months`` and
        ``tour_minutes_total``; None where the input needed was not given.
    crs
        The CRS of every geometry in the report (that of the input).
    """

    problems: list[Problem]
    metrics: pd.DataFrame
    summary: dict[str, Any]
    crs: Any

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def of_kind(self, kind: str) -> list[Problem]:
        """The problems of one kind."""
        if kind not in PROBLEM_KINDS:
            raise SchemaError(f"unknown problem kind {kind!r}; kinds: {', '.join(PROBLEM_KINDS)}")
        return [p for p in self.problems if p.kind == kind]

    def problems_frame(self) -> gpd.GeoDataFrame:
        """The problems as a GeoDataFrame (geometry = location), ready to draw."""
        rows = [
            {
                "kind": p.kind,
                "grid_code": p.grid_code,
                "grid_codes": ",".join(p.grid_codes),
                "community_code": p.community_code,
                "level": p.level,
                "message": p.message,
                "area_m2": np.nan if p.area_m2 is None else p.area_m2,
            }
            for p in self.problems
        ]
        cols = ["kind", "grid_code", "grid_codes", "community_code", "level", "message", "area_m2"]
        frame = pd.DataFrame(rows, columns=cols)
        geoms = [p.location for p in self.problems]
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=self.crs), crs=self.crs)

    def to_dict(self, *, geometry: Literal["wkt", "geojson"] = "wkt") -> dict[str, Any]:
        """The report as plain JSON-serialisable data.

        Parameters
        ----------
        geometry
            ``"wkt"`` (default) or ``"geojson"`` for the problem locations; either way in
            the input CRS, which is given as ``crs``.
        """
        metrics = self.metrics.reset_index()
        return {
            "crs": None if self.crs is None else self.crs.to_string(),
            "summary": _plain(self.summary),
            "problems": [p.to_dict(geometry=geometry) for p in self.problems],
            "metrics": [_plain(r) for r in metrics.to_dict(orient="records")],
        }


# ---------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------


def _geoms(layer: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    return np.asarray(
        layer.geometry.values if hasattr(layer, "geometry") else layer.values, dtype=object
    )


def _require(layer: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in layer.columns]
    if missing:
        raise SchemaError(
            f"{name} needs column(s) {', '.join(missing)}; found "
            f"{', '.join(map(str, layer.columns)) or 'none'}"
        )


def _codes(layer: pd.DataFrame, name: str, column: str, *, unique: bool) -> np.ndarray:
    values = layer[column]
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise SchemaError(f"{name} row {i} has no {column}; every row needs one")
    codes = values.astype(str).to_numpy(dtype=object)
    if unique:
        idx = pd.Index(codes)
        if not idx.is_unique:
            raise SchemaError(
                f"{name} {column} {idx[idx.duplicated()][0]!r} occurs more than once; "
                "codes must be unique"
            )
    return codes


def _numbers(layer: pd.DataFrame, name: str, column: str) -> np.ndarray:
    values = pd.to_numeric(layer[column], errors="coerce")
    bad = values.isna() & layer[column].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"{name} row {i}: {column} {layer[column].iloc[i]!r} is not a number")
    return values.fillna(0.0).to_numpy(dtype=float)


def _check_options(band, walk_speed_kmh, patrols_per_day, months, tolerance_m2, buffer_m):
    try:
        lo, hi = (float(band[0]), float(band[1]))
    except (TypeError, ValueError, IndexError):
        raise SchemaError(f"band must be (low, high) households, not {band!r}") from None
    if not (0 <= lo <= hi):
        raise SchemaError(f"band must be (low, high) with 0 <= low <= high, not {band!r}")
    if not walk_speed_kmh > 0:
        raise SchemaError(f"walk_speed_kmh must be positive, not {walk_speed_kmh!r}")
    if not patrols_per_day >= 0:
        raise SchemaError(f"patrols_per_day must be 0 or more, not {patrols_per_day!r}")
    if months is not None and not months > 0:
        raise SchemaError(
            f"months must be positive (or None to use the incidents' span), not {months!r}"
        )
    if not tolerance_m2 >= 0:
        raise SchemaError(f"tolerance_m2 must be 0 or more, not {tolerance_m2!r}")
    if not buffer_m > 0:
        raise SchemaError(f"boundary_buffer_m must be positive, not {buffer_m!r}")
    return lo, hi


def _check_layers(layers: dict[str, Any]) -> Any:
    given = {k: v for k, v in layers.items() if v is not None}
    for name, layer in given.items():
        ok = (gpd.GeoDataFrame, gpd.GeoSeries) if name == "water" else gpd.GeoDataFrame
        if not isinstance(layer, ok):
            raise SchemaError(f"{name} must be a GeoDataFrame, not {type(layer).__name__}")
    return check_metric_layers(given)


# ---------------------------------------------------------------------------------------
# geometry helpers
# ---------------------------------------------------------------------------------------


def _sliver_note(area: float, perimeter: float) -> str:
    width = 2.0 * area / perimeter if perimeter > 0 else 0.0
    if width < _THIN_M:
        return f" It is a sliver about {width:.2f} m wide: snap the boundaries together."
    return ""


def _ring_pieces(polygons: np.ndarray, max_len: float):
    """Pieces at most ``max_len`` long of every ring: (start, end, polygon index)."""
    lines = shapely.segmentize(shapely.boundary(polygons), max_len)
    parts, owner = shapely.get_parts(lines, return_index=True)
    coords, part_of = shapely.get_coordinates(parts, return_index=True)
    same = part_of[1:] == part_of[:-1]
    return coords[:-1][same], coords[1:][same], owner[part_of[:-1][same]]


def _line_pieces(layer_geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line segments of any geometries (polygons by their rings) and the row of each."""
    if len(layer_geoms) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    poly = np.isin(shapely.get_type_id(layer_geoms), [int(t) for t in _POLYGONAL])
    lines = np.where(poly, shapely.boundary(layer_geoms), layer_geoms)
    parts, owner = shapely.get_parts(lines, return_index=True)
    coords, part_of = shapely.get_coordinates(parts, return_index=True)
    same = part_of[1:] == part_of[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    return shapely.linestrings(np.stack([a, b], axis=1)), owner[part_of[:-1][same]]


def _near(points: np.ndarray, targets: np.ndarray, distance: float) -> np.ndarray:
    """Which points lie within ``distance`` of any target geometry."""
    flag = np.zeros(len(points), dtype=bool)
    if len(points) == 0 or len(targets) == 0:
        return flag
    hit = shapely.STRtree(targets).query(points, predicate="dwithin", distance=distance)
    flag[hit[0]] = True
    return flag


_PLURAL = {"community": "communities"}


@dataclass(frozen=True)
class _Names:
    """How the messages name each grid (grid / sub-grid) and each parent."""

    level: np.ndarray  # per grid: its level ("grid", "subgrid" ...)
    parent_level: np.ndarray  # per parent: "community", "grid" ...
    missing_parent: str  # what an unknown parent is called

    @staticmethod
    def word(level: str) -> str:
        return "sub-grid" if level == "subgrid" else level

    def unit(self, i: int, *, cap: bool = False) -> str:
        w = self.word(self.level[i])
        return w[:1].upper() + w[1:] if cap else w

    def units(self, i: int, *, cap: bool = False) -> str:
        return self.unit(i, cap=cap) + "s"

    def parent(self, c: int, *, cap: bool = False) -> str:
        w = self.word(self.parent_level[c])
        return w[:1].upper() + w[1:] if cap else w

    def child_of(self, c: int) -> str:
        """What the children of parent ``c`` are called."""
        return "sub-grid" if self.parent_level[c] in ("grid", "subgrid") else "grid"

    def child_level(self, c: int) -> str:
        return "subgrid" if self.parent_level[c] in ("grid", "subgrid") else "grid"

    @staticmethod
    def plural(word: str) -> str:
        return _PLURAL.get(word, word + "s")


# ---------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------


def _coverage(
    g: np.ndarray,
    codes: np.ndarray,
    parents: np.ndarray,
    parent_idx: np.ndarray,
    comm: np.ndarray,
    comm_codes: np.ndarray,
    tol: float,
    problems: list[Problem],
    names: _Names,
    gap_when_empty: np.ndarray,
) -> dict[str, Any]:
    """gap, overlap, crosses_parent and unknown_parent problems; returns area totals.

    A parent without children is one gap only where ``gap_when_empty``."""
    n, m = len(g), len(comm)
    known = parent_idx >= 0
    shapely.prepare(comm)
    tree = shapely.STRtree(g)

    # unknown_parent: say which community holds the grid, so the fix is one edit
    if (~known).any():
        pts = shapely.point_on_surface(g[~known])
        ci = np.full(len(pts), -1)
        hit = shapely.STRtree(comm).query(pts, predicate="within")
        ci[hit[0]] = hit[1]
        for k, i in enumerate(np.flatnonzero(~known)):
            pw = names.missing_parent
            hint = (
                f" It lies in {names.parent(ci[k])} {comm_codes[ci[k]]}: set parent_code to that."
                if ci[k] >= 0
                else f" It lies in none of the {names.plural(pw)} given."
            )
            problems.append(
                Problem(
                    "unknown_parent",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} names parent {pw} {parents[i]!r}, "
                    f"which is not among the {names.plural(pw)} given.{hint}",
                    location=pts[k],
                    level=names.level[i],
                    details={
                        "parent_code": parents[i],
                        "suggested_parent": comm_codes[ci[k]] if ci[k] >= 0 else None,
                    },
                )
            )

    # crosses_parent: cheap prepared containment first, exact difference only where needed
    outside_area = np.zeros(n)
    ki = np.flatnonzero(known)
    inside = shapely.contains(comm[parent_idx[ki]], g[ki])
    cand = ki[~inside]
    if len(cand):
        out = polygonal_part(shapely.difference(g[cand], comm[parent_idx[cand]]))
        area = shapely.area(out)
        outside_area[cand] = area
        for i, o, a in zip(cand, out, area, strict=True):
            if a > tol:
                c = comm_codes[parent_idx[i]]
                pw = names.parent(parent_idx[i])
                problems.append(
                    Problem(
                        "crosses_parent",
                        (codes[i],),
                        f"{names.unit(i, cap=True)} {codes[i]} extends {a:,.1f} m² outside its "
                        f"{pw} {c}. Clip it to the {pw} boundary (or move it to the {pw} it lies "
                        f"in).{_sliver_note(a, float(shapely.length(o)))}",
                        location=o,
                        area_m2=float(a),
                        community_code=c,
                        level=names.level[i],
                    )
                )

    # gap: per community, what none of its own grids cover
    order = np.argsort(parent_idx[ki], kind="stable")
    grouped = ki[order]
    bounds = np.searchsorted(parent_idx[grouped], np.arange(m + 1))
    unions = np.empty(m, dtype=object)
    excess = np.zeros(m)  # sum of grid areas minus area of their union: > 0 iff overlaps
    gareas = shapely.area(g)
    for c in range(m):
        members = grouped[bounds[c] : bounds[c + 1]]
        unions[c] = shapely.union_all(g[members]) if len(members) else shapely.Polygon()
        excess[c] = gareas[members].sum() - shapely.area(unions[c])
    gaps = polygonal_part(shapely.difference(comm, unions))
    counts = np.diff(bounds)
    gaps[(counts == 0) & ~gap_when_empty] = shapely.Polygon()
    parts, pcomm = shapely.get_parts(gaps, return_index=True)
    pareas = shapely.area(parts)
    keep = pareas > tol
    parts, pcomm, pareas = parts[keep], pcomm[keep], pareas[keep]

    # overlap: intersect only the candidate pairs that can overlap (a community whose grids'
    # areas add up to its union's area has none inside; grids inside disjoint communities
    # cannot overlap across them)
    left, right = tree.query(g, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    same = known[left] & known[right] & (parent_idx[left] == parent_idx[right])
    maybe = np.where(same, excess[np.where(known[left], parent_idx[left], 0)] > tol, True)
    cross = ~same
    if cross.any():
        contained = np.zeros(n, dtype=bool)
        contained[ki[inside]] = True
        both_in = contained[left] & contained[right]
        comm_ov = _community_overlaps(comm, tol)
        pl = np.where(known[left], parent_idx[left], -1)
        pr = np.where(known[right], parent_idx[right], -1)
        disjoint = (
            np.array(
                [(min(a, b), max(a, b)) not in comm_ov for a, b in zip(pl, pr, strict=True)],
                dtype=bool,
            )
            if len(pl)
            else np.zeros(0, dtype=bool)
        )
        maybe &= ~(cross & both_in & disjoint)
    left, right = left[maybe], right[maybe]
    overlap_total = 0.0
    if len(left):
        ov = polygonal_part(shapely.intersection(g[left], g[right]))
        areas = shapely.area(ov)
        for i, j, o, a in zip(left, right, ov, areas, strict=True):
            if a > tol:
                overlap_total += float(a)
                ci = comm_codes[parent_idx[i]] if known[i] else None
                problems.append(
                    Problem(
                        "overlap",
                        tuple(sorted((codes[i], codes[j]))),
                        f"{names.units(i, cap=True)} {min(codes[i], codes[j])} and "
                        f"{max(codes[i], codes[j])} overlap "
                        f"on {a:,.1f} m². Give the overlap to one of them and cut it from the "
                        f"other.{_sliver_note(a, float(shapely.length(o)))}",
                        location=o,
                        area_m2=float(a),
                        community_code=ci,
                        level=names.level[i],
                    )
                )
    return {
        "gap_area_m2": float(pareas.sum()),
        "overlap_area_m2": overlap_total,
        "outside_area_m2": float(outside_area[outside_area > tol].sum()),
        "gaps": (parts, pcomm, pareas),
        "grid_counts": counts,
    }


def _gaps(
    g: np.ndarray,
    codes: np.ndarray,
    parent_idx: np.ndarray,
    comm_codes: np.ndarray,
    cover: dict[str, Any],
    buildings: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    problems: list[Problem],
    names: _Names,
) -> None:
    """gap problems, naming the grids around each gap and the buildings left in it."""
    parts, pcomm, pareas = cover["gaps"]
    if not len(parts):
        return
    # the community's grids along each gap, the one sharing most boundary with it first
    pi, gi = shapely.STRtree(g).query(parts, predicate="intersects")
    own = parent_idx[gi] == pcomm[pi]
    pi, gi = pi[own], gi[own]
    shared = shapely.length(shapely.intersection(shapely.boundary(parts[pi]), g[gi]))
    order = np.lexsort((codes[gi], -shared, pi))
    neighbours: dict[int, list[str]] = {}
    for k in order:
        if shared[k] > 0:
            neighbours.setdefault(int(pi[k]), []).append(codes[gi[k]])
    loose: dict[int, np.ndarray] = {}
    if buildings is not None:
        b, households, unheld = buildings
        rows = np.flatnonzero(unheld)
        pi, bi = shapely.STRtree(b[rows]).query(parts, predicate="intersects")
        for p in np.unique(pi):
            loose[int(p)] = rows[bi[pi == p]]
    for p, (poly, c, a) in enumerate(zip(parts, pcomm, pareas, strict=True)):
        near = neighbours.get(p, [])
        details: dict[str, Any] = {}
        child, pw = names.child_of(c), names.parent(c)
        if cover["grid_counts"][c] == 0:
            msg = (
                f"{names.parent(c, cap=True)} {comm_codes[c]} has no {child}s: its {a:,.0f} m² "
                f"are covered by none. Draw its {child}s (or run the grid proposer)."
            )
        else:
            who = f" between {child}s {', '.join(near)}" if near else f" away from every {child}"
            msg = (
                f"{a:,.1f} m² of {pw} {comm_codes[c]}{who} belong to no {child}. "
                f"Extend a neighbouring {child} over it."
                f"{_sliver_note(a, float(shapely.length(poly)))}"
            )
        if p in loose:
            hh = float(households[loose[p]].sum())
            msg += (
                f" {len(loose[p])} building(s) with {hh:g} households stand in it and "
                f"count for no {child}."
            )
            details = {"buildings": len(loose[p]), "households": hh}
        problems.append(
            Problem(
                "gap",
                tuple(near),
                msg,
                location=poly,
                area_m2=float(a),
                community_code=comm_codes[c],
                details=details,
                level=names.child_level(c),
            )
        )


def _community_overlaps(comm: np.ndarray, tol: float) -> set[tuple[int, int]]:
    if len(comm) < 2:
        return set()
    a, b = shapely.STRtree(comm).query(comm, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return set()
    areas = shapely.area(shapely.intersection(comm[a], comm[b]))
    return {(int(i), int(j)) for i, j, x in zip(a, b, areas, strict=True) if x > tol}


def _shapes(g: np.ndarray, codes: np.ndarray, problems: list[Problem], names: _Names) -> np.ndarray:
    """multipart / noncontiguous problems; returns the number of parts of each grid."""
    nparts = shapely.get_num_geometries(g)
    for i in np.flatnonzero(nparts > 1):
        parts = shapely.get_parts(g[i])
        areas = shapely.area(parts)
        main = int(np.argmax(areas))
        n_comp, labels = connected_components(
            coo_matrix(_touching(parts), shape=(len(parts), len(parts))), directed=False
        )
        others = np.delete(parts, main)
        location = shapely.union_all(others)
        small = float(areas.sum() - areas[main])
        if n_comp > 1:
            detached = parts[labels != labels[main]]
            gap = float(shapely.distance(parts[main], shapely.union_all(detached)))
            problems.append(
                Problem(
                    "noncontiguous",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} has {n_comp} separate pieces "
                    f"({len(parts)} parts); {float(shapely.area(detached).sum()):,.0f} m² lie "
                    f"apart from the main part (nearest {gap:,.1f} m away). Give the detached "
                    f"parts to the {names.units(i)} around them, or join them to the main part.",
                    location=shapely.union_all(detached),
                    area_m2=float(shapely.area(detached).sum()),
                    details={"n_parts": len(parts), "n_pieces": n_comp, "distance_m": gap},
                    level=names.level[i],
                )
            )
        else:
            problems.append(
                Problem(
                    "multipart",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} is {len(parts)} polygons that touch "
                    "only at corners, so "
                    "it is not one area a worker can cross. Widen the connection or give the "
                    "smaller parts to a neighbour.",
                    location=location,
                    area_m2=small,
                    details={"n_parts": len(parts)},
                    level=names.level[i],
                )
            )
    return nparts


def _touching(parts: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    a, b = shapely.STRtree(parts).query(parts, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    return np.ones(len(a)), (a, b)


def _buildings(
    g: np.ndarray,
    codes: np.ndarray,
    parent_idx: np.ndarray,
    comm_codes: np.ndarray,
    b: np.ndarray,
    households: np.ndarray,
    labels: np.ndarray,
    tol: float,
    problems: list[Problem],
    names: _Names,
) -> np.ndarray:
    """Assign each building to the grid holding most of its footprint; split_building."""
    n = len(b)
    ov = largest_share(b, g, min_area=tol, rank=code_rank(codes))
    owner = ov.owner
    if n == 0 or len(g) == 0:
        return owner
    barea = shapely.area(b)
    bi, gi, area = ov.item, ov.zone, ov.area  # by building, largest first
    n_held = np.bincount(bi, minlength=n)
    start = np.searchsorted(bi, np.arange(n + 1))
    for k in np.flatnonzero(n_held > 1):
        rows = np.arange(start[k], start[k + 1])
        shares = area[rows] / barea[k]
        held_by = [codes[gi[r]] for r in rows]
        split = ", ".join(f"{c} {s:.0%}" for c, s in zip(held_by, shares, strict=True))
        problems.append(
            Problem(
                "split_building",
                tuple(held_by),
                f"Building {labels[k]} ({households[k]:g} households) is divided between "
                f"{names.units(gi[rows[0]])} {split}. It counts for {held_by[0]}, which "
                f"holds {shares[0]:.0%} of its footprint; move the boundary so the building "
                f"lies wholly in {held_by[0]}.",
                location=b[k],
                area_m2=float(barea[k]),
                community_code=(
                    comm_codes[parent_idx[gi[rows[0]]]] if parent_idx[gi[rows[0]]] >= 0 else None
                ),
                details={
                    "building": labels[k],
                    "households": households[k],
                    "assigned_to": held_by[0],
                    "shares": {c: float(s) for c, s in zip(held_by, shares, strict=True)},
                },
                level=names.level[gi[rows[0]]],
            )
        )
    return owner


def _boundary_shares(
    g: np.ndarray,
    parent_idx: np.ndarray,
    comm: np.ndarray,
    streets: np.ndarray | None,
    water: np.ndarray | None,
    buffer_m: float,
) -> dict[str, np.ndarray]:
    n = len(g)
    a, b, owner = _ring_pieces(g, buffer_m)
    length = np.hypot(*(b - a).T)
    mids = shapely.points((a + b) / 2.0)
    total = np.bincount(owner, weights=length, minlength=n)

    def share(flag: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(owner[flag], weights=length[flag], minlength=n) / total

    out: dict[str, np.ndarray] = {}
    any_flag = np.zeros(len(mids), dtype=bool)
    if streets is not None:
        flag = _near(mids, streets, buffer_m)
        out["street_share"] = share(flag)
        any_flag |= flag
    if water is not None:
        flag = _near(mids, water, buffer_m)
        out["water_share"] = share(flag)
        any_flag |= flag
    # along the grid's own community boundary: segments tree, matched on the community
    cpieces, cowner = _line_pieces(comm)
    flag = np.zeros(len(mids), dtype=bool)
    if len(cpieces):
        pi, si = shapely.STRtree(cpieces).query(mids, predicate="dwithin", distance=_PARENT_TOL_M)
        pidx = parent_idx[owner[pi]]
        hit = (pidx >= 0) & (pidx == cowner[si])
        flag[pi[hit]] = True
    out["parent_share"] = share(flag)
    any_flag |= flag
    out["other_share"] = share(~any_flag)
    out["perimeter_m"] = total
    return out


def _incidents(
    g: np.ndarray, codes: np.ndarray, points: np.ndarray, when: pd.Series, months: float | None
) -> tuple[np.ndarray, np.ndarray, float, int]:
    n = len(g)
    at = locate_points(points, g, rank=code_rank(codes))  # a shared edge: the lower code
    count = np.bincount(at[at >= 0], minlength=n).astype(float)
    outside = int((at < 0).sum())
    if months is None:
        span = (when.max() - when.min()) / pd.Timedelta(days=365.25 / 12) if len(when) else 0.0
        months = max(float(span), 1.0)
    return count, count / months, float(months), outside


# ---------------------------------------------------------------------------------------
# walk tours (Chinese postman per grid)
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------


def validate_grids(
    grids: gpd.GeoDataFrame,
    *,
    communities: gpd.GeoDataFrame | None = None,
    parents: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    water: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    band: tuple[float, float] = (300, 500),
    walk_speed_kmh: float = 4.0,
    patrols_per_day: float = 2,
    months: float | None = None,
    tolerance_m2: float = 1.0,
    boundary_buffer_m: float = 5.0,
    walk_tours: bool = True,
    exempt_band_kinds: Sequence[str] = ("dedicated",),
) -> GridReport:
    """Check a grid layer against its communities and report problems and metrics.

    The same rules check sub-grids against their grids: pass the sub-grids (``level ==
    "subgrid"``, ``parent_code`` = a grid code) as ``grids`` and their grids as
    ``parents``, usually with a smaller ``band``. Gaps are then parts of a parent grid
    covered by no sub-grid, ``crosses_parent`` a sub-grid leaving its grid, and so on; the
    messages say "sub-grid" and "grid", and each :class:`Problem` carries the ``level`` of
    the grids it is about. A grid need not be divided: a parent grid without sub-grids is
    not a gap (a community without grids still is).

    Dedicated grids (``kind == "dedicated"``: campuses, parks, markets ...) get every
    geometric check but are exempt from the household band (``exempt_band_kinds``).

    Parameters
    ----------
    grids
        Grid (or sub-grid) polygons with ``code`` and ``parent_code`` (the community
        code, or the grid code of a sub-grid), and optionally ``households`` (used when
        ``buildings`` is not given), ``level`` (``grid`` or ``subgrid``; default
        ``grid``) and ``kind`` (``comprehensive``, ``dedicated``, ``police_beat``;
        default ``comprehensive``). Several parents at once.
    communities
        Community polygons with ``code``. Every community given is checked for gaps, so a
        community without grids is reported as one gap.
    parents
        Instead of ``communities`` (give exactly one of the two): any parent polygons with
        ``code``, e.g. the grids of sub-grids. An optional ``level`` column names them in
        messages; without it they are "grid" when every row of ``grids`` is a sub-grid,
        else "community". Parents at grid level without children are not gaps.
    buildings
        Footprints with ``households`` (and ``source_id`` to name them in messages). Each
        building counts for the grid holding the largest part of its footprint.
    streets
        Walk-network edges (LineStrings) with ``u``, ``v``, ``length_m`` as in the
        ``streets`` layer; without ``u``/``v`` the line ends are the nodes. A two-way street
        stored as two opposite edges counts once.
    water
        Rivers, canals, lakes (lines or polygons), for ``water_share``.
    incidents
        Incident points with ``reported_at``.
    band
        Wanted (low, high) households per grid, inclusive.
    walk_speed_kmh
        Walking speed of a grid worker.
    patrols_per_day
        Patrols a day, each covering every street of the grid once.
    months
        Length of the period the incidents cover; None uses the span between the first and
        last report (at least one month).
    tolerance_m2
        Gaps, overlaps, outside parts and building pieces up to this area are noise and
        not reported.
    boundary_buffer_m
        A grid boundary runs along a street or water within this distance; streets whose
        midpoint lies within it of a grid are that grid's streets.
    walk_tours
        Compute the walk tour of every grid (the costly part). False leaves those columns
        NaN.
    exempt_band_kinds
        Grids of these ``kind`` are not checked against ``band`` (and left out of
        ``share_in_band``); all other checks apply to them.

    Returns
    -------
    GridReport

    Raises
    ------
    CRSError
        A layer has no CRS, a geographic one or one not in metres, or the layers differ.
    SchemaError
        A required column is missing, codes are missing or repeated, an option is out of
        range.
    InvalidGeometryError
        A geometry is missing, empty, invalid or of the wrong type.
    """
    parent_layer = _one_parent_layer(communities, parents)
    return _validate(
        grids,
        communities=parent_layer,
        parents_alias=parents is not None,
        exempt_band_kinds=exempt_band_kinds,
        buildings=buildings,
        streets=streets,
        water=water,
        incidents=incidents,
        band=band,
        walk_speed_kmh=walk_speed_kmh,
        patrols_per_day=patrols_per_day,
        months=months,
        tolerance_m2=tolerance_m2,
        boundary_buffer_m=boundary_buffer_m,
        walk_tours=walk_tours,
        focus=None,
    )


def validate_grid(
    grid: Any,
    *,
    community: gpd.GeoDataFrame | None = None,
    parent: gpd.GeoDataFrame | None = None,
    others: gpd.GeoDataFrame | None = None,
    code: str | None = None,
    level: str | None = None,
    kind: str | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    water: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    band: tuple[float, float] = (300, 500),
    walk_speed_kmh: float = 4.0,
    patrols_per_day: float = 2,
    months: float | None = None,
    tolerance_m2: float = 1.0,
    boundary_buffer_m: float = 5.0,
    walk_tours: bool = True,
    exempt_band_kinds: Sequence[str] = ("dedicated",),
) -> GridReport:
    """Check one draft grid (or sub-grid) while the planner draws it.

    The draft is checked together with the other grids of its community; the report
    keeps only the problems that involve the draft (gaps are kept when they touch it) and
    its metrics row. District-wide context layers may be passed as they are: only the
    features within 250 m of the community's bounding box are used (so pass ``months``
    when the incidents' own span should not decide the rate).

    Parameters
    ----------
    grid
        The draft: a Polygon/MultiPolygon in the CRS of ``community``, or a one-row
        GeoDataFrame / GeoSeries (whose CRS is checked).
    community
        The one community the draft belongs to, with ``code``.
    parent
        Instead of ``community`` (give exactly one): the one parent of any level, e.g. the
        grid a draft sub-grid belongs to.
    others
        The other grids of that community (``code``; ``parent_code`` defaults to the
        community's). A grid with the draft's code is replaced by the draft.
    code
        The draft's code; defaults to the ``code`` of a one-row GeoDataFrame, else
        ``"draft"``.
    level, kind
        The draft's ``level`` and ``kind``; default to those of a one-row GeoDataFrame,
        else ``"grid"`` and ``"comprehensive"``.
    buildings, streets, water, incidents, band, walk_speed_kmh, patrols_per_day, months,
    tolerance_m2, boundary_buffer_m, walk_tours, exempt_band_kinds
        As in :func:`validate_grids`; the walk tour is computed for the draft only.

    Returns
    -------
    GridReport
    """
    what = "community" if parent is None else "parent"
    community = _one_parent_layer(community, parent, singular=True)
    if not isinstance(community, gpd.GeoDataFrame):
        raise SchemaError(f"{what} must be a one-row GeoDataFrame, not {type(community).__name__}")
    if len(community) != 1:
        raise SchemaError(f"{what} must have exactly one row, not {len(community)}")
    _require(community, what, ["code"])
    parent_code = str(community["code"].iloc[0])
    if isinstance(grid, gpd.GeoDataFrame):
        if len(grid) != 1:
            raise SchemaError(f"grid must be one geometry or a one-row layer, not {len(grid)} rows")
        if code is None and "code" in grid.columns:
            code = str(grid["code"].iloc[0])
        if level is None and "level" in grid.columns and pd.notna(grid["level"].iloc[0]):
            level = str(grid["level"].iloc[0])
        if kind is None and "kind" in grid.columns and pd.notna(grid["kind"].iloc[0]):
            kind = str(grid["kind"].iloc[0])
        crs, geom = grid.crs, grid.geometry.iloc[0]
    elif isinstance(grid, gpd.GeoSeries):
        if len(grid) != 1:
            raise SchemaError(f"grid must be one geometry, not {len(grid)}")
        crs, geom = grid.crs, grid.iloc[0]
    elif isinstance(grid, shapely.Geometry):
        crs, geom = community.crs, grid
    else:
        raise SchemaError(
            f"grid must be a shapely geometry or a one-row GeoDataFrame, not {type(grid).__name__}"
        )
    code = "draft" if code is None else str(code)
    draft = gpd.GeoDataFrame(
        {
            "code": [code],
            "parent_code": [parent_code],
            "level": [level or "grid"],
            "kind": [kind or "comprehensive"],
        },
        geometry=[geom],
        crs=crs,
    )
    if others is not None and len(others):
        _check_layers({"grid": draft, "others": others})
        _require(others, "others", ["code"])
        rest = others[others["code"].astype(str) != code]
        rest = gpd.GeoDataFrame(
            {
                "code": rest["code"].astype(str).to_numpy(),
                "parent_code": (
                    rest["parent_code"].astype(str).to_numpy()
                    if "parent_code" in rest.columns
                    else parent_code
                ),
                "level": rest["level"].to_numpy() if "level" in rest.columns else level or "grid",
                "kind": rest["kind"].to_numpy() if "kind" in rest.columns else "comprehensive",
            },
            geometry=rest.geometry.values,
            crs=others.crs,
        )
        layer = pd.concat([draft, rest], ignore_index=True)
        layer = gpd.GeoDataFrame(layer, geometry="geometry", crs=crs)
    else:
        layer = draft
    context = {"buildings": buildings, "streets": streets, "water": water, "incidents": incidents}
    _check_layers({"grid": layer, "community": community, **context})
    if not shapely.is_missing(geom) and not shapely.is_empty(geom):
        # only what is around the community matters: drop the rest of a district-wide layer
        window = shapely.buffer(
            shapely.envelope(shapely.union(community.geometry.iloc[0], geom)), _TOUR_MARGIN_M
        )
        context = {k: _around(v, window) for k, v in context.items()}
    return _validate(
        layer,
        communities=community,
        parents_alias=what == "parent",
        exempt_band_kinds=exempt_band_kinds,
        **context,
        band=band,
        walk_speed_kmh=walk_speed_kmh,
        patrols_per_day=patrols_per_day,
        months=months,
        tolerance_m2=tolerance_m2,
        boundary_buffer_m=boundary_buffer_m,
        walk_tours=walk_tours,
        focus=code,
    )


def _one_parent_layer(communities: Any, parents: Any, *, singular: bool = False) -> Any:
    """The parent layer given as ``communities`` or its alias ``parents`` (exactly one)."""
    names = ("community", "parent") if singular else ("communities", "parents")
    if communities is not None and parents is not None:
        raise SchemaError(f"give {names[0]} or {names[1]}, not both: {names[1]} is an alias")
    if communities is None and parents is None:
        raise SchemaError(
            f"{names[0]} (or {names[1]}) is required: grids are checked against their parents"
        )
    return communities if communities is not None else parents


def _labels_or(layer: pd.DataFrame, column: str, default: str) -> np.ndarray:
    """A text column as an object array, ``default`` where absent or missing."""
    if column not in layer.columns:
        return np.full(len(layer), default, dtype=object)
    values = layer[column].astype(object).where(layer[column].notna(), default)
    values = values.astype(str).str.strip().replace("", default)
    return values.to_numpy(dtype=object)


def _around(layer: Any, window: Any) -> Any:
    if layer is None:
        return None
    geoms = _geoms(layer)
    near = shapely.intersects(geoms, window) | shapely.is_missing(
        geoms
    )  # keep bad rows: they raise
    return layer[near]


def _validate(
    grids,
    *,
    communities,
    parents_alias,
    exempt_band_kinds,
    buildings,
    streets,
    water,
    incidents,
    band,
    walk_speed_kmh,
    patrols_per_day,
    months,
    tolerance_m2,
    boundary_buffer_m,
    walk_tours,
    focus,
) -> GridReport:
    lo, hi = _check_options(
        band, walk_speed_kmh, patrols_per_day, months, tolerance_m2, boundary_buffer_m
    )
    crs = _check_layers(
        {
            "grids": grids,
            "communities": communities,
            "buildings": buildings,
            "streets": streets,
            "water": water,
            "incidents": incidents,
        }
    )
    pname = "parents" if parents_alias else "communities"
    _require(grids, "grids", ["code", "parent_code"])
    _require(communities, pname, ["code"])
    if len(communities) == 0:
        raise SchemaError(f"{pname} is empty: grids are checked against their {pname}")
    if isinstance(exempt_band_kinds, str):
        raise SchemaError(
            f"exempt_band_kinds must be a sequence of kinds, e.g. ('dedicated',), "
            f"not the string {exempt_band_kinds!r}"
        )
    codes = _codes(grids, "grids", "code", unique=True)
    parents = _codes(grids, "grids", "parent_code", unique=False)
    comm_codes = _codes(communities, pname, "code", unique=True)
    levels = _labels_or(grids, "level", "grid")
    grid_kinds = _labels_or(grids, "kind", "comprehensive")
    g = _geoms(grids)
    comm = _geoms(communities)
    check_geometries(g, what="grid", labels=[repr(c) for c in codes])
    check_geometries(comm, what="community", labels=[repr(c) for c in comm_codes])
    if buildings is not None:
        _require(buildings, "buildings", ["households"])
        b = _geoms(buildings)
        check_geometries(b, what="buildings")
        b_households = _numbers(buildings, "buildings", "households")
        b_labels = (
            buildings["source_id"].astype(str).to_numpy()
            if "source_id" in buildings.columns
            else np.array([f"row {i}" for i in range(len(b))], dtype=object)
        )
    if streets is not None:
        check_geometries(_geoms(streets), what="streets", allowed=_LINEAR_NAMES)
    if water is not None:
        check_geometries(_geoms(water), what="water", allowed=POLYGONAL + _LINEAR_NAMES)
    if incidents is not None:
        _require(incidents, "incidents", ["reported_at"])
        check_geometries(_geoms(incidents), what="incidents", allowed=("Point",))
        try:
            when = pd.to_datetime(incidents["reported_at"], utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"incidents: reported_at holds values that are not dates: {exc}"
            ) from None
        if when.isna().any():
            i = int(np.flatnonzero(when.isna().to_numpy())[0])
            raise SchemaError(f"incidents row {i} has no reported_at")

    n = len(g)
    lookup = {c: i for i, c in enumerate(comm_codes)}
    parent_idx = np.array([lookup.get(p, -1) for p in parents], dtype=np.int64)
    all_sub = n > 0 and bool((levels == "subgrid").all())
    if "level" in communities.columns:
        parent_levels = _labels_or(communities, "level", "community")
    else:
        parent_levels = np.full(len(comm), "grid" if all_sub else "community", dtype=object)
    names = _Names(
        level=levels,
        parent_level=parent_levels,
        missing_parent="grid" if all_sub else "community",
    )
    # sub-grids are optional: a grid (or sub-grid) parent without children is no gap
    gap_when_empty = ~np.isin(parent_levels, ["grid", "subgrid"])
    problems: list[Problem] = []
    cover = _coverage(
        g,
        codes,
        parents,
        parent_idx,
        comm,
        comm_codes,
        tolerance_m2,
        problems,
        names,
        gap_when_empty,
    )
    nparts = _shapes(g, codes, problems, names)

    metrics = pd.DataFrame(index=pd.Index(codes, name="code"))
    metrics["parent_code"] = parents
    unassigned_b = unassigned_h = None
    if buildings is not None:
        owner = _buildings(
            g,
            codes,
            parent_idx,
            comm_codes,
            b,
            b_households,
            b_labels,
            tolerance_m2,
            problems,
            names,
        )
        held = owner >= 0
        hh = np.bincount(owner[held], weights=b_households[held], minlength=n)
        metrics["households"] = hh
        metrics["n_buildings"] = np.bincount(owner[held], minlength=n)
        unassigned_b = int((~held).sum())
        unassigned_h = float(b_households[~held].sum())
        source = "buildings"
    elif "households" in grids.columns:
        metrics["households"] = _numbers(grids, "grids", "households")
        metrics["n_buildings"] = np.nan
        source = "grids"
    else:
        metrics["households"] = np.nan
        metrics["n_buildings"] = np.nan
        source = None
    _gaps(
        g,
        codes,
        parent_idx,
        comm_codes,
        cover,
        (b, b_households, ~held) if buildings is not None else None,
        problems,
        names,
    )
    banded = ~np.isin(grid_kinds, [str(k) for k in exempt_band_kinds])
    if source is not None:
        hh = metrics["households"].to_numpy()
        for i in np.flatnonzero(((hh < lo) | (hh > hi)) & banded):
            what = (
                f"below the {lo:g}-{hi:g} band: merge it with a neighbour or take "
                "buildings from one"
                if hh[i] < lo
                else f"above the {lo:g}-{hi:g} band: split it or give buildings to a neighbour"
            )
            problems.append(
                Problem(
                    "households_out_of_band",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} has {hh[i]:g} households, {what}.",
                    location=shapely.point_on_surface(g[i]),
                    community_code=comm_codes[parent_idx[i]] if parent_idx[i] >= 0 else None,
                    details={
                        "households": hh[i],
                        "band": [lo, hi],
                        "source": source,
                        "kind": grid_kinds[i],
                    },
                    level=levels[i],
                )
            )

    area = shapely.area(g)
    metrics["area_m2"] = area
    shares = _boundary_shares(
        g,
        parent_idx,
        comm,
        _geoms(streets) if streets is not None else None,
        _geoms(water) if water is not None else None,
        boundary_buffer_m,
    )
    metrics["perimeter_m"] = shares["perimeter_m"]
    metrics["n_parts"] = nparts
    metrics["polsby_popper"] = polsby_popper(g)
    for col in ("street_share", "water_share", "parent_share", "other_share"):
        metrics[col] = shares.get(col, np.nan)

    used_months = unassigned_i = None
    if incidents is not None:
        count, rate, used_months, unassigned_i = _incidents(
            g, codes, _geoms(incidents), when, months
        )
        metrics["incidents"] = count
        metrics["incidents_per_month"] = rate
    else:
        metrics["incidents"] = np.nan
        metrics["incidents_per_month"] = np.nan

    for col in (
        "street_length_m",
        "tour_length_m",
        "tour_minutes",
        "minutes_per_day",
        "tour_pieces",
    ):
        metrics[col] = np.nan
    if walk_tours and streets is not None:
        net = _Network.from_layer(streets)
        which = np.arange(n) if focus is None else np.flatnonzero(codes == focus)
        street_len, tour, pieces = _walk_tours(g, net, boundary_buffer_m, which)
        metrics["street_length_m"] = street_len
        metrics["tour_length_m"] = tour
        minutes = tour / (walk_speed_kmh * 1000.0 / 60.0)
        metrics["tour_minutes"] = minutes
        metrics["minutes_per_day"] = minutes * patrols_per_day
        metrics["tour_pieces"] = pieces

    if focus is not None:
        problems = [p for p in problems if focus in p.grid_codes]
        metrics = metrics.loc[[focus]]
        banded = banded[codes == focus]
    rank = {k: i for i, k in enumerate(PROBLEM_KINDS)}
    problems.sort(key=lambda p: (rank[p.kind], p.grid_codes, -(p.area_m2 or 0.0)))
    summary = _summary(
        problems,
        metrics,
        cover,
        focus,
        lo,
        hi,
        source,
        len(comm),
        unassigned_b,
        unassigned_h,
        used_months,
        banded,
    )
    summary["unassigned_incidents"] = unassigned_i
    shown = levels if focus is None else levels[codes == focus]
    summary["levels"] = sorted({str(x) for x in shown})
    summary["parent_levels"] = sorted({str(x) for x in parent_levels})
    return GridReport(problems=problems, metrics=metrics, summary=summary, crs=crs)


def _summary(
    problems,
    metrics,
    cover,
    focus,
    lo,
    hi,
    source,
    n_comm,
    unassigned_b,
    unassigned_h,
    months,
    banded,
) -> dict[str, Any]:
    by_kind = {k: 0 for k in PROBLEM_KINDS}
    for p in problems:
        by_kind[p.kind] += 1
    hh = metrics["households"].to_numpy(dtype=float)
    pp = metrics["polsby_popper"].to_numpy(dtype=float)
    if focus is None:
        gap, overlap, outside = (
            cover["gap_area_m2"],
            cover["overlap_area_m2"],
            cover["outside_area_m2"],
        )
    else:
        gap = sum(p.area_m2 or 0.0 for p in problems if p.kind == "gap")
        overlap = sum(p.area_m2 or 0.0 for p in problems if p.kind == "overlap")
        outside = sum(p.area_m2 or 0.0 for p in problems if p.kind == "crosses_parent")
    return {
        "n_grids": int(len(metrics)),
        "n_communities": int(n_comm),
        "n_problems": len(problems),
        "problems_by_kind": by_kind,
        "share_in_band": (
            float(((hh[banded] >= lo) & (hh[banded] <= hi)).mean())
            if source is not None and banded.any()
            else None
        ),
        "band": [lo, hi],
        "band_exempt": int((~banded).sum()),
        "households_source": source,
        "households": float(np.nansum(hh)) if source is not None else None,
        "unassigned_buildings": unassigned_b,
        "unassigned_households": unassigned_h,
        "gap_area_m2": float(gap),
        "overlap_area_m2": float(overlap),
        "outside_area_m2": float(outside),
        "mean_polsby_popper": float(np.nanmean(pp)) if len(pp) else None,
        "months": months,
        "tour_minutes_total": (
            float(np.nansum(metrics["tour_minutes"]))
            if metrics["tour_minutes"].notna().any()
            else None
        ),
    }
