"""The indicator report: the policy annex's rows with values, targets and pass/fail.

The rows the toolkit computes (8 park coverage, 9 15-minute coverage, 10 home elderly
care, 11 childcare, and greenway km per 10,000 residents) carry their value, the
denominator used and a note where the rule is an assumption (the profile's
``verified: false``); the other rows (counts, investment, administrative rates) are
user-entered values from the study file, marked as such. Written as CSV, XLSX
(formatted, Chinese headers with English beside them), JSON and Markdown.

:func:`task_table` makes the 主要任务 (policy tasks) table beside it: street density, village
roads, bus coverage, green space, chargers and neighbourhood centres, each with its target,
references, denominator and whether its rule is verified; written as the sheet
"主要任务 policy tasks".
"""

from __future__ import annotations

import json
import logging
import math
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._errors import InputError
from ._io import atomic_file, file_sha256
from .standards import AnnexRow, Profile

__all__ = [
    "COLUMNS",
    "HEADERS",
    "TASK_COLUMNS",
    "TASK_HEADERS",
    "TASK_TITLES",
    "ComputedValue",
    "indicator_table",
    "manifest",
    "task_table",
    "write_tables",
]

log = logging.getLogger(__name__)

#: Columns of the indicator table, in order.
COLUMNS = [
    "row",
    "name_zh",
    "name_en",
    "unit",
    "value",
    "target_2023",
    "target_2025",
    "target_2027",
    "year",
    "target",
    "status",
    "denominator",
    "origin",
    "verified",
    "note",
]

#: Chinese headers with the English beside them (XLSX, Markdown).
HEADERS = {
    "row": "序号 Row",
    "name_zh": "指标 Indicator",
    "name_en": "Indicator (English)",
    "unit": "单位 Unit",
    "value": "数值 Value",
    "target_2023": "2023 目标 Target",
    "target_2025": "2025 目标 Target",
    "target_2027": "2027 目标 Target",
    "year": "考核年份 Year",
    "target": "当年目标 Target",
    "status": "是否达标 Status",
    "denominator": "分母 Denominator",
    "origin": "来源 Origin",
    "verified": "口径已核实 Rule verified",
    "note": "说明 Note",
}

_STATUS_ZH = {"pass": "达标 pass", "fail": "未达标 fail", "n/a": "— n/a", "missing": "缺数据 missing"}


@dataclass(frozen=True)
class ComputedValue:
    """A value the toolkit computed for one annex row (percent for rates, km/万人 for greenways)."""

    value: float
    denominator: str
    verified: bool
    note: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


def _status(value: float | None, target: float | None) -> str:
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return "n/a"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    return "pass" if value >= target - 1e-9 else "fail"


def _row(
    spec: AnnexRow,
    year: int,
    value: float | None,
    *,
    denominator: str = "",
    origin: str,
    verified: bool,
    note: str = "",
) -> dict[str, Any]:
    t = spec.targets
    target = t.get(year)
    return {
        "row": spec.row if spec.row else "—",
        "name_zh": spec.name_zh,
        "name_en": spec.name_en,
        "unit": spec.unit,
        "value": value,
        "target_2023": t.get(2023),
        "target_2025": t.get(2025),
        "target_2027": t.get(2027),
        "year": year,
        "target": target,
        "status": _status(value, target),
        "denominator": denominator,
        "origin": origin,
        "verified": verified,
        "note": note,
    }


def indicator_table(
    profile: Profile,
    *,
    year: int,
    computed: Mapping[str, ComputedValue],
    reported: Mapping[int, float] | None = None,
) -> pd.DataFrame:
    """The policy annex as a table, with values, targets and pass/fail for a year.

    Parameters
    ----------
    profile : Profile
        Its ``annex`` rows and ``greenway_target`` give names, units and targets.
    year : int
        The report year whose targets decide pass/fail (2023, 2025 or 2027 in the annex;
        another year is compared with the latest earlier target).
    computed : mapping
        Values the toolkit computed, keyed by the annex row's ``computed`` key
        (``"park_coverage"``, ``"circle:15min"``, ``"category:15min:elderly_care"``,
        ``"greenway_per_10k"``); rates in percent.
    reported : mapping of int to float, optional
        User-entered values for the other rows, by row number.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`; the computed rows first in annex order, the greenway row after
        them, then every user-entered row.
    """
    reported = dict(reported or {})
    rows = []
    eff_year = _effective_year(profile, year)
    for spec in profile.annex:
        if spec.computed is not None:
            cv = computed.get(spec.computed)
            if cv is None:
                rows.append(
                    _row(
                        spec,
                        eff_year,
                        None,
                        origin="computed",
                        verified=spec.verified,
                        note="not computed in this run (input missing)",
                    )
                )
            else:
                rows.append(
                    _row(
                        spec,
                        eff_year,
                        cv.value,
                        denominator=cv.denominator,
                        origin="computed",
                        verified=cv.verified,
                        note=cv.note,
                    )
                )
            if spec.row in reported:
                rows[-1]["note"] = (
                    rows[-1]["note"] + "; " if rows[-1]["note"] else ""
                ) + f"user-entered value {reported.pop(spec.row)} ignored: computed"
    if profile.greenway_target is not None:
        g = profile.greenway_target
        cv = computed.get(g.computed or "greenway_per_10k")
        rows.append(
            _row(
                g,
                eff_year,
                None if cv is None else cv.value,
                denominator="" if cv is None else cv.denominator,
                origin="computed",
                verified=bool(cv.verified) if cv is not None else g.verified,
                note="not computed in this run (input missing)" if cv is None else cv.note,
            )
        )
    for spec in profile.annex:
        if spec.computed is None:
            value = reported.get(spec.row)
            rows.append(
                _row(
                    spec,
                    eff_year,
                    None if value is None else float(value),
                    origin="user-entered" if value is not None else "not given",
                    verified=spec.verified,
                    note="" if value is not None else "enter under `reported:` in the study file",
                )
            )
    unknown = sorted(set(reported) - {s.row for s in profile.annex})
    if unknown:
        raise InputError(f"reported values for rows {unknown}, which the annex does not have (rows 1–{len(profile.annex)})")
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["year"] = year
    return df


# -- the policy's other spatial tasks (主要任务) ------------------------------------------------

#: Columns of the policy-task table, in order.
TASK_COLUMNS = [
    "task",
    "key",
    "name_zh",
    "name_en",
    "unit",
    "value",
    "target",
    "status",
    "denominator",
    "verified",
    "reference",
    "source",
    "note",
]

#: Chinese headers with the English beside them for the policy-task table.
TASK_HEADERS = {
    "task": "任务 Task",
    "key": "代码 Key",
    "name_zh": "指标 Indicator",
    "name_en": "Indicator (English)",
    "unit": "单位 Unit",
    "value": "数值 Value",
    "target": "目标 Target",
    "status": "是否达标 Status",
    "denominator": "分母 Denominator",
    "verified": "口径已核实 Rule verified",
    "reference": "参考值 References",
    "source": "口径来源 Rule source",
    "note": "说明 Note",
}

#: The tasks in report order, with their titles (浙政办发〔2023〕49号 task numbers).
TASK_TITLES = {
    "streets": "任务1 小街区密路网 small blocks, dense streets",
    "village_roads": "任务2 行政村通双车道公路 village roads",
    "transit": "任务2 城乡公交一体化 bus coverage",
    "greenspace": "任务3 园林城镇 green space",
    "chargers": "任务3 新能源充电桩 public chargers",
    "neighbourhood": "任务5 邻里中心全覆盖 neighbourhood centres",
}

#: Sheet (and Markdown section) titles of the extra tables that carry a status column.
SHEET_NAMES = {"tasks": "主要任务 policy tasks"}


def task_table(profile: Profile, computed: Mapping[str, ComputedValue]) -> pd.DataFrame:
    """The policy's other spatial tasks as a table: value, target, status, denominator, source.

    Parameters
    ----------
    profile : Profile
        Its ``tasks`` section names every indicator, its unit, the source of its definition,
        its target (decides pass/fail) and its references (shown only).
    computed : mapping
        Values keyed ``"<task>:<indicator>"`` (``"streets:street_density"``); a NaN value means
        the data are missing (status ``missing``, never 0). ``details`` may carry ``target``
        (a number that replaces the profile's), ``target_text`` and ``status`` (overrides).

    Returns
    -------
    DataFrame
        :data:`TASK_COLUMNS`, one row per computed indicator in the profile's order. ``verified``
        is true only when the indicator's definition, the task's method and its target are all
        verified; the ``note`` of every other row says what is unverified.
    """
    rows: list[dict[str, Any]] = []
    tasks = profile.tasks
    if tasks is None:
        return pd.DataFrame(columns=TASK_COLUMNS)
    for task, title in TASK_TITLES.items():
        spec = getattr(tasks, task, None)
        if spec is None:
            continue
        for key, ind in spec.indicators.items():
            cv = computed.get(f"{task}:{key}")
            if cv is None:
                continue
            value = float(cv.value) if cv.value is not None else math.nan
            target = ind.target
            details = dict(cv.details)
            target_text = details.get("target_text", target.text() if target is not None else "")
            verified = bool(cv.verified and ind.verified and spec.verified and (target is None or target.verified))
            if "status" in details:
                status = str(details["status"])
            elif math.isnan(value):
                status = "missing"
            elif target is None and "target" not in details:
                status = "n/a"
            elif target is not None:
                status = "pass" if target.met(value) else "fail"
            else:
                status = "pass" if value >= float(details["target"]) else "fail"
            notes = [cv.note] if cv.note else []
            unverified = []
            if not ind.verified:
                unverified.append(f"definition: {' '.join(ind.source.split())}")
            if not spec.verified:
                unverified.append(f"method: {' '.join(spec.source.split())}")
            if target is not None and not target.verified:
                unverified.append(f"target: {' '.join(target.source.split())}")
            if unverified:
                notes.append("UNVERIFIED rule 未核实口径 — " + " | ".join(unverified))
            rows.append(
                {
                    "task": title,
                    "key": key,
                    "name_zh": ind.name_zh,
                    "name_en": ind.name_en,
                    "unit": ind.unit,
                    "value": None if math.isnan(value) else value,
                    "target": target_text or None,
                    "status": status,
                    "denominator": cv.denominator,
                    "verified": verified,
                    "reference": "; ".join(r.text() for r in ind.references) or None,
                    "source": " ".join(ind.source.split()),
                    "note": "; ".join(notes),
                }
            )
    return pd.DataFrame(rows, columns=TASK_COLUMNS)


def _effective_year(profile: Profile, year: int) -> int:
    years = sorted({y for spec in profile.annex for y in spec.targets})
    if not years:
        return year
    earlier = [y for y in years if y <= year]
    if year in years:
        return year
    if not earlier:
        raise InputError(f"the annex has targets for {years}; {year} is before the first")
    log.info("no targets for %d: compared with the %d targets", year, earlier[-1])
    return earlier[-1]


# -- writing ------------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _markdown(df: pd.DataFrame, title: str) -> str:
    cols = [c for c in df.columns]
    head = "| " + " | ".join(HEADERS.get(c, c) for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    lines = [f"# {title}", "", head, sep]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c == "status":
                v = _STATUS_ZH.get(str(v), v)
            if isinstance(v, float):
                v = "" if math.isnan(v) else f"{v:.2f}".rstrip("0").rstrip(".")
            cells.append(str(v).replace("|", "\\|") if v is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    folder: str | Path,
    *,
    stem: str = "indicators",
    title: str = "指标 Indicators",
) -> list[Path]:
    """Write the indicator table and its companions as CSV, XLSX, JSON and Markdown.

    Parameters
    ----------
    tables : mapping of sheet name to DataFrame
        The first one is the indicator table (:func:`indicator_table`); the others
        (per category, per sub-area...) become further sheets / files.
    folder : path
        Output folder (must exist).
    stem : str
        File name stem (``indicators.csv``, ``indicators.xlsx``...).

    Returns
    -------
    list of Path
        The files written (each written atomically).
    """
    folder = Path(folder)
    names = list(tables)
    if not names:
        raise InputError("no table to write")
    main = tables[names[0]]
    out: list[Path] = []
    # CSV: one per table (UTF-8 with BOM so Excel shows Chinese correctly)
    for name, df in tables.items():
        path = folder / (f"{stem}.csv" if name == names[0] else f"{stem}_{name}.csv")
        with atomic_file(path) as tmp:
            df.to_csv(tmp, index=not isinstance(df.index, pd.RangeIndex), encoding="utf-8-sig")
        out.append(path)
    # JSON: every table, records
    path = folder / f"{stem}.json"
    payload = {
        name: [
            {k: _clean(v) for k, v in rec.items()}
            for rec in (df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df).to_dict(orient="records")
        ]
        for name, df in tables.items()
    }
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    out.append(path)
    # Markdown: the indicator table, then the others
    path = folder / f"{stem}.md"
    text = _markdown(main, title)
    for name in names[1:]:
        df = tables[name]
        df2 = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
        if name in SHEET_NAMES:
            df2 = df2.rename(columns={c: TASK_HEADERS.get(c, c) for c in df2.columns if c != "status"})
        text += "\n" + _markdown(df2, SHEET_NAMES.get(name, name))
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    out.append(path)
    # XLSX
    path = folder / f"{stem}.xlsx"
    with atomic_file(path) as tmp:
        _write_xlsx(tables, tmp)
    out.append(path)
    return out


def _cell(value: Any) -> Any:
    """A table value as xlsxwriter writes it: NaN, None and NA blank, numpy scalars as Python."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("∞" if value > 0 else "-∞")
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _write_xlsx(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    """The tables as one formatted workbook: a bold, frozen header row, fitted columns, and
    on the indicator sheet the status in Chinese and English on a pass / fail / missing fill."""
    import xlsxwriter

    with xlsxwriter.Workbook(str(path)) as book:
        header = book.add_format({"bold": True, "text_wrap": True, "valign": "vcenter", "bg_color": "#DDEBF7"})
        fills = {
            "pass": book.add_format({"bg_color": "#C6EFCE"}),
            "fail": book.add_format({"bg_color": "#FFC7CE"}),
            "missing": book.add_format({"bg_color": "#FFEB9C"}),
        }
        two_dp = book.add_format({"num_format": "0.00"})
        for i, (name, df) in enumerate(tables.items()):
            frame = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
            heads = TASK_HEADERS if str(name) in SHEET_NAMES else HEADERS
            frame = frame.rename(columns={c: heads.get(c, c) for c in frame.columns})
            ws = book.add_worksheet("指标 Indicators" if i == 0 else SHEET_NAMES.get(str(name), str(name))[:31])
            columns = [str(c) for c in frame.columns]
            with_status = i == 0 or str(name) in SHEET_NAMES
            status_col = columns.index(HEADERS["status"]) if with_status and HEADERS["status"] in columns else -1
            value_col = columns.index(HEADERS["value"]) if status_col >= 0 and HEADERS["value"] in columns else -1
            ws.write_row(0, 0, columns, header)
            ws.freeze_panes(1, 0)
            for j, col in enumerate(frame.columns):
                values = [_cell(v) for v in frame[col].tolist()]
                for r, v in enumerate(values, start=1):
                    if j == status_col:
                        status = str(v)
                        ws.write_string(r, j, _STATUS_ZH.get(status, status), fills.get(status))
                    elif v is None:
                        continue
                    else:
                        ws.write(r, j, v, two_dp if j == value_col and isinstance(v, float) else None)
                width = max([len(columns[j])] + [len(str(v)) for v in values[:200]]) + 2
                ws.set_column(j, j, min(max(width, 8), 60))


def manifest(
    *,
    inputs: Mapping[str, str | Path],
    config: Mapping[str, Any],
    profile: Profile,
) -> dict[str, Any]:
    """What makes a run reproducible: input files with SHA-256, the resolved configuration,
    the profile and the versions of the packages that computed it."""
    files = {}
    for key, p in inputs.items():
        path = Path(p)
        if path.is_file():
            files[key] = {"path": str(path), "sha256": file_sha256(path), "bytes": path.stat().st_size}
        else:
            files[key] = {"path": str(p), "sha256": None, "note": "not a local file (online source or in-memory)"}
    pkgs: dict[str, str | None] = {}
    for name in (
        "mtown-geo",
        "geopandas",
        "shapely",
        "pyproj",
        "pyogrio",
        "rasterio",
        "osmium",
        "osmnx",
        "networkx",
        "scipy",
        "numpy",
        "pandas",
        "folium",
        "pydantic",
        "matplotlib",
    ):
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pkgs[name] = None
    return {
        "inputs": files,
        "config": config,
        "profile": profile.model_dump(mode="json"),
        "assumptions": [{"rule": k, "source": s} for k, s in profile.assumptions()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": pkgs,
    }
