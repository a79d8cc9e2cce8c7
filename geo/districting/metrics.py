"""How good a grid proposal is: :func:`proposal_metrics` and :func:`balance_index`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from ..crs import check_metric_layers
from ..errors import SchemaError
from ..geometry import check_geometries, make_polygonal, polsby_popper
from ..overlay import code_rank, largest_share

DEFAULT_BAND = (300.0, 500.0)


def balance_index(values: Sequence[float]) -> float:
    """Balance index 0-100: ``100 * (1 - Gini)`` of the per-grid loads.

    100 means every grid carries the same load; a single grid scores 100.

    Parameters
    ----------
    values
        Load (households or workload) per grid.

    Returns
    -------
    float
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if n <= 1 or v.sum() <= 0:
        return 100.0
    cum = np.cumsum(v)
    gini = (n + 1 - 2 * (cum / cum[-1]).sum()) / n
    return float(100.0 * (1.0 - max(0.0, gini)))


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def _polygonal(name: str, geoms: np.ndarray, *, repair: bool) -> np.ndarray:
    """Checked polygons, or (``repair``) every geometry repaired to its polygons."""
    if repair:
        return make_polygonal(geoms)
    check_geometries(geoms, what=name)
    return geoms


# ---------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------


def _assign_buildings(grids: gpd.GeoDataFrame, bgeoms: np.ndarray, tol_m2: float):
    """Owner grid of each building (largest share, ties to the lower code) and the number
    of grids it overlaps by more than ``tol_m2``."""
    rank = code_rank(grids["code"]) if "code" in grids.columns else None
    shares = largest_share(bgeoms, grids.geometry, min_area=tol_m2, rank=rank)
    return shares.owner, np.bincount(shares.item, minlength=len(bgeoms))


def proposal_metrics(
    grids: gpd.GeoDataFrame,
    community: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    households: str = "households",
    weight: str | None = None,
    band: tuple[float, float] = DEFAULT_BAND,
    split_tolerance_m2: float = 0.01,
    streets: gpd.GeoDataFrame | None = None,
    street_tolerance_m: float = 3.0,
) -> dict[str, Any]:
    """Measure a grid proposal from its geometry alone.

    Nothing from the solver is trusted: buildings are assigned to the grid holding the
    largest part of their footprint, and cover, overlap and contiguity are measured on
    the polygons.

    Parameters
    ----------
    grids
        Grid polygons.
    community
        Community polygon(s) the grids should cover exactly.
    buildings
        Building footprints with a households column.
    households
        Name of the households column of ``buildings``.
    weight
        Optional workload column of ``buildings``; when given, the band and the balance
        index apply to it instead of households.
    band
        Wanted (low, high) load per grid, inclusive.
    split_tolerance_m2
        A footprint counts as split when it overlaps more than one grid by more than this
        area each.
    streets
        Optional street lines; when given, ``street_share`` is the share of the internal
        grid boundary length lying within ``street_tolerance_m`` of a street.
    street_tolerance_m
        See ``streets``.

    Returns
    -------
    dict
        ``n_grids``, ``share_in_band``, ``balance_index``, ``split_buildings``,
        ``gaps_m2``, ``overlaps_m2``, ``outside_m2``, ``noncontiguous``,
        ``mean_polsby_popper``, ``min_load``, ``max_load``, ``mean_load``,
        ``unassigned_buildings`` and, with streets, ``street_share``.
    """
    check_metric_layers(
        {"grids": grids, "community": community, "buildings": buildings, "streets": streets}
    )
    col = weight or households
    if col not in buildings.columns:
        raise SchemaError(f"buildings has no column {col!r}; columns: {list(buildings.columns)}")
    g = np.asarray(grids.geometry.values, dtype=object)
    b = np.asarray(buildings.geometry.values, dtype=object)
    load = buildings[col].to_numpy(dtype=float)
    owner, n_hit = _assign_buildings(grids, b, split_tolerance_m2)
    per_grid = np.bincount(owner[owner >= 0], weights=load[owner >= 0], minlength=len(g))
    lo, hi = band
    in_band = (per_grid >= lo) & (per_grid <= hi)

    comm = shapely.union_all(np.asarray(community.geometry.values, dtype=object))
    covered = shapely.union_all(g) if len(g) else shapely.Polygon()
    gaps = float(shapely.area(shapely.difference(comm, covered)))
    outside = float(shapely.area(shapely.difference(covered, comm)))
    overlaps = 0.0
    if len(g) > 1:
        tree = shapely.STRtree(g)
        i, j = tree.query(g, predicate="intersects")
        m = i < j
        if m.any():
            overlaps = float(shapely.area(shapely.intersection(g[i[m]], g[j[m]])).sum())
    nparts = shapely.get_num_geometries(g)
    noncontig = int(((nparts > 1) | ~np.isin(shapely.get_type_id(g), (3, 6))).sum())
    pp = polsby_popper(g)
    out: dict[str, Any] = {
        "n_grids": len(g),
        "share_in_band": float(in_band.mean()) if len(g) else 0.0,
        "balance_index": balance_index(per_grid),
        "split_buildings": int((n_hit > 1).sum()),
        "gaps_m2": gaps,
        "overlaps_m2": overlaps,
        "outside_m2": outside,
        "noncontiguous": noncontig,
        "mean_polsby_popper": float(pp.mean()) if len(g) else 0.0,
        "min_load": float(per_grid.min()) if len(g) else 0.0,
        "max_load": float(per_grid.max()) if len(g) else 0.0,
        "mean_load": float(per_grid.mean()) if len(g) else 0.0,
        "unassigned_buildings": int((owner < 0).sum()),
    }
    if streets is not None and len(g):
        inner = shapely.difference(shapely.union_all(shapely.boundary(g)), shapely.boundary(comm))
        total = shapely.length(inner)
        if total > 0:
            sbuf = shapely.buffer(
                shapely.union_all(np.asarray(streets.geometry.values, dtype=object)),
                street_tolerance_m,
                quad_segs=2,
            )
            out["street_share"] = float(shapely.length(shapely.intersection(inner, sbuf)) / total)
        else:
            out["street_share"] = 1.0
    return out
