"""HTML map pages."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse

from gridpatrol.api.deps import SettingsDep, StoreDep
from gridpatrol.maps.overview import overview_html
from gridpatrol.store.base import Store

router = APIRouter(tags=["maps"])


def pick_language(lang: str | None, accept_language: str | None) -> str:
    """``zh`` or ``en``: the explicit switch first, then the browser's Accept-Language."""
    if lang:
        return "zh" if lang.lower().startswith("zh") else "en"
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        if code.startswith("zh"):
            return "zh"
        if code.startswith("en"):
            return "en"
    return "en"


def overview_layers(store: Store) -> dict:
    version = store.get_setting("active_grid_version", 1)
    streets = store.read("streets", where={"network": "walk"})
    if len(streets):
        # A two-way street is two directed edges; draw it once.
        pair = np.sort(streets[["u", "v"]].to_numpy(), axis=1)
        streets = streets.assign(a=pair[:, 0], b=pair[:, 1]).drop_duplicates(["a", "b", "key"])
    return {
        "areas": store.read("areas", where={"level": "community"}),
        "grids": store.read("grids", where={"version": version}),
        "buildings": store.read("buildings"),
        "cameras": store.read("cameras"),
        "streets": streets,
    }


@router.get("/", response_class=HTMLResponse, summary="Overview map")
def overview(
    store: StoreDep,
    settings: SettingsDep,
    lang: Annotated[str | None, Query(description="en or zh")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """Grids, buildings, cameras and streets on one map (works offline)."""
    html = overview_html(
        overview_layers(store),
        basemap=settings.basemap,
        lang=pick_language(lang, accept_language),
    )
    return HTMLResponse(html)
