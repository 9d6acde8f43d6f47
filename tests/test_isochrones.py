"""Network service areas on the real Karhula walk network, checked against networkx.

The independent route: the walk network as a networkx graph in which each edge that
holds a facility access point is cut at that point, and a super-source joined to the
access points by their off-network legs. One Dijkstra search from the super-source
gives every node its time to the nearest facility; along an edge the time is
piecewise linear between those nodes, so the reachable part of every edge follows by
hand. The isochrones must match it.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import warnings
from collections.abc import Callable

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.ops
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mtown_geo as mg
from mtown_geo import isochrones

from .conftest import OSM_FILES, shared_path

WALK_M_PER_MIN = 4.0 * 1000.0 / 60.0
LIMIT_MIN = 15.0

# -- the independent route ---------------------------------------------------------------


class _Hand:
    """Times to the nearest of a set of attached facility points, by networkx."""

    def __init__(self, net: mg.Network, edge: np.ndarray, frac: np.ndarray, access_min: np.ndarray) -> None:
        assert not net.directed  # the walk network: t(u->v) == t(v->u)
        self.net = net
        e_u = net.edges["u"].to_numpy()
        e_v = net.edges["v"].to_numpy()
        e_t = net.edges["time_min"].to_numpy()
        cuts: dict[int, list[tuple[float, int]]] = {}
        for i, (e, f) in enumerate(zip(edge, frac, strict=True)):
            cuts.setdefault(int(e), []).append((float(f), i))
        G = nx.Graph()
        G.add_nodes_from(range(net.n_nodes))

        def add(a: object, b: object, w: float) -> None:
            if not G.has_edge(a, b) or G[a][b]["w"] > w:
                G.add_edge(a, b, w=w)

        self.chain: dict[int, tuple[list[float], list[object]]] = {}
        for e in range(net.n_edges):
            u, v, t = int(e_u[e]), int(e_v[e]), float(e_t[e])
            pts = sorted(cuts.get(e, []))
            fr = [0.0] + [p[0] for p in pts] + [1.0]
            nd: list[object] = [u] + [("F", p[1]) for p in pts] + [v]
            for k in range(len(fr) - 1):
                add(nd[k], nd[k + 1], (fr[k + 1] - fr[k]) * t)
            self.chain[e] = (fr, nd)
        for i, a in enumerate(access_min):
            G.add_edge("S", ("F", i), w=float(a))
        dist = nx.single_source_dijkstra_path_length(G, "S", weight="w")
        self.T = {k: d for k, d in dist.items() if k != "S"}
        self.t = e_t

    def time(self, e: int, s: float) -> float:
        fr, nd = self.chain[e]
        k = min(max(int(np.searchsorted(fr, s, side="right")) - 1, 0), len(fr) - 2)
        t = self.t[e]
        return min(self.T.get(nd[k], np.inf) + (s - fr[k]) * t, self.T.get(nd[k + 1], np.inf) + (fr[k + 1] - s) * t)

    def intervals(self, theta: float) -> dict[int, list[tuple[float, float]]]:
        """Per edge, the merged reachable intervals (fractions from u) within ``theta``."""
        out: dict[int, list[tuple[float, float]]] = {}
        for e, (fr, nd) in self.chain.items():
            t = self.t[e]
            ivs = []
            for k in range(len(fr) - 1):
                a, b = fr[k], fr[k + 1]
                ta, tb = self.T.get(nd[k], np.inf), self.T.get(nd[k + 1], np.inf)
                if ta <= theta:
                    ivs.append((a, a + (b - a if t == 0 else min(b - a, (theta - ta) / t))))
                if tb <= theta:
                    ivs.append((b - (b - a if t == 0 else min(b - a, (theta - tb) / t)), b))
            ivs = sorted((x, y) for x, y in ivs if y > x)
            merged: list[tuple[float, float]] = []
            for x, y in ivs:
                if merged and x <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], y))
                else:
                    merged.append((x, y))
            if merged:
                out[e] = merged
        return out

    def skeleton(self, theta: float) -> shapely.Geometry:
        geoms = self.net.edges.geometry.values
        parts = [
            shapely.ops.substring(geoms[e], x, y, normalized=True) for e, ivs in self.intervals(theta).items() for x, y in ivs
        ]
        return shapely.multilinestrings(parts) if parts else shapely.MultiLineString()


def _hand_for(reach: mg.access.Reach, category: str, owner: int | None = None) -> _Hand:
    """The networkx route for the facilities of one category (or one facility) of a Reach."""
    snaps = reach.point_snaps
    own = reach.points["owner"].to_numpy()
    cat = reach.facilities["category"].to_numpy()[own]
    sel = snaps["ok"].to_numpy() & (cat == category)
    if owner is not None:
        sel &= own == owner
    return _Hand(
        reach.network,
        snaps["edge"].to_numpy()[sel],
        snaps["frac"].to_numpy()[sel],
        snaps["access_min"].to_numpy()[sel],
    )


# -- fixtures ------------------------------------------------------------------------------


def _quiet(fn: Callable[[], object]) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        return fn()


@pytest.fixture(scope="module")
def karhula_fac(demo_osm):
    return mg.facilities.from_osm(demo_osm)


@pytest.fixture(scope="module")
def karhula_reach(karhula_walk, karhula_fac):
    return _quiet(lambda: mg.access.reach(karhula_walk, karhula_fac, max_time_min=LIMIT_MIN))


@pytest.fixture(scope="module")
def long_edges(karhula_walk):
    net = karhula_walk
    main = net.component[net.edges["u"].to_numpy()] == 0
    return np.flatnonzero(main & (net.edges["length_m"].to_numpy() > 40.0))


def _point_on(net: mg.Network, e: int, f: float, off_m: float) -> shapely.Point:
    (x0, y0), (x1, y1) = net.edges.geometry.iloc[e].coords
    dx, dy = x1 - x0, y1 - y0
    n = np.hypot(dx, dy)
    return shapely.Point(x0 + f * dx - dy / n * off_m, y0 + f * dy + dx / n * off_m)


def _lines_by_edge(lines: gpd.GeoDataFrame) -> dict[int, list[tuple[float, float]]]:
    out: dict[int, list[tuple[float, float]]] = {}
    for e, s0, s1 in zip(lines["edge"], lines["start_frac"], lines["end_frac"], strict=True):
        out.setdefault(int(e), []).append((float(s0), float(s1)))
    return {e: sorted(v) for e, v in out.items()}


# -- properties on random facility sets -----------------------------------------------------

facility_sets = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10_000),  # which long edge
        st.floats(min_value=0.1, max_value=0.9),  # where along it
        st.floats(min_value=-6.0, max_value=6.0),  # metres off the street (access leg)
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facs=facility_sets, theta=st.floats(min_value=0.3, max_value=LIMIT_MIN))
def test_reachable_lines_are_exactly_the_reachable_network(karhula_walk, long_edges, facs, theta):
    """Every reachable point of every edge is in the lines, and nothing else; cuts sit at exactly the threshold."""
    net = karhula_walk
    edges = np.array([long_edges[i % len(long_edges)] for i, _, _ in facs])
    pts = [_point_on(net, int(e), f, off) for e, (_, f, off) in zip(edges, facs, strict=True)]
    layer = gpd.GeoDataFrame({"category": ["x"] * len(pts)}, geometry=pts, crs=net.crs)
    snapped = mg.access.snap(net, layer)
    assume((snapped["edge"].to_numpy() == edges).all())  # the point attaches to the edge it was put on
    reach = mg.access.reach(net, layer, max_time_min=LIMIT_MIN)
    lines = isochrones.reachable_lines(reach, thresholds_min=theta)

    fr = np.array([f for _, f, _ in facs])
    acc = np.abs([off for _, _, off in facs]) / WALK_M_PER_MIN
    hand = _Hand(net, edges, fr, acc)
    want = hand.intervals(theta)
    got = _lines_by_edge(lines)
    assert set(got) == set(want)
    for e, ivs in want.items():
        assert len(got[e]) == len(ivs), e
        np.testing.assert_allclose(np.array(got[e]), np.array(ivs), atol=1e-9)
    # a cut inside an edge lies at exactly the threshold, by the networkx times
    for e, s0, s1 in zip(lines["edge"], lines["start_frac"], lines["end_frac"], strict=True):
        if s0 > 0:
            assert hand.time(int(e), s0) == pytest.approx(theta, abs=1e-9)
        if s1 < 1:
            assert hand.time(int(e), s1) == pytest.approx(theta, abs=1e-9)
    # lengths and geometry agree with the fractions
    length = net.edges["length_m"].to_numpy()[lines["edge"].to_numpy()]
    np.testing.assert_allclose(lines["length_m"], (lines["end_frac"] - lines["start_frac"]) * length)
    assert (lines["threshold_min"] == theta).all()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    facs=facility_sets,
    theta=st.floats(min_value=1.0, max_value=LIMIT_MIN),
    buffer_m=st.sampled_from([20.0, 50.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_service_area_is_the_reachable_network_widened_and_nothing_more(karhula_walk, long_edges, facs, theta, buffer_m, seed):
    """Inside the area ⟺ within buffer_m of a reachable point (networkx): no hull, holes kept, every reachable edge in."""
    net = karhula_walk
    edges = np.array([long_edges[i % len(long_edges)] for i, _, _ in facs])
    pts = [_point_on(net, int(e), f, off) for e, (_, f, off) in zip(edges, facs, strict=True)]
    layer = gpd.GeoDataFrame({"category": ["x"] * len(pts)}, geometry=pts, crs=net.crs)
    reach = mg.access.reach(net, layer, max_time_min=LIMIT_MIN)
    area = isochrones.service_areas(reach, thresholds_min=theta, buffer_m=buffer_m)
    assert len(area) == 1
    poly = area.geometry.iloc[0]
    assert poly.is_valid
    assert area["area_m2"].iloc[0] == pytest.approx(poly.area)

    hand = _hand_for(reach, "x")
    skel = hand.skeleton(theta)
    reached = hand.intervals(theta)
    # every edge reachable along its whole length lies inside
    full = [e for e, ivs in reached.items() if ivs == [(0.0, 1.0)]]
    if full:
        assert shapely.covers(poly, net.edges.geometry.values[full]).all()
    # random points: inside exactly when within buffer_m of the reachable network (± the arc chords)
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.bounds(poly)
    xy = rng.uniform([x0 - 100, y0 - 100], [x1 + 100, y1 + 100], size=(3000, 2))
    p = shapely.points(xy)
    d = shapely.distance(skel, p)
    inside = shapely.contains_xy(poly, xy[:, 0], xy[:, 1])
    assert inside[d < buffer_m - 0.5].all()
    assert not inside[d > buffer_m + 0.5].any()
    # whole edges that no one reaches, far from what is reached, stay out
    unreached = ~np.isin(np.arange(net.n_edges), list(reached))
    far = shapely.distance(skel, net.edges.geometry.values) > buffer_m + 1.0
    assert not shapely.intersects(poly, net.edges.geometry.values[unreached & far]).any()


# -- a hand calculation ---------------------------------------------------------------------


def test_partial_edge_against_a_hand_calculation(karhula_walk):
    """A facility 10 m off the middle of a long street: the reachable stretch and its area by hand."""
    net = karhula_walk
    length = net.edges["length_m"].to_numpy()
    main = net.component[net.edges["u"].to_numpy()] == 0
    e = int(np.flatnonzero(main)[np.argmax(length[main])])
    L, t = length[e], net.edges["time_min"].iloc[e]
    assert L > 300  # the longest street of Karhula: 371 m
    off = 10.0
    fac = gpd.GeoDataFrame({"category": ["x"]}, geometry=[_point_on(net, e, 0.5, off)], crs=net.crs)
    reach = mg.access.reach(net, fac, max_time_min=LIMIT_MIN)
    acc = off / WALK_M_PER_MIN
    theta = 1.5  # min: 0.15 min to the street, then 1.35 min = 90 m either way, short of both ends
    assert (theta - acc) * WALK_M_PER_MIN < 0.5 * L
    lines = isochrones.reachable_lines(reach, thresholds_min=theta)
    assert list(lines["edge"]) == [e]
    reach_m = (theta - acc) * WALK_M_PER_MIN  # 90 m
    assert lines["length_m"].iloc[0] == pytest.approx(2 * reach_m, rel=1e-9)
    assert lines["start_frac"].iloc[0] == pytest.approx(0.5 - reach_m / L, rel=1e-9)
    assert lines["end_frac"].iloc[0] == pytest.approx(0.5 + reach_m / L, rel=1e-9)
    (x0, y0), (x1, y1) = net.edges.geometry.iloc[e].coords
    ends = np.array(lines.geometry.iloc[0].coords)
    unit = np.array([x1 - x0, y1 - y0]) / np.hypot(x1 - x0, y1 - y0)
    mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    geom_L = np.hypot(x1 - x0, y1 - y0)  # projected length (the fractions are of it)
    np.testing.assert_allclose(ends, [mid - unit * reach_m / L * geom_L, mid + unit * reach_m / L * geom_L], atol=1e-6)
    # the area: a stadium of half-width r around that stretch; GEOS draws each round cap
    # with 16 chords, so its area is 2 r l + (32 / 2) r² sin(2π / 32)
    r = 50.0
    seg = reach_m * 2 / L * geom_L
    area = isochrones.service_areas(reach, thresholds_min=theta, buffer_m=r)["area_m2"].iloc[0]
    assert area == pytest.approx(2 * r * seg + 16 * r**2 * np.sin(2 * np.pi / 32), rel=1e-9)

    # a larger threshold passes the nearer end: the next streets are reached for what is left
    theta2 = acc + 0.5 * t + 0.6
    lines2 = isochrones.reachable_lines(reach, thresholds_min=theta2)
    hand = _hand_for(reach, "x")
    for row in lines2.itertuples():
        if row.start_frac > 0:
            assert hand.time(row.edge, row.start_frac) == pytest.approx(theta2, abs=1e-9)
        if row.end_frac < 1:
            assert hand.time(row.edge, row.end_frac) == pytest.approx(theta2, abs=1e-9)
    # in all 0.6 min of walking beyond each end node is spread over the streets leaving it
    assert lines2["length_m"].sum() > L


# -- the real Karhula facilities ---------------------------------------------------------------


def test_areas_grow_with_the_threshold_and_nest(karhula_reach):
    areas = isochrones.service_areas(karhula_reach, thresholds_min=[2, 5, 10, 15])
    assert list(areas.columns) == ["category", "from_min", "threshold_min", "area_m2", "geometry"]
    assert areas.crs.equals(karhula_reach.network.crs)
    for cat, g in areas.groupby("category", sort=False):
        g = g.sort_values("threshold_min")
        assert (np.diff(g["area_m2"].to_numpy()) >= -1e-6).all(), cat
        geoms = g.geometry.to_numpy()
        for a, b in itertools.pairwise(geoms):
            assert shapely.difference(a, b).area < 1e-6 * max(b.area, 1.0), cat
    # a town-wide category grows strictly from 2 to 10 minutes
    bus = areas[areas["category"] == "bus_stop"]["area_m2"].to_numpy()
    assert bus[0] < bus[1] < bus[2]


def test_corridor_areas_match_the_networkx_skeleton(karhula_reach):
    """The corridor sketch (buffer_m): area = buffer of the networkx-reachable lines."""
    areas = isochrones.service_areas(karhula_reach, thresholds_min=[5, 12], buffer_m=50.0)
    for row in areas.itertuples():
        skel = _hand_for(karhula_reach, row.category).skeleton(row.threshold_min)
        want = shapely.union_all(shapely.buffer(shapely.get_parts(skel), 50.0))
        diff = shapely.symmetric_difference(want, row.geometry).area
        assert diff <= 5e-4 * want.area + 5.0, (row.category, row.threshold_min, diff)


def test_corridor_areas_keep_holes(karhula_reach):
    areas = isochrones.service_areas(karhula_reach, thresholds_min=15, categories=["bus_stop"], buffer_m=50.0)
    poly = areas.geometry.iloc[0]
    holes = [h for p in shapely.get_parts(poly) for h in p.interiors]
    assert len(holes) > 0  # blocks more than 50 m deep are not filled in
    # ...and a hole is land farther than 50 m from every reachable street
    skel = _hand_for(karhula_reach, "bus_stop").skeleton(15)
    big = max(holes, key=lambda h: shapely.Polygon(h).area)
    inner = shapely.Polygon(big).representative_point()
    assert shapely.distance(skel, inner) > 50.0 - 0.5


def test_split_pieces_partition_the_category_area(karhula_reach):
    thresholds = [5, 10]
    cat = isochrones.service_areas(karhula_reach, thresholds_min=thresholds, categories=["bus_stop", "sports"])
    split = isochrones.service_areas(karhula_reach, thresholds_min=thresholds, by="split", categories=["bus_stop", "sports"])
    assert {"facility", "name"} <= set(split.columns)
    for row in cat.itertuples():
        pieces = split[(split["category"] == row.category) & (split["threshold_min"] == row.threshold_min)]
        # every facility of the category has a row, its position in the facility layer
        owners = np.flatnonzero(karhula_reach.facilities["category"].to_numpy() == row.category)
        assert sorted(pieces["facility"]) == list(owners)
        assert pieces["area_m2"].sum() == pytest.approx(row.area_m2, rel=1e-9)
        union = shapely.union_all(pieces.geometry.to_numpy())
        assert shapely.symmetric_difference(union, row.geometry).area < 1e-6 * row.area_m2
        for a, b in itertools.combinations(pieces.geometry.to_numpy(), 2):
            assert shapely.intersection(a, b).area < 1e-6 * row.area_m2


def test_split_follows_the_nearest_facility(karhula_reach):
    """Points along the reachable streets lie in the piece of their nearest facility (an independent Reach.at call)."""
    theta = 10.0
    split = isochrones.service_areas(karhula_reach, thresholds_min=theta, by="split", categories=["bus_stop"])
    lines = isochrones.reachable_lines(karhula_reach, thresholds_min=theta, categories=["bus_stop"])
    rng = np.random.default_rng(7)
    rows = rng.integers(0, len(lines), 1500)
    pts = shapely.line_interpolate_point(lines.geometry.to_numpy()[rows], rng.uniform(0, 1, len(rows)), normalized=True)
    near = _quiet(lambda: karhula_reach.at(gpd.GeoSeries(pts, crs=lines.crs), nearest=True)["bus_stop"].to_numpy())
    tree = shapely.STRtree(split.geometry.to_numpy())
    which = np.full(len(pts), -1)
    i_pt, i_poly = tree.query(pts, predicate="within")
    which[i_pt] = split["facility"].to_numpy()[i_poly]
    agree = np.mean(which == near)
    assert agree > 0.97, agree  # only points within a few metres of a catchment border may differ


@pytest.mark.parametrize("buffer_m", [None, 50.0])
def test_facility_areas_match_one_search_per_facility(karhula_reach, buffer_m):
    """by="facility": each area is that facility's alone (networkx for the corridor); together they make the category's."""
    thresholds = [4, 8]
    kw = {"thresholds_min": thresholds, "categories": ["bus_stop"], "buffer_m": buffer_m}
    fac = isochrones.service_areas(karhula_reach, by="facility", **kw)
    cat = isochrones.service_areas(karhula_reach, **kw)
    owners = np.flatnonzero(karhula_reach.facilities["category"].to_numpy() == "bus_stop")
    assert len(fac) == len(owners) * len(thresholds)
    for row in fac[fac["facility"].isin(owners[:8])].itertuples():
        if buffer_m is None:
            break  # the engine's rule for one facility is checked against Reach.at below
        skel = _hand_for(karhula_reach, "bus_stop", owner=row.facility).skeleton(row.threshold_min)
        want = shapely.union_all(shapely.buffer(shapely.get_parts(skel), 50.0)) if not skel.is_empty else shapely.Polygon()
        diff = shapely.symmetric_difference(want, row.geometry).area
        assert diff <= 5e-4 * want.area + 5.0, (row.facility, row.threshold_min, diff)
    for t in thresholds:
        union = shapely.union_all(fac[fac["threshold_min"] == t].geometry.to_numpy())
        disk = cat[cat["threshold_min"] == t].geometry.iloc[0]
        # the engine's rule interpolates the band's width between street points 10 m apart: the
        # widest of several facilities' bands and the band of the nearest differ by a sliver there
        tol = 1e-5 if buffer_m is not None else 5e-4
        assert shapely.symmetric_difference(union, disk).area < tol * disk.area
    # neighbouring stops share land: the facility areas overlap
    t8 = fac[fac["threshold_min"] == 8]
    assert t8["area_m2"].sum() > cat[cat["threshold_min"] == 8]["area_m2"].iloc[0]


@pytest.mark.parametrize("by", ["category", "facility", "split"])
def test_rings_do_not_overlap_and_add_up(karhula_reach, by):
    thresholds = [5, 10, 15]
    kw = {"thresholds_min": thresholds, "by": by, "categories": ["kindergarten", "convenience"]}
    disks = isochrones.service_areas(karhula_reach, **kw)
    rings = isochrones.service_areas(karhula_reach, rings=True, **kw)
    assert list(rings["from_min"].unique()) == [0.0, 5.0, 10.0]
    keys = ["category"] + (["facility"] if by != "category" else [])
    for key, g in rings.groupby(keys):
        key = key if isinstance(key, tuple) else (key,)
        geoms = g.sort_values("threshold_min").geometry.to_numpy()
        for a, b in itertools.combinations(geoms, 2):
            assert shapely.intersection(a, b).area < 1e-6 * max(sum(x.area for x in geoms), 1.0), key
        outer = disks.set_index([*keys, "threshold_min"]).loc[(*key, 15.0), "geometry"]
        assert shapely.symmetric_difference(shapely.union_all(geoms), outer).area < 1e-6 * max(outer.area, 1.0)
        assert g["area_m2"].sum() == pytest.approx(outer.area, rel=1e-6, abs=1e-6)


def test_category_without_facilities_gives_an_empty_area(karhula_walk, karhula_fac):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        warnings.simplefilter("ignore", mg.EmptyCategoryWarning)
        reach = mg.access.reach(karhula_walk, karhula_fac, categories=["kindergarten", "hospital"], max_time_min=10)
    areas = isochrones.service_areas(reach, thresholds_min=[5, 10])
    hosp = areas[areas["category"] == "hospital"]
    assert len(hosp) == 2
    assert hosp.geometry.is_empty.all()
    assert (hosp["area_m2"] == 0).all()
    assert (areas[areas["category"] == "kindergarten"]["area_m2"] > 0).all()


# -- the engine's rule: inside the area exactly when the engine counts a place as covered ---------


def _disagreement(reach: mg.access.Reach, areas: gpd.GeoDataFrame, *, spacing_m: float = 20.0) -> pd.DataFrame:
    """Per area: grid points over the network's extent covered (Reach.at <= threshold) or inside, and those where the two differ."""
    x0, y0, x1, y1 = reach.network.edges.total_bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, spacing_m) + 3.3, np.arange(y0, y1, spacing_m) + 7.1)
    x, y = xs.ravel(), ys.ravel()
    times = _quiet(lambda: reach.at(gpd.GeoSeries(shapely.points(x, y), crs=reach.network.crs)))
    rows = []
    for row in areas.itertuples():
        covered = times[row.category].to_numpy() <= row.threshold_min
        inside = shapely.contains_xy(row.geometry, x, y)
        rows.append((row.category, row.threshold_min, int((covered | inside).sum()), int((covered != inside).sum())))
    return pd.DataFrame(rows, columns=["category", "threshold_min", "either", "disagree"])


@pytest.mark.parametrize(
    "place", ["demo", *(pytest.param(p, marks=pytest.mark.slow) for p in ("guixi_pbf", "longgang", "haidian"))]
)
def test_a_place_is_inside_the_area_exactly_when_the_engine_counts_it_covered(place):
    """On a 20 m grid over real extracts: inside the service area ⟺ Reach.at(point) <= threshold.

    The independent route is the engine itself, point by point (snap to the nearest edge,
    the access leg, the network times). What may differ is the drawing: the outline is
    built from times every 10 m along the streets and the nearest street from a Voronoi
    diagram of points that far apart, and round ends are drawn as chords, so grid points
    within a metre or two of the outline may fall on the wrong side.
    """
    path = mg.demo_osm_path("karhula") if place == "demo" else shared_path(OSM_FILES[place])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(path, mode="walk")
    fac = mg.facilities.from_osm(path)
    reach = _quiet(lambda: mg.access.reach(net, fac, max_time_min=LIMIT_MIN))
    cats = [c for c in reach.categories if (fac["category"] == c).any()]
    areas = isochrones.service_areas(reach, thresholds_min=[5, LIMIT_MIN], categories=cats)
    d = _disagreement(reach, areas)
    assert d["either"].sum() > 10_000
    big = d[d["either"] >= 300]
    assert len(big) >= 4
    share = big["disagree"] / big["either"]
    assert share.max() <= 0.015, d.assign(share=d["disagree"] / d["either"]).sort_values("disagree").tail()
    assert d["disagree"].sum() / d["either"].sum() <= 0.005
    # the fixed 50 m corridor disagrees with the coverage it should illustrate
    corridor = _disagreement(reach, isochrones.service_areas(reach, thresholds_min=LIMIT_MIN, categories=cats, buffer_m=50.0))
    assert corridor["disagree"].sum() / corridor["either"].sum() > 0.2


def test_one_facility_area_is_where_that_facility_is_reached(karhula_reach, karhula_fac):
    """by="facility" against the engine searching from that facility alone, on a grid."""
    fac = isochrones.service_areas(karhula_reach, thresholds_min=[5, 10], by="facility", categories=["kindergarten", "sports"])
    for owner in fac["facility"].unique()[:4]:
        one = karhula_reach.facilities.iloc[[owner]]
        alone = _quiet(lambda one=one: mg.access.reach(karhula_reach.network, one, max_time_min=10))
        rows = fac[fac["facility"] == owner]
        d = _disagreement(alone, rows)
        assert d["either"].sum() > 500
        assert d["disagree"].sum() / d["either"].sum() <= 0.01, (owner, d)


def test_band_around_a_facility_on_a_long_street_by_hand(karhula_walk):
    """A facility 10 m off the middle of the longest street: the area is the diamond |x| + |y| <= (θ − access)·v."""
    net = karhula_walk
    length = net.edges["length_m"].to_numpy()
    main = net.component[net.edges["u"].to_numpy()] == 0
    e = int(np.flatnonzero(main)[np.argmax(length[main])])
    off = 10.0
    fac = gpd.GeoDataFrame({"category": ["x"]}, geometry=[_point_on(net, e, 0.5, off)], crs=net.crs)
    reach = mg.access.reach(net, fac, max_time_min=LIMIT_MIN)
    assert net.edges["speed_kmh"].iloc[e] == pytest.approx(4.0)  # walked at the access speed: |x| + |y| is the rule
    acc = off / WALK_M_PER_MIN
    theta = acc + 0.6  # 40 m of walking left at the street
    r0 = (theta - acc) * WALK_M_PER_MIN
    area = isochrones.service_areas(reach, thresholds_min=theta)
    geom = area.geometry.iloc[0]
    foot = _point_on(net, e, 0.5, 0.0)
    diamond = shapely.Polygon(
        [_point_on(net, e, 0.5 + d / length[e], o) for d, o in ((-r0, 0.0), (0.0, r0), (r0, 0.0), (0.0, -r0))]
    )
    # no other street is near enough to take any of that land
    others = np.delete(np.asarray(net.edges.geometry.values), e)
    assert shapely.distance(foot, others).min() > 2 * r0
    # along the street the fractions are of the ground length (the edge's time), across it the
    # access leg is measured in the map's metres: the diamond is stretched by the projection's scale
    geom_L = net.edges.geometry.iloc[e].length
    assert area["area_m2"].iloc[0] == pytest.approx(2 * r0**2 * geom_L / length[e], rel=1e-6)
    assert shapely.symmetric_difference(geom, diamond).area < 1e-6 * diamond.area


def test_snap_distance_caps_the_band(karhula_reach):
    """With a smaller snap distance, no place farther than it from every street is inside."""
    areas = isochrones.service_areas(karhula_reach, thresholds_min=LIMIT_MIN, categories=["bus_stop"], max_snap_dist_m=60.0)
    geom = areas.geometry.iloc[0]
    streets = shapely.union_all(np.asarray(karhula_reach.network.edges.geometry.values))
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = shapely.bounds(geom)
    pts = shapely.points(rng.uniform(x0, x1, 4000), rng.uniform(y0, y1, 4000))
    inside = shapely.contains(geom, pts)
    assert inside.sum() > 500
    assert shapely.distance(pts[inside], streets).max() <= 60.0 + 1e-6
    wide = isochrones.service_areas(karhula_reach, thresholds_min=LIMIT_MIN, categories=["bus_stop"])
    assert wide["area_m2"].iloc[0] > areas["area_m2"].iloc[0]
    with pytest.raises(mg.InputError, match="max_snap_dist_m"):
        isochrones.service_areas(karhula_reach, thresholds_min=5, max_snap_dist_m=0)


# -- bad input ----------------------------------------------------------------------------------


def test_bad_arguments_are_clear_errors(karhula_reach):
    with pytest.raises(mg.InputError, match="search limit"):
        isochrones.service_areas(karhula_reach, thresholds_min=[5, 30])
    with pytest.raises(mg.InputError, match="by must be one of"):
        isochrones.service_areas(karhula_reach, thresholds_min=5, by="nearest")  # type: ignore[arg-type]
    with pytest.raises(mg.InputError, match="buffer_m"):
        isochrones.service_areas(karhula_reach, thresholds_min=5, buffer_m=0)
    with pytest.raises(mg.InputError, match="positive"):
        isochrones.service_areas(karhula_reach, thresholds_min=[-5, 5])
    with pytest.raises(mg.InputError, match="repeat"):
        isochrones.reachable_lines(karhula_reach, thresholds_min=[5, 5])
    with pytest.raises(mg.InputError, match="unknown categories"):
        isochrones.service_areas(karhula_reach, thresholds_min=5, categories=["hospital"])
    with pytest.raises(mg.InputError, match="expected a Reach"):
        isochrones.service_areas(pd.DataFrame(), thresholds_min=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # InputError is a ValueError too
        isochrones.service_areas(karhula_reach, thresholds_min="15")  # type: ignore[arg-type]


def test_inputs_are_not_changed(karhula_reach):
    before = karhula_reach.node_min.copy()
    edges_before = karhula_reach.network.edges.copy()
    isochrones.service_areas(karhula_reach, thresholds_min=[5], by="split", categories=["sports"])
    np.testing.assert_array_equal(karhula_reach.node_min, before)
    pd.testing.assert_frame_equal(karhula_reach.network.edges, edges_before)


def test_street_cells_are_the_voronoi_diagram_cut_to_its_frame(karhula_reach):
    """The nearest-street land: the cells inside the frame untouched, the others cut; all of them tile the frame."""
    margin_m = 60.0
    st_ = isochrones._streets(karhula_reach, 60.0, margin_m=margin_m)
    lo = st_.sites.min(axis=0) - margin_m - 10.0
    hi = st_.sites.max(axis=0) + margin_m + 10.0
    frame = shapely.box(lo[0], lo[1], hi[0], hi[1])
    raw = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(st_.sites), extend_to=frame, ordered=True))
    cells = st_.cells_by_site()
    assert len(cells) == len(raw) == len(st_.sites)
    # each cell is the overlay of the diagram's cell with the frame (computed here the general way)
    assert np.allclose(shapely.area(cells), shapely.area(shapely.intersection(raw, frame)), rtol=0, atol=1e-6)
    # a cell that lies within the frame is the diagram's own, vertex for vertex
    within = shapely.within(raw, frame)
    assert within.sum() > 0.9 * len(raw)
    assert shapely.equals_exact(cells[within], raw[within], tolerance=0).all()
    # together they tile the frame: no gap, no overlap
    assert shapely.area(cells).sum() == pytest.approx(frame.area, rel=1e-9)
    assert shapely.coverage_union_all(cells).area == pytest.approx(frame.area, rel=1e-9)


# -- the fast drawing against the straightforward one --------------------------------------


def _partial_bands_one_by_one(st_: isochrones._Streets, r: np.ndarray, segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bands of partly reached segments drawn one run at a time."""
    polys: list[shapely.Polygon] = []
    owner: list[int] = []
    alpha = isochrones._ALPHA
    cos, sin = np.cos(alpha)[:, None], np.sin(alpha)[:, None]
    for i in segs:
        lo, hi = int(st_.smp_start[i]), int(st_.smp_start[i + 1])
        rr = r[lo:hi]
        uu = st_.smp_u[lo:hi]
        step = np.diff(np.concatenate([[0], (rr > 0).astype(np.int8), [0]]))
        A, B = st_.a[i], st_.b[i]
        D = B - A
        tang = D / np.hypot(*D)
        nrm = np.array([-tang[1], tang[0]])
        last = len(rr) - 1
        for j0, j1 in zip(np.flatnonzero(step == 1), np.flatnonzero(step == -1) - 1, strict=True):
            us = uu[j0 : j1 + 1]
            rs = rr[j0 : j1 + 1]
            if j0 > 0:
                c = uu[j0] - (uu[j0] - uu[j0 - 1]) * rr[j0] / (rr[j0] - rr[j0 - 1])
                us, rs = np.concatenate([[c], us]), np.concatenate([[0.0], rs])
            if j1 < last:
                c = uu[j1] + (uu[j1 + 1] - uu[j1]) * rr[j1] / (rr[j1] - rr[j1 + 1])
                us, rs = np.concatenate([us, [c]]), np.concatenate([rs, [0.0]])
            centre = A + us[:, None] * D
            ring = [centre + rs[:, None] * nrm]
            if j1 == last:
                ring.append(B + rs[-1] * (cos * nrm + sin * tang))
            ring.append((centre - rs[:, None] * nrm)[::-1])
            if j0 == 0:
                ring.append(A - rs[0] * (cos * nrm + sin * tang))
            polys.append(shapely.Polygon(np.concatenate(ring)))
            owner.append(int(st_.seg_edge[i]))
    return np.array(polys, dtype=object), np.array(owner, dtype=np.int64)


def _area_by_every_band(st_: isochrones._Streets, r: np.ndarray) -> shapely.Geometry:
    """An area the straightforward way: every band drawn and tested on its polygon, each edge's land merged on its own."""
    pos = r > 0
    n_smp = np.diff(st_.smp_start)
    n_pos = np.bincount(st_.smp_seg[pos], minlength=len(n_smp))
    full = np.flatnonzero((n_pos == n_smp) & (n_smp > 0))
    part = np.flatnonzero((n_pos > 0) & (n_pos < n_smp))
    p_polys, p_owner = _partial_bands_one_by_one(st_, r, part)
    got_polys, got_owner = isochrones._partial_bands(st_, r, part)
    assert shapely.to_wkb(got_polys).tolist() == shapely.to_wkb(p_polys).tolist()
    np.testing.assert_array_equal(got_owner, p_owner)
    polys = np.concatenate([isochrones._full_bands(st_, r, full), p_polys])
    edges = np.concatenate([st_.seg_edge[full], p_owner]).astype(np.int64)
    if len(polys) == 0:
        return shapely.Polygon()
    cells = st_.cells_by_site()
    owner = np.empty(len(cells), dtype=np.int64)
    owner[st_._cell_edge_order] = np.repeat(np.arange(len(st_._cell_bounds) - 1), np.diff(st_._cell_bounds))
    land = np.array(
        [shapely.coverage_union_all(cells[owner == e]) if (owner == e).any() else shapely.Polygon() for e in edges], dtype=object
    )
    inside = np.arange(len(polys)) < len(full)
    inside &= st_.single_segment_edges()[edges]
    inside[inside] = shapely.contains(polys[inside], land[inside])
    cut = isochrones._polygonal(shapely.intersection(polys[~inside], land[~inside]))
    merged = shapely.coverage_union_all(land[inside]) if inside.any() else shapely.Polygon()
    return isochrones._polygonal(np.array([shapely.union_all(np.concatenate([[merged], cut]))], dtype=object))[0]


@pytest.mark.parametrize("cap_m", [300.0, 60.0])
def test_areas_are_those_of_every_band_drawn_and_tested(karhula_reach, cap_m):
    """The areas skip the bands that hold their land beyond doubt (read from distances), draw no band
    on an edge without land, draw the bands of all segments at once and merge the lands in a few calls:
    the polygons are the same, vertex for vertex, as when every band is drawn one by one and tested on
    its polygon and every land merged on its own."""
    st_ = isochrones._streets(karhula_reach, cap_m, margin_m=cap_m)
    times = karhula_reach.network_times(st_.seg_edge[st_.smp_seg], st_.smp_frac)
    speed = karhula_reach.network.access_speed_kmh * 1000.0 / 60.0
    far = st_.reach_m(np.arange(karhula_reach.network.n_edges))
    checked = 0
    for k, name in enumerate(karhula_reach.categories):
        for theta in (3.0, 10.0, 15.0):
            with np.errstate(invalid="ignore"):
                r = np.minimum(cap_m, (theta - times[k]) * speed)
            r = np.where(np.isfinite(r), r, -1.0)
            got = isochrones._area(st_, r)
            want = _area_by_every_band(st_, r)
            assert shapely.to_wkb(got) == shapely.to_wkb(want), (name, theta)
            checked += not want.is_empty
    assert checked >= 20
    # both ways of reading a band occur: lands held beyond doubt, and lands reaching past the shortest radius
    single = st_.single_segment_edges() & np.isfinite(far)
    assert (far[single] < 0.9 * cap_m).any() and (far[single] > cap_m).any()


def test_street_land_and_its_reach_by_hand(karhula_reach):
    """Each edge's land is the union of its cells, and its reach the farthest of its land from the street."""
    st_ = isochrones._streets(karhula_reach, 300.0, margin_m=300.0)
    cells = st_.cells_by_site()
    n_edges = karhula_reach.network.n_edges
    owner = np.empty(len(cells), dtype=np.int64)
    owner[st_._cell_edge_order] = np.repeat(np.arange(n_edges), np.diff(st_._cell_bounds))
    edges = np.arange(n_edges)[::-1]  # any order, each once
    land = st_.land(edges)
    for e, got in zip(edges[::97], land[::97], strict=True):
        mine = cells[owner == e]
        want = shapely.coverage_union_all(mine) if len(mine) else shapely.Polygon()
        assert shapely.to_wkb(got) == shapely.to_wkb(want)
    np.testing.assert_array_equal(shapely.to_wkb(st_.land(edges[:50])), shapely.to_wkb(land[:50]))  # kept, not made again
    far = st_.reach_m(np.arange(karhula_reach.network.n_edges))
    single = st_.single_segment_edges()
    for e in np.flatnonzero(single)[::53]:
        mine = cells[owner == e]
        if not len(mine):
            assert np.isnan(far[e])
            continue
        seg = shapely.linestrings(np.array([st_.a[st_.seg_edge == e][0], st_.b[st_.seg_edge == e][0]]))
        want = shapely.distance(shapely.points(shapely.get_coordinates(land[n_edges - 1 - e])), seg).max()
        assert far[e] == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert np.isinf(far[~single]).all() and not np.isnan(far[single & (np.diff(st_._cell_bounds) > 0)]).any()
    # asked for in pieces, in any order, the same values
    again = isochrones._streets(karhula_reach, 300.0, margin_m=300.0)
    some = edges[::7]
    np.testing.assert_array_equal(again.reach_m(some), far[some])
    np.testing.assert_array_equal(again.reach_m(edges), far[edges])


# -- the collector paused while drawing ----------------------------------------------------


def test_collector_is_paused_while_drawing_and_restored_after(karhula_reach, monkeypatch):
    """Drawing runs with the cyclic collector paused, gives the same polygons, byte for byte, as
    drawing with it running, and leaves it as it found it (also after an error)."""
    seen: list[bool] = []
    streets = isochrones._streets

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return streets(*args, **kwargs)

    assert gc.isenabled()
    monkeypatch.setattr(isochrones, "_streets", spy)
    paused = {
        by: isochrones.service_areas(karhula_reach, thresholds_min=[5, 10], by=by, rings=True) for by in ("category", "split")
    }
    assert seen == [False, False]
    assert gc.isenabled()
    # the same polygons, vertex for vertex, with the collector running throughout
    monkeypatch.setattr(isochrones._gc, "paused", contextlib.nullcontext)
    for by, areas in paused.items():
        running = isochrones.service_areas(karhula_reach, thresholds_min=[5, 10], by=by, rings=True)
        assert seen[-1] is True
        assert len(running) == len(areas) > 0
        assert (shapely.area(running.geometry.values) > 0).any()
        assert list(shapely.to_wkb(running.geometry.values)) == list(shapely.to_wkb(areas.geometry.values))
        pd.testing.assert_frame_equal(running.drop(columns="geometry"), areas.drop(columns="geometry"))
    monkeypatch.undo()

    # an error while drawing leaves the collector running
    def fail(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(isochrones, "_engine_areas", fail)
    with pytest.raises(RuntimeError, match="drawing failed"):
        isochrones.service_areas(karhula_reach, thresholds_min=[5])
    assert gc.isenabled()
    monkeypatch.undo()
    # a caller that paused it keeps it paused
    gc.disable()
    try:
        isochrones.service_areas(karhula_reach, thresholds_min=[5], categories=["sports"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def _count_drawings(mp: pytest.MonkeyPatch) -> list[int]:
    """Count the service-area drawings (calls of ``isochrones._area``) while ``mp`` is active."""
    calls: list[int] = []
    area = isochrones._area

    def counted(*args, **kwargs):
        calls.append(1)
        return area(*args, **kwargs)

    mp.setattr(isochrones, "_area", counted)
    return calls


def test_categories_with_the_same_facilities_share_one_drawing(karhula_walk, karhula_fac):
    """The same facilities under two names: one drawing serves both, the polygons byte for byte
    those of each category drawn on its own."""
    sports = karhula_fac[karhula_fac["category"] == "sports"]
    assert len(sports) > 0
    fac = pd.concat([karhula_fac, sports.assign(category="sports_copy")], ignore_index=True)
    cats = ["sports", "kindergarten", "sports_copy"]
    reach = _quiet(lambda: mg.access.reach(karhula_walk, fac, categories=cats, max_time_min=LIMIT_MIN))
    with pytest.MonkeyPatch.context() as mp:
        calls = _count_drawings(mp)
        together = isochrones.service_areas(reach, thresholds_min=[5, 10])
    assert len(calls) == 4  # sports and kindergarten at two thresholds; the copy drawn with sports
    assert (together["area_m2"] > 0).all()
    for cat in cats:
        alone = isochrones.service_areas(reach, thresholds_min=[5, 10], categories=[cat])
        mine = together[together["category"] == cat]
        assert list(shapely.to_wkb(mine.geometry.values)) == list(shapely.to_wkb(alone.geometry.values))
    copy = together[together["category"] == "sports_copy"].geometry.values
    assert list(shapely.to_wkb(copy)) == list(shapely.to_wkb(together[together["category"] == "sports"].geometry.values))


# -- each category at its own threshold ----------------------------------------------------


def _each_at_its_own_the_long_way(reach: mg.access.Reach, own: dict[str, float], **kw) -> gpd.GeoDataFrame:
    """Every category drawn at every threshold asked of any, then each kept at its own."""
    areas = isochrones.service_areas(reach, thresholds_min=sorted(set(own.values())), categories=list(own), **kw)
    keep = [own[c] == t for c, t in zip(areas["category"], areas["threshold_min"], strict=True)]
    return areas.loc[keep].reset_index(drop=True)


def _assert_same_areas(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, *, point_sets: bool = False) -> None:
    """The same rows, byte for byte; with ``point_sets`` the polygons need only be the same point
    sets (see :func:`_assert_same_point_sets`)."""
    assert len(a) == len(b) > 0
    if point_sets:
        _assert_same_point_sets(a, b)
        return
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert list(shapely.to_wkb(a.geometry.values)) == list(shapely.to_wkb(b.geometry.values))


@pytest.mark.parametrize("place", ["demo", "guixi"])
def test_each_category_at_its_own_threshold_is_drawn_only_there(place, karhula_reach, request):
    """A mapping of thresholds draws each category only at its own: the same rows, byte for
    byte, as drawing all of them at every threshold and keeping each at its own."""
    if place == "demo":
        reach = karhula_reach
    else:
        net = request.getfixturevalue("guixi_walk")
        fac = mg.facilities.from_osm(shared_path(OSM_FILES["guixi_pbf"]))
        reach = _quiet(lambda: mg.access.reach(net, fac, max_time_min=LIMIT_MIN))
    present = [c for c in reach.categories if (reach.facilities["category"] == c).any()]
    assert len(present) >= 3
    own = {c: (4.5, 7.5, 15.0)[i % 3] for i, c in enumerate(present)}  # three thresholds over the categories
    with pytest.MonkeyPatch.context() as mp:
        calls = _count_drawings(mp)
        mine = isochrones.service_areas(reach, thresholds_min=own)
    assert len(calls) <= len(present)  # one drawing per category (fewer where two share their facilities)
    _assert_same_areas(mine, _each_at_its_own_the_long_way(reach, own))
    assert list(mine["category"]) == present
    assert list(mine["threshold_min"]) == [own[c] for c in present]
    # by facility and as rings, a list per category (the street cells made for the categories drawn
    # together may come from other diagrams of fewer sites than for one alone: the same cells,
    # a ring may start at another vertex, and where the box cuts a cell its last bits may differ)
    two = dict(list({c: [own[c], 15.0] if own[c] < 15 else [15.0] for c in present}.items())[:3])
    for by in ("facility", "split"):
        mapped = isochrones.service_areas(reach, thresholds_min=two, by=by, rings=True)
        parts = [isochrones.service_areas(reach, thresholds_min=t, categories=[c], by=by, rings=True) for c, t in two.items()]
        _assert_same_areas(mapped, pd.concat(parts, ignore_index=True), point_sets=by == "facility")
    lines = isochrones.reachable_lines(reach, thresholds_min=two)
    alone = pd.concat(
        [isochrones.reachable_lines(reach, thresholds_min=t, categories=[c]) for c, t in two.items()], ignore_index=True
    )
    _assert_same_areas(lines, alone)


def test_thresholds_by_category_bad_input_is_a_clear_error(karhula_reach):
    with pytest.raises(mg.InputError, match="not both"):
        isochrones.service_areas(karhula_reach, thresholds_min={"sports": 5}, categories=["sports"])
    with pytest.raises(mg.InputError, match="empty"):
        isochrones.service_areas(karhula_reach, thresholds_min={})
    with pytest.raises(mg.InputError, match="unknown categories"):
        isochrones.service_areas(karhula_reach, thresholds_min={"sports": 5, "nowhere": 5})
    with pytest.raises(mg.InputError, match="positive"):
        isochrones.reachable_lines(karhula_reach, thresholds_min={"sports": -5})
    with pytest.raises(mg.InputError, match="search limit"):
        isochrones.service_areas(karhula_reach, thresholds_min={"sports": [5, LIMIT_MIN + 1]})


# -- the engine's times at street points, against the plain route --------------------------


def _times_the_plain_way(
    reach: mg.access.Reach, e: np.ndarray, s: np.ndarray, acc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Times and nearest facilities of attached points, every category over every point: the legs to
    both ends of the edge plus the node times, against a full table of the trips along the point's
    own edge (of equal times the first attached facility). Also the number of points whose time the
    own edge gives."""
    net = reach.network
    u, v, via_u, via_v = mg.access.origin_legs(net, e, s, acc)
    tu = via_u[None, :] + reach.node_min[:, u]
    tv = via_v[None, :] + reach.node_min[:, v]
    best = np.minimum(tu, tv)
    assert reach.nearest is not None
    who = np.where(tu <= tv, reach.nearest[:, u], reach.nearest[:, v])
    direct_t = np.full(best.shape, np.inf)
    direct_w = np.full(best.shape, -1, dtype=np.int64)
    src = reach.attachment.usable_points(reach.categories)
    o, p, total = mg.access.same_edge(net, pd.DataFrame({"edge": e, "frac": s, "access_min": acc}), src)
    cat = src["cat"].to_numpy()[p]
    owner = src["owner"].to_numpy()[p]
    for i in range(len(o)):
        if total[i] < direct_t[cat[i], o[i]]:
            direct_t[cat[i], o[i]] = total[i]
            direct_w[cat[i], o[i]] = owner[i]
    better = direct_t < best
    best = np.where(better, direct_t, best)
    who = np.where(better, direct_w, who)
    over = best > reach.max_time_min
    best[over] = np.inf
    who[over] = -1
    return best, who, int(better.sum())


def test_street_point_times_are_the_engines_the_plain_way(karhula_reach):
    """The times the areas are drawn from (``Reach.network_times`` at every street point, no label looked
    up, the trips along a point's own edge applied only where they occur) are those of the plain route."""
    st_ = isochrones._streets(karhula_reach, 300.0, margin_m=300.0)
    e, s = st_.seg_edge[st_.smp_seg], st_.smp_frac
    got = karhula_reach.network_times(e, s)
    want, _, along = _times_the_plain_way(karhula_reach, e, s, np.zeros(len(e)))
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want)
    assert along > 50  # points on the edge of a facility that reach it along that edge, not via an end
    assert np.isfinite(got).any() and np.isinf(got).any()


def test_times_and_labels_at_places_are_the_plain_routes(karhula_reach, demo_bounds):
    """``Reach.at`` (times, and nearest facilities with ``nearest=True``) through the same code: the
    values of the plain route, for places near the streets, on a facility's own edge and too far away."""
    rng = np.random.default_rng(7)
    net = karhula_reach.network
    x0, y0, x1, y1 = net.edges.total_bounds
    xy = np.column_stack([rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000)])
    fac = karhula_reach.points.geometry.to_numpy()
    near_fac = shapely.get_coordinates(fac)[:400] + rng.normal(0.0, 15.0, (min(400, len(fac)), 2))
    far = np.array([[x1 + 5000.0, y1 + 5000.0]])
    pts = gpd.GeoSeries(shapely.points(np.vstack([xy, near_fac, far])), crs=net.crs)
    times = _quiet(lambda: karhula_reach.at(pts))
    labels = _quiet(lambda: karhula_reach.at(pts, nearest=True))
    snaps = karhula_reach.snap(pts)
    ok = snaps["ok"].to_numpy()
    assert ok.sum() > 1000 and not ok.all()
    want_t = np.full((len(karhula_reach.categories), len(pts)), np.inf)
    want_w = np.full(want_t.shape, -1, dtype=np.int64)
    s_ok = snaps[ok]
    want_t[:, ok], want_w[:, ok], along = _times_the_plain_way(
        karhula_reach, s_ok["edge"].to_numpy(), s_ok["frac"].to_numpy(), s_ok["access_min"].to_numpy()
    )
    assert along > 0
    assert np.array_equal(times.to_numpy().T, want_t)
    assert np.array_equal(labels.to_numpy().T, want_w)
    assert (labels.dtypes == np.int64).all() and (times.dtypes == np.float64).all()
    # every point attached: the same again
    inside = pts[ok].reset_index(drop=True)
    assert np.array_equal(_quiet(lambda: karhula_reach.at(inside)).to_numpy().T, want_t[:, ok])
    assert np.array_equal(_quiet(lambda: karhula_reach.at(inside, nearest=True)).to_numpy().T, want_w[:, ok])


def test_street_point_order_and_distinct_edges_are_numpys(karhula_reach):
    """The order of the street points (one quicksort, ties sorted again) is ``np.lexsort`` by x, y and
    edge; the distinct edges are ``np.unique``'s."""
    st_ = isochrones._streets(karhula_reach, 300.0, margin_m=300.0)
    xy = st_.a[st_.smp_seg] + st_.smp_u[:, None] * (st_.b - st_.a)[st_.smp_seg]
    edge = st_.seg_edge[st_.smp_seg]
    rng = np.random.default_rng(3)
    for perm in (np.arange(len(xy)), rng.permutation(len(xy))):
        got = isochrones._xy_order(xy[perm], edge[perm])
        assert np.array_equal(got, np.lexsort((edge[perm], xy[perm, 1], xy[perm, 0])))
    # shared points (junctions) are ties in x: many of them
    xs = np.sort(xy[:, 0])
    assert (xs[1:] == xs[:-1]).sum() > 100
    # many ties in all three keys
    tied = np.round(xy / 50.0) * 50.0
    small = rng.integers(0, 3, len(xy))
    assert np.array_equal(isochrones._xy_order(tied, small), np.lexsort((small, tied[:, 1], tied[:, 0])))
    n = karhula_reach.network.n_edges
    skip = rng.random(n) < 0.3
    values = rng.integers(0, n, 5000)
    want = np.unique(values)
    assert np.array_equal(isochrones._distinct(values, n, skip=skip), want[~skip[want]])


# -- street cells from fewer sites against the diagram of all sites ---------------------------


def _assert_same_point_sets(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> int:
    """The same rows and polygons (same parts and holes, symmetric difference < 1e-9 of the area,
    areas within 1e-12 relative); returns how many polygons are not byte for byte the same."""
    cols = [c for c in a.columns if c not in ("geometry", "area_m2")]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    np.testing.assert_allclose(a["area_m2"].to_numpy(), b["area_m2"].to_numpy(), rtol=1e-12, atol=0)
    ga, gb = np.asarray(a.geometry.values), np.asarray(b.geometry.values)
    differ = shapely.to_wkb(ga) != shapely.to_wkb(gb)
    for x, y in zip(ga[differ], gb[differ], strict=True):
        assert shapely.get_num_geometries(x) == shapely.get_num_geometries(y)
        holes = [int(shapely.get_num_interior_rings(shapely.get_parts(g)).sum()) for g in (x, y)]
        assert holes[0] == holes[1]
        assert shapely.symmetric_difference(x, y).area < 1e-9 * x.area
    return int(differ.sum())


def _town_reaches() -> list[tuple[str, mg.access.Reach]]:
    """Two Liechtenstein municipalities (each with the 1 km around it), walk reach 15 min."""
    out = []
    path = shared_path(OSM_FILES["liechtenstein"])  # skips when the shared data is absent
    towns = mg.batch.towns_from_osm(path, admin_level="8").sort_values("name").head(2)
    fac = mg.facilities.from_osm(path)
    for name, geom in zip(towns["name"], towns.geometry, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
            net = mg.network.from_osm(path, mode="walk", boundary=gpd.GeoSeries([geom], crs=towns.crs), buffer_m=1000.0)
        out.append((str(name), _quiet(lambda net=net: mg.access.reach(net, fac, max_time_min=LIMIT_MIN))))
    return out


@pytest.mark.parametrize("place", ["demo", pytest.param("liechtenstein", marks=pytest.mark.slow)])
def test_street_cells_from_fewer_sites_give_the_areas_of_the_whole_diagram(place, karhula_reach, monkeypatch):
    """Service areas whose reached streets are few take their cells from diagrams of some sites
    only (each cell proven); they must be the areas drawn from the diagram of all sites."""
    reaches = [("demo", karhula_reach)] if place == "demo" else _town_reaches()
    made = []
    real = isochrones._subset_cells

    def counted(*args, **kwargs):
        cells = real(*args, **kwargs)
        made.append(cells is not None)
        return cells

    for _, reach in reaches:
        # the categories reaching the fewest nodes within 3 minutes (but some)
        near = (reach.node_min <= 3.0).sum(axis=1)
        few = [reach.categories[k] for k in np.argsort(near, kind="stable") if near[k] > 0]
        assert len(few) >= 3
        for thresholds in ({c: 5.0 for c in few[:2]}, {few[2]: [3.0, 5.0]}):
            monkeypatch.setattr(isochrones, "_subset_cells", counted)
            fast = isochrones.service_areas(reach, thresholds_min=thresholds)
            monkeypatch.setattr(isochrones, "_SUBSET_SHARE", 0.0)  # every cell from the diagram of all sites
            whole = isochrones.service_areas(reach, thresholds_min=thresholds)
            monkeypatch.undo()
            assert not fast["geometry"].is_empty.all()
            differ = _assert_same_point_sets(fast, whole)
            assert differ <= 0.1 * len(fast)
    assert made and all(made)  # the fewer-sites route was taken and proved every cell


def test_a_cell_from_fewer_sites_is_taken_only_when_proven(karhula_reach):
    """The cells made from fewer sites are those of the diagram of all sites: vertex for vertex
    (a ring may start elsewhere) where the box does not cut them, the same point sets where it
    does; a subset too thin to hold a cell's neighbours is caught by the test and made again."""
    st_ = isochrones._streets(karhula_reach, 300.0, margin_m=300.0)
    every = st_.cells_by_site()
    rng = np.random.default_rng(3)
    want = np.sort(rng.choice(len(st_.sites), size=len(st_.sites) // 20, replace=False))
    cells = isochrones._subset_cells(st_.sites, want, st_._lo, st_._hi)
    assert cells is not None
    b = shapely.bounds(every[want])
    cut = (b[:, :2] <= st_._lo).any(axis=1) | (b[:, 2:] >= st_._hi).any(axis=1)
    assert cut.any() and (~cut).sum() > 100
    norm = [shapely.to_wkb(shapely.normalize(g[~cut])) for g in (cells, every[want])]
    assert (norm[0] == norm[1]).all()
    np.testing.assert_allclose(shapely.area(cells[~cut]), shapely.area(every[want][~cut]), rtol=1e-12)
    # where the box cuts a cell, the cut points may move by a nanometre (the box lies beyond every band)
    np.testing.assert_allclose(shapely.area(cells[cut]), shapely.area(every[want][cut]), rtol=1e-9)
    assert (shapely.area(shapely.symmetric_difference(cells[cut], every[want][cut])) < 1e-9 * shapely.area(cells[cut])).all()
    # the wanted sites alone: nearly every cell is wrong there and the test says so
    tree = isochrones.cKDTree(st_.sites)
    alone = np.zeros(len(st_.sites), dtype=bool)
    alone[want] = True
    raw, bad, _, _ = isochrones._proven_cells(st_.sites, tree, alone, want, st_._lo, st_._hi)
    wrong = ~shapely.equals(shapely.normalize(raw), shapely.normalize(every[want]))
    assert wrong.sum() > 0.5 * len(want)
    assert not (wrong & ~bad).any()  # every wrong cell is flagged


def test_street_land_falls_back_to_the_whole_diagram_when_cells_do_not_meet(karhula_reach, monkeypatch):
    """Should the cells of an edge from diagrams of fewer sites fail to merge, every cell is made
    again from the diagram of all sites and the land is that of the whole diagram."""
    every = isochrones._streets(karhula_reach, 300.0, margin_m=300.0)
    st_ = isochrones._streets(karhula_reach, 300.0, margin_m=300.0, cells=False)
    edges = np.flatnonzero(np.diff(st_._cell_bounds) >= 3)[:50]
    st_.make_cells(edges)
    assert st_._from_subsets and isochrones._missing(st_._cells).any()
    real = shapely.coverage_union_all
    failed = []

    def fail_once(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise shapely.errors.GEOSException("TopologyException: CoverageUnion cannot process incorrectly noded inputs")
        return real(*args, **kwargs)

    monkeypatch.setattr(isochrones.shapely, "coverage_union_all", fail_once)
    land = st_.land(edges)
    monkeypatch.undo()
    assert failed and not st_._from_subsets and not isochrones._missing(st_._cells).any()
    assert list(shapely.to_wkb(st_._cells)) == list(shapely.to_wkb(every.cells_by_site()))
    assert list(shapely.to_wkb(land)) == list(shapely.to_wkb(every.land(edges)))
