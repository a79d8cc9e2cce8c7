"""Benchmark: seconds from launching ``gridpatrol serve`` to a 200 on ``/openapi.json``.

    python bench/startup.py              # 3 launches, median
    python bench/startup.py --repeat 5

Each launch runs the console script a user types (``gridpatrol serve --db URL --port P``)
against a fresh embedded store made beforehand (not timed), and polls
``GET /openapi.json`` every 10 ms from the moment the process is started. The floor is the
time of ``python -c "import fastapi"`` measured in the same run (a service built on
FastAPI cannot start faster), so ``ratio`` says how much of the time is ours whatever the
machine's load; ``startup_cpu_s`` (the CPU time the server used until it answered, next
to ``floor_cpu_s``) is what the launch costs on a quiet machine. ``idle_rss_mb`` is the
server's resident memory right after its first answer. One more launch runs under
``python -X importtime``, and ``heavy_modules_at_start`` lists the heavy packages (pandas,
geopandas, shapely, ...) the server had imported by its first answer: they should load on
first use, not at start.
The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HEAVY = (
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "folium",
    "branca",
    "scipy",
    "networkx",
    "numpy",
    "pyogrio",
    "pyarrow",
    "osmnx",
    "sklearn",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_store(url: str) -> None:
    """A fresh embedded store (its tables made), in a separate process."""
    code = f"from gridpatrol.store.base import open_store; open_store({url!r}).close()"
    subprocess.run([sys.executable, "-c", code], check=True)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` has used so far (``/proc/PID/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def launch(url: str, *, importtime_log: Path | None = None, timeout_s: float = 120.0):
    """Seconds to the first 200 on /openapi.json, RSS then and CPU seconds used by then."""
    port = free_port()
    exe = Path(sys.executable).with_name("gridpatrol")
    cmd = [str(exe), "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port)]
    if importtime_log is not None:
        cmd = [sys.executable, "-X", "importtime", *cmd]
    stderr = open(importtime_log, "w") if importtime_log else subprocess.DEVNULL  # noqa: SIM115
    start = time.perf_counter()
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"gridpatrol serve exited with {server.returncode}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/openapi.json", timeout=5
                ) as answer:
                    if answer.status == 200:
                        answer.read()
                        seconds = time.perf_counter() - start
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.perf_counter() - start > timeout_s:
                raise SystemExit(f"no answer on /openapi.json within {timeout_s} s")
            time.sleep(0.01)
        memory, cpu = rss_mb(server.pid), cpu_s(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if importtime_log:
            stderr.close()
    return seconds, memory, cpu


def floor_s() -> tuple[float, float]:
    """Wall and CPU seconds of ``python -c "import fastapi"``."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", "import fastapi"])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"python -c 'import fastapi' exited with {child.returncode}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def heavy_in(importtime_log: Path) -> list[str]:
    """Heavy top-level packages named in a ``-X importtime`` log."""
    found = set()
    for line in importtime_log.read_text().splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name.split(".")[0] in HEAVY:
                found.add(name.split(".")[0])
    return sorted(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="launches to take the median of")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gp-startup-") as tmp:
        url = f"sqlite:///{tmp}/startup.db"
        make_store(url)
        launch(url)  # warm the file cache once, as a restarted service would find it
        runs, floors, rss, cpus, floor_cpus = [], [], [], [], []
        for _ in range(args.repeat):
            floor_wall, floor_cpu = floor_s()
            floors.append(floor_wall)
            floor_cpus.append(floor_cpu)
            seconds, memory, cpu = launch(url)
            runs.append(seconds)
            rss.append(memory)
            cpus.append(cpu)
            print(
                f"startup {seconds:.2f} s, {cpu} CPU s  (floor {floor_wall:.2f} s, "
                f"{floor_cpu:.2f} CPU s)  rss {memory} MB"
            )
        log = Path(tmp) / "importtime.log"
        launch(url, importtime_log=log)  # (its times are not counted: importtime slows it)
        heavy = heavy_in(log)
    startup, floor = statistics.median(runs), statistics.median(floors)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"load average {load}; heavy modules at start: {', '.join(heavy) or 'none'}")
    result = {
        "startup_s": round(startup, 2),
        "floor_s": round(floor, 2),
        "ratio": round(startup / floor, 2),
        # CPU seconds the server used until its first answer: close to the wall time on a
        # quiet machine (start-up is one thread), whatever the load while measuring
        "startup_cpu_s": round(statistics.median(cpus), 2) if all(cpus) else None,
        "floor_cpu_s": round(statistics.median(floor_cpus), 2),
        "idle_rss_mb": statistics.median(r for r in rss if r is not None) if any(rss) else None,
        "heavy_modules_at_start": heavy,
        "repeat": args.repeat,
        "load_avg": load,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
