"""Benchmark: vector tiles cut by PostGIS in SQL against the Python encoder, same store.

Claim (issue 13 §3, "Serving"): on PostGIS, tiles come from the database
(``ST_AsMVTGeom``/``ST_AsMVT`` in one query per tile, :meth:`Store.tile`) rather than
being read into Python and encoded there.

Builds the seeded synthetic district of ``bench/maps.py`` (Voronoi grids, rotated
rectangles for buildings) in a PostGIS schema, then cuts every tile over the district
at zooms 14, 15 and 16 for grids and buildings both ways, from the same store and
connection, one after the other for each tile (so both see the same load):

* ``sql``: :func:`gridpatrol.api.routers.tiles.database_tile` (one query, bytes back);
* ``python``: :func:`gridpatrol.api.routers.tiles.python_tile` (a bounding-box read
  into a GeoDataFrame, then the vectorised encoder of :mod:`gridpatrol.maps.mvt`).

No cache: each call cuts the tile (the router caches either per data revision).

Usage::

    python bench/tiles.py --postgis postgresql://postgres@127.0.0.1:5432/pgtiles
    python bench/tiles.py --quick     # 500 grids, 10,000 buildings

The PostGIS URL defaults to ``GRIDPATROL_TEST_POSTGIS_URL``. The last line printed is
one JSON object: ``sql_tiles_per_s``, ``python_tiles_per_s``, ``ratio`` (sql /
python), per layer and zoom figures, and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _district_maker():
    """``make_district`` of bench/maps.py (one synthetic district for both benches)."""
    spec = importlib.util.spec_from_file_location("bench_maps", ROOT / "bench" / "maps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_district


def tiles_over(bounds, z: int) -> list[tuple[int, int]]:
    import math

    w, s, e, n = bounds

    def xy(lon, lat):
        k = 2**z
        x = (lon + 180) / 360 * k
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * k
        return int(x), int(y)

    x0, y0 = xy(w, n)
    x1, y1 = xy(e, s)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--postgis", default=os.environ.get("GRIDPATROL_TEST_POSTGIS_URL"))
    ap.add_argument("--quick", action="store_true", help="500 grids, 10,000 buildings")
    ap.add_argument("--grids", type=int)
    ap.add_argument("--buildings", type=int)
    ap.add_argument("--zooms", default="14,15,16")
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args(argv)
    if not args.postgis:
        ap.error("give --postgis URL (or set GRIDPATROL_TEST_POSTGIS_URL)")
    n_grids = args.grids or (500 if args.quick else 2_500)
    n_buildings = args.buildings or (10_000 if args.quick else 50_000)
    zooms = [int(z) for z in args.zooms.split(",")]

    from gridpatrol.api.routers.tiles import database_tile, python_tile
    from gridpatrol.store.base import open_store

    sep = "&" if "?" in args.postgis else "?"
    url = f"{args.postgis}{sep}schema=bench_tiles_{uuid.uuid4().hex[:8]}"
    t = time.perf_counter()
    grids, buildings = _district_maker()(n_grids, n_buildings, seed=args.seed)
    store = open_store(url)
    try:
        store.write({"grids": grids, "buildings": buildings})
        store.set_setting("active_grid_version", 1)
        store._con.execute("ANALYZE")  # fresh tables: give the planner their sizes
        built_s = time.perf_counter() - t
        bounds = buildings.total_bounds
        rows = []
        for layer in ("grids", "buildings"):
            for z in zooms:
                for x, y in tiles_over(bounds, z):
                    t0 = time.perf_counter()
                    sql = database_tile(store, layer, z, x, y)
                    t1 = time.perf_counter()
                    py = python_tile(store, layer, z, x, y)
                    t2 = time.perf_counter()
                    rows.append((layer, z, t1 - t0, t2 - t1, len(sql or b""), len(py)))
    finally:
        store.drop_schema()
        store.close()

    def figures(sel):
        sql_s = sum(r[2] for r in sel)
        py_s = sum(r[3] for r in sel)
        return {
            "tiles": len(sel),
            "sql_tiles_per_s": round(len(sel) / sql_s, 1),
            "python_tiles_per_s": round(len(sel) / py_s, 1),
            "ratio": round(py_s / sql_s, 2),
            "sql_p50_ms": round(statistics.median(r[2] for r in sel) * 1000, 1),
            "python_p50_ms": round(statistics.median(r[3] for r in sel) * 1000, 1),
            "sql_kb": round(sum(r[4] for r in sel) / 1024, 1),
            "python_kb": round(sum(r[5] for r in sel) / 1024, 1),
        }

    per = {
        f"{layer}_z{z}": figures([r for r in rows if r[0] == layer and r[1] == z])
        for layer in ("grids", "buildings")
        for z in zooms
    }
    for name, f in per.items():
        print(
            f"{name:14s} {f['tiles']:4d} tiles  sql {f['sql_tiles_per_s']:7.1f}/s "
            f"(p50 {f['sql_p50_ms']} ms)  python {f['python_tiles_per_s']:7.1f}/s "
            f"(p50 {f['python_p50_ms']} ms)  x{f['ratio']}",
            file=sys.stderr,
        )
    result = {
        "store": "postgis",
        "grids": int(len(grids)),
        "buildings": int(len(buildings)),
        "zooms": zooms,
        "build_s": round(built_s, 1),
        **figures(rows),
        "per_layer_zoom": per,
        "load_avg": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
