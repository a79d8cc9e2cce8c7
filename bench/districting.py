"""Benchmark: balanced grid proposals vs a k-means baseline.

Claim: ``GridProposer`` splits every community of a synthetic 50,000-building city into
contiguous grids that cover it exactly, never split a building, and put >= 90% of the
grids in the 300-500 household band, within 60 s. The baseline (k-means on building
centroids, Voronoi cells of the centres clipped to the community, same number of grids
per community) is scored by the same :func:`proposal_metrics`, which measures everything
from the output geometry and trusts nothing the solver says.

Also runs the real North Bayreuth OSM extract from ``../shared`` when it is there
(``--shared`` to point elsewhere); skipped with a message otherwise.

Usage::

    python bench/districting.py            # 50,000 buildings + Bayreuth
    python bench/districting.py --quick    # ~3,000 buildings, < 30 s

The last line printed is one JSON object with keys ``ours``, ``baseline`` and, when the
shared data is present, ``bayreuth`` (and ``bayreuth_baseline``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_city import make_city  # noqa: E402

from gridpatrol.geo.districting import GridProposer, proposal_metrics  # noqa: E402
from gridpatrol.geo.grid_report import validate_grids  # noqa: E402

KEYS = (
    "seconds",
    "n_buildings",
    "n_grids",
    "share_in_band",
    "balance_index",
    "split_buildings",
    "gaps_m2",
    "overlaps_m2",
    "noncontiguous",
    "mean_polsby_popper",
    "street_share",
)
MAJOR_ROADS = {"motorway", "trunk", "primary", "secondary", "tertiary"}


def _kmeans(xy: np.ndarray, k: int, seed: int) -> np.ndarray:
    try:
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=1, random_state=seed).fit(xy).cluster_centers_
    except ImportError:  # pragma: no cover - scipy fallback
        from scipy.cluster.vq import kmeans2

        return kmeans2(xy, k, seed=seed, minit="++")[0]


def baseline(
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    k_per: dict,
    *,
    code: str = "code",
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """k-means on building centroids, Voronoi cells of the centres clipped per community."""
    rep = shapely.point_on_surface(buildings.geometry.values)
    rows = []
    for c_code, poly in zip(communities[code], communities.geometry, strict=True):
        inside = shapely.contains(poly, rep)
        xy = shapely.get_coordinates(rep[inside])
        k = max(1, min(int(k_per.get(c_code, 1)), len(xy)))
        if k == 1 or len(xy) < 2:
            rows.append((c_code, poly))
            continue
        centres = _kmeans(xy, k, seed)
        cells = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(centres), extend_to=poly)
        )
        for cell in shapely.intersection(cells, poly):
            if not shapely.is_empty(cell):
                rows.append((c_code, cell))
    return gpd.GeoDataFrame(
        {"parent_code": [r[0] for r in rows]}, geometry=[r[1] for r in rows], crs=communities.crs
    )


def _summary(m: dict, seconds: float, n_buildings: int) -> dict:
    out = {"seconds": round(seconds, 2), "n_buildings": int(n_buildings)}
    for k in KEYS[2:]:
        if k in m:
            v = m[k]
            out[k] = round(float(v), 4) if isinstance(v, float) else v
    return out


def run_case(communities, buildings, streets, *, seed: int, label: str, jobs: int):
    t0 = time.perf_counter()
    gp = GridProposer.from_geodataframes(communities, buildings, streets=streets, n_jobs=jobs)
    prop = gp.solve(seed=seed)[0]
    secs = time.perf_counter() - t0
    # verify from geometry, independently of the solver's own metrics
    m = proposal_metrics(prop.grids, communities, buildings, streets=streets)
    ours = _summary(m, secs, len(buildings))
    print(f"[{label}] ours: {ours}", flush=True)
    # second opinion: the project's own grid validator (geo.grid_report), tours off
    t0 = time.perf_counter()
    rep = validate_grids(prop.grids, communities=communities, buildings=buildings, walk_tours=False)
    found = {k: v for k, v in rep.summary["problems_by_kind"].items() if v}
    ours["validate_grids_problems"] = found
    print(
        f"[{label}] validate_grids: problems {found or 'none'}, share_in_band "
        f"{rep.summary['share_in_band']:.4f} ({time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    k_per = prop.grids.groupby("parent_code").size().to_dict()
    t0 = time.perf_counter()
    base = baseline(communities, buildings, k_per, seed=seed)
    bsecs = time.perf_counter() - t0
    mb = proposal_metrics(base, communities, buildings, streets=streets)
    base_s = _summary(mb, bsecs, len(buildings))
    print(f"[{label}] baseline: {base_s}", flush=True)
    return ours, base_s, prop


def load_bayreuth(path: Path):
    """Buildings, streets and communities for the North Bayreuth OSM extract, read by the
    project's own OSM ingest (households estimated by its documented rule)."""
    from gridpatrol.geo.crs import project
    from gridpatrol.store.osm import read_osm

    data = read_osm(path)
    buildings = project(data.buildings)
    crs = buildings.crs
    buildings = buildings[["households", "geometry"]].reset_index(drop=True)
    edges = data.networks["walk"][1].to_crs(crs)
    streets = edges[["geometry"]].reset_index(drop=True)
    major = edges["highway"].isin(MAJOR_ROADS)
    hull = shapely.buffer(shapely.convex_hull(shapely.union_all(buildings.geometry.values)), 20.0)
    community = split_along_roads(hull, edges.geometry.values[major.to_numpy()], buildings, crs)
    return community, buildings, streets


def split_along_roads(area, roads, buildings, crs, *, min_households: int = 600):
    """Communities: ``area`` cut by major roads, faces lighter than ``min_households``
    merged into the neighbour they share most boundary with."""
    lines = shapely.intersection(roads, area)
    lines = np.concatenate(
        [shapely.get_parts(lines[~shapely.is_empty(lines)]), [shapely.boundary(area)]]
    )
    lines = lines[np.isin(shapely.get_type_id(lines), (1, 2))]
    faces = list(
        shapely.get_parts(
            shapely.polygonize(shapely.get_parts(shapely.node(shapely.multilinestrings(lines))))
        )
    )
    rep = shapely.point_on_surface(buildings.geometry.values)
    hh = buildings.households.to_numpy()

    def load(f):
        return hh[shapely.contains(f, rep)].sum()

    while len(faces) > 1:
        loads = [load(f) for f in faces]
        i = int(np.argmin(loads))
        if loads[i] >= min_households:
            break
        shared = [
            shapely.length(shapely.intersection(faces[i].boundary, g.boundary)) if j != i else -1
            for j, g in enumerate(faces)
        ]
        j = int(np.argmax(shared))
        if shared[j] <= 0:
            break  # an isolated light face stays a community of its own
        faces[j] = shapely.union(faces[j], faces[i])
        del faces[i]
    return gpd.GeoDataFrame(
        {"code": [f"BT{n + 1:03d}" for n in range(len(faces))]}, geometry=faces, crs=crs
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few thousand buildings")
    p.add_argument("--buildings", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared"
    )
    p.add_argument("--no-bayreuth", action="store_true")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    a = p.parse_args()
    n = a.buildings or (3_000 if a.quick else 50_000)

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    city = make_city(n, seed=a.seed)
    print(
        f"synthetic city: {len(city.buildings)} buildings, "
        f"{int(city.buildings.households.sum())} households, "
        f"{len(city.communities)} communities ({time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    ours, base, _ = run_case(
        city.communities, city.buildings, city.streets, seed=a.seed, label="synthetic", jobs=a.jobs
    )
    result = {
        "ours": ours,
        "baseline": base,
        "jobs": a.jobs,
        # other work on the machine slows everything down: say how busy it was
        "load_avg_1min_at_start": round(load0, 2),
    }

    osm = a.shared / "data" / "osm_extra" / "north-bayreuth.osm.bz2"
    if a.no_bayreuth or a.quick:
        print("skipping North Bayreuth (--quick / --no-bayreuth)", flush=True)
    elif not osm.exists():
        print(f"skipping North Bayreuth: {osm} not found (use --shared)", flush=True)
    else:
        t0 = time.perf_counter()
        community, buildings, streets = load_bayreuth(osm)
        print(
            f"North Bayreuth: {len(buildings)} buildings, "
            f"{int(buildings.households.sum())} households, {len(streets)} street edges, "
            f"{len(community)} communities split along major roads "
            f"(read in {time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        b_ours, b_base, _ = run_case(
            community, buildings, streets, seed=a.seed, label="bayreuth", jobs=a.jobs
        )
        result["bayreuth"] = b_ours
        result["bayreuth_baseline"] = b_base
    print(
        json.dumps(
            result, default=lambda o: o if not isinstance(o, float) or math.isfinite(o) else None
        )
    )


if __name__ == "__main__":
    main()
