"""Parks and their service radii: 公园绿地服务半径覆盖率 (row 8 of the 2023 policy annex).

A park serves the land within its *service radius* (服务半径), and the radius depends on
the park's size. The default rule of the ``zhejiang-2023`` profile (``mohurd-2021``, from
the 城市体检 2021 indicator notes) gives parks of 5000 m² and more a 500 m radius and parks
of 2000–5000 m² a 300 m radius; smaller parks have none. The indicator is

    residential land inside the built-up area within a park's service radius
    ÷ all residential land inside the built-up area.

Everything here is exact areal overlay in a projected metric CRS: park areas are polygon
areas, service areas are buffers of the park *boundary* (circular arcs drawn with 128
segments per quarter circle: a full circle's area is within 0.003 % of the true one's),
overlapping buffers are unioned (land is counted once) and the covered land is the
intersection of that union with the residential land — no sampling.

Touching pieces of one park (OSM often maps a park as several polygons split by its paths)
are merged before their size is measured, so a park of two 3000 m² halves counts as one
6000 m² park.

The *network* variant walks the same radii along the walk network from the parks'
entrances (OSM ``entrance=*`` or ``barrier=gate`` nodes on the park edge; else the points
where the walk network crosses the park boundary; else points along the boundary), on a
grid of demand units over the residential land, and is reported beside the official
straight-line rate. A walk is never shorter than the straight line, so land outside a
class's buffer is never counted as reached on foot.

Typical use::

    parks = mtown_geo.parks.from_osm("town.osm.pbf", boundary=town)
    cov = mtown_geo.parks.service_radius_coverage(parks, residential, builtup=builtup)
    cov.rate, cov.by_class
    layers = mtown_geo.parks.coverage_layers(parks, residential, builtup=builtup)

Data from OpenStreetMap is © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geopandas.array import from_shapely
from pyproj import CRS

from . import _frames, _geom, _words, access, demand
from ._errors import InputError
from .network import Network
from .parkland import (
    _ENTRANCE_DIST_M,
    _PERIMETER_SPACING_M,
    CLASS_COLUMNS,
    COLUMNS,
    LANDUSE_CLASSES,
    NAME_PATTERNS,
    EntrancePoints,
    _classify,
    _entrances,
    _flag_unverified,
    _park_spec,
    _resolve_rule,
    _Rule,
    classify,
    entrances,
    from_landuse,
    from_osm,
    rules,
)
from .standards import ParkRule, Profile, resolve

__all__ = [
    "CLASS_COLUMNS",
    "COLUMNS",
    "LANDUSE_CLASSES",
    "NAME_PATTERNS",
    "ParkAreaPerCapita",
    "ParkCoverage",
    "area_per_capita",
    "classify",
    "coverage_layers",
    "entrances",
    "from_landuse",
    "from_osm",
    "rules",
    "service_radius_coverage",
]

log = logging.getLogger(__name__)

_QUAD_SEGS = 128


# -- residential land ------------------------------------------------------------------------


def _residential_land(residential: Any, builtup: Any, crs: CRS) -> shapely.Geometry:
    if builtup is None:
        return _geom.polygon_union(residential, crs=crs, what="residential land", drop_empty=True)
    area = _geom.polygon_union(builtup, crs=crs, what="built-up area", drop_empty=True)
    land = _geom.polygonal(demand._land_inside(residential, area, crs=crs, what="residential land"))
    if land.is_empty or land.area <= 0:
        raise InputError(
            "no residential land lies inside the built-up area: the coverage rate has no denominator. "
            "Check that both layers cover the same town and are in the right CRS"
        )
    return land


# -- coverage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParkCoverage:
    """Park service-radius coverage of residential land (公园绿地服务半径覆盖率).

    Attributes
    ----------
    rule : str
        Key of the park rule used (e.g. ``"mohurd-2021"``).
    rule_name : str
        Its name, e.g. ``"城市体检 2021 (≥5000 m² → 500 m; 2000–5000 m² → 300 m)"``.
    verified : bool
        Whether the profile marks the rule as read in a source (``False``: an
        assumption, to be labelled as such wherever the number is reported).
    source : str
        Where the rule comes from.
    covered_m2 : float
        Residential land (inside the built-up area) within a park's service radius,
        straight-line buffer from the park boundary, m².
    total_m2 : float
        All residential land inside the built-up area, m².
    rate : float
        ``covered_m2 / total_m2`` (0–1).
    n_parks : int
        Parks that have a service radius (are in a size class).
    by_class : DataFrame
        One row per size class (index: class key) and a last row ``"none"`` for parks
        too small for any class: ``size_label``, ``min_area_m2``, ``max_area_m2``,
        ``radius_m``, ``parks``, ``park_area_m2``, ``covered_m2`` and ``rate`` (land
        within that class's radius; classes overlap, so they need not add up to the
        total), ``network_covered_m2`` and ``network_rate``.
    network_covered_m2 : float
        Residential land whose walk distance to an entrance of a park of some class is
        within that class's radius, m² (NaN when no network was given).
    network_rate : float
        ``network_covered_m2 / total_m2`` (NaN when no network was given).
    network_mode : str
        Mode of the network used (``""`` when none).
    notes : tuple of str
        What a reader must know: no park, unverified rule, parks too small, fallbacks.
    """

    rule: str
    rule_name: str
    verified: bool
    source: str
    covered_m2: float
    total_m2: float
    rate: float
    n_parks: int
    by_class: pd.DataFrame
    network_covered_m2: float
    network_rate: float
    network_mode: str
    notes: tuple[str, ...]
    layers: Mapping[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def percent(self) -> float:
        """The straight-line rate in percent (the figure of the policy annex)."""
        return 100.0 * self.rate

    def to_frame(self) -> pd.DataFrame:
        """The result as a one-row DataFrame (notes joined by ``"; "``)."""
        return pd.DataFrame(
            [
                {
                    "rule": self.rule,
                    "rule_name": self.rule_name,
                    "verified": self.verified,
                    "covered_m2": self.covered_m2,
                    "total_m2": self.total_m2,
                    "rate": self.rate,
                    "n_parks": self.n_parks,
                    "network_covered_m2": self.network_covered_m2,
                    "network_rate": self.network_rate,
                    "network_mode": self.network_mode,
                    "source": self.source,
                    "notes": "; ".join(self.notes),
                }
            ]
        )


@dataclass(frozen=True)
class _Overlay:
    rule: _Rule
    crs: CRS
    land: shapely.Geometry
    parks: gpd.GeoDataFrame
    buffers: dict[str, shapely.Geometry]
    covered: shapely.Geometry
    notes: list[str]
    net_units: gpd.GeoDataFrame | None = None
    net_covered: dict[str, shapely.Geometry] | None = None
    net_all: shapely.Geometry | None = None
    entrances: gpd.GeoDataFrame | None = None
    network_mode: str = ""


def _overlay(
    parks: gpd.GeoDataFrame,
    residential: Any,
    *,
    profile: Profile | str | Path | None,
    rule: str | ParkRule | None,
    builtup: Any,
    network: Network | None,
    entrance_points: Any,
    cell_m: float,
) -> _Overlay:
    prof = resolve(profile)
    rule_ = _resolve_rule(prof, rule)
    crs = _geom.target_crs(residential, what="residential land")
    if not isinstance(parks, gpd.GeoDataFrame):
        raise InputError(f"parks must be a GeoDataFrame of polygons, got {type(parks).__name__}")
    if network is not None:
        if not isinstance(network, Network):
            raise InputError(f"network must be a mtown_geo Network, got {type(network).__name__}")
        mode = prof.modes.get(network.mode)
        if mode is not None and mode.network != "walk":
            raise InputError(
                f"the network variant walks to the parks, but the network is of the {network.mode!r} mode: "
                "build a walk network with mtown_geo.network.from_osm(..., mode='walk')"
            )
    if not cell_m > 0:
        raise InputError(f"cell_m must be positive, got {cell_m}")
    land = _residential_land(residential, builtup, crs)
    notes: list[str] = []
    note = _flag_unverified(rule_)
    if note:
        notes.append(note)
    classed = _classify(parks, rule_, crs=crs)
    buffers: dict[str, shapely.Geometry] = {}
    for c in rule_.classes:
        geoms = classed.geometry.to_numpy()[(classed["size_class"] == c.key).to_numpy()]
        buffers[c.key] = (
            shapely.union_all(shapely.buffer(geoms, c.radius_m, quad_segs=_QUAD_SEGS)) if len(geoms) else shapely.Polygon()
        )
    reach_all = shapely.union_all(list(buffers.values()))
    covered = _geom.polygonal(shapely.intersection(land, reach_all))
    no_area = (classed["area_m2"] <= 0).to_numpy()
    n_small = int((classed["radius_m"].isna().to_numpy() & ~no_area).sum())
    if classed["radius_m"].notna().sum() == 0:
        notes.append(
            f"no park of {rule_.smallest_m2:g} m² or more among the {len(parks)} parks given: "
            "no land is within a park's service radius, the coverage is 0"
        )
    elif covered.area == 0:
        notes.append("no residential land lies within any park's service radius: the coverage is 0")
    if n_small:
        notes.append(
            f"{_words.count(n_small, 'park', 'parks')} smaller than {rule_.smallest_m2:g} m² "
            f"{_words.agree(n_small, 'has', 'have')} no service radius under rule {rule_.key!r}"
        )
    if no_area.any():
        notes.append(
            f"{_words.count(int(no_area.sum()), 'row of the park layer has', 'rows of the park layer have')} no polygon "
            f"(empty, point or line geometry) and {_words.agree(int(no_area.sum()), 'was', 'were')} ignored"
        )
    ov = _Overlay(rule=rule_, crs=crs, land=land, parks=classed, buffers=buffers, covered=covered, notes=notes)
    if network is None:
        return ov
    return _network_overlay(ov, network, entrance_points=entrance_points, cell_m=cell_m)


def _distance_network(network: Network) -> Network:
    """The network with every edge timed at the access speed, so that minutes × speed = metres.

    A copy with other edge times: it takes the walk network's edge trees and connected
    pieces as they are (:meth:`Network.with_edge_times`).
    """
    v = network.access_speed_kmh * 1000.0 / 60.0
    edges = network.edge_table
    t = edges["length_m"].to_numpy(dtype=float) / v
    back = np.where(np.isfinite(edges["time_rev_min"].to_numpy(dtype=float)), t, np.inf)
    return network.with_edge_times(t, back)


def _network_overlay(ov: _Overlay, network: Network, *, entrance_points: Any, cell_m: float) -> _Overlay:
    notes = list(ov.notes)
    if entrance_points is not None and isinstance(entrance_points, gpd.GeoDataFrame) and "size_class" in entrance_points:
        ent = entrance_points.to_crs(network.crs)
    else:
        ent = _entrances(
            ov.parks,
            network,
            points=entrance_points,
            max_dist_m=_ENTRANCE_DIST_M,
            crossings="always",
            spacing_m=_PERIMETER_SPACING_M,
        )
    ent = ent[ent["size_class"].notna()]
    units = demand.grid(gpd.GeoSeries([ov.land], crs=ov.crs), cell_m=cell_m)
    n = len(units)
    dist = {c.key: np.full(n, np.inf) for c in ov.rule.classes}
    v = network.access_speed_kmh * 1000.0 / 60.0
    ent_class = ent["size_class"].to_numpy()
    present = [c.key for c in ov.rule.classes if (ent_class == c.key).any()]
    if present:
        fac = _frames.geo_frame({"category": ent_class}, ent.geometry.to_numpy(), ent.crs)
        limit_min = ov.rule.max_radius_m / v * (1 + 1e-9) + 1e-9
        r = access.reach(_distance_network(network), fac, categories=present, max_time_min=limit_min)
        minutes = r.at(units)
        for k in present:
            dist[k] = minutes[k].to_numpy() * v
    perimeter = ent["via"].to_numpy() == "perimeter"
    if perimeter.any():
        n_p = ent["park"][perimeter].nunique()
        notes.append(f"network: {n_p} parks with no mapped entrance and no path into them are reached from their whole edge")
    cells = demand._cell_boxes(units)[0]
    origin = shapely.get_coordinates(units.geometry.to_numpy())
    # the units' columns, the cells, then the walk of each class: one frame made once
    columns: dict[str, Any] = {c: units[c].to_numpy() for c in units.columns if c != units.geometry.name}
    columns["geometry"] = from_shapely(cells, crs=units.crs)
    columns["origin_x"] = origin[:, 0]
    columns["origin_y"] = origin[:, 1]
    net_cov: dict[str, shapely.Geometry] = {}
    cov_any = np.zeros(n, dtype=bool)
    for c in ov.rule.classes:
        hit = dist[c.key] <= c.radius_m * (1 + 1e-9)
        cov_any |= hit
        columns[f"walk_m_{c.key}"] = dist[c.key]
        columns[f"covered_{c.key}"] = hit
        if hit.any():
            block = shapely.union_all(cells[hit])
            net_cov[c.key] = _geom.polygonal(shapely.intersection(shapely.intersection(block, ov.land), ov.buffers[c.key]))
        else:
            net_cov[c.key] = shapely.Polygon()
    columns["covered"] = cov_any
    out_units = gpd.GeoDataFrame(pd.DataFrame(columns, index=units.index), geometry="geometry")
    net_all = _geom.polygonal(shapely.union_all(list(net_cov.values())))
    return _Overlay(
        rule=ov.rule,
        crs=ov.crs,
        land=ov.land,
        parks=ov.parks,
        buffers=ov.buffers,
        covered=ov.covered,
        notes=notes,
        net_units=out_units,
        net_covered=net_cov,
        net_all=net_all,
        entrances=ent,
        network_mode=network.mode,
    )


def service_radius_coverage(
    parks: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    profile: Profile | str | Path | None = None,
    rule: str | ParkRule | None = None,
    builtup: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    network: Network | None = None,
    entrance_points: EntrancePoints | None = None,
    cell_m: float = 25.0,
    layers: bool = False,
) -> ParkCoverage:
    """Park service-radius coverage of residential land: row 8 of the policy annex.

    Each park gets the service radius of its size class under the rule; the radius is
    buffered from the park boundary; buffers are unioned (land within reach of two parks
    counts once) and intersected with the residential land inside the built-up area.
    All areas are exact polygon areas in the residential layer's metric CRS.

    Parameters
    ----------
    parks : GeoDataFrame
        Park polygons (:func:`from_osm`, :func:`from_landuse` or your own), any CRS.
        Parks outside the town serve the land within their radius. An empty layer gives
        a coverage of 0 with a note.
    residential : GeoDataFrame or GeoSeries
        Residential land (居住用地) polygons, any CRS (a geographic CRS is projected with
        :func:`mtown_geo.crs.metric_crs`). Overlapping polygons count once.
    profile : Profile, str or path, optional
        The standard profile (default ``zhejiang-2023``).
    rule : str or ParkRule, optional
        The park rule: ``"mohurd-2021"`` (default of ``zhejiang-2023``: ≥5000 m² → 500 m,
        2000–5000 m² → 300 m), ``"historic-district"``, ``"variant-1ha"``, or a
        :class:`~mtown_geo.standards.ParkRule`. An unverified rule issues an
        :class:`~mtown_geo.AssumptionWarning` and is flagged in the result.
    builtup : GeoDataFrame or GeoSeries, optional
        The built-up area (建成区); only residential land inside it counts. Default: all
        the residential land given.
    network : Network, optional
        A walk network: also measure the network variant (walk distance from park
        entrances within the same radii), reported in ``network_covered_m2`` and
        ``network_rate``.
    entrance_points : path, OSMExtract or GeoDataFrame, optional
        Where the network variant finds mapped park entrances (see :func:`entrances`;
        an OSM file gives its ``entrance`` and ``barrier=gate`` nodes), or the result of
        :func:`entrances` itself. Without it, parks are entered where paths cross their
        boundary.
    cell_m : float, optional
        Side of the demand-unit grid (m) over the residential land for the network
        variant (default 25): the walk distance of a cell is measured from its centre,
        and only the part of a reached cell within the class's straight-line buffer
        counts.
    layers : bool, optional
        Also return the map layers of :func:`coverage_layers` in ``ParkCoverage.layers``
        (from the same overlay, at no extra cost).

    Returns
    -------
    ParkCoverage

    Raises
    ------
    InputError
        Empty residential layer, residential land without area, or none inside the
        built-up area (the rate would have no denominator); unknown rule.
    CRSError
        A layer without CRS, or in a projected CRS not measured in metres.
    """
    ov = _overlay(
        parks,
        residential,
        profile=profile,
        rule=rule,
        builtup=builtup,
        network=network,
        entrance_points=entrance_points,
        cell_m=cell_m,
    )
    total = float(ov.land.area)
    rows = []
    for c in ov.rule.classes:
        in_c = (ov.parks["size_class"] == c.key).to_numpy()
        cov_c = float(shapely.intersection(ov.land, ov.buffers[c.key]).area) if in_c.any() else 0.0
        net_c = float(ov.net_covered[c.key].area) if ov.net_covered is not None else math.nan
        rows.append(
            {
                "size_class": c.key,
                "size_label": c.label,
                "min_area_m2": c.min_area_m2,
                "max_area_m2": c.max_area_m2,
                "radius_m": c.radius_m,
                "parks": int(in_c.sum()),
                "park_area_m2": float(ov.parks["area_m2"].to_numpy()[in_c].sum()),
                "covered_m2": cov_c,
                "rate": cov_c / total,
                "network_covered_m2": net_c,
                "network_rate": net_c / total,
            }
        )
    small = ov.parks["radius_m"].isna().to_numpy() & (ov.parks["area_m2"].to_numpy() > 0)
    rows.append(
        {
            "size_class": "none",
            "size_label": f"<{ov.rule.smallest_m2:g} m² (no radius)",
            "min_area_m2": 0.0,
            "max_area_m2": ov.rule.smallest_m2,
            "radius_m": math.nan,
            "parks": int(small.sum()),
            "park_area_m2": float(ov.parks["area_m2"].to_numpy()[small].sum()),
            "covered_m2": math.nan,
            "rate": math.nan,
            "network_covered_m2": math.nan,
            "network_rate": math.nan,
        }
    )
    net_cov = float(ov.net_all.area) if ov.net_all is not None else math.nan
    return ParkCoverage(
        layers=_layers_of(ov) if layers else {},
        rule=ov.rule.key,
        rule_name=ov.rule.name,
        verified=ov.rule.verified,
        source=ov.rule.source,
        covered_m2=float(ov.covered.area),
        total_m2=total,
        rate=float(ov.covered.area) / total,
        n_parks=int(ov.parks["radius_m"].notna().sum()),
        by_class=pd.DataFrame(rows).set_index("size_class"),
        network_covered_m2=net_cov,
        network_rate=net_cov / total,
        network_mode=ov.network_mode,
        notes=tuple(ov.notes),
    )


def coverage_layers(
    parks: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    profile: Profile | str | Path | None = None,
    rule: str | ParkRule | None = None,
    builtup: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    network: Network | None = None,
    entrance_points: EntrancePoints | None = None,
    cell_m: float = 25.0,
) -> dict[str, gpd.GeoDataFrame]:
    """The layers of a park-coverage map (same arguments as :func:`service_radius_coverage`).

    Returns
    -------
    dict of str to GeoDataFrame
        In the residential layer's metric CRS:

        * ``parks``: the parks with ``area_m2``, ``size_class``, ``size_label``,
          ``radius_m`` (index-aligned with ``parks``);
        * ``buffers``: one row per size class, the union of its parks' service areas;
        * ``covered`` / ``uncovered``: residential land inside the built-up area within /
          beyond every service radius (one row each, with ``area_m2``);

        and, with a network: ``entrances`` (points, with ``via``), ``units`` (the grid
        cells with their residential ``area_m2``, the point the walk starts from
        ``origin_x``/``origin_y``, walk distance ``walk_m_<class>`` in metres to the
        nearest entrance of each class (``inf`` beyond the rule's largest radius),
        ``covered_<class>`` and ``covered``) and ``network_covered`` (residential land
        reached on foot, one row).
    """
    ov = _overlay(
        parks,
        residential,
        profile=profile,
        rule=rule,
        builtup=builtup,
        network=network,
        entrance_points=entrance_points,
        cell_m=cell_m,
    )
    return _layers_of(ov)


def _layers_of(ov: _Overlay) -> dict[str, gpd.GeoDataFrame]:
    crs = ov.crs
    buf = _frames.geo_frame(
        {
            "size_class": [c.key for c in ov.rule.classes],
            "size_label": [c.label for c in ov.rule.classes],
            "radius_m": [c.radius_m for c in ov.rule.classes],
            "parks": [int((ov.parks["size_class"] == c.key).sum()) for c in ov.rule.classes],
        },
        [ov.buffers[c.key] for c in ov.rule.classes],
        crs,
    )
    uncovered = _geom.polygonal(shapely.difference(ov.land, ov.covered))
    out = {
        "parks": ov.parks,
        "buffers": buf,
        "covered": _frames.geo_frame({"area_m2": [float(ov.covered.area)]}, [ov.covered], crs),
        "uncovered": _frames.geo_frame({"area_m2": [float(uncovered.area)]}, [uncovered], crs),
    }
    if ov.net_units is not None and ov.entrances is not None and ov.net_all is not None:
        out["entrances"] = ov.entrances
        out["units"] = ov.net_units
        out["network_covered"] = _frames.geo_frame({"area_m2": [float(ov.net_all.area)]}, [ov.net_all], crs)
    return out


# -- park area per resident ----------------------------------------------------------------


@dataclass(frozen=True)
class ParkAreaPerCapita:
    """Park area per resident (人均公园绿地面积).

    Attributes
    ----------
    park_area_m2 : float
        Area of the parks (overlaps counted once; inside the scope when one was given), m².
    pop : float
        Residents.
    m2_per_person : float
        ``park_area_m2 / pop``.
    min_m2_per_person : float
        The profile's floor (GB 55014-2021: more than 8 m² per person).
    meets : bool
        Whether ``m2_per_person`` is above the floor.
    source : str
        Where the floor comes from.
    notes : tuple of str
    """

    park_area_m2: float
    pop: float
    m2_per_person: float
    min_m2_per_person: float
    meets: bool
    source: str
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The result as a one-row DataFrame (notes joined by ``"; "``)."""
        return _frames.one_row(self)


def area_per_capita(
    parks: gpd.GeoDataFrame,
    pop: float,
    *,
    scope: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    profile: Profile | str | Path | None = None,
) -> ParkAreaPerCapita:
    """Park area per resident, m²/person, against the GB 55014-2021 floor (> 8 m²).

    Parameters
    ----------
    parks : GeoDataFrame
        Park polygons, any CRS; every park counts, whatever its size.
    pop : float
        Resident population (常住人口) of the area, > 0.
    scope : GeoDataFrame or GeoSeries, optional
        Count only park land inside this area (the town or the built-up area).
    profile : Profile, str or path, optional
        Supplies ``per_capita_min_m2`` and its source (default ``zhejiang-2023``).

    Returns
    -------
    ParkAreaPerCapita
    """
    prof = resolve(profile)
    spec = _park_spec(prof)
    if isinstance(pop, bool) or not isinstance(pop, (int, float, np.integer, np.floating)):
        raise InputError(f"pop must be a number of residents, got {type(pop).__name__}")
    if not (math.isfinite(float(pop)) and pop > 0):
        raise InputError(f"pop must be a positive number of residents (the denominator), got {pop}")
    if not isinstance(parks, gpd.GeoDataFrame):
        raise InputError(f"parks must be a GeoDataFrame of polygons, got {type(parks).__name__}")
    notes: list[str] = []
    if len(parks) == 0:
        area = 0.0
        notes.append("no park given: park area per resident is 0")
    else:
        crs = _geom.target_crs(parks, what="park layer")
        land = _geom.polygon_union(parks, crs=crs, what="park layer", allow_empty=True)
        if scope is not None:
            land = _geom.polygonal(shapely.intersection(land, _geom.polygon_union(scope, crs=crs, what="scope", drop_empty=True)))
        area = float(land.area)
    per = area / float(pop)
    return ParkAreaPerCapita(
        park_area_m2=area,
        pop=float(pop),
        m2_per_person=per,
        min_m2_per_person=spec.per_capita_min_m2,
        meets=bool(per > spec.per_capita_min_m2),
        source=spec.per_capita_source,
        notes=tuple(notes),
    )
