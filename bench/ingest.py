"""Benchmark: incident ingest through ``gridpatrol import incidents`` and the batch endpoint.

    python bench/ingest.py              # 1,000,000 rows into a fresh embedded store
    python bench/ingest.py --quick      # 100,000 rows
    python bench/ingest.py --rows 250000 --batch-rows 50000
    python bench/ingest.py --postgis postgresql://postgres@127.0.0.1:5432/db   # and PostGIS

Workload (seeded): a 12 x 12 km project split into 400 grids (3 x 3 km communities under
one street), 100 addresses; a CSV of reports with ISO times in +08:00, categories given
by key, English name or alias, 1 % of points outside every grid but within the served
area. Every row is valid, so every validation runs on every row and all must be stored.

The import runs as its own process (the command a user types); its wall time and peak
RSS (``wait4``) are measured from here, and the stored count is checked afterwards.
``batch_rows_per_s`` posts the same kind of rows as JSON batches of ``--batch-rows`` to
``POST /api/incidents/batch`` of a service started on loopback against a second store.
With ``--postgis URL`` the same CSV is also imported into a fresh schema of that
database (dropped afterwards): ``postgis_rows_per_s``, ``postgis_peak_rss_mb`` (of the
importing process; the server's memory is not counted). ``--batch-total 0`` skips the
batch endpoint. The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
BOUNDS = (113.80, 22.50, 113.93, 22.61)  # about 13 x 12 km in Bao'an, Shenzhen
CATEGORIES = ["fire", "public_order", "theft", "Sanitation", "illegal parking", "消防", "other"]


def make_project(url: str, *, side: int = 20) -> None:
    """Grids (side x side), communities and a street over BOUNDS, with settings."""
    from gridpatrol.store.base import open_store

    minx, miny, maxx, maxy = BOUNDS
    xs = np.linspace(minx, maxx, side + 1)
    ys = np.linspace(miny, maxy, side + 1)
    boxes, codes, parents = [], [], []
    for i in range(side):
        for j in range(side):
            boxes.append(shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
            community = f"440306001{(i // 5) * 4 + j // 5 + 1:03d}"
            parents.append(community)
            codes.append(f"{community}{i * side + j + 1:03d}")
    # Leave one grid out so some points fall outside every grid (unassigned).
    grids = gpd.GeoDataFrame(
        {"version": 1, "code": codes[1:], "name": codes[1:], "parent_code": parents[1:]},
        geometry=boxes[1:],
        crs=4326,
    )
    comm = sorted(set(parents))
    comm_geoms = [
        shapely.union_all([b for b, p in zip(boxes, parents, strict=True) if p == c]) for c in comm
    ]
    areas = gpd.GeoDataFrame(
        {
            "code": comm + ["440306001"],
            "level": ["community"] * len(comm) + ["street"],
            "parent_code": ["440306001"] * len(comm) + ["440306"],
        },
        geometry=comm_geoms + [shapely.box(*BOUNDS)],
        crs=4326,
    )
    rng = np.random.default_rng(7)
    addresses = gpd.GeoDataFrame(
        {
            "source_id": [f"a{i}" for i in range(100)],
            "street": "Xin'an Road",
            "housenumber": [str(i) for i in range(100)],
        },
        geometry=shapely.points(rng.uniform(minx, maxx, 100), rng.uniform(miny, maxy, 100)),
        crs=4326,
    )
    with open_store(url) as store:
        store.write({"grids": grids, "areas": areas, "addresses": addresses})
        store.set_setting("bounds", list(BOUNDS))
        store.set_setting("timezone", "Asia/Shanghai")
        store.set_setting("metric_crs", "EPSG:32650")


def make_rows(n: int, *, seed: int = 1, prefix: str = "b") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = BOUNDS
    t0 = pd.Timestamp("2025-01-01T00:00:00+08:00").value
    stamps = pd.to_datetime(t0 + rng.integers(0, 330 * 86400, n) * 10**9, utc=True)
    times = stamps.tz_convert("Asia/Shanghai").strftime("%Y-%m-%dT%H:%M:%S+08:00")
    return pd.DataFrame(
        {
            "incident_id": [f"{prefix}{i:07d}" for i in range(n)],
            "reported_at": times,
            "category": np.asarray(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), n)],
            "lon": np.round(rng.uniform(minx, maxx, n), 6),
            "lat": np.round(rng.uniform(miny, maxy, n), 6),
            "description": np.asarray(["", "noise", "smoke from a window"], dtype=object)[
                rng.integers(0, 3, n)
            ],
        }
    )


def run_import(csv: Path, url: str) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of ``gridpatrol import incidents`` as a child process."""
    exe = Path(sys.executable).with_name("gridpatrol")
    cmd = [str(exe), "import", "incidents", str(csv), "--db", url]
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import failed:\n{text}")
    return seconds, usage.ru_maxrss / 1024.0, text


def run_postgis(csv: Path, url: str, n: int) -> dict:
    """Import ``csv`` into a fresh schema of the PostGIS database at ``url``."""
    from gridpatrol.store.base import open_store

    schema = f"bench_ingest_{os.getpid()}"
    url = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    make_project(url)
    try:
        seconds, rss, log = run_import(csv, url)
        with open_store(url) as store:
            stored = store.count("incidents")
        if stored != n:
            raise SystemExit(f"PostGIS stored {stored} of {n} rows:\n{log}")
    finally:
        with open_store(url) as store:
            store.drop_schema()
    return {
        "postgis_seconds": round(seconds, 2),
        "postgis_rows_per_s": round(n / seconds),
        "postgis_peak_rss_mb": round(rss, 1),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_batches(url: str, rows: pd.DataFrame, batch_rows: int) -> float:
    """Rows per second through POST /api/incidents/batch on a loopback service."""
    import httpx

    port = free_port()
    env = {**os.environ, "GRIDPATROL_DATABASE_URL": url, "GRIDPATROL_ESCALATION_INTERVAL_S": "0"}
    exe = Path(sys.executable).with_name("gridpatrol")
    server = subprocess.Popen(
        [str(exe), "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {}
        token = admin_token(url)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        with httpx.Client(base_url=base, timeout=600, headers=headers) as client:
            for _ in range(300):
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            records = [
                {
                    "incident_id": r.incident_id,
                    "reported_at": r.reported_at,
                    "category": r.category,
                    "description": r.description,
                    "location": {"lon": r.lon, "lat": r.lat},
                }
                for r in rows.itertuples()
            ]
            t0 = time.perf_counter()
            for i in range(0, len(records), batch_rows):
                r = client.post("/api/incidents/batch", json=records[i : i + batch_rows])
                if r.status_code != 200:
                    raise SystemExit(f"batch failed: {r.status_code} {r.text[:500]}")
            return len(records) / (time.perf_counter() - t0)
    finally:
        server.terminate()
        server.wait(30)


def admin_token(url: str) -> str | None:
    """An admin token from ``gridpatrol token create`` when the release has tokens."""
    exe = Path(sys.executable).with_name("gridpatrol")
    try:
        out = subprocess.run(
            [str(exe), "token", "create", "--role", "admin", "--db", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except OSError:
        return None
    if out.returncode != 0:
        return None
    lines = [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 rows")
    ap.add_argument("--batch-rows", type=int, default=10_000, help="rows per batch request")
    ap.add_argument("--batch-total", type=int, default=None, help="rows sent as batches")
    ap.add_argument("--keep", type=Path, default=None, help="keep the stores in this folder")
    ap.add_argument("--postgis", default=None, help="also import into PostGIS at this URL")
    args = ap.parse_args()
    n = 100_000 if args.quick else args.rows
    n_batch = min(n, 100_000) if args.batch_total is None else args.batch_total

    from gridpatrol.store.base import open_store

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        csv = folder / "incidents.csv"
        make_rows(n).to_csv(csv, index=False)
        url = f"sqlite:///{folder / 'ingest.db'}"
        make_project(url)
        seconds, rss, log = run_import(csv, url)
        with open_store(url) as store:
            stored = store.count("incidents")
        if stored != n:
            raise SystemExit(f"stored {stored} of {n} rows:\n{log}")

        figures = {}
        if args.postgis:
            figures.update(run_postgis(csv, args.postgis, n))

        batch_rate = None
        if n_batch:
            url2 = f"sqlite:///{folder / 'batch.db'}"
            make_project(url2)
            batch_rate = run_batches(url2, make_rows(n_batch, seed=2, prefix="q"), args.batch_rows)
            with open_store(url2) as store:
                if store.count("incidents") != n_batch:
                    raise SystemExit("the batch endpoint lost rows")

    print(f"import: {n:,} rows in {seconds:.1f} s = {n / seconds:,.0f} rows/s, peak {rss:.0f} MB")
    if batch_rate is not None:
        print(f"batch endpoint: {batch_rate:,.0f} rows/s ({args.batch_rows:,} rows per request)")
    if figures:
        print(
            f"PostGIS import: {figures['postgis_rows_per_s']:,} rows/s, "
            f"peak {figures['postgis_peak_rss_mb']:.0f} MB"
        )
    print(
        json.dumps(
            {
                "rows": n,
                "seconds": round(seconds, 2),
                "rows_per_s": round(n / seconds),
                "peak_rss_mb": round(rss, 1),
                "batch_rows_per_s": None if batch_rate is None else round(batch_rate),
                **figures,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
