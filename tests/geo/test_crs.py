import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridpatrol.geo import crs
from gridpatrol.geo.errors import CRSError, SwappedCoordinatesError


def _metres(dlon, dlat, lat):
    return np.hypot(dlon * 111_320 * np.cos(np.radians(lat)), dlat * 110_540)


def test_gcj02_round_trip_is_exact_and_offset_is_hundreds_of_metres():
    rng = np.random.default_rng(0)
    lon = rng.uniform(100, 125, 1000)
    lat = rng.uniform(20, 45, 1000)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    shift = _metres(glon - lon, glat - lat, lat)
    assert 50 < shift.min() and shift.max() < 1000
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    assert _metres(wlon - lon, wlat - lat, lat).max() < 0.001


def test_bd09_round_trip_is_exact():
    lon, lat = np.array([114.0579, 121.4737]), np.array([22.5431, 31.2304])
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    assert _metres(blon - lon, blat - lat, lat).min() > 100
    wlon, wlat = crs.bd09_to_wgs84(blon, blat)
    assert _metres(wlon - lon, wlat - lat, lat).max() < 0.001


def test_no_shift_outside_china():
    lon, lat = crs.wgs84_to_gcj02([24.94], [60.17])
    assert lon[0] == 24.94 and lat[0] == 60.17


def test_to_wgs84_from_gcj02_moves_geometries():
    g = gpd.GeoDataFrame(geometry=[shapely.Point(114.06, 22.54)])
    out = crs.to_wgs84(g, crs="gcj02")
    assert out.crs.to_epsg() == 4326
    x, y = crs.wgs84_to_gcj02([out.geometry.x[0]], [out.geometry.y[0]])
    assert abs(x[0] - 114.06) < 1e-9 and abs(y[0] - 22.54) < 1e-9


@pytest.mark.parametrize("name", ["gcj02", "GCJ-02", "bd09", "BD_09"])
def test_parse_chinese_datums(name):
    assert crs.parse_crs(name) in ("gcj02", "bd09")


def test_unknown_crs_says_what_to_use():
    with pytest.raises(CRSError, match="EPSG code"):
        crs.parse_crs("EPSG:999999")


def test_missing_crs_is_an_error():
    with pytest.raises(CRSError, match="no CRS"):
        crs.to_wgs84(gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)]))


def test_crs_mismatch_is_an_error_not_a_warning():
    a = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)], crs=4326)
    b = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)], crs=3857)
    with pytest.raises(CRSError, match="reproject"):
        crs.check_same_crs(a, b, names=("grids", "points"))
    with pytest.raises(CRSError, match="not a metric"):
        crs.check_metric(a)
    crs.check_metric(b)


def test_metric_crs_is_utm():
    g = gpd.GeoDataFrame(geometry=[shapely.Point(24.94, 60.17)], crs=4326)
    assert crs.metric_crs(g).to_epsg() == 32635


def test_swapped_coordinates_detected():
    g = gpd.GeoDataFrame(geometry=[shapely.Point(60.17, 124.94)], crs=4326)
    with pytest.raises(SwappedCoordinatesError, match="lat, lon"):
        crs.raise_if_swapped(g)
    flags = crs.check_lonlat([60.17, 24.94], [24.94, 60.17], expected_bounds=(24, 60, 25, 61))
    assert flags.tolist() == [True, False]


def test_the_one_metric_rule_refuses_degrees_feet_and_nothing():
    assert crs.check_metric_crs("EPSG:32650").to_epsg() == 32650
    with pytest.raises(CRSError, match="no CRS"):
        crs.check_metric_crs(None, what="grids")
    with pytest.raises(CRSError, match="geographic"):
        crs.check_metric_crs("EPSG:4326", what="grids")
    with pytest.raises(CRSError, match="'US survey foot'.*not a metric projected CRS"):
        crs.check_metric_crs("EPSG:2263", what="grids")  # New York, US feet: projected
    # the GeoDataFrame check is the same rule
    ft = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)], crs="EPSG:2263")
    with pytest.raises(CRSError, match="metre axes"):
        crs.check_metric(ft, what="grids")


def test_metric_layers_name_the_odd_one_and_skip_missing_ones():
    a = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)], crs=32650)
    b = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)], crs=32651)
    assert crs.check_metric_layers({"grids": a, "streets": None, "water": a}).to_epsg() == 32650
    with pytest.raises(CRSError, match="streets is in EPSG:32651"):
        crs.check_metric_layers({"grids": a, "streets": b})
    with pytest.raises(CRSError, match="water is in EPSG:4326"):
        crs.check_metric_layers({"grids": a, "water": a.to_crs(4326)})
