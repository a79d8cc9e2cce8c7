"""Read-only embeds: admin-made tokens scoped to layers and an area, and the pages they open.

Admin endpoints (``/api/embed/tokens``) need an admin API token (``Authorization: Bearer``,
see :mod:`gridpatrol.api.auth`).

Embed data endpoints (``/embed/scope``, ``/embed/data/...``) take the embed token in the
``X-Embed-Token`` header or ``Authorization: Bearer``. The ``<iframe>`` code opens
``/embed/map#token=…``: the fragment is never sent to the server, so the page is served
without the token and its script sends the header. A token in ``?token=`` is refused
(400) so that no token reaches a request line or an access log; a missing or unknown
token is 401, an expired or revoked one, or a layer or bbox outside the token's scope, 403.
"""

from __future__ import annotations

import html
import logging
import re
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from gridpatrol.api.auth import AdminDep
from gridpatrol.api.deps import SettingsDep, StoreDep, page_params
from gridpatrol.api.routers.maps import pick_language
from gridpatrol.api.schemas import to_feature_collection
from gridpatrol.api.settings import Settings
from gridpatrol.lazy import lazy_module

# imported on first use, so the service answers before they load (gridpatrol.lazy)
pd = lazy_module("pandas")
shapely = lazy_module("shapely")
embed_tokens = lazy_module("gridpatrol.services.embed")

router = APIRouter(tags=["embed"])
log = logging.getLogger("gridpatrol.api")


# -- settings not yet in api/settings.py --------------------------------------------------


def _min_count(settings: Settings) -> int:
    return max(int(settings.embed_min_count), 1)


def _public_url(settings: Settings, request: Request) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


#: One CSP source expression: 'self', 'none', a scheme (https:) or [scheme://]host[:port][/path].
_SOURCE = re.compile(
    r"'self'|'none'|[a-z][a-z0-9+.-]*:|([a-z][a-z0-9+.-]*://)?(\*|(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*)"
    r"(:(\d+|\*))?(/[^\s;,'\"]*)?",
    re.IGNORECASE,
)


@lru_cache(maxsize=8)  # log a bad setting once, not on every request
def frame_ancestors(value: str) -> str:
    """The ``frame-ancestors`` source list of the setting, or ``'self'`` when it is malformed
    (a ``;`` or an odd token would let the setting add other directives)."""
    sources = str(value).split()
    if not sources or any(not _SOURCE.fullmatch(s) for s in sources):
        log.error("frame_ancestors %r is not a CSP source list; embeds use 'self'", value)
        return "'self'"
    return " ".join(sources)


def embed_headers(settings: Settings) -> dict[str, str]:
    """Headers of embed responses: framable by ``frame_ancestors``, no token in Referer."""
    ancestors = frame_ancestors(settings.frame_ancestors)
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
        min_length=1,
        description=f"any of {', '.join(embed_tokens.EMBEDDABLE)}",
        examples=[["grids", "incidents_aggregate"]],
    )
    area: list[float] | dict[str, Any] | str = Field(
        description="bbox [min lon, min lat, max lon, max lat], a GeoJSON Polygon/MultiPolygon, "
        "or the code of an area or active grid",
        examples=[[24.935, 60.165, 24.95, 60.172]],
    )
    expires_at: AwareDatetime | None = Field(
        None, description="ISO 8601 with a time zone; empty: never"
    )
    incident_unit: str = Field(
        "grid", pattern="^(grid|cell)$", description="count incidents per grid or per cell"
    )
    cell_m: float = Field(
        250.0, ge=50, le=5000, description="cell size (metres) when incident_unit=cell"
    )


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


def _scope_error(exc: embed_tokens.ScopeError) -> HTTPException:
    return HTTPException(403, str(exc))


def _token_error(exc: embed_tokens.EmbedTokenError) -> HTTPException:
    if exc.reason in ("missing", "unknown"):
        return HTTPException(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="embed"'})
    return HTTPException(403, str(exc))


@router.post(
    "/api/embed/tokens",
    status_code=201,
    response_model=EmbedTokenCreated,
    summary="Make an embed token",
)
def create_embed_token(
    body: EmbedTokenCreate,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    admin: AdminDep,
) -> dict:
    """A read-only token for ``layers`` within ``area``, and an ``<iframe>`` embed code.

    The token is returned only here: the store keeps its SHA-256 hash.
    """
    token, record = embed_tokens.create_token(
        store,
        layers=body.layers,
        area=body.area,
        label=body.label,
        expires_at=None if body.expires_at is None else pd.Timestamp(body.expires_at),
        incident_unit=body.incident_unit,
        cell_m=body.cell_m,
        created_by=admin.label,
    )
    # In the fragment: browsers never send it, so it is in no request line or server log.
    url = f"{_public_url(settings, request)}/embed/map#token={token}"
    code = (
        f'<iframe src="{html.escape(url)}" width="800" height="600" style="border:0" '
        f'loading="lazy" referrerpolicy="no-referrer" title="{html.escape(body.label)}"></iframe>'
    )
    return {**record, "token": token, "embed_url": url, "embed_code": code}


@router.get("/api/embed/tokens", response_model=list[EmbedToken], summary="List embed tokens")
def list_embed_tokens(store: StoreDep, admin: AdminDep) -> list[dict]:
    """Every embed token with its scope and times (no secrets), newest first."""
    return embed_tokens.list_tokens(store)


@router.delete(
    "/api/embed/tokens/{token_id}", response_model=EmbedToken, summary="Revoke an embed token"
)
def revoke_embed_token(
    token_id: Annotated[str, Path(max_length=64)], store: StoreDep, admin: AdminDep
) -> dict:
    """Revoke a token: its pages and data answer 403 from now on."""
    return embed_tokens.revoke_token(store, token_id)


# -- embeds --------------------------------------------------------------------------------

TokenHeader = Annotated[str | None, Header(description="the embed token")]

#: Why ``?token=`` is refused (the iframe code of older versions used it).
QUERY_TOKEN_REFUSED = (
    "embed tokens are not accepted in the URL query (it is written to logs): open the "
    "embed as /embed/map#token=... or send the token in the X-Embed-Token header"
)


def _refuse_query_token(request: Request) -> None:
    if "token" in request.query_params:
        raise HTTPException(400, QUERY_TOKEN_REFUSED)


def _embed_token(
    request: Request,
    x_embed_token: TokenHeader = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    """The embed token from ``X-Embed-Token`` or ``Authorization: Bearer gpe_…``."""
    _refuse_query_token(request)
    if x_embed_token:
        return x_embed_token
    if authorization and authorization.lower().startswith("bearer "):
        value = authorization[7:].strip()
        if value.startswith(embed_tokens.TOKEN_PREFIX):
            return value
    return None


EmbedTokenDep = Annotated[str | None, Depends(_embed_token)]


def _scope(store, token: str | None) -> embed_tokens.TokenScope:
    try:
        return embed_tokens.resolve_token(store, token)
    except embed_tokens.EmbedTokenError as exc:
        raise _token_error(exc) from None


def _layer(store, scope: embed_tokens.TokenScope, name: str, *, bbox, settings: Settings):
    if name == embed_tokens.INCIDENTS_AGGREGATE:
        return embed_tokens.incident_counts(store, scope, bbox=bbox, min_count=_min_count(settings))
    return embed_tokens.read_scoped(store, scope, name, bbox=bbox, limit=settings.max_page_size)


@router.get(
    "/embed/map",
    response_class=HTMLResponse,
    summary="Embeddable map",
)
def embed_map(
    request: Request,
    settings: SettingsDep,
    lang: Annotated[str | None, Query(description="en or zh")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """The embed page, opened as ``/embed/map#token=…``: served without data; its script
    reads the token from the fragment and fetches ``/embed/scope`` and the layers with the
    ``X-Embed-Token`` header. Offline, framable by ``frame_ancestors`` origins."""
    from gridpatrol.maps.embed import embed_shell_html

    headers = embed_headers(settings)
    if "token" in request.query_params:
        page = (
            "<!doctype html><meta charset=utf-8><title>gridpatrol</title>"
            f"<p>{html.escape(QUERY_TOKEN_REFUSED)}</p>"
        )
        return HTMLResponse(page, status_code=400, headers=headers)
    page = embed_shell_html(
        min_count=_min_count(settings),
        basemap=settings.basemap,
        lang=pick_language(lang, accept_language),
    )
    return HTMLResponse(page, headers=headers)


class EmbedScope(BaseModel):
    """What the embed page needs to draw a token's layers."""

    label: str
    layers: list[str]
    area: dict[str, Any] = Field(description="the token's area, a GeoJSON geometry (WGS84)")
    min_count: int = Field(description="incident counts below this are suppressed")


@router.get("/embed/scope", response_model=EmbedScope, summary="An embed token's scope")
def embed_scope(store: StoreDep, settings: SettingsDep, token: EmbedTokenDep) -> Response:
    """The token's label, layers and area (for the embed page's script)."""
    scope = _scope(store, token)
    body = {
        "label": scope.label,
        "layers": list(scope.layers),
        "area": shapely.geometry.mapping(scope.area),
        "min_count": _min_count(settings),
    }
    return JSONResponse(body, headers=embed_headers(settings))


@router.get("/embed/data/{layer}", summary="An embed layer as GeoJSON")
def embed_data(
    layer: str,
    store: StoreDep,
    settings: SettingsDep,
    token: EmbedTokenDep,
    bbox: Annotated[
        str | None, Query(description="min lon,min lat,max lon,max lat (WGS84)")
    ] = None,
) -> Response:
    """One of the token's layers within its area (and ``bbox``): public columns only;
    ``incidents_aggregate`` is counts per grid or cell with small counts suppressed."""
    headers = embed_headers(settings)
    scope = _scope(store, token)
    box = page_params(settings, bbox=bbox, limit=None, offset=0).bbox
    try:
        gdf = _layer(store, scope, layer, bbox=box, settings=settings)
    except embed_tokens.ScopeError as exc:
        raise _scope_error(exc) from None
    body = to_feature_collection(
        gdf, id_column="code" if layer == embed_tokens.INCIDENTS_AGGREGATE else None
    )
    if layer == embed_tokens.INCIDENTS_AGGREGATE:
        body["min_count"] = _min_count(settings)
    return JSONResponse(body, headers=headers, media_type="application/geo+json")
