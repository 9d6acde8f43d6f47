"""Parks as a model of the town: park polygons, their size classes and their entrances.

The parks a planner counts come from OpenStreetMap (:func:`from_osm`: the profile's park
tags plus named green spaces) or from a land-use map (:func:`from_landuse`: the polygons of
the park classes ``G1`` / 公园绿地 / ``1401``). Touching pieces of one park (OSM often maps a
park as several polygons split by its paths) are merged before their size is measured, so a
park of two 3000 m² halves counts as one 6000 m² park.

:func:`rules` lists the profile's service-radius rules, :func:`classify` gives each park its
size class and service radius under one of them, and :func:`entrances` finds the ways into
each park (mapped entrances, the points where the walk network crosses the park's edge, or
points along the edge). The indicator — 公园绿地服务半径覆盖率 — is
:func:`mtown_geo.parks.service_radius_coverage`, which reads no file; every public name here
is also ``mtown_geo.parks.<name>``.

Data from OpenStreetMap is © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components

from . import _frames, _geom
from . import crs as _crs
from ._errors import AssumptionWarning, InputError, ProfileError
from .network import Network
from .sources.osm import ATTRIBUTION, OSMExtract, read_osm, rules_matcher
from .standards import ParkRule, ParkSpec, Profile, resolve

__all__ = [
    "CLASS_COLUMNS",
    "COLUMNS",
    "LANDUSE_CLASSES",
    "NAME_PATTERNS",
    "EntrancePoints",
    "classify",
    "entrances",
    "from_landuse",
    "from_osm",
    "rules",
]

log = logging.getLogger(__name__)

#: Columns of a park layer made by :func:`from_osm` or :func:`from_landuse` (besides geometry).
COLUMNS = ["park_id", "name", "area_m2", "n_pieces", "piece_ids", "matched_by", "source"]

#: Land-use classes that mean public parks: GB 50137-2011 ``G1`` 公园绿地 and the
#: 国土空间调查、规划、用途管制用地用海分类 (2023) code ``1401`` 公园绿地.
LANDUSE_CLASSES: tuple[str, ...] = ("G1", "公园绿地", "1401")

#: Columns looked for, in this order, when a land-use layer's class column is not named.
CLASS_COLUMNS: tuple[str, ...] = ("用地代码", "用地分类", "地类编码", "用地类型", "DLBM", "YDDM", "class", "landuse")

#: Park name patterns used when the profile's ``park`` category has none.
NAME_PATTERNS: tuple[str, ...] = ("公园", "游园")

# Green land uses: a polygon so tagged that carries a name is a named green space.
_GREEN_LANDUSE = {"grass", "meadow", "village_green", "recreation_ground", "flowerbed", "greenery"}
# Leisure values that are sports or private grounds, never parks (even when named …公园).
_NOT_PARK_LEISURE = {
    "pitch",
    "track",
    "stadium",
    "sports_centre",
    "sports_hall",
    "swimming_pool",
    "fitness_centre",
    "golf_course",
    "ice_rink",
    "marina",
    "water_park",
    "ski_resort",
    "resort",
    "horse_riding",
}
# Tags that give a polygon another use (a 公园 in a name is then a brand or an address).
_OTHER_USE_KEYS = ("amenity", "shop", "building", "office", "healthcare")
# Entrance values that are doors of buildings, not ways into a park.
_BUILDING_ENTRANCES = {"staircase", "garage", "home", "shop", "service", "emergency", "no"}
_CLOSED_ACCESS = {"private", "no"}
_PERIMETER_SPACING_M = 25.0
_ENTRANCE_DIST_M = 20.0
_POLYGONAL = (3, 6)

#: Where mapped park entrances come from: an OSM file or extract (its ``entrance`` and
#: ``barrier=gate`` nodes) or a point layer of entrances.
EntrancePoints: TypeAlias = str | os.PathLike[str] | OSMExtract | gpd.GeoDataFrame | gpd.GeoSeries


# -- rules and size classes ------------------------------------------------------------------


@dataclass(frozen=True)
class _SizeClass:
    key: str
    label: str
    min_area_m2: float
    max_area_m2: float
    radius_m: float


@dataclass(frozen=True)
class _Rule:
    key: str
    name: str
    verified: bool
    source: str
    classes: tuple[_SizeClass, ...]

    @property
    def smallest_m2(self) -> float:
        return min(c.min_area_m2 for c in self.classes)

    @property
    def max_radius_m(self) -> float:
        return max(c.radius_m for c in self.classes)


def _park_spec(prof: Profile) -> ParkSpec:
    if prof.parks is None:
        raise ProfileError(
            f"the profile {prof.name!r} has no `parks` block (park tag rules and size classes): "
            "use a profile that has one, e.g. 'zhejiang-2023'"
        )
    return prof.parks


def _make_rule(key: str, spec: ParkRule) -> _Rule:
    classes: list[_SizeClass] = []
    used: set[str] = set()
    for c in spec.classes:
        hi = math.inf if c.max_area_m2 is None else float(c.max_area_m2)
        if not hi > c.min_area_m2:
            raise ProfileError(f"parks.rules.{key}: a size class has max_area_m2 {hi:g} not above min_area_m2 {c.min_area_m2:g}")
        ckey = f"{c.min_area_m2:g}m2"
        while ckey in used:
            ckey += "_"
        used.add(ckey)
        label = c.label_zh or (f"≥{c.min_area_m2:g} m²" if math.isinf(hi) else f"{c.min_area_m2:g}–{hi:g} m²")
        classes.append(_SizeClass(ckey, label, float(c.min_area_m2), hi, float(c.radius_m)))
    return _Rule(key=key, name=spec.name_zh, verified=spec.verified, source=spec.source.strip(), classes=tuple(classes))


def _resolve_rule(prof: Profile, rule: str | ParkRule | None) -> _Rule:
    spec = _park_spec(prof)
    if isinstance(rule, ParkRule):
        return _make_rule("custom", rule)
    key = spec.default_rule if rule is None else str(rule)
    if key not in spec.rules:
        raise InputError(f"unknown park rule {key!r}; the profile {prof.name!r} has {sorted(spec.rules)}")
    return _make_rule(key, spec.rules[key])


def _flag_unverified(rule: _Rule) -> str:
    note = ""
    if not rule.verified:
        note = f"park rule {rule.key!r} ({rule.name}) is not verified: {rule.source}"
        warnings.warn(note, AssumptionWarning, stacklevel=4)
    return note


def rules(*, profile: Profile | str | Path | None = None) -> pd.DataFrame:
    """The park service-radius rules of a profile, for choosing a variant.

    Returns
    -------
    DataFrame
        Indexed by rule key: ``name_zh``, ``classes`` (readable, e.g. ``"≥5000 m² → 500 m;
        2000–5000 m² → 300 m"``), ``verified``, ``default`` and ``source``.
    """
    prof = resolve(profile)
    spec = _park_spec(prof)
    rows = []
    for key, r in spec.rules.items():
        rule = _make_rule(key, r)
        rows.append(
            {
                "rule": key,
                "name_zh": rule.name,
                "classes": "; ".join(f"{c.label} → {c.radius_m:g} m" for c in rule.classes),
                "verified": rule.verified,
                "default": key == spec.default_rule,
                "source": rule.source,
            }
        )
    return pd.DataFrame(rows).set_index("rule")


def _assign_classes(area_m2: np.ndarray, rule: _Rule) -> np.ndarray:
    """Position in ``rule.classes`` of each area's class (the largest radius that applies); -1 for none."""
    out = np.full(len(area_m2), -1, dtype=np.int64)
    for i in sorted(range(len(rule.classes)), key=lambda k: -rule.classes[k].radius_m):
        c = rule.classes[i]
        hit = (out < 0) & (area_m2 >= c.min_area_m2) & (area_m2 < c.max_area_m2)
        out[hit] = i
    return out


# -- geometry helpers ------------------------------------------------------------------------


def _boundary_geom(boundary: Any, crs: CRS) -> shapely.Geometry:
    """A study-area boundary (a layer in any CRS) as one polygon in ``crs``."""
    return _geom.polygon_union(boundary, crs=crs, what="boundary", drop_empty=True)


# -- tag rules and OSM parks -----------------------------------------------------------------


def _name_of(tags: dict[str, str]) -> str:
    return tags.get("name") or tags.get("name:zh") or tags.get("official_name") or ""


def _is_named_green_space(tags: dict[str, str], patterns: Sequence[str]) -> bool:
    """A named green polygon: a named green land use, or a name of the park patterns without another use."""
    name = _name_of(tags)
    if not name:
        return False
    if tags.get("leisure") in _NOT_PARK_LEISURE:
        return False
    if tags.get("landuse") in _GREEN_LANDUSE:
        return True
    if any(k in tags for k in _OTHER_USE_KEYS):
        return False
    landuse = tags.get("landuse")
    if landuse is not None and landuse not in _GREEN_LANDUSE:
        return False
    names = " ".join(v for k, v in tags.items() if k in ("name", "name:zh", "official_name", "alt_name")).casefold()
    return any(p.casefold() in names for p in patterns)


def _merge_pieces(
    geoms: np.ndarray, names: Sequence[str | None], ids: Sequence[str], how: Sequence[str], *, merge: bool, tol_m: float
) -> pd.DataFrame:
    """Group touching pieces (within ``tol_m``) into parks; one row per park, geometry = union of its pieces."""
    n = len(geoms)
    if n == 0:
        return pd.DataFrame({c: [] for c in [*COLUMNS[:-1], "geometry"]})
    if merge and n > 1:
        tree = shapely.STRtree(geoms)
        if tol_m > 0:
            i, j = tree.query(geoms, predicate="dwithin", distance=tol_m)
        else:
            i, j = tree.query(geoms, predicate="intersects")
        adj = sp.coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
        _, labels = connected_components(adj, directed=False)
    else:
        labels = np.arange(n)
    piece_area = shapely.area(geoms)
    rows = []
    # parks in the order of their first piece
    order = pd.unique(labels)
    members: dict[int, list[int]] = {}
    for pos, lab in enumerate(labels):
        members.setdefault(int(lab), []).append(pos)
    for lab in order:
        idx = sorted(members[int(lab)], key=lambda k: -piece_area[k])
        geom = shapely.union_all(geoms[idx]) if len(idx) > 1 else geoms[idx[0]]
        geom = _geom.polygonal(geom)
        park_names = list(dict.fromkeys(nm for nm in (names[k] for k in idx) if isinstance(nm, str) and nm))
        rows.append(
            {
                "park_id": ids[idx[0]],
                "name": " / ".join(park_names) if park_names else None,
                "area_m2": float(geom.area),
                "n_pieces": len(idx),
                "piece_ids": ";".join(ids[k] for k in idx),
                "matched_by": "+".join(sorted({how[k] for k in idx})),
                "geometry": geom,
            }
        )
    return pd.DataFrame(rows)


def _parks_frame(df: pd.DataFrame, crs: CRS, source: str) -> gpd.GeoDataFrame:
    out = _frames.geo_frame(
        {c: df[c].to_numpy() if c in df else [] for c in COLUMNS[:-1]},
        df["geometry"].to_numpy() if "geometry" in df else [],
        crs,
    )
    out["source"] = source
    out["area_m2"] = out["area_m2"].astype(float)
    out["n_pieces"] = out["n_pieces"].astype(np.int64)
    return out[[*COLUMNS, "geometry"]]


def from_osm(
    source: str | os.PathLike[str] | OSMExtract,
    *,
    profile: Profile | str | Path | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    buffer_m: float | None = None,
    crs: Any = None,
    name_patterns: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Parks from OpenStreetMap: polygons of the profile's park tags plus named green spaces.

    A polygon is a park when its tags match one of the profile's ``parks.osm`` rules
    (``leisure=park|garden``, ``landuse=recreation_ground|village_green`` in
    ``zhejiang-2023``), or when it is a *named green space*: a named ``landuse=grass``
    (meadow, village_green, recreation_ground, flowerbed), or a polygon whose name
    contains a park pattern (公园, 游园...) and that has no other use (no amenity, shop,
    building, non-green land use or sports leisure). Parks mapped as points have no area
    and are left out (logged).

    Touching pieces — within the profile's ``merge_tolerance_m`` (1 m) when
    ``merge_touching`` is set — are merged into one park *before* its area is measured.

    Parameters
    ----------
    source : path or OSMExtract
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file, or an extract already read with
        :func:`mtown_geo.sources.read_osm`.
    profile : Profile, str or path, optional
        The standard profile (default ``zhejiang-2023``).
    boundary : GeoDataFrame or GeoSeries, optional
        The study area (a layer in any CRS; a bare geometry has no CRS and is refused). Parks within
        ``buffer_m`` metres of it are kept — whole, so a park just outside the town still
        serves it and keeps its full size.
    buffer_m : float, optional
        How far outside the boundary parks are kept, metres. Default: the largest
        service radius of the profile's park rules (500 m), beyond which a park cannot
        serve the town.
    crs : optional
        Projected metric CRS of the result; default :func:`mtown_geo.crs.metric_crs` of
        the boundary, or of the extract when no boundary is given.
    name_patterns : sequence of str, optional
        Name fragments that mark a park (default: the profile's ``park`` category
        ``name_patterns``, else 公园 and 游园). Matched case-insensitively.

    Returns
    -------
    GeoDataFrame
        One row per park with :data:`COLUMNS` — ``park_id`` (``way/…`` or
        ``relation/…`` of its largest piece), ``name`` (names of its pieces), ``area_m2``
        (exact polygon area of the merged park, m²), ``n_pieces``, ``piece_ids``,
        ``matched_by`` (``tag``, ``name`` or both) and ``source`` (``osm``) — and
        (Multi)Polygon geometry in the metric CRS. Empty (with these columns) when the
        data has no park. Data © OpenStreetMap contributors.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    InputError
        A negative ``buffer_m`` or an empty boundary.
    """
    prof = resolve(profile)
    spec = _park_spec(prof)
    extract = source if isinstance(source, OSMExtract) else read_osm(source)
    if buffer_m is None:
        buffer_m = max(_make_rule(k, r).max_radius_m for k, r in spec.rules.items())
    if not buffer_m >= 0:
        raise InputError(f"buffer_m must be >= 0 metres, got {buffer_m}")
    if crs is not None:
        target = _crs.require_projected(crs, what="target CRS")
    elif boundary is not None:
        target = _crs.metric_crs(_geom.as_layer(boundary, what="boundary"))
    else:
        target = _crs.metric_crs(extract.bounds)
    if name_patterns is None:
        cat = prof.categories.get("park")
        name_patterns = list(cat.name_patterns) if cat is not None and cat.name_patterns else list(NAME_PATTERNS)
    feats = extract.features
    tags_arr = feats["tags"].to_numpy() if len(feats) else np.empty(0, dtype=object)
    polygonal = np.isin(shapely.get_type_id(feats.geometry.to_numpy()), _POLYGONAL) if len(feats) else np.zeros(0, bool)
    # the features tried: the polygons (the others have no area), and the rest too only to
    # log how many parks are left out for that
    tried = np.flatnonzero(polygonal) if not log.isEnabledFor(logging.INFO) else np.arange(len(feats))
    how: list[str | None] = [None] * len(feats)
    is_park = rules_matcher(spec.osm)
    for k in tried.tolist():
        tags = tags_arr[k]
        if not isinstance(tags, dict):
            continue
        if is_park(tags):
            how[k] = "tag"
        elif _is_named_green_space(tags, name_patterns):
            how[k] = "name"
    hit = np.array([h is not None for h in how], dtype=bool)
    if (hit & ~polygonal).any():
        log.info("%d parks mapped as points or lines have no area and are left out", int((hit & ~polygonal).sum()))
    sel = np.flatnonzero(hit & polygonal)
    sub = feats.iloc[sel]
    geoms, _ = _geom.valid_polygons(sub.geometry.to_crs(target), what="OSM park polygons", drop_empty=True)
    keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 0)
    sub, geoms = sub.iloc[np.flatnonzero(keep)], geoms[keep]
    ids = [f"{t}/{i}" for t, i in zip(sub["osm_type"], sub["osm_id"], strict=True)]
    names = [_name_of(t) or None for t in sub["tags"]]
    hows = [how[k] or "" for k in sel[keep]]
    merged = _merge_pieces(geoms, names, ids, hows, merge=spec.merge_touching, tol_m=spec.merge_tolerance_m)
    out = _parks_frame(merged, target, "osm")
    if boundary is not None and len(out):
        area = _boundary_geom(boundary, target)
        near = shapely.dwithin(out.geometry.to_numpy(), area, buffer_m)
        out = out.loc[near].reset_index(drop=True)
    log.info("%d parks from %s (%s)", len(out), extract.path.name if extract.path else "extract", ATTRIBUTION)
    return out


def from_landuse(
    landuse: gpd.GeoDataFrame,
    *,
    class_col: str | None = None,
    classes: Sequence[str] = LANDUSE_CLASSES,
    name_col: str | None = None,
    profile: Profile | str | Path | None = None,
) -> gpd.GeoDataFrame:
    """Parks from a planner's land-use layer (用地现状/规划图): the polygons of park classes.

    Parameters
    ----------
    landuse : GeoDataFrame
        Land-use polygons with a class column, in any CRS (a geographic CRS is projected
        to :func:`mtown_geo.crs.metric_crs`).
    class_col : str, optional
        The column with the land-use class. Default: the first of :data:`CLASS_COLUMNS`
        (用地代码, 用地分类, 地类编码, 用地类型, DLBM, YDDM, class, landuse) that the layer has.
    classes : sequence of str, optional
        Class values that mean a public park, compared as text after trimming spaces
        (default :data:`LANDUSE_CLASSES`: ``G1``, ``公园绿地`` and ``1401``).
    name_col : str, optional
        A column with park names (default ``name`` or ``名称`` when present).
    profile : Profile, str or path, optional
        Supplies ``merge_touching`` and ``merge_tolerance_m`` (default ``zhejiang-2023``).

    Returns
    -------
    GeoDataFrame
        One row per park (touching polygons merged) with :data:`COLUMNS` (``park_id`` is
        ``landuse/<row label of its largest piece>``, ``source`` is ``landuse``) in the
        layer's metric CRS; empty when no polygon has a park class.

    Raises
    ------
    InputError
        No class column, or not a GeoDataFrame.
    CRSError
        The layer has no CRS.
    """
    prof = resolve(profile)
    spec = _park_spec(prof)
    if not isinstance(landuse, gpd.GeoDataFrame):
        raise InputError(f"the land-use layer must be a GeoDataFrame, got {type(landuse).__name__}")
    _crs.require_crs(landuse, what="land-use layer")
    if class_col is None:
        class_col = next((c for c in CLASS_COLUMNS if c in landuse.columns), None)
        if class_col is None:
            raise InputError(
                f"the land-use layer has none of the class columns {list(CLASS_COLUMNS)}; "
                f"name it with class_col=... (its columns: {[c for c in landuse.columns if c != 'geometry']})"
            )
    elif class_col not in landuse.columns:
        raise InputError(f"the land-use layer has no column {class_col!r}; its columns: {list(landuse.columns)}")
    if name_col is None:
        name_col = next((c for c in ("name", "名称", "NAME") if c in landuse.columns), None)
    elif name_col not in landuse.columns:
        raise InputError(f"the land-use layer has no column {name_col!r}")
    target = _geom.target_crs(landuse, what="land-use layer") if len(landuse) else _crs.require_crs(landuse)
    wanted = {str(c).strip() for c in classes}
    values = landuse[class_col].map(lambda v: str(v).strip() if v is not None and not pd.isna(v) else "")
    is_park = values.isin(wanted).to_numpy()
    if not is_park.any() and len(landuse):
        log.info("no polygon of the classes %s in column %r", sorted(wanted), class_col)
    sub = landuse.loc[is_park]
    geoms = (
        _geom.valid_polygons(_geom.to_metric(sub, crs=target, what="land-use layer"), what="land-use layer", drop_empty=True)[0]
        if len(sub)
        else np.empty(0)
    )
    keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 0) if len(geoms) else np.zeros(0, bool)
    sub, geoms = sub.iloc[np.flatnonzero(keep)], geoms[keep]
    ids = [f"landuse/{i}" for i in sub.index]
    names = [v if isinstance(v, str) and v else None for v in sub[name_col]] if name_col else [None] * len(sub)
    merged = _merge_pieces(geoms, names, ids, ["class"] * len(sub), merge=spec.merge_touching, tol_m=spec.merge_tolerance_m)
    return _parks_frame(merged, target, "landuse")


def classify(
    parks: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    rule: str | ParkRule | None = None,
) -> gpd.GeoDataFrame:
    """Size class and service radius of each park under a rule.

    Parameters
    ----------
    parks : GeoDataFrame
        Park polygons in any CRS (:func:`from_osm`, :func:`from_landuse` or your own).
    profile : Profile, str or path, optional
        The standard profile (default ``zhejiang-2023``).
    rule : str or ParkRule, optional
        A rule of the profile's ``parks.rules`` (default its ``default_rule``,
        ``mohurd-2021``), or a :class:`~mtown_geo.standards.ParkRule`.

    Returns
    -------
    GeoDataFrame
        A copy, index-aligned with ``parks``, in the parks' metric CRS, with ``area_m2``
        (the exact polygon area, m²), ``size_class`` (class key such as ``"5000m2"``;
        ``None`` when the park is too small for any class), ``size_label`` (e.g.
        ``"≥5000 m²"``) and ``radius_m`` (service radius, m; NaN when none). A class
        covers ``min_area_m2 ≤ area < max_area_m2``.
    """
    rule_ = _resolve_rule(resolve(profile), rule)
    return _classify(parks, rule_)


def _classify(parks: gpd.GeoDataFrame, rule: _Rule, crs: CRS | None = None) -> gpd.GeoDataFrame:
    if not isinstance(parks, gpd.GeoDataFrame):
        raise InputError(f"parks must be a GeoDataFrame of polygons, got {type(parks).__name__}")
    _crs.require_crs(parks, what="park layer")
    target = crs if crs is not None else (_geom.target_crs(parks, what="park layer") if len(parks) else _crs.require_crs(parks))
    geoms = (
        _geom.valid_polygons(_geom.to_metric(parks, crs=target, what="park layer"), what="park layer", drop_empty=True)[0]
        if len(parks)
        else np.empty(0)
    )
    out = _frames.geo_frame(parks.drop(columns=parks.geometry.name), list(geoms), target, index=parks.index)
    area = shapely.area(geoms).astype(float) if len(geoms) else np.zeros(0)
    cls = _assign_classes(area, rule)
    out["area_m2"] = area
    out["size_class"] = [rule.classes[c].key if c >= 0 else None for c in cls]
    out["size_label"] = [rule.classes[c].label if c >= 0 else None for c in cls]
    out["radius_m"] = np.array([rule.classes[c].radius_m if c >= 0 else np.nan for c in cls], dtype=float)
    return out


# -- entrances -------------------------------------------------------------------------------


def _entrance_candidates(points: Any, crs: CRS) -> np.ndarray:
    """Candidate entrance points in ``crs`` from an OSM file/extract or a point layer."""
    if isinstance(points, (str, os.PathLike, OSMExtract)):
        ext = points if isinstance(points, OSMExtract) else read_osm(points)
        feats = ext.features
        if len(feats) == 0:
            return np.empty(0, dtype=object)

        def is_entrance(t: Any) -> bool:
            if not isinstance(t, dict) or t.get("access") in _CLOSED_ACCESS:
                return False
            return (t.get("entrance") is not None and t["entrance"] not in _BUILDING_ENTRANCES) or t.get("barrier") == "gate"

        geoms = feats.geometry
        ok = shapely.get_type_id(geoms.to_numpy()) == 0
        tags = feats["tags"].to_numpy()
        ok[ok] = [is_entrance(t) for t in tags[ok]]  # only the points are tried
        return np.asarray(geoms[ok].to_crs(crs).values, dtype=object)
    if isinstance(points, (gpd.GeoDataFrame, gpd.GeoSeries)):
        _crs.require_crs(points, what="entrance layer")
        geoms = np.asarray(_geom.to_metric(points, crs=crs, what="entrance layer").geometry.values, dtype=object)
        if isinstance(points, gpd.GeoDataFrame) and "tags" in points.columns:
            tags = points["tags"].to_numpy()
            keep = np.array(
                [isinstance(t, dict) and (t.get("entrance") is not None or t.get("barrier") == "gate") for t in tags], dtype=bool
            )
            geoms = geoms[keep]
        return geoms[(shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms)]
    raise InputError(
        f"entrance points must be an OSM file, an OSMExtract or a GeoDataFrame of points, got {type(points).__name__}"
    )


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exterior rings of the polygon parts and the position of the geometry each belongs to."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    return shapely.get_exterior_ring(parts), owner


def _crossings(rings: np.ndarray, ring_owner: np.ndarray, network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Points where network edges cross (or touch) the rings, with their owner."""
    ri, ei = network.edge_tree.query(rings, predicate="intersects")
    if len(ri) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    cross = shapely.intersection(rings[ri], np.asarray(network.edges.geometry.values)[ei])
    parts, pidx = shapely.get_parts(cross, return_index=True)
    tid = shapely.get_type_id(parts)
    pts = list(parts[tid == 0])
    own = list(ring_owner[ri[pidx[tid == 0]]])
    lines = np.flatnonzero(tid == 1)  # an edge running along the boundary: its two ends
    for k in lines:
        b = shapely.get_parts(shapely.boundary(parts[k]))
        pts.extend(b)
        own.extend([ring_owner[ri[pidx[k]]]] * len(b))
    return np.asarray(pts, dtype=object), np.asarray(own, dtype=np.int64)


def _perimeter(rings: np.ndarray, ring_owner: np.ndarray, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    lengths = shapely.length(rings)
    n = np.maximum(1, np.ceil(lengths / spacing_m).astype(np.int64))
    rep = np.repeat(np.arange(len(rings)), n)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    k = np.arange(int(n.sum())) - np.repeat(start, n)
    return shapely.line_interpolate_point(rings[rep], k * (lengths[rep] / n[rep])), ring_owner[rep]


def entrances(
    parks: gpd.GeoDataFrame,
    network: Network,
    *,
    points: EntrancePoints | None = None,
    profile: Profile | str | Path | None = None,
    rule: str | ParkRule | None = None,
    max_dist_m: float = _ENTRANCE_DIST_M,
    crossings: Literal["fallback", "always"] = "always",
    spacing_m: float = _PERIMETER_SPACING_M,
) -> gpd.GeoDataFrame:
    """The ways into each park that has a service radius.

    For each park of a size class, in this order of preference:

    1. ``entrance``: mapped entrances within ``max_dist_m`` of the park's edge — OSM
       ``entrance=*`` (not building doors such as ``staircase`` or ``garage``) and
       ``barrier=gate`` nodes, not ``access=private|no``, from ``points``; each entrance
       belongs to the nearest park edge;
    2. ``crossing``: where the network crosses or touches the park's outer boundary — a
       path through a park's edge is a way in, mapped as an entrance or not (for every
       park by default; with ``crossings="fallback"`` only for parks without a mapped
       entrance);
    3. ``perimeter``: points every ``spacing_m`` metres along the outer boundary, for a
       park that no path enters (a square open on all sides).

    Parameters
    ----------
    parks : GeoDataFrame
        Park polygons, any CRS.
    network : Network
        The walk network; entrances are returned in its CRS.
    points : path, OSMExtract or GeoDataFrame, optional
        Where mapped entrances come from: an OSM file or extract (its ``entrance`` and
        ``barrier=gate`` nodes), or a point layer of entrances (all its points are
        candidates; with a ``tags`` column only entrance and gate tags).
    profile, rule :
        The park rule that gives the size classes (see :func:`classify`).
    max_dist_m : float, optional
        Largest distance (m) between a mapped entrance and the park's edge (default 20).
    crossings : {"always", "fallback"}
        Use network crossings for every park in addition to its mapped entrances
        (default: OSM rarely maps every gate), or only for parks without a mapped
        entrance.
    spacing_m : float, optional
        Spacing of perimeter points (m).

    Returns
    -------
    GeoDataFrame
        Points in the network's CRS with ``park`` (the park's row label in ``parks``),
        ``park_id`` (when ``parks`` has one), ``size_class``, ``size_label``,
        ``radius_m`` and ``via`` (``entrance``, ``crossing`` or ``perimeter``).
    """
    if not isinstance(network, Network):
        raise InputError(f"network must be a mtown_geo Network (mtown_geo.network.from_osm), got {type(network).__name__}")
    if crossings not in ("fallback", "always"):
        raise InputError(f"crossings must be 'fallback' or 'always', got {crossings!r}")
    if not max_dist_m >= 0 or not spacing_m > 0:
        raise InputError("max_dist_m must be >= 0 and spacing_m > 0 (metres)")
    rule_ = _resolve_rule(resolve(profile), rule)
    classed = _classify(parks, rule_, crs=network.crs)
    return _entrances(classed, network, points=points, max_dist_m=max_dist_m, crossings=crossings, spacing_m=spacing_m)


def _entrances(
    classed: gpd.GeoDataFrame,
    network: Network,
    *,
    points: Any,
    max_dist_m: float,
    crossings: str,
    spacing_m: float,
) -> gpd.GeoDataFrame:
    served = np.flatnonzero(classed["radius_m"].notna().to_numpy())
    geoms = np.asarray(classed.geometry.to_crs(network.crs).values, dtype=object)[served]
    pts: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    via: list[np.ndarray] = []
    has = np.zeros(len(served), dtype=bool)
    if points is not None and len(served):
        cand = _entrance_candidates(points, network.crs)
        if len(cand):
            edges_ = shapely.boundary(geoms)
            tree = shapely.STRtree(edges_)
            ci, pi = tree.query_nearest(cand, max_distance=max_dist_m, all_matches=False)
            if len(ci):
                pts.append(cand[ci])
                owner.append(pi)
                via.append(np.full(len(ci), "entrance", dtype=object))
                has[pi] = True
    if len(served):
        rings, ring_owner = _rings(geoms)
        need = np.ones(len(served), dtype=bool) if crossings == "always" else ~has
        sel = need[ring_owner]
        cp, co = _crossings(rings[sel], ring_owner[sel], network)
        if len(cp):
            pts.append(cp)
            owner.append(co)
            via.append(np.full(len(cp), "crossing", dtype=object))
            has[co] = True
        none = ~has
        if none.any():
            sel = none[ring_owner]
            pp, po = _perimeter(rings[sel], ring_owner[sel], spacing_m)
            pts.append(pp)
            owner.append(po)
            via.append(np.full(len(pp), "perimeter", dtype=object))
            log.info(
                "%d parks have no mapped entrance and no path into them: reached from points every %g m of their edge",
                int(none.sum()),
                spacing_m,
            )
    if not pts:
        cols = ["park", "park_id", "size_class", "size_label", "radius_m", "via"]
        return _frames.geo_frame({c: [] for c in cols}, [], network.crs)
    own = np.concatenate(owner)
    geom = np.concatenate(pts)
    park = classed.index.to_numpy()[served[own]]
    # one point per location and park: the first of each (park, x, y) to the centimetre
    key = pd.DataFrame(
        {
            "p": pd.Series(park, copy=False).astype(str).to_numpy(),
            "x": np.round(shapely.get_x(geom), 2),
            "y": np.round(shapely.get_y(geom), 2),
        }
    )
    first = np.flatnonzero(~key.duplicated().to_numpy())
    rows = served[own[first]]
    return _frames.geo_frame(
        {
            "park": park[first],
            "park_id": classed["park_id"].to_numpy()[rows] if "park_id" in classed else park[first],
            "size_class": classed["size_class"].to_numpy()[rows],
            "size_label": classed["size_label"].to_numpy()[rows],
            "radius_m": classed["radius_m"].to_numpy()[rows],
            "via": np.concatenate(via)[first],
        },
        geom[first],
        network.crs,
    )
