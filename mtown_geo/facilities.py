"""Facilities of daily life, categorised by the standard profile.

:func:`from_osm` reads facilities from OpenStreetMap into the profile's categories
(kindergarten, primary school, health station...) with :func:`classify`, which puts any
tagged layer into them (defined in :mod:`mtown_geo.sources.classify`, below the readers, so
that POI tables are classified by the same rules). The rules are data in the profile: OSM
tag combinations, Chinese name patterns (幼儿园, 小学, 卫生院, 文化礼堂...) and fallbacks (a
school whose level is not known counts as a primary school) — every match records how it
was made.

A facility that belongs to several categories (a 九年一贯制 school is both a primary
and a middle school) gives one row per category; ``facility_id`` ties them together.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import _geom, _words
from . import crs as _crs
from ._errors import AssumptionWarning, DataNotFoundError, OfflineError, RepairWarning
from .sources.classify import COLUMNS, FacilityReport, classify
from .sources.osm import OSMExtract, is_osm_file, read_osm
from .standards import Profile, resolve

__all__ = ["COLUMNS", "FacilityReport", "classify", "from_osm", "summary"]

log = logging.getLogger(__name__)


def from_osm(
    source: str | os.PathLike[str] | OSMExtract,
    *,
    profile: Profile | str | Path | None = None,
    categories: list[str] | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    buffer_m: float = 1000.0,
    crs: Any = None,
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
    boundary : GeoDataFrame or GeoSeries, optional
        Keep facilities inside the boundary plus ``buffer_m`` metres (facilities just
        outside a town still serve it). Any CRS; a bare geometry has no CRS and is refused.
    buffer_m : float, optional
        Buffer around the boundary in metres (default 1000).
    crs : CRS, optional
        The CRS of the result (default EPSG:4326). When it is the metric CRS the boundary
        is measured in (:func:`mtown_geo.crs.metric_crs` of the boundary), the facilities
        are projected once, for the clip and the result alike.

    Returns
    -------
    GeoDataFrame
        EPSG:4326 (or ``crs``); columns :data:`COLUMNS` and geometry (points, or polygons
        for areas). Data © OpenStreetMap contributors.

    Examples
    --------
    >>> import mtown_geo as mg
    >>> fac = mg.facilities.from_osm(mg.demo_osm_path())  # doctest: +SKIP
    >>> fac.category.value_counts()  # doctest: +SKIP
    """
    prof = resolve(profile)
    if isinstance(source, OSMExtract):
        feats = source.features
        out = _classified(source, prof, categories)
    else:
        path = Path(source)
        if path.exists() or is_osm_file(path):
            if not path.exists():
                raise DataNotFoundError(f"OSM file {path} does not exist")
            extract = read_osm(path)
            feats = extract.features
            out = _classified(extract, prof, categories)
        else:
            feats = _features_online(str(source), prof)
            out = classify(feats, profile=prof, categories=categories)
    report = out.attrs.get("facility_report", FacilityReport())
    reach = None  # the boundary's metric CRS and the area within buffer_m of it, made once
    if boundary is not None and len(out):
        reach = _reach(boundary, buffer_m)
        out = _within(out, *reach, crs=crs)
    if crs is not None and not out.crs.equals(crs):
        out = out.to_crs(crs)
    if boundary is not None and report.not_public:
        # the features left out as not public that lie in the area
        ids = _feature_ids(feats)
        hit = np.isin(ids, [x[1] for x in report.not_public])
        listed = feats.loc[hit]
        if len(listed):
            reach = reach or _reach(boundary, buffer_m)
            near = _within(listed.assign(facility_id=ids[hit].tolist()), *reach)
        else:
            near = listed
        report = report.only(
            set(out["facility_id"].tolist()), not_public_ids=set(near["facility_id"].tolist()) if len(near) else set()
        )
    else:
        report = report.only(set(out["facility_id"].tolist()))
    out.attrs["facility_report"] = report
    if report.not_public:
        counts = pd.Series([x[0] for x in report.not_public]).value_counts()
        n_closed = len({x[1] for x in report.not_public})
        warnings.warn(
            f"{_words.count(n_closed, 'feature is', 'features are')} not counted as public facilities — closed "
            f"(access={'|'.join(prof.facility_rules.closed_access)}) or inside closed grounds such as a university campus: "
            + ", ".join(f"{cat} {n}" for cat, n in counts.items())
            + " (the profile's facility_rules, an assumption; mtown_geo.facilities.from_osm(...).attrs"
            "['facility_report'].not_public_frame() lists them)",
            AssumptionWarning,
            stacklevel=2,
        )
    if report.merged:
        examples = "; ".join(f"{name or kept} ({cat})" for cat, kept, _, name in report.merged[:5])
        warnings.warn(
            f"{_words.count(len(report.merged), 'facility was', 'facilities were')} mapped twice "
            "(a point or outline inside an outline of the same "
            f"category and name) and {_words.agree(len(report.merged), 'is', 'are')} counted once: {examples}{' ...' if len(report.merged) > 5 else ''} — "
            "mtown_geo.facilities.from_osm(...).attrs['facility_report'].merged_frame() lists them",
            RepairWarning,
            stacklevel=2,
        )
    return out


def _classified(extract: OSMExtract, prof: Profile, categories: list[str] | None) -> gpd.GeoDataFrame:
    """The extract's facilities, classified once per extract (a subset reuses its parent's)."""
    root = extract.parent if extract.parent is not None else extract
    key = ("facilities", prof.model_dump_json(), tuple(categories) if categories is not None else None)
    if key not in root.cache:
        root.cache[key] = classify(root.features, profile=prof, categories=categories)
    out: gpd.GeoDataFrame = root.cache[key]
    report = out.attrs.get("facility_report", FacilityReport())
    if extract is not root:
        ids = set(_feature_ids(extract.features).tolist())
        # the rows chosen are a new frame already: the cached one is never handed out
        out = out[out["facility_id"].isin(ids)].reset_index(drop=True)
        report = report.only(ids, not_public_ids=ids)
    else:
        out = out.copy()
    out.attrs["facility_report"] = report
    return out


def _feature_ids(feats: gpd.GeoDataFrame) -> np.ndarray:
    """The ``facility_id`` of each OSM feature (``osm_type/osm_id``, as :func:`classify` names
    them), the columns read as Python values first (faster than element by element)."""
    return np.array([f"{t}/{i}" for t, i in zip(feats["osm_type"].tolist(), feats["osm_id"].tolist(), strict=True)], dtype=object)


def _reach(boundary: Any, buffer_m: float) -> tuple[CRS, shapely.Geometry]:
    """The boundary's metric CRS and the area within ``buffer_m`` of it, in that CRS."""
    boundary = _geom.as_layer(boundary, what="boundary")
    metric = _crs.metric_crs(boundary)
    area = _geom.polygon_union(boundary, crs=metric, what="boundary", drop_empty=True)
    if buffer_m > 0:
        area = _geom.buffered(area, buffer_m)
    return metric, area


def _within(gdf: gpd.GeoDataFrame, metric: CRS, area: shapely.Geometry, *, crs: Any = None) -> gpd.GeoDataFrame:
    """The features of ``gdf`` that meet ``area`` (:func:`_reach`), measured in its CRS ``metric``;
    projected when ``crs`` is that CRS, else as given."""
    geoms = gdf.geometry.array.to_crs(metric)
    hit = np.flatnonzero(shapely.intersects(np.asarray(geoms), area))
    out = gdf.iloc[hit].reset_index(drop=True)
    if crs is not None and geoms.crs.equals(crs):
        # the rows kept with their geometry as projected for the test (only the geometry
        # column is projected: the other columns are taken as they are)
        out[gdf.geometry.name] = geoms[hit]
    return out


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
