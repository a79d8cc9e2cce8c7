"""The planner's validation report for a grid layer (issue 4 §1).

:func:`validate_grids` checks a layer of management grids (网格) against their
communities (社区) and, when given, the buildings, streets, water and incidents around
them; :func:`validate_grid` checks one draft grid against its community and the other
grids already drawn there. Both return a :class:`GridReport`: a list of
:class:`Problem` (each with a kind, the grid codes, a message saying what is wrong and
what to do, an area where it has one and a location a map can point at), a per-grid
metrics table and a summary. :meth:`GridReport.to_dict` is plain JSON with geometries in
the input CRS (the API layer reprojects).

The same rules check sub-grids (子网格, ``level == "subgrid"``) against their grids: pass
the grids as ``parents=`` (an alias of ``communities=``) and a smaller ``band``.
Dedicated grids (专属网格, ``kind == "dedicated"``: campuses, parks) get every geometric
check but no household band (``exempt_band_kinds``). Messages name the level ("Sub-grid
... outside its grid ...") and every :class:`Problem` carries it as ``level``. A layer
holding both grids and sub-grids is validated one level at a time (call twice): sub-grids
lie inside their grids, so one call would report them as overlaps.

Problem kinds
-------------
``gap``
    Part of a community covered by none of its grids (a community without any grid is
    one gap; a grid without sub-grids is not).
``overlap``
    Two grids overlap.
``crosses_parent``
    A grid extends outside its parent community (a sub-grid outside its grid).
``split_building``
    A building footprint is divided between grids; it counts for the grid holding most of
    its footprint.
``multipart``
    A grid is a MultiPolygon whose parts touch only at points (connected by a corner).
``noncontiguous``
    A grid has parts separated from each other: its worker has to leave it to go between
    them.
``households_out_of_band``
    Households per grid outside ``band`` (grids of ``exempt_band_kinds`` are not checked).
``unknown_parent``
    A grid's ``parent_code`` is not among the communities (parents) given.

Why this is written here: no library has the grid-management rules as such (cover the
community with no gaps or overlaps, never cross it, keep buildings whole, 300-500
households). Each check is a few vectorised shapely 2 calls (``STRtree`` queries,
array-wise ``intersection`` / ``difference``); only the per-community unions and the
per-grid walk tours loop in Python. The walk tour is the Chinese-postman tour (Edmonds &
Johnson 1973): the graph algorithms come from scipy (Dijkstra, components, minimum
spanning tree) and networkx (minimum-weight matching); only the glue is ours, because
networkx's own ``eulerize`` builds the full shortest-path matrix of the whole graph and
handles neither disconnected pieces nor thousands of grids.

Boundary shares (``street_share``, ``water_share``, ``parent_share``) are not exclusive:
a boundary stretch along a street that is also the community boundary counts for both;
``other_share`` is the share along none of them. They are measured by cutting each grid
boundary into pieces of at most ``boundary_buffer_m`` and testing each piece's midpoint,
so they are exact to about half a piece per change of kind.

All layers must share one projected CRS in metres; anything else raises
:class:`~gridpatrol.geo.errors.CRSError`.

The package by task: :mod:`.results` (Problem, GridReport), :mod:`.inputs` (input checks
and shared helpers), :mod:`.checks` (the geometric checks), :mod:`.metrics` (per-grid
figures and the summary), :mod:`.walk` (walk tours), :mod:`.report` (the two entry points).

At scale the two costly inputs come prepared: ``incident_counts`` (incidents counted per
grid by the store's ``GROUP BY``) instead of the incident points, and the walk tours as
a table made once per grid version (:func:`walk_tour_table`, joined with
:meth:`GridReport.with_walk_tours`) instead of ``walk_tours=True`` on every report.
"""

from .metrics import count_incidents
from .report import validate_grid, validate_grids
from .results import PROBLEM_KINDS, GridReport, Problem
from .walk import TOUR_COLUMNS, walk_tour_table

__all__ = [
    "PROBLEM_KINDS",
    "TOUR_COLUMNS",
    "GridReport",
    "Problem",
    "count_incidents",
    "validate_grid",
    "validate_grids",
    "walk_tour_table",
]
