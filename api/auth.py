"""Who may do what: API tokens, browser sessions, roles, and the one access policy.

A request is made by a :class:`~gridpatrol.services.tokens.Principal` when it carries
``Authorization: Bearer <token>`` (scripts, tests) or the ``gp_session`` cookie that
``POST /login`` sets from a token (planners in the browser); otherwise it is anonymous.

:func:`authorize` is installed as an app-wide dependency, so every route (today's and
tomorrow's) is checked against :data:`RULES` by its path template and method: reads are
open except single incidents (description, address, exact point), which need a role that
handles incidents; every write needs a role, and a write no rule names is admin-only
(deny by default). Missing or unknown credentials are 401, a role that may not is 403.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gridpatrol.lazy import lazy_module
from gridpatrol.services import tokens as svc
from gridpatrol.store.base import open_store

# imported on first use, so the service answers before they load (gridpatrol.lazy)
pd = lazy_module("pandas")
audit_log = lazy_module("gridpatrol.services.audit")
embed_tokens = lazy_module("gridpatrol.services.embed")

SESSION_COOKIE = "gp_session"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Roles that may see single incidents (description, address, exact point).
DETAIL_ROLES = ("admin", "dispatcher", "planner", "patrol")
ADMIN = ("admin",)


@dataclass(frozen=True)
class Rule:
    """Roles allowed for a method class on paths whose template matches ``pattern``."""

    methods: str  # "read" or "write"
    pattern: re.Pattern
    roles: tuple[str, ...] | None  # None: anyone, anonymous included


def _r(methods: str, pattern: str, roles: tuple[str, ...] | None) -> Rule:
    return Rule(methods, re.compile(pattern), roles)


#: First match wins; paths are route templates (``/api/incidents/{incident_id}``).
RULES: tuple[Rule, ...] = (
    # admin
    _r("read", r"^/api/(auth/tokens|audit)(/|$)", ADMIN),
    _r("write", r"^/api/(auth/tokens|embed/tokens)(/|$)", ADMIN),
    _r("read", r"^/api/embed/tokens(/|$)", ADMIN),
    # incidents: single ones are private; aggregates are public
    _r("read", r"^/api/incidents/(figures|hotspots|density|categories)$", None),
    _r("read", r"^/api/incidents(/|$)", DETAIL_ROLES),
    _r("read", r"^/maps/incidents$", DETAIL_ROLES),
    _r("write", r"^/api/incidents/escalate$", ("admin", "dispatcher")),
    _r("write", r"^/api/incidents(/|$)", ("admin", "dispatcher", "patrol")),
    _r("write", r"^/api/imports/incidents$", ("admin", "dispatcher")),
    _r("write", r"^/api/imports/", ("admin", "planner")),
    # grids and patrol plans
    _r("write", r"^/api/grids(/|$)", ("admin", "planner")),
    _r(
        "write",
        r"^/api/patrols/\{plan_id\}/teams/\{team_id\}/compliance$",
        ("admin", "planner", "dispatcher", "patrol"),
    ),
    _r("write", r"^/api/patrols(/|$)", ("admin", "planner")),
    _r("write", r"^/api/cameras(/|$)", ("admin", "planner")),
    _r("write", r"^/api/cameras(/|$)", ("admin", "planner")),
    # logging in and out is open (the cross-site checks of api.security still apply)
    _r("write", r"^/(login|logout)$", None),
    _r("write", r"^/api/auth/login-links$", ("admin", "planner", "dispatcher", "patrol", "viewer")),
    # anything else: reads open, writes admin-only
    _r("read", r".*", None),
    _r("write", r".*", ADMIN),
)

_bearer = HTTPBearer(
    auto_error=False,
    description="an API token (gridpatrol token create --role ROLE); pages also take the "
    "session cookie set by POST /login",
)


def rule_for(method: str, path: str) -> Rule:
    kind = "write" if method.upper() in UNSAFE else "read"
    return next(r for r in RULES if r.methods == kind and r.pattern.search(path))


#: Resolved tokens, keyed by the token's hash and the revision of the token table: an
#: issue, revocation or expiry change moves the revision on, so it applies at once.
_PRINCIPALS: dict[tuple, tuple[svc.Principal, float]] = {}
#: A cached principal is re-checked against the store at least this often (expiry).
_PRINCIPAL_TTL_S = 30.0


def _lookup(request: Request, secret: str) -> svc.Principal:
    import time

    from .deps import store_pool

    with store_pool(request).borrow() as store:
        # One small revision query instead of a table read per request.
        key = (store.url, svc.hash_token(secret), store.revisions("api_tokens")["api_tokens"])
        hit = _PRINCIPALS.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        principal = svc.resolve_api_token(store, secret)
        if len(_PRINCIPALS) > 10_000:
            _PRINCIPALS.clear()
        _PRINCIPALS[key] = (principal, time.monotonic() + _PRINCIPAL_TTL_S)
        return principal


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> svc.Principal | None:
    """The principal of the bearer token or the session cookie; None when anonymous.

    Raises 401 for a token or session that is unknown, expired or revoked.
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    secret = credentials.credentials if credentials is not None else None
    if secret is not None and secret.startswith(embed_tokens.TOKEN_PREFIX):
        secret = None  # an embed token: checked by the embed router, not a principal
    via = "bearer"
    if secret is None:
        secret = request.cookies.get(SESSION_COOKIE)
        via = "cookie"
    if not secret:
        return None
    from .deps import store_pool

    try:
        if store_pool(request).local:
            # A cached token costs the embedded store one ~10 µs query: less than
            # handing it to a thread (and back) costs at a few hundred requests a second.
            principal = _lookup(request, secret)
        else:  # PostGIS: a network round trip, kept off the event loop
            principal = await run_in_threadpool(_lookup, request, secret)
    except svc.ApiTokenError as exc:
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
    request.state.principal = principal
    request.state.auth_via = via
    return principal


PrincipalDep = Annotated[svc.Principal | None, Depends(current_principal)]


def sees_incident_details(principal: PrincipalDep) -> bool:
    """Whether the caller may see single incidents (and so small counts)."""
    return principal is not None and principal.role in DETAIL_ROLES


SeesDetailsDep = Annotated[bool, Depends(sees_incident_details)]


def _wants_page(request: Request, path: str) -> bool:
    """A browser asking for a page (not a script asking for data)."""
    return (
        request.method == "GET"
        and not path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
    )


async def authorize(request: Request, principal: PrincipalDep) -> None:
    """The app-wide access check (see :data:`RULES`)."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = rule_for(request.method, path)
    if rule.roles is not None:
        if principal is None and _wants_page(request, path):
            # A person in a browser clicked a link: send them to log in, then back here.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(
                303,
                "log in to see this page",
                headers={"Location": f"/login?next={quote(target, safe='')}"},
            )
        if principal is None:
            what = "this change" if request.method in UNSAFE else "this"
            raise HTTPException(
                401,
                f"{what} needs a token with one of the roles {', '.join(rule.roles)}: send "
                "'Authorization: Bearer <token>' (gridpatrol token create) or log in at /login",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.role not in rule.roles:
            raise HTTPException(
                403,
                f"role {principal.role!r} may not do this; it needs one of {', '.join(rule.roles)}",
            )
    teams = (principal.scope.get("teams") if principal else None) or None
    team = request.path_params.get("team_id")
    if principal is not None and principal.role == "patrol" and teams and team is not None:
        if str(team) not in teams:
            raise HTTPException(403, f"this token may only see the routes of {', '.join(teams)}")


def require_role(*roles: str):
    """A dependency for routers that need more than :data:`RULES` (e.g. a stricter read)."""

    async def check(principal: PrincipalDep) -> svc.Principal:
        if principal is None:
            raise HTTPException(
                401, "log in or send a bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role!r} may not do this")
        return principal

    return Depends(check)


AdminDep = Annotated[svc.Principal, require_role("admin")]


def actor_label(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.label if principal is not None else "anonymous"


# -- routes: login, tokens, audit -----------------------------------------------------------

router = APIRouter(tags=["auth"])


class ApiTokenCreate(BaseModel):
    role: str = Field(pattern="^(admin|planner|dispatcher|patrol|viewer)$")
    name: str = Field("", max_length=200)
    scope: dict[str, list[str]] = Field(
        default_factory=dict,
        description="planner: communities/streets codes; patrol: teams",
    )


class ApiToken(BaseModel):
    id: str
    kind: str
    name: str
    role: str
    scope: dict[str, Any]
    created_at: str | None
    created_by: str
    expires_at: str | None
    revoked_at: str | None


class ApiTokenCreated(ApiToken):
    token: str = Field(description="the secret: shown now and never again")


class AuditEntry(BaseModel):
    at: str
    actor: str
    role: str
    action: str
    status: int
    detail: dict[str, Any]


def _store(request: Request):
    return open_store(request.app.state.settings.database_url)


@router.post("/api/auth/tokens", status_code=201, response_model=ApiTokenCreated)
def create_token(body: ApiTokenCreate, request: Request, admin: AdminDep) -> dict:
    """A new API token (admins only); the secret is returned once."""
    with _store(request) as store:
        token, record = svc.create_api_token(
            store, role=body.role, name=body.name, scope=body.scope, actor=admin.label
        )
    return {**record, "token": token}


@router.get("/api/auth/tokens", response_model=list[ApiToken])
def list_tokens(request: Request, admin: AdminDep) -> list[dict]:
    """Every API token, newest first (no secrets)."""
    with _store(request) as store:
        return svc.list_api_tokens(store)


@router.delete("/api/auth/tokens/{token_id}", response_model=ApiToken)
def revoke_token(
    token_id: Annotated[str, Path(max_length=64)], request: Request, admin: AdminDep
) -> dict:
    """Revoke a token and the browser sessions opened with it."""
    with _store(request) as store:
        return svc.revoke_api_token(store, token_id, actor=admin.label)


@router.get("/api/audit", response_model=list[AuditEntry])
def audit(
    request: Request,
    admin: AdminDep,
    actor: Annotated[str | None, Query(max_length=300)] = None,
    since: Annotated[
        str | None, Query(description="ISO 8601 time with a zone", max_length=64)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict]:
    """The audit log, newest first: who changed what, when."""
    since_ts = None
    if since:
        try:
            since_ts = pd.Timestamp(since)
        except (ValueError, OverflowError):
            raise HTTPException(422, f"since {since!r} is not an ISO 8601 time") from None
        if since_ts.tzinfo is None:
            raise HTTPException(422, "since needs a time zone, e.g. 2026-12-01T00:00:00Z")
    with _store(request) as store:
        return audit_log.read_audit(store, actor=actor, since=since_ts, limit=limit)


LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridpatrol · log in</title>
<style>body{{font:15px sans-serif;max-width:26em;margin:4em auto}}
input{{width:100%;padding:.4em;margin:.3em 0}}</style>
</head><body><h1>gridpatrol</h1>{message}
<form method="post" action="/login">
<label>API token
<input name="token" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button></form>
<p><small>Ask an admin for a token: <code>gridpatrol token create --role planner</code></small></p>
</body></html>"""


def _safe_next(value: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(next: str | None = None) -> HTMLResponse:
    return HTMLResponse(LOGIN_PAGE.format(message="", next=html.escape(_safe_next(next))))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
):
    """Open a browser session from an API token: an HttpOnly, SameSite=Strict cookie."""
    with _store(request) as store:
        try:
            secret, _ = svc.open_session(store, token.strip())
        except svc.ApiTokenError as exc:
            page = LOGIN_PAGE.format(
                message=f"<p role=alert>{html.escape(str(exc))}</p>",
                next=html.escape(_safe_next(next)),
            )
            return HTMLResponse(page, status_code=401)
    return _with_session(request, secret, _safe_next(next))


def _with_session(
    request: Request, secret: str, to: str, *, samesite: str = "strict"
) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=svc.SESSION_HOURS * 3600,
        httponly=True,
        samesite=samesite,
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


class LoginLink(BaseModel):
    url: str = Field(description="open it once within 5 minutes; it sets the session cookie")


@router.post("/api/auth/login-links", status_code=201, response_model=LoginLink)
def create_login_link(
    request: Request,
    principal: PrincipalDep,
    next: Annotated[str | None, Query(max_length=2000, description="page to open")] = None,
) -> dict:
    """A one-time link that logs a browser in as the caller (the token stays out of URLs:
    the link holds a single-use code that expires in 5 minutes)."""
    if principal is None:
        raise HTTPException(401, "send your token as 'Authorization: Bearer <token>'")
    with _store(request) as store:
        code = svc.create_login_link(store, principal)
    url = f"/login/link/{code}"
    if next:
        url += f"?next={quote(_safe_next(next), safe='/')}"
    return {"url": url}


@router.get("/login/link/{code}", include_in_schema=False)
def login_with_link(request: Request, code: str, next: str | None = None):
    with _store(request) as store:
        try:
            secret, _ = svc.open_session_from_link(store, code)
        except svc.ApiTokenError as exc:
            page = LOGIN_PAGE.format(message=f"<p role=alert>{html.escape(str(exc))}</p>", next="/")
            return HTMLResponse(page, status_code=401)
    # lax: a link opened from a mail or chat is a cross-site navigation, and a strict
    # cookie would not ride on its redirect; writes still need a same-site origin.
    return _with_session(request, secret, _safe_next(next), samesite="lax")


@router.post("/logout", include_in_schema=False)
def logout(request: Request):
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        with _store(request) as store:
            svc.close_session(store, secret)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
