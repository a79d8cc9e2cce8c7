"""Where to add cameras: a maximal covering location model over street demand.

Demand: the streets are cut into pieces of about ``unit_m`` metres; a piece is a demand
point (its midpoint) worth its length, times ``1 + incidents near it / mean incidents
per piece`` when incidents are given. Pieces the existing cameras already see are worth
nothing (existing cameras are fixed).

Candidates: points along the streets every ``spacing_m`` metres, and the nearest
building wall to each of them (a camera on the wall, just outside it), each with a dome
camera of the given range; their fields of view are real visibility polygons.

Model (MCLP, Church & ReVelle 1974): choose ``n`` candidates maximising the weight of
demand points seen by at least one of them. Small cases are solved exactly with
scipy's HiGHS MILP (``scipy.optimize.milp``, already a dependency; spopt's MCLP would
pull PuLP and the PySAL stack for the same model); large ones, or a MILP that runs out
of time, use the greedy method (a (1 - 1/e) approximation), and the better of the two
answers is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .cameras import RANGE_DEFAULT_M, fields_of_view, move_off_walls
from .coverage import _geoms, dedupe_streets, seen_length
from .crs import check_metric, check_same_crs
from .errors import SchemaError


@dataclass
class SitingResult:
    """Suggested cameras and what they add.

    ``sites`` holds one row per suggestion in the order of what it adds (largest first):
    ``kind`` (street or wall), ``added_street_m`` (street length it newly sees given the
    existing cameras and the suggestions before it), ``added_weight``,
    ``street_share_after`` (cumulative), and its field of view as ``view``.
    """

    sites: gpd.GeoDataFrame
    street_m: float
    seen_before_m: float
    seen_after_m: float
    method: str
    candidates: int
    demand_points: int

    @property
    def share_before(self) -> float:
        return self.seen_before_m / self.street_m if self.street_m else 0.0

    @property
    def share_after(self) -> float:
        return self.seen_after_m / self.street_m if self.street_m else 0.0

    def summary(self) -> dict:
        """Plain numbers for a report."""
        return {
            "suggested": int(len(self.sites)),
            "street_m": round(self.street_m, 1),
            "seen_before_m": round(self.seen_before_m, 1),
            "seen_after_m": round(self.seen_after_m, 1),
            "street_share_before": round(self.share_before, 4),
            "street_share_after": round(self.share_after, 4),
            "added_street_m": round(self.seen_after_m - self.seen_before_m, 1),
            "method": self.method,
            "candidates": self.candidates,
            "demand_points": self.demand_points,
        }


def candidate_sites(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    spacing_m: float = 25.0,
    wall_within_m: float = 15.0,
    range_m: float = RANGE_DEFAULT_M,
) -> gpd.GeoDataFrame:
    """Candidate camera positions: street points and the nearest building walls.

    Returns points (same CRS) with ``kind`` ("street" or "wall") and the camera model's
    columns for a dome camera that looks all the way round out to ``range_m``.
    """
    check_metric(streets, what="streets")
    lines = _geoms(dedupe_streets(streets))
    length = shapely.length(lines)
    k = np.maximum(1, np.ceil(length / spacing_m).astype(int))
    li = np.repeat(np.arange(len(lines)), k)
    j = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    pts = shapely.line_interpolate_point(lines[li], (j + 0.5) / k[li], normalized=True)
    # one point per spot where street ends meet
    xy = np.round(shapely.get_coordinates(pts), 1)
    _, first = np.unique(xy, axis=0, return_index=True)
    pts = pts[np.sort(first)]
    geoms, kinds = [pts], [np.full(len(pts), "street")]
    if buildings is not None and len(buildings):
        check_same_crs(streets, buildings, names=("streets", "buildings"))
        bgeo = _geoms(buildings)
        pi, bi = shapely.STRtree(bgeo).query_nearest(
            pts, max_distance=wall_within_m, all_matches=False
        )
        if len(pi):
            wall = shapely.get_point(shapely.shortest_line(pts[pi], bgeo[bi]), 1)
            wx, wy = shapely.get_x(wall), shapely.get_y(wall)
            # step off the wall towards the street
            dx, dy = shapely.get_x(pts[pi]) - wx, shapely.get_y(pts[pi]) - wy
            d = np.maximum(np.hypot(dx, dy), 1e-9)
            wall = shapely.points(wx + dx / d * 0.3, wy + dy / d * 0.3)
            xs, ys, _ = move_off_walls(shapely.get_x(wall), shapely.get_y(wall), bgeo)
            geoms.append(shapely.points(xs, ys))
            kinds.append(np.full(len(pi), "wall"))
    geom = np.concatenate(geoms)
    n = len(geom)
    return gpd.GeoDataFrame(
        {
            "source_id": [f"site:{i}" for i in range(n)],
            "kind": np.concatenate(kinds),
            "direction": np.full(n, np.nan),
            "fov": np.full(n, 360.0),
            "range_m": np.full(n, float(range_m)),
            "height_m": np.full(n, 4.0),
            "tilt": np.full(n, np.nan),
            "camera_type": "dome",
            "rotating": True,
        },
        geometry=geom,
        crs=streets.crs,
    )


def demand_points(
    streets: gpd.GeoDataFrame,
    *,
    unit_m: float = 10.0,
    incidents: gpd.GeoDataFrame | None = None,
    near_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """Street pieces of about ``unit_m`` as weighted points (see the module docstring)."""
    lines = _geoms(dedupe_streets(streets))
    length = shapely.length(lines)
    k = np.maximum(1, np.ceil(length / unit_m).astype(int))
    li = np.repeat(np.arange(len(lines)), k)
    j = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    pts = shapely.line_interpolate_point(lines[li], (j + 0.5) / k[li], normalized=True)
    piece = length[li] / k[li]
    weight = piece.copy()
    if incidents is not None and len(incidents):
        check_same_crs(streets, incidents, names=("streets", "incidents"))
        pi, _ = shapely.STRtree(_geoms(incidents)).query(pts, predicate="dwithin", distance=near_m)
        near = np.bincount(pi, minlength=len(pts)).astype(float)
        if near.mean() > 0:
            weight = piece * (1.0 + near / near.mean())
    return gpd.GeoDataFrame(
        {"street": li, "length_m": piece, "weight": weight}, geometry=pts, crs=streets.crs
    )


def _greedy(cover: sparse.csr_matrix, w: np.ndarray, n: int) -> list[int]:
    """Pick ``n`` rows of ``cover`` (candidate x demand), each adding the most weight."""
    w = w.copy()
    csc = cover.tocsc()
    gains = cover @ w
    chosen: list[int] = []
    for _ in range(min(n, cover.shape[0])):
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        cols = cover.indices[cover.indptr[best] : cover.indptr[best + 1]]
        cols = cols[w[cols] > 0]
        gains -= csc[:, cols] @ w[cols]
        w[cols] = 0.0
        gains[best] = -1.0
    return chosen


def _milp(cover: sparse.csr_matrix, w: np.ndarray, n: int, time_limit: float) -> list[int] | None:
    from scipy.optimize import Bounds, LinearConstraint, milp

    nc, nd = cover.shape
    # variables: x (candidates, binary) then y (demand, in [0, 1]); max w.y
    c = np.concatenate([np.zeros(nc), -w])
    link = sparse.hstack([-cover.T.tocsr(), sparse.identity(nd, format="csr")])  # y - sum x <= 0
    budget = sparse.hstack([sparse.csr_matrix(np.ones((1, nc))), sparse.csr_matrix((1, nd))])
    res = milp(
        c,
        constraints=[
            LinearConstraint(link, -np.inf, 0.0),
            LinearConstraint(budget, 0, n),
        ],
        integrality=np.concatenate([np.ones(nc), np.zeros(nd)]),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit, "disp": False},
    )
    if res.x is None:
        return None
    return [int(i) for i in np.flatnonzero(res.x[:nc] > 0.5)]


def suggest_sites(
    views: gpd.GeoDataFrame | gpd.GeoSeries,
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    n: int = 10,
    *,
    incidents: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    unit_m: float = 10.0,
    spacing_m: float = 25.0,
    range_m: float = RANGE_DEFAULT_M,
    method: str = "auto",
    exact_max_pairs: int = 200_000,
    time_limit_s: float = 20.0,
    step_deg: float = 2.0,
) -> SitingResult:
    """Suggest ``n`` new camera positions that add the most seen street length.

    Parameters
    ----------
    views
        Fields of view of the existing cameras (fixed); may be empty.
    streets
        Street segments (metric CRS).
    buildings
        Footprints: they block the candidates' views and hold the wall candidates.
    n
        Cameras to add.
    incidents
        Incident points; demand near them weighs more.
    candidates
        Candidate cameras (points with camera columns); default :func:`candidate_sites`.
    unit_m
        Length of a demand piece.
    spacing_m, range_m
        Passed to :func:`candidate_sites`.
    method
        ``"exact"`` (MILP), ``"greedy"`` or ``"auto"`` (exact when the coverage matrix
        has at most ``exact_max_pairs`` entries).
    time_limit_s
        Time limit of the MILP; on time-out its best answer competes with greedy's.
    step_deg
        Ray spacing of the candidates' views (coarser than the existing cameras' by
        default: there are many candidates, and the gains are re-measured exactly).

    Returns
    -------
    SitingResult
    """
    if n < 0:
        raise SchemaError(f"n={n}: ask for zero or more cameras")
    if method not in ("auto", "exact", "greedy"):
        raise SchemaError(f"method={method!r}: use 'auto', 'exact' or 'greedy'")
    check_metric(streets, what="streets")
    vseries = views.geometry if isinstance(views, gpd.GeoDataFrame) else views
    if len(vseries):
        check_same_crs(streets, gpd.GeoDataFrame(geometry=vseries), names=("streets", "views"))
    if candidates is None:
        candidates = candidate_sites(streets, buildings, spacing_m=spacing_m, range_m=range_m)
    cand_views = fields_of_view(candidates, buildings, step_deg=step_deg)
    demand = demand_points(streets, unit_m=unit_m, incidents=incidents)
    dgeo = _geoms(demand)
    existing = _geoms(vseries)
    existing = existing[~shapely.is_empty(existing)] if len(existing) else existing
    seen = np.zeros(len(dgeo), bool)
    if len(existing):
        di, _ = shapely.STRtree(existing).query(dgeo, predicate="within")
        seen[di] = True
    w = np.where(seen, 0.0, demand["weight"].to_numpy())
    cgeo = _geoms(cand_views)
    ci, di = shapely.STRtree(dgeo).query(cgeo, predicate="contains")
    cover = sparse.csr_matrix((np.ones(len(ci)), (ci, di)), shape=(len(cgeo), len(dgeo)))
    cover.data[:] = 1.0
    chosen = _greedy(cover, w, n)
    used = "greedy"
    want_exact = method == "exact" or (method == "auto" and cover.nnz <= exact_max_pairs)
    if want_exact and n > 0 and cover.nnz:
        # only candidates that see unseen demand matter
        useful = np.flatnonzero(cover @ (w > 0))
        sub = cover[useful]
        exact = _milp(sub, w, n, time_limit_s)
        if exact is not None:
            exact = [int(useful[i]) for i in exact]
            if _covered(cover, exact, w) >= _covered(cover, chosen, w) - 1e-9:
                chosen, used = exact, "exact"
    chosen = _order(cover, chosen, w)

    lines = _geoms(dedupe_streets(streets))
    total = float(shapely.length(lines).sum())
    seen_now = seen_length(lines, existing) if len(existing) else np.zeros(len(lines))
    before = float(seen_now.sum())
    line_tree = shapely.STRtree(lines)
    rows, acc = [], list(existing)
    for i in chosen:
        # only the streets this view touches can change
        acc.append(cgeo[i])
        hit = line_tree.query(cgeo[i], predicate="intersects")
        new = seen_length(lines[hit], np.asarray(acc, dtype=object))
        gain = float(new.sum() - seen_now[hit].sum())
        seen_now[hit] = new
        rows.append((i, gain, float(seen_now.sum())))
    after = float(seen_now.sum())
    weights_added = _marginals(cover, chosen, w)
    sites = candidates.iloc[[r[0] for r in rows]].copy()
    sites["added_street_m"] = [r[1] for r in rows]
    sites["added_weight"] = weights_added
    sites["street_share_after"] = [r[2] / total if total else 0.0 for r in rows]
    sites["view"] = gpd.GeoSeries(cgeo[[r[0] for r in rows]], crs=streets.crs).values
    sites["rank"] = np.arange(1, len(sites) + 1)
    return SitingResult(
        sites=sites.reset_index(drop=True),
        street_m=total,
        seen_before_m=before,
        seen_after_m=after,
        method=used,
        candidates=len(candidates),
        demand_points=len(demand),
    )


def _covered(cover: sparse.csr_matrix, chosen: list[int], w: np.ndarray) -> float:
    if not chosen:
        return 0.0
    hit = np.asarray(cover[chosen].sum(axis=0)).ravel() > 0
    return float(w[hit].sum())


def _order(cover: sparse.csr_matrix, chosen: list[int], w: np.ndarray) -> list[int]:
    """The chosen sites, each next one the one adding the most to those before."""
    sub = cover[chosen]
    picked = _greedy(sub, w, len(chosen))
    rest = [i for i in range(len(chosen)) if i not in picked]
    return [chosen[i] for i in picked + rest]


def _marginals(cover: sparse.csr_matrix, chosen: list[int], w: np.ndarray) -> list[float]:
    w = w.copy()
    out = []
    for i in chosen:
        cols = cover.indices[cover.indptr[i] : cover.indptr[i + 1]]
        out.append(float(w[cols].sum()))
        w[cols] = 0.0
    return out


def sites_table(result: SitingResult) -> pd.DataFrame:
    """The suggestions as a plain table (no geometry columns) for reports."""
    return pd.DataFrame(result.sites.drop(columns=["geometry", "view"]))
