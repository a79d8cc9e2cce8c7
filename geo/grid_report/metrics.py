"""Per-grid metrics of the grid report (boundary shares, incidents) and its summary."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import SchemaError
from ..overlay import code_rank, locate_points
from .inputs import _line_pieces, _near, _ring_pieces
from .results import PROBLEM_KINDS, _tour_minutes_total

_PARENT_TOL_M = 0.5  # a grid boundary piece this close to its community boundary runs along it


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


#: From this many points per grid on, incidents are located with the assignment index
#: (a lookup raster: ~10M points/s once built, and building it costs about what locating
#: a few hundred points per grid with an R-tree does); fewer use the R-tree directly.
_INDEX_POINTS_PER_GRID = 200


def _locate(
    g: np.ndarray, codes: np.ndarray, points: np.ndarray, crs: Any, xy: np.ndarray | None = None
) -> np.ndarray:
    """Position in ``g`` of the grid holding each point, ``-1`` if none: on a shared edge
    or in an overlap the lowest code (the rule incidents are assigned by). Points come as
    geometries, or as ``xy`` coordinates (then ``points`` may be None)."""
    n = len(points) if xy is None else len(xy)
    if n < _INDEX_POINTS_PER_GRID * max(len(g), 1) or crs is None:
        if points is None:
            points = shapely.points(xy)
        return locate_points(points, g, rank=code_rank(codes))
    from ..assignment import GridIndex

    index = GridIndex.from_geodataframe(
        gpd.GeoDataFrame({"code": codes}, geometry=g, crs=crs), code_column="code"
    )
    if xy is None:
        xy = np.column_stack([shapely.get_x(points), shapely.get_y(points)])
    pos = index.assign(xy[:, 0], xy[:, 1]).position
    return np.where(pos >= 0, index.input_rows[np.maximum(pos, 0)], -1)


def count_incidents(grids: Any, points: Any, *, crs: Any = None) -> pd.DataFrame:
    """Incidents per grid by the report's rule, as ``incident_counts`` takes them.

    Parameters
    ----------
    grids
        Grid polygons with ``code``, in a metric CRS.
    points
        Incident points (GeoSeries or GeoDataFrame) in the same CRS, or their
        coordinates as an ``(n, 2)`` array in ``crs`` (a million points need not be
        made into geometries to be counted).
    crs
        The CRS of coordinates given as an array (checked against the grids').

    Returns
    -------
    DataFrame with ``grid_code`` and ``count``, one row per grid (``""``: in none).
    """
    from ..crs import check_metric_layers, check_same_crs

    codes = grids["code"].astype(str).to_numpy(dtype=object)
    g = np.asarray(grids.geometry.values, dtype=object)
    if isinstance(points, np.ndarray):
        if points.ndim != 2 or points.shape[1] != 2:
            raise SchemaError(f"coordinates must be an (n, 2) array, not shape {points.shape}")
        grid_crs = check_metric_layers({"grids": grids})
        check_same_crs(grids, gpd.GeoSeries([], crs=crs), names=("grids", "coordinates"))
        at = _locate(g, codes, None, grid_crs, xy=points)
    else:
        grid_crs = check_metric_layers({"grids": grids, "incidents": points})
        pts = np.asarray(getattr(points, "geometry", points).values, dtype=object)
        at = _locate(g, codes, pts, grid_crs)
    count = np.bincount(at[at >= 0], minlength=len(codes))
    return pd.DataFrame(
        {"grid_code": [*codes, ""], "count": [*count.tolist(), int((at < 0).sum())]}
    )


def _incidents(
    g: np.ndarray,
    codes: np.ndarray,
    points: np.ndarray,
    when: pd.Series,
    months: float | None,
    crs: Any = None,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    n = len(g)
    at = _locate(g, codes, points, crs)
    count = np.bincount(at[at >= 0], minlength=n).astype(float)
    outside = int((at < 0).sum())
    if len(when):
        months = _months(when.min(), when.max(), months)
    else:
        months = _months(pd.NaT, pd.NaT, months)
    return count, count / months, months, outside


def _counted_incidents(
    codes: np.ndarray, counts: pd.DataFrame, months: float | None
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """What :func:`_incidents` gives, from incidents counted per grid code elsewhere."""
    per_code = counts.groupby("grid_code")["count"].sum()
    count = per_code.reindex(codes).fillna(0).to_numpy(dtype=float)
    outside = int(per_code.sum() - count.sum())
    if "first" in counts.columns and len(counts):
        first = pd.to_datetime(counts["first"], utc=True).min()
        last = pd.to_datetime(counts["last"], utc=True).max()
    else:
        first = last = pd.NaT
    months = _months(first, last, months)
    return count, count / months, months, outside


def _months(first: Any, last: Any, months: float | None) -> float:
    """The period incidents are spread over: ``months``, else their span (at least one)."""
    if months is not None:
        return float(months)
    span = (
        0.0 if pd.isna(first) or pd.isna(last) else (last - first) / pd.Timedelta(days=365.25 / 12)
    )
    return max(float(span), 1.0)


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
        "tour_minutes_total": _tour_minutes_total(metrics),
    }
