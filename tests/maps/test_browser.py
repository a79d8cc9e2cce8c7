"""Map pages in a real headless Chromium with the internet cut off.

Each page must load, show its layers, make no request off this machine, and log no
console error. Screenshots go to $GRIDPATROL_SCREENSHOTS when set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.demo import build_demo
from gridpatrol.services.incidents import ingest_incidents
from gridpatrol.services.patrols import PlanRequest, plan_patrols
from gridpatrol.store.base import open_store

pytestmark = pytest.mark.browser

from tests.maps.cdp import CHROMIUM, check_page, serve_app  # noqa: E402
from tests.tokens import make_token  # noqa: E402

if CHROMIUM is None:
    if os.environ.get("GRIDPATROL_REQUIRE_BROWSER"):
        raise RuntimeError("GRIDPATROL_REQUIRE_BROWSER is set but Chromium is not installed")
    pytest.skip("browser tests need Chromium: apt-get install chromium", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo project with incidents and a patrol plan, served on a free port."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'demo.db'}"
    with open_store(url) as store:
        build_demo(store)
        pts = store.read("buildings").to_crs(3067).geometry.representative_point().to_crs(4326)
        rows = pd.DataFrame(
            {
                "incident_id": [f"b{i}" for i in range(len(pts))],
                "reported_at": "2026-11-20T21:00:00+02:00",
                "category": ["public_order", "sanitation", "traffic"] * (len(pts) // 3)
                + ["fire"] * (len(pts) % 3),
                "lon": pts.x.to_numpy(),
                "lat": pts.y.to_numpy(),
            }
        )
        ingest_incidents(store, rows, now=pd.Timestamp("2026-11-21", tz="UTC"))
        grid = store.read("grids")["code"].iloc[0]
        plan_id = plan_patrols(
            store, PlanRequest(station_id="S1", k=2, area_code=grid, time_limit_s=2)
        )
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    token = make_token(app, "dispatcher")
    with serve_app(app) as base:
        yield {"base": base, "plan_id": plan_id, "token": token}


def _login_link(server, next_path: str) -> str:
    """A one-time link that logs the browser in and opens ``next_path``."""
    import httpx

    r = httpx.post(
        f"{server['base']}/api/auth/login-links",
        params={"next": next_path},
        headers={"Authorization": f"Bearer {server['token']}"},
    )
    assert r.status_code == 201, r.text
    return server["base"] + r.json()["url"]


def _check(url: str, name: str, expression: str | None = None, **kw) -> dict:
    out = os.environ.get("GRIDPATROL_SCREENSHOTS")
    shot = str(Path(out) / f"{name}.png") if out else None
    report = check_page(url, shot, expression, **kw)
    assert report["external_requests"] == [], report["external_requests"]
    assert report["failed_requests"] == [], report["failed_requests"]
    assert report["console_errors"] == [], report["console_errors"]
    assert report["exceptions"] == [], report["exceptions"]
    assert [e for e in report["log_entries"] if e["level"] == "error"] == [], report["log_entries"]
    return report


# Counts the vector layers Leaflet drew: paths (SVG) or canvas-rendered layers.
COUNT_LAYERS = """(() => {
  const maps = Object.values(window).filter(v => v && v._layers && v.getCenter);
  const n = maps.length ? Object.keys(maps[0]._layers).length : 0;
  return {maps: maps.length, layers: n, title: (document.getElementById('gp-title')||{}).textContent};
})()"""


def test_overview_page(server):
    r = _check(server["base"] + "/", "overview", COUNT_LAYERS)
    assert r["evaluate"]["maps"] == 1 and r["evaluate"]["layers"] > 500  # grids, buildings, cameras
    assert "Overview" in r["evaluate"]["title"]


def test_overview_in_chinese(server):
    r = _check(server["base"] + "/?lang=zh", "overview-zh", COUNT_LAYERS)
    assert "概览" in r["evaluate"]["title"]


def test_patrol_plan_page(server):
    r = _check(f"{server['base']}/patrols/{server['plan_id']}", "plan", COUNT_LAYERS)
    assert r["evaluate"]["layers"] >= 4


def test_team_phone_page(server):
    expr = "(() => ({steps: document.querySelectorAll('#turns li').length, gpx: document.getElementById('gpx').href}))()"
    r = _check(
        f"{server['base']}/patrols/{server['plan_id']}/teams/T1",
        "team-phone",
        expr,
        width=390,
        height=800,
    )
    assert r["evaluate"]["steps"] > 3 and r["evaluate"]["gpx"].endswith("day=1")


@pytest.mark.parametrize("measure", ["households", "incidents", "camera_coverage"])
def test_grids_page(server, measure):
    expr = "(() => ({legend: !!document.querySelector('.legend'), title: document.getElementById('gp-title').textContent}))()"
    r = _check(f"{server['base']}/maps/grids?measure={measure}", f"grids-{measure}", expr)
    assert r["evaluate"]["legend"]


def test_incidents_page(server):
    expr = "(() => ({clusters: document.querySelectorAll('.marker-cluster').length, title: document.getElementById('gp-title').textContent}))()"
    r = _check(_login_link(server, "/maps/incidents?lang=zh"), "incidents-zh", expr)
    assert r["evaluate"]["clusters"] > 0 and "事件" in r["evaluate"]["title"]


def test_cameras_page(server):
    r = _check(f"{server['base']}/maps/cameras", "cameras", COUNT_LAYERS)
    assert r["evaluate"]["layers"] > 221


def test_phone_layout_filter_box_clear_of_the_scale_bar_and_nav(server):
    """On a phone the filter form, the scale bar, the hot-spot legend and the navigation
    bar do not cover one another."""
    expr = """(() => {
      const r = s => { const e = document.querySelector(s); return e && e.getBoundingClientRect(); };
      const hit = (a, b) => !!(a && b) && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      const form = r('#gp-filter'), scale = r('.leaflet-control-scale'), nav = r('#gp-nav'),
            legend = r('#gp-hotspot-legend'), title = r('#gp-title');
      return {form: !!form, scale: !!scale, nav: !!nav,
              form_scale: hit(form, scale), form_legend: hit(form, legend),
              nav_title: hit(nav, title), links: document.querySelectorAll('#gp-nav a').length};
    })()"""
    r = _check(
        _login_link(server, "/maps/incidents?lang=en"),
        "incidents-phone",
        expr,
        width=390,
        height=800,
    )
    e = r["evaluate"]
    assert e["form"] and e["scale"] and e["nav"] and e["links"] == 7
    assert not e["form_scale"] and not e["form_legend"] and not e["nav_title"], e
