"""Result types of the patrol solver: one team's closed walk, a plan of k walks."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Plan", "Route"]


@dataclass(frozen=True)
class Route:
    """One closed walk of one team.

    Attributes
    ----------
    team : int
        Team index, ``0 .. k-1``.
    nodes : list
        Node labels of the walk, first and last is the depot.
    edges : list of tuple
        Traversed edges in order as ``(u, v, key)`` in the direction of travel; ``key`` is
        the multigraph key (``from_graph`` on a Multi(Di)Graph), ``None`` for a simple
        graph, or the position of the edge in the input list (``from_edges``).
    cost : float
        Length (or time) of the walk, including service/dwell extras.
    deadhead_cost : float
        Part of ``cost`` spent on edges traversed without serving them.
    served : list
        Ids of the required edges this route serves, in service order.
    sortie : int
        0, or the index of the sortie when an over-long route was split (``split_sorties``);
        in a plan cut into shifts, the day of the cycle (0-based).
    over_shift : bool
        True when ``cost`` exceeds the team's shift.
    """

    team: int
    nodes: list
    edges: list[tuple]
    cost: float
    deadhead_cost: float
    served: list
    sortie: int = 0
    over_shift: bool = False


@dataclass(frozen=True)
class Plan:
    """A set of routes covering every reachable required edge.

    Attributes
    ----------
    routes : list of Route
        One route per team (several per team when sorties were split).
    longest, shortest : float
        Largest and smallest route cost.
    total_cost, total_deadhead : float
        Sums over routes.
    unreachable : list
        Ids of required edges that no closed walk from the depot can traverse (another
        connected component, or a one-way street one cannot come back from).
    coverage : float
        Share of reachable required edges served (1.0 for a plan from this solver).
    lower_bound : float
        A valid lower bound on ``longest``: the larger of the farthest-edge round trip
        and (required length + unavoidable deadheading) / k, where the deadheading is
        half the optimal assignment among the odd-degree nodes of the required streets
        (undirected networks; 0 otherwise).  ``longest / lower_bound`` is the gap.
    over_shift : list of int
        Teams with at least one route longer than the shift.
    beyond_shift : list
        Plans cut into shifts: ids of required edges no sortie can reach, walk and come
        back from within a shift (too far from the depot); they are not served.
    every_shift_rotated : list
        Plans cut into shifts: priority edges that did not fit in every shift and rotate.
    days : list of int
        Plans cut into shifts: per team, its number of sorties, one a day (the days it
        needs to walk all its streets); empty otherwise.
    seed, iterations, seconds, stopped_by
        Search bookkeeping; ``stopped_by`` is ``"time"``, ``"iterations"``, ``"stall"``,
        ``"lower_bound"`` or ``"empty"``.  The result is reproducible for a seed unless
        ``stopped_by == "time"``.
    """

    routes: list[Route]
    longest: float
    shortest: float
    total_cost: float
    total_deadhead: float
    unreachable: list
    coverage: float
    lower_bound: float
    over_shift: list[int] = field(default_factory=list)
    beyond_shift: list = field(default_factory=list)
    every_shift_rotated: list = field(default_factory=list)
    days: list[int] = field(default_factory=list)
    seed: int = 0
    iterations: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    #: the solver's own encoding of the routes (for :meth:`MinMaxRoutes.cut_into_shifts`)
    sequences: list = field(default_factory=list, repr=False, compare=False)
