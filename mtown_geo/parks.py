"""Parks and their service radii: 公园绿地服务半径覆盖率 (row 8 of the 2023 policy annex).

A park serves the land within its *service radius* (服务半径), and the radius depends on
the park's size. The default rule of the ``zhejiang-2023`` profile (``mohurd-2021``, from
the 城市体检 2021 indicator notes) gives parks of 5000 m² and more a 500 m radius and parks
of 2000–5000 m² a 300 m radius; smaller parks have none. The indicator is

    residential land inside the built-up area within a park's service radius
    ÷ all residential land inside the built-up area.

Everything here is exact areal overlay in a projected metric CRS: park areas are polygon
areas, service areas are buffers of the park *boundary* (circular arcs drawn with 128
segments per quarter circle: a full circle's area is within 0.003 % of the true one's),
overlapping buffers are unioned (land is counted once) and the covered land is the
intersection of that union with the residential land — no sampling.

Touching pieces of one park (OSM often maps a park as several polygons split by its paths)
are merged before their size is measured, so a park of two 3000 m² halves counts as one
6000 m² park.

The *network* variant walks the same radii along the walk network from the parks'
entrances (OSM ``entrance=*`` or ``barrier=gate`` nodes on the park edge; else the points
where the walk network crosses the park boundary; else points along the boundary), on a
grid of demand units over the residential land, and is reported beside the official
straight-line rate. A walk is never shorter than the straight line, so land outside a
class's buffer is never counted as reached on foot.

Typical use::

    parks = mtown_geo.parks.from_osm("town.osm.pbf", boundary=town)
    cov = mtown_geo.parks.service_radius_coverage(parks, residential, builtup=builtup)
    cov.rate, cov.by_class
    layers = mtown_geo.parks.coverage_layers(parks, residential, builtup=builtup)

Data from OpenStreetMap is © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components

from . import _frames, _geom, access, demand
from . import crs as _crs
from ._errors import AssumptionWarning, InputError, ProfileError
from .network import Network
from .sources.osm import ATTRIBUTION, OSMExtract, read_osm
from .standards import ParkRule, ParkSpec, Profile, resolve

__all__ = [
    "COLUMNS",
    "ParkAreaPerCapita",
    "ParkCoverage",
    "area_per_capita",
    "classify",
    "coverage_layers",
    "entrances",
    "from_landuse",
    "from_osm",
    "rules",
    "service_radius_coverage",
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
_QUAD_SEGS = 128
_PERIMETER_SPACING_M = 25.0
_ENTRANCE_DIST_M = 20.0
_POLYGONAL = (3, 6)


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


def _residential_land(residential: Any, builtup: Any, crs: CRS) -> shapely.Geometry:
    land = _geom.polygon_union(residential, crs=crs, what="residential land", drop_empty=True)
    if builtup is not None:
        land = shapely.intersection(land, _geom.polygon_union(builtup, crs=crs, what="built-up area", drop_empty=True))
        land = _geom.polygonal(land)
        if land.is_empty or land.area <= 0:
            raise InputError(
                "no residential land lies inside the built-up area: the coverage rate has no denominator. "
                "Check that both layers cover the same town and are in the right CRS"
            )
    return land


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
    out = gpd.GeoDataFrame(
        {c: df[c].to_numpy() if c in df else [] for c in COLUMNS[:-1]},
        geometry=df["geometry"].to_numpy() if "geometry" in df else [],
        crs=crs,
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
    tags_list = feats["tags"].tolist() if len(feats) else []
    how: list[str | None] = []
    for tags in tags_list:
        if not isinstance(tags, dict):
            how.append(None)
        elif any(r.matches(tags) for r in spec.osm):
            how.append("tag")
        elif _is_named_green_space(tags, name_patterns):
            how.append("name")
        else:
            how.append(None)
    hit = np.array([h is not None for h in how], dtype=bool)
    polygonal = np.isin(shapely.get_type_id(feats.geometry.to_numpy()), _POLYGONAL) if len(feats) else np.zeros(0, bool)
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
    out = gpd.GeoDataFrame(parks.drop(columns=parks.geometry.name), geometry=list(geoms), crs=target, index=parks.index)
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

        ok = feats["tags"].map(is_entrance).to_numpy(dtype=bool) & (shapely.get_type_id(feats.geometry.to_numpy()) == 0)
        return np.asarray(feats.loc[ok].geometry.to_crs(crs).values, dtype=object)
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
    points: str | os.PathLike[str] | OSMExtract | gpd.GeoDataFrame | gpd.GeoSeries | None = None,
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
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=network.crs)
    own = np.concatenate(owner)
    rows = served[own]
    out = gpd.GeoDataFrame(
        {
            "park": classed.index.to_numpy()[rows],
            "park_id": classed["park_id"].to_numpy()[rows] if "park_id" in classed else classed.index.to_numpy()[rows],
            "size_class": classed["size_class"].to_numpy()[rows],
            "size_label": classed["size_label"].to_numpy()[rows],
            "radius_m": classed["radius_m"].to_numpy()[rows],
            "via": np.concatenate(via),
        },
        geometry=np.concatenate(pts),
        crs=network.crs,
    )
    # one point per location and park
    key = pd.DataFrame(
        {"p": out["park"].astype(str).to_numpy(), "x": np.round(out.geometry.x, 2), "y": np.round(out.geometry.y, 2)}
    )
    return out.loc[~key.duplicated().to_numpy()].reset_index(drop=True)


# -- coverage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParkCoverage:
    """Park service-radius coverage of residential land (公园绿地服务半径覆盖率).

    Attributes
    ----------
    rule : str
        Key of the park rule used (e.g. ``"mohurd-2021"``).
    rule_name : str
        Its name, e.g. ``"城市体检 2021 (≥5000 m² → 500 m; 2000–5000 m² → 300 m)"``.
    verified : bool
        Whether the profile marks the rule as read in a source (``False``: an
        assumption, to be labelled as such wherever the number is reported).
    source : str
        Where the rule comes from.
    covered_m2 : float
        Residential land (inside the built-up area) within a park's service radius,
        straight-line buffer from the park boundary, m².
    total_m2 : float
        All residential land inside the built-up area, m².
    rate : float
        ``covered_m2 / total_m2`` (0–1).
    n_parks : int
        Parks that have a service radius (are in a size class).
    by_class : DataFrame
        One row per size class (index: class key) and a last row ``"none"`` for parks
        too small for any class: ``size_label``, ``min_area_m2``, ``max_area_m2``,
        ``radius_m``, ``parks``, ``park_area_m2``, ``covered_m2`` and ``rate`` (land
        within that class's radius; classes overlap, so they need not add up to the
        total), ``network_covered_m2`` and ``network_rate``.
    network_covered_m2 : float
        Residential land whose walk distance to an entrance of a park of some class is
        within that class's radius, m² (NaN when no network was given).
    network_rate : float
        ``network_covered_m2 / total_m2`` (NaN when no network was given).
    network_mode : str
        Mode of the network used (``""`` when none).
    notes : tuple of str
        What a reader must know: no park, unverified rule, parks too small, fallbacks.
    """

    rule: str
    rule_name: str
    verified: bool
    source: str
    covered_m2: float
    total_m2: float
    rate: float
    n_parks: int
    by_class: pd.DataFrame
    network_covered_m2: float
    network_rate: float
    network_mode: str
    notes: tuple[str, ...]
    layers: Mapping[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def percent(self) -> float:
        """The straight-line rate in percent (the figure of the policy annex)."""
        return 100.0 * self.rate

    def to_frame(self) -> pd.DataFrame:
        """The result as a one-row DataFrame (notes joined by ``"; "``)."""
        return pd.DataFrame(
            [
                {
                    "rule": self.rule,
                    "rule_name": self.rule_name,
                    "verified": self.verified,
                    "covered_m2": self.covered_m2,
                    "total_m2": self.total_m2,
                    "rate": self.rate,
                    "n_parks": self.n_parks,
                    "network_covered_m2": self.network_covered_m2,
                    "network_rate": self.network_rate,
                    "network_mode": self.network_mode,
                    "source": self.source,
                    "notes": "; ".join(self.notes),
                }
            ]
        )


@dataclass(frozen=True)
class _Overlay:
    rule: _Rule
    crs: CRS
    land: shapely.Geometry
    parks: gpd.GeoDataFrame
    buffers: dict[str, shapely.Geometry]
    covered: shapely.Geometry
    notes: list[str]
    net_units: gpd.GeoDataFrame | None = None
    net_covered: dict[str, shapely.Geometry] | None = None
    net_all: shapely.Geometry | None = None
    entrances: gpd.GeoDataFrame | None = None
    network_mode: str = ""


def _overlay(
    parks: gpd.GeoDataFrame,
    residential: Any,
    *,
    profile: Profile | str | Path | None,
    rule: str | ParkRule | None,
    builtup: Any,
    network: Network | None,
    entrance_points: Any,
    cell_m: float,
) -> _Overlay:
    prof = resolve(profile)
    rule_ = _resolve_rule(prof, rule)
    crs = _geom.target_crs(residential, what="residential land")
    if not isinstance(parks, gpd.GeoDataFrame):
        raise InputError(f"parks must be a GeoDataFrame of polygons, got {type(parks).__name__}")
    if network is not None:
        if not isinstance(network, Network):
            raise InputError(f"network must be a mtown_geo Network, got {type(network).__name__}")
        mode = prof.modes.get(network.mode)
        if mode is not None and mode.network != "walk":
            raise InputError(
                f"the network variant walks to the parks, but the network is of the {network.mode!r} mode: "
                "build a walk network with mtown_geo.network.from_osm(..., mode='walk')"
            )
    if not cell_m > 0:
        raise InputError(f"cell_m must be positive, got {cell_m}")
    land = _residential_land(residential, builtup, crs)
    notes: list[str] = []
    note = _flag_unverified(rule_)
    if note:
        notes.append(note)
    classed = _classify(parks, rule_, crs=crs)
    buffers: dict[str, shapely.Geometry] = {}
    for c in rule_.classes:
        geoms = classed.geometry.to_numpy()[(classed["size_class"] == c.key).to_numpy()]
        buffers[c.key] = (
            shapely.union_all(shapely.buffer(geoms, c.radius_m, quad_segs=_QUAD_SEGS)) if len(geoms) else shapely.Polygon()
        )
    reach_all = shapely.union_all(list(buffers.values()))
    covered = _geom.polygonal(shapely.intersection(land, reach_all))
    no_area = (classed["area_m2"] <= 0).to_numpy()
    n_small = int((classed["radius_m"].isna().to_numpy() & ~no_area).sum())
    if classed["radius_m"].notna().sum() == 0:
        notes.append(
            f"no park of {rule_.smallest_m2:g} m² or more among the {len(parks)} parks given: "
            "no land is within a park's service radius, the coverage is 0"
        )
    elif covered.area == 0:
        notes.append("no residential land lies within any park's service radius: the coverage is 0")
    if n_small:
        notes.append(f"{n_small} parks smaller than {rule_.smallest_m2:g} m² have no service radius under rule {rule_.key!r}")
    if no_area.any():
        notes.append(
            f"{int(no_area.sum())} rows of the park layer have no polygon (empty, point or line geometry) and were ignored"
        )
    ov = _Overlay(rule=rule_, crs=crs, land=land, parks=classed, buffers=buffers, covered=covered, notes=notes)
    if network is None:
        return ov
    return _network_overlay(ov, network, entrance_points=entrance_points, cell_m=cell_m)


def _distance_network(network: Network) -> Network:
    """The network with every edge timed at the access speed, so that minutes × speed = metres."""
    v = network.access_speed_kmh * 1000.0 / 60.0
    t = network.edges["length_m"].to_numpy(dtype=float) / v
    back = np.where(np.isfinite(network.edges["time_rev_min"].to_numpy(dtype=float)), t, np.inf)
    return network.with_edge_times(t, back)


def _network_overlay(ov: _Overlay, network: Network, *, entrance_points: Any, cell_m: float) -> _Overlay:
    notes = list(ov.notes)
    if entrance_points is not None and isinstance(entrance_points, gpd.GeoDataFrame) and "size_class" in entrance_points:
        ent = entrance_points.to_crs(network.crs)
    else:
        ent = _entrances(
            ov.parks,
            network,
            points=entrance_points,
            max_dist_m=_ENTRANCE_DIST_M,
            crossings="always",
            spacing_m=_PERIMETER_SPACING_M,
        )
    ent = ent[ent["size_class"].notna()]
    units = demand.grid(gpd.GeoSeries([ov.land], crs=ov.crs), cell_m=cell_m)
    keys = [c.key for c in ov.rule.classes]
    dist = pd.DataFrame(np.inf, index=units.index, columns=keys)
    v = network.access_speed_kmh * 1000.0 / 60.0
    present = [k for k in keys if (ent["size_class"] == k).any()]
    if present:
        fac = gpd.GeoDataFrame({"category": ent["size_class"].to_numpy()}, geometry=ent.geometry.to_numpy(), crs=ent.crs)
        limit_min = ov.rule.max_radius_m / v * (1 + 1e-9) + 1e-9
        r = access.reach(_distance_network(network), fac, categories=present, max_time_min=limit_min)
        minutes = r.at(units)
        for k in present:
            dist[k] = minutes[k].to_numpy() * v
    via = ent["via"].value_counts()
    if via.get("perimeter", 0):
        n_p = ent.loc[ent["via"] == "perimeter", "park"].nunique()
        notes.append(f"network: {n_p} parks with no mapped entrance and no path into them are reached from their whole edge")
    cells = demand.cells(units).geometry.to_numpy()
    net_cov: dict[str, shapely.Geometry] = {}
    cov_any = np.zeros(len(units), dtype=bool)
    out_units = gpd.GeoDataFrame(units.drop(columns=units.geometry.name), geometry=cells, crs=units.crs)
    out_units["origin_x"] = units.geometry.x.to_numpy()
    out_units["origin_y"] = units.geometry.y.to_numpy()
    for c in ov.rule.classes:
        hit = dist[c.key].to_numpy() <= c.radius_m * (1 + 1e-9)
        cov_any |= hit
        out_units[f"walk_m_{c.key}"] = dist[c.key].to_numpy()
        out_units[f"covered_{c.key}"] = hit
        if hit.any():
            block = shapely.union_all(cells[hit])
            net_cov[c.key] = _geom.polygonal(shapely.intersection(shapely.intersection(block, ov.land), ov.buffers[c.key]))
        else:
            net_cov[c.key] = shapely.Polygon()
    out_units["covered"] = cov_any
    net_all = _geom.polygonal(shapely.union_all(list(net_cov.values())))
    return _Overlay(
        rule=ov.rule,
        crs=ov.crs,
        land=ov.land,
        parks=ov.parks,
        buffers=ov.buffers,
        covered=ov.covered,
        notes=notes,
        net_units=out_units,
        net_covered=net_cov,
        net_all=net_all,
        entrances=ent,
        network_mode=network.mode,
    )


def service_radius_coverage(
    parks: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    profile: Profile | str | Path | None = None,
    rule: str | ParkRule | None = None,
    builtup: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    network: Network | None = None,
    entrance_points: str | os.PathLike[str] | OSMExtract | gpd.GeoDataFrame | None = None,
    cell_m: float = 25.0,
    layers: bool = False,
) -> ParkCoverage:
    """Park service-radius coverage of residential land: row 8 of the policy annex.

    Each park gets the service radius of its size class under the rule; the radius is
    buffered from the park boundary; buffers are unioned (land within reach of two parks
    counts once) and intersected with the residential land inside the built-up area.
    All areas are exact polygon areas in the residential layer's metric CRS.

    Parameters
    ----------
    parks : GeoDataFrame
        Park polygons (:func:`from_osm`, :func:`from_landuse` or your own), any CRS.
        Parks outside the town serve the land within their radius. An empty layer gives
        a coverage of 0 with a note.
    residential : GeoDataFrame or GeoSeries
        Residential land (居住用地) polygons, any CRS (a geographic CRS is projected with
        :func:`mtown_geo.crs.metric_crs`). Overlapping polygons count once.
    profile : Profile, str or path, optional
        The standard profile (default ``zhejiang-2023``).
    rule : str or ParkRule, optional
        The park rule: ``"mohurd-2021"`` (default of ``zhejiang-2023``: ≥5000 m² → 500 m,
        2000–5000 m² → 300 m), ``"historic-district"``, ``"variant-1ha"``, or a
        :class:`~mtown_geo.standards.ParkRule`. An unverified rule issues an
        :class:`~mtown_geo.AssumptionWarning` and is flagged in the result.
    builtup : GeoDataFrame or GeoSeries, optional
        The built-up area (建成区); only residential land inside it counts. Default: all
        the residential land given.
    network : Network, optional
        A walk network: also measure the network variant (walk distance from park
        entrances within the same radii), reported in ``network_covered_m2`` and
        ``network_rate``.
    entrance_points : path, OSMExtract or GeoDataFrame, optional
        Where the network variant finds mapped park entrances (see :func:`entrances`;
        an OSM file gives its ``entrance`` and ``barrier=gate`` nodes), or the result of
        :func:`entrances` itself. Without it, parks are entered where paths cross their
        boundary.
    cell_m : float, optional
        Side of the demand-unit grid (m) over the residential land for the network
        variant (default 25): the walk distance of a cell is measured from its centre,
        and only the part of a reached cell within the class's straight-line buffer
        counts.
    layers : bool, optional
        Also return the map layers of :func:`coverage_layers` in ``ParkCoverage.layers``
        (from the same overlay, at no extra cost).

    Returns
    -------
    ParkCoverage

    Raises
    ------
    InputError
        Empty residential layer, residential land without area, or none inside the
        built-up area (the rate would have no denominator); unknown rule.
    CRSError
        A layer without CRS, or in a projected CRS not measured in metres.
    """
    ov = _overlay(
        parks,
        residential,
        profile=profile,
        rule=rule,
        builtup=builtup,
        network=network,
        entrance_points=entrance_points,
        cell_m=cell_m,
    )
    total = float(ov.land.area)
    rows = []
    for c in ov.rule.classes:
        in_c = (ov.parks["size_class"] == c.key).to_numpy()
        cov_c = float(shapely.intersection(ov.land, ov.buffers[c.key]).area) if in_c.any() else 0.0
        net_c = float(ov.net_covered[c.key].area) if ov.net_covered is not None else math.nan
        rows.append(
            {
                "size_class": c.key,
                "size_label": c.label,
                "min_area_m2": c.min_area_m2,
                "max_area_m2": c.max_area_m2,
                "radius_m": c.radius_m,
                "parks": int(in_c.sum()),
                "park_area_m2": float(ov.parks["area_m2"].to_numpy()[in_c].sum()),
                "covered_m2": cov_c,
                "rate": cov_c / total,
                "network_covered_m2": net_c,
                "network_rate": net_c / total,
            }
        )
    small = ov.parks["radius_m"].isna().to_numpy() & (ov.parks["area_m2"].to_numpy() > 0)
    rows.append(
        {
            "size_class": "none",
            "size_label": f"<{ov.rule.smallest_m2:g} m² (no radius)",
            "min_area_m2": 0.0,
            "max_area_m2": ov.rule.smallest_m2,
            "radius_m": math.nan,
            "parks": int(small.sum()),
            "park_area_m2": float(ov.parks["area_m2"].to_numpy()[small].sum()),
            "covered_m2": math.nan,
            "rate": math.nan,
            "network_covered_m2": math.nan,
            "network_rate": math.nan,
        }
    )
    net_cov = float(ov.net_all.area) if ov.net_all is not None else math.nan
    return ParkCoverage(
        layers=_layers_of(ov) if layers else {},
        rule=ov.rule.key,
        rule_name=ov.rule.name,
        verified=ov.rule.verified,
        source=ov.rule.source,
        covered_m2=float(ov.covered.area),
        total_m2=total,
        rate=float(ov.covered.area) / total,
        n_parks=int(ov.parks["radius_m"].notna().sum()),
        by_class=pd.DataFrame(rows).set_index("size_class"),
        network_covered_m2=net_cov,
        network_rate=net_cov / total,
        network_mode=ov.network_mode,
        notes=tuple(ov.notes),
    )


def coverage_layers(
    parks: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    profile: Profile | str | Path | None = None,
    rule: str | ParkRule | None = None,
    builtup: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    network: Network | None = None,
    entrance_points: str | os.PathLike[str] | OSMExtract | gpd.GeoDataFrame | None = None,
    cell_m: float = 25.0,
) -> dict[str, gpd.GeoDataFrame]:
    """The layers of a park-coverage map (same arguments as :func:`service_radius_coverage`).

    Returns
    -------
    dict of str to GeoDataFrame
        In the residential layer's metric CRS:

        * ``parks``: the parks with ``area_m2``, ``size_class``, ``size_label``,
          ``radius_m`` (index-aligned with ``parks``);
        * ``buffers``: one row per size class, the union of its parks' service areas;
        * ``covered`` / ``uncovered``: residential land inside the built-up area within /
          beyond every service radius (one row each, with ``area_m2``);

        and, with a network: ``entrances`` (points, with ``via``), ``units`` (the grid
        cells with their residential ``area_m2``, the point the walk starts from
        ``origin_x``/``origin_y``, walk distance ``walk_m_<class>`` in metres to the
        nearest entrance of each class (``inf`` beyond the rule's largest radius),
        ``covered_<class>`` and ``covered``) and ``network_covered`` (residential land
        reached on foot, one row).
    """
    ov = _overlay(
        parks,
        residential,
        profile=profile,
        rule=rule,
        builtup=builtup,
        network=network,
        entrance_points=entrance_points,
        cell_m=cell_m,
    )
    return _layers_of(ov)


def _layers_of(ov: _Overlay) -> dict[str, gpd.GeoDataFrame]:
    crs = ov.crs
    buf = gpd.GeoDataFrame(
        {
            "size_class": [c.key for c in ov.rule.classes],
            "size_label": [c.label for c in ov.rule.classes],
            "radius_m": [c.radius_m for c in ov.rule.classes],
            "parks": [int((ov.parks["size_class"] == c.key).sum()) for c in ov.rule.classes],
        },
        geometry=[ov.buffers[c.key] for c in ov.rule.classes],
        crs=crs,
    )
    uncovered = _geom.polygonal(shapely.difference(ov.land, ov.covered))
    out = {
        "parks": ov.parks,
        "buffers": buf,
        "covered": gpd.GeoDataFrame({"area_m2": [float(ov.covered.area)]}, geometry=[ov.covered], crs=crs),
        "uncovered": gpd.GeoDataFrame({"area_m2": [float(uncovered.area)]}, geometry=[uncovered], crs=crs),
    }
    if ov.net_units is not None and ov.entrances is not None and ov.net_all is not None:
        out["entrances"] = ov.entrances
        out["units"] = ov.net_units
        out["network_covered"] = gpd.GeoDataFrame({"area_m2": [float(ov.net_all.area)]}, geometry=[ov.net_all], crs=crs)
    return out


# -- park area per resident ----------------------------------------------------------------


@dataclass(frozen=True)
class ParkAreaPerCapita:
    """Park area per resident (人均公园绿地面积).

    Attributes
    ----------
    park_area_m2 : float
        Area of the parks (overlaps counted once; inside the scope when one was given), m².
    pop : float
        Residents.
    m2_per_person : float
        ``park_area_m2 / pop``.
    min_m2_per_person : float
        The profile's floor (GB 55014-2021: more than 8 m² per person).
    meets : bool
        Whether ``m2_per_person`` is above the floor.
    source : str
        Where the floor comes from.
    notes : tuple of str
    """

    park_area_m2: float
    pop: float
    m2_per_person: float
    min_m2_per_person: float
    meets: bool
    source: str
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The result as a one-row DataFrame (notes joined by ``"; "``)."""
        return _frames.one_row(self)


def area_per_capita(
    parks: gpd.GeoDataFrame,
    pop: float,
    *,
    scope: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    profile: Profile | str | Path | None = None,
) -> ParkAreaPerCapita:
    """Park area per resident, m²/person, against the GB 55014-2021 floor (> 8 m²).

    Parameters
    ----------
    parks : GeoDataFrame
        Park polygons, any CRS; every park counts, whatever its size.
    pop : float
        Resident population (常住人口) of the area, > 0.
    scope : GeoDataFrame or GeoSeries, optional
        Count only park land inside this area (the town or the built-up area).
    profile : Profile, str or path, optional
        Supplies ``per_capita_min_m2`` and its source (default ``zhejiang-2023``).

    Returns
    -------
    ParkAreaPerCapita
    """
    prof = resolve(profile)
    spec = _park_spec(prof)
    if isinstance(pop, bool) or not isinstance(pop, (int, float, np.integer, np.floating)):
        raise InputError(f"pop must be a number of residents, got {type(pop).__name__}")
    if not (math.isfinite(float(pop)) and pop > 0):
        raise InputError(f"pop must be a positive number of residents (the denominator), got {pop}")
    if not isinstance(parks, gpd.GeoDataFrame):
        raise InputError(f"parks must be a GeoDataFrame of polygons, got {type(parks).__name__}")
    notes: list[str] = []
    if len(parks) == 0:
        area = 0.0
        notes.append("no park given: park area per resident is 0")
    else:
        crs = _geom.target_crs(parks, what="park layer")
        land = _geom.polygon_union(parks, crs=crs, what="park layer", allow_empty=True)
        if scope is not None:
            land = _geom.polygonal(shapely.intersection(land, _geom.polygon_union(scope, crs=crs, what="scope", drop_empty=True)))
        area = float(land.area)
    per = area / float(pop)
    return ParkAreaPerCapita(
        park_area_m2=area,
        pop=float(pop),
        m2_per_person=per,
        min_m2_per_person=spec.per_capita_min_m2,
        meets=bool(per > spec.per_capita_min_m2),
        source=spec.per_capita_source,
        notes=tuple(notes),
    )
