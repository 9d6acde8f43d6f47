"""The Network class's matrices, connected pieces and copies (mtown_geo._graph) on real networks.

Each faster route is compared with the plain one it replaces, to the bit, on the networks of
two Andorran parishes as a batch town builds them (walk, e-bike, drive), and the connected
pieces also with networkx.
"""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mtown_geo as mg
from mtown_geo import _graph


@pytest.fixture(scope="module")
def town_networks(andorra_parishes) -> list[mg.network.Network]:
    nets = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        for _, town_m, ext in andorra_parishes:
            for mode in ("walk", "ebike", "drive"):
                nets.append(mg.network.from_osm(ext, mode=mode, boundary=town_m, crs=town_m.crs))
    assert any(n.directed for n in nets) and not all(n.directed for n in nets)
    return nets


def _fresh(net: mg.network.Network) -> mg.network.Network:
    """The same network, nothing built yet."""
    return _graph.Network(
        net._node_table,
        net._edge_table,
        mode=net.mode,
        speed_kmh=net.speed_kmh,
        access_speed_kmh=net.access_speed_kmh,
        max_snap_dist_m=net.max_snap_dist_m,
        straight=True,
        crs=net.crs,
    )


def _assert_same_matrix(a: sp.csr_matrix, b: sp.csr_matrix) -> None:
    assert a.shape == b.shape
    for att in ("data", "indices", "indptr"):
        x, y = getattr(a, att), getattr(b, att)
        assert x.dtype == y.dtype, att
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), att


def _plain(monkeypatch, flag: str, fn):
    monkeypatch.setattr(_graph, flag, False)
    try:
        return fn()
    finally:
        monkeypatch.setattr(_graph, flag, True)


def test_time_matrices_placed_by_coordinates_equal_the_sorted_keys(town_networks, monkeypatch):
    """csr and csr_reverse with the entries placed by scipy's conversion equal, to the bit, the
    matrices made through the sorted keys and the first minimum of each."""
    for net in town_networks:
        for name in ("csr", "csr_reverse"):
            fast = getattr(_fresh(net), name)
            plain = _plain(monkeypatch, "_CSR_LAYOUT", lambda net=net, name=name: getattr(_fresh(net), name))
            _assert_same_matrix(fast, plain)
        rows, cols, _ = net._directed_arrays()
        assert _graph._csr_layout(rows, cols, net.n_nodes) is not None  # one edge per node pair


def test_time_matrix_with_repeats_and_zeros_keeps_the_first_minimum():
    """Repeated (row, col) entries: the layout declines and the smallest value is kept; explicit
    zeros are stored either way; against a dictionary of minima."""
    rng = np.random.default_rng(11)
    n = 40
    rows = rng.integers(0, n, 600)
    cols = rng.integers(0, n, 600)
    w = rng.choice([0.0, 0.5, 1.25, 2.0, 3.5], 600)
    assert _graph._csr_layout(rows, cols, n) is None
    got = _graph._csr_min(rows, cols, w, n)
    best: dict[tuple[int, int], float] = {}
    for r, c, x in zip(rows.tolist(), cols.tolist(), w.tolist(), strict=True):
        best[(r, c)] = min(best.get((r, c), np.inf), x)
    coo = got.tocoo()
    assert dict(zip(zip(coo.row.tolist(), coo.col.tolist(), strict=True), coo.data.tolist(), strict=True)) == best
    assert (got.data == 0).sum() == sum(v == 0 for v in best.values()) > 0
    # without repeats: the same matrix as through the sorted keys, zeros included
    key = np.unique(rows * n + cols)
    r, c = key // n, key % n
    order = rng.permutation(len(r))
    x = rng.choice([0.0, 0.5, 1.25], len(r))
    r, c = r[order], c[order]
    assert _graph._csr_layout(r, c, n) is not None
    _assert_same_matrix(_graph._csr_min(r, c, x, n), _graph._csr_first_min(r, c, x, n))


def test_pieces_from_the_edges_alone_equal_those_of_every_link_and_networkx(town_networks, monkeypatch):
    """The connected pieces labelled from the edges u → v equal, label for label, those from
    every directed link, and networkx's weakly connected components (largest first)."""
    for net in town_networks:
        fast = _fresh(net).component
        plain = _plain(monkeypatch, "_EDGE_COMPONENTS", lambda net=net: _fresh(net).component)
        assert fast.dtype == plain.dtype and np.array_equal(fast, plain)
        g = nx.Graph()
        g.add_nodes_from(range(net.n_nodes))
        g.add_edges_from(zip(net.edge_table["u"].tolist(), net.edge_table["v"].tolist(), strict=True))
        pieces = {frozenset(c) for c in nx.connected_components(g)}
        assert {frozenset(np.flatnonzero(fast == k).tolist()) for k in range(fast.max() + 1)} == pieces
        sizes = np.bincount(fast)
        assert sizes[0] == max(len(p) for p in pieces) and np.all(np.diff(sizes) <= 0)
    assert any(_fresh(n).n_components > 1 for n in town_networks)


def test_copies_with_other_times_share_what_their_links_make(town_networks, monkeypatch):
    """A copy with other edge times (a speed, distances, a closed direction) takes the parent's
    trees, pieces and matrix layout; each equals what the copy builds alone."""
    walk = next(n for n in town_networks if n.mode == "walk")
    drive = next(n for n in town_networks if n.mode == "drive" and n.directed)
    for parent in (_fresh(walk), _fresh(drive)):
        parent.csr, parent.csr_reverse, parent.edge_piece_tree, parent.component  # noqa: B018
        t = parent.edge_table["length_m"].to_numpy() / 70.0
        closed = np.where(np.arange(parent.n_edges) % 5 == 0, np.inf, t)
        copies = [
            parent.with_speed(3.1),
            parent.with_edge_times(t, np.where(np.isfinite(parent.edge_table["time_rev_min"].to_numpy()), t, np.inf)),
            parent.with_edge_times(t, closed),
            parent.with_speed(3.1).with_edge_times(t, t),
        ]
        for copy in copies:
            alone = _plain(
                monkeypatch,
                "_SHARE_LINKS",
                lambda copy=copy: _graph.Network(
                    copy._node_table,
                    copy._edge_table,
                    mode=copy.mode,
                    speed_kmh=copy.speed_kmh,
                    straight=True,
                    crs=copy.crs,
                ),
            )
            assert copy.component is parent.component
            assert copy.edge_piece_tree is parent.edge_piece_tree
            assert np.array_equal(copy.component, alone.component)
            for name in ("csr", "csr_reverse"):
                _assert_same_matrix(getattr(copy, name), getattr(alone, name))
            a, b = copy.straight_edges, alone.straight_edges
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
            tree, edge, reach = copy.edge_piece_tree
            tree2, edge2, reach2 = alone.edge_piece_tree
            assert np.array_equal(tree.data, tree2.data) and np.array_equal(edge, edge2) and reach == reach2
        assert copies[0]._layouts is parent._layouts and copies[2]._layouts is not parent._layouts


def test_keys_sorted_with_their_positions_in_the_stable_order(andorra_parishes, monkeypatch):
    """Keys with their positions folded in sort into the stable order of the keys: on random keys
    with many ties, on keys too large to fold (the stable sort then), and for whole networks,
    whose edges (merged by node pair) are the same to the bit."""
    rng = np.random.default_rng(17)
    for key in (
        rng.integers(0, 50, 5000),
        rng.integers(0, 2**40, 3000),
        rng.integers(-5, 5, 1000),
        np.array([2**62, 1, 2**62, 0], dtype=np.int64),
        rng.integers(0, 7, 900).astype(np.uint32),
        np.array([3]),
        np.array([], dtype=np.int64),
    ):
        order, start = _graph._key_runs(key)
        assert np.array_equal(order, np.argsort(key, kind="stable"))
        ks = key[order]
        assert np.array_equal(start, np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])[: len(ks)])
    _, town_m, ext = andorra_parishes[1]
    for mode in ("walk", "drive"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            fast = mg.network.from_osm(ext, mode=mode, boundary=town_m, crs=town_m.crs)
            plain = _plain(
                monkeypatch,
                "_POSITION_KEYS",
                lambda mode=mode: mg.network.from_osm(ext, mode=mode, boundary=town_m, crs=town_m.crs),
            )
        for a, b in ((fast._edge_table, plain._edge_table), (fast._node_table, plain._node_table)):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            for c in a.columns:
                if a[c].dtype.kind == "f":
                    assert np.array_equal(a[c].to_numpy().view(np.int64), b[c].to_numpy().view(np.int64)), c
