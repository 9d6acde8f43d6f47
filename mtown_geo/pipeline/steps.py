"""The indicator steps of a run: the life circles, park coverage (row 8), greenways and siting.

Each step reads the :class:`~mtown_geo.pipeline.town.Town` and returns a :class:`StepOutput`
(its tables, layers, report values and rasters); :func:`mtown_geo.pipeline.run.run` merges them.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .. import _geom, access, documents, greenways, inventory, isochrones, lifecircle, parks, report, siting
from .. import crs as _crs
from .. import rasters as _rasters
from .._errors import (
    GridResolutionWarning,
    StudyError,
)
from ..standards import AnnexRow, Profile
from . import inputs
from .schema import Study, load_profile
from .town import Town

log = logging.getLogger(__name__)


@dataclass
class StepOutput:
    """What one step of a run adds: tables, layers (in the town's metric CRS), report values,
    rasters and notes, merged into the run's in step order."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    computed: dict[str, report.ComputedValue] = field(default_factory=dict)
    rasters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def into(
        self,
        tables: dict[str, pd.DataFrame],
        layers: dict[str, gpd.GeoDataFrame],
        computed: dict[str, report.ComputedValue],
        rasters: dict[str, Any],
        notes: list[str],
    ) -> None:
        """Merge into a run's collections (a later step's table of the same name replaces the earlier one)."""
        tables.update(self.tables)
        layers.update(self.layers)
        computed.update(self.computed)
        rasters.update(self.rasters)
        notes.extend(self.notes)


#: Search limit (minutes) of the study's travel times: the whole network. Times beyond a
#: circle's thresholds are kept (``time_min_<category>`` of the ``units_<circle>`` layers); ``inf``
#: (NULL in the GeoPackage) means no path at all, or farther than the snap distance from the network.
SEARCH_LIMIT_MIN = float("inf")


#: The denominator of a circle's rate by its weight (the demand units' column; ``None``: villages).
_DENOMINATORS: dict[str | None, str] = {
    "res_area_m2": "建成区居住用地面积 residential land in the built-up area",
    "area_m2": "建成区面积 built-up area",
    "pop": "人口 population",
    None: "村庄数 villages",
}


def rate_of(cov: pd.DataFrame, key: str) -> float:
    return float(cov["rate"].to_numpy(float)[list(cov.index).index(key)])


def _missing_names(inv: pd.DataFrame | None, missing: set[str], keys: list[str]) -> tuple[str, ...]:
    """The Chinese names of those inventory rows among ``keys`` that no source holds
    (``missing``: the inventory's gaps, :func:`mtown_geo.inventory.gaps`)."""
    if inv is None:
        return ()
    return tuple(str(inv.loc[k, "name_zh"]) for k in keys if k in missing)


def gap_notes(inv: pd.DataFrame, prof: Profile, computed: Mapping[str, report.ComputedValue]) -> list[str]:
    """One note per category or layer no source holds: where it was looked for and the rows it leaves a lower bound."""
    rows = [*prof.annex, *([prof.greenway_target] if prof.greenway_target is not None else [])]
    notes = []
    for key in inv.index[inv["status"] == inventory.CLOSED]:
        entry = inv.loc[key]
        notes.append(
            f"不对外开放 not public: {entry['name_zh']!s} {entry['name_en']!s} (needed for {entry['needed_for']!s}): the data "
            f"hold {int(entry['not_public'])}, none open to the public (inside closed grounds such as a campus, or "
            "access=private): counted as a gap in service, not as missing data"
        )
    for key in inventory.gaps(inv):
        sources = [c for c in inv.attrs.get("sources_of", {}).get(key, inv.attrs.get("sources", [])) if c in inv.columns]
        hit = [
            (str(r.row) if r.row else r.name_zh)
            for r in rows
            if r.computed is not None and r.computed in computed and key in inventory.depends_on(prof, r.computed)
        ]
        looked = ", ".join(f"{c}: 0" for c in sources) or "no source given"
        entry = inv.loc[key]
        name = f"{entry['name_zh']!s} {entry['name_en']!s}"
        where = f" (needed for {entry['needed_for']!s})" if entry["needed_for"] else ""
        if len(hit) > 1:
            rows_text = f"; rows {', '.join(hit[:-1])} and {hit[-1]} show the rate from what the data holds as a lower bound"
        elif hit:
            rows_text = f"; row {hit[0]} shows the rate from what the data holds as a lower bound"
        else:
            rows_text = ""
        buffer = inv.attrs.get("buffer_m", 0.0)
        add = str(entry["note"]).split("; ", 1)[-1]
        notes.append(
            f"缺数据 data missing: {name}{where}: no source holds any inside the town or within {buffer:g} m of it "
            f"({looked}){rows_text}. {add[:1].upper() + add[1:]}"
        )
    return notes


def _isochrones_and_rasters(
    tw: Town, r: access.Reach, circle: str, layers: dict[str, gpd.GeoDataFrame], rasters: dict[str, Any]
) -> None:
    """Service areas of every category present (at its threshold) and the travel-time raster."""
    prof = tw.profile
    present = [c for c in r.categories if (r.facilities["category"] == c).any()]
    if not present:
        return
    if tw.study.outputs.isochrones:
        # each category at its own threshold only
        areas = isochrones.service_areas(r, thresholds_min={c: prof.threshold_min(circle, c) for c in present}, by="category")
        layers[f"isochrones_{circle}"] = areas.to_crs(tw.metric).reset_index(drop=True)
    if tw.study.outputs.rasters:
        like = tw.study.path(tw.study.population.raster) if tw.study.population.raster else None
        kw: dict[str, Any] = {"like": like} if like is not None else {"resolution_m": tw.study.demand.cell_m}
        rasters[f"travel_time_{circle}"] = _rasters.travel_time_raster(
            r, categories=present, area=tw.built.to_crs(r.network.crs), **kw
        )


def _own_in_crs(gdf: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """A layer of the step's own (made for it, held by no one else) in ``crs``: the layer itself
    when it is in that CRS already (``to_crs`` would copy it whole), else projected."""
    if gdf.crs is not None and gdf.crs.is_exact_same(pyproj.CRS.from_user_input(crs)):
        return gdf
    return gdf.to_crs(crs)


def circle_step(
    tw: Town,
    circle: str,
    tables: Mapping[str, pd.DataFrame],
) -> StepOutput:
    """One life circle: travel times from every demand unit, coverage, k of n, gaps, zones,
    service areas and the travel-time raster; ``tables`` (the run's so far) gives the inventory."""
    out = StepOutput()
    prof = tw.profile
    spec = prof.circles[circle]
    net = tw.network(spec.mode)
    c_units = tw.units
    c_weight: str | None = tw.weight
    if spec.demand == "villages":
        c_units = inputs.village_points(tw.study, tw.town, net.crs)
        c_weight = None  # each village counts 1
        if c_units.empty:
            out.notes.append(f"{circle}: no village inside the town (give `villages:`): the circle is not computed")
            return out
        names = [str(n) for n in c_units["name"].fillna("(unnamed)")] if "name" in c_units else []
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        out.notes.append(
            f"{circle}: measured from each of the {len(c_units)} village(s) inside the town ({shown}): each counts "
            f"{100 / len(c_units):.1f} % of the rate; give all the town's villages under `villages:` if OSM lacks some"
        )
    elif c_units.crs is None or not c_units.crs.is_exact_same(pyproj.CRS.from_user_input(net.crs)):
        c_units = c_units.to_crs(net.crs)
    # (units already in the network's CRS are used as they are: every step below returns new
    # frames and leaves its input alone)
    # the whole network is searched (a few milliseconds more than stopping at the threshold):
    # the maps show times beyond the threshold, and "no path at all" apart from "farther"
    # the facilities attached once per mode (tw.attachment); the circle's Reach serves its
    # coverage, service areas, raster and siting's existing coverage
    r = lifecircle.reach(net, tw.attachment(spec.mode), profile=prof, circle=circle, max_time_min=SEARCH_LIMIT_MIN)
    tw.reaches[circle] = r
    tw.circle_demand[circle] = (c_units, c_weight)
    times = lifecircle.times_at(r, c_units, profile=prof, circle=circle)
    cov = lifecircle.coverage(times, c_units, profile=prof, circle=circle, weight=c_weight)
    if r is not None and spec.demand != "villages":
        _isochrones_and_rasters(tw, r, circle, out.layers, out.rasters)
    out.tables[f"coverage_{circle}"] = cov
    out.tables[f"k_of_n_{circle}"] = lifecircle.k_of_n(times, c_units, profile=prof, circle=circle, weight=c_weight)
    out.tables[f"k_of_n_{circle}"].attrs["weight"] = c_weight  # the unit of its weight column
    assessed = lifecircle.assess(times, c_units, profile=prof, circle=circle)
    out.layers[f"units_{circle}"] = _own_in_crs(assessed, tw.metric)
    if spec.demand != "villages":
        gaps = lifecircle.gaps(assessed, profile=prof, circle=circle, by="category")
        out.layers[f"gaps_{circle}"] = _own_in_crs(gaps, tw.metric)
    if "zone" in c_units:
        out.tables[f"zones_{circle}"] = lifecircle.coverage_by_zone(times, c_units, profile=prof, circle=circle, weight=c_weight)
    denom = _DENOMINATORS[c_weight]
    inv = tables.get("inventory")
    missing = set(inventory.gaps(inv)) if inv is not None else set()  # listed once for every row below
    out.computed[f"circle:{circle}"] = report.ComputedValue(
        value=100.0 * rate_of(cov, lifecircle.CIRCLE),
        denominator=denom,
        verified=spec.verified,
        note="" if spec.verified else f"assumption: {spec.source.strip()}",
        data_gaps=_missing_names(inv, missing, spec.required),
        source=spec.source,
    )
    for cat in spec.required:
        cspec = prof.categories[cat]
        out.computed[f"category:{circle}:{cat}"] = report.ComputedValue(
            value=100.0 * rate_of(cov, cat),
            denominator=denom,
            verified=False,
            note=f"spatial reading: share within {prof.threshold_min(circle, cat):g} min ({cspec.source.strip()})",
            data_gaps=_missing_names(inv, missing, [cat]),
            source=cspec.source,
        )
    return out


def _annex_row_target(prof: Profile, key: str, year: int) -> tuple[float, AnnexRow, int] | None:
    """The target (0–1) of the annex row that computes ``key`` for a year (the latest earlier
    year with a target), with the row and the year; None when no row computes it."""
    for spec in prof.annex:
        if spec.computed == key:
            years = sorted(y for y, v in spec.targets.items() if y <= year and v is not None)
            if years:
                return float(spec.targets[years[-1]] or 0.0) / 100.0, spec, years[-1]
    return None


def _serves_parks(prof: Profile, category: str) -> bool:
    """Whether a category is the park land of row 8 (its OSM rules are the parks' rules)."""
    if prof.parks is None:
        return False
    park_rules = [dict(r.tags) for r in prof.parks.osm]
    return any(dict(r.tags) in park_rules for r in prof.categories[category].osm)


def category_target(study: Study, category: str, circle: str) -> tuple[float | None, str]:
    """The siting target (0–1) of a category and where it comes from.

    In this order: the study's ``siting.targets`` for the category (any name the profile
    accepts), the study's ``siting.target``, the target of the annex row that measures the
    category itself (row 10 elderly care, row 11 childcare; row 8 for the park category),
    else the target of the circle's own row (row 9 for the 15-minute circle), for the
    study's year.

    Returns
    -------
    tuple
        The target (``None`` when there is none) and its source as text, e.g.
        ``"annex row 11 (2025): 80 %"``.
    """
    prof = load_profile(study)
    own = {prof.resolve_category(k): v for k, v in study.siting.targets.items()}
    if category in own:
        return own[category], f"study siting.targets: {100 * own[category]:g} %"
    if study.siting.target is not None:
        return study.siting.target, f"study siting.target: {100 * study.siting.target:g} %"
    keys = [f"category:{circle}:{category}"]
    if _serves_parks(prof, category):
        keys.append("park_coverage")
    keys.append(f"circle:{circle}")
    for key in keys:
        found = _annex_row_target(prof, key, study.year)
        if found is not None:
            value, row, year = found
            what = "" if key.startswith("category:") else f", {row.name_zh}"
            return value, f"annex row {row.row} ({year}{what}): {100 * value:g} %"
    return None, f"no annex row gives a target for {category} in {study.year}"


def _warn_badly_attached(att: access.Attachment, category: str, diag: pd.DataFrame | None) -> pd.DataFrame | None:
    """Report the category's facilities that attach badly, word for word as ``att.select([category]).warn()``
    (rows numbered within the category), from the diagnostics of the whole layer (``diag``, made once and
    returned for the next category)."""
    if "category" not in att.facilities or (att.categories is not None and category not in att.categories):
        att.select([category]).warn()  # its error, as it says it
        return diag
    if diag is None:
        diag = att.diagnostics()
    mine = diag[(diag["category"] == category).to_numpy()].reset_index(drop=True)
    access.warn_statuses(mine, att.network.mode, stacklevel=3)
    return diag


def siting_step(tw: Town, tables: Mapping[str, pd.DataFrame]) -> StepOutput:
    """What it takes to reach the target: the fewest new sites per category below its target.

    Each category's target is :func:`category_target`'s; ``siting.categories`` limits the
    categories (default every category the circle requires); ``tables`` (the run's so far) gives
    the circle's coverage and the inventory."""
    out = StepOutput()
    st, prof = tw.study, tw.profile
    circle = st.siting.circle
    if circle not in prof.circles or prof.circles[circle].demand == "villages":
        out.notes.append(f"siting: the circle {circle!r} has no residential demand units; skipped")
        return out
    key = f"coverage_{circle}"
    if key not in tables:
        return out
    cov = tables[key]
    spec = prof.circles[circle]
    net = tw.network(spec.mode)
    units = tw.units.to_crs(net.crs)
    weight = tw.weight
    reach = tw.reaches.get(circle)
    rows = []
    site_layers = []
    candidates = None  # the default candidates, made once for every category
    diag = None  # how the facilities attach, read once for every category
    missing = set(inventory.gaps(tables["inventory"])) if "inventory" in tables else set()
    wanted = spec.required
    if st.siting.categories is not None:
        chosen = [prof.resolve_category(c) for c in st.siting.categories]
        outside = [c for c in chosen if c not in spec.required]
        if outside:
            out.notes.append(f"siting: {outside} are not required by the {circle} circle; left out")
        wanted = [c for c in spec.required if c in chosen]
    below = []  # the categories below their target: (category, target, its source)
    for cat in wanted:
        target, target_source = category_target(st, cat, circle)
        if target is None:
            out.notes.append(f"siting: {target_source}; give siting.targets")
            continue
        if not rate_of(cov, cat) >= target:  # (a rate that is not a number is sited, as below its target)
            below.append((cat, target, target_source))
    thresholds = Counter(prof.threshold_min(circle, cat) for cat, _, _ in below)
    for cat, target, target_source in below:
        threshold_min = prof.threshold_min(circle, cat)
        # the existing coverage is read from the circle's Reach (no second search); the
        # category's facilities that attach badly are reported as a search of them would
        diag = _warn_badly_attached(tw.attachment(spec.mode), cat, diag)
        if candidates is None and len(units):  # (no unit: add_facilities says what is wrong)
            candidates = siting.default_candidates(net, units)
        if candidates is not None and thresholds.pop(threshold_min, 1) > 1:
            # several categories share the threshold: the candidates' coverage of every unit,
            # searched once, serves them all (add_facilities reads it from the network's cache)
            siting.coverage_matrix(net, candidates, units, threshold_min=threshold_min)
        plan = siting.add_facilities(
            net,
            tw.facilities,
            units,
            category=cat,
            candidates=candidates,
            threshold_min=threshold_min,
            target=target,
            k=st.siting.max_sites,
            weight=weight,
            method=st.siting.method,
            reach=reach,
        )
        rows.append(
            {
                "category": cat,
                "name_zh": prof.categories[cat].name_zh,
                "coverage_now": plan.coverage_before,
                "target": target,
                "target_source": target_source,
                "new_sites": plan.n_sites,
                "coverage_after": plan.coverage_after,
                "target_reached": plan.target_reached,
                "max_coverage": plan.max_coverage,
                "at_least_sites": plan.bound_n_sites,
                "method": plan.method,
                "note": (
                    "缺数据 data missing: no source holds any of this category here, so these sites assume the town has "
                    "none; add the existing ones first (see the inventory). "
                    if cat in missing
                    else ""
                )
                + plan.message(),
            }
        )
        if plan.n_sites:
            sites = plan.sites.to_crs(tw.metric)
            keep = [
                c
                for c in sites.columns
                if c in ("order", "coverage", "coverage_gain", sites.geometry.name) or c.startswith(("new_", "covered_"))
            ]
            site_layers.append(sites[keep].assign(category=cat).reset_index(drop=True))
    if rows:
        out.tables[f"siting_{circle}"] = pd.DataFrame(rows).set_index("category")
    if site_layers:
        proposed = gpd.GeoDataFrame(pd.concat(site_layers, ignore_index=True), crs=tw.metric)
        out.layers[f"proposed_sites_{circle}"] = proposed
        out.tables[f"sites_{circle}"] = sites_table(proposed, prof)
    return out


def sites_table_empty(profile: Profile) -> pd.DataFrame:
    """The columns of :func:`sites_table` without a row (no site was needed)."""
    cols = ["category", "name_zh", "order", "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02", "x", "y"]
    return pd.DataFrame({c: [] for c in [*cols, "coverage", "coverage_gain"]})


def sites_table(sites: gpd.GeoDataFrame, profile: Profile) -> pd.DataFrame:
    """Proposed sites as a table a planner can take to a map or to Amap: one row per site.

    Parameters
    ----------
    sites : GeoDataFrame
        Points in a projected CRS with ``category``, ``order``, ``coverage`` and
        ``coverage_gain`` (shares of 0–1), as the siting step makes them.
    profile : Profile
        For the categories' Chinese names.

    Returns
    -------
    DataFrame
        ``category``, ``name_zh``, ``order``, ``lon_wgs84`` / ``lat_wgs84`` (WGS-84
        degrees, as GPS and OpenStreetMap), ``lon_gcj02`` / ``lat_gcj02`` (GCJ-02, as Amap
        and Tencent maps take them), ``x`` / ``y`` (metres in the sites' CRS: its EPSG code in
        ``attrs["crs"]``, its name in ``attrs["crs_name"]``), ``coverage``, ``coverage_gain``.
    """
    _crs.require_projected(sites, what="proposed sites")
    pts = sites.geometry.representative_point()
    wgs = gpd.GeoSeries(pts, crs=sites.crs).to_crs(4326)
    lon = wgs.x.to_numpy()
    lat = wgs.y.to_numpy()
    glon, glat = _crs.wgs84_to_gcj02(lon, lat)
    cats = sites["category"].astype(str).to_numpy() if "category" in sites else np.array([""] * len(sites))
    out = pd.DataFrame(
        {
            "category": cats,
            "name_zh": [profile.categories[c].name_zh if c in profile.categories else c for c in cats],
            "order": sites["order"].to_numpy() if "order" in sites else np.arange(1, len(sites) + 1),
            "lon_wgs84": lon,
            "lat_wgs84": lat,
            "lon_gcj02": glon,
            "lat_gcj02": glat,
            "x": pts.x.to_numpy(),
            "y": pts.y.to_numpy(),
            "coverage": sites["coverage"].to_numpy(float) if "coverage" in sites else np.nan,
            "coverage_gain": sites["coverage_gain"].to_numpy(float) if "coverage_gain" in sites else np.nan,
        }
    )
    epsg = sites.crs.to_epsg()
    out.attrs["crs"] = f"EPSG:{epsg}" if epsg else sites.crs.name
    out.attrs["crs_name"] = sites.crs.name
    return out


def _inventory_layer(
    tw: Town, inv: pd.DataFrame | None, layer: gpd.GeoDataFrame, key: str, name_zh: str, name_en: str, study_key: str
) -> tuple[pd.DataFrame | None, bool]:
    """Add a layer (park land, greenways) to the run's inventory: its features per source inside
    the town and its buffer. The new inventory, and whether any source holds one."""
    town = _geom.polygon_union(tw.town, crs=tw.metric, what="town boundary")
    geoms = np.asarray(_own_in_crs(layer, tw.metric).geometry.values) if len(layer) else np.empty(0, dtype=object)
    inside = shapely.intersects(geoms, town) if len(geoms) else np.zeros(0, dtype=bool)
    near = np.zeros(len(geoms), dtype=bool)
    if (~inside).any():  # the buffered town, made once per town, only for features outside it
        near[~inside] = shapely.intersects(geoms[~inside], tw.town_reach())
    labels = layer[inventory.SOURCE_COL].astype(str).to_numpy() if inventory.SOURCE_COL in layer else np.full(len(layer), "—")
    counts = {label: int(((labels == label) & (inside | near)).sum()) for label in inputs.source_labels(tw.study, study_key)}
    if inv is not None:
        inv = inventory.layer_row(
            inv,
            key,
            name_zh=name_zh,
            name_en=name_en,
            counts=counts,
            in_town=int(inside.sum()),
            in_buffer=int(near.sum()),
            needed_for="row 8" if key == inventory.PARK_LAND else "greenways",
            kind="parks" if key == inventory.PARK_LAND else "greenways",
        )
    return inv, bool(sum(counts.values()))


def _residential_or_builtup(tw: Town, notes: list[str], what: str) -> gpd.GeoDataFrame:
    if len(tw.residential):
        return tw.residential
    notes.append(f"{what}: no residential land given, the built-up area stands in for it")
    return tw.built.to_crs(tw.metric)


def parks_step(
    tw: Town,
    tables: Mapping[str, pd.DataFrame],
) -> StepOutput:
    """Row 8: residential land within a park's service radius (buffers), and the walked variant."""
    out = StepOutput()
    st, prof = tw.study, tw.profile
    if not st.parks:
        out.notes.append("parks: no source given; row 8 is not computed")
        return out
    park_layer = tw.park_layer()
    inv, held = _inventory_layer(
        tw, tables.get("inventory"), park_layer, inventory.PARK_LAND, "公园绿地", "park land (any size)", "parks"
    )
    if inv is not None:
        out.tables["inventory"] = inv
    residential = _residential_or_builtup(tw, out.notes, "park coverage")
    built_m = tw.built.to_crs(tw.metric)
    walk = tw.network("walk") if "walk" in prof.modes else None
    entrances = st.osm_source() if st.osm is not None or st._extract is not None else None
    kw: dict[str, Any] = {
        "profile": prof,
        "builtup": built_m,
        "network": walk,
        "entrance_points": entrances,
        "cell_m": st.demand.cell_m,
    }
    with warnings.catch_warnings():
        # the walked variant's grid over residential land has the demand grid's cell_m, already judged
        warnings.simplefilter("ignore", GridResolutionWarning)
        cov = parks.service_radius_coverage(park_layer, residential, layers=bool(len(park_layer)), **kw)
    out.notes.extend(f"parks: {n}" for n in cov.notes)
    rule_source = prof.parks.rules[cov.rule].source if prof.parks is not None and cov.rule in prof.parks.rules else ""
    out.computed["park_coverage"] = report.ComputedValue(
        value=cov.percent,
        denominator="建成区居住用地面积 residential land in the built-up area"
        if len(tw.residential)
        else "建成区面积 built-up area",
        verified=cov.verified,
        note=("; ".join(cov.notes) + "; " if cov.notes else "") + f"walked from entrances: {100 * cov.network_rate:.1f}%",
        details={"network_rate": 100 * cov.network_rate, "rule": cov.rule},
        data_gaps=() if held else ("公园绿地",),
        source=rule_source,
    )
    summary = {
        "rule": cov.rule,
        "rule_name": cov.rule_name,
        # verified in a report only when read in a final text (the radius rule is quoted second-hand)
        "verified": documents.verified(cov.verified, rule_source) if rule_source else cov.verified,
        "parks": cov.n_parks,
        "covered_m2": cov.covered_m2,
        "total_m2": cov.total_m2,
        "rate": cov.rate,
        "network_covered_m2": cov.network_covered_m2,
        "network_rate": cov.network_rate,
    }
    if st.population.total is not None and len(park_layer):
        per = parks.area_per_capita(park_layer, st.population.total, scope=tw.town.to_crs(tw.metric), profile=prof)
        summary.update(
            {"park_m2_per_person": per.m2_per_person, "park_m2_per_person_min": per.min_m2_per_person, "meets_gb55014": per.meets}
        )
    out.tables["parks"] = pd.DataFrame([summary])
    out.tables["parks_by_class"] = cov.by_class
    for name, gdf in cov.layers.items():
        out.layers[f"parks_{name}"] = _own_in_crs(gdf, tw.metric)
    return out


def greenways_step(
    tw: Town,
    tables: Mapping[str, pd.DataFrame],
) -> StepOutput:
    """Greenway km per 10,000 residents, and residential land within 1 km of a greenway."""
    out = StepOutput()
    st, prof = tw.study, tw.profile
    if not st.greenways:
        out.notes.append("greenways: no source given; not computed")
        return out
    town_m = tw.town.to_crs(tw.metric)
    parts = []
    for src in st.greenways:
        if src.osm is not None:
            parts.append(greenways.from_osm(st.osm_source(src.osm), profile=prof, boundary=town_m, crs=tw.metric))
        elif src.file is not None:
            parts.append(inputs.read_layer(st, src.file, layer=src.layer).to_crs(tw.metric))
        else:
            raise StudyError("greenways: each source is `osm` or a line `file`")
        parts[-1] = parts[-1].assign(**{inventory.SOURCE_COL: inputs.source_label(st, src)})
    lines = (
        gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=tw.metric)
        if parts
        else gpd.GeoDataFrame(geometry=[], crs=tw.metric)
    )
    inv, held = _inventory_layer(tw, tables.get("inventory"), lines, inventory.GREENWAYS, "绿道", "greenways", "greenways")
    if inv is not None:
        out.tables["inventory"] = inv
    spec = prof.greenways
    scope = town_m if spec is None or spec.scope == "town" else tw.built.to_crs(tw.metric)
    population: Any
    if st.population.total is not None:
        population = float(st.population.total)
    elif tw.units["pop"].sum() > 0:
        population = tw.units
    else:
        out.notes.append("greenways: no population given (population.total or a raster): km per 10,000 residents not computed")
        return out
    res = greenways.length_per_10k(lines, population, scope=scope, profile=prof)
    out.notes.extend(f"greenways: {n}" for n in res.notes)
    out.computed["greenway_per_10k"] = report.ComputedValue(
        value=res.km_per_10k,
        denominator=f"常住人口 residents ({res.population_from})",
        verified=res.verified,
        note=f"{res.km:.2f} km of greenway (de-duplicated from {res.raw_km:.2f} km) for {res.pop:,.0f} residents",
        data_gaps=() if held else ("绿道",),
        source=spec.source if spec is not None else "",
    )
    row = {
        "km": res.km,
        "raw_km": res.raw_km,
        "pop": res.pop,
        "km_per_10k": res.km_per_10k,
        "target": res.target_km_per_10k,
        "meets_target": res.meets_target,
        "lines": res.n_lines,
        "tolerance_m": res.tolerance_m,
        "verified": res.verified,
    }
    if len(lines):
        residential = _residential_or_builtup(tw, out.notes, "greenway coverage")
        sc = greenways.service_coverage(lines, residential, profile=prof, builtup=tw.built.to_crs(tw.metric))
        row.update({"service_radius_m": sc.radius_m, "service_rate": sc.rate})
        out.layers["greenways"] = _own_in_crs(greenways.centrelines(lines, profile=prof, scope=scope), tw.metric)
    out.tables["greenways"] = pd.DataFrame([row])
    return out
