"""Coordinate reference systems: metric CRSs, layer checks and China's shifted coordinates.

Every metric operation of mtown_geo runs in a projected CRS whose unit is the metre.
:func:`metric_crs` picks one for an area: inside China the CGCS2000 3-degree
Gauss–Krüger zone of the area's central meridian (EPSG:4534–4554, e.g. EPSG:4549 for
120°E), elsewhere the WGS 84 / UTM zone. :func:`require_projected` is the single
check the public functions run at their entry.

Chinese web maps publish shifted coordinates that no EPSG code describes:

* **GCJ-02** (国测局坐标, "Mars coordinates"): Amap (高德), Tencent and most Chinese
  map services. A published, non-linear offset of a few hundred metres applied to
  WGS-84 longitude/latitude inside China.
* **BD-09**: Baidu (百度), a further rotation-and-shift of GCJ-02.

:func:`wgs84_to_gcj02` is the published forward algorithm (Krasovsky 1940 ellipsoid,
a = 6378245.0 m, e² = 0.00669342162296594323, unchanged outside the published China
box); :func:`gcj02_to_wgs84` inverts it by iteration until the round trip is below a
millimetre (far below the 0.01 m the toolkit promises), not by the one-step
approximation that leaves errors of one to two metres. :func:`to_wgs84` removes either
shift from a whole layer and :func:`detect_shift` tells whether a layer looks shifted
against a road network.

CGCS2000 (EPSG:4490, and its Gauss–Krüger zones EPSG:4513–4554) is China's national
datum; it differs from WGS-84 by centimetres and is used as it is.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geopandas.array import GeometryArray
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as _PyprojCRSError
from pyproj.exceptions import ProjError as _PyprojError

from . import _frames, _words
from ._errors import CoordinateShiftWarning, CRSError, InputError

__all__ = [
    "CGCS2000_EPSG",
    "CHINA_BOUNDS",
    "HYPOTHESES",
    "SHIFT_BOUNDS",
    "RoadNetwork",
    "ShiftCheck",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "detect_shift",
    "gauss_kruger_epsg",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_shift_area",
    "is_cgcs2000",
    "is_in_china",
    "metric_crs",
    "normalise_name",
    "parse_crs",
    "require_crs",
    "require_projected",
    "shifted_system",
    "to_metric",
    "to_wgs84",
    "utm_epsg",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

log = logging.getLogger(__name__)

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
        if _layer_crs(obj) is None:
            raise CRSError("the layer has no CRS: set one with .set_crs(...) before choosing a metric CRS")
        if obj.empty:
            raise InputError("cannot choose a metric CRS for an empty layer")
        # the geometries alone are projected (``obj.to_crs`` would copy a frame's columns too)
        bounds = obj.geometry.values.to_crs(4326).total_bounds
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


def _layer_crs(layer: gpd.GeoDataFrame | gpd.GeoSeries) -> Any:
    """``layer.crs``, read from a GeoDataFrame's geometry array without making its geometry
    GeoSeries (which ``GeoDataFrame.crs`` builds on every read); the same object either way.
    Anything else (a GeoSeries, a frame whose geometry column is missing, repeated or not of
    geometries) is read through ``.crs``, with its errors."""
    # pandas' and geopandas' own accessors of a column's array, where this version has them
    get_array = getattr(layer, "_get_column_array", None)
    if isinstance(layer, gpd.GeoDataFrame) and get_array is not None:
        name = getattr(layer, "_geometry_column_name", None)
        columns = layer.columns
        if name is not None and columns.nlevels == 1 and columns.is_unique and name in columns:
            loc = columns.get_loc(name)
            values = get_array(loc) if isinstance(loc, int) else None
            if isinstance(values, GeometryArray):
                return values.crs
    return layer.crs


def require_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, what: str = "layer") -> CRS:
    """Return the CRS of a layer, or raise :class:`CRSError` when it has none."""
    crs = _layer_crs(gdf)
    if crs is None:
        raise CRSError(
            f"the {what} has no CRS. Set the one its coordinates are in, e.g. "
            "gdf.set_crs(4326) for longitude/latitude (WGS 84) or gdf.set_crs(4549) for "
            "CGCS2000 Gauss–Krüger 120°E"
        )
    return _as_crs(crs)


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


# ---------------------------------------------------------------------------------------
# China's datums and shifted coordinate systems
# ---------------------------------------------------------------------------------------

#: EPSG codes of CGCS2000: geographic (4490) and the Gauss–Krüger zones (4491–4554).
#: They differ from WGS 84 by centimetres and are used as they are.
CGCS2000_EPSG = frozenset([4490, *range(4491, 4555)])

#: The box (west, south, east, north) of the published GCJ-02 algorithm: coordinates
#: outside it are left unchanged by every GCJ-02 and BD-09 conversion.
SHIFT_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)

_KRASOVSKY_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid (m)
_KRASOVSKY_EE = 0.00669342162296594323  # its first eccentricity squared
_BD_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG = 1e-10  # about 0.01 mm: iterations stop when the round trip is closer
_INVERSE_MAX_ITER = 60

_SYSTEM_ALIASES = {
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "mars": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "autonavi": "gcj02",
    "tencent": "gcj02",
    "qq": "gcj02",
    "高德": "gcj02",
    "火星": "gcj02",
    "火星坐标": "gcj02",
    "国测局": "gcj02",
    "腾讯": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "bd": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "wgs 84": "wgs84",
    "wgs": "wgs84",
    "gps": "wgs84",
    "cgcs2000": "cgcs2000",
    "cgcs-2000": "cgcs2000",
    "cgcs": "cgcs2000",
    "国家2000": "cgcs2000",
}

_T = TypeVar("_T", gpd.GeoDataFrame, gpd.GeoSeries)


def shifted_system(value: Any) -> str | None:
    """Name of the shifted system a user's label stands for, or ``None``.

    Parameters
    ----------
    value : any
        A label such as ``"gcj02"``, ``"GCJ-02"``, ``"amap"``, ``"高德"``, ``"bd09"``,
        ``"baidu"``, ``"百度"``; anything else (an EPSG code, ``"wgs84"``...) gives ``None``.

    Returns
    -------
    str or None
        ``"gcj02"``, ``"bd09"`` or ``None``.
    """
    if not isinstance(value, str):
        return None
    found = _SYSTEM_ALIASES.get(value.strip().lower())
    return found if found in ("gcj02", "bd09") else None


def parse_crs(value: Any) -> CRS:
    """A pyproj CRS for a user's label: ``"wgs84"``, ``"cgcs2000"``, an EPSG code, a WKT...

    ``"wgs84"``/``"gps"`` give EPSG:4326 and ``"cgcs2000"`` EPSG:4490. The shifted
    systems have no EPSG code: ``"gcj02"``/``"bd09"`` raise :class:`CRSError` naming
    :func:`to_wgs84`, which removes them.
    """
    if isinstance(value, str):
        alias = _SYSTEM_ALIASES.get(value.strip().lower())
        if alias == "wgs84":
            return CRS.from_epsg(4326)
        if alias == "cgcs2000":
            return CRS.from_epsg(4490)
        if alias in ("gcj02", "bd09"):
            raise CRSError(
                f"{value!r} ({alias.upper()}) is a shifted coordinate system with no EPSG code: convert the layer "
                f"first with mtown_geo.crs.to_wgs84(gdf, source={alias!r})"
            )
    if value is None:
        raise CRSError("no coordinate system given: name one, e.g. 'wgs84', 'gcj02', 'bd09', 'cgcs2000' or an EPSG code")
    crs = _as_crs(value)
    problem = _wgs84_unreachable(crs.to_wkt())
    if problem:
        raise CRSError(f"{value!r} ({crs.name}) cannot be converted to WGS 84: {problem}. For Amap/Tencent 火星坐标 use 'gcj02'")
    return crs


@functools.lru_cache(maxsize=64)
def _wgs84_unreachable(wkt: str) -> str:
    """Why a CRS cannot be transformed to WGS 84 ('' when it can); cached, as PROJ's search is slow."""
    try:
        Transformer.from_crs(CRS.from_wkt(wkt), 4326, always_xy=True)
    except _PyprojError as exc:
        return str(exc)
    return ""


def is_cgcs2000(crs: Any) -> bool:
    """Whether a CRS is CGCS2000 (EPSG:4490 or one of its Gauss–Krüger zones, 4491–4554)."""
    epsg = _as_crs(crs).to_epsg()
    return epsg is not None and epsg in CGCS2000_EPSG


def _lonlat_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    try:
        x = np.asarray(lon, dtype=float)
        y = np.asarray(lat, dtype=float)
    except (TypeError, ValueError):
        raise InputError("longitude and latitude must be numbers or arrays of numbers") from None
    try:
        x, y = np.broadcast_arrays(x, y)
    except ValueError:
        raise InputError(f"longitude and latitude have different shapes: {np.shape(x)} and {np.shape(y)}") from None
    return x.astype(float, copy=True), y.astype(float, copy=True), x.ndim == 0


def _result(x: np.ndarray, y: np.ndarray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return np.float64(x[()]), np.float64(y[()])
    return x, y


def in_shift_area(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """Where the GCJ-02 / BD-09 conversions apply: inside :data:`SHIFT_BOUNDS` (NaN gives False)."""
    x, y, _ = _lonlat_arrays(lon, lat)
    west, south, east, north = SHIFT_BOUNDS
    with np.errstate(invalid="ignore"):
        return (x >= west) & (x <= east) & (y >= south) & (y <= north)


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published GCJ-02 offset (degrees) at WGS-84 lon/lat, without the area rule."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat = dlat + common
    dlat = dlat + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon = dlon + common
    dlon = dlon + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * pi)
    return dlon, dlat


def _wgs_to_gcj(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = in_shift_area(x, y)
    gx, gy = x.copy(), y.copy()
    if inside.any():
        dx, dy = _gcj_delta(x[inside], y[inside])
        gx[inside] += dx
        gy[inside] += dy
    return gx, gy


def _gcj_to_bd(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = in_shift_area(x, y)
    bx, by = x.copy(), y.copy()
    if inside.any():
        xi, yi = x[inside], y[inside]
        z = np.hypot(xi, yi) + 0.00002 * np.sin(yi * _BD_X_PI)
        theta = np.arctan2(yi, xi) + 0.000003 * np.cos(xi * _BD_X_PI)
        bx[inside] = z * np.cos(theta) + 0.0065
        by[inside] = z * np.sin(theta) + 0.006
    return bx, by


def _bd_to_gcj_approx(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published closed-form BD-09 → GCJ-02 step (good to about a decimetre)."""
    xs = x - 0.0065
    ys = y - 0.006
    z = np.hypot(xs, ys) - 0.00002 * np.sin(ys * _BD_X_PI)
    theta = np.arctan2(ys, xs) - 0.000003 * np.cos(xs * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
    start: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(u, v) = (x, y) by fixed-point iteration from ``start``.

    The shifts change slowly with position (their derivatives are of order 1e-3), so
    each step shrinks the error about a thousandfold; a few steps reach 1e-10°.
    """
    u, v = start[0].copy(), start[1].copy()
    todo = np.isfinite(x) & np.isfinite(y)
    for _ in range(_INVERSE_MAX_ITER):
        if not todo.any():
            break
        fx, fy = forward(u[todo], v[todo])
        ex = fx - x[todo]
        ey = fy - y[todo]
        u[todo] -= ex
        v[todo] -= ey
        still = (np.abs(ex) > _INVERSE_TOL_DEG) | (np.abs(ey) > _INVERSE_TOL_DEG)
        idx = np.flatnonzero(todo)
        todo[idx[~still]] = False
    return u, v


def _gcj_to_wgs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = in_shift_area(x, y)
    wx, wy = x.copy(), y.copy()
    if inside.any():
        xi, yi = x[inside], y[inside]
        dx, dy = _gcj_delta(xi, yi)
        wx[inside], wy[inside] = _invert(_wgs_to_gcj, xi, yi, (xi - dx, yi - dy))
    return wx, wy


def _bd_to_gcj(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = in_shift_area(x, y)
    gx, gy = x.copy(), y.copy()
    if inside.any():
        xi, yi = x[inside], y[inside]
        gx[inside], gy[inside] = _invert(_gcj_to_bd, xi, yi, _bd_to_gcj_approx(xi, yi))
    return gx, gy


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """WGS-84 longitude/latitude to GCJ-02 (Amap, Tencent), by the published algorithm.

    Parameters
    ----------
    lon, lat : float or array-like
        WGS-84 (or CGCS2000) degrees; arrays broadcast together.

    Returns
    -------
    (lon, lat) : floats for scalar input, else float arrays
        GCJ-02 degrees. Points outside :data:`SHIFT_BOUNDS` are unchanged; NaN stays NaN.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.481499, 39.990475)
    >>> print(f"{lon:.5f}, {lat:.5f}")  # Amap's own converter gives 116.487585177952, 39.991754014757
    116.48759, 39.99175
    """
    x, y, scalar = _lonlat_arrays(lon, lat)
    return _result(*_wgs_to_gcj(x, y), scalar)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """GCJ-02 (Amap, Tencent) longitude/latitude to WGS-84, exactly.

    The inverse of :func:`wgs84_to_gcj02` found by iteration: the round trip
    ``wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))`` returns the input to within 1e-10°
    (about 0.01 mm), unlike the common one-step approximation (1–2 m off).

    Parameters
    ----------
    lon, lat : float or array-like
        GCJ-02 degrees.

    Returns
    -------
    (lon, lat) : floats for scalar input, else float arrays
        WGS-84 degrees. Points outside :data:`SHIFT_BOUNDS` are unchanged.
    """
    x, y, scalar = _lonlat_arrays(lon, lat)
    return _result(*_gcj_to_wgs(x, y), scalar)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """GCJ-02 longitude/latitude to BD-09 (Baidu), by the published formula.

    Returns ``(lon, lat)`` in BD-09 degrees (floats for scalars, else arrays); points
    outside :data:`SHIFT_BOUNDS` are unchanged.
    """
    x, y, scalar = _lonlat_arrays(lon, lat)
    return _result(*_gcj_to_bd(x, y), scalar)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """BD-09 (Baidu) longitude/latitude to GCJ-02, exactly.

    Starts from the published closed-form step and iterates until
    :func:`gcj02_to_bd09` of the result matches the input to within 1e-10°. Returns
    ``(lon, lat)`` in GCJ-02 degrees; points outside :data:`SHIFT_BOUNDS` are unchanged.
    """
    x, y, scalar = _lonlat_arrays(lon, lat)
    return _result(*_bd_to_gcj(x, y), scalar)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """WGS-84 longitude/latitude to BD-09 (Baidu): GCJ-02 first, then the Baidu step."""
    x, y, scalar = _lonlat_arrays(lon, lat)
    return _result(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """BD-09 (Baidu) longitude/latitude to WGS-84, exactly (both steps inverted by iteration)."""
    x, y, scalar = _lonlat_arrays(lon, lat)
    return _result(*_gcj_to_wgs(*_bd_to_gcj(x, y)), scalar)


_UNSHIFT: dict[str, Callable[[ArrayLike, ArrayLike], tuple[Any, Any]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def _bad_coordinate_rows(geoms: np.ndarray) -> np.ndarray:
    """Positions of geometries with a NaN or infinite coordinate."""
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) == 0:
        return np.empty(0, dtype=np.int64)
    bad = ~np.isfinite(coords).all(axis=1)
    return np.unique(which[bad])


def _row_labels(index: pd.Index, pos: np.ndarray, *, limit: int = 10) -> str:
    labels = [str(v) for v in index[pos[:limit]]]
    more = f" and {len(pos) - limit} more" if len(pos) > limit else ""
    return ", ".join(labels) + more


def to_wgs84(gdf: _T, *, source: str = "gcj02") -> _T:
    """Remove the GCJ-02 or BD-09 shift from a layer (points, lines, polygons).

    Parameters
    ----------
    gdf : GeoDataFrame or GeoSeries
        A layer whose longitude/latitude are in the ``source`` system. Such layers
        usually carry no CRS or are labelled EPSG:4326 by the tool that wrote them;
        both are accepted. A layer in another CRS (e.g. Web Mercator EPSG:3857 made
        from GCJ-02 lon/lat, as Amap tiles are) is first taken back to lon/lat.
    source : str, optional
        ``"gcj02"`` (default; Amap/高德, Tencent), ``"bd09"`` (Baidu/百度). ``"wgs84"``
        and ``"cgcs2000"`` need no shift: the layer is only brought to EPSG:4326.

    Returns
    -------
    GeoDataFrame or GeoSeries
        A new layer of the same kind in EPSG:4326 (WGS 84); every coordinate of every
        geometry is converted, empty and missing geometries are kept as they are. The
        input is not changed.

    Raises
    ------
    CRSError
        Unknown ``source``, or coordinates that cannot be longitude/latitude.
    InputError
        Geometries with NaN or infinite coordinates (the message lists the rows).
    """
    if not isinstance(gdf, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"to_wgs84 needs a GeoDataFrame or GeoSeries, got {type(gdf).__name__}")
    if not isinstance(source, str) or source.strip().lower() not in _SYSTEM_ALIASES:
        raise CRSError(
            f"unknown coordinate system {source!r}: use 'gcj02' (Amap, Tencent), 'bd09' (Baidu), 'wgs84' or 'cgcs2000'"
        )
    system = _SYSTEM_ALIASES[source.strip().lower()]
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    arr = np.asarray(geoms.values)
    bad = _bad_coordinate_rows(arr)
    if len(bad):
        raise InputError(
            f"{_words.count(len(bad), 'geometry has', 'geometries have')} NaN or infinite coordinates (rows {_row_labels(gdf.index, bad)}): "
            "fix or drop them before converting"
        )
    if gdf.crs is None:
        lonlat = gdf.copy()
        lonlat = lonlat.set_crs(4326)
        log.info("the layer has no CRS: its coordinates are taken as %s longitude/latitude", system.upper())
    else:
        crs = require_crs(gdf)
        lonlat = gdf.to_crs(4326) if not crs.equals(CRS.from_epsg(4326)) else gdf.copy()
    if len(lonlat):
        bounds = lonlat.total_bounds
        if np.all(np.isfinite(bounds)) and (np.abs(bounds[[0, 2]]).max() > 180.0 or np.abs(bounds[[1, 3]]).max() > 90.0):
            raise CRSError(
                f"the coordinates (x {bounds[0]:.1f}…{bounds[2]:.1f}, y {bounds[1]:.1f}…{bounds[3]:.1f}) are not "
                "longitude/latitude: set the layer's real CRS with gdf.set_crs(..., allow_override=True) first"
            )
    if system in _UNSHIFT:
        unshift = _UNSHIFT[system]
        out_geoms = np.asarray(lonlat.geometry.values)
        coords = shapely.get_coordinates(out_geoms)
        if len(coords):
            outside = ~in_shift_area(coords[:, 0], coords[:, 1])
            if outside.any():
                warnings.warn(
                    f"{int(outside.sum())} of {_words.count(len(coords), 'coordinate', 'coordinates')} "
                    f"{_words.agree(int(outside.sum()), 'lies', 'lie')} outside the area where {system.upper()} "
                    f"applies (China) and {_words.agree(int(outside.sum()), 'is', 'are')} left unchanged: is the source system right?",
                    CoordinateShiftWarning,
                    stacklevel=2,
                )

        def _convert(xy: np.ndarray) -> np.ndarray:
            x, y = unshift(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        new = shapely.transform(out_geoms, _convert)
        if isinstance(lonlat, gpd.GeoDataFrame):
            lonlat = lonlat.set_geometry(gpd.GeoSeries(new, index=lonlat.index, crs=4326))
        else:
            lonlat = gpd.GeoSeries(new, index=lonlat.index, crs=4326, name=lonlat.name)
    return lonlat


# ---------------------------------------------------------------------------------------
# Detecting shifted layers against a road network and named features
# ---------------------------------------------------------------------------------------

#: The hypotheses :func:`detect_shift` weighs: the coordinates as given, and the
#: coordinates once a GCJ-02 or a BD-09 shift is removed from them.
HYPOTHESES = ("as_given", "gcj02", "bd09")

_TIE_M = 1.0  # street distances closer than this (metres) count as equal
_MIN_NAME_HITS = 3  # fewer name (or on-street) matches never decide
_ON_STREET_Z = 5.0  # facilities on a street decide only this many standard deviations above the control moves

_HYPOTHESIS_LABEL = {
    "as_given": "as given",
    "gcj02": "without a GCJ-02 shift",
    "bd09": "without a BD-09 shift",
}
_SYSTEM_LABEL = {"gcj02": "GCJ-02 (Amap, Tencent)", "bd09": "BD-09 (Baidu)"}


@dataclass(frozen=True)
class ShiftCheck:
    """Evidence on whether points carry a GCJ-02 or BD-09 shift.

    Each facility is placed three ways (:data:`HYPOTHESES`): as given, with a GCJ-02
    shift removed and with a BD-09 shift removed. Two kinds of evidence compare the
    placements facility by facility:

    * **streets** — the distance to the nearest street; for each pair of placements, the
      paired differences over the facilities (a one-sided Wilcoxon signed-rank test);
    * **names** — when named reference features are given (OpenStreetMap features):
      how many facilities lie within ``name_tol_m`` of a feature of the same name, against
      how many would by chance (a Poisson tail).

    Attributes
    ----------
    likely : bool
        Whether a shift is clearly present (``best`` is ``"gcj02"`` or ``"bd09"``).
    system : str or None
        ``"gcj02"`` or ``"bd09"`` when a shift is likely.
    n_points : int
        Points used (non-empty, inside China).
    median_dist_m : dict of str to float
        Median distance (metres) from the points to the nearest street under each
        hypothesis (``as_given``, ``gcj02``, ``bd09``), and ``control``: the points moved
        by the GCJ-02 offset turned by 15°, 30°... 345° (what distances look like when
        points bear no relation to the streets).
    share_closer : dict of str to float
        Share of points nearer a street after removing each shift than as given.
    message : str
        The finding in words, with the fix when a shift is likely. It starts with
        ``"no shift"``, ``"inconclusive"``, ``"only"`` (too few points) or ``"the points
        look shifted"``.
    evidence : str
        The evidence in words (distances, facilities nearer each way, name matches).
    best : str or None
        The placement the evidence clearly supports (``"as_given"``, ``"gcj02"`` or
        ``"bd09"``); None when it does not decide.
    street_wins : dict of str to int
        For each pair ``"a>b"`` of hypotheses, the facilities nearer a street (by more
        than a metre) under ``a`` than under ``b``.
    p_streets : dict of str to float
        For each hypothesis, the largest one-sided signed-rank p-value of its being
        nearer the streets than each other hypothesis (small: it fits the streets better).
    street_hits : dict of str to int
        Facilities within ``on_street_m`` of a street (drawn on its centreline, as bus
        stops and gates often are), per hypothesis.
    street_expected : float
        Such facilities when the whole layer is moved at random (the mean over the
        control placements).
    z_on_street : dict of str to float
        How many standard deviations of the control placements ``street_hits`` lies
        above their mean, per hypothesis.
    n_named : int
        Points whose name matches a reference feature.
    name_hits : dict of str to int
        Named points within ``name_tol_m`` of a feature of the same name, per hypothesis.
    name_expected : dict of str to float
        Such matches expected by chance (points spread at random over the streets' hull).
    p_names : dict of str to float
        Chance of at least ``name_hits`` matches under each hypothesis if it were wrong.
    """

    likely: bool
    system: str | None
    n_points: int
    median_dist_m: dict[str, float] = field(default_factory=dict)
    share_closer: dict[str, float] = field(default_factory=dict)
    message: str = ""
    evidence: str = ""
    best: str | None = None
    street_wins: dict[str, int] = field(default_factory=dict)
    p_streets: dict[str, float] = field(default_factory=dict)
    street_hits: dict[str, int] = field(default_factory=dict)
    street_expected: float = 0.0
    z_on_street: dict[str, float] = field(default_factory=dict)
    n_named: int = 0
    name_hits: dict[str, int] = field(default_factory=dict)
    name_expected: dict[str, float] = field(default_factory=dict)
    p_names: dict[str, float] = field(default_factory=dict)

    @property
    def decisive(self) -> bool:
        """Whether the evidence clearly supports one placement."""
        return self.best is not None

    def table(self) -> pd.DataFrame:
        """Deprecated name of :meth:`to_frame`."""
        _frames.renamed("table", "to_frame", "ShiftCheck")
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:
        """The evidence as a table: one row per hypothesis (and the street ``control``)."""
        rows = []
        for k, v in self.median_dist_m.items():
            rows.append(
                {
                    "hypothesis": k,
                    "median_dist_m": v,
                    "share_closer": self.share_closer.get(k, np.nan),
                    "p_streets": self.p_streets.get(k, np.nan),
                    "name_hits": self.name_hits.get(k, np.nan),
                    "name_expected": self.name_expected.get(k, np.nan),
                    "p_names": self.p_names.get(k, np.nan),
                }
            )
        return pd.DataFrame(rows).set_index("hypothesis")


@runtime_checkable
class RoadNetwork(Protocol):
    """What :func:`detect_shift` reads of a mode network: its nodes, its edges as a tree, its CRS.

    :class:`mtown_geo.network.Network` is one; this module names the shape instead of
    importing the class, so the CRS layer stays below the network layer.
    """

    @property
    def nodes(self) -> gpd.GeoDataFrame: ...

    @property
    def edge_tree(self) -> shapely.STRtree: ...

    @property
    def crs(self) -> CRS: ...


def _road_tree(network: Any) -> tuple[shapely.STRtree, CRS, shapely.Geometry]:
    """The streets as a tree of lines, their metric CRS and the hull they span."""
    if isinstance(network, RoadNetwork) and not isinstance(network, (gpd.GeoDataFrame, gpd.GeoSeries)):
        nodes = np.asarray(network.nodes.geometry.values)
        return network.edge_tree, network.crs, shapely.convex_hull(shapely.multipoints(nodes))
    if isinstance(network, (gpd.GeoDataFrame, gpd.GeoSeries)):
        require_crs(network, what="road layer")
        if network.empty:
            raise InputError("the road layer is empty: nothing to compare the points with")
        roads = network.geometry if isinstance(network, gpd.GeoDataFrame) else network
        roads = roads[~(roads.is_empty | roads.isna())]
        if roads.empty:
            raise InputError("the road layer has only empty geometries")
        if not roads.crs.is_projected:
            roads = roads.to_crs(metric_crs(roads))
        metric = require_projected(roads, what="road layer")
        geoms = np.asarray(roads.values)
        return shapely.STRtree(geoms), metric, shapely.convex_hull(shapely.union_all(shapely.boundary(geoms)))
    raise InputError(f"network must be a mtown_geo Network or a GeoDataFrame of road lines, got {type(network).__name__}")


def _nearest_dist(tree: shapely.STRtree, pts: np.ndarray) -> np.ndarray:
    idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(pts), np.inf)
    out[idx[0]] = dist
    return out


def normalise_name(value: Any) -> str:
    """A place name as :func:`detect_shift` compares names.

    Full-width characters become half-width (NFKC), spaces go, a trailing bracketed
    part such as ``(东门)`` or ``（北区）`` goes, letters are lower-cased; anything but
    text gives ``""``.

    Examples
    --------
    >>> normalise_name("贵溪市第一小学（东校区） ")
    '贵溪市第一小学'
    """
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFKC", value)
    text = re.sub(r"\s+", "", text)
    text = re.sub(r"\([^()]*\)$", "", text)
    return text.lower()


def _paired_p(gain: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value that ``gain`` (paired differences) is positive.

    Differences within :data:`_TIE_M` of zero count as ties and are left out; 1 when
    nothing is left.
    """
    gain = gain[np.isfinite(gain) & (np.abs(gain) > _TIE_M)]
    if len(gain) == 0:
        return 1.0
    from scipy.stats import wilcoxon

    return float(wilcoxon(gain, alternative="greater").pvalue)


def _name_evidence(
    positions: dict[str, np.ndarray],
    names: list[str],
    reference: gpd.GeoDataFrame | gpd.GeoSeries,
    name_col: str,
    metric: CRS,
    hull: shapely.Geometry,
    tol_m: float,
) -> tuple[int, dict[str, int], dict[str, float]]:
    """(points named like a reference feature, matches per hypothesis, matches expected by chance)."""
    if not isinstance(reference, gpd.GeoDataFrame):
        raise InputError(f"reference must be a GeoDataFrame of named features, got {type(reference).__name__}")
    if name_col not in reference:
        raise InputError(f"the reference layer has no {name_col!r} column of names")
    require_crs(reference, what="reference layer")
    ref = reference[reference[name_col].notna()]
    ref_geoms = np.asarray(ref.to_crs(metric).geometry.values) if len(ref) else np.empty(0, dtype=object)
    ok = ~(shapely.is_missing(ref_geoms) | shapely.is_empty(ref_geoms)) if len(ref_geoms) else np.zeros(0, bool)
    by_name: dict[str, list[int]] = {}
    for i, nm in enumerate(ref[name_col].tolist()):
        key = normalise_name(nm)
        if key and ok[i]:
            by_name.setdefault(key, []).append(i)
    hits = {h: 0 for h in positions}
    expected = {h: 0.0 for h in positions}
    hull_area = float(hull.area)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(names):
        if key in by_name:
            groups.setdefault(key, []).append(i)
    n_named = sum(len(v) for v in groups.values())
    for key, members in groups.items():
        geoms = ref_geoms[by_name[key]]
        chance = 1.0
        if hull_area > 0:
            zone = shapely.intersection(shapely.union_all(shapely.buffer(geoms, tol_m)), hull)
            chance = min(1.0, float(zone.area) / hull_area)
        for h, xy in positions.items():
            pts = shapely.points(xy[members])
            d = shapely.distance(pts[:, None], geoms[None, :]).min(axis=1)
            hits[h] += int(np.sum(d <= tol_m))
            expected[h] += chance * len(members)
    return n_named, hits, expected


def detect_shift(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    network: RoadNetwork | gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    reference: gpd.GeoDataFrame | None = None,
    name_col: str = "name",
    min_points: int = 5,
    alpha: float = 1e-3,
    min_share: float = 0.6,
    name_tol_m: float = 50.0,
    on_street_m: float = 2.0,
    warn: bool = True,
) -> ShiftCheck:
    """Tell whether facility points look shifted (GCJ-02 or BD-09) against the streets and named places.

    Each point is placed three ways: as given, with a GCJ-02 shift removed, with a
    BD-09 shift removed (the two shifts move a point 300–900 m, in different
    directions). The right placement puts facilities where they are; a wrong one puts
    every facility hundreds of metres off. Facility by facility, the placements are
    compared by

    * **streets**: how much nearer a street each facility lies in one placement than in
      another (differences within a metre are ties). A placement wins when, against
      each other placement, it is nearer for at least ``min_share`` of the facilities
      that differ and a one-sided Wilcoxon signed-rank test over the paired
      differences gives ``p < alpha``. Facilities drawn on a street centreline (bus
      stops, gates) count too: a placement wins when at least three lie within
      ``on_street_m`` of a street, five standard deviations more than when the whole
      layer is moved at random (23 control moves, the GCJ-02 correction turned by
      15°, 30°...: a street grid lines many points up at once), and no other placement
      also has such facilities. In dense towns a point placed at random also lies near some street, so
      this evidence alone often cannot decide;
    * **names** (with ``reference``): facilities whose name is that of a reference
      feature (an OpenStreetMap school, clinic, bus stop...) should lie within
      ``name_tol_m`` of it. A placement wins when at least three facilities do, with a
      chance below ``alpha`` of as many falling there at random (Poisson tail, the
      chance of each one being the share of the streets' hull within ``name_tol_m`` of a
      feature of its name), and no other placement gets two or more such matches
      beyond chance (then the layer mixes systems, and nothing is decided).

    The verdict is the placement that wins by one kind of evidence and is not
    contradicted by the other; otherwise the check is inconclusive.

    Parameters
    ----------
    points : GeoDataFrame or GeoSeries
        Facilities, in the CRS their coordinates claim (no CRS raises). When the layer
        has at least ``min_points`` points, only the points are used (a point inside a
        large park or school ground says little about where its streets are);
        otherwise polygons and lines count by a point on their surface.
    network : Network (any RoadNetwork), GeoDataFrame or GeoSeries
        A mode network (:class:`mtown_geo.network.Network`) or road lines with a CRS,
        known to be in WGS-84/CGCS2000 (OpenStreetMap, surveyed centrelines).
    reference : GeoDataFrame, optional
        Named features known to be in WGS-84/CGCS2000, with a CRS and a ``name_col``
        column, e.g. the ``features`` of an OpenStreetMap extract
        (:func:`mtown_geo.sources.read_osm`). Names are compared after
        :func:`normalise_name`.
    name_col : str, optional
        The name column of ``points`` (when a GeoDataFrame) and of ``reference``
        (default ``"name"``).
    min_points : int, optional
        Fewer usable points give an inconclusive answer (default 5).
    alpha : float, optional
        Largest chance of the evidence being a fluke for a verdict (default 0.001).
    min_share : float, optional
        Share of the differing facilities a placement must win by the streets
        (default 0.6).
    name_tol_m : float, optional
        Distance (metres) within which a facility matches a feature of its name
        (default 50).
    on_street_m : float, optional
        Distance (metres) within which a facility counts as drawn on a street
        (default 2).
    warn : bool, optional
        Issue a :class:`~mtown_geo.CoordinateShiftWarning` when a shift is likely
        (default True).

    Returns
    -------
    ShiftCheck
        The verdict (``best``, ``likely``, ``system``) and its evidence.

    Raises
    ------
    InputError
        Not a layer, no usable geometry, bad arguments, a reference without names.
    CRSError
        A layer without CRS, or coordinates that are not longitude/latitude in it.

    Examples
    --------
    >>> ext = mg.sources.read_osm("town.osm.pbf")  # doctest: +SKIP
    >>> net = mg.network.from_osm(ext, mode="walk")  # doctest: +SKIP
    >>> check = detect_shift(pois, net, reference=ext.features)  # doctest: +SKIP
    >>> check.best, check.message  # doctest: +SKIP
    """
    if not isinstance(points, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"points must be a GeoDataFrame or GeoSeries, got {type(points).__name__}")
    require_crs(points, what="point layer")
    if isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer)) or min_points < 1:
        raise InputError(f"min_points must be a whole number of at least 1, got {min_points!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 0.5):
        raise InputError(f"alpha must lie between 0 and 0.5, got {alpha!r}")
    if not (isinstance(min_share, (int, float)) and 0.5 <= min_share <= 1):
        raise InputError(f"min_share must lie between 0.5 and 1, got {min_share!r}")
    if not (isinstance(name_tol_m, (int, float)) and math.isfinite(name_tol_m) and name_tol_m > 0):
        raise InputError(f"name_tol_m must be a positive distance in metres, got {name_tol_m!r}")
    if not (isinstance(on_street_m, (int, float)) and math.isfinite(on_street_m) and on_street_m >= 0):
        raise InputError(f"on_street_m must be a distance in metres >= 0, got {on_street_m!r}")
    tree, metric, hull = _road_tree(network)
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    arr = np.asarray(geoms.values)
    if isinstance(points, gpd.GeoDataFrame) and name_col in points:
        raw_names = np.asarray(points[name_col].to_numpy(dtype=object))
    else:
        raw_names = np.full(len(arr), None, dtype=object)
    usable = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    bad = _bad_coordinate_rows(arr)
    usable[bad] = False
    if not usable.any():
        raise InputError("the point layer has no usable geometry (empty, missing or NaN coordinates)")
    arr, raw_names = arr[usable], raw_names[usable]
    is_point = shapely.get_type_id(arr) == 0
    if is_point.sum() >= min_points:
        # a point on a large polygon (park, school ground) says little about where its streets are
        arr, raw_names = arr[is_point], raw_names[is_point]
    elif not is_point.all():
        arr = arr.copy()
        with np.errstate(all="ignore"):
            arr[~is_point] = shapely.point_on_surface(arr[~is_point])
    lonlat = gpd.GeoSeries(arr, crs=points.crs).to_crs(4326)
    lon = lonlat.x.to_numpy()
    lat = lonlat.y.to_numpy()
    with np.errstate(invalid="ignore"):
        if not ((np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)).all():
            raise CRSError(
                "some point coordinates are not longitude/latitude in the layer's CRS "
                f"({CRS.from_user_input(points.crs).name}): set the layer's real CRS with "
                "gdf.set_crs(..., allow_override=True)"
            )
    inside = in_shift_area(lon, lat)
    lon, lat, raw_names = lon[inside], lat[inside], raw_names[inside]
    n = len(lon)
    if n < min_points:
        msg = f"only {n} usable points inside China (at least {min_points} needed): cannot tell whether the layer is shifted"
        return ShiftCheck(likely=False, system=None, n_points=n, message=msg)

    def _metric_xy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=4326).to_crs(metric)
        return np.column_stack([s.x.to_numpy(), s.y.to_numpy()])

    positions = {"as_given": _metric_xy(lon, lat)}
    for system, unshift in _UNSHIFT.items():
        ux, uy = unshift(lon, lat)
        positions[system] = _metric_xy(np.asarray(ux), np.asarray(uy))
    dist = {h: _nearest_dist(tree, shapely.points(xy)) for h, xy in positions.items()}
    medians = {h: float(np.median(d)) for h, d in dist.items()}
    closer = {s: float(np.mean(dist[s] < dist["as_given"])) for s in _UNSHIFT}
    # control: the whole layer moved by the GCJ-02 correction turned by 15°, 30°... 345° (what distances
    # look like when the points bear no relation to the streets; a whole layer moved at once, as a wrong
    # placement moves it, so that a street grid's regularity shows in the controls too)
    given = positions["as_given"]
    offset = positions["gcj02"] - given
    ctrl = []
    for angle in np.deg2rad(np.arange(15.0, 360.0, 15.0)):
        c, s = math.cos(angle), math.sin(angle)
        rot = np.column_stack([c * offset[:, 0] - s * offset[:, 1], s * offset[:, 0] + c * offset[:, 1]])
        ctrl.append(_nearest_dist(tree, shapely.points(given + rot)))
    medians["control"] = float(np.median(np.concatenate(ctrl)))

    # streets: paired signed-rank tests between the placements
    wins: dict[str, int] = {}
    p_streets: dict[str, float] = {}
    street_best: str | None = None
    for h in HYPOTHESES:
        worst_p = 0.0
        strong = True
        for other in HYPOTHESES:
            if other == h:
                continue
            w = int(np.sum(dist[h] < dist[other] - _TIE_M))
            lost = int(np.sum(dist[h] > dist[other] + _TIE_M))
            wins[f"{h}>{other}"] = w
            p = _paired_p(dist[other] - dist[h])
            worst_p = max(worst_p, p)
            strong &= w + lost > 0 and w >= min_share * (w + lost)
        p_streets[h] = worst_p
        if worst_p < alpha and strong:
            street_best = h

    # on a street: facilities drawn on a centreline (bus stops, gates) under one placement only, far more than
    # under any of the control placements (whose counts vary a lot in a street grid: the whole layer moves)
    ctrl_on = np.array([np.sum(d <= on_street_m) for d in ctrl], dtype=float)
    on_mean, on_sd = float(ctrl_on.mean()), float(ctrl_on.std(ddof=1))
    on_hits = {h: int(np.sum(dist[h] <= on_street_m)) for h in HYPOTHESES}
    spread = max(on_sd, math.sqrt(on_mean), 1.0)
    z_on = {h: (on_hits[h] - on_mean) / spread for h in HYPOTHESES}
    on_supported = [h for h in HYPOTHESES if on_hits[h] >= 2 and z_on[h] >= _ON_STREET_Z]
    on_best = on_supported[0] if len(on_supported) == 1 and on_hits[on_supported[0]] >= _MIN_NAME_HITS else None
    if street_best is not None and on_best is not None and street_best != on_best:
        street_best = None  # the two readings of the streets disagree
    elif street_best is None:
        street_best = on_best

    # names: facilities within name_tol_m of a reference feature of their name
    n_named = 0
    hits: dict[str, int] = {}
    expected: dict[str, float] = {}
    p_names: dict[str, float] = {}
    name_best: str | None = None
    name_mixed: list[str] = []
    if reference is not None:
        keys = [normalise_name(v) for v in raw_names]
        n_named, hits, expected = _name_evidence(positions, keys, reference, name_col, metric, hull, name_tol_m)
        from scipy.stats import poisson

        for h in HYPOTHESES:
            p_names[h] = float(poisson.sf(hits[h] - 1, max(expected[h], 1e-12))) if hits[h] > 0 else 1.0
        supported = [h for h in HYPOTHESES if hits[h] >= 2 and p_names[h] < alpha]
        if len(supported) > 1:
            name_mixed = supported  # matches beyond chance under two placements: a table mixing systems
        elif supported and hits[supported[0]] >= _MIN_NAME_HITS:
            name_best = supported[0]

    def _beaten_by_streets(h: str) -> bool:
        """Whether another placement lies clearly nearer the streets than ``h``."""
        for o in HYPOTHESES:
            if o != h:
                w, lost = wins[f"{o}>{h}"], wins[f"{h}>{o}"]
                if _paired_p(dist[h] - dist[o]) < alpha and w >= min_share * (w + lost):
                    return True
        return False

    best: str | None = None
    mixed = bool(name_mixed) or len(on_supported) > 1
    if mixed:
        best = None
    elif name_best is not None:
        contradicted = _beaten_by_streets(name_best) or (on_best is not None and on_best != name_best)
        best = None if contradicted else name_best
    elif street_best is not None:
        best = street_best

    def _label(h: str) -> str:
        return _HYPOTHESIS_LABEL[h]

    street_text = (
        f"median distance to the nearest street of {n} points: {medians['as_given']:.0f} m as given, "
        f"{medians['gcj02']:.0f} m without a GCJ-02 shift, {medians['bd09']:.0f} m without a BD-09 shift, "
        f"{medians['control']:.0f} m for points moved at random"
    )
    lead = best or street_best or max(HYPOTHESES, key=lambda h: (-p_streets[h], h == "as_given"))
    rivals = [h for h in HYPOTHESES if h != lead]
    street_text += (
        "; nearer a street "
        + _label(lead)
        + " than "
        + " / ".join(f"{_label(r)}: {wins[f'{lead}>{r}']} facilities ({wins[f'{r}>{lead}']} farther)" for r in rivals)
    )
    street_text += f" (signed-rank test p = {p_streets[lead]:.1g})"
    if max(on_hits.values()) >= 2:
        street_text += (
            f"; on a street (within {on_street_m:g} m): "
            + ", ".join(f"{on_hits[h]} {_label(h)}" for h in HYPOTHESES)
            + f" ({on_mean:.1f} ± {on_sd:.1f} for the layer moved at random)"
        )
    parts = [street_text]
    if reference is not None:
        if n_named:
            parts.append(
                f"{_words.count(n_named, 'facility shares its', 'facilities share their')} name with a reference feature; within {name_tol_m:.0f} m of it: "
                + ", ".join(f"{hits[h]} {_label(h)}" for h in HYPOTHESES)
                + f" ({expected['as_given']:.1f} expected by chance)"
            )
        else:
            parts.append("no facility shares its name with a reference feature")
    summary = "; ".join(parts)
    common = dict(
        evidence=summary,
        n_points=n,
        median_dist_m=medians,
        share_closer=closer,
        best=best,
        street_wins=wins,
        p_streets=p_streets,
        street_hits=on_hits,
        street_expected=on_mean,
        z_on_street=z_on,
        n_named=n_named,
        name_hits=hits,
        name_expected=expected,
        p_names=p_names,
    )
    if best in _UNSHIFT:
        msg = (
            f"the points look shifted by {_SYSTEM_LABEL[best]}: {summary}. Convert them with "
            f"mtown_geo.crs.to_wgs84(points, source={best!r}) before measuring any distance"
        )
        if warn:
            warnings.warn(msg, CoordinateShiftWarning, stacklevel=2)
        return ShiftCheck(likely=True, system=best, message=msg, **common)  # type: ignore[arg-type]
    if best == "as_given":
        return ShiftCheck(likely=False, system=None, message=f"no shift: the points fit as given ({summary})", **common)  # type: ignore[arg-type]
    why = ""
    if mixed:
        why = " Facilities fit under several placements: the layer may mix coordinate systems."
    elif name_best is not None:
        why = f" The names point to the placement {_label(name_best)}, but the streets contradict it."
    msg = (
        f"inconclusive: no placement fits clearly better ({summary}).{why} Check the points' source and CRS; "
        "comparing facility names with named features (OpenStreetMap) decides where streets cannot"
    )
    return ShiftCheck(likely=False, system=None, message=msg, **common)  # type: ignore[arg-type]
