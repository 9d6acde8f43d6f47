"""邻里中心全覆盖: neighbourhood centres within walking reach, and per community (policy task 5).

Candidates are the ``neighbourhood_centre`` facility category (``amenity=community_centre``
and the names 邻里中心, 党群服务中心, 社区服务中心…) plus the planner's own points. "全覆盖" is
read two ways (both assumptions, labelled in the report):

* by walking: the share of residential land (the demand units' weight) within 5 and 15
  minutes' walk along the streets (:func:`mtown_geo.transit.network_coverage`, the engine);
* by community: each 社区 (the study's zones) has a centre inside it or within 500 m
  (:func:`zones`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _frames, transit
from . import crs as _crs
from . import demand as _demand
from ._errors import InputError, ProfileError
from .network import Network
from .standards import NeighbourhoodRules, Profile, resolve

__all__ = ["NeighbourhoodAssessment", "assess", "zones"]

log = logging.getLogger(__name__)


def _rules(profile: Profile | str | Path | None) -> NeighbourhoodRules:
    prof = resolve(profile)
    if prof.tasks is None or prof.tasks.neighbourhood is None:
        raise ProfileError(f"the profile {prof.name!r} has no tasks.neighbourhood section")
    return prof.tasks.neighbourhood


def zones(
    communities: gpd.GeoDataFrame,
    centres: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    name_col: str = "name",
    dist_m: float = 500.0,
) -> pd.DataFrame:
    """For each community (社区) polygon: a centre inside it, the distance to the nearest, covered or not.

    Parameters
    ----------
    communities : GeoDataFrame
        Community polygons in a projected metric CRS, with ``name_col``.
    centres : GeoDataFrame or GeoSeries
        Neighbourhood centres, any CRS (areas count by their outline).
    dist_m : float
        A centre this close to the community (straight line from its boundary) covers it.

    Returns
    -------
    DataFrame
        Indexed like ``communities``: ``zone`` (the name), ``n_inside`` (centres inside),
        ``dist_m`` (to the nearest centre, 0 inside, inf when there is none) and ``covered``.
    """
    crs = _crs.require_projected(communities, what="community layer")
    if name_col not in communities:
        raise InputError(f"the community layer has no {name_col!r} column")
    if dist_m < 0:
        raise InputError(f"dist_m must be >= 0 metres, got {dist_m}")
    zg = np.asarray(communities.geometry.values, dtype=object)
    geoms = centres.geometry if isinstance(centres, gpd.GeoDataFrame) else centres
    _crs.require_crs(geoms, what="centre layer")
    cg = np.asarray(geoms.to_crs(crs).values, dtype=object)
    cg = cg[~(shapely.is_missing(cg) | shapely.is_empty(cg))]
    n_inside = np.zeros(len(zg), dtype=np.int64)
    dist = np.full(len(zg), np.inf)
    if len(cg):
        tree = shapely.STRtree(cg)
        zi, _ = tree.query(zg, predicate="intersects")
        n_inside = np.bincount(zi, minlength=len(zg))
        _, d = tree.query_nearest(zg, return_distance=True, all_matches=False)
        dist = d
    dist = np.where(n_inside > 0, 0.0, dist)
    return pd.DataFrame(
        {
            "zone": communities[name_col].to_numpy(),
            "n_inside": n_inside,
            "dist_m": dist,
            "covered": dist <= dist_m + 1e-9,
        },
        index=communities.index,
    )


@dataclass
class NeighbourhoodAssessment:
    """Neighbourhood centres against residential land and communities.

    Attributes
    ----------
    n_centres : int
    walk_min, walk_long_min : float
    rate, rate_long : float or None
        Share of the demand weight within ``walk_min`` / ``walk_long_min`` minutes' walk;
        None without a centre (data missing, not 0).
    weight : str or None
        The demand units' column the rates are weighted by (None: every unit counts 1).
    zones : DataFrame or None
        :func:`zones` per community; None without communities.
    zone_rate : float or None
        Share of communities covered.
    times_min : Series or None
        Walking minutes from each demand unit to the nearest centre (inf beyond the longer time).
    notes : list of str
    """

    n_centres: int
    walk_min: float
    walk_long_min: float
    rate: float | None
    rate_long: float | None
    weight: str | None
    zones: pd.DataFrame | None
    zone_rate: float | None
    times_min: pd.Series | None = None
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The headline figures as a one-row DataFrame (notes joined by ``"; "``); per community is :attr:`zones`."""
        return _frames.one_row(self)


def assess(
    centres: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    walk: Network,
    *,
    weight: str | None = "res_area_m2",
    communities: gpd.GeoDataFrame | None = None,
    name_col: str = "name",
    profile: Profile | str | Path | None = None,
) -> NeighbourhoodAssessment:
    """Residential land within 5 and 15 minutes' walk of a centre, and communities with one.

    Parameters
    ----------
    centres : GeoDataFrame
        Neighbourhood centres (points or areas, any CRS).
    units : GeoDataFrame
        Demand units over the built-up area with the ``weight`` column.
    walk : Network
        The walk network.
    weight : str or None
        Demand weight column (default ``"res_area_m2"``: residential land; ``"pop"``,
        ``"area_m2"``, any numeric column; ``None``: every unit counts 1), see
        :func:`mtown_geo.demand.weights`.
    communities : GeoDataFrame, optional
        Community (社区) polygons with ``name_col``, for the per-community reading.
    profile : Profile, str or path, optional
        Supplies ``tasks.neighbourhood`` (default ``zhejiang-2023``).
    """
    rules = _rules(profile)
    weight = _demand.weight_name(weight)
    notes: list[str] = []
    ztab = None
    zrate = None
    if communities is not None and len(communities):
        ztab = zones(communities, centres, name_col=name_col, dist_m=rules.zone_dist_m)
        zrate = float(ztab["covered"].mean())
    if len(centres) == 0:
        notes.append("no neighbourhood centre in the data: coverage unknown (not 0 %); give the planner's points")
        return NeighbourhoodAssessment(
            n_centres=0,
            walk_min=rules.walk_min,
            walk_long_min=rules.walk_long_min,
            rate=None,
            rate_long=None,
            weight=weight,
            zones=ztab,
            zone_rate=None,
            notes=notes,
        )
    w = _demand.weights(units, weight)
    # one search at the longer time gives both readings
    t = transit.minutes_to(walk, centres, units, max_time_min=max(rules.walk_min, rules.walk_long_min))
    rate = float(w[t <= rules.walk_min + 1e-9].sum() / w.sum())
    rate_long = float(w[t <= rules.walk_long_min + 1e-9].sum() / w.sum())
    return NeighbourhoodAssessment(
        times_min=pd.Series(t, index=units.index, name="walk_min"),
        n_centres=len(centres),
        walk_min=rules.walk_min,
        walk_long_min=rules.walk_long_min,
        rate=rate,
        rate_long=rate_long,
        weight=weight,
        zones=ztab,
        zone_rate=zrate,
        notes=notes,
    )
