"""The travel network of one mode: the :class:`Network` class and its sparse-matrix helpers.

The class lives here, below both builders (:mod:`mtown_geo.network` for OSM files and graphs,
:mod:`mtown_geo._lines` for road centrelines), so that neither builder imports the other to
reach it. Users import it as :class:`mtown_geo.network.Network`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from . import _frames
from . import crs as _crs
from ._errors import CRSError, InputError, NetworkError

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Network"]

#: Label the connected pieces from the edges u → v alone (False: from every directed link)
_EDGE_COMPONENTS = True
#: What a copy of a network with other edge times takes from it (:meth:`Network._same_links`;
#: False: it builds its own)
_SHARE_LINKS = True

# longest piece (m) of an edge in Network.edge_piece_tree: shorter pieces make more tree
# points, longer ones more candidate edges per nearest-edge query
_PIECE_M = 25.0


class Network:
    """The network of one travel mode, in a projected metric CRS.

    Parameters
    ----------
    nodes : GeoDataFrame or DataFrame
        Index ``0..n-1``; columns ``x``, ``y`` (metres) and Point geometry. A plain
        DataFrame (with ``crs``) gets its Points at ``x``, ``y`` on first use of
        :attr:`nodes`.
    edges : GeoDataFrame or DataFrame
        Index ``0..m-1``; columns ``u``, ``v`` (node positions), ``length_m``,
        ``time_min`` (u → v), ``time_rev_min`` (v → u; ``inf`` where one-way), optional
        attributes (``highway``, ``name``, ``osm_id``...) and LineString geometry from u
        to v. A plain DataFrame (with ``crs`` and ``straight=True``) gets the straight
        segments from u to v on first use of :attr:`edges`: the engine never needs them,
        so a network built from arrays makes no shapely object until a layer is used.
    mode : str
        The travel mode (a key of the profile's ``modes``).
    speed_kmh : float
        The mode's base speed (km/h); per-edge speeds may differ (drive).
    access_speed_kmh : float
        Speed of the off-network legs between a point and the network (walking).
    profile : str
        Name of the profile the network was built with.
    source : str
        Where the network came from (file name), for reports.
    max_snap_dist_m : float
        Default largest distance (metres) at which points attach to the network.
    straight : bool
        Every edge is the straight segment from node u to node v (so the engine's
        indexes can be taken from the node coordinates).
    crs : optional
        The projected CRS of ``nodes`` and ``edges`` given as plain DataFrames (anything
        pyproj accepts); for GeoDataFrames it must be theirs.

    Notes
    -----
    The CRS is checked once here: a geographic CRS raises :class:`~mtown_geo.CRSError`.
    A Network is treated as immutable; :meth:`with_speed` returns a new one. Such a copy
    with other edge times (:meth:`with_speed`, :meth:`with_edge_times`) shares what its
    nodes and edges alone make with the network it was made from: the edge trees, the
    connected pieces, and the places of the time matrices' entries while the same
    directions are open.
    """

    def __init__(
        self,
        nodes: pd.DataFrame,
        edges: pd.DataFrame,
        *,
        mode: str,
        speed_kmh: float,
        access_speed_kmh: float = 4.0,
        profile: str = "",
        source: str = "",
        max_snap_dist_m: float = 300.0,
        straight: bool = False,
        crs: Any = None,
    ) -> None:
        geo = [t for t in (nodes, edges) if isinstance(t, gpd.GeoDataFrame)]
        if crs is None:
            if len(geo) < 2:
                raise NetworkError("network nodes or edges without geometry need the projected CRS they are in (crs=)")
            self.crs: CRS = _crs.require_projected(nodes, what="network nodes")
        else:
            self.crs = _crs.require_projected(crs, what="network CRS")
        for t in geo:
            if t.crs is None or CRS.from_user_input(t.crs) != self.crs:
                raise CRSError("network nodes and edges must share one projected CRS")
        if not isinstance(nodes, gpd.GeoDataFrame) and not {"x", "y"} <= set(nodes.columns):
            raise NetworkError("network nodes without geometry need the columns x and y (metres)")
        if not isinstance(edges, gpd.GeoDataFrame) and not straight:
            raise NetworkError("network edges without geometry must be straight segments from u to v (straight=True)")
        needed = {"u", "v", "length_m", "time_min", "time_rev_min"}
        missing = needed - set(edges.columns)
        if missing:
            raise NetworkError(f"network edges lack the columns {sorted(missing)}")
        if len(edges) == 0:
            raise NetworkError(f"the {mode} network has no edges")
        # nodes and edges as given: plain tables get their geometry on first use of .nodes / .edges
        self._node_table = nodes
        self._edge_table = edges
        self.mode = mode
        self.speed_kmh = float(speed_kmh)
        self.access_speed_kmh = float(access_speed_kmh)
        self.profile = profile
        self.source = source
        self.max_snap_dist_m = float(max_snap_dist_m)
        self._straight = bool(straight)
        #: where the entries of :attr:`csr` (False) and of its transpose (True) go: see _csr_layout
        self._layouts: dict[bool, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
        #: the network whose nodes, edge ends and geometry these are (:meth:`_same_links`)
        self._link_source: Network | None = None

    @property
    def nodes(self) -> gpd.GeoDataFrame:
        """The nodes: ``x``, ``y`` (metres), other columns, Point geometry (made on first use
        for a network built from arrays)."""
        t = self._node_table
        if not isinstance(t, gpd.GeoDataFrame):
            t = _frames.geo_frame(t, shapely.points(t["x"].to_numpy(), t["y"].to_numpy()), self.crs)
            self._node_table = t
        return t

    @property
    def edges(self) -> gpd.GeoDataFrame:
        """The edges: ``u``, ``v``, ``length_m``, ``time_min``, ``time_rev_min``, attributes and
        LineString geometry (for a network built from arrays, the straight segments from u to v,
        made on first use)."""
        t = self._edge_table
        if not isinstance(t, gpd.GeoDataFrame):
            xy = self._node_table[["x", "y"]].to_numpy()
            a = xy[t["u"].to_numpy()]
            b = xy[t["v"].to_numpy()]
            t = _frames.geo_frame(t, shapely.linestrings(np.stack([a, b], axis=1)), self.crs)
            self._edge_table = t
        return t

    @property
    def edge_table(self) -> pd.DataFrame:
        """The edges' columns without making their geometry: :attr:`edges` once it has been
        used, else the plain table the network was built from (``u``, ``v``, times...)."""
        return self._edge_table

    # -- basic facts -----------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return len(self._node_table)

    @property
    def n_edges(self) -> int:
        return len(self._edge_table)

    @property
    def directed(self) -> bool:
        """Whether any edge is one-way."""
        return bool(np.isinf(self._edge_table["time_rev_min"].to_numpy()).any())

    @property
    def length_km(self) -> float:
        return float(self._edge_table["length_m"].sum()) / 1000.0

    def __repr__(self) -> str:
        return (
            f"Network(mode={self.mode!r}, {self.n_nodes:,} nodes, {self.n_edges:,} edges, "
            f"{self.length_km:,.1f} km, {self.crs.to_string()}, {self.n_components} component"
            f"{'s' if self.n_components != 1 else ''})"
        )

    # -- matrices and indexes (built once, on first use) ------------------------------

    def _directed_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = self._edge_table
        u = e["u"].to_numpy(np.int64)
        v = e["v"].to_numpy(np.int64)
        tf = e["time_min"].to_numpy(float)
        tb = e["time_rev_min"].to_numpy(float)
        back = np.isfinite(tb)
        rows = np.concatenate([u, v[back]])
        cols = np.concatenate([v, u[back]])
        w = np.concatenate([tf, tb[back]])
        return rows, cols, w

    def _times_matrix(self, *, reverse: bool) -> sp.csr_matrix:
        """:attr:`csr` (or its transpose), its entries placed as last time for a network of
        the same nodes and edge directions (:meth:`with_speed`, :meth:`with_edge_times`)."""
        rows, cols, w = self._directed_arrays()
        if reverse:
            rows, cols = cols, rows
        if len(rows) == 0:
            return sp.csr_matrix((self.n_nodes, self.n_nodes))
        if reverse not in self._layouts:
            self._layouts[reverse] = _csr_layout(rows, cols, self.n_nodes)
        layout = self._layouts[reverse]
        if layout is None:
            return _csr_first_min(rows, cols, w, self.n_nodes)
        return _csr_at(w, layout, self.n_nodes)

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Sparse matrix of travel times in minutes: ``csr[i, j]`` is the time of edge i → j.

        Parallel edges keep their fastest time; zero times are stored explicitly
        (``scipy.sparse.csgraph`` treats explicit zeros of a sparse matrix as edges).
        """
        return self._times_matrix(reverse=False)

    @cached_property
    def csr_reverse(self) -> sp.csr_matrix:
        """The transpose of :attr:`csr` (times *to* a node), used for searches from facilities.

        The same matrix as :attr:`csr` when every edge is two-way with equal times.
        """
        e = self._edge_table
        if np.array_equal(e["time_min"].to_numpy(), e["time_rev_min"].to_numpy()):
            return self.csr
        return self._times_matrix(reverse=True)

    @cached_property
    def edge_start_tree(self) -> cKDTree:
        """A KD-tree over the first vertex of every edge (bounds the nearest-edge distance)."""
        if self._link_source is not None:
            return self._link_source.edge_start_tree
        straight = self.straight_edges
        if straight is not None:
            first = straight[0]
        else:
            first = shapely.get_coordinates(shapely.get_point(np.asarray(self.edges.geometry.values), 0))
        return cKDTree(first, balanced_tree=False, compact_nodes=False)

    @cached_property
    def straight_edges(self) -> tuple[np.ndarray, np.ndarray] | None:
        """End coordinates (a, b) of every edge when all edges are straight segments, else None."""
        if self._link_source is not None:
            return self._link_source.straight_edges
        if self._straight:
            xy = self._node_table[["x", "y"]].to_numpy()
            return xy[self._edge_table["u"].to_numpy()], xy[self._edge_table["v"].to_numpy()]
        geoms = np.asarray(self.edges.geometry.values)
        if not np.all(shapely.get_num_points(geoms) == 2):
            return None
        coords = shapely.get_coordinates(geoms).reshape(-1, 2, 2)
        return coords[:, 0, :].copy(), coords[:, 1, :].copy()

    @cached_property
    def edge_piece_tree(self) -> tuple[cKDTree, np.ndarray, float] | None:
        """A KD-tree over points along the edges, for networks of straight edges (else None).

        Every edge is cut into equal pieces at most ``_PIECE_M`` metres long and the tree
        holds the pieces' midpoints. Returns the tree, the edge position of every point and
        the largest distance (m) from a point of an edge to the nearest of its tree points
        (half the longest piece). Made from the node coordinates: no shapely object.
        """
        if self._link_source is not None:
            return self._link_source.edge_piece_tree
        straight = self.straight_edges
        if straight is None:
            return None
        a, b = straight
        ab = b - a
        length = np.hypot(ab[:, 0], ab[:, 1])
        n = np.maximum(1, np.ceil(length / _PIECE_M)).astype(np.int64)
        edge = np.repeat(np.arange(len(a)), n)
        k = np.arange(len(edge)) - np.repeat(np.cumsum(n) - n, n)
        f = (k + 0.5) / n[edge]
        mid = a[edge] + f[:, None] * ab[edge]
        reach_m = float((length / n).max()) / 2.0 if len(n) else 0.0
        # an unbalanced tree without shrunk boxes builds in half the time and answers the same
        return cKDTree(mid, balanced_tree=False, compact_nodes=False), edge, reach_m

    @cached_property
    def snap_store(self) -> dict[tuple[str, float], Any]:
        """Snaps of sets of points on this network, by the points' digest and the snap limit:
        kept by :meth:`mtown_geo.access.Reach.snap` (the last few sets) for every Reach on the
        network, since the same points snap to the same network alike."""
        return {}

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """An STRtree over the edge geometries (for nearest-edge attachment)."""
        if self._link_source is not None:
            return self._link_source.edge_tree
        return shapely.STRtree(self.edges.geometry.values)

    @cached_property
    def component(self) -> np.ndarray:
        """Weakly connected component label of every node (0 = the largest)."""
        if self._link_source is not None:
            return self._link_source.component
        n_nodes = self.n_nodes
        if _EDGE_COMPONENTS:
            # every edge links u and v whichever way it runs: the pieces of the edges u → v alone
            # (scipy numbers the pieces by their lowest node, whatever links them)
            e = self._edge_table
            adj = sp.csr_matrix(
                (np.ones(len(e)), (e["u"].to_numpy(np.int64), e["v"].to_numpy(np.int64))), shape=(n_nodes, n_nodes)
            )
        else:
            rows, cols, _ = self._directed_arrays()
            adj = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n_nodes, n_nodes))
        n, labels = connected_components(adj, directed=True, connection="weak")
        sizes = np.bincount(labels, minlength=n)
        order = np.argsort(-sizes, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(n)
        return rank[labels]

    @property
    def n_components(self) -> int:
        return int(self.component.max()) + 1 if self.n_nodes else 0

    def components(self) -> pd.DataFrame:
        """The network's connected pieces: nodes, edges and length (km) of each, largest first."""
        comp = self.component
        edges = self._edge_table
        edge_comp = comp[edges["u"].to_numpy()]
        df = pd.DataFrame(
            {
                "n_nodes": np.bincount(comp),
                "n_edges": np.bincount(edge_comp, minlength=self.n_components),
                "length_km": np.bincount(edge_comp, weights=edges["length_m"].to_numpy(), minlength=self.n_components) / 1000.0,
            }
        )
        df.index.name = "component"
        return df

    # -- derived networks -------------------------------------------------------------

    def with_speed(self, speed_kmh: float) -> Network:
        """A copy whose edge times are scaled to a new base speed (e.g. an elderly walking speed).

        Edge times scale by ``self.speed_kmh / speed_kmh``, so per-edge differences
        (road classes, slope) are kept.
        """
        if not speed_kmh > 0:
            raise InputError(f"speed_kmh must be positive, got {speed_kmh}")
        factor = self.speed_kmh / float(speed_kmh)
        edges = self._edge_table.copy()
        edges["time_min"] = edges["time_min"] * factor
        edges["time_rev_min"] = edges["time_rev_min"] * factor
        if "speed_kmh" in edges:
            edges["speed_kmh"] = edges["speed_kmh"] / factor
        return self._with_edges(edges, speed_kmh=float(speed_kmh))

    def with_edge_times(self, time_min: np.ndarray, time_rev_min: np.ndarray) -> Network:
        """A copy with new per-edge times in both directions (minutes; ``inf`` forbids a direction)."""
        time_min = np.asarray(time_min, dtype=float)
        time_rev_min = np.asarray(time_rev_min, dtype=float)
        if time_min.shape != (self.n_edges,) or time_rev_min.shape != (self.n_edges,):
            raise InputError("edge times must have one value per edge")
        if np.any(time_min < 0) or np.any(time_rev_min < 0) or np.any(np.isnan(time_min)) or np.any(np.isnan(time_rev_min)):
            raise InputError("edge times must be non-negative numbers (inf forbids a direction)")
        edges = self._edge_table.copy()
        edges["time_min"] = time_min
        edges["time_rev_min"] = time_rev_min
        return self._with_edges(edges, speed_kmh=self.speed_kmh)

    def _with_edges(self, edges: pd.DataFrame, *, speed_kmh: float) -> Network:
        """A copy of this network with another edge table of the same edges (other times)."""
        return self._same_links(
            Network(
                self._node_table,
                edges,
                mode=self.mode,
                speed_kmh=speed_kmh,
                access_speed_kmh=self.access_speed_kmh,
                profile=self.profile,
                source=self.source,
                max_snap_dist_m=self.max_snap_dist_m,
                straight=self._straight,
                crs=self.crs,
            )
        )

    def _same_links(self, other: Network) -> Network:
        """``other``, a copy of this network with other edge times, taking from this network
        what its nodes, edge ends and geometry alone make (the edges' ends, trees and connected
        pieces: the same objects), and where the entries of the time matrices go when the same
        directions are open."""
        if not _SHARE_LINKS:
            return other
        other._link_source = self._link_source or self
        if np.array_equal(
            np.isfinite(self._edge_table["time_rev_min"].to_numpy(float)),
            np.isfinite(other._edge_table["time_rev_min"].to_numpy(float)),
        ):
            other._layouts = self._layouts
        return other

    def to_networkx(self, *, weight: str = "time_min") -> nx.DiGraph:
        """The network as a networkx ``DiGraph`` (nodes ``0..n-1`` with ``x``, ``y``; edge
        attribute ``weight`` in minutes, parallel edges reduced to the fastest)."""
        import networkx as nx

        m = self.csr.tocoo()
        g = nx.DiGraph(crs=self.crs)
        g.add_nodes_from(
            (i, {"x": x, "y": y})
            for i, x, y in zip(range(self.n_nodes), self._node_table["x"], self._node_table["y"], strict=True)
        )
        g.add_weighted_edges_from(zip(m.row.tolist(), m.col.tolist(), m.data.tolist(), strict=True), weight=weight)
        return g


#: Sort keys with their positions folded in when the int64 holds both (False: a stable sort of the keys).
_POSITION_KEYS = True
_INT64_MAX = int(np.iinfo(np.int64).max)


def _key_runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stable order of ``key`` and where each run of equal keys starts in it.

    Returns ``order`` (positions sorted by key; equal keys keep their positions' order)
    and ``start`` (the index in ``order`` of the first element of every distinct key).
    """
    m = len(key)
    if _POSITION_KEYS and m > 1 and key.dtype.kind in "iu" and key.min() >= 0 and int(key.max()) < (_INT64_MAX - m) // m:
        # the key and the position in one int64: no two alike, so any sort gives the stable order
        order = np.argsort(key.astype(np.int64) * m + np.arange(m, dtype=np.int64))
    else:
        order = np.argsort(key, kind="stable")
    ks = key[order]
    flag = np.empty(len(ks), dtype=bool)
    flag[:1] = True
    np.not_equal(ks[1:], ks[:-1], out=flag[1:])
    return order, np.flatnonzero(flag)


def _first_min(key: np.ndarray, w: np.ndarray, *, runs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Positions of the smallest ``w`` of each distinct ``key``, in increasing key order.

    Of equal smallest values the first position wins; NaN counts as larger than any number.
    ``runs`` is ``_key_runs(key)`` when the caller has it already. One stable sort of the
    key (not of key and value): the minimum of each run is found by ``fmin.reduceat`` and
    the first position holding it by a scan of the run in position order.
    """
    if len(key) == 0:
        return np.zeros(0, dtype=np.intp)
    order, start = _key_runs(key) if runs is None else runs
    ws = w[order]
    low = np.fmin.reduceat(ws, start)
    run = np.zeros(len(order), dtype=np.intp)
    run[start[1:]] = 1
    np.cumsum(run, out=run)
    low_at = low[run]
    hit = ws == low_at
    if np.isnan(low).any():  # a run of NaN only: its first position
        hit |= np.isnan(low_at)
    at = np.flatnonzero(hit)
    first = np.empty(len(at), dtype=bool)
    first[:1] = True
    np.not_equal(run[at[1:]], run[at[:-1]], out=first[1:])
    return order[at[first]]


#: Place the entries of a matrix without repeated (row, col) by scipy's conversion of coordinates
#: (False: always through the sorted keys of :func:`_first_min`).
_CSR_LAYOUT = True


def _csr_layout(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Where the entries of an n × n matrix go in its CSR form, when no (row, col) repeats.

    Returns ``(order, indices, indptr)``: the CSR matrix of values ``w`` at (rows, cols) is
    ``(w[order], indices, indptr)``, rows in order and columns sorted within a row; None when
    a (row, col) repeats (then only :func:`_csr_min` chooses). The entries' positions are the
    values of a matrix converted from coordinates, which sums repeats: a repeat shows as fewer
    stored entries.
    """
    if not _CSR_LAYOUT or len(rows) == 0:
        return None
    at = sp.csr_matrix((np.arange(len(rows), dtype=float), (rows, cols)), shape=(n, n))
    if at.nnz != len(rows):
        return None
    at.sort_indices()
    return at.data.astype(np.intp), at.indices.astype(np.int32), at.indptr.astype(np.int64)


def _csr_at(w: np.ndarray, layout: tuple[np.ndarray, np.ndarray, np.ndarray], n: int) -> sp.csr_matrix:
    """The CSR matrix of values ``w`` placed by :func:`_csr_layout`."""
    order, indices, indptr = layout
    return sp.csr_matrix((w[order].astype(float), indices, indptr), shape=(n, n))


def _csr_min(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix keeping the minimum of duplicate (row, col) entries, explicit zeros kept."""
    if len(rows) == 0:
        return sp.csr_matrix((n, n))
    layout = _csr_layout(rows, cols, n)
    if layout is not None:  # no repeated (row, col): every entry is its own minimum
        return _csr_at(w, layout, n)
    return _csr_first_min(rows, cols, w, n)


def _csr_first_min(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """:func:`_csr_min` through the sorted (row, col) keys: the first of the smallest values of each."""
    keep = _first_min(rows.astype(np.int64) * n + cols, w)
    r, c, d = rows[keep], cols[keep], w[keep]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    np.cumsum(indptr, out=indptr)
    # entries are already sorted by row then column
    return sp.csr_matrix((d.astype(float), c.astype(np.int32), indptr), shape=(n, n))


def _merge_parallel(
    u: np.ndarray, v: np.ndarray, length: np.ndarray, time: np.ndarray, oneway: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One edge per node pair: segments shared by several ways (or mapped once per direction)
    become one edge whose time in each direction is the fastest of them.

    Returns u, v, length, time (u → v), reverse time (v → u; inf if one-way) and, per edge,
    the position of the segment whose attributes it keeps. Edges are oriented so that
    u → v is always allowed.
    """
    lo = np.minimum(u, v)
    hi = np.maximum(u, v)
    fwd = u == lo
    t_lohi = np.where(fwd, time, np.where(oneway, np.inf, time))
    t_hilo = np.where(fwd, np.where(oneway, np.inf, time), time)
    key = lo.astype(np.int64) * n + hi
    runs = _key_runs(key)
    order, start = runs
    # the segment kept per pair: the fastest in either direction, the first of equals
    first = _first_min(key, np.minimum(t_lohi, t_hilo), runs=runs)
    a = np.minimum.reduceat(t_lohi[order], start)
    b = np.minimum.reduceat(t_hilo[order], start)
    lo, hi, length = lo[first], hi[first], length[first]
    swap = np.isinf(a)
    new_u = np.where(swap, hi, lo)
    new_v = np.where(swap, lo, hi)
    t_uv = np.where(swap, b, a)
    t_vu = np.where(swap, a, b)
    return new_u, new_v, length, t_uv, t_vu, first
