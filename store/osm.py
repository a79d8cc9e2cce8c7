"""Read OpenStreetMap data (.osm, .osm.bz2, .osm.pbf, or online) into model layers.

PBF files are read with pyrosm; XML files (plain or bz2) and online downloads with osmnx.
The result is plain layers in WGS84, not yet validated: ``Store.write`` validates them.
"""

from __future__ import annotations

import bz2
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd

from gridpatrol.geo.buildings import HouseholdRule, estimate_households
from gridpatrol.geo.cameras import cameras_from_osm
from gridpatrol.geo.crs import WGS84, project
from gridpatrol.geo.errors import InputFileError
from gridpatrol.geo.geometry import make_polygonal
from gridpatrol.geo.model import empty_layer
from gridpatrol.geo.network import graph_to_layers

Progress = Callable[[str], None]

# Streets a pedestrian patrol cannot use, and streets a car cannot.
NOT_WALKABLE = {"motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed"}
DRIVABLE = {
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
}


@dataclass
class OSMData:
    """Model layers read from OSM, in WGS84."""

    buildings: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    cameras: gpd.GeoDataFrame
    networks: dict[str, tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    #: What the extract lacks, one sentence each ("no buildings: ...").
    notes: list[str] = field(default_factory=list)

    def check(self, source: str) -> None:
        """Fill :attr:`notes` and :attr:`bounds`; raise only when nothing usable is left."""
        has_streets = any(len(e) for _, e in self.networks.values())
        if not len(self.buildings) and not has_streets and not len(self.cameras):
            raise InputFileError(f"{source}: no buildings, streets or cameras in this extract")
        self.notes = []
        if not len(self.buildings):
            self.notes.append(
                "no buildings: grids cannot be balanced by households; import footprints "
                "with `gridpatrol import buildings FILE`"
            )
        if not len(self.addresses):
            self.notes.append(
                "no addresses: incidents need coordinates (address lookup has nothing to match)"
            )
        if not len(self.cameras):
            self.notes.append(
                "no cameras (man_made=surveillance): camera coverage stays empty; "
                "import them with `gridpatrol import cameras FILE`"
            )
        if not has_streets:
            self.notes.append("no streets: grids follow no streets and patrols cannot be planned")
        elif not len(self.networks.get("drive", (None, []))[1]):
            self.notes.append("no drivable streets: only walking patrols")
        if len(self.buildings) and "name" in self.buildings:
            if not (self.buildings["name"].astype(str) != "").any():
                self.notes.append("no building names: pages label buildings by address or id")
        frames = [self.buildings, self.cameras] + [e for _, e in self.networks.values()]
        frames = [f for f in frames if len(f)]
        b = np.array([f.total_bounds for f in frames])
        self.bounds = (
            float(b[:, 0].min()),
            float(b[:, 1].min()),
            float(b[:, 2].max()),
            float(b[:, 3].max()),
        )

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Layer name -> frame, ready for ``Store.write``."""
        out = {"buildings": self.buildings, "addresses": self.addresses, "cameras": self.cameras}
        nodes = [n for n, _ in self.networks.values()]
        edges = [e for _, e in self.networks.values()]
        if nodes:
            out["street_nodes"] = pd.concat(nodes, ignore_index=True)
            out["streets"] = pd.concat(edges, ignore_index=True)
        return out


def _empty(layer: str) -> gpd.GeoDataFrame:
    out = empty_layer(layer)
    if layer == "buildings":  # the address columns _addresses_layer reads
        for col in ("addr_street", "addr_housenumber", "addr_postcode", "addr_city"):
            out[col] = pd.Series(dtype="object")
    return out


def _cameras(raw: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if raw is None or not len(raw):
        return _empty("cameras")
    return cameras_from_osm(raw)


def _tag(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series([None] * len(df), index=df.index, dtype="object")


def _tags_dict(row) -> dict:
    tags = row.get("tags")
    if isinstance(tags, str):
        try:
            return json.loads(tags)
        except json.JSONDecodeError:
            return {}
    return dict(tags) if isinstance(tags, dict) else {}


def _buildings_layer(
    raw: gpd.GeoDataFrame, ids: pd.Series, rule: HouseholdRule
) -> gpd.GeoDataFrame:
    if raw is None or not len(raw):
        return _empty("buildings")
    raw = raw[raw.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    if not len(raw):
        return _empty("buildings")
    ids = ids.loc[raw.index]
    # Footprints drawn invalid in OSM are repaired here; files from users are not.
    raw = raw.set_geometry(
        gpd.GeoSeries(make_polygonal(raw.geometry), index=raw.index, crs=raw.crs)
    )
    raw = raw[~raw.geometry.is_empty]
    ids = ids.loc[raw.index]
    flats = pd.to_numeric(_tag(raw, "building:flats"), errors="coerce")
    if flats.isna().all() and "tags" in raw:
        flats = pd.to_numeric(
            raw.apply(lambda r: _tags_dict(r).get("building:flats"), axis=1), errors="coerce"
        )
    layer = gpd.GeoDataFrame(
        {
            "source_id": ids.to_numpy(),
            "name": _tag(raw, "name").fillna("").astype(str).to_numpy(),
            "use": _tag(raw, "building").fillna("yes").astype(str).to_numpy(),
            "levels": pd.to_numeric(_tag(raw, "building:levels"), errors="coerce").to_numpy(),
            "addr_street": _tag(raw, "addr:street").fillna("").astype(str).to_numpy(),
            "addr_housenumber": _tag(raw, "addr:housenumber").fillna("").astype(str).to_numpy(),
            "addr_postcode": _tag(raw, "addr:postcode").fillna("").astype(str).to_numpy(),
            "addr_city": _tag(raw, "addr:city").fillna("").astype(str).to_numpy(),
            "households": flats.to_numpy(),
        },
        geometry=raw.geometry.values,
        crs=raw.crs,
    )
    metric = project(layer)
    estimated = estimate_households(metric, rule=rule)
    layer["households"] = estimated["households"].to_numpy()
    layer["households_estimated"] = estimated["households_estimated"].to_numpy()
    return layer.drop_duplicates("source_id").reset_index(drop=True)


def _addresses_layer(
    buildings: gpd.GeoDataFrame, points: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    with_addr = buildings[buildings["addr_housenumber"] != ""]
    metric = project(with_addr) if len(with_addr) else with_addr
    centres = (
        metric.geometry.representative_point().to_crs(WGS84)
        if len(with_addr)
        else with_addr.geometry
    )
    parts = [
        gpd.GeoDataFrame(
            {
                "source_id": with_addr["source_id"].to_numpy(),
                "street": with_addr["addr_street"].to_numpy(),
                "housenumber": with_addr["addr_housenumber"].to_numpy(),
                "postcode": with_addr["addr_postcode"].to_numpy(),
                "city": with_addr["addr_city"].to_numpy(),
                "building_id": with_addr["source_id"].to_numpy(),
            },
            geometry=centres.values,
            crs=WGS84,
        )
    ]
    if points is not None and len(points):
        # Address points inside a building belong to it.
        joined = gpd.sjoin(
            points,
            buildings[["source_id", "geometry"]].rename(columns={"source_id": "building_id"}),
            how="left",
            predicate="within",
        )
        joined = joined[~joined.index.duplicated()]
        parts.append(
            gpd.GeoDataFrame(
                {
                    "source_id": joined["source_id"].to_numpy(),
                    "street": joined["street"].to_numpy(),
                    "housenumber": joined["housenumber"].to_numpy(),
                    "postcode": joined["postcode"].to_numpy(),
                    "city": joined["city"].to_numpy(),
                    "building_id": joined["building_id"].fillna("").to_numpy(),
                },
                geometry=joined.geometry.values,
                crs=WGS84,
            )
        )
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty("addresses")
    out = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84).drop_duplicates("source_id")


def _address_points(raw: gpd.GeoDataFrame, ids: pd.Series) -> gpd.GeoDataFrame:
    pts = raw[raw.geometry.geom_type == "Point"]
    ids = ids.loc[pts.index]
    return gpd.GeoDataFrame(
        {
            "source_id": ids.to_numpy(),
            "street": _tag(pts, "addr:street").fillna("").astype(str).to_numpy(),
            "housenumber": _tag(pts, "addr:housenumber").fillna("").astype(str).to_numpy(),
            "postcode": _tag(pts, "addr:postcode").fillna("").astype(str).to_numpy(),
            "city": _tag(pts, "addr:city").fillna("").astype(str).to_numpy(),
        },
        geometry=pts.geometry.values,
        crs=WGS84,
    )


def _filter_graph(G: nx.MultiDiGraph, keep: Callable[[str], bool]) -> nx.MultiDiGraph:
    drop = [
        (u, v, k)
        for u, v, k, hw in G.edges(keys=True, data="highway")
        if not keep(hw[0] if isinstance(hw, list) else str(hw))
    ]
    H = G.copy()
    H.remove_edges_from(drop)
    H.remove_nodes_from([n for n in list(H.nodes) if H.degree(n) == 0])
    return H


def _networks_from_graphs(walk: nx.MultiDiGraph, drive: nx.MultiDiGraph) -> dict:
    out = {}
    for name, G in (("walk", walk), ("drive", drive)):
        if G.number_of_edges():
            out[name] = graph_to_layers(G, network=name)
    return out


def read_pbf(path: Path, *, rule: HouseholdRule, progress: Progress) -> OSMData:
    import pyrosm  # only PBF needs it

    osm = pyrosm.OSM(str(path))
    progress("buildings")
    raw_b = osm.get_buildings()
    if raw_b is None or len(raw_b) == 0:
        buildings = _empty("buildings")
    else:
        ids = raw_b["osm_type"].astype(str) + "/" + raw_b["id"].astype(str)
        buildings = _buildings_layer(raw_b.set_crs(WGS84, allow_override=True), "osm:" + ids, rule)
    progress("cameras")
    raw_c = osm.get_data_by_custom_criteria(
        custom_filter={"man_made": ["surveillance"]},
        filter_type="keep",
        keep_nodes=True,
        keep_ways=False,
        keep_relations=False,
    )
    if raw_c is None or len(raw_c) == 0:
        cameras = _empty("cameras")
    else:
        raw_c = raw_c.set_crs(WGS84, allow_override=True)
        raw_c["source_id"] = "osm:node/" + raw_c["id"].astype(str)
        cameras = cameras_from_osm(raw_c)
    progress("addresses")
    raw_a = osm.get_data_by_custom_criteria(
        custom_filter={"addr:housenumber": True},
        filter_type="keep",
        keep_nodes=True,
        keep_ways=False,
        keep_relations=False,
    )
    points = None
    if raw_a is not None and len(raw_a):
        raw_a = raw_a.set_crs(WGS84, allow_override=True)
        points = _address_points(raw_a, "osm:node/" + raw_a["id"].astype(str))
    addresses = _addresses_layer(buildings, points)
    progress("street networks")
    graphs = {}
    for name, ntype in (("walk", "walking"), ("drive", "driving")):
        got = osm.get_network(network_type=ntype, nodes=True)
        if got is None or got[1] is None or not len(got[1]):
            graphs[name] = nx.MultiDiGraph(crs=WGS84.to_string())
            continue
        nodes, edges = got
        graphs[name] = osm.to_graph(
            nodes,
            edges,
            graph_type="networkx",
            network_type=ntype,
            retain_all=True,
            osmnx_compatible=True,
        )
        graphs[name].graph["crs"] = WGS84.to_string()
    networks = _networks_from_graphs(graphs["walk"], graphs["drive"])
    return OSMData(buildings, addresses, cameras, networks)


def read_xml(path: Path, *, rule: HouseholdRule, progress: Progress) -> OSMData:
    progress("buildings")
    try:
        feats = ox.features_from_xml(str(path))
    except ox._errors.InsufficientResponseError:  # no tagged features at all
        feats = gpd.GeoDataFrame(
            {"element": [], "id": []}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84
        )
    feats = feats.reset_index()
    ids = "osm:" + feats["element"].astype(str) + "/" + feats["id"].astype(str)
    feats.index = ids.index
    is_b = _tag(feats, "building").notna()
    buildings = _buildings_layer(feats[is_b], ids, rule)
    progress("cameras")
    is_c = (_tag(feats, "man_made") == "surveillance") & (feats.geometry.geom_type == "Point")
    cams = feats[is_c].copy()
    cams["source_id"] = ids[is_c]
    cameras = _cameras(cams.drop(columns=["element", "id"], errors="ignore"))
    progress("addresses")
    is_a = _tag(feats, "addr:housenumber").notna() & ~is_b
    addresses = _addresses_layer(buildings, _address_points(feats[is_a], ids))
    progress("street networks")
    try:
        walk = ox.graph_from_xml(str(path), bidirectional=True, retain_all=True)
        drive = ox.graph_from_xml(str(path), bidirectional=False, retain_all=True)
    except (ox._errors.InsufficientResponseError, ValueError, nx.NetworkXError):
        walk = drive = nx.MultiDiGraph(crs=WGS84.to_string())
    walk = _filter_graph(walk, lambda hw: hw not in NOT_WALKABLE)
    drive = _filter_graph(drive, lambda hw: hw in DRIVABLE)
    return OSMData(buildings, addresses, cameras, _networks_from_graphs(walk, drive))


def read_osm(
    path: str | Path,
    *,
    rule: HouseholdRule | None = None,
    progress: Progress | None = None,
) -> OSMData:
    """Read an OSM file into model layers.

    Parameters
    ----------
    path
        ``.osm``, ``.osm.bz2`` or ``.osm.pbf``.
    rule
        Household estimation rule for buildings without ``building:flats``.
    progress
        Called with the name of each step as it starts.
    """
    path = Path(path)
    progress = progress or (lambda step: None)
    rule = rule or HouseholdRule()
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith(".pbf"):
            data = read_pbf(path, rule=rule, progress=progress)
        elif name.endswith((".osm", ".osm.bz2", ".xml", ".xml.bz2")):
            if name.endswith(".bz2"):
                with bz2.open(path) as fh:  # fail early and clearly on a broken archive
                    fh.read(1024)
            data = read_xml(path, rule=rule, progress=progress)
        else:
            raise InputFileError(f"{path}: not an OSM file (.osm, .osm.bz2 or .osm.pbf)")
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read it ({exc})") from exc
    except ox._errors.InsufficientResponseError as exc:
        raise InputFileError(f"{path}: no usable OSM data in it ({exc})") from exc
    data.check(str(path))
    return data


def download_osm(
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    rule: HouseholdRule | None = None,
    progress: Progress | None = None,
) -> OSMData:
    """Download OSM data for a place name or a (west, south, east, north) box via osmnx."""
    progress = progress or (lambda step: None)
    rule = rule or HouseholdRule()
    if (place is None) == (bbox is None):
        raise InputFileError("give either a place name or a bbox, not both")
    tags = {"building": True, "man_made": "surveillance", "addr:housenumber": True}
    progress("downloading features")
    if place is not None:
        feats = ox.features_from_place(place, tags)
        walk = ox.graph_from_place(place, network_type="walk", retain_all=True)
        drive = ox.graph_from_place(place, network_type="drive", retain_all=True)
    else:
        feats = ox.features_from_bbox(bbox, tags)
        walk = ox.graph_from_bbox(bbox, network_type="walk", retain_all=True)
        drive = ox.graph_from_bbox(bbox, network_type="drive", retain_all=True)
    feats = feats.reset_index()
    ids = "osm:" + feats["element"].astype(str) + "/" + feats["id"].astype(str)
    is_b = _tag(feats, "building").notna()
    buildings = _buildings_layer(feats[is_b], ids, rule)
    is_c = (_tag(feats, "man_made") == "surveillance") & (feats.geometry.geom_type == "Point")
    cams = feats[is_c].copy()
    cams["source_id"] = ids[is_c]
    cameras = _cameras(cams.drop(columns=["element", "id"], errors="ignore"))
    is_a = _tag(feats, "addr:housenumber").notna() & ~is_b
    addresses = _addresses_layer(buildings, _address_points(feats[is_a], ids))
    data = OSMData(buildings, addresses, cameras, _networks_from_graphs(walk, drive))
    data.check(str(place or bbox))
    return data
