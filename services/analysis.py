"""Read-only analyses for the API and pages: incident figures, hot spots, density, grids.

The routers and pages call these; they compute in the project's metric CRS and return
WGS84 frames for the edges to serialise.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from gridpatrol.geo.dispatch import grid_figures
from gridpatrol.geo.errors import SchemaError
from gridpatrol.geo.hotspots import filter_incidents, kernel_density, square_cells
from gridpatrol.geo.hotspots import hot_spots as geo_hot_spots
from gridpatrol.store.base import Store

from .cameras import coverage
from .project import project_settings

HOT_SPOT_COLUMNS = ("code", "cell", "count", "gi_z", "p_sim", "hotspot", "geometry")


def suppress_small_counts(
    table: pd.DataFrame,
    *,
    column: str,
    min_count: int,
    derived: Sequence[str] = (),
    text: str | None = None,
) -> pd.DataFrame:
    """The table as a client without incident details sees it: counts below ``min_count``
    (and the ``derived`` figures computed from them) become None, as embeds show them, so a
    count of 1 cannot point at one neighbour's report. Adds ``suppressed`` and a text column
    (``text``, default ``<column>_text``: the number, or ``"<k"``). Embeds use it too."""
    out = table.copy()
    min_count = max(int(min_count), 1)
    counts = out[column].to_numpy(float)
    small = counts < min_count
    out[text or f"{column}_text"] = [
        f"<{min_count}" if s else f"{c:.0f}" for c, s in zip(counts, small, strict=True)
    ]
    out = out.astype({c: object for c in (column, *derived) if c in out})
    for c in (column, *derived):
        if c in out:
            out.loc[small, c] = None
    out["suppressed"] = small
    return out


def incident_figures(store: Store) -> pd.DataFrame:
    """Per grid: incidents, share closed at grid level and on time, median hours to close."""
    return grid_figures(store.read("incidents"), taxonomy=project_settings(store).taxonomy)


def select_incidents(
    store: Store,
    *,
    hours: tuple[int, int] | None = None,
    weekdays: Sequence[int] | None = None,
    categories: Sequence[str] | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> gpd.GeoDataFrame:
    """The incidents in the given local hours, weekdays, categories and dates."""
    return filter_incidents(
        store.read("incidents"),
        hours=hours,
        weekdays=weekdays,
        categories=categories,
        start=start,
        end=end,
        tz=project_settings(store).tz,
    )


def hot_spots(
    store: Store,
    points: gpd.GeoDataFrame,
    *,
    units: str = "grids",
    cell_size: float = 200.0,
    permutations: int = 999,
    alpha: float = 0.05,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* hot and cold spots of ``points`` per active grid or square cell (WGS84)."""
    grids = store.read("grids", where={"version": project_settings(store).active_grid_version})
    if grids.empty:
        raise SchemaError("no grids to compute hot spots on")
    metric = grids.to_crs(store.metric_crs(grids))
    if units == "cells":
        cells = square_cells(metric.total_bounds, cell_size=cell_size, crs=metric.crs)
        metric = cells[cells.intersects(metric.union_all())].reset_index(drop=True)
    elif units != "grids":
        raise SchemaError(f"units must be grids or cells, not {units!r}")
    pts = points.to_crs(metric.crs) if len(points) else points
    result = geo_hot_spots(metric, pts, permutations=permutations, alpha=alpha)
    out = result.units.to_crs(4326)
    return out[[c for c in HOT_SPOT_COLUMNS if c in out]]


def density_cells(
    store: Store, points: gpd.GeoDataFrame, *, bandwidth: float = 150.0, cell_size: float = 25.0
) -> gpd.GeoDataFrame | None:
    """Kernel density (incidents per km²) as WGS84 cells above 5% of the peak; None if empty."""
    if points.empty:
        return None
    metric = points.to_crs(store.metric_crs(points))
    surface = kernel_density(metric, bandwidth=bandwidth, cell_size=cell_size)
    return surface.to_cells().to_crs(4326)


def active_grids(store: Store) -> gpd.GeoDataFrame:
    """The grids of the active version (WGS84)."""
    return store.read("grids", where={"version": project_settings(store).active_grid_version})


def grid_measures(store: Store) -> gpd.GeoDataFrame:
    """Active grids with ``incidents`` (count) and ``camera_coverage`` (share of the grid's
    street length seen by a camera, views stopped by walls: :func:`.cameras.coverage`)."""
    grids = active_grids(store)
    if grids.empty:
        return grids
    # counted by the store: a page of 20 grids need not load a million incidents
    counts = store.count_by("incidents", ["grid_code"]).set_index("grid_code")["count"]
    grids["incidents"] = grids["code"].map(counts).fillna(0).astype(int)
    shares = {}
    if store.count("cameras") and store.count("streets"):  # else nothing is seen
        shares = {r["code"]: r["street_share"] for r in coverage(store, by="grid")["rows"]}
    grids["camera_coverage"] = np.round(grids["code"].map(shares).fillna(0.0).astype(float), 3)
    return grids


#: Below this many incidents (or two per grid) no hot spots are tested, and the page says
#: so; 30 is the usual floor for Gi* (ArcGIS Hot Spot Analysis asks for 30 features).
MIN_HOTSPOT_INCIDENTS = 30
#: Cold spots are shown only when grids hold this many incidents on average: below it an
#: empty grid is likely by chance alone (Poisson P(0 | 3) = 5%).
MIN_MEAN_FOR_COLD = 3.0


def significant_hot_spots(
    grids: gpd.GeoDataFrame, incidents: gpd.GeoDataFrame, *, crs
) -> tuple[gpd.GeoDataFrame | None, tuple[str, dict] | None]:
    """Gi* hot (and, with enough data, cold) grids, and a note when data are too few.

    Returns the significant grids in WGS84 (None when not tested) and a note as
    ``(key, numbers)`` for the page to phrase: ``("hotspot_too_few", {"n", "need"})`` or
    ``("hotspot_no_cold", {"mean"})``.
    """
    if len(grids) < 3:
        return None, None
    need = max(MIN_HOTSPOT_INCIDENTS, 2 * len(grids))
    if len(incidents) < need:
        return None, ("hotspot_too_few", {"n": len(incidents), "need": need})
    result = geo_hot_spots(grids.to_crs(crs), incidents.to_crs(crs), permutations=999)
    units, note = result.units, None
    mean = float(units["count"].mean())
    if mean < MIN_MEAN_FOR_COLD:
        # with so few per grid, an empty grid is what chance gives: not a cold spot
        units = units.assign(hotspot=units["hotspot"].replace("cold", "none"))
        note = ("hotspot_no_cold", {"mean": mean})
    return units[units["hotspot"] != "none"].to_crs(4326), note


def incident_map_layers(
    store: Store,
    *,
    category: str | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    hours: tuple[int, int] | None = None,
) -> dict:
    """Incidents filtered as asked, the active grids, their significant Gi* grids (or None)
    and a note when the data are too few for a pattern (see :func:`significant_hot_spots`)."""
    incidents = store.read("incidents")
    if len(incidents):
        incidents = filter_incidents(
            incidents,
            categories=[category] if category else None,
            start=start,
            end=end,
            hours=hours,
            tz=project_settings(store).tz,
        )
    grids = active_grids(store)
    hot, note = None, None
    if len(grids):
        hot, note = significant_hot_spots(grids, incidents, crs=store.metric_crs(grids))
    return {"incidents": incidents, "grids": grids, "hot": hot, "hot_note": note}
