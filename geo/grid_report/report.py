"""Assembly of the grid report: :func:`validate_grids` and :func:`validate_grid`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import SchemaError
from ..geometry import POLYGONAL, check_geometries, polsby_popper
from .checks import _buildings, _coverage, _gaps, _shapes
from .inputs import _check_layers, _check_options, _codes, _geoms, _Names, _numbers, _require
from .metrics import _boundary_shares, _counted_incidents, _incidents, _summary
from .results import PROBLEM_KINDS, GridReport, Problem
from .walk import _TOUR_MARGIN_M, TOUR_COLUMNS, _Network, _tour_columns

_LINEAR_NAMES = ("LineString", "MultiLineString")


def validate_grids(
    grids: gpd.GeoDataFrame,
    *,
    communities: gpd.GeoDataFrame | None = None,
    parents: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    water: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    incident_counts: pd.DataFrame | None = None,
    band: tuple[float, float] = (300, 500),
    walk_speed_kmh: float = 4.0,
    patrols_per_day: float = 2,
    months: float | None = None,
    tolerance_m2: float = 1.0,
    boundary_buffer_m: float = 5.0,
    walk_tours: bool = True,
    exempt_band_kinds: Sequence[str] = ("dedicated",),
) -> GridReport:
    """Check a grid layer against its communities and report problems and metrics.

    The same rules check sub-grids against their grids: pass the sub-grids (``level ==
    "subgrid"``, ``parent_code`` = a grid code) as ``grids`` and their grids as
    ``parents``, usually with a smaller ``band``. Gaps are then parts of a parent grid
    covered by no sub-grid, ``crosses_parent`` a sub-grid leaving its grid, and so on; the
    messages say "sub-grid" and "grid", and each :class:`Problem` carries the ``level`` of
    the grids it is about. A grid need not be divided: a parent grid without sub-grids is
    not a gap (a community without grids still is).

    Dedicated grids (``kind == "dedicated"``: campuses, parks, markets ...) get every
    geometric check but are exempt from the household band (``exempt_band_kinds``).

    Parameters
    ----------
    grids
        Grid (or sub-grid) polygons with ``code`` and ``parent_code`` (the community
        code, or the grid code of a sub-grid), and optionally ``households`` (used when
        ``buildings`` is not given), ``level`` (``grid`` or ``subgrid``; default
        ``grid``) and ``kind`` (``comprehensive``, ``dedicated``, ``police_beat``;
        default ``comprehensive``). Several parents at once.
    communities
        Community polygons with ``code``. Every community given is checked for gaps, so a
        community without grids is reported as one gap.
    parents
        Instead of ``communities`` (give exactly one of the two): any parent polygons with
        ``code``, e.g. the grids of sub-grids. An optional ``level`` column names them in
        messages; without it they are "grid" when every row of ``grids`` is a sub-grid,
        else "community". Parents at grid level without children are not gaps.
    buildings
        Footprints with ``households`` (and ``source_id`` to name them in messages). Each
        building counts for the grid holding the largest part of its footprint.
    streets
        Walk-network edges (LineStrings) with ``u``, ``v``, ``length_m`` as in the
        ``streets`` layer; without ``u``/``v`` the line ends are the nodes. A two-way street
        stored as two opposite edges counts once.
    water
        Rivers, canals, lakes (lines or polygons), for ``water_share``.
    incidents
        Incident points with ``reported_at``.
    incident_counts
        Instead of ``incidents`` (give at most one), the incidents already counted per
        grid, e.g. by the store's ``GROUP BY``: ``grid_code`` and ``count``, and ``first``
        and ``last`` (earliest and latest report) unless ``months`` is given. Rows may
        repeat a code (they are added up); counts under codes that are not among
        ``grids`` (``""``: unassigned) are the summary's ``unassigned_incidents``. The
        counts must follow this report's rule (a point belongs to the lowest code of the
        grids covering it, :class:`~gridpatrol.geo.assignment.GridIndex`), so the metrics
        are those ``incidents`` would give.
    band
        Wanted (low, high) households per grid, inclusive.
    walk_speed_kmh
        Walking speed of a grid worker.
    patrols_per_day
        Patrols a day, each covering every street of the grid once.
    months
        Length of the period the incidents cover; None uses the span between the first and
        last report (at least one month).
    tolerance_m2
        Gaps, overlaps, outside parts and building pieces up to this area are noise and
        not reported.
    boundary_buffer_m
        A grid boundary runs along a street or water within this distance; streets whose
        midpoint lies within it of a grid are that grid's streets.
    walk_tours
        Compute the walk tour of every grid (the costly part). False leaves those columns
        NaN.
    exempt_band_kinds
        Grids of these ``kind`` are not checked against ``band`` (and left out of
        ``share_in_band``); all other checks apply to them.

    Returns
    -------
    GridReport

    Raises
    ------
    CRSError
        A layer has no CRS, a geographic one or one not in metres, or the layers differ.
    SchemaError
        A required column is missing, codes are missing or repeated, an option is out of
        range.
    InvalidGeometryError
        A geometry is missing, empty, invalid or of the wrong type.
    """
    parent_layer = _one_parent_layer(communities, parents)
    return _validate(
        grids,
        communities=parent_layer,
        parents_alias=parents is not None,
        exempt_band_kinds=exempt_band_kinds,
        buildings=buildings,
        streets=streets,
        water=water,
        incidents=incidents,
        incident_counts=incident_counts,
        band=band,
        walk_speed_kmh=walk_speed_kmh,
        patrols_per_day=patrols_per_day,
        months=months,
        tolerance_m2=tolerance_m2,
        boundary_buffer_m=boundary_buffer_m,
        walk_tours=walk_tours,
        focus=None,
    )


def validate_grid(
    grid: Any,
    *,
    community: gpd.GeoDataFrame | None = None,
    parent: gpd.GeoDataFrame | None = None,
    others: gpd.GeoDataFrame | None = None,
    code: str | None = None,
    level: str | None = None,
    kind: str | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    water: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    band: tuple[float, float] = (300, 500),
    walk_speed_kmh: float = 4.0,
    patrols_per_day: float = 2,
    months: float | None = None,
    tolerance_m2: float = 1.0,
    boundary_buffer_m: float = 5.0,
    walk_tours: bool = True,
    exempt_band_kinds: Sequence[str] = ("dedicated",),
) -> GridReport:
    """Check one draft grid (or sub-grid) while the planner draws it.

    The draft is checked together with the other grids of its community; the report
    keeps only the problems that involve the draft (gaps are kept when they touch it) and
    its metrics row. District-wide context layers may be passed as they are: only the
    features within 250 m of the community's bounding box are used (so pass ``months``
    when the incidents' own span should not decide the rate).

    Parameters
    ----------
    grid
        The draft: a Polygon/MultiPolygon in the CRS of ``community``, or a one-row
        GeoDataFrame / GeoSeries (whose CRS is checked).
    community
        The one community the draft belongs to, with ``code``.
    parent
        Instead of ``community`` (give exactly one): the one parent of any level, e.g. the
        grid a draft sub-grid belongs to.
    others
        The other grids of that community (``code``; ``parent_code`` defaults to the
        community's). A grid with the draft's code is replaced by the draft.
    code
        The draft's code; defaults to the ``code`` of a one-row GeoDataFrame, else
        ``"draft"``.
    level, kind
        The draft's ``level`` and ``kind``; default to those of a one-row GeoDataFrame,
        else ``"grid"`` and ``"comprehensive"``.
    buildings, streets, water, incidents, band, walk_speed_kmh, patrols_per_day, months,
    tolerance_m2, boundary_buffer_m, walk_tours, exempt_band_kinds
        As in :func:`validate_grids`; the walk tour is computed for the draft only.

    Returns
    -------
    GridReport
    """
    what = "community" if parent is None else "parent"
    community = _one_parent_layer(community, parent, singular=True)
    if not isinstance(community, gpd.GeoDataFrame):
        raise SchemaError(f"{what} must be a one-row GeoDataFrame, not {type(community).__name__}")
    if len(community) != 1:
        raise SchemaError(f"{what} must have exactly one row, not {len(community)}")
    _require(community, what, ["code"])
    parent_code = str(community["code"].iloc[0])
    if isinstance(grid, gpd.GeoDataFrame):
        if len(grid) != 1:
            raise SchemaError(f"grid must be one geometry or a one-row layer, not {len(grid)} rows")
        if code is None and "code" in grid.columns:
            code = str(grid["code"].iloc[0])
        if level is None and "level" in grid.columns and pd.notna(grid["level"].iloc[0]):
            level = str(grid["level"].iloc[0])
        if kind is None and "kind" in grid.columns and pd.notna(grid["kind"].iloc[0]):
            kind = str(grid["kind"].iloc[0])
        crs, geom = grid.crs, grid.geometry.iloc[0]
    elif isinstance(grid, gpd.GeoSeries):
        if len(grid) != 1:
            raise SchemaError(f"grid must be one geometry, not {len(grid)}")
        crs, geom = grid.crs, grid.iloc[0]
    elif isinstance(grid, shapely.Geometry):
        crs, geom = community.crs, grid
    else:
        raise SchemaError(
            f"grid must be a shapely geometry or a one-row GeoDataFrame, not {type(grid).__name__}"
        )
    code = "draft" if code is None else str(code)
    draft = gpd.GeoDataFrame(
        {
            "code": [code],
            "parent_code": [parent_code],
            "level": [level or "grid"],
            "kind": [kind or "comprehensive"],
        },
        geometry=[geom],
        crs=crs,
    )
    if others is not None and len(others):
        _check_layers({"grid": draft, "others": others})
        _require(others, "others", ["code"])
        rest = others[others["code"].astype(str) != code]
        rest = gpd.GeoDataFrame(
            {
                "code": rest["code"].astype(str).to_numpy(),
                "parent_code": (
                    rest["parent_code"].astype(str).to_numpy()
                    if "parent_code" in rest.columns
                    else parent_code
                ),
                "level": rest["level"].to_numpy() if "level" in rest.columns else level or "grid",
                "kind": rest["kind"].to_numpy() if "kind" in rest.columns else "comprehensive",
            },
            geometry=rest.geometry.values,
            crs=others.crs,
        )
        layer = pd.concat([draft, rest], ignore_index=True)
        layer = gpd.GeoDataFrame(layer, geometry="geometry", crs=crs)
    else:
        layer = draft
    context = {"buildings": buildings, "streets": streets, "water": water, "incidents": incidents}
    _check_layers({"grid": layer, "community": community, **context})
    if not shapely.is_missing(geom) and not shapely.is_empty(geom):
        # only what is around the community matters: drop the rest of a district-wide layer
        window = shapely.buffer(
            shapely.envelope(shapely.union(community.geometry.iloc[0], geom)), _TOUR_MARGIN_M
        )
        context = {k: _around(v, window) for k, v in context.items()}
    return _validate(
        layer,
        communities=community,
        parents_alias=what == "parent",
        exempt_band_kinds=exempt_band_kinds,
        **context,
        incident_counts=None,
        band=band,
        walk_speed_kmh=walk_speed_kmh,
        patrols_per_day=patrols_per_day,
        months=months,
        tolerance_m2=tolerance_m2,
        boundary_buffer_m=boundary_buffer_m,
        walk_tours=walk_tours,
        focus=code,
    )


def _one_parent_layer(communities: Any, parents: Any, *, singular: bool = False) -> Any:
    """The parent layer given as ``communities`` or its alias ``parents`` (exactly one)."""
    names = ("community", "parent") if singular else ("communities", "parents")
    if communities is not None and parents is not None:
        raise SchemaError(f"give {names[0]} or {names[1]}, not both: {names[1]} is an alias")
    if communities is None and parents is None:
        raise SchemaError(
            f"{names[0]} (or {names[1]}) is required: grids are checked against their parents"
        )
    return communities if communities is not None else parents


def _labels_or(layer: pd.DataFrame, column: str, default: str) -> np.ndarray:
    """A text column as an object array, ``default`` where absent or missing."""
    if column not in layer.columns:
        return np.full(len(layer), default, dtype=object)
    values = layer[column].astype(object).where(layer[column].notna(), default)
    values = values.astype(str).str.strip().replace("", default)
    return values.to_numpy(dtype=object)


def _around(layer: Any, window: Any) -> Any:
    if layer is None:
        return None
    geoms = _geoms(layer)
    near = shapely.intersects(geoms, window) | shapely.is_missing(
        geoms
    )  # keep bad rows: they raise
    return layer[near]


def _validate(
    grids,
    *,
    communities,
    parents_alias,
    exempt_band_kinds,
    buildings,
    streets,
    water,
    incidents,
    incident_counts,
    band,
    walk_speed_kmh,
    patrols_per_day,
    months,
    tolerance_m2,
    boundary_buffer_m,
    walk_tours,
    focus,
) -> GridReport:
    lo, hi = _check_options(
        band, walk_speed_kmh, patrols_per_day, months, tolerance_m2, boundary_buffer_m
    )
    crs = _check_layers(
        {
            "grids": grids,
            "communities": communities,
            "buildings": buildings,
            "streets": streets,
            "water": water,
            "incidents": incidents,
        }
    )
    pname = "parents" if parents_alias else "communities"
    _require(grids, "grids", ["code", "parent_code"])
    _require(communities, pname, ["code"])
    if len(communities) == 0:
        raise SchemaError(f"{pname} is empty: grids are checked against their {pname}")
    if isinstance(exempt_band_kinds, str):
        raise SchemaError(
            f"exempt_band_kinds must be a sequence of kinds, e.g. ('dedicated',), "
            f"not the string {exempt_band_kinds!r}"
        )
    codes = _codes(grids, "grids", "code", unique=True)
    parents = _codes(grids, "grids", "parent_code", unique=False)
    comm_codes = _codes(communities, pname, "code", unique=True)
    levels = _labels_or(grids, "level", "grid")
    grid_kinds = _labels_or(grids, "kind", "comprehensive")
    g = _geoms(grids)
    comm = _geoms(communities)
    check_geometries(g, what="grid", labels=[repr(c) for c in codes])
    check_geometries(comm, what="community", labels=[repr(c) for c in comm_codes])
    if buildings is not None:
        _require(buildings, "buildings", ["households"])
        b = _geoms(buildings)
        check_geometries(b, what="buildings")
        b_households = _numbers(buildings, "buildings", "households")
        b_labels = (
            buildings["source_id"].astype(str).to_numpy()
            if "source_id" in buildings.columns
            else np.array([f"row {i}" for i in range(len(b))], dtype=object)
        )
    if streets is not None:
        check_geometries(_geoms(streets), what="streets", allowed=_LINEAR_NAMES)
    if water is not None:
        check_geometries(_geoms(water), what="water", allowed=POLYGONAL + _LINEAR_NAMES)
    if incidents is not None:
        _require(incidents, "incidents", ["reported_at"])
        check_geometries(_geoms(incidents), what="incidents", allowed=("Point",))
        try:
            when = pd.to_datetime(incidents["reported_at"], utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"incidents: reported_at holds values that are not dates: {exc}"
            ) from None
        if when.isna().any():
            i = int(np.flatnonzero(when.isna().to_numpy())[0])
            raise SchemaError(f"incidents row {i} has no reported_at")
    if incident_counts is not None:
        if incidents is not None:
            raise SchemaError("give incidents or incident_counts, not both")
        _require(
            incident_counts,
            "incident_counts",
            ["grid_code", "count"] + (["first", "last"] if months is None else []),
        )

    n = len(g)
    lookup = {c: i for i, c in enumerate(comm_codes)}
    parent_idx = np.array([lookup.get(p, -1) for p in parents], dtype=np.int64)
    all_sub = n > 0 and bool((levels == "subgrid").all())
    if "level" in communities.columns:
        parent_levels = _labels_or(communities, "level", "community")
    else:
        parent_levels = np.full(len(comm), "grid" if all_sub else "community", dtype=object)
    names = _Names(
        level=levels,
        parent_level=parent_levels,
        missing_parent="grid" if all_sub else "community",
    )
    # sub-grids are optional: a grid (or sub-grid) parent without children is no gap
    gap_when_empty = ~np.isin(parent_levels, ["grid", "subgrid"])
    problems: list[Problem] = []
    cover = _coverage(
        g,
        codes,
        parents,
        parent_idx,
        comm,
        comm_codes,
        tolerance_m2,
        problems,
        names,
        gap_when_empty,
    )
    nparts = _shapes(g, codes, problems, names)

    metrics = pd.DataFrame(index=pd.Index(codes, name="code"))
    metrics["parent_code"] = parents
    unassigned_b = unassigned_h = None
    if buildings is not None:
        owner = _buildings(
            g,
            codes,
            parent_idx,
            comm_codes,
            b,
            b_households,
            b_labels,
            tolerance_m2,
            problems,
            names,
        )
        held = owner >= 0
        hh = np.bincount(owner[held], weights=b_households[held], minlength=n)
        metrics["households"] = hh
        metrics["n_buildings"] = np.bincount(owner[held], minlength=n)
        unassigned_b = int((~held).sum())
        unassigned_h = float(b_households[~held].sum())
        source = "buildings"
    elif "households" in grids.columns:
        metrics["households"] = _numbers(grids, "grids", "households")
        metrics["n_buildings"] = np.nan
        source = "grids"
    else:
        metrics["households"] = np.nan
        metrics["n_buildings"] = np.nan
        source = None
    _gaps(
        g,
        codes,
        parent_idx,
        comm_codes,
        cover,
        (b, b_households, ~held) if buildings is not None else None,
        problems,
        names,
    )
    banded = ~np.isin(grid_kinds, [str(k) for k in exempt_band_kinds])
    if source is not None:
        hh = metrics["households"].to_numpy()
        for i in np.flatnonzero(((hh < lo) | (hh > hi)) & banded):
            what = (
                f"below the {lo:g}-{hi:g} band: merge it with a neighbour or take "
                "buildings from one"
                if hh[i] < lo
                else f"above the {lo:g}-{hi:g} band: split it or give buildings to a neighbour"
            )
            problems.append(
                Problem(
                    "households_out_of_band",
                    (codes[i],),
                    f"{names.unit(i, cap=True)} {codes[i]} has {hh[i]:g} households, {what}.",
                    location=shapely.point_on_surface(g[i]),
                    community_code=comm_codes[parent_idx[i]] if parent_idx[i] >= 0 else None,
                    details={
                        "households": hh[i],
                        "band": [lo, hi],
                        "source": source,
                        "kind": grid_kinds[i],
                    },
                    level=levels[i],
                )
            )

    area = shapely.area(g)
    metrics["area_m2"] = area
    shares = _boundary_shares(
        g,
        parent_idx,
        comm,
        _geoms(streets) if streets is not None else None,
        _geoms(water) if water is not None else None,
        boundary_buffer_m,
    )
    metrics["perimeter_m"] = shares["perimeter_m"]
    metrics["n_parts"] = nparts
    metrics["polsby_popper"] = polsby_popper(g)
    for col in ("street_share", "water_share", "parent_share", "other_share"):
        metrics[col] = shares.get(col, np.nan)

    used_months = unassigned_i = None
    if incidents is not None:
        count, rate, used_months, unassigned_i = _incidents(
            g, codes, _geoms(incidents), when, months, crs
        )
        metrics["incidents"] = count
        metrics["incidents_per_month"] = rate
    elif incident_counts is not None:
        count, rate, used_months, unassigned_i = _counted_incidents(codes, incident_counts, months)
        metrics["incidents"] = count
        metrics["incidents_per_month"] = rate
    else:
        metrics["incidents"] = np.nan
        metrics["incidents_per_month"] = np.nan

    for col in TOUR_COLUMNS:
        metrics[col] = np.nan
    if walk_tours and streets is not None:
        net = _Network.from_layer(streets)
        which = np.arange(n) if focus is None else np.flatnonzero(codes == focus)
        tours = _tour_columns(g, net, boundary_buffer_m, which, walk_speed_kmh, patrols_per_day)
        for col, values in tours.items():
            metrics[col] = values

    if focus is not None:
        problems = [p for p in problems if focus in p.grid_codes]
        metrics = metrics.loc[[focus]]
        banded = banded[codes == focus]
    rank = {k: i for i, k in enumerate(PROBLEM_KINDS)}
    problems.sort(key=lambda p: (rank[p.kind], p.grid_codes, -(p.area_m2 or 0.0)))
    summary = _summary(
        problems,
        metrics,
        cover,
        focus,
        lo,
        hi,
        source,
        len(comm),
        unassigned_b,
        unassigned_h,
        used_months,
        banded,
    )
    summary["unassigned_incidents"] = unassigned_i
    shown = levels if focus is None else levels[codes == focus]
    summary["levels"] = sorted({str(x) for x in shown})
    summary["parent_levels"] = sorted({str(x) for x in parent_levels})
    return GridReport(problems=problems, metrics=metrics, summary=summary, crs=crs)
