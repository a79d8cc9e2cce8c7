"""Vector tiles (Mapbox Vector Tile, EPSG:3857) of the large layers, and their TileJSON.

A district's 100,000 buildings are too heavy for one GeoJSON page; a map asks for the
tiles it shows instead. On PostGIS the database cuts each tile in one query
(``ST_AsMVTGeom``/``ST_AsMVT``, :meth:`Store.tile`), as tipg and Martin serve them.
Otherwise (the embedded store, and GCJ-02 tiles on any store) each tile is read from
the store with a bounding box (the embedded store answers from its R*Tree index), then
clipped, simplified for its zoom and encoded by :func:`gridpatrol.maps.mvt.encode_tile`.
Both follow the layer's :class:`~gridpatrol.maps.tiles.TileLayerSpec`.

Wire it with ``app.include_router(tiles.router)``; no settings needed.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import geopandas as gpd
import numpy as np
from fastapi import APIRouter, Header, Path, Query, Request, Response

from gridpatrol.api.cache import RevisionCache
from gridpatrol.api.deps import Store, StoreDep
from gridpatrol.geo.crs import from_wgs84
from gridpatrol.geo.errors import NotFoundError, SchemaError
from gridpatrol.maps.mvt import (
    BUFFER,
    EXTENT,
    MAX_ZOOM,
    TOLERANCE,
    encode_tile,
    min_polygon_area,
    tile_bbox,
)
from gridpatrol.maps.tiles import TILE_LAYERS
from gridpatrol.services.project import project_settings

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: Tiles may change when grids are edited or a version is activated: browsers keep a
#: tile a minute, then revalidate with the ETag (a 304 costs no body). ``private``: no
#: shared proxy keeps households and camera positions.
CACHE_CONTROL = "private, max-age=60"
#: Store query box around the tile, in tiles: covers the clip buffer (1/64 tile) with room.
QUERY_BUFFER = 0.03
#: GCJ-02 moves points by up to ~700 m: read this much more (degrees) before shifting.
GCJ_MARGIN = 0.01

#: Cut tiles, per process (a warm tile is one small query and a dictionary lookup).
TILE_CACHE = RevisionCache(max_items=20_000)
#: The layers each tile layer reads (grids: which version is active lives in project).
TILE_SOURCES = {"grids": ("grids", "project", "grid_versions")}

Datum = Literal["wgs84", "gcj02"]
LayerName = Annotated[str, Path(description=f"one of {', '.join(TILE_LAYERS)}")]
DatumQuery = Annotated[
    Datum, Query(description="gcj02 shifts features to line up with AMap/Tencent basemaps")
]


def _layer(layer: str):
    try:
        return TILE_LAYERS[layer]
    except KeyError:
        raise NotFoundError(
            f"no tiles for layer {layer!r}; layers with tiles: {', '.join(TILE_LAYERS)}"
        ) from None


def tile_where(store: Store, layer: str) -> dict:
    """The filters of a tile layer: its fixed ones, and for grids the active version."""
    where = dict(_layer(layer).where)
    if layer == "grids":
        where["version"] = project_settings(store).active_grid_version
    return where


def read_tile_layer(
    store: Store, layer: str, bbox: tuple[float, float, float, float]
) -> gpd.GeoDataFrame:
    """The features of ``layer`` whose box meets ``bbox``, with the tile's properties
    (made as its :class:`~gridpatrol.maps.tiles.TileLayerSpec` says; the PostGIS query
    of :meth:`Store.tile` follows the same spec)."""
    spec = _layer(layer)
    gdf = store.read(layer, bbox=bbox, where=tile_where(store, layer) or None)
    if spec.undirected and len(gdf):
        u, v, *rest = spec.undirected
        pair = np.sort(gdf[[u, v]].to_numpy(), axis=1)
        gdf = gdf.assign(_a=pair[:, 0], _b=pair[:, 1]).drop_duplicates(["_a", "_b", *rest])
    if len(gdf):
        for name, (first, *more) in spec.joined.items():
            joined = gdf[first]
            for col in more:
                joined = joined + " " + gdf[col]
            gdf = gdf.assign(**{name: joined.str.strip()})
        gdf = gdf.assign(**{name: gdf[name].round() for name in spec.rounded})
    cols = [c for c in spec.properties if c in gdf.columns]
    return gdf[cols + ["geometry"]]


def database_tile(store: Store, layer: str, z: int, x: int, y: int) -> bytes | None:
    """Tile z/x/y of ``layer`` cut by the database (PostGIS: one query), or None when
    the store leaves it to :func:`python_tile`."""
    spec = _layer(layer)
    return store.tile(
        layer,
        z,
        x,
        y,
        columns=spec.columns,
        where=tile_where(store, layer),
        rounded=spec.rounded,
        undirected=spec.undirected,
        extent=EXTENT,
        buffer=BUFFER,
        tolerance=TOLERANCE,
        min_area=min_polygon_area(EXTENT),
        read_margin=QUERY_BUFFER,
    )


def python_tile(
    store: Store, layer: str, z: int, x: int, y: int, *, datum: Datum = "wgs84"
) -> bytes:
    """Tile z/x/y of ``layer`` read with a bounding box and encoded in Python: the
    embedded store's way, and GCJ-02 tiles on every store (the shift is
    :mod:`gridpatrol.geo.crs`'s, in numpy; the database does not have it)."""
    w, s, e, n = tile_bbox(z, x, y, buffer=QUERY_BUFFER)
    if datum == "gcj02":
        # Features are stored in WGS84; the shift can move them into this tile.
        w, s, e, n = w - GCJ_MARGIN, s - GCJ_MARGIN, e + GCJ_MARGIN, n + GCJ_MARGIN
    gdf = read_tile_layer(store, layer, (w, s, e, n))
    if datum == "gcj02" and len(gdf):
        gdf = from_wgs84(gdf, "gcj02")
    return encode_tile({layer: gdf}, z, x, y)


def _check_tile(z: int, x: int, y: int) -> None:
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise SchemaError(f"tile {z}/{x}/{y} does not exist: at zoom {z}, x and y run 0..{n - 1}")


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    summary="A vector tile of a layer",
    responses={
        200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "Mapbox Vector Tile"},
        204: {"description": "no feature in this tile"},
        304: {"description": "unchanged since the ETag given in If-None-Match"},
    },
    response_class=Response,
)
def get_tile(
    layer: LayerName,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    store: StoreDep,
    datum: DatumQuery = "wgs84",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Features of ``layer`` in tile z/x/y (XYZ, Web Mercator) as a Mapbox Vector Tile
    with one layer named ``layer``. Below the layer's minzoom (see its TileJSON) tiles
    are empty: 204."""
    spec = _layer(layer)
    _check_tile(z, x, y)
    # Cached per (layer, z, x, y, datum, revision of what the tile reads): a write to
    # any of those layers makes the next request cut the tile again.
    revs = tuple(store.revisions(*TILE_SOURCES.get(layer, (layer,))).values())
    key = (store.url, layer, z, x, y, datum, revs)

    def cut() -> tuple[bytes, str]:
        body = b""
        if z >= spec.minzoom:
            body = database_tile(store, layer, z, x, y) if datum == "wgs84" else None
            if body is None:
                body = python_tile(store, layer, z, x, y, datum=datum)
        return body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'

    body, etag = TILE_CACHE.get_or_compute(key, cut)
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    if not body:
        return Response(status_code=204, headers=headers)
    return Response(body, media_type=MVT_MEDIA_TYPE, headers=headers)


@router.get("/{layer}.json", summary="TileJSON of a layer")
def get_tilejson(
    layer: LayerName, request: Request, store: StoreDep, datum: DatumQuery = "wgs84"
) -> dict:
    """TileJSON 3.0.0: the tile URL template, zooms, bounds and the layer's fields."""
    spec = _layer(layer)
    bounds = project_settings(store).bounds
    if not bounds:
        gdf = store.read(layer, where=tile_where(store, layer) or None)
        world = [-180.0, -85.0511, 180.0, 85.0511]
        bounds = [float(v) for v in gdf.total_bounds] if len(gdf) else world
    url = str(request.url_for("get_tile", layer=layer, z="0", x="0", y="0"))
    template = url.replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    if datum != "wgs84":
        template += f"?datum={datum}"
    west, south, east, north = (float(v) for v in bounds)
    return {
        "tilejson": "3.0.0",
        "name": layer,
        "scheme": "xyz",
        "tiles": [template],
        "minzoom": spec.minzoom,
        "maxzoom": MAX_ZOOM,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, max(spec.minzoom, 14)],
        "attribution": "&copy; OpenStreetMap contributors",
        "vector_layers": [
            {
                "id": layer,
                "fields": {p: p for p in spec.properties},
                "minzoom": spec.minzoom,
                "maxzoom": MAX_ZOOM,
            }
        ],
    }
