"""Reading planners' vector files: Chinese attribute text survives GBK shapefiles without .cpg,
UTF-8 with and without .cpg, cut multi-byte fields, GeoPackage layers, GeoJSON, KML and zips."""

from __future__ import annotations

import logging
import os
import shutil
import warnings
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import mtown_geo as mg
from mtown_geo._lines import lines_to_network
from mtown_geo.sources.vector import read_vector

from .conftest import OSM_FILES, shared_path

# the Chinese road classes the Guixi ways are given (CJJ 37-2012 names for their OSM classes)
ZH_CLASS = {
    "primary": "主干路",
    "secondary": "次干路",
    "tertiary": "支路",
    "residential": "街巷",
    "unclassified": "村道",
}


@pytest.fixture(scope="module")
def guixi_roads() -> gpd.GeoDataFrame:
    """The named streets of central Guixi (OSM), with Chinese names and classes, in CGCS2000 / GK 117°E."""
    ex = mg.sources.read_osm(shared_path(OSM_FILES["guixi_bz2"]))
    ways = ex.ways.assign(geometry=ex.way_lines().to_numpy())
    ways = ways[ways["name"].notna() & ways["highway"].isin(list(ZH_CLASS))]
    out = gpd.GeoDataFrame(
        {
            "osm_id": ways["osm_id"].to_numpy(),
            "名称": ways["name"].to_numpy(dtype=object),
            "等级": ways["highway"].map(ZH_CLASS).to_numpy(dtype=object),
        },
        geometry=ways["geometry"].to_numpy(),
        crs=4326,
    ).to_crs(4548)
    assert len(out) > 20 and all(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in out["名称"])
    return out.reset_index(drop=True)


def _write_shp(gdf: gpd.GeoDataFrame, path, *, encoding: str, cpg: bool) -> None:
    pyogrio.write_dataframe(gdf, path, encoding=encoding)
    cpg_path = path.with_suffix(".cpg")
    if not cpg:
        cpg_path.unlink()
    else:
        assert cpg_path.exists()


def _assert_same(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        if col == "geometry":
            assert shapely.equals_exact(got.geometry.to_numpy(), want.geometry.to_numpy(), tolerance=1e-6).all()
        else:
            assert got[col].tolist() == want[col].tolist(), col


def test_gbk_shapefile_without_cpg_reads_chinese_names(guixi_roads, tmp_path, caplog):
    path = tmp_path / "道路中心线.shp"
    _write_shp(guixi_roads, path, encoding="GBK", cpg=False)
    assert not path.with_suffix(".cpg").exists()
    # the bytes on disk are GBK: read as GDAL's default, the names are mojibake
    naive = pyogrio.read_dataframe(path)
    assert "名称" not in naive.columns
    with caplog.at_level(logging.INFO, logger="mtown_geo.sources.vector"):
        got = read_vector(path)
    _assert_same(got, guixi_roads)
    assert got.crs.equals(guixi_roads.crs)
    assert "gb18030" in caplog.text.lower()
    # the bytes decoded by hand agree (GBK written, GB18030 read: a superset)
    dbf = path.with_suffix(".dbf").read_bytes()
    assert guixi_roads["名称"].iat[0].encode("gbk") in dbf


def test_gb18030_only_characters(guixi_roads, tmp_path):
    """Characters outside GBK (four-byte GB18030) come back too."""
    roads = guixi_roads.iloc[:5].copy()
    roads["名称"] = [n + "𠀋" for n in roads["名称"]]  # U+2000B, an extension-B ideograph
    path = tmp_path / "roads.shp"
    _write_shp(roads, path, encoding="GB18030", cpg=False)
    assert "𠀋".encode("gb18030") in path.with_suffix(".dbf").read_bytes()
    _assert_same(read_vector(path), roads.reset_index(drop=True))


@pytest.mark.parametrize("cpg", [True, False])
def test_utf8_shapefile_with_and_without_cpg(guixi_roads, tmp_path, cpg, caplog):
    path = tmp_path / "roads.shp"
    _write_shp(guixi_roads, path, encoding="UTF-8", cpg=cpg)
    with caplog.at_level(logging.INFO, logger="mtown_geo.sources.vector"):
        got = read_vector(path)
    _assert_same(got, guixi_roads)
    assert "utf-8" in caplog.text.lower()


@pytest.mark.parametrize("text", ["936", "GBK", "GB2312", "ANSI 936", "CP936"])
def test_cpg_spellings_of_gbk(guixi_roads, tmp_path, text):
    path = tmp_path / "roads.shp"
    _write_shp(guixi_roads, path, encoding="GBK", cpg=False)
    path.with_suffix(".cpg").write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.RepairWarning)
        _assert_same(read_vector(path), guixi_roads)


def test_wrong_cpg_is_corrected_with_a_warning(guixi_roads, tmp_path):
    path = tmp_path / "roads.shp"
    _write_shp(guixi_roads, path, encoding="GBK", cpg=False)
    path.with_suffix(".cpg").write_text("UTF-8")
    with pytest.warns(mg.RepairWarning, match="gb18030"):
        got = read_vector(path)
    _assert_same(got, guixi_roads)
    with pytest.raises(mg.InputError, match="klingon"):
        read_vector(path, encoding="klingon")
    # the encoding given wins, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.RepairWarning)
        _assert_same(read_vector(path, encoding="gbk"), guixi_roads)


def test_field_cut_inside_a_character(guixi_roads, tmp_path):
    """A .dbf field whose fixed width cuts a UTF-8 character (as some tools write them): GDAL's own
    reading fails, read_vector keeps the text up to the cut character."""
    han = [n for n in guixi_roads["名称"] if all("\u4e00" <= ch <= "\u9fff" for ch in n)]
    long_name = "".join(han)[:100]  # 300 bytes of three-byte characters
    roads = guixi_roads.iloc[:1].assign(名称=[long_name])
    path = tmp_path / "cut.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL: the value is cut to the field's width
        _write_shp(roads, path, encoding="UTF-8", cpg=False)
    raw = bytearray(path.with_suffix(".dbf").read_bytes())
    enc = long_name.encode("utf-8")
    start = raw.find(enc[:30])
    n = 0
    while n < len(enc) and raw[start + n] == enc[n]:
        n += 1
    n -= n % 3  # (the next field may start with the same byte)
    assert n >= 240  # the field holds whole characters, up to its width
    raw[start + n - 1] = 0x20  # cut the last character to two of its three bytes
    path.with_suffix(".dbf").write_bytes(bytes(raw))
    with pytest.raises(UnicodeDecodeError):
        pyogrio.read_dataframe(path, encoding="UTF-8")
    got = read_vector(path)
    assert got["名称"].iat[0] == long_name[: n // 3 - 1]


def test_cjk_language_driver_byte_is_honoured(tmp_path, guixi_roads):
    """Without .cpg, a .dbf whose language driver says code page 949 (Korean) is read as such,
    not as GB18030 (its bytes would decode as Chinese characters)."""
    roads = guixi_roads.iloc[:3].assign(名称=["서울특별시", "강남대로", "세종대로"], 等级=["a", "b", "c"])
    roads = roads.rename(columns={"名称": "name", "等级": "cls"})
    path = tmp_path / "kr.shp"
    _write_shp(roads, path, encoding="cp949", cpg=False)
    raw = bytearray(path.with_suffix(".dbf").read_bytes())
    assert "서울특별시".encode("cp949").decode("gb18030", errors="strict")  # a wrong but valid reading
    raw[29] = 0x79  # language driver 0x79: code page 949
    path.with_suffix(".dbf").write_bytes(bytes(raw))
    _assert_same(read_vector(path), roads.reset_index(drop=True))


def test_missing_prj_asks_for_the_crs(guixi_roads, tmp_path):
    path = tmp_path / "roads.shp"
    _write_shp(guixi_roads, path, encoding="UTF-8", cpg=True)
    path.with_suffix(".prj").unlink()
    with pytest.raises(mg.CRSError, match=r"\.prj") as info:
        read_vector(path)
    assert "crs=" in str(info.value) and "4534" in str(info.value)  # Gauss–Krüger metres: the zone codes
    got = read_vector(path, crs=4548)
    assert got.crs.to_epsg() == 4548
    _assert_same(got, guixi_roads)
    # the same in longitude/latitude is recognised as such
    path2 = tmp_path / "roads_lonlat.shp"
    _write_shp(guixi_roads.to_crs(4326), path2, encoding="UTF-8", cpg=True)
    path2.with_suffix(".prj").unlink()
    with pytest.raises(mg.CRSError, match="4326"):
        read_vector(path2)
    # a file with a CRS must not be relabelled
    path.with_suffix(".prj").write_text(gpd.GeoSeries([], crs=4548).crs.to_wkt("WKT1_ESRI"))
    with pytest.raises(mg.CRSError, match="to_crs"):
        read_vector(path, crs=4326)


def test_gauss_kruger_with_zone_number_hint(guixi_roads, tmp_path):
    """Coordinates with the zone number in front of x (39 for 117°E) get the matching EPSG code."""
    roads = guixi_roads.to_crs(4527)  # CGCS2000 / 3-degree Gauss-Kruger zone 39
    assert 39e6 < roads.total_bounds[0] < 40e6
    path = tmp_path / "zone.shp"
    _write_shp(roads, path, encoding="UTF-8", cpg=True)
    path.with_suffix(".prj").unlink()
    with pytest.raises(mg.CRSError, match="crs=4527"):
        read_vector(path)


def test_missing_file_and_not_a_vector_file(tmp_path):
    with pytest.raises(mg.DataNotFoundError):
        read_vector(tmp_path / "nowhere.shp")
    with pytest.raises(FileNotFoundError):  # also the built-in
        read_vector(tmp_path / "nowhere.gpkg")
    notes = tmp_path / "notes.txt"
    notes.write_text("道路中心线来自规划院\n", encoding="utf-8")
    with pytest.raises(mg.InputError, match="vector"):
        read_vector(notes)


def test_table_without_geometry_is_refused():
    path = shared_path("zhejiang_census_tudigong/zhejiang_county_census2020.csv")
    with pytest.raises(mg.InputError, match="no geometry"):
        read_vector(path)


def test_geopackage_layers(guixi_roads, guixi_boundary, tmp_path):
    path = tmp_path / "town.gpkg"
    pyogrio.write_dataframe(guixi_roads, path, layer="道路")
    pyogrio.write_dataframe(guixi_boundary, path, layer="boundary")
    with pytest.raises(mg.InputError, match="道路") as info:
        read_vector(path)
    assert "boundary" in str(info.value) and "layer=" in str(info.value)
    roads = read_vector(path, layer="道路")
    _assert_same(roads, guixi_roads)
    assert roads.geometry.name == "geometry" and roads.attrs == {}
    assert isinstance(roads.index, pd.RangeIndex)
    by_number = read_vector(path, layer=1)
    assert by_number.to_crs(4548).area.sum() == pytest.approx(guixi_boundary.to_crs(4548).area.sum())
    with pytest.raises(mg.InputError, match="no layer"):
        read_vector(path, layer="绿道")
    with pytest.raises(mg.InputError, match="no layer number"):
        read_vector(path, layer=5)


def test_geojson_matches_geopandas():
    path = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    got = read_vector(path)
    want = gpd.read_file(path)
    assert got.crs.equals(want.crs)
    assert shapely.equals_exact(got.geometry.to_numpy(), want.geometry.to_numpy(), tolerance=0).all()
    for col in want.columns.drop("geometry"):
        assert (
            got[col].astype(object).where(got[col].notna(), None).tolist()
            == want[col].astype(object).where(want[col].notna(), None).tolist()
        )
    # the boundary's area (5.65 km² in the data's README)
    assert got.to_crs(4548).area.sum() / 1e6 == pytest.approx(5.65, abs=0.05)


@pytest.mark.skipif("KML" not in pyogrio.list_drivers(write=True), reason="GDAL was built without the KML driver")
def test_kml_roundtrip(guixi_roads, tmp_path):
    path = tmp_path / "roads.kml"
    wgs = guixi_roads.to_crs(4326)
    pyogrio.write_dataframe(wgs[["名称", "geometry"]].rename(columns={"名称": "Name"}), path, driver="KML", layer="roads")
    got = read_vector(path)
    assert got.crs.to_epsg() == 4326
    assert got["Name"].tolist() == wgs["名称"].tolist()
    d = shapely.hausdorff_distance(got.geometry.to_numpy(), wgs.geometry.to_numpy())
    assert np.max(d) < 1e-6


def test_zipped_gbk_shapefile_and_a_folder_of_shapefiles(guixi_roads, guixi_boundary, tmp_path):
    folder = tmp_path / "规划"
    folder.mkdir()
    _write_shp(guixi_roads, folder / "roads.shp", encoding="GBK", cpg=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL: field names cut to 10 characters
        _write_shp(guixi_boundary.to_crs(4548), folder / "boundary.shp", encoding="UTF-8", cpg=True)
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.glob("roads.*")):
            zf.write(f, arcname=f.name)
    _assert_same(read_vector(archive), guixi_roads)
    with pytest.raises(mg.InputError, match="layers"):
        read_vector(folder)
    _assert_same(read_vector(folder, layer="roads"), guixi_roads)
    shutil.rmtree(folder)


def test_gbk_centrelines_become_a_drive_network(guixi_roads, tmp_path):
    """End to end: a GBK centreline shapefile without .cpg → network with the Chinese classes' speeds
    (zhejiang-2023 drive table for their OSM equivalents: 主干路 50, 次干路 40, 支路 30, 村道 30, 街巷 10)."""
    path = tmp_path / "道路.shp"
    _write_shp(guixi_roads, path, encoding="GBK", cpg=False)
    roads = read_vector(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        net = lines_to_network(roads, mode="drive", class_col="等级", name_col="名称")
    expected = {"主干路": 50.0, "次干路": 40.0, "支路": 30.0, "村道": 30.0, "街巷": 10.0}
    e = net.edges
    for cls, kmh in expected.items():
        assert np.allclose(e.loc[e.road_class == cls, "speed_kmh"], kmh)
    assert set(e["name"]) <= set(guixi_roads["名称"])
    assert net.repairs.unknown_classes == {}
    assert os.path.exists(path)
