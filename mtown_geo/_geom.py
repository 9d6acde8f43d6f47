"""The geometry policy: one CRS rule and one repair rule for every measuring function.

**CRS — any CRS in, projected once.** A measuring function accepts layers in any CRS and
calls :func:`to_metric` once at its entry: a layer without a CRS is a :class:`~mtown_geo.CRSError`
naming the fix; a projected CRS whose unit is not the metre is refused; a geographic layer
(EPSG:4326, CGCS2000 EPSG:4490…) goes to the CRS the caller names, else to
:func:`mtown_geo.crs.metric_crs` of the layer (the CGCS2000 Gauss–Krüger zone in China, the
UTM zone elsewhere); a layer already in the target CRS is returned as it is, without any
re-projection, so a pipeline that projects its inputs once pays nothing later. A bare
shapely geometry carries no CRS: it is accepted only where the caller names its CRS.

**Repair — repair, keep the polygonal part, list what was repaired.** :func:`valid_polygons`
refuses missing and empty rows, and rows without any polygon, naming their labels (unless the
caller accepts them with ``drop_empty=True``, as for OSM-derived layers), repairs invalid rows
with :func:`shapely.make_valid` (its default ``"linework"`` method), keeps their polygonal part,
issues one :class:`~mtown_geo.RepairWarning` naming the count and the rows, and returns the
repairs as a table (row, reason, area before and after). :func:`polygon_union` is the two
together and a union: the polygon of a boundary, a built-up area or residential land in a
metric CRS (the steps of a run ask for the same one again and again: the last few unions are
kept, by the polygons' WKB, and given back as they are).

**Bulk.** :func:`union_by_group` and :func:`merged_lines_by_group` union (and merge) many
groups of geometries in a few array calls, with the results of a union per group to the bit;
:func:`merged_pieces_by_group` and :func:`merged_segments_by_group` merge two-point pieces
(roads cut at their vertices) back into lines, joining each chain of pieces directly.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from collections import OrderedDict
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import crs as _crs
from ._errors import CRSError, InputError, RepairWarning

__all__ = ["REPAIR_COLUMNS", "as_layer", "polygon_union", "polygonal", "target_crs", "to_metric", "valid_polygons"]

log = logging.getLogger(__name__)

#: Columns of the repairs table of :func:`valid_polygons`.
REPAIR_COLUMNS = ("row", "reason", "area_before_m2", "area_after_m2")
#: The repairs table of a layer without invalid polygons, made once (each call returns a copy).
_NO_REPAIRS = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(REPAIR_COLUMNS, (object, str, float, float), strict=True)})

_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 4: "MultiPoint", 5: "MultiLineString", 7: "GeometryCollection"}
_BARE_FIX = "wrap it with its CRS: geopandas.GeoSeries([geom], crs=4326) for longitude/latitude"


def _labels(index: pd.Index, pos: np.ndarray, *, limit: int = 8) -> str:
    """The index labels at some positions, for messages (at most ``limit`` named)."""
    shown = ", ".join(repr(v) for v in index[pos[:limit]])
    more = f" and {len(pos) - limit} more" if len(pos) > limit else ""
    return shown + more


def as_layer(obj: Any, *, what: str, geom_crs: Any = None) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """A layer from a GeoDataFrame, a GeoSeries or a bare shapely geometry with its CRS named.

    Parameters
    ----------
    obj : GeoDataFrame, GeoSeries or shapely geometry
        The layer.
    what : str
        How the layer is named in messages ("boundary", "built-up area"…).
    geom_crs : CRS, optional
        The CRS of a bare shapely geometry (a geometry carries none). Ignored for layers.

    Raises
    ------
    CRSError
        A bare geometry without ``geom_crs``, or a layer without a CRS.
    InputError
        Anything else.
    """
    if isinstance(obj, shapely.Geometry):
        if geom_crs is None:
            raise CRSError(f"the {what} is a bare shapely geometry, which has no CRS: {_BARE_FIX}")
        return gpd.GeoSeries([obj], crs=geom_crs)
    if not isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"the {what} must be a GeoDataFrame or GeoSeries with a CRS, got {type(obj).__name__}")
    _crs.require_crs(obj, what=what)
    return obj


def target_crs(layer: Any, *, crs: Any = None, what: str) -> CRS:
    """The metric CRS :func:`to_metric` would put a layer in (nothing is projected).

    Raises
    ------
    CRSError
        As :func:`to_metric`.
    InputError
        The layer is empty and geographic: no metric CRS can be chosen for it.
    """
    layer = as_layer(layer, what=what)
    own = _crs.require_crs(layer, what=what)
    if crs is not None:
        return _crs.require_projected(crs, what="target CRS")
    if own.is_projected:
        return _crs.require_projected(own, what=what)
    if layer.empty:
        raise InputError(f"the {what} layer is empty and in a geographic CRS ({own.name}): no metric CRS can be chosen for it")
    return _crs.metric_crs(layer)


def to_metric(layer: Any, *, crs: Any = None, what: str = "layer", geom_crs: Any = None) -> Any:
    """A layer in a projected CRS measured in metres, projected at most once.

    Parameters
    ----------
    layer : GeoDataFrame, GeoSeries or shapely geometry
        In any CRS. A bare geometry needs ``geom_crs``.
    crs : CRS, optional
        The metric CRS wanted. Default: the layer's own CRS when it is projected in metres,
        else :func:`mtown_geo.crs.metric_crs` of the layer.
    what : str
        How the layer is named in messages.
    geom_crs : CRS, optional
        The CRS of a bare shapely geometry.

    Returns
    -------
    GeoDataFrame or GeoSeries
        The layer itself when it is already in the target CRS (no copy, no ``to_crs``),
        else a projected copy. A bare geometry comes back as a one-row GeoSeries.

    Raises
    ------
    CRSError
        The layer has no CRS (the message names ``set_crs``), a geographic layer whose
        coordinates are not degrees, its projected CRS is not in
        metres, ``crs`` is not a projected metric CRS, or a geographic layer is empty.
    """
    layer = as_layer(layer, what=what, geom_crs=geom_crs)
    target = target_crs(layer, crs=crs, what=what)
    own = _crs.require_crs(layer, what=what)
    if own.equals(target):
        return layer
    if own.is_geographic and not layer.empty:
        _check_degrees(layer, own, what=what)
    return layer.to_crs(target)


def _check_degrees(layer: gpd.GeoDataFrame | gpd.GeoSeries, crs: CRS, *, what: str) -> None:
    """Refuse a layer labelled in degrees whose coordinates cannot be longitude/latitude."""
    west, south, east, north = layer.total_bounds
    if all(np.isfinite((west, south, east, north))) and (
        min(west, south) < -180 or max(east, north) > 180 or abs(south) > 90 or abs(north) > 90
    ):
        raise CRSError(
            f"the {what} says it is in {crs.name} (degrees) but its coordinates reach x {west:.0f}…{east:.0f}, "
            f"y {south:.0f}…{north:.0f}: they are not longitude/latitude. Set the CRS they are really in "
            "with gdf.set_crs(<EPSG>, allow_override=True)"
        )


def polygonal(geom: shapely.Geometry | None) -> shapely.Geometry:
    """The polygonal part of a geometry (an empty polygon when it has none)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom
    parts = shapely.get_parts(shapely.get_parts(geom))
    polys = [p for p in parts if shapely.get_type_id(p) in _POLYGONAL]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _areas_m2(geoms: np.ndarray, crs: CRS | None, fallback: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """Areas in m² of some geometries in ``crs`` (projected to the layer's metric CRS when in degrees)."""
    if len(geoms) == 0 or crs is None or crs.is_projected:
        return shapely.area(geoms).astype(float) if len(geoms) else np.zeros(0)
    metric = _crs.metric_crs(fallback)
    return gpd.GeoSeries(geoms, crs=crs).to_crs(metric).area.to_numpy(dtype=float)


def valid_polygons(
    layer: gpd.GeoDataFrame | gpd.GeoSeries, *, what: str, drop_empty: bool = False
) -> tuple[np.ndarray, pd.DataFrame]:
    """The polygons of a layer, invalid ones repaired, one per row, with the list of repairs.

    Parameters
    ----------
    layer : GeoDataFrame or GeoSeries
        Polygons, in any CRS (areas in the repairs table are in m² either way).
    what : str
        How the layer is named in messages.
    drop_empty : bool, default False
        Accept rows with a missing or empty geometry, or no polygon at all (a point, a
        line, a repair that left none): they come back as empty polygons, which add no
        area. For layers derived from OpenStreetMap, where such rows are expected.

    Returns
    -------
    geoms : numpy.ndarray of shapely geometries
        One (Multi)Polygon per row, in the layer's CRS and row order.
    repairs : pandas.DataFrame
        One row per repaired row: ``row`` (the layer's index label), ``reason``
        (:func:`shapely.is_valid_reason` of the input), ``area_before_m2`` and
        ``area_after_m2`` (shapely's area of the invalid input, which a self-crossing ring
        under-counts, and of the repaired polygon). Empty when nothing was repaired.

    Raises
    ------
    InputError
        Unless ``drop_empty``: rows with a missing or empty geometry, or without a polygon
        after repair, named by their labels.

    Warns
    -----
    RepairWarning
        Invalid polygons were repaired (:func:`shapely.make_valid`, default method): one
        warning naming their count and rows.
    """
    if not isinstance(layer, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"the {what} must be a GeoDataFrame or GeoSeries of polygons, got {type(layer).__name__}")
    series = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer
    geoms = np.asarray(series.values, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any() and not drop_empty:
        pos = np.flatnonzero(missing)
        raise InputError(
            f"the {what} has {len(pos)} missing or empty geometries (rows {_labels(layer.index, pos)}): drop or fix them first"
        )
    geoms = np.where(missing, shapely.Polygon(), geoms)
    if not drop_empty:
        wrong = np.flatnonzero(~np.isin(shapely.get_type_id(geoms), (*_POLYGONAL, 7)))
        if len(wrong):
            kinds = sorted({int(shapely.get_type_id(g)) for g in geoms[wrong]})
            raise InputError(
                f"the {what} must hold polygons, but {len(wrong)} rows hold "
                f"{', '.join(_TYPE_NAMES.get(k, str(k)) for k in kinds)} (rows {_labels(layer.index, wrong)})"
            )
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    repairs = _NO_REPAIRS.copy()
    if len(invalid):
        before = geoms[invalid]
        reasons = [shapely.is_valid_reason(g) for g in before]
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(before)
        crs = CRS.from_user_input(series.crs) if series.crs is not None else None
        fixed = np.array([polygonal(g) for g in geoms[invalid]], dtype=object)
        repairs = pd.DataFrame(
            {
                "row": list(layer.index[invalid]),
                "reason": reasons,
                "area_before_m2": _areas_m2(before, crs, layer),
                "area_after_m2": _areas_m2(fixed, crs, layer),
            }
        )
        warnings.warn(
            f"{len(invalid)} invalid polygons of the {what} were repaired with shapely.make_valid "
            f"(rows {_labels(layer.index, invalid)}; {reasons[0]}{'; …' if len(invalid) > 1 else ''}); "
            "check them: a repair may change their area",
            RepairWarning,
            stacklevel=3,
        )
    out = np.array([polygonal(g) for g in geoms], dtype=object)
    if not drop_empty:
        none = np.flatnonzero(shapely.is_empty(out))
        if len(none):
            raise InputError(
                f"the {what} has {len(none)} rows without a polygon (rows {_labels(layer.index, none)}): "
                "give polygons, not points or lines"
            )
    return out, repairs


#: The last few unions of :func:`polygon_union`, by a digest of the polygons' WKB: the steps of a
#: run union the same boundary, built-up area or residential land again and again.
_UNIONS: OrderedDict[str, shapely.Geometry] = OrderedDict()
_UNIONS_KEPT = 8
_UNIONS_LOCK = threading.Lock()


def digest(geoms: np.ndarray, *, crs: str = "") -> str:
    """A digest of geometries (their WKB in order, each with its length; ``None`` as empty) and
    a CRS text: the key under which the caches of the package keep work done on the same
    geometries (a union, a buffered boundary, snaps, a siting matrix)."""
    wkb = [b"" if w is None else w for w in shapely.to_wkb(geoms, output_dimension=4, include_srid=True)]
    h = hashlib.blake2b(digest_size=20)
    h.update(crs.encode())
    h.update(np.fromiter((len(w) for w in wkb), dtype=np.int64, count=len(wkb)).tobytes())
    h.update(b"".join(wkb))
    return h.hexdigest()


def layer_digest(layer: Any) -> str | None:
    """:func:`digest` of a GeoDataFrame's or GeoSeries' geometries and CRS (``None`` for anything
    else, or a layer without a CRS: nothing to key a cache on)."""
    if not isinstance(layer, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return None
    geoms = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer
    if geoms.crs is None:
        return None
    return digest(np.asarray(geoms.values), crs=geoms.crs.to_wkt())


def _union_of(geoms: np.ndarray) -> shapely.Geometry:
    """``polygonal(shapely.union_all(geoms))``, taken from the last unions when the same polygons
    (the same WKB, in the same order) were unioned before: the same geometry, to the bit."""
    key = digest(geoms)
    with _UNIONS_LOCK:
        geom = _UNIONS.get(key)
        if geom is not None:
            _UNIONS.move_to_end(key)
            return geom
    geom = polygonal(shapely.union_all(geoms))
    with _UNIONS_LOCK:
        _UNIONS[key] = geom
        while len(_UNIONS) > _UNIONS_KEPT:
            _UNIONS.popitem(last=False)
    return geom


#: The last few buffers of :func:`buffered`, by a digest of the geometry's WKB and the distance:
#: a town's boundary is buffered by the same reach for its facilities, inventory and networks.
_BUFFERS: OrderedDict[tuple[str, float], shapely.Geometry] = OrderedDict()
_BUFFERS_KEPT = 4
_BUFFERS_LOCK = threading.Lock()


def buffered(geom: shapely.Geometry, dist_m: float) -> shapely.Geometry:
    """``geom.buffer(dist_m)`` (shapely's defaults), taken from the last few buffers when the same
    geometry (the same WKB) was buffered by the same distance before: the same geometry, to the
    bit. ``dist_m`` in the geometry's units (metres in a metric CRS)."""
    key = (digest(np.array([geom], dtype=object)), float(dist_m))
    with _BUFFERS_LOCK:
        hit = _BUFFERS.get(key)
        if hit is not None:
            _BUFFERS.move_to_end(key)
            return hit
    out = geom.buffer(dist_m)
    with _BUFFERS_LOCK:
        _BUFFERS[key] = out
        while len(_BUFFERS) > _BUFFERS_KEPT:
            _BUFFERS.popitem(last=False)
    return out


def polygon_union(
    layer: Any,
    *,
    crs: Any = None,
    what: str,
    allow_empty: bool = False,
    drop_empty: bool = False,
    geom_crs: Any = None,
    meeting: shapely.Geometry | None = None,
    near_m: float = 0.0,
) -> shapely.Geometry:
    """The union of a polygon layer in a metric CRS: :func:`to_metric`, :func:`valid_polygons`, union.

    Parameters
    ----------
    layer : GeoDataFrame, GeoSeries or shapely geometry
        Polygons in any CRS; a bare geometry needs ``geom_crs``.
    crs : CRS, optional
        The metric CRS of the result (default: as :func:`to_metric`).
    what : str
        How the layer is named in messages.
    allow_empty : bool, default False
        Return an empty polygon for an empty layer or one without area instead of raising.
    drop_empty : bool, default False
        As :func:`valid_polygons`: accept rows without a polygon (they add nothing).
    geom_crs : CRS, optional
        The CRS of a bare shapely geometry.
    meeting : shapely geometry, optional
        An area in ``crs``: only the polygons that meet it are unioned, for a caller that
        keeps only the union's part inside it (the same land there; the rows elsewhere are
        checked but cost no union). An empty polygon when none meets it.
    near_m : float, default 0
        With ``meeting``: the polygons within this distance (m) of it are unioned instead.

    Returns
    -------
    shapely.Geometry
        A (Multi)Polygon in ``crs`` (metres), or an empty polygon when allowed.

    Raises
    ------
    CRSError
        As :func:`to_metric`.
    InputError
        An empty layer or one without area (unless ``allow_empty``); rows refused by
        :func:`valid_polygons`.
    """
    layer = as_layer(layer, what=what, geom_crs=geom_crs)
    if layer.empty:
        if allow_empty:
            return shapely.Polygon()
        raise InputError(f"the {what} layer is empty")
    layer = to_metric(layer, crs=crs, what=what)
    geoms, _ = valid_polygons(layer, what=what, drop_empty=drop_empty or allow_empty)
    if meeting is not None:
        tree = shapely.STRtree(geoms)
        near = (
            tree.query(meeting, predicate="dwithin", distance=near_m)
            if near_m > 0
            else tree.query(meeting, predicate="intersects")
        )
        geoms = geoms[np.sort(near)]
        if len(geoms) == 0:
            return shapely.Polygon()
    geom = _union_of(geoms)
    if geom.is_empty or geom.area <= 0:
        if allow_empty:
            return shapely.Polygon()
        raise InputError(f"the {what} has no area: give polygons, not points or lines")
    return geom


def union_by_group(geoms: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """:func:`shapely.union_all` of each group of geometries, in a few vectorised calls.

    The same as ``[shapely.union_all(geoms[group == k]) for k in range(n_groups)]``, to the
    bit: each group's geometries reach GEOS in their order in ``geoms``. Groups of similar size
    share one call (rows of a 2-D array padded with ``None``, which the union skips).

    Parameters
    ----------
    geoms : ndarray of shapely geometries
        Any geometries (``None`` is skipped).
    group : ndarray of int
        The group of each geometry, ``0 <= group < n_groups``.
    n_groups : int
        The number of groups; a group without geometries gives an empty GeometryCollection.

    Returns
    -------
    ndarray of shapely geometries
        One union per group, in group order.
    """
    geoms = np.asarray(geoms, dtype=object)
    group = np.asarray(group, dtype=np.intp)
    out = np.empty(n_groups, dtype=object)
    if n_groups == 0:
        return out
    order = np.argsort(group, kind="stable")
    g, sorted_geoms = group[order], geoms[order]
    counts = np.bincount(g, minlength=n_groups)
    rank = np.arange(len(g)) - (np.cumsum(counts) - counts)[g]  # position of each geometry in its group
    # rows padded to the next power of two: at most twice the cells of the geometries
    width = np.left_shift(1, np.ceil(np.log2(np.maximum(counts, 1))).astype(np.intp))
    row = np.empty(n_groups, dtype=np.intp)
    for w in np.unique(width):
        ks = np.flatnonzero(width == w)
        row[ks] = np.arange(len(ks))
        sel = width[g] == w
        grid = np.full((len(ks), int(w)), None, dtype=object)
        grid[row[g[sel]], rank[sel]] = sorted_geoms[sel]
        out[ks] = shapely.union_all(grid, axis=1)
    return out


def merged_lines_by_group(lines: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """``shapely.line_merge(shapely.union_all(...))`` of each group of lines, to the bit, in bulk.

    The union nodes and dissolves a group's lines; the merge then joins them end to end.
    Where the lines of a group meet only at their ends (their MultiLineString is simple: no
    crossing, touching or shared stretch, no closed line touching another) the union leaves
    every line as it is and the merge alone gives the same result, for the merge does not
    depend on the order or direction of its lines: such groups are merged directly, the
    others unioned first (:func:`union_by_group`).

    Parameters
    ----------
    lines : ndarray of LineStrings
    group : ndarray of int
        The group of each line, ``0 <= group < n_groups``.
    n_groups : int
        The number of groups; a group without lines gives an empty GeometryCollection.

    Returns
    -------
    ndarray of shapely geometries
        (Multi)LineStrings, one per group, in group order.
    """
    lines = np.asarray(lines, dtype=object)
    group = np.asarray(group, dtype=np.intp)
    out = np.empty(n_groups, dtype=object)
    if n_groups == 0:
        return out
    order = np.argsort(group, kind="stable")
    multi = np.full(n_groups, None, dtype=object)
    counts = np.bincount(group, minlength=n_groups)
    held = counts > 0
    dense = (np.cumsum(held) - 1)[group]  # the group's number among the groups that hold lines
    multi[held] = shapely.multilinestrings(lines[order], indices=dense[order])
    simple = held & shapely.is_simple(multi)
    out[simple] = shapely.line_merge(multi[simple])
    rest = np.flatnonzero(~simple)
    if len(rest):
        number = np.full(n_groups, -1, dtype=np.intp)
        number[rest] = np.arange(len(rest))
        sel = number[group] >= 0
        out[rest] = shapely.line_merge(union_by_group(lines[sel], number[group[sel]], len(rest)))
    return out


def merged_pieces_by_group(lines: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """:func:`merged_lines_by_group` of two-point pieces, to the bit, faster.

    A group whose pieces follow one another in order, each starting where the one before
    ends, is one line cut at its vertices: where that line is simple and open, merging the
    pieces gives what merging the line gives (GEOS's line merger walks it from the same end
    through the same vertices), so the line is merged directly, without a graph of its
    pieces. Every other group (closed, self-touching, branching or out of order) is merged
    from its pieces as before.
    """
    lines = np.asarray(lines, dtype=object)
    group = np.asarray(group, dtype=np.intp)
    n = len(lines)
    if n == 0 or n_groups == 0 or not (shapely.get_num_coordinates(lines) == 2).all():
        return merged_lines_by_group(lines, group, n_groups)
    xy = shapely.get_coordinates(lines).reshape(n, 2, 2)
    return merged_segments_by_group(xy[:, 0], xy[:, 1], group, n_groups, lines)


def merged_segments_by_group(
    a: np.ndarray, b: np.ndarray, group: np.ndarray, n_groups: int, lines: np.ndarray | None = None
) -> np.ndarray:
    """:func:`merged_pieces_by_group` of the two-point pieces from ``a[i]`` to ``b[i]`` (n × 2, at least
    one piece and one group); ``lines`` holds the pieces as LineStrings where already made
    (``None`` elsewhere: made from ``a`` and ``b`` where needed, the same lines)."""
    order = np.argsort(group, kind="stable")
    g = group[order]
    a, b = a[order], b[order]
    first = np.r_[True, g[1:] != g[:-1]]
    # a break: a piece of the same group as the one before that does not start where it ends
    brk = ~first & np.any(a != np.roll(b, 1, axis=0), axis=1)
    chained = np.ones(n_groups, dtype=bool)
    chained[g[brk]] = False
    counts = np.bincount(g, minlength=n_groups)
    chained &= counts > 0
    take = chained[g]
    if not take.any():
        return merged_lines_by_group(_lines_at(a, b, lines, order), g, n_groups)
    # the line of each chained group: the first piece's start, then every piece's end
    starts = first & take
    pts = np.concatenate([a[starts], b[take]])
    owner = np.concatenate([g[starts], g[take]])
    seq = np.concatenate([np.flatnonzero(starts) * 2, np.flatnonzero(take) * 2 + 1])
    o = np.lexsort((seq, owner))
    ids = np.flatnonzero(chained)
    dense = np.full(n_groups, -1, dtype=np.intp)
    dense[ids] = np.arange(len(ids))
    line = shapely.linestrings(pts[o], indices=dense[owner[o]])
    direct = np.zeros(n_groups, dtype=bool)
    direct[ids] = shapely.is_simple(line) & ~shapely.is_closed(line)
    out = np.empty(n_groups, dtype=object)
    out[direct] = shapely.line_merge(line[dense[direct]])
    rest = np.flatnonzero(~direct)
    if len(rest):
        number = np.full(n_groups, -1, dtype=np.intp)
        number[rest] = np.arange(len(rest))
        sel = number[g] >= 0
        out[rest] = merged_lines_by_group(_lines_at(a[sel], b[sel], lines, order[sel]), number[g[sel]], len(rest))
    return out


def _lines_at(a: np.ndarray, b: np.ndarray, lines: np.ndarray | None, pos: np.ndarray) -> np.ndarray:
    """The pieces at positions ``pos`` of ``lines`` (start ``a``, end ``b``, already taken at
    ``pos``) as LineStrings: those made, else made now."""
    out = np.empty(len(pos), dtype=object) if lines is None else np.asarray(lines, dtype=object)[pos]
    todo = np.flatnonzero(shapely.is_missing(out))
    if len(todo):
        out[todo] = shapely.linestrings(np.stack([a[todo], b[todo]], axis=1))
    return out
