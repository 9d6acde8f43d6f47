"""Facility categories from real OSM data: tags, Chinese names and fallbacks."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

import mtown_geo as mg

from .conftest import OSM_FILES, shared_path


def test_chinese_names_decide_school_levels():
    fac = mg.facilities.from_osm(shared_path(OSM_FILES["haidian"]))
    fac = fac[fac["category"] != "bus_stop"]  # stops are named after the schools they serve
    by_name = fac.groupby("name")["category"].apply(set).to_dict()
    assert by_name["清华附中"] == {"middle_school"}  # 附中 = affiliated middle school, not a primary fallback
    assert by_name["中关村中学"] == {"middle_school"}
    assert "primary_school" in by_name["清华附小"]
    assert by_name["清华大学洁华幼儿园"] == {"kindergarten"}
    assert (fac.loc[fac["name"] == "清华大学洁华幼儿园", "matched_by"] == "name").all()
    assert "hospital" in by_name["清华大学医院"]


def test_unclassified_school_falls_back_to_primary(demo_osm):
    fac = mg.facilities.from_osm(demo_osm)
    school = fac[fac["name"] == "Helilän koulu"]
    assert list(school["category"]) == ["primary_school"]
    assert list(school["matched_by"]) == ["fallback"]
    # the school's outline is cut by the extract's edge: it is kept as a point, not a made-up polygon
    assert school.geometry.iloc[0].geom_type == "Point"


def test_parks_smaller_than_the_profile_minimum_are_dropped():
    fac = mg.facilities.from_osm(shared_path(OSM_FILES["longgang"]))
    parks = fac[fac["category"] == "park"]
    assert len(parks) > 0
    assert (parks["area_m2"] >= 2000).all()
    # the exact area of one park equals shapely's area in the metric CRS
    one = parks.iloc[[0]]
    assert one["area_m2"].iloc[0] == pytest.approx(one.to_crs(mg.crs.metric_crs(one)).area.iloc[0])


def test_guixi_has_no_kindergarten_and_its_schools_lie_outside_the_subdistrict(guixi_boundary):
    path = shared_path(OSM_FILES["guixi_pbf"])
    everything = mg.facilities.from_osm(path)
    assert not (everything["category"] == "kindergarten").any()
    inside = mg.facilities.from_osm(path, boundary=guixi_boundary, buffer_m=0)
    nearby = mg.facilities.from_osm(path, boundary=guixi_boundary, buffer_m=1500)
    schools = lambda f: f["category"].isin(["primary_school", "middle_school"]).sum()  # noqa: E731
    assert schools(inside) == 0 < schools(nearby)


def test_classify_any_tagged_layer():
    layer = gpd.GeoDataFrame(
        {
            "tags": [
                {"name": "东门社区居家养老服务中心"},
                {"amenity": "kindergarten"},
                {"shop": "stationery", "name": "小学生文具店"},
            ]
        },
        geometry=[shapely.Point(117.2, 28.3)] * 3,
        crs=4326,
    )
    out = mg.facilities.classify(layer)
    assert list(out["category"]) == ["elderly_care", "kindergarten"]  # a shop is not a school by its name


def test_summary_lists_every_category():
    s = mg.facilities.summary(mg.facilities.from_osm(mg.demo_osm_path()))
    assert len(s) == len(mg.standards.load().categories)
    assert s.loc["kindergarten", "count"] == 1 and s.loc["hospital", "count"] == 0
