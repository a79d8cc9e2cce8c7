"""Aligning two grid layers drawn by different offices (issue 4 §5, 二员同格 / 多网合一).

Police beats (警格) and governance grids (网格) are drawn separately; a city that wants
one grid worker and one police officer to share a grid needs the grids to nest in the
beats. :func:`compare_layers` says where the two layers disagree and who lives there;
:func:`propose_aligned` proposes a version of the first layer whose every feature lies
in exactly one feature of the second.

Rules of :func:`propose_aligned`
--------------------------------
1. **Pieces.** Every feature of ``a`` is cut by ``b``: its intersection with each ``b``
   feature, and its part outside every ``b`` feature, exploded to single polygons.
2. **Big or small.** A piece is *big* when its area is at least ``min_piece_m2`` or its
   buildings hold at least ``min_piece_households`` households (a building counts for the
   piece holding most of its footprint). Big pieces become grids of their own.
3. **Small pieces merge** into the neighbouring piece of the *same* ``b`` feature that
   already belongs to a grid, preferring one of the same parent community, then the
   longest shared boundary (ties: the larger piece). Small pieces with no such neighbour
   join small neighbours of the same ``b`` feature into one grid. A piece outside every
   ``b`` feature cannot nest anywhere: when small it merges into the neighbour sharing the
   longest boundary whatever its ``b`` feature (preferring its own original grid), when
   big it stays a grid with ``b_code == ""``; both are counted in ``outside_b_m2``.
4. **Buildings stay whole.** A building divided between output grids of the same ``b``
   feature goes wholly to the grid holding most of its footprint (the rest is carved out
   of the others); a sliver of a grid this cuts off goes to the neighbouring grid of the
   same ``b`` feature sharing the longest boundary with it. A building that ``b`` itself
   divides cannot be kept whole without leaving ``b``: its part in each ``b`` feature
   goes wholly to the grid of that feature holding most of that part, and the building
   is listed in ``attrs["split_buildings"]``.
5. **Codes.** Each output grid descends from the original grid that gave it most area
   (``source_code``). The largest output grid of each original keeps its code; the others
   get new codes: the parent code followed by the lowest number free under that parent
   (:func:`~gridpatrol.geo.grids.child_codes`, the one code allocator; no code of ``a``
   is ever reused), or, when the codes
   do not follow that pattern, the original code with ``-2``, ``-3`` ... An original grid
   left with no output grid of its own (all its pieces were small) is listed in
   ``attrs["retired_codes"]``.

``a`` should be free of overlaps (run :func:`~gridpatrol.geo.grid_report.validate_grids`
first): the output covers the union of ``a`` exactly, and overlaps in ``a`` would show up
as overlaps in the output. All layers must share one metric CRS (else
:class:`~gridpatrol.geo.errors.CRSError`).

Size note: ~690 lines, over the ~600 guide, kept as one module: the two public functions
are one workflow (compare, then propose from the comparison) on shared helpers, and the
generic rules they used to carry (largest share, repair to polygons, validation, codes)
now live in :mod:`~gridpatrol.geo.overlay`, :mod:`~gridpatrol.geo.geometry` and
:mod:`~gridpatrol.geo.grids`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import check_metric_layers
from .errors import SchemaError
from .geometry import check_geometries, polygonal_part
from .grid_report.results import _geometry_out, _plain
from .grids import child_codes
from .model import CODE_DIGITS
from .overlay import code_rank, largest_share

__all__ = ["LayerComparison", "compare_layers", "propose_aligned"]

_EPS_M = 1e-3  # pieces this close count as touching when measuring shared boundaries
_NOISE_M2 = 1e-6  # parts of a merged grid smaller than this are float noise and dropped
_POLYGON_IDS = [int(shapely.GeometryType.POLYGON), int(shapely.GeometryType.MULTIPOLYGON)]


# ---------------------------------------------------------------------------------------
# input checks and helpers
# ---------------------------------------------------------------------------------------


def _check_inputs(
    a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None, names
) -> None:
    layers = {names[0]: a, names[1]: b}
    if buildings is not None:
        layers["buildings"] = buildings
    for name, layer in layers.items():
        if not isinstance(layer, gpd.GeoDataFrame):
            raise SchemaError(f"{name} must be a GeoDataFrame, not {type(layer).__name__}")
    check_metric_layers(layers)
    for name in names:
        layer = layers[name]
        if "code" not in layer.columns:
            raise SchemaError(f"{name} needs a code column; found {', '.join(layer.columns)}")
        codes = layer["code"].astype(str)
        if not codes.is_unique:
            dup = codes[codes.duplicated()].iloc[0]
            raise SchemaError(f"{name} code {dup!r} occurs more than once; codes must be unique")
    for name, layer in layers.items():
        check_geometries(layer.geometry, what=name)
    if buildings is not None and "households" not in buildings.columns:
        raise SchemaError("buildings need a households column")


def _majority(
    items: np.ndarray, zones: np.ndarray, *, tol: float = 0.0, rank: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~gridpatrol.geo.overlay.largest_share` as (owner, (item, zone) pairs with
    overlap above ``tol``, their areas)."""
    s = largest_share(items, zones, min_area=tol, rank=rank)
    return s.owner, np.stack([s.item, s.zone], axis=1), s.area


def _households(buildings: gpd.GeoDataFrame | None) -> np.ndarray:
    if buildings is None:
        return np.zeros(0)
    values = pd.to_numeric(buildings["households"], errors="coerce")
    return values.fillna(0.0).to_numpy(dtype=float)


def _labels(buildings: gpd.GeoDataFrame) -> np.ndarray:
    if "source_id" in buildings.columns:
        return buildings["source_id"].astype(str).to_numpy(dtype=object)
    return np.array([f"row {i}" for i in range(len(buildings))], dtype=object)


# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------


@dataclass
class LayerComparison:
    """Result of :func:`compare_layers`.

    Attributes
    ----------
    matches
        One row per feature of ``a``, indexed by its code: ``main_code`` (the ``b`` feature
        holding most of it, ``""`` if none), ``share`` (of its area in ``main_code``),
        ``area_m2``, ``outside_m2`` (its area outside ``main_code``), ``n_other`` (other
        ``b`` features holding more than the tolerance of it) and ``aligned``
        (``outside_m2`` within the tolerance).
    pieces
        The disagreement: the parts of ``a`` features outside their main ``b`` feature,
        one row per single polygon above the tolerance: ``a_code``, ``main_code``,
        ``b_code`` (the ``b`` feature the piece lies in, ``""`` for none), ``area_m2``,
        ``x``, ``y`` (a point inside the piece), ``buildings`` and ``households`` (those
        counting for the piece when buildings were given).
    wrong_side
        Buildings on the wrong side: counted for an ``a`` feature whose main ``b`` feature
        is not the ``b`` feature holding most of the building. ``source_id``,
        ``households``, ``a_code``, ``main_code``, ``b_code`` and the footprint.
    summary
        ``n_a``, ``n_b``, ``n_aligned``, ``n_pieces``, ``pieces_area_m2``,
        ``buildings_affected``, ``households_affected`` (None without buildings),
        ``aligned_share`` (share of the area of ``a`` lying in the main ``b`` feature of
        its feature), ``a_name``, ``b_name``, ``tolerance_m2``.
    crs
        The CRS of every geometry (that of the input).
    """

    matches: pd.DataFrame
    pieces: gpd.GeoDataFrame
    wrong_side: gpd.GeoDataFrame
    summary: dict[str, Any]
    crs: Any

    @property
    def aligned(self) -> bool:
        """True when every feature of ``a`` lies in one ``b`` feature (up to tolerance)."""
        return bool(self.matches["aligned"].all())

    def to_dict(self, *, geometry: Literal["wkt", "geojson"] = "wkt") -> dict[str, Any]:
        """Plain JSON-serialisable data; geometries as WKT or GeoJSON-like mappings in the
        input CRS (given as ``crs``)."""

        def rows(frame: pd.DataFrame, geom_col: str | None) -> list[dict[str, Any]]:
            out = []
            for rec in frame.to_dict(orient="records"):
                if geom_col is not None:
                    rec[geom_col] = _geometry_out(rec[geom_col], geometry)
                out.append(_plain(rec))
            return out

        return {
            "crs": None if self.crs is None else self.crs.to_string(),
            "summary": _plain(self.summary),
            "matches": rows(self.matches.reset_index(), None),
            "pieces": rows(self.pieces.rename_geometry("location"), "location"),
            "wrong_side": rows(self.wrong_side.rename_geometry("location"), "location"),
        }


def compare_layers(
    a: gpd.GeoDataFrame,
    b: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    a_name: str = "grids",
    b_name: str = "beats",
    tolerance_m2: float = 1.0,
) -> LayerComparison:
    """Where the boundaries of two polygon layers disagree, and who lives there.

    Parameters
    ----------
    a
        The layer to align (governance grids), with ``code``.
    b
        The layer to align to (police beats), with ``code``.
    buildings
        Footprints with ``households`` (and ``source_id``): the pieces' residents and the
        buildings on the wrong side.
    a_name, b_name
        How the layers are named in error messages and the summary.
    tolerance_m2
        Pieces up to this area are float noise: not reported, and a feature with no more
        outside its main ``b`` feature is aligned.

    Returns
    -------
    LayerComparison

    Raises
    ------
    CRSError
        A layer has no CRS or a non-metric one, or the layers differ.
    SchemaError
        ``code`` or ``households`` missing, codes repeated.
    InvalidGeometryError
        A geometry is missing, empty, not polygonal or invalid.
    """
    if not tolerance_m2 >= 0:
        raise SchemaError(f"tolerance_m2 must be 0 or more, not {tolerance_m2!r}")
    _check_inputs(a, b, buildings, (a_name, b_name))
    crs = a.crs
    ag = np.asarray(a.geometry.values, dtype=object)
    bg = np.asarray(b.geometry.values, dtype=object)
    acodes = a["code"].astype(str).to_numpy(dtype=object)
    bcodes = b["code"].astype(str).to_numpy(dtype=object)
    n = len(ag)
    aarea = shapely.area(ag)

    main, pairs, areas = _majority(ag, bg, rank=code_rank(bcodes))
    inside = np.zeros(n)
    held = main >= 0
    if len(pairs):
        is_main = main[pairs[:, 0]] == pairs[:, 1]
        inside[pairs[is_main, 0]] = areas[is_main]
        n_other = np.bincount(pairs[~is_main & (areas > tolerance_m2), 0], minlength=n)
    else:
        n_other = np.zeros(n, dtype=np.int64)
    main_code = np.where(held, bcodes[np.maximum(main, 0)], "")
    outside = aarea - inside
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(aarea > 0, inside / aarea, 0.0)
    matches = pd.DataFrame(
        {
            "main_code": main_code,
            "share": share,
            "area_m2": aarea,
            "outside_m2": outside,
            "n_other": n_other,
            "aligned": held & (outside <= tolerance_m2),
        },
        index=pd.Index(acodes, name="code"),
    )

    # pieces: a minus its main b, cut by the other b features
    rest = np.where(held, shapely.difference(ag, bg[np.maximum(main, 0)]), ag)
    rest = polygonal_part(rest)
    parts, owner = shapely.get_parts(rest, return_index=True)
    parts = np.asarray(parts, dtype=object)
    keep = shapely.area(parts) > tolerance_m2
    parts, owner = parts[keep], owner[keep]
    # the rest of a feature may span several b features (or none): cut it along them
    if len(parts):
        pi, bi = shapely.STRtree(bg).query(parts, predicate="intersects")
        cut = polygonal_part(shapely.intersection(parts[pi], bg[bi]))
        sub, sub_of = shapely.get_parts(cut, return_index=True)
        sub = np.asarray(sub, dtype=object)
        sub_piece, sub_b = pi[sub_of], bi[sub_of]
        # the part of each piece outside every b feature
        uncovered = polygonal_part(shapely.difference(parts, shapely.union_all(bg)))
        out_parts, out_of = shapely.get_parts(uncovered, return_index=True)
        geoms = np.r_[sub, np.asarray(out_parts, dtype=object)]
        piece_a = np.r_[owner[sub_piece], owner[out_of]]
        piece_b = np.r_[sub_b, np.full(len(out_parts), -1)]
    else:
        geoms = np.empty(0, dtype=object)
        piece_a = piece_b = np.empty(0, dtype=np.int64)
    parea = shapely.area(geoms) if len(geoms) else np.zeros(0)
    keep = parea > tolerance_m2
    geoms, piece_a, piece_b, parea = geoms[keep], piece_a[keep], piece_b[keep], parea[keep]
    order = np.lexsort((-parea, acodes[piece_a].astype(str))) if len(geoms) else np.zeros(0, int)
    geoms, piece_a, piece_b, parea = geoms[order], piece_a[order], piece_b[order], parea[order]
    pts = shapely.point_on_surface(geoms) if len(geoms) else np.empty(0, dtype=object)

    hh = _households(buildings)
    p_buildings = np.zeros(len(geoms), dtype=np.int64)
    p_households = np.zeros(len(geoms))
    wrong = gpd.GeoDataFrame(
        {c: [] for c in ("source_id", "households", "a_code", "main_code", "b_code")},
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )
    if buildings is not None and len(buildings):
        bld = np.asarray(buildings.geometry.values, dtype=object)
        in_piece, _, _ = _majority(bld, geoms, tol=tolerance_m2)
        got = in_piece >= 0
        p_buildings = np.bincount(in_piece[got], minlength=len(geoms))
        p_households = np.bincount(in_piece[got], weights=hh[got], minlength=len(geoms))
        in_a, _, _ = _majority(bld, ag, rank=code_rank(acodes))
        in_b, _, _ = _majority(bld, bg, rank=code_rank(bcodes))
        has_a = in_a >= 0
        expected = np.where(has_a, main[np.maximum(in_a, 0)], -1)
        mask = has_a & (expected != in_b)
        wrong = gpd.GeoDataFrame(
            {
                "source_id": _labels(buildings)[mask],
                "households": hh[mask],
                "a_code": acodes[in_a[mask]],
                "main_code": np.where(
                    expected[mask] >= 0, bcodes[np.maximum(expected, 0)][mask], ""
                ),
                "b_code": np.where(in_b[mask] >= 0, bcodes[np.maximum(in_b, 0)][mask], ""),
            },
            geometry=gpd.GeoSeries(bld[mask], crs=crs),
            crs=crs,
        )

    pieces = gpd.GeoDataFrame(
        {
            "a_code": acodes[piece_a] if len(geoms) else np.empty(0, dtype=object),
            "main_code": main_code[piece_a] if len(geoms) else np.empty(0, dtype=object),
            "b_code": (
                np.where(piece_b >= 0, bcodes[np.maximum(piece_b, 0)], "")
                if len(geoms)
                else np.empty(0, dtype=object)
            ),
            "area_m2": parea,
            "x": shapely.get_x(pts) if len(geoms) else np.zeros(0),
            "y": shapely.get_y(pts) if len(geoms) else np.zeros(0),
            "buildings": p_buildings,
            "households": p_households,
        },
        geometry=gpd.GeoSeries(geoms, crs=crs),
        crs=crs,
    ).reset_index(drop=True)

    total = float(aarea.sum())
    summary = {
        "a_name": a_name,
        "b_name": b_name,
        "n_a": int(n),
        "n_b": int(len(bg)),
        "n_aligned": int(matches["aligned"].sum()),
        "n_pieces": int(len(pieces)),
        "pieces_area_m2": float(parea.sum()),
        "buildings_affected": int(len(wrong)) if buildings is not None else None,
        "households_affected": float(wrong["households"].sum()) if buildings is not None else None,
        "aligned_share": float(inside.sum() / total) if total > 0 else None,
        "tolerance_m2": float(tolerance_m2),
    }
    return LayerComparison(
        matches=matches, pieces=pieces, wrong_side=wrong, summary=summary, crs=crs
    )


# ---------------------------------------------------------------------------------------
# propose
# ---------------------------------------------------------------------------------------


def propose_aligned(
    a: gpd.GeoDataFrame,
    b: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    min_piece_m2: float = 2_500.0,
    min_piece_households: float = 50.0,
) -> gpd.GeoDataFrame:
    """An aligned version of ``a`` whose every feature lies in exactly one ``b`` feature.

    The rules (pieces, big or small, merging, whole buildings, codes) are in the module
    docstring.

    Parameters
    ----------
    a
        The grids to align, with ``code`` and optionally ``parent_code``, ``level``,
        ``households`` and any other columns (copied from the original grid).
    b
        The layer to nest in (police beats), with ``code``.
    buildings
        Footprints with ``households`` (and ``source_id``): count households per piece,
        keep buildings whole and recount ``households`` of the output.
    min_piece_m2
        A piece at least this large becomes a grid of its own.
    min_piece_households
        A piece whose buildings hold at least this many households becomes a grid of its
        own, however small.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns of ``a`` (taken from the original grid), with ``code`` and
        ``households`` updated, and ``source_code`` (the original grid that gave it most
        area), ``source_codes`` (every original grid it took area from, comma-separated),
        ``b_code``, ``status`` (``"kept"`` or ``"new"`` code), ``area_m2``,
        ``outside_b_m2`` (area in no ``b`` feature) and ``n_parts``; sorted by code.
        ``attrs["retired_codes"]`` lists original codes with no grid left,
        ``attrs["split_buildings"]`` the buildings ``b`` divides (``source_id``) and
        ``attrs["households_source"]`` says where ``households`` come from
        (``"buildings"``, ``"area"`` -- the original count shared by area -- or None).

    Raises
    ------
    CRSError
        A layer has no CRS or a non-metric one, or the layers differ.
    SchemaError
        ``code`` or ``households`` missing, codes repeated, an option negative.
    InvalidGeometryError
        A geometry is missing, empty, not polygonal or invalid.
    """
    options = {"min_piece_m2": min_piece_m2, "min_piece_households": min_piece_households}
    for name, value in options.items():
        if not value >= 0:
            raise SchemaError(f"{name} must be 0 or more, not {value!r}")
    _check_inputs(a, b, buildings, ("grids", "beats"))
    crs = a.crs
    ag = np.asarray(a.geometry.values, dtype=object)
    bg = np.asarray(b.geometry.values, dtype=object)
    acodes = a["code"].astype(str).to_numpy(dtype=object)
    bcodes = b["code"].astype(str).to_numpy(dtype=object)
    aparent = (
        a["parent_code"].fillna("").astype(str).to_numpy(dtype=object)
        if "parent_code" in a.columns
        else np.full(len(a), "", dtype=object)
    )

    # 1. pieces: a ∩ b, and a outside every b, as single polygons
    ai, bi = shapely.STRtree(bg).query(ag, predicate="intersects")
    cut = polygonal_part(shapely.intersection(ag[ai], bg[bi]))
    outside = polygonal_part(shapely.difference(ag, shapely.union_all(bg)))
    geoms = np.r_[cut, outside]
    of_a = np.r_[ai, np.arange(len(ag))]
    of_b = np.r_[bi, np.full(len(ag), -1)]
    parts, k = shapely.get_parts(geoms, return_index=True)
    p = np.asarray(parts, dtype=object)
    pa, pb = of_a[k], of_b[k]
    parea = shapely.area(p)
    keep = parea > 0
    p, pa, pb, parea = p[keep], pa[keep], pb[keep], parea[keep]
    n = len(p)

    # 2. big or small
    hh = _households(buildings)
    bld = (
        np.asarray(buildings.geometry.values, dtype=object)
        if buildings is not None
        else np.empty(0, dtype=object)
    )
    owner, _, _ = _majority(bld, p)
    got = owner >= 0
    phh = np.bincount(owner[got], weights=hh[got], minlength=n) if n else np.zeros(0)
    big = (parea >= min_piece_m2) | (phh >= min_piece_households)

    # 3. merge small pieces into neighbours of the same b feature
    shared = _shared_boundaries(p)
    group = np.where(big, np.arange(n), -1)

    def allowed(i: int, j: int) -> bool:
        return pb[i] == -1 or pb[i] == pb[j]

    def score(i: int, j: int) -> tuple:
        return (
            aparent[pa[i]] == aparent[pa[j]],
            pb[i] == -1 and pa[i] == pa[j],
            shared[i].get(j, 0.0),
            parea[j],
        )

    changed = True
    while changed:
        changed = False
        for i in np.argsort(-parea, kind="stable"):
            if group[i] >= 0:
                continue
            cand = [j for j in shared[i] if group[j] >= 0 and allowed(i, j)]
            if cand:
                group[i] = group[max(cand, key=lambda j: score(i, j))]
                changed = True
    # small pieces with no grid next to them in their b feature: one grid per cluster
    for i in np.argsort(-parea, kind="stable"):
        if group[i] >= 0:
            continue
        group[i] = i
        stack = [i]
        while stack:
            x = stack.pop()
            for j in shared[x]:
                if group[j] < 0 and pb[j] == pb[i]:
                    group[j] = i
                    stack.append(j)

    anchors = np.unique(group)
    members = {g: np.flatnonzero(group == g) for g in anchors}
    feats = np.empty(len(anchors), dtype=object)
    fb = np.empty(len(anchors), dtype=np.int64)
    source = np.empty(len(anchors), dtype=np.int64)
    sources: list[list[int]] = []
    outside_m2 = np.zeros(len(anchors))
    for f, g in enumerate(anchors):
        m = members[g]
        feats[f] = _clean(shapely.union_all(p[m]))
        fb[f] = pb[g]
        contrib = pd.Series(parea[m]).groupby(pa[m]).sum()
        contrib = contrib.sort_values(ascending=False, kind="stable")
        source[f] = int(contrib.index[0])
        sources.append([int(x) for x in contrib.index])
        outside_m2[f] = float(parea[m][pb[m] == -1].sum())

    # 4. keep buildings whole within a b feature: the part of a building in one b feature
    # goes to the grid (of that b feature) holding most of that part
    split_buildings: list[str] = []
    if len(bld):
        labels = _labels(buildings)
        _, pairs, areas = _majority(bld, feats, tol=_NOISE_M2)
        if len(pairs):
            x, f = pairs[:, 0], pairs[:, 1]
            order = np.lexsort((f, -areas, fb[f], x))
            x, f = x[order], f[order]
            n_b = pd.Series(fb[f]).groupby(x).nunique().to_numpy()
            split_buildings = [str(v) for v in labels[np.unique(x)[n_b > 1]]]
            first = np.r_[True, (x[1:] != x[:-1]) | (fb[f][1:] != fb[f][:-1])]
            owner = f[np.maximum.accumulate(np.where(first, np.arange(len(f)), 0))]
            for k in np.flatnonzero(~first):
                o, src, footprint = owner[k], f[k], bld[x[k]]
                # the owner takes the pair's union minus what the other keeps: one overlay,
                # so the moved part joins the owner without a float-noise seam
                rest = polygonal_part(np.array([shapely.difference(feats[src], footprint)]))[0]
                pair = shapely.union(feats[o], feats[src])
                feats[o] = _clean(polygonal_part(np.array([shapely.difference(pair, rest)]))[0])
                feats[src] = _clean(rest)
        _reattach_fragments(feats, fb)
    alive = ~shapely.is_empty(feats) & (shapely.area(feats) > _NOISE_M2)
    feats, fb, source, outside_m2 = feats[alive], fb[alive], source[alive], outside_m2[alive]
    sources = [s for s, ok in zip(sources, alive, strict=True) if ok]
    farea = shapely.area(feats)

    # 5. codes
    codes, status = _new_codes(a, acodes, aparent, source, farea)
    out = a.iloc[source].drop(columns=a.geometry.name).reset_index(drop=True)
    out["code"] = codes
    households_source = None
    if len(bld):
        owner, _, _ = _majority(bld, feats)
        got = owner >= 0
        out["households"] = np.bincount(owner[got], weights=hh[got], minlength=len(feats))
        households_source = "buildings"
    elif "households" in a.columns:
        ahh = pd.to_numeric(a["households"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        aarea = shapely.area(ag)
        # households of each original grid shared by area among the pieces it gave
        final = _majority(p, feats)[0]
        ok = final >= 0
        share = np.bincount(
            final[ok], weights=(ahh[pa] * parea / aarea[pa])[ok], minlength=len(feats)
        )
        out["households"] = np.round(share).astype(int)
        households_source = "area"
    out["source_code"] = acodes[source]
    out["source_codes"] = [",".join(acodes[s]) for s in sources]
    out["b_code"] = np.where(fb >= 0, bcodes[np.maximum(fb, 0)], "")
    out["status"] = status
    out["area_m2"] = farea
    out["outside_b_m2"] = outside_m2
    out["n_parts"] = shapely.get_num_geometries(feats)
    result = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(feats, crs=crs), crs=crs)
    result = result.sort_values("code", kind="stable").reset_index(drop=True)
    result.attrs = {
        "retired_codes": sorted(set(acodes) - set(codes)),
        "split_buildings": split_buildings,
        "households_source": households_source,
    }
    return result


def _reattach_fragments(feats: np.ndarray, fb: np.ndarray) -> None:
    """Give the minor parts of a multipart grid (cut off by a carved building) to the grid
    of the same ``b`` feature sharing the longest boundary with them, in place."""
    for f in np.flatnonzero(shapely.get_num_geometries(feats) > 1):
        parts = shapely.get_parts(feats[f])
        main = int(np.argmax(shapely.area(parts)))
        for q, part in enumerate(parts):
            if q == main:
                continue
            near = shapely.STRtree(feats).query(part, predicate="dwithin", distance=_EPS_M)
            near = near[(near != f) & (fb[near] == fb[f])]
            if not len(near):
                continue
            ring = shapely.boundary(part)
            shared = shapely.length(shapely.intersection(ring, shapely.buffer(feats[near], _EPS_M)))
            if shared.max() <= 10 * _EPS_M:
                continue
            g = int(near[np.argmax(shared)])
            pair = shapely.union(feats[f], feats[g])
            keep = polygonal_part(np.array([shapely.difference(feats[f], part)]))[0]
            feats[f] = _clean(keep)
            feats[g] = _clean(polygonal_part(np.array([shapely.difference(pair, keep)]))[0])


def _shared_boundaries(pieces: np.ndarray) -> list[dict[int, float]]:
    """For each piece, the pieces it shares boundary with and the length shared."""
    out: list[dict[int, float]] = [{} for _ in range(len(pieces))]
    if len(pieces) < 2:
        return out
    i, j = shapely.STRtree(pieces).query(pieces, predicate="dwithin", distance=_EPS_M)
    keep = i < j
    i, j = i[keep], j[keep]
    length = shapely.length(
        shapely.intersection(shapely.boundary(pieces[i]), shapely.buffer(pieces[j], _EPS_M))
    )
    for x, y, s in zip(i, j, length, strict=True):
        if s > 10 * _EPS_M:
            out[x][y] = out[y][x] = float(s)
    return out


def _clean(geom: Any) -> Any:
    """Drop float-noise parts a union of overlay pieces may leave."""
    if shapely.get_num_geometries(geom) <= 1:
        return geom
    parts = shapely.get_parts(geom)
    parts = parts[shapely.area(parts) > _NOISE_M2]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


_DIGITS = re.compile(r"\d+")


def _new_codes(
    a: gpd.GeoDataFrame,
    acodes: np.ndarray,
    aparent: np.ndarray,
    source: np.ndarray,
    farea: np.ndarray,
) -> tuple[list[str], list[str]]:
    """The largest output of each original keeps its code; the others get new ones."""
    levels = (
        a["level"].fillna("grid").astype(str).to_numpy(dtype=object)
        if "level" in a.columns
        else np.full(len(a), "grid", dtype=object)
    )
    codes = [""] * len(source)
    status = ["new"] * len(source)
    taken = set(acodes)
    order = np.lexsort((-farea, source))
    seen: set[int] = set()
    for f in order:
        s = int(source[f])
        if s not in seen:
            seen.add(s)
            codes[f], status[f] = acodes[s], "kept"
    for f in order:
        if status[f] == "kept":
            continue
        s = int(source[f])
        code, parent = acodes[s], aparent[s]
        level = levels[s] if levels[s] in CODE_DIGITS else "grid"
        tail = code[len(parent) :]
        new = None
        if (
            parent
            and code.startswith(parent)
            and len(tail) == CODE_DIGITS[level]
            and _DIGITS.fullmatch(tail)
        ):
            try:
                new = child_codes(parent, 1, level=level, taken=taken)[0]
            except SchemaError:  # the parent is full: fall back to code-2, code-3 ...
                new = None
        if new is None:
            k = 2
            while f"{code}-{k}" in taken:
                k += 1
            new = f"{code}-{k}"
        codes[f] = new
        taken.add(new)
    return codes, status
