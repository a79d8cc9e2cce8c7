"""Every real data set in ../shared, from its original files, with CLI options only.

Per city: import what the files hold, grids (proposed or imported), the validation
report or the grid figures, incidents where there are some, a patrol plan for three
teams where there are streets, and every page rendered in Chromium with no console
error. Skips cleanly without ../shared (and the page checks without Chromium).
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridpatrol.api.auth import SESSION_COOKIE
from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.cli import app as cli_app
from gridpatrol.store.base import open_store
from tests.conftest import shared_path
from tests.maps.cdp import CHROMIUM, check_page, serve_app
from tests.tokens import BASE_URL, client_as

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def cli(*args: str) -> str:
    """Run ``gridpatrol ARGS``; fail with its output unless it exits 0."""
    result = CliRunner().invoke(cli_app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def one_line(text: str) -> str:
    return " ".join(text.split())


def pages(url: str, *, plan: tuple[str, str] | None = None) -> None:
    """Every page of the store at ``url`` renders with no console error (in Chromium)."""
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    # a planner in the browser: an admin token from the CLI, a session from POST /login
    token = cli("token", "create", "--role", "admin", "--db", url).strip().splitlines()[-1]
    client = TestClient(app, base_url=BASE_URL)
    r = client.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code in (200, 303), r.text
    session = {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}
    with open_store(url) as store:
        version = int(store.read("grid_versions")["version"].max())
    paths = [
        "/",
        "/maps/grids",
        "/maps/grids?measure=incidents",
        "/maps/incidents",
        "/maps/cameras",
        f"/editor/{version}",
        "/docs",
    ]
    if plan:
        paths += [f"/patrols/{plan[0]}", f"/patrols/{plan[0]}/teams/{plan[1]}"]
    for path in paths:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
    if CHROMIUM is None:
        return
    with serve_app(app) as base:
        for path in paths:
            report = check_page(base + path, settle=1.0, cookies=session, timeout=180)
            bad = {
                k: report[k]
                for k in ("external_requests", "failed_requests", "console_errors", "exceptions")
                if report[k]
            }
            errors = [e for e in report["log_entries"] if e["level"] == "error"]
            assert not bad and not errors, (path, bad, errors)


def plan_three_teams(db: str, station: str, area: str) -> tuple[str, str]:
    for i in (1, 2, 3):
        cli("team", "add", f"T{i}", "--station", station, "--db", db)
    out = cli("plan", "--station", station, "--area", area, "--time-limit", "3", "--db", db)
    plan_id = out.split("plan id:")[1].split()[0]
    with open_store(db) as store:
        routes = store.read("patrol_routes", where={"plan_id": plan_id})
    assert set(routes["team_id"]) == {"T1", "T2", "T3"}
    assert (routes["length_m"] > 0).all()
    return plan_id, "T1"


def sample_incidents(store_url: str, path, *, n: int = 60, seed: int = 0) -> None:
    """A CSV of made-up reports at buildings, with local times and no zone."""
    with open_store(store_url) as store:
        b = store.read("buildings")
    rng = np.random.default_rng(seed)
    pick = b.iloc[rng.choice(len(b), size=min(n, len(b)), replace=False)]
    pts = pick.geometry.representative_point()
    pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(len(pick))],
            "when": pd.Timestamp("2026-10-01 08:00")
            + pd.to_timedelta(rng.integers(0, 60 * 24 * 20, len(pick)), unit="min"),
            "what": rng.choice(
                ["Noise dispute", "Illegal parking", "Broken street light"], len(pick)
            ),
            "x": pts.x.round(7),
            "y": pts.y.round(7),
        }
    ).to_csv(path, index=False)


def report(url: str, version: int = 1) -> dict:
    client = client_as(create_app(Settings(database_url=url, escalation_interval_s=0)))
    r = client.get(f"/api/grids/versions/{version}/report?walk_tours=false")
    assert r.status_code == 200, r.text
    return r.json()


def test_helsinki(tmp_path):
    pbf = shared_path("data", "helsinki", "Helsinki.osm.pbf")
    db = f"sqlite:///{tmp_path / 'helsinki.db'}"
    out = one_line(cli("init", pbf, "--db", db))
    assert "grid version 1:" in out and "gridpatrol plan --station S1" in out
    assert report(db)["summary"]["n_grids"] > 1
    cli("project", "--timezone", "Europe/Helsinki", "--db", db)
    csv = tmp_path / "reports.csv"
    sample_incidents(db, csv)
    out = one_line(
        cli(
            "import",
            "incidents",
            csv,
            "--id",
            "id",
            "--time",
            "when",
            "--category",
            "what",
            "--lon",
            "x",
            "--lat",
            "y",
            "--db",
            db,
        )
    )
    assert "read in Europe/Helsinki" in out
    with open_store(db) as store:
        inc = store.read("incidents")
        grid = store.read("grids")["code"].iloc[0]
    assert len(inc) == 60 and (inc["grid_code"] != "").all()
    assert set(inc["category"]) == {"dispute", "traffic", "infrastructure"}
    pages(db, plan=plan_three_teams(db, "S1", grid))


def test_north_bayreuth(tmp_path):
    osm = shared_path("data", "osm_extra", "north-bayreuth.osm.bz2")
    db = f"sqlite:///{tmp_path / 'nb.db'}"
    out = one_line(cli("init", osm, "--db", db))
    assert "no cameras" in out and "grid version 1:" in out
    with open_store(db) as store:
        assert store.count("buildings") > 4000 and store.count("cameras") == 0
        grid = store.read("grids")["code"].iloc[0]
    assert report(db)["summary"]["n_grids"] > 10
    cli("project", "--timezone", "Europe/Berlin", "--db", db)
    csv = tmp_path / "reports.csv"
    sample_incidents(db, csv, n=80)
    cli(
        "import", "incidents", csv, "--id", "id", "--time", "when", "--category", "what", "--db", db
    )
    pages(db, plan=plan_three_teams(db, "S1", grid))


def test_san_francisco(tmp_path):
    streets = shared_path("data", "sf", "sf_mission_bayview_streets_2014.osm.bz2")
    incidents = shared_path("data", "sf", "sfpd_incidents_2012H2.csv")
    blocks = shared_path("data", "sf", "sf_blockgroups_crimecounts.geojson")
    db = f"sqlite:///{tmp_path / 'sf.db'}"
    out = one_line(cli("import", "osm", streets, "--db", db))
    assert "no buildings" in out and "streets" in out
    cli("import", "grids", blocks, "--code", "GEO_id2", "--name", "GEO_displa", "--db", db)
    cli("project", "--timezone", "America/Los_Angeles", "--db", db)
    # the export repeats whole rows: the copies are dropped (and said), ids are then unique
    out = one_line(
        cli(
            "import",
            "incidents",
            incidents,
            "--id",
            "incident_id",
            "--time",
            "date",
            "--partial",
            "--db",
            db,
        )
    )
    assert "read in America/Los_Angeles" in out
    source = pd.read_csv(incidents, dtype=str)
    n_copies = int(source.duplicated().sum())
    assert f"{n_copies} exact duplicate row(s) dropped" in out
    with open_store(db) as store:
        inc = store.read("incidents")
        grids = store.read("grids")
    assert len(inc) >= 0.99 * (len(source) - n_copies)
    assert inc["incident_id"].is_unique and set(inc["category"]) == {"public_order"}
    # dates without a time are local midnight
    local = inc["reported_at"].dt.tz_convert("America/Los_Angeles")
    assert (local.dt.hour == 0).all()
    # a station in the Mission, three teams, over the block group it stands in
    cli(
        "station",
        "add",
        "S1",
        "--lon",
        "-122.4186",
        "--lat",
        "37.7599",
        "--name",
        "Mission",
        "--db",
        db,
    )
    with open_store(db) as store:
        grid = store.read("stations")["grid_code"].iloc[0]
    assert grid in set(grids["code"])
    pages(db, plan=plan_three_teams(db, "S1", grid))


def test_suzhou_buildings(tmp_path):
    path = shared_path("data", "suzhou_buildings", "suzhou_buildings_bd_demo_2.geojson")
    db = f"sqlite:///{tmp_path / 'suzhou.db'}"
    out = one_line(
        cli("init", path, "--crs", "gcj02", "--id", "@row", "--field", "levels=Floor", "--db", db)
    )
    assert "converted 3076 feature(s) from GCJ02 to WGS84" in out
    assert "no streets" in out
    with open_store(db) as store:
        b = store.read("buildings")
        grids = store.read("grids")
    assert len(b) == 3076 and b["households"].sum() > 1000
    assert len(grids) > 5 and grids["households"].sum() == pytest.approx(
        b["households"].sum(), rel=0.05
    )
    assert report(db)["summary"]["n_grids"] == len(grids)
    pages(db)


def test_shenzhen_districts(tmp_path):
    path = shared_path("data", "shenzhen", "shenzhen_districts_amap_gcj02.geojson")
    as_declared = f"sqlite:///{tmp_path / 'declared.db'}"
    db = f"sqlite:///{tmp_path / 'shenzhen.db'}"
    districts = ("--code", "adcode", "--name", "name", "--where", "level=district")
    # as declared (WGS84): imported, with a warning about GCJ-02
    out = one_line(cli("import", "grids", path, *districts, "--db", as_declared))
    assert "lies in China and claims WGS84" in out and "--crs gcj02" in out
    # converted: reported, and moved by the GCJ-02 offset (a few hundred metres)
    out = one_line(cli("import", "grids", path, *districts, "--crs", "gcj02", "--db", db))
    assert "converted 10 feature(s) from GCJ02 to WGS84" in out and "kept 9 of 10" in out
    assert "claims WGS84" not in out
    cli(
        "import",
        "areas",
        path,
        "--code",
        "adcode",
        "--name",
        "name",
        "--where",
        "level=city",
        "--crs",
        "gcj02",
        "--db",
        db,
    )
    with open_store(as_declared) as store:
        raw = store.read("grids").set_index("code").to_crs(32650)
    with open_store(db) as store:
        fixed = store.read("grids").set_index("code").to_crs(32650)
        assert store.count("areas") == 1
    shift = raw.centroid.distance(fixed.centroid.loc[raw.index])
    assert len(fixed) == 9 and 300 < shift.mean() < 800
    pages(db)


def test_chicago_districts_and_carjackings(tmp_path):
    districts = shared_path("data", "chicago", "chicago_police_districts.geojson")
    carjackings = shared_path("data", "chicago", "chicago_carjackings_2020.geojson")
    db = f"sqlite:///{tmp_path / 'chicago.db'}"
    cli("import", "grids", districts, "--code", "dist_num", "--name", "dist_label", "--db", db)
    cli("project", "--timezone", "America/Chicago", "--db", db)
    out = one_line(
        cli(
            "import",
            "incidents",
            carjackings,
            "--id",
            "ID",
            "--time",
            "Date",
            "--category",
            "description",
            "--db",
            db,
        )
    )
    assert "read in America/Chicago" in out
    with open_store(db) as store:
        inc = store.read("incidents")
    src = gpd.read_file(carjackings)
    recorded = dict(zip(src["ID"].astype(str), src["District"].astype(str), strict=True))
    agree = (inc["grid_code"] == inc["incident_id"].map(recorded)).mean()
    print(json.dumps({"chicago_district_agreement": round(float(agree), 4)}))
    assert len(inc) == len(src) and agree >= 0.97
    # the same file through `assign` (GeoJSON accepted there too)
    out_path = tmp_path / "assigned.parquet"
    cli("assign", carjackings, out_path, "--db", db)
    assigned = gpd.read_parquet(out_path)
    assert (assigned["grid_code"] == assigned["District"].astype(str)).mean() >= 0.97
    pages(db)
