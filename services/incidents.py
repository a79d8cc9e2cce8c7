"""Incident workflows over a store: ingest, assignment, re-assignment, dispatch actions.

Every change writes the incident and its history event in one transaction.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from gridpatrol.geo.assignment import GridIndex
from gridpatrol.geo.dispatch import apply_action, deadline, overdue
from gridpatrol.geo.errors import ConflictError, NotFoundError, SchemaError
from gridpatrol.geo.incidents import (
    PreparedIncidents,
    assign_incidents,
    prepare_incidents,
)
from gridpatrol.geo.model import validate_layer
from gridpatrol.store.base import Store

from .project import active_version, project_settings, project_taxonomy  # noqa: F401 (re-exported)

#: Fields whose change makes a re-submitted incident an update.
COMPARED = ("reported_at", "category", "description", "source", "reporter_role", "address")


class BatchRejected(SchemaError):
    """A batch had bad rows and was not stored (pass partial=true to store the good ones)."""

    def __init__(self, rejected: pd.DataFrame) -> None:
        self.rejected = rejected
        first = rejected.iloc[0]
        super().__init__(
            f"{len(rejected)} row(s) rejected, nothing stored; first: row {first['row']} "
            f"({first['incident_id']}): {first['reason']}. Fix them, or send partial=true to "
            "store the good rows"
        )


@dataclass
class IngestResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)
    snapped: list[str] = field(default_factory=list)


_INDEX_CACHE: dict[tuple, GridIndex] = {}


def grid_index(store: Store, version: int) -> tuple[GridIndex, gpd.GeoDataFrame]:
    """The assignment index of a grid version (cached per store, version and revision)."""
    grids = store.read("grids", where={"version": version})
    if grids.empty:
        raise NotFoundError(f"grid version {version} has no grids: import or propose grids first")
    metric = grids.to_crs(store.metric_crs(grids))
    meta = store.read("grid_versions", where={"version": version})
    revision = int(meta["revision"].iloc[0]) if len(meta) else 0
    key = (store.url, version, revision, len(grids), float(grids.total_bounds.sum()))
    if key not in _INDEX_CACHE:
        if len(_INDEX_CACHE) > 8:
            _INDEX_CACHE.clear()
        _INDEX_CACHE[key] = GridIndex.from_geodataframe(metric, code_column="code")
    return _INDEX_CACHE[key], grids


def _next_seq(store: Store, ids: list[str]) -> dict[str, int]:
    """The last history ``seq`` of each incident that has one (call inside the write)."""
    last: dict[str, int] = {}
    for iid, seq in store.keys("incident_events", where={"incident_id": list(ids)}):
        if seq > last.get(iid, 0):
            last[iid] = int(seq)
    return last


def _event(incident_id, seq, at, actor, action, from_status, to_status, detail=None) -> dict:
    return {
        "incident_id": incident_id,
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "detail": json.dumps(detail or {}, default=str),
    }


def ingest_incidents(
    store: Store,
    rows: pd.DataFrame,
    *,
    partial: bool = False,
    actor: str = "api",
    now: pd.Timestamp | None = None,
    snap_tolerance_m: float = 30.0,
    max_outside_km: float = 20.0,
    default_tz: str | None = None,
) -> IngestResult:
    """Validate, assign and store incident reports; re-submitted ids update, never duplicate.

    Validation and grid assignment depend only on the rows and the project's settings, so
    they run before the transaction. Inside it the batch is serialised against other
    batches, the rows it touches are locked, and new/updated/unchanged is decided on what
    is stored at that moment: two overlapping batches each report what they did (the
    second sees the first's rows as ``updated`` or ``unchanged``, never ``created``).

    Raises
    ------
    BatchRejected
        Some rows are bad and ``partial`` is False: nothing is stored.
    ConflictError
        The active grid version changed while the batch was being assigned: send it again.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    settings = project_settings(store)
    taxonomy = settings.taxonomy
    needs_address = "address" in rows and ("lon" not in rows or rows["lon"].isna().any())
    prepared: PreparedIncidents = prepare_incidents(
        rows,
        taxonomy=taxonomy,
        now=now,
        served_bounds=None if settings.bounds is None else list(settings.bounds),
        max_outside_km=max_outside_km,
        addresses=store.read("addresses") if needs_address else None,
        default_tz=default_tz or settings.timezone,
    )
    result = IngestResult(rejected=prepared.rejected.to_dict("records"))
    if not prepared.ok and not partial:
        raise BatchRejected(prepared.rejected)
    new = prepared.accepted
    if new.empty:
        return result
    version = settings.active_grid_version
    index, grids = grid_index(store, version)
    codes = assign_incidents(
        new, index, grids=grids, areas=store.read("areas"), snap_tolerance_m=snap_tolerance_m
    )
    for col in codes.columns:
        new[col] = codes[col].to_numpy()
    new["grid_version"] = version
    ids = new["incident_id"].tolist()
    with store.transaction():
        store.serialize("incidents:ingest")
        if active_version(store) != version:
            raise ConflictError(
                f"the active grid version changed to {active_version(store)} while this "
                "batch was assigned: send it again"
            )
        store.lock("incidents", where={"incident_id": ids})
        existing = store.read("incidents", where={"incident_id": ids}).set_index("incident_id")
        seqs = _next_seq(store, ids)
        out_rows, events = [], []
        for rec in new.to_dict("records"):
            iid = rec["incident_id"]
            if iid in existing.index:
                old = existing.loc[iid]
                changed = {
                    k: (str(old[k]), str(rec.get(k, old[k])))
                    for k in COMPARED
                    if k in rec and str(old[k]) != str(rec[k])
                }
                if not old.geometry.equals_exact(rec["geometry"], 1e-9):
                    changed["location"] = (old.geometry.wkt, rec["geometry"].wkt)
                if not changed:
                    result.unchanged.append(iid)
                    continue
                merged = old.to_dict()
                merged.update({k: v for k, v in rec.items() if k in COMPARED or k in codes.columns})
                merged.update(incident_id=iid, geometry=rec["geometry"], updated_at=now)
                out_rows.append(merged)
                result.updated.append(iid)
                events.append(
                    _event(
                        iid,
                        seqs.get(iid, 0) + 1,
                        now,
                        actor,
                        "update",
                        old["status"],
                        old["status"],
                        changed,
                    )
                )
            else:
                rec.update(
                    status="reported",
                    level="grid",
                    due_at=deadline("reported", rec["category"], rec["reported_at"], taxonomy),
                    reported_grid_code=rec["grid_code"],
                    reported_grid_version=version,
                    updated_at=now,
                )
                out_rows.append(rec)
                result.created.append(iid)
                events.append(
                    _event(
                        iid,
                        seqs.get(iid, 0) + 1,
                        now,
                        actor,
                        "report",
                        "",
                        "reported",
                        {"grid_code": rec["grid_code"], "assignment": rec["assignment"]},
                    )
                )
            if rec.get("assignment") == "unassigned":
                result.unassigned.append(iid)
            elif rec.get("assignment") == "snapped":
                result.snapped.append(iid)
        if out_rows:
            frame = gpd.GeoDataFrame(pd.DataFrame(out_rows), geometry="geometry", crs=new.crs)
            store.write(
                {"incidents": frame, "incident_events": pd.DataFrame(events)},
                mode="upsert",
                source="incident batch",
            )
    return result


def _transition(row: pd.Series, action: str, *, at, actor, note, taxonomy, seq):
    """The incident row after ``action`` and its history event (raises ConflictError)."""
    t = apply_action(row, action, at=at, taxonomy=taxonomy)
    updated = row.copy()
    updated["status"] = t.to_status
    updated["level"] = t.level
    updated["due_at"] = t.due_at
    updated["closed_at"] = t.closed_at
    updated["closed_level"] = t.closed_level
    updated["updated_at"] = at
    event = _event(
        row["incident_id"],
        seq,
        at,
        actor,
        action,
        t.from_status,
        t.to_status,
        {"level": t.level, "note": note},
    )
    return updated, event


def _incident_frame(rows: list[pd.Series], crs) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs)
    for col in ("due_at", "closed_at", "updated_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame.reset_index(drop=True)


def act(
    store: Store,
    incident_id: str,
    action: str,
    *,
    actor: str,
    note: str = "",
    at: pd.Timestamp | None = None,
) -> pd.Series:
    """Apply a dispatch action (assign, start, resolve, verify, reopen, escalate, comment).

    One transaction: lock the incident, read its current state, check the transition
    against it, write the row and the next history event. Concurrent actions on one
    incident queue; each is checked against the state left by the one before it.

    Raises
    ------
    NotFoundError
        No such incident.
    ConflictError
        The action is not allowed in the incident's current state (HTTP 409).
    """
    at = at or pd.Timestamp.now(tz="UTC")
    taxonomy = project_taxonomy(store)
    with store.transaction():
        store.lock("incidents", where={"incident_id": incident_id})
        found = store.read("incidents", where={"incident_id": incident_id})
        if found.empty:
            raise NotFoundError(f"no incident {incident_id!r}")
        seq = _next_seq(store, [incident_id]).get(incident_id, 0) + 1
        updated, event = _transition(
            found.iloc[0], action, at=at, actor=actor, note=note, taxonomy=taxonomy, seq=seq
        )
        frame = _incident_frame([updated], found.crs)
        store.write({"incidents": frame, "incident_events": pd.DataFrame([event])}, source=action)
    return frame.iloc[0]


#: Incidents escalated per transaction: small, so other writers wait at most one chunk.
ESCALATION_CHUNK = 25
#: Pause between chunks, in seconds: lets writers waiting for the store's lock in.
ESCALATION_PAUSE_S = 0.05
#: The columns an escalation changes.
_ESCALATED = ("status", "level", "due_at", "closed_at", "closed_level", "updated_at")


def _plain(value):
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def escalate_overdue(
    store: Store,
    *,
    now: pd.Timestamp | None = None,
    chunk: int = ESCALATION_CHUNK,
    pause_s: float = ESCALATION_PAUSE_S,
) -> list[str]:
    """Escalate every open incident past its deadline by one level; returns their ids.

    Overdue incidents and their last history ``seq`` are read in bulk, and every
    escalation is worked out and validated before any lock is taken. Then ``chunk``
    incidents at a time, each chunk in its own short transaction: lock them, and write
    the planned change of each one whose last ``seq`` is still the one planned on (every
    change to an incident adds a history event, so an unchanged ``seq`` means an
    unchanged incident). One changed meanwhile is re-read and re-decided inside the
    transaction. The write lock is held for milliseconds per chunk, and other writers
    get in between chunks. An incident at the top level already is skipped.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    taxonomy = project_taxonomy(store)
    late = overdue(store.read("incidents"), now=now)
    if late.empty:
        return []
    seqs = _next_seq(store, late["incident_id"].tolist())
    values, events = {}, []
    for _, row in late.iterrows():
        iid = row["incident_id"]
        try:
            updated, event = _transition(
                row,
                "escalate",
                at=now,
                actor="system",
                note="time limit passed",
                taxonomy=taxonomy,
                seq=seqs.get(iid, 0) + 1,
            )
        except ConflictError:  # nowhere higher to go
            continue
        values[iid] = {c: _plain(updated[c]) for c in _ESCALATED}
        events.append(event)
    if not events:
        return []
    planned = validate_layer(pd.DataFrame(events), "incident_events", source="escalation")
    order = list(values)
    done: list[str] = []
    for start in range(0, len(order), chunk):
        if start and pause_s:
            time.sleep(pause_s)
        part = order[start : start + chunk]
        with store.transaction():
            store.lock("incidents", where={"incident_id": part})
            current = _next_seq(store, part)
            same = [i for i in part if current.get(i, 0) == seqs.get(i, 0)]
            for iid in same:
                store.update("incidents", where={"incident_id": iid}, values=values[iid])
            if same:
                store.write(
                    {"incident_events": planned[planned["incident_id"].isin(same)]},
                    mode="append",
                    source="escalation",
                    prevalidated=True,
                )
            done += same
            for iid in part:
                if iid not in same and _escalate_one(store, iid, now=now, taxonomy=taxonomy):
                    done.append(iid)
    return done


def _escalate_one(store: Store, incident_id: str, *, now, taxonomy) -> bool:
    """Inside a transaction holding the incident: escalate it if it is still overdue."""
    found = overdue(store.read("incidents", where={"incident_id": incident_id}), now=now)
    if found.empty:
        return False
    seq = _next_seq(store, [incident_id]).get(incident_id, 0) + 1
    try:
        updated, event = _transition(
            found.iloc[0],
            "escalate",
            at=now,
            actor="system",
            note="time limit passed",
            taxonomy=taxonomy,
            seq=seq,
        )
    except ConflictError:
        return False
    store.write(
        {
            "incidents": _incident_frame([updated], found.crs),
            "incident_events": pd.DataFrame([event]),
        },
        source="escalation",
    )
    return True


def reassign_all(store: Store, *, version: int, actor: str = "system") -> dict[str, int]:
    """Re-assign every incident to grid ``version``; each keeps the grid it had when reported.

    Runs in one transaction (joining the caller's, e.g. :func:`activate`) holding every
    incident row. Returns counts of incidents that moved, stayed, and are unassigned.
    """
    with store.transaction():
        store.serialize("incidents:ingest")
        store.lock("incidents", where={})
        incidents = store.read("incidents")
        if incidents.empty:
            return {"moved": 0, "unchanged": 0, "unassigned": 0}
        index, grids = grid_index(store, version)
        codes = assign_incidents(incidents, index, grids=grids, areas=store.read("areas"))
        moved = codes["grid_code"].to_numpy() != incidents["grid_code"].to_numpy()
        now = pd.Timestamp.now(tz="UTC")
        seqs = _next_seq(store, incidents.loc[moved, "incident_id"].tolist())
        events = [
            _event(
                iid,
                seqs.get(iid, 0) + 1,
                now,
                actor,
                "reassign",
                st,
                st,
                {"from_grid": old, "to_grid": new, "version": version},
            )
            for iid, st, old, new in zip(
                incidents.loc[moved, "incident_id"],
                incidents.loc[moved, "status"],
                incidents.loc[moved, "grid_code"],
                codes.loc[moved, "grid_code"],
                strict=True,
            )
        ]
        updated = incidents.copy()
        for col in codes.columns:
            updated[col] = codes[col].to_numpy()
        updated["grid_version"] = version
        changes = {"incidents": updated}
        if events:
            changes["incident_events"] = pd.DataFrame(events)
        store.write(changes, source=f"re-assignment to version {version}")
    return {
        "moved": int(moved.sum()),
        "unchanged": int((~moved).sum()),
        "unassigned": int((codes["assignment"] == "unassigned").sum()),
    }


def get_incident(store: Store, incident_id: str) -> gpd.GeoDataFrame:
    """One incident as a one-row frame (NotFoundError if there is none)."""
    found = store.read("incidents", where={"incident_id": incident_id})
    if found.empty:
        raise NotFoundError(f"no incident {incident_id!r}")
    return found


def incident_history(store: Store, incident_id: str) -> pd.DataFrame:
    events = store.read("incident_events", where={"incident_id": incident_id})
    if events.empty and store.count("incidents", where={"incident_id": incident_id}) == 0:
        raise NotFoundError(f"no incident {incident_id!r}")
    return events.sort_values("seq").reset_index(drop=True)


def read_incident_table(
    path,
    *,
    lon: str = "lon",
    lat: str = "lat",
    time: str = "reported_at",
    category: str = "category",
    id_column: str = "incident_id",
    crs: str | None = None,
    fields: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Read incidents from CSV, GeoJSON or GeoParquet into ingest rows (lon/lat/crs columns).

    ``id_column`` may name several columns joined by commas (``"incident_id,category"``,
    for sources that repeat an id once per category) or ``"@row"`` to number the rows.
    ``fields`` maps other model columns to file columns (``{"description": "desc"}``).
    """
    from pathlib import Path

    from gridpatrol.geo.errors import InputFileError
    from gridpatrol.store.files import read_vector_file

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise InputFileError(f"{path}: cannot read it as CSV ({exc})") from exc
        from gridpatrol.store.files import LAT_NAMES, LON_NAMES, pick_column

        if lon == "lon" and "lon" not in df.columns:  # the default: look for x, lng...
            lon = pick_column(df.columns, None, LON_NAMES) or lon
        if lat == "lat" and "lat" not in df.columns:
            lat = pick_column(df.columns, None, LAT_NAMES) or lat
        missing = [c for c in (lon, lat) if c not in df.columns]
        if missing and "address" not in df.columns:
            raise InputFileError(
                f"{path}: no column(s) {', '.join(missing)}; name the coordinate columns "
                f"with --lon/--lat (found: {', '.join(df.columns)})"
            )
        df = df.rename(columns={lon: "lon", lat: "lat"})
        df["crs"] = crs or "wgs84"
    else:
        gdf = read_vector_file(
            path, crs=crs if crs and crs.lower() not in ("gcj02", "bd09") else None
        )
        df = pd.DataFrame(gdf.drop(columns="geometry"))
        pts = gdf.geometry
        if not (pts.geom_type == "Point").all():
            raise InputFileError(f"{path}: incidents must be points")
        df["lon"], df["lat"] = pts.x.to_numpy(), pts.y.to_numpy()
        df["crs"] = crs if crs and crs.lower() in ("gcj02", "bd09") else gdf.crs.to_string()
    from gridpatrol.store.files import make_ids, map_columns

    notes = []
    exact = df.drop(columns=["lon", "lat", "crs"], errors="ignore").duplicated()
    if exact.any():  # the same row twice is one report (exports that repeat rows)
        df = df[~exact.to_numpy()].reset_index(drop=True)
        notes.append(f"{path.name}: {int(exact.sum())} exact duplicate row(s) dropped")
    id_columns = [c.strip() for c in id_column.split(",") if c.strip()]
    if id_columns != ["incident_id"]:
        df["incident_id"] = make_ids(df, id_columns, source=str(path)).to_numpy()
    mapping = {"reported_at": time, "category": category, **(fields or {})}
    out = pd.DataFrame(map_columns(df, mapping, source=str(path)))
    out.attrs["notes"] = notes
    return out
