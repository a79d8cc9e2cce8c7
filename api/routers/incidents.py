"""Incidents: reports in (one or a batch), assignment, dispatch actions, figures, hot spots."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from gridpatrol.api.auth import SeesDetailsDep, actor_label
from gridpatrol.api.deps import PageDep, SettingsDep, StoreDep
from gridpatrol.api.schemas import (
    Feature,
    FeatureCollection,
    GridFigures,
    IncidentAction,
    IncidentCreate,
    IncidentEvent,
    IngestReport,
    check_time,
    to_feature_collection,
)
from gridpatrol.geo.errors import SchemaError
from gridpatrol.lazy import lazy_import, lazy_module

# imported on first use, so the service answers before they load (gridpatrol.lazy)
gpd = lazy_module("geopandas")
pd = lazy_module("pandas")
analysis = lazy_module("gridpatrol.services.analysis")
service = lazy_module("gridpatrol.services.incidents")
REPORT_QUEUE = lazy_import("gridpatrol.services.report_queue", "REPORT_QUEUE")

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


def _report(result: service.IngestResult) -> IngestReport:
    return IngestReport(
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=[
            {
                "row": int(r["row"]),
                "incident_id": None if r["incident_id"] is None else str(r["incident_id"]),
                "reason": r["reason"],
            }
            for r in result.rejected
        ],
        snapped=result.snapped,
        unassigned=result.unassigned,
    )


def _rows_from_body(body: Any, crs: str) -> pd.DataFrame:
    """A JSON list of reports, or a GeoJSON FeatureCollection of points."""
    if isinstance(body, dict) and body.get("type") == "FeatureCollection":
        rows = []
        features = body.get("features")
        if not isinstance(features, list):
            raise SchemaError("'features' must be a list of GeoJSON Features")
        for i, feature in enumerate(features):
            if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
                raise SchemaError(f"feature {i}: not a GeoJSON Feature with a geometry object")
            geom = feature["geometry"]
            props = feature.get("properties") or {}
            if not isinstance(props, dict):
                raise SchemaError(f"feature {i}: 'properties' must be an object")
            props = dict(props)
            coords = geom.get("coordinates")
            if geom.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2:
                raise SchemaError(f"feature {i}: incidents must be Point geometries")
            if not isinstance(feature.get("id", ""), (str, int)) or isinstance(
                feature.get("id"), bool
            ):
                raise SchemaError(f"feature {i}: 'id' must be a string or a number")
            try:
                check_time(str(props.get("reported_at", "")))
            except ValueError as exc:
                raise SchemaError(f"feature {i}: reported_at: {exc}") from None
            props.setdefault("incident_id", feature.get("id"))
            props["lon"], props["lat"] = geom["coordinates"][:2]
            props.setdefault("crs", crs)
            rows.append(props)
        return pd.DataFrame(rows)
    if isinstance(body, list):
        return pd.DataFrame([IncidentCreate.model_validate(r).to_row() for r in body])
    raise SchemaError("send a JSON list of incidents or a GeoJSON FeatureCollection")


@router.post("", response_model=IngestReport, status_code=200, summary="Report one incident")
async def report_incident(incident: IncidentCreate, settings: SettingsDep) -> IngestReport:
    """Store one report (resending the same incident_id updates it).

    Reports arriving together are stored together (group commit, see
    :class:`gridpatrol.services.report_queue.ReportQueue`); each gets its own answer.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    def answer(result, error):
        def settle():
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

        loop.call_soon_threadsafe(settle)

    REPORT_QUEUE.submit(
        settings.database_url,
        incident.to_row(),
        callback=answer,
        processes=settings.cpu_processes,
    )
    return _report(await done)


@router.post("/batch", response_model=IngestReport, summary="Report many incidents")
def report_batch(
    store: StoreDep,
    body: Annotated[
        Any, Body(description="JSON list of incidents, or a GeoJSON FeatureCollection")
    ],
    partial: Annotated[
        bool, Query(description="store good rows, return bad ones with reasons")
    ] = False,
    crs: Annotated[str, Query(description="CRS of FeatureCollection coordinates")] = "wgs84",
) -> IngestReport:
    """A batch lands whole, or nothing lands (422 with every bad row) unless partial=true."""
    rows = _rows_from_body(body, crs)
    if rows.empty:
        raise SchemaError("the batch is empty")
    return _report(service.ingest_incidents(store, rows, partial=partial))


@router.get("", response_model=FeatureCollection, response_model_exclude_none=True)
def list_incidents(
    store: StoreDep,
    page: PageDep,
    status: str | None = None,
    grid_code: str | None = None,
    category: str | None = None,
) -> dict:
    """Incidents as GeoJSON (WGS84), filtered and paged."""
    where = {
        k: v
        for k, v in {"status": status, "grid_code": grid_code, "category": category}.items()
        if v
    }
    gdf = store.read("incidents", bbox=page.bbox, where=where, limit=page.limit, offset=page.offset)
    body = to_feature_collection(gdf, id_column="incident_id")
    body["numberMatched"] = store.count("incidents", bbox=page.bbox, where=where)
    return body


@router.get("/categories")
def categories(store: StoreDep) -> dict:
    """The project's incident taxonomy with its time limits."""
    tax = service.project_taxonomy(store)
    return {
        k: {
            "en": c.en,
            "zh": c.zh,
            "respond_minutes": c.respond_minutes,
            "close_hours": c.close_hours,
        }
        for k, c in tax.categories.items()
    }


@router.get("/figures", response_model=list[GridFigures])
def figures(store: StoreDep, details: SeesDetailsDep, settings: SettingsDep) -> list[GridFigures]:
    """Per grid: incidents, share closed at grid level, share closed on time, median hours.

    Without incident details (anonymous, viewer) counts below ``GRIDPATROL_EMBED_MIN_COUNT``
    and the figures derived from them are None."""
    table = analysis.incident_figures(store)
    if not details:
        table = analysis.suppress_small_counts(
            table,
            column="incidents",
            min_count=settings.embed_min_count,
            derived=(
                "closed",
                "share_closed_in_grid",
                "share_closed_on_time",
                "median_hours_to_close",
            ),
        )
    table = table.drop(columns="incidents_text", errors="ignore")
    table = table.astype(object).where(table.notna(), None)
    return [GridFigures(grid_code=code, **row) for code, row in table.to_dict("index").items()]


@router.post("/escalate", response_model=list[str])
def escalate(store: StoreDep) -> list[str]:
    """Escalate every open incident past its time limit now (also runs on a timer)."""
    return service.escalate_overdue(store)


def filtered_incidents(
    store: StoreDep,
    hours: Annotated[
        str | None,
        Query(
            pattern=r"^\d{1,2}-\d{1,2}$", description="local hours 'from-to', e.g. 18-23 or 22-6"
        ),
    ] = None,
    weekdays: Annotated[
        str | None, Query(pattern=r"^[0-6](,[0-6])*$", description="0=Mon..6=Sun, e.g. 4,5")
    ] = None,
    categories: Annotated[str | None, Query(description="category keys, comma-separated")] = None,
    start: Annotated[str | None, Query(description="first date (ISO)")] = None,
    end: Annotated[str | None, Query(description="day after the last (ISO)")] = None,
) -> Any:  # a GeoDataFrame; FastAPI evaluates this when the app is built: no geopandas then
    """The incidents a hot-spot or density request looks at (project-local hours and days)."""
    try:
        start_ts = pd.Timestamp(start) if start else None
        end_ts = pd.Timestamp(end) if end else None
    except ValueError as exc:
        raise SchemaError(f"start/end must be ISO dates ({exc})") from exc
    return analysis.select_incidents(
        store,
        hours=tuple(int(h) for h in hours.split("-")) if hours else None,
        weekdays=[int(d) for d in weekdays.split(",")] if weekdays else None,
        categories=categories.split(",") if categories else None,
        start=start_ts,
        end=end_ts,
    )


# Any, not gpd.GeoDataFrame: building the app must not import geopandas
FilteredDep = Annotated[Any, Depends(filtered_incidents)]
EMPTY = {"type": "FeatureCollection", "features": [], "numberReturned": 0}


@router.get("/hotspots", response_model=FeatureCollection, response_model_exclude_none=True)
def hotspots(
    store: StoreDep,
    points: FilteredDep,
    details: SeesDetailsDep,
    settings: SettingsDep,
    units: Annotated[str, Query(pattern="^(grids|cells)$")] = "grids",
    cell_size: Annotated[float, Query(gt=10, le=5000)] = 200.0,
    permutations: Annotated[int, Query(ge=99, le=9999)] = 999,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
) -> dict:
    """Getis-Ord Gi* hot and cold spots (FDR-controlled) per grid or on square cells."""
    out = analysis.hot_spots(
        store, points, units=units, cell_size=cell_size, permutations=permutations, alpha=alpha
    )
    if not details and "count" in out:
        out = analysis.suppress_small_counts(
            out, column="count", min_count=settings.embed_min_count
        )
    body = to_feature_collection(out)
    body["numberMatched"] = len(out)
    return body


@router.get("/density", response_model=FeatureCollection, response_model_exclude_none=True)
def density(
    store: StoreDep,
    points: FilteredDep,
    bandwidth: Annotated[float, Query(gt=0, le=5000)] = 150.0,
    cell_size: Annotated[float, Query(gt=1, le=1000)] = 25.0,
) -> dict:
    """Kernel density (incidents per km²) as cells above 5% of the peak."""
    cells = analysis.density_cells(store, points, bandwidth=bandwidth, cell_size=cell_size)
    return EMPTY if cells is None else to_feature_collection(cells)


@router.get("/{incident_id}", response_model=Feature, response_model_exclude_none=True)
def get_incident(incident_id: str, store: StoreDep) -> dict:
    """One incident as a GeoJSON Feature."""
    found = service.get_incident(store, incident_id)
    return to_feature_collection(found, id_column="incident_id")["features"][0]


@router.get("/{incident_id}/history", response_model=list[IncidentEvent])
def history(incident_id: str, store: StoreDep) -> list[IncidentEvent]:
    """Every change to the incident: who, when, what."""
    events = service.incident_history(store, incident_id)
    return [
        IncidentEvent(
            seq=int(e["seq"]),
            at=e["at"].isoformat(),
            actor=e["actor"],
            action=e["action"],
            from_status=e["from_status"],
            to_status=e["to_status"],
            detail=json.loads(e["detail"] or "{}"),
        )
        for e in events.to_dict("records")
    ]


@router.post("/{incident_id}/actions", response_model=Feature, response_model_exclude_none=True)
def take_action(
    incident_id: str, action: IncidentAction, store: StoreDep, request: Request
) -> dict:
    """Assign, start, resolve, verify, reopen, escalate or comment (409 if not allowed now).

    The history records the token that acted; ``actor`` (a worker's name typed by a
    dispatcher, say) is kept beside it, never instead of it. Answers the incident after
    the action, as a GeoJSON Feature (like GET).
    """
    # The token, not the body, says who acted: a client may claim any name.
    actor = actor_label(request)
    if action.actor and action.actor != actor:
        actor = f"{actor} for {action.actor}"
    service.act(store, incident_id, action.action, actor=actor, note=action.note)
    return get_incident(incident_id, store)
