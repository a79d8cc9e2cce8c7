"""Hot spots: Getis-Ord Gi* per grid or on square cells, and kernel density.

Gi* comes from esda (with libpysal weights): permutation p-values, then the
false-discovery-rate cut-off (``esda.fdr``) over all units so that hundreds of grids
tested at once do not make spurious hot spots. The density surface is a Gaussian kernel
estimate on a raster: binned counts smoothed with ``scipy.ndimage.gaussian_filter``
(exact up to the binning, and linear in the number of cells, not points).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from .crs import check_metric, check_same_crs
from .errors import SchemaError
from .overlay import code_rank, locate_points


def filter_incidents(
    incidents: pd.DataFrame,
    *,
    hours: tuple[int, int] | None = None,
    weekdays: list[int] | None = None,
    categories: list[str] | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Incidents reported in a time-of-day window, on given weekdays, of given categories.

    Parameters
    ----------
    incidents
        With ``reported_at`` (timezone-aware) and ``category``.
    hours
        (from, to) local hours, to exclusive; (22, 6) wraps past midnight.
    weekdays
        0 = Monday ... 6 = Sunday, local time.
    categories
        Category keys to keep.
    start, end
        Date range, end exclusive.
    tz
        Time zone of ``hours`` and ``weekdays`` (the project's local time).
    """
    keep = np.ones(len(incidents), dtype=bool)
    t = pd.to_datetime(incidents["reported_at"], utc=True)
    local = t.dt.tz_convert(tz)
    if hours is not None:
        h0, h1 = hours
        if not (0 <= h0 <= 24 and 0 <= h1 <= 24):
            raise SchemaError(f"hours {hours} must be between 0 and 24")
        h = local.dt.hour.to_numpy()
        keep &= (h >= h0) & (h < h1) if h0 <= h1 else (h >= h0) | (h < h1)
    if weekdays is not None:
        keep &= local.dt.weekday.isin(weekdays).to_numpy()
    if categories is not None:
        keep &= incidents["category"].isin(categories).to_numpy()
    if start is not None:
        keep &= (
            t >= pd.Timestamp(start).tz_convert("UTC")
            if pd.Timestamp(start).tzinfo
            else t >= pd.Timestamp(start, tz=tz)
        ).to_numpy()
    if end is not None:
        keep &= (
            t < pd.Timestamp(end).tz_convert("UTC")
            if pd.Timestamp(end).tzinfo
            else t < pd.Timestamp(end, tz=tz)
        ).to_numpy()
    return incidents[keep]


def square_cells(bounds, *, cell_size: float, crs) -> gpd.GeoDataFrame:
    """A regular layer of square cells covering ``bounds`` (metric CRS)."""
    if cell_size <= 0:
        raise SchemaError("cell_size must be positive")
    minx, miny, maxx, maxy = bounds
    xs = np.arange(minx, maxx + 1e-9, cell_size)
    ys = np.arange(miny, maxy + 1e-9, cell_size)
    if len(xs) * len(ys) > 2_000_000:
        raise SchemaError(f"{len(xs) * len(ys)} cells is too many: use a larger cell_size")
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cell_size, gy.ravel() + cell_size)
    return gpd.GeoDataFrame(
        {"cell": [f"c{i % len(xs)}_{i // len(xs)}" for i in range(gx.size)]},
        geometry=boxes,
        crs=crs,
    )


def count_points(units: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> np.ndarray:
    """Points falling in each unit: :func:`gridpatrol.geo.overlay.locate_points` (a point
    on a shared edge counts once, for the lower code when units have ``code``, else for
    the unit listed first)."""
    check_same_crs(units, points, names=("units", "points"))
    rank = code_rank(units["code"]) if "code" in units.columns else None
    at = locate_points(points.geometry, units.geometry, rank=rank)
    return np.bincount(at[at >= 0], minlength=len(units)).astype(float)


@dataclass
class HotSpots:
    """Gi* per unit: z-scores, permutation p-values and the FDR-controlled class."""

    units: gpd.GeoDataFrame  # input units + count, gi_z, p_sim, hotspot
    fdr_threshold: float
    alpha: float

    def to_frame(self) -> gpd.GeoDataFrame:
        return self.units


def gi_star(
    units: gpd.GeoDataFrame,
    counts: np.ndarray,
    *,
    weights: str = "queen",
    distance: float | None = None,
    permutations: int = 999,
    alpha: float = 0.05,
    seed: int = 0,
) -> HotSpots:
    """Getis-Ord Gi* hot and cold spots with FDR control.

    Parameters
    ----------
    units
        Grids or cells in a metric CRS.
    counts
        Incidents per unit (or rates).
    weights
        ``queen`` (shared edge or corner) or ``distance`` (centroids within ``distance`` m).
    permutations
        Conditional permutations for the pseudo p-values.
    alpha
        False discovery rate.
    seed
        Makes the permutations reproducible.

    Returns
    -------
    HotSpots with ``hotspot`` = ``hot``, ``cold`` or ``none`` per unit.
    """
    import esda
    from libpysal import weights as lw

    check_metric(units, what="hot-spot units")
    y = np.asarray(counts, dtype=float)
    if len(y) != len(units):
        raise SchemaError("counts must have one value per unit")
    if len(units) < 3:
        raise SchemaError("Gi* needs at least 3 units")
    frame = units.reset_index(drop=True)
    if weights == "queen":
        w = lw.Queen.from_dataframe(frame, use_index=False, silence_warnings=True)
    elif weights == "distance":
        if distance is None:
            raise SchemaError("distance weights need a distance in metres")
        w = lw.DistanceBand.from_dataframe(
            frame.set_geometry(frame.centroid),
            threshold=distance,
            binary=True,
            silence_warnings=True,
        )
    else:
        raise SchemaError(f"weights must be 'queen' or 'distance', not {weights!r}")
    out = frame.copy()
    out["count"] = y
    if np.allclose(y, y[0]):
        out["gi_z"], out["p_sim"], out["hotspot"] = 0.0, 1.0, "none"
        return HotSpots(out, 0.0, alpha)
    with warnings.catch_warnings():
        # G_Local does not expose crand's 'alternative'; it returns the folded (directed)
        # p-value, which we double below for a two-sided test of "hot or cold".
        warnings.filterwarnings(
            "ignore", message="The alternative hypothesis", category=DeprecationWarning
        )
        # A unit whose neighbourhood is every unit (tiny layers) has no variance: its z is
        # NaN, and it is simply not significant.
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="esda")
        # islands (a grid touching no other) are legitimate here: Gi* counts them alone
        warnings.filterwarnings("ignore", message=".*not fully connected.*")
        warnings.filterwarnings("ignore", message=".*islands.*")
        # Binary weights with the unit itself included: the textbook Gi*.
        g = esda.G_Local(
            y, w, transform="B", star=True, permutations=permutations, seed=seed, n_jobs=1
        )
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float), nan=0.0)
    p_two = np.where(np.isnan(g.Zs), 1.0, np.minimum(1.0, 2.0 * np.asarray(g.p_sim)))
    threshold = float(esda.fdr(p_two, alpha))
    significant = p_two <= threshold
    out["gi_z"] = z
    out["p_sim"] = p_two
    # p_sim is folded towards the side of the permutation mean the observation lies on
    # (the sign of z_sim); the analytical Zs can point the other way for small counts. A
    # unit is hot or cold only when both agree, so a tiny z never comes with a tiny p.
    z_sim = np.nan_to_num(np.asarray(g.z_sim, dtype=float), nan=0.0)
    agree = np.sign(z) == np.sign(z_sim)
    out["hotspot"] = np.where(
        significant & agree & (z > 0),
        "hot",
        np.where(significant & agree & (z < 0), "cold", "none"),
    )
    return HotSpots(out, threshold, alpha)


def hot_spots(
    units: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame,
    *,
    permutations: int = 999,
    alpha: float = 0.05,
    seed: int = 0,
) -> HotSpots:
    """The one hot-spot pipeline: points counted per unit (:func:`count_points`), then
    :func:`gi_star` on the counts. The API, the incident map and patrol planning call it.

    Parameters
    ----------
    units
        Grids or cells in a metric CRS (at least 3).
    points
        Incidents in the units' CRS (reproject first); none at all gives all zeros.
    permutations, alpha, seed
        As :func:`gi_star` (queen contiguity weights).
    """
    counts = count_points(units, points) if len(points) else np.zeros(len(units))
    return gi_star(units, counts, permutations=permutations, alpha=alpha, seed=seed)


@dataclass
class DensitySurface:
    """Kernel density on a raster: ``values[row, col]`` in incidents per km²."""

    values: np.ndarray
    origin: tuple[float, float]  # (min x, max y) of the top-left cell
    cell_size: float
    crs: object

    def to_cells(self, *, min_share: float = 0.05) -> gpd.GeoDataFrame:
        """Cells above ``min_share`` of the peak, as polygons with their density."""
        peak = self.values.max() if self.values.size else 0.0
        rows, cols = np.nonzero(self.values > peak * min_share) if peak > 0 else ([], [])
        x0 = self.origin[0] + np.asarray(cols) * self.cell_size
        y1 = self.origin[1] - np.asarray(rows) * self.cell_size
        return gpd.GeoDataFrame(
            {"density": self.values[rows, cols] if len(rows) else []},
            geometry=shapely.box(x0, y1 - self.cell_size, x0 + self.cell_size, y1),
            crs=self.crs,
        )


def kernel_density(
    points: gpd.GeoDataFrame,
    *,
    bandwidth: float = 150.0,
    cell_size: float = 25.0,
    bounds: tuple[float, float, float, float] | None = None,
) -> DensitySurface:
    """Gaussian kernel density of ``points`` (metric CRS).

    Parameters
    ----------
    bandwidth
        Standard deviation of the Gaussian kernel, metres.
    cell_size
        Raster resolution, metres.
    bounds
        Area to cover; the points' bounds grown by 3 bandwidths when None.
    """
    check_metric(points, what="incidents")
    if bandwidth <= 0 or cell_size <= 0:
        raise SchemaError("bandwidth and cell_size must be positive")
    x = shapely.get_x(points.geometry.values)
    y = shapely.get_y(points.geometry.values)
    if bounds is None:
        if len(points) == 0:
            raise SchemaError("no points and no bounds: nothing to estimate")
        pad = 3 * bandwidth
        bounds = (x.min() - pad, y.min() - pad, x.max() + pad, y.max() + pad)
    minx, miny, maxx, maxy = bounds
    ncols = max(int(np.ceil((maxx - minx) / cell_size)), 1)
    nrows = max(int(np.ceil((maxy - miny) / cell_size)), 1)
    if ncols * nrows > 25_000_000:
        raise SchemaError("the density raster would be too large: use a larger cell_size")
    hist, _, _ = np.histogram2d(
        maxy - y,
        x - minx,
        bins=(nrows, ncols),
        range=((0, nrows * cell_size), (0, ncols * cell_size)),
    )
    smooth = ndimage.gaussian_filter(hist, sigma=bandwidth / cell_size, mode="constant")
    per_km2 = smooth / (cell_size * cell_size) * 1e6
    return DensitySurface(per_km2, (minx, maxy), cell_size, points.crs)
