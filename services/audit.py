"""The audit log: who changed what, appended inside the change's own transaction."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from gridpatrol.lazy import lazy_module
from gridpatrol.store.base import Store

# imported on first use, so the service answers before they load (gridpatrol.lazy)
pd = lazy_module("pandas")


def record_audit(
    store: Store,
    *,
    actor: str,
    role: str,
    action: str,
    status: int = 0,
    detail: Mapping[str, Any] | None = None,
    now: pd.Timestamp | None = None,
) -> None:
    """Append one change to the audit log (joins the caller's transaction, if any)."""
    row = {
        "audit_id": secrets.token_hex(8),
        "at": now or pd.Timestamp.now(tz="UTC"),
        "actor": actor,
        "role": role,
        "action": action,
        "status": int(status),
        "detail": json.dumps(dict(detail or {}), default=str),
    }
    store.write({"audit_log": pd.DataFrame([row])}, mode="append", source="audit log")


def append_audit_rows(url: str, rows: list[dict]) -> None:
    """Append rows made by the API (``record_audit``'s columns) to the store at ``url``,
    in one transaction (the API's group commit of concurrent requests)."""
    from gridpatrol.store.base import open_store

    with open_store(url) as store:
        store.write({"audit_log": pd.DataFrame(rows)}, mode="append", source="audit log")


def read_audit(
    store: Store,
    *,
    actor: str | None = None,
    since: pd.Timestamp | None = None,
    limit: int = 1000,
) -> list[dict]:
    """Audit entries, newest first, optionally by one actor and since a time."""
    rows = store.read("audit_log", where={"actor": actor} if actor else None)
    if since is not None and len(rows):
        rows = rows[rows["at"] >= since]
    rows = rows.sort_values("at", ascending=False).head(limit)
    return [
        {
            "at": pd.Timestamp(r["at"]).isoformat(),
            "actor": r["actor"],
            "role": r["role"],
            "action": r["action"],
            "status": int(r["status"]),
            "detail": json.loads(r["detail"]) if r["detail"] else {},
        }
        for r in rows.to_dict("records")
    ]
