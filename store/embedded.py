"""The embedded store: one SQLite file, no server, nothing beyond the standard library.

Geometries are stored as WKB in WGS84 with an R*Tree index on their bounding boxes.
Limits: one writer at a time (SQLite locks the file; fine for one planner or the demo,
use PostGIS for an office), and bounding-box filters are exact only to the box.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely

from gridpatrol.geo.errors import ConflictError, StoreError
from gridpatrol.geo.model import LAYERS, Layer

from .base import COUNT_INDEXES, SCHEMA_VERSION, TIME_BUCKETS, Store

_SQL_TYPES = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "INTEGER",
    "datetime": "TEXT",
    "json": "TEXT",
}

# Migrations from version n-1 to n, as SQL run in order. New columns of existing layers
# are added by _sync_columns; these are for changes that need more than that.
MIGRATIONS: dict[int, list[str]] = {}

#: Stores whose schema this process has checked -> the layers it created there.
_READY: dict[tuple[str, int], set[str]] = {}

#: How long a write waits for another writer's transaction before StoreBusyError.
BUSY_TIMEOUT_S = 10.0

_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: str) -> threading.Lock:
    """The in-process writer lock of one database file."""
    key = os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


#: What follows a time slot's ISO prefix to make it the slot's start (see count_by).
_BUCKET_SUFFIX = {"hour": ":00:00+00:00", "day": "T00:00:00+00:00", "month": "-01T00:00:00+00:00"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _points_only(spec: Layer) -> bool:
    return spec.spatial and tuple(spec.geometry_types) == ("Point",)


class EmbeddedStore(Store):
    """A project in one SQLite file (the default)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self.url = f"sqlite:///{self.path}"
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise StoreError(f"cannot create the store {self.path}: folder {parent} is missing")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves so one call = one tx.
            self._con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._con.execute("PRAGMA foreign_keys=ON")
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # 64 MB page cache (default 2 MB): bulk inserts into 1M-row indexes stay in memory.
            self._con.execute("PRAGMA cache_size=-65536")
            # The schema is checked once per file per process: the API opens the store on
            # every request, and re-running the DDL would serialise requests.
            ident = (os.path.abspath(self.path), os.stat(self.path).st_ino)
            if ident in _READY:
                self._known = set(_READY[ident])  # a layer registered since: _ensure
                self._check_version()
            else:
                self._init_schema()
                _READY[ident] = self._known
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a gridpatrol store ({exc})") from exc

    # -- schema -----------------------------------------------------------------------
    def _init_schema(self) -> None:
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS gridpatrol_meta (key TEXT PRIMARY KEY, value TEXT)"
            )
            row = con.execute(
                "SELECT value FROM gridpatrol_meta WHERE key='schema_version'"
            ).fetchone()
            version = int(row[0]) if row else SCHEMA_VERSION
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this release "
                    f"understands ({SCHEMA_VERSION}): upgrade gridpatrol"
                )
            for spec in LAYERS.values():
                self._create_table(spec)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS.get(target, []):
                    con.execute(sql)
            con.execute(
                "INSERT OR REPLACE INTO gridpatrol_meta VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._known = set(LAYERS)

    def _check_version(self) -> None:
        row = self._con.execute(
            "SELECT value FROM gridpatrol_meta WHERE key='schema_version'"
        ).fetchone()
        if row is None or int(row[0]) != SCHEMA_VERSION:
            _READY.clear()  # changed under us: run the full check again
            self._init_schema()

    def _create_table(self, spec: Layer) -> None:
        cols = [f"{_q(c.name)} {_SQL_TYPES[c.dtype]}" for c in spec.columns]
        if spec.spatial:
            cols += ["geom BLOB NOT NULL", "minx REAL", "miny REAL", "maxx REAL", "maxy REAL"]
        key = ", ".join(_q(k) for k in spec.key)
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {_q(spec.name)} (fid INTEGER PRIMARY KEY, "
            f"{', '.join(cols)}, UNIQUE ({key}))"
        )
        existing = {r[1] for r in self._con.execute(f"PRAGMA table_info({_q(spec.name)})")}
        for c in spec.columns:
            if c.name not in existing:  # a column added by a later release
                self._con.execute(
                    f"ALTER TABLE {_q(spec.name)} ADD COLUMN {_q(c.name)} {_SQL_TYPES[c.dtype]}"
                )
        self._create_count_index(spec)
        if _points_only(spec):
            # Points: a B-tree on (minx, miny) answers box queries about as fast, and
            # takes inserts 3x faster than an R*Tree (which has no bulk load), which is
            # what a 1M-row incident import spends its time on. Stores made before this
            # change drop their R*Tree here (an index only; no data changes).
            for event in ("insert", "update", "delete"):
                self._con.execute(f"DROP TRIGGER IF EXISTS {_q(f'{spec.name}_rtree_{event}')}")
            self._con.execute(f"DROP TABLE IF EXISTS {_q('rtree_' + spec.name)}")
            self._con.execute(
                f"CREATE INDEX IF NOT EXISTS {_q(spec.name + '_xy')} "
                f"ON {_q(spec.name)} (minx, miny)"
            )
        elif spec.spatial:
            self._con.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {_q('rtree_' + spec.name)} "
                "USING rtree(fid, minx, maxx, miny, maxy)"
            )
            t, r = _q(spec.name), _q("rtree_" + spec.name)
            # One statement per execute: executescript() would commit the open transaction.
            for event, body in (
                (
                    "INSERT",
                    f"INSERT INTO {r} VALUES (new.fid, new.minx, new.maxx, new.miny, new.maxy)",
                ),
                (
                    "UPDATE",
                    f"DELETE FROM {r} WHERE fid = old.fid; INSERT INTO {r} VALUES "
                    "(new.fid, new.minx, new.maxx, new.miny, new.maxy)",
                ),
                ("DELETE", f"DELETE FROM {r} WHERE fid = old.fid"),
            ):
                trigger = _q(f"{spec.name}_rtree_{event.lower()}")
                self._con.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {trigger} AFTER {event} ON {t} BEGIN {body}; END"
                )

    def _create_count_index(self, spec: Layer) -> None:
        """The covering index :meth:`count_by` reads instead of the table, if any."""
        columns = COUNT_INDEXES.get(spec.name)
        if columns:
            self._con.execute(
                f"CREATE INDEX IF NOT EXISTS {_q(spec.name + '_counts')} ON {_q(spec.name)} "
                f"({', '.join(_q(c) for c in columns)})"
            )

    def _ensure(self, spec: Layer) -> None:
        # Layers registered after the store was opened (by modules imported later).
        if spec.name not in self._known:
            self._create_table(spec)
            self._known.add(spec.name)

    @property
    def schema_version(self) -> int:
        row = self._con.execute(
            "SELECT value FROM gridpatrol_meta WHERE key='schema_version'"
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._con.close()

    # -- transactions -----------------------------------------------------------------
    def _begin(self) -> None:
        # Writers in this process queue on a lock first: the one waiting is woken the
        # moment the holder commits, instead of polling SQLite's busy handler (which
        # sleeps up to 100 ms between tries and can miss short gaps between another
        # writer's transactions). BEGIN IMMEDIATE still guards against other processes.
        lock = _write_lock(self.path)
        if not lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise sqlite3.OperationalError("database is locked (by a writer in this process)")
        try:
            self._con.execute("BEGIN IMMEDIATE")
        except BaseException:
            lock.release()
            raise
        self._holds = lock

    def _release(self) -> None:
        lock, self._holds = getattr(self, "_holds", None), None
        if lock is not None:
            lock.release()

    def _commit(self) -> None:
        self._con.execute("COMMIT")  # on failure the caller rolls back, which releases
        self._release()

    def _rollback(self) -> None:
        try:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
        finally:
            self._release()

    # BEGIN IMMEDIATE holds the whole file for writing: rows and names need no locks.
    def _meta_put(self, key: str, value: str) -> None:
        self._con.execute("INSERT OR REPLACE INTO gridpatrol_meta VALUES (?, ?)", (key, value))

    def _meta_increment(self, key: str) -> None:
        self._con.execute(
            "INSERT INTO gridpatrol_meta VALUES (?, '1') ON CONFLICT (key) "
            "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
            (key,),
        )

    def _meta_prefixed(self, prefix: str) -> list[tuple[str, str]]:
        return self._con.execute(
            "SELECT key, value FROM gridpatrol_meta WHERE substr(key, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchall()

    def _lock_rows(self, spec: Layer, where: Mapping[str, Any]) -> None:
        pass

    def _lock_name(self, name: str) -> None:
        pass

    def _is_busy(self, exc: BaseException) -> bool:
        # BEGIN IMMEDIATE waits busy_timeout for the write lock, then fails like this.
        return isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc)
        )

    # -- queries ----------------------------------------------------------------------
    def _filters(self, spec: Layer, bbox, where) -> tuple[str, list]:
        clauses, params = [], []
        for col, value in where.items():
            if isinstance(value, list):
                clauses.append(
                    f"t.{_q(col)} IN ({', '.join('?' for _ in value)})" if value else "0"
                )
                params += value
            else:
                clauses.append(f"t.{_q(col)} = ?")
                params.append(value)
        if bbox is not None and _points_only(spec):
            clauses.append("t.minx BETWEEN ? AND ? AND t.miny BETWEEN ? AND ?")
            params += [bbox[0], bbox[2], bbox[1], bbox[3]]
        elif bbox is not None:
            clauses.append(
                f"t.fid IN (SELECT fid FROM {_q('rtree_' + spec.name)} "
                "WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)"
            )
            params += [bbox[0], bbox[2], bbox[1], bbox[3]]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _select(self, spec, *, bbox, where, limit, offset):
        self._ensure(spec)
        cols = ", ".join(f"t.{_q(c)}" for c in spec.column_names)
        if spec.spatial:
            cols += ", t.geom"
        sql, params = self._filters(spec, bbox, where)
        order = ", ".join(f"t.{_q(k)}" for k in spec.key)
        page = (
            f" LIMIT {int(limit)} OFFSET {int(offset)}"
            if limit is not None
            else (f" LIMIT -1 OFFSET {int(offset)}" if offset else "")
        )
        return self._con.execute(
            f"SELECT {cols} FROM {_q(spec.name)} t{sql} ORDER BY {order}{page}", params
        ).fetchall()

    def _select_keys(self, spec, where):
        self._ensure(spec)
        sql, params = self._filters(spec, None, where)
        cols = ", ".join(f"t.{_q(k)}" for k in spec.key)
        return self._con.execute(f"SELECT {cols} FROM {_q(spec.name)} t{sql}", params).fetchall()

    def _count(self, spec, *, bbox, where):
        self._ensure(spec)
        sql, params = self._filters(spec, bbox, where)
        return self._con.execute(f"SELECT count(*) FROM {_q(spec.name)} t{sql}", params).fetchone()[
            0
        ]

    def _coordinates(self, spec, where):
        self._ensure(spec)
        sql, params = self._filters(spec, None, where)
        # A point's bounding box is the point: the (minx, miny) index covers this read.
        cur = self._con.execute(f"SELECT t.minx, t.miny FROM {_q(spec.name)} t{sql}", params)
        # fromiter over the cursor: no list of a million tuples in between
        flat = np.fromiter(itertools.chain.from_iterable(cur), dtype=float)
        return flat.reshape(-1, 2)

    def _count_by(self, spec, *, by, where, bbox, time_column, time_bucket):
        self._ensure(spec)
        sql, params = self._filters(spec, bbox, where)
        keys = [f"t.{_q(c)}" for c in by]
        if time_bucket:
            # Times are stored as UTC ISO text, so a slot is a prefix of it.
            keys.append(
                f"substr(t.{_q(time_column)}, 1, {TIME_BUCKETS[time_bucket]}) || "
                f"'{_BUCKET_SUFFIX[time_bucket]}'"
            )
        cols = [*keys, "count(*)"]
        if time_column:
            # ISO text in UTC sorts as time does ('+' sorts before the '.' of fractions).
            cols += [f"min(t.{_q(time_column)})", f"max(t.{_q(time_column)})"]
        group = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
        return self._con.execute(
            f"SELECT {', '.join(cols)} FROM {_q(spec.name)} t{sql}{group}", params
        ).fetchall()

    def _insert(self, spec, rows, *, upsert):
        self._ensure(spec)
        if not rows:
            return
        names = spec.column_names
        if spec.spatial:
            bounds = shapely.bounds(shapely.from_wkb([r[-1] for r in rows]))
            rows = [r + tuple(b) for r, b in zip(rows, bounds.tolist(), strict=True)]
            names = names + ["geom", "minx", "miny", "maxx", "maxy"]
        cols = ", ".join(_q(n) for n in names)
        marks = ", ".join("?" for _ in names)
        sql = f"INSERT INTO {_q(spec.name)} ({cols}) VALUES ({marks})"
        if upsert:
            updates = [n for n in names if n not in spec.key]
            set_clause = ", ".join(f"{_q(n)} = excluded.{_q(n)}" for n in updates)
            key = ", ".join(_q(k) for k in spec.key)
            sql += f" ON CONFLICT ({key}) DO " + (
                f"UPDATE SET {set_clause}" if updates else "NOTHING"
            )
        try:
            self._con.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"layer {spec.name!r}: a feature with the same key exists already ({exc}); "
                "use upsert to update it"
            ) from exc

    def _update(self, spec: Layer, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        self._ensure(spec)
        sql, params = self._filters(spec, None, where)
        sets = ", ".join(f"{_q(c)} = ?" for c in values)
        values = [v.isoformat() if hasattr(v, "isoformat") else v for v in values.values()]
        return self._con.execute(
            f"UPDATE {_q(spec.name)} AS t SET {sets}{sql}", values + params
        ).rowcount

    def _delete(self, spec: Layer, where: Mapping[str, Any]) -> int:
        self._ensure(spec)
        sql, params = self._filters(spec, None, where)
        return self._con.execute(f"DELETE FROM {_q(spec.name)} AS t{sql}", params).rowcount
