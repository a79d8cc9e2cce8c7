"""PostGIS cuts tiles in SQL (ST_AsMVTGeom/ST_AsMVT): the same tiles as the Python encoder.

Every tile over the Helsinki extract, on every tiled layer and several zooms, is cut
both ways from one PostGIS store and decoded with mapbox-vector-tile (independent of
both): same layers, same features with the same properties, geometries in the same
place.
"""

from __future__ import annotations

import collections
import statistics
import uuid

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import shapely.geometry

from gridpatrol.api.main import create_app
from gridpatrol.api.routers import tiles as tiles_router
from gridpatrol.api.routers.tiles import database_tile, python_tile, tile_where
from gridpatrol.api.settings import Settings
from gridpatrol.maps.mvt import BUFFER, EXTENT, TOLERANCE, min_polygon_area
from gridpatrol.maps.tiles import TILE_LAYERS
from gridpatrol.store.base import open_store
from tests.api.test_tiles import BOX, decode, get_tile, tile_of
from tests.conftest import POSTGIS_HOWTO, POSTGIS_URL, quadrant_grids
from tests.tokens import client_as

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def pg_url():
    if not POSTGIS_URL:
        pytest.skip(POSTGIS_HOWTO)
    sep = "&" if "?" in POSTGIS_URL else "?"
    url = f"{POSTGIS_URL}{sep}schema=test_tiles_{uuid.uuid4().hex[:10]}"
    yield url
    with open_store(url) as s:
        s.drop_schema()


@pytest.fixture(scope="module")
def helsinki_pg(pg_url, helsinki):
    """Helsinki's buildings, streets and cameras, two grid versions (1 active) and an area."""
    with open_store(pg_url) as s:
        s.write(helsinki.layers())
        s.write(
            {
                "cameras": gpd.GeoDataFrame(
                    {"source_id": ["test:c1"], "direction": [90.4], "camera_type": ["dome"]},
                    geometry=[shapely.Point(24.945, 60.17)],
                    crs=4326,
                )
            }
        )
        s.write(
            {
                "grids": pd.concat(
                    [
                        quadrant_grids(helsinki.buildings.total_bounds),
                        quadrant_grids(helsinki.bounds, version=2, parent="091001001002"),
                    ]
                ),
                "areas": gpd.GeoDataFrame(
                    {"code": ["091001001"], "name": ["Kluuvi"], "level": ["street"]},
                    geometry=[shapely.box(*helsinki.bounds)],
                    crs=4326,
                ),
            }
        )
        s.set_setting("bounds", list(helsinki.bounds))
        yield s


def features(data: bytes, layer: str) -> dict[tuple, list]:
    """Decoded features grouped by their properties. Polygons are cleaned with
    buffer(0): the Python encoder keeps zero-area spikes that rounding makes (it skips
    set_precision for speed), ST_AsMVTGeom removes them; both draw the same."""
    out = collections.defaultdict(list)
    for f in decode(data).get(layer, {}).get("features", []) if data else []:
        geom = shapely.geometry.shape(f["geometry"])
        if geom.geom_type.endswith("Polygon"):
            geom = geom.buffer(0)
        out[tuple(sorted(f["properties"].items()))].append(geom)
    return out


def compare(sql_tile: bytes, py_tile: bytes, layer: str) -> tuple[list[float], list, int]:
    """(distances of matched features in tile units, unmatched geometries, all features).

    Features match when their properties are equal and their geometries are within
    ``2 * TOLERANCE + 2`` tile units of each other (Hausdorff: each side simplified
    within TOLERANCE of the source, then rounded), closest pairs first; polygons left
    over also match when they cover the same ground but for 2 % (a spike that
    rounding left on one side, a ring touching itself resolved another way)."""
    a, b = features(sql_tile, layer), features(py_tile, layer)
    distances, unmatched, total = [], [], 0
    for key in set(a) | set(b):
        ga, gb = a.get(key, []), b.get(key, [])
        total += max(len(ga), len(gb))
        # Identical ones first (most are): pairs of the rest are few.
        left_a, left_b = set(range(len(ga))), set(range(len(gb)))
        by_wkb = collections.defaultdict(list)
        for j, q in enumerate(gb):
            by_wkb[q.wkb].append(j)
        for i, p in enumerate(ga):
            if by_wkb.get(p.wkb):
                left_b.discard(by_wkb[p.wkb].pop())
                left_a.discard(i)
                distances.append(0.0)
        pairs = sorted(
            (shapely.hausdorff_distance(ga[i], gb[j]), i, j) for i in left_a for j in left_b
        )
        for d, i, j in pairs:
            if d <= 2 * TOLERANCE + 2 and i in left_a and j in left_b:
                left_a.discard(i)
                left_b.discard(j)
                distances.append(d)
        for i, j in [(i, j) for i in sorted(left_a) for j in sorted(left_b)]:
            p, q = ga[i], gb[j]
            if i in left_a and j in left_b and p.area and q.area:
                if shapely.symmetric_difference(p, q).area <= 0.02 * max(p.area, q.area):
                    left_a.discard(i)
                    left_b.discard(j)
        unmatched += [ga[i] for i in left_a] + [gb[j] for j in left_b]
    return distances, unmatched, total


def tiles_over(bounds, z):
    w, s, e, n = bounds
    x0, y0 = tile_of(w, n, z)
    x1, y1 = tile_of(e, s, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


@pytest.mark.slow
@pytest.mark.parametrize("layer", list(TILE_LAYERS))
def test_sql_tiles_match_the_python_encoder(helsinki_pg, helsinki, layer):
    spec = TILE_LAYERS[layer]
    distances, unmatched, total, tiles = [], [], 0, 0
    for z in sorted({spec.minzoom, 14, 16}):
        for x, y in tiles_over(helsinki.bounds, z):
            sql_tile = database_tile(helsinki_pg, layer, z, x, y)
            py_tile = python_tile(helsinki_pg, layer, z, x, y)
            assert sql_tile is not None  # PostGIS cuts it
            # Same layers (one, named after the store layer), empty in the same tiles.
            assert list(decode(sql_tile) if sql_tile else {}) == list(
                decode(py_tile) if py_tile else {}
            ), (layer, z, x, y)
            if sql_tile:
                assert decode(sql_tile)[layer]["extent"] == EXTENT
                tiles += 1
            d, u, t = compare(sql_tile, py_tile, layer)
            distances += d
            unmatched += u
            total += t
    assert tiles >= 5 and total >= tiles
    if layer in ("grids", "areas", "cameras"):
        # Straight edges and points: the same coordinates, to the rounding.
        assert not unmatched and max(distances) <= 1.0
    else:
        # Footprints and streets are simplified by half a pixel (TOLERANCE): PostGIS
        # by Douglas-Peucker, Python by GEOS (topology-preserving for polygons); both
        # keep within it of the source, with slightly different vertices.
        assert statistics.median(distances) == 0
        assert max(distances) <= 2 * TOLERANCE + 2
        # Left over: polygons thinner than a pixel (tiny footprints that one side
        # simplifies below the minimum area and the other not, slivers cut at the
        # buffer), and lines that retrace themselves (ST_AsMVTGeom drops them).
        # Nothing a map would show.
        for geom in unmatched:
            if geom.geom_type.endswith("Polygon"):
                assert 2 * geom.area / geom.length < 16, geom.wkt
            else:
                assert shapely.union_all([geom]).length < geom.length * 0.6, geom.wkt
        assert len(unmatched) <= total / 50, (len(unmatched), total)


def test_properties_are_the_layers_own_and_nothing_else(helsinki_pg, helsinki):
    """Only the TileLayerSpec's properties leave the store (tiles are public reads: no
    role sees more, so household addresses' parts, source ids, u/v never appear)."""
    for layer, spec in TILE_LAYERS.items():
        z = max(spec.minzoom, 15)
        seen: set[str] = set()
        for x, y in tiles_over(helsinki.bounds, z):
            data = database_tile(helsinki_pg, layer, z, x, y)
            for f in decode(data)[layer]["features"] if data else []:
                seen |= set(f["properties"])
        assert seen and seen <= set(spec.properties), (layer, seen)
    # Derived properties are made as in Python: address joined, direction rounded.
    z = 17
    addresses, directions = set(), set()
    for x, y in tiles_over(helsinki.bounds, z):
        for layer, out, prop in (
            ("buildings", addresses, "address"),
            ("cameras", directions, "direction"),
        ):
            data = database_tile(helsinki_pg, layer, z, x, y)
            for f in decode(data)[layer]["features"] if data else []:
                if prop in f["properties"]:
                    out.add(f["properties"][prop])
    b = helsinki.buildings
    expected = set((b["addr_street"] + " " + b["addr_housenumber"]).str.strip()) - {""}
    assert addresses and addresses <= expected
    assert 90 in directions and all(isinstance(d, int) for d in directions)


def test_empty_tile_and_grid_version_filter(helsinki_pg):
    # Far from Helsinki: no feature, an empty body (the router answers 204).
    assert database_tile(helsinki_pg, "buildings", 16, 0, 0) == b""
    # Only the active grid version's grids (version 2's codes end in ...002xxx).
    z = 14
    codes = set()
    for x, y in tiles_over(tuple(helsinki_pg.get_setting("bounds")), z):
        for key in features(database_tile(helsinki_pg, "grids", z, x, y), "grids"):
            codes.add(dict(key)["code"])
    assert codes and all(c.startswith("091001001001") for c in codes)
    assert tile_where(helsinki_pg, "grids") == {"version": 1}


def test_the_tile_query_uses_the_gist_index(helsinki_pg):
    """The envelope is transformed to the stored WGS84, not every geometry to 3857,
    so the GiST index can answer the box (forced here: the extract is small enough
    that the planner would rather scan)."""
    spec = TILE_LAYERS["buildings"]
    x, y = tile_of(24.945, 60.17, 16)
    query, params = helsinki_pg._tile_query(
        "buildings",
        16,
        x,
        y,
        columns=spec.columns,
        where={},
        rounded=spec.rounded,
        undirected=spec.undirected,
        extent=EXTENT,
        buffer=BUFFER,
        tolerance=TOLERANCE,
        min_area=min_polygon_area(EXTENT),
        read_margin=0.03,
    )
    con = helsinki_pg._con
    with con.transaction():
        con.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in con.execute(b"EXPLAIN " + query.as_bytes(con), params))
    assert "buildings_geom_gist" in plan, plan


def test_router_cuts_in_sql_on_postgis_and_in_python_for_gcj02(pg_url, monkeypatch):
    """WGS84 tiles never reach the Python encoder on PostGIS; GCJ-02 tiles do (the
    shift is geo.crs's, in numpy), and still line up with the embedded store's."""
    calls = []
    real = tiles_router.python_tile
    monkeypatch.setattr(
        tiles_router,
        "python_tile",
        lambda *a, **k: calls.append(k.get("datum")) or real(*a, **k),
    )
    url = pg_url.replace("schema=", "schema=r")
    with open_store(url) as s:
        s.write({"grids": quadrant_grids(BOX, parent="110105001001")})
    try:
        app = create_app(Settings(database_url=url, escalation_interval_s=0))
        with client_as(app) as c:
            x, y = tile_of(BOX[0], BOX[3], 16)
            sql_features = get_tile(c, "grids", 16, x, y)
            assert calls == []
            assert {f["properties"]["code"] for f in sql_features} >= {"110105001001001"}
            # A new grid version, activated: the cached SQL tile is cut again.
            with open_store(url) as s:
                s.write({"grids": quadrant_grids(BOX, version=2, parent="110105001002")})
                s.set_setting("active_grid_version", 2)
            codes = {f["properties"]["code"][:12] for f in get_tile(c, "grids", 16, x, y)}
            assert codes == {"110105001002"} and calls == []
            get_tile(c, "grids", 15, *tile_of(BOX[0], BOX[3], 15), datum="gcj02")
            assert calls == ["gcj02"]
            r = c.get("/tiles/grids/16/0/0.pbf")
            assert r.status_code == 204
    finally:
        with open_store(url) as s:
            s.drop_schema()
