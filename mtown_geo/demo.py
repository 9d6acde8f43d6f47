"""The embedded default: a small real town that needs no download.

The OSM extract of Karhula (Kotka, Finland) that ships inside the ``pyrosm`` package
(``pyrosm/data/test.osm.pbf``) serves as the demo town: a school, a kindergarten, a
park, bus stops, cycleways and residential land. Its study-area boundaries are made
from that extract by :func:`demo_boundaries`:

* 镇域 (town): the extract's bounding box, 150 m inside its edges;
* 建成区 (built-up area): the OSM ``landuse=residential|retail|commercial`` polygons,
  joined across gaps narrower than 200 m (a 100 m buffer, then a −100 m buffer),
  inside the town.

Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import access, demand, facilities, network, standards
from . import crs as _crs
from ._errors import DataNotFoundError
from ._io import atomic_dir
from .sources.osm import ATTRIBUTION, read_osm

__all__ = ["demo_boundaries", "demo_osm_path", "run_demo"]

log = logging.getLogger(__name__)

DEMO_NAME = "Karhula (Kotka) demo"


def demo_osm_path() -> Path:
    """Path of the embedded demo OSM extract (``test.osm.pbf`` shipped inside pyrosm)."""
    try:
        path = Path(str(resources.files("pyrosm") / "data" / "test.osm.pbf"))
    except ModuleNotFoundError:  # pragma: no cover - pyrosm is a dependency
        raise DataNotFoundError("the demo data ships with the 'pyrosm' package: pip install pyrosm") from None
    if not path.exists():  # pragma: no cover
        raise DataNotFoundError(f"the demo extract {path} is missing from the pyrosm installation")
    return path


def demo_boundaries() -> gpd.GeoDataFrame:
    """The demo town's boundaries, made from the embedded extract (EPSG:4326).

    Returns
    -------
    GeoDataFrame
        Two rows with the boundary schema of ``data/boundaries/README.md``: ``name``,
        ``code``, ``kind`` (``镇域`` town / ``建成区`` built-up area), ``source`` and geometry.
    """
    ext = read_osm(demo_osm_path())
    metric = _crs.metric_crs(ext.bounds)
    box = gpd.GeoSeries([shapely.box(*ext.bounds)], crs=4326).to_crs(metric).iloc[0]
    town = box.buffer(-150.0, join_style="mitre")
    feats = ext.features
    is_built = feats["tags"].map(lambda t: t.get("landuse") in ("residential", "retail", "commercial")).to_numpy()
    built = feats.loc[is_built].to_crs(metric).union_all().buffer(100.0).buffer(-100.0).intersection(town)
    built = shapely.set_precision(built, 0.01)
    town = shapely.set_precision(town, 0.01)
    gdf = gpd.GeoDataFrame(
        {
            "name": [DEMO_NAME, DEMO_NAME],
            "code": ["demo", "demo"],
            "kind": ["镇域", "建成区"],
            "source": [
                "bounding box of pyrosm test.osm.pbf, 150 m inside; " + ATTRIBUTION,
                "OSM landuse=residential|retail|commercial closed by 100 m; " + ATTRIBUTION,
            ],
        },
        geometry=[town, built],
        crs=metric,
    )
    return gdf.to_crs(4326)


def run_demo(
    out_dir: str | Path,
    *,
    cell_m: float = 50.0,
    circle: str = "15min",
    tiles: bool = True,
    progress: bool = False,
) -> Path:
    """Walking reach of the 15-minute circle's categories over the demo town's built-up area.

    Writes ``reach.csv`` (one row per 50 m grid cell: minutes to the nearest facility of
    each category), ``coverage.csv`` (share of built-up area within the threshold per
    category), ``facilities.csv`` and ``map.html`` (folium) into ``out_dir``, atomically.

    Returns
    -------
    Path
        The output folder.
    """
    from tqdm.auto import tqdm

    from .render import reach_map

    profile = standards.load()
    spec = profile.circles[circle]
    steps = tqdm(total=5, desc="mtown-geo demo", disable=not progress, unit="step")
    osm = demo_osm_path()
    bounds = demo_boundaries()
    town = bounds[bounds["kind"] == "镇域"]
    built = bounds[bounds["kind"] == "建成区"]
    steps.set_postfix_str("network")
    net = network.from_osm(osm, mode=spec.mode, boundary=town, profile=profile)
    steps.update()
    steps.set_postfix_str("facilities")
    fac = facilities.from_osm(osm, profile=profile, boundary=town)
    steps.update()
    steps.set_postfix_str("demand grid")
    units = demand.grid(built.to_crs(net.crs), cell_m=cell_m)
    steps.update()
    steps.set_postfix_str("travel times")
    cats = spec.required
    threshold = profile.threshold_min(circle)
    times = access.travel_times(net, fac, units, categories=cats, max_time_min=max(threshold, 30.0))
    steps.update()
    steps.set_postfix_str("writing")
    rows = []
    total = units["area_m2"].sum()
    for cat in cats:
        limit = profile.threshold_min(circle, cat)
        covered = units["area_m2"].to_numpy()[times[cat].to_numpy() <= limit].sum()
        rows.append(
            {
                "category": cat,
                "name_zh": profile.categories[cat].name_zh,
                "threshold_min": limit,
                "facilities": int((fac["category"] == cat).sum()),
                "covered_area_m2": round(float(covered), 1),
                "total_area_m2": round(float(total), 1),
                "coverage": round(float(covered / total), 4) if total > 0 else np.nan,
            }
        )
    coverage = pd.DataFrame(rows)
    with atomic_dir(out_dir) as tmp:
        table = units[["x", "y", "area_m2"]].join(times.round(2))
        table.to_csv(tmp / "reach.csv", index_label="unit")
        coverage.to_csv(tmp / "coverage.csv", index=False)
        fac.drop(columns="geometry").assign(
            lon=fac.geometry.representative_point().x, lat=fac.geometry.representative_point().y
        ).to_csv(tmp / "facilities.csv", index=False)
        fmap = reach_map(
            demand.cells(units),
            times,
            facilities=fac[fac["category"].isin(cats)],
            boundaries=bounds,
            profile=profile,
            tiles=tiles,
            title=f"{spec.name_zh} 步行 walk — {DEMO_NAME}",
        )
        fmap.save(str(tmp / "map.html"))
        (tmp / "README.txt").write_text(
            f"{DEMO_NAME}: walking time to the nearest facility of each category of the {spec.name_en}.\n"
            f"Profile {profile.name}; grid {cell_m:g} m over the built-up area; threshold {threshold:g} min.\n"
            f"Map data {ATTRIBUTION}.\n",
            encoding="utf-8",
        )
    steps.update()
    steps.close()
    return Path(out_dir)
