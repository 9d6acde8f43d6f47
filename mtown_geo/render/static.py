"""Print maps: one indicator per map, with Chinese and English text, as 300 dpi PNG and vector PDF.

Every map is a :class:`matplotlib.figure.Figure` (no pyplot, no display needed) laid out as
a sheet for a town plan: the title in Chinese with the English beside it, a subtitle with
the figure that matters (a coverage rate), the map in a projected metric CRS, a legend with
Chinese labels, a scale bar in metres, a north arrow, and in the bottom margin the data
source and date, the CRS and the OpenStreetMap attribution. All text is set in the
packaged Noto Sans CJK SC (see :mod:`mtown_geo.render._fonts`), never a system font.

* :func:`travel_time_map` — demand cells coloured by travel-time class to one category.
* :func:`coverage_map` — covered / not covered units (the gaps of a life circle), with the
  coverage rate.
* :func:`layers_map` — any layers with a style and a legend label (park service radii by
  size class, residential land covered or not, greenways with their length).
* :func:`save_figure` — PNG and PDF, written atomically.

Shapes are drawn as one matplotlib collection per layer, so a map of thousands of cells
draws in about a second.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import colors as mcolors
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.path import Path as MplPath
from pyproj import CRS, Transformer

from .._errors import InputError, MtownGeoWarning
from ..crs import require_crs, require_projected
from ..sources.osm import ATTRIBUTION
from ..standards import Profile, resolve
from ._fonts import cjk_font, missing_chars
from .interactive import TIME_BINS

__all__ = [
    "A4_LANDSCAPE_IN",
    "COVERAGE_COLOURS",
    "STYLE_KEYS",
    "coverage_map",
    "layers_map",
    "save_figure",
    "scale_bar_length_m",
    "travel_time_map",
]

log = logging.getLogger(__name__)

#: Default sheet size in inches (width, height): A4 landscape.
A4_LANDSCAPE_IN: tuple[float, float] = (11.69, 8.27)

#: Colours of covered and not-covered units in :func:`coverage_map`.
COVERAGE_COLOURS: tuple[str, str] = ("#1a9850", "#d73027")

#: Style keys accepted by :func:`layers_map`.
STYLE_KEYS: frozenset[str] = frozenset(
    {"color", "facecolor", "edgecolor", "linewidth", "linestyle", "alpha", "marker", "markersize", "hatch", "zorder"}
)

# sheet layout, in figure fractions
_MAP_BOX = (0.035, 0.105, 0.685, 0.765)  # left, bottom, width, height of the map
_PANEL_X = 0.745  # left edge of the legend panel
_TITLE_Y = 0.955
_SUBTITLE_Y = 0.912
_FOOTER_Y = (0.055, 0.030)
_PAD = 0.05  # empty margin around the data, share of the larger side

_BOUNDARY_STYLES: dict[str, tuple[str, Any, float, str]] = {
    # kind: (colour, linestyle, linewidth in pt, legend label)
    "镇域": ("#333333", "--", 1.4, "镇域 town boundary"),
    "建成区": ("#000000", "-", 1.0, "建成区 built-up area"),
}


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


def _line_segments(geoms: np.ndarray) -> list[np.ndarray]:
    """Vertex arrays of every line part (polygon parts give their rings)."""
    parts = shapely.get_parts(geoms)
    is_poly = shapely.get_type_id(parts) == 3
    if is_poly.any():
        parts = np.concatenate([parts[~is_poly], shapely.get_rings(parts[is_poly])])
    coords, which = shapely.get_coordinates(parts, return_index=True)
    if len(coords) == 0:
        return []
    cut = np.flatnonzero(np.diff(which)) + 1
    return [c for c in np.split(coords, cut) if len(c) >= 2]


def _point_xy(geoms: np.ndarray) -> np.ndarray:
    """Coordinates of point geometries (a point on the surface for other shapes), shape (n, 2)."""
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    parts = shapely.get_parts(geoms)
    not_point = shapely.get_type_id(parts) != 0
    if not_point.any():
        parts = parts.copy()
        parts[not_point] = shapely.point_on_surface(parts[not_point])
    return shapely.get_coordinates(parts)


def _kinds(geoms: np.ndarray) -> np.ndarray:
    """0 point, 1 line, 2 polygon, -1 missing or empty, per geometry."""
    tid = shapely.get_type_id(geoms)
    kind = np.full(len(geoms), -1)
    kind[np.isin(tid, (0, 4))] = 0
    kind[np.isin(tid, (1, 2, 5))] = 1
    kind[np.isin(tid, (3, 6))] = 2
    kind[tid == 7] = 2  # collections are drawn as areas and their parts as they come
    kind[shapely.is_empty(geoms) | shapely.is_missing(geoms)] = -1
    return kind


def _draw_polygons(ax: Axes, geoms: np.ndarray, *, facecolors: Any, zorder: float, **kw: Any) -> PathCollection:
    coll = PathCollection(_polygon_paths(geoms), facecolors=facecolors, zorder=zorder, **kw)
    ax.add_collection(coll, autolim=False)
    return coll


def _draw_lines(ax: Axes, geoms: np.ndarray, *, zorder: float, **kw: Any) -> LineCollection:
    coll = LineCollection(_line_segments(geoms), zorder=zorder, **kw)
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
        half = units["cell_m"].to_numpy(dtype=float) / 2
        x = units["x"].to_numpy(dtype=float)
        y = units["y"].to_numpy(dtype=float)
        geoms = shapely.box(x - half, y - half, x + half, y + half)
    return geoms, crs, units.index


def _weights(units: gpd.GeoDataFrame, weight: str | None) -> tuple[np.ndarray, str]:
    """Unit weights and how the rate is weighted, in words (Chinese and English)."""
    if weight is None:
        weight = "area_m2" if "area_m2" in units.columns else None
    if weight is None:
        return np.ones(len(units)), "按单元数 by unit count"
    if weight not in units.columns:
        raise InputError(f"weight column {weight!r} is not in the demand units (columns: {', '.join(map(str, units.columns))})")
    w = pd.to_numeric(units[weight], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise InputError(f"weight column {weight!r} has missing, infinite or negative values: fix them before mapping")
    if w.sum() <= 0:
        raise InputError(f"weight column {weight!r} sums to zero: no rate can be computed")
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
    if not (2.0 <= w <= 100.0 and 2.0 <= h <= 100.0):
        raise InputError(f"size_in must be between 2 and 100 inches each way, got {size_in!r}")
    return w, h


# ---------------------------------------------------------------------------------------
# Sheet: page, map frame, title, legend, scale bar, north arrow, footer
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


def _view(bounds: np.ndarray, box_w_in: float, box_h_in: float) -> tuple[float, float, float, float]:
    """Axis limits around the data, padded and matched to the map frame's shape (equal scale)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    w, h = maxx - minx, maxy - miny
    side = max(w, h)
    if side <= 0:
        side = 1000.0  # a single point: show a kilometre around it
    pad = _PAD * side
    w, h = max(w, 0.0) + 2 * pad, max(h, 0.0) + 2 * pad
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    aspect = box_h_in / box_w_in
    if h / w > aspect:
        w = h / aspect
    else:
        h = w * aspect
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


class _Sheet:
    """A map sheet being drawn: the figure, the map axes, and what the legend will list."""

    def __init__(
        self,
        crs: CRS,
        bounds: np.ndarray,
        *,
        size_in: tuple[float, float],
        title_zh: str,
        title_en: str,
        subtitle: str,
    ) -> None:
        if not np.isfinite(bounds).all():
            raise InputError("the layers have no geometry to map (all empty or missing)")
        self.crs = crs
        self.fig = Figure(figsize=size_in, facecolor="white")
        self.ax = self.fig.add_axes(_MAP_BOX)
        box_w_in = _MAP_BOX[2] * size_in[0]
        box_h_in = _MAP_BOX[3] * size_in[1]
        x0, x1, y0, y1 = _view(bounds, box_w_in, box_h_in)
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        self.ax.set_aspect("equal", adjustable="box")
        self.ax.set_xticks([])
        self.ax.set_yticks([])
        for spine in self.ax.spines.values():
            spine.set_linewidth(0.8)
            spine.set_color("#444444")
        self.ax.set_facecolor("white")
        self.handles: list[Artist] = []
        self.texts: list[str] = []
        title = "  ".join(t for t in (title_zh.strip(), title_en.strip()) if t)
        self._text(0.035, _TITLE_Y, title, size_pt=16, gid="map-title", va="top")
        if subtitle:
            self._text(0.035, _SUBTITLE_Y, subtitle, size_pt=10.5, gid="map-subtitle", va="top", color="#333333")

    # -- text ------------------------------------------------------------------------
    def _text(self, x: float, y: float, s: str, *, size_pt: float, gid: str, **kw: Any) -> None:
        self.texts.append(s)
        self.fig.text(x, y, s, fontproperties=cjk_font(size_pt=size_pt), gid=gid, parse_math=False, **kw)

    # -- layers ----------------------------------------------------------------------
    def boundaries(self, layer: Any) -> None:
        geoms = _in_map_crs(layer, self.crs, what="boundaries")
        kinds = layer["kind"].astype(str).to_numpy() if isinstance(layer, gpd.GeoDataFrame) and "kind" in layer else None
        groups = [("", np.ones(len(geoms), dtype=bool))] if kinds is None else [(k, kinds == k) for k in dict.fromkeys(kinds)]
        for kind, mask in groups:
            colour, ls, lw, label = _BOUNDARY_STYLES.get(
                kind, ("#555555", "-", 1.0, f"{kind} boundary" if kind else "边界 boundary")
            )
            _draw_lines(self.ax, geoms[mask], colors=colour, linestyles=ls, linewidths=lw, zorder=5)
            self.handles.append(Line2D([], [], color=colour, linestyle=ls, linewidth=lw, label=label))

    def facilities(self, layer: Any, *, label: str, colour: str = "#4575b4") -> None:
        geoms = _in_map_crs(layer, self.crs, what="facilities")
        xy = _point_xy(geoms)
        self.ax.scatter(
            xy[:, 0], xy[:, 1], s=42, marker="o", c=colour, edgecolors="#1a1a1a", linewidths=0.8, zorder=6, gid="facilities"
        )
        self.handles.append(
            Line2D(
                [], [], marker="o", linestyle="none", markersize=7, markerfacecolor=colour, markeredgecolor="#1a1a1a", label=label
            )
        )

    # -- furniture ---------------------------------------------------------------------
    def finish(
        self,
        *,
        legend_title: str,
        source: str,
        data_date: str | date | None,
        attribution: str,
    ) -> Figure:
        ax = self.ax
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        w, h = x1 - x0, y1 - y0
        k, north = _local_geometry(self.crs, (x0 + x1) / 2, (y0 + y1) / 2)
        self._scale_bar(x0 + 0.04 * w, y0 + 0.05 * h, w, h, k)
        self._north_arrow(x1 - 0.06 * w, y1 - 0.15 * h, h, north)
        legend = self._legend(legend_title)
        for t in legend.get_texts():
            self.texts.append(t.get_text())
        self.texts.append(legend_title)
        epsg = self.crs.to_epsg()
        crs_text = f"{self.crs.name}" + (f" (EPSG:{epsg})" if epsg else "")
        line1 = f"数据来源 Source: {source}　数据日期 Data date: {_date_text(data_date)}　坐标系 CRS: {crs_text}"
        self._text(0.035, _FOOTER_Y[0], line1, size_pt=7.5, gid="map-source", va="bottom", color="#333333")
        self._text(
            0.035,
            _FOOTER_Y[1],
            f"地图数据 Map data {attribution}",
            size_pt=7.5,
            gid="map-attribution",
            va="bottom",
            color="#333333",
        )
        renderer = self._renderer()
        for t in self.fig.texts:
            if t.get_gid() in ("map-title", "map-subtitle", "map-source", "map-attribution"):
                _fit_width(t, renderer, right_px=0.975 * self.fig.bbox.width)
        missing = missing_chars("".join(self.texts))
        if missing:
            warnings.warn(
                f"the map font has no glyph for {missing!r}: those characters print as empty boxes; "
                "rephrase the title or labels without them",
                MtownGeoWarning,
                stacklevel=3,
            )
        return self.fig

    def _renderer(self) -> Any:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        if not isinstance(self.fig.canvas, FigureCanvasAgg):
            FigureCanvasAgg(self.fig)
        return self.fig.canvas.get_renderer()  # type: ignore[attr-defined]

    def _legend(self, title: str) -> Legend:
        """The legend in the panel right of the map, its text shrunk (then wrapped) to fit the sheet."""
        labels = [str(h.get_label()) for h in self.handles]
        renderer = self._renderer()
        right_px = 0.985 * self.fig.bbox.width

        def make(size_pt: float, wrap: bool) -> Legend:
            legend = self.fig.legend(
                self.handles,
                [_wrap_label(lab) for lab in labels] if wrap else labels,
                loc="upper left",
                bbox_to_anchor=(_PANEL_X, _MAP_BOX[1] + _MAP_BOX[3]),
                prop=cjk_font(size_pt=size_pt),
                title=title or None,
                title_fontproperties=cjk_font(size_pt=size_pt + 1.5),
                alignment="left",
                frameon=False,
                handlelength=1.8,
                borderaxespad=0.0,
            )
            for t in [*legend.get_texts(), legend.get_title()]:
                t.set_parse_math(False)
            return legend

        legend = make(9.0, False)
        for size_pt, wrap in ((8.0, False), (7.0, False), (7.0, True)):
            if legend.get_window_extent(renderer).x1 <= right_px:
                break
            legend.remove()
            legend = make(size_pt, wrap)
        legend.set_gid("map-legend")
        return legend

    def _scale_bar(self, x: float, y: float, w: float, h: float, k: float) -> None:
        """Two-segment bar (black, white) with "0" and the length; ground length × k grid units."""
        length_m = scale_bar_length_m(0.25 * w / k)
        bar = length_m * k
        height = 0.012 * h
        ax = self.ax
        ax.add_patch(
            Rectangle(
                (x - 0.015 * w, y - 0.035 * h),
                bar + 0.06 * w,
                height + 0.055 * h,
                facecolor="white",
                edgecolor="none",
                alpha=0.8,
                zorder=9,
                gid="scale-bar-background",
            )
        )
        for i, colour in enumerate(("#000000", "#ffffff")):
            ax.add_patch(
                Rectangle(
                    (x + i * bar / 2, y),
                    bar / 2,
                    height,
                    facecolor=colour,
                    edgecolor="#000000",
                    linewidth=0.6,
                    zorder=10,
                    gid="scale-bar",
                )
            )
        font = cjk_font(size_pt=8)
        ax.text(
            x, y - 0.008 * h, "0", ha="center", va="top", fontproperties=font, zorder=10, gid="scale-bar-zero", parse_math=False
        )
        label = _length_label(length_m)
        self.texts.append(label)
        ax.text(
            x + bar,
            y - 0.008 * h,
            label,
            ha="center",
            va="top",
            fontproperties=font,
            zorder=10,
            gid="scale-bar-label",
            parse_math=False,
        )

    def _north_arrow(self, x: float, y: float, h: float, north: np.ndarray) -> None:
        """An arrow pointing to true north at the map centre, with 北 N above it."""
        length = 0.08 * h
        tip = np.array([x, y]) + length * north
        self.ax.add_patch(
            FancyArrowPatch(
                (x, y),
                (float(tip[0]), float(tip[1])),
                arrowstyle="-|>",
                mutation_scale=18,
                linewidth=1.6,
                color="#000000",
                zorder=10,
                gid="north-arrow",
            )
        )
        label = tip + 0.015 * h * north
        self.texts.append("北 N")
        self.ax.text(
            float(label[0]),
            float(label[1]),
            "北 N",
            ha="center",
            va="bottom",
            rotation=-math.degrees(math.atan2(north[0], north[1])),
            rotation_mode="anchor",
            fontproperties=cjk_font(size_pt=10),
            zorder=10,
            gid="north-label",
            parse_math=False,
        )


def _wrap_label(label: str) -> str:
    """Break a legend label in two at the space nearest its middle."""
    spaces = [i for i, ch in enumerate(label) if ch in " 　"]
    if not spaces:
        return label
    cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return label[:cut] + "\n" + label[cut + 1 :]


def _fit_width(text: Any, renderer: Any, *, right_px: float, min_size_pt: float = 6.5) -> None:
    """Shrink a text's font until it ends left of ``right_px`` (display pixels)."""
    for _ in range(20):
        if text.get_window_extent(renderer).x1 <= right_px or text.get_fontsize() <= min_size_pt:
            return
        text.set_fontsize(max(min_size_pt, text.get_fontsize() * 0.92))
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


def _facilities_of(facilities: Any, category: str | None) -> Any:
    if facilities is None:
        return None
    _check_layer(facilities, what="facilities")
    if category is not None and isinstance(facilities, gpd.GeoDataFrame) and "category" in facilities.columns:
        return facilities[facilities["category"] == category]
    return facilities


# ---------------------------------------------------------------------------------------
# The maps
# ---------------------------------------------------------------------------------------


def travel_time_map(
    cells: gpd.GeoDataFrame,
    times: pd.DataFrame,
    category: str,
    *,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    threshold_min: float | None = None,
    weight: str | None = None,
    profile: Profile | str | Path | None = None,
    title_zh: str | None = None,
    title_en: str | None = None,
    subtitle: str | None = None,
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    size_in: tuple[float, float] = A4_LANDSCAPE_IN,
) -> Figure:
    """A print map of the travel time from each demand unit to the nearest facility of a category.

    Units are coloured by the classes of :data:`mtown_geo.render.interactive.TIME_BINS`:
    ≤ 5, 5–10, 10–15, 15–30 and > 30 minutes or unreachable; the legend gives each class's
    share of the units (weighted as ``weight``).

    Parameters
    ----------
    cells : GeoDataFrame
        Demand units in a projected metric CRS: grid units from :func:`mtown_geo.demand.grid`
        (drawn as their square cells), their cells (:func:`mtown_geo.demand.cells`), or any
        polygons or points (parcels, buildings).
    times : DataFrame
        Travel times in minutes, index-aligned with ``cells`` (as
        :func:`mtown_geo.access.travel_times` returns them); ``inf`` means unreachable.
    category : str
        The column of ``times`` to map.
    boundaries : GeoDataFrame or GeoSeries, optional
        Outlines (column ``kind``: 镇域 / 建成区), any CRS.
    facilities : GeoDataFrame or GeoSeries, optional
        Facilities, any CRS; only those of ``category`` are drawn when there is a
        ``category`` column.
    threshold_min : float, optional
        A threshold in minutes: the subtitle gives the share of units within it.
    weight : str, optional
        Column of ``cells`` that weights the shares (default ``area_m2`` when present,
        else every unit counts once).
    profile : Profile, str or path, optional
        For the Chinese and English category names (default ``zhejiang-2023``).
    title_zh, title_en : str, optional
        Title in Chinese and in English (default from the category's names).
    subtitle : str, optional
        Replaces the automatic subtitle.
    source : str, optional
        The data source named in the margin (default "OpenStreetMap").
    data_date : date or str, optional
        Date of the data (e.g. the OSM extract's date), printed in the margin.
    attribution : str, optional
        Credit line (default "© OpenStreetMap contributors (ODbL 1.0)").
    size_in : (float, float), optional
        Sheet size in inches (default A4 landscape); the PNG is this × dpi pixels.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with :func:`save_figure`.

    Raises
    ------
    CRSError
        ``cells`` are not in a projected metric CRS, or another layer has no CRS.
    InputError
        Unknown category, times not aligned with the cells, missing or negative times.
    """
    geoms, crs, index = _unit_geometry(cells, what="demand cells")
    if not isinstance(times, pd.DataFrame):
        raise InputError(f"times must be a DataFrame with one column per category, got {type(times).__name__}")
    if category not in times.columns:
        raise InputError(f"category {category!r} is not a column of times (columns: {', '.join(map(str, times.columns))})")
    t = _aligned(times[category], index, what=f"times[{category!r}]").astype(float)
    if np.isnan(t).any():
        raise InputError(
            f"{int(np.isnan(t).sum())} travel times to {category!r} are missing (NaN): "
            "unreachable units must be inf, as mtown_geo.access.travel_times gives them"
        )
    if (t < 0).any():
        raise InputError(f"{int((t < 0).sum())} travel times to {category!r} are negative")
    w, weight_label = _weights(cells, weight)
    uppers = np.array([b[0] for b in TIME_BINS])
    cls = np.minimum(np.searchsorted(uppers, t, side="left"), len(TIME_BINS) - 1)
    palette = np.array([b[1] for b in TIME_BINS])
    name_zh, name_en = _category_names(category, profile)

    if subtitle is None:
        parts = []
        if threshold_min is not None:
            if not (isinstance(threshold_min, (int, float)) and threshold_min > 0):
                raise InputError(f"threshold_min must be a positive number of minutes, got {threshold_min!r}")
            rate = float(w[t <= threshold_min].sum() / w.sum())
            parts.append(
                f"{threshold_min:g} 分钟内覆盖率 coverage within {threshold_min:g} min: {100 * rate:.1f}%（{weight_label}）"
            )
        reach = float(w[np.isfinite(t)].sum() / w.sum())
        parts.append(f"可达 reachable: {100 * reach:.1f}%　单元 units: {len(t):,}")
        subtitle = "　".join(parts)
    fac = _facilities_of(facilities, category)
    extra = [] if boundaries is None else [_in_map_crs(boundaries, crs, what="boundaries")]
    sheet = _Sheet(
        crs,
        _bounds(geoms, *extra),
        size_in=_check_size(size_in),
        title_zh=_text_arg(title_zh, what="title_zh") if title_zh is not None else f"{name_zh}可达时间",
        title_en=_text_arg(title_en, what="title_en") if title_en is not None else f"Travel time to {name_en}",
        subtitle=_text_arg(subtitle, what="subtitle"),
    )
    _draw_units(sheet.ax, geoms, palette[cls], gid="units")
    for i, (_, colour, label) in enumerate(TIME_BINS):
        share = float(w[cls == i].sum() / w.sum())
        sheet.handles.append(Patch(facecolor=colour, edgecolor="none", label=f"{label}　{100 * share:.1f}%"))
    if boundaries is not None:
        sheet.boundaries(boundaries)
    if fac is not None and len(fac):
        sheet.facilities(fac, label=f"{name_zh} {name_en}（{len(fac)}）")
    return sheet.finish(legend_title="出行时间 Travel time", source=source, data_date=data_date, attribution=attribution)


def coverage_map(
    cells: gpd.GeoDataFrame,
    covered: pd.Series | np.ndarray | Sequence[bool],
    *,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    weight: str | None = None,
    labels: tuple[str, str] = ("覆盖 covered", "未覆盖 not covered"),
    colours: tuple[str, str] = COVERAGE_COLOURS,
    title_zh: str = "覆盖情况",
    title_en: str = "Coverage",
    subtitle: str | None = None,
    legend_title: str = "图例 Legend",
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    size_in: tuple[float, float] = A4_LANDSCAPE_IN,
) -> Figure:
    """A print map of covered and not-covered units (e.g. the gaps of a life circle), with the rate.

    Parameters
    ----------
    cells : GeoDataFrame
        Demand units in a projected metric CRS (grid units, cells, parcels, points).
    covered : Series or array of bool
        Whether each unit is covered; a Series is matched to ``cells`` by index.
    weight : str, optional
        Column of ``cells`` that weights the rate (default ``area_m2`` when present, else
        every unit counts once). The subtitle says which.
    labels : (str, str), optional
        Legend labels of covered and not-covered units.
    colours : (str, str), optional
        Their colours (default green, red).
    boundaries, facilities, title_zh, title_en, subtitle, source, data_date, attribution, size_in
        As in :func:`travel_time_map`; ``facilities`` are all drawn.

    Returns
    -------
    matplotlib.figure.Figure
        The subtitle reads "覆盖率 Coverage: 83.4%（按面积 area-weighted）".

    Raises
    ------
    CRSError, InputError
        As in :func:`travel_time_map`; ``covered`` not boolean or not aligned.
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
    extra = [] if boundaries is None else [_in_map_crs(boundaries, crs, what="boundaries")]
    sheet = _Sheet(
        crs,
        _bounds(geoms, *extra),
        size_in=_check_size(size_in),
        title_zh=_text_arg(title_zh, what="title_zh"),
        title_en=_text_arg(title_en, what="title_en"),
        subtitle=_text_arg(subtitle, what="subtitle"),
    )
    _draw_units(sheet.ax, geoms, np.where(cov, colours[0], colours[1]), gid="units")
    sheet.handles.append(Patch(facecolor=colours[0], edgecolor="none", label=f"{labels[0]}　{100 * rate:.1f}%"))
    sheet.handles.append(Patch(facecolor=colours[1], edgecolor="none", label=f"{labels[1]}　{100 * (1 - rate):.1f}%"))
    if boundaries is not None:
        sheet.boundaries(boundaries)
    if facilities is not None:
        fac = _facilities_of(facilities, None)
        if len(fac):
            sheet.facilities(fac, label=f"设施 facilities（{len(fac)}）")
    return sheet.finish(legend_title=legend_title, source=source, data_date=data_date, attribution=attribution)


def _draw_units(ax: Axes, geoms: np.ndarray, colours: np.ndarray, *, gid: str) -> None:
    kinds = _kinds(geoms)
    poly = kinds == 2
    if poly.any():
        coll = _draw_polygons(ax, geoms[poly], facecolors=colours[poly], edgecolors="face", linewidths=0.3, zorder=1)
        coll.set_gid(gid)
    rest = (kinds == 0) | (kinds == 1)
    if rest.any():
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms[rest]))  # one point per unit
        ax.scatter(xy[:, 0], xy[:, 1], s=9, marker="s", c=colours[rest], linewidths=0, zorder=1, gid=f"{gid}-points")


def _layer_totals(geoms: np.ndarray) -> dict[str, float]:
    kinds = _kinds(geoms)
    lines = geoms[kinds == 1]
    polys = geoms[kinds == 2]
    area = float(shapely.area(shapely.union_all(polys))) if len(polys) else 0.0
    return {
        "n": float(int((kinds >= 0).sum())),
        "km": float(shapely.length(lines).sum()) / 1000.0,
        "m": float(shapely.length(lines).sum()),
        "area_m2": area,
        "area_ha": area / 1e4,
        "area_km2": area / 1e6,
    }


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


_DEFAULT_COLOURS = ("#4575b4", "#1a9850", "#d73027", "#fdae61", "#762a83", "#35978f")


def layers_map(
    layers: Sequence[tuple[gpd.GeoDataFrame | gpd.GeoSeries, Mapping[str, Any] | None, str]],
    *,
    boundaries: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    crs: Any = None,
    title_zh: str = "",
    title_en: str = "",
    subtitle: str | None = None,
    legend_title: str = "图例 Legend",
    source: str = "OpenStreetMap",
    data_date: str | date | None = None,
    attribution: str = ATTRIBUTION,
    size_in: tuple[float, float] = A4_LANDSCAPE_IN,
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
    title_zh, title_en, subtitle, legend_title, source, data_date, attribution, size_in
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
        _bounds(*(g for g, _, _ in drawn), *extra),
        size_in=_check_size(size_in),
        title_zh=_text_arg(title_zh, what="title_zh"),
        title_en=_text_arg(title_en, what="title_en"),
        subtitle=_text_arg(subtitle, what="subtitle"),
    )
    for i, (geoms, style, label) in enumerate(drawn):
        try:
            text = label.format_map(_layer_totals(geoms)) if "{" in label else label
        except (KeyError, ValueError, IndexError) as exc:
            raise InputError(
                f"layer {i}: the label {label!r} cannot be filled ({exc}); it may name {{n}}, {{km}}, {{m}}, "
                "{area_m2}, {area_ha} or {area_km2}, e.g. '绿道 greenways {km:.1f} km' (double the braces for a literal one)"
            ) from None
        sheet.handles.append(
            _draw_styled(sheet.ax, geoms, style, text, default=_DEFAULT_COLOURS[i % len(_DEFAULT_COLOURS)], z=2 + i * 0.01)
        )
    if boundaries is not None:
        sheet.boundaries(boundaries)
    return sheet.finish(legend_title=legend_title, source=source, data_date=data_date, attribution=attribution)


def _draw_styled(ax: Axes, geoms: np.ndarray, style: dict[str, Any], label: str, *, default: str, z: float) -> Artist:
    """Draw one layer by geometry kind; return its legend handle (by the layer's main kind)."""
    kinds = _kinds(geoms)
    colour = style.get("color", default)
    alpha = style.get("alpha")
    zorder = style.get("zorder", z)
    face = style.get("facecolor", colour)
    edge = style.get("edgecolor", "none" if "facecolor" in style or "color" not in style else colour)
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
            zorder=zorder + 0.5,
        )
    if (kinds == 0).any():
        xy = _point_xy(geoms[kinds == 0])
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=ms**2,
            marker=marker,
            c=face if "facecolor" in style else colour,
            edgecolors=style.get("edgecolor", "#1a1a1a"),
            linewidths=0.6,
            alpha=alpha,
            zorder=zorder + 1,
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
    copied).

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
        }
        try:
            with rc_context(rc):
                fig.savefig(
                    drawn[0],
                    format="png",
                    dpi=dpi,
                    metadata={"Title": title, "Copyright": ATTRIBUTION, "Software": "mtown_geo"},
                    # zlib level 3: a 300-dpi map encodes in 2/3 of the time of the default 6,
                    # for files about 20 % larger
                    pil_kwargs={"compress_level": 3},
                )
                fig.savefig(drawn[1], format="pdf", metadata={"Title": title, "Subject": ATTRIBUTION, "Creator": "mtown_geo"})
        except OSError:
            raise
        except Exception as exc:
            raise InputError(f"the figure could not be drawn ({type(exc).__name__}: {exc}); nothing was written") from exc
        _move_together(list(zip(drawn, targets, strict=True)), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %s and %s", targets[0], targets[1])
    return targets


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
