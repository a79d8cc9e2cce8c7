"""Grids and the administrative hierarchy: codes and their stable order.

Codes follow the Chinese standards for grid management: a 6-digit area code for the
district, then 3 digits each for street, community, grid and sub-grid. Within a parent,
children are numbered in reading order: rows from north to south, and west to east
within a row. A row is a band of centroids whose height is the median child size, so
small jitter in centroids does not reorder a row.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from .errors import SchemaError
from .model import CODE_DIGITS, LEVELS


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


def child_codes(parent_code: str, n: int, *, level: str) -> list[str]:
    """Codes ``parent_code + 001 ...`` for ``n`` children at ``level``."""
    if level not in LEVELS:
        raise SchemaError(f"level must be one of {LEVELS}, not {level!r}")
    digits = CODE_DIGITS[level]
    if n >= 10**digits:
        raise SchemaError(f"a parent can hold at most {10**digits - 1} {level}s, not {n}")
    return [f"{parent_code}{i:0{digits}d}" for i in range(1, n + 1)]


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
