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

FOV_DEFAULT = {"fixed": 60.0, "dome": 90.0, "panning": 360.0}
RANGE_DEFAULT_M = 30.0
RANGE_ALPR_M = 20.0
HEIGHT_DEFAULT_M = 4.0

_COMPASS = {
    name: i * 22.5
    for i, name in enumerate(
        "N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split()
    )
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
