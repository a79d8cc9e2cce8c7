"""Liveness and store health."""

from __future__ import annotations

from fastapi import APIRouter

import gridpatrol
from gridpatrol.api.deps import StoreDep
from gridpatrol.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(store: StoreDep) -> Health:
    """The service is up and its store answers."""
    kind = "postgis" if store.url.startswith(("postgres", "postgis")) else "embedded"
    return Health(version=gridpatrol.__version__, store=kind, schema_version=store.schema_version)
