"""Benchmark: patrol plans a volunteer team can walk, at city scale (issue 14).

Plans k = 2, 5, 10 balanced patrols on real walk networks read by the product's own OSM
ingest (``store.osm.read_osm``):

* North Bayreuth (``../shared/data/osm_extra``): the whole network (its main connected
  part) within 30 s, and the streets within 600 m and 2,400 m of its centre within 10 s;
* San Francisco's Mission-Bayview streets (``../shared/data/sf``, a streets-only extract
  read by osmnx, as the product's ingest wants buildings) within 10 s, with the streets
  nearest to the SFPD incidents of 2012H2 as hot spots (a dwell on each).

Each instance is timed from the solver's set-up to the returned plan.  The k-route plan
(before it is cut into shifts) gives the ratio of its longest route to the solver's lower
bound; each route is then cut into depot-to-depot shifts of at most 90 minutes at
4.5 km/h (one shift per team per day, so a team's cycle lasts as many days as it has
shifts), and the field measures are computed here from the returned walks, without
trusting the solver:

* ``shift_minutes_max``, ``shift_overrun_count``: longest shift, shifts over 90 minutes;
* ``interleave_share_max``: share of a team's walked length inside the convex hull of
  another team's served streets (``gridpatrol.geo.patrol.interleave``);
* ``uturns_per_km_max``: turning back on the street just walked, where the turning node
  is not a dead end;
* ``cycle_days_max``: days until a team has walked all its streets;
* ``covered_share_min``: share of the reachable streets served within the cycle;
* ``beyond_shift_count``: streets too far from the station to walk there and back within
  a shift (reported by the solver, not served; counted here, not as overruns);
* ``n_streets_max``: largest number of streets planned in an instance (those of the
  station's connected network; the others are reported unreachable).

The last printed line is one JSON object with those keys plus ``seconds_max`` and
``ratio_to_lb_max``.  Without ``../shared`` the script prints a note and a JSON line
with ``"skipped": true``.

Usage::

    python bench/field_patrols.py [--quick] [--shared PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from gridpatrol.geo.network import edges_in_area, main_component, nearest_edges, nearest_node
from gridpatrol.geo.patrol import MinMaxRoutes
from gridpatrol.geo.patrol.interleave import interleave_shares

SPEED_M_PER_MIN = 4.5 * 1000.0 / 60.0
SHIFT_MINUTES = 90.0
DWELL_MINUTES = 5.0
KEYS = (
    "seconds_max",
    "ratio_to_lb_max",
    "shift_minutes_max",
    "shift_overrun_count",
    "interleave_share_max",
    "uturns_per_km_max",
    "cycle_days_max",
    "covered_share_min",
    "n_streets_max",
    "beyond_shift_count",
)


def load_walk_graph(path: Path):
    """The walk network of an OSM extract, read by the product's ingest, projected."""
    import osmnx as ox

    from gridpatrol.geo.network import graph_from_layers
    from gridpatrol.store.osm import read_osm

    nodes, edges = read_osm(path).networks["walk"]
    return ox.project_graph(graph_from_layers(nodes, edges))


def load_street_graph(path: Path):
    """A streets-only extract (no buildings, which the product's ingest requires), read
    by osmnx directly as an undirected walk network, projected."""
    import bz2
    import tempfile

    import osmnx as ox

    with tempfile.NamedTemporaryFile(suffix=".osm") as tmp:
        tmp.write(bz2.decompress(path.read_bytes()))
        tmp.flush()
        G = ox.graph_from_xml(tmp.name, bidirectional=True, retain_all=False)
    return ox.project_graph(G)


def centre(G) -> tuple[float, float]:
    xy = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)])
    return float(np.median(xy[:, 0])), float(np.median(xy[:, 1]))


def field_measures(G, plan, shift_plan) -> dict:
    """Measures of one k-route plan and its cut into shifts (see the module docstring)."""
    U = G.to_undirected(as_view=True)
    degree = {n: len(set(U[n])) for n in G.nodes}
    uturns, km = [], []
    for r in plan.routes:
        n = r.nodes
        turns = sum(1 for i in range(1, len(n) - 1) if n[i - 1] == n[i + 1] and degree[n[i]] > 1)
        uturns.append(turns)
        km.append(max(r.cost - 0.0, 1e-9) / 1000.0)
    inter = interleave_shares(G, plan)
    shift_minutes = [r.cost / SPEED_M_PER_MIN for r in shift_plan.routes]
    per_team = {}
    for r in shift_plan.routes:
        per_team[r.team] = per_team.get(r.team, 0) + 1
    return {
        "interleave_share_max": max(inter),
        "uturns_per_km_max": max(u / k for u, k in zip(uturns, km, strict=True)),
        "shift_minutes_max": max(shift_minutes),
        "shift_overrun_count": sum(m > SHIFT_MINUTES + 1e-6 for m in shift_minutes),
        "cycle_days_max": max(per_team.values()),
        "covered_share_min": shift_plan.coverage,
        "beyond_shift_count": len(shift_plan.beyond_shift),
    }


def run_instance(G, label, required, k, *, budget, service=None, seed=0, territories=False) -> dict:
    x, y = centre(G)
    depot = nearest_node(G, x, y, among=main_component(G, required))
    t0 = time.perf_counter()
    solver = MinMaxRoutes.from_graph(G, depot=depot, k=k, required=required, service=service)
    left = budget - (time.perf_counter() - t0)
    plan = solver.solve(seed=seed, time_limit=max(1.0, left), territories=territories)
    seconds = time.perf_counter() - t0
    # the same routes cut into shifts: a depot-to-depot sortie per day, the hot spots
    # (priority streets, hottest first) in every sortie
    t1 = time.perf_counter()
    shifts = solver.cut_into_shifts(
        plan, shift=SHIFT_MINUTES * SPEED_M_PER_MIN, every_shift=list(service or {})
    )
    cut_seconds = time.perf_counter() - t1
    out = {
        "instance": label,
        "k": k,
        "n_streets": len({e for r in plan.routes for e in r.served}),
        "n_unreachable": len(plan.unreachable),
        "seconds": round(seconds, 2),
        "cut_seconds": round(cut_seconds, 2),
        "ratio_to_lb": round(plan.longest / plan.lower_bound, 4) if plan.lower_bound else 1.0,
        "iterations": plan.iterations,
        "stopped_by": plan.stopped_by,
        "territories": territories,
    }
    out.update({key: round(float(v), 4) for key, v in field_measures(G, plan, shifts).items()})
    print(json.dumps(out), flush=True)
    return out


def sf_hot_spots(G, required, csv_path: Path, *, top: int = 40) -> dict:
    """Dwell service on the ``top`` streets nearest to the most incidents."""
    import pyproj

    inc = pd.read_csv(csv_path, usecols=["lon", "lat"]).dropna()
    tr = pyproj.Transformer.from_crs("EPSG:4326", G.graph["crs"], always_xy=True)
    x, y = tr.transform(inc["lon"].to_numpy(), inc["lat"].to_numpy())
    nodes = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)])
    box = (nodes[:, 0].min(), nodes[:, 1].min(), nodes[:, 0].max(), nodes[:, 1].max())
    keep = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    hits = pd.Series(nearest_edges(G, x[keep], y[keep], candidates=required)).value_counts()
    return {e: DWELL_MINUTES * SPEED_M_PER_MIN for e in hits.index[:top]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="600 m area, k = 2 and 5 only")
    ap.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared"
    )
    ap.add_argument(
        "--territories",
        action="store_true",
        help="network territories first, then one route inside each (no interleaving)",
    )
    a = ap.parse_args()
    bayreuth = a.shared / "data" / "osm_extra" / "north-bayreuth.osm.bz2"
    sf_osm = a.shared / "data" / "sf" / "sf_mission_bayview_streets_2014.osm.bz2"
    sf_csv = a.shared / "data" / "sf" / "sfpd_incidents_2012H2.csv"
    if not (bayreuth.exists() and sf_osm.exists() and sf_csv.exists()):
        print(f"skipped: {a.shared} has no North Bayreuth / SF data", file=sys.stderr)
        print(json.dumps({"skipped": True}))
        return
    ks = (2, 5) if a.quick else (2, 5, 10)
    results = []
    G = load_walk_graph(bayreuth)
    x, y = centre(G)
    every = [tuple(e) for e in G.edges(keys=True)]
    areas = [("bayreuth-600m", 600.0, 10.0)]
    if not a.quick:
        areas = [("bayreuth-whole", None, 30.0), *areas, ("bayreuth-2400m", 2400.0, 10.0)]
    for label, radius, budget in areas:
        req = every if radius is None else edges_in_area(G, shapely.Point(x, y).buffer(radius))
        for k in ks:
            results.append(run_instance(G, label, req, k, budget=budget, territories=a.territories))
    if not a.quick:
        G = load_street_graph(sf_osm)
        req = [tuple(e) for e in G.edges(keys=True)]
        service = sf_hot_spots(G, req, sf_csv)
        for k in ks:
            results.append(
                run_instance(
                    G,
                    "sf-mission-bayview",
                    req,
                    k,
                    budget=10.0,
                    service=service,
                    territories=a.territories,
                )
            )
    summary = {
        "seconds_max": max(r["seconds"] for r in results),
        "ratio_to_lb_max": max(r["ratio_to_lb"] for r in results),
        "shift_minutes_max": max(r["shift_minutes_max"] for r in results),
        "shift_overrun_count": sum(r["shift_overrun_count"] for r in results),
        "interleave_share_max": max(r["interleave_share_max"] for r in results),
        "uturns_per_km_max": max(r["uturns_per_km_max"] for r in results),
        "cycle_days_max": max(r["cycle_days_max"] for r in results),
        "covered_share_min": min(r["covered_share_min"] for r in results),
        "n_streets_max": max(r["n_streets"] for r in results),
        "beyond_shift_count": sum(r["beyond_shift_count"] for r in results),
    }
    assert tuple(summary) == KEYS
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
