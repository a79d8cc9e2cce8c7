"""Coordinate reference systems: metric inside, WGS84 at the edges, GCJ-02 / BD-09 in.

Chinese map apps (AMap, Tencent, Baidu) report coordinates in GCJ-02 or BD-09, which
pyproj does not know: they are deliberately obfuscated offsets of WGS84. The
conversions here are the published public-domain formulas (as in ``eviltransform`` and
``prcoords``), written again because those packages convert one point at a time in pure
Python and we need numpy arrays of millions of points; the inverse GCJ-02 → WGS84 is
solved by fixed-point iteration to well under a millimetre.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pyproj

from gridpatrol.lazy import lazy_module

from .errors import CRSError, SwappedCoordinatesError
from .geometry import make_polygonal

# imported on first use, so the service answers before they load (gridpatrol.lazy)
gpd = lazy_module("geopandas")
shapely = lazy_module("shapely")

WGS84 = pyproj.CRS.from_epsg(4326)

#: CRS names accepted everywhere a CRS is given, besides anything pyproj understands.
CHINESE_DATUMS = ("gcj02", "bd09")

CRSLike = str | int | pyproj.CRS

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def parse_crs(value: CRSLike | None) -> pyproj.CRS | Literal["gcj02", "bd09"]:
    """Read a CRS given by a user.

    Parameters
    ----------
    value
        ``"wgs84"``, ``"gcj02"``, ``"bd09"``, ``"EPSG:n"``, an integer EPSG code, or
        anything :class:`pyproj.CRS` accepts.

    Returns
    -------
    pyproj.CRS or the string ``"gcj02"`` / ``"bd09"``.
    """
    if value is None:
        raise CRSError("no CRS given: pass one such as 'EPSG:4326', 'gcj02' or 'bd09'")
    if isinstance(value, pyproj.CRS):
        return value
    if isinstance(value, str):
        name = value.strip().lower().replace("-", "").replace("_", "")
        if name in ("gcj02", "bd09"):
            return name  # type: ignore[return-value]
        if name in ("wgs84", "epsg4326", "4326"):
            return WGS84
        if name.isdigit():
            value = int(name)
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"unknown CRS {value!r}: use an EPSG code like 'EPSG:4326', or 'gcj02' / 'bd09' "
            "for coordinates from Chinese map apps"
        ) from exc


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 longitudes and latitudes to GCJ-02 (identity outside China)."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (error well under 1 mm)."""
    glon = np.asarray(lon, dtype="float64")
    glat = np.asarray(lat, dtype="float64")
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon -= elon
        wlat -= elat
        if np.nanmax(np.abs(np.concatenate([elon.ravel(), elat.ravel()])), initial=0.0) < 1e-10:
            break
    return wlon, wlat


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift GCJ-02 to Baidu's BD-09."""
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift Baidu's BD-09 back to GCJ-02."""
    x = np.asarray(lon, dtype="float64") - 0.0065
    y = np.asarray(lat, dtype="float64") - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    # The published inverse is approximate (~1 cm); a few fixed-point steps make it exact.
    blon, blat = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    for _ in range(5):
        flon, flat = gcj02_to_bd09(glon, glat)
        glon, glat = glon - (flon - blon), glat - (flat - blat)
    return glon, glat


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift Baidu's BD-09 to WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 to Baidu's BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _shift_geometries(geoms, func):
    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms), apply)


def to_wgs84(gdf: gpd.GeoDataFrame, *, crs: CRSLike | None = None) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` in WGS84 (EPSG:4326).

    Parameters
    ----------
    gdf
        Features in any CRS.
    crs
        The CRS of the coordinates, overriding the one ``gdf`` carries. Needed for
        ``"gcj02"`` and ``"bd09"``, which no file format can declare.

    Raises
    ------
    CRSError
        When neither ``gdf`` nor ``crs`` names a CRS.
    """
    source = parse_crs(crs) if crs is not None else gdf.crs
    if source is None:
        raise CRSError(
            "the data has no CRS: pass one explicitly (for example --crs EPSG:4326, or "
            "--crs gcj02 for coordinates from AMap/Tencent, --crs bd09 for Baidu)"
        )
    if isinstance(source, str):
        out = gdf.copy()
        out = out.set_geometry(_shift_geometries(out.geometry.values, _TO_WGS84[source]))
        return out.set_crs(WGS84, allow_override=True)
    if crs is not None:
        gdf = gdf.set_crs(source, allow_override=True)
    if pyproj.CRS(gdf.crs).equals(WGS84, ignore_axis_order=True):
        return gdf.copy()
    return gdf.to_crs(WGS84)


def from_wgs84(gdf: gpd.GeoDataFrame, datum: Literal["gcj02", "bd09"]) -> gpd.GeoDataFrame:
    """Shift WGS84 features to GCJ-02 or BD-09 for display on a Chinese basemap.

    The result still says EPSG:4326, because no CRS names these datums; use it only
    to draw on AMap/Tencent/Baidu tiles.
    """
    check_crs(gdf, WGS84, what="features to shift")
    return gdf.set_geometry(_shift_geometries(gdf.geometry.values, _FROM_WGS84[datum]))


def metric_crs(gdf: gpd.GeoDataFrame) -> pyproj.CRS:
    """The UTM CRS for the area of ``gdf`` (as osmnx ``project_gdf`` chooses it)."""
    if gdf.crs is None:
        raise CRSError("cannot choose a metric CRS for data without a CRS")
    if len(gdf) == 0 or gdf.geometry.is_empty.all():
        raise CRSError("cannot choose a metric CRS for an empty layer")
    return gdf.estimate_utm_crs()


def project(gdf: gpd.GeoDataFrame, *, to: CRSLike | None = None) -> gpd.GeoDataFrame:
    """Project ``gdf`` to ``to``, or to the UTM zone of its area when ``to`` is None."""
    target = metric_crs(gdf) if to is None else parse_crs(to)
    if isinstance(target, str):
        raise CRSError("gcj02/bd09 are not metric: project to a UTM zone instead")
    return gdf.to_crs(target)


def check_crs(gdf: gpd.GeoDataFrame, expected: CRSLike, *, what: str = "layer") -> None:
    """Raise :class:`CRSError` unless ``gdf`` is in ``expected``.

    geopandas only warns on a mismatch; a plan computed on mixed coordinates is wrong,
    so here it is an error.
    """
    want = parse_crs(expected)
    if gdf.crs is None:
        raise CRSError(f"{what} has no CRS; expected {want}")
    if isinstance(want, str) or not pyproj.CRS(gdf.crs).equals(want, ignore_axis_order=True):
        raise CRSError(
            f"{what} is in {pyproj.CRS(gdf.crs).to_string()} but {want} was expected: "
            "reproject it first (GeoDataFrame.to_crs)"
        )


def check_same_crs(*layers: gpd.GeoDataFrame, names: tuple[str, ...] | None = None) -> None:
    """Raise :class:`CRSError` unless all layers share one CRS."""
    names = names or tuple(f"layer {i}" for i in range(len(layers)))
    first = layers[0].crs
    for name, layer in zip(names[1:], layers[1:], strict=True):
        if layer.crs is None or first is None or not pyproj.CRS(layer.crs).equals(first):
            raise CRSError(
                f"{name} is in {layer.crs and pyproj.CRS(layer.crs).to_string()} but "
                f"{names[0]} is in {first and pyproj.CRS(first).to_string()}: "
                "reproject one to the other first"
            )


def check_metric_crs(crs: CRSLike | None, *, what: str = "layer") -> pyproj.CRS:
    """The one metric-CRS rule: a projected CRS whose two axes are in metres.

    Returns the CRS as a :class:`pyproj.CRS`; raises :class:`CRSError` when it is missing,
    geographic (degrees), not projected, or has axes in another unit (US feet ...).
    """
    if crs is None:
        raise CRSError(
            f"{what} has no CRS; distances in metres need a projected CRS: set it with "
            ".set_crs(...) or project with gridpatrol.geo.crs.project"
        )
    crs = pyproj.CRS(crs)
    if crs.is_geographic:
        raise CRSError(
            f"{what} is in {crs.to_string()}, a geographic CRS (degrees), which is not a "
            "metric projected CRS: project it first (gridpatrol.geo.crs.project, or "
            ".to_crs(gdf.estimate_utm_crs()))"
        )
    if not crs.is_projected:
        raise CRSError(
            f"{what} is in {crs.to_string()}, which is not a metric projected CRS: "
            "project it first (gridpatrol.geo.crs.project)"
        )
    for axis in crs.axis_info[:2]:
        if axis.unit_name not in ("metre", "meter") or axis.unit_conversion_factor != 1.0:
            raise CRSError(
                f"{what} is in {crs.to_string()}, with axis unit {axis.unit_name!r}, which is "
                "not a metric projected CRS: use a CRS with metre axes "
                "(gridpatrol.geo.crs.project)"
            )
    return crs


def check_metric(gdf: gpd.GeoDataFrame, *, what: str = "layer") -> None:
    """Raise :class:`CRSError` unless ``gdf`` is in a projected CRS in metres
    (:func:`check_metric_crs`)."""
    check_metric_crs(gdf.crs, what=what)


def check_metric_layers(
    layers: Mapping[str, gpd.GeoDataFrame | gpd.GeoSeries | None],
) -> pyproj.CRS:
    """Every layer given (``None`` = not given) in one metric projected CRS; returns it.

    Each is checked by :func:`check_metric_crs`, then all against the first by
    :func:`check_same_crs`; the names say which layer is wrong.
    """
    given = {k: v for k, v in layers.items() if v is not None}
    if not given:
        raise CRSError("no layer given to take the CRS from")
    for name, layer in given.items():
        check_metric_crs(layer.crs, what=name)
    check_same_crs(*given.values(), names=tuple(given))
    return pyproj.CRS(next(iter(given.values())).crs)


def check_lonlat(
    lon, lat, *, expected_bounds: tuple[float, float, float, float] | None = None
) -> np.ndarray:
    """Find coordinates that look like (lat, lon) given as (lon, lat).

    Without ``expected_bounds``, a point is flagged when its latitude is impossible
    (|lat| > 90) while swapping makes it a valid pair. With ``expected_bounds`` (lon/lat
    box of the served area), only when it lies outside the box but its swap lies
    inside: an impossible latitude whose swap lands elsewhere is just out of range.

    Returns
    -------
    numpy.ndarray of bool, True where the pair looks swapped.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    if expected_bounds is None:
        return (np.abs(lat) > 90) & (np.abs(lat) <= 180) & (np.abs(lon) <= 90)
    minx, miny, maxx, maxy = expected_bounds
    inside = (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)
    swap_inside = (lat >= minx) & (lat <= maxx) & (lon >= miny) & (lon <= maxy)
    return ~inside & swap_inside


def raise_if_swapped(gdf: gpd.GeoDataFrame, *, what: str = "layer") -> None:
    """Raise :class:`SwappedCoordinatesError` when a WGS84 layer has (lat, lon) coordinates."""
    if len(gdf) == 0:
        return
    coords = shapely.get_coordinates(gdf.geometry.values)
    if len(coords) == 0:
        return
    bad_lat = np.abs(coords[:, 1]) > 90
    bad_lon = np.abs(coords[:, 0]) > 180
    if bad_lat.any() or bad_lon.any():
        if (np.abs(coords[:, 0]) <= 90).all() and (np.abs(coords[:, 1]) <= 180).all():
            raise SwappedCoordinatesError(
                f"{what}: coordinates look like (lat, lon); GeoJSON and WKT want "
                "(lon, lat). Swap the axes in the source and import again"
            )
        raise CRSError(
            f"{what}: coordinates such as ({coords[bad_lat | bad_lon][0][0]:.1f}, "
            f"{coords[bad_lat | bad_lon][0][1]:.1f}) are not longitude/latitude: the file's "
            "CRS is wrong or missing; pass the right one with --crs"
        )


def repair_after_reprojection(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair polygons that reprojection made invalid (two vertices a hair apart cross).

    The input was valid, so the invalidity is an artefact of the transform: ``make_valid``
    fixes it without moving the boundary, and only polygonal parts are kept.
    """
    values = gdf.geometry.values
    polygonal = np.isin(shapely.get_type_id(values), [3, 6])
    broken = polygonal & ~shapely.is_valid(values)
    if not broken.any():
        return gdf
    fixed = make_polygonal(values[broken])
    values = values.copy()
    values[broken] = fixed
    return gdf.set_geometry(gpd.GeoSeries(values, crs=gdf.crs, index=gdf.index))


def to_crs_valid(gdf: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    """``gdf.to_crs(crs)`` with polygons the transform made invalid repaired."""
    return repair_after_reprojection(gdf.to_crs(crs))
