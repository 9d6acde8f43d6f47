"""Print maps for a town plan: one indicator per sheet, as 300 dpi PNG and vector PDF.

Every map is a :class:`matplotlib.figure.Figure` (no pyplot, no display needed) laid out as
a plan figure after the Chinese planning-map conventions (城乡规划 / 国土空间规划制图):

* **图名** the title in Chinese with the English beside it, and a subtitle with the figure
  that matters (a coverage rate, the land and people left out);
* **the map** in a projected metric CRS at a round **比例尺** scale (1:5 000, 1:10 000,
  1:25 000...), the town filling an A4 or A3 sheet in the orientation that suits its
  shape; under the indicator an offline **basemap** from the run's own data (streets by
  road class with the main streets' names, water, green land, land use, buildings; see
  :mod:`mtown_geo.render._basemap`), no tile server;
* the indicator painted only on the land its rate measures (the residential land when the
  rate is weighted by it), service areas as street-following isochrones, gaps hatched and
  labelled with the land and people affected, facilities as symbols per category with
  their names (labels placed so they do not overlap);
* a side panel with the **指北针** north arrow (true north), the numeric and graphic
  **比例尺** scale, the **图例** legend of every layer drawn, and an overview inset where
  the town is small within the data around it;
* in the bottom margin **数据来源** the source and data date, **坐标系** the CRS,
  **编制单位/日期** who prepared the map and when, and the OpenStreetMap attribution.

All text is set in the packaged Noto Sans CJK SC (see :mod:`mtown_geo.render._fonts`),
never a system font; text from data (names, titles) is drawn literally (no math parsing).

* :func:`travel_time_map` — the measured land coloured by travel-time class to one
  category, with its service area, gaps and facilities.
* :func:`life_circle_map` — how many of a life circle's required categories each place
  reaches (k of n), on a graded scale.
* :func:`coverage_map` — covered / not covered land, with the rate.
* :func:`facilities_map` — every facility by category, with names.
* :func:`layers_map` — any layers with a style and a legend label (park service radii,
  greenways).
* :func:`save_figure` — PNG and PDF, written atomically.

Cost: about 0.2–0.25 CPU s per sheet with a basemap and 0.04–0.05 s without (PNG and PDF,
A4 at 300 dpi) on a 2-core machine; see ``bench/README.md`` ("Print maps").
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import re
import shutil
import struct
import sys
import tempfile
import threading
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from isal import isal_zlib
from matplotlib import colors as mcolors
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.text import Text
from pyproj import CRS, Transformer

from .. import _geom, _words
from .._errors import InputError, MtownGeoWarning
from .._gc import paused as gc_paused
from ..crs import require_crs, require_projected
from ..demand import cells as cells_of
from ..demand import weight_name
from ..demand import weights as unit_weights
from ..sources.osm import ATTRIBUTION
from ..standards import Profile, resolve
from ._basemap import BUILDING_EDGE, BUILDING_FILL, LANDUSE_STYLES, ROAD_CLASSES, WATER_LINE, Basemap
from ._classes import DEFAULT_BREAKS_MIN, breaks_for, classify, time_classes
from ._fonts import cjk_font, missing_chars
from ._symbology import CYCLE as _CYCLE
from ._symbology import FACILITY_STYLE as _FACILITY_STYLE
from ._symbology import LAYER_COLOURS as _DEFAULT_COLOURS
from ._symbology import MARKERS as _MARKERS
from ._symbology import fill_label as _fill_label
from ._symbology import geom_kinds as _kinds
from ._symbology import grades as _grades
from ._symbology import layer_colours
from ._text import MapCanvas, print_pdf

__all__ = [
    "A4_LANDSCAPE_IN",
    "COVERAGE_COLOURS",
    "PAPERS_MM",
    "RASTER_MIN_VERTICES",
    "STYLE_KEYS",
    "coverage_map",
    "facilities_map",
    "layers_map",
    "life_circle_map",
    "save_figure",
    "scale_bar_length_m",
    "travel_time_map",
]

log = logging.getLogger(__name__)

#: A4 landscape in inches (width, height).
A4_LANDSCAPE_IN: tuple[float, float] = (11.69, 8.27)

#: Paper sizes in millimetres, landscape (width, height).
PAPERS_MM: dict[str, tuple[float, float]] = {"A4": (297.0, 210.0), "A3": (420.0, 297.0)}

#: Colours of covered and not-covered land in :func:`coverage_map`.
COVERAGE_COLOURS: tuple[str, str] = ("#1a9850", "#d73027")

#: Style keys accepted by :func:`layers_map`.
STYLE_KEYS: frozenset[str] = frozenset(
    {"color", "facecolor", "edgecolor", "linewidth", "linestyle", "alpha", "marker", "markersize", "hatch", "zorder"}
)

_MM = 1 / 25.4  # inches per millimetre
_DRAW_DPI = 300.0  # resolution the sheets are laid out at (that of the PNG by default)

# sheet layout, millimetres
_EDGE_MM = 6.0  # paper edge to the outer frame (图框)
_INSET_MM = 4.0  # outer frame to the content
_TITLE_MM = 17.0  # the title band
_FOOTER_MM = 11.0  # the margin band at the bottom
_PANEL_MM = {"A4": 64.0, "A3": 78.0}  # the side panel's width
_GAP_MM = 4.0
_PAD = 0.03  # margin kept around the town inside the map frame, share of its larger side

# round scales: 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 × 10ⁿ
_SCALES = sorted({m * 10**e for e in range(2, 8) for m in (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5)})

_BOUNDARY_STYLES: dict[str, tuple[str, Any, float, str]] = {
    # kind: (colour, linestyle, linewidth in pt, legend label); the town boundary dash-dot as
    # administrative boundaries are drawn on Chinese plans
    "镇域": ("#5e3c99", (0, (6.0, 2.0, 1.2, 2.0)), 1.6, "镇域 town boundary"),
    "建成区": ("#222222", "-", 0.9, "建成区 built-up area"),
}


# labels sit on a light box so they read over any fill (a stroked halo would turn the text into
# outlines in the PDF, where it could no longer be searched)
_LABEL_BOX = {"boxstyle": "round,pad=0.12", "facecolor": (1.0, 1.0, 1.0, 0.72), "edgecolor": "none"}
# waterway line widths (pt) by ``kind``, narrowest first (the order they are drawn in); any
# other waterway (ditches, drains) is drawn as "other"
_WATERWAY_PT = {"other": 0.5, "stream": 0.7, "canal": 1.3, "river": 1.6}
_GAP_HATCH = (0.2, 0.0, 0.0, 0.55)  # hatch lines of gaps: dark, half transparent
_LABEL_PT = 6.5  # facility and gap labels
_STREET_PT = 6.0
_MAX_LABELS = 80  # facility labels per map (the rest stay symbols)
# a fill layer (buildings, land use, the indicator's classes) with more vertices than this is
# rasterised in the PDF at the sheet's resolution (300 dpi): a dense town's buildings would
# otherwise make the PDF tens of MB and slow to open; names and all other text stay text
RASTER_MIN_VERTICES = 200_000


# ---------------------------------------------------------------------------------------
# Geometry → matplotlib collections (vectorised: one collection per layer)
# ---------------------------------------------------------------------------------------


def _polygon_paths(geoms: np.ndarray) -> list[MplPath]:
    """One compound path per (multi)polygon, exteriors counter-clockwise and holes clockwise."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    parts = shapely.orient_polygons(parts, exterior_cw=False)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    if len(coords) == 0:
        return [MplPath(np.empty((0, 2))) for _ in range(len(geoms))]
    n_ring = np.bincount(coord_ring, minlength=len(rings))
    ends = np.cumsum(n_ring)
    starts = ends - n_ring
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    nonempty = n_ring > 0
    codes[starts[nonempty]] = MplPath.MOVETO
    codes[ends[nonempty] - 1] = MplPath.CLOSEPOLY
    owner = part_owner[ring_part[coord_ring]]  # non-decreasing: parts and rings keep their order
    cut = np.searchsorted(owner, np.arange(len(geoms) + 1))
    return [MplPath(coords[a:b], codes[a:b]) for a, b in itertools.pairwise(cut)]


def _line_segments(geoms: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Vertex arrays of every line part (polygon parts give their rings) and the geometry each comes from.

    A geometry of several parts (a line cut by the map's view into pieces, a multi-polygon)
    gives several arrays: the second array, the index in ``geoms`` of each, is what a style
    given per geometry is repeated by. The arrays follow the geometries' order.
    """
    parts, owner = shapely.get_parts(geoms, return_index=True)
    is_poly = shapely.get_type_id(parts) == 3
    if is_poly.any():
        rings, ring_part = shapely.get_rings(parts[is_poly], return_index=True)
        parts = np.concatenate([parts[~is_poly], rings])
        owner = np.concatenate([owner[~is_poly], owner[is_poly][ring_part]])
        order = np.argsort(owner, kind="stable")
        parts, owner = parts[order], owner[order]
    coords, which = shapely.get_coordinates(parts, return_index=True)
    n = np.bincount(which, minlength=len(parts))
    ends = np.cumsum(n)
    keep = n >= 2
    return [coords[a:b] for a, b in zip(ends[keep] - n[keep], ends[keep], strict=True)], owner[keep]


def _point_xy(geoms: np.ndarray) -> np.ndarray:
    """Coordinates of point geometries (a point on the surface for other shapes), shape (n, 2)."""
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    parts = shapely.get_parts(geoms)
    not_point = shapely.get_type_id(parts) != 0
    if not_point.any():
        parts = parts.copy()
        parts[not_point] = shapely.point_on_surface(parts[not_point])
    return shapely.get_coordinates(parts)


def _point_xy_each(geoms: np.ndarray) -> np.ndarray:
    """One point per geometry (a point on the surface for other shapes), NaN for empty ones; shape (n, 2)."""
    out = np.full((len(geoms), 2), np.nan)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if ok.any():
        g = geoms[ok]
        single = shapely.get_type_id(g) == 0
        pts = g.copy()
        pts[~single] = shapely.point_on_surface(g[~single])
        out[ok] = shapely.get_coordinates(pts)
    return out


def _one(value: Any) -> bool:
    """Whether a style value is one colour or one number for the whole layer (not one per feature)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    if value is None:
        return True
    return isinstance(value, (str, tuple)) and mcolors.is_color_like(value)


def _compound(geoms: np.ndarray, *, rings: bool) -> MplPath:
    """All the lines (or polygon rings, exteriors counter-clockwise and holes clockwise) of a layer as one path.

    One path per layer is written once into a PDF and filled or stroked in one go, instead
    of one path per feature (thousands of buildings, road pieces).
    """
    parts = shapely.get_parts(geoms)
    parts = parts[~shapely.is_empty(parts)]
    if rings:
        parts = shapely.get_rings(shapely.orient_polygons(parts[shapely.get_type_id(parts) == 3], exterior_cw=False))
    else:
        is_poly = shapely.get_type_id(parts) == 3
        if is_poly.any():
            parts = np.concatenate([parts[~is_poly], shapely.get_rings(parts[is_poly])])
    coords, which = shapely.get_coordinates(parts, return_index=True)
    if len(coords) < 2:
        return MplPath(np.zeros((1, 2)), [MplPath.MOVETO])
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    start = np.concatenate([[True], which[1:] != which[:-1]])
    codes[start] = MplPath.MOVETO
    if rings:
        end = np.concatenate([which[1:] != which[:-1], [True]])
        codes[end] = MplPath.CLOSEPOLY
    return MplPath(coords, codes)


def _n_vertices(path: MplPath) -> int:
    return int(np.shape(path.vertices)[0])


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """The polygon parts of each geometry (overlays may return collections with lines and points)."""
    polys = np.isin(shapely.get_type_id(geoms), (3, 6))
    if polys.all():
        return geoms
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3, 6))
    return np.array([shapely.multipolygons(parts[keep & (owner == i)]) for i in range(len(geoms))], dtype=object)


def _draw_polygons(ax: Axes, geoms: np.ndarray, *, facecolors: Any, zorder: float, **kw: Any) -> PathCollection:
    """Polygons as one collection: one compound path when the whole layer has one style, else a path per feature."""
    geoms = _polygonal(geoms)
    one = _one(facecolors) and all(_one(kw.get(k)) for k in ("edgecolors", "linewidths"))
    paths = [_compound(geoms, rings=True)] if one else _polygon_paths(geoms)
    coll = PathCollection(paths, facecolors=facecolors, zorder=zorder, **kw)
    ax.add_collection(coll, autolim=False)
    return coll


def _draw_lines(ax: Axes, geoms: np.ndarray, *, zorder: float, **kw: Any) -> PathCollection | LineCollection:
    """Lines as one collection: one compound path when the whole layer has one colour and width.

    Otherwise a line per part, each with the colour and width of the geometry it is part of
    (``colors`` and ``linewidths`` may give one per geometry).
    """
    if all(_one(kw.get(k)) for k in ("colors", "linewidths")):
        style = dict(kw)
        colour = style.pop("colors", None)
        coll: PathCollection | LineCollection = PathCollection(
            [_compound(geoms, rings=False)], facecolors="none", edgecolors=colour, zorder=zorder, **style
        )
    else:
        segments, owner = _line_segments(geoms)
        style = dict(kw)
        # a colour or width per geometry goes with each of its parts (matplotlib would cycle the
        # values over the parts, matching them to the wrong lines after the first multi-part one)
        if len(geoms) > 1 and "colors" in style:
            colours = mcolors.to_rgba_array(style["colors"])
            if len(colours) == len(geoms):
                style["colors"] = colours[owner]
        if len(geoms) > 1 and "linewidths" in style:
            widths = np.ravel(np.asarray(style["linewidths"], dtype=np.float64))
            if len(widths) == len(geoms):
                style["linewidths"] = widths[owner]
        coll = LineCollection(segments, zorder=zorder, **style)
    ax.add_collection(coll, autolim=False)
    return coll


# ---------------------------------------------------------------------------------------
# Checks at the entry
# ---------------------------------------------------------------------------------------


def _check_layer(layer: Any, *, what: str) -> gpd.GeoSeries:
    if isinstance(layer, gpd.GeoDataFrame):
        geo = layer.geometry
    elif isinstance(layer, gpd.GeoSeries):
        geo = layer
    else:
        raise InputError(f"the {what} must be a GeoDataFrame or GeoSeries, got {type(layer).__name__}")
    require_crs(geo, what=what)
    return geo


def _in_map_crs(layer: Any, crs: CRS, *, what: str) -> np.ndarray:
    """The geometries of a layer in the map's CRS, as a numpy array."""
    geo = _check_layer(layer, what=what)
    if not CRS.from_user_input(geo.crs).equals(crs):
        geo = geo.to_crs(crs)
    return np.asarray(geo.values)


def _aligned(values: Any, index: pd.Index, *, what: str) -> np.ndarray:
    """Values index-aligned with the map's units (a Series is matched by label)."""
    if isinstance(values, pd.DataFrame):
        raise InputError(f"{what} must be one column (a Series), not a DataFrame")
    if isinstance(values, pd.Series):
        if not values.index.equals(index):
            if values.index.has_duplicates:
                raise InputError(f"{what} has duplicate index labels: it must be indexed like the demand units")
            missing = ~index.isin(values.index)
            if missing.any():
                raise InputError(
                    f"{what} has no value for {int(missing.sum())} of the {len(index)} demand units "
                    f"(e.g. {list(index[missing][:5])}): it must be indexed like the units"
                )
            values = values.reindex(index)
        return values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) != len(index):
        raise InputError(f"{what} must hold one value per demand unit ({len(index)}), got shape {arr.shape}")
    return arr


def _unit_geometry(units: Any, *, what: str) -> tuple[np.ndarray, CRS, pd.Index]:
    """Shapes to draw for demand units: grid points become their square cells."""
    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError(f"the {what} must be a GeoDataFrame (e.g. mtown_geo.demand.grid), got {type(units).__name__}")
    crs = require_projected(units, what=what)
    if len(units) == 0:
        raise InputError(f"the {what} layer is empty: nothing to map")
    geoms = np.asarray(units.geometry.values)
    kinds = _kinds(geoms)
    if {"x", "y", "cell_m"} <= set(units.columns) and (kinds == 0).all():
        geoms = np.asarray(cells_of(units).geometry.values)  # lattice-exact squares: neighbours share edges
    return geoms, crs, units.index


def _weights(units: gpd.GeoDataFrame, weight: str | None) -> tuple[np.ndarray, str]:
    """Unit weights (:func:`mtown_geo.demand.weights`) and how the rate is weighted, in words
    (Chinese and English)."""
    if weight is None:  # by area where the units have one (grid cells, parcels), else each counts once (villages)
        has_area = "area_m2" in units.columns and pd.to_numeric(units["area_m2"], errors="coerce").fillna(0).sum() > 0
        weight = "area_m2" if has_area else None
    weight = weight_name(weight)
    if weight is None:
        return np.ones(len(units)), "按单元数 by unit count"
    w = unit_weights(units, weight)
    label = {
        "area_m2": "按面积 area-weighted",
        "pop": "按人口 population-weighted",
        "res_area_m2": "按居住用地面积 weighted by residential land",
    }.get(weight, f"按 {weight} 加权 weighted by {weight}")
    return w, label


def _text_arg(value: Any, *, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{what} must be text, got {type(value).__name__}")
    return value


def _date_text(data_date: str | date | None) -> str:
    if data_date is None:
        log.warning("no data date given: the map says 未注明 not stated; pass data_date=...")
        return "未注明 not stated"
    if isinstance(data_date, date):
        return data_date.isoformat()
    if isinstance(data_date, str) and data_date.strip():
        return data_date.strip()
    raise InputError(f"data_date must be a date or text such as '2024-11', got {data_date!r}")


def _check_size(size_in: Any) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in size_in)
    except (TypeError, ValueError):
        raise InputError(f"size_in must be (width, height) in inches, got {size_in!r}") from None
    if not (4.0 <= w <= 100.0 and 4.0 <= h <= 100.0):
        raise InputError(f"size_in must be between 4 and 100 inches each way, got {size_in!r}")
    return w, h


def _check_paper(paper: Any, orientation: Any) -> tuple[str, str]:
    if not isinstance(paper, str) or paper.upper() not in PAPERS_MM:
        raise InputError(f"paper must be one of {sorted(PAPERS_MM)}, got {paper!r}")
    if orientation not in ("auto", "landscape", "portrait"):
        raise InputError(f"orientation must be 'auto', 'landscape' or 'portrait', got {orientation!r}")
    return paper.upper(), str(orientation)


# ---------------------------------------------------------------------------------------
# Sheet: paper, scale, map frame, panel (north arrow, scale, legend, inset), margins
# ---------------------------------------------------------------------------------------


def scale_bar_length_m(max_m: float) -> float:
    """The longest "nice" length (1, 2 or 5 × 10ⁿ metres) not longer than ``max_m``.

    >>> scale_bar_length_m(1234.0)
    1000.0
    >>> scale_bar_length_m(480.0)
    200.0
    """
    if not (isinstance(max_m, (int, float)) and math.isfinite(max_m) and max_m > 0):
        raise InputError(f"the scale bar needs a positive finite length, got {max_m!r}")
    exp = 10.0 ** math.floor(math.log10(max_m))
    for m in (5.0, 2.0, 1.0):
        if m * exp <= max_m * (1 + 1e-12):
            return m * exp
    return exp  # pragma: no cover - 1 × 10ⁿ always fits


def _length_label(length_m: float) -> str:
    return f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"


def _scale_text(denominator: float) -> str:
    """ "1:10 000" with a thin space every three digits."""
    return "1:" + f"{denominator:,.0f}".replace(",", " ")


def _local_geometry(crs: CRS, x: float, y: float) -> tuple[float, np.ndarray]:
    """At a map point: grid units per ground metre east-west, and the unit vector of true north.

    Found by projecting points a few metres apart and measuring them on the ellipsoid;
    falls back to (1, grid north) where the CRS cannot be inverted there.
    """
    try:
        to_ll = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
        to_xy = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
        lon, lat = to_ll.transform(x, y)
        d = 1e-4  # degrees: ≈ 10 m
        xe, ye = to_xy.transform(lon + d, lat)
        xn, yn = to_xy.transform(lon, lat + d)
        geod = crs.get_geod()
        if geod is None:
            raise ValueError("no ellipsoid")
        ground_m = geod.inv(lon, lat, lon + d, lat)[2]
        k = math.hypot(xe - x, ye - y) / ground_m
        north = np.array([xn - x, yn - y])
        north /= np.linalg.norm(north)
        if not (np.isfinite(k) and k > 0 and np.isfinite(north).all()):
            raise ValueError("not finite")
    except Exception as exc:  # the CRS is projected but has no inverse here: draw grid north, scale 1
        log.warning("cannot measure scale and north in %s at (%.0f, %.0f): %s; using grid north", crs.name, x, y, exc)
        return 1.0, np.array([0.0, 1.0])
    return k, north


@dataclass(frozen=True)
class _Page:
    """A sheet's size and where its parts go, in millimetres from the lower left corner."""

    paper: str
    orientation: str
    w_mm: float
    h_mm: float
    map_mm: tuple[float, float, float, float]  # x0, y0, x1, y1
    panel_mm: tuple[float, float, float, float]

    @property
    def size_in(self) -> tuple[float, float]:
        return (self.w_mm * _MM, self.h_mm * _MM)

    def frac(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A box in mm as (left, bottom, width, height) figure fractions."""
        x0, y0, x1, y1 = box
        return (x0 / self.w_mm, y0 / self.h_mm, (x1 - x0) / self.w_mm, (y1 - y0) / self.h_mm)

    def fx(self, x_mm: float) -> float:
        return x_mm / self.w_mm

    def fy(self, y_mm: float) -> float:
        return y_mm / self.h_mm


def _page(w_mm: float, h_mm: float, paper: str, orientation: str) -> _Page:
    panel = _PANEL_MM.get(paper, min(90.0, max(52.0, 0.22 * max(w_mm, h_mm))))
    left = _EDGE_MM + _INSET_MM
    right = w_mm - _EDGE_MM - _INSET_MM
    bottom = _EDGE_MM + _FOOTER_MM
    top = h_mm - _EDGE_MM - _TITLE_MM
    return _Page(
        paper=paper,
        orientation=orientation,
        w_mm=w_mm,
        h_mm=h_mm,
        map_mm=(left, bottom, right - panel - _GAP_MM, top),
        panel_mm=(right - panel, bottom, right, top),
    )


def _choose_page(
    bounds: np.ndarray, crs: CRS, *, paper: str, orientation: str, size_in: tuple[float, float] | None
) -> tuple[_Page, float, float, np.ndarray]:
    """The sheet (orientation by the town's shape), the round scale denominator, and k and north at the centre."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    k, north = _local_geometry(crs, cx, cy)
    w, h = max(maxx - minx, 0.0), max(maxy - miny, 0.0)
    side = max(w, h)
    if side <= 0:
        side = 1000.0 * k  # a single point: show a kilometre around it
    w, h = w + 2 * _PAD * side, h + 2 * _PAD * side
    if size_in is not None:
        sw, sh = size_in[0] / _MM, size_in[1] / _MM
        pages = [_page(sw, sh, "custom", "landscape" if sw >= sh else "portrait")]
    else:
        pw, ph = PAPERS_MM[paper]
        options = {"landscape": (pw, ph), "portrait": (ph, pw)}
        names = ["landscape", "portrait"] if orientation == "auto" else [orientation]
        pages = [_page(*options[o], paper, o) for o in names]
    best: tuple[float, _Page] | None = None
    for pg in pages:
        x0, y0, x1, y1 = pg.map_mm
        need = max(w / k / ((x1 - x0) / 1000.0), h / k / ((y1 - y0) / 1000.0))  # ground m per paper m
        if best is None or need < best[0] * (1 - 1e-9):
            best = (need, pg)
    assert best is not None
    need, pg = best
    denominator = next((s for s in _SCALES if s >= need * (1 - 1e-9)), need)
    return pg, float(denominator), k, north


def _wrap_display(text: str, width: int) -> str:
    """Text wrapped to lines of at most ``width`` units, a Chinese character counting two and a
    Latin one one; Latin words stay whole, Chinese breaks between characters."""
    tokens = re.findall(r"[\u2e80-\uffff]|[^\s\u2e80-\uffff]+|\s+", text)
    lines: list[str] = []
    line, used = "", 0
    for tok in tokens:
        w = sum(2 if ord(ch) >= 0x2E80 else 1 for ch in tok)
        if tok.isspace():
            if line:
                line, used = line + " ", used + 1
            continue
        if used + w > width and line.strip():
            lines.append(line.rstrip())
            line, used = "", 0
        line, used = line + tok, used + w
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


class _Sheet:
    """A map sheet being drawn: the figure, the map axes, the panel, and what the legend will list."""

    def __init__(
        self,
        crs: CRS,
        bounds: np.ndarray,
        *,
        paper: str = "A4",
        orientation: str = "auto",
        size_in: tuple[float, float] | None = None,
        title_zh: str,
        title_en: str,
        subtitle: str,
        banner: str = "",
    ) -> None:
        if not np.isfinite(bounds).all():
            raise InputError("the layers have no geometry to map (all empty or missing)")
        self.crs = crs
        self.page, self.scale, self.k, self.north = _choose_page(
            bounds, crs, paper=paper, orientation=orientation, size_in=size_in
        )
        pg = self.page
        # laid out at the PNG's resolution: the text measured while placing labels and fitting
        # the legend is then measured once, and the PNG reuses the same renderer
        self.fig = Figure(figsize=pg.size_in, dpi=_DRAW_DPI, facecolor="white")
        MapCanvas(self.fig)
        self.ax = self.fig.add_axes(pg.frac(pg.map_mm))
        x0, y0, x1, y1 = pg.map_mm
        half_w = (x1 - x0) / 1000.0 * self.scale * self.k / 2
        half_h = (y1 - y0) / 1000.0 * self.scale * self.k / 2
        cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        self.view = np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
        self.ax.set_xlim(self.view[0], self.view[2])
        self.ax.set_ylim(self.view[1], self.view[3])
        self.ax.set_aspect("equal", adjustable="box")
        self.ax.set_xticks([])
        self.ax.set_yticks([])
        self.ax.xaxis.set_visible(False)  # no ticks, no labels: nothing to draw (the frame is the spines)
        self.ax.yaxis.set_visible(False)
        self.ax.set_gid("map")
        for spine in self.ax.spines.values():
            spine.set_linewidth(0.8)
            spine.set_color("#333333")
        self.ax.set_facecolor("white")
        self.handles: list[tuple[int, Artist]] = []  # (legend section, handle)
        self.texts: list[str] = []
        self.points: list[tuple[np.ndarray, float]] = []  # symbols the labels must not cover: (xy, radius pt)
        self.point_labels: list[tuple[float, float, float, str, float, str]] = []  # x, y, priority, text, offset pt, gid
        self.area_labels: list[tuple[float, float, float, str]] = []  # x, y, priority, text
        self.basemap_drawn: Basemap | None = None
        self.town: np.ndarray | None = None
        outer = Rectangle(
            (pg.fx(_EDGE_MM), pg.fy(_EDGE_MM)),
            pg.fx(pg.w_mm - 2 * _EDGE_MM),
            pg.fy(pg.h_mm - 2 * _EDGE_MM),
            transform=self.fig.transFigure,
            facecolor="none",
            edgecolor="#222222",
            linewidth=1.4,
            gid="sheet-frame",
        )
        self.fig.patches.append(outer)
        title = "  ".join(t.strip() for t in (title_zh, title_en) if t.strip())
        top = pg.h_mm - _EDGE_MM - 3.0
        self._text(pg.fx(x0), pg.fy(top), title, size_pt=16, gid="map-title", va="top")
        if subtitle:
            self._text(pg.fx(x0), pg.fy(top - 8.5), subtitle, size_pt=9.5, gid="map-subtitle", va="top", color="#333333")
        if banner:  # a warning over the top of the map, wrapped to its width
            self.texts.append(banner)
            self.ax.text(
                0.5,
                0.985,
                _wrap_display(banner, max(30, int((x1 - x0) / 1.9))),
                transform=self.ax.transAxes,
                ha="center",
                va="top",
                fontproperties=cjk_font(size_pt=9),
                gid="map-banner",
                parse_math=False,
                zorder=50,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#FFEB9C", "edgecolor": "#9C6500", "alpha": 0.95},
            )

    # -- text ------------------------------------------------------------------------
    def _text(self, x: float, y: float, s: str, *, size_pt: float, gid: str, **kw: Any) -> Any:
        self.texts.append(s)
        return self.fig.text(x, y, s, fontproperties=cjk_font(size_pt=size_pt), gid=gid, parse_math=False, **kw)

    def legend(self, section: int, handle: Artist) -> None:
        """Add a legend entry: 0 the indicator, 1 areas (service areas, gaps), 2 facilities, 3 boundaries, 4 basemap."""
        self.handles.append((section, handle))

    # -- layers ----------------------------------------------------------------------
    def basemap(self, bm: Basemap | None, *, buildings_over: bool = True) -> None:
        """Land use, green land and water areas under everything; buildings, waterways and streets over the indicator.

        The layers cut to the view and their paths are kept in the basemap's cache: the
        sheets of one town share them.
        """
        if bm is None:
            return
        if not isinstance(bm, Basemap):
            raise InputError(
                f"basemap must be a Basemap made from data already read (mtown_geo.render.basemap_from_osm(extract, "
                f"area=..., crs=...)), got {type(bm).__name__}: the maps read no files"
            )
        bm = bm.to_crs(self.crs)
        self.basemap_drawn = bm
        ax = self.ax
        x0, y0, x1, y1 = self.view
        m = 0.02 * (x1 - x0)
        clip = (x0 - m, y0 - m, x1 + m, y1 + m)
        cache: dict[Any, Any] = bm._cache.setdefault(("view", *np.round(clip, 3)), {})

        def inview(name: str, gdf: gpd.GeoDataFrame) -> np.ndarray:
            if name not in cache:
                g = shapely.clip_by_rect(np.asarray(gdf.geometry.values), *clip) if len(gdf) else np.empty(0, dtype=object)
                cache[name] = g
            return np.asarray(cache[name])

        def path(gid: str, geoms: np.ndarray, *, rings: bool) -> MplPath:
            if ("path", gid) not in cache:
                p = _compound(_polygonal(geoms) if rings else geoms, rings=rings)
                # read-only: the sheets of the town share it, and their PNGs the pixels it gives (_Underlay)
                cache["path", gid] = MplPath(p.vertices, p.codes, readonly=True)
            return cache["path", gid]

        def fill(gid: str, geoms: np.ndarray, zorder: float, **kw: Any) -> None:
            p = path(gid, geoms, rings=True)
            coll = PathCollection([p], zorder=zorder, rasterized=_n_vertices(p) >= RASTER_MIN_VERTICES, **kw)
            coll.set_gid(gid)
            ax.add_collection(coll, autolim=False)

        def stroke(gid: str, geoms: np.ndarray, zorder: float, colour: Any, **kw: Any) -> None:
            coll = PathCollection([path(gid, geoms, rings=False)], facecolors="none", edgecolors=colour, zorder=zorder, **kw)
            coll.set_gid(gid)
            ax.add_collection(coll, autolim=False)

        shown_lu: list[str] = []
        if len(bm.landuse):
            g = inview("landuse", bm.landuse)
            cls = bm.landuse["landuse_class"].to_numpy()
            for key, (_, colour) in LANDUSE_STYLES.items():
                sel = (cls == key) & ~shapely.is_empty(g)
                if sel.any():
                    fill(f"basemap-landuse-{key}", g[sel], 0.3, facecolors=colour, edgecolors="none")
                    shown_lu.append(key)
        green = inview("green", bm.green)
        if len(green) and (~shapely.is_empty(green)).any():
            fill("basemap-green", green[~shapely.is_empty(green)], 0.4, facecolors=LANDUSE_STYLES["green"][1], edgecolors="none")
            shown_lu.append("green")
        has_water = False
        if len(bm.water):
            g = inview("water", bm.water)
            kinds = bm.water["kind"].to_numpy()
            area = (kinds == "area") & ~shapely.is_empty(g)
            if area.any():
                fill("basemap-water", g[area], 0.5, facecolors=LANDUSE_STYLES["water"][1], edgecolors=WATER_LINE, linewidths=0.3)
                has_water = True
            lines = (kinds != "area") & ~shapely.is_empty(g)
            if lines.any():
                # one stroked path per width, as the streets: kept per view, shared by the town's
                # sheets; the wider drawn over the narrower (one colour: only antialiased edges tell)
                cls = np.array([k if k in _WATERWAY_PT else "other" for k in kinds], dtype=object)
                for key, width_pt in _WATERWAY_PT.items():
                    sel = lines & (cls == key)
                    if sel.any():
                        stroke(f"basemap-waterways-{key}", g[sel], 2.4, WATER_LINE, linewidths=width_pt)
                has_water = True
        for key in dict.fromkeys(shown_lu):
            label, colour = LANDUSE_STYLES[key]
            self.legend(4, Patch(facecolor=colour, edgecolor="none", label=label))
        if has_water:
            self.legend(4, Patch(facecolor=LANDUSE_STYLES["water"][1], edgecolor=WATER_LINE, linewidth=0.5, label="水域 water"))
        b = inview("buildings", bm.buildings)
        if len(b) and (~shapely.is_empty(b)).any():
            face = (0.0, 0.0, 0.0, 0.13) if buildings_over else BUILDING_FILL
            edge = (0.0, 0.0, 0.0, 0.28) if buildings_over else BUILDING_EDGE
            fill("basemap-buildings", b[~shapely.is_empty(b)], 2.2, facecolors=face, edgecolors=edge, linewidths=0.12)
            self.legend(4, Patch(facecolor=BUILDING_FILL, edgecolor=BUILDING_EDGE, linewidth=0.4, label="建筑 buildings"))
        if len(bm.roads):
            g = inview("roads", bm.roads)
            cls = bm.roads["road_class"].to_numpy()
            ok = ~shapely.is_empty(g)
            for i, rc in enumerate(reversed(ROAD_CLASSES)):  # least important first: main roads on top
                sel = ok & (cls == rc.key)
                if not sel.any():
                    continue
                z = 3.0 + 0.02 * i
                style = {"capstyle": "round", "joinstyle": "round"}
                if rc.casing_pt > 0:
                    stroke(f"basemap-road-casing-{rc.key}", g[sel], z, rc.casing, linewidths=rc.casing_pt, **style)
                dashes = {"linestyles": (0, rc.dashes)} if rc.dashes else {}
                # the fill shares the casing's path (same geometry): one path per class
                cache.setdefault(("path", f"basemap-road-{rc.key}"), cache.get(("path", f"basemap-road-casing-{rc.key}")))
                if cache["path", f"basemap-road-{rc.key}"] is None:
                    del cache["path", f"basemap-road-{rc.key}"]
                stroke(
                    f"basemap-road-{rc.key}",
                    g[sel],
                    z + 0.5 if rc.casing_pt > 0 else z,
                    rc.fill,
                    linewidths=rc.width_pt,
                    **style,
                    **dashes,
                )
            present = set(cls[ok])
            for rc in ROAD_CLASSES:
                if rc.key in present:
                    effects = [patheffects.withStroke(linewidth=rc.casing_pt, foreground=rc.casing)] if rc.casing_pt else None
                    self.legend(
                        4,
                        Line2D(
                            [],
                            [],
                            color=rc.fill,
                            linewidth=rc.width_pt,
                            linestyle=(0, rc.dashes) if rc.dashes else "-",
                            path_effects=effects,
                            label=rc.label,
                        ),
                    )

    def land(self, geoms: np.ndarray, colours: np.ndarray, *, gid: str) -> None:
        """Indicator fills (one geometry per class, already cut to the measured land)."""
        keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
        if keep.any():
            coll = _draw_polygons(self.ax, geoms[keep], facecolors=colours[keep], edgecolors="none", zorder=1.0)
            coll.set_gid(gid)
            coll.set_rasterized(sum(_n_vertices(p) for p in coll.get_paths()) >= RASTER_MIN_VERTICES)

    def boundaries(self, layer: Any) -> None:
        geoms = _in_map_crs(layer, self.crs, what="boundaries")
        kinds = layer["kind"].astype(str).to_numpy() if isinstance(layer, gpd.GeoDataFrame) and "kind" in layer else None
        groups = [("", np.ones(len(geoms), dtype=bool))] if kinds is None else [(k, kinds == k) for k in dict.fromkeys(kinds)]
        for kind, mask in groups:
            colour, ls, lw, label = _BOUNDARY_STYLES.get(
                kind, ("#555555", "-", 1.0, f"{kind} boundary" if kind else "边界 boundary")
            )
            _draw_lines(self.ax, geoms[mask], colors=colour, linestyles=ls, linewidths=lw, zorder=5).set_gid(
                f"boundary-{kind or 'line'}"
            )
            self.legend(3, Line2D([], [], color=colour, linestyle=ls, linewidth=lw, label=label))
            if kind == "镇域":
                self.town = geoms[mask]

    def facilities(
        self,
        layer: Any,
        *,
        profile: Profile | None = None,
        label: str | None = None,
        names: bool = True,
        size_pt: float = 7.0,
    ) -> None:
        """Facility symbols per category (or one symbol when there is no category), with their names."""
        geoms = _in_map_crs(layer, self.crs, what="facilities")
        if len(geoms) == 0:
            return
        xy_all = _point_xy_each(geoms)
        cats = (
            layer["category"].astype(str).to_numpy()
            if isinstance(layer, gpd.GeoDataFrame) and "category" in layer
            else np.full(len(geoms), "")
        )
        nm = layer["name"].to_numpy() if isinstance(layer, gpd.GeoDataFrame) and "name" in layer else np.full(len(geoms), None)
        ok = np.isfinite(xy_all).all(axis=1)
        vx0, vy0, vx1, vy1 = self.view
        inside = ok & (xy_all[:, 0] >= vx0) & (xy_all[:, 0] <= vx1) & (xy_all[:, 1] >= vy0) & (xy_all[:, 1] <= vy1)
        order = sorted(dict.fromkeys(cats[ok]), key=lambda c: (np.sum(cats == c), c))
        for j, cat in enumerate(order):
            outside = int((ok & ~inside & (cats == cat)).sum())
            sel = inside & (cats == cat)
            marker, colour = _facility_style(cat, j)
            xy = xy_all[sel]
            self.ax.scatter(
                xy[:, 0],
                xy[:, 1],
                s=size_pt**2,
                marker=marker,
                c=colour,
                edgecolors="white",
                linewidths=0.7,
                zorder=6,
                gid=f"facilities-{cat}" if cat else "facilities",
            )
            self.points.append((xy, size_pt * 0.6))
            n = int(sel.sum())
            text = label if label is not None else f"{_category_label(cat, profile)}　{n} 处"
            if outside:
                text += f"（图外另 {outside} 处 {outside} outside the map）"
            self.legend(
                2,
                Line2D(
                    [],
                    [],
                    marker=marker,
                    linestyle="none",
                    markersize=size_pt,
                    markerfacecolor=colour,
                    markeredgecolor="white",
                    label=text,
                ),
            )
            if names:
                few = n <= 25  # a category with many members (bus stops) keeps its symbols only
                for (x, y), name in zip(xy, nm[sel], strict=True):
                    if isinstance(name, str) and name.strip() and few:
                        self.point_labels.append(
                            (float(x), float(y), float(j), name.strip(), size_pt * 0.6 + 1.5, "label-facility")
                        )

    def service_area(self, geom: Any, *, label: str) -> None:
        geoms = _in_map_crs(geom, self.crs, what="service area")
        geoms = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
        if len(geoms) == 0:
            return
        _draw_lines(self.ax, geoms, colors="#08306b", linewidths=1.1, linestyles=(0, (4.0, 2.0)), zorder=4.5).set_gid(
            "service-area"
        )
        self.legend(1, Line2D([], [], color="#08306b", linewidth=1.1, linestyle=(0, (4.0, 2.0)), label=label))

    def gaps(self, geoms: np.ndarray, texts: Sequence[str], sizes: np.ndarray, *, label: str) -> None:
        """Hatched gap areas, the largest labelled with what they leave out."""
        keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
        if not keep.any():
            return
        hatched = _draw_polygons(
            self.ax, geoms[keep], facecolors="none", edgecolors=_GAP_HATCH, linewidths=0.0, hatch="////", zorder=1.6
        )
        hatched.set_gid("gaps")
        if hasattr(hatched, "set_hatch_linewidth"):
            hatched.set_hatch_linewidth(0.45)
        self.legend(1, Patch(facecolor="white", edgecolor=_GAP_HATCH, hatch="////", linewidth=0.0, label=label))
        order = np.argsort(-sizes)
        for rank, i in enumerate(order[:8]):
            if not keep[i] or not texts[i]:
                continue
            p = shapely.point_on_surface(geoms[i])
            self.area_labels.append((p.x, p.y, float(rank), texts[i]))

    # -- furniture ---------------------------------------------------------------------
    def finish(
        self,
        *,
        legend_title: str,
        source: str,
        data_date: str | date | None,
        attribution: str,
        prepared_by: str | None = None,
    ) -> Figure:
        with gc_paused():
            return self._finish(
                legend_title=legend_title, source=source, data_date=data_date, attribution=attribution, prepared_by=prepared_by
            )

    def _finish(
        self, *, legend_title: str, source: str, data_date: str | date | None, attribution: str, prepared_by: str | None
    ) -> Figure:
        pg = self.page
        self.ax.apply_aspect()
        renderer = self._renderer()
        self._labels(renderer)
        _, py0, _, py1 = pg.panel_mm
        y = self._north_and_scale(py1)
        inset_top = self._inset(py0) if self.basemap_drawn is not None else py0
        main = [h for sec, h in sorted(self.handles, key=lambda t: t[0]) if sec < 4]
        base = [h for sec, h in self.handles if sec == 4]
        sizes = [(7.5, 1, False), (7.0, 1, False), (6.5, 1, True), (6.0, 1, True), (5.5, 2, True), (5.0, 2, True)]
        legend, low = self._legend(legend_title, main, top_mm=y - 3.0, bottom_mm=inset_top + 2.0, tries=sizes, gid="map-legend")
        if legend is None:  # more entries than the panel holds: the smallest try, overflowing
            legend = self.fig.legend(main, [str(h.get_label()) for h in main], loc="upper left", prop=cjk_font(size_pt=5.0))
            legend.set_gid("map-legend")
            log.warning("the legend does not fit the panel: %d entries", len(main))
        if base:
            small = [(6.0, 2, False), (5.5, 2, False), (5.0, 2, True)]
            base_legend, _ = self._legend(
                "底图 Basemap", base, top_mm=low - 3.0, bottom_mm=inset_top + 1.0, tries=small, gid="basemap-legend"
            )
            if base_legend is None:
                log.debug("no room for the basemap's legend")
        for lg in [legend] + ([base_legend] if base and base_legend is not None else []):
            for t in lg.get_texts():
                self.texts.append(t.get_text())
        self.texts.append(legend_title)
        epsg = self.crs.to_epsg()
        crs_text = f"坐标系 CRS: {self.crs.name}" + (f" (EPSG:{epsg})" if epsg else "")
        x0 = pg.map_mm[0]
        right = pg.w_mm - _EDGE_MM - _INSET_MM
        line1 = f"数据来源 Source: {source}　数据日期 Data date: {_date_text(data_date)}"
        self._text(pg.fx(x0), pg.fy(_EDGE_MM + 6.2), line1, size_pt=7, gid="map-source", va="bottom", color="#333333")
        self._text(
            pg.fx(x0),
            pg.fy(_EDGE_MM + 2.2),
            f"地图数据 Map data {attribution}",
            size_pt=7,
            gid="map-attribution",
            va="bottom",
            color="#333333",
        )
        self._text(
            pg.fx(right), pg.fy(_EDGE_MM + 6.2), crs_text, size_pt=7, gid="map-crs", va="bottom", ha="right", color="#333333"
        )
        by = prepared_by.strip() if isinstance(prepared_by, str) and prepared_by.strip() else "mtown_geo"
        credit = f"编制单位 Prepared by: {by}　编制日期 Date: {date.today().isoformat()}"
        self._text(
            pg.fx(right), pg.fy(_EDGE_MM + 2.2), credit, size_pt=7, gid="map-credit", va="bottom", ha="right", color="#333333"
        )
        for t in self.fig.texts:
            gid = t.get_gid()
            if gid in ("map-title", "map-subtitle"):
                _fit_width(t, renderer, right_px=pg.fx(right) * self.fig.bbox.width, wrap=gid == "map-title")
            elif gid in ("map-source", "map-attribution"):
                _fit_width(t, renderer, right_px=pg.fx(pg.map_mm[2]) * self.fig.bbox.width)
        missing = missing_chars("".join(self.texts))
        if missing:
            warnings.warn(
                f"the map font has no glyph for {missing!r}: those characters print as empty boxes; "
                "rephrase the title or labels without them",
                MtownGeoWarning,
                stacklevel=5,  # the caller of the map function (through _collector_paused)
            )
        return self.fig

    def _renderer(self) -> Any:
        if not isinstance(self.fig.canvas, MapCanvas):
            MapCanvas(self.fig)
        return self.fig.canvas.get_renderer()  # type: ignore[attr-defined]

    def _north_and_scale(self, top_mm: float) -> float:
        """North arrow (true north at the map centre) and the numeric and graphic scale at the top of the panel.

        Returns the height (mm) below which the legend may start.
        """
        pg = self.page
        px0, _, px1, _ = pg.panel_mm
        tf = self.fig.transFigure
        # north arrow: 14 mm long, at the panel's left
        ax_mm = px0 + 7.0
        base = np.array([ax_mm, top_mm - 19.0])
        tip = base + 13.0 * self.north
        arrow = FancyArrowPatch(
            (pg.fx(base[0]), pg.fy(base[1])),
            (pg.fx(tip[0]), pg.fy(tip[1])),
            transform=tf,
            arrowstyle="-|>",
            mutation_scale=16,
            linewidth=1.6,
            color="#000000",
            gid="north-arrow",
        )
        self.fig.patches.append(arrow)
        lab = tip + 1.2 * self.north
        self.texts.append("北 N")
        self.fig.text(
            pg.fx(lab[0]),
            pg.fy(lab[1]),
            "北 N",
            ha="center",
            va="bottom",
            rotation=-math.degrees(math.atan2(self.north[0], self.north[1])),
            rotation_mode="anchor",
            fontproperties=cjk_font(size_pt=9),
            gid="north-label",
            parse_math=False,
        )
        # scale: "比例尺 1:10 000" and a bar of a round ground length
        sx = px0 + 17.0
        avail_mm = px1 - sx - 6.0
        length_m = scale_bar_length_m(avail_mm / 1000.0 * self.scale)
        bar_mm = length_m / self.scale * 1000.0
        self._text(pg.fx(sx), pg.fy(top_mm - 2.0), "比例尺 Scale", size_pt=8, gid="scale-title", va="top")
        self._text(pg.fx(sx), pg.fy(top_mm - 7.0), _scale_text(self.scale), size_pt=10, gid="scale-ratio", va="top")
        by = top_mm - 17.0
        n_seg = 4 if (length_m / 4) == round(length_m / 4) else 2
        for i in range(n_seg):
            rect = Rectangle(
                (pg.fx(sx + i * bar_mm / n_seg), pg.fy(by)),
                pg.fx(bar_mm / n_seg),
                pg.fy(1.6),
                transform=tf,
                facecolor="#000000" if i % 2 == 0 else "#ffffff",
                edgecolor="#000000",
                linewidth=0.6,
                gid="scale-bar",
            )
            self.fig.patches.append(rect)
        font = cjk_font(size_pt=7)
        for i, (pos_mm, text) in enumerate(((0.0, "0"), (bar_mm / 2, f"{length_m / 2:g}"), (bar_mm, _length_label(length_m)))):
            gid = ("scale-bar-zero", "scale-bar-half", "scale-bar-label")[i]
            self.texts.append(text)
            self.fig.text(
                pg.fx(sx + pos_mm),
                pg.fy(by - 0.8),
                text,
                ha="center",
                va="top",
                fontproperties=font,
                gid=gid,
                parse_math=False,
            )
        self.scale_bar_mm = bar_mm
        self.scale_bar_m = length_m
        return top_mm - 24.0

    def _inset(self, bottom_mm: float) -> float:
        """An overview of the town within the data around it, when the map shows a small part of that.

        Returns the top (mm) of the inset, or ``bottom_mm`` when there is none.
        """
        bm = self.basemap_drawn
        assert bm is not None
        # the context is where the basemap has data (the extract may end near the town)
        ex0, ey0, ex1, ey1 = shapely.bounds(bm.extent)
        if len(bm.roads):
            rx0, ry0, rx1, ry1 = bm.roads.total_bounds
            ex0, ey0, ex1, ey1 = max(ex0, rx0), max(ey0, ry0), min(ex1, rx1), min(ey1, ry1)
        vx0, vy0, vx1, vy1 = self.view
        context_area = (ex1 - ex0) * (ey1 - ey0)
        view_area = (vx1 - vx0) * (vy1 - vy0)
        if not (context_area >= 2.5 * view_area):
            return bottom_mm
        pg = self.page
        px0, _, px1, _ = pg.panel_mm
        w_mm = px1 - px0
        h_mm = min(w_mm * (ey1 - ey0) / (ex1 - ex0), 0.3 * (pg.panel_mm[3] - pg.panel_mm[1]))
        box = (px0, bottom_mm + 4.0, px1, bottom_mm + 4.0 + h_mm)
        ax = self.fig.add_axes(pg.frac(box))
        ax.set_gid("inset")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.xaxis.set_visible(False)
        ax.yaxis.set_visible(False)
        for spine in ax.spines.values():
            spine.set_linewidth(0.6)
        ax.set_facecolor("#fafafa")
        # fit the context into the box at equal scale
        cx, cy = (ex0 + ex1) / 2, (ey0 + ey1) / 2
        s = max((ex1 - ex0) / w_mm, (ey1 - ey0) / h_mm)
        ax.set_xlim(cx - s * w_mm / 2, cx + s * w_mm / 2)
        ax.set_ylim(cy - s * h_mm / 2, cy + s * h_mm / 2)
        water = bm.water[bm.water["kind"] == "area"]
        if len(water):
            _draw_polygons(
                ax, np.asarray(water.geometry.values), facecolors=LANDUSE_STYLES["water"][1], edgecolors="none", zorder=1
            )
        main = bm.roads[bm.roads["road_class"].isin(["expressway", "arterial", "secondary", "branch", "minor"])]
        if len(main):
            widths = main["road_class"].map({"expressway": 0.9, "arterial": 0.8, "secondary": 0.6, "branch": 0.45}).fillna(0.25)
            _draw_lines(ax, np.asarray(main.geometry.values), colors="#9a9a9a", linewidths=widths.to_numpy(), zorder=2)
        if self.town is not None:
            _draw_polygons(ax, self.town, facecolors=(0.37, 0.24, 0.6, 0.15), edgecolors="#5e3c99", linewidths=0.8, zorder=3)
        ax.add_patch(
            Rectangle(
                (vx0, vy0), vx1 - vx0, vy1 - vy0, facecolor="none", edgecolor="#d7301f", linewidth=1.0, zorder=4, gid="inset-view"
            )
        )
        self._text(pg.fx(px0), pg.fy(box[3] + 1.0), "位置示意 Location", size_pt=7.5, gid="inset-title", va="bottom")
        return box[3] + 5.0

    def _legend(
        self,
        title: str,
        entries: list[Artist],
        *,
        top_mm: float,
        bottom_mm: float,
        tries: Sequence[tuple[float, int, bool]],
        gid: str,
    ) -> tuple[Legend | None, float]:
        """A legend in the panel from ``top_mm`` down, its text shrunk (in columns, wrapped) until it fits above ``bottom_mm``.

        Returns the legend (None when it fits in no way) and its bottom in millimetres.
        """
        pg = self.page
        labels = [str(h.get_label()) for h in entries]
        renderer = self._renderer()
        right_px = pg.fx(pg.panel_mm[2]) * self.fig.bbox.width
        bottom_px = pg.fy(bottom_mm) * self.fig.bbox.height

        panel_px = pg.fx(pg.panel_mm[2] - pg.panel_mm[0]) * self.fig.bbox.width

        def fitted(size_pt: float, ncol: int) -> list[str]:
            """Labels too wide for their column broken in two lines; the others as they are."""
            prop = cjk_font(size_pt=size_pt)
            room = panel_px / ncol - (2.2 + 0.6 + 0.8) * size_pt * renderer.dpi / 72.0
            out = []
            for lab in labels:
                w = renderer.get_text_width_height_descent(lab, prop, ismath=False)[0]
                out.append(_wrap_label(lab) if w > room else lab)
            return out

        def make(size_pt: float, ncol: int, wrap: bool) -> Legend:
            legend = self.fig.legend(
                entries,
                fitted(size_pt, ncol) if wrap else labels,
                loc="upper left",
                bbox_to_anchor=(pg.fx(pg.panel_mm[0]), pg.fy(top_mm)),
                prop=cjk_font(size_pt=size_pt),
                title=title or None,
                title_fontproperties=cjk_font(size_pt=size_pt + 1.5),
                alignment="left",
                frameon=False,
                handlelength=2.2,
                handleheight=1.0,
                borderaxespad=0.0,
                borderpad=0.0,
                labelspacing=0.4,
                ncols=ncol,
                columnspacing=0.8,
                handletextpad=0.6,
            )
            for t in [*legend.get_texts(), legend.get_title()]:
                t.set_parse_math(False)
            return legend

        # label widths at 10 pt (text widths scale with the size): tries whose longest label
        # cannot fit its column unwrapped are skipped without laying the legend out
        too_wide = _LabelWidths(renderer, labels)
        px_per_pt = renderer.dpi / 72.0
        for args in tries:
            size_pt, ncol, wrap = args
            room = panel_px / ncol - (2.2 + 0.6 + 0.8) * size_pt * px_per_pt
            if not wrap and args != tries[-1] and too_wide(size_pt, room):
                continue
            legend = make(*args)
            box = legend.get_window_extent(renderer)
            if box.x1 <= right_px and box.y0 >= bottom_px:
                legend.set_gid(gid)
                return legend, box.y0 / self.fig.bbox.height * pg.h_mm
            legend.remove()
        return None, top_mm

        # -- labels --------------------------------------------------------------------------

    def _labels(self, renderer: Any) -> None:
        """Names of facilities, gaps and main streets, placed so that none covers another or a symbol."""
        lab = _Labeller(self.ax, renderer)
        for xy, radius_pt in self.points:
            lab.block_points(xy, radius_pt)
        placed = 0
        for x, y, _prio, text, off, gid in sorted(self.point_labels, key=lambda t: t[2]):
            if placed >= _MAX_LABELS:
                break
            if lab.point(x, y, text, size_pt=_LABEL_PT, offset_pt=off, gid=gid, colour="#111111"):
                placed += 1
                self.texts.append(text)
        for x, y, _prio, text in sorted(self.area_labels, key=lambda t: t[2]):
            if lab.point(x, y, text, size_pt=_LABEL_PT, offset_pt=0.0, gid="label-gap", colour="#67000d", centre_first=True):
                self.texts.append(text)
        bm = self.basemap_drawn
        if bm is not None:
            for name, spots in _street_spots(bm, self.view, lab):
                if lab.line_at(spots, name, size_pt=_STREET_PT, colour="#3a3a3a", gid="label-street"):
                    self.texts.append(name)


_Spot = tuple[shapely.Geometry, float, float, float]  # a label box in display pixels, its centre in map units, angle


class _Labeller:
    """Places labels in display space: each label's box may not cover another's or a symbol, nor leave the map."""

    def __init__(self, ax: Axes, renderer: Any) -> None:
        self.ax = ax
        self.renderer = renderer
        self.trans = ax.transData
        bb = ax.get_window_extent(renderer)
        self.frame = shapely.box(bb.x0 + 2, bb.y0 + 2, bb.x1 - 2, bb.y1 - 2)
        self.px_per_pt = renderer.dpi / 72.0
        self.boxes: list[shapely.Geometry] = []
        self._arr: np.ndarray | None = None
        self._sizes: dict[tuple[str, float], tuple[float, float]] = {}

    def _size(self, text: str, size_pt: float) -> tuple[float, float]:
        key = (text, size_pt)
        if key not in self._sizes:
            w, h, _ = self.renderer.get_text_width_height_descent(text, cjk_font(size_pt=size_pt), ismath=False)
            self._sizes[key] = (float(w), float(h))
        return self._sizes[key]

    def _free(self, poly: shapely.Geometry) -> bool:
        if not shapely.contains(self.frame, poly):
            return False
        if self._arr is None:
            self._arr = np.array(self.boxes, dtype=object)
        return not (len(self._arr) and shapely.intersects(poly, self._arr).any())

    def _take(self, poly: shapely.Geometry) -> None:
        self.boxes.append(poly)
        self._arr = None

    def block_points(self, xy: np.ndarray, radius_pt: float) -> None:
        if len(xy) == 0:
            return
        d = self.trans.transform(xy)
        r = radius_pt * self.px_per_pt
        self.boxes.extend(shapely.box(d[:, 0] - r, d[:, 1] - r, d[:, 0] + r, d[:, 1] + r))
        self._arr = None

    def point(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size_pt: float,
        offset_pt: float,
        gid: str,
        colour: str,
        centre_first: bool = False,
    ) -> bool:
        w, h = self._size(text, size_pt)
        pad = 1.0 * self.px_per_pt
        cx, cy = self.trans.transform((x, y))
        o = offset_pt * self.px_per_pt
        d = 0.7071 * o
        # (dx, dy of the anchor in pt, ha, va): right, left, above, below, then the diagonals
        options = [(o, 0, "left", "center"), (-o, 0, "right", "center"), (0, o, "center", "bottom"), (0, -o, "center", "top")]
        options += [(d, d, "left", "bottom"), (-d, d, "right", "bottom"), (d, -d, "left", "top"), (-d, -d, "right", "top")]
        if centre_first:
            options.insert(0, (0, 0, "center", "center"))
        for dx, dy, ha, va in options:
            ax_ = cx + dx
            ay_ = cy + dy
            x0 = {"left": ax_, "right": ax_ - w, "center": ax_ - w / 2}[ha]
            y0 = {"bottom": ay_, "top": ay_ - h, "center": ay_ - h / 2}[va]
            box = shapely.box(x0 - pad, y0 - pad, x0 + w + pad, y0 + h + pad)
            if self._free(box):
                self._take(box)
                self.ax.annotate(
                    text,
                    xy=(x, y),
                    xytext=(dx / self.px_per_pt, dy / self.px_per_pt),
                    textcoords="offset points",
                    ha=ha,
                    va=va,
                    fontproperties=cjk_font(size_pt=size_pt),
                    color=colour,
                    zorder=8,
                    gid=gid,
                    parse_math=False,
                    bbox=_LABEL_BOX,
                    annotation_clip=False,
                )
                return True
        return False

    def line_spots(self, geom: shapely.Geometry, text: str, *, size_pt: float) -> list[_Spot]:
        """Where a label may go along a line, best first: straight enough stretches long enough for it.

        Each spot is (box in display pixels, x and y of its centre in map units, angle in degrees).
        """
        w, h = self._size(text, size_pt)
        need = w + 4 * self.px_per_pt
        parts = [p for p in shapely.get_parts(geom) if p.length > 0]
        if not parts:
            return []
        coords = [self.trans.transform(np.asarray(p.coords)) for p in parts]
        lines = sorted((shapely.LineString(c) for c in coords if len(c) >= 2), key=lambda g: -g.length)
        spots: list[_Spot] = []
        for line in lines[:3]:
            total = line.length
            if total < need:
                continue
            for f in (0.5, 0.35, 0.65, 0.2, 0.8):
                d = f * total
                if d - need / 2 < 0 or d + need / 2 > total:
                    continue
                a = line.interpolate(d - need / 2)
                b = line.interpolate(d + need / 2)
                chord = shapely.LineString([a, b])
                sub = shapely.ops.substring(line, d - need / 2, d + need / 2)
                if shapely.hausdorff_distance(sub, chord) > 0.4 * h:
                    continue  # too curved here
                ang = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
                if ang > 90:
                    ang -= 180
                elif ang <= -90:
                    ang += 180
                c = line.interpolate(d)
                t = math.radians(ang)
                ux, uy = math.cos(t), math.sin(t)
                hw, hh = need / 2, h / 2 + 1.0 * self.px_per_pt
                corners = [
                    (c.x + sx * hw * ux - sy * hh * uy, c.y + sx * hw * uy + sy * hh * ux)
                    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
                ]
                xd, yd = self.trans.inverted().transform((c.x, c.y))
                spots.append((shapely.Polygon(corners), float(xd), float(yd), ang))
        return spots

    def line_at(self, spots: Sequence[_Spot], text: str, *, size_pt: float, colour: str, gid: str) -> bool:
        """The label in the first of ``spots`` that is free (see :meth:`line_spots`)."""
        for box, xd, yd, ang in spots:
            if not self._free(box):
                continue
            self._take(box)
            self.ax.text(
                xd,
                yd,
                text,
                rotation=ang,
                rotation_mode="anchor",
                ha="center",
                va="center",
                fontproperties=cjk_font(size_pt=size_pt),
                color=colour,
                zorder=7,
                gid=gid,
                parse_math=False,
                bbox=_LABEL_BOX,
                clip_on=True,
            )
            return True
        return False


def _street_spots(bm: Basemap, view: np.ndarray, lab: _Labeller) -> list[tuple[str, list[_Spot]]]:
    """The main streets to name in a view, most important first, each with its candidate label boxes.

    The candidates depend on the streets, the view and the map's place on the page only, not
    on what else a sheet shows: they are kept in the basemap's cache (which lives as long as
    the town's basemap), so the sheets of a town with the same view share them.
    """
    key = (
        "street-spots",
        tuple(view.tolist()),
        lab.trans.get_affine().get_matrix().tobytes(),
        lab.frame.bounds,
        lab.px_per_pt,
        get_hinting_flag(),  # text widths depend on it
    )
    spots = bm._cache.get(key)
    if spots is None:
        spots = []
        named = bm.named_roads()
        if len(named):
            order = {c.key: i for i, c in enumerate(ROAD_CLASSES)}
            vx0, vy0, vx1, vy1 = view
            geoms = shapely.clip_by_rect(np.asarray(named.geometry.values), vx0, vy0, vx1, vy1)
            lengths = shapely.length(geoms)
            rank = sorted(range(len(named)), key=lambda i: (order[named["road_class"].iloc[i]], -lengths[i]))
            for i in rank[:60]:
                if lengths[i] <= 0:
                    continue
                name = str(named["name"].iloc[i])
                spots.append((name, lab.line_spots(geoms[i], name, size_pt=_STREET_PT)))
        bm._cache[key] = spots
    return spots


_TEXT_EXTENTS_MAX = 4_096  # text extents kept per process (a legend's fixed words recur in every town)
_TEXT_EXTENTS: dict[tuple[Any, ...], tuple[float, float, float]] = {}  # in order of use (least recently used first)
_TEXT_EXTENTS_LOCK = threading.Lock()


@overload
def _text_extent_px(renderer: Any, text: str, prop: Any) -> tuple[float, float, float]: ...
@overload
def _text_extent_px(renderer: Any, text: str, prop: Any, *, measure: bool) -> tuple[float, float, float] | None: ...
def _text_extent_px(renderer: Any, text: str, prop: Any, *, measure: bool = True) -> tuple[float, float, float] | None:
    """Width, height and descent in display pixels of a one-line plain text, as the renderer measures it, without drawing it.

    A legend's labels are measured at 10 pt, a size they are never drawn at, to skip the
    layouts that cannot fit (:class:`_LabelWidths`). The Agg renderer of the maps renders
    each new text's bitmap along with its extent; this measurement (matplotlib's own Agg
    measurement) leaves the bitmap out. Extents of texts set by a font file are kept per
    process: a legend's fixed words recur in every town, its counts and shares do not (the
    least recently used go first beyond :data:`_TEXT_EXTENTS_MAX`). With ``measure=False``,
    the kept extent or None.
    """
    fname = prop.get_file()
    if not isinstance(renderer, RendererAgg) or fname is None:
        if not measure:
            return None
        w, h, d = renderer.get_text_width_height_descent(text, prop, ismath=False)
        return float(w), float(h), float(d)
    key = (text, str(fname), getattr(fname, "face_index", 0), prop.get_size_in_points(), renderer.dpi, get_hinting_flag())
    with _TEXT_EXTENTS_LOCK:
        extent = _TEXT_EXTENTS.pop(key, None)  # taken out and put back: the most recently used go last
    if extent is None:
        if not measure:
            return None
        w, h, d = RendererAgg.get_text_width_height_descent(renderer, text, prop, ismath=False)
        extent = (float(w), float(h), float(d))
    with _TEXT_EXTENTS_LOCK:
        _TEXT_EXTENTS[key] = extent
        while len(_TEXT_EXTENTS) > _TEXT_EXTENTS_MAX:
            _TEXT_EXTENTS.pop(next(iter(_TEXT_EXTENTS)), None)
    return extent


class _LabelWidths:
    """Whether a legend's longest label, measured at 10 pt and scaled to a size, is wider than a room.

    The same answer as measuring every label and scaling the largest width (scaling by a
    positive factor keeps the order of widths, in floating point too), from as few
    measurements as it takes: widths already known first, then the labels that look the
    widest (by their number of characters, wide ones counting twice), stopping at the first
    that is too wide. Only a label set that fits is measured whole.
    """

    _PT = 10.0

    def __init__(self, renderer: Any, labels: Sequence[str]) -> None:
        self.renderer = renderer
        self.labels = list(labels)
        self.prop = cjk_font(size_pt=self._PT)
        self.widths: dict[int, float] = {}
        for i, lab in enumerate(self.labels):
            extent = _text_extent_px(renderer, lab, self.prop, measure=False)
            if extent is not None:
                self.widths[i] = extent[0]
        self.order = sorted(
            (i for i in range(len(self.labels)) if i not in self.widths),
            key=lambda i: -sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in self.labels[i]),
        )

    def __call__(self, size_pt: float, room_px: float) -> bool:
        if any(w * size_pt / self._PT > room_px for w in self.widths.values()):
            return True
        for i in self.order:
            if i in self.widths:
                continue  # measured for an earlier size: compared above
            w = self.widths[i] = _text_extent_px(self.renderer, self.labels[i], self.prop)[0]
            if w * size_pt / self._PT > room_px:
                return True
        return False


def _wrap_label(label: str) -> str:
    """Break a legend label in two at the space nearest its middle."""
    spaces = [i for i, ch in enumerate(label) if ch in " 　"]
    if not spaces:
        return label
    cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return label[:cut] + "\n" + label[cut + 1 :]


def _fit_width(text: Any, renderer: Any, *, right_px: float, min_size_pt: float = 7.0, wrap: bool = False) -> None:
    """Shrink a text's font until it ends left of ``right_px`` (display pixels); wrap it in two lines if it still does not."""
    right = text.get_window_extent(renderer).x1  # measured again only after the text changes
    for _ in range(20):
        if right <= right_px or text.get_fontsize() <= min_size_pt:
            break
        text.set_fontsize(max(min_size_pt, text.get_fontsize() * 0.92))
        right = text.get_window_extent(renderer).x1
    if wrap and right > right_px:
        s = text.get_text()
        spaces = [i for i, ch in enumerate(s) if ch in " 　"]
        cut = min(spaces, key=lambda i: abs(i - len(s) / 2)) if spaces else len(s) // 2
        text.set_text(s[:cut].rstrip() + "\n" + s[cut:].lstrip())
        right = text.get_window_extent(renderer).x1
        for _ in range(20):
            if right <= right_px or text.get_fontsize() <= 5.0:
                break
            text.set_fontsize(max(5.0, text.get_fontsize() * 0.92))
            right = text.get_window_extent(renderer).x1
    if right > right_px:
        log.debug("text %r still overflows the sheet", text.get_text())


def _bounds(*arrays: np.ndarray) -> np.ndarray:
    """Total bounds (minx, miny, maxx, maxy) of several geometry arrays; NaN when all are empty."""
    boxes = [shapely.bounds(a) for a in arrays if len(a)]
    if not boxes:
        return np.full(4, np.nan)
    b = np.vstack(boxes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (empty geometries) stay NaN
        return np.array([np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])])


def _category_names(category: str, profile: Profile | str | Path | None) -> tuple[str, str]:
    prof = resolve(profile)
    spec = prof.categories.get(category)
    if spec is None:
        return category, category
    return spec.name_zh, spec.name_en


def _category_label(category: str, profile: Profile | None) -> str:
    if not category:
        return "设施 facilities"
    zh, en = _category_names(category, profile)
    return f"{zh} {en}" if zh != en else zh


def _facility_style(category: str, j: int) -> tuple[str, str]:
    if category in _FACILITY_STYLE:
        return _FACILITY_STYLE[category]
    return _MARKERS[j % len(_MARKERS)], _CYCLE[j % len(_CYCLE)]


def _facilities_of(facilities: Any, category: str | None) -> Any:
    if facilities is None:
        return None
    _check_layer(facilities, what="facilities")
    if category is not None and isinstance(facilities, gpd.GeoDataFrame) and "category" in facilities.columns:
        return facilities[facilities["category"] == category]
    return facilities


# ---------------------------------------------------------------------------------------
# The measured land
# ---------------------------------------------------------------------------------------


def _land_geometry(land: Any, crs: CRS) -> shapely.Geometry | None:
    """The land a rate measures (residential land, the built-up area), as one geometry in the map CRS."""
    if land is None:
        return None
    if isinstance(land, shapely.Geometry):
        return land
    geoms = _in_map_crs(land, crs, what="measured land")
    geoms = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
    poly = geoms[np.isin(shapely.get_type_id(geoms), (3, 6, 7))]
    if len(poly) == 0:
        raise InputError("the measured land has no polygon: give the residential land or built-up area as polygons")
    # the sheets of a town measure the same land: its union is kept for the last land only, found
    # again by a digest of the polygons' own bytes (another town's land never matches)
    key = _geom.digest(poly)
    kept = next(iter(_LAST_LAND), None)  # one read: another thread may replace the entry meanwhile
    if kept is not None and kept[0] == key:
        return kept[1]
    merged = shapely.union_all(shapely.make_valid(poly))
    _LAST_LAND[:] = [(key, merged)]
    return merged


_LAST_LAND: list[tuple[str, shapely.Geometry]] = []  # (digest of the measured land, its union): one entry


def _class_shapes(geoms: np.ndarray, cls: np.ndarray, n: int, land: shapely.Geometry | None) -> np.ndarray:
    """One geometry per class: the union of its units' shapes, cut to the measured land."""
    out = np.array([shapely.Polygon() for _ in range(n)], dtype=object)
    if land is not None:
        shapely.prepare(land)
    for i in range(n):
        sel = cls == i
        if not sel.any():
            continue
        part = geoms[sel]
        merged = shapely.coverage_union_all(part)
        total = float(shapely.area(part).sum())
        if not shapely.is_valid(merged) or abs(shapely.area(merged) - total) > 1e-6 * max(total, 1.0):
            merged = shapely.union_all(part)  # not one lattice: a general union
        out[i] = merged if land is None else shapely.intersection(merged, land)
    return out


def _draw_point_units(sheet: _Sheet, geoms: np.ndarray, colours: np.ndarray, names: np.ndarray | None) -> None:
    kinds = _kinds(geoms)
    rest = (kinds == 0) | (kinds == 1)
    if rest.any():
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms[rest]))
        sheet.ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=40,
            marker="o",
            c=colours[rest],
            edgecolors="#222222",
            linewidths=0.6,
            zorder=5.5,
            gid="units-points",
        )
        sheet.points.append((xy, 4.0))
        if names is not None:  # villages: their names
            for (x, y), name in zip(xy, names[rest], strict=True):
                if isinstance(name, str) and name.strip():
                    sheet.point_labels.append((float(x), float(y), -1.0, name.strip(), 6.0, "label-unit"))


def _paint_units(
    sheet: _Sheet,
    geoms: np.ndarray,
    cls: np.ndarray,
    palette: Sequence[str],
    land: shapely.Geometry | None,
    *,
    gid: str,
    names: np.ndarray | None = None,
) -> np.ndarray:
    """Polygon units as one shape per class cut to the land; point units as dots. Returns the class shapes."""
    kinds = _kinds(geoms)
    poly = kinds == 2
    shapes = np.array([shapely.Polygon() for _ in range(len(palette))], dtype=object)
    if poly.any():
        shapes = _class_shapes(geoms[poly], cls[poly], len(palette), land)
        sheet.land(shapes, np.asarray(palette, dtype=object), gid=gid)
    _draw_point_units(sheet, geoms, np.asarray(palette, dtype=object)[cls], names)
    return shapes


def _gap_layer(
    gaps: Any, crs: CRS, land: shapely.Geometry | None, *, weight: str
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Gap polygons cut to the land, the text of each (land and people left out), their sizes (m²) and people."""
    geoms = _in_map_crs(gaps, crs, what="gaps")
    if land is not None and len(geoms):
        geoms = shapely.intersection(geoms, land)
    frame = gaps if isinstance(gaps, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=gaps)
    col = "res_area_m2" if weight == "res_area_m2" and "res_area_m2" in frame else "area_m2"
    if col in frame:
        size = pd.to_numeric(frame[col], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    else:
        size = shapely.area(geoms)
    pop = (
        pd.to_numeric(frame["pop"], errors="coerce").fillna(0.0).to_numpy(dtype=float) if "pop" in frame else np.zeros(len(geoms))
    )
    texts = []
    for s, p in zip(size, pop, strict=True):
        if s < 5000.0:  # under half a hectare: hatched, not labelled
            texts.append("")
            continue
        t = f"未覆盖 {s / 1e4:.1f} ha"
        if p >= 0.5:
            t += f" · {round(p):,} 人"
        texts.append(t)
    return geoms, texts, size, pop


def _gap_summary(size: np.ndarray, pop: np.ndarray) -> str:
    people = f"，{round(float(pop.sum())):,} 人 people" if pop.sum() >= 0.5 else ""
    return f"未覆盖 not covered {size.sum() / 1e4:.1f} ha{people}"


def _view_bounds(geoms: np.ndarray, boundaries: Any, crs: CRS) -> np.ndarray:
    """What the map frame must show: the boundaries when given (the town), else the data."""
    if boundaries is not None:
        b = _bounds(_in_map_crs(boundaries, crs, what="boundaries"))
        if np.isfinite(b).all():
            return b
    return _bounds(geoms)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _collector_paused(build: Callable[_P, _R]) -> Callable[_P, _R]:
    """A sheet built with Python's cyclic garbage collector paused (:func:`gc_paused`), as it is laid out and drawn.

    Building a sheet makes thousands of short-lived objects (artists, transforms, paths);
    in a process that holds a town's layers the collections they trigger walk every object
    (about 0.15 CPU s over a town's sheets in a batch worker). Reference counting still
    frees them; the collector runs again when the sheet is built.
    """

    @functools.wraps(build)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with gc_paused():
            return build(*args, **kwargs)

    return paused


def _sheet_args(paper: str, orientation: str, size_in: Any) -> dict[str, Any]:
    paper, orientation = _check_paper(paper, orientation)
    return {"paper": paper, "orientation": orientation, "size_in": None if size_in is None else _check_size(size_in)}


# ---------------------------------------------------------------------------------------
# The maps
# ---------------------------------------------------------------------------------------


@_collector_paused
def travel_time_map(
    cells: gpd.GeoDataFrame,
    times: pd.DataFrame,
    category: str,
    *,
    max_time_min: float | None = None,
    unreachable: pd.Series | np.ndarray | None = None,
    breaks_min: Sequence[float] | None = None,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    land: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    service_area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    basemap: Basemap | None = None,
    threshold_min: float | None = None,
    weight: str | None = None,
    profile: Profile | str | Path | None = None,
    title_zh: str | None = None,
    title_en: str | None = None,
    subtitle: str | None = None,
    paper: str = "A4",
    orientation: str = "auto",
    size_in: tuple[float, float] | None = None,
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    prepared_by: str | None = None,
    banner: str | None = None,
) -> Figure:
    """A print map of the travel time from each place to the nearest facility of a category.

    The classes say only what the search measured (:mod:`mtown_geo.render._classes`):
    with a search of the whole network (``max_time_min=inf``) they run ≤ 5, 5–10,
    10–15, 15–30 and > 30 minutes for a 15-minute threshold, and places without any
    path are a class of their own; with a search cut at 15 minutes the last class is
    "> 15 分钟或不可达". The legend gives each class's share (weighted as ``weight``).

    Parameters
    ----------
    cells : GeoDataFrame
        Demand units in a projected metric CRS: grid units from :func:`mtown_geo.demand.grid`
        (drawn as their square cells, cut to ``land``), their cells, or any polygons or
        points (parcels, villages).
    times : DataFrame
        Travel times in minutes, index-aligned with ``cells`` (as ``Reach.at`` or
        :func:`mtown_geo.access.travel_times` return them); ``inf`` where none was found.
    category : str
        The column of ``times`` to map.
    max_time_min : float, optional
        The cut-off of the search that gave ``times`` (``Reach.max_time_min``;
        ``numpy.inf`` for a whole-network search). Default ``times.attrs["max_time_min"]``,
        which the engine sets; without either the map is refused rather than mislabelled.
    unreachable : Series or array of bool, optional
        Places known to have no path at all (for a cut search: they get their own class).
    breaks_min : sequence of float, optional
        Class breaks in minutes (default 5-minute steps to the threshold, then twice
        it: 5, 10, 15, 30 for 15 minutes; 5, 10, 15, 30 without a threshold).
    facilities : GeoDataFrame or GeoSeries, optional
        Facilities, any CRS; only those of ``category`` are drawn (with their names)
        when there is a ``category`` column.
    land : GeoDataFrame, GeoSeries or shapely geometry, optional
        The land the rate measures (the residential land when the rate is weighted by
        it, else the built-up area): the classes are painted on it only. Default: the
        units' own shapes.
    service_area : GeoDataFrame or GeoSeries, optional
        The category's service area at the threshold
        (:func:`mtown_geo.isochrones.service_areas`), drawn as a dashed outline.
    gaps : GeoDataFrame, optional
        Gap polygons (:func:`mtown_geo.lifecircle.gaps`, with ``area_m2``,
        ``res_area_m2``, ``pop``): hatched on the land, the largest labelled with the
        land and people left out.
    threshold_min : float, optional
        The category's threshold in minutes: the subtitle gives the share within it.
    weight : str, optional
        Column of ``cells`` that weights the shares (default ``area_m2`` when present,
        else every unit counts once).
    profile : Profile, str or path, optional
        For the Chinese and English category names (default ``zhejiang-2023``).
    title_zh, title_en, subtitle : str, optional
        Title in Chinese and English (default from the category's names); subtitle.
    boundaries : GeoDataFrame or GeoSeries, optional
        Outlines (column ``kind``: 镇域 / 建成区), any CRS; the map frame shows them whole.
    basemap : Basemap, optional
        Streets, water, green land, land use and buildings drawn under and over the
        indicator (:func:`mtown_geo.render.basemap_from_osm`), in any projected CRS.
    paper : {"A4", "A3"}, optional
        Sheet size (default A4), landscape or portrait by the town's shape.
    orientation : {"auto", "landscape", "portrait"}, optional
        Force an orientation (default: the one that shows the town larger).
    size_in : (float, float), optional
        A custom sheet size in inches instead of ``paper``.
    source : str, optional
        The data source named in the margin (default "OpenStreetMap").
    data_date : date or str, optional
        Date of the data (e.g. the OSM extract's date), printed in the margin.
    attribution : str, optional
        Credit line (default "© OpenStreetMap contributors (ODbL 1.0)").
    prepared_by : str, optional
        Who prepared the map (编制单位), printed in the margin with today's date.
    banner : str, optional
        A warning across the top of the map on a yellow band — e.g. 缺数据 data missing: the
        data hold no facility of the category, so the map shows a gap in the data, not in the town.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with :func:`save_figure`.

    Raises
    ------
    CRSError
        ``cells`` are not in a projected metric CRS, or another layer has no CRS.
    InputError
        Unknown category, times not aligned with the cells, missing or negative times,
        an unknown search limit, bad paper or orientation.
    """
    geoms, crs, index = _unit_geometry(cells, what="demand cells")
    if not isinstance(times, pd.DataFrame):
        raise InputError(f"times must be a DataFrame with one column per category, got {type(times).__name__}")
    if category not in times.columns:
        raise InputError(f"category {category!r} is not a column of times (columns: {', '.join(map(str, times.columns))})")
    if max_time_min is None:
        max_time_min = times.attrs.get("max_time_min")
    if max_time_min is None:
        raise InputError(
            "the search limit of these times is not known, so the map cannot tell 'farther' from 'no path': pass "
            "max_time_min= (Reach.max_time_min of the search, or numpy.inf when the whole network was searched)"
        )
    t = _aligned(times[category], index, what=f"times[{category!r}]").astype(float)
    if np.isnan(t).any():
        raise InputError(
            f"{_words.count(int(np.isnan(t).sum()), 'travel time', 'travel times')} to {category!r} "
            f"{_words.agree(int(np.isnan(t).sum()), 'is', 'are')} missing (NaN): "
            "unreachable units must be inf, as mtown_geo.access.travel_times gives them"
        )
    if (t < 0).any():
        n_neg = int((t < 0).sum())
        raise InputError(
            f"{_words.count(n_neg, 'travel time', 'travel times')} to {category!r} {_words.agree(n_neg, 'is', 'are')} negative"
        )
    if threshold_min is not None and not (
        isinstance(threshold_min, (int, float)) and not isinstance(threshold_min, bool) and threshold_min > 0
    ):
        raise InputError(f"threshold_min must be a positive number of minutes, got {threshold_min!r}")
    w, weight_label = _weights(cells, weight)
    no_path = None if unreachable is None else _aligned(unreachable, index, what="unreachable").astype(bool)
    if breaks_min is None:
        breaks_min = breaks_for(float(threshold_min)) if threshold_min is not None else DEFAULT_BREAKS_MIN
    classes = time_classes(breaks_min, max_time_min=float(max_time_min), unreachable_known=True if no_path is not None else None)
    cls = classify(t, classes, unreachable=no_path)
    name_zh, name_en = _category_names(category, profile)
    land_geom = _land_geometry(land, crs)
    gap_parts = None
    if gaps is not None:
        gap_parts = _gap_layer(gaps, crs, land_geom, weight=weight or "")
    if subtitle is None:
        parts = []
        if threshold_min is not None:
            rate = float(w[t <= threshold_min].sum() / w.sum())
            parts.append(
                f"{threshold_min:g} 分钟内覆盖率 coverage within {threshold_min:g} min: {100 * rate:.1f}%（{weight_label}）"
            )
        if gap_parts is not None and len(gap_parts[2]):
            parts.append(_gap_summary(gap_parts[2], gap_parts[3]))
        else:
            reach = float(w[np.isfinite(t)].sum() / w.sum())
            parts.append(f"有路径可达 reachable: {100 * reach:.1f}%")
        subtitle = "　".join(parts)
    fac = _facilities_of(facilities, category)
    sheet = _Sheet(
        crs,
        _view_bounds(geoms, boundaries, crs),
        title_zh=_text_arg(title_zh, what="title_zh") if title_zh is not None else f"{name_zh}可达时间",
        title_en=_text_arg(title_en, what="title_en") if title_en is not None else f"Travel time to {name_en}",
        subtitle=_text_arg(subtitle, what="subtitle"),
        banner=_text_arg(banner, what="banner") if banner else "",
        **_sheet_args(paper, orientation, size_in),
    )
    sheet.basemap(basemap)
    _paint_units(sheet, geoms, cls, [c.colour for c in classes], land_geom, gid="units")
    on = "居住用地" if weight == "res_area_m2" else "用地"
    for i, c in enumerate(classes):
        share = float(w[cls == i].sum() / w.sum())
        sheet.legend(0, Patch(facecolor=c.colour, edgecolor="none", label=f"{c.label}　{100 * share:.1f}%"))
    if service_area is not None and threshold_min is not None:
        sheet.service_area(service_area, label=f"{threshold_min:g} 分钟服务范围 service area")
    if gap_parts is not None:
        sheet.gaps(gap_parts[0], gap_parts[1], gap_parts[2], label=f"未覆盖{on} land not covered")
    if boundaries is not None:
        sheet.boundaries(boundaries)
    if fac is not None and len(fac):
        sheet.facilities(fac, profile=resolve(profile))
    return sheet.finish(
        legend_title="图例 Legend（出行时间 travel time）",
        source=source,
        data_date=data_date,
        attribution=attribution,
        prepared_by=prepared_by,
    )


@_collector_paused
def life_circle_map(
    units: gpd.GeoDataFrame,
    n_reached: pd.Series | np.ndarray | Sequence[int],
    n_required: int,
    *,
    weight: str | None = None,
    land: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    basemap: Basemap | None = None,
    profile: Profile | str | Path | None = None,
    title_zh: str = "生活圈覆盖",
    title_en: str = "Life circle: categories reached",
    subtitle: str | None = None,
    paper: str = "A4",
    orientation: str = "auto",
    size_in: tuple[float, float] | None = None,
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    prepared_by: str | None = None,
    banner: str | None = None,
) -> Figure:
    """A print map of how many of a life circle's required categories each place reaches (k of n).

    A graded scale from red (none) to green (all ``n``) shows what is missing where even
    when the whole circle's rate is 0 %; the legend gives each grade's share.

    Parameters
    ----------
    units : GeoDataFrame
        Demand units (grid units, parcels or villages) in a projected metric CRS, e.g.
        :func:`mtown_geo.lifecircle.assess`'s result.
    n_reached : Series or array of int
        Required categories each unit reaches within their thresholds (``n_reached``).
    n_required : int
        The circle's number of required categories.
    weight, land, facilities, profile, title_zh, title_en, subtitle
        As in :func:`travel_time_map`; every facility given is drawn, by category.
    boundaries, basemap, paper, orientation, size_in, source, data_date, attribution, prepared_by,
    banner
        As in :func:`travel_time_map`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    geoms, crs, index = _unit_geometry(units, what="demand units")
    if isinstance(n_required, bool) or not isinstance(n_required, (int, np.integer)) or n_required < 1:
        raise InputError(f"n_required must be a positive whole number of categories, got {n_required!r}")
    raw = _aligned(n_reached, index, what="n_reached")
    k = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=float)
    if np.isnan(k).any() or (k < 0).any() or (k > n_required).any() or (k != np.round(k)).any():
        raise InputError(f"n_reached must be whole numbers from 0 to n_required ({n_required}) for every unit")
    kk = k.astype(np.int64)
    n = int(n_required)
    w, weight_label = _weights(units, weight)
    palette = _grades(n + 1)
    if subtitle is None:
        full = float(w[kk == n].sum() / w.sum())
        mean = float((w * kk).sum() / w.sum())
        subtitle = (
            f"全部 {n} 类覆盖率 all {n} categories: {100 * full:.1f}%（{weight_label}）"
            f"　平均可达 mean reached: {mean:.1f} / {n} 类"
        )
    sheet = _Sheet(
        crs,
        _view_bounds(geoms, boundaries, crs),
        title_zh=_text_arg(title_zh, what="title_zh"),
        title_en=_text_arg(title_en, what="title_en"),
        subtitle=_text_arg(subtitle, what="subtitle"),
        banner=_text_arg(banner, what="banner") if banner else "",
        **_sheet_args(paper, orientation, size_in),
    )
    sheet.basemap(basemap)
    names = units["name"].to_numpy() if "name" in units.columns else None
    _paint_units(sheet, geoms, kk, palette, _land_geometry(land, crs), gid="units", names=names)
    for i in range(n, -1, -1):
        share = float(w[kk == i].sum() / w.sum())
        what = " 全部 all" if i == n else (" 无 none" if i == 0 else "")
        sheet.legend(0, Patch(facecolor=palette[i], edgecolor="none", label=f"{i}/{n} 类{what}　{100 * share:.1f}%"))
    if boundaries is not None:
        sheet.boundaries(boundaries)
    if facilities is not None:
        fac = _facilities_of(facilities, None)
        if len(fac):
            sheet.facilities(fac, profile=resolve(profile), names=False, size_pt=6.0)
    return sheet.finish(
        legend_title="图例 Legend（可达设施类别 categories reached）",
        source=source,
        data_date=data_date,
        attribution=attribution,
        prepared_by=prepared_by,
    )


@_collector_paused
def coverage_map(
    cells: gpd.GeoDataFrame,
    covered: pd.Series | np.ndarray | Sequence[bool],
    *,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    land: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    basemap: Basemap | None = None,
    weight: str | None = None,
    labels: tuple[str, str] = ("覆盖 covered", "未覆盖 not covered"),
    colours: tuple[str, str] = COVERAGE_COLOURS,
    title_zh: str = "覆盖情况",
    title_en: str = "Coverage",
    subtitle: str | None = None,
    legend_title: str = "图例 Legend",
    paper: str = "A4",
    orientation: str = "auto",
    size_in: tuple[float, float] | None = None,
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    prepared_by: str | None = None,
    banner: str | None = None,
) -> Figure:
    """A print map of covered and not-covered land (e.g. the gaps of a life circle), with the rate.

    Parameters
    ----------
    cells : GeoDataFrame
        Demand units in a projected metric CRS (grid units, cells, parcels, points).
    covered : Series or array of bool
        Whether each unit is covered; a Series is matched to ``cells`` by index.
    weight : str, optional
        Column of ``cells`` that weights the rate (default ``area_m2`` when present, else
        every unit counts once). The subtitle says which.
    labels, colours : (str, str), optional
        Legend labels and colours of covered and not-covered land.
    land, facilities
        As in :func:`travel_time_map`; every facility given is drawn.
    boundaries, basemap, title_zh, title_en, subtitle, legend_title, paper, orientation, size_in, source, data_date, attribution, prepared_by,
    banner
        As in :func:`travel_time_map`.

    Returns
    -------
    matplotlib.figure.Figure
        The subtitle reads "覆盖率 Coverage: 83.4%（按面积 area-weighted）".
    """
    geoms, crs, index = _unit_geometry(cells, what="demand cells")
    raw = _aligned(covered, index, what="covered")
    if raw.dtype == object and pd.isna(raw).any():
        raise InputError("covered has missing values: give True or False for every unit")
    if raw.dtype.kind != "b":
        if raw.dtype.kind in "iuf" and np.isin(raw, (0, 1)).all():
            raw = raw.astype(bool)
        else:
            raise InputError(f"covered must be True/False per unit, got values of type {raw.dtype}")
    cov = raw.astype(bool)
    if len(labels) != 2 or len(colours) != 2:
        raise InputError("labels and colours must each be a pair: (covered, not covered)")
    for c in colours:
        if not mcolors.is_color_like(c):
            raise InputError(f"{c!r} is not a colour")
    w, weight_label = _weights(cells, weight)
    rate = float(w[cov].sum() / w.sum())
    if subtitle is None:
        subtitle = f"覆盖率 Coverage: {100 * rate:.1f}%（{weight_label}）　单元 units: {len(cov):,}，未覆盖 not covered: {int((~cov).sum()):,}"
    sheet = _Sheet(
        crs,
        _view_bounds(geoms, boundaries, crs),
        title_zh=_text_arg(title_zh, what="title_zh"),
        title_en=_text_arg(title_en, what="title_en"),
        subtitle=_text_arg(subtitle, what="subtitle"),
        banner=_text_arg(banner, what="banner") if banner else "",
        **_sheet_args(paper, orientation, size_in),
    )
    sheet.basemap(basemap)
    _paint_units(sheet, geoms, np.where(cov, 0, 1), list(colours), _land_geometry(land, crs), gid="units")
    sheet.legend(0, Patch(facecolor=colours[0], edgecolor="none", label=f"{labels[0]}　{100 * rate:.1f}%"))
    sheet.legend(0, Patch(facecolor=colours[1], edgecolor="none", label=f"{labels[1]}　{100 * (1 - rate):.1f}%"))
    if boundaries is not None:
        sheet.boundaries(boundaries)
    if facilities is not None:
        fac = _facilities_of(facilities, None)
        if len(fac):
            sheet.facilities(fac, names=False)
    return sheet.finish(
        legend_title=legend_title, source=source, data_date=data_date, attribution=attribution, prepared_by=prepared_by
    )


@_collector_paused
def facilities_map(
    facilities: gpd.GeoDataFrame,
    *,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    basemap: Basemap | None = None,
    crs: Any = None,
    profile: Profile | str | Path | None = None,
    title_zh: str = "公共服务设施分布",
    title_en: str = "Facilities",
    subtitle: str | None = None,
    paper: str = "A4",
    orientation: str = "auto",
    size_in: tuple[float, float] | None = None,
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    prepared_by: str | None = None,
    banner: str | None = None,
) -> Figure:
    """An overview print map of every facility, a symbol per category, with their names.

    Parameters
    ----------
    facilities : GeoDataFrame
        Facilities with ``category`` (and ``name``), points or polygons, any CRS.
    crs : CRS, optional
        Projected metric CRS of the map (default: the boundaries', else the facilities',
        which must then be projected).
    profile : Profile, str or path, optional
        For the categories' Chinese and English names.
    boundaries, basemap, title_zh, title_en, subtitle, paper, orientation, size_in, source, data_date, attribution, prepared_by,
    banner
        As in :func:`travel_time_map`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_layer(facilities, what="facilities")
    if crs is not None:
        map_crs = require_projected(crs, what="map CRS")
    elif boundaries is not None and CRS.from_user_input(_check_layer(boundaries, what="boundaries").crs).is_projected:
        map_crs = require_projected(boundaries, what="boundaries")
    else:
        map_crs = require_projected(facilities, what="facilities")
    geoms = _in_map_crs(facilities, map_crs, what="facilities")
    prof = resolve(profile)
    n_cat = int(facilities["category"].nunique()) if "category" in facilities else 1
    if subtitle is None:
        subtitle = f"设施 facilities: {len(facilities)} 处，{n_cat} 类 categories"
    sheet = _Sheet(
        map_crs,
        _view_bounds(geoms, boundaries, map_crs),
        title_zh=_text_arg(title_zh, what="title_zh"),
        title_en=_text_arg(title_en, what="title_en"),
        subtitle=_text_arg(subtitle, what="subtitle"),
        banner=_text_arg(banner, what="banner") if banner else "",
        **_sheet_args(paper, orientation, size_in),
    )
    sheet.basemap(basemap, buildings_over=False)
    if boundaries is not None:
        sheet.boundaries(boundaries)
    sheet.facilities(facilities, profile=prof)
    return sheet.finish(
        legend_title="图例 Legend", source=source, data_date=data_date, attribution=attribution, prepared_by=prepared_by
    )


def _style(style: Any, *, i: int) -> dict[str, Any]:
    if style is None:
        return {}
    if not isinstance(style, Mapping):
        raise InputError(f"layer {i}: the style must be a dict such as {{'facecolor': '#1a9850', 'alpha': 0.4}}")
    unknown = set(style) - STYLE_KEYS
    if unknown:
        raise InputError(f"layer {i}: unknown style keys {sorted(unknown)}; use {sorted(STYLE_KEYS)}")
    for key in ("color", "facecolor", "edgecolor"):
        if key in style and not (style[key] == "none" or mcolors.is_color_like(style[key])):
            raise InputError(f"layer {i}: {key}={style[key]!r} is not a colour")
    for key in ("linewidth", "markersize", "alpha", "zorder"):
        if key in style and not (isinstance(style[key], (int, float)) and math.isfinite(style[key]) and style[key] >= 0):
            raise InputError(f"layer {i}: {key} must be a non-negative number, got {style[key]!r}")
    if "alpha" in style and style["alpha"] > 1:
        raise InputError(f"layer {i}: alpha must lie between 0 and 1, got {style['alpha']!r}")
    return dict(style)


@_collector_paused
def layers_map(
    layers: Sequence[tuple[gpd.GeoDataFrame | gpd.GeoSeries, Mapping[str, Any] | None, str]],
    *,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    crs: Any = None,
    title_zh: str = "",
    title_en: str = "",
    subtitle: str | None = None,
    legend_title: str = "图例 Legend",
    basemap: Basemap | None = None,
    paper: str = "A4",
    orientation: str = "auto",
    size_in: tuple[float, float] | None = None,
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    prepared_by: str | None = None,
    banner: str | None = None,
) -> Figure:
    """A print map of any layers, each with a style and a legend label.

    Used for park service radii by size class, residential land covered or not, greenways
    with their length. Layers are drawn in the order given (the first at the bottom).

    Parameters
    ----------
    layers : sequence of (GeoDataFrame or GeoSeries, dict or None, str)
        Each layer, its style and its legend label. Polygons are filled, lines stroked,
        points drawn as markers (a layer may mix them). Style keys: ``color`` (sets the
        others' default), ``facecolor``, ``edgecolor``, ``linewidth`` (pt), ``linestyle``,
        ``alpha``, ``marker``, ``markersize`` (pt), ``hatch``, ``zorder``. The label may
        name the layer's totals, computed from its geometry in the map CRS:
        ``{n}`` (features), ``{km}`` and ``{m}`` (total line length), ``{area_m2}``,
        ``{area_ha}``, ``{area_km2}`` (area of the union of the polygons), with a format,
        e.g. ``"绿道 greenways {km:.1f} km"``.
    boundaries : GeoDataFrame or GeoSeries, optional
        Outlines drawn on top (column ``kind``: 镇域 / 建成区).
    crs : CRS, optional
        Projected metric CRS of the map (default: that of the first layer, which must
        then be projected). Other layers are reprojected to it.
    title_zh, title_en, subtitle, legend_title, basemap, paper, orientation, size_in, source, data_date, attribution, prepared_by,
    banner
        As in :func:`travel_time_map`.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CRSError
        The map CRS is not projected in metres, or a layer has no CRS.
    InputError
        Malformed layer entries, unknown style keys, bad colours, labels that name
        an unknown total.
    """
    if isinstance(layers, (gpd.GeoDataFrame, gpd.GeoSeries)) or not isinstance(layers, Sequence) or len(layers) == 0:
        raise InputError("layers must be a non-empty list of (GeoDataFrame, style dict, legend label)")
    entries = []
    for i, item in enumerate(layers):
        if not (isinstance(item, tuple) and len(item) == 3):
            raise InputError(f"layer {i} must be a tuple (GeoDataFrame, style dict, legend label), got {type(item).__name__}")
        gdf, style, label = item
        _check_layer(gdf, what=f"layer {i}")
        if not isinstance(label, str):
            raise InputError(f"layer {i}: the legend label must be text, got {type(label).__name__}")
        entries.append((gdf, _style(style, i=i), label))
    if crs is None:
        first = entries[0][0]
        map_crs = require_projected(first, what="first layer")
    else:
        map_crs = require_projected(crs, what="map CRS")
    drawn = [(_in_map_crs(gdf, map_crs, what=f"layer {i}"), style, label) for i, (gdf, style, label) in enumerate(entries)]
    extra = [] if boundaries is None else [_in_map_crs(boundaries, map_crs, what="boundaries")]
    sheet = _Sheet(
        map_crs,
        _bounds(*extra) if extra and np.isfinite(_bounds(*extra)).all() else _bounds(*(g for g, _, _ in drawn)),
        title_zh=_text_arg(title_zh, what="title_zh"),
        title_en=_text_arg(title_en, what="title_en"),
        subtitle=_text_arg(subtitle, what="subtitle"),
        banner=_text_arg(banner, what="banner") if banner else "",
        **_sheet_args(paper, orientation, size_in),
    )
    sheet.basemap(basemap)
    for i, (geoms, style, label) in enumerate(drawn):
        text = _fill_label(label, geoms, i=i)
        sheet.legend(
            0, _draw_styled(sheet.ax, geoms, style, text, default=_DEFAULT_COLOURS[i % len(_DEFAULT_COLOURS)], z=1.0 + i * 0.01)
        )
    if boundaries is not None:
        sheet.boundaries(boundaries)
    return sheet.finish(
        legend_title=legend_title, source=source, data_date=data_date, attribution=attribution, prepared_by=prepared_by
    )


def _draw_styled(ax: Axes, geoms: np.ndarray, style: dict[str, Any], label: str, *, default: str, z: float) -> Artist:
    """Draw one layer by geometry kind; return its legend handle (by the layer's main kind)."""
    kinds = _kinds(geoms)
    look = layer_colours(style, default)
    colour, face, edge = look["colour"], look["face"], look["edge"]
    alpha = style.get("alpha")
    zorder = style.get("zorder", z)
    lw = style.get("linewidth")
    ls: Any = style.get("linestyle", "-")
    marker = style.get("marker", "o")
    ms = style.get("markersize", 6.0)
    if (kinds == 2).any():
        _draw_polygons(
            ax,
            geoms[kinds == 2],
            facecolors=face,
            edgecolors=edge,
            linewidths=0.6 if lw is None else lw,
            linestyles=ls,
            alpha=alpha,
            hatch=style.get("hatch"),
            zorder=zorder,
        )
    if (kinds == 1).any():
        _draw_lines(
            ax,
            geoms[kinds == 1],
            colors=colour,
            linewidths=1.8 if lw is None else lw,
            linestyles=ls,
            alpha=alpha,
            zorder=zorder + 0.5 if "zorder" in style else 4.2 + (zorder - 1.0),  # lines over the streets
        )
    if (kinds == 0).any():
        xy = _point_xy(geoms[kinds == 0])
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=ms**2,
            marker=marker,
            c=look["point_face"],
            edgecolors=look["point_edge"],
            linewidths=0.6,
            alpha=alpha,
            zorder=zorder + 1 if "zorder" in style else 6.0,
        )
    if (kinds >= 0).any():
        counts = np.bincount(kinds[kinds >= 0], minlength=3)
        main = 2 - int(np.argmax(counts[::-1]))  # ties go to polygons, then lines
    elif "marker" in style or "markersize" in style:  # an empty layer: its style tells what it would be
        main = 0
    elif "facecolor" in style or "hatch" in style or not ({"color", "linewidth", "linestyle"} & set(style)):
        main = 2
    else:
        main = 1
    if main == 2:
        return Patch(
            facecolor=face,
            edgecolor=edge,
            linewidth=0.6 if lw is None else lw,
            linestyle=ls,
            alpha=alpha,
            hatch=style.get("hatch"),
            label=label,
        )
    if main == 1:
        return Line2D([], [], color=colour, linewidth=1.8 if lw is None else lw, linestyle=ls, alpha=alpha, label=label)
    return Line2D(
        [],
        [],
        marker=marker,
        linestyle="none",
        markersize=ms,
        markerfacecolor=face if "facecolor" in style else colour,
        markeredgecolor=style.get("edgecolor", "#1a1a1a"),
        alpha=alpha,
        label=label,
    )


# ---------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------


def _title_of(fig: Figure) -> str:
    for t in fig.texts:
        if t.get_gid() == "map-title":
            return str(t.get_text())
    return ""


def save_figure(fig: Figure, path_stem: str | os.PathLike[str], *, dpi: float = 300) -> tuple[Path, Path]:
    """Write a map as ``<path_stem>.png`` (raster, ``dpi``) and ``<path_stem>.pdf`` (vector), atomically.

    Both files are first drawn under temporary names in the target folder and then moved
    into place; if drawing or moving fails, neither file is left behind and files of the
    same name that existed before are kept as they were. The PDF embeds the font (the
    subset of glyphs used, with their Unicode mapping, so the text can be searched and
    copied); fill layers of more than :data:`RASTER_MIN_VERTICES` vertices (a dense
    town's buildings) are rasterised in it at the figure's 300 dpi, all text stays text.

    Both files come from the one laid-out figure; their texts are shaped once and kept
    for the process (:mod:`mtown_geo.render._text`), so the PDF and the next sheets of a
    town reuse what the first drew. The PDF also reuses the operators of long paths (the
    basemap) and the compressed part of its page that repeats the town's last sheet; it
    is, byte for byte, the file matplotlib's ``savefig`` writes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A map from this module (or any figure).
    path_stem : str or path
        Output path without extension (a ``.png`` or ``.pdf`` suffix is dropped).
    dpi : float, optional
        Resolution of the PNG in dots per inch (default 300); the PNG measures the
        figure size × ``dpi`` pixels and records the resolution in its metadata.

    Returns
    -------
    (Path, Path)
        The PNG and the PDF.

    Raises
    ------
    InputError
        Not a figure, bad ``dpi``, a target that is a folder, or a figure that cannot be
        drawn (nothing is written then).
    """
    if not isinstance(fig, Figure):
        raise InputError(f"save_figure needs a matplotlib Figure, got {type(fig).__name__}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not (10 <= dpi <= 2400):
        raise InputError(f"dpi must be a number between 10 and 2400, got {dpi!r}")
    stem = Path(path_stem).expanduser()
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    if stem.name in ("", ".", ".."):
        raise InputError(f"{str(path_stem)!r} names no file: give a path such as 'maps/15min_kindergarten'")
    targets = (stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf"))
    for target in targets:
        if target.is_dir():
            raise InputError(f"{target} is a folder: choose another file name")
    stem.parent.mkdir(parents=True, exist_ok=True)
    title = _title_of(fig)
    from matplotlib import rc_context

    tmp = Path(tempfile.mkdtemp(prefix=f".{stem.name}.partial-", dir=stem.parent))
    try:
        drawn = (tmp / "map.png", tmp / "map.pdf")
        rc: dict[Any, Any] = {
            "savefig.bbox": "standard",  # exact size: figure size × dpi
            "savefig.transparent": False,
            "savefig.facecolor": "white",
            "savefig.edgecolor": "white",
            "pdf.fonttype": 3,  # embeds the used glyphs of the CFF font correctly (Type 42 would mislabel it)
            "pdf.compression": 2,  # zlib level 2: about a tenth faster than the default 6, files 5 % larger
        }
        try:
            with rc_context(rc), gc_paused():
                _save_png(fig, drawn[0], dpi=dpi, title=title)
                print_pdf(fig, drawn[1], metadata={"Title": title, "Subject": ATTRIBUTION, "Creator": "mtown_geo"})
        except OSError:
            raise
        except Exception as exc:
            raise InputError(f"the figure could not be drawn ({type(exc).__name__}: {exc}); nothing was written") from exc
        _move_together(list(zip(drawn, targets, strict=True)), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %s and %s", targets[0], targets[1])
    return targets


def _save_png(fig: Figure, path: Path, *, dpi: float, title: str) -> None:
    """The figure drawn at ``dpi`` and written as an RGB PNG with its resolution and title.

    An axes background that would paint the figure's own colour over the figure's
    background (the map's white) is left out of this draw: the same pixels, one
    full-frame fill less (4 ms of the 0.1 s an A4 sheet at 300 dpi takes to draw). The
    page with the basemap's land use, green land and water comes from the town's previous
    sheet where it is the same (:class:`_Underlay`; 0.03 s of a Liechtenstein sheet), and the
    waterways and streets over the indicator are blended in from their pixels drawn once for the town
    (:class:`_Overlay`; 0.03-0.05 s of a sheet after the first).
    """
    canvas = fig.canvas if isinstance(fig.canvas, MapCanvas) else MapCanvas(fig)
    original_dpi = fig.dpi
    if dpi != original_dpi:
        fig.dpi = dpi
    unseen = _unseen_background(fig)
    try:
        for patch in unseen:
            patch.set_visible(False)
        with _Underlay(fig, unseen) as underlay, _Overlay(fig, underlay.run) as overlay:
            canvas.draw()
        if underlay.redraw or overlay.redraw:  # the kept pixels turned out not to be this sheet's: drawn anew without them
            canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        _write_png(path, rgba, dpi=dpi, text={"Title": title, "Copyright": ATTRIBUTION, "Software": "mtown_geo"})
    finally:
        for patch in unseen:
            patch.set_visible(True)
        fig.dpi = original_dpi


def _unseen_background(fig: Figure) -> list[Patch]:
    """The background of the axes a figure draws first when it only repaints the figure's background.

    That is when the figure's background is one opaque colour (no hatch, no visible edge)
    and the axes background is the same colour, without hatch or visible edge, drawn
    before anything else over it: a sheet's map axes on the white page. Drawing it then
    changes no pixel. Any other case gives an empty list.
    """

    def plain(patch: Patch) -> bool:
        edge = patch.get_linewidth() == 0 or mcolors.to_rgba(patch.get_edgecolor())[3] == 0
        return bool(patch.get_visible() and edge and not patch.get_hatch() and not patch.get_path_effects())

    face = mcolors.to_rgba(fig.patch.get_facecolor())
    if not plain(fig.patch) or face[3] != 1 or fig.patch.get_agg_filter() is not None:
        return []
    drawn = sorted((a for a in fig.get_children() if a is not fig.patch and a.get_visible()), key=lambda a: a.get_zorder())
    if not drawn or not isinstance(drawn[0], Axes):
        return []
    patch = drawn[0].patch
    if not plain(patch) or mcolors.to_rgba(patch.get_facecolor()) != face or patch.get_agg_filter() is not None:
        return []
    return [patch]


_UNDERLAY = threading.local()  # per thread (as the Agg renderers): the last town's page with its basemap's under-layers


class _RedrawError(Exception):
    """The pixels put back for a sheet's under-layers are not what it draws: its draw is started again."""


class _Underlay:
    """The page and the basemap's under-layers of a town's sheets drawn once, their pixels put back for the next sheets.

    Every map sheet of a town begins the same way: the white page, then the basemap's land
    use, green land and water under the indicator, the same paths in the same view at the
    same scale (a twelfth to a quarter of an A4 sheet's Agg drawing). The first sheet draws
    them and keeps the pixels they leave (a copy of the sheet's buffer, 35 MB at A4 300 dpi,
    one per thread); a sheet that begins with the same layers gets these pixels copied into
    its buffer in place of the page's fill and does not draw the layers again. The rest of
    the sheet is drawn over them as before: its pixels are those drawn without the copy.

    "The same" is the state Agg draws from, read off the artists when the sheet is drawn:
    the canvas size and resolution, the page's colour and extent, and per layer its type,
    its paths (read-only paths, the same objects: a basemap's paths are made once per view
    and shared by the town's sheets), transforms, offsets, colours, line widths, dashes,
    caps, joins, antialiasing, snapping and clip box. Only the leading layers of the first
    axes drawn whose gid starts with ``basemap-`` are taken, and only plain ones (no array,
    hatch, effects, filter, sketch, clip path or rasterisation); a sheet's first axes must
    be drawn on its page alone (:func:`_unseen_background`). A sheet whose layers differ in
    any of this draws everything and its pixels are kept instead. Checked again as the first
    layer is drawn (after the axes' aspect is applied); if that differs from what was
    checked before the draw, the draw is started again without the copy.
    """

    def __init__(self, fig: Figure, unseen: Sequence[Patch]) -> None:
        self.fig = fig
        self.redraw = False
        self.run: list[Artist] = []
        self.restored = False
        self.patched: list[Artist] = []
        if len(unseen) != 1 or fig.get_layout_engine() is not None or not isinstance(fig.canvas, MapCanvas):
            return
        ax = next((a for a in fig.axes if a.patch is unseen[0]), None)
        if ax is None or ax.get_rasterization_zorder() is not None or fig.patch.get_clip_path() is not None:
            return
        children = sorted((a for a in ax.get_children() if a is not ax.patch), key=lambda a: a.get_zorder())
        for a in children:
            if not str(a.get_gid() or "").startswith("basemap-") or _layer_state(a) is None:
                break
            self.run.append(a)
        if any("draw" in vars(a) for a in (fig.patch, *self.run)):  # drawn by a function of their own: not known
            self.run = []

    def key(self) -> tuple[Any, ...] | None:
        """What the pixels after the page and the run depend on, or None when a layer is not plain any more."""
        fig, patch = self.fig, self.fig.patch
        states = tuple(_layer_state(a) for a in self.run)
        if any(st is None for st in states):
            return None
        rc = _agg_rc()
        page = (
            mcolors.to_rgba(patch.get_facecolor()),
            mcolors.to_rgba(patch.get_edgecolor()),
            patch.get_linewidth(),
            patch.get_visible(),
            patch.get_clip_on(),
            None if (box := patch.get_clip_box()) is None else tuple(box.bounds),
            tuple(patch.get_window_extent().extents),
        )
        w, h = fig.canvas.get_width_height(physical=True)
        return (w, h, fig.dpi, tuple(fig.bbox.bounds), rc, page, states)

    def __enter__(self) -> _Underlay:
        if not self.run:
            return self
        key = self.key()
        kept = getattr(_UNDERLAY, "last", None)
        if key is not None and kept is not None and kept[0] == key:
            self._reuse(kept[1])
        else:
            _UNDERLAY.last = None
            self._keep(None if kept is None else kept[1])
        return self

    def _reuse(self, pixels: np.ndarray) -> None:
        page = self.fig.patch
        first, kept_key = self.run[0], _UNDERLAY.last[0]

        def put_back(renderer: Any) -> None:  # the page and the run, as the last sheet drew them
            buf = np.asarray(renderer.buffer_rgba())
            if buf.shape != pixels.shape:
                raise _RedrawError
            np.copyto(buf, pixels)
            self.restored = True

        def check_then_skip(renderer: Any) -> None:
            if self.key() != kept_key:
                raise _RedrawError

        vars(page)["draw"] = put_back
        vars(first)["draw"] = check_then_skip
        for a in self.run[1:]:
            vars(a)["draw"] = _draw_nothing
        self.patched = [page, *self.run]

    def _keep(self, spare: np.ndarray | None) -> None:
        last = self.run[-1]
        draw = last.draw

        def draw_and_keep(renderer: Any) -> None:
            draw(renderer)
            key = self.key()
            if key is not None:
                buf = np.asarray(renderer.buffer_rgba())
                # the last town's copy is overwritten where it has the size: no new 35 MB to map and fault in
                pixels = spare if spare is not None and spare.shape == buf.shape else np.empty_like(buf)
                np.copyto(pixels, buf)
                paths = [p for a in self.run for p in a.get_paths()]  # type: ignore[attr-defined]  # alive while their ids are in the key
                _UNDERLAY.last = (key, pixels, paths)

        vars(last)["draw"] = draw_and_keep
        self.patched = [last]

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        for a in self.patched:
            vars(a).pop("draw", None)
        self.patched = []
        if isinstance(exc, _RedrawError):
            _UNDERLAY.last = None
            self.redraw = True
            return True
        return False


_OVERLAY = threading.local()  # per thread: the last sheet's over-layers drawn alone (_OverPixels) and the renderer that drew them


class _OverlayRedrawError(Exception):
    """A sheet's over-layers are not, as it is drawn, the runs they were taken for: its draw is started again."""


def _agg_rc() -> tuple[Any, ...]:
    """The settings Agg reads as it draws a path."""
    return tuple(mpl.rcParams[k] for k in ("path.simplify", "path.simplify_threshold", "path.snap", "agg.path.chunksize"))


_ALPHA = np.uint32(0xFF000000 if sys.byteorder == "little" else 0xFF)  # the alpha byte of an RGBA pixel read as one word
_SOME_ALPHA = np.uint32(1 << 24)  # a little-endian word at or above it has a nonzero alpha byte


@dataclass(frozen=True, eq=False)
class _OverPixels:
    """The pixels a run of layers leaves on a transparent canvas, held as the flat indices of those it touches.

    ``full`` are the opaque pixels with their values ``full_rgba`` (RGBA bytes as one
    word), copied as they are; ``part`` the partly covered ones with their values
    ``part_rgba`` and, for the blend over an opaque pixel, per pixel ``num`` (256·c·α, per
    channel), ``mul`` (65280 − 255·α) and ``inv`` (1 / (65280 + α)), float64.
    """

    key: tuple[Any, ...]
    shape: tuple[int, ...]
    full: np.ndarray
    full_rgba: np.ndarray
    part: np.ndarray
    part_rgba: np.ndarray
    num: np.ndarray
    mul: np.ndarray
    inv: np.ndarray
    paths: tuple[Any, ...]  # the layers' paths: alive while their ids are in the key

    @classmethod
    def of(cls, key: tuple[Any, ...], rgba: np.ndarray, paths: Sequence[Any]) -> _OverPixels:
        words = rgba.view(np.uint32).reshape(-1)
        # one comparison of the words (a boolean pass, not a word-sized mask: a third of the time)
        touched = np.flatnonzero(words >= _SOME_ALPHA if sys.byteorder == "little" else rgba[..., 3] != 0)
        values = words[touched]
        opaque = (values & _ALPHA) == _ALPHA
        part_rgba = values[~opaque]
        src = part_rgba.view(np.uint8).reshape(-1, 4)
        a = src[:, 3:].astype(np.float64)
        num = src[:, :3] * (256.0 * a)
        return cls(
            key,
            rgba.shape,
            touched[opaque],
            values[opaque],
            touched[~opaque],
            part_rgba,
            num,
            65280.0 - 255.0 * a,
            1.0 / (65280.0 + a),
            tuple(paths),
        )

    def over(self, rgba: np.ndarray) -> None:
        """Blend the pixels over a buffer of the same shape in place, as Agg blends a colour into its plain RGBA buffer.

        Agg blends a colour c with alpha α (0-255) into a channel d with alpha δ as
        ``((256c − dδ)·α + 256dδ) // ((α + δ)·256 − αδ)``, the alpha becoming that divisor
        // 256; over an opaque pixel (δ = 255) it is ``(256cα + (65280 − 255α)·d) // (65280 + α)``,
        computed here in float64 (exact integers below 2**53) times the divisor's inverse
        plus 1e-7: the exact quotient's fraction is 0 or at least 1/(65280 + α) from the
        next integer, so the floor is the integer division's.
        """
        words = rgba.view(np.uint32).reshape(-1)
        words[self.full] = self.full_rgba
        if not len(self.part):
            return
        dst = words[self.part].view(np.uint8).reshape(-1, 4)
        out = np.empty_like(dst)
        if dst[:, 3].min() == 255:  # an opaque page under them
            v = dst[:, :3] * self.mul
            v += self.num
            v *= self.inv
            v += 1e-7
            out[:, :3] = v  # truncated: the floor of a positive number
            out[:, 3] = 255
        else:
            src = self.part_rgba.view(np.uint8).reshape(-1, 4).astype(np.int32)
            sa, da = src[:, 3:], dst[:, 3:].astype(np.int32)
            d = dst[:, :3].astype(np.int32) * da
            a = ((sa + da) << 8) - sa * da
            out[:, :3] = (((src[:, :3] << 8) - d) * sa + (d << 8)) // a
            out[:, 3:] = a >> 8
        words[self.part] = out.view(np.uint32).reshape(-1)


class _Overlay:
    """The basemap's waterways and streets over a town's sheets' indicators drawn once, alone, and blended into each sheet's pixels.

    Over its own layers every map sheet of a town draws the same basemap layers: the
    waterways (a path per width) and, over the map's frame, the streets with their
    casings, the same paths in the same view at the same scale (about
    0.04 s of Agg drawing an A4 sheet at 300 dpi). Each contiguous run of them is drawn
    into a transparent buffer of the sheet's size (a separate Agg renderer at the same
    resolution, with the same transforms and clip boxes) and its pixels are blended into
    the sheet's buffer where the run is drawn, with Agg's own operator for its plain (not
    premultiplied) RGBA buffers; the town's next sheets blend the same pixels (0.005-0.01 s
    a sheet). Every sheet takes this route, the first of a town too, so a sheet's pixels do
    not depend on the sheet drawn before it. A pixel that one layer of a run covers gets
    the value drawing the layer gives it; where layers of a run overlap on a partly
    covered pixel (antialiased edges), blending their sum instead of each in turn rounds
    differently: 1 to 3 of 255 per channel, on under 0.1 % of a sheet's pixels.

    A run is a contiguous run, in the first axes' drawing order (artists that draw nothing
    left aside), of plain basemap layers (gid ``basemap-``, plain as for :class:`_Underlay`,
    see :func:`_layer_state`) that blend each pixel once (:func:`_one_blend`: the
    buildings, filled and outlined, are drawn as they are) and that :class:`_Underlay`
    does not take. Its pixels are known by the same state as the under-layers' (canvas
    size, resolution, page extent, each layer's state, the path settings) and drawn anew
    when it differs; a thread keeps those of the last sheet's runs and one transparent
    renderer. The runs are found again as they are drawn; if they are not the same then,
    the sheet is drawn again without blending.
    """

    def __init__(self, fig: Figure, under: Sequence[Artist] = ()) -> None:
        self.fig = fig
        self.under = list(under)
        self.redraw = False
        self.patched: list[Artist] = []
        self.ax: Axes | None = None
        self.runs: list[list[Artist]] = []
        if fig.get_layout_engine() is not None or not isinstance(fig.canvas, MapCanvas):
            return
        drawn = sorted((a for a in fig.get_children() if a is not fig.patch), key=lambda a: a.get_zorder())
        if not drawn or type(drawn[0]) is not Axes or drawn[0].get_rasterization_zorder() is not None:
            return
        self.ax = drawn[0]
        self.runs = [
            run for run in self.find() if not any("draw" in vars(a) for a in run)
        ]  # else drawn by a function of their own

    def find(self) -> list[list[Artist]]:
        """The runs of plain basemap layers as the axes would draw them now."""
        ax = self.ax
        if ax is None:
            return []
        left_out = {id(ax.patch), *map(id, self.under)}
        if not (ax.axison and ax.get_frame_on()):
            left_out.update(map(id, ax.spines.values()))
        if not ax.axison:
            left_out.update((id(ax.xaxis), id(ax.yaxis)))
        runs: list[list[Artist]] = []
        run: list[Artist] = []
        for a in sorted((a for a in ax.get_children() if id(a) not in left_out), key=lambda a: a.get_zorder()):
            if not a.get_visible() or (type(a) is Text and a.get_text() == "" and "draw" not in vars(a)):
                continue  # draws nothing
            if str(a.get_gid() or "").startswith("basemap-") and _layer_state(a) is not None and _one_blend(a):
                run.append(a)
            elif run:
                runs.append(run)
                run = []
        return [*runs, run] if run else runs

    def key(self, run: Sequence[Artist]) -> tuple[Any, ...] | None:
        """What a run's pixels depend on, or None when a layer is not plain any more."""
        states = tuple(_layer_state(a) for a in run)
        if any(st is None for st in states):
            return None
        w, h = self.fig.canvas.get_width_height(physical=True)
        return (w, h, self.fig.dpi, tuple(self.fig.bbox.bounds), _agg_rc(), states)

    def __enter__(self) -> _Overlay:
        kept: list[_OverPixels] = getattr(_OVERLAY, "last", [])
        _OVERLAY.last = kept = kept[: len(self.runs)]  # the last sheet's, as many as this one has runs
        for i, run in enumerate(self.runs):
            vars(run[0])["draw"] = functools.partial(self._blend, i, [a.draw for a in run])
            for a in run[1:]:
                vars(a)["draw"] = _draw_nothing
            self.patched += run
        return self

    def _blend(self, i: int, draws: Sequence[Callable[[Any], None]], renderer: Any) -> None:
        run = self.runs[i]
        key = self.key(run)
        buf = np.asarray(renderer.buffer_rgba())
        if key is None or self.find() != self.runs or not buf.flags.c_contiguous:
            raise _OverlayRedrawError
        kept: list[_OverPixels] = _OVERLAY.last
        pixels = next((p for p in kept if p.key == key and p.shape == buf.shape), None)
        if pixels is None:
            paths = [p for a in run for p in a.get_paths()]  # type: ignore[attr-defined]
            alone = self._renderer_like(renderer)
            for draw in draws:
                draw(alone)
            rgba = np.asarray(alone.buffer_rgba())
            pixels = _OverPixels.of(key, rgba, paths)
            words = rgba.view(np.uint32).reshape(-1)
            words[pixels.full] = 0  # transparent again: clean for the next run without a pass over the whole buffer
            words[pixels.part] = 0
            _OVERLAY.renderer = alone
            if i < len(kept):
                kept[i] = pixels
            else:
                kept.append(pixels)
        pixels.over(buf)

    @staticmethod
    def _renderer_like(renderer: Any) -> RendererAgg:
        """A transparent Agg renderer of the renderer's size and resolution: the thread's, taken while it draws.

        The thread's renderer is kept transparent (the pixels a run touched are reset after
        they are read), so it is not cleared; one that fails within a draw is not kept.
        """
        size = (int(renderer.width), int(renderer.height), float(renderer.dpi))
        alone: RendererAgg | None = getattr(_OVERLAY, "renderer", None)
        _OVERLAY.renderer = None
        if alone is None or (int(alone.width), int(alone.height), float(alone.dpi)) != size:
            alone = RendererAgg(*size)
        return alone

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        for a in self.patched:
            vars(a).pop("draw", None)
        self.patched = []
        if isinstance(exc, _OverlayRedrawError):
            self.redraw = True
            return True
        return False


def _one_blend(a: Any) -> bool:
    """Whether a plain layer blends each pixel once: one path, filled or stroked but not both.

    A pixel under its fill's and its edge's antialiased borders at once would be blended
    twice within the layer and round differently when blended as one sum.
    """
    face = np.asarray(a.get_facecolor(), dtype=np.float64).reshape(-1, 4)[:, 3].any()
    edge = np.asarray(a.get_linewidths()).any() and np.asarray(a.get_edgecolor(), dtype=np.float64).reshape(-1, 4)[:, 3].any()
    return len(a.get_paths()) == 1 and not (face and edge)


def _draw_nothing(renderer: Any) -> None:
    return None


def _layer_state(a: Artist) -> tuple[Any, ...] | None:
    """What Agg draws a plain path or line collection from, or None for any other artist."""
    if type(a) not in (PathCollection, LineCollection):
        return None
    c: Any = a  # its private drawing state is read below
    plain = (
        c.get_visible()
        and not c.get_animated()
        and not c.get_rasterized()
        and c.get_agg_filter() is None
        and not c.get_path_effects()
        and c.get_sketch_params() is None
        and c.get_array() is None
        and not c.get_hatch()
        and c.get_clip_path() is None
        and not c.have_units()
        and getattr(a, "_gapcolor", None) is None
    )
    if not plain:
        return None
    paths = c.get_paths()
    if any(np.asarray(p.vertices).flags.writeable or (p.codes is not None and p.codes.flags.writeable) for p in paths):
        return None  # a path that may change in place is not known by its identity
    tr, off = c.get_transform(), c.get_offset_transform()
    if not (tr.is_affine and off.is_affine):
        return None
    clip = c.get_clip_box()
    try:
        style = (
            np.asarray(c._linewidths, dtype=np.float64).tobytes(),
            tuple((float(o), None if d is None else tuple(float(x) for x in d)) for o, d in c._linestyles),
            np.asarray(c._antialiaseds).tobytes(),
            c._joinstyle,
            c._capstyle,
            tuple(c._urls),
        )
    except AttributeError:  # another matplotlib's collections: not known
        return None
    sizes = c.get_sizes().tobytes() if isinstance(a, PathCollection) else None
    return (
        type(a).__name__,
        tuple(id(p) for p in paths),
        tr.get_matrix().tobytes(),
        off.get_matrix().tobytes(),
        np.asarray(c.get_offsets(), dtype=np.float64).tobytes(),
        sizes,
        np.asarray(c.get_facecolor(), dtype=np.float64).tobytes(),
        np.asarray(c.get_edgecolor(), dtype=np.float64).tobytes(),
        style,
        c.get_snap(),
        c.get_clip_on(),
        None if clip is None else tuple(clip.extents),
    )


def _png_chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", isal_zlib.crc32(data, isal_zlib.crc32(kind)))


_PNG_BAND_ROWS = 32  # rows copied and compressed at a time (about 340 kB at A4 300 dpi: stays in the cache)


def _write_png(path: Path, rgba: np.ndarray, *, dpi: float, text: Mapping[str, str]) -> None:
    """Write an RGBA pixel array (height, width, 4) as an 8-bit RGB PNG.

    Map sheets are large flat areas of a few colours: scanlines without a filter compress
    to smaller files than with PNG's Sub or Up filters, and ISA-L's deflate (level 2)
    compresses them four to five times faster than zlib at level 2, to files 3-8 % larger.
    An A4 sheet at 300 dpi takes 0.01-0.02 s of CPU here (0.05-0.08 s with zlib). The
    rows are made and compressed in bands of :data:`_PNG_BAND_ROWS` into one deflate
    stream, written as an ``IDAT`` chunk per piece the compressor gives out, so no RGB copy
    of the sheet is held. ``dpi`` is recorded in a ``pHYs`` chunk, ``text`` in UTF-8
    ``iTXt`` chunks (titles are Chinese).
    """
    height, width = int(rgba.shape[0]), int(rgba.shape[1])
    band = min(_PNG_BAND_ROWS, max(height, 1))
    stride = 1 + 3 * width  # filter byte + RGB
    buf = np.empty(band * stride + 1, dtype=np.uint8)  # + 1: the last row's last alpha byte lands there
    rows = buf[:-1].reshape(band, stride)
    # Each pixel's four RGBA bytes stored as one 32-bit word at a 3-byte stride: numpy's
    # copy loop stores them in memory order, so every alpha byte is overwritten by the
    # next pixel's red, and a row's last one falls on the next row's filter byte (set
    # after). One strided copy instead of one per channel takes half the time (6 ms for
    # an A4 sheet at 300 dpi instead of 12).
    packed = np.ndarray((band, width), dtype=np.uint32, buffer=buf, offset=1, strides=(stride, 3))
    pixels = np.ascontiguousarray(rgba, dtype=np.uint8).view(np.uint32)[..., 0]
    compressor = isal_zlib.compressobj(2)
    idat = []
    for y in range(0, height, band):
        n = min(band, height - y)
        packed[:n] = pixels[y : y + n]
        rows[:n, 0] = 0  # filter type None
        idat.append(compressor.compress(rows[:n].data))
    idat.append(compressor.flush())
    ppm = round(dpi / 0.0254)  # pixels per metre
    parts = [
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
        _png_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
    ]
    for key, value in text.items():
        parts.append(_png_chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")))
    parts += [_png_chunk(b"IDAT", piece) for piece in idat if piece]  # consecutive IDAT chunks hold one stream
    parts.append(_png_chunk(b"IEND"))
    with open(path, "wb") as fh:
        fh.writelines(parts)


def _move_together(pairs: list[tuple[Path, Path]], backup_dir: Path) -> None:
    """Move finished files into place; on failure restore what was there before."""
    done: list[tuple[Path, Path | None]] = []
    try:
        for i, (src, dst) in enumerate(pairs):
            backup = None
            if dst.is_dir():
                raise IsADirectoryError(f"{dst} is a folder: choose another file name")
            if dst.exists():
                backup = backup_dir / f"previous-{i}{dst.suffix}"
                os.replace(dst, backup)
            done.append((dst, backup))
            os.replace(src, dst)
    except BaseException:
        for dst, backup in reversed(done):
            dst.unlink(missing_ok=True)
            if backup is not None:
                os.replace(backup, dst)
        raise
