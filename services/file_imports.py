"""One entry point for importing a file into a layer, as the CLI and API both do.

:func:`import_file` checks the file is safe to open (no VRT, no GDAL virtual paths, zip
members from the allow-list), then hands it to :func:`~.imports.import_layer_file` (grids,
areas, buildings, cameras) or the chunked incident ingest, and answers counts and notes.
Each import is one transaction: a bad file raises and stores nothing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gridpatrol.store.base import Store

LAYERS = ("grids", "areas", "buildings", "cameras", "incidents")


def count_naive_times(values) -> int:
    """Times given without a zone (ISO strings checked column-wise, others one by one)."""
    from gridpatrol.geo.incidents import zoned_times

    values = pd.Series(values)
    zoned = zoned_times(values.astype("string"), missing=True)
    rest = values[~zoned]
    if rest.empty:
        return 0
    # ISO strings column-wise (a file of naive times has a million), the rest one by one.
    try:
        iso = pd.to_datetime(rest.astype("string"), format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # e.g. zones the pattern missed mixed with naive times
        iso = pd.Series(pd.NaT, index=rest.index)
    unread = iso.isna().to_numpy()
    n = 0 if isinstance(iso.dtype, pd.DatetimeTZDtype) else int((~unread).sum())
    for v in rest[unread]:
        try:
            ts = pd.Timestamp(v)
        except (ValueError, TypeError):
            continue
        n += int(not pd.isna(ts) and ts.tzinfo is None)
    return n


def import_file(
    store: Store,
    layer: str,
    path,
    *,
    crs: str | None = None,
    code: str | None = None,
    name: str | None = None,
    id_columns: str | None = None,
    fields: dict[str, str] | None = None,
    where: dict[str, str] | None = None,
    defaults: dict | None = None,
    lon: str = "lon",
    lat: str = "lat",
    time: str = "reported_at",
    category: str = "category",
    tz: str | None = None,
    partial: bool = False,
    actor: str = "import",
) -> dict:
    """Import ``path`` into ``layer``; return ``{"layer", "written", "notes"}`` (incidents
    also ``"rejected"``: the skipped rows of a ``partial`` import).

    ``code``/``name`` name the code and name columns (grids, areas); ``id_columns`` is one
    column, several joined by commas, or ``@row``; ``fields`` maps model columns to file
    columns. For incidents, ``lon``/``lat``/``time``/``category`` name the columns and
    naive times are read in ``tz`` (default: the project's time zone).

    Raises
    ------
    InputFileError
        An unsafe or unreadable file, or a bad feature (nothing is stored).
    BatchRejected
        Incidents with bad rows when not ``partial`` (nothing is stored).
    """
    from gridpatrol.geo.errors import InputFileError
    from gridpatrol.store.files import check_safe_source

    if layer not in LAYERS:
        raise InputFileError(f"unknown layer {layer!r}: use one of {', '.join(LAYERS)}")
    path = Path(path)
    check_safe_source(path)
    columns = dict(fields or {})
    if code:
        columns["code"] = code
    if name:
        columns["name"] = name
    if layer != "incidents":
        from .imports import import_layer_file

        ids = [c.strip() for c in id_columns.split(",")] if id_columns else None
        written, notes = import_layer_file(
            store,
            layer,
            path,
            crs=crs,
            defaults=defaults,
            columns=columns,
            id_columns=ids,
            where=where,
        )
        return {"layer": layer, "written": written, "notes": notes}

    from .incidents import ingest_incident_chunks, iter_incident_table, project_settings

    chunks = iter_incident_table(
        path,
        lon=lon,
        lat=lat,
        time=time,
        category=category,
        id_column=id_columns or "incident_id",
        crs=crs,
        fields=columns,
    )
    notes: list[str] = []
    naive = 0

    def counted():
        nonlocal naive
        for chunk in chunks:  # bounded memory: one chunk in flight
            naive += count_naive_times(chunk["reported_at"])
            notes.extend(chunk.attrs.get("notes", []))
            yield chunk

    result = ingest_incident_chunks(
        store, counted(), partial=partial, actor=actor, default_tz=tz, keep_ids=False
    )
    zone = tz or project_settings(store).timezone
    if naive and zone:
        notes.append(f"{naive} time(s) without a time zone were read in {zone}")
    written = result.counts()
    rejected = [
        {"row": int(r["row"]), "incident_id": r["incident_id"], "reason": r["reason"]}
        for r in result.rejected
    ]
    return {"layer": layer, "written": written, "notes": notes, "rejected": rejected}
