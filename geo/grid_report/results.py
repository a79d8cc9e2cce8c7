"""The report a validation returns: :class:`Problem` and :class:`GridReport`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import SchemaError

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


def _tour_minutes_total(metrics: pd.DataFrame) -> float | None:
    """The summary's ``tour_minutes_total``: None when no tour was measured."""
    minutes = metrics["tour_minutes"]
    return float(np.nansum(minutes)) if minutes.notna().any() else None


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

    def with_walk_tours(self, tours: pd.DataFrame) -> GridReport:
        """This report with the walk tours of :func:`.walk.walk_tour_table` filled in.

        ``tours`` is indexed by grid code and may hold more grids than the report (a
        table of a whole version joined to the report of one level); grids it lacks
        stay NaN. The summary's ``tour_minutes_total`` follows.
        """
        metrics = self.metrics.copy()
        for col in tours.columns:
            metrics[col] = tours[col].reindex(metrics.index).to_numpy(dtype=float)
        summary = dict(self.summary, tour_minutes_total=_tour_minutes_total(metrics))
        return GridReport(problems=self.problems, metrics=metrics, summary=summary, crs=self.crs)

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
