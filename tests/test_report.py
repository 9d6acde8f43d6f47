"""The indicator report: targets from the annex, pass/fail, and the files planners hand in."""

from __future__ import annotations

import hashlib
import json
import re
import warnings

import pandas as pd
import pytest
import yaml
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from pyproj import Geod, Transformer

import mtown_geo as mg
from mtown_geo import _tablespec, documents, provenance, report


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
    """Without a run: the tables alone, finished (bilingual headers, shares in %, the index a named column)."""
    t = report.indicator_table(profile, year=2025, computed=_computed())
    extra = pd.DataFrame({"rate": [0.5, 0.25]}, index=pd.Index(["kindergarten", "park"], name="category"))
    files = report.write_tables({"indicators": t, "coverage_15min": extra}, tmp_path, title="测试镇")
    names = sorted(p.name for p in files)
    assert names == sorted(
        ["indicators.csv", "indicators_coverage_15min.csv", "indicators.json", "indicators.md", "indicators.xlsx"]
    )
    wb = load_workbook(tmp_path / "indicators.xlsx")
    assert wb.sheetnames == ["汇总 Summary", "指标 Indicators", "15分钟覆盖率 15min coverage"]
    ws = wb["指标 Indicators"]
    headers = [c.value for c in ws[1]]
    assert headers[:5] == ["序号 Row", "指标 Indicator", "指标（英文） Indicator (English)", "单位 Unit", "数值 Value"]
    status_col = headers.index("是否达标 Status") + 1
    assert {ws.cell(row=r, column=status_col).value for r in range(2, ws.max_row + 1)} >= {"未达标 fail", "达标 pass"}
    cov = wb["15分钟覆盖率 15min coverage"]
    assert [c.value for c in cov[1]] == ["类别 Category", "覆盖率 Coverage (%)"]
    assert [c.value for c in cov["B"][1:]] == [50.0, 25.0]
    data = json.loads((tmp_path / "indicators.json").read_text(encoding="utf-8"))
    assert data["indicators"][1]["name_zh"] == "建成区15分钟生活圈覆盖率"
    assert data["coverage_15min"][0] == {"category": "kindergarten", "rate": 0.5}  # JSON keeps keys and raw values
    md = (tmp_path / "indicators.md").read_text(encoding="utf-8")
    assert md.startswith("# 测试镇") and "建成区15分钟生活圈覆盖率" in md and "93.5" in md
    csv = pd.read_csv(tmp_path / "indicators.csv", encoding="utf-8-sig")
    assert list(csv.columns) == [_tablespec.spec_of("indicators")[c].header() for c in report.COLUMNS]


def test_a_finished_table_reads_each_column_once_and_gives_what_each_cell_holds(profile, monkeypatch):
    """The writers read a finished table cell by cell (CSV, Markdown, XLSX widths and cells): each
    column is looked up in the frame once, not once per cell, and every cell still reads as the
    frame holds it and as a fresh table shows it, in whatever order the cells are asked."""
    t = report.indicator_table(profile, year=2025, computed=_computed())
    reference = _tablespec.finished("indicators", t, labels=report._LABELS)
    fresh = _tablespec.finished("indicators", t, labels=report._LABELS)
    cols = list(fresh.frame.columns)
    n = len(fresh.frame)
    assert n > 10
    lookups = []
    getitem = pd.DataFrame.__getitem__

    def counted(self, key):
        if self is fresh.frame:
            lookups.append(key)
        return getitem(self, key)

    monkeypatch.setattr(pd.DataFrame, "__getitem__", counted)
    backwards = [[fresh.value(i, c) for c in reversed(cols)] for i in reversed(range(n))]
    shown = fresh.shown()
    monkeypatch.setattr(pd.DataFrame, "__getitem__", getitem)
    # once per column (and the unit column once more for the rows' units), whatever the rows
    assert len(lookups) <= len(cols) + 1, f"{len(lookups)} look-ups for {len(cols)} columns × {n} rows"
    raws = [[fresh.raw(i, c) for c in cols] for i in range(n)]
    for i in range(n):
        for j, c in enumerate(cols):
            held = reference.frame[c].iloc[i]
            assert type(raws[i][j]) is type(held) and (raws[i][j] == held or (pd.isna(held) and pd.isna(raws[i][j])))
            assert backwards[n - 1 - i][len(cols) - 1 - j] == shown.iloc[i, j] or (
                pd.isna(shown.iloc[i, j]) and pd.isna(backwards[n - 1 - i][len(cols) - 1 - j])
            )
    # the same values as the table shows when asked in the writers' order on a table never read before
    pd.testing.assert_frame_equal(shown, reference.shown())
    assert fresh.units() == [str(u) if isinstance(u, str) else "" for u in t["unit"]]


def test_text_width_counts_wide_characters_twice(profile):
    """Column widths: a CJK or full-width character (U+2E80 and up) takes two units, any other one;
    on every header and name of the profile and on text around the boundary."""
    texts = [c.header() for table in _tablespec.TABLES.values() for c in table.values()]
    texts += [f"{c.name_zh} {c.name_en}" for c in profile.categories.values()]
    texts += ["", "abc", "\u2e7f\u2e80", "ｆｕｌｌ", "😀 emoji", "≥ 1.0", 12.5, None]
    for t in texts:
        assert _tablespec.text_width(t) == sum(2 if ord(ch) >= 0x2E80 else 1 for ch in str(t)), t
    assert _tablespec.text_width("覆盖率 Coverage (%)") == 6 + 1 + 12


# -- a whole run's report, read back as its readers read it --------------------------------------------


@pytest.fixture(scope="module")
def demo_report(shared_demo):
    """The embedded Chinese demo town, run and written once for the session (no maps: the
    report files are what is read here); read only."""
    return shared_demo.result, shared_demo.out


def _sheet(wb, title):
    ws = wb[title]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    return ws, rows[0], rows[1:]


def _annex():
    """The annex targets read from the profile file itself (not through the toolkit's schema)."""
    from importlib import resources

    data = yaml.safe_load(resources.files("mtown_geo.standards").joinpath("zhejiang-2023.yaml").read_text(encoding="utf-8"))
    return {r["row"]: r["targets"] for r in data["annex"]}


def test_xlsx_opens_on_the_summary_a_town_submits(demo_report):
    result, out = demo_report
    wb = load_workbook(out / "indicators.xlsx")
    names = wb.sheetnames
    assert names[:3] == ["汇总 Summary", "指标 Indicators", "设施清单 Inventory"] and names[-1] == "说明 Notes"
    ws = wb["汇总 Summary"]
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    text = "\n".join(str(v) for row in cells for v in row if v is not None)
    assert cells[0][0] == "五道口示范区 现代化美丽城镇空间指标 (2025)"
    for needed in ("五道口示范区 (demo)", "zhejiang-2023", "wudaokou.osm.pbf", "data as of 2017-06-24", "ODbL", "mtown-geo "):
        assert needed in text, needed
    assert "数据时效 data age" in text and "7.5 years before the report year 2025" in text
    assert "浙政办发〔2023〕49号" in text and "征求意见稿" in text
    # the table: one line per annex row, status as the indicator table has it, lower bounds marked
    head = next(i for i, row in enumerate(cells) if row[0] == "序号 Row")
    assert ws.freeze_panes == f"A{head + 2}"
    body = {str(row[0]): row for row in cells[head + 1 :] if row[0] is not None and row[1] is not None and row[5]}
    ind = result.indicators.set_index(result.indicators["row"].astype(str))
    assert set(body) == set(ind.index)
    for key, row in body.items():
        assert row[5] == report.status_label(ind.loc[key, "status"])
        value = ind.loc[key, "value"]
        assert (row[2] is None) if pd.isna(value) else row[2] == pytest.approx(value)
        r = next(i for i, cr in enumerate(cells) if cr[0] is not None and str(cr[0]) == key and cr is row) + 1
        fmt = ws.cell(row=r, column=3).number_format
        assert fmt.startswith('"≥ "') == bool(ind.loc[key, "lower_bound"]), key
    assert {k for k in body if body[k][5] == "缺数据 data missing"} == {"9", "10", "11"}
    assert body["8"][5] == "未达标 fail" and body["—"][5] == "达标 pass"
    assert "合计 Count — 达标 pass: 1  未达标 fail: 1  缺数据 data missing: 3  未填报 not entered: 14" in text


def test_every_sheet_is_finished(demo_report):
    """Bilingual headers with units, frozen header rows, set widths; shares in %, fixed decimals."""
    result, out = demo_report
    wb = load_workbook(out / "indicators.xlsx")
    for title in wb.sheetnames[1:]:
        ws, headers, _ = _sheet(wb, title)
        assert ws.freeze_panes is not None and ws.freeze_panes[-1] == "2", title
        assert all(
            re.search(r"[\u4e00-\u9fff]", str(h)) and re.search(r"[A-Za-z]", str(h))
            for h in headers
            if not str(h).startswith("OSM ")
        ), (title, headers)
        assert all("_" not in str(h) for h in headers if not str(h).startswith("OSM ")), (title, headers)
        assert all(ws.column_dimensions[get_column_letter(j + 1)].width > 8 for j in range(len(headers))), title
    # coverage: the rate in % (the run's fraction × 100), shown with one decimal; the weight's unit in the header
    ws, headers, rows = _sheet(wb, "15分钟覆盖率 15min coverage")
    cov = result.tables["coverage_15min"]
    col = headers.index("覆盖率 Coverage (%)")
    assert "已覆盖 Covered (m²)" in headers
    for r, row in enumerate(rows, start=2):
        assert row[col] == pytest.approx(100 * cov.loc[row[0], "rate"])
        assert ws.cell(row=r, column=col + 1).number_format == "#,##0.0"
    # k of n: each row says its k, of how many
    ws, headers, rows = _sheet(wb, "15分钟k类 15min k of n")
    assert headers[0] == "达到类别数 k Categories reached k (of 10)" and [r[0] for r in rows] == list(range(11))
    kn = result.tables["k_of_n_15min"]
    assert [r[headers.index("至少 k 类占比 Share reaching k or more (%)")] for r in rows] == pytest.approx(
        list(100 * kn["share_at_least"])
    )
    # the inventory: 缺数据 exactly where the run's facility layer holds none of a needed category
    ws, headers, rows = _sheet(wb, "设施清单 Inventory")
    fac = result.layers["facilities"]
    needed = {r[0]: r for r in rows if r[headers.index("用于 Needed for")] and r[0] in result.profile.categories}
    missing = {k for k, r in needed.items() if r[headers.index("数据状态 Data")] == "缺数据 data missing"}
    closed = {k for k, r in needed.items() if r[headers.index("数据状态 Data")] == "不对外开放 not public"}
    public_none = {k for k in needed if not (fac["category"] == k).any()}
    assert missing | closed == public_none and not missing & closed
    assert all(needed[k][headers.index("不对外开放 Not open to the public (处)")] > 0 for k in closed)
    assert all(needed[k][headers.index("不对外开放 Not open to the public (处)")] == 0 for k in missing)
    assert {"health_station", "elderly_care", "childcare"} <= missing


def test_siting_targets_and_sites_where_a_planner_can_find_them(demo_report):
    result, out = demo_report
    wb = load_workbook(out / "indicators.xlsx")
    annex = _annex()
    _, headers, rows = _sheet(wb, "15分钟补短板 15min siting")
    target = {r[0]: r[headers.index("目标 Target (%)")] for r in rows}
    source = {r[0]: r[headers.index("目标依据 Target from")] for r in rows}
    assert target["childcare"] == pytest.approx(annex[11][2025]) and source["childcare"].startswith("annex row 11 (2025)")
    assert target["elderly_care"] == pytest.approx(annex[10][2025])
    assert target["park"] == pytest.approx(annex[8][2025]) and source["park"].startswith("annex row 8 (2025")
    assert target["kindergarten"] == pytest.approx(annex[9][2025])
    # the sites: lon/lat in WGS-84 and GCJ-02, and metres in a named CRS that give back the same place
    _, headers, rows = _sheet(wb, "15分钟新增点位 15min sites")
    xh = next(h for h in headers if h.startswith("X 坐标 Easting"))
    epsg = int(re.search(r"EPSG:(\d+)", xh).group(1))
    to_wgs = Transformer.from_crs(epsg, 4326, always_xy=True)
    assert len(rows) == len(result.tables["sites_15min"]) > 0
    for row in rows:
        rec = dict(zip(headers, row, strict=True))
        lon, lat = to_wgs.transform(rec[xh], rec[xh.replace("X 坐标 Easting", "Y 坐标 Northing")])
        assert lon == pytest.approx(rec["经度 Longitude (WGS-84 °)"], abs=1e-7)
        assert lat == pytest.approx(rec["纬度 Latitude (WGS-84 °)"], abs=1e-7)
        # GCJ-02 is WGS-84 moved by the published offset: a few hundred metres in Beijing, never 0
        shift = Geod(ellps="WGS84").inv(lon, lat, rec["经度 Longitude (GCJ-02 高德 °)"], rec["纬度 Latitude (GCJ-02 高德 °)"])[2]
        assert 100 < shift < 1000


def test_notes_sheet_cites_documents_not_files(demo_report):
    result, out = demo_report
    wb = load_workbook(out / "indicators.xlsx")
    _, headers, rows = _sheet(wb, "说明 Notes")
    assert headers == ["部分 Section", "项目 Item", "内容 Text"]
    sections = {r[0] for r in rows}
    assert {
        "报告 Report",
        "警示 Warnings",
        "运行提示 Notes of the run",
        "假设 Assumptions",
        "依据文件 Documents cited",
    } <= sections
    notes = [r[2] for r in rows if r[0] == "运行提示 Notes of the run"]
    assert notes == result.notes  # every note of the run, in order
    docs = {r[1]: r[2] for r in rows if r[0] == "依据文件 Documents cited"}
    assert "《城市居住区规划设计标准》" in docs["GB 50180-2018"] and "附录B" in docs["GB 50180-2018"]
    assert "征求意见稿 consultation draft" in docs["浙政办发〔2023〕49号"]
    assert "annex row 9" in docs["浙政办发〔2023〕49号"]
    # the annex targets are not verified anywhere: they come from a draft
    assert not result.indicators["verified"].any()
    # no file the toolkit writes cites an internal file of its own making
    for f in out.iterdir():
        if f.suffix in (".csv", ".md", ".json"):
            assert "STANDARDS" not in f.read_text(encoding="utf-8-sig"), f.name
    strings = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert not [s for s in strings if "STANDARDS" in s]


def test_csv_reads_in_pandas_with_its_provenance(demo_report):
    result, out = demo_report
    raw = (out / "indicators.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese
    csv = pd.read_csv(out / "indicators.csv", encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    specs = _tablespec.spec_of("indicators")
    assert list(csv.columns) == [specs[c].header() for c in report.COLUMNS] + ["来源 Provenance"]
    ind = result.indicators
    for (_, r), (_, c) in zip(ind.iterrows(), csv.iterrows(), strict=True):
        if r["unit"] == "%" and not pd.isna(r["value"]):
            assert c["数值 Value"] == round(r["value"], 1)
        assert c["是否达标 Status"] == report.status_label(r["status"])
        assert c["仅为下限 Lower bound only"] == ("是 yes" if r["lower_bound"] else "否 no")
    prov = csv["来源 Provenance"].iloc[0]
    assert set(csv["来源 Provenance"]) == {prov}
    for needed in ("五道口示范区", "zhejiang-2023", "wudaokou.osm.pbf", "2017-06-24", "ODbL", "mtown-geo"):
        assert needed in prov
    # every table's CSV carries it; the notes have their own
    for f in out.glob("indicators_*.csv"):
        t = pd.read_csv(f, encoding="utf-8-sig")
        assert ("来源 Provenance" in t.columns) != (f.name == "indicators_notes.csv"), f.name
    notes = pd.read_csv(out / "indicators_notes.csv", encoding="utf-8-sig")
    assert list(notes.columns) == ["部分 Section", "项目 Item", "内容 Text"] and len(notes) > 50


def test_report_csv_has_the_bytes_pandas_writes_of_the_shown_table(demo_report, tmp_path):
    """The report's CSVs are written from the shown columns directly (no frame per table): byte for
    byte what :func:`report.write_csv` writes of the shown table with its provenance column, on a
    whole run's tables and on a table of awkward cells (formulas, quotes, line breaks, blanks, inf)."""
    result, _ = demo_report
    prov = result.provenance()
    tables = {"indicators": result.indicators, **result.tables}
    odd = pd.DataFrame(
        {
            "name": ["=1+2", 'say "hi", twice', "line\nbreak\r", None, "-x", "@y"],
            "value": [1.23456, float("nan"), float("inf"), -float("inf"), 0.0, 12345.5],
            "n": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
            "flag": [True, False, True, False, True, False],
            "when": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-03-04", "2024-04-05", "2024-05-06", "2024-07-08"]),
        },
        index=pd.Index(["a", "+b", "c", "d", "e", "f"], name="=key"),
    )
    tables["odd_cells"] = odd
    tables["empty"] = odd.iloc[:0]
    paths = report.write_tables(tables, tmp_path / "fast", provenance=prov, profile=result.profile)
    fin = report._finish_all(tables, prov, result.profile)
    origin = prov.one_line()
    (tmp_path / "ref").mkdir()
    checked = 0
    for name, f in fin.items():
        shown = f.shown()
        if name != "notes":
            shown["来源 Provenance"] = origin
        stem = "indicators.csv" if name == "indicators" else f"indicators_{name}.csv"
        ref = report.write_csv(shown, tmp_path / "ref" / stem, index=False)
        assert tmp_path / "fast" / stem in paths
        assert (tmp_path / "fast" / stem).read_bytes() == ref.read_bytes(), stem
        checked += 1
    assert checked == len(tables) + 1 > 10
    text = (tmp_path / "fast" / "indicators_odd_cells.csv").read_text(encoding="utf-8-sig")
    assert "'=1+2" in text and '"say ""hi"", twice"' in text and "'=key" in text
    # the same text in every row's last column: any text
    columns = {"a": ["x", "\x1f", None, 1.5], "=b": [1, 2, 3, float("nan")]}
    for i, last in enumerate(['=say "hi", twice\r\nmore', "plain", "", "a,b"]):
        for cols in (columns, {"a": ["x", "y", "z", "w"]}):
            fast = report._write_columns_csv(cols, 4, tmp_path / f"last{i}.csv", last=("来源 Provenance", last))
            frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in {**cols, "来源 Provenance": [last] * 4}.items()})
            assert fast.read_bytes() == report.write_csv(frame, tmp_path / f"ref{i}.csv", index=False).read_bytes(), last


def test_report_json_records_are_pandas_records(demo_report, tmp_path):
    """The JSON's tables, read column by column, are byte for byte the records pandas gives
    (``to_dict(orient="records")``, NaN as null), on a whole run's tables and on a table of
    awkward values (nullable integers, numpy scalars and NaN among objects, float32, dates,
    categories, missing values), with the headers and provenance beside them."""
    import numpy as np

    result, _ = demo_report
    prov = result.provenance()
    tables = {"indicators": result.indicators, **result.tables}
    tables["odd_values"] = pd.DataFrame(
        {
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "objects": pd.Series([np.int64(7), np.float64("nan"), np.float32(0.1), "x"], dtype=object),
            "f32": np.array([0.1, np.nan, 2.5, -1.0], dtype=np.float32),
            "when": pd.to_datetime(["2024-01-02", None, "2024-03-04", "2024-04-05"]),
            "kind": pd.Categorical(["a", None, "b", "a"]),
            "flag": [True, False, True, False],
            "share": [0.25, float("nan"), 1.0, 0.5],
        }
    )
    paths = report.write_tables(tables, tmp_path, provenance=prov, profile=result.profile)
    assert tmp_path / "indicators.json" in paths
    fin = report._finish_all(tables, prov, result.profile)
    payload = {"provenance": prov.to_dict()}
    payload["columns"] = {name: dict(zip(f.frame.columns, f.headers(), strict=True)) for name, f in fin.items()}
    for name, f in fin.items():
        payload[name] = [{k: report._clean(v) for k, v in rec.items()} for rec in f.frame.to_dict(orient="records")]
    want = json.dumps(payload, ensure_ascii=False, indent=2, default=report._json_default)
    assert (tmp_path / "indicators.json").read_text(encoding="utf-8") == want
    assert len(payload["odd_values"]) == 4 and payload["odd_values"][1]["objects"] is None


def test_markdown_renders_with_its_sections(demo_report):
    from markdown_it import MarkdownIt

    result, out = demo_report
    text = (out / "indicators.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == "五道口示范区 现代化美丽城镇空间指标 (2025)"
    assert headings[1:3] == ["汇总 Summary", "指标 Indicators"] and "说明 Notes" in headings and "设施清单 Inventory" in headings
    assert sum(t.type == "table_open" for t in tokens) >= 10
    # the summary table as rendered: the rows' status and the lower bounds
    html = MarkdownIt("commonmark").enable("table").render(text)
    summary = html.split("<h2>汇总 Summary</h2>", 1)[1].split("</table>", 1)[0]
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in summary.split("<tr>")[2:]]
    by_row = {c[0]: c for c in cells}
    assert by_row["9"][2] == "≥ 0.0" and by_row["9"][5] == "缺数据 data missing"
    assert by_row["8"][2] == f"{result.indicators.set_index('row').loc[8, 'value']:.1f}" and by_row["8"][5] == "未达标 fail"
    assert "ODbL" in html and "数据时效 data age" in html and "依据文件 Documents cited" in html


def test_json_and_manifest_state_the_provenance(demo_report):
    result, out = demo_report
    data = json.loads((out / "indicators.json").read_text(encoding="utf-8"))
    prov = data["provenance"]
    osm = next(s for s in prov["sources"] if s["name"] == "wudaokou.osm.pbf")
    assert osm["sha256"] == hashlib.sha256(mg.demo_osm_path().read_bytes()).hexdigest()
    assert osm["date"] == "2017-06-24" and "ODbL" in osm["licence"]
    assert prov["town"] == "五道口示范区" and prov["year"] == 2025 and prov["profile"]["name"] == "zhejiang-2023"
    assert prov["toolkit"] == f"mtown-geo {mg.__version__}" and prov["warnings"][0].startswith("数据时效 data age")
    assert data["columns"]["coverage_15min"]["rate"] == "覆盖率 Coverage (%)"
    assert data["coverage_15min"][0]["rate"] == pytest.approx(result.tables["coverage_15min"]["rate"].iloc[0])
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["provenance"]["sources"] == prov["sources"]


def test_data_age_warning():
    assert provenance.data_age_warning("2023-01-01", 2025) is None  # two years exactly: fine
    assert "2022-12-31" in provenance.data_age_warning("2022-12-31", 2025)
    assert provenance.data_age_warning(None, 2025) is None and provenance.data_age_warning("not a date", 2025) is None


def test_documents_and_what_a_report_may_call_verified():
    annex = "浙政办发〔2023〕49号 annex (consultation draft)"
    assert documents.reading(annex) == "draft" and not documents.verified(True, annex)
    [c] = documents.cite("浙政办发〔2023〕49号 annex row 9; walk 15 min")
    assert c.document.number == "浙政办发〔2023〕49号" and c.clause == "annex row 9"
    final = "GB 55014-2021 园林绿化工程项目规范 (mandatory; park area > 8 m² per person)"
    assert documents.reading(final) == "final" and documents.verified(True, final) and not documents.verified(False, final)
    assert documents.reading("城市体检 2021 指标解释 (secondary quotation)") == "secondary"
    assert documents.reading("Assumption; GB 17761-2018 caps e-bikes at 25 km/h") == "assumption"
    assert [c.clause for c in documents.cite("GB 50180-2018 6.0.2 (居住区)")] == ["6.0.2"]
    assert documents.reading("a local survey") == "unknown"


def test_manifest_hashes_inputs(profile, tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"abc")
    m = report.manifest(inputs={"a": f, "place": "东门街道"}, config={"x": 1}, profile=profile)
    assert m["inputs"]["a"]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert m["inputs"]["place"]["sha256"] is None
    assert m["packages"]["numpy"]
    assert any(a["rule"] == "circles.15min" for a in m["assumptions"])


@pytest.mark.slow  # a full run with every map, read back from the PDFs
def test_maps_carry_the_data_gap_banner_exactly_where_a_category_is_empty(tmp_path):
    """Print maps (text read back from the PDF) and the interactive map say 缺数据 where their
    indicator rests on a category no source holds, and only there."""
    import shutil
    import subprocess

    st = mg.load_study(mg.demo_study(tmp_path / "study"))
    st = st.model_copy(update={"outputs": st.outputs.model_copy(update={"tiles": False, "rasters": False})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        result = mg.run(st, out=tmp_path / "out")
    inv = result.tables["inventory"]
    empty = {c for c in result.profile.circles["15min"].required if inv.loc[c, "total"] == inv.loc[c, "not_public"] == 0}
    assert empty == {"health_station", "elderly_care", "childcare"}
    html = (tmp_path / "out" / "map.html").read_text(encoding="utf-8")
    # the page draws its banner from the map's data (text, never markup): read it from there
    found = re.search(r'"banner":("(?:[^"\\]|\\.)*")', html)
    assert found is not None
    banner = json.loads(found.group(1))
    assert "缺数据" in banner and all(inv.loc[c, "name_zh"] in banner for c in empty)
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the print maps' text cannot be read back")

    def text(name: str) -> str:
        out = subprocess.run(["pdftotext", str(tmp_path / "out" / "maps" / f"{name}.pdf"), "-"], capture_output=True, check=True)
        return out.stdout.decode("utf-8").replace("\n", "")

    expected = {
        "15min_coverage": [inv.loc[c, "name_zh"] for c in sorted(empty)],
        "15min_childcare": [inv.loc["childcare", "name_zh"]],
        "15min_elderly_care": [inv.loc["elderly_care", "name_zh"]],
        "5min_coverage": None,  # every 5-minute category is in the data
        "row08_parks": None,  # parks are there
        "greenways": None,
    }
    for name, names in expected.items():
        t = text(name)
        if names is None:
            assert "缺数据" not in t, name
        else:
            assert "缺数据 Data missing" in t, name
            assert all(n in t for n in names), (name, names)


def test_a_date_column_with_a_missing_date_is_written(profile, tmp_path):
    """A table with dates, one of them missing (NaT), is written in every format: the JSON
    holds the ISO date and null, the CSV and the XLSX the date and an empty cell."""
    t = report.indicator_table(profile, year=2025, computed=_computed())
    dated = pd.DataFrame(
        {"opened": pd.to_datetime(["2021-03-04", None]), "count": [1, 2]},
        index=pd.Index(["a", "b"], name="site"),
    )
    files = report.write_tables({"indicators": t, "dated": dated}, tmp_path, title="测试镇")
    assert len(files) == 5
    data = json.loads((tmp_path / "indicators.json").read_text(encoding="utf-8"))
    assert [r["opened"] for r in data["dated"]] == ["2021-03-04T00:00:00", None]
    csv = pd.read_csv(tmp_path / "indicators_dated.csv", encoding="utf-8-sig")
    assert csv.iloc[0, 1].startswith("2021-03-04") and pd.isna(csv.iloc[1, 1])
    ws = load_workbook(tmp_path / "indicators.xlsx")["dated"]
    assert ws.cell(row=3, column=2).value in (None, "")


def test_markdown_tables_escape_every_cell_as_one_cell_alone(demo_report):
    """The Markdown tables, made column by column and escaped by a pattern, are the tables made
    cell by cell with ``str.translate`` (the route :func:`report._md` states): on every table of a whole run and on
    a table of texts with every special character, line breaks and a NUL."""
    result, _ = demo_report
    tables = {"indicators": result.indicators, **result.tables}
    tables["odd_texts"] = pd.DataFrame(
        {"text": ["a|b", "x\\*[y]<z>&", "two\nlines\r", "nul\0here", "", "普通"], "n": [1, 20_000, -30_000, 4, 5, 6]}
    )
    fin = report._finish_all(tables, result.provenance(), result.profile)

    def cell_by_cell(f, lower):
        lines = ["| " + " | ".join(str(h).translate(report._MD_SPECIAL) for h in f.headers()) + " |"]
        lines.append("|" + "|".join("---" for _ in f.frame.columns) + "|")
        for i in range(len(f.frame)):
            cells = []
            for c in f.frame.columns:
                v = f.value(i, c)
                text = "" if v is None else (f"{v:,}" if type(v) is int and abs(v) >= 10_000 else str(v))
                if lower is not None and lower[i] and c == "value" and v is not None:
                    text = f"≥ {text}"
                cells.append(text.translate(report._MD_SPECIAL))
            lines.append("| " + " | ".join(cells) + " |")
        return lines

    for name, f in fin.items():
        lower = [bool(v) for v in f.frame["lower_bound"]] if "lower_bound" in f.frame else None
        assert report._md_table(f, lower=lower) == cell_by_cell(f, lower), name
    assert "a\\|b" in "\n".join(report._md_table(fin["odd_texts"])) and "nul\0here" in "\n".join(
        report._md_table(fin["odd_texts"])
    )


def test_each_shown_value_follows_the_rule_of_its_cell(demo_report):
    """Every column of every table of a whole run, shown a column at once, holds what the rule
    gives each cell alone: its label when coded, else :func:`_tablespec.shown_value` under the
    column's spec, with the decimals of the row's unit for ``by_unit`` columns (a whole count
    or amount without decimals, any other without a unit with two)."""
    import numpy as np

    result, _ = demo_report
    fin = report._finish_all({"indicators": result.indicators, **result.tables}, result.provenance(), result.profile)
    fin["summary"] = report._summary(result.indicators)[0]
    checked = 0
    for name, f in fin.items():
        for c in f.frame.columns:
            spec, labels = f.cols[c], f.labels.get(c)
            for i, got in enumerate(f.shown_column(c)):
                v = f.frame[c].iloc[i]
                if labels is not None and isinstance(v, str):
                    want = labels.get(v, v)
                elif spec.kind == "by_unit":
                    d = _tablespec.value_decimals(f.unit(i))
                    if d is None:
                        d = (
                            0
                            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and float(v).is_integer()
                            else 2
                        )
                    want = _tablespec.shown_value(v, _tablespec.Col(spec.zh, spec.en, spec.unit, "float", d))
                else:
                    want = _tablespec.shown_value(v, spec)
                assert type(got) is type(want) and (got == want or (want != want and got != got)), (name, c, i, got, want)
                checked += 1
    assert checked > 500
