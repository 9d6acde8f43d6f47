"""The embedded demo towns: the Wudaokou extract shipped in the package, its boundaries, the Karhula one."""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from importlib import resources

import geopandas as gpd
import osmium
import pytest
import shapely
from pyproj import Geod

import mtown_geo as mg
from mtown_geo import demo

from .conftest import ROOT, SHARED, shared_path

SOURCE = "beijing_haidian_osm/haidian_wudaokou.osm.pbf"


def _objects(path) -> dict[tuple[str, int], tuple]:
    """Every object of an OSM file by (type, id): version, tags, node refs / members / location."""
    out: dict[tuple[str, int], tuple] = {}
    for o in osmium.FileProcessor(str(path)):
        tags = tuple(sorted((t.k, t.v) for t in o.tags))
        if o.is_node():
            body: tuple = (round(o.location.lon, 7), round(o.location.lat, 7))
        elif o.is_way():
            body = tuple(n.ref for n in o.nodes)
        else:
            body = tuple((m.type, m.ref, m.role) for m in o.members)
        out[(o.type_str(), o.id)] = (o.version, tags, body)
    return out


def test_the_extract_ships_in_the_package_with_its_licence():
    path = mg.demo_osm_path()
    assert path == mg.demo_osm_path("wudaokou") and path.name == "wudaokou.osm.pbf"
    assert path.stat().st_size <= 1_000_000
    files = {p.name for p in resources.files("mtown_geo").joinpath("data").iterdir()}
    assert {"wudaokou.osm.pbf", "README.md"} <= files
    note = resources.files("mtown_geo").joinpath("data", "README.md").read_text(encoding="utf-8")
    for needed in ("© OpenStreetMap contributors", "ODbL", "2017-06-24", "opendatacommons.org/licenses/odbl"):
        assert needed in note
    # the data date the toolkit reads is the one stated
    assert mg.sources.read_osm(path).timestamp == "2017-06-24"


def test_the_extract_is_cut_not_copied():
    """Not a byte copy of any shared file; every feature lies inside the cut box its header declares."""
    path = mg.demo_osm_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sums = SHARED / "SHA256SUMS"
    if sums.exists():
        assert digest not in sums.read_text(encoding="utf-8")
    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    box = reader.header().box()
    reader.close()
    x0, y0, x1, y1 = box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat
    # the cut box is the study rectangle plus 1,200 m: measured on the ellipsoid, independently
    geod = Geod(ellps="WGS84")
    w, s, e, n = demo.WUDAOKOU_BOX
    mid_lat = (s + n) / 2
    assert geod.inv(x0, mid_lat, w, mid_lat)[2] == pytest.approx(demo.WUDAOKOU_CUT_M, abs=5)
    assert geod.inv(e, mid_lat, x1, mid_lat)[2] == pytest.approx(demo.WUDAOKOU_CUT_M, abs=5)
    assert geod.inv(w, y0, w, s)[2] == pytest.approx(demo.WUDAOKOU_CUT_M, abs=5)
    assert geod.inv(w, n, w, y1)[2] == pytest.approx(demo.WUDAOKOU_CUT_M, abs=5)
    tagged_outside = []
    user_data = []
    for o in osmium.FileProcessor(str(path)):
        if o.is_node() and len(o.tags) and not (x0 <= o.location.lon <= x1 and y0 <= o.location.lat <= y1):
            tagged_outside.append(o.id)
        if o.user or o.uid:
            user_data.append(o.id)
    assert tagged_outside == [] and user_data == []


def test_the_cut_keeps_every_facility_park_and_street_of_the_area():
    """Facilities, parks and walkable streets within the study's reach are the same read from the
    source extract and from the cut."""
    source = shared_path(SOURCE)
    bounds = mg.demo_boundaries()
    town = bounds[bounds["kind"] == "镇域"]
    a = mg.facilities.from_osm(source, boundary=town, buffer_m=1000)
    b = mg.facilities.from_osm(mg.demo_osm_path(), boundary=town, buffer_m=1000)
    key = ["facility_id", "category", "name"]
    assert len(a) > 50
    assert a[key].sort_values(key).reset_index(drop=True).equals(b[key].sort_values(key).reset_index(drop=True))
    metric = mg.crs.metric_crs(town)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        na = mg.network.from_osm(source, mode="walk", boundary=town, buffer_m=1000, crs=metric)
        nb = mg.network.from_osm(mg.demo_osm_path(), mode="walk", boundary=town, buffer_m=1000, crs=metric)
    assert na.edges["length_m"].sum() == pytest.approx(nb.edges["length_m"].sum(), rel=1e-9)
    pa = mg.parks.from_osm(source, boundary=town, crs=metric)
    pb = mg.parks.from_osm(mg.demo_osm_path(), boundary=town, crs=metric)
    assert pa["area_m2"].sum() == pytest.approx(pb["area_m2"].sum(), rel=1e-9) and pa["area_m2"].sum() > 1e5


def test_build_script_regenerates_the_shipped_extract(tmp_path):
    source = shared_path(SOURCE)
    spec = importlib.util.spec_from_file_location("build_demo", ROOT / "data" / "build_demo.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    info = build.cut(source, tmp_path / "again.osm.pbf")
    assert info["data_date"] == "2017-06-24"
    assert _objects(tmp_path / "again.osm.pbf") == _objects(mg.demo_osm_path())


def test_wudaokou_boundaries(wudaokou_bounds):
    b = wudaokou_bounds
    assert list(b["kind"]) == ["镇域", "建成区"] and set(b["name"]) == {"五道口示范区"}
    assert b.crs.to_epsg() == 4326
    town, built = b.geometry.iloc[0], b.geometry.iloc[1]
    # 镇域: the study rectangle, its area on the ellipsoid (independent of the toolkit's projection)
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(shapely.box(*demo.WUDAOKOU_BOX))
    metric = mg.crs.metric_crs(b)
    areas = b.to_crs(metric).area.to_numpy()
    assert areas[0] == pytest.approx(abs(area), rel=2e-3)
    # 建成区: inside the town, and the OSM residential / retail / commercial land is all in it
    assert built.difference(town.buffer(1e-7)).area == 0 and 0 < areas[1] < areas[0]
    feats = mg.sources.read_osm(mg.demo_osm_path()).features
    land = feats[feats["tags"].map(lambda t: t.get("landuse") in ("residential", "retail", "commercial")).to_numpy()]
    land = (
        gpd.GeoDataFrame(geometry=land.geometry, crs=4326)
        .to_crs(metric)
        .union_all()
        .intersection(b.to_crs(metric).geometry.iloc[0])
    )
    assert land.area > 1e5
    # (closing by buffers cuts arcs into segments: a few m² of the land fall outside)
    assert land.difference(b.to_crs(metric).geometry.iloc[1]).area < 1e-4 * land.area
    # the sample beside the project is what the code makes
    committed = gpd.read_file(ROOT / "data" / "boundaries" / "wudaokou_demo.geojson")
    assert list(committed["kind"]) == list(b["kind"])
    for x, y in zip(committed.geometry, b.geometry, strict=True):
        assert x.symmetric_difference(y).area < 1e-9


def test_demo_study_of_each_town(tmp_path):
    st = mg.load_study(mg.demo_study(tmp_path / "w"))
    assert st.name == "五道口示范区" and st.population.total == 50_000
    assert "demonstration figure" in (tmp_path / "w" / "study.yaml").read_text(encoding="utf-8")
    assert mg.study.Study.model_fields  # the file validates
    k = mg.load_study(mg.demo_study(tmp_path / "k", town="karhula"))
    assert k.name == "Karhula (Kotka) demo" and k.osm.endswith("test.osm.pbf")
    with pytest.raises(mg.InputError, match="wudaokou, karhula"):
        mg.demo_study(tmp_path / "x", town="guixi")
