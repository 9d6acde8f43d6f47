"""Coordinate reference systems: choosing a metric CRS and checking layers.

Every metric operation of mtown_geo runs in a projected CRS whose unit is the metre.
:func:`metric_crs` picks one for an area: inside China the CGCS2000 3-degree
Gauss–Krüger zone of the area's central meridian (EPSG:4534–4554, e.g. EPSG:4549 for
120°E), elsewhere the WGS 84 / UTM zone. :func:`require_projected` is the single
check the public functions run at their entry.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError as _PyprojCRSError

from ._errors import CRSError, InputError

__all__ = [
    "CHINA_BOUNDS",
    "gauss_kruger_epsg",
    "is_in_china",
    "metric_crs",
    "require_crs",
    "require_projected",
    "to_metric",
    "utm_epsg",
]

#: Rough lon/lat bounds of China used to choose CGCS2000 Gauss–Krüger zones
#: (west, south, east, north). Outside these bounds UTM is used.
CHINA_BOUNDS = (73.4, 18.0, 135.1, 53.6)

_GK_FIRST_EPSG = 4534  # CGCS2000 / 3-degree Gauss-Kruger CM 75E
_GK_FIRST_CM = 75
_GK_LAST_CM = 135


def _as_crs(crs: Any) -> CRS:
    try:
        return CRS.from_user_input(crs)
    except _PyprojCRSError as exc:
        raise CRSError(f"{crs!r} is not a coordinate reference system pyproj knows: {exc}") from None


def gauss_kruger_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss–Krüger zone (CM form) for a longitude.

    Parameters
    ----------
    lon : float
        Longitude in degrees east (WGS 84 or CGCS2000), between 73.5 and 136.5.

    Returns
    -------
    int
        An EPSG code between 4534 (central meridian 75°E) and 4554 (135°E); the
        false easting is 500 000 m with no zone prefix.

    Examples
    --------
    >>> gauss_kruger_epsg(120.2)  # Hangzhou
    4549
    >>> gauss_kruger_epsg(117.2)  # Guixi, Jiangxi
    4548
    """
    cm = round(lon / 3.0) * 3
    if not _GK_FIRST_CM <= cm <= _GK_LAST_CM:
        raise CRSError(
            f"longitude {lon:.3f} lies outside the CGCS2000 3-degree Gauss–Krüger zones "
            "(central meridians 75°E–135°E); use utm_epsg() instead"
        )
    return _GK_FIRST_EPSG + (cm - _GK_FIRST_CM) // 3


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing a point.

    Examples
    --------
    >>> utm_epsg(24.94, 60.17)  # Helsinki
    32635
    >>> utm_epsg(1.52, 42.51)  # Andorra
    32631
    """
    zone = math.floor((lon + 180.0) / 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def is_in_china(lon: float, lat: float) -> bool:
    """Whether a lon/lat point falls inside the rough bounds of China (:data:`CHINA_BOUNDS`)."""
    west, south, east, north = CHINA_BOUNDS
    return west <= lon <= east and south <= lat <= north


def _lonlat_centre(obj: Any) -> tuple[float, float]:
    """Centre (lon, lat) of a GeoDataFrame/GeoSeries or a (west, south, east, north) box in EPSG:4326."""
    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if obj.crs is None:
            raise CRSError("the layer has no CRS: set one with .set_crs(...) before choosing a metric CRS")
        if obj.empty:
            raise InputError("cannot choose a metric CRS for an empty layer")
        bounds = obj.to_crs(4326).total_bounds
    else:
        bounds = np.asarray(obj, dtype=float)
        if bounds.shape != (4,):
            raise InputError("expected a GeoDataFrame, a GeoSeries or a (west, south, east, north) box")
    if not np.all(np.isfinite(bounds)):
        raise InputError("the layer's bounds are not finite (empty or NaN geometries)")
    return (bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0


def metric_crs(obj: Any) -> CRS:
    """Choose a projected metric CRS for an area.

    Parameters
    ----------
    obj : GeoDataFrame, GeoSeries or tuple
        The area: a layer with a CRS, or a ``(west, south, east, north)`` box in
        degrees (EPSG:4326).

    Returns
    -------
    pyproj.CRS
        Inside China (:data:`CHINA_BOUNDS`) the CGCS2000 3-degree Gauss–Krüger zone of
        the area's centre (EPSG:4534–4554); elsewhere the WGS 84 / UTM zone.

    Examples
    --------
    >>> metric_crs((120.0, 30.1, 120.3, 30.4)).to_epsg()
    4549
    >>> metric_crs((24.9, 60.1, 25.0, 60.2)).to_epsg()
    32635
    """
    lon, lat = _lonlat_centre(obj)
    if is_in_china(lon, lat):
        return CRS.from_epsg(gauss_kruger_epsg(lon))
    return CRS.from_epsg(utm_epsg(lon, lat))


def require_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, what: str = "layer") -> CRS:
    """Return the CRS of a layer, or raise :class:`CRSError` when it has none."""
    if gdf.crs is None:
        raise CRSError(
            f"the {what} has no CRS. Set the one its coordinates are in, e.g. "
            "gdf.set_crs(4326) for longitude/latitude (WGS 84) or gdf.set_crs(4549) for "
            "CGCS2000 Gauss–Krüger 120°E"
        )
    return _as_crs(gdf.crs)


def require_projected(obj: Any, *, what: str = "layer") -> CRS:
    """Check that a layer (or a CRS) is in a projected CRS measured in metres.

    Parameters
    ----------
    obj : GeoDataFrame, GeoSeries, pyproj.CRS or anything pyproj accepts
        The layer or CRS to check.
    what : str, optional
        How the layer is named in the error message.

    Returns
    -------
    pyproj.CRS
        The checked CRS.

    Raises
    ------
    CRSError
        When there is no CRS, the CRS is geographic (degrees), or its unit is not the
        metre. The message names the fix: ``gdf.to_crs(mtown_geo.crs.metric_crs(gdf))``.
    """
    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        crs = require_crs(obj, what=what)
    else:
        if obj is None:
            raise CRSError(f"the {what} has no CRS")
        crs = _as_crs(obj)
    if crs.is_geographic or not crs.is_projected:
        raise CRSError(
            f"the {what} is in a geographic CRS ({crs.name}, degrees) but metres are needed. "
            "Project it first: gdf = mtown_geo.crs.to_metric(gdf), which picks the CGCS2000 "
            "Gauss–Krüger zone in China or the UTM zone elsewhere"
        )
    units = {axis.unit_name for axis in crs.axis_info}
    if units - {"metre", "meter", "m"}:
        raise CRSError(
            f"the {what}'s CRS ({crs.name}) is measured in {', '.join(sorted(units))}, not metres. "
            "Project it with mtown_geo.crs.to_metric(gdf)"
        )
    return crs


def to_metric(gdf: gpd.GeoDataFrame, crs: Any = None) -> gpd.GeoDataFrame:
    """Project a layer to a metric CRS (the one given, or :func:`metric_crs` of the layer).

    Returns a new GeoDataFrame; the input is not changed. A layer already in the target
    CRS is returned as a copy.
    """
    require_crs(gdf)
    target = metric_crs(gdf) if crs is None else require_projected(crs, what="target CRS")
    return gdf.to_crs(target)
