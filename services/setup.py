"""Setting up a city: stations, teams, and a whole project from one OSM extract.

Each function is one write use case in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from gridpatrol.geo.crs import WGS84, project
from gridpatrol.geo.errors import NotFoundError, SchemaError
from gridpatrol.store.base import Store

#: Codes of the frame ``init_city`` draws around an extract (district/street/community).
DISTRICT_CODE = "000001"
STREET_CODE = DISTRICT_CODE + "001"
COMMUNITY_CODE = STREET_CODE + "001"


def add_station(
    store: Store,
    station_id: str,
    *,
    lon: float,
    lat: float,
    name: str = "",
    crs: str | None = None,
) -> dict:
    """Create or move a patrol station at (lon, lat) (WGS84 unless ``crs``).

    Returns the stored row (station_id, name, grid_code, lon, lat).
    """
    from gridpatrol.geo.crs import to_wgs84

    pt = gpd.GeoDataFrame(geometry=[shapely.Point(float(lon), float(lat))], crs=None)
    pt = to_wgs84(pt, crs=crs or "wgs84")
    geom = pt.geometry.iloc[0]
    grid_code = ""
    with store.transaction():
        from .project import project_settings

        version = project_settings(store).active_grid_version
        grids = store.read("grids", where={"version": version})
        if len(grids):
            hit = grids[grids.contains(geom)]
            grid_code = str(hit["code"].iloc[0]) if len(hit) else ""
        row = gpd.GeoDataFrame(
            {"station_id": [station_id], "name": [name], "grid_code": [grid_code]},
            geometry=[geom],
            crs=WGS84,
        )
        store.write({"stations": row}, mode="upsert", source=f"station {station_id}")
    return {
        "station_id": station_id,
        "name": name,
        "grid_code": grid_code,
        "lon": round(geom.x, 7),
        "lat": round(geom.y, 7),
    }


def add_teams(store: Store, teams: pd.DataFrame) -> int:
    """Create or update teams (team_id, station_id, and optional name, members,
    speed_kmh, shift_minutes, mode); every station must exist. Returns rows written.
    """
    if "team_id" not in teams or "station_id" not in teams:
        raise SchemaError("teams need team_id and station_id columns")
    with store.transaction():
        known = set(store.read("stations")["station_id"])
        unknown = sorted(set(teams["station_id"].astype(str)) - known)
        if unknown:
            raise NotFoundError(
                f"no station {', '.join(unknown)}: add it first (gridpatrol station add)"
            )
        written = store.write({"teams": teams}, mode="upsert", source="teams")
    return written["teams"]


def read_teams_file(path: str | Path) -> pd.DataFrame:
    """Teams from a CSV or JSON file (one row per team)."""
    from gridpatrol.geo.errors import InputFileError

    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            df = pd.read_json(path, dtype={"team_id": str, "station_id": str})
        else:
            df = pd.read_csv(path, dtype={"team_id": str, "station_id": str})
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read teams from it ({exc})") from exc
    return df


@dataclass
class InitResult:
    """What :func:`init_city` did."""

    written: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    version: int | None = None
    n_grids: int = 0
    station_id: str | None = None


def init_city(
    store: Store,
    path: str | Path,
    *,
    band: tuple[int, int] = (300, 500),
    name: str = "",
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
    crs: str | None = None,
    columns: dict[str, str] | None = None,
    id_columns: list[str] | None = None,
) -> InitResult:
    """Set up a project from an OSM extract: import its layers, draw a frame
    (district/street/community) around the built-up area, propose grids balanced by
    households along streets, save and activate them as grid version 1, and place a
    station at the street node nearest the middle.

    What the extract lacks is skipped with a note (no buildings: no grids proposed).
    ``path`` may also be a file of building footprints (GeoJSON, GeoPackage, zipped
    Shapefile, GeoParquet, CSV with WKT), read with ``crs``, ``columns`` and
    ``id_columns`` as in :func:`gridpatrol.store.files.load_layer_file`; households are
    estimated from footprint and levels.
    """
    from gridpatrol.store.osm import OSMData, read_osm

    from .grid_versions import activate, propose

    progress = progress or (lambda step: None)
    if Path(path).name.lower().endswith((".pbf", ".osm", ".osm.bz2", ".xml", ".xml.bz2")):
        data = read_osm(path, progress=progress)
    else:
        from gridpatrol.geo.buildings import estimate_households
        from gridpatrol.geo.model import empty_layer
        from gridpatrol.store.files import load_layer_file

        progress("buildings")
        buildings = load_layer_file(
            path, "buildings", crs=crs, columns=columns, id_columns=id_columns
        )
        file_notes = list(buildings.attrs.get("notes", []))
        if not (buildings["households"] > 0).any():  # the file gives none: estimate all
            estimated = estimate_households(project(buildings.assign(households=float("nan"))))
            buildings["households"] = estimated["households"].to_numpy()
            buildings["households_estimated"] = estimated["households_estimated"].to_numpy()
        data = OSMData(buildings, empty_layer("addresses"), empty_layer("cameras"))
        data.check(str(path))
        data.notes = file_notes + data.notes
    out = InitResult(notes=list(data.notes))
    name = name or Path(path).name.split(".")[0]
    layers = data.layers()
    frame = None
    if len(data.buildings):
        buildings_m = project(data.buildings)
        metric = buildings_m.crs
        hull = shapely.concave_hull(shapely.union_all(buildings_m.geometry.values), ratio=0.3)
        geom = shapely.buffer(hull, 25.0, join_style="mitre")
        rows = [
            (DISTRICT_CODE, f"{name} (district)", "district", "", 10.0),
            (STREET_CODE, f"{name} (street)", "street", DISTRICT_CODE, 5.0),
            (COMMUNITY_CODE, f"{name} (community)", "community", STREET_CODE, 0.0),
        ]
        frame = gpd.GeoDataFrame(
            {
                "code": [r[0] for r in rows],
                "name": [r[1] for r in rows],
                "level": [r[2] for r in rows],
                "parent_code": [r[3] for r in rows],
            },
            geometry=[shapely.buffer(geom, r[4], join_style="mitre") for r in rows],
            crs=metric,
        )
        layers["areas"] = frame
    progress("writing the store")
    with store.transaction():
        out.written = store.write(layers, mode="replace", source=str(path))
        store.set_setting("bounds", list(data.bounds))
        store.set_setting("name", name)
        if frame is not None:
            store.set_setting("metric_crs", frame.crs.to_string())
    if frame is None:
        out.notes.append(
            "no grids proposed (no buildings to balance): import grids with "
            "`gridpatrol import grids FILE --code COLUMN`"
        )
    else:
        progress("proposing grids")
        proposals = propose(store, [COMMUNITY_CODE], band=band, seed=seed, save=True, name=name)
        out.version = proposals[0]["version"]
        out.n_grids = len(proposals[0]["grids"])
        progress("activating the grid version")
        activate(store, out.version, confirm=True)
    walk = data.networks.get("walk")
    if walk is not None and len(walk[0]):
        nodes = walk[0]
        nodes_m = project(nodes)
        centre = shapely.centroid(shapely.box(*nodes_m.total_bounds))
        if frame is not None:
            centre = frame.geometry.iloc[-1].centroid
        nearest = int(nodes_m.distance(centre).argmin())
        pt = nodes.geometry.iloc[nearest]
        add_station(store, "S1", lon=pt.x, lat=pt.y, name=f"{name} station")
        out.station_id = "S1"
    return out


def import_grid_layer(store: Store, grids: gpd.GeoDataFrame, *, source: str) -> dict[str, int]:
    """Write imported grids and, for a version the store does not know yet, its
    ``grid_versions`` row: active when the project has no active version, else a draft.
    """
    with store.transaction():
        written = store.write({"grids": grids}, mode="upsert", source=source)
        known = store.read("grid_versions")
        active = known["status"].eq("active").any()
        new = sorted(set(int(v) for v in grids["version"]) - set(known["version"].astype(int)))
        rows = []
        for v in new:
            status = "draft" if active or rows else "active"
            rows.append(
                {
                    "version": v,
                    "name": f"imported from {Path(source).name}",
                    "status": status,
                    "revision": 1,
                    "created_at": pd.Timestamp.now(tz="UTC"),
                    "note": "",
                }
            )
            if status == "active":
                from .project import set_active_version

                set_active_version(store, v)
        if rows:
            store.write({"grid_versions": pd.DataFrame(rows)}, mode="append", source=source)
    return written


def china_street_offset_note(
    store: Store, gdf: gpd.GeoDataFrame, *, source: str, max_vertices: int = 400
) -> str | None:
    """When WGS84 features inside China sit off the project's OSM streets but would sit
    on them as GCJ-02 (or BD-09), say so with the distances; None otherwise.

    The median distance from up to ``max_vertices`` feature vertices to the nearest walk
    street is compared as stored and as converted; a conversion must bring them at
    least 40 % closer and the stored distance must exceed 50 m.
    """
    import numpy as np

    from gridpatrol.geo.crs import to_wgs84
    from gridpatrol.store.files import china_warning

    if china_warning(gdf, source) is None:
        return None
    streets = store.read("streets", where={"network": "walk"})
    if streets.empty:
        return None
    coords = shapely.get_coordinates(
        gdf.geometry.boundary.where(
            ~gdf.geometry.geom_type.isin(["Point", "MultiPoint"]), gdf.geometry
        ).values
    )
    if not len(coords):
        return None
    step = max(1, len(coords) // max_vertices)
    pts = gpd.GeoDataFrame(geometry=shapely.points(coords[::step]), crs=WGS84)
    crs = store.metric_crs(streets)
    lines = streets.to_crs(crs)
    tree = shapely.STRtree(lines.geometry.values)

    def median_m(points: gpd.GeoDataFrame) -> float:
        geoms = points.to_crs(crs).geometry.values
        nearest = tree.query_nearest(geoms, return_distance=True)[1]
        return float(np.median(nearest))

    as_is = median_m(pts)
    for datum in ("gcj02", "bd09"):
        moved = median_m(to_wgs84(pts, crs=datum))
        if as_is > 50 and moved < 0.6 * as_is:
            return (
                f"{source}: stored as WGS84 these features sit a median {as_is:.0f} m from the "
                f"OSM streets, read as {datum.upper()} {moved:.0f} m: they are most likely "
                f"{datum.upper()}; import again with --crs {datum}"
            )
    return None
