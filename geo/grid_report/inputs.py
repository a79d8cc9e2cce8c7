"""Input checks of the grid report, and the small geometry and naming helpers its checks share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import check_metric_layers
from ..errors import SchemaError

_THIN_M = 1.0  # a gap or overlap narrower than this on average is called a sliver

_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


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
