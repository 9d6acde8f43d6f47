"""Helpers shared by the benchmark scripts: data paths, timing, machine facts, tables.

Benchmarks are scripts run by hand (``python bench/engine.py``), not tests. They read the
real OSM extracts in ``../shared/data`` beside the project and time mtown_geo and its
peers side by side in one process, so that ratios are measured under the same load.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

import mtown_geo as mg

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ANDORRA = "andorra_osm/andorra.osm.pbf"

#: OSM ``landuse`` values taken as built-up land for the origin grid.
BUILT_UP_LANDUSE = ("residential", "commercial", "retail", "industrial")


def shared_file(rel: str) -> Path:
    """A file of ``../shared/data``, or exit with a clear message when it is absent."""
    path = SHARED / rel
    if not path.exists():
        sys.exit(f"benchmark data ../shared/data/{rel} is not present beside the project ({path})")
    return path


# -- timing ------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall-clock times (seconds) of repeated runs of one step."""

    label: str
    times_s: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s) if self.times_s else float("nan")

    @property
    def runs(self) -> int:
        return len(self.times_s)


def time_runs(fn: Callable[[], Any], runs: int, *, label: str = "", warmup: bool = True) -> tuple[Timing, Any]:
    """Run ``fn`` ``runs`` times (after one untimed warm-up call when ``warmup``).

    Garbage collection runs before each timed call, not during it by chance.
    Returns the timings and the result of the last call.
    """
    result = fn() if warmup else None
    timing = Timing(label)
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        timing.times_s.append(time.perf_counter() - t0)
    return timing, result


def time_interleaved(fns: dict[Any, Callable[[], Any]], runs: int) -> tuple[dict[Any, Timing], dict[Any, Any]]:
    """Time several steps round-robin: run 1 of each, then run 2 of each...

    On a machine shared with other work the load drifts; interleaving spreads the drift
    over every step alike, so their ratios stay fair. Each step gets one untimed warm-up
    call first, whose result is returned (for checking answers).
    """
    results = {key: fn() for key, fn in fns.items()}
    timings = {key: Timing(str(key)) for key in fns}
    for _ in range(runs):
        for key, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            timings[key].times_s.append(time.perf_counter() - t0)
    return timings, results


@contextlib.contextmanager
def quiet_fd_stdout() -> Iterator[None]:
    """Silence what C/C++ extensions print to file descriptor 1 (pandana's progress lines)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# -- machine and versions ----------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (empty where /proc/loadavg is absent)."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return ""


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark that
    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` reports, but of this process alone: a
    subprocess's ``ru_maxrss`` also carries its parent's peak at the fork (Linux keeps the
    larger of the two across ``exec``), which would hide what a small child uses. Elsewhere
    ``ru_maxrss``.
    """
    with contextlib.suppress(OSError, StopIteration, ValueError):
        line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024.0
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def machine_lines(packages: Sequence[str]) -> list[str]:
    """Lines describing the machine, the date and the versions of the packages timed."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = load_average()
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    return [
        f"date: {_dt.datetime.now().astimezone().isoformat(timespec='minutes')}",
        f"machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, load average {load}",
        f"python {platform.python_version()}; {versions}",
    ]


# -- the benchmark case ------------------------------------------------------------------


def built_up_polygons(extract: mg.sources.OSMExtract, *, landuse: Sequence[str] = BUILT_UP_LANDUSE) -> gpd.GeoDataFrame:
    """The extract's OSM ``landuse`` polygons of the kinds ``landuse`` (EPSG:4326).

    Exits with a message when there are none.
    """
    feats = extract.features
    kind = feats["tags"].map(lambda t: t.get("landuse") if isinstance(t, dict) else None)
    polys = feats[kind.isin(list(landuse)).to_numpy() & feats.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    if polys.empty:
        sys.exit(f"the extract has no landuse={'|'.join(landuse)} polygons to lay the origin grid on")
    return polys


def built_up_grid(
    extract: mg.sources.OSMExtract, crs: Any, *, cell_m: float = 50.0, landuse: Sequence[str] = BUILT_UP_LANDUSE
) -> gpd.GeoDataFrame:
    """A ``cell_m`` grid of demand units over the extract's built-up land polygons.

    Built-up land: OSM ``landuse`` polygons of the kinds ``landuse`` (default
    :data:`BUILT_UP_LANDUSE`).
    """
    return mg.demand.grid(built_up_polygons(extract, landuse=landuse).to_crs(crs), cell_m=cell_m)


def nearest_nodes(network: mg.Network, facilities: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Nearest network node of each facility (its representative point) and the distance (m)."""
    pts = shapely.point_on_surface(np.asarray(facilities.to_crs(network.crs).geometry.values))
    tree = cKDTree(np.column_stack([network.nodes["x"].to_numpy(), network.nodes["y"].to_numpy()]))
    dist_m, node = tree.query(shapely.get_coordinates(pts))
    return np.asarray(node, dtype=np.int64), np.asarray(dist_m)


def facilities_at_nodes(network: mg.Network, facilities: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The facilities moved onto their nearest network nodes (same rows and categories).

    Returns the moved layer (in the network's CRS) and the node of each row.
    """
    node, _ = nearest_nodes(network, facilities)
    moved = gpd.GeoDataFrame(
        {"category": facilities["category"].to_numpy(), "name": facilities["name"].to_numpy()},
        geometry=network.nodes.geometry.to_numpy()[node],
        crs=network.crs,
    )
    return moved, node


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Silence the toolkit's warnings about the extract (disconnected pieces, far facilities)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        yield


# -- output --------------------------------------------------------------------------------


def fmt_s(seconds: float) -> str:
    """Seconds with three significant figures (``nan`` as a dash)."""
    if not np.isfinite(seconds):
        return "—"
    if seconds >= 100:
        return f"{seconds:,.0f}"
    return f"{seconds:.3g}"


def fmt_ratio(ratio: float) -> str:
    if not np.isfinite(ratio):
        return "—"
    return f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.2g}×" if ratio < 10 else f"{ratio:.0f}×"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (pipes), columns padded for reading in a terminal."""
    cols = list(zip(header, *rows, strict=True))
    width = [max(len(c) for c in col) for col in cols]
    right = [i > 0 for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, width, right, strict=True)]
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(width, right, strict=True)) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])
