"""Benchmark: facility siting against the number of candidate sites, on Andorra's walk network.

Demand: a 50 m grid over central Andorra la Vella – Escaldes-Engordany (about 9 km²);
category: kindergarten (4 mapped in the extract), 15 minutes' walk; candidates: random
network vertices inside the demand area (fixed seed). For each number of candidates it
times the coverage matrix (one bounded Dijkstra per candidate, batched), greedy with
k = 10, greedy to a 70 % target (the area includes steep slopes without paths, so 95 % is out
of reach from any set of vertices), and the integer program for the smaller sizes, and
prints one table.

Run from the project root (needs ../shared/data beside it)::

    python bench/siting.py                      # 100, 1,000 and 5,000 candidates
    python bench/siting.py --sizes 100 500 --exact-up-to 500

Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import mtown_geo as mg
from mtown_geo import siting

log = logging.getLogger("bench.siting")

ANDORRA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "andorra_osm" / "andorra.osm.pbf"
AREA_LONLAT = (1.505, 42.495, 1.545, 42.520)  # west, south, east, north


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000], help="numbers of candidate sites")
    ap.add_argument("--threshold", type=float, default=15.0, help="walking threshold, minutes")
    ap.add_argument("--cell", type=float, default=50.0, help="demand grid cell, metres")
    ap.add_argument("--k", type=int, default=10, help="sites to add in the k runs")
    ap.add_argument("--target", type=float, default=0.7, help="coverage target of the target runs")
    ap.add_argument("--exact-up-to", type=int, default=1000, help="run the integer program up to this many candidates")
    ap.add_argument("--time-limit", type=float, default=60.0, help="time limit of the integer program, seconds")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not ANDORRA.exists():
        print(f"the Andorra extract {ANDORRA} is not present beside the project", file=sys.stderr)
        return 1
    warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
    warnings.simplefilter("ignore", mg.SnapWarning)  # mountain cells far from any path stay uncovered

    net, t_net = _timed(mg.network.from_osm, ANDORRA, mode="walk")
    fac, _ = _timed(mg.facilities.from_osm, ANDORRA, categories=["kindergarten"])
    area = gpd.GeoSeries([shapely.box(*AREA_LONLAT)], crs=4326).to_crs(net.crs)
    units = mg.demand.grid(area, cell_m=args.cell)
    inside = np.flatnonzero(shapely.intersects_xy(area.iloc[0], net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy()))
    print(
        f"Andorra walk network: {net.n_nodes:,} nodes, {net.n_edges:,} edges (built in {t_net:.1f} s); "
        f"{len(units):,} demand units ({args.cell:g} m); {len(fac)} kindergartens; {len(inside):,} vertices in the area; "
        f"threshold {args.threshold:g} min"
    )
    rng = np.random.default_rng(args.seed)
    rows = []
    for n in args.sizes:
        if n > len(inside):
            print(f"skipping {n:,} candidates: only {len(inside):,} vertices in the area", file=sys.stderr)
            continue
        pick = np.sort(rng.choice(inside, size=n, replace=False))
        cand = gpd.GeoDataFrame(geometry=net.nodes.geometry.to_numpy()[pick], index=pick, crs=net.crs)
        mat, t_mat = _timed(siting.coverage_matrix, net, cand, units, threshold_min=args.threshold)
        common = {"category": "kindergarten", "threshold_min": args.threshold, "candidates": cand, "weight": "area_m2"}
        gk, t_gk = _timed(siting.add_facilities, net, fac, units, k=args.k, **common)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            gt, t_gt = _timed(siting.add_facilities, net, fac, units, target=args.target, **common)
        row = {
            "candidates": n,
            "matrix_s": t_mat,
            "nnz": mat.nnz,
            "units_per_site": mat.nnz / n,
            f"greedy_k{args.k}_s": t_gk,
            f"cov_k{args.k}": gk.coverage_after,
            f"bound_k{args.k}": gk.bound_coverage,
            "greedy_target_s": t_gt,
            "target_sites": gt.n_sites if gt.target_reached else np.nan,
            "max_coverage": gt.max_coverage,
            f"exact_k{args.k}_s": np.nan,
            f"exact_cov_k{args.k}": np.nan,
            "exact_optimal": None,
        }
        if n <= args.exact_up_to:
            ek, t_ek = _timed(
                siting.add_facilities, net, fac, units, k=args.k, method="exact", time_limit_s=args.time_limit, **common
            )
            row.update({f"exact_k{args.k}_s": t_ek, f"exact_cov_k{args.k}": ek.coverage_after, "exact_optimal": ek.optimal})
        rows.append(row)
        print(f"  {n:>6,} candidates done", file=sys.stderr)
    table = pd.DataFrame(rows).set_index("candidates")
    print(f"coverage before: {gk.coverage_before:.4f} (share of the area's land within {args.threshold:g} min of a kindergarten)")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(table.to_string())
    print("Map data © OpenStreetMap contributors (ODbL 1.0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
