"""Aligning grids with police beats: small layers drawn here, in UTM zone 50N (metres).

The grids are a 200 m community split into four 100 m quadrants (A NW, B NE, C SW,
D SE); the beats split the same square into a west and an east half along ``x = split``.
"""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.alignment import compare_layers, propose_aligned
from gridpatrol.geo.errors import CRSError, SchemaError

UTM = 32650
X0, Y0 = 500_000.0, 3_400_000.0
COMMUNITY = "440106001001"
A, B, C, D = (f"{COMMUNITY}{i:03d}" for i in range(1, 5))
WEST, EAST = "P01", "P02"


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def grids():
    geoms = [
        box(0, 100, 100, 200),
        box(100, 100, 200, 200),
        box(0, 0, 100, 100),
        box(100, 0, 200, 100),
    ]
    return gpd.GeoDataFrame(
        {
            "code": [A, B, C, D],
            "name": ["A", "B", "C", "D"],
            "parent_code": COMMUNITY,
            "level": "grid",
            "kind": "comprehensive",
            "households": 400,
        },
        geometry=geoms,
        crs=UTM,
    )


def beats(split=100.0, top=200.0):
    return gpd.GeoDataFrame(
        {"code": [WEST, EAST]},
        geometry=[box(0, 0, split, top), box(split, 0, 200, top)],
        crs=UTM,
    )


def buildings(*extra):
    """A 20 m building in the middle of each quadrant, plus ``extra`` (geometry, households)."""
    centres = [(50, 150), (150, 150), (50, 50), (150, 50)]
    geoms = [box(x - 10, y - 10, x + 10, y + 10) for x, y in centres] + [g for g, _ in extra]
    return gpd.GeoDataFrame(
        {
            "source_id": [f"osm:way/{i}" for i in range(len(geoms))],
            "households": [100] * 4 + [h for _, h in extra],
        },
        geometry=geoms,
        crs=UTM,
    )


def check_nested_and_covering(out, a, b, *, tol=1e-6):
    """Each output feature in its one b feature; the output tiles the union of a."""
    by_code = b.set_index("code").geometry
    for geom, code in zip(out.geometry, out["b_code"], strict=True):
        assert shapely.area(shapely.difference(geom, by_code[code])) <= tol
    union_out = shapely.union_all(out.geometry.values)
    union_a = shapely.union_all(a.geometry.values)
    assert shapely.area(shapely.symmetric_difference(union_out, union_a)) <= tol
    assert out.area.sum() == pytest.approx(union_a.area, abs=tol)  # no overlaps
    assert (out["n_parts"] == 1).all()


def test_identical_layers_are_aligned():
    a = grids()
    b = grids()[["code", "geometry"]]
    result = compare_layers(a, b, buildings=buildings())
    assert result.aligned
    assert (result.matches["main_code"] == result.matches.index).all()
    assert result.matches["share"].tolist() == pytest.approx([1.0] * 4)
    s = result.summary
    assert s["n_aligned"] == 4 and s["n_pieces"] == 0 and s["aligned_share"] == 1.0
    assert s["buildings_affected"] == 0 and s["households_affected"] == 0
    # grids inside beats are aligned too; proposing changes nothing
    assert compare_layers(a, beats()).aligned
    out = propose_aligned(a, beats(), buildings=buildings())
    assert out["code"].tolist() == [A, B, C, D]
    assert (out["status"] == "kept").all() and out["households"].tolist() == [100] * 4
    check_nested_and_covering(out, a, beats())


def test_shifted_boundary_gives_pieces_and_wrong_side_buildings():
    # the beats split at x = 110: the west 10 m of B and D lie in the west beat
    strip_building = box(102, 140, 108, 160)  # in grid B, but in the west beat
    result = compare_layers(grids(), beats(110), buildings=buildings((strip_building, 30)))
    m = result.matches
    assert m.loc[B, "main_code"] == EAST and m.loc[B, "share"] == pytest.approx(0.9)
    assert m.loc[B, "outside_m2"] == pytest.approx(1000.0) and m.loc[B, "n_other"] == 1
    assert m.loc[[A, C], "aligned"].all() and not m.loc[[B, D], "aligned"].any()
    pieces = result.pieces
    assert pieces["a_code"].tolist() == [B, D]
    assert (pieces["b_code"] == WEST).all() and (pieces["main_code"] == EAST).all()
    assert pieces["area_m2"].tolist() == pytest.approx([1000.0, 1000.0])
    strip = box(100, 100, 110, 200)
    assert shapely.area(shapely.symmetric_difference(pieces.geometry.iloc[0], strip)) < 1e-6
    assert X0 + 100 < pieces["x"].iloc[0] < X0 + 110
    assert pieces["buildings"].tolist() == [1, 0] and pieces["households"].tolist() == [30, 0]
    wrong = result.wrong_side
    assert wrong["source_id"].tolist() == ["osm:way/4"]
    assert wrong.iloc[0][["a_code", "main_code", "b_code"]].tolist() == [B, EAST, WEST]
    s = result.summary
    assert s["n_pieces"] == 2 and s["pieces_area_m2"] == pytest.approx(2000.0)
    assert s["buildings_affected"] == 1 and s["households_affected"] == 30
    assert s["aligned_share"] == pytest.approx(38_000 / 40_000)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["crs"] == "EPSG:32650" and data["pieces"][0]["location"].startswith("POLYGON")
    assert data["wrong_side"][0]["b_code"] == WEST
    geo = result.to_dict(geometry="geojson")
    assert geo["pieces"][0]["location"]["type"] == "Polygon"


def test_slivers_merge_into_the_neighbour_of_their_beat_and_codes_stay():
    a, b = grids(), beats(110)
    out = propose_aligned(a, b, buildings=buildings())
    check_nested_and_covering(out, a, b)
    assert out["code"].tolist() == [A, B, C, D] and (out["status"] == "kept").all()
    # the 10 m strips of B and D went to A and C, their neighbours in the west beat
    area = out.set_index("code")["area_m2"]
    assert area[A] == pytest.approx(11_000.0) and area[B] == pytest.approx(9_000.0)
    row = out.set_index("code").loc[A]
    assert row["b_code"] == WEST and row["source_codes"] == f"{A},{B}"
    assert out.set_index("code").loc[B, "b_code"] == EAST
    assert out.attrs["retired_codes"] == [] and out.attrs["split_buildings"] == []


def test_small_piece_with_many_households_stays_a_grid():
    a, b = grids(), beats(110)
    tower = box(102, 140, 108, 160)
    out = propose_aligned(a, b, buildings=buildings((tower, 60)), min_piece_households=50)
    check_nested_and_covering(out, a, b)
    new = out[out["status"] == "new"]
    assert new["code"].tolist() == [f"{COMMUNITY}005"]
    assert new.iloc[0]["source_code"] == B and new.iloc[0]["households"] == 60
    assert new.iloc[0]["area_m2"] == pytest.approx(1000.0)
    assert new.iloc[0]["parent_code"] == COMMUNITY and new.iloc[0]["b_code"] == WEST


def test_big_pieces_get_new_codes_and_buildings_stay_whole():
    # split at x = 160: 60 m of B and D in the west beat (their larger piece keeps the code)
    a, b = grids(), beats(160)
    straddler = box(90, 140, 104, 160)  # 10 m in A, 4 m in B, all in the west beat
    across_beats = box(155, 20, 165, 30)  # the beats themselves divide it
    out = propose_aligned(a, b, buildings=buildings((straddler, 20), (across_beats, 10)))
    check_nested_and_covering(out, a, b)
    out = out.set_index("code")
    assert list(out.index) == [A, B, C, D, f"{COMMUNITY}005", f"{COMMUNITY}006"]
    assert out.loc[B, "b_code"] == WEST and out.loc[B, "area_m2"] == pytest.approx(6_000.0 - 80.0)
    assert out.loc[f"{COMMUNITY}005", "source_code"] == B
    assert out.loc[f"{COMMUNITY}005", "b_code"] == EAST
    assert out.loc[f"{COMMUNITY}006", "source_code"] == D
    assert (out.loc[[f"{COMMUNITY}005", f"{COMMUNITY}006"], "status"] == "new").all()
    # the straddling building went whole to A, which holds most of it
    assert shapely.area(shapely.difference(straddler, out.loc[A, "geometry"])) < 1e-6
    assert shapely.area(shapely.intersection(straddler, out.loc[B, "geometry"])) < 1e-6
    assert out.loc[A, "households"] == 120
    assert out.attrs["split_buildings"] == ["osm:way/5"]


def test_codes_that_do_not_follow_the_pattern_get_a_suffix():
    a = grids()
    a["code"] = ["g1", "g2", "g3", "g4"]
    out = propose_aligned(a, beats(160))
    assert sorted(out["code"]) == ["g1", "g2", "g2-2", "g3", "g4", "g4-2"]
    assert out.attrs["households_source"] == "area"
    # households shared by area: B's 400 split 60/40
    assert out.set_index("code").loc[["g2", "g2-2"], "households"].tolist() == [240, 160]


def test_parts_outside_every_beat_merge_into_their_own_grid():
    a, b = grids(), beats(100, top=195)  # the beats stop 5 m short of the top
    result = compare_layers(a, b)
    assert result.pieces["b_code"].tolist() == ["", ""]
    assert result.pieces["area_m2"].tolist() == pytest.approx([500.0, 500.0])
    out = propose_aligned(a, b).set_index("code")
    assert list(out.index) == [A, B, C, D]
    assert out.loc[A, "outside_b_m2"] == pytest.approx(500.0)
    assert out.loc[A, "area_m2"] == pytest.approx(10_000.0)


def test_crs_mismatch_is_refused():
    with pytest.raises(CRSError, match="not a metric projected CRS"):
        compare_layers(grids().to_crs(4326), beats().to_crs(4326))
    with pytest.raises(CRSError):
        compare_layers(grids(), beats().to_crs(32649))
    with pytest.raises(CRSError):
        propose_aligned(grids(), beats(), buildings=buildings().to_crs(32649))


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(SchemaError, match="code"):
        compare_layers(grids(), beats().rename(columns={"code": "id"}))
    with pytest.raises(SchemaError, match="min_piece_m2"):
        propose_aligned(grids(), beats(), min_piece_m2=-1)


def voronoi(n, seed, size=2000.0):
    rng = np.random.default_rng(seed)
    frame = box(0, 0, size, size)
    pts = shapely.multipoints(rng.uniform([X0, Y0], [X0 + size, Y0 + size], (n, 2)))
    return shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame)), frame
    )


def test_random_layers_nest_cover_and_keep_unsplit_buildings_whole():
    cells = voronoi(60, 1)
    a = gpd.GeoDataFrame(
        {
            "code": [f"{COMMUNITY}{i + 1:03d}" for i in range(len(cells))],
            "parent_code": COMMUNITY,
        },
        geometry=cells,
        crs=UTM,
    )
    b = gpd.GeoDataFrame(
        {"code": [f"P{i:02d}" for i in range(12)]}, geometry=voronoi(12, 2), crs=UTM
    )
    rng = np.random.default_rng(3)
    xy = rng.uniform([X0 + 10, Y0 + 10], [X0 + 1990, Y0 + 1990], (600, 2))
    footprints = shapely.box(xy[:, 0] - 8, xy[:, 1] - 8, xy[:, 0] + 8, xy[:, 1] + 8)
    i, j = shapely.STRtree(footprints).query(footprints, predicate="intersects")
    alone = np.bincount(i[i != j], minlength=len(footprints)) == 0  # no overlapping buildings
    bld = gpd.GeoDataFrame(
        {"source_id": [f"b{k}" for k in range(alone.sum())], "households": 20},
        geometry=footprints[alone],
        crs=UTM,
    )
    out = propose_aligned(a, b, buildings=bld)
    check_nested_and_covering(out, a, b, tol=1e-3)
    assert out["code"].is_unique and set(a["code"]) <= set(out["code"])
    assert out["households"].sum() == bld["households"].sum()
    assert compare_layers(out, b).aligned
    bi, fi = shapely.STRtree(out.geometry.values).query(bld.geometry.values, predicate="intersects")
    area = shapely.area(shapely.intersection(bld.geometry.values[bi], out.geometry.values[fi]))
    held = pd.DataFrame({"b": bi, "f": fi})[area > 1e-6].groupby("b")["f"].nunique()
    split = set(bld["source_id"].to_numpy()[held[held > 1].index])
    assert split == set(out.attrs["split_buildings"])
    # a building is only split where the beats split it
    beats_split = compare_layers(bld.assign(code=bld["source_id"]), b, tolerance_m2=1e-6)
    beats_split = beats_split.matches["n_other"] > 0
    assert split <= set(beats_split[beats_split].index)
