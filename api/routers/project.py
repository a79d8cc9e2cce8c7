"""Project settings, stations and teams: what a new city sets up before planning."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gridpatrol.api.deps import StoreDep
from gridpatrol.lazy import lazy_module
from gridpatrol.services.project import project_settings, update_project

# imported on first use, so the service answers before they load (gridpatrol.lazy)
pd = lazy_module("pandas")
setup = lazy_module("gridpatrol.services.setup")

router = APIRouter(prefix="/api", tags=["project"])


class ProjectIn(BaseModel):
    timezone: str | None = Field(None, description="IANA time zone for times without one")
    taxonomy: dict[str, Any] | None = Field(
        None, description="incident categories, the shape of data/categories.json"
    )
    name: str | None = None


def _project_out(store) -> dict:
    s = project_settings(store)
    return {
        "name": s.name,
        "timezone": s.timezone,
        "active_grid_version": s.active_grid_version,
        "taxonomy": s.taxonomy.to_dict(),
    }


@router.get("/project")
def get_project(store: StoreDep) -> dict:
    """The project's name, time zone, active grid version and incident categories."""
    return _project_out(store)


@router.put("/project")
def put_project(body: ProjectIn, store: StoreDep) -> dict:
    """Set the time zone, the incident categories or the name (only what is given)."""
    update_project(store, timezone=body.timezone, taxonomy=body.taxonomy, name=body.name)
    return _project_out(store)


class StationIn(BaseModel):
    station_id: str = Field(min_length=1, max_length=100)
    # strict: true/false are not coordinates (pydantic would read them as 1.0/0.0)
    lon: float = Field(strict=True, ge=-180, le=180)
    lat: float = Field(strict=True, ge=-90, le=90)
    name: str = ""
    crs: str | None = Field(None, description="wgs84 (default), gcj02, bd09 or EPSG:n")


@router.post("/stations", status_code=201)
def add_station(body: StationIn, store: StoreDep) -> dict:
    """Create or move a patrol station."""
    return setup.add_station(
        store, body.station_id, lon=body.lon, lat=body.lat, name=body.name, crs=body.crs
    )


class TeamIn(BaseModel):
    team_id: str = Field(min_length=1, max_length=100)
    station_id: str = Field(min_length=1, max_length=100)
    name: str = ""
    members: int = Field(10, ge=1)
    speed_kmh: float = Field(4.0, gt=0)
    shift_minutes: float = Field(120.0, gt=0)
    mode: str = Field("walk", pattern="^(walk|drive)$")


@router.post("/teams", status_code=201)
def add_teams(body: list[TeamIn], store: StoreDep) -> dict:
    """Create or update teams (a list); every station must exist."""
    n = setup.add_teams(store, pd.DataFrame([t.model_dump() for t in body]))
    return {"saved": n}
