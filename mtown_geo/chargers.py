"""新能源充电桩: public car chargers within reach of the built-up area and the villages (policy task 3).

Zhejiang's 2023 aim is a "城市五分钟、城乡半小时充电圈"; Beijing's and Hangzhou's urban cores aimed
at a public-charger service radius of 0.9 km. From a layer of charging stations (the
``charging_station`` facility category: OSM ``amenity=charging_station`` /
``man_made=charge_point`` and the planner's points), with a ``public`` flag:

* :func:`stations` — car chargers only (e-bike chargers dropped upstream by the profile's
  tags and names), points closer than ``merge_dist_m`` (a station and its charge points) one
  station;
* :func:`assess` — the share of the built-up area within the radius (straight line), within
  a 5-minute drive (the engine on the drive network), the share of villages within 30
  minutes' drive, and the number of public stations inside the town.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _frames, _geom, transit
from . import crs as _crs
from ._errors import InputError, ProfileError
from .network import Network
from .standards import ChargerRules, Profile, resolve

__all__ = ["ChargerAssessment", "assess", "stations"]

log = logging.getLogger(__name__)


def _rules(profile: Profile | str | Path | None) -> ChargerRules:
    prof = resolve(profile)
    if prof.tasks is None or prof.tasks.chargers is None:
        raise ProfileError(f"the profile {prof.name!r} has no tasks.chargers section")
    return prof.tasks.chargers


def stations(
    chargers: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    public_only: bool = True,
    crs: object = None,
) -> gpd.GeoDataFrame:
    """Charging stations as points, the public ones (``public`` column) only by default, merged.

    Parameters
    ----------
    chargers : GeoDataFrame
        Car chargers (points or areas, any CRS) with an optional ``public`` column (missing:
        all public) and ``name``.
    public_only : bool
        Keep only the public ones.
    crs : optional
        Projected CRS of the result (default :func:`mtown_geo.crs.metric_crs` of the layer).

    Returns
    -------
    GeoDataFrame
        One point per station (:func:`mtown_geo.transit.merge_stops` with the profile's
        ``merge_dist_m``): ``name``, ``n_features``.
    """
    rules = _rules(profile)
    if not isinstance(chargers, gpd.GeoDataFrame):
        raise InputError(f"chargers must be a GeoDataFrame, got {type(chargers).__name__}")
    sel = chargers
    if public_only and "public" in chargers:
        sel = chargers[chargers["public"].fillna(True).astype(bool).to_numpy()]
    target = crs if crs is not None else _crs.metric_crs(chargers) if len(chargers) else None
    if len(sel) == 0:
        return gpd.GeoDataFrame({"name": [], "n_features": []}, geometry=[], crs=target)
    return transit.merge_stops(sel, merge_dist_m=rules.merge_dist_m, crs=target)


@dataclass
class ChargerAssessment:
    """Public car chargers against the built-up area, the villages and the town.

    Attributes
    ----------
    n_stations : int
        Public stations (merged) inside the town (镇域) — "the town has a public station"
        when ≥ 1.
    n_nearby : int
        Public stations used (inside the town or within the search buffer around it).
    radius_m : float
    radius_rate : float or None
        Share of the built-up area within ``radius_m`` straight line (0–1); None without a
        station (data missing, not 0).
    drive_min : float
    drive_rate : float or None
        Share of the built-up area's demand units (by area) within ``drive_min`` minutes'
        drive; None without a station or a drive network.
    village_drive_min : float
    n_villages : int
    village_rate : float or None
        Share of villages within ``village_drive_min`` minutes' drive.
    villages : DataFrame
        Per village: ``name``, ``drive_min`` (inf beyond the limit), ``within``.
    layers : dict of GeoDataFrame
        ``chargers`` (the stations), ``charger_gaps`` (built-up land beyond the radius).
    notes : list of str
    """

    n_stations: int
    n_nearby: int
    radius_m: float
    radius_rate: float | None
    drive_min: float
    drive_rate: float | None
    village_drive_min: float
    n_villages: int
    village_rate: float | None
    villages: pd.DataFrame
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The headline figures as a one-row DataFrame (notes joined by ``"; "``); one row per village is :attr:`villages`."""
        return _frames.one_row(self)


def assess(
    chargers: gpd.GeoDataFrame,
    builtup: gpd.GeoDataFrame,
    *,
    town: gpd.GeoDataFrame | None = None,
    units: gpd.GeoDataFrame | None = None,
    drive: Network | None = None,
    villages: gpd.GeoDataFrame | None = None,
    profile: Profile | str | Path | None = None,
) -> ChargerAssessment:
    """Public car chargers: radius coverage, 5-minute drive, villages within 30 minutes, count in town.

    Parameters
    ----------
    chargers : GeoDataFrame
        Car chargers with a ``public`` flag (see :func:`stations`), any CRS.
    builtup : GeoDataFrame
        The built-up area in any CRS (a geographic one is projected to :func:`mtown_geo.crs.metric_crs`) (the denominator of the rates).
    town : GeoDataFrame, optional
        The town (镇域): stations inside it are counted (default: the built-up area).
    units : GeoDataFrame, optional
        Demand units over the built-up area (``area_m2``) for the drive-time share.
    drive : Network, optional
        The drive network, for the drive-time shares.
    villages : GeoDataFrame, optional
        Village points for the 30-minute share.
    profile : Profile, str or path, optional
        Supplies ``tasks.chargers`` (default ``zhejiang-2023``).

    Returns
    -------
    ChargerAssessment
    """
    rules = _rules(profile)
    crs = _geom.target_crs(builtup, what="built-up area")
    st = stations(chargers, profile=profile, crs=crs)
    notes: list[str] = []
    scope = _geom.polygon_union(
        town if town is not None else builtup, crs=crs, what="town" if town is not None else "built-up area", drop_empty=True
    )
    shapely.prepare(scope)
    inside = shapely.covers(scope, np.asarray(st.geometry.values)) if len(st) else np.zeros(0, bool)
    vil = villages.to_crs(crs) if villages is not None else None
    vtab = pd.DataFrame({"name": [], "drive_min": [], "within": []})
    layers: dict[str, gpd.GeoDataFrame] = {"chargers": st.assign(in_town=inside)}
    if len(st) == 0:
        notes.append("no public car charger in the data: coverage unknown (not 0 %)")
        return ChargerAssessment(
            n_stations=0,
            n_nearby=0,
            radius_m=rules.radius_m,
            radius_rate=None,
            drive_min=rules.drive_min,
            drive_rate=None,
            village_drive_min=rules.village_drive_min,
            n_villages=0 if vil is None else len(vil),
            village_rate=None,
            villages=vtab,
            layers=layers,
            notes=notes,
        )
    cov = transit.area_coverage(st, builtup, radius_m=rules.radius_m)
    layers["charger_gaps"] = gpd.GeoDataFrame({"radius_m": [rules.radius_m]}, geometry=[cov.gaps], crs=crs)
    drive_rate = None
    village_rate = None
    # the built-up area's and the villages' times from one search to the longer limit
    # (transit._minutes_at: the same times as a search of each limit)
    both = drive is not None and units is not None and len(units) and vil is not None and len(vil)
    limit = max(rules.drive_min, rules.village_drive_min)
    shared = transit._LazyReach(drive, st, max_time_min=limit) if both and drive is not None and limit > 0 else None
    if drive is not None and units is not None and len(units):
        drive_rate = transit._network_coverage(
            drive, st, units, dist_m=None, time_min=rules.drive_min, weight="area_m2", reach=shared
        )
    elif drive is None:
        notes.append("no drive network: the 5-minute drive share is not computed")
    if vil is not None and len(vil) and drive is not None:
        if shared is not None:
            t = transit._minutes_at(shared.get(), vil, max_time_min=rules.village_drive_min)
        else:
            t = transit.minutes_to(drive, st, vil, max_time_min=rules.village_drive_min)
        within = t <= rules.village_drive_min + 1e-9
        names = vil["name"].to_numpy(dtype=object) if "name" in vil else np.full(len(vil), None, dtype=object)
        vtab = pd.DataFrame({"name": names, "drive_min": t, "within": within}, index=vil.index)
        village_rate = float(within.mean())
    return ChargerAssessment(
        n_stations=int(inside.sum()),
        n_nearby=len(st),
        radius_m=rules.radius_m,
        radius_rate=cov.rate,
        drive_min=rules.drive_min,
        drive_rate=drive_rate,
        village_drive_min=rules.village_drive_min,
        n_villages=0 if vil is None else len(vil),
        village_rate=village_rate,
        villages=vtab,
        layers=layers,
        notes=notes,
    )
