"""The run of one study (:func:`run`), its input check (:func:`check`) and siting on demand (:func:`site`)."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
from tqdm.auto import tqdm

from .. import _frames, inventory, report, siting
from .. import crs as _crs
from .. import validate as _validate
from .._errors import (
    DataNotFoundError,
    InputError,
    MtownGeoWarning,
    StudyError,
)
from .._io import atomic_dir, check_output_dir
from ..sources.osm import is_osm_file, read_osm
from . import inputs, outputs, steps
from . import tasks as _tasks
from .result import StudyResult
from .schema import Study, load_profile, load_study
from .town import Town, build_town

log = logging.getLogger(__name__)


@contextlib.contextmanager
def collect_warnings(notes: list[str]) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MtownGeoWarning)
        yield
    seen = set()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if issubclass(w.category, MtownGeoWarning) and text not in seen:
            seen.add(text)
            notes.append(text)
            log.warning("%s", text)
        elif not issubclass(w.category, MtownGeoWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


class _NoBar:
    """Stands in for a progress bar when none is shown."""

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix_str(self, s: str) -> None:
        return None

    def close(self) -> None:
        return None


def _progress(total: int, desc: str, show: bool) -> Any:
    if not show:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="step")


def run(
    study: Study | str | os.PathLike[str] | Mapping[str, Any],
    *,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    extra_files: Mapping[str, str | bytes] | None = None,
) -> StudyResult:
    """Run a study: every indicator, table and layer; written to ``out`` when given.

    Parameters
    ----------
    study : Study, path or mapping
        A study file (see :func:`template`), or its content.
    out : path, optional
        Output folder: made, or, when it holds only an earlier mtown-geo output, replaced
        on success; left untouched on failure. It is checked before anything is computed:
        a folder that holds other files, the current, home or study file's folder, a
        symbolic link or a folder that cannot be written is refused at once
        (see ``docs/safety.md``).
    overwrite : bool
        Write into an ``out`` that holds other files too: only the files mtown-geo wrote
        there are replaced; every other file stays as it is.
    progress : bool
        Show a progress bar (the CLI does).
    extra_files : mapping, optional
        Further files (relative name → text or bytes) written into the output folder.

    Returns
    -------
    StudyResult
        The indicator table, the per-circle, per-zone and siting tables, the layers
        (GeoDataFrames in the town's metric CRS) and the networks.
    """
    st = study if isinstance(study, Study) else load_study(study)
    if out is not None:
        check_output_dir(out, overwrite=overwrite, protect=[st.base_dir])
    st = _with_buildings(st)
    prof = load_profile(st)
    notes: list[str] = []
    circles = list(st.circles) if st.circles is not None else list(prof.circles)
    step_names = ["inputs", *[f"circle {c}" for c in circles], "parks", "greenways", "tasks", "siting", "report"]
    bar = _progress(len(step_names), f"mtown-geo {st.name}", progress)
    tables: dict[str, pd.DataFrame] = {}
    layers: dict[str, gpd.GeoDataFrame] = {}
    rasters: dict[str, Any] = {}
    computed: dict[str, report.ComputedValue] = {}
    with collect_warnings(notes):
        bar.set_postfix_str("inputs")
        tw = build_town(st, prof, notes, check_coordinates=True)
        metric = tw.metric
        layers["boundaries"] = _boundaries_layer(tw)
        if len(tw.residential):  # the land the residential-weighted rates measure
            land = tw.residential_land()
            layers["residential"] = _frames.geo_frame({"kind": ["居住用地"]}, [land], metric)
        tables["inventory"] = inventory.take(
            tw.facilities,
            boundary=tw.town,
            buffer_m=st.network.buffer_m,
            profile=prof,
            circles=circles,
            sources=inputs.source_labels(st, "facilities"),
            not_public=tw.facilities.attrs.get("not_public", ()),
        )
        bar.update()
        for circle in circles:
            bar.set_postfix_str(f"circle {circle}")
            steps.circle_step(tw, circle, tables).into(tables, layers, computed, rasters, notes)
            bar.update()
        fac_m = tw.facilities
        if "walk" in tw.networks:  # how each facility attaches on foot: the walk attachment, no search
            walk = tw.attachment("walk")
            walk.warn()
            fac_m = fac_m.join(walk.diagnostics()[["access_points", "snap_dist_m", "status"]])
        layers["facilities"] = fac_m
        bar.set_postfix_str("parks")
        steps.parks_step(tw, tables).into(tables, layers, computed, rasters, notes)
        bar.update()
        bar.set_postfix_str("greenways")
        steps.greenways_step(tw, tables).into(tables, layers, computed, rasters, notes)
        bar.update()
        bar.set_postfix_str("tasks")
        _tasks.run_step(tw).into(tables, layers, computed, rasters, notes)
        bar.update()
        bar.set_postfix_str("siting")
        if st.siting.enabled:
            steps.siting_step(tw, tables).into(tables, layers, computed, rasters, notes)
        bar.update()
        bar.set_postfix_str("report")
        notes.extend(steps.gap_notes(tables["inventory"], prof, computed))
        indicators = report.indicator_table(prof, year=st.year, computed=computed, reported=st.reported)
        bar.update()
    bar.close()
    data_date = inputs.osm_extract(st).timestamp if (st.osm is not None or st._extract is not None) else None
    basemap = _basemap(tw) if (st.outputs.static_maps or st.outputs.maps) else None
    result = StudyResult(
        study=st,
        profile=prof,
        indicators=indicators,
        tables=tables,
        layers=layers,
        networks=tw.networks,
        notes=notes,
        rasters=rasters,
        data_date=data_date,
        basemap=basemap,
        weight=tw.weight,
    )
    result._circles = {c: (tw.reaches[c], u, w) for c, (u, w) in tw.circle_demand.items()}
    if out is not None:
        outputs.write(result, out, overwrite=overwrite, extra_files=extra_files)
    return result


def _boundaries_layer(tw: Town) -> gpd.GeoDataFrame:
    """The town's 镇域 and 建成区 outlines as one layer (``kind``, ``name``: the study's), in its metric CRS."""
    town_m, built_m = tw.town.to_crs(tw.metric), tw.built.to_crs(tw.metric)
    return _frames.geo_frame(
        {"kind": ["镇域"] * len(town_m) + ["建成区"] * len(built_m), "name": tw.study.name},
        list(town_m.geometry) + list(built_m.geometry),
        tw.metric,
    )


def _with_buildings(st: Study) -> Study:
    """With maps to draw, the study's OSM file is read once *with* its buildings (for the basemap)."""
    if not (st.outputs.static_maps or st.outputs.maps) or st._extract is not None or st.osm is None:
        return st
    path = st.osm_path()
    if not (is_osm_file(path) and Path(path).exists()):
        return st
    return st.with_data(osm=read_osm(path, buildings=True))


def _basemap(tw: Town) -> Any:
    """The maps' basemap: the OSM extract's streets, water, green land, land use and buildings, else the walk network's streets."""
    from ..render import basemap_from_network, basemap_from_osm

    st = tw.study
    if st.osm is not None or st._extract is not None:
        try:
            ext = inputs.osm_extract(st)
        except (DataNotFoundError, InputError, StudyError) as exc:  # a place name, not a file: no extract in hand
            log.info("no OSM extract for the basemap (%s)", exc)
        else:
            return basemap_from_osm(ext, area=tw.town, crs=tw.metric, margin_m=max(st.network.buffer_m, 1500.0))
    net = tw.networks.get("walk") or next(iter(tw.networks.values()), None)
    return basemap_from_network(net).to_crs(tw.metric) if net is not None else None


def check(study: Study | str | os.PathLike[str] | Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> Any:
    """Validate a study's inputs before computing anything (see :mod:`mtown_geo.validate`).

    Reads the boundaries, facilities and residential land the study names, builds the
    walk network, and returns one :class:`~mtown_geo.validate.ValidationReport` of what
    is wrong, where, and how to fix it. A layer that cannot even be read is reported as
    an error of the report, not raised.

    Returns
    -------
    ValidationReport
    """
    st = study if isinstance(study, Study) else load_study(study)
    prof = load_profile(st)
    town, built = inputs.boundaries(st)
    kw: dict[str, Any] = {"boundary": town, "builtup": built, "profile": prof, "skip": skip}
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MtownGeoWarning)
        kw["facilities"] = inputs.facility_layer(st, prof, town, st.network.buffer_m)
        res = inputs.residential(st, _crs.metric_crs(town), town)
        if len(res):
            kw["residential"] = res
        if "walk" in prof.modes:
            kw["network"] = inputs.network_for(st, prof, "walk", town, {})
    if st.population.raster:
        kw["population_raster"] = st.path(st.population.raster)
        kw["min_coverage"] = st.population.min_coverage
    reference = inputs.osm_reference(st)
    if reference is not None:
        kw["reference"] = reference
    del notes
    return _validate.validate(**kw)


def site(
    study: Study | str | os.PathLike[str] | Mapping[str, Any],
    *,
    category: str,
    target: float | None = None,
    k: int | None = None,
    method: Literal["greedy", "exact"] = "greedy",
    candidates: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Any:
    """Where to build: new sites of one category for a study's town (see :mod:`mtown_geo.siting`).

    ``category`` is any name the profile accepts for it: its id (``kindergarten``), its
    English or Chinese name or a part of it (幼儿园, 卫生院) or an alias (托育); an unknown
    name is an :class:`~mtown_geo.InputError` naming the closest ones. The circle is the
    first of the study's circles that requires the category; its mode, threshold and the
    study's demand weight apply. ``target`` defaults to :func:`category_target` (the
    study's own target for the category, else the annex row that measures it, else the
    circle's row) for the study's year. With ``out``, writes
    ``siting.gpkg`` (layers ``new_sites`` and ``units``), ``new_sites.csv``,
    ``siting_summary.csv``, ``map.html`` and ``manifest.json``, atomically, under the
    folder rules of :func:`run` (``overwrite`` as there; checked before computing).

    Returns
    -------
    SitingPlan
    """
    st = study if isinstance(study, Study) else load_study(study)
    prof = load_profile(st)
    category = prof.resolve_category(category)  # 幼儿园, 托育, kindergarten... → the category's id
    circles = list(st.circles) if st.circles is not None else list(prof.circles)
    circle = next((c for c in circles if category in prof.circles[c].required + prof.circles[c].optional), None)
    if circle is None:
        raise InputError(f"no circle of the study ({circles}) lists the category {category!r}")
    if prof.circles[circle].demand == "villages":
        raise InputError(f"the {circle} circle is measured from villages; siting works on residential demand units")
    if out is not None:
        check_output_dir(out, overwrite=overwrite, protect=[st.base_dir])
        st = _with_buildings(st)  # the map's basemap: the OSM file read once, with its buildings
    notes: list[str] = []
    tw = build_town(st, prof, notes)
    net = tw.network(prof.circles[circle].mode)
    units = tw.units.to_crs(net.crs)
    if target is None and k is None:
        target, _ = steps.category_target(st, category, circle)
        if target is None:
            raise InputError("give a target (0–1) or a number of sites k")
    cand = None
    if candidates is not None:
        cand = candidates if isinstance(candidates, gpd.GeoDataFrame) else inputs.read_layer(st, str(candidates))
    weight = tw.weight
    plan = siting.add_facilities(
        net,
        tw.facilities,
        units,
        category=category,
        threshold_min=prof.threshold_min(circle, category),
        candidates=cand,
        k=k,
        target=target,
        weight=weight,
        method=method,
    )
    if out is not None:
        from ..render import save_map, siting_map

        with atomic_dir(out, overwrite=overwrite, protect=[st.base_dir]) as tmp:
            sites = plan.sites.to_crs(tw.metric)
            assessed = units.join(plan.units).to_crs(tw.metric)
            if len(sites):
                outputs.to_gpkg(sites, tmp / "siting.gpkg", "new_sites")
            outputs.to_gpkg(assessed, tmp / "siting.gpkg", "units")
            # the sites as a planner takes them to a map: lon/lat in WGS-84 and GCJ-02, metres in the named CRS
            table = steps.sites_table(sites.assign(category=category), prof) if len(sites) else steps.sites_table_empty(prof)
            report.write_sites_csv(table, tmp / "new_sites.csv")
            report.write_csv(plan.summary().to_frame("value"), tmp / "siting_summary.csv")
            fac = tw.facilities
            fmap = siting_map(
                assessed,
                sites,
                label=prof.categories[category].name_zh,
                tiles=st.outputs.tiles,
                town=st.name,
                category=category,
                profile=prof,
                weight=plan.weight,
                threshold_min=plan.threshold_min,
                facilities=fac[fac["category"] == category] if "category" in fac else None,
                boundaries=_boundaries_layer(tw),
                basemap=_basemap(tw),
            )
            save_map(fmap, tmp / "map.html")
            man = outputs.manifest(st, prof)
            man["siting"] = {"category": category, "circle": circle, "target": target, "k": k, "method": method}
            outputs.write_manifest(man, tmp)
    return plan
