"""Token use cases: make, revoke and log in with API tokens, each in one transaction with
its audit entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from gridpatrol.store import tokens as tk
from gridpatrol.store.base import Store, open_store

#: How long a browser session opened from a token lasts.
SESSION_HOURS = 12


def create_api_token(
    store: Store,
    *,
    role: str,
    name: str = "",
    scope: Mapping[str, Any] | None = None,
    actor: str = "cli",
) -> tuple[str, dict]:
    """A new API token for ``role``; returns the plain token (shown once) and its record."""
    with store.transaction():
        token, record = tk.insert_api_token(
            store, role=role, name=name, scope=scope, created_by=actor
        )
        tk.record_audit(
            store,
            actor=actor,
            role="admin",
            action="token create",
            detail={"token_id": record["id"], "role": role, "name": name},
        )
    return token, record


def revoke_api_token(store: Store, token_id: str, *, actor: str = "cli") -> dict:
    """Revoke a token and its sessions."""
    with store.transaction():
        record = tk.revoke_api_token(store, token_id)
        tk.record_audit(
            store, actor=actor, role="admin", action="token revoke", detail={"token_id": token_id}
        )
    return record


def open_session(store: Store, token: str) -> tuple[str, tk.Principal]:
    """A browser session (cookie secret) for a valid API token, expiring in SESSION_HOURS.

    Raises
    ------
    ApiTokenError
        The token is unknown, expired or revoked.
    """
    return _session(store, tk.resolve_api_token(store, token), how="login")


def open_session_from_link(store: Store, code: str) -> tuple[str, tk.Principal]:
    """A browser session from a one-time login link (used up here)."""
    with store.transaction():
        principal = tk.redeem_link(store, code)
        return _session(store, principal, how="login link")


def create_login_link(store: Store, principal: tk.Principal, *, minutes: int = 5) -> str:
    """A one-time login link code for ``principal`` (valid ``minutes``); shown once."""
    now = pd.Timestamp.now(tz="UTC")
    with store.transaction():
        code, _ = tk.insert_api_token(
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


def _session(store: Store, principal: tk.Principal, *, how: str) -> tuple[str, tk.Principal]:
    now = pd.Timestamp.now(tz="UTC")
    with store.transaction():
        secret, _ = tk.insert_api_token(
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
        tk.record_audit(store, actor=principal.label, role=principal.role, action=how)
    return secret, principal


def close_session(store: Store, secret: str) -> None:
    """End a browser session (unknown or ended sessions are ignored)."""
    try:
        principal = tk.resolve_api_token(store, secret)
    except tk.ApiTokenError:
        return
    if principal.kind == "session":
        with store.transaction():
            store.update(
                "api_tokens",
                where={"token_id": principal.token_id},
                values={"revoked_at": pd.Timestamp.now(tz="UTC")},
            )
            tk.record_audit(store, actor=principal.label, role=principal.role, action="logout")


def create_token_at(url: str, *, role: str, name: str = "", actor: str = "cli") -> str:
    """Open the store at ``url`` and make a token there (CLI, demo, benches, tests)."""
    with open_store(url) as store:
        token, _ = create_api_token(store, role=role, name=name, actor=actor)
    return token
