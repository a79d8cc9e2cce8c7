"""Benchmark: a district map as inline GeoJSON against vector tiles, in headless Chromium.

Claim (issue 6 §3, "City scale"): a district of 5,000 grids and 100,000 buildings stays
smooth when the large layers come as vector tiles from ``/tiles/{layer}/{z}/{x}/{y}.pbf``
instead of inline GeoJSON.

Builds a seeded synthetic district (Voronoi grids, small rotated rectangles for
buildings, made in UTM zone 50N and stored in WGS84) in an embedded store in a
temporary folder, serves the real app (with the product tile router) with uvicorn in a
thread, and opens two bench-only pages in a fresh headless Chromium each (cold cache,
no internet):

* ``inline``: the product overview renderer (``render_overview``) with grids and
  buildings as folium GeoJSON on a canvas, as ``GET /`` draws them today;
* ``tiles``: the same two layers as :class:`gridpatrol.maps.tiles.VectorTileLayer`.

Both fit the whole district (the first view). Measured per page: bytes transferred
(sum of ``Network.loadingFinished.encodedDataLength``: HTML, scripts, tiles) and time
from navigation start until every visible layer has drawn (inline: after the GeoJSON
layers were added plus two animation frames; tiles: Leaflet's ``load`` of each visible
tile layer plus two frames). Then each page zooms to level 16 at the centre (where
buildings show on the tiles page) and the bytes and time of that view are measured too.

Usage::

    python bench/maps.py             # 5,000 grids, 100,000 buildings
    python bench/maps.py --quick     # 500 grids, 10,000 buildings (< 60 s)
    python bench/maps.py --screenshots /tmp/shots

The last line printed is one JSON object: ``inline_bytes``, ``tiles_bytes_first_view``,
``inline_ms``, ``tiles_ms`` and more (zoomed view, tile timings, sizes).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from branca.element import MacroElement
from folium.template import Template

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "maps"))

import cdp  # noqa: E402  (stdlib Chrome DevTools Protocol client of the browser tests)

from gridpatrol.maps.base import add_basemap, new_map, offline_html  # noqa: E402
from gridpatrol.maps.overview import render_overview  # noqa: E402
from gridpatrol.maps.tiles import add_layer  # noqa: E402

UTM = "EPSG:32650"  # UTM zone 50N (Beijing)
ORIGIN = (440_000.0, 4_415_000.0)  # south-west corner of the district, metres
DISTRICT = "110105"


# -- the synthetic district -------------------------------------------------------------
def make_district(n_grids: int, n_buildings: int, *, seed: int = 6):
    """Grids (Voronoi cells) and buildings (rotated rectangles) in WGS84.

    The district's area grows with the number of buildings (~560 per km², a dense
    Chinese urban district), so tiles hold realistic numbers of features.
    """
    rng = np.random.default_rng(seed)
    side = float(np.sqrt(n_buildings / 560.0) * 1000.0)  # metres
    w, h = side * 1.2, side / 1.2
    x0, y0 = ORIGIN
    box = shapely.box(x0, y0, x0 + w, y0 + h)

    seeds = shapely.points(rng.uniform([x0, y0], [x0 + w, y0 + h], size=(n_grids, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=box))
    cells = shapely.intersection(cells, box)
    cells = cells[~shapely.is_empty(cells)]
    # West to east, north to south, as codes are numbered.
    c = shapely.centroid(cells)
    order = np.lexsort((shapely.get_x(c), -np.round(shapely.get_y(c), -2)))
    cells = cells[order]
    i = np.arange(len(cells))
    codes = [
        f"{DISTRICT}{s:03d}{m:03d}{g:03d}"
        for s, m, g in zip(i // 500 + 1, (i % 500) // 50 + 1, i % 50 + 1, strict=True)
    ]
    grids = gpd.GeoDataFrame(
        {
            "version": 1,
            "code": codes,
            "name": [f"网格 {k + 1}" for k in i],
            "parent_code": [code[:12] for code in codes],
            "households": rng.integers(300, 500, len(cells)),
        },
        geometry=cells,
        crs=UTM,
    )

    cx = rng.uniform(x0 + 20, x0 + w - 20, n_buildings)
    cy = rng.uniform(y0 + 20, y0 + h - 20, n_buildings)
    half_w = rng.uniform(4, 15, n_buildings)
    half_h = rng.uniform(4, 10, n_buildings)
    angle = rng.uniform(0, np.pi, n_buildings)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    local = corners[None, :, :] * np.stack([half_w, half_h], axis=1)[:, None, :]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    ring = np.stack(
        [
            cx[:, None] + local[..., 0] * cos - local[..., 1] * sin,
            cy[:, None] + local[..., 0] * sin + local[..., 1] * cos,
        ],
        axis=-1,
    )
    footprints = shapely.polygons(ring)
    buildings = gpd.GeoDataFrame(
        {
            "source_id": [f"bench:building/{k}" for k in range(n_buildings)],
            "use": "residential",
            "addr_street": "",
            "addr_housenumber": "",
            "households": rng.integers(0, 40, n_buildings),
        },
        geometry=footprints,
        crs=UTM,
    )
    return grids.to_crs(4326), buildings.to_crs(4326)


def build_store(url: str, grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> None:
    from gridpatrol.store.base import open_store

    with open_store(url) as store:
        store.write({"grids": grids, "buildings": buildings})
        bounds = np.array([grids.total_bounds, buildings.total_bounds])
        box = [*bounds[:, :2].min(0).tolist(), *bounds[:, 2:].max(0).tolist()]
        store.set_setting("bounds", box)
        store.set_setting("active_grid_version", 1)


# -- the pages ----------------------------------------------------------------------------
class _ReadyWhenDrawn(MacroElement):
    """Bench-only: ``window.__ready`` resolves to ``performance.now()`` once the layers
    have drawn; ``window.__view(z)`` moves to zoom ``z`` and resolves the same way."""

    _template = Template(
        """
        {% macro script(this, kwargs) -%}
        (function () {
            var map = {{ this._parent.get_name() }};
            var tiles = [{% for name in this.tile_layers %}{{ name }},{% endfor %}];
            function frames() {
                return new Promise(function (res) {
                    requestAnimationFrame(function () { requestAnimationFrame(function () {
                        res(performance.now()); }); });
                });
            }
            function drawn() {
                var z = map.getZoom(), waits = [];
                tiles.forEach(function (l) {
                    if (z >= l.options.minZoom && z <= l.options.maxZoom && l._loading) {
                        waits.push(new Promise(function (res) { l.once("load", res); }));
                    }
                });
                return Promise.all(waits).then(frames);
            }
            window.__ready = drawn();
            window.__view = function (zoom) {
                var t0 = performance.now();
                map.setView(map.getCenter(), zoom, {animate: false});
                return drawn().then(function (t) { return t - t0; });
            };
        })();
        {%- endmacro %}
        """
    )

    def __init__(self, tile_layers=()):
        super().__init__()
        self._name = "ReadyWhenDrawn"
        self.tile_layers = [t.get_name() for t in tile_layers]


def inline_page(grids, buildings) -> str:
    m = render_overview({"grids": grids, "buildings": buildings})
    _ReadyWhenDrawn().add_to(m)
    return offline_html(m)


def tiles_page(bounds) -> str:
    m = new_map(bounds)
    add_basemap(m, "none")
    # threshold=0: both layers as tiles, whatever their size (add_layer picks inline
    # for <= 5,000 features, and the bench compares the two ways for the same layers).
    layers = [
        add_layer(m, "buildings", 10**9, threshold=0),
        add_layer(m, "grids", 10**9, threshold=0),
    ]
    import folium

    folium.LayerControl(collapsed=False).add_to(m)
    _ReadyWhenDrawn(layers).add_to(m)
    return offline_html(m)


# -- serving and measuring ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, pages: dict[str, str]):
    import uvicorn
    from fastapi.responses import HTMLResponse

    from gridpatrol.api.main import create_app
    from gridpatrol.api.routers import tiles
    from gridpatrol.api.settings import Settings

    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    app.include_router(tiles.router)
    for name, html in pages.items():
        app.add_api_route(
            f"/bench/{name}", lambda html=html: HTMLResponse(html), include_in_schema=False
        )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _bytes(events, start: int = 0, end: int | None = None) -> tuple[int, int, int]:
    """(bytes, requests, tile requests) finished in events[start:end]."""
    urls = {}
    total = n = n_tiles = 0
    for e in events[:end]:
        p = e.get("params", {})
        if e.get("method") == "Network.requestWillBeSent":
            urls[p["requestId"]] = p["request"]["url"]
    for e in events[start:end]:
        if e.get("method") == "Network.loadingFinished":
            total += int(e["params"]["encodedDataLength"])
            n += 1
            n_tiles += urls.get(e["params"]["requestId"], "").endswith(".pbf")
    return total, n, n_tiles


def measure(
    url: str, *, zoom: int, screenshot: str | None, width=1280, height=800, timeout=600.0
) -> dict:
    """Open ``url`` in a fresh browser (cold cache) and measure the first and zoomed view."""
    b = cdp.Browser(timeout=timeout)
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Network.enable"):
            b.send(method, session=sid)
        b.send("Network.setCacheDisabled", {"cacheDisabled": False}, session=sid)
        b.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=sid,
        )
        b.events.clear()
        b.send("Page.navigate", {"url": url}, session=sid)
        if not b.pump(timeout, until=lambda e: e.get("method") == "Page.loadEventFired"):
            raise TimeoutError(f"{url} did not load")

        def evaluate(expr):
            r = b.send(
                "Runtime.evaluate",
                {"expression": expr, "returnByValue": True, "awaitPromise": True},
                session=sid,
            )
            if "exceptionDetails" in r:
                raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
            return r["result"]["value"]

        first_ms = evaluate("window.__ready")
        b.pump(0.3)  # loadingFinished events that trail the last draw
        mark = len(b.events)
        first_bytes, first_requests, first_tiles = _bytes(b.events)
        first_zoom = evaluate("Object.values(window).find(v => v instanceof L.Map).getZoom()")
        if screenshot:
            _shot(b, sid, screenshot.replace(".png", "-first.png"))
        zoom_ms = evaluate(f"window.__view({zoom})")
        b.pump(0.3)
        zoom_bytes, zoom_requests, zoom_tiles = _bytes(b.events, mark)
        if screenshot:
            _shot(b, sid, screenshot.replace(".png", f"-z{zoom}.png"))
        errors = [e for e in b.events if e.get("method") == "Runtime.exceptionThrown"]
        failed = [e for e in b.events if e.get("method") == "Network.loadingFailed"]
    finally:
        b.close()
    return {
        "first_ms": round(first_ms, 1),
        "first_bytes": first_bytes,
        "first_requests": first_requests,
        "first_tiles": first_tiles,
        "first_zoom": round(first_zoom, 2),
        "zoom_ms": round(zoom_ms, 1),
        "zoom_bytes": zoom_bytes,
        "zoom_tiles": zoom_tiles,
        "zoom_requests": zoom_requests,
        "js_errors": len(errors),
        "failed_requests": len(failed),
    }


def _shot(b, sid, path):
    import base64

    png = b.send("Page.captureScreenshot", {"format": "png"}, session=sid)["data"]
    Path(path).write_bytes(base64.b64decode(png))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 grids, 10,000 buildings")
    ap.add_argument("--grids", type=int)
    ap.add_argument("--buildings", type=int)
    ap.add_argument("--repeat", type=int, help="browser runs per page (median); 3, quick 1")
    ap.add_argument("--zoom", type=int, default=16, help="zoom of the second view")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--screenshots", help="folder for PNGs of each page's views")
    args = ap.parse_args(argv)
    n_grids = args.grids or (500 if args.quick else 5_000)
    n_buildings = args.buildings or (10_000 if args.quick else 100_000)
    repeat = args.repeat or (1 if args.quick else 3)

    t = time.perf_counter()
    grids, buildings = make_district(n_grids, n_buildings, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'district.db'}"
        build_store(url, grids, buildings)
        built_s = time.perf_counter() - t
        t = time.perf_counter()
        from gridpatrol.store.base import open_store

        with open_store(url) as store:  # as the product's overview page reads them
            grids = store.read("grids", where={"version": 1})
            buildings = store.read("buildings")
        pages = {
            "inline": inline_page(grids, buildings),
            "tiles": tiles_page(np.r_[grids.total_bounds]),
        }
        render_s = time.perf_counter() - t
        server, thread, base = serve(url, pages)
        runs: dict[str, list[dict]] = {"inline": [], "tiles": []}
        try:
            for k in range(repeat):
                for name in runs:
                    shot = None
                    if args.screenshots and k == 0:
                        Path(args.screenshots).mkdir(parents=True, exist_ok=True)
                        shot = str(Path(args.screenshots) / f"{name}.png")
                    runs[name].append(
                        measure(f"{base}/bench/{name}", zoom=args.zoom, screenshot=shot)
                    )
        finally:
            server.should_exit = True
            thread.join(10)

    def med(name, key):
        return statistics.median(r[key] for r in runs[name])

    print(
        f"district: {len(grids):,} grids, {len(buildings):,} buildings "
        f"(built in {built_s:.1f} s, pages rendered in {render_s:.1f} s); "
        f"median of {repeat} cold browser run(s)"
    )
    print(f"{'page':8} {'view':12} {'bytes':>13} {'requests':>9} {'tiles':>6} {'ms':>9}")
    for name in runs:
        print(
            f"{name:8} {'first z' + str(med(name, 'first_zoom')):12} "
            f"{med(name, 'first_bytes'):>13,.0f} {med(name, 'first_requests'):>9.0f} "
            f"{med(name, 'first_tiles'):>6.0f} {med(name, 'first_ms'):>9.0f}"
        )
        print(
            f"{'':8} {'zoom ' + str(args.zoom):12} {med(name, 'zoom_bytes'):>13,.0f} "
            f"{med(name, 'zoom_requests'):>9.0f} {med(name, 'zoom_tiles'):>6.0f} "
            f"{med(name, 'zoom_ms'):>9.0f}"
        )
    figures = {
        "n_grids": len(grids),
        "n_buildings": len(buildings),
        "inline_bytes": int(med("inline", "first_bytes")),
        "tiles_bytes_first_view": int(med("tiles", "first_bytes")),
        "inline_ms": med("inline", "first_ms"),
        "tiles_ms": med("tiles", "first_ms"),
        "first_view_zoom": med("tiles", "first_zoom"),
        "tiles_first_view_tiles": int(med("tiles", "first_tiles")),
        f"inline_zoom{args.zoom}_ms": med("inline", "zoom_ms"),
        f"tiles_zoom{args.zoom}_ms": med("tiles", "zoom_ms"),
        f"tiles_zoom{args.zoom}_bytes": int(med("tiles", "zoom_bytes")),
        "inline_html_bytes": len(pages["inline"].encode()),
        "tiles_html_bytes": len(pages["tiles"].encode()),
        "js_errors": sum(r["js_errors"] for v in runs.values() for r in v),
        "failed_requests": sum(r["failed_requests"] for v in runs.values() for r in v),
        "repeat": repeat,
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
