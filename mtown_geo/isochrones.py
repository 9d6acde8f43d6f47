"""Isochrones: the land within a travel time of the nearest facility, along the network.

A service area is drawn by the engine's own rule (:mod:`mtown_geo.access`), so that a
place lies inside it exactly when :meth:`Reach.at <mtown_geo.access.Reach.at>` counts it
as reached within the threshold, up to the drawing's approximation. A place is attached
to its *nearest* network edge; its time is the off-network leg to that edge at the
mode's access speed plus the time from the foot point along the network. So the area is
every reachable street point ``Q`` widened, perpendicular to its street, by the time
left at ``Q`` × the access speed, capped at the snap distance (the network profile's
``max_snap_dist_m``, 300 m), with round ends where a street ends, and each street's
band kept only where that street is the nearest one. A street reached at minute 13 of
a 15-minute area carries a band 2 min × 4 km/h ≈ 133 m wide on each side; one reached
at minute 3, a band of 300 m (the cap). Nothing that cannot be reached is filled in —
no convex or concave hull — and a river without a bridge stays a gap.

The times are those of the engine: ``Reach.node_min`` gives every node its time to the
nearest facility; :meth:`Reach.network_times <mtown_geo.access.Reach.network_times>`
gives the time from any point on an edge (towards either end, one-way edges only in
their direction, or along the edge to a facility attached to it). The bands are built
from those times at points every few metres along each street, and "nearest street"
from a Voronoi diagram of points along every street of the network, so the outline is
exact up to a metre or two (the sample spacing, and arcs drawn as chords).

* :func:`reachable_lines` — the reachable pieces of the network, per category and
  threshold (the exact skeleton of every service area).
* :func:`service_areas` — the service-area polygons: per category, per facility, or
  the category's area split into catchments by the nearest facility; as disks
  (``0–t``) or as non-overlapping rings (``5–10``, ``10–15``...).

``service_areas(..., buffer_m=50)`` draws instead a fixed band of ``buffer_m`` metres
around the reachable streets (a "street corridor" view). That band does not subtract its
own walk from the threshold and ignores the snap distance, so it does *not* agree with
the coverage the engine counts; use it only as a sketch.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.errors
import shapely.ops
from scipy.spatial import cKDTree

from . import _gc, access
from ._errors import EmptyCategoryWarning, InputError, SnapWarning
from .access import Reach

__all__ = ["DEFAULT_BUFFER_M", "SAMPLE_M", "reachable_lines", "service_areas"]

log = logging.getLogger(__name__)

#: A typical half-width (metres) for the fixed "street corridor" sketch of
#: ``service_areas(..., buffer_m=...)``: the depth of a plot between a street and the
#: buildings behind it. The default areas follow the engine's rule instead.
DEFAULT_BUFFER_M = 50.0

#: Spacing (metres) of the points along every street at which the areas' outlines are
#: built (times and the nearest-street cells); the outline is exact up to about this.
SAMPLE_M = 10.0

_ARC_STEPS = 8  # chords per quarter circle of a band's round end
_EMPTY = shapely.Polygon()

By = Literal["category", "facility", "split"]
_BY = ("category", "facility", "split")


# -- arguments -------------------------------------------------------------------------


def _check_reach(reach: object) -> Reach:
    if not isinstance(reach, Reach):
        raise InputError(
            f"expected a Reach (made by mtown_geo.access.reach(network, facilities, ...)), got {type(reach).__name__}"
        )
    return reach


def _thresholds(thresholds_min: float | Sequence[float], reach: Reach) -> np.ndarray:
    """Thresholds as a sorted array of distinct positive minutes within the search limit."""
    if isinstance(thresholds_min, numbers.Real):
        values = [float(thresholds_min)]
    elif isinstance(thresholds_min, str) or not isinstance(thresholds_min, Sequence | np.ndarray | pd.Series):
        raise InputError(f"thresholds_min must be a number or a list of numbers (minutes), got {thresholds_min!r}")
    else:
        try:
            values = [float(t) for t in thresholds_min]
        except (TypeError, ValueError):
            raise InputError(f"thresholds_min must be numbers (minutes), got {list(thresholds_min)!r}") from None
    if not values:
        raise InputError("thresholds_min is empty: give at least one threshold in minutes, e.g. [5, 10, 15]")
    arr = np.array(values, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(f"thresholds must be positive finite minutes, got {values}")
    if len(np.unique(arr)) != len(arr):
        raise InputError(f"thresholds must not repeat, got {values}")
    too_far = arr[arr > reach.max_time_min]
    if len(too_far):
        raise InputError(
            f"the threshold {too_far.max():g} min exceeds the search limit of the Reach ({reach.max_time_min:g} min), "
            f"beyond which no time is known: compute it with mtown_geo.access.reach(..., max_time_min={too_far.max():g})"
        )
    return np.sort(arr)


_Thresholds = float | Sequence[float] | Mapping[str, float | Sequence[float]]


def _category_thresholds(thresholds_min: _Thresholds, categories: Sequence[str] | None, reach: Reach) -> dict[int, np.ndarray]:
    """The categories asked for (positions in ``reach.categories``, in the order asked), each
    with its sorted thresholds: the same for all, or each its own from a mapping."""
    if isinstance(thresholds_min, Mapping):
        if categories is not None:
            raise InputError(
                "thresholds_min by category already names the categories: give them there or in categories=, not both"
            )
        if not thresholds_min:
            raise InputError("thresholds_min is empty: give at least one category and its threshold, e.g. {'park': 15}")
        ks = _categories(list(thresholds_min), reach)
        return {k: _thresholds(t, reach) for k, t in zip(ks, thresholds_min.values(), strict=True)}
    thetas = _thresholds(thresholds_min, reach)
    return {k: thetas for k in _categories(categories, reach)}


def _categories(categories: Sequence[str] | None, reach: Reach) -> list[int]:
    """Positions in ``reach.categories`` of the categories asked for (all by default)."""
    if not reach.categories:
        raise InputError("the Reach has no category: compute it with at least one facility category")
    if categories is None:
        return list(range(len(reach.categories)))
    if isinstance(categories, str):
        categories = [categories]
    unknown = [c for c in categories if c not in reach.categories]
    if unknown:
        raise InputError(f"unknown categories {unknown}: the Reach has {list(reach.categories)}")
    if len(set(categories)) != len(categories):
        raise InputError("categories must not repeat")
    return [reach.categories.index(c) for c in categories]


# -- reachable intervals of edges ------------------------------------------------------


def _frac_within(budget_min: np.ndarray, time_min: np.ndarray) -> np.ndarray:
    """Fraction (0–1) of an edge of ``time_min`` travelled within ``budget_min`` (>= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(time_min == 0, 1.0, np.where(np.isinf(time_min), 0.0, budget_min / time_min))
    return np.clip(frac, 0.0, 1.0)


def _intervals(
    reach: Reach,
    node_min: np.ndarray,
    direct: pd.DataFrame,
    theta: float,
) -> pd.DataFrame:
    """Merged reachable intervals ``[s0, s1]`` (fractions from u) of the edges, per group.

    ``node_min`` holds one row of node times per group; ``direct`` the access points
    of each group's facilities (columns ``group``, ``edge``, ``frac``, ``access_min``),
    whose own edges are reachable along the edge.
    """
    edges = reach.network.edges
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    t_uv = edges["time_min"].to_numpy(dtype=float)
    t_vu = edges["time_rev_min"].to_numpy(dtype=float)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    # from u: the point walks back to u (direction v -> u)
    tu = node_min[:, u]
    g, e = np.nonzero(tu <= theta)
    parts.append((g, e, np.zeros(len(e)), _frac_within(theta - tu[g, e], t_vu[e])))
    # from v: the point walks on to v (direction u -> v)
    tv = node_min[:, v]
    g, e = np.nonzero(tv <= theta)
    parts.append((g, e, 1.0 - _frac_within(theta - tv[g, e], t_uv[e]), np.ones(len(e))))
    # along the facility's own edge
    d = direct[direct["access_min"].to_numpy() <= theta]
    if len(d):
        e = d["edge"].to_numpy()
        f = d["frac"].to_numpy()
        left = theta - d["access_min"].to_numpy()
        parts.append(
            (
                d["group"].to_numpy(),
                e,
                np.clip(f - _frac_within(left, t_uv[e]), 0.0, 1.0),
                np.clip(f + _frac_within(left, t_vu[e]), 0.0, 1.0),
            )
        )
    grp = np.concatenate([p[0] for p in parts]).astype(np.int64)
    edge = np.concatenate([p[1] for p in parts]).astype(np.int64)
    s0 = np.concatenate([p[2] for p in parts])
    s1 = np.concatenate([p[3] for p in parts])
    keep = s1 > s0
    return _merge(grp[keep], edge[keep], s0[keep], s1[keep])


def _merge(grp: np.ndarray, edge: np.ndarray, s0: np.ndarray, s1: np.ndarray) -> pd.DataFrame:
    """Union of overlapping or touching intervals of the same (group, edge)."""
    if len(grp) == 0:
        return pd.DataFrame({"group": grp, "edge": edge, "s0": s0, "s1": s1})
    order = np.lexsort((s0, edge, grp))
    grp, edge, s0, s1 = grp[order], edge[order], s0[order], s1[order]
    key = pd.Series(grp * (int(edge.max()) + 1) + edge)
    reach_end = pd.Series(s1).groupby(key.to_numpy()).cummax().to_numpy()
    new_key = np.ones(len(key), dtype=bool)
    new_key[1:] = key.to_numpy()[1:] != key.to_numpy()[:-1]
    start = new_key.copy()
    start[1:] |= s0[1:] > reach_end[:-1]
    first = np.flatnonzero(start)
    return pd.DataFrame(
        {
            "group": grp[first],
            "edge": edge[first],
            "s0": s0[first],
            "s1": np.maximum.reduceat(s1, first),
        }
    )


def _pieces(reach: Reach, iv: pd.DataFrame) -> np.ndarray:
    """LineStrings of the intervals ``iv`` (fractions of the edges' lengths)."""
    geoms = np.asarray(reach.network.edges.geometry.values)[iv["edge"].to_numpy()]
    s0 = iv["s0"].to_numpy()
    s1 = iv["s1"].to_numpy()
    out = np.empty(len(iv), dtype=object)
    straight = shapely.get_num_coordinates(geoms) == 2
    if straight.any():
        xy = shapely.get_coordinates(geoms[straight]).reshape(-1, 2, 2)
        a, b = xy[:, 0, :], xy[:, 1, :]
        p0 = a + (b - a) * s0[straight, None]
        p1 = a + (b - a) * s1[straight, None]
        out[straight] = shapely.linestrings(np.stack([p0, p1], axis=1))
    for i in np.flatnonzero(~straight):
        out[i] = shapely.ops.substring(geoms[i], s0[i], s1[i], normalized=True)
    return out


def _category_intervals(reach: Reach, thetas_of: Mapping[int, np.ndarray]) -> dict[tuple[int, float], pd.DataFrame]:
    """Reachable intervals of every (category position, threshold) of ``thetas_of`` (category position: thresholds)."""
    att = reach.attachment.usable_points(reach.categories)
    out: dict[tuple[int, float], pd.DataFrame] = {}
    for k, thetas in thetas_of.items():
        direct = att[att["cat"].to_numpy() == k].assign(group=0)
        for theta in thetas:
            out[k, float(theta)] = _intervals(reach, reach.node_min[k : k + 1], direct, float(theta))
    return out


# -- public: lines ---------------------------------------------------------------------


def reachable_lines(
    reach: Reach,
    *,
    thresholds_min: _Thresholds,
    categories: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """The parts of the network from which the nearest facility is within each threshold.

    Parameters
    ----------
    reach : Reach
        Node times from :func:`mtown_geo.access.reach`.
    thresholds_min : float, sequence of float, or mapping
        Thresholds in minutes, each at most ``reach.max_time_min``; or, for each category
        its own, a mapping from category to threshold(s) (e.g. ``{"kindergarten": 4.5,
        "park": 7.5}``), which also names the categories drawn, in its order.
    categories : sequence of str, optional
        Categories of the Reach to draw (default: all of them; not with a mapping).

    Returns
    -------
    GeoDataFrame
        In the network's CRS, one row per reachable piece of an edge: ``category``,
        ``threshold_min``, ``edge`` (edge position in ``reach.network.edges``),
        ``start_frac`` and ``end_frac`` (the piece's ends as fractions of the edge from
        its ``u`` end, 0–1; pieces of one edge never overlap or touch), ``length_m``
        (the network length of the piece, metres) and LineString geometry. Every point
        of a piece reaches a facility of the category within the threshold along the
        network (the off-network leg of the facility included); every point of an edge
        outside the pieces does not.

    Examples
    --------
    >>> r = mg.access.reach(net, fac, max_time_min=15)  # doctest: +SKIP
    >>> mg.isochrones.reachable_lines(r, thresholds_min=[5, 10, 15])  # doctest: +SKIP
    """
    reach = _check_reach(reach)
    ivs = _category_intervals(reach, _category_thresholds(thresholds_min, categories, reach))
    length = reach.network.edges["length_m"].to_numpy(dtype=float)
    cats: list[str] = []
    thr: list[np.ndarray] = []
    parts: list[pd.DataFrame] = []
    for (k, theta), iv in ivs.items():
        cats.extend([reach.categories[k]] * len(iv))
        thr.append(np.full(len(iv), theta))
        parts.append(iv)
    iv_all = pd.concat(parts, ignore_index=True)
    edge = iv_all["edge"].to_numpy(dtype=np.int64)
    s0 = iv_all["s0"].to_numpy(dtype=float)
    s1 = iv_all["s1"].to_numpy(dtype=float)
    table = pd.DataFrame(
        {
            "category": pd.Series(cats, dtype=object),
            "threshold_min": np.concatenate(thr),
            "edge": edge,
            "start_frac": s0,
            "end_frac": s1,
            "length_m": (s1 - s0) * length[edge],
        }
    )
    return gpd.GeoDataFrame(table, geometry=_pieces(reach, iv_all), crs=reach.network.crs)


# -- public: polygons ------------------------------------------------------------------


def _buffered(reach: Reach, iv: pd.DataFrame, n_groups: int, buffer_m: float) -> np.ndarray:
    """One polygon per group: its reachable pieces widened by ``buffer_m`` (round caps and joins).

    Pieces that meet end to end are merged into longer lines first, each line is
    buffered on its own and the buffers of a group are unioned: much faster than
    buffering one large MultiLineString, for the same polygon.
    """
    out = np.array([shapely.Polygon() for _ in range(n_groups)], dtype=object)
    if len(iv) == 0:
        return out
    pieces = _pieces(reach, iv)
    grp = iv["group"].to_numpy()
    present = np.unique(grp)
    merged = shapely.line_merge(shapely.multilinestrings(pieces, indices=np.searchsorted(present, grp)))
    lines, which = shapely.get_parts(merged, return_index=True)
    bufs = shapely.buffer(lines, buffer_m)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(present) + 1))
    for i, g in enumerate(present):
        out[g] = shapely.union_all(bufs[order[bounds[i] : bounds[i + 1]]])
    return out


@dataclass
class _Streets:
    """The network as straight segments, points every :data:`SAMPLE_M` along them, and each edge's land.

    "An edge's land" is the set of places whose nearest edge it is — where the engine
    attaches a place (:func:`mtown_geo.access.snap`) — approximated by the Voronoi
    cells of the sample points of every edge, dissolved per edge. The cells may be made
    only for the edges whose land is drawn (:meth:`make_cells`); any other is made from
    the diagram of all sites when first asked for.
    """

    seg_edge: np.ndarray  # edge position of each segment
    a: np.ndarray  # (n_seg, 2) segment start
    b: np.ndarray  # (n_seg, 2) segment end
    smp_seg: np.ndarray  # segment of each sample point
    smp_u: np.ndarray  # position of each sample along its segment, 0–1
    smp_frac: np.ndarray  # position of each sample along its edge from u, 0–1
    smp_start: np.ndarray  # offsets of each segment's samples (n_seg + 1)
    cap_m: float
    sites: np.ndarray  # (n_sites, 2) the distinct sample points of every edge
    _cells: np.ndarray = field(repr=False)  # the cell of each site, ``None`` where not made yet
    _cell_edge_order: np.ndarray = field(repr=False)
    _cell_bounds: np.ndarray = field(repr=False)
    _lo: np.ndarray = field(default_factory=lambda: np.zeros(2), repr=False)  # the cells' box (lower left)
    _hi: np.ndarray = field(default_factory=lambda: np.zeros(2), repr=False)  # (upper right)
    _from_subsets: bool = field(default=False, repr=False)  # some cells come from diagrams of fewer sites
    _land_of: np.ndarray | None = field(default=None, repr=False)
    _land_made: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    _reach_of: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    _reach_todo: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    _seg_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def single_segment_edges(self) -> np.ndarray:
        """Whether each edge of the network is one straight segment (by edge position)."""
        counts = np.bincount(self.seg_edge, minlength=len(self._cell_bounds) - 1)
        return counts == 1

    def cells_by_site(self) -> np.ndarray:
        """The Voronoi cell of each of :attr:`sites`, in order."""
        self.make_cells()
        return self._cells

    def make_cells(self, edges: np.ndarray | None = None, *, again: bool = False) -> None:
        """Make the Voronoi cells of the sites of ``edges`` (edge positions; default every edge) not made yet.

        When the sites asked for are few (:data:`_SUBSET_SHARE` of all at most), their
        cells come from diagrams of some of the sites only, each cell proven equal to its
        cell in the diagram of all sites (:func:`_subset_cells`); otherwise, or when a
        cell cannot be proven so, every cell is made again from the diagram of all sites
        (the cells of one edge then come from one diagram, vertex for vertex). ``again``:
        every cell from the diagram of all sites, also those made before.
        """
        todo = np.flatnonzero(_missing(self._cells) | again)
        if len(todo) == 0:
            return
        if edges is not None and not again:
            want = np.zeros(len(self._cell_bounds) - 1, dtype=bool)
            want[np.asarray(edges, dtype=np.int64)] = True
            site_edge = np.empty(len(self.sites), dtype=np.int64)
            site_edge[self._cell_edge_order] = np.repeat(np.arange(len(want)), np.diff(self._cell_bounds))
            todo = todo[want[site_edge[todo]]]
            if len(todo) == 0:
                return
            if len(todo) <= _SUBSET_SHARE * len(self.sites):
                made = _subset_cells(self.sites, todo, self._lo, self._hi)
                if made is not None:
                    self._cells[todo] = made
                    self._from_subsets = True
                    return
        self._cells = _all_cells(self.sites, self._lo, self._hi)
        self._from_subsets = False

    def _cells_of(self, order_pos: np.ndarray) -> np.ndarray:
        """The cells at positions ``order_pos`` of the edge order (made first where missing)."""
        sites = self._cell_edge_order[order_pos]
        if _missing(self._cells[sites]).any():
            self.make_cells()
        return self._cells[sites]

    def land(self, edges: np.ndarray) -> np.ndarray:
        """The places attached to each of ``edges`` (one polygon per entry).

        Each edge's land is the coverage union of its cells, made once per edge; the
        edges not made yet are merged in a few vectorised calls (edges with about as
        many cells together, the rows padded with ``None``, which the union skips).
        """
        edges = np.asarray(edges, dtype=np.int64)
        if self._land_of is None:
            self._land_of = np.full(len(self._cell_bounds) - 1, None, dtype=object)
            self._land_made = np.zeros(len(self._cell_bounds) - 1, dtype=bool)
        todo = _distinct(edges, len(self._land_made), skip=self._land_made)
        if len(todo):
            count = self._cell_bounds[todo + 1] - self._cell_bounds[todo]
            self._land_of[todo[count == 0]] = _EMPTY
            for lo, hi in ((1, 2), (2, 5), (5, 17), (17, 65), (65, None)):
                sel = (count >= lo) & ((count < hi) if hi is not None else True)
                if not sel.any():
                    continue
                rows, n = todo[sel], count[sel]
                try:
                    self._land_of[rows] = self._merge_cells(rows, n)
                except shapely.errors.GEOSException:
                    if not self._from_subsets:
                        raise
                    # cells of one edge from two diagrams that do not meet vertex for vertex
                    # (not seen; a safety net): all cells again from the diagram of all sites
                    self.make_cells(None, again=True)
                    self._land_of[rows] = self._merge_cells(rows, n)
            self._land_made[todo] = True
        return self._land_of[edges]

    def _merge_cells(self, rows: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The coverage union of the cells of each edge of ``rows`` (``n`` cells each)."""
        grid = np.full((len(rows), int(n.max())), None, dtype=object)
        row = np.repeat(np.arange(len(rows)), n)
        col = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        grid[row, col] = self._cells_of(np.repeat(self._cell_bounds[rows], n) + col)
        return np.asarray(shapely.coverage_union_all(grid, axis=1), dtype=object)

    def reach_m(self, edges: np.ndarray) -> np.ndarray:
        """How far the land of each of ``edges`` reaches from it (metres; one value per entry).

        The largest distance of a vertex of the edge's cells from its segment (the cells
        are convex); ``inf`` for an edge of several segments, ``nan`` for one without land.
        Made once per edge, for the edges asked for.
        """
        edges = np.asarray(edges, dtype=np.int64)
        n_edges = len(self._cell_bounds) - 1
        if len(self._reach_of) != n_edges:
            self._reach_of = np.full(n_edges, np.inf)
            count = np.diff(self._cell_bounds)
            self._reach_of[count == 0] = np.nan
            self._reach_todo = self.single_segment_edges() & (count > 0)
            self._seg_of = np.full(n_edges, -1, dtype=np.int64)
            self._seg_of[self.seg_edge[::-1]] = np.arange(len(self.seg_edge))[::-1]  # the first segment of each edge
        use = _distinct(edges, n_edges, skip=~self._reach_todo)
        if len(use):
            count = self._cell_bounds[use + 1] - self._cell_bounds[use]
            cells = self._cells_of(_ranges(self._cell_bounds[use], count))
            xy, which = shapely.get_coordinates(cells, return_index=True)
            cell_edge = np.repeat(use, count)[which]
            seg = self._seg_of[cell_edge]
            ax, ay = self.a[seg, 0], self.a[seg, 1]
            dx, dy = self.b[seg, 0] - ax, self.b[seg, 1] - ay
            px, py = xy[:, 0] - ax, xy[:, 1] - ay
            t = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)
            px -= t * dx
            py -= t * dy
            first = np.flatnonzero(np.r_[True, cell_edge[1:] != cell_edge[:-1]])  # cell_edge is sorted
            self._reach_of[cell_edge[first]] = np.sqrt(np.maximum.reduceat(px * px + py * py, first))
            self._reach_todo[use] = False
        return self._reach_of[edges]


def _distinct(values: np.ndarray, n: int, *, skip: np.ndarray) -> np.ndarray:
    """The distinct ``values`` (integers in ``0..n-1``) where ``skip`` is false, in increasing order.

    ``np.unique`` without its sort: a mask over ``0..n-1``, as the values index a table of ``n``.
    """
    mask = np.zeros(n, dtype=bool)
    mask[values] = True
    mask &= ~skip
    return np.flatnonzero(mask)


def _ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The integers ``start[i] .. start[i] + count[i] - 1`` of every ``i``, one after the other."""
    return np.repeat(start, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))


def _streets(reach: Reach, cap_m: float, *, margin_m: float, cells: bool = True) -> _Streets:
    """The network's segments and sample points (see :class:`_Streets`); with ``cells=False``
    the Voronoi cells are left to be made when asked for (:meth:`_Streets.make_cells`)."""
    net = reach.network
    geoms = np.asarray(net.edges.geometry.values)
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    same = owner[1:] == owner[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    seg_edge = owner[:-1][same]
    seg_len = np.hypot(*(b - a).T)
    keep = seg_len > 0
    a, b, seg_edge, seg_len = a[keep], b[keep], seg_edge[keep], seg_len[keep]
    # fractions of the edge (by length, as the engine measures them) at each segment's ends
    total = np.bincount(seg_edge, weights=seg_len, minlength=net.n_edges)
    cum = np.cumsum(seg_len)
    first = np.ones(len(seg_edge), dtype=bool)
    first[1:] = seg_edge[1:] != seg_edge[:-1]
    base = np.maximum.accumulate(np.where(first, cum - seg_len, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.clip((cum - base) / total[seg_edge], 0.0, 1.0)
        f0 = np.clip((cum - base - seg_len) / total[seg_edge], 0.0, 1.0)
    n = np.maximum(1, np.ceil(seg_len / SAMPLE_M).astype(np.int64)) + 1  # samples per segment, both ends included
    smp_seg = np.repeat(np.arange(len(seg_edge)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    smp_u = k / (n[smp_seg] - 1)
    # where facilities attach, the time along the street turns: sample there too
    att = reach.attachment.usable_points(reach.categories)
    if len(att) and len(seg_edge):
        e = att["edge"].to_numpy()
        f = att["frac"].to_numpy()
        seg_start = np.searchsorted(seg_edge, e, side="left")
        seg_stop = np.searchsorted(seg_edge, e, side="right")
        has = seg_stop > seg_start
        e, f, seg_start, seg_stop = e[has], f[has], seg_start[has], seg_stop[has]
        # the segment of the edge holding the fraction (the last whose start is at or before it)
        seg = seg_start.copy()
        for _ in range(int((seg_stop - seg_start).max(initial=1)) - 1):
            step = (seg + 1 < seg_stop) & (f0[np.minimum(seg + 1, len(f0) - 1)] <= f)
            if not step.any():
                break
            seg = np.where(step, seg + 1, seg)
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.clip(np.where(f1[seg] > f0[seg], (f - f0[seg]) / (f1[seg] - f0[seg]), 0.0), 0.0, 1.0)
        smp_seg = np.concatenate([smp_seg, seg])
        smp_u = np.concatenate([smp_u, u])
        order = np.lexsort((smp_u, smp_seg))
        smp_seg, smp_u = smp_seg[order], smp_u[order]
        keep = np.ones(len(smp_seg), dtype=bool)
        keep[1:] = (smp_seg[1:] != smp_seg[:-1]) | (smp_u[1:] != smp_u[:-1])
        smp_seg, smp_u = smp_seg[keep], smp_u[keep]
    smp_start = np.concatenate([[0], np.cumsum(np.bincount(smp_seg, minlength=len(seg_edge)))])
    smp_frac = f0[smp_seg] + smp_u * (f1[smp_seg] - f0[smp_seg])
    # nearest-edge land: Voronoi cells of the samples of every edge; a point shared by
    # several edges (a junction) goes to the lowest edge position, as the engine breaks ties
    xy = a[smp_seg] + smp_u[:, None] * (b - a)[smp_seg]
    site_edge = seg_edge[smp_seg]
    order = _xy_order(xy, site_edge)
    xy_s = xy[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.any(xy_s[1:] != xy_s[:-1], axis=1)
    sites = xy_s[new]
    owners = site_edge[order][new]
    if len(sites):
        lo = np.array([sites[0, 0], sites[:, 1].min()]) - margin_m - 10.0  # sorted by x
        hi = np.array([sites[-1, 0], sites[:, 1].max()]) + margin_m + 10.0
    else:
        lo = hi = np.zeros(2)
    made = _all_cells(sites, lo, hi) if cells else np.full(len(sites), None, dtype=object)
    cell_order = np.argsort(owners, kind="stable")
    bounds = np.searchsorted(owners[cell_order], np.arange(net.n_edges + 1))
    return _Streets(
        seg_edge=seg_edge,
        a=a,
        b=b,
        smp_seg=smp_seg,
        smp_u=smp_u,
        smp_frac=smp_frac,
        smp_start=smp_start,
        cap_m=cap_m,
        sites=sites,
        _cells=made,
        _cell_edge_order=cell_order,
        _cell_bounds=bounds,
        _lo=lo,
        _hi=hi,
    )


def _missing(cells: np.ndarray) -> np.ndarray:
    """Whether each entry of a cell array is not made yet (``None``)."""
    return np.asarray(shapely.is_missing(cells), dtype=bool)


def _voronoi(sites: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The Voronoi cells of ``sites`` (at least 2, distinct, in :func:`_xy_order`) in order, cut to the box ``lo``–``hi``."""
    frame = shapely.box(lo[0], lo[1], hi[0], hi[1])
    cells = shapely.get_parts(shapely.voronoi_polygons(_multipoint(sites), extend_to=frame, ordered=True))
    return _clip_to_box(cells, lo, hi)


def _all_cells(sites: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The cell of every site: its Voronoi cell among all ``sites``, cut to the box (the box itself for a lone site)."""
    if len(sites) >= 2:
        return _voronoi(sites, lo, hi)
    return np.array([shapely.box(lo[0], lo[1], hi[0], hi[1])] * len(sites), dtype=object)


#: the largest share of the sites whose cells are made from diagrams of some sites only
#: (:func:`_subset_cells`); beyond it the diagram of all sites costs less
_SUBSET_SHARE = 0.3
_RING_M = 30.0  # the sites of the grid squares (this side, metres) around a wanted site join its first diagram
_THIN = 16  # and every this-th site of all (in order), so that no cell of the first diagram reaches far
_TIE_M = 1e-6  # a site this much (metres) beyond a cell vertex's circle still counts as on it (not proven)


def _subset_cells(sites: np.ndarray, want: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    """The cells of the sites ``want`` (positions, increasing) as the diagram of all ``sites`` makes them, from fewer sites.

    A Voronoi cell of site ``s`` in the diagram of a subset of the sites contains its cell
    in the diagram of all; the two are the same exactly when no site left out lies
    closer than ``s`` to some vertex of the subset's cell (the cell is convex: were a
    left-out site closer to any of its points, it would be closer to one of its
    vertices too). Every cell is tested so, with a site within :data:`_TIE_M` of the
    vertex's circle taken as closer (a tie left out is not proven). The first diagram
    holds the wanted sites, the sites near them and a thinning of all sites (which keeps
    every cell's far vertices near); each cell failing the test is made again in a
    second diagram holding every site within its vertices' circles: by the rule above
    that set holds all its neighbours in the diagram of all sites. A cell cut by the box
    is always made in the second diagram: the points where the box cuts two neighbouring
    cells are computed from the cells' far vertices, so such cells match only when they
    come from one diagram. Such a cell is the same point set as in the diagram of all
    sites, but where the box cuts it a cut point may differ in the last bits (it is
    computed from a far vertex beyond the box, which the test cannot see), and so may,
    by about a nanometre, the outline of an area crossing the edge that ends there.
    The subsets keep the sites' order, the order in which the diagram of all sites takes
    them. Returns ``None`` when a cell of the second diagram fails too (the caller then
    makes the diagram of all sites).
    """
    if len(sites) < 2:
        return None
    tree = cKDTree(sites)
    origin = sites.min(axis=0)
    square = np.floor((sites - origin) / _RING_M).astype(np.int64) + 1
    nx, ny = int(square[:, 0].max()) + 2, int(square[:, 1].max()) + 2
    code = square[:, 0] * ny + square[:, 1]
    near = np.zeros(nx * ny, dtype=bool)  # the grid squares whose every site is in the first diagram
    centre = np.unique(code[want])
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            near[centre + dx * ny + dy] = True
    first = near[code]
    first[::_THIN] = True

    def clear(xy: np.ndarray, rad: np.ndarray) -> np.ndarray:
        # a circle within the 3 x 3 squares around its centre, all of them in the first diagram
        at = np.floor((xy - origin) / _RING_M).astype(np.int64) + 1
        ok = (rad <= _RING_M - 1e-3) & (at[:, 0] >= 1) & (at[:, 0] <= nx - 2) & (at[:, 1] >= 1) & (at[:, 1] <= ny - 2)
        sq = at[ok, 0] * ny + at[ok, 1]
        inside = np.ones(len(sq), dtype=bool)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                inside &= near[sq + dx * ny + dy]
        ok[ok] = inside
        return ok

    cells, bad, xy, rad = _proven_cells(sites, tree, first, want, lo, hi, clear=clear, cut_bad=True)
    if not bad.any():
        return cells
    # the second diagram: every site within the vertex circles of the cells that failed
    second = np.zeros(len(sites), dtype=bool)
    second[want[bad]] = True
    second[np.concatenate([np.asarray(c, dtype=np.int64) for c in tree.query_ball_point(xy, rad)])] = True
    again, bad_again, _, _ = _proven_cells(sites, tree, second, want[bad], lo, hi)
    if bad_again.any():
        return None
    cells[bad] = again
    return cells


def _proven_cells(
    sites: np.ndarray,
    tree: cKDTree,
    subset: np.ndarray,
    want: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    clear: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    cut_bad: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells of the sites ``want`` in the diagram of the sites where ``subset`` is true, and which are not proven.

    Returns the cells, whether each is not proven equal to its cell among all sites
    (see :func:`_subset_cells`; ``tree`` holds all sites), and the vertices of the
    cells not proven with their circles' radii (metres, :data:`_TIE_M` added).
    ``clear(xy, radius)`` may tell circles known to hold no site left out, which are
    then not searched; with ``cut_bad`` a cell cut by the box counts as not proven.
    """
    kept = np.flatnonzero(subset)
    cells = _voronoi(sites[kept], lo, hi)[np.searchsorted(kept, want)]
    xy, which = shapely.get_coordinates(cells, return_index=True)
    rad = np.hypot(*(xy - sites[want][which]).T) + _TIE_M
    ask = ~clear(xy, rad) if clear is not None else np.ones(len(xy), dtype=bool)
    # a site left out within the circle: more sites of all than of the subset there
    closer = np.zeros(len(xy), dtype=bool)
    closer[ask] = tree.query_ball_point(xy[ask], rad[ask], return_length=True) > cKDTree(sites[kept]).query_ball_point(
        xy[ask], rad[ask], return_length=True
    )
    if cut_bad:
        b = shapely.bounds(cells)
        bad = (b[:, 0] <= lo[0]) | (b[:, 1] <= lo[1]) | (b[:, 2] >= hi[0]) | (b[:, 3] >= hi[1])
    else:
        bad = np.zeros(len(want), dtype=bool)
    bad[which[closer]] = True
    at = bad[which]
    return cells, bad, xy[at], rad[at]


def _xy_order(xy: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The order of the points ``xy`` by x, then y, then ``key``, then position: ``np.lexsort((key, y, x))``.

    One quicksort of x; only the runs of equal x (shared points, a few per cent) are sorted
    again on all four keys, so the order is the same as the stable three-key sort.
    """
    order = np.argsort(xy[:, 0])
    xs = xy[order, 0]
    tie = np.flatnonzero(xs[1:] == xs[:-1])
    if len(tie):
        in_run = np.zeros(len(xs), dtype=bool)
        in_run[tie] = True
        in_run[tie + 1] = True
        at = np.flatnonzero(in_run)
        sub = order[at]
        order[at] = sub[np.lexsort((sub, key[sub], xy[sub, 1], xs[at]))]
    return order


def _multipoint(xy: np.ndarray) -> shapely.MultiPoint:
    """One MultiPoint of the points ``xy`` (n × 2), read from its WKB (no Point object made per point)."""
    n = len(xy)
    rec = np.empty(n, dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["order"], rec["type"], rec["x"], rec["y"] = 1, 1, xy[:, 0], xy[:, 1]
    head = np.array([1], dtype="u1").tobytes() + np.array([4, n], dtype="<u4").tobytes()
    return shapely.from_wkb(head + rec.tobytes())


def _clip_to_box(cells: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The Voronoi cells cut to the box ``lo``–``hi`` (network CRS units).

    Only the cells reaching past the box are overlaid with it: the others (nearly all of
    a town's) lie inside it already and are kept as the diagram made them, so neighbouring
    cells still share their borders vertex for vertex.
    """
    out = np.array(cells, dtype=object)
    if len(out) == 0:
        return out
    b = shapely.bounds(out)
    past = (b[:, 0] < lo[0]) | (b[:, 1] < lo[1]) | (b[:, 2] > hi[0]) | (b[:, 3] > hi[1])
    if past.any():
        out[past] = shapely.intersection(out[past], shapely.box(lo[0], lo[1], hi[0], hi[1]))
    return out


_ALPHA = np.arange(1, 2 * _ARC_STEPS) * (np.pi / (2 * _ARC_STEPS))  # turning angles of a half circle's inner points


def _full_bands(st: _Streets, r: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """Bands of segments reachable along their whole length (vectorised).

    A band is the places within ``r`` metres (per sample) of each point of its segment:
    the sample points offset by ``r`` on either side, perpendicular to the segment (``r``
    linear between samples), closed by a half circle of the end's ``r`` at either end
    (beyond it, places are nearest to the end point itself), drawn with chords.
    """
    a, b = st.a[segs], st.b[segs]
    d = b - a
    tang = d / np.hypot(*d.T)[:, None]
    nrm = np.column_stack([-tang[:, 1], tang[:, 0]])
    n = np.diff(st.smp_start)[segs]
    start = st.smp_start[segs]
    ring = np.repeat(np.arange(len(segs)), n)
    j = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    smp = start[ring] + j
    rr = r[smp]
    centre = a[ring] + st.smp_u[smp][:, None] * d[ring]
    left = centre + rr[:, None] * nrm[ring]
    right = centre - rr[:, None] * nrm[ring]
    m = len(_ALPHA)
    cos, sin = np.cos(_ALPHA), np.sin(_ALPHA)
    r_end = r[start + n - 1]
    r_start = r[start]
    # round end beyond b: from +n through the forward direction to -n; beyond a: from -n back to +n
    arc_b = b[:, None, :] + r_end[:, None, None] * (cos[None, :, None] * nrm[:, None, :] + sin[None, :, None] * tang[:, None, :])
    arc_a = a[:, None, :] - r_start[:, None, None] * (
        cos[None, :, None] * nrm[:, None, :] + sin[None, :, None] * tang[:, None, :]
    )
    # each ring in order: the left side, the round end beyond b, the right side backwards, the round end beyond a
    size = 2 * n + 2 * m
    base = np.cumsum(size) - size
    k = np.arange(m)
    coords = np.empty((int(size.sum()), 2))
    coords[base[ring] + j] = left
    coords[(base + n)[:, None] + k] = arc_b
    coords[base[ring] + n[ring] + m + (n[ring] - 1 - j)] = right
    coords[(base + 2 * n + m)[:, None] + k] = arc_a
    return shapely.polygons(shapely.linearrings(coords, indices=np.repeat(np.arange(len(segs)), size)))


def _partial_bands(st: _Streets, r: np.ndarray, segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bands of segments reachable along part of their length (the time runs out on them).

    Each run of sample points with ``r > 0`` along a segment becomes one band (see
    :func:`_full_bands`), its ends at the interpolated zero crossings of ``r``, a half
    circle only where the run reaches the segment's end. Returns the bands and the edge
    of each.
    """
    if len(segs) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    m = len(_ALPHA)
    cos, sin = np.cos(_ALPHA), np.sin(_ALPHA)
    n = np.diff(st.smp_start)[segs]
    smp = _ranges(st.smp_start[segs], n)
    seg_of = np.repeat(np.arange(len(segs)), n)
    j = smp - st.smp_start[segs][seg_of]  # position along the segment
    last = n[seg_of] - 1
    on = r[smp] > 0
    before = np.r_[False, on[:-1]] & (j > 0)
    after = np.r_[on[1:], False] & (j < last)
    j0 = np.flatnonzero(on & ~before)  # first and last samples of each run (positions in ``smp``)
    j1 = np.flatnonzero(on & ~after)
    q_seg = seg_of[j0]
    pre = j[j0] > 0  # the time runs out between two samples: interpolate where
    post = j[j1] < last[j1]
    s0, s1 = smp[j0], smp[j1]
    u = st.smp_u
    c0 = u[s0[pre]] - (u[s0[pre]] - u[s0[pre] - 1]) * r[s0[pre]] / (r[s0[pre]] - r[s0[pre] - 1])
    c1 = u[s1[post]] + (u[s1[post] + 1] - u[s1[post]]) * r[s1[post]] / (r[s1[post]] - r[s1[post] + 1])
    # each run's points along its segment: the crossing before, its samples, the crossing after
    k_pts = (j1 - j0 + 1) + pre + post
    base = np.cumsum(k_pts) - k_pts
    us = np.empty(int(k_pts.sum()))
    rs = np.zeros(len(us))
    run_n = j1 - j0 + 1
    at = _ranges(base + pre, run_n)
    src = _ranges(j0, run_n)
    us[at], rs[at] = u[smp[src]], r[smp[src]]
    us[base[pre]] = c0
    us[(base + k_pts - 1)[post]] = c1
    q = np.repeat(np.arange(len(j0)), k_pts)
    A, B = st.a[segs][q_seg], st.b[segs][q_seg]
    D = B - A
    tang = D / np.hypot(*D.T)[:, None]
    nrm = np.column_stack([-tang[:, 1], tang[:, 0]])
    centre = A[q] + us[:, None] * D[q]
    left = centre + rs[:, None] * nrm[q]
    right = centre - rs[:, None] * nrm[q]
    cap_b = ~post  # the run reaches the segment's end b: a half circle beyond it
    cap_a = ~pre
    size = 2 * k_pts + m * (cap_b.astype(np.int64) + cap_a)
    ring0 = np.cumsum(size) - size
    t = np.arange(len(us)) - base[q]
    coords = np.empty((int(size.sum()), 2))
    coords[ring0[q] + t] = left
    coords[ring0[q] + k_pts[q] + m * cap_b[q] + (k_pts[q] - 1 - t)] = right
    turn = cos[None, :, None] * nrm[:, None, :] + sin[None, :, None] * tang[:, None, :]
    kk = np.arange(m)
    end_r = rs[base + k_pts - 1]
    coords[((ring0 + k_pts)[cap_b])[:, None] + kk] = B[cap_b][:, None, :] + end_r[cap_b][:, None, None] * turn[cap_b]
    coords[((ring0 + 2 * k_pts + m * cap_b)[cap_a])[:, None] + kk] = (
        A[cap_a][:, None, :] - rs[base][cap_a][:, None, None] * turn[cap_a]
    )
    polys = shapely.polygons(shapely.linearrings(coords, indices=np.repeat(np.arange(len(j0)), size)))
    return np.asarray(polys, dtype=object), st.seg_edge[segs][q_seg].astype(np.int64)


def _engine_areas(reach: Reach, st: _Streets, thetas_of: Mapping[int, np.ndarray]) -> dict[tuple[int, float], shapely.Geometry]:
    """The area of every (category position, threshold) of ``thetas_of`` by the engine's rule.

    Categories whose street points have the same times (the same facilities under two
    names) share one drawing per threshold.
    """
    net = reach.network
    speed_m_per_min = net.access_speed_kmh * 1000.0 / 60.0
    times = reach.network_times(st.seg_edge[st.smp_seg], st.smp_frac) if len(st.smp_seg) else np.empty((len(reach.categories), 0))
    radii: dict[tuple[bytes, float], np.ndarray] = {}
    key_of: dict[tuple[int, float], tuple[bytes, float]] = {}
    for k, thetas in thetas_of.items():
        t = times[k]
        same_times = t.tobytes()
        for theta in thetas:
            key = (same_times, float(theta))
            if key not in radii:
                with np.errstate(invalid="ignore"):
                    r = np.minimum(st.cap_m, (float(theta) - t) * speed_m_per_min)
                radii[key] = np.where(np.isfinite(r), r, -1.0)
            key_of[k, float(theta)] = key
    # only the land of edges with a sample reached is drawn: make just their cells
    reached = np.zeros(len(st.smp_seg), dtype=bool)
    for r in radii.values():
        reached |= r > 0
    st.make_cells(st.seg_edge[st.smp_seg[reached]])
    drawn = {key: _area(st, r) for key, r in radii.items()}
    return {kt: drawn[key] for kt, key in key_of.items()}


#: a round end drawn with chords reaches inward to this share of its radius (its inscribed circle)
_CHORD_INNER = float(np.cos(np.pi / (4 * _ARC_STEPS)))
_SURE_M = 1e-6  # the distance margin (metres) by which a land must clear a band to be taken as inside it unseen


def _area(st: _Streets, r: np.ndarray) -> shapely.Geometry:
    """The places within ``r`` metres (per sample, ≤ 0: none) of their nearest street point.

    Every segment's band (:func:`_full_bands`, :func:`_partial_bands`) is kept where it
    lies on its edge's land. A band that holds all of its edge's land leaves that land
    whole: those lands share their borders exactly and merge as a coverage (much faster
    than a union); the other bands are cut to their land and unioned with it. Whether a
    band holds the land is read first from distances: a band whose every sample reaches
    at least ``d`` metres holds the stadium of radius ``d`` × :data:`_CHORD_INNER` around
    its segment, and holds no land that reaches farther than its largest ``r``; only the
    bands between the two are tested on their polygons. Bands on an edge without land are
    not drawn at all (they keep nothing).
    """
    pos = r > 0
    n_smp = np.diff(st.smp_start)
    n_pos = np.bincount(st.smp_seg[pos], minlength=len(n_smp))
    full = np.flatnonzero((n_pos == n_smp) & (n_smp > 0))
    part = np.flatnonzero((n_pos > 0) & (n_pos < n_smp))
    if len(full) == 0 and len(part) == 0:
        return shapely.Polygon()
    has_land = np.diff(st._cell_bounds) > 0
    # bands of whole segments: inside their land's edge, cut, or nothing (no land)
    f_edge = st.seg_edge[full]
    inside = st.single_segment_edges()[f_edge] & has_land[f_edge]
    bands = np.full(len(full), None, dtype=object)  # drawn when needed
    made = np.zeros(len(full), dtype=bool)
    if inside.any():
        r_min = np.minimum.reduceat(r, st.smp_start[:-1])[full[inside]]
        r_max = np.maximum.reduceat(r, st.smp_start[:-1])[full[inside]]
        far = st.reach_m(f_edge[inside])
        sure = far <= r_min * _CHORD_INNER - _SURE_M
        maybe = ~sure & (far <= r_max + _SURE_M)
        test = np.flatnonzero(inside)[maybe]
        held = np.zeros(len(sure), dtype=bool)
        if len(test):
            bands[test] = _full_bands(st, r, full[test])
            made[test] = True
            held[maybe] = shapely.contains(bands[test], st.land(f_edge[test]))
        inside[inside] = sure | held
    cut_full = np.full(int((~inside).sum()), _EMPTY, dtype=object)
    drawn = has_land[f_edge[~inside]]
    if drawn.any():
        which = np.flatnonzero(~inside)[drawn]
        new = which[~made[which]]
        bands[new] = _full_bands(st, r, full[new])
        cut_full[drawn] = _polygonal(shapely.intersection(bands[which], st.land(f_edge[which])))
    p_polys, p_owner = _partial_bands(st, r, part)
    cut_part = np.full(len(p_polys), _EMPTY, dtype=object)
    drawn = has_land[p_owner]
    if drawn.any():
        cut_part[drawn] = _polygonal(shapely.intersection(p_polys[drawn], st.land(p_owner[drawn])))
    merged = shapely.coverage_union_all(st.land(f_edge[inside])) if inside.any() else shapely.Polygon()
    return _polygonal(np.array([shapely.union_all(np.concatenate([[merged], cut_full, cut_part]))], dtype=object))[0]


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """The polygon parts of each geometry as a Polygon or MultiPolygon (overlays may add stray lines and points)."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), _EMPTY, dtype=object)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    while True:  # a collection may hold multipolygons: flatten until only simple parts remain
        multi = np.isin(shapely.get_type_id(parts), (4, 5, 6, 7))
        if not multi.any():
            break
        sub, sub_owner = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], sub])
        owner = np.concatenate([owner[~multi], owner[multi][sub_owner]])
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, owner = parts[keep], owner[keep]
    order = np.argsort(owner, kind="stable")
    parts, owner = parts[order], owner[order]
    bounds = np.searchsorted(owner, np.arange(len(geoms) + 1))
    for i in np.unique(owner):
        chunk = parts[bounds[i] : bounds[i + 1]]
        out[i] = chunk[0] if len(chunk) == 1 else shapely.multipolygons(chunk)
    return out


def _check_snap(max_snap_dist_m: float | None, reach: Reach) -> float:
    if max_snap_dist_m is None:
        return float(reach.network.max_snap_dist_m)
    if isinstance(max_snap_dist_m, bool) or not isinstance(max_snap_dist_m, numbers.Real) or not 0 < max_snap_dist_m < np.inf:
        raise InputError(f"max_snap_dist_m must be a positive number of metres, got {max_snap_dist_m!r}")
    return float(max_snap_dist_m)


def _facility_reach(reach: Reach, owners: np.ndarray, limit: float) -> Reach | None:
    """The engine's search from each facility of ``owners`` on its own: one category per facility."""
    if len(owners) == 0:
        return None
    # the Reach's own attachment, each facility of ``owners`` its own category: nothing is attached again
    att = reach.attachment
    labels = np.full(len(att.facilities), None, dtype=object)
    labels[owners] = [f"#{i}" for i in owners]
    one_each = replace(att, facilities=att.facilities.assign(category=labels), categories=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapWarning)  # reported by the category's own search
        warnings.simplefilter("ignore", EmptyCategoryWarning)
        return access.reach(reach.network, one_each, categories=list(labels[owners]), max_time_min=limit, labels=False)


def _split(reach: Reach, st: _Streets, k: int, owners: np.ndarray, areas: list[shapely.Geometry]) -> list[np.ndarray]:
    """Each of the category's areas divided among its facilities (one geometry per owner, per area).

    A place goes with the facility nearest (along the network) to the street point it
    is attached to: every sample point of every street takes its nearest facility
    (``Reach.at(..., nearest=True)``; a point with none within the search limit takes
    that of the nearest point that has one), and each piece of land goes with the
    sample point whose Voronoi cell holds it.
    """
    out = [np.array([shapely.Polygon() for _ in range(len(owners))], dtype=object) for _ in areas]
    if len(owners) == 0 or len(st.sites) == 0 or all(a.is_empty for a in areas):
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapWarning)
        pts = gpd.GeoSeries(shapely.points(st.sites), crs=reach.network.crs)
        who = reach.at(pts, nearest=True)[reach.categories[k]].to_numpy()
    served = who >= 0
    if not served.any():
        return out
    if not served.all():
        _, nearest = cKDTree(st.sites[served]).query(st.sites[~served])
        who = who.copy()
        who[~served] = who[served][nearest]
    cells = st.cells_by_site()
    for j in np.unique(who):
        land = shapely.coverage_union_all(cells[who == j])
        pos = int(np.searchsorted(owners, j))
        for i, area in enumerate(areas):
            out[i][pos] = _polygonal(np.array([shapely.intersection(land, area)], dtype=object))[0]
    return out


def service_areas(
    reach: Reach,
    *,
    thresholds_min: _Thresholds,
    by: By = "category",
    rings: bool = False,
    buffer_m: float | None = None,
    max_snap_dist_m: float | None = None,
    categories: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Network service areas (isochrones) of the facility categories, by the engine's rule.

    A place lies inside the area of a threshold exactly when the engine counts it as
    reached within it (:meth:`Reach.at <mtown_geo.access.Reach.at>` ``<= threshold``):
    attached to its nearest street, the walk to that street at the access speed plus the
    time from there along the network. The outline is exact up to about
    :data:`SAMPLE_M` (10 m) of sample spacing and arcs drawn as chords; see the module
    notes.

    Parameters
    ----------
    reach : Reach
        Node times from :func:`mtown_geo.access.reach` (searched at least as far as the
        largest threshold).
    thresholds_min : float, sequence of float, or mapping
        Thresholds in minutes (e.g. ``[5, 10, 15]``), each at most ``reach.max_time_min``;
        or, for each category its own, a mapping from category to threshold(s) (e.g.
        ``{"kindergarten": 4.5, "park": 7.5}``: each category drawn only at its own,
        as a circle whose categories have different thresholds needs), which also names
        the categories drawn, in its order.
    by : {"category", "facility", "split"}, optional
        ``"category"`` (default): one area per category, the land within the threshold
        of its *nearest* facility. ``"facility"``: one area per facility, the land
        within the threshold of *that* facility (areas of neighbouring facilities
        overlap; the engine searches from each facility on its own, with the network's
        default snap distance and access-point spacing). ``"split"``: the category's
        area divided among its facilities by which one is nearest along the network
        (catchments: the pieces do not overlap and together make the category's area).
    rings : bool, optional
        Non-overlapping bands between consecutive thresholds (``0–5``, ``5–10``,
        ``10–15``) instead of nested areas from 0 (default False).
    buffer_m : float, optional
        Draw a fixed "street corridor" of this half-width (metres) around the reachable
        streets instead of the engine's rule. Its walk is not subtracted from the
        threshold and it ignores the snap distance, so it does not agree with the
        coverage counted; a sketch only (:data:`DEFAULT_BUFFER_M` is a typical width).
    max_snap_dist_m : float, optional
        The farthest a place may lie from its street and still be attached (metres);
        default the network profile's (``Network.max_snap_dist_m``, 300 m), as
        :meth:`Reach.at` uses it. Give the value the coverage was computed with.
    categories : sequence of str, optional
        Categories of the Reach to draw (default: all of them; not with a mapping).

    Returns
    -------
    GeoDataFrame
        In the network's (projected) CRS, one row per category and threshold (and per
        facility for ``"facility"`` and ``"split"``, every facility of the category,
        with an empty polygon where it serves nothing): ``category``, ``from_min``
        (0, or the previous threshold for rings), ``threshold_min``, for ``"facility"``
        and ``"split"`` also ``facility`` (row position in ``reach.facilities``, as in
        ``Reach.nearest``) and ``name`` (when the facilities have names), ``area_m2``
        (square metres) and (Multi)Polygon geometry with its holes.

    Raises
    ------
    InputError
        Not a Reach, unknown ``by`` or category, thresholds that are not positive or
        exceed the Reach's search limit, a non-positive ``buffer_m`` or
        ``max_snap_dist_m``.

    Examples
    --------
    >>> r = mg.access.reach(net, fac, max_time_min=15)  # doctest: +SKIP
    >>> areas = mg.isochrones.service_areas(r, thresholds_min=[5, 10, 15], rings=True)  # doctest: +SKIP
    """
    reach = _check_reach(reach)
    if by not in _BY:
        raise InputError(f"by must be one of {list(_BY)}, got {by!r}")
    thetas_of = _category_thresholds(thresholds_min, categories, reach)
    cap_m = _check_snap(max_snap_dist_m, reach)
    if buffer_m is not None:
        if isinstance(buffer_m, bool) or not isinstance(buffer_m, numbers.Real) or not (0 < float(buffer_m) < np.inf):
            raise InputError(f"buffer_m must be a positive number of metres (the corridor around the streets), got {buffer_m!r}")
        buffer_m = float(buffer_m)
    corridor = buffer_m
    with _gc.paused():  # some 10^5 geometries made and dropped
        # the cells are made for the streets reached (all of them at once for the catchments)
        st = _streets(reach, cap_m, margin_m=max(cap_m, corridor or 0.0), cells=by == "split")

        def areas_of(r: Reach, which: Mapping[int, np.ndarray]) -> dict[tuple[int, float], shapely.Geometry]:
            if corridor is None:
                return _engine_areas(r, st, which)
            ivs = _category_intervals(r, which)
            return {key: _buffered(r, iv, 1, corridor)[0] for key, iv in ivs.items()}

        cat_areas = areas_of(reach, thetas_of)
        fac_cat = reach.facilities["category"].astype(str).to_numpy()
        names = reach.facilities["name"].to_numpy() if "name" in reach.facilities else None
        rows: list[dict[str, object]] = []
        for k, thetas in thetas_of.items():
            disks = [cat_areas[k, float(t)] for t in thetas]
            if by == "category":
                groups = [disks]
                owners = np.empty(0, dtype=np.int64)
            else:
                owners = np.flatnonzero(fac_cat == reach.categories[k])
                if by == "facility":
                    fr = _facility_reach(reach, owners, float(thetas[-1]))
                    fa = areas_of(fr, dict.fromkeys(range(len(owners)), thetas)) if fr is not None else {}
                    groups = [[fa.get((j, float(t)), shapely.Polygon()) for t in thetas] for j in range(len(owners))]
                else:
                    per_t = _split(reach, st, k, owners, disks)
                    groups = [[per_t[i][j] for i in range(len(thetas))] for j in range(len(owners))]
            for j, geoms in enumerate(groups):
                for i, t in enumerate(thetas):
                    geom = geoms[i]
                    lower = 0.0
                    if rings and i > 0:
                        lower = float(thetas[i - 1])
                        inner = geoms[i - 1] if by == "facility" else disks[i - 1]
                        geom = _polygonal(np.array([shapely.difference(geom, inner)], dtype=object))[0]
                    row: dict[str, object] = {"category": reach.categories[k], "from_min": lower, "threshold_min": float(t)}
                    if by != "category":
                        row["facility"] = int(owners[j])
                        if names is not None:
                            row["name"] = names[owners[j]]
                    row["geometry"] = geom
                    rows.append(row)
        columns = ["category", "from_min", "threshold_min"]
        if by != "category":
            columns += ["facility"] + (["name"] if names is not None else [])
        table = pd.DataFrame(rows, columns=[*columns, "geometry"])
        geometry = np.asarray(table["geometry"].to_numpy(), dtype=object)
        out = gpd.GeoDataFrame(table[columns], geometry=geometry, crs=reach.network.crs)
        out.insert(len(columns), "area_m2", shapely.area(geometry) if len(geometry) else np.empty(0))
        if by != "category":
            out["facility"] = out["facility"].astype(np.int64)
        log.info(
            "service areas of %d categories at %s min (by %s%s%s): %d rows",
            len(thetas_of),
            ", ".join(f"{t:g}" for t in np.unique(np.concatenate(list(thetas_of.values())))),
            by,
            ", rings" if rings else "",
            f", {corridor:g} m corridor" if corridor is not None else "",
            len(out),
        )
        return out
