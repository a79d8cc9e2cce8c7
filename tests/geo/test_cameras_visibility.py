"""Camera fields of view against building walls, checked against a brute-force ray test."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridpatrol.geo.cameras import cameras_from_osm, fields_of_view, quality_bands
from gridpatrol.geo.errors import CRSError

CRS = "EPSG:3067"


def _cams(rows):
    pts = [shapely.Point(r.pop("x"), r.pop("y")) for r in rows]
    df = gpd.GeoDataFrame(rows, geometry=pts, crs=CRS)
    df.insert(0, "source_id", [f"c{i}" for i in range(len(df))])
    return df


def _buildings(*polys):
    return gpd.GeoDataFrame(geometry=list(polys), crs=CRS)


def test_wall_ten_metres_away_blocks_everything_beyond_it():
    cams = _cams([dict(x=0.0, y=0.0, direction=0.0, fov=60.0, range_m=30.0)])
    wall = shapely.box(-50, 10, 50, 11)
    view = fields_of_view(cams, _buildings(wall)).geometry.iloc[0]
    beyond = shapely.box(-100, 10, 100, 100)
    assert shapely.area(shapely.intersection(view, beyond)) < 1e-6
    # what it does see is the whole triangle up to the wall
    assert view.area == pytest.approx(10 * 10 * np.tan(np.radians(30)), rel=1e-6)
    # without the wall the same camera sees the full 30 m sector
    open_view = fields_of_view(cams, None).geometry.iloc[0]
    assert open_view.bounds[3] == pytest.approx(30.0)


def test_matches_brute_force_rays_on_a_small_town():
    rng = np.random.default_rng(7)
    boxes = []
    for _ in range(25):
        x, y = rng.uniform(-60, 60, 2)
        w, h = rng.uniform(4, 15, 2)
        box = shapely.box(x, y, x + w, y + h)
        boxes.append(shapely.affinity.rotate(box, rng.uniform(0, 90)))
    buildings = _buildings(*boxes)
    rows = []
    for _ in range(12):
        while True:
            x, y = rng.uniform(-50, 50, 2)
            if not any(b.buffer(1.0).contains(shapely.Point(x, y)) for b in boxes):
                break
        fov = float(rng.choice([45.0, 90.0, 360.0]))
        rows.append(dict(x=x, y=y, direction=float(rng.uniform(0, 360)), fov=fov, range_m=35.0))
    cams = _cams(rows)
    views = fields_of_view(cams, buildings, step_deg=0.5)
    obstacles = shapely.union_all(boxes)
    agree = total = 0
    for cam, view in zip(cams.itertuples(), views.geometry, strict=True):
        gx, gy = np.meshgrid(np.linspace(-35, 35, 36), np.linspace(-35, 35, 36))
        dx, dy = gx.ravel(), gy.ravel()
        dist = np.hypot(dx, dy)
        bearing = np.degrees(np.arctan2(dx, dy)) % 360
        off = (bearing - cam.direction + 180) % 360 - 180
        in_cone = (dist <= 35.0) & (dist > 0.5) & ((cam.fov >= 360) | (np.abs(off) <= cam.fov / 2))
        px, py = cam.geometry.x + dx, cam.geometry.y + dy
        # brute force: a point is seen when the straight line to it touches no building
        sight = shapely.linestrings(
            np.stack(
                [
                    np.column_stack(
                        [np.full_like(px, cam.geometry.x), np.full_like(py, cam.geometry.y)]
                    ),
                    np.column_stack([px, py]),
                ],
                axis=1,
            )
        )
        brute = in_cone & ~shapely.intersects(sight, obstacles)
        pts = shapely.points(px, py)
        ours = shapely.contains(view, pts) | shapely.touches(view, pts)
        # points right on a view edge or a wall are ambiguous either way
        clear = (shapely.distance(shapely.boundary(view), pts) > 0.3) & (
            shapely.distance(obstacles, pts) > 0.3
        )
        agree += int((brute == ours)[clear].sum())
        total += int(clear.sum())
    assert total > 5000
    assert agree / total > 0.99


def test_domes_and_revolving_cameras_see_all_round_and_defaults_are_flagged():
    raw = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3],
            "tags": [
                {"camera:type": "dome"},
                {"revolving": "yes", "camera:direction": "90"},
                {"camera:direction": "E", "camera:type": "fixed"},
            ],
        },
        geometry=[shapely.Point(0, 0), shapely.Point(100, 0), shapely.Point(200, 0)],
        crs=CRS,
    )
    cams = cameras_from_osm(raw, id_column="id")
    views = fields_of_view(cams, None)
    assert views["full_circle"].tolist() == [True, True, False]
    # dome without a direction: the documented default is a circle of half the range
    assert views.geometry.iloc[0].area == pytest.approx(np.pi * 15.0**2, rel=0.01)
    assert views.geometry.iloc[1].area == pytest.approx(np.pi * 30.0**2, rel=0.01)
    assert "direction" in cams["defaulted"].iloc[0]
    assert "direction" not in cams["defaulted"].iloc[2]
    assert "fov" in cams["defaulted"].iloc[2]
    # the fixed camera looks east
    assert views.geometry.iloc[2].centroid.x > 200


def test_camera_mapped_inside_a_building_moves_out_and_sees_the_street():
    house = shapely.box(-10, 0, 10, 10)
    cams = _cams([dict(x=0.0, y=9.5, direction=0.0, fov=90.0, range_m=20.0)])
    view = fields_of_view(cams, _buildings(house))
    assert view["moved_m"].iloc[0] == pytest.approx(0.8)
    assert view.geometry.iloc[0].area > 100
    assert shapely.area(shapely.intersection(view.geometry.iloc[0], house)) < 1e-6


def test_tilt_leaves_a_blind_disc_under_the_camera_and_cuts_far_ground():
    cams = _cams(
        [dict(x=0.0, y=0.0, direction=np.nan, fov=360.0, range_m=50.0, height_m=5.0, tilt=45.0)]
    )
    view = fields_of_view(cams, None)
    near, reach = view["near_m"].iloc[0], view["reach_m"].iloc[0]
    assert 0 < near < 5.0  # 5 / tan(45 + 25.3)
    assert reach < 50.0  # upper image edge points below the horizon
    assert not view.geometry.iloc[0].contains(shapely.Point(0.5, 0.5))
    assert view.geometry.iloc[0].contains(shapely.Point(0, (near + reach) / 2))


def test_quality_bands_split_the_view_by_distance():
    cams = _cams([dict(x=0.0, y=0.0, direction=0.0, fov=60.0, range_m=40.0)])
    views = fields_of_view(cams, _buildings(shapely.box(-50, 12, 50, 13)))
    bands = quality_bands(views)
    # the wall at 12 m (13.9 m at the edges): identify to 10 m, recognise beyond, no observe
    assert bands["band"].tolist() == ["identify", "recognise"]
    assert bands.geometry.area.sum() == pytest.approx(views.geometry.area.sum(), rel=1e-3)
    assert bands.geometry.iloc[0].bounds[3] == pytest.approx(10.0, abs=0.01)


def test_geographic_crs_is_refused():
    cams = _cams([dict(x=24.9, y=60.1, direction=0.0)]).set_crs(4326, allow_override=True)
    with pytest.raises(CRSError):
        fields_of_view(cams, None)


def test_no_cameras_gives_no_views():
    cams = gpd.GeoDataFrame({"source_id": []}, geometry=[], crs=CRS)
    assert len(fields_of_view(cams, _buildings(shapely.box(0, 0, 1, 1)))) == 0
