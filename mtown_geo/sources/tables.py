"""Facility tables: CSV/XLSX lists with coordinates, and Amap (高德) or Baidu (百度) POI exports.

:func:`read_facility_table` turns a table of facilities into a facility layer in the
profile's categories (the columns of :data:`mtown_geo.facilities.COLUMNS`), in WGS-84:

* **Files**: CSV (UTF-8, UTF-8 with BOM, or GBK/GB18030 as Chinese Excel writes it;
  comma, semicolon, tab or ``|`` separated) and XLSX.
* **Coordinates**: longitude/latitude columns recognised by their names (经度/纬度,
  lng/lat, lon/lat, longitude/latitude, x/y, X坐标/Y坐标, ``wgs84_lng``, ``gcj02_lat``,
  百度经度...) or one ``location`` column of ``"lng,lat"`` strings (Amap). Projected
  X/Y in metres are accepted with an EPSG code (CGCS2000 Gauss–Krüger zones...);
  surveyors' tables that call the northing X are recognised and read the right way.
* **Coordinate systems**: converted to WGS-84 according to ``crs``. An Amap export
  is GCJ-02 and a Baidu export BD-09 unless ``crs`` says otherwise; a column name such
  as ``wgs84_lng`` or ``gcj_lat`` also tells. A table is taken for an Amap export by
  its columns (``typecode``, ``pname``, ``adname``...), by Amap type codes (``141203``)
  in its 类型编码/typecode column, by Amap type texts (``科教文化服务;学校;小学``) or
  Amap POI ids; for a Baidu export by its columns (``uid``, ``detail_info.tag``...) or
  Baidu tags (``教育培训;小学``) — Chinese headers (名称/类型/类型编码/经度/纬度) as well
  as English ones. The system taken and why is logged and listed in the report's
  ``notes``. CGCS2000 is used as it is.
* **Categories**, in this order: a category column (the profile's category ids such
  as ``kindergarten``, English or Chinese names such as 幼儿园, or aliases such as 托育
  and 卫生院 — :meth:`~mtown_geo.standards.Profile.resolve_category`, whatever the
  case); an Amap ``typecode`` (through the profile's ``amap_typecodes``; several codes
  may be joined by ``|``); a Baidu type or tag such as ``教育培训;幼儿园`` (through
  ``baidu_types``); and, for rows whose type maps to nothing and tables with none of
  these columns, the facility's name (幼儿园, 小学, 卫生院... through the profile's
  name patterns, by :func:`mtown_geo.facilities.classify`) — except rows typed as
  restaurants, shops, hotels, car services, banks, companies or housing, which a name
  would misplace. A row matched by its type whose name holds one of the category's
  excluded patterns (a 建材市场 is no food market) is not counted. A row in several
  categories gives one row per category.

Nothing is dropped silently: a category name the profile does not know raises an
:class:`~mtown_geo.InputError` listing each one with its rows and the closest known
names; rows that fit no category are counted and their distinct types listed (a
:class:`~mtown_geo.MtownGeoWarning` and the ``"table_report"`` entry of the result's
``attrs``, with the rows matched each way); rows with missing or impossible
coordinates raise an :class:`~mtown_geo.InputError` that lists them, or, with
``on_bad_coords="drop"``, are dropped with a warning that lists them.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from .. import _frames, _words
from .. import crs as _crs
from .._errors import CoordinateShiftWarning, CRSError, DataNotFoundError, InputError, MtownGeoWarning
from ..standards import Profile, category_key, resolve
from .classify import classify

__all__ = ["TableReport", "read_facility_table"]

log = logging.getLogger(__name__)

# Column names, compared after _norm() (lower case, no spaces, underscores or brackets).
_LON_NAMES = ("lng", "lon", "long", "longitude", "经度", "x", "x坐标", "坐标x", "pointx", "东经", "经度坐标", "横坐标")
_LAT_NAMES = ("lat", "latitude", "纬度", "y", "y坐标", "坐标y", "pointy", "北纬", "纬度坐标", "纵坐标")
_LOCATION_NAMES = ("location", "lnglat", "lonlat", "经纬度", "坐标", "经纬度坐标", "位置坐标", "gps", "latlng", "纬经度")
_NAME_NAMES = (
    "name",
    "名称",
    "名字",
    "poi名称",
    "poiname",
    "title",
    "设施名称",
    "单位名称",
    "机构名称",
    "学校名称",
    "地名",
    "标题",
)
_CATEGORY_NAMES = ("category", "类别", "设施类别", "设施类型", "设施分类", "分类", "cat", "categoryid", "指标类别")
_TYPECODE_NAMES = ("typecode", "类型编码", "分类编码", "类别编码", "typecodes", "poi类型编码", "新类型编码")
_TYPE_NAMES = ("type", "类型", "tag", "标签", "poi类型", "小类", "中类", "行业类型", "detailinfotag", "detailinfo.tag", "大类")
_ID_NAMES = ("id", "poiid", "uid", "poi编号", "编号", "osmid")

# Tokens naming a coordinate system inside a column name (longest first).
_SYSTEM_TOKENS = (
    ("cgcs2000", "cgcs2000"),
    ("wgs84", "wgs84"),
    ("gcj02", "gcj02"),
    ("bd09ll", "bd09"),
    ("bd09", "bd09"),
    ("baidu", "bd09"),
    ("百度", "bd09"),
    ("高德", "gcj02"),
    ("火星", "gcj02"),
    ("amap", "gcj02"),
    ("gcj", "gcj02"),
    ("wgs", "wgs84"),
    ("gps", "wgs84"),
    ("bd", "bd09"),
)

# Columns (after _norm) that only Amap or Baidu exports have, English or Chinese.
_AMAP_MARKERS = {
    "typecode",
    "pname",
    "cityname",
    "adname",
    "adcode",
    "biztype",
    "bizext",
    "businessarea",
    "高德id",
    "高德编号",
    "高德poiid",
    "高德类型编码",
}
_BAIDU_MARKERS = {"uid", "detailinfo", "detailinfotag", "streetid", "detail", "百度uid", "百度id", "百度标签"}
# First two digits of Amap's POI type codes (高德 POI 分类编码: 01 汽车服务 ... 20 公共设施,
# 22 事件活动, 97 室内设施, 99 通行设施).
_AMAP_MAJORS = {f"{i:02d}" for i in range(1, 21)} | {"22", "97", "99"}
# The first level of Amap's type texts (大类) and of Baidu's industry tags (一级行业), where
# the two differ (生活服务, 汽车服务 and 公司企业 are in both).
_AMAP_TOP = {
    "汽车销售",
    "汽车维修",
    "摩托车服务",
    "餐饮服务",
    "购物服务",
    "体育休闲服务",
    "医疗保健服务",
    "住宿服务",
    "风景名胜",
    "商务住宅",
    "政府机构及社会团体",
    "科教文化服务",
    "交通设施服务",
    "金融保险服务",
    "道路附属设施",
    "地名地址信息",
    "公共设施",
    "事件活动",
    "室内设施",
    "通行设施",
}
_BAIDU_TOP = {
    "美食",
    "酒店",
    "购物",
    "丽人",
    "旅游景点",
    "休闲娱乐",
    "运动健身",
    "教育培训",
    "文化传媒",
    "医疗",
    "交通设施",
    "金融",
    "房地产",
    "政府机构",
    "出入口",
    "自然地物",
    "行政地标",
    "门址",
    "道路",
    "铁路",
    "绿地",
}
# Rows of these families are never put in a category by their name when their type maps
# to none (a restaurant or a stationery shop named after the school next door): food,
# shopping, lodging, cars, finance, companies, real estate, road furniture.
_NO_NAME_FALLBACK_TOP = {
    "餐饮服务",
    "美食",
    "购物服务",
    "购物",
    "住宿服务",
    "酒店",
    "汽车服务",
    "汽车销售",
    "汽车维修",
    "摩托车服务",
    "金融保险服务",
    "金融",
    "公司企业",
    "商务住宅",
    "房地产",
    "丽人",
    "道路附属设施",
}
_NO_NAME_FALLBACK_MAJORS = {"01", "02", "03", "04", "05", "06", "10", "12", "16", "17", "18"}
_SPLIT_TYPE = re.compile(r"[;；>/／,，、]")
_AMAP_ID = re.compile(r"^B0[0-9A-Z]{8}$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SPLIT_CATEGORIES = re.compile(r"[|;；,，、/／]")

_SHIFTED = ("gcj02", "bd09")


def _norm(name: Any) -> str:
    return re.sub(r"[\s_\-()（）\[\]【】:：]", "", str(name)).lower()


@dataclass
class TableReport:
    """What :func:`read_facility_table` did with a table.

    Attributes
    ----------
    source : str
        ``"amap"``, ``"baidu"`` or ``"table"``.
    n_rows : int
        Data rows read (blank rows skipped).
    n_facilities : int
        Rows placed in at least one category.
    n_unmapped : int
        Rows that fit no category of the profile.
    unmapped_types : dict of str to int
        Each distinct type (typecode, type text, category value or name) of the
        unmapped rows, with its row count.
    unmapped_rows : list of int or str
        Their row numbers as a spreadsheet shows them (header = row 1), or the index
        labels of a DataFrame.
    dropped_rows : list of int or str
        Rows dropped for missing or impossible coordinates (``on_bad_coords="drop"``).
    coordinates : str
        The system the coordinates were read in (``"gcj02"``, ``"bd09"``, ``"EPSG:4326"``...).
    crs_declared : bool
        Whether that system was declared (``crs=...``) rather than taken by default.
    source_reason : str
        What marked the table as an Amap or Baidu export (columns, type codes, type
        texts, ids); empty for other tables.
    matched : dict of str to int
        Rows placed in a category, by how (``category``, ``amap_typecode``,
        ``baidu_type``, ``type``, ``name``).
    columns : dict of str to str
        The columns used for each role (``lon``, ``lat``, ``location``, ``name``, ``category``...).
    encoding : str or None
        The text encoding of a CSV file.
    notes : list of str
        What a planner should know about how the table was read (the coordinate system
        taken and why, rows matched each way, rows left out), as sentences.
    """

    source: str = "table"
    n_rows: int = 0
    n_facilities: int = 0
    n_unmapped: int = 0
    unmapped_types: dict[str, int] = field(default_factory=dict)
    unmapped_rows: list[int | str] = field(default_factory=list)
    dropped_rows: list[int | str] = field(default_factory=list)
    coordinates: str = ""
    crs_declared: bool = False
    source_reason: str = ""
    matched: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The report as one row: the counts, the coordinate system, ``n_dropped``, ``matched_<how>``
        (rows placed each way), ``col_<role>`` (the column used for each role) and the notes joined by ``"; "``.

        The unmapped and dropped row numbers stay in :attr:`unmapped_rows` and :attr:`dropped_rows`.
        """
        extra: dict[str, Any] = {"n_dropped": len(self.dropped_rows)}
        extra.update({f"matched_{how}": n for how, n in self.matched.items()})
        extra.update({f"col_{role}": col for role, col in self.columns.items()})
        return _frames.one_row(self, drop=("unmapped_rows", "dropped_rows"), extra=extra)


# ---------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------


def _decode(raw: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    if encoding is not None:
        try:
            return raw.decode(encoding), encoding
        except LookupError:
            raise InputError(f"unknown text encoding {encoding!r} for {path.name}: use e.g. 'utf-8' or 'gbk'") from None
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path.name} is not valid {encoding} text (byte {exc.start}): leave encoding=None to detect it, "
                "or name the right one (Chinese Excel usually writes 'gbk')"
            ) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise InputError(
            f"cannot tell the text encoding of {path.name} (neither UTF-8 nor GBK/GB18030): "
            "save it as UTF-8 CSV or pass encoding=..."
        ) from None
    log.info("%s is not UTF-8: decoded as GBK (GB18030)", path.name)
    return text, "gbk"


def _sniff_delimiter(text: str, suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_csv(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path.name} is empty")
    text, used = _decode(raw, encoding, path)
    sep = _sniff_delimiter(text, path.suffix.lower())
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"{path.name} cannot be read as a {sep!r}-separated table: {exc}") from None
    return df, used


def _read_xlsx(path: Path, sheet: str | int | None) -> pd.DataFrame:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is installed with the package
        raise InputError("reading .xlsx files needs the openpyxl package: pip install openpyxl") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of errors for damaged files
        raise InputError(f"{path.name} cannot be opened as an Excel workbook: {exc}") from None
    try:
        names = list(book.sheetnames)
        if sheet is None:
            ws = book[names[0]]
            if len(names) > 1:
                log.info(
                    "%s has %d sheets; reading the first, %r (choose another with sheet=...)", path.name, len(names), names[0]
                )
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise InputError(f"{path.name} has {len(names)} sheets ({', '.join(names)}); sheet={sheet} does not exist")
            ws = book[names[sheet]]
        else:
            if sheet not in names:
                raise InputError(f"{path.name} has no sheet {sheet!r}; its sheets are {', '.join(names)}")
            ws = book[sheet]
        rows = list(ws.iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        raise InputError(f"the sheet of {path.name} is empty")
    header = [("" if h is None else str(h).strip()) for h in rows[0]]
    width = len(header)
    body = [list(r[:width]) + [None] * (width - len(r)) for r in rows[1:]]
    cols = [h or f"column{i + 1}" for i, h in enumerate(header)]
    seen: dict[str, int] = {}
    unique = []
    for c in cols:
        n = seen.get(c, 0)
        unique.append(c if n == 0 else f"{c}.{n}")
        seen[c] = n + 1
    return pd.DataFrame(body, columns=unique, dtype=object)


def _read_any(source: Any, sheet: str | int | None, encoding: str | None) -> tuple[pd.DataFrame, str, str | None]:
    """The table, a label for messages and ids, and the encoding of a CSV."""
    if isinstance(source, gpd.GeoDataFrame):
        return _from_points(source), "table", None
    if isinstance(source, pd.DataFrame):
        return source.copy(), "table", None
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"expected a CSV/XLSX path or a DataFrame, got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise DataNotFoundError(f"facility table {path} does not exist")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a CSV or XLSX file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        df, used = _read_csv(path, encoding)
        return df, path.stem, used
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet), path.stem, None
    if suffix == ".xls":
        raise InputError(f"{path.name} is an old-style .xls workbook: open it in Excel or WPS and save it as .xlsx or CSV")
    raise InputError(f"{path.name}: facility tables are .csv, .txt, .tsv or .xlsx files")


def _from_points(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """A point layer as a table with lon/lat columns in the layer's own CRS."""
    geoms = gdf.geometry
    kinds = set(geoms.dropna().geom_type)
    if kinds - {"Point"}:
        raise InputError(
            f"a facility layer given as a GeoDataFrame must hold points, not {sorted(kinds - {'Point'})}: "
            "classify polygon layers with mtown_geo.facilities.classify"
        )
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    empty = geoms.isna() | geoms.is_empty
    df["__x"] = np.where(empty, np.nan, geoms.x.where(~empty))
    df["__y"] = np.where(empty, np.nan, geoms.y.where(~empty))
    return df


# ---------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------


def _system_of(norm: str) -> tuple[str, str | None]:
    """Split a coordinate-system token off the start or end of a normalised column name."""
    for token, system in _SYSTEM_TOKENS:
        if norm.startswith(token) and len(norm) > len(token):
            return norm[len(token) :], system
        if norm.endswith(token) and len(norm) > len(token):
            return norm[: -len(token)], system
    return norm, None


def _find(columns: Iterable[Any], names: tuple[str, ...]) -> str | None:
    by_norm = {_norm(c): str(c) for c in columns}
    for n in names:
        if n in by_norm:
            return by_norm[n]
    return None


def _require(df: pd.DataFrame, col: str | None, role: str) -> str | None:
    if col is None:
        return None
    if col not in df.columns:
        raise InputError(f"the table has no column {col!r} (given as {role}); its columns are {', '.join(map(str, df.columns))}")
    return col


@dataclass
class _Coords:
    lon: np.ndarray
    lat: np.ndarray
    system: str | None  # implied by a column name
    columns: dict[str, str]
    xy_names: bool  # the columns are called x/y rather than lon/lat


def _parse_number(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        cleaned = values.astype(object).map(lambda v: v.strip().replace("°", "") if isinstance(v, str) else v)
        return pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _parse_location(values: pd.Series, lat_first: bool) -> tuple[np.ndarray, np.ndarray]:
    n = len(values)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    key_lat = re.compile(r"lat\w*['\"]?\s*[:=]\s*['\"]?(" + _NUMBER + ")", re.IGNORECASE)
    key_lon = re.compile(r"(?:lng|lon)\w*['\"]?\s*[:=]\s*['\"]?(" + _NUMBER + ")", re.IGNORECASE)
    plain = re.compile(_NUMBER)
    for i, v in enumerate(values.tolist()):
        if not isinstance(v, str) or not v.strip():
            continue
        m_lat, m_lon = key_lat.search(v), key_lon.search(v)
        if m_lat and m_lon:
            lat[i], lon[i] = float(m_lat.group(1)), float(m_lon.group(1))
            continue
        nums = plain.findall(v)
        if len(nums) == 2:
            a, b = float(nums[0]), float(nums[1])
            lon[i], lat[i] = (b, a) if lat_first else (a, b)
    return lon, lat


def _coordinates(df: pd.DataFrame, lon_col: str | None, lat_col: str | None) -> _Coords:
    if "__x" in df.columns and lon_col is None and lat_col is None:
        return _Coords(df["__x"].to_numpy(float), df["__y"].to_numpy(float), None, {"geometry": "geometry"}, False)
    if (lon_col is None) != (lat_col is None):
        raise InputError("give both lon_col and lat_col, or neither (they are then found by their names)")
    if lon_col is not None and lat_col is not None:
        _require(df, lon_col, "lon_col")
        _require(df, lat_col, "lat_col")
        if lon_col == lat_col:
            lon, lat = _parse_location(df[lon_col], lat_first=False)
            _, system = _system_of(_norm(lon_col))
            return _Coords(lon, lat, system, {"location": lon_col}, False)
        system = _system_of(_norm(lon_col))[1] or _system_of(_norm(lat_col))[1]
        xy = _norm(lon_col) in ("x", "x坐标", "坐标x", "pointx") or _norm(lat_col) in ("y", "y坐标", "坐标y", "pointy")
        return _Coords(_parse_number(df[lon_col]), _parse_number(df[lat_col]), system, {"lon": lon_col, "lat": lat_col}, xy)
    # pairs of lon/lat columns, possibly several (e.g. wgs84_lng and gcj_lng)
    lons: dict[str | None, str] = {}
    lats: dict[str | None, str] = {}
    for c in df.columns:
        base, system = _system_of(_norm(c))
        if base in _LON_NAMES and system not in lons:
            lons[system] = str(c)
        elif base in _LAT_NAMES and system not in lats:
            lats[system] = str(c)
        elif _norm(c) in _LON_NAMES and None not in lons:
            lons[None] = str(c)
        elif _norm(c) in _LAT_NAMES and None not in lats:
            lats[None] = str(c)
    pairs = [s for s in lons if s in lats]
    if pairs:
        # prefer coordinates that need no conversion
        order = sorted(pairs, key=lambda s: {"wgs84": 0, "cgcs2000": 1, None: 2, "gcj02": 3, "bd09": 4}.get(s, 5))
        system = order[0]
        if len(pairs) > 1:
            log.info("the table has several coordinate pairs (%s); using %s/%s", pairs, lons[system], lats[system])
        lon_name, lat_name = lons[system], lats[system]
        xy = _norm(lon_name) in ("x", "x坐标", "坐标x", "pointx")
        return _Coords(_parse_number(df[lon_name]), _parse_number(df[lat_name]), system, {"lon": lon_name, "lat": lat_name}, xy)
    for c in df.columns:
        base, system = _system_of(_norm(c))
        if base in _LOCATION_NAMES or _norm(c) in _LOCATION_NAMES:
            lat_first = base in ("latlng", "纬经度")
            lon, lat = _parse_location(df[c], lat_first=lat_first)
            if np.isfinite(lon).any():
                return _Coords(lon, lat, system, {"location": str(c)}, False)
    raise InputError(
        "no coordinate columns found. The table's columns are: "
        f"{', '.join(map(str, df.columns))}. Name them 经度/纬度, lng/lat, lon/lat or longitude/latitude "
        "(or give a 'location' column of \"lng,lat\" text), or pass lon_col=... and lat_col=..."
    )


def _first_level(value: Any) -> str | None:
    """The first level of a type text (``科教文化服务`` of ``科教文化服务;学校;小学``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return _SPLIT_TYPE.split(value.split("|")[0].strip())[0].strip() or None


def _majors(value: Any) -> list[str]:
    return [c[:2] for c in _typecodes(value)]


def _detect_source(df: pd.DataFrame, typecode_col: str | None, type_col: str | None) -> tuple[str, str]:
    """("amap" | "baidu" | "table", what gave it away) for a table."""
    norms = {_norm(c): str(c) for c in df.columns}
    amap_cols = sorted(norms[n] for n in set(norms) & _AMAP_MARKERS)
    if amap_cols:
        return "amap", f"its columns {', '.join(amap_cols)}"
    baidu_cols = sorted(norms[n] for n in set(norms) & _BAIDU_MARKERS)
    if baidu_cols:
        return "baidu", f"its columns {', '.join(baidu_cols)}"
    for col in (typecode_col, type_col):
        if col is None:
            continue
        values = [v for v in df[col].tolist() if _as_text(v)]
        coded = [v for v in values if _is_code_text(v)]
        if values and len(coded) >= 0.8 * len(values):
            ok = [v for v in coded if _majors(v) and all(m in _AMAP_MAJORS for m in _majors(v))]
            if len(ok) >= 0.8 * len(values):
                sample = ", ".join(list(dict.fromkeys(str(_as_text(v)) for v in ok))[:3])
                return "amap", f"the Amap type codes in its column {col!r} ({sample}...)"
    if type_col is not None:
        tops = [t for t in (_first_level(v) for v in df[type_col].tolist()) if t]
        if tops:
            amap = sum(t in _AMAP_TOP for t in tops)
            baidu = sum(t in _BAIDU_TOP for t in tops)
            if amap >= 0.8 * len(tops):
                return "amap", f"the Amap types in its column {type_col!r} ({', '.join(list(dict.fromkeys(tops))[:3])}...)"
            if baidu >= 0.8 * len(tops):
                return "baidu", f"the Baidu tags in its column {type_col!r} ({', '.join(list(dict.fromkeys(tops))[:3])}...)"
    id_col = _find(df.columns, ("id", "poiid"))
    if id_col is not None:
        ids = df[id_col].dropna().astype(str).head(50)
        if len(ids) and ids.map(lambda v: bool(_AMAP_ID.match(v))).mean() > 0.8:
            return "amap", f"the Amap POI ids in its column {id_col!r}"
    for c in df.columns:
        _, system = _system_of(_norm(c))
        if system == "bd09" and any(k in _norm(c) for k in ("百度", "baidu")):
            return "baidu", f"its column {c!r}"
    return "table", ""


# ---------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------


@dataclass
class _Lookup:
    by_name: dict[str, str]  # category_key(name) -> category id (ids, names, aliases)
    by_amap: dict[str, list[str]]
    by_baidu: dict[str, list[str]]
    profile: Profile

    def name(self, text: str) -> str | None:
        return self.by_name.get(category_key(text)) if text.strip() else None


def _lookup(profile: Profile) -> _Lookup:
    by_amap: dict[str, list[str]] = {}
    by_baidu: dict[str, list[str]] = {}
    for cat, spec in profile.categories.items():
        for code in spec.amap_typecodes:
            by_amap.setdefault(code, []).append(cat)
        for t in spec.baidu_types:
            by_baidu.setdefault(t, []).append(cat)
    return _Lookup(profile.category_index(), by_amap, by_baidu, profile)


def _typecodes(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return []
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and float(value).is_integer()):
        return [str(int(value)).zfill(6)]
    out = []
    for part in re.split(r"[|;；,，\s]+", str(value)):
        part = part.strip()
        if re.fullmatch(r"\d+(\.0+)?", part):
            out.append(str(int(float(part))).zfill(6))
    return out


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)


def _from_category(value: Any, lk: _Lookup) -> tuple[list[str], list[str]]:
    """(categories, unknown names) of a category cell; several names may be joined by | ; , / ..."""
    text = _as_text(value)
    if text is None:
        return [], []
    hit = lk.name(text)
    if hit:
        return [hit], []
    tokens = [t.strip() for t in _SPLIT_CATEGORIES.split(text) if t.strip()]
    found = [lk.name(t) for t in tokens]
    unknown = [t for t, f in zip(tokens, found, strict=True) if f is None]
    if unknown and len(tokens) > 1 and not any(found):
        unknown = [text]
    return _unique(f for f in found if f), unknown


def _from_type_text(value: Any, lk: _Lookup) -> list[str]:
    """Categories of a type text: Amap ``大类;中类;小类`` or Baidu ``一级;二级`` (several joined by ``|``).

    Within each type the most specific level that the profile knows decides
    (``医疗保健服务;综合医院;卫生院`` is a 卫生院, not a hospital): first the
    profile's ``baidu_types``, then its categories' names and aliases.
    """
    if not isinstance(value, str):
        return []
    cats: list[str] = []
    for group in value.split("|"):
        segments = [t.strip() for t in _SPLIT_TYPE.split(group) if t.strip()]
        for seg in reversed(segments):
            found = lk.by_baidu.get(seg) or [c for c in [lk.name(seg)] if c]
            if found:
                cats.extend(found)
                break
    return _unique(cats)


def _is_code_text(value: Any) -> bool:
    """Whether a type value is an Amap typecode (``141204``, ``141203|141202``, or a number)."""
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and np.isfinite(value)):
        return True
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\d{4,6}(\.0+)?(\s*[|;,]\s*\d{4,6})*\s*", value))


def _as_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _name_vetoed(cats: list[str], name: str | None, profile: Profile) -> list[str]:
    """Categories whose excluded name patterns the facility's name does not contain."""
    if not name:
        return cats
    return [c for c in cats if not any(p in name for p in profile.categories[c].exclude_name_patterns)]


@dataclass
class _Categorised:
    cats: list[list[str]]
    how: list[str]
    label: list[str | None]  # the type to report for unmapped rows
    unknown: dict[str, list[int]]  # unknown category names -> row positions
    vetoed: int  # rows whose type matched but whose name an exclusion pattern ruled out


def _categorise(
    df: pd.DataFrame,
    *,
    source: str,
    lk: _Lookup,
    category_col: str | None,
    type_col: str | None,
    typecode_col: str | None,
    names: list[str | None],
) -> _Categorised:
    """Categories of each row and how they were found: category column, Amap code, type text, name."""
    n = len(df)
    profile = lk.profile
    cats: list[list[str]] = [[] for _ in range(n)]
    how = [""] * n
    label: list[str | None] = [None] * n
    unknown: dict[str, list[int]] = {}
    vetoed = np.zeros(n, dtype=bool)
    cat_vals = df[category_col].tolist() if category_col else [None] * n
    code_vals = df[typecode_col].tolist() if typecode_col else [None] * n
    type_vals = df[type_col].tolist() if type_col else [None] * n
    by_name: list[int] = []
    for i in range(n):
        if category_col and _as_text(cat_vals[i]) is not None:
            found, missing = _from_category(cat_vals[i], lk)
            for m in missing:
                unknown.setdefault(m, []).append(i)
            if found:
                cats[i], how[i] = found, "category"
            else:
                label[i] = _as_text(cat_vals[i])
            continue
        codes = _typecodes(code_vals[i]) if typecode_col else []
        tv = type_vals[i]
        if type_col and not codes and _is_code_text(tv):
            codes = _typecodes(tv)
        typed = False
        if codes:
            found = _unique(c for code in codes for c in lk.by_amap.get(code, []))
            kept = _name_vetoed(found, names[i], profile)
            vetoed[i] |= bool(found) and not kept
            if kept:
                cats[i], how[i] = kept, "amap_typecode"
                continue
            typed = bool(found)
        if type_col and not _is_code_text(tv):
            found = _from_type_text(tv, lk)
            kept = _name_vetoed(found, names[i], profile)
            vetoed[i] |= bool(found) and not kept
            if kept:
                cats[i], how[i] = kept, "baidu_type" if source == "baidu" else "type"
                continue
            typed = typed or bool(found)
        parts = ["|".join(codes) or None, _as_text(tv)]
        label[i] = " ".join(p for p in parts if p) or None
        family = _first_level(tv) if isinstance(tv, str) and not _is_code_text(tv) else None
        no_fallback = family in _NO_NAME_FALLBACK_TOP or any(c[:2] in _NO_NAME_FALLBACK_MAJORS for c in codes)
        if not category_col and not typed and not no_fallback:
            by_name.append(i)
    if by_name:
        found_by_name = _categorise_by_name([names[i] for i in by_name], profile)
        for j, found in found_by_name.items():
            cats[by_name[j]], how[by_name[j]] = found, "name"
    for i in range(n):
        if not cats[i] and label[i] is None:
            label[i] = names[i] or "(no type, no name)"
    return _Categorised(cats, how, label, unknown, int(vetoed.sum()))


def _categorise_by_name(names: list[str | None], profile: Profile) -> dict[int, list[str]]:
    have = [i for i, nm in enumerate(names) if nm]
    if not have:
        return {}
    feats = gpd.GeoDataFrame(
        {"osm_id": have, "tags": [{"name": names[i]} for i in have]},
        geometry=gpd.points_from_xy(np.zeros(len(have)), np.zeros(len(have))),
        crs=4326,
    )
    out = classify(feats, profile=profile)
    found: dict[int, list[str]] = {}
    for osm_id, cat in zip(out["osm_id"].tolist(), out["category"].tolist(), strict=True):
        found.setdefault(int(osm_id), []).append(str(cat))
    return {i: _unique(c) for i, c in found.items()}


# ---------------------------------------------------------------------------------------
# Coordinates to WGS-84
# ---------------------------------------------------------------------------------------


def _declared(crs: Any) -> tuple[str | None, CRS | None]:
    """(shifted system, pyproj CRS) for the user's ``crs``; both None when not declared."""
    if crs is None:
        return None, None
    if isinstance(crs, str) and not crs.strip():
        return None, None
    shifted = _crs.shifted_system(crs)
    if shifted is not None:
        return shifted, None
    try:
        return None, _crs.parse_crs(crs)
    except CRSError:
        raise CRSError(
            f"crs={crs!r} is not a coordinate system mtown_geo knows: use 'wgs84', 'gcj02' (Amap, Tencent), "
            "'bd09' (Baidu), 'cgcs2000' or an EPSG code such as 4549"
        ) from None


@functools.lru_cache(maxsize=32)
def _to_wgs84(wkt: str) -> Transformer:
    """A transformer to WGS-84 lon/lat (cached: PROJ takes a tenth of a second to build one)."""
    return Transformer.from_crs(CRS.from_wkt(wkt), 4326, always_xy=True)


def _projected_to_lonlat(x: np.ndarray, y: np.ndarray, crs: CRS, *, xy_names: bool) -> tuple[np.ndarray, np.ndarray]:
    """Project X/Y metres to lon/lat, reading northing-first survey tables the right way round."""
    to_ll = _to_wgs84(crs.to_wkt())
    lon, lat = to_ll.transform(x, y)
    area = crs.area_of_use
    ok = np.isfinite(x) & np.isfinite(y)
    if area is None or not ok.any():
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    def _inside(lo: Any, la: Any) -> float:
        lo, la = np.asarray(lo, dtype=float)[ok], np.asarray(la, dtype=float)[ok]
        pad = 0.5
        with np.errstate(invalid="ignore"):
            hit = (lo >= area.west - pad) & (lo <= area.east + pad) & (la >= area.south - pad) & (la <= area.north + pad)
        return float(np.mean(hit))

    straight = _inside(lon, lat)
    if straight < 0.5:
        lon2, lat2 = to_ll.transform(y, x)
        if _inside(lon2, lat2) > 0.9:
            what = "X坐标/Y坐标" if xy_names else "the coordinate columns"
            warnings.warn(
                f"{what} are read as northing/easting (the surveying convention: X = north): read the other "
                f"way round they fall outside {crs.name}",
                MtownGeoWarning,
                stacklevel=4,
            )
            return np.asarray(lon2, dtype=float), np.asarray(lat2, dtype=float)
        raise InputError(
            f"{1 - straight:.0%} of the points fall outside the area of {crs.name} (lon {area.west:.1f}…{area.east:.1f}, "
            f"lat {area.south:.1f}…{area.north:.1f}) either way round: the coordinates are not in this CRS. "
            "Longitude/latitude need crs='wgs84' (or 'gcj02'/'bd09'); metres need the EPSG code of their zone"
        )
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _row_numbers(positions: Iterable[int], index: pd.Index, is_file: bool) -> list[int | str]:
    """Rows as the user sees them: file rows (header = row 1) or the DataFrame's index labels."""
    if is_file:
        return [int(p) + 2 for p in positions]
    labels = [index[int(p)] for p in positions]
    return [int(v) if isinstance(v, (int, np.integer)) else str(v) for v in labels]


def _list(rows: list[int | str], limit: int = 15) -> str:
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(map(str, rows[:limit])) + more


def _unmapped_hint(category_col: str | None, typecode_col: str | None, type_col: str | None) -> str:
    if category_col:
        return (
            f"Their {category_col!r} cells are empty: fill them with the profile's category ids, Chinese names or "
            "aliases (docs/profiles.md lists them)"
        )
    if typecode_col or type_col:
        return (
            "Neither their types nor their names match a category: if they belong to one, add their codes or types "
            "to the profile's amap_typecodes / baidu_types"
        )
    return "Their names match no category's name patterns: add a category column to the table"


# ---------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------


def read_facility_table(
    path_or_df: str | os.PathLike[str] | pd.DataFrame,
    *,
    lon_col: str | None = None,
    lat_col: str | None = None,
    name_col: str | None = None,
    category_col: str | None = None,
    type_col: str | None = None,
    id_col: str | None = None,
    crs: Any = None,
    profile: Profile | str | Path | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    on_bad_coords: Literal["raise", "drop"] = "raise",
) -> gpd.GeoDataFrame:
    """Read a table of facilities (CSV, XLSX, Amap or Baidu POI export) into the profile's categories.

    Parameters
    ----------
    path_or_df : path or DataFrame
        A ``.csv``/``.txt``/``.tsv`` or ``.xlsx`` file, a DataFrame, or a GeoDataFrame
        of points (its geometry gives the coordinates).
    lon_col, lat_col : str, optional
        The coordinate columns (found by name when not given: 经度/纬度, lng/lat,
        lon/lat, longitude/latitude, x/y, X坐标/Y坐标, with prefixes such as
        ``wgs84_``, ``gcj02_``, 百度...). Give the same column twice for one column of
        ``"lng,lat"`` text.
    name_col, category_col, type_col, id_col : str, optional
        The facility name (名称, name...), a category column (values: profile category
        ids, names or aliases, e.g. ``kindergarten``, ``Kindergarten``, 幼儿园 or 托育;
        several joined by ``|``; a name the profile does not know raises),
        a type column (Amap ``typecode`` such as ``141204`` or ``141203|141202``; Baidu
        types such as ``教育培训;幼儿园``) and an id column (Amap ``id``, Baidu ``uid``).
        Found by name when not given; a category column found by its name whose
        values are none of the profile's category names is not used (warned).
    crs : str, int or pyproj.CRS, optional
        The system of the coordinates: ``"wgs84"``, ``"gcj02"`` (Amap, Tencent),
        ``"bd09"`` (Baidu), ``"cgcs2000"`` or an EPSG code (projected X/Y in metres
        such as 4549 are accepted). When not given: GCJ-02 for an Amap export, BD-09
        for a Baidu export (recognised by columns, type codes, type texts or ids), the
        system a column name states (``wgs84_lng``...), else WGS-84 — each said in a log
        line and, for exports, in the report's ``notes``. Declaring ``"wgs84"`` for an Amap or Baidu
        export issues a :class:`~mtown_geo.CoordinateShiftWarning`.
    profile : Profile, str or path, optional
        The standard profile whose categories, ``amap_typecodes`` and ``baidu_types``
        are used (default ``zhejiang-2023``).
    sheet : str or int, optional
        The sheet of an XLSX workbook (default: the first).
    encoding : str, optional
        The text encoding of a CSV (default: detected among UTF-8, UTF-8 with BOM and
        GBK/GB18030).
    on_bad_coords : {"raise", "drop"}, optional
        What to do with rows whose coordinates are missing, not numbers, or impossible
        (longitude beyond ±180°, latitude beyond ±90°): ``"raise"`` (default) an
        :class:`~mtown_geo.InputError` listing them; ``"drop"`` them with a
        :class:`~mtown_geo.MtownGeoWarning` listing them.

    Returns
    -------
    GeoDataFrame
        EPSG:4326 points with the columns of :data:`mtown_geo.facilities.COLUMNS`, one
        row per (facility, category): ``source`` is ``amap``, ``baidu`` or ``table``;
        ``matched_by`` is ``category``, ``amap_typecode``, ``baidu_type``, ``type`` or
        ``name``; ``osm_id`` is missing and ``area_m2`` NaN. ``attrs["table_report"]``
        holds a :class:`TableReport` (unmapped rows and their types, dropped rows,
        columns and coordinate system used). Rows that fit no category are left out
        and reported with a :class:`~mtown_geo.MtownGeoWarning`.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    InputError
        Unreadable file, no coordinate columns, empty table, bad coordinates (listed),
        columns that look swapped, category names the profile does not know (listed
        with the closest known names).
    CRSError
        An unknown ``crs``.

    Examples
    --------
    >>> fac = read_facility_table("amap_pois.xlsx")  # doctest: +SKIP
    >>> fac.attrs["table_report"].unmapped_types  # doctest: +SKIP
    {'050100 餐饮服务;中餐厅;中餐厅': 12}
    """
    if on_bad_coords not in ("raise", "drop"):
        raise InputError(f"on_bad_coords must be 'raise' or 'drop', got {on_bad_coords!r}")
    prof = resolve(profile)
    shifted, declared_crs = _declared(crs)
    tab = _read_frame(path_or_df, sheet=sheet, encoding=encoding)
    if isinstance(path_or_df, gpd.GeoDataFrame) and crs is None and path_or_df.crs is not None:
        declared_crs = _crs.require_crs(path_or_df, what="facility layer")
    report = TableReport(encoding=tab.encoding)
    roles = _roles(
        tab.df,
        report,
        lon_col=lon_col,
        lat_col=lat_col,
        name_col=name_col,
        category_col=category_col,
        type_col=type_col,
        id_col=id_col,
    )
    report.crs_declared = shifted is not None or declared_crs is not None
    system, target_crs = _coordinate_system(roles, tab.label, report, crs=crs, shifted=shifted, declared_crs=declared_crs)
    projected = target_crs is not None and target_crs.is_projected
    tab, x, y = _usable_coordinates(tab, roles.coords, report, projected=projected, on_bad_coords=on_bad_coords)
    lon, lat = _to_lonlat(tab, x, y, report, system=system, target_crs=target_crs, xy_names=roles.coords.xy_names)
    roles, names, found = _categories(tab, roles, prof, report)
    out = _facility_frame(tab, roles, found, names, lon, lat)
    _table_report(report, tab, roles, found, out, prof)
    out.attrs["table_report"] = report
    return out


# ---------------------------------------------------------------------------------------
# The steps of read_facility_table
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """The data rows of a table, and how to name them as its user sees them."""

    df: pd.DataFrame
    label: str
    encoding: str | None
    #: a file (rows numbered as in the file) rather than a DataFrame (rows named by index label)
    is_file: bool
    orig_index: pd.Index
    #: position of each row of ``df`` in the table as read
    keep_pos: np.ndarray

    def rows(self, positions: Any) -> list[int | str]:
        """Rows of ``df`` (positions) as the user sees them."""
        return _row_numbers(self.keep_pos[positions], self.orig_index, self.is_file)

    @property
    def rows_what(self) -> str:
        return "rows (numbered as in the file, header = row 1)" if self.is_file else "rows (index labels)"


def _read_frame(path_or_df: Any, *, sheet: str | int | None, encoding: str | None) -> _Table:
    """The table read (a file or a frame), its columns as text, blank rows skipped; an error when no data row is left."""
    df, label, used_encoding = _read_any(path_or_df, sheet, encoding)
    is_file = not isinstance(path_or_df, pd.DataFrame)
    df.columns = [str(c) for c in df.columns]
    orig_index = df.index
    blank = df.isna().all(axis=1).to_numpy() if len(df.columns) else np.ones(len(df), dtype=bool)
    if blank.any():
        log.info("%d blank rows skipped", int(blank.sum()))
        keep_pos = np.flatnonzero(~blank)
        df = df.iloc[keep_pos]
    else:
        keep_pos = np.arange(len(df))
    if df.empty:
        raise InputError(f"the facility table {label!r} has no data rows")
    return _Table(df, label, used_encoding, is_file, orig_index, keep_pos)


@dataclass(frozen=True)
class _Roles:
    """The columns used for each role, and what kind of table it is."""

    coords: _Coords
    name_col: str | None
    category_col: str | None
    #: the category column was named by the caller (not found by its name)
    category_given: bool
    typecode_col: str | None
    type_col: str | None
    id_col: str | None
    #: "amap", "baidu" or "table", and what said so
    source: str
    why: str


def _roles(
    df: pd.DataFrame,
    report: TableReport,
    *,
    lon_col: str | None,
    lat_col: str | None,
    name_col: str | None,
    category_col: str | None,
    type_col: str | None,
    id_col: str | None,
) -> _Roles:
    """The coordinate, name, category, type and id columns (given, or found by their names) and the
    source (an Amap or Baidu export, or another table); recorded in the report."""
    coords = _coordinates(df, lon_col, lat_col)
    report.columns.update(coords.columns)
    name_col = _require(df, name_col, "name_col") or _find(df.columns, _NAME_NAMES)
    category_given = category_col is not None
    category_col = _require(df, category_col, "category_col") or _find(df.columns, _CATEGORY_NAMES)
    typecode_col = _find(df.columns, _TYPECODE_NAMES)
    if type_col is not None:
        _require(df, type_col, "type_col")
        if _norm(type_col) in _TYPECODE_NAMES:
            typecode_col, type_col = type_col, None
    else:
        type_col = _find([c for c in df.columns if c != typecode_col], _TYPE_NAMES)
    id_col = _require(df, id_col, "id_col") or _find(df.columns, _ID_NAMES)
    for role, col in (
        ("name", name_col),
        ("category", category_col),
        ("typecode", typecode_col),
        ("type", type_col),
        ("id", id_col),
    ):
        if col is not None:
            report.columns[role] = col
    source, why = _detect_source(df, typecode_col, type_col)
    report.source, report.source_reason = source, why
    return _Roles(coords, name_col, category_col, category_given, typecode_col, type_col, id_col, source, why)


def _coordinate_system(
    roles: _Roles, label: str, report: TableReport, *, crs: Any, shifted: str | None, declared_crs: CRS | None
) -> tuple[str | None, CRS | None]:
    """Which coordinate system the coordinates are in: a shifted Chinese system (``"gcj02"``, ``"bd09"``)
    or a CRS — declared, named by the coordinate columns, implied by an Amap or Baidu export, else WGS-84.

    Says why in the log (and, for exports, in the report's notes); warns where the declaration and the
    table disagree.
    """
    coords, source, why = roles.coords, roles.source, roles.why
    system: str | None = shifted
    target_crs = declared_crs
    if shifted is None and declared_crs is None:
        if coords.system is not None:
            system = coords.system if coords.system in _SHIFTED else None
            target_crs = None if system else CRS.from_epsg(4490 if coords.system == "cgcs2000" else 4326)
            log.info("coordinates taken as %s, as the column name %s says", coords.system.upper(), list(coords.columns.values()))
        elif source in ("amap", "baidu"):
            system = "gcj02" if source == "amap" else "bd09"
            what = "an Amap (高德)" if source == "amap" else "a Baidu (百度)"
            note = (
                f"{label}: {what} export (recognised by {why}) without a declared crs: its coordinates are taken as "
                f"{system.upper().replace('GCJ02', 'GCJ-02').replace('BD09', 'BD-09')} and converted to WGS-84 "
                "(declare crs: wgs84 if they were converted already)"
            )
            log.info("%s", note)
            report.notes.append(note)
        else:
            target_crs = CRS.from_epsg(4326)
            log.info(
                "no crs declared: coordinates taken as WGS-84. Points from Amap/Tencent are GCJ-02 and from Baidu "
                "BD-09: pass crs='gcj02' or crs='bd09' for them"
            )
    elif declared_crs is not None and source in ("amap", "baidu") and coords.system not in ("wgs84", "cgcs2000"):
        if declared_crs.is_geographic:
            native = "GCJ-02" if source == "amap" else "BD-09"
            warnings.warn(
                f"this looks like {'an Amap (高德)' if source == 'amap' else 'a Baidu (百度)'} export, whose coordinates "
                f"are {native}, but crs={crs!r} was declared: coordinates are kept as they are. If they came straight "
                f"from {source}, pass crs={'gcj02' if source == 'amap' else 'bd09'!r}",
                CoordinateShiftWarning,
                stacklevel=3,
            )
    elif shifted is not None and coords.system in ("wgs84", "cgcs2000"):
        warnings.warn(
            f"crs={crs!r} was declared but the coordinate columns {list(coords.columns.values())} are named as "
            f"{coords.system.upper()}: the declared {shifted.upper()} is used",
            CoordinateShiftWarning,
            stacklevel=3,
        )
    report.coordinates = system if system else (target_crs.to_string() if target_crs is not None else "EPSG:4326")
    return system, target_crs


def _usable_coordinates(
    tab: _Table, coords: _Coords, report: TableReport, *, projected: bool, on_bad_coords: str
) -> tuple[_Table, np.ndarray, np.ndarray]:
    """The rows with usable coordinates: missing, non-numeric or (in degrees) impossible ones raise,
    or are dropped with a warning; longitudes and latitudes that look swapped raise."""
    df = tab.df
    x, y = coords.lon, coords.lat
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if not projected:
            swapped_hint = bool(np.any(~bad) and np.all((np.abs(y[~bad]) > 90) & (np.abs(x[~bad]) <= 90)))
            if swapped_hint:
                raise InputError(
                    f"the latitude column {coords.columns.get('lat', coords.columns.get('location'))!r} holds values "
                    "beyond ±90° while the longitude column looks like latitudes: the columns look swapped. "
                    "Pass lon_col=... and lat_col=... the other way round"
                )
            bad |= (np.abs(x) > 180) | (np.abs(y) > 90)
    if bad.any():
        rows = tab.rows(np.flatnonzero(bad))
        what = tab.rows_what
        if on_bad_coords == "raise":
            hint = ""
            if bad.all() and np.isfinite(x).any() and np.nanmax(np.abs(np.where(np.isfinite(x), x, np.nan))) > 1000:
                hint = " The values look like metres (X/Y): pass crs=<EPSG code of their zone>, e.g. crs=4549."
            raise InputError(
                f"{int(bad.sum())} of {_words.count(len(df), 'row', 'rows')} {_words.agree(int(bad.sum()), 'has', 'have')} missing or impossible coordinates — {what}: {_list(rows)}. "
                f"Fix them, or pass on_bad_coords='drop' to leave them out.{hint}"
            )
        warnings.warn(
            f"{int(bad.sum())} of {_words.count(len(df), 'row', 'rows')} dropped for missing or impossible coordinates — {what}: {_list(rows)}",
            MtownGeoWarning,
            stacklevel=3,
        )
        report.dropped_rows = rows
        good = ~bad
        df, x, y, keep_pos = df.iloc[np.flatnonzero(good)], x[good], y[good], tab.keep_pos[good]
        if df.empty:
            raise InputError("no row of the table has usable coordinates")
        tab = replace(tab, df=df, keep_pos=keep_pos)
    return tab, x, y


def _to_lonlat(
    tab: _Table, x: np.ndarray, y: np.ndarray, report: TableReport, *, system: str | None, target_crs: CRS | None, xy_names: bool
) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 longitudes and latitudes of the coordinates (GCJ-02 and BD-09 shifted back, other CRSs transformed)."""
    if system is not None:
        outside = ~_crs.in_shift_area(x, y)
        if outside.any():
            warnings.warn(
                f"{int(outside.sum())} of {_words.count(len(x), 'point', 'points')} {_words.agree(int(outside.sum()), 'lies', 'lie')} outside "
                f"the area where {system.upper()} applies (China) and {_words.agree(int(outside.sum()), 'is', 'are')} left unchanged: "
                "is crs right?",
                CoordinateShiftWarning,
                stacklevel=3,
            )
        unshift = _crs.gcj02_to_wgs84 if system == "gcj02" else _crs.bd09_to_wgs84
        lon, lat = unshift(x, y)
    elif target_crs is not None and not target_crs.equals(CRS.from_epsg(4326)):
        if target_crs.is_projected:
            lon, lat = _projected_to_lonlat(x, y, target_crs, xy_names=xy_names)
        else:
            lon, lat = _to_wgs84(target_crs.to_wkt()).transform(x, y)
    else:
        lon, lat = x, y
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        failed = tab.rows(np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat))))
        raise InputError(f"coordinates of rows {_list(failed)} cannot be converted from {report.coordinates}: check crs")
    return lon, lat


def _categories(tab: _Table, roles: _Roles, prof: Profile, report: TableReport) -> tuple[_Roles, list[str | None], _Categorised]:
    """The categories of each row (by category column, type code, type text or name); category names the
    profile does not know raise, listed with the closest names.

    A category column found by its name that holds none of the profile's category names is not
    used (warned): the roles come back without it.
    """
    df, label, category_col = tab.df, tab.label, roles.category_col
    names: list[str | None] = [_as_text(v) for v in df[roles.name_col].tolist()] if roles.name_col else [None] * len(df)
    lk = _lookup(prof)
    if category_col is not None and not roles.category_given:
        # a column found by its name (类别, 分类...) that holds none of the profile's category names
        # is some other classification (公办/民办...): it is not used
        values = [v for v in (_as_text(x) for x in df[category_col].tolist()) if v]
        if values and not any(_from_category(v, lk)[0] for v in values):
            shown = ", ".join(dict.fromkeys(values[:5]))
            warnings.warn(
                f"the column {category_col!r} of {label!r} holds no category of the profile {prof.name!r} "
                f"({shown}...): it is not used as the category column. Pass category_col={category_col!r} if it is one",
                MtownGeoWarning,
                stacklevel=3,
            )
            del report.columns["category"]
            category_col = None
            roles = replace(roles, category_col=None)
    found = _categorise(
        df,
        source=roles.source,
        lk=lk,
        category_col=category_col,
        type_col=roles.type_col,
        typecode_col=roles.typecode_col,
        names=names,
    )
    if found.unknown:
        lines = []
        for value, rows_at in list(found.unknown.items())[:12]:
            close = prof.similar_categories(value)
            hint = f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            shown_rows = _list(tab.rows(rows_at), limit=5)
            lines.append(f"{value!r} ({len(rows_at)} rows: {shown_rows}){hint}")
        more = f"; and {len(found.unknown) - 12} more" if len(found.unknown) > 12 else ""
        raise InputError(
            f"the category column {category_col!r} of {label!r} holds {len(found.unknown)} name"
            f"{'s' if len(found.unknown) != 1 else ''} the profile {prof.name!r} does not know, in {tab.rows_what}: "
            + "; ".join(lines)
            + more
            + ". Write the profile's category ids, English or Chinese names or aliases (docs/profiles.md lists "
            "them), or delete the rows that are no facility of the profile"
        )
    return roles, names, found


def _facility_frame(
    tab: _Table, roles: _Roles, found: _Categorised, names: list[str | None], lon: np.ndarray, lat: np.ndarray
) -> gpd.GeoDataFrame:
    """One point per (row, category) with the facility layer's columns, in EPSG:4326."""
    df, source, label = tab.df, roles.source, tab.label
    cats, how = found.cats, found.how
    row_ids = tab.rows(np.arange(len(tab.keep_pos)))
    ids = [_as_text(v) for v in df[roles.id_col].tolist()] if roles.id_col else [None] * len(df)
    prefix = f"{source}/{label}:" if tab.is_file else f"{source}/"
    fid = [f"{source}/{v}" if v else f"{prefix}{r}" for v, r in zip(ids, row_ids, strict=True)]
    pos = [i for i, c in enumerate(cats) for _ in c]
    return gpd.GeoDataFrame(
        {
            "facility_id": [fid[i] for i in pos],
            "category": [c for cs in cats for c in cs],
            "name": [names[i] for i in pos],
            "source": source,
            "osm_id": pd.array([pd.NA] * len(pos), dtype="Int64"),
            "matched_by": [how[i] for i in pos],
            "area_m2": np.full(len(pos), np.nan),
        },
        geometry=gpd.points_from_xy(lon[pos], lat[pos]) if pos else gpd.GeoSeries([], dtype="geometry"),
        crs=4326,
    )


def _table_report(
    report: TableReport, tab: _Table, roles: _Roles, found: _Categorised, out: gpd.GeoDataFrame, prof: Profile
) -> None:
    """The report's counts and notes: rows placed in a category and how, rows left out (warned) and their types."""
    df, label, how = tab.df, tab.label, found.how
    unmapped = [i for i, c in enumerate(found.cats) if not c]
    report.n_rows = len(df)
    report.n_facilities = len(df) - len(unmapped)
    report.n_unmapped = len(unmapped)
    report.unmapped_rows = tab.rows(unmapped) if unmapped else []
    counts: dict[str, int] = {}
    for i in unmapped:
        key = found.label[i] or "(none)"
        counts[key] = counts.get(key, 0) + 1
    report.unmapped_types = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    report.matched = dict(Counter(h for h in how if h))
    ways = {
        "category": "by the category column",
        "amap_typecode": "by Amap type code",
        "baidu_type": "by Baidu type",
        "type": "by type",
        "name": "by name",
    }
    matched_text = ", ".join(f"{report.matched[k]} {ways[k]}" for k in ways if k in report.matched) or "none"
    summary_note = f"{label}: {report.n_facilities} of {len(df)} rows placed in a category ({matched_text})"
    if unmapped:
        summary_note += f"; {len(unmapped)} fit none and are left out"
    if found.vetoed:
        summary_note += f" ({found.vetoed} of them whose type matched but whose name a category excludes)"
    report.notes.append(summary_note)
    if unmapped:
        shown = "; ".join(f"{k} ×{v}" for k, v in list(report.unmapped_types.items())[:10])
        more = f"; and {len(counts) - 10} more types" if len(counts) > 10 else ""
        warnings.warn(
            f"{len(unmapped)} of {len(df)} rows of {label!r} fit no category of the profile {prof.name!r} and are "
            f"left out ({shown}{more}). {_unmapped_hint(roles.category_col, roles.typecode_col, roles.type_col)}; "
            "the rows are listed in result.attrs['table_report']",
            MtownGeoWarning,
            stacklevel=3,
        )
    log.info(
        "%s; %d categories; coordinates %s",
        summary_note,
        out["category"].nunique(),
        report.coordinates,
    )
