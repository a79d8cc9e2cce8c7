"""Tiles of a local basemap file, for networks with no internet (basemap=local).

MBTiles is SQLite: tiles are rows keyed by zoom, column and TMS row (y flipped), read
with the standard library, the file opened read-only. PMTiles is one file with a
directory of tile offsets, read with the ``pmtiles`` package (protomaps' own reader).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from gridpatrol.api.deps import SettingsDep
from gridpatrol.geo.errors import NotFoundError, SchemaError

router = APIRouter(tags=["maps"])

MEDIA = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/x-protobuf",
}


@router.get("/basemap/{z}/{x}/{y}", response_class=Response, summary="Local basemap tile")
def basemap_tile(z: int, x: int, y: int, settings: SettingsDep) -> Response:
    """One tile of the MBTiles file named by ``GRIDPATROL_BASEMAP_FILE`` (204 where none)."""
    if not settings.basemap_file:
        raise NotFoundError("no local basemap: set GRIDPATROL_BASEMAP_FILE to an .mbtiles file")
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise SchemaError(f"tile {z}/{x}/{y} does not exist")
    path = Path(settings.basemap_file)
    if not path.is_file():
        raise NotFoundError(f"basemap file {path} is missing")
    if path.suffix.lower() == ".pmtiles":
        return _pmtiles_tile(path, z, x, y)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        fmt = con.execute("SELECT value FROM metadata WHERE name='format'").fetchone()
        row = con.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"{path} is not an MBTiles file ({exc})") from exc
    finally:
        con.close()
    if row is None:
        return Response(status_code=204)
    media = MEDIA.get((fmt[0] if fmt else "png").lower(), "application/octet-stream")
    headers = {"Cache-Control": "public, max-age=86400"}
    if media == "application/x-protobuf" and row[0][:2] == b"\x1f\x8b":
        headers["Content-Encoding"] = "gzip"
    return Response(row[0], media_type=media, headers=headers)


_PMTILES_MEDIA = {1: "application/x-protobuf", 2: "image/png", 3: "image/jpeg", 4: "image/webp"}


def _pmtiles_tile(path: Path, z: int, x: int, y: int) -> Response:
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import Compression, MagicNumberNotFound

    with open(path, "rb") as fh:
        try:
            reader = Reader(MmapSource(fh))
            header = reader.header()
            data = reader.get(z, x, y)
        except (MagicNumberNotFound, ValueError, KeyError) as exc:
            raise SchemaError(f"{path} is not a PMTiles file ({exc})") from exc
    if data is None:
        return Response(status_code=204)
    tile_type = header.get("tile_type")
    media = _PMTILES_MEDIA.get(getattr(tile_type, "value", tile_type), "application/octet-stream")
    headers = {"Cache-Control": "public, max-age=86400"}
    if header.get("tile_compression") == Compression.GZIP:
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=media, headers=headers)
