"""Dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from gridpatrol.geo.errors import SchemaError
from gridpatrol.services.project import ProjectSettings, project_settings
from gridpatrol.store.base import Store, open_store

from .settings import Settings


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_store(settings: SettingsDep) -> Iterator[Store]:
    """One store connection per request (SQLite and psycopg connections are not shared)."""
    store = open_store(settings.database_url)
    try:
        yield store
    finally:
        store.close()


StoreDep = Annotated[Store, Depends(get_store)]


def get_project(store: StoreDep) -> ProjectSettings:
    """The project's settings, read once per request."""
    return project_settings(store)


ProjectDep = Annotated[ProjectSettings, Depends(get_project)]

__all__ = ["PageDep", "ProjectDep", "SettingsDep", "Store", "StoreDep"]


@dataclass
class PageParams:
    """Query parameters for bbox filtering and paging."""

    bbox: tuple[float, float, float, float] | None
    limit: int
    offset: int


def page_params(
    settings: SettingsDep,
    bbox: Annotated[
        str | None,
        Query(
            description="min lon,min lat,max lon,max lat (WGS84)",
            examples=["24.93,60.16,24.96,60.17"],
        ),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="features per page")] = None,
    offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
) -> PageParams:
    box = None
    if bbox is not None:
        try:
            parts = [float(v) for v in bbox.split(",")]
        except ValueError:
            parts = []
        if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
            raise SchemaError(
                f"bbox {bbox!r} must be 'min lon,min lat,max lon,max lat' with min <= max"
            )
        if not (-180 <= parts[0] <= 180 and -90 <= parts[1] <= 90):
            raise SchemaError(f"bbox {bbox!r} is not longitude/latitude (WGS84)")
        box = tuple(parts)
    size = min(limit or settings.max_page_size, settings.max_page_size)
    return PageParams(bbox=box, limit=size, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]
