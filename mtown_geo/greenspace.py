"""园林城镇: green-land ratio and green-cover ratio of the built-up area (policy task 3).

* :func:`land_ratio` — 建成区绿地率 = green land in the built-up area ÷ its area. Green land
  comes in classes (the profile's ``tasks.greenspace.classes``: parks first, then other green
  land); each piece of land counts once, in the first class that holds it, so overlapping
  polygons (a garden inside a park, grass over a wood) are not counted twice. From OSM the
  figure is a **lower bound**: green land inside estates, schools and factories (附属绿地) is
  seldom mapped.
* :func:`cover_ratio` — 建成区绿化覆盖率 from a classified land-cover raster: the share of the
  built-up area's pixels (by pixel centre) in the vegetation classes, nodata left out of
  both counts.

人均公园绿地面积 comes from :func:`mtown_geo.parks.area_per_capita`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import geometry_mask

from . import _frames, _geom
from . import crs as _crs
from ._errors import CRSError, InputError

__all__ = ["CoverRatio", "LandRatio", "cover_ratio", "land_ratio"]

log = logging.getLogger(__name__)


@dataclass
class LandRatio:
    """Green land in an area, each piece counted once.

    Attributes
    ----------
    green_m2, total_m2 : float
        Green land inside the area, and the area's own area (the denominator), m².
    rate : float
        ``green_m2 / total_m2`` (0–1): a lower bound when the polygons are OSM's.
    by_class : DataFrame
        Per class in order: ``area_m2`` counted in it (after the classes before it), ``raw_m2``
        (its own union inside the area, overlaps with earlier classes included).
    layer : GeoDataFrame
        The counted land per class (``green_class``, ``area_m2``), clipped to the area.
    """

    green_m2: float
    total_m2: float
    rate: float
    by_class: pd.DataFrame
    layer: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The headline figures as a one-row DataFrame (notes joined by ``"; "``); per class is :attr:`by_class`."""
        return _frames.one_row(self)


def land_ratio(
    green: gpd.GeoDataFrame,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    class_col: str = "green_class",
    order: Sequence[str] | None = None,
    prefilter: bool = True,
) -> LandRatio:
    """The share of an area covered by green-land polygons, overlaps counted once.

    Parameters
    ----------
    green : GeoDataFrame
        Green-land polygons (any CRS) with a class column; other geometries are ignored.
    area : GeoDataFrame or GeoSeries
        The built-up area in any CRS (a geographic one is projected to :func:`mtown_geo.crs.metric_crs`).
    class_col : str
        The class column (e.g. ``park``, ``green``).
    order : sequence of str, optional
        Class precedence: land in several classes counts in the first (default: the order
        the classes first appear).
    prefilter : bool, default True
        Union only the polygons that meet the area (an R-tree search, then an exact test):
        far faster on a town's whole OSM extract. The counted land is the same point set as
        with every polygon in the union; GEOS nodes the edges of fewer polygons, so vertices
        where edges cross can differ in the last bits and areas in the last digits (about
        1e-13 relative). ``False`` unions every polygon.

    Returns
    -------
    LandRatio
    """
    crs = _geom.target_crs(area, what="built-up area")
    geom = _geom.polygon_union(area, crs=crs, what="built-up area", drop_empty=True)
    total = float(geom.area)
    if not isinstance(green, gpd.GeoDataFrame):
        raise InputError(f"green must be a GeoDataFrame of polygons, got {type(green).__name__}")
    if class_col not in green:
        raise InputError(f"the green-land layer has no {class_col!r} column")
    notes: list[str] = []
    g = _geom.to_metric(green, crs=crs, what="green-land layer") if len(green) else green.set_crs(crs, allow_override=True)
    geoms = np.asarray(g.geometry.values, dtype=object)
    poly = np.isin(shapely.get_type_id(geoms), [3, 6])
    if (~poly).any():
        log.info("%d green features are not polygons and have no area", int((~poly).sum()))
    classes = list(order) if order is not None else list(dict.fromkeys(g[class_col].astype(str)))
    names = g[class_col].astype(str).to_numpy()
    if prefilter and poly.any():
        # only the polygons that meet the area: the same land, though GEOS nodes the edges
        # of fewer polygons
        poly = _meeting(geoms, poly, geom)
    counted = shapely.Polygon()
    rows = []
    parts = []
    for cls in classes:
        sel = poly & (names == cls)
        own = shapely.make_valid(shapely.union_all(geoms[sel])) if sel.any() else shapely.Polygon()
        own = _polygonal(shapely.intersection(own, geom))
        new = _polygonal(shapely.difference(own, counted))
        counted = _polygonal(shapely.union(counted, new))
        rows.append({"green_class": cls, "area_m2": float(new.area), "raw_m2": float(own.area)})
        parts.append(new)
    by_class = pd.DataFrame(rows, columns=["green_class", "area_m2", "raw_m2"]).set_index("green_class")
    green_m2 = float(counted.area)
    layer = _frames.geo_frame(
        {"green_class": classes, "area_m2": [float(p.area) for p in parts]},
        parts,
        crs,
    )
    layer = layer[~layer.geometry.is_empty].reset_index(drop=True)
    return LandRatio(green_m2=green_m2, total_m2=total, rate=green_m2 / total, by_class=by_class, layer=layer, notes=notes)


def _meeting(geoms: np.ndarray, keep: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """Which polygons of ``geoms[keep]`` meet ``area`` (an R-tree search, then the exact test).

    The others cannot add land inside the area. Should GEOS fail on an invalid polygon,
    every row of ``keep`` is kept.
    """
    hit = np.zeros(len(geoms), dtype=bool)
    if area.is_empty:
        return hit
    cand = geoms.copy()
    cand[~keep] = None
    try:
        hit[shapely.STRtree(cand).query(area, predicate="intersects")] = True
    except shapely.errors.GEOSException:
        return keep.copy()
    return hit


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (an overlay may leave lines and points behind).

    The polygons of an overlay's result do not overlap: they are gathered into one
    MultiPolygon as they are, and unioned only should that not be valid.
    """
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    parts = shapely.get_parts(parts[np.isin(shapely.get_type_id(parts), [3, 6])])
    if not len(parts):
        return shapely.Polygon()
    if len(parts) == 1:
        return parts[0]
    multi = shapely.multipolygons(parts)
    return multi if shapely.is_valid(multi) else shapely.union_all(parts)


@dataclass(frozen=True)
class CoverRatio:
    """Vegetated share of an area's pixels in a classified land-cover raster.

    ``n_pixels`` are the pixels whose centre lies in the area and that hold data; ``n_green``
    those in the vegetation classes; ``rate`` = n_green ÷ n_pixels; ``pixel_size`` the raster's
    pixel width in its CRS units (degrees for a geographic raster).
    """

    n_green: int
    n_pixels: int
    rate: float
    classes: tuple[int, ...]
    pixel_size: float

    def to_frame(self) -> pd.DataFrame:
        """The headline figures as a one-row DataFrame (notes joined by ``"; "``)."""
        return _frames.one_row(self)


def cover_ratio(
    classes: np.ndarray,
    *,
    transform: Any,
    crs: Any,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    green_classes: Iterable[int],
    nodata: float | None = None,
) -> CoverRatio:
    """绿化覆盖率 from a classified raster: vegetation pixels ÷ all data pixels of the area.

    Parameters
    ----------
    classes : ndarray, 2-D
        Class codes (e.g. ESA WorldCover: 10 tree cover, 20 shrubland, 30 grassland).
    transform : affine.Affine
        The array's geotransform.
    crs : CRS-like
        The array's coordinate system.
    area : GeoDataFrame or GeoSeries
        The built-up area (any CRS; brought to the raster's).
    green_classes : iterable of int
        The class codes that are vegetation.
    nodata : number, optional
        The nodata code: such pixels count in neither total.

    Returns
    -------
    CoverRatio
    """
    arr = np.asarray(classes)
    if arr.ndim != 2:
        raise InputError(f"the land-cover classes must be a 2-D array, got {arr.ndim} dimensions")
    if crs is None:
        raise CRSError("the land-cover raster has no CRS: set it before use")
    codes = tuple(int(c) for c in green_classes)
    if not codes:
        raise InputError("give the vegetation class codes of the land-cover raster (tasks.greenspace.landcover_classes)")
    _crs.require_crs(area, what="built-up area")
    geom = area.to_crs(crs)
    geoms = [g for g in geom.geometry if g is not None and not g.is_empty]
    inside = ~geometry_mask(geoms, out_shape=arr.shape, transform=transform, all_touched=False, invert=False)
    data = inside if nodata is None else inside & (arr != nodata)
    n_pix = int(data.sum())
    if n_pix == 0:
        raise InputError("no land-cover pixel with data has its centre in the built-up area: check the raster's extent and CRS")
    n_green = int((data & np.isin(arr, codes)).sum())
    pixel = float(abs(transform.a))
    return CoverRatio(n_green=n_green, n_pixels=n_pix, rate=n_green / n_pix, classes=codes, pixel_size=pixel)
