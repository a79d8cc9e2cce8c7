"""Incident tables from files (CSV, GeoJSON, GeoParquet) as ingest rows, whole or in chunks."""

from __future__ import annotations

import pandas as pd


def iter_incident_table(
    path,
    *,
    chunk_rows: int = 25_000,
    lon: str = "lon",
    lat: str = "lat",
    time: str = "reported_at",
    category: str = "category",
    id_column: str = "incident_id",
    crs: str | None = None,
    fields: dict[str, str] | None = None,
):
    """:func:`read_incident_table` in chunks of ``chunk_rows`` rows, for bounded memory.

    CSV is read chunk by chunk; other formats are read whole, then handed on in chunks.
    ``@row`` ids number the rows of the whole file.
    """
    from pathlib import Path

    from gridpatrol.geo.errors import InputFileError

    path = Path(path)
    names = dict(
        lon=lon, lat=lat, time=time, category=category, id_column=id_column, crs=crs, fields=fields
    )
    if path.suffix.lower() != ".csv":
        table = read_incident_table(path, **names)
        for i in range(0, max(len(table), 1), chunk_rows):
            yield table.iloc[i : i + chunk_rows].reset_index(drop=True)
        return
    offset = 0
    try:
        for chunk in _csv_chunks(path, chunk_rows):
            rows = _csv_rows(chunk.reset_index(drop=True), path, **names)
            if [c.strip() for c in id_column.split(",")] == ["@row"]:
                rows["incident_id"] = [f"row:{offset + i + 1}" for i in range(len(rows))]
            offset += len(chunk)
            yield rows
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputFileError(f"{path}: cannot read it as CSV ({exc})") from exc


def _csv_chunks(path, chunk_rows: int):
    """CSV rows as frames of strings (empty cells missing), about ``chunk_rows`` at a time.

    Arrow's streaming reader parses ~5x faster than pandas' chunked reader. Files it
    refuses (ragged rows, which pandas pads; repeated column names, which pandas renames)
    are read by pandas as before: from the start, skipping the rows already handed on.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    done = 0
    try:
        probe = pcsv.open_csv(path, read_options=pcsv.ReadOptions(use_threads=False))
        header = probe.schema.names
        probe.close()
        if len(set(header)) != len(header):
            raise pa.ArrowInvalid("repeated column names")
        # ~80 bytes a row in typical exports: blocks of about chunk_rows rows.
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(use_threads=False, block_size=max(chunk_rows, 1) * 80),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in header},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
        for batch in reader:
            if batch.num_rows:
                frame = batch.to_pandas()
                done += len(frame)
                yield frame
        return
    except pa.ArrowInvalid:
        pass  # pandas reads what Arrow refuses (or says why it cannot)
    left = done
    for chunk in pd.read_csv(
        path, dtype=str, keep_default_na=False, na_values=[""], chunksize=chunk_rows
    ):
        if left >= len(chunk):
            left -= len(chunk)
            continue
        yield chunk.iloc[left:]
        left = 0


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
        return _csv_rows(
            df,
            path,
            lon=lon,
            lat=lat,
            time=time,
            category=category,
            id_column=id_column,
            crs=crs,
            fields=fields,
        )
    gdf = read_vector_file(path, crs=crs if crs and crs.lower() not in ("gcj02", "bd09") else None)
    df = pd.DataFrame(gdf.drop(columns="geometry"))
    pts = gdf.geometry
    if not (pts.geom_type == "Point").all():
        raise InputFileError(f"{path}: incidents must be points")
    df["lon"], df["lat"] = pts.x.to_numpy(), pts.y.to_numpy()
    df["crs"] = crs if crs and crs.lower() in ("gcj02", "bd09") else gdf.crs.to_string()
    return _finish_rows(df, path, time=time, category=category, id_column=id_column, fields=fields)


def _csv_rows(df, path, *, lon, lat, time, category, id_column, crs, fields) -> pd.DataFrame:
    """CSV columns (strings) -> ingest rows: coordinates found and named, ids, fields."""
    from gridpatrol.geo.errors import InputFileError
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
    return _finish_rows(df, path, time=time, category=category, id_column=id_column, fields=fields)


def _finish_rows(df, path, *, time, category, id_column, fields) -> pd.DataFrame:
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
