"""Grids and the administrative hierarchy: codes and their stable order.

Codes follow the Chinese standards for grid management: a 6-digit area code for the
district, then 3 digits each for street, community, grid and sub-grid. Within a parent,
children are numbered in reading order: rows from north to south, and west to east
within a row. A row is a band of centroids whose height is the median child size, so
small jitter in centroids does not reorder a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import check_metric, check_same_crs
from .errors import SchemaError
from .model import CODE_DIGITS, LEVELS
from .overlay import code_rank, largest_share


def reading_order(polygons: gpd.GeoSeries) -> np.ndarray:
    """Positions of ``polygons`` sorted north→south in rows, west→east within a row.

    Parameters
    ----------
    polygons
        Polygons in one CRS (projected or geographic; only the order matters).
    """
    if len(polygons) == 0:
        return np.array([], dtype=int)
    pts = polygons.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    size = np.sqrt(polygons.area.to_numpy())
    band = float(np.median(size)) or 1.0
    row = np.floor((y.max() - y) / band).astype(int)
    return np.lexsort((x, row))


def child_codes(parent_code: str, n: int, *, level: str, taken: Iterable[str] = ()) -> list[str]:
    """The ``n`` lowest free codes ``parent_code + 001 ...`` for children at ``level``.

    The one code allocator: new grids of a proposal, grids an alignment splits off and
    a fresh layer's codes all come from here. Codes in ``taken`` (kept, locked or retired
    codes) are skipped, so a code is never given twice; gaps below the highest code are
    filled first.

    Raises
    ------
    SchemaError
        Unknown level, or the parent would need more codes than its digits allow.
    """
    if level not in LEVELS:
        raise SchemaError(f"level must be one of {LEVELS}, not {level!r}")
    digits = CODE_DIGITS[level]
    taken = set(taken)
    out: list[str] = []
    seq = 1
    while len(out) < n:
        if seq >= 10**digits:
            raise SchemaError(
                f"a parent can hold at most {10**digits - 1} {level}s; {parent_code} would "
                f"need {n} more besides the {len(taken)} taken"
            )
        code = f"{parent_code}{seq:0{digits}d}"
        if code not in taken:
            out.append(code)
        seq += 1
    return out


def assign_codes(
    children: gpd.GeoDataFrame, *, parent_code: str, level: str = "grid"
) -> gpd.GeoDataFrame:
    """Give ``children`` of one parent their codes in the stable reading order.

    Returns
    -------
    A copy sorted by code, with ``code``, ``parent_code`` and ``level`` set.
    """
    order = reading_order(children.geometry)
    out = children.iloc[order].copy()
    out["code"] = child_codes(parent_code, len(out), level=level)
    out["parent_code"] = parent_code
    out["level"] = level
    return out.reset_index(drop=True)


def buildings_to_grids(
    buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, *, code_column: str = "code"
) -> pd.Series:
    """The grid holding the largest share of each building's footprint ('' if none).

    Both layers in one metric CRS. A building split between grids belongs to the grid
    holding most of it (:func:`gridpatrol.geo.overlay.largest_share`; equal shares go to
    the lower code).
    """
    check_same_crs(buildings, grids, names=("buildings", "grids"))
    check_metric(grids, what="grids")
    codes = grids[code_column].astype(str).to_numpy(dtype=object)
    owner = largest_share(buildings.geometry, grids.geometry, rank=code_rank(codes)).owner
    out = pd.Series("", index=buildings.index, dtype=object)
    out.iloc[np.flatnonzero(owner >= 0)] = codes[owner[owner >= 0]]
    return out


@dataclass
class GridDiff:
    """What changes between two grid layers."""

    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: list[str]
    changed_areas: gpd.GeoDataFrame  # code, area_m2, geometry (symmetric difference)
    buildings_moved: pd.DataFrame  # source_id, households, from_code, to_code
    households_moved: pd.DataFrame  # from_code, to_code, buildings, households
    incidents_moved: pd.DataFrame  # incident_id, from_code, to_code

    def summary(self) -> dict:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "buildings_moved": len(self.buildings_moved),
            "households_moved": int(self.buildings_moved["households"].sum())
            if len(self.buildings_moved)
            else 0,
            "incidents_moved": len(self.incidents_moved),
        }


def diff_grids(
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    tolerance_m2: float = 1.0,
) -> GridDiff:
    """Compare two versions of a grid layer (same metric CRS).

    Parameters
    ----------
    old, new
        Grids with ``code``.
    buildings
        With ``source_id`` and ``households``: who moves to another grid.
    incidents
        With ``incident_id``: which incidents change grid.
    tolerance_m2
        Geometry changes smaller than this count as unchanged.
    """
    layers = [old, new] + [x for x in (buildings, incidents) if x is not None]
    check_same_crs(*layers)
    check_metric(old, what="grids")
    a = old.set_index("code")
    b = new.set_index("code")
    added = sorted(set(b.index) - set(a.index))
    removed = sorted(set(a.index) - set(b.index))
    changed, unchanged, shapes = [], [], []
    for code in sorted(set(a.index) & set(b.index)):
        sym = shapely.symmetric_difference(a.geometry[code], b.geometry[code])
        if sym.area > tolerance_m2:
            changed.append(code)
            shapes.append((code, sym.area, sym))
        else:
            unchanged.append(code)
    for code in added:
        shapes.append((code, b.geometry[code].area, b.geometry[code]))
    for code in removed:
        shapes.append((code, a.geometry[code].area, a.geometry[code]))
    changed_areas = gpd.GeoDataFrame(
        {"code": [s[0] for s in shapes], "area_m2": [s[1] for s in shapes]},
        geometry=[s[2] for s in shapes],
        crs=old.crs,
    )
    moved_b = pd.DataFrame(columns=["source_id", "households", "from_code", "to_code"])
    by_pair = pd.DataFrame(columns=["from_code", "to_code", "buildings", "households"])
    if buildings is not None and len(buildings):
        f = buildings_to_grids(buildings, old)
        t = buildings_to_grids(buildings, new)
        mask = (f != t).to_numpy()
        moved_b = pd.DataFrame(
            {
                "source_id": buildings["source_id"].to_numpy()[mask],
                "households": buildings["households"].to_numpy()[mask],
                "from_code": f.to_numpy()[mask],
                "to_code": t.to_numpy()[mask],
            }
        )
        if len(moved_b):
            by_pair = (
                moved_b.groupby(["from_code", "to_code"])
                .agg(buildings=("source_id", "size"), households=("households", "sum"))
                .reset_index()
            )
    moved_i = pd.DataFrame(columns=["incident_id", "from_code", "to_code"])
    if incidents is not None and len(incidents):
        f = _point_codes(incidents, old)
        t = _point_codes(incidents, new)
        mask = f != t
        moved_i = pd.DataFrame(
            {
                "incident_id": incidents["incident_id"].to_numpy()[mask],
                "from_code": f[mask],
                "to_code": t[mask],
            }
        )
    return GridDiff(added, removed, changed, unchanged, changed_areas, moved_b, by_pair, moved_i)


def _point_codes(points: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> np.ndarray:
    from .assignment import GridIndex

    index = GridIndex.from_geodataframe(grids, code_column="code")
    pos = index.assign(
        shapely.get_x(points.geometry.values), shapely.get_y(points.geometry.values)
    ).position
    return np.where(pos >= 0, np.asarray(index.codes, dtype=object)[np.maximum(pos, 0)], "")
