"""Road centrelines → a travel network, with the topology repair that planners' line layers need.

Centreline layers drawn in CAD or GIS (道路中心线) rarely have the topology a router
needs: roads cross without a vertex where they meet, ends stop short of the road they
join or overshoot it, lines are drawn twice, and bridges cross roads they never meet.
:func:`lines_to_network` repairs these and builds a :class:`~mtown_geo.network.Network`
of straight segments, as :func:`mtown_geo.network.from_osm` does for OpenStreetMap.

How lines are joined
--------------------
* Vertices are told apart on a 1 mm grid: points closer than 1.5 mm are one place.
  Lengths are measured from the coordinates as drawn.
* An **end** of a line joins whatever it touches: another line's end or vertex, or
  the inside of another line, which is split there. Ends that touch no line other
  than the ones ending there (a dead end, or road pieces drawn to one point) and miss
  another line by at most ``snap_tol_m`` are moved onto it, together: to the nearest
  vertex of another line within the tolerance, else to the nearest point of another
  line (split there). Ends meet whatever the levels of the lines are: a bridge joins
  its approach roads.
* Two lines that **cross** (inside both, with or without a shared vertex) are split
  and joined only when they are on the same level. The level of a line is the
  combination of its level field (``layer``, 层...) and its bridge and tunnel flags,
  so a bridge over a road, or an elevated road drawn over a ground road, stays apart
  even where the two share a vertex.
* Lines drawn twice with the same vertices (in either direction when two-way) on the
  same level are dropped; lines of zero length are dropped; multi-part lines are
  split into their parts.

Every repair is listed with its location in :attr:`LineNetwork.repairs`
(:class:`RepairReport`).

What is not repaired is listed too
----------------------------------
* **Near-misses**: a dead end that stops short of another line by more than
  ``snap_tol_m`` but within ``near_miss_m`` (3 × the tolerance, at least 3 m) is left
  open and listed (``near_miss``, with the gap in metres and the other line), with a
  :class:`~mtown_geo.RepairWarning`: such a gap can cut a network in two. Raise
  ``snap_tol_m`` to close them, or fix the lines.
* **Pieces**: a network that falls into several pieces gets a
  :class:`~mtown_geo.DisconnectedNetworkWarning` naming every cut-off piece with its
  length and place, however short, and the near-misses that would join two pieces.
* **Bridges without levels**: road classes that mark bridges, viaducts and ramps
  (高速, 高架, 匝道, 桥, 立交; bridge, viaduct, ramp...) in a layer without a level or
  bridge column get a :class:`~mtown_geo.RepairWarning`: such lines are joined to
  every street they cross.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Proj, Transformer
from scipy.spatial import cKDTree

from . import crs as _crs
from ._errors import CRSError, DisconnectedNetworkWarning, InputError, NetworkError, RepairWarning
from ._graph import Network, _merge_parallel
from .standards import ModeSpec, NetworkFilter, Profile, resolve

__all__ = ["BRIDGE_CLASS_PARTS", "BRIDGE_CLASS_WORDS", "ROAD_CLASSES", "LineNetwork", "RepairReport", "lines_to_network"]

log = logging.getLogger(__name__)

#: Grid (metres) on which vertices are identified.
_GRID_M = 1e-3
#: Points closer than this (metres) are the same place.
_TOUCH_M = 1.5e-3
#: Largest scale error of a projected CRS at the layer that is kept as it is (0.5 %).
_MAX_SCALE_ERROR = 0.005

#: Road classes a centreline layer may use, mapped to the OSM ``highway`` value whose
#: speed (from the profile's mode table) and network filter they take. Keys are
#: compared after :func:`_norm_class` (lower case, spaces and hyphens as ``_``).
ROAD_CLASSES: dict[str, str] = {
    # urban roads, CJJ 37-2012 城市道路工程设计规范
    "快速路": "trunk",
    "快速路主路": "trunk",
    "高架路": "trunk",
    "主干路": "primary",
    "主干道": "primary",
    "次干路": "secondary",
    "次干道": "secondary",
    "支路": "tertiary",
    "匝道": "motorway_link",
    # highways by administration (国道/省道/县道/乡道/村道) and by technical grade
    "高速公路": "motorway",
    "高速": "motorway",
    "国道": "trunk",
    "省道": "primary",
    "县道": "secondary",
    "乡道": "tertiary",
    "村道": "unclassified",
    "一级公路": "primary",
    "二级公路": "secondary",
    "三级公路": "tertiary",
    "四级公路": "unclassified",
    "等外公路": "track",
    # small streets, estates, paths
    "街巷": "living_street",
    "巷道": "living_street",
    "小巷": "living_street",
    "胡同": "living_street",
    "街坊路": "residential",
    "小区道路": "residential",
    "小区路": "residential",
    "居住区道路": "residential",
    "内部道路": "service",
    "步行街": "pedestrian",
    "人行道": "footway",
    "步行道": "footway",
    "步道": "footway",
    "游步道": "footway",
    "绿道": "path",
    "自行车道": "cycleway",
    "非机动车道": "cycleway",
    "台阶": "steps",
    "梯道": "steps",
    "机耕路": "track",
    "机耕道": "track",
    "田间道": "track",
    "生产路": "track",
    # English descriptions
    "freeway": "motorway",
    "expressway": "trunk",
    "elevated_road": "trunk",
    "arterial": "primary",
    "major_arterial": "primary",
    "main_road": "primary",
    "minor_arterial": "secondary",
    "secondary_arterial": "secondary",
    "sub_arterial": "secondary",
    "collector": "tertiary",
    "branch": "tertiary",
    "branch_road": "tertiary",
    "local": "residential",
    "local_road": "residential",
    "national_road": "trunk",
    "provincial_road": "primary",
    "county_road": "secondary",
    "township_road": "tertiary",
    "village_road": "unclassified",
    "alley": "living_street",
    "lane": "living_street",
    "ramp": "motorway_link",
    "sidewalk": "footway",
    "footpath": "footway",
    "bike_lane": "cycleway",
    "greenway": "path",
    "stairs": "steps",
    # OSM highway values (also the ``fclass`` of Geofabrik shapefiles)
    **{
        v: v
        for v in (
            "motorway",
            "motorway_link",
            "trunk",
            "trunk_link",
            "primary",
            "primary_link",
            "secondary",
            "secondary_link",
            "tertiary",
            "tertiary_link",
            "unclassified",
            "residential",
            "living_street",
            "service",
            "road",
            "busway",
            "bus_guideway",
            "pedestrian",
            "track",
            "footway",
            "cycleway",
            "path",
            "steps",
            "bridleway",
            "corridor",
            "elevator",
            "escalator",
            "platform",
            "via_ferrata",
            "construction",
            "proposed",
            "planned",
            "abandoned",
            "razed",
            "raceway",
            "rest_area",
            "services",
        )
    },
}

_FALSE_VALUES = {"", "no", "false", "0", "n", "f", "否", "无", "none", "nan", "null"}
_ONEWAY_FORWARD = {"yes", "true", "1", "y", "是", "单行", "单向", "单向通行", "正向", "ft"}
_ONEWAY_BACKWARD = {"-1", "reverse", "tf", "反向", "逆向"}
_ONEWAY_BOTH = {"", "no", "false", "0", "n", "否", "双向", "双行", "双向通行", "b", "none", "nan", "null"}

_LINE_TYPES = (1, 2, 5)  # shapely type ids: LineString, LinearRing, MultiLineString
_TYPE_NAMES = {0: "Point", 3: "Polygon", 4: "MultiPoint", 6: "MultiPolygon", 7: "GeometryCollection"}

_KINDS = ("crossing", "t_junction", "snapped_end", "grade_separated", "duplicate", "zero_length", "unknown_class", "near_miss")

#: Road classes (or parts of them) that mark bridges and elevated roads: without a level or
#: bridge column such lines join every street they cross. Chinese parts are matched inside
#: the class (高架路, 城市快速路高架, 匝道...), English words as words.
BRIDGE_CLASS_PARTS: tuple[str, ...] = ("高速", "高架", "匝道", "桥", "立交")
BRIDGE_CLASS_WORDS: tuple[str, ...] = (
    "bridge",
    "viaduct",
    "ramp",
    "flyover",
    "overpass",
    "elevated",
    "motorway",
    "expressway",
    "freeway",
)
_NEAR_MISS_FACTOR = 3.0  # near-misses are listed up to this many times the snap tolerance...
_NEAR_MISS_MIN_M = 3.0  # ...and at least this far (metres)


@dataclass(frozen=True, eq=False)
class RepairReport:
    """What was repaired in a centreline layer, and where.

    Attributes
    ----------
    locations : GeoDataFrame
        One row per repair, in the network's CRS: ``kind`` (``"crossing"``: lines
        crossing without a vertex, split and joined; ``"t_junction"``: an end lying on
        another line, which was split there; ``"snapped_end"``: an end that missed
        another line and was moved onto it; ``"grade_separated"``: lines crossing on
        different levels, kept apart; ``"duplicate"`` and ``"zero_length"``: lines
        dropped; ``"unknown_class"``: a line whose road class is not known, at its
        middle), ``dist_m`` (how far a snapped end moved, metres; 0 otherwise),
        ``line`` (index label of the line in the input layer), ``other`` (the other
        line involved, or ``None``) and Point geometry.
    unknown_classes : dict of str to int
        Road-class values neither the speed mapping nor :data:`ROAD_CLASSES` knows,
        with their number of lines. These lines take the mode's base speed.
    excluded_classes : dict of str to int
        Road classes the mode may not use (the profile's network filter, e.g.
        motorways for walking), with the number of lines left out.
    n_lines : int
        Rows of the input layer.
    n_parts : int
        Single lines after multi-lines were split into their parts.
    n_empty : int
        Rows without geometry, left out.
    snap_tol_m, near_miss_m : float
        The snap tolerance used, and the distance up to which ends left open are listed
        as ``"near_miss"`` rows (``dist_m``: the gap; ``other``: the line it misses).
    bridge_classes : dict of str to int
        Road classes that mark bridges, viaducts or ramps (:data:`BRIDGE_CLASS_PARTS`,
        :data:`BRIDGE_CLASS_WORDS`), with their number of lines.
    level_columns : tuple of str
        The level, bridge and tunnel columns used (empty: every line is on one level).
    bridge_crossings_joined : int
        Crossings of a bridge-class line with another line that were joined because the
        layer gives no levels (0 when it does).
    """

    locations: gpd.GeoDataFrame
    unknown_classes: dict[str, int]
    excluded_classes: dict[str, int]
    n_lines: int
    n_parts: int
    n_empty: int
    snap_tol_m: float = 0.0
    near_miss_m: float = 0.0
    bridge_classes: dict[str, int] = field(default_factory=dict)
    level_columns: tuple[str, ...] = ()
    bridge_crossings_joined: int = 0

    def _count(self, kind: str) -> int:
        return int((self.locations["kind"] == kind).sum())

    @property
    def crossings_split(self) -> int:
        """Points where lines crossing on one level were split and joined."""
        return self._count("crossing")

    @property
    def t_junctions_split(self) -> int:
        """Points where an end lying on another line's inside was joined to it."""
        return self._count("t_junction")

    @property
    def ends_snapped(self) -> int:
        """Ends moved onto another line they missed by at most the snap tolerance."""
        return self._count("snapped_end")

    @property
    def grade_separated(self) -> int:
        """Points where lines cross on different levels and were kept apart."""
        return self._count("grade_separated")

    @property
    def duplicates_dropped(self) -> int:
        """Lines dropped because an identical line was already there."""
        return self._count("duplicate")

    @property
    def zero_length_dropped(self) -> int:
        """Lines dropped because they have no length."""
        return self._count("zero_length")

    @property
    def near_misses(self) -> int:
        """Line ends left open that miss another line by more than the snap tolerance, within ``near_miss_m``."""
        return self._count("near_miss")

    @property
    def bridges_without_levels(self) -> bool:
        """Whether the layer has bridge-like road classes but no level or bridge column."""
        return bool(self.bridge_classes) and not self.level_columns

    @property
    def n_repairs(self) -> int:
        """Changes made to the lines' topology (grade separations, unknown classes and near-misses are not changes)."""
        return (
            self.crossings_split + self.t_junctions_split + self.ends_snapped + self.duplicates_dropped + self.zero_length_dropped
        )

    def to_frame(self) -> gpd.GeoDataFrame:
        """One row per repair (``kind``, ``dist_m``, ``line``, ``other``, Point geometry): a copy of :attr:`locations`.

        :meth:`summary` gives the counts.
        """
        return self.locations.copy()

    def summary(self) -> pd.Series:
        """Counts of every kind of repair and of the lines read, as a Series of ints."""
        counts = {kind: self._count(kind) for kind in _KINDS}
        counts.update(
            {
                "lines": self.n_lines,
                "parts": self.n_parts,
                "empty": self.n_empty,
                "excluded": sum(self.excluded_classes.values()),
            }
        )
        return pd.Series(counts, dtype=np.int64, name="count")

    def __repr__(self) -> str:
        parts = [f"{n} {k.replace('_', ' ')}" for k, n in self.summary().items() if k in _KINDS and n]
        return f"RepairReport({self.n_lines:,} lines, {self.n_parts:,} parts: {', '.join(parts) or 'nothing repaired'})"


class LineNetwork(Network):
    """A :class:`~mtown_geo.network.Network` built from road centrelines.

    It is a Network in every respect, with one more attribute: :attr:`repairs`, the
    :class:`RepairReport` of what was repaired in the lines. Edges carry ``highway``
    (the OSM class the road class maps to, or the class itself when unknown),
    ``road_class`` (the value of the class field), ``name`` and ``line`` (index label of
    the input line they come from).
    """

    def __init__(self, nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *, repairs: RepairReport, **kwargs: Any) -> None:
        super().__init__(nodes, edges, **kwargs)
        self.repairs = repairs


# -- attribute parsing -----------------------------------------------------------------


def _norm_class(value: Any) -> str:
    """A road-class value as compared with :data:`ROAD_CLASSES` (stripped, lower case, ``_`` for spaces)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def _osm_class(norm: str) -> str | None:
    if norm in ROAD_CLASSES:
        return ROAD_CLASSES[norm]
    if norm.startswith("城市") and norm[2:] in ROAD_CLASSES:  # 城市主干路 → 主干路
        return ROAD_CLASSES[norm[2:]]
    return None


def _text(values: pd.Series) -> np.ndarray:
    """Values as stripped lower-case strings ('' for missing; 1.0 → '1')."""
    out = np.empty(len(values), dtype=object)
    for i, val in enumerate(values.to_numpy(dtype=object)):
        if val is None or (isinstance(val, float) and math.isnan(val)):
            out[i] = ""
        elif isinstance(val, (bool, np.bool_)):
            out[i] = "true" if val else "false"
        elif isinstance(val, (int, float, np.integer, np.floating)) and float(val).is_integer():
            out[i] = str(int(val))
        else:
            out[i] = str(val).strip().lower()
    return out


def _flags(values: pd.Series) -> np.ndarray:
    """Truthy flags (bridge, tunnel): anything but no/false/0/否/empty."""
    return np.array([t not in _FALSE_VALUES for t in _text(values)], dtype=bool)


def _levels(values: pd.Series) -> np.ndarray:
    """Level values normalised so that 1, '1' and '1.0' are one level; missing is level 0."""
    out = np.empty(len(values), dtype=object)
    for i, t in enumerate(_text(values)):
        try:
            num = float(t) if t else 0.0
        except ValueError:
            out[i] = t
            continue
        out[i] = str(int(num)) if num.is_integer() else repr(num)
    return out


def _oneway(values: pd.Series, mapping: Mapping[str, str] | None, col: str) -> tuple[np.ndarray, np.ndarray]:
    """(one-way, against the drawing direction) flags from a one-way field."""
    text = _text(values)
    if mapping:
        norm_map = {_text(pd.Series([k]))[0]: str(v).strip().lower() for k, v in mapping.items()}
        text = np.array([norm_map.get(t, t) for t in text], dtype=object)
    seen = set(text.tolist())
    forward_set, backward_set, both_set = set(_ONEWAY_FORWARD), set(_ONEWAY_BACKWARD), set(_ONEWAY_BOTH)
    if seen & {"t", "f"}:
        if "b" in seen:  # Geofabrik shapefiles: F = along the line, T = against it, B = both ways
            forward_set.add("f")
            backward_set.add("t")
        else:
            raise InputError(
                f"the one-way column {col!r} holds T/F, which may mean true/false or (Geofabrik) "
                f"'F' along the line and 'T' against it; say which with oneway_values="
                "{'T': 'yes', 'F': 'no'} or {'F': 'yes', 'T': '-1'}"
            )
    unknown = seen - forward_set - backward_set - both_set
    if unknown:
        counts = pd.Series(text).value_counts()
        shown = ", ".join(f"{v!r} ({counts[v]} lines)" for v in sorted(unknown)[:8])
        raise InputError(
            f"the one-way column {col!r} has values that say neither one-way nor two-way: {shown}. "
            "Known: yes/是/单行/1/FT (one-way along the line), -1/反向/TF (against it), no/否/双向/0/B/empty "
            "(both ways); map others with oneway_values={value: 'yes' | '-1' | 'no'}"
        )
    forward = np.isin(text, list(forward_set))
    backward = np.isin(text, list(backward_set))
    return forward | backward, backward


def _column(frame: pd.DataFrame, col: str | None, default: str, what: str) -> str | None:
    """The column to use: None when switched off or when the default name is absent."""
    if col is None:
        return None
    if col in frame.columns:
        return col
    if col == default:
        log.debug("the line layer has no %r column: no %s", col, what)
        return None
    raise InputError(
        f"the line layer has no column {col!r} for the {what}; its columns are {[c for c in frame.columns if c != frame.geometry.name]}"
    )


# -- CRS ---------------------------------------------------------------------------------


def _scale_error(crs: CRS, bounds: np.ndarray) -> float:
    """Largest point-scale error of a projected CRS over a layer's bounding box (0 if unknown)."""
    west, south, east, north = bounds
    xs = np.array([west, east, west, east, (west + east) / 2])
    ys = np.array([south, south, north, north, (south + north) / 2])
    try:
        lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(xs, ys)
        factors = Proj(crs).get_factors(lon, lat)
        k = np.concatenate([np.atleast_1d(factors.meridional_scale), np.atleast_1d(factors.parallel_scale)])
    except Exception:  # a CRS pyproj cannot take factors of: nothing to check
        return 0.0
    k = k[np.isfinite(k)]
    return float(np.max(np.abs(k - 1.0))) if len(k) else 0.0


def _target_crs(geoms: gpd.GeoSeries, src: CRS, crs: Any) -> CRS:
    if crs is not None:
        return _crs.require_projected(crs, what="target CRS")
    try:
        _crs.require_projected(src, what="line layer")
    except CRSError:
        target = _crs.metric_crs(geoms)
        log.info("the line layer is in %s: lengths are measured in %s", src.name, target.name)
        return target
    err = _scale_error(src, geoms.total_bounds)
    if err > _MAX_SCALE_ERROR:
        target = _crs.metric_crs(geoms)
        log.info(
            "the line layer's CRS (%s) stretches lengths by up to %.1f%% here: they are measured in %s",
            src.name,
            100 * err,
            target.name,
        )
        return target
    return src


# -- the repair ------------------------------------------------------------------------


@dataclass
class _Lines:
    """Single lines as flat vertex arrays: grid keys (which vertices are one place) and coordinates."""

    kx: np.ndarray  # int64 grid x of every vertex: vertices with equal keys are one place
    ky: np.ndarray
    x: np.ndarray  # float coordinates (metres), which lengths are measured from
    y: np.ndarray
    part: np.ndarray  # line (part) of every vertex, non-decreasing

    def bounds(self, n_parts: int) -> tuple[np.ndarray, np.ndarray]:
        """First and last vertex position of every part (parts without vertices: -1)."""
        first = np.full(n_parts, -1, dtype=np.int64)
        last = np.full(n_parts, -1, dtype=np.int64)
        n = len(self.part)
        if n == 0:
            return first, last
        starts = np.flatnonzero(np.concatenate([[True], self.part[1:] != self.part[:-1]]))
        first[self.part[starts]] = starts
        last[self.part[starts]] = np.append(starts[1:] - 1, n - 1)
        return first, last

    def dedupe(self) -> _Lines:
        """Drop vertices repeating the one before them on the same line."""
        keep = np.ones(len(self.kx), dtype=bool)
        keep[1:] = ~((self.part[1:] == self.part[:-1]) & (self.kx[1:] == self.kx[:-1]) & (self.ky[1:] == self.ky[:-1]))
        return self.take(keep)

    def take(self, keep: np.ndarray) -> _Lines:
        return _Lines(self.kx[keep], self.ky[keep], self.x[keep], self.y[keep], self.part[keep])

    def select(self, parts: np.ndarray) -> _Lines:
        return self.take(np.isin(self.part, parts))

    def segments(self) -> np.ndarray:
        """Positions of the vertices that start a segment (the next vertex is on the same line)."""
        return np.flatnonzero(self.part[1:] == self.part[:-1])

    def along(self) -> np.ndarray:
        """Distance (m) of every vertex from the start of its line."""
        seg = np.zeros(len(self.kx))
        if len(self.kx) > 1:
            same = self.part[1:] == self.part[:-1]
            step = np.hypot(np.diff(self.x), np.diff(self.y))
            seg[1:] = np.where(same, step, 0.0)
        cum = np.cumsum(seg)
        first_of_part = np.ones(len(self.kx), dtype=bool)
        first_of_part[1:] = self.part[1:] != self.part[:-1]
        base = np.maximum.accumulate(np.where(first_of_part, cum, 0.0))
        return cum - base

    def insert(
        self, seg_start: np.ndarray, t: np.ndarray, kx: np.ndarray, ky: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> _Lines:
        """Insert points into segments (given by their start vertex) at fractions t, in order."""
        if len(seg_start) == 0:
            return self
        n = len(self.kx)
        order_pos = np.concatenate([np.arange(n), seg_start])
        order_t = np.concatenate([np.zeros(n), np.clip(t, 1e-9, 1 - 1e-9)])
        order = np.lexsort((order_t, order_pos))
        all_kx = np.concatenate([self.kx, kx])[order]
        all_ky = np.concatenate([self.ky, ky])[order]
        all_x = np.concatenate([self.x, x])[order]
        all_y = np.concatenate([self.y, y])[order]
        all_part = np.concatenate([self.part, self.part[seg_start]])[order]
        return _Lines(all_kx, all_ky, all_x, all_y, all_part).dedupe()


def _quantise(v: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(v, dtype=float) / _GRID_M).astype(np.int64)


def _place_ids(kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """One integer per distinct grid place (0..n-1), for vertex keys."""
    if len(kx) == 0:
        return np.zeros(0, dtype=np.int64)
    x0, y0 = int(kx.min()), int(ky.min())
    span_x, span_y = int(kx.max()) - x0 + 1, int(ky.max()) - y0 + 1
    if span_x * span_y < 2**62:
        _, ids = np.unique((kx - x0) * span_y + (ky - y0), return_inverse=True)
    else:
        _, ids = np.unique(np.column_stack([kx, ky]), axis=0, return_inverse=True)
    return np.asarray(ids, dtype=np.int64).ravel()


def _segment_tree(lines: _Lines, seg: np.ndarray) -> shapely.STRtree:
    x, y = lines.x, lines.y
    coords = np.stack([np.column_stack([x[seg], y[seg]]), np.column_stack([x[seg + 1], y[seg + 1]])], axis=1)
    return shapely.STRtree(shapely.linestrings(coords))


def _project(
    px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Nearest point of segments a-b to points p: fraction t, point (cx, cy), distance."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(len2 > 0, ((px - ax) * dx + (py - ay) * dy) / len2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    cx, cy = ax + t * dx, ay + t * dy
    return t, cx, cy, np.hypot(px - cx, py - cy)


class _Groups:
    """Union-find over line ends that snapping joins, with the place each group moves to."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)
        self.members: dict[int, list[int]] = {}
        self.place: dict[int, tuple[int, int, float, float]] = {}

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = int(self.parent[root])
        while self.parent[i] != root:
            self.parent[i], i = root, int(self.parent[i])
        return root

    def group(self, root: int) -> list[int]:
        return self.members.get(root, [root])

    def join(self, root: int, other_root: int) -> None:
        """Put the group of ``root`` into that of ``other_root``."""
        self.parent[root] = other_root
        self.members[other_root] = self.group(other_root) + self.group(root)
        self.members.pop(root, None)


_POINT_KINDS = {"crossing", "t_junction", "grade_separated"}


class _Found:
    """Repairs found, as rows for the report: one per place for splits, one per line otherwise."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, str, float, int, int]] = []
        self._seen: set[tuple[Any, ...]] = set()

    def add(self, kx: int, ky: int, kind: str, part: int, other: int = -1, dist_m: float = 0.0) -> None:
        key: tuple[Any, ...] = (kind, int(kx), int(ky)) if kind in _POINT_KINDS else (kind, int(part), int(kx), int(ky))
        if key in self._seen:
            return
        self._seen.add(key)
        self.rows.append((int(kx), int(ky), kind, float(dist_m), int(part), int(other)))


def _join_ends(lines: _Lines, n_parts: int, tol_m: float, found: _Found) -> _Lines:
    """Join line ends to what they touch, and snap ends that miss another line by ≤ tol_m."""
    cand = _end_candidates(lines, n_parts, tol_m)
    if cand is None:
        return lines
    # ends drawn to one point move together
    groups = _Groups(cand.n_ends)
    place_root: dict[int, int] = {}
    for i in cand.loose.tolist():
        pl = int(cand.end_place[i])
        if pl in place_root:
            groups.join(i, place_root[pl])
        else:
            place_root[pl] = i
    edit = _EndEdit(lines.kx.copy(), lines.ky.copy(), lines.x.copy(), lines.y.copy())
    dangling = _touching_ends(lines, cand, groups, edit, found)
    target_part = _pick_targets(lines, cand, groups, edit, dangling, tol_m)
    return _apply_joins(lines, cand, groups, edit, target_part, found)


@dataclass(frozen=True)
class _EndCandidates:
    """The line ends and, for each loose end, the segments within reach (sorted by end)."""

    #: vertex position, part and side (last vertex or first) of every end of a line
    end_pos: np.ndarray
    end_part: np.ndarray
    end_is_last: np.ndarray
    #: distance along its line of every vertex, and length of every part
    along: np.ndarray
    part_len: np.ndarray
    #: place (vertex key) of every end; the ends where no inside vertex of a line is
    end_place: np.ndarray
    loose: np.ndarray
    #: the stretch of a line near its own end that does not count as something to join to
    self_min: float
    #: one row per (loose end, segment within reach): end, segment start, position along the
    #: segment (0..1), closest point and its distance; grouped by end, ``bounds`` delimit the groups
    e: np.ndarray
    a: np.ndarray
    t: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    d: np.ndarray
    bounds: np.ndarray

    @property
    def n_ends(self) -> int:
        return len(self.end_pos)


def _end_candidates(lines: _Lines, n_parts: int, tol_m: float) -> _EndCandidates | None:
    """The loose ends and the segments within ``tol_m`` (at least 1.5 mm) of each; None when there is nothing to join."""
    first, last = lines.bounds(n_parts)
    alive = np.flatnonzero(first >= 0)
    end_pos = np.concatenate([first[alive], last[alive]])
    end_part = np.concatenate([alive, alive])
    end_is_last = np.concatenate([np.zeros(len(alive), bool), np.ones(len(alive), bool)])
    x, y = lines.x, lines.y
    along = lines.along()
    part_len = np.zeros(n_parts)
    part_len[alive] = along[last[alive]]

    # places (vertex keys); an end is attached where an inside vertex of a line is at its place,
    # loose where only ends are (its own, or other lines' ends drawn to the same point)
    vid = _place_ids(lines.kx, lines.ky)
    is_end = np.zeros(len(lines.kx), dtype=bool)
    is_end[end_pos] = True
    n_inner = np.bincount(vid[~is_end], minlength=int(vid.max()) + 1)
    end_place = vid[end_pos]
    loose = np.flatnonzero(n_inner[end_place] == 0)
    seg = lines.segments()
    if len(loose) == 0 or len(seg) == 0:
        return None
    tree = _segment_tree(lines, seg)
    reach = max(tol_m, _TOUCH_M)
    pts = shapely.points(x[end_pos[loose]], y[end_pos[loose]])
    qi, qs = tree.query(pts, predicate="dwithin", distance=reach)
    e = loose[qi]
    a = seg[qs]
    t, cx, cy, d = _project(x[end_pos[e]], y[end_pos[e]], x[a], y[a], x[a + 1], y[a + 1])
    # the lines ending at this place count only where they come back (farther along than 2 tolerances)
    self_min = 2.0 * reach
    q = lines.part[a]
    cand_along = along[a] + t * (along[a + 1] - along[a])
    near_first = (vid[first[q]] == end_place[e]) & (cand_along <= self_min)
    near_last = (vid[last[q]] == end_place[e]) & (part_len[q] - cand_along <= self_min)
    ok = ~(near_first | near_last)
    e, a, t, cx, cy, d = e[ok], a[ok], t[ok], cx[ok], cy[ok], d[ok]

    order = np.argsort(e, kind="stable")
    e, a, t, cx, cy, d = e[order], a[order], t[order], cx[order], cy[order], d[order]
    starts = np.flatnonzero(np.concatenate([[True], e[1:] != e[:-1]])) if len(e) else np.empty(0, dtype=np.int64)
    bounds = np.append(starts, len(e))
    return _EndCandidates(end_pos, end_part, end_is_last, along, part_len, end_place, loose, self_min, e, a, t, cx, cy, d, bounds)


@dataclass
class _EndEdit:
    """The moved vertices (grid keys and coordinates) and the vertices to insert into segments."""

    kx: np.ndarray
    ky: np.ndarray
    fx: np.ndarray
    fy: np.ndarray
    ins_seg: list[int] = field(default_factory=list)
    ins_t: list[float] = field(default_factory=list)
    ins_kx: list[int] = field(default_factory=list)
    ins_ky: list[int] = field(default_factory=list)
    ins_x: list[float] = field(default_factory=list)
    ins_y: list[float] = field(default_factory=list)

    def split(self, seg: int, t: float, kx: int, ky: int, x: float, y: float) -> None:
        """Insert a vertex into segment ``seg`` at ``t`` (0..1) of its length."""
        self.ins_seg.append(seg)
        self.ins_t.append(t)
        self.ins_kx.append(kx)
        self.ins_ky.append(ky)
        self.ins_x.append(x)
        self.ins_y.append(y)


def _touching_ends(
    lines: _Lines, cand: _EndCandidates, groups: _Groups, edit: _EndEdit, found: _Found
) -> list[tuple[float, int, slice]]:
    """Ends touching another line (≤ 1.5 mm) split that line at the end (a T junction).

    Returns the ends that touch nothing — one per group of ends drawn to one point — as
    (distance to the closest segment, end, its rows in ``cand``).
    """
    x, y = lines.x, lines.y
    e, a, t, d = cand.e, cand.a, cand.t, cand.d
    kx, ky, fx, fy = edit.kx, edit.ky, edit.fx, edit.fy
    dangling: list[tuple[float, int, slice]] = []
    for b0, b1 in itertools.pairwise(cand.bounds):
        i = int(e[b0])
        sl = slice(int(b0), int(b1))
        touching = d[sl] <= _TOUCH_M
        if not touching.any():
            if groups.find(i) == i:
                dangling.append((float(d[sl].min()), i, sl))
            continue
        p = cand.end_pos[i]
        # the end lands on a vertex: take its exact place
        for j in np.flatnonzero(touching):
            s = a[sl][j]
            for v in (s, s + 1):
                if math.hypot(x[v] - x[p], y[v] - y[p]) <= _TOUCH_M:
                    kx[p], ky[p], fx[p], fy[p] = lines.kx[v], lines.ky[v], x[v], y[v]
                    break
            else:
                continue
            break
        for j in np.flatnonzero(touching):
            s = a[sl][j]
            if (kx[p], ky[p]) in ((lines.kx[s], lines.ky[s]), (lines.kx[s + 1], lines.ky[s + 1])):
                continue
            edit.split(int(s), float(t[sl][j]), int(kx[p]), int(ky[p]), float(fx[p]), float(fy[p]))
            found.add(kx[p], ky[p], "t_junction", int(cand.end_part[i]), int(lines.part[s]))
    return dangling


def _pick_targets(
    lines: _Lines,
    cand: _EndCandidates,
    groups: _Groups,
    edit: _EndEdit,
    dangling: list[tuple[float, int, slice]],
    tol_m: float,
) -> dict[int, int]:
    """Where ends that miss go: the closest gaps first, each group of ends moving together.

    A group goes to the nearest vertex within ``tol_m`` (another group's place: the two join),
    else to the nearest point inside a segment within ``tol_m`` (split there). Sets the
    group's place in ``groups.place``; returns end -> the part it was joined to.
    """
    x, y, along = lines.x, lines.y, cand.along
    end_pos, end_part, end_is_last, part_len, self_min = (
        cand.end_pos,
        cand.end_part,
        cand.end_is_last,
        cand.part_len,
        cand.self_min,
    )
    end_of_vertex = np.full(len(lines.kx), -1, dtype=np.int64)
    end_of_vertex[end_pos] = np.arange(cand.n_ends)
    target_part: dict[int, int] = {}
    for _, i, sl in sorted(dangling, key=lambda item: (item[0], item[1])):
        if tol_m <= 0:
            break
        root = groups.find(i)
        ps, pt, pcx, pcy, pd_ = cand.a[sl], cand.t[sl], cand.cx[sl], cand.cy[sl], cand.d[sl]
        p = end_pos[i]
        # parts whose ends are in this group: their own stretch near those ends does not count
        members = groups.group(root)

        def near_own_end(part: int, dist_along: float, _members: list[int] = members) -> bool:
            for k in _members:
                if end_part[k] == part:
                    own = part_len[part] if end_is_last[k] else 0.0
                    if abs(dist_along - own) <= self_min:
                        return True
            return False

        best_v: tuple[float, int] | None = None
        for s_ in ps.tolist():
            for v in (s_, s_ + 1):
                dv = math.hypot(x[v] - x[p], y[v] - y[p])
                if dv > tol_m or (best_v is not None and dv >= best_v[0]):
                    continue
                k = int(end_of_vertex[v])
                if k >= 0 and groups.find(k) == root:
                    continue
                if near_own_end(int(lines.part[v]), float(along[v])):
                    continue
                best_v = (dv, v)
        target = -1
        if best_v is not None:
            v = best_v[1]
            k = int(end_of_vertex[v])
            target = int(lines.part[v])
            if k >= 0:
                groups.join(root, groups.find(k))
            else:
                groups.place[root] = (int(lines.kx[v]), int(lines.ky[v]), float(x[v]), float(y[v]))
        else:
            best_s: tuple[float, int] | None = None
            for jj in range(len(ps)):
                if pd_[jj] > tol_m or pt[jj] <= 0.0 or pt[jj] >= 1.0:
                    continue
                seg_s = int(ps[jj])
                dist_along = float(along[seg_s] + pt[jj] * (along[seg_s + 1] - along[seg_s]))
                if near_own_end(int(lines.part[seg_s]), dist_along):
                    continue
                if best_s is None or pd_[jj] < best_s[0]:
                    best_s = (float(pd_[jj]), jj)
            if best_s is not None:
                jj = best_s[1]
                seg_s = int(ps[jj])
                qx, qy = int(_quantise(pcx[jj])), int(_quantise(pcy[jj]))
                groups.place[root] = (qx, qy, float(pcx[jj]), float(pcy[jj]))
                edit.split(seg_s, float(pt[jj]), qx, qy, float(pcx[jj]), float(pcy[jj]))
                target = int(lines.part[seg_s])
        if target >= 0:
            for m in members:
                target_part[m] = target
    return target_part


def _apply_joins(
    lines: _Lines, cand: _EndCandidates, groups: _Groups, edit: _EndEdit, target_part: dict[int, int], found: _Found
) -> _Lines:
    """Every end moved to its group's place (listed as a snapped end when it moved by more than 1.5 mm),
    and the vertices inserted where ends meet a segment."""
    x, y, end_pos = lines.x, lines.y, cand.end_pos
    kx, ky, fx, fy = edit.kx, edit.ky, edit.fx, edit.fy
    for i in range(cand.n_ends):
        root = groups.find(i)
        if root == i and i not in groups.place:
            continue
        p = end_pos[i]
        if root in groups.place:
            kx[p], ky[p], fx[p], fy[p] = groups.place[root]
        else:
            r = end_pos[root]
            kx[p], ky[p], fx[p], fy[p] = kx[r], ky[r], fx[r], fy[r]
    for i in range(cand.n_ends):
        p = end_pos[i]
        dist = math.hypot(fx[p] - x[p], fy[p] - y[p])
        if dist > _TOUCH_M:
            found.add(kx[p], ky[p], "snapped_end", int(cand.end_part[i]), target_part.get(i, -1), dist)
    moved = _Lines(kx, ky, fx, fy, lines.part)
    return moved.insert(
        np.asarray(edit.ins_seg, dtype=np.int64),
        np.asarray(edit.ins_t, dtype=float),
        np.asarray(edit.ins_kx, np.int64),
        np.asarray(edit.ins_ky, np.int64),
        np.asarray(edit.ins_x, dtype=float),
        np.asarray(edit.ins_y, dtype=float),
    )


def _near_misses(lines: _Lines, n_parts: int, tol_m: float, reach_m: float, found: _Found) -> None:
    """List dead ends that miss another line by more than ``tol_m`` and at most ``reach_m``."""
    first, last = lines.bounds(n_parts)
    alive = np.flatnonzero(first >= 0)
    seg = lines.segments()
    if len(alive) == 0 or len(seg) == 0 or reach_m <= 0:
        return
    end_pos = np.concatenate([first[alive], last[alive]])
    end_part = np.concatenate([alive, alive])
    vid = _place_ids(lines.kx, lines.ky)
    at_place = np.bincount(vid)
    dead = at_place[vid[end_pos]] == 1  # nothing else at this place: a dead end
    end_pos, end_part = end_pos[dead], end_part[dead]
    if len(end_pos) == 0:
        return
    x, y = lines.x, lines.y
    along = lines.along()
    tree = _segment_tree(lines, seg)
    qi, qs = tree.query(shapely.points(x[end_pos], y[end_pos]), predicate="dwithin", distance=reach_m)
    if len(qi) == 0:
        return
    p, a = end_pos[qi], seg[qs]
    t, _, _, d = _project(x[p], y[p], x[a], y[a], x[a + 1], y[a + 1])
    q = lines.part[a]
    # the line's own stretch next to its end is no other line
    cand_along = along[a] + t * (along[a + 1] - along[a])
    own_near = (q == end_part[qi]) & (np.abs(cand_along - along[p]) <= 2.0 * reach_m)
    tol = max(tol_m, _TOUCH_M)
    # an end within the tolerance of some line was the snapping's to handle
    handled = np.zeros(len(end_pos), dtype=bool)
    handled[qi[~own_near & (d <= tol)]] = True
    ok = ~own_near & (d > tol) & ~handled[qi]
    if not ok.any():
        return
    order = np.lexsort((d[ok], qi[ok]))
    ends, gaps, others = qi[ok][order], d[ok][order], q[ok][order]
    first_of_end = np.concatenate([[True], ends[1:] != ends[:-1]])
    for e, gap, other in zip(ends[first_of_end], gaps[first_of_end], others[first_of_end], strict=True):
        v = end_pos[e]
        found.add(lines.kx[v], lines.ky[v], "near_miss", int(end_part[e]), int(other), float(gap))


def _bridge_classes(raw_text: np.ndarray) -> np.ndarray:
    """Whether each road class marks a bridge, viaduct or ramp."""
    words = re.compile(r"(?:^|[^a-z])(?:" + "|".join(BRIDGE_CLASS_WORDS) + r")(?:$|[^a-z])")
    out = np.zeros(len(raw_text), dtype=bool)
    for i, text in enumerate(raw_text):
        if text:
            norm = _norm_class(text)
            out[i] = any(part in norm for part in BRIDGE_CLASS_PARTS) or bool(words.search(norm))
    return out


def _split_crossings(lines: _Lines, n_parts: int, level: np.ndarray, found: _Found) -> _Lines:
    """Split lines where they cross or touch inside on one level; note crossings kept apart."""
    seg = lines.segments()
    if len(seg) < 2:
        return lines
    x, y = lines.x, lines.y
    tree = _segment_tree(lines, seg)
    geoms = tree.geometries
    si, sj = tree.query(geoms, predicate="intersects")
    keep = si < sj
    si, sj = si[keep], sj[keep]
    # segments that share an end meet only there, unless they overlap (are parallel)
    ai, aj = seg[si], seg[sj]
    kx, ky = lines.kx, lines.ky
    shared = np.zeros(len(si), dtype=bool)
    for u in (ai, ai + 1):
        for v in (aj, aj + 1):
            shared |= (kx[u] == kx[v]) & (ky[u] == ky[v])
    cross = (x[ai + 1] - x[ai]) * (y[aj + 1] - y[aj]) - (y[ai + 1] - y[ai]) * (x[aj + 1] - x[aj])
    scale = np.hypot(x[ai + 1] - x[ai], y[ai + 1] - y[ai]) * np.hypot(x[aj + 1] - x[aj], y[aj + 1] - y[aj])
    parallel = np.abs(cross) <= 1e-9 * np.maximum(scale, 1e-12)
    keep = ~shared | parallel
    si, sj = si[keep], sj[keep]
    if len(si) == 0:
        return lines
    inter = shapely.intersection(np.asarray(geoms)[si], np.asarray(geoms)[sj])
    pxy, pidx = shapely.get_coordinates(inter, return_index=True)
    if len(pxy) == 0:
        return lines
    ai, aj = seg[si[pidx]], seg[sj[pidx]]
    px, py = pxy[:, 0], pxy[:, 1]
    first, last = lines.bounds(n_parts)
    is_end = np.zeros(len(lines.kx), dtype=bool)
    alive = first >= 0
    is_end[first[alive]] = True
    is_end[last[alive]] = True

    def vertex_at(a: np.ndarray) -> np.ndarray:
        """Vertex of segment a within 1.5 mm of the point, else -1."""
        d0 = np.hypot(x[a] - px, y[a] - py)
        d1 = np.hypot(x[a + 1] - px, y[a + 1] - py)
        return np.where(d0 <= _TOUCH_M, a, np.where(d1 <= _TOUCH_M, a + 1, -1))

    vi, vj = vertex_at(ai), vertex_at(aj)
    qkx = np.where(vi >= 0, lines.kx[np.maximum(vi, 0)], np.where(vj >= 0, lines.kx[np.maximum(vj, 0)], _quantise(px)))
    qky = np.where(vi >= 0, lines.ky[np.maximum(vi, 0)], np.where(vj >= 0, lines.ky[np.maximum(vj, 0)], _quantise(py)))
    qx = np.where(vi >= 0, x[np.maximum(vi, 0)], np.where(vj >= 0, x[np.maximum(vj, 0)], px))
    qy = np.where(vi >= 0, y[np.maximum(vi, 0)], np.where(vj >= 0, y[np.maximum(vj, 0)], py))
    end_touch = ((vi >= 0) & is_end[np.maximum(vi, 0)]) | ((vj >= 0) & is_end[np.maximum(vj, 0)])
    pi_, pj = lines.part[ai], lines.part[aj]
    same_level = level[pi_] == level[pj]
    needs_i = ~((lines.kx[ai] == qkx) & (lines.ky[ai] == qky)) & ~((lines.kx[ai + 1] == qkx) & (lines.ky[ai + 1] == qky))
    needs_j = ~((lines.kx[aj] == qkx) & (lines.ky[aj] == qky)) & ~((lines.kx[aj + 1] == qkx) & (lines.ky[aj + 1] == qky))
    join = end_touch | same_level
    apart = ~join & (needs_i | needs_j)
    for k in np.flatnonzero(apart):
        found.add(qkx[k], qky[k], "grade_separated", int(pi_[k]), int(pj[k]))
    ins_seg: list[np.ndarray] = []
    ins_t: list[np.ndarray] = []
    ins_kx: list[np.ndarray] = []
    ins_ky: list[np.ndarray] = []
    ins_x: list[np.ndarray] = []
    ins_y: list[np.ndarray] = []
    for a, needs in ((ai, needs_i), (aj, needs_j)):
        sel = join & needs
        tt, _, _, _ = _project(qx[sel], qy[sel], x[a[sel]], y[a[sel]], x[a[sel] + 1], y[a[sel] + 1])
        ins_seg.append(a[sel])
        ins_t.append(tt)
        ins_kx.append(qkx[sel])
        ins_ky.append(qky[sel])
        ins_x.append(qx[sel])
        ins_y.append(qy[sel])
    split = join & (needs_i | needs_j)
    for k in np.flatnonzero(split):
        found.add(qkx[k], qky[k], "t_junction" if end_touch[k] else "crossing", int(pi_[k]), int(pj[k]))
    seg_all = np.concatenate(ins_seg)
    if len(seg_all) == 0:
        return lines
    kx_all, ky_all = np.concatenate(ins_kx), np.concatenate(ins_ky)
    # one insertion per (segment, point)
    uniq = pd.DataFrame({"s": seg_all, "x": kx_all, "y": ky_all}).duplicated().to_numpy()
    return lines.insert(
        seg_all[~uniq],
        np.concatenate(ins_t)[~uniq],
        kx_all[~uniq],
        ky_all[~uniq],
        np.concatenate(ins_x)[~uniq],
        np.concatenate(ins_y)[~uniq],
    )


def _drop_duplicates(lines: _Lines, n_parts: int, level: np.ndarray, oneway: np.ndarray) -> np.ndarray:
    """Parts that repeat an earlier part (same vertices, same level; either direction if two-way)."""
    first, last = lines.bounds(n_parts)
    keys: list[Any] = []
    xy = np.column_stack([lines.kx, lines.ky])
    for p in range(n_parts):
        if first[p] < 0:
            keys.append(None)
            continue
        fwd = xy[first[p] : last[p] + 1].tobytes()
        if oneway[p]:
            key = (level[p], True, fwd)
        else:
            rev = xy[first[p] : last[p] + 1][::-1].tobytes()
            key = (level[p], False, min(fwd, rev))
        keys.append(key)
    seen: set[Any] = set()
    dup = np.zeros(n_parts, dtype=bool)
    for p, key in enumerate(keys):
        if key is None:
            continue
        if key in seen:
            dup[p] = True
        else:
            seen.add(key)
    return dup


# -- the public function -----------------------------------------------------------------


def lines_to_network(
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    mode: str = "walk",
    profile: Profile | str | Path | None = None,
    group: str | None = None,
    class_col: str | None = "highway",
    speeds_kmh: Mapping[str, float] | None = None,
    speed_col: str | None = None,
    oneway_col: str | None = "oneway",
    oneway_values: Mapping[str, str] | None = None,
    name_col: str | None = "name",
    level_col: str | None = "layer",
    bridge_col: str | None = "bridge",
    tunnel_col: str | None = "tunnel",
    snap_tol_m: float = 1.0,
    near_miss_m: float | None = None,
    mode_filter: bool = True,
    crs: Any = None,
    source: str = "centrelines",
) -> LineNetwork:
    """Build the network of a travel mode from road centrelines, repairing their topology.

    Parameters
    ----------
    lines : GeoDataFrame or GeoSeries
        Road centrelines (LineString / MultiLineString) with a CRS. A projected CRS
        in metres is used as it is; a geographic CRS (or a projection that distorts
        lengths by more than 0.5 % here, such as Web Mercator) is replaced by
        :func:`mtown_geo.crs.metric_crs` of the layer (CGCS2000 Gauss–Krüger in China,
        UTM elsewhere). Lengths are planar lengths in the network's CRS.
    mode : str, optional
        A mode of the profile (``"walk"``, ``"bike"``, ``"ebike"``, ``"drive"``,
        ``"bus"``); its base speed applies, its road-class speed table (drive) maps
        classes to speeds, its network filter leaves out classes it may not use
        (motorways for walking, footways for driving), and one-way fields are read
        only for modes on the drive network.
    profile : Profile, str or path, optional
        Standard profile (default ``zhejiang-2023``).
    group : str, optional
        A speed group of the mode (e.g. ``"elderly"``).
    class_col : str or None, optional
        Column of road classes (default ``"highway"``; e.g. ``"道路等级"``, or
        ``"fclass"`` for Geofabrik shapefiles). Chinese classes (快速路, 主干路, 次干路,
        支路, 国道, 省道, 县道, 乡道, 村道, 街巷...), English descriptions and OSM
        values are known (:data:`ROAD_CLASSES`). Unknown classes take the base speed
        and are reported.
    speeds_kmh : mapping of str to float, optional
        Speed (km/h) per road class, matched first against the class values as they
        are, then against the OSM class they map to (so ``{"primary": 45}`` also sets
        主干路). Overrides the profile's table, for any mode.
    speed_col : str, optional
        Column of per-line travel speeds (km/h); where filled it overrides the class
        speed.
    oneway_col : str or None, optional
        Column saying whether a line is one-way (default ``"oneway"``): yes/是/单行/1/FT
        along the drawing direction, -1/反向/TF against it, no/否/双向/0/B/empty both
        ways; Geofabrik's F/T/B are recognised. Used by directed modes only.
    oneway_values : mapping of str to str, optional
        Extra one-way values, each mapped to ``"yes"``, ``"-1"`` or ``"no"``.
    name_col : str or None, optional
        Column of road names (default ``"name"``), kept on the edges.
    level_col, bridge_col, tunnel_col : str or None, optional
        Columns that tell grade-separated lines apart (defaults ``"layer"``,
        ``"bridge"``, ``"tunnel"``, used when present): a level value (number or
        text; empty is 0) and bridge / tunnel flags (anything but no/否/0/false/empty
        is a bridge). Lines cross without meeting unless all three agree.
    snap_tol_m : float, optional
        Largest gap (metres, default 1.0) between a line's end and another line that
        is closed by moving the end onto it; 0 joins only lines that touch.
    near_miss_m : float, optional
        Dead ends that miss another line by more than ``snap_tol_m`` but at most this
        (metres) are left open and listed as near-misses, with a warning (default
        3 × ``snap_tol_m``, at least 3 m).
    mode_filter : bool, optional
        Leave out the lines whose road class the mode's network filter excludes
        (the profile's ``exclude_highway``: motorways for walking, footways and
        cycleways for driving...). Default true; they are counted in the report.
    crs : optional
        Projected CRS of the network, instead of the choice described above.
    source : str, optional
        Name of the data, for reports.

    Returns
    -------
    LineNetwork
        A :class:`~mtown_geo.network.Network` of straight segments between the lines'
        vertices, in a projected metric CRS, whose ``repairs`` attribute is the
        :class:`RepairReport`.

    Raises
    ------
    CRSError
        The layer has no CRS, or ``crs`` is not a projected metric CRS.
    InputError
        Not a line layer, no lines, a named column is missing, unreadable one-way or
        speed values, a bad tolerance or speed.
    NetworkError
        Unknown mode, or no line the mode may use.

    Warns
    -----
    RepairWarning
        When lines were repaired, ends were left open near another line
        (near-misses), road classes that set speeds are unknown, or bridge-like road
        classes come without a level or bridge column.
    DisconnectedNetworkWarning
        When the network falls into pieces: every cut-off piece is named with its
        length and place.

    Examples
    --------
    >>> from mtown_geo.sources.vector import read_vector
    >>> roads = read_vector("道路中心线.shp")  # doctest: +SKIP
    >>> net = lines_to_network(roads, mode="drive", class_col="道路等级", oneway_col="单行")  # doctest: +SKIP
    >>> net.repairs.summary()  # doctest: +SKIP
    >>> net.repairs.locations.to_file("repairs.gpkg")  # review them in QGIS  # doctest: +SKIP
    """
    opt = _check_options(profile, mode=mode, group=group, snap_tol_m=snap_tol_m, near_miss_m=near_miss_m, speeds_kmh=speeds_kmh)
    columns = {
        "class": (class_col, "highway", "road class"),
        "speed": (speed_col, "", "speed"),
        "oneway": (oneway_col, "oneway", "one-way flag"),
        "name": (name_col, "name", "road name"),
        "level": (level_col, "layer", "level"),
        "bridge": (bridge_col, "bridge", "bridge flag"),
        "tunnel": (tunnel_col, "tunnel", "tunnel flag"),
    }
    lp = _line_parts(lines, columns=columns, crs=crs)
    at = _part_attributes(lp, opt, oneway_values=oneway_values, mode_filter=mode_filter)
    found = _Found()
    lines_ = _grid_vertices(lp, at.backward)
    lines_, zero = _usable_lines(lines_, lp, at, found, mode=mode, source=source)
    lines_, bridges = _repair(lines_, lp, at, opt, found, zero=zero)
    nodes, edges = _nodes_and_edges(lines_, lp, at, found, source=source)
    report = _report(found, lp, at, opt, bridges)
    prof = opt.prof
    net = LineNetwork(
        nodes,
        edges,
        repairs=report,
        mode=mode,
        speed_kmh=opt.base_kmh,
        access_speed_kmh=prof.access_speed_kmh,
        profile=prof.name,
        source=source,
        max_snap_dist_m=prof.max_snap_dist_m,
    )
    _announce(report, lp.target, source=source, class_speeds=bool(opt.spec.speed_by_highway_kmh or opt.user_speeds))
    _warn_pieces(net, report, source=source)
    return net


# -- the steps of lines_to_network -----------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """The checked options of :func:`lines_to_network`."""

    prof: Profile
    spec: ModeSpec
    flt: NetworkFilter
    base_kmh: float
    snap_tol_m: float
    near_miss_m: float
    user_speeds: dict[str, float]


def _check_options(
    profile: Profile | str | Path | None,
    *,
    mode: str,
    group: str | None,
    snap_tol_m: float,
    near_miss_m: float | None,
    speeds_kmh: Mapping[str, float] | None,
) -> _Options:
    """The profile, the mode and its network filter, the base speed, the tolerances and the user's speeds, checked."""
    prof = resolve(profile)
    if mode not in prof.modes:
        raise NetworkError(f"unknown mode {mode!r}; the profile {prof.name!r} has the modes {sorted(prof.modes)}")
    try:
        base_kmh = prof.speed_kmh(mode, group)
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    spec = prof.mode(mode)
    flt = prof.networks[spec.network]
    if not (isinstance(snap_tol_m, (int, float)) and math.isfinite(snap_tol_m) and snap_tol_m >= 0):
        raise InputError(f"snap_tol_m must be a distance in metres >= 0, got {snap_tol_m!r}")
    snap_tol_m = float(snap_tol_m)
    if near_miss_m is None:
        near_miss_m = max(_NEAR_MISS_FACTOR * snap_tol_m, _NEAR_MISS_MIN_M)
    if not (isinstance(near_miss_m, (int, float)) and math.isfinite(near_miss_m) and near_miss_m >= 0):
        raise InputError(f"near_miss_m must be a distance in metres >= 0, got {near_miss_m!r}")
    near_miss_m = float(near_miss_m)
    user_speeds: dict[str, float] = {}
    for key, val in (speeds_kmh or {}).items():
        if not isinstance(val, (int, float)) or not math.isfinite(val) or val <= 0:
            raise InputError(f"speeds_kmh[{key!r}] must be a speed in km/h > 0, got {val!r}")
        user_speeds[str(key).strip()] = float(val)
    return _Options(prof, spec, flt, base_kmh, snap_tol_m, near_miss_m, user_speeds)


@dataclass(frozen=True)
class _LineParts:
    """The single lines of a layer (parts of multi-lines), in the network's CRS."""

    frame: gpd.GeoDataFrame
    #: role ("class", "speed", "oneway", "name", "level", "bridge", "tunnel") -> column used, or None
    cols: dict[str, str | None]
    target: CRS
    parts: np.ndarray
    #: row position in the input layer of each part
    part_row: np.ndarray
    coords: np.ndarray
    #: part of each coordinate
    coord_part: np.ndarray
    n_lines: int
    n_empty: int

    @property
    def n_parts(self) -> int:
        return len(self.parts)

    @property
    def labels(self) -> np.ndarray:
        """The input layer's row labels."""
        return self.frame.index.to_numpy()

    def per_part(self, col: str) -> pd.Series:
        """A column of the input layer, one value per part."""
        return self.frame[col].iloc[self.part_row].reset_index(drop=True)


def _line_parts(lines: Any, *, columns: Mapping[str, tuple[str | None, str, str]], crs: Any) -> _LineParts:
    """The layer checked (a line layer with a CRS, the named columns present) and cut into single lines.

    ``columns`` maps each role to (the column asked for, the default column, what it is).
    """
    if isinstance(lines, gpd.GeoSeries):
        frame = gpd.GeoDataFrame(geometry=lines)
    elif isinstance(lines, gpd.GeoDataFrame):
        frame = lines
    else:
        raise InputError(f"expected a GeoDataFrame or GeoSeries of road lines, got {type(lines).__name__}")
    src_crs = _crs.require_crs(frame, what="line layer")
    n_lines = len(frame)
    if n_lines == 0:
        raise InputError("the line layer is empty")
    cols = {role: _column(frame, col, default, what) for role, (col, default, what) in columns.items()}

    geoms = np.asarray(frame.geometry.values)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    type_id = shapely.get_type_id(geoms)
    bad = ~empty & ~np.isin(type_id, _LINE_TYPES)
    if bad.any():
        kinds = pd.Series([_TYPE_NAMES.get(int(t), str(t)) for t in type_id[bad]]).value_counts()
        raise InputError(
            f"the line layer holds {int(bad.sum())} geometries that are not lines ("
            + ", ".join(f"{n} {k}" for k, n in kinds.items())
            + "); give road centrelines (LineString/MultiLineString). Polygon outlines can be taken with gdf.boundary"
        )
    rows = np.flatnonzero(~empty)
    if len(rows) == 0:
        raise InputError("the line layer has no geometries")
    valid = gpd.GeoSeries(geoms[rows], crs=src_crs)
    target = _target_crs(valid, src_crs, crs)
    if not CRS.from_user_input(src_crs).equals(target):
        valid = valid.to_crs(target)
    parts, part_row = shapely.get_parts(shapely.force_2d(np.asarray(valid.values)), return_index=True)
    part_row = rows[part_row]  # row position in the input layer
    coords, coord_part = shapely.get_coordinates(parts, return_index=True)
    if not np.all(np.isfinite(coords)):
        bad_rows = np.unique(part_row[coord_part[~np.all(np.isfinite(coords), axis=1)]])
        raise InputError(f"lines at rows {bad_rows[:10].tolist()} have coordinates that are not numbers (NaN/inf)")
    return _LineParts(frame, cols, target, parts, part_row, coords, coord_part, n_lines, int(empty.sum()))


@dataclass(frozen=True)
class _Attributes:
    """Per part: its road class, level, direction and speed, and what the mode leaves out."""

    #: the class as written ("" when none) and the OSM class it maps to (None when unknown)
    raw_text: np.ndarray
    osm_cls: np.ndarray
    #: level key: lines meet only where their keys agree
    level: np.ndarray
    oneway: np.ndarray
    #: drawn against its one-way direction
    backward: np.ndarray
    speed: np.ndarray
    unknown_mask: np.ndarray
    unknown_classes: dict[str, int]
    excluded: np.ndarray
    excluded_classes: dict[str, int]


def _part_attributes(lp: _LineParts, opt: _Options, *, oneway_values: Mapping[str, str] | None, mode_filter: bool) -> _Attributes:
    """Class, level, one-way flag and speed of each part, and the classes unknown or left out for the mode."""
    n_parts, per_part, cols, spec, user_speeds = lp.n_parts, lp.per_part, lp.cols, opt.spec, opt.user_speeds
    class_name, level_name, bridge_name, tunnel_name = cols["class"], cols["level"], cols["bridge"], cols["tunnel"]
    raw_text = np.full(n_parts, "", dtype=object)
    if class_name is not None:
        raw_text = np.array(["" if _norm_class(v) == "" else str(v).strip() for v in per_part(class_name)], dtype=object)
    osm_cls = np.array([_osm_class(_norm_class(v)) for v in raw_text], dtype=object)
    level_parts = [
        _levels(per_part(level_name)) if level_name else np.full(n_parts, "0", dtype=object),
        _flags(per_part(bridge_name)) if bridge_name else np.zeros(n_parts, dtype=bool),
        _flags(per_part(tunnel_name)) if tunnel_name else np.zeros(n_parts, dtype=bool),
    ]
    level = np.asarray(pd.MultiIndex.from_arrays(level_parts).factorize()[0], dtype=np.int64)
    oneway_name = cols["oneway"]
    if opt.flt.oneway and oneway_name is not None:
        oneway, backward = _oneway(per_part(oneway_name), oneway_values, oneway_name)
    else:
        oneway = np.zeros(n_parts, dtype=bool)
        backward = oneway
    speed = np.full(n_parts, opt.base_kmh, dtype=float)
    if spec.speed_by_highway_kmh:
        table = np.array([spec.speed_by_highway_kmh.get(c, np.nan) if c else np.nan for c in osm_cls], dtype=float)
        speed = np.where(np.isnan(table), speed, table)
    if user_speeds:
        mapped = np.array(
            [user_speeds.get(r, user_speeds.get(c, np.nan) if c else np.nan) for r, c in zip(raw_text, osm_cls, strict=True)],
            dtype=float,
        )
        speed = np.where(np.isnan(mapped), speed, mapped)
    speed_name = cols["speed"]
    if speed_name is not None:
        given = per_part(speed_name)
        num = np.asarray(pd.to_numeric(given, errors="coerce"), dtype=float)
        filled = _text(given) != ""
        bad_speed = filled & ~(np.isfinite(num) & (num > 0))
        if bad_speed.any():
            shown = sorted({str(v) for v in given.to_numpy(dtype=object)[bad_speed]})[:8]
            raise InputError(f"the speed column {speed_name!r} has values that are not speeds in km/h > 0: {shown}")
        speed = np.where(filled, num, speed)
    known = np.array([c is not None for c in osm_cls], dtype=bool) | np.isin(raw_text, list(user_speeds))
    unknown_mask = ~known & (raw_text != "")
    unknown_classes = {str(k): int(n) for k, n in pd.Series(raw_text[unknown_mask]).value_counts().items()}
    has_cls = np.array([c is not None for c in osm_cls], dtype=bool)
    excluded = mode_filter & has_cls & np.isin(np.array([c or "" for c in osm_cls], dtype=object), list(opt.flt.exclude_highway))
    excluded_classes = {str(k): int(n) for k, n in pd.Series(raw_text[excluded]).value_counts().items()}
    return _Attributes(
        raw_text, osm_cls, level, oneway, backward, speed, unknown_mask, unknown_classes, excluded, excluded_classes
    )


def _grid_vertices(lp: _LineParts, backward: np.ndarray) -> _Lines:
    """The vertices on the 1 mm grid, each line's repeated vertices once, lines that run against a one-way field reversed."""
    coords, coord_part = lp.coords, lp.coord_part
    kx, ky = _quantise(coords[:, 0]), _quantise(coords[:, 1])
    order = np.lexsort((np.where(backward[coord_part], -np.arange(len(coord_part)), np.arange(len(coord_part))), coord_part))
    return _Lines(kx[order], ky[order], coords[order, 0], coords[order, 1], coord_part[order]).dedupe()


def _usable_lines(
    lines_: _Lines, lp: _LineParts, at: _Attributes, found: _Found, *, mode: str, source: str
) -> tuple[_Lines, np.ndarray]:
    """The lines the mode may use: zero-length lines, classes left out for the mode and duplicates dropped
    (listed in ``found`` with the lines of unknown class). Also returns which parts have zero length."""
    n_parts = lp.n_parts
    first, _last = lines_.bounds(n_parts)
    counts = np.bincount(lines_.part, minlength=n_parts)
    zero = counts < 2
    for p in np.flatnonzero(zero & (first >= 0)):
        found.add(lines_.kx[first[p]], lines_.ky[first[p]], "zero_length", int(p))
    for p in np.flatnonzero(at.unknown_mask & ~zero):
        mid = shapely.line_interpolate_point(lp.parts[p], 0.5, normalized=True)
        found.add(int(_quantise(shapely.get_x(mid))), int(_quantise(shapely.get_y(mid))), "unknown_class", int(p))
    usable = ~zero & ~at.excluded
    dup = _drop_duplicates(lines_.select(np.flatnonzero(usable)), n_parts, at.level, at.oneway)
    for p in np.flatnonzero(dup):
        found.add(lines_.kx[first[p]], lines_.ky[first[p]], "duplicate", int(p))
    usable &= ~dup
    if not usable.any():
        raise NetworkError(
            f"{source}: no line the {mode} mode may use"
            + (f" (left out for the mode: {at.excluded_classes})" if at.excluded_classes else "")
        )
    return lines_.select(np.flatnonzero(usable)), zero


@dataclass(frozen=True)
class _Bridges:
    """Bridge-like road classes (count of lines each) and whether level columns told them apart."""

    classes: dict[str, int]
    level_columns: tuple[str, ...]
    #: crossings joined on a bridge-like class for want of a level column
    crossings_joined: int


def _repair(
    lines_: _Lines, lp: _LineParts, at: _Attributes, opt: _Options, found: _Found, *, zero: np.ndarray
) -> tuple[_Lines, _Bridges]:
    """Ends joined within the snap tolerance, crossings on one level split, near-misses listed."""
    n_parts = lp.n_parts
    lines_ = _join_ends(lines_, n_parts, opt.snap_tol_m, found)
    lines_ = _split_crossings(lines_, n_parts, at.level, found)
    lines_ = lines_.dedupe()
    if opt.near_miss_m > opt.snap_tol_m:
        _near_misses(lines_, n_parts, opt.snap_tol_m, opt.near_miss_m, found)
    raw_text = at.raw_text
    is_bridge = _bridge_classes(raw_text)
    bridge_classes = {str(k): int(n) for k, n in pd.Series(raw_text[is_bridge & ~zero]).value_counts().items()}
    level_columns = tuple(c for c in (lp.cols["level"], lp.cols["bridge"], lp.cols["tunnel"]) if c is not None)
    bridge_joined = 0
    if bridge_classes and not level_columns:
        bridge_joined = sum(1 for r in found.rows if r[2] == "crossing" and (is_bridge[r[4]] or (r[5] >= 0 and is_bridge[r[5]])))
    return lines_, _Bridges(bridge_classes, level_columns, bridge_joined)


def _nodes_and_edges(
    lines_: _Lines, lp: _LineParts, at: _Attributes, found: _Found, *, source: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The network's nodes (one per place, except where lines pass on different levels without either
    ending there: listed as grade-separated in ``found``) and edges (parallel segments merged)."""
    n_parts, level, target = lp.n_parts, at.level, lp.target
    first, last = lines_.bounds(n_parts)
    alive = np.flatnonzero((first >= 0) & (first != last))
    lines_ = lines_.select(alive)
    first, last = lines_.bounds(n_parts)
    has_vertices = first >= 0
    place = _place_ids(lines_.kx, lines_.ky)
    end_here = np.zeros(int(place.max()) + 1, dtype=bool)
    end_here[place[first[has_vertices]]] = True
    end_here[place[last[has_vertices]]] = True
    vlevel = np.where(end_here[place], -1, level[lines_.part])
    node_key = pd.MultiIndex.from_arrays([place, vlevel])
    node_of, node_index = node_key.factorize()
    node_of = np.asarray(node_of, dtype=np.int64)
    levels_at = pd.DataFrame({"place": place, "level": vlevel}).drop_duplicates()
    n_levels = levels_at[levels_at["level"] >= 0].groupby("place").size()
    for pl in n_levels[n_levels > 1].index:
        v = int(np.flatnonzero(place == pl)[0])
        others = np.unique(lines_.part[place == pl])
        found.add(lines_.kx[v], lines_.ky[v], "grade_separated", int(others[0]), int(others[1]))

    n_nodes = len(node_index)
    node_x = np.zeros(n_nodes)
    node_y = np.zeros(n_nodes)
    node_x[node_of] = lines_.x
    node_y[node_of] = lines_.y
    seg = lines_.segments()
    seg_part = lines_.part[seg]
    u = node_of[seg]
    v = node_of[seg + 1]
    length = np.hypot(node_x[v] - node_x[u], node_y[v] - node_y[u])
    keep = u != v
    seg, seg_part, u, v, length = seg[keep], seg_part[keep], u[keep], v[keep], length[keep]
    if len(seg) == 0:
        raise NetworkError(f"{source}: the lines make no segment of positive length")
    seg_speed = at.speed[seg_part]
    time = length / (seg_speed * 1000.0 / 60.0)
    eu, ev, elength, etime, etime_rev, efirst = _merge_parallel(u, v, length, time, at.oneway[seg_part], n_nodes)
    sp = seg_part[efirst]
    name_vals = lp.per_part(lp.cols["name"]) if lp.cols["name"] is not None else None
    raw_text = at.raw_text
    highway = np.array([c if c is not None else (r or None) for c, r in zip(at.osm_cls, raw_text, strict=True)], dtype=object)
    nodes_lonlat = Transformer.from_crs(target, 4326, always_xy=True).transform(node_x, node_y)
    nodes = gpd.GeoDataFrame(
        {"x": node_x, "y": node_y, "lon": np.asarray(nodes_lonlat[0]), "lat": np.asarray(nodes_lonlat[1])},
        geometry=shapely.points(node_x, node_y),
        crs=target,
    )
    edges = gpd.GeoDataFrame(
        {
            "u": eu.astype(np.int64),
            "v": ev.astype(np.int64),
            "length_m": elength,
            "speed_kmh": seg_speed[efirst],
            "time_min": etime,
            "time_rev_min": etime_rev,
            "oneway": np.isinf(etime_rev),
            "highway": highway[sp],
            "road_class": np.where(raw_text[sp] == "", None, raw_text[sp]),
            "name": name_vals.to_numpy(dtype=object)[sp] if name_vals is not None else np.full(len(sp), None, dtype=object),
            "line": lp.labels[lp.part_row[sp]],
        },
        geometry=shapely.linestrings(
            np.stack([np.column_stack([node_x[eu], node_y[eu]]), np.column_stack([node_x[ev], node_y[ev]])], axis=1)
        ),
        crs=target,
    )
    return nodes, edges


def _report(found: _Found, lp: _LineParts, at: _Attributes, opt: _Options, bridges: _Bridges) -> RepairReport:
    """The repair report: every place repaired or listed, with the input line (and the other line) it concerns."""
    labels, part_row, target = lp.labels, lp.part_row, lp.target
    rows_found = found.rows
    loc_part = np.array([r[4] for r in rows_found], dtype=np.int64)
    locations = gpd.GeoDataFrame(
        {
            "kind": pd.Series([r[2] for r in rows_found], dtype=object),
            "dist_m": np.array([r[3] for r in rows_found], dtype=float),
            "line": labels[part_row[loc_part]] if len(loc_part) else np.empty(0, dtype=object),
            "other": np.array([labels[part_row[r[5]]] if r[5] >= 0 else None for r in rows_found], dtype=object),
        },
        geometry=shapely.points(
            np.array([r[0] for r in rows_found], dtype=float) * _GRID_M,
            np.array([r[1] for r in rows_found], dtype=float) * _GRID_M,
        )
        if rows_found
        else [],
        crs=target,
    )
    return RepairReport(
        locations=locations,
        unknown_classes=at.unknown_classes,
        excluded_classes=at.excluded_classes,
        n_lines=lp.n_lines,
        n_parts=lp.n_parts,
        n_empty=lp.n_empty,
        snap_tol_m=opt.snap_tol_m,
        near_miss_m=opt.near_miss_m,
        bridge_classes=bridges.classes,
        level_columns=bridges.level_columns,
        bridge_crossings_joined=bridges.crossings_joined,
    )


def _places(points: gpd.GeoSeries, limit: int = 5) -> str:
    """Points as ``lon, lat`` text (6 decimals), the first ``limit`` of them."""
    ll = points.iloc[:limit].to_crs(4326)
    text = "; ".join(f"{x:.6f}, {y:.6f}" for x, y in zip(ll.x, ll.y, strict=True))
    return text + (f"; and {len(points) - limit} more" if len(points) > limit else "")


def _announce(report: RepairReport, crs: CRS, *, source: str, class_speeds: bool) -> None:
    counts = report.summary()
    done = [
        f"{int(counts[k])} {k.replace('_', ' ')}"
        for k in _KINDS
        if k not in ("unknown_class", "grade_separated", "near_miss") and counts[k]
    ]
    msg = []
    if done:
        msg.append(f"{source}: the road lines were repaired ({', '.join(done)})")
    if report.near_misses:
        near = report.locations[report.locations["kind"] == "near_miss"].sort_values("dist_m")
        gaps = (
            f"1 line end stops {near['dist_m'].iat[0]:.2f} m"
            if len(near) == 1
            else f"{len(near)} line ends stop {near['dist_m'].min():.2f}–{near['dist_m'].max():.2f} m"
        )
        msg.append(
            f"{source}: {gaps} short of another line, beyond snap_tol_m = {report.snap_tol_m:g} m: left open "
            f"(lon, lat: {_places(near.geometry)}); check them, and raise snap_tol_m to join them"
        )
    if report.bridges_without_levels:
        classes = ", ".join(f"{k}: {n} lines" for k, n in report.bridge_classes.items())
        msg.append(
            f"{source}: road classes that mark bridges or elevated roads ({classes}) but no level or bridge column: "
            f"such lines are joined to every street they cross ({report.bridge_crossings_joined} crossings joined). "
            "Name the layer's level or bridge column (level_col / bridge_col in the study's network section)"
        )
    if class_speeds and report.unknown_classes:
        msg.append(
            f"{source}: road classes not known, given the mode's base speed: {report.unknown_classes}; "
            "map them with speeds_kmh={class: km/h}"
        )
    log.info("%r", report)
    if msg:
        warnings.warn("; ".join(msg) + ". See network.repairs.locations", RepairWarning, stacklevel=3)


def _warn_pieces(net: LineNetwork, report: RepairReport, *, source: str) -> None:
    """Warn when the network falls into pieces, naming every cut-off piece and the near-misses that would join two."""
    n = net.n_components
    if n <= 1:
        return
    comps = net.components()
    comp = net.component
    nodes = net.nodes
    first_node = pd.Series(np.arange(len(comp))).groupby(comp).first()
    cut = comps.iloc[1:]
    places = gpd.GeoSeries(nodes.geometry.to_numpy()[first_node.loc[cut.index].to_numpy()], crs=net.crs)
    ll = places.to_crs(4326)
    length_m = cut["length_km"].to_numpy(dtype=float) * 1000.0
    shown = [
        f"{m:.0f} m at {x:.6f}, {y:.6f}" for m, x, y in zip(length_m[:5], ll.x.to_numpy()[:5], ll.y.to_numpy()[:5], strict=True)
    ]
    more = f"; and {len(cut) - 5} more" if len(cut) > 5 else ""
    bridging = ""
    near = report.locations[report.locations["kind"] == "near_miss"]
    if len(near):
        _, end_node = cKDTree(np.column_stack([nodes["x"], nodes["y"]])).query(
            np.column_stack([near.geometry.x, near.geometry.y])
        )
        edge_line = net.edges["line"].to_numpy()
        end_comp = comp[end_node]
        joins = 0
        for i, other in enumerate(near["other"].tolist()):
            on_other = np.flatnonzero(edge_line == other)
            if len(on_other) and end_comp[i] not in set(comp[net.edges["u"].to_numpy()[on_other]].tolist()):
                joins += 1
        if joins:
            bridging = f" {joins} of the near-misses listed in network.repairs would join two pieces."
    warnings.warn(
        f"{source}: the {net.mode} network falls into {n} pieces: the largest holds {comps['length_km'].iloc[0]:.1f} km; "
        f"cut off from it (length, lon, lat): {'; '.join(shown)}{more}. Places on a cut-off piece reach only what "
        f"lies on it.{bridging} See Network.components() and Network.component",
        DisconnectedNetworkWarning,
        stacklevel=3,
    )
