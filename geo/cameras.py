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
range_m            30 m (the "observe" distance of a typical street camera); 20 m ALPR
height_m           4 m
camera_type        fixed
tilt               unknown (NaN): no near blind zone and no far cut-off
=================  ==========================================================

Fields of view (:func:`fields_of_view`) are real visibility polygons: rays stop at the
first building wall (:mod:`gridpatrol.geo.visibility`). A camera mapped inside a
footprint (OSM often puts wall cameras a little inside) is moved to just outside the
nearest wall first and reported in ``moved_m``. Buildings are taken as taller than the
camera: nobody sees over a roof.

Height and tilt, where tilt is given: the vertical field of view is taken as 9/16 of the
horizontal one (16:9 sensor, at most 90°); the ground closer than
``height / tan(tilt + vfov/2)`` is under the camera's view, and, when the upper edge of
the image points below the horizon, ground beyond ``height / tan(tilt - vfov/2)`` is
above it.

Quality bands follow the DORI pixel densities of EN 62676-4 (identify 250 px/m,
recognise 125 px/m, observe 62.5 px/m). Pixel density falls as 1/distance, so with
``range_m`` taken as the observe distance a camera recognises out to ``range_m / 2`` and
identifies out to ``range_m / 4``.
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


#: DORI bands (EN 62676-4): name, pixels per metre, outer distance as a share of range_m
QUALITY_BANDS = (("identify", 250.0, 0.25), ("recognise", 125.0, 0.5), ("observe", 62.5, 1.0))
#: how far outside the wall a camera mapped inside a footprint is put, metres
WALL_OFFSET_M = 0.3


def _geometry_array(layer) -> np.ndarray:
    if layer is None:
        return np.array([], dtype=object)
    if isinstance(layer, gpd.GeoDataFrame):
        layer = layer.geometry
    values = np.asarray(getattr(layer, "values", layer), dtype=object)
    return values[~(shapely.is_missing(values) | shapely.is_empty(values))]


def move_off_walls(
    x: np.ndarray, y: np.ndarray, buildings, *, offset_m: float = WALL_OFFSET_M
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move points that lie inside a footprint to just outside its nearest wall.

    Returns the new ``x``, ``y`` and the distance each point moved (0 for most).
    """
    x, y = np.asarray(x, float).copy(), np.asarray(y, float).copy()
    moved = np.zeros(len(x))
    geoms = _geometry_array(buildings)
    if len(x) == 0 or len(geoms) == 0:
        return x, y, moved
    pts = shapely.points(x, y)
    tree = shapely.STRtree(geoms)
    # inside a footprint or on its wall (rays from a point on a wall leak into the room)
    pi = np.unique(tree.query(pts, predicate="dwithin", distance=0.01)[0])
    if len(pi) == 0:
        return x, y, moved
    # the nearest point offset_m outside the block around each such point: footprints
    # sharing walls count as one block, so the point does not land inside the neighbour
    near = np.unique(tree.query(pts[pi], predicate="dwithin", distance=50.0)[1])
    blocks = shapely.get_parts(shapely.union_all(shapely.buffer(geoms[near], offset_m)))
    qi, bi = shapely.STRtree(blocks).query(pts[pi], predicate="intersects")
    qi, first = np.unique(qi, return_index=True)
    pi = pi[qi]
    line = shapely.shortest_line(pts[pi], shapely.boundary(blocks[bi[first]]))
    end = shapely.get_coordinates(shapely.get_point(line, 1))
    d = np.hypot(end[:, 0] - x[pi], end[:, 1] - y[pi])
    x[pi], y[pi] = end[:, 0], end[:, 1]
    moved[pi] = d
    return x, y, moved


def view_geometry(cameras: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per camera the numbers the visibility needs, after the documented defaults.

    Columns: ``start`` (bearing of the first ray), ``sweep`` (degrees; 360 = full
    circle), ``reach`` (metres, after the far cut-off of a tilted camera) and ``near``
    (ground radius under the camera it cannot see, metres).
    """
    direction = pd.to_numeric(cameras.get("direction"), errors="coerce")
    n = len(cameras)
    direction = np.full(n, np.nan) if direction is None else np.asarray(direction, dtype=float)
    fov = _column(cameras, "fov", FOV_DEFAULT["fixed"])
    reach = _column(cameras, "range_m", RANGE_DEFAULT_M)
    height = _column(cameras, "height_m", HEIGHT_DEFAULT_M)
    tilt = _column(cameras, "tilt", np.nan)
    rotating = np.asarray(
        cameras["rotating"].fillna(False).astype(bool)
        if "rotating" in cameras
        else np.zeros(n, bool)
    )
    fov = np.clip(fov, 1.0, 360.0)
    unknown = np.isnan(direction)
    full = (fov >= 359.0) | rotating | unknown
    reach = np.where(unknown & ~rotating & (fov < 359.0), reach / 2.0, reach)
    sweep = np.where(full, 360.0, fov)
    start = np.where(full, 0.0, np.nan_to_num(direction) - fov / 2.0)
    vfov = np.minimum(np.where(full, 90.0, fov), 90.0) * 9.0 / 16.0
    low = np.radians(np.clip(tilt + vfov / 2.0, 0.0, 90.0))
    high = np.radians(tilt - vfov / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        near = np.where(np.isnan(tilt) | (low >= np.radians(89.9)), 0.0, height / np.tan(low))
        far = np.where(np.isnan(tilt) | (high <= 0), np.inf, height / np.tan(high))
    near = np.nan_to_num(near, nan=0.0, posinf=0.0)
    reach = np.minimum(reach, far)
    near = np.minimum(near, reach)
    return pd.DataFrame(
        {"start": start, "sweep": sweep, "reach": reach, "near": near, "full": full},
        index=cameras.index,
    )


def _column(df, name, default) -> np.ndarray:
    if name not in df:
        return np.full(len(df), default, dtype=float)
    values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(values), default, values)


def fields_of_view(
    cameras: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    step_deg: float = 1.0,
    wall_offset_m: float = WALL_OFFSET_M,
) -> gpd.GeoDataFrame:
    """The ground each camera sees, with building walls blocking the view.

    Parameters
    ----------
    cameras
        Camera points in a metric CRS with the columns of the camera model (missing
        values take the documented defaults).
    buildings
        Footprints in the same CRS; None or empty for open ground.
    step_deg
        Angle between the rays cast; must divide 360.
    wall_offset_m
        A camera inside a footprint moves this far outside the nearest wall.

    Returns
    -------
    GeoDataFrame, one row per camera (same index), with ``source_id`` (when given),
    ``reach_m``, ``near_m``, ``full_circle``, ``moved_m``, ``seen_m2``, the position
    the view was cast from (``x``, ``y``) and the visible ground as ``geometry``.
    """
    from .crs import check_metric, check_same_crs
    from .visibility import fan_polygons, ray_distances

    check_metric(cameras, what="cameras")
    if buildings is not None and len(buildings):
        check_same_crs(cameras, buildings, names=("cameras", "buildings"))
    walls = _geometry_array(buildings)
    geo = view_geometry(cameras)
    x, y, moved = move_off_walls(
        shapely.get_x(cameras.geometry.values),
        shapely.get_y(cameras.geometry.values),
        walls,
        offset_m=wall_offset_m,
    )
    full = geo["full"].to_numpy()
    sweep = geo["sweep"].to_numpy()
    reach = geo["reach"].to_numpy()
    # full circles: rays at exactly step_deg; sectors: the step shrunk to fit the sweep
    n_rays = np.where(full, int(round(360 / step_deg)), np.ceil(sweep / step_deg).astype(int) + 1)
    step = np.where(full, 360.0 / n_rays, sweep / np.maximum(n_rays - 1, 1))
    _, rb, rd = ray_distances(x, y, geo["start"].to_numpy(), step, n_rays, full, reach, walls)
    polys = fan_polygons(x, y, n_rays, full, rb, rd)
    near = geo["near"].to_numpy()
    blind = near > 0.05
    if blind.any():
        polys[blind] = shapely.difference(
            polys[blind], shapely.buffer(shapely.points(x[blind], y[blind]), near[blind])
        )
    out = gpd.GeoDataFrame(
        {
            "reach_m": reach,
            "near_m": near,
            "full_circle": full,
            "moved_m": moved,
            "seen_m2": shapely.area(polys),
            "x": x,
            "y": y,
        },
        geometry=polys,
        crs=cameras.crs,
        index=cameras.index,
    )
    if "source_id" in cameras:
        out.insert(0, "source_id", cameras["source_id"].to_numpy())
    return out


def quality_bands(views: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cut each field of view into the DORI bands identify, recognise and observe.

    Parameters
    ----------
    views
        Output of :func:`fields_of_view` (uses ``x``, ``y``, ``reach_m``).

    Returns
    -------
    GeoDataFrame with one row per camera and band that is not empty: ``source_id`` (when
    given), ``band``, ``px_per_m`` (the band's lower bound), ``from_m``, ``to_m``.
    The outer limit of each band is ``range_m`` times 1/4, 1/2 and 1 (see the module
    docstring).
    """
    geoms = np.asarray(views.geometry.values, dtype=object)
    centre = shapely.points(views["x"].to_numpy(), views["y"].to_numpy())
    reach = views["reach_m"].to_numpy(dtype=float)
    frames = []
    inner = np.zeros(len(views))
    for name, ppm, share in QUALITY_BANDS:
        outer = reach * share
        disk = shapely.buffer(centre, np.maximum(outer, 1e-6), quad_segs=16)
        part = shapely.intersection(geoms, disk)
        if (inner > 0).any():
            hole = shapely.buffer(centre, np.maximum(inner, 1e-6), quad_segs=16)
            part = np.where(inner > 0, shapely.difference(part, hole), part)
        frame = pd.DataFrame(
            {"band": name, "px_per_m": ppm, "from_m": inner, "to_m": outer}, index=views.index
        )
        if "source_id" in views:
            frame.insert(0, "source_id", views["source_id"].to_numpy())
        frame["geometry"] = part
        frames.append(frame)
        inner = outer
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=views.crs)
    keep = ~shapely.is_empty(out.geometry.values) & (shapely.area(out.geometry.values) > 1e-6)
    return out[keep].reset_index(drop=True)
