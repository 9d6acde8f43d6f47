"""小街区密路网: road-network density, junction density and block size (policy task 1).

Three measures of the street grid of a built-up area (建成区), each a plain function over a
layer of road centrelines (OSM ways or a planner's centreline file) in a metric CRS:

* :func:`density` — public-road centreline km per km² of the area, the figure 中发〔2016〕6号
  asks to reach 8 km/km². Only the profile's road classes count (trunk to living street;
  no motorways, service ways, tracks or paths; nothing tagged private); the two one-way
  carriageways of a dual road count once (each ≤ 10 m piece of a one-way way that runs
  opposite to another one-way way within ``dual_carriageway_gap_m`` counts half); a
  ``internal=True`` variant adds the service ways that are public (内部道路公共化).
* :func:`junctions` — meeting points of three or more counted roads, those closer than
  ``junction_merge_m`` merged into one (the nodes of a dual-carriageway crossing).
* :func:`blocks` — the faces of the counted street graph (``shapely.polygonize`` of the
  noded centrelines) inside the area; a face under ``min_block_area_m2`` or narrower than
  ``min_block_width_m`` is a median strip or junction island, not a block. A block's long
  side is the long side of its minimum rotated rectangle; GB 50180-2018 6.0.2 asks for road
  spacing of at most 300 m.

:func:`assess` runs all three and returns the values and layers the report and maps use.
Every rule is data in the profile's ``tasks.streets`` section.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from . import _frames, _geom, _points
from ._errors import InputError, ProfileError
from .standards import Profile, StreetRules, resolve

__all__ = ["StreetAssessment", "assess", "blocks", "counted", "density", "junctions", "pieces"]

log = logging.getLogger(__name__)

_ONEWAY = {"yes", "true", "1", "-1", "reverse"}
_NOT_PAIRED_JUNCTION = {"roundabout", "circular"}
_PIECE_M = 10.0


def _rules(profile: Profile | str | Path | None) -> StreetRules:
    prof = resolve(profile)
    if prof.tasks is None or prof.tasks.streets is None:
        raise ProfileError(f"the profile {prof.name!r} has no tasks.streets section")
    return prof.tasks.streets


def _roads_in(roads: gpd.GeoDataFrame, *, what: str = "road layer") -> gpd.GeoDataFrame:
    """The road layer in a metric CRS: its own when projected in metres, else :func:`mtown_geo.crs.metric_crs`."""
    if not isinstance(roads, gpd.GeoDataFrame):
        raise InputError(f"the {what} must be a GeoDataFrame of lines, got {type(roads).__name__}")
    out: gpd.GeoDataFrame = _geom.to_metric(roads, what=what)
    return out


def _area_geom(area: Any, roads: gpd.GeoDataFrame, metric: gpd.GeoDataFrame, *, what: str) -> shapely.Geometry:
    """An area (any CRS; a bare geometry in the CRS of the roads as given) as one polygon in the roads' metric CRS."""
    return _geom.polygon_union(area, crs=metric.crs, what=what, drop_empty=True, geom_crs=roads.crs)


def _col(roads: pd.DataFrame, key: str) -> np.ndarray:
    if key in roads:
        return roads[key].to_numpy(dtype=object)
    return np.full(len(roads), None, dtype=object)


def counted(roads: gpd.GeoDataFrame, *, profile: Profile | str | Path | None = None, internal: bool = False) -> np.ndarray:
    """Which roads count towards the road-network density (a boolean per row).

    A road counts when its ``highway`` is one of the profile's ``tasks.streets.highway``
    classes and none of its tags has a value of ``exclude_tags`` (``access=private|no``,
    ``area=yes``). With ``internal=True`` the ``internal_highway`` classes (``service``)
    also count unless a tag has a value of ``internal_exclude_tags`` (private, parking
    aisles, driveways). A layer without a ``highway`` column (a planner's centreline file of
    public roads) counts whole.
    """
    main, with_internal = _counted(roads, _rules(profile), internal=internal)
    return with_internal if internal else main


def _counted(roads: pd.DataFrame, rules: StreetRules, *, internal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`counted` without and with the public service ways (the second only when
    ``internal``, else the first again), the main classes' flags found once."""
    if "highway" not in roads:
        every = np.ones(len(roads), dtype=bool)
        return every, every.copy()
    hw = _col(roads, "highway")

    def excluded(tags: dict[str, list[str]]) -> np.ndarray:
        out = np.zeros(len(roads), dtype=bool)
        for key, values in tags.items():
            out |= np.isin(_col(roads, key), values)
        return out

    main = np.asarray(np.isin(hw, rules.highway) & ~excluded(rules.exclude_tags), dtype=bool)
    if not (internal and rules.internal_highway):
        return main, main.copy()
    more = np.isin(hw, rules.internal_highway) & ~excluded(rules.internal_exclude_tags)
    return main, np.asarray(main | more, dtype=bool)


def pieces(roads: gpd.GeoDataFrame, *, profile: Profile | str | Path | None = None) -> gpd.GeoDataFrame:
    """The roads cut into pieces of at most 10 m with the share of each that counts (1 or ½).

    A piece of a one-way way (not a roundabout, not a ``*_link``) counts half when a piece of
    another one-way way runs in the opposite direction (within ``dual_carriageway_angle_deg``)
    no farther than ``dual_carriageway_gap_m``: the two carriageways of a dual road make one
    centreline. Every other piece counts whole.

    Returns
    -------
    GeoDataFrame
        One row per piece: ``road`` (row position in ``roads``), ``factor`` (1.0 or 0.5),
        ``dual`` (bool), LineString geometry; in the roads' metric CRS.
    """
    rules = _rules(profile)
    roads = _roads_in(roads)
    a, b, road, factor, dual = _piece_coords(np.asarray(roads.geometry.values, dtype=object), _dual_candidates(roads), rules)
    return _frames.geo_frame(
        {"road": road, "factor": factor, "dual": dual},
        _segments(a, b) if len(a) else [],
        roads.crs,
    )


def _segments(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-point LineStrings from ``a[i]`` to ``b[i]`` (the pieces of :func:`pieces`)."""
    return shapely.linestrings(np.stack([a, b], axis=1))


def _piece_coords(
    geoms: np.ndarray,
    cand: np.ndarray,
    rules: StreetRules,
    *,
    pair: np.ndarray | None = None,
    partner: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pieces` of the roads' lines ``geoms`` (metric) as arrays, no line made: each piece's
    start and end (n × 2, metres), ``road`` (position in ``geoms``), ``factor`` and ``dual``;
    ``cand`` (per road): :func:`_dual_candidates` of the roads.

    ``pair`` (per road; default all): the roads whose pieces are paired as dual roads (the
    others' pieces keep factor 1, flag False); ``partner`` (per road, holding every road a
    piece of a ``pair`` road can pair with; default all): the roads whose pieces are looked at
    as their partners."""
    parts, owner = _line_parts(geoms)
    seg = shapely.segmentize(parts, _PIECE_M)
    coords, which = shapely.get_coordinates(seg, return_index=True)
    same = which[1:] == which[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    road = owner[which[:-1][same]]
    keep = np.any(a != b, axis=1)
    a, b, road = a[keep], b[keep], road[keep]
    factor = np.ones(len(a))
    dual = np.zeros(len(a), dtype=bool)
    cand = np.flatnonzero(cand[road])
    if len(cand) > 1:
        # the pieces paired (q) and those they are paired with (t): every candidate, or the
        # candidates of the roads asked for
        q = cand if pair is None else cand[pair[road[cand]]]
        t = cand if partner is None else cand[partner[road[cand]]]
        d = b - a
        dq = d[q] / np.linalg.norm(d[q], axis=1)[:, None]
        dt = d[t] / np.linalg.norm(d[t], axis=1)[:, None]
        paired = _paired(a, b, q, t, road, dq, dt, rules)
        factor[q[paired]] = 0.5
        dual[q[paired]] = True
    return a, b, road, factor, dual


def _line_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The LineStrings of some lines (the parts of each, those that are LineStrings) and the
    position in ``geoms`` of each: ``shapely.get_parts``, the geometries themselves when each is
    one LineString (the same lines and coordinates, none copied)."""
    if (shapely.get_type_id(geoms) == 1).all():
        return geoms, np.arange(len(geoms))
    parts, owner = shapely.get_parts(geoms, return_index=True)
    is_line = shapely.get_type_id(parts) == 1
    return parts[is_line], owner[is_line]


def _flags(values: np.ndarray, test: Any) -> np.ndarray:
    """``test(value)`` of each value of an object array (a boolean per row), asked once per
    distinct value where the values are text or missing (``test`` must give missing values, None
    or NaN, the same answer), else once per row (1 and 1.0 are equal but not the same text)."""
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return np.array([bool(test(v)) for v in values], dtype=bool)
    codes, uniq = pd.factorize(values, use_na_sentinel=False)
    return np.array([bool(test(v)) for v in uniq], dtype=bool)[codes]


def _dual_candidates(roads: pd.DataFrame) -> np.ndarray:
    """Which roads' pieces :func:`pieces` can pair as dual carriageways (a boolean per row): the
    one-way ways that are neither roundabouts nor ``*_link`` ramps."""
    ow = _flags(_col(roads, "oneway"), lambda v: str(v).lower() in _ONEWAY)
    junction = np.isin(_col(roads, "junction"), list(_NOT_PAIRED_JUNCTION))
    link = _flags(_col(roads, "highway"), lambda h: isinstance(h, str) and h.endswith("_link"))
    return np.asarray(ow & ~junction & ~link, dtype=bool)


def _paired(
    a: np.ndarray,
    b: np.ndarray,
    q: np.ndarray,
    t: np.ndarray,
    road: np.ndarray,
    dq: np.ndarray,
    dt: np.ndarray,
    rules: StreetRules,
) -> np.ndarray:
    """The pieces ``q`` (positions in ``q``) whose midpoint lies within ``dual_carriageway_gap_m``
    of a piece ``t`` of another road running the opposite way (unit directions ``dq``, ``dt``;
    within ``dual_carriageway_angle_deg``).

    The pairs of midpoints closer than the gap and half the longest piece ``t`` hold every pair
    within the gap (a k-d tree finds them); of those of two roads running opposite ways, GEOS
    measures the midpoint's distance to the piece, as a shapely STRtree ``dwithin`` query of every
    piece does."""
    if len(q) == 0 or len(t) == 0:
        return np.zeros(0, dtype=np.intp)
    gap = rules.dual_carriageway_gap_m
    mid_q = (a[q] + b[q]) / 2.0
    half = float(np.max(np.hypot(*(b[t] - a[t]).T))) / 2.0
    pairs = cKDTree(mid_q).sparse_distance_matrix(cKDTree((a[t] + b[t]) / 2.0), gap + half + 1.0, output_type="ndarray")
    i = pairs["i"].astype(np.intp)
    j = pairs["j"].astype(np.intp)
    keep = road[q][i] != road[t][j]
    i, j = i[keep], j[keep]
    keep = np.einsum("ij,ij->i", dq[i], dt[j]) < -math.cos(math.radians(rules.dual_carriageway_angle_deg))
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return np.zeros(0, dtype=np.intp)
    dist = _point_segment_m(mid_q[i], a[t[j]], b[t[j]])
    # the distances far from the gap decide alone; GEOS measures those within a micrometre of it
    near = dist <= gap - _CLOSE_M
    close = np.flatnonzero(np.abs(dist - gap) < _CLOSE_M)
    if len(close):
        ic, jc = i[close], j[close]
        near[close] = shapely.dwithin(shapely.points(mid_q[ic]), shapely.linestrings(np.stack([a[t[jc]], b[t[jc]]], axis=1)), gap)
    return np.unique(i[near])


#: a point-to-segment distance computed in numpy lies within this (m) of the one GEOS computes: the
#: two differ only by rounding, some units in the last place of a few kilometres at most
_CLOSE_M = 1e-6


def _point_segment_m(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distance from each point ``p[i]`` to the segment from ``a[i]`` to ``b[i]`` (n × 2, m):
    to the nearest end where the foot of the perpendicular falls outside the segment (or the
    segment is a point), else to the line, as GEOS's ``Distance::pointToSegment`` measures it."""
    d = b - a
    len2 = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]
    pa = p - a
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (pa[:, 0] * d[:, 0] + pa[:, 1] * d[:, 1]) / len2
        line = np.abs(pa[:, 1] * d[:, 0] - pa[:, 0] * d[:, 1]) / np.sqrt(len2)
    to_a = np.hypot(pa[:, 0], pa[:, 1])
    to_b = np.hypot(p[:, 0] - b[:, 0], p[:, 1] - b[:, 1])
    return np.where((len2 == 0) | (r <= 0), to_a, np.where(r >= 1, to_b, line))


@dataclass(frozen=True)
class _Density:
    km: float
    raw_km: float
    area_km2: float

    @property
    def km_per_km2(self) -> float:
        return self.km / self.area_km2 if self.area_km2 > 0 else math.nan


def _lengths_in(geoms: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """The length of each piece inside the area, m (each piece on its own)."""
    if len(geoms) == 0:
        return np.zeros(0)
    shapely.prepare(area)
    inside = shapely.contains(area, geoms)
    length = shapely.length(geoms)
    cut = ~inside & shapely.intersects(area, geoms)
    length = np.where(inside, length, 0.0)
    if cut.any():
        length[cut] = shapely.length(shapely.intersection(geoms[cut], area))
    return length


#: a road farther than this (m) from an area's edge lies wholly inside or wholly outside the area,
#: and so does each piece of it: the pieces' vertices lie on the road to a few units in the last place
#: of their coordinates (under 1e-8 m)
_EDGE_GAP_M = 1e-6


def _sides(geoms: np.ndarray, xy: np.ndarray, area: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Which roads lie well inside an area and which near its edge: ``inside`` (farther than
    :data:`_EDGE_GAP_M` from the edge, the point ``xy[i]`` of road ``geoms[i]`` in the area)
    and ``edge`` (not farther). An area that is not a (Multi)Polygon has every road at its edge."""
    if shapely.get_type_id(area) not in (3, 6):
        return np.zeros(len(geoms), dtype=bool), np.ones(len(geoms), dtype=bool)
    rim = shapely.boundary(area)
    shapely.prepare(rim)
    shapely.prepare(area)
    edge = shapely.dwithin(rim, geoms, _EDGE_GAP_M)
    inside = ~edge & shapely.contains_xy(area, xy[:, 0], xy[:, 1])
    return inside, edge


def _piece_lengths_in(
    a: np.ndarray, b: np.ndarray, road: np.ndarray, geoms: np.ndarray, area: shapely.Geometry, lines: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """:func:`_lengths_in` of the pieces at positions ``at`` (from ``a[i]`` to ``b[i]``, of road
    ``road[i]``, a row of ``geoms``), the same lengths to the bit, each piece made a line (into
    ``lines``, where not made yet) only when its road comes near the area's edge (:func:`_sides`):
    a piece of a road well inside has its own length, √(dx² + dy²) as GEOS measures it; one of
    a road well outside has none."""
    out = np.zeros(len(at))
    if len(at) == 0:
        return out
    ids, first, inv = _runs(road[at])
    inside, edge = _sides(geoms[ids], a[at[first]], area)
    whole = inside[inv.ravel()]
    d = b[at[whole]] - a[at[whole]]
    out[whole] = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
    near = edge[inv.ravel()]
    cut = at[near]
    todo = cut[shapely.is_missing(lines[cut])]
    if len(todo):
        lines[todo] = _segments(a[todo], b[todo])
    out[near] = _lengths_in(lines[cut], area)
    return out


def _measure(pcs: gpd.GeoDataFrame, area: shapely.Geometry, *, lengths: np.ndarray | None = None) -> _Density:
    """Counted and raw km of pieces in an area; ``lengths`` (:func:`_lengths_in` of these
    pieces) when already known."""
    length = _lengths_in(np.asarray(pcs.geometry.values, dtype=object), area) if lengths is None else lengths
    return _density_of(length, pcs["factor"].to_numpy(), area)


def _density_of(length: np.ndarray, factor: np.ndarray, area: shapely.Geometry) -> _Density:
    """Counted and raw km of pieces of these lengths in an area (m) and factors."""
    if len(length):
        km = float((length * factor).sum()) / 1000.0
        raw = float(length.sum()) / 1000.0
    else:
        km = raw = 0.0
    return _Density(km=km, raw_km=raw, area_km2=float(area.area) / 1e6)


def _roads_near(geoms: np.ndarray, boxes: list[tuple[float, float, float, float]], gap_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Which roads can hold a piece in the boxes (their own box meets one), and which can hold a
    piece that :func:`pieces` may pair with a piece of those (within ``gap_m`` of its midpoint:
    their box meets the first roads' boxes grown by ``gap_m``)."""
    b = shapely.bounds(geoms)
    first = np.zeros(len(geoms), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        first |= (b[:, 2] >= x0) & (b[:, 0] <= x1) & (b[:, 3] >= y0) & (b[:, 1] <= y1)
    if not first.any():
        return first, first.copy()
    pad = gap_m * (1.0 + 1e-9) + 1.0
    x0, y0 = np.min(b[first, 0]) - pad, np.min(b[first, 1]) - pad
    x1, y1 = np.max(b[first, 2]) + pad, np.max(b[first, 3]) + pad
    return first, (b[:, 2] >= x0) & (b[:, 0] <= x1) & (b[:, 3] >= y0) & (b[:, 1] <= y1)


def _near(lo: np.ndarray, hi: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """Which boxes (corners ``lo``, ``hi``, n × 2) meet the area's box: the others lie apart
    from the area (no point in it; an empty area meets none)."""
    x0, y0, x1, y1 = area.bounds
    return (hi[:, 0] >= x0) & (lo[:, 0] <= x1) & (hi[:, 1] >= y0) & (lo[:, 1] <= y1)


def density(
    roads: gpd.GeoDataFrame,
    area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    *,
    profile: Profile | str | Path | None = None,
    internal: bool = False,
) -> float:
    """Road-network density of an area: counted centreline km per km² (dual roads once).

    Parameters
    ----------
    roads : GeoDataFrame
        Road centrelines in any CRS (a geographic one is projected to :func:`mtown_geo.crs.metric_crs`) with OSM-style columns ``highway``,
        ``oneway``, ``junction``, ``access``, ``service``, ``area`` (missing columns are
        taken as untagged; a layer without ``highway`` counts whole).
    area : GeoDataFrame, GeoSeries or shapely polygon
        The built-up area (or the town); a bare geometry is taken in the roads' metric CRS.
    profile : Profile, str or path, optional
        Supplies ``tasks.streets`` (default ``zhejiang-2023``).
    internal : bool
        Also count the public service ways (the 内部道路公共化 variant).

    Returns
    -------
    float
        km/km².
    """
    metric = _roads_in(roads)
    geom = _area_geom(area, roads, metric, what="area")
    roads = metric
    sel = roads.loc[counted(roads, profile=profile, internal=internal)]
    return _measure(pieces(sel, profile=profile), geom).km_per_km2


def junctions(
    roads: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    merge_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Junctions of the counted roads: vertices where three or more road ends meet, merged.

    The degree of a vertex is counted over the counted roads (an end of a way adds 1, a
    vertex inside a way adds 2); vertices of degree 3 or more closer than ``merge_m`` (the
    profile's ``junction_merge_m``, 15 m) to one another are one junction, at their mean
    position.

    Returns
    -------
    GeoDataFrame
        One point per junction: ``n_nodes`` (vertices merged), ``degree`` (largest vertex
        degree); in the roads' metric CRS.
    """
    rules = _rules(profile)
    roads = _roads_in(roads)
    merge = rules.junction_merge_m if merge_m is None else float(merge_m)
    if merge < 0:
        raise InputError(f"merge_m must be >= 0 metres, got {merge}")
    n_nodes, degree, centres = _junction_points(
        np.asarray(roads.geometry.values, dtype=object)[counted(roads, profile=profile)], merge
    )
    if len(centres) == 0:
        return _no_junctions(roads.crs)
    return _frames.geo_frame({"n_nodes": n_nodes, "degree": degree}, shapely.points(centres), roads.crs)


def _junction_points(lines: np.ndarray, merge_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`junctions` of the counted roads' lines as arrays: ``n_nodes``, ``degree`` and the
    centres (k × 2, m) of the junctions, vertices closer than ``merge_m`` merged."""
    parts = _line_parts(lines)[0]
    if len(parts) == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=int), np.zeros((0, 2))
    coords, which = shapely.get_coordinates(parts, return_index=True)
    first = np.r_[True, which[1:] != which[:-1]]
    last = np.r_[which[1:] != which[:-1], True]
    weight = np.where(first | last, 1, 2)
    weight[first & last] = 0  # a one-vertex part
    key = np.round(coords, 2)
    uniq, inv = _unique_rows(key)
    deg = np.bincount(inv.ravel(), weights=weight, minlength=len(uniq))
    node = deg >= 3
    if not node.any():
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=int), np.zeros((0, 2))
    labels, centres = _points.merge(uniq[node], merge_m)
    k = len(centres)
    # the largest degree of each junction's vertices (every junction has one)
    degree = np.full(k, -np.inf)
    np.maximum.at(degree, labels, deg[node])
    return np.bincount(labels, minlength=k), degree.astype(int), centres


def _no_junctions(crs: Any) -> gpd.GeoDataFrame:
    """:func:`junctions` without a junction."""
    return _frames.geo_frame({"n_nodes": [], "degree": []}, [], crs)


def _no_blocks(crs: Any) -> gpd.GeoDataFrame:
    """:func:`blocks` without a block."""
    cols: dict[str, list[Any]] = {"area_m2": [], "long_side_m": [], "short_side_m": [], "within_max": []}
    return _frames.geo_frame(cols, [], crs)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(values, return_index=True, return_inverse=True)`` of integers, the same arrays,
    read off the runs of equal values where they are in order (the roads of pieces are)."""
    if len(values) == 0 or (values[1:] < values[:-1]).any():
        ids, first, inv = np.unique(values, return_index=True, return_inverse=True)
        return ids, first, inv.ravel()
    new = np.r_[True, values[1:] != values[:-1]]
    first = np.flatnonzero(new)
    return values[first], first, np.cumsum(new) - 1


def _unique_ints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of non-negative integers, the same arrays, from a
    table of the values present instead of a sort."""
    if len(values) == 0:
        return values[:0].copy(), np.zeros(0, dtype=np.intp)
    present = np.zeros(int(values.max()) + 1, dtype=bool)
    present[values] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(values.dtype), rank[values]


def _unique_rows(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(xy, axis=0, return_inverse=True)`` of n × 2 finite coordinates (rows sorted by
    x, then y), the same arrays, from one stable sort of the rows read as complex numbers x + iy
    (numpy orders those by the real part, then the imaginary part: the lexical order)."""
    if len(xy) == 0:
        return xy[:0].copy(), np.zeros(0, dtype=np.intp)
    order = np.argsort(np.ascontiguousarray(xy, dtype=np.float64).view(np.complex128).ravel(), kind="stable")
    s = xy[order]
    new = np.r_[True, np.any(s[1:] != s[:-1], axis=1)]
    inv = np.empty(len(xy), dtype=np.intp)
    inv[order] = np.cumsum(new) - 1
    return s[new], inv


def blocks(
    roads: gpd.GeoDataFrame,
    area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    *,
    profile: Profile | str | Path | None = None,
) -> gpd.GeoDataFrame:
    """Street blocks: the faces of the counted road graph whose inner point lies in the area.

    Returns
    -------
    GeoDataFrame
        One polygon per block: ``area_m2``, ``long_side_m`` and ``short_side_m`` (sides of the
        minimum rotated rectangle), ``within_max`` (long side ≤ ``block_max_side_m``); faces
        under ``min_block_area_m2`` or with a short side under ``min_block_width_m`` (median
        strips, junction islands) are left out. In the roads' metric CRS.
    """
    rules = _rules(profile)
    metric = _roads_in(roads)
    geom = _area_geom(area, roads, metric, what="area")
    return _blocks_of(np.asarray(metric.geometry.values, dtype=object)[counted(metric, profile=profile)], geom, rules, metric.crs)


def _blocks_of(lines: np.ndarray, geom: shapely.Geometry, rules: StreetRules, crs: Any) -> gpd.GeoDataFrame:
    """:func:`blocks` of the counted roads' lines in an area (one geometry), in a metric ``crs``."""
    # roads that can bound a face reaching into the area: those within its box, grown by the largest plausible block
    reach = shapely.box(*geom.bounds).buffer(2000.0)
    lines = lines[shapely.intersects(lines, reach)]
    if len(lines) == 0:
        return _no_blocks(crs)
    # the lines noded (shapely.get_parts of each only where one is not a LineString: the same
    # lines, in the same order); GEOS's polygonizer takes the noded lines' parts in their order
    parts = lines if (shapely.get_type_id(lines) == 1).all() else shapely.get_parts(lines)
    noded = shapely.union_all(parts)
    faces = shapely.get_parts(shapely.polygonize([noded]))
    if len(faces) == 0:
        return _no_blocks(crs)
    inner = shapely.point_on_surface(faces)
    shapely.prepare(geom)
    faces = faces[shapely.contains(geom, inner) | shapely.touches(geom, inner)]
    rect = shapely.oriented_envelope(faces)
    ring = shapely.get_coordinates(shapely.get_exterior_ring(rect), return_index=True)
    xy, idx = ring
    # a rectangle's ring has 5 coordinates; sides 0-1 and 1-2
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ok_ring = np.bincount(idx, minlength=len(faces))[idx[starts]] >= 3
    s1 = np.full(len(faces), 0.0)
    s2 = np.full(len(faces), 0.0)
    st = starts[ok_ring]
    s1[idx[st]] = np.hypot(*(xy[st + 1] - xy[st]).T)
    s2[idx[st]] = np.hypot(*(xy[st + 2] - xy[st + 1]).T)
    long_side = np.maximum(s1, s2)
    short_side = np.minimum(s1, s2)
    area_m2 = shapely.area(faces)
    keep = (area_m2 >= rules.min_block_area_m2) & (short_side >= rules.min_block_width_m)
    out = _frames.geo_frame(
        {
            "area_m2": area_m2[keep],
            "long_side_m": long_side[keep],
            "short_side_m": short_side[keep],
            "within_max": long_side[keep] <= rules.block_max_side_m + 1e-9,
        },
        faces[keep],
        crs,
    )
    return out.reset_index(drop=True)


@dataclass
class StreetAssessment:
    """The street-grid measures of a built-up area, with their layers.

    Attributes
    ----------
    km, raw_km : float
        Counted centreline length in the built-up area (dual roads once) and before halving.
    area_km2 : float
        Built-up area, km² (the denominator).
    density_km_per_km2, internal_density_km_per_km2 : float
        Road-network density, and with the public service ways.
    internal_km : float
    town_density_km_per_km2, town_km, town_area_km2 : float
        The same count over the whole town (NaN without a town polygon).
    n_junctions : int
        Merged junctions inside the built-up area.
    junction_density_per_km2 : float
    n_blocks : int
        Blocks whose inner point lies in the built-up area.
    block_share : float
        Share of those blocks whose long side is at most ``block_max_side_m`` (0–1; NaN when
        there is no block).
    block_median_m, block_p90_m : float
        Median and 90th percentile of the blocks' long sides (m).
    layers : dict of GeoDataFrame
        ``streets`` (counted roads clipped to the town or built-up area: ``highway``, ``name``,
        ``variant`` main / internal, ``dual``, ``length_m``), ``blocks``, ``junctions``.
    notes : list of str
    """

    km: float
    raw_km: float
    area_km2: float
    density_km_per_km2: float
    internal_km: float
    internal_density_km_per_km2: float
    town_km: float
    town_area_km2: float
    town_density_km_per_km2: float
    n_junctions: int
    junction_density_per_km2: float
    n_blocks: int
    block_share: float
    block_median_m: float
    block_p90_m: float
    max_side_m: float
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The headline figures as a one-row DataFrame (notes joined by ``"; "``); the layers stay in :attr:`layers`."""
        return _frames.one_row(self)


def _linear(geoms: np.ndarray) -> np.ndarray:
    """Geometries with only their line parts: a clip of a line by an area that also touches the
    area's edge at a point gives a GeometryCollection of lines and points; its lines are kept
    (a LineString, or a MultiLineString of several), the points dropped. The length is the same."""
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):
        parts = shapely.get_parts(shapely.get_parts(geoms[i]))  # a collection's members, then their parts
        lines = parts[shapely.get_type_id(parts) == 1]
        out[i] = lines[0] if len(lines) == 1 else shapely.MultiLineString(list(lines))
    return out


def _clipped_streets(
    roads: gpd.GeoDataFrame,
    a: np.ndarray,
    b: np.ndarray,
    road: np.ndarray,
    dual: np.ndarray,
    variant: np.ndarray,
    area: shapely.Geometry,
    lines: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Counted roads clipped to an area: the pieces from ``a[i]`` to ``b[i]`` (n × 2) of road
    ``road[i]`` (row position in ``roads``) merged back per road and ``dual`` flag; ``lines``
    as :func:`mtown_geo._geom.merged_segments_by_group` takes them."""
    if len(a) == 0:
        return _frames.geo_frame({"highway": [], "name": [], "variant": [], "dual": [], "length_m": []}, [], roads.crs)
    # one line per (road, dual flag), in that order: the pieces of each unioned in their order, merged
    key = road.astype(np.int64) * 2 + dual.astype(bool)
    keys, group = _unique_ints(key)
    # a line none of whose pieces has its box meeting the area's lies apart from it: its clip is
    # empty and left out below, so it is neither merged nor clipped
    near = np.zeros(len(keys), dtype=bool)
    near[group[_near(np.minimum(a, b), np.maximum(a, b), area)]] = True
    keys = keys[near]
    number = np.cumsum(near) - 1
    sel = near[group]
    merged = (
        _geom.merged_segments_by_group(a[sel], b[sel], number[group[sel]], len(keys), None if lines is None else lines[sel])
        if len(keys)
        else np.empty(0, dtype=object)
    )
    road = keys // 2
    # a point of each line's road: the start of one of its pieces
    at = np.zeros(len(keys), dtype=np.intp)
    at[number[group[sel]]] = np.arange(int(sel.sum()))
    geoms = _clipped(merged, np.asarray(roads.geometry.values, dtype=object)[road], a[sel][at], area)
    length_m = shapely.length(geoms)
    keep = ~shapely.is_empty(geoms) & (length_m > 0)
    road, keys = road[keep], keys[keep]
    return _frames.geo_frame(
        {
            "highway": _col(roads, "highway")[road],
            "name": _col(roads, "name")[road],
            "osm_id": _col(roads, "osm_id")[road],
            "variant": variant[road],
            "dual": (keys % 2).astype(bool),
            "length_m": length_m[keep],
        },
        _linear(geoms[keep]),
        roads.crs,
    )


def _clipped(lines: np.ndarray, geoms: np.ndarray, xy: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """``shapely.intersection(lines, area)`` where it is not empty, the same geometries, each line
    lying on a road (``geoms[i]``, with its point ``xy[i]``) and clipped only when the road comes
    near the area's edge (:func:`_sides`) or the line is not a simple open LineString: GEOS gives
    a simple open line well inside back as it is, and clips a line well outside to nothing (an
    empty line here, the same length, 0)."""
    out = np.asarray(lines, dtype=object).copy()
    if len(out) == 0:
        return out
    inside, edge = _sides(geoms, xy, area)
    whole = inside & (shapely.get_type_id(out) == 1)
    whole[whole] = shapely.is_simple(out[whole]) & ~shapely.is_closed(out[whole])
    out[~inside & ~edge] = shapely.LineString()
    cut = edge | (inside & ~whole)
    out[cut] = shapely.intersection(out[cut], area)
    return out


def assess(
    roads: gpd.GeoDataFrame,
    builtup: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    *,
    town: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    profile: Profile | str | Path | None = None,
) -> StreetAssessment:
    """Road-network density, junction density and block size of a built-up area.

    Parameters
    ----------
    roads : GeoDataFrame
        Road centrelines in any CRS (a geographic one is projected to :func:`mtown_geo.crs.metric_crs`) (see :func:`density` for the columns). Give
        the roads around the area too: a block on the area's edge is bounded by roads outside.
    builtup : GeoDataFrame, GeoSeries or shapely polygon
        The built-up area (建成区), the denominator.
    town : optional
        The whole town (镇域), for the density over it (not comparable with the 8 km/km² target).
    profile : Profile, str or path, optional
        Supplies ``tasks.streets`` (default ``zhejiang-2023``).

    Returns
    -------
    StreetAssessment
    """
    rules = _rules(profile)
    metric = _roads_in(roads)
    if not metric.index.equals(pd.RangeIndex(len(metric))):
        metric = metric.reset_index(drop=True)
    built = _area_geom(builtup, roads, metric, what="built-up area")
    if town is not None:
        town_geom = _area_geom(town, roads, metric, what="town boundary")
    roads = metric
    main, internal = _counted(roads, rules)
    layer_area = town_geom.union(built) if town is not None else built
    # the pieces (streets.pieces) as arrays; dual roads are looked for only among the pieces of
    # the roads that can reach the areas' box (the others' pieces lie apart from the areas, with
    # no length in them and no part in the layer: their factor and flag are not read)
    geoms = np.asarray(roads.geometry.values, dtype=object)
    sub = geoms[internal]
    boxes = [built.bounds, layer_area.bounds] + ([town_geom.bounds] if town is not None else [])
    near_road, partner = _roads_near(sub, boxes, rules.dual_carriageway_gap_m)
    a, b, road, factor, dual = _piece_coords(sub, _dual_candidates(roads)[internal], rules, pair=near_road, partner=partner)
    # positions in `roads` of each piece's road
    road = np.flatnonzero(internal)[road]
    # a piece is measured only where its box meets the built-up area's or the town's, and made a
    # line only where its road comes near the area's edge (or its line is merged below)
    is_main = main[road]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    near_built = _near(lo, hi, built)
    near_town = _near(lo, hi, town_geom) if town is not None else np.zeros(len(a), dtype=bool)
    lines = np.full(len(a), None, dtype=object)
    # each piece's length in the built-up area, measured once for both counts
    in_built = np.zeros(len(a))
    at = np.flatnonzero(near_built)
    in_built[at] = _piece_lengths_in(a, b, road, geoms, built, lines, at)
    d_main = _density_of(in_built[is_main], factor[is_main], built)
    d_int = _density_of(in_built, factor, built)
    notes: list[str] = []
    if town is not None:
        in_town = np.zeros(len(a))
        at = np.flatnonzero(near_town & is_main)
        in_town[at] = _piece_lengths_in(a, b, road, geoms, town_geom, lines, at)
        d_town = _density_of(in_town[is_main], factor[is_main], town_geom)
    else:
        d_town = _Density(math.nan, math.nan, math.nan)
    # the junctions and blocks of the counted roads (streets.junctions, streets.blocks)
    n_nodes, degree, centres = _junction_points(geoms[main], rules.junction_merge_m)
    if len(centres):
        pts = shapely.points(centres)
        shapely.prepare(built)
        kept = shapely.contains(built, pts) | shapely.touches(built, pts)
        jn = _frames.geo_frame({"n_nodes": n_nodes[kept], "degree": degree[kept]}, pts[kept], roads.crs)
    else:
        jn = _no_junctions(roads.crs)
    bl = _blocks_of(geoms[main], _area_geom(built, roads, roads, what="area"), rules, roads.crs)
    sides = bl["long_side_m"].to_numpy()
    if len(bl) == 0:
        notes.append("no street block inside the built-up area: block size not measured")
    if "highway" not in roads:
        notes.append("the road layer has no highway classes: every line counts as a public road")
    variant = np.where(main, "main", np.where(internal, "internal", ""))
    layers = {
        "streets": _clipped_streets(roads, a, b, road, dual, variant, layer_area, lines),
        "blocks": bl,
        "junctions": jn,
    }
    return StreetAssessment(
        km=d_main.km,
        raw_km=d_main.raw_km,
        area_km2=d_main.area_km2,
        density_km_per_km2=d_main.km_per_km2,
        internal_km=d_int.km,
        internal_density_km_per_km2=d_int.km_per_km2,
        town_km=d_town.km,
        town_area_km2=d_town.area_km2,
        town_density_km_per_km2=d_town.km_per_km2,
        n_junctions=len(jn),
        junction_density_per_km2=len(jn) / d_main.area_km2 if d_main.area_km2 > 0 else math.nan,
        n_blocks=len(bl),
        block_share=float(bl["within_max"].mean()) if len(bl) else math.nan,
        block_median_m=float(np.median(sides)) if len(sides) else math.nan,
        block_p90_m=float(np.percentile(sides, 90)) if len(sides) else math.nan,
        max_side_m=rules.block_max_side_m,
        layers=layers,
        notes=notes,
    )
