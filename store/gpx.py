"""GPX 1.1 files for the teams' phones, and GPS tracks read back from them (gpxpy).

A planned route is written as one track with one segment, points in the direction of
travel, plus waypoints (the station, dwell stops). A walked track is read into a
GeoDataFrame of points in WGS84, in file order (which GPS loggers write in time order).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import gpxpy
import gpxpy.gpx
import numpy as np
import pandas as pd
import shapely

from gridpatrol.geo.crs import WGS84
from gridpatrol.geo.errors import CRSError, InputFileError, InvalidGeometryError, SchemaError

__all__ = ["read_gpx_track", "route_to_gpx"]

CREATOR = "gridpatrol"


def _check_lonlat_line(line) -> np.ndarray:
    if not isinstance(line, shapely.LineString):
        raise InvalidGeometryError(
            f"route_to_gpx needs a shapely LineString in WGS84, not {type(line).__name__}"
        )
    if line.is_empty or len(line.coords) < 2:
        raise InvalidGeometryError("the route line is empty or has a single point")
    coords = shapely.get_coordinates(line, include_z=line.has_z)
    if not np.isfinite(coords).all():
        raise InvalidGeometryError("the route line has NaN or infinite coordinates")
    lon, lat = coords[:, 0], coords[:, 1]
    if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        raise CRSError(
            f"the route line has coordinates such as ({lon[0]:.1f}, {lat[0]:.1f}), which are "
            "not longitude/latitude: reproject it to WGS84 first "
            "(gridpatrol.geo.walks.route_geometry(G, edges, to_crs='EPSG:4326'))"
        )
    return coords


#: Decimal places of written coordinates: 1e-7 degrees is about 1 cm, and rounding drops
#: float noise such as 24.941000000000003 that reprojection leaves.
DECIMALS = 7


def _waypoint(item, i: int) -> gpxpy.gpx.GPXWaypoint:
    """A waypoint from ``(lon, lat, name[, description])``, a mapping, or an object
    with ``lon``, ``lat``, ``name`` (such as :class:`gridpatrol.geo.walks.RouteStop`)."""
    if isinstance(item, Mapping):
        get = item.get
    elif isinstance(item, (tuple, list)):
        if len(item) not in (2, 3, 4):
            raise SchemaError(f"waypoint {i} is {item!r}; expected (lon, lat, name[, description])")
        values = dict(zip(("lon", "lat", "name", "description"), item, strict=False))
        get = values.get
    else:

        def get(name, default=None):
            return getattr(item, name, default)

    try:
        lon, lat = float(get("lon")), float(get("lat"))
    except (TypeError, ValueError):
        raise SchemaError(f"waypoint {i} has no numeric lon/lat: {item!r}") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
        raise CRSError(f"waypoint {i} ({lon}, {lat}) is not a WGS84 longitude/latitude")
    name = get("name")
    desc = get("description")
    return gpxpy.gpx.GPXWaypoint(
        latitude=round(lat, DECIMALS),
        longitude=round(lon, DECIMALS),
        name=None if name is None else str(name),
        description=None if desc is None else str(desc),
    )


def route_to_gpx(
    line_wgs84: shapely.LineString,
    *,
    name: str,
    waypoints: Iterable | None = None,
    description: str | None = None,
) -> str:
    """Write a route as GPX 1.1 text.

    Parameters
    ----------
    line_wgs84
        The route in WGS84 (lon, lat), in the direction of travel; a z coordinate is
        written as elevation.
    name
        Track name shown on the phone ("Team 3 - Tuesday night").
    waypoints
        Station and dwell points: ``(lon, lat, name[, description])`` tuples, mappings
        with those keys, or objects with those attributes
        (:func:`gridpatrol.geo.walks.route_stops` gives them).
    description
        Track (and file) description.

    Returns
    -------
    str
        The GPX document: waypoints, then one track with one segment.

    Raises
    ------
    InvalidGeometryError
        Not a LineString, empty, or with non-finite coordinates.
    CRSError
        Coordinates that cannot be longitude/latitude (a projected line).
    SchemaError
        Empty name or malformed waypoints.
    """
    if not isinstance(name, str) or not name.strip():
        raise SchemaError("a GPX route needs a non-empty name")
    coords = _check_lonlat_line(line_wgs84)
    wpts = [_waypoint(w, i) for i, w in enumerate(waypoints or [])]
    gpx = gpxpy.gpx.GPX()
    gpx.creator = CREATOR
    gpx.name = name
    gpx.description = description
    gpx.waypoints.extend(wpts)
    track = gpxpy.gpx.GPXTrack(name=name, description=description)
    segment = gpxpy.gpx.GPXTrackSegment()
    for c in coords:
        segment.points.append(
            gpxpy.gpx.GPXTrackPoint(
                latitude=round(float(c[1]), DECIMALS),
                longitude=round(float(c[0]), DECIMALS),
                elevation=round(float(c[2]), 2) if len(c) > 2 else None,
            )
        )
    track.segments.append(segment)
    gpx.tracks.append(track)
    return gpx.to_xml(version="1.1")


def _gpx_text(text_or_path) -> tuple[str, str]:
    """The GPX text and a name for messages."""
    if isinstance(text_or_path, bytes):
        try:
            return text_or_path.decode("utf-8"), "GPX data"
        except UnicodeDecodeError as exc:
            raise InputFileError(f"GPX data is not UTF-8 text ({exc})") from exc
    if isinstance(text_or_path, str) and text_or_path.lstrip("\ufeff \t\r\n").startswith("<"):
        return text_or_path.lstrip("\ufeff"), "GPX text"
    if not isinstance(text_or_path, (str, Path)):
        raise InputFileError(
            f"expected GPX text or a path to a .gpx file, not {type(text_or_path).__name__}"
        )
    path = Path(text_or_path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        return path.read_bytes().decode("utf-8-sig"), str(path)
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text, so not a GPX file ({exc})") from exc
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it ({exc})") from exc


def read_gpx_track(text_or_path) -> gpd.GeoDataFrame:
    """Read the track points of a GPX file.

    Parameters
    ----------
    text_or_path
        GPX text (starting with ``<``), UTF-8 bytes, or a path to a ``.gpx`` file.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per track point in file order, in WGS84, with columns ``track``,
        ``segment`` (indices), ``lon``, ``lat``, ``elevation`` (NaN when absent),
        ``time`` (UTC, NaT when absent) and point ``geometry``.

    Raises
    ------
    InputFileError
        Missing or unreadable file, broken XML, not GPX, or no track points.
    """
    text, what = _gpx_text(text_or_path)
    try:
        gpx = gpxpy.parse(text)
    except gpxpy.gpx.GPXException as exc:
        raise InputFileError(f"{what}: not a readable GPX document ({exc})") from exc
    except ValueError as exc:  # malformed numbers, dates
        raise InputFileError(f"{what}: malformed value in the GPX document ({exc})") from exc
    rows = []
    for ti, track in enumerate(gpx.tracks):
        for si, segment in enumerate(track.segments):
            for p in segment.points:
                rows.append((ti, si, p.longitude, p.latitude, p.elevation, p.time))
    if not rows:
        n_route = sum(len(r.points) for r in gpx.routes)
        hint = (
            f"; it has {n_route} route points (<rtept>): export the recording as a track"
            if n_route
            else ""
        )
        raise InputFileError(f"{what}: no track points (<trkpt>) in it{hint}")
    frame = pd.DataFrame(rows, columns=["track", "segment", "lon", "lat", "elevation", "time"])
    for col in ("lon", "lat", "elevation"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    bad = (
        frame[["lon", "lat"]].isna().any(axis=1)
        | (frame["lon"].abs() > 180)
        | (frame["lat"].abs() > 90)
    )
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputFileError(
            f"{what}: track point {i} has no valid lat/lon ({frame['lat'][i]}, {frame['lon'][i]})"
        )
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=WGS84
    )
