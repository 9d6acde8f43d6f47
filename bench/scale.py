"""Scale curve: travel times to 10 facility categories on networks of ~10k to ~1M nodes.

Run from the repository root (reads ``../shared/data/andorra_osm/andorra.osm.pbf``)::

    python bench/scale.py                  # about 6 minutes on 2 cores
    python bench/scale.py --max-tiles 2    # up to 274k nodes, about 2 minutes

The networks are made from the real Andorra walk network (``network.from_osm``,
unsimplified: 136,939 nodes). The small sizes are square windows of it around the
centre of its built-up land (~10k and ~30k nodes: the nodes nearest the centre, the
edges between them); the large ones are 1, 2, 4 and 8 copies of the whole network laid
side by side in a grid, 100 m apart, each joined to its neighbours by 5 connecting edges
between nodes of their largest pieces, so the result is one network. The 10 facility
categories with the most facilities in Andorra (821 facilities, points and polygons) and
the origins (a 50 m grid over the built-up land, 4,884 cells) are copied with their
network.

For each size, every method runs in a fresh subprocess that loads the same arrays:

* **mtown_geo** ``access.travel_times(network, facilities, origins, max_time_min=15)``:
  attachment of every facility (polygons through their boundaries) and origin to the
  nearest edge, one search per category, times at the origins. The ``Network`` is built
  from the frames before timing (its own row); the first call also builds its indexes
  (CSR, STRtree, KD-tree), timed apart.
* **mtown_geo search alone** (``mtown_geo.access._search``, as ``travel_times`` calls it).
* **bare scipy** (the floor): one ``scipy.sparse.csgraph.dijkstra(min_only=True,
  limit=15)`` per category from the facilities' nearest nodes.
* **networkx** ``multi_source_dijkstra_path_length(cutoff=15)`` per category, from the
  same nodes (graph building not counted), while it is expected to finish within a
  minute.
* **pandana** ``Network`` + ``precompute(15)`` + ``set_pois`` / ``nearest_pois`` per
  category, set-up included, from the same nodes, while it is expected to fit the time
  budget.

Peak memory is the peak resident set of each subprocess after the method (Linux
``VmHWM``: the counter ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` reads, but without
the parent's peak that ``ru_maxrss`` of a subprocess carries over from the fork), and
its increase over the peak once the libraries are imported and the arrays loaded (what
the method's own structures and searches add). The exponent of time against
size is fitted by least squares on log–log scales.

Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

LIMIT_MIN = 15.0
WALK_M_PER_MIN = 4000.0 / 60.0
GAP_M = 100.0
LINKS = 5
K = 10
METHODS = ("mtown_geo", "search", "scipy", "networkx", "pandana")
LABELS = {
    "mtown_geo": "mtown_geo travel_times",
    "search": "mtown_geo search alone",
    "scipy": "bare scipy (floor)",
    "networkx": "networkx",
    "pandana": "pandana (set-up included)",
}
PACKAGES = ("mtown-geo", "numpy", "scipy", "shapely", "geopandas", "networkx", "pandana")


# -- the case: arrays every method loads ------------------------------------------------------


@dataclass
class Case:
    """A network with its facilities and origins, as plain arrays (projected metres)."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    fac_wkb: np.ndarray  # WKB of each facility's geometry
    fac_cat: np.ndarray  # category of each facility
    fac_node: np.ndarray  # nearest node of each facility's representative point
    origin_xy: np.ndarray  # (m, 2)
    origin_copy: np.ndarray  # which copy of the base each origin belongs to
    crs: str
    cats: list[str]
    n_copies: int = 1  # copies of one base network, nodes numbered copy after copy

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    @property
    def time_min(self) -> np.ndarray:
        return self.length_m / WALK_M_PER_MIN

    def sources(self) -> list[np.ndarray]:
        """Per category, the distinct nearest nodes of its facilities."""
        return [np.unique(self.fac_node[self.fac_cat == c]) for c in self.cats]


def base_case() -> Case:
    """The Andorra walk network, its 10 largest facility categories and the built-up origin grid."""
    import shapely
    from scipy.spatial import cKDTree

    import mtown_geo as mg

    path = common.shared_file(common.ANDORRA)
    extract = mg.sources.read_osm(path)
    with common.quiet_warnings():
        net = mg.network.from_osm(extract, mode="walk")
    e = net.edges
    if not np.array_equal(e["time_min"].to_numpy(), e["time_rev_min"].to_numpy()):
        sys.exit("the walk network has one-way edges: the peers here are run on undirected graphs")
    fac = mg.facilities.from_osm(extract)
    cats = list(fac["category"].value_counts().index[:K])
    fac = fac[fac["category"].isin(cats)].to_crs(net.crs).reset_index(drop=True)
    origins = common.built_up_grid(extract, net.crs, cell_m=50.0)
    x = net.nodes["x"].to_numpy()
    y = net.nodes["y"].to_numpy()
    geoms = np.asarray(fac.geometry.values)
    _, node = cKDTree(np.column_stack([x, y])).query(shapely.get_coordinates(shapely.point_on_surface(geoms)))
    return Case(
        x=x,
        y=y,
        u=e["u"].to_numpy(np.int64),
        v=e["v"].to_numpy(np.int64),
        length_m=e["length_m"].to_numpy(float),
        fac_wkb=np.asarray(shapely.to_wkb(geoms), dtype=object),
        fac_cat=fac["category"].to_numpy().astype(str),
        fac_node=np.asarray(node, dtype=np.int64),
        origin_xy=shapely.get_coordinates(np.asarray(origins.geometry.values)),
        origin_copy=np.zeros(len(origins), dtype=np.int64),
        crs=net.crs.to_string(),
        cats=cats,
    )


def crop(case: Case, n_nodes: int) -> Case:
    """The ``n_nodes`` nodes nearest (Chebyshev distance) the centre of the origins, with the edges among them.

    Facilities and origins inside the square window those nodes fill are kept.
    """
    import shapely
    from scipy.spatial import cKDTree

    cx, cy = np.median(case.origin_xy, axis=0)
    cheb = np.maximum(np.abs(case.x - cx), np.abs(case.y - cy))
    keep = np.zeros(case.n_nodes, dtype=bool)
    keep[np.argsort(cheb, kind="stable")[:n_nodes]] = True
    half = cheb[keep].max()
    new_id = np.cumsum(keep) - 1
    e_keep = keep[case.u] & keep[case.v]
    geoms = shapely.from_wkb(case.fac_wkb)
    rep = shapely.get_coordinates(shapely.point_on_surface(geoms))
    f_keep = np.max(np.abs(rep - [cx, cy]), axis=1) <= half
    o_keep = np.max(np.abs(case.origin_xy - [cx, cy]), axis=1) <= half
    x, y = case.x[keep], case.y[keep]
    _, node = cKDTree(np.column_stack([x, y])).query(rep[f_keep])
    return Case(
        x=x,
        y=y,
        u=new_id[case.u[e_keep]],
        v=new_id[case.v[e_keep]],
        length_m=case.length_m[e_keep],
        fac_wkb=case.fac_wkb[f_keep],
        fac_cat=case.fac_cat[f_keep],
        fac_node=np.asarray(node, dtype=np.int64),
        origin_xy=case.origin_xy[o_keep],
        origin_copy=np.zeros(int(o_keep.sum()), dtype=np.int64),
        crs=case.crs,
        cats=case.cats,
    )


def _largest_piece(case: Case) -> np.ndarray:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    adj = sp.coo_matrix((np.ones(len(case.u)), (case.u, case.v)), shape=(case.n_nodes, case.n_nodes))
    _, labels = connected_components(adj, directed=False)
    return labels == np.argmax(np.bincount(labels))


def _side_nodes(case: Case, main: np.ndarray, axis: int, high: bool) -> list[int]:
    """One node of the largest piece per band (LINKS bands across the other axis): the one farthest to a side."""
    along = case.x if axis == 0 else case.y
    across = case.y if axis == 0 else case.x
    edges = np.linspace(across[main].min(), across[main].max(), LINKS + 1)
    out = []
    for b in range(LINKS):
        band = main & (across >= edges[b]) & (across <= edges[b + 1])
        idx = np.flatnonzero(band)
        if len(idx):
            out.append(int(idx[np.argmax(along[idx])] if high else idx[np.argmin(along[idx])]))
    return out


def tile(case: Case, cols: int, rows: int) -> Case:
    """``cols × rows`` copies of a case side by side (``GAP_M`` apart), neighbours joined by ``LINKS`` edges each.

    A connecting edge joins, in each of ``LINKS`` bands, the node of the largest piece
    nearest one side of a copy to the node nearest the facing side of its neighbour; its
    length is the straight distance between them.
    """
    import shapely

    if cols * rows == 1:
        return case
    width = case.x.max() - case.x.min() + GAP_M
    height = case.y.max() - case.y.min() + GAP_M
    n = case.n_nodes
    main = _largest_piece(case)
    east, west = _side_nodes(case, main, 0, True), _side_nodes(case, main, 0, False)
    north, south = _side_nodes(case, main, 1, True), _side_nodes(case, main, 1, False)
    geoms = shapely.from_wkb(case.fac_wkb)
    xs, ys, us, vs, lens, wkbs, cats, fnodes, oxy, ocopy = ([] for _ in range(10))
    link_u: list[int] = []
    link_v: list[int] = []
    for r in range(rows):
        for c in range(cols):
            t = r * cols + c
            dx, dy = c * width, r * height
            off = t * n
            xs.append(case.x + dx)
            ys.append(case.y + dy)
            us.append(case.u + off)
            vs.append(case.v + off)
            lens.append(case.length_m)
            moved = shapely.transform(geoms, lambda xy, dx=dx, dy=dy: xy + np.array([dx, dy]))
            wkbs.append(np.asarray(shapely.to_wkb(moved), dtype=object))
            cats.append(case.fac_cat)
            fnodes.append(case.fac_node + off)
            oxy.append(case.origin_xy + np.array([dx, dy]))
            ocopy.append(np.full(len(case.origin_xy), t, dtype=np.int64))
            if c + 1 < cols:  # to the copy on the right
                for a, b in zip(east, west, strict=False):
                    link_u.append(off + a)
                    link_v.append(off + n + b)
            if r + 1 < rows:  # to the copy above
                for a, b in zip(north, south, strict=False):
                    link_u.append(off + a)
                    link_v.append(off + cols * n + b)
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    lu = np.asarray(link_u, dtype=np.int64)
    lv = np.asarray(link_v, dtype=np.int64)
    link_len = np.hypot(x[lu] - x[lv], y[lu] - y[lv])
    return Case(
        x=x,
        y=y,
        u=np.concatenate([*us, lu]),
        v=np.concatenate([*vs, lv]),
        length_m=np.concatenate([*lens, link_len]),
        fac_wkb=np.concatenate(wkbs),
        fac_cat=np.concatenate(cats),
        fac_node=np.concatenate(fnodes),
        origin_xy=np.concatenate(oxy),
        origin_copy=np.concatenate(ocopy),
        crs=case.crs,
        cats=case.cats,
        n_copies=cols * rows,
    )


# -- the methods (run in a worker subprocess) ---------------------------------------------------


def _mtown_objects(case: Case) -> tuple[Any, Any, Any]:
    import geopandas as gpd
    import shapely

    import mtown_geo as mg

    t = case.time_min
    nodes = gpd.GeoDataFrame({"x": case.x, "y": case.y}, geometry=shapely.points(case.x, case.y), crs=case.crs)
    lines = shapely.linestrings(
        np.stack([np.column_stack([case.x[case.u], case.y[case.u]]), np.column_stack([case.x[case.v], case.y[case.v]])], axis=1)
    )
    edges = gpd.GeoDataFrame(
        {"u": case.u, "v": case.v, "length_m": case.length_m, "time_min": t, "time_rev_min": t}, geometry=lines, crs=case.crs
    )
    net = mg.Network(nodes, edges, mode="walk", speed_kmh=4.0)
    fac = gpd.GeoDataFrame({"category": case.fac_cat}, geometry=shapely.from_wkb(case.fac_wkb), crs=case.crs)
    origins = gpd.GeoDataFrame(geometry=shapely.points(case.origin_xy), crs=case.crs)
    return net, fac, origins


def _timed(fn: Any) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_method(method: str, case: Case, runs: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """Time one method on a case: set-up, first call, timed runs; returns the record and its answer."""
    rec: dict[str, Any] = {"method": method, "n_nodes": case.n_nodes, "times_s": []}
    answer: np.ndarray | None = None
    if method in ("mtown_geo", "search"):
        from mtown_geo import access

        rec["setup_s"], (net, fac, origins) = _timed(lambda: _mtown_objects(case))
        if method == "mtown_geo":

            def call() -> Any:
                with common.quiet_warnings():
                    return access.travel_times(net, fac, origins, max_time_min=LIMIT_MIN, categories=case.cats)

            rec["first_s"], out = _timed(call)
            for _ in range(runs):
                s, out = _timed(call)
                rec["times_s"].append(s)
            answer = out.to_numpy().T
        else:
            with common.quiet_warnings():
                pts = access.access_points(net, fac)
                snaps = access.snap(net, pts)
            snaps.index = pts.index
            lookup = {c: i for i, c in enumerate(case.cats)}
            owner = pts["owner"].to_numpy()
            cat_of_point = np.array([lookup[c] for c in case.fac_cat[owner]], dtype=np.int64)
            ok = snaps["ok"].to_numpy()
            _ = net.csr_reverse

            def search() -> Any:
                return access._search(net, snaps, owner, cat_of_point, ok, len(case.cats), LIMIT_MIN, labels=False)

            rec["first_s"], _ = _timed(search)
            for _ in range(runs):
                s, _ = _timed(search)
                rec["times_s"].append(s)
    elif method == "scipy":
        import scipy.sparse as sp
        from scipy.sparse.csgraph import dijkstra

        t = case.time_min
        n = case.n_nodes
        rec["setup_s"], csr = _timed(
            lambda: sp.csr_matrix(
                (np.concatenate([t, t]), (np.concatenate([case.u, case.v]), np.concatenate([case.v, case.u]))), shape=(n, n)
            )
        )
        sources = case.sources()

        def floor() -> np.ndarray:
            out = np.full((len(sources), n), np.inf)
            for k, nodes in enumerate(sources):
                if len(nodes):
                    out[k] = dijkstra(csr, directed=True, indices=nodes, min_only=True, limit=LIMIT_MIN)
            return out

        rec["first_s"], answer = _timed(floor)
        for _ in range(runs):
            s, answer = _timed(floor)
            rec["times_s"].append(s)
        if case.n_copies > 1:
            # the same searches copy by copy (the sources of one copy at a time): same work, smaller frontier
            per = n // case.n_copies

            def by_copy() -> None:
                for nodes in sources:
                    for c in range(case.n_copies):
                        own = nodes[(nodes >= c * per) & (nodes < (c + 1) * per)]
                        if len(own):
                            dijkstra(csr, directed=True, indices=own, min_only=True, limit=LIMIT_MIN)

            rec["by_copy_s"] = float(np.median([_timed(by_copy)[0] for _ in range(runs)]))
    elif method == "networkx":
        import networkx as nx

        def graph() -> Any:
            g = nx.Graph()
            g.add_nodes_from(range(case.n_nodes))
            g.add_weighted_edges_from(zip(case.u.tolist(), case.v.tolist(), case.time_min.tolist(), strict=True))
            return g

        rec["setup_s"], G = _timed(graph)
        sources = case.sources()

        def searches() -> list[dict[int, float]]:
            return [nx.multi_source_dijkstra_path_length(G, set(s.tolist()), cutoff=LIMIT_MIN) if len(s) else {} for s in sources]

        for _ in range(runs):
            s, found = _timed(searches)
            rec["times_s"].append(s)
        answer = np.full((len(sources), case.n_nodes), np.inf)
        for k, d in enumerate(found):
            answer[k, np.fromiter(d.keys(), dtype=np.int64, count=len(d))] = np.fromiter(d.values(), dtype=float, count=len(d))
    elif method == "pandana":
        import pandana
        import pandas as pd

        sources = case.sources()
        xs, ys = pd.Series(case.x), pd.Series(case.y)

        def whole() -> tuple[float, np.ndarray]:
            t0 = time.perf_counter()
            with common.quiet_fd_stdout():
                pn = pandana.Network(
                    xs, ys, pd.Series(case.u), pd.Series(case.v), pd.DataFrame({"t": case.time_min}), twoway=True
                )
                pn.precompute(LIMIT_MIN)
                setup = time.perf_counter() - t0
                out = np.full((len(sources), case.n_nodes), np.inf)
                for k, (cat, nodes) in enumerate(zip(case.cats, sources, strict=True)):
                    if not len(nodes):
                        continue
                    pn.set_pois(cat, LIMIT_MIN, 1, xs.iloc[nodes].reset_index(drop=True), ys.iloc[nodes].reset_index(drop=True))
                    out[k] = pn.nearest_pois(LIMIT_MIN, cat, num_pois=1)[1].reindex(range(case.n_nodes)).to_numpy()
            out[out >= LIMIT_MIN] = np.inf  # pandana reports "none within the distance" as the distance
            return setup, out

        for _ in range(runs):
            gc.collect()
            t0 = time.perf_counter()
            setup, answer = whole()
            rec["times_s"].append(time.perf_counter() - t0)
            rec["setup_s"] = setup
    else:
        raise SystemExit(f"unknown method {method!r}")
    return rec, answer


def worker(method: str, data: Path, runs: int, out: Path) -> int:
    """Subprocess entry: import what the method needs, load the case, note the memory, run the method."""
    if method in ("mtown_geo", "search"):
        import geopandas  # noqa: F401

        import mtown_geo.access  # noqa: F401
    elif method == "networkx":
        import networkx  # noqa: F401
    elif method == "pandana":
        import pandana  # noqa: F401
        import pandas  # noqa: F401
    import scipy.sparse.csgraph  # noqa: F401
    import shapely  # noqa: F401

    with data.open("rb") as fh:
        case: Case = pickle.load(fh)
    base_mb = common.peak_rss_mb()
    rec, answer = run_method(method, case, runs)
    rec["base_mb"] = base_mb
    rec["peak_mb"] = common.peak_rss_mb()
    if answer is not None:
        np.save(out.with_suffix(".npy"), answer)
    out.write_text(json.dumps(rec))
    return 0


# -- the driver ------------------------------------------------------------------------------


@dataclass
class Size:
    label: str
    case: Case
    copies: int


def run_worker(method: str, data: Path, runs: int, out: Path, timeout_s: float) -> dict[str, Any] | None:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        method,
        "--data",
        str(data),
        "--runs",
        str(runs),
        "--out",
        str(out),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        print(f"  {method}: no answer within {timeout_s:.0f} s, stopped", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f"  {method} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    rec: dict[str, Any] = json.loads(out.read_text())
    return rec


def fit_exponent(n: Sequence[float], t: Sequence[float]) -> float:
    """b of t = a·n^b, least squares on log–log scales (nan with fewer than 2 points)."""
    if len(n) < 2:
        return float("nan")
    b, _ = np.polyfit(np.log(np.asarray(n, dtype=float)), np.log(np.asarray(t, dtype=float)), 1)
    return float(b)


def method_s(rec: dict[str, Any]) -> float:
    return float(np.median(rec["times_s"])) if rec.get("times_s") else float("nan")


def compare(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """Node–category pairs reached by one side only, and the largest difference where both reach."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    both = fa & fb
    diff = float(np.abs(a[both].astype(float) - b[both].astype(float)).max()) if both.any() else 0.0
    return int((fa != fb).sum()), diff


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tiles", type=int, default=8, choices=(1, 2, 4, 8), help="largest number of copies (default 8)")
    parser.add_argument(
        "--runs", type=int, default=3, help="timed runs per method and size (default 3; 1 for networkx and pandana)"
    )
    parser.add_argument("--networkx-budget-s", type=float, default=60.0, help="skip networkx where it is expected to take longer")
    parser.add_argument("--pandana-budget-s", type=float, default=100.0, help="skip pandana where it is expected to take longer")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.data, max(1, args.runs), args.out)

    print("# Scale curve: travel times to K = 10 facility categories, 15-minute cut-off")
    print()
    for line in common.machine_lines(PACKAGES):
        print(line)
    print()
    t_start = time.perf_counter()
    print("building the base case...", file=sys.stderr, flush=True)
    base = base_case()
    sizes = [Size("window 10k", crop(base, 10_000), 1), Size("window 30k", crop(base, 30_000), 1)]
    for copies, (n_cols, n_rows) in ((1, (1, 1)), (2, (2, 1)), (4, (2, 2)), (8, (4, 2))):
        if copies <= args.max_tiles:
            sizes.append(Size(f"{copies} × Andorra", tile(base, n_cols, n_rows), copies))
    budgets = {"networkx": args.networkx_budget_s, "pandana": args.pandana_budget_s}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    answers: dict[str, dict[str, np.ndarray]] = {}
    loads: dict[str, str] = {}
    last: dict[str, tuple[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            case = size.case
            data = Path(tmp) / "case.pkl"
            with data.open("wb") as fh:
                pickle.dump(case, fh, protocol=pickle.HIGHEST_PROTOCOL)
            results[size.label] = {}
            answers[size.label] = {}
            loads[size.label] = common.load_average()
            for method in METHODS:
                budget = budgets.get(method)
                if budget is not None and method in last:
                    n0, s0 = last[method]
                    expected = s0 * case.n_nodes / n0
                    if expected > budget:
                        print(f"{size.label}: {method} skipped (expected {expected:.0f} s > {budget:.0f} s)", file=sys.stderr)
                        continue
                runs = args.runs if method in ("mtown_geo", "search", "scipy") else 1
                print(f"{size.label} ({case.n_nodes:,} nodes): {method}...", file=sys.stderr, flush=True)
                out = Path(tmp) / f"{method}.json"
                rec = run_worker(method, data, runs, out, timeout_s=10 * (budget or 120))
                if rec is None:
                    last[method] = (case.n_nodes, math.inf)
                    continue
                results[size.label][method] = rec
                if out.with_suffix(".npy").exists():
                    answers[size.label][method] = np.load(out.with_suffix(".npy"))
                    out.with_suffix(".npy").unlink()
                whole = method_s(rec) + (rec.get("setup_s", 0.0) if method == "networkx" else 0.0)
                last[method] = (case.n_nodes, whole)
    elapsed = time.perf_counter() - t_start

    # -- answers ----------------------------------------------------------------------------
    print("## Do they agree?")
    print()
    rows = []
    ref_times: np.ndarray | None = None
    for size in sizes:
        got = answers[size.label]
        cells = [size.label]
        for peer in ("networkx", "pandana"):
            if "scipy" in got and peer in got:
                n_one, diff = compare(got["scipy"], got[peer])
                cells.append(f"{n_one:,} / {diff:.2g}")
            else:
                cells.append("—")
        tt = got.get("mtown_geo")
        if tt is not None and size.copies == 1 and size.label.startswith("1 ×"):
            ref_times = tt
            cells.append("reference")
        elif tt is not None and ref_times is not None and size.copies > 1:
            copy_of = size.case.origin_copy
            both = [(tt[:, copy_of == c], ref_times) for c in range(size.copies)]
            with np.errstate(invalid="ignore"):
                up = max(float(np.max(np.where(np.isfinite(a) & np.isfinite(b), a - b, 0.0))) for a, b in both)
            faster = sum(int(((a < b - 1e-9) | (np.isfinite(a) & np.isinf(b))).sum()) for a, b in both)
            lost = sum(int((np.isinf(a) & np.isfinite(b)).sum()) for a, b in both)
            pairs = sum(a.size for a, _ in both)
            cells.append(f"largest increase {up:.2g} min; pairs lost {lost}; faster through the links {faster:,} of {pairs:,}")
        else:
            cells.append("—")
        rows.append(cells)
    print(
        common.table(
            [
                "network",
                "networkx vs scipy: pairs by one side / largest diff (min)",
                "pandana vs scipy",
                "mtown_geo travel_times in every copy vs 1 × Andorra",
            ],
            rows,
        )
    )
    print()
    print("## Seconds (median of the runs in brackets) and peak memory")
    print()
    header = ["network", "nodes", "edges", "facilities", "origins", "load"]
    rows = [
        [
            s.label,
            f"{s.case.n_nodes:,}",
            f"{len(s.case.u):,}",
            f"{len(s.case.fac_cat):,}",
            f"{len(s.case.origin_xy):,}",
            loads[s.label],
        ]
        for s in sizes
    ]
    print(common.table(header, rows))
    print()

    def per_method(cell: Callable[[dict[str, Any]], str]) -> None:
        """A table of one row per network and one column per method ("—" where it did not run)."""
        rows = [[s.label, *("—" if (rec := results[s.label].get(m)) is None else cell(rec) for m in METHODS)] for s in sizes]
        print(common.table(["network", *(LABELS[m] for m in METHODS)], rows))

    per_method(lambda rec: f"{common.fmt_s(method_s(rec))} ({len(rec['times_s'])})")
    print()
    rows = []
    for s in sizes:
        rec = results[s.label].get("scipy")
        if rec is not None and "by_copy_s" in rec:
            rows.append(
                [s.label, common.fmt_s(method_s(rec)), common.fmt_s(rec["by_copy_s"]), f"{rec['by_copy_s'] / method_s(rec):.2f}"]
            )
    if rows:
        print("Bare scipy: one search per category over every copy at once, and the same searches copy by copy (s):")
        print()
        print(common.table(["network", "all copies at once", "copy by copy", "ratio"], rows))
        print()
    print(
        "Set-up, not in the times above (s): mtown_geo `Network` from the frames / its first call (indexes built) / scipy CSR / networkx graph / pandana `Network` + `precompute`:"
    )
    print()
    rows = []
    for s in sizes:
        res = results[s.label]

        def g(method: str, key: str, res: dict[str, dict[str, Any]] = res) -> str:
            rec = res.get(method)
            return common.fmt_s(rec[key]) if rec is not None and key in rec else "—"

        rows.append(
            [
                s.label,
                g("mtown_geo", "setup_s"),
                g("mtown_geo", "first_s"),
                g("scipy", "setup_s"),
                g("networkx", "setup_s"),
                g("pandana", "setup_s"),
            ]
        )
    print(common.table(["network", "Network", "first travel_times", "CSR", "networkx graph", "pandana set-up"], rows))
    print()
    print(
        "Peak memory, MB (VmHWM of the method's subprocess; in brackets the increase over its peak after imports and "
        "loading the arrays):"
    )
    print()
    per_method(lambda rec: f"{rec['peak_mb']:,.0f} (+{rec['peak_mb'] - rec['base_mb']:,.0f})")
    print()
    print("## Growth: exponent b of time ∝ nodes^b")
    print()
    rows = []
    for method in METHODS:
        pts_all = [(s.case.n_nodes, method_s(results[s.label][method])) for s in sizes if method in results[s.label]]
        pts_tiled = [
            (n, t) for (n, t), s in zip(pts_all, [s for s in sizes if method in results[s.label]], strict=True) if "×" in s.label
        ]
        rows.append(
            [
                LABELS[method],
                f"{fit_exponent([p[0] for p in pts_all], [p[1] for p in pts_all]):.2f} ({len(pts_all)} sizes)",
                f"{fit_exponent([p[0] for p in pts_tiled], [p[1] for p in pts_tiled]):.2f} ({len(pts_tiled)} sizes)",
            ]
        )
    print(common.table(["method", "all sizes", "copies of Andorra only"], rows))
    big = sizes[-1]
    floor_rec = results[big.label].get("scipy")
    if floor_rec is not None:
        per = method_s(floor_rec) / big.case.n_nodes
        print()
        print(
            f"Reference point: bare scipy took 1.7 s for 4.3 million nodes (K = 10) on this machine; "
            f"here {common.fmt_s(method_s(floor_rec))} s for {big.case.n_nodes:,} nodes, i.e. "
            f"{common.fmt_s(per * 4.3e6)} s at 4.3 million nodes by linear extrapolation."
        )
    print()
    print(f"Whole run: {elapsed / 60:.1f} minutes.")
    print()
    print("Data © OpenStreetMap contributors (ODbL 1.0).")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())
