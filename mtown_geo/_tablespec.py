"""How each column of a report table is shown: bilingual header, unit, number format, width.

Every table a run writes goes through :func:`finished`: the keys become headers in Chinese
with the English beside them and the unit in brackets (``覆盖率 Coverage (%)``), shares of
0–1 become percentages, numbers get a fixed number of decimals, booleans read 是 / 否, and
the index becomes a named first column (so a ``k_of_n`` table says which *k* each row is).
The XLSX writer uses the same specs for its number formats and column widths; CSV and
Markdown get the rounded values; JSON keeps the raw values with the specs beside them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["text", "int", "float", "fraction", "percent", "bool", "by_unit"]


@dataclass(frozen=True)
class Col:
    """How one column is shown.

    ``kind``: ``text``; ``int`` (thousands separated); ``float`` (``decimals`` places);
    ``fraction`` (a share of 0–1 shown as a percentage); ``percent`` (already 0–100);
    ``bool`` (是 yes / 否 no); ``by_unit`` (the decimals follow each row's unit, for the
    indicator table's values).
    """

    zh: str
    en: str
    unit: str = ""
    kind: Kind = "text"
    decimals: int = 2
    width: int | None = None

    def header(self) -> str:
        unit = "%" if self.kind in ("fraction", "percent") and not self.unit else self.unit
        text = f"{self.zh} {self.en}".strip()
        return f"{text} ({unit})" if unit else text

    def num_format(self) -> str | None:
        """The XLSX number format of the column's cells (on the values as :func:`finished` gives them)."""
        if self.kind == "int":
            return "#,##0"
        if self.kind in ("float", "fraction", "percent"):
            return "#,##0" + ("." + "0" * self.decimals if self.decimals > 0 else "")
        return None


_M2 = "m²"
#: Columns known in every table (a table's own spec, :data:`TABLES`, comes first).
COMMON: dict[str, Col] = {
    "category": Col("类别", "Category", width=16),
    "name_zh": Col("名称", "Name", width=22),
    "name_en": Col("名称（英文）", "Name (English)", width=28),
    "required": Col("必需", "Required", kind="bool"),
    "threshold_min": Col("时间阈值", "Threshold", "min", "float", 1),
    "rate": Col("覆盖率", "Coverage", kind="fraction", decimals=1),
    "weight": Col("权重", "Weight"),
    "verified": Col("口径已核实", "Rule verified", kind="bool"),
    "note": Col("说明", "Note", width=60),
    "status": Col("状态", "Status", width=16),
    "target": Col("目标", "Target", kind="fraction", decimals=1),
    "area_m2": Col("面积", "Area", _M2, "float", 0),
    "raw_m2": Col("原始面积", "Area before overlaps removed", _M2, "float", 0),
    "pop": Col("人口", "Residents", "人", "float", 0),
    "km": Col("长度", "Length", "km", "float", 2),
    "units": Col("单元数", "Units", kind="int"),
    "total": Col("合计", "Total", kind="float", decimals=0),
}

#: Each table's own columns (name patterns: ``coverage_*`` for every circle).
TABLES: dict[str, dict[str, Col]] = {
    "inventory": {
        "category": Col("类别", "Category", width=18),
        "name_zh": Col("设施", "Facility", width=24),
        "name_en": Col("设施（英文）", "Facility (English)", width=30),
        "needed_for": Col("用于", "Needed for", width=12),
        "in_town": Col("镇域内", "Inside the town", "处", "int"),
        "in_buffer": Col("缓冲区内", "Within the buffer", "处", "int"),
        "total": Col("合计", "Total", "处", "int"),
        "status": Col("数据状态", "Data", width=18),
        "note": Col("需补充的数据", "What to add", width=70),
    },
    "coverage_*": {
        "name_zh": Col("设施", "Facility", width=22),
        "name_en": Col("设施（英文）", "Facility (English)", width=28),
        "covered": Col("已覆盖", "Covered", "{weight}", "float", 0),
        "total": Col("合计", "Total", "{weight}", "float", 0),
        "rate": Col("覆盖率", "Coverage", kind="fraction", decimals=1),
    },
    "zones_*": {"total": Col("合计", "Total", "{weight}", "float", 0)},
    "k_of_n_*": {
        "k": Col("达到类别数 k", "Categories reached k", "of {n}", "int"),
        "weight_sum": Col("权重合计", "Weight", "{weight}", "float", 0),
        "share": Col("恰好 k 类占比", "Share reaching exactly k", kind="fraction", decimals=1),
        "share_at_least": Col("至少 k 类占比", "Share reaching k or more", kind="fraction", decimals=1),
    },
    "parks": {
        "rule": Col("规则", "Rule"),
        "rule_name": Col("规则名称", "Rule name", width=40),
        "parks": Col("有服务半径的公园", "Parks with a radius", "处", "int"),
        "covered_m2": Col("覆盖居住用地", "Residential land covered", _M2, "float", 0),
        "total_m2": Col("居住用地合计", "Residential land", _M2, "float", 0),
        "rate": Col("覆盖率", "Coverage", kind="fraction", decimals=1),
        "network_covered_m2": Col("步行覆盖居住用地", "Covered walking from entrances", _M2, "float", 0),
        "network_rate": Col("步行覆盖率", "Coverage walking from entrances", kind="fraction", decimals=1),
        "park_m2_per_person": Col("人均公园面积", "Park area per resident", "m²/人", "float", 1),
        "park_m2_per_person_min": Col("人均下限", "Minimum per resident", "m²/人", "float", 1),
        "meets_gb55014": Col("符合 GB 55014", "Meets GB 55014-2021", kind="bool"),
    },
    "parks_by_class": {
        "size_class": Col("规模等级", "Size class"),
        "size_label": Col("规模", "Size", width=20),
        "min_area_m2": Col("面积下限", "Area from", _M2, "float", 0),
        "max_area_m2": Col("面积上限", "Area below", _M2, "float", 0),
        "radius_m": Col("服务半径", "Service radius", "m", "float", 0),
        "parks": Col("公园数", "Parks", "处", "int"),
        "park_area_m2": Col("公园面积", "Park area", _M2, "float", 0),
        "covered_m2": Col("覆盖居住用地", "Residential land covered", _M2, "float", 0),
        "rate": Col("覆盖率", "Coverage", kind="fraction", decimals=1),
        "network_covered_m2": Col("步行覆盖居住用地", "Covered walking from entrances", _M2, "float", 0),
        "network_rate": Col("步行覆盖率", "Coverage walking from entrances", kind="fraction", decimals=1),
    },
    "greenways": {
        "km": Col("绿道长度", "Greenway length", "km", "float", 2),
        "raw_km": Col("去重前长度", "Length before de-duplication", "km", "float", 2),
        "pop": Col("常住人口", "Residents", "人", "float", 0),
        "km_per_10k": Col("万人拥有绿道长度", "Greenway per 10,000 residents", "km/万人", "float", 2),
        "target": Col("目标", "Target", "km/万人", "float", 2),
        "meets_target": Col("达标", "Meets the target", kind="bool"),
        "lines": Col("线段数", "Lines", kind="int"),
        "tolerance_m": Col("去重容差", "De-duplication tolerance", "m", "float", 0),
        "service_radius_m": Col("服务半径", "Service radius", "m", "float", 0),
        "service_rate": Col("绿道服务半径覆盖率", "Residential land within the radius", kind="fraction", decimals=1),
    },
    "siting_*": {
        "category": Col("类别", "Category", width=16),
        "name_zh": Col("设施", "Facility", width=22),
        "coverage_now": Col("现状覆盖率", "Coverage now", kind="fraction", decimals=1),
        "target": Col("目标", "Target", kind="fraction", decimals=1),
        "target_source": Col("目标依据", "Target from", width=36),
        "new_sites": Col("新增设施", "New sites", "处", "int"),
        "coverage_after": Col("新增后覆盖率", "Coverage after", kind="fraction", decimals=1),
        "target_reached": Col("可达标", "Target reached", kind="bool"),
        "max_coverage": Col("最高可达", "Best possible", kind="fraction", decimals=1),
        "at_least_sites": Col("至少需新增", "At least this many sites", "处", "int"),
        "method": Col("方法", "Method"),
        "note": Col("说明", "Note", width=70),
    },
    "sites_*": {
        "category": Col("类别", "Category", width=16),
        "name_zh": Col("设施", "Facility", width=22),
        "order": Col("顺序", "Order", kind="int"),
        "lon_wgs84": Col("经度", "Longitude", "WGS-84 °", "float", 6),
        "lat_wgs84": Col("纬度", "Latitude", "WGS-84 °", "float", 6),
        "lon_gcj02": Col("经度", "Longitude", "GCJ-02 高德 °", "float", 6),
        "lat_gcj02": Col("纬度", "Latitude", "GCJ-02 高德 °", "float", 6),
        "x": Col("X 坐标", "Easting", "{crs}, m", "float", 1),
        "y": Col("Y 坐标", "Northing", "{crs}, m", "float", 1),
        "coverage": Col("累计覆盖率", "Coverage with this site", kind="fraction", decimals=1),
        "coverage_gain": Col("新增覆盖", "Gain", kind="fraction", decimals=1),
    },
    "notes": {
        "section": Col("部分", "Section", width=24),
        "item": Col("项目", "Item", width=30),
        "text": Col("内容", "Text", width=120),
    },
}

_WEIGHT_UNIT = {"residential": _M2, "area": _M2, "pop": "人", "units": "个 villages"}


def spec_of(table: str) -> dict[str, Col]:
    """The column specs of a table by its name (``coverage_15min`` takes ``coverage_*``), over :data:`COMMON`."""
    own: dict[str, Col] = {}
    for pattern, cols in TABLES.items():
        if pattern == table or (pattern.endswith("*") and table.startswith(pattern[:-1])):
            own = cols
            break
    return {**COMMON, **own}


def _context(frame: pd.DataFrame, attrs: Mapping[str, Any]) -> dict[str, str]:
    """What a header's placeholders stand for: the weight's unit, the k of n, the CRS."""
    ctx = {"weight": "", "n": "", "crs": str(attrs.get("crs", ""))}
    if "weight" in frame and len(frame):
        ws = {str(w) for w in frame["weight"].dropna().unique()}
        ctx["weight"] = "/".join(sorted({_WEIGHT_UNIT.get(w, w) for w in ws}))
    elif "weight" in attrs:
        ctx["weight"] = _WEIGHT_UNIT.get(str(attrs["weight"]), str(attrs["weight"]))
    if "k" in frame and len(frame):
        ctx["n"] = str(int(frame["k"].max()))
    return ctx


def _fill(col: Col, ctx: Mapping[str, str]) -> Col:
    if "{" not in col.unit:
        return col
    unit = col.unit.format(**ctx).strip(" ,")
    return Col(col.zh, col.en, unit, col.kind, col.decimals, col.width)


def _guess(name: str, values: pd.Series) -> Col:
    """The spec of a column no table names: header from its key, format from its values."""
    en = str(name).replace("_", " ")
    if pd.api.types.is_bool_dtype(values):
        return Col("", en, kind="bool")
    if pd.api.types.is_integer_dtype(values):
        return Col("", en, kind="int")
    if pd.api.types.is_float_dtype(values):
        unit = next(
            (u for suffix, u in (("_m2", _M2), ("_km", "km"), ("_m", "m"), ("_min", "min")) if str(name).endswith(suffix)), ""
        )
        return Col("", en, unit, "float", 0 if unit in (_M2, "m") else 2)
    return Col("", en)


@dataclass(frozen=True)
class Finished:
    """A table ready to write: its frame with the keys as columns, and the spec of each column."""

    frame: pd.DataFrame
    cols: dict[str, Col]

    def headers(self) -> list[str]:
        return [self.cols[c].header() for c in self.frame.columns]

    def shown(self) -> pd.DataFrame:
        """The values as a planner reads them: percentages ×100, numbers rounded, 是 / 否; keys as headers."""
        out = {}
        for c in self.frame.columns:
            out[self.cols[c].header()] = [shown_value(v, self.cols[c]) for v in self.frame[c].tolist()]
        return pd.DataFrame(out)


def finished(table: str, df: pd.DataFrame, *, attrs: Mapping[str, Any] | None = None) -> Finished:
    """A table with its index as a named column and every column's spec (see the module's docstring).

    Parameters
    ----------
    table : str
        The table's name (``inventory``, ``coverage_15min``...): it picks the specs.
    df : DataFrame
        The table as the run made it; not modified.
    attrs : mapping, optional
        ``crs`` (for coordinate headers) and ``weight`` when the frame has no weight column.
    """
    frame = df.copy()
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        name = frame.index.name or "index"
        frame = frame.reset_index(names=name)
    specs = spec_of(table)
    ctx = _context(frame, attrs or {})
    cols = {str(c): _fill(specs[str(c)], ctx) if str(c) in specs else _guess(str(c), frame[c]) for c in frame.columns}
    frame.columns = [str(c) for c in frame.columns]
    return Finished(frame, cols)


def shown_value(value: Any, col: Col) -> Any:
    """One value as a planner reads it (see :meth:`Finished.shown`): None for a blank."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if col.kind == "bool":
        if isinstance(value, (bool, np.bool_)):
            return "是 yes" if value else "否 no"
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if col.kind == "fraction":
        return round(100.0 * value, col.decimals)
    if col.kind == "int":
        return round(value)
    if col.kind in ("float", "percent"):
        return round(float(value), col.decimals) if col.decimals > 0 else round(value)
    return value


#: Decimals of an indicator value by its unit.
_UNIT_DECIMALS = {"%": 1, "％": 1, "km/万人": 2}


def value_decimals(unit: str) -> int | None:
    """Decimals of an indicator-table value in this unit (``None``: as entered)."""
    return _UNIT_DECIMALS.get(str(unit).strip())


def sheet_title(table: str) -> str:
    """A sheet's title in Chinese and English, at most 31 characters (Excel's limit)."""
    m = re.match(r"^(coverage|k_of_n|zones|siting|sites)_(\d+min)$", table)
    titles = {
        "summary": "汇总 Summary",
        "indicators": "指标 Indicators",
        "inventory": "设施清单 Inventory",
        "parks": "公园 Parks",
        "parks_by_class": "公园分级 Parks by size",
        "greenways": "绿道 Greenways",
        "notes": "说明 Notes",
        "tasks": "主要任务 policy tasks",
        "green_land": "绿地 Green land",
    }
    if table in titles:
        return titles[table]
    if m:
        kind, circle = m.groups()
        zh = {"coverage": "覆盖率", "k_of_n": "k类", "zones": "分区", "siting": "补短板", "sites": "新增点位"}[kind]
        en = {"coverage": "coverage", "k_of_n": "k of n", "zones": "zones", "siting": "siting", "sites": "sites"}[kind]
        return f"{circle.replace('min', '分钟')}{zh} {circle} {en}"[:31]
    return table[:31]
