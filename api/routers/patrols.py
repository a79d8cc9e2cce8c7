"""Patrol plans: request a plan, read it, download GPX, check a walked track."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from gridpatrol.api.auth import PrincipalDep
from gridpatrol.api.deps import StoreDep
from gridpatrol.api.schemas import ComplianceOut, PlanRequestIn, to_feature_collection
from gridpatrol.geo.errors import InputFileError, NotFoundError
from gridpatrol.lazy import lazy_module

# imported on first use, so the service answers before they load (gridpatrol.lazy)
access = lazy_module("gridpatrol.services.access")
service = lazy_module("gridpatrol.services.patrols")

router = APIRouter(prefix="/api/patrols", tags=["patrols"])

MAX_GPX_BYTES = 20_000_000


def _plan_body(store, plan_id: str) -> dict:
    meta, routes = service.get_plan(store, plan_id)
    meta["routes"] = to_feature_collection(routes.drop(columns=["steps", "stops", "edges"]))
    return meta


@router.post("", status_code=201)
def create_plan(request: PlanRequestIn, store: StoreDep, who: PrincipalDep) -> dict:
    """Solve a balanced plan (min-max k-route street coverage) and store it."""
    access.check_plan_area(who, area_code=request.area_code, area=request.area)
    plan_id = service.plan_patrols(store, service.PlanRequest(**request.model_dump()))
    return _plan_body(store, plan_id)


@router.get("")
def list_plans(store: StoreDep) -> list[dict]:
    plans = store.read("patrol_plans")
    return [
        {
            "plan_id": r["plan_id"],
            "name": r["name"],
            "station_id": r["station_id"],
            "created_at": r["created_at"].isoformat(),
        }
        for r in plans.to_dict("records")
    ]


@router.get("/{plan_id}")
def get_plan(plan_id: str, store: StoreDep) -> dict:
    """The plan: request, balance summary, coverage and each team's route as GeoJSON."""
    return _plan_body(store, plan_id)


def _route(store, plan_id: str, team_id: str, day: int, shift: str | None = None):
    where = {"plan_id": plan_id, "team_id": team_id, "day": day}
    if shift is not None:
        where["shift"] = shift
    routes = store.read("patrol_routes", where=where)
    if routes.empty:
        in_shift = f" in shift {shift!r}" if shift is not None else ""
        raise NotFoundError(
            f"plan {plan_id!r} has no route for team {team_id!r} on day {day}{in_shift}"
        )
    return routes


@router.get("/{plan_id}/teams/{team_id}/route.gpx", response_class=Response)
def route_gpx(
    plan_id: str,
    team_id: str,
    store: StoreDep,
    day: Annotated[int, Query(ge=1)] = 1,
    shift: Annotated[str | None, Query(description="one shift (default: all)")] = None,
) -> Response:
    """The team's route as GPX 1.1 (a track in walking order, station and dwell waypoints)."""
    import json

    routes = _route(store, plan_id, team_id, day, shift)
    parts = []
    sorties = routes.groupby("shift", dropna=False)["sortie"].transform("size")
    for row, n_sorties in zip(routes.itertuples(), sorties, strict=True):
        stops = json.loads(row.stops or "[]")
        label = f"{team_id} day {day}"
        if row.shift:
            label += f" {row.shift} from {row.start_time}"
        parts.append(
            service.route_to_gpx(
                row.geometry,
                name=label + (f" sortie {row.sortie + 1}" if n_sorties > 1 else ""),
                waypoints=[(s["lon"], s["lat"], s["name"]) for s in stops],
                description=f"{row.length_m / 1000:.2f} km, {row.minutes:.0f} min",
            )
        )
    body = parts[0]
    if len(parts) > 1:  # one track per sortie in one file
        import gpxpy

        merged = gpxpy.parse(parts[0])
        for extra in parts[1:]:
            merged.tracks.extend(gpxpy.parse(extra).tracks)
        body = merged.to_xml(version="1.1")
    return Response(
        body,
        media_type="application/gpx+xml",
        headers={"Content-Disposition": f'attachment; filename="{plan_id}-{team_id}-day{day}.gpx"'},
    )


@router.post("/{plan_id}/teams/{team_id}/compliance", response_model=ComplianceOut)
def compliance(
    plan_id: str,
    team_id: str,
    store: StoreDep,
    track: Annotated[UploadFile, File(description="the GPX recorded on the patrol")],
    day: Annotated[int, Query(ge=1)] = 1,
    max_distance_m: Annotated[float, Query(gt=0, le=100)] = 20.0,
) -> ComplianceOut:
    """Which planned streets the uploaded GPS track walked, and which it missed."""
    data = track.file.read(MAX_GPX_BYTES + 1)
    if len(data) > MAX_GPX_BYTES:
        raise InputFileError(f"{track.filename}: over {MAX_GPX_BYTES // 1_000_000} MB")
    points = service.read_gpx_track(data)
    report = service.check_route_compliance(
        store, plan_id, team_id, points, day=day, max_distance_m=max_distance_m
    )
    return ComplianceOut(
        planned_length_m=report.planned_length_m,
        walked_length_m=report.walked_length_m,
        walked_share=report.walked_share,
        n_streets=report.n_streets,
        n_walked=report.n_walked,
        track_length_m=report.track_length_m,
        off_plan_m=report.off_plan_m,
        missed=[m.to_dict() if hasattr(m, "to_dict") else asdict(m) for m in report.missed],
    )
