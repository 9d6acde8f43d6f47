"""Life-circle coverage: known answers, invariants and the profile's rules."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mtown_geo as mg
from mtown_geo import demand, lifecircle


@pytest.fixture(scope="module")
def demo_case(demo_osm, demo_bounds, karhula_walk):
    """The demo town: walk network, real facilities, a 100 m grid over the built-up area."""
    built = demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(karhula_walk.crs)
    units = mg.demand.grid(built, cell_m=100)
    units["res_area_m2"] = units["area_m2"] * 0.5  # half of each cell residential: a known weight
    units["pop"] = np.arange(len(units), dtype=float) % 7
    fac = mg.facilities.from_osm(demo_osm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        times = lifecircle.travel_times(karhula_walk, fac, units, circle="15min")
    return units, fac, times


def test_coverage_by_hand(demo_case):
    units, _, times = demo_case
    profile = mg.standards.load()
    table = lifecircle.coverage(times, units, profile=profile, circle="15min", weight="area_m2")
    req = profile.circles["15min"].required
    assert list(table.index) == [*req, *profile.circles["15min"].optional, lifecircle.CIRCLE]
    w = units["area_m2"].to_numpy()
    for cat in req:
        want = w[times[cat].to_numpy() <= 15].sum() / w.sum()
        assert table.loc[cat, "rate"] == pytest.approx(want)
    all_ok = np.all(times[req].to_numpy() <= 15, axis=1)
    assert table.loc[lifecircle.CIRCLE, "rate"] == pytest.approx(w[all_ok].sum() / w.sum())
    # the demo town has no health station: the whole circle is 0
    assert table.loc["health_station", "rate"] == 0 and table.loc[lifecircle.CIRCLE, "rate"] == 0
    assert table.loc["bus_stop", "rate"] > 0.9


def test_weights_change_the_denominator(demo_case):
    units, _, times = demo_case
    by_area = lifecircle.coverage(times, units, weight="area_m2")
    by_res = lifecircle.coverage(times, units, weight="res_area_m2")
    by_pop = lifecircle.coverage(times, units, weight="pop")
    # residential weight is proportional to area here: same rates
    np.testing.assert_allclose(by_area["rate"], by_res["rate"])
    assert by_pop.loc["bus_stop", "total"] == pytest.approx(units["pop"].sum())


def test_k_of_n_adds_up(demo_case):
    units, _, times = demo_case
    kn = lifecircle.k_of_n(times, units, weight="area_m2")
    n = len(mg.standards.load().circles["15min"].required)
    assert list(kn.index) == list(range(n + 1))
    assert kn["share"].sum() == pytest.approx(1.0)
    assert kn["share_at_least"].iloc[0] == pytest.approx(1.0)
    cov = lifecircle.coverage(times, units, weight="area_m2")
    assert kn["share_at_least"].iloc[-1] == pytest.approx(cov.loc[lifecircle.CIRCLE, "rate"])


def test_assess_and_gaps_account_for_every_uncovered_cell(demo_case):
    units, _, times = demo_case
    a = lifecircle.assess(times, units, circle="15min")
    g = lifecircle.gaps(a, circle="15min", by="category")
    for cat in ("kindergarten", "health_station"):
        miss = a["missing"].str.split(",").map(lambda m, c=cat: c in m)
        got = g[g["category"] == cat]
        assert got["area_m2"].sum() == pytest.approx(a.loc[miss, "area_m2"].sum())
        # the gap polygons cover exactly the uncovered cells (cells clipped to the area are smaller)
        cells = mg.demand.cells(a[miss])
        merged = cells.union_all()  # GEOS's general union, an independent route
        assert shapely.union_all(got.geometry.to_numpy()).area == pytest.approx(merged.area)
        assert shapely.symmetric_difference(shapely.union_all(got.geometry.to_numpy()), merged).area < 1e-6
        assert len(got) == shapely.get_num_geometries(merged)
        assert got.geometry.is_valid.all()
    whole = lifecircle.gaps(a, circle="15min")
    assert whole["area_m2"].sum() == pytest.approx(a.loc[~a["covered"], "area_m2"].sum())
    # the same land given as polygons takes GEOS's general union: the same gaps
    cells = mg.demand.cells(a)
    general = lifecircle.gaps(a, circle="15min", polygons=cells.set_index(a.index))
    assert len(general) == len(whole)
    assert general["area_m2"].sum() == pytest.approx(whole["area_m2"].sum())
    assert shapely.symmetric_difference(general.union_all(), whole.union_all()).area < 1e-6


def test_assess_names_its_time_columns_in_minutes_and_they_read_back(demo_case, tmp_path):
    """``time_min_<category>`` per category; ``time_columns`` lists them, also from the GeoPackage."""
    units, _, times = demo_case
    a = lifecircle.assess(times, units, circle="15min")
    cats = lifecircle.categories_of(None, "15min")
    assert [lifecircle.time_column(c) for c in cats] == [f"time_min_{c}" for c in cats]
    assert lifecircle.time_columns(a) == {c: f"time_min_{c}" for c in cats}
    assert not any(str(c).startswith("t_") for c in a.columns)
    for cat, col in lifecircle.time_columns(a).items():
        np.testing.assert_array_equal(a[col].to_numpy(float), times[cat].to_numpy(float))
    # the unit is in the name, nothing else is taken for a time column
    other = pd.DataFrame(columns=["time_min_", "t_kindergarten", "n_reached", "dist_m_park", 3])
    assert lifecircle.time_columns(other) == {}
    with pytest.raises(mg.InputError, match="category"):
        lifecircle.time_column("")
    # written to a GeoPackage and read back (as a planner opens it in QGIS): the same names and minutes
    a.to_file(tmp_path / "layers.gpkg", layer="units_15min")
    back = gpd.read_file(tmp_path / "layers.gpkg", layer="units_15min")
    assert lifecircle.time_columns(back) == lifecircle.time_columns(a)
    for col in lifecircle.time_columns(a).values():
        t = a[col].to_numpy(float)
        ok = np.isfinite(t)
        np.testing.assert_allclose(back[col].to_numpy(float)[ok], t[ok])


def test_zones(demo_case):
    units, _, times = demo_case
    zoned = units.assign(zone=np.where(units["x"] < units["x"].median(), "west", "east"))
    z = lifecircle.coverage_by_zone(times, zoned, weight="area_m2")
    assert set(z.index) == {"west", "east"}
    total = lifecircle.coverage(times, units, weight="area_m2")
    # the town rate is the weighted mean of the zones' rates
    mean = (z["bus_stop"] * z["total"]).sum() / z["total"].sum()
    assert mean == pytest.approx(total.loc["bus_stop", "rate"])


def test_misaligned_and_weightless_inputs_are_refused(demo_case):
    units, _, times = demo_case
    with pytest.raises(mg.InputError, match="share one index"):
        lifecircle.coverage(times.iloc[1:], units)
    with pytest.raises(mg.InputError, match=r"res_area_m2=0.*with_residential"):
        lifecircle.coverage(times, units.assign(res_area_m2=0.0))
    with pytest.raises(mg.InputError, match="no 'people' column"):
        lifecircle.coverage(times, units, weight="people")
    with pytest.raises(mg.InputError, match="negative"):
        lifecircle.k_of_n(times, units.assign(pop=-1.0), weight="pop")
    with pytest.raises(mg.InputError, match="column name"):
        lifecircle.coverage(times, units, weight=1)  # type: ignore[arg-type]


def test_the_weight_is_the_units_column(demo_case):
    units, _, times = demo_case
    by_area = lifecircle.coverage(times, units, weight="area_m2")
    assert set(by_area["weight"]) == {"area_m2"}
    # any numeric column weights: twice the area gives the same rates
    doubled = lifecircle.coverage(times, units.assign(twice=2 * units["area_m2"]), weight="twice")
    np.testing.assert_allclose(doubled["rate"], by_area["rate"])
    assert set(doubled["weight"]) == {"twice"}
    # None: every unit counts 1; the rate is the share of units, counted by hand
    each = lifecircle.coverage(times, units, weight=None)
    assert each["weight"].isna().all()
    assert each.loc["kindergarten", "total"] == len(units)
    assert each.loc["kindergarten", "rate"] == pytest.approx((times["kindergarten"] <= 15).mean())
    kn = lifecircle.k_of_n(times, units, weight=None)
    assert kn["weight_sum"].sum() == len(units)


@pytest.mark.parametrize(("old", "new"), [("residential", "res_area_m2"), ("area", "area_m2"), ("units", None)])
def test_old_weight_names_are_read_with_a_warning(demo_case, old, new):
    units, _, times = demo_case
    with pytest.warns(mg.DeprecatedNameWarning, match=f"weight={old!r} is now weight={new!r}") as caught:
        table = lifecircle.coverage(times, units, weight=old)
    assert caught[0].filename == __file__  # points at the caller's line
    pd.testing.assert_frame_equal(table, lifecircle.coverage(times, units, weight=new))
    with pytest.warns(mg.DeprecatedNameWarning):
        zoned = units.assign(zone="all")
        z = lifecircle.coverage_by_zone(times, zoned, weight=old)
    assert z.loc["all", lifecircle.CIRCLE] == pytest.approx(table.loc[lifecircle.CIRCLE, "rate"])


def test_unknown_names_name_the_closest(demo_case):
    units, _, times = demo_case
    with pytest.raises(mg.UnknownNameError, match=r"unknown circle '20min'.*\['15min', '30min', '5min'\]") as err:
        lifecircle.coverage(times, units, circle="20min")
    assert isinstance(err.value, KeyError) and isinstance(err.value, mg.ProfileError)
    assert str(err.value).startswith("unknown circle '20min'")  # the message, not a KeyError repr
    with pytest.raises(mg.UnknownNameError, match="did you mean '15min'"):
        lifecircle.categories_of(None, "15mins")
    with pytest.raises(mg.UnknownNameError, match="did you mean '15min'"):
        lifecircle.thresholds(None, "15 min")


def test_wrong_mode_is_refused(demo_case, karhula_walk):
    units, fac, _ = demo_case
    with pytest.raises(mg.InputError, match="ebike"):
        lifecircle.travel_times(karhula_walk, fac, units, circle="30min")


def test_distance_profile_uses_its_bands(demo_case):
    units, _, times = demo_case
    gb = mg.standards.load("gb50180-2018")
    t = pd.DataFrame({c: times["kindergarten"] for c in lifecircle.categories_of(gb, "5min")}, index=times.index)
    cov = lifecircle.coverage(t, units, profile=gb, circle="5min", weight="area_m2")
    w = units["area_m2"].to_numpy()
    assert cov.loc["kindergarten", "rate"] == pytest.approx(w[times["kindergarten"] <= 4.5].sum() / w.sum())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4),
    t1=st.floats(min_value=1, max_value=20),
    dt=st.floats(min_value=0, max_value=20),
)
def test_coverage_never_falls_when_facilities_are_added_or_thresholds_grow(demo_case, karhula_walk, extra, t1, dt):
    units, fac, _ = demo_case
    kg = fac[fac["category"] == "kindergarten"]
    nodes = karhula_walk.nodes.geometry.to_numpy()
    added = gpd.GeoDataFrame(
        {"category": "kindergarten"},
        index=range(len(extra)),
        geometry=[nodes[i % len(nodes)] for i in extra],
        crs=karhula_walk.crs,
    )
    more = pd.concat([kg.to_crs(karhula_walk.crs), added], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        a = mg.access.travel_times(karhula_walk, kg, units, max_time_min=45)["kindergarten"]
        b = mg.access.travel_times(karhula_walk, more, units, max_time_min=45)["kindergarten"]
    w = units["area_m2"].to_numpy()

    def rate(t, limit):
        return w[t.to_numpy() <= limit].sum() / w.sum()

    for r in (rate(a, t1), rate(b, t1), rate(a, t1 + dt)):
        assert 0.0 <= r <= 1.0
    assert rate(b, t1) >= rate(a, t1)
    assert rate(a, t1 + dt) >= rate(a, t1)
    assert (b <= a + 1e-9).all()


def test_a_longer_search_keeps_the_coverage_and_tells_farther_from_unreachable(demo_case, karhula_walk):
    """max_time_min beyond the thresholds: the same times within them, times past them, inf only without a path."""
    units, fac, times = demo_case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        whole = lifecircle.reach(karhula_walk, fac, circle="15min", max_time_min=np.inf)
        far = lifecircle.times_at(whole, units, circle="15min")
    assert whole is not None and np.isinf(whole.max_time_min)
    pd.testing.assert_frame_equal(
        lifecircle.coverage(far, units, circle="15min"), lifecircle.coverage(times, units, circle="15min")
    )
    within = np.isfinite(times.to_numpy())
    np.testing.assert_array_equal(far.to_numpy()[within], times.to_numpy()[within])
    beyond = far.to_numpy()[~within]
    assert (beyond[np.isfinite(beyond)] > 15).all() and np.isfinite(beyond).any()
    with pytest.raises(mg.InputError, match="largest threshold"):
        lifecircle.reach(karhula_walk, fac, circle="15min", max_time_min=10)


def test_each_gap_holds_the_units_whose_point_lies_in_it(demo_case):
    """Every gap's units, area and people are those of the cells whose representative point lies
    in that polygon (one containment test per gap and cell, an independent route)."""
    units, _, times = demo_case
    a = lifecircle.assess(times, units, circle="15min")
    g = lifecircle.gaps(a, circle="15min", by="category")
    cells = mg.demand.cells(a).geometry.to_numpy()
    reps = shapely.point_on_surface(cells)
    missing = a["missing"].fillna("").str.split(",")
    assert g["category"].nunique() > 1 and (g.groupby("category").size() > 1).any()
    for cat, rows in g.groupby("category"):
        gap_of = np.array([cat in m for m in missing])
        for geom, (_, row) in zip(rows.geometry, rows.iterrows(), strict=True):
            inside = gap_of & shapely.within(reps, geom)
            assert row["units"] == inside.sum()
            assert row["area_m2"] == a["area_m2"].to_numpy()[inside].sum()
            assert row["pop"] == a["pop"].to_numpy()[inside].sum()
            assert row["res_area_m2"] == a["res_area_m2"].to_numpy()[inside].sum()


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


def _plain_gaps(assessed: gpd.GeoDataFrame, circle: str) -> gpd.GeoDataFrame:
    """gaps(by="category") the plain way: every category's cells dissolved on their own, each
    part's units by pairwise containment of the cells' representative points, pandas' sort."""
    boxes, _ = demand._cell_boxes(assessed)
    reps = shapely.point_on_surface(boxes)
    missing = assessed["missing"].fillna("").str.split(",")
    rows, geoms = [], []
    for cat in mg.standards.load().circles[circle].required:
        mask = np.array([cat in m for m in missing])
        if not mask.any():
            continue
        parts = shapely.get_parts(shapely.union_all(boxes[mask]))
        for part in parts[shapely.area(parts) > 0]:
            sel = mask & shapely.within(reps, part)
            rows.append(
                {
                    "circle": circle,
                    "category": cat,
                    "area_m2": float(assessed["area_m2"].to_numpy()[sel].sum()),
                    "res_area_m2": float(assessed["res_area_m2"].to_numpy()[sel].sum()),
                    "pop": float(assessed["pop"].to_numpy()[sel].sum()),
                    "units": int(sel.sum()),
                }
            )
            geoms.append(part)
    out = gpd.GeoDataFrame(rows, geometry=geoms, crs=assessed.crs)
    return out.sort_values(["category", "area_m2"], ascending=[True, False]).reset_index(drop=True)


def test_gaps_by_category_as_the_plain_route(demo_case):
    """gaps(by="category") (categories missed by the same units dissolved once, cell centres as
    the units' points, one sort of positions) gives the rows of the plain route: same columns,
    dtypes, order and values, and gaps covering the same land."""
    units, _, times = demo_case
    for circle in ("5min", "15min"):
        a = lifecircle.assess(
            times.reindex(columns=lifecircle.categories_of(None, circle), fill_value=np.inf), units, circle=circle
        )
        fast = lifecircle.gaps(a, circle=circle, by="category")
        plain = _plain_gaps(a, circle)
        assert len(fast) > 3
        pd.testing.assert_frame_equal(pd.DataFrame(fast.drop(columns="geometry")), pd.DataFrame(plain.drop(columns="geometry")))
        assert fast.crs == plain.crs
        for f, p in zip(fast.geometry, plain.geometry, strict=True):
            assert f.equals(p) and abs(f.area - p.area) <= 1e-12 * p.area
    # categories missed by exactly the same units share their gaps (dissolved once): the
    # 5-minute circle with no facility at all
    a = lifecircle.assess(
        pd.DataFrame(np.inf, index=units.index, columns=lifecircle.categories_of(None, "5min")), units, circle="5min"
    )
    fast = lifecircle.gaps(a, circle="5min", by="category")
    plain = _plain_gaps(a, "5min")
    pd.testing.assert_frame_equal(pd.DataFrame(fast.drop(columns="geometry")), pd.DataFrame(plain.drop(columns="geometry")))
    assert fast["category"].nunique() == 4 and (fast["units"].groupby(fast["category"]).sum() == len(a)).all()


def test_assess_as_columns_set_one_by_one(demo_case):
    """assess() appends its columns in one step: the same frame (columns, dtypes, values,
    geometry, CRS, attrs) as a copy of the units with each column set in turn; units assessed
    before get their columns replaced where they stand."""
    units, _, times_all = demo_case
    units = units.copy()
    units.attrs["source"] = {"grid": [100]}
    for circle in ("5min", "15min"):
        prof = mg.standards.load()
        req = list(prof.circles[circle].required)
        times = times_all.reindex(columns=lifecircle.categories_of(prof, circle), fill_value=np.inf)
        fast = lifecircle.assess(times, units, circle=circle)
        plain = units.copy()
        reached = times[req].to_numpy() <= np.array([prof.threshold_min(circle, c) for c in req])
        for c in lifecircle.categories_of(prof, circle):
            plain[lifecircle.time_column(c)] = times[c].to_numpy(dtype=float)
        plain["n_required"] = len(req)
        plain["n_reached"] = reached.sum(axis=1)
        plain["covered"] = reached.all(axis=1)
        plain["missing"] = [",".join(c for c, ok in zip(req, row, strict=True) if not ok) for row in reached]
        pd.testing.assert_frame_equal(fast, plain, check_exact=True)
        assert isinstance(fast, gpd.GeoDataFrame) and fast.crs == units.crs and fast.attrs == units.attrs
        assert fast.attrs is not units.attrs and fast.geometry.name == units.geometry.name
        again = lifecircle.assess(times, fast, circle=circle)
        pd.testing.assert_frame_equal(again, fast, check_exact=True)
