"""Cameras: reading OSM surveillance tags into the camera model.

OSM tags read (https://wiki.openstreetmap.org/wiki/Key:surveillance)::

    camera:direction   compass bearing, degrees or N/NE/ENE...   -> direction
    camera:type        fixed | panning | dome                    -> camera_type
    camera:angle       tilt below the horizontal, degrees         -> tilt
    camera:fov / camera:angle_of_view (rare)                      -> fov
    surveillance:type  camera | ALPR | guard                      -> surveillance_type
    surveillance       public | outdoor | indoor                  -> zone
    height / camera:height                                        -> height_m
    revolving          yes | no                                   -> rotating

Note: OSM's ``camera:angle`` is the vertical tilt, not the horizontal field of view;
no common tag gives the field of view, so it is nearly always a default.

Defaults where tags are absent (each one listed in ``defaulted``):

=================  ==========================================================
direction          unknown (NaN): coverage treats it as a full circle at half range
fov                60° fixed, 90° dome, 360° panning or revolving cameras
range_m            30 m (identification range of a typical street camera); 20 m ALPR
height_m           4 m
camera_type        fixed
=================  ==========================================================
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

FOV_DEFAULT = {"fixed": 60.0, "dome": 90.0, "panning": 360.0}
RANGE_DEFAULT_M = 30.0
RANGE_ALPR_M = 20.0
HEIGHT_DEFAULT_M = 4.0

_COMPASS = {
    name: i * 22.5
    for i, name in enumerate("N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split())
}


def parse_direction(value) -> float:
    """Compass bearing in degrees from an OSM ``camera:direction`` value, NaN if unreadable."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    text = str(value).strip().upper()
    if text in _COMPASS:
        return _COMPASS[text]
    match = re.match(r"^(-?\d+(?:\.\d+)?)", text)
    return float(match.group(1)) % 360.0 if match else np.nan


def _number(value) -> float:
    if value is None:
        return np.nan
    match = re.match(r"^\s*(-?\d+(?:\.\d+)?)", str(value))
    return float(match.group(1)) if match else np.nan


def _tags(row: pd.Series) -> dict:
    tags = row.get("tags")
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except json.JSONDecodeError:
            tags = {}
    tags = dict(tags) if isinstance(tags, dict) else {}
    for key, value in row.items():  # osmnx puts tags in columns
        if isinstance(key, str) and key not in ("geometry", "tags") and value == value:
            if value is not None:
                tags.setdefault(key, value)
    return tags


def cameras_from_osm(points: gpd.GeoDataFrame, *, id_column: str = "source_id") -> gpd.GeoDataFrame:
    """Read OSM surveillance points into the camera model's columns.

    Parameters
    ----------
    points
        One row per camera with the OSM tags, either in columns or as a ``tags`` dict
        (or JSON string); ``id_column`` holds the source id.
    id_column
        Column with the id to keep as ``source_id``.

    Returns
    -------
    GeoDataFrame with the columns of :data:`gridpatrol.geo.model.CAMERAS`.
    """
    records = []
    for _, row in points.iterrows():
        tags = _tags(row)
        defaulted = []
        ctype = str(tags.get("camera:type", "")).strip().lower()
        if ctype not in FOV_DEFAULT:
            defaulted.append("camera_type")
            ctype = "fixed"
        rotating = str(tags.get("revolving", "no")).strip().lower() == "yes" or ctype == "panning"
        direction = parse_direction(tags.get("camera:direction", tags.get("direction")))
        if np.isnan(direction):
            defaulted.append("direction")
        fov = _number(tags.get("camera:fov", tags.get("camera:angle_of_view")))
        if np.isnan(fov):
            fov = 360.0 if rotating else FOV_DEFAULT[ctype]
            defaulted.append("fov")
        stype = str(tags.get("surveillance:type", "camera")).strip() or "camera"
        range_m = _number(tags.get("camera:range"))
        if np.isnan(range_m):
            range_m = RANGE_ALPR_M if stype.upper() == "ALPR" else RANGE_DEFAULT_M
            defaulted.append("range_m")
        height = _number(tags.get("camera:height", tags.get("height")))
        if np.isnan(height):
            height = HEIGHT_DEFAULT_M
            defaulted.append("height_m")
        records.append(
            {
                "source_id": str(row[id_column]),
                "direction": direction,
                "fov": fov,
                "range_m": range_m,
                "height_m": height,
                "tilt": _number(tags.get("camera:angle")),
                "camera_type": ctype,
                "surveillance_type": stype,
                "zone": str(tags.get("surveillance", "")),
                "rotating": rotating,
                "defaulted": ",".join(defaulted),
            }
        )
    return gpd.GeoDataFrame(records, geometry=points.geometry.values, crs=points.crs)


def view_areas(cameras: gpd.GeoDataFrame, *, arc_steps: int = 16) -> gpd.GeoSeries:
    """The ground each camera sees, ignoring obstacles: a sector of ``fov`` degrees around
    ``direction`` out to ``range_m``; a full circle for 360° cameras; a circle of half the
    range where the direction is unknown (the documented default).

    Parameters
    ----------
    cameras
        Camera points in a metric CRS with ``direction``, ``fov`` and ``range_m``.
    arc_steps
        Vertices on a sector's arc.
    """
    from .crs import check_metric

    check_metric(cameras, what="cameras")
    x = cameras.geometry.x.to_numpy()
    y = cameras.geometry.y.to_numpy()
    direction = cameras["direction"].to_numpy(dtype=float)
    fov = np.clip(cameras["fov"].to_numpy(dtype=float), 1.0, 360.0)
    reach = cameras["range_m"].to_numpy(dtype=float)
    shapes = []
    for i in range(len(cameras)):
        if np.isnan(direction[i]):
            shapes.append(shapely.Point(x[i], y[i]).buffer(reach[i] / 2.0, quad_segs=8))
        elif fov[i] >= 359.0:
            shapes.append(shapely.Point(x[i], y[i]).buffer(reach[i], quad_segs=8))
        else:
            # compass bearings: 0 = north, clockwise
            angles = np.radians(
                np.linspace(direction[i] - fov[i] / 2, direction[i] + fov[i] / 2, arc_steps)
            )
            arc = np.column_stack(
                [x[i] + reach[i] * np.sin(angles), y[i] + reach[i] * np.cos(angles)]
            )
            shapes.append(shapely.Polygon(np.vstack([[x[i], y[i]], arc, [x[i], y[i]]])))
    return gpd.GeoSeries(shapes, index=cameras.index, crs=cameras.crs)


def coverage_share(areas: gpd.GeoDataFrame, views: gpd.GeoSeries) -> np.ndarray:
    """Share of each area (grid) inside the union of camera views (same metric CRS)."""
    from .crs import check_same_crs

    check_same_crs(areas, gpd.GeoDataFrame(geometry=views), names=("grids", "camera views"))
    if len(views) == 0:
        return np.zeros(len(areas))
    seen = shapely.union_all(views.values)
    inter = shapely.area(shapely.intersection(areas.geometry.values, seen))
    return inter / np.maximum(shapely.area(areas.geometry.values), 1e-9)
