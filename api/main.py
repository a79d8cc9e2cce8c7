"""The FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

import gridpatrol
from gridpatrol.maps import STATIC_DIR

from .auth import authorize
from .errors import install_error_handlers
from .routers import (
    basemap,
    cameras,
    editor,
    embed,
    grids,
    health,
    imports,
    incidents,
    layers,
    maps,
    patrols,
    project,
    tiles,
)
from .security import install_security
from .settings import Settings, get_settings

log = logging.getLogger("gridpatrol.api")


async def _escalation_timer(settings: Settings) -> None:
    """Escalate overdue incidents every ``escalation_interval_s`` seconds."""
    import os
    import socket
    import uuid

    from gridpatrol.store.base import open_store

    # Several workers (gridpatrol serve --workers N) share the store: the one holding
    # the lease escalates, the others skip the round; a lease outlives a dead holder by
    # at most two rounds.
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run_once() -> list[str]:
        # imported here, in a worker thread at the first round, not when the service
        # starts: it brings pandas and geopandas (seconds, with the event loop blocked)
        from gridpatrol.services.incidents import escalate_overdue

        with open_store(settings.database_url) as store:
            lease_s = 2 * settings.escalation_interval_s + 5
            if not store.try_lease("escalation", holder=holder, seconds=lease_s):
                return []
            return escalate_overdue(store)

    while True:
        await asyncio.sleep(settings.escalation_interval_s)
        try:
            done = await run_in_threadpool(run_once)
            if done:
                log.info("escalated %d overdue incident(s)", len(done))
        except Exception:  # keep the timer alive; the next round tries again
            log.exception("escalation round failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (from the environment when None)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import importlib

        from gridpatrol.services import offload
        from gridpatrol.services.report_queue import warm_up

        # Start the helper processes now, not on the first report or page (their imports
        # take seconds).
        offload.warm(warm_up, settings.database_url, processes=settings.cpu_processes)
        offload.warm(
            importlib.import_module,
            "gridpatrol.api.routers.maps",
            processes=settings.cpu_processes,
            pool="pages",
        )
        task = None
        if settings.escalation_interval_s > 0:
            task = asyncio.create_task(_escalation_timer(settings))
        yield
        pool = getattr(app.state, "store_pool", None)
        if pool is not None:  # the stores kept open between requests (api.deps)
            pool.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own assets (works offline)
        redoc_url=None,
        title="gridpatrol",
        version=gridpatrol.__version__,
        description="Grids, buildings, cameras, incidents and patrol routes for "
        "grid-based community safety. GeoJSON in and out is WGS84 (RFC 7946).",
        dependencies=[Depends(authorize)],  # every route: the access rules of api.auth
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_security(app, settings)  # hosts, cross-site, body limits, CSP, login, audit

    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(incidents.router)
    app.include_router(cameras.router)
    app.include_router(grids.router)
    app.include_router(patrols.router)
    app.include_router(maps.router)
    app.include_router(basemap.router)
    app.include_router(tiles.router)
    app.include_router(embed.router)
    app.include_router(editor.router)
    app.include_router(project.router)
    app.include_router(imports.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_docs(lang: str | None = None) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        from gridpatrol.maps.nav import NavTargets, with_nav

        page = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="gridpatrol API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        ).body.decode()
        chosen = "zh" if (lang or "").startswith("zh") else "en"
        return HTMLResponse(with_nav(page, chosen, NavTargets(), current="docs"))

    @app.get("/redoc", include_in_schema=False)
    def redoc_docs(lang: str | None = None) -> HTMLResponse:
        from fastapi.openapi.docs import get_redoc_html

        from gridpatrol.maps.nav import NavTargets, with_nav

        page = get_redoc_html(
            openapi_url=app.openapi_url,
            title="gridpatrol API",
            redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        ).body.decode()
        chosen = "zh" if (lang or "").startswith("zh") else "en"
        return HTMLResponse(with_nav(page, chosen, NavTargets(), current="docs"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:  # browsers ask for it even on JSON pages
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    return app
