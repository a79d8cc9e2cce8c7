"""The project's settings, typed and read in one place.

A project keeps its settings as JSON values in the ``project`` layer (one row per key).
:func:`project_settings` reads them all in one query and returns a
:class:`ProjectSettings`; services and routers use its fields instead of reading keys
one by one with ad-hoc defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from gridpatrol.lazy import lazy_module
from gridpatrol.store.base import Store

# imported on first use, so the service answers before they load (gridpatrol.lazy)
geo_incidents = lazy_module("gridpatrol.geo.incidents")

#: Defaults of every key (what a project that never set it gets).
DEFAULTS: dict[str, Any] = {
    "name": "",
    "timezone": None,
    "active_grid_version": 1,
    "bounds": None,
    "metric_crs": None,
    "taxonomy": None,
    "household_band": [300, 500],
    "subgrid_household_band": [30, 150],
    "shift_minutes": None,
    "speed_kmh": 4.0,
    "dwell_minutes": 12.0,
}


@lru_cache(maxsize=1)
def default_taxonomy() -> geo_incidents.Taxonomy:
    """The taxonomy shipped with gridpatrol (``gridpatrol/data/categories.json``)."""
    text = resources.files("gridpatrol.data").joinpath("categories.json").read_text("utf-8")
    return geo_incidents.Taxonomy.from_dict(json.loads(text))


@dataclass(frozen=True)
class ProjectSettings:
    """Everything a project configures, with its defaults.

    Attributes
    ----------
    name
        Shown on pages.
    timezone
        IANA name of the project's local time, or None if never set (then report times
        must carry an offset, and :attr:`tz` is UTC).
    active_grid_version
        The grid version incidents are assigned to.
    bounds
        (min lon, min lat, max lon, max lat) of the served area, or None.
    metric_crs
        The project's metric CRS as text, or None (then the UTM zone of the data).
    taxonomy
        Incident categories and their time limits.
    household_band, subgrid_household_band
        Target households per grid and per sub-grid, (low, high).
    shift_minutes, speed_kmh, dwell_minutes
        Patrol shift defaults.
    """

    name: str = ""
    timezone: str | None = None
    active_grid_version: int = 1
    bounds: tuple[float, float, float, float] | None = None
    metric_crs: str | None = None
    taxonomy: geo_incidents.Taxonomy = field(default_factory=default_taxonomy)
    household_band: tuple[int, int] = (300, 500)
    subgrid_household_band: tuple[int, int] = (30, 150)
    shift_minutes: float | None = None
    speed_kmh: float = 4.0
    dwell_minutes: float = 12.0

    @property
    def tz(self) -> str:
        """The time zone for local hours and days (UTC when the project names none)."""
        return self.timezone or "UTC"

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> ProjectSettings:
        """Settings from raw JSON values (missing or null keys take their defaults)."""
        v = {k: (values[k] if values.get(k) is not None else d) for k, d in DEFAULTS.items()}
        return cls(
            name=str(v["name"]),
            timezone=v["timezone"],
            active_grid_version=int(v["active_grid_version"]),
            bounds=None if v["bounds"] is None else tuple(float(b) for b in v["bounds"]),
            metric_crs=v["metric_crs"],
            taxonomy=(
                geo_incidents.Taxonomy.from_dict(v["taxonomy"])
                if v["taxonomy"]
                else default_taxonomy()
            ),
            household_band=tuple(int(b) for b in v["household_band"]),
            subgrid_household_band=tuple(int(b) for b in v["subgrid_household_band"]),
            shift_minutes=None if v["shift_minutes"] is None else float(v["shift_minutes"]),
            speed_kmh=float(v["speed_kmh"]),
            dwell_minutes=float(v["dwell_minutes"]),
        )


def project_settings(store: Store) -> ProjectSettings:
    """Read every project setting of ``store`` at once."""
    df = store.read("project")
    values = {k: json.loads(v) for k, v in zip(df["key"], df["value"], strict=True)}
    return ProjectSettings.from_values(values)


def project_taxonomy(store: Store) -> geo_incidents.Taxonomy:
    """The project's taxonomy (setting ``taxonomy``) or the default one."""
    return project_settings(store).taxonomy


def active_version(store: Store) -> int:
    """The grid version incidents are assigned to."""
    return project_settings(store).active_grid_version


def set_active_version(store: Store, version: int) -> None:
    """Record the active grid version (call inside the activating transaction)."""
    store.set_setting("active_grid_version", int(version))


def update_project(
    store: Store,
    *,
    timezone: str | None = None,
    taxonomy: dict | None = None,
    name: str | None = None,
) -> ProjectSettings:
    """Check and store the given settings (None: leave as is), in one transaction.

    Raises
    ------
    SchemaError
        An unknown time zone or a taxonomy without categories; nothing is stored.
    """
    import zoneinfo

    from gridpatrol.geo.errors import SchemaError

    changes: dict[str, Any] = {}
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SchemaError(
                f"unknown time zone {timezone!r}; use an IANA name like Europe/Helsinki"
            ) from None
        changes["timezone"] = timezone
    if taxonomy is not None:
        try:
            parsed = geo_incidents.Taxonomy.from_dict(taxonomy)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(
                f"the taxonomy is not in the shape of data/categories.json ({exc!r:.200})"
            ) from None
        if not parsed.categories:
            raise SchemaError("the taxonomy has no categories")
        changes["taxonomy"] = parsed.to_dict()
    if name is not None:
        changes["name"] = name
    with store.transaction():
        for key, value in changes.items():
            store.set_setting(key, value)
    return project_settings(store)
