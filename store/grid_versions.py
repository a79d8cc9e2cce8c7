"""Grid layer versions: drafts saved with optimistic concurrency, activation, diffs.

A version is ``draft``, ``active`` or ``retired``. Each save of a draft names the
revision it was based on; if another planner saved first, the save fails with a
ConflictError (HTTP 409) and nothing is lost. Activating a version retires the active
one and re-assigns every incident, in one transaction.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gridpatrol.geo.crs import parse_crs, project
from gridpatrol.geo.errors import ConflictError, NotFoundError, SchemaError
from gridpatrol.geo.grids import GridDiff, diff_grids

from .base import Store
from .incidents import reassign_all


def list_versions(store: Store) -> pd.DataFrame:
    versions = store.read("grid_versions")
    counts = store.read("grids")["version"].value_counts() if store.count("grids") else pd.Series(dtype=int)
    versions["grids"] = versions["version"].map(counts).fillna(0).astype(int)
    return versions


def get_version(store: Store, version: int) -> pd.Series:
    found = store.read("grid_versions", where={"version": version})
    if found.empty:
        raise NotFoundError(f"no grid version {version}")
    return found.iloc[0]


def create_draft(
    store: Store,
    grids: gpd.GeoDataFrame | None = None,
    *,
    name: str = "",
    note: str = "",
    copy_of: int | None = None,
) -> int:
    """A new draft version, from ``grids`` or as a copy of version ``copy_of``."""
    if (grids is None) == (copy_of is None):
        raise SchemaError("give the draft's grids, or the version to copy")
    with store.transaction():
        existing = store.read("grid_versions")
        number = int(existing["version"].max()) + 1 if len(existing) else 1
        if copy_of is not None:
            get_version(store, copy_of)
            grids = store.read("grids", where={"version": copy_of})
        grids = grids.assign(version=number)
        store.write(
            {
                "grid_versions": pd.DataFrame(
                    {"version": [number], "name": [name], "status": ["draft"], "revision": [1],
                     "created_at": [pd.Timestamp.now(tz="UTC")], "note": [note]}
                ),
                "grids": grids,
            },
            mode="append",
            source=f"draft version {number}",
        )
    return number


def save_draft(store: Store, version: int, grids: gpd.GeoDataFrame, *, base_revision: int) -> int:
    """Replace a draft's grids; ``base_revision`` is the revision the edit started from.

    Returns the new revision.

    Raises
    ------
    ConflictError
        Someone saved this draft since ``base_revision``, or it is no longer a draft.
    """
    with store.transaction():
        current = get_version(store, version)
        # Compare-and-set: only one of two concurrent saves can move the revision on.
        bumped = store.update(
            "grid_versions",
            where={"version": version, "revision": base_revision, "status": "draft"},
            values={"revision": base_revision + 1},
        )
        if bumped == 0:
            if current["status"] != "draft":
                raise ConflictError(f"version {version} is {current['status']}, not a draft: copy it")
            raise ConflictError(
                f"version {version} was saved by someone else (now revision "
                f"{int(current['revision'])}, your edit started from {base_revision}): reload "
                "it and apply your change again"
            )
        store.write(
            {"grids": grids.assign(version=version)},
            mode="replace",
            replace_where={"grids": {"version": version}},
            source=f"draft version {version}",
        )
    return base_revision + 1


def activate(store: Store, version: int) -> dict[str, int]:
    """Make ``version`` the active grid layer and re-assign every incident to it."""
    with store.transaction():
        v = get_version(store, version)
        if v["status"] == "active":
            return {"moved": 0, "unchanged": store.count("incidents"), "unassigned": 0}
        if store.count("grids", where={"version": version}) == 0:
            raise SchemaError(f"version {version} has no grids")
        store.update("grid_versions", where={"status": "active"}, values={"status": "retired"})
        store.update("grid_versions", where={"version": version}, values={"status": "active"})
        store.set_setting("active_grid_version", version)
        return reassign_all(store, version=version)


def diff_versions(store: Store, old: int, new: int) -> GridDiff:
    """Grids changed, buildings and households moving, incidents moving, old → new."""
    a = store.read("grids", where={"version": old})
    b = store.read("grids", where={"version": new})
    if a.empty or b.empty:
        raise NotFoundError(f"version {old if a.empty else new} has no grids")
    crs_name = store.get_setting("metric_crs")
    crs = parse_crs(crs_name) if crs_name else project(a).crs
    buildings = store.read("buildings")
    incidents = store.read("incidents")
    return diff_grids(
        a.to_crs(crs),
        b.to_crs(crs),
        buildings=buildings.to_crs(crs) if len(buildings) else None,
        incidents=incidents.to_crs(crs) if len(incidents) else None,
    )
