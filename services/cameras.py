"""Cameras: import and edit with history, and what the cameras see.

Write use cases (one transaction each, camera rows and their ``camera_events`` together):
:func:`import_cameras` (CSV, GeoJSON, GeoPackage... with direction, angle, range,
height), :func:`edit_camera`, :func:`delete_camera`. An import with no cameras is valid.

Read use cases compute in the project's metric CRS and answer in WGS84:
:func:`camera_views` (fields of view cut into quality bands), :func:`coverage`,
:func:`blind_spots`, :func:`suggest_sites`, and :func:`blind_street_priorities` for the
patrol planner.

For the patrol planner (helper "patrol")::

    from gridpatrol.services.cameras import blind_street_priorities
    streets = blind_street_priorities(store, near_m=50, min_incidents=1)
    # DataFrame: network, u, v, key, name, length_m, seen_share, incidents, rank
    # -> make (u, v, key) required every shift
    dwell = blind_dwell_points(store, limit=10)
    # GeoDataFrame (WGS84) of points inside the largest / most incident-dense blind
    # public areas: area_code, area_m2, incidents, rank -> dwell points
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridpatrol.geo import coverage as cov
from gridpatrol.geo.cameras import (
    FOV_DEFAULT,
    HEIGHT_DEFAULT_M,
    RANGE_DEFAULT_M,
    fields_of_view,
    quality_bands,
)
from gridpatrol.geo.crs import WGS84, parse_crs, to_wgs84
from gridpatrol.geo.errors import InputFileError, NotFoundError, SchemaError
from gridpatrol.geo.siting import suggest_sites as _suggest
from gridpatrol.store.base import Store
from gridpatrol.store.files import read_vector_file

from .project import active_version

#: accepted spellings of the camera model's columns in imported files
ALIASES = {
    "source_id": ("source_id", "id", "camera_id", "name"),
    "direction": ("direction", "camera:direction", "bearing", "azimuth", "heading"),
    "fov": ("fov", "angle", "camera:fov", "angle_of_view", "hfov", "view_angle"),
    "range_m": ("range_m", "range", "camera:range", "distance"),
    "height_m": ("height_m", "height", "camera:height"),
    "tilt": ("tilt", "camera:angle", "pitch"),
    "camera_type": ("camera_type", "type", "camera:type"),
    "rotating": ("rotating", "revolving", "ptz"),
}
EDITABLE = ("direction", "fov", "range_m", "height_m", "tilt", "camera_type", "rotating", "zone")
LIMITS = {
    "fov": (1.0, 360.0),
    "range_m": (0.5, 500.0),
    "height_m": (0.0, 200.0),
    "tilt": (-90.0, 90.0),
    "direction": (0.0, 360.0),
}


# -- writes ---------------------------------------------------------------------------
def _read_table(source: str | Path, crs) -> gpd.GeoDataFrame:
    path = Path(source)
    if path.suffix.lower() != ".csv":
        return read_vector_file(path, crs=crs)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=["source_id", "lon", "lat"])
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read it as CSV ({exc})") from exc
    cols = {c.lower(): c for c in df.columns}
    xcol = next((cols[c] for c in ("lon", "lng", "longitude", "x") if c in cols), None)
    ycol = next((cols[c] for c in ("lat", "latitude", "y") if c in cols), None)
    if xcol is None or ycol is None:
        raise SchemaError(f"{path}: needs coordinate columns lon and lat (or x and y)")
    x = pd.to_numeric(df[xcol], errors="coerce").to_numpy(float)
    y = pd.to_numeric(df[ycol], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{path}: row {row + 2} has no usable {xcol}/{ycol}; fix or drop it")
    target = parse_crs(crs or "wgs84")
    gdf = gpd.GeoDataFrame(
        df.drop(columns=[xcol, ycol]),
        geometry=shapely.points(x, y),
        crs=None if isinstance(target, str) else target,
    )
    return to_wgs84(gdf, crs=target) if isinstance(target, str) else gdf


def _number(df: pd.DataFrame, col: str, name: str, source: str) -> np.ndarray:
    raw = df[col]
    values = np.array(pd.to_numeric(raw, errors="coerce"), dtype=float)
    given = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    bad = given & np.isnan(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{source}: {col}={raw.iloc[row]!r} in row {row} is not a number")
    lo, hi = LIMITS.get(name, (-np.inf, np.inf))
    out = ~np.isnan(values) & ((values < lo) | (values > hi))
    if out.any():
        row = int(np.flatnonzero(out)[0])
        raise SchemaError(f"{source}: {name}={values[row]} in row {row} is outside [{lo}, {hi}]")
    return values


def normalise_cameras(gdf: gpd.GeoDataFrame, *, source: str = "input") -> gpd.GeoDataFrame:
    """Map a table of cameras onto the camera model, with defaults flagged.

    Column names are matched through :data:`ALIASES`; missing values take the defaults
    of :mod:`gridpatrol.geo.cameras` and are listed in ``defaulted``.
    """
    cols = {c.lower(): c for c in gdf.columns if c != gdf.geometry.name}
    found = {k: next((cols[a] for a in v if a in cols), None) for k, v in ALIASES.items()}
    if found["source_id"] is None:
        if len(gdf):
            raise SchemaError(f"{source}: needs an id column (source_id, id or camera_id)")
        ids = np.array([], dtype=object)
    else:
        ids = gdf[found["source_id"]].astype(str).to_numpy()
    n = len(gdf)
    nan = np.full(n, np.nan)
    out = {"source_id": ids}
    for name in ("direction", "fov", "range_m", "height_m", "tilt"):
        out[name] = _number(gdf, found[name], name, source) if found[name] else nan.copy()
    ctype = np.array(
        gdf[found["camera_type"]].fillna("").astype(str).str.lower().str.strip()
        if found["camera_type"]
        else [""] * n,
        dtype=object,
    )
    if found["rotating"]:
        flag = gdf[found["rotating"]].astype(str).str.lower()
        rot = np.array(flag.isin(["yes", "true", "1"]), dtype=bool)
    else:
        rot = np.zeros(n, bool)
    defaulted = [[] for _ in range(n)]
    for i in range(n):
        if ctype[i] not in FOV_DEFAULT:
            ctype[i] = "fixed"
            defaulted[i].append("camera_type")
        rot[i] = rot[i] or ctype[i] == "panning"
        if np.isnan(out["direction"][i]):
            defaulted[i].append("direction")
        if np.isnan(out["fov"][i]):
            out["fov"][i] = 360.0 if rot[i] else FOV_DEFAULT[ctype[i]]
            defaulted[i].append("fov")
        if np.isnan(out["range_m"][i]):
            out["range_m"][i] = RANGE_DEFAULT_M
            defaulted[i].append("range_m")
        if np.isnan(out["height_m"][i]):
            out["height_m"][i] = HEIGHT_DEFAULT_M
            defaulted[i].append("height_m")
    out.update(camera_type=ctype, rotating=rot, defaulted=[",".join(d) for d in defaulted])
    zone = gdf[cols["zone"]].astype(str).to_numpy() if "zone" in cols else np.full(n, "")
    out["zone"] = zone
    return gpd.GeoDataFrame(out, geometry=gdf.geometry.values, crs=gdf.crs)


def _next_seq(store: Store, ids) -> dict[str, int]:
    if len(ids) == 0:
        return {}
    events = store.read("camera_events", where={"source_id": list(ids)})
    return events.groupby("source_id")["seq"].max().to_dict() if len(events) else {}


def _events(ids, seqs, actor: str, action: str, details) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame(
        {
            "source_id": list(ids),
            "seq": list(seqs),
            "at": [now] * len(ids),
            "actor": [actor] * len(ids),
            "action": [action] * len(ids),
            "detail": [json.dumps(d, default=str) for d in details],
        }
    )


def import_cameras(
    store: Store,
    source: str | Path | gpd.GeoDataFrame,
    *,
    crs=None,
    replace: bool = False,
    actor: str = "import",
) -> dict[str, Any]:
    """Import cameras from a file or frame; each camera's history records the import.

    Parameters
    ----------
    store
        The project.
    source
        CSV (``lon``/``lat`` or ``x``/``y`` plus ``crs``), GeoJSON, GeoPackage,
        Shapefile, GeoParquet, or a GeoDataFrame. Columns: an id (``source_id``/``id``),
        and any of direction, fov/angle, range, height, tilt, camera_type, rotating.
    crs
        CRS of the coordinates when the file has none (``EPSG:n``, ``gcj02``, ``bd09``).
    replace
        Delete every camera first (their history stays).
    actor
        Who imports, for the history.

    Returns
    -------
    ``{"imported": n, "defaulted": {field: count}, "note": ...}``; zero cameras is a
    valid import whose note says coverage will be 0.
    """
    label = "input" if isinstance(source, gpd.GeoDataFrame) else str(source)
    raw = source if isinstance(source, gpd.GeoDataFrame) else _read_table(source, crs)
    cams = normalise_cameras(raw, source=label)
    before = (
        store.read("cameras", where={"source_id": list(cams["source_id"])}) if len(cams) else None
    )
    old = {} if before is None else {r["source_id"]: r for r in before.to_dict("records")}
    seq = _next_seq(store, cams["source_id"])
    details = []
    for rec in cams.drop(columns="geometry").to_dict("records"):
        prev = old.get(rec["source_id"])
        details.append({"new": prev is None, **{k: rec[k] for k in EDITABLE if k in rec}})
    events = _events(
        cams["source_id"], [seq.get(i, 0) + 1 for i in cams["source_id"]], actor, "import", details
    )
    with store.transaction():
        if replace:
            store.delete("cameras", where={})
        if len(cams):
            store.write({"cameras": cams, "camera_events": events}, source=label)
    flags = pd.Series(",".join(cams["defaulted"]).split(",")).value_counts()
    return {
        "imported": int(len(cams)),
        "defaulted": {k: int(v) for k, v in flags.items() if k},
        "note": "" if len(cams) else cov.NO_CAMERAS_NOTE,
    }


def _camera(store: Store, source_id: str) -> gpd.GeoDataFrame:
    row = store.read("cameras", where={"source_id": source_id})
    if row.empty:
        raise NotFoundError(f"camera {source_id!r} does not exist: list them at /api/cameras")
    return row


def edit_camera(
    store: Store, source_id: str, changes: dict[str, Any], *, actor: str = "editor"
) -> dict[str, Any]:
    """Change a camera's direction, angle, range, height, tilt, type or position.

    ``changes`` may hold any of :data:`EDITABLE` plus ``lon``/``lat`` (WGS84) to move it.
    An edited field stops being ``defaulted``. Returns the camera as a dict.
    """
    row = _camera(store, source_id)
    unknown = set(changes) - set(EDITABLE) - {"lon", "lat"}
    if unknown:
        raise SchemaError(
            f"cannot edit {sorted(unknown)}; editable: {', '.join(EDITABLE)}, lon, lat"
        )
    if not changes:
        raise SchemaError("nothing to change: send at least one field")
    new = row.copy()
    detail: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("lon", "lat"):
            continue
        if name in LIMITS:
            lo, hi = LIMITS[name]
            try:
                value = float(value) if value is not None else np.nan
            except (TypeError, ValueError) as exc:
                raise SchemaError(f"{name}={value!r} is not a number") from exc
            if not np.isnan(value) and not lo <= value <= hi:
                raise SchemaError(f"{name}={value} is outside [{lo}, {hi}]")
        if name == "camera_type" and value not in FOV_DEFAULT:
            raise SchemaError(f"camera_type={value!r}: use {', '.join(FOV_DEFAULT)}")
        detail[name] = {"from": _plain(row[name].iloc[0]), "to": _plain(value)}
        new[name] = value
    if "lon" in changes or "lat" in changes:
        p = row.geometry.iloc[0]
        lon, lat = float(changes.get("lon", p.x)), float(changes.get("lat", p.y))
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise SchemaError(f"lon={lon}, lat={lat} is not a WGS84 position")
        detail["position"] = {"from": [p.x, p.y], "to": [lon, lat]}
        new = new.set_geometry([shapely.Point(lon, lat)], crs=WGS84)
    flags = [f for f in str(row["defaulted"].iloc[0]).split(",") if f and f not in changes]
    new["defaulted"] = ",".join(flags)
    seq = _next_seq(store, [source_id]).get(source_id, 0) + 1
    events = _events([source_id], [seq], actor, "edit", [detail])
    store.write({"cameras": new, "camera_events": events}, source=f"camera {source_id}")
    out = store.read("cameras", where={"source_id": source_id})
    return json.loads(out.to_json(drop_id=True))["features"][0]


def delete_camera(store: Store, source_id: str, *, actor: str = "editor") -> None:
    """Delete a camera; its history keeps the deletion."""
    row = _camera(store, source_id)
    seq = _next_seq(store, [source_id]).get(source_id, 0) + 1
    p = row.geometry.iloc[0]
    events = _events([source_id], [seq], actor, "delete", [{"position": [p.x, p.y]}])
    with store.transaction():
        store.delete("cameras", where={"source_id": source_id})
        store.write({"camera_events": events}, source=f"camera {source_id}")


def camera_history(store: Store, source_id: str) -> pd.DataFrame:
    """Every import, edit and deletion of a camera, oldest first."""
    events = store.read("camera_events", where={"source_id": source_id})
    if events.empty:
        raise NotFoundError(f"camera {source_id!r} has no history")
    events = events.sort_values("seq").reset_index(drop=True)
    events["detail"] = [json.loads(d) if isinstance(d, str) else d for d in events["detail"]]
    return events


def _plain(value):
    if isinstance(value, (np.floating, float)) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


# -- reads ----------------------------------------------------------------------------
class _Inputs:
    """The layers coverage needs, in the project's metric CRS."""

    def __init__(self, store: Store, *, version: int | None = None):
        cameras = store.read("cameras")
        buildings = store.read("buildings")
        streets = store.read("streets")
        like = buildings if len(buildings) else streets if len(streets) else cameras
        if len(like) == 0:
            raise NotFoundError("the project has no buildings, streets or cameras: import data")
        self.crs = store.metric_crs(like)
        self.cameras = cameras.to_crs(self.crs)
        self.buildings = buildings.to_crs(self.crs)
        streets = streets.to_crs(self.crs)  # even empty: the coverage checks want metres
        self.streets = cov.dedupe_streets(streets) if len(streets) else streets
        version = version if version is not None else active_version(store)
        self.grids = store.read("grids", where={"version": version}).to_crs(self.crs)
        self._store = store
        self.views = fields_of_view(self.cameras, self.buildings)

    @functools.cached_property
    def incidents(self) -> gpd.GeoDataFrame | None:
        # Read when first asked for: coverage per grid (the grids page) needs none, and a
        # million incidents take tens of seconds to load.
        incidents = self._store.read("incidents")
        return incidents.to_crs(self.crs) if len(incidents) else None


def camera_views(store: Store) -> gpd.GeoDataFrame:
    """Each camera's field of view, cut into quality bands, in WGS84."""
    inp = _Inputs(store)
    if len(inp.views) == 0:
        return gpd.GeoDataFrame(
            {"source_id": [], "band": [], "px_per_m": [], "from_m": [], "to_m": []},
            geometry=[],
            crs=WGS84,
        )
    bands = quality_bands(inp.views)
    return bands.to_crs(WGS84)


def coverage(store: Store, *, by: str = "grid", version: int | None = None) -> dict[str, Any]:
    """Street and public-area coverage by ``grid``, ``community`` or ``street`` (name).

    Returns ``{"by", "n_cameras", "street_share", "area_share", "note", "rows"}``.
    """
    if by not in ("grid", "community", "street"):
        raise SchemaError(f"by={by!r}: use grid, community or street")
    inp = _Inputs(store, version=version)
    note = "" if len(inp.cameras) else cov.NO_CAMERAS_NOTE
    streets = cov.street_coverage(inp.streets, inp.views)
    total = float(streets["length_m"].sum())
    share = float(streets["seen_m"].sum() / total) if total else 0.0
    area_share = None
    if by == "street":
        rows = cov.by_street_name(streets)
    else:
        if inp.grids.empty:
            raise NotFoundError("no grids in the active version: import or propose grids first")
        rows = cov.grid_coverage(
            inp.grids,
            inp.streets,
            inp.views,
            inp.buildings,
            by="parent_code" if by == "community" else None,
        )
        if by == "community":
            rows = rows.rename(columns={"parent_code": "community_code"})
        area_share = float(rows["seen_m2"].sum() / max(rows["public_m2"].sum(), 1e-9))
    return {
        "by": by,
        "n_cameras": int(len(inp.cameras)),
        "street_m": round(total, 1),
        "street_share": round(share, 4),
        "area_share": None if area_share is None else round(area_share, 4),
        "note": note,
        "rows": json.loads(pd.DataFrame(rows).round(4).to_json(orient="records")),
    }


def blind_spots(
    store: Store,
    *,
    near_m: float = 50.0,
    max_seen_share: float = 0.1,
    min_area_m2: float = 200.0,
    areas: bool = True,
) -> dict[str, gpd.GeoDataFrame]:
    """Blind streets and (when ``areas``) blind public areas per grid, ranked, in WGS84."""
    inp = _Inputs(store)
    streets = cov.blind_streets(
        inp.streets, inp.views, inp.incidents, max_seen_share=max_seen_share, near_m=near_m
    )
    keep = [c for c in ("network", "u", "v", "key", "name", "highway") if c in streets]
    streets = streets[
        [
            *keep,
            "length_m",
            "seen_m",
            "seen_share",
            "incidents",
            "incidents_per_km",
            "rank",
            "geometry",
        ]
    ]
    out = {"streets": streets.to_crs(WGS84)}
    if areas and len(inp.grids):
        out["areas"] = cov.blind_areas(
            inp.grids, inp.views, inp.buildings, inp.incidents, min_area_m2=min_area_m2
        ).to_crs(WGS84)
    return out


def blind_street_priorities(
    store: Store,
    *,
    near_m: float = 50.0,
    min_incidents: int = 1,
    max_seen_share: float = 0.1,
    blind: dict | None = None,
) -> pd.DataFrame:
    """Streets no camera sees with at least ``min_incidents`` within ``near_m``, ranked.

    For the patrol planner: the ``(network, u, v, key)`` ids of streets to visit every
    shift, most incidents per km first. No cameras: every street with incidents near it.
    ``blind``: a :func:`blind_spots` result computed with the same options, to reuse.
    """
    if blind is None:
        blind = blind_spots(store, near_m=near_m, max_seen_share=max_seen_share, areas=False)
    streets = blind["streets"]
    streets = streets[streets["incidents"] >= min_incidents]
    return pd.DataFrame(streets.drop(columns="geometry")).reset_index(drop=True)


def suggest_sites(
    store: Store,
    n: int = 10,
    *,
    method: str = "auto",
    use_incidents: bool = True,
    range_m: float = RANGE_DEFAULT_M,
) -> dict[str, Any]:
    """Suggest ``n`` new camera positions; the report says what each one adds.

    Returns ``{"summary": {...}, "sites": GeoDataFrame (WGS84, with ``view``)}``.
    """
    if not 0 <= n <= 500:
        raise SchemaError(f"n={n}: ask for 0 to 500 cameras")
    inp = _Inputs(store)
    if inp.streets.empty:
        raise NotFoundError("the project has no streets: import OSM data first")
    result = _suggest(
        inp.views,
        inp.streets,
        inp.buildings,
        n,
        method=method,
        range_m=range_m,
        incidents=inp.incidents if use_incidents else None,
    )
    sites = result.sites
    views = gpd.GeoSeries(sites["view"].values, crs=inp.crs).to_crs(WGS84)
    sites = gpd.GeoDataFrame(
        sites[["rank", "kind", "added_street_m", "added_weight", "street_share_after"]],
        geometry=sites.geometry.values,
        crs=inp.crs,
    ).to_crs(WGS84)
    sites["view"] = views.values
    summary = result.summary()
    summary["note"] = "" if len(inp.cameras) else cov.NO_CAMERAS_NOTE
    return {"summary": summary, "sites": sites}


def coverage_layers(store: Store, *, sites: int = 0, max_buildings: int = 5000) -> dict[str, Any]:
    """What the cameras page draws: bands, blind streets, ``sites`` suggestions, figures,
    and the footprints when there are at most ``max_buildings`` of them.

    Never raises for a project without buildings, streets or cameras: it returns what
    can be computed (possibly nothing), so the page still renders.
    """
    try:
        inp = _Inputs(store)
    except NotFoundError:
        return {}
    out: dict[str, Any] = {}
    if 0 < len(inp.buildings) <= max_buildings:
        out["buildings"] = inp.buildings[["geometry"]].to_crs(WGS84)
    if len(inp.views):
        out["bands"] = quality_bands(inp.views).to_crs(WGS84)
    summary: dict[str, Any] = {"note": "" if len(inp.cameras) else cov.NO_CAMERAS_NOTE}
    if len(inp.streets):
        blind = cov.blind_streets(inp.streets, inp.views, inp.incidents)
        out["blind"] = (
            blind[["name", "length_m", "seen_share", "incidents", "rank", "geometry"]].to_crs(WGS84)
            if "name" in blind
            else blind.to_crs(WGS84)
        )
        streets = cov.street_coverage(inp.streets, inp.views)
        summary["street_share"] = float(
            streets["seen_m"].sum() / max(streets["length_m"].sum(), 1e-9)
        )
        if sites > 0:
            result = _suggest(inp.views, inp.streets, inp.buildings, sites, incidents=inp.incidents)
            site_gdf = result.sites
            out["sites"] = gpd.GeoDataFrame(
                site_gdf[["rank", "kind", "added_street_m"]],
                geometry=site_gdf.geometry.values,
                crs=inp.crs,
            ).to_crs(WGS84)
            out["site_views"] = gpd.GeoDataFrame(
                geometry=site_gdf["view"].values, crs=inp.crs
            ).to_crs(WGS84)
            summary["street_share_after"] = result.share_after
    out["summary"] = summary
    return out


def blind_dwell_points(
    store: Store, *, limit: int = 10, min_area_m2: float = 200.0, blind: dict | None = None
):
    """A point inside each of the ``limit`` top-ranked blind public areas, for patrols
    to dwell at (most incidents per hectare first, then the largest).  ``blind``: a
    :func:`blind_spots` result computed with the same ``min_area_m2``, to reuse."""
    if blind is None:
        blind = blind_spots(store, min_area_m2=min_area_m2)
    areas = blind.get("areas")
    if areas is None or areas.empty:
        return gpd.GeoDataFrame(
            {"area_code": [], "area_m2": [], "incidents": [], "rank": []}, geometry=[], crs=WGS84
        )
    top = areas.head(limit)
    return gpd.GeoDataFrame(
        top[["area_code", "area_m2", "incidents", "rank"]].reset_index(drop=True),
        geometry=shapely.point_on_surface(top.geometry.values),
        crs=WGS84,
    )
