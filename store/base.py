"""The store interface, shared by the embedded (SQLite file) and PostGIS back ends.

Like pygeoapi's providers: a small base class with named methods, and back ends loaded
lazily by :func:`open_store` so the embedded default never imports a database driver.

Every write goes through :meth:`Store.write`, which validates each layer against the
model (:func:`gridpatrol.geo.model.validate_layer`) before anything touches the
database, and applies all layers of one call in one transaction: a batch lands whole or
not at all.

Use cases (``gridpatrol.services``) group their reads and writes in one
:meth:`Store.transaction`, taking :meth:`Store.lock` (rows) or :meth:`Store.serialize`
(a name) before reading what they decide on. The embedded store's transaction holds
the file for writing from its start, so both are no-ops there; PostGIS takes row locks
(``SELECT ... FOR UPDATE``) and advisory locks. Locked past the timeout:
:class:`~gridpatrol.geo.errors.StoreBusyError`. The store decides nothing itself.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridpatrol.geo.crs import WGS84
from gridpatrol.geo.errors import SchemaError, StoreBusyError, StoreError
from gridpatrol.geo.model import LAYERS, Layer, empty_layer, get_layer, validate_layer

#: Version of the table layout this release writes. Opening a store with a higher
#: number fails; a lower one is migrated forward (see ``MIGRATIONS``).
SCHEMA_VERSION = 1

_CHUNK = 5000

WriteMode = Literal["append", "upsert", "replace"]
BBox = tuple[float, float, float, float]
TimeBucket = Literal["hour", "day", "month"]
#: The time slots :meth:`Store.count_by` groups by (UTC), with the length of their ISO prefix.
TIME_BUCKETS: dict[str, int] = {"hour": 13, "day": 10, "month": 7}
#: Indexes that let :meth:`Store.count_by` read an index instead of the table: the grid
#: report counts incidents per (grid_version, assignment, grid_code) with the first and
#: last report time, which this index holds in that order (a covering index, about a
#: sixth of the table; ~0.1 s for 1M incidents in SQLite instead of ~2 s for the table).
COUNT_INDEXES: dict[str, tuple[str, ...]] = {
    "incidents": ("grid_version", "assignment", "grid_code", "reported_at"),
}


class Store(ABC):
    """A project's layers, persisted.

    Layers are read and written as (Geo)DataFrames in WGS84 with the model's columns.
    """

    url: str

    # -- lifecycle --------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    @abstractmethod
    def schema_version(self) -> int:
        """The schema version recorded in the store."""

    # -- reading ----------------------------------------------------------------------
    def read(
        self,
        layer: str,
        *,
        bbox: BBox | None = None,
        where: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> gpd.GeoDataFrame | pd.DataFrame:
        """Read a layer.

        Parameters
        ----------
        layer
            Layer name (see :data:`gridpatrol.geo.model.LAYERS`).
        bbox
            (min lon, min lat, max lon, max lat): only features whose bounding box
            intersects it.
        where
            Equality filters on columns, e.g. ``{"version": 2}``; a list value means
            "any of" (one column at most).
        limit, offset
            Paging, in key order.
        """
        spec = get_layer(layer)
        self._check_where(spec, where)
        where = dict(where or {})
        lists = {
            k: list(v) for k, v in where.items() if isinstance(v, (list, tuple, set, np.ndarray))
        }
        if len(lists) > 1:
            raise SchemaError("only one column may be filtered by a list of values")
        if lists:
            # Long lists go in chunks: SQLite caps the parameters of one statement.
            ((col, values),) = lists.items()
            frames = []
            for i in range(0, len(values), _CHUNK):
                chunk = {**where, col: values[i : i + _CHUNK]}
                rows = self._select(spec, bbox=bbox, where=chunk, limit=None, offset=0)
                frames.append(self._frame(spec, rows))
            if not values:
                return empty_layer(spec)
            out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            if spec.spatial:
                out = gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)
            end = None if limit is None else offset + limit
            return out.iloc[offset:end].reset_index(drop=True)
        rows = self._select(spec, bbox=bbox, where=where, limit=limit, offset=offset)
        return self._frame(spec, rows)

    def keys(self, layer: str, *, where: Mapping[str, Any]) -> list[tuple]:
        """Keys of the rows matching ``where``, as tuples of plain values.

        Cheap (no frame is built): for checks inside a write transaction, e.g. which
        ids exist or the last history ``seq`` of each incident.
        """
        spec = get_layer(layer)
        self._check_where(spec, where)
        where = dict(where)
        lists = [k for k, v in where.items() if isinstance(v, (list, tuple, set, np.ndarray))]
        if len(lists) > 1:
            raise SchemaError("only one column may be filtered by a list of values")
        if not lists:
            return self._select_keys(spec, where)
        values = list(where[lists[0]])
        out: list[tuple] = []
        for i in range(0, len(values), _CHUNK):
            out += self._select_keys(spec, {**where, lists[0]: values[i : i + _CHUNK]})
        return out

    def count(
        self, layer: str, *, bbox: BBox | None = None, where: Mapping[str, Any] | None = None
    ) -> int:
        """Number of features that :meth:`read` would return without paging."""
        spec = get_layer(layer)
        self._check_where(spec, where)
        return self._count(spec, bbox=bbox, where=where or {})

    def count_by(
        self,
        layer: str,
        by: Sequence[str] = (),
        *,
        where: Mapping[str, Any] | None = None,
        bbox: BBox | None = None,
        time_column: str | None = None,
        time_bucket: TimeBucket | None = None,
    ) -> pd.DataFrame:
        """Features counted per group, by the database (``GROUP BY``): no feature is loaded.

        For reports and pages that need counts per grid, category or time slot, not
        the features: a million incidents are counted in the time it takes to read a
        few thousand.

        Parameters
        ----------
        layer
            Layer name.
        by
            Plain columns to group by (none: one row for the whole selection).
        where, bbox
            As in :meth:`read`.
        time_column
            A datetime column: adds ``first`` and ``last`` (its earliest and latest value
            in each group, NaT when it has none), and is the column ``time_bucket`` cuts.
        time_bucket
            ``"hour"``, ``"day"`` or ``"month"``: also group by the UTC start of the
            hour, day or month of ``time_column``, as a column of that name.

        Returns
        -------
        DataFrame with the ``by`` columns, the bucket column if asked, ``count`` (int)
        and ``first``/``last`` if ``time_column`` was given; one row per group present,
        in group order. Without ``by`` or a bucket there is always one row.
        """
        spec = get_layer(layer)
        by = list(by)
        self._check_where(spec, where)
        self._check_where(spec, dict.fromkeys(by))
        columns = {c.name: c for c in spec.columns}
        if time_column is not None and (
            time_column not in columns or columns[time_column].dtype != "datetime"
        ):
            raise SchemaError(f"layer {layer!r} has no datetime column {time_column!r}")
        if time_bucket is not None:
            if time_bucket not in TIME_BUCKETS:
                raise SchemaError(
                    f"time_bucket must be one of {', '.join(TIME_BUCKETS)}, not {time_bucket!r}"
                )
            if time_column is None:
                raise SchemaError("time_bucket needs time_column: the datetime column to cut")
            if time_bucket in by:
                raise SchemaError(f"group by {time_bucket!r} or bucket by it, not both")
        where = dict(where or {})
        lists = [k for k, v in where.items() if isinstance(v, (list, tuple, set, np.ndarray))]
        if len(lists) > 1:
            raise SchemaError("only one column may be filtered by a list of values")
        keys = by + ([time_bucket] if time_bucket else [])
        if lists:
            # Long lists go in chunks (SQLite caps parameters); groups met in several
            # chunks are added up here.
            values = list(where[lists[0]])
            parts = [
                self._count_by_frame(
                    spec,
                    by,
                    {**where, lists[0]: values[i : i + _CHUNK]},
                    bbox,
                    time_column,
                    time_bucket,
                )
                for i in range(0, max(len(values), 1), _CHUNK)
            ]
            out = pd.concat(parts, ignore_index=True)
            if keys and len(parts) > 1:
                agg = {"count": "sum"} | ({"first": "min", "last": "max"} if time_column else {})
                out = out.groupby(keys, sort=True, dropna=False).agg(agg).reset_index()
            elif not keys and len(parts) > 1:
                row = {"count": int(out["count"].sum())}
                if time_column:
                    row |= {"first": out["first"].min(), "last": out["last"].max()}
                out = pd.DataFrame([row])
            return out
        return self._count_by_frame(spec, by, where, bbox, time_column, time_bucket)

    def coordinates(self, layer: str, *, where: Mapping[str, Any] | None = None) -> np.ndarray:
        """(lon, lat) of each feature of a point layer, as an ``(n, 2)`` float array.

        For counts by location the store cannot make (points in grids not stored yet):
        the one thing they need, read without building a frame (about a fifth of the
        time :meth:`read` takes for a million incidents). ``where`` as in :meth:`read`
        (a list value up to 5,000 long).
        """
        spec = get_layer(layer)
        if tuple(spec.geometry_types) != ("Point",):
            raise SchemaError(f"layer {layer!r} is not a point layer: read() it")
        self._check_where(spec, where)
        return self._coordinates(spec, dict(where or {}))

    def _count_by_frame(self, spec, by, where, bbox, time_column, time_bucket) -> pd.DataFrame:
        """One ``GROUP BY`` query -> the frame :meth:`count_by` returns."""
        rows = self._count_by(
            spec, by=by, where=where, bbox=bbox, time_column=time_column, time_bucket=time_bucket
        )
        names = by + ([time_bucket] if time_bucket else []) + ["count"]
        names += ["first", "last"] if time_column else []
        out = pd.DataFrame.from_records(rows, columns=names)
        if not by and not time_bucket and out.empty:
            out = pd.DataFrame([[0] + [None, None] * bool(time_column)], columns=names)
        out["count"] = out["count"].astype("int64")
        columns = {c.name: c for c in spec.columns}
        for name in by:  # the same types read() gives
            dtype = columns[name].dtype
            if dtype == "int":
                out[name] = out[name].astype("int64")
            elif dtype == "bool":
                out[name] = out[name].astype(bool)
            elif dtype == "float":
                out[name] = out[name].astype("float64")
            elif dtype == "datetime":
                out[name] = pd.to_datetime(out[name], utc=True, format="ISO8601")
        if time_bucket:
            out[time_bucket] = pd.to_datetime(out[time_bucket], utc=True, format="ISO8601")
        if time_column:
            for name in ("first", "last"):
                out[name] = pd.to_datetime(out[name], utc=True, format="ISO8601")
        return out

    def tile(
        self,
        layer: str,
        z: int,
        x: int,
        y: int,
        *,
        columns: Mapping[str, tuple[str, ...]],
        where: Mapping[str, Any] | None = None,
        rounded: tuple[str, ...] = (),
        undirected: tuple[str, ...] = (),
        extent: int,
        buffer: int,
        tolerance: float,
        min_area: float,
        read_margin: float,
    ) -> bytes | None:
        """A Mapbox Vector Tile of ``layer`` cut by the database, or None when this
        store does not cut tiles (the caller encodes them in Python, as the embedded
        store's do).

        Parameters
        ----------
        layer
            Store layer; also the name of the one MVT layer in the tile.
        z, x, y
            The tile (XYZ, Web Mercator, y = 0 at the north).
        columns
            Each property -> the columns it is made of: one column is itself; several
            are joined by a space (an empty result is left out, as are empty strings
            and NaN).
        where
            Equality filters, as in :meth:`read`.
        rounded
            Properties rounded to whole numbers.
        undirected
            (u, v, more key columns...): rows that differ only in the direction of
            (u, v) are drawn once, the one first in key order.
        extent, buffer, tolerance, min_area
            As the Python encoder's (:func:`gridpatrol.maps.mvt.encode_tile`): tile
            units a side, kept around the tile, simplification, and the smallest
            polygon kept (square tile units).
        read_margin
            Rows whose bounding box meets the tile grown by this part of its side
            (at least ``buffer / extent``) are read: the Python path's box, so that
            ``undirected`` picks from the same rows.

        Returns
        -------
        The tile's bytes (``b""`` when it holds no feature), or None.
        """
        return None

    def layer_counts(self) -> dict[str, int]:
        """Features per layer."""
        return {name: self.count(name) for name in LAYERS}

    def get_setting(self, key: str, default: Any = None) -> Any:
        """A project setting (JSON value) stored in the ``project`` layer."""
        df = self.read("project", where={"key": key})
        return default if df.empty else json.loads(df["value"].iloc[0])

    def metric_crs(self, like: gpd.GeoDataFrame | None = None):
        """The project's metric CRS (setting ``metric_crs``), else the UTM zone of ``like``."""
        from gridpatrol.geo.crs import parse_crs, project

        name = self.get_setting("metric_crs")
        if name:
            return parse_crs(name)
        if like is None or len(like) == 0:
            like = self.read("buildings", limit=1000)
        if len(like) == 0:
            raise StoreError("the project has no metric CRS yet: import data first")
        return project(like).crs

    # -- writing ----------------------------------------------------------------------
    def write(
        self,
        changes: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
        *,
        mode: WriteMode = "upsert",
        replace_where: Mapping[str, Mapping[str, Any]] | None = None,
        source: str = "input",
        prevalidated: bool = False,
    ) -> dict[str, int]:
        """Validate and write several layers in one transaction.

        Parameters
        ----------
        changes
            Layer name -> features.
        mode
            ``"append"`` (a key already present is an error), ``"upsert"`` (insert or
            update by key) or ``"replace"`` (delete the layer's rows first, or only those
            matching ``replace_where[layer]``).
        source
            Names the input in error messages.
        prevalidated
            The frames came from :func:`~gridpatrol.geo.model.validate_layer` already
            (or are row subsets of such frames): skip validating them again, so a write
            transaction does not hold the lock while the work is repeated.

        Returns
        -------
        Rows written per layer.

        Raises
        ------
        SchemaError, InvalidGeometryError, CRSError
            Before anything is written.
        """
        validated = {
            name: df.reset_index(drop=True)
            if prevalidated
            else validate_layer(df, name, source=source)
            for name, df in changes.items()
        }
        for name, df in validated.items():
            spec = get_layer(name)
            dup = df.duplicated(subset=list(spec.key))
            if dup.any():
                pos = int(np.flatnonzero(dup.to_numpy())[0])
                key = {k: df[k].iloc[pos] for k in spec.key}
                raise SchemaError(f"{source}: layer {name!r} has the key {key} twice")
        with self.transaction():
            for name, df in validated.items():
                spec = get_layer(name)
                if mode == "replace":
                    self._delete(spec, (replace_where or {}).get(name, {}))
                self._insert(spec, self._rows(spec, df), upsert=mode == "upsert")
                self._bump_revision(name)
        return {name: len(df) for name, df in validated.items()}

    def set_setting(self, key: str, value: Any) -> None:
        """Store a project setting (any JSON value)."""
        self.write({"project": pd.DataFrame({"key": [key], "value": [json.dumps(value)]})})

    def update(self, layer: str, *, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        """Set plain (non-key, non-geometry) columns on the rows matching ``where``.

        Returns the number of rows changed; a compare-and-set (``where`` naming the value
        you expect) that returns 0 means someone else changed the row first.
        """
        spec = get_layer(layer)
        self._check_where(spec, where)
        self._check_where(spec, values)
        if set(values) & set(spec.key):
            raise SchemaError(f"update cannot change key columns {spec.key}")
        with self.transaction():
            self._bump_revision(layer)
            return self._update(spec, where, values)

    def delete(self, layer: str, *, where: Mapping[str, Any]) -> int:
        """Delete the rows of ``layer`` matching ``where`` (all rows for ``{}``)."""
        spec = get_layer(layer)
        self._check_where(spec, where)
        with self.transaction():
            self._bump_revision(layer)
            return self._delete(spec, where)

    def revisions(self, *layers: str) -> dict[str, int]:
        """How many write transactions changed each layer (0 if never), in one query.

        Caches key on these (tiles, reports): any write to a layer (``write``, ``update``,
        ``delete``) moves its number on, on every process sharing the store.
        """
        found = self._read_revisions()
        return {name: found.get(name, 0) for name in (layers or LAYERS)}

    def _bump_revision(self, layer: str) -> None:
        """Count one more change of ``layer`` (inside the open transaction)."""
        self._meta_increment(f"revision:{layer}")

    def _read_revisions(self) -> dict[str, int]:
        return {
            key.removeprefix("revision:"): int(value)
            for key, value in self._meta_prefixed("revision:")
        }

    def try_lease(self, name: str, *, holder: str, seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while another holds it.

        For work that must run once across processes (the escalation timer when
        ``gridpatrol serve --workers N`` runs several): each round, each process asks;
        the holder renews, the others skip, and if the holder dies another process
        takes over once ``seconds`` have passed.
        """
        import time

        key = f"lease:{name}"
        with self.transaction():
            self.serialize(key)
            found = dict(self._meta_prefixed(key)).get(key)
            now = time.time()
            if found:
                owner, _, until = found.rpartition("|")
                if owner != holder and float(until) > now:
                    return False
            self._meta_put(key, f"{holder}|{now + seconds}")
        return True

    def _meta_put(self, key: str, value: str) -> None:  # pragma: no cover - back ends
        raise NotImplementedError

    def _meta_increment(self, key: str) -> None:  # pragma: no cover - back ends override
        raise NotImplementedError

    def _meta_prefixed(self, prefix: str) -> list[tuple[str, str]]:  # pragma: no cover
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group reads and writes: all writes land, or none (nested calls join the outer one).

        A write use case reads what it decides on inside the transaction: on the embedded
        store the transaction holds the write lock from its start (``BEGIN IMMEDIATE``),
        on PostGIS take row locks with :meth:`lock` (or :meth:`serialize`) first.

        Raises
        ------
        StoreBusyError
            Other writers held the store past the lock timeout; nothing was written.
        """
        if getattr(self, "_tx_depth", 0):
            self._tx_depth += 1
            try:
                yield
            finally:
                self._tx_depth -= 1
            return
        self._tx_depth = 1
        try:
            try:
                self._begin()
            except Exception as exc:
                self._raise_busy(exc)
                raise
            try:
                yield
            except BaseException as exc:
                self._rollback()
                self._raise_busy(exc)
                raise
            else:
                try:
                    self._commit()
                except Exception as exc:
                    with suppress(Exception):
                        self._rollback()
                    self._raise_busy(exc)
                    raise
        finally:
            self._tx_depth = 0

    @property
    def in_transaction(self) -> bool:
        return bool(getattr(self, "_tx_depth", 0))

    def lock(self, layer: str, *, where: Mapping[str, Any]) -> None:
        """Hold the rows of ``layer`` matching ``where`` (all for ``{}``) until commit.

        Call it inside :meth:`transaction`, before reading the rows a decision rests on:
        a concurrent writer that locks the same rows waits until this transaction ends.
        """
        if not self.in_transaction:
            raise StoreError("lock() needs an open transaction: use `with store.transaction():`")
        spec = get_layer(layer)
        self._check_where(spec, where)
        self._lock_rows(spec, dict(where))

    def serialize(self, name: str) -> None:
        """Run this transaction after every other one that serialized on ``name``.

        For decisions about rows that do not exist yet (new ids of a batch, the next
        version number), which row locks cannot cover.
        """
        if not self.in_transaction:
            raise StoreError("serialize() needs an open transaction")
        self._lock_name(name)

    @abstractmethod
    def _lock_rows(self, spec: Layer, where: dict[str, Any]) -> None: ...

    @abstractmethod
    def _lock_name(self, name: str) -> None: ...

    def _raise_busy(self, exc: BaseException) -> None:
        """Raise :class:`StoreBusyError` from ``exc`` if it means "locked past timeout"."""
        if self._is_busy(exc):
            raise StoreBusyError(
                f"the store is busy with other writes ({exc}); nothing was changed: "
                "try again in a moment"
            ) from exc

    def _is_busy(self, exc: BaseException) -> bool:
        return False

    # -- back-end hooks ---------------------------------------------------------------
    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def _select(self, spec: Layer, *, bbox, where, limit, offset) -> list[tuple]: ...

    @abstractmethod
    def _count(self, spec: Layer, *, bbox, where) -> int: ...

    @abstractmethod
    def _select_keys(self, spec: Layer, where: Mapping[str, Any]) -> list[tuple]: ...

    @abstractmethod
    def _coordinates(self, spec: Layer, where: dict[str, Any]) -> np.ndarray:
        """(x, y) of each point matching ``where``, any order."""

    @abstractmethod
    def _count_by(
        self, spec: Layer, *, by: list[str], where, bbox, time_column, time_bucket
    ) -> list[tuple]:
        """Rows of (*by, [bucket start as ISO text or datetime], count, [min, max]),
        ordered by the group columns."""

    @abstractmethod
    def _insert(self, spec: Layer, rows: list[tuple], *, upsert: bool) -> None: ...

    @abstractmethod
    def _update(self, spec: Layer, where: Mapping[str, Any], values: Mapping[str, Any]) -> int: ...

    @abstractmethod
    def _delete(self, spec: Layer, where: Mapping[str, Any]) -> int: ...

    # -- shared helpers ---------------------------------------------------------------
    @staticmethod
    def _check_where(spec: Layer, where: Mapping[str, Any] | None) -> None:
        for col in where or {}:
            if col not in spec.column_names:
                raise SchemaError(f"layer {spec.name!r} has no column {col!r}")

    @staticmethod
    def _rows(spec: Layer, df: pd.DataFrame) -> list[tuple]:
        """Model frame -> tuples of plain Python values (geometry as WKB last)."""
        cols = []
        for column in spec.columns:
            s = df[column.name]
            if column.dtype == "datetime":
                cols.append(_iso_strings(s))
            elif column.dtype == "float":
                arr = s.to_numpy("float64")
                values = arr.astype(object)
                values[np.isnan(arr)] = None
                cols.append(values.tolist())
            elif column.dtype == "int":
                cols.append(s.astype("int64").tolist())
            elif column.dtype == "bool":
                cols.append(s.astype(bool).tolist())
            else:
                values = s.tolist()
                if pd.api.types.infer_dtype(values, skipna=False) != "string":
                    values = [None if v is None else str(v) for v in values]
                cols.append(values)
        if spec.spatial:
            cols.append(list(shapely.to_wkb(df.geometry.values)))
        return list(zip(*cols, strict=True)) if cols else []

    @staticmethod
    def _frame(spec: Layer, rows: list[tuple]) -> gpd.GeoDataFrame | pd.DataFrame:
        """Tuples from the database -> a model frame."""
        if not rows:
            return empty_layer(spec)
        names = spec.column_names + (["geometry"] if spec.spatial else [])
        df = pd.DataFrame.from_records(rows, columns=names)
        for column in spec.columns:
            if column.default is not None:
                # Rows written before a column existed read back with its default.
                df[column.name] = df[column.name].where(df[column.name].notna(), column.default)
            if column.dtype == "datetime":
                df[column.name] = pd.to_datetime(df[column.name], utc=True, format="ISO8601")
            elif column.dtype == "bool":
                df[column.name] = df[column.name].astype(bool)
            elif column.dtype == "float":
                df[column.name] = df[column.name].astype("float64")
            elif column.dtype == "int":
                df[column.name] = df[column.name].astype("int64")
        if not spec.spatial:
            return df
        geoms = shapely.from_wkb([bytes(g) for g in df.pop("geometry")])
        return gpd.GeoDataFrame(df, geometry=geoms, crs=WGS84)


def _iso_strings(s: pd.Series) -> list:
    """``Timestamp.isoformat()`` of each value (None for NaT), column-wise when possible."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) and str(s.dt.tz) == "UTC":
        ns = s.to_numpy("datetime64[ns]")
        nat = np.isnat(ns)
        if not (ns[~nat].astype("int64") % 1_000_000_000).any():
            text = np.char.add(np.datetime_as_string(ns, unit="s"), "+00:00").astype(object)
            text[nat] = None
            return text.tolist()
    codes, uniques = pd.factorize(s)  # a column of one repeated time (updated_at): once
    if len(uniques) * 4 < len(s):
        text = np.array([v.isoformat() for v in uniques] + [None], dtype=object)
        return text[codes].tolist()
    return [None if pd.isna(v) else v.isoformat() for v in s]


def open_store(url: str) -> Store:
    """Open (creating if needed) the store named by ``url``.

    Parameters
    ----------
    url
        ``sqlite:///path/to/project.db`` or a plain file path for the embedded store;
        ``postgresql://user@host:port/db`` for PostGIS (needs ``gridpatrol[postgis]``).
    """
    if url.startswith(("postgresql://", "postgres://", "postgis://")):
        try:
            from .postgis import PostGISStore  # lazy: psycopg is an optional extra
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise StoreError(
                "a PostGIS URL needs the driver: pip install 'gridpatrol[postgis]'"
            ) from exc
        return PostGISStore(url)
    from .embedded import EmbeddedStore

    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return EmbeddedStore(path)
