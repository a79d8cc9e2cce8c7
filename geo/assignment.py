"""Point-in-grid assignment: every incident lands in exactly one management grid.

Public API
----------
``GridIndex.from_geodataframe(grids, *, code_column="code", cell_size=None)``
    Build an index over grid polygons / multipolygons (holes allowed) in a
    projected CRS whose axes are in metres. Raises ``CRSError`` when the CRS is
    missing, geographic or not metric, ``InvalidGeometryError`` for null, empty,
    non-polygonal or invalid geometries, ``SchemaError`` for a missing, null,
    duplicated or unsortable code column.
``index.assign(x, y, *, snap_tolerance=0.0) -> Assignment(position, snapped)``
    Plain numpy in, plain numpy out: ``position`` is an ``int64`` array of grid
    positions (``-1`` = unassigned), ``snapped`` a ``bool`` array. The code of a
    point is ``index.codes[position]`` (only where ``position >= 0``).
``index.assign_points(points, *, snap_tolerance=0.0) -> pandas.DataFrame``
    Convenience for a GeoDataFrame / GeoSeries of points in the index CRS
    (mismatch or missing CRS -> ``CRSError``). Columns ``code`` (missing / NA when
    unassigned), ``snapped``, ``unassigned``; same index as the input. Null or empty
    point geometries are unassigned; non-point geometries raise ``InvalidGeometryError``.

Assignment rule (deterministic, independent of input row order)
---------------------------------------------------------------
1. Grids are sorted by code, ascending (numbers numerically, strings
   lexicographically). A grid's *position* is its rank in that order, so
   ``index.codes`` is sorted and ``index.input_rows[pos]`` is the row of the
   original GeoDataFrame.
2. A point belongs to the grid with the **lowest position (= lowest code)
   among all grids whose closed polygon covers it** -- shapely ``covers`` /
   ``intersects`` semantics: interior or boundary, holes excluded. So a point
   exactly on an edge or vertex shared by several grids, or inside an overlap,
   goes to the lowest code. Exactness is GEOS's (robust predicates), i.e. the
   answer is identical to ``min(pos for pos, g in enumerate(geoms) if
   shapely.covers(g, point))``.
3. A point covered by no grid but at distance ``<= snap_tolerance`` metres
   from at least one grid is *snapped* to the nearest grid (GEOS distance; equal
   distances -> lowest position) and flagged ``snapped=True``.
4. Everything else (and non-finite coordinates) is ``-1`` / unassigned.

How it is fast
--------------
Why hand-written: ``geopandas.sjoin`` and ``shapely.STRtree.query`` walk an
R-tree and then run a full GEOS predicate for *every* point against every
candidate envelope (2-4 polygons per point in a tessellation), which caps them
at well under a million points per second. Almost all incident points are far
from any grid edge, and for those the answer is a property of the location
alone, so it can be precomputed once.

The index is an ``int32`` lookup raster over the grids' extent (``cell_size``
metres, chosen automatically so that about 8 % of the cells are touched by an
edge -- ~7 m for 5,000 city grids -- and never more than ``_MAX_CELLS`` = 2**25
cells = 128 MiB). Each cell holds

* a grid position ``>= 0`` -- the closed cell lies inside that grid (and no
  lower-coded grid covers it) and touches no grid boundary,
* ``-1`` -- the closed cell touches no grid at all, or
* ``-2 - rank`` -- a *boundary cell*: some grid edge touches it (marked
  conservatively: edges are cut into pieces no longer than a cell and every cell
  the piece's bounding box, grown by a small float-error margin, overlaps is
  marked). Its candidate grids (an edge in the cell, or covering it entirely)
  are row ``rank`` of a CSR table, sorted by position.

Boundary cells are refined once more into 4 x 4 sub-cells (``int16``; ``int32``
from 32,767 grids on), each
holding a grid position, ``-1``, or ``-2`` = "an edge touches this sub-cell".
Sub-cells no edge touches are classified like cells: 8-connected components per
block; a component touching a side shared with a pure neighbouring cell inherits
that cell's value, the others get one exact test against the cell's candidates.

A query is a vectorised floor-divide and one array lookup per point, a second
lookup for points in boundary cells, and an exact test only for points in
sub-cells touched by an edge: one vectorised, prepared ``shapely.intersects_xy``
call per candidate round (points grouped by grid so the prepared geometry stays
in cache), candidates tried in ascending position, so the first hit is the
answer (rule 2). Pure cells are found at build time, per polygon part: cells
touched by its edges are rasterised; the other cells of its padded bounding
window are labelled into 8-connected components (``scipy.ndimage.label``) and
one exact test per component says whether the component is inside, which is
sound because a connected set of cells that no edge touches is wholly inside or
wholly outside (two cells sharing only a corner are still connected through it).
Snapping (rule 3) only looks at the unassigned points: ``STRtree`` ``dwithin``
query, then exact distances.

Build for 5,000 grids of 50-300 vertices on a 20 x 20 km area: a few seconds,
~60 MiB held, ~250 MB peak; see ``bench/assign.py``.

Size note: ~650 lines, over the ~600 guide, kept as one module on purpose: it is one
data structure (the raster index) whose build and query share every private array and
the rule above; split, each half would need the other's internals. The rule itself lives
in :func:`gridpatrol.geo.overlay.locate_points`, which this index answers fast.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from gridpatrol.geo.crs import check_metric_crs
from gridpatrol.geo.errors import CRSError, InvalidGeometryError, SchemaError
from gridpatrol.geo.geometry import check_geometries

__all__ = ["Assignment", "GridIndex"]

#: Upper bound on lookup-raster cells (int32 raster: 128 MiB; build peak well under 1 GB).
_MAX_CELLS = 1 << 25
#: Aim: about this share of the raster cells touched by an edge (auto cell size); their 4 x 4
#: sub-cells leave ~2 % of the area to exact tests. Smaller -> faster queries, slower build.
_TARGET_BOUNDARY_SHARE = 0.08

#: Boundary cells are refined into _SUB x _SUB sub-cells (power of two).
_SUB = 4
#: Points per query chunk.
_CHUNK = 1 << 21

_OUTSIDE = -1
_BOUNDARY = -2
_UNKNOWN = -3  # build only


def _piece_cells(
    ax: np.ndarray,
    ay: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    x0: float,
    y0: float,
    size: float,
    eps: float,
    chunk: int = 1 << 20,
):
    """Yield (ix, iy) int64 arrays of every ``size`` cell that segments a->b may touch.

    Conservative: segments are cut into pieces no longer than a cell; every cell that a piece's
    bounding box, grown by ``eps``, overlaps is yielded (<= 3 x 3 per piece; duplicates
    possible). Works through the segments in chunks of about ``chunk`` pieces.
    """
    inv = 1.0 / size
    n_pieces = np.maximum(1, np.ceil(np.hypot(bx - ax, by - ay) * inv)).astype(np.int64)
    ends = np.cumsum(n_pieces)
    lo = 0
    while lo < len(ax):
        hi = int(np.searchsorted(ends, (ends[lo - 1] if lo else 0) + chunk, side="right"))
        hi = max(hi, lo + 1)
        npc = n_pieces[lo:hi]
        seg = np.repeat(np.arange(lo, hi), npc)
        first = np.cumsum(npc) - npc
        kk = np.arange(len(seg), dtype=np.float64) - np.repeat(first, npc)
        m = n_pieces[seg].astype(np.float64)
        t0, t1 = kk / m, (kk + 1) / m
        dx, dy = (bx - ax)[seg], (by - ay)[seg]
        xa, xb = ax[seg] + dx * t0, ax[seg] + dx * t1
        ya, yb = ay[seg] + dy * t0, ay[seg] + dy * t1
        ix0 = np.floor((np.minimum(xa, xb) - eps - x0) * inv).astype(np.int64)
        ix1 = np.floor((np.maximum(xa, xb) + eps - x0) * inv).astype(np.int64)
        iy0 = np.floor((np.minimum(ya, yb) - eps - y0) * inv).astype(np.int64)
        iy1 = np.floor((np.maximum(ya, yb) + eps - y0) * inv).astype(np.int64)
        for ox in range(3):
            for oy in range(3):
                sel = (ix0 + ox <= ix1) & (iy0 + oy <= iy1)
                yield ix0[sel] + ox, iy0[sel] + oy
        lo = hi


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy >= 2.3 may pick a slower hash-based path)."""
    a = np.sort(a)
    if a.size:
        a = a[np.r_[True, a[1:] != a[:-1]]]
    return a


class Assignment(NamedTuple):
    """Result of :meth:`GridIndex.assign`; unpack as ``position, snapped = ...``."""

    position: np.ndarray  # int64, -1 = unassigned
    snapped: np.ndarray  # bool

    @property
    def unassigned(self) -> np.ndarray:
        return self.position < 0


def _as_coords(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise SchemaError(f"{name} must be a 1-D array of coordinates, got shape {arr.shape}")
    return arr


class GridIndex:
    """Exact point-in-grid lookup; see the module docstring for the rule."""

    def __init__(
        self,
        geometries: np.ndarray,
        codes: np.ndarray,
        input_rows: np.ndarray,
        crs: Any,
        cell_size: float | None = None,
    ) -> None:
        # Internal: geometries/codes already validated and sorted by code. Build with
        # GridIndex.from_geodataframe(...).
        self.geometries = geometries
        self.codes = codes
        self.input_rows = input_rows
        self.crs = crs
        self._codes_obj = np.empty(len(codes), dtype=object)
        self._codes_obj[:] = list(codes)
        shapely.prepare(self.geometries)
        self._tree: shapely.STRtree | None = None
        self._build(cell_size)
        # GEOS builds each prepared polygon's point locator lazily on first use; do it now, so
        # the first query is not slower and build time shows the whole cost.
        inner = shapely.point_on_surface(self.geometries)
        shapely.intersects_xy(self.geometries, shapely.get_x(inner), shapely.get_y(inner))

    # ------------------------------------------------------------------ build
    @classmethod
    def from_geodataframe(
        cls, grids: Any, *, code_column: str = "code", cell_size: float | None = None
    ) -> GridIndex:
        """Validate ``grids`` and build the index (see module docstring)."""
        crs = check_metric_crs(getattr(grids, "crs", None), what="grids")
        if code_column not in grids.columns:
            raise SchemaError(
                f"grids have no {code_column!r} column (columns: {list(grids.columns)}); "
                "pass code_column=..."
            )
        if len(grids) == 0:
            raise InvalidGeometryError("grids layer is empty: at least one grid polygon is needed")
        codes = grids[code_column].to_numpy()
        if pd.isna(codes).any():
            bad = int(np.flatnonzero(pd.isna(codes))[0])
            raise SchemaError(f"grid code is missing in row {bad}; every grid needs a code")
        if not pd.Index(codes).is_unique:
            dup = pd.Index(codes)[pd.Index(codes).duplicated()][0]
            raise SchemaError(f"grid code {dup!r} occurs more than once; codes must be unique")
        try:
            order = np.argsort(codes, kind="stable")
        except TypeError as exc:
            raise SchemaError(
                f"grid codes in {code_column!r} cannot be sorted (mixed types?): {exc}"
            ) from exc

        geoms = np.asarray(grids.geometry.to_numpy(), dtype=object)
        check_geometries(
            geoms,
            what="grids",
            labels=lambda i: f"grid {codes[i]!r} (row {i})",
            hint="repair with shapely.make_valid or fix the source data",
        )
        return cls(geoms[order], codes[order], order.astype(np.int64), crs, cell_size)

    def _edges(self) -> tuple[np.ndarray, ...]:
        """All ring segments as (ax, ay, bx, by, part); ``self._part_grid`` maps part -> grid."""
        parts, part_grid = shapely.get_parts(self.geometries, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, ring_of = shapely.get_coordinates(rings, return_index=True)
        same = ring_of[1:] == ring_of[:-1]
        a = coords[:-1][same]
        b = coords[1:][same]
        part = ring_part[ring_of[:-1][same]].astype(np.int64)
        self._parts = parts
        self._part_grid = part_grid.astype(np.int64)
        return a[:, 0], a[:, 1], b[:, 0], b[:, 1], part

    def _build(self, cell_size: float | None) -> None:
        ax, ay, bx, by, epart = self._edges()
        n_grids = len(self.geometries)
        n_parts = len(self._parts)
        bounds = shapely.bounds(self.geometries)
        minx, miny = bounds[:, 0].min(), bounds[:, 1].min()
        maxx, maxy = bounds[:, 2].max(), bounds[:, 3].max()
        width, height = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        area = width * height
        floor_size = math.sqrt(area / _MAX_CELLS)
        seg_len = np.hypot(bx - ax, by - ay)
        if cell_size is None:
            # share of cells an edge touches ~ 0.8 * ring length * cell size / area (measured on
            # tessellations, where every shared edge is counted twice in the ring length)
            c = _TARGET_BOUNDARY_SHARE * area / (0.8 * max(float(seg_len.sum()), 1e-9))
            c = max(c, floor_size, 1e-6 * max(width, height))
        else:
            c = float(cell_size)
            if not math.isfinite(c) or c <= 0:
                raise SchemaError(f"cell_size must be a positive number of metres, got {cell_size}")
            if c < floor_size:
                raise SchemaError(
                    f"cell_size {c:g} m would need more than {_MAX_CELLS} raster cells for this "
                    f"extent; use at least {floor_size:.3g} m or leave it to the default"
                )
        # Two empty cells of padding on every side: edge cells never reach the outer ring, so
        # each part's window below has a free, connected outer ring.
        x0, y0 = minx - 2 * c, miny - 2 * c
        nx = int(math.floor((maxx - x0) / c)) + 3
        ny = int(math.floor((maxy - y0) / c)) + 3
        self.cell_size, self._x0, self._y0, self._nx, self._ny = c, x0, y0, nx, ny
        self._bounds = (float(minx), float(miny), float(maxx), float(maxy))
        inv_c = self._inv_c = 1.0 / c
        n_cells = nx * ny
        # Margin absorbing float error of piece end points and of the query's cell arithmetic.
        mag = max(abs(minx), abs(maxx), abs(miny), abs(maxy), 1.0)
        eps = 1e-6 * c + 64 * float(np.spacing(mag))

        # 1. Rasterise every edge conservatively: split it into pieces no longer than a cell and
        #    mark every cell that the eps-grown bounding box of a piece overlaps (<= 3x3 cells).
        n_pieces = np.maximum(1, np.ceil(seg_len / c)).astype(np.int64)
        seg = np.repeat(np.arange(len(ax)), n_pieces)
        first = np.cumsum(n_pieces) - n_pieces
        k = np.arange(len(seg), dtype=np.float64) - np.repeat(first, n_pieces)
        m = n_pieces[seg].astype(np.float64)
        t0 = k / m
        t1 = (k + 1) / m
        del k, m
        dx, dy = (bx - ax)[seg], (by - ay)[seg]
        sx, sy = ax[seg], ay[seg]
        ppart = epart[seg]
        del seg
        pxa, pxb = sx + dx * t0, sx + dx * t1
        ix0 = np.floor((np.minimum(pxa, pxb) - eps - x0) * inv_c).astype(np.int64)
        ix1 = np.floor((np.maximum(pxa, pxb) + eps - x0) * inv_c).astype(np.int64)
        del pxa, pxb, sx, dx
        pya, pyb = sy + dy * t0, sy + dy * t1
        iy0 = np.floor((np.minimum(pya, pyb) - eps - y0) * inv_c).astype(np.int64)
        iy1 = np.floor((np.maximum(pya, pyb) + eps - y0) * inv_c).astype(np.int64)
        del pya, pyb, sy, dy, t0, t1
        base = ppart * n_cells + iy0 * nx + ix0
        spanx, spany = ix1 - ix0, iy1 - iy0
        del ix0, ix1, iy0, iy1, ppart
        keys = [base]  # offset (0, 0) always
        for ox in range(3):
            for oy in range(3):
                if ox or oy:
                    sel = (spanx >= ox) & (spany >= oy)
                    keys.append(base[sel] + (oy * nx + ox))
        del base, spanx, spany
        edge_keys = _sorted_unique(np.concatenate(keys))  # sorted by (part, cell)
        del keys
        edge_part = edge_keys // n_cells
        edge_cell = edge_keys - edge_part * n_cells
        del edge_keys
        part_ptr = np.searchsorted(edge_part, np.arange(n_parts + 1))
        boundary = np.zeros(n_cells, dtype=bool)
        boundary[edge_cell] = True
        boundary2d = boundary.reshape(ny, nx)

        # 2. Pure cells, part by part in descending grid position (lower positions overwrite):
        #    label the cells the part's edges do not touch within its padded window; a
        #    component is wholly inside or outside the part, one exact test per component says
        #    which. 8-connectivity is sound: two such cells sharing a corner form a connected
        #    set no edge touches.
        raster = np.full((ny, nx), _OUTSIDE, dtype=np.int32)
        structure = np.ones((3, 3), dtype=bool)
        extra_cells: list[np.ndarray] = []
        extra_grids: list[np.ndarray] = []
        for part in np.argsort(-self._part_grid, kind="stable"):
            pos = int(self._part_grid[part])
            cells = edge_cell[part_ptr[part] : part_ptr[part + 1]]
            cy, cx = np.divmod(cells, nx)
            wy0, wy1 = int(cy.min()) - 1, int(cy.max()) + 2
            wx0, wx1 = int(cx.min()) - 1, int(cx.max()) + 2
            h, w = wy1 - wy0, wx1 - wx0
            free = np.ones((h, w), dtype=bool)
            free[cy - wy0, cx - wx0] = False
            labels, n_lab = ndimage.label(free, structure=structure)
            if n_lab <= 1:
                continue  # only the outer ring's component: no cell wholly inside
            flat = labels.ravel()
            rep = np.empty(n_lab + 1, dtype=np.int64)
            rep[flat] = np.arange(flat.size)  # some cell of each label
            cand = np.arange(1, n_lab + 1)
            cand = cand[cand != labels[0, 0]]  # the outer ring is outside
            ry, rx = np.divmod(rep[cand], w)
            inside = shapely.intersects_xy(
                self._parts[part], x0 + (wx0 + rx + 0.5) * c, y0 + (wy0 + ry + 0.5) * c
            )
            if not inside.any():
                continue
            lut = np.zeros(n_lab + 1, dtype=bool)
            lut[cand[inside]] = True
            inner = lut[labels]
            bwin = boundary2d[wy0:wy1, wx0:wx1]
            raster[wy0:wy1, wx0:wx1][inner & ~bwin] = pos
            covered = inner & bwin
            if covered.any():  # boundary cells of *other* grids lying wholly inside this one
                yy, xx = np.nonzero(covered)
                extra_cells.append((yy + wy0) * nx + (xx + wx0))
                extra_grids.append(np.full(len(yy), pos, dtype=np.int64))
        del boundary2d, boundary

        # 3. Candidate table of boundary cells, CSR sorted by (cell, position); the raster holds
        #    -2 - rank for the boundary cell of that rank.
        all_cells = np.concatenate([edge_cell, *extra_cells])
        all_grids = np.concatenate([self._part_grid[edge_part], *extra_grids])
        del edge_cell, edge_part
        ck = _sorted_unique(all_cells * n_grids + all_grids)
        del all_cells, all_grids
        cell_of = ck // n_grids
        self._cand = (ck - cell_of * n_grids).astype(np.int32)
        del ck
        start = np.flatnonzero(np.r_[True, cell_of[1:] != cell_of[:-1]])
        bcells = cell_of[start]
        self._bptr = np.r_[start, len(cell_of)].astype(np.int64)
        self._n_boundary = len(bcells)
        flat_raster = raster.reshape(-1)
        flat_raster[bcells] = _BOUNDARY - np.arange(len(bcells), dtype=np.int32)
        self._raster = flat_raster
        self._parts = None  # not needed after the build

        # 4. Refine boundary cells into _SUB x _SUB sub-cells, classified like the cells: a
        #    sub-cell no edge touches gets the owner of its 8-connected component within the
        #    cell (one exact test per component, against the cell's candidates); sub-cells that
        #    edges touch keep the exact test at query time.
        k = _SUB
        nb = len(bcells)
        sub_mark = np.zeros(nb * k * k, dtype=bool)
        eps_sub = 1e-6 * c / k + 64 * float(np.spacing(mag))
        for fx, fy in _piece_cells(ax, ay, bx, by, x0, y0, c / k, eps_sub, chunk=1 << 19):
            value = flat_raster[(fy // k) * nx + fx // k]
            hit = value <= _BOUNDARY  # edges only touch boundary cells (drop float dust)
            rank = _BOUNDARY - value[hit].astype(np.int64)
            sub_mark[rank * (k * k) + (fy[hit] % k) * k + fx[hit] % k] = True
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1] = True  # connect within a cell's block only
        kk = k * k
        sub_dtype = np.int16 if n_grids < np.iinfo(np.int16).max else np.int32
        self._sub = np.empty(nb * kk, dtype=sub_dtype)
        step = 1 << 18  # blocks per round: bounds the build's memory
        # (row offset, column offset, sub-cells on that border) for the four sides
        sides = [
            (0, -1, [r * k for r in range(k)]),
            (0, 1, [r * k + k - 1 for r in range(k)]),
            (-1, 0, list(range(k))),
            (1, 0, [(k - 1) * k + q for q in range(k)]),
        ]
        for b0 in range(0, nb, step):
            b1 = min(nb, b0 + step)
            free = ~sub_mark[b0 * kk : b1 * kk].reshape(b1 - b0, k, k)
            labels, n_lab = ndimage.label(free, structure=structure)
            labels = labels.reshape(b1 - b0, kk)
            rep = np.empty(n_lab + 1, dtype=np.int64)
            base = np.arange(b1 - b0, dtype=np.int64) * kk
            for j in range(kk):  # some sub-cell of each label
                rep[labels[:, j]] = base + j
            rep = rep[1:]
            # A free sub-cell on the block's border shares a side with the neighbouring cell;
            # if that cell is pure, no edge separates them: the component inherits its value.
            owner = np.full(n_lab + 1, _UNKNOWN, dtype=np.int64)
            cells = bcells[b0:b1]
            for dy, dx, border in sides:
                value = flat_raster[cells + (dy * nx + dx)]
                pure = value > _BOUNDARY
                for j in border:
                    lab = labels[:, j]
                    ok = pure & (lab > 0)
                    owner[lab[ok]] = value[ok]
            todo = np.flatnonzero(owner[1:] == _UNKNOWN)
            rep = rep[todo]
            rep_rank = b0 + rep // kk
            sy, sx = np.divmod(rep % kk, k)
            cy, cx = np.divmod(bcells[rep_rank], nx)
            found = np.full(len(todo), _OUTSIDE, dtype=np.int64)
            self._exact(
                np.arange(len(todo)),
                rep_rank,
                x0 + (cx + (sx + 0.5) / k) * c,
                y0 + (cy + (sy + 0.5) / k) * c,
                found,
            )
            owner[todo + 1] = found
            owner[0] = _BOUNDARY
            owner = owner.astype(sub_dtype)
            self._sub[b0 * kk : b1 * kk] = owner[labels.ravel()]

    # ------------------------------------------------------------------ facts
    def __len__(self) -> int:
        return len(self.geometries)

    def __repr__(self) -> str:
        crs = self.crs.to_string() if hasattr(self.crs, "to_string") else self.crs
        return (
            f"GridIndex({len(self)} grids, {crs}, cell {self.cell_size:.3g} m, "
            f"raster {self._ny}x{self._nx}, {self.nbytes / 2**20:.0f} MiB)"
        )

    @property
    def nbytes(self) -> int:
        """Memory held by the lookup structures (raster + candidate table)."""
        return int(self._raster.nbytes + self._bptr.nbytes + self._cand.nbytes + self._sub.nbytes)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the lookup raster."""
        return self._ny, self._nx

    @property
    def boundary_cell_share(self) -> float:
        """Share of raster cells that some edge touches (second-level lookup)."""
        return self._n_boundary / self._raster.size

    @property
    def exact_area_share(self) -> float:
        """Share of the raster area where a query needs an exact test (edge sub-cells)."""
        return float(np.count_nonzero(self._sub == _BOUNDARY)) / (self._raster.size * _SUB**2)

    # ------------------------------------------------------------------ query
    def assign(self, x: Any, y: Any, *, snap_tolerance: float = 0.0) -> Assignment:
        """Grid position of each point ``(x[i], y[i])`` in the index CRS; see module rule."""
        x = _as_coords(x, "x")
        y = _as_coords(y, "y")
        if x.shape != y.shape:
            raise SchemaError(f"x and y differ in length ({len(x)} vs {len(y)})")
        tol = float(snap_tolerance)
        if not (tol >= 0 and math.isfinite(tol)):
            raise SchemaError(f"snap_tolerance must be a finite number >= 0, got {snap_tolerance}")

        n = len(x)
        if n > _CHUNK:  # bound temporaries (~100 bytes per point) for very large inputs
            parts = [
                self.assign(x[i : i + _CHUNK], y[i : i + _CHUNK], snap_tolerance=tol)
                for i in range(0, n, _CHUNK)
            ]
            return Assignment(
                np.concatenate([p.position for p in parts]),
                np.concatenate([p.snapped for p in parts]),
            )
        fx = x - self._x0
        fx *= self._inv_c
        fy = y - self._y0
        fy *= self._inv_c
        # NaN fails every comparison, so non-finite coordinates end up outside.
        inside = (fx >= 0) & (fx < self._nx) & (fy >= 0) & (fy < self._ny)
        if inside.all():
            lin = fy.astype(np.int64)
            lin *= self._nx
            lin += fx.astype(np.int64)
            value = self._raster.take(lin)
        else:
            idx = np.flatnonzero(inside)
            lin = fy[idx].astype(np.int64) * self._nx + fx[idx].astype(np.int64)
            value = np.full(n, _OUTSIDE, dtype=self._raster.dtype)
            value[idx] = self._raster.take(lin)
        position = value.astype(np.int64)

        near = np.flatnonzero(value <= _BOUNDARY)
        if near.size:
            # second level: sub-cell of the boundary cell (fx * _SUB is exact: power of two)
            rank = _BOUNDARY - value[near].astype(np.int64)
            k = _SUB
            sub = rank * (k * k)
            sub += (fy[near] * k).astype(np.int64) % k * k
            sub += (fx[near] * k).astype(np.int64) % k
            sub_value = self._sub.take(sub)
            position[near] = sub_value
            exact = sub_value <= _BOUNDARY
            if exact.any():
                position[near[exact]] = _OUTSIDE
                self._exact(near[exact], rank[exact], x, y, position)

        snapped = np.zeros(n, dtype=bool)
        if tol > 0:
            self._snap(x, y, position, snapped, tol)
        return Assignment(position, snapped)

    def _exact(
        self, idx: np.ndarray, rank: np.ndarray, x: np.ndarray, y: np.ndarray, out: np.ndarray
    ) -> None:
        start = self._bptr[rank]
        count = self._bptr[rank + 1] - start
        px, py = x[idx], y[idx]
        pending = np.arange(len(idx))
        k = 0
        while pending.size:
            pending = pending[count[pending] > k]
            if not pending.size:
                break
            grid = self._cand[start[pending] + k]
            # Grouping by grid keeps each prepared geometry hot in cache: ~5x faster in GEOS.
            by_grid = np.argsort(grid, kind="stable")
            pending, grid = pending[by_grid], grid[by_grid]
            hit = shapely.intersects_xy(self.geometries[grid], px[pending], py[pending])
            out[idx[pending[hit]]] = grid[hit]
            pending = pending[~hit]
            k += 1

    def _snap(
        self, x: np.ndarray, y: np.ndarray, position: np.ndarray, snapped: np.ndarray, tol: float
    ) -> None:
        todo = np.flatnonzero(position < 0)
        minx, miny, maxx, maxy = self._bounds
        xt, yt = x[todo], y[todo]
        # NaN fails these comparisons too; points farther than tol from the extent can't snap
        near = (xt >= minx - tol) & (xt <= maxx + tol) & (yt >= miny - tol) & (yt <= maxy + tol)
        todo = todo[near]
        if not todo.size:
            return
        if self._tree is None:
            self._tree = shapely.STRtree(self.geometries)
        pts = shapely.points(x[todo], y[todo])
        # prepared 'dwithin' filter (distance <= tol), exact distances only for the survivors
        qi, gi = self._tree.query(pts, predicate="dwithin", distance=tol)
        if not qi.size:
            return
        dist = shapely.distance(pts[qi], self.geometries[gi])
        ok = dist <= tol
        qi, gi, dist = qi[ok], gi[ok], dist[ok]
        if not qi.size:
            return
        order = np.lexsort((gi, dist, qi))  # per point: nearest, then lowest position
        qi, gi = qi[order], gi[order]
        first = np.r_[True, qi[1:] != qi[:-1]]
        hit = todo[qi[first]]
        position[hit] = gi[first]
        snapped[hit] = True

    def assign_points(self, points: Any, *, snap_tolerance: float = 0.0) -> pd.DataFrame:
        """Assign a GeoDataFrame/GeoSeries of points; returns code / snapped / unassigned."""
        crs = getattr(points, "crs", None)
        if crs is None:
            raise CRSError(f"points have no CRS; set it to the grids' CRS ({self.crs.name})")
        if crs != self.crs:
            raise CRSError(
                f"points are in {crs.name!r} but the grid index is in {self.crs.name!r}; "
                "reproject the points with .to_crs(index.crs)"
            )
        geoms = np.asarray(points.geometry.to_numpy() if hasattr(points, "geometry") else points)
        types = shapely.get_type_id(geoms)
        bad = (types != shapely.GeometryType.POINT) & (types != -1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidGeometryError(
                f"point row {i} is a {geoms[i].geom_type}; only Point geometries can be assigned"
            )
        usable = (types == shapely.GeometryType.POINT) & ~shapely.is_empty(geoms)
        x = np.full(len(geoms), np.nan)
        y = np.full(len(geoms), np.nan)
        x[usable] = shapely.get_x(geoms[usable])
        y[usable] = shapely.get_y(geoms[usable])
        result = self.assign(x, y, snap_tolerance=snap_tolerance)  # NaN -> unassigned
        unassigned = result.position < 0
        code = self._codes_obj.take(np.where(unassigned, 0, result.position))
        code[unassigned] = None
        return pd.DataFrame(
            {"code": code, "snapped": result.snapped, "unassigned": unassigned},
            index=points.index,
        )
