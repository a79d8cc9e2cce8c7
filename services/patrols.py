"""Patrol plans over a store: area and station to graph, hot spots to dwells, solve, save.

The solver (:class:`gridpatrol.geo.patrol.MinMaxRoutes`) works in metres; a dwell of m
minutes is given to it as the distance walked in m minutes, so the longest route it
balances is the longest in time, dwells included.

Over 600 lines because one plan request gathers several inputs (hot spots, camera blind
spots, stations per team, shifts) around one solve; the cycle summary
(:func:`plan_cycle`) and the territory summary are the next pieces to move out.
"""

from __future__ import annotations

import difflib
import json
import uuid
from dataclasses import asdict, dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridpatrol.geo.crs import WGS84
from gridpatrol.geo.errors import InfeasiblePlanError, NotFoundError, SchemaError
from gridpatrol.geo.hotspots import filter_incidents, hot_spots, square_cells
from gridpatrol.geo.network import (
    edges_in_area,
    graph_from_layers,
    main_component,
    nearest_edges,
    nearest_node,
    unreachable_streets,
)
from gridpatrol.geo.patrol import MinMaxRoutes
from gridpatrol.geo.patrol.interleave import interleave_shares, territory_hulls
from gridpatrol.geo.walks import route_geometry, route_stops, route_summary, turn_list
from gridpatrol.store.base import Store
from gridpatrol.store.gpx import read_gpx_track, route_to_gpx  # noqa: F401 (re-exported)

from .project import project_settings


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
    # a cycle: each team's route cut into one sortie a day that fits the shift (default
    # 90 min), priority streets (hot spots, camera blind spots) in every sortie, the
    # others once per cycle; cycle_days is the target, lengthened (and said) if too short
    cycle: bool = False
    cycle_days: int = 7
    seed: int = 0
    time_limit_s: float = 10.0  # for all shifts together
    name: str = ""
    # [{"name": "morning", "start": "08:00", "end": "10:00"}, ...]; None: one shift as above
    shifts: list[dict] | None = None
    stagger_minutes: float = 0.0  # with shifts: team i starts i * stagger after the start
    required_streets: list[str] = field(default_factory=list)  # names; empty: every street
    required_highways: list[str] = field(default_factory=list)  # OSM highway types
    # None: on when the project has cameras.  Streets no camera sees with incidents near
    # them are required on every day and shift; blind public areas become dwell stops.
    camera_blind_spots: bool | None = None
    # each team its own territory around its station, routes that do not interleave
    territories: bool = True
    # team id -> station id (default: the team's own station, else station_id)
    team_stations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Shift:
    """One shift of a plan: its name, local start (minutes after midnight), length."""

    name: str
    start_min: int
    minutes: float | None
    hours: tuple[int, int] | None

    @property
    def start(self) -> str:
        return _hhmm(self.start_min)


def _hhmm(minutes: float) -> str:
    m = int(round(minutes)) % (24 * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


def _parse_time(value, what: str) -> int:
    try:
        hh, mm = str(value).split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise SchemaError(f"{what} must be HH:MM, got {value!r}") from None
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise SchemaError(f"{what} must be HH:MM between 00:00 and 23:59, got {value!r}")
    return h * 60 + m


def plan_shifts(request: PlanRequest, *, n_teams: int) -> list[Shift]:
    """The request's shifts, validated; one unnamed shift when it gives none.

    A shift may pass midnight (22:00-06:00).  Its hot-spot hours are the local hours it
    touches; its length is the route limit (the smaller one if ``shift_minutes`` is given).
    """
    if not request.shifts:
        if request.stagger_minutes:
            raise SchemaError("stagger_minutes needs shifts with a start time")
        return [Shift("", 0, request.shift_minutes, request.hours)]
    out, names = [], set()
    for i, spec in enumerate(request.shifts):
        if not isinstance(spec, dict) or not {"name", "start", "end"} <= set(spec):
            raise SchemaError(f"shift {i + 1} must have name, start and end (HH:MM), got {spec!r}")
        name = str(spec["name"]).strip()
        if not name or name in names:
            raise SchemaError(f"shift {i + 1}: the name must be non-empty and unique, got {name!r}")
        names.add(name)
        start = _parse_time(spec["start"], f"shift {name!r} start")
        end = _parse_time(spec["end"], f"shift {name!r} end")
        length = (end - start) % (24 * 60)
        if length == 0:
            raise SchemaError(f"shift {name!r} starts and ends at {spec['start']}")
        if request.stagger_minutes * (n_teams - 1) >= length:
            raise SchemaError(
                f"shift {name!r} lasts {length} min: too short for a "
                f"{request.stagger_minutes:g} min stagger of {n_teams} teams"
            )
        last_hour = -(-(start + length) // 60)  # the hour the shift ends in, exclusive
        hours = None if length >= 23 * 60 else (start // 60, last_hour % 24)
        minutes = float(length)
        if request.shift_minutes is not None:
            minutes = min(minutes, request.shift_minutes)
        out.append(Shift(name, start, minutes, hours))
    return out


def load_graph(store: Store, network: str) -> nx.MultiDiGraph:
    """The project's street graph for ``network``, projected to its metric CRS."""
    nodes = store.read("street_nodes", where={"network": network})
    edges = store.read("streets", where={"network": network})
    if edges.empty:
        raise NotFoundError(f"the project has no {network} network: import OSM data first")
    G = graph_from_layers(nodes, edges)
    import osmnx as ox  # lazy: osmnx pulls in sklearn, seconds of server start-up

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
                    "version": project_settings(store).active_grid_version,
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
    tz = project_settings(store).tz
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
    hs = hot_spots(cells, pts, permutations=999, seed=0).units
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
    if request.cycle and request.days != 1:
        raise SchemaError(
            "a cycle plan makes its own days (one shift a team a day): leave days at 1"
        )
    if request.cycle and not 1 <= request.cycle_days <= 60:
        raise SchemaError("cycle_days must be between 1 and 60 (7: every street once a week)")
    shifts = plan_shifts(request, n_teams=len(teams))
    G = load_graph(store, request.network)
    crs = G.graph["crs"]
    area = area_polygon(store, request, crs)
    required = (
        edges_in_area(G, area) if area is not None else [tuple(e) for e in G.edges(keys=True)]
    )
    if not required:
        raise InfeasiblePlanError("no streets of the network lie in this area")
    in_area = required
    required = required_subset(
        G, required, streets=request.required_streets, highways=request.required_highways
    )
    blind = camera_blind_spots(store, request, G, in_area, area)
    required = list(dict.fromkeys([*required, *blind["edges"]]))
    station = stations.to_crs(crs).geometry.iloc[0]
    depot = nearest_node(G, station.x, station.y, among=main_component(G, required))
    depots, team_station = team_depots(store, request, teams, G, required, crs, depot)
    speed_m_per_min = request.speed_kmh * 1000.0 / 60.0
    plan_id = uuid.uuid4().hex[:12]
    rows, day_summaries, shift_summaries, all_dwell_edges = [], [], [], set()
    unreachable, cycles = [], []
    territories = None
    for shift in shifts:
        dwell_points = (
            hot_spot_points(store, area, crs, hours=shift.hours, max_points=request.max_dwells)
            if request.hotspots
            else []
        )
        dwell_edges = list(
            dict.fromkeys(
                nearest_edges(
                    G,
                    [p[0] for p in dwell_points],
                    [p[1] for p in dwell_points],
                    candidates=required,
                )
            )
        )
        blind_dwells = (
            nearest_edges(
                G,
                [p[0] for p in blind["points"]],
                [p[1] for p in blind["points"]],
                candidates=required,
            )
            if blind["points"]
            else []
        )
        hot = set(dwell_edges)
        blind_dwells = [e for e in dict.fromkeys(blind_dwells) if e not in hot]
        all_dwell_edges |= set(dwell_edges) | set(blind_dwells)
        service = {
            e: request.dwell_minutes * speed_m_per_min for e in [*dwell_edges, *blind_dwells]
        }
        solver = MinMaxRoutes.from_graph(
            G, depot=depot, k=len(teams), required=required, service=service, depots=depots
        )
        offsets = [i * request.stagger_minutes for i in range(len(teams))]
        shift_m = (
            None
            if shift.minutes is None
            else [(shift.minutes - off) * speed_m_per_min for off in offsets]
        )
        kwargs = dict(
            seed=request.seed,
            shift=shift_m,
            split_sorties=request.split_sorties,
            territories=request.territories,
        )
        time_limit = request.time_limit_s / len(shifts)
        if request.cycle:
            every = [*dwell_edges, *blind_dwells, *blind["edges"]]
            plans, cycle = plan_cycle(
                G,
                solver,
                request,
                teams,
                shift_m,
                every_shift=every,
                time_limit=time_limit,
                territories=request.territories,
            )
            cycles.append({"shift": shift.name, **cycle})
        elif request.days == 1:
            plans = [solver.solve(time_limit=time_limit, **kwargs)]
        else:
            plans = solver.rotations(request.days, time_limit=time_limit, **kwargs)
        unreachable = plans[0].unreachable
        if territories is None:  # the first shift's territories, drawn on the plan page
            territories = territory_summary(G, plans[0], teams, team_station)
        shift_summaries.append(
            {
                "name": shift.name,
                "start": shift.start if shift.name else None,
                "limit_minutes": shift.minutes,
                "hours": list(shift.hours) if shift.hours else None,
                "stagger_minutes": request.stagger_minutes,
                "dwell_streets": len(dwell_edges) + len(blind_dwells),
                "notes": []
                if dwell_points or not request.hotspots
                else ["no significant hot spot in this area and time slot: no dwell stops"],
            }
        )
        # the solver names a two-way street by one of its arcs: compare by its ids
        dwell_set = {solver.street_id(e): "camera blind spot" for e in blind_dwells}
        dwell_set |= {solver.street_id(e): "hot spot" for e in dwell_edges}
        for day, plan in enumerate(plans, start=1):
            shift_rows = _route_rows(
                G, plan, request, teams, dwell_set, plan_id=plan_id, day=day, shift=shift
            )
            rows += shift_rows
            minutes = [row["minutes"] for row in shift_rows]
            day_summaries.append(
                {
                    "day": day,
                    "shift": shift.name,
                    "longest_minutes": max(minutes),
                    "shortest_minutes": min(minutes),
                    "longest_m": max(row["length_m"] for row in shift_rows),
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
        "unreachable_streets": [list(map(_plain, e)) for e in unreachable],
        # drawn on the plan page with the reason (GeoJSON, WGS84)
        "unreachable_geojson": json.loads(
            unreachable_streets(G, list(unreachable), depot)
            .drop(columns=["u", "v", "key"])
            .to_crs(WGS84)
            .to_json()
        ),
        "dwell_streets": len(all_dwell_edges),
        "territories": territories if request.territories else None,
        "camera_blind_spots": blind["summary"],
        "days": day_summaries,
        "notes": sorted({n for sh in shift_summaries for n in sh["notes"]} | set(blind["notes"])),
    }
    if request.shifts:
        summary["shifts"] = shift_summaries
    if cycles:
        summary["cycle"] = cycles[0] if len(cycles) == 1 else cycles
        summary["notes"] = sorted(set(summary["notes"]) | {n for c in cycles for n in c["notes"]})
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


#: Shift length of a cycle plan when the request gives none (minutes, dwells included).
CYCLE_SHIFT_MINUTES = 90.0


def plan_cycle(
    G: nx.MultiDiGraph,
    solver: MinMaxRoutes,
    request: PlanRequest,
    teams: list[str],
    shift_m: list[float] | None,
    *,
    every_shift: list[tuple],
    time_limit: float,
    **solve_options,
) -> tuple[list, dict]:
    """One k-route plan cut into a cycle of shifts: the plan of each day, and a summary.

    Each team's route is cut into sorties that fit its shift (walk from and back to the
    station and dwells included), one a day; ``every_shift`` streets (hot spots, camera
    blind spots, most important first) are walked in every sortie, the others once per
    cycle.  Streets too far from the station to walk there and back within a shift are
    reported (``beyond_shift_streets``), not planned.

    Returns
    -------
    plans : list of Plan
        Day 1, 2, ...: each team's sortie of that day (``sortie`` 0).
    summary : dict
        ``days`` (to full coverage), ``target_days``, ``lengthened``, ``shift_minutes``,
        per team ``shifts``, ``km_per_shift``, ``minutes_per_shift``,
        ``days_to_full_coverage``; ``beyond_shift_streets``, ``every_shift_streets``,
        ``every_shift_rotated``, ``coverage`` and ``notes``.
    """
    from dataclasses import replace

    m_per_min = request.speed_kmh * 1000.0 / 60.0
    limit = shift_m if shift_m is not None else CYCLE_SHIFT_MINUTES * m_per_min
    plan = solver.solve(seed=request.seed, time_limit=time_limit, **solve_options)
    cut = solver.cut_into_shifts(plan, shift=limit, every_shift=every_shift)
    n_days = max(cut.days, default=0)
    plans, seen = [], set()
    n_tasks = max(1, len({e for r in plan.routes for e in r.served}))
    for day in range(n_days):
        routes = [replace(r, sortie=0) for r in cut.routes if r.sortie == day]
        seen |= {e for r in routes for e in r.served}
        costs = [r.cost for r in routes] or [0.0]
        plans.append(
            replace(
                cut,
                routes=routes,
                longest=max(costs),
                shortest=min(costs),
                total_cost=float(sum(costs)),
                total_deadhead=float(sum(r.deadhead_cost for r in routes)),
                coverage=len(seen) / n_tasks,  # share of the streets walked by this day
                over_shift=sorted({r.team for r in routes if r.over_shift}),
            )
        )
    per_team = []
    for t, team in enumerate(teams):
        mine = sorted((r for r in cut.routes if r.team == t), key=lambda r: r.sortie)
        dwell = [sum(solver.service.get(e, 0.0) for e in r.served) for r in mine]
        per_team.append(
            {
                "team": team,
                "shifts": len(mine),
                "days_to_full_coverage": len(mine),
                "km_per_shift": [
                    round((r.cost - d) / 1000.0, 3) for r, d in zip(mine, dwell, strict=True)
                ],
                "minutes_per_shift": [round(r.cost / m_per_min, 1) for r in mine],
            }
        )
    minutes = CYCLE_SHIFT_MINUTES if shift_m is None else round(max(shift_m) / m_per_min, 1)
    notes = []
    if n_days > request.cycle_days:
        notes.append(
            f"the cycle lasts {n_days} days, not {request.cycle_days}: {len(teams)} teams "
            f"cannot walk every street in {request.cycle_days} shifts of {minutes:g} min each "
            "(add teams, or a station nearer the far streets)"
        )
    if cut.beyond_shift:
        notes.append(
            f"{len(cut.beyond_shift)} streets are too far from the station to walk there and "
            f"back within a {minutes:g} min shift: they are not in the cycle"
        )
    if cut.every_shift_rotated:
        notes.append(
            f"{len(cut.every_shift_rotated)} priority streets did not fit in every shift "
            "(their own tour took more than half of it): they rotate with the others"
        )
    beyond = [list(map(_plain, e)) if isinstance(e, tuple) else e for e in cut.beyond_shift]
    return plans, {
        "days": n_days,
        "target_days": request.cycle_days,
        "lengthened": n_days > request.cycle_days,
        "shift_minutes": minutes,
        "teams": per_team,
        "beyond_shift_streets": beyond,
        "every_shift_streets": len({solver.street_id(e) for e in every_shift}),
        "every_shift_rotated": len(cut.every_shift_rotated),
        "coverage": cut.coverage,
        "notes": notes,
    }


def team_depots(store: Store, request: PlanRequest, teams, G, required, crs, depot):
    """Station node of each team: ``request.team_stations``, else the team's own station,
    else the request's; ``None`` when all start at the request's station."""
    known = store.read("teams")
    own = dict(zip(known["team_id"], known["station_id"], strict=True)) if len(known) else {}
    team_station = [request.team_stations.get(t) or own.get(t) or request.station_id for t in teams]
    unknown = set(request.team_stations) - set(teams)
    if unknown:
        raise NotFoundError(f"team_stations names teams not in the plan: {sorted(unknown)}")
    if set(team_station) == {request.station_id}:
        return None, team_station
    rows = store.read("stations")
    rows = rows[rows["station_id"].isin(set(team_station))].to_crs(crs)
    where = dict(zip(rows["station_id"], rows.geometry, strict=True))
    missing = set(team_station) - set(where)
    if missing:
        raise NotFoundError(
            f"no station {sorted(missing)[0]!r}: add it with gridpatrol station add"
        )
    among = main_component(G, required)
    node = {sid: nearest_node(G, p.x, p.y, among=among) for sid, p in where.items()}
    node[request.station_id] = depot
    return [node[sid] for sid in team_station], team_station


def territory_summary(G, plan, teams, team_station) -> dict:
    """Each team's territory hull (GeoJSON, WGS84), station and interleave share."""
    hulls = territory_hulls(G, plan)
    shares = interleave_shares(G, plan, hulls=hulls)
    inner = interleave_shares(G, plan, hulls=hulls, approach=False)
    frame = gpd.GeoDataFrame(
        {
            "team_id": teams,
            "station_id": team_station,
            "interleave_share": np.round(shares, 4),
            "interleave_share_inside": np.round(inner, 4),
        },
        geometry=[h if h is not None else shapely.Point() for h in hulls],
        crs=G.graph["crs"],
    )
    return {
        "interleave_share": dict(zip(teams, np.round(shares, 4).tolist(), strict=True)),
        "interleave_share_max": round(float(shares.max()), 4) if len(shares) else 0.0,
        "hulls_geojson": json.loads(frame[~frame.geometry.is_empty].to_crs(WGS84).to_json()),
    }


BLIND_SOURCE = (
    "camera coverage: streets no camera sees with incidents within 50 m are required on "
    "every day and shift; blind public areas are dwell stops"
)
NO_CAMERAS_PLAN_NOTE = (
    "the project has no cameras: no camera blind spots were used "
    "(import cameras to patrol the streets they do not see)"
)


def camera_blind_spots(
    store: Store, request: PlanRequest, G: nx.MultiDiGraph, in_area: list[tuple], area
) -> dict:
    """Camera blind spots for a plan: ``edges`` (blind streets with incidents, among
    ``in_area``), dwell ``points`` (x, y in the graph's CRS, inside ``area``), the
    ``summary`` block and ``notes`` for the plan summary.

    Off when ``request.camera_blind_spots`` is False; when it is None, on if the project
    has cameras.  A project without cameras plans normally, with a note saying so.
    """
    from . import cameras  # lazy: coverage pulls in the visibility code

    off = {"edges": [], "points": [], "notes": []}
    if request.camera_blind_spots is False:
        return off | {"summary": {"used": False}}
    if store.read("cameras").empty:
        return off | {
            "summary": {"used": False, "note": NO_CAMERAS_PLAN_NOTE},
            "notes": [NO_CAMERAS_PLAN_NOTE],
        }
    blind = cameras.blind_spots(store)
    streets = cameras.blind_street_priorities(store, blind=blind)
    if "network" in streets:
        streets = streets[streets["network"] == request.network]
    # the coverage keeps one row per two-way street: match either arc, by value
    arcs: dict[tuple, list[tuple]] = {}
    for e in in_area:
        u, v, k = (str(x) for x in e)
        arcs.setdefault((u, v, k), []).append(e)
        arcs.setdefault((v, u, k), []).append(e)
    edges = []
    for u, v, k in streets[["u", "v", "key"]].itertuples(index=False):
        edges += arcs.get((str(u), str(v), str(k)), [])
    edges = list(dict.fromkeys(edges))
    n_streets = len({tuple(sorted(map(str, e[:2]))) + (str(e[2]),) for e in edges})
    pts = cameras.blind_dwell_points(store, limit=request.max_dwells, blind=blind)
    pts = pts.to_crs(G.graph["crs"])
    if area is not None and len(pts):
        pts = pts[pts.within(area)]
    points = list(zip(pts.geometry.x, pts.geometry.y, strict=True))
    note = (
        f"{n_streets} blind streets with incidents and {len(points)} blind-area dwell "
        f"points from camera coverage"
    )
    return {
        "edges": edges,
        "points": points,
        "summary": {
            "used": True,
            "streets": n_streets,
            "dwell_points": len(points),
            "source": BLIND_SOURCE,
        },
        "notes": [note],
    }


def required_subset(
    G: nx.MultiDiGraph, edges: list[tuple], *, streets=(), highways=()
) -> list[tuple]:
    """The ``edges`` whose street name is in ``streets`` or highway type in ``highways``.

    Without either, all ``edges``.  The other streets stay in the graph as connectors.

    Raises
    ------
    SchemaError
        A name or type that no street of ``edges`` has; the message lists close matches.
    """
    if not streets and not highways:
        return edges

    def values(attr: str, e: tuple) -> set[str]:
        v = G.edges[e].get(attr)
        items = v if isinstance(v, list) else [v]
        return {str(x) for x in items if x is not None and x == x and str(x)}

    names = {e: values("name", e) for e in edges}
    types = {e: values("highway", e) for e in edges}
    for wanted, known, what in (
        (streets, set().union(*names.values()), "street name"),
        (highways, set().union(*types.values()), "highway type"),
    ):
        unknown = [w for w in wanted if w not in known]
        if unknown:
            hints = []
            for w in unknown:
                close = difflib.get_close_matches(w, sorted(known), n=3, cutoff=0.6)
                hints.append(f"{w!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
            raise SchemaError(
                f"unknown {what}{'s' if len(unknown) > 1 else ''} in this area: " + "; ".join(hints)
            )
    streets, highways = set(streets), set(highways)
    return [e for e in edges if names[e] & streets or types[e] & highways]


def _route_rows(
    G, plan, request: PlanRequest, teams: list[str], dwell_set, *, plan_id, day, shift: Shift
) -> list[dict]:
    rows = []
    elapsed: dict[int, float] = {}  # minutes into the shift at which a team's next sortie starts
    for r in sorted(plan.routes, key=lambda r: (r.team, r.sortie)):
        dwells = [(e, request.dwell_minutes, dwell_set[e]) for e in r.served if e in dwell_set]
        dwells = _dwells_on_route(r.edges, dwells)
        summary = route_summary(G, r.edges, speed_kmh=request.speed_kmh, dwells=dwells)
        steps = turn_list(G, r.edges, speed_kmh=request.speed_kmh, dwells=dwells)
        stops = route_stops(G, r.edges, dwells=dwells)
        offset = elapsed.get(r.team, r.team * request.stagger_minutes)
        elapsed[r.team] = offset + summary.total_minutes
        rows.append(
            {
                "plan_id": plan_id,
                "day": day,
                "shift": shift.name,
                "start_time": _hhmm(shift.start_min + offset) if shift.name else "",
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
    return rows


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _dwells_on_route(edges: list[tuple], dwells: list[tuple]) -> list[tuple]:
    """Dwell specs for geo.walks: the edge as walked (either direction) with minutes."""
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
