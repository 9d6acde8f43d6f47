"""The embedded demo towns: small real places that need no download.

``wudaokou`` (the default): 五道口示范区, a 3.6 × 3.6 km rectangle around Wudaokou and
Tsinghua University in Haidian, Beijing (116.298–116.340 °E, 39.984–40.016 °N). Its OSM
extract ships inside this package (``mtown_geo/data/wudaokou.osm.pbf``, OSM as of
2017-06-24; how it was cut: ``mtown_geo/data/README.md``). It shows the toolkit on the
data a Chinese planner meets first: Chinese names, facilities that reach the target
(bus stops), facilities that do not (kindergartens, parks), facilities only on the campuses,
closed to the public (sports grounds, libraries), and categories OpenStreetMap holds nothing
for here (health stations, home elderly care, childcare) — reported as missing data, not as a
service failure.

``karhula``: Karhula (Kotka, Finland), the extract that ships inside the ``pyrosm``
package (``pyrosm/data/test.osm.pbf``): a school, a kindergarten, a park, bus stops,
cycleways and residential land.

Both towns' study-area boundaries are made from their extracts by :func:`demo_boundaries`
(the 镇域 is a study rectangle, not an administrative boundary: OpenStreetMap holds none
for these places; the 建成区 comes from OSM land use). The population is a demonstration
figure, not a census count. Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import shapely

from . import crs as _crs
from ._errors import DataNotFoundError, InputError
from ._io import check_output_dir
from .pipeline.inputs import builtup_from_osm
from .sources.osm import ATTRIBUTION, read_osm
from .study import StudyResult, load_study, run

__all__ = [
    "DEFAULT_DEMO",
    "DEMO_TOWNS",
    "DemoTown",
    "demo_boundaries",
    "demo_osm_path",
    "demo_study",
    "run_demo",
]

log = logging.getLogger(__name__)

#: The demo town used when none is named.
DEFAULT_DEMO = "wudaokou"

#: The Wudaokou demo's study rectangle (lon/lat, EPSG:4326): west, south, east, north.
WUDAOKOU_BOX = (116.298, 39.984, 116.340, 40.016)
#: Metres of data kept around the rectangle when the extract was cut (the study's network
#: buffer of 1000 m, and 200 m more).
WUDAOKOU_CUT_M = 1200.0
#: File name of the Wudaokou extract in the package's data folder.
WUDAOKOU_FILE = "wudaokou.osm.pbf"


@dataclass(frozen=True)
class DemoTown:
    """An embedded demo town: its names, data and the settings of its study file."""

    key: str
    name: str
    name_en: str
    place: str
    data: str
    population: float
    year: int = 2025


#: The embedded demo towns by key.
DEMO_TOWNS: dict[str, DemoTown] = {
    "wudaokou": DemoTown(
        key="wudaokou",
        name="五道口示范区",
        name_en="Wudaokou demo area (Haidian, Beijing)",
        place="北京市海淀区 五道口—清华园 (Wudaokou and Tsinghua University, Haidian, Beijing)",
        data=(
            f"OpenStreetMap extract {WUDAOKOU_FILE} shipped in mtown_geo/data, OSM as of 2017-06-24 "
            "(cut from an extract of Wudaokou, Haidian; see mtown_geo/data/README.md)"
        ),
        population=50_000,
    ),
    "karhula": DemoTown(
        key="karhula",
        name="Karhula (Kotka) demo",
        name_en="Karhula (Kotka, Finland)",
        place="Karhula, Kotka, Finland",
        data="OpenStreetMap extract test.osm.pbf shipped in the pyrosm package",
        population=9_000,
    ),
}


def _town(town: str) -> DemoTown:
    key = str(town).strip().lower()
    if key not in DEMO_TOWNS:
        raise InputError(f"unknown demo town {town!r}: the demo towns are {', '.join(DEMO_TOWNS)}")
    return DEMO_TOWNS[key]


def demo_osm_path(town: str = DEFAULT_DEMO) -> Path:
    """Path of an embedded demo town's OSM extract.

    Parameters
    ----------
    town : {"wudaokou", "karhula"}
        ``wudaokou`` (default): the extract shipped in this package; ``karhula``: the one
        shipped inside ``pyrosm`` (``test.osm.pbf``).
    """
    spec = _town(town)
    if spec.key == "karhula":
        try:
            path = Path(str(resources.files("pyrosm") / "data" / "test.osm.pbf"))
        except ModuleNotFoundError:  # pragma: no cover - pyrosm is a dependency
            raise DataNotFoundError("the Karhula demo data ships with the 'pyrosm' package: pip install pyrosm") from None
    else:
        path = Path(str(resources.files(__package__) / "data" / WUDAOKOU_FILE))
    if not path.exists():  # pragma: no cover - shipped with the packages
        raise DataNotFoundError(f"the demo extract {path} is missing from the installation: reinstall mtown-geo")
    return path


def _wudaokou_boundaries() -> tuple[shapely.Geometry, shapely.Geometry, object, list[str]]:
    ext = read_osm(demo_osm_path("wudaokou"))
    box = gpd.GeoSeries([shapely.box(*WUDAOKOU_BOX)], crs=4326)
    metric = _crs.metric_crs(box)
    town = box.to_crs(metric).iloc[0]
    town_m = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[town], crs=metric)
    built = builtup_from_osm(ext, town_m).geometry.union_all()
    w, s, e, n = WUDAOKOU_BOX
    sources = [
        f"study rectangle {w:g}–{e:g} °E, {s:g}–{n:g} °N (not an administrative boundary); {ATTRIBUTION}",
        f"OSM landuse=residential|retail|commercial closed by 100 m (mtown_geo.batch rule); {ATTRIBUTION}",
    ]
    return town, built, metric, sources


def _karhula_boundaries() -> tuple[shapely.Geometry, shapely.Geometry, object, list[str]]:
    ext = read_osm(demo_osm_path("karhula"))
    metric = _crs.metric_crs(ext.bounds)
    box = gpd.GeoSeries([shapely.box(*ext.bounds)], crs=4326).to_crs(metric).iloc[0]
    town = box.buffer(-150.0, join_style="mitre")
    feats = ext.features
    is_built = feats["tags"].map(lambda t: t.get("landuse") in ("residential", "retail", "commercial")).to_numpy()
    built = feats.loc[is_built].to_crs(metric).union_all().buffer(100.0).buffer(-100.0).intersection(town)
    sources = [
        "bounding box of pyrosm test.osm.pbf, 150 m inside; " + ATTRIBUTION,
        "OSM landuse=residential|retail|commercial closed by 100 m; " + ATTRIBUTION,
    ]
    return town, built, metric, sources


def demo_boundaries(town: str = DEFAULT_DEMO) -> gpd.GeoDataFrame:
    """A demo town's boundaries, made from its embedded extract (EPSG:4326).

    * ``wudaokou``: 镇域 the study rectangle :data:`WUDAOKOU_BOX`; 建成区 the OSM
      ``landuse=residential|retail|commercial`` polygons joined across gaps narrower than
      200 m (a 100 m buffer, then a −100 m buffer), inside the rectangle — the rule the
      batch applies to every town (``mtown_geo.batch``).
    * ``karhula``: 镇域 the extract's bounding box, 150 m inside its edges; 建成区 the same
      land uses closed by 100 m, but taken from every feature of the extract that carries
      them — the nine land-use nodes included, which the batch rule leaves out — so it is
      1.164 km² where the batch rule would give 1.160 km². The demo's figures are
      computed on this area.

    Returns
    -------
    GeoDataFrame
        Two rows with the boundary schema of ``data/boundaries/README.md``: ``name``,
        ``code``, ``kind`` (``镇域`` town / ``建成区`` built-up area), ``source`` and geometry.
    """
    spec = _town(town)
    town_geom, built, metric, sources = _karhula_boundaries() if spec.key == "karhula" else _wudaokou_boundaries()
    gdf = gpd.GeoDataFrame(
        {
            "name": [spec.name, spec.name],
            "code": ["demo", "demo"],
            "kind": ["镇域", "建成区"],
            "source": sources,
        },
        geometry=[shapely.set_precision(town_geom, 0.01), shapely.set_precision(built, 0.01)],
        crs=metric,
    )
    return gdf.to_crs(4326)


def demo_study(folder: str | Path, *, town: str = DEFAULT_DEMO) -> Path:
    """Write a demo town's study file and boundaries into a folder; return the study file.

    The study names the embedded OSM extract by its absolute path, so it runs wherever
    the folder is.

    Parameters
    ----------
    folder : path
        Made when missing; ``study.yaml`` and ``boundaries.geojson`` are written in it.
    town : {"wudaokou", "karhula"}
        The demo town (default ``wudaokou``).
    """
    spec = _town(town)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    demo_boundaries(spec.key).to_file(folder / "boundaries.geojson", driver="GeoJSON")
    text = (
        f"# The embedded demo town {spec.name_en}: {spec.data}; data {ATTRIBUTION}; the 镇域 is a study area, "
        "not an administrative boundary.\n"
        f"name: {spec.name}\n"
        "code: demo\n"
        f"year: {spec.year}\n"
        "profile: zhejiang-2023\n"
        "boundaries:\n"
        "  town: boundaries.geojson      # holds both 镇域 and 建成区 (column `kind`)\n"
        f"osm: {json.dumps(str(demo_osm_path(spec.key)), ensure_ascii=False)}\n"
        "population:\n"
        f"  total: {spec.population:.0f}                  # demonstration figure, not a census count\n"
        "demand:\n"
        "  cell_m: 50\n"
        "circles: [5min, 15min, 30min]\n"
    )
    (folder / "study.yaml").write_text(text, encoding="utf-8")
    return folder / "study.yaml"


def run_demo(
    out_dir: str | Path,
    *,
    town: str = DEFAULT_DEMO,
    cell_m: float = 50.0,
    tiles: bool = True,
    progress: bool = False,
    overwrite: bool = False,
) -> StudyResult:
    """Run the whole study on an embedded demo town and write it to ``out_dir``.

    The folder gets the indicator report (CSV, XLSX, JSON, Markdown), the layers
    (GeoPackage), the maps, the manifest, and the demo's own ``study.yaml`` and
    ``boundaries.geojson`` under ``study/`` to copy from. Written atomically, under the
    folder rules of :func:`mtown_geo.run` (``overwrite`` as there; checked first).

    Parameters
    ----------
    out_dir : path
        The output folder.
    town : {"wudaokou", "karhula"}
        The demo town (default ``wudaokou``).
    cell_m : float
        Grid cell size of the demand units (metres).
    tiles : bool
        Map tiles from openstreetmap.org on the interactive map (``False``: plain background).

    Returns
    -------
    StudyResult
        The result (``result.out_dir`` is the folder).
    """
    spec = _town(town)
    check_output_dir(out_dir, overwrite=overwrite)
    # ignore_cleanup_errors: on Windows a file a library still holds open cannot be removed yet
    with tempfile.TemporaryDirectory(prefix="mtown-geo-demo-", ignore_cleanup_errors=True) as tmp:
        path = demo_study(tmp, town=spec.key)
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
