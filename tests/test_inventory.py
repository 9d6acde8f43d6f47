"""Data gaps told apart from service gaps: the inventory, the 缺数据 status and where it appears."""

from __future__ import annotations

import json
import re
import warnings

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import inventory, report

from .conftest import OSM_FILES, shared_path

UTM50 = 32650  # an independent metric CRS for Beijing (the toolkit uses CGCS2000 Gauss–Krüger)


def _run(study_file):
    """The study at 100 m cells, the 15-minute circle alone (rows 9 to 11), tables and layers only."""
    st = mg.load_study(study_file)
    st = st.model_copy(
        update={
            "circles": ["15min"],
            "demand": st.demand.model_copy(update={"cell_m": 100.0}),
            "outputs": st.outputs.model_copy(update={"maps": False, "static_maps": False, "rasters": False, "isochrones": False}),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        return mg.run(st)


@pytest.fixture(scope="module")
def wudaokou(shared_demo):
    """The default demo town's run, shared by the session (read only)."""
    return shared_demo.result


def _raw_candidates(path, prof, categories, area) -> dict[str, int]:
    """Per category: objects of the raw OSM file that any rule of the category could take (its
    tags, or a name with one of its patterns), inside ``area`` (EPSG:4326): counted with
    pyosmium alone, in one pass over the file."""
    specs = {c: prof.categories[c] for c in categories}
    fab = osmium.geom.WKBFactory()
    counts = dict.fromkeys(specs, 0)
    for o in osmium.FileProcessor(str(path)).with_locations().with_areas():
        if o.is_relation():  # their areas come as area objects
            continue
        tags = {t.k: t.v for t in o.tags}
        if not tags:
            continue
        names = " ".join(v for k, v in tags.items() if k.startswith(("name", "official_name", "alt_name")))
        hits = [
            c
            for c, spec in specs.items()
            if any(rule.matches(tags) for rule in spec.osm) or any(p in names for p in spec.name_patterns)
        ]
        if not hits:
            continue
        try:
            if o.is_node():
                geom = shapely.from_wkb(fab.create_point(o))
            elif o.is_way():
                geom = shapely.from_wkb(fab.create_linestring(o))
            else:  # an area (a closed way or a multipolygon)
                geom = shapely.from_wkb(fab.create_multipolygon(o))
        except RuntimeError:
            continue
        if geom.intersects(area):
            for c in hits:
                counts[c] += 1
    return counts


def test_inventory_counts_equal_an_independent_count(wudaokou):
    """Per category: the run's facilities within the town and 1 km of it, counted in another CRS."""
    inv = wudaokou.tables["inventory"]
    fac = wudaokou.layers["facilities"].to_crs(UTM50)
    bounds = wudaokou.layers["boundaries"]
    town = bounds[bounds["kind"] == "镇域"].to_crs(UTM50).union_all()
    dist = fac.distance(town).to_numpy()
    for cat in wudaokou.profile.categories:
        mine = (fac["category"] == cat).to_numpy()
        assert inv.loc[cat, "total"] == int((mine & (dist <= 1000 + 1e-6)).sum()), cat
        assert inv.loc[cat, "in_town"] == int((mine & (dist == 0)).sum()), cat
        assert inv.loc[cat, "OSM wudaokou.osm.pbf"] == inv.loc[cat, "total"]
    # what each circle needs is judged; what none needs is only counted
    assert inv.loc["kindergarten", "needed_for"] == "15min" and inv.loc["convenience", "needed_for"] == "5min"
    assert inv.loc["park_land", "needed_for"] == "row 8" and inv.loc["greenways", "total"] > 0


def test_data_missing_exactly_where_a_needed_category_is_empty(wudaokou):
    inv = wudaokou.tables["inventory"]
    prof = wudaokou.profile
    fac = wudaokou.layers["facilities"]
    needed = [c for c in prof.categories if inv.loc[c, "needed_for"]]
    # an independent reading of the extract: the facilities of the town and 1 km around it, and the
    # features the profile leaves out of public categories (campus pitches, libraries)
    bounds = wudaokou.layers["boundaries"]
    town = bounds[bounds["kind"] == "镇域"]
    read = mg.facilities.from_osm(mg.demo_osm_path(), boundary=town, buffer_m=1000)
    closed = {x[0] for x in read.attrs["facility_report"].not_public}
    empty = {c for c in needed if not (fac["category"] == c).any()}
    assert empty == {c for c in needed if not (read["category"] == c).any()}
    assert empty - closed == {c for c in needed if inv.loc[c, "status"] == "no_data"}
    assert empty & closed == {c for c in needed if inv.loc[c, "status"] == "closed"}
    assert {"health_station", "elderly_care", "childcare"} <= empty - closed and "kindergarten" not in empty
    assert wudaokou.data_gaps == [c for c in inv.index if inv.loc[c, "status"] == "no_data"]
    # the raw extract holds nothing any rule of the missing categories could take (by tags or by
    # name) — the gap is in OpenStreetMap, not in the classification; the closed ones are there
    area = town.to_crs(UTM50).buffer(1000).to_crs(4326).union_all()
    raw = _raw_candidates(mg.demo_osm_path(), prof, sorted(empty | {"kindergarten"}), area)
    for cat in empty - closed:
        assert raw[cat] == 0, cat
    for cat in empty & closed:
        assert raw[cat] >= inv.loc[cat, "not_public"] > 0, cat
    assert raw["kindergarten"] >= 2


def test_rows_that_depend_on_a_missing_category_say_so(wudaokou):
    t = wudaokou.indicators.set_index(wudaokou.indicators["row"].astype(str))
    cov = wudaokou.tables["coverage_15min"]
    inv = wudaokou.tables["inventory"]
    # rows 9 (every 15-minute category), 10 (elderly care) and 11 (childcare): data missing, value a lower bound
    for row, key in (("9", "__circle__"), ("10", "elderly_care"), ("11", "childcare")):
        r = t.loc[row]
        assert r["status"] == "no_data" and bool(r["lower_bound"]) is True, row
        assert r["value"] == pytest.approx(100 * cov.loc[key, "rate"])
        assert r["value"] < r["target"]
        assert "缺数据 data missing" in r["note"] and "lower bound" in r["note"]
    assert inv.loc["childcare", "name_zh"] in t.loc["11", "note"]
    assert inv.loc["elderly_care", "name_zh"] not in t.loc["11", "note"]
    for name in ("卫生服务站/卫生院", "居家养老服务中心/日间照料", "托育机构"):
        assert name in t.loc["9", "note"]
    # rows whose data is there are judged as before: parks fail, greenways pass, nothing marked a bound
    assert t.loc["8", "status"] == "fail" and not t.loc["8", "lower_bound"]
    green = wudaokou.indicators[wudaokou.indicators["name_zh"] == "万人拥有绿道长度"].iloc[0]
    assert green["status"] == "pass" and not green["lower_bound"]
    # user-entered rows left blank are 未填报, not 缺数据
    assert t.loc["1", "status"] == "not_entered"
    # the run's notes name each gap once, with where it was looked for and what to add
    gap_notes = [n for n in wudaokou.notes if n.startswith("缺数据 data missing:")]
    assert len(gap_notes) == len(wudaokou.data_gaps)
    child = next(n for n in gap_notes if "托育机构" in n)
    assert "OSM wudaokou.osm.pbf: 0" in child and "rows 9 and 11" in child and "Amap (高德) or Baidu POI export" in child
    # siting of a category no source holds says that its answer assumes there is none
    sit = wudaokou.tables["siting_15min"]
    assert sit.loc["childcare", "note"].startswith("缺数据 data missing")
    assert not sit.loc["kindergarten", "note"].startswith("缺数据")


def test_a_planners_table_fills_the_gap(tmp_path, wudaokou):
    """A childcare centre from the planner's own table: the inventory lists both sources, row 11 is judged."""
    study_file = mg.demo_study(tmp_path)
    kg = wudaokou.layers["facilities"]
    kg = kg[kg["category"] == "kindergarten"].to_crs(4326)
    pt = kg.geometry.iloc[0].representative_point()  # a 托育 class in a kindergarten's building
    pd.DataFrame({"名称": ["洁华托育中心"], "类别": ["托育机构"], "经度": [pt.x], "纬度": [pt.y]}).to_csv(
        tmp_path / "托育.csv", index=False, encoding="utf-8-sig"
    )
    text = study_file.read_text(encoding="utf-8") + "facilities:\n  - osm\n  - table: 托育.csv\n    crs: wgs84\n"
    study_file.write_text(text, encoding="utf-8")
    result = _run(study_file)
    inv = result.tables["inventory"]
    assert list(inv.columns[3:5]) == ["OSM wudaokou.osm.pbf", "托育.csv"]
    assert inv.loc["childcare", "托育.csv"] == 1 and inv.loc["childcare", "status"] == "ok"
    assert inv.loc["kindergarten", "托育.csv"] == 0
    t = result.indicators.set_index(result.indicators["row"].astype(str))
    assert t.loc["11", "status"] in ("pass", "fail") and not t.loc["11", "lower_bound"]
    assert t.loc["11", "value"] > 0
    assert t.loc["10", "status"] == "no_data"  # elderly care is still missing
    assert "childcare" not in result.data_gaps


def test_status_of_a_lower_bound(tmp_path):
    prof = mg.standards.load()
    computed = {
        "circle:15min": report.ComputedValue(40.0, "d", False, data_gaps=("托育机构",)),
        "category:15min:childcare": report.ComputedValue(85.0, "d", False, data_gaps=("托育机构",)),
        "park_coverage": report.ComputedValue(50.0, "d", True),
    }
    t = report.indicator_table(prof, year=2025, computed=computed)
    by = t.set_index(t["row"].astype(str))
    assert by.loc["9", "status"] == "no_data" and by.loc["9", "lower_bound"]
    # a lower bound that already meets the target (80 %) is a pass whatever the missing data adds
    assert by.loc["11", "status"] == "pass" and by.loc["11", "lower_bound"]
    assert by.loc["8", "status"] == "fail" and not by.loc["8", "lower_bound"]
    # a computed row that could not be computed at all is data missing too, without a bound
    assert by.loc["10", "status"] == "no_data" and not by.loc["10", "lower_bound"]
    assert set(t["status"]) <= set(report.STATUSES)


def test_inventory_refuses_bad_input(wudaokou):
    fac = wudaokou.layers["facilities"]
    town = wudaokou.layers["boundaries"]
    with pytest.raises(mg.InputError, match="category"):
        inventory.take(fac.drop(columns="category"), boundary=town)
    with pytest.raises(mg.InputError, match="buffer_m"):
        inventory.take(fac, boundary=town, buffer_m=-1)
    with pytest.raises(mg.InputError, match="20min"):
        inventory.take(fac, boundary=town, circles=["20min"])
    with pytest.raises(mg.CRSError):
        inventory.take(fac, boundary=gpd.GeoDataFrame(geometry=town.geometry.to_numpy()))
    # an empty layer: every needed category is missing, each with what to add
    empty = inventory.take(fac.iloc[:0], boundary=town, sources=["OSM x.osm.pbf"])
    assert (empty.loc[empty["needed_for"] != "", "status"] == "no_data").all()
    assert empty["OSM x.osm.pbf"].sum() == 0
    assert re.search(r"Amap \(高德\) or Baidu", empty.loc["childcare", "note"])


@pytest.mark.slow
def test_batch_summary_names_the_gaps_of_a_sparse_town(tmp_path):
    """东门街道 (Guixi): the real 街道 from its OSM boundary relation; OSM holds almost nothing there."""
    path = shared_path(OSM_FILES["guixi_pbf"])
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    study = {"demand": {"cell_m": 150}, "circles": ["15min"], "outputs": {"maps": False, "static_maps": False, "rasters": False}}
    summary = mg.batch.run_batch(towns, osm=path, out=tmp_path / "b", study=study, n_workers=1)
    row = summary.iloc[0]
    assert row["name"] == "东门街道" and row["status"] == "done"
    data = json.loads((tmp_path / "b" / row["folder"] / "indicators.json").read_text(encoding="utf-8"))
    gaps = [r["category"] for r in data["inventory"] if r["status"] == "no_data"]
    assert row["data_gaps"] == ", ".join(gaps) and "childcare" in gaps and "kindergarten" in gaps
    assert row["row9_status"] == "no_data" and row["row11_status"] == "no_data"
    # resumed: the same columns from the folder
    again = mg.batch.run_batch(towns, osm=path, out=tmp_path / "b", study=study, n_workers=1)
    assert bool(again.iloc[0]["resumed"]) and again.iloc[0]["data_gaps"] == row["data_gaps"]
    assert np.isclose(again.iloc[0]["row9_value"], row["row9_value"])


def test_the_town_is_buffered_once_for_facilities_inventory_and_networks(andorra_parishes):
    """The facilities' clip, the inventory's reach and the network's clip buffer the same town
    by the same distance: one buffer, the very geometry each route made by itself before."""
    from mtown_geo import _geom, facilities, network

    for _, town_m, ext in andorra_parishes:
        plain_inventory = shapely.make_valid(town_m.union_all()).buffer(1000.0)
        plain_facilities = _geom.polygon_union(town_m, crs=town_m.crs, what="town", drop_empty=True).buffer(1000.0)
        assert shapely.to_wkb(plain_inventory) == shapely.to_wkb(plain_facilities)
        net = network._buffered_boundary(town_m, town_m.crs, 1000.0)
        assert shapely.to_wkb(net) == shapely.to_wkb(plain_inventory)
        assert _geom.buffered(shapely.make_valid(town_m.union_all()), 1000.0) is net
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            fac = facilities.from_osm(ext, boundary=town_m, buffer_m=1000.0, crs=town_m.crs)
        inv = inventory.take(fac, boundary=town_m, buffer_m=1000.0)
        geoms = fac.geometry.to_numpy()
        inside = shapely.intersects(geoms, shapely.make_valid(town_m.union_all()))
        assert inv["in_town"].sum() == inside.sum() > 0
        assert inv["in_buffer"].sum() == (~inside & shapely.intersects(geoms, plain_inventory)).sum() > 0
        assert len(fac) == int(shapely.intersects(geoms, plain_facilities).sum())
