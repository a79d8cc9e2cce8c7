"""HTML map pages: overview, grids, incidents, cameras, patrol plans.

Pages render what the store holds; anything computed (counts per grid, camera views,
hot spots) comes from :mod:`gridpatrol.services.analysis`, and only the GCJ-02 shift
for Chinese basemaps is applied here before ``maps`` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import HTMLResponse, Response

from gridpatrol.api.auth import SeesDetailsDep
from gridpatrol.api.cache import RevisionCache, cached_html, page_revisions
from gridpatrol.api.deps import SettingsDep, Store, StoreDep
from gridpatrol.geo.errors import SchemaError
from gridpatrol.lazy import lazy_import, lazy_module
from gridpatrol.maps.i18n import labels
from gridpatrol.maps.nav import NavTargets, with_nav
from gridpatrol.maps.styles import MEASURES
from gridpatrol.services.project import project_settings, project_taxonomy

# imported on first use, so the service answers before they load (gridpatrol.lazy)
from_wgs84 = lazy_import("gridpatrol.geo.crs", "from_wgs84")
gpd = lazy_module("geopandas")
np = lazy_module("numpy")
pd = lazy_module("pandas")
basemap_datum = lazy_import("gridpatrol.maps.base", "basemap_datum")
offline_html = lazy_import("gridpatrol.maps.base", "offline_html")
render_overview = lazy_import("gridpatrol.maps.overview", "render_overview")
render_cameras = lazy_import("gridpatrol.maps.pages", "render_cameras")
render_grids = lazy_import("gridpatrol.maps.pages", "render_grids")
render_incidents = lazy_import("gridpatrol.maps.pages", "render_incidents")
use_tiles = lazy_import("gridpatrol.maps.tiles", "use_tiles")
maps_base = lazy_module("gridpatrol.maps.base")
analysis = lazy_module("gridpatrol.services.analysis")
coverage_layers = lazy_import("gridpatrol.services.cameras", "coverage_layers")
offload = lazy_module("gridpatrol.services.offload")

router = APIRouter(tags=["maps"])

#: Drawn pages, per process, keyed by their options and the revisions of the data.
PAGE_CACHE = RevisionCache(max_items=32)


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


@dataclass
class PageOptions:
    lang: str
    basemap: str
    basemap_key: str

    def shift(self, layers: dict) -> dict:
        """Layers as drawn on this basemap: shifted to GCJ-02 for AMap and Tencent tiles."""
        if basemap_datum(self.basemap) != "gcj02":
            return layers
        return {
            k: (from_wgs84(v, "gcj02") if isinstance(v, gpd.GeoDataFrame) and len(v) else v)
            for k, v in layers.items()
        }

    def key(self) -> tuple:
        """What of these options a cached page depends on."""
        return (self.lang, self.basemap, self.basemap_key)

    def render(self, **kw) -> dict:
        return {"basemap": self.basemap, "basemap_key": self.basemap_key, "lang": self.lang, **kw}


def page_options(
    settings: SettingsDep,
    lang: Annotated[str | None, Query(description="en or zh")] = None,
    basemap: Annotated[
        str | None,
        Query(description="none, osm, amap, tencent, tianditu, local (default: the service's)"),
    ] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> PageOptions:
    chosen = basemap or settings.basemap
    if basemap is not None and basemap not in ("none", "local", *maps_base.BASEMAPS):
        raise SchemaError(f"basemap {basemap!r}: use none, local, {', '.join(maps_base.BASEMAPS)}")
    return PageOptions(pick_language(lang, accept_language), chosen, settings.basemap_key)


PageDep = Annotated[PageOptions, Depends(page_options)]


def nav_targets(store: Store) -> NavTargets:
    """Where the navigation bar points: the active grid version, the latest plan."""
    plans = store.read("patrol_plans")
    latest = None
    if len(plans):
        latest = str(plans.sort_values("created_at")["plan_id"].iloc[-1])
    return NavTargets(editor_version=project_settings(store).active_grid_version, plan_id=latest)


def page_html(html: str, store: Store, lang: str, current: str | None = None) -> HTMLResponse:
    """A finished page with the navigation bar."""
    return HTMLResponse(with_nav(html, lang, nav_targets(store), current=current))


def overview_layers(store: Store) -> dict:
    """The overview's layers; one too big to inline (see maps.tiles) is given by its size."""
    version = project_settings(store).active_grid_version

    def inline_or_count(layer: str, where: dict | None = None):
        n = store.count(layer, where=where)
        return n if use_tiles(n) else store.read(layer, where=where)

    streets = inline_or_count("streets", {"network": "walk"})
    if not isinstance(streets, int) and len(streets):
        # A two-way street is two directed edges; draw it once.
        pair = np.sort(streets[["u", "v"]].to_numpy(), axis=1)
        streets = streets.assign(a=pair[:, 0], b=pair[:, 1]).drop_duplicates(["a", "b", "key"])
    return {
        "areas": store.read("areas", where={"level": "community"}),
        "grids": inline_or_count("grids", {"version": version}),
        "buildings": inline_or_count("buildings"),
        "cameras": store.read("cameras"),
        "streets": streets,
    }


@router.get("/", response_class=HTMLResponse, summary="Overview map")
def overview(
    store: StoreDep, page: PageDep, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    """Grids, buildings, cameras and streets on one map (works offline; big layers as tiles)."""

    def draw() -> str:
        layers = page.shift(overview_layers(store))
        tile_url = "/tiles/{layer}/{z}/{x}/{y}.pbf"
        if basemap_datum(page.basemap) == "gcj02":
            tile_url += "?datum=gcj02"
        m = render_overview(
            layers, bounds_hint=project_settings(store).bounds, tile_url=tile_url, **page.render()
        )
        return with_nav(offline_html(m), page.lang, nav_targets(store), current="overview")

    key = (store.url, "overview", page.key(), page_revisions(store))
    return cached_html(key, draw, cache=PAGE_CACHE, if_none_match=if_none_match)


@router.get("/maps/grids", response_class=HTMLResponse, summary="Grids choropleth")
def grids_page(
    store: StoreDep,
    page: PageDep,
    details: SeesDetailsDep,
    settings: SettingsDep,
    measure: Annotated[str, Query(pattern="^(" + "|".join(MEASURES) + ")$")] = "households",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Grids coloured by households, incidents or camera coverage, with a legend.

    Cached per data revision, with an ETag (a revalidating browser gets a 304)."""
    from gridpatrol.api.page_jobs import grids_page_html

    options = (*page.key(), measure, details)
    key = (store.url, "grids", options, settings.embed_min_count, page_revisions(store))
    return cached_html(
        key,
        lambda: offload.run(
            grids_page_html,  # api.page_jobs: runs in the pages helper process
            store.url,
            page,
            measure=measure,
            details=details,
            min_count=settings.embed_min_count,
            processes=settings.cpu_processes,
            pool="pages",
        ),
        cache=PAGE_CACHE,
        if_none_match=if_none_match,
    )


@router.get("/maps/incidents", response_class=HTMLResponse, summary="Incidents map")
def incidents_page(
    store: StoreDep,
    page: PageDep,
    category: str | None = None,
    start: str | None = None,
    end: str | None = None,
    hours: Annotated[str | None, Query(pattern=r"^$|^\d{1,2}-\d{1,2}$")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Incidents clustered and as heat, filtered by date, time of day and category."""
    try:
        start_ts = pd.Timestamp(start) if start else None
        end_ts = pd.Timestamp(end) + pd.Timedelta(days=1) if end else None
    except (ValueError, OverflowError) as exc:
        raise SchemaError(f"start/end must be ISO dates, e.g. 2026-11-20 ({exc})") from None

    def draw() -> str:
        layers = analysis.incident_map_layers(
            store,
            category=category,
            start=start_ts,
            end=end_ts,
            hours=tuple(int(h) for h in hours.split("-")) if hours else None,
        )
        taxonomy = project_taxonomy(store)
        names = {k: (c.zh if page.lang == "zh" else c.en) for k, c in taxonomy.categories.items()}
        note = layers.pop("hot_note")
        hotspot_note = labels(page.lang)[note[0]].format(**note[1]) if note else None
        layers = page.shift(layers)
        filters = {
            "category": category,
            "start": start,
            "end": end,
            "hours": hours,
            "lang": page.lang,
        }
        m = render_incidents(
            layers["incidents"],
            categories=names,
            filters=filters,
            grids=layers["grids"],
            hotspots=layers["hot"],
            hotspot_note=hotspot_note,
            **page.render(),
        )
        return with_nav(offline_html(m), page.lang, nav_targets(store), current="incidents")

    filters = (category, start, end, hours)
    key = (store.url, "incidents", page.key(), filters, page_revisions(store))
    return cached_html(key, draw, cache=PAGE_CACHE, if_none_match=if_none_match)


@router.get("/maps/cameras", response_class=HTMLResponse, summary="Cameras map")
def cameras_page(
    store: StoreDep,
    page: PageDep,
    sites: Annotated[int, Query(ge=0, le=50, description="suggest this many new cameras")] = 0,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Cameras with fields of view stopped by walls (by quality band), blind streets and,
    with ``sites``, suggested new cameras."""

    def draw() -> str:
        cameras = store.read("cameras")
        coverage = coverage_layers(store, sites=sites)
        layers = page.shift({"cameras": cameras, "grids": analysis.active_grids(store), **coverage})
        coverage = {k: layers[k] for k in coverage}
        m = render_cameras(
            layers["cameras"],
            gpd.GeoDataFrame(geometry=[], crs=4326),
            grids=layers["grids"],
            coverage=coverage,
            bounds_hint=project_settings(store).bounds,
            **page.render(),
        )
        return with_nav(offline_html(m), page.lang, nav_targets(store), current="cameras")

    key = (store.url, "cameras", page.key(), sites, page_revisions(store))
    return cached_html(key, draw, cache=PAGE_CACHE, if_none_match=if_none_match)


@router.get("/patrols/{plan_id}", response_class=HTMLResponse, summary="Patrol plan map")
def patrol_plan_page(
    plan_id: str,
    store: StoreDep,
    page: PageDep,
    day: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """Every team's route in its colour, with station, dwell stops and direction arrows."""
    from gridpatrol.maps.patrols import plan_html
    from gridpatrol.services.patrols import get_plan

    meta, routes = get_plan(store, plan_id)
    routes = page.shift({"routes": routes})["routes"]
    unreachable = meta["summary"].get("unreachable_geojson")
    territories = (meta["summary"].get("territories") or {}).get("hulls_geojson")
    html = plan_html(
        routes,
        day=day,
        basemap=page.basemap,
        lang=page.lang,
        unreachable=unreachable,
        territories=territories,
    )
    return page_html(html, store, page.lang, "patrols")


@router.get(
    "/patrols/{plan_id}/teams/{team_id}", response_class=HTMLResponse, summary="Team route (phone)"
)
def team_route_page(
    plan_id: str,
    team_id: str,
    store: StoreDep,
    page: PageDep,
    day: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """A phone-sized page with one team's route, its turn list and a GPX download."""
    from gridpatrol.geo.errors import NotFoundError
    from gridpatrol.maps.patrols import team_route_html
    from gridpatrol.services.patrols import get_plan

    meta, routes = get_plan(store, plan_id)
    route = page.shift({"r": routes[(routes["team_id"] == team_id) & (routes["day"] == day)]})["r"]
    if route.empty:
        raise NotFoundError(f"plan {plan_id!r} has no route for team {team_id!r} on day {day}")
    teams = meta["summary"]["teams"]
    html = team_route_html(
        route,
        team_index=teams.index(team_id) if team_id in teams else 0,
        gpx_url=f"/api/patrols/{plan_id}/teams/{team_id}/route.gpx?day={day}",
        basemap=page.basemap,
        lang=page.lang,
    )
    return page_html(html, store, page.lang, "patrols")


@router.get("/patrols", response_class=HTMLResponse, summary="Patrol plans")
def patrols_index(store: StoreDep, page: PageDep) -> HTMLResponse:
    """Every patrol plan with links to its map and its teams' phone pages."""
    from gridpatrol.maps.nav import plans_index_html

    plans = store.read("patrol_plans")
    routes = store.read("patrol_routes") if len(plans) else None
    rows = []
    for plan in plans.sort_values("created_at", ascending=False).itertuples():
        teams = (
            sorted(set(routes.loc[routes["plan_id"] == plan.plan_id, "team_id"]))
            if routes is not None
            else []
        )
        rows.append((plan.plan_id, plan.name, str(plan.created_at)[:16], teams))
    return page_html(plans_index_html(rows, lang=page.lang), store, page.lang, "patrols")
