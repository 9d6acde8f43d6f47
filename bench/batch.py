"""Province-scale benchmark: the per-town pipeline over a few hundred real towns on Dask.

Real town-sized units come from the largest extracts in ../shared/data: the 11
municipalities of Liechtenstein (admin_level 8) and the 7 parishes of Andorra
(admin_level 7), repeated to reach the requested number of towns. Each batch runs with
1 and with 2 workers; the script prints towns per minute, the peak memory of each worker
and the projected time for 1,000 towns, without maps (the indicators) and with them.

    python bench/batch.py                 # 100 towns per run (about 15 minutes in all)
    python bench/batch.py --towns 300 --workers 2 --maps-towns 0   # does a worker's memory grow?

Not a test: run it by hand and record the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd

import mtown_geo as mg

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


def run(n_towns: int, workers: int, outputs: dict[str, bool], label: str) -> dict[str, object]:
    rows = []
    for name, (path, level) in EXTRACTS.items():
        if not path.exists():
            print(f"skip {name}: {path} is not there")
            continue
        share = n_towns * (11 if name == "liechtenstein" else 7) // 18
        towns = _towns(path, level, share)
        out = Path(tempfile.mkdtemp(prefix=f"mtown-bench-{name}-"))
        t0 = time.perf_counter()
        summary = mg.batch.run_batch(
            towns,
            osm=path,
            out=out,
            study={"demand": {"cell_m": 50}, "outputs": outputs, "siting": {"enabled": False}},
            n_workers=workers,
        )
        wall = time.perf_counter() - t0
        shutil.rmtree(out, ignore_errors=True)
        rows.append((name, len(towns), wall, summary))
    n = sum(r[1] for r in rows)
    wall = sum(r[2] for r in rows)
    allsum = pd.concat([r[3] for r in rows], ignore_index=True)
    peak = allsum.groupby("worker")["worker_peak_mib"].max()
    failed = int((allsum["status"] != "done").sum())
    for _, r in allsum[allsum["status"] != "done"].iterrows():
        print(f"  failed: {r['name']} ({r['code']}): {r['error']}")
    per_min = 60.0 * n / wall
    return {
        "run": label,
        "workers": workers,
        "towns": n,
        "failed": failed,
        "wall_s": round(wall, 1),
        "towns_per_min": round(per_min, 1),
        "s_per_town_per_worker": round(allsum["seconds"].mean(), 2),
        "peak_mib_per_worker": round(float(peak.max()), 0),
        # the same after each worker's first town: memory bounded means these two stay close
        "peak_mib_after_first_town": round(float(allsum.groupby("worker")["worker_peak_mib"].min().max()), 0),
        # resident memory after each worker's first and last town (largest over the workers)
        **_rss_first_last(allsum),
        "projected_1000_towns_min": round(1000 / per_min, 1),
    }


def _rss_first_last(summary: pd.DataFrame) -> dict[str, float]:
    done = summary[summary["status"] == "done"].sort_values(["worker", "finished", "worker_peak_mib"])
    by = done.groupby("worker")["worker_rss_mib"]
    return {"rss_mib_first_town": round(float(by.first().max()), 0), "rss_mib_last_town": round(float(by.last().max()), 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--towns", type=int, default=100)
    parser.add_argument("--maps-towns", type=int, default=36, help="towns for the run with maps (0: no such run)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts of the runs without maps")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    print(f"load average at the start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    results = []
    for workers in args.workers:
        results.append(run(args.towns, workers, NO_MAPS, "indicators (no maps)"))
        print(results[-1], flush=True)
    if args.maps_towns > 0:
        results.append(run(args.maps_towns, 2, WITH_MAPS, "indicators + maps"))
        print(results[-1], flush=True)
    table = pd.DataFrame(results)
    print()
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for _, r in table.iterrows():
        print("| " + " | ".join(str(v) for v in r) + " |")


if __name__ == "__main__":
    main()
