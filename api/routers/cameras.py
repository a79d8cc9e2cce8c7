"""Cameras: fields of view, coverage, blind spots, siting; import and edit with history.

Thin: every endpoint calls one function of :mod:`gridpatrol.services.cameras`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, File, Query, UploadFile

from gridpatrol.api.deps import StoreDep
from gridpatrol.api.schemas import to_feature_collection
from gridpatrol.geo.errors import InputFileError
from gridpatrol.lazy import lazy_module

# imported on first use, so the service answers before they load (gridpatrol.lazy)
service = lazy_module("gridpatrol.services.cameras")

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


@router.get("/views", summary="Fields of view by quality band")
def views(store: StoreDep) -> dict:
    """Each camera's field of view stopped at building walls, one feature per quality band
    (identify, recognise, observe), as a GeoJSON FeatureCollection."""
    return to_feature_collection(service.camera_views(store))


@router.get("/coverage", summary="Camera coverage of streets and public space")
def coverage(
    store: StoreDep,
    by: Annotated[Literal["grid", "community", "street"], Query()] = "grid",
    version: Annotated[int | None, Query(description="grid version; default active")] = None,
) -> dict:
    """Share of street length and of public (non-building) area seen by at least one
    camera, per grid, community or named street. No cameras: every share is 0 and
    ``note`` says why."""
    return service.coverage(store, by=by, version=version)


@router.get("/blindspots", summary="Streets and areas no camera sees")
def blindspots(
    store: StoreDep,
    kind: Annotated[Literal["streets", "areas"], Query()] = "streets",
    near_m: Annotated[float, Query(gt=0, le=500)] = 50.0,
    max_seen_share: Annotated[float, Query(ge=0, le=1)] = 0.1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict:
    """Blind street segments (or blind public areas) ranked by incidents per km (per
    hectare), most first."""
    out = service.blind_spots(
        store, near_m=near_m, max_seen_share=max_seen_share, areas=kind == "areas"
    )
    gdf = out.get(kind)
    if gdf is None:  # no grids: no areas to cut
        gdf = out["streets"].iloc[:0]
    return to_feature_collection(gdf.head(limit))


@router.get("/blindspots/priorities", summary="Blind streets with incidents, for patrols")
def priorities(
    store: StoreDep,
    near_m: Annotated[float, Query(gt=0, le=500)] = 50.0,
    min_incidents: Annotated[int, Query(ge=0)] = 1,
) -> list[dict[str, Any]]:
    """Street ids (network, u, v, key) no camera sees with incidents near them: the
    patrol planner visits them every shift."""
    df = service.blind_street_priorities(store, near_m=near_m, min_incidents=min_incidents)
    return df.round(4).to_dict("records")


@router.post("/siting", summary="Suggest new camera positions")
def siting(
    store: StoreDep,
    n: Annotated[int, Query(ge=0, le=500)] = 10,
    method: Annotated[Literal["auto", "exact", "greedy"], Query()] = "auto",
    use_incidents: Annotated[bool, Query()] = True,
) -> dict:
    """``n`` new cameras (at street points or on building walls) adding the most seen
    street length, weighted by incidents near it; existing cameras stay. The summary
    says the street coverage before and after; each site says what it adds."""
    out = service.suggest_sites(store, n, method=method, use_incidents=use_incidents)
    sites = out["sites"].drop(columns="view")
    return {"summary": out["summary"], "sites": to_feature_collection(sites)}


@router.post("/import", summary="Import cameras from a file")
async def import_file(
    store: StoreDep,
    file: Annotated[UploadFile, File(description="CSV, GeoJSON, GeoPackage, GeoParquet")],
    crs: Annotated[str | None, Query(description="when the file has none")] = None,
    replace: Annotated[bool, Query()] = False,
) -> dict:
    """Cameras with direction, angle (fov), range and height; missing values take the
    documented defaults and are flagged. A file with no cameras is a valid import."""
    suffix = Path(file.filename or "upload").suffix.lower()
    if not suffix:
        raise InputFileError("name the file with its extension (.csv, .geojson, .gpkg...)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"cameras{suffix}"
        path.write_bytes(await file.read())
        return service.import_cameras(store, path, crs=crs, replace=replace, actor="api")


@router.patch("/{source_id:path}/edit", summary="Edit a camera")
def edit(
    store: StoreDep,
    source_id: str,
    changes: Annotated[dict[str, Any], Body(examples=[{"direction": 135, "fov": 70}])],
) -> dict:
    """Change direction, fov, range_m, height_m, tilt, camera_type, rotating, zone, or
    move it with lon/lat; the change lands in the camera's history."""
    return service.edit_camera(store, source_id, changes, actor="api")


@router.delete("/{source_id:path}/edit", summary="Delete a camera", status_code=204)
def delete(store: StoreDep, source_id: str) -> None:
    """Delete a camera; its history keeps the deletion."""
    service.delete_camera(store, source_id, actor="api")


@router.get("/{source_id:path}/history", summary="A camera's history")
def history(store: StoreDep, source_id: str) -> list[dict[str, Any]]:
    """Imports, edits and the deletion of a camera, oldest first."""
    events = service.camera_history(store, source_id)
    events["at"] = [v.isoformat() for v in events["at"]]
    return events.to_dict("records")
