"""Benchmark: the grid report at 1M incidents, counted by the database vs loaded into Python.

    python bench/report.py                      # 1,000,000 incidents, embedded store
    python bench/report.py --quick              # 100,000
    python bench/report.py --postgis postgresql://postgres@127.0.0.1:5432/reports

Workload: the Helsinki demo (22 grids, its buildings and walk network) with its 300
generated incidents copied to ``--rows`` (each copy a few metres off, on another day
within a year), assigned to the active version by the assignment index and written
through the store's write path in one transaction (not through the slow ingest: this
measures reading, not writing).

Measured, in one run, in this order (best of ``--repeat``):

* ``report_s``: ``services.grid_versions.version_report(store, 1)`` - what
  ``GET /api/grids/versions/1/report`` computes: counts from ``Store.count_by``, no
  walk tours;
* ``unsaved_grids_report_s``: ``report_for_grids(store, grids)`` without a version, as
  for grids being edited (``POST /api/grids/versions/report``, drafts): the store cannot
  count for them, so the incidents' coordinates are read and located with the
  assignment index;
* ``old_report_s``: the same report through the path used before this change (every
  incident read into a frame and located with an R-tree), see :func:`old_report`;
* ``tours_first_s`` / ``tours_kept_s``: the report with ``walk_tours=True``, first and
  second time (the tours are kept per grid version).

The last printed line is one JSON object, with the 1-minute load average at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]


def fill(store, rows: int, *, seed: int = 1) -> int:
    """``rows`` incidents made from the demo's sample, assigned, written in one transaction."""
    import geopandas as gpd

    from gridpatrol.geo.incidents import assign_incidents
    from gridpatrol.services.grid_index import grid_index
    from gridpatrol.services.project import active_version

    sample = store.read("incidents")
    version = active_version(store)
    rng = np.random.default_rng(seed)
    index, grids = grid_index(store, version)
    areas = store.read("areas")
    chunk = 200_000
    with store.transaction():
        store.delete("incidents", where={})
        store.delete("incident_events", where={})
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            pick = rng.integers(0, len(sample), n)
            part = sample.iloc[pick].reset_index(drop=True)
            part["incident_id"] = [f"bench-{start + k:07d}" for k in range(n)]
            days = pd.to_timedelta(rng.integers(0, 365, n), unit="D")
            part["reported_at"] = part["reported_at"] - days
            part["updated_at"] = part["reported_at"]
            part["due_at"] = pd.NaT
            part["closed_at"] = pd.NaT
            # a few metres off the sample point (1e-5 degrees ~ 1 m)
            xy = shapely.get_coordinates(part.geometry.values)
            xy += rng.normal(0, 4e-5, xy.shape)
            part = gpd.GeoDataFrame(part, geometry=shapely.points(xy), crs=4326)
            codes = assign_incidents(part, index, grids=grids, areas=areas)
            for col in codes.columns:
                part[col] = codes[col].to_numpy()
            part["grid_version"] = version
            part["reported_grid_code"] = part["grid_code"]
            part["reported_grid_version"] = version
            store.write({"incidents": part}, mode="append", prevalidated=True)
            print(f"  written {start + n:,} incidents", file=sys.stderr, flush=True)
    return store.count("incidents")


def old_report(store, grids):
    """The report as computed before counts came from the store (top-level grids): every
    incident read into a frame and located with the R-tree (``locate_points``)."""
    from gridpatrol.geo.crs import to_crs_valid
    from gridpatrol.geo.grid_report import metrics, validate_grids
    from gridpatrol.services.project import project_settings

    crs = store.metric_crs(grids)
    communities = store.read("areas", where={"level": "community"})
    communities = communities[communities["code"].isin(set(grids["parent_code"]))]
    buildings = store.read("buildings")
    streets = store.read("streets", where={"network": "walk"})
    incidents = store.read("incidents")
    saved, metrics._INDEX_POINTS_PER_GRID = metrics._INDEX_POINTS_PER_GRID, 10**12
    try:
        return validate_grids(
            to_crs_valid(grids, crs),
            communities=to_crs_valid(communities, crs),
            band=project_settings(store).household_band,
            buildings=to_crs_valid(buildings, crs),
            streets=to_crs_valid(streets, crs),
            incidents=to_crs_valid(incidents, crs),
            walk_tours=False,
        )
    finally:
        metrics._INDEX_POINTS_PER_GRID = saved


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 incidents")
    ap.add_argument("--postgis", help="a PostGIS URL (a schema gridpatrol_bench_report is used)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the new report (best kept)")
    ap.add_argument(
        "--keep",
        help="a store file to make once and reuse (to profile); with --postgis: any "
        "value keeps the schema",
    )
    args = ap.parse_args(argv)
    rows = 100_000 if args.quick else args.rows
    load = os.getloadavg()[0]

    from gridpatrol.demo import build_demo
    from gridpatrol.services import grid_versions as gv
    from gridpatrol.store.base import open_store

    with tempfile.TemporaryDirectory() as tmp:
        if args.postgis:
            sep = "&" if "?" in args.postgis else "?"
            url = f"{args.postgis}{sep}schema=gridpatrol_bench_report"
            if not args.keep:
                with open_store(url) as s:
                    s.drop_schema()
        else:
            url = f"sqlite:///{args.keep or Path(tmp) / 'report.db'}"
        with open_store(url) as store:
            t0 = time.perf_counter()
            if store.count("grids") == 0:
                build_demo(store, sample=300)
            stored = store.count("incidents")
            if stored != rows:
                stored = fill(store, rows)
            print(f"  store ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            grids = store.read("grids", where={"version": 1})

            unvacuumed_s = None
            if args.postgis:
                # Right after a bulk load PostgreSQL has no statistics and no visibility map,
                # so it scans the table; autovacuum fixes both within a minute (it is off on
                # the test server), as VACUUM ANALYZE does here. Both figures are printed.
                unvacuumed_s, _ = timed(lambda: gv.version_report(store, 1), 1)
                store._con.execute(
                    f"VACUUM ANALYZE {store.schema}.incidents"  # bench only: no API for it
                )
            report_s, new = timed(lambda: gv.version_report(store, 1), args.repeat)
            draft_s, draft = timed(lambda: gv.report_for_grids(store, grids), 1)
            old_s, old = timed(lambda: old_report(store, grids), 1)
            same = all(
                r.metrics["incidents"].equals(old.metrics["incidents"])
                and r.summary["unassigned_incidents"] == old.summary["unassigned_incidents"]
                for r in (new, draft)
            )
            tours_first_s, _ = timed(lambda: gv.version_report(store, 1, walk_tours=True), 1)
            tours_kept_s, _ = timed(lambda: gv.version_report(store, 1, walk_tours=True), 1)
            counted = int(new.metrics["incidents"].sum()) + int(new.summary["unassigned_incidents"])
            if args.postgis and not args.keep:
                store.drop_schema()
    out = {
        "store": "postgis" if args.postgis else "embedded",
        "incidents": stored,
        "grids": int(new.summary["n_grids"]),
        "report_s": round(report_s, 3),
        **({"report_before_vacuum_s": round(unvacuumed_s, 3)} if unvacuumed_s else {}),
        "old_report_s": round(old_s, 3),
        "ratio": round(old_s / report_s, 1),
        "same_counts": bool(same and counted == stored),
        "unsaved_grids_report_s": round(draft_s, 3),
        "tours_first_s": round(tours_first_s, 3),
        "tours_kept_s": round(tours_kept_s, 3),
        "load_avg_1min_at_start": round(load, 2),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
