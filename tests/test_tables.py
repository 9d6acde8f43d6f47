"""Facility tables: GBK CSVs with 经度/纬度, Amap and Baidu POI exports, survey X/Y tables.

Every table here is written from real OpenStreetMap facilities (Longgang, Shenzhen and
Wudaokou, Beijing) into a temporary folder, in the shape a planner gets it — then read
back and compared with the OSM features it came from.

Amap typecodes used below come from Amap's published POI classification
(高德地图 POI 分类编码): 141202 中学, 141203 小学, 141204 幼儿园, 090100 综合医院,
060200 便民商店/便利店, 110101 公园, 150700 公交车站相关, 050100 中餐厅.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

import mtown_geo as mg
from mtown_geo import crs
from mtown_geo.facilities import COLUMNS
from mtown_geo.sources.tables import TableReport, read_facility_table

from .conftest import OSM_FILES, shared_path

GEOD = Geod(ellps="WGS84")

# how a planner writes the categories in Chinese (resolved through the profile's name_zh)
ZH = {
    "sports": "运动场地",
    "park": "公园",
    "bus_stop": "公交站点",
    "culture_sports_centre": "镇文体中心",
    "culture": "文化站",
    "primary_school": "小学",
    "convenience": "便利店",
    "market": "菜市场",
    "kindergarten": "幼儿园",
}

AMAP = {  # category → (typecode, type) from Amap's POI classification
    "kindergarten": ("141204", "科教文化服务;学校;幼儿园"),
    "primary_school": ("141203", "科教文化服务;学校;小学"),
    "middle_school": ("141202", "科教文化服务;学校;中学"),
    "hospital": ("090100", "医疗保健服务;综合医院;综合医院"),
    "convenience": ("060200", "购物服务;便民商店/便利店;便民商店/便利店"),
    "park": ("110101", "风景名胜;公园广场;公园"),
    "bus_stop": ("150700", "交通设施服务;公交车站;公交车站相关"),
}
RESTAURANT = ("050100", "餐饮服务;中餐厅;中餐厅")


def dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(np.asarray(lon1), np.asarray(lat1), np.asarray(lon2), np.asarray(lat2))[2])


def gbk_ok(text) -> bool:
    if not isinstance(text, str):
        return True
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture(scope="module")
def longgang():
    ext = mg.sources.read_osm(shared_path(OSM_FILES["longgang"]))
    return ext, mg.facilities.from_osm(ext)


@pytest.fixture(scope="module")
def haidian():
    ext = mg.sources.read_osm(shared_path(OSM_FILES["haidian"]))
    return ext, mg.facilities.from_osm(ext)


def _points(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    pts = gdf.geometry.representative_point()
    return pts.x.to_numpy(), pts.y.to_numpy()


# -- a GBK CSV with 经度/纬度 and a category column -------------------------------------------------


def test_gbk_csv_with_chinese_columns(longgang, tmp_path, caplog):
    ext, fac = longgang
    fac = fac[fac["category"].isin(list(ZH)) & fac["name"].map(gbk_ok)].reset_index(drop=True)
    lon, lat = _points(fac)
    labels = [ZH[c] if i % 4 else c for i, c in enumerate(fac["category"])]  # ids in every 4th row
    table = pd.DataFrame({"名称": fac["name"], "经度": lon, "纬度": lat, "类别": labels})
    # facilities the profile does not cover: real OSM parking places, fuel stations, toilets
    feats = ext.features
    amen = feats["tags"].map(lambda t: t.get("amenity"))
    other = feats[amen.isin(["parking", "fuel", "toilets"])]
    olon, olat = _points(other)
    extra = pd.DataFrame(
        {"名称": other["tags"].map(lambda t: t.get("name")), "经度": olon, "纬度": olat, "类别": amen[other.index]}
    )
    table = pd.concat([table, extra], ignore_index=True)
    path = tmp_path / "设施清单.csv"
    table.to_csv(path, index=False, encoding="gbk", float_format="%.9f")

    # categories the profile does not know are refused, each with its rows
    with pytest.raises(mg.InputError, match="does not know") as err:
        read_facility_table(path)
    msg = str(err.value)
    for value, n in Counter(extra["类别"]).items():
        first = len(fac) + 2 + list(extra["类别"]).index(value)
        assert f"'{value}' ({n} rows: {first}" in msg
    # rows whose category is left empty are read, counted and listed
    table["类别"] = table["类别"].where(table.index < len(fac), "")
    table.to_csv(path, index=False, encoding="gbk", float_format="%.9f")
    with (
        caplog.at_level(logging.INFO, logger="mtown_geo.sources.tables"),
        pytest.warns(mg.MtownGeoWarning, match=f"{len(extra)} of {len(table)} rows"),
    ):
        out = read_facility_table(path)
    assert "GBK" in caplog.text and "WGS-84" in caplog.text
    rep: TableReport = out.attrs["table_report"]
    assert rep.encoding == "gbk" and rep.source == "table"
    assert rep.columns == {"lon": "经度", "lat": "纬度", "name": "名称", "category": "类别"}
    assert list(out.columns) == [*COLUMNS, "geometry"] and out.crs.to_epsg() == 4326
    # categories and positions are those of the OSM facilities the table came from
    assert list(out["category"]) == list(fac["category"])
    assert (out["matched_by"] == "category").all()
    assert np.abs(out.geometry.x.to_numpy() - lon).max() < 1e-8
    assert np.abs(out.geometry.y.to_numpy() - lat).max() < 1e-8
    assert list(out["name"].fillna("")) == list(fac["name"].fillna(""))
    # the unmapped rows are counted, typed and located (file rows: header = 1)
    assert rep.n_unmapped == len(extra) and rep.n_facilities == len(fac)
    assert rep.unmapped_types == dict(Counter(extra["名称"].fillna("(no type, no name)")))
    assert rep.unmapped_rows == list(range(len(fac) + 2, len(table) + 2))
    assert rep.matched == {"category": len(fac)}


def test_utf8_bom_semicolon_and_explicit_columns(longgang, tmp_path):
    _, fac = longgang
    fac = fac[fac["category"].isin(["bus_stop", "park"])].reset_index(drop=True)
    lon, lat = _points(fac)
    table = pd.DataFrame({"设施": fac["name"], "E": lon, "N": lat, "用途": [ZH[c] for c in fac["category"]]})
    path = tmp_path / "points.csv"
    table.to_csv(path, index=False, sep=";", encoding="utf-8-sig")
    with pytest.raises(mg.InputError, match="no coordinate columns"):
        read_facility_table(path)
    out = read_facility_table(path, lon_col="E", lat_col="N", name_col="设施", category_col="用途")
    assert out.attrs["table_report"].encoding == "utf-8-sig"
    assert list(out["category"]) == list(fac["category"])
    assert np.abs(out.geometry.x.to_numpy() - lon).max() < 1e-9


# -- an Amap export (XLSX, GCJ-02, typecodes) ------------------------------------------------------------


def _amap_frame(ext, fac) -> tuple[pd.DataFrame, list[list[str]], pd.DataFrame]:
    """An Amap-style export of real OSM facilities, and the categories each row should get."""
    fac = fac[fac["category"].isin(list(AMAP))].drop_duplicates("facility_id", keep="first").reset_index(drop=True)
    feats = ext.features
    rest = feats[feats["tags"].map(lambda t: t.get("amenity") == "restaurant")]
    rows, expected = [], []
    for i, r in enumerate(fac.itertuples()):
        code, typ = AMAP[r.category]
        cats = [r.category]
        if r.category == "primary_school" and i % 2 == 0:  # a 九年一贯制 school: two codes
            code, typ = "141203|141202", "科教文化服务;学校;小学|科教文化服务;学校;中学"
            cats = ["primary_school", "middle_school"]
        rows.append((r.facility_id, r.name, typ, code, r.geometry))
        expected.append(cats)
    for r in rest.itertuples():
        rows.append((f"{r.osm_type}/{r.osm_id}", r.tags.get("name"), RESTAURANT[1], RESTAURANT[0], r.geometry))
        expected.append([])
    src = gpd.GeoDataFrame(
        {
            "id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "type": [r[2] for r in rows],
            "typecode": [r[3] for r in rows],
        },
        geometry=[r[4] for r in rows],
        crs=4326,
    )
    lon, lat = _points(src)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    table = pd.DataFrame(
        {
            "id": src["id"],
            "name": src["name"],
            "type": src["type"],
            "typecode": src["typecode"],
            "address": "",
            "location": [f"{x:.6f},{y:.6f}" for x, y in zip(glon, glat, strict=True)],  # Amap's 6 decimals
            "pname": "北京市",
            "cityname": "北京市",
            "adname": "海淀区",
        }
    )
    truth = pd.DataFrame({"lon": lon, "lat": lat})
    return table, expected, truth


def test_amap_xlsx_export(haidian, tmp_path, caplog):
    ext, fac = haidian
    table, expected, truth = _amap_frame(ext, fac)
    conv = np.flatnonzero(table["typecode"] == "060200")
    assert len(conv) >= 2
    table["typecode"] = table["typecode"].astype(object)
    table.loc[conv[0], "typecode"] = 60200  # Excel turned the code into a number
    path = tmp_path / "高德POI.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        table.to_excel(xw, sheet_name="POI", index=False)
        pd.DataFrame({"说明": ["导出自高德地图"]}).to_excel(xw, sheet_name="说明", index=False)

    n_rest = sum(1 for e in expected if not e)
    with (
        caplog.at_level(logging.INFO, logger="mtown_geo.sources.tables"),
        pytest.warns(mg.MtownGeoWarning, match=f"{n_rest} of {len(table)} rows"),
    ):
        out = read_facility_table(path)
    assert "GCJ-02" in caplog.text and "Amap" in caplog.text
    rep = out.attrs["table_report"]
    assert rep.source == "amap" and rep.coordinates == "gcj02"
    assert rep.unmapped_types == {f"{RESTAURANT[0]} {RESTAURANT[1]}": n_rest}
    assert (out["source"] == "amap").all() and (out["matched_by"] == "amap_typecode").all()
    # one row per (facility, category), in the table's order
    want = [(table["id"][i], c) for i, cats in enumerate(expected) for c in cats]
    got = [(fid.removeprefix("amap/"), c) for fid, c in zip(out["facility_id"], out["category"], strict=True)]
    assert got == want
    assert Counter(out["category"])["middle_school"] >= 1
    # positions: back to the OSM WGS-84 points within Amap's 6-decimal rounding (≈ 0.1 m)
    row_of = {fid: i for i, fid in enumerate(table["id"])}
    idx = [row_of[f.removeprefix("amap/")] for f in out["facility_id"]]
    d = dist_m(out.geometry.x, out.geometry.y, truth["lon"].to_numpy()[idx], truth["lat"].to_numpy()[idx])
    assert d.max() < 0.15

    # declaring WGS-84 for an Amap export: warned, and coordinates kept as they are
    with pytest.warns(mg.MtownGeoWarning) as record:
        kept = read_facility_table(path, crs="wgs84", sheet="POI")
    shift = [w for w in record if issubclass(w.category, mg.CoordinateShiftWarning)]
    assert len(shift) == 1 and "GCJ-02" in str(shift[0].message)
    raw = np.array([[float(v) for v in s.split(",")] for s in table["location"]])
    assert np.abs(kept.geometry.x.to_numpy() - raw[idx, 0]).max() < 1e-9

    with pytest.raises(mg.InputError, match="no sheet"):
        read_facility_table(path, sheet="Sheet9")


def test_amap_frame_with_declared_gcj02_and_index_labels(haidian):
    ext, fac = haidian
    table, expected, truth = _amap_frame(ext, fac)
    table = table.drop(columns=["pname", "cityname", "adname"])  # an export that kept few columns
    lon_lat = table["location"].str.split(",", expand=True).astype(float)
    table = table.drop(columns="location").assign(lng=lon_lat[0], lat=lon_lat[1])
    table.index = table.index + 100  # index labels are what errors and reports name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        out = read_facility_table(table, crs="gcj02")
    rep = out.attrs["table_report"]
    assert rep.source == "amap" and rep.coordinates == "gcj02"
    assert list(out["category"]) == [c for cats in expected for c in cats]
    assert rep.unmapped_rows == [int(i) for i, e in zip(table.index, expected, strict=True) if not e]
    first = out.iloc[0]
    assert dist_m(first.geometry.x, first.geometry.y, truth["lon"].iloc[0], truth["lat"].iloc[0]) < 0.15


def test_type_text_without_typecodes_uses_the_most_specific_level():
    # real places around Wudaokou (coordinates as OSM has them); type texts as Amap writes them
    table = pd.DataFrame(
        {
            "name": ["清华大学洁华幼儿园", "清华大学医院", "某镇卫生院", "清华附中", "五道口公交场站", "五道口加油站"],
            "type": [
                "科教文化服务;学校;幼儿园",
                "医疗保健服务;综合医院;综合医院",
                "医疗保健服务;综合医院;卫生院",
                "科教文化服务;学校;中学",
                "交通设施服务;公交车站;公交车站相关",
                "汽车服务;加油站;中国石化",
            ],
            "lng": [116.3226, 116.3255, 116.3300, 116.3190, 116.3380, 116.3400],
            "lat": [40.0030, 40.0050, 40.0000, 40.0080, 39.9930, 39.9950],
        }
    )
    with pytest.warns(mg.MtownGeoWarning) as record:
        out = read_facility_table(table, crs="wgs84")
    assert list(out["category"]) == ["kindergarten", "hospital", "health_station", "middle_school", "bus_stop"]
    assert (out["matched_by"] == "type").all()
    rep = out.attrs["table_report"]
    assert rep.source == "amap" and "Amap types" in rep.source_reason
    assert rep.unmapped_types == {"汽车服务;加油站;中国石化": 1} and rep.unmapped_rows == [5]
    told = [str(w.message) for w in record]
    assert any("1 of 6 rows" in t and "汽车服务;加油站;中国石化" in t for t in told)
    # declared WGS-84 wins over the Amap default, with a warning that says so
    assert any("Amap" in t and "crs='gcj02'" in t for t in told)
    assert rep.coordinates == "EPSG:4326" and rep.crs_declared


# -- a Baidu export (BD-09, tags) ------------------------------------------------------------------------


def test_baidu_export_is_bd09(haidian, tmp_path):
    _, fac = haidian
    tags = {"kindergarten": "教育培训;幼儿园", "hospital": "医疗;综合医院", "middle_school": "教育培训;中学"}
    sub = fac[fac["category"].isin(list(tags))].drop_duplicates("facility_id").reset_index(drop=True)
    lon, lat = _points(sub)
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    table = pd.DataFrame(
        {
            "uid": [f"uid{i:04d}" for i in range(len(sub))],
            "name": sub["name"],
            "lat": np.round(blat, 7),
            "lng": np.round(blon, 7),
            "detail_info.tag": [tags[c] for c in sub["category"]],
        }
    )
    path = tmp_path / "baidu.csv"
    table.to_csv(path, index=False, encoding="utf-8")
    out = read_facility_table(path)
    rep = out.attrs["table_report"]
    assert rep.source == "baidu" and rep.coordinates == "bd09"
    assert list(out["category"]) == list(sub["category"])
    assert (out["matched_by"] == "baidu_type").all()
    assert dist_m(out.geometry.x, out.geometry.y, lon, lat).max() < 0.02
    assert out["facility_id"].iloc[0] == "baidu/uid0000"


# -- exports with Chinese headers: recognised by their columns, type codes or type texts ----------------------

AMAP_ZH_EXTRA = {"地址": "", "省份": "北京市", "城市": "北京市", "区县": "海淀区"}


def _amap_chinese(table: pd.DataFrame) -> pd.DataFrame:
    """The Amap export of _amap_frame as Chinese download tools write it: 名称/类型/类型编码/经度/纬度..."""
    lon_lat = table["location"].str.split(",", expand=True).astype(float)
    return pd.DataFrame(
        {
            "名称": table["name"],
            "类型": table["type"],
            "类型编码": table["typecode"],
            "经度": lon_lat[0],
            "纬度": lon_lat[1],
            **AMAP_ZH_EXTRA,
        }
    )


def test_amap_export_with_chinese_headers_is_gcj02(haidian, tmp_path, caplog):
    ext, fac = haidian
    table, expected, truth = _amap_frame(ext, fac)
    zh = _amap_chinese(table)
    path = tmp_path / "高德POI导出.csv"
    zh.to_csv(path, index=False, encoding="gbk", errors="replace")
    with caplog.at_level(logging.INFO, logger="mtown_geo.sources.tables"), warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)  # the restaurants, unmapped
        out = read_facility_table(path)
    rep = out.attrs["table_report"]
    assert rep.source == "amap" and rep.coordinates == "gcj02" and not rep.crs_declared
    assert rep.source_reason.startswith(f"the Amap type codes in its column '类型编码' ({zh['类型编码'].iat[0]}")
    assert any("Amap (高德) export" in n and "taken as GCJ-02" in n for n in rep.notes)
    assert "taken as GCJ-02" in caplog.text
    assert list(out["category"]) == [c for cats in expected for c in cats]
    idx = [i for i, cats in enumerate(expected) for _ in cats]
    d = dist_m(out.geometry.x, out.geometry.y, truth["lon"].to_numpy()[idx], truth["lat"].to_numpy()[idx])
    assert d.max() < 0.15  # not the ~500 m of GCJ-02 read as WGS-84

    # the type texts alone mark it, and so do the codes alone (as Excel numbers)
    for cols in (["名称", "类型", "经度", "纬度"], ["名称", "类型编码", "经度", "纬度"]):
        part = zh[cols].copy()
        if "类型编码" in cols:
            part["类型编码"] = part["类型编码"].map(lambda v: int(v.split("|")[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            got = read_facility_table(part)
        assert got.attrs["table_report"].source == "amap" and got.attrs["table_report"].coordinates == "gcj02"
    # a declared crs wins over the default
    with pytest.warns(mg.MtownGeoWarning) as record:
        kept = read_facility_table(zh, crs="wgs84")
    assert any(issubclass(w.category, mg.CoordinateShiftWarning) and "GCJ-02" in str(w.message) for w in record)
    assert kept.attrs["table_report"].coordinates == "EPSG:4326" and kept.attrs["table_report"].crs_declared
    assert np.abs(kept.geometry.x.to_numpy() - zh["经度"].to_numpy()[idx]).max() < 1e-9
    # a planner's own table with a 类型 column of plain names is no export: WGS-84
    own = pd.DataFrame({"名称": zh["名称"], "类型": "小学", "经度": truth["lon"], "纬度": truth["lat"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)  # schools named 中学 are no 小学
        mine = read_facility_table(own)
    assert mine.attrs["table_report"].source == "table" and mine.attrs["table_report"].coordinates == "EPSG:4326"


# Baidu tags (百度地图 行业分类: 一级;二级) and the categories each must give, by this test's own reading
BAIDU_TRUTH = {
    "交通设施;公交车站": {"bus_stop"},
    "运动健身;体育场馆": {"sports", "culture_sports_centre"},
    "文化传媒;图书馆": {"culture", "culture_sports_centre"},
    "文化传媒;文化宫": {"culture", "culture_sports_centre"},
    "购物;市场": {"market", "farmers_market", "fresh_food"},
    "购物;超市": {"convenience"},
    "教育培训;幼儿园": {"kindergarten"},
    "生活服务;邮局": {"parcel"},
}


@pytest.mark.parametrize(("tag", "cats"), list(BAIDU_TRUTH.items()))
def test_baidu_tags_the_profile_maps(tag, cats):
    table = pd.DataFrame({"uid": ["a1b2"], "名称": ["某设施"], "标签": [tag], "经度": [116.3380], "纬度": [39.9930]})
    out = read_facility_table(table)
    assert set(out["category"]) == cats and set(out["matched_by"]) == {"baidu_type"}


def test_baidu_export_keeps_the_rows_its_types_or_names_place(haidian, tmp_path):
    """A Baidu export of real Wudaokou places with Chinese headers: bus stops, sports halls, libraries
    and supermarkets by their tags; schools tagged 教育培训;其他 by their names; restaurants and car
    parks left out and counted."""
    ext, _ = haidian
    feats = ext.features
    tags = feats["tags"]
    rows = []

    def add(mask, tag):
        for r in feats[mask.to_numpy()].itertuples():
            rows.append((r.tags.get("name"), tag, r.geometry))

    add(tags.map(lambda t: t.get("highway") == "bus_stop"), "交通设施;公交车站")
    add(tags.map(lambda t: t.get("leisure") in ("sports_centre", "stadium")), "运动健身;体育场馆")
    add(tags.map(lambda t: t.get("amenity") == "library"), "文化传媒;图书馆")
    add(tags.map(lambda t: t.get("shop") == "supermarket"), "购物;超市")
    schools = tags.map(lambda t: t.get("amenity") == "school")
    add(schools, "教育培训;其他")
    add(tags.map(lambda t: t.get("amenity") == "restaurant"), "美食;中餐厅")
    add(tags.map(lambda t: t.get("amenity") == "parking"), "交通设施;停车场")
    src = gpd.GeoDataFrame({"name": [r[0] for r in rows], "tag": [r[1] for r in rows]}, geometry=[r[2] for r in rows], crs=4326)
    lon, lat = _points(src)
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    table = pd.DataFrame({"名称": src["name"], "标签": src["tag"], "经度": np.round(blon, 7), "纬度": np.round(blat, 7)})
    path = tmp_path / "百度POI.csv"
    table.to_csv(path, index=False, encoding="utf-8-sig")
    with pytest.warns(mg.MtownGeoWarning, match="fit no category") as record:
        out = read_facility_table(path)
    rep = out.attrs["table_report"]
    assert rep.source == "baidu" and rep.coordinates == "bd09" and "Baidu tags" in rep.source_reason
    typed = table["标签"].isin(list(BAIDU_TRUTH))
    school_names = [n for n in table.loc[table["标签"] == "教育培训;其他", "名称"]]
    by_name = [n for n in school_names if isinstance(n, str) and any(k in n for k in ("小学", "中学", "附中", "附小", "幼儿园"))]
    assert len(by_name) >= 3
    assert rep.matched == {"baidu_type": int(typed.sum()), "name": len(by_name)}
    assert rep.n_unmapped == len(table) - int(typed.sum()) - len(by_name)
    assert rep.unmapped_types.get("美食;中餐厅") == int((table["标签"] == "美食;中餐厅").sum())
    assert any(f"{rep.n_facilities} of {len(table)} rows placed in a category" in n for n in rep.notes)
    # every typed row got exactly the categories of its tag, at its place
    row_of = out["facility_id"].str.rsplit(":", n=1).str[1].astype(int) - 2
    for i, grp in out.groupby(row_of):
        tag = table["标签"].iat[i]
        if tag in BAIDU_TRUTH:
            assert set(grp["category"]) == BAIDU_TRUTH[tag] and set(grp["matched_by"]) == {"baidu_type"}
        else:
            assert tag == "教育培训;其他" and set(grp["matched_by"]) == {"name"}
            assert set(grp["category"]) <= {"primary_school", "middle_school", "kindergarten"}
    assert dist_m(out.geometry.x, out.geometry.y, lon[row_of], lat[row_of]).max() < 0.05
    assert "Neither their types nor their names" in str(record[0].message)


# -- category names: ids, English and Chinese names, aliases; unknown ones refused -------------------------------

ALIASES = {  # how planners write the categories: English in any case, Chinese names, aliases
    "kindergarten": "Kindergarten",
    "primary_school": "Primary School",
    "park": "公园绿地",
    "bus_stop": "公交站",
    "sports": "运动场",
    "culture": "文化活动中心",
    "culture_sports_centre": "文体中心",
    "convenience": "便民店",
    "market": "菜场",
}


def test_category_names_and_aliases_are_resolved(longgang):
    _, fac = longgang
    fac = fac[fac["category"].isin(list(ALIASES))].reset_index(drop=True)
    lon, lat = _points(fac)
    table = pd.DataFrame({"名称": fac["name"], "经度": lon, "纬度": lat, "类别": [ALIASES[c] for c in fac["category"]]})
    out = read_facility_table(table)
    assert list(out["category"]) == list(fac["category"]) and (out["matched_by"] == "category").all()
    prof = mg.standards.load()
    assert prof.resolve_category("托育") == "childcare" and prof.resolve_category("卫生院") == "health_station"
    assert prof.resolve_category(" KINDERGARTEN ") == "kindergarten" and prof.resolve_category("幼儿园") == "kindergarten"


def test_unknown_category_names_are_refused_with_the_closest_names(longgang):
    _, fac = longgang
    fac = fac[fac["category"].isin(list(ALIASES))].reset_index(drop=True)
    lon, lat = _points(fac)
    labels = [ALIASES[c] for c in fac["category"]]
    labels[1], labels[4], labels[5] = "Kindergarden", "幼儿圆", "Kindergarden"
    table = pd.DataFrame({"名称": fac["name"], "经度": lon, "纬度": lat, "类别": labels})
    with pytest.raises(mg.InputError) as err:
        read_facility_table(table)
    msg = str(err.value)
    assert "holds 2 names the profile 'zhejiang-2023' does not know" in msg
    assert "'Kindergarden' (2 rows: 1, 5) — did you mean 'kindergarten'?" in msg
    assert "'幼儿圆' (1 rows: 4) — did you mean '幼儿园 (kindergarten)'?" in msg
    with pytest.raises(mg.InputError, match="Did you mean 'kindergarten'"):
        mg.standards.load().resolve_category("Kindergarden")


def test_a_column_named_like_categories_that_holds_none_is_not_used(haidian):
    ext, _ = haidian
    feats = ext.features
    schools = feats[feats["tags"].map(lambda t: t.get("amenity") == "school" and "中学" in t.get("name", "")).to_numpy()]
    lon, lat = _points(schools)
    table = pd.DataFrame(
        {
            "名称": schools["name"],
            "经度": lon,
            "纬度": lat,
            "类别": ["公办", "民办"] * (len(schools) // 2) + ["公办"] * (len(schools) % 2),
        }
    )
    with pytest.warns(mg.MtownGeoWarning, match="'类别' .* holds no category"):
        out = read_facility_table(table)
    assert "category" not in out.attrs["table_report"].columns and (out["matched_by"] == "name").all()
    with pytest.raises(mg.InputError, match="does not know"):
        read_facility_table(table, category_col="类别")


def test_facility_file_categories_are_resolved_in_a_study(tmp_path):
    """A facility layer (GeoJSON) whose category column holds Chinese names and aliases: the run
    resolves them through the profile; a name it does not know stops the run with the closest names."""
    ext = mg.sources.read_osm(shared_path(OSM_FILES["guixi_pbf"]))
    fac = mg.facilities.from_osm(ext).drop_duplicates("facility_id").reset_index(drop=True)
    zh = {
        "primary_school": "小学",
        "middle_school": "初级中学",
        "service_centre": "政务服务中心",
        "sports": "运动场",
        "park": "公园",
    }
    layer = gpd.GeoDataFrame({"类别": [zh[c] for c in fac["category"]], "名称": fac["name"]}, geometry=fac.geometry, crs=4326)
    layer.to_file(tmp_path / "设施.geojson", driver="GeoJSON")
    b = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    study = {
        "name": "东门街道",
        "boundaries": {"town": str(b), "builtup": str(b)},
        "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
        "population": {"total": 60000},
        "demand": {"cell_m": 100},
        "circles": ["15min"],
        "facilities": [{"file": "设施.geojson", "category_col": "类别", "name_col": "名称"}],
        "siting": {"enabled": False},
        "outputs": {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False},
        "base_dir": str(tmp_path),
    }
    result = mg.run(study)
    assert list(result.layers["facilities"]["category"]) == list(fac["category"])
    layer.loc[0, "类别"] = "小雪"
    layer.to_file(tmp_path / "设施.geojson", driver="GeoJSON")
    with pytest.raises(mg.StudyError, match="'小雪' \\(1 features; did you mean '小学 \\(primary_school\\)'\\?\\)"):
        mg.run(study)


# -- survey X/Y in metres -----------------------------------------------------------------------------


def test_projected_xy_and_northing_first_survey_tables(haidian, tmp_path):
    _, fac = haidian
    sub = fac[fac["category"] == "bus_stop"].reset_index(drop=True)
    lon, lat = _points(sub)
    gk = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(4548)  # CGCS2000 GK CM 117°E
    east, north = gk.x.to_numpy(), gk.y.to_numpy()
    table = pd.DataFrame({"名称": sub["name"], "x": east, "y": north, "类别": "公交站点"})
    out = read_facility_table(table, crs=4548)
    assert dist_m(out.geometry.x, out.geometry.y, lon, lat).max() < 0.001
    survey = pd.DataFrame({"名称": sub["name"], "X坐标": north, "Y坐标": east, "类别": "公交站点"})
    path = tmp_path / "测量坐标.csv"
    survey.to_csv(path, index=False, encoding="gbk")
    with pytest.warns(mg.MtownGeoWarning, match="northing"):
        out2 = read_facility_table(path, crs="EPSG:4548")
    assert dist_m(out2.geometry.x, out2.geometry.y, lon, lat).max() < 0.001


def test_coordinates_in_the_wrong_crs_are_refused(haidian):
    _, fac = haidian
    sub = fac[fac["category"] == "bus_stop"].reset_index(drop=True)
    lon, lat = _points(sub)
    degrees = pd.DataFrame({"lng": lon, "lat": lat, "类别": "公交站点"})
    with pytest.raises(mg.InputError, match="not in this CRS"):
        read_facility_table(degrees, crs=4548)
    gk = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(4548)
    metres = pd.DataFrame({"x": gk.x, "y": gk.y, "类别": "公交站点"})
    with pytest.raises(mg.InputError, match="look like metres"):
        read_facility_table(metres)


# -- names only ------------------------------------------------------------------------------------------


def test_names_only_table_is_classified_by_name(haidian):
    ext, _ = haidian
    feats = ext.features
    amen = feats["tags"].map(lambda t: t.get("amenity"))
    named = feats["tags"].map(lambda t: t.get("name", ""))
    want = {"kindergarten": "kindergarten", "hospital": "hospital"}
    sub = feats[amen.isin(list(want)) & named.map(lambda n: any(p in n for p in ("幼儿园", "医院")))]
    assert len(sub) >= 3
    lon, lat = _points(sub)
    table = pd.DataFrame({"名称": named[sub.index].to_numpy(), "lng": lon, "lat": lat})
    out = read_facility_table(table)
    assert (out["matched_by"] == "name").all()
    assert sorted(out["category"]) == sorted(want[a] for a in amen[sub.index])


# -- bad rows and bad files --------------------------------------------------------------------------------


def test_bad_coordinates_are_listed_or_dropped(longgang, tmp_path):
    _, fac = longgang
    sub = fac[fac["category"] == "bus_stop"].reset_index(drop=True)
    lon, lat = _points(sub)
    table = pd.DataFrame({"名称": sub["name"], "经度": lon.astype(object), "纬度": lat, "类别": "公交站点"})
    table.loc[2, "经度"] = ""
    table.loc[5, "经度"] = "东经114度"
    table.loc[7, "纬度"] = 122.7
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False, encoding="utf-8")
    with pytest.raises(mg.InputError, match=r"rows \(numbered as in the file, header = row 1\): 4, 7, 9"):
        read_facility_table(path)
    with pytest.warns(mg.MtownGeoWarning, match="3 of"):
        out = read_facility_table(path, on_bad_coords="drop")
    assert out.attrs["table_report"].dropped_rows == [4, 7, 9]
    keep = np.setdiff1d(np.arange(len(sub)), [2, 5, 7])
    assert np.allclose(out.geometry.x.to_numpy(), lon[keep])


def test_swapped_columns_are_named(longgang):
    _, fac = longgang
    lon, lat = _points(fac)
    table = pd.DataFrame({"经度": lat, "纬度": lon, "类别": "公园"})
    with pytest.raises(mg.InputError, match="swapped"):
        read_facility_table(table)


def test_file_errors(tmp_path):
    with pytest.raises(mg.DataNotFoundError):
        read_facility_table(tmp_path / "missing.csv")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(mg.InputError, match="xlsx"):
        read_facility_table(tmp_path / "old.xls")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(mg.InputError, match="empty"):
        read_facility_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("名称,经度,纬度\n", encoding="utf-8")
    with pytest.raises(mg.InputError, match="no data rows"):
        read_facility_table(tmp_path / "header.csv")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip file")
    with pytest.raises(mg.InputError, match="Excel"):
        read_facility_table(tmp_path / "broken.xlsx")
    ok = pd.DataFrame({"lng": [120.1], "lat": [30.2], "category": ["park"]})
    with pytest.raises(mg.CRSError, match="crs="):
        read_facility_table(ok, crs="mars-2000")
    with pytest.raises(mg.InputError, match="lon_col"):
        read_facility_table(ok, lon_col="lng")
    with pytest.raises(mg.InputError, match="no column 'x'"):
        read_facility_table(ok, lon_col="x", lat_col="lat")
    with pytest.raises(mg.InputError):
        read_facility_table(ok, on_bad_coords="ignore")  # type: ignore[arg-type]
    with pytest.raises(mg.InputError):
        read_facility_table(42)  # type: ignore[arg-type]


def test_geodataframe_of_points(longgang):
    _, fac = longgang
    pts = fac[fac.geom_type == "Point"].reset_index(drop=True)
    gcj = pts.set_geometry(
        gpd.points_from_xy(*crs.wgs84_to_gcj02(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())), crs=4326
    )
    out = read_facility_table(gcj[["name", "category", "geometry"]], crs="gcj02")
    assert list(out["category"]) == list(pts["category"])
    assert dist_m(out.geometry.x, out.geometry.y, pts.geometry.x, pts.geometry.y).max() < 0.01
    with pytest.raises(mg.InputError, match="points"):
        read_facility_table(fac[["name", "category", "geometry"]])


# -- malformed tables never escape as a library's traceback -----------------------------------------------

cell = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.text(max_size=8),
    st.sampled_from(["120.1,30.2", "幼儿园", "141204", "141203|141202", "", " ", "nan", "公园", "kindergarten"]),
)
col_names = st.sampled_from(
    ["经度", "纬度", "lng", "lat", "lon", "x", "y", "location", "名称", "name", "类别", "typecode", "type", "tag", "uid", "备注"]
)


@pytest.mark.slow
@given(
    cols=st.lists(col_names, min_size=0, max_size=5, unique=True),
    n=st.integers(0, 6),
    data=st.data(),
    crs_value=st.sampled_from([None, "wgs84", "gcj02", "bd09", "cgcs2000", 4549, "EPSG:3857", "nonsense"]),
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_malformed_tables_raise_own_errors(cols, n, data, crs_value):
    df = pd.DataFrame({c: [data.draw(cell) for _ in range(n)] for c in cols}, columns=cols)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            out = read_facility_table(df, crs=crs_value)
    except mg.MtownGeoError:
        return
    assert isinstance(out, gpd.GeoDataFrame) and out.crs.to_epsg() == 4326
    assert list(out.columns) == [*COLUMNS, "geometry"]
    coords = shapely.get_coordinates(out.geometry.values)
    assert np.isfinite(coords).all()
    assert (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()
