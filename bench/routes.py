"""Benchmark of the min-max k-postman solver on the CARP instances of ../shared.

gdb, val and egl graphs are read as min-max k-Chinese-postman instances (capacity and
demand ignored, every required edge served, k closed walks from depot, objective the
longest walk) for k = 2..10, on the instances listed in
``computed/mmkcpp_computed.csv`` (all gdb, val ``-A``, and the egl graphs whose edges are
all required); the egl graphs with non-required edges are also solved as min-max
k-rural-postman instances (only ``LISTA_ARISTAS_REQ`` required, the others usable as
connectors) for k = 2..5, the instances of ``computed/mmkrpp_computed.csv``.

Every solution is verified here without trusting the solver: each route is a closed walk
from the depot over existing edges, its reported cost equals the recomputed one, and
every required edge is served.  The last printed line is one JSON object.

Usage::

    python bench/routes.py [--quick] [--shared PATH] [--time-limit SECONDS]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path

from gridpatrol.geo.patrol import MinMaxRoutes

EDGE_RE = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*coste\s+(\d+)")

QUICK = [  # (instance, kind, k): a spread of families and k, ~60 s in total
    ("gdb1", "cpp", 2),
    ("gdb1", "cpp", 5),
    ("gdb8", "cpp", 4),
    ("gdb13", "cpp", 7),
    ("gdb23", "cpp", 10),
    ("val1A", "cpp", 3),
    ("val5A", "cpp", 6),
    ("val10A", "cpp", 2),
    ("egl-e4-A", "cpp", 4),
    ("egl-e1-A", "rpp", 3),
    ("egl-s1-A", "rpp", 5),
]


def parse_instance(path: Path) -> tuple[list[tuple[int, int, int]], set[int], int]:
    """Edges ``(u, v, cost)``, positions of required edges, depot."""
    text = path.read_text(encoding="latin-1")
    req_part, _, noreq_part = text.partition("LISTA_ARISTAS_NOREQ")
    req = [(int(a), int(b), int(c)) for a, b, c in EDGE_RE.findall(req_part)]
    noreq = [(int(a), int(b), int(c)) for a, b, c in EDGE_RE.findall(noreq_part)]
    m = re.search(r"DEPOSITO\s*:\s*(\d+)", text)
    depot = int(m.group(1)) if m else 1
    return req + noreq, set(range(len(req))), depot


def family_path(carp: Path, name: str) -> Path:
    fam = "gdb" if name.startswith("gdb") else "val" if name.startswith("val") else "egl"
    return carp / fam / f"{name}.dat"


def verify(plan, edges, required, depot, k) -> list[str]:
    """Independent check of a plan; returns a list of problems (empty when valid)."""
    problems = []
    teams = {r.team for r in plan.routes}
    if len(plan.routes) != k or teams != set(range(k)):
        problems.append(f"expected {k} routes for teams 0..{k - 1}, got {sorted(teams)}")
    covered = set()
    for r in plan.routes:
        if not r.nodes or r.nodes[0] != depot or r.nodes[-1] != depot:
            problems.append(f"team {r.team}: walk does not start and end at depot")
        if len(r.edges) != len(r.nodes) - 1:
            problems.append(f"team {r.team}: {len(r.edges)} edges for {len(r.nodes)} nodes")
            continue
        cost = 0
        traversed = set()
        for i, (a, b, key) in enumerate(r.edges):
            if a != r.nodes[i] or b != r.nodes[i + 1]:
                problems.append(f"team {r.team}: edge {i} does not continue the walk")
                break
            if not (isinstance(key, int) and 0 <= key < len(edges)):
                problems.append(f"team {r.team}: edge key {key!r} unknown")
                break
            u, v, c = edges[key]
            if {a, b} != {u, v}:
                problems.append(f"team {r.team}: edge {key} is ({u},{v}), walk uses ({a},{b})")
                break
            cost += c
            traversed.add(key)
        if not math.isclose(cost, r.cost, rel_tol=1e-9, abs_tol=1e-6):
            problems.append(f"team {r.team}: reported cost {r.cost} != recomputed {cost}")
        for e in r.served:
            if e not in traversed:
                problems.append(f"team {r.team}: claims to serve edge {e} it never traverses")
        covered |= set(r.served) & traversed
    missing = required - covered
    if missing:
        problems.append(f"{len(missing)} required edges not served")
    if plan.unreachable:
        problems.append(f"{len(plan.unreachable)} edges reported unreachable (graph connected)")
    if plan.routes and not math.isclose(plan.longest, max(r.cost for r in plan.routes)):
        problems.append("plan.longest differs from the longest route")
    return problems


GOAL_SECONDS = 10.0  # wall clock per (instance, k): graph preparation + search + paths


def time_limit_for(n_required: int, quick: bool, base: float | None) -> float:
    """Solver time limit; the full run keeps 1.5 s of the 10 s goal for set-up and load.

    The solver stops its search at 90 % of the limit (the rest is for path expansion),
    and the bench measures preparation + search + expansion against ``GOAL_SECONDS``.
    """
    if base is not None:
        return base
    if quick:
        return 3.0 if n_required < 100 else 4.0
    # the solver keeps its time limit (search stops early enough to expand the routes):
    # use most of the 10 s budget, 1.5 s left for set-up and a loaded machine
    return 8.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared"
    )
    ap.add_argument("--quick", action="store_true", help="a subset, about 60 s")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="solver time limit per (instance, k); default scales with size",
    )
    ap.add_argument("--only", default=None, help="regex on instance names")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, nargs="*", default=None, help="only these numbers of teams")
    args = ap.parse_args(argv)

    carp = args.shared / "bench" / "carp"
    cpp_csv = carp / "computed" / "mmkcpp_computed.csv"
    rpp_csv = carp / "computed" / "mmkrpp_computed.csv"
    if not cpp_csv.exists():
        print(f"no benchmark data at {carp}; skipping (pass --shared PATH)")
        print(json.dumps({"skipped": True, "reason": f"{carp} not found", "pairs": 0}))
        return 0

    ref: dict[tuple[str, str, int], dict] = {}
    for kind, path in (("cpp", cpp_csv), ("rpp", rpp_csv)):
        if not path.exists():
            continue
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                k = int(row["k"])
                if kind == "rpp" and k > 5:
                    continue
                ref[(row["instance"], kind, k)] = row
    if args.quick:
        pairs = [p for p in QUICK if p in ref]
    else:
        pairs = sorted(ref, key=lambda p: (p[1], p[0], p[2]))
    if args.only:
        pairs = [p for p in pairs if re.search(args.only, p[0])]
    if args.k:
        pairs = [p for p in pairs if p[2] in args.k]

    print(
        f"{'instance':<10} {'kind':<4} {'k':>2} {'ours':>9} {'lb':>9} {'fhk':>9} "
        f"{'/lb':>6} {'/fhk':>6} {'sec':>5} {'iter':>5}  valid"
    )
    per_pair = []
    all_valid = True
    cache: dict[str, tuple] = {}
    t_all = time.perf_counter()
    for name, kind, k in pairs:
        if name not in cache:
            cache[name] = parse_instance(family_path(carp, name))
        edges, req, depot = cache[name]
        required = set(range(len(edges))) if kind == "cpp" else req
        row = ref[(name, kind, k)]
        lb = float(row["lb_simple"])
        fhk = float(row["fhk_ub"]) if row.get("fhk_ub") not in (None, "") else None
        tl = time_limit_for(len(required), args.quick, args.time_limit)
        t0 = time.perf_counter()
        solver = MinMaxRoutes.from_edges(edges, depot=depot, k=k, required=sorted(required))
        # the whole budget: no early stop after a run of iterations without improvement
        plan = solver.solve(seed=args.seed, time_limit=tl, max_stall=None)
        secs = time.perf_counter() - t0
        problems = verify(plan, edges, required, depot, k)
        valid = not problems
        all_valid &= valid
        ours = plan.longest
        r_lb = ours / lb
        r_fhk = ours / fhk if fhk else None
        print(
            f"{name:<10} {kind:<4} {k:>2} {ours:>9.0f} {lb:>9.0f} "
            f"{(f'{fhk:.0f}' if fhk else '-'):>9} {r_lb:>6.3f} "
            f"{(f'{r_fhk:.3f}' if r_fhk else '-'):>6} {secs:>5.1f} {plan.iterations:>5}  "
            f"{'ok' if valid else 'INVALID: ' + '; '.join(problems[:3])}",
            flush=True,
        )
        per_pair.append(
            {
                "instance": name,
                "kind": kind,
                "k": k,
                "ours": ours,
                "lb": lb,
                "fhk": fhk,
                "seconds": round(secs, 3),
                "valid": valid,
                "iterations": plan.iterations,
            }
        )

    def mean(xs):
        return round(statistics.fmean(xs), 4) if xs else None

    summary = {
        "pairs": len(per_pair),
        "all_valid": all_valid,
        "mean_ratio_to_lb": mean([p["ours"] / p["lb"] for p in per_pair]),
        "mean_ratio_to_lb_k2": mean([p["ours"] / p["lb"] for p in per_pair if p["k"] == 2]),
        "mean_ratio_to_lb_k2_cpp": mean(
            [p["ours"] / p["lb"] for p in per_pair if p["k"] == 2 and p["kind"] == "cpp"]
        ),
        "mean_ratio_to_fhk": mean([p["ours"] / p["fhk"] for p in per_pair if p["fhk"]]),
        "mean_ratio_to_fhk_k_ge_4": mean(
            [p["ours"] / p["fhk"] for p in per_pair if p["fhk"] and p["k"] >= 4]
        ),
        "max_seconds": max((p["seconds"] for p in per_pair), default=0.0),
        "goal_seconds": GOAL_SECONDS,
        "pairs_over_goal": [
            f"{p['instance']} {p['kind']} k={p['k']}"
            for p in per_pair
            if p["seconds"] > GOAL_SECONDS
        ],
        "total_seconds": round(time.perf_counter() - t_all, 1),
        "per_pair": per_pair,
    }
    print(json.dumps(summary))
    return 0 if all_valid else 1


if __name__ == "__main__":
    sys.exit(main())
