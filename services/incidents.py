"""Incident workflows over a store: ingest, assignment, re-assignment, dispatch actions.

Every change writes the incident and its history event in one transaction.

Over 600 lines because ingest has two paths over one decision (a fresh bulk import reads
nothing back; an import into stored incidents decides created/updated/unchanged per id)
and the dispatch actions write the same history events; escalation is the next piece to
move out (to its own module) when this grows.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridpatrol.geo.dispatch import apply_action, overdue
from gridpatrol.geo.errors import ConflictError, NotFoundError, SchemaError
from gridpatrol.geo.incidents import (
    PreparedIncidents,
    assign_incidents,
    prepare_incidents,
)
from gridpatrol.geo.model import validate_layer
from gridpatrol.store.base import Store

from .grid_index import grid_index
from .incident_files import iter_incident_table, read_incident_table  # noqa: F401 (re-exported)
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


class ReportRejected(SchemaError):
    """One report (POST /api/incidents) was refused; the message is just its reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


#: The outcomes an ingest counts, as the fields of :class:`IngestResult`.
OUTCOMES = ("created", "updated", "unchanged", "rejected", "snapped", "unassigned")


@dataclass
class IngestResult:
    """Ids per outcome (``rejected``: row, incident_id and reason of each bad row).

    An import run with ``keep_ids=False`` keeps only counts of the ids (``uncounted``
    holds how many each list leaves out): a 1M-row import would otherwise hold ~100 MB
    of id strings that the CLI only counts. Use :meth:`counts` for the totals.
    """

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)
    snapped: list[str] = field(default_factory=list)
    uncounted: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Rows per outcome, whether or not their ids were kept."""
        return {n: len(getattr(self, n)) + self.uncounted.get(n, 0) for n in OUTCOMES}

    def add(self, part: IngestResult, *, keep_ids: bool = True) -> None:
        """Add the outcomes of ``part`` (rejected rows always; ids only if ``keep_ids``)."""
        self.rejected.extend(part.rejected)
        for name, n in part.counts().items():
            if name == "rejected":
                continue
            if keep_ids:
                getattr(self, name).extend(getattr(part, name))
                n -= len(getattr(part, name))
            if n:
                self.uncounted[name] = self.uncounted.get(name, 0) + n


class SeenIds:
    """The ids of the earlier chunks of one import, to reject an id repeated across chunks.

    Each id is kept as two independent 64-bit SipHash values (16 bytes, against ~100 for a
    set of strings: 16 MB at 1M ids), sorted, so a chunk is checked by binary search in
    time that does not grow with the rows before it. Two different ids agreeing on both
    hashes (a 128-bit collision, ~1e-27 at 1M ids) is the only way this can err.

    ``store_was_empty`` records that the store had no incidents or history when the
    import began: then every stored id is one of these, and a chunk needs no read-back.
    """

    _KEYS = ("gridpatrol:ids:1", "gridpatrol:ids:2")  # 16 bytes each, as SipHash needs

    def __init__(self, *, store_was_empty: bool = False) -> None:
        self.store_was_empty = store_was_empty
        self._h1 = np.empty(0, dtype="uint64")
        self._h2 = np.empty(0, dtype="uint64")

    def __len__(self) -> int:
        return len(self._h1)

    @classmethod
    def _hash(cls, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(  # type: ignore[return-value]
            pd.util.hash_array(ids, hash_key=key, categorize=False) for key in cls._KEYS
        )

    @staticmethod
    def _plain(ids) -> tuple[np.ndarray, np.ndarray]:
        s = pd.Series(ids).reset_index(drop=True)
        present = s.notna().to_numpy()
        return s[present].astype(str).to_numpy(dtype=object), present

    def contains(self, ids) -> np.ndarray:
        """Boolean array: which of ``ids`` an earlier chunk had (missing ids: False)."""
        values, present = self._plain(ids)
        out = np.zeros(len(present), dtype=bool)
        if not len(self._h1) or not len(values):
            return out
        h1, h2 = self._hash(values)
        lo = np.searchsorted(self._h1, h1, side="left")
        hi = np.searchsorted(self._h1, h1, side="right")
        hit = np.zeros(len(values), dtype=bool)
        for i in np.flatnonzero(hi > lo):  # equal first hashes: rare but for repeats
            hit[i] = bool((self._h2[lo[i] : hi[i]] == h2[i]).any())
        out[present] = hit
        return out

    def add(self, ids) -> None:
        values, _ = self._plain(ids)
        h1, h2 = self._hash(values)
        h1 = np.concatenate([self._h1, h1])
        h2 = np.concatenate([self._h2, h2])
        order = np.argsort(h1, kind="stable")  # merges the sorted run with the new one
        self._h1, self._h2 = h1[order], h2[order]


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
    seen: SeenIds | None = None,
    row_offset: int = 0,
    default_tz: str | None = None,
) -> IngestResult:
    """Validate, assign and store incident reports; re-submitted ids update, never duplicate.

    ``seen`` (ids stored by earlier chunks of one batch, rejected as duplicates) and
    ``row_offset`` (added to rejected row numbers) are for :func:`ingest_incident_chunks`.

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
    rows = rows.reset_index(drop=True)
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
    rejected = prepared.rejected
    if seen is not None:
        # An id already stored by an earlier chunk of the same file is a duplicate too.
        again = seen.contains(rows["incident_id"])
        again_rows = np.flatnonzero(again)
        if len(again_rows):
            extra = pd.DataFrame(
                {
                    "row": again_rows,
                    "incident_id": rows["incident_id"].iloc[again_rows].astype(object).to_numpy(),
                    "reason": "incident_id appears twice in this batch",
                }
            )
            rejected = (
                pd.concat([rejected, extra]).drop_duplicates("row").sort_values("row")
                if len(rejected)
                else extra
            )
            keep = ~prepared.accepted["incident_id"].isin(set(extra["incident_id"]))
            accepted = prepared.accepted[keep.to_numpy()].reset_index(drop=True)
            prepared = PreparedIncidents(accepted, rejected)
    if row_offset:
        rejected = rejected.assign(row=rejected["row"] + row_offset)
    result = IngestResult(rejected=rejected.to_dict("records"))
    if len(rejected) and not partial:
        raise BatchRejected(rejected)
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
        if seen is not None and seen.store_was_empty:
            # Every incident stored so far came from an earlier chunk of this import, so
            # its id is in `seen` and was rejected above: none of these exist yet, and
            # reading 50k ids back per chunk would be a third of the import's time.
            stored: set[str] = set()
            seqs: dict[str, int] = {}
        else:
            store.lock("incidents", where={"incident_id": ids})
            stored = {k[0] for k in store.keys("incidents", where={"incident_id": ids})}
            seqs = _next_seq(store, ids)
        old_ids = [i for i in ids if i in stored]
        existing = (
            store.read("incidents", where={"incident_id": old_ids}).set_index("incident_id")
            if old_ids
            else None
        )
        is_new = np.fromiter((i not in stored for i in ids), dtype=bool, count=len(ids))
        out_rows, events = [], []
        for rec in new[~is_new].to_dict("records"):
            iid = rec["incident_id"]
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
            seq = seqs.get(iid, 0) + 1
            status = old["status"]
            events.append(_event(iid, seq, now, actor, "update", status, status, changed))
            if rec.get("assignment") == "unassigned":
                result.unassigned.append(iid)
            elif rec.get("assignment") == "snapped":
                result.snapped.append(iid)
        frames, event_frames = [], []
        if out_rows:
            updated = gpd.GeoDataFrame(pd.DataFrame(out_rows), geometry="geometry", crs=new.crs)
            frames.append(updated)
            event_frames.append(pd.DataFrame(events))
        if is_new.any():
            # New reports, column-wise: at 1M rows a loop per row was most of the import.
            fresh = new[is_new].reset_index(drop=True)
            respond = {k: c.respond_minutes for k, c in taxonomy.categories.items()}
            minutes = fresh["category"].map(respond).astype("float64")
            fresh["status"] = "reported"
            fresh["level"] = "grid"
            fresh["due_at"] = fresh["reported_at"] + pd.to_timedelta(minutes, unit="min")
            fresh["reported_grid_code"] = fresh["grid_code"]
            fresh["reported_grid_version"] = version
            fresh["updated_at"] = now
            fids = fresh["incident_id"]
            detail_codes, detail_keys = pd.factorize(
                fresh["grid_code"].astype(str) + "\x00" + fresh["assignment"].astype(str)
            )
            details = np.array(
                [
                    json.dumps(dict(zip(("grid_code", "assignment"), k.split("\x00"), strict=True)))
                    for k in detail_keys
                ],
                dtype=object,
            )
            event_frames.append(
                pd.DataFrame(
                    {
                        "incident_id": fids.to_numpy(),
                        "seq": fids.map(seqs).fillna(0).astype("int64").to_numpy() + 1,
                        "at": now,
                        "actor": actor,
                        "action": "report",
                        "from_status": "",
                        "to_status": "reported",
                        "detail": details[detail_codes],
                    }
                )
            )
            frames.append(fresh)
            result.created.extend(fids.tolist())
            state = fresh["assignment"].to_numpy()
            result.unassigned.extend(fids[state == "unassigned"].tolist())
            result.snapped.extend(fids[state == "snapped"].tolist())
        if frames:
            frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=new.crs)
            store.write(
                {"incidents": frame, "incident_events": pd.concat(event_frames, ignore_index=True)},
                mode="upsert",
                source="incident batch",
            )
    return result


def ingest_incident_chunks(
    store: Store,
    chunks,
    *,
    partial: bool = False,
    actor: str = "import",
    now: pd.Timestamp | None = None,
    default_tz: str | None = None,
    keep_ids: bool = True,
) -> IngestResult:
    """Ingest a batch given as a sequence of row chunks, with bounded memory.

    The batch lands whole (one transaction) or, unless ``partial``, not at all; rejected
    rows are numbered from the start of the batch, and an id repeated across chunks is
    rejected like one repeated within a chunk. With ``keep_ids=False`` the result counts
    created/updated/... rows without listing their ids (see :meth:`IngestResult.counts`).

    Raises
    ------
    BatchRejected
        With the bad rows of every chunk, when some are bad and ``partial`` is False.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    total = IngestResult()
    bad: list[pd.DataFrame] = []
    with store.transaction():
        # Serialized before looking: no other batch can add incidents until we commit.
        store.serialize("incidents:ingest")
        empty = (
            store.read("incidents", limit=1).empty and store.read("incident_events", limit=1).empty
        )
        seen = SeenIds(store_was_empty=empty)
        with store.bulk_load("incidents") if empty else contextlib.nullcontext():
            _ingest_chunks(
                store,
                chunks,
                seen,
                total,
                bad,
                partial=partial,
                actor=actor,
                now=now,
                default_tz=default_tz,
                keep_ids=keep_ids,
            )
        if bad:
            raise BatchRejected(pd.concat(bad, ignore_index=True))
    return total


def _ingest_chunks(store, chunks, seen, total, bad, *, partial, actor, now, default_tz, keep_ids):
    """The loop of :func:`ingest_incident_chunks` (inside its transaction)."""
    offset = 0
    for chunk in chunks:
        if bad:  # already failing: only validate, to list every bad row at once
            prepared = prepare_incidents(
                chunk.reset_index(drop=True),
                taxonomy=project_taxonomy(store),
                now=now,
                served_bounds=store.get_setting("bounds"),
                addresses=store.read("addresses") if "address" in chunk else None,
                default_tz=default_tz or store.get_setting("timezone"),
            )
            rejected = prepared.rejected
            again = np.flatnonzero(seen.contains(chunk["incident_id"]))
            if len(again):
                extra = pd.DataFrame(
                    {
                        "row": again,
                        "incident_id": chunk["incident_id"].iloc[again].astype(object).to_numpy(),
                        "reason": "incident_id appears twice in this batch",
                    }
                )
                rejected = pd.concat([rejected, extra]).drop_duplicates("row").sort_values("row")
            bad.append(rejected.assign(row=rejected["row"] + offset))
            seen.add(chunk["incident_id"])
            offset += len(chunk)
            continue
        try:
            part = ingest_incidents(
                store,
                chunk,
                partial=partial,
                actor=actor,
                now=now,
                seen=seen,
                row_offset=offset,
                default_tz=default_tz,
            )
        except BatchRejected as exc:
            bad.append(exc.rejected)
            seen.add(chunk["incident_id"])
            offset += len(chunk)
            continue
        seen.add(chunk["incident_id"])
        total.add(part, keep_ids=keep_ids)
        offset += len(chunk)


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
ESCALATION_CHUNK = 10
#: Pause between chunks, in seconds: lets writers waiting for the store's lock in.
ESCALATION_PAUSE_S = 0.02
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
