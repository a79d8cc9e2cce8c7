"""Patrol plans over a store: area and station to graph, hot spots to dwells, solve, save.

The solver (:class:`gridpatrol.geo.patrol.MinMaxRoutes`) works in metres; a dwell of m
minutes is given to it as the distance walked in m minutes, so the longest route it
balances is the longest in time, dwells included.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import shapely

from gridpatrol.geo.crs import WGS84
from gridpatrol.geo.errors import InfeasiblePlanError, NotFoundError, SchemaError
from gridpatrol.geo.hotspots import count_points, filter_incidents, gi_star, square_cells
from gridpatrol.geo.network import (
    edges_in_area,
    graph_from_layers,
    main_component,
    nearest_edges,
    nearest_node,
)
from gridpatrol.geo.patrol import MinMaxRoutes
from gridpatrol.geo.routes import route_geometry, route_stops, route_summary, turn_list

from .base import Store


@dataclass
class PlanRequest:
    """What a planner asks for. Areas are grid, community or street codes, or a polygon."""

    station_id: str
    teams: list[str] = field(default_factory=list)
    k: int | None = None
    area_code: str | None = None
    area: dict | None = None  # GeoJSON geometry (WGS84)
    network: str = "walk"
    speed_kmh: float = 4.0
    shift_minutes: float | None = None
    split_sorties: bool = False
    hotspots: bool = True
    hours: tuple[int, int] | None = None
    dwell_minutes: float = 12.0
    max_dwells: int = 4
    days: int = 1
    seed: int = 0
    time_limit_s: float = 10.0
    name: str = ""


def load_graph(store: Store, network: str) -> nx.MultiDiGraph:
    """The project's street graph for ``network``, projected to its metric CRS."""
    nodes = store.read("street_nodes", where={"network": network})
    edges = store.read("streets", where={"network": network})
    if edges.empty:
        raise NotFoundError(f"the project has no {network} network: import OSM data first")
    G = graph_from_layers(nodes, edges)
    return ox.project_graph(G, to_crs=store.metric_crs(edges))


def area_polygon(store: Store, request: PlanRequest, crs) -> shapely.Geometry | None:
    if request.area is not None:
        from shapely.geometry import shape

        try:
            geom = shape(request.area)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise SchemaError(f"area is not a GeoJSON geometry ({exc})") from exc
        return gpd.GeoSeries([geom], crs=WGS84).to_crs(crs).iloc[0]
    if request.area_code:
        for layer, where in (
            (
                "grids",
                {
                    "code": request.area_code,
                    "version": int(store.get_setting("active_grid_version", 1)),
                },
            ),
            ("areas", {"code": request.area_code}),
        ):
            found = store.read(layer, where=where)
            if len(found):
                return found.to_crs(crs).geometry.iloc[0]
        raise NotFoundError(f"no grid or area with code {request.area_code!r}")
    return None


def hot_spot_points(
    store: Store, area, crs, *, hours, max_points: int
) -> list[tuple[float, float]]:
    """Centres of Gi* hot cells (100 m) inside ``area`` for the shift's hours, hottest first."""
    incidents = store.read("incidents")
    if len(incidents) < 10:
        return []
    tz = store.get_setting("timezone") or "UTC"
    incidents = filter_incidents(incidents, hours=hours, tz=tz) if hours else incidents
    pts = incidents.to_crs(crs)
    if area is not None:
        pts = pts[pts.within(area)]
    if len(pts) < 10:
        return []
    bounds = area.bounds if area is not None else pts.total_bounds
    cells = square_cells(bounds, cell_size=100.0, crs=crs)
    if len(cells) < 3:
        return []
    hs = gi_star(cells, count_points(cells, pts), permutations=999, seed=0).units
    hot = hs[(hs["hotspot"] == "hot") & (hs["count"] > 0)].sort_values("gi_z", ascending=False)
    centres = hot.geometry.centroid.iloc[:max_points]
    return list(zip(centres.x, centres.y, strict=True))


def plan_patrols(store: Store, request: PlanRequest) -> str:
    """Solve and store a plan; returns its id.

    Raises
    ------
    NotFoundError
        Unknown station, area or team.
    InfeasiblePlanError
        No required street in the area, or the solver cannot plan.
    """
    stations = store.read("stations", where={"station_id": request.station_id})
    if stations.empty:
        raise NotFoundError(f"no station {request.station_id!r}")
    teams = list(request.teams)
    if not teams:
        all_teams = store.read("teams", where={"station_id": request.station_id})
        teams = all_teams["team_id"].tolist()[: request.k or len(all_teams)]
    if request.k is not None and len(teams) < request.k:
        teams += [f"team-{i + 1}" for i in range(len(teams), request.k)]
    if not teams:
        raise InfeasiblePlanError("no teams: give k, or add teams to the station")
    if request.days < 1 or request.days > 14:
        raise SchemaError("days must be between 1 and 14")
    G = load_graph(store, request.network)
    crs = G.graph["crs"]
    area = area_polygon(store, request, crs)
    required = (
        edges_in_area(G, area) if area is not None else [tuple(e) for e in G.edges(keys=True)]
    )
    if not required:
        raise InfeasiblePlanError("no streets of the network lie in this area")
    station = stations.to_crs(crs).geometry.iloc[0]
    depot = nearest_node(G, station.x, station.y, among=main_component(G, required))
    speed_m_per_min = request.speed_kmh * 1000.0 / 60.0
    dwell_points = (
        hot_spot_points(store, area, crs, hours=request.hours, max_points=request.max_dwells)
        if request.hotspots
        else []
    )
    dwell_edges = list(
        dict.fromkeys(
            nearest_edges(
                G, [p[0] for p in dwell_points], [p[1] for p in dwell_points], candidates=required
            )
        )
    )
    service = {e: request.dwell_minutes * speed_m_per_min for e in dwell_edges}
    solver = MinMaxRoutes.from_graph(
        G, depot=depot, k=len(teams), required=required, service=service
    )
    shift_m = None if request.shift_minutes is None else request.shift_minutes * speed_m_per_min
    kwargs = dict(seed=request.seed, shift=shift_m, split_sorties=request.split_sorties)
    if request.days == 1:
        plans = [solver.solve(time_limit=request.time_limit_s, **kwargs)]
    else:
        plans = solver.rotations(request.days, time_limit=request.time_limit_s, **kwargs)
    plan_id = uuid.uuid4().hex[:12]
    rows, day_summaries = [], []
    # the solver names a two-way street by one of its arcs: compare by its ids
    dwell_set = {solver.street_id(e) for e in dwell_edges}
    for day, plan in enumerate(plans, start=1):
        for r in plan.routes:
            dwells = [(e, request.dwell_minutes, "hot spot") for e in r.served if e in dwell_set]
            dwells = _dwells_on_route(r.edges, dwells)
            summary = route_summary(G, r.edges, speed_kmh=request.speed_kmh, dwells=dwells)
            steps = turn_list(G, r.edges, speed_kmh=request.speed_kmh, dwells=dwells)
            stops = route_stops(G, r.edges, dwells=dwells)
            rows.append(
                {
                    "plan_id": plan_id,
                    "day": day,
                    "team_id": teams[r.team],
                    "sortie": r.sortie,
                    "length_m": summary.length_m,
                    "minutes": summary.total_minutes,
                    "dwell_minutes": summary.dwell_minutes,
                    "deadhead_m": r.deadhead_cost,
                    "over_shift": r.over_shift,
                    "steps": json.dumps([s.to_dict() for s in steps], default=str),
                    "stops": json.dumps([asdict(s) for s in stops], default=str),
                    "edges": json.dumps([[_plain(u), _plain(v), _plain(k)] for u, v, k in r.edges]),
                    "network": request.network,
                    "geometry": route_geometry(G, r.edges, to_crs=WGS84),
                }
            )
        minutes = [row["minutes"] for row in rows if row["day"] == day]
        day_summaries.append(
            {
                "day": day,
                "longest_minutes": max(minutes),
                "shortest_minutes": min(minutes),
                "longest_m": _longest_m(rows, day),
                "total_deadhead_m": plan.total_deadhead,
                "coverage": plan.coverage,
                "over_shift_teams": [teams[t] for t in plan.over_shift],
                "lower_bound_m": plan.lower_bound,
                "seconds": plan.seconds,
                "stopped_by": plan.stopped_by,
            }
        )
    summary = {
        "teams": teams,
        "depot_node": int(depot) if isinstance(depot, (int, np.integer)) else str(depot),
        "required_streets": len(required),
        "unreachable_streets": [list(map(_plain, e)) for e in plans[0].unreachable],
        "dwell_streets": len(dwell_edges),
        "days": day_summaries,
        "notes": []
        if dwell_points or not request.hotspots
        else ["no significant hot spot in this area and time slot: no dwell stops"],
    }
    routes = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=WGS84)
    plan_row = pd.DataFrame(
        {
            "plan_id": [plan_id],
            "name": [request.name],
            "created_at": [pd.Timestamp.now(tz="UTC")],
            "station_id": [request.station_id],
            "request": [json.dumps(asdict(request), default=str)],
            "summary": [json.dumps(summary, default=str)],
        }
    )
    store.write(
        {"patrol_plans": plan_row, "patrol_routes": routes}, mode="append", source="patrol plan"
    )
    return plan_id


def _longest_m(rows: list[dict], day: int) -> float:
    return max(row["length_m"] for row in rows if row["day"] == day)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _dwells_on_route(edges: list[tuple], dwells: list[tuple]) -> list[tuple]:
    """Dwell specs for geo.routes: the edge as walked (either direction) with minutes."""
    out = []
    walked = {(u, v) for u, v, _ in edges} | {(v, u) for u, v, _ in edges}
    for edge, minutes, label in dwells:
        if (edge[0], edge[1]) in walked:
            out.append((edge, minutes, label))
    return out


def get_plan(store: Store, plan_id: str) -> tuple[dict, gpd.GeoDataFrame]:
    plans = store.read("patrol_plans", where={"plan_id": plan_id})
    if plans.empty:
        raise NotFoundError(f"no patrol plan {plan_id!r}")
    row = plans.iloc[0]
    meta = {
        "plan_id": plan_id,
        "name": row["name"],
        "station_id": row["station_id"],
        "created_at": row["created_at"].isoformat()
        if row["created_at"] == row["created_at"]
        else None,
        "request": json.loads(row["request"]),
        "summary": json.loads(row["summary"]),
    }
    return meta, store.read("patrol_routes", where={"plan_id": plan_id})


def check_route_compliance(
    store: Store,
    plan_id: str,
    team_id: str,
    track: gpd.GeoDataFrame,
    *,
    day: int = 1,
    max_distance_m: float = 20.0,
):
    """Which planned streets of a team's route a GPS track (WGS84 points) walked."""
    from gridpatrol.geo.compliance import check_compliance

    routes = store.read("patrol_routes", where={"plan_id": plan_id, "team_id": team_id, "day": day})
    if routes.empty:
        raise NotFoundError(f"plan {plan_id!r} has no route for team {team_id!r} on day {day}")
    G = load_graph(store, routes["network"].iloc[0])
    planned = [tuple(e) for edges in routes["edges"] for e in json.loads(edges)]
    return check_compliance(G, planned, track.to_crs(G.graph["crs"]), max_distance_m=max_distance_m)
