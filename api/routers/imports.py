"""Imports of layer files (grids, areas, buildings, cameras) and incident files.

The same options as ``gridpatrol import LAYER FILE``; the work is
:func:`gridpatrol.services.file_imports.import_file` (routers compute nothing).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile

from gridpatrol.api.deps import StoreDep
from gridpatrol.geo.errors import InputFileError
from gridpatrol.lazy import lazy_import

# imported on first use, so the service answers before they load (gridpatrol.lazy)
import_file = lazy_import("gridpatrol.services.file_imports", "import_file")

router = APIRouter(prefix="/api/imports", tags=["imports"])


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["name=dist_label", ...]`` -> ``{"name": "dist_label"}``."""
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputFileError(f"{option} {item!r}: write MODEL_COLUMN=FILE_COLUMN")
        out[key.strip()] = value.strip()
    return out


Crs = Annotated[str | None, Form(description="EPSG:n, gcj02 or bd09")]
Id = Annotated[str | None, Form(description="id column(s): a, a,b (composite) or @row")]
Pairs = Annotated[list[str] | None, Form(description="MODEL=FILE_COLUMN, repeatable")]
Upload = Annotated[
    UploadFile, File(description="GeoJSON, GeoPackage, zipped Shapefile, GeoParquet or CSV")
]


def _run(store, layer: str, file: UploadFile, **options) -> dict:
    """Save the upload under its own suffix in a temporary folder, import it, delete it."""
    suffix = Path(file.filename or "").suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(file.file.read())
        return import_file(
            store, layer, path, actor=f"import {file.filename or 'upload'}", **options
        )


# incidents first: its own route, so the access rules can tell it from the layers
@router.post("/incidents", status_code=201)
def import_incidents(
    store: StoreDep,
    file: Upload,
    lon: Annotated[str, Form(description="column with longitude (or x)")] = "lon",
    lat: Annotated[str, Form(description="column with latitude (or y)")] = "lat",
    time: Annotated[str, Form(description="column with the report time")] = "reported_at",
    category: Annotated[str, Form(description="column with the category")] = "category",
    id: Id = None,
    field: Pairs = None,
    tz: Annotated[str | None, Form(description="zone for naive times (default: project's)")] = None,
    crs: Crs = None,
    partial: Annotated[bool, Form(description="store the good rows, skip the bad")] = False,
) -> dict:
    """Import an incident file; the batch lands whole unless ``partial`` (422 lists the
    rejected rows)."""
    return _run(
        store,
        "incidents",
        file,
        lon=lon,
        lat=lat,
        time=time,
        category=category,
        id_columns=id,
        fields=_pairs(field, "field"),
        tz=tz,
        crs=crs,
        partial=partial,
    )


@router.post("/{layer}", status_code=201)
def import_layer(
    layer: Literal["grids", "areas", "buildings", "cameras"],
    store: StoreDep,
    file: Upload,
    crs: Crs = None,
    code: Annotated[str | None, Form(description="column with the code")] = None,
    name: Annotated[str | None, Form(description="column with the name")] = None,
    id: Id = None,
    field: Pairs = None,
    where: Annotated[list[str] | None, Form(description="COLUMN=VALUE, repeatable")] = None,
    version: Annotated[int, Form(description="grid layer version (grids)")] = 1,
    level: Annotated[str | None, Form(description="district/street/community (areas)")] = None,
) -> dict:
    """Import one layer file; answers rows written and the reader's notes. A bad file is
    422 with the file, feature and problem, and stores nothing."""
    defaults = None
    if layer == "grids":
        defaults = {"version": version}
    elif layer == "areas" and level:
        defaults = {"level": level}
    return _run(
        store,
        layer,
        file,
        crs=crs,
        code=code,
        name=name,
        id_columns=id,
        fields=_pairs(field, "field"),
        where=_pairs(where, "where"),
        defaults=defaults,
    )
