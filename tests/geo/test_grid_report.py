"""The planner's validation report: small layers drawn here, in UTM zone 50N (metres)."""

import json
import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.errors import CRSError, InvalidGeometryError, SchemaError
from gridpatrol.geo.grid_report import PROBLEM_KINDS, validate_grid, validate_grids

UTM = 32650
X0, Y0 = 500_000.0, 3_400_000.0  # somewhere in Guangdong
COMMUNITY = "440106001001"
A, B, C, D = (f"{COMMUNITY}{i:03d}" for i in range(1, 5))


def box(x1, y1, x2, y2):
    """A box in metres from the community's south-west corner."""
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def line(*xy):
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in xy])


def community(size=200.0, code=COMMUNITY):
    return gpd.GeoDataFrame({"code": [code]}, geometry=[box(0, 0, size, size)], crs=UTM)


def quadrants(**replace):
    """The 200 m community split exactly into four 100 m grids: A NW, B NE, C SW, D SE."""
    geoms = {
        A: box(0, 100, 100, 200),
        B: box(100, 100, 200, 200),
        C: box(0, 0, 100, 100),
        D: box(100, 0, 200, 100),
    }
    geoms.update(replace)
    return gpd.GeoDataFrame(
        {"code": list(geoms), "parent_code": COMMUNITY}, geometry=list(geoms.values()), crs=UTM
    )


def buildings_in_each_grid(households=400):
    """One 20 m building in the middle of each quadrant holding ``households``."""
    centres = [(50, 150), (150, 150), (50, 50), (150, 50)]
    return gpd.GeoDataFrame(
        {"source_id": [f"osm:way/{i}" for i in range(4)], "households": households},
        geometry=[box(x - 10, y - 10, x + 10, y + 10) for x, y in centres],
        crs=UTM,
    )


def kinds(report):
    return sorted(p.kind for p in report.problems)


def test_exact_split_has_no_problems_and_square_metrics():
    report = validate_grids(
        quadrants(), communities=community(), buildings=buildings_in_each_grid()
    )
    assert report.ok, [p.message for p in report.problems]
    s = report.summary
    assert s["n_grids"] == 4 and s["n_problems"] == 0
    assert s["problems_by_kind"] == {k: 0 for k in PROBLEM_KINDS}
    assert s["gap_area_m2"] == 0 and s["overlap_area_m2"] == 0 and s["share_in_band"] == 1.0
    m = report.metrics
    assert list(m.index) == [A, B, C, D]
    assert (m["households"] == 400).all() and (m["n_buildings"] == 1).all()
    assert m["area_m2"].tolist() == [10_000.0] * 4
    assert m["polsby_popper"].to_numpy() == pytest.approx(math.pi / 4)
    assert s["mean_polsby_popper"] == pytest.approx(math.pi / 4)
    # each quadrant has two sides on the community boundary; no streets or water given
    assert m["parent_share"].to_numpy() == pytest.approx(0.5)
    assert m["other_share"].to_numpy() == pytest.approx(0.5)
    assert m["street_share"].isna().all() and m["tour_minutes"].isna().all()


def test_shrunk_grid_leaves_a_gap_of_the_right_area_and_place():
    grids = quadrants(**{A: box(10, 100, 100, 200)})  # A gives up a 10 m strip on the west
    report = validate_grids(grids, communities=community())
    assert kinds(report) == ["gap"]
    gap = report.problems[0]
    assert gap.area_m2 == pytest.approx(1000.0)
    assert gap.location.symmetric_difference(box(0, 100, 10, 200)).area < 1e-6
    # the grids along it, the one sharing most boundary (A: 100 m, C: 10 m) first
    assert gap.grid_codes == (A, C) and gap.community_code == COMMUNITY
    assert "1,000.0 m²" in gap.message and A in gap.message
    assert report.summary["gap_area_m2"] == pytest.approx(1000.0)


def test_buildings_in_a_gap_are_named_in_it():
    grids = quadrants(**{A: box(10, 100, 100, 200)})
    blds = pd.concat(
        [
            buildings_in_each_grid(),
            gpd.GeoDataFrame(
                {"source_id": ["osm:way/9"], "households": [12]},
                geometry=[box(2, 150, 8, 160)],
                crs=UTM,
            ),
        ]
    )
    report = validate_grids(grids, communities=community(), buildings=blds)
    (gap,) = report.of_kind("gap")
    assert gap.details == {"buildings": 1, "households": 12.0}
    assert report.summary["unassigned_buildings"] == 1
    assert report.summary["unassigned_households"] == 12.0


def test_enlarged_grid_overlaps_its_neighbour_and_crosses_the_community():
    grids = quadrants(**{A: box(0, 100, 120, 210)})  # 20 m into B, 10 m past the north edge
    report = validate_grids(grids, communities=community())
    assert kinds(report) == ["crosses_parent", "overlap"]
    (overlap,) = report.of_kind("overlap")
    assert overlap.grid_codes == (A, B)
    assert overlap.area_m2 == pytest.approx(2000.0)
    assert overlap.location.symmetric_difference(box(100, 100, 120, 200)).area < 1e-6
    (outside,) = report.of_kind("crosses_parent")
    assert outside.grid_codes == (A,) and outside.area_m2 == pytest.approx(1200.0)
    assert outside.location.symmetric_difference(box(0, 200, 120, 210)).area < 1e-6
    assert report.summary["overlap_area_m2"] == pytest.approx(2000.0)
    assert report.summary["outside_area_m2"] == pytest.approx(1200.0)


def test_building_straddling_two_grids_goes_to_the_majority_grid():
    straddling = gpd.GeoDataFrame(
        {"source_id": ["osm:way/77"], "households": [30]},
        geometry=[box(86, 150, 106, 160)],  # 14 m in A, 6 m in B
        crs=UTM,
    )
    blds = pd.concat([buildings_in_each_grid(), straddling], ignore_index=True)
    report = validate_grids(quadrants(), communities=community(), buildings=blds)
    (split,) = report.of_kind("split_building")
    assert kinds(report) == ["split_building"]
    assert split.grid_codes == (A, B) and split.grid_code == A
    assert split.details["assigned_to"] == A
    assert split.details["shares"] == pytest.approx({A: 0.7, B: 0.3})
    assert split.area_m2 == pytest.approx(200.0)
    assert "osm:way/77" in split.message and "70%" in split.message
    assert report.metrics.loc[A, "households"] == 430
    assert report.metrics.loc[B, "households"] == 400


def test_grid_with_a_detached_part_is_noncontiguous():
    west_and_east = shapely.MultiPolygon([box(0, 0, 60, 200), box(140, 0, 200, 200)])
    grids = gpd.GeoDataFrame(
        {"code": [A, B], "parent_code": COMMUNITY},
        geometry=[west_and_east, box(60, 0, 140, 200)],
        crs=UTM,
    )
    report = validate_grids(grids, communities=community())
    (p,) = report.problems
    assert p.kind == "noncontiguous" and p.grid_codes == (A,)
    assert p.area_m2 == pytest.approx(12_000.0)
    assert p.details["distance_m"] == pytest.approx(80.0)
    assert report.metrics.loc[A, "n_parts"] == 2


def test_grids_joined_only_at_a_corner_are_multipart():
    checker_1 = shapely.MultiPolygon([box(0, 100, 100, 200), box(100, 0, 200, 100)])
    checker_2 = shapely.MultiPolygon([box(100, 100, 200, 200), box(0, 0, 100, 100)])
    grids = gpd.GeoDataFrame(
        {"code": [A, B], "parent_code": COMMUNITY}, geometry=[checker_1, checker_2], crs=UTM
    )
    report = validate_grids(grids, communities=community())
    assert kinds(report) == ["multipart", "multipart"]
    assert {p.grid_code for p in report.problems} == {A, B}


def test_households_out_of_band_from_the_grid_column():
    grids = quadrants()
    grids["households"] = [250, 400, 600, 500]
    report = validate_grids(grids, communities=community(), band=(300, 500))
    out = report.of_kind("households_out_of_band")
    assert [p.grid_code for p in out] == [A, C]
    assert "250 households, below the 300-500 band" in out[0].message
    assert "600 households, above" in out[1].message
    assert out[0].location.within(box(0, 100, 100, 200))
    assert report.summary["share_in_band"] == 0.5
    assert report.summary["households_source"] == "grids"


def test_unknown_parent_suggests_the_community_it_lies_in():
    grids = quadrants()
    grids.loc[grids["code"] == D, "parent_code"] = "440106001999"
    report = validate_grids(grids, communities=community())
    assert kinds(report) == ["gap", "unknown_parent"]  # D is no longer one of its grids
    (p,) = report.of_kind("unknown_parent")
    assert p.grid_code == D and p.details["suggested_parent"] == COMMUNITY
    assert report.of_kind("gap")[0].area_m2 == pytest.approx(10_000.0)


def test_boundary_share_along_a_street_on_the_shared_edge():
    streets = gpd.GeoDataFrame(
        {"u": [1, 2], "v": [2, 1], "length_m": [100.0, 100.0]},
        geometry=[line((100, 100), (100, 200)), line((100, 200), (100, 100))],
        crs=UTM,
    )
    report = validate_grids(quadrants(), communities=community(), streets=streets, walk_tours=False)
    m = report.metrics
    # 100 m of A's 400 m boundary lies on the street, plus the 5 m of its top and bottom
    # sides within the 5 m buffer around the street's ends; C only has those 2 x 5 m
    assert m.loc[A, "street_share"] == pytest.approx(110 / 400, abs=0.01)
    assert m.loc[B, "street_share"] == pytest.approx(110 / 400, abs=0.01)
    assert m.loc[C, "street_share"] == pytest.approx(10 / 400, abs=0.01)
    assert m.loc[A, "parent_share"] == pytest.approx(0.5)
    # shares overlap (the top 5 m are street and parent); "other" is along neither:
    # 400 - 200 (parent) - 100 (street) - 5 (bottom side near the street) = 95 m
    assert m.loc[A, "other_share"] == pytest.approx(95 / 400, abs=0.01)


def _two_way(edges):
    """Streets as an osmnx walk graph stores them: every edge in both directions."""
    rows, geoms = [], []
    for u, v, coords in edges:
        geom = line(*coords)
        rows += [(u, v, geom.length), (v, u, geom.length)]
        geoms += [geom, geom.reverse()]
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["u", "v", "length_m"]), geometry=geoms, crs=UTM
    )


def test_postman_tour_of_a_square_with_a_tail():
    # 100 m square 1-2-3-4 and a 50 m tail 3-5: nodes 3 and 5 are odd, so the tail is
    # walked twice: 400 + 50 + 50 = 500 m = 7.5 min at 4 km/h
    streets = _two_way(
        [
            (1, 2, [(50, 50), (150, 50)]),
            (2, 3, [(150, 50), (150, 150)]),
            (3, 4, [(150, 150), (50, 150)]),
            (4, 1, [(50, 150), (50, 50)]),
            (3, 5, [(150, 150), (180, 190)]),
        ]
    )
    grids = gpd.GeoDataFrame(
        {"code": [A], "parent_code": COMMUNITY}, geometry=[box(0, 0, 200, 200)], crs=UTM
    )
    report = validate_grids(
        grids, communities=community(), streets=streets, walk_speed_kmh=4.0, patrols_per_day=2
    )
    row = report.metrics.loc[A]
    assert row["street_length_m"] == pytest.approx(450.0)
    assert row["tour_length_m"] == pytest.approx(500.0)
    assert row["tour_minutes"] == pytest.approx(7.5)
    assert row["minutes_per_day"] == pytest.approx(15.0)
    assert row["tour_pieces"] == 1


def test_postman_tour_joins_pieces_through_streets_outside_the_grid():
    # two 100 m squares 100 m apart inside the grid, joined only by a 500 m walk
    # (200 + 100 + 200) that leaves the grid: it is walked there and back, 800 + 2 * 500 m
    streets = _two_way(
        [
            (1, 2, [(0, 0), (100, 0)]),
            (2, 3, [(100, 0), (100, 100)]),
            (3, 4, [(100, 100), (0, 100)]),
            (4, 1, [(0, 100), (0, 0)]),
            (5, 6, [(200, 0), (300, 0)]),
            (6, 7, [(300, 0), (300, 100)]),
            (7, 8, [(300, 100), (200, 100)]),
            (8, 5, [(200, 100), (200, 0)]),
            (2, 9, [(100, 0), (100, -200)]),
            (9, 10, [(100, -200), (200, -200)]),
            (10, 5, [(200, -200), (200, 0)]),
        ]
    )
    grid = box(-10, -10, 310, 110)
    grids = gpd.GeoDataFrame({"code": [A], "parent_code": COMMUNITY}, geometry=[grid], crs=UTM)
    comm = gpd.GeoDataFrame({"code": [COMMUNITY]}, geometry=[grid], crs=UTM)
    row = validate_grids(grids, communities=comm, streets=streets).metrics.loc[A]
    assert row["street_length_m"] == pytest.approx(800.0)
    assert row["tour_length_m"] == pytest.approx(1800.0)
    assert row["tour_pieces"] == 2


def test_incidents_per_month():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    incidents = gpd.GeoDataFrame(
        {"reported_at": [t0 + pd.Timedelta(days=d) for d in (0, 10, 20, 30, 40, 60)] + [t0]},
        geometry=[shapely.Point(X0 + 50, Y0 + 150)] * 6 + [shapely.Point(X0 + 150, Y0 + 50)],
        crs=UTM,
    )
    report = validate_grids(quadrants(), communities=community(), incidents=incidents, months=3)
    assert report.metrics.loc[A, "incidents"] == 6
    assert report.metrics.loc[A, "incidents_per_month"] == pytest.approx(2.0)
    assert report.metrics.loc[D, "incidents_per_month"] == pytest.approx(1 / 3)
    assert report.metrics.loc[B, "incidents"] == 0
    # without months: the 60 days between the first and last report
    inferred = validate_grids(quadrants(), communities=community(), incidents=incidents)
    months = 60 / (365.25 / 12)
    assert inferred.summary["months"] == pytest.approx(months)
    assert inferred.metrics.loc[A, "incidents_per_month"] == pytest.approx(6 / months)


def test_draft_grid_reports_only_its_own_problems():
    others = quadrants().iloc[1:]  # B, C, D already drawn
    draft = box(0, 100, 90, 205)  # leaves a 10 m strip against B, pokes 5 m out
    report = validate_grid(
        draft, community=community(), others=others, code=A, buildings=buildings_in_each_grid()
    )
    assert kinds(report) == ["crosses_parent", "gap"]
    assert list(report.metrics.index) == [A]
    # along the strip: A and B for 100 m each, C for 10 m at its foot
    assert report.of_kind("gap")[0].grid_codes == (A, B, C)
    assert report.of_kind("gap")[0].area_m2 == pytest.approx(1000.0)
    assert report.metrics.loc[A, "households"] == 400
    # also a one-row layer with the code in it
    layer = gpd.GeoDataFrame({"code": [A]}, geometry=[box(0, 100, 100, 200)], crs=UTM)
    assert validate_grid(layer, community=community(), others=others).ok


def test_report_is_json_with_wkt_or_geojson_locations():
    grids = quadrants(**{A: box(0, 100, 120, 210)})
    grids["households"] = [250, 400, 600, 500]
    report = validate_grids(grids, communities=community())
    data = json.loads(json.dumps(report.to_dict()))
    assert data["crs"] == "EPSG:32650"
    assert {p["kind"] for p in data["problems"]} == {
        "overlap",
        "crosses_parent",
        "households_out_of_band",
    }
    assert data["problems"][0]["location"].startswith("POLYGON")
    assert [m["code"] for m in data["metrics"]] == [A, B, C, D]
    assert data["metrics"][0]["street_share"] is None
    geo = json.loads(json.dumps(report.to_dict(geometry="geojson")))
    assert geo["problems"][0]["location"]["type"] == "Polygon"
    frame = report.problems_frame()
    assert len(frame) == len(report.problems) and frame.crs.to_epsg() == UTM


def test_geographic_crs_is_refused():
    grids = quadrants().to_crs(4326)
    with pytest.raises(CRSError, match="not a metric projected CRS"):
        validate_grids(grids, communities=community().to_crs(4326))


def test_crs_mismatch_is_refused():
    other = community().to_crs(32649)
    with pytest.raises(CRSError, match="communities is in EPSG:32649"):
        validate_grids(quadrants(), communities=other)
    streets = _two_way([(1, 2, [(0, 0), (10, 0)])]).to_crs(3857)
    with pytest.raises(CRSError, match="streets"):
        validate_grids(quadrants(), communities=community(), streets=streets)


def test_bad_inputs_say_what_is_wrong():
    grids = quadrants()
    with pytest.raises(SchemaError, match="parent_code"):
        validate_grids(grids.drop(columns="parent_code"), communities=community())
    dup = grids.assign(code=[A, A, C, D])
    with pytest.raises(SchemaError, match="occurs more than once"):
        validate_grids(dup, communities=community())
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    with pytest.raises(InvalidGeometryError, match="Self-intersection"):
        validate_grids(quadrants(**{A: bowtie}), communities=community())
    with pytest.raises(SchemaError, match="band"):
        validate_grids(grids, communities=community(), band=(500, 300))


def test_community_without_grids_is_one_gap():
    other = gpd.GeoDataFrame({"code": ["440106001002"]}, geometry=[box(200, 0, 300, 200)], crs=UTM)
    report = validate_grids(quadrants(), communities=pd.concat([community(), other]))
    (gap,) = report.problems
    assert gap.kind == "gap" and gap.grid_codes == () and gap.community_code == "440106001002"
    assert gap.area_m2 == pytest.approx(20_000.0) and "has no grids" in gap.message


def test_postman_tour_without_node_ids_uses_line_ends():
    streets = _two_way(
        [
            (1, 2, [(50, 50), (150, 50)]),
            (2, 3, [(150, 50), (150, 150)]),
            (3, 4, [(150, 150), (50, 150)]),
            (4, 1, [(50, 150), (50, 50)]),
            (3, 5, [(150, 150), (180, 190)]),
        ]
    ).drop(columns=["u", "v", "length_m"])
    grids = gpd.GeoDataFrame(
        {"code": [A], "parent_code": COMMUNITY}, geometry=[box(0, 0, 200, 200)], crs=UTM
    )
    report = validate_grids(grids, communities=community(), streets=streets)
    assert report.metrics.loc[A, "tour_length_m"] == pytest.approx(500.0)


def test_draft_in_another_crs_is_refused():
    draft = gpd.GeoDataFrame({"code": [A]}, geometry=[box(0, 100, 100, 200)], crs=UTM)
    with pytest.raises(CRSError):
        validate_grid(draft.to_crs(32649), community=community(), others=quadrants())
    with pytest.raises(CRSError, match="not a metric"):
        validate_grid(shapely.Point(0, 0).buffer(1), community=community().to_crs(4326))


# ---------------------------------------------------------------------------------------
# sub-grids and dedicated grids (issue 4 §5)
# ---------------------------------------------------------------------------------------


def subgrids(**replace):
    """Grid A in two halves (the east one 10 m short of the top), B in two overlapping
    halves (the east one poking 5 m out of B); C and D not divided."""
    geoms = {
        f"{A}001": box(0, 100, 50, 200),
        f"{A}002": box(50, 100, 100, 190),
        f"{B}001": box(100, 100, 160, 200),
        f"{B}002": box(150, 100, 200, 205),
    }
    geoms.update(replace)
    return gpd.GeoDataFrame(
        {
            "code": list(geoms),
            "parent_code": [c[: len(A)] for c in geoms],
            "level": "subgrid",
        },
        geometry=list(geoms.values()),
        crs=UTM,
    )


def test_subgrids_are_checked_against_their_grids():
    parents = quadrants()
    straddler = gpd.GeoDataFrame(
        {"source_id": ["osm:way/9"], "households": [40]},
        geometry=[box(42, 140, 55, 160)],  # across the two halves of A, most in A001
        crs=UTM,
    )
    report = validate_grids(
        subgrids(), parents=parents, buildings=straddler, band=(30, 150), walk_tours=False
    )
    assert [p.kind for p in report.problems] == [
        "gap",
        "overlap",
        "crosses_parent",
        "split_building",
    ] + ["households_out_of_band"] * 3
    assert {p.level for p in report.problems} == {"subgrid"}
    gap = report.of_kind("gap")[0]
    # only the strip of grid A: the undivided grids C and D are no gaps
    assert gap.area_m2 == pytest.approx(500.0) and gap.community_code == A
    assert f"of grid {A}" in gap.message and "belong to no sub-grid" in gap.message
    ov = report.of_kind("overlap")[0]
    assert ov.area_m2 == pytest.approx(1000.0) and ov.message.startswith("Sub-grids")
    out = report.of_kind("crosses_parent")[0]
    assert out.grid_code == f"{B}002" and out.area_m2 == pytest.approx(250.0)
    assert f"outside its grid {B}" in out.message
    split = report.of_kind("split_building")[0]
    assert "between sub-grids" in split.message and split.community_code == A
    # the band applies to sub-grids with the band given: the straddler's 40 households
    # count for A001, the others have none
    band = report.of_kind("households_out_of_band")
    assert [p.grid_code for p in band] == [f"{A}002", f"{B}001", f"{B}002"]
    assert band[0].message.startswith(f"Sub-grid {A}002 has 0 households")
    m = report.metrics
    assert m.loc[f"{A}001", "households"] == 40
    assert report.summary["levels"] == ["subgrid"] and report.summary["parent_levels"] == ["grid"]
    assert report.summary["n_communities"] == 4
    assert report.to_dict()["problems"][0]["level"] == "subgrid"


def test_exact_subgrids_pass_and_unknown_parent_names_the_grid():
    exact = subgrids(**{f"{A}002": box(50, 100, 100, 200)}).iloc[:2]
    assert validate_grids(exact, parents=quadrants(), walk_tours=False).ok
    stray = exact.copy()
    stray.loc[1, "parent_code"] = "nowhere"
    p = validate_grids(stray, parents=quadrants(), walk_tours=False).of_kind("unknown_parent")[0]
    assert p.message.startswith(f"Sub-grid {A}002 names parent grid 'nowhere'")
    assert f"It lies in grid {A}" in p.message and p.level == "subgrid"
    # a parents layer with a level column names its parents itself
    labelled = quadrants()
    labelled["level"] = "grid"
    report = validate_grids(
        subgrids(**{f"{A}002": box(50, 100, 100, 200)}), parents=labelled, walk_tours=False
    )
    assert "gap" not in kinds(report)


def test_draft_subgrid_against_its_grid():
    parent = quadrants().iloc[[0]]
    others = subgrids().iloc[[0]]
    report = validate_grid(
        box(50, 100, 100, 195), parent=parent, others=others, code=f"{A}002", level="subgrid"
    )
    assert kinds(report) == ["gap"] and report.problems[0].level == "subgrid"
    assert "belong to no sub-grid" in report.problems[0].message
    assert report.summary["levels"] == ["subgrid"]


def test_dedicated_grids_are_exempt_from_the_band_but_not_the_geometry():
    grids = quadrants(**{D: box(100, -10, 200, 100)})  # D pokes 10 m out of the community
    grids["kind"] = ["comprehensive", "comprehensive", "comprehensive", "dedicated"]
    grids["households"] = [400, 250, 400, 0]  # D is a park
    report = validate_grids(grids, communities=community(), walk_tours=False)
    assert kinds(report) == ["crosses_parent", "households_out_of_band"]
    assert report.of_kind("crosses_parent")[0].grid_code == D
    assert report.of_kind("households_out_of_band")[0].grid_code == B
    assert report.summary["band_exempt"] == 1
    assert report.summary["share_in_band"] == pytest.approx(2 / 3)
    strict = validate_grids(grids, communities=community(), exempt_band_kinds=(), walk_tours=False)
    assert [p.grid_code for p in strict.of_kind("households_out_of_band")] == [B, D]
    assert strict.summary["band_exempt"] == 0
    # a dedicated draft is exempt too
    draft = validate_grid(
        grids.iloc[[3]], community=community(), others=grids.iloc[:3], walk_tours=False
    )
    assert kinds(draft) == ["crosses_parent"]


def test_parents_is_an_alias_of_communities():
    same = validate_grids(quadrants(), parents=community(), walk_tours=False)
    assert same.ok and same.summary["parent_levels"] == ["community"]
    with pytest.raises(SchemaError, match="not both"):
        validate_grids(quadrants(), communities=community(), parents=community())
    with pytest.raises(SchemaError, match="required"):
        validate_grids(quadrants())
    with pytest.raises(SchemaError, match="parents needs column"):
        validate_grids(quadrants(), parents=community().rename(columns={"code": "id"}))
    with pytest.raises(SchemaError, match="not both"):
        validate_grid(box(0, 0, 10, 10), community=community(), parent=community())
    with pytest.raises(SchemaError, match="exempt_band_kinds"):
        validate_grids(quadrants(), communities=community(), exempt_band_kinds="dedicated")
