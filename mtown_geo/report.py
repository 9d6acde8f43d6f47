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

Text from data (town, zone, park names) is written as text everywhere: typed as text in
XLSX (never a formula or a link), with a leading apostrophe in CSV when it begins with a
character a spreadsheet would read as the start of a formula (see :func:`write_csv`), and
escaped in Markdown.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import logging
import math
import platform
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

from . import _tablespec, documents
from ._errors import InputError
from ._io import atomic_file, input_sha256
from .provenance import Provenance, notes_table
from .standards import AnnexRow, Profile

__all__ = [
    "COLUMNS",
    "FORMULA_PREFIXES",
    "HEADERS",
    "TASK_COLUMNS",
    "TASK_HEADERS",
    "TASK_TITLES",
    "ComputedValue",
    "indicator_table",
    "manifest",
    "status_label",
    "summary_table",
    "task_table",
    "write_csv",
    "write_sites_csv",
    "write_tables",
    "write_xlsx",
]

log = logging.getLogger(__name__)

#: Columns of the indicator table, in order.
COLUMNS = [
    "row",
    "name_zh",
    "name_en",
    "unit",
    "value",
    "lower_bound",
    "target_2023",
    "target_2025",
    "target_2027",
    "year",
    "target",
    "target_source",
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
    "lower_bound": "下限值 Lower bound",
    "target_2023": "2023 目标 Target",
    "target_2025": "2025 目标 Target",
    "target_2027": "2027 目标 Target",
    "year": "考核年份 Year",
    "target": "当年目标 Target",
    "target_source": "目标来源 Target from",
    "status": "是否达标 Status",
    "denominator": "分母 Denominator",
    "origin": "来源 Origin",
    "verified": "口径已核实 Rule verified",
    "note": "说明 Note",
}

#: Status of a row: ``pass`` / ``fail`` against the year's target; ``no_data`` (缺数据) when
#: what the row depends on is missing from the data (no source holds a category it needs, or
#: an input was not given), so that its value, when there is one, is only a lower bound;
#: ``not_entered`` for a user-entered row left blank; ``n/a`` without a target for the year.
STATUSES = ("pass", "fail", "no_data", "not_entered", "n/a")

_STATUS_ZH = {
    "pass": "达标 pass",
    "fail": "未达标 fail",
    "n/a": "— n/a",
    "no_data": "缺数据 data missing",
    "not_entered": "未填报 not entered",
    "missing": "缺数据 data missing",  # the policy-task table's word for the same
    "ok": "有数据 data held",  # the inventory's word for a category some source holds
    "closed": "不对外开放 not public",  # ... and for one whose only features are closed to the public
}


@dataclass(frozen=True)
class ComputedValue:
    """A value the toolkit computed for one annex row (percent for rates, km/万人 for greenways).

    ``data_gaps`` names what the row depends on that no data source holds (Chinese names
    of categories or layers, see :mod:`mtown_geo.inventory`): the value is then a lower
    bound, and the row's status is 缺数据 (``no_data``) unless even the lower bound meets
    the target. ``source`` is the source of the rule behind the value: with it, the row is
    verified only when the rule was read in a final text (:func:`mtown_geo.documents.verified`).
    """

    value: float
    denominator: str
    verified: bool
    note: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    data_gaps: tuple[str, ...] = ()
    source: str = ""


def status_label(status: str) -> str:
    """A status as a report shows it, in Chinese with the English beside it (``no_data`` → ``缺数据 data missing``)."""
    return _STATUS_ZH.get(str(status), str(status))


def _status(value: float | None, target: float | None, *, blank: str = "no_data", lower_bound: bool = False) -> str:
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return "n/a"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return blank
    if value >= target - 1e-9:
        return "pass"  # a lower bound that meets the target: the true value meets it too
    return "no_data" if lower_bound else "fail"


def _row(
    spec: AnnexRow,
    year: int,
    value: float | None,
    *,
    denominator: str = "",
    origin: str,
    verified: bool,
    note: str = "",
    data_gaps: tuple[str, ...] = (),
    rule_source: str = "",
) -> dict[str, Any]:
    t = spec.targets
    target = t.get(year)
    # verified: the rule behind the value and the targets were both read in a final, published text
    rule_ok = documents.verified(verified, rule_source) if rule_source else verified
    target_ok = documents.verified(spec.verified, spec.source)
    lower = bool(data_gaps) and value is not None
    if data_gaps:
        gap = (
            f"缺数据 data missing: no source holds any {'、'.join(data_gaps)} here"
            + (": the value is a lower bound (the rate computed from what the data holds)" if lower else "")
            + "; add them (see the inventory)"
        )
        note = f"{gap}; {note}" if note else gap
    return {
        "row": spec.row if spec.row else "—",
        "name_zh": spec.name_zh,
        "name_en": spec.name_en,
        "unit": spec.unit,
        "value": value,
        "lower_bound": lower,
        "target_2023": t.get(2023),
        "target_2025": t.get(2025),
        "target_2027": t.get(2027),
        "year": year,
        "target": target,
        "target_source": " ".join(spec.source.split()),
        "status": _status(value, target, blank="no_data" if origin == "computed" else "not_entered", lower_bound=lower),
        "denominator": denominator,
        "origin": origin,
        "verified": rule_ok and target_ok,
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
                        data_gaps=cv.data_gaps,
                        rule_source=cv.source,
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
                data_gaps=() if cv is None else cv.data_gaps,
                rule_source="" if cv is None else cv.source,
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
    if obj is pd.NaT or obj is pd.NA:  # a missing date or a missing nullable value
        return None
    if isinstance(obj, (pd.Timestamp, dt.datetime, dt.date)):
        return obj.isoformat()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _json_records(frame: pd.DataFrame) -> list[dict[Any, Any]]:
    """A table's rows as records of its raw values for the JSON (NaN as None): the records of
    ``frame.to_dict(orient="records")``, read column by column (the JSON text is the same)."""
    if not frame.columns.is_unique or not len(frame.columns):
        return [{k: _clean(v) for k, v in rec.items()} for rec in frame.to_dict(orient="records")]
    keys = list(frame.columns)
    columns = [[_clean(v) for v in frame[k].tolist()] for k in keys]
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*[]<>|&"} | {"\n": " ", "\r": " "})


#: The characters :data:`_MD_SPECIAL` changes, found by a pattern (most texts hold none of them).
_MD_CHARS = re.compile("[" + re.escape("".join(chr(c) for c in _MD_SPECIAL)) + "]")


def _md_char(m: re.Match[str]) -> str:
    out: str = _MD_SPECIAL[ord(m.group())]
    return out


def _md(text: object) -> str:
    """Text from data as Markdown that shows it as it is: no markup, link or HTML in it acts,
    and a line break or ``|`` does not break the table (``str(text).translate(_MD_SPECIAL)``)."""
    return _MD_CHARS.sub(_md_char, str(text))


#: What the ``origin`` of an indicator row reads as.
ORIGIN_ZH = {"computed": "计算 computed", "user-entered": "填报 user-entered", "not given": "未填报 not given"}

_LABELS: dict[str, dict[str, str]] = {"status": _STATUS_ZH, "origin": ORIGIN_ZH}


def summary_table(indicators: pd.DataFrame) -> pd.DataFrame:
    """The indicator table as the summary a town hands in: one line per annex row, the value,
    the year's target, the status and a short remark (a lower bound and what is missing, a rule
    that is an assumption, a value entered by hand).

    Returns
    -------
    DataFrame
        ``row``, ``name_zh``, ``value``, ``unit``, ``target``, ``status``, ``remark``; plus
        ``lower_bound`` (whether the value is only a lower bound).
    """
    rows = []
    for _, r in indicators.iterrows():
        remark = []
        if r.get("status") == "no_data":
            note = str(r.get("note") or "")
            missing = note.split("no source holds any ", 1)[1].split(" here", 1)[0] if "no source holds any " in note else ""
            remark.append(
                f"缺数据: {missing} — 数值为下限 lower bound" if missing else "缺数据: 未计算 not computed (input missing)"
            )
        if r.get("origin") == "user-entered":
            remark.append("填报值 entered by the town")
        elif r.get("origin") == "not given":
            remark.append("请填报 enter under `reported:`")
        elif not bool(r.get("verified")):
            remark.append("口径或目标未核实 rule or target not from a final text (说明 Notes)")
        rows.append(
            {
                "row": r["row"],
                "name_zh": r["name_zh"],
                "value": r["value"],
                "unit": r["unit"],
                "target": r["target"],
                "status": r["status"],
                "remark": "; ".join(remark),
                "lower_bound": bool(r.get("lower_bound", False)),
            }
        )
    return pd.DataFrame(rows, columns=["row", "name_zh", "value", "unit", "target", "status", "remark", "lower_bound"])


def _finish_all(
    tables: Mapping[str, pd.DataFrame], provenance: Provenance | None, profile: Profile | None
) -> dict[str, _tablespec.Finished]:
    """Every table of a report, finished (see :mod:`mtown_geo._tablespec`); the notes last."""
    categories = {k: (c.name_zh, c.name_en) for k, c in profile.categories.items()} if profile is not None else {}
    if categories:
        categories["__circle__"] = ("生活圈", "Whole circle")
    out: dict[str, _tablespec.Finished] = {}
    for name, df in tables.items():
        attrs = {str(k): v for k, v in df.attrs.items()}
        out[name] = _tablespec.finished(name, df, attrs=attrs, labels=_LABELS, categories=categories)
    if provenance is not None:
        out["notes"] = _tablespec.finished("notes", notes_table(provenance))
    return out


def _md_table(fin: _tablespec.Finished, *, lower: list[bool] | None = None) -> list[str]:
    head = "| " + " | ".join(_md(h) for h in fin.headers()) + " |"
    lines = [head, "|" + "|".join("---" for _ in fin.frame.columns) + "|"]
    n = len(fin.frame)
    if not n:
        return lines
    columns: list[list[str]] = []
    for c in fin.frame.columns:
        shown = [fin.value(i, c) for i in range(n)]
        texts = [
            "" if v is None else (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000 else str(v))
            for v in shown
        ]
        if lower is not None and c == "value":
            texts = [f"≥ {t}" if lower[i] and shown[i] is not None else t for i, t in enumerate(texts)]
        columns.append(texts)
    rows = zip(*([_md(t) for t in texts] for texts in columns), strict=True)
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _summary(ind: pd.DataFrame) -> tuple[_tablespec.Finished, list[bool]]:
    """The summary of an indicator table (:func:`summary_table`) finished, and which of its values are lower bounds."""
    table = summary_table(ind)
    lower = [bool(v) for v in table["lower_bound"]]
    return _tablespec.finished("summary", table.drop(columns="lower_bound"), labels=_LABELS), lower


def _markdown_report(
    fin: Mapping[str, _tablespec.Finished],
    title: str,
    provenance: Provenance | None,
    *,
    summary: tuple[_tablespec.Finished, list[bool]] | None = None,
) -> str:
    """The report as Markdown: the title, where it comes from, the summary, every table, the notes.

    ``summary``: :func:`_summary` of the indicator table, when already made."""
    lines = [f"# {_md(title)}", ""]
    if provenance is not None:
        lines += [f"- **{_md(label)}**: {_md(value)}" for label, value in provenance.header_lines()]
        if provenance.attribution:
            lines.append(f"- **署名 Attribution**: {_md(provenance.attribution)}")
        lines.append("")
    names = list(fin)
    main = names[0]
    ind = fin[main].frame
    lower = [bool(v) for v in ind["lower_bound"]] if "lower_bound" in ind else None
    if "status" in ind and "origin" in ind:
        shown = (summary or _summary(ind))[0]
        lines += ["## 汇总 Summary", "", *_md_table(shown, lower=lower), ""]
    lines += [f"## {_tablespec.sheet_title(main)}", "", *_md_table(fin[main], lower=lower), ""]
    for name in names[1:]:
        if name == "notes":
            continue
        lines += [f"## {_md(_tablespec.sheet_title(name))}", "", *_md_table(fin[name]), ""]
    if provenance is not None:
        lines += ["## 说明 Notes", ""]
        notes = fin["notes"].frame if "notes" in fin else notes_table(provenance)
        rows = list(zip(notes["section"].tolist(), notes["item"].tolist(), notes["text"].tolist(), strict=True))
        for section in dict.fromkeys(r[0] for r in rows):
            lines += [f"### {_md(section)}", ""]
            lines += [f"- **{_md(item)}**: {_md(text)}" for sec, item, text in rows if sec == section]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_sites_csv(sites: pd.DataFrame, path: str | Path) -> Path:
    """Proposed sites (:func:`mtown_geo.study.sites_table`) as a finished CSV: bilingual headers,
    lon/lat in WGS-84 and GCJ-02, metres with their CRS named, coverage in %."""
    fin = _tablespec.finished("sites_new", sites, attrs={str(k): v for k, v in sites.attrs.items()})
    return write_csv(fin.shown(), path, index=False)


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    folder: str | Path,
    *,
    stem: str = "indicators",
    title: str = "指标 Indicators",
    provenance: Provenance | None = None,
    profile: Profile | None = None,
) -> list[Path]:
    """Write the indicator report as CSV, XLSX, JSON and Markdown: finished tables that say where they come from.

    Every table gets bilingual headers with units, percentages for shares, fixed decimals and
    its index as a named column (:mod:`mtown_geo._tablespec`). With ``provenance`` every file
    also states the town, the profile and its version, the data with their dates, licences and
    hashes, the toolkit and the run's time, and carries the notes (every assumption and warning,
    the documents cited): the XLSX opens on a 汇总 Summary sheet and ends with 说明 Notes; the
    Markdown has the same sections; the JSON a ``provenance`` object; each CSV a last column
    ``来源 Provenance`` and ``<stem>_notes.csv`` beside them.

    Parameters
    ----------
    tables : mapping of name to DataFrame
        The first one is the indicator table (:func:`indicator_table`); the others (the
        inventory, per circle, per zone, siting...) become further sheets / files.
    folder : path
        Output folder (must exist).
    stem : str
        File name stem (``indicators.csv``, ``indicators.xlsx``...).
    title : str
        The report's title (first line of the Markdown, top of the summary sheet).
    provenance : Provenance, optional
        Where the numbers come from (:class:`mtown_geo.provenance.Provenance`).
    profile : Profile, optional
        For the Chinese names of categories in the per-zone tables.

    Returns
    -------
    list of Path
        The files written (each written atomically).
    """
    folder = Path(folder)
    names = list(tables)
    if not names:
        raise InputError("no table to write")
    fin = _finish_all(tables, provenance, profile)
    out: list[Path] = []
    # CSV: one per table, bilingual headers, the values as shown, the provenance in a last column
    origin = provenance.one_line() if provenance is not None else None
    for name, f in fin.items():
        path = folder / (f"{stem}.csv" if name == names[0] else f"{stem}_{name}.csv")
        last = ("来源 Provenance", origin) if origin is not None and name != "notes" else None
        out.append(_write_columns_csv(f.shown_columns(), len(f.frame), path, last=last))
    # JSON: every table as records with its keys and raw values; the headers and the provenance beside them
    path = folder / f"{stem}.json"
    payload: dict[str, Any] = {}
    if provenance is not None:
        payload["provenance"] = provenance.to_dict()
    payload["columns"] = {name: dict(zip(f.frame.columns, f.headers(), strict=True)) for name, f in fin.items()}
    for name, f in fin.items():
        payload[name] = _json_records(f.frame)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    out.append(path)
    # Markdown
    path = folder / f"{stem}.md"
    main = fin[names[0]].frame
    summary = _summary(main) if {"status", "origin"} <= set(main.columns) else None  # in both files
    with atomic_file(path) as tmp:
        tmp.write_text(_markdown_report(fin, title, provenance, summary=summary), encoding="utf-8")
    out.append(path)
    # XLSX
    path = folder / f"{stem}.xlsx"
    with atomic_file(path) as tmp:
        _report_xlsx(fin, tmp, title=title, provenance=provenance, summary=summary)
    out.append(path)
    return out


#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Any) -> Any:
    """A text value as a CSV cell a spreadsheet shows as text: a leading apostrophe before a
    formula's first character. Values of other types are returned as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples(
            [tuple(_csv_text(v) for v in t) for t in index], names=[_csv_text(n) for n in index.names]
        )
    return pd.Index([_csv_text(v) for v in index], name=_csv_text(index.name), dtype=object)


def write_csv(df: pd.DataFrame, path: str | Path, *, index: bool | None = None) -> Path:
    """Write a table as CSV (UTF-8 with a BOM, so Excel shows Chinese text), atomically.

    Text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (in
    cells, the index and the header) gets a leading apostrophe (``'=1+2``): Excel, LibreOffice
    and WPS then show it as text instead of running it as a formula. Numbers are written as
    numbers. Strip the apostrophe when the CSV is read by a program that needs the exact text
    (the JSON and XLSX outputs hold it unchanged).

    Parameters
    ----------
    df : DataFrame
        The table; not modified.
    path : path
        The CSV file to write; its folder must exist.
    index : bool, optional
        Write the index; default: when it is not a plain ``RangeIndex``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    safe = df.copy()
    for col in safe.columns:
        values = safe[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            safe[col] = pd.Series([_csv_text(v) for v in values.to_numpy(dtype=object)], index=safe.index, dtype=object)
    if isinstance(safe.columns, pd.MultiIndex) or not isinstance(safe.columns, pd.RangeIndex):
        safe.columns = _csv_index(safe.columns)
    if not isinstance(safe.index, pd.RangeIndex):
        safe.index = _csv_index(safe.index)
    with atomic_file(path) as tmp:
        # CRLF line ends (RFC 4180): a carriage return inside a cell is then quoted too
        safe.to_csv(
            tmp,
            index=not isinstance(df.index, pd.RangeIndex) if index is None else index,
            encoding="utf-8-sig",
            lineterminator="\r\n",
        )
    return path


_PLAIN_CELL = frozenset({str, int, float, bool, type(None)})


def _write_columns_csv(columns: Mapping[str, list[Any]], n_rows: int, path: Path, *, last: tuple[str, str] | None = None) -> Path:
    """A table given as columns of shown values (header → list) as CSV, atomically: the same
    bytes as :func:`write_csv` of the frame made of them (object columns, no index), without
    building the frame.

    ``last``: a last column, (header, text), with the same text in every row (the provenance)."""
    if last is not None:
        columns = {**columns, last[0]: [last[1]] * n_rows}
    if not columns:
        return write_csv(pd.DataFrame({}), path, index=False)
    cells = []
    for values in columns.values():
        if all(type(v) in _PLAIN_CELL for v in values):
            # blank where pandas.isna says so: None and a float NaN, the only missing plain values
            cells.append(["" if v is None or (type(v) is float and v != v) else _csv_text(v) for v in values])
            continue
        blank = pd.isna(np.fromiter(values, dtype=object, count=len(values)))
        cells.append(["" if blank[i] else _csv_text(v) for i, v in enumerate(values)])
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")  # as pandas writes: minimal quoting, CRLF
    writer.writerow([_csv_text(h) for h in columns])
    writer.writerows(zip(*cells, strict=True))
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
        fh.write(buf.getvalue())
    return path


def _cell(value: Any) -> Any:
    """A table value as it goes into a spreadsheet cell: NaN, None and NA blank, numpy scalars
    as Python, infinities as ∞ / -∞ text, anything else that is not a number or text as text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("∞" if value > 0 else "-∞")
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _put(ws: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
    """One cell, typed by its Python type: text always as text (never a formula or a link)."""
    if isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt)
    elif value is not None:
        ws.write_string(row, col, str(value), fmt)


def write_xlsx(tables: Mapping[str, pd.DataFrame], path: str | Path, *, indicator_sheet: bool = False) -> Path:
    """Write tables as one formatted workbook, atomically: one sheet per table, a bold frozen
    header row, fitted columns.

    Every text cell is written as text (also text that begins with ``=`` or looks like a
    link), every number as a number; NaN and None leave the cell blank, infinities are
    written as ``∞`` / ``-∞``.

    Parameters
    ----------
    tables : mapping of sheet name to DataFrame
        Sheet names are cut to Excel's 31 characters; a non-default index is written as
        the first columns.
    path : path
        The ``.xlsx`` file to write.
    indicator_sheet : bool
        The tables of :func:`write_tables`: the first is the indicator table
        (:func:`indicator_table`), on the sheet ``指标 Indicators``; headers are
        :data:`HEADERS` (:data:`TASK_HEADERS` on the policy-task sheet), and the status of the
        indicator and task sheets is shown in Chinese and English on a pass / fail / missing
        fill.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with atomic_file(path) as tmp:
        _write_xlsx(tables, tmp, indicator_sheet=indicator_sheet)
    return path


#: xlsxwriter's options of every workbook. Text is written with write_string; the first three
#: only make sure no other path turns it into a formula, a link or a number. ``in_memory``
#: assembles the file in memory instead of writing each part to a temporary file first (the
#: same workbook, without a dozen temporary files per workbook).
_XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False, "in_memory": True}


def _write_xlsx(tables: Mapping[str, pd.DataFrame], path: Path, *, indicator_sheet: bool) -> None:
    with xlsxwriter.Workbook(str(path), dict(_XLSX_OPTIONS)) as book:
        header = book.add_format({"bold": True, "text_wrap": True, "valign": "vcenter", "bg_color": "#DDEBF7"})
        fills = {
            "pass": book.add_format({"bg_color": "#C6EFCE"}),
            "fail": book.add_format({"bg_color": "#FFC7CE"}),
            "no_data": book.add_format({"bg_color": "#FFEB9C"}),
            "missing": book.add_format({"bg_color": "#FFEB9C"}),
            "not_entered": book.add_format({"bg_color": "#EDEDED"}),
        }
        two_dp = book.add_format({"num_format": "0.00"})
        for i, (name, df) in enumerate(tables.items()):
            styled = indicator_sheet and i == 0
            frame = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
            task = indicator_sheet and str(name) in SHEET_NAMES
            if indicator_sheet:
                heads = TASK_HEADERS if task else HEADERS
                frame = frame.rename(columns={c: heads.get(c, c) for c in frame.columns})
            ws = book.add_worksheet(
                "指标 Indicators" if styled else _sheet_name(SHEET_NAMES.get(str(name), str(name)) if task else str(name), book)
            )
            columns = [str(c) for c in frame.columns]
            status_col = columns.index(HEADERS["status"]) if (styled or task) and HEADERS["status"] in columns else -1
            value_col = columns.index(HEADERS["value"]) if status_col >= 0 and HEADERS["value"] in columns else -1
            for j, col in enumerate(columns):
                ws.write_string(0, j, col, header)
            ws.freeze_panes(1, 0)
            for j, col in enumerate(frame.columns):
                values = [_cell(v) for v in frame[col].tolist()]
                for r, v in enumerate(values, start=1):
                    if j == status_col:
                        status = str(v)
                        ws.write_string(r, j, _STATUS_ZH.get(status, status), fills.get(status))
                    else:
                        _put(ws, r, j, v, two_dp if j == value_col and isinstance(v, float) else None)
                width = max([len(columns[j])] + [len(str(v)) for v in values[:200]]) + 2
                ws.set_column(j, j, min(max(width, 8), 60))


_SHEET_BAD = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _sheet_name(name: str, book: Any) -> str:
    """A sheet name Excel accepts: no ``[]:*?/\\``, not starting or ending with ``'``, at most
    31 characters, unique in the workbook."""
    base = name.translate(_SHEET_BAD).strip("'")[:31] or "sheet"
    taken = {ws.get_name().lower() for ws in book.worksheets()}
    out, n = base, 1
    while out.lower() in taken:
        n += 1
        out = f"{base[: 31 - len(str(n)) - 1]}~{n}"
    return out


class _Formats:
    """The workbook's cell formats, made once each."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self._cache: dict[tuple[Any, ...], Any] = {}

    def get(
        self, *, num: str | None = None, fill: str | None = None, bold: bool = False, wrap: bool = False, size: int = 0
    ) -> Any:
        key = (num, fill, bold, wrap, size)
        if key not in self._cache:
            spec: dict[str, Any] = {"valign": "top"}
            if num:
                spec["num_format"] = num
            if fill:
                spec["bg_color"] = fill
            if bold:
                spec["bold"] = True
            if wrap:
                spec["text_wrap"] = True
            if size:
                spec["font_size"] = size
            self._cache[key] = self.book.add_format(spec)
        return self._cache[key]


_FILLS = {
    "pass": "#C6EFCE",
    "fail": "#FFC7CE",
    "no_data": "#FFEB9C",
    "missing": "#FFEB9C",
    "not_entered": "#EDEDED",
    "closed": "#FFC7CE",
}
_HEADER_FILL = "#DDEBF7"


def _decimals_format(decimals: int | None) -> str:
    return "General" if decimals is None else "#,##0" + ("." + "0" * decimals if decimals > 0 else "")


def _num_format(f: _tablespec.Finished, row: int, col: str, lower: bool) -> str | None:
    spec = f.cols[col]
    if spec.kind == "by_unit":
        fmt = _decimals_format(_tablespec.value_decimals(f.unit(row)))
    else:
        fmt = spec.num_format() or "General"
    if lower and col == "value":
        fmt = '"≥ "' + (fmt if fmt != "General" else "0.0")
    return None if fmt == "General" else fmt


def _width(f: _tablespec.Finished, col: str, header: str) -> float:
    spec = f.cols[col]
    content = max([_tablespec.text_width(v) for v in f.shown_column(col)[:300]] or [0])
    head = min(_tablespec.text_width(header), 24)
    limit = spec.width or 60
    return float(min(max(content, head, 6) + 2, limit + 2))


def _table_sheet(ws: Any, fmt: _Formats, f: _tablespec.Finished, *, freeze_cols: int, lower: list[bool] | None = None) -> None:
    """One finished table: a bold, wrapped, frozen header row; every value typed, formatted and filled."""
    headers = f.headers()
    for j, h in enumerate(headers):
        ws.write_string(0, j, h, fmt.get(fill=_HEADER_FILL, bold=True, wrap=True))
    ws.set_row(0, 32)
    ws.freeze_panes(1, freeze_cols)
    for j, col in enumerate(f.frame.columns):
        width = _width(f, col, headers[j])
        wrap = width >= 40
        ws.set_column(j, j, width, fmt.get(wrap=wrap))
        # what is the same for every cell of the column, looked up once
        labels = f.labels.get(col)
        label_fmt = {}
        as_shown = f.cols[col].kind in ("bool", "text")
        by_unit = f.cols[col].kind == "by_unit"
        num_fmts: dict[tuple[str, bool], Any] = {}  # (the row's unit when it matters, lower bound) → format
        values = f.shown_column(col) if as_shown else _unrounded_column(f, col)
        for i, raw in enumerate(f.raw_column(col)):
            if labels is not None and isinstance(raw, str):
                if raw not in label_fmt:
                    label_fmt[raw] = fmt.get(fill=_FILLS.get(raw) if col == "status" else None)
                ws.write_string(i + 1, j, labels.get(raw, raw), label_fmt[raw])
                continue
            v = values[i]
            if type(v) is str:  # text as it is, unformatted (what _cell and _put do with it)
                ws.write_string(i + 1, j, v)
                continue
            if v is None:
                continue
            v = _cell(v)
            cell_fmt = None
            if isinstance(v, (int, float)):
                low = bool(lower[i]) if lower is not None else False
                key = (f.unit(i) if by_unit else "", low)
                if key not in num_fmts:
                    num_fmts[key] = fmt.get(num=_num_format(f, i, col, low), wrap=wrap)
                cell_fmt = num_fmts[key]
            _put(ws, i + 1, j, v, cell_fmt)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)


def _unrounded_column(f: _tablespec.Finished, col: str) -> list[Any]:
    """A column's numbers for the XLSX: percentages ×100 but not rounded (the cell's format shows
    the decimals), whole-number columns rounded; other values as a planner reads them."""
    kind = f.cols[col].kind
    out = []
    for v, shown in zip(f.raw_column(col), f.shown_column(col), strict=True):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            out.append(shown)
        elif kind == "fraction":
            out.append(100.0 * v)
        elif kind == "int":
            out.append(round(v))
        else:
            out.append(v)
    return out


def _summary_sheet(
    ws: Any,
    fmt: _Formats,
    ind: _tablespec.Finished,
    *,
    title: str,
    provenance: Provenance | None,
    n_notes: int,
    summary: tuple[_tablespec.Finished, list[bool]] | None = None,
) -> None:
    """The first sheet: the summary a town submits — who, when, which rules and data; the rows; what is missing.

    ``summary``: :func:`_summary` of the indicator table, when already made."""
    f, lower = summary or _summary(ind.frame)
    widths = [8, 34, 12, 9, 11, 18, 62]
    for j, w in enumerate(widths):
        ws.set_column(j, j, w)
    last = len(widths) - 1
    ws.merge_range(0, 0, 0, last, title, fmt.get(bold=True, size=14))
    ws.set_row(0, 24)
    r = 1
    lines = provenance.header_lines() if provenance is not None else []
    for label, value in lines:
        warn = label.startswith("⚠")
        ws.merge_range(r, 0, r, 1, label, fmt.get(bold=True, fill="#FFEB9C" if warn else None))
        ws.merge_range(r, 2, r, last, value, fmt.get(wrap=True, fill="#FFEB9C" if warn else None))
        ws.set_row(r, 15 * max(1, math.ceil(_tablespec.text_width(value) / 110)))
        r += 1
    r += 1
    head = r
    for j, h in enumerate(f.headers()):
        ws.write_string(r, j, h, fmt.get(fill=_HEADER_FILL, bold=True, wrap=True))
    ws.set_row(r, 30)
    unrounded = {col: _unrounded_column(f, col) for col in f.frame.columns if col != "status"}
    for i in range(len(f.frame)):
        r += 1
        for j, col in enumerate(f.frame.columns):
            if col == "status":
                raw = f.raw(i, col)
                ws.write_string(r, j, _STATUS_ZH.get(str(raw), str(raw)), fmt.get(fill=_FILLS.get(str(raw))))
                continue
            v = _cell(unrounded[col][i])
            num = _num_format(f, i, col, lower[i]) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            _put(ws, r, j, v, fmt.get(num=num, wrap=col in ("remark", "name_zh")))
    r += 2
    counts = ind.frame["status"].value_counts()
    tally = "  ".join(f"{_STATUS_ZH[k]}: {int(counts.get(k, 0))}" for k in ("pass", "fail", "no_data", "not_entered"))
    ws.merge_range(r, 0, r, last, f"合计 Count — {tally}", fmt.get(bold=True))
    r += 1
    gaps = [str(x) for x in ind.frame.loc[ind.frame["status"] == "no_data", "name_zh"]]
    if gaps:
        text = (
            f"缺数据 Data missing — {len(gaps)} row(s) rest on facilities or layers no data source holds: they are lower "
            "bounds, not failures. Add an Amap (高德) / Baidu POI export or the town's own table (see 设施清单 Inventory)."
        )
        ws.merge_range(r, 0, r, last, text, fmt.get(wrap=True, fill="#FFEB9C"))
        ws.set_row(r, 30)
        r += 1
    sources = [str(x) for x in ind.frame.get("target_source", pd.Series(dtype=object)).dropna()]
    drafts = {c.document.citation(): None for s in sources if documents.reading(s) == "draft" for c in documents.cite(s)}
    if drafts:
        ws.merge_range(
            r,
            0,
            r,
            last,
            "目标值 Targets: " + "; ".join(drafts) + " — 取自征求意见稿，以正式文本为准 taken from a consultation draft; "
            "check them against the final text",
            fmt.get(wrap=True),
        )
        ws.set_row(r, 30)
        r += 1
    if provenance is not None and provenance.attribution:
        ws.merge_range(r, 0, r, last, f"地图与设施数据 Map and facility data {provenance.attribution}", fmt.get())
        r += 1
    ws.merge_range(
        r,
        0,
        r,
        last,
        f"每项假设与提示见“说明 Notes”表（{n_notes} 条）Every assumption and warning: the 说明 Notes sheet",
        fmt.get(),
    )
    ws.freeze_panes(head + 1, 0)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(head)


def _report_xlsx(
    fin: Mapping[str, _tablespec.Finished],
    path: Path,
    *,
    title: str,
    provenance: Provenance | None,
    summary: tuple[_tablespec.Finished, list[bool]] | None = None,
) -> None:
    """The report workbook: 汇总 Summary first, then every table, 说明 Notes last.

    ``summary``: :func:`_summary` of the indicator table, when already made."""
    with xlsxwriter.Workbook(str(path), dict(_XLSX_OPTIONS)) as book:
        fmt = _Formats(book)
        names = list(fin)
        main = fin[names[0]]
        is_indicators = {"status", "origin", "lower_bound"} <= set(main.frame.columns)
        if is_indicators:
            n_notes = len(fin["notes"].frame) if "notes" in fin else 0
            ws = book.add_worksheet("汇总 Summary")
            _summary_sheet(ws, fmt, main, title=title, provenance=provenance, n_notes=n_notes, summary=summary)
        for k, (name, f) in enumerate(fin.items()):
            sheet = "指标 Indicators" if k == 0 and is_indicators else _tablespec.sheet_title(name)
            ws = book.add_worksheet(_sheet_name(sheet, book))
            lower = [bool(v) for v in f.frame["lower_bound"]] if k == 0 and "lower_bound" in f.frame else None
            freeze = 0 if name == "notes" else (2 if k == 0 and is_indicators else 1)
            _table_sheet(ws, fmt, f, freeze_cols=freeze, lower=lower)


@functools.lru_cache(maxsize=1)
def _package_versions() -> tuple[tuple[str, str | None], ...]:
    """The versions of the packages that compute a run, looked up once per process."""
    out: list[tuple[str, str | None]] = []
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
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


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
            files[key] = {"path": str(path), "sha256": input_sha256(path), "bytes": path.stat().st_size}
        else:
            files[key] = {"path": str(p), "sha256": None, "note": "not a local file (online source or in-memory)"}
    pkgs = dict(_package_versions())
    return {
        "inputs": files,
        "config": config,
        "profile": profile.model_dump(mode="json"),
        "assumptions": [{"rule": k, "source": s} for k, s in profile.assumptions()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": pkgs,
    }
