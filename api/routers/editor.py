"""The planner's grid editor page (issue 4 §4, issue 6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse

from gridpatrol.api.deps import SettingsDep, StoreDep
from gridpatrol.api.routers.maps import nav_targets, pick_language
from gridpatrol.lazy import lazy_import, lazy_module
from gridpatrol.maps.nav import with_nav

# imported on first use, so the service answers before they load (gridpatrol.lazy)
editor_html = lazy_import("gridpatrol.maps.editor", "editor_html")
gv = lazy_module("gridpatrol.services.grid_versions")

router = APIRouter(tags=["maps"])

#: Buildings around the grids drawn for context (the page embeds them).
MAX_BUILDINGS = 20_000
_MARGIN_DEG = 0.002  # about 200 m around the grids


@router.get("/editor/{version}", response_class=HTMLResponse, summary="Grid editor")
def editor_page(
    version: int,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    lang: Annotated[str | None, Query(description="en or zh")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """Edit a draft grid version: draw, split, merge, move vertices, delete; save with
    conflict detection; the validation report on the map after every edit. An active or
    retired version opens read-only and offers a draft copy."""
    meta = gv.get_version(store, version)  # 404 when there is no such version
    grids = store.read("grids", where={"version": version})
    communities = store.read("areas", where={"level": "community"})
    parents = set(grids["parent_code"]) if len(grids) else set()
    if parents and communities["code"].isin(parents).any():
        communities = communities[communities["code"].isin(parents)]
    frame = grids if len(grids) else communities
    buildings = None
    if len(frame):
        minx, miny, maxx, maxy = (float(v) for v in frame.to_crs(4326).total_bounds)
        bbox = (minx - _MARGIN_DEG, miny - _MARGIN_DEG, maxx + _MARGIN_DEG, maxy + _MARGIN_DEG)
        buildings = store.read(
            "buildings", bbox=bbox, limit=min(MAX_BUILDINGS, settings.max_page_size)
        )
    chosen = pick_language(lang, accept_language)
    html = editor_html(
        grids,
        version=version,
        revision=int(meta["revision"]),
        status=str(meta["status"]),
        buildings=buildings,
        communities=communities,
        basemap=settings.basemap,
        basemap_key=settings.basemap_key,
        lang=chosen,
        # the app-wide access check has resolved the session (None: anonymous)
        logged_in=getattr(request.state, "principal", None) is not None,
    )
    html = with_nav(html, chosen, nav_targets(store), current="editor")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
