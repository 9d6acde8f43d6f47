"""Life-circle benchmark: from the OSM file to the 15-minute coverage table, mtown_geo against osmnx + networkx.

Run from the repository root (reads ``../shared/data/andorra_osm/andorra.osm.pbf``)::

    python bench/lifecircle.py                      # about 3 minutes on 2 cores
    python bench/lifecircle.py --profile            # plus a cProfile of one mtown_geo run
    python bench/lifecircle.py --runs 3 --ox-runs 1 --iso-runs 0   # about 1 minute
    python bench/lifecircle.py --cpu ...            # CPU seconds of the process, not wall seconds

The job: the 15-minute life circle of the ``zhejiang-2023`` profile (its 10 required
categories, walking at 4 km/h, 15 minutes) over the demand units of a 50 m grid on the
built-up land of the file (OSM ``landuse=residential|commercial|retail`` polygons),
weighted by area, on the largest real network here (Andorra, 137k vertices).

* **mtown_geo**, as a planner calls it: ``sources.read_osm`` (cold: its cache is cleared
  before every run), ``network.from_osm(extract, mode="walk")``, ``facilities.from_osm``,
  ``demand.grid``, ``lifecircle.travel_times`` and ``lifecircle.coverage``; the same work
  is also run step by step (the steps ``access.reach`` and ``Reach.at`` take: indexes of
  a new network, attachment of facilities and units to the nearest edge, the search,
  times at the units) to say where the time goes, followed by
  ``isochrones.service_areas(..., by="category")`` at 15 minutes.
* **osmnx + networkx**, the way the osmnx examples do it: the ``.pbf`` is written as OSM
  XML with pyosmium (the walk ways and their nodes, with the helper of ``bench/read.py``;
  the objects with the facility tags and what they reference), then
  ``ox.graph_from_xml``, ``ox.project_graph``, edge weights ``length / 66.67`` m/min,
  ``ox.features_from_xml`` with the profile's tags of the 10 categories,
  ``ox.distance.nearest_nodes`` for facilities (centroids) and units, one
  ``nx.multi_source_dijkstra_path_length`` per category cut at 15 minutes, and the
  coverage on the same grid.
* **the floor**: reading the file's arrays with pyrosm (``OSM(path)._read_pbf()``) plus
  one bare ``scipy.sparse.csgraph.dijkstra`` per category from the facilities' nearest
  nodes (``min_only=True``, ``limit=15``).

The coverage rates of the two routes are compared per category, with a third column
that isolates the attachment: the same network searched from the facilities' nearest
nodes and read at the units' nearest nodes (as osmnx does). Timings are medians of runs
interleaved round-robin, so a change of load reaches every route alike.

Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib.util
import io
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from read import pyosmium_bare, walk_way_ids, write_walk_xml

import mtown_geo as mg
import mtown_geo.isochrones
from mtown_geo import access
from mtown_geo.sources import osm as _osm

CIRCLE = "15min"
LIMIT_MIN = 15.0
CELL_M = 50.0
WALK_M_PER_MIN = 4000.0 / 60.0  # 4 km/h
BUILT_UP = ("residential", "commercial", "retail")
PACKAGES = ("mtown-geo", "osmium", "numpy", "scipy", "shapely", "geopandas", "pyproj", "networkx", "osmnx", "pyrosm")


# -- the job ---------------------------------------------------------------------------------


def circle_profile() -> tuple[mg.standards.Profile, list[str]]:
    """The default profile with the 15-minute circle reduced to its required categories.

    The circle's optional categories (reported beside it by default) do not decide its
    coverage; leaving them out makes the job the 10 required categories for every route.
    """
    prof = mg.standards.resolve(None)
    spec = prof.circles[CIRCLE]
    reduced = prof.model_copy(update={"circles": {**prof.circles, CIRCLE: spec.model_copy(update={"optional": []})}})
    return reduced, list(spec.required)


#: The clock every timing reads: wall seconds, or CPU seconds of the process (``--cpu``).
_TIMER: list[Any] = [time.perf_counter]


def now() -> float:
    """The current reading of the benchmark's clock (see ``--cpu``)."""
    return float(_TIMER[0]())


class Clock:
    """Seconds spent in named stages (``with clock("read"): ...``)."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = now()
        try:
            yield
        finally:
            self.s[stage] = self.s.get(stage, 0.0) + now() - t0


# -- mtown_geo -----------------------------------------------------------------------------


@dataclass
class MtownRun:
    stages: dict[str, float]
    network: mg.Network
    facilities: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    times: pd.DataFrame
    table: pd.DataFrame
    reach: access.Reach | None = None
    areas: gpd.GeoDataFrame | None = None


def mtown_public(path: Path, prof: mg.standards.Profile) -> MtownRun:
    """The planner's calls, each timed: read_osm → from_osm → facilities → grid → travel_times → coverage."""
    clock = Clock()
    _osm._CACHE.clear()
    with clock("read"):
        extract = mg.sources.read_osm(path)
    with clock("build"), common.quiet_warnings():
        net = mg.network.from_osm(extract, mode="walk")
    with clock("facilities"), common.quiet_warnings():
        fac = mg.facilities.from_osm(extract)
    with clock("demand grid"):
        units = mg.demand.grid(common.built_up_polygons(extract, landuse=BUILT_UP).to_crs(net.crs), cell_m=CELL_M)
    with clock("lifecircle.travel_times"), common.quiet_warnings():
        times = mg.lifecircle.travel_times(net, fac, units, profile=prof, circle=CIRCLE)
    with clock("lifecircle.coverage"):
        table = mg.lifecircle.coverage(times, units, profile=prof, circle=CIRCLE, weight="area_m2")
    return MtownRun(clock.s, net, fac, units, times, table)


def indexes_from_nodes(net: mg.Network) -> None:
    """The engine's indexes of a new network taken from its node coordinates (a reference).

    ``Network.edge_start_tree`` reads the first vertex of every edge's LineString through
    shapely and ``Network.straight_edges`` every edge's coordinates; for a network whose
    edges are straight segments from u to v (every network ``network.from_osm`` builds)
    both are the coordinates of the nodes u and v. Sets the two cached properties.
    """
    x = net.nodes["x"].to_numpy()
    y = net.nodes["y"].to_numpy()
    u = net.edges["u"].to_numpy()
    v = net.edges["v"].to_numpy()
    a = np.column_stack([x[u], y[u]])
    b = np.column_stack([x[v], y[v]])
    net.__dict__["edge_start_tree"] = cKDTree(a)
    net.__dict__["straight_edges"] = (a, b)


def mtown_stages(path: Path, prof: mg.standards.Profile, cats: Sequence[str], *, isochrones: bool) -> MtownRun:
    """The planner's job step by step: the calls of ``lifecircle.travel_times`` one by one.

    ``access.reach`` and ``Reach.at`` are unrolled into their steps (indexes of a new
    network, attachment, search without nearest-facility labels, times at the units) so
    each is timed.
    """
    clock = Clock()
    _osm._CACHE.clear()
    with clock("read"):
        extract = mg.sources.read_osm(path)
    with clock("build"), common.quiet_warnings():
        net = mg.network.from_osm(extract, mode="walk")
    with clock("facilities"), common.quiet_warnings():
        fac = mg.facilities.from_osm(extract)
    with clock("demand grid"):
        polys = common.built_up_polygons(extract, landuse=BUILT_UP).to_crs(net.crs)
        units = mg.demand.grid(polys, cell_m=CELL_M)
    with clock("indexes"):
        # what access.reach builds on a new network: the nearest-edge index (from the node
        # coordinates for straight edges, else the edge STRtree and edge-start tree), the
        # reversed CSR and the components
        if net.edge_piece_tree is None:
            _ = net.edge_tree, net.edge_start_tree
        _ = net.csr_reverse, net.component
    with clock("attach"):
        facs = fac[fac["category"].isin(cats)].reset_index(drop=True)  # as lifecircle.reach
        att = access.attach(net, facs)
        fsnaps = att.snaps
        usnaps = access.snap(net, units)
    with clock("search"):
        owner = att.points["owner"].to_numpy()
        cat_of_point = att.category_codes(cats)
        ok = fsnaps["ok"].to_numpy()
        node_min, nearest = access._search(net, fsnaps, owner, cat_of_point, ok, len(cats), LIMIT_MIN, labels=False)
        reach = access.Reach(
            network=net,
            categories=tuple(cats),
            node_min=node_min,
            nearest=nearest,
            max_time_min=LIMIT_MIN,
            attachment=att,
        )
    with clock("attach"):
        # reach() builds the facility diagnostics when an access point failed or lies on a small piece
        if not ok.all() or (fsnaps["component"].to_numpy() > 0).any():
            reach.facility_diagnostics()
    with clock("times + coverage"):
        t, _ = reach._times_for(usnaps)
        times = pd.DataFrame(t.T, index=units.index, columns=list(cats))
        table = mg.lifecircle.coverage(times, units, profile=prof, circle=CIRCLE, weight="area_m2")
    areas = None
    if isochrones:
        with clock("isochrones"):
            areas = mtown_geo.isochrones.service_areas(reach, thresholds_min=LIMIT_MIN, by="category")
    return MtownRun(clock.s, net, fac, units, times, table, reach, areas)


# -- references for where the time goes -------------------------------------------------------


def pyosmium_pass(path: Path) -> int:
    """The pass ``read_osm`` makes over the file (same filters, node locations, area assembly), doing nothing."""
    return pyosmium_bare(path)


def shapely_objects(net: mg.Network) -> int:
    """Make the shapely Points and LineStrings ``network.from_osm`` makes for the nodes and edges."""
    x = net.nodes["x"].to_numpy()
    y = net.nodes["y"].to_numpy()
    u = net.edges["u"].to_numpy()
    v = net.edges["v"].to_numpy()
    pts = shapely.points(x, y)
    lines = shapely.linestrings(np.stack([np.column_stack([x[u], y[u]]), np.column_stack([x[v], y[v]])], axis=1))
    return len(pts) + len(lines)


# -- the floor ---------------------------------------------------------------------------------


def pyrosm_read(path: Path) -> None:
    """pyrosm's read of the file into its node and way arrays (the first step of every pyrosm query)."""
    from pyrosm import OSM

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        OSM(str(path))._read_pbf()


def representative_xy(geoms: gpd.GeoSeries) -> np.ndarray:
    """Centroids (as osmnx users take them) of projected geometries, shape (n, 2)."""
    return shapely.get_coordinates(shapely.centroid(np.asarray(geoms.values)))


def node_sources(net: mg.Network, fac: gpd.GeoDataFrame, cats: Sequence[str]) -> dict[str, np.ndarray]:
    """Per category, the distinct nearest network nodes of its facilities (by centroid)."""
    sub = fac[fac["category"].isin(cats)]
    xy = representative_xy(sub.to_crs(net.crs).geometry)
    _, node = cKDTree(np.column_stack([net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy()])).query(xy)
    cat = sub["category"].to_numpy()
    return {c: np.unique(node[cat == c]) for c in cats}


def scipy_searches(net: mg.Network, sources: dict[str, np.ndarray]) -> np.ndarray:
    """One bare scipy dijkstra per category from its nodes (min_only, cut at 15 minutes): node times (K, n)."""
    csr = net.csr_reverse
    out = np.full((len(sources), net.n_nodes), np.inf)
    for k, nodes in enumerate(sources.values()):
        if len(nodes):
            out[k] = dijkstra(csr, directed=True, indices=nodes, min_only=True, limit=LIMIT_MIN)
    return out


# -- osmnx + networkx ------------------------------------------------------------------------


def osmnx_tags(prof: mg.standards.Profile, cats: Sequence[str]) -> dict[str, bool | str | list[str]]:
    """The ``tags`` argument of ``ox.features_from_xml``: the first key of each of the categories' OSM rules.

    osmnx ORs its tags; the other keys of a rule (``isced:level``, ``bus=yes``...) are
    applied afterwards by :func:`osmnx_categories`.
    """
    tags: dict[str, Any] = {}
    for cat in cats:
        for rule in prof.categories[cat].osm:
            key, want = next(iter(rule.tags.items()))
            if want == "*":
                tags[key] = True
            elif tags.get(key) is not True:
                tags.setdefault(key, set()).update(want if isinstance(want, list) else [want])
    return {k: (True if v is True else sorted(v)) for k, v in tags.items()}


def osmnx_categories(feats: gpd.GeoDataFrame, prof: mg.standards.Profile, cats: Sequence[str]) -> dict[str, np.ndarray]:
    """Per category, which osmnx features match one of its OSM tag rules (all keys of the rule).

    Parks keep the polygons of at least the category's ``min_area_m2`` (``feats`` projected).
    """
    out: dict[str, np.ndarray] = {}
    area = feats.geometry.area.to_numpy()
    for cat in cats:
        spec = prof.categories[cat]
        mask = np.zeros(len(feats), dtype=bool)
        for rule in spec.osm:
            hit = np.ones(len(feats), dtype=bool)
            for key, want in rule.tags.items():
                if key not in feats:
                    hit[:] = False
                    break
                col = feats[key]
                hit &= col.notna().to_numpy() if want == "*" else col.isin(want if isinstance(want, list) else [want]).to_numpy()
            mask |= hit
        if spec.min_area_m2:
            mask &= area >= spec.min_area_m2
        out[cat] = mask
    return out


def write_facility_xml(path: Path, xml: Path, tags: dict[str, bool | str | list[str]]) -> tuple[int, int, int]:
    """Write the objects carrying one of ``tags`` and what they reference to OSM XML (pyosmium).

    Relations bring their member ways, ways their nodes, so osmnx can assemble every
    area. libosmium's key and id filters do the scanning. Returns the numbers of nodes,
    ways and relations written.
    """
    import osmium

    wanted: dict[str, bool | set[str]] = {
        k: (True if v is True else {v} if isinstance(v, str) else set(v)) for k, v in tags.items() if v is not False
    }
    keys = list(wanted)

    def match(obj: Any) -> bool:
        for key, want in wanted.items():
            value = obj.tags.get(key)
            if value is not None and (want is True or (isinstance(want, set) and value in want)):
                return True
        return False

    def objects(kind: Any, flt: Any) -> Any:
        return osmium.FileProcessor(str(path), kind).with_filter(flt)

    relations: set[int] = set()
    member_ways: set[int] = set()
    for rel in objects(osmium.osm.RELATION, osmium.filter.KeyFilter(*keys)):
        if match(rel):
            relations.add(rel.id)
            member_ways.update(m.ref for m in rel.members if m.type == "w")
    ways: set[int] = set()
    refs: set[int] = set()
    for way in objects(osmium.osm.WAY, osmium.filter.KeyFilter(*keys)):
        if match(way):
            ways.add(way.id)
            refs.update(n.ref for n in way.nodes)
    if member_ways:
        for way in objects(osmium.osm.WAY, osmium.filter.IdFilter(member_ways)):
            ways.add(way.id)
            refs.update(n.ref for n in way.nodes)
    refs.update(n.id for n in objects(osmium.osm.NODE, osmium.filter.KeyFilter(*keys)) if match(n))
    counts = [0, 0, 0]
    writer = osmium.SimpleWriter(str(xml))
    try:
        for node in objects(osmium.osm.NODE, osmium.filter.IdFilter(refs)):
            writer.add_node(node)
            counts[0] += 1
        for way in objects(osmium.osm.WAY, osmium.filter.IdFilter(ways)):
            writer.add_way(way)
            counts[1] += 1
        if relations:
            for rel in objects(osmium.osm.RELATION, osmium.filter.IdFilter(relations)):
                writer.add_relation(rel)
                counts[2] += 1
    finally:
        writer.close()
    return counts[0], counts[1], counts[2]


@dataclass
class OsmnxRun:
    stages: dict[str, float]
    n_nodes: int
    n_edges: int
    counts: dict[str, int]
    rates: pd.Series  # per category and the circle (CIRCLE row)
    project_s: float | None = None


def osmnx_route(
    walk_xml: Path,
    fac_xml: Path,
    tags: dict[str, bool | str | list[str]],
    prof: mg.standards.Profile,
    cats: Sequence[str],
    units: gpd.GeoDataFrame,
    *,
    time_projection: bool = False,
) -> OsmnxRun:
    """The job the way the osmnx examples do it, each step timed (the grid is the shared one).

    The graph stays in longitude/latitude: edge ``length`` is in metres already, and
    ``nearest_nodes`` on an unprojected graph uses a haversine ball tree (scikit-learn).
    With ``time_projection``, ``ox.project_graph`` (which the isochrone examples call
    first) is timed apart, outside the route.
    """
    import networkx as nx
    import osmnx as ox

    clock = Clock()
    with clock("read"):
        G = ox.graph_from_xml(walk_xml, simplify=False, retain_all=True, bidirectional=True)
    with clock("build"):
        for _, _, data in G.edges(data=True):
            data["time_min"] = data["length"] / WALK_M_PER_MIN
    with clock("facilities"):
        feats = ox.features_from_xml(fac_xml, tags=tags).to_crs(units.crs)
        masks = osmnx_categories(feats, prof, cats)
        fxy = shapely.get_coordinates(gpd.GeoSeries(feats.geometry.centroid, crs=units.crs).to_crs(4326).values)
    with clock("attach"):
        fac_node = np.asarray(ox.distance.nearest_nodes(G, fxy[:, 0], fxy[:, 1]))
        uxy = shapely.get_coordinates(units.geometry.to_crs(4326).values)
        unit_node = np.asarray(ox.distance.nearest_nodes(G, uxy[:, 0], uxy[:, 1]))
    with clock("search"):
        found = {
            cat: nx.multi_source_dijkstra_path_length(G, set(fac_node[masks[cat]].tolist()), cutoff=LIMIT_MIN, weight="time_min")
            if masks[cat].any()
            else {}
            for cat in cats
        }
    with clock("times + coverage"):
        w = units["area_m2"].to_numpy(dtype=float)
        keys = unit_node.tolist()
        reached = np.column_stack(
            [np.fromiter((found[c].get(k, np.inf) <= LIMIT_MIN for k in keys), dtype=bool, count=len(keys)) for c in cats]
        )
        rates = pd.Series([w[reached[:, j]].sum() / w.sum() for j in range(len(cats))], index=list(cats), dtype=float)
        rates[mg.lifecircle.CIRCLE] = w[reached.all(axis=1)].sum() / w.sum()
    project_s = None
    if time_projection:
        t0 = now()
        ox.project_graph(G)
        project_s = now() - t0
    counts = {c: int(m.sum()) for c, m in masks.items()}
    return OsmnxRun(clock.s, G.number_of_nodes(), G.number_of_edges(), counts, rates, project_s)


# -- agreement ---------------------------------------------------------------------------------


def node_rates(net: mg.Network, units: gpd.GeoDataFrame, node_min: np.ndarray, cats: Sequence[str]) -> pd.Series:
    """Coverage when every unit takes the time of its nearest node (as osmnx users read it)."""
    uxy = shapely.get_coordinates(np.asarray(units.to_crs(net.crs).geometry.values))
    _, node = cKDTree(np.column_stack([net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy()])).query(uxy)
    reached = (node_min[:, node] <= LIMIT_MIN).T
    w = units["area_m2"].to_numpy(dtype=float)
    rates = pd.Series([w[reached[:, j]].sum() / w.sum() for j in range(len(cats))], index=list(cats), dtype=float)
    rates[mg.lifecircle.CIRCLE] = w[reached.all(axis=1)].sum() / w.sum()
    return rates


def time_diff(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, float]:
    """Unit–category times within the cut-off on one side only, and the largest difference where both are."""
    x = a.to_numpy(dtype=float)
    y = b[list(a.columns)].to_numpy(dtype=float)
    fx, fy = np.isfinite(x), np.isfinite(y)
    both = fx & fy
    return int((fx != fy).sum()), float(np.abs(x[both] - y[both]).max()) if both.any() else 0.0


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest difference between the rates of two coverage tables (inf when their rows differ)."""
    if not a.index.equals(b.index):
        return float("inf")
    return float(np.abs(a["rate"].to_numpy() - b["rate"].to_numpy()).max())


# -- output ------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def stage_medians(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = {k for r in runs for k in r}
    return {k: median([r[k] for r in runs if k in r]) for k in keys}


def totals(runs: Sequence[dict[str, float]], stages: Sequence[str], extra_s: float = 0.0) -> float:
    """Median over runs of the sum of ``stages`` (plus ``extra_s``)."""
    return median([sum(r.get(s, 0.0) for s in stages) + extra_s for r in runs])


PIPELINE = ("read", "build", "facilities", "demand grid", "indexes", "attach", "search", "times + coverage")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--osm", type=Path, default=None, help="OSM .pbf file (default ../shared/data/" + common.ANDORRA + ")")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of the mtown_geo routes and the floor (default 5)")
    parser.add_argument("--ox-runs", type=int, default=3, help="timed runs of the osmnx + networkx route (default 3)")
    parser.add_argument("--iso-runs", type=int, default=1, help="runs that also time the isochrones (default 1)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time CPU seconds of the process (time.process_time, every thread) instead of wall seconds: steadier on a shared machine",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of one mtown_geo run (planner's calls + isochrones)"
    )
    args = parser.parse_args(argv)
    _TIMER[0] = time.process_time if args.cpu else time.perf_counter
    path = args.osm if args.osm is not None else common.shared_file(common.ANDORRA)
    runs = max(1, args.runs)
    ox_runs = min(max(0, args.ox_runs), runs)
    logging.getLogger("osmnx").setLevel(logging.WARNING)
    if importlib.util.find_spec("sklearn") is None:
        sys.exit(
            'the osmnx route needs scikit-learn (pip install -e ".[dev,bench]"): nearest_nodes on a graph in lon/lat uses its ball tree'
        )
    import networkx  # noqa: F401  (imports are not timed)
    import osmnx  # noqa: F401

    prof, cats = circle_profile()
    print(f"# 15-minute life circle from the file: {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    print()
    for line in common.machine_lines(PACKAGES):
        print(line)
    print()

    # warm-up (loads the profile and the libraries' lazy parts); its results set up the floor
    print("warm-up...", file=sys.stderr, flush=True)
    warm = mtown_public(path, prof)
    net, fac, units = warm.network, warm.facilities, warm.units
    _ = net.nodes, net.edges  # their geometries, made on first use: the floor below starts from them
    sources = node_sources(net, fac, cats)
    node_min = scipy_searches(net, sources)
    pyrosm_read(path)
    tags = osmnx_tags(mg.standards.resolve(None), cats)

    with tempfile.TemporaryDirectory() as tmp:
        print("writing the OSM XML for osmnx...", file=sys.stderr, flush=True)
        walk_xml = Path(tmp) / "walk.osm"
        fac_xml = Path(tmp) / "facilities.osm"
        t0 = now()
        n_walk = write_walk_xml(path, walk_xml, walk_way_ids(path))
        walk_s = now() - t0
        t0 = now()
        n_fac = write_facility_xml(path, fac_xml, tags)
        fac_xml_s = now() - t0
        xml_mb = (walk_xml.stat().st_size + fac_xml.stat().st_size) / 1e6
        # the walk XML's way ids are found from an extract read for the purpose: keep the clock fair
        _osm._CACHE.clear()

        public_runs: list[dict[str, float]] = []
        staged_runs: list[dict[str, float]] = []
        ox_stage_runs: list[dict[str, float]] = []
        ref_runs: list[dict[str, float]] = []
        loads: list[str] = [common.load_average()]
        public = staged = None
        ox_run: OsmnxRun | None = None
        project_s = float("nan")
        for r in range(runs):
            print(f"run {r + 1} of {runs}...", file=sys.stderr, flush=True)
            gc.collect()
            t0 = now()
            public = mtown_public(path, prof)
            public.stages["total"] = now() - t0
            public_runs.append(public.stages)
            gc.collect()
            staged = mtown_stages(path, prof, cats, isochrones=r < args.iso_runs)
            staged_runs.append(staged.stages)
            ref: dict[str, float] = {}
            for label, fn in (
                ("pyrosm read", lambda: pyrosm_read(path)),
                ("scipy searches", lambda: scipy_searches(net, sources)),
                ("pyosmium pass", lambda: pyosmium_pass(path)),
                ("shapely objects", lambda: shapely_objects(net)),
                (
                    "start tree (shapely)",
                    lambda: cKDTree(shapely.get_coordinates(shapely.get_point(np.asarray(net.edges.geometry.values), 0))),
                ),
                ("start tree (nodes)", lambda: indexes_from_nodes(mg.Network(net.nodes, net.edges, mode="walk", speed_kmh=4.0))),
            ):
                gc.collect()
                t0 = now()
                fn()
                ref[label] = now() - t0
            ref_runs.append(ref)
            if r < ox_runs:
                print(f"osmnx route {r + 1} of {ox_runs}...", file=sys.stderr, flush=True)
                gc.collect()
                ox_run = osmnx_route(walk_xml, fac_xml, tags, prof, cats, units, time_projection=r == 0)
                if ox_run.project_s is not None:
                    project_s = ox_run.project_s
                ox_stage_runs.append(ox_run.stages)
            loads.append(common.load_average())
    assert public is not None and staged is not None

    # -- answers -----------------------------------------------------------------------------
    print()
    print("## Do the routes agree?")
    print()
    print(
        f"* planner's calls vs steps one by one: largest rate difference {same_table(public.table, staged.table):.2g}; "
        f"times identical: {bool(np.array_equal(public.times[list(cats)].to_numpy(), staged.times.to_numpy()))}"
    )
    rates_nodes = node_rates(net, units, node_min, cats)
    rows = []
    table = public.table
    for cat in [*cats, mg.lifecircle.CIRCLE]:
        n_mg = int((fac["category"] == cat).sum()) if cat != mg.lifecircle.CIRCLE else 0
        n_ox = ox_run.counts.get(cat, 0) if ox_run is not None else 0
        r_mg = float(table["rate"].to_numpy()[table.index.get_loc(cat)])
        r_nd = float(rates_nodes[cat])
        r_ox = float(ox_run.rates[cat]) if ox_run is not None else float("nan")
        rows.append(
            [
                cat if cat != mg.lifecircle.CIRCLE else "whole circle",
                f"{n_mg:,} / {n_ox:,}" if cat != mg.lifecircle.CIRCLE else "",
                f"{r_mg:.1%}",
                f"{r_nd:.1%}",
                f"{r_ox:.1%}",
                f"{(r_mg - r_nd) * 100:+.1f}",
                f"{(r_nd - r_ox) * 100:+.2f}",
            ]
        )
    print()
    print(
        common.table(
            [
                "category",
                "facilities mtown_geo / osmnx",
                "mtown_geo (edges, access legs)",
                "same network, nearest nodes",
                "osmnx + networkx",
                "attachment (points)",
                "rest (points)",
            ],
            rows,
        )
    )
    print()
    if ox_run is not None:
        print(
            f"* networks: mtown_geo {net.n_nodes:,} nodes, {net.n_edges:,} edges (two-way); "
            f"osmnx {ox_run.n_nodes:,} nodes, {ox_run.n_edges:,} edges (one per direction)"
        )
    print(
        f"* demand: {len(units):,} cells of {CELL_M:g} m, {units['area_m2'].sum() / 1e6:.2f} km² of landuse={'|'.join(BUILT_UP)}"
    )
    print(
        f"* OSM XML for osmnx: walk ways {n_walk[1]:,} with {n_walk[0]:,} nodes; facility objects: "
        f"{n_fac[0]:,} nodes, {n_fac[1]:,} ways, {n_fac[2]:,} relations ({xml_mb:.0f} MB together)"
    )
    if staged.areas is not None:
        print(f"* isochrones: {len(staged.areas)} service areas, {staged.areas['area_m2'].sum() / 1e6:.1f} km² in all")

    # -- times ----------------------------------------------------------------------------
    pub = stage_medians(public_runs)
    stg = stage_medians(staged_runs)
    oxm = stage_medians(ox_stage_runs)
    ref_m = stage_medians(ref_runs)
    conv_s = walk_s + fac_xml_s
    mg_total = pub["total"]
    grid_today = pub["demand grid"]
    st_total = totals(staged_runs, PIPELINE)
    ox_core = totals(ox_stage_runs, [s for s in PIPELINE if s != "demand grid"]) if ox_stage_runs else float("nan")
    f = common.fmt_s

    def cell(d: dict[str, float], key: str) -> str:
        return f(d[key]) if key in d else "—"

    print()
    print(
        f"## {'CPU' if args.cpu else 'Wall'} seconds (medians: mtown_geo routes and floor of {runs} runs, osmnx of {len(ox_stage_runs)}; "
        f"load average {loads[0]} at the start, {loads[-1]} at the end)"
    )
    print()
    rows = [
        [".pbf → OSM XML (pyosmium; once)", "—", f(conv_s)],
        ["read the file", cell(stg, "read"), cell(oxm, "read") + " (graph_from_xml)"],
        ["network", cell(stg, "build"), cell(oxm, "build") + " (edge weights)"],
        ["facilities", cell(stg, "facilities"), cell(oxm, "facilities") + " (features_from_xml)"],
        ["demand grid", cell(stg, "demand grid"), "(the same grid)"],
        ["indexes of a new network", cell(stg, "indexes"), "—"],
        ["attach", cell(stg, "attach"), cell(oxm, "attach") + " (nearest_nodes)"],
        ["search", cell(stg, "search"), cell(oxm, "search") + " (networkx)"],
        [
            "times at units + coverage",
            cell(stg, "times + coverage"),
            cell(oxm, "times + coverage"),
        ],
        ["**file → coverage table**", f(st_total), f(ox_core + grid_today) + " (with the same grid)"],
        ["  the same as the planner's calls", f(mg_total), ""],
        ["isochrones (15 min, by category)", cell(stg, "isochrones"), ""],
        ["ox.project_graph (not counted; once)", "", f(project_s)],
    ]
    print(common.table(["stage", "mtown_geo", "osmnx + networkx"], rows))
    print()
    print("The planner's calls (medians):")
    print()
    calls = ("read", "build", "facilities", "demand grid", "lifecircle.travel_times", "lifecircle.coverage", "total")
    print(common.table(["call", "s"], [[k, f(pub[k])] for k in calls]))
    print()
    print("References (medians):")
    print()
    print(
        common.table(
            ["measured", "s"],
            [
                ["pyrosm OSM(path)._read_pbf() (floor: the file's arrays)", f(ref_m["pyrosm read"])],
                ["bare scipy dijkstra per category (floor: the searches)", f(ref_m["scipy searches"])],
                ["pyosmium pass of read_osm alone (same filters, locations, areas)", f(ref_m["pyosmium pass"])],
                ["shapely Points + LineStrings of the network's nodes and edges", f(ref_m["shapely objects"])],
                ["edge start KD-tree through shapely (Network.edge_start_tree)", f(ref_m["start tree (shapely)"])],
                ["Network + edge start tree and segments from node coordinates", f(ref_m["start tree (nodes)"])],
            ],
        )
    )
    floor = ref_m["pyrosm read"] + ref_m["scipy searches"]
    build_floor = ref_m["start tree (nodes)"]

    def ratio(ox_s: float, mg_s: float, target: float) -> str:
        return f"{ox_s / mg_s:.1f}× {'met' if ox_s >= target * mg_s else 'missed'}"

    print()
    print("## Targets")
    print()
    print(
        common.table(
            ["target", "mtown_geo"],
            [
                ["file → coverage table, s", f(mg_total)],
                [
                    f"≤ 2 × floor ({f(floor)} s: pyrosm read + scipy searches)",
                    f"{mg_total / floor:.1f}× {'met' if mg_total <= 2 * floor else 'missed'}",
                ],
                ["≥ 8× faster than osmnx + networkx (the same grid in both)", ratio(ox_core + grid_today, mg_total, 8)],
                ["  grid left out of both", ratio(ox_core, mg_total - grid_today, 8)],
                ["  the XML conversion counted for osmnx", ratio(ox_core + grid_today + conv_s, mg_total, 8)],
                [
                    "  ox.project_graph counted (as the isochrone example does)",
                    ratio(ox_core + grid_today + project_s, mg_total, 8),
                ],
                [
                    f"network build ≤ 3 × its floor ({f(build_floor)} s: Network + start tree from node coordinates)",
                    f"{stg['build'] / build_floor:.1f}× {'met' if stg['build'] <= 3 * build_floor else 'missed'}",
                ],
                [
                    f"read ÷ the pyosmium pass it makes ({f(ref_m['pyosmium pass'])} s)",
                    f"{stg['read'] / ref_m['pyosmium pass']:.2f}×",
                ],
            ],
        )
    )

    if args.profile:
        print()
        print("## cProfile: one run of the planner's calls and the isochrones")
        print()
        pr = cProfile.Profile()
        pr.enable()
        run = mtown_public(path, prof)
        with common.quiet_warnings():
            reach = mg.lifecircle.reach(run.network, run.facilities, profile=prof, circle=CIRCLE)
        assert reach is not None
        mtown_geo.isochrones.service_areas(reach, thresholds_min=LIMIT_MIN, by="category")
        pr.disable()
        out = io.StringIO()
        stats = pstats.Stats(pr, stream=out)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
        print("```")
        print(out.getvalue().strip())
        print("```")
    print()
    print("Data © OpenStreetMap contributors (ODbL 1.0).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
