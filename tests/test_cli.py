"""The command line: demo, init and run."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from typer.testing import CliRunner

import mtown_geo as mg
from mtown_geo.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == mg.__version__


@pytest.mark.parametrize("command", ["demo", "init", "run", "validate", "site", "batch"])
def test_help_describes_every_option_in_flowing_paragraphs(command):
    width = 100
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": str(width), "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "--verbose" not in text or "INFO level" in text  # every option says what it does
    # the description's paragraphs flow: a line ends early only where its paragraph ends
    description = text[: text.index("╭")].splitlines()[3:]
    for line, following in itertools.pairwise(description):
        if line.strip() and following.strip():
            assert len(line.rstrip()) + 1 + len(following.split()[0]) > width - 2, (line, following)


@pytest.mark.slow
def test_demo_writes_the_report_maps_and_its_study(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--no-tiles", "--cell-m", "100"])
    assert result.exit_code == 0, result.output
    assert "建成区15分钟生活圈覆盖率" in result.stdout
    ind = pd.read_csv(out / "indicators.csv", encoding="utf-8-sig")
    assert "建成区15分钟生活圈覆盖率" in set(ind["指标 Indicator"])
    # the Chinese demo town: its data gaps are named as such, not as failures
    assert "缺数据 data missing" in result.stdout and "托育机构" in result.stdout
    assert "≥ 0.0 %" in result.stdout and "数据时效 data age" in result.stdout
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "OpenStreetMap contributors" in html and "幼儿园" in html
    assert (out / "study" / "study.yaml").exists() and (out / "study" / "boundaries.geojson").exists()
    # print maps: one PNG (300 dpi) and PDF per indicator
    from PIL import Image

    for name in ("15min_coverage", "15min_childcare", "15min_elderly_care"):
        assert (out / "maps" / f"{name}.pdf").stat().st_size > 10_000
        with Image.open(out / "maps" / f"{name}.png") as img:
            assert round(img.info["dpi"][0]) == 300
    # the study file written beside the results runs again to the same numbers
    again = mg.study.run(out / "study" / "study.yaml")
    t = again.indicators.set_index(again.indicators["row"].astype(str))
    first = ind.set_index(ind["序号 Row"].astype(str)).rename(columns={"数值 Value": "value"})
    # cell size differs (50 m in the file, 100 m on the command line): same order of magnitude only
    assert abs(t.loc["11", "value"] - first.loc["11", "value"]) < 10
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # nothing half-written beside it


def test_init_then_run_reports_a_typo(tmp_path):
    study_file = tmp_path / "study.yaml"
    assert runner.invoke(app, ["init", str(study_file)]).exit_code == 0
    assert runner.invoke(app, ["init", str(study_file)]).exit_code == 2  # no silent overwrite
    study_file.write_text(study_file.read_text(encoding="utf-8").replace("year: 2025", "yaer: 2025"), encoding="utf-8")
    result = runner.invoke(app, ["run", str(study_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "yaer" in result.output and "study.yaml:" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # the whole Karhula demo; tests/test_regression.py runs it in the quick loop
def test_demo_of_the_second_town_and_an_unknown_one(tmp_path):
    out = tmp_path / "karhula"
    result = runner.invoke(app, ["demo", "--town", "karhula", "--out", str(out), "--no-tiles", "--cell-m", "100"])
    assert result.exit_code == 0, result.output
    assert "Karhula (Kotka) demo" in result.stdout
    assert "test.osm.pbf" in (out / "study" / "study.yaml").read_text(encoding="utf-8")
    bad = runner.invoke(app, ["demo", "--town", "guixi", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown demo town 'guixi'" in bad.output and "wudaokou, karhula" in bad.output
    assert not (tmp_path / "x").exists()


def test_demo_boundaries_match_the_committed_file(demo_bounds):
    import geopandas as gpd

    from .conftest import ROOT

    committed = gpd.read_file(ROOT / "data" / "boundaries" / "karhula_demo.geojson")
    assert list(committed["kind"]) == list(demo_bounds["kind"])
    for a, b in zip(committed.geometry, demo_bounds.geometry, strict=True):
        assert a.symmetric_difference(b).area < 1e-9


def test_site_command(tmp_path):
    study_file = mg.demo_study(tmp_path / "s")
    out = tmp_path / "site"
    result = runner.invoke(app, ["site", str(study_file), "--category", "kindergarten", "--target", "0.9", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "kindergarten" in result.stdout and "target" in result.stdout
    sites = pd.read_csv(out / "new_sites.csv", encoding="utf-8-sig")
    cov = sites["累计覆盖率 Coverage with this site (%)"]
    assert len(sites) >= 1 and cov.is_monotonic_increasing and cov.iloc[-1] >= 90.0
    # where they are: WGS-84 and GCJ-02 lon/lat, and metres in the CRS the header names
    assert {"经度 Longitude (WGS-84 °)", "纬度 Latitude (GCJ-02 高德 °)"} <= set(sites.columns)
    assert any(c.startswith("X 坐标 Easting (EPSG:45") for c in sites.columns)
    assert "°E" in result.stdout and "(WGS-84)" in result.stdout
    assert (out / "map.html").exists() and (out / "siting.gpkg").exists()
    bad = runner.invoke(app, ["site", str(study_file), "--category", "teleport", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown facility category 'teleport'" in bad.output
    assert not (tmp_path / "x").exists()


def test_site_takes_the_chinese_names_a_planner_types(tmp_path):
    """幼儿园 is kindergarten, 托育 childcare (an alias): the same plan as the id; a typo names the closest."""
    study_file = mg.demo_study(tmp_path / "s")
    by_id = mg.study.site(study_file, category="kindergarten", target=0.9)
    res = runner.invoke(app, ["site", str(study_file), "--category", "幼儿园", "--target", "0.9", "--out", str(tmp_path / "zh")])
    assert res.exit_code == 0, res.output
    sites = pd.read_csv(tmp_path / "zh" / "new_sites.csv", encoding="utf-8-sig")
    assert len(sites) == by_id.n_sites
    assert sites["累计覆盖率 Coverage with this site (%)"].to_numpy() == pytest.approx(
        100 * by_id.sites["coverage"].to_numpy(), abs=0.05
    )
    assert set(sites["类别 Category"]) == {"kindergarten"}
    # an alias, and the default target: the annex row that measures childcare (row 11: 80 % in 2025)
    child = mg.study.site(study_file, category="托育")
    assert child.category == "childcare" and child.target == pytest.approx(0.80)
    assert mg.study.site(study_file, category="卫生院", k=1).category == "health_station"
    bad = runner.invoke(app, ["site", str(study_file), "--category", "幼儿圆", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "Did you mean '幼儿园 (kindergarten)'" in bad.output
    assert not (tmp_path / "x").exists()


def test_study_siting_keys_take_chinese_names(tmp_path):
    """siting.targets and siting.categories: ids, Chinese names and aliases; an unknown one is named at its line."""
    study_file = mg.demo_study(tmp_path / "s")
    text = study_file.read_text(encoding="utf-8")
    good = text + "siting:\n  targets: {托育: 0.6, 幼儿园: 0.5}\n  categories: [幼儿园, 托育, 公园, bus_stop]\n"
    study_file.write_text(good, encoding="utf-8")
    st = mg.load_study(study_file)
    assert mg.study.category_target(st, "childcare", "15min") == (0.6, "study siting.targets: 60 %")
    assert mg.study.category_target(st, "kindergarten", "15min")[0] == 0.5
    # park: row 8's target (90 % in 2025); bus stops: the 15-minute circle's row 9 (95 %)
    annex = {r.row: r.targets for r in mg.standards.load().annex}
    park = mg.study.category_target(st, "park", "15min")
    assert park[0] == pytest.approx(annex[8][2025] / 100) and park[1].startswith("annex row 8 (2025")
    assert mg.study.category_target(st, "bus_stop", "15min")[0] == pytest.approx(annex[9][2025] / 100)
    bad = text + "siting:\n  targets: {托育: 0.6, 托儿站所: 0.5}\n"
    study_file.write_text(bad, encoding="utf-8")
    line = len(bad.splitlines())
    with pytest.raises(mg.StudyError, match=rf"study.yaml:{line}: siting.targets: unknown facility category '托儿站所'"):
        mg.load_study(study_file)
    study_file.write_text(text + "siting:\n  targets: {托育: 80}\n", encoding="utf-8")
    with pytest.raises(mg.StudyError, match=r"write 0\.8 for 80 %"):
        mg.load_study(study_file)


def test_validate_command(tmp_path):
    study_file = mg.demo_study(tmp_path / "s")
    ok = runner.invoke(app, ["validate", str(study_file)])
    assert ok.exit_code == 0, ok.output
    assert "Input check: 0 errors" in ok.stdout


def test_validate_flags_gcj02_points_declared_as_wgs84(tmp_path):
    """Amap-style coordinates (GCJ-02) passed as WGS-84 are an error, not a silent wrong number."""
    import geopandas as gpd
    import shapely

    from .conftest import OSM_FILES, shared_path

    path = shared_path(OSM_FILES["longgang"])
    ext = mg.sources.read_osm(path)
    town = gpd.GeoDataFrame({"kind": ["镇域", "建成区"]}, geometry=[shapely.box(*ext.bounds).buffer(-0.004)] * 2, crs=4326)
    town.to_file(tmp_path / "town.geojson")
    fac = mg.facilities.from_osm(path)
    fac = fac[fac.geom_type == "Point"]  # POI exports hold points: bus stops, shops, clinics
    pts = fac.geometry
    lon, lat = mg.crs.wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy())
    pd.DataFrame({"名称": fac["name"], "类别": fac["category"], "经度": lon, "纬度": lat}).to_csv(
        tmp_path / "pois.csv", index=False
    )
    import yaml

    (tmp_path / "study.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "龙岗",
                "boundaries": {"town": "town.geojson"},
                "osm": str(path),
                "facilities": [{"table": "pois.csv", "crs": "wgs84"}],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    bad = runner.invoke(app, ["validate", str(tmp_path / "study.yaml")])
    assert bad.exit_code == 1, bad.output
    assert "coordinate_shift" in bad.stdout and "GCJ-02" in bad.stdout


# ---------------------------------------------------------------------------------------
# --out never deletes or replaces what mtown-geo did not write
# ---------------------------------------------------------------------------------------


def _snapshot(folder):
    import os
    from pathlib import Path

    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root, name)
            out[p.relative_to(folder).as_posix()] = "<dir>" if p.is_dir() else p.read_bytes()
    return out


def _planner_project(folder):
    study = mg.demo_study(folder)
    (folder / "镇规划汇报.docx").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    (folder / "data").mkdir()
    (folder / "data" / "pois.csv").write_text("名称,经度,纬度\n幼儿园,121.1,29.2\n", encoding="utf-8")
    return study


def test_run_out_dot_in_a_project_folder_deletes_nothing(tmp_path, monkeypatch):
    """The study file, a report and data/ beside it survive `run study.yaml --out .` and `--out ..`."""
    project = tmp_path / "project"
    study = _planner_project(project)
    (tmp_path / "other-project.txt").write_text("another town", encoding="utf-8")
    before = _snapshot(tmp_path)
    monkeypatch.chdir(project)
    for out, words in [(".", "it is the current folder"), ("..", "it is a parent of the current folder")]:
        for extra in ([], ["--overwrite"]):
            result = runner.invoke(app, ["run", study.name, "--out", out, *extra])
            assert result.exit_code == 2, result.output
            assert "refusing to write into" in result.output and words in result.output
            assert "wrote" not in result.output
    assert _snapshot(tmp_path) == before


@pytest.mark.slow
def test_demo_into_a_folder_with_user_files_needs_overwrite_and_keeps_them(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--no-tiles", "--cell-m", "100"]
    assert runner.invoke(app, args).exit_code == 0
    (out / "my notes.md").write_text("# 备注\n", encoding="utf-8")
    (out / "maps" / "sketch.png").write_bytes(b"\x89PNG sketch")
    user = {k: v for k, v in _snapshot(out).items() if k in ("my notes.md", "maps/sketch.png")}
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "holds files mtown-geo did not write" in refused.output and "--overwrite" in refused.output
    again = runner.invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    after = _snapshot(out)
    assert {k: after[k] for k in user} == user
    assert (out / "maps" / "15min_coverage.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no hidden work folder left


def test_site_refuses_the_study_folder_before_computing(tmp_path):
    study = _planner_project(tmp_path / "project")
    before = _snapshot(tmp_path)
    result = runner.invoke(app, ["site", str(study), "--category", "kindergarten", "--out", str(study.parent), "--overwrite"])
    assert result.exit_code == 2
    assert "it is the study file's folder" in result.output
    assert _snapshot(tmp_path) == before
    out = tmp_path / "sites"
    assert (
        runner.invoke(app, ["site", str(study), "--category", "kindergarten", "--target", "0.5", "--out", str(out)]).exit_code
        == 0
    )
    import json

    listed = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["mtown_geo_output"]["files"]
    assert {"siting.gpkg", "new_sites.csv", "siting_summary.csv", "map.html"} <= set(listed)


def test_unknown_circle_or_category_is_a_message_not_a_traceback(tmp_path):
    """A misspelt circle in the study file, or category on the command line: exit 2, the message, the known names."""
    study_file = mg.demo_study(tmp_path / "s")
    text = study_file.read_text(encoding="utf-8")
    study_file.write_text(text.replace("circles: [5min, 15min, 30min]", "circles: [5min, 15mins]"), encoding="utf-8")
    bad = runner.invoke(app, ["site", str(study_file), "--category", "kindergarten", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2, bad.output
    assert "15mins" in bad.output and "15min" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x").exists()
    study_file.write_text(text, encoding="utf-8")
    typo = runner.invoke(app, ["site", str(study_file), "--category", "kindergarden", "--out", str(tmp_path / "y")])
    assert typo.exit_code == 2 and "Did you mean 'kindergarten'" in typo.output and "Traceback" not in typo.output
    # the profile's own lookups raise the same kind of error, which the command line reports as text
    with pytest.raises(mg.UnknownNameError) as err:
        mg.standards.load().circle("15mins")
    assert isinstance(err.value, mg.MtownGeoError) and not str(err.value).startswith('"')
