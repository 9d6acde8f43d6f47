"""Road centrelines → networks: real OSM ways, damaged the way CAD centrelines are, must route
as the OSM network does (networkx on both), bridges stay apart, Chinese road classes get their speeds."""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Transformer

import mtown_geo as mg
from mtown_geo._lines import ROAD_CLASSES, LineNetwork, RepairReport, lines_to_network
from mtown_geo.network import mode_way_mask
from mtown_geo.standards import resolve

from .conftest import OSM_FILES, shared_path

WALK_M_PER_MIN = 4000.0 / 60.0
TOL_M = 1.0  # snap tolerance used in these tests
CUT_M = 0.01  # corner cut that takes a shared vertex out of a line


# -- real data --------------------------------------------------------------------------


def _osm_path(key: str) -> Path:
    if key == "karhula":
        return mg.demo_osm_path("karhula")
    return shared_path(OSM_FILES[key])


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        return fn(*args, **kw)


_CACHE: dict[tuple[str, str], tuple[gpd.GeoDataFrame, mg.Network]] = {}


def _ways_and_reference(key: str, mode: str = "walk") -> tuple[gpd.GeoDataFrame, mg.Network]:
    """The OSM ways a mode may use, as a line layer in the reference network's CRS, and the
    network mtown_geo.network.from_osm builds from the same file (the reference)."""
    if (key, mode) not in _CACHE:
        path = _osm_path(key)
        ref = _quiet(mg.network.from_osm, path, mode=mode)
        ex = mg.sources.read_osm(path)
        mask = mode_way_mask(ex.ways, resolve(None), mode)
        ways = ex.ways.loc[mask, ["osm_id", "highway", "name", "layer", "bridge", "tunnel", "oneway", "junction"]]
        lines = gpd.GeoDataFrame(
            ways.reset_index(drop=True), geometry=ex.way_lines()[mask].to_crs(ref.crs).to_numpy(), crs=ref.crs
        )
        _CACHE[(key, mode)] = (lines, ref)
    lines, ref = _CACHE[(key, mode)]
    return lines.copy(), ref


def _level_key(df: pd.DataFrame) -> pd.Series:
    return df["layer"].fillna("0").astype(str) + "|" + df["bridge"].notna().astype(str) + "|" + df["tunnel"].notna().astype(str)


def _unnoded_crossings(lines: gpd.GeoDataFrame) -> tuple[list[shapely.Point], list[shapely.Point]]:
    """Points where two ways cross without a shared vertex: (same level, different levels).
    Found pair by pair with shapely, independently of the code under test."""
    geoms = lines.geometry.to_numpy()
    level = _level_key(lines).to_numpy()
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    same, diff = [], []
    for i, j in zip(a, b, strict=True):
        if i >= j:
            continue
        shared = {tuple(c) for c in shapely.get_coordinates(geoms[i])} & {tuple(c) for c in shapely.get_coordinates(geoms[j])}
        for p in shapely.get_parts(shapely.intersection(geoms[i], geoms[j])):
            if p.geom_type != "Point":
                continue
            if any(math.dist(s, (p.x, p.y)) < 1e-6 for s in shared):
                continue
            (same if level[i] == level[j] else diff).append(p)
    return same, diff


# -- graphs compared with networkx ----------------------------------------------------------


def _reference_graph(ref: mg.Network, splits: list[shapely.Point] = (), *, m_per_unit: float = WALK_M_PER_MIN) -> nx.DiGraph:
    """The reference network as a networkx graph weighted by the planar length of its edges
    (by default in minutes at 4 km/h), with extra nodes where it must be split (crossings that meet)."""
    e = ref.edges
    lengths = shapely.length(e.geometry.to_numpy())
    g = nx.DiGraph()
    g.add_nodes_from((i, {"x": x, "y": y}) for i, x, y in zip(range(ref.n_nodes), ref.nodes["x"], ref.nodes["y"], strict=True))

    def add(u, v, w):
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(u, v, weight=w)

    two_way = np.isfinite(e["time_rev_min"].to_numpy())
    rows = list(zip(e["u"].tolist(), e["v"].tolist(), lengths.tolist(), two_way.tolist(), strict=True))
    split_of = {}
    for k, p in enumerate(splits):
        for idx in ref.edge_tree.query(p, predicate="dwithin", distance=1e-6):
            split_of.setdefault(int(idx), []).append((k, p))
    for idx, (u, v, length, both) in enumerate(rows):
        if idx not in split_of:
            add(u, v, length / m_per_unit)
            if both:
                add(v, u, length / m_per_unit)
            continue
        ux, uy = ref.nodes["x"].iat[u], ref.nodes["y"].iat[u]
        chain = (
            [u] + [("split", k) for k, p in sorted(split_of[idx], key=lambda kp: math.dist((ux, uy), (kp[1].x, kp[1].y)))] + [v]
        )
        for k, p in split_of[idx]:
            g.add_node(("split", k), x=p.x, y=p.y)
        for a, b in itertools.pairwise(chain):
            d = math.dist((g.nodes[a]["x"], g.nodes[a]["y"]), (g.nodes[b]["x"], g.nodes[b]["y"])) / m_per_unit
            add(a, b, d)
            if both:
                add(b, a, d)
    return g


def _nearest_nodes(net: mg.Network, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tree = shapely.STRtree(net.nodes.geometry.to_numpy())
    idx, dist = tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)
    out = np.full(len(xy), -1)
    out[idx[0]] = idx[1]
    d = np.full(len(xy), np.inf)
    d[idx[0]] = dist
    return out, d


def _compare_routes(ref_g: nx.DiGraph, net: mg.Network, *, n_sources: int, match_m: float, per_hop_m: float, seed: int = 7):
    """Shortest-path times from sampled sources to every node agree between the reference graph
    and the network's own networkx export (Network.to_networkx), node for node."""
    g = net.to_networkx()
    ref_nodes = [n for n in ref_g.nodes if not isinstance(n, tuple)]
    xy = np.array([(ref_g.nodes[n]["x"], ref_g.nodes[n]["y"]) for n in ref_nodes])
    mine, dist = _nearest_nodes(net, xy)
    assert dist.max() <= match_m, f"a reference node has no node within {match_m} m (max {dist.max():.4f} m)"
    node_of = dict(zip(ref_nodes, mine.tolist(), strict=True))
    rng = np.random.default_rng(seed)
    sources = rng.choice(len(ref_nodes), size=min(n_sources, len(ref_nodes)), replace=False)
    worst = 0.0
    compared = 0
    for s in sources:
        ref_len, ref_path = nx.single_source_dijkstra(ref_g, ref_nodes[s], weight="weight")
        got = nx.single_source_dijkstra_path_length(g, node_of[ref_nodes[s]], weight="time_min")
        reach_ref = {node_of[n] for n in ref_len if not isinstance(n, tuple)}
        assert reach_ref <= set(got), "nodes reachable on the reference are cut off"
        for n, t_ref in ref_len.items():
            if isinstance(n, tuple):
                continue
            t = got[node_of[n]]
            hops = len(ref_path[n]) - 1
            allowed_min = (1e-6 + per_hop_m * (hops + 1)) / WALK_M_PER_MIN
            worst = max(worst, abs(t - t_ref) * WALK_M_PER_MIN)
            assert abs(t - t_ref) <= allowed_min, (n, t, t_ref, hops)
            compared += 1
        # nothing becomes reachable that is not on the reference (no false joins)
        extra = {n for n in got if n in set(node_of.values())} - reach_ref
        assert not extra, f"{len(extra)} nodes reachable that the reference cannot reach"
    assert compared > 100
    return worst


# -- undamaged OSM ways ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["karhula", pytest.param("guixi_bz2", marks=pytest.mark.slow)])
def test_osm_ways_rebuild_the_osm_network(key):
    """Ways straight from OSM: the same graph as from_osm, except where two ways cross on one
    level without a shared node (an OSM mapping error), which the builder joins."""
    lines, ref = _ways_and_reference(key)
    same, diff = _unnoded_crossings(lines)
    net = _quiet(lines_to_network, lines, mode="walk", mode_filter=False)
    assert isinstance(net, LineNetwork) and isinstance(net.repairs, RepairReport)
    assert net.crs.equals(ref.crs)
    rep = net.repairs
    assert rep.crossings_split == len(same)
    assert rep.grade_separated == len(diff)
    assert rep.ends_snapped == rep.duplicates_dropped == rep.zero_length_dropped == rep.t_junctions_split == 0
    # every crossing point reported is one found by shapely, at the same place
    pts = rep.locations[rep.locations.kind == "crossing"].geometry.to_numpy()
    for p in same:
        assert shapely.distance(pts, p).min() < 2e-3
    assert net.n_nodes == ref.n_nodes + len(same)
    ref_g = _reference_graph(ref, same)
    worst = _compare_routes(ref_g, net, n_sources=15, match_m=1e-3, per_hop_m=2e-3)
    assert worst < 0.05
    assert net.length_km == pytest.approx(shapely.length(ref.edges.geometry.to_numpy()).sum() / 1000, rel=1e-6)


# -- damaged ways ---------------------------------------------------------------------------


def _merge_ways(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Merge ways of one road (same class, name and level) into long lines, as centrelines are drawn."""
    keys = ["highway", "name", "layer", "bridge", "tunnel"]
    rows = []
    for vals, grp in lines.fillna({k: "" for k in keys}).groupby(keys, dropna=False, sort=True):
        merged = shapely.line_merge(shapely.MultiLineString(list(grp.geometry)), directed=True)
        for part in shapely.get_parts(merged):
            rows.append({**dict(zip(keys, vals, strict=True)), "geometry": part})
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=lines.crs)
    return out.replace({k: {"": None} for k in keys})


def _cut_corners(lines: gpd.GeoDataFrame, eps: float) -> tuple[gpd.GeoDataFrame, list[tuple[tuple[float, float], int]], int]:
    """Take shared interior vertices out of lines: each becomes two vertices eps either side, so the
    lines cross near it without a common vertex. Only where every other line through the vertex
    either crosses the new chord or ends there. Returns the lines, the cut places with the number
    of lines crossing each chord, and the total of those crossings."""
    geoms = list(lines.geometry)
    coords = [shapely.get_coordinates(g) for g in geoms]
    owners: dict[tuple[float, float], set[int]] = {}
    for i, c in enumerate(coords):
        for xy in map(tuple, c):
            owners.setdefault(xy, set()).add(i)
    level = _level_key(lines).to_numpy()
    cut_places: list[tuple[tuple[float, float], int]] = []
    n_cross = 0
    done: set[tuple[float, float]] = set()
    for i, c in enumerate(coords):
        new = [c[0]]
        for k in range(1, len(c) - 1):
            j = tuple(c[k])
            others = owners[j] - {i}
            if j in done or not others or np.isclose(c[k - 1], c[k]).all() or np.isclose(c[k + 1], c[k]).all():
                new.append(c[k])
                continue
            din, dout = c[k] - c[k - 1], c[k + 1] - c[k]
            lin, lout = np.hypot(*din), np.hypot(*dout)
            if lin < 5 * eps or lout < 5 * eps:
                new.append(c[k])
                continue
            p1, p2 = c[k] - din / lin * eps, c[k] + dout / lout * eps
            chord = shapely.LineString([p1, p2])
            ok = True
            crossing = 0
            for o in others:
                oc = coords[o]
                ends = {tuple(oc[0]), tuple(oc[-1])}
                if j in ends:
                    continue
                if level[o] != level[i] or not chord.crosses(geoms[o]):
                    ok = False
                    break
                crossing += 1
            if not ok:
                new.append(c[k])
                continue
            new.extend([p1, p2])
            done.add(j)
            cut_places.append((j, crossing))
            n_cross += crossing
        new.append(c[-1])
        geoms[i] = shapely.LineString(new)
    out = lines.copy()
    out["geometry"] = geoms
    return out, cut_places, n_cross


def _nudge_ends(lines: gpd.GeoDataFrame, tol: float, rng: np.random.Generator, n: int):
    """Move up to n line ends that meet other lines at a junction by 0.2–0.8 tol, where nothing
    else lies within 2.5 tol (so the nearest place to snap back to is the junction itself)."""
    geoms = list(lines.geometry)
    tree = shapely.STRtree(geoms)
    all_xy = np.concatenate([shapely.get_coordinates(g) for g in geoms])
    vtree = shapely.STRtree(shapely.points(all_xy))
    nudged = []
    order = rng.permutation(len(geoms))
    used: set[tuple[float, float]] = set()
    for i in order:
        if len(nudged) >= n:
            break
        c = shapely.get_coordinates(geoms[i])
        if len(c) < 3 or shapely.length(geoms[i]) < 10 * tol:
            continue
        which = int(rng.integers(2))
        e = c[0] if which == 0 else c[-1]
        if tuple(e) in used:
            continue
        p = shapely.Point(e)
        near_lines = [j for j in tree.query(p, predicate="dwithin", distance=2.5 * tol) if j != i]
        if not near_lines or any(shapely.distance(geoms[j], p) > 0 for j in near_lines):
            continue
        near_v = all_xy[vtree.query(p, predicate="dwithin", distance=2.5 * tol)]
        own = {tuple(x) for x in c}
        if any(tuple(v) != tuple(e) and tuple(v) not in own for v in near_v):
            continue
        # the junction must be fixed by a line passing through it (an inside vertex of another
        # line); where only ends meet, the ends left there may as well move onto the nudged one
        if not any(tuple(e) in {tuple(x) for x in shapely.get_coordinates(geoms[j])[1:-1]} for j in near_lines):
            continue
        ang = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(0.2, 0.8) * tol
        moved = e + dist * np.array([np.cos(ang), np.sin(ang)])
        c = c.copy()
        c[0 if which == 0 else -1] = moved
        geoms[i] = shapely.LineString(c)
        used.add(tuple(e))
        nudged.append((tuple(e), dist))
    out = lines.copy()
    out["geometry"] = geoms
    return out, nudged


def _damage(lines: gpd.GeoDataFrame, seed: int = 3):
    rng = np.random.default_rng(seed)
    merged = _merge_ways(lines)
    cut, cut_places, n_cross = _cut_corners(merged, CUT_M)
    nudged_lines, nudged = _nudge_ends(cut, TOL_M, rng, n=25)
    rows = nudged_lines.reset_index(drop=True)
    # duplicates: copies of 12 lines, every other one drawn the other way round
    dup_idx = rng.choice(len(rows), size=12, replace=False)
    dups = rows.iloc[dup_idx].copy()
    dups["geometry"] = [g if k % 2 else g.reverse() for k, g in enumerate(dups.geometry)]
    # zero-length pieces at 9 vertices
    zero_src = rows.iloc[rng.choice(len(rows), size=9, replace=False)].copy()
    zero_src["geometry"] = [shapely.LineString([g.coords[1], g.coords[1]]) for g in zero_src.geometry]
    damaged = pd.concat([rows, dups, zero_src], ignore_index=True)
    # multi-lines: pairs of lines of one road stored as one MultiLineString row
    keys = ["highway", "name", "layer", "bridge", "tunnel"]
    grouped = damaged.iloc[: len(rows)].fillna({k: "" for k in keys}).groupby(keys).indices
    multi_rows, drop = [], []
    for idx in grouped.values():
        if len(idx) >= 2 and len(multi_rows) < 10:
            a, b = int(idx[0]), int(idx[1])
            row = damaged.iloc[a].copy()
            row["geometry"] = shapely.MultiLineString([damaged.geometry.iat[a], damaged.geometry.iat[b]])
            multi_rows.append(row)
            drop += [a, b]
    damaged = pd.concat([damaged.drop(index=drop), pd.DataFrame(multi_rows)], ignore_index=True)
    damaged = gpd.GeoDataFrame(damaged, geometry="geometry", crs=lines.crs)
    damaged = damaged.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return damaged, {
        "cuts": cut_places,
        "crossings": n_cross,
        "nudged": nudged,
        "dups": len(dups),
        "zero": len(zero_src),
        "multi": len(multi_rows),
    }


@pytest.mark.parametrize("key", ["karhula", pytest.param("guixi_bz2", marks=pytest.mark.slow)])
def test_damaged_centrelines_route_like_the_osm_network(key):
    lines, ref = _ways_and_reference(key)
    same, diff = _unnoded_crossings(lines)
    damaged, made = _damage(lines)
    assert made["crossings"] > 20 and len(made["nudged"]) >= 10 and made["multi"] >= 3
    before = damaged.copy()
    with pytest.warns(mg.RepairWarning, match="repaired"), warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = lines_to_network(damaged, mode="walk", snap_tol_m=TOL_M, mode_filter=False)
    pd.testing.assert_frame_equal(damaged, before)  # the input is not changed
    rep = net.repairs
    summary = rep.summary()
    assert summary["duplicate"] == rep.duplicates_dropped and summary["crossing"] == rep.crossings_split
    assert summary["lines"] == len(damaged) and f"{made['dups']} duplicate" in repr(rep)
    assert rep.duplicates_dropped == made["dups"]
    assert rep.zero_length_dropped == made["zero"]
    assert rep.n_parts == len(damaged) + made["multi"]
    # every cut vertex became a crossing split near it (one per line crossing its chord), and the
    # crossing OSM itself lacks was split too. Where lines ended at the cut vertex, their ends are
    # joined to the chord's ends, which may make one more crossing there.
    cross_pts = rep.locations[rep.locations.kind == "crossing"].geometry.to_numpy()
    joined_pts = rep.locations[rep.locations.kind.isin(["snapped_end", "t_junction"])].geometry.to_numpy()
    for j, n in made["cuts"]:
        got = int((shapely.distance(cross_pts, shapely.Point(j)) <= 2 * CUT_M).sum())
        assert n <= got <= n + 1, (j, n, got)
        if got > n or n == 0:
            assert shapely.distance(joined_pts, shapely.Point(j)).min() <= 2 * CUT_M
    for p in same:
        assert shapely.distance(cross_pts, p).min() < 2e-3
    assert rep.crossings_split >= made["crossings"] + len(same)
    # every nudged end was moved back exactly onto its junction
    snapped = rep.locations[rep.locations.kind == "snapped_end"]
    for xy, dist in made["nudged"]:
        d = shapely.distance(snapped.geometry.to_numpy(), shapely.Point(xy))
        k = int(np.argmin(d))
        assert d[k] < 2e-3
        assert snapped["dist_m"].iat[k] == pytest.approx(dist, abs=2e-3)
    assert rep.grade_separated == len(diff)
    ref_g = _reference_graph(ref, same)
    worst = _compare_routes(ref_g, net, n_sources=15, match_m=2 * CUT_M, per_hop_m=3 * CUT_M)
    assert worst < 1.0
    # the repaired network has the reference's length within the corner cuts (≤ 2 cm per cut)
    ref_km = shapely.length(ref.edges.geometry.to_numpy()).sum() / 1000
    assert abs(net.length_km - ref_km) * 1000 <= 4 * CUT_M * len(made["cuts"]) + 1e-3


def test_ends_beyond_the_tolerance_stay_apart():
    """An end nudged farther than snap_tol_m is not joined; within it, it is."""
    lines, _ref = _ways_and_reference("karhula")
    rng = np.random.default_rng(11)
    moved, nudged = _nudge_ends(lines, 1.0, rng, n=5)
    assert len(nudged) == 5
    near = _quiet(lines_to_network, moved, mode="walk", snap_tol_m=1.0, mode_filter=False)
    assert near.repairs.ends_snapped == 5
    at_junctions = shapely.points([xy for xy, _ in nudged])
    snapped = near.repairs.locations.query("kind == 'snapped_end'")
    assert (shapely.distance(at_junctions[:, None], snapped.geometry.to_numpy()[None, :]).min(axis=1) < 2e-3).all()
    # with a tolerance below the smallest gap, no end goes back to its junction
    smallest = min(d for _, d in nudged)
    far = _quiet(lines_to_network, moved, mode="walk", snap_tol_m=smallest * 0.9, mode_filter=False)
    moved_to = far.repairs.locations.query("kind == 'snapped_end'")
    assert len(moved_to) < 5
    if len(moved_to):
        assert shapely.distance(at_junctions[:, None], moved_to.geometry.to_numpy()[None, :]).min() > 1e-2
        assert (moved_to["dist_m"] <= smallest * 0.9).all()
    assert far.n_nodes > near.n_nodes


# -- grade separation ------------------------------------------------------------------------


def _planar_digraph(net: mg.Network) -> nx.DiGraph:
    """A networkx graph of a network weighted by the planar length of its edge geometries (m)."""
    g = nx.DiGraph()
    lengths = shapely.length(net.edges.geometry.to_numpy())
    back = np.isfinite(net.edges["time_rev_min"].to_numpy())
    for u, v, length, both in zip(net.edges.u.tolist(), net.edges.v.tolist(), lengths.tolist(), back.tolist(), strict=True):
        for a, b in ((u, v), (v, u)) if both else ((u, v),):
            if not g.has_edge(a, b) or g[a][b]["weight"] > length:
                g.add_edge(a, b, weight=length)
    return g


def _vertex_before(net: mg.Network, edges: pd.DataFrame, p: shapely.Point) -> int:
    """Of the edges passing a point, the end node with the smallest x (the same vertex in any network)."""
    e = edges[edges.geometry.dwithin(p, 1e-3)]
    assert len(e), "no edge of the line at the crossing"
    nodes = np.unique(np.concatenate([e["u"].to_numpy(), e["v"].to_numpy()]))
    nodes = nodes[shapely.distance(net.nodes.geometry.to_numpy()[nodes], p) > 1e-2]
    return int(nodes[np.argmin(net.nodes["x"].to_numpy()[nodes])])


def test_bridge_over_a_road_stays_unconnected():
    """Guixi: bridges (layer=1, bridge=yes) cross roads without meeting them. Kept apart, the
    network distance between the two lines beside the crossing is what the OSM network says (the
    long way round); read without the level fields, the lines are joined at the crossing point."""
    lines, ref = _ways_and_reference("guixi_bz2")
    _same, diff = _unnoded_crossings(lines)
    assert len(diff) >= 5
    apart = _quiet(lines_to_network, lines, mode="walk", mode_filter=False)
    joined = _quiet(lines_to_network, lines, mode="walk", mode_filter=False, level_col=None, bridge_col=None, tunnel_col=None)
    g_ref, g_apart, g_joined = _planar_digraph(ref), _planar_digraph(apart), _planar_digraph(joined)
    geoms = lines.geometry.to_numpy()
    for p in diff:
        on = np.flatnonzero(shapely.distance(geoms, p) < 1e-6)
        assert len(on) == 2
        i, j = (int(k) for k in on)
        assert _level_key(lines.iloc[[i]]).iat[0] != _level_key(lines.iloc[[j]]).iat[0]
        ri = _vertex_before(ref, ref.edges[ref.edges.osm_id == lines.osm_id.iat[i]], p)
        rj = _vertex_before(ref, ref.edges[ref.edges.osm_id == lines.osm_id.iat[j]], p)
        ai = _vertex_before(apart, apart.edges[apart.edges.line == i], p)
        aj = _vertex_before(apart, apart.edges[apart.edges.line == j], p)
        assert math.dist(ref.nodes.loc[ri, ["x", "y"]], apart.nodes.loc[ai, ["x", "y"]]) < 1e-3
        d_ref = nx.shortest_path_length(g_ref, ri, rj, weight="weight") if nx.has_path(g_ref, ri, rj) else math.inf
        d_apart = nx.shortest_path_length(g_apart, ai, aj, weight="weight") if nx.has_path(g_apart, ai, aj) else math.inf
        assert d_apart == pytest.approx(d_ref, rel=1e-9)
        # joined: the crossing point is a node on both lines, and the way across is the short one
        ji = _vertex_before(joined, joined.edges[joined.edges.line == i], p)
        jj = _vertex_before(joined, joined.edges[joined.edges.line == j], p)
        at_p = int(np.argmin(shapely.distance(joined.nodes.geometry.to_numpy(), p)))
        assert shapely.distance(joined.nodes.geometry.iat[at_p], p) < 2e-3
        on_i = joined.edges[(joined.edges.line == i) & ((joined.edges.u == at_p) | (joined.edges.v == at_p))]
        on_j = joined.edges[(joined.edges.line == j) & ((joined.edges.u == at_p) | (joined.edges.v == at_p))]
        assert len(on_i) and len(on_j)
        d_joined = nx.shortest_path_length(g_joined, ji, jj, weight="weight")
        straight = math.dist(joined.nodes.loc[ji, ["x", "y"]], (p.x, p.y)) + math.dist(
            joined.nodes.loc[jj, ["x", "y"]], (p.x, p.y)
        )
        assert d_joined == pytest.approx(straight, abs=5e-3)
        assert d_joined < d_ref
    # the report lists every crossing kept apart, at its place
    loc = apart.repairs.locations
    pts = loc[loc.kind == "grade_separated"].geometry.to_numpy()
    for p in diff:
        assert shapely.distance(pts, p).min() < 2e-3


def test_elevated_road_drawn_over_a_ground_road():
    """An elevated road whose centreline lies exactly on the ground road (same vertices) is not
    a duplicate and meets the ground road only at its ends (its ramps)."""
    lines, _ref = _ways_and_reference("guixi_bz2")
    road = lines[(lines.highway == "primary") & lines.layer.isna() & lines.bridge.isna()].copy()
    road = road[shapely.get_num_coordinates(road.geometry.to_numpy()) >= 6].iloc[[0]]
    coords = shapely.get_coordinates(road.geometry.iat[0])
    elevated = road.copy()
    elevated["layer"] = "1"
    elevated["bridge"] = "viaduct"
    elevated["geometry"] = [shapely.LineString(coords[1:-1])]  # ramps land on interior vertices of the road
    net = _quiet(lines_to_network, pd.concat([road, elevated], ignore_index=True), mode="walk")
    assert net.repairs.duplicates_dropped == 0
    # interior vertices shared on two levels are two nodes; the elevated road's two ends are shared
    n_shared_interior = len(coords) - 4
    assert net.n_nodes == len(coords) + n_shared_interior
    assert net.repairs.grade_separated == n_shared_interior
    g = net.to_networkx()
    assert nx.is_weakly_connected(g)


# -- speeds and one-way ------------------------------------------------------------------------

# CJJ 37-2012 / highway classes in Chinese and the drive speeds the default profile gives their
# OSM equivalents (zhejiang-2023, modes.drive.speed_by_highway_kmh), read by hand from the YAML.
CHINESE = {
    "primary": ("主干路", 50.0),
    "secondary": ("次干路", 40.0),
    "tertiary": ("支路", 30.0),
    "unclassified": ("村道", 30.0),
    "residential": ("小区道路", 20.0),
    "living_street": ("街巷", 10.0),
    "secondary_link": ("匝道", 40.0),  # → motorway_link (40 km/h)
}


def _chinese_drive_layer():
    lines, ref = _ways_and_reference("guixi_bz2", mode="drive")
    out = lines.copy()
    out["道路等级"] = [CHINESE.get(h, (h, None))[0] for h in out["highway"]]
    ow = out["oneway"].fillna("").str.lower()
    rb = out["junction"].isin(["roundabout", "circular"]) & (ow != "no")
    out["单行"] = np.where(ow.isin(["yes", "true", "1"]) | rb, "是", np.where(ow == "-1", "反向", "否"))
    out = out.drop(columns=["highway", "oneway"])
    return out, ref


def test_chinese_road_classes_get_the_mapped_speeds():
    layer, _ref = _chinese_drive_layer()
    net = _quiet(lines_to_network, layer, mode="drive", class_col="道路等级", oneway_col="单行")
    e = net.edges
    expected = {zh: kmh for zh, kmh in CHINESE.values()}
    assert set(e["road_class"]) >= {"主干路", "次干路", "支路"}
    for zh, kmh in expected.items():
        sel = e["road_class"] == zh
        if sel.any():
            assert np.allclose(e.loc[sel, "speed_kmh"], kmh), zh
    # minutes = metres / (km/h × 1000 / 60), by hand
    assert np.allclose(e["time_min"], e["length_m"] / (e["speed_kmh"] * 1000 / 60))
    # a user mapping overrides one class (as written) and one OSM class (for every class mapping to it)
    net2 = _quiet(
        lines_to_network, layer, mode="drive", class_col="道路等级", oneway_col="单行", speeds_kmh={"主干路": 45, "tertiary": 25}
    )
    e2 = net2.edges
    assert np.allclose(e2.loc[e2.road_class == "主干路", "speed_kmh"], 45)
    assert np.allclose(e2.loc[e2.road_class == "支路", "speed_kmh"], 25)
    assert np.allclose(e2.loc[e2.road_class == "次干路", "speed_kmh"], 40)


def test_every_listed_chinese_class_is_known():
    for zh in ["快速路", "主干路", "次干路", "支路", "国道", "省道", "县道", "乡道", "村道", "街巷", "城市主干路"]:
        from mtown_geo._lines import _norm_class, _osm_class

        assert _osm_class(_norm_class(zh)) is not None, zh
    assert ROAD_CLASSES["主干路"] == "primary" and ROAD_CLASSES["国道"] == "trunk"


def test_unknown_classes_are_reported_and_take_the_base_speed():
    layer, _ref = _chinese_drive_layer()
    layer.loc[layer.index[:7], "道路等级"] = "景观大道"
    with pytest.warns(mg.RepairWarning, match="景观大道"), warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = lines_to_network(layer, mode="drive", class_col="道路等级", oneway_col="单行")
    assert net.repairs.unknown_classes == {"景观大道": 7}
    e = net.edges
    assert np.allclose(e.loc[e.road_class == "景观大道", "speed_kmh"], resolve(None).mode("drive").speed_kmh)
    assert (net.repairs.locations.kind == "unknown_class").sum() == 7


def test_one_way_field_gives_the_osm_directed_network():
    """Drive network from Chinese one-way values (是/反向/否): directed shortest path lengths equal
    those of from_osm's drive network (networkx on both, node for node)."""
    layer, ref = _chinese_drive_layer()
    net = _quiet(lines_to_network, layer, mode="drive", class_col="道路等级", oneway_col="单行")
    assert net.directed and int(net.edges.oneway.sum()) > 50
    same, _ = _unnoded_crossings(layer)
    # reference: from_osm's directed graph (planar edge lengths), split where ways cross unnoded
    ref_g = _reference_graph(ref, same, m_per_unit=1.0)
    g = _planar_digraph(net)
    ref_nodes = list(range(ref.n_nodes))
    mine, dist = _nearest_nodes(net, ref.nodes[["x", "y"]].to_numpy())
    assert dist.max() < 1e-3
    rng = np.random.default_rng(5)
    compared = 0
    for s in rng.choice(ref.n_nodes, size=12, replace=False):
        d_ref = nx.single_source_dijkstra_path_length(ref_g, int(s), weight="weight")
        d = nx.single_source_dijkstra_path_length(g, int(mine[s]), weight="weight")
        reach_ref = {int(mine[n]) for n in d_ref if not isinstance(n, tuple)}
        assert reach_ref == set(d) & set(mine[ref_nodes].tolist())
        for n, length in d_ref.items():
            if not isinstance(n, tuple):
                assert d[int(mine[n])] == pytest.approx(length, rel=1e-9, abs=1e-4)
                compared += 1
    assert compared > 1000
    # Geofabrik's convention (F along the line, T against it, B both ways) gives the same network
    gf = layer.assign(oneway_gf=layer["单行"].map({"是": "F", "反向": "T", "否": "B"}))
    net_gf = _quiet(lines_to_network, gf, mode="drive", class_col="道路等级", oneway_col="oneway_gf")
    pd.testing.assert_frame_equal(
        pd.DataFrame(net_gf.edges[["u", "v", "length_m", "time_min", "time_rev_min"]]),
        pd.DataFrame(net.edges[["u", "v", "length_m", "time_min", "time_rev_min"]]),
    )
    # the same layer read for walking ignores one-way
    walk = _quiet(lines_to_network, layer, mode="walk", class_col="道路等级", oneway_col="单行")
    assert not walk.directed


def test_oneway_values_that_say_nothing_are_an_error():
    layer, _ = _chinese_drive_layer()
    layer.loc[layer.index[:3], "单行"] = "maybe"
    with pytest.raises(mg.InputError, match="maybe"):
        lines_to_network(layer, mode="drive", class_col="道路等级", oneway_col="单行")
    layer["单行"] = np.where(layer["单行"] == "是", "T", "F")
    with pytest.raises(mg.InputError, match="oneway_values"):
        lines_to_network(layer, mode="drive", class_col="道路等级", oneway_col="单行")
    net = _quiet(
        lines_to_network, layer, mode="drive", class_col="道路等级", oneway_col="单行", oneway_values={"T": "yes", "F": "no"}
    )
    assert net.directed


def test_mode_filter_leaves_out_classes_the_mode_may_not_use():
    lines, _ = _ways_and_reference("karhula")
    lines.loc[lines.index[:4], "highway"] = "高速公路"
    net = _quiet(lines_to_network, lines, mode="walk")
    assert net.repairs.excluded_classes.get("高速公路") == 4
    assert not (net.edges["line"].isin(lines.index[:4])).any()
    kept = _quiet(lines_to_network, lines, mode="walk", mode_filter=False)
    assert kept.edges["line"].isin(lines.index[:4]).any()


# -- CRS -----------------------------------------------------------------------------------------


def test_geographic_and_web_mercator_input_are_measured_in_the_metric_crs():
    lines, _ = _ways_and_reference("guixi_bz2")
    base = _quiet(lines_to_network, lines, mode="walk", mode_filter=False)
    for epsg in (4326, 3857):
        other = _quiet(lines_to_network, lines.to_crs(epsg), mode="walk", mode_filter=False)
        assert other.crs.to_epsg() == mg.crs.metric_crs(lines).to_epsg() == 4548
        assert other.length_km == pytest.approx(base.length_km, rel=1e-6)
        assert other.n_nodes == base.n_nodes
    # a CRS asked for is used
    utm = _quiet(lines_to_network, lines, mode="walk", mode_filter=False, crs=32650)
    assert utm.crs.equals(CRS.from_epsg(32650))
    # planar UTM lengths differ from Gauss–Krüger ones by the scale factor of UTM (0.9996) only
    assert utm.length_km == pytest.approx(base.length_km, rel=2e-3)


# -- bad input -------------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors():
    lines, _ = _ways_and_reference("karhula")
    with pytest.raises(mg.CRSError, match="no CRS"):
        lines_to_network(gpd.GeoDataFrame(lines.drop(columns="geometry"), geometry=list(lines.geometry)))
    with pytest.raises(mg.InputError, match="not lines"):
        lines_to_network(lines.assign(geometry=lines.buffer(3)))
    with pytest.raises(mg.InputError, match="empty"):
        lines_to_network(lines.iloc[:0])
    with pytest.raises(mg.NetworkError, match="unknown mode"):
        lines_to_network(lines, mode="fly")
    with pytest.raises(mg.InputError, match="道路等级"):
        lines_to_network(lines, class_col="道路等级")
    with pytest.raises(mg.InputError, match="snap_tol_m"):
        lines_to_network(lines, snap_tol_m=-1)
    with pytest.raises(mg.InputError, match="speeds_kmh"):
        lines_to_network(lines, speeds_kmh={"primary": 0})
    with pytest.raises(mg.InputError, match="speed"):
        lines_to_network(lines.assign(v="fast"), speed_col="v")
    with pytest.raises(mg.InputError, match="speed group"):
        lines_to_network(lines, group="teenager")
    with pytest.raises(mg.CRSError):
        lines_to_network(lines, crs=4326)
    with pytest.raises(mg.InputError, match="GeoDataFrame"):
        lines_to_network(list(lines.geometry))
    only_zero = lines.iloc[:3].assign(geometry=[shapely.LineString([g.coords[0], g.coords[0]]) for g in lines.geometry[:3]])
    with pytest.raises(mg.NetworkError, match="no line"):
        _quiet(lines_to_network, only_zero)


def test_speed_column_overrides_class_speeds():
    layer, _ = _chinese_drive_layer()
    layer["设计速度"] = np.where(layer["道路等级"] == "主干路", 60.0, np.nan)
    net = _quiet(lines_to_network, layer, mode="drive", class_col="道路等级", oneway_col="单行", speed_col="设计速度")
    e = net.edges
    assert np.allclose(e.loc[e.road_class == "主干路", "speed_kmh"], 60)
    assert np.allclose(e.loc[e.road_class == "次干路", "speed_kmh"], 40)


def test_geoseries_input_and_empty_rows():
    lines, _ = _ways_and_reference("karhula")
    series = lines.geometry.copy()
    series.iloc[:3] = None
    net = _quiet(lines_to_network, series, mode="walk")
    assert net.repairs.n_empty == 3
    assert set(net.edges["line"]) <= set(range(3, len(series)))


# -- what the repair leaves open: near-misses, cut-off pieces, bridges without levels ----------------

GAP_M = 1.5  # the gap a draughtsman leaves: beyond the 1 m snap tolerance, within 3 of it


def _spur_ends(lines: gpd.GeoDataFrame) -> list[tuple[int, int]]:
    """(line, end) of lines joined to the rest only at that end: a dead end at the other end, no
    other line through their inside. Cutting that end back cuts the line off the network."""
    geoms = lines.geometry.to_numpy()
    coords = [shapely.get_coordinates(g) for g in geoms]
    owners: dict[tuple[float, float], set[int]] = {}
    for i, c in enumerate(coords):
        for xy in map(tuple, c):
            owners.setdefault(xy, set()).add(i)
    tree = shapely.STRtree(geoms)
    out = []
    for i, c in enumerate(coords):
        for end, (e, far) in enumerate(((c[0], c[-1]), (c[-1], c[0]))):
            if owners[tuple(e)] == {i} or owners[tuple(far)] != {i}:
                continue
            if any(owners[tuple(v)] != {i} for v in c[1:-1]):
                continue
            others = [j for j in tree.query(geoms[i], predicate="intersects") if j != i]
            if all(shapely.equals(shapely.intersection(geoms[i], geoms[j]), shapely.Point(e)) for j in others):
                out.append((i, end))
    return out


def _cut_back(lines: gpd.GeoDataFrame, i: int, end: int, dist_m: float) -> tuple[gpd.GeoDataFrame, shapely.Point]:
    """Shorten line i at one end by dist_m along its first segment; the new end point."""
    c = shapely.get_coordinates(lines.geometry.iat[i])
    c = c if end == 0 else c[::-1]
    step = (c[1] - c[0]) / np.hypot(*(c[1] - c[0]))
    c = np.vstack([c[0] + step * dist_m, c[1:]])
    c = c if end == 0 else c[::-1]
    out = lines.copy()
    out.loc[out.index[i], "geometry"] = shapely.LineString(c)
    return out, shapely.Point(c[0] if end == 0 else c[-1])


def _gaps(lines: gpd.GeoDataFrame) -> list[tuple[int, float, shapely.Point]]:
    """Every line end that touches no other line, with its distance to the nearest other line
    (shapely, line by line: independent of the builder)."""
    geoms = lines.geometry.to_numpy()
    out = []
    for i, g in enumerate(geoms):
        others = np.delete(geoms, i)
        for p in (shapely.Point(g.coords[0]), shapely.Point(g.coords[-1])):
            d = float(shapely.distance(others, p).min())
            if d > 1.5e-3:
                out.append((i, d, p))
    return out


def test_a_near_miss_gap_is_listed_where_it_is_and_names_the_piece_it_cuts_off():
    """Guixi's walk ways form one piece. One residential spur cut back 1.5 m from its junction: the
    gap is beyond the 1 m tolerance, so it stays open — listed with its place, its width and the line
    it misses, warned, and the piece it cuts off named; a 2 m tolerance closes it."""
    lines, _ = _ways_and_reference("guixi_bz2")
    whole = _quiet(lines_to_network, lines, mode="walk", mode_filter=False)
    assert whole.n_components == 1 and whole.repairs.near_misses == 0
    i, end = next((i, e) for i, e in _spur_ends(lines) if lines.geometry.iat[i].length > 100)
    cut, new_end = _cut_back(lines, i, end, GAP_M)
    # the independent view: the one open end within 3 m of another line is the cut one
    near = [(k, d, p) for k, d, p in _gaps(cut) if TOL_M < d <= 3.0]
    assert len(near) == 1 and near[0][0] == i and near[0][2].equals(new_end)
    gap = near[0][1]
    assert gap == pytest.approx(GAP_M, abs=0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = lines_to_network(cut, mode="walk", mode_filter=False, snap_tol_m=TOL_M)
    rep = net.repairs
    listed = rep.locations[rep.locations["kind"] == "near_miss"]
    assert rep.near_misses == 1 and rep.near_miss_m == 3.0 and rep.ends_snapped == 0
    row = listed.iloc[0]
    assert row["line"] == cut.index[i] and row["dist_m"] == pytest.approx(gap, abs=2e-3)
    assert shapely.distance(row.geometry, new_end) < 2e-3
    touching = [j for j in range(len(cut)) if j != i and shapely.distance(cut.geometry.iat[j], new_end) <= gap + 1e-6]
    assert row["other"] in set(cut.index[touching])
    lon, lat = Transformer.from_crs(cut.crs, 4326, always_xy=True).transform(new_end.x, new_end.y)
    repair = [str(w.message) for w in caught if issubclass(w.category, mg.RepairWarning)]
    assert len(repair) == 1 and "left open" in repair[0] and f"{lon:.6f}, {lat:.6f}" in repair[0]
    # two pieces (networkx on the edges), the small one the spur minus the gap, named in the warning
    g = nx.Graph()
    g.add_edges_from(zip(net.edges["u"], net.edges["v"], strict=True))
    pieces = sorted(nx.connected_components(g), key=len)
    assert len(pieces) == net.n_components == 2
    small = net.edges[net.edges["u"].isin(pieces[0])]
    spur_m = lines.geometry.iat[i].length - GAP_M
    assert small["length_m"].sum() == pytest.approx(spur_m, abs=1e-3)
    cut_off = [str(w.message) for w in caught if issubclass(w.category, mg.DisconnectedNetworkWarning)]
    assert len(cut_off) == 1 and "2 pieces" in cut_off[0] and f"{spur_m:.0f} m at" in cut_off[0]
    assert "1 of the near-misses listed in network.repairs would join two pieces" in cut_off[0]
    # a tolerance above the gap closes it: one piece, the end snapped; the ends now listed are the
    # real dead ends 2–6 m from another line (3 × the tolerance), as shapely finds them
    closed = _quiet(lines_to_network, cut, mode="walk", mode_filter=False, snap_tol_m=2.0)
    assert closed.n_components == 1 and closed.repairs.ends_snapped == 1
    wider = closed.repairs.locations[closed.repairs.locations["kind"] == "near_miss"]
    expected = [(k, d, p) for k, d, p in _gaps(cut) if 2.0 < d <= 6.0]
    assert len(wider) == len(expected) and closed.repairs.near_miss_m == 6.0
    for k, d, p in expected:
        hit = wider[shapely.distance(wider.geometry.to_numpy(), p) < 2e-3]
        assert len(hit) == 1 and hit["line"].iat[0] == cut.index[k] and hit["dist_m"].iat[0] == pytest.approx(d, abs=2e-3)


def test_every_cut_off_piece_is_named_with_its_length_and_place():
    """Karhula's walk ways fall into 10 pieces (networkx agrees): the warning names the cut-off
    pieces, largest first, each with its length and a lon/lat on it."""
    lines, _ = _ways_and_reference("karhula")
    with pytest.warns(mg.DisconnectedNetworkWarning) as record:
        net = lines_to_network(lines, mode="walk", mode_filter=False)
    g = nx.Graph()
    g.add_edges_from(zip(net.edges["u"], net.edges["v"], strict=True))
    g.add_nodes_from(range(net.n_nodes))
    assert nx.number_connected_components(g) == net.n_components == 10
    msg = next(str(w.message) for w in record if issubclass(w.category, mg.DisconnectedNetworkWarning))
    comps = net.components()
    shown = msg.split("cut off from it (length, lon, lat): ")[1].split(". Places")[0].split("; ")
    assert shown[-1] == "and 4 more" and len(shown) == 6
    comp = net.component
    for k, text in enumerate(shown[:5], start=1):
        length, place = text.split(" m at ")
        assert float(length) == pytest.approx(comps["length_km"].iloc[k] * 1000, abs=0.5)
        lon, lat = (float(v) for v in place.split(", "))
        x, y = Transformer.from_crs(4326, net.crs, always_xy=True).transform(lon, lat)
        nearest = int(np.argmin(np.hypot(net.nodes["x"] - x, net.nodes["y"] - y)))
        assert comp[nearest] == k  # the place lies on that piece


def test_bridge_classes_without_a_level_column_are_warned():
    """Guixi's bridges (bridge=yes, layer=1) as a planner's layer would class them, 桥梁, with the
    level and bridge fields dropped: warned, with the crossings that were joined counted (shapely)."""
    lines, _ = _ways_and_reference("guixi_bz2")
    _same, diff = _unnoded_crossings(lines)
    is_bridge = lines["bridge"].notna().to_numpy()
    geoms = lines.geometry.to_numpy()
    via_bridge = [p for p in diff if is_bridge[np.flatnonzero(shapely.distance(geoms, p) < 1e-6)].any()]
    assert len(via_bridge) >= 5
    layer = lines.assign(道路等级=np.where(is_bridge, "桥梁", lines["highway"])).drop(columns=["layer", "bridge", "tunnel"])
    with pytest.warns(mg.RepairWarning) as record:
        flat = lines_to_network(layer, mode="walk", mode_filter=False, class_col="道路等级")
    rep = flat.repairs
    assert rep.bridges_without_levels and rep.bridge_classes == {"桥梁": int(is_bridge.sum())}
    assert rep.level_columns == () and rep.bridge_crossings_joined == len(via_bridge)
    msg = " ".join(str(w.message) for w in record)
    assert f"桥梁: {int(is_bridge.sum())} lines" in msg and f"{len(via_bridge)} crossings joined" in msg and "bridge_col" in msg
    # with the bridge column named: kept apart, no warning about it
    kept = _quiet(lines_to_network, layer.assign(bridge=lines["bridge"]), mode="walk", mode_filter=False, class_col="道路等级")
    assert not kept.repairs.bridges_without_levels and kept.repairs.level_columns == ("bridge",)
    assert kept.repairs.bridge_crossings_joined == 0 and kept.repairs.grade_separated >= len(via_bridge)
    # English classes as words: viaduct and ramp are bridges, a trampoline path is not
    words = lines.assign(cls=np.where(is_bridge, "Viaduct", "footway")).drop(columns=["layer", "bridge", "tunnel"])
    words.loc[words.index[0], "cls"] = "trampoline path"
    assert _quiet(lines_to_network, words, mode="walk", mode_filter=False, class_col="cls").repairs.bridge_classes == {
        "Viaduct": int(is_bridge.sum())
    }


def test_a_run_on_centrelines_notes_the_gap_the_piece_and_the_bridges(tmp_path):
    """The study's own lines (Guixi's ways with the spur cut back, bridges classed 桥梁, no level
    fields): the run's notes carry the near-miss, the cut-off piece and the bridge warning."""
    lines, _ = _ways_and_reference("guixi_bz2")
    i, end = next((i, e) for i, e in _spur_ends(lines) if lines.geometry.iat[i].length > 100)
    cut, new_end = _cut_back(lines, i, end, GAP_M)
    layer = cut.assign(道路等级=np.where(cut["bridge"].notna(), "桥梁", cut["highway"])).drop(
        columns=["layer", "bridge", "tunnel", "highway"]
    )
    layer.to_file(tmp_path / "道路中心线.gpkg", driver="GPKG")
    b = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    result = mg.run(
        {
            "name": "东门街道",
            "boundaries": {"town": str(b), "builtup": str(b)},
            "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
            "network": {"source": "道路中心线.gpkg", "class_col": "道路等级"},
            "population": {"total": 60000},
            "demand": {"cell_m": 100},
            "circles": ["15min"],
            "siting": {"enabled": False},
            "outputs": {"maps": False, "static_maps": False, "rasters": False, "isochrones": False},
            "base_dir": str(tmp_path),
        }
    )
    lon, lat = Transformer.from_crs(cut.crs, 4326, always_xy=True).transform(new_end.x, new_end.y)
    repair = next(n for n in result.notes if n.startswith("RepairWarning"))
    assert "1 line end stops" in repair and f"{lon:.6f}, {lat:.6f}" in repair and "桥梁: 6 lines" in repair
    pieces = next(n for n in result.notes if n.startswith("DisconnectedNetworkWarning"))
    spur_m = lines.geometry.iat[i].length - GAP_M
    assert f"{spur_m:.0f} m at {lon:.6f}, {lat:.6f}" in pieces
    assert result.networks["walk"].repairs.near_misses == 1
