"""Facilities of daily life, categorised by the standard profile.

:func:`from_osm` reads facilities from OpenStreetMap and :func:`classify` puts any
tagged layer into the profile's categories (kindergarten, primary school, health
station...). The rules are data in the profile: OSM tag combinations, Chinese name
patterns (幼儿园, 小学, 卫生院, 文化礼堂...) and fallbacks (a school whose level is not
known counts as a primary school) — every match records how it was made.

A facility that belongs to several categories (a 九年一贯制 school is both a primary
and a middle school) gives one row per category; ``facility_id`` ties them together.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crs as _crs
from ._errors import DataNotFoundError, InputError, OfflineError
from .sources.osm import OSMExtract, is_osm_file, read_osm
from .standards import Profile, TagRule, resolve

__all__ = ["COLUMNS", "classify", "from_osm", "summary"]

log = logging.getLogger(__name__)

#: Columns of a facility layer, besides geometry.
COLUMNS = ["facility_id", "category", "name", "source", "osm_id", "matched_by", "area_m2"]

# Features with these keys may be recognised by their name; shops only by their tags.
_NAME_MATCH_KEYS = {
    "amenity",
    "leisure",
    "healthcare",
    "social_facility",
    "office",
    "building",
    "landuse",
    "club",
    "tourism",
    "public_transport",
}


_NAME_KEYS = ("name", "name:zh", "official_name", "alt_name")
_NAME_ONLY = {"name", "name:zh", "name:en", "official_name", "alt_name", "addr:street", "addr:housenumber"}


def _name_of(tags: dict[str, str]) -> str:
    return tags.get("name") or tags.get("name:zh") or tags.get("official_name") or ""


def _rule_mask(rule: TagRule, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Features whose tags match every key of a rule (vectorised over the tag columns)."""
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
    return np.asarray(mask, dtype=bool)


def _contains_any(names: pd.Series, patterns: list[str]) -> np.ndarray:
    if not patterns:
        return np.zeros(len(names), dtype=bool)
    regex = "|".join(re.escape(p) for p in patterns)
    return names.str.contains(regex, regex=True).to_numpy(dtype=bool)


def _match_table(tags_list: list[Any], prof: Profile, cats: list[str]) -> np.ndarray:
    """How each feature matches each category: 0 none, 1 tag, 2 name, 3 fallback (n × k)."""
    n = len(tags_list)
    tags = [t if isinstance(t, dict) else {} for t in tags_list]
    keys = {k for c in cats for rule in prof.categories[c].osm for k in rule.tags}
    columns = {k: np.array([t.get(k) for t in tags], dtype=object) for k in keys}
    names = pd.Series([" ".join(t[k] for k in _NAME_KEYS if k in t) for t in tags], dtype=object)
    has_name = np.array([bool(_name_of(t)) for t in tags], dtype=bool)
    name_ok = has_name & np.array([bool(set(t) & _NAME_MATCH_KEYS) or not (set(t) - _NAME_ONLY) for t in tags], dtype=bool)
    out = np.zeros((n, len(cats)), dtype=np.int8)
    for j, cat in enumerate(cats):
        spec = prof.categories[cat]
        firm = np.zeros(n, dtype=bool)
        fallback = np.zeros(n, dtype=bool)
        for rule in spec.osm:
            if rule.fallback:
                fallback |= _rule_mask(rule, columns)
            else:
                firm |= _rule_mask(rule, columns)
        vetoed = _contains_any(names, spec.exclude_name_patterns)
        by_name = name_ok & _contains_any(names, spec.name_patterns)
        how = np.where(firm & ~vetoed, 1, np.where(by_name & ~vetoed, 2, np.where(fallback & ~vetoed, 3, 0)))
        out[:, j] = how
    return out


def classify(
    features: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    categories: list[str] | None = None,
    tags_col: str = "tags",
) -> gpd.GeoDataFrame:
    """Put tagged features into the profile's facility categories.

    Parameters
    ----------
    features : GeoDataFrame
        One row per feature with a ``tags`` column of dicts (OSM key → value), in any CRS.
        Optional ``osm_type``/``osm_id`` columns are kept.
    profile : Profile, str or path, optional
        The standard profile (default ``zhejiang-2023``).
    categories : list of str, optional
        Only these categories (default: all the profile's categories).

    Returns
    -------
    GeoDataFrame
        One row per (feature, category) with :data:`COLUMNS` and the feature's geometry
        (polygons stay polygons), in the input's CRS. ``matched_by`` is ``tag``,
        ``name`` or ``fallback``; ``area_m2`` is the polygon area (NaN for points).
        Categories with a ``min_area_m2`` (parks) drop smaller features and points.
    """
    prof = resolve(profile)
    cats = list(prof.categories) if categories is None else list(categories)
    unknown = [c for c in cats if c not in prof.categories]
    if unknown:
        raise InputError(f"unknown categories {unknown}; the profile {prof.name!r} has {sorted(prof.categories)}")
    if tags_col not in features:
        raise InputError(f"the feature layer has no {tags_col!r} column of OSM tags")
    _crs.require_crs(features, what="feature layer")
    tags_list = features[tags_col].tolist()
    table = _match_table(tags_list, prof, cats)
    firm_any = ((table == 1) | (table == 2)).any(axis=1)
    # a fallback applies only to features no firm rule of any category claims
    table = np.where((table == 3) & firm_any[:, None], 0, table)
    fi, cj = np.nonzero(table)
    how_name = np.array(["", "tag", "name", "fallback"], dtype=object)
    rows: list[tuple[int, str, str]] = [(int(i), cats[j], str(how_name[table[i, j]])) for i, j in zip(fi, cj, strict=True)]
    empty = gpd.GeoDataFrame({c: [] for c in COLUMNS}, geometry=[], crs=features.crs)
    if not rows:
        return empty
    pos = np.array([r[0] for r in rows], dtype=np.int64)
    sub = features.iloc[pos]
    geoms = sub.geometry.to_numpy()
    metric = _crs.metric_crs(features) if not features.crs.is_projected else features.crs
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])
    area = np.full(len(sub), np.nan)
    if polygonal.any():
        area[polygonal] = gpd.GeoSeries(geoms[polygonal], crs=features.crs).to_crs(metric).area.to_numpy()
    osm_type = sub["osm_type"].to_numpy() if "osm_type" in sub else np.full(len(sub), "feature")
    osm_id = sub["osm_id"].to_numpy() if "osm_id" in sub else pos  # the feature's row in the input
    out = gpd.GeoDataFrame(
        {
            "facility_id": [f"{t}/{i}" for t, i in zip(osm_type, osm_id, strict=True)],
            "category": [r[1] for r in rows],
            "name": [_name_of(t) or None for t in (tags_list[p] for p in pos)],
            "source": "osm" if "osm_type" in sub else "table",
            "osm_id": osm_id,
            "matched_by": [r[2] for r in rows],
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
    return out.loc[keep].reset_index(drop=True)


def from_osm(
    source: str | os.PathLike[str] | OSMExtract,
    *,
    profile: Profile | str | Path | None = None,
    categories: list[str] | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    buffer_m: float = 1000.0,
) -> gpd.GeoDataFrame:
    """Facilities from OpenStreetMap, in the profile's categories.

    Parameters
    ----------
    source : path, OSMExtract or place name
        An ``.osm``/``.osm.bz2``/``.osm.pbf`` file, an extract read with
        :func:`mtown_geo.sources.read_osm`, or (online, through osmnx) a place name.
    profile : Profile, str or path, optional
        Standard profile with the tag → category map (default ``zhejiang-2023``).
    categories : list of str, optional
        Only these categories.
    boundary : GeoDataFrame, GeoSeries or shapely geometry, optional
        Keep facilities inside the boundary plus ``buffer_m`` metres (facilities just
        outside a town still serve it). A bare geometry is taken as EPSG:4326.
    buffer_m : float, optional
        Buffer around the boundary in metres (default 1000).

    Returns
    -------
    GeoDataFrame
        EPSG:4326; columns :data:`COLUMNS` and geometry (points, or polygons for areas).
        Data © OpenStreetMap contributors.

    Examples
    --------
    >>> import mtown_geo as mg
    >>> fac = mg.facilities.from_osm(mg.demo_osm_path())  # doctest: +SKIP
    >>> fac.category.value_counts()  # doctest: +SKIP
    """
    prof = resolve(profile)
    if isinstance(source, OSMExtract):
        out = _classified(source, prof, categories)
    else:
        path = Path(source)
        if path.exists() or is_osm_file(path):
            if not path.exists():
                raise DataNotFoundError(f"OSM file {path} does not exist")
            out = _classified(read_osm(path), prof, categories)
        else:
            out = classify(_features_online(str(source), prof), profile=prof, categories=categories)
    if boundary is not None and len(out):
        out = _within(out, boundary, buffer_m)
    return out


def _classified(extract: OSMExtract, prof: Profile, categories: list[str] | None) -> gpd.GeoDataFrame:
    """The extract's facilities, classified once per extract (a subset reuses its parent's)."""
    root = extract.parent if extract.parent is not None else extract
    key = ("facilities", prof.model_dump_json(), tuple(categories) if categories is not None else None)
    if key not in root.cache:
        root.cache[key] = classify(root.features, profile=prof, categories=categories)
    out: gpd.GeoDataFrame = root.cache[key]
    if extract is not root:
        feats = extract.features
        ids = {f"{t}/{i}" for t, i in zip(feats["osm_type"], feats["osm_id"], strict=True)}
        out = out[out["facility_id"].isin(ids)].reset_index(drop=True)
    return out.copy()


def _within(gdf: gpd.GeoDataFrame, boundary: Any, buffer_m: float) -> gpd.GeoDataFrame:
    if isinstance(boundary, shapely.Geometry):
        boundary = gpd.GeoSeries([boundary], crs=4326)
    _crs.require_crs(boundary, what="boundary")
    metric = _crs.metric_crs(boundary)
    area = boundary.to_crs(metric).union_all()
    if buffer_m > 0:
        area = area.buffer(buffer_m)
    hit = gdf.to_crs(metric).intersects(area).to_numpy()
    return gdf.loc[hit].reset_index(drop=True)


def _features_online(place: str, profile: Profile) -> gpd.GeoDataFrame:
    import osmnx as ox
    import requests

    wanted: dict[str, Any] = {}
    for spec in profile.categories.values():
        for rule in spec.osm:
            for key in rule.tags:
                wanted[key] = True
    try:
        gdf = ox.features_from_place(place, tags=wanted)
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise OfflineError(
            f"cannot download OSM features for {place!r}: OpenStreetMap is not reachable ({type(exc).__name__}). "
            "Use an .osm.pbf extract instead"
        ) from None
    gdf = gdf.reset_index()
    tag_cols = [c for c in gdf.columns if c not in ("element", "id", "geometry")]
    tags = [
        {k: v for k, v in zip(tag_cols, row, strict=True) if isinstance(v, str)} for row in gdf[tag_cols].itertuples(index=False)
    ]
    return gpd.GeoDataFrame({"osm_type": gdf["element"], "osm_id": gdf["id"], "tags": tags}, geometry=gdf.geometry, crs=gdf.crs)


def summary(facilities: gpd.GeoDataFrame, *, profile: Profile | str | Path | None = None) -> pd.DataFrame:
    """Count of facilities per category of the profile, zeros included, with Chinese names."""
    prof = resolve(profile)
    counts = facilities["category"].value_counts() if len(facilities) else pd.Series(dtype=int)
    rows = [
        {"category": c, "name_zh": spec.name_zh, "name_en": spec.name_en, "count": int(counts.get(c, 0))}
        for c, spec in prof.categories.items()
    ]
    return pd.DataFrame(rows).set_index("category")
