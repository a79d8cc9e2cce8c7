"""The PostGIS store: for several users at once.

Imported only when a ``postgresql://`` URL is configured (needs ``gridpatrol[postgis]``).
Each layer is a table in one schema (``gridpatrol`` unless the URL says
``?schema=NAME``), with ``geometry(Geometry, 4326)``, a GiST index and a unique key.
Writes run in one transaction per call. Limits: bounding-box filters use the index
(``&&``), exact predicates are the caller's job. Vector tiles are cut here in SQL
(:meth:`PostGISStore.tile`: ``ST_AsMVTGeom``/``ST_AsMVT``, one query a tile).

Over 600 lines because it implements the whole :class:`~.base.Store` interface for one
back end (reads, writes with COPY, counts, coordinates, tiles, locks, leases); the tile
SQL is the first piece to move to its own module when this grows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg import sql

from gridpatrol.geo.errors import ConflictError, SchemaError, StoreError
from gridpatrol.geo.model import LAYERS, Layer, get_layer

from .base import SCHEMA_VERSION, Store
from .counts import COUNT_INDEXES

_SQL_TYPES = {
    "str": "text",
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "datetime": "timestamptz",
    "json": "text",
}

MIGRATIONS: dict[int, list[str]] = {}

#: Stores whose schema this process has checked -> the layers it created there.
_READY: dict[tuple[str, str], set[str]] = {}

#: Inserts of at least this many rows go through COPY (fewer: executemany).
COPY_MIN_ROWS = 1000

#: A row of ``COPY (SELECT x, y) TO STDOUT (FORMAT BINARY)`` (big-endian, never NULL).
_XY_ROW = np.dtype([("n", ">i2"), ("xlen", ">i4"), ("x", ">f8"), ("ylen", ">i4"), ("y", ">f8")])

#: How long a write waits for another writer's lock before StoreBusyError.
LOCK_TIMEOUT_S = 10.0

#: The tile grown by its clip buffer, in Web Mercator (``margin`` is in tiles).
_CLIP_ENVELOPE = sql.SQL("ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)")
#: The box rows are read from (transformed to WGS84, so the GiST index answers).
_READ_ENVELOPE = sql.SQL("ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(read_margin)s)")

#: One tile, one query (the steps of :func:`gridpatrol.maps.mvt.encode_tile`).
_TILE_SQL = """
WITH picked AS (
    SELECT {distinct}{props}, ST_Transform(geom, 3857) AS g
    FROM {table}
    WHERE {condition}{order}
), simple AS MATERIALIZED (
    -- Most features lie inside the clip box: only the others pay for the cut.
    -- Douglas-Peucker in liblwgeom: GEOS's topology-preserving simplifier (the Python
    -- encoder's for polygons) would cost more than the rest of the query in format
    -- conversions; ST_AsMVTGeom makes the result valid anyway. MATERIALIZED: the
    -- filters below would otherwise compute it again.
    SELECT {names}, ST_Simplify(
        CASE WHEN g @ {clip} THEN g ELSE ST_ClipByBox2D(g, {clip}) END,
        %(tolerance)s,
        true
    ) AS g
    FROM picked
), features AS (
    SELECT {names}, ST_AsMVTGeom(g, {tile}, %(extent)s, %(buffer)s, true) AS geom
    FROM simple
    WHERE NOT ST_IsEmpty(g) AND (ST_Dimension(g) < 2 OR ST_Area(g) >= %(min_area)s)
)
-- ST_AsMVT skips the NULLs of ST_AsMVTGeom (features left outside): no filter here,
-- which would compute every geometry twice.
SELECT ST_AsMVT(features, %(name)s, %(extent)s, 'geom') FROM features
"""


def _split_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url.replace("postgis://", "postgresql://", 1))
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", "gridpatrol")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema):
        raise StoreError(f"schema name {schema!r} must be letters, digits and underscores")
    return urlunsplit(parts._replace(query=urlencode(query))), schema


def _on_conflict_update(spec) -> sql.Composed:
    """``ON CONFLICT (key) DO UPDATE SET`` every other column (or ``DO NOTHING``): the
    upsert of both insert paths (executemany and COPY)."""
    updates = [n for n in spec.column_names if n not in spec.key]
    if spec.spatial:
        updates.append("geom")
    action = (
        sql.SQL("UPDATE SET ")
        + sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n)) for n in updates
        )
        if updates
        else sql.SQL("NOTHING")
    )
    return (
        sql.SQL(" ON CONFLICT ({}) DO ").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)
        )
        + action
    )


class PostGISStore(Store):
    """A project in a PostGIS database."""

    def __init__(self, url: str) -> None:
        self.url = url
        conninfo, self.schema = _split_url(url)
        try:
            self._con = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
            # A write waits this long for another's row or advisory lock: StoreBusyError.
            self._con.execute(f"SET lock_timeout = {int(LOCK_TIMEOUT_S * 1000)}")
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostGIS at {conninfo}: {exc}".strip()) from exc
        # Checked once per database and schema per process (the API opens per request).
        ident = (conninfo, self.schema)
        if ident in _READY and self._version_matches():
            self._known = set(_READY[ident])  # a layer registered since: _ensure
        else:
            self._init_schema()
            _READY[ident] = self._known

    def _version_matches(self) -> bool:
        try:
            row = self._con.execute(
                sql.SQL("SELECT value FROM {} WHERE key='schema_version'").format(
                    self._t("gridpatrol_meta")
                )
            ).fetchone()
        except psycopg.Error:
            return False
        return row is not None and int(row[0]) == SCHEMA_VERSION

    def _t(self, name: str) -> sql.Composed:
        return sql.Identifier(self.schema, name)

    def _init_schema(self) -> None:
        con = self._con
        with con.transaction():
            try:
                con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as exc:
                raise StoreError(
                    "PostGIS is not available in this database: install it "
                    "(apt-get install postgresql-15-postgis-3) and run CREATE EXTENSION postgis"
                ) from exc
        with con.transaction():
            # Serialise concurrent first opens of the same schema.
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            con.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            con.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text)").format(
                    self._t("gridpatrol_meta")
                )
            )
            row = con.execute(
                sql.SQL("SELECT value FROM {} WHERE key='schema_version'").format(
                    self._t("gridpatrol_meta")
                )
            ).fetchone()
            version = int(row[0]) if row else SCHEMA_VERSION
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"schema {self.schema} has version {version}, newer than this release "
                    f"understands ({SCHEMA_VERSION}): upgrade gridpatrol"
                )
            for spec in LAYERS.values():
                self._create_table(spec)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS.get(target, []):
                    con.execute(statement)
            con.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ).format(self._t("gridpatrol_meta")),
                (str(SCHEMA_VERSION),),
            )
        self._known = set(LAYERS)

    def _create_table(self, spec: Layer) -> None:
        cols = [
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_SQL_TYPES[c.dtype]))
            for c in spec.columns
        ]
        if spec.spatial:
            cols.append(sql.SQL("geom geometry(Geometry, 4326) NOT NULL"))
        self._con.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (fid bigserial PRIMARY KEY, {}, UNIQUE ({}))"
            ).format(
                self._t(spec.name),
                sql.SQL(", ").join(cols),
                sql.SQL(", ").join(sql.Identifier(k) for k in spec.key),
            )
        )
        for c in spec.columns:  # columns added by a later release
            self._con.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    self._t(spec.name), sql.Identifier(c.name), sql.SQL(_SQL_TYPES[c.dtype])
                )
            )
        if spec.spatial:
            self._con.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gist (geom)").format(
                    sql.Identifier(f"{spec.name}_geom_gist"), self._t(spec.name)
                )
            )
        self._create_count_index(spec)

    def _create_count_index(self, spec: Layer) -> None:
        """The index :meth:`count_by` scans instead of the table (index-only), if any."""
        columns = COUNT_INDEXES.get(spec.name)
        if columns:
            self._con.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(f"{spec.name}_counts"),
                    self._t(spec.name),
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                )
            )

    def _ensure(self, spec: Layer) -> None:
        if spec.name not in self._known:
            with self._con.transaction():
                self._create_table(spec)
            self._known.add(spec.name)

    @property
    def schema_version(self) -> int:
        row = self._con.execute(
            sql.SQL("SELECT value FROM {} WHERE key='schema_version'").format(
                self._t("gridpatrol_meta")
            )
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._con.close()

    # psycopg's autocommit connection + explicit BEGIN/COMMIT keeps one call = one tx.
    def _begin(self) -> None:
        self._con.execute("BEGIN")

    def _commit(self) -> None:
        self._con.execute("COMMIT")

    def _rollback(self) -> None:
        self._con.execute("ROLLBACK")

    def _is_busy(self, exc: BaseException) -> bool:
        # lock_timeout passed, or Postgres broke a deadlock by failing this transaction.
        return isinstance(
            exc,
            (
                psycopg.errors.LockNotAvailable,
                psycopg.errors.DeadlockDetected,
                psycopg.errors.SerializationFailure,
            ),
        )

    def _meta_put(self, key: str, value: str) -> None:
        self._con.execute(
            sql.SQL(
                "INSERT INTO {} VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ).format(self._t("gridpatrol_meta")),
            (key, value),
        )

    def _meta_increment(self, key: str) -> None:
        self._con.execute(
            sql.SQL(
                "INSERT INTO {t} VALUES (%s, '1') ON CONFLICT (key) "
                "DO UPDATE SET value = ({t}.value::bigint + 1)::text"
            ).format(t=self._t("gridpatrol_meta")),
            (key,),
        )

    def _meta_prefixed(self, prefix: str) -> list[tuple[str, str]]:
        return self._con.execute(
            sql.SQL("SELECT key, value FROM {} WHERE left(key, %s) = %s").format(
                self._t("gridpatrol_meta")
            ),
            (len(prefix), prefix),
        ).fetchall()

    def _lock_rows(self, spec: Layer, where: dict[str, Any]) -> None:
        self._ensure(spec)
        filters, params = self._filters(None, where)
        # Key order, so two transactions locking overlapping sets cannot deadlock.
        query = sql.SQL("SELECT fid FROM {}{} ORDER BY {} FOR UPDATE").format(
            self._t(spec.name),
            filters,
            sql.SQL(", ").join(sql.Identifier(k) for k in spec.key),
        )
        self._con.execute(query, params)

    def _lock_name(self, name: str) -> None:
        self._con.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"gridpatrol:{self.schema}:{name}",)
        )

    def _filters(self, bbox, where) -> tuple[sql.Composable, list]:
        clauses, params = [], []
        for col, value in where.items():
            if isinstance(value, list):
                clauses.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(col)))
            else:
                clauses.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
            params.append(value)
        if bbox is not None:
            clauses.append(sql.SQL("geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"))
            params += list(bbox)
        if not clauses:
            return sql.SQL(""), params
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params

    def _select(self, spec, *, bbox, where, limit, offset):
        self._ensure(spec)
        cols = [sql.Identifier(c) for c in spec.column_names]
        if spec.spatial:
            cols.append(sql.SQL("ST_AsBinary(geom)"))
        filters, params = self._filters(bbox, where)
        query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(
            sql.SQL(", ").join(cols),
            self._t(spec.name),
            filters,
            sql.SQL(", ").join(sql.Identifier(k) for k in spec.key),
        )
        if limit is not None:
            query += sql.SQL(" LIMIT {}").format(sql.Literal(int(limit)))
        if offset:
            query += sql.SQL(" OFFSET {}").format(sql.Literal(int(offset)))
        return self._con.execute(query, params).fetchall()

    # -- vector tiles: cut by the database ------------------------------------------
    def tile(
        self,
        layer,
        z,
        x,
        y,
        *,
        columns,
        where=None,
        rounded=(),
        undirected=(),
        extent,
        buffer,
        tolerance,
        min_area,
        read_margin,
    ):
        """One SQL query per tile, as tipg and Martin cut them (see :meth:`Store.tile`)."""
        query, params = self._tile_query(
            layer,
            z,
            x,
            y,
            columns=columns,
            where=where,
            rounded=rounded,
            undirected=undirected,
            extent=extent,
            buffer=buffer,
            tolerance=tolerance,
            min_area=min_area,
            read_margin=read_margin,
        )
        row = self._con.execute(query, params).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def _tile_query(
        self,
        layer,
        z,
        x,
        y,
        *,
        columns,
        where,
        rounded,
        undirected,
        extent,
        buffer,
        tolerance,
        min_area,
        read_margin,
    ) -> tuple[sql.Composed, dict]:
        """The tile's SQL and parameters (a method of its own so tests can EXPLAIN it).

        The steps are the Python encoder's, in its order, so both cut the same tile:
        Web Mercator, clip to the tile and its buffer, simplify by ``tolerance``, drop
        polygons under ``min_area``, then ``ST_AsMVTGeom`` (tile units, whole numbers,
        valid, MVT winding) and ``ST_AsMVT``. One difference, for speed: polygons are
        simplified by Douglas-Peucker (``ST_Simplify``) where Python keeps their
        topology (GEOS); both stay within ``tolerance`` of the source, and
        ``ST_AsMVTGeom`` repairs what Douglas-Peucker may cross. Only the rows in the
        tile are transformed: the filter transforms the tile's envelope to the stored
        WGS84 instead, so the GiST index on ``geom`` answers it (a Mercator rectangle is
        a longitude/latitude rectangle, so nothing is lost).
        """
        spec = get_layer(layer)
        self._check_where(spec, where)
        for name, cols in columns.items():
            for col in cols:
                if col not in spec.column_names:
                    raise SchemaError(f"layer {layer!r} has no column {col!r} (for {name!r})")
        self._ensure(spec)
        props = [
            sql.SQL("{} AS {}").format(
                self._tile_property(spec, cols, rounded=name in rounded), sql.Identifier(name)
            )
            for name, cols in columns.items()
        ]
        names = [sql.Identifier(name) for name in columns]
        # Named placeholders (the tile's numbers appear several times in the query).
        clauses = [sql.SQL("geom && ST_Transform({}, 4326)").format(_READ_ENVELOPE)]
        named: dict[str, Any] = {}
        for i, (col, value) in enumerate((where or {}).items()):
            many = isinstance(value, (list, tuple, set))
            named[f"w{i}"] = list(value) if many else value
            clauses.append(
                sql.SQL("{} = ANY({})" if many else "{} = {}").format(
                    sql.Identifier(col), sql.Placeholder(f"w{i}")
                )
            )
        distinct = order = sql.SQL("")
        if undirected:
            u, v, *rest = (sql.Identifier(c) for c in undirected)
            groups = [
                sql.SQL("least({}, {})").format(u, v),
                sql.SQL("greatest({}, {})").format(u, v),
                *rest,
            ]
            # The first in key order, as the Python path (which reads in key order) keeps.
            distinct = sql.SQL("DISTINCT ON ({}) ").format(sql.SQL(", ").join(groups))
            order = sql.SQL(" ORDER BY {}").format(
                sql.SQL(", ").join(groups + [sql.Identifier(k) for k in spec.key])
            )
        query = sql.SQL(_TILE_SQL).format(
            distinct=distinct,
            props=sql.SQL(", ").join(props),
            names=sql.SQL(", ").join(names),
            table=self._t(spec.name),
            condition=sql.SQL(" AND ").join(clauses),
            order=order,
            clip=_CLIP_ENVELOPE,
            tile=sql.SQL("ST_TileEnvelope(%(z)s, %(x)s, %(y)s)"),
        )
        unit = 2 * math.pi * 6378137.0 / (1 << z) / extent  # metres per tile unit
        params = {
            "z": int(z),
            "x": int(x),
            "y": int(y),
            "margin": buffer / extent,
            "read_margin": max(float(read_margin), buffer / extent),
            "extent": int(extent),
            "buffer": int(buffer),
            "tolerance": float(tolerance) * unit,
            "min_area": float(min_area) * unit * unit,
            "name": layer,
            **named,
        }
        return query, params

    @staticmethod
    def _tile_property(spec: Layer, cols: tuple[str, ...], *, rounded: bool) -> sql.Composable:
        """A property's SQL, with the Python encoder's rules: NULL reads as the
        column's default (as :meth:`Store._frame`), empty strings and NaN are left out
        (NULL: ST_AsMVT writes no tag)."""

        def value(col: str) -> sql.Composable:
            column = spec.column(col)
            ident = sql.Identifier(col)
            if column.default is None:
                return ident
            return sql.SQL("COALESCE({}, {})").format(ident, sql.Literal(column.default))

        if len(cols) > 1:
            joined = sql.SQL(" || ' ' || ").join(value(c) for c in cols)
            return sql.SQL("NULLIF(btrim({}, E' \\t\\n\\r'), '')").format(joined)
        (col,) = cols
        dtype = spec.column(col).dtype
        if rounded:
            # NaN and infinities compare outside the range: left out, like NaN in Python.
            return sql.SQL(
                "CASE WHEN {0} BETWEEN -9e18 AND 9e18 THEN round({0})::bigint END"
            ).format(value(col))
        if dtype in ("str", "json"):
            return sql.SQL("NULLIF({}, '')").format(value(col))
        if dtype == "float":
            return sql.SQL("NULLIF({}, 'NaN')").format(value(col))
        return value(col)

    def _select_keys(self, spec, where):
        self._ensure(spec)
        filters, params = self._filters(None, where)
        query = sql.SQL("SELECT {} FROM {}{}").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in spec.key), self._t(spec.name), filters
        )
        return [tuple(r) for r in self._con.execute(query, params).fetchall()]

    def _count(self, spec, *, bbox, where):
        self._ensure(spec)
        filters, params = self._filters(bbox, where)
        query = sql.SQL("SELECT count(*) FROM {}{}").format(self._t(spec.name), filters)
        return self._con.execute(query, params).fetchone()[0]

    def _coordinates(self, spec, where):
        self._ensure(spec)
        filters, params = self._filters(None, where)
        # Binary COPY, read by numpy in one call: no million Python tuples (2x faster)
        query = sql.SQL("COPY (SELECT ST_X(geom), ST_Y(geom) FROM {}{}) TO STDOUT (FORMAT BINARY)")
        with self._con.cursor() as cur:
            with cur.copy(query.format(self._t(spec.name), filters), params or None) as copy:
                data = b"".join(bytes(block) for block in copy)
        rows = np.frombuffer(data[19:-2], dtype=_XY_ROW)  # 19-byte header, 2-byte trailer
        return np.column_stack([rows["x"], rows["y"]]).astype(float)

    def _count_by(self, spec, *, by, where, bbox, time_column, time_bucket):
        self._ensure(spec)
        filters, params = self._filters(bbox, where)
        keys: list[sql.Composable] = [sql.Identifier(c) for c in by]
        if time_bucket:
            keys.append(
                sql.SQL("date_trunc({}, {} AT TIME ZONE 'UTC')").format(
                    sql.Literal(time_bucket), sql.Identifier(time_column)
                )
            )
        cols = [*keys, sql.SQL("count(*)")]
        if time_column:
            cols += [
                sql.SQL("min({})").format(sql.Identifier(time_column)),
                sql.SQL("max({})").format(sql.Identifier(time_column)),
            ]
        query = sql.SQL("SELECT {} FROM {}{}").format(
            sql.SQL(", ").join(cols), self._t(spec.name), filters
        )
        if keys:
            # by position: the bucket expression would otherwise be passed twice
            at = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(keys)))
            query += sql.SQL(" GROUP BY {} ORDER BY {}").format(at, at)
        return [tuple(r) for r in self._con.execute(query, params).fetchall()]

    def _insert(self, spec, rows, *, upsert):
        self._ensure(spec)
        if not rows:
            return
        if len(rows) >= COPY_MIN_ROWS:
            return self._copy_insert(spec, rows, upsert=upsert)
        names = [sql.Identifier(c) for c in spec.column_names]
        marks = [sql.Placeholder() for _ in spec.column_names]
        if spec.spatial:
            names.append(sql.Identifier("geom"))
            marks.append(sql.SQL("ST_GeomFromWKB(%s, 4326)"))
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self._t(spec.name), sql.SQL(", ").join(names), sql.SQL(", ").join(marks)
        )
        if upsert:
            query += _on_conflict_update(spec)
        try:
            with self._con.cursor() as cur:
                cur.executemany(query, rows)
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(
                f"layer {spec.name!r}: a feature with the same key exists already; "
                "use upsert to update it"
            ) from exc

    def _copy_insert(self, spec, rows, *, upsert):
        """Many rows: COPY into a temporary table, then one INSERT ... SELECT from it.

        ~5x faster than ``executemany`` for a bulk import; keys, conflicts and upserts
        behave as in :meth:`_insert` (the INSERT is the same statement over a table).
        """
        stage = sql.Identifier(f"gridpatrol_stage_{spec.name}")
        cols = [sql.Identifier(c.name) for c in spec.columns]
        defs = [
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_SQL_TYPES[c.dtype]))
            for c in spec.columns
        ]
        values = list(cols)
        if spec.spatial:
            defs.append(sql.SQL("geom bytea"))
            cols.append(sql.Identifier("geom"))
            values.append(sql.SQL("ST_GeomFromWKB(geom, 4326)"))
        query = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            self._t(spec.name), sql.SQL(", ").join(cols), sql.SQL(", ").join(values), stage
        )
        if upsert:
            query += _on_conflict_update(spec)
        with self._con.cursor() as cur:
            # Dropped at commit; emptied before each use within one transaction.
            cur.execute(
                sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DROP").format(
                    stage, sql.SQL(", ").join(defs)
                )
            )
            cur.execute(sql.SQL("TRUNCATE {}").format(stage))
            with cur.copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(stage, sql.SQL(", ").join(cols))
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            try:
                cur.execute(query)
            except psycopg.errors.UniqueViolation as exc:
                raise ConflictError(
                    f"layer {spec.name!r}: a feature with the same key exists already; "
                    "use upsert to update it"
                ) from exc

    def _update(self, spec: Layer, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        self._ensure(spec)
        filters, params = self._filters(None, where)
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values)
        cur = self._con.execute(
            sql.SQL("UPDATE {} SET {}{}").format(self._t(spec.name), sets, filters),
            list(values.values()) + params,
        )
        return cur.rowcount

    def _delete(self, spec: Layer, where: Mapping[str, Any]) -> int:
        self._ensure(spec)
        filters, params = self._filters(None, where)
        cur = self._con.execute(
            sql.SQL("DELETE FROM {}{}").format(self._t(spec.name), filters), params
        )
        return cur.rowcount

    def drop_schema(self) -> None:
        """Delete every table of this store (used by tests)."""
        _READY.pop((_split_url(self.url)[0], self.schema), None)
        self._con.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
        )
