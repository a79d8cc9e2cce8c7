"""The dispatch loop: statuses, allowed actions, time limits, escalation, figures.

::

    reported ─assign→ assigned ─start→ in_progress ─resolve→ resolved ─verify→ verified
        └──────────────── reopen ←──────────────────────────────┘

Each category has two time limits (see the taxonomy): ``respond_minutes`` to take the
case in hand (status ``in_progress``) and ``close_hours`` to resolve it. When a limit
passes, the incident is escalated one level, grid → community → street → district, and
the deadline restarts at that level with the same limit. A case resolved while still at
grid level counts as "closed in the grid" (小事不出网格).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ConflictError, SchemaError
from .incidents import LEVEL_ORDER, Taxonomy

STATUSES = ("reported", "assigned", "in_progress", "resolved", "verified")
CLOSED = ("resolved", "verified")

#: action -> (statuses it may start from, status it leads to)
ACTIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "assign": (("reported", "assigned"), "assigned"),
    "start": (("reported", "assigned"), "in_progress"),
    # a case is resolved by whoever handles it: report -> assign -> start -> resolve
    "resolve": (("in_progress",), "resolved"),
    "verify": (("resolved",), "verified"),
    "reopen": (("resolved", "verified"), "assigned"),
    "escalate": (("reported", "assigned", "in_progress"), None),
    "comment": (STATUSES, None),
}


@dataclass(frozen=True)
class Transition:
    """The result of applying one action to one incident."""

    incident_id: str
    action: str
    from_status: str
    to_status: str
    level: str
    due_at: pd.Timestamp | None
    closed_at: pd.Timestamp | None
    closed_level: str


def next_level(level: str) -> str:
    """The level above ``level`` (district stays district)."""
    i = LEVEL_ORDER.index(level) if level in LEVEL_ORDER else 0
    return LEVEL_ORDER[min(i + 1, len(LEVEL_ORDER) - 1)]


def deadline(
    status: str, category: str, since: pd.Timestamp, taxonomy: Taxonomy
) -> pd.Timestamp | None:
    """When the current step of an incident in ``status`` is due."""
    cat = taxonomy.categories[category]
    if status in ("reported", "assigned"):
        return since + pd.Timedelta(minutes=cat.respond_minutes)
    if status == "in_progress":
        return since + pd.Timedelta(hours=cat.close_hours)
    return None


def apply_action(
    incident: pd.Series, action: str, *, at: pd.Timestamp, taxonomy: Taxonomy
) -> Transition:
    """Apply ``action`` to one incident row (status, level, category, reported_at).

    Raises
    ------
    SchemaError
        Unknown action.
    ConflictError
        The action is not allowed from the incident's status (e.g. verify before resolve).
    """
    if action not in ACTIONS:
        raise SchemaError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    allowed, target = ACTIONS[action]
    status = incident["status"]
    if status not in allowed:
        hint = ""
        if action == "resolve" and status in ("reported", "assigned"):
            hint = " (assign it, start handling it, then resolve)"
        raise ConflictError(
            f"incident {incident['incident_id']}: cannot {action} an incident that is {status}; "
            f"{action} needs status {' or '.join(allowed)}{hint}"
        )
    level = incident["level"]
    to_status = target or status
    due = incident.get("due_at")
    closed_at, closed_level = incident.get("closed_at"), incident.get("closed_level", "")
    if action == "escalate":
        level = next_level(level)
        due = deadline(status, incident["category"], at, taxonomy)
    elif action in ("assign", "start", "reopen"):
        due = deadline(to_status, incident["category"], at, taxonomy)
        if action == "reopen":
            closed_at, closed_level = None, ""
    elif action == "resolve":
        due, closed_at, closed_level = None, at, level
    return Transition(
        str(incident["incident_id"]),
        action,
        status,
        to_status,
        level,
        due,
        closed_at,
        closed_level or "",
    )


def overdue(incidents: pd.DataFrame, *, now: pd.Timestamp) -> pd.DataFrame:
    """Open incidents whose current deadline has passed (to be escalated)."""
    if incidents.empty:
        return incidents
    due = pd.to_datetime(incidents["due_at"], utc=True)
    open_ = ~incidents["status"].isin(CLOSED)
    return incidents[open_ & due.notna() & (due < now)]


def grid_figures(incidents: pd.DataFrame, *, taxonomy: Taxonomy) -> pd.DataFrame:
    """Per-grid figures offices are judged by.

    Returns
    -------
    DataFrame indexed by grid_code: incidents, closed, share_closed_in_grid (of closed
    ones, resolved at grid level), share_closed_on_time (resolved within the category's
    close limit of the report), median_hours_to_close.
    """
    if incidents.empty:
        return pd.DataFrame(
            columns=[
                "incidents",
                "closed",
                "share_closed_in_grid",
                "share_closed_on_time",
                "median_hours_to_close",
            ]
        )
    df = incidents.copy()
    df["closed_at"] = pd.to_datetime(df["closed_at"], utc=True)
    df["reported_at"] = pd.to_datetime(df["reported_at"], utc=True)
    hours = (df["closed_at"] - df["reported_at"]).dt.total_seconds() / 3600.0
    limit = df["category"].map({k: c.close_hours for k, c in taxonomy.categories.items()})
    df["is_closed"] = df["closed_at"].notna()
    df["in_grid"] = df["is_closed"] & (df["closed_level"] == "grid")
    df["on_time"] = df["is_closed"] & (hours <= limit)
    df["hours"] = hours
    g = df.groupby("grid_code")
    out = pd.DataFrame(
        {
            "incidents": g.size(),
            "closed": g["is_closed"].sum(),
            "in_grid": g["in_grid"].sum(),
            "on_time": g["on_time"].sum(),
            "median_hours_to_close": g["hours"].median(),
        }
    )
    closed = out["closed"].replace(0, np.nan)
    out["share_closed_in_grid"] = out.pop("in_grid") / closed
    out["share_closed_on_time"] = out.pop("on_time") / closed
    return out
