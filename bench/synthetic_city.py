"""Seeded synthetic city for the districting benchmark.

A jittered street grid (every street a LineString through jittered nodes, a few street
segments dropped so that some blocks merge), street blocks set back from the centrelines,
rectangular and L-shaped footprints with floors, a few large apartment slabs with many
households, and communities made of rectangular groups of blocks whose boundaries run
along street centrelines. Everything is in UTM zone 50N (EPSG:32650, Shenzhen area).

Households per building: ``max(1, round(area * floors / 90))`` (90 m2 per household).

Usage: ``python bench/synthetic_city.py --buildings 50000`` prints a summary.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

CRS = "EPSG:32650"
ORIGIN = (500_000.0, 2_500_000.0)
M2_PER_HOUSEHOLD = 90.0


@dataclass
class SyntheticCity:
    """Layers of a synthetic city, all in :data:`CRS`."""

    communities: gpd.GeoDataFrame  # code, geometry
    buildings: gpd.GeoDataFrame  # floors, households, workload, geometry
    streets: gpd.GeoDataFrame  # geometry (LineString)


def make_city(
    n_buildings: int = 50_000,
    *,
    seed: int = 0,
    block_size: float = 110.0,
    blocks_per_community: int = 7,
) -> SyntheticCity:
    """Build a synthetic city with roughly ``n_buildings`` buildings.

    Parameters
    ----------
    n_buildings
        Approximate number of buildings wanted.
    seed
        Seed of the random generator; the same seed gives the same city.
    block_size
        Mean distance between parallel street centrelines, in metres.
    blocks_per_community
        Communities are squares of about this many blocks on a side.

    Returns
    -------
    SyntheticCity
    """
    rng = np.random.default_rng(seed)
    per_block = 20.8  # measured mean buildings per block with the defaults below
    n_blocks = max(4, n_buildings / per_block)
    nb = max(2, int(round(math.sqrt(n_blocks))))  # blocks per side
    # street nodes: (nb+1) x (nb+1), jittered
    xs = ORIGIN[0] + np.arange(nb + 1) * block_size
    ys = ORIGIN[1] + np.arange(nb + 1) * block_size
    jit = block_size * 0.08
    nx = xs[None, :] + rng.uniform(-jit, jit, (nb + 1, nb + 1))
    ny = ys[:, None] + rng.uniform(-jit, jit, (nb + 1, nb + 1))
    # keep the outer frame straight-ish so the city is a clean quadrilateral
    nx[:, 0], nx[:, -1] = xs[0], xs[-1]
    ny[0, :], ny[-1, :] = ys[0], ys[-1]
    node = np.stack([nx, ny], axis=-1)  # [row j, col i] -> (x, y)

    # community boundaries every `blocks_per_community` blocks
    cb = blocks_per_community
    cuts = list(range(0, nb, cb)) + [nb]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < cb // 2:
        cuts.pop(-2)

    # streets: horizontal segments (row j, i -> i+1), vertical segments (col i, j -> j+1);
    # drop a few interior segments (not on community boundaries) so some blocks merge
    segs = []
    for j in range(nb + 1):
        for i in range(nb):
            boundary = j in cuts
            if not boundary and rng.random() < 0.06:
                continue
            segs.append((node[j, i], node[j, i + 1]))
    for i in range(nb + 1):
        for j in range(nb):
            boundary = i in cuts
            if not boundary and rng.random() < 0.06:
                continue
            segs.append((node[j, i], node[j + 1, i]))
    seg_arr = np.array(segs)
    streets = shapely.linestrings(seg_arr)
    # merge collinear segments into longer street lines (like real street data)
    streets = shapely.get_parts(shapely.line_merge(shapely.union_all(streets)))

    # blocks: quads between centrelines, set back by half a street width + front yard
    quads = []
    for j in range(nb):
        for i in range(nb):
            quads.append([node[j, i], node[j, i + 1], node[j + 1, i + 1], node[j + 1, i]])
    quads = shapely.polygons(np.array(quads))
    setback = rng.uniform(7.0, 11.0, len(quads))
    inner = shapely.buffer(quads, -setback, join_style="mitre")

    # buildings per block
    geoms: list[np.ndarray] = []
    floors: list[np.ndarray] = []
    for blk in inner:
        if shapely.is_empty(blk):
            continue
        x0, y0, x1, y1 = shapely.bounds(blk)
        kind = rng.random()
        if kind < 0.04:  # apartment slabs
            w, d, gap = rng.uniform(45, 75), rng.uniform(12, 16), rng.uniform(18, 30)
            gx = np.arange(x0 + 2, x1 - w, w + 8)
            gy = np.arange(y0 + 2, y1 - d, d + gap)
            if len(gx) == 0 or len(gy) == 0:
                continue
            X, Y = np.meshgrid(gx, gy)
            bx = shapely.box(X.ravel(), Y.ravel(), X.ravel() + w, Y.ravel() + d)
            f = rng.integers(12, 41, len(bx))
        else:
            cw, cd = rng.uniform(13, 22), rng.uniform(12, 20)
            gx = np.arange(x0 + 1, x1 - 6, cw)
            gy = np.arange(y0 + 1, y1 - 6, cd)
            if len(gx) == 0 or len(gy) == 0:
                continue
            X, Y = np.meshgrid(gx, gy)
            X, Y = X.ravel(), Y.ravel()
            n = len(X)
            w = rng.uniform(0.55, 0.85, n) * cw
            d = rng.uniform(0.5, 0.8, n) * cd
            ox = rng.uniform(0, 1, n) * (cw - w - 1.5)
            oy = rng.uniform(0, 1, n) * (cd - d - 1.5)
            bx = shapely.box(X + ox, Y + oy, X + ox + w, Y + oy + d)
            # L-shapes: add a wing on about a quarter of them
            lmask = rng.random(n) < 0.25
            if lmask.any():
                wx = X + ox + w * rng.uniform(0.0, 0.4, n)
                wing = shapely.box(
                    wx, Y + oy + d * 0.9, wx + w * 0.45, np.minimum(Y + cd - 1.0, Y + oy + d * 1.5)
                )
                good = lmask & (Y + oy + d * 1.5 > Y + oy + d * 0.9 + 2)
                bx[good] = shapely.union(bx[good], wing[good])
            keep = rng.random(n) > 0.12  # open space
            bx = bx[keep]
            f = np.where(
                rng.random(len(bx)) < 0.7, rng.integers(2, 7, len(bx)), rng.integers(1, 3, len(bx))
            )
        # small rotation about the block centre keeps things from looking like a raster
        ang = rng.uniform(-4, 4)
        c = shapely.centroid(blk)
        bx = np.array([_rotate(g, ang, c) for g in bx], dtype=object) if ang else bx
        ok = shapely.contains(blk, bx)
        geoms.append(bx[ok])
        floors.append(np.asarray(f)[ok])
    bgeom = np.concatenate(geoms)
    bfloors = np.concatenate(floors)
    area = shapely.area(bgeom)
    hh = np.maximum(1, np.round(area * bfloors / M2_PER_HOUSEHOLD)).astype(int)
    # workload: households plus a little for shops on the ground floor of some buildings
    workload = hh + np.where(rng.random(len(hh)) < 0.1, rng.integers(5, 30, len(hh)), 0)
    buildings = gpd.GeoDataFrame(
        {"floors": bfloors, "households": hh, "workload": workload.astype(float)},
        geometry=bgeom,
        crs=CRS,
    )

    # communities: groups of quads between cuts (boundaries on centrelines)
    qidx = np.arange(nb * nb).reshape(nb, nb)
    comm_geoms, codes = [], []
    n = 0
    for a in range(len(cuts) - 1):
        for b in range(len(cuts) - 1):
            sel = qidx[cuts[a] : cuts[a + 1], cuts[b] : cuts[b + 1]].ravel()
            comm_geoms.append(shapely.coverage_union_all(quads[sel]))
            n += 1
            codes.append(f"440300{n:03d}")
    communities = gpd.GeoDataFrame({"code": codes}, geometry=comm_geoms, crs=CRS)
    streets_gdf = gpd.GeoDataFrame(geometry=streets, crs=CRS)
    return SyntheticCity(communities=communities, buildings=buildings, streets=streets_gdf)


def _rotate(g, deg, c):
    from shapely import affinity

    return affinity.rotate(g, deg, origin=c)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--buildings", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    city = make_city(a.buildings, seed=a.seed)
    print(
        json.dumps(
            {
                "n_buildings": len(city.buildings),
                "households": int(city.buildings.households.sum()),
                "n_communities": len(city.communities),
                "n_streets": len(city.streets),
                "max_households_building": int(city.buildings.households.max()),
            }
        )
    )


if __name__ == "__main__":
    main()
