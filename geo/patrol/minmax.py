"""Balanced patrol routes: the min-max k-rural-postman problem.

Split the required streets of a network among ``k`` teams so that every required street
is traversed at least once, every route is a closed walk from and to the depot, and the
longest route is as short as possible (total deadheading breaks ties).

Pure algorithm, no I/O.  Build a solver with :meth:`MinMaxRoutes.from_edges` or
:meth:`MinMaxRoutes.from_graph`, then call :meth:`MinMaxRoutes.solve` (one plan) or
:meth:`MinMaxRoutes.rotations` (several different plans of about the same quality, for
unpredictable patrols on different days).  Results are plain dataclasses.

The search itself is written by hand in :mod:`._search` (see there why: no maintained
library solves min-max k-rural-postman; OR-Tools, VROOM and PyVRP are node routing and
``postman_problems`` builds a single route).

Size note: ~710 lines, over the ~600 guide: the solver class holds set-up, the single-
and several-depot entry points and the territory search side by side (they share its
state); the several-depot set-up and ``_territory_search`` are the next to move to
:mod:`._territory` when this grows.

Examples
--------
>>> solver = MinMaxRoutes.from_edges([(0, 1, 2.0), (1, 2, 2.0), (2, 0, 2.0)], depot=0, k=2)
>>> plan = solver.solve(seed=0, time_limit=1.0)
>>> plan.coverage
1.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..errors import InfeasiblePlanError, NotFoundError, SchemaError
from ._results import _Results
from ._search import Core, SearchResult
from ._territory import (
    _to_parent,
    station_territory_routes,
    street_points,
    sub_core,
    sub_nodes,
    territory_hulls_xy,
)
from .plan import Plan, Route

__all__ = ["MinMaxRoutes", "Plan", "Route"]

#: Largest number of relevant nodes (depot + end points of required edges) accepted; the
#: solver keeps a dense shortest-path matrix among them (8 bytes * r * r).
MAX_RELEVANT_NODES = 12_000
#: Largest relevant-nodes x nodes for keeping the shortest-path trees (4 bytes a cell).
PREDECESSOR_CELLS = 60_000_000
SEARCH_SHARE = 0.9  # of a time limit for the search; the rest for path expansion and slack


@dataclass
class _Task:
    u: int
    v: int
    cost_uv: float
    cost_vu: float | None  # None: one-way u -> v
    key_uv: Any
    key_vu: Any
    eid: Hashable


def _odd_join_bound(D: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """Lower bound on the deadheading any set of closed walks serving edges ``u-v`` needs.

    The k routes together form an Eulerian multigraph holding every required edge; its
    extra edges join the odd-degree nodes of the required edges in pairs (a T-join), so
    they cost at least a min-weight perfect matching of those nodes under ``D``, and at
    least half the optimal assignment (each node to another one), its relaxation, which
    scipy solves exactly.  Undirected costs only (``D`` symmetric).
    """
    deg = np.bincount(np.concatenate([u, v]), minlength=len(D))
    odd = np.flatnonzero(deg % 2)
    if len(odd) < 2:
        return 0.0
    M = D[np.ix_(odd, odd)]
    if not np.allclose(M, M.T) or (M >= 1e17).any():
        return 0.0  # odd nodes that cannot reach each other: no finite bound this way
    np.fill_diagonal(M, 1e18)
    i, j = linear_sum_assignment(M)
    return float(M[i, j].sum()) / 2.0


def _check_cost(value: Any, what: str) -> float:
    try:
        c = float(value)
    except (TypeError, ValueError):
        raise SchemaError(f"{what}: cost {value!r} is not a number") from None
    if not math.isfinite(c) or c < 0:
        raise SchemaError(f"{what}: cost {value!r} must be finite and >= 0")
    return c


class MinMaxRoutes(_Results):
    """Min-max k-rural-postman solver (balanced closed patrol walks from one depot).

    Build it with :meth:`from_edges` or :meth:`from_graph`.

    Parameters
    ----------
    nodes : sequence
        Node labels; internal index = position.
    arcs : list of (int, int, float, key)
        Every traversable arc (both directions of a two-way street).
    tasks : list of _Task
        Required edges.
    depot : hashable
        Depot node label.
    k : int
        Number of teams, >= 1.
    service : mapping, optional
        Extra service time (dwell) per required edge id, added to the route serving it.
    xy : mapping, optional
        Planar coordinates per node (metres); on large undirected instances the first
        plan then gives each team a compact territory (a sector around the depot).
    depots : sequence, optional
        Station node of each team (``k`` labels; teams may share one) when teams start
        from different stations; plans then need ``territories=True``.  Default: every
        team starts at ``depot``.  Streets are reachable when a closed walk from
        ``depot`` can serve them.
    """

    def __init__(
        self,
        nodes: Sequence,
        arcs: list[tuple[int, int, float, Any]],
        tasks: list[_Task],
        *,
        depot: Hashable,
        k: int,
        service: Mapping[Hashable, float] | None = None,
        xy: Mapping[Hashable, tuple[float, float]] | None = None,
        depots: Sequence[Hashable] | None = None,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InfeasiblePlanError(f"k must be an integer number of teams, got {k!r}")
        if k < 1:
            raise InfeasiblePlanError(f"k must be at least 1 team, got {k}")
        index = {n: i for i, n in enumerate(nodes)}
        if depot not in index:
            raise NotFoundError(
                f"depot {depot!r} is not a node of the network; "
                "pick an existing node (e.g. the nearest node to the base)"
            )
        self.k = int(k)
        self.nodes = list(nodes)
        self.depot = depot
        self._dep = index[depot]
        if depots is None:
            depots = [depot] * self.k
        depots = list(depots)
        if len(depots) != self.k:
            raise SchemaError(f"depots has {len(depots)} stations for {self.k} teams")
        for d in depots:
            if d not in index:
                raise NotFoundError(
                    f"station node {d!r} is not a node of the network; "
                    "pick an existing node (e.g. the nearest node to the station)"
                )
        #: station node label of each team, and its node index
        self.depots = depots
        self._team_dep = [index[d] for d in depots]
        n = len(self.nodes)
        # deadhead arcs: cheapest arc per ordered pair
        best: dict[tuple[int, int], tuple[float, Any]] = {}
        for a, b, c, key in arcs:
            if a == b:
                continue
            old = best.get((a, b))
            if old is None or c < old[0]:
                best[(a, b)] = (c, key)
        self._arc = best
        if best:
            ab = np.array(list(best.keys()), dtype=np.int64)
            w = np.array([v[0] for v in best.values()], dtype=float)
            # zero-cost arcs would vanish in a sparse matrix: use a tiny positive weight
            w = np.where(w > 0, w, 1e-12)
            self._csr = csr_matrix((w, (ab[:, 0], ab[:, 1])), shape=(n, n))
        else:
            self._csr = csr_matrix((n, n))
        self.service = {} if service is None else dict(service)
        unknown = set(self.service) - {t.eid for t in tasks}
        if unknown:
            raise NotFoundError(
                f"service times given for edges that are not required: "
                f"{sorted(map(repr, unknown))[:5]}"
            )
        self._all_tasks = tasks
        self._xy = None
        if xy is not None and all(n in xy for n in self.nodes):
            self._xy = np.array([xy[n] for n in self.nodes], dtype=float)
        self._alias: dict[Hashable, Hashable] = {}
        self._prepare()

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_edges(
        cls,
        edges: Iterable[Sequence],
        *,
        depot: Hashable,
        k: int,
        required: Iterable[int] | None = None,
        directed: bool = False,
        service: Mapping[int, float] | None = None,
        depots: Sequence[Hashable] | None = None,
    ) -> MinMaxRoutes:
        """Build a solver from an edge list.

        Parameters
        ----------
        edges : iterable of tuple
            ``(u, v, cost)`` or ``(u, v, cost_uv, cost_vu)``.  Undirected mode: every edge
            is a two-way street (4-tuples give a direction-dependent, "windy", cost).
            Directed mode: a 3-tuple is a one-way street u -> v; a 4-tuple is a two-way
            street (``cost_vu`` ``None`` or ``inf`` makes it one-way).
        depot : hashable
            Depot node.
        k : int
            Number of teams.
        required : iterable of int, optional
            Positions (in ``edges``) of the required edges; default all.  The others are
            only usable to travel between required edges.
        directed : bool
            See ``edges``.
        service : mapping of int to float, optional
            Extra service (dwell) time per required edge position.
        depots : sequence, optional
            Station node of each team, when teams start from different stations.

        Returns
        -------
        MinMaxRoutes
            Edge ids in results are positions in ``edges``; route edge keys too.
        """
        edges = list(edges)
        labels: dict[Hashable, int] = {}
        for e in edges:
            for node in e[:2]:
                labels.setdefault(node, len(labels))
        nodes = list(labels)
        req = set(range(len(edges))) if required is None else set(required)
        bad = [r for r in req if not (isinstance(r, (int, np.integer)) and 0 <= r < len(edges))]
        if bad:
            raise NotFoundError(f"required edge positions out of range: {bad[:5]}")
        arcs, tasks = [], []
        for i, e in enumerate(edges):
            if len(e) not in (3, 4):
                raise SchemaError(f"edge {i}: expected (u, v, cost) or (u, v, cost_uv, cost_vu)")
            u, v = labels[e[0]], labels[e[1]]
            c_uv = _check_cost(e[2], f"edge {i}")
            if len(e) == 4:
                c_vu = None if e[3] is None or e[3] == math.inf else _check_cost(e[3], f"edge {i}")
            else:
                c_vu = None if directed else c_uv
            arcs.append((u, v, c_uv, i))
            if c_vu is not None:
                arcs.append((v, u, c_vu, i))
            if i in req:
                tasks.append(_Task(u, v, c_uv, c_vu, i, i, i))
        return cls(nodes, arcs, tasks, depot=depot, k=k, service=service, depots=depots)

    @classmethod
    def from_graph(
        cls,
        G: Any,
        *,
        depot: Hashable,
        k: int,
        weight: str = "length",
        required: Iterable[tuple] | None = None,
        merge_opposite: bool = True,
        service: Mapping[tuple, float] | None = None,
        depots: Sequence[Hashable] | None = None,
    ) -> MinMaxRoutes:
        """Build a solver from a networkx (Multi)(Di)Graph, e.g. a projected osmnx graph.

        Parameters
        ----------
        G : networkx.Graph, DiGraph, MultiGraph or MultiDiGraph
            Street network; ``weight`` is the edge cost (metres for osmnx ``length``,
            or a travel time).
        depot : hashable
            Depot node.
        k : int
            Number of teams.
        weight : str
            Edge attribute holding the cost.
        required : iterable of tuple, optional
            Required edge ids, ``(u, v)`` or ``(u, v, key)`` for multigraphs; default all.
            For a two-way street of a directed graph either arc's id selects the street.
        merge_opposite : bool
            Directed graphs only.  An arc ``u -> v`` whose ``oneway`` attribute is not
            true is merged with an opposite non-one-way arc ``v -> u`` (the closest in
            cost) into ONE two-way street to serve in either direction (osmnx stores
            a two-way street as two arcs).  Arcs left unpaired, and arcs with
            ``oneway`` true, are one-way streets that can only be traversed u -> v.
        service : mapping, optional
            Extra service (dwell) time per required edge id.
        depots : sequence, optional
            Station node of each team, when teams start from different stations.

        Returns
        -------
        MinMaxRoutes
            Edge ids in results are ``(u, v, key)`` (multigraphs) or ``(u, v)``.
        """
        nodes = list(G.nodes)
        index = {n: i for i, n in enumerate(nodes)}
        multi = G.is_multigraph()
        directed = G.is_directed()
        raw = []  # (u, v, key, cost, oneway_flag)
        it = (
            G.edges(keys=True, data=True)
            if multi
            else ((u, v, None, d) for u, v, d in G.edges(data=True))
        )
        for u, v, key, d in it:
            if weight not in d:
                raise SchemaError(
                    f"edge {(u, v, key) if multi else (u, v)} has no "
                    f"{weight!r} attribute; pass weight=<attribute name>"
                )
            c = _check_cost(d[weight], f"edge {(u, v, key)}")
            ow = d.get("oneway", False)
            if isinstance(ow, str):
                ow = ow.lower() in ("yes", "true", "1", "-1")
            elif isinstance(ow, (list, tuple)):
                ow = any(bool(x) for x in ow)
            raw.append((u, v, key, c, bool(ow)))

        def eid(u, v, key):
            return (u, v, key) if multi else (u, v)

        arcs, streets = [], []  # streets: (u, v, c_uv, c_vu|None, key_uv, key_vu, eid, alias)
        if not directed:
            for u, v, key, c, _ in raw:
                a, b = index[u], index[v]
                arcs.append((a, b, c, key))
                arcs.append((b, a, c, key))
                streets.append((a, b, c, c, key, key, eid(u, v, key), None))
        else:
            for u, v, key, c, _ in raw:
                arcs.append((index[u], index[v], c, key))
            used = [False] * len(raw)
            by_pair: dict[tuple, list[int]] = {}
            for i, (u, v, _key, _c, ow) in enumerate(raw):
                if merge_opposite and not ow:
                    by_pair.setdefault((u, v), []).append(i)
            for i, (u, v, key, c, ow) in enumerate(raw):
                if used[i]:
                    continue
                used[i] = True
                partner = None
                if merge_opposite and not ow:  # a loop pairs with its other direction too
                    cands = [j for j in by_pair.get((v, u), []) if not used[j]]
                    if cands:
                        partner = min(cands, key=lambda j: (abs(raw[j][3] - c), j))
                        used[partner] = True
                a, b = index[u], index[v]
                if partner is None:
                    streets.append((a, b, c, None, key, None, eid(u, v, key), None))
                else:
                    pu, pv, pk, pc, _ = raw[partner]
                    streets.append((a, b, c, pc, key, pk, eid(u, v, key), eid(pu, pv, pk)))
        if required is None:
            chosen = streets
        else:
            want = set()
            for r in required:
                r = tuple(r)
                if multi and len(r) == 2:
                    want.update((r[0], r[1], kk) for kk in G[r[0]][r[1]]) if G.has_edge(
                        r[0], r[1]
                    ) else want.add(r)
                else:
                    want.add(r)
            if not directed:
                want |= {(w[1], w[0], *w[2:]) for w in want}
            known = {s[6] for s in streets} | {s[7] for s in streets if s[7] is not None}
            if not directed:
                known |= {(s[6][1], s[6][0], *s[6][2:]) for s in streets}
            missing = want - known
            if missing:
                raise NotFoundError(
                    f"required edges not in the graph: {sorted(map(repr, missing))[:5]}"
                )
            chosen = [s for s in streets if s[6] in want or (s[7] is not None and s[7] in want)]
        tasks = [_Task(a, b, c, cr, ka, kb, e) for a, b, c, cr, ka, kb, e, _ in chosen]
        alias = {s[7]: s[6] for s in streets if s[7] is not None}
        if not directed:  # an undirected edge may be named in either orientation
            alias.update({(s[6][1], s[6][0], *s[6][2:]): s[6] for s in streets})
        if service is not None:
            service = {alias.get(tuple(key), tuple(key)): val for key, val in service.items()}
        # node coordinates (osmnx x/y, metres once projected): territories by sweep
        xy = None
        if nodes and all("x" in d and "y" in d for _, d in G.nodes(data=True)):
            xy = {n: (float(d["x"]), float(d["y"])) for n, d in G.nodes(data=True)}
        solver = cls(nodes, arcs, tasks, depot=depot, k=k, service=service, xy=xy, depots=depots)
        solver._alias = alias
        if xy is not None:
            solver._street_points(G)
        return solver

    def _street_points(self, G: Any, m: int = 5) -> None:
        """``m`` points along each street's geometry (territories cut by where streets
        are, not by the chord between their ends: a loop path has both ends at one
        corner)."""
        import shapely

        pts = np.empty((len(self._tasks), m, 2))
        frac = np.linspace(0.0, 1.0, m)
        for i, t in enumerate(self._tasks):
            u, v = self.nodes[t.u], self.nodes[t.v]
            data = G.get_edge_data(u, v)
            d = data.get(t.key_uv, next(iter(data.values()))) if G.is_multigraph() else data
            geom = d.get("geometry")
            if geom is None:
                pts[i] = self._xy[t.u] + frac[:, None] * (self._xy[t.v] - self._xy[t.u])
            else:
                got = shapely.line_interpolate_point(geom, frac, normalized=True)
                pts[i] = shapely.get_coordinates(got)
        self._pts = pts

    def street_id(self, edge: Hashable) -> Hashable:
        """The id under which results name a required edge.

        ``Route.served`` and ``Plan.unreachable`` name a two-way street of a directed graph
        by one of its two arcs (and an edge of an undirected graph in one orientation);
        this maps either arc, or either orientation, to that id.

        Parameters
        ----------
        edge : hashable
            An edge id as accepted in ``required`` (``(u, v, key)``, ``(u, v)`` or, for
            ``from_edges``, a position).

        Returns
        -------
        hashable
            The id used in results (``edge`` itself when it is not an alias).
        """
        key = tuple(edge) if isinstance(edge, (list, tuple)) else edge
        return self._alias.get(key, key)

    # ------------------------------------------------------------ preparation
    def _prepare(self) -> None:
        dep = self._dep
        d_from = dijkstra(self._csr, directed=True, indices=dep)
        d_to = dijkstra(self._csr.T.tocsr(), directed=True, indices=dep)
        reach, unreach = [], []
        for t in self._all_tasks:
            extra = _check_cost(self.service.get(t.eid, 0.0), f"service of {t.eid!r}")
            ok_f = d_from[t.u] + t.cost_uv + d_to[t.v] < math.inf
            ok_b = t.cost_vu is not None and d_from[t.v] + t.cost_vu + d_to[t.u] < math.inf
            if ok_f or ok_b:
                reach.append((t, extra))
            else:
                unreach.append(t.eid)
        self._tasks = [t for t, _ in reach]
        self.unreachable = unreach
        rel = [dep]
        pos = {dep: 0}
        for x in self._team_dep:  # stations: walks start there
            if x not in pos:
                pos[x] = len(rel)
                rel.append(x)
        #: relevant-node index of each team's station
        self._team_pos = [pos[x] for x in self._team_dep]
        for t, _ in reach:
            for x in (t.u, t.v):
                if x not in pos:
                    pos[x] = len(rel)
                    rel.append(x)
        if len(rel) > MAX_RELEVANT_NODES:
            raise InfeasiblePlanError(
                f"{len(rel)} relevant nodes exceed {MAX_RELEVANT_NODES}; split the area "
                "into smaller patrol districts"
            )
        self._rel = np.array(rel, dtype=np.int64)
        r = len(rel)
        D = np.empty((r, r))
        t_sp = time.perf_counter()
        # keep the shortest-path trees when they fit (int32, r x n): expanding routes
        # into street paths then needs no second Dijkstra
        keep = r * len(self.nodes) <= PREDECESSOR_CELLS
        self._pred: dict[int, np.ndarray] = {}
        for lo in range(0, r, 512):
            got = dijkstra(
                self._csr,
                directed=True,
                indices=self._rel[lo : lo + 512],
                return_predecessors=keep,
            )
            rows = got[0] if keep else got
            if keep:
                for i, node in enumerate(self._rel[lo : lo + 512]):
                    self._pred[int(node)] = got[1][i]
            D[lo : lo + 512] = rows[:, self._rel]
        # expanding routes into paths runs a Dijkstra from about as many nodes (unless
        # the trees were kept): keep that much of every time limit for it, plus slack
        self._expand_seconds = (0.1 if keep else 1.5) * (time.perf_counter() - t_sp)
        D[~np.isfinite(D)] = 1e18  # only between nodes that never need to meet
        np.fill_diagonal(D, 0.0)
        self._D = D
        T = len(reach)
        S = np.empty(2 * T, dtype=np.int64)
        E = np.empty(2 * T, dtype=np.int64)
        C = np.zeros(2 * T)
        F = np.zeros(2 * T, dtype=bool)
        for i, (t, extra) in enumerate(reach):
            S[2 * i], E[2 * i] = pos[t.u], pos[t.v]
            S[2 * i + 1], E[2 * i + 1] = pos[t.v], pos[t.u]
            ok_f = d_from[t.u] + t.cost_uv + d_to[t.v] < math.inf
            ok_b = t.cost_vu is not None and d_from[t.v] + t.cost_vu + d_to[t.u] < math.inf
            C[2 * i] = t.cost_uv + extra
            C[2 * i + 1] = (t.cost_vu if t.cost_vu is not None else 0.0) + extra
            F[2 * i] = not ok_f
            F[2 * i + 1] = not ok_b
        self._S, self._E, self._C, self._F = S, E, C, F
        self._extra = np.array([x for _, x in reach], dtype=float)
        # lower bound: farthest required edge round trip, required work / k
        if T:
            # the farthest street from its nearest station, there and back
            home = sorted(set(self._team_pos))
            rt = np.min(D[home][:, S] + D[E][:, home].T, axis=0) + np.where(F, np.inf, C)
            spt = float(np.min(rt.reshape(T, 2), axis=1).max())
            work = float(np.min(np.where(F, np.inf, C).reshape(T, 2), axis=1).sum())
            odd_join = _odd_join_bound(D, S[0::2], E[0::2]) if not F.any() else 0.0
            self.lower_bound = max(spt, (work + odd_join) / self.k)
        else:
            self.lower_bound = 0.0
        arc = self._arc
        sym = all(
            (b, a) in arc and abs(arc[(b, a)][0] - c) <= 1e-9 * max(1.0, c)
            for (a, b), (c, _) in arc.items()
        )
        self._core = Core(
            D,
            S,
            E,
            C,
            F,
            xy=None if self._xy is None else self._xy[self._rel],
            symmetric_paths=True if sym else None,
        )

    # ------------------------------------------------------------ solving
    def _search_limit(self, time_limit: float) -> float:
        """Seconds of ``time_limit`` for the search: the rest expands routes into paths."""
        return max(0.1 * time_limit, time_limit * SEARCH_SHARE - self._expand_seconds)

    def solve(
        self,
        *,
        seed: int = 0,
        time_limit: float = 5.0,
        max_iterations: int | None = None,
        max_stall: int | None = 2000,
        shift: float | Sequence[float] | None = None,
        split_sorties: bool = False,
        territories: bool = False,
    ) -> Plan:
        """Compute one plan.

        Parameters
        ----------
        seed : int
            Random seed; same seed and inputs give the same plan unless the search stops
            on ``time_limit`` (see ``Plan.stopped_by``).
        time_limit : float
            Wall-clock limit in seconds for the whole call: the search stops at
            ``SEARCH_SHARE`` of it less the time expanding the routes into street paths
            is expected to take (measured on the shortest-path step of the set-up), the
            rest is slack for a loaded machine.  ``Plan.lower_bound`` says how far the
            result may be from optimal.
        max_iterations : int, optional
            Stop after this many ruin-and-recreate iterations (deterministic budget).
        max_stall : int, optional
            Stop after this many iterations without improvement.
        shift : float or sequence of float, optional
            Maximum cost (length or time, same unit as the costs) of one route, for all
            teams or per team.  Longer routes are flagged (``Route.over_shift``).
        split_sorties : bool
            Split an over-long route into several sorties from the depot, each within the
            shift where possible (a sortie that still exceeds it stays flagged).
        territories : bool
            First give each team a compact convex territory (several stations: a power
            diagram around them, balanced on work; teams of one station: power cells
            around k-means centres, balanced on route costs), then route each team
            inside its own territory only, from and to its own station, its deadheading
            kept out of other territories where a detour of up to ``AWAY_PENALTY`` times
            allows: routes of different teams interleave less
            (:func:`~.interleave.interleave_shares`), at some cost in the longest
            route.  Needed when teams start from different stations.

        Returns
        -------
        Plan
        """
        t0 = time.perf_counter()
        self._check_territories(territories)
        self._team_paths = None
        if territories:
            res = self._territory_search(seed=seed, time_limit=self._search_limit(time_limit))
        else:
            res = self._core.run(
                self.k,
                seed=seed,
                time_limit=self._search_limit(time_limit),
                max_iterations=max_iterations,
                max_stall=max_stall,
                lower_bound=self.lower_bound,
            )
        return self._plan(
            res.routes,
            seed=seed,
            iterations=res.iterations,
            seconds=time.perf_counter() - t0,
            stopped_by=res.stopped_by,
            shift=shift,
            split_sorties=split_sorties,
        )

    def _check_territories(self, territories: bool) -> None:
        if not territories and len(set(self._team_dep)) > 1:
            raise InfeasiblePlanError(
                "teams start from different stations: plan with territories=True"
            )

    def _territory_search(self, *, seed: int, time_limit: float) -> SearchResult:
        """Territories around the stations, then a local search inside each alone."""
        core = self._core
        t0 = time.perf_counter()
        core.deadline = t0 + time_limit
        pts = street_points(core, getattr(self, "_pts", None))
        routes, labels = station_territory_routes(core, self._team_pos, seed=seed, pts=pts)
        away = self._away_weights(pts, labels) if pts is not None else None
        out, costs, team_paths = [], [], []
        for team, x in enumerate(routes):
            # one team's route is improved alone, from its own station
            tasks = np.asarray(x[1:-1], dtype=np.int64) // 2
            nodes = sub_nodes(core, tasks, self._team_pos[team])
            D = None
            if away is not None:  # deadhead around the other territories
                D, paths = self._own_paths(away[team], self._rel[nodes])
                team_paths.append(paths)
            if len(tasks) < 2:
                out.append(x)
                costs.append(self._team_cost(team, x))
                continue
            # keep the sector's walking order: the sub-core numbers tasks in that order
            sub = sub_core(core, tasks, self._team_pos[team], D=D)
            local = np.array([sub.DEP, *(2 * np.arange(len(tasks)) + (x[1:-1] & 1)), sub.DEP])
            r, c = sub.local_search([local])
            out.append(_to_parent(r[0], tasks, core.DEP))
            costs.append(c[0])
        self._team_paths = team_paths if away is not None else None
        stopped = "time" if core.timed_out() else "territories"
        return SearchResult(out, costs, 0, stopped)

    #: deadheading inside another team's territory hull costs this many times its length
    #: when a team's walks are planned (a detour of up to that factor keeps out)
    AWAY_PENALTY = 4.0

    def _away_weights(self, pts: np.ndarray, labels: np.ndarray) -> list[csr_matrix]:
        """Per team, the street graph with arcs inside other territories' hulls dearer."""
        import shapely

        coo = self._csr.tocoo()
        mid = 0.5 * (self._xy[coo.row] + self._xy[coo.col])
        hulls = territory_hulls_xy(pts, labels, self.k)
        inside = np.zeros((self.k, len(mid)), dtype=bool)
        for j, h in enumerate(hulls):
            if h is not None and h.area > 0:
                inside[j] = shapely.contains_xy(h, mid[:, 0], mid[:, 1])
        out = []
        n = len(self.nodes)
        for j in range(self.k):
            other = inside[np.arange(self.k) != j].any(axis=0)
            w = coo.data * np.where(other, self.AWAY_PENALTY, 1.0)
            out.append(csr_matrix((w, (coo.row, coo.col)), shape=(n, n)))
        return out

    def _own_paths(
        self, graph: csr_matrix, sources: np.ndarray
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Path costs among ``sources`` on a team's graph, and its shortest-path trees."""
        dist, pred = dijkstra(graph, directed=True, indices=sources, return_predecessors=True)
        D = dist[:, sources]
        D[~np.isfinite(D)] = 1e18
        np.fill_diagonal(D, 0.0)
        return D, {int(s): pred[i] for i, s in enumerate(sources)}

    def _team_cost(self, team: int, x: np.ndarray) -> float:
        """Cost of route ``x`` (framed by the depot marker) walked from the team's station."""
        if len(x) <= 2:
            return 0.0
        core, p = self._core, self._team_pos[team]
        seq = np.asarray(x[1:-1], dtype=np.int64)
        links = core.D[core.E[seq[:-1]], core.S[seq[1:]]].sum()
        home = core.D[p, core.S[seq[0]]] + core.D[core.E[seq[-1]], p]
        return float(core.C[seq].sum() + links + home)
