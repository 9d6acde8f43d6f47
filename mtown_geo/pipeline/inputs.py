"""Reading what a study names: boundaries, OSM extracts, facilities, residential land, villages,
zones, parks and networks, and the checks made before any work (files present, memory, coordinates).

Each reader returns layers as read (facilities in EPSG:4326, others in their own CRS unless a
metric CRS is given); :mod:`mtown_geo.pipeline.town` projects them once into the town's metric CRS.
:func:`extract_for` and :func:`builtup_from_osm` are the batch's cut of a regional extract and its
built-up rule, used by the demo too.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import _frames, _geom, demand, facilities, inventory, network, parks, terrain
from .. import crs as _crs
from .._errors import (
    CoordinateShiftWarning,
    DataNotFoundError,
    InputError,
    StudyError,
)
from ..network import Network
from ..sources.osm import OSMExtract, is_osm_file, read_osm
from ..sources.tables import read_facility_table
from ..sources.vector import read_vector
from ..standards import Profile
from .schema import SourceSpec, Study

log = logging.getLogger(__name__)


def read_layer(study: Study, value: str, *, layer: str | None = None) -> gpd.GeoDataFrame:
    path = study.path(value)
    if not path.exists():
        raise DataNotFoundError(f"{path} does not exist (named in the study file)")
    return read_vector(path, layer=layer)


def osm_extract(study: Study, value: str | None = None) -> OSMExtract:
    src = study.osm_source(value)
    return src if isinstance(src, OSMExtract) else read_osm(src)


def extract_for(study: Study, town: gpd.GeoDataFrame) -> OSMExtract:
    """The part of the study's OSM extract one town needs, cut in memory.

    The town's bounding box in its metric CRS, widened by the study's network buffer
    (``network.buffer_m``) and 500 m more, so that the ways leaving the buffered town are
    kept whole; the extract is read once per process (:func:`mtown_geo.sources.read_osm`
    caches it) and cut with :meth:`OSMExtract.subset`.

    Parameters
    ----------
    study : Study
        Its ``osm`` key (or in-memory extract) is the regional extract.
    town : GeoDataFrame
        The town's boundary, in any CRS (a geographic one is projected to
        :func:`mtown_geo.crs.metric_crs`).

    Returns
    -------
    OSMExtract
        The features and ways inside the box (EPSG:4326).
    """
    _crs.require_crs(town, what="town boundary")
    metric = town.crs if town.crs.is_projected else _crs.metric_crs(town)
    town_m = town if town.crs == metric else town.to_crs(metric)
    box = town_m.total_bounds + np.array([-1, -1, 1, 1]) * (study.network.buffer_m + 500.0)
    bbox = gpd.GeoSeries([shapely.box(*box)], crs=metric).to_crs(4326).total_bounds
    return osm_extract(study).subset((float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])))


#: OSM land use closer than this joins into one built-up area (buffered by half of it, then back)
_BUILTUP_GAP_M = 200.0
#: the closing (a buffer by half the gap, then back) at a point sees only the land within the gap
#: of it; land-use polygons within the gap and this margin (m) more of the town are read, which
#: also covers the buffers' polygonal arcs
_BUILTUP_MARGIN_M = 10.0


def builtup_from_osm(extract: OSMExtract, town: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A town's built-up land (建成区) from OpenStreetMap land use.

    The ``landuse=residential|commercial|retail`` polygons, repaired, joined across gaps
    narrower than 200 m (a 100 m buffer, then a −100 m one) and cut to the town.

    The closing at a point depends only on the land within 200 m of it, so only the land-use
    polygons within 210 m of the town are closed (whole, in their order in the extract): the
    built-up land is the same, to the bit, from any extract that holds them (a town cut from a
    province's extract, or the province's whole), and land use far from the town costs nothing.

    Parameters
    ----------
    extract : OSMExtract
        The town's OSM data.
    town : GeoDataFrame
        The town's boundary in a metric CRS (the result's CRS).

    Returns
    -------
    GeoDataFrame
        One row (``kind`` 建成区) in the town's CRS; the town itself when OSM holds no such
        land use there (or less than 1 m² of it).
    """
    _crs.require_projected(town, what="town boundary")
    f = extract.features
    # the polygons of those land uses (only the polygons' tags are looked at)
    is_b = np.isin(shapely.get_type_id(f.geometry.to_numpy()), (3, 6))
    tags = f["tags"].to_numpy()
    is_b[is_b] = [t.get("landuse") in ("residential", "commercial", "retail") for t in tags[is_b]]
    polys = f.loc[is_b]
    if polys.empty:
        return town
    area = _geom.polygon_union(town, crs=town.crs, what="town boundary")
    land = _geom.polygon_union(
        polys,
        crs=town.crs,
        what="OSM built-up land use",
        allow_empty=True,
        meeting=area,
        near_m=_BUILTUP_GAP_M + _BUILTUP_MARGIN_M,
    )
    built = land.buffer(_BUILTUP_GAP_M / 2).buffer(-_BUILTUP_GAP_M / 2).intersection(area)
    if built.is_empty or built.area < 1.0:
        return town
    return _frames.geo_frame({"kind": ["建成区"]}, [built], town.crs)


def boundaries(study: Study) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    if study._town is not None:
        town = study._town
        built = study._builtup if study._builtup is not None else study._town
        _crs.require_crs(town, what="town boundary")
        _crs.require_crs(built, what="built-up boundary")
        if town.empty or built.empty:
            raise InputError("a boundary layer is empty")
        return town.reset_index(drop=True), built.reset_index(drop=True)
    spec = study.boundaries
    town = read_layer(study, spec.town, layer=spec.layer)
    _crs.require_crs(town, what="town boundary")
    if spec.builtup is None:
        if spec.kind_col not in town:
            raise StudyError(
                f"boundaries.builtup is not given and {spec.town} has no {spec.kind_col!r} column telling 镇域 from 建成区"
            )
        kinds = town[spec.kind_col].astype(str)
        built = town[kinds.isin(["建成区", "builtup", "built-up"])]
        town = town[kinds.isin(["镇域", "town"])]
        if town.empty or built.empty:
            raise StudyError(f"{spec.town}: need rows of kind 镇域 and 建成区 in column {spec.kind_col!r}")
    else:
        built = read_layer(study, spec.builtup, layer=spec.layer)
        _crs.require_crs(built, what="built-up boundary")
    if town.empty or built.empty:
        raise InputError("a boundary layer is empty")
    return town.reset_index(drop=True), built.reset_index(drop=True)


def _osm_residential(study: Study, metric: Any, town: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The extract's landuse=residential polygons projected to ``metric``: a frame of their
    geometry alone, in the extract's order, indexed 0..n-1 (only these rows are projected)."""
    f = osm_extract(study).features
    geoms = f.geometry.array
    # the landuse=residential polygons (only the polygons' tags are looked at)
    is_res = np.isin(shapely.get_type_id(np.asarray(geoms)), (3, 6))
    tags = f["tags"].to_numpy()
    is_res[is_res] = [t.get("landuse") == "residential" for t in tags[is_res]]
    projected = geoms[np.flatnonzero(is_res)].to_crs(metric)
    return _frames.geo_frame(pd.DataFrame(index=pd.RangeIndex(len(projected))), np.asarray(projected), projected.crs)


def residential(study: Study, metric: Any, town: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The study's residential land in ``metric``: every source's polygons, in order, as one
    frame of geometry indexed 0..n-1."""
    if len(study.residential) == 1 and study.residential[0].osm is not None:
        return _osm_residential(study, metric, town)
    parts = []
    for src in study.residential:
        if src.osm is not None:
            parts.append(_osm_residential(study, metric, town))
        elif src.file is not None:
            gdf = read_layer(study, src.file, layer=src.layer)
            if src.class_col is not None:
                if src.class_col not in gdf:
                    raise StudyError(f"residential: {src.file} has no column {src.class_col!r}")
                classes = src.classes or ["R", "R1", "R2", "R3", "居住用地", "070"]
                codes = gdf[src.class_col].astype(str)
                gdf = gdf[codes.map(lambda c, ks=tuple(classes): c.startswith(ks))]
            parts.append(gdf.to_crs(metric)[["geometry"]])
        else:
            raise StudyError("residential: each source is `osm` or a `file`")
    if not parts:
        return gpd.GeoDataFrame(geometry=[], crs=metric)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=metric)


def source_label(study: Study, src: SourceSpec) -> str:
    """The name a source goes by in the inventory and the report: ``OSM <file>`` or the file's name."""
    if src.osm is not None:
        where = study.osm_source(src.osm)
        if isinstance(where, OSMExtract):
            return f"OSM {where.path.name}" if where.path is not None else "OSM"
        return f"OSM {Path(where).name}" if is_osm_file(where) else f"OSM ({where})"
    return Path(src.table or src.file or "").name or "—"


def source_labels(study: Study, key: str) -> list[str]:
    """The labels of a study key's sources (``facilities``, ``parks``, ``greenways``), in order, once each."""
    return list(dict.fromkeys(source_label(study, src) for src in getattr(study, key)))


@dataclass
class FacilitySource:
    """Where the rows of one facility table or layer sit in the merged facility layer."""

    spec: SourceSpec
    label: str
    rows: slice
    report: Any = None  # the TableReport of a table
    read: gpd.GeoDataFrame | None = None  # its rows as read (EPSG:4326), for the coordinate check


def _file_categories(gdf: gpd.GeoDataFrame, col: str, prof: Profile, label: str) -> pd.Series:
    """A facility layer's category column as the profile's ids (names and aliases resolved)."""
    values = gdf[col]
    blank = values.isna() | (values.astype(str).str.strip() == "")
    if blank.any():
        rows = ", ".join(str(v) for v in gdf.index[blank.to_numpy()][:10])
        raise StudyError(f"facilities: {label} has {int(blank.sum())} features without a category in {col!r} (rows {rows})")
    unique = pd.unique(values.astype(str))
    found = {v: prof.match_category(v) for v in unique}
    unknown = [v for v, c in found.items() if c is None]
    if unknown:
        parts = []
        for v in unknown[:12]:
            close = prof.similar_categories(v)
            n = int((values.astype(str) == v).sum())
            parts.append(f"{v!r} ({n} features" + (f"; did you mean {' or '.join(repr(c) for c in close)}?)" if close else ")"))
        raise StudyError(
            f"facilities: {label} has categories in {col!r} that the profile {prof.name!r} does not know: "
            + "; ".join(parts)
            + ". Write the profile's category ids, English or Chinese names or aliases (docs/profiles.md lists them), "
            "or leave those features out"
        )
    renamed = {v: c for v, c in found.items() if c is not None and c != v}
    if renamed:
        log.info("%s: categories %s", label, ", ".join(f"{k} → {v}" for k, v in renamed.items()))
    return values.astype(str).map(found)


def facility_layer(
    study: Study,
    prof: Profile,
    town: gpd.GeoDataFrame,
    buffer_m: float,
    sources: list[FacilitySource] | None = None,
    *,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """The study's facilities from every source, merged: in EPSG:4326, or projected once into
    ``crs`` (OSM features by the clip that keeps those near the town; ``sources`` then keep each
    table's and layer's rows as read, in EPSG:4326)."""
    out_crs = 4326 if crs is None else crs
    parts = []
    at = 0
    for src in study.facilities:
        part: gpd.GeoDataFrame
        info: FacilitySource | None = None
        label = source_label(study, src)
        if src.osm is not None:
            part = facilities.from_osm(study.osm_source(src.osm), profile=prof, boundary=town, buffer_m=buffer_m, crs=out_crs)
        elif src.table is not None:
            kw: dict[str, Any] = {"profile": prof}
            for key in ("crs", "category_col", "type_col", "name_col"):
                if getattr(src, key) is not None:
                    kw[key] = getattr(src, key)
            part = read_facility_table(study.path(src.table), **kw)
            info = FacilitySource(src, src.table, slice(0), part.attrs.get("table_report"))
        elif src.file is not None:
            gdf = read_layer(study, src.file, layer=src.layer)
            col = src.category_col or "category"
            if col not in gdf:
                raise StudyError(f"facilities: {src.file} has no category column {col!r} (set category_col)")
            gdf = gdf.assign(**{col: _file_categories(gdf, col, prof, src.file)}).rename(columns={col: "category"})
            if src.name_col and src.name_col in gdf:
                gdf = gdf.rename(columns={src.name_col: "name"})
            part = gdf.to_crs(4326)
            info = FacilitySource(src, src.file, slice(0))
        else:
            raise StudyError("facilities: each source is `osm`, a `table` or a `file`")
        part = part.assign(**{inventory.SOURCE_COL: label})
        if info is not None and sources is not None:
            info.rows = slice(at, at + len(part))
            info.read = part.to_crs(4326) if crs is not None else None
            sources.append(info)
        at += len(part)
        parts.append(part)
    if not parts:
        raise StudyError("facilities: give at least one source")
    fac = gpd.GeoDataFrame(pd.concat([p.to_crs(out_crs) for p in parts], ignore_index=True), crs=out_crs)
    # features each source holds but leaves out as not open to the public (a campus library):
    # the inventory tells them apart from facilities the data do not hold at all
    closed = []
    for p, src in zip(parts, study.facilities, strict=True):
        rep = p.attrs.get("facility_report")
        for category, fid, name, reason in getattr(rep, "not_public", ()):
            closed.append((category, fid, name, reason, source_label(study, src)))
    fac.attrs["not_public"] = closed
    return fac


def osm_reference(study: Study) -> gpd.GeoDataFrame | None:
    """The study's named OpenStreetMap features (WGS-84), to compare facility names with; None without OSM."""
    if study.osm is None and study._extract is None:
        return None
    feats = osm_extract(study).features
    return feats.loc[feats["name"].notna().to_numpy(), ["name", "geometry"]]


_UNSHIFTED_LABEL = {"gcj02": "GCJ-02 (Amap, Tencent)", "bd09": "BD-09 (Baidu)", "as_given": "WGS-84"}


def check_coordinates(
    study: Study,
    profile: Profile,
    fac: gpd.GeoDataFrame,
    sources: list[FacilitySource],
    streets: Callable[[str], Network],
    notes: list[str],
) -> None:
    """Compare each facility table and layer with the streets and OSM names: refuse a clear shift, note a doubt.

    A table's rows are tested in the coordinates it was written in (GCJ-02 rows taken back
    to GCJ-02), so a wrong default is caught as well as a wrong declaration.
    """
    st = study
    mode = "walk" if "walk" in profile.modes else profile.circles[next(iter(profile.circles))].mode
    reference: gpd.GeoDataFrame | None = None
    for src in sources:
        rep = src.report
        for note in rep.notes if rep is not None else []:
            notes.append(note)
        part = src.read if src.read is not None else fac.iloc[src.rows]
        if "facility_id" in part:
            part = part.drop_duplicates("facility_id")
        if part.empty:
            continue
        used = rep.coordinates if rep is not None and rep.coordinates in ("gcj02", "bd09") else "as_given"
        raw = part[[c for c in ("name",) if c in part] + ["geometry"]].to_crs(4326)
        if used != "as_given":
            forward = _crs.wgs84_to_gcj02 if used == "gcj02" else _crs.wgs84_to_bd09

            def _to_raw(xy: np.ndarray, fn: Any = forward) -> np.ndarray:
                x, y = fn(xy[:, 0], xy[:, 1])
                return np.column_stack([x, y])

            raw = raw.set_geometry(gpd.GeoSeries(shapely.transform(raw.geometry.values, _to_raw), index=raw.index, crs=4326))
        kind = "table" if rep is not None else "file"
        if not src.spec.shift_check:
            notes.append(f"facilities: the coordinates of the {kind} {src.label} were not checked (shift_check: false)")
            continue
        cent = raw.geometry.representative_point()
        if not _crs.in_shift_area(cent.x.to_numpy(), cent.y.to_numpy()).any():
            continue  # GCJ-02 and BD-09 exist only in China
        if reference is None:
            reference = osm_reference(st)
        check = _crs.detect_shift(raw, streets(mode), reference=reference, warn=False)
        if check.best is not None and check.best != used:
            if kind == "table":
                value = {"as_given": "wgs84", "gcj02": "gcj02", "bd09": "bd09"}[check.best]
                fix = (
                    f"say so in the study file: under facilities, give the table's entry `crs: {value}` "
                    f"(- table: {src.label}\n    crs: {value})"
                )
            else:
                fix = (
                    f"convert the layer first, e.g. mtown_geo.crs.to_wgs84(geopandas.read_file({src.label!r}), "
                    f"source={check.best!r}).to_file(...)"
                )
            raise InputError(
                f"facilities: the coordinates of the {kind} {src.label} are read as {_UNSHIFTED_LABEL[used]} but look "
                f"{_UNSHIFTED_LABEL[check.best]}: every facility would stand 300–900 m from where it is. "
                f"Evidence: {check.evidence}. Fix: {fix}. If the coordinates are right, set "
                "`shift_check: false` on the entry"
            )
        if check.best is None:
            warnings.warn(
                f"facilities: cannot tell whether the coordinates of the {kind} {src.label} "
                f"({_UNSHIFTED_LABEL[used]} as read) are right: {check.message}",
                CoordinateShiftWarning,
                stacklevel=2,
            )
        else:
            log.info("facilities: the coordinates of %s fit as read (%s)", src.label, _UNSHIFTED_LABEL[used])


def village_points(study: Study, town: gpd.GeoDataFrame, metric: Any) -> gpd.GeoDataFrame:
    parts = []
    town_m = _geom.polygon_union(town, crs=metric, what="town boundary")
    for src in study.villages:
        if src.osm is not None:
            f = osm_extract(study, src.osm).features
            places = ("village", "hamlet", "isolated_dwelling")
            is_v = np.fromiter((t.get("place") in places for t in f["tags"].to_numpy()), dtype=bool, count=len(f))
            v = f.loc[is_v, ["name", "geometry"]].to_crs(metric)
        elif src.file is not None:
            v = read_layer(study, src.file, layer=src.layer).to_crs(metric)
            if src.name_col and src.name_col in v:
                v = v.rename(columns={src.name_col: "name"})
        else:
            raise StudyError("villages: each source is `osm` or a `file`")
        v = v[v.intersects(town_m)]
        parts.append(v)
    if not parts:
        return _frames.geo_frame({"name": []}, [], metric)
    vil = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=metric)
    vil = vil.set_geometry(vil.geometry.representative_point())
    vil["area_m2"] = 0.0
    vil["pop"] = 0.0
    vil["res_area_m2"] = 0.0
    return vil.reset_index(drop=True)


def network_for(study: Study, prof: Profile, mode: str, town: gpd.GeoDataFrame, cache: dict[str, Network]) -> Network:
    if mode in cache:
        return cache[mode]
    spec = study.network
    if spec.source == "osm" or is_osm_file(spec.source):
        net = network.from_osm(
            study.osm_source(spec.source),
            mode=mode,
            boundary=town,
            buffer_m=spec.buffer_m,
            profile=prof,
            crs=_crs.metric_crs(town),
        )
    else:
        lines = read_layer(study, spec.source)
        _crs.require_crs(lines, what="road centreline layer")
        # the lines that reach the town plus the buffer, whole
        metric = _crs.metric_crs(town)
        reach_area = _geom.buffered(_geom.polygon_union(town, crs=metric, what="town boundary"), spec.buffer_m)
        lines = lines[lines.to_crs(metric).intersects(reach_area).to_numpy()]
        if lines.empty:
            raise StudyError(f"network.source: no line of {spec.source} comes within {spec.buffer_m:g} m of the town")
        kw: dict[str, Any] = {"mode": mode, "profile": prof, "snap_tol_m": spec.snap_tol_m, "crs": metric}
        for key in ("class_col", "oneway_col", "name_col", "level_col", "bridge_col", "tunnel_col"):
            if getattr(spec, key) is not None:
                kw[key] = getattr(spec, key)
        net = network.from_lines(lines, **kw)
    if spec.dem and prof.mode(mode).network == "walk":
        net = terrain.with_slope(net, study.path(spec.dem))
    cache[mode] = net
    return net


#: Memory of a run per demand unit and per life circle on the grid (bytes): travel times,
#: coverage, gaps, parks and rasters. Measured with the peak resident size of runs of the
#: demo town at 20 m and 10 m cells (3,226 and 12,284 units): 7.2 kB per unit for two
#: circles, of which 1.6 kB is the grid's own; rounded up.
_RUN_BYTES_PER_UNIT_PER_CIRCLE = 3_000


#: The interactive map's memory per unit, and per unit and circle (bytes): the same runs
#: with ``outputs.maps`` gave 34 kB per unit for one circle and 47 kB for two.
_MAP_BYTES_PER_UNIT = 20_000


_MAP_BYTES_PER_UNIT_PER_CIRCLE = 10_000


#: Networks and their search tables (bytes): Andorra's whole walk network (137,000 nodes)
#: with its 15-minute search took 200 MB; three such networks.
_NETWORK_BYTES = 600 * 1024**2


def grid_circles(st: Study, prof: Profile) -> list[str]:
    """The study's circles whose demand is the grid (not villages)."""
    return [c for c in (st.circles or list(prof.circles)) if c in prof.circles and prof.circles[c].demand != "villages"]


def shortest_reach_m(prof: Profile, circles: list[str]) -> float | None:
    """The shortest reach (metres) of these circles over all their categories (``None`` without circles)."""
    reach = [prof.reach_m(c, cat) for c in circles for cat in [*prof.circles[c].required, *prof.circles[c].optional]]
    return min(reach) if reach else None


def check_run_memory(st: Study, prof: Profile, built_m: gpd.GeoDataFrame) -> None:
    """Refuse, before any work, a run whose grid would not fit in the memory free."""
    n = len(grid_circles(st, prof))
    per_unit = _RUN_BYTES_PER_UNIT_PER_CIRCLE * max(n, 1)
    if st.outputs.maps:
        per_unit += _MAP_BYTES_PER_UNIT + _MAP_BYTES_PER_UNIT_PER_CIRCLE * n
    limit = demand.available_memory_bytes()
    try:
        demand.check_grid_memory(
            built_m,
            cell_m=st.demand.cell_m,
            bytes_per_unit=per_unit,
            extra_bytes=_NETWORK_BYTES,
            max_memory_bytes=limit,
            what="the run's grid",
        )
    except InputError as exc:
        raise StudyError(f"{st.where('demand', 'cell_m')}demand.cell_m: {exc}") from None


def require_inputs(st: Study) -> None:
    """Every file the study names exists: one error lists the missing ones with their lines, before any work."""
    missing = [
        f"{st.where(*key)}{'.'.join(map(str, key))}: {path} does not exist" for key, path in st.input_paths() if not path.exists()
    ]
    if missing:
        head = f"files named in the study {st._label} do not exist" if st._label else "files named in the study do not exist"
        raise DataNotFoundError(f"{head} (paths are relative to the study file's folder):\n" + "\n".join(missing))


def zone_polygons(st: Study, metric: Any) -> tuple[gpd.GeoDataFrame, str]:
    """The study's zones (sub-area polygons) in the metric CRS, and their name column."""
    assert st.zones is not None
    src = st.zones
    if src.file is None:
        raise StudyError("zones: give a `file` with the sub-area polygons")
    z = read_layer(st, src.file, layer=src.layer).to_crs(metric)
    col = src.name_col or ("name" if "name" in z else None)
    if col is None or col not in z:
        raise StudyError(f"zones: {src.file} needs a name column (set name_col)")
    return z, col


def park_layer(study: Study, profile: Profile, *, boundary: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    st, prof = study, profile
    parts = []
    for src in st.parks:
        if src.osm is not None:
            parts.append(parks.from_osm(st.osm_source(src.osm), profile=prof, boundary=boundary, crs=crs))
        elif src.file is not None:
            layer = read_layer(st, src.file, layer=src.layer)
            kw: dict[str, Any] = {"profile": prof}
            if src.class_col:
                kw["class_col"] = src.class_col
            if src.classes:
                kw["classes"] = tuple(src.classes)
            if src.name_col:
                kw["name_col"] = src.name_col
            parts.append(parks.from_landuse(layer, **kw).to_crs(crs))
        else:
            raise StudyError("parks: each source is `osm` or a land-use `file` (with class_col / classes)")
        parts[-1] = parts[-1].assign(**{inventory.SOURCE_COL: source_label(st, src)})
    if not parts:
        return _frames.geo_frame({"name": [], "area_m2": []}, [], crs)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
