"""What-if benchmark: add five kindergartens after a first computation and read the 15-minute coverage again.

Run from the repository root (reads ``../shared/data/andorra_osm/andorra.osm.pbf``)::

    python bench/whatif.py              # about 1 minute on 2 cores
    python bench/whatif.py --runs 9

The first computation is what a run leaves in a notebook: the walk network of Andorra
(137k vertices) with its indexes, the facilities, a 50 m grid of demand units on the
built-up land (OSM ``landuse=residential|commercial|retail``), the search of the
``zhejiang-2023`` 15-minute circle (``lifecircle.reach``, whole network as a run searches
it) and the times at the units (``lifecircle.times_at``), which attaches the units.

The what-if: five new kindergartens at the representative points of the five largest
``landuse=residential`` polygons within 3 km of Andorra la Vella's ``place`` node (OSM node
58957648), and the circle's coverage table again:

* **what_if**: ``lifecircle.what_if(reach, units, add=sites, category="kindergarten")`` —
  only the kindergartens are searched again; the network, its indexes, the other
  categories' node times and the units' snaps are reused;
* **full recompute**: ``lifecircle.reach`` on the edited facility layer, ``times_at`` and
  ``coverage`` on the same network (its indexes already built): what a notebook does
  without the what-if.

Both tables must be equal to the bit (checked, with the node times and the times at the
units). Timings are medians of runs interleaved round-robin.

Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

import mtown_geo as mg
from mtown_geo import lifecircle

CIRCLE = "15min"
CELL_M = 50.0
BUILT_UP = ("residential", "commercial", "retail")
CENTRE_NODE = 58957648  # the place node of Andorra la Vella
NEAR_M = 3000.0
PACKAGES = ("mtown-geo", "numpy", "scipy", "shapely", "geopandas", "pandas", "pyproj")


def new_sites(extract: mg.sources.OSMExtract, crs: object, k: int = 5) -> gpd.GeoDataFrame:
    """The representative points of the ``k`` largest residential polygons near Andorra la Vella."""
    f = extract.features
    centre = f[(f["osm_type"] == "node") & (f["osm_id"] == CENTRE_NODE)].to_crs(crs).geometry.iloc[0]
    res = f[f["tags"].map(lambda t: t.get("landuse") == "residential").to_numpy()]
    res = res[res.geom_type.isin(["Polygon", "MultiPolygon"])].to_crs(crs)
    res = res[res.distance(centre) <= NEAR_M]
    res = res.assign(_area=res.area).sort_values(["_area", "osm_id"], ascending=[False, True]).head(k)
    pts = shapely.point_on_surface(np.asarray(res.geometry.values))
    return gpd.GeoDataFrame(
        {"name": [f"new kindergarten {i + 1}" for i in range(len(res))], "osm_id": res["osm_id"].to_numpy()},
        geometry=pts,
        crs=crs,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs of each route (median reported)")
    args = ap.parse_args(argv)
    path = common.shared_file(common.ANDORRA)
    warnings.simplefilter("ignore", mg.MtownGeoWarning)
    prof = mg.standards.resolve(None)

    t0 = time.perf_counter()
    extract = mg.sources.read_osm(path)
    net = mg.network.from_osm(extract, mode="walk")
    fac = mg.facilities.from_osm(extract)
    units = mg.demand.grid(common.built_up_polygons(extract, landuse=BUILT_UP).to_crs(net.crs), cell_m=CELL_M)
    reach = lifecircle.reach(net, fac, profile=prof, circle=CIRCLE, max_time_min=float("inf"))
    times = lifecircle.times_at(reach, units, profile=prof, circle=CIRCLE)
    before = lifecircle.coverage(times, units, profile=prof, circle=CIRCLE, weight="area_m2")
    t_first = time.perf_counter() - t0
    sites = new_sites(extract, net.crs)
    n_kg = int((fac["category"] == "kindergarten").sum())
    print(
        f"Andorra walk network: {net.n_nodes:,} nodes, {net.n_edges:,} edges; {len(units):,} demand units "
        f"({CELL_M:g} m); {len(fac):,} facilities ({n_kg} kindergartens); the {CIRCLE} circle's "
        f"{len(reach.categories) if reach else 0} categories; first computation {t_first:.1f} s"
    )

    def what_if() -> pd.DataFrame:
        return lifecircle.what_if(reach, units, add=sites, category="kindergarten", profile=prof, circle=CIRCLE, weight="area_m2")

    edited = pd.concat([fac, sites.to_crs(fac.crs).assign(category="kindergarten")], ignore_index=True)

    def full() -> pd.DataFrame:
        r = lifecircle.reach(net, edited, profile=prof, circle=CIRCLE, max_time_min=float("inf"))
        t = lifecircle.times_at(r, units, profile=prof, circle=CIRCLE)
        return lifecircle.coverage(t, units, profile=prof, circle=CIRCLE, weight="area_m2")

    timings, results = common.time_interleaved({"what_if": what_if, "full": full}, args.runs)
    a, b = results["what_if"], results["full"]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the search and the unit times too, not only the table
    new = lifecircle.what_if_reach(reach, add=sites, category="kindergarten", profile=prof, circle=CIRCLE)
    fresh = lifecircle.reach(net, edited, profile=prof, circle=CIRCLE, max_time_min=float("inf"))
    assert fresh is not None
    same_nodes = np.array_equal(new.node_min, fresh.node_min) and np.array_equal(new.nearest, fresh.nearest)
    same_units = new.at(units).equals(fresh.at(units))
    if not (same_nodes and same_units):
        print("the what-if differs from a fresh computation", file=sys.stderr)
        return 1
    k_before = before.loc["kindergarten", "rate"]
    k_after = a.loc["kindergarten", "rate"]
    c_before = before.loc[lifecircle.CIRCLE, "rate"]
    c_after = a.loc[lifecircle.CIRCLE, "rate"]
    absent = [c for c in reach.categories if np.isinf(reach.node_min[list(reach.categories).index(c)]).all()]
    print(
        f"kindergarten rate {100 * k_before:.2f} % → {100 * k_after:.2f} %; "
        f"the circle {100 * c_before:.2f} % → {100 * c_after:.2f} % (no facility of {absent} in the file)"
    )
    wi, fu = timings["what_if"], timings["full"]
    print()
    print(
        common.table(
            ["route", "median s", "runs", "vs full"],
            [
                [
                    "lifecircle.what_if (add 5 kindergartens)",
                    common.fmt_s(wi.median_s),
                    str(wi.runs),
                    common.fmt_ratio(fu.median_s / wi.median_s),
                ],
                ["full recompute (reach + times_at + coverage)", common.fmt_s(fu.median_s), str(fu.runs), "1×"],
            ],
        )
    )
    print()
    print("equal to the bit: coverage table, node times, nearest facilities, unit times: yes")
    print()
    for line in common.machine_lines(PACKAGES):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
