"""Buildings: households from the data, or estimated from footprint area × levels.

The estimate (documented, configurable through :class:`HouseholdRule`)::

    households = round(footprint_m2 × levels × residential_share(use) / m2_per_household)

- ``levels`` is the building's ``building:levels`` or, when absent, ``default_levels``;
- ``residential_share`` is looked up from the OSM ``building=*`` value
  (1.0 for apartments/houses, 0.5 for the unspecific ``yes`` in mixed city centres,
  0 for shops, offices, churches, garages...);
- footprints under ``min_footprint_m2`` (sheds, kiosks) hold none;
- a residential building big enough always holds at least one household.

Households given by the data (a ``households`` value, or OSM ``building:flats``) are kept
and flagged ``households_estimated = False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from .crs import check_metric

RESIDENTIAL_SHARE = {
    "apartments": 1.0,
    "residential": 1.0,
    "house": 1.0,
    "detached": 1.0,
    "semidetached_house": 1.0,
    "terrace": 1.0,
    "dormitory": 1.0,
    "bungalow": 1.0,
    "farm": 1.0,
    "yes": 0.5,
    "mixed": 0.5,
}


@dataclass(frozen=True)
class HouseholdRule:
    """How households are estimated where the data gives none.

    Attributes
    ----------
    m2_per_household
        Gross floor area per household, common parts included. 90 m² fits Chinese
        apartment blocks (about 2.6 residents each) and Nordic flats alike.
    default_levels
        Floors assumed when ``levels`` is unknown.
    min_footprint_m2
        Smaller footprints hold no households.
    residential_share
        Share of floor area lived in, by OSM ``building=*`` value; other values get
        ``other_share``.
    """

    m2_per_household: float = 90.0
    default_levels: float = 3.0
    min_footprint_m2: float = 30.0
    residential_share: dict[str, float] = field(default_factory=lambda: dict(RESIDENTIAL_SHARE))
    other_share: float = 0.0

    def __post_init__(self) -> None:
        if self.m2_per_household <= 0 or self.default_levels <= 0:
            raise ValueError("m2_per_household and default_levels must be positive")


def estimate_households(
    buildings: gpd.GeoDataFrame, *, rule: HouseholdRule | None = None
) -> gpd.GeoDataFrame:
    """Fill ``households`` where the data has none, by the area × levels rule.

    Parameters
    ----------
    buildings
        Footprints in a metric CRS, with ``use`` and ``levels`` columns and optionally
        ``households`` (NaN where unknown).
    rule
        The estimation rule; :class:`HouseholdRule` defaults when None.

    Returns
    -------
    A copy with integer ``households`` and boolean ``households_estimated``.
    """
    check_metric(buildings, what="buildings")
    rule = rule or HouseholdRule()
    out = buildings.copy()
    area = out.geometry.area.to_numpy()
    levels = pd.to_numeric(out.get("levels"), errors="coerce") if "levels" in out else None
    levels = (
        np.full(len(out), rule.default_levels)
        if levels is None
        else levels.fillna(rule.default_levels).clip(lower=1).to_numpy()
    )
    use = (
        out["use"].fillna("yes").astype(str) if "use" in out else pd.Series("yes", index=out.index)
    )
    share = use.map(rule.residential_share).fillna(rule.other_share).to_numpy(dtype="float64")
    estimate = np.rint(area * levels * share / rule.m2_per_household)
    estimate = np.where((share > 0) & (area >= rule.min_footprint_m2), np.maximum(estimate, 1), 0)
    estimate = np.where(area < rule.min_footprint_m2, 0, estimate)
    given = (
        pd.to_numeric(out["households"], errors="coerce").to_numpy(dtype="float64")
        if "households" in out
        else np.full(len(out), np.nan)
    )
    has_given = ~np.isnan(given)
    out["households"] = np.where(has_given, given, estimate).astype("int64")
    out["households_estimated"] = ~has_given
    return out
