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

The package by task: :mod:`.solver` (GridProposer, Proposal), :mod:`.cells` (units,
blocks, cells, adjacency), :mod:`.partition` (balanced regions), :mod:`.assemble` (grid
polygons from regions), :mod:`.metrics` (proposal_metrics, balance_index).
"""

from ..geometry import polsby_popper
from .metrics import DEFAULT_BAND, balance_index, proposal_metrics
from .solver import GridProposer, Proposal

__all__ = [
    "DEFAULT_BAND",
    "GridProposer",
    "Proposal",
    "proposal_metrics",
    "balance_index",
    "polsby_popper",
]
