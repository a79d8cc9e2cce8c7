"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import gridpatrol
from gridpatrol.maps.assets import STATIC_DIR

from .errors import install_error_handlers
from .routes import health, layers, maps
from .settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (from the environment when None)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="gridpatrol",
        version=gridpatrol.__version__,
        description="Grids, buildings, cameras, incidents and patrol routes for "
        "grid-based community safety. GeoJSON in and out is WGS84 (RFC 7946).",
    )
    app.state.settings = settings
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        # Refuse huge payloads before reading them.
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_mb * 1e6:
            return JSONResponse(
                status_code=413,
                content={
                    "error": "PayloadTooLarge",
                    "detail": f"request body over {settings.max_body_mb} MB: split it into batches",
                },
            )
        return await call_next(request)

    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(maps.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
