"""File → network benchmark: mtown_geo against pyrosm and osmnx on the same OSM extract.

Run from the repository root (reads ``../shared/data/andorra_osm/andorra.osm.pbf``)::

    python bench/read.py            # 2 to 5 minutes on 2 cores
    python bench/read.py --runs 1
    python bench/read.py --buildings-only --runs 7   # read_osm by building mode alone (about 30 s)
    python bench/read.py --candidates --runs 5       # ways to read the file alone (about 1 minute)

Times, in one process, making the unsimplified walk network of the extract:

* mtown_geo: ``mtown_geo.sources.read_osm(path, cache=False)`` (pyosmium: highway ways,
  facilities, land use, routes in one pass) + ``mtown_geo.network.from_osm(extract,
  mode="walk")`` (segments, projection, lengths, parallel-edge merge);
* pyrosm: ``OSM(path).get_network(network_type="walking", nodes=True)``, and the same
  followed by ``OSM.to_graph(nodes, edges, graph_type="networkx", simplify=False,
  retain_all=True)`` (a routable graph of the same unsimplified network);
* osmnx: ``graph_from_xml(xml, simplify=False, retain_all=True, bidirectional=True)``.
  osmnx reads only OSM XML and makes a graph of every way in the file, so the XML is
  written first (pyosmium ``SimpleWriter``, timed apart) with the ways mtown_geo's walk
  filter keeps and their nodes: both then build the same set of ways.

How to read an OSM file (``--candidates``, also run first by default): the ways to get what
``read_osm`` needs, timed round-robin in one process (wall and CPU seconds; ratios to the bare
pyosmium pass):

* ``read_osm(path, cache=False)`` itself;
* the bare pyosmium pass it makes (``FileProcessor`` with node locations, libosmium's area
  assembly and the same ``KeyFilter``/``TagFilter`` chain in C++), with nothing done per object:
  the floor of any pyosmium reader;
* that pass reading every object's tags through pyosmium's public ``TagList`` iterator, and
  the same tags read by count (``tags_size`` + ``tags_next``, as ``read_osm`` does): the
  iterator ends each object with a StopIteration thrown from C++;
* GDAL's OSM driver through pyogrio (``read_dataframe`` of the ``points``, ``lines`` and
  ``multipolygons`` layers, ``use_arrow=True`` when pyarrow is installed): one pass over the
  file per layer, its own multipolygon assembly, the tags outside ``osmconf.ini`` in one
  ``other_tags`` string;
* pyrosm's read of the file into arrays (``OSM(path)._read_pbf()``; ``.pbf`` only).

Sizes (nodes, edges, km) are printed beside the times: the readers filter and split
ways differently, so the networks are not identical.

The cost of reading buildings: ``read_osm(path, buildings=..., cache=False)`` with no
building outline read for being a building (``"none"``), with the named ones (``"named"``,
the default: a school, library or clinic is often mapped only as a named outline) and with
every footprint (``"all"``), run round-robin; features read and the facilities
``facilities.from_osm`` finds in each.

Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

import mtown_geo as mg

PACKAGES = (
    "mtown-geo",
    "osmium",
    "pyogrio",
    "pyarrow",
    "pyrosm",
    "osmnx",
    "networkx",
    "geopandas",
    "shapely",
    "pyproj",
    "pandas",
)


def mtown_network(path: Path) -> tuple[mg.Network, float]:
    """The walk network from the file; also returns the seconds spent reading the file."""
    t0 = time.perf_counter()
    extract = mg.sources.read_osm(path, cache=False)
    read_s = time.perf_counter() - t0
    with common.quiet_warnings():
        net = mg.network.from_osm(extract, mode="walk")
    return net, read_s


def pyrosm_network(path: Path, *, graph: bool) -> tuple[Any, Any, Any]:
    """pyrosm's walking network (and its networkx graph, unsimplified, all pieces, when ``graph``)."""
    from pyrosm import OSM

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        osm = OSM(str(path))
        nodes, edges = osm.get_network(network_type="walking", nodes=True)
        g = osm.to_graph(nodes, edges, graph_type="networkx", retain_all=True, simplify=False, progress=False) if graph else None
    return nodes, edges, g


def walk_way_ids(path: Path) -> set[int]:
    """OSM ids of the ways mtown_geo's walk network is made of."""
    extract = mg.sources.read_osm(path)
    mask = mg.network.mode_way_mask(extract.ways, mg.standards.resolve(None), "walk")
    return set(extract.ways["osm_id"].to_numpy()[mask].tolist())


def write_walk_xml(path: Path, xml: Path, keep: set[int]) -> tuple[int, int]:
    """Write the ways ``keep`` and their nodes to OSM XML (pyosmium, two passes)."""
    import osmium

    refs: set[int] = set()
    for way in osmium.FileProcessor(str(path), osmium.osm.WAY):
        if isinstance(way, osmium.osm.Way) and way.id in keep:
            refs.update(n.ref for n in way.nodes)
    writer = osmium.SimpleWriter(str(xml))
    n_nodes = n_ways = 0
    try:
        for obj in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Node) and obj.id in refs:
                writer.add_node(obj)
                n_nodes += 1
            elif isinstance(obj, osmium.osm.Way) and obj.id in keep:
                writer.add_way(obj)
                n_ways += 1
    finally:
        writer.close()
    return n_nodes, n_ways


# -- ways to read the file -------------------------------------------------------------------


def _pyosmium_processor(path: Path) -> Any:
    """The ``FileProcessor`` ``read_osm`` uses (default building mode), filters and areas included."""
    import osmium

    from mtown_geo.sources import osm as _osm

    feature_keys = set(_osm.FEATURE_KEYS)
    area_keys = [k for k in feature_keys if k not in ("place", "entrance", "public_transport")]
    main_keys = (*feature_keys, *{k for k, _ in _osm.FEATURE_TAGS}, "highway", "route")
    area_filter = osmium.filter.KeyFilter(*area_keys, "building", "natural", "water", "waterway", "tourism")
    fp = osmium.FileProcessor(str(path)).with_locations().with_areas(area_filter)
    fp = fp.with_filter(osmium.filter.KeyFilter(*main_keys, "building"))
    fp = fp.with_filter(osmium.filter.KeyFilter(*main_keys, *_osm.NAME_KEYS))
    routes = osmium.filter.TagFilter(("type", "route"))
    routes.enable_for(osmium.osm.RELATION)
    return fp.with_filter(routes)


def pyosmium_bare(path: Path) -> int:
    """The pass ``read_osm`` makes, nothing done per object: objects reaching Python."""
    n = 0
    for _ in _pyosmium_processor(path):
        n += 1
    return n


def _objects(path: Path) -> str:
    return f"{pyosmium_bare(path):,} objects reach Python"


def pyosmium_taglist(path: Path) -> str:
    """The same pass, every object's tags read through pyosmium's public TagList iterator."""
    n = 0
    for obj in _pyosmium_processor(path):
        n += len({t.k: t.v for t in obj.tags})
    return f"{n:,} tags"


def pyosmium_tags_by_count(path: Path) -> str:
    """The same pass, every object's tags read by count (as ``read_osm`` does)."""
    from itertools import repeat

    n = 0
    for obj in _pyosmium_processor(path):
        data = obj._pyosmium_data
        n += len(dict(map(data.tags_next, repeat(data.tags_begin(), data.tags_size()))))
    return f"{n:,} tags"


def gdal_layers(path: Path) -> tuple[int, int, int]:
    """GDAL's OSM driver through pyogrio: points, lines and multipolygons (rows of each)."""
    import pyogrio

    arrow = importlib.util.find_spec("pyarrow") is not None
    sizes = []
    for layer in ("points", "lines", "multipolygons"):
        df = pyogrio.read_dataframe(path, layer=layer, use_arrow=arrow)
        sizes.append(len(df))
    return sizes[0], sizes[1], sizes[2]


def time_cpu_interleaved(fns: dict[str, Any], runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Any]]:
    """Round-robin runs (after one untimed warm-up each): wall and CPU seconds of each step.

    CPU seconds (``time.process_time``, every thread of the process) count the work done,
    whatever else the machine runs.
    """
    results = {k: fn() for k, fn in fns.items()}
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return wall, cpu, results


def candidates(path: Path, runs: int) -> tuple[list[list[str]], str]:
    """Time the ways to read the file side by side; rows of the table and the load."""
    fns: dict[str, Any] = {
        "mtown_geo read_osm(cache=False)": lambda: mg.sources.read_osm(path, cache=False),
        "pyosmium pass, same filters and areas, nothing per object (floor)": lambda: _objects(path),
        "  + every object's tags through TagList iteration": lambda: pyosmium_taglist(path),
        "  + every object's tags read by count": lambda: pyosmium_tags_by_count(path),
    }
    try:
        import pyogrio

        if "OSM" in pyogrio.list_drivers():
            arrow = importlib.util.find_spec("pyarrow") is not None
            label = f"GDAL OSM driver via pyogrio {pyogrio.__version__} (GDAL {pyogrio.__gdal_version_string__}), 3 layers"
            label += ", use_arrow" if arrow else ", no pyarrow: use_arrow=False"
            fns[label] = lambda: gdal_layers(path)
    except ImportError:
        pass
    if importlib.util.find_spec("pyrosm") is not None and path.name.endswith(".pbf"):
        fns["pyrosm OSM(path)._read_pbf() (arrays only, .pbf only)"] = lambda: _pyrosm_arrays(path)
    load = common.load_average()
    wall, cpu, results = time_cpu_interleaved(fns, runs)
    floor_key = next(k for k in fns if "(floor)" in k)
    base_w = float(np.median(wall[floor_key]))
    base_c = min(cpu[floor_key])
    rows = []
    for k in fns:
        w = float(np.median(wall[k]))
        c = min(cpu[k])
        what = _what(results[k])
        rows.append([k, common.fmt_s(w), f"{w / base_w:.2f}×", common.fmt_s(c), f"{c / base_c:.2f}×", what])
    return rows, f"{load} → {common.load_average()}"


def _pyrosm_arrays(path: Path) -> str:
    from pyrosm import OSM

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        OSM(str(path))._read_pbf()
    return "node and way arrays; no areas, tags as text"


def _what(result: Any) -> str:
    """What a way to read the file gave, in words."""
    if isinstance(result, mg.sources.OSMExtract):
        return f"{len(result.ways):,} highway ways, {len(result.features):,} features, {len(result.routes):,} routes"
    if isinstance(result, tuple):
        return f"{result[0]:,} points, {result[1]:,} lines, {result[2]:,} multipolygons"
    return str(result)


BUILDING_MODES = ("none", "named", "all")


def building_modes(path: Path, runs: int) -> tuple[list[list[str]], list[list[str]]]:
    """``read_osm`` with each building mode, round-robin: time rows and what each reads."""
    fns = {mode: (lambda mode=mode: mg.sources.read_osm(path, buildings=mode, cache=False)) for mode in BUILDING_MODES}
    timings, extracts = common.time_interleaved(fns, runs)
    base = min(timings["none"].times_s)
    rows, sizes = [], []
    for mode in BUILDING_MODES:
        t = timings[mode]
        rows.append(
            [
                f'read_osm(buildings="{mode}")' + (" (default)" if mode == "named" else ""),
                common.fmt_s(min(t.times_s)),
                common.fmt_s(t.median_s),
                f"{(min(t.times_s) / base - 1) * 100:+.0f} %",
                str(t.runs),
            ]
        )
        ext = extracts[mode]
        tags = ext.features["tags"]
        n_buildings = int(tags.map(lambda d: d.get("building") not in (None, "no")).sum())
        with common.quiet_warnings():
            fac = mg.facilities.from_osm(ext)
        sizes.append([mode, f"{len(ext.features):,}", f"{n_buildings:,}", f"{len(fac):,}"])
    return rows, sizes


def osmnx_network(xml: Path) -> Any:
    import osmnx as ox

    return ox.graph_from_xml(xml, simplify=False, retain_all=True, bidirectional=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--osm", type=Path, default=None, help="OSM .pbf file (default ../shared/data/" + common.ANDORRA + ")")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each reader (default 3)")
    parser.add_argument("--buildings-only", action="store_true", help="time read_osm by building mode only")
    parser.add_argument("--candidates", action="store_true", help="time the ways to read the file only")
    args = parser.parse_args(argv)
    path = args.osm if args.osm is not None else common.shared_file(common.ANDORRA)
    runs = max(1, args.runs)
    logging.getLogger("osmnx").setLevel(logging.WARNING)

    print(f"# File → walk network: {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    print()
    for line in common.machine_lines(PACKAGES):
        print(line)
    print()

    print("timing the ways to read the file...", file=sys.stderr, flush=True)
    c_rows, c_load = candidates(path, runs)
    print(f"## Ways to read the file (median wall s and min CPU s of {runs} round-robin runs; load {c_load})")
    print()
    print(common.table(["reader", "wall s", "vs floor", "CPU s", "vs floor", "what it gives"], c_rows))
    print()
    if args.candidates:
        return 0

    print("timing read_osm by building mode...", file=sys.stderr, flush=True)
    load_before = common.load_average()
    b_rows, b_sizes = building_modes(path, runs)
    print(
        f"## read_osm by building mode (min and median of {runs} round-robin runs; load {load_before} → {common.load_average()})"
    )
    print()
    print(common.table(["step", "min s", "median s", "vs none (min)", "runs"], b_rows))
    print()
    print(common.table(["buildings", "features", "of which buildings", "facilities"], b_sizes))
    print()
    if args.buildings_only:
        return 0

    rows: list[list[str]] = []
    sizes: list[list[str]] = []

    print("timing mtown_geo...", file=sys.stderr, flush=True)
    t_mg, (net, _) = common.time_runs(lambda: mtown_network(path), runs)
    t_read = common.Timing("read", [mtown_network(path)[1] for _ in range(runs)])
    base = t_mg.median_s
    rows.append(["mtown_geo read_osm + network.from_osm", common.fmt_s(base), "1×", str(t_mg.runs)])
    rows.append(["  of which read_osm (pyosmium, one pass)", common.fmt_s(t_read.median_s), "", str(t_read.runs)])
    sizes.append(["mtown_geo", f"{net.n_nodes:,}", f"{net.n_edges:,} (two-way)", f"{net.length_km:,.0f}"])

    print("timing pyrosm...", file=sys.stderr, flush=True)
    try:
        t_pr, (p_nodes, p_edges, _) = common.time_runs(lambda: pyrosm_network(path, graph=False), runs)
        t_prg, (_, _, p_graph) = common.time_runs(lambda: pyrosm_network(path, graph=True), runs, warmup=False)
    except ImportError as exc:
        print(f"pyrosm skipped: {exc}")
    else:
        rows.append(
            [
                'pyrosm get_network("walking", nodes=True)',
                common.fmt_s(t_pr.median_s),
                common.fmt_ratio(t_pr.median_s / base),
                str(t_pr.runs),
            ]
        )
        rows.append(
            [
                "pyrosm get_network + to_graph(networkx)",
                common.fmt_s(t_prg.median_s),
                common.fmt_ratio(t_prg.median_s / base),
                str(t_prg.runs),
            ]
        )
        km = float(np.nansum(p_edges["length"].to_numpy(dtype=float))) / 1000.0
        sizes.append(["pyrosm", f"{len(p_nodes):,}", f"{len(p_edges):,} (graph: {p_graph.number_of_edges():,})", f"{km:,.0f}"])

    print("timing osmnx...", file=sys.stderr, flush=True)
    try:
        import osmnx  # noqa: F401
    except ImportError as exc:
        print(f"osmnx skipped: {exc}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / (path.name.split(".")[0] + "_walk.osm")
            keep = walk_way_ids(path)
            t0 = time.perf_counter()
            n_xml_nodes, n_xml_ways = write_walk_xml(path, xml, keep)
            conv_s = time.perf_counter() - t0
            t_ox, g = common.time_runs(lambda: osmnx_network(xml), runs, warmup=False)
            xml_mb = xml.stat().st_size / 1e6
        rows.append(
            [
                "osmnx graph_from_xml (unsimplified, all pieces)",
                common.fmt_s(t_ox.median_s),
                common.fmt_ratio(t_ox.median_s / base),
                str(t_ox.runs),
            ]
        )
        rows.append([f"  before it: .pbf → walk .osm XML ({xml_mb:.0f} MB), pyosmium", common.fmt_s(conv_s), "", "1"])
        km = sum(d["length"] for _, _, d in g.edges(data=True)) / 2000.0
        sizes.append(["osmnx", f"{g.number_of_nodes():,}", f"{g.number_of_edges():,} (one per direction)", f"{km:,.0f}"])
        print(f"walk XML: {n_xml_ways:,} ways, {n_xml_nodes:,} nodes")

    print()
    print("## Seconds (median) and ratio to mtown_geo")
    print()
    print(common.table(["step", "s", "ratio", "runs"], rows))
    print()
    print("## The networks made")
    print()
    print(common.table(["reader", "nodes", "edges", "km"], sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
