"""Cross-site safety, body limits, security headers and the audit trail, in one ASGI
middleware, plus the documented error responses of the OpenAPI contract.

Order of checks for every HTTP request (before routing and authentication):

1. ``Host`` must be one of the ``allowed_hosts`` setting (loopback by default): anything
   else is 421, so a DNS-rebinding page cannot talk to a planner's local server.
2. A write (POST/PUT/PATCH/DELETE) without ``Authorization: Bearer`` must come from our
   own origin: a foreign ``Origin`` or ``Sec-Fetch-Site: cross-site/same-site`` is 403.
   (Browsers cannot add our bearer header cross-site without CORS, which we never grant.)
3. The body is counted while it streams (``Content-Length`` or chunked): past the
   endpoint's limit the request is answered 413 with a readable body, and the rest of
   the body is read and dropped (up to ``DRAIN_LIMIT``) so the client sees the answer
   instead of a reset connection.

Every answer gets ``X-Content-Type-Options``, a ``Referrer-Policy`` and a
``Content-Security-Policy``. HTML pages get ``script-src 'nonce-…'``: the middleware adds
the per-response nonce to the ``<script>`` tags the renderers wrote (including the
escaped ones inside ``srcdoc`` frames, which inherit the policy). User text is escaped
by the renderers (``maps.base.escape_text``), so it cannot carry a ``<script>`` tag to
be given the nonce; the policy still blocks inline handlers and ``javascript:`` URLs.

Successful writes are appended to the audit log with the principal that made them.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import sys
import threading
from collections.abc import Callable
from typing import Any

import pydantic
from fastapi import FastAPI, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from gridpatrol.lazy import lazy_module
from gridpatrol.services.tokens import Principal
from gridpatrol.store.base import open_store

from .settings import Settings

# imported on first use, so the service answers before they load (gridpatrol.lazy)
pd = lazy_module("pandas")

log = logging.getLogger("gridpatrol.api")

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
#: After a 413, read and drop at most this much more of the body before closing.
DRAIN_LIMIT = 256 * 1024 * 1024
MB = 1_000_000


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request body over {limit / MB:g} MB for this endpoint: split it into smaller batches",
        )
        self.limit = limit


def body_limit(method: str, path: str, settings: Settings) -> int:
    """Largest body (bytes) accepted by ``method path``."""
    if path.startswith(("/api/grids/versions/import", "/api/imports/")):
        return int(settings.max_upload_mb * MB)
    if path in ("/login", "/logout", "/api/incidents") or path.startswith(
        ("/api/auth/", "/api/embed/")
    ):
        return min(int(settings.max_body_mb * MB), MB)
    if path.startswith("/api/incidents/") and path.endswith("/actions"):
        return min(int(settings.max_body_mb * MB), MB)
    return int(settings.max_body_mb * MB)


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether a ``Host`` header (port stripped) matches the allow-list (``*.x`` wildcards)."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    for pattern in allowed:
        pattern = pattern.strip().lower().strip("[]")
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def _origin_host(origin: str) -> str:
    m = re.match(r"^[a-z][a-z0-9+.-]*://([^/]+)", origin.strip().lower())
    return m.group(1) if m else ""


def _json(status: int, error: str, detail: str, extra: dict | None = None):
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        *(extra or {}).items(),
    ]
    return status, headers, body


_SCRIPT = re.compile(rb"(<script\b[^>]*)>", re.IGNORECASE)
_ESCAPED_SCRIPT = re.compile(rb"(&lt;script\b(?:[^&]|&(?!gt;))*)&gt;", re.IGNORECASE)
_DOCS = ("/docs", "/redoc")
#: Swagger UI and ReDoc load from this CDN (FastAPI's defaults).
_DOCS_CDN = "https://cdn.jsdelivr.net"


def content_security_policy(nonce: str | None, *, frame_ancestors: str, docs: bool) -> str:
    cdn = f" {_DOCS_CDN}" if docs else ""
    script = f"'self' 'nonce-{nonce}'{cdn}" if nonce else "'none'"
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {script}",
            f"style-src 'self' 'unsafe-inline'{cdn}",  # Leaflet/folium set style attributes
            "img-src 'self' data: blob: https:",  # online basemaps are images
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


@functools.lru_cache(maxsize=64)
def _nonceless_policy(frame_ancestors: str, docs: bool) -> str:
    return content_security_policy(None, frame_ancestors=frame_ancestors, docs=docs)


class SecurityMiddleware:
    """See the module docstring."""

    def __init__(self, app, settings: Settings, spec: Callable[[], dict] = dict) -> None:
        self.app = app
        self.settings = settings
        self.spec = spec
        self._allow: list[tuple[re.Pattern, bool, set[str]]] | None = None

    def allowed_methods(self, path: str) -> bytes:
        """Every documented method at ``path`` (Starlette's 405 names one route's only)."""
        if self._allow is None:
            table = []
            for template, item in self.spec().get("paths", {}).items():
                pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
                methods = {
                    m.upper() for m in item if m in ("get", "put", "post", "patch", "delete")
                }
                methods |= {"HEAD"} if "GET" in methods else set()
                table.append((re.compile(f"^{pattern}$"), "{" in template, methods))
            self._allow = table
        exact = [m for r, param, m in self._allow if not param and r.match(path)]
        found = set().union(*(exact or [m for r, _, m in self._allow if r.match(path)]))
        return ", ".join(sorted(found)).encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]

        async def refuse(status: int, error: str, detail: str) -> None:
            status, hdrs, body = _json(status, error, detail)
            await send({"type": "http.response.start", "status": status, "headers": hdrs})
            await send({"type": "http.response.body", "body": body})

        host = headers.get("host", "")
        if not host_allowed(host, settings.allowed_hosts):
            await refuse(
                421,
                "MisdirectedRequest",
                f"host {host[:100]!r} is not served here: add it to GRIDPATROL_ALLOWED_HOSTS",
            )
            return
        bearer = headers.get("authorization", "").lower().startswith("bearer ")
        if method in UNSAFE and not bearer:
            origin = headers.get("origin")
            site = headers.get("sec-fetch-site", "")
            if (origin and origin != "null" and _origin_host(origin) != host.lower()) or (
                origin == "null" or site in ("cross-site", "same-site")
            ):
                await refuse(
                    403,
                    "CrossSiteRequest",
                    "writes from other sites are refused: use this site's pages, or send "
                    "'Authorization: Bearer <token>'",
                )
                return

        limit = body_limit(method, path, settings)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            exc = BodyTooLarge(limit)
            await refuse(413, "PayloadTooLarge", exc.detail)
            return
        received = 0
        too_large = False

        async def limited_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    # Read and drop the rest so the client gets our answer, not a reset.
                    drained, more = 0, message.get("more_body", False)
                    while more and drained < DRAIN_LIMIT:
                        m = await receive()
                        if m["type"] != "http.request":
                            break
                        drained += len(m.get("body", b""))
                        more = m.get("more_body", False)
                    raise BodyTooLarge(limit)
            return message

        nonce = secrets.token_urlsafe(16)
        started = False
        state: dict[str, Any] = {"status": 0}
        html_parts: list[bytes] | None = None
        html_start: dict | None = None

        async def secure_send(message) -> None:
            nonlocal started, html_parts, html_start
            if message["type"] == "http.response.start":
                started = True
                state["status"] = message["status"]
                hdrs = [(k, v) for k, v in message.get("headers", [])]
                if message["status"] == 405:
                    hdrs = [(k, v) for k, v in hdrs if k.lower() != b"allow"]
                    hdrs.append((b"allow", self.allowed_methods(path)))
                names = {k.lower() for k, _ in hdrs}
                ctype = next((v for k, v in hdrs if k.lower() == b"content-type"), b"")
                existing = next(
                    (v.decode() for k, v in hdrs if k.lower() == b"content-security-policy"), ""
                )
                m = re.search(r"frame-ancestors ([^;]+)", existing)
                ancestors = m.group(1).strip() if m else "'self'"
                is_html = ctype.startswith(b"text/html")
                if is_html:
                    csp = content_security_policy(
                        nonce, frame_ancestors=ancestors, docs=path in _DOCS
                    )
                else:  # the same few strings for every API answer: built once each
                    csp = _nonceless_policy(ancestors, path in _DOCS)
                hdrs = [(k, v) for k, v in hdrs if k.lower() != b"content-security-policy"]
                hdrs.append((b"content-security-policy", csp.encode()))
                if b"x-content-type-options" not in names:
                    hdrs.append((b"x-content-type-options", b"nosniff"))
                if b"referrer-policy" not in names:
                    hdrs.append((b"referrer-policy", b"same-origin"))
                message = {**message, "headers": hdrs}
                if is_html:  # hold the page to add nonces to its scripts
                    html_start, html_parts = message, []
                    return
                await send(message)
                return
            if html_parts is not None and message["type"] == "http.response.body":
                html_parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(html_parts)
                n = nonce.encode()
                body = _SCRIPT.sub(rb'\1 nonce="' + n + rb'">', body)
                body = _ESCAPED_SCRIPT.sub(rb"\1 nonce=&quot;" + n + rb"&quot;&gt;", body)
                hdrs = [(k, v) for k, v in html_start["headers"] if k.lower() != b"content-length"]
                hdrs.append((b"content-length", str(len(body)).encode()))
                await send({**html_start, "headers": hdrs})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, secure_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await refuse(413, "PayloadTooLarge", exc.detail)
            return
        if too_large and not started:  # pragma: no cover - the app swallowed the error
            await refuse(413, "PayloadTooLarge", BodyTooLarge(limit).detail)
            return
        status = state["status"]
        principal = scope.get("state", {}).get("principal")
        if method in UNSAFE and status < 400 and principal is not None:
            await self._audit(principal, method, scope, status)

    async def _audit(self, principal: Principal, method: str, scope, status: int) -> None:
        import asyncio

        route = scope.get("route")
        row = {
            "audit_id": secrets.token_hex(8),
            "at": pd.Timestamp.now(tz="UTC"),
            "actor": principal.label,
            "role": principal.role,
            "action": f"{method} {scope['path']}",
            "status": int(status),
            "detail": json.dumps(
                {
                    "route": getattr(route, "path", ""),
                    "params": {k: str(v) for k, v in scope.get("path_params", {}).items()},
                    "query": _redact(scope.get("query_string", b"").decode("latin-1")),
                }
            ),
        }
        # Returns once its row is written (with the others that arrived meanwhile),
        # awaiting on the loop: a thread per waiting request would starve the pool
        # that tiles, pages and token checks run in.
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle() -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

        _AUDIT.submit(
            self.settings.database_url,
            row,
            callback=settle,
            processes=self.settings.cpu_processes,
        )
        await done


class _AuditWriter:
    """Group commit for the audit log: rows of concurrent requests in one transaction.

    One write transaction per request would serialise a busy service on the store's
    writer lock. One thread writes batches; each caller is told (``callback``) once its
    row is stored. With ``processes`` above 0 the batch is written by the helper process
    that stores reports (:mod:`gridpatrol.services.offload`): one process writing the
    embedded store, instead of two polling for its lock.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[tuple[str, dict, Callable[[], None], int]] = []
        self._thread: threading.Thread | None = None

    def submit(self, url: str, row: dict, *, callback: Callable[[], None], processes: int) -> None:
        with self._cond:
            self._pending.append((url, row, callback, processes))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="gridpatrol-audit-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        from gridpatrol.services import offload
        from gridpatrol.services.audit import append_audit_rows

        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                url, processes = self._pending[0][0], self._pending[0][3]
                batch, rest = [], []
                for p in self._pending:
                    (batch if (p[0], p[3]) == (url, processes) else rest).append(p)
                self._pending = rest
            try:
                offload.run(append_audit_rows, url, [p[1] for p in batch], processes=processes)
            except Exception:  # the changes are done; a failed audit write is logged
                log.exception("audit log write failed for %d change(s)", len(batch))
            for p in batch:
                p[2]()


_AUDIT = _AuditWriter()


_TOKEN_QUERY = re.compile(r"((?:^|[?&])token=)[^&\s\"]*", re.IGNORECASE)


def _redact(text: str) -> str:
    """``token=...`` values replaced by ``***`` (tokens never reach logs)."""
    return _TOKEN_QUERY.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Drop token values from log records (uvicorn's access log prints the query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _redact(record.msg)
        return True


# -- the documented contract ------------------------------------------------------------------

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "the kind of error"},
        "detail": {
            "description": "what is wrong and what to do (validation errors: a list)",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {}}, {"type": "object"}],
        },
    },
    "required": ["detail"],
}
ERROR_STATUSES = {
    "400": "Bad request",
    "401": "No valid token or session",
    "403": "The token's role may not do this, or a cross-site write",
    "404": "Not found",
    "409": "Conflict with the current state",
    "413": "Request body too large",
    "421": "Host not served here",
    "422": "Invalid input (validation errors are a list, domain errors a sentence)",
    "503": "The store is unavailable",
}


def document_errors(app: FastAPI) -> Callable[[], dict]:
    """``app.openapi`` with every error answer documented (one ``Error`` schema)."""

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        from .auth import rule_for

        ref = {"$ref": "#/components/schemas/Error"}
        for path, item in schema.get("paths", {}).items():
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                if rule_for(method, path).roles is None:
                    op.pop("security", None)  # public: a token is accepted, not needed
                ok = next((r for c, r in op["responses"].items() if c.startswith("2")), {})
                html_page = "text/html" in ok.get("content", {})
                for code, text in ERROR_STATUSES.items():
                    content = {"application/json": {"schema": ref}}
                    if html_page:  # pages answer errors as pages too
                        content["text/html"] = {"schema": {"type": "string"}}
                    if code not in op["responses"] or code == "422":
                        op["responses"][code] = {"description": text, "content": content}
        app.openapi_schema = schema
        return schema

    return openapi


def check_production(settings: Settings) -> None:
    """Refuse to start in production mode with unsafe defaults.

    Raises
    ------
    RuntimeError
        Naming every setting to change.
    """
    if not settings.production:
        return
    problems = []
    with open_store(settings.database_url) as store:
        tokens = store.read("api_tokens", where={"kind": "api", "role": "admin"})
        if tokens.empty or not tokens["revoked_at"].isna().any():
            problems.append("no admin token exists: run 'gridpatrol token create --role admin'")
    if any(h.strip() == "*" for h in settings.allowed_hosts):
        problems.append("GRIDPATROL_ALLOWED_HOSTS contains '*': list the host names served")
    if settings.public_url and not settings.public_url.startswith("https://"):
        problems.append("GRIDPATROL_PUBLIC_URL must be https:// in production")
    if settings.basemap_key and settings.basemap_key in ("changeme", "demo", "test"):
        problems.append("GRIDPATROL_BASEMAP_KEY is a placeholder")
    if problems:
        raise RuntimeError("production mode refuses to start: " + "; ".join(problems))


async def _invalid(request, exc: pydantic.ValidationError) -> JSONResponse:
    # A model validated inside a route (e.g. one row of a batch): the same 422 as FastAPI's.
    return JSONResponse(
        status_code=422,
        content=jsonable_encoder(
            {"error": "ValidationError", "detail": exc.errors(include_url=False)}
        ),
    )


async def _too_large(request, exc: BodyTooLarge) -> JSONResponse:
    return JSONResponse(status_code=413, content={"error": "PayloadTooLarge", "detail": exc.detail})


async def _out_of_range(request, exc: Exception) -> JSONResponse:
    # Numbers past 64 bits (offsets, version numbers) and times past pandas' range.
    return JSONResponse(
        status_code=422,
        content={"error": "OutOfRange", "detail": f"a value is out of range: {exc}"},
    )


async def _value_error(request, exc: ValueError) -> JSONResponse:
    # pandas' OutOfBoundsDatetime (a ValueError) is a 422; matched here rather than
    # registered by class, which would import pandas when the app is built. Without
    # pandas loaded it cannot be that error; any other ValueError goes on as before.
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(exc, pandas.errors.OutOfBoundsDatetime):
        return await _out_of_range(request, exc)
    raise exc


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the middleware, the login/token/audit routes and the documented errors."""
    from .auth import router

    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(pydantic.ValidationError, _invalid)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(ValueError, _value_error)  # pandas' OutOfBoundsDatetime

    check_production(settings)
    app.include_router(router)
    app.add_middleware(SecurityMiddleware, settings=settings, spec=lambda: app.openapi())
    app.openapi = document_errors(app)
    redact = RedactTokens()
    for name in ("uvicorn.access", "uvicorn.error", "gridpatrol.api"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(redact)
