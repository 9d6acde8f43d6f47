"""The policy tasks as a whole: profile rules, the 主要任务 table, the study step, outputs and the batch summary."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import osmium
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import batch, report, standards
from mtown_geo.report import ComputedValue
from mtown_geo.sources import osm

from .conftest import OSM_FILES, shared_path

PROFILE = standards.load()


# -- profile ----------------------------------------------------------------------------------------


def test_every_task_rule_says_where_it_comes_from() -> None:
    tasks = PROFILE.tasks
    assert tasks is not None
    for name in type(tasks).model_fields:
        spec = getattr(tasks, name)
        assert spec.source.strip(), name
        for key, ind in spec.indicators.items():
            assert ind.source.strip() and ind.unit, (name, key)
            # a target that decides pass/fail is set only where its source was verified
            assert ind.target is None or ind.target.verified, (name, key)
    assumptions = dict(PROFILE.assumptions())
    # STANDARDS-TASKS: no Zhejiang width rule, no 园林城镇 threshold, no official mountain-county list
    assert "tasks.village_roads.two_lane" in assumptions
    assert "tasks.village_roads.mountain_counties" in assumptions
    assert "tasks.greenspace.indicators.green_land_ratio" in assumptions
    assert tasks.greenspace.indicators["green_land_ratio"].target is None
    assert tasks.streets.indicators["street_density"].target.value == 8


def test_a_task_must_list_the_indicators_it_computes(tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load(Path(standards.__file__).with_name("zhejiang-2023.yaml").read_text(encoding="utf-8"))
    tasks = raw["tasks"]
    del tasks["streets"]["indicators"]["block_share"]
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        yaml.safe_dump({"extends": "zhejiang-2023", "name": "m", "title": "m", "tasks": tasks}, allow_unicode=True),
        encoding="utf-8",
    )
    with pytest.raises(mg.ProfileError, match="missing \\['block_share'\\]"):
        standards.load(mine)


# -- the OSM reader keeps what the tasks read ---------------------------------------------------------


def test_reader_keeps_green_land_bus_routes_and_road_tags() -> None:
    path = shared_path(OSM_FILES["andorra"])
    ext = osm.read_osm(path)
    n_green = 0
    for obj in osmium.FileProcessor(str(path)).with_areas().with_filter(osmium.filter.KeyFilter("natural")):
        if obj.is_area() and obj.tags.get("natural") in ("wood", "scrub", "grassland", "heath"):
            n_green += 1
    got = ext.features["tags"].map(lambda t: t.get("natural") in ("wood", "scrub", "grassland", "heath")).sum()
    assert got >= n_green > 1000  # assembled areas, and cut ways kept as points
    bus = ext.routes[ext.routes["route"] == "bus"]
    assert len(bus) == 3 and all(len(n) > 0 for n in bus["nodes"])
    assert {"lanes", "width", "surface", "ref", "highway:CN"} <= set(ext.ways.columns)
    assert ext.ways["lanes"].notna().sum() == 966  # ways with a lanes tag (counted with osmium)


def test_select_and_unselected() -> None:
    feats = gpd.GeoDataFrame(
        {
            "osm_type": ["node", "node", "node", "way"],
            "osm_id": [1, 2, 3, 4],
            "tags": [
                {"amenity": "charging_station", "name": "公共充电站"},
                {"amenity": "charging_station", "name": "电瓶车充电"},
                {"amenity": "community_centre", "name": "某某邻里中心", "access": "private"},
                {"leisure": "park"},
            ],
        },
        geometry=[shapely.Point(0, 0), shapely.Point(1, 0), shapely.Point(2, 0), shapely.box(0, 0, 1, 1)],
        crs=4326,
    )
    rule = standards.TagRule(tags={"amenity": "charging_station"})
    sel = osm.select(feats, [rule], exclude_name_patterns=["电瓶车"])
    assert sel["osm_id"].tolist() == [1] and sel["matched_by"].tolist() == ["tag"]
    by_name = osm.select(feats, [], name_patterns=["邻里中心"], exclude=[standards.TagRule(tags={"access": "private"})])
    assert len(by_name) == 0
    assert osm.select(feats, [standards.TagRule(tags={"leisure": "park"})], kind="point").empty
    assert len(osm.select(feats, [standards.TagRule(tags={"leisure": "park"})], kind="polygon")) == 1
    assert osm.unselected([standards.TagRule(tags={"natural": "tree"}), rule]) == ["natural=tree"]
    # every OSM rule of the shipped tasks can be seen by the reader
    tasks = PROFILE.tasks
    rules = list(tasks.transit.osm) + [r for c in tasks.greenspace.classes.values() for r in c.osm]
    assert osm.unselected(rules) == []


# -- the 主要任务 table ----------------------------------------------------------------------------------


def test_task_table_status_denominator_and_unverified_notes() -> None:
    cv = {
        "streets:street_density": ComputedValue(9.5, "建成区面积 built-up area 2.00 km²", True, "19 km"),
        "streets:block_share": ComputedValue(80.0, "街区数 blocks: 10", True),
        "streets:block_median_side": ComputedValue(250.0, "街区数 blocks: 10", True),
        "transit:bus_500m": ComputedValue(math.nan, "建成区面积 built-up area 2.00 km²", True, "数据缺失 data missing"),
        "greenspace:park_per_capita": ComputedValue(
            8.0, "常住人口 residents 1,000", True, details={"target": 8.0, "target_text": "> 8", "status": "fail"}
        ),
    }
    t = report.task_table(PROFILE, cv).set_index("key")
    assert list(t.index) == ["street_density", "block_share", "block_median_side", "bus_500m", "park_per_capita"]
    assert t.loc["street_density", "status"] == "pass"
    assert t.loc["block_share", "status"] == "fail"
    assert t.loc["block_median_side", "status"] == "pass"  # ≤ 300 m
    assert t.loc["bus_500m", "status"] == "missing" and pd.isna(t.loc["bus_500m", "value"])
    assert t.loc["park_per_capita", "status"] == "fail"  # > 8 m², strictly
    assert t["denominator"].str.len().min() > 0
    # every row whose rule is not verified says so
    for key, row in t.iterrows():
        assert bool(row["verified"]) == ("UNVERIFIED" not in row["note"]), key
    assert not t.loc["street_density", "verified"]
    # the 公交都市 definition is verified, the OSM reading of the stops is not
    assert not t.loc["bus_500m", "verified"] and "method: Stops" in t.loc["bus_500m", "note"]
    assert "中发〔2016〕6号" in t.loc["street_density", "target"]
    assert t["task"].iloc[0].startswith("任务1")


# -- a whole run: Guixi ------------------------------------------------------------------------------


def _guixi_study(**tasks) -> dict:
    town = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    return {
        "name": "东门街道",
        "boundaries": {"town": str(town), "builtup": str(town)},
        "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
        "population": {"total": 56000},
        "demand": {"cell_m": 100},
        "circles": ["15min"],
        "siting": {"enabled": False},
        "tasks": tasks,
        "outputs": {"static_maps": False, "rasters": False, "isochrones": False, "tiles": False},
    }


@pytest.mark.slow
def test_guixi_run_writes_the_tasks_everywhere(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.run(_guixi_study(), out=tmp_path / "out")
    t = r.tables["tasks"]
    assert set(t["task"].str[:3]) == {"任务1", "任务2", "任务3", "任务5"}
    assert len(t) == sum(len(getattr(PROFILE.tasks, k).indicators) for k in type(PROFILE.tasks).model_fields)
    # every number names its denominator
    assert (t["denominator"].str.len() > 0).all()
    out = tmp_path / "out"
    book = openpyxl.load_workbook(out / "indicators.xlsx")
    assert "主要任务 policy tasks" in book.sheetnames
    ws = book["主要任务 policy tasks"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["任务 Task", "代码 Key", "指标 Indicator"]
    status = header.index("是否达标 Status") + 1
    values = {ws.cell(r_, 2).value: ws.cell(r_, status).value for r_ in range(2, ws.max_row + 1)}
    assert values["bus_500m"] == "缺数据 data missing" and values["street_density"] == "未达标 fail"
    assert "# 主要任务 policy tasks" in (out / "indicators.md").read_text(encoding="utf-8")
    layers = set(gpd.list_layers(out / "layers.gpkg")["name"])
    assert {"streets", "blocks", "junctions", "town_seat"} <= layers
    html = (out / "tasks_map.html").read_text(encoding="utf-8")
    assert "小街区密路网" in html or json.dumps("小街区密路网")[1:-1] in html
    # the street layer in the GeoPackage adds up to the counted length
    streets = gpd.read_file(out / "layers.gpkg", layer="streets")
    built = r.layers["boundaries"][r.layers["boundaries"]["kind"] == "建成区"].union_all()
    main = streets[streets["variant"] == "main"]
    km = (shapely.length(shapely.intersection(main.geometry.to_numpy(), built)) * np.where(main["dual"], 0.5, 1.0)).sum() / 1000
    assert km == pytest.approx(t.set_index("key").loc["street_density", "value"] * 5.657, rel=2e-3)


def test_tasks_can_be_switched_off() -> None:
    st = _guixi_study(streets=False, villages=False, transit=False, greenspace=False, chargers=False, neighbourhood=False)
    st["outputs"] = {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.run(st)
    assert "tasks" not in r.tables and "streets" not in r.layers
    st2 = _guixi_study(streets=True, villages=False, transit=False, greenspace=False, chargers=False, neighbourhood=False)
    st2["outputs"] = st["outputs"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r2 = mg.run(st2)
    assert set(r2.tables["tasks"]["key"]) == set(PROFILE.tasks.streets.indicators)


def test_bad_task_keys_are_refused() -> None:
    with pytest.raises(mg.StudyError, match=r"tasks\.strets"):
        mg.load_study({**_guixi_study(), "tasks": {"strets": False}})
    with pytest.raises(mg.StudyError, match=r"tasks\.seat"):
        mg.load_study({**_guixi_study(), "tasks": {"seat": [117.2]}})


def test_the_batch_summary_carries_the_task_rows(tmp_path: Path) -> None:
    town = gpd.read_file(shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")).to_crs(4326)
    base = _guixi_study()
    for key in ("name", "boundaries", "osm"):
        base.pop(key)
    base["outputs"] = {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False}
    task = {
        "index": 0,
        "name": "东门街道",
        "code": "360681002",
        "folder": "360681002_东门街道",
        "wkb": shapely.to_wkb(town.geometry.iloc[0]),
        "crs": "EPSG:4326",
        "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
        "out": str(tmp_path),
        "study": {**base, "osm": str(shared_path(OSM_FILES["guixi_pbf"]))},
        "buffer_m": 1000.0,
        "builtup": "town",
        "fingerprint": {"test": "policy tasks"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        row = batch._run_town(task)
    assert row["status"] == "done", row.get("error")
    assert row["task_street_density_status"] == "fail" and row["task_street_density_value"] == pytest.approx(2.807, abs=0.01)
    assert row["task_bus_500m_status"] == "missing" and row["task_bus_500m_value"] is None
    # a finished town read back from its folder gives the same columns
    again = batch._done_row(0, tmp_path / task["folder"], "东门街道", "360681002")
    assert again is not None
    assert {k: v for k, v in again.items() if k.startswith("task_")} == {k: v for k, v in row.items() if k.startswith("task_")}


def test_park_land_is_read_once_for_the_parks_step_and_the_green_land_task(tmp_path: Path, monkeypatch) -> None:
    from mtown_geo.pipeline import inputs

    calls: list[gpd.GeoDataFrame] = []
    real = inputs.park_layer

    def spy(*args, **kwargs):
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(inputs, "park_layer", spy)
    study = mg.load_study(mg.demo_study(tmp_path / "study", town="wudaokou"))
    study = study.model_copy(
        update={
            "outputs": study.outputs.model_copy(
                update={"maps": False, "static_maps": False, "rasters": False, "geopackage": False}
            )
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.run(study)
    assert len(calls) == 1 and len(calls[0]) > 0
    assert "green_land_ratio" in set(r.tables["tasks"]["key"])


def test_villages_are_read_once_for_the_village_circle_and_the_tasks(tmp_path: Path, monkeypatch) -> None:
    """The tasks take the villages the villages' circle measured from (the same points in the same
    CRS): they are read once, and the tasks' village table lists them in their order."""
    from mtown_geo.pipeline import inputs

    calls: list[gpd.GeoDataFrame] = []
    real = inputs.village_points

    def spy(*args, **kwargs):
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(inputs, "village_points", spy)
    path = shared_path(OSM_FILES["liechtenstein"])
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    town = tmp_path / "triesenberg.geojson"
    towns[towns["name"] == "Triesenberg"].to_file(town, driver="GeoJSON")
    st = {
        "name": "Triesenberg",
        "boundaries": {"town": str(town), "builtup": str(town)},
        "osm": str(path),
        "demand": {"cell_m": 100},
        "circles": ["30min"],
        "siting": {"enabled": False},
        "outputs": {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.run(st)
    assert len(calls) == 1 and len(calls[0]) > 3
    vil = r.tables["task_villages"]
    assert vil.loc[vil["source"] == "villages", "village"].tolist() == calls[0]["name"].tolist()
