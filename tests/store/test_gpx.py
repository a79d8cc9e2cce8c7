"""GPX 1.1 out for the phones, GPS tracks back in."""

from __future__ import annotations

import gpxpy
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.errors import CRSError, InputFileError, InvalidGeometryError, SchemaError
from gridpatrol.geo.network import graph_from_layers
from gridpatrol.geo.walks import route_geometry, route_stops
from gridpatrol.store.gpx import read_gpx_track, route_to_gpx

LINE = shapely.LineString([(24.9402, 60.1699), (24.9413, 60.1701), (24.94136789, 60.17123456)])


@pytest.fixture(scope="module")
def helsinki_route(helsinki):
    """The real walk network, projected, and an out-and-back route of about 1 km on it."""
    nodes, edges = helsinki.networks["walk"]
    G = ox.project_graph(graph_from_layers(nodes, edges))
    G = G.subgraph(max(nx.strongly_connected_components(G), key=len))
    ids = list(G)
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in ids])
    dist = np.hypot(*(xy - np.median(xy, axis=0)).T)
    station, far = ids[int(np.argmin(dist))], ids[int(np.argmin(np.abs(dist - 400)))]
    path = nx.shortest_path(G, station, far, weight="length")
    path += nx.shortest_path(G, far, station, weight="length")[1:]
    route = [
        (a, b, min(G[a][b], key=lambda k: G[a][b][k]["length"]))
        for a, b in zip(path[:-1], path[1:], strict=False)
    ]
    return G, route


def test_helsinki_route_round_trip(helsinki_route, tmp_path):
    G, route = helsinki_route
    line = route_geometry(G, route, to_crs="EPSG:4326")
    stops = route_stops(G, route, dwells=[(len(route) // 2, 12)])
    text = route_to_gpx(line, name="Team 1", waypoints=stops, description="Night patrol")

    gpx = gpxpy.parse(text)
    assert gpx.version == "1.1" and gpx.creator == "gridpatrol"
    assert len(gpx.tracks) == 1 and len(gpx.tracks[0].segments) == 1
    assert gpx.tracks[0].name == "Team 1" and gpx.tracks[0].description == "Night patrol"
    pts = np.array([(p.longitude, p.latitude) for p in gpx.tracks[0].segments[0].points])
    assert pts.shape == (len(line.coords), 2)
    assert np.abs(pts - np.asarray(line.coords)).max() < 1e-6  # same points, same order
    assert [w.name for w in gpx.waypoints] == ["Station", "hot spot"]
    assert abs(gpx.waypoints[0].longitude - line.coords[0][0]) < 1e-6
    assert abs(gpx.waypoints[0].latitude - line.coords[0][1]) < 1e-6

    path = tmp_path / "team1.gpx"
    path.write_text(text, encoding="utf-8")
    for source in (path, str(path), text, text.encode()):
        track = read_gpx_track(source)
        assert track.crs.to_epsg() == 4326
        assert np.abs(track[["lon", "lat"]].to_numpy() - np.asarray(line.coords)).max() < 1e-6
        assert np.allclose(
            shapely.get_coordinates(track.geometry.values), track[["lon", "lat"]].to_numpy()
        )
        assert track["time"].isna().all() and (track["segment"] == 0).all()


def test_read_track_with_times_and_elevation():
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack()
    for s in range(2):
        seg = gpxpy.gpx.GPXTrackSegment()
        for i in range(3):
            seg.points.append(
                gpxpy.gpx.GPXTrackPoint(
                    60.17 + i * 1e-4,
                    24.94 + s * 1e-3,
                    elevation=10.0 + i,
                    time=pd.Timestamp("2026-11-24T20:00:00Z")
                    + pd.Timedelta(seconds=10 * (3 * s + i)),
                )
            )
        track.segments.append(seg)
    gpx.tracks.append(track)
    out = read_gpx_track(gpx.to_xml(version="1.1"))
    assert len(out) == 6 and list(out["segment"]) == [0, 0, 0, 1, 1, 1]
    assert str(out["time"].dt.tz) == "UTC" and out["time"].is_monotonic_increasing
    assert out["time"].iloc[-1] == pd.Timestamp("2026-11-24T20:00:50Z")
    assert list(out["elevation"][:3]) == [10.0, 11.0, 12.0]


def test_elevation_written_from_z():
    text = route_to_gpx(shapely.LineString([(24.94, 60.17, 5.0), (24.95, 60.17, 7.5)]), name="z")
    assert [p.elevation for p in gpxpy.parse(text).tracks[0].segments[0].points] == [5.0, 7.5]


@pytest.mark.parametrize(
    "text, match",
    [
        ("<gpx><trk><trkseg><trkpt lat='60' lon='24'>", "not a readable GPX"),
        ("<?xml version='1.0'?><html><body/></html>", "not a readable GPX|no track points"),
        (
            "<gpx version='1.1' creator='x' xmlns='http://www.topografix.com/GPX/1/1'>"
            "<wpt lat='60.1' lon='24.9'/></gpx>",
            "no track points",
        ),
        (
            "<gpx version='1.1' creator='x' xmlns='http://www.topografix.com/GPX/1/1'><rte>"
            "<rtept lat='60.1' lon='24.9'/></rte></gpx>",
            "1 route points",
        ),
    ],
)
def test_broken_gpx_raises_input_file_error(text, match):
    with pytest.raises(InputFileError, match=match):
        read_gpx_track(text)


def test_broken_gpx_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_gpx_track(tmp_path / "missing.gpx")
    bad = tmp_path / "bad.gpx"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputFileError, match="bad.gpx"):
        read_gpx_track(bad)
    truncated = tmp_path / "truncated.gpx"
    truncated.write_text(route_to_gpx(LINE, name="t")[:-40], encoding="utf-8")
    with pytest.raises(InputFileError, match="truncated.gpx"):
        read_gpx_track(truncated)


def test_route_to_gpx_validation():
    with pytest.raises(CRSError, match="WGS84"):
        route_to_gpx(shapely.LineString([(385000, 6672000), (385100, 6672000)]), name="utm")
    with pytest.raises(InvalidGeometryError):
        route_to_gpx(shapely.Point(24.9, 60.1), name="p")
    with pytest.raises(SchemaError, match="name"):
        route_to_gpx(LINE, name=" ")
    with pytest.raises(CRSError, match="waypoint 0"):
        route_to_gpx(LINE, name="w", waypoints=[(385000, 6672000, "Station")])
    text = route_to_gpx(LINE, name="w", waypoints=[{"lon": 24.94, "lat": 60.17, "name": "S"}])
    assert gpxpy.parse(text).waypoints[0].name == "S"
