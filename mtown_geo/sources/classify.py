"""Classification of tagged features into the profile's facility categories.

:func:`classify` puts any layer of tagged features (OpenStreetMap, or names read from a POI
table) into the profile's categories. The rules are data in the profile: OSM tag
combinations, Chinese name patterns (幼儿园, 小学, 卫生院, 文化礼堂...) and fallbacks (a school
whose level is not known counts as a primary school) — every match records how it was made.
It reads no file: :func:`mtown_geo.facilities.from_osm` (OpenStreetMap) and
:func:`mtown_geo.sources.read_facility_table` (POI tables) call it, and
``mtown_geo.facilities.classify`` is this function.

A facility that belongs to several categories (a 九年一贯制 school is both a primary
and a middle school) gives one row per category; ``facility_id`` ties them together.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import crs as _crs
from .._errors import InputError
from ..standards import Profile, TagRule, resolve
from .osm import NAME_KEYS

__all__ = ["COLUMNS", "FacilityReport", "classify"]

log = logging.getLogger(__name__)

#: Columns of a facility layer, besides geometry.
COLUMNS = ["facility_id", "category", "name", "source", "osm_id", "matched_by", "area_m2"]

_POLYGONAL = (3, 6)

_NAME_ONLY = {*NAME_KEYS, "name:en", "addr:street", "addr:housenumber"}
_HOW = np.array(["", "tag", "name", "fallback"], dtype=object)


def _name_of(tags: dict[str, str]) -> str:
    return tags.get("name") or tags.get("name:zh") or tags.get("official_name") or ""


@dataclass(frozen=True)
class FacilityReport:
    """What :func:`classify` did besides matching rules (``result.attrs["facility_report"]``).

    Attributes
    ----------
    merged : tuple of (category, kept facility_id, merged facility_id, name)
        Facilities mapped twice — a point or a smaller outline inside an outline of the
        same category and name (a node inside its own building) — counted once: the
        outline is kept.
    not_public : tuple of (category, facility_id, name, reason)
        Features left out of a category marked ``public`` in the profile: tagged
        ``access=private|no``, or inside closed grounds (a university campus).
    """

    merged: tuple[tuple[str, str, str, str | None], ...] = ()
    not_public: tuple[tuple[str, str, str | None, str], ...] = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> FacilityReport:
        # Immutable (tuples of text): pandas deep-copies a frame's attrs on every slice
        # of the facility layer, and the copy of a long report cost more than the slice.
        return self

    def to_frame(self) -> pd.DataFrame:
        """Every merge and every feature left out, one row each: ``kind`` (``"merged"`` or
        ``"not_public"``), ``category``, ``facility_id`` (the merged or left-out feature),
        ``kept`` (the facility it was merged into), ``name`` and ``reason``."""
        cols = ["kind", "category", "facility_id", "kept", "name", "reason"]
        rows: list[tuple[str, str, str, str | None, str | None, str]] = [
            ("merged", cat, merged, kept, name, "mapped twice") for cat, kept, merged, name in self.merged
        ]
        rows += [("not_public", cat, fid, None, name, reason) for cat, fid, name, reason in self.not_public]
        return pd.DataFrame(rows, columns=cols)

    def merged_frame(self) -> pd.DataFrame:
        """The merges as a table: ``category``, ``kept``, ``merged``, ``name``."""
        return pd.DataFrame(list(self.merged), columns=["category", "kept", "merged", "name"])

    def not_public_frame(self) -> pd.DataFrame:
        """The features left out as not public: ``category``, ``facility_id``, ``name``, ``reason``."""
        return pd.DataFrame(list(self.not_public), columns=["category", "facility_id", "name", "reason"])

    def only(self, facility_ids: set[str], *, not_public_ids: set[str] | None = None) -> FacilityReport:
        """The report restricted to the merges into ``facility_ids`` (the facilities of a layer) and the
        features left out as not public among ``not_public_ids`` (default: all of them)."""
        return FacilityReport(
            merged=tuple(m for m in self.merged if m[1] in facility_ids),
            not_public=tuple(x for x in self.not_public if not_public_ids is None or x[1] in not_public_ids),
        )


def _rule_mask(rule: TagRule, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Features whose tags match every key of a rule and carry none of its ``absent`` keys (vectorised)."""
    mask: np.ndarray | None = None
    for key, want in rule.tags.items():
        col = columns[key]
        if want == "*":
            hit = pd.notna(col)
        else:
            hit = np.isin(col, want if isinstance(want, list) else [want])
        mask = hit if mask is None else mask & hit
    if mask is None:
        raise InputError("a tag rule needs at least one tag")
    for key in rule.absent:
        mask = mask & pd.isna(columns[key])
    return np.asarray(mask, dtype=bool)


def _columns(tags: list[dict[str, str]], rules: list[TagRule]) -> dict[str, np.ndarray]:
    keys = {k for rule in rules for k in (*rule.tags, *rule.absent)}
    return {k: np.array([t.get(k) for t in tags], dtype=object) for k in keys}


def _any_rule(rules: list[TagRule], columns: dict[str, np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for rule in rules:
        out |= _rule_mask(rule, columns)
    return out


def _contains_any(texts: np.ndarray, rows: np.ndarray, patterns: list[str], n: int) -> np.ndarray:
    """Which of ``n`` features — looked at only in ``rows`` — have a name text containing one of ``patterns``."""
    out = np.zeros(n, dtype=bool)
    if patterns and len(rows):
        regex = "|".join(re.escape(p) for p in patterns)
        out[rows] = pd.Series(texts[rows], dtype=object).str.contains(regex, regex=True).to_numpy(dtype=bool)
    return out


def _match_table(tags_list: list[Any], prof: Profile) -> np.ndarray:
    """How each feature matches each of the profile's categories: 0 none, 1 tag, 2 name, 3 fallback (n × k).

    A feature is matched by name only when it has a name, carries one of the profile's
    ``facility_rules.name_keys`` (or nothing but names) and matches none of its
    ``never_by_name`` rules (stops, shops...). A fallback applies only to a feature that no
    tag or name rule of *any* category claims.
    """
    rules = prof.facility_rules
    cats = list(prof.categories)
    n = len(tags_list)
    tags = [t if isinstance(t, dict) else {} for t in tags_list]
    all_rules = [rule for c in cats for rule in prof.categories[c].osm] + list(rules.never_by_name)
    columns = _columns(tags, all_rules)
    texts = np.array([" ".join(t[k] for k in NAME_KEYS if k in t) for t in tags], dtype=object)
    named = texts != ""
    has_name = np.array([bool(_name_of(t)) for t in tags], dtype=bool)
    name_keys = set(rules.name_keys)
    name_ok = has_name & np.array([bool(set(t) & name_keys) or not (set(t) - _NAME_ONLY) for t in tags], dtype=bool)
    if rules.never_by_name:
        name_ok &= ~_any_rule(list(rules.never_by_name), columns, n)
    by_name_rows = np.flatnonzero(name_ok)
    out = np.zeros((n, len(cats)), dtype=np.int8)
    for j, cat in enumerate(cats):
        spec = prof.categories[cat]
        firm = _any_rule([r for r in spec.osm if not r.fallback], columns, n)
        fallback = _any_rule([r for r in spec.osm if r.fallback], columns, n)
        by_name = _contains_any(texts, by_name_rows, spec.name_patterns, n)
        # an excluded name vetoes every way in (only the features some rule takes need looking at)
        vetoed = _contains_any(texts, np.flatnonzero((firm | fallback | by_name) & named), spec.exclude_name_patterns, n)
        out[:, j] = np.where(firm & ~vetoed, 1, np.where(by_name & ~vetoed, 2, np.where(fallback & ~vetoed, 3, 0)))
    firm_any = ((out == 1) | (out == 2)).any(axis=1)
    # a fallback applies only to features no firm rule of any category claims
    return np.where((out == 3) & firm_any[:, None], 0, out)


def _rep_points(geoms: np.ndarray) -> np.ndarray:
    """A point of each geometry that lies on it (the point itself, a point inside a polygon)."""
    return shapely.point_on_surface(geoms)


def _not_public(
    features: gpd.GeoDataFrame, tags_list: list[Any], pos: np.ndarray, prof: Profile
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Which features (rows ``pos`` of the layer) the public cannot use: closed access or inside closed grounds."""
    rules = prof.facility_rules
    tags = [t if isinstance(t, dict) else {} for t in tags_list]
    closed = set(rules.closed_access)
    by_access = np.array([tags[p].get("access") in closed for p in pos], dtype=bool)
    on_grounds = np.zeros(len(pos), dtype=bool)
    ground_names: list[str] = [""] * len(pos)
    if rules.closed_grounds and len(pos):
        columns = _columns(tags, list(rules.closed_grounds))
        grounds = np.flatnonzero(_any_rule(list(rules.closed_grounds), columns, len(tags)))
        geoms = features.geometry.to_numpy()
        grounds = grounds[np.isin(shapely.get_type_id(geoms[grounds]), _POLYGONAL)]
        if len(grounds):
            pts = _rep_points(geoms[pos])
            hit_i, hit_g = shapely.STRtree(geoms[grounds]).query(pts, predicate="within")
            # a campus's own outline is not "inside" itself
            own = pos[hit_i] == grounds[hit_g]
            hit_i, hit_g = hit_i[~own], hit_g[~own]
            on_grounds[hit_i] = True
            for i, g in zip(hit_i, hit_g, strict=True):
                ground_names[i] = _name_of(tags[grounds[g]]) or "grounds"
    return by_access, on_grounds, ground_names


def _merge_inside(out: gpd.GeoDataFrame, rule: str) -> tuple[np.ndarray, list[tuple[str, str, str, str | None]]]:
    """Rows to keep once facilities mapped twice are merged, and the merges made.

    Within a category, a row whose point (for a polygon: a point inside it) lies inside a
    larger polygon of the same category with the same name is merged into the largest such
    polygon.
    """
    keep = np.ones(len(out), dtype=bool)
    merges: list[tuple[str, str, str, str | None]] = []
    if rule == "off" or len(out) == 0:
        return keep, merges
    geoms = out.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(geoms), _POLYGONAL)
    if not polygonal.any():
        return keep, merges
    cats = out["category"].to_numpy()
    names = np.array([str(v).strip() if isinstance(v, str) else "" for v in out["name"]], dtype=object)
    area = out["area_m2"].to_numpy(dtype=float)
    area = np.where(np.isnan(area), 0.0, area)
    ids = out["facility_id"].to_numpy()
    poly = np.flatnonzero(polygonal)
    pts = _rep_points(geoms)
    inner, outer = shapely.STRtree(geoms[poly]).query(pts, predicate="within")
    outer = poly[outer]
    ok = (inner != outer) & (cats[inner] == cats[outer]) & (area[outer] > area[inner]) & (names[inner] != "")
    ok &= names[inner] == names[outer]
    inner, outer = inner[ok], outer[ok]
    if len(inner) == 0:
        return keep, merges
    # each merged row goes into the largest polygon that holds it
    order = np.lexsort((-area[outer], inner))
    inner, outer = inner[order], outer[order]
    first = np.concatenate([[True], inner[1:] != inner[:-1]])
    target = dict(zip(inner[first].tolist(), outer[first].tolist(), strict=True))
    for i in sorted(target):
        root = target[i]
        while root in target:  # an outline inside a larger one of the same facility
            root = target[root]
        keep[i] = False
        merges.append((str(cats[i]), str(ids[root]), str(ids[i]), names[i] or None))
    return keep, merges


def classify(
    features: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    categories: list[str] | None = None,
    tags_col: str = "tags",
) -> gpd.GeoDataFrame:
    """Put tagged features into the profile's facility categories.

    A feature is put in a category by its tags (every tag of one of the category's rules),
    else by its name (a name pattern it contains, unless it contains an excluded one) —
    never by the name of a stop, a shop or a restaurant, which are named after what they
    serve (the profile's ``facility_rules``) — else by a fallback rule when no category
    claims it (a school of unknown level counts as a primary school). Then

    * categories marked ``public`` leave out what the public cannot use: features tagged
      ``access=private|no`` and features inside closed grounds (a library on a university
      campus is not a public cultural facility);
    * categories with a ``min_area_m2`` (parks) drop smaller features and points;
    * a facility mapped twice — a point or a smaller outline inside an outline of the same
      category and name, e.g. a node inside its own building — counts once: the outline
      is kept (the profile's ``facility_rules.merge_inside``).

    Parameters
    ----------
    features : GeoDataFrame
        One row per feature with a ``tags`` column of dicts (OSM key → value), in any CRS.
        Optional ``osm_type``/``osm_id`` columns are kept.
    profile : Profile, str or path, optional
        The standard profile (default ``zhejiang-2023``).
    categories : list of str, optional
        Only these category ids (default: all the profile's categories); an id the profile
        does not have is an :class:`~mtown_geo.UnknownNameError`.

    Returns
    -------
    GeoDataFrame
        One row per (feature, category) with :data:`COLUMNS` and the feature's geometry
        (polygons stay polygons), in the input's CRS. ``matched_by`` is ``tag``,
        ``name`` or ``fallback``; ``area_m2`` is the polygon area (NaN for points).
        ``attrs["facility_report"]`` (:class:`FacilityReport`) lists the merges and the
        features left out as not public.
    """
    prof = resolve(profile)
    cats = list(prof.categories) if categories is None else list(categories)
    for c in cats:
        prof.category(c)  # an unknown id is an UnknownNameError naming the closest one
    if tags_col not in features:
        raise InputError(f"the feature layer has no {tags_col!r} column of OSM tags")
    _crs.require_crs(features, what="feature layer")
    tags_list = features[tags_col].tolist()
    every = list(prof.categories)
    table = _match_table(tags_list, prof)[:, [every.index(c) for c in cats]]
    fi, cj = np.nonzero(table)
    empty = gpd.GeoDataFrame({c: [] for c in COLUMNS}, geometry=[], crs=features.crs)
    empty.attrs["facility_report"] = FacilityReport()
    if len(fi) == 0:
        return empty
    pos = fi.astype(np.int64)
    row_cat = np.array(cats, dtype=object)[cj]
    # public categories: leave out what the public cannot use
    public = np.array([prof.categories[c].public for c in row_cat], dtype=bool)
    not_public: list[tuple[str, str, str | None, str]] = []
    sub_all = features.iloc[pos]
    osm_type_all = sub_all["osm_type"].to_numpy() if "osm_type" in sub_all else np.full(len(pos), "feature")
    osm_id_all = sub_all["osm_id"].to_numpy() if "osm_id" in sub_all else pos  # the feature's row in the input
    fid_all = np.array([f"{t}/{i}" for t, i in zip(osm_type_all, osm_id_all, strict=True)], dtype=object)
    name_all = [_name_of(tags_list[p]) if isinstance(tags_list[p], dict) else "" for p in pos]
    if public.any():
        upos = np.unique(pos[public])
        by_access, on_grounds, ground = _not_public(features, tags_list, upos, prof)
        closed = dict(zip(upos.tolist(), zip(by_access.tolist(), on_grounds.tolist(), ground, strict=True), strict=True))
        drop = np.zeros(len(pos), dtype=bool)
        for r in np.flatnonzero(public):
            acc, grounds, gname = closed[int(pos[r])]
            if acc or grounds:
                drop[r] = True
                t = tags_list[pos[r]]
                reason = f"access={t.get('access')}" if acc else f"inside {gname}"
                not_public.append((str(row_cat[r]), str(fid_all[r]), name_all[r] or None, reason))
        if drop.any():
            log.info("%d features left out of public categories (closed access or inside closed grounds)", int(drop.sum()))
            keep_rows = ~drop
            pos, cj, row_cat, fid_all = pos[keep_rows], cj[keep_rows], row_cat[keep_rows], fid_all[keep_rows]
            name_all = [n for n, k in zip(name_all, keep_rows, strict=True) if k]
            osm_id_all = osm_id_all[keep_rows]
    if len(pos) == 0:
        empty.attrs["facility_report"] = FacilityReport(not_public=tuple(not_public))
        return empty
    sub = features.iloc[pos]
    geoms = sub.geometry.to_numpy()
    metric = _crs.metric_crs(features) if not features.crs.is_projected else features.crs
    polygonal = np.isin(shapely.get_type_id(geoms), _POLYGONAL)
    area = np.full(len(sub), np.nan)
    if polygonal.any():
        area[polygonal] = gpd.GeoSeries(geoms[polygonal], crs=features.crs).to_crs(metric).area.to_numpy()
    how = table[pos, cj]
    out = gpd.GeoDataFrame(
        {
            "facility_id": fid_all,
            "category": row_cat,
            "name": [n or None for n in name_all],
            "source": "osm" if "osm_type" in sub else "table",
            "osm_id": osm_id_all,
            "matched_by": _HOW[how],
            "area_m2": area,
        },
        geometry=geoms,
        crs=features.crs,
    )
    keep = np.ones(len(out), dtype=bool)
    for cat in set(out["category"]):
        min_area = prof.categories[cat].min_area_m2
        if min_area:
            in_cat = (out["category"] == cat).to_numpy()
            too_small = in_cat & ~(out["area_m2"].to_numpy() >= min_area)
            if too_small.any():
                log.info("%d %s features dropped: smaller than %.0f m² or mapped as points", too_small.sum(), cat, min_area)
            keep &= ~too_small
    out = out.loc[keep].reset_index(drop=True)
    kept, merges = _merge_inside(out, prof.facility_rules.merge_inside)
    if merges:
        log.info("%d facilities mapped twice (inside an outline of the same category and name) counted once", len(merges))
    out = out.loc[kept].reset_index(drop=True)
    out.attrs["facility_report"] = FacilityReport(merged=tuple(merges), not_public=tuple(not_public))
    return out
