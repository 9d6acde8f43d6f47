"""The policy's other spatial tasks for one town: the study run's ``tasks`` step and its maps.

浙政办发〔2023〕49号 asks towns for 小街区密路网 (task 1), 行政村通双车道公路 / 山区县城镇通三级公路 and
城乡公交一体化 (task 2), 建成区绿地率 / 人均公园绿地 and 充电桩 (task 3) and 邻里中心全覆盖 (task 5).
This module gathers a study's inputs for each (OSM selections by the profile's rules, the
planner's points and layers), calls the indicator functions of :mod:`mtown_geo.streets`,
:mod:`mtown_geo.villages`, :mod:`mtown_geo.transit`, :mod:`mtown_geo.greenspace`,
:mod:`mtown_geo.chargers` and :mod:`mtown_geo.neighbourhood`, and returns the report values
(:func:`mtown_geo.report.task_table` makes the 主要任务 table of them), tables and layers.
:func:`write_maps` draws a print map per task and one interactive map of them all.

Each task is switched by the study's ``tasks:`` keys; a task whose data are missing reports
"data missing" (never 0 %) with a note that says what to give.
"""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import _frames, _geom, _words, chargers, greenspace, neighbourhood, parks, streets, transit, villages
from .. import demand as mg_demand
from .._errors import InputError, MtownGeoWarning, NetworkError, StudyError
from ..network import Network
from ..report import ComputedValue, task_table
from ..sources import osm as _osm
from ..sources.osm import is_osm_file
from ..sources.raster import read_classes
from ..sources.tables import read_facility_table
from . import inputs
from .result import StudyResult
from .steps import StepOutput
from .town import Town

__all__ = ["map_specs", "run_step", "write_maps"]


log = logging.getLogger(__name__)

_NO_DATA = "数据缺失 data missing"


def _km2(area_m2: float) -> str:
    return f"{area_m2 / 1e6:.2f} km²"


def _has_osm(tw: Town) -> bool:
    st = tw.study
    return st.osm is not None or st._extract is not None


def _osm_network(tw: Town) -> bool:
    src = tw.study.network.source
    return _has_osm(tw) and (src == "osm" or is_osm_file(src))


def _pct(x: float | None) -> float:
    return math.nan if x is None or (isinstance(x, float) and math.isnan(x)) else 100.0 * float(x)


def _warn_unseen(rules: Any, what: str) -> None:
    missing = _osm.unselected(rules)
    if missing:
        warnings.warn(
            f"{what}: the OSM reader keeps no feature tagged {', '.join(missing)}, so these profile rules match nothing",
            MtownGeoWarning,
            stacklevel=3,
        )


# -- shared inputs ------------------------------------------------------------------------------


def _government(tw: Town) -> gpd.GeoDataFrame:
    fac = tw.facilities
    if "service_centre" not in tw.profile.categories or len(fac) == 0:
        return gpd.GeoDataFrame({"name": []}, geometry=[], crs=tw.metric)
    return fac[fac["category"] == "service_centre"].to_crs(tw.metric).reset_index(drop=True)


def _seat(tw: Town) -> tuple[gpd.GeoDataFrame, str]:
    st = tw.study
    built_m = tw.built.to_crs(tw.metric)
    if st.tasks.seat is not None:
        lon, lat = st.tasks.seat
        pt = gpd.GeoDataFrame({"name": ["镇政府 (study)"]}, geometry=[shapely.Point(lon, lat)], crs=4326).to_crs(tw.metric)
        return pt, "tasks.seat of the study file"
    rules = tw.profile.tasks.village_roads if tw.profile.tasks is not None else None
    patterns = list(rules.seat_name_patterns) if rules is not None else []
    return villages.town_seat(_government(tw), built_m, name_patterns=patterns)


def _strip(name: str, patterns: list[str]) -> str:
    out = name
    for p in patterns:
        out = out.replace(p, "")
    return out.strip()


def _village_layer(tw: Town) -> gpd.GeoDataFrame:
    """The study's villages in the town's metric CRS (:func:`~mtown_geo.pipeline.inputs.village_points`):
    those a circle measured from in that CRS, else read now (the same points)."""
    for circle, (units, _) in tw.circle_demand.items():
        spec = tw.profile.circles.get(circle)
        if spec is not None and spec.demand == "villages" and units.crs is not None and units.crs.equals(tw.metric):
            return units
    return inputs.village_points(tw.study, tw.town, tw.metric)


def _task_villages(tw: Town, notes: list[str]) -> gpd.GeoDataFrame:
    """The study's villages plus 村委会 points (named government offices) not already among them."""
    vil = _village_layer(tw)[["name", "geometry"]].assign(source="villages")
    rules = tw.profile.tasks.village_roads if tw.profile.tasks is not None else None
    patterns = list(rules.committee_name_patterns) if rules is not None else []
    gov = _government(tw)
    if patterns and len(gov):
        names = gov["name"].fillna("").astype(str)
        is_c = names.map(lambda n: any(p in n for p in patterns)).to_numpy(bool)
        town_m = _geom.polygon_union(tw.town, crs=tw.metric, what="town boundary")
        com = gov[is_c & gov.intersects(town_m).to_numpy()]
        known = [str(n) for n in vil["name"] if isinstance(n, str) and n]
        keep = []
        for n in com["name"].astype(str):
            core = _strip(n, patterns)
            keep.append(bool(core) and not any(core in k or k in core for k in known))
        extra = com[np.asarray(keep, dtype=bool)]
        if len(extra):
            extra = gpd.GeoDataFrame(
                {"name": extra["name"].to_numpy(), "source": "村委会"},
                geometry=extra.geometry.representative_point().to_numpy(),
                crs=tw.metric,
            )
            vil = gpd.GeoDataFrame(pd.concat([vil, extra], ignore_index=True), crs=tw.metric)
            notes.append(f"tasks: {len(extra)} 村委会 points added to the villages")
    return vil.reset_index(drop=True)


def _drive(tw: Town, notes: list[str]) -> Network | None:
    if "drive" not in tw.profile.modes:
        notes.append("tasks: the profile has no drive mode; drive-time measures are not computed")
        return None
    return tw.network("drive")


# -- task 1: streets ------------------------------------------------------------------------------


def _road_lines(tw: Town) -> gpd.GeoDataFrame:
    """The road centrelines of the streets task in the town's metric CRS: from OSM the ways it
    can count near the town (:func:`_street_ways`, the town's box grown by 2.5 km), else the
    lines of the centreline file."""
    st = tw.study
    if _osm_network(tw):
        town_box = tw.town.to_crs(tw.metric).total_bounds + np.array([-1, -1, 1, 1]) * 2500.0
        return _street_ways(inputs.osm_extract(st), tw.metric, town_box, tw.profile)
    lines = inputs.read_layer(st, st.network.source).to_crs(tw.metric)
    return lines[["geometry"]].reset_index(drop=True)


def _street_ways(ext: _osm.OSMExtract, crs: Any, box: np.ndarray, profile: Any) -> gpd.GeoDataFrame:
    """The ways of an extract that :func:`mtown_geo.streets.counted` can count (the public
    service ways included) and that meet a box (minx, miny, maxx, maxy in ``crs``), as lines in
    ``crs`` with their tags.

    Only these ways are made lines and projected, each the same line, to the bit, as the whole
    layer projected (:meth:`~mtown_geo.sources.osm.OSMExtract.way_lines`, ``to_crs``); the other
    ways have no part in any street measure, so :func:`mtown_geo.streets.assess` gives the same
    answers with them or without.
    """
    keep = streets.counted(ext.ways, profile=profile, internal=True)
    geoms = ext.way_lines_at(keep, crs)[keep]
    near = shapely.intersects(geoms, shapely.box(*box))
    ways = ext.ways.iloc[np.flatnonzero(keep)[near]].drop(columns=["start", "stop"])
    return _frames.geo_frame(ways, geoms[near], crs).reset_index(drop=True)


def _streets(tw: Town, out: dict[str, ComputedValue], tables: dict[str, pd.DataFrame], layers: dict[str, Any]) -> None:
    a = streets.assess(_road_lines(tw), tw.built.to_crs(tw.metric), town=tw.town.to_crs(tw.metric), profile=tw.profile)
    built = f"建成区面积 built-up area {a.area_km2:.2f} km²"
    blocks = f"街区数 blocks in the built-up area: {a.n_blocks}"
    extra = ("; " + "; ".join(a.notes)) if a.notes else ""
    out["streets:street_density"] = ComputedValue(
        a.density_km_per_km2,
        built,
        True,
        f"{a.km:.2f} km of public-road centreline ({a.raw_km:.2f} km before the two carriageways of dual roads were counted once)"
        + extra,
    )
    out["streets:street_density_internal"] = ComputedValue(
        a.internal_density_km_per_km2, built, True, f"{a.internal_km:.2f} km with the public service ways"
    )
    out["streets:street_density_town"] = ComputedValue(
        a.town_density_km_per_km2,
        f"镇域面积 town area {a.town_area_km2:.2f} km²",
        True,
        f"{a.town_km:.2f} km; not comparable with the 8 km/km² target, which is for the built-up area",
    )
    out["streets:intersection_density"] = ComputedValue(
        a.junction_density_per_km2,
        built,
        True,
        f"{a.n_junctions} junctions of three or more public roads, nodes within "
        f"{tw.profile.tasks.streets.junction_merge_m if tw.profile.tasks and tw.profile.tasks.streets else 15:g} m merged",
    )
    n_ok = int(a.layers["blocks"]["within_max"].sum()) if a.n_blocks else 0
    out["streets:block_share"] = ComputedValue(
        _pct(a.block_share),
        blocks,
        True,
        f"{n_ok} of {_words.count(a.n_blocks, 'block', 'blocks')} {_words.agree(n_ok, 'has', 'have')} a long side ≤ {a.max_side_m:g} m"
        if a.n_blocks
        else "no block: " + _NO_DATA,
    )
    out["streets:block_median_side"] = ComputedValue(
        a.block_median_m, blocks, True, f"90th percentile {a.block_p90_m:.0f} m" if a.n_blocks else "no block: " + _NO_DATA
    )
    layers["streets"] = a.layers["streets"]
    layers["blocks"] = a.layers["blocks"]
    layers["junctions"] = a.layers["junctions"]


# -- task 2: village roads --------------------------------------------------------------------------


def _network_ways(ways: pd.DataFrame, net: Network) -> pd.DataFrame:
    """The ways of an extract that make edges of a network (by ``osm_id``; all of them when its
    edges carry none): the only ways whose attributes :func:`mtown_geo.villages.edge_attributes`
    joins to the edges."""
    table = net.edge_table
    if "osm_id" not in table or "osm_id" not in ways:
        return ways
    return ways[ways["osm_id"].isin(table["osm_id"].to_numpy()).to_numpy()]


def _village_roads(
    tw: Town,
    vil: gpd.GeoDataFrame,
    seat: gpd.GeoDataFrame,
    seat_how: str,
    out: dict[str, ComputedValue],
    layers: dict[str, Any],
    notes: list[str],
) -> pd.DataFrame | None:
    if not _osm_network(tw):
        notes.append(
            "tasks.villages: road lanes, widths and surfaces come from OSM; with a centreline network they are not computed"
        )
        return None
    net = _drive(tw, notes)
    if net is None:
        return None
    roads = _osm.road_attributes(_network_ways(inputs.osm_extract(tw.study).ways, net))
    r = villages.assess(net, roads, vil, seat, county=tw.study.tasks.county, seat_how=seat_how, profile=tw.profile)
    notes.extend(f"tasks.villages: {n}" for n in r.notes)
    denom = f"行政村 villages: {r.n_villages} (pass {r.n_pass}, unknown {r.n_unknown}, fail {r.n_fail})"
    seat_note = f"town seat: {r.seat_name} ({seat_how})"
    if r.n_villages:
        out["village_roads:village_two_lane"] = ComputedValue(
            _pct(r.rate),
            denom,
            True,
            f"{r.n_unknown} villages unknown: roads without lane/width/surface tags on their path; {seat_note}",
        )
        n_weak = int((r.villages["weak_status"] == "pass").sum())
        out["village_roads:village_two_lane_weak"] = ComputedValue(
            _pct(r.weak_rate),
            f"行政村 villages: {r.n_villages}",
            True,
            f"{_words.count(n_weak, 'village', 'villages')} with a two-lane road within reach",
        )
    else:
        for key in ("village_two_lane", "village_two_lane_weak"):
            out[f"village_roads:{key}"] = ComputedValue(
                math.nan, "行政村 villages: 0", True, "no village in the town: " + _NO_DATA
            )
    if r.grade3 is None:
        out["village_roads:town_grade3"] = ComputedValue(math.nan, "乡镇 town: 1", True, r.grade3_why, details={"status": "n/a"})
    else:
        val = {"pass": 1.0, "fail": 0.0}.get(r.grade3, math.nan)
        out["village_roads:town_grade3"] = ComputedValue(
            val,
            "乡镇 town: 1",
            True,
            f"{r.grade3}: {r.grade3_why}; {seat_note}",
            details={"status": {"pass": "pass", "fail": "fail"}.get(r.grade3, "missing")},
        )
    for name, gdf in r.layers.items():
        # in the drive network's CRS, the town's own as a rule: then taken as they are, not copied
        layers[name] = gdf if gdf.crs is not None and gdf.crs.is_exact_same(tw.metric) else gdf.to_crs(tw.metric)
    return r.villages


# -- task 2: buses --------------------------------------------------------------------------------


def _stops(tw: Town, notes: list[str]) -> gpd.GeoDataFrame:
    st, prof = tw.study, tw.profile
    rules = prof.tasks.transit if prof.tasks is not None else None
    parts = []
    for src in st.tasks.stops:
        if src.osm is not None:
            if rules is None or not _has_osm(tw):
                continue
            _warn_unseen(rules.osm, "tasks.transit.osm")
            ext = inputs.osm_extract(st, src.osm)
            sel = _osm.select(ext, rules.osm)
            served = transit._served_by_id(sel["osm_type"].to_numpy(), sel["osm_id"].to_numpy(), ext.routes)
            frame = _frames.geo_frame({"name": sel["name"].to_numpy(), "source": "osm"}, sel.geometry.to_numpy(), 4326)
            if served is not None:
                frame["served"] = served
            parts.append(frame)
        elif src.table is not None:
            kw: dict[str, Any] = {"profile": prof}
            for key in ("crs", "category_col", "type_col", "name_col"):
                if getattr(src, key) is not None:
                    kw[key] = getattr(src, key)
            t = read_facility_table(st.path(src.table), **kw)
            t = t[t["category"] == "bus_stop"]
            parts.append(_frames.geo_frame({"name": t["name"].to_numpy(), "source": "table"}, t.geometry.to_numpy(), t.crs))
        elif src.file is not None:
            f = inputs.read_layer(st, src.file, layer=src.layer)
            name = f[src.name_col] if src.name_col and src.name_col in f else f.get("name", pd.Series([None] * len(f)))
            parts.append(_frames.geo_frame({"name": name.to_numpy(), "source": "file"}, f.geometry.to_numpy(), f.crs))
        else:
            raise StudyError("tasks.stops: each source is `osm`, a `table` or a `file`")
    if not parts:
        return _frames.geo_frame({"name": [], "source": []}, [], tw.metric)
    allp = gpd.GeoDataFrame(pd.concat([p.to_crs(tw.metric) for p in parts], ignore_index=True), crs=tw.metric)
    if "served" in allp:
        allp["served"] = allp["served"].astype("boolean").fillna(False).astype(bool)
    # stops that can serve the town: inside it or within the village distance
    town_m = _geom.polygon_union(tw.town, crs=tw.metric, what="town boundary")
    reach_m = rules.village_dist_m if rules is not None else 2000.0
    return allp[allp.dwithin(town_m, reach_m).to_numpy()].reset_index(drop=True)


def _transit(
    tw: Town, vil: gpd.GeoDataFrame, out: dict[str, ComputedValue], layers: dict[str, Any], notes: list[str]
) -> pd.DataFrame | None:
    rules = tw.profile.tasks.transit if tw.profile.tasks is not None else None
    if rules is None:
        return None
    raw = _stops(tw, notes)
    built_m = tw.built.to_crs(tw.metric)
    stops = transit.merge_stops(raw, merge_dist_m=rules.merge_dist_m, crs=tw.metric)
    area = f"建成区面积 built-up area {_km2(float(built_m.union_all().area))}"
    nv = len(vil)
    if len(stops) == 0:
        why = "no bus stop in the data (OSM or tasks.stops): coverage unknown, not 0 %; " + _NO_DATA
        for key in ("bus_500m", "bus_300m", "bus_500m_network"):
            out[f"transit:{key}"] = ComputedValue(math.nan, area, True, why)
        for key in ("village_bus_2km", "village_bus_500m"):
            out[f"transit:{key}"] = ComputedValue(math.nan, f"行政村 villages: {nv}", True, why)
        out["transit:bus_stops_served"] = ComputedValue(math.nan, "公交站点 stops: 0", True, why)
        notes.append("tasks.transit: " + why)
        return None
    n_feat = int(stops["n_features"].sum())
    stop_note = f"{_words.count(len(stops), 'stop', 'stops')} ({_words.count(n_feat, 'mapped feature', 'mapped features')}, those within {rules.merge_dist_m:g} m merged)"
    # one union of the built-up area for both radii; the part beyond the 300 m circles is not cut (no layer shows it)
    c500, c300 = transit._area_coverages(stops, built_m, radii_m=[rules.radius_m, rules.radius_small_m], gaps=[True, False])
    out["transit:bus_500m"] = ComputedValue(
        _pct(c500.rate), area, True, f"straight-line {rules.radius_m:g} m circles; {stop_note}"
    )
    out["transit:bus_300m"] = ComputedValue(_pct(c300.rate), area, True, f"straight-line {rules.radius_small_m:g} m circles")
    if "walk" in tw.profile.modes:
        walk = tw.network("walk")
        units = tw.units if tw.units.crs is not None and tw.units.crs.is_exact_same(walk.crs) else tw.units.to_crs(walk.crs)
        rate = transit.network_coverage(walk, stops, units, dist_m=rules.radius_m, weight="area_m2")
        out["transit:bus_500m_network"] = ComputedValue(
            _pct(rate),
            area + f" ({len(tw.units)} cells of {tw.study.demand.cell_m:g} m)",
            True,
            f"{rules.radius_m:g} m walked along the streets",
        )
    table = None
    if nv:
        vr = transit.village_reach(vil, stops, dists_m=[rules.village_dist_m, rules.village_near_m])
        far, near = vr[f"within_{rules.village_dist_m:g}m"], vr[f"within_{rules.village_near_m:g}m"]
        out["transit:village_bus_2km"] = ComputedValue(
            _pct(float(far.mean())),
            f"行政村 villages: {nv}",
            True,
            f"{_words.count(int(far.sum()), 'village', 'villages')} with a stop within {rules.village_dist_m:g} m (straight line)",
        )
        out["transit:village_bus_500m"] = ComputedValue(
            _pct(float(near.mean())),
            f"行政村 villages: {nv}",
            True,
            f"{_words.count(int(near.sum()), 'village', 'villages')} with a stop within {rules.village_near_m:g} m",
        )
        table = vr.rename(
            columns={
                "dist_m": "bus_stop_dist_m",
                f"within_{rules.village_dist_m:g}m": "bus_within_far",
                f"within_{rules.village_near_m:g}m": "bus_within_near",
            }
        )
    else:
        for key in ("village_bus_2km", "village_bus_500m"):
            out[f"transit:{key}"] = ComputedValue(math.nan, "行政村 villages: 0", True, "no village in the town: " + _NO_DATA)
    if "served" in stops:
        share = float(stops["served"].mean())
        out["transit:bus_stops_served"] = ComputedValue(
            _pct(share),
            f"公交站点 stops: {len(stops)}",
            True,
            f"{_words.count(int(stops['served'].sum()), 'stop', 'stops')} on a mapped route=bus relation",
        )
    else:
        out["transit:bus_stops_served"] = ComputedValue(
            math.nan, f"公交站点 stops: {len(stops)}", True, "no route=bus relation in the data: served or not is unknown"
        )
    layers["bus_stops"] = stops
    layers["bus_coverage"] = _frames.geo_frame(
        {"radius_m": [rules.radius_m] * 2, "covered": [True, False], "area_m2": [c500.covered.area, c500.gaps.area]},
        [c500.covered, c500.gaps],
        tw.metric,
    )
    return table


# -- task 3: green space -------------------------------------------------------------------------------


def _may_reach(geoms: np.ndarray, area_m: shapely.Geometry, metric: Any, *, pad_m: float = 1000.0) -> np.ndarray:
    """Which lon/lat polygons may meet ``area_m`` (in the metric CRS ``metric``) once projected.

    A polygon is left out only when its lon/lat box misses that of the area's box widened by
    ``pad_m`` and it spans less than 0.1° each way: its edges are then shorter than 16 km, and
    a projected straight edge departs from the projection of the lon/lat one by metres, far
    less than ``pad_m``. Every polygon is kept when the box cannot be found in lon/lat.
    """
    keep = np.ones(len(geoms), dtype=bool)
    if area_m.is_empty or not len(geoms):
        return keep
    x0, y0, x1, y1 = area_m.bounds
    box = shapely.segmentize(shapely.box(x0 - pad_m, y0 - pad_m, x1 + pad_m, y1 + pad_m), pad_m / 10)
    w, s, e, n = gpd.GeoSeries([box], crs=metric).to_crs(4326).total_bounds
    if not np.isfinite([w, s, e, n]).all() or e - w > 90.0:
        return keep
    b = shapely.bounds(geoms)
    small = (b[:, 2] - b[:, 0] < 0.1) & (b[:, 3] - b[:, 1] < 0.1)
    apart = (b[:, 0] > e) | (b[:, 2] < w) | (b[:, 1] > n) | (b[:, 3] < s)
    keep[small & apart] = False
    return keep


def _greenspace(
    tw: Town, out: dict[str, ComputedValue], tables: dict[str, pd.DataFrame], layers: dict[str, Any], notes: list[str]
) -> None:
    prof, st = tw.profile, tw.study
    rules = prof.tasks.greenspace if prof.tasks is not None else None
    if rules is None:
        return
    built_m = tw.built.to_crs(tw.metric)
    built_geom = built_m.union_all()
    area = f"建成区面积 built-up area {_km2(float(built_geom.area))}"
    parts = []
    if _has_osm(tw):
        feats = inputs.osm_extract(st).features
        # only polygons that may reach the built-up area are tried and projected: the others
        # add no green land to it
        geoms = feats.geometry.to_numpy()
        near = np.isin(shapely.get_type_id(geoms), [3, 6])
        near[near] = _may_reach(geoms[near], built_geom, tw.metric)
        polys = feats[near]
        keys: list[str] = []
        sels = []
        for key, cls in rules.classes.items():
            _warn_unseen(cls.osm, f"tasks.greenspace.classes.{key}")
            sel = _osm.select(polys, cls.osm, exclude=rules.exclude, kind="polygon")
            keys += [key] * len(sel)
            sels.append(sel.geometry.to_numpy())
        osm_m = gpd.GeoSeries(np.concatenate(sels) if sels else [], crs=4326).to_crs(tw.metric)
        parts.append(_frames.geo_frame({"green_class": keys}, osm_m.to_numpy(), tw.metric))
    park_layer = tw.park_layer() if st.parks else gpd.GeoDataFrame(geometry=[], crs=tw.metric)
    first = next(iter(rules.classes))
    if len(park_layer):
        parts.append(_frames.geo_frame({"green_class": [first] * len(park_layer)}, park_layer.geometry.to_numpy(), tw.metric))
    green = (
        gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=tw.metric)
        if parts
        else _frames.geo_frame({"green_class": []}, [], tw.metric)
    )
    lr = greenspace.land_ratio(green, built_m, order=list(rules.classes))
    by = ", ".join(f"{rules.classes[str(k)].name_zh} {v / 1e4:.2f} ha" for k, v in lr.by_class["area_m2"].items())
    out["greenspace:green_land_ratio"] = ComputedValue(
        _pct(lr.rate),
        area,
        True,
        f"LOWER BOUND 下限: mapped park and green-land polygons only ({by}; overlaps counted once); "
        "green land inside estates, schools and factories is seldom mapped",
    )
    tables["green_land"] = lr.by_class.reset_index()
    layers["green_land"] = lr.layer
    # park area per resident of the built-up area
    pop = float(tw.units["pop"].sum()) if "pop" in tw.units else 0.0
    spec = prof.parks
    if pop > 0 and spec is not None:
        per = parks.area_per_capita(park_layer, pop, scope=built_m, profile=prof)
        how = (
            "population raster/census in the built-up area"
            if (st.population.raster or st.population.census)
            else (
                "the town's resident population (population.total): an upper bound of the built-up area's, so the figure is a lower bound"
            )
        )
        out["greenspace:park_per_capita"] = ComputedValue(
            per.m2_per_person,
            f"常住人口 residents {per.pop:,.0f} ({how})",
            True,
            f"{per.park_area_m2 / 1e4:.2f} ha of park in the built-up area",
            details={
                "target": spec.per_capita_min_m2,
                "target_text": f"> {spec.per_capita_min_m2:g} ({spec.per_capita_source}; verified)",
                "status": "pass" if per.meets else "fail",
            },
        )
    else:
        out["greenspace:park_per_capita"] = ComputedValue(
            math.nan, "常住人口 residents: not given", True, "give population (population.total or a raster): " + _NO_DATA
        )
    # green cover from a land-cover raster
    if st.tasks.landcover:
        rc = read_classes(st.path(st.tasks.landcover), built_m)
        if not rules.landcover_classes:
            raise StudyError(
                "tasks.landcover is given but the profile names no vegetation classes (tasks.greenspace.landcover_classes)"
            )
        cr = greenspace.cover_ratio(
            rc.classes, transform=rc.transform, crs=rc.crs, area=built_m, green_classes=rules.landcover_classes, nodata=rc.nodata
        )
        classes = ", ".join(f"{k} {v}" for k, v in rules.landcover_classes.items())
        out["greenspace:green_cover_ratio"] = ComputedValue(
            _pct(cr.rate),
            f"建成区内有数据的像元 pixels of the built-up area: {cr.n_pixels:,}",
            True,
            f"{cr.n_green:,} vegetation pixels (classes {classes}) of {rc.path.name}",
        )
    else:
        out["greenspace:green_cover_ratio"] = ComputedValue(
            math.nan,
            area,
            True,
            "not computed: no land-cover raster given (tasks.landcover); OSM polygons cannot give the vegetation cover",
            details={"status": "n/a"},
        )


# -- task 3: chargers -------------------------------------------------------------------------------


def _charger_layer(tw: Town) -> gpd.GeoDataFrame:
    prof = tw.profile
    rules = prof.tasks.chargers if prof.tasks is not None else None
    fac = tw.facilities
    if rules is None or "charging_station" not in prof.categories or len(fac) == 0:
        return _frames.geo_frame({"name": [], "public": []}, [], tw.metric)
    ch = fac[fac["category"] == "charging_station"].reset_index(drop=True)
    keep = np.ones(len(ch), dtype=bool)
    public = np.ones(len(ch), dtype=bool)
    names = ch["name"].fillna("").astype(str).to_numpy()
    keep &= ~np.array([any(p in n for p in rules.exclude_name_patterns) for n in names], dtype=bool)
    is_osm = (ch["source"] == "osm").to_numpy() if "source" in ch else np.zeros(len(ch), bool)
    if is_osm.any() and _has_osm(tw):
        tags = _osm.feature_tags(inputs.osm_extract(tw.study), ch.loc[is_osm, "facility_id"])
        for pos, t in zip(np.flatnonzero(is_osm), tags, strict=True):
            if t is None:
                continue
            if any(r.matches(t) for r in rules.exclude) and not any(r.matches(t) for r in rules.car):
                keep[pos] = False
            if any(r.matches(t) for r in rules.private):
                public[pos] = False
    return (
        _frames.geo_frame(
            {
                "name": ch["name"].to_numpy(),
                "public": public,
                "source": ch.get("source", pd.Series(["table"] * len(ch))).to_numpy(),
            },
            ch.geometry.to_numpy(),
            ch.crs,
        )
        .loc[keep]
        .reset_index(drop=True)
    )


def _chargers(
    tw: Town, vil: gpd.GeoDataFrame, out: dict[str, ComputedValue], layers: dict[str, Any], notes: list[str]
) -> pd.DataFrame | None:
    rules = tw.profile.tasks.chargers if tw.profile.tasks is not None else None
    if rules is None:
        return None
    drive = _drive(tw, notes)
    built_m = tw.built.to_crs(tw.metric)
    units = tw.units.to_crs(drive.crs) if drive is not None else None
    a = chargers.assess(
        _charger_layer(tw),
        built_m,
        town=tw.town.to_crs(tw.metric),
        units=units,
        drive=drive,
        villages=vil if len(vil) else None,
        profile=tw.profile,
    )
    notes.extend(f"tasks.chargers: {n}" for n in a.notes)
    area = f"建成区面积 built-up area {_km2(float(built_m.union_all().area))}"
    missing = "no public car charger in the data: " + _NO_DATA
    out["chargers:charger_radius"] = ComputedValue(
        _pct(a.radius_rate),
        area,
        True,
        f"straight-line {a.radius_m:g} m; {a.n_nearby} public stations used" if a.n_nearby else missing,
    )
    out["chargers:charger_drive"] = ComputedValue(
        _pct(a.drive_rate), area, True, f"within {a.drive_min:g} minutes' drive (profile drive speeds)" if a.n_nearby else missing
    )
    if a.n_villages:
        n_in = int(a.villages["within"].sum()) if len(a.villages) else 0
        out["chargers:village_charger"] = ComputedValue(
            _pct(a.village_rate),
            f"行政村 villages: {a.n_villages}",
            True,
            f"{_words.count(n_in, 'village', 'villages')} within {a.village_drive_min:g} minutes' drive"
            if a.n_nearby
            else missing,
        )
    else:
        out["chargers:village_charger"] = ComputedValue(
            math.nan, "行政村 villages: 0", True, "no village in the town: " + _NO_DATA
        )
    out["chargers:town_charger"] = ComputedValue(
        float(a.n_stations),
        "镇域 the town (count)",
        True,
        f"yes 有: {a.n_stations} public car charging station(s) in the town"
        if a.n_stations
        else "no 无: no public car charging station mapped in the town (OSM coverage of chargers is sparse: check locally)",
    )
    for name, gdf in a.layers.items():
        layers[name] = gdf
    if len(a.villages):
        return a.villages[["drive_min", "within"]].rename(columns={"drive_min": "charger_drive_min", "within": "charger_within"})
    return None


# -- task 5: neighbourhood centres ------------------------------------------------------------------


def _neighbourhood(
    tw: Town, out: dict[str, ComputedValue], tables: dict[str, pd.DataFrame], layers: dict[str, Any], notes: list[str]
) -> None:
    prof, st = tw.profile, tw.study
    if prof.tasks is None or prof.tasks.neighbourhood is None:
        return
    if "walk" not in prof.modes:
        notes.append("tasks.neighbourhood: the profile has no walk mode; not computed")
        return
    fac = tw.facilities
    centres = (
        fac[fac["category"] == "neighbourhood_centre"].to_crs(tw.metric).reset_index(drop=True)
        if "neighbourhood_centre" in prof.categories and len(fac)
        else gpd.GeoDataFrame({"name": []}, geometry=[], crs=tw.metric)
    )
    weight = tw.weight
    communities, col = (None, "name")
    if st.zones is not None:
        communities, col = inputs.zone_polygons(st, tw.metric)
    walk = tw.network("walk")
    a = neighbourhood.assess(
        centres, tw.units.to_crs(walk.crs), walk, weight=weight, communities=communities, name_col=col, profile=prof
    )
    notes.extend(f"tasks.neighbourhood: {n}" for n in a.notes)
    total = float(tw.units[weight].sum())
    denom = {
        "res_area_m2": f"建成区居住用地 residential land {total / 1e4:.1f} ha",
        "pop": f"人口 people {total:,.0f}",
        "area_m2": f"建成区面积 built-up area {_km2(total)}",
    }[weight]
    miss = "no neighbourhood centre in the data (give the planner's points under facilities:): " + _NO_DATA
    out["neighbourhood:centre_5min"] = ComputedValue(
        _pct(a.rate), denom, True, f"{a.n_centres} centres; {a.walk_min:g} minutes' walk" if a.n_centres else miss
    )
    out["neighbourhood:centre_15min"] = ComputedValue(
        _pct(a.rate_long), denom, True, f"{a.walk_long_min:g} minutes' walk" if a.n_centres else miss
    )
    if a.zones is not None:
        n_cov = int(a.zones["covered"].sum())
        out["neighbourhood:centre_zones"] = ComputedValue(
            _pct(a.zone_rate),
            f"社区 communities: {len(a.zones)}",
            True,
            f"{_words.count(n_cov, 'community', 'communities')} with a centre inside or within {prof.tasks.neighbourhood.zone_dist_m:g} m"
            if a.n_centres
            else miss,
        )
        tables["neighbourhood_zones"] = a.zones.reset_index(drop=True)
        zl = (
            communities.assign(**{c: a.zones[c].to_numpy() for c in ("n_inside", "dist_m", "covered")})
            if communities is not None
            else None
        )
        if zl is not None:
            layers["neighbourhood_zones"] = zl.rename(columns={col: "zone"})[
                ["zone", "n_inside", "dist_m", "covered", "geometry"]
            ]
    else:
        out["neighbourhood:centre_zones"] = ComputedValue(
            math.nan, "社区 communities: not given", True, "give the 社区 polygons under zones: to count communities; " + _NO_DATA
        )
    if a.times_min is not None:
        cells = mg_demand.cells(tw.units.to_crs(tw.metric))
        t = a.times_min.to_numpy(float)
        band = np.where(
            t <= a.walk_min + 1e-9,
            f"≤{a.walk_min:g} min",
            np.where(t <= a.walk_long_min + 1e-9, f"≤{a.walk_long_min:g} min", "beyond"),
        )
        layers["neighbourhood_reach"] = _frames.geo_frame(
            {"walk_min": np.where(np.isfinite(t), t, np.nan), "band": band}, cells.geometry.to_numpy(), tw.metric
        )
    if len(centres):
        layers["neighbourhood_centres"] = (
            centres[["name", "source", "geometry"]] if "source" in centres else centres[["name", "geometry"]]
        )


# -- the step ----------------------------------------------------------------------------------------


def run_step(tw: Town) -> StepOutput:
    """Compute every policy task the study switches on.

    Returns
    -------
    StepOutput
        The tasks' tables and layers; ``tables["tasks"]`` is the 主要任务 table
        (:func:`mtown_geo.report.task_table` of the values keyed ``"<task>:<indicator>"``)
        when any task was computed.
    """
    step = StepOutput()
    tables, layers, notes = step.tables, step.layers, step.notes
    st, prof = tw.study, tw.profile
    spec = st.tasks
    out: dict[str, ComputedValue] = {}
    if prof.tasks is None:
        if any((spec.streets, spec.villages, spec.transit, spec.greenspace, spec.chargers, spec.neighbourhood)):
            notes.append(f"tasks: the profile {prof.name!r} has no tasks section; the policy tasks are not computed")
        return step
    need_villages = (
        (spec.villages and prof.tasks.village_roads)
        or (spec.transit and prof.tasks.transit)
        or (spec.chargers and prof.tasks.chargers)
    )
    vil = _task_villages(tw, notes) if need_villages else gpd.GeoDataFrame({"name": []}, geometry=[], crs=tw.metric)
    vtables: list[pd.DataFrame] = []

    def guarded(task: str, fn: Any, *args: Any) -> Any:
        """Run one task; bad data of one task make its rows "missing" with the reason, not a failed town."""
        try:
            return fn(*args)
        except (InputError, NetworkError) as exc:
            notes.append(f"tasks.{task}: not computed: {exc}")
            rules = getattr(prof.tasks, task)
            for key in rules.indicators:
                out.setdefault(f"{task}:{key}", ComputedValue(math.nan, "—", True, f"not computed: {exc}"))
            return None

    if spec.streets and prof.tasks.streets is not None:
        guarded("streets", _streets, tw, out, tables, layers)
    if spec.villages and prof.tasks.village_roads is not None:

        def village_roads() -> pd.DataFrame | None:
            seat, how = _seat(tw)
            if "centre" in how:
                notes.append(f"tasks.villages: town seat = {how}; give tasks.seat as [lon, lat] for the 镇政府 itself")
            return _village_roads(tw, vil, seat, how, out, layers, notes)

        t = guarded("village_roads", village_roads)
        if t is not None and len(t):
            vtables.append(t)
    if spec.transit and prof.tasks.transit is not None:
        t = guarded("transit", _transit, tw, vil, out, layers, notes)
        if t is not None:
            vtables.append(t)
    if spec.greenspace and prof.tasks.greenspace is not None:
        guarded("greenspace", _greenspace, tw, out, tables, layers, notes)
    if spec.chargers and prof.tasks.chargers is not None:
        t = guarded("chargers", _chargers, tw, vil, out, layers, notes)
        if t is not None:
            vtables.append(t)
    if spec.neighbourhood and prof.tasks.neighbourhood is not None:
        guarded("neighbourhood", _neighbourhood, tw, out, tables, layers, notes)
    if len(vil):
        base = pd.DataFrame({"village": vil["name"].to_numpy(), "source": vil["source"].to_numpy()}, index=vil.index)
        for t in vtables:
            base = base.join(t.drop(columns=[c for c in ("name",) if c in t]), how="left")
        tables["task_villages"] = base.reset_index(drop=True)
    if out:
        tables["tasks"] = task_table(prof, out)
    return step


# -- maps ---------------------------------------------------------------------------------------------


_STATUS_COLOUR = {"pass": "#1a9850", "unknown": "#fdae61", "fail": "#d73027"}
_STATUS_LABEL = {"pass": "达标 pass", "unknown": "未知 unknown", "fail": "未达标 fail"}
_STRETCH_LABEL = {"fail": "村镇路径上非双车道路段 failing stretches", "unknown": "村镇路径上未知路段 unknown stretches"}


def _green_name(result: StudyResult, cls: str) -> str:
    """A green-land class as the legend names it: the profile's Chinese name, then the class."""
    tasks = result.profile.tasks
    spec = tasks.greenspace.classes.get(cls) if tasks is not None and tasks.greenspace is not None else None
    return f"{spec.name_zh} {cls}" if spec is not None and spec.name_zh else cls


def map_specs(result: StudyResult) -> list[tuple[str, list[tuple[Any, dict[str, Any], str]], str, str, str]]:
    """(file stem, layers, title zh, title en, subtitle) of each task map that has something to show."""
    L = result.layers
    rows = {r["key"]: r for _, r in result.tables["tasks"].iterrows()}

    def sub(key: str, fmt: str) -> str:
        r = rows.get(key)
        if r is None or r["value"] is None or (isinstance(r["value"], float) and math.isnan(r["value"])):
            return f"{key}: {_NO_DATA}"
        return fmt.format(v=float(r["value"]))

    maps: list[tuple[str, list[tuple[Any, dict[str, Any], str]], str, str, str]] = []
    if "streets" in L and len(L["streets"]):
        lay: list[tuple[Any, dict[str, Any], str]] = []
        bl = L.get("blocks")
        if bl is not None and len(bl):
            ok = bl[bl["within_max"].to_numpy(bool)]
            big = bl[~bl["within_max"].to_numpy(bool)]
            if len(ok):
                lay.append((ok, {"facecolor": "#a6d96a", "edgecolor": "none", "alpha": 0.7}, "街区长边≤300 m blocks {n:.0f} 个"))
            if len(big):
                lay.append((big, {"facecolor": "#fdae61", "edgecolor": "none", "alpha": 0.7}, "街区长边>300 m blocks {n:.0f} 个"))
        s = L["streets"]
        main = s[s["variant"] == "main"]
        major = main[main["highway"].isin(["trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link"])]
        minor = main[~main.index.isin(major.index)]
        inner = s[s["variant"] == "internal"]
        if len(major):
            lay.append((major, {"color": "#b2182b", "linewidth": 2.2}, "主次干路 arterial roads {km:.1f} km"))
        if len(minor):
            lay.append((minor, {"color": "#2166ac", "linewidth": 1.2}, "支路 local roads {km:.1f} km"))
        if len(inner):
            lay.append((inner, {"color": "#878787", "linewidth": 0.7}, "公共内部道路 public internal roads {km:.1f} km"))
        jn = L.get("junctions")
        if jn is not None and len(jn):
            lay.append((jn, {"color": "#000000", "markersize": 3}, "交叉口 junctions {n:.0f} 处"))
        maps.append(
            (
                "tasks_streets",
                lay,
                "小街区密路网",
                "Street density and block size",
                sub("street_density", "路网密度 {v:.2f} km/km²"),
            )
        )
    if "village_roads" in L or ("village_road_links" in L and len(L["village_road_links"])):
        lay = []
        roads = L.get("road_status")
        if roads is not None and len(roads):
            for status, colour in (("pass", "#66bd63"), ("unknown", "#bdbdbd"), ("fail", "#f4a582")):
                part = roads[roads["status"] == status]
                if len(part):
                    label = {
                        "pass": "双车道 two-lane roads",
                        "unknown": "未知 roads without tags",
                        "fail": "非双车道 other roads",
                    }[status]
                    lay.append((part, {"color": colour, "linewidth": 1.0}, f"{label} {{km:.1f}} km"))
        links = L.get("village_road_links")
        for status in ("fail", "unknown"):
            if links is not None and len(links):
                sel = links[links["status"] == status]
                # stretches shared by several villages' paths are drawn (and measured) once
                part = gpd.GeoDataFrame(geometry=[shapely.union_all(sel.geometry.to_numpy())], crs=links.crs) if len(sel) else sel
                if len(part):
                    lay.append(
                        (
                            part,
                            {"color": _STATUS_COLOUR[status], "linewidth": 2.5},
                            f"{_STRETCH_LABEL[status]} {{km:.2f}} km",
                        )
                    )
        v = L.get("village_roads")
        if v is not None:
            for status in ("pass", "unknown", "fail"):
                part = v[v["status"] == status]
                if len(part):
                    lay.append(
                        (
                            part,
                            {"facecolor": _STATUS_COLOUR[status], "markersize": 8},
                            f"行政村 villages {_STATUS_LABEL[status]} {{n:.0f}} 个",
                        )
                    )
        seat = L.get("town_seat")
        if seat is not None and len(seat):
            lay.append((seat, {"facecolor": "#000000", "marker": "*", "markersize": 14}, "镇政府 town seat"))
        if lay:
            maps.append(
                ("tasks_village_roads", lay, "行政村通双车道公路", "Village roads", sub("village_two_lane", "通双车道 {v:.1f}%"))
            )
    if "bus_stops" in L:
        lay = []
        cov = L.get("bus_coverage")
        if cov is not None and len(cov):
            inside = cov[cov["covered"].to_numpy(bool)]
            outside = cov[~cov["covered"].to_numpy(bool)]
            if inside["area_m2"].sum() >= 1.0:
                lay.append(
                    (
                        inside,
                        {"facecolor": "#92c5de", "edgecolor": "none", "alpha": 0.6},
                        "500 m 内 within 500 m {area_ha:.1f} ha",
                    )
                )
            if outside["area_m2"].sum() >= 1.0:
                lay.append(
                    (
                        outside,
                        {"facecolor": "#f4a582", "edgecolor": "none", "alpha": 0.6},
                        "500 m 外 beyond 500 m {area_ha:.1f} ha",
                    )
                )
        lay.append((L["bus_stops"], {"facecolor": "#2166ac", "markersize": 6}, "公交站点 bus stops {n:.0f} 处"))
        maps.append(("tasks_bus", lay, "公交站点覆盖", "Bus-stop coverage", sub("bus_500m", "500 m 覆盖率 {v:.1f}%")))
    if "green_land" in L and len(L["green_land"]):
        colours = ("#1a9850", "#a6d96a", "#d9ef8b")
        lay = [
            (part, {"facecolor": colours[i % 3], "edgecolor": "none"}, f"{_green_name(result, str(cls))} {{area_ha:.1f}} ha")
            for i, (cls, part) in enumerate(L["green_land"].groupby("green_class", sort=False))
        ]
        maps.append(
            ("tasks_green", lay, "建成区绿地 (下限)", "Green land (lower bound)", sub("green_land_ratio", "绿地率 ≥ {v:.1f}%"))
        )
    if "chargers" in L and len(L["chargers"]):
        lay = []
        gaps = L.get("charger_gaps")
        if gaps is not None and len(gaps):
            lay.append(
                (
                    gaps,
                    {"facecolor": "#f4a582", "edgecolor": "none", "alpha": 0.6},
                    "0.9 km 外 beyond the radius {area_ha:.1f} ha",
                )
            )
        ch = L["chargers"]
        n_in = int(ch["in_town"].sum()) if "in_town" in ch else len(ch)
        lay.append(
            (
                ch,
                {"facecolor": "#762a83", "markersize": 7},
                f"公共充电站 public chargers {{n:.0f}} 处（镇域内 in the town {n_in}）",
            )
        )
        maps.append(
            ("tasks_chargers", lay, "公共充电设施", "Public car chargers", sub("charger_radius", "0.9 km 覆盖率 {v:.1f}%"))
        )
    if "neighbourhood_centres" in L or "neighbourhood_zones" in L:
        lay = []
        reach = L.get("neighbourhood_reach")
        if reach is not None and len(reach):
            bands = sorted(set(reach["band"]) - {"beyond"}, key=lambda b: float(b[1:].split()[0]))
            for band, colour in zip(bands, ("#1a9850", "#a6d96a"), strict=False):
                part = reach[reach["band"] == band]
                lay.append(
                    (part, {"facecolor": colour, "edgecolor": "none", "alpha": 0.6}, f"步行 walk {band} {{area_ha:.1f}} ha")
                )
        z = L.get("neighbourhood_zones")
        if z is not None and len(z):
            ok = z[z["covered"].to_numpy(bool)]
            bad = z[~z["covered"].to_numpy(bool)]
            if len(ok):
                lay.append(
                    (ok, {"facecolor": "#a6d96a", "edgecolor": "#1a9850", "alpha": 0.5}, "有邻里中心的社区 covered {n:.0f} 个")
                )
            if len(bad):
                lay.append(
                    (
                        bad,
                        {"facecolor": "#f4a582", "edgecolor": "#d73027", "alpha": 0.5},
                        "无邻里中心的社区 not covered {n:.0f} 个",
                    )
                )
        c = L.get("neighbourhood_centres")
        if c is not None and len(c):
            lay.append((c, {"facecolor": "#35978f", "markersize": 8}, "邻里中心 centres {n:.0f} 处"))
        if lay:
            maps.append(
                ("tasks_neighbourhood", lay, "邻里中心", "Neighbourhood centres", sub("centre_5min", "5分钟覆盖率 {v:.1f}%"))
            )
    return maps


def write_maps(result: StudyResult, folder: Path, *, interactive: bool = True, static: bool = True) -> None:
    """The task maps of a run: ``maps/tasks_*.png|pdf`` and ``tasks_map.html``."""
    from ..render import save_map, task_map, task_print_maps  # folium + matplotlib, only when maps are written

    specs = map_specs(result)
    if not specs:
        return
    bounds = result.layers.get("boundaries")
    if static:
        (folder / "maps").mkdir(parents=True, exist_ok=True)
        task_print_maps(specs, folder / "maps", town=result.study.name, boundaries=bounds, data_date=result.data_date)
    if interactive:
        fmap = task_map(
            specs,
            boundaries=bounds,
            tiles=result.study.outputs.tiles,
            town=result.study.name,
            basemap=result.basemap,
            streets=result.layers.get("streets"),
        )
        save_map(fmap, folder / "tasks_map.html")
