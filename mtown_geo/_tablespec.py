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
from dataclasses import dataclass, field
from typing import Any, Literal, cast

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
    "indicators": {
        "row": Col("序号", "Row"),
        "name_zh": Col("指标", "Indicator", width=30),
        "name_en": Col("指标（英文）", "Indicator (English)", width=36),
        "unit": Col("单位", "Unit"),
        "value": Col("数值", "Value", kind="by_unit"),
        "lower_bound": Col("仅为下限", "Lower bound only", kind="bool"),
        "target_2023": Col("2023 目标", "Target", kind="by_unit"),
        "target_2025": Col("2025 目标", "Target", kind="by_unit"),
        "target_2027": Col("2027 目标", "Target", kind="by_unit"),
        "year": Col("考核年份", "Year"),
        "target": Col("当年目标", "Target", kind="by_unit"),
        "target_source": Col("目标来源", "Target from", width=36),
        "status": Col("是否达标", "Status", width=18),
        "denominator": Col("分母", "Denominator", width=30),
        "origin": Col("来源", "Origin"),
        "verified": Col("口径与目标已核实", "Rule and target verified", kind="bool"),
        "note": Col("说明", "Note", width=80),
    },
    "summary": {
        "row": Col("序号", "Row"),
        "name_zh": Col("指标", "Indicator", width=34),
        "value": Col("数值", "Value", kind="by_unit"),
        "unit": Col("单位", "Unit"),
        "target": Col("当年目标", "Target", kind="by_unit"),
        "status": Col("状态", "Status", width=18),
        "remark": Col("备注", "Remark", width=60),
    },
    "tasks": {
        "task": Col("任务", "Task", width=30),
        "key": Col("代码", "Key", width=18),
        "name_zh": Col("指标", "Indicator", width=24),
        "name_en": Col("指标（英文）", "Indicator (English)", width=30),
        "unit": Col("单位", "Unit"),
        "value": Col("数值", "Value", kind="by_unit"),
        "target": Col("目标", "Target", width=24),
        "status": Col("是否达标", "Status", width=18),
        "denominator": Col("分母", "Denominator", width=24),
        "verified": Col("口径已核实", "Rule verified", kind="bool"),
        "reference": Col("参考值", "References", width=40),
        "source": Col("口径来源", "Rule source", width=40),
        "note": Col("说明", "Note", width=80),
    },
    "inventory": {
        "category": Col("类别", "Category", width=18),
        "name_zh": Col("设施", "Facility", width=24),
        "name_en": Col("设施（英文）", "Facility (English)", width=30),
        "needed_for": Col("用于", "Needed for", width=12),
        "in_town": Col("镇域内", "Inside the town", "处", "int"),
        "in_buffer": Col("缓冲区内", "Within the buffer", "处", "int"),
        "total": Col("合计", "Total", "处", "int"),
        "not_public": Col("不对外开放", "Not open to the public", "处", "int"),
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
    "zones_*": {
        "zone": Col("分区", "Zone", width=20),
        "total": Col("合计", "Total", "{weight}", "float", 0),
        "__circle__": Col("生活圈", "Whole circle", kind="fraction", decimals=1),
    },
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
    "green_land": {
        "green_class": Col("绿地类别", "Green land class", width=16),
        "area_m2": Col("计入面积", "Area counted", _M2, "float", 0),
        "raw_m2": Col("本类面积", "Area of the class alone", _M2, "float", 0),
    },
    "neighbourhood_zones": {
        "zone": Col("社区", "Community", width=20),
        "n_inside": Col("内部邻里中心", "Centres inside", "处", "int"),
        "dist_m": Col("最近邻里中心距离", "Distance to the nearest centre", "m", "float", 0),
        "covered": Col("已覆盖", "Covered", kind="bool"),
    },
    "task_villages": {
        "village": Col("村庄", "Village", width=18),
        "source": Col("来源", "Source"),
        "status": Col("双车道状态", "Two-lane status", width=14),
        "weak_status": Col("最弱路段状态", "Weakest link status", width=14),
        "path_km": Col("至镇政府路程", "Path to the town seat", "km", "float", 2),
        "fail_km": Col("不达标路段", "Failing stretches", "km", "float", 2),
        "unknown_km": Col("未知路段", "Unknown stretches", "km", "float", 2),
        "weak_link_road": Col("最弱路段", "Weakest link road", width=18),
        "weak_link_highway": Col("最弱路段等级", "Weakest link class"),
        "weak_link_osm_id": Col("最弱路段 OSM 编号", "Weakest link OSM id", kind="int"),
        "weak_link_reason": Col("最弱原因", "Weakest link reason", width=30),
        "weak_link_m": Col("最弱路段长度", "Weakest link length", "m", "float", 0),
        "note": Col("说明", "Note", width=60),
        "bus_stop_dist_m": Col("最近公交站距离", "Nearest bus stop", "m", "float", 0),
        "bus_within_far": Col("2 公里内有公交站", "Bus stop within 2 km", kind="bool"),
        "bus_within_near": Col("500 米内有公交站", "Bus stop within 500 m", kind="bool"),
        "charger_drive_min": Col("至充电站车程", "Drive to a public charger", "min", "float", 1),
        "charger_within": Col("半小时内有充电站", "Charger within 30 minutes", kind="bool"),
    },
    "notes": {
        "section": Col("部分", "Section", width=24),
        "item": Col("项目", "Item", width=30),
        "text": Col("内容", "Text", width=120),
    },
}

#: The unit of a weight column by the weight's name (the demand units' column; ``None``: each unit counts 1).
_WEIGHT_UNIT: dict[str | None, str] = {
    "res_area_m2": _M2,
    "area_m2": _M2,
    "pop": "人",
    None: "个 villages",
}


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
        weights = frame["weight"]
        # the column's distinct values, missing ones left out (``dropna().unique()``), as text
        ws = {str(w) for w in dict.fromkeys(w for w, na in zip(weights.tolist(), weights.isna().tolist(), strict=True) if not na)}
        # no weight column name: every unit counted 1 (villages)
        ctx["weight"] = "/".join(sorted({_WEIGHT_UNIT.get(w, w) for w in ws})) if ws else _WEIGHT_UNIT[None]
    elif "weight" in attrs:
        w = attrs["weight"]
        ctx["weight"] = _WEIGHT_UNIT.get(None if w is None else str(w), str(w))
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
    """A table ready to write: its frame with the keys as columns, the spec of each column,
    and what coded values read as (``labels``: per column, value → text)."""

    frame: pd.DataFrame
    cols: dict[str, Col]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # the frame's columns and the rows' units, looked up once: the writers read them cell by cell
    _memo: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def headers(self) -> list[str]:
        return [self.cols[c].header() for c in self.frame.columns]

    def units(self) -> list[str]:
        """Each row's unit (the ``unit`` column of the indicator and task tables), else ``""``."""
        return list(self._units())

    def _units(self) -> list[str]:
        if ("units", "") not in self._memo:
            if "unit" in self.frame:
                self._memo[("units", "")] = [str(u) if isinstance(u, str) else "" for u in self.frame["unit"].tolist()]
            else:
                self._memo[("units", "")] = [""] * len(self.frame)
        units: list[str] = self._memo[("units", "")]
        return units

    def unit(self, row: int) -> str:
        """The unit of one row (see :meth:`units`)."""
        return self._units()[row]

    def raw(self, row: int, col: str) -> Any:
        """One value as the frame holds it (``frame[col].iloc[row]``), the column read once."""
        return self.raw_column(col)[row]

    def raw_column(self, col: str) -> list[Any]:
        """Every value of a column as ``frame[col].iloc[row]`` gives it (numpy scalars stay numpy
        scalars, timestamps stay timestamps), read in one pass: the writers ask cell by cell."""
        values = self._memo.get(("column", col))
        if values is None:
            array = self.frame[col].array
            data = array.to_numpy() if isinstance(array, pd.arrays.NumpyExtensionArray) else None
            # a plain numpy column yields what .iloc yields; other arrays are indexed as .iloc does
            values = list(data) if data is not None else [array[i] for i in range(len(array))]
            self._memo[("column", col)] = values
        return cast(list[Any], values)

    def value(self, row: int, col: str) -> Any:
        """One value as a planner reads it (see :meth:`shown`)."""
        return self._shown_column(col)[row]

    def shown_column(self, col: str) -> list[Any]:
        """Every value of a column as a planner reads it (:meth:`value` of each row), made once;
        the list is the table's own: read it, never change it."""
        return self._shown_column(col)

    def _shown_column(self, col: str) -> list[Any]:
        """Every value of a column as a planner reads it, made once (the writers ask cell by cell)."""
        shown = self._memo.get(("shown", col))
        if shown is None:
            shown = self._memo[("shown", col)] = self._shown_values(col)
        values: list[Any] = shown
        return values

    def _shown_values(self, col: str) -> list[Any]:
        """Each value of a column as a planner reads it: a coded text as its label, else
        :func:`shown_value` under the column's spec (``by_unit``: decimals by the row's unit)."""
        spec = self.cols[col]
        labels = self.labels.get(col)
        raw = self.raw_column(col)
        if spec.kind != "by_unit":
            if labels is None:
                return [shown_value(v, spec) for v in raw]
            return [labels.get(v, v) if isinstance(v, str) else shown_value(v, spec) for v in raw]
        by_decimals: dict[int, Col] = {}
        out: list[Any] = []
        for v, unit in zip(raw, self._units(), strict=True):
            if labels is not None and isinstance(v, str):
                out.append(labels.get(v, v))
                continue
            d = value_decimals(unit)
            if d is None:  # a count or an amount: as entered, a whole number without decimals
                whole = isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and float(v).is_integer()
                d = 0 if whole else 2
            row_spec = by_decimals.get(d)
            if row_spec is None:
                row_spec = by_decimals[d] = Col(spec.zh, spec.en, spec.unit, "float", d)
            out.append(shown_value(v, row_spec))
        return out

    def shown(self) -> pd.DataFrame:
        """The values as a planner reads them: percentages ×100, numbers rounded, 是 / 否, coded
        values as their labels; the headers as column names."""
        return pd.DataFrame({h: pd.Series(list(v), dtype=object) for h, v in self.shown_columns().items()})

    def shown_columns(self) -> dict[str, list[Any]]:
        """The columns of :meth:`shown` as lists, by header (a header given twice keeps its
        first place and its last column, as in :meth:`shown`)."""
        return {self.cols[c].header(): self._shown_column(c) for c in self.frame.columns}


def finished(
    table: str,
    df: pd.DataFrame,
    *,
    attrs: Mapping[str, Any] | None = None,
    labels: Mapping[str, Mapping[str, str]] | None = None,
    categories: Mapping[str, tuple[str, str]] | None = None,
) -> Finished:
    """A table with its index as a named column and every column's spec (see the module's docstring).

    Parameters
    ----------
    table : str
        The table's name (``inventory``, ``coverage_15min``...): it picks the specs.
    df : DataFrame
        The table as the run made it; not modified.
    attrs : mapping, optional
        ``crs`` (for coordinate headers) and ``weight`` when the frame has no weight column.
    labels : mapping, optional
        Per column, what its coded values read as (``{"status": {"pass": "达标 pass"}}``).
    categories : mapping, optional
        Category id → (Chinese, English) name: columns named by a category (the per-zone
        tables) are its coverage rate in %.
    """
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        frame = df.reset_index(names=df.index.name or "index")  # a new frame: df is left as it is
    else:
        frame = df.copy()
    specs = dict(spec_of(table))
    for key, (zh, en) in (categories or {}).items():
        if table.startswith("zones_") and key not in specs:
            specs[key] = Col(zh, en, kind="fraction", decimals=1)
    ctx = _context(frame, attrs or {})
    cols = {str(c): _fill(specs[str(c)], ctx) if str(c) in specs else _guess(str(c), frame[c]) for c in frame.columns}
    frame.columns = [str(c) for c in frame.columns]
    return Finished(frame, cols, {k: dict(v) for k, v in (labels or {}).items()})


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
        "neighbourhood_zones": "邻里中心分区 Centres by zone",
        "task_villages": "村庄 Villages (tasks)",
    }
    if table in titles:
        return titles[table]
    if m:
        kind, circle = m.groups()
        zh = {"coverage": "覆盖率", "k_of_n": "k类", "zones": "分区", "siting": "补短板", "sites": "新增点位"}[kind]
        en = {"coverage": "coverage", "k_of_n": "k of n", "zones": "zones", "siting": "siting", "sites": "sites"}[kind]
        return f"{circle.replace('min', '分钟')}{zh} {circle} {en}"[:31]
    return table[:31]


#: The characters a spreadsheet shows two units wide (CJK and full-width: U+2E80 and up).
_WIDE = re.compile("[\u2e80-\U0010ffff]")


def text_width(text: Any) -> int:
    """Width of a text in a spreadsheet's character units: CJK and full-width characters count two."""
    s = str(text)
    return len(s) if s.isascii() else len(s) + len(_WIDE.findall(s))
