"""Grid layer versions: drafts saved with optimistic concurrency, activation, diffs.

A version is ``draft``, ``active`` or ``retired``. Each save of a draft names the
revision it was based on; if another planner saved first, the save fails with a
ConflictError (HTTP 409) and nothing is lost. Activating a version retires the active
one and re-assigns every incident, in one transaction.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from gridpatrol.geo.crs import WGS84, repair_after_reprojection, to_crs_valid
from gridpatrol.geo.errors import (
    ConfirmationRequired,
    ConflictError,
    NotFoundError,
    SchemaError,
)
from gridpatrol.geo.grids import GridDiff, diff_grids
from gridpatrol.geo.model import validate_layer
from gridpatrol.store.base import Store

from .incidents import reassign_all
from .project import active_version, project_settings, set_active_version


def list_versions(store: Store) -> pd.DataFrame:
    versions = store.read("grid_versions")
    counts = store.count_by("grids", ["version"]).set_index("version")["count"]
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
        store.serialize("grid_versions")  # the next number is decided here
        existing = store.read("grid_versions")
        number = int(existing["version"].max()) + 1 if len(existing) else 1
        if copy_of is not None:
            get_version(store, copy_of)
            grids = store.read("grids", where={"version": copy_of})
        grids = grids.assign(version=number)
        store.write(
            {
                "grid_versions": pd.DataFrame(
                    {
                        "version": [number],
                        "name": [name],
                        "status": ["draft"],
                        "revision": [1],
                        "created_at": [pd.Timestamp.now(tz="UTC")],
                        "note": [note],
                    }
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
                raise ConflictError(
                    f"version {version} is {current['status']}, not a draft: copy it"
                )
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


def activation_problems(store: Store, version: int) -> list[dict]:
    """The validation problems of ``version`` as JSON-ready dicts (kind, grids, message)."""
    grids = store.read("grids", where={"version": version})
    communities = store.read("areas", where={"level": "community"})
    if not set(grids["parent_code"]) & set(communities["code"]):
        return []  # grids imported without communities: no rules to check them against
    report = version_report(store, version, walk_tours=False)
    return [
        {"kind": p.kind, "grid_codes": list(p.grid_codes), "message": p.message}
        for p in report.problems
    ]


def activate(store: Store, version: int, *, confirm: bool = False) -> dict[str, int]:
    """Make ``version`` the active grid layer and re-assign every incident to it.

    Raises
    ------
    ConfirmationRequired
        The version has validation problems and ``confirm`` is False; the error lists
        them. Nothing changes.
    """
    with store.transaction():
        store.serialize("grid_versions")
        store.lock("grid_versions", where={})
        v = get_version(store, version)
        if v["status"] == "active":
            return {"moved": 0, "unchanged": store.count("incidents"), "unassigned": 0}
        if store.count("grids", where={"version": version}) == 0:
            raise SchemaError(f"version {version} has no grids")
        if not confirm:
            problems = activation_problems(store, version)
            if problems:
                listed = "; ".join(p["message"] for p in problems[:5])
                more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
                raise ConfirmationRequired(
                    f"version {version} has {len(problems)} validation problem(s): "
                    f"{listed}{more}. Fix them in the editor, or activate with "
                    "confirm=true (CLI: --confirm) to accept them",
                    problems,
                )
        store.update("grid_versions", where={"status": "active"}, values={"status": "retired"})
        store.update("grid_versions", where={"version": version}, values={"status": "active"})
        set_active_version(store, version)
        return reassign_all(store, version=version)


def diff_versions(store: Store, old: int, new: int) -> GridDiff:
    """Grids changed, buildings and households moving, incidents moving, old → new."""
    a = store.read("grids", where={"version": old})
    b = store.read("grids", where={"version": new})
    if a.empty or b.empty:
        raise NotFoundError(f"version {old if a.empty else new} has no grids")
    crs = store.metric_crs(a)
    buildings = store.read("buildings")
    incidents = store.read("incidents")
    return diff_grids(
        to_crs_valid(a, crs),
        to_crs_valid(b, crs),
        buildings=to_crs_valid(buildings, crs) if len(buildings) else None,
        incidents=to_crs_valid(incidents, crs) if len(incidents) else None,
    )


def report_for_grids(
    store: Store,
    grids: gpd.GeoDataFrame,
    *,
    walk_tours: bool = False,
    version: int | None = None,
):
    """The planner's validation report of ``grids`` (WGS84) against the project's layers.

    Grids are checked against their communities; sub-grids (``level == "subgrid"``), if
    any, against their grids, by the same rules, and their problems are added.

    Incidents are counted by the store (:meth:`Store.count_by`, per grid code) when
    ``grids`` are the stored grids of ``version`` and every incident is assigned to that
    version; otherwise (drafts being edited, versions not active, sub-grids) their
    coordinates are read and located here (see :class:`_IncidentCounts`). Both give the
    same counts: the assignment follows the report's rule (a point belongs to the
    lowest code covering it).

    ``walk_tours`` adds each grid's walk tour (seconds to minutes for a district): made
    once per grid version and kept (see :func:`walk_tours_of`).
    """
    from gridpatrol.geo.grid_report import validate_grids

    settings = project_settings(store)
    crs = store.metric_crs(grids)
    level = grids["level"] if "level" in grids else pd.Series("grid", index=grids.index)
    top, sub = grids[level != "subgrid"], grids[level == "subgrid"]
    communities = store.read("areas", where={"level": "community"})
    communities = communities[communities["code"].isin(set(top["parent_code"]))]
    outline_only = communities.empty and len(top) > 0
    if outline_only:
        # Grids imported without communities (police districts, a city's own layer): check
        # them against their own outline, so overlaps, slivers and balance still show.
        outline = top.assign(geometry=top.geometry.buffer(0)).dissolve(by="parent_code")
        communities = gpd.GeoDataFrame(
            {"code": outline.index.astype(str), "name": "", "level": "community"},
            geometry=outline.geometry.values,
            crs=top.crs,
        )
    buildings = store.read("buildings")
    streets = store.read("streets", where={"network": "walk"})
    streets = to_crs_valid(streets, crs) if len(streets) else None
    context = dict(
        buildings=to_crs_valid(buildings, crs) if len(buildings) else None,
        streets=streets,
        walk_tours=False,
    )
    counted = _IncidentCounts(store, crs, version=None if len(sub) else version)
    top_m = to_crs_valid(top, crs)
    report = validate_grids(
        top_m,
        communities=to_crs_valid(communities, crs),
        band=settings.household_band,
        incident_counts=counted.per_grid(top_m),
        **context,
    )
    tours = None
    if walk_tours and streets is not None:
        tours = walk_tours_of(store, grids, streets=streets, crs=crs, version=version)
        report = report.with_walk_tours(tours)
    if outline_only:
        report.summary["note"] = (
            "no communities: grids are checked against their own outline (import areas "
            "to check coverage)"
        )
    if len(sub):
        sub_m = to_crs_valid(sub, crs)
        sub_report = validate_grids(
            sub_m,
            parents=top_m,
            band=settings.subgrid_household_band,
            incident_counts=counted.per_grid(sub_m),
            **context,
        )
        if tours is not None:
            sub_report = sub_report.with_walk_tours(tours)
        report.problems.extend(sub_report.problems)
        report.metrics = pd.concat([report.metrics, sub_report.metrics])
        report.summary["subgrids"] = sub_report.summary
    return report


class _IncidentCounts:
    """Incidents per grid for the report, counted without loading them into a frame.

    When every incident is assigned to ``version`` (the report of the active version),
    the store's counts per ``grid_code`` are the answer: an assignment ``inside`` a grid
    follows the report's rule (the lowest code covering the point), and snapped or
    unassigned incidents are outside every grid, as the report counts them. Otherwise
    (drafts, retired versions, unsaved grids, sub-grids, which the assignment mixes with
    their grids) the points are read as bare coordinates and located here. Either way
    the first and last report times come from the store.
    """

    def __init__(self, store: Store, crs, *, version: int | None) -> None:
        self.store, self.crs = store, crs
        self.totals = store.count_by(
            "incidents", ["grid_version", "assignment", "grid_code"], time_column="reported_at"
        )
        self.assigned = version is not None and bool((self.totals["grid_version"] == version).all())
        self._points = None

    def per_grid(self, grids: gpd.GeoDataFrame) -> pd.DataFrame | None:
        """``incident_counts`` for validate_grids on ``grids`` (metric CRS); None: none."""
        from gridpatrol.geo.grid_report import count_incidents

        t = self.totals
        if t.empty:
            return None
        span = {"first": t["first"].min(), "last": t["last"].max()}
        if self.assigned:
            counts = t.assign(grid_code=t["grid_code"].where(t["assignment"] == "inside", ""))
            return counts[["grid_code", "count"]].assign(**span)
        if self._points is None:
            lonlat = self.store.coordinates("incidents")
            # coordinates, not a million point geometries: what to_crs would compute
            to_metric = Transformer.from_crs(WGS84, self.crs, always_xy=True)
            self._points = np.column_stack(to_metric.transform(lonlat[:, 0], lonlat[:, 1]))
        return count_incidents(grids, self._points, crs=self.crs).assign(**span)


#: Walk tours per (store, version, revisions of what they depend on): see walk_tours_of.
_TOUR_CACHE: dict[tuple, pd.DataFrame] = {}
#: The layers a version's walk tours depend on (project: the metric CRS setting).
_TOUR_SOURCES = ("grids", "streets", "project")


def walk_tours_of(
    store: Store,
    grids: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame,
    crs,
    version: int | None = None,
) -> pd.DataFrame:
    """The walk tour of every grid (:func:`~gridpatrol.geo.grid_report.walk_tour_table`).

    Kept per grid version and the revisions of the grids and streets (in memory, per
    process), so only the first report of a version with walk tours pays for them;
    unsaved grids (``version=None``) are computed each time.
    """
    from gridpatrol.geo.grid_report import walk_tour_table

    key = None
    if version is not None:
        key = (store.url, version, tuple(store.revisions(*_TOUR_SOURCES).values()))
        if key in _TOUR_CACHE:
            return _TOUR_CACHE[key]
    tours = walk_tour_table(to_crs_valid(grids, crs), streets=streets)
    if key is not None:
        if len(_TOUR_CACHE) > 16:
            _TOUR_CACHE.clear()
        _TOUR_CACHE[key] = tours
    return tours


def version_report(store: Store, version: int, *, walk_tours: bool = False):
    """The validation report of a stored version (see :func:`report_for_grids`)."""
    get_version(store, version)
    grids = store.read("grids", where={"version": version})
    if grids.empty:
        raise NotFoundError(f"version {version} has no grids")
    return report_for_grids(store, grids, walk_tours=walk_tours, version=version)


def compare_versions(store: Store, a: int, b: int):
    """Where two grid layers disagree (e.g. governance grids against police beats)."""
    from gridpatrol.geo.alignment import compare_layers

    ga = store.read("grids", where={"version": a})
    gb = store.read("grids", where={"version": b})
    if ga.empty or gb.empty:
        raise NotFoundError(f"version {a if ga.empty else b} has no grids")
    crs = store.metric_crs(ga)
    buildings = store.read("buildings")
    return compare_layers(
        to_crs_valid(ga, crs),
        to_crs_valid(gb, crs),
        buildings=to_crs_valid(buildings, crs) if len(buildings) else None,
        a_name=f"version {a}",
        b_name=f"version {b}",
    )


def align_versions(store: Store, a: int, b: int, *, name: str = "") -> tuple[int, object]:
    """A new draft of version ``a`` whose every grid lies within one grid of ``b``."""
    from gridpatrol.geo.alignment import propose_aligned

    ga = store.read("grids", where={"version": a})
    gb = store.read("grids", where={"version": b})
    if ga.empty or gb.empty:
        raise NotFoundError(f"version {a if ga.empty else b} has no grids")
    crs = store.metric_crs(ga)
    buildings = store.read("buildings")
    aligned = propose_aligned(
        to_crs_valid(ga, crs),
        to_crs_valid(gb, crs),
        buildings=to_crs_valid(buildings, crs) if len(buildings) else None,
    )
    keep = [
        c
        for c in ("code", "name", "level", "parent_code", "kind", "households", "geometry")
        if c in aligned
    ]
    draft = validate_layer(aligned[keep], "grids", source=f"version {a} aligned to {b}")
    report = report_for_grids(store, draft, walk_tours=False)  # before saving: see import_draft
    number = create_draft(
        store,
        draft,
        name=name or f"version {a} aligned to version {b}",
        note=f"retired codes: {', '.join(aligned.attrs.get('retired_codes', [])) or 'none'}",
    )
    return number, report


def export_gpkg(store: Store, version: int, path) -> int:
    """Write a version to GeoPackage (layer ``grids``) with its metrics as attributes,
    and its problems as a second layer, ready to open in QGIS."""
    report = version_report(store, version, walk_tours=True)  # a file for QGIS: everything
    grids = store.read("grids", where={"version": version}).set_index("code")
    metrics = report.metrics.drop(
        columns=[c for c in ("parent_code", "households") if c in report.metrics]
    )
    out = grids.join(metrics, how="left").reset_index()
    out.to_file(path, layer="grids", driver="GPKG")
    problems = report.problems_frame()
    if len(problems):
        problems = problems.to_crs(4326)
        for col in problems.columns:
            if problems[col].dtype == object and col != problems.geometry.name:
                problems[col] = problems[col].map(
                    lambda v: v if isinstance(v, str) or v is None else str(v)
                )
        problems.to_file(path, layer="problems", driver="GPKG")
    return len(out)


def import_draft(store: Store, path, *, name: str = "", crs=None) -> tuple[int, object]:
    """Read an edited GeoPackage (or any vector file) back as a new draft, with its report."""
    from gridpatrol.store.files import load_layer_file

    grids = load_layer_file(path, "grids", crs=crs, layer_name="grids")
    # Report first: a file the report refuses (422) must leave no draft behind.
    report = report_for_grids(store, grids)
    number = create_draft(store, grids, name=name or f"imported from {getattr(path, 'name', path)}")
    return number, report


def propose(
    store: Store,
    community_codes: list[str],
    *,
    band: tuple[float, float] = (300, 500),
    n_grids: int | None = None,
    seed: int = 0,
    alternatives: int = 1,
    weight: str | None = None,
    locked_codes: list[str] | None = None,
    save: bool = False,
    name: str = "",
) -> list[dict]:
    """Balanced grid proposals for communities; the best can be saved as a draft.

    ``locked_codes`` are grids of the active version the planner keeps as they are.
    ``weight`` balances on a workload instead of households: ``incidents`` adds each
    building's nearby incidents to its households.
    """
    from gridpatrol.geo.districting import GridProposer

    areas = store.read("areas", where={"level": "community"})
    communities = areas[areas["code"].isin(community_codes)]
    missing = set(community_codes) - set(communities["code"])
    if missing:
        raise NotFoundError(f"no community with code(s) {', '.join(sorted(missing))}")
    crs = store.metric_crs(communities)
    communities = to_crs_valid(communities, crs)
    buildings = to_crs_valid(store.read("buildings"), crs)
    buildings = buildings[buildings.intersects(communities.union_all())].reset_index(drop=True)
    streets = store.read("streets", where={"network": "walk"})
    locked = None
    if locked_codes:
        active = store.read("grids", where={"version": active_version(store)})
        locked = to_crs_valid(active[active["code"].isin(locked_codes)], crs)
    if weight == "incidents":
        incidents = store.read("incidents")
        load = buildings["households"].astype(float).to_numpy()
        if len(incidents):
            # each incident within 50 m counts as 10 households' worth of work
            near = to_crs_valid(incidents, crs).sjoin_nearest(
                buildings[["geometry"]], max_distance=50
            )
            counts = near["index_right"].value_counts()
            load = load + buildings.index.map(counts).fillna(0).to_numpy() * 10.0
        buildings = buildings.assign(workload=load)
        weight_col = "workload"
    elif weight in (None, "households"):
        weight_col = None
    else:
        raise SchemaError(f"weight must be households or incidents, not {weight!r}")
    proposer = GridProposer.from_geodataframes(
        communities,
        buildings,
        streets=to_crs_valid(streets, crs) if len(streets) else None,
        band=band,
        n_grids=n_grids,
        locked=locked,
        weight=weight_col,
    )
    proposals = proposer.solve(seed=seed, n_alternatives=alternatives)
    out = []
    for p in proposals:
        grids = p.grids.to_crs(4326)
        out.append({"rank": p.rank, "seed": p.seed, "metrics": p.metrics, "grids": grids})
    if save and proposals:
        # A proposal drawn without streets (Voronoi space cells) can leave a ring that
        # touches itself; make_valid keeps its area (the same repair reprojection uses).
        best = repair_after_reprojection(proposals[0].grids.assign(level="grid", name=""))
        keep = ["code", "parent_code", "households", "level", "name", "geometry"]
        out[0]["version"] = create_draft(
            store,
            best[[c for c in keep if c in best]],
            name=name or "proposal",
            note=f"seed {seed}, band {band[0]}-{band[1]}",
        )
    return out
