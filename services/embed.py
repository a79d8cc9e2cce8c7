"""Read-only embed tokens: a secret that lets a page show some layers within one area.

Only the SHA-256 hash of a token is stored, with its scope (layers and area), label and
times; the plain token is returned once, when it is created, and never again. A token is
checked on every request (:func:`resolve_token`): unknown, expired and revoked tokens are
refused, and reads go through :func:`read_scoped` or :func:`incident_counts`, which never
return anything outside the token's layers and area.

Incidents are never published one by one: :func:`incident_counts` counts them per grid
(clipped to the area) or per square cell, and suppresses counts below ``min_count``. The
counting units are fixed by the token (a bbox only chooses which units are returned, it
never changes a count), so narrow bboxes cannot single out one incident by differencing.

Limits: the area is a snapshot taken when the token is made (later boundary edits do not
move it); counts are over every incident the store holds, whatever its status or age.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridpatrol.geo.errors import GridPatrolError, InvalidGeometryError, NotFoundError, SchemaError
from gridpatrol.lazy import lazy_import, lazy_module
from gridpatrol.store.base import BBox, Store

from .tokens import hash_token

# imported on first use, so the service answers before they load (gridpatrol.lazy)
geo_crs = lazy_module("gridpatrol.geo.crs")  # its WGS84 is a pyproj CRS: pyproj on first use
metric_crs = lazy_import("gridpatrol.geo.crs", "metric_crs")
gpd = lazy_module("geopandas")
np = lazy_module("numpy")
pd = lazy_module("pandas")
shapely = lazy_module("shapely")
shape = lazy_import("shapely.geometry", "shape")
suppress_small_counts = lazy_import("gridpatrol.services.analysis", "suppress_small_counts")

#: The public incident layer: counts per grid or cell, never single incidents.
INCIDENTS_AGGREGATE = "incidents_aggregate"

#: Layers an embed may show, and the only columns it publishes of each.
PUBLIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "areas": ("code", "name", "level"),
    "grids": ("code", "name", "households"),
    "buildings": ("name", "use", "levels"),
    "cameras": ("camera_type", "direction", "fov", "range_m"),
    "streets": ("name", "highway"),
    "stations": ("name",),
}
EMBEDDABLE = (*PUBLIC_COLUMNS, INCIDENTS_AGGREGATE)

TOKEN_PREFIX = "gpe_"
#: Largest number of cells an area may span when incidents are counted per cell.
MAX_CELLS = 20_000


class EmbedTokenError(GridPatrolError):
    """A token is missing, unknown, expired or revoked (``reason`` says which)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ScopeError(GridPatrolError):
    """A valid token asked for a layer or an area outside its scope."""


@dataclass(frozen=True)
class TokenScope:
    """What a valid token may read."""

    token_id: str
    label: str
    layers: tuple[str, ...]
    area: shapely.Geometry  # WGS84
    area_code: str
    incident_unit: str
    cell_m: float


def new_token() -> str:
    """A fresh token: a prefix and 32 random bytes, URL-safe base64."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# -- area ---------------------------------------------------------------------------------


def resolve_area(store: Store, area: Any) -> tuple[shapely.Geometry, str]:
    """The WGS84 polygon of ``area`` and the code it came from ('' for drawn areas).

    ``area`` is a bbox ``[min lon, min lat, max lon, max lat]``, a GeoJSON Polygon or
    MultiPolygon (or a Feature holding one), or the code of an area or active grid.
    """
    if isinstance(area, str):
        code = area.strip()
        found = store.read("areas", where={"code": code})
        if found.empty:
            version = int(store.get_setting("active_grid_version", 1))
            found = store.read("grids", where={"version": version, "code": code})
        if found.empty:
            raise NotFoundError(f"no area or active grid has the code {code!r}")
        return shapely.union_all(found.geometry.values), code
    if isinstance(area, Sequence) and not isinstance(area, (str, bytes)):
        try:
            box = [float(v) for v in area]
        except (TypeError, ValueError):
            box = []
        if len(box) != 4 or box[0] >= box[2] or box[1] >= box[3]:
            raise SchemaError(
                f"area bbox {list(area)!r} must be [min lon, min lat, max lon, max lat] "
                "with min < max"
            )
        if not (
            -180 <= box[0] <= 180
            and -180 <= box[2] <= 180
            and -90 <= box[1] <= 90
            and -90 <= box[3] <= 90
        ):
            raise SchemaError(f"area bbox {box!r} is not longitude/latitude (WGS84)")
        return shapely.box(*box), ""
    if isinstance(area, Mapping):
        geometry = area.get("geometry") if area.get("type") == "Feature" else area
        try:
            geom = shape(geometry)
        except Exception as exc:  # shapely raises several types for bad GeoJSON
            raise InvalidGeometryError(f"area is not a GeoJSON geometry ({exc})") from None
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            raise InvalidGeometryError(
                f"area must be a Polygon or MultiPolygon, got {geom.geom_type}"
            )
        if not geom.is_valid:
            raise InvalidGeometryError(f"area is not valid ({shapely.is_valid_reason(geom)})")
        return geom, ""
    raise SchemaError("area must be a bbox [w, s, e, n], a GeoJSON polygon or an area code")


# -- tokens -------------------------------------------------------------------------------


def create_token(
    store: Store,
    *,
    layers: Iterable[str],
    area: Any,
    label: str = "",
    expires_at: pd.Timestamp | None = None,
    incident_unit: str = "grid",
    cell_m: float = 250.0,
    created_by: str = "",
    now: pd.Timestamp | None = None,
) -> tuple[str, dict]:
    """Make a token; return the plain token (shown once) and its stored record.

    Raises
    ------
    SchemaError
        Unknown layers, an expiry in the past, a bad unit or too many cells.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    wanted = list(dict.fromkeys(layers))
    unknown = [name for name in wanted if name not in EMBEDDABLE]
    if not wanted or unknown:
        raise SchemaError(
            f"embed layers {unknown or wanted!r} are not embeddable; "
            f"choose from {', '.join(EMBEDDABLE)} "
            "(single incidents are never embedded: use incidents_aggregate)"
        )
    if incident_unit not in ("grid", "cell"):
        raise SchemaError(f"incident_unit {incident_unit!r} must be grid or cell")
    if not 50 <= cell_m <= 5000:
        raise SchemaError(f"cell_m {cell_m} must be between 50 and 5000 metres")
    if expires_at is not None:
        expires_at = pd.Timestamp(expires_at)
        if expires_at.tzinfo is None:
            raise SchemaError("expires_at needs a time zone, e.g. 2027-01-01T00:00:00Z")
        if expires_at <= now:
            raise SchemaError(f"expires_at {expires_at.isoformat()} is in the past")
    # The area is read and the token written in one transaction: a token never covers
    # an area code that another writer changed between the two.
    with store.transaction():
        geom, code = resolve_area(store, area)
        if INCIDENTS_AGGREGATE in wanted and incident_unit == "cell":
            metric = gpd.GeoSeries([geom], crs=geo_crs.WGS84)
            metric = metric.to_crs(metric_crs(gpd.GeoDataFrame(geometry=metric)))
            minx, miny, maxx, maxy = metric.total_bounds
            cells = (np.floor(maxx / cell_m) - np.floor(minx / cell_m) + 1) * (
                np.floor(maxy / cell_m) - np.floor(miny / cell_m) + 1
            )
            if cells > MAX_CELLS:
                raise SchemaError(
                    f"the area spans {int(cells)} cells of {cell_m:g} m (at most {MAX_CELLS}): "
                    "use larger cells, a smaller area or incident_unit=grid"
                )
        token = new_token()
        record = {
            "token_id": secrets.token_hex(8),
            "token_hash": hash_token(token),
            "label": label,
            "layers": json.dumps(wanted),
            "area_code": code,
            "incident_unit": incident_unit,
            "cell_m": float(cell_m),
            "created_at": now,
            "created_by": created_by,
            "expires_at": expires_at,
            "revoked_at": None,
        }
        frame = gpd.GeoDataFrame([record], geometry=[geom], crs=geo_crs.WGS84)
        store.write({"embed_tokens": frame}, mode="append", source="embed token")
        return token, public_record(
            store.read("embed_tokens", where={"token_id": record["token_id"]}).iloc[0]
        )


def public_record(row: pd.Series) -> dict:
    """A stored token as shown to admins: scope and times, no hash."""

    def when(value) -> str | None:
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()

    geom = row["geometry"]
    return {
        "id": row["token_id"],
        "label": row["label"],
        "layers": json.loads(row["layers"]) if row["layers"] else [],
        "area_code": row["area_code"] or None,
        "area_bbox": [round(float(v), 6) for v in geom.bounds],
        "incident_unit": row["incident_unit"],
        "cell_m": float(row["cell_m"]),
        "created_at": when(row["created_at"]),
        "created_by": row["created_by"],
        "expires_at": when(row["expires_at"]),
        "revoked_at": when(row["revoked_at"]),
    }


def list_tokens(store: Store) -> list[dict]:
    """Every token, newest first, without secrets."""
    rows = store.read("embed_tokens")
    if rows.empty:
        return []
    rows = rows.sort_values("created_at", ascending=False)
    return [public_record(row) for _, row in rows.iterrows()]


def revoke_token(store: Store, token_id: str, *, now: pd.Timestamp | None = None) -> dict:
    """Revoke a token (again is harmless: the first time is kept).

    Raises
    ------
    NotFoundError
        No token has this id.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    with store.transaction():
        store.lock("embed_tokens", where={"token_id": token_id})
        rows = store.read("embed_tokens", where={"token_id": token_id})
        if rows.empty:
            raise NotFoundError(f"no embed token has the id {token_id!r}")
        if pd.isna(rows["revoked_at"].iloc[0]):
            rows["revoked_at"] = now
            store.write({"embed_tokens": rows}, mode="upsert", source="embed token")
        return public_record(store.read("embed_tokens", where={"token_id": token_id}).iloc[0])


def resolve_token(
    store: Store, token: str | None, *, now: pd.Timestamp | None = None
) -> TokenScope:
    """The scope of a valid token.

    Raises
    ------
    EmbedTokenError
        ``reason`` is missing, unknown, expired or revoked.
    """
    if not token:
        raise EmbedTokenError(
            "an embed token is required: open the embed as /embed/map#token=... or send the "
            "X-Embed-Token header",
            reason="missing",
        )
    rows = store.read("embed_tokens", where={"token_hash": hash_token(token)})
    if rows.empty:
        raise EmbedTokenError(
            "this embed token is not known: ask for a new embed code", reason="unknown"
        )
    row = rows.iloc[0]
    now = now or pd.Timestamp.now(tz="UTC")
    if not pd.isna(row["revoked_at"]):
        raise EmbedTokenError(
            f"this embed token was revoked on {row['revoked_at']:%Y-%m-%d}: "
            "ask for a new embed code",
            reason="revoked",
        )
    if not pd.isna(row["expires_at"]) and row["expires_at"] <= now:
        raise EmbedTokenError(
            f"this embed token expired on {row['expires_at']:%Y-%m-%d}: ask for a new embed code",
            reason="expired",
        )
    return TokenScope(
        token_id=row["token_id"],
        label=row["label"],
        layers=tuple(json.loads(row["layers"]) if row["layers"] else ()),
        area=row["geometry"],
        area_code=row["area_code"],
        incident_unit=row["incident_unit"],
        cell_m=float(row["cell_m"]),
    )


# -- scoped reads -------------------------------------------------------------------------


def check_scope(scope: TokenScope, layer: str, bbox: BBox | None) -> shapely.Geometry:
    """The part of the token's area to read (within ``bbox`` if given).

    Raises
    ------
    ScopeError
        The layer is not one of the token's, or ``bbox`` does not meet its area.
    """
    if layer not in scope.layers:
        raise ScopeError(
            f"layer {layer!r} is outside this embed token's scope; "
            f"it may read {', '.join(scope.layers)}"
        )
    if bbox is None:
        return scope.area
    window = shapely.box(*bbox)
    if not shapely.intersects(window, scope.area) or shapely.touches(window, scope.area):
        lo = ", ".join(f"{v:.5f}" for v in scope.area.bounds)
        raise ScopeError(
            f"bbox {','.join(f'{v:g}' for v in bbox)} is outside this embed token's area ({lo})"
        )
    return scope.area


def read_scoped(
    store: Store,
    scope: TokenScope,
    layer: str,
    *,
    bbox: BBox | None = None,
    limit: int | None = None,
) -> gpd.GeoDataFrame:
    """``layer``'s public columns, features meeting the area (and bbox), clipped to the area."""
    if layer == INCIDENTS_AGGREGATE:
        raise SchemaError("incidents_aggregate is read with incident_counts")
    area = check_scope(scope, layer, bbox)
    where: dict[str, Any] = {}
    if layer == "grids":
        where["version"] = int(store.get_setting("active_grid_version", 1))
    elif layer == "streets":
        where["network"] = "walk"
    window = area if bbox is None else shapely.intersection(area, shapely.box(*bbox))
    gdf = store.read(layer, bbox=tuple(window.bounds), where=where)
    if layer == "streets" and len(gdf):
        # A two-way street is two directed edges; publish it once.
        pair = np.sort(gdf[["u", "v"]].to_numpy(), axis=1)
        gdf = gdf.assign(a=pair[:, 0], b=pair[:, 1]).drop_duplicates(["a", "b", "key"])
    geoms = gdf.geometry.values
    keep = shapely.intersects(geoms, window) & ~shapely.touches(geoms, window)
    gdf = gdf[keep]
    if limit is not None:
        gdf = gdf.iloc[:limit]
    out = gpd.GeoDataFrame(
        gdf[list(PUBLIC_COLUMNS[layer])].reset_index(drop=True),
        geometry=shapely.intersection(gdf.geometry.values, area),
        crs=geo_crs.WGS84,
    )
    return out[~out.geometry.is_empty]


def incident_counts(
    store: Store,
    scope: TokenScope,
    *,
    bbox: BBox | None = None,
    min_count: int = 5,
) -> gpd.GeoDataFrame:
    """Incidents in the token's area counted per grid or per cell, small counts suppressed.

    Returns units (grids clipped to the area, or square cells) with ``unit``, ``code``,
    ``name``, ``count`` (None when below ``min_count``), ``count_text`` (the number, or
    ``"<k"``) and ``suppressed``. Every unit of the area is returned (a bbox only picks
    units), including empty ones, so the presence of a unit says nothing.
    """
    area = check_scope(scope, INCIDENTS_AGGREGATE, bbox)
    min_count = max(int(min_count), 1)
    incidents = store.read("incidents", bbox=tuple(area.bounds))
    inside = (
        incidents[shapely.covers(area, incidents.geometry.values)] if len(incidents) else incidents
    )
    if scope.incident_unit == "cell":
        units, counts = _cells(area, inside, scope.cell_m)
    else:
        version = int(store.get_setting("active_grid_version", 1))
        grids = store.read("grids", where={"version": version}, bbox=tuple(area.bounds))
        clipped = shapely.intersection(grids.geometry.values, area)
        keep = shapely.area(clipped) > 0
        units = gpd.GeoDataFrame(
            {
                "unit": "grid",
                "code": grids["code"].to_numpy()[keep],
                "name": grids["name"].to_numpy()[keep],
            },
            geometry=clipped[keep],
            crs=geo_crs.WGS84,
        )
        mine = inside[inside["grid_version"] == version]
        per_grid = mine.groupby("grid_code").size()
        counts = per_grid.reindex(units["code"]).fillna(0).astype(int).to_numpy()
    if bbox is not None:
        pick = shapely.intersects(units.geometry.values, shapely.box(*bbox))
        units, counts = units[pick], counts[pick]
    units = suppress_small_counts(
        units.assign(count=counts), column="count", min_count=min_count, text="count_text"
    )
    return units[
        ["unit", "code", "name", "count", "count_text", "suppressed", "geometry"]
    ].reset_index(drop=True)


def _cells(area: shapely.Geometry, incidents: gpd.GeoDataFrame, cell_m: float):
    """Square cells (fixed to multiples of ``cell_m`` in the area's UTM zone) meeting the area."""
    area_s = gpd.GeoSeries([area], crs=geo_crs.WGS84)
    crs = metric_crs(gpd.GeoDataFrame(geometry=area_s))
    area_m = area_s.to_crs(crs).iloc[0]
    minx, miny, maxx, maxy = area_m.bounds
    ix = np.arange(np.floor(minx / cell_m), np.floor(maxx / cell_m) + 1)
    iy = np.arange(np.floor(miny / cell_m), np.floor(maxy / cell_m) + 1)
    gx, gy = (a.ravel() for a in np.meshgrid(ix, iy))
    boxes = shapely.box(gx * cell_m, gy * cell_m, (gx + 1) * cell_m, (gy + 1) * cell_m)
    clipped = shapely.intersection(boxes, area_m)
    keep = shapely.area(clipped) > 0
    gx, gy, clipped = gx[keep].astype(int), gy[keep].astype(int), clipped[keep]
    counts = np.zeros(len(clipped), dtype=int)
    if len(incidents):
        pts = incidents.geometry.to_crs(crs)
        px = np.floor(pts.x.to_numpy() / cell_m).astype(int)
        py = np.floor(pts.y.to_numpy() / cell_m).astype(int)
        lookup = {(a, b): i for i, (a, b) in enumerate(zip(gx, gy, strict=True))}
        for a, b in zip(px, py, strict=True):
            i = lookup.get((a, b))
            if i is not None:
                counts[i] += 1
    codes = [f"{cell_m:g}m:{a}:{b}" for a, b in zip(gx, gy, strict=True)]
    units = gpd.GeoDataFrame(
        {"unit": "cell", "code": codes, "name": ""},
        geometry=gpd.GeoSeries(clipped, crs=crs).to_crs(geo_crs.WGS84).values,
        crs=geo_crs.WGS84,
    )
    return units, counts
