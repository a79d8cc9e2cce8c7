"""Benchmark: another client's write while 2,000 overdue incidents are escalated.

Claim (issue 11 §2, "Done when"): with 2,000 overdue incidents being escalated, a write
from another client answers in under 1 s, and the escalation never holds the write lock
for more than ~100 ms at a time.

Builds a project (four grids over central Helsinki, made here) in a store, reports N
incidents three days ago so every one is overdue, serves the real app with uvicorn in a
thread, and measures over HTTP with an admin token:

* ``write_alone_ms``: a ``comment`` action on another incident, with nothing else running;
* ``write_during_ms``: the same action, repeated while ``POST /api/incidents/escalate``
  escalates the N incidents;
* ``escalate_s``: how long that escalation took.

Then, on a second copy of the project and without the server, the escalation runs
in-process with each outermost transaction timed from BEGIN to COMMIT:
``lock_hold_ms_max`` is the longest the write lock was held.

Usage::

    python bench/escalation.py                       # embedded store, 2,000 incidents
    python bench/escalation.py --n 500               # quicker
    python bench/escalation.py --store postgresql://postgres@127.0.0.1:5432/test

The last line printed is one JSON object: ``store``, ``overdue``, ``escalate_s``,
``write_alone_ms_median``, ``write_during_ms_median``, ``write_during_ms_max``,
``writes_during``, ``lock_hold_ms_max``, ``lock_hold_ms_median``, ``chunks``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.services import incidents as inc
from gridpatrol.services.tokens import create_token_at
from gridpatrol.store.base import open_store

BOUNDS = (24.92, 60.16, 24.96, 60.18)


def build(url: str, n: int) -> None:
    """Four grids, active version 1, and n incidents reported three days ago."""
    minx, miny, maxx, maxy = BOUNDS
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    boxes = [
        shapely.box(minx, my, mx, maxy),
        shapely.box(mx, my, maxx, maxy),
        shapely.box(minx, miny, mx, my),
        shapely.box(mx, miny, maxx, my),
    ]
    grids = gpd.GeoDataFrame(
        {
            "version": 1,
            "code": [f"091001001001{i:03d}" for i in range(1, 5)],
            "name": [f"Q{i}" for i in range(1, 5)],
            "parent_code": "091001001001",
        },
        geometry=boxes,
        crs=4326,
    )
    rng = np.random.default_rng(0)
    long_ago = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=3)).isoformat()
    rows = pd.DataFrame(
        {
            "incident_id": [f"late{i}" for i in range(n)],
            "reported_at": long_ago,
            "category": "sanitation",
            "lon": rng.uniform(minx + 1e-3, maxx - 1e-3, n),
            "lat": rng.uniform(miny + 1e-3, maxy - 1e-3, n),
        }
    )
    with open_store(url) as s:
        s.write(
            {
                "grids": grids,
                "grid_versions": pd.DataFrame(
                    {
                        "version": [1],
                        "name": ["v1"],
                        "status": ["active"],
                        "revision": [1],
                        "created_at": [pd.Timestamp.now(tz="UTC")],
                        "note": [""],
                    }
                ),
            }
        )
        s.set_setting("bounds", list(BOUNDS))
        s.set_setting("active_grid_version", 1)
        inc.ingest_incidents(s, rows)
        now = pd.Timestamp.now(tz="UTC").isoformat()
        inc.ingest_incidents(s, rows.iloc[:1].assign(incident_id="other", reported_at=now))


@contextlib.contextmanager
def serve(app):
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def over_http(url: str) -> dict:
    token = create_token_at(url, role="admin", name="bench", actor="bench")
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    with (
        serve(app) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600
        ) as client,
    ):

        def write(i: int) -> float:
            t0 = time.perf_counter()
            r = client.post(
                "/api/incidents/other/actions", json={"action": "comment", "actor": f"c{i}"}
            )
            r.raise_for_status()
            return time.perf_counter() - t0

        alone = [write(i) for i in range(10)]
        out: dict = {}

        def escalate():
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600
            ) as c2:
                t0 = time.perf_counter()
                r = c2.post("/api/incidents/escalate")
                r.raise_for_status()
                out["escalated"] = len(r.json())
                out["escalate_s"] = time.perf_counter() - t0

        worker = threading.Thread(target=escalate)
        worker.start()
        time.sleep(0.3)
        during, i = [], 100
        while worker.is_alive():
            during.append(write(i))
            i += 1
            time.sleep(0.05)
        worker.join()
    return {
        "escalated": out["escalated"],
        "escalate_s": round(out["escalate_s"], 2),
        "write_alone_ms_median": round(float(np.median(alone)) * 1000),
        "write_during_ms_median": round(float(np.median(during)) * 1000) if during else None,
        "write_during_ms_max": round(max(during) * 1000) if during else None,
        "writes_during": len(during),
    }


def lock_holds(url: str) -> list[float]:
    """Escalate in-process, timing each outermost transaction from BEGIN to COMMIT."""
    holds: list[float] = []
    with open_store(url) as s:
        begin, commit = s._begin, s._commit
        started = [0.0]

        def timed_begin():
            begin()
            started[0] = time.perf_counter()

        def timed_commit():
            commit()
            holds.append(time.perf_counter() - started[0])

        s._begin, s._commit = timed_begin, timed_commit
        inc.escalate_overdue(s)
    return holds


def store_url(base: str | None, folder: Path) -> str:
    if base is None:
        return f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}schema=bench_{uuid.uuid4().hex[:10]}"


def drop(url: str) -> None:
    if url.startswith("postgresql"):
        with open_store(url) as s:
            s.drop_schema()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="overdue incidents")
    parser.add_argument("--store", default=None, help="PostGIS URL (default: embedded)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first, second = store_url(args.store, Path(tmp)), store_url(args.store, Path(tmp))
        try:
            build(first, args.n)
            http = over_http(first)
            print(f"over HTTP: {http}")
            build(second, args.n)
            holds = lock_holds(second)
        finally:
            drop(first)
            drop(second)
    result = {
        "store": "postgis" if args.store else "embedded",
        "overdue": args.n,
        **http,
        "lock_hold_ms_max": round(max(holds) * 1000, 1),
        "lock_hold_ms_median": round(float(np.median(holds)) * 1000, 1),
        "chunks": len(holds),
    }
    result.pop("escalated")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
