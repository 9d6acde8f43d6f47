"""Facility siting: where to build to reach a coverage target, and what each facility contributes.

The coverage of a facility category is

    Σ weight of the demand units whose travel time to the nearest facility of the
    category is at most the threshold  /  Σ weight of all demand units.

:func:`add_facilities` chooses new sites among candidate locations (vacant plots,
public land, or by default the street junctions inside the demand's convex hull) so
that this coverage rises as much as possible with ``k`` sites, or reaches a target
with as few sites as possible. Existing facilities keep covering what they cover.
:func:`contributions` says, for each existing facility, what only it covers (what is
lost if it closes) and what it covers in all.

Both rest on the *coverage matrix* (:func:`coverage_matrix`): which site covers which
demand unit within the threshold, along the network, with the engine's attachment
rules (:mod:`mtown_geo.access`: a site attaches to its nearest edge with its walked
access leg; a polygon through its boundary). It is built with one bounded Dijkstra
search per site on the reversed network (times run from the demand unit *to* the
site), in batches, on the part of the network that the demand units in question reach
within the threshold and only from the sites they reach, and is stored sparse.
:func:`add_facilities` asks it only for the units the existing facilities leave
uncovered (the only ones a new site can gain), and keeps it with the network: siting
another category on the same candidates, units and threshold reads it instead of
searching again.

The choice itself is the maximal covering location problem. ``method="greedy"`` adds
the site with the largest newly covered weight, again and again (lazy evaluation with
a priority queue of stale gains). Coverage is a monotone submodular function of the
set of sites, so greedy with ``k`` sites gets at least ``1 − 1/e`` (63 %) of the best
possible gain; the plan also carries a data-dependent bound that is usually far
tighter. ``method="exact"`` solves the integer program with
``scipy.optimize.milp`` (HiGHS) — maximal covering for ``k`` sites, partial set cover
for a target — and reports how far greedy is from the optimum.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import numbers
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.optimize import Bounds, LinearConstraint, milp

from . import _geom, _words, access
from . import crs as _crs
from . import demand as _demand
from ._errors import EmptyCategoryWarning, InputError, MtownGeoWarning, SnapWarning, TargetWarning
from .network import Network

__all__ = ["SitingPlan", "add_facilities", "contributions", "coverage_matrix", "default_candidates"]

log = logging.getLogger(__name__)

_METHODS = ("greedy", "exact")
#: Largest number of float cells of one batch of Dijkstra results held in memory.
_BATCH_CELLS = 2_000_000
#: Relative margin on the threshold of the search that bounds the part of the network searched.
_BOUND_MARGIN = 1e-9
#: Relative tolerance when comparing covered weight with a target.
_REL_TOL = 1e-12


# -- the plan ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SitingPlan:
    """New facility sites chosen by :func:`add_facilities`, and what they achieve.

    Attributes
    ----------
    sites : GeoDataFrame
        The chosen sites in the order they are added (largest gain first), indexed by
        their label in the candidate layer, in the candidates' CRS: ``order`` (1, 2...),
        ``new_<weight>`` (weight newly covered by the site, in the weight's unit, e.g.
        ``new_res_area_m2``), ``covered_<weight>`` (weight covered once it is built,
        existing facilities included), ``coverage`` (0–1 after it is built),
        ``coverage_gain`` (0–1), then the candidate's own columns and geometry.
    units : DataFrame
        Indexed like the demand units: ``covered_before`` (by the existing
        facilities), ``new_site`` (``order`` of the new site that first covers the
        unit; <NA> when covered before or not at all) and ``covered_after``: for maps
        of which new site serves which area.
    category, threshold_min, weight, method
        What was asked: the facility category, the travel-time threshold (minutes),
        the weight column (None: every unit counted 1; the columns then read
        ``new_units``, ``covered_units``) and ``"greedy"`` or ``"exact"``.
    k, target
        The largest number of sites and the coverage target (0–1), as given (or None).
    total_weight : float
        Σ weight of all demand units (the denominator).
    coverage_before, coverage_after : float
        Coverage (0–1) with the existing facilities, and with the chosen sites added.
    max_coverage : float
        Coverage if every candidate were built: the most these candidates can give.
    n_candidates, n_candidates_attached : int
        Candidates given, and those that attach to the network.
    reachable : bool or None
        Whether the target can be reached at all with these candidates (None without
        a target).
    target_reached : bool or None
        Whether the chosen sites reach the target (None without a target).
    optimal : bool
        Whether the plan is proven optimal: the integer program was solved to
        optimality, or greedy's own bound shows nothing better exists.
    bound_coverage : float or None
        With ``k`` and no target: no set of ``k`` candidates reaches more coverage
        than this (the optimum for ``method="exact"``; for greedy the tightest of the
        submodular bounds ``f(S_i) + Σ top-k marginal gains`` met along the way).
    bound_n_sites : int or None
        With a target: at least this many new sites are needed to reach it (or, when it
        cannot be reached, to reach ``max_coverage``).
    greedy_coverage_after, greedy_n_sites
        What greedy achieves on the same question (for ``method="exact"``: the
        comparison with the optimum; for ``method="greedy"``: the plan itself).
    """

    sites: gpd.GeoDataFrame
    units: pd.DataFrame
    category: str
    threshold_min: float
    weight: str | None
    method: str
    k: int | None
    target: float | None
    total_weight: float
    coverage_before: float
    coverage_after: float
    max_coverage: float
    n_candidates: int
    n_candidates_attached: int
    reachable: bool | None
    target_reached: bool | None
    optimal: bool
    bound_coverage: float | None
    bound_n_sites: int | None
    greedy_coverage_after: float
    greedy_n_sites: int

    @property
    def n_sites(self) -> int:
        """Number of new sites in the plan."""
        return len(self.sites)

    def to_frame(self) -> gpd.GeoDataFrame:
        """The chosen sites, in order: a copy of :attr:`sites` (:meth:`summary` gives the headline figures)."""
        return self.sites.copy()

    def summary(self) -> pd.Series:
        """The plan's figures as one Series (coverage values 0–1), for report tables."""
        return pd.Series(
            {
                "category": self.category,
                "threshold_min": self.threshold_min,
                "weight": self.weight,
                "method": self.method,
                "k": self.k,
                "target": self.target,
                "n_sites": self.n_sites,
                "coverage_before": self.coverage_before,
                "coverage_after": self.coverage_after,
                "max_coverage": self.max_coverage,
                "reachable": self.reachable,
                "target_reached": self.target_reached,
                "optimal": self.optimal,
                "bound_coverage": self.bound_coverage,
                "bound_n_sites": self.bound_n_sites,
                "greedy_coverage_after": self.greedy_coverage_after,
                "greedy_n_sites": self.greedy_n_sites,
                "n_candidates": self.n_candidates,
                "n_candidates_attached": self.n_candidates_attached,
                "total_weight": self.total_weight,
            },
            name=self.category,
        )

    def message(self) -> str:
        """One plain sentence (or two) saying what the plan achieves."""
        head = (
            f"{self.category}, {self.threshold_min:g} min: coverage by {_weight_label(self.weight)} "
            f"{self.coverage_before:.1%} → {self.coverage_after:.1%} with {self.n_sites} new "
            f"site{'s' if self.n_sites != 1 else ''} ({self.method}"
            f"{', optimal' if self.optimal else ''})."
        )
        if self.target is None:
            if self.bound_coverage is not None and not self.optimal:
                head += f" No {self.k} sites among these candidates can exceed {self.bound_coverage:.1%}."
            return head
        if self.target_reached:
            fewer = (
                f" At least {self.bound_n_sites} sites are needed."
                if not self.optimal and self.bound_n_sites is not None and self.bound_n_sites < self.n_sites
                else ""
            )
            return head + f" The target {self.target:.1%} is reached.{fewer}"
        if not self.reachable:
            return head + (
                f" The target {self.target:.1%} cannot be reached with these {self.n_candidates} candidates: all of "
                f"them together reach {self.max_coverage:.1%}. Give more candidate sites, or check the units that no "
                "site can serve (too far from the network or from any candidate)."
            )
        need = f" (at least {self.bound_n_sites} are needed)" if self.bound_n_sites is not None else ""
        return head + f" The target {self.target:.1%} is not reached within k={self.k} sites{need}."

    def __repr__(self) -> str:
        return f"SitingPlan({self.message()!r})"


# -- input checks --------------------------------------------------------------------


def _geo_layer(obj: Any, *, what: str) -> gpd.GeoDataFrame:
    if isinstance(obj, gpd.GeoSeries):
        obj = obj.to_frame(name="geometry")
    if not isinstance(obj, gpd.GeoDataFrame):
        raise InputError(f"the {what} must be a GeoDataFrame, got {type(obj).__name__}")
    _crs.require_crs(obj, what=what)
    return obj


def _weight_label(col: str | None) -> str:
    """The weight's name in column names: ``new_<label>``, ``covered_<label>`` (``units`` when each counts 1)."""
    return "units" if col is None else col


def _positive(value: float, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not value > 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _facilities_of(facilities: gpd.GeoDataFrame | None, category: str) -> gpd.GeoDataFrame | None:
    """The facilities of one category (None when there are none)."""
    if facilities is None:
        return None
    fac = _geo_layer(facilities, what="facility layer")
    if len(fac) == 0:
        return None
    if "category" not in fac:
        raise InputError("the facility layer has no 'category' column (see mtown_geo.facilities.classify)")
    sel = fac[(fac["category"] == category).to_numpy()]
    return sel if len(sel) else None


# -- candidates ----------------------------------------------------------------------


def default_candidates(network: Network, demand: gpd.GeoDataFrame | gpd.GeoSeries) -> gpd.GeoDataFrame:
    """The default candidate sites: street junctions and dead ends inside the demand's convex hull.

    A network node qualifies when it joins other than two streets (degree ≠ 2: a
    junction or a dead end; the intermediate vertices of a street only trace its
    shape) and lies inside or on the convex hull of the demand units.

    Parameters
    ----------
    network : Network
    demand : GeoDataFrame or GeoSeries
        Demand units in any CRS (reprojected to the network's).

    Returns
    -------
    GeoDataFrame
        Indexed by network node, with ``degree`` and the node's point geometry, in the
        network's CRS.

    Raises
    ------
    InputError
        No junction lies inside the hull (give candidates explicitly).
    """
    geoms = _to_network(_geo_layer(demand, what="demand layer"), network)
    coords = shapely.get_coordinates(geoms)
    if len(coords) == 0:
        raise InputError("the demand layer has no geometry: cannot place default candidates")
    hull = shapely.convex_hull(shapely.multipoints(coords))
    edges = network.edges
    u = edges["u"].to_numpy(np.int64)
    v = edges["v"].to_numpy(np.int64)
    n = network.n_nodes
    pairs = np.unique(np.minimum(u, v) * n + np.maximum(u, v))
    degree = np.bincount(np.concatenate([pairs // n, pairs % n]), minlength=n)
    x = network.nodes["x"].to_numpy(float)
    y = network.nodes["y"].to_numpy(float)
    keep = (degree != 2) & shapely.intersects_xy(hull, x, y)
    if not keep.any():
        raise InputError(
            "no street junction of the network lies inside the convex hull of the demand units: pass candidate "
            "sites explicitly with candidates=..."
        )
    return gpd.GeoDataFrame(
        {"degree": degree[keep]},
        geometry=network.nodes.geometry.to_numpy()[keep],
        index=network.nodes.index[keep],
        crs=network.crs,
    )


def _to_network(layer: gpd.GeoDataFrame, network: Network) -> np.ndarray:
    geoms = layer.geometry
    if not geoms.crs.equals(network.crs):
        geoms = geoms.to_crs(network.crs)
    return np.asarray(geoms.values)


# -- the coverage matrix -------------------------------------------------------------


def _unit_legs(network: Network, usnap: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For attached units: positions, end nodes u and v, and the time from the unit to each end (minutes)."""
    oi = np.flatnonzero(usnap["ok"].to_numpy())
    e = usnap["edge"].to_numpy()[oi]
    u, v, via_u, via_v = access.origin_legs(network, e, usnap["frac"].to_numpy()[oi], usnap["access_min"].to_numpy()[oi])
    return oi, u, v, via_u, via_v


def _times_from_units(
    network: Network, uu: np.ndarray, uv: np.ndarray, via_u: np.ndarray, via_v: np.ndarray, limit_min: float
) -> np.ndarray:
    """Per node: the time (minutes) from the nearest of these units to it (forward, each unit's own legs
    first); ``inf`` beyond ``limit_min``."""
    n = network.n_nodes
    nodes = np.concatenate([uu, uv])
    w = np.concatenate([via_u, via_v])
    ok = np.isfinite(w) & (w <= limit_min)
    if not ok.any():
        return np.full(n, np.inf)
    aug = access.add_sources(network.csr, np.zeros(int(ok.sum()), dtype=np.int64), nodes[ok], w[ok], 1)
    return np.asarray(access.csr_dijkstra(aug, n, limit_min=limit_min))[:n]


def _attach_sites(
    network: Network, sites: gpd.GeoDataFrame, *, max_snap_dist_m: float | None, spacing_m: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """The sites' access points that attach (:meth:`~mtown_geo.access.Attachment.usable_points`), and which sites attach."""
    used = access.attach(network, sites, spacing_m=spacing_m, max_snap_dist_m=max_snap_dist_m).usable_points()
    attached = np.zeros(len(sites), dtype=bool)
    attached[used["owner"].to_numpy()] = True
    return used, attached


def _cover(
    network: Network,
    sites: gpd.GeoDataFrame,
    usnap: pd.DataFrame,
    *,
    threshold_min: float,
    max_snap_dist_m: float | None,
    spacing_m: float,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Boolean (sites × units) matrix of "the unit reaches the site within the threshold", and which sites attach."""
    used, attached = _attach_sites(network, sites, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m)
    return _cover_units(network, used, len(sites), usnap, threshold_min=threshold_min), attached


def _cover_units(
    network: Network,
    used: pd.DataFrame,
    n_sites: int,
    usnap: pd.DataFrame,
    *,
    threshold_min: float,
    units: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The (sites × units) coverage matrix from the sites' attached access points ``used``.

    ``units``: a boolean mask of the units to compute (default all); the other columns
    stay empty. Only the part of the network these units reach within the threshold is
    searched, and only from the sites they reach.
    """
    n_units = len(usnap)
    empty = sp.csr_matrix((n_sites, n_units), dtype=bool)
    if units is not None:
        usnap = usnap.assign(ok=usnap["ok"].to_numpy() & units)
    owner = used["owner"].to_numpy()
    oi, uu, uv, via_u, via_v = _unit_legs(network, usnap)
    if len(owner) == 0 or len(oi) == 0:
        return empty
    T = float(threshold_min)
    pe = used["edge"].to_numpy()
    pf = used["frac"].to_numpy()
    pacc = used["access_min"].to_numpy()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []

    # Through the network: one bounded search per site on the reversed network. A trip of at
    # most T passes only nodes its unit reaches within T and enters its site by a leg from
    # such a node, so the search keeps to the nodes the units reach (forward, from their own
    # legs) and starts only from the sites some unit reaches: the times found are the same to
    # the bit. The bound is widened by a hair so that the forward sums, added in another
    # order, cannot round away a trip of exactly T.
    bound = T * (1.0 + _BOUND_MARGIN)
    d_from = _times_from_units(network, uu, uv, via_u, via_v, bound)
    keep = np.isfinite(d_from)
    sub, new_id = access.restrict(network.csr_reverse, keep)
    n = sub.shape[0]
    # source → u is the trip u → site (along u → v); source → v the trip v → site (along v → u)
    pu, pv, w_u, w_v = access.source_legs(network, pe, pf, pacc)
    src = np.concatenate([owner, owner])
    node = np.concatenate([pu, pv])
    w = np.concatenate([w_u, w_v])
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(w) & (w <= T) & (d_from[node] + w <= bound)
    if ok.any() and n > 0:
        searched, src_pos = np.unique(src[ok], return_inverse=True)
        aug = access.add_sources(sub, src_pos, new_id[node[ok]], w[ok], len(searched))
        # the units with an end inside the searched part (the others reach no site through the network)
        u_new, v_new = new_id[uu], new_id[uv]
        via_u = np.where(u_new >= 0, via_u, np.inf)
        via_v = np.where(v_new >= 0, via_v, np.inf)
        inside = np.isfinite(via_u) | np.isfinite(via_v)
        ui, u_new, v_new = oi[inside], np.maximum(u_new[inside], 0), np.maximum(v_new[inside], 0)
        via_u, via_v = via_u[inside], via_v[inside]
        n_src = len(searched)
        batch = max(1, min(_BATCH_CELLS // (n + n_src), _BATCH_CELLS // max(1, len(ui))))
        for start in range(0, n_src, batch):
            ids = np.arange(start, min(start + batch, n_src))
            dist = access.csr_dijkstra(aug, n + ids, limit_min=T)
            best = np.minimum(via_u[None, :] + dist[:, u_new], via_v[None, :] + dist[:, v_new])
            r, c = np.nonzero(best <= T)
            rows.append(searched[ids[r]])
            cols.append(ui[c])

    # along a shared edge: the unit walks along its own edge to the site, as the engine does
    o, p, total = access.same_edge(network, usnap, used)
    if len(o):
        hit = total <= T
        rows.append(owner[p[hit]])
        cols.append(o[hit])

    if not rows:
        return empty
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    mat = sp.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(n_sites, n_units))
    mat.sum_duplicates()
    mat.data[:] = True
    return mat


class _SiteCoverage:
    """One site layer attached to a network, and its coverage of one set of attached units
    within one threshold, computed for the units asked and kept for the next question."""

    def __init__(self, used: pd.DataFrame, attached: np.ndarray, n_units: int) -> None:
        self.used = used
        self.attached = attached
        self.done = np.zeros(n_units, dtype=bool)
        self.matrix = sp.csr_matrix((len(attached), n_units), dtype=bool)


#: Candidate coverage computed so far, per network (kept while the network lives): the last
#: few (site layer, units, threshold) questions, so that siting one category after another
#: on the same candidates and units searches each unit's part of the network once.
_COVERAGE_CACHE: weakref.WeakKeyDictionary[Network, dict[tuple[Any, ...], _SiteCoverage]] = weakref.WeakKeyDictionary()
_COVERAGE_CACHE_SIZE = 4


def _units_key(usnap: pd.DataFrame) -> str:
    """A digest of how the units attach (what their coverage depends on)."""
    h = hashlib.blake2b(digest_size=20)
    for col in ("ok", "edge", "frac", "access_min"):
        h.update(np.ascontiguousarray(usnap[col].to_numpy()).tobytes())
    return h.hexdigest()


def _cover_cached(
    network: Network,
    sites: gpd.GeoDataFrame,
    usnap: pd.DataFrame,
    *,
    threshold_min: float,
    max_snap_dist_m: float | None,
    spacing_m: float,
    units: np.ndarray,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """:func:`_cover` over the ``units`` columns only (the others empty), the sites attached and
    the columns searched once per network, site layer, units and threshold."""
    fingerprint = _geom.layer_digest(sites)
    snap_m = network.max_snap_dist_m if max_snap_dist_m is None else float(max_snap_dist_m)
    key = (fingerprint, _units_key(usnap), float(threshold_min), snap_m, float(spacing_m))
    cache = _COVERAGE_CACHE.setdefault(network, {})
    entry = cache.pop(key, None)
    if entry is None:
        used, attached = _attach_sites(network, sites, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m)
        entry = _SiteCoverage(used, attached, len(usnap))
    cache[key] = entry  # the most recently used last
    while len(cache) > _COVERAGE_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    need = units & ~entry.done
    if need.any():
        if entry.done.any():  # asked again: the next question will be about these units too, search the rest at once
            need = ~entry.done
        add = _cover_units(network, entry.used, len(sites), usnap, threshold_min=threshold_min, units=need)
        merged = (entry.matrix + add).tocsr()
        merged.sum_duplicates()
        merged.sort_indices()
        entry.matrix = merged
        entry.done |= need
    mat = entry.matrix.copy()  # canonical (sorted, no duplicates), as the search leaves it
    mat.data = units[mat.indices]
    mat.eliminate_zeros()
    return mat, entry.attached.copy()


def coverage_matrix(
    network: Network,
    sites: gpd.GeoDataFrame | gpd.GeoSeries,
    demand: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    threshold_min: float,
    max_snap_dist_m: float | None = None,
    spacing_m: float = 25.0,
) -> sp.csr_matrix:
    """Which site serves which demand unit within a travel time, along the network.

    Parameters
    ----------
    network : Network
        The travel network (its mode sets the speeds).
    sites : GeoDataFrame or GeoSeries
        Facility or candidate sites, points or polygons, in any CRS.
    demand : GeoDataFrame or GeoSeries
        Demand units, in any CRS.
    threshold_min : float
        Travel-time threshold in minutes, from the unit to the site.
    max_snap_dist_m : float, optional
        Sites and units farther than this from the network do not attach and cover /
        are covered by nothing (default: the network profile's, 300 m).
    spacing_m : float, optional
        Spacing of the access points along polygon boundaries (metres; default 25).

    Returns
    -------
    scipy.sparse.csr_matrix
        Boolean, ``len(sites) × len(demand)``, by row position: ``True`` where the
        travel time from the unit to the site is at most ``threshold_min``, computed
        exactly as :func:`mtown_geo.access.travel_times` would with that site alone.

    Notes
    -----
    The matrix is kept while the network lives (the last few site layers, units and
    thresholds): :func:`add_facilities` on the same sites, units and threshold reads it
    instead of searching again, which makes siting one category after another cheap.
    """
    T = _positive(threshold_min, name="threshold_min")
    site_layer = _geo_layer(sites, what="site layer")
    units = _geo_layer(demand, what="demand layer")
    if len(site_layer) == 0 or len(units) == 0:
        return sp.csr_matrix((len(site_layer), len(units)), dtype=bool)
    usnap = access.snap(network, units, max_snap_dist_m=max_snap_dist_m)
    mat, _ = _cover_cached(
        network,
        site_layer,
        usnap,
        threshold_min=T,
        max_snap_dist_m=max_snap_dist_m,
        spacing_m=spacing_m,
        units=np.ones(len(usnap), dtype=bool),
    )
    return mat


# -- choosing sites ------------------------------------------------------------------


def _greedy(A: sp.csr_matrix, w: np.ndarray, *, k_max: int, need: float) -> tuple[list[int], list[float]]:
    """Lazy greedy maximal covering: rows of ``A`` added by largest new weight until ``k_max`` or ``need``."""
    covered = np.zeros(A.shape[1], dtype=bool)
    gains0 = np.asarray(A @ w, dtype=float).ravel()
    heap = [(-g, int(c)) for c, g in enumerate(gains0) if g > 0]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    got = 0.0
    indptr, indices = A.indptr, A.indices
    while heap and len(chosen) < k_max and got < need:
        _, c = heapq.heappop(heap)
        cols = indices[indptr[c] : indptr[c + 1]]
        fresh = cols[~covered[cols]]
        g = float(w[fresh].sum())
        if g <= 0:
            continue
        if heap and g < -heap[0][0]:  # its gain has shrunk below the next stale bound: re-queue
            heapq.heappush(heap, (-g, c))
            continue
        covered[fresh] = True
        got += g
        chosen.append(c)
        gains.append(g)
    return chosen, gains


def _greedy_bounds(
    A: sp.csr_matrix, w: np.ndarray, chosen: list[int], *, k: int | None, need: float | None
) -> tuple[float | None, int | None]:
    """Bounds from submodularity along greedy's path S_0 ⊂ S_1 ⊂ ...

    For every i and any set O of sites, f(O) ≤ f(S_i) + Σ_{o∈O} gain_o(S_i) (coverage
    is monotone and submodular). Hence the best k sites gain at most
    min_i [f(S_i) + the k largest gains at S_i]; and a set reaching the gain ``need``
    has at least p_i sites for every i, p_i being the fewest largest gains at S_i
    that, added to f(S_i), reach ``need``. Returns (gain bound or None, site-count
    bound or None).
    """
    covered = np.zeros(A.shape[1], dtype=bool)
    got = 0.0
    best_gain: float | None = None
    min_sites: int | None = None
    for i in range(len(chosen) + 1):
        gains = np.asarray(A @ np.where(covered, 0.0, w), dtype=float).ravel()
        if k is not None:
            top = np.sort(gains)[::-1][:k].sum() if len(gains) else 0.0
            best_gain = got + float(top) if best_gain is None else min(best_gain, got + float(top))
        if need is not None:
            rest = need - got
            if rest <= 0:
                p = 0
            else:
                csum = np.cumsum(np.sort(gains)[::-1])
                p = int(np.searchsorted(csum, rest * (1 - 1e-9))) + 1
                p = min(p, len(gains))
            min_sites = p if min_sites is None else max(min_sites, p)
        if i < len(chosen):
            c = chosen[i]
            cols = A.indices[A.indptr[c] : A.indptr[c + 1]]
            fresh = cols[~covered[cols]]
            got += float(w[fresh].sum())
            covered[fresh] = True
    return best_gain, min_sites


def _groups(A: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge units covered by the same set of sites, and sites covering the same groups.

    Returns the (kept sites × groups) matrix, the group weights and the positions of
    the kept sites in ``A`` (one per distinct coverage pattern: the first). Units no
    site covers are left out.
    """
    At = A.T.tocsr()
    At.sort_indices()
    served = np.flatnonzero(np.diff(At.indptr) > 0)
    keys = pd.Series([At.indices[At.indptr[j] : At.indptr[j + 1]].tobytes() for j in served])
    codes, _ = pd.factorize(keys)
    G = int(codes.max()) + 1 if len(codes) else 0
    gw = np.bincount(codes, weights=w[served], minlength=G)
    rep = served[np.unique(codes, return_index=True)[1]]  # one unit stands for its group
    S = A[:, rep].tocsr()
    S.sort_indices()
    skeys = pd.Series([S.indices[S.indptr[c] : S.indptr[c + 1]].tobytes() for c in range(S.shape[0])])
    scodes, _ = pd.factorize(skeys)
    first = np.unique(scodes, return_index=True)[1]
    keep = np.sort(first[np.diff(S.indptr)[first] > 0])
    return S[keep].tocsr(), gw, keep


def _milp(
    S: sp.csr_matrix, gw: np.ndarray, *, k: int | None, need: float | None, time_limit_s: float
) -> tuple[np.ndarray | None, bool, float | None]:
    """Solve max coverage (``k``) or partial set cover (``need``) over sites × groups.

    Returns the chosen site positions (None when no solution was found), whether
    optimality is proven, and the dual bound (max coverage: the largest reachable
    weight; set cover: the least number of sites).
    """
    C, G = S.shape
    scale = float(gw.sum())
    wn = gw / scale
    # y_g ≤ Σ_{c covers g} x_c
    link = sp.hstack([-S.T.astype(float), sp.identity(G, format="csr")]).tocsr()
    cons = [LinearConstraint(link, -np.inf, 0.0)]
    integrality = np.concatenate([np.ones(C), np.zeros(G)])
    if k is not None:
        obj = np.concatenate([np.zeros(C), -wn])
        cons.append(LinearConstraint(np.concatenate([np.ones(C), np.zeros(G)])[None, :], -np.inf, float(k)))
    else:
        need = 0.0 if need is None else need
        obj = np.concatenate([np.ones(C), np.zeros(G)])
        cons.append(LinearConstraint(np.concatenate([np.zeros(C), wn])[None, :], min(need / scale, 1.0), np.inf))
    res = milp(
        obj,
        constraints=cons,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": time_limit_s, "disp": False},
    )
    if res.x is None:
        return None, False, None
    chosen = np.flatnonzero(res.x[:C] > 0.5)
    dual = getattr(res, "mip_dual_bound", None)
    if dual is not None and np.isfinite(dual):
        dual = -float(dual) * scale if k is not None else float(dual)
    else:
        dual = None
    return chosen, res.status == 0, dual


def _order_by_gain(A: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray) -> tuple[list[int], list[float]]:
    """A chosen set in greedy order (largest new weight first); sites adding nothing are dropped."""
    if len(chosen) == 0:
        return [], []
    idx, gains = _greedy(A[chosen], w, k_max=len(chosen), need=math.inf)
    return [int(chosen[i]) for i in idx], gains


def _covered_weight(A: sp.csr_matrix, w: np.ndarray, rows: list[int]) -> float:
    if not rows:
        return 0.0
    hit = np.zeros(A.shape[1], dtype=bool)
    hit[A[rows].indices] = True
    return float(w[hit].sum())


def add_facilities(
    network: Network,
    facilities: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame,
    *,
    category: str,
    threshold_min: float,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    k: int | None = None,
    target: float | None = None,
    weight: str | None = "res_area_m2",
    max_snap_dist_m: float | None = None,
    method: str = "greedy",
    spacing_m: float = 25.0,
    time_limit_s: float = 60.0,
    reach: access.Reach | None = None,
) -> SitingPlan:
    """Choose new facility sites that raise a category's coverage the most.

    Coverage = Σ weight of demand units within ``threshold_min`` of the nearest
    facility of ``category`` / Σ weight of all units. The existing facilities of the
    category keep covering what they cover; the new sites are chosen among
    ``candidates`` to cover as much of the rest as possible.

    Parameters
    ----------
    network : Network
        The travel network of the mode (e.g. walking).
    facilities : GeoDataFrame or None
        Existing facilities with a ``category`` column (see :mod:`mtown_geo.facilities`),
        any CRS; only those of ``category`` count. None, an empty layer or a layer
        without that category means the category has no facility yet (with ``reach``:
        None means the facilities the Reach was searched from).
    demand : GeoDataFrame
        Demand units (see :mod:`mtown_geo.demand`) with the ``weight`` column, any CRS.
    category : str
        The facility category to site (e.g. ``"kindergarten"``).
    threshold_min : float
        Travel-time threshold in minutes, from the unit to the facility (15 for the
        15-minute life circle).
    candidates : GeoDataFrame or GeoSeries, optional
        Candidate locations (vacant plots, public land), points or polygons, any CRS;
        a polygon is reached through its boundary like a facility. By default: the
        street junctions and dead ends of the network inside the convex hull of the
        demand units (:func:`default_candidates`).
    k : int, optional
        Add at most this many sites.
    target : float, optional
        Coverage target, 0–1 (e.g. 0.95): add the fewest sites that reach it (at most
        ``k`` when ``k`` is also given). One of ``k`` and ``target`` is required.
    weight : str or None, optional
        Demand weight column: ``"res_area_m2"`` (default, residential land),
        ``"area_m2"``, ``"pop"`` or any numeric column; ``None``: every unit counts 1
        (see :func:`mtown_geo.demand.weights`).
    max_snap_dist_m : float, optional
        Units, facilities and candidates farther than this from the network are not
        attached (default: the network profile's, 300 m); reported with a
        :class:`~mtown_geo.SnapWarning`.
    method : {"greedy", "exact"}, optional
        ``"greedy"`` (default): lazy greedy maximal covering, at least 1 − 1/e of the
        optimal gain and usually within a fraction of a percent, for any size.
        ``"exact"``: the integer program (``scipy.optimize.milp``), for instances of up
        to a few thousand candidates; the plan also gives greedy's result beside it.
    spacing_m : float, optional
        Spacing of access points along polygon boundaries (metres; default 25).
    time_limit_s : float, optional
        Time limit of the integer program (seconds; default 60). When it is hit, the
        best plan found is returned with ``optimal=False``.
    reach : Reach, optional
        The engine's search of this network from these facilities (:func:`mtown_geo.access.reach`,
        e.g. the life circle's), with ``category`` among its categories, ``max_time_min`` at
        least ``threshold_min`` and the same ``spacing_m`` and ``max_snap_dist_m``: the
        existing coverage is then read from it (``reach.at(demand)[category] <= threshold_min``)
        instead of searched again. The result is the same to the bit.

    Returns
    -------
    SitingPlan
        The chosen sites in order with the coverage after each, the weight each newly
        covers, the method, and whether the target is reachable at all with these
        candidates (``reachable``, ``max_coverage``).

    Raises
    ------
    InputError
        Bad arguments: neither ``k`` nor ``target``, a target outside 0–1, a missing or
        all-zero weight column, an unknown method, an empty layer, a ``reach`` of another
        network, category, search limit, attachment or facility layer.
    CRSError
        A layer has no CRS.

    Notes
    -----
    The candidates' coverage is searched only for the units not yet covered and kept
    while the network lives (the last few candidate layers, units and thresholds): the
    next category on the same candidates, units and threshold reads it, and
    :func:`coverage_matrix` of the same question fills it for every unit at once.

    Greedy stops early when no remaining candidate covers anything new, so a plan may
    hold fewer than ``k`` sites. With a target that these candidates cannot reach,
    the plan adds sites until nothing more can be covered, and says how far that gets.

    Examples
    --------
    >>> import mtown_geo as mg
    >>> plan = mg.siting.add_facilities(net, fac, units, category="kindergarten",
    ...                                 threshold_min=15, target=0.95)  # doctest: +SKIP
    >>> plan.sites[["order", "coverage"]]  # doctest: +SKIP
    """
    req = _check_request(
        network,
        facilities,
        demand,
        category=category,
        threshold_min=threshold_min,
        candidates=candidates,
        k=k,
        target=target,
        weight=weight,
        method=method,
        time_limit_s=time_limit_s,
        reach=reach,
    )
    # attach the units once (the Reach of this network has them already when it was asked
    # about them); what the existing facilities cover (the engine itself)
    if reach is not None and reach.network is network:
        usnap = reach.snap(req.units, max_snap_dist_m=max_snap_dist_m)
    else:
        usnap = access.snap(network, req.units, max_snap_dist_m=max_snap_dist_m)
    _warn_unattached(usnap, what="demand units", mode=network.mode)
    base = _baseline(network, req, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m, reach=reach)
    cm = _candidate_matrix(network, req, usnap, base, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m)
    choice = _choose(req, cm, method=method, time_limit_s=time_limit_s)
    plan = _plan(req, cm, choice, method=method)
    if req.target is not None and not choice.reachable:
        warnings.warn(plan.message(), TargetWarning, stacklevel=2)
    log.info("%s", plan.message())
    return plan


# -- the steps of add_facilities -----------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """What :func:`add_facilities` is asked, checked: the layers and the numbers."""

    units: gpd.GeoDataFrame
    w_all: np.ndarray
    total: float
    existing: gpd.GeoDataFrame | None
    cand: gpd.GeoDataFrame
    category: str
    T: float
    k: int | None
    target: float | None
    weight: str | None


@dataclass(frozen=True)
class _Matrix:
    """The candidates' coverage of the units not covered before (``A_full``, all columns; the covered units' stay
    empty) and of the units still open with a weight (``A``, ``w``)."""

    base: np.ndarray
    before: float
    A_full: sp.csr_matrix
    attached: np.ndarray
    A: sp.csr_matrix
    w: np.ndarray
    every: float


@dataclass(frozen=True)
class _Choice:
    """The sites chosen (rows of the candidates), their gains and what is known of the optimum."""

    rows: list[int]
    gains: list[float]
    optimal: bool
    reachable: bool | None
    bound_coverage: float | None
    bound_n_sites: int | None
    greedy_coverage: float
    greedy_n_sites: int


def _check_request(
    network: Network,
    facilities: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame,
    *,
    category: str,
    threshold_min: float,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | None,
    k: int | None,
    target: float | None,
    weight: str | None,
    method: str,
    time_limit_s: float,
    reach: access.Reach | None,
) -> _Request:
    """Every argument checked, once, at the entry; the layers read."""
    if not isinstance(network, Network):
        raise InputError(f"network must be a mtown_geo Network, got {type(network).__name__}")
    T = _positive(threshold_min, name="threshold_min")
    if method not in _METHODS:
        raise InputError(f"unknown method {method!r}: use 'greedy' or 'exact'")
    if k is None and target is None:
        raise InputError("give k (the number of sites to add), target (a coverage share 0–1 to reach), or both")
    if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
        raise InputError(f"k must be a whole number ≥ 1, got {k!r}")
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0 < target <= 1:
            raise InputError(f"target is a coverage share between 0 and 1 (0.95 for 95 %), got {target!r}")
        target = float(target)
    if not isinstance(category, str) or not category:
        raise InputError(f"category must be a category name such as 'kindergarten', got {category!r}")
    _positive(time_limit_s, name="time_limit_s")
    if reach is not None and not isinstance(reach, access.Reach):
        raise InputError(f"reach must be a Reach (mtown_geo.access.reach), got {type(reach).__name__}")
    units = _geo_layer(demand, what="demand layer")
    if len(units) == 0:
        raise InputError("the demand layer is empty")
    weight = _demand.weight_name(weight)
    w_all = _demand.weights(units, weight)
    if facilities is None and reach is not None:
        facilities = reach.facilities
    existing = _facilities_of(facilities, category)
    cand = default_candidates(network, units) if candidates is None else _geo_layer(candidates, what="candidate layer")
    if len(cand) == 0:
        raise InputError("the candidate layer is empty: give at least one candidate site")
    return _Request(
        units=units,
        w_all=w_all,
        total=float(w_all.sum()),
        existing=existing,
        cand=cand,
        category=category,
        T=T,
        k=int(k) if k is not None else None,
        target=target,
        weight=weight,
    )


def _baseline(
    network: Network,
    req: _Request,
    *,
    max_snap_dist_m: float | None,
    spacing_m: float,
    reach: access.Reach | None,
) -> np.ndarray:
    """Which units the existing facilities of the category cover: read from ``reach``, or one engine search."""
    if reach is not None:
        _check_reach(reach, network, req, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m)
    if req.existing is None:
        log.info("no existing facility of the category %r: coverage starts from 0", req.category)
        return np.zeros(len(req.units), dtype=bool)
    if reach is None:
        reach = access.reach(
            network,
            req.existing,
            categories=[req.category],
            max_time_min=req.T,
            max_snap_dist_m=max_snap_dist_m,
            spacing_m=spacing_m,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapWarning)  # unattached units are reported once, by the caller
        times = reach.at(req.units, max_snap_dist_m=max_snap_dist_m)[req.category].to_numpy()
    return np.asarray(times <= req.T, dtype=bool)


def _check_reach(
    reach: access.Reach, network: Network, req: _Request, *, max_snap_dist_m: float | None, spacing_m: float
) -> None:
    """A Reach given to :func:`add_facilities` must answer the same question as its own search would."""
    att = reach.attachment
    if reach.network is not network:
        raise InputError("reach was searched on another network: pass the Reach of this network, or leave reach out")
    theirs = reach.facilities[(reach.facilities["category"] == req.category).to_numpy()].geometry
    ours = req.existing.geometry if req.existing is not None else gpd.GeoSeries([], crs=theirs.crs)
    if len(ours) and not ours.crs.equals(theirs.crs):
        ours = ours.to_crs(theirs.crs)
    if (
        len(ours) != len(theirs)
        or not shapely.equals_exact(np.asarray(ours.values), np.asarray(theirs.values), tolerance=1e-6).all()
    ):
        raise InputError(
            f"reach was searched from other {req.category} facilities than the layer given ({len(theirs)} there, "
            f"{len(ours)} here): pass the layer the Reach was made from, or leave reach out"
        )
    if req.existing is None:
        return  # nothing to read from it
    if req.category not in reach.categories:
        raise InputError(f"reach did not search the category {req.category!r} (it searched {list(reach.categories)})")
    if reach.max_time_min < req.T:
        raise InputError(
            f"reach was searched up to {reach.max_time_min:g} min, less than threshold_min={req.T:g}: search it "
            "further, or leave reach out"
        )
    snap_m = network.max_snap_dist_m if max_snap_dist_m is None else max_snap_dist_m
    if float(snap_m) != att.max_snap_dist_m or float(spacing_m) != att.spacing_m:
        raise InputError(
            f"reach attached the facilities with max_snap_dist_m={att.max_snap_dist_m:g} and spacing_m={att.spacing_m:g}, "
            f"not {snap_m:g} and {spacing_m:g}: give the same, or leave reach out"
        )


def _candidate_matrix(
    network: Network,
    req: _Request,
    usnap: pd.DataFrame,
    base: np.ndarray,
    *,
    max_snap_dist_m: float | None,
    spacing_m: float,
) -> _Matrix:
    """Which candidate covers which unit, and the part of it over the units not yet covered."""
    cand, T = req.cand, req.T
    # only the units not yet covered can gain: their columns are the ones computed
    A_full, attached = _cover_cached(
        network, cand, usnap, threshold_min=T, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m, units=~base
    )
    if not attached.all():
        warnings.warn(
            f"{int((~attached).sum())} of {_words.count(len(cand), 'candidate site', 'candidate sites')} "
            f"{_words.agree(int((~attached).sum()), 'lies', 'lie')} farther than the snap distance from the "
            f"{network.mode} network and cannot be chosen",
            SnapWarning,
            stacklevel=3,
        )
    before = float(req.w_all[base].sum())
    open_units = np.flatnonzero(~base & (req.w_all > 0))
    A = A_full[:, open_units].tocsr()
    w = req.w_all[open_units]
    every = _covered_weight(A, w, list(range(A.shape[0]))) if A.nnz else 0.0
    log.info(
        "%s within %g min: %d units, coverage %.4f with %d existing facilities; %d candidates (%d attached) could reach %.4f",
        req.category,
        T,
        len(req.units),
        before / req.total,
        0 if req.existing is None else len(req.existing),
        len(cand),
        int(attached.sum()),
        (before + every) / req.total,
    )
    return _Matrix(base=base, before=before, A_full=A_full, attached=attached, A=A, w=w, every=every)


def _choose(req: _Request, cm: _Matrix, *, method: str, time_limit_s: float) -> _Choice:
    """The goal (k sites, or the weight still needed for the target), greedy and its bounds, then the method's answer."""
    A, w, before, total, kk, target = cm.A, cm.w, cm.before, req.total, req.k, req.target
    if target is not None:
        need = max(0.0, target * total - before)
        reachable: bool | None = before + cm.every >= target * total * (1 - _REL_TOL)
        goal = need if reachable else cm.every
        goal_tol = goal - _REL_TOL * total
    else:
        reachable = None
        goal = math.inf
        goal_tol = math.inf
    k_max = kk if kk is not None else A.shape[0]

    g_rows, g_gains = _greedy(A, w, k_max=k_max, need=goal_tol)
    greedy_cov = (before + sum(g_gains)) / total
    bound_gain, min_sites = _greedy_bounds(
        A, w, g_rows, k=kk if target is None else None, need=goal_tol if target is not None and goal > 0 else None
    )
    if target is not None and goal <= 0:
        min_sites = 0

    if method == "greedy":
        rows, gains = g_rows, g_gains
        got = sum(gains)
        optimal = bool(
            (target is None and bound_gain is not None and got >= bound_gain * (1 - 1e-9))
            or (target is not None and min_sites is not None and len(rows) <= min_sites and got >= goal_tol)
        )
        bound_cov = None if bound_gain is None else min(1.0, (before + bound_gain) / total)
        bound_sites = min_sites
    else:
        rows, gains, optimal, bound_cov, bound_sites = _exact(
            A,
            w,
            kk=kk,
            target=target,
            goal=goal,
            goal_tol=goal_tol,
            before=before,
            total=total,
            time_limit_s=time_limit_s,
            greedy_rows=g_rows,
            greedy_gains=g_gains,
            min_sites=min_sites,
        )
    return _Choice(
        rows=rows,
        gains=gains,
        optimal=optimal,
        reachable=reachable,
        bound_coverage=bound_cov,
        bound_n_sites=bound_sites,
        greedy_coverage=greedy_cov,
        greedy_n_sites=len(g_rows),
    )


def _plan(req: _Request, cm: _Matrix, choice: _Choice, *, method: str) -> SitingPlan:
    """The plan: the sites table, the units table and the figures."""
    before, total = cm.before, req.total
    after = before + sum(choice.gains)
    target_reached = None if req.target is None else bool(after >= req.target * total * (1 - _REL_TOL))
    return SitingPlan(
        sites=_sites_table(req.cand, choice.rows, choice.gains, before=before, total=total, weight=req.weight),
        units=_units_table(cm.A_full, choice.rows, cm.base, index=req.units.index),
        category=req.category,
        threshold_min=req.T,
        weight=req.weight,
        method=method,
        k=req.k,
        target=req.target,
        total_weight=total,
        coverage_before=before / total,
        coverage_after=after / total,
        max_coverage=(before + cm.every) / total,
        n_candidates=len(req.cand),
        n_candidates_attached=int(cm.attached.sum()),
        reachable=choice.reachable,
        target_reached=target_reached,
        optimal=choice.optimal,
        bound_coverage=choice.bound_coverage,
        bound_n_sites=choice.bound_n_sites,
        greedy_coverage_after=choice.greedy_coverage,
        greedy_n_sites=choice.greedy_n_sites,
    )


def _exact(
    A: sp.csr_matrix,
    w: np.ndarray,
    *,
    kk: int | None,
    target: float | None,
    goal: float,
    goal_tol: float,
    before: float,
    total: float,
    time_limit_s: float,
    greedy_rows: list[int],
    greedy_gains: list[float],
    min_sites: int | None,
) -> tuple[list[int], list[float], bool, float | None, int | None]:
    """The integer-program answer: rows in order, gains, proven optimal, coverage bound, site-count bound."""
    if A.nnz == 0 or (target is not None and goal <= 0):
        return [], [], True, (before / total if target is None else None), (0 if target is not None else None)
    S, gw, site_pos = _groups(A, w)
    log.info("exact: %d distinct candidates × %d groups of demand units", S.shape[0], S.shape[1])
    fallback = (
        f"the integer program found no solution within time_limit_s={time_limit_s:g} s: the greedy plan is returned "
        "instead; raise time_limit_s or give fewer candidates"
    )
    if target is None:
        k_sites = kk if kk is not None else S.shape[0]
        chosen, optimal, dual = _milp(S, gw, k=k_sites, need=None, time_limit_s=time_limit_s)
        if chosen is None:
            warnings.warn(fallback, MtownGeoWarning, stacklevel=4)
            return greedy_rows, greedy_gains, False, None, None
        rows, gains = _order_by_gain(A, w, site_pos[chosen])
        if sum(gains) < sum(greedy_gains):  # a time-limited solution worse than greedy's
            rows, gains = greedy_rows, greedy_gains
        got = before + sum(gains)
        if optimal:
            return rows, gains, True, got / total, None
        bound = None if dual is None else min(1.0, max(got, before + dual) / total)
        return rows, gains, False, bound, None

    # a target: the fewest sites (partial set cover), then the best sites of that number (maximal covering)
    cover, cover_opt, cover_dual = _milp(S, gw, k=None, need=goal_tol, time_limit_s=time_limit_s)
    if cover is None:
        warnings.warn(fallback, MtownGeoWarning, stacklevel=4)
        return greedy_rows, greedy_gains, False, None, min_sites
    p = len(cover)
    lower = p if cover_opt else max(min_sites or 0, math.ceil(cover_dual - 1e-6) if cover_dual is not None else 0)
    if kk is not None and p > kk:  # the target needs more than k sites: the best k
        p = kk
        best_rows: list[int] = []
        best_gains: list[float] = []
    else:
        best_rows, best_gains = _order_by_gain(A, w, site_pos[cover])
    proven = cover_opt
    while True:
        chosen, optimal, _ = _milp(S, gw, k=p, need=None, time_limit_s=time_limit_s)
        if chosen is not None:
            rows, gains = _order_by_gain(A, w, site_pos[chosen])
            if sum(gains) > sum(best_gains):
                best_rows, best_gains = rows, gains
            proven = proven and optimal
        # p + 1 only when the solver's tolerance left p sites a hair short of the goal
        if sum(best_gains) >= goal_tol or p >= S.shape[0] or (kk is not None and p >= kk):
            break
        p += 1
    if sum(greedy_gains) >= goal_tol and len(greedy_rows) < len(best_rows):  # a time-limited solution
        best_rows, best_gains, proven = greedy_rows, greedy_gains, False
    return best_rows, best_gains, proven, None, (len(best_rows) if proven and sum(best_gains) >= goal_tol else lower)


def _warn_unattached(usnap: pd.DataFrame, *, what: str, mode: str) -> None:
    bad = ~usnap["ok"].to_numpy()
    if bad.any():
        far = usnap.loc[bad, "snap_dist_m"].replace(np.inf, np.nan)
        warnings.warn(
            f"{int(bad.sum())} of {len(usnap)} {what} {_words.agree(int(bad.sum()), 'lies', 'lie')} farther than the allowed snap "
            f"distance from the {mode} network "
            f"(up to {far.max():.0f} m; empty geometries count as infinitely far): they stay uncovered but count in "
            "the denominator. Check the layer's CRS and extent; mtown_geo.access.snap() lists them",
            SnapWarning,
            stacklevel=3,
        )


def _units_table(A_full: sp.csr_matrix, rows: list[int], base: np.ndarray, *, index: pd.Index) -> pd.DataFrame:
    """Per demand unit: covered before, the order of the new site that first covers it, covered after."""
    first = np.zeros(len(base), dtype=np.int64)
    for order, r in enumerate(rows, start=1):
        cols = A_full.indices[A_full.indptr[r] : A_full.indptr[r + 1]]
        cols = cols[(first[cols] == 0) & ~base[cols]]
        first[cols] = order
    new_site = pd.array(np.where(first > 0, first, 0), dtype="Int64")
    new_site[first == 0] = pd.NA
    return pd.DataFrame({"covered_before": base, "new_site": new_site, "covered_after": base | (first > 0)}, index=index)


def _sites_table(
    cand: gpd.GeoDataFrame, rows: list[int], gains: list[float], *, before: float, total: float, weight: str | None
) -> gpd.GeoDataFrame:
    picked = cand.iloc[rows]
    gains_a = np.asarray(gains, dtype=float)
    covered = before + np.cumsum(gains_a)
    ours = {
        "order": np.arange(1, len(rows) + 1),
        f"new_{_weight_label(weight)}": gains_a,
        f"covered_{_weight_label(weight)}": covered,
        "coverage": covered / total,
        "coverage_gain": gains_a / total,
    }
    geom_name = picked.geometry.name
    extra = {(f"{c}_candidate" if c in ours else c): picked[c].to_numpy() for c in picked.columns if c != geom_name}
    out = gpd.GeoDataFrame({**ours, **extra}, geometry=picked.geometry.to_numpy(), crs=cand.crs, index=picked.index)
    return out


# -- what each existing facility contributes -----------------------------------------


def contributions(
    network: Network,
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    category: str,
    threshold_min: float,
    weight: str | None = "res_area_m2",
    max_snap_dist_m: float | None = None,
    spacing_m: float = 25.0,
) -> gpd.GeoDataFrame:
    """What each facility of a category covers, and what only it covers.

    Parameters
    ----------
    network : Network
        The travel network of the mode.
    facilities : GeoDataFrame
        Facilities with a ``category`` column, points or polygons, any CRS.
    demand : GeoDataFrame
        Demand units with the ``weight`` column, any CRS.
    category : str
        The category to assess.
    threshold_min : float
        Travel-time threshold in minutes, from the unit to the facility.
    weight : str or None, optional
        Demand weight column (default ``"res_area_m2"``; ``"area_m2"``, ``"pop"``, any
        numeric column; ``None``: every unit counts 1 and the columns read ``covered_units``...).
    max_snap_dist_m : float, optional
        Units and facilities farther than this from the network are not attached
        (default: the network profile's, 300 m).
    spacing_m : float, optional
        Spacing of access points along polygon boundaries (metres; default 25).

    Returns
    -------
    GeoDataFrame
        Indexed like the facilities of ``category`` (the rows of ``facilities`` whose
        ``category`` equals it, in their order), in the facilities' CRS:
        ``covered_<weight>`` (weight of the units within the threshold of the facility),
        ``unique_<weight>`` (of those, the weight no other facility of the category
        covers: what coverage loses if it closes), ``covered_share`` and
        ``unique_share`` (the same as shares 0–1 of all demand weight), ``n_units``,
        ``n_units_unique``, ``attached`` (whether it attaches to the network), ``name``
        when the layer has one, and geometry.
    """
    if not isinstance(network, Network):
        raise InputError(f"network must be a mtown_geo Network, got {type(network).__name__}")
    T = _positive(threshold_min, name="threshold_min")
    fac = _geo_layer(facilities, what="facility layer")
    if "category" not in fac:
        raise InputError("the facility layer has no 'category' column (see mtown_geo.facilities.classify)")
    units = _geo_layer(demand, what="demand layer")
    if len(units) == 0:
        raise InputError("the demand layer is empty")
    weight = _demand.weight_name(weight)
    w = _demand.weights(units, weight)
    label = _weight_label(weight)
    sel = fac[(fac["category"] == category).to_numpy()]
    if len(sel) == 0:
        warnings.warn(f"no facility of the category {category!r}: nothing to assess", EmptyCategoryWarning, stacklevel=2)
    usnap = access.snap(network, units, max_snap_dist_m=max_snap_dist_m)
    _warn_unattached(usnap, what="demand units", mode=network.mode)
    if len(sel):
        A, attached = _cover(network, sel, usnap, threshold_min=T, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m)
    else:
        A, attached = sp.csr_matrix((0, len(units)), dtype=bool), np.zeros(0, dtype=bool)
    if len(sel) and not attached.all():
        warnings.warn(
            f"{_words.count(int((~attached).sum()), f'{category} facility lies', f'{category} facilities lie')} farther than the snap "
            f"distance from the {network.mode} network: {_words.agree(int((~attached).sum()), 'it covers', 'they cover')} nothing here",
            SnapWarning,
            stacklevel=2,
        )
    Af = A.astype(float)
    n_cover = np.asarray(Af.sum(axis=0)).ravel()
    only = n_cover == 1
    total = float(w.sum())
    covered = np.asarray(Af @ w).ravel()
    unique = np.asarray(Af @ np.where(only, w, 0.0)).ravel()
    data: dict[str, Any] = {
        f"covered_{label}": covered,
        f"unique_{label}": unique,
        "covered_share": covered / total,
        "unique_share": unique / total,
        "n_units": np.asarray(Af.sum(axis=1)).ravel().astype(np.int64),
        "n_units_unique": np.asarray(Af @ only.astype(float)).ravel().astype(np.int64),
        "attached": attached,
    }
    if "name" in sel:
        data["name"] = sel["name"].to_numpy()
    return gpd.GeoDataFrame(data, geometry=sel.geometry.to_numpy(), crs=fac.crs, index=sel.index)
