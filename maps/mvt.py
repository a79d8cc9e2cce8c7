"""Mapbox Vector Tiles: Web Mercator tile math and the protobuf encoder.

Tiles are cut with shapely 2 on whole arrays (``transform`` to tile units,
``clip_by_rect``, ``simplify``, ``orient_polygons``) and written as protobuf here with
numpy (see ``_encode_layer`` for why not ``mapbox-vector-tile``, which the tests use to
decode). Split from :mod:`gridpatrol.maps.tiles`, which puts tiles on a map.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = [
    "BUFFER",
    "EXTENT",
    "MAX_ZOOM",
    "TOLERANCE",
    "encode_tile",
    "min_polygon_area",
    "tile_bbox",
    "tile_bounds",
]

#: Tile coordinate units per tile side (the MVT default).
EXTENT = 4096
#: Deepest zoom the service cuts tiles for (Leaflet maps here stop at 20).
MAX_ZOOM = 22
#: Tile units around the tile kept when clipping, so strokes don't show seams (1/64 tile).
BUFFER = 64
#: Simplification tolerance in tile units: 4096 units span 256 px, so 8 is half a pixel.
TOLERANCE = 8.0

_R = 6378137.0  # WGS84 semi-major axis: the sphere of Web Mercator (EPSG:3857)
_HALF = math.pi * _R  # half the world's width in metres
_MAX_LAT = 85.0511287798066


# -- tile math (EPSG:3857, XYZ scheme: y = 0 at the north) ---------------------------
def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of tile z/x/y in Web Mercator metres."""
    size = 2 * _HALF / (1 << z)
    minx = -_HALF + x * size
    maxy = _HALF - y * size
    return minx, maxy - size, minx + size, maxy


def _lon_lat(mx: float, my: float) -> tuple[float, float]:
    lon = math.degrees(mx / _R)
    lat = math.degrees(2 * math.atan(math.exp(my / _R)) - math.pi / 2)
    return lon, lat


def tile_bbox(z: int, x: int, y: int, *, buffer: float = 0.0) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of tile z/x/y, grown by ``buffer`` tiles
    (0.05 = 5 % of its side) on every side: the box to ask the store for."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    pad = (maxx - minx) * buffer
    w, s = _lon_lat(max(minx - pad, -_HALF), max(miny - pad, -_HALF))
    e, n = _lon_lat(min(maxx + pad, _HALF), min(maxy + pad, _HALF))
    return w, s, e, n


def _to_tile_coords(z: int, x: int, y: int, extent: int):
    """A vectorised (n, 2) lon/lat -> tile units function (y down, origin top left)."""
    minx, _, _, maxy = tile_bounds(z, x, y)
    scale = extent / (2 * _HALF / (1 << z))

    def fn(coords: np.ndarray) -> np.ndarray:
        lon = coords[:, 0]
        lat = np.clip(coords[:, 1], -_MAX_LAT, _MAX_LAT)
        mx = np.radians(lon) * _R
        my = _R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
        return np.column_stack(((mx - minx) * scale, (maxy - my) * scale))

    return fn


def min_polygon_area(extent: int = EXTENT) -> float:
    """Smallest polygon area kept, in square tile units: a quarter of a pixel (256 px
    a tile side); smaller ones would only round to slivers or nothing."""
    return (extent / 256) ** 2 / 4


# -- encoding -----------------------------------------------------------------------
def _clean(value):
    """A property value MVT can hold, or None to leave it out (empty, NaN)."""
    if value is None or value == "":
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def _prepare(
    gdf: gpd.GeoDataFrame, z: int, x: int, y: int, *, extent: int, buffer: int, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Geometries in whole tile units, clipped to the buffered tile, simplified and with
    MVT winding; and the positions (rows of ``gdf``) of the ones left."""
    geoms = shapely.transform(gdf.geometry.values, _to_tile_coords(z, x, y, extent))
    geoms = np.asarray(geoms, dtype=object)
    # Points outside the tile are dropped by the clip; lines and polygons are cut.
    geoms = shapely.clip_by_rect(geoms, -buffer, -buffer, extent + buffer, extent + buffer)
    types = shapely.get_type_id(geoms)
    polygonal, lines = np.isin(types, (3, 6)), np.isin(types, (1, 5))
    if tolerance > 0:
        geoms[polygonal] = shapely.simplify(geoms[polygonal], tolerance, preserve_topology=True)
        geoms[lines] = shapely.simplify(geoms[lines], tolerance, preserve_topology=False)
    keep = ~(polygonal & (shapely.area(geoms) < min_polygon_area(extent)))
    # Whole tile units. (shapely.set_precision would also keep every polygon valid, but
    # costs ~40 us a polygon, more than all the rest; a ring that rounding makes touch
    # itself still draws right, and rings that collapse are dropped when encoding.)
    geoms = shapely.transform(geoms, np.rint)
    # MVT exterior rings have positive (surveyor's formula) area in y-down tile units.
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    geoms[polygonal] = shapely.orient_polygons(geoms[polygonal], exterior_cw=False)
    keep &= ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    # clip_by_rect can leave a polygon as lines on the edge (GeometryCollection): drop those.
    keep &= np.isin(shapely.get_type_id(geoms), (0, 1, 3, 4, 5, 6))
    pos = np.flatnonzero(keep)
    return geoms[pos], pos


# -- Mapbox Vector Tile 2.1 protobuf, written directly ---------------------------------
# Why not mapbox_vector_tile.encode: it rounds, orients and encodes one coordinate at a
# time in Python (~100 us a polygon: 0.3 s for a zoom-14 tile of 2,300 buildings). Here
# the geometry commands of a whole layer are built and varint-encoded as numpy arrays,
# and only the few bytes around each feature are joined in Python (~10x faster). The
# layout follows vector_tile.proto 2.1; tests decode with mapbox_vector_tile.

_POINT, _LINE, _POLYGON = 1, 2, 3
_MOVE_TO, _LINE_TO, _CLOSE = 1, 2, 7


def _varint_sizes(v: np.ndarray) -> np.ndarray:
    n = np.ones(len(v), np.int64)
    for k in range(7, 64, 7):
        n += v >= np.uint64(1 << k)
    return n


def _varints(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Base-128 varints of unsigned ``values``, and each value's byte count."""
    v = np.asarray(values, dtype=np.uint64)
    n = _varint_sizes(v)
    which = np.repeat(np.arange(len(v)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    out = (v[which] >> (np.uint64(7) * k.astype(np.uint64))) & np.uint64(0x7F)
    out |= np.where(k < n[which] - 1, np.uint64(0x80), np.uint64(0))
    return out.astype(np.uint8).tobytes(), n


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _zigzag(v: np.ndarray) -> np.ndarray:
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _parts(geoms: np.ndarray, kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coords, part offsets into coords, feature offsets into parts) of one kind."""
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    n = len(geoms)
    if kind == _POINT:  # a feature's points are its one "part"
        off = offsets[0] if offsets else np.arange(n + 1)
        return coords, np.asarray(off, np.int64), np.arange(n + 1, dtype=np.int64)
    if gtype in (shapely.GeometryType.LINESTRING,):
        return coords, np.asarray(offsets[0], np.int64), np.arange(n + 1, dtype=np.int64)
    if gtype in (shapely.GeometryType.MULTILINESTRING, shapely.GeometryType.POLYGON):
        return coords, np.asarray(offsets[0], np.int64), np.asarray(offsets[1], np.int64)
    # MultiPolygon: rings, polygons -> rings, geometries -> polygons
    rings, polys, feats = offsets
    return coords, np.asarray(rings, np.int64), np.asarray(polys, np.int64)[feats]


def _geometry_commands(geoms: np.ndarray, kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MVT command integers of every feature in one array, the offsets of each
    feature in it, and which features are left (degenerate parts are dropped)."""
    coords, part_off, feat_off = _parts(geoms, kind)
    xy = np.rint(coords).astype(np.int64)
    n_parts = len(part_off) - 1
    part_of = np.repeat(np.arange(n_parts), np.diff(part_off))
    keep = np.ones(len(xy), bool)
    if kind == _POLYGON:
        keep[part_off[1:][np.diff(part_off) > 0] - 1] = False  # the closing vertex
    if kind != _POINT:  # LineTo may not repeat the cursor
        starts = np.zeros(len(xy), bool)
        starts[part_off[:-1][np.diff(part_off) > 0]] = True
        same = np.r_[False, (xy[1:] == xy[:-1]).all(axis=1)] & ~starts
        keep &= ~same
    xy, part_of = xy[keep], part_of[keep]
    lens = np.bincount(part_of, minlength=n_parts)
    feat_of_part = np.repeat(np.arange(len(feat_off) - 1), np.diff(feat_off))
    minimum = {_POINT: 1, _LINE: 2, _POLYGON: 3}[kind]
    good_part = lens >= minimum
    xy = xy[good_part[part_of]]
    part_of = part_of[good_part[part_of]]
    lens, feat_of_part = lens[good_part], feat_of_part[good_part]
    n_feats = len(feat_off) - 1
    left = np.bincount(feat_of_part, minlength=n_feats) > 0
    if kind == _POINT:  # one MoveTo(n) per feature, then its points
        lens = np.bincount(feat_of_part, weights=lens, minlength=n_feats).astype(np.int64)[left]
        feat_of_part = np.arange(len(lens))
    # Cursor deltas: each feature starts at (0, 0); parts continue from the last vertex.
    delta = np.diff(xy, axis=0, prepend=np.zeros((1, 2), np.int64))
    first = np.cumsum(lens) - lens
    feat_first = np.unique(feat_of_part, return_index=True)[1]
    delta[first[feat_first]] = xy[first[feat_first]]
    zz = _zigzag(delta)
    if kind == _POINT:
        size = 1 + 2 * lens
    else:
        size = 2 * lens + 2 + (kind == _POLYGON)
    start = np.cumsum(size) - size
    out = np.zeros(int(size.sum()), np.uint64)
    k = np.arange(len(xy)) - np.repeat(first, lens)
    where = np.repeat(start, lens) + 1 + 2 * k
    if kind == _POINT:
        out[start] = (lens << 3 | _MOVE_TO).astype(np.uint64)
    else:
        out[start] = np.uint64(1 << 3 | _MOVE_TO)
        out[start + 3] = ((lens - 1) << 3 | _LINE_TO).astype(np.uint64)
        where += k >= 1
        if kind == _POLYGON:
            out[start + size - 1] = np.uint64(1 << 3 | _CLOSE)
    out[where] = zz[:, 0]
    out[where + 1] = zz[:, 1]
    per_feat = np.bincount(
        feat_of_part, weights=size, minlength=int(left.sum()) if kind == _POINT else n_feats
    ).astype(np.int64)
    if kind != _POINT:
        per_feat = per_feat[left]
    return out, np.r_[0, np.cumsum(per_feat)], left


def _value(v) -> bytes:
    if isinstance(v, bool):
        return _varint(7 << 3) + _varint(int(v))
    if isinstance(v, int):
        if v >= 0:
            return _varint(5 << 3) + _varint(v)
        return _varint(6 << 3) + _varint((v << 1) ^ (v >> 63))
    if isinstance(v, float):
        return _varint(3 << 3 | 1) + struct.pack("<d", v)
    return _field(1, v.encode())


def _encode_layer(name: str, geoms: np.ndarray, props: pd.DataFrame, extent: int) -> bytes:
    kinds = np.select(
        [np.isin(shapely.get_type_id(geoms), (0, 4)), np.isin(shapely.get_type_id(geoms), (1, 5))],
        [_POINT, _LINE],
        _POLYGON,
    )
    # Properties: keys and values interned once per layer; tags are index pairs.
    keys, values, value_ids = list(props.columns), [], {}
    tag_cols = []
    for j, col in enumerate(keys):
        codes, uniques = pd.factorize(props[col], use_na_sentinel=True)
        ids = np.full(len(uniques) + 1, -1, np.int64)
        for u, raw in enumerate(uniques):
            v = _clean(raw)
            if v is not None:
                ids[u] = value_ids.setdefault((type(v), v), len(value_ids))
        vid = ids[codes]  # codes == -1 (missing) picks the trailing -1
        tag_cols.append(np.where(vid >= 0, j, -1))
        tag_cols.append(vid)
    values = list(value_ids)  # insertion order == id order
    tags = np.column_stack(tag_cols) if tag_cols else np.zeros((len(geoms), 0), np.int64)
    valid = tags >= 0
    tag_bytes, tag_sizes = _varints(tags[valid])  # row by row: each feature's pairs in turn
    tag_off = np.r_[0, np.cumsum(tag_sizes)][np.r_[0, np.cumsum(valid.sum(axis=1))]]

    features = []
    for kind in (_POINT, _LINE, _POLYGON):
        idx = np.flatnonzero(kinds == kind)
        if not len(idx):
            continue
        commands, off, left = _geometry_commands(geoms[idx], kind)
        geom_bytes, sizes = _varints(commands)
        byte_off = np.r_[0, np.cumsum(sizes)][off]
        for i, (b0, b1) in zip(
            idx[left], zip(byte_off[:-1], byte_off[1:], strict=True), strict=True
        ):
            t = tag_bytes[tag_off[i] : tag_off[i + 1]]
            body = b"".join(
                (_field(2, t) if t else b"", bytes((3 << 3, kind)), _field(4, geom_bytes[b0:b1]))
            )
            features.append(_field(2, body))
    if not features:
        return b""
    return b"".join(
        (
            _varint(15 << 3) + _varint(2),
            _field(1, name.encode()),
            *features,
            *(_field(3, k.encode()) for k in keys),
            *(_field(4, _value(v)) for (_, v) in values),
            _varint(5 << 3) + _varint(extent),
        )
    )


def encode_tile(
    layers: Mapping[str, gpd.GeoDataFrame],
    z: int,
    x: int,
    y: int,
    *,
    extent: int = EXTENT,
    buffer: int = BUFFER,
    tolerance: float = TOLERANCE,
) -> bytes:
    """One Mapbox Vector Tile (protobuf bytes, spec 2.1) holding ``layers``.

    Parameters
    ----------
    layers
        MVT layer name -> features in WGS84; every column but the geometry becomes a
        property (empty strings and NaN are left out).
    z, x, y
        The tile (XYZ scheme, y = 0 at the north).
    extent
        Tile units per side.
    buffer
        Tile units kept around the tile when clipping.
    tolerance
        Simplification in tile units (half a pixel by default), so each zoom keeps the
        detail it can show.

    Returns
    -------
    The encoded tile; ``b""`` when no layer has a feature in it.
    """
    out = []
    for name, gdf in layers.items():
        if gdf is None or not len(gdf):
            continue
        geoms, pos = _prepare(gdf, z, x, y, extent=extent, buffer=buffer, tolerance=tolerance)
        if not len(pos):
            continue
        props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).iloc[pos].reset_index(drop=True)
        layer = _encode_layer(name, geoms, props, extent)
        if layer:
            out.append(_field(3, layer))
    return b"".join(out)
