"""The engine: attaching points to the network and travel times to the nearest facility.

Everything rests on one idea: one multi-source shortest-path search per facility
category gives every network node its travel time to the nearest facility of that
category. Facilities and origins attach to the nearest *edge* (not node); the
off-network leg between a point and its edge is walked at the access speed, and the
partial edge on either side is travelled at the edge's speed.

Each facility access point becomes a source node joined to both ends of its edge by
the partial edge times (plus its access leg); ``scipy.sparse.csgraph.dijkstra`` then
runs once per category on the reversed network with all the category's sources,
``min_only=True`` and a ``limit`` at the largest threshold. The cost grows with the
network size times the number of categories, not with the number of facilities or
origins. The search also says *which* facility is nearest, for catchments.

:func:`search` is the same search from chosen nodes over a chosen set of edges (by time or
length) that keeps the predecessors, so the path itself can be walked back
(:meth:`Tree.path_edges`): which villages reach the town seat on two-lane roads only, and
along which roads. :func:`point_costs` and :func:`tree_costs` attach points to it as the
engine attaches facilities and origins (nearest edge, partial edges).

The pieces are public so that every search of the package is this one: :func:`attach`
(a layer's access points and their snaps, once: :class:`Attachment`, with its diagnostics;
:func:`reach` takes one instead of the layer), :func:`source_legs` and :func:`origin_legs`
(the partial-edge legs onto and off a point's edge), :func:`same_edge` (an origin and a
point on one edge, joined along it), :func:`add_sources` (source rows, the fastest link
kept), :func:`restrict` and :func:`reachable_nodes` (the part of the network a bounded search
can use) and :func:`csr_dijkstra`, the package's only call of scipy's Dijkstra (siting's
coverage matrix is built from them).
"""

from __future__ import annotations

import itertools
import logging
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from . import _frames, _geom, _words
from . import crs as _crs
from ._errors import EmptyCategoryWarning, InputError, SnapWarning
from ._graph import _csr_min, _first_min
from .network import Network

__all__ = [
    "Attachment",
    "Reach",
    "Tree",
    "access_points",
    "add_sources",
    "attach",
    "csr_dijkstra",
    "origin_legs",
    "point_costs",
    "reach",
    "reachable_nodes",
    "restrict",
    "same_edge",
    "search",
    "snap",
    "source_legs",
    "travel_times",
    "tree_costs",
    "warn_statuses",
]

log = logging.getLogger(__name__)

_POLYGONAL = (3, 6)  # shapely type ids of Polygon, MultiPolygon

_STATUS_MEANING = {  # (said of one facility, said of several)
    "too_far": (
        "lies farther than the snap distance from the {mode} network and is not used",
        "lie farther than the snap distance from the {mode} network and are not used",
    ),
    "no_geometry": ("has an empty geometry and is not used", "have an empty geometry and are not used"),
    "small_piece": (
        "attaches only to a small piece of the {mode} network that is cut off from the rest: it serves only what "
        "lies on that piece",
        "attach only to small pieces of the {mode} network that are cut off from the rest: they serve only what "
        "lies on those pieces",
    ),
}
_STATUS_FIX = {"too_far": ": check the layer's CRS (GCJ-02/BD-09 coordinates?), or clip the network with a larger buffer"}


def _to_network_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, network: Network, *, what: str) -> gpd.GeoSeries:
    """Geometries of a layer in the network's CRS (checked once, here)."""
    if not isinstance(gdf, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"the {what} must be a GeoDataFrame or GeoSeries, got {type(gdf).__name__}")
    _crs.require_crs(gdf, what=what)
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if not geoms.crs.equals(network.crs):
        geoms = geoms.to_crs(network.crs)
    return geoms


def snap(
    network: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    max_snap_dist_m: float | None = None,
) -> pd.DataFrame:
    """Attach points to their nearest network edge.

    Parameters
    ----------
    network : Network
    points : GeoDataFrame or GeoSeries
        Points in any CRS (reprojected to the network's). Other geometries attach by
        their representative point.
    max_snap_dist_m : float, optional
        Points farther than this (metres) from any edge are marked ``ok=False``; by
        default the network profile's ``max_snap_dist_m`` (300 m).

    Returns
    -------
    DataFrame
        Indexed like ``points``: ``edge`` (edge position, -1 when the geometry is empty),
        ``frac`` (position along the edge from u, 0–1), ``snap_dist_m``, ``access_min``
        (the off-network leg at the access speed), ``component`` (network piece, 0 =
        largest) and ``ok``.
    """
    if max_snap_dist_m is None:
        max_snap_dist_m = network.max_snap_dist_m
    geoms = _to_network_crs(points, network, what="point layer")
    arr = np.asarray(geoms.values)
    not_point = shapely.get_type_id(arr) != 0
    if not_point.any():
        arr = arr.copy()
        arr[not_point] = shapely.point_on_surface(arr[not_point])
    valid = ~(shapely.is_empty(arr) | shapely.is_missing(arr))
    xy_all = np.full((len(arr), 2), np.nan)
    if valid.any():
        xy_all[valid] = shapely.get_coordinates(arr[valid])
    valid &= np.all(np.isfinite(xy_all), axis=1)
    edge = np.full(len(arr), -1, dtype=np.int64)
    dist = np.full(len(arr), np.inf)
    frac = np.zeros(len(arr))
    if valid.any():
        vidx = np.flatnonzero(valid)
        edge[vidx], dist[vidx], frac[vidx] = _nearest_edges(network, xy_all[vidx])
    comp = np.full(len(arr), -1, dtype=np.int64)
    hit = edge >= 0
    comp[hit] = network.component[network.edge_table["u"].to_numpy()[edge[hit]]]
    access_min = dist / (network.access_speed_kmh * 1000.0 / 60.0)
    return pd.DataFrame(
        {
            "edge": edge,
            "frac": frac,
            "snap_dist_m": dist,
            "access_min": access_min,
            "component": comp,
            "ok": hit & (dist <= max_snap_dist_m),
        },
        index=points.index,
    )


def _nearest_edges(network: Network, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest edge of each point: its position, the distance (m) and the position along it (0–1).

    Candidates first, then exact distances. For straight edges, from the node coordinates
    alone (no edge geometry is made): the nearest point of
    :attr:`~mtown_geo.network.Network.edge_piece_tree` lies on an edge at distance ``dm``,
    so the nearest edge is at most ``dm`` away, and every point of an edge lies within
    ``h`` (half the longest piece) of one of its tree points: the tree points within
    ``dm + h`` name every edge that can be nearest. For curved edges, the first vertex of
    every edge (a KD-tree query) bounds the distance the same way and the STRtree of the
    edge geometries gives the edges whose boxes reach that far; the same route serves
    straight edges whose STRtree is already built (for :func:`access_points`), where it is
    the quicker. Both routes measure the same candidates' distances the same way: the same
    answers. Ties go to the lowest edge position.
    """
    # vars(): whether the cached STRtree exists, without building it
    pieces = None if "edge_tree" in vars(network) else network.edge_piece_tree
    if pieces is not None:
        tree, piece_edge, reach_m = pieces
        dm, _ = tree.query(xy)
        r = (dm + reach_m) * (1.0 + 1e-9) + 1e-6
        hits = tree.query_ball_point(xy, r, return_sorted=False)
        count = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
        pi = np.repeat(np.arange(len(xy)), count)
        ei = piece_edge[np.fromiter(itertools.chain.from_iterable(hits), dtype=np.int64, count=int(count.sum()))]
    else:
        egeoms = np.asarray(network.edges.geometry.values)
        d0, _ = network.edge_start_tree.query(xy)
        r = d0 * (1.0 + 1e-9) + 1e-6
        pi, ei = network.edge_tree.query(shapely.box(xy[:, 0] - r, xy[:, 1] - r, xy[:, 0] + r, xy[:, 1] + r))
    straight = network.straight_edges
    if straight is not None:
        # straight segments: distance and position along them in numpy
        a, b = straight[0][ei], straight[1][ei]
        ab = b - a
        ap = xy[pi] - a
        len2 = np.einsum("ij,ij->i", ab, ab)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(len2 > 0, np.einsum("ij,ij->i", ap, ab) / len2, 0.0)
        t = np.clip(t, 0.0, 1.0)
        d = np.hypot(*(a + t[:, None] * ab - xy[pi]).T)
    else:
        pts = shapely.points(xy[pi])
        d = shapely.distance(pts, egeoms[ei])
        t = None
    order = np.lexsort((ei, d, pi))
    first = order[np.concatenate([[True], pi[order][1:] != pi[order][:-1]])]
    edge = np.full(len(xy), -1, dtype=np.int64)
    dist = np.full(len(xy), np.inf)
    frac = np.zeros(len(xy))
    edge[pi[first]] = ei[first]
    dist[pi[first]] = d[first]
    if t is not None:
        frac[pi[first]] = t[first]
    else:
        hit = edge >= 0
        frac[hit] = shapely.line_locate_point(egeoms[edge[hit]], shapely.points(xy[hit]), normalized=True)
        frac = np.nan_to_num(np.clip(frac, 0.0, 1.0))
    return edge, dist, frac


def access_points(
    network: Network,
    facilities: gpd.GeoDataFrame,
    *,
    spacing_m: float = 25.0,
) -> gpd.GeoDataFrame:
    """The points through which facilities are reached.

    A point facility is its own access point. A polygon (a school ground, a park) is
    reached through every place its boundary meets a network edge and through points
    every ``spacing_m`` metres along its boundary, so the nearest way in is found
    without entrances having been mapped.

    Returns
    -------
    GeoDataFrame
        In the network's CRS, with ``owner`` (the facility's row position in
        ``facilities``) and point geometry.
    """
    return _access_points(network, facilities, spacing_m=spacing_m)[0]


#: Kinds of access points, in the order :func:`access_points` lists them (each kind by owner).
_KIND_POINT, _KIND_OTHER, _KIND_RING, _KIND_CROSSING = 0, 1, 2, 3


def _access_points(
    network: Network,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    spacing_m: float,
    owner_of: np.ndarray | None = None,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """:func:`access_points` and the kind of each point (``_KIND_*``).

    The points come kind by kind and, within a kind, by owner; the points of one owner
    and kind do not depend on the other features, so the points of a layer can be
    merged with those of added features by sorting on (kind, owner) (:meth:`Attachment.edit`).
    ``owner_of`` (one value per feature) gives the ``owner`` written for each feature's
    points instead of its row position (the features' rows in a larger layer).
    """
    geoms = np.asarray(_to_network_crs(facilities, network, what="facility layer").values)
    owner_list: list[np.ndarray] = []
    point_list: list[np.ndarray] = []
    kind_list: list[np.ndarray] = []
    type_id = shapely.get_type_id(geoms)
    poly = np.isin(type_id, _POLYGONAL)
    pts = ~poly & ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
    if pts.any():
        idx = np.flatnonzero(pts)
        single = shapely.get_type_id(geoms[idx]) == 0
        owner_list.append(idx[single])
        point_list.append(geoms[idx[single]])
        kind_list.append(np.full(int(single.sum()), _KIND_POINT))
        if (~single).any():  # lines, multipoints: their representative point
            owner_list.append(idx[~single])
            point_list.append(shapely.point_on_surface(geoms[idx[~single]]))
            kind_list.append(np.full(int((~single).sum()), _KIND_OTHER))
    if poly.any():
        pidx = np.flatnonzero(poly)
        parts, part_owner = shapely.get_parts(geoms[pidx], return_index=True)
        rings = shapely.get_exterior_ring(parts)
        ring_owner = pidx[part_owner]
        lengths = shapely.length(rings)
        n = np.maximum(1, np.ceil(lengths / spacing_m).astype(np.int64))
        rep = np.repeat(np.arange(len(rings)), n)
        start = np.concatenate([[0], np.cumsum(n)[:-1]])
        k = np.arange(int(n.sum())) - np.repeat(start, n)
        along = k * (lengths[rep] / n[rep])
        owner_list.append(ring_owner[rep])
        point_list.append(shapely.line_interpolate_point(rings[rep], along))
        kind_list.append(np.full(len(rep), _KIND_RING))
        # where roads cross the boundary: exact entrances
        ring_i, cross = _ring_crossings(network, rings)
        if len(ring_i):
            cparts, cidx = shapely.get_parts(cross, return_index=True)
            is_pt = shapely.get_type_id(cparts) == 0
            owner_list.append(ring_owner[ring_i[cidx[is_pt]]])
            point_list.append(cparts[is_pt])
            kind_list.append(np.full(int(is_pt.sum()), _KIND_CROSSING))
    if not owner_list:
        empty = _frames.geo_frame({"owner": np.empty(0, dtype=np.int64)}, [], network.crs)
        return empty, np.empty(0, dtype=np.int64)
    owner = np.concatenate(owner_list)
    if owner_of is not None:
        owner = np.asarray(owner_of)[owner]
    out = _frames.geo_frame({"owner": owner}, np.concatenate(point_list), network.crs)
    return out, np.concatenate(kind_list).astype(np.int64)


def _ring_crossings(network: Network, rings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where network edges meet the rings: the ring position of every (ring, edge) pair
    that intersects and the intersection geometry of each, by ring, then edge position.

    For a network of straight edges from u to v (``straight=True``, as
    :func:`~mtown_geo.network.from_osm` builds them) the candidates come from the node coordinates alone
    (:attr:`~mtown_geo.network.Network.edge_piece_tree`: every point of an edge lies within
    half the longest piece of one of its tree points, so an edge that meets a ring has a
    tree point within that distance of the ring's box), and only the candidates' segments
    are made; otherwise, and where the edges' STRtree is built already, the STRtree gives
    the pairs. Both test and intersect the same pairs with the same segments: the same
    answers.
    """
    if len(rings) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    # vars(): whether the cached STRtree exists, without building it
    pieces = None if "edge_tree" in vars(network) or not network._straight else network.edge_piece_tree
    straight = network.straight_edges
    if pieces is None or straight is None:
        ring_i, edge_i = network.edge_tree.query(rings, predicate="intersects")
        order = np.lexsort((edge_i, ring_i))
        ring_i, edge_i = ring_i[order], edge_i[order]
        return ring_i, shapely.intersection(rings[ring_i], np.asarray(network.edges.geometry.values)[edge_i])
    tree, piece_edge, reach_m = pieces
    box = shapely.bounds(rings)
    ok = np.all(np.isfinite(box), axis=1)  # empty rings have no box and meet nothing
    centre = (box[:, :2] + box[:, 2:]) / 2.0
    half = (box[:, 2:] - box[:, :2]) / 2.0 + reach_m * (1.0 + 1e-9) + 1e-6
    rows = np.flatnonzero(ok)
    hits = tree.query_ball_point(centre[rows], half[rows].max(axis=1), p=np.inf, return_sorted=False)
    count = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
    ri = np.repeat(rows, count)
    pi = np.fromiter(itertools.chain.from_iterable(hits), dtype=np.int64, count=int(count.sum()))
    mid = tree.data[pi]
    inside = np.all(np.abs(mid - centre[ri]) <= half[ri], axis=1)
    key = np.unique(ri[inside] * network.n_edges + piece_edge[pi[inside]])
    ring_i, edge_i = key // network.n_edges, key % network.n_edges
    cand, inv = np.unique(edge_i, return_inverse=True)
    lines = shapely.linestrings(np.stack([straight[0][cand], straight[1][cand]], axis=1))[inv]
    shapely.prepare(rings)
    meet = shapely.intersects(rings[ring_i], lines)
    return ring_i[meet], shapely.intersection(rings[ring_i[meet]], lines[meet])


@dataclass(frozen=True, eq=False)
class Attachment:
    """How the features of a layer (facilities, candidate sites) attach to a network.

    Made by :func:`attach`. Every feature is reached through its access points
    (:func:`access_points`), each attached to its nearest edge (:func:`snap`). :func:`reach`
    takes an Attachment in place of the facility layer and does not attach again, so a
    layer attached once serves the diagnostics, the search and the isochrones.

    Attributes
    ----------
    network : Network
        The network the points are attached to.
    facilities : GeoDataFrame
        The layer, indexed by row position (0..n-1), in its own CRS; its category column,
        when it has one, is named ``category``.
    points : GeoDataFrame
        The access points, in the network's CRS: ``owner`` (the feature's row position)
        and point geometry.
    snaps : DataFrame
        :func:`snap` of ``points``, indexed like them.
    categories : tuple of str or None
        The categories whose features were attached (None: every feature).
    spacing_m, max_snap_dist_m : float
        The spacing of access points along polygon boundaries and the snap distance used
        (metres).
    """

    network: Network
    facilities: gpd.GeoDataFrame
    points: gpd.GeoDataFrame
    snaps: pd.DataFrame
    categories: tuple[str, ...] | None
    spacing_m: float
    max_snap_dist_m: float
    _kind: np.ndarray | None = field(default=None, repr=False)  # of each access point (see _access_points)

    def edit(
        self,
        *,
        add: gpd.GeoDataFrame | None = None,
        drop: Sequence[int] | None = None,
        category_col: str = "category",
    ) -> Attachment:
        """The same layer with features dropped and added, attaching only the added ones.

        The edited layer is this one without the rows ``drop``, followed by the rows of
        ``add`` (renumbered 0..n-1 in that order). The result equals
        ``attach(network, edited_layer, categories=..., spacing_m=..., max_snap_dist_m=...)``
        with this Attachment's options, access points and snaps in the same order; the
        kept features' access points are not made or snapped again.

        Parameters
        ----------
        add : GeoDataFrame, optional
            Features to add: points or polygons, any CRS (reprojected to the layer's),
            with a category column when the layer has one.
        drop : sequence of int, optional
            Row positions in :attr:`facilities` of the features to remove.
        category_col : str, optional
            The category column of ``add``.

        Returns
        -------
        Attachment
            A new Attachment; this one is not changed.
        """
        return self._edited(add=add, drop=drop, category_col=category_col)[0]

    def _edited(
        self, *, add: gpd.GeoDataFrame | None, drop: Sequence[int] | None, category_col: str
    ) -> tuple[Attachment, set[str]]:
        """:meth:`edit` and the categories whose attached features changed (``""`` without categories)."""
        fac = self.facilities
        n_old = len(fac)
        keep = np.ones(n_old, dtype=bool)
        keep[_row_positions(drop, n_old)] = False
        added = _added_features(fac, add, category_col=category_col)
        has_cat = "category" in fac
        changed: set[str] = set()
        if has_cat:
            changed |= {str(c) for c in fac["category"].to_numpy()[~keep]}
            changed |= {str(c) for c in added["category"].to_numpy()}
        elif (~keep).any() or len(added):
            changed.add("")
        if self.categories is not None:
            changed &= set(self.categories)
        new_fac = pd.concat([fac[keep], added], ignore_index=True) if len(added) else fac[keep].reset_index(drop=True)
        if not isinstance(new_fac, gpd.GeoDataFrame):  # pragma: no cover - concat of GeoDataFrames stays one
            new_fac = gpd.GeoDataFrame(new_fac, geometry=fac.geometry.name, crs=fac.crs)
        new_id = np.cumsum(keep) - 1
        # the kept features' access points, renumbered
        owner = self.points["owner"].to_numpy()
        kept_pts = keep[owner] if len(owner) else np.zeros(0, dtype=bool)
        kinds = self._kind
        if kinds is None:  # an Attachment made by hand: attach the edited layer whole
            fresh = attach(
                self.network,
                new_fac,
                categories=self.categories,
                spacing_m=self.spacing_m,
                max_snap_dist_m=self.max_snap_dist_m,
            )
            return fresh, changed
        # the added features of the attached categories: their access points and snaps
        rows = np.arange(n_old - int((~keep).sum()), len(new_fac))
        if self.categories is not None and len(rows):
            rows = rows[added["category"].isin(self.categories).to_numpy()]
        if len(rows):
            new_pts, new_kind = _access_points(self.network, new_fac.iloc[rows], spacing_m=self.spacing_m)
        else:
            new_pts, new_kind = _access_points(self.network, new_fac.iloc[:0], spacing_m=self.spacing_m)
        new_owner = rows[new_pts["owner"].to_numpy()] if len(new_pts) else np.empty(0, dtype=np.int64)
        new_snaps = snap(self.network, new_pts, max_snap_dist_m=self.max_snap_dist_m)
        all_owner = np.concatenate([new_id[owner[kept_pts]], new_owner]).astype(np.int64)
        all_kind = np.concatenate([kinds[kept_pts], new_kind]).astype(np.int64)
        geoms = np.concatenate([np.asarray(self.points.geometry.values)[kept_pts], np.asarray(new_pts.geometry.values)])
        snap_cols = list(self.snaps.columns)
        snap_arrays = {
            c: np.concatenate([self.snaps[c].to_numpy()[kept_pts], new_snaps[c].to_numpy()]).astype(
                self.snaps[c].to_numpy().dtype
            )
            for c in snap_cols
        }
        # access_points lists its points kind by kind and by owner: the fresh order
        order = np.lexsort((np.arange(len(all_owner)), all_owner, all_kind))
        points = _frames.geo_frame({"owner": all_owner[order]}, geoms[order], self.network.crs)
        snaps = pd.DataFrame({c: a[order] for c, a in snap_arrays.items()}, index=points.index)
        out = Attachment(
            network=self.network,
            facilities=new_fac,
            points=points,
            snaps=snaps,
            categories=self.categories,
            spacing_m=self.spacing_m,
            max_snap_dist_m=self.max_snap_dist_m,
            _kind=all_kind[order],
        )
        return out, changed

    def diagnostics(self) -> pd.DataFrame:
        """Per feature: how it attaches, and its status.

        Returns
        -------
        DataFrame
            Indexed like :attr:`facilities` (row positions): ``category`` and ``name`` when
            the layer has them, ``access_points`` (how many), ``access_points_used`` (within
            the snap distance), ``snap_dist_m`` (of the nearest access point, NaN without
            one), ``component`` (network piece of the used points, 0 = the largest, -1
            none) and ``status``: ``ok``, ``too_far`` (no access point within the snap
            distance), ``no_geometry``, ``small_piece`` (attached only to a piece cut off
            from the rest of the network) or ``not_attached`` (a category left out by
            ``attach(..., categories=...)``).
        """
        # copies: the caller may change its table
        return pd.DataFrame(
            {col: values.copy() for col, values in self._diagnostic_columns().items()}, index=self.facilities.index
        )

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        """The columns of :meth:`diagnostics` as arrays, made once per Attachment (not to be
        changed in place).

        A selection (:meth:`select`) with attached points takes its rows of the arrays of the
        layer it was selected from: the same access points and snaps give the same counts,
        distances, pieces and statuses (none of its categories is left out).
        """
        made: dict[str, np.ndarray] | None = self.__dict__.get("_diagnostics_made")
        if made is None:
            parent = self.__dict__.get("_selected_from")
            if parent is not None and len(self.points) and bool(self.snaps["ok"].to_numpy().any()):
                whole, rows = parent
                made = {col: values[rows] for col, values in whole._diagnostic_columns().items()}
            else:
                made = self._diagnostics_of_points()
            self.__dict__["_diagnostics_made"] = made
        return made

    def _diagnostics_of_points(self) -> dict[str, np.ndarray]:
        fac = self.facilities
        n = len(fac)
        # per feature (its access points' owner): how many, how many used, the nearest, the lowest piece
        owner = self.points["owner"].to_numpy(np.int64)
        ok = self.snaps["ok"].to_numpy(bool)
        dist = self.snaps["snap_dist_m"].to_numpy(float)
        comp = self.snaps["component"].to_numpy(np.int64)
        out: dict[str, np.ndarray] = {}
        if "category" in fac:
            out["category"] = fac["category"].to_numpy()
        if "name" in fac:
            out["name"] = fac["name"].to_numpy()
        out["access_points"] = np.bincount(owner, minlength=n).astype(np.int64)
        out["access_points_used"] = np.bincount(owner[ok], minlength=n).astype(np.int64)
        nearest = np.full(n, np.inf)
        np.minimum.at(nearest, owner, dist)
        out["snap_dist_m"] = np.where(out["access_points"] > 0, nearest, np.nan)
        lowest = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(lowest, owner[ok], comp[ok])
        out["component"] = np.where(out["access_points_used"] > 0, lowest, -1)
        status = np.where(out["access_points_used"] > 0, "ok", "too_far")
        status = np.where(out["access_points"] == 0, "no_geometry", status)
        if self.categories is not None:
            status = np.where(~fac["category"].isin(self.categories).to_numpy(), "not_attached", status)
        status = np.where((status == "ok") & (out["component"] > 0), "small_piece", status)
        out["status"] = status
        return out

    def select(self, categories: Sequence[str]) -> Attachment:
        """The attachment of the features of these categories alone, without attaching again.

        The same access points and snaps, in the same order, as :func:`attach` gives the
        layer's rows of these categories (``facilities`` holds only them, indexed 0..m-1 and
        ``owner`` renumbered to match); a category the attachment left out is an error.

        Parameters
        ----------
        categories : sequence of str

        Returns
        -------
        Attachment
        """
        if "category" not in self.facilities:
            raise InputError("the attached layer has no category column: attach it with category_col=...")
        cats = tuple(str(c) for c in categories)
        left_out = [c for c in cats if self.categories is not None and c not in self.categories]
        if left_out:
            raise InputError(
                f"the attachment holds no feature of the categories {left_out} (attached: {list(self.categories or ())}): "
                "attach them too, with mtown_geo.access.attach(..., categories=...)"
            )
        rows = np.flatnonzero(self.facilities["category"].isin(cats).to_numpy())
        position = np.full(len(self.facilities), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        owner = self.points["owner"].to_numpy()
        keep = position[owner] >= 0 if len(owner) else np.zeros(0, dtype=bool)
        points = self.points.loc[keep].reset_index(drop=True)
        points["owner"] = position[owner[keep]]
        snaps = self.snaps.loc[keep].reset_index(drop=True)
        out = replace(
            self,
            facilities=self.facilities.iloc[rows].reset_index(drop=True),
            points=points,
            snaps=snaps,
            categories=cats,
            _kind=self._kind[keep] if self._kind is not None else None,
        )
        out.__dict__["_selected_from"] = (self, rows)  # its diagnostics are rows of this one's
        return out

    def warn(self, *, categories: Sequence[str] | None = None) -> None:
        """Report the features that do not attach well, as :func:`reach` does: one
        :class:`SnapWarning` per status (``too_far``, ``no_geometry``, ``small_piece``) with
        how many and up to five of them.

        Parameters
        ----------
        categories : sequence of str, optional
            Only the features of these categories (default: every attached feature).
        """
        diag = self.diagnostics()
        if categories is not None:
            if "category" not in diag:
                raise InputError("the attached layer has no category column to choose categories from")
            diag = diag[diag["category"].isin([str(c) for c in categories]).to_numpy()]
        warn_statuses(diag, self.network.mode, stacklevel=3)

    def to_frame(self) -> gpd.GeoDataFrame:
        """One row per access point: ``owner``, ``category`` (when the layer has one), the
        snap (``edge``, ``frac``, ``snap_dist_m``, ``access_min``, ``component``, ``ok``) and
        the point, in the network's CRS."""
        owner = self.points["owner"].to_numpy()
        data: dict[str, Any] = {"owner": owner}
        if "category" in self.facilities:
            data["category"] = self.facilities["category"].to_numpy()[owner]
        for col in ("edge", "frac", "snap_dist_m", "access_min", "component", "ok"):
            data[col] = self.snaps[col].to_numpy()
        return _frames.geo_frame(data, self.points.geometry.to_numpy(), self.network.crs, index=self.points.index)

    def category_codes(self, categories: Sequence[str] | None = None) -> np.ndarray:
        """Per access point: the position of its feature's category in ``categories`` (-1:
        none of them); all 0 when ``categories`` is None."""
        owner = self.points["owner"].to_numpy()
        if categories is None:
            return np.zeros(len(owner), dtype=np.int64)
        if "category" not in self.facilities:
            raise InputError("the attached layer has no category column: attach it with category_col=...")
        lookup = {c: i for i, c in enumerate(categories)}
        fac_cat = np.array([lookup.get(c, -1) for c in self.facilities["category"].to_numpy()], dtype=np.int64)
        return fac_cat[owner] if len(owner) else np.empty(0, dtype=np.int64)

    def usable_points(self, categories: Sequence[str] | None = None) -> pd.DataFrame:
        """The access points that attach (``ok``), of ``categories`` when given.

        Returns
        -------
        DataFrame
            One row per such point, in the order of :attr:`points`: ``edge``, ``frac``,
            ``access_min`` (as :func:`snap`), ``owner`` (the feature's row position) and
            ``cat`` (the position of its category in ``categories``; 0 when None).
        """
        cat = self.category_codes(categories)
        ok = self.snaps["ok"].to_numpy() & (cat >= 0)
        return pd.DataFrame(
            {
                "edge": self.snaps["edge"].to_numpy()[ok],
                "frac": self.snaps["frac"].to_numpy()[ok],
                "access_min": self.snaps["access_min"].to_numpy()[ok],
                "owner": self.points["owner"].to_numpy()[ok],
                "cat": cat[ok],
            }
        )


def attach(
    network: Network,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    categories: Sequence[str] | None = None,
    spacing_m: float = 25.0,
    max_snap_dist_m: float | None = None,
    category_col: str = "category",
) -> Attachment:
    """Attach a layer of facilities (or candidate sites) to a network, once.

    Each feature gets its access points (:func:`access_points`: a point is its own, a
    polygon is reached through its boundary) and each access point its nearest edge
    (:func:`snap`). No search runs: :meth:`Attachment.diagnostics` says which features
    attach and how well, and :func:`reach` searches from the Attachment without
    attaching again.

    Parameters
    ----------
    network : Network
    facilities : GeoDataFrame or GeoSeries
        Points or polygons, any CRS.
    categories : sequence of str, optional
        Attach only the features of these categories (the others are listed with the
        status ``not_attached``); default: every feature.
    spacing_m : float, optional
        Spacing of the access points along polygon boundaries (metres; default 25).
    max_snap_dist_m : float, optional
        Access points farther than this from the network are not used (metres; default:
        the network profile's, 300 m).
    category_col : str, optional
        The layer's category column (named ``category`` in the Attachment); a layer
        without it can be attached but not searched by category.

    Returns
    -------
    Attachment

    Examples
    --------
    >>> import mtown_geo as mg
    >>> net = mg.network.from_osm(mg.demo_osm_path(), mode="walk")  # doctest: +SKIP
    >>> att = mg.access.attach(net, mg.facilities.from_osm(mg.demo_osm_path()))  # doctest: +SKIP
    >>> att.diagnostics()["status"].value_counts()  # doctest: +SKIP
    >>> r = mg.access.reach(net, att, max_time_min=15)  # doctest: +SKIP
    """
    if isinstance(facilities, gpd.GeoSeries):
        facilities = facilities.to_frame(name="geometry")
    if not isinstance(facilities, gpd.GeoDataFrame):
        raise InputError(f"the layer to attach must be a GeoDataFrame, got {type(facilities).__name__}")
    if isinstance(spacing_m, bool) or not isinstance(spacing_m, numbers.Real) or not 0 < spacing_m < np.inf:
        raise InputError(f"spacing_m must be a positive number of metres, got {spacing_m!r}")
    if max_snap_dist_m is None:
        max_snap_dist_m = network.max_snap_dist_m
    if isinstance(max_snap_dist_m, bool) or not isinstance(max_snap_dist_m, numbers.Real) or not max_snap_dist_m >= 0:
        raise InputError(f"max_snap_dist_m must be a number of metres ≥ 0, got {max_snap_dist_m!r}")
    fac = facilities.reset_index(drop=True)
    if category_col != "category" and category_col in fac:
        fac = fac.rename(columns={category_col: "category"})
    if categories is None:
        cats = None
        rows = np.arange(len(fac))
    else:
        if "category" not in fac:
            raise InputError(f"the layer has no {category_col!r} column to choose categories from")
        cats = tuple(str(c) for c in categories)
        rows = np.flatnonzero(fac["category"].isin(cats).to_numpy())
    # the chosen rows' geometries only (the layer's other columns are not copied), owners
    # numbered by their row in the whole layer
    pts, kind = _access_points(network, fac.geometry.iloc[rows], spacing_m=spacing_m, owner_of=rows)
    snaps = snap(network, pts, max_snap_dist_m=max_snap_dist_m)
    snaps.index = pts.index
    return Attachment(
        network=network,
        facilities=fac,
        points=pts,
        snaps=snaps,
        categories=cats,
        spacing_m=float(spacing_m),
        max_snap_dist_m=float(max_snap_dist_m),
        _kind=kind,
    )


#: How many sets of points the Reaches on one network keep the snaps of (:meth:`Reach.at`; about 50 bytes a point).
_SNAP_CACHE_SIZE = 8


def _row_positions(rows: Sequence[int] | None, n: int) -> np.ndarray:
    """Row positions ``0..n-1`` to drop, checked (an unknown one is an error naming it)."""
    if rows is None:
        return np.empty(0, dtype=np.int64)
    if isinstance(rows, (str, bytes)) or not isinstance(rows, (Sequence, np.ndarray, pd.Index, pd.Series)):
        raise InputError(f"drop must be a sequence of row positions, got {type(rows).__name__}")
    values = list(rows)
    bad = [r for r in values if isinstance(r, (bool, np.bool_)) or not isinstance(r, numbers.Integral)]
    if bad:
        raise InputError(f"drop takes row positions of the facility layer (integers), got {bad[:5]}")
    missing = [int(r) for r in values if not 0 <= int(r) < n]
    if missing:
        raise InputError(f"no facility at row positions {missing}: the layer has rows 0..{n - 1}")
    return np.unique(np.asarray(values, dtype=np.int64))


def _added_features(fac: gpd.GeoDataFrame, add: gpd.GeoDataFrame | None, *, category_col: str) -> gpd.GeoDataFrame:
    """Features to add to an attached layer: in its CRS, geometry column and category column name."""
    if add is None:
        return fac.iloc[:0]
    if not isinstance(add, gpd.GeoDataFrame):
        raise InputError(f"the features to add must be a GeoDataFrame, got {type(add).__name__}")
    _crs.require_crs(add, what="layer to add")
    out = add.reset_index(drop=True)
    if category_col != "category" and category_col in out:
        out = out.rename(columns={category_col: "category"})
    if "category" in fac and "category" not in out:
        raise InputError(f"the features to add have no {category_col!r} column: say which category each one is")
    if out.geometry.name != fac.geometry.name:
        out = out.rename_geometry(fac.geometry.name)
    if not out.crs.equals(fac.crs):
        out = out.to_crs(fac.crs)
    return out


@dataclass(frozen=True, eq=False)
class Reach:
    """Travel times from every network node to the nearest facility of each category.

    Made by :func:`reach`. ``node_min[k, i]`` is the time in minutes from node ``i``
    to the nearest facility of ``categories[k]`` (``inf`` beyond ``max_time_min``);
    ``nearest[k, i]`` is that facility's row position in ``facilities`` (-1 when none).
    :meth:`at` turns them into times for any points (demand units, raster cells).
    ``attachment`` is how the facilities attach (:func:`attach`); ``facilities``,
    ``points`` and ``point_snaps`` are its layer, access points and snaps.
    """

    network: Network
    categories: tuple[str, ...]
    node_min: np.ndarray
    nearest: np.ndarray | None
    max_time_min: float
    attachment: Attachment

    @property
    def facilities(self) -> gpd.GeoDataFrame:
        """The facility layer, indexed by row position (the ``owner`` of the access points)."""
        return self.attachment.facilities

    @property
    def points(self) -> gpd.GeoDataFrame:
        """The facilities' access points (``owner`` and point geometry, network CRS)."""
        return self.attachment.points

    @property
    def point_snaps(self) -> pd.DataFrame:
        """:func:`snap` of the access points."""
        return self.attachment.snaps

    @cached_property
    def _sources(self) -> pd.DataFrame:
        """The access points of the searched categories that attach (:meth:`Attachment.usable_points`)."""
        return self.attachment.usable_points(self.categories)

    def edit(
        self,
        *,
        add: gpd.GeoDataFrame | None = None,
        drop: Sequence[int] | None = None,
        category_col: str = "category",
    ) -> Reach:
        """The same search with facilities added and removed: a what-if on one layer.

        Only what changes is computed again: the added facilities are attached
        (:meth:`Attachment.edit`), only the categories that gained or lost a facility are
        searched again (the other categories' node times are kept), and the snaps of the
        points already given to :meth:`at` are reused. The result equals
        ``reach(network, edited_layer, categories=..., max_time_min=...)`` on the edited
        layer (this layer without the rows ``drop``, then the rows of ``add``) to the bit:
        node times, nearest facilities (renumbered to the edited layer), times at points,
        diagnostics and warnings.

        Parameters
        ----------
        add : GeoDataFrame, optional
            Facilities to add, points or polygons, any CRS, with a category column; each
            category must be one this Reach searches.
        drop : sequence of int, optional
            Row positions in :attr:`facilities` of the facilities to remove (e.g. from
            ``reach.facilities.index[reach.facilities["category"] == "kindergarten"]`` to
            empty a category).
        category_col : str, optional
            The category column of ``add``.

        Returns
        -------
        Reach
            A new Reach; this one is not changed.

        Examples
        --------
        >>> new = r.edit(add=sites.assign(category="kindergarten"))  # doctest: +SKIP
        >>> new.at(units)  # doctest: +SKIP
        """
        if add is not None and isinstance(add, gpd.GeoDataFrame):
            col = category_col if category_col in add else "category"
            if col in add:
                other = sorted({str(c) for c in add[col].dropna()} - set(self.categories))
                if other or add[col].isna().any():
                    raise InputError(
                        f"the facilities to add must be of the categories this search covers ({list(self.categories)}), "
                        f"got {other or 'a missing category'}"
                    )
        att, changed = self.attachment._edited(add=add, drop=drop, category_col=category_col)
        fac = att.facilities
        cats = self.categories
        present = set(fac["category"].dropna().astype(str))
        _warn_missing(cats, present, stacklevel=3)
        owner = att.points["owner"].to_numpy()
        cat_of_point = att.category_codes(cats)
        ok = att.snaps["ok"].to_numpy() & (cat_of_point >= 0)
        which = [k for k, c in enumerate(cats) if c in changed]
        node_min = self.node_min.copy()
        nearest = None
        if self.nearest is not None:
            # the kept facilities' rows in the edited layer (the removed ones are of the changed categories)
            old_fac = self.attachment.facilities
            keep = np.ones(len(old_fac), dtype=bool)
            keep[_row_positions(drop, len(old_fac))] = False
            new_id = np.where(keep, np.cumsum(keep) - 1, -1)
            nearest = np.where(self.nearest >= 0, new_id[np.maximum(self.nearest, 0)], -1)
        if which and not ok.any():
            node_min[which] = np.inf
            if nearest is not None:
                nearest[which] = -1
        elif which:
            nm, nr = _search(
                self.network, att.snaps, owner, cat_of_point, ok, len(cats), self.max_time_min,
                labels=nearest is not None, which=which,
            )  # fmt: skip
            node_min[which] = nm
            if nearest is not None and nr is not None:
                nearest[which] = nr
        result = Reach(
            network=self.network,
            categories=cats,
            node_min=node_min,
            nearest=nearest,
            max_time_min=self.max_time_min,
            attachment=att,
        )
        _warn_unattached(result, cats, stacklevel=3)
        return result

    def snap(self, points: gpd.GeoDataFrame | gpd.GeoSeries, *, max_snap_dist_m: float | None = None) -> pd.DataFrame:
        """:func:`snap` of ``points`` on this Reach's network, kept for the next call with the same
        geometries by any Reach on the network (the last few sets; :meth:`at` and siting read
        them from here).

        Parameters
        ----------
        points : GeoDataFrame or GeoSeries
            The points, as :func:`snap` takes them.
        max_snap_dist_m : float, optional
            As :func:`snap` (default: the network profile's).

        Returns
        -------
        DataFrame
            :func:`snap`'s table, index-aligned with ``points``; a copy, free to change.
        """
        fingerprint = _geom.layer_digest(points)
        if fingerprint is None:  # not a layer with a CRS: snap() says what is wrong
            return snap(self.network, points, max_snap_dist_m=max_snap_dist_m)
        limit = self.network.max_snap_dist_m if max_snap_dist_m is None else float(max_snap_dist_m)
        key = (fingerprint, limit)
        cache = self.network.snap_store
        hit = cache.get(key)
        if hit is not None:
            cache[key] = cache.pop(key)  # the most recently used last
            out = hit.copy()
            out.index = points.index
            return out
        snaps = snap(self.network, points, max_snap_dist_m=max_snap_dist_m)
        cache[key] = snaps.reset_index(drop=True)
        while len(cache) > _SNAP_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        return snaps

    def to_frame(self) -> pd.DataFrame:
        """Node times as a DataFrame: one row per network node (its index), one column per category (minutes)."""
        return pd.DataFrame(self.node_min.T, columns=list(self.categories), index=self.network.nodes.index)

    def node_table(self) -> pd.DataFrame:
        """Deprecated name of :meth:`to_frame`."""
        _frames.renamed("node_table", "to_frame", "Reach")
        return self.to_frame()

    def facility_diagnostics(self) -> pd.DataFrame:
        """Per facility: how it attaches (:meth:`Attachment.diagnostics`); ``status`` is
        ``not_searched`` for the categories this Reach did not search."""
        out = self.attachment.diagnostics()
        if "category" in out:
            out["status"] = np.where(~out["category"].isin(self.categories).to_numpy(), "not_searched", out["status"].to_numpy())
        return out

    def at(
        self,
        points: gpd.GeoDataFrame | gpd.GeoSeries,
        *,
        max_snap_dist_m: float | None = None,
        nearest: bool = False,
    ) -> pd.DataFrame:
        """Travel time (minutes) from each point to the nearest facility of each category.

        Parameters
        ----------
        points : GeoDataFrame or GeoSeries
            Origins in any CRS; polygons use their representative point.
        max_snap_dist_m : float, optional
            Points farther from the network get ``inf`` (and a :class:`SnapWarning`).
        nearest : bool, optional
            Return the row position (in the facility layer) of the nearest facility
            instead of the time; -1 where none is within ``max_time_min``.

        Returns
        -------
        DataFrame
            Indexed like ``points``, one column per category; ``attrs["max_time_min"]``
            holds the search limit (``inf`` then means "farther than that", not
            necessarily "no path at all").
        """
        if nearest and self.nearest is None:
            raise InputError("this Reach was searched without labels: call mtown_geo.access.reach(..., labels=True)")
        snaps = self.snap(points, max_snap_dist_m=max_snap_dist_m)
        bad = ~snaps["ok"].to_numpy()
        if bad.any():
            far = snaps.loc[bad, "snap_dist_m"]
            warnings.warn(
                f"{int(bad.sum())} of {_words.count(len(snaps), 'point', 'points')} {_words.agree(int(bad.sum()), 'lies', 'lie')} "
                "farther than the allowed snap distance from the "
                f"{self.network.mode} network (up to {far.replace(np.inf, np.nan).max():.0f} m; empty geometries "
                "count as infinitely far): their times are inf. Check the layer's CRS and extent, or extend the "
                "network's boundary buffer; mtown_geo.access.snap() lists them",
                SnapWarning,
                stacklevel=2,
            )
        times, near = self._times_for(snaps, labels=nearest)
        data = near if nearest else times
        out = pd.DataFrame(data.T, index=snaps.index, columns=list(self.categories))
        out.attrs["max_time_min"] = self.max_time_min  # the search limit: inf beyond it means "farther", not "no path"
        return out

    def network_times(self, edge: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """Travel time (minutes) from points lying *on* the network to the nearest facility of each category.

        The same arithmetic as :meth:`at` for a point already attached, without an
        off-network leg: the partial edge towards either end (one-way edges only in
        their direction), the node times beyond, or along the edge to a facility
        attached to the same edge.

        Parameters
        ----------
        edge : array of int
            Edge positions in ``network.edges``.
        frac : array of float
            Position along each edge from its ``u`` end, 0–1.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(categories), len(edge))``; ``inf`` beyond ``max_time_min``.
        """
        edge = np.asarray(edge, dtype=np.int64)
        frac = np.asarray(frac, dtype=float)
        if edge.shape != frac.shape or edge.ndim != 1:
            raise InputError("edge and frac must be 1-D arrays of the same length")
        if len(edge) and (edge.min() < 0 or edge.max() >= self.network.n_edges):
            raise InputError(f"edge positions must lie in 0..{self.network.n_edges - 1}")
        if not np.all((frac >= 0.0) & (frac <= 1.0)):
            raise InputError("frac must lie between 0 and 1 (the position along the edge from u)")
        on = pd.DataFrame({"edge": edge, "frac": frac, "access_min": np.zeros(len(edge)), "ok": np.ones(len(edge), dtype=bool)})
        return self._times_for(on, labels=False)[0]

    def _times_for(self, snaps: pd.DataFrame, *, labels: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Times (and, with ``labels``, nearest facilities) of snapped points: ``(len(categories), len(snaps))``.

        Without ``labels`` the second array is empty (shape ``(len(categories), 0)``) and no
        label is looked up; the times are the same either way.
        """
        net = self.network
        ok = snaps["ok"].to_numpy()
        K = len(self.categories)
        m = len(snaps)
        if not ok.any() or K == 0:
            return np.full((K, m), np.inf), np.full((K, m) if labels else (K, 0), -1, dtype=np.int64)
        everyone = bool(ok.all())
        oi = np.flatnonzero(ok)
        e = snaps["edge"].to_numpy()
        s = snaps["frac"].to_numpy()
        acc = snaps["access_min"].to_numpy()
        if not everyone:
            e, s, acc = e[oi], s[oi], acc[oi]
        u, v, via_u, via_v = origin_legs(net, e, s, acc)
        tu = np.take(self.node_min, u, axis=1)  # the node times of each point's ends (take: a faster gather)
        tu += via_u  # in place: the same sums as via_u + node_min, without another table
        tv = np.take(self.node_min, v, axis=1)
        tv += via_v
        who = np.empty((K, 0), dtype=np.int64)
        if labels:
            if self.nearest is not None:
                near_u = np.take(self.nearest, u, axis=1)
                who = np.where(tu <= tv, near_u, np.take(self.nearest, v, axis=1)).astype(np.int64, copy=False)
            else:
                who = np.full(tu.shape, -1, dtype=np.int64)
        best = np.minimum(tu, tv, out=tu)
        # a facility on the origin's own edge is reached along the edge, not via its ends
        k, o, direct_t, direct_who = self._same_edge(e, s, acc)
        better = direct_t < best[k, o]
        k, o = k[better], o[better]
        best[k, o] = direct_t[better]
        over = best > self.max_time_min
        best[over] = np.inf
        if labels:
            who[k, o] = direct_who[better]
            who[over] = -1
        if everyone:
            return best, who
        times = np.full((K, m), np.inf)
        times[:, oi] = best
        near = np.full((K, m) if labels else (K, 0), -1, dtype=np.int64)
        if labels:
            near[:, oi] = who
        return times, near

    def _same_edge(self, e: np.ndarray, s: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The trips along the origins' own edges: per category and origin that has a facility
        of the category attached to its edge, the time to the nearest such facility and that
        facility (of equal times the first attached).

        Returns ``k`` (category position), ``o`` (origin position), ``time_min`` and
        ``facility`` (row position in the facility layer), one entry per pair, in order of
        category, then origin.
        """
        src = self._sources
        empty = np.empty(0, dtype=np.int64)
        if not len(src) or not len(e):
            return empty, empty, np.empty(0), empty
        origins = pd.DataFrame({"edge": e, "frac": s, "access_min": acc})
        o, p, total = same_edge(self.network, origins, src)
        if not len(o):
            return empty, empty, np.empty(0), empty
        cat = src["cat"].to_numpy()[p].astype(np.int64)
        use = (cat >= 0) & (cat < len(self.categories))
        o, p, total, cat = o[use], p[use], total[use], cat[use]
        keep = _first_min(cat * len(e) + o, total)
        return cat[keep], o[keep], total[keep], src["owner"].to_numpy()[p][keep].astype(np.int64)


def _categories_present(column: pd.Series) -> list[str]:
    """``sorted(set(column.dropna().astype(str)))``, read from the column's distinct values."""
    uniq = pd.unique(column.to_numpy(dtype=object))
    if not all(type(u) is str for u in uniq[~pd.isna(uniq)]):  # other values: as pandas writes them
        return sorted(set(column.dropna().astype(str)))
    return sorted({u for u in uniq if type(u) is str})


def reach(
    network: Network,
    facilities: gpd.GeoDataFrame | Attachment,
    *,
    categories: Sequence[str] | None = None,
    max_time_min: float = 60.0,
    max_snap_dist_m: float | None = None,
    spacing_m: float | None = None,
    category_col: str = "category",
    labels: bool = True,
) -> Reach:
    """Search the network once per category: node times to the nearest facility.

    Parameters
    ----------
    network : Network
    facilities : GeoDataFrame or Attachment
        Facilities with a category column (see :mod:`mtown_geo.facilities`), points or
        polygons, any CRS; or the same already attached to ``network`` (:func:`attach`),
        which is then used as it is (nothing is attached again).
    categories : sequence of str, optional
        Categories to search, in this order (default: those present, sorted). A
        category without facilities gives ``inf`` everywhere and an
        :class:`EmptyCategoryWarning`.
    max_time_min : float, optional
        Search limit in minutes (default 60); times beyond are ``inf``.
    max_snap_dist_m : float, optional
        Facility access points farther than this from the network are not used (default:
        the profile's, 300 m). Facilities with no usable access point are listed by
        :meth:`Reach.facility_diagnostics` and reported with a :class:`SnapWarning`. With
        an Attachment: its own (giving another is an error).
    spacing_m : float, optional
        Spacing of the access points along polygon boundaries (default 25 m). With an
        Attachment: its own (giving another is an error).
    category_col : str, optional
        The facility layer's category column (with an Attachment: give it to :func:`attach`).
    labels : bool, optional
        Also record which facility is nearest to each node (``Reach.nearest``, for
        catchments); without them the search runs a little faster.

    Returns
    -------
    Reach
    """
    given = facilities if isinstance(facilities, Attachment) else None
    if given is not None:
        _check_attachment(given, network, max_snap_dist_m=max_snap_dist_m, spacing_m=spacing_m, category_col=category_col)
        fac = given.facilities
    elif not isinstance(facilities, gpd.GeoDataFrame):
        raise InputError(f"facilities must be a GeoDataFrame or an Attachment, got {type(facilities).__name__}")
    else:
        fac = facilities
    if len(fac) == 0:
        raise InputError(
            "the facility layer is empty: nothing to measure travel times to. Check the source "
            "(an OSM extract without such features, or a filter that removed them all)"
        )
    if given is None and category_col not in fac:
        raise InputError(f"the facility layer has no {category_col!r} column")
    if given is not None and "category" not in fac:
        raise InputError("the attached layer has no category column: attach it with category_col=...")
    if not max_time_min > 0:
        raise InputError(f"max_time_min must be positive, got {max_time_min}")
    if given is None:
        fac = fac.reset_index(drop=True)
        if category_col != "category":
            fac = fac.rename(columns={category_col: "category"})
    present = _categories_present(fac["category"])
    cats = tuple(present if categories is None else [str(c) for c in categories])
    if len(set(cats)) != len(cats):
        raise InputError("categories must not repeat")
    _warn_missing(cats, set(present), stacklevel=3)
    if given is None:
        # only the facilities of the searched categories are attached
        att = attach(
            network,
            fac,
            categories=cats,
            spacing_m=25.0 if spacing_m is None else spacing_m,
            max_snap_dist_m=max_snap_dist_m,
        )
    else:
        att = given
        left_out = [c for c in cats if c in present and att.categories is not None and c not in att.categories]
        if left_out:
            raise InputError(
                f"the attachment holds no facility of the categories {left_out} (attached: {list(att.categories or ())}): "
                "attach them too, with mtown_geo.access.attach(..., categories=...)"
            )
    snaps = att.snaps
    n = network.n_nodes
    K = len(cats)
    owner = att.points["owner"].to_numpy()
    cat_of_point = att.category_codes(cats)
    ok = snaps["ok"].to_numpy() & (cat_of_point >= 0)
    if ok.any():
        node_min, nearest = _search(network, snaps, owner, cat_of_point, ok, K, max_time_min, labels=labels)
    else:
        node_min = np.full((K, n), np.inf)
        nearest = np.full((K, n), -1, dtype=np.int64) if labels else None
    result = Reach(
        network=network,
        categories=cats,
        node_min=node_min,
        nearest=nearest,
        max_time_min=float(max_time_min),
        attachment=att,
    )
    _warn_unattached(result, cats, stacklevel=3)
    return result


def _warn_missing(cats: Sequence[str], present: set[str], *, stacklevel: int) -> None:
    """An :class:`EmptyCategoryWarning` for the searched categories without any facility."""
    missing = [c for c in cats if c not in present]
    if missing:
        warnings.warn(
            f"no facility of the categories {missing}: their travel times are inf everywhere",
            EmptyCategoryWarning,
            stacklevel=stacklevel,
        )


def _warn_unattached(result: Reach, cats: Sequence[str], *, stacklevel: int) -> None:
    """A :class:`SnapWarning` per kind of searched facility that does not attach to the main network."""
    att = result.attachment
    fac = att.facilities
    owner = att.points["owner"].to_numpy()
    cat_of_point = att.category_codes(cats)
    searched = cat_of_point >= 0
    snaps = att.snaps
    of_cats = fac["category"].isin(cats).to_numpy()
    rows = np.flatnonzero(of_cats)
    if (
        snaps["ok"].to_numpy()[searched].all()
        and not (snaps["component"].to_numpy()[searched] > 0).any()
        and np.isin(rows, owner[searched]).all()
    ):
        return  # every facility attached to the main network: nothing to report
    # the searched facilities that do not attach well: the rows of facility_diagnostics() that
    # warn_statuses reports, taken from the attachment's diagnostic arrays (no whole table)
    cols = att._diagnostic_columns()
    pos = np.flatnonzero(of_cats & np.isin(cols["status"], list(_STATUS_MEANING)))
    diag = pd.DataFrame({col: values[pos] for col, values in cols.items()}, index=fac.index[pos])
    warn_statuses(diag, result.network.mode, stacklevel=stacklevel + 1)


def warn_statuses(diagnostics: pd.DataFrame, mode: str, *, stacklevel: int = 2) -> None:
    """Report the features of a diagnostics table that do not attach well.

    One :class:`~mtown_geo.SnapWarning` per status (``too_far``, ``no_geometry``,
    ``small_piece``) with how many and up to five of them, named (``category:name``) or
    numbered by their row label: what :meth:`Attachment.warn` says of its whole table, for any
    part of it (the rows of one category, numbered within it).

    Parameters
    ----------
    diagnostics : DataFrame
        Rows of :meth:`Attachment.diagnostics` (``status``; ``category`` and ``name`` when
        the layer has them).
    mode : str
        The network's mode, named in the message.
    stacklevel : int, optional
        As :func:`warnings.warn`.
    """
    diag = diagnostics
    statuses = diag["status"].to_numpy()
    kinds = diag["category"].to_numpy() if "category" in diag else None
    names_of = diag["name"].to_numpy() if "name" in diag else None
    for status, (one, several) in _STATUS_MEANING.items():
        pos = np.flatnonzero(statuses == status)
        n_bad = len(pos)
        if n_bad:
            meaning = (one if n_bad == 1 else several).format(mode=mode) + _STATUS_FIX.get(status, "")
            # the first five, named category:name (or numbered by their row label)
            names = ", ".join(
                f"{'feature' if kinds is None else kinds[p]}:"
                f"{names_of[p] if names_of is not None and isinstance(names_of[p], str) else f'row {label}'}"
                for p, label in zip(pos[:5].tolist(), diag.index[pos[:5]].tolist(), strict=True)
            )
            warnings.warn(
                f"{n_bad} {'facility' if n_bad == 1 else 'facilities'} {meaning} ({'' if n_bad <= 5 else 'e.g. '}{names}); "
                "see Reach.facility_diagnostics()",
                SnapWarning,
                stacklevel=stacklevel,
            )


def _check_attachment(
    att: Attachment, network: Network, *, max_snap_dist_m: float | None, spacing_m: float | None, category_col: str
) -> None:
    """An Attachment given to :func:`reach` must be of this network and of the options asked for."""
    if att.network is not network:
        raise InputError("the attachment was made on another network: attach the facilities to this one with attach()")
    if max_snap_dist_m is not None and float(max_snap_dist_m) != att.max_snap_dist_m:
        raise InputError(
            f"the attachment used max_snap_dist_m={att.max_snap_dist_m:g}, not {max_snap_dist_m!r}: attach again with "
            "that distance, or leave max_snap_dist_m out"
        )
    if spacing_m is not None and float(spacing_m) != att.spacing_m:
        raise InputError(
            f"the attachment used spacing_m={att.spacing_m:g}, not {spacing_m!r}: attach again with that spacing, "
            "or leave spacing_m out"
        )
    if category_col != "category":
        raise InputError("with an Attachment, give category_col to attach(), not to reach()")


def _search(
    network: Network,
    snaps: pd.DataFrame,
    owner: np.ndarray,
    cat_of_point: np.ndarray,
    ok: np.ndarray,
    K: int,
    max_time_min: float,
    *,
    labels: bool = True,
    which: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One dijkstra per category on the reversed network plus one source node per facility.

    ``which``: search only these categories (positions), one row each in that order; the
    graph is the one the search of every category uses, so each row is what it would be.
    """
    n = network.n_nodes
    idx = np.flatnonzero(ok)
    e = snaps["edge"].to_numpy()[idx]
    f = snaps["frac"].to_numpy()[idx]
    acc = snaps["access_min"].to_numpy()[idx]
    pt_owner = owner[idx]
    pt_cat = cat_of_point[idx]
    u, v, w_u, w_v = source_legs(network, e, f, acc)
    # one source node per (facility, category) pair; here a facility row has one category
    fac_ids, src_of_point = np.unique(pt_owner, return_inverse=True)
    S = len(fac_ids)
    src_node = n + src_of_point
    rows = np.concatenate([src_node, src_node])
    cols = np.concatenate([u, v])
    w = np.concatenate([w_u, w_v])
    fin = np.isfinite(w)
    rows, cols, w = rows[fin], cols[fin], w[fin]
    base = network.csr_reverse
    aug = add_sources(base, rows - n, cols, w, S)
    src_cat = np.full(S, -1, dtype=np.int64)
    src_cat[src_of_point] = pt_cat
    # position n + j of the augmented graph is facility fac_ids[j]
    lut = np.full(n + S, -1, dtype=np.int64)
    lut[n:] = fac_ids
    ks = list(range(K)) if which is None else list(which)
    node_min = np.empty((len(ks), n))
    nearest = np.empty((len(ks), n), dtype=np.int64) if labels else None
    for row, k in enumerate(ks):
        sources = np.flatnonzero(src_cat == k)
        if len(sources) == 0:
            node_min[row] = np.inf
            if nearest is not None:
                nearest[row] = -1
            continue
        if nearest is None:
            node_min[row] = csr_dijkstra(aug, n + sources, limit_min=max_time_min, min_only=True)[:n]
            continue
        dist, _, src = csr_dijkstra(aug, n + sources, limit_min=max_time_min, min_only=True, return_predecessors=True)
        node_min[row] = dist[:n]
        s = src[:n]
        nearest[row] = lut[np.where(s >= 0, s, 0)]
    return node_min, nearest


# -- the engine's primitives: legs onto the network, source rows, restriction, the search ---


def _edge_ends(network: Network, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per edge position: its end nodes ``u``, ``v`` and its minutes ``u → v``, ``v → u``
    (read from the edge table, so no edge geometry is made)."""
    edges = network.edge_table
    return (
        edges["u"].to_numpy()[edge],
        edges["v"].to_numpy()[edge],
        edges["time_min"].to_numpy()[edge],
        edges["time_rev_min"].to_numpy()[edge],
    )


def source_legs(
    network: Network, edge: np.ndarray, frac: np.ndarray, access_min: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The legs from an edge's two ends *to* points attached to it (a facility, a site).

    Parameters
    ----------
    network : Network
        The network the points are attached to.
    edge, frac, access_min : numpy.ndarray
        Per point: edge position in ``network.edges``, position along it from ``u`` (0–1)
        and the off-network leg (minutes), as :func:`snap` gives them.

    Returns
    -------
    tuple of numpy.ndarray
        ``u``, ``v`` (the edge's end nodes) and ``w_u``, ``w_v``: minutes from ``u`` to the
        point along ``u → v`` and from ``v`` along ``v → u``, each plus the access leg
        (``inf`` against a one-way edge). On the reversed network these are the weights of
        a source row's edges to ``u`` and ``v``.
    """
    u, v, t_uv, t_vu = _edge_ends(network, edge)
    w_u = access_min + frac * t_uv
    w_v = access_min + (1.0 - frac) * t_vu
    return u, v, w_u, w_v


def origin_legs(
    network: Network, edge: np.ndarray, frac: np.ndarray, access_min: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The legs *from* points attached to the network (origins, demand units) to their edge's ends.

    Parameters
    ----------
    network : Network
        The network the points are attached to.
    edge, frac, access_min : numpy.ndarray
        Per point: edge position, position along it from ``u`` (0–1), off-network leg (minutes).

    Returns
    -------
    tuple of numpy.ndarray
        ``u``, ``v`` and ``via_u``, ``via_v``: minutes from the point to ``u`` (direction
        ``v → u``) and to ``v`` (direction ``u → v``), each plus the access leg; ``inf``
        where the edge is one-way the other way. A point's time to a target is
        ``min(via_u + time(u), via_v + time(v))``.
    """
    u, v, t_uv, t_vu = _edge_ends(network, edge)
    with np.errstate(invalid="ignore"):
        via_u = access_min + np.where(np.isfinite(t_vu), frac * t_vu, np.inf)  # towards u: direction v → u
        via_v = access_min + np.where(np.isfinite(t_uv), (1.0 - frac) * t_uv, np.inf)  # towards v: direction u → v
    return u, v, via_u, via_v


def _pairs_on_key(
    left: np.ndarray, left_key: np.ndarray, right: np.ndarray, right_key: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of a ``left`` and a ``right`` value with equal keys: the rows of an inner
    ``merge`` of ``(left, left_key)`` with ``(right_key, right)`` on the key, in its order (the
    left rows in their order, each with its right partners in theirs)."""
    order = np.argsort(right_key, kind="stable")
    keys = right_key[order]
    lo = np.searchsorted(keys, left_key, side="left")
    n = np.searchsorted(keys, left_key, side="right") - lo
    first = np.repeat(lo - (np.cumsum(n) - n), n)  # each pair's position in ``keys``
    return np.repeat(left, n), right[order[first + np.arange(int(n.sum()))]]


def same_edge(network: Network, origins: pd.DataFrame, points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trips along a shared edge: from each origin to each point attached to the origin's own edge.

    An origin and a facility (or a site) on the same edge are joined along that edge, not
    only through its ends: the origin's access leg, the stretch of edge between the two
    positions (at the edge's time in that direction; ``inf`` against a one-way edge) and
    the point's access leg.

    Parameters
    ----------
    network : Network
        The network both are attached to.
    origins, points : DataFrame
        Attached points as :func:`snap` gives them (``edge``, ``frac``, ``access_min``;
        rows with ``ok`` false, when that column is there, or without an edge take no part).

    Returns
    -------
    tuple of numpy.ndarray
        ``o``, ``p`` (row positions in ``origins`` and ``points`` of every pair on one
        edge, in the order of ``origins``) and ``time_min``, the time of each trip from
        the origin to the point (minutes).
    """
    o_edge = origins["edge"].to_numpy()
    p_edge = points["edge"].to_numpy()
    o_use = o_edge >= 0
    p_use = p_edge >= 0
    if "ok" in origins:
        o_use &= origins["ok"].to_numpy()
    if "ok" in points:
        p_use &= points["ok"].to_numpy()
    p_idx = np.flatnonzero(p_use)
    o_idx = np.flatnonzero(o_use & np.isin(o_edge, p_edge[p_idx]))
    if len(o_idx) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
    o, p = _pairs_on_key(o_idx, o_edge[o_idx], p_idx, p_edge[p_idx])
    edges = network.edge_table
    e = o_edge[o]
    t_uv = edges["time_min"].to_numpy()[e]
    t_vu = edges["time_rev_min"].to_numpy()[e]
    ds = points["frac"].to_numpy()[p] - origins["frac"].to_numpy()[o]
    with np.errstate(invalid="ignore"):
        along = np.where(ds >= 0, ds * t_uv, -ds * t_vu)
    along = np.where(ds == 0, 0.0, along)
    total = origins["access_min"].to_numpy()[o] + along + points["access_min"].to_numpy()[p]
    return o, p, total


def add_sources(graph: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n_sources: int) -> sp.csr_matrix:
    """A square CSR of size ``n + n_sources``: ``graph`` plus ``n_sources`` source rows with edges into it.

    ``rows`` are source numbers ``0..n_sources-1`` (node ``n + row``), ``cols`` nodes of
    ``graph``, ``w`` the weights; of duplicate (source, node) pairs the smallest weight is
    kept. The search from node ``n + j`` then starts at source ``j``.
    """
    n = graph.shape[0]
    keep = _first_min(rows.astype(np.int64) * n + cols, w)
    r, c, d = rows[keep], cols[keep], w[keep]
    counts = np.bincount(r, minlength=n_sources)
    indptr = np.concatenate([graph.indptr.astype(np.int64), graph.indptr[-1] + np.cumsum(counts)])
    indices = np.concatenate([graph.indices, c.astype(graph.indices.dtype)])
    data = np.concatenate([graph.data, d])
    return sp.csr_matrix((data, indices, indptr), shape=(n + n_sources, n + n_sources))


def restrict(graph: sp.csr_matrix, keep: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """``graph`` restricted to the nodes where ``keep`` is true (explicit zero weights kept).

    Returns
    -------
    tuple
        The sub-graph (a CSR over the kept nodes, in their order) and ``new_id``: old node
        → new node, ``-1`` for a node left out.
    """
    new_id = np.full(graph.shape[0], -1, dtype=np.int64)
    new_id[keep] = np.arange(int(keep.sum()))
    rows = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))
    cols = graph.indices
    m = keep[rows] & keep[cols]
    r, c, d = new_id[rows[m]], new_id[cols[m]], graph.data[m]
    n = int(keep.sum())
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))]).astype(np.int64)
    # rows stay sorted (the remap is monotone), so the CSR arrays can be taken as they are
    return sp.csr_matrix((d.astype(float), c.astype(np.int32), indptr), shape=(n, n)), new_id


def reachable_nodes(network: Network, nodes: np.ndarray, limit_min: float) -> np.ndarray:
    """Boolean mask of the nodes some of ``nodes`` reaches within ``limit_min`` minutes (forward)."""
    keep = np.zeros(network.n_nodes, dtype=bool)
    if len(nodes) == 0:
        return keep
    d = csr_dijkstra(network.csr, np.unique(nodes), limit_min=limit_min, min_only=True)
    keep[np.isfinite(d)] = True
    return keep


def csr_dijkstra(
    graph: sp.csr_matrix,
    sources: np.ndarray | int,
    *,
    limit_min: float,
    min_only: bool = False,
    return_predecessors: bool = False,
) -> Any:
    """The package's one shortest-path search: :func:`scipy.sparse.csgraph.dijkstra` on a directed graph.

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix
        Edge weights (minutes, or metres for :func:`search` by length); explicit zeros are edges.
    sources : int or array of int
        Start nodes.
    limit_min : float
        Nodes farther than this are ``inf``.
    min_only, return_predecessors : bool, optional
        As scipy's: one row of the nearest source's distance (and, with predecessors, the
        source each node's distance comes from) instead of one row per source.

    Returns
    -------
    numpy.ndarray or tuple
        What scipy returns for these options: distances; with ``return_predecessors``
        ``(distances, predecessors)``, or ``(distances, predecessors, sources)`` when also ``min_only``.
    """
    return dijkstra(
        graph,
        directed=True,
        indices=sources,
        limit=limit_min,
        min_only=min_only,
        return_predecessors=return_predecessors,
    )


def travel_times(
    network: Network,
    facilities: gpd.GeoDataFrame | Attachment,
    origins: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    categories: Sequence[str] | None = None,
    max_time_min: float = 60.0,
    max_snap_dist_m: float | None = None,
    spacing_m: float | None = None,
    category_col: str = "category",
) -> pd.DataFrame:
    """Travel time from each origin to the nearest facility of each category.

    Parameters
    ----------
    network : Network
        The travel network (its mode sets the speeds).
    facilities : GeoDataFrame or Attachment
        Facilities with a ``category`` column; points or polygons; any CRS; or the same
        already attached (:func:`attach`).
    origins : GeoDataFrame or GeoSeries
        Demand units or any points; any CRS.
    categories : sequence of str, optional
        Columns of the result, in order (default: the categories present, sorted).
    max_time_min : float, optional
        Search limit in minutes (default 60): farther facilities give ``inf``.
    max_snap_dist_m : float, optional
        Facilities and origins farther than this from the network are not attached
        (default: the profile's 300 m); they are reported with a :class:`SnapWarning`.
    spacing_m : float, optional
        Spacing of access points along polygon facilities' boundaries (metres; default 25).

    Returns
    -------
    DataFrame
        Indexed like ``origins``; one float column per category, in minutes; ``inf``
        where no facility of the category is reachable within ``max_time_min``.

    Examples
    --------
    >>> import mtown_geo as mg
    >>> net = mg.network.from_osm(mg.demo_osm_path(), mode="walk")  # doctest: +SKIP
    >>> fac = mg.facilities.from_osm(mg.demo_osm_path())  # doctest: +SKIP
    >>> units = mg.demand.grid(mg.demo_boundary(), cell_m=100)  # doctest: +SKIP
    >>> mg.access.travel_times(net, fac, units, max_time_min=15)  # doctest: +SKIP
    """
    r = reach(
        network,
        facilities,
        categories=categories,
        max_time_min=max_time_min,
        max_snap_dist_m=max_snap_dist_m,
        spacing_m=spacing_m,
        category_col=category_col,
        labels=False,
    )
    return r.at(origins, max_snap_dist_m=max_snap_dist_m)


# -- shortest-path trees over a chosen set of edges ---------------------------------------------


def _edge_costs(network: Network, weight: str, edge_mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Cost of every edge u → v and v → u (inf where the direction or the edge is not allowed)."""
    e = network.edge_table
    t_uv = e["time_min"].to_numpy(float)
    t_vu = e["time_rev_min"].to_numpy(float)
    if weight == "time":
        c_uv, c_vu = t_uv.copy(), t_vu.copy()
    elif weight == "length":
        length = e["length_m"].to_numpy(float)
        c_uv = np.where(np.isfinite(t_uv), length, np.inf)
        c_vu = np.where(np.isfinite(t_vu), length, np.inf)
    else:
        raise InputError(f"weight must be 'time' or 'length', got {weight!r}")
    if edge_mask is not None:
        mask = np.asarray(edge_mask, dtype=bool)
        if mask.shape != (network.n_edges,):
            raise InputError(f"edge_mask must hold one flag per edge ({network.n_edges}), got shape {mask.shape}")
        c_uv = np.where(mask, c_uv, np.inf)
        c_vu = np.where(mask, c_vu, np.inf)
    return c_uv, c_vu


@dataclass(frozen=True, eq=False)
class Tree:
    """A shortest-path tree: every node's cost to (or from) a set of source nodes, and its path.

    Made by :func:`search`. ``towards=True`` trees hold the cost of travelling *from* each node
    *to* the nearest source (one search on the reversed network, as :func:`reach` does);
    ``towards=False`` trees the cost from the nearest source to each node.

    Attributes
    ----------
    network : Network
    dist : ndarray, shape (n_nodes,)
        Cost per node (minutes for ``weight="time"``, metres for ``"length"``; ``inf`` where not
        reached within the limit or over the allowed edges).
    pred : ndarray, shape (n_nodes,)
        The next node on the way to the sources (``towards=True``) or the node before it on the
        way from them; -1 at a source and where not reached.
    weight : str
    towards : bool
    edge_mask : ndarray or None
        The edges the search was allowed to use (None: all).
    """

    network: Network
    dist: np.ndarray
    pred: np.ndarray
    weight: str
    towards: bool
    edge_mask: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """The tree as a table: one row per network node (its index), its cost and ``pred``.

        The cost column is ``time_min`` for ``weight="time"`` and ``dist_m`` for
        ``"length"`` (``inf`` where not reached); ``pred`` is the node position next on the
        way to the sources (``towards=True``) or before it on the way from them, -1 at a
        source and where not reached.
        """
        cost = {"time": "time_min", "length": "dist_m"}.get(self.weight, "cost")
        return pd.DataFrame({cost: self.dist, "pred": self.pred}, index=self.network.nodes.index)

    def path(self, node: int) -> np.ndarray:
        """Nodes of the path between a node and the sources, in travel order (empty if not reached)."""
        node = int(node)
        if not 0 <= node < len(self.dist):
            raise InputError(f"node {node} is not a node of the network (0–{len(self.dist) - 1})")
        if not np.isfinite(self.dist[node]):
            return np.empty(0, dtype=np.int64)
        out = [node]
        while self.pred[out[-1]] >= 0:
            out.append(int(self.pred[out[-1]]))
            if len(out) > len(self.dist):  # pragma: no cover - a tree has no cycle
                raise RuntimeError("the predecessor array holds a cycle")
        nodes = np.asarray(out, dtype=np.int64)
        return nodes if self.towards else nodes[::-1]

    def path_edges(self, node: int) -> np.ndarray:
        """Edge positions of :meth:`path`, in travel order (the cheapest allowed edge of each hop)."""
        nodes = self.path(node)
        if len(nodes) < 2:
            return np.empty(0, dtype=np.int64)
        a, b = nodes[:-1], nodes[1:]
        lookup = self._hops
        keys = a.astype(np.int64) * self.network.n_nodes + b
        pos = np.searchsorted(lookup[0], keys)
        if not (np.all(pos < len(lookup[0])) and np.array_equal(lookup[0][np.minimum(pos, len(lookup[0]) - 1)], keys)):
            raise RuntimeError("a hop of the path has no allowed edge")  # pragma: no cover - guarded by the search
        return lookup[1][pos]

    @property
    def _hops(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted hop keys (from × n + to, in travel direction) and the cheapest allowed edge of each."""
        cached = self.__dict__.get("_hops_cache")
        if cached is not None:
            return cached
        e = self.network.edge_table
        c_uv, c_vu = _edge_costs(self.network, self.weight, self.edge_mask)
        u, v = e["u"].to_numpy(np.int64), e["v"].to_numpy(np.int64)
        fw, bw = np.isfinite(c_uv), np.isfinite(c_vu)
        src = np.concatenate([u[fw], v[bw]])
        dst = np.concatenate([v[fw], u[bw]])
        cost = np.concatenate([c_uv[fw], c_vu[bw]])
        eid = np.concatenate([np.flatnonzero(fw), np.flatnonzero(bw)])
        keys = src * self.network.n_nodes + dst
        keep = _first_min(keys, cost)
        out = (keys[keep], eid[keep])
        object.__setattr__(self, "_hops_cache", out)
        return out


def search(
    network: Network,
    sources: Sequence[int] | np.ndarray,
    *,
    source_cost: Sequence[float] | np.ndarray | None = None,
    weight: str = "time",
    edge_mask: np.ndarray | None = None,
    limit: float = np.inf,
    towards: bool = True,
) -> Tree:
    """One multi-source shortest-path search over the network, or over some of its edges.

    The engine's search (:func:`reach`) restricted to chosen edges and with the path kept:
    which villages reach the town seat on two-lane roads only, and along which roads.

    Parameters
    ----------
    network : Network
    sources : sequence of int
        Node positions the search starts from (``towards=False``) or ends at (``towards=True``).
    source_cost : sequence of float, optional
        A starting cost per source (e.g. the partial edge between a node and the point it
        stands for, see :func:`point_costs`); default 0.
    weight : {"time", "length"}
        Edge cost: travel time (minutes, the network's speeds) or length (metres). One-way
        rules apply to both.
    edge_mask : ndarray of bool, optional
        One flag per edge: only flagged edges may be used (default: all).
    limit : float, optional
        Costs beyond this are not searched (``inf``).
    towards : bool
        True (default): the cost of travelling from each node to the nearest source; False:
        from the nearest source to each node.

    Returns
    -------
    Tree
    """
    n = network.n_nodes
    src = np.asarray(sources, dtype=np.int64).ravel()
    if len(src) == 0:
        raise InputError("search: give at least one source node")
    if src.min() < 0 or src.max() >= n:
        raise InputError(f"search: source nodes must lie in 0–{n - 1}")
    cost0 = np.zeros(len(src)) if source_cost is None else np.asarray(source_cost, dtype=float).ravel()
    if cost0.shape != src.shape or np.isnan(cost0).any() or (cost0 < 0).any():
        raise InputError("search: source_cost must hold one non-negative number (or inf) per source")
    if not limit > 0:
        raise InputError(f"search: limit must be positive, got {limit}")
    c_uv, c_vu = _edge_costs(network, weight, edge_mask)
    e = network.edge_table
    u, v = e["u"].to_numpy(np.int64), e["v"].to_numpy(np.int64)
    fw, bw = np.isfinite(c_uv), np.isfinite(c_vu)
    rows = np.concatenate([u[fw], v[bw]])
    cols = np.concatenate([v[fw], u[bw]])
    w = np.concatenate([c_uv[fw], c_vu[bw]])
    if towards:
        rows, cols = cols, rows
    base = _csr_min(rows, cols, w, n)
    ok = np.isfinite(cost0)
    aug = add_sources(base, np.zeros(int(ok.sum()), dtype=np.int64), src[ok], cost0[ok], 1)
    dist, pred = csr_dijkstra(aug, n, limit_min=limit, return_predecessors=True)
    dist, pred = dist[:n], pred[:n].astype(np.int64)
    pred = np.where((pred < 0) | (pred >= n), -1, pred)
    return Tree(network=network, dist=dist, pred=pred, weight=weight, towards=towards, edge_mask=edge_mask)


def point_costs(
    network: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    weight: str = "time",
    edge_mask: np.ndarray | None = None,
    towards: bool = True,
    max_snap_dist_m: float | None = None,
) -> pd.DataFrame:
    """How points attach to the two end nodes of their nearest edge, with the partial-edge costs.

    Parameters
    ----------
    network : Network
    points : GeoDataFrame or GeoSeries
        Any CRS (see :func:`snap`).
    weight, edge_mask
        As in :func:`search`; a point on an edge outside the mask reaches neither end.
    towards : bool
        True: the costs of travelling from each end node *to* the point (the point as a
        destination, for :func:`search` sources); False: from the point to each end node
        (the point as an origin).
    max_snap_dist_m : float, optional
        As in :func:`snap`.

    Returns
    -------
    DataFrame
        Indexed like ``points``: ``edge``, ``node_u``, ``node_v``, ``cost_u``, ``cost_v``
        (``inf`` where the direction is not allowed or the point is not attached),
        ``snap_dist_m`` and ``ok`` (as :func:`snap`; the off-network leg is not in the costs).
    """
    snaps = snap(network, points, max_snap_dist_m=max_snap_dist_m)
    e = snaps["edge"].to_numpy()
    ok = snaps["ok"].to_numpy() & (e >= 0)
    c_uv, c_vu = _edge_costs(network, weight, edge_mask)
    ei = np.where(e >= 0, e, 0)
    f = snaps["frac"].to_numpy()
    nu = network.edge_table["u"].to_numpy(np.int64)[ei]
    nv = network.edge_table["v"].to_numpy(np.int64)[ei]
    with np.errstate(invalid="ignore"):
        if towards:  # node u → point runs along u → v; node v → point along v → u
            cu, cv = f * c_uv[ei], (1.0 - f) * c_vu[ei]
        else:  # point → u runs along v → u; point → v along u → v
            cu, cv = f * c_vu[ei], (1.0 - f) * c_uv[ei]
    cu = np.where(ok & np.isfinite(c_uv[ei] if towards else c_vu[ei]), np.nan_to_num(cu, nan=0.0), np.inf)
    cv = np.where(ok & np.isfinite(c_vu[ei] if towards else c_uv[ei]), np.nan_to_num(cv, nan=0.0), np.inf)
    return pd.DataFrame(
        {
            "edge": e,
            "node_u": np.where(ok, nu, -1),
            "node_v": np.where(ok, nv, -1),
            "cost_u": cu,
            "cost_v": cv,
            "snap_dist_m": snaps["snap_dist_m"].to_numpy(),
            "ok": ok,
        },
        index=snaps.index,
    )


def tree_costs(tree: Tree, attached: pd.DataFrame) -> pd.DataFrame:
    """The cost of each attached point (:func:`point_costs`, with ``towards`` opposite to the
    tree's for a trip from the point to the tree's sources) and the end node it goes through.

    Returns
    -------
    DataFrame
        Indexed like ``attached``: ``cost`` (``inf`` where not reached) and ``node`` (the end
        node of the point's edge the best path passes, -1 where not reached).
    """
    ok = attached["ok"].to_numpy()
    nu = attached["node_u"].to_numpy()
    nv = attached["node_v"].to_numpy()
    du = np.where(ok, tree.dist[np.where(ok, nu, 0)], np.inf) + attached["cost_u"].to_numpy()
    dv = np.where(ok, tree.dist[np.where(ok, nv, 0)], np.inf) + attached["cost_v"].to_numpy()
    cost = np.minimum(du, dv)
    node = np.where(du <= dv, nu, nv)
    node = np.where(np.isfinite(cost), node, -1)
    return pd.DataFrame({"cost": cost, "node": node}, index=attached.index)
