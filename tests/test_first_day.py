"""A new city's first day from the command line, on small made-up files (quick).

The real data sets run the same commands in tests/test_cities.py (slow, ../shared).
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from gridpatrol.cli import app as cli_app
from gridpatrol.geo.crs import wgs84_to_gcj02
from gridpatrol.geo.dispatch import apply_action
from gridpatrol.geo.errors import ConflictError
from gridpatrol.services.project import default_taxonomy
from gridpatrol.store.base import open_store
from tests.store.test_osm import OSM_XML


def run(*args, ok: bool = True) -> str:
    result = CliRunner().invoke(cli_app, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return " ".join(result.output.split())


def districts(path, *, code_col="DIST", name_col="LABEL"):
    """Two districts side by side around (24.94, 60.17), in a GeoJSON with its own columns."""
    gdf = gpd.GeoDataFrame(
        {code_col: ["7", "12"], name_col: ["7TH", "12TH"]},
        geometry=[
            shapely.box(24.930, 60.165, 24.941, 60.175),
            shapely.box(24.941, 60.165, 24.952, 60.175),
        ],
        crs=4326,
    )
    gdf.to_file(path, driver="GeoJSON")
    return gdf


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'city.db'}"


def test_word_level_aliases():
    t = default_taxonomy()
    assert t.resolve("AGGRAVATED VEHICULAR HIJACKING") == "public_order"
    assert t.resolve("vehicular hijacking") == "public_order"
    assert t.resolve("blocked fire exit in stairwell") == "fire"  # longest alias wins
    assert t.resolve("邻里纠纷调解") == "dispute"  # Chinese: substring
    assert t.resolve("HIJACKING") is None  # a part of an alias is not enough


def test_grids_with_named_columns_and_incidents_with_project_time_zone(tmp_path, db):
    districts(tmp_path / "d.geojson")
    out = run(
        "import", "grids", tmp_path / "d.geojson", "--code", "DIST", "--name", "LABEL", "--db", db
    )
    assert "grids │ 2" in out or "grids" in out
    taxonomy = {"carjacking": {"en": "Carjacking", "zh": "劫车", "respond_minutes": 15,
                               "close_hours": 48, "aliases": ["vehicular hijacking"]}}  # fmt: skip
    (tmp_path / "cats.json").write_text(json.dumps(taxonomy))
    run(
        "project", "--timezone", "America/Chicago", "--taxonomy", tmp_path / "cats.json", "--db", db
    )
    pd.DataFrame(
        {
            "ID": ["a", "a", "b"],
            "Date": ["12/11/2020 11:45:00 PM", "12/11/2020 11:45:00 PM", "2020-12-12"],
            "description": ["AGGRAVATED VEHICULAR HIJACKING"] * 2 + ["VEHICULAR HIJACKING"],
            "Longitude": [24.935, 24.935, 24.945],
            "Latitude": [60.17, 60.17, 60.17],
        }
    ).to_csv(tmp_path / "inc.csv", index=False)
    out = run(
        "import", "incidents", tmp_path / "inc.csv", "--id", "ID", "--time", "Date",
        "--category", "description", "--lon", "Longitude", "--lat", "Latitude", "--db", db,
    )  # fmt: skip
    assert "1 exact duplicate row(s) dropped" in out
    assert "2 time(s) without a time zone were read in America/Chicago" in out
    with open_store(db) as store:
        inc = store.read("incidents").set_index("incident_id")
        assert store.read("grid_versions")["status"].tolist() == ["active"]
    assert inc.loc["a", "grid_code"] == "7" and inc.loc["b", "grid_code"] == "12"
    assert set(inc["category"]) == {"carjacking"}
    assert inc.loc["a", "reported_at"] == pd.Timestamp("2020-12-12 05:45", tz="UTC")
    assert inc.loc["b", "reported_at"] == pd.Timestamp("2020-12-12 06:00", tz="UTC")  # a date
    # the same file through assign, GeoJSON too
    gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(24.945, 60.17)], crs=4326).to_file(
        tmp_path / "pts.geojson"
    )
    run("assign", tmp_path / "pts.geojson", tmp_path / "out.parquet", "--db", db)
    assert gpd.read_parquet(tmp_path / "out.parquet")["grid_code"].tolist() == ["12"]


def test_repeated_ids_composite_or_numbered(tmp_path, db):
    districts(tmp_path / "d.geojson")
    run("import", "grids", tmp_path / "d.geojson", "--code", "DIST", "--db", db)
    rows = pd.DataFrame(
        {
            "incident_id": ["1", "1"],
            "category": ["ROBBERY", "VANDALISM"],
            "reported_at": ["2020-01-01T10:00:00+00:00"] * 2,
            "lon": [24.935, 24.935],
            "lat": [60.17, 60.17],
        }
    )
    rows.to_csv(tmp_path / "r.csv", index=False)
    out = run("import", "incidents", tmp_path / "r.csv", "--db", db, ok=False)
    assert "appears twice" in out and "--partial" in out and "partial=true" not in out
    run("import", "incidents", tmp_path / "r.csv", "--id", "incident_id,category", "--db", db)
    with open_store(db) as store:
        assert sorted(store.read("incidents")["incident_id"]) == ["1:ROBBERY", "1:VANDALISM"]


def test_gcj02_conversion_is_reported_and_china_warned(tmp_path, db):
    lon, lat = 114.06, 22.54  # Shenzhen
    box = shapely.box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    gx, gy = wgs84_to_gcj02([lon], [lat])
    shifted = shapely.affinity.translate(box, gx[0] - lon, gy[0] - lat)
    gpd.GeoDataFrame({"code": ["440304"]}, geometry=[shifted], crs=4326).to_file(
        tmp_path / "sz.geojson"
    )
    warned = run("import", "grids", tmp_path / "sz.geojson", "--db", db)
    assert "lies in China and claims WGS84" in warned
    out = run(
        "import", "grids", tmp_path / "sz.geojson", "--crs", "gcj02", "--version", "2", "--db", db
    )
    assert "converted 1 feature(s) from GCJ02 to WGS84" in out and "claims WGS84" not in out
    with open_store(db) as store:
        back = store.read("grids", where={"version": 2}).geometry.iloc[0]
    assert back.centroid.distance(box.centroid) < 1e-5  # ~1 m: the conversion undid the shift


def test_csv_with_wkt_and_generated_ids(tmp_path, db):
    pd.DataFrame(
        {"wkt": [shapely.box(24.935, 60.169, 24.936, 60.170).wkt] * 2, "Floor": [3, 5]}
    ).to_csv(tmp_path / "b.csv", index=False)
    out = run(
        "import",
        "buildings",
        tmp_path / "b.csv",
        "--id",
        "@row",
        "--field",
        "levels=Floor",
        "--db",
        db,
    )
    assert "CSV coordinates read as WGS84" in out
    with open_store(db) as store:
        b = store.read("buildings").sort_values("source_id")
    assert b["source_id"].tolist() == ["row:1", "row:2"] and b["levels"].tolist() == [3, 5]


def test_init_station_teams_plan(tmp_path, db):
    osm = tmp_path / "tiny.osm"
    osm.write_text(OSM_XML)
    out = run("init", osm, "--households", "1-50", "--db", db)
    assert "grid version 1:" in out and "gridpatrol plan --station S1" in out
    run(
        "station",
        "add",
        "S2",
        "--lon",
        "24.941",
        "--lat",
        "60.1705",
        "--name",
        "Corner",
        "--db",
        db,
    )
    run("team", "add", "T1", "--station", "S2", "--db", db)
    (tmp_path / "teams.csv").write_text("team_id,station_id,members\nT2,S2,8\n")
    run("team", "add", "--file", tmp_path / "teams.csv", "--db", db)
    out = run("team", "add", "T9", "--station", "nowhere", "--db", db, ok=False)
    assert "no station nowhere" in out
    out = run("plan", "--station", "S2", "--time-limit", "2", "--gpx", tmp_path / "gpx", "--db", db)
    assert "plan id:" in out
    # no incidents yet: the summary's note says why the routes have no dwell stops
    assert "note: no significant hot spot" in out and "no dwell stops" in out
    gpx = sorted((tmp_path / "gpx").glob("*.gpx"))
    assert len(gpx) == 2
    text = gpx[0].read_text()
    assert "0000000" not in text and "9999999" not in text  # no float noise


def test_resolve_needs_the_case_in_hand():
    row = pd.Series(
        {"incident_id": "x", "status": "reported", "level": "grid", "category": "fire",
         "reported_at": pd.Timestamp("2026-01-01", tz="UTC")}
    )  # fmt: skip
    with pytest.raises(ConflictError, match="assign it, start handling it, then resolve"):
        apply_action(row, "resolve", at=pd.Timestamp("2026-01-01 01:00", tz="UTC"),
                     taxonomy=default_taxonomy())  # fmt: skip


def test_activation_with_problems_needs_confirmation(tmp_path, db):
    osm = tmp_path / "tiny.osm"
    osm.write_text(OSM_XML)
    run("init", osm, "--households", "1-50", "--db", db)
    with open_store(db) as store:
        grids = store.read("grids", where={"version": 1})
        bad = grids.assign(version=2, households=0)
        bad["geometry"] = bad.geometry.scale(0.5, 0.5)  # leaves gaps in the community
        store.write({"grids": bad, "grid_versions": pd.DataFrame(
            {"version": [2], "status": ["draft"], "created_at": [pd.Timestamp.now(tz="UTC")]})})  # fmt: skip
    out = run("activate", "2", "--db", db, ok=False)
    assert "validation problem(s)" in out and "--confirm" in out
    with open_store(db) as store:
        assert store.get_setting("active_grid_version") == 1
    run("activate", "2", "--confirm", "--db", db)
    with open_store(db) as store:
        assert store.get_setting("active_grid_version") == 2


ADDRESSES = gpd.GeoDataFrame(
    {
        "source_id": ["a1", "a2", "a3", "a4", "a5"],
        "street": ["Kaivokatu", "Unioninkatu", "Unioninkatu", "Hämeentie", "干将东路"],
        "housenumber": ["2", "29", "33b", "5", "123"],
        "postcode": ["00100", "00170", "00170", "00530", ""],
        "city": ["Helsinki", "Helsinki", "Helsinki", "Helsinki", "苏州市"],
    },
    geometry=shapely.points(
        [(24.941, 60.170), (24.952, 60.171), (24.953, 60.172), (24.960, 60.180), (120.62, 31.31)]
    ),  # fmt: skip
    crs=4326,
)


@pytest.mark.parametrize(
    "text, source_id, min_score",
    [
        ("Kaivokatu 2", "a1", 100),
        ("Kaivokatu 2, Helsinki", "a1", 100),
        ("KAIVOKATU 2, 00100 Helsinki", "a1", 100),
        ("00100 Helsinki, Kaivokatu 2", "a1", 100),
        ("Unioninkatu 29 B", "a2", 90),  # staircase letter
        ("Unioninkatu 33 B", "a3", 100),  # the layer writes 33b
        ("Unionkatu 29", "a2", 85),  # misspelt
        ("Hameentie 5", "a4", 100),  # diacritics
        ("江苏省苏州市姑苏区平江街道干将东路123号", "a5", 100),  # Chinese order
        ("苏州市干将东路123号2幢", "a5", 95),
    ],
)
def test_addresses_as_people_write_them(text, source_id, min_score):
    from gridpatrol.geo.addresses import match_addresses

    (hit,) = match_addresses([text], ADDRESSES)
    assert hit is not None, text
    assert ADDRESSES["source_id"].iloc[hit.position] == source_id
    assert min_score <= hit.score <= 100


@pytest.mark.parametrize(
    "text", ["Kaivokatu 3", "Kaivokatu 2, Espoo", "Kaivokatu 2, 02100", "Mannerheimintie 2", ""]
)
def test_addresses_that_are_not_there(text):
    from gridpatrol.geo.addresses import match_addresses

    assert match_addresses([text], ADDRESSES) == [None]


def test_incident_by_address_keeps_the_match_and_score():
    from gridpatrol.geo.incidents import prepare_incidents

    rows = pd.DataFrame(
        {
            "incident_id": ["h1", "h2"],
            "reported_at": ["2026-01-01T10:00:00+02:00"] * 2,
            "category": ["traffic", "traffic"],
            "address": ["Unioninkatu 29 B, Helsinki", "Nowhere 1"],
        }
    )
    out = prepare_incidents(
        rows, taxonomy=default_taxonomy(), now=pd.Timestamp("2026-02-01", tz="UTC"),
        addresses=ADDRESSES,
    )  # fmt: skip
    got = out.accepted.set_index("incident_id")
    assert got.loc["h1", "address_match"] == "Unioninkatu 29, 00170 Helsinki"
    assert got.loc["h1", "address_score"] == 95.0
    assert got.loc["h1"].geometry.equals(ADDRESSES.geometry.iloc[1])
    assert out.rejected["incident_id"].tolist() == ["h2"]


def test_project_stations_and_teams_through_the_api(tmp_path, db):
    from gridpatrol.api.main import create_app
    from gridpatrol.api.settings import Settings
    from tests.tokens import client_as

    districts(tmp_path / "d.geojson")
    run("import", "grids", tmp_path / "d.geojson", "--code", "DIST", "--db", db)
    app = create_app(Settings(database_url=db, escalation_interval_s=0))
    admin, viewer = client_as(app), client_as(app, "viewer")
    body = {"timezone": "Asia/Shanghai", "taxonomy": {"theft": {"respond_minutes": 30, "close_hours": 24, "aliases": ["larceny"]}}}  # fmt: skip
    assert viewer.put("/api/project", json=body).status_code == 403
    r = admin.put("/api/project", json=body)
    assert r.status_code == 200 and r.json()["timezone"] == "Asia/Shanghai"
    assert list(r.json()["taxonomy"]) == ["theft"]
    assert admin.put("/api/project", json={"timezone": "Mars/Olympus"}).status_code == 422
    # found by schemathesis: a malformed taxonomy was a 500, a boolean latitude a station
    bad = admin.put("/api/project", json={"taxonomy": {"theft": [True]}})
    assert bad.status_code == 422 and "categories.json" in bad.text
    boolean = {"station_id": "S0", "lon": 24.945, "lat": False}
    assert admin.post("/api/stations", json=boolean).status_code == 422
    r = admin.post("/api/stations", json={"station_id": "S1", "lon": 24.945, "lat": 60.17})
    assert r.status_code == 201 and r.json()["grid_code"] == "12"
    r = admin.post("/api/teams", json=[{"team_id": "T1", "station_id": "S1"}])
    assert r.status_code == 201 and r.json() == {"saved": 1}
    assert admin.post("/api/teams", json=[{"team_id": "T2", "station_id": "S9"}]).status_code == 404
    with open_store(db) as store:
        assert store.read("teams")["team_id"].tolist() == ["T1"]
        assert store.get_setting("timezone") == "Asia/Shanghai"


def test_gcj02_data_off_the_streets_is_named(tmp_path, db):
    """Cameras copied from AMap (GCJ-02) but saved as WGS84 sit ~500 m off the streets."""
    lon0, lat0 = 114.06, 22.54
    xs = [lon0 + i * 0.002 for i in range(6)]
    ys = [lat0 + j * 0.002 for j in range(6)]
    lines = [shapely.LineString([(x, ys[0]), (x, ys[-1])]) for x in xs] + [
        shapely.LineString([(xs[0], y), (xs[-1], y)]) for y in ys
    ]
    streets = gpd.GeoDataFrame(
        {"network": "walk", "u": range(len(lines)), "v": range(100, 100 + len(lines)),
         "length_m": 1000.0},
        geometry=lines,
        crs=4326,
    )  # fmt: skip
    with open_store(db) as store:
        store.write({"streets": streets})
    on_street = [(xs[i], ys[j] + 0.0007) for i in range(6) for j in range(5)]
    gx, gy = wgs84_to_gcj02([p[0] for p in on_street], [p[1] for p in on_street])
    cams = gpd.GeoDataFrame(
        {"source_id": [f"c{i}" for i in range(len(on_street))]},
        geometry=shapely.points(list(zip(gx, gy, strict=True))),
        crs=4326,
    )
    cams.to_file(tmp_path / "cams.geojson")
    out = run("import", "cameras", tmp_path / "cams.geojson", "--db", db)
    assert "sit a median" in out and "most likely GCJ02" in out and "--crs gcj02" in out
    # data that really is WGS84 on those streets gets no such note
    gpd.GeoDataFrame(
        {"source_id": ["w1", "w2"]}, geometry=shapely.points(on_street[:2]), crs=4326
    ).to_file(tmp_path / "wgs.geojson")
    assert "sit a median" not in run("import", "cameras", tmp_path / "wgs.geojson", "--db", db)


def test_plan_remarks_name_left_out_streets_notes_and_long_routes():
    from gridpatrol.cli import _plan_remarks

    summary = {
        "required_streets": 40,
        "unreachable_streets": [[1, 2, 0], [3, 4, 0], [5, 6, 0]],
        "unreachable_geojson": {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": None, "properties": {"reason": r}}
                for r in ("one_way", "disconnected", "disconnected")
            ],
        },
        "notes": ["no significant hot spot in this area and time slot: no dwell stops"],
    }
    routes = pd.DataFrame(
        {"team_id": ["T1", "T1", "T2"], "day": [1, 1, 1], "minutes": [120.0, 90.0, 150.0]}
    )
    text = " ".join(_plan_remarks(summary, routes, shift_given=False))
    assert "3 of 40 required street(s) left out as unreachable" in text
    assert "2 not connected to the station's streets" in text
    assert "1 one-way streets lead there but none back" in text
    assert "note: no significant hot spot" in text
    assert "210 min" in text and "--shift" in text and "--days" in text
    # a shift was given, or every route fits one: no warning
    assert "--shift" not in " ".join(_plan_remarks(summary, routes, shift_given=True))
    short = routes.assign(minutes=[60.0, 60.0, 100.0])
    assert "--shift" not in " ".join(_plan_remarks(summary, short, shift_given=False))
    clean = {"required_streets": 40, "unreachable_streets": [], "notes": []}
    assert _plan_remarks(clean, short, shift_given=False) == []


def test_info_lists_the_active_grids_codes_and_names(tmp_path, db):
    from gridpatrol.cli import _grid_lines

    districts(tmp_path / "d.geojson")
    run("import", "grids", tmp_path / "d.geojson", "--code", "DIST", "--name", "LABEL", "--db", db)
    out = run("info", "--db", db)
    assert "grids of the active version 1 (for plan --area CODE): 12 12TH 7 7TH" in out
    with open_store(db) as store:
        lines = _grid_lines(store, limit=1)
    assert lines[1:] == ["  12  12TH", "  … and 1 more"]
