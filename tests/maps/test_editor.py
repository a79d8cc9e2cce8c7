"""The grid editor page (/editor/{version}) on the Helsinki demo.

The page checks run everywhere; the browser tests drive a real headless Chromium with the
internet cut off (tests/maps/cdp.py): they edit with the mouse or through
``window.gridEditor``, click the page's buttons, and check the result through the API.
Screenshots go to $GRIDPATROL_SCREENSHOTS when set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
import shapely
from shapely.geometry import shape

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.demo import build_demo
from gridpatrol.maps.assets import external_assets
from gridpatrol.store.base import open_store
from tests.maps.cdp import CHROMIUM, serve_app
from tests.tokens import client_as, make_token  # noqa: E402

if CHROMIUM is None and os.environ.get("GRIDPATROL_REQUIRE_BROWSER"):
    raise RuntimeError("GRIDPATROL_REQUIRE_BROWSER is set but Chromium is not installed")


def browser_test(fn):
    """Marked ``browser``; skipped when Chromium is absent."""
    skip = pytest.mark.skipif(
        CHROMIUM is None, reason="browser tests need Chromium: apt-get install chromium"
    )
    return pytest.mark.browser(skip(fn))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The demo project served by the app plus the editor router."""
    url = f"sqlite:///{tmp_path_factory.mktemp('editor') / 'demo.db'}"
    with open_store(url) as store:
        build_demo(store)
    # The editor asks for reports without walk tours (?walk_tours=false) to stay fast.
    yield create_app(Settings(database_url=url, escalation_interval_s=0))


@pytest.fixture(scope="module")
def server(app):
    token = make_token(app, "planner")
    headers = {"Authorization": f"Bearer {token}"}
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=60, headers=headers) as client:
        yield client


def _new_draft(client) -> int:
    r = client.post("/api/grids/versions", json={"copy_of": 1, "name": "editor test"})
    assert r.status_code == 201, r.text
    return r.json()["version"]


# ---------------------------------------------------------------------------- the page


def test_editor_page_is_offline_and_links_its_script(app):
    client = client_as(app)
    v = _new_draft(client)
    r = client.get(f"/editor/{v}")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert external_assets(r.text) == []
    assert '<script src="/static/editor.js?v=' in r.text and "/static/editor.css?v=" in r.text
    assert "leaflet-geoman.min.js" in r.text and "window.gridEditor.init(" in r.text
    assert "walk_tours=false" in r.text and '"editable": true' in r.text
    assert client.get("/static/editor.js").status_code == 200
    assert client.get("/static/editor.css").status_code == 200


def test_active_version_page_is_read_only_without_geoman(app):
    r = client_as(app).get("/editor/1")
    assert r.status_code == 200
    assert '"editable": false' in r.text and "leaflet-geoman" not in r.text
    assert "Make a draft copy" in r.text


def test_editor_page_languages_and_missing_version(app):
    client = client_as(app)
    assert "复制为草稿" in client.get("/editor/1?lang=zh").text
    assert (
        "复制为草稿" in client.get("/editor/1", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    )
    assert "Make a draft copy" in client.get("/editor/1", headers={"Accept-Language": "en-GB"}).text
    missing = client.get("/editor/999")
    assert missing.status_code == 404 and "no grid version 999" in missing.json()["detail"]


def test_editor_without_a_session_offers_to_log_in(app):
    anonymous = client_as(app, None)
    for lang, text in (("en", "Log in to check and edit"), ("zh", "登录后即可校验和编辑")):
        r = anonymous.get(f"/editor/1?lang={lang}")
        assert r.status_code == 200
        assert (
            f'<p id="gp-login" class="gp-login">\n    <a href="/login?next=/editor/1">{text}'
            in (r.text)
        )
        assert '"logged_in": false' in r.text
    # with a session the link is there but hidden, and the page checks edits
    r = client_as(app, "planner").get("/editor/1")
    assert '<p id="gp-login" class="gp-login" hidden>' in r.text and '"logged_in": true' in r.text


# ---------------------------------------------------------------------------- in Chromium


class Page:
    """One Chromium tab driven over the DevTools protocol, several steps per test."""

    def __init__(self, width: int = 1280, height: int = 800):
        from tests.maps.cdp import Browser

        self.b = Browser(timeout=60)
        target = self.b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.sid = self.b.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.b.send(m, session=self.sid)
        self.allowed_log: list[str] = []  # browser log lines a test expects (e.g. a 409)
        self.b.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=self.sid,
        )

    def open(self, url: str) -> None:
        self.b.send("Page.navigate", {"url": url}, session=self.sid)
        self.b.pump(30, until=lambda e: e.get("method") == "Page.loadEventFired")
        self.eval("window.gridEditor.whenIdle()")

    def eval(self, expression: str):
        r = self.b.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.sid,
        )
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.eval(expression)
            except (AssertionError, RuntimeError):  # page navigating
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            self.b.pump(0.2)

    def _mouse(self, kind: str, x: float, y: float, **kw) -> None:
        self.b.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", **kw},
            session=self.sid,
        )

    def click_at(self, x: float, y: float) -> None:
        self._mouse("mouseMoved", x, y, buttons=0)
        self._mouse("mousePressed", x, y, buttons=1, clickCount=1)
        self._mouse("mouseReleased", x, y, buttons=0, clickCount=1)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.eval(
            f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        self.click_at(*box)

    def drag(self, x0: float, y0: float, x1: float, y1: float, steps: int = 8) -> None:
        self._mouse("mouseMoved", x0, y0, buttons=0)
        self._mouse("mousePressed", x0, y0, buttons=1, clickCount=1)
        for i in range(1, steps + 1):
            self._mouse(
                "mouseMoved", x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps, buttons=1
            )
            self.b.pump(0.03)  # Leaflet moves a dragged marker on the next animation frame
        self._mouse("mouseReleased", x1, y1, buttons=0, clickCount=1)

    def screenshot(self, name: str) -> None:
        out = os.environ.get("GRIDPATROL_SCREENSHOTS")
        if out:
            import base64

            png = self.b.send("Page.captureScreenshot", {"format": "png"}, session=self.sid)["data"]
            (Path(out) / f"{name}.png").write_bytes(base64.b64decode(png))

    def trouble(self) -> dict:
        """Console errors/warnings, exceptions, failed and external requests so far."""
        from urllib.parse import urlsplit

        requests, out = (
            {},
            {"external": [], "failed": [], "console": [], "exceptions": [], "log": []},
        )
        for e in self.b.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Network.requestWillBeSent":
                requests[p["requestId"]] = url = p["request"]["url"]
                parts = urlsplit(url)
                if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in (
                    "127.0.0.1",
                    "localhost",
                ):
                    out["external"].append(url)
            elif m == "Network.loadingFailed" and p.get("errorText") != "net::ERR_ABORTED":
                out["failed"].append(
                    {"url": requests.get(p["requestId"]), "error": p.get("errorText")}
                )
            elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                out["console"].append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                )
            elif m == "Runtime.exceptionThrown":
                out["exceptions"].append(
                    p["exceptionDetails"].get("exception", {}).get("description")
                )
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                if not any(a in p["entry"]["text"] for a in self.allowed_log):
                    out["log"].append(p["entry"]["text"])
        return out

    def responses(self, status: int) -> list[str]:
        return [
            e["params"]["response"]["url"]
            for e in self.b.events
            if e.get("method") == "Network.responseReceived"
            and e["params"]["response"]["status"] == status
        ]

    def close(self) -> None:
        self.b.close()


@pytest.fixture
def page(server):
    p = Page()
    # Log the browser in as the planner: a one-time link sets the session cookie.
    link = server.post("/api/auth/login-links").json()["url"]
    p.b.send("Page.navigate", {"url": str(server.base_url).rstrip("/") + link}, session=p.sid)
    p.b.pump(30, until=lambda e: e.get("method") == "Page.loadEventFired")
    yield p
    try:
        trouble = p.trouble()
    finally:
        p.close()
    assert trouble == {"external": [], "failed": [], "console": [], "exceptions": [], "log": []}, (
        trouble
    )


def _base(server) -> str:
    return str(server.base_url).rstrip("/")


def _grids(server, v: int) -> tuple[int, dict]:
    r = server.get(f"/api/grids/versions/{v}")
    assert r.status_code == 200
    return int(r.headers["etag"].strip('"')), {
        f["id"]: shape(f["geometry"]) for f in r.json()["features"]
    }


# A point inside the grid's own SVG path on screen (elementFromPoint), as [x, y].
POINT_IN_GRID = """((code) => {
  const layer = gridEditor.layer(code), map = layer._map;
  const box = map.getContainer().getBoundingClientRect(), b = layer.getBounds();
  const sw = map.latLngToContainerPoint(b.getSouthWest());
  const ne = map.latLngToContainerPoint(b.getNorthEast());
  for (let f = 0.5, k = 0; k < 400; k++) {
    const x = box.x + sw.x + (ne.x - sw.x) * ((k * 0.618) % 1);
    const y = box.y + ne.y + (sw.y - ne.y) * ((k * 0.382 + 0.5) % 1);
    if (document.elementFromPoint(x, y) === layer._path) return [x, y];
  }
  return null;
})"""


VERTEX_TO_DRAG = """(() => {
  // A grid and one of its vertices that can be dragged with the mouse: Geoman edit mode
  // on, its marker on top (not hidden by another), and a target halfway towards the middle
  // of its two neighbours (Geoman undoes drags that make the ring cross itself).
  // [code, x, y, to x, to y] in page pixels.
  for (const code of gridEditor.codes()) {
    const layer = gridEditor.layer(code);
    if (layer.getLatLngs().length !== 1) continue;  // a grid with holes: take another
    layer.pm.enable({ snappable: false });
    const ms = layer.pm._markers[0], n = ms.length;
    const at = m => {
      const r = m._icon.getBoundingClientRect();
      return [r.x + r.width / 2, r.y + r.height / 2];
    };
    for (let i = 0; i < n; i++) {
      const [x, y] = at(ms[i]), [px, py] = at(ms[(i + n - 1) % n]), [qx, qy] = at(ms[(i + 1) % n]);
      const mx = (px + qx) / 2, my = (py + qy) / 2;
      if (Math.hypot(mx - x, my - y) > 24 && document.elementFromPoint(x, y) === ms[i]._icon) {
        return [code, x, y, x + (mx - x) / 2, y + (my - y) / 2];
      }
    }
    layer.pm.disable();
  }
  return null;
})()"""


@browser_test
def test_draft_opens_with_grids_and_clean_report(server, page):
    v = _new_draft(server)
    rev, grids = _grids(server, v)
    page.open(f"{_base(server)}/editor/{v}")
    state = page.eval("gridEditor.state()")
    assert state["editable"] and state["revision"] == rev and state["grids"] == len(grids)
    assert state["summary"]["n_grids"] == len(grids) and state["problems"] == []
    assert page.eval("document.querySelectorAll('#gp-grids tbody tr').length") == len(grids)
    assert (
        page.eval("document.querySelectorAll('.leaflet-pm-toolbar .button-container').length") >= 4
    )
    page.screenshot("editor-draft")


@browser_test
def test_drag_a_vertex_then_save(server, page):
    v = _new_draft(server)
    rev, before = _grids(server, v)
    page.open(f"{_base(server)}/editor/{v}")
    code, x, y, x1, y1 = page.eval(VERTEX_TO_DRAG)
    page.drag(x, y, x1, y1)  # the mouse moves one vertex marker of Geoman's edit mode
    page.eval(f"gridEditor.layer({code!r}).pm.disable()")
    state = page.eval("gridEditor.whenIdle()")
    assert state["dirty"]
    # the neighbours (or the community boundary) no longer fit: a problem appears
    assert {"gap", "overlap", "crosses_parent"} & set(state["problems"]), state["problems"]
    page.click("#gp-save")
    page.wait_for(f"gridEditor.state().revision === {rev + 1} && !gridEditor.state().dirty")
    assert "revision" in page.eval("document.getElementById('gp-message').textContent")
    new_rev, after = _grids(server, v)
    assert new_rev == rev + 1 and set(after) == set(before)
    assert not after[code].equals_exact(before[code], 1e-9)
    assert all(after[c].equals_exact(before[c], 1e-9) for c in before if c != code)
    page.screenshot("editor-vertex-moved")


@browser_test
def test_delete_a_grid_with_geoman_shows_the_gap_then_save(server, page):
    v = _new_draft(server)
    rev, before = _grids(server, v)
    code = sorted(before)[len(before) // 2]
    page.open(f"{_base(server)}/editor/{v}")
    x, y = page.eval(f"{POINT_IN_GRID}({code!r})")
    page.eval("gridEditor.map().pm.enableGlobalRemovalMode()")  # Geoman's eraser button
    page.click_at(x, y)
    page.eval("gridEditor.map().pm.disableGlobalRemovalMode()")
    state = page.eval("gridEditor.whenIdle()")
    assert state["grids"] == len(before) - 1 and code not in page.eval("gridEditor.codes()")
    assert "gap" in state["problems"] and state["summary"]["gap_area_m2"] > 1000
    # drawn in the problems pane, with the validator's message in its tooltip
    assert page.eval("document.querySelectorAll('.leaflet-gpProblems-pane path').length") >= 1
    assert "Gap" in page.eval("document.getElementById('gp-kinds').textContent")
    page.screenshot("editor-gap")
    page.click("#gp-save")
    page.wait_for(f"gridEditor.state().revision === {rev + 1}")
    new_rev, after = _grids(server, v)
    assert new_rev == rev + 1 and set(after) == set(before) - {code}
    report = server.get(f"/api/grids/versions/{v}/report", params={"walk_tours": "false"}).json()
    assert report["summary"]["problems_by_kind"]["gap"] >= 1


# Four corners of a square of ``size`` px inside the grid's own path on screen, and its
# middle: [[x, y] * 4, [x, y]] (every point hits the grid, so the square lies inside it).
SQUARE_IN_GRID = """((code, size) => {
  const layer = gridEditor.layer(code), map = gridEditor.map();
  const box = map.getContainer().getBoundingClientRect(), b = layer.getBounds();
  const sw = map.latLngToContainerPoint(b.getSouthWest());
  const ne = map.latLngToContainerPoint(b.getNorthEast());
  const hits = (x, y) => document.elementFromPoint(x, y) === layer._path;
  for (let y = box.y + ne.y + size; y < box.y + sw.y - size; y += 4) {
    for (let x = box.x + sw.x + size; x < box.x + ne.x - size; x += 4) {
      const c = [[x, y], [x + size, y], [x + size, y + size], [x, y + size]];
      const mid = [x + size / 2, y + size / 2];
      if (c.every(p => hits(...p)) && hits(...mid)) return [c, mid];
    }
  }
  return null;
})"""


def _click_polygon(page, corners) -> None:
    for x, y in corners:
        page.click_at(x, y)
        page.b.pump(0.1)
    page.click_at(*corners[0])  # clicking the first vertex again closes the shape


@browser_test
def test_geoman_cut_carves_a_new_grid_and_drawing_adds_one(server, page):
    v = _new_draft(server)
    _, before = _grids(server, v)
    code = max(before, key=lambda c: before[c].area)
    page.open(f"{_base(server)}/editor/{v}")
    corners, _ = page.eval(f"{SQUARE_IN_GRID}({code!r}, 40)")
    page.eval("gridEditor.map().pm.setGlobalOptions({snappable: false})")
    page.click(".leaflet-pm-icon-cut")  # Geoman's scissors, then draw the piece to carve
    _click_polygon(page, corners)
    state = page.eval("gridEditor.whenIdle()")
    assert state["reportError"] is None and state["grids"] == len(before) + 1
    assert state["summary"]["gap_area_m2"] < 1 and state["summary"]["overlap_area_m2"] < 1
    fc = page.eval("gridEditor.features()")
    carved = [f for f in fc["features"] if f["id"] not in before]
    assert len(carved) == 1 and carved[0]["properties"]["parent_code"] == code[:-3]
    assert shape(carved[0]["geometry"]).within(before[code].buffer(1e-7))
    # a new grid drawn with Geoman's polygon tool over the carved piece overlaps it
    page.click(".leaflet-pm-icon-polygon")
    _click_polygon(page, [(x + 10, y + 10) for x, y in corners])
    state = page.eval("gridEditor.whenIdle()")
    assert state["grids"] == len(before) + 2 and "overlap" in state["problems"]
    page.screenshot("editor-cut-draw")


@browser_test
def test_select_with_a_click_and_split_with_a_drawn_line(server, page):
    v = _new_draft(server)
    _, before = _grids(server, v)
    code = max(before, key=lambda c: before[c].area)
    page.open(f"{_base(server)}/editor/{v}")
    _, (x, y) = page.eval(f"{SQUARE_IN_GRID}({code!r}, 20)")
    page.click_at(x, y)
    assert page.eval("gridEditor.state().selected") == [code]
    left, right = page.eval(f"""(() => {{
      const map = gridEditor.map(), b = gridEditor.layer({code!r}).getBounds();
      const box = map.getContainer().getBoundingClientRect();
      return [map.latLngToContainerPoint(b.getSouthWest()).x + box.x - 15,
              map.latLngToContainerPoint(b.getNorthEast()).x + box.x + 15];
    }})()""")
    page.click("#gp-split")  # Geoman's line tool; clicking the last point again ends it
    page.eval("gridEditor.map().pm.setGlobalOptions({snappable: false})")
    for px in (left, right, right):
        page.click_at(px, y)
        page.b.pump(0.1)
    state = page.eval("gridEditor.whenIdle()")
    assert state["reportError"] is None and state["grids"] == len(before) + 1
    assert state["summary"]["gap_area_m2"] < 1 and state["summary"]["overlap_area_m2"] < 1
    assert state["message"] == ""  # the drawing hint is gone
    fc = page.eval("gridEditor.features()")
    pieces = [
        shape(f["geometry"]) for f in fc["features"] if f["id"] == code or f["id"] not in before
    ]
    assert len(pieces) == 2
    assert abs(shapely.union_all(pieces).area - before[code].area) < 1e-3 * before[code].area
    page.screenshot("editor-split-line")


def _neighbours(grids: dict) -> tuple[str, str]:
    for a in sorted(grids):
        for b in sorted(grids):
            if a < b and grids[a].intersection(grids[b]).length > 5e-4:  # ~ 30 m of shared edge
                return a, b
    raise AssertionError("no two grids share an edge")


@browser_test
def test_merge_then_split_keep_the_community_covered(server, page):
    v = _new_draft(server)
    _, before = _grids(server, v)
    a, b = _neighbours(before)
    page.open(f"{_base(server)}/editor/{v}")
    page.eval(f"gridEditor.select({a!r}); gridEditor.select({b!r})")
    assert page.eval("document.getElementById('gp-merge').disabled") is False
    page.click("#gp-merge")
    state = page.eval("gridEditor.whenIdle()")
    assert state["reportError"] is None
    assert state["grids"] == len(before) - 1 and b not in page.eval("gridEditor.codes()")
    assert (
        page.eval(f"gridEditor.features().features.find(f => f.id === {a!r}).geometry.type")
        == "Polygon"
    )
    assert state["summary"]["gap_area_m2"] < 1 and state["summary"]["overlap_area_m2"] < 1
    merged = shapely.union(before[a], before[b])
    # split the merged grid with a line across its middle, west to east
    minx, miny, maxx, maxy = merged.bounds
    mid = (miny + maxy) / 2
    made = page.eval(
        f"gridEditor.splitByLine([[{minx - 1e-3}, {mid}], [{maxx + 1e-3}, {mid + 1e-5}]], {a!r})"
    )
    assert len(made) == 1 and made[0].startswith(a[:-3]) and made[0] not in before
    state = page.eval("gridEditor.whenIdle()")
    assert state["reportError"] is None and state["grids"] == len(before)
    assert state["summary"]["gap_area_m2"] < 1 and state["summary"]["overlap_area_m2"] < 1
    fc = page.eval("gridEditor.features()")
    pieces = [shape(f["geometry"]) for f in fc["features"] if f["id"] in (a, made[0])]
    assert abs(shapely.union_all(pieces).area - merged.area) < 1e-3 * merged.area
    page.screenshot("editor-merge-split")


@browser_test
def test_stale_save_shows_the_conflict_and_reload_recovers(server, page):
    v = _new_draft(server)
    rev, before = _grids(server, v)
    page.open(f"{_base(server)}/editor/{v}")
    # another planner saves the draft after this page loaded it
    body = {
        "type": "FeatureCollection",
        "features": server.get(f"/api/grids/versions/{v}").json()["features"],
    }
    assert (
        server.put(
            f"/api/grids/versions/{v}", json=body, headers={"If-Match": f'"{rev}"'}
        ).status_code
        == 200
    )
    code = sorted(before)[0]
    page.eval(f"gridEditor.remove({code!r})")
    page.allowed_log.append("status of 409 (Conflict)")  # Chromium logs every 4xx response
    page.click("#gp-save")
    page.wait_for("gridEditor.state().message.includes('someone else')")
    state = page.eval("gridEditor.state()")
    assert state["revision"] == rev and state["dirty"]
    assert "Someone else saved this draft" in state["message"]
    assert page.eval("!!document.getElementById('gp-conflict-reload')")
    assert page.responses(409) == [f"{_base(server)}/api/grids/versions/{v}"]
    page.screenshot("editor-conflict")
    assert server.get(f"/api/grids/versions/{v}").headers["etag"] == f'"{rev + 1}"'  # nothing lost
    page.click("#gp-conflict-reload")
    page.wait_for(f"gridEditor.state().revision === {rev + 1} && gridEditor.state().message === ''")
    state = page.eval("gridEditor.whenIdle()")
    assert not state["dirty"] and state["grids"] == len(before) and state["problems"] == []


@browser_test
def test_active_version_offers_a_draft_copy(server, page):
    versions = {r["version"] for r in server.get("/api/grids/versions").json()}
    page.open(f"{_base(server)}/editor/1?lang=zh")
    assert page.eval("gridEditor.state().editable") is False
    assert page.eval("!document.querySelector('.leaflet-pm-toolbar')")
    assert "不能编辑" in page.eval("document.getElementById('gp-readonly-text').textContent")
    page.screenshot("editor-active-zh")
    page.click("#gp-copy")
    path = page.wait_for(
        "location.pathname !== '/editor/1' && window.gridEditor && location.pathname"
    )
    new = int(path.rsplit("/", 1)[1])
    assert new not in versions and page.eval("location.search") == "?lang=zh"
    state = page.wait_for("window.gridEditor && gridEditor.whenIdle()")
    assert state["editable"] and state["status"] == "draft" and state["version"] == new
    assert "网格编辑" in page.eval("document.getElementById('gp-heading').textContent")
    created = {r["version"]: r for r in server.get("/api/grids/versions").json()}[new]
    assert created["status"] == "draft" and created["grids"] == state["grids"]


@browser_test
def test_anonymous_editor_shows_the_login_link_and_never_asks_for_a_check(server):
    p = Page()
    try:
        p.open(f"{_base(server)}/editor/1")
        state = p.eval("gridEditor.state()")
        assert state["grids"] > 0
        assert p.eval("document.getElementById('gp-login').hidden") is False
        assert "Checking failed" not in p.eval("document.getElementById('gp-status').textContent")
        assert not [
            e
            for e in p.b.events
            if e.get("method") == "Network.requestWillBeSent"
            and "/report" in e["params"]["request"]["url"]
        ]
        trouble = p.trouble()
    finally:
        p.close()
    assert trouble == {"external": [], "failed": [], "console": [], "exceptions": [], "log": []}
