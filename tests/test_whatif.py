"""What-ifs on a search already made: facilities added, removed, replaced, equal to a new search to the bit."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import access, lifecircle

CIRCLE = "15min"
INF = float("inf")


@pytest.fixture(scope="module")
def case(wudaokou_osm, wudaokou_walk, wudaokou_bounds):
    """The demo as a run leaves it: facilities, units, the 15-minute search and the units attached."""
    net = wudaokou_walk
    prof = mg.standards.resolve(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        fac = mg.facilities.from_osm(wudaokou_osm)
        built = wudaokou_bounds[wudaokou_bounds["kind"] == "建成区"].to_crs(net.crs)
        units = mg.demand.grid(built, cell_m=50)
        r = lifecircle.reach(net, fac, profile=prof, circle=CIRCLE, max_time_min=INF)
        lifecircle.times_at(r, units, profile=prof, circle=CIRCLE)
    features = mg.sources.read_osm(wudaokou_osm).features
    residential = features[features["tags"].map(lambda t: t.get("landuse") == "residential").to_numpy()]
    return {"net": net, "prof": prof, "fac": fac, "units": units, "reach": r, "residential": residential.to_crs(net.crs)}


def _fresh(case, layer):
    """A new computation on an edited layer: search, times at the units, coverage (the reference)."""
    r = lifecircle.reach(case["net"], layer, profile=case["prof"], circle=CIRCLE, max_time_min=INF)
    times = lifecircle.times_at(r, case["units"], profile=case["prof"], circle=CIRCLE)
    table = lifecircle.coverage(times, case["units"], profile=case["prof"], circle=CIRCLE, weight="area_m2")
    return r, times, table


def _circle_layer(case):
    """The search's layer, as lifecircle.reach takes it: the circle's categories, rows renumbered."""
    fac = case["fac"]
    return fac[fac["category"].isin(lifecircle.categories_of(case["prof"], CIRCLE))].reset_index(drop=True)


def _assert_same_search(new: access.Reach, fresh: access.Reach, units) -> None:
    assert np.array_equal(new.node_min, fresh.node_min)
    assert np.array_equal(new.nearest, fresh.nearest)
    pd.testing.assert_frame_equal(new.facilities, fresh.facilities)
    pd.testing.assert_frame_equal(new.point_snaps, fresh.point_snaps, check_exact=True)
    assert np.array_equal(new.points["owner"].to_numpy(), fresh.points["owner"].to_numpy())
    assert shapely.equals_exact(new.points.geometry.to_numpy(), fresh.points.geometry.to_numpy(), tolerance=0).all()
    pd.testing.assert_frame_equal(new.at(units), fresh.at(units), check_exact=True)
    pd.testing.assert_frame_equal(new.at(units, nearest=True), fresh.at(units, nearest=True))
    pd.testing.assert_frame_equal(new.facility_diagnostics(), fresh.facility_diagnostics())


def _what_if(case, **change):
    kw = {"profile": case["prof"], "circle": CIRCLE}
    return (
        lifecircle.what_if_reach(case["reach"], **change, **kw),
        lifecircle.what_if(case["reach"], case["units"], weight="area_m2", **change, **kw),
    )


def test_adding_points_and_a_polygon_equals_a_new_search(case):
    res = case["residential"]
    # three new kindergartens inside residential areas, one of them a whole ground (polygon)
    sites = gpd.GeoDataFrame(
        geometry=[*shapely.point_on_surface(res.geometry.to_numpy()[:2]), res.geometry.iloc[2]], crs=case["net"].crs
    )
    new, table = _what_if(case, add=sites, category="kindergarten")
    layer = _circle_layer(case)
    n = len(layer)
    added = sites.to_crs(layer.crs).assign(category="kindergarten", facility_id=[f"new/{n + j}" for j in range(3)])
    fresh, _, fresh_table = _fresh(case, pd.concat([layer, added], ignore_index=True))
    _assert_same_search(new, fresh, case["units"])
    pd.testing.assert_frame_equal(table, fresh_table, check_exact=True)
    # the polygon is reached through its boundary: ring points and road crossings
    assert (new.points["owner"] == n + 2).sum() > 1
    # the new sites do something: the kindergarten rate rises
    _, _, before = _fresh(case, layer)
    assert table.loc["kindergarten", "rate"] > before.loc["kindergarten", "rate"]


def test_removing_facilities_equals_a_new_search(case):
    layer = _circle_layer(case)
    # a park (polygon) and a primary school (the point one)
    gone = [
        layer.loc[layer["category"] == "park", "facility_id"].iloc[0],
        layer.loc[(layer["category"] == "primary_school") & (layer.geom_type == "Point"), "facility_id"].iloc[0],
    ]
    new, table = _what_if(case, remove=gone)
    fresh, _, fresh_table = _fresh(case, layer[~layer["facility_id"].isin(gone)].reset_index(drop=True))
    _assert_same_search(new, fresh, case["units"])
    pd.testing.assert_frame_equal(table, fresh_table, check_exact=True)
    assert not new.facilities["facility_id"].isin(gone).any()


def test_replacing_a_category_equals_a_new_search(case):
    res = case["residential"]
    sites = gpd.GeoSeries(shapely.point_on_surface(res.geometry.to_numpy()[3:6]), crs=case["net"].crs).to_crs(4326)
    new, table = _what_if(case, add=sites, category="kindergarten", replace=True)
    layer = _circle_layer(case)
    kept = layer[layer["category"] != "kindergarten"]
    added = gpd.GeoDataFrame(geometry=sites.to_crs(layer.crs).to_numpy(), crs=layer.crs).assign(
        category="kindergarten", facility_id=[f"new/{len(kept) + j}" for j in range(3)]
    )
    fresh, _, fresh_table = _fresh(case, pd.concat([kept, added], ignore_index=True))
    _assert_same_search(new, fresh, case["units"])
    pd.testing.assert_frame_equal(table, fresh_table, check_exact=True)
    # only the replaced category changed
    k = list(new.categories).index("kindergarten")
    others = [i for i in range(len(new.categories)) if i != k]
    assert np.array_equal(new.node_min[others], case["reach"].node_min[others])
    assert not np.array_equal(new.node_min[k], case["reach"].node_min[k])


def test_emptying_a_category_gives_rate_zero_and_the_runs_warning(case):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new, table = _what_if(case, category="kindergarten", replace=True)
    layer = _circle_layer(case)
    with warnings.catch_warnings(record=True) as fresh_caught:
        warnings.simplefilter("always")
        fresh, _, fresh_table = _fresh(case, layer[layer["category"] != "kindergarten"].reset_index(drop=True))
    assert table.loc["kindergarten", "rate"] == 0.0
    assert table.loc[lifecircle.CIRCLE, "rate"] == 0.0
    pd.testing.assert_frame_equal(table, fresh_table, check_exact=True)
    _assert_same_search(new, fresh, case["units"])
    mine = {str(w.message) for w in caught if issubclass(w.category, mg.EmptyCategoryWarning)}
    theirs = {str(w.message) for w in fresh_caught if issubclass(w.category, mg.EmptyCategoryWarning)}
    assert mine == theirs
    assert any("kindergarten" in m for m in mine)
    assert np.isinf(new.node_min[list(new.categories).index("kindergarten")]).all()


def test_a_site_far_from_any_road_gets_the_status_of_a_new_search(case):
    net = case["net"]
    _, _, x1, y1 = net.nodes.total_bounds
    far = gpd.GeoDataFrame(geometry=[shapely.Point(x1 + 2000.0, y1 + 2000.0)], crs=net.crs)
    with pytest.warns(mg.SnapWarning, match="farther than the snap distance") as mine:
        new, table = _what_if(case, add=far, category="kindergarten")
    layer = _circle_layer(case)
    added = far.to_crs(layer.crs).assign(category="kindergarten", facility_id=f"new/{len(layer)}")
    with pytest.warns(mg.SnapWarning) as theirs:
        fresh, _, fresh_table = _fresh(case, pd.concat([layer, added], ignore_index=True))
    diag = new.facility_diagnostics()
    assert diag["status"].iloc[-1] == "too_far"
    pd.testing.assert_frame_equal(diag, fresh.facility_diagnostics())
    assert {str(w.message) for w in mine if issubclass(w.category, mg.SnapWarning)} == {
        str(w.message) for w in theirs if issubclass(w.category, mg.SnapWarning)
    }
    pd.testing.assert_frame_equal(table, fresh_table, check_exact=True)


def test_inputs_are_not_changed(case):
    r = case["reach"]
    before = {
        "node_min": r.node_min.copy(),
        "nearest": r.nearest.copy(),
        "facilities": r.facilities.copy(),
        "points": r.points.copy(),
        "snaps": r.point_snaps.copy(),
    }
    units = case["units"].copy()
    sites = gpd.GeoDataFrame({"name": ["a"]}, geometry=[case["residential"].geometry.iloc[0].centroid], crs=units.crs)
    sites_before = sites.copy()
    gone = r.facilities["facility_id"].iloc[0]
    _what_if(case, add=sites, remove=[gone], category="kindergarten")
    assert np.array_equal(r.node_min, before["node_min"])
    assert np.array_equal(r.nearest, before["nearest"])
    pd.testing.assert_frame_equal(r.facilities, before["facilities"])
    pd.testing.assert_frame_equal(r.points, before["points"])
    pd.testing.assert_frame_equal(r.point_snaps, before["snaps"])
    pd.testing.assert_frame_equal(case["units"], units)
    pd.testing.assert_frame_equal(sites, sites_before)


def test_the_units_are_not_attached_again(case, monkeypatch):
    """The units' snaps from the first times_at serve the what-if; only the new site is snapped."""
    calls: list[int] = []
    real = access.snap

    def counting(network, points, **kw):
        calls.append(len(points))
        return real(network, points, **kw)

    monkeypatch.setattr(access, "snap", counting)
    site = gpd.GeoDataFrame(geometry=[case["residential"].geometry.iloc[1].centroid], crs=case["net"].crs)
    lifecircle.what_if(
        case["reach"], case["units"], add=site, category="kindergarten", profile=case["prof"], circle=CIRCLE, weight="area_m2"
    )
    assert calls == [1]
    # other units (another CRS gives other coordinates) are attached once, then reused
    other = case["units"].to_crs(4326)
    for _ in range(2):
        lifecircle.times_at(case["reach"], other, profile=case["prof"], circle=CIRCLE)
    assert calls == [1, len(other)]


def test_unknown_ids_and_bad_changes_are_clear_errors(case):
    r = case["reach"]
    kw = {"profile": case["prof"], "circle": CIRCLE}
    with pytest.raises(mg.InputError, match="way/0"):
        lifecircle.what_if(r, case["units"], remove=["way/0"], **kw)
    with pytest.raises(mg.InputError, match="9999"):
        r.edit(drop=[9999])
    site = gpd.GeoDataFrame(geometry=[case["residential"].geometry.iloc[0].centroid], crs=case["net"].crs)
    with pytest.raises(mg.InputError, match="category"):
        lifecircle.what_if_reach(r, add=site, **kw)
    with pytest.raises(mg.InputError, match="not a category of the 15min circle"):
        lifecircle.what_if_reach(r, add=site, category="hospital", **kw)
    with pytest.raises(mg.InputError, match="categories this search covers"):
        r.edit(add=site.assign(category="hospital"))
    with pytest.raises(mg.InputError, match="replace=True needs"):
        lifecircle.what_if_reach(r, replace=True, **kw)
    with pytest.raises(mg.InputError, match="no search of the 15min circle"):
        lifecircle.what_if(None, case["units"], add=site, category="kindergarten", **kw)
    with pytest.raises(mg.CRSError, match="layer to add has no CRS"):
        r.edit(add=gpd.GeoDataFrame({"category": ["kindergarten"]}, geometry=[shapely.Point(0, 0)]))


def test_attachment_edit_equals_attach_on_the_edited_layer(case):
    """Access points and snaps of the kept and added features, in the order attach() gives them."""
    net = case["net"]
    layer = _circle_layer(case)
    att = access.attach(net, layer)
    res = case["residential"].to_crs(layer.crs)
    add = gpd.GeoDataFrame(
        {"category": ["park", "convenience"]}, geometry=[res.geometry.iloc[4], res.geometry.iloc[5].centroid], crs=layer.crs
    )
    drop = [1, 5, len(layer) - 1]
    new = att.edit(add=add, drop=drop)
    keep = np.ones(len(layer), dtype=bool)
    keep[drop] = False
    fresh = access.attach(net, pd.concat([layer[keep], add], ignore_index=True))
    pd.testing.assert_frame_equal(new.to_frame().drop(columns="geometry"), fresh.to_frame().drop(columns="geometry"))
    assert shapely.equals_exact(new.points.geometry.to_numpy(), fresh.points.geometry.to_numpy(), tolerance=0).all()
    pd.testing.assert_frame_equal(new.diagnostics(), fresh.diagnostics())
    assert len(att.facilities) == len(layer)  # the original is unchanged


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    """The demo study run from the library (nothing written)."""
    return mg.run(mg.demo_study(tmp_path_factory.mktemp("whatif_run")))


def test_a_runs_what_if_equals_the_function_on_the_runs_own_inputs(demo_result):
    result = demo_result
    prof, net = result.profile, result.networks["walk"]
    units = result.layers["units_15min"].to_crs(net.crs)
    # two new kindergartens at the units farthest from one (still reached by the network)
    far = units["time_min_kindergarten"].where(np.isfinite(units["time_min_kindergarten"])).nlargest(2).index
    sites = gpd.GeoDataFrame(geometry=units.loc[far].geometry.to_numpy(), crs=units.crs).to_crs(4326)
    # by hand: a new search on the run's network and facilities, the run's units and weight
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = lifecircle.reach(net, result.layers["facilities"], profile=prof, circle=CIRCLE, max_time_min=INF)
        own = units[["res_area_m2", "area_m2", "pop", "geometry"]]
        lifecircle.times_at(r, own, profile=prof, circle=CIRCLE)
        by_hand = lifecircle.what_if(
            r, own, add=sites, category="kindergarten", profile=prof, circle=CIRCLE, weight=result.weight
        )
        unedited = result.what_if(CIRCLE)
        edited = result.what_if(CIRCLE, add=sites, category="kindergarten")
    pd.testing.assert_frame_equal(unedited, result.tables[f"coverage_{CIRCLE}"])
    pd.testing.assert_frame_equal(edited, by_hand)
    before = result.tables[f"coverage_{CIRCLE}"].loc["kindergarten", "rate"]
    assert edited.loc["kindergarten", "rate"] > before  # the two sites change the rate
    # the units newly covered are exactly those within 15 minutes of a site, by a search from the sites alone
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        alone = lifecircle.reach(net, sites.assign(category="kindergarten"), profile=prof, circle=CIRCLE, max_time_min=INF)
        t_new = lifecircle.times_at(alone, own, profile=prof, circle=CIRCLE)["kindergarten"]
        again = result.what_if(CIRCLE)
    covered = (units["time_min_kindergarten"] <= 15) | (t_new <= 15)
    w = units["res_area_m2"]
    assert edited.loc["kindergarten", "rate"] == pytest.approx(w[covered].sum() / w.sum())
    # the run's result is unchanged by its what-ifs
    pd.testing.assert_frame_equal(again, result.tables[f"coverage_{CIRCLE}"])


def test_a_runs_what_if_names_the_circles_it_has(demo_result):
    with pytest.raises(mg.InputError, match=r"no computed circle '30min'.*\['15min', '5min'\]"):
        demo_result.what_if("30min", add=None)
