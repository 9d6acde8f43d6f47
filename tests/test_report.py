"""The indicator report: targets from the annex, pass/fail, and the files planners hand in."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from openpyxl import load_workbook

import mtown_geo as mg
from mtown_geo import report


@pytest.fixture(scope="module")
def profile():
    return mg.standards.load()


def _computed():
    return {
        "circle:15min": report.ComputedValue(93.5, "residential land", False, "assumption"),
        "park_coverage": report.ComputedValue(88.0, "residential land", True),
        "category:15min:childcare": report.ComputedValue(70.0, "residential land", False),
        "greenway_per_10k": report.ComputedValue(1.2, "常住人口", False),
    }


def test_targets_and_status_follow_the_annex(profile):
    t = report.indicator_table(profile, year=2025, computed=_computed(), reported={1: 30, 12: 91})
    by_row = t.set_index(t["row"].astype(str))
    assert by_row.loc["9", "target"] == 95 and by_row.loc["9", "status"] == "fail"  # 93.5 < 95
    assert by_row.loc["8", "target"] == 90 and by_row.loc["8", "status"] == "fail"
    assert by_row.loc["11", "target"] == 80 and by_row.loc["11", "status"] == "fail"
    assert by_row.loc["10", "status"] == "no_data"  # not computed: what it needs is missing
    assert by_row.loc["12", "origin"] == "user-entered" and by_row.loc["12", "status"] == "pass"  # 91 ≥ 90
    assert by_row.loc["1", "value"] == 30 and by_row.loc["1", "status"] == "fail"
    green = t[t["name_zh"] == "万人拥有绿道长度"].iloc[0]
    assert green["target"] == 1.0 and green["status"] == "pass"
    t23 = report.indicator_table(profile, year=2023, computed=_computed())
    assert t23.set_index(t23["row"].astype(str)).loc["9", "status"] == "pass"  # 93.5 ≥ 90
    # every annex row is there once, with its three targets
    annex = {r.row: r.targets for r in profile.annex}
    for _, r in t[t["row"] != "—"].iterrows():
        got = [None if pd.isna(v) else v for v in (r["target_2023"], r["target_2025"], r["target_2027"])]
        assert got == [annex[r["row"]][y] for y in (2023, 2025, 2027)]
    assert sorted(t.loc[t["row"] != "—", "row"]) == list(range(1, 19))


def test_year_between_targets_uses_the_earlier_one(profile):
    t = report.indicator_table(profile, year=2024, computed=_computed())
    assert t.set_index(t["row"].astype(str)).loc["9", "target"] == 90
    with pytest.raises(mg.InputError):
        report.indicator_table(profile, year=2020, computed={})


def test_unknown_reported_row_is_refused(profile):
    with pytest.raises(mg.InputError, match="19"):
        report.indicator_table(profile, year=2025, computed={}, reported={19: 1})


def test_files_in_every_format(profile, tmp_path):
    t = report.indicator_table(profile, year=2025, computed=_computed())
    extra = pd.DataFrame({"rate": [0.5, 0.25]}, index=pd.Index(["kindergarten", "park"], name="category"))
    files = report.write_tables({"indicators": t, "coverage_15min": extra}, tmp_path, title="测试镇")
    names = sorted(p.name for p in files)
    assert names == sorted(
        ["indicators.csv", "indicators_coverage_15min.csv", "indicators.json", "indicators.md", "indicators.xlsx"]
    )
    wb = load_workbook(tmp_path / "indicators.xlsx")
    assert wb.sheetnames == ["指标 Indicators", "coverage_15min"]
    ws = wb["指标 Indicators"]
    headers = [c.value for c in ws[1]]
    assert headers[:5] == ["序号 Row", "指标 Indicator", "Indicator (English)", "单位 Unit", "数值 Value"]
    status_col = headers.index("是否达标 Status") + 1
    assert {ws.cell(row=r, column=status_col).value for r in range(2, ws.max_row + 1)} >= {"未达标 fail", "达标 pass"}
    data = json.loads((tmp_path / "indicators.json").read_text(encoding="utf-8"))
    assert data["indicators"][1]["name_zh"] == "建成区15分钟生活圈覆盖率"
    assert data["coverage_15min"][0] == {"category": "kindergarten", "rate": 0.5}
    md = (tmp_path / "indicators.md").read_text(encoding="utf-8")
    assert "# 测试镇" in md and "建成区15分钟生活圈覆盖率" in md and "93.5" in md
    csv = pd.read_csv(tmp_path / "indicators.csv", encoding="utf-8-sig")
    assert list(csv.columns) == report.COLUMNS


def test_manifest_hashes_inputs(profile, tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"abc")
    m = report.manifest(inputs={"a": f, "place": "东门街道"}, config={"x": 1}, profile=profile)
    assert m["inputs"]["a"]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert m["inputs"]["place"]["sha256"] is None
    assert m["packages"]["numpy"]
    assert any(a["rule"] == "circles.15min" for a in m["assumptions"])
