"""Engine benchmark: mtown_geo's travel times against networkx, osmnx ego graphs, pandana, cityseer.

Run from the repository root (reads ``../shared/data/andorra_osm/andorra.osm.pbf``)::

    python bench/engine.py                 # about 6 minutes on 2 cores
    python bench/engine.py --profile       # plus a cProfile of the K=10 call
    python bench/engine.py --no-cityseer --ego-sample 20   # quicker

Everything runs in one process on one network: the unsimplified walk network of the
whole extract (``mtown_geo.network.from_osm(..., mode="walk")``), facilities from
``mtown_geo.facilities.from_osm`` of the same file, a 15-minute cut-off, and K = 1 and
K = 10 facility categories (the categories with the most facilities). Origins for
``travel_times`` are the cells of a 50 m grid over the built-up land (OSM
``landuse=residential|commercial|retail|industrial`` polygons).

The peers have no edge attachment: they get every facility at its nearest network node.
mtown_geo is timed both on the real layer (polygons reached through their boundaries)
and on the same facilities moved onto those nodes; on the latter every peer must give
the same time to the nearest facility at every node as ``mtown_geo.access.reach``, and
the script prints how well they agree before any timing is believed.

Timings are medians of repeated runs (the number is printed); ratios are peer time /
mtown_geo ``travel_times`` time, measured side by side in one process.

Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import logging
import pstats
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

import mtown_geo as mg
from mtown_geo import access

LIMIT_MIN = 15.0
PACKAGES = ("mtown-geo", "numpy", "scipy", "shapely", "geopandas", "networkx", "osmnx", "pandana", "cityseer")


# -- the case ------------------------------------------------------------------------------


@dataclass
class Case:
    """The network, facilities and origins every method is timed on."""

    path: Path
    network: mg.Network
    facilities: gpd.GeoDataFrame  # the real layer (EPSG:4326, points and polygons)
    at_nodes: gpd.GeoDataFrame  # the same rows moved onto their nearest nodes
    node_of: np.ndarray  # nearest node of each facility row
    snap_dist_m: np.ndarray
    origins: gpd.GeoDataFrame
    categories: dict[int, list[str]]  # K -> categories

    def sources(self, cat: str) -> np.ndarray:
        """Distinct nearest nodes of the facilities of a category."""
        return np.unique(self.node_of[self.facilities["category"].to_numpy() == cat])

    def n_facilities(self, cats: Sequence[str]) -> int:
        return int(self.facilities["category"].isin(cats).sum())


def load_case(path: Path, *, pick: str) -> Case:
    extract = mg.sources.read_osm(path)
    with common.quiet_warnings():
        net = mg.network.from_osm(extract, mode="walk")
    e = net.edges
    if not np.array_equal(e["time_min"].to_numpy(), e["time_rev_min"].to_numpy()):
        sys.exit("the walk network has one-way edges: the peers here are run on undirected graphs")
    fac = mg.facilities.from_osm(extract)
    counts = fac["category"].value_counts()
    if pick == "circle":
        prof = mg.standards.resolve(None)
        required = [c for c in prof.circles["15min"].required if counts.get(c, 0) > 0]
        top = sorted(required, key=lambda c: (-counts[c], c))
    else:
        top = list(counts.index[:10])
    moved, node_of = common.facilities_at_nodes(net, fac)
    _, dist_m = common.nearest_nodes(net, fac)
    origins = common.built_up_grid(extract, net.crs, cell_m=50.0)
    # the Network builds its matrices and spatial index on first use: build them now
    _ = net.csr, net.csr_reverse, net.edge_tree, net.component
    return Case(
        path=path,
        network=net,
        facilities=fac,
        at_nodes=moved,
        node_of=node_of,
        snap_dist_m=dist_m,
        origins=origins,
        categories={1: top[:1], len(top): top},
    )


# -- the methods -----------------------------------------------------------------------------


def run_travel_times(case: Case, facilities: gpd.GeoDataFrame, cats: Sequence[str]) -> pd.DataFrame:
    with common.quiet_warnings():
        return access.travel_times(case.network, facilities, case.origins, max_time_min=LIMIT_MIN, categories=cats)


def run_reach(case: Case, facilities: gpd.GeoDataFrame, cats: Sequence[str]) -> access.Reach:
    with common.quiet_warnings():
        return access.reach(case.network, facilities, max_time_min=LIMIT_MIN, categories=cats)


@dataclass
class SearchInputs:
    """The arguments ``reach`` hands to the engine's search, prepared the way it prepares them."""

    snaps: pd.DataFrame
    owner: np.ndarray
    cat_of_point: np.ndarray
    ok: np.ndarray
    K: int


def search_inputs(case: Case, facilities: gpd.GeoDataFrame, cats: Sequence[str]) -> SearchInputs:
    att = access.attach(case.network, facilities)
    cat_of_point = att.category_codes(cats)
    ok = att.snaps["ok"].to_numpy() & (cat_of_point >= 0)
    return SearchInputs(att.snaps, att.points["owner"].to_numpy(), cat_of_point, ok, len(cats))


def run_search(case: Case, s: SearchInputs) -> tuple[np.ndarray, np.ndarray]:
    """The engine's search alone (``mtown_geo.access._search``: source rows + one dijkstra per category)."""
    return access._search(case.network, s.snaps, s.owner, s.cat_of_point, s.ok, s.K, LIMIT_MIN)


def run_scipy_floor(case: Case, cats: Sequence[str]) -> np.ndarray:
    """One bare scipy dijkstra per category from the facilities' nearest nodes: the floor."""
    csr = case.network.csr_reverse
    out = np.empty((len(cats), case.network.n_nodes))
    for k, cat in enumerate(cats):
        out[k] = dijkstra(csr, directed=True, indices=case.sources(cat), min_only=True, limit=LIMIT_MIN)
    return out


def run_networkx(case: Case, G: nx.DiGraph, cats: Sequence[str]) -> list[dict[int, float]]:
    return [
        nx.multi_source_dijkstra_path_length(G, set(case.sources(cat).tolist()), cutoff=LIMIT_MIN, weight="time_min")
        for cat in cats
    ]


def networkx_times(found: list[dict[int, float]], n: int) -> np.ndarray:
    out = np.full((len(found), n), np.inf)
    for k, d in enumerate(found):
        idx = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
        out[k, idx] = np.fromiter(d.values(), dtype=float, count=len(d))
    return out


@dataclass
class EgoResult:
    """Per category: seconds spent, facilities done, facilities in all, and the union of reached nodes."""

    seconds: dict[str, float] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    reached: dict[str, set[int]] = field(default_factory=dict)

    def estimate_s(self, cats: Sequence[str]) -> float:
        """Seconds for every facility of the categories (extrapolated per category where sampled)."""
        return sum(self.seconds[c] * self.total[c] / self.done[c] for c in cats)

    def sampled(self, cats: Sequence[str]) -> bool:
        return any(self.done[c] < self.total[c] for c in cats)


def run_ego(case: Case, G: nx.DiGraph, cats: Sequence[str], *, sample: int | None, seed: int = 0) -> EgoResult:
    """The osmnx example-notebook approach: one ``nx.ego_graph`` per facility, union per category."""
    rng = np.random.default_rng(seed)
    cat_arr = case.facilities["category"].to_numpy()
    res = EgoResult()
    for cat in cats:
        nodes = case.node_of[cat_arr == cat]  # one per facility, as a user would loop over facilities
        todo = nodes if sample is None or sample >= len(nodes) else rng.choice(nodes, size=sample, replace=False)
        reached: set[int] = set()
        t0 = time.perf_counter()
        for node in todo.tolist():
            reached.update(nx.ego_graph(G, node, radius=LIMIT_MIN, distance="time_min").nodes)
        res.seconds[cat] = time.perf_counter() - t0
        res.done[cat] = len(todo)
        res.total[cat] = len(nodes)
        res.reached[cat] = reached
    return res


def pandana_network(case: Case, *, scale: float = 1.0) -> Any:
    """pandana's network of the same nodes and edges, weights in minutes × ``scale``, precomputed to the limit.

    pandana keeps impedances as integers of 1/1000 of the weight's unit (each edge is
    truncated), so with weights in minutes its times run short by up to 0.001 min per
    edge; ``scale=1000`` (weights in 1/1000 min) shows the rest of its answer is exact.
    """
    import pandana

    net = case.network
    e = net.edges
    with common.quiet_fd_stdout():
        pn = pandana.Network(net.nodes["x"], net.nodes["y"], e["u"], e["v"], e[["time_min"]] * scale, twoway=True)
        pn.precompute(LIMIT_MIN * scale)
    return pn


def pandana_queries(case: Case, pn: Any, cats: Sequence[str], *, scale: float = 1.0) -> np.ndarray:
    """Minutes to the nearest facility of each category at every node (``set_pois`` + ``nearest_pois``)."""
    x = case.network.nodes["x"].to_numpy()
    y = case.network.nodes["y"].to_numpy()
    limit = LIMIT_MIN * scale
    out = np.empty((len(cats), case.network.n_nodes))
    with common.quiet_fd_stdout():
        for k, cat in enumerate(cats):
            nodes = case.sources(cat)
            pn.set_pois(cat, limit, 1, pd.Series(x[nodes]), pd.Series(y[nodes]))
            got = pn.nearest_pois(limit, cat, num_pois=1)
            out[k] = got[1].reindex(case.network.nodes.index).to_numpy()
    # pandana reports "none within the distance" as the distance itself
    out[out >= limit] = np.inf
    return out / scale


def run_pandana(
    case: Case, runs: int, *, scale: float = 1.0
) -> tuple[dict[tuple[str, int], common.Timing], dict[int, np.ndarray]]:
    """Per run: one set-up (Network + precompute), then the queries of every K.

    The set-up does not depend on the categories, so a run for K categories costs the
    set-up plus its own queries; both are reported.
    """
    setup = common.Timing("pandana set-up")
    queries = {K: common.Timing(f"pandana K={K}") for K in case.categories}
    answers: dict[int, np.ndarray] = {}
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        pn = pandana_network(case, scale=scale)
        setup.times_s.append(time.perf_counter() - t0)
        for K, cats in case.categories.items():
            t0 = time.perf_counter()
            answers[K] = pandana_queries(case, pn, cats, scale=scale)
            queries[K].times_s.append(time.perf_counter() - t0)
        del pn
    out: dict[tuple[str, int], common.Timing] = {}
    for K in case.categories:
        out[("pandana_setup", K)] = setup
        out[("pandana", K)] = common.Timing("pandana", [a + b for a, b in zip(setup.times_s, queries[K].times_s, strict=True)])
    return out, answers


# -- cityseer ----------------------------------------------------------------------------------


@dataclass
class CityseerRun:
    setup_s: float
    live: np.ndarray  # node positions computed
    seconds: dict[int, float]  # K -> seconds on the live nodes
    times: dict[int, np.ndarray]  # K -> (K, len(live)) minutes


def run_cityseer(case: Case, share: float, *, seed: int = 0) -> CityseerRun:
    """cityseer's nearest-distance accessibility (``cc_<cat>_nearest_max_1000``) on a sample of live nodes.

    cityseer runs one bounded search from every *live* node; all other nodes still carry
    the network. Its set-up converts the network through ``io.network_structure_from_nx``.
    """
    from cityseer import config
    from cityseer.metrics import layers
    from cityseer.tools import io as cio

    config.QUIET_MODE = True
    logging.getLogger("cityseer").setLevel(logging.WARNING)
    net = case.network
    rng = np.random.default_rng(seed)
    n = net.n_nodes
    live = np.sort(rng.choice(n, size=max(1, round(share * n)), replace=False))
    is_live = np.zeros(n, dtype=bool)
    is_live[live] = True
    t0 = time.perf_counter()
    G = nx.MultiGraph()
    G.graph["crs"] = net.crs.to_epsg()
    keys = [str(i) for i in range(n)]
    G.add_nodes_from(
        (k, {"x": x, "y": y, "live": bool(lv)})
        for k, x, y, lv in zip(keys, net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy(), is_live, strict=True)
    )
    e = net.edges
    G.add_edges_from(
        (keys[u], keys[v], {"geom": g})
        for u, v, g in zip(e["u"].to_numpy(), e["v"].to_numpy(), e.geometry.to_numpy(), strict=True)
    )
    nodes_gdf, _, structure = cio.network_structure_from_nx(G)
    setup_s = time.perf_counter() - t0
    speed_m_s = net.speed_kmh / 3.6
    dist_m = round(LIMIT_MIN * 60 * speed_m_s)
    data = gpd.GeoDataFrame(
        {"cat": case.facilities["category"].to_numpy()},
        geometry=net.nodes.geometry.to_numpy()[case.node_of],
        crs=net.crs,
    )
    pos = nodes_gdf.index.astype(int).to_numpy()
    seconds: dict[int, float] = {}
    times: dict[int, np.ndarray] = {}
    for K, cats in case.categories.items():
        sub = data[data["cat"].isin(cats)]
        t0 = time.perf_counter()
        out = layers.compute_accessibilities(
            sub, "cat", list(cats), nodes_gdf.copy(), structure, minutes=[LIMIT_MIN], speed_m_s=speed_m_s, decay_fn="1"
        )
        seconds[K] = time.perf_counter() - t0
        minutes = np.full((len(cats), n), np.nan)
        for k, cat in enumerate(cats):
            minutes[k, pos] = out[f"cc_{cat}_nearest_max_{dist_m}"].to_numpy(dtype=float) / (speed_m_s * 60.0)
        times[K] = np.where(np.isnan(minutes[:, live]), np.inf, minutes[:, live])
    return CityseerRun(setup_s, live, seconds, times)


# -- agreement -------------------------------------------------------------------------------------


@dataclass
class Agreement:
    method: str
    K: int
    nodes: int
    reached: int
    mismatched: int
    max_diff_min: float  # nan where the method gives no times

    def line(self) -> str:
        diff = "no times (reached sets only)" if np.isnan(self.max_diff_min) else f"max |Δt| = {self.max_diff_min:.2g} min"
        ok = "OK" if self.mismatched == 0 and (np.isnan(self.max_diff_min) or self.max_diff_min < 1e-3) else "DIFFERENT"
        return (
            f"{self.method:<34} K={self.K:<3} {ok:<9} reached {self.reached:>9,} node-category pairs of {self.nodes:,}; "
            f"{self.mismatched:,} reached by one only; {diff}"
        )


def compare(method: str, K: int, ref: np.ndarray, got: np.ndarray, *, edge_tol_min: float = 1e-6) -> Agreement:
    """Compare node times (K, n); pairs within ``edge_tol_min`` of the limit do not count as mismatches."""
    r_fin = np.isfinite(ref)
    g_fin = np.isfinite(got)
    at_edge = np.abs(np.where(r_fin, ref, np.inf) - LIMIT_MIN) <= edge_tol_min
    mismatched = int(((r_fin != g_fin) & ~at_edge).sum())
    both = r_fin & g_fin
    diff = float(np.max(np.abs(ref[both] - got[both]))) if both.any() else 0.0
    return Agreement(method, K, ref.size, int(r_fin.sum()), mismatched, diff)


def compare_sets(method: str, K: int, ref: np.ndarray, cats: Sequence[str], reached: dict[str, set[int]]) -> Agreement:
    got = np.full(ref.shape, np.inf)
    for k, cat in enumerate(cats):
        idx = np.fromiter(reached[cat], dtype=np.int64, count=len(reached[cat]))
        got[k, idx] = 0.0
    a = compare(method, K, ref, got)
    a.max_diff_min = float("nan")
    return a


# -- main ------------------------------------------------------------------------------------------


def stage_breakdown(case: Case, cats: Sequence[str], runs: int) -> list[tuple[str, float]]:
    """Median seconds of each stage of ``travel_times`` on the real layer (same steps, called one by one)."""
    net = case.network
    fac = case.facilities.reset_index(drop=True)
    si = search_inputs(case, fac, cats)
    pts = access.access_points(net, fac)
    r = run_reach(case, fac, cats)
    o_snaps = access.snap(net, case.origins)
    steps: list[tuple[str, Any]] = [
        (f"access points of every facility row ({len(pts):,} points)", lambda: access.access_points(net, fac)),
        ("snap the access points (STRtree.query_nearest)", lambda: access.snap(net, pts)),
        ("search (_search: source rows + dijkstra per category)", lambda: run_search(case, si)),
        ("facility diagnostics (for the warnings)", r.facility_diagnostics),
        (f"snap the origins ({len(case.origins):,} points)", lambda: access.snap(net, case.origins)),
        ("times at the origins (_times_for)", lambda: r._times_for(o_snaps)),
    ]
    out = []
    for label, fn in steps:
        t, _ = common.time_runs(fn, runs)
        out.append((label, t.median_s))
    return out


def profile_call(case: Case, cats: Sequence[str]) -> str:
    pr = cProfile.Profile()
    run_travel_times(case, case.facilities, cats)
    pr.enable()
    for _ in range(3):
        run_travel_times(case, case.facilities, cats)
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(25)
    return buf.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--osm", type=Path, default=None, help="OSM file (default ../shared/data/" + common.ANDORRA + ")")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each fast step (default 7)")
    parser.add_argument("--pandana-runs", type=int, default=3, help="timed runs of pandana (default 3)")
    parser.add_argument(
        "--categories",
        choices=["top", "circle"],
        default="top",
        help="K=10: the 10 categories with the most facilities (top, default) or the 15-minute "
        "circle's required categories that have facilities (circle)",
    )
    parser.add_argument(
        "--ego-sample",
        type=int,
        default=None,
        help="ego graphs for this many facilities per category, extrapolated (default: all, once)",
    )
    parser.add_argument(
        "--cityseer-share", type=float, default=0.02, help="share of nodes cityseer computes, extrapolated to all (default 0.02)"
    )
    parser.add_argument("--no-cityseer", action="store_true", help="skip cityseer")
    parser.add_argument("--no-pandana", action="store_true", help="skip pandana")
    parser.add_argument("--profile", action="store_true", help="cProfile the K=10 travel_times call")
    args = parser.parse_args(argv)
    path = args.osm if args.osm is not None else common.shared_file(common.ANDORRA)
    runs = max(1, args.runs)

    t0 = time.perf_counter()
    case = load_case(path, pick=args.categories)
    net = case.network
    print(f"# mtown_geo engine benchmark: {path.name}, walk network, {LIMIT_MIN:g}-minute cut-off")
    print()
    for line in common.machine_lines(PACKAGES):
        print(line)
    print(
        f"network: {net.n_nodes:,} nodes, {net.n_edges:,} edges, {net.length_km:,.0f} km, unsimplified, "
        f"{net.n_components} pieces, {net.crs.to_string()}; built in {time.perf_counter() - t0:.1f} s with facilities "
        "and origins"
    )
    counts = case.facilities["category"].value_counts()
    print(
        f"facilities: {len(case.facilities):,} rows from OSM "
        f"({int((case.facilities.geom_type != 'Point').sum())} polygons); nearest node of each: median "
        f"{np.median(case.snap_dist_m):.0f} m, max {case.snap_dist_m.max():.0f} m"
    )
    for K, cats in case.categories.items():
        listing = ", ".join(f"{c} {counts[c]}" for c in cats)
        print(f"  K={K}: {listing} ({case.n_facilities(cats)} facilities)")
    print(
        f"origins: {len(case.origins):,} cells of a 50 m grid over built-up land "
        f"(landuse={'/'.join(common.BUILT_UP_LANDUSE)}), {case.origins['area_m2'].sum() / 1e6:.2f} km²"
    )
    print()

    timings: dict[tuple[str, int], common.Timing] = {}
    agreements: list[Agreement] = []
    notes: list[str] = []
    t_nx_setup, G = common.time_runs(lambda: net.to_networkx(), 1, warmup=False)

    def cold_call(cats: Sequence[str]) -> pd.DataFrame:
        # a Network fresh from its constructor: the first call builds the CSR, the STRtree, the pieces
        cold = mg.Network(
            net.nodes,
            net.edges,
            mode=net.mode,
            speed_kmh=net.speed_kmh,
            access_speed_kmh=net.access_speed_kmh,
            max_snap_dist_m=net.max_snap_dist_m,
        )
        with common.quiet_warnings():
            return access.travel_times(cold, case.facilities, case.origins, max_time_min=LIMIT_MIN, categories=cats)

    fns: dict[tuple[str, int], Any] = {}
    refs: dict[int, np.ndarray] = {}
    for K, cats in case.categories.items():
        refs[K] = run_reach(case, case.at_nodes, cats).node_min
        si = search_inputs(case, case.at_nodes, cats)
        si_real = search_inputs(case, case.facilities, cats)
        fns.update(
            {
                ("mg_tt", K): lambda cats=cats: run_travel_times(case, case.facilities, cats),
                ("mg_tt_nodes", K): lambda cats=cats: run_travel_times(case, case.at_nodes, cats),
                ("mg_tt_cold", K): lambda cats=cats: cold_call(cats),
                ("mg_reach_nodes", K): lambda cats=cats: run_reach(case, case.at_nodes, cats),
                ("mg_search", K): lambda si=si: run_search(case, si),
                ("mg_search_real", K): lambda si=si_real: run_search(case, si),
                ("scipy", K): lambda cats=cats: run_scipy_floor(case, cats),
                ("networkx", K): lambda cats=cats: run_networkx(case, G, cats),
            }
        )
    print(f"timing mtown_geo, scipy and networkx ({runs} interleaved runs)...", file=sys.stderr, flush=True)
    t, res = common.time_interleaved(fns, runs)
    timings.update(t)
    for K in case.categories:
        ref = refs[K]
        search_nodes, _ = res[("mg_search", K)]
        agreements.append(compare("mtown_geo search alone (_search)", K, ref, search_nodes))
        agreements.append(compare("scipy dijkstra per category", K, ref, res[("scipy", K)]))
        agreements.append(compare("networkx multi_source_dijkstra", K, ref, networkx_times(res[("networkx", K)], net.n_nodes)))
        agreements.append(
            compare(
                "new Network vs travel_times (origins)", K, res[("mg_tt", K)].to_numpy().T, res[("mg_tt_cold", K)].to_numpy().T
            )
        )

    if not args.no_pandana:
        try:
            import pandana  # noqa: F401
        except ImportError as exc:
            notes.append(f"pandana skipped: it cannot be imported ({exc})")
        else:
            print("timing pandana...", file=sys.stderr, flush=True)
            t, answers = run_pandana(case, max(1, args.pandana_runs))
            timings.update(t)
            t_fine, answers_fine = run_pandana(case, 1, scale=1000.0)
            for K in case.categories:
                timings[("pandana_fine", K)] = t_fine[("pandana", K)]
                agreements.append(compare("pandana nearest_pois, minutes", K, refs[K], answers[K], edge_tol_min=1e-4))
                agreements.append(compare("pandana nearest_pois, 1/1000 min", K, refs[K], answers_fine[K], edge_tol_min=1e-3))
            notes.append(
                "pandana stores impedances as integers of 1/1000 of the weight unit, truncating every edge: with "
                "weights in minutes its times run short (by up to 0.001 min per edge) and nodes just beyond the "
                "limit count as reached; with weights in 1/1000 min it agrees to float32 precision"
            )
    K_big = max(case.categories)
    cats_big = case.categories[K_big]

    print("timing the ego graphs...", file=sys.stderr, flush=True)
    ego = run_ego(case, G, cats_big, sample=args.ego_sample)
    for K, cats in case.categories.items():
        sampled = ego.sampled(cats)
        timings[("ego", K)] = common.Timing(
            "ego", [ego.estimate_s(cats)], note="extrapolated from a sample" if sampled else "one run"
        )
        if not sampled:
            agreements.append(compare_sets("osmnx ego_graph union", K, refs[K], cats, ego.reached))
        else:
            inside = all(
                np.isfinite(refs[K][k, np.fromiter(ego.reached[c], dtype=np.int64, count=len(ego.reached[c]))]).all()
                for k, c in enumerate(cats)
            )
            notes.append(
                f"ego graphs K={K}, sampled ({sum(ego.done[c] for c in cats)} of {sum(ego.total[c] for c in cats)} "
                f"facilities): every node they reach is within {LIMIT_MIN:g} min for mtown_geo: {inside}"
            )

    if not args.no_cityseer:
        try:
            import cityseer  # noqa: F401
        except ImportError as exc:
            notes.append(f"cityseer skipped: it cannot be imported ({exc})")
        else:
            print("timing cityseer...", file=sys.stderr, flush=True)
            cs = run_cityseer(case, args.cityseer_share)
            factor = net.n_nodes / len(cs.live)
            # cityseer measures lengths on the projected geometry; its reference is the same network
            # with edge times from those lengths
            geom_min = shapely.length(np.asarray(net.edges.geometry.values)) / (net.speed_kmh * 1000.0 / 60.0)
            net_geom = net.with_edge_times(geom_min, geom_min)
            for K, cats in case.categories.items():
                timings[("cityseer", K)] = common.Timing(
                    "cityseer", [cs.seconds[K] * factor], note=f"{len(cs.live):,} live nodes × {factor:.0f}"
                )
                timings[("cityseer_setup", K)] = common.Timing("cityseer set-up", [cs.setup_s], note="one run")
                with common.quiet_warnings():
                    ref_g = access.reach(net_geom, case.at_nodes, max_time_min=LIMIT_MIN, categories=cats).node_min
                agreements.append(
                    compare("cityseer nearest_max (sampled nodes)", K, ref_g[:, cs.live], cs.times[K], edge_tol_min=1e-3)
                )

    stages = stage_breakdown(case, cats_big, runs)
    profile_text = profile_call(case, cats_big) if args.profile else ""
    report(case, timings, agreements, notes, stages, t_nx_setup, runs, args, profile_text)
    return 0


def _verdict(value: float, ok: bool) -> str:
    return "not run" if not np.isfinite(value) else "met" if ok else "missed"


def report(
    case: Case,
    timings: dict[tuple[str, int], common.Timing],
    agreements: list[Agreement],
    notes: list[str],
    stages: list[tuple[str, float]],
    t_nx_setup: common.Timing,
    runs: int,
    args: argparse.Namespace,
    profile_text: str,
) -> None:
    Ks = sorted(case.categories)
    print("## Agreement on the nodes (facilities at their nearest nodes)")
    print()
    for a in agreements:
        print("  " + a.line())
    print()
    rows_spec = [
        ("mg_tt", "mtown_geo travel_times, real facilities (polygons by their boundaries)"),
        ("mg_tt_nodes", "mtown_geo travel_times, facilities at nodes"),
        ("mg_tt_cold", "mtown_geo travel_times, first call on a new Network (builds CSR, STRtree)"),
        ("mg_reach_nodes", "mtown_geo reach (node times only), facilities at nodes"),
        ("mg_search", "mtown_geo search alone, facilities at nodes"),
        ("mg_search_real", "mtown_geo search alone, real facilities"),
        ("scipy", "scipy dijkstra per category, bare (the floor)"),
        ("networkx", "networkx multi_source_dijkstra_path_length per category"),
        ("ego", "osmnx notebook: nx.ego_graph per facility, union"),
        ("pandana", "pandana Network + precompute + set_pois + nearest_pois"),
        ("pandana_setup", "  of which pandana Network + precompute(15)"),
        ("pandana_fine", "pandana, the same with weights in 1/1000 min"),
        ("cityseer", "cityseer compute_accessibilities (extrapolated to all nodes)"),
        ("cityseer_setup", "  cityseer set-up: network_structure_from_nx"),
    ]
    header = ["method", *[h for K in Ks for h in (f"K={K} s", f"K={K} ratio")], "runs"]
    rows = []
    for key, label in rows_spec:
        if not all((key, K) in timings for K in Ks):
            continue
        cells = [label]
        n_runs = ""
        for K in Ks:
            t = timings[(key, K)]
            base = timings[("mg_tt", K)].median_s
            cells += [common.fmt_s(t.median_s), common.fmt_ratio(t.median_s / base)]
            n_runs = t.note or str(t.runs)
        rows.append([*cells, n_runs])
    print(f"## Seconds (median) and ratio to mtown_geo travel_times on the real facilities, {LIMIT_MIN:g} min")
    print()
    print(common.table(header, rows))
    print()
    print(f"networkx graph from Network.to_networkx(): {t_nx_setup.median_s:.2f} s (once; not in the networkx row)")
    for note in notes:
        print(note)
    print()
    K = max(Ks)

    def med(key: str) -> float:
        return timings[(key, K)].median_s if (key, K) in timings else float("nan")

    tt = med("mg_tt")
    checks = [
        ("travel_times ≥ 5× faster than networkx", med("networkx") / tt, 5.0),
        ("travel_times ≥ 5× faster than pandana incl. set-up", med("pandana") / tt, 5.0),
        ("travel_times ≥ 500× faster than ego graphs", med("ego") / tt, 500.0),
    ]
    print(f"## Targets (K={K})")
    print()
    trows = [[label, common.fmt_ratio(now), _verdict(now, now >= want)] for label, now, want in checks]
    s_now = med("mg_search") / med("scipy")
    trows.append(["search within 1.5× of the bare scipy calls", f"{s_now:.2f}×", _verdict(s_now, s_now <= 1.5)])
    trows.append(
        [
            "(ego graphs / bare scipy floor: the best any K-search engine can do)",
            common.fmt_ratio(med("ego") / med("scipy")),
            "",
        ]
    )
    print(common.table(["target", "now", ""], trows))
    print()
    print(f"## Where the time goes: travel_times, real facilities, K={K} (median of {runs} runs per stage)")
    print()
    total = sum(s for _, s in stages)
    print(common.table(["stage", "s", "share"], [[lbl, common.fmt_s(s), f"{s / total:.0%}"] for lbl, s in stages]))
    print()
    if profile_text:
        print(f"## cProfile of 3 calls (K={K})")
        print()
        print(profile_text)


if __name__ == "__main__":
    raise SystemExit(main())
