"""Camera coverage of streets and public space: per street, grid and community; blind spots.

Inputs are the fields of view of :func:`gridpatrol.geo.cameras.fields_of_view` (already
stopped by walls), street lines, grid polygons and building footprints, all in one
metric CRS. With no cameras every share is 0 and ``note`` says why; that is a normal
answer, not an error (many real extracts map no cameras).

Street length seen is exact for the view polygons: each street is cut by each view that
touches it, the pieces become intervals along the street, and overlapping intervals
are merged, so a stretch seen by two cameras counts once.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import check_metric, check_same_crs

NO_CAMERAS_NOTE = "no cameras in this area: coverage is 0 (import cameras to measure it)"


def _geoms(layer) -> np.ndarray:
    if isinstance(layer, gpd.GeoDataFrame):
        layer = layer.geometry
    return np.asarray(getattr(layer, "values", layer), dtype=object)


def seen_length(lines, views) -> np.ndarray:
    """Length of each line inside at least one of ``views`` (metres, same CRS).

    Parameters
    ----------
    lines
        Array or GeoSeries of LineStrings (other geometries count by their line parts).
    views
        Array or GeoSeries of polygons (fields of view).

    Returns
    -------
    Array of seen lengths, one per line.
    """
    lines, views = _geoms(lines), _geoms(views)
    types = shapely.get_type_id(lines)
    if len(lines) and not ((types == 1) & ~shapely.is_empty(lines)).all():
        # multi-part lines, points or collections (a street cut by a grid): by part
        parts, owner = shapely.get_parts(lines, return_index=True)
        keep = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
        per_part = seen_length(parts[keep], views)
        return np.bincount(owner[keep], weights=per_part, minlength=len(lines))
    out = np.zeros(len(lines))
    ok = ~(shapely.is_missing(views) | shapely.is_empty(views))
    views = views[ok]
    if len(lines) == 0 or len(views) == 0:
        return out
    li, vi = shapely.STRtree(views).query(lines, predicate="intersects")
    if len(li) == 0:
        return out
    pieces = shapely.intersection(lines[li], views[vi])
    parts, idx = shapely.get_parts(pieces, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
    parts, line_of = parts[keep], li[idx[keep]]
    if len(parts) == 0:
        return out
    host = lines[line_of]
    a = shapely.line_locate_point(host, shapely.get_point(parts, 0))
    b = shapely.line_locate_point(host, shapely.get_point(parts, -1))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    # a piece whose ends project badly (a street that loops back) keeps its own length
    bad = np.abs((hi - lo) - shapely.length(parts)) > 0.01 + 1e-3 * shapely.length(parts)
    if bad.any():
        np.add.at(out, line_of[bad], shapely.length(parts[bad]))
    line_of, lo, hi = line_of[~bad], lo[~bad], hi[~bad]
    # merge overlapping intervals per line: running max of earlier ends within the line
    order = np.lexsort((lo, line_of))
    line_of, lo, hi = line_of[order], lo[order], hi[order]
    df = pd.DataFrame({"g": line_of, "hi": hi})
    prev = df.groupby("g")["hi"].cummax().groupby(df["g"]).shift(1).to_numpy()
    prev = np.where(np.isnan(prev), -np.inf, prev)
    add = np.maximum(0.0, hi - np.maximum(lo, prev))
    np.add.at(out, line_of, add)
    return np.minimum(out, shapely.length(lines))


def dedupe_streets(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per street segment: drop the reverse twin of each two-way edge.

    A street layer with ``network``/``u``/``v``/``key`` columns (an osmnx graph's edges)
    holds each two-way street twice; coverage counts it once. The walk network is
    preferred when both are present.
    """
    if {"u", "v"} <= set(streets.columns):
        df = streets
        if "network" in df and (df["network"] == "walk").any():
            df = df[df["network"] == "walk"]
        a = np.minimum(df["u"].to_numpy(), df["v"].to_numpy())
        b = np.maximum(df["u"].to_numpy(), df["v"].to_numpy())
        key = df["key"].to_numpy() if "key" in df else np.zeros(len(df), int)
        twin = pd.DataFrame({"a": a, "b": b, "k": key}).duplicated().to_numpy()
        return df[~twin]
    return streets


def street_coverage(
    streets: gpd.GeoDataFrame, views: gpd.GeoDataFrame | gpd.GeoSeries
) -> gpd.GeoDataFrame:
    """Seen length and share of each street segment.

    Returns the streets with ``length_m``, ``seen_m`` and ``seen_share`` added.
    """
    check_metric(streets, what="streets")
    if len(views):
        check_same_crs(
            streets,
            gpd.GeoDataFrame(geometry=_view_series(views)),
            names=("streets", "camera views"),
        )
    out = streets.copy()
    length = shapely.length(_geoms(streets))
    out["length_m"] = length
    out["seen_m"] = seen_length(_geoms(streets), _geoms(_view_series(views)))
    out["seen_share"] = np.where(length > 0, out["seen_m"] / np.maximum(length, 1e-9), 0.0)
    return out


def _view_series(views) -> gpd.GeoSeries:
    return views.geometry if isinstance(views, gpd.GeoDataFrame) else views


def area_coverage(
    areas: gpd.GeoDataFrame,
    views: gpd.GeoDataFrame | gpd.GeoSeries,
    buildings: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Public (non-building) area of each area polygon and the part of it seen.

    Returns a frame indexed like ``areas`` with ``public_m2``, ``seen_m2`` and
    ``area_share``. Overlapping footprints are counted once per pair, which OSM data
    rarely needs; views already stop at walls, so the seen area is clipped to the public
    area rather than re-cut by every building.
    """
    check_metric(areas, what="areas")
    polys = _geoms(areas)
    area = shapely.area(polys)
    built = np.zeros(len(polys))
    if buildings is not None and len(buildings):
        check_same_crs(areas, buildings, names=("areas", "buildings"))
        bgeo = _geoms(buildings)
        ai, bi = shapely.STRtree(bgeo).query(polys, predicate="intersects")
        np.add.at(built, ai, shapely.area(shapely.intersection(polys[ai], bgeo[bi])))
    public = np.maximum(area - built, 0.0)
    seen = np.zeros(len(polys))
    vgeo = _geoms(_view_series(views))
    if len(vgeo):
        vgeo = vgeo[~shapely.is_empty(vgeo)]
        ai, vi = shapely.STRtree(vgeo).query(polys, predicate="intersects")
        for a in np.unique(ai):
            part = shapely.union_all(vgeo[vi[ai == a]])
            seen[a] = shapely.area(shapely.intersection(polys[a], part))
    seen = np.minimum(seen, public)
    share = np.where(public > 0, seen / np.maximum(public, 1e-9), 0.0)
    return pd.DataFrame(
        {"public_m2": public, "seen_m2": seen, "area_share": share}, index=areas.index
    )


def grid_coverage(
    grids: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    views: gpd.GeoDataFrame | gpd.GeoSeries,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    by: str | None = None,
) -> pd.DataFrame:
    """Street length and public area seen by at least one camera, per grid.

    Parameters
    ----------
    grids
        Grid polygons (metric CRS) with a ``code`` column.
    streets
        Street segments; each is cut along the grid boundaries.
    views
        Fields of view.
    buildings
        Footprints, for the public (non-building) area.
    by
        Optional column of ``grids`` to sum over instead (e.g. ``parent_code`` for
        communities).

    Returns
    -------
    DataFrame with the key, ``street_m``, ``seen_street_m``, ``street_share``,
    ``public_m2``, ``seen_m2``, ``area_share``, ``n_cameras`` and ``note``.
    """
    check_metric(grids, what="grids")
    check_same_crs(grids, streets, names=("grids", "streets"))
    g = _geoms(grids)
    s = _geoms(streets)
    gi, si = shapely.STRtree(s).query(g, predicate="intersects")
    pieces = shapely.intersection(s[si], g[gi])
    vseries = _view_series(views)
    seen = seen_length(pieces, vseries) if len(pieces) else np.zeros(0)
    street_m = np.bincount(gi, weights=shapely.length(pieces), minlength=len(g))
    seen_m = np.bincount(gi, weights=seen, minlength=len(g))
    areas = area_coverage(grids, vseries, buildings)
    n_cam = np.zeros(len(g), dtype=int)
    vg = _geoms(vseries)
    if len(vg):
        apex = shapely.centroid(vg)  # camera counted in the grid its view centres in
        ci, cg = shapely.STRtree(g).query(apex, predicate="within")
        np.add.at(n_cam, cg, 1)
    key = "code" if "code" in grids else None
    df = pd.DataFrame(
        {
            (key or "index"): grids[key].to_numpy() if key else np.arange(len(g)),
            "street_m": street_m,
            "seen_street_m": seen_m,
            "public_m2": areas["public_m2"].to_numpy(),
            "seen_m2": areas["seen_m2"].to_numpy(),
            "n_cameras": n_cam,
        }
    )
    if by is not None:
        df[by] = grids[by].to_numpy()
        df = df.groupby(by, as_index=False)[
            ["street_m", "seen_street_m", "public_m2", "seen_m2", "n_cameras"]
        ].sum()
    df["street_share"] = _share(df["seen_street_m"], df["street_m"])
    df["area_share"] = _share(df["seen_m2"], df["public_m2"])
    note = np.where(df["n_cameras"] == 0, "no camera in this grid", "")
    df["note"] = NO_CAMERAS_NOTE if len(vg) == 0 else note
    return df


def _share(part: pd.Series, whole: pd.Series) -> np.ndarray:
    whole = whole.to_numpy(dtype=float)
    return np.where(whole > 0, part.to_numpy(dtype=float) / np.maximum(whole, 1e-9), 0.0)


def blind_streets(
    streets: gpd.GeoDataFrame,
    views: gpd.GeoDataFrame | gpd.GeoSeries,
    incidents: gpd.GeoDataFrame | None = None,
    *,
    max_seen_share: float = 0.1,
    near_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """Street segments no camera (or almost none) sees, ranked by incident density.

    Parameters
    ----------
    streets
        Street segments in a metric CRS.
    views
        Fields of view, same CRS.
    incidents
        Incident points (same CRS), optional: counted within ``near_m`` of a street.
    max_seen_share
        A segment is blind when at most this share of its length is seen.
    near_m
        Distance within which an incident counts for a street.

    Returns
    -------
    The blind segments with ``length_m``, ``seen_m``, ``seen_share``, ``incidents``
    (count within ``near_m``), ``incidents_per_km`` and ``rank`` (1 = most incidents per
    km; ties by length), sorted by rank.
    """
    cov = street_coverage(streets, views)
    blind = cov[cov["seen_share"] <= max_seen_share].copy()
    counts = np.zeros(len(blind), dtype=int)
    if incidents is not None and len(incidents) and len(blind):
        check_same_crs(streets, incidents, names=("streets", "incidents"))
        pts = _geoms(incidents)
        li, _ = shapely.STRtree(pts).query(_geoms(blind), predicate="dwithin", distance=near_m)
        counts = np.bincount(li, minlength=len(blind))
    blind["incidents"] = counts
    blind["incidents_per_km"] = counts / np.maximum(blind["length_m"].to_numpy(), 1.0) * 1000.0
    blind = blind.sort_values(["incidents_per_km", "length_m"], ascending=[False, False])
    blind["rank"] = np.arange(1, len(blind) + 1)
    return blind


def blind_areas(
    areas: gpd.GeoDataFrame,
    views: gpd.GeoDataFrame | gpd.GeoSeries,
    buildings: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    *,
    min_area_m2: float = 200.0,
) -> gpd.GeoDataFrame:
    """Public space no camera sees: each area minus buildings minus views, in pieces.

    Returns one row per piece of at least ``min_area_m2`` with ``area_code`` (the
    ``code`` of the area it lies in, when there is one), ``area_m2``, ``incidents``
    (inside the piece) and ``rank`` (most incidents per hectare first, then largest).
    """
    check_metric(areas, what="areas")
    polys = _geoms(areas)
    vgeo = _geoms(_view_series(views))
    vgeo = vgeo[~shapely.is_empty(vgeo)] if len(vgeo) else vgeo
    bgeo = _geoms(buildings) if buildings is not None and len(buildings) else np.array([], object)
    vtree = shapely.STRtree(vgeo) if len(vgeo) else None
    btree = shapely.STRtree(bgeo) if len(bgeo) else None
    pieces, owner = [], []
    for i, poly in enumerate(polys):
        cut = []
        if vtree is not None:
            cut.extend(vgeo[vtree.query(poly, predicate="intersects")])
        if btree is not None:
            cut.extend(bgeo[btree.query(poly, predicate="intersects")])
        rest = shapely.difference(poly, shapely.union_all(cut)) if cut else poly
        for part in shapely.get_parts(rest):
            if shapely.area(part) >= min_area_m2:
                pieces.append(part)
                owner.append(i)
    out = gpd.GeoDataFrame(
        {
            "area_code": (
                areas["code"].to_numpy()[owner] if "code" in areas else np.asarray(owner)
            ),
        },
        geometry=pieces,
        crs=areas.crs,
    )
    out["area_m2"] = shapely.area(_geoms(out))
    counts = np.zeros(len(out), dtype=int)
    if incidents is not None and len(incidents) and len(out):
        ii, pi = shapely.STRtree(_geoms(out)).query(_geoms(incidents), predicate="within")
        counts = np.bincount(pi, minlength=len(out))
    out["incidents"] = counts
    out["incidents_per_ha"] = counts / np.maximum(out["area_m2"].to_numpy(), 1.0) * 1e4
    out = out.sort_values(["incidents_per_ha", "area_m2"], ascending=[False, False])
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


def by_street_name(coverage: gpd.GeoDataFrame, *, name: str = "name") -> pd.DataFrame:
    """Seen length and share per named street (from :func:`street_coverage`)."""
    df = pd.DataFrame(coverage[[name, "length_m", "seen_m"]]).copy()
    df[name] = df[name].fillna("").replace("", "(unnamed)")
    out = df.groupby(name, as_index=False)[["length_m", "seen_m"]].sum()
    out["seen_share"] = out["seen_m"] / out["length_m"].clip(lower=1e-9)
    return out.sort_values("length_m", ascending=False).reset_index(drop=True)
