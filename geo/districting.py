"""Balanced grid proposals: split communities into management grids.

A community is divided into grids of about 300-500 households each. The proposer

1. makes *units* of the buildings (footprints that overlap are merged into one unit, so a
   unit can never be split), clipped to the part of the community not already taken by
   grids the planner locked;
2. cuts the free area into street blocks (the streets clipped to the community, noded and
   polygonized together with the community boundary), so grid boundaries run along
   streets where they can;
3. gives every unit a *cell*: inside its block, the Voronoi cells of points sampled along
   the footprint outlines of the block's units, merged per unit, then corrected so that the
   cell holds its own footprint whole and no other footprint. Cells of all units plus the
   empty blocks (and the rare fragments cut off by a footprint) partition the free area
   exactly, and no footprint crosses a cell boundary;
4. partitions the cell adjacency graph (cells that share at least 0.5 m of boundary) into
   contiguous regions balanced on households (or a workload column): weighted k-means
   seeds; simultaneous region growing, lightest region first, by path length from the
   seed where crossing a street costs extra; leftover pockets become regions of their own
   (when heavy enough) or join their lightest neighbour; then single-cell boundary moves
   that lower (steep cost outside the band + squared relative deviation from the mean +
   length of grid boundary, boundary along a street costing 15 %) while keeping every
   region connected. Each move lowers the total, so the polish ends. Up to three
   seedings per community are tried; the first without band violations (else the one
   with the fewest) is kept;
5. dissolves the cells per region into one polygon per grid (coverage union per block,
   then a snap-rounded union across streets), moves any detached fragment to the
   neighbouring grid it shares most boundary with, and codes the grids.

Graph components too light for a grid of their own (cut off by a locked grid, say) join
the neighbouring grid they share most boundary with. A building whose footprint crosses
into a locked grid cannot be kept whole and is reported as split by
:func:`proposal_metrics`; so is a building crossing a community boundary.

Codes are ``parent_code + 3-digit sequence`` in the project's stable reading order
(:func:`gridpatrol.geo.grids.reading_order`): representative points in row bands as high
as the median grid size, rows north to south, west to east within a row. Locked grids keep
the code they came with; the other grids take the free numbers in that order.

All geometry must be in one metric projected CRS; a geographic, missing or mismatched CRS
raises :class:`~gridpatrol.geo.errors.CRSError` (checks of :mod:`gridpatrol.geo.crs`).
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .crs import check_metric_layers
from .errors import InfeasiblePlanError, InvalidGeometryError, SchemaError
from .geometry import check_geometries, make_polygonal, polsby_popper, polygonal_part
from .grids import reading_order
from .model import CODE_DIGITS
from .overlay import code_rank, largest_share

__all__ = [
    "GridProposer",
    "Proposal",
    "proposal_metrics",
    "balance_index",
    "polsby_popper",
]

DEFAULT_BAND = (300.0, 500.0)
_SAMPLE_SPACING_M = 12.0  # distance between points sampled along footprint outlines
_AREA_EPS = 1e-6  # m2: below this an intersection is numerical noise
_GRID_SIZE = 1e-6  # m: snap-rounding precision of overlays that must not leave gaps
_MIN_SHARED_M = 0.5  # cells are neighbours when their boundaries share this much length
_SLIVER_M2 = 1.0  # m2: an isolated piece this small is an overlay leftover, not a grid
_STREET_PENALTY = 0.6  # region growing: crossing a street costs this times the grid side
_STREET_DISCOUNT = 0.15  # polish: grid boundary along a street costs this much of inside one
_PARALLEL_MIN_COST = 10_000  # buildings (or cells) below which n_jobs is ignored
_BALANCE_WEIGHT = 1.0  # polish: weight of the squared relative deviation from the mean load


# ---------------------------------------------------------------------------------------
# small public helpers
# ---------------------------------------------------------------------------------------


def balance_index(values: Sequence[float]) -> float:
    """Balance index 0-100: ``100 * (1 - Gini)`` of the per-grid loads.

    100 means every grid carries the same load; a single grid scores 100.

    Parameters
    ----------
    values
        Load (households or workload) per grid.

    Returns
    -------
    float
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if n <= 1 or v.sum() <= 0:
        return 100.0
    cum = np.cumsum(v)
    gini = (n + 1 - 2 * (cum / cum[-1]).sum()) / n
    return float(100.0 * (1.0 - max(0.0, gini)))


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def _polygonal(name: str, geoms: np.ndarray, *, repair: bool) -> np.ndarray:
    """Checked polygons, or (``repair``) every geometry repaired to its polygons."""
    if repair:
        return make_polygonal(geoms)
    check_geometries(geoms, what=name)
    return geoms


# ---------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------


def _assign_buildings(grids: gpd.GeoDataFrame, bgeoms: np.ndarray, tol_m2: float):
    """Owner grid of each building (largest share, ties to the lower code) and the number
    of grids it overlaps by more than ``tol_m2``."""
    rank = code_rank(grids["code"]) if "code" in grids.columns else None
    shares = largest_share(bgeoms, grids.geometry, min_area=tol_m2, rank=rank)
    return shares.owner, np.bincount(shares.item, minlength=len(bgeoms))


def proposal_metrics(
    grids: gpd.GeoDataFrame,
    community: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    households: str = "households",
    weight: str | None = None,
    band: tuple[float, float] = DEFAULT_BAND,
    split_tolerance_m2: float = 0.01,
    streets: gpd.GeoDataFrame | None = None,
    street_tolerance_m: float = 3.0,
) -> dict[str, Any]:
    """Measure a grid proposal from its geometry alone.

    Nothing from the solver is trusted: buildings are assigned to the grid holding the
    largest part of their footprint, and cover, overlap and contiguity are measured on
    the polygons.

    Parameters
    ----------
    grids
        Grid polygons.
    community
        Community polygon(s) the grids should cover exactly.
    buildings
        Building footprints with a households column.
    households
        Name of the households column of ``buildings``.
    weight
        Optional workload column of ``buildings``; when given, the band and the balance
        index apply to it instead of households.
    band
        Wanted (low, high) load per grid, inclusive.
    split_tolerance_m2
        A footprint counts as split when it overlaps more than one grid by more than this
        area each.
    streets
        Optional street lines; when given, ``street_share`` is the share of the internal
        grid boundary length lying within ``street_tolerance_m`` of a street.
    street_tolerance_m
        See ``streets``.

    Returns
    -------
    dict
        ``n_grids``, ``share_in_band``, ``balance_index``, ``split_buildings``,
        ``gaps_m2``, ``overlaps_m2``, ``outside_m2``, ``noncontiguous``,
        ``mean_polsby_popper``, ``min_load``, ``max_load``, ``mean_load``,
        ``unassigned_buildings`` and, with streets, ``street_share``.
    """
    check_metric_layers(
        {"grids": grids, "community": community, "buildings": buildings, "streets": streets}
    )
    col = weight or households
    if col not in buildings.columns:
        raise SchemaError(f"buildings has no column {col!r}; columns: {list(buildings.columns)}")
    g = np.asarray(grids.geometry.values, dtype=object)
    b = np.asarray(buildings.geometry.values, dtype=object)
    load = buildings[col].to_numpy(dtype=float)
    owner, n_hit = _assign_buildings(grids, b, split_tolerance_m2)
    per_grid = np.bincount(owner[owner >= 0], weights=load[owner >= 0], minlength=len(g))
    lo, hi = band
    in_band = (per_grid >= lo) & (per_grid <= hi)

    comm = shapely.union_all(np.asarray(community.geometry.values, dtype=object))
    covered = shapely.union_all(g) if len(g) else shapely.Polygon()
    gaps = float(shapely.area(shapely.difference(comm, covered)))
    outside = float(shapely.area(shapely.difference(covered, comm)))
    overlaps = 0.0
    if len(g) > 1:
        tree = shapely.STRtree(g)
        i, j = tree.query(g, predicate="intersects")
        m = i < j
        if m.any():
            overlaps = float(shapely.area(shapely.intersection(g[i[m]], g[j[m]])).sum())
    nparts = shapely.get_num_geometries(g)
    noncontig = int(((nparts > 1) | ~np.isin(shapely.get_type_id(g), (3, 6))).sum())
    pp = polsby_popper(g)
    out: dict[str, Any] = {
        "n_grids": len(g),
        "share_in_band": float(in_band.mean()) if len(g) else 0.0,
        "balance_index": balance_index(per_grid),
        "split_buildings": int((n_hit > 1).sum()),
        "gaps_m2": gaps,
        "overlaps_m2": overlaps,
        "outside_m2": outside,
        "noncontiguous": noncontig,
        "mean_polsby_popper": float(pp.mean()) if len(g) else 0.0,
        "min_load": float(per_grid.min()) if len(g) else 0.0,
        "max_load": float(per_grid.max()) if len(g) else 0.0,
        "mean_load": float(per_grid.mean()) if len(g) else 0.0,
        "unassigned_buildings": int((owner < 0).sum()),
    }
    if streets is not None and len(g):
        inner = shapely.difference(shapely.union_all(shapely.boundary(g)), shapely.boundary(comm))
        total = shapely.length(inner)
        if total > 0:
            sbuf = shapely.buffer(
                shapely.union_all(np.asarray(streets.geometry.values, dtype=object)),
                street_tolerance_m,
                quad_segs=2,
            )
            out["street_share"] = float(shapely.length(shapely.intersection(inner, sbuf)) / total)
        else:
            out["street_share"] = 1.0
    return out


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------


@dataclass
class Proposal:
    """One grid proposal.

    Attributes
    ----------
    grids
        GeoDataFrame with ``code``, ``parent_code``, ``locked``, ``households``,
        ``load`` (the balanced quantity), ``n_buildings``, ``area_m2``,
        ``polsby_popper`` and the geometry.
    metrics
        :func:`proposal_metrics` of the grids, plus ``seconds``.
    seed
        Seed that produced it.
    rank
        0 for the best of the alternatives returned by one ``solve`` call.
    """

    grids: gpd.GeoDataFrame
    metrics: dict[str, Any]
    seed: int
    rank: int = 0


@dataclass
class _Community:
    code: str
    polygon: Any
    free: Any
    locked_geoms: list = field(default_factory=list)
    locked_codes: list = field(default_factory=list)
    # graph
    node_geom: np.ndarray | None = None
    node_xy: np.ndarray | None = None
    node_load: np.ndarray | None = None
    node_block: np.ndarray | None = None
    adj: list | None = None
    edge_len: list | None = None
    edge_shared: list | None = None
    k: int = 0
    fixed_k: bool = False


# ---------------------------------------------------------------------------------------
# the solver
# ---------------------------------------------------------------------------------------


class GridProposer:
    """Propose balanced, contiguous, street-following grids for communities.

    Build it with :meth:`from_geodataframes`, then call :meth:`solve`.
    The expensive geometry (units, blocks, cells, adjacency) is prepared once; every
    alternative only repeats the graph partition and the dissolve.
    """

    def __init__(
        self,
        communities: list[_Community],
        buildings: gpd.GeoDataFrame,
        *,
        crs: Any,
        households: str,
        weight: str | None,
        band: tuple[float, float],
        community_gdf: gpd.GeoDataFrame,
        n_jobs: int = 1,
    ) -> None:
        self.n_jobs = max(1, int(n_jobs))
        self._communities = communities
        self._buildings = buildings
        self.crs = crs
        self.households = households
        self.weight = weight
        self.band = band
        self._community_gdf = community_gdf

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_geodataframes(
        cls,
        community: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame,
        *,
        streets: gpd.GeoDataFrame | None = None,
        households: str = "households",
        band: tuple[float, float] = DEFAULT_BAND,
        n_grids: int | Mapping[str, int] | None = None,
        locked: gpd.GeoDataFrame | None = None,
        weight: str | None = None,
        code: str = "code",
        n_jobs: int = 1,
    ) -> GridProposer:
        """Prepare a proposer from layers.

        Parameters
        ----------
        community
            One or more community polygons. Their ``code`` column (if present) is the
            parent code of the grids; otherwise the row index is used.
        buildings
            Building footprints (Polygon/MultiPolygon) with a households column. A
            building belongs to the community holding its representative point. Invalid
            footprints are repaired with ``shapely.make_valid``; footprints without area
            (points, lines) are ignored.
        streets
            Optional street centrelines (LineString/MultiLineString). Grid boundaries
            follow them where the balance allows.
        households
            Households column of ``buildings``.
        band
            Wanted (low, high) load per grid, inclusive. The number of grids per
            community is chosen so that the mean load is as close as possible to the
            middle of the band.
        n_grids
            Number of new grids instead of the band: an int is the total over all
            communities, shared out in proportion to their load; a mapping gives it per
            parent code.
        locked
            Grids the planner locked: polygons (with an optional ``code`` column) kept
            exactly as they are; only the rest of each community is partitioned.
        weight
            Optional workload column of ``buildings`` to balance instead of households.
        code
            Name of the code column of ``community`` and ``locked``.
        n_jobs
            Worker processes for preparing and partitioning communities (one community is
            never split between processes); 1 runs everything in this process, and so do
            small inputs. Workers are started with ``forkserver``, so a script using
            ``n_jobs > 1`` needs the usual ``if __name__ == "__main__":`` guard. Results
            do not depend on ``n_jobs``.

        Returns
        -------
        GridProposer

        Raises
        ------
        CRSError
            A layer has no CRS, a geographic CRS, or a CRS different from the others.
        SchemaError
            A column is missing or has negative values.
        InvalidGeometryError
            A community is not a valid polygon, or a locked grid leaves its community.
        """
        crs = check_metric_layers(
            {"community": community, "buildings": buildings, "streets": streets, "locked": locked}
        )
        for col in (households, weight):
            if col is None:
                continue
            if col not in buildings.columns:
                raise SchemaError(
                    f"buildings has no column {col!r}; columns: {list(buildings.columns)}"
                )
            vals = pd.to_numeric(buildings[col], errors="coerce")
            if vals.isna().any() or (vals < 0).any():
                raise SchemaError(f"buildings[{col!r}] must be numbers >= 0 (no NaN).")
        lo, hi = float(band[0]), float(band[1])
        if not (0 < lo <= hi):
            raise SchemaError(f"band must be (low, high) with 0 < low <= high, got {band!r}.")
        if len(community) == 0:
            raise InvalidGeometryError("community is empty; give at least one polygon.")

        cgeoms = _polygonal(
            "community", np.asarray(community.geometry.values, dtype=object), repair=False
        )
        if code in community.columns:
            ccodes = [str(c) for c in community[code]]
        else:
            ccodes = [str(i) for i in community.index]

        bgeoms = _polygonal(
            "buildings", np.asarray(buildings.geometry.values, dtype=object), repair=True
        )
        bkeep = ~shapely.is_empty(bgeoms) & ~shapely.is_missing(bgeoms)
        bld = buildings.loc[bkeep].copy()
        bld = bld.set_geometry(gpd.GeoSeries(bgeoms[bkeep], index=bld.index, crs=crs))
        bld = bld.reset_index(drop=True)
        bgeoms = np.asarray(bld.geometry.values, dtype=object)
        load = bld[weight or households].to_numpy(dtype=float)

        sgeoms = None
        if streets is not None and len(streets):
            sgeoms = np.asarray(streets.geometry.values, dtype=object)
            sgeoms = sgeoms[np.isin(shapely.get_type_id(sgeoms), (1, 2, 5))]

        # locked grids -> communities
        lgeoms = np.zeros(0, dtype=object)
        lcodes: list[str | None] = []
        if locked is not None and len(locked):
            lgeoms = _polygonal(
                "locked", np.asarray(locked.geometry.values, dtype=object), repair=False
            )
            given = locked[code] if code in locked.columns else pd.Series([None] * len(lgeoms))
            lcodes = [str(c) if pd.notna(c) else None for c in given]
        ctree = shapely.STRtree(cgeoms)
        lcomm = np.full(len(lgeoms), -1)
        if len(lgeoms):
            li, ci = ctree.query(shapely.point_on_surface(lgeoms), predicate="intersects")
            lcomm[li] = ci
            for i in range(len(lgeoms)):
                if lcomm[i] < 0:
                    raise InvalidGeometryError(f"locked grid {i} lies in no community.")
                out = shapely.area(shapely.difference(lgeoms[i], cgeoms[lcomm[i]]))
                if out > 1.0:
                    raise InvalidGeometryError(
                        f"locked grid {i} extends {out:.1f} m2 outside its community; "
                        "clip it to the community first."
                    )

        # buildings -> communities (by representative point)
        rep = shapely.point_on_surface(bgeoms)
        bi, ci = ctree.query(rep, predicate="intersects")
        bcomm = np.full(len(bgeoms), -1)
        bcomm[bi[::-1]] = ci[::-1]  # first hit wins

        tasks = []
        stree = shapely.STRtree(sgeoms) if sgeoms is not None and len(sgeoms) else None
        for c, poly in enumerate(cgeoms):
            lsel = np.flatnonzero(lcomm == c)
            free = poly
            if len(lsel):
                free = shapely.difference(poly, shapely.union_all(lgeoms[lsel]))
            com = _Community(
                code=ccodes[c],
                polygon=poly,
                free=free,
                locked_geoms=list(lgeoms[lsel]),
                locked_codes=[lcodes[i] for i in lsel],
            )
            sel = np.flatnonzero(bcomm == c)
            if len(sel) and len(lsel):
                # buildings whose point lies in a locked grid stay with that grid
                in_locked = shapely.intersects(shapely.union_all(lgeoms[lsel]), rep[sel])
                sel = sel[~in_locked]
            lines = None
            if stree is not None:
                hit = stree.query(poly, predicate="intersects")
                if len(hit):
                    lines = sgeoms[hit]
            tasks.append((com, bgeoms[sel], load[sel], lines))
        comms = _map(_prepare_task, tasks, n_jobs, cost=[len(t[1]) for t in tasks])

        # number of grids per community
        totals = np.array([c.node_load.sum() if c.node_load is not None else 0.0 for c in comms])
        if n_grids is None:
            for c, t in zip(comms, totals, strict=True):
                c.k = _k_for_band(t, lo, hi) if not shapely.is_empty(c.free) else 0
        elif isinstance(n_grids, Mapping):
            for c in comms:
                c.k = max(1, int(n_grids.get(c.code, _k_for_band(c.node_load.sum(), lo, hi))))
        else:
            n = int(n_grids)
            if n < len(comms):
                raise InfeasiblePlanError(
                    f"n_grids={n} is fewer than the {len(comms)} communities; each needs one."
                )
            share = (
                totals / totals.sum() * n
                if totals.sum() > 0
                else np.full(len(comms), n / len(comms))
            )
            k = np.maximum(1, np.floor(share).astype(int))
            while k.sum() < n:
                k[np.argmax(share - k)] += 1
            while k.sum() > n:
                cand = np.flatnonzero(k > 1)
                k[cand[np.argmin((share - k)[cand])]] -= 1
            for c, kk in zip(comms, k, strict=True):
                c.k = int(kk)
        if n_grids is not None:
            for c in comms:
                c.fixed_k = True
        return cls(
            comms,
            bld,
            crs=crs,
            households=households,
            weight=weight,
            band=(lo, hi),
            community_gdf=community,
            n_jobs=n_jobs,
        )

    # -- solving ------------------------------------------------------------------------

    def solve(self, seed: int = 0, *, n_alternatives: int = 1) -> list[Proposal]:
        """Partition every community and return proposals, best first.

        Parameters
        ----------
        seed
            Seed of the first alternative; alternative ``i`` uses ``seed + i``. The same
            seed always gives the same proposal.
        n_alternatives
            How many alternatives to compute. They are ranked by share of grids in the
            band, then balance index, then mean Polsby-Popper (all higher is better).

        Returns
        -------
        list of Proposal
        """
        if n_alternatives < 1:
            raise SchemaError("n_alternatives must be at least 1.")
        if int(seed) < 0:
            raise SchemaError(f"seed must be >= 0, got {seed}.")
        props = []
        for a in range(n_alternatives):
            t0 = time.perf_counter()
            s = int(seed) + a
            rows = []
            per = _map(
                _solve_task,
                [(com, self.band, s) for com in self._communities],
                self.n_jobs,
                cost=[len(c.node_geom) for c in self._communities],
            )
            for r in per:
                rows.extend(r)
            grids = gpd.GeoDataFrame(
                pd.DataFrame(rows, columns=["code", "parent_code", "locked", "geometry"]),
                geometry="geometry",
                crs=self.crs,
            )
            grids["geometry"] = _drop_slivers(grids.geometry.values)
            grids = self._annotate(grids)
            m = proposal_metrics(
                grids,
                self._community_gdf,
                self._buildings,
                households=self.households,
                weight=self.weight,
                band=self.band,
            )
            m["seconds"] = time.perf_counter() - t0
            props.append(Proposal(grids=grids, metrics=m, seed=s))
        props.sort(
            key=lambda p: (
                -p.metrics["share_in_band"],
                -p.metrics["balance_index"],
                -p.metrics["mean_polsby_popper"],
                p.seed,
            )
        )
        for r, p in enumerate(props):
            p.rank = r
        return props

    def _annotate(self, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g = np.asarray(grids.geometry.values, dtype=object)
        b = np.asarray(self._buildings.geometry.values, dtype=object)
        owner, _ = _assign_buildings(grids, b, 0.01)
        ok = owner >= 0
        hcol = self._buildings[self.households]
        hh = hcol.to_numpy(dtype=float)
        grids["households"] = np.bincount(owner[ok], weights=hh[ok], minlength=len(g))
        if pd.api.types.is_integer_dtype(hcol.dtype):
            grids["households"] = grids["households"].round().astype(np.int64)
        if self.weight is not None:
            w = self._buildings[self.weight].to_numpy(dtype=float)
            grids["load"] = np.bincount(owner[ok], weights=w[ok], minlength=len(g))
        else:
            grids["load"] = grids["households"]
        grids["n_buildings"] = np.bincount(owner[ok], minlength=len(g))
        grids["area_m2"] = shapely.area(g)
        grids["polsby_popper"] = polsby_popper(g)
        cols = [
            "code",
            "parent_code",
            "locked",
            "households",
            "load",
            "n_buildings",
            "area_m2",
            "polsby_popper",
            "geometry",
        ]
        return grids[cols]


def _drop_slivers(geoms: np.ndarray, *, max_hole_m2: float = 1.0) -> np.ndarray:
    """Remove the hair-thin holes that merging space cells can leave inside a grid.

    They cover no building and no neighbour (area under ``max_hole_m2``, usually ~0), but a
    planner sees them as stray lines on the map.
    """

    def clean(poly):
        keep = [r for r in poly.interiors if shapely.Polygon(r).area >= max_hole_m2]
        return shapely.Polygon(poly.exterior, keep) if len(keep) != len(poly.interiors) else poly

    out = []
    for g in geoms:
        if g is None or g.is_empty:
            out.append(g)
        elif g.geom_type == "Polygon":
            out.append(clean(g))
        elif g.geom_type == "MultiPolygon":
            out.append(shapely.MultiPolygon([clean(p) for p in g.geoms]))
        else:
            out.append(g)
    return np.array(out, dtype=object)


def _prepare_task(args) -> _Community:
    com, fp, load, lines = args
    _prepare_graph(com, fp, load, lines)
    return com


def _solve_task(args) -> list[list]:
    return _solve_community(*args)


def _map(fn, tasks: list, n_jobs: int, *, cost: Sequence[float]) -> list:
    """``[fn(t) for t in tasks]``, in worker processes when ``n_jobs > 1``.

    Small jobs (total cost under ``_PARALLEL_MIN_COST`` buildings or cells) stay in this
    process: starting workers would cost more than it saves.
    """
    if n_jobs <= 1 or len(tasks) <= 1 or float(np.sum(cost)) < _PARALLEL_MIN_COST:
        return [fn(t) for t in tasks]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    order = np.argsort(-np.asarray(cost, dtype=float), kind="stable")  # big ones first
    out: list = [None] * len(tasks)
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # the fork server imports this module once; every worker forks from it ready
        ctx.set_forkserver_preload([__name__])
    else:  # pragma: no cover - platforms without fork
        ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks)), mp_context=ctx) as ex:
        futs = {int(i): ex.submit(fn, tasks[int(i)]) for i in order}
        for i, f in futs.items():
            out[i] = f.result()
    return out


def _k_for_band(total: float, lo: float, hi: float) -> int:
    if total <= 0:
        return 1
    mid = 0.5 * (lo + hi)
    k = max(1, int(round(total / mid)))
    # prefer a k whose mean load falls inside the band
    best = k
    for cand in (k, k - 1, k + 1):
        if cand >= 1 and lo <= total / cand <= hi:
            best = cand
            break
    return best


# ---------------------------------------------------------------------------------------
# geometry preparation: units, blocks, cells, adjacency
# ---------------------------------------------------------------------------------------


def _blocks(free, lines) -> np.ndarray:
    parts = shapely.get_parts(free)
    if lines is None or len(lines) == 0:
        return parts
    clipped = shapely.intersection(lines, free)
    clipped = clipped[~shapely.is_empty(clipped)]
    linework = np.concatenate([shapely.get_parts(clipped), [shapely.boundary(free)]])
    linework = linework[np.isin(shapely.get_type_id(linework), (1, 2, 5))]
    noded = shapely.node(shapely.multilinestrings(shapely.get_parts(shapely.get_parts(linework))))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return parts
    shapely.prepare(free)
    keep = shapely.contains_properly(free, shapely.point_on_surface(faces))
    faces = faces[keep]
    # polygonize may miss slivers of free: keep whatever is left as extra blocks
    rest = _overlay(
        shapely.difference, free, _union_all(faces, coverage=True, grid_size=None), None
    )
    if not shapely.is_empty(rest):
        extra = shapely.get_parts(rest)
        extra = extra[shapely.area(extra) > _AREA_EPS]
        faces = np.concatenate([faces, extra])
    return faces


def _units(fp: np.ndarray, load: np.ndarray):
    """Merge footprints that overlap (by area) into units."""
    n = len(fp)
    if n == 0:
        return fp, load, np.zeros(0, dtype=int)
    tree = shapely.STRtree(fp)
    i, j = tree.query(fp, predicate="intersects")
    m = i < j
    i, j = i[m], j[m]
    if len(i):
        a = shapely.area(_overlay(shapely.intersection, fp[i], fp[j], None))
        ov = a > 0.01
        i, j = i[ov], j[ov]
    if len(i) == 0:
        return fp, load, np.ones(n, dtype=int)
    g = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    nc, lab = connected_components(g, directed=False)
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=nc)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ufp = np.empty(nc, dtype=object)
    for c in range(nc):
        members = order[starts[c] : starts[c] + counts[c]]
        ufp[c] = fp[members[0]] if len(members) == 1 else shapely.union_all(fp[members])
    uload = np.bincount(lab, weights=load, minlength=nc)
    return ufp, uload, counts


_PRECISIONS = (None, 1e-5, 1e-4, 1e-3)  # fallbacks when an overlay raises


def _overlay(op, a, b, grid_size: float | None):
    """``op(a, b, grid_size=...)`` that survives GEOS topology exceptions.

    Snap rounding occasionally fails on nearly coincident edges ("unable to assign free
    hole to a shell"); the failing elements are redone at other precisions.
    """
    try:
        return op(a, b, grid_size=grid_size)
    except shapely.errors.GEOSException:
        if np.ndim(a) or np.ndim(b):
            a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
            return np.array(
                [_overlay(op, x, y, grid_size) for x, y in zip(a, b, strict=True)], dtype=object
            )
        for gs in _PRECISIONS:
            if gs == grid_size:
                continue
            try:
                return op(a, b, grid_size=gs)
            except shapely.errors.GEOSException:
                continue
        return op(shapely.make_valid(a), shapely.make_valid(b), grid_size=1e-3)


def _union_all(members: np.ndarray, *, coverage: bool, grid_size: float | None):
    """Union of one group, falling back from coverage union to overlay at other precisions."""
    if coverage:
        try:
            return shapely.coverage_union_all(members)
        except shapely.errors.GEOSException:
            pass
    for gs in (grid_size, *[p for p in _PRECISIONS if p != grid_size]):
        try:
            return shapely.union_all(members, grid_size=gs)
        except shapely.errors.GEOSException:
            continue
    return shapely.union_all(shapely.make_valid(members), grid_size=1e-3)


def _group_union(
    geoms: np.ndarray, owner: np.ndarray, n: int, *, coverage: bool, grid_size: float | None = None
):
    """Union of geometries per owner id (0..n-1) with one vectorized call."""
    res = np.empty(n, dtype=object)
    res[:] = None
    if len(geoms) == 0:
        return res
    order = np.argsort(owner, kind="stable")
    o = owner[order]
    counts = np.bincount(o, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(o)) - starts[o]
    # bucket owners by size (powers of two) to keep the padded arrays small
    bucket = np.where(counts > 0, 2 ** np.ceil(np.log2(np.maximum(counts, 1))), 0).astype(int)
    sizes = np.unique(bucket)
    for s in sizes:
        if s == 0:
            continue
        ids = np.flatnonzero(bucket == s)
        if len(ids) == 0:
            continue
        arr = np.empty((len(ids), int(s)), dtype=object)
        arr[:] = None
        row = np.full(n, -1)
        row[ids] = np.arange(len(ids))
        sel = row[o] >= 0
        arr[row[o[sel]], pos[sel]] = geoms[order][sel]
        try:
            if coverage:
                res[ids] = shapely.coverage_union_all(arr, axis=1)
            else:
                res[ids] = shapely.union_all(arr, axis=1, grid_size=grid_size)
        except shapely.errors.GEOSException:  # one bad group: redo them one by one
            for r, i in enumerate(ids):
                members = arr[r][arr[r] != None]  # noqa: E711
                res[i] = _union_all(members, coverage=coverage, grid_size=grid_size)
    return res


def _voronoi_cells(ufp, uload, ublock, blocks) -> np.ndarray:
    """Cell of each unit: Voronoi cells of its outline points, within its block."""
    nu, nb = len(ufp), len(blocks)
    cells = np.empty(nu, dtype=object)
    rings = shapely.segmentize(shapely.boundary(ufp), _SAMPLE_SPACING_M)
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    _, first = np.unique(np.round(xy, 2), axis=0, return_index=True)  # shared corners
    first = np.sort(first)
    xy, idx = xy[first], idx[first]
    order = np.argsort(ublock[idx], kind="stable")
    xy, idx = xy[order], idx[order]
    bcounts = np.bincount(ublock[idx], minlength=nb)
    bstart = np.concatenate([[0], np.cumsum(bcounts)[:-1]])
    vcells, vowner = [], []
    for b in np.flatnonzero(bcounts):
        s, e = bstart[b], bstart[b] + bcounts[b]
        owners = idx[s:e]
        u_in = np.unique(owners)
        if len(u_in) == 1:
            cells[u_in[0]] = blocks[b]
            continue
        try:
            vp = shapely.voronoi_polygons(
                shapely.multipoints(xy[s:e]), extend_to=blocks[b], ordered=True
            )
            parts = shapely.get_parts(vp)
        except shapely.errors.GEOSException:
            parts = np.zeros(0, dtype=object)
        if len(parts) != e - s:  # degenerate points: the block goes to its heaviest unit
            heavy = u_in[np.argmax(uload[u_in])]
            for u in u_in:
                cells[u] = blocks[b] if u == heavy else ufp[u]
            continue
        vcells.append(parts)
        vowner.append(owners)
    if vcells:
        merged = _group_union(np.concatenate(vcells), np.concatenate(vowner), nu, coverage=True)
        has = np.flatnonzero(
            np.array(
                [m is not None and c is None for m, c in zip(merged, cells, strict=True)],
                dtype=bool,
            )
        )
        cells[has] = _overlay(shapely.intersection, merged[has], blocks[ublock[has]], None)
    missing = np.flatnonzero(np.array([c is None for c in cells], dtype=bool))
    cells[missing] = ufp[missing]
    return cells


def _adjacency(G: np.ndarray, block: np.ndarray, xy: np.ndarray):
    """Neighbour lists, centroid distances and shared boundary lengths of the nodes."""
    n = len(G)
    adj: list[list[int]] = [[] for _ in range(n)]
    elen: list[list[float]] = [[] for _ in range(n)]
    eshared: list[list[float]] = [[] for _ in range(n)]
    if n < 2:
        return adj, elen, eshared
    i, j = shapely.STRtree(G).query(G, predicate="intersects")
    m = i < j
    i, j = i[m], j[m]
    # Neighbours share at least _MIN_SHARED_M of boundary, not just a point: a dissolve of
    # cells touching along a few millimetres can come apart. Across blocks the two sides
    # of a street were clipped separately and coincide only up to floating point, so the
    # overlay there snap-rounds (grid_size); cells of one block share exact Voronoi edges.
    bi, bj = shapely.boundary(G[i]), shapely.boundary(G[j])
    cross = block[i] != block[j]
    shared = np.empty(len(i))
    shared[~cross] = shapely.length(_overlay(shapely.intersection, bi[~cross], bj[~cross], None))
    shared[cross] = shapely.length(_overlay(shapely.intersection, bi[cross], bj[cross], _GRID_SIZE))
    ok = shared >= _MIN_SHARED_M
    i, j, shared = i[ok], j[ok], shared[ok]
    d = np.hypot(*(xy[i] - xy[j]).T)
    for a, b, dd, sl in zip(i.tolist(), j.tolist(), d.tolist(), shared.tolist(), strict=True):
        adj[a].append(b)
        adj[b].append(a)
        elen[a].append(dd)
        elen[b].append(dd)
        eshared[a].append(sl)
        eshared[b].append(sl)
    return adj, elen, eshared


def _prepare_graph(com: _Community, fp_all: np.ndarray, load_all: np.ndarray, lines) -> None:
    """Units, blocks, cells and their adjacency graph for one community (in place)."""
    free = com.free
    com.node_geom = np.zeros(0, dtype=object)
    com.node_xy = np.zeros((0, 2))
    com.node_load = np.zeros(0)
    com.node_block = np.zeros(0, dtype=int)
    com.adj, com.edge_len, com.edge_shared = [], [], []
    if shapely.is_empty(free) or shapely.area(free) <= _AREA_EPS:
        return
    shapely.prepare(free)
    # clip footprints to the free area
    inside = shapely.within(fp_all, free)
    fp = fp_all.copy()
    if (~inside).any():
        clipped = _overlay(shapely.intersection, fp_all[~inside], free, None)
        fp[~inside] = polygonal_part(clipped)
    ok = ~shapely.is_empty(fp) & (shapely.area(fp) > _AREA_EPS)
    ufp, uload, _ = _units(fp[ok], load_all[ok])
    nu = len(ufp)

    blocks = _blocks(free, lines)
    nb = len(blocks)
    btree = shapely.STRtree(blocks)
    urep = shapely.point_on_surface(ufp)
    ublock = np.full(nu, -1)
    if nu:
        pi, bi = btree.query(urep, predicate="intersects")
        ublock[pi[::-1]] = bi[::-1]
        miss = np.flatnonzero(ublock < 0)
        if len(miss):
            ublock[miss] = btree.query_nearest(urep[miss], all_matches=False)[1]
    cells = _voronoi_cells(ufp, uload, ublock, blocks) if nu else np.zeros(0, dtype=object)

    # empty blocks become zero-load nodes
    has_unit = np.zeros(nb, dtype=bool)
    has_unit[ublock] = True
    empty_block_id = np.flatnonzero(~has_unit)
    allc = np.concatenate([cells, blocks[empty_block_id]])
    own = np.concatenate([np.arange(nu), np.full(len(empty_block_id), -1)])
    node_block_all = np.concatenate([ublock, empty_block_id]).astype(int)

    # footprint correction: a cell holds its own footprint whole, and no other footprint
    if nu:
        ci, fj = shapely.STRtree(ufp).query(allc, predicate="intersects")
        m = own[ci] != fj
        ci, fj = ci[m], fj[m]
        if len(ci):
            foreign = _group_union(ufp[fj], ci, len(allc), coverage=False)
            hit = np.unique(ci)
            allc[hit] = _overlay(shapely.difference, allc[hit], foreign[hit], None)
        cells = allc[:nu]
        shapely.prepare(cells)
        need = ~shapely.covers(cells, ufp)
        if need.any():
            cells[need] = _overlay(shapely.union, cells[need], ufp[need], None)
        allc[:nu] = cells
    bad = ~np.isin(shapely.get_type_id(allc), (3, 6))
    if bad.any():
        allc[bad] = polygonal_part(allc[bad])

    # multipart cells: the parts holding some of the own footprint stay with the unit
    # (the one holding most at least); the others, and every part of an empty block,
    # become zero-load nodes of their own
    parts, pidx = shapely.get_parts(allc, return_index=True)
    nparts = np.bincount(pidx, minlength=len(allc))
    is_unit_part = own[pidx] >= 0
    keep = is_unit_part.copy()
    sel = np.flatnonzero(is_unit_part & (nparts[pidx] > 1))
    if len(sel):
        ov = shapely.area(_overlay(shapely.intersection, parts[sel], ufp[own[pidx[sel]]], None))
        keep[sel] = ov > 0.01
        best = sel[np.lexsort((-ov, pidx[sel]))]
        first = np.ones(len(best), dtype=bool)
        first[1:] = pidx[best][1:] != pidx[best][:-1]
        keep[best[first]] = True
        merged = _group_union(parts[sel[keep[sel]]], pidx[sel[keep[sel]]], nu, coverage=False)
        multi = np.unique(pidx[sel])
        cells = allc[:nu].copy()
        cells[multi] = merged[multi]
    else:
        cells = allc[:nu]
    loose = ~keep & (shapely.area(parts) > _AREA_EPS)
    op = parts[loose]
    com.node_geom = np.concatenate([cells, op])
    com.node_load = np.concatenate([uload, np.zeros(len(op))])
    com.node_block = np.concatenate([ublock, node_block_all[pidx[loose]]]).astype(int)
    com.node_xy = np.concatenate(
        [
            shapely.get_coordinates(shapely.centroid(ufp)).reshape(-1, 2),
            shapely.get_coordinates(shapely.point_on_surface(op)).reshape(-1, 2),
        ]
    )
    com.adj, com.edge_len, com.edge_shared = _adjacency(com.node_geom, com.node_block, com.node_xy)


# ---------------------------------------------------------------------------------------
# graph partition
# ---------------------------------------------------------------------------------------


def _weighted_kmeans(xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator):
    n = len(xy)
    p = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    centers = [xy[rng.choice(n, p=p)]]
    d2 = ((xy - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        q = d2 * w
        if q.sum() <= 0:
            q = np.ones(n)
        c = xy[rng.choice(n, p=q / q.sum())]
        centers.append(c)
        d2 = np.minimum(d2, ((xy - c) ** 2).sum(1))
    C = np.array(centers)
    for _ in range(12):
        lab = cKDTree(C).query(xy)[1]
        sw = np.bincount(lab, weights=w, minlength=k)
        sx = np.bincount(lab, weights=w * xy[:, 0], minlength=k)
        sy = np.bincount(lab, weights=w * xy[:, 1], minlength=k)
        good = sw > 0
        C[good, 0] = sx[good] / sw[good]
        C[good, 1] = sy[good] / sw[good]
    return C


def _solve_community(com: _Community, band: tuple[float, float], seed: int) -> list[list]:
    rows: list[list] = []
    for g, c in zip(com.locked_geoms, com.locked_codes, strict=True):
        rows.append([c, com.code, True, g])
    G = com.node_geom
    new_geoms: list = []
    if G is not None and len(G):
        n = len(G)
        # connected components get their own share of k
        if n > 1:
            ii = [a for a, nb in enumerate(com.adj) for _ in nb]
            jj = [b for nb in com.adj for b in nb]
            mat = coo_matrix((np.ones(len(ii)), (ii, jj)), shape=(n, n))
            ncomp, lab = connected_components(mat, directed=False)
        else:
            ncomp, lab = 1, np.zeros(1, dtype=int)
        loads = np.bincount(lab, weights=com.node_load, minlength=ncomp)
        # components too light for a grid of their own (cut off by a locked grid, or by
        # a pinch of the community) join a neighbouring grid after the dissolve
        small = (loads < band[0]) & (np.arange(ncomp) != np.argmax(loads))
        ks = np.zeros(ncomp, dtype=int)
        ks[~small] = _share_k(loads[~small], max(com.k, 1))
        region = np.full(n, -1)
        next_id = 0
        absorb = []
        for c in range(ncomp):
            nodes = np.flatnonzero(lab == c)
            if small[c]:
                region[nodes] = next_id
                absorb.append(next_id)
                next_id += 1
                continue
            r = _partition(nodes, com, ks[c], band, seed, component=c, fixed_k=com.fixed_k)
            region[nodes] = r + next_id
            next_id = region[nodes].max() + 1
        new_geoms = _assemble(G, region, com.node_block, absorb)
    # code the grids
    taken = {c for c in com.locked_codes if c is not None}
    all_geoms = [r[3] for r in rows] + list(new_geoms)
    order = reading_order(gpd.GeoSeries(all_geoms)) if all_geoms else []
    digits = CODE_DIGITS["grid"]
    seq = 1
    nlock = len(rows)
    coded = []
    for i in order:
        if i < nlock and rows[i][0] is not None:
            coded.append(rows[i])
            continue
        while f"{com.code}{seq:0{digits}d}" in taken:
            seq += 1
        if seq >= 10**digits:
            raise InfeasiblePlanError(
                f"community {com.code} would get more than {10**digits - 1} grids; "
                "widen the band or give n_grids"
            )
        code_ = f"{com.code}{seq:0{digits}d}"
        taken.add(code_)
        seq += 1
        if i < nlock:
            rows[i][0] = code_
            coded.append(rows[i])
        else:
            coded.append([code_, com.code, False, all_geoms[i]])
    return coded


def _share_k(loads: np.ndarray, k_total: int) -> np.ndarray:
    """Share ``k_total`` grids among graph components in proportion to their load."""
    if len(loads) == 1:
        return np.array([k_total])
    total = loads.sum()
    if total <= 0:
        return np.ones(len(loads), dtype=int)
    return np.maximum(1, np.round(loads / total * k_total).astype(int))


def _f(W: float, lo: float, hi: float, T: float) -> float:
    """Balance cost of one region: steep outside the band, gentle inside."""
    out = (max(0.0, lo - W) + max(0.0, W - hi)) / T
    d = (W - T) / T
    return 1e3 * out * out + 200.0 * out + _BALANCE_WEIGHT * d * d


def _partition(
    nodes: np.ndarray,
    com: _Community,
    k: int,
    band,
    seed: int,
    *,
    component: int = 0,
    fixed_k: bool,
    tries: int = 3,
):
    """Contiguous balanced partition of one connected component; returns labels 0..k'-1."""
    lo, hi = band
    n = len(nodes)
    w = com.node_load[nodes]
    if k <= 1 or n <= 1 or w.sum() <= 0:
        return np.zeros(n, dtype=int)
    local = {int(g): i for i, g in enumerate(nodes)}
    adj = [[local[b] for b in com.adj[g] if b in local] for g in nodes]
    elen = [
        [d for b, d in zip(com.adj[g], com.edge_len[g], strict=True) if b in local] for g in nodes
    ]
    esh = [
        [d for b, d in zip(com.adj[g], com.edge_shared[g], strict=True) if b in local]
        for g in nodes
    ]
    blk = com.node_block[nodes]
    xy = com.node_xy[nodes]
    W_total = w.sum()
    T = W_total / k
    if fixed_k and not (lo <= T <= hi):
        # a number of grids was asked for whose mean load lies outside the band:
        # balance around the mean instead
        lo, hi = 0.85 * T, 1.15 * T
    area = float(shapely.area(com.node_geom[nodes]).sum())
    side = math.sqrt(area / k)
    penalty = _STREET_PENALTY * side

    def attempt(rng, k):
        pos = np.flatnonzero(w > 0)
        k = min(k, len(pos))
        C = _weighted_kmeans(xy[pos], w[pos], k, rng)
        # seeds: nearest loaded node to each centre, distinct
        tree = cKDTree(xy[pos])
        seeds: list[int] = []
        used: set[int] = set()
        for c in C:
            _, cand = tree.query(c, k=min(len(pos), 8))
            for q in np.atleast_1d(cand):
                v = int(pos[q])
                if v not in used:
                    used.add(v)
                    seeds.append(v)
                    break
        k = len(seeds)
        region = np.full(n, -1)
        Wr = np.zeros(k)
        heaps: list[list] = [[] for _ in range(k)]
        for r, s in enumerate(seeds):
            region[s] = r
            Wr[r] = w[s]
            for b, d in zip(adj[s], elen[s], strict=True):
                heapq.heappush(heaps[r], (d + (penalty if blk[b] != blk[s] else 0.0), b))
        active = [(Wr[r], r) for r in range(k)]
        heapq.heapify(active)
        while active:
            _, r = heapq.heappop(active)
            h = heaps[r]
            grown = False
            while h:
                cost, v = heapq.heappop(h)
                if region[v] >= 0:
                    continue
                if Wr[r] + w[v] > hi and Wr[r] >= lo:
                    break  # closing: adding would overshoot the band
                if Wr[r] + w[v] > T and abs(Wr[r] + w[v] - T) > abs(Wr[r] - T) and Wr[r] >= lo:
                    break
                region[v] = r
                Wr[r] += w[v]
                for b, d in zip(adj[v], elen[v], strict=True):
                    if region[b] < 0:
                        heapq.heappush(h, (cost + d + (penalty if blk[b] != blk[v] else 0.0), b))
                grown = True
                break
            if grown and Wr[r] < T:
                heapq.heappush(active, (Wr[r], r))

        # leftover pockets
        un = np.flatnonzero(region < 0)
        if len(un):
            unset = set(un.tolist())
            seen: set[int] = set()
            for s in un.tolist():
                if s in seen:
                    continue
                comp = []
                dq = deque([s])
                seen.add(s)
                while dq:
                    v = dq.popleft()
                    comp.append(v)
                    for b in adj[v]:
                        if b in unset and b not in seen:
                            seen.add(b)
                            dq.append(b)
                cw = w[comp].sum()
                nbr_regions = {region[b] for v in comp for b in adj[v] if region[b] >= 0}
                if (cw >= lo and not fixed_k) or not nbr_regions:
                    r = len(Wr)
                    Wr = np.append(Wr, cw)
                    region[comp] = r
                else:
                    r = min(sorted(nbr_regions), key=Wr.__getitem__)
                    region[comp] = r
                    Wr[r] += cw
        # pockets may have been merged into neighbours later in the loop: that's fine.
        region = _polish(region, w, adj, esh, blk, lo, hi, T, side)
        # relabel 0..k'-1
        _, region = np.unique(region, return_inverse=True)
        return region

    # several seedings; keep the partition with the fewest / smallest band violations
    best, best_score = None, None
    for t in range(max(1, tries)):
        region = attempt(np.random.default_rng([seed, component, t]), k)
        Wr = np.bincount(region, weights=w)
        out = np.maximum(0.0, lo - Wr) + np.maximum(0.0, Wr - hi)
        score = (int((out > 0).sum()), float(out.sum()), float(((Wr - T) ** 2).sum()))
        if best_score is None or score < best_score:
            best, best_score = region, score
        if score[0] == 0:
            break
    return best


def _connected_without(members: set[int], v: int, adj) -> bool:
    rest = members - {v}
    if not rest:
        return False
    start = next(iter(rest))
    seen = {start}
    dq = deque([start])
    while dq:
        x = dq.popleft()
        for b in adj[x]:
            if b in rest and b not in seen:
                seen.add(b)
                dq.append(b)
    return len(seen) == len(rest)


def _polish(region, w, adj, esh, blk, lo, hi, T, side, max_moves: int | None = None):
    """Boundary moves that lower balance cost + boundary cost, keeping regions connected.

    The boundary cost of a region is the length of its boundary shared with other
    regions divided by ``side``; boundary along a street (between cells of different
    blocks) costs only ``_STREET_DISCOUNT`` of that. Every accepted move lowers the
    total, so the loop ends.
    """
    k = region.max() + 1
    n = len(region)
    Wr = np.bincount(region, weights=w, minlength=k)
    members: list[set[int]] = [set() for _ in range(k)]
    for v, r in enumerate(region.tolist()):
        members[r].add(v)
    nloaded = np.bincount(region, weights=(w > 0).astype(float), minlength=k)
    ecost = [
        [
            sl / side * (_STREET_DISCOUNT if blk[b] != blk[v] else 1.0)
            for b, sl in zip(adj[v], esh[v], strict=True)
        ]
        for v in range(n)
    ]
    fcache = {}

    def f(W):
        key = round(W, 6)
        if key not in fcache:
            fcache[key] = _f(W, lo, hi, T)
        return fcache[key]

    reg = region.tolist()
    queue = deque(v for v in range(n) if any(reg[b] != reg[v] for b in adj[v]))
    inq = set(queue)
    moves = 0
    limit = max_moves if max_moves is not None else 50 * n
    while queue and moves < limit:
        v = queue.popleft()
        inq.discard(v)
        a = reg[v]
        wv = w[v]
        if wv > 0 and nloaded[a] <= 1:
            continue
        link: dict[int, float] = {}
        for b, c in zip(adj[v], ecost[v], strict=True):
            rb = reg[b]
            link[rb] = link.get(rb, 0.0) + c
        if len(link) == 1 and a in link:
            continue
        la = link.get(a, 0.0)
        fa = f(Wr[a])
        fa2 = f(Wr[a] - wv)
        best, best_d = -1, -1e-9
        for rb, lb in link.items():
            if rb == a:
                continue
            d = (fa2 - fa) + (f(Wr[rb] + wv) - f(Wr[rb])) + (la - lb)
            if d < best_d:
                best, best_d = rb, d
        if best < 0 or not _connected_without(members[a], v, adj):
            continue
        members[a].discard(v)
        members[best].add(v)
        reg[v] = best
        Wr[a] -= wv
        Wr[best] += wv
        if wv > 0:
            nloaded[a] -= 1
            nloaded[best] += 1
        moves += 1
        for b in adj[v]:
            if b not in inq:
                queue.append(b)
                inq.add(b)
        if v not in inq:
            queue.append(v)
            inq.add(v)
    return np.asarray(reg)


# ---------------------------------------------------------------------------------------
# assembling grid polygons
# ---------------------------------------------------------------------------------------


def _best_neighbour(geoms: np.ndarray, r_self: int, piece) -> int | None:
    cand = [
        q
        for q in shapely.STRtree(geoms).query(piece, predicate="intersects").tolist()
        if q != r_self and not shapely.is_empty(geoms[q])
    ]
    if not cand:
        return None
    shared = shapely.length(
        _overlay(
            shapely.intersection,
            shapely.boundary(geoms[cand]),
            shapely.boundary(piece),
            _GRID_SIZE,
        )
    )
    if shared.max() <= 0:
        return None
    return cand[int(np.argmax(shared))]


def _assemble(
    G: np.ndarray, region: np.ndarray, blk: np.ndarray, absorb: Sequence[int] = ()
) -> list:
    k = region.max() + 1
    # 1. per region and block: the cells of one block come from one Voronoi diagram and
    #    form a coverage, so the fast coverage union applies (plain union if not noded)
    nb = int(blk.max()) + 1 if len(blk) else 1
    key = region.astype(np.int64) * nb + blk
    uk, inv = np.unique(key, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uk) + 1))
    pieces = np.empty(len(uk), dtype=object)
    for q in range(len(uk)):
        members = G[order[bounds[q] : bounds[q + 1]]]
        if len(members) == 1:
            pieces[q] = members[0]
            continue
        pieces[q] = _union_all(members, coverage=True, grid_size=_GRID_SIZE)
    # 2. per region: snap rounding nodes edges that are equal only up to floating point
    #    (the two sides of a street clipped in different blocks); a plain union would
    #    leave cracks there
    geoms = _group_union(pieces, uk // nb, k, coverage=False, grid_size=_GRID_SIZE)
    # rare: a block-level union that came out not quite noded leaves a crack; redo those
    # regions from their cells in one snap-rounded union
    # regions, and snap rounding itself can split a region at a point, so try a few
    # precisions and keep the first that gives one polygon
    multi = np.flatnonzero(shapely.get_num_geometries(geoms) > 1)
    for gs in (_GRID_SIZE, None, 10 * _GRID_SIZE, 100 * _GRID_SIZE):
        if len(multi) == 0:
            break
        sel = np.isin(region, multi)
        redo = _group_union(G[sel], region[sel], k, coverage=False, grid_size=gs)
        one = shapely.get_num_geometries(redo[multi]) == 1
        geoms[multi[one]] = redo[multi[one]]
        multi = multi[~one]
    geoms = np.array([g if g is not None else shapely.Polygon() for g in geoms], dtype=object)
    # Slivers (< _SLIVER_M2) that share no boundary line with any grid are numerical
    # leftovers of the overlays: they are dropped, i.e. left as a (reported) gap, rather
    # than becoming a grid of their own or a detached part of one.
    for r in absorb:
        q = _best_neighbour(geoms, r, geoms[r])
        if q is not None:
            geoms[q] = _overlay(shapely.union, geoms[q], geoms[r], _GRID_SIZE)
            geoms[r] = shapely.Polygon()
        elif shapely.area(geoms[r]) < _SLIVER_M2:
            geoms[r] = shapely.Polygon()
    # move detached fragments to the neighbour sharing most boundary with them
    for _ in range(4):
        multi = np.flatnonzero(shapely.get_num_geometries(geoms) > 1)
        if len(multi) == 0:
            break
        for r in multi.tolist():
            parts = shapely.get_parts(geoms[r])
            main = int(np.argmax(shapely.area(parts)))
            geoms[r] = parts[main]
            for p_i, p in enumerate(parts):
                if p_i == main:
                    continue
                q = _best_neighbour(geoms, r, p)
                if q is None and shapely.area(p) < _SLIVER_M2:
                    continue
                if q is None:
                    geoms[r] = _overlay(shapely.union, geoms[r], p, _GRID_SIZE)
                else:
                    geoms[q] = _overlay(shapely.union, geoms[q], p, _GRID_SIZE)
    keep = ~shapely.is_empty(geoms)
    return list(geoms[keep])
