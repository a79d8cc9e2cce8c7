"""Vector tiles: /tiles/{layer}/{z}/{x}/{y}.pbf, TileJSON, the encoder and the map element."""

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.maps.mvt import EXTENT, encode_tile, tile_bbox
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as  # noqa: E402

# A ~400 m box in central Beijing (inside China, so GCJ-02 shifts it).
BOX = (116.3900, 39.9050, 116.3950, 39.9090)
Z = 16


def decode(data: bytes) -> dict:
    """Decode with an independent implementation (tilezen's mapbox-vector-tile, a dev
    dependency: the service writes tiles without it)."""
    mvt = pytest.importorskip("mapbox_vector_tile", reason="pip install mapbox-vector-tile")
    return mvt.decode(data, default_options={"y_coord_down": True})


def lonlat_to_tile(lon, lat, z):
    """Fractional XYZ tile coordinates (independent of the code under test)."""
    n = 2**z
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return x, y


def tile_of(lon, lat, z=Z):
    x, y = lonlat_to_tile(lon, lat, z)
    return int(x), int(y)


def in_tile_units(lon, lat, z, x, y):
    fx, fy = lonlat_to_tile(lon, lat, z)
    return (fx - x) * EXTENT, (fy - y) * EXTENT


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('tiles') / 'p.db'}"
    minx, miny, maxx, maxy = BOX
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    grids = quadrant_grids(BOX, parent="110105001001").assign(households=[310, 420, 0, 385])
    old = quadrant_grids(BOX, version=2, parent="110105001002").iloc[:1]
    buildings = gpd.GeoDataFrame(
        {
            "source_id": ["b1", "b2"],
            "name": ["North block", ""],
            "addr_street": ["Jingshan St", ""],
            "addr_housenumber": ["7", ""],
            "households": [24, 0],
        },
        geometry=[
            shapely.box(cx - 0.0002, cy + 0.0005, cx + 0.0002, cy + 0.0008),
            shapely.box(cx - 0.0002, cy - 0.0008, cx + 0.0002, cy - 0.0005),
        ],
        crs=4326,
    )
    line = shapely.LineString([(minx + 0.0005, cy), (maxx - 0.0005, cy)])
    streets = gpd.GeoDataFrame(
        {
            "network": "walk",
            "u": [1, 2, 1],
            "v": [2, 1, 2],
            "key": 0,
            "name": "East–West Rd",
            "highway": "residential",
            "length_m": 340.0,
        },
        geometry=[line, line.reverse(), line],
        crs=4326,
    )
    streets.loc[2, "network"] = "drive"
    cameras = gpd.GeoDataFrame(
        {"source_id": ["c1"], "direction": [90.4], "camera_type": ["dome"]},
        geometry=[shapely.Point(cx, cy)],
        crs=4326,
    )
    areas = gpd.GeoDataFrame(
        {"code": ["110105001001"], "name": ["Community"], "level": ["community"]},
        geometry=[shapely.box(*BOX)],
        crs=4326,
    )
    with open_store(url) as s:
        s.write(
            {
                "grids": pd.concat([grids, old]),
                "buildings": buildings,
                "streets": streets,
                "cameras": cameras,
                "areas": areas,
            }
        )
        s.set_setting("bounds", list(BOX))
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    with client_as(app) as c:
        yield c


def get_tile(client, layer, z, x, y, **params):
    r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = decode(r.content)
    assert list(tile) == [layer]
    assert tile[layer]["extent"] == EXTENT
    return tile[layer]["features"]


def test_grid_tile_holds_the_active_version_in_place(client):
    minx, miny, maxx, maxy = BOX
    x, y = tile_of(minx, maxy)
    features = get_tile(client, "grids", Z, x, y)
    by_code = {f["properties"]["code"]: f for f in features}
    # Version 1 is active (the default); the version-2 grid is not drawn.
    assert set(by_code) <= {f"110105001001{i:03d}" for i in range(1, 5)}
    nw = by_code["110105001001001"]
    assert nw["properties"] == {"code": "110105001001001", "name": "Q1", "households": 310}
    assert nw["geometry"]["type"] == "Polygon"
    # The grid's north-west corner lands where independent tile math puts it.
    ring = np.array(nw["geometry"]["coordinates"][0])
    ex, ey = in_tile_units(minx, maxy, Z, x, y)
    assert np.min(np.hypot(ring[:, 0] - ex, ring[:, 1] - ey)) <= 1.0
    # Exterior rings have positive area in y-down tile units (MVT 2.1, 4.3.4.4).
    assert shapely.Polygon(ring).exterior.is_ccw
    # Clipped to the tile plus a small buffer.
    assert ring.min() >= -64 and ring.max() <= EXTENT + 64


def test_zero_households_is_kept_and_empty_strings_left_out(client):
    features = []
    for lon, lat in ((BOX[0], BOX[1]), (BOX[2], BOX[3]), (BOX[0], BOX[3]), (BOX[2], BOX[1])):
        features += get_tile(client, "grids", 15, *tile_of(lon, lat, 15))
    props = {f["properties"]["code"]: f["properties"] for f in features}
    assert props["110105001001003"]["households"] == 0
    buildings = get_tile(client, "buildings", 15, *tile_of(*BOX[:2], 15))
    buildings += get_tile(client, "buildings", 15, *tile_of(*BOX[2:], 15))
    by_name = {f["properties"].get("name"): f["properties"] for f in buildings}
    assert by_name["North block"] == {
        "name": "North block",
        "address": "Jingshan St 7",
        "households": 24,
    }
    assert by_name[None] == {"households": 0}  # no name, no address: keys left out


def test_switching_the_active_version_changes_the_tile(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with open_store(url) as s:
        s.write(
            {
                "grids": pd.concat(
                    [quadrant_grids(BOX), quadrant_grids(BOX, version=2, parent="110105001002")]
                )
            }
        )
        s.set_setting("active_grid_version", 2)
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    with client_as(app) as c:
        features = get_tile(c, "grids", 14, *tile_of(*BOX[:2], 14))
    assert {f["properties"]["code"][:12] for f in features} == {"110105001002"}


def test_walk_streets_once_each(client):
    minx, miny, maxx, maxy = BOX
    x, y = tile_of((minx + maxx) / 2, (miny + maxy) / 2, 14)
    features = get_tile(client, "streets", 14, x, y)
    # Two directed walk edges (u-v, v-u) and one drive edge: one line.
    assert len(features) == 1
    assert features[0]["geometry"]["type"] == "LineString"
    assert features[0]["properties"] == {"name": "East–West Rd", "highway": "residential"}


def test_camera_point_in_place(client):
    cx, cy = (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2
    x, y = tile_of(cx, cy, 17)
    (camera,) = get_tile(client, "cameras", 17, x, y)
    assert camera["geometry"]["type"] == "Point"
    assert camera["properties"] == {"camera_type": "dome", "direction": 90}
    ex, ey = in_tile_units(cx, cy, 17, x, y)
    assert abs(camera["geometry"]["coordinates"][0] - ex) <= 1
    assert abs(camera["geometry"]["coordinates"][1] - ey) <= 1


def test_gcj02_shifts_features_for_chinese_basemaps(client):
    from gridpatrol.geo.crs import wgs84_to_gcj02

    cx, cy = (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2
    gx, gy = (float(v[0]) for v in wgs84_to_gcj02(np.array([cx]), np.array([cy])))
    assert tile_of(gx, gy, 17) != tile_of(cx, cy, 17)  # hundreds of metres in Beijing
    x, y = tile_of(gx, gy, 17)
    (camera,) = get_tile(client, "cameras", 17, x, y, datum="gcj02")
    ex, ey = in_tile_units(gx, gy, 17, x, y)
    assert camera["geometry"]["coordinates"] == pytest.approx([ex, ey], abs=1)
    r = client.get(f"/tiles/cameras/17/{x}/{y}.pbf")  # WGS84: not in that tile
    assert r.status_code == 204


def test_empty_tile_is_204_with_cache_headers(client):
    r = client.get("/tiles/grids/10/0/0.pbf")
    assert r.status_code == 204 and r.content == b""
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    # Below the layer's minzoom: empty, even over the data.
    r = client.get(f"/tiles/buildings/12/{'/'.join(map(str, tile_of(*BOX[:2], 12)))}.pbf")
    assert r.status_code == 204


def test_etag_revalidates_to_304(client):
    path = f"/tiles/grids/{Z}/{'/'.join(map(str, tile_of(BOX[0], BOX[3])))}.pbf"
    first = client.get(path)
    assert first.status_code == 200
    again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/grids/23/0/0.pbf",  # deeper than MAX_ZOOM
        "/tiles/grids/2/4/0.pbf",  # x past 2**z - 1
        "/tiles/grids/2/0/4.pbf",  # y past 2**z - 1
        "/tiles/grids/-1/0/0.pbf",
        "/tiles/grids/z/0/0.pbf",
    ],
)
def test_bad_tile_is_422(client, path):
    r = client.get(path)
    assert r.status_code == 422, (path, r.status_code)


def test_unknown_layer_is_404(client):
    r = client.get("/tiles/incidents/0/0/0.pbf")
    assert r.status_code == 404
    assert "grids" in r.json()["detail"]  # names the layers that have tiles
    assert client.get("/tiles/nope.json").status_code == 404


def test_tilejson(client):
    body = client.get("/tiles/buildings.json").json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"] == ["http://127.0.0.1/tiles/buildings/{z}/{x}/{y}.pbf"]
    assert body["minzoom"] == 14 and body["maxzoom"] >= 20
    assert body["bounds"] == list(BOX)
    assert body["vector_layers"][0]["id"] == "buildings"
    assert set(body["vector_layers"][0]["fields"]) == {"name", "address", "households"}
    shifted = client.get("/tiles/grids.json", params={"datum": "gcj02"}).json()
    assert shifted["tiles"][0].endswith("/tiles/grids/{z}/{x}/{y}.pbf?datum=gcj02")


def test_tile_bbox_matches_tile_math():
    w, s, e, n = tile_bbox(16, 53962, 24821)
    assert lonlat_to_tile(w, n, 16) == pytest.approx((53962, 24821))
    assert lonlat_to_tile(e, s, 16) == pytest.approx((53963, 24822))


def test_encoder_matches_mapbox_vector_tile():
    """Holes, multi-parts, lines and points decode as the geometries that went in."""
    z, x, y = 16, 53962, 24821
    w, s, e, n = tile_bbox(z, x, y)

    def ll(u, v):  # tile units -> lon/lat inside the tile (within the rounding)
        return w + (e - w) * u / EXTENT, n - (n - s) * v / EXTENT

    def poly(ring, holes=()):
        return shapely.Polygon([ll(*p) for p in ring], [[ll(*p) for p in h] for h in holes])

    square = [(100, 100), (1000, 100), (1000, 1000), (100, 1000)]
    gdf = gpd.GeoDataFrame(
        {"k": ["holed", "multi", "line", "multiline", "points"]},
        geometry=[
            poly(square, [[(300, 300), (300, 600), (600, 600), (600, 300)]]),
            shapely.MultiPolygon(
                [
                    poly([(2000, 2000), (2500, 2000), (2500, 2600)]),
                    poly([(3000, 100), (3500, 100), (3500, 700), (3000, 700)]),
                ]
            ),
            shapely.LineString([ll(10, 10), ll(2000, 40), ll(3000, 3000)]),
            shapely.MultiLineString([[ll(5, 5), ll(6, 900)], [ll(1000, 3000), ll(1500, 3500)]]),
            shapely.MultiPoint([ll(50, 50), ll(4000, 4000)]),
        ],
        crs=4326,
    )
    tile = decode(encode_tile({"t": gdf}, z, x, y, tolerance=0))
    got = {
        f["properties"]["k"]: shapely.geometry.shape(f["geometry"]) for f in tile["t"]["features"]
    }
    assert set(got) == set(gdf["k"])
    holed = got["holed"]
    assert holed.geom_type == "Polygon" and len(holed.interiors) == 1
    assert holed.area == pytest.approx(900 * 900 - 300 * 300, abs=2000)
    assert got["multi"].geom_type == "MultiPolygon" and len(got["multi"].geoms) == 2
    assert got["line"].coords[0] == pytest.approx((10, 10), abs=1)
    assert got["multiline"].geom_type == "MultiLineString"
    assert sorted(got["points"].geoms, key=lambda p: p.x)[1].coords[0] == pytest.approx(
        (4000, 4000), abs=1
    )
    assert encode_tile({"t": gdf.iloc[:0]}, z, x, y) == b""


def test_map_element_is_offline_and_add_layer_picks_by_count():
    from gridpatrol.maps.assets import external_assets
    from gridpatrol.maps.base import new_map, offline_html
    from gridpatrol.maps.tiles import TILE_THRESHOLD, VectorTileLayer, add_layer

    m = new_map(BOX)
    el = add_layer(m, "buildings", 100_000)
    assert isinstance(el, VectorTileLayer) and el.min_zoom == 14
    small = quadrant_grids(BOX)
    import folium

    assert isinstance(add_layer(m, "grids", small), folium.GeoJson)
    with pytest.raises(ValueError, match="pass the features"):
        add_layer(m, "grids", TILE_THRESHOLD)
    html = offline_html(m)
    assert external_assets(html) == []
    assert "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js" in html
    assert '"/tiles/buildings/{z}/{x}/{y}.pbf"' in html
    assert "L.canvas.tile" in html and "L.popup()" in html


@pytest.mark.parametrize(
    "store_url", ["embedded", pytest.param("postgis", marks=pytest.mark.postgis)], indirect=True
)
def test_cached_tile_changes_when_its_data_changes(store_url):
    """Tiles are cached per data revision: a warm tile is served from the cache, and a
    new grid version, an edit or a new building changes the very next answer."""
    from gridpatrol.api.routers.tiles import TILE_CACHE

    with open_store(store_url) as s:
        s.write({"grids": quadrant_grids(BOX)})
    app = create_app(Settings(database_url=store_url, escalation_interval_s=0))
    xyz = (14, *tile_of(*BOX[:2], 14))
    with client_as(app) as c:

        def codes():
            return {f["properties"]["code"] for f in get_tile(c, "grids", *xyz)}

        first = c.get("/tiles/grids/{}/{}/{}.pbf".format(*xyz))
        hits = TILE_CACHE.hits
        again = c.get("/tiles/grids/{}/{}/{}.pbf".format(*xyz))
        assert TILE_CACHE.hits == hits + 1  # served from the cache
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        assert {code[:12] for code in codes()} == {"091001001001"}

        # A new grid version, activated: the cached tile must not be served.
        with open_store(store_url) as s:
            s.write({"grids": quadrant_grids(BOX, version=2, parent="091001001002")})
            s.set_setting("active_grid_version", 2)
        assert {code[:12] for code in codes()} == {"091001001002"}
        changed = c.get(
            "/tiles/grids/{}/{}/{}.pbf".format(*xyz),
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert changed.status_code == 200  # the old ETag no longer matches

        # An edit of one grid's name (same version) shows at once too.
        with open_store(store_url) as s:
            s.update("grids", where={"version": 2}, values={"name": "renamed"})
        names = {f["properties"]["name"] for f in get_tile(c, "grids", *xyz)}
        assert names == {"renamed"}

        # A building added where there was none: the empty tile (204) becomes a tile.
        bxyz = (16, *tile_of(*BOX[:2], 16))
        assert c.get("/tiles/buildings/{}/{}/{}.pbf".format(*bxyz)).status_code == 204
        minx, miny = BOX[:2]
        with open_store(store_url) as s:
            s.write(
                {
                    "buildings": gpd.GeoDataFrame(
                        {"source_id": ["new"], "name": ["New block"], "households": [10]},
                        geometry=[shapely.box(minx, miny, minx + 0.0002, miny + 0.0002)],
                        crs=4326,
                    )
                }
            )
        names = {f["properties"].get("name") for f in get_tile(c, "buildings", *bxyz)}
        assert names == {"New block"}
