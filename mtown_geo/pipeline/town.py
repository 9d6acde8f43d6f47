"""The town a study describes, built once: boundaries, facilities, residential land and demand
units in one metric CRS, and one network per travel mode, built when first asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import _geom, access, demand
from .. import crs as _crs
from .._errors import (
    StudyError,
)
from ..lifecircle import categories_of
from ..network import Network
from ..standards import Profile
from . import inputs
from .schema import Study

log = logging.getLogger(__name__)


@dataclass
class Town:
    """A study's inputs once read: boundaries (as read), and the facilities, residential land
    and demand units in the town's metric CRS (``metric``); one network per mode, built when
    first asked for."""

    study: Study
    profile: Profile
    town: gpd.GeoDataFrame
    built: gpd.GeoDataFrame
    metric: Any
    facilities: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    weight: str  # the demand units' column the rates are weighted by (res_area_m2, pop, area_m2)
    networks: dict[str, Network] = field(default_factory=dict)
    sources: list[inputs.FacilitySource] = field(default_factory=list)
    attachments: dict[str, access.Attachment] = field(default_factory=dict)
    reaches: dict[str, access.Reach | None] = field(default_factory=dict)
    #: each computed circle's demand units (as given to ``times_at``, in its network's CRS) and weight
    circle_demand: dict[str, tuple[gpd.GeoDataFrame, str | None]] = field(default_factory=dict)
    #: the study's park land (:func:`mtown_geo.pipeline.inputs.park_layer`), read when first asked for
    _parks: gpd.GeoDataFrame | None = field(default=None, repr=False)
    #: the town buffered by the network's ``buffer_m`` (:meth:`town_reach`), made when first asked for
    _reach: shapely.Geometry | None = field(default=None, repr=False)
    #: the residential land inside the built-up area (:meth:`residential_land`), as the demand units measured it
    _land: shapely.Geometry | None = field(default=None, repr=False)

    def network(self, mode: str) -> Network:
        return inputs.network_for(self.study, self.profile, mode, self.town, self.networks)

    def park_layer(self) -> gpd.GeoDataFrame:
        """The study's park land in the metric CRS (:func:`mtown_geo.pipeline.inputs.park_layer`),
        read once: the parks step and the green-land task share it. Each call returns a copy."""
        if self._parks is None:
            self._parks = inputs.park_layer(self.study, self.profile, boundary=self.town, crs=self.metric)
        return self._parks.copy()

    def town_reach(self) -> shapely.Geometry:
        """The town (its boundary's union in the metric CRS) buffered by the study's
        ``network.buffer_m``: where the features that serve the town may lie. Made once."""
        if self._reach is None:
            town = _geom.polygon_union(self.town, crs=self.metric, what="town boundary")
            self._reach = _geom.buffered(town, self.study.network.buffer_m)
        return self._reach

    def residential_land(self) -> shapely.Geometry:
        """The residential land inside the built-up area, in the metric CRS: the land the
        residential-weighted rates measure, as :func:`mtown_geo.demand.with_residential` cut
        it for the demand units (the same unions and intersection, made once per town).
        Empty when the study gives no residential land."""
        if not len(self.residential):
            return shapely.GeometryCollection()
        if self._land is None:
            area = _geom.polygon_union(self.built.to_crs(self.metric), crs=self.metric, what="area")
            self._land = demand._land_inside(
                self.residential, area, crs=self.metric, what="residential land layer", allow_empty=True
            )
        return self._land

    def attachment(self, mode: str) -> access.Attachment:
        """The facilities attached once to the mode's network (:func:`mtown_geo.access.attach`).

        On foot every facility is attached (the ``facilities`` layer's ``access_points``,
        ``snap_dist_m`` and ``status`` come from it); on another mode only the categories of
        the study's circles on that mode. Every circle of the mode searches from it
        (:meth:`~mtown_geo.access.Attachment.select`): no facility is snapped twice.
        """
        if mode not in self.attachments:
            cats: list[str] | None = None
            if mode != "walk":
                circles = self.study.circles if self.study.circles is not None else list(self.profile.circles)
                cats = sorted(
                    {c for name in circles if self.profile.circles[name].mode == mode for c in categories_of(self.profile, name)}
                )
            self.attachments[mode] = access.attach(self.network(mode), self.facilities, categories=cats)
        return self.attachments[mode]


def build_town(st: Study, prof: Profile, notes: list[str], *, check_coordinates: bool = False) -> Town:
    """Read a study's inputs and project each once into the town's metric CRS.

    The facilities are projected once as they are read (the OSM features by the clip that
    keeps those near the town, :func:`mtown_geo.facilities.from_osm` with ``crs=``), checked
    against the streets when ``check_coordinates``
    (:func:`mtown_geo.pipeline.inputs.check_coordinates`, on the coordinates as read); every
    later step measures them as they are.
    """
    inputs.require_inputs(st)
    town, built = inputs.boundaries(st)
    metric = _crs.metric_crs(town)
    built_m = built.to_crs(metric)
    inputs.check_run_memory(st, prof, built_m)
    sources: list[inputs.FacilitySource] = []
    fac = inputs.facility_layer(st, prof, town, st.network.buffer_m, sources, crs=metric)
    # the built-up area unioned once for the grid and the residential land (demand.grid's own union)
    area, area_crs = demand._area_geometry(built_m)
    reach_m = inputs.shortest_reach_m(prof, inputs.grid_circles(st, prof))
    units = demand._grid_over(area, area_crs, cell_m=st.demand.cell_m, reach_m=reach_m)
    residential = inputs.residential(st, metric, town)
    units, land = _with_residential(units, residential, area)
    units = _with_population(st, units, built_m, notes)
    if st.zones is not None:
        units = _with_zones(st, units, metric)
    weight = st.demand.column
    if weight == "res_area_m2" and units["res_area_m2"].sum() <= 0:
        notes.append(
            "no residential land inside the built-up area: coverage rates use the built-up area itself "
            "(weight=area); give residential land under `residential:` for the official denominator"
        )
        weight = "area_m2"
    tw = Town(st, prof, town, built, metric, fac, residential, units, weight, sources=sources, _land=land)
    if check_coordinates:
        inputs.check_coordinates(st, prof, fac, sources, tw.network, notes)
    return tw


def _with_residential(
    units: gpd.GeoDataFrame, residential: gpd.GeoDataFrame, area: shapely.Geometry
) -> tuple[gpd.GeoDataFrame, shapely.Geometry | None]:
    """The units with their residential land inside the built-up ``area`` (its union in the units'
    CRS; :func:`mtown_geo.demand.with_residential`), and the land they measured
    (:meth:`Town.residential_land`; None without residential land)."""
    if residential.empty:
        return units, None
    return demand._residential_cut(units, residential.to_crs(units.crs), area_geom=area)


def _pop_per_cell(units: gpd.GeoDataFrame, pop_units: gpd.GeoDataFrame) -> np.ndarray:
    """People of each grid cell: the sum of the population units whose point falls in it
    (a point on a cell's edge goes to one cell only)."""
    cells = demand.cells(units)
    idx = cells.sindex.query(pop_units.geometry.to_crs(units.crs), predicate="intersects")
    idx = idx[:, np.unique(idx[0], return_index=True)[1]]
    pop = np.zeros(len(units))
    np.add.at(pop, idx[1], pop_units["pop"].to_numpy()[idx[0]])
    return pop


def _with_population(st: Study, units: gpd.GeoDataFrame, built: gpd.GeoDataFrame, notes: list[str]) -> gpd.GeoDataFrame:
    spec = st.population
    out = units.copy()
    if spec.raster is not None:
        cells = demand.from_raster(st.path(spec.raster), area=built, min_coverage=spec.min_coverage)
        out["pop"] = _pop_per_cell(units, cells)
        rep = cells.attrs.get("raster_report", {})
        notes.append(
            f"population from the raster {spec.raster}: its valid cells cover {rep.get('coverage', float('nan')):.1%} "
            f"of the built-up area (at least {spec.min_coverage:.0%} required), {rep.get('pop', float('nan')):,.0f} people"
        )
    elif spec.census is not None:
        census = inputs.read_layer(st, spec.census)
        col = spec.count_col or next((c for c in ("pop", "POPU", "常住人口", "人口", "population") if c in census), None)
        if col is None or col not in census:
            raise StudyError(f"population.census: {spec.census} has no count column; set population.count_col")
        # areal weighting: each census polygon's count spread by area over the grid cells (clipped
        # to the built-up area); people living outside the built-up area are not counted
        census = census.to_crs(units.crs)
        census = census.assign(_count=pd.to_numeric(census[col], errors="coerce"), _area=census.area)
        if census["_count"].isna().any() or (census["_count"] < 0).any():
            raise StudyError(f"population.census: column {col!r} of {spec.census} must hold non-negative numbers")
        cells = demand.cells(units).assign(_cell=np.arange(len(units)))
        cells = cells.set_geometry(cells.geometry.intersection(built.to_crs(units.crs).union_all()))
        parts = gpd.overlay(
            cells[["_cell", "geometry"]], census[["_count", "_area", "geometry"]], how="intersection", keep_geom_type=True
        )
        people = parts["_count"] * parts.area / parts["_area"]
        out["pop"] = np.bincount(parts["_cell"].to_numpy(), weights=people.to_numpy(), minlength=len(units))
        notes.append(
            f"population from the census polygons of {spec.census} (column {col!r}), spread by area inside the built-up area"
        )
    elif spec.total is not None:
        # spread the resident population over residential land (else over the area)
        w = out["res_area_m2"].to_numpy() if out["res_area_m2"].sum() > 0 else out["area_m2"].to_numpy()
        out["pop"] = spec.total * w / w.sum()
        notes.append("population spread over residential land in proportion to its area (no population raster given)")
    return out


def _with_zones(st: Study, units: gpd.GeoDataFrame, metric: Any) -> gpd.GeoDataFrame:
    z, col = inputs.zone_polygons(st, metric)
    return demand.assign_zones(units, z, zone_col=col)
