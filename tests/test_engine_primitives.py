"""The engine's primitives (mtown_geo.access) against independent computations on a real network.

The demo town's walk network (Karhula); the expected values come from networkx, from the
network's own edge table and from plain Python dictionaries, never from the functions tested.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

import mtown_geo as mg
from mtown_geo import access


@pytest.fixture(scope="module")
def sources(karhula_walk) -> np.ndarray:
    return np.random.default_rng(3).choice(karhula_walk.n_nodes, size=6, replace=False)


def test_reachable_nodes_equal_networkx(karhula_walk, sources):
    limit = 4.321  # minutes; not a round figure, so no path sits exactly on it
    got = access.reachable_nodes(karhula_walk, sources, limit)
    d = nx.multi_source_dijkstra_path_length(
        karhula_walk.to_networkx(), {int(s) for s in sources}, cutoff=limit, weight="time_min"
    )
    assert set(np.flatnonzero(got).tolist()) == set(d)
    assert 10 < got.sum() < karhula_walk.n_nodes
    assert not access.reachable_nodes(karhula_walk, np.array([], dtype=np.int64), limit).any()


def test_restrict_keeps_exactly_the_edges_among_the_kept_nodes(karhula_walk, sources):
    graph = karhula_walk.csr_reverse
    keep = access.reachable_nodes(karhula_walk, sources, 6.0)
    sub, new_id = access.restrict(graph, keep)
    assert sub.shape == (keep.sum(), keep.sum())
    assert (new_id[keep] == np.arange(keep.sum())).all() and (new_id[~keep] == -1).all()
    coo = graph.tocoo()
    want = {
        (int(new_id[r]), int(new_id[c]), float(d))
        for r, c, d in zip(coo.row, coo.col, coo.data, strict=True)
        if keep[r] and keep[c]
    }
    got = sub.tocoo()
    assert {(int(r), int(c), float(d)) for r, c, d in zip(got.row, got.col, got.data, strict=True)} == want
    assert got.nnz == len(want)  # explicit zero times kept, nothing doubled


def test_add_sources_keeps_the_fastest_of_duplicate_links(karhula_walk):
    graph = karhula_walk.csr_reverse
    n = graph.shape[0]
    rng = np.random.default_rng(11)
    rows = rng.integers(0, 3, size=40)
    cols = rng.integers(0, 8, size=40)  # few targets: many duplicate (source, node) pairs
    w = rng.uniform(0.0, 5.0, size=40)
    aug = access.add_sources(graph, rows, cols, w, 4)
    assert aug.shape == (n + 4, n + 4)
    assert (aug[:n, :n] != graph).nnz == 0
    best: dict[tuple[int, int], float] = {}
    for r, c, x in zip(rows.tolist(), cols.tolist(), w.tolist(), strict=True):
        best[r, c] = min(best.get((r, c), np.inf), x)
    tail = sp.coo_matrix(aug[n:])
    assert {(int(r), int(c)): float(x) for r, c, x in zip(tail.row, tail.col, tail.data, strict=True)} == best
    assert aug[n + 3].nnz == 0  # a source without links


def test_legs_follow_the_edge_table_and_one_way_edges(karhula_walk):
    e = karhula_walk.edges
    one_way = np.flatnonzero(~np.isfinite(e["time_rev_min"].to_numpy()))
    two_way = np.flatnonzero(np.isfinite(e["time_rev_min"].to_numpy()))
    edge = np.concatenate([two_way[:5], one_way[:5]])
    frac = np.linspace(0.1, 0.9, len(edge))
    acc = np.full(len(edge), 0.5)
    u, v, w_u, w_v = access.source_legs(karhula_walk, edge, frac, acc)
    _, _, via_u, via_v = access.origin_legs(karhula_walk, edge, frac, acc)
    assert (u == e["u"].to_numpy()[edge]).all() and (v == e["v"].to_numpy()[edge]).all()
    t_uv = e["time_min"].to_numpy()[edge]
    t_vu = e["time_rev_min"].to_numpy()[edge]
    # to the point: from u along u -> v; from v along v -> u (impossible on a one-way edge)
    assert np.allclose(w_u, 0.5 + frac * t_uv)
    assert np.allclose(w_v[:5], 0.5 + (1 - frac[:5]) * t_vu[:5]) and np.isinf(w_v[5:]).all()
    # from the point: towards v along u -> v; towards u along v -> u (impossible on a one-way edge)
    assert np.allclose(via_v, 0.5 + (1 - frac) * t_uv)
    assert np.allclose(via_u[:5], 0.5 + frac[:5] * t_vu[:5]) and np.isinf(via_u[5:]).all()


def test_a_unit_reaches_a_site_as_the_engine_says(karhula_walk):
    """Legs + restrict + add_sources + csr_dijkstra give travel_times' figure for a real facility."""
    fac = mg.facilities.from_osm(mg.demo_osm_path("karhula"))
    kg = fac[fac["category"] == "kindergarten"].iloc[:1]
    units = mg.demand.grid(mg.demo_boundaries("karhula").query("kind == '建成区'").to_crs(karhula_walk.crs), cell_m=100).iloc[::4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        want = access.travel_times(karhula_walk, kg, units, max_time_min=60)["kindergarten"].to_numpy()
        pts = access.access_points(karhula_walk, kg)
        psnap = access.snap(karhula_walk, pts)
        usnap = access.snap(karhula_walk, units)
    ok = psnap["ok"].to_numpy()
    pu, pv, w_u, w_v = access.source_legs(
        karhula_walk, psnap["edge"].to_numpy()[ok], psnap["frac"].to_numpy()[ok], psnap["access_min"].to_numpy()[ok]
    )
    n = karhula_walk.n_nodes
    rows = np.zeros(2 * len(pu), dtype=np.int64)
    aug = access.add_sources(karhula_walk.csr_reverse, rows, np.concatenate([pu, pv]), np.concatenate([w_u, w_v]), 1)
    dist = access.csr_dijkstra(aug, n, limit_min=60.0)[:n]
    uok = usnap["ok"].to_numpy()
    uu, uv, via_u, via_v = access.origin_legs(
        karhula_walk, usnap["edge"].to_numpy()[uok], usnap["frac"].to_numpy()[uok], usnap["access_min"].to_numpy()[uok]
    )
    got = np.minimum(via_u + dist[uu], via_v + dist[uv])
    same_edge = np.isin(usnap["edge"].to_numpy()[uok], psnap["edge"].to_numpy()[ok])
    assert np.isfinite(want[uok]).sum() > 20
    assert np.array_equal(got[~same_edge], want[uok][~same_edge])  # bit for bit: the same operations


# -- same_edge, attach, _first_min and siting's reach= ------------------------------------------


def _straight_edges(net: mg.Network, k: int, min_m: float = 60.0) -> np.ndarray:
    """Edges of the main piece drawn as one straight segment, longer than ``min_m``."""
    geoms = np.asarray(net.edges.geometry.values)
    main = net.component[net.edges["u"].to_numpy()] == 0
    ok = main & (shapely.get_num_coordinates(geoms) == 2) & (net.edges["length_m"].to_numpy() > min_m)
    return np.flatnonzero(ok)[:k]


def _beside(net: mg.Network, edge: int, frac: float, offset_m: float) -> shapely.Point:
    """A point ``frac`` along a straight edge (from u) and ``offset_m`` metres off it, at right angles."""
    (x0, y0), (x1, y1) = net.edges.geometry.iloc[edge].coords
    dx, dy = x1 - x0, y1 - y0
    n = np.hypot(dx, dy)
    return shapely.Point(x0 + frac * dx - dy / n * offset_m, y0 + frac * dy + dx / n * offset_m)


def test_same_edge_equals_a_hand_calculation_on_a_real_edge(karhula_walk):
    net = karhula_walk
    e, e2 = (int(x) for x in _straight_edges(net, 2))
    crs = net.crs
    origins = gpd.GeoSeries([_beside(net, e, 0.2, 8.0), _beside(net, e, 0.9, 3.0), _beside(net, e2, 0.5, 4.0)], crs=crs)
    points = gpd.GeoSeries(
        [_beside(net, e, 0.7, 15.0), _beside(net, e, 0.1, 0.0), _beside(net, e2, 0.5, 10.0), _beside(net, e, 0.4, 1.0)],
        crs=crs,
    )
    osnap = access.snap(net, origins)
    psnap = access.snap(net, points)
    psnap.loc[3, "ok"] = False  # a point that does not attach takes no part
    speed = net.access_speed_kmh * 1000.0 / 60.0  # metres per minute
    t_e = float(net.edges["time_min"].iloc[e])
    want = {
        (0, 0): 8.0 / speed + 0.5 * t_e + 15.0 / speed,
        (0, 1): 8.0 / speed + 0.1 * t_e,
        (1, 0): 3.0 / speed + 0.2 * t_e + 15.0 / speed,
        (1, 1): 3.0 / speed + 0.8 * t_e,
        (2, 2): 4.0 / speed + 10.0 / speed,
    }
    o, p, t = access.same_edge(net, osnap, psnap)
    got = {(int(a), int(b)): float(x) for a, b, x in zip(o, p, t, strict=True)}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert list(o) == sorted(o)  # in the order of the origins

    # one-way u -> v: towards u along the edge is forbidden
    rev = net.edges["time_rev_min"].to_numpy().copy()
    rev[e] = np.inf
    one_way = net.with_edge_times(net.edges["time_min"].to_numpy(), rev)
    o, p, t = access.same_edge(one_way, osnap, psnap)
    got = {(int(a), int(b)): float(x) for a, b, x in zip(o, p, t, strict=True)}
    assert np.isinf(got[0, 1]) and np.isinf(got[1, 0]) and np.isinf(got[1, 1])
    assert got[0, 0] == pytest.approx(want[0, 0], rel=1e-9)


def test_reach_at_uses_same_edge_for_an_origin_beside_a_facility(karhula_walk):
    """Reach.at gives the along-the-edge time when it beats the way round through the ends."""
    net = karhula_walk
    e = int(_straight_edges(net, 1, min_m=100.0)[0])
    fac = gpd.GeoDataFrame({"category": ["x"]}, geometry=[_beside(net, e, 0.55, 2.0)], crs=net.crs)
    org = gpd.GeoSeries([_beside(net, e, 0.45, 2.0)], crs=net.crs)
    speed = net.access_speed_kmh * 1000.0 / 60.0
    want = 2.0 / speed + 0.1 * float(net.edges["time_min"].iloc[e]) + 2.0 / speed
    got = access.reach(net, fac, max_time_min=30).at(org)["x"].iloc[0]
    assert got == pytest.approx(want, rel=1e-9)


def test_first_min_keeps_the_smallest_value_of_each_key():
    from mtown_geo._graph import _first_min

    rng = np.random.default_rng(8)
    key = rng.integers(0, 30, size=400)
    w = rng.integers(0, 5, size=400).astype(float)  # many ties
    keep = _first_min(key, w)
    best: dict[int, tuple[float, int]] = {}
    for i, (k, x) in enumerate(zip(key.tolist(), w.tolist(), strict=True)):
        if k not in best or x < best[k][0]:
            best[k] = (x, i)  # the first position of the smallest value
    assert key[keep].tolist() == sorted(best)
    assert keep.tolist() == [best[k][1] for k in sorted(best)]


def test_first_min_with_inf_nan_and_empty_input():
    from mtown_geo._graph import _first_min

    rng = np.random.default_rng(21)
    for _ in range(50):
        n = int(rng.integers(1, 200))
        key = rng.integers(0, int(rng.integers(1, 40)), size=n)
        w = rng.integers(0, 3, size=n).astype(float)
        w[rng.random(n) < 0.15] = np.inf
        w[rng.random(n) < 0.15] = np.nan  # NaN ranks after every number
        best: dict[int, tuple[tuple[bool, float], int]] = {}
        for i, (k, x) in enumerate(zip(key.tolist(), w.tolist(), strict=True)):
            rank = (True, 0.0) if np.isnan(x) else (False, x)
            if k not in best or rank < best[k][0]:
                best[k] = (rank, i)
        assert _first_min(key, w).tolist() == [best[k][1] for k in sorted(best)]
    assert len(_first_min(np.zeros(0, dtype=np.int64), np.zeros(0))) == 0


def test_merge_parallel_keeps_the_fastest_segment_per_node_pair():
    from mtown_geo._graph import _merge_parallel

    rng = np.random.default_rng(5)
    m, n = 600, 25
    u = rng.integers(0, n, size=m)
    v = (u + rng.integers(1, n, size=m)) % n  # no loops
    length = rng.integers(1, 4, size=m).astype(float) * 10.0
    time = rng.integers(1, 4, size=m).astype(float)  # many equal times
    oneway = rng.random(m) < 0.4
    eu, ev, elen, t_uv, t_vu, first = _merge_parallel(u, v, length, time, oneway, n)
    # the same by plain dictionaries: per unordered pair, the fastest time each way and the
    # first segment of the fastest time in either direction
    pair: dict[tuple[int, int], list] = {}
    for i in range(m):
        a, b = int(u[i]), int(v[i])
        lo, hi = min(a, b), max(a, b)
        fwd = time[i] if (a == lo or not oneway[i]) else np.inf
        bwd = time[i] if (a == hi or not oneway[i]) else np.inf
        p = pair.setdefault((lo, hi), [np.inf, np.inf, None, np.inf])
        p[0], p[1] = min(p[0], fwd), min(p[1], bwd)
        if min(fwd, bwd) < p[3]:
            p[2], p[3] = i, min(fwd, bwd)
    assert len(eu) == len(pair)
    for k in range(len(eu)):
        lo, hi = min(eu[k], ev[k]), max(eu[k], ev[k])
        f, b, i, _ = pair[(int(lo), int(hi))]
        assert first[k] == i and elen[k] == length[i]
        uv, vu = (f, b) if eu[k] == lo else (b, f)
        assert (t_uv[k], t_vu[k]) == (uv, vu)
        assert np.isfinite(t_uv[k])  # u → v is always allowed


@pytest.fixture(scope="module")
def karhula_fac_odd(karhula_walk):
    """Karhula's facilities plus one far from every street and one without geometry."""
    fac = mg.facilities.from_osm(mg.demo_osm_path("karhula")).to_crs(karhula_walk.crs)
    x1, y1 = karhula_walk.edges.total_bounds[2:]
    extra = gpd.GeoDataFrame(
        {"category": ["kindergarten", "kindergarten"], "name": ["far away", "no geometry"]},
        geometry=[shapely.Point(x1 + 5000.0, y1 + 5000.0), shapely.Point()],
        crs=karhula_walk.crs,
    )
    return pd.concat([fac, extra], ignore_index=True)


def test_attach_diagnostics_by_hand(karhula_walk, karhula_fac_odd):
    net, fac = karhula_walk, karhula_fac_odd
    att = access.attach(net, fac)
    diag = att.diagnostics()
    assert diag.index.equals(pd.RangeIndex(len(fac)))
    assert diag["category"].tolist() == fac["category"].tolist()
    # by hand, for the point facilities: one access point, at the distance of the nearest edge
    geoms = np.asarray(net.edges.geometry.values)
    is_point = (fac.geom_type == "Point").to_numpy() & ~fac.geometry.is_empty.to_numpy()
    for i in np.flatnonzero(is_point):
        d = shapely.distance(fac.geometry.iloc[i], geoms)
        nearest = int(np.argmin(d))
        assert diag["access_points"].iloc[i] == 1
        assert diag["snap_dist_m"].iloc[i] == pytest.approx(d.min(), abs=1e-6)
        if d.min() <= net.max_snap_dist_m:
            piece = int(net.component[net.edges["u"].iloc[nearest]])
            assert diag["component"].iloc[i] == piece
            assert diag["status"].iloc[i] == ("ok" if piece == 0 else "small_piece")
    # polygons: reached through their boundary, by several access points
    poly = fac.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    assert poly.any() and (diag["access_points"].to_numpy()[poly] > 1).all()
    far, empty = len(fac) - 2, len(fac) - 1
    assert diag.loc[far, "status"] == "too_far" and diag.loc[far, "snap_dist_m"] > 4000
    assert diag.loc[empty, "status"] == "no_geometry" and diag.loc[empty, "access_points"] == 0
    frame = att.to_frame()
    assert len(frame) == diag["access_points"].sum() and frame.crs == net.crs
    assert (frame.groupby("owner")["snap_dist_m"].min().to_numpy() == diag["snap_dist_m"].dropna().to_numpy()).all()

    # a Reach's diagnostics are the attachment's, with the categories it did not search marked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        r = access.reach(net, fac, categories=["kindergarten", "primary_school"])
    rd = r.facility_diagnostics()
    searched = fac["category"].isin(["kindergarten", "primary_school"]).to_numpy()
    assert (rd["status"].to_numpy()[~searched] == "not_searched").all()
    pd.testing.assert_frame_equal(rd[searched], diag[searched])
    only = access.attach(net, fac, categories=["kindergarten"]).diagnostics()
    assert (only["status"].to_numpy()[(fac["category"] != "kindergarten").to_numpy()] == "not_attached").all()


def test_reach_from_an_attachment_attaches_nothing_again(karhula_walk, karhula_fac_odd, monkeypatch):
    net, fac = karhula_walk, karhula_fac_odd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        want = access.reach(net, fac, max_time_min=20)
        att = access.attach(net, fac)
        calls: list[str] = []
        real_snap, real_points = access.snap, access.access_points
        monkeypatch.setattr(access, "snap", lambda *a, **k: calls.append("snap") or real_snap(*a, **k))
        monkeypatch.setattr(access, "access_points", lambda *a, **k: calls.append("points") or real_points(*a, **k))
        got = access.reach(net, att, max_time_min=20)
    assert calls == []
    assert got.attachment is att
    assert np.array_equal(got.node_min, want.node_min) and np.array_equal(got.nearest, want.nearest)
    pd.testing.assert_frame_equal(got.facility_diagnostics(), want.facility_diagnostics())
    with pytest.raises(mg.InputError, match="spacing_m"):
        access.reach(net, att, spacing_m=10.0)
    with pytest.raises(mg.InputError, match="max_snap_dist_m"):
        access.reach(net, att, max_snap_dist_m=50.0)
    other = net.with_edge_times(net.edges["time_min"].to_numpy(), net.edges["time_rev_min"].to_numpy())
    with pytest.raises(mg.InputError, match="another network"):
        access.reach(other, att)
    only_kg = access.attach(net, fac, categories=["kindergarten"])
    with pytest.raises(mg.InputError, match="attach them too"):
        access.reach(net, only_kg, categories=["kindergarten", "primary_school"])


def test_add_facilities_with_the_circles_reach_equals_its_own_search(karhula_walk, demo_bounds):
    net = karhula_walk
    fac = mg.facilities.from_osm(mg.demo_osm_path("karhula"))
    units = mg.demand.grid(demo_bounds[demo_bounds.kind == "建成区"].to_crs(net.crs), cell_m=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        circle = access.reach(net, fac, max_time_min=15)  # every category, searched once
        before: dict[str, float] = {}
        for category, kw in (("kindergarten", {"k": 3}), ("primary_school", {"target": 0.9}), ("clinic", {"k": 2})):
            a = mg.siting.add_facilities(net, fac, units, category=category, threshold_min=10, weight="area_m2", **kw)
            b = mg.siting.add_facilities(
                net, fac, units, category=category, threshold_min=10, weight="area_m2", reach=circle, **kw
            )
            c = mg.siting.add_facilities(
                net, None, units, category=category, threshold_min=10, weight="area_m2", reach=circle, **kw
            )
            for plan in (b, c):
                pd.testing.assert_frame_equal(plan.sites, a.sites, check_exact=True)
                pd.testing.assert_frame_equal(plan.units, a.units, check_exact=True)
                pd.testing.assert_series_equal(plan.summary(), a.summary(), check_exact=True)
            before[category] = a.coverage_before
        assert before["kindergarten"] > 0  # read from the circle's Reach
        assert before["clinic"] == 0.0  # none mapped in Karhula
        with pytest.raises(mg.InputError, match="searched up to 15"):
            mg.siting.add_facilities(
                net, fac, units, category="primary_school", threshold_min=20, k=1, weight="area_m2", reach=circle
            )
        with pytest.raises(mg.InputError, match="other primary_school facilities"):
            mg.siting.add_facilities(
                net,
                fac[fac["category"] != "primary_school"],
                units,
                category="primary_school",
                threshold_min=10,
                k=1,
                weight="area_m2",
                reach=circle,
            )
        with pytest.raises(mg.InputError, match="spacing_m=25"):
            mg.siting.add_facilities(
                net, fac, units, category="primary_school", threshold_min=10, k=1, weight="area_m2", reach=circle, spacing_m=10.0
            )
