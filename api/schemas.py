"""Input and output shapes. Spatial output is RFC 7946 GeoJSON in WGS84."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from gridpatrol.lazy import lazy_module

# imported on first use, so the service answers before they load (gridpatrol.lazy)
gpd = lazy_module("geopandas")
pd = lazy_module("pandas")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    store: str
    schema_version: int


class LayerInfo(BaseModel):
    name: str
    description: str
    geometry_types: list[str]
    count: int
    columns: dict[str, str]


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """A page of features; ``numberMatched`` counts all, ``links`` has the next page."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    numberMatched: int | None = None
    numberReturned: int = 0
    links: list[dict[str, str]] = Field(default_factory=list)


def to_feature_collection(gdf: gpd.GeoDataFrame, *, id_column: str | None = None) -> dict:
    """A WGS84 GeoDataFrame as an RFC 7946 FeatureCollection dict (datetimes as ISO text)."""
    gdf = gdf.copy()
    for col in gdf.columns:
        if col != gdf.geometry.name and pd.api.types.is_datetime64_any_dtype(gdf[col]):
            gdf[col] = [None if pd.isna(v) else v.isoformat() for v in gdf[col]]
    data = json.loads(gdf.to_json(na="null", show_bbox=False, drop_id=True, to_wgs84=True))
    if id_column is not None:
        for feature, value in zip(data["features"], gdf[id_column], strict=True):
            feature["id"] = value
    data["numberReturned"] = len(data["features"])
    return data


# -- incidents ---------------------------------------------------------------------------


class Location(BaseModel):
    """Coordinates and the CRS they are in (phone apps in China send gcj02)."""

    lon: float = Field(description="longitude, or x in a projected CRS")
    lat: float = Field(description="latitude, or y in a projected CRS")
    crs: str = Field("wgs84", description="wgs84, gcj02, bd09 or EPSG:n")


#: Ids: no control characters (NUL...) and no bidirectional overrides (U+202A-E, U+2066-9).
SAFE_ID = r"^[^\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]+$"


def check_time(value: str) -> str:
    """An ISO 8601 time with a zone, between 1970 and 2200 (naive times are refused:
    they would be read in the server's zone)."""
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: add one, e.g. +08:00 or Z")
    if not 1970 <= parsed.year <= 2200:
        raise ValueError(f"{value!r} is out of range (years 1970 to 2200)")
    return value


class IncidentCreate(BaseModel):
    """One incident report. Give a location, or an address matched to a building."""

    incident_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=SAFE_ID,
        description="your id; resending it updates (no control or direction characters)",
    )
    reported_at: str = Field(
        description="ISO 8601 time with a time zone, e.g. 2026-11-20T09:00:00+08:00"
    )

    @field_validator("reported_at")
    @classmethod
    def _aware_time(cls, value: str) -> str:
        return check_time(value)

    category: str = Field(description="taxonomy key, name or alias (GET /api/incidents/categories)")
    description: str = Field("", max_length=5000)
    source: str = Field("app", max_length=50)
    reporter_role: str = Field("", max_length=50)
    location: Location | None = None
    address: str = Field("", max_length=500)

    def to_row(self) -> dict:
        row = self.model_dump(exclude={"location"})
        if self.location is not None:
            row.update(lon=self.location.lon, lat=self.location.lat, crs=self.location.crs)
        return row


class RejectedRow(BaseModel):
    row: int
    incident_id: str | None
    reason: str


class IngestReport(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    rejected: list[RejectedRow]
    snapped: list[str]
    unassigned: list[str]


class IncidentAction(BaseModel):
    action: Literal["assign", "start", "resolve", "verify", "reopen", "escalate", "comment"]
    actor: str = Field(
        "",
        max_length=100,
        description="who did it, if not the token's holder (kept beside the token's name)",
    )
    note: str = Field("", max_length=2000)


class IncidentEvent(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    from_status: str
    to_status: str
    detail: dict


class GridFigures(BaseModel):
    grid_code: str
    incidents: int | None = Field(
        description="None when below the small-count threshold for clients without "
        "incident details (anonymous, viewer)"
    )
    closed: int | None
    share_closed_in_grid: float | None
    share_closed_on_time: float | None
    median_hours_to_close: float | None
    suppressed: bool = False


def features_to_gdf(body: dict, *, source: str = "request body") -> gpd.GeoDataFrame:
    """A GeoJSON FeatureCollection (WGS84) as a GeoDataFrame; clear errors for bad input."""
    from shapely.errors import GEOSException
    from shapely.geometry import shape

    from gridpatrol.geo.errors import InvalidGeometryError, SchemaError

    if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
        raise SchemaError(f"{source}: expected a GeoJSON FeatureCollection")
    features = body.get("features")
    if not isinstance(features, list):
        raise SchemaError(f"{source}: 'features' must be a list")
    if not features:
        raise SchemaError(f"{source}: the FeatureCollection has no features")
    rows, geoms = [], []
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise SchemaError(f"{source}: feature {i} is not a GeoJSON Feature")
        try:
            geoms.append(shape(feature.get("geometry")))
        except (GEOSException, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            raise InvalidGeometryError(
                f"{source}: feature {i}: unreadable geometry ({exc})"
            ) from exc
        x0, y0, x1, y1 = geoms[-1].bounds if not geoms[-1].is_empty else (0, 0, 0, 0)
        if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            raise InvalidGeometryError(
                f"{source}: feature {i}: coordinates outside longitude/latitude range "
                "(GeoJSON is WGS84 lon, lat)"
            )
        props = dict(feature.get("properties") or {})
        if "id" in feature and "code" not in props:
            props["code"] = feature["id"]
        rows.append(props)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=4326)


class GridVersionOut(BaseModel):
    version: int
    name: str
    status: str
    revision: int
    created_at: str | None
    note: str
    grids: int


class DraftCreate(BaseModel):
    name: str = Field("", max_length=200)
    note: str = Field("", max_length=2000)
    copy_of: int | None = Field(None, description="start from this version's grids")
    grids: dict | None = Field(None, description="or a GeoJSON FeatureCollection of grids")


# -- patrols -----------------------------------------------------------------------------


class PlanRequestIn(BaseModel):
    """A patrol plan request: which area, which station and teams, which shift."""

    station_id: str
    k: int | None = Field(
        None, ge=1, le=50, description="number of teams (default: the station's teams)"
    )
    teams: list[str] = Field(default_factory=list, max_length=50)
    area_code: str | None = Field(None, description="a grid, community or street code")
    area: dict | None = Field(None, description="or a GeoJSON polygon (WGS84)")
    network: Literal["walk", "drive"] = "walk"
    speed_kmh: float = Field(4.0, gt=0.5, le=80)
    shift_minutes: float | None = Field(None, gt=0, le=24 * 60)
    split_sorties: bool = False
    hotspots: bool = Field(True, description="dwell at incident hot spots of the time slot")
    hours: tuple[int, int] | None = Field(
        None, description="the shift's local hours, e.g. [18, 22]"
    )
    dwell_minutes: float = Field(
        12.0, ge=0, le=60, description="10-16 min is what evidence supports"
    )
    max_dwells: int = Field(4, ge=0, le=50)
    days: int = Field(1, ge=1, le=14, description="rotation: different plans for n days")
    cycle: bool = Field(
        False,
        description="a cycle: each team's route cut into one shift a day (shift_minutes, "
        "default 90), hot spots and camera blind spots in every shift, the other streets "
        "once per cycle",
    )
    cycle_days: int = Field(7, ge=1, le=60, description="the cycle's target length in days")
    seed: int = 0
    shifts: list[dict[str, str]] | None = Field(
        None,
        max_length=6,
        description='shifts of the day, each {"name", "start": "HH:MM", "end": "HH:MM"}: '
        "own balanced routes, hot spots of its hours (instead of `hours`), its length as "
        "the route limit (or shift_minutes if shorter)",
    )
    stagger_minutes: float = Field(
        0.0, ge=0, le=240, description="with shifts: team i starts i x stagger after the start"
    )
    required_streets: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="street names to walk (default: all); other streets are connectors",
    )
    required_highways: list[str] = Field(
        default_factory=list,
        max_length=50,
        description='OSM highway types to walk, e.g. ["residential", "living_street"]',
    )
    camera_blind_spots: bool | None = Field(
        None,
        description="streets no camera sees with incidents near them are walked on every "
        "day and shift, blind public areas become dwell stops (default: on when the project "
        "has cameras)",
    )
    time_limit_s: float = Field(10.0, gt=0, le=120, description="for all shifts together")
    name: str = Field("", max_length=200)
    territories: bool = Field(
        True,
        description="each team walks its own compact territory around its station, so "
        "routes of different teams do not interleave (the plan reports each team's share "
        "of walking inside another's territory); false: one balanced plan over all streets "
        "(all teams at station_id)",
    )
    team_stations: dict[str, str] = Field(
        default_factory=dict,
        max_length=50,
        description="team id -> station id the team starts from (default: the team's own "
        "station, else station_id); teams at different stations need territories",
    )


class ComplianceOut(BaseModel):
    planned_length_m: float
    walked_length_m: float
    walked_share: float
    n_streets: int
    n_walked: int
    track_length_m: float
    off_plan_m: float
    missed: list[dict]


class ProposalRequest(BaseModel):
    community_codes: list[str] = Field(min_length=1, max_length=200)
    band: tuple[int, int] = (300, 500)
    n_grids: int | None = Field(None, ge=1, le=999)
    seed: int = 0
    alternatives: int = Field(1, ge=1, le=10)
    weight: Literal["households", "incidents"] = "households"
    locked_codes: list[str] = Field(default_factory=list)
    save: bool = Field(False, description="save the best proposal as a draft version")
    name: str = ""
