"""The quick routes of a town's run give the answers of the plain ones, to the bit, on real data:
tag rules, facility diagnostics and their warnings, greenway lines and waterside runs, OSM parks."""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import _geom, access, demand, greenlines, lifecircle, parkland
from mtown_geo.sources import osm
from mtown_geo.standards import TagRule

from .conftest import OSM_FILES, shared_path


@pytest.fixture(scope="module")
def parishes() -> list[tuple[str, gpd.GeoDataFrame, mg.sources.OSMExtract]]:
    """Two Andorran parishes in their metric CRS, each with its part of the extract (as a batch
    town has: the parish's box and 1.5 km more)."""
    path = shared_path(OSM_FILES["andorra"])
    towns = mg.batch.towns_from_osm(path, admin_level="7")
    ext = mg.sources.read_osm(path)
    out = []
    for name in ("Escaldes-Engordany", "La Massana"):
        town = towns[towns["name"] == name].reset_index(drop=True)
        town_m = town.to_crs(mg.crs.metric_crs(town))
        box = town_m.total_bounds + np.array([-1, -1, 1, 1]) * 1500.0
        bbox = gpd.GeoSeries([shapely.box(*box)], crs=town_m.crs).to_crs(4326).total_bounds
        out.append((name, town_m, ext.subset(tuple(float(v) for v in bbox))))
    return out


def _same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        if isinstance(a, gpd.GeoDataFrame) and col == a.geometry.name:
            assert list(shapely.to_wkb(a.geometry.to_numpy())) == list(shapely.to_wkb(b.geometry.to_numpy()))
        else:
            pd.testing.assert_series_equal(a[col], b[col], check_exact=True)


# -- tag rules ------------------------------------------------------------------------------------


def test_rules_matcher_is_any_rule_matches(parishes):
    prof = mg.standards.resolve(None)
    rulesets = [list(c.osm) for c in prof.categories.values()]
    rulesets += [[r for c in prof.categories.values() for r in c.osm]]
    rulesets += [list(prof.parks.osm)]
    # one first key with several values, a wildcard with more tags, an absent key, lists
    rulesets += [
        [
            TagRule(tags={"amenity": "school", "isced:level": ["1", "2"]}),
            TagRule(tags={"amenity": "school"}, absent=["isced:level"]),
            TagRule(tags={"amenity": ["clinic", "doctors"]}),
            TagRule(tags={"leisure": "*", "name": "*"}),
            TagRule(tags={"shop": "*"}),
            TagRule(tags={"landuse": ["grass", "meadow"], "name": "*"}),
        ]
    ]
    n_hit = 0
    for _, _, ext in parishes:
        tags = [t if isinstance(t, dict) else {} for t in ext.features["tags"]]
        tags += [{"amenity": ["school"]}, {"amenity": None, "shop": "bakery"}, {"leisure": "park", "name": "x"}]
        for rules in rulesets:
            quick = osm.rules_matcher(rules)
            got = [quick(t) for t in tags]
            assert got == [any(r.matches(t) for r in rules) for t in tags]
            n_hit += sum(got)
    assert n_hit > 500  # the rules select many real features


# -- facility diagnostics -----------------------------------------------------------------------


def _groupby_diagnostics(att: access.Attachment) -> dict[str, np.ndarray]:
    """The diagnostics of an attachment by pandas' groupby: the plain route."""
    fac = att.facilities
    snaps = att.snaps.assign(owner=att.points["owner"].to_numpy())
    g = snaps.groupby("owner")
    used = snaps[snaps["ok"]].groupby("owner")
    n = len(fac)
    return {
        "access_points": g.size().reindex(range(n), fill_value=0).to_numpy(),
        "access_points_used": used.size().reindex(range(n), fill_value=0).to_numpy(),
        "snap_dist_m": g["snap_dist_m"].min().reindex(range(n)).to_numpy(),
        "component": used["component"].min().reindex(range(n), fill_value=-1).to_numpy(),
    }


def test_diagnostics_and_warnings_as_by_groupby(parishes):
    _, town_m, ext = parishes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = mg.network.from_osm(ext, mode="walk", boundary=town_m, buffer_m=300.0)
        fac = mg.facilities.from_osm(ext, boundary=town_m, buffer_m=300.0, crs=net.crs)
    # a facility far out of the network and one without geometry: too_far and no_geometry
    far = gpd.GeoDataFrame(
        {"category": ["primary_school", "primary_school"], "name": ["far", None]},
        geometry=[shapely.Point(town_m.total_bounds[:2] - 50_000.0), shapely.Point()],
        crs=net.crs,
    )
    fac = gpd.GeoDataFrame(pd.concat([fac, far], ignore_index=True), crs=net.crs)
    att = access.attach(net, fac)
    diag = att.diagnostics()
    for col, values in _groupby_diagnostics(att).items():
        assert diag[col].dtype == values.dtype, col
        np.testing.assert_array_equal(diag[col].to_numpy(), values)
    assert {"ok", "too_far", "no_geometry", "small_piece"} <= set(diag["status"])
    # the warnings of a search: those of warn_statuses over the whole table's searched rows
    cats = sorted({*sorted(set(fac["category"]))[:6], "primary_school"})
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        r = access.reach(net, att, categories=cats, max_time_min=5.0)
    full = r.facility_diagnostics()
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        access.warn_statuses(full[full["category"].isin(cats)], net.mode)
    said = [str(w.message) for w in got if issubclass(w.category, mg.SnapWarning)]
    assert said == [str(w.message) for w in want]
    assert len(said) >= 2


def _statuses_said_row_by_row(diag: pd.DataFrame, mode: str) -> list[str]:
    """What warn_statuses says, written row by row with iterrows: the plain route."""
    out = []
    for status, (one, several) in access._STATUS_MEANING.items():
        bad = diag[diag["status"] == status]
        if len(bad):
            meaning = (one if len(bad) == 1 else several).format(mode=mode) + access._STATUS_FIX.get(status, "")
            names = ", ".join(
                f"{r.get('category', 'feature')}:{r['name'] if isinstance(r.get('name'), str) else f'row {i}'}"
                for i, r in bad.head(5).iterrows()
            )
            many = "facility" if len(bad) == 1 else "facilities"
            out.append(
                f"{len(bad)} {many} {meaning} ({'' if len(bad) <= 5 else 'e.g. '}{names}); see Reach.facility_diagnostics()"
            )
    return out


def test_warn_statuses_as_row_by_row(parishes):
    _, town_m, ext = parishes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = mg.network.from_osm(ext, mode="walk", boundary=town_m, buffer_m=300.0)
        fac = mg.facilities.from_osm(ext, boundary=town_m, buffer_m=300.0, crs=net.crs)
    far = shapely.Point(town_m.total_bounds[:2] - 50_000.0)
    more = [fac.iloc[:3].assign(geometry=[shapely.Point()] * 3), fac.iloc[3:10].assign(geometry=[far] * 7)]
    fac = gpd.GeoDataFrame(pd.concat([fac, *more], ignore_index=True), crs=net.crs)
    diag = access.attach(net, fac).diagnostics()
    tables = [
        diag,
        diag.drop(columns=["name"]),
        diag.drop(columns=["category", "name"]),
        diag.set_axis([f"f{k}" for k in range(len(diag))]),
        diag[diag["status"] != "ok"].iloc[:4],
    ]
    for table in tables:
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            access.warn_statuses(table, "walk")
        said = [str(w.message) for w in got]
        assert said == _statuses_said_row_by_row(table, "walk")
    assert len(_statuses_said_row_by_row(diag, "walk")) == 3


# -- greenways ----------------------------------------------------------------------------------


def test_way_lines_subset_as_whole(parishes):
    _, town_m, ext = parishes[1]
    rows = np.zeros(len(ext.ways), dtype=bool)
    rows[::3] = True
    got = greenlines._way_lines(ext, rows, town_m.crs)
    whole = np.asarray(ext.way_lines().to_crs(town_m.crs).values, dtype=object)
    assert list(shapely.to_wkb(got[rows])) == list(shapely.to_wkb(whole[rows]))
    assert all(g is None for g in got[~rows])


def test_greenways_in_a_boundary_as_clipped_from_all(parishes):
    """from_osm with a boundary measures waterside runs only for the paths joined to it: the
    same rows as all greenways of the extract clipped to the boundary afterwards."""
    pruned_any = False
    for _, town_m, ext in parishes:
        got = greenlines.from_osm(ext, boundary=town_m, crs=town_m.crs)
        every = greenlines.from_osm(ext, crs=town_m.crs)
        area = _geom.polygon_union(town_m, crs=town_m.crs, what="boundary", drop_empty=True)
        clipped = greenlines._lineal_all(shapely.intersection(every.geometry.to_numpy(), area))
        want = every.set_geometry(list(clipped), crs=town_m.crs)
        want = want.loc[~shapely.is_empty(clipped)].reset_index(drop=True)
        want["length_m"] = shapely.length(want.geometry.to_numpy())
        _same_frames(got, want)
        assert (got["matched_by"].str.contains("waterside")).sum() > 10
        spec = greenlines._spec(mg.standards.resolve(None))
        cand = np.flatnonzero(greenlines._waterside_candidates(ext.ways, spec))
        lines = greenlines._way_lines(ext, greenlines._waterside_candidates(ext.ways, spec), town_m.crs)
        pruned_any |= not greenlines._joined_to_area(lines[cand], area).all()
    assert pruned_any  # some paths are left out, and the answer is the same


# -- parks ----------------------------------------------------------------------------------------


def test_osm_parks_same_with_and_without_info_log(parishes, caplog):
    """Only polygons are tried as parks unless the count of parks mapped as points is logged."""
    for _, town_m, ext in parishes:
        with caplog.at_level(logging.WARNING, logger="mtown_geo.parkland"):
            quiet = parkland.from_osm(ext, boundary=town_m, crs=town_m.crs)
        with caplog.at_level(logging.INFO, logger="mtown_geo.parkland"):
            told = parkland.from_osm(ext, boundary=town_m, crs=town_m.crs)
        assert len(quiet) > 0
        _same_frames(quiet, told)


# -- life circles ---------------------------------------------------------------------------------


def test_missing_text_as_row_by_row():
    req = ["a", "bb", "c", "dd", "e", "ff"]
    every = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(bool)  # each combination
    reached = every[np.random.default_rng(0).integers(0, 64, 2000)]
    names = np.array(req, dtype=object)
    assert lifecircle._missing_text(reached, req) == [",".join(names[~row]) for row in reached]
    assert lifecircle._missing_text(np.zeros((0, 6), dtype=bool), req) == []
    assert lifecircle._missing_text(np.ones((3, 0), dtype=bool), []) == ["", "", ""]


def test_gaps_hold_the_units_whose_point_lies_in_them(shared_demo):
    """Each gap counts the units whose cell's representative point lies within it (tested pair
    by pair with shapely.within), for the whole circle and per category."""
    units = shared_demo.result.layers["units_15min"]
    boxes, _ = demand._cell_boxes(units)
    points = shapely.point_on_surface(boxes)
    for by in ("circle", "category"):
        gaps = lifecircle.gaps(units, circle="15min", by=by)
        assert len(gaps) > 3
        for cat, group in gaps.groupby("category"):
            mask = (
                ~units["covered"].to_numpy()
                if cat == lifecircle.CIRCLE
                else units["missing"].str.split(",").map(lambda m, c=cat: c in m).to_numpy()
            )
            for _, gap in group.iterrows():
                inside = mask & shapely.within(points, gap.geometry)
                assert gap["units"] == int(inside.sum())
                assert gap["area_m2"] == pytest.approx(units["area_m2"].to_numpy()[inside].sum(), rel=1e-12)
            assert group["units"].sum() == int(mask.sum())


# -- residential land inside the built-up area ------------------------------------------------------


def test_land_within_is_the_intersection_cut_once(wudaokou_bounds):
    town = wudaokou_bounds[wudaokou_bounds["kind"] == "镇域"]
    built = wudaokou_bounds[wudaokou_bounds["kind"] == "建成区"]
    metric = mg.crs.metric_crs(town)
    land = _geom.polygon_union(town, crs=metric, what="town")
    area = _geom.polygon_union(built, crs=metric, what="built-up area")
    first = demand._land_within(land, area)
    assert shapely.to_wkb(first) == shapely.to_wkb(shapely.intersection(land, area))
    assert demand._land_within(land, area) is first
    # an equal geometry that is another object: cut again (the cache knows objects, not values)
    other = shapely.from_wkb(shapely.to_wkb(land))
    again = demand._land_within(other, area)
    assert again is not first
    assert shapely.to_wkb(again) == shapely.to_wkb(first)
