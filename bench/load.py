"""Benchmark: the service under a steady load of incident reports, tile and page reads.

    python bench/load.py                       # embedded store, 200 posts/s for 60 s
    python bench/load.py --quick               # 10 s
    python bench/load.py --postgis postgresql://postgres@127.0.0.1:5432/test --workers 2

Starts ``gridpatrol serve`` on loopback against a fresh project (bench/ingest.py's 400
grids over Bao'an; the embedded store by default, a new schema of ``--postgis URL``
otherwise), makes an admin token with ``gridpatrol token create`` when the release has
tokens, and from a second process sends, open loop (each request at its scheduled time,
whether or not earlier ones have answered):

- ``POST /api/incidents`` at ``--rate`` per second, each a new incident id;
- ``GET /tiles/{grids,incidents-free layers}/z/x/y.pbf`` at ``--tile-rate`` per second
  over the tiles of the area at zoom 14-16 (each tile read once before the clock starts:
  the figures are for warm tiles);
- ``GET /maps/grids`` at ``--page-rate`` per second.

Then it counts the incidents the store holds. ``acknowledged`` are posts answered 200
with the id in ``created``; ``errors`` every other answer or transport failure of any
request. Latencies are client-side, from the scheduled send time (so a backlog counts).
The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import BOUNDS, admin_token, free_port, make_project  # noqa: E402

CATEGORIES = ["fire", "public_order", "sanitation", "traffic", "other"]


def tiles_for(bounds, zooms=(14, 15, 16), limit=400) -> list[tuple[int, int, int]]:
    """XYZ tiles covering ``bounds`` at ``zooms`` (at most ``limit`` per zoom)."""
    out = []
    w, s, e, n = bounds
    for z in zooms:
        k = 1 << z

        def tx(lon, k=k):
            return int((lon + 180) / 360 * k)

        def ty(lat, k=k):
            r = math.radians(lat)
            return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * k)

        tiles = [(z, x, y) for x in range(tx(w), tx(e) + 1) for y in range(ty(n), ty(s) + 1)]
        out += tiles[:limit]
    return out


def percentile(values, q) -> float | None:
    return round(float(np.percentile(values, q)), 1) if len(values) else None


async def _drive(base, headers, rate, tile_rate, page_rate, seconds, prefix, tiles, out):
    # aiohttp, not httpx: httpx's connection pool spends CPU per pending request and could
    # not hold 220 requests/s open loop on two shared cores.
    import aiohttp

    rng = np.random.default_rng(3)
    w, s, e, n = BOUNDS
    stats = {"sent": 0, "acknowledged": 0, "errors": 0, "post_ms": [], "tile_ms": [], "page_ms": []}
    error_samples: list[str] = []
    connector = aiohttp.TCPConnector(limit=500)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        base, headers=headers, connector=connector, timeout=timeout
    ) as client:
        loop = asyncio.get_running_loop()
        warm_start = loop.time()
        for z, x, y in tiles:  # warm the tiles once
            async with client.get(f"/tiles/grids/{z}/{x}/{y}.pbf") as r:
                await r.read()
        print(f"warmed {len(tiles)} tiles in {loop.time() - warm_start:.1f} s", flush=True)
        out.put("started")  # the parent measures the server's CPU from here

        async def post(i, at):
            iid = f"{prefix}{i:07d}"
            body = {
                "incident_id": iid,
                "reported_at": "2026-11-20T09:00:00+08:00",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "description": "load test",
                "location": {"lon": float(rng.uniform(w, e)), "lat": float(rng.uniform(s, n))},
            }
            stats["sent"] += 1
            text = ""
            try:
                async with client.post("/api/incidents", json=body) as r:
                    text = await r.text()
                    ok = r.status == 200 and iid in json.loads(text).get("created", [])
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                ok, text = False, repr(exc)
            stats["post_ms"].append((loop.time() - at) * 1000)
            if ok:
                stats["acknowledged"] += 1
            else:
                stats["errors"] += 1
                if len(error_samples) < 5:
                    error_samples.append(text[:200])

        async def get(path, at, key):
            try:
                async with client.get(path) as r:
                    await r.read()
                    ok, status = r.status in (200, 204, 304), r.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                ok, status = False, repr(exc)
            stats[key].append((loop.time() - at) * 1000)
            if not ok:
                stats["errors"] += 1
                if len(error_samples) < 5:
                    error_samples.append(f"{path}: {status}")

        # One schedule of (time, request), started each at its time: open loop.
        t0 = loop.time() + 0.5
        plan = [(t0 + i / rate, "post", i) for i in range(int(rate * seconds))]
        plan += [(t0 + i / tile_rate, "tile", i) for i in range(int(tile_rate * seconds))]
        plan += [(t0 + i / page_rate, "page", i) for i in range(int(page_rate * seconds))]
        plan.sort()
        tasks = []
        for at, kind, i in plan:
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "post":
                tasks.append(asyncio.create_task(post(i, at)))
            elif kind == "tile":
                z, x, y = tiles[i % len(tiles)]
                path = f"/tiles/grids/{z}/{x}/{y}.pbf"
                tasks.append(asyncio.create_task(get(path, at, "tile_ms")))
            else:
                tasks.append(asyncio.create_task(get("/maps/grids", at, "page_ms")))
        await asyncio.gather(*tasks)
    stats["error_samples"] = error_samples
    out.put(stats)


def server_cpu_s(pid: int) -> float:
    """CPU seconds used so far by the server, its workers and their helper processes."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def _client(*args) -> None:
    asyncio.run(_drive(*args))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postgis", metavar="URL", default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rate", type=float, default=200.0, help="incident posts per second")
    ap.add_argument("--tile-rate", type=float, default=20.0)
    ap.add_argument("--page-rate", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="10 s")
    args = ap.parse_args()
    seconds = 10.0 if args.quick else args.seconds

    from gridpatrol.store.base import open_store

    with tempfile.TemporaryDirectory() as tmp:
        if args.postgis:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            url = f"{args.postgis}{'&' if '?' in args.postgis else '?'}schema={schema}"
        else:
            url = f"sqlite:///{Path(tmp) / 'load.db'}"
        make_project(url)
        token = admin_token(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        port = free_port()
        exe = Path(sys.executable).with_name("gridpatrol")
        cmd = [str(exe), "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port)]
        if args.workers > 1:
            cmd += ["--workers", str(args.workers)]
        env = {**os.environ, "GRIDPATROL_ESCALATION_INTERVAL_S": "0"}
        log = open(Path(tmp) / "server.log", "w+")  # noqa: SIM115 - read after the run
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            import httpx

            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"the server stopped:\n{log.read()}")
                time.sleep(0.1)
            tiles = tiles_for(BOUNDS)
            prefix = f"L{uuid.uuid4().hex[:6]}-"
            queue = mp.get_context("spawn").Queue()
            client = mp.get_context("spawn").Process(
                target=_client,
                args=(
                    base,
                    headers,
                    args.rate,
                    args.tile_rate,
                    args.page_rate,
                    seconds,
                    prefix,
                    tiles,
                    queue,
                ),
            )
            client.start()
            assert queue.get() == "started"
            cpu0 = server_cpu_s(server.pid)
            stats = queue.get()
            cpu_s = server_cpu_s(server.pid) - cpu0
            load = os.getloadavg()[0]
            client.join()
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:  # still draining a backlog: stop it
                server.kill()
                server.wait(30)
        with open_store(url) as store:
            stored = store.count("incidents")
            if args.postgis:
                store.drop_schema()

    requests = stats["sent"] + len(stats["tile_ms"]) + len(stats["page_ms"])
    result = {
        "store": "postgis" if args.postgis else "embedded",
        "workers": args.workers,
        "rate_per_s": args.rate,
        "seconds": seconds,
        "sent": stats["sent"],
        "acknowledged": stats["acknowledged"],
        "stored": stored,
        "errors": stats["errors"],
        "p50_ms": percentile(stats["post_ms"], 50),
        "p99_ms": percentile(stats["post_ms"], 99),
        "tile_p99_ms": percentile(stats["tile_ms"], 99),
        "page_p99_ms": percentile(stats["page_ms"], 99),
        # Not goals, context: what each request cost the server (all its processes),
        # which the machine's load does not change much, and that load.
        "server_cpu_ms_per_request": round(1000 * cpu_s / max(1, requests), 2),
        "load_avg_1m": round(load, 2),
    }
    print(
        f"posts: {stats['sent']} sent, {stats['acknowledged']} acknowledged, {stored} stored; "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; tiles p99 "
        f"{result['tile_p99_ms']} ms; pages p99 {percentile(stats['page_ms'], 99)} ms; "
        f"auth: {'admin token' if token else 'none (no token command)'}"
    )
    for sample in stats["error_samples"]:
        print("  error:", sample)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
