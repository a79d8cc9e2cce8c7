"""Map pages through the API: thematic pages, languages, basemaps and the GCJ-02 shift."""

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.geo.crs import wgs84_to_gcj02
from gridpatrol.services.incidents import ingest_incidents
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids, shared_path
from tests.tokens import client_as  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory, helsinki):
    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'p.db'}"
    with open_store(url) as s:
        s.write(helsinki.layers())
        s.write({"grids": quadrant_grids(helsinki.buildings.total_bounds)})
        s.set_setting("bounds", list(helsinki.bounds))
        pts = helsinki.buildings.geometry.representative_point()
        ingest_incidents(
            s,
            pd.DataFrame(
                {
                    "incident_id": [f"p{i}" for i in range(60)],
                    "reported_at": [
                        f"2026-11-{10 + i % 10}T{8 + i % 12:02d}:00:00+02:00" for i in range(60)
                    ],
                    "category": ["fire", "traffic", "sanitation"] * 20,
                    "description": "secret text",
                    "lon": pts.x.to_numpy()[:60],
                    "lat": pts.y.to_numpy()[:60],
                }
            ),
            now=pd.Timestamp("2026-11-24", tz="UTC"),
        )
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        yield c


@pytest.mark.parametrize("measure", ["households", "incidents", "camera_coverage"])
def test_grids_choropleth_with_legend(client, measure):
    r = client.get("/maps/grids", params={"measure": measure})
    assert r.status_code == 200
    assert "legend" in r.text and '"value"' in r.text


def test_camera_coverage_values(client):
    html = client.get("/maps/grids", params={"measure": "camera_coverage"}).text
    shares = [float(v) for v in re.findall(r'"camera_coverage": ([0-9.]+)', html)]
    assert shares and all(0 <= v <= 1 for v in shares) and max(shares) > 0


def test_incidents_page_filters(client):
    every = client.get("/maps/incidents").text
    assert "gridpatrol · Incidents · 60" in every
    fire = client.get("/maps/incidents", params={"category": "fire"}).text
    assert "gridpatrol · Incidents · 20" in fire
    morning = client.get("/maps/incidents", params={"hours": "8-10"}).text
    n = int(re.search(r"Incidents · (\d+)", morning).group(1))
    assert 0 < n < 60
    dated = client.get("/maps/incidents", params={"start": "2026-11-10", "end": "2026-11-10"}).text
    assert "Incidents · 6 " in dated
    assert client.get("/maps/incidents", params={"hours": "late"}).status_code == 422


def test_cameras_page_has_views(client):
    r = client.get("/maps/cameras?lang=zh")
    assert r.status_code == 200
    # layer names are JSON-escaped inside the page's script
    assert "可视范围" in r.text or "\\u53ef\\u89c6\\u8303\\u56f4" in r.text


def test_pages_in_both_languages(client):
    for path in ("/", "/maps/grids", "/maps/incidents", "/maps/cameras"):
        zh = client.get(path, headers={"accept-language": "zh-CN"}).text
        en = client.get(path, params={"lang": "en"}, headers={"accept-language": "zh-CN"}).text
        assert 'lang="zh-CN"' in zh and 'id="gp-title" lang="en"' in en


def test_basemaps(client):
    osm = client.get("/", params={"basemap": "osm"}).text
    assert "tile.openstreetmap.org" in osm and "OpenStreetMap" in osm
    amap = client.get("/", params={"basemap": "amap"}).text
    assert "autonavi.com" in amap
    assert client.get("/", params={"basemap": "google"}).status_code == 422
    none = client.get("/").text
    assert "tile.openstreetmap.org" not in none and "OpenStreetMap" in none  # attribution stays


def test_local_mbtiles_basemap(tmp_path, helsinki):
    import sqlite3

    mb = tmp_path / "base.mbtiles"
    con = sqlite3.connect(mb)
    con.execute("CREATE TABLE metadata (name text, value text)")
    con.execute(
        "CREATE TABLE tiles (zoom_level int, tile_column int, tile_row int, tile_data blob)"
    )
    con.execute("INSERT INTO metadata VALUES ('format', 'png')")
    con.execute("INSERT INTO tiles VALUES (1, 1, 0, ?)", (b"\x89PNG fake",))
    con.commit()
    con.close()
    url = f"sqlite:///{tmp_path / 'p.db'}"
    open_store(url).close()
    app = create_app(
        Settings(database_url=url, basemap="local", basemap_file=str(mb), escalation_interval_s=0)
    )
    with client_as(app) as c:
        r = c.get("/basemap/1/1/1")  # XYZ y=1 is TMS row 0
        assert (
            r.status_code == 200
            and r.content == b"\x89PNG fake"
            and r.headers["content-type"] == "image/png"
        )
        assert c.get("/basemap/1/0/0").status_code == 204
        assert c.get("/basemap/1/5/0").status_code == 422
        assert "/basemap/{z}/{x}/{y}" in c.get("/").text


def test_local_pmtiles_basemap(tmp_path):
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    pm = tmp_path / "base.pmtiles"
    with open(pm, "wb") as fh:
        w = Writer(fh)
        w.write_tile(zxy_to_tileid(1, 1, 1), b"\x89PNG pm")
        w.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_zoom": 1,
                "max_zoom": 1,
                "min_lon_e7": -1800000000,
                "min_lat_e7": -850000000,
                "max_lon_e7": 1800000000,
                "max_lat_e7": 850000000,
                "center_zoom": 1,
                "center_lon_e7": 0,
                "center_lat_e7": 0,
            },
            {},
        )
    url = f"sqlite:///{tmp_path / 'p.db'}"
    open_store(url).close()
    app = create_app(
        Settings(database_url=url, basemap="local", basemap_file=str(pm), escalation_interval_s=0)
    )
    with client_as(app) as c:
        r = c.get("/basemap/1/1/1")
        assert (
            r.status_code == 200
            and r.content == b"\x89PNG pm"
            and r.headers["content-type"] == "image/png"
        )
        assert c.get("/basemap/1/0/1").status_code == 204


def _coords_in_html(html: str) -> np.ndarray:
    return np.array(
        [
            (float(a), float(b))
            for a, b in re.findall(r"\[(1[0-9]{2}\.[0-9]+), ([0-9]{2}\.[0-9]+)\]", html)
        ]
    )


def test_gcj02_basemap_shifts_a_known_building(tmp_path):
    """A building stored in WGS84 is drawn where AMap (GCJ-02) has it."""
    wgs = shapely.box(114.0570, 22.5425, 114.0580, 22.5433)  # Shenzhen Civic Centre area
    url = f"sqlite:///{tmp_path / 'sz.db'}"
    with open_store(url) as s:
        s.write({"buildings": gpd.GeoDataFrame({"source_id": ["b1"]}, geometry=[wgs], crs=4326)})
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        plain = _coords_in_html(c.get("/").text)
        shifted = _coords_in_html(c.get("/", params={"basemap": "amap"}).text)
    gx, gy = wgs84_to_gcj02(plain[:, 0], plain[:, 1])
    assert np.allclose(shifted, np.column_stack([gx, gy]), atol=1e-9)
    offset_m = np.hypot(
        (shifted[:, 0] - plain[:, 0]) * 103_000, (shifted[:, 1] - plain[:, 1]) * 111_000
    )
    assert (offset_m > 200).all()  # the shift is real: hundreds of metres in Shenzhen


@pytest.mark.shared
def test_gcj02_buildings_line_up_with_their_source(tmp_path):
    """Suzhou footprints traced on a GCJ-02 map: imported with --crs gcj02, stored in WGS84,
    and drawn on AMap exactly where they were traced."""
    from gridpatrol.store.files import load_layer_file

    src = shared_path("data", "suzhou_buildings", "suzhou_buildings_bd_demo_2.geojson")
    raw = gpd.read_file(src).iloc[:20]
    path = tmp_path / "sz.geojson"
    raw.assign(source_id=[f"s{i}" for i in range(len(raw))]).to_file(path, driver="GeoJSON")
    url = f"sqlite:///{tmp_path / 'suzhou.db'}"
    with open_store(url) as s:
        s.write({"buildings": load_layer_file(path, "buildings", crs="gcj02")})
        stored = s.read("buildings").geometry.iloc[0]
    assert shapely.hausdorff_distance(stored, raw.geometry.iloc[0]) > 1e-3  # moved ~ hundreds of m
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        drawn = _coords_in_html(c.get("/", params={"basemap": "amap"}).text)
    source = shapely.get_coordinates(raw.geometry.values)
    # every drawn vertex is a source vertex, to well under a millimetre
    d = np.min(
        np.hypot(drawn[:, None, 0] - source[None, :, 0], drawn[:, None, 1] - source[None, :, 1]),
        axis=1,
    )
    assert d.max() < 1e-8


def test_big_layers_come_as_vector_tiles(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(24.90, 24.99, 6000)
    y = rng.uniform(60.15, 60.19, 6000)
    boxes = shapely.box(x, y, x + 1e-4, y + 5e-5)
    url = f"sqlite:///{tmp_path / 'big.db'}"
    with open_store(url) as s:
        s.write(
            {
                "buildings": gpd.GeoDataFrame(
                    {"source_id": [f"b{i}" for i in range(6000)]}, geometry=boxes, crs=4326
                )
            }
        )
        s.set_setting("bounds", [24.90, 60.15, 24.99, 60.19])
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        html = c.get("/").text
        assert "/tiles/buildings/{z}/{x}/{y}.pbf" in html
        assert "b5999" not in html  # not inlined
        assert c.get("/tiles/buildings/15/18654/9480.pbf").status_code in (200, 204)


# -- one coherent service (issue 16) ---------------------------------------------------

PAGES = ["/", "/maps/grids", "/maps/incidents", "/maps/cameras", "/patrols", "/docs", "/redoc"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_the_navigation_bar_in_its_language(client, path):
    html = client.get(path, params={"lang": "zh"}).text
    nav = re.search(r'<nav id="gp-nav".*?</nav>', html, flags=re.S)
    assert nav, path
    hrefs = re.findall(r'href="([^"]+)"', nav.group(0))
    targets = {h.split("?")[0] for h in hrefs}
    assert {"/", "/maps/grids", "/maps/incidents", "/maps/cameras", "/docs"} <= targets
    assert any(t.startswith("/editor/") for t in targets)
    assert any(t.startswith("/patrols") for t in targets)
    assert all(h.startswith("/") and h.endswith("lang=zh") for h in hrefs)  # root-relative
    assert "网格" in nav.group(0)


def test_api_docs_are_served_from_the_package(client):
    for path, asset in (
        ("/docs", "/static/vendor/swagger-ui/swagger-ui-bundle.js"),
        ("/docs", "/static/vendor/swagger-ui/swagger-ui.css"),
        ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
    ):
        html = client.get(path).text
        assert asset in html and "cdn.jsdelivr" not in html and "fonts.googleapis" not in html
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100_000


def test_grids_colour_switch_keeps_the_language(client):
    html = client.get("/maps/grids", params={"lang": "zh"}).text
    switch = re.search(r'<div id="gp-measure".*?</div>', html, flags=re.S).group(0)
    links = re.findall(r'href="([^"]+)"', switch)
    assert len(links) == 2 and all("lang=zh" in h for h in links)


def test_hot_spots_need_enough_incidents_and_show_a_legend(client):
    html = client.get("/maps/incidents").text  # 60 incidents on 4 grids
    assert 'id="gp-hotspot-legend"' in html
    few = client.get("/maps/incidents", params={"category": "fire"}).text  # 20 incidents
    assert "Too few incidents for a significant pattern (20 shown" in few
    assert "Gi* z" not in few  # no hot-spot layer painted from noise


def test_patrols_index_lists_plans(client):
    html = client.get("/patrols").text
    assert "Patrol plans" in html and ("No patrol plan yet" in html or "/patrols/" in html)


def test_one_incident_is_one_feature(client):
    r = client.get("/api/incidents/p1")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "Feature" and body["id"] == "p1"
    assert body["geometry"]["type"] == "Point"
