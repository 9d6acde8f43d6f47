"""Facility siting and facility contributions, on real networks (Karhula demo, Guixi).

Every figure is checked against an independent route: coverage recomputed from
``mtown_geo.access.travel_times`` (the engine's multi-source search) with the chosen
sites added as facilities, optimal choices found by brute force over all subsets, and
greedy held to its 1 − 1/e guarantee against the integer program.
"""

from __future__ import annotations

import itertools
import math
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import siting

from .conftest import OSM_FILES, shared_path

GREEDY_RATIO = 1.0 - 1.0 / math.e
CATEGORY = "kindergarten"


# -- fixtures and the definition of coverage (computed here, from the engine) --------


@pytest.fixture(scope="module")
def karhula_fac():
    return mg.facilities.from_osm(mg.demo_osm_path("karhula"))


@pytest.fixture(scope="module")
def karhula_units(karhula_walk, demo_bounds):
    built = demo_bounds[demo_bounds.kind == "建成区"].to_crs(karhula_walk.crs)
    return mg.demand.grid(built, cell_m=100)


@pytest.fixture(scope="module")
def guixi_fac():
    return mg.facilities.from_osm(shared_path(OSM_FILES["guixi_bz2"]))


@pytest.fixture(scope="module")
def guixi_units(guixi_walk, guixi_boundary):
    return mg.demand.grid(guixi_boundary.to_crs(guixi_walk.crs), cell_m=100)


def _quiet_times(net, fac, units, *, category, limit_min):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        warnings.simplefilter("ignore", mg.EmptyCategoryWarning)
        return mg.access.travel_times(net, fac, units, categories=[category], max_time_min=limit_min)[category].to_numpy()


def _coverage(net, fac, units, *, category, threshold_min, weight="area_m2"):
    """Coverage by its definition, from a fresh engine run (a longer search limit than the threshold)."""
    w = units[weight].to_numpy()
    if fac is None or not (fac["category"] == category).any():
        return 0.0
    t = _quiet_times(net, fac, units, category=category, limit_min=threshold_min + 30)
    return float(w[t <= threshold_min].sum() / w.sum())


def _as_facilities(sites: gpd.GeoDataFrame, category: str, crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"category": [category] * len(sites)}, geometry=sites.geometry.to_crs(crs).to_numpy(), crs=crs)


def _with_sites(fac: gpd.GeoDataFrame | None, sites: gpd.GeoDataFrame, category: str) -> gpd.GeoDataFrame:
    new = _as_facilities(sites, category, 4326)
    if fac is None:
        return new
    return pd.concat([fac[["category", "geometry"]].to_crs(4326), new], ignore_index=True)


def _sample_candidates(net, units, n, seed):
    cand = siting.default_candidates(net, units)
    rng = np.random.default_rng(seed)
    return cand.iloc[np.sort(rng.choice(len(cand), size=n, replace=False))]


# -- the coverage matrix against the engine ------------------------------------------


def _offset_point(net, edge: int, frac: float, offset_m: float) -> shapely.Point:
    geom = net.edges.geometry.iloc[edge]
    (x0, y0), (x1, y1) = geom.coords[0], geom.coords[-1]
    dx, dy = x1 - x0, y1 - y0
    n = np.hypot(dx, dy)
    return shapely.Point(x0 + frac * dx - dy / n * offset_m, y0 + frac * dy + dx / n * offset_m)


def test_coverage_matrix_equals_the_engine_site_by_site(karhula_walk, karhula_units):
    """Each row of the matrix is the set of units within the threshold of that site alone, as travel_times finds it."""
    net, units = karhula_walk, karhula_units
    T = 6.0
    rng = np.random.default_rng(7)
    cands = siting.default_candidates(net, units).geometry.to_numpy()
    nodes = cands[rng.choice(len(cands), 8, replace=False)]
    # mid-edge sites with an access leg, some on the very edges demand units attach to (the along-edge case)
    unit_edges = mg.access.snap(net, units)["edge"].to_numpy()
    shared = [
        _offset_point(net, int(e), f, 8.0) for e, f in zip(unit_edges[rng.choice(len(units), 8)], rng.random(8), strict=True)
    ]
    long_edges = np.flatnonzero(net.edges["length_m"].to_numpy() > 50)
    mid = [
        _offset_point(net, int(e), f, o)
        for e, f, o in zip(rng.choice(long_edges, 6), rng.random(6), 40 * rng.random(6), strict=True)
    ]
    plot = [shapely.Point(nodes[0].x + 60, nodes[0].y + 30).buffer(35.0)]  # a vacant plot (polygon)
    sites = gpd.GeoDataFrame(geometry=[*nodes, *shared, *mid, *plot], crs=net.crs).to_crs(4326)  # any CRS
    mat = siting.coverage_matrix(net, sites, units, threshold_min=T)
    assert mat.shape == (len(sites), len(units))
    n_hits = 0
    for i in range(len(sites)):
        one = gpd.GeoDataFrame({"category": ["x"]}, geometry=sites.geometry.iloc[[i]].to_numpy(), crs=sites.crs)
        want = _quiet_times(net, one, units, category="x", limit_min=T + 20) <= T
        got = mat[[i]].toarray().ravel()
        np.testing.assert_array_equal(got, want, err_msg=f"site {i}")
        n_hits += int(want.sum())
    assert n_hits > 50  # the sites do cover something: the comparison is not vacuous


def test_unit_and_site_on_the_same_street_segment(karhula_walk):
    """Along its own edge a unit walks straight to the site; via the edge's ends it would take longer.

    The threshold is set between the two times, so only the along-edge route covers the unit.
    """
    net = karhula_walk
    comp0 = net.component[net.edges["u"].to_numpy()] == 0
    e = int(np.flatnonzero(comp0 & (net.edges["length_m"].to_numpy() > 150))[0])
    unit = _offset_point(net, e, 0.2, 5.0)
    site = _offset_point(net, e, 0.8, 5.0)
    t_edge = net.edges["time_min"].iloc[e]
    leg = 5.0 / (4.0 * 1000 / 60)
    direct = 2 * leg + 0.6 * t_edge  # by hand
    T = direct + 0.1 * t_edge  # below any route through the edge's ends (≥ 2 * leg + 1.0 * t_edge)
    units = gpd.GeoDataFrame({"area_m2": [1.0]}, geometry=[unit], crs=net.crs)
    sites = gpd.GeoDataFrame(geometry=[site], crs=net.crs)
    assert siting.coverage_matrix(net, sites, units, threshold_min=T).toarray().tolist() == [[True]]
    assert siting.coverage_matrix(net, sites, units, threshold_min=direct * 0.999).toarray().tolist() == [[False]]
    engine = _quiet_times(net, _as_facilities(sites, "x", net.crs), units, category="x", limit_min=60)[0]
    assert engine == pytest.approx(direct, rel=1e-9)
    plan = siting.add_facilities(net, None, units, category="x", threshold_min=T, candidates=sites, k=1, weight="area_m2")
    assert plan.coverage_after == 1.0


# -- adding sites: coverage after each site is what the engine finds -----------------


def test_coverage_after_each_site_equals_a_fresh_engine_run(karhula_walk, karhula_fac, karhula_units):
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    T = 10.0
    plan = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, k=4, weight="area_m2")
    assert plan.n_sites == 4 and plan.method == "greedy"
    assert list(plan.sites["order"]) == [1, 2, 3, 4]
    assert plan.coverage_before == pytest.approx(_coverage(net, fac, units, category=CATEGORY, threshold_min=T), abs=1e-12)
    total = units["area_m2"].sum()
    prev = plan.coverage_before
    for i in range(plan.n_sites):
        want = _coverage(net, _with_sites(fac, plan.sites.iloc[: i + 1], CATEGORY), units, category=CATEGORY, threshold_min=T)
        row = plan.sites.iloc[i]
        assert row["coverage"] == pytest.approx(want, abs=1e-12)
        assert row["new_area_m2"] == pytest.approx((want - prev) * total, rel=1e-9, abs=1e-6)
        assert row["new_area_m2"] > 0
        prev = want
    assert plan.coverage_after == pytest.approx(prev, abs=1e-12)
    # unit by unit: covered after = within T of an existing facility or a new site, as the engine says
    t_all = _quiet_times(net, _with_sites(fac, plan.sites, CATEGORY), units, category=CATEGORY, limit_min=T + 30)
    t_old = _quiet_times(net, fac, units, category=CATEGORY, limit_min=T + 30)
    assert plan.units.index.equals(units.index)
    np.testing.assert_array_equal(plan.units["covered_after"].to_numpy(), t_all <= T)
    np.testing.assert_array_equal(plan.units["covered_before"].to_numpy(), t_old <= T)
    by_site = units["area_m2"].groupby(plan.units["new_site"]).sum()
    np.testing.assert_allclose(by_site.reindex([1, 2, 3, 4]).to_numpy(), plan.sites["new_area_m2"].to_numpy(), rtol=1e-12)
    # greedy order: gains never grow
    assert (np.diff(plan.sites["new_area_m2"].to_numpy()) <= 1e-9).all()
    # the sites are candidate network nodes, labelled by node, in the network's CRS
    assert plan.sites.crs.equals(net.crs)
    assert set(plan.sites.index) <= set(net.nodes.index)


def test_exact_equals_brute_force_and_greedy_keeps_its_guarantee(karhula_walk, karhula_fac, karhula_units):
    """On 12 real candidates, every subset is tried with coverage sets from the engine (not from the matrix)."""
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    T = 8.0
    cand = _sample_candidates(net, units, 12, seed=3)
    w = units["area_m2"].to_numpy()
    total = w.sum()
    base = _quiet_times(net, fac, units, category=CATEGORY, limit_min=T + 30) <= T
    sets = [
        _quiet_times(net, _as_facilities(cand.iloc[[i]], CATEGORY, net.crs), units, category=CATEGORY, limit_min=T + 30) <= T
        for i in range(len(cand))
    ]

    def cov(combo):
        hit = base.copy()
        for i in combo:
            hit |= sets[i]
        return w[hit].sum() / total

    before = cov(())
    best = {k: max(cov(c) for c in itertools.combinations(range(len(cand)), k)) for k in (1, 2, 3)}
    assert best[1] < best[2] < best[3]  # a real choice at every size
    for k in (1, 2, 3):
        g = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, candidates=cand, k=k, weight="area_m2")
        e = siting.add_facilities(
            net, fac, units, category=CATEGORY, threshold_min=T, candidates=cand, k=k, weight="area_m2", method="exact"
        )
        assert e.optimal and e.method == "exact"
        assert e.coverage_after == pytest.approx(best[k], abs=1e-12)
        assert cov([cand.index.get_loc(i) for i in e.sites.index]) == pytest.approx(best[k], abs=1e-12)
        assert e.greedy_coverage_after == pytest.approx(g.coverage_after, abs=1e-12)
        assert g.coverage_after <= best[k] + 1e-12
        assert g.coverage_after - before >= GREEDY_RATIO * (best[k] - before) - 1e-12
        assert g.bound_coverage >= best[k] - 1e-12  # greedy's own bound holds
        if k == 1:
            assert g.coverage_after == pytest.approx(best[1], abs=1e-12) and g.optimal
    # a target between the best single site and the best pair needs exactly two sites
    target = (best[1] + best[2]) / 2
    for method in ("greedy", "exact"):
        plan = siting.add_facilities(
            net, fac, units, category=CATEGORY, threshold_min=T, candidates=cand, target=target, weight="area_m2", method=method
        )
        assert plan.target_reached and plan.reachable
        assert plan.coverage_after >= target
    exact = siting.add_facilities(
        net, fac, units, category=CATEGORY, threshold_min=T, candidates=cand, target=target, weight="area_m2", method="exact"
    )
    assert exact.n_sites == 2 and exact.optimal and exact.bound_n_sites == 2
    assert exact.coverage_after == pytest.approx(best[2], abs=1e-12)  # the best pair, not just any pair


def test_greedy_against_the_integer_program_on_all_default_candidates(karhula_walk, karhula_fac, karhula_units):
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    T = 10.0
    for k in (1, 2, 3, 5):
        g = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, k=k, weight="area_m2")
        e = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, k=k, weight="area_m2", method="exact")
        assert e.optimal
        assert g.n_candidates == e.n_candidates > 200
        gain_g = g.coverage_after - g.coverage_before
        gain_e = e.coverage_after - e.coverage_before
        assert gain_g <= gain_e + 1e-12
        assert gain_g >= GREEDY_RATIO * gain_e - 1e-12
        assert g.bound_coverage >= e.coverage_after - 1e-12
        assert e.greedy_coverage_after == pytest.approx(g.coverage_after, abs=1e-12)
        if k == 1:
            assert gain_g == pytest.approx(gain_e, abs=1e-12)
        # the exact plan's coverage is what the engine finds with those sites
        assert e.coverage_after == pytest.approx(
            _coverage(net, _with_sites(fac, e.sites, CATEGORY), units, category=CATEGORY, threshold_min=T), abs=1e-12
        )


def test_target_is_reached_with_the_fewest_sites(karhula_walk, karhula_fac, karhula_units):
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    T, target = 10.0, 0.9
    g = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, target=target, weight="area_m2")
    e = siting.add_facilities(
        net, fac, units, category=CATEGORY, threshold_min=T, target=target, weight="area_m2", method="exact"
    )
    for plan in (g, e):
        assert plan.reachable and plan.target_reached
        cov = plan.sites["coverage"].to_numpy()
        assert cov[-1] >= target and plan.coverage_after == pytest.approx(cov[-1])
        got = _coverage(net, _with_sites(fac, plan.sites, CATEGORY), units, category=CATEGORY, threshold_min=T)
        assert got == pytest.approx(cov[-1], abs=1e-12) and got >= target
    assert g.sites["coverage"].iloc[-2] < target  # greedy stops at the first site that reaches the target
    assert e.optimal
    assert g.bound_n_sites <= e.n_sites <= g.n_sites
    # one site fewer cannot reach the target: the best n − 1 sites fall short
    fewer = siting.add_facilities(
        net, fac, units, category=CATEGORY, threshold_min=T, k=e.n_sites - 1, weight="area_m2", method="exact"
    )
    assert fewer.optimal and fewer.coverage_after < target
    # with a cap on k below that, the target is reported as not reached
    capped = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, target=target, k=2, weight="area_m2")
    assert capped.n_sites == 2 and capped.reachable and not capped.target_reached
    assert "not reached" in capped.message()


def test_a_target_the_candidates_cannot_reach_is_said_so(karhula_walk, karhula_fac, karhula_units):
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    T = 5.0
    cand = _sample_candidates(net, units, 5, seed=11)
    with pytest.warns(mg.MtownGeoWarning, match="cannot be reached"):
        plan = siting.add_facilities(
            net, fac, units, category=CATEGORY, threshold_min=T, candidates=cand, target=0.95, weight="area_m2"
        )
    assert plan.reachable is False and plan.target_reached is False
    everything = _coverage(net, _with_sites(fac, cand, CATEGORY), units, category=CATEGORY, threshold_min=T)
    assert plan.max_coverage == pytest.approx(everything, abs=1e-12)
    assert plan.coverage_after == pytest.approx(everything, abs=1e-12)  # it gets as far as the candidates allow
    assert f"{everything:.1%}" in plan.message()
    with pytest.warns(mg.MtownGeoWarning, match="cannot be reached"):
        exact = siting.add_facilities(
            net, fac, units, category=CATEGORY, threshold_min=T, candidates=cand, target=0.95, weight="area_m2", method="exact"
        )
    assert exact.coverage_after == pytest.approx(everything, abs=1e-12)
    assert exact.n_sites <= plan.n_sites


def test_a_target_already_met_adds_nothing(karhula_walk, karhula_fac, karhula_units):
    cov = _coverage(karhula_walk, karhula_fac, karhula_units, category="bus_stop", threshold_min=5.0)
    assert 0.2 < cov < 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)  # three Karhula bus stops stand on cut-off footpaths
        plan = siting.add_facilities(
            karhula_walk, karhula_fac, karhula_units, category="bus_stop", threshold_min=5.0, target=cov / 2, weight="area_m2"
        )
    assert plan.n_sites == 0 and plan.target_reached
    assert plan.coverage_after == pytest.approx(cov, abs=1e-12)


def test_polygon_candidates_and_far_candidates(karhula_walk, karhula_fac, karhula_units):
    """Vacant plots given as polygons are reached through their boundary; a plot off the network is never chosen."""
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    pts = _sample_candidates(net, units, 6, seed=5).geometry
    plots = pts.translate(25, 25).buffer(30.0)
    x0, y0 = net.nodes["x"].max() + 5000, net.nodes["y"].max() + 5000
    far = gpd.GeoSeries([shapely.box(x0, y0, x0 + 50, y0 + 50)], crs=net.crs)
    cand = gpd.GeoDataFrame(
        {"plot": [f"P{i}" for i in range(7)]}, geometry=pd.concat([plots, far]).to_numpy(), crs=net.crs, index=range(10, 17)
    )
    with pytest.warns(mg.SnapWarning, match="1 of 7 candidate sites"):
        plan = siting.add_facilities(
            net, fac, units, category=CATEGORY, threshold_min=8.0, candidates=cand, k=3, weight="area_m2"
        )
    assert plan.n_candidates_attached == 6
    assert 16 not in plan.sites.index
    assert list(plan.sites["plot"]) == [cand.loc[i, "plot"] for i in plan.sites.index]  # the plot's own columns follow
    assert plan.sites.geom_type.eq("Polygon").all()
    got = _coverage(net, _with_sites(fac, plan.sites, CATEGORY), units, category=CATEGORY, threshold_min=8.0)
    assert plan.coverage_after == pytest.approx(got, abs=1e-12)


def test_default_candidates_are_junctions_inside_the_hull(karhula_walk, karhula_units):
    net, units = karhula_walk, karhula_units
    cand = siting.default_candidates(net, units)
    G = net.to_networkx().to_undirected()
    hull = shapely.MultiPoint(shapely.get_coordinates(units.geometry.to_numpy())).convex_hull
    want = [i for i in range(net.n_nodes) if G.degree(i) != 2 and hull.covers(net.nodes.geometry.iloc[i])]
    assert sorted(cand.index) == want
    assert (cand["degree"] == [G.degree(i) for i in cand.index]).all()


def test_inputs_are_not_changed(karhula_walk, karhula_fac, karhula_units):
    fac, units = karhula_fac.copy(), karhula_units.copy()
    cand = _sample_candidates(karhula_walk, karhula_units, 10, seed=1)
    cand_copy = cand.copy()
    siting.add_facilities(karhula_walk, fac, units, category=CATEGORY, threshold_min=5, candidates=cand, k=2, weight="area_m2")
    siting.contributions(karhula_walk, fac, units, category="bus_stop", threshold_min=5, weight="area_m2")
    pd.testing.assert_frame_equal(fac, karhula_fac)
    pd.testing.assert_frame_equal(units, karhula_units)
    pd.testing.assert_frame_equal(cand, cand_copy)


# -- Guixi: a category with no facility at all ---------------------------------------


def test_guixi_kindergartens_from_nothing(guixi_walk, guixi_fac, guixi_units):
    net, fac, units = guixi_walk, guixi_fac, guixi_units
    assert not (fac["category"] == CATEGORY).any()  # OSM maps no kindergarten in Guixi
    T = 10.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)  # Guixi has no footways: part of 东门街道 is far from any street
        g1 = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, k=1, weight="area_m2")
        e1 = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, k=1, weight="area_m2", method="exact")
        g = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, target=0.6, weight="area_m2")
        e = siting.add_facilities(
            net, fac, units, category=CATEGORY, threshold_min=T, target=0.6, weight="area_m2", method="exact"
        )
        none = siting.add_facilities(net, None, units, category=CATEGORY, threshold_min=T, k=1, weight="area_m2")
        with pytest.warns(mg.MtownGeoWarning, match="cannot be reached"):
            far = siting.add_facilities(net, fac, units, category=CATEGORY, threshold_min=T, target=0.95, weight="area_m2")
    assert g1.coverage_before == 0.0
    assert g1.coverage_after == pytest.approx(e1.coverage_after, abs=1e-12) and g1.coverage_after > 0.1
    assert none.coverage_after == pytest.approx(g1.coverage_after, abs=1e-12)  # no layer at all: the same question
    # coverage after the sites: a fresh engine run with them as Guixi's only kindergartens
    assert g.target_reached
    for i in (0, len(g.sites) // 2, len(g.sites) - 1):
        got = _coverage(net, _with_sites(None, g.sites.iloc[: i + 1], CATEGORY), units, category=CATEGORY, threshold_min=T)
        assert g.sites["coverage"].iloc[i] == pytest.approx(got, abs=1e-12)
    assert e.target_reached and e.optimal
    assert g.bound_n_sites <= e.n_sites <= g.n_sites
    got = _coverage(net, _with_sites(None, e.sites, CATEGORY), units, category=CATEGORY, threshold_min=T)
    assert e.coverage_after == pytest.approx(got, abs=1e-12) and got >= 0.6
    # 95 % cannot be reached from the street junctions: all of them together are the ceiling
    every = siting.default_candidates(net, units)
    ceiling = _coverage(net, _as_facilities(every, CATEGORY, net.crs), units, category=CATEGORY, threshold_min=T)
    assert ceiling < 0.95
    assert far.reachable is False and far.max_coverage == pytest.approx(ceiling, abs=1e-12)
    assert far.coverage_after == pytest.approx(ceiling, abs=1e-12)
    with pytest.warns(mg.EmptyCategoryWarning, match="kindergarten"), warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        c = siting.contributions(net, fac, units, category=CATEGORY, threshold_min=T, weight="area_m2")
    assert len(c) == 0


# -- contributions -------------------------------------------------------------------


def test_removing_a_facility_loses_exactly_its_unique_contribution(karhula_walk, karhula_fac, karhula_units):
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    T = 5.0
    c = siting.contributions(net, fac, units, category="bus_stop", threshold_min=T, weight="area_m2")
    stops = fac[fac["category"] == "bus_stop"]
    assert c.index.equals(stops.index) and len(c) == 36
    total = units["area_m2"].sum()
    full = _coverage(net, fac, units, category="bus_stop", threshold_min=T)
    assert (c["unique_area_m2"] > 0).any() and (c["unique_area_m2"] == 0).any()  # both kinds occur
    for i in stops.index:
        without = _coverage(net, fac.drop(index=i), units, category="bus_stop", threshold_min=T)
        alone = _coverage(net, fac.loc[[i]], units, category="bus_stop", threshold_min=T)
        assert c.loc[i, "unique_area_m2"] == pytest.approx((full - without) * total, rel=1e-9, abs=1e-6)
        assert c.loc[i, "covered_area_m2"] == pytest.approx(alone * total, rel=1e-9, abs=1e-6)
        assert c.loc[i, "unique_share"] == pytest.approx(full - without, abs=1e-12)
    assert c["unique_area_m2"].sum() <= full * total + 1e-6
    assert (c["n_units_unique"] <= c["n_units"]).all()


def test_contributions_of_a_polygon_facility(karhula_walk, karhula_fac, karhula_units):
    """The day-care centre is a polygon: it attaches through its boundary, and as the only one all it covers is unique."""
    c = siting.contributions(karhula_walk, karhula_fac, karhula_units, category="childcare", threshold_min=5, weight="area_m2")
    assert len(c) == 1 and c["attached"].all()
    assert karhula_fac.loc[karhula_fac["category"] == "childcare"].geom_type.iloc[0] in ("Polygon", "MultiPolygon")
    alone = _coverage(karhula_walk, karhula_fac, karhula_units, category="childcare", threshold_min=5)
    assert alone > 0
    assert c["covered_share"].iloc[0] == pytest.approx(alone, abs=1e-12)
    assert c["unique_share"].iloc[0] == pytest.approx(alone, abs=1e-12)


# -- bad input: clear errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": None, "target": None}, "give k"),
        ({"k": 0}, "k must be a whole number"),
        ({"k": 2.5}, "k must be a whole number"),
        ({"target": 95, "k": None}, "0.95"),
        ({"method": "ilp"}, "unknown method"),
        ({"threshold_min": -5}, "threshold_min must be a positive"),
        ({"weight": "people"}, "no 'people' column"),
    ],
)
def test_bad_arguments_are_refused(karhula_walk, karhula_fac, karhula_units, kwargs, match):
    args = {"category": CATEGORY, "threshold_min": 5.0, "k": 1, "weight": "area_m2", **kwargs}
    with pytest.raises(mg.InputError, match=match):
        siting.add_facilities(karhula_walk, karhula_fac, karhula_units, **args)


def test_zero_weights_point_to_the_fix(karhula_walk, karhula_fac, karhula_units):
    with pytest.raises(mg.InputError, match="weight='area_m2'"):  # grid units have res_area_m2 = 0
        siting.add_facilities(karhula_walk, karhula_fac, karhula_units, category=CATEGORY, threshold_min=5, k=1)
    bad = karhula_units.assign(area_m2=np.where(np.arange(len(karhula_units)) == 3, np.nan, karhula_units["area_m2"]))
    with pytest.raises(ValueError, match="missing"):
        siting.contributions(karhula_walk, karhula_fac, bad, category="park", threshold_min=5, weight="area_m2")


def test_layers_without_crs_or_category_are_refused(karhula_walk, karhula_fac, karhula_units):
    no_crs = gpd.GeoDataFrame(karhula_units.drop(columns="geometry"), geometry=karhula_units.geometry.to_numpy())
    with pytest.raises(mg.CRSError, match="no CRS"):
        siting.add_facilities(karhula_walk, karhula_fac, no_crs, category=CATEGORY, threshold_min=5, k=1, weight="area_m2")
    with pytest.raises(mg.InputError, match="'category' column"):
        siting.contributions(
            karhula_walk, karhula_fac.drop(columns="category"), karhula_units, category="park", threshold_min=5, weight="area_m2"
        )
    empty = gpd.GeoDataFrame(geometry=[], crs=karhula_walk.crs)
    with pytest.raises(mg.InputError, match="candidate layer is empty"):
        siting.add_facilities(
            karhula_walk, karhula_fac, karhula_units, category=CATEGORY, threshold_min=5, k=1, weight="area_m2", candidates=empty
        )


def test_unattached_demand_units_are_warned_and_count_in_the_denominator(karhula_walk, karhula_fac, karhula_units):
    net = karhula_walk
    x0, y0 = net.nodes["x"].max() + 3000, net.nodes["y"].max() + 3000
    far = gpd.GeoDataFrame({"area_m2": [1e6], "pop": [0.0], "res_area_m2": [0.0]}, geometry=[shapely.Point(x0, y0)], crs=net.crs)
    units = pd.concat([karhula_units, far], ignore_index=True)
    with pytest.warns(mg.SnapWarning, match=r"1 of \d+ demand units"):
        plan = siting.add_facilities(net, karhula_fac, units, category=CATEGORY, threshold_min=10, k=2, weight="area_m2")
    got = _coverage(net, _with_sites(karhula_fac, plan.sites, CATEGORY), units, category=CATEGORY, threshold_min=10)
    assert plan.coverage_after == pytest.approx(got, abs=1e-12)
    assert plan.max_coverage < 1e6 and plan.max_coverage <= 1 - 1e6 / units["area_m2"].sum() + 1e-12


def test_networkx_cross_check_of_one_coverage_row(karhula_walk, karhula_units):
    """A site on a node: the units it covers, from networkx distances plus the units' legs to their edge ends."""
    net, units = karhula_walk, karhula_units
    site_node = int(siting.default_candidates(net, units).index[40])
    T = 6.0
    mat = siting.coverage_matrix(net, net.nodes.geometry.iloc[[site_node]], units, threshold_min=T)
    G = net.to_networkx()
    to_site = nx.single_source_dijkstra_path_length(G.reverse(copy=False), site_node, weight="time_min")
    snaps = mg.access.snap(net, units)
    e = net.edges.iloc[snaps["edge"].to_numpy()]
    speed = 4.0 * 1000 / 60
    leg = snaps["snap_dist_m"].to_numpy() / speed
    s = snaps["frac"].to_numpy()
    tu = leg + s * e["time_rev_min"].to_numpy() + np.array([to_site.get(u, np.inf) for u in e["u"]])
    tv = leg + (1 - s) * e["time_min"].to_numpy() + np.array([to_site.get(v, np.inf) for v in e["v"]])
    want = np.minimum(tu, tv) <= T
    got = mat.toarray().ravel()
    # exact up to float rounding at the threshold itself
    near = np.abs(np.minimum(tu, tv) - T) < 1e-9
    np.testing.assert_array_equal(got[~near], want[~near])
    assert want.sum() > 5


def test_every_unit_counts_one_without_a_weight_and_old_names_still_read(karhula_walk, karhula_fac, karhula_units):
    """``weight=None`` counts units (checked against the engine's times); ``"area"`` reads as ``"area_m2"``."""
    net, fac, units = karhula_walk, karhula_fac, karhula_units
    plan = siting.add_facilities(net, fac, units, category="bus_stop", threshold_min=5.0, k=2, weight=None)
    assert plan.weight is None and {"new_units", "covered_units"} <= set(plan.sites.columns)
    assert plan.total_weight == len(units)
    t = _quiet_times(net, fac, units, category="bus_stop", limit_min=5.0)
    assert plan.coverage_before == pytest.approx(float((t <= 5.0 + 1e-9).mean()))
    assert plan.sites["covered_units"].iloc[-1] == pytest.approx(plan.coverage_after * len(units))
    with pytest.warns(mg.DeprecatedNameWarning, match="weight='area' is now weight='area_m2'"):
        old = siting.contributions(net, fac, units, category="bus_stop", threshold_min=5.0, weight="area")
    new = siting.contributions(net, fac, units, category="bus_stop", threshold_min=5.0, weight="area_m2")
    pd.testing.assert_frame_equal(pd.DataFrame(old), pd.DataFrame(new))


# -- the fast route of the candidate coverage against a plain search -----------------


def _plain_coverage(net, sites, units, *, threshold_min):
    """The coverage matrix by the plain route: every attached site searched on the whole reversed network
    (no part of it left out, no site skipped), the units' legs added, then the trips along a shared edge."""
    T = threshold_min
    used = mg.access.attach(net, sites).usable_points()
    usnap = mg.access.snap(net, units)
    oi = np.flatnonzero(usnap["ok"].to_numpy())
    uu, uv, via_u, via_v = mg.access.origin_legs(
        net, usnap["edge"].to_numpy()[oi], usnap["frac"].to_numpy()[oi], usnap["access_min"].to_numpy()[oi]
    )
    pu, pv, w_u, w_v = mg.access.source_legs(net, used["edge"].to_numpy(), used["frac"].to_numpy(), used["access_min"].to_numpy())
    owner = used["owner"].to_numpy()
    src, to, w = np.concatenate([owner, owner]), np.concatenate([pu, pv]), np.concatenate([w_u, w_v])
    fin = np.isfinite(w)
    n = net.n_nodes
    aug = mg.access.add_sources(net.csr_reverse, src[fin], to[fin], w[fin], len(sites))
    mat = np.zeros((len(sites), len(units)), dtype=bool)
    for start in range(0, len(sites), 200):
        ids = np.arange(start, min(start + 200, len(sites)))
        dist = mg.access.csr_dijkstra(aug, n + ids, limit_min=T)
        best = np.minimum(via_u[None, :] + dist[:, uu], via_v[None, :] + dist[:, uv])
        mat[np.ix_(ids, oi)] = best <= T
    o, p, total = mg.access.same_edge(net, usnap, used)
    mat[owner[p[total <= T]], o[total <= T]] = True
    return mat


def _plan_from(net, fac, units, matrix, *, category, threshold_min, target, reach=None):
    """The plan add_facilities gives, with its candidate coverage replaced by ``matrix`` (every unit's column)."""
    req = siting._check_request(
        net, fac, units, category=category, threshold_min=threshold_min, candidates=None, k=None, target=target,
        weight="area_m2", method="greedy", time_limit_s=60.0, reach=reach,
    )  # fmt: skip
    base = siting._baseline(net, req, max_snap_dist_m=None, spacing_m=25.0, reach=reach)
    A_full = siting.sp.csr_matrix(matrix)
    attached = np.zeros(len(req.cand), dtype=bool)
    attached[mg.access.attach(net, req.cand).usable_points()["owner"].to_numpy()] = True
    open_units = np.flatnonzero(~base & (req.w_all > 0))
    A = A_full[:, open_units].tocsr()
    w = req.w_all[open_units]
    every = siting._covered_weight(A, w, list(range(A.shape[0]))) if A.nnz else 0.0
    cm = siting._Matrix(base=base, before=float(req.w_all[base].sum()), A_full=A_full, attached=attached, A=A, w=w, every=every)
    return siting._plan(req, cm, siting._choose(req, cm, method="greedy", time_limit_s=60.0), method="greedy")


def _assert_same_plan(got, want):
    assert list(got.sites.index) == list(want.sites.index)  # the same sites, in the same order
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.sites.drop(columns="geometry")), pd.DataFrame(want.sites.drop(columns="geometry")), check_exact=True
    )
    assert shapely.equals_exact(got.sites.geometry.to_numpy(), want.sites.geometry.to_numpy(), tolerance=0).all()
    pd.testing.assert_frame_equal(got.units, want.units, check_exact=True)
    assert got.summary().to_dict() == want.summary().to_dict()
    assert got.message() == want.message()


@pytest.mark.parametrize("town", ["karhula", "guixi"])
def test_siting_one_category_after_another_equals_the_plain_search(town, request):
    """The candidate coverage is searched only where the open units reach, from the sites they reach, and
    kept for the next category: every plan equals the plan from a plain search of every site, to the bit."""
    if town == "karhula":
        net, fac, units = (request.getfixturevalue(f) for f in ("karhula_walk", "karhula_fac", "karhula_units"))
        cats = ["bus_stop", "kindergarten", "sports", "convenience", "fitness", "park"]
        T, target = 6.0, 0.95
    else:
        net, fac, units = (request.getfixturevalue(f) for f in ("guixi_walk", "guixi_fac", "guixi_units"))
        cats = [c for c in fac["category"].value_counts().index[:4]] + ["kindergarten"]
        T, target = 10.0, 0.9
    cands = siting.default_candidates(net, units)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        plain = _plain_coverage(net, cands, units, threshold_min=T)
        reach = mg.access.reach(net, fac, categories=cats, max_time_min=T + 5)
        want = {c: _plan_from(net, fac, units, plain, category=c, threshold_min=T, target=target) for c in cats}
        assert sum(p.n_sites for p in want.values()) >= 2 * len(cats)  # the comparison is not vacuous
        for primed in (False, True):
            siting._COVERAGE_CACHE.clear()
            if primed:  # the whole matrix first, as the pipeline asks for it
                full = siting.coverage_matrix(net, cands, units, threshold_min=T)
                np.testing.assert_array_equal(full.toarray(), plain)
            for i, c in enumerate(cats):
                # the first questions search only their open units, the next ones the rest (read from the cache)
                got = siting.add_facilities(
                    net, fac, units, category=c, threshold_min=T, target=target, weight="area_m2",
                    reach=reach if i % 2 else None,
                )  # fmt: skip
                _assert_same_plan(got, want[c])
        # a cold search of one category alone, and a cached answer to another threshold is not reused
        siting._COVERAGE_CACHE.clear()
        _assert_same_plan(
            siting.add_facilities(net, fac, units, category=cats[0], threshold_min=T, target=target, weight="area_m2"),
            want[cats[0]],
        )
        plain_short = _plain_coverage(net, cands, units, threshold_min=T / 2)
        np.testing.assert_array_equal(siting.coverage_matrix(net, cands, units, threshold_min=T / 2).toarray(), plain_short)


@pytest.mark.parametrize("town", ["karhula", "guixi"])
def test_the_siting_step_reports_badly_attached_facilities_as_a_search_of_each_category_would(town, request):
    """The step reads how the facilities attach once for every category: the warnings are word for word
    those of ``Attachment.select([category]).warn()`` (rows numbered within the category)."""
    from mtown_geo.pipeline.steps import _warn_badly_attached

    net = request.getfixturevalue(f"{town}_walk")
    fac = request.getfixturevalue(f"{town}_fac")
    # without names the warnings name the facilities by their row within the category
    att, unnamed = mg.access.attach(net, fac), mg.access.attach(net, fac.assign(name=None))

    def said(call, *args):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call(*args)
        return [(w.category, str(w.message)) for w in caught], out

    diags: dict[str, pd.DataFrame | None] = {"unnamed": None, "named": None}
    n_warned = 0
    n_rows = 0
    for cat in sorted(fac["category"].unique()):
        for key, layer in (("unnamed", unnamed), ("named", att)):
            want, _ = said(layer.select([cat]).warn)
            got, diags[key] = said(_warn_badly_attached, layer, cat, diags[key])
            assert got == want
            n_rows += sum(":row " in m for _, m in want) if key == "unnamed" else 0
            n_warned += len(want) if key == "named" else 0
    assert n_warned > 0 and n_rows > 0  # some facility attaches badly: the comparison is not vacuous
