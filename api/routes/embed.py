"""Read-only embeds: admin-made tokens scoped to layers and an area, and the pages they open.

Admin endpoints (``/api/embed/tokens``) need the ``X-Admin-Key`` header matching the
``admin_key`` setting (``GRIDPATROL_ADMIN_KEY``). When that setting is empty they are
open to loopback clients only (127.0.0.1, ::1): fine on a planner's own machine, but
behind a reverse proxy on the same host every client looks local, so set a key there.

Embed endpoints (``/embed/...``) take ``?token=``; a missing or unknown token is 401, an
expired or revoked one, or a layer or bbox outside the token's scope, is 403.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
from datetime import datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from gridpatrol.api.deps import SettingsDep, StoreDep, page_params
from gridpatrol.api.routes.maps import pick_language
from gridpatrol.api.schemas import to_feature_collection
from gridpatrol.api.settings import Settings
from gridpatrol.store import tokens as tk

router = APIRouter(tags=["embed"])


# -- settings not yet in api/settings.py --------------------------------------------------

def _admin_key(settings: Settings) -> str:
    return getattr(settings, "admin_key", "") or ""


def _min_count(settings: Settings) -> int:
    return max(int(getattr(settings, "embed_min_count", 5)), 1)


def _public_url(settings: Settings, request: Request) -> str:
    return (getattr(settings, "public_url", "") or str(request.base_url)).rstrip("/")


def embed_headers(settings: Settings) -> dict[str, str]:
    """Headers of embed responses: framable by ``frame_ancestors``, no token in Referer."""
    # A ';' or newline would start another directive (or header): keep the source list only.
    ancestors = " ".join(
        str(getattr(settings, "frame_ancestors", "'self'")).replace(";", " ").replace(",", " ").split()
    ) or "'none'"
    return {
        "Content-Security-Policy": f"frame-ancestors {ancestors}",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


# -- schemas -------------------------------------------------------------------------------

class EmbedTokenCreate(BaseModel):
    """A read-only embed token's scope."""

    label: str = Field(min_length=1, max_length=200, description="who or what it is for")
    layers: list[str] = Field(
        min_length=1, description=f"any of {', '.join(tk.EMBEDDABLE)}", examples=[["grids", "incidents_aggregate"]]
    )
    area: list[float] | dict[str, Any] | str = Field(
        description="bbox [min lon, min lat, max lon, max lat], a GeoJSON Polygon/MultiPolygon, "
        "or the code of an area or active grid",
        examples=[[24.935, 60.165, 24.95, 60.172]],
    )
    expires_at: AwareDatetime | None = Field(None, description="ISO 8601 with a time zone; empty: never")
    incident_unit: str = Field("grid", pattern="^(grid|cell)$", description="count incidents per grid or per cell")
    cell_m: float = Field(250.0, ge=50, le=5000, description="cell size (metres) when incident_unit=cell")


class EmbedToken(BaseModel):
    """A token as listed: scope and times, never the token or its hash."""

    id: str
    label: str
    layers: list[str]
    area_code: str | None
    area_bbox: list[float]
    incident_unit: str
    cell_m: float
    created_at: str | None
    created_by: str
    expires_at: str | None
    revoked_at: str | None


class EmbedTokenCreated(EmbedToken):
    token: str = Field(description="the secret: shown now and never again")
    embed_url: str
    embed_code: str = Field(description="an <iframe> to paste into a page")


# -- admin ---------------------------------------------------------------------------------

def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_admin(
    request: Request,
    settings: SettingsDep,
    x_admin_key: Annotated[str | None, Header(description="the GRIDPATROL_ADMIN_KEY")] = None,
) -> str:
    """Who is acting: ``admin-key`` or ``loopback``; 401/403 otherwise."""
    key = _admin_key(settings)
    if key:
        if not x_admin_key:
            raise HTTPException(401, "this is an admin action: send the X-Admin-Key header")
        if not hmac.compare_digest(x_admin_key.encode(), key.encode()):
            raise HTTPException(403, "the X-Admin-Key header is wrong")
        return "admin-key"
    if _is_loopback(request):
        return "loopback"
    raise HTTPException(
        403,
        "admin actions are only allowed from this machine until GRIDPATROL_ADMIN_KEY is set; "
        "set it and send it as X-Admin-Key",
    )


def _scope_error(exc: tk.ScopeError) -> HTTPException:
    return HTTPException(403, str(exc))


def _token_error(exc: tk.EmbedTokenError) -> HTTPException:
    if exc.reason in ("missing", "unknown"):
        return HTTPException(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="embed"'})
    return HTTPException(403, str(exc))


@router.post(
    "/api/embed/tokens", status_code=201, response_model=EmbedTokenCreated, summary="Make an embed token"
)
def create_embed_token(
    body: EmbedTokenCreate,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    actor: Annotated[str, Depends_admin := None] = None,  # replaced below
) -> dict:
    raise NotImplementedError
