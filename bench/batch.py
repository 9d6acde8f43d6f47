"""Province-scale benchmark: the per-town pipeline over a hundred and more real towns on Dask.

Real town-sized units come from the largest extracts in ../shared/data: the 11
municipalities of Liechtenstein (admin_level 8) and the 7 parishes of Andorra
(admin_level 7), repeated to reach the requested number of towns. The script prints, for
each run, towns per minute, the projected time for 1,000 towns, and each worker's peak
memory measured twice: as the worker reports it with every town (``worker_peak_mib`` of
the summary, its own ``VmHWM``) and from outside, by a thread of this process that reads
the worker processes' ``/proc/<pid>/status`` (``VmHWM``, and the largest ``VmRSS`` seen)
every 0.2 s until they end; this process's own memory is shown beside them, to tell the
two apart. It then times the province summary map of a 1,000-town layer (the 18 towns
repeated on a grid) as the batch writes it at its end.

    python bench/batch.py                                  # 100 towns, 2 workers, without and with maps (about 25 minutes)
    python bench/batch.py --towns 20 --maps-towns 20       # a quick check that everything runs (about 4 minutes)
    python bench/batch.py --towns 300 --maps-towns 0       # does a worker's memory grow?
    python bench/batch.py --towns 0 --maps-towns 0         # only the 1,000-town summary map

Not a test: run it by hand on a quiet machine and record the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

import mtown_geo as mg
from mtown_geo.render import province

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EXTRACTS = {
    "liechtenstein": (DATA / "liechtenstein_osm" / "liechtenstein.osm.pbf", "8"),
    "andorra": (DATA / "andorra_osm" / "andorra.osm.pbf", "7"),
}
NO_MAPS = {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "tiles": False, "geopackage": True}
WITH_MAPS = {"maps": True, "static_maps": True, "rasters": True, "isochrones": True, "tiles": False, "geopackage": True}


def _towns(path: Path, level: str, n: int) -> gpd.GeoDataFrame:
    base = mg.batch.towns_from_osm(path, admin_level=level)
    reps = -(-n // len(base))
    towns = pd.concat([base.assign(code=base["code"] + f"-{i}") for i in range(reps)], ignore_index=True).head(n)
    return gpd.GeoDataFrame(towns, crs=base.crs)


def _status_kib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process from /proc (KiB); empty when it is gone or not Linux."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return out


class WorkerMemory:
    """Samples the memory of this process's child processes (the Dask workers) from outside."""

    def __init__(self, every_s: float = 0.2) -> None:
        import psutil

        self._me = psutil.Process()
        self.every_s = every_s
        self.peak_kib: dict[int, float] = {}  # the last VmHWM read of each child
        self.max_rss_kib: dict[int, float] = {}  # the largest VmRSS seen
        self.parent_hwm_kib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for child in self._me.children(recursive=True):
                st = _status_kib(child.pid)
                if "VmHWM" in st:
                    self.peak_kib[child.pid] = st["VmHWM"]
                if "VmRSS" in st:
                    self.max_rss_kib[child.pid] = max(self.max_rss_kib.get(child.pid, 0.0), st["VmRSS"])
            self.parent_hwm_kib = _status_kib(os.getpid()).get("VmHWM", 0.0)
            self._stop.wait(self.every_s)


def run(n_towns: int, workers: int, outputs: dict[str, bool], label: str, *, summary_map: bool) -> dict[str, object]:
    rows = []
    first = n_towns * 11 // 18  # Liechtenstein's share; Andorra's the rest, so that the shares add up to n_towns
    with WorkerMemory() as mem:
        for name, (path, level) in EXTRACTS.items():
            if not path.exists():
                print(f"skip {name}: {path} is not there")
                continue
            share = first if name == "liechtenstein" else n_towns - first
            towns = _towns(path, level, share)
            out = Path(tempfile.mkdtemp(prefix=f"mtown-bench-{name}-"))
            t0 = time.perf_counter()
            summary = mg.batch.run_batch(
                towns,
                osm=path,
                out=out,
                study={"demand": {"cell_m": 50}, "outputs": outputs, "siting": {"enabled": False}},
                n_workers=workers,
                summary_map=summary_map,
            )
            wall = time.perf_counter() - t0
            shutil.rmtree(out, ignore_errors=True)
            rows.append((name, len(towns), wall, summary))
    n = sum(r[1] for r in rows)
    wall = sum(r[2] for r in rows)
    allsum = pd.concat([r[3] for r in rows], ignore_index=True)
    failed = int((allsum["status"] != "done").sum())
    for _, r in allsum[allsum["status"] != "done"].iterrows():
        print(f"  failed: {r['name']} ({r['code']}): {r['error']}")
    reported = allsum.groupby("worker")["worker_peak_mib"].max()
    workers_seen = [int(p) for p in reported.index]
    outside = [mem.peak_kib.get(p, float("nan")) / 1024 for p in workers_seen]
    sampled = [mem.max_rss_kib.get(p, float("nan")) / 1024 for p in workers_seen]
    per_min = 60.0 * n / wall
    return {
        "run": label,
        "workers": workers,
        "towns": n,
        "failed": failed,
        "wall_s": round(wall, 1),
        "towns_per_min": round(per_min, 1),
        "s_per_town_per_worker": round(float(allsum["seconds"].mean()), 2),
        # each worker's own VmHWM as it reports it with its towns; the largest over the workers
        "peak_mib_worker_reported": round(float(reported.max()), 0),
        # the same read from outside until the worker ended, and the largest VmRSS sampled
        "peak_mib_worker_outside": round(float(np.nanmax(outside)), 0) if outside else float("nan"),
        "max_rss_mib_worker_sampled": round(float(np.nanmax(sampled)), 0) if sampled else float("nan"),
        "worker_processes": len(workers_seen),
        # this (client) process: not a worker; told apart so that no one mistakes it for one
        "peak_mib_parent": round(mem.parent_hwm_kib / 1024, 0),
        "projected_1000_towns_min": round(1000 / per_min, 1),
    }


def summary_map_at(n: int, tmp: Path) -> dict[str, object]:
    """The batch's summary map of ``n`` towns, timed as the batch writes it at its end.

    The towns are the 18 real ones, each country's group copied cell by cell over a grid
    of 0.5° × 0.35° from 118° E 28° N (about a Chinese province's extent at 1,000 towns);
    their statuses are drawn at random in the shares of a real province (1 % failed).
    """
    groups = [mg.batch.towns_from_osm(path, admin_level=level) for path, level in EXTRACTS.values() if path.exists()]
    cells = -(-n // 9)
    side = int(np.ceil(np.sqrt(cells)))
    copies = []
    for k in range(cells):
        g = groups[k % len(groups)]
        x0, y0, _, _ = g.total_bounds
        dx, dy = 118.0 + (k % side) * 0.5 - x0, 28.0 + (k // side) * 0.35 - y0
        copies.append(g.assign(name=[f"{nm}-{k}" for nm in g["name"]], geometry=g.geometry.translate(dx, dy)))
    towns = gpd.GeoDataFrame(pd.concat(copies, ignore_index=True).head(n), crs=4326)
    rng = np.random.default_rng(0)
    summary = pd.DataFrame(
        {
            "town": np.arange(len(towns)),
            "name": towns["name"],
            "status": np.where(rng.random(len(towns)) < 0.01, "failed", "done"),
            "row9_status": rng.choice(["pass", "fail", "no_data"], size=len(towns), p=[0.5, 0.35, 0.15]),
            "row9_value": rng.uniform(60, 100, len(towns)),
        }
    )
    t0 = time.perf_counter()
    province.write_province_maps(summary, towns, tmp / "summary_map", profile="zhejiang-2023", year=2025)
    return {"summary_map_towns": len(towns), "summary_map_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--towns", type=int, default=100, help="towns of the runs without maps (0: no such run)")
    parser.add_argument("--maps-towns", type=int, default=100, help="towns of the run with maps, on 2 workers (0: no such run)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="worker counts of the runs without maps")
    parser.add_argument("--summary-map-towns", type=int, default=1000, help="towns of the timed summary map (0: none)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    print(f"load average at the start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    results = []
    if args.towns > 0:
        for workers in args.workers:
            results.append(run(args.towns, workers, NO_MAPS, "indicators (no maps)", summary_map=False))
            print(results[-1], flush=True)
    if args.maps_towns > 0:
        results.append(run(args.maps_towns, 2, WITH_MAPS, "indicators + maps + summary map", summary_map=True))
        print(results[-1], flush=True)
    if args.summary_map_towns > 0:
        tmp = Path(tempfile.mkdtemp(prefix="mtown-bench-map-"))
        try:
            print(summary_map_at(args.summary_map_towns, tmp), flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if results:
        table = pd.DataFrame(results)
        print()
        print("| " + " | ".join(table.columns) + " |")
        print("|" + "---|" * len(table.columns))
        for _, r in table.iterrows():
            print("| " + " | ".join(str(v) for v in r) + " |")


if __name__ == "__main__":
    main()
