"""API tokens, browser sessions and login links: the rules, and one transaction per write.

A token is 32 random bytes (256 bits) behind a prefix that says its kind; only its SHA-256
is stored (:func:`hash_token`), so checking one is a hash and an indexed lookup, not a
password hash. Each write below (make, revoke, log in, log out) is one transaction that
reads what it decides on inside it and appends its audit entry there too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridpatrol.geo.errors import GridPatrolError, NotFoundError, SchemaError
from gridpatrol.lazy import lazy_module
from gridpatrol.store.base import Store, open_store

from .audit import record_audit

# imported on first use, so the service answers before they load (gridpatrol.lazy)
pd = lazy_module("pandas")

#: Roles, most powerful first. What each may do is decided in ``gridpatrol.api.auth``.
ROLES = ("admin", "planner", "dispatcher", "patrol", "viewer")
API_TOKEN_PREFIX = "gpt_"
SESSION_PREFIX = "gps_"
LINK_PREFIX = "gpl_"
#: How long a browser session opened from a token lasts.
SESSION_HOURS = 12


class ApiTokenError(GridPatrolError):
    """An API token or session is unknown, expired or revoked (``reason`` says which)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's id, name, role and scope."""

    token_id: str
    name: str
    role: str
    scope: dict
    kind: str = "api"

    @property
    def label(self) -> str:
        return f"{self.name or self.role} ({self.token_id})"


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token (the only form stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- reads ---------------------------------------------------------------------------------


def api_token_record(row: Mapping[str, Any]) -> dict:
    """A stored API token as shown to admins: no hash."""

    def when(value) -> str | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()

    scope = row["scope"]
    return {
        "id": row["token_id"],
        "kind": row["kind"],
        "name": row["name"],
        "role": row["role"],
        "scope": json.loads(scope) if isinstance(scope, str) and scope else {},
        "created_at": when(row["created_at"]),
        "created_by": row["created_by"],
        "expires_at": when(row["expires_at"]),
        "revoked_at": when(row["revoked_at"]),
    }


def list_api_tokens(store: Store, *, kind: str = "api") -> list[dict]:
    """Every API token (or session), newest first, without secrets."""
    rows = store.read("api_tokens", where={"kind": kind})
    rows = rows.sort_values("created_at", ascending=False)
    return [api_token_record(row) for _, row in rows.iterrows()]


def resolve_api_token(store: Store, token: str, *, now: pd.Timestamp | None = None) -> Principal:
    """The principal of a valid API token or session.

    Raises
    ------
    ApiTokenError
        ``reason`` is unknown, expired or revoked.
    """
    rows = store.read("api_tokens", where={"token_hash": hash_token(token)})
    if rows.empty:
        raise ApiTokenError(
            "this token is not known: ask an admin for one (gridpatrol token create)",
            reason="unknown",
        )
    row = rows.iloc[0]
    now = now or pd.Timestamp.now(tz="UTC")
    if not pd.isna(row["revoked_at"]):
        raise ApiTokenError("this token was revoked: ask an admin for a new one", reason="revoked")
    if not pd.isna(row["expires_at"]) and row["expires_at"] <= now:
        raise ApiTokenError("this token or session expired: log in again", reason="expired")
    if row["kind"] == "link":
        raise ApiTokenError("a login link is not a token: open it in a browser", reason="unknown")
    if row["kind"] == "session" and row["parent_id"]:
        parent = store.read("api_tokens", where={"token_id": row["parent_id"]})
        if parent.empty or not pd.isna(parent["revoked_at"].iloc[0]):
            raise ApiTokenError("the token of this session was revoked", reason="revoked")
    return Principal(
        token_id=row["token_id"],
        name=row["name"],
        role=row["role"],
        scope=json.loads(row["scope"]) if row["scope"] else {},
        kind=row["kind"],
    )


# -- writes (one transaction each) ----------------------------------------------------------


def create_api_token(
    store: Store,
    *,
    role: str,
    name: str = "",
    scope: Mapping[str, Any] | None = None,
    actor: str = "cli",
) -> tuple[str, dict]:
    """A new API token for ``role``; returns the plain token (shown once) and its record.

    Raises
    ------
    SchemaError
        Unknown role, a scope that is not lists of codes.
    """
    with store.transaction():
        token, record = _insert(store, role=role, name=name, scope=scope, created_by=actor)
        record_audit(
            store,
            actor=actor,
            role="admin",
            action="token create",
            detail={"token_id": record["id"], "role": role, "name": name},
        )
    return token, record


def revoke_api_token(store: Store, token_id: str, *, actor: str = "cli") -> dict:
    """Revoke a token and the sessions it opened (again is harmless: the first time is kept).

    Raises
    ------
    NotFoundError
        No token has this id.
    """
    now = pd.Timestamp.now(tz="UTC")
    with store.transaction():
        store.lock("api_tokens", where={"token_id": token_id})
        rows = store.read("api_tokens", where={"token_id": token_id})
        if rows.empty:
            raise NotFoundError(f"no API token has the id {token_id!r}")
        if pd.isna(rows["revoked_at"].iloc[0]):
            store.update("api_tokens", where={"token_id": token_id}, values={"revoked_at": now})
            sessions = store.read("api_tokens", where={"parent_id": token_id})
            for sid in sessions["token_id"]:
                store.update("api_tokens", where={"token_id": sid}, values={"revoked_at": now})
        record = api_token_record(store.read("api_tokens", where={"token_id": token_id}).iloc[0])
        record_audit(
            store, actor=actor, role="admin", action="token revoke", detail={"token_id": token_id}
        )
    return record


def open_session(store: Store, token: str) -> tuple[str, Principal]:
    """A browser session (cookie secret) for a valid API token, expiring in SESSION_HOURS.

    Raises
    ------
    ApiTokenError
        The token is unknown, expired or revoked.
    """
    with store.transaction():
        return _session(store, resolve_api_token(store, token), how="login")


def open_session_from_link(store: Store, code: str) -> tuple[str, Principal]:
    """A browser session from a one-time login link, which is used up here.

    Raises
    ------
    ApiTokenError
        Unknown, used or expired link.
    """
    now = pd.Timestamp.now(tz="UTC")
    where = {"token_hash": hash_token(code), "kind": "link"}
    with store.transaction():
        # The lock makes two browsers racing for one link take turns: one gets in.
        store.lock("api_tokens", where=where)
        rows = store.read("api_tokens", where=where)
        if rows.empty:
            raise ApiTokenError("this login link is not known", reason="unknown")
        row = rows.iloc[0]
        if not pd.isna(row["revoked_at"]):
            raise ApiTokenError(
                "this login link was used already: ask for a new one", reason="revoked"
            )
        if not pd.isna(row["expires_at"]) and row["expires_at"] <= now:
            raise ApiTokenError("this login link expired: ask for a new one", reason="expired")
        store.update("api_tokens", where={"token_id": row["token_id"]}, values={"revoked_at": now})
        principal = Principal(
            token_id=row["parent_id"],
            name=row["name"],
            role=row["role"],
            scope=json.loads(row["scope"]) if row["scope"] else {},
        )
        return _session(store, principal, how="login link")


def create_login_link(store: Store, principal: Principal, *, minutes: int = 5) -> str:
    """A one-time login link code for ``principal`` (valid ``minutes``); shown once."""
    now = pd.Timestamp.now(tz="UTC")
    with store.transaction():
        code, _ = _insert(
            store,
            role=principal.role,
            name=principal.name,
            scope=principal.scope,
            kind="link",
            parent_id=principal.token_id,
            created_by=principal.label,
            expires_at=now + pd.Timedelta(minutes=minutes),
            now=now,
        )
    return code


def close_session(store: Store, secret: str) -> None:
    """End a browser session (unknown or ended sessions are ignored)."""
    with store.transaction():
        try:
            principal = resolve_api_token(store, secret)
        except ApiTokenError:
            return
        if principal.kind == "session":
            store.update(
                "api_tokens",
                where={"token_id": principal.token_id},
                values={"revoked_at": pd.Timestamp.now(tz="UTC")},
            )
            record_audit(store, actor=principal.label, role=principal.role, action="logout")


def create_token_at(url: str, *, role: str, name: str = "", actor: str = "cli") -> str:
    """Open the store at ``url`` and make a token there (CLI, demo, benches, tests)."""
    with open_store(url) as store:
        token, _ = create_api_token(store, role=role, name=name, actor=actor)
    return token


# -- helpers (called inside a transaction) --------------------------------------------------


def _session(store: Store, principal: Principal, *, how: str) -> tuple[str, Principal]:
    now = pd.Timestamp.now(tz="UTC")
    secret, _ = _insert(
        store,
        role=principal.role,
        name=principal.name,
        scope=principal.scope,
        kind="session",
        parent_id=principal.token_id,
        created_by=principal.label,
        expires_at=now + pd.Timedelta(hours=SESSION_HOURS),
        now=now,
    )
    record_audit(store, actor=principal.label, role=principal.role, action=how)
    return secret, principal


def _insert(
    store: Store,
    *,
    role: str,
    name: str = "",
    scope: Mapping[str, Any] | None = None,
    kind: str = "api",
    parent_id: str = "",
    created_by: str = "",
    expires_at: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
) -> tuple[str, dict]:
    """Store a new API token, session or link; return the plain token, shown once."""
    if role not in ROLES:
        raise SchemaError(f"role {role!r} is unknown; choose one of {', '.join(ROLES)}")
    if kind not in ("api", "session", "link"):
        raise SchemaError(f"token kind {kind!r} must be api, session or link")
    scope = dict(scope or {})
    for key, values in scope.items():
        if key not in ("communities", "streets", "teams") or not (
            isinstance(values, list) and all(isinstance(v, str) and v for v in values)
        ):
            raise SchemaError(
                f"token scope {key!r}: use communities or streets (planner) or teams (patrol), "
                "each a list of codes"
            )
    now = now or pd.Timestamp.now(tz="UTC")
    prefix = {"session": SESSION_PREFIX, "link": LINK_PREFIX}.get(kind, API_TOKEN_PREFIX)
    token = prefix + secrets.token_urlsafe(32)
    record = {
        "token_id": secrets.token_hex(8),
        "token_hash": hash_token(token),
        "kind": kind,
        "name": name,
        "role": role,
        "scope": json.dumps(scope),
        "parent_id": parent_id,
        "created_at": now,
        "created_by": created_by,
        "expires_at": expires_at,
        "revoked_at": None,
    }
    store.write({"api_tokens": pd.DataFrame([record])}, mode="append", source="api token")
    return token, api_token_record(record)
