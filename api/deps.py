"""Dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


class StorePool:
    """Open stores kept between requests, one request at a time each.

    Opening the embedded store costs ~0.7 ms (a connection and its pragmas) and a
    PostGIS one a connection handshake: at a few hundred requests a second that was a
    large part of each request. A store is lent to one request at a time (SQLite and
    psycopg connections are not shared by concurrent callers) and comes back only if
    the request ended without an error and without an open transaction; anything else
    is closed, so a broken connection is never lent again.
    """

    def __init__(self, url: str, *, max_idle: int = 16) -> None:
        import threading

        self.url = url
        #: The embedded store: a file on this machine, no network round trip per query.
        self.local = not url.startswith(("postgresql://", "postgres://", "postgis://"))
        self.max_idle = max_idle
        self._idle: list[Store] = []
        self._lock = threading.Lock()

    def acquire(self) -> Store:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return open_store(self.url)

    def release(self, store: Store, *, reuse: bool = True) -> None:
        if reuse and not store.in_transaction:
            with self._lock:
                if len(self._idle) < self.max_idle:
                    self._idle.append(store)
                    return
        store.close()

    @contextmanager
    def borrow(self) -> Iterator[Store]:
        """``with pool.borrow() as store:`` a store for one block."""
        store = self.acquire()
        try:
            yield store
        except BaseException:
            self.release(store, reuse=False)
            raise
        self.release(store)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for store in idle:
            store.close()


def store_pool(request: Request) -> StorePool:
    """The app's :class:`StorePool` (made on first use)."""
    pool = getattr(request.app.state, "store_pool", None)
    if pool is None:
        pool = request.app.state.store_pool = StorePool(request.app.state.settings.database_url)
    return pool


def get_store(request: Request) -> Iterator[Store]:
    """A store for this request, from the app's pool (see :class:`StorePool`)."""
    with store_pool(request).borrow() as store:
        yield store


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
