"""Each bad file gives a clear error naming file, feature and problem, and changes nothing."""

import json

import geopandas as gpd
import pytest
import shapely
from typer.testing import CliRunner

from gridpatrol.cli import app
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids

BOUNDS = (24.92, 60.16, 24.96, 60.18)
runner = CliRunner()


@pytest.fixture
def project(store_url):
    """A store with four grids and the project's bounds, as after a first import."""
    with open_store(store_url) as s:
        s.write({"grids": quadrant_grids(BOUNDS)})
        s.set_setting("bounds", list(BOUNDS))
    return store_url


def snapshot(url):
    with open_store(url) as s:
        grids = s.read("grids")
        return s.layer_counts(), grids["name"].tolist(), grids.geometry.to_wkb().tolist()


def run_import(url, *args):
    result = runner.invoke(app, ["import", *args, "--db", url])
    return result.exit_code, " ".join(result.output.split())


def feature_collection(features):
    return {"type": "FeatureCollection", "features": features}


def polygon_feature(coords, code="091001001001009"):
    return {
        "type": "Feature",
        "properties": {"code": code, "name": "new"},
        "geometry": {"type": "Polygon", "coordinates": [coords]},
    }


GOOD_RING = [[24.93, 60.165], [24.94, 60.165], [24.94, 60.17], [24.93, 60.17], [24.93, 60.165]]


def test_good_file_imports(project, tmp_path):
    path = tmp_path / "good.geojson"
    path.write_text(json.dumps(feature_collection([polygon_feature(GOOD_RING)])))
    code, out = run_import(project, "grids", str(path))
    assert code == 0, out
    assert snapshot(project)[0]["grids"] == 5


def test_broken_json(project, tmp_path):
    before = snapshot(project)
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [ {"type": "Feature",')
    code, out = run_import(project, "grids", str(path))
    assert code == 2
    assert "broken.geojson: broken JSON at line 1" in out
    assert snapshot(project) == before


def test_self_intersecting_polygon(project, tmp_path):
    before = snapshot(project)
    bowtie = [[24.93, 60.165], [24.94, 60.17], [24.94, 60.165], [24.93, 60.17], [24.93, 60.165]]
    path = tmp_path / "bowtie.geojson"
    features = [polygon_feature(GOOD_RING, "091001001001008"), polygon_feature(bowtie)]
    path.write_text(json.dumps(feature_collection(features)))
    code, out = run_import(project, "grids", str(path))
    assert code == 2
    assert "bowtie.geojson: feature 1 (code=091001001001009)" in out and "Self-intersection" in out
    assert snapshot(project) == before  # the good feature in the same file did not land


def test_missing_crs(project, tmp_path):
    before = snapshot(project)
    path = tmp_path / "nocrs.shp"
    g = (
        quadrant_grids(BOUNDS, version=3)
        .drop(columns=["parent_code"])
        .set_crs(None, allow_override=True)
    )
    with pytest.warns(UserWarning, match="crs"):  # the point of this file
        g.to_file(path)
    assert not path.with_suffix(".prj").exists()
    code, out = run_import(project, "grids", str(path))
    assert code == 2 and "nocrs.shp: the file declares no CRS; pass it with --crs" in out
    assert snapshot(project) == before


def test_unknown_crs(project, tmp_path):
    before = snapshot(project)
    path = tmp_path / "g.geojson"
    path.write_text(json.dumps(feature_collection([polygon_feature(GOOD_RING)])))
    code, out = run_import(project, "grids", str(path), "--crs", "EPSG:999999")
    assert code == 2 and "unknown CRS 'EPSG:999999'" in out
    assert snapshot(project) == before


def test_swapped_coordinates(project, tmp_path):
    before = snapshot(project)
    swapped = [[y, x] for x, y in GOOD_RING]
    path = tmp_path / "latlon.geojson"
    path.write_text(json.dumps(feature_collection([polygon_feature(swapped)])))
    code, out = run_import(project, "grids", str(path))
    assert code == 2 and "latlon.geojson" in out and "(lat, lon)" in out
    assert snapshot(project) == before


def test_wrong_geometry_type(project, tmp_path):
    before = snapshot(project)
    path = tmp_path / "points.geojson"
    pts = gpd.GeoDataFrame(
        {"code": ["091001001001009"]}, geometry=[shapely.Point(24.93, 60.17)], crs=4326
    )
    pts.to_file(path, driver="GeoJSON")
    code, out = run_import(project, "grids", str(path))
    assert code == 2
    assert (
        "points.geojson: feature 0 (code=091001001001009): is a Point, "
        "but layer 'grids' must be Polygon" in out
    )
    assert snapshot(project) == before


def test_missing_required_column(project, tmp_path):
    before = snapshot(project)
    path = tmp_path / "nocode.gpkg"
    quadrant_grids(BOUNDS).drop(columns=["code"]).to_file(path, driver="GPKG")
    code, out = run_import(project, "grids", str(path))
    assert code == 2 and "needs column(s) code" in out
    assert snapshot(project) == before


def test_gcj02_file_is_converted(project, tmp_path):
    from gridpatrol.geo.crs import wgs84_to_gcj02

    # A camera in Shenzhen, stored in GCJ-02 as AMap gives it.
    glon, glat = wgs84_to_gcj02([114.0579], [22.5431])
    path = tmp_path / "cams.geojson"
    # GeoJSON cannot say "GCJ-02"; the file claims WGS84 and --crs corrects it.
    gpd.GeoDataFrame(
        {"source_id": ["c1"]}, geometry=[shapely.Point(glon[0], glat[0])], crs=4326
    ).to_file(path, driver="GeoJSON")
    with open_store(project) as s:
        s.set_setting("bounds", None)
    code, out = run_import(project, "cameras", str(path), "--crs", "gcj02")
    assert code == 0, out
    with open_store(project) as s:
        cam = s.read("cameras").geometry.iloc[0]
    assert abs(cam.x - 114.0579) < 1e-7 and abs(cam.y - 22.5431) < 1e-7


def test_parquet_round_trip(project, tmp_path):
    path = tmp_path / "g.parquet"
    quadrant_grids(BOUNDS, version=2).to_parquet(path)
    code, out = run_import(project, "grids", str(path), "--version", "2")
    assert code == 0, out
    with open_store(project) as s:
        assert s.count("grids", where={"version": 2}) == 4
