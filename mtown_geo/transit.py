"""城乡公交一体化: bus-stop coverage of the built-up area and of the villages (policy task 2).

* :func:`merge_stops` — stops closer than the profile's ``merge_dist_m`` (40 m: the two
  sides of a road, a platform and its stop position) are one stop.
* :func:`area_coverage` — the 公交都市 rule: the union of straight-line circles of the
  radius (500 m, and 300 m) around the stops, cut by the built-up area, over its area. The
  circles are polygons of 128 vertices (their area is 0.04 % under a true circle's).
* :func:`network_coverage` — the variant along the streets: the share of the built-up
  area's demand units within the radius walked on the network (the engine's
  :func:`mtown_geo.access.travel_times`).
* :func:`village_reach` — each village's straight-line distance to the nearest stop,
  against 2 km (MOT 建制村通客车) and 500 m.
* :func:`served` — stops that are members of a mapped ``route=bus`` relation.

A town with no stop in the data gets no coverage figure (``None``: data missing), never 0 %.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _frames, _geom, _points, access
from . import crs as _crs
from . import demand as _demand
from ._errors import InputError, ProfileError
from .network import Network
from .standards import Profile, TransitRules, resolve

__all__ = ["AreaCoverage", "area_coverage", "merge_stops", "minutes_to", "network_coverage", "served", "village_reach"]

log = logging.getLogger(__name__)

#: An OSM id as int() writes it.
_INT = re.compile(r"-?[0-9]+")

#: Vertices per quarter circle of the coverage circles (area within 0.04 % of a circle's).
QUAD_SEGS = 32


def _rules(profile: Profile | str | Path | None) -> TransitRules:
    prof = resolve(profile)
    if prof.tasks is None or prof.tasks.transit is None:
        raise ProfileError(f"the profile {prof.name!r} has no tasks.transit section")
    return prof.tasks.transit


def _points_of(layer: gpd.GeoDataFrame | gpd.GeoSeries, crs: Any, *, what: str) -> np.ndarray:
    if not isinstance(layer, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"the {what} must be a GeoDataFrame or GeoSeries, got {type(layer).__name__}")
    _crs.require_crs(layer, what=what)
    geoms = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer
    geoms = np.asarray(geoms.to_crs(crs).values, dtype=object)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = np.full(len(geoms), None, dtype=object)
    out[usable] = shapely.point_on_surface(geoms[usable])
    return out


def _joined_names(names: pd.Series) -> str | None:
    """The distinct names of merged features, sorted and joined by ``/`` (None when none has one)."""
    distinct = sorted({str(n) for n in names if isinstance(n, str) and n})
    return "/".join(distinct) if distinct else None


def merge_stops(
    stops: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    merge_dist_m: float | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """One point per stop: stops closer than ``merge_dist_m`` (single linkage) are merged.

    Parameters
    ----------
    stops : GeoDataFrame
        Stop features (points or areas, any CRS) with optional ``name``, ``served`` (bool)
        and ``source`` columns.
    merge_dist_m : float, optional
        Default: the profile's ``tasks.transit.merge_dist_m`` (40 m).
    crs : optional
        Projected CRS of the result (default :func:`mtown_geo.crs.metric_crs` of the stops).

    Returns
    -------
    GeoDataFrame
        One point per merged stop at the mean position of its members: ``name`` (the names,
        joined by ``/``), ``n_features`` (features merged), ``served`` (any member served by a
        route; missing when the input has no ``served`` column).
    """
    dist = _rules(profile).merge_dist_m if merge_dist_m is None else float(merge_dist_m)
    if dist < 0:
        raise InputError(f"merge_dist_m must be >= 0 metres, got {dist}")
    target = _crs.require_projected(crs, what="target CRS") if crs is not None else _crs.metric_crs(stops)
    pts = _points_of(stops, target, what="stop layer")
    ok = np.array([p is not None for p in pts], dtype=bool)
    if not ok.any():
        return _frames.geo_frame({"name": [], "n_features": [], "served": []}, [], target)
    xy = shapely.get_coordinates(pts[ok])
    labels, centres = _points.merge(xy, dist)
    names = stops["name"].to_numpy(dtype=object)[ok] if "name" in stops else np.full(len(xy), None, dtype=object)
    counts = np.bincount(labels)
    out = _frames.geo_frame(
        {"name": _names_by_group(labels, names, len(counts)), "n_features": counts}, shapely.points(centres), target
    )
    if "served" in stops:
        served_ = np.zeros(len(counts), dtype=bool)
        np.logical_or.at(served_, labels, stops["served"].to_numpy(dtype=bool)[ok])
        out["served"] = served_
    return out


def _names_by_group(labels: np.ndarray, names: np.ndarray, n_groups: int) -> np.ndarray:
    """:func:`_joined_names` of each group's names (groups ``0 .. n_groups - 1``), as an object array.

    The same values as ``DataFrame({"g": labels, "name": names}).groupby("g")["name"].agg(_joined_names)``:
    a group without a name is None when no group has one, else NaN (as pandas leaves it).
    """
    distinct: list[set[str]] = [set() for _ in range(n_groups)]
    for g, n in zip(labels.tolist(), names.tolist(), strict=True):
        if isinstance(n, str) and n:
            distinct[g].add(n)
    joined: list[object] = ["/".join(sorted(d)) if d else None for d in distinct]
    if any(j is not None for j in joined):
        joined = [np.nan if j is None else j for j in joined]
    out = np.empty(n_groups, dtype=object)
    out[:] = joined
    return out


@dataclass(frozen=True)
class AreaCoverage:
    """Share of an area within a straight-line radius of points (the 公交都市 rule).

    ``covered_m2`` is the area of (∪ circles) ∩ area; ``rate`` = covered ÷ ``total_m2``;
    ``covered`` and ``gaps`` are the covered and uncovered parts (polygons in the area's CRS).
    """

    radius_m: float
    covered_m2: float
    total_m2: float
    rate: float
    covered: shapely.Geometry
    gaps: shapely.Geometry

    def to_frame(self) -> pd.DataFrame:
        """The headline figures as a one-row DataFrame (notes joined by ``"; "``); the covered part and the gaps stay geometries."""
        return _frames.one_row(self)


def area_coverage(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    radius_m: float,
) -> AreaCoverage:
    """The share of an area within a straight-line radius of any point.

    Parameters
    ----------
    points : GeoDataFrame or GeoSeries
        Stops (chargers...), any CRS; areas count by a point on their surface.
    area : GeoDataFrame or GeoSeries
        The built-up area (polygons) in any CRS (a geographic one is projected to :func:`mtown_geo.crs.metric_crs`); its area is the denominator.
    radius_m : float
        Radius of the circles, metres.

    Returns
    -------
    AreaCoverage
    """
    return _area_coverages(points, area, radii_m=[radius_m], gaps=[True])[0]


def _area_coverages(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    radii_m: Sequence[float],
    gaps: Sequence[bool],
) -> list[AreaCoverage]:
    """:func:`area_coverage` of each radius, the area's union and the points made once; where
    ``gaps`` is False the uncovered part is not cut (``gaps`` is then an empty polygon) when
    only the figures are wanted."""
    out: list[AreaCoverage] = []
    geom: shapely.Geometry | None = None
    pts = np.empty(0, dtype=object)
    for radius_m, cut in zip(radii_m, gaps, strict=True):
        if not radius_m > 0:
            raise InputError(f"radius_m must be positive, got {radius_m}")
        if geom is None:
            crs = _geom.target_crs(area, what="area")
            geom = _geom.polygon_union(area, crs=crs, what="area", drop_empty=True)
            shapely.prepare(geom)  # for the distances of the points to it (:func:`_reaching`)
            pts = _points_of(points, crs, what="point layer")
            pts = pts[np.array([p is not None for p in pts], dtype=bool)]
        total = float(geom.area)
        if len(pts) == 0:
            out.append(AreaCoverage(float(radius_m), 0.0, total, 0.0, shapely.Polygon(), geom))
            continue
        circles = shapely.union_all(shapely.buffer(_reaching(pts, geom, radius_m), radius_m, quad_segs=QUAD_SEGS))
        covered = shapely.intersection(geom, circles)
        rest = shapely.difference(geom, circles) if cut else shapely.Polygon()
        c = float(covered.area)
        out.append(AreaCoverage(float(radius_m), c, total, c / total, covered, rest))
    return out


def _reaching(pts: np.ndarray, area: shapely.Geometry, radius_m: float) -> np.ndarray:
    """The points whose circle of ``radius_m`` may meet ``area`` (those within the radius and a
    metre); all of them when none is.

    A circle polygon lies inside its true circle (its vertices are on it), so the circle of a
    point farther from the area than the radius neither covers any of it nor cuts the gaps:
    the covered part and the gaps are the same without it, and the union is made of fewer
    circles. When no circle reaches the area, every circle is kept (the empty results then
    have the types they always had).
    """
    near = shapely.dwithin(area, pts, radius_m + 1.0)
    return pts[near] if near.any() else pts


def network_coverage(
    network: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    units: gpd.GeoDataFrame,
    *,
    dist_m: float | None = None,
    time_min: float | None = None,
    weight: str | None = "area_m2",
) -> float:
    """The share of demand units within a distance or a time of a point along the network (0–1).

    Times are the engine's (:func:`mtown_geo.access.travel_times`: nearest edge, access legs
    walked); a distance is turned into minutes at the network's base speed (500 m walked at
    4 km/h is 7.5 minutes).

    Parameters
    ----------
    network : Network
        The walk network (stops, neighbourhood centres) or the drive network (chargers).
    points : GeoDataFrame or GeoSeries
        The facilities, any CRS.
    units : GeoDataFrame
        Demand units (:func:`mtown_geo.demand.grid` over the built-up area) with ``weight``.
    dist_m, time_min : float
        The threshold: exactly one of a distance (metres) or a time (minutes).
    weight : str or None
        Column of ``units`` to weight by (default ``"area_m2"``: the built-up area;
        ``None``: every unit counts 1), see :func:`mtown_geo.demand.weights`.
    """
    return _network_coverage(network, points, units, dist_m=dist_m, time_min=time_min, weight=weight, reach=None)


def _network_coverage(
    network: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    units: gpd.GeoDataFrame,
    *,
    dist_m: float | None,
    time_min: float | None,
    weight: str | None,
    reach: _LazyReach | None,
) -> float:
    """:func:`network_coverage`, the times read from ``reach`` when given (the search of the
    same points on the same network with a limit of at least the threshold)."""
    if (dist_m is None) == (time_min is None):
        raise InputError("give exactly one of dist_m or time_min")
    if dist_m is not None:
        if not dist_m > 0:
            raise InputError(f"dist_m must be positive, got {dist_m}")
        minutes = float(dist_m) / (network.speed_kmh * 1000.0 / 60.0)
    elif time_min is not None:
        if not time_min > 0:
            raise InputError(f"time_min must be positive, got {time_min}")
        minutes = float(time_min)
    w = _demand.weights(units, weight)
    t = (
        minutes_to(network, points, units, max_time_min=minutes)
        if reach is None
        else _minutes_at(reach.get(), units, max_time_min=minutes)
    )
    return float(w[t <= minutes + 1e-9].sum() / w.sum())


def minutes_to(
    network: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    origins: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    max_time_min: float,
) -> np.ndarray:
    """Travel time (minutes) from each origin to the nearest point along the network (inf beyond the limit).

    One search of the engine (:func:`mtown_geo.access.travel_times`) with all points as one category.
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if len(geoms) == 0:
        return np.full(len(origins), np.inf)
    fac = _frames.geo_frame({"category": ["point"] * len(geoms)}, geoms.to_numpy(), geoms.crs)
    t = access.travel_times(network, fac, origins, categories=["point"], max_time_min=max_time_min)
    return t["point"].to_numpy(float)


def _point_reach(network: Network, points: gpd.GeoDataFrame | gpd.GeoSeries, *, max_time_min: float) -> access.Reach:
    """The search :func:`minutes_to` makes (all points one category), kept to read the times of
    several sets of origins (:func:`_minutes_at`). ``points`` must not be empty."""
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    fac = _frames.geo_frame({"category": ["point"] * len(geoms)}, geoms.to_numpy(), geoms.crs)
    return access.reach(network, fac, categories=["point"], max_time_min=max_time_min, labels=False)


class _LazyReach:
    """:func:`_point_reach` made when first asked for (:meth:`get`), then kept: several sets of
    origins read their times from one search, which runs where the first of them needs it."""

    def __init__(self, network: Network, points: gpd.GeoDataFrame | gpd.GeoSeries, *, max_time_min: float) -> None:
        self._args = (network, points, float(max_time_min))
        self._reach: access.Reach | None = None

    def get(self) -> access.Reach:
        if self._reach is None:
            network, points, limit = self._args
            self._reach = _point_reach(network, points, max_time_min=limit)
        return self._reach


def _minutes_at(reach: access.Reach, origins: gpd.GeoDataFrame | gpd.GeoSeries, *, max_time_min: float) -> np.ndarray:
    """:func:`minutes_to` the reach's points with the limit ``max_time_min`` (at most the reach's).

    The same times: node times within a limit do not depend on how far the search went on, and
    an origin's time is at least its node's, so the times over ``max_time_min`` are the only
    ones a longer search adds; they are set to inf as the shorter search leaves them.
    """
    if not max_time_min > 0:
        raise InputError(f"max_time_min must be positive, got {max_time_min}")
    if max_time_min > reach.max_time_min:
        raise InputError(f"the reach was searched to {reach.max_time_min:g} minutes, not {max_time_min:g}")
    t = reach.at(origins)["point"].to_numpy(float, copy=True)
    t[t > max_time_min] = np.inf
    return t


def village_reach(
    villages: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    dists_m: Iterable[float],
) -> pd.DataFrame:
    """Each village's straight-line distance to the nearest point, and whether it is within each distance.

    Returns
    -------
    DataFrame
        Indexed like ``villages``: ``dist_m`` (inf when there is no point) and one boolean
        column ``within_<d>m`` per distance.
    """
    crs = _crs.require_projected(villages, what="village layer")
    vpts = _points_of(villages, crs, what="village layer")
    spts = _points_of(points, crs, what="point layer")
    spts = spts[np.array([p is not None for p in spts], dtype=bool)]
    dist = np.full(len(villages), np.inf)
    ok = np.array([p is not None for p in vpts], dtype=bool)
    if len(spts) and ok.any():
        tree = shapely.STRtree(spts)
        _, d = tree.query_nearest(vpts[ok], return_distance=True, all_matches=False)
        dist[ok] = d
    out = pd.DataFrame({"dist_m": dist}, index=villages.index)
    for d_m in dists_m:
        out[f"within_{d_m:g}m"] = dist <= float(d_m) + 1e-9
    return out


def served(stop_ids: Iterable[str], routes: pd.DataFrame, *, route: str = "bus") -> np.ndarray | None:
    """Whether each stop (``node/123``, ``way/45`` ids) is a member of a route relation.

    Parameters
    ----------
    stop_ids : iterable of str
        The stops' OSM ids as ``<type>/<id>``.
    routes : DataFrame
        Route relations with ``route``, ``ways`` and ``nodes`` member lists (an extract's
        :attr:`~mtown_geo.sources.OSMExtract.routes`).

    Returns
    -------
    ndarray of bool, or None
        None when the data holds no relation of that route type (served or not is then unknown).
    """
    members = _route_members(routes, route)
    if members is None:
        return None
    stops = [str(s) for s in stop_ids]
    out = np.zeros(len(stops), dtype=bool)
    for kind, ids in members.items():
        # the stops of this kind written as "<kind>/<id>", the id as int() writes it
        pos, num = [], []
        for k, s in enumerate(stops):
            head, sep, tail = s.partition("/")
            if sep and head == kind and _INT.fullmatch(tail) and str(int(tail)) == tail:
                pos.append(k)
                num.append(int(tail))
        if pos:
            out[pos] = _members_in(np.array(num), ids)
    return out


def _served_by_id(osm_type: np.ndarray, osm_id: np.ndarray, routes: pd.DataFrame, *, route: str = "bus") -> np.ndarray | None:
    """:func:`served` of the stops ``<osm_type>/<osm_id>`` (an extract's selection, ids as
    integers; ``routes``: the extract's route table, whose members are kept): the same
    flags, the ids not written as text and read back."""
    ids_ = np.asarray(osm_id)
    if ids_.dtype.kind not in "iu":  # as text, as served() reads it
        return served([f"{t}/{i}" for t, i in zip(osm_type, ids_, strict=True)], routes, route=route)
    members = _route_members(routes, route, keep=True)
    if members is None:
        return None
    types = np.asarray(osm_type, dtype=object)
    out = np.zeros(len(types), dtype=bool)
    for kind, ids in members.items():
        pos = np.flatnonzero(types == kind)
        if len(pos):
            out[pos] = _members_in(ids_[pos], ids)
    return out


def _members_in(cand: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Whether each candidate id is one of ``ids`` (:func:`_route_members`: sorted, distinct, not
    empty); ids that are not all integers of one type are compared as Python integers."""
    if cand.dtype.kind not in "iu" or ids.dtype.kind not in "iu":
        cand, ids = cand.astype(object), ids.astype(object)
    if cand.dtype == ids.dtype and cand.dtype.kind in "iu":
        at = np.minimum(np.searchsorted(ids, cand), len(ids) - 1)
        return ids[at] == cand
    return np.isin(cand, ids)


#: :func:`_route_members` of the last few route tables (the table itself is kept with its members).
_MEMBERS: dict[tuple[int, int, str], tuple[pd.DataFrame, dict[str, np.ndarray] | None]] = {}

_MEMBERS_LOCK = threading.Lock()

#: Route tables whose members are kept: a batch cuts all its towns from one extract, whose
#: route relations every town shares.
_MEMBERS_SIZE = 4


def _route_members(routes: pd.DataFrame, route: str, *, keep: bool = False) -> dict[str, np.ndarray] | None:
    """The member ids of the relations of one route type, per member kind (``node``, ``way``;
    kinds without members left out), sorted and distinct; None when the table holds no
    relation of that type.

    ``keep``: the table is an extract's (:attr:`OSMExtract.routes`, never changed in place).
    Every town cut from an extract shares its route table (:meth:`OSMExtract.subset` keeps
    all relations), so the members of the last few such tables are kept, each with the table
    it was read from. A table handed in by a caller of :func:`served` is read afresh.
    """
    key = (id(routes), len(routes), route)
    hit = _MEMBERS.get(key) if keep else None
    if hit is not None and hit[0] is routes:
        return hit[1]
    rel = routes[routes["route"] == route] if len(routes) and "route" in routes else routes.iloc[0:0]
    found: dict[str, np.ndarray] | None = None
    if len(rel):
        found = {}
        for col, kind in (("nodes", "node"), ("ways", "way")):
            if col not in rel:
                continue
            lists = [ids for ids in rel[col] if isinstance(ids, (list, tuple, np.ndarray)) and len(ids)]
            if not lists:
                continue
            flat = list(itertools.chain.from_iterable(lists))
            members = np.array(flat)
            if members.dtype.kind not in "iu":  # not all integers (or beyond int64): as int() reads them
                members = np.array([int(i) for i in flat], dtype=object)
            found[kind] = np.unique(members)
    if keep:
        with _MEMBERS_LOCK:
            _MEMBERS[key] = (routes, found)
            while len(_MEMBERS) > _MEMBERS_SIZE:
                _MEMBERS.pop(next(iter(_MEMBERS)))
    return found
