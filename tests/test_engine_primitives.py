"""The engine's primitives (mtown_geo.access) against independent computations on a real network.

The demo town's walk network (Karhula); the expected values come from networkx, from the
network's own edge table and from plain Python dictionaries, never from the functions tested.
"""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

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
