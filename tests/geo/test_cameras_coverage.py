"""Coverage of streets and public space, blind spots, and siting new cameras."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridpatrol.geo.cameras import fields_of_view
from gridpatrol.geo.coverage import (
    NO_CAMERAS_NOTE,
    blind_areas,
    blind_streets,
    by_street_name,
    grid_coverage,
    seen_length,
    street_coverage,
)
from gridpatrol.geo.siting import suggest_sites

CRS = "EPSG:3067"


def _cams(rows):
    pts = [shapely.Point(r.pop("x"), r.pop("y")) for r in rows]
    df = gpd.GeoDataFrame(rows, geometry=pts, crs=CRS)
    df.insert(0, "source_id", [f"c{i}" for i in range(len(df))])
    return df


def _town():
    """A 4 x 4 block grid of streets every 100 m with a building in each block."""
    lines, names = [], []
    for i in range(5):
        lines.append(shapely.LineString([(0, i * 100), (400, i * 100)]))
        names.append(f"Street {i}")
        lines.append(shapely.LineString([(i * 100, 0), (i * 100, 400)]))
        names.append(f"Avenue {i}")
    streets = gpd.GeoDataFrame({"name": names}, geometry=lines, crs=CRS)
    blocks = [
        shapely.box(x + 15, y + 15, x + 85, y + 85)
        for x in range(0, 400, 100)
        for y in range(0, 400, 100)
    ]
    buildings = gpd.GeoDataFrame(geometry=blocks, crs=CRS)
    grids = gpd.GeoDataFrame(
        {"code": ["g1", "g2"], "parent_code": ["c1", "c1"]},
        geometry=[shapely.box(0, 0, 200, 400), shapely.box(200, 0, 400, 400)],
        crs=CRS,
    )
    return streets, buildings, grids


def test_seen_length_counts_overlapping_views_once():
    line = np.array([shapely.LineString([(0, 0), (100, 0)])])
    views = np.array(
        [shapely.box(10, -1, 40, 1), shapely.box(30, -1, 60, 1), shapely.box(80, -1, 90, 1)]
    )
    assert seen_length(line, views)[0] == pytest.approx(60.0)
    assert seen_length(line, views[:0])[0] == 0.0


def test_grid_coverage_by_grid_and_community():
    streets, buildings, grids = _town()
    cams = _cams([dict(x=100.0, y=100.0, direction=np.nan, fov=360.0, range_m=30.0)])
    views = fields_of_view(cams, buildings)
    cov = grid_coverage(grids, streets, views, buildings)
    g1, g2 = cov.set_index("code").loc["g1"], cov.set_index("code").loc["g2"]
    # the dome at the crossing (100, 100) sees 30 m along each of four arms
    assert g1["seen_street_m"] == pytest.approx(120.0, rel=0.01)
    assert g2["seen_street_m"] == 0.0
    assert g1["street_share"] == pytest.approx(120.0 / g1["street_m"], rel=0.01)
    # public area: the cross-shaped street space it sees, never a roof
    assert 0 < g1["seen_m2"] < np.pi * 30**2
    assert g1["public_m2"] == pytest.approx(200 * 400 - 8 * 70 * 70)
    assert g2["note"] == "no camera in this grid"
    community = grid_coverage(grids, streets, views, buildings, by="parent_code")
    assert community["seen_street_m"].iloc[0] == pytest.approx(g1["seen_street_m"])
    assert community["street_m"].iloc[0] == pytest.approx(cov["street_m"].sum())


def test_no_cameras_means_zero_coverage_with_a_note():
    streets, buildings, grids = _town()
    views = fields_of_view(gpd.GeoDataFrame({"source_id": []}, geometry=[], crs=CRS), buildings)
    cov = grid_coverage(grids, streets, views, buildings)
    assert (cov["street_share"] == 0).all() and (cov["area_share"] == 0).all()
    assert (cov["note"] == NO_CAMERAS_NOTE).all()
    assert len(blind_streets(streets, views)) == len(streets)


def test_blind_streets_ranked_by_incidents_near_them():
    streets, buildings, grids = _town()
    cams = _cams([dict(x=0.0, y=0.0, direction=np.nan, fov=360.0, range_m=500.0)])
    views = fields_of_view(cams, buildings)
    incidents = gpd.GeoDataFrame(
        geometry=[shapely.Point(250, 302)] * 3 + [shapely.Point(395, 50)], crs=CRS
    )
    blind = blind_streets(streets, views, incidents, near_m=10.0)
    # street 0 and avenue 0 run along the camera's sight lines: seen, not blind
    assert "Street 0" not in set(blind["name"]) and "Avenue 0" not in set(blind["name"])
    assert blind.iloc[0]["name"] == "Street 3" and blind.iloc[0]["incidents"] == 3
    assert blind.iloc[1]["name"] == "Avenue 4" and blind.iloc[1]["incidents"] == 1
    assert blind["rank"].tolist() == list(range(1, len(blind) + 1))
    names = by_street_name(street_coverage(streets, views))
    assert names.set_index("name").loc["Street 0", "seen_share"] == pytest.approx(1.0)
    areas = blind_areas(grids, views, buildings, incidents)
    assert len(areas) > 0 and (areas["area_m2"] >= 200).all()
    assert not shapely.intersects(
        shapely.union_all(areas.geometry.values), shapely.Point(1, 1).buffer(5)
    )


@pytest.mark.parametrize("method", ["greedy", "exact"])
def test_siting_ten_cameras_raises_street_coverage(method):
    streets, buildings, _ = _town()
    cams = _cams([dict(x=100.0, y=100.0, direction=np.nan, fov=360.0, range_m=30.0)])
    views = fields_of_view(cams, buildings)
    result = suggest_sites(views, streets, buildings, 10, method=method, spacing_m=50.0)
    before = street_coverage(streets, views)["seen_m"].sum()
    assert result.seen_before_m == pytest.approx(before, rel=1e-6)
    assert len(result.sites) == 10
    assert result.share_after > result.share_before
    # the report's per-site gains add up to the total gain, each one positive
    assert (result.sites["added_street_m"] > 0).all()
    assert result.sites["added_street_m"].sum() == pytest.approx(
        result.seen_after_m - result.seen_before_m
    )
    summary = result.summary()
    assert summary["added_street_m"] == pytest.approx(result.seen_after_m - before, abs=0.1)
    assert result.method == method


def test_exact_siting_is_never_worse_than_greedy():
    streets, buildings, _ = _town()
    views = fields_of_view(gpd.GeoDataFrame({"source_id": []}, geometry=[], crs=CRS), buildings)
    greedy = suggest_sites(views, streets, buildings, 4, method="greedy", spacing_m=50.0)
    exact = suggest_sites(views, streets, buildings, 4, method="exact", spacing_m=50.0)
    assert exact.sites["added_weight"].sum() >= greedy.sites["added_weight"].sum() - 1e-6


def test_incidents_pull_suggestions_towards_them():
    streets, buildings, _ = _town()
    views = fields_of_view(gpd.GeoDataFrame({"source_id": []}, geometry=[], crs=CRS), buildings)
    incidents = gpd.GeoDataFrame(geometry=[shapely.Point(350, 400)] * 50, crs=CRS)
    result = suggest_sites(views, streets, buildings, 1, incidents=incidents, spacing_m=25.0)
    assert result.sites.geometry.iloc[0].distance(shapely.Point(350, 400)) < 60


@pytest.mark.shared
@pytest.mark.slow
def test_real_extract_without_cameras_has_zero_coverage_and_a_note():
    """North Bayreuth (../shared) maps no cameras: coverage is 0 with a note, no error."""
    from gridpatrol.geo.crs import project
    from gridpatrol.store.osm import read_osm
    from tests.conftest import shared_path

    data = read_osm(shared_path("data", "osm_extra", "north-bayreuth.osm.bz2"))
    assert len(data.cameras) == 0
    buildings = project(data.buildings)
    streets = data.networks["walk"][1].to_crs(buildings.crs)
    views = fields_of_view(data.cameras.to_crs(buildings.crs), buildings)
    x0, y0, x1, y1 = buildings.total_bounds
    grids = gpd.GeoDataFrame(
        {"code": ["west", "east"], "parent_code": ["c", "c"]},
        geometry=[shapely.box(x0, y0, (x0 + x1) / 2, y1), shapely.box((x0 + x1) / 2, y0, x1, y1)],
        crs=buildings.crs,
    )
    cov = grid_coverage(grids, streets, views, buildings)
    assert (cov["street_share"] == 0).all() and (cov["street_m"] > 0).all()
    assert (cov["note"] == NO_CAMERAS_NOTE).all()
    result = suggest_sites(views, streets.iloc[:400], buildings, 3, method="greedy")
    assert result.share_before == 0 and result.share_after > 0


def test_seen_length_of_multipart_and_mixed_pieces():
    pieces = np.array(
        [
            shapely.MultiLineString([[(0, 0), (10, 0)], [(20, 0), (30, 0)]]),
            shapely.GeometryCollection([shapely.Point(5, 5), shapely.LineString([(0, 1), (4, 1)])]),
            shapely.Point(1, 1),
            shapely.LineString(),
            shapely.GeometryCollection(
                [shapely.LineString([(0, 0), (3, 0)]), shapely.LineString()]
            ),
        ]
    )
    seen = seen_length(pieces, np.array([shapely.box(-1, -1, 25, 2)]))
    assert seen.tolist() == pytest.approx([15.0, 4.0, 0.0, 0.0, 3.0])
