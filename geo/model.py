"""The spatial model: each layer's columns and types, and the one validator every load uses.

Every layer that enters gridpatrol (from OSM, a file, the API or a solver) goes through
:func:`validate_layer`. It checks the CRS, the geometry type and validity, and the
columns, and returns the layer in WGS84 with exactly the columns listed here, in order.
Stores create their tables from these definitions, so a column is added in one place.

Administrative hierarchy (the Chinese grid-management standard, usable anywhere)::

    district (区, 6-digit area code)  e.g. 110105
    street   (街道, + 3 digits)        110105001
    community(社区, + 3 digits)        110105001001
    grid     (网格, + 3 digits)        110105001001001
    subgrid  (小网格, + 3 digits)      110105001001001001

Children are numbered west→east, north→south within their parent
(see :func:`gridpatrol.geo.grids.assign_codes`).

Size note: every layer's definition sits here with the one validator, so that a column
is added in one place; splitting the layers over modules would scatter the schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from gridpatrol.lazy import lazy_import, lazy_module

from .errors import SchemaError
from .geometry import check_geometries

if TYPE_CHECKING:
    from .crs import CRSLike

# imported on first use, so the service answers before they load (gridpatrol.lazy)
geo_crs = lazy_module("gridpatrol.geo.crs")  # its WGS84 is a pyproj CRS: pyproj on first use
raise_if_swapped = lazy_import("gridpatrol.geo.crs", "raise_if_swapped")
repair_after_reprojection = lazy_import("gridpatrol.geo.crs", "repair_after_reprojection")
to_wgs84 = lazy_import("gridpatrol.geo.crs", "to_wgs84")
gpd = lazy_module("geopandas")
np = lazy_module("numpy")
pd = lazy_module("pandas")

DType = Literal["str", "int", "float", "bool", "datetime", "json"]

LEVELS = ("district", "street", "community", "grid", "subgrid")
#: digits each level adds to its parent's code
CODE_DIGITS = {"district": 6, "street": 3, "community": 3, "grid": 3, "subgrid": 3}


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer."""

    name: str
    dtype: DType
    required: bool = False
    default: Any = None
    doc: str = ""


@dataclass(frozen=True)
class Layer:
    """A layer: its geometry types, key and columns."""

    name: str
    geometry_types: tuple[str, ...]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def spatial(self) -> bool:
        return bool(self.geometry_types)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


C = Column
POLYGONAL = ("Polygon", "MultiPolygon")

AREAS = Layer(
    "areas",
    POLYGONAL,
    (
        C("code", "str", True, doc="hierarchical code, e.g. 110105001001"),
        C("name", "str", default=""),
        C("level", "str", True, doc="district, street or community"),
        C("parent_code", "str", default=""),
    ),
    key=("code",),
    doc="Administrative areas above grids: districts, streets (街道) and communities (社区).",
)

GRIDS = Layer(
    "grids",
    POLYGONAL,
    (
        C("version", "int", default=1, doc="grid layer version this grid belongs to"),
        C("code", "str", True, doc="community code + 3 digits (+ 3 for sub-grids)"),
        C("name", "str", default=""),
        C("level", "str", default="grid", doc="grid or subgrid"),
        C("parent_code", "str", default="", doc="code of the community (or grid) it sits in"),
        C("kind", "str", default="comprehensive", doc="comprehensive, dedicated, police_beat"),
        C("households", "int", default=0, doc="households of the buildings it holds"),
    ),
    key=("version", "code"),
    doc="Management grids (网格) and sub-grids, one set per grid-layer version.",
)

GRID_VERSIONS = Layer(
    "grid_versions",
    (),
    (
        C("version", "int", True),
        C("name", "str", default=""),
        C("status", "str", default="draft", doc="draft, active or retired"),
        C("revision", "int", default=1, doc="bumped on every save; stale saves conflict"),
        C("created_at", "datetime"),
        C("note", "str", default=""),
    ),
    key=("version",),
    doc="Versions of the grid layer.",
)

BUILDINGS = Layer(
    "buildings",
    POLYGONAL,
    (
        C("source_id", "str", True, doc="id in the source, e.g. 'osm:way/123'"),
        C("name", "str", default=""),
        C("use", "str", default="yes", doc="OSM building=* value"),
        C("levels", "float", doc="floors above ground; NaN when unknown"),
        C("addr_street", "str", default=""),
        C("addr_housenumber", "str", default=""),
        C("addr_postcode", "str", default=""),
        C("addr_city", "str", default=""),
        C("households", "int", default=0),
        C("households_estimated", "bool", default=True, doc="True when from the area rule"),
    ),
    key=("source_id",),
    doc="Building footprints with households (given or estimated).",
)

CAMERAS = Layer(
    "cameras",
    ("Point",),
    (
        C("source_id", "str", True),
        C("direction", "float", doc="compass bearing it faces, degrees; NaN = unknown"),
        C("fov", "float", default=60.0, doc="horizontal field of view, degrees"),
        C("range_m", "float", default=30.0, doc="useful viewing distance, metres"),
        C("height_m", "float", default=4.0, doc="mounting height, metres"),
        C("tilt", "float", doc="angle below the horizontal (OSM camera:angle), degrees"),
        C("camera_type", "str", default="fixed", doc="fixed, dome or panning"),
        C("surveillance_type", "str", default="camera", doc="camera, ALPR, guard..."),
        C("zone", "str", default="", doc="OSM surveillance=*: public, outdoor, indoor..."),
        C("rotating", "bool", default=False),
        C("defaulted", "str", default="", doc="comma-separated fields filled by defaults"),
    ),
    key=("source_id",),
    doc="Surveillance cameras (雪亮工程 points, OSM man_made=surveillance).",
)

CAMERA_EVENTS = Layer(
    "camera_events",
    (),
    (
        C("source_id", "str", True),
        C("seq", "int", True, doc="1, 2, ... per camera"),
        C("at", "datetime", True),
        C("actor", "str", default="system"),
        C("action", "str", True, doc="import, edit or delete"),
        C("detail", "json", doc="the changed fields, before and after"),
    ),
    key=("source_id", "seq"),
    doc="The history of every camera: imports, edits on the cameras page, deletions.",
)

STREETS = Layer(
    "streets",
    ("LineString",),
    (
        C("network", "str", True, doc="walk or drive"),
        C("u", "int", True),
        C("v", "int", True),
        C("key", "int", default=0),
        C("osm_id", "str", default=""),
        C("name", "str", default=""),
        C("highway", "str", default=""),
        C("length_m", "float", True),
        C("oneway", "bool", default=False),
    ),
    key=("network", "u", "v", "key"),
    doc="Street network edges, one row per directed edge as in an osmnx MultiDiGraph.",
)

STREET_NODES = Layer(
    "street_nodes",
    ("Point",),
    (C("network", "str", True), C("node_id", "int", True), C("street_count", "int", default=0)),
    key=("network", "node_id"),
    doc="Street network nodes.",
)

ADDRESSES = Layer(
    "addresses",
    ("Point",),
    (
        C("source_id", "str", True),
        C("street", "str", default=""),
        C("housenumber", "str", default=""),
        C("postcode", "str", default=""),
        C("city", "str", default=""),
        C("building_id", "str", default="", doc="source_id of the building it belongs to"),
    ),
    key=("source_id",),
    doc="Addresses (OSM addr:*) from buildings and address points.",
)

STATIONS = Layer(
    "stations",
    ("Point",),
    (
        C("station_id", "str", True),
        C("name", "str", default=""),
        C("grid_code", "str", default=""),
    ),
    key=("station_id",),
    doc="Patrol stations (depots such as 平安易站).",
)

TEAMS = Layer(
    "teams",
    (),
    (
        C("team_id", "str", True),
        C("name", "str", default=""),
        C("station_id", "str", True),
        C("members", "int", default=10),
        C("speed_kmh", "float", default=4.0, doc="walking speed"),
        C("shift_minutes", "float", default=120.0),
        C("mode", "str", default="walk", doc="walk or drive"),
    ),
    key=("team_id",),
    doc="Volunteer patrol teams (义务巡逻队), each based at a station.",
)

INCIDENTS = Layer(
    "incidents",
    ("Point",),
    (
        C("incident_id", "str", True, doc="external id; submitting it again updates it"),
        C("reported_at", "datetime", True, doc="timezone-aware time of the report"),
        C("category", "str", True, doc="a key of the project's taxonomy"),
        C("description", "str", default=""),
        C("source", "str", default="app", doc="app, hotline, import, patrol..."),
        C("reporter_role", "str", default="", doc="grid_worker, resident, police, volunteer..."),
        C("address", "str", default="", doc="address as given (hotline reports)"),
        C("address_match", "str", default="", doc="the layer's address it was matched to"),
        C("address_score", "float", doc="address match score, 0-100 (NaN: located by lon/lat)"),
        C("input_crs", "str", default="wgs84", doc="CRS the coordinates arrived in"),
        C("status", "str", default="reported", doc="see gridpatrol.geo.dispatch.STATUSES"),
        C("level", "str", default="grid", doc="who handles it: grid, community, street, district"),
        C("due_at", "datetime", doc="deadline of the current step"),
        C("closed_at", "datetime"),
        C("closed_level", "str", default=""),
        C("grid_version", "int", default=0, doc="grid version of the current assignment"),
        C("grid_code", "str", default="", doc="current grid ('' when unassigned)"),
        C("community_code", "str", default=""),
        C("street_code", "str", default=""),
        C("district_code", "str", default=""),
        C("assignment", "str", default="", doc="inside, snapped or unassigned"),
        C("reported_grid_code", "str", default="", doc="grid it had when reported"),
        C("reported_grid_version", "int", default=0),
        C("updated_at", "datetime"),
    ),
    key=("incident_id",),
    doc="Incidents reported by grid workers, hotlines and files.",
)

INCIDENT_EVENTS = Layer(
    "incident_events",
    (),
    (
        C("incident_id", "str", True),
        C("seq", "int", True, doc="1, 2, ... per incident"),
        C("at", "datetime", True),
        C("actor", "str", default="system"),
        C("action", "str", True, doc="report, update, assign, start, resolve, verify, escalate..."),
        C("from_status", "str", default=""),
        C("to_status", "str", default=""),
        C("detail", "json"),
    ),
    key=("incident_id", "seq"),
    doc="The full history of every incident: who, when, what.",
)

PATROL_PLANS = Layer(
    "patrol_plans",
    (),
    (
        C("plan_id", "str", True),
        C("name", "str", default=""),
        C("created_at", "datetime"),
        C("station_id", "str", default=""),
        C("request", "json", doc="what was asked: area, teams, shift, hot spots..."),
        C("summary", "json", doc="balance, coverage, unreachable streets, per day"),
    ),
    key=("plan_id",),
    doc="Patrol plans: balanced routes for k teams, one set per rotation day.",
)

PATROL_ROUTES = Layer(
    "patrol_routes",
    ("LineString",),
    (
        C("plan_id", "str", True),
        C("day", "int", default=1, doc="rotation day 1..n"),
        C("team_id", "str", True),
        C("sortie", "int", default=0, doc="0, or the sortie of a route split by the shift"),
        C("shift", "str", default="", doc="the shift's name; empty for a single-shift plan"),
        C("start_time", "str", default="", doc="planned start, local HH:MM (shift plans)"),
        C("length_m", "float", default=0.0),
        C("minutes", "float", default=0.0, doc="walking plus dwell time"),
        C("dwell_minutes", "float", default=0.0),
        C("deadhead_m", "float", default=0.0, doc="walked without serving a required street"),
        C("over_shift", "bool", default=False),
        C("steps", "json", doc="turn list"),
        C("stops", "json", doc="station and dwell stops with lon/lat"),
        C("edges", "json", doc="network edges [u, v, key] in walking order"),
        C("network", "str", default="walk"),
    ),
    key=("plan_id", "day", "shift", "team_id", "sortie"),
    doc="One team's closed walk of a patrol plan, in the direction of travel.",
)

PROJECT = Layer(
    "project",
    (),
    (C("key", "str", True), C("value", "json")),
    key=("key",),
    doc="Project settings: name, metric CRS, bounds, household rule...",
)

EMBED_TOKENS = Layer(
    "embed_tokens",
    ("Polygon", "MultiPolygon"),
    (
        C("token_id", "str", True, doc="public id, used to list and revoke"),
        C("token_hash", "str", True, doc="hex SHA-256 of the token; the token is not stored"),
        C("label", "str", default=""),
        C("layers", "json", doc="layers the token may read"),
        C("area_code", "str", default="", doc="area or grid code the area came from"),
        C("incident_unit", "str", default="grid", doc="grid or cell: how incidents are counted"),
        C("cell_m", "float", default=250.0, doc="cell size in metres when counting per cell"),
        C("created_at", "datetime", True),
        C("created_by", "str", default="", doc="the admin token's name"),
        C("expires_at", "datetime", doc="empty: never"),
        C("revoked_at", "datetime", doc="empty: valid"),
    ),
    key=("token_id",),
    doc="Read-only embed tokens (hash and scope only); geometry = the area they may read.",
)

API_TOKENS = Layer(
    "api_tokens",
    (),
    (
        C("token_id", "str", True, doc="public id, used to list and revoke"),
        C("token_hash", "str", True, doc="hex SHA-256 of the token; the token is not stored"),
        C("kind", "str", default="api", doc="api (Bearer) or session (browser cookie)"),
        C("name", "str", default=""),
        C("role", "str", True, doc="admin, planner, dispatcher, patrol or viewer"),
        C("scope", "json", doc="planner: communities/streets codes; patrol: team ids"),
        C("parent_id", "str", default="", doc="sessions: the token that logged in"),
        C("created_at", "datetime", True),
        C("created_by", "str", default=""),
        C("expires_at", "datetime", doc="empty: never"),
        C("revoked_at", "datetime", doc="empty: valid"),
    ),
    key=("token_id",),
    doc="API tokens and browser sessions (hash, role and scope only).",
)

AUDIT_LOG = Layer(
    "audit_log",
    (),
    (
        C("audit_id", "str", True, doc="random id"),
        C("at", "datetime", True),
        C("actor", "str", default="", doc="token name and id, or 'cli'"),
        C("role", "str", default=""),
        C("action", "str", True, doc="HTTP method and path, or a CLI command"),
        C("status", "int", default=0, doc="HTTP status of the answer"),
        C("detail", "json"),
    ),
    key=("audit_id",),
    doc="Every change: who, when, what (admins read it at /api/audit).",
)

LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        PROJECT,
        AREAS,
        GRID_VERSIONS,
        GRIDS,
        BUILDINGS,
        ADDRESSES,
        CAMERAS,
        CAMERA_EVENTS,
        STREET_NODES,
        STREETS,
        STATIONS,
        TEAMS,
        INCIDENTS,
        INCIDENT_EVENTS,
        PATROL_PLANS,
        PATROL_ROUTES,
        EMBED_TOKENS,
        API_TOKENS,
        AUDIT_LOG,
    )
}


def register_layer(layer: Layer) -> Layer:
    """Add a layer defined by another module (incidents, plans...) to the model."""
    LAYERS[layer.name] = layer
    return layer


def get_layer(name: str) -> Layer:
    """The layer definition called ``name``."""
    try:
        return LAYERS[name]
    except KeyError:
        raise SchemaError(f"unknown layer {name!r}; known layers: {', '.join(LAYERS)}") from None


def _feature_label(df: pd.DataFrame, pos: int, layer: Layer) -> str:
    label = f"feature {pos}"
    for col in layer.key:
        if col in df.columns and col not in ("version", "network"):
            value = df[col].iloc[pos]
            if value is not None and value == value:
                return f"{label} ({col}={value})"
    return label


def _coerce(series: pd.Series, column: Column, layer: Layer, df: pd.DataFrame, source: str):
    def fail(mask: np.ndarray, problem: str):
        pos = int(np.flatnonzero(mask)[0])
        raise SchemaError(
            f"{source}: {_feature_label(df, pos, layer)}: column {column.name!r} {problem} "
            f"(got {series.iloc[pos]!r}); expected {column.dtype}"
        )

    missing = series.isna().to_numpy()
    if column.required and missing.any():
        fail(missing, "is required but empty")
    if column.dtype == "str":
        out = series.astype("object").where(~missing, column.default if column.default else "")
        if pd.api.types.infer_dtype(out, skipna=False) == "string":
            return out  # all str already (the common case; a map per row is slow at 1M)
        return out.map(lambda v: v if isinstance(v, str) else str(v)).astype("object")
    if column.dtype in ("int", "float"):
        num = pd.to_numeric(series, errors="coerce")
        bad = num.isna().to_numpy() & ~missing
        if bad.any():
            fail(bad, "is not a number")
        if column.default is not None:
            num = num.fillna(column.default)
        if column.dtype == "int":
            if num.isna().any():
                fail(num.isna().to_numpy(), "is empty")
            frac = (num % 1 != 0).to_numpy()
            if frac.any():
                fail(frac, "is not a whole number")
            return num.astype("int64")
        return num.astype("float64")
    if column.dtype == "bool":
        truthy = {"yes", "true", "1", "y", "t"}
        falsy = {"no", "false", "0", "n", "f", ""}

        def to_bool(v):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return bool(column.default)
            if isinstance(v, (bool, np.bool_)):
                return bool(v)
            text = str(v).strip().lower()
            if text in truthy:
                return True
            if text in falsy:
                return False
            return None

        out = series.map(to_bool)
        bad = out.isna().to_numpy()
        if bad.any():
            fail(bad, "is not yes/no")
        return out.astype(bool)
    if column.dtype == "datetime":
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            return series.dt.tz_convert("UTC")
        try:
            out = pd.to_datetime(series, utc=True, format="mixed")
        except (ValueError, TypeError):
            out = pd.to_datetime(series, utc=True, errors="coerce")
            fail(out.isna().to_numpy() & ~missing, "is not a date/time")
        return out
    if column.dtype == "json":
        if pd.api.types.infer_dtype(series, skipna=False) == "string":
            return series
        return series.map(lambda v: v if isinstance(v, str) else json.dumps(v, default=str))
    raise AssertionError(column.dtype)


def validate_geometries(
    geoms: gpd.GeoSeries, layer: Layer, *, source: str, labels: pd.DataFrame | None = None
) -> None:
    """Raise :class:`InvalidGeometryError` naming the first bad feature.

    Checks: missing or empty geometry, wrong type for the layer, invalid (self-intersecting
    rings, etc., with GEOS's reason), and non-finite coordinates.
    """
    df = labels if labels is not None else pd.DataFrame(index=geoms.index)

    check_geometries(
        geoms,
        what=f"layer {layer.name!r}",
        allowed=layer.geometry_types,
        labels=lambda pos: f"{source}: {_feature_label(df, pos, layer)}:",
        hint="fix it in the source (QGIS: Vector > Geometry Tools > Check Validity) "
        "and import again",
    )


def validate_layer(
    data: gpd.GeoDataFrame | pd.DataFrame,
    layer: Layer | str,
    *,
    crs: CRSLike | None = None,
    source: str = "input",
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Check a layer and return it in WGS84 with exactly the model's columns.

    Parameters
    ----------
    data
        The features. Spatial layers need a CRS, either on ``data`` or as ``crs``.
    layer
        The layer definition or its name.
    crs
        Overrides the CRS of ``data``; ``"gcj02"`` and ``"bd09"`` are converted to WGS84.
    source
        Name used in error messages (a file name, "request body"...).

    Raises
    ------
    CRSError, SwappedCoordinatesError, InvalidGeometryError, SchemaError
        Naming the source, the feature and the problem.
    """
    spec = get_layer(layer) if isinstance(layer, str) else layer
    df = data.reset_index(drop=True)
    missing = [c.name for c in spec.columns if c.required and c.name not in df.columns]
    if missing:
        raise SchemaError(
            f"{source}: layer {spec.name!r} needs column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, df.columns)) or 'none'}"
        )
    out = {}
    for column in spec.columns:
        if column.name in df.columns:
            series = df[column.name]
        else:
            series = pd.Series([column.default] * len(df), index=df.index, dtype="object")
        out[column.name] = _coerce(series, column, spec, df, source)
    if not spec.spatial:
        return pd.DataFrame(out, index=df.index)
    if not isinstance(df, gpd.GeoDataFrame):
        raise SchemaError(f"{source}: layer {spec.name!r} needs geometries")
    validate_geometries(df.geometry, spec, source=source, labels=df)
    gdf = gpd.GeoDataFrame(out, geometry=df.geometry.values, crs=df.crs)
    gdf = to_wgs84(gdf, crs=crs)
    raise_if_swapped(gdf, what=source)
    if spec.geometry_types == POLYGONAL:
        # Reprojection can, rarely, make a valid ring invalid (two vertices a hair apart
        # cross). The input was valid, so this is our artefact: repair it, keep the type.
        gdf = repair_after_reprojection(gdf)
        validate_geometries(gdf.geometry, spec, source=source, labels=gdf)
    return gdf


def empty_layer(layer: Layer | str) -> gpd.GeoDataFrame | pd.DataFrame:
    """An empty frame with the layer's columns (and geometry, in WGS84)."""
    spec = get_layer(layer) if isinstance(layer, str) else layer
    dtypes = {
        "str": "object",
        "int": "int64",
        "float": "float64",
        "bool": "bool",
        "datetime": "datetime64[ns, UTC]",
        "json": "object",
    }
    cols = {c.name: pd.Series(dtype=dtypes[c.dtype]) for c in spec.columns}
    if spec.spatial:
        return gpd.GeoDataFrame(
            cols, geometry=gpd.GeoSeries([], crs=geo_crs.WGS84), crs=geo_crs.WGS84
        )
    return pd.DataFrame(cols)
