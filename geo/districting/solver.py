"""The proposer: :class:`GridProposer` runs the steps per community (in parallel when
large) and ranks the :class:`Proposal` s.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import check_metric_layers
from ..errors import InfeasiblePlanError, InvalidGeometryError, SchemaError
from ..geometry import polsby_popper
from ..overlay import code_rank, locate_points
from .cells import _Community, _prepare_graph
from .metrics import DEFAULT_BAND, _assign_buildings, _polygonal, proposal_metrics
from .partition import _solve_community

_PARALLEL_MIN_COST = 10_000  # buildings (or cells) below which n_jobs is ignored


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
        crank = code_rank(ccodes)  # a point on a shared edge: the lower community code
        lcomm = locate_points(shapely.point_on_surface(lgeoms), cgeoms, rank=crank)
        if len(lgeoms):
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
        bcomm = locate_points(rep, cgeoms, rank=crank)

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
