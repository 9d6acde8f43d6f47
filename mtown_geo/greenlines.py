"""Greenways as a model of the town: greenway centrelines from OpenStreetMap, de-duplicated.

The ``zhejiang-2023`` profile's rule (an assumption, flagged ``verified: false``): a
greenway is a way named as one (绿道, greenway), a member of a hiking, cycling or foot route
named as one, or the waterside part of a cycleway, footway or path running within
``waterside_dist_m`` (30 m) of a river, canal, stream or water body (:func:`from_osm`). The
walk and cycle lanes of one greenway — parallel lines closer than ``dedupe_tolerance_m``
(15 m) — count once (:func:`centrelines`), while paths on opposite banks of a river,
farther apart, count separately.

The indicators — 万人拥有绿道长度 and the greenway service coverage — are in
:mod:`mtown_geo.greenways`, which reads no file; every public name here is also
``mtown_geo.greenways.<name>``.

Data from OpenStreetMap is © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components

from . import _geom, _words
from . import crs as _crs
from ._errors import InputError, ProfileError
from .sources.osm import ATTRIBUTION, OSMExtract, read_osm
from .standards import GreenwaySpec, Profile, resolve

__all__ = ["COLUMNS", "WATER_LINES", "centrelines", "from_osm"]

log = logging.getLogger(__name__)

#: Columns of a greenway layer made by :func:`from_osm` (besides geometry).
COLUMNS = ["osm_id", "name", "highway", "route", "matched_by", "length_m"]

#: ``waterway=*`` line values that greenways run beside (drains and ditches are left out).
WATER_LINES: tuple[str, ...] = ("river", "canal", "stream")

_QUAD_SEGS = 128
_CLOSED_ACCESS = {"private", "no"}
_AREA_YES = {"yes"}
_NOT_BRIDGE = {None, "", "no"}
_MIN_WATERSIDE_M = 100.0
_MAX_ANGLE_DEG = 30.0
_STEP_M = 5.0
_BAND_QUAD_SEGS = 32  # the band around water: arcs within 1 cm of a circle at 30 m
_POLYGONAL = (3, 6)
_LINEAL = (1, 2, 5)


def _spec(prof: Profile) -> GreenwaySpec:
    if prof.greenways is None:
        raise ProfileError(
            f"the profile {prof.name!r} has no `greenways` block (tag rules, name patterns, de-duplication "
            "tolerance): use a profile that has one, e.g. 'zhejiang-2023'"
        )
    return prof.greenways


def _fold(text: str) -> str:
    """Case-folded text with the traditional 綠 read as 绿 (绿道 and 綠道 are one word)."""
    return text.casefold().replace("綠", "绿")


def _named(text: Any, patterns: Sequence[str]) -> bool:
    if not isinstance(text, str) or not text:
        return False
    t = _fold(text)
    return any(_fold(p) in t for p in patterns)


def _named_all(texts: np.ndarray, patterns: Sequence[str]) -> np.ndarray:
    """:func:`_named` of each text: each distinct text tried once, the patterns folded once."""
    codes, uniques = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=True)
    folded = [_fold(p) for p in patterns]
    hit = np.array([isinstance(t, str) and bool(t) and any(p in _fold(t) for p in folded) for t in uniques], dtype=bool)
    return np.where(codes >= 0, np.r_[hit, False][codes], False)


# -- geometry helpers ------------------------------------------------------------------------


def _lineal(geom: shapely.Geometry | None) -> shapely.Geometry:
    """The line parts of a geometry, merged where they join (an empty LineString when none)."""
    if geom is None or geom.is_empty:
        return shapely.LineString()
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (1, 2)]
    if not parts:
        return shapely.LineString()
    if len(parts) == 1:
        return parts[0]
    return shapely.line_merge(shapely.MultiLineString(parts))


def _lineal_all(geoms: np.ndarray) -> np.ndarray:
    """:func:`_lineal` of each geometry, the same geometries, in a few array calls.

    A LineString stays as it is, a MultiLineString of one line is that line and one of several
    is merged; empty and missing geometries become an empty LineString; anything else (a
    collection, a point) goes through :func:`_lineal`.
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.empty(len(geoms), dtype=object)
    tid = shapely.get_type_id(geoms)
    empty = (tid < 0) | shapely.is_empty(geoms)
    line = (tid == 1) & ~empty
    multi = (tid == 5) & ~empty
    out[line] = geoms[line]
    if multi.any():
        pos = np.flatnonzero(multi)
        one = shapely.get_num_geometries(geoms[pos]) == 1
        out[pos[one]] = shapely.get_geometry(geoms[pos[one]], 0)
        out[pos[~one]] = shapely.line_merge(geoms[pos[~one]])
    blank = shapely.LineString()
    for i in np.flatnonzero(empty):
        out[i] = blank
    for i in np.flatnonzero(~(empty | line | multi)):
        out[i] = _lineal(geoms[i])
    return out


def _geoms_in(layer: gpd.GeoDataFrame | gpd.GeoSeries, crs: CRS, *, what: str) -> np.ndarray:
    return np.asarray(_geom.to_metric(layer, crs=crs, what=what).geometry.values, dtype=object)


def _line_geoms(lines: Any, crs: CRS) -> np.ndarray:
    geoms = _geoms_in(lines, crs, what="greenway layer")
    geoms = np.where(shapely.is_missing(geoms), shapely.LineString(), geoms)
    tid = shapely.get_type_id(geoms)
    odd = ~np.isin(tid, _LINEAL) & ~shapely.is_empty(geoms)
    if odd.any():
        # polygons (a greenway mapped as an area) are not lines: their outline is not a length
        kinds = sorted({shapely.get_type_id(g) for g in geoms[odd]})
        if any(k in _POLYGONAL for k in kinds):
            raise InputError(
                f"{_words.count(int(odd.sum()), 'greenway geometry is a polygon, not a line', 'greenway geometries are polygons, not lines')}: give the greenways' centrelines "
                "(LineString/MultiLineString)"
            )
        geoms = np.array([_lineal(g) for g in geoms], dtype=object)
    return geoms


# -- from OSM -------------------------------------------------------------------------------


def from_osm(
    source: str | os.PathLike[str] | OSMExtract,
    *,
    profile: Profile | str | Path | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    buffer_m: float = 0.0,
    crs: Any = None,
    min_waterside_m: float = _MIN_WATERSIDE_M,
) -> gpd.GeoDataFrame:
    """Greenways from OpenStreetMap.

    A highway way is a greenway when

    * ``name``: its name contains one of the profile's ``name_patterns`` (绿道, greenway;
      case-insensitive, traditional 綠道 included);
    * ``route``: it is a member of a route relation matching the profile's ``osm`` rules
      (``route=hiking|bicycle|foot``) whose name (``name``, ``name:zh`` or ``name:en``)
      contains a pattern, e.g. 广东绿道;
    * ``waterside``: it is a ``waterside_highway`` (cycleway, footway, path, pedestrian;
      not a bridge, not ``access=private|no``) — then only its parts within
      ``waterside_dist_m`` (30 m) of a river, canal, stream (:data:`WATER_LINES`) or
      water area count (clipped exactly), and only where such parts join into runs of
      at least ``min_waterside_m`` along the water (a path merely crossing a stream is
      not a waterside greenway; a path that leaves the 30 m band ends a run there).

    Ways tagged ``area=yes`` (the outline of a pedestrian square, not a route) are never
    greenways, as the walk network leaves them out too. A way cut by the extract's edge
    comes as one row per piece (:func:`mtown_geo.sources.read_osm` splits it where its
    nodes are missing).

    Parameters
    ----------
    source : path or OSMExtract
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file, or an extract read with
        :func:`mtown_geo.sources.read_osm`.
    profile : Profile, str or path, optional
        The standard profile (default ``zhejiang-2023``).
    boundary : GeoDataFrame or GeoSeries, optional
        The area, in any CRS: lines are clipped to it plus
        ``buffer_m``.
    buffer_m : float, optional
        Metres around the boundary to keep (default 0: the town's own greenways).
    crs : optional
        Projected metric CRS of the result; default :func:`mtown_geo.crs.metric_crs` of
        the boundary, or of the extract.
    min_waterside_m : float, optional
        Shortest run of waterside path that counts, metres (default 100).

    Returns
    -------
    GeoDataFrame
        One row per OSM way (per piece of a way cut by the extract's edge) with
        :data:`COLUMNS`: ``osm_id``, ``name``, ``highway``,
        ``route`` (names of the greenway routes it belongs to), ``matched_by``
        (``name``, ``route`` and/or ``waterside``, joined by ``+``), ``length_m`` (of the
        geometry kept, m) and line geometry in the metric CRS. Overlapping lanes are
        *not* yet de-duplicated: :func:`centrelines` and :func:`length_per_10k` do it.
        Empty (with these columns) when the data has no greenway.
        Data © OpenStreetMap contributors.
    """
    prof = resolve(profile)
    spec = _spec(prof)
    if not buffer_m >= 0:
        raise InputError(f"buffer_m must be >= 0 metres, got {buffer_m}")
    if not min_waterside_m >= 0:
        raise InputError(f"min_waterside_m must be >= 0 metres, got {min_waterside_m}")
    extract = source if isinstance(source, OSMExtract) else read_osm(source)
    if crs is not None:
        target = _crs.require_projected(crs, what="target CRS")
    elif boundary is not None:
        target = _crs.metric_crs(_geom.as_layer(boundary, what="boundary"))
    else:
        target = _crs.metric_crs(extract.bounds)
    ways = extract.ways
    empty = gpd.GeoDataFrame({c: [] for c in COLUMNS}, geometry=[], crs=target)
    if len(ways) == 0:
        log.info("no highway ways in the data: no greenway")
        return empty
    patterns = list(spec.name_patterns)
    # the outline of a pedestrian square (area=yes) is not a route, whatever selects it
    route_like = ~ways["area"].isin(list(_AREA_YES)).to_numpy()
    by_name = _named_all(ways["name"].to_numpy(dtype=object), patterns) & route_like
    # route relations named as greenways
    route_of: dict[int, list[str]] = {}
    if len(extract.routes):
        for tags, members in zip(extract.routes["tags"], extract.routes["ways"], strict=True):
            if not isinstance(tags, dict) or not any(r.matches(tags) for r in spec.osm):
                continue
            label = next((tags[k] for k in ("name", "name:zh", "name:en") if _named(tags.get(k), patterns)), None)
            if label is None:
                continue
            for w in members:
                route_of.setdefault(int(w), []).append(label)
    osm_ids = ways["osm_id"].to_numpy()
    by_route = np.array([int(i) in route_of for i in osm_ids], dtype=bool) & route_like
    if route_of:
        missing = len(set(route_of) - set(osm_ids.tolist()))
        if missing:
            log.info("%d member ways of greenway routes are not in the extract (outside its area)", missing)
    whole = by_name | by_route
    cand = _waterside_candidates(ways, spec)
    lines = extract.way_lines_at(whole | cand, target)  # only the lines that can be greenways
    geom = np.empty(len(lines), dtype=object)
    geom[whole] = lines[whole]
    area = None
    if boundary is not None:
        area = _geom.polygon_union(boundary, crs=target, what="boundary", drop_empty=True)
        if buffer_m > 0:
            area = area.buffer(buffer_m, quad_segs=_QUAD_SEGS)
    # waterside paths: those that can reach into the area (all of them when it is not empty)
    named_rows = bool((whole & ways["name"].notna().to_numpy()).any())
    side, pruned = _waterside(extract, cand, lines, spec, target, min_waterside_m, area=area, named_rows=named_rows)
    if pruned and not (whole.any() or side):
        side, _ = _waterside(extract, cand, lines, spec, target, min_waterside_m, area=None)
    by_water = np.zeros(len(ways), dtype=bool)
    for pos, g in side.items():
        by_water[pos] = True
        if not whole[pos]:
            geom[pos] = g
    hit = np.flatnonzero(whole | by_water)
    if len(hit) == 0:
        log.info("no greenway in %s", extract.path.name if extract.path else "the extract")
        return empty
    how = ["+".join(k for k, f in (("name", by_name[i]), ("route", by_route[i]), ("waterside", by_water[i])) if f) for i in hit]
    out = gpd.GeoDataFrame(
        {
            "osm_id": osm_ids[hit],
            "name": ways["name"].to_numpy()[hit],
            "highway": ways["highway"].to_numpy()[hit],
            "route": [";".join(dict.fromkeys(route_of.get(int(osm_ids[i]), []))) or None for i in hit],
            "matched_by": how,
            "length_m": 0.0,
        },
        geometry=list(geom[hit]),
        crs=target,
    )
    if area is not None:
        clipped = _lineal_all(shapely.intersection(out.geometry.to_numpy(), area))
        out = out.set_geometry(list(clipped), crs=target)
        out = out.loc[~shapely.is_empty(clipped)].reset_index(drop=True)
    out["length_m"] = shapely.length(out.geometry.to_numpy())
    log.info("%d greenway ways, %.2f km before de-duplication (%s)", len(out), out["length_m"].sum() / 1000, ATTRIBUTION)
    return out


def _water(extract: OSMExtract, target: CRS) -> np.ndarray:
    """The water features of the extract (lines and polygons) in ``target``: ``natural=water``,
    any ``water=*``, ``waterway=riverbank`` and the :data:`WATER_LINES` waterways."""
    feats = extract.features
    if len(feats) == 0:
        return np.empty(0, dtype=object)
    waterways = ("riverbank", *WATER_LINES)
    ok = np.isin(shapely.get_type_id(feats.geometry.to_numpy()), (*_POLYGONAL, *_LINEAL))
    tags = feats["tags"].to_numpy()
    ok[ok] = [  # only the lines and polygons are tried
        isinstance(t, dict) and ("water" in t or t.get("natural") == "water" or t.get("waterway") in waterways) for t in tags[ok]
    ]
    return np.asarray(feats.loc[ok].geometry.to_crs(target).values, dtype=object)


def _waterside_candidates(ways: pd.DataFrame, spec: GreenwaySpec) -> np.ndarray:
    """Which ways may be waterside greenways: paths of the profile's ``waterside_highway``
    kinds, not areas, bridges nor closed to the public."""
    if not spec.waterside_highway:
        return np.zeros(len(ways), dtype=bool)
    return (
        ways["highway"].isin(spec.waterside_highway).to_numpy()
        & ~ways["area"].isin(list(_AREA_YES)).to_numpy()
        & ~ways["access"].isin(list(_CLOSED_ACCESS)).to_numpy()
        & ways["bridge"].map(lambda v: v in _NOT_BRIDGE).to_numpy(dtype=bool)
    )


#: lines within this distance (m) of the area, or whose boxes come this close, count as reaching it
_JOIN_MARGIN_M = 1.0


def _joined_from(tree: shapely.STRtree, lines: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Which lines (those of ``tree``) are linked to a ``seed`` line by a chain of lines whose
    bounding boxes, grown by :data:`_JOIN_MARGIN_M`, overlap."""
    b = shapely.bounds(lines) + np.array([-1.0, -1.0, 1.0, 1.0]) * _JOIN_MARGIN_M
    i, j = tree.query(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
    n = len(lines)
    _, comp = connected_components(sp.coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n)), directed=False)
    return np.isin(comp, comp[seed])


def _near_area(tree: shapely.STRtree, area: shapely.Geometry) -> np.ndarray:
    """Positions (ascending) of the lines of ``tree`` within :data:`_JOIN_MARGIN_M` of the area."""
    if area.is_empty:
        return np.empty(0, dtype=np.intp)
    return np.sort(tree.query(area, predicate="dwithin", distance=_JOIN_MARGIN_M))


#: metres added to the grown boxes that pick the water features whose bands may meet a way
_BAND_BOX_MARGIN_M = 1.0
#: parts closer than this (m) to a line are looked for among that line's parts (at most the
#: join margin: lines whose parts touch are joined)
_TOUCH_M = 0.01


class _WaterBands:
    """The bands around the water features of an extract (each feature buffered by ``dist_m``),
    each made when a line first comes near it, and the exact parts of lines within them.

    Only the features whose bounding box, grown by ``dist_m`` and :data:`_BAND_BOX_MARGIN_M`,
    overlaps a line's box are buffered: every point of a band lies within ``dist_m`` of a copy
    of the feature made of some of its own vertices (GEOS simplifies the input of a buffer
    only by dropping vertices), so within the feature's box grown by ``dist_m``; the margin
    covers rounding. Each band is the same, to the bit, as when all features are buffered at
    once, and a line meets exactly the same bands. Their union does not depend on the order
    they are given in: GEOS's cascaded union groups its inputs by their boxes.
    """

    def __init__(self, water: np.ndarray, dist_m: float) -> None:
        self.water = water
        self.dist_m = dist_m
        self.tree = shapely.STRtree(water)
        self.bands = np.full(len(water), None, dtype=object)
        self.unions: dict[tuple[int, ...], shapely.Geometry] = {}  # ways along one stream meet the same bands

    def met(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of positions (line, water feature) whose band the line meets, by line, then feature."""
        grow = self.dist_m + _BAND_BOX_MARGIN_M
        b = shapely.bounds(lines) + np.array([-grow, -grow, grow, grow])
        li, wi = self.tree.query(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
        new = np.unique(wi)
        new = new[shapely.is_missing(self.bands[new])]
        if len(new):
            self.bands[new] = shapely.buffer(self.water[new], self.dist_m, quad_segs=_BAND_QUAD_SEGS)
            shapely.prepare(self.bands[new])
        hit = shapely.intersects(self.bands[wi], lines[li])
        li, wi = li[hit], wi[hit]
        order = np.lexsort((wi, li))
        return li[order], wi[order]

    def parts(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The line parts of each line within the distance of water, and their line's position
        (by line): each line clipped by the union of the bands it meets, once.

        A line inside one of the bands lies inside their union, which an overlay would give
        back unchanged when the line is simple and repeats no vertex (:func:`_overlay_keeps`):
        it is its own part, without the union nor the overlay.
        """
        li, wi = self.met(lines)
        none = np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
        if len(li) == 0:
            return none
        owners, first = np.unique(li, return_index=True)
        whole = np.logical_or.reduceat(shapely.contains_properly(self.bands[wi], lines[li]), first)
        some = np.flatnonzero(whole)
        whole[some] = _overlay_keeps(lines[owners[some]])
        inside = np.empty(len(owners), dtype=object)
        inside[whole] = lines[owners[whole]]
        zones = np.empty(len(owners), dtype=object)
        for k, g in enumerate(np.split(wi, first[1:])):
            if whole[k]:
                continue
            if len(g) == 1:
                zones[k] = self.bands[g[0]]
                continue
            key = tuple(g.tolist())
            if key not in self.unions:
                self.unions[key] = shapely.union_all(self.bands[g])
            zones[k] = self.unions[key]
        cut = ~whole
        inside[cut] = _lineal_all(shapely.intersection(lines[owners[cut]], zones[cut]))
        parts, part_of = shapely.get_parts(inside, return_index=True)
        lineal = np.isin(shapely.get_type_id(parts), (1, 2)) & (shapely.length(parts) > 0)
        if not lineal.any():
            return none
        return parts[lineal], owners[part_of[lineal]]


def _overlay_keeps(lines: np.ndarray) -> np.ndarray:
    """Which lines an overlay gives back unchanged when they lie inside a polygon: simple lines
    (no self-crossing, which the overlay would split) without repeated consecutive vertices
    (which it would drop)."""
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    rep = np.zeros(len(lines), dtype=bool)
    same = (owner[1:] == owner[:-1]) & np.all(coords[1:] == coords[:-1], axis=1)
    rep[owner[1:][same]] = True
    return (shapely.get_type_id(lines) == 1) & ~rep & shapely.is_simple(lines)


def _kept_runs(parts: np.ndarray, owner: np.ndarray, min_run_m: float) -> dict[int, shapely.Geometry]:
    """The parts that join (end to end, across lines) into runs of at least ``min_run_m``,
    merged per line (owner → kept geometry); ``parts`` ordered by owner."""
    if len(parts) == 0:
        return {}
    i, j = shapely.STRtree(parts).query(parts, predicate="intersects")
    n = len(parts)
    _, run = connected_components(sp.coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n)), directed=False)
    run_len = np.bincount(run, weights=shapely.length(parts))
    ok = run_len[run] >= min_run_m
    # the kept parts of each line, merged where they join (one array call for all lines)
    kept_owner, kept = owner[ok], parts[ok]
    order = np.argsort(kept_owner, kind="stable")
    lines_kept, inv = np.unique(kept_owner[order], return_inverse=True)
    merged = shapely.line_merge(shapely.multilinestrings(kept[order], indices=inv))
    return {int(o): g for o, g in zip(lines_kept, merged, strict=True)}


def _waterside(
    extract: OSMExtract,
    cand: np.ndarray,
    lines: np.ndarray,
    spec: GreenwaySpec,
    target: CRS,
    min_run_m: float,
    *,
    area: shapely.Geometry | None = None,
    named_rows: bool = False,
) -> tuple[dict[int, shapely.Geometry], bool]:
    """Waterside parts of the candidate ways (position in ``ways`` → kept geometry).

    With an ``area``, only the candidates joined to it (within :data:`_JOIN_MARGIN_M` of it, or
    linked to such a line by a chain of lines whose boxes, grown by the margin, overlap) are measured,
    and of those first the runs that reach within :data:`_JOIN_MARGIN_M` of it, found from
    the ways near it, along the parts that touch: the same parts for every way that reaches
    into it. When none of the ways kept so has a name, nor any other row of the layer
    (``named_rows``), the runs of the other named joined candidates are measured too, and
    when still none is kept, those of all the others: their ways lie outside the area, but
    whether any of them is kept, and named, decides whether the layer has rows at all and the
    type of its ``name`` column, as when all joined candidates are measured. Also returns
    whether some candidates were left out.
    """
    idx = np.flatnonzero(cand)
    if len(idx) == 0:
        return {}, False
    water = _water(extract, target)
    if len(water) == 0:
        return {}, False
    wb = _WaterBands(water, spec.waterside_dist_m)
    if area is None:
        parts, owner = wb.parts(lines[idx])
        return {int(idx[o]): g for o, g in _kept_runs(parts, owner, min_run_m).items()}, False
    cand_lines = lines[idx]
    tree = shapely.STRtree(cand_lines)
    near = _near_area(tree, area)
    if len(near) == 0:
        return {}, True
    seen = np.zeros(len(idx), dtype=bool)
    side = _runs_from(wb, tree, cand_lines, near, seen, min_run_m)
    pruned = not seen.all()
    named = extract.ways["name"].notna().to_numpy()[idx]
    if not (named_rows or named[list(side)].any()):
        # the other joined lines lie outside the area, but whether any of them is kept, and
        # named, shapes the layer (rows at all; the type of its names): the runs of the named
        # ones are measured, then, if still none is kept, the runs of all the others
        joined = _joined_from(tree, cand_lines, near)
        pruned = not joined.all()
        side |= _runs_from(wb, tree, cand_lines, np.flatnonzero(joined & named & ~seen), seen, min_run_m)
        if not side:
            side = _runs_from(wb, tree, cand_lines, np.flatnonzero(joined & ~seen), seen, min_run_m)
    return {int(idx[o]): g for o, g in side.items()}, pruned


def _runs_from(
    wb: _WaterBands, tree: shapely.STRtree, lines: np.ndarray, seed: np.ndarray, seen: np.ndarray, min_run_m: float
) -> dict[int, shapely.Geometry]:
    """The kept parts (:func:`_kept_runs`) of the runs that pass along the ``seed`` lines (those
    of ``tree``; positions, ascending), and of every line reached so.

    From the seed lines, every line that touches a part found (a part of a line lies on it) is
    measured, until none is new: each run is then whole, its parts in the same order as among
    all lines. ``seen`` flags the lines measured (updated); no seed may be flagged, nor any line
    that touches a part of a flagged one unless flagged too.
    """
    seen[seed] = True
    found_parts, found_owner = [np.empty(0, dtype=object)], [np.empty(0, dtype=np.intp)]
    todo = seed
    while len(todo):
        parts, owner = wb.parts(lines[todo])
        found_parts.append(parts)
        found_owner.append(todo[owner])
        touch = np.unique(tree.query(parts, predicate="dwithin", distance=_TOUCH_M)[1])
        todo = touch[~seen[touch]]
        seen[todo] = True
    parts, owner = np.concatenate(found_parts), np.concatenate(found_owner)
    order = np.argsort(owner, kind="stable")
    return _kept_runs(parts[order], owner[order], min_run_m)


def _pieces(geoms: np.ndarray, step_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start points, end points and owner positions of the straight pieces (at most ``step_m``) of lines."""
    dens = shapely.segmentize(geoms, step_m) if math.isfinite(step_m) else geoms
    parts, part_owner = shapely.get_parts(dens, return_index=True)
    coords, cidx = shapely.get_coordinates(parts, return_index=True)
    same = cidx[1:] == cidx[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    owner = part_owner[cidx[:-1][same]]
    nz = np.any(a != b, axis=1)
    return a[nz], b[nz], owner[nz]


# -- de-duplication --------------------------------------------------------------------------


def _dedupe(geoms: np.ndarray, tol_m: float, max_angle_deg: float) -> tuple[list[shapely.Geometry], np.ndarray]:
    """Kept geometry and kept length of each row once parallel duplicates are removed.

    The lines are cut into pieces of at most ``step`` metres. Line parts are ranked by
    length, longest first; a piece of a lower-ranked part is a duplicate when its
    midpoint lies within ``tol_m`` of a *kept* piece of a higher-ranked part that runs in
    nearly the same direction (within ``max_angle_deg``) and the midpoint lies beside
    that part — its nearest point on the part is not one of the part's two ends, so a
    way that merely continues another at its end is not a duplicate of it.
    """
    n_rows = len(geoms)
    parts, part_row = shapely.get_parts(geoms, return_index=True)
    lineal = np.isin(shapely.get_type_id(parts), (1, 2)) & (shapely.length(parts) > 0)
    parts, part_row = parts[lineal], part_row[lineal]
    kept_len = np.zeros(n_rows)
    if len(parts) == 0:
        return [shapely.LineString()] * n_rows, kept_len
    step = min(_STEP_M, tol_m / 3.0) if tol_m > 0 else math.inf
    a, b, seg_part = _pieces(parts, step)
    d = b - a
    seg_len = np.hypot(d[:, 0], d[:, 1])
    keep = np.ones(len(a), dtype=bool)
    if tol_m > 0 and len(parts) > 1:
        part_len = shapely.length(parts)
        order = np.lexsort((np.arange(len(parts)), -part_len))
        rank = np.empty(len(parts), dtype=np.int64)
        rank[order] = np.arange(len(parts))
        segs = shapely.linestrings(np.stack([a, b], axis=1))
        mids = shapely.points((a + b) / 2.0)
        qi, qj = shapely.STRtree(segs).query(mids, predicate="dwithin", distance=tol_m)
        pi, pj = seg_part[qi], seg_part[qj]
        m = rank[pj] < rank[pi]
        qi, qj, pi, pj = qi[m], qj[m], pi[m], pj[m]
        cos = np.abs(np.einsum("ij,ij->i", d[qi], d[qj])) / (seg_len[qi] * seg_len[qj])
        m = cos >= math.cos(math.radians(max_angle_deg))
        qi, qj, pi, pj = qi[m], qj[m], pi[m], pj[m]
        pos = shapely.line_locate_point(parts[pj], mids[qi])
        m = (pos > 1e-3) & (pos < part_len[pj] - 1e-3)
        qi, qj, pi = qi[m], qj[m], pi[m]
        if len(qi):
            order = np.argsort(rank[pi], kind="stable")
            qi, qj = qi[order], qj[order]
            r = rank[seg_part[qi]]
            for grp in np.split(np.arange(len(qi)), np.flatnonzero(np.diff(r)) + 1):
                drop = qi[grp][keep[qj[grp]]]
                keep[drop] = False
    row = part_row[seg_part]
    np.add.at(kept_len, row[keep], seg_len[keep])
    kept_geoms: list[shapely.Geometry] = [shapely.LineString()] * n_rows
    if keep.any():
        kr = row[keep]
        ks = shapely.linestrings(np.stack([a[keep], b[keep]], axis=1))
        order = np.argsort(kr, kind="stable")
        kr, ks = kr[order], ks[order]
        for grp in np.split(np.arange(len(kr)), np.flatnonzero(np.diff(kr)) + 1):
            kept_geoms[int(kr[grp[0]])] = shapely.line_merge(shapely.MultiLineString(list(ks[grp])))
    return kept_geoms, kept_len


def _prepare(
    lines: Any, scope: Any, *, crs: CRS | None = None
) -> tuple[gpd.GeoDataFrame | gpd.GeoSeries, CRS, np.ndarray, shapely.Geometry | None]:
    if not isinstance(lines, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"the greenway lines must be a GeoDataFrame or GeoSeries with a CRS, got {type(lines).__name__}")
    _crs.require_crs(lines, what="greenway layer")
    if crs is None:
        if len(lines) or _crs.require_crs(lines).is_projected:
            crs = _geom.target_crs(lines, what="greenway layer")
        elif scope is not None:
            crs = _geom.target_crs(scope, what="scope")
        else:
            crs = _crs.require_crs(lines)
    geoms = _line_geoms(lines, crs) if len(lines) else np.empty(0, dtype=object)
    area = None
    if scope is not None:
        area = _geom.polygon_union(scope, crs=crs, what="scope", drop_empty=True)
        if len(geoms):
            geoms = _lineal_all(shapely.intersection(geoms, area))
    return lines, crs, geoms, area


def centrelines(
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    profile: Profile | str | Path | None = None,
    scope: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    tolerance_m: float | None = None,
    max_angle_deg: float = _MAX_ANGLE_DEG,
) -> gpd.GeoDataFrame:
    """The greenway lines clipped to a scope with parallel duplicates removed.

    Lines are cut into pieces of at most 5 m (a third of the tolerance when smaller);
    the longest lines are kept whole and a piece of a shorter line is dropped where it
    runs beside a kept line — within ``tolerance_m``, in nearly the same direction
    (within ``max_angle_deg``), and not merely continuing it from its end. So the walk
    and cycle lanes of one greenway count once, paths that cross or meet keep their full
    length, and paths on opposite banks of a river farther apart than the tolerance
    both count. The length kept is exact to the piece size at the ends of a parallel
    stretch (a few metres per stretch).

    Parameters
    ----------
    lines : GeoDataFrame or GeoSeries
        Greenway centrelines (:func:`from_osm` or a planner's layer), any CRS (a
        geographic CRS is projected with :func:`mtown_geo.crs.metric_crs`).
    profile : Profile, str or path, optional
        Supplies ``dedupe_tolerance_m`` (15 m in ``zhejiang-2023``).
    scope : GeoDataFrame or GeoSeries, optional
        Keep only what lies inside these polygons (the town or the built-up area).
    tolerance_m : float, optional
        Lines closer than this (m) are lanes of one greenway (default: the profile's).
    max_angle_deg : float, optional
        Largest angle between lanes still taken as parallel (default 30°).

    Returns
    -------
    GeoDataFrame
        Index-aligned with ``lines``, its columns plus ``raw_length_m`` (inside the
        scope, m) and ``length_m`` (kept, m); geometry: the kept parts, merged (an empty
        line where a row is wholly a duplicate); in the metric CRS.
    """
    prof = resolve(profile)
    tol = _spec(prof).dedupe_tolerance_m if tolerance_m is None else float(tolerance_m)
    if not tol >= 0:
        raise InputError(f"tolerance_m must be >= 0 metres, got {tolerance_m}")
    if not 0 <= max_angle_deg <= 90:
        raise InputError(f"max_angle_deg must be between 0 and 90 degrees, got {max_angle_deg}")
    lines, crs, geoms, _ = _prepare(lines, scope)
    kept, kept_len = _dedupe(geoms, tol, max_angle_deg) if len(geoms) else ([], np.zeros(0))
    base = lines.drop(columns=lines.geometry.name) if isinstance(lines, gpd.GeoDataFrame) else pd.DataFrame(index=lines.index)
    out = gpd.GeoDataFrame(base.copy(), geometry=list(kept), crs=crs, index=lines.index)
    out["raw_length_m"] = shapely.length(geoms) if len(geoms) else np.zeros(0)
    out["length_m"] = kept_len
    return out
