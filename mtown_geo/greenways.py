"""Greenways: length per 10,000 residents (万人拥有绿道长度) and their service coverage.

The 2023 policy asks for "万人拥有绿道长度 1 公里以上": at least 1 km of greenway per 10,000
residents. No counting rule was published, so the ``zhejiang-2023`` profile states its own
(an assumption, flagged ``verified: false``):

* a greenway is a way named as one (绿道, greenway), a member of a hiking, cycling or foot
  route named as one, or the waterside part of a cycleway, footway or path running
  within ``waterside_dist_m`` (30 m) of a river, canal, stream or water body;
* its length is the merged, de-duplicated centreline length: the walk and cycle lanes of
  one greenway — parallel lines closer than ``dedupe_tolerance_m`` (15 m) — count once,
  while paths on opposite banks of a river, farther apart, count separately;
* the length inside the scope (the town, or the built-up area) in km, divided by the
  resident population (常住人口) / 10,000.

The related 城市绿道服务半径覆盖率 — residential land within 1 km of a greenway ÷ all
residential land — is :func:`service_coverage`, an exact areal overlay.

Typical use::

    lines = mtown_geo.greenways.from_osm("town.osm.pbf", boundary=town)
    g = mtown_geo.greenways.length_per_10k(lines, 52_000, scope=town)
    g.km, g.km_per_10k, g.verified

Data from OpenStreetMap is © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _geom
from ._errors import InputError
from .demand import _land_inside
from .greenlines import (
    _MAX_ANGLE_DEG,
    _QUAD_SEGS,
    COLUMNS,
    WATER_LINES,
    _dedupe,
    _geoms_in,
    _prepare,
    _spec,
    centrelines,
    from_osm,
)
from .standards import Profile, resolve

__all__ = [
    "COLUMNS",
    "WATER_LINES",
    "GreenwayCoverage",
    "GreenwayLength",
    "centrelines",
    "from_osm",
    "length_per_10k",
    "population_of",
    "service_coverage",
]

log = logging.getLogger(__name__)

# -- population ------------------------------------------------------------------------------


def population_of(
    source: float | pd.DataFrame | gpd.GeoDataFrame,
    *,
    scope: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    pop_col: str | None = None,
    row: Any = None,
    key_col: str | None = None,
) -> tuple[float, str]:
    """Resident population from a number, a census table or demand units.

    Parameters
    ----------
    source : number, DataFrame or GeoDataFrame
        * a number of residents (常住人口);
        * a census table (DataFrame): the value of column ``pop_col`` (default
          ``"POPU"``, the resident population of the 7th-census county table with
          columns ``CODE``, ``NAME``, ``POPU``) in the row ``row`` — an index label, or
          the value of column ``key_col`` (e.g. ``key_col="CODE", row=330782``; values
          compared as text);
        * demand units (GeoDataFrame, :mod:`mtown_geo.demand`): the sum of their ``pop``
          column (or ``pop_col``), only units inside ``scope`` when given.
    scope : GeoDataFrame or GeoSeries, optional
        For demand units: count the units whose point lies inside it.

    Returns
    -------
    tuple of (float, str)
        The population and a description of where it came from.

    Raises
    ------
    InputError
        Not a positive finite number of people; a table without the row or column.
    """
    if isinstance(source, bool):
        raise InputError("population must be a number of residents, a census table or demand units, not a bool")
    if isinstance(source, numbers.Real):
        pop, how = float(source), "given number"
    elif isinstance(source, gpd.GeoDataFrame):
        col = pop_col or "pop"
        if col not in source.columns:
            raise InputError(f"the demand units have no {col!r} column of residents (set pop_col=...)")
        values = pd.to_numeric(source[col], errors="coerce").to_numpy(dtype=float)
        if np.isnan(values).any() or (values < 0).any():
            raise InputError(f"the demand units' {col!r} must be non-negative numbers")
        n = len(source)
        if scope is not None:
            crs = _geom.target_crs(scope, what="scope")
            area = _geom.polygon_union(scope, crs=crs, what="scope", drop_empty=True)
            pts = shapely.point_on_surface(_geoms_in(source, crs, what="demand units"))
            inside = shapely.contains_xy(area, shapely.get_x(pts), shapely.get_y(pts)) if n else np.zeros(0, bool)
            values = values[inside]
            n = int(inside.sum())
        pop, how = float(values.sum()), f"sum of {col!r} over {n} demand units"
    elif isinstance(source, pd.DataFrame):
        col = pop_col or "POPU"
        if col not in source.columns:
            raise InputError(f"the census table has no column {col!r}; its columns: {list(source.columns)} (set pop_col=...)")
        if row is None:
            raise InputError("name the census table's row with row=... (an index label, or a value of key_col)")
        if key_col is None:
            if row not in source.index:
                raise InputError(f"the census table has no row labelled {row!r}")
            sel = source.loc[[row]]
        else:
            if key_col not in source.columns:
                raise InputError(f"the census table has no column {key_col!r}")
            sel = source[source[key_col].astype(str).str.strip() == str(row).strip()]
        if len(sel) != 1:
            raise InputError(f"the census table has {len(sel)} rows for {row!r}: name exactly one")
        value = pd.to_numeric(sel[col], errors="coerce").to_numpy(dtype=float)[0]
        pop, how = float(value), f"census table column {col!r}, row {row!r}"
    else:
        raise InputError(
            f"population must be a number, a census table (DataFrame) or demand units (GeoDataFrame), got {type(source).__name__}"
        )
    if not (math.isfinite(pop) and pop > 0):
        raise InputError(f"the population ({how}) is {pop}: it must be a positive number of residents (the denominator)")
    return pop, how


# -- indicators ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GreenwayLength:
    """Greenway length per 10,000 residents (万人拥有绿道长度).

    Attributes
    ----------
    km : float
        Merged, de-duplicated greenway length inside the scope, km.
    raw_km : float
        Length inside the scope before de-duplication, km.
    pop : float
        Residents.
    km_per_10k : float
        ``km / (pop / 10000)``.
    target_km_per_10k : float
        The policy's target (1 km per 10,000 residents).
    meets_target : bool
        Whether ``km_per_10k`` reaches the target.
    n_lines : int
        Input lines with some length inside the scope.
    tolerance_m : float
        De-duplication tolerance used, m.
    population_from : str
        Where the population came from.
    scope_area_m2 : float
        Area of the scope polygon, m² (NaN when no scope was given).
    rule : str
        The counting rule, in words.
    source : str
        Its source.
    verified : bool
        Whether the profile marks the rule as verified (``False`` in ``zhejiang-2023``:
        no counting rule was published).
    notes : tuple of str
    """

    km: float
    raw_km: float
    pop: float
    km_per_10k: float
    target_km_per_10k: float
    meets_target: bool
    n_lines: int
    tolerance_m: float
    population_from: str
    scope_area_m2: float
    rule: str
    source: str
    verified: bool
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The result as a one-row DataFrame (notes joined by ``"; "``)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["notes"] = "; ".join(self.notes)
        return pd.DataFrame([d])


def length_per_10k(
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    population: float | pd.DataFrame | gpd.GeoDataFrame,
    *,
    scope: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    profile: Profile | str | Path | None = None,
    tolerance_m: float | None = None,
    pop_col: str | None = None,
    row: Any = None,
    key_col: str | None = None,
) -> GreenwayLength:
    """Greenway km per 10,000 residents: merged, de-duplicated length in the scope ÷ population.

    Parameters
    ----------
    lines : GeoDataFrame or GeoSeries
        Greenway centrelines (:func:`from_osm` or a planner's layer), any CRS. An empty
        layer gives 0 km with a note.
    population : number, DataFrame or GeoDataFrame
        Residents: a number, a census table (with ``row``, ``key_col``, ``pop_col``) or
        demand units (sum of ``pop`` inside the scope); see :func:`population_of`.
    scope : GeoDataFrame or GeoSeries, optional
        The polygons the length is counted in (the profile's ``scope`` says which: the
        town, 镇域, by default; or the built-up area). Default: all of the lines.
    profile : Profile, str or path, optional
        Supplies the de-duplication tolerance, the target and the rule's source.
    tolerance_m : float, optional
        De-duplication tolerance, m (default: the profile's ``dedupe_tolerance_m``).

    Returns
    -------
    GreenwayLength

    Raises
    ------
    InputError
        A population that is not a positive number (the denominator), lines that are
        polygons, an empty scope.
    """
    prof = resolve(profile)
    spec = _spec(prof)
    tol = spec.dedupe_tolerance_m if tolerance_m is None else float(tolerance_m)
    if not tol >= 0:
        raise InputError(f"tolerance_m must be >= 0 metres, got {tolerance_m}")
    pop, how = population_of(population, scope=scope, pop_col=pop_col, row=row, key_col=key_col)
    _, _, geoms, area = _prepare(lines, scope)
    notes: list[str] = []
    if len(geoms):
        _, kept_len = _dedupe(geoms, tol, _MAX_ANGLE_DEG)
        km = float(kept_len.sum()) / 1000.0
        raw_km = float(shapely.length(geoms).sum()) / 1000.0
        n_lines = int((shapely.length(geoms) > 0).sum())
    else:
        km = raw_km = 0.0
        n_lines = 0
    if n_lines == 0:
        notes.append("no greenway" + (" inside the scope" if scope is not None and len(geoms) else "") + ": the length is 0 km")
    if not spec.verified:
        notes.append(f"counting rule not verified: {spec.source.strip()}")
    per = km / (pop / 10_000.0)
    return GreenwayLength(
        km=km,
        raw_km=raw_km,
        pop=pop,
        km_per_10k=per,
        target_km_per_10k=spec.target_km_per_10k,
        meets_target=bool(per >= spec.target_km_per_10k),
        n_lines=n_lines,
        tolerance_m=tol,
        population_from=how,
        scope_area_m2=float(area.area) if area is not None else math.nan,
        rule=f"merged centreline length; parallel lanes within {tol:g} m counted once; km per 10,000 residents",
        source=spec.source.strip(),
        verified=spec.verified,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class GreenwayCoverage:
    """Residential land within a greenway's service radius (绿道服务半径覆盖率).

    Attributes
    ----------
    radius_m : float
        Service radius, m (1000 m in ``zhejiang-2023``).
    covered_m2 : float
        Residential land (inside the built-up area when given) within ``radius_m`` of a
        greenway, m².
    total_m2 : float
        All that residential land, m².
    rate : float
        ``covered_m2 / total_m2`` (0–1).
    n_lines : int
        Greenway lines used.
    source : str
    verified : bool
    notes : tuple of str
    """

    radius_m: float
    covered_m2: float
    total_m2: float
    rate: float
    n_lines: int
    source: str
    verified: bool
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The result as a one-row DataFrame (notes joined by ``"; "``)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["notes"] = "; ".join(self.notes)
        return pd.DataFrame([d])


def service_coverage(
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    residential: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    radius_m: float | None = None,
    profile: Profile | str | Path | None = None,
    builtup: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> GreenwayCoverage:
    """Share of residential land within ``radius_m`` of a greenway (exact areal overlay).

    The lines are buffered by the radius (arcs of 128 segments per quarter circle), the
    buffers unioned and intersected with the residential land (inside the built-up area
    when given); overlapping residential polygons count once.

    Parameters
    ----------
    lines : GeoDataFrame or GeoSeries
        Greenway lines, any CRS; an empty layer gives 0 with a note.
    residential : GeoDataFrame or GeoSeries
        Residential land polygons, any CRS; the result is measured in its metric CRS.
    radius_m : float, optional
        Service radius, m (default: the profile's ``service_radius_m``, 1000 m).
    profile : Profile, str or path, optional
    builtup : GeoDataFrame or GeoSeries, optional
        Only residential land inside it counts.

    Returns
    -------
    GreenwayCoverage

    Raises
    ------
    InputError
        Empty residential layer, or none of it inside the built-up area.
    """
    prof = resolve(profile)
    spec = _spec(prof)
    r = spec.service_radius_m if radius_m is None else float(radius_m)
    if not r > 0:
        raise InputError(f"radius_m must be positive, got {radius_m}")
    crs = _geom.target_crs(residential, what="residential land")
    if builtup is None:
        land = _geom.polygon_union(residential, crs=crs, what="residential land", drop_empty=True)
    else:
        area = _geom.polygon_union(builtup, crs=crs, what="built-up area", drop_empty=True)
        land = _geom.polygonal(_land_inside(residential, area, crs=crs, what="residential land"))
        if land.is_empty or land.area <= 0:
            raise InputError("no residential land lies inside the built-up area: the coverage rate has no denominator")
    _, _, geoms, _ = _prepare(lines, None, crs=crs)
    geoms = geoms[~shapely.is_empty(geoms)] if len(geoms) else geoms
    notes: list[str] = []
    if len(geoms):
        zone = shapely.union_all(shapely.buffer(geoms, r, quad_segs=_QUAD_SEGS))
        covered = float(_geom.polygonal(shapely.intersection(land, zone)).area)
    else:
        covered = 0.0
        notes.append("no greenway: no residential land is within a greenway's service radius, the coverage is 0")
    if not spec.verified:
        notes.append(f"greenway identification not verified: {spec.source.strip()}")
    total = float(land.area)
    covered = min(covered, total)  # the overlay's rounding can exceed the land by an ulp
    return GreenwayCoverage(
        radius_m=r,
        covered_m2=covered,
        total_m2=total,
        rate=min(max(covered / total, 0.0), 1.0),
        n_lines=len(geoms),
        source="城市绿道服务半径覆盖率 (residential land within 1 km of a greenway, secondary source); " + spec.source.strip(),
        verified=spec.verified,
        notes=tuple(notes),
    )
