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

import logging
from collections.abc import Iterable
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
        return gpd.GeoDataFrame({"name": [], "n_features": [], "served": []}, geometry=[], crs=target)
    xy = shapely.get_coordinates(pts[ok])
    labels, centres = _points.merge(xy, dist)
    names = stops["name"].to_numpy(dtype=object)[ok] if "name" in stops else np.full(len(xy), None, dtype=object)
    df = pd.DataFrame({"g": labels, "name": names})
    joined = df.groupby("g")["name"].agg(_joined_names)
    out = gpd.GeoDataFrame(
        {"name": joined.to_numpy(), "n_features": np.bincount(labels)},
        geometry=shapely.points(centres),
        crs=target,
    )
    if "served" in stops:
        served_ = pd.Series(stops["served"].to_numpy(dtype=bool)[ok]).groupby(labels).any()
        out["served"] = served_.to_numpy()
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
    if not radius_m > 0:
        raise InputError(f"radius_m must be positive, got {radius_m}")
    crs = _geom.target_crs(area, what="area")
    geom = _geom.polygon_union(area, crs=crs, what="area", drop_empty=True)
    total = float(geom.area)
    pts = _points_of(points, crs, what="point layer")
    pts = pts[np.array([p is not None for p in pts], dtype=bool)]
    if len(pts) == 0:
        return AreaCoverage(float(radius_m), 0.0, total, 0.0, shapely.Polygon(), geom)
    circles = shapely.union_all(shapely.buffer(pts, radius_m, quad_segs=QUAD_SEGS))
    covered = shapely.intersection(geom, circles)
    gaps = shapely.difference(geom, circles)
    c = float(covered.area)
    return AreaCoverage(float(radius_m), c, total, c / total, covered, gaps)


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
    t = minutes_to(network, points, units, max_time_min=minutes)
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
    fac = gpd.GeoDataFrame({"category": ["point"] * len(geoms)}, geometry=geoms.to_numpy(), crs=geoms.crs)
    t = access.travel_times(network, fac, origins, categories=["point"], max_time_min=max_time_min)
    return t["point"].to_numpy(float)


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
    rel = routes[routes["route"] == route] if len(routes) and "route" in routes else routes.iloc[0:0]
    if len(rel) == 0:
        return None
    members: set[str] = set()
    for col, kind in (("nodes", "node"), ("ways", "way")):
        if col in rel:
            for ids in rel[col]:
                if isinstance(ids, (list, tuple, np.ndarray)):
                    members.update(f"{kind}/{int(i)}" for i in ids)
    return np.array([str(s) in members for s in stop_ids], dtype=bool)
