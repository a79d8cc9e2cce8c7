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


@router.get("/patrols/{plan_id}", response_class=HTMLResponse, summary="Patrol plan map")
def patrol_plan_page(
    plan_id: str,
    store: StoreDep,
    settings: SettingsDep,
    day: Annotated[int, Query(ge=1)] = 1,
    lang: Annotated[str | None, Query()] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """Every team's route in its colour, with station, dwell stops and direction arrows."""
    from gridpatrol.maps.patrols import plan_html
    from gridpatrol.store.patrols import get_plan

    _, routes = get_plan(store, plan_id)
    return HTMLResponse(
        plan_html(routes, day=day, basemap=settings.basemap, lang=pick_language(lang, accept_language))
    )


@router.get("/patrols/{plan_id}/teams/{team_id}", response_class=HTMLResponse, summary="Team route (phone)")
def team_route_page(
    plan_id: str,
    team_id: str,
    store: StoreDep,
    settings: SettingsDep,
    day: Annotated[int, Query(ge=1)] = 1,
    lang: Annotated[str | None, Query()] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """A phone-sized page with one team's route, its turn list and a GPX download."""
    from gridpatrol.geo.errors import NotFoundError
    from gridpatrol.maps.patrols import team_route_html
    from gridpatrol.store.patrols import get_plan

    meta, routes = get_plan(store, plan_id)
    route = routes[(routes["team_id"] == team_id) & (routes["day"] == day)]
    if route.empty:
        raise NotFoundError(f"plan {plan_id!r} has no route for team {team_id!r} on day {day}")
    teams = meta["summary"]["teams"]
    return HTMLResponse(
        team_route_html(
            route,
            team_index=teams.index(team_id) if team_id in teams else 0,
            gpx_url=f"/api/patrols/{plan_id}/teams/{team_id}/route.gpx?day={day}",
            basemap=settings.basemap,
            lang=pick_language(lang, accept_language),
        )
    )
