"""The province at a glance: every town of a batch coloured by its 15-minute life-circle status.

After a batch (:func:`mtown_geo.batch.run_batch`) the summary table says, town by town,
whether the 15-minute life-circle row of the annex (第 9 项 建成区15分钟生活圈覆盖率 in the
Zhejiang 2023 profile) meets the year's target. These maps show it for the whole province:

* :func:`town_classes` — the map class of each town: the row's status (``pass``,
  ``fail``, ``no_data``, ``n/a``), ``not_computed`` for a town that ran without the row,
  ``failed`` for a town whose run failed, ``missing`` for a town of the layer the summary
  does not list;
* :func:`province_map` — the print map (A3 by default, after the Chinese planning-map
  conventions of :mod:`mtown_geo.render.static`: 图名, 图例 with the number of towns per
  class, 指北针, 比例尺, 数据来源 with the OpenStreetMap attribution, 坐标系), town names
  written inside the towns where they fit;
* :func:`province_web_map` — the same as one self-contained HTML page (Leaflet embedded,
  no tile server), each town's name, status, value and error in its tooltip;
* :func:`write_province_maps` — both into one output folder, written safely (a hidden work
  folder moved into place, ``manifest.json``; see :mod:`mtown_geo._io`); started again
  with the same summary and towns it leaves the folder as it is.

Colours (:data:`STATUS_CLASSES`) are the same in both maps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from matplotlib.figure import Figure

from .._errors import InputError, MtownGeoError, MtownGeoWarning
from .._io import atomic_dir, file_sha256, own_files
from .._version import __version__
from ..crs import metric_crs, require_crs
from ..report import FORMULA_PREFIXES
from ..sources.osm import ATTRIBUTION
from ..standards import Profile, resolve
from ._fonts import cjk_font, missing_chars
from ._leaflet import Page as _Page
from .interactive import new_map, save_map
from .static import layers_map, save_figure

__all__ = [
    "MAP_DIR",
    "MAP_NAME",
    "STATUS_CLASSES",
    "province_map",
    "province_web_map",
    "town_classes",
    "write_province_maps",
]

log = logging.getLogger(__name__)

#: Map classes of a town, in legend order: key -> (legend label, fill colour). The first four
#: are the row's statuses (:data:`mtown_geo.report.STATUSES`); ``not_computed``: the town ran
#: but the summary has no status for the row; ``failed``: the town's run failed (or it has no
#: boundary); ``missing``: a town of the layer that the summary does not list.
STATUS_CLASSES: dict[str, tuple[str, str]] = {
    "pass": ("达标 pass", "#1a9850"),
    "fail": ("未达标 fail", "#d73027"),
    "no_data": ("缺数据 data missing", "#fee08b"),
    "n/a": ("无当年目标 no target", "#9ecae1"),
    "not_computed": ("未计算 not computed", "#e0e0e0"),
    "failed": ("计算失败 run failed", "#737373"),
    "missing": ("无结果 no result", "#ffffff"),
}

#: Folder of the summary maps in a batch's output folder, and the stem of their files.
MAP_DIR = "summary_map"
MAP_NAME = "summary_map"
_FINGERPRINT = f"{MAP_NAME}.json"
_FILES = (f"{MAP_NAME}.png", f"{MAP_NAME}.pdf", f"{MAP_NAME}.html", _FINGERPRINT)

_EDGE = "#4d4d4d"  # town outlines
_LABEL_SIZES_PT = (8.0, 7.0, 6.0, 5.0)
# a light box behind a name (as the town maps' labels): text stays text in the PDF, unlike a stroked halo
_LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": (1.0, 1.0, 1.0, 0.6), "edgecolor": "none"}
_DEFAULT_ROW = 9
_LIFE_CIRCLE = "circle:15min"


# -- the data ----------------------------------------------------------------------------------


def _row_spec(profile: Profile | str | Path | None, row: int | None) -> tuple[int, Any]:
    """The annex row to map (by default the 15-minute life circle's) and its spec (None without a profile)."""
    prof = resolve(profile) if profile is not None else None
    if row is not None and (isinstance(row, bool) or not isinstance(row, (int, np.integer)) or row < 0):
        raise InputError(f"row must be an annex row number such as 9, got {row!r}")
    if prof is None:
        return (_DEFAULT_ROW if row is None else int(row)), None
    if row is None:
        spec = next((r for r in prof.annex if r.computed == _LIFE_CIRCLE), None)
        if spec is None:
            raise InputError(
                f"the profile {prof.name!r} has no annex row computed from the 15-minute life circle ({_LIFE_CIRCLE}); "
                "give row= the annex row to map"
            )
        return spec.row, spec
    spec = next((r for r in prof.annex if r.row == int(row)), None)
    if spec is None:
        raise InputError(f"the profile {prof.name!r} has no annex row {row}; its rows are {[r.row for r in prof.annex]}")
    return int(row), spec


def _same_name(summary_name: Any, town_name: str) -> bool:
    """Whether a summary's name is the town's (a CSV summary writes a formula-like name with a leading ')."""
    s = str(summary_name)
    return s == town_name or (town_name.startswith(FORMULA_PREFIXES) and s == "'" + town_name)


def _joined(summary: pd.DataFrame, towns: gpd.GeoDataFrame, *, name_col: str) -> pd.DataFrame:
    """One row per town of the layer, in its order: the summary row that belongs to it (by position), checked by name."""
    if not isinstance(summary, pd.DataFrame):
        raise InputError(
            f"summary must be the DataFrame run_batch returns (or summary.csv read back), got {type(summary).__name__}"
        )
    if not isinstance(towns, gpd.GeoDataFrame):
        raise InputError(f"towns must be the GeoDataFrame of the batch's towns, got {type(towns).__name__}")
    for col in ("town", "name", "status"):
        if col not in summary:
            raise InputError(f"the summary has no {col!r} column: give the table run_batch returns or its summary.csv")
    if name_col not in towns:
        raise InputError(f"the town layer has no {name_col!r} column (set name_col)")
    require_crs(towns, what="town layer")
    pos = pd.to_numeric(summary["town"], errors="coerce")
    if pos.isna().any() or (pos < 0).any() or (pos >= len(towns)).any() or (pos % 1 != 0).any():
        raise InputError(
            f"the summary's 'town' column must hold row positions 0–{len(towns) - 1} of the town layer; this summary "
            "belongs to another layer"
        )
    pos = pos.astype(int)
    if pos.duplicated().any():
        raise InputError(f"the summary lists town {int(pos[pos.duplicated()].iloc[0])} twice")
    names = towns[name_col].astype(str).to_numpy()
    wrong = [(int(p), n) for p, n in zip(pos, summary["name"], strict=True) if not _same_name(n, names[p])]
    if wrong:
        p, n = wrong[0]
        raise InputError(
            f"the summary does not belong to this town layer: its town {p} is {n!r}, the layer's row {p} is {names[p]!r} "
            f"({len(wrong)} such rows); give the layer the batch ran on"
        )
    return summary.set_axis(pos.to_numpy()).reindex(range(len(towns)))


def town_classes(summary: pd.DataFrame, towns: gpd.GeoDataFrame, *, row: int = _DEFAULT_ROW, name_col: str = "name") -> pd.Series:
    """The map class of every town of the layer (a key of :data:`STATUS_CLASSES`).

    Parameters
    ----------
    summary : DataFrame
        The batch summary (:func:`mtown_geo.batch.run_batch`, or its ``summary.csv`` read
        back): ``town`` (the town's row position in the layer), ``name``, ``status``
        (``done`` / ``failed``) and ``row<N>_status``.
    towns : GeoDataFrame
        The town layer the batch ran on.
    row : int
        The annex row (default 9, the 15-minute life circle of the Zhejiang profile).

    Returns
    -------
    Series
        Index-aligned with ``towns``: ``pass``, ``fail``, ``no_data``, ``n/a``,
        ``not_computed``, ``failed`` or ``missing``.

    Raises
    ------
    InputError
        The summary does not belong to the layer (positions out of range, other names),
        or holds a status this map does not know.
    """
    joined = _joined(summary, towns, name_col=name_col)
    col = f"row{row}_status"
    run = joined["status"].astype(object).to_numpy()
    st = joined[col].astype(object).to_numpy() if col in joined else np.full(len(joined), None, dtype=object)
    out = np.empty(len(joined), dtype=object)
    for i, (r, s) in enumerate(zip(run, st, strict=True)):
        if r is None or (isinstance(r, float) and math.isnan(r)):
            out[i] = "missing"
        elif r != "done":
            out[i] = "failed"
        elif s is None or (isinstance(s, float) and math.isnan(s)) or s == "":
            out[i] = "not_computed"
        elif s in ("pass", "fail", "no_data", "n/a"):
            out[i] = s
        else:
            raise InputError(
                f"the summary's {col} holds {s!r} for {joined['name'].iloc[i]!r}; expected pass, fail, no_data or n/a"
            )
    return pd.Series(out, index=towns.index, name="map_class")


def _frame(summary: pd.DataFrame, towns: gpd.GeoDataFrame, *, row: int, name_col: str) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The drawable towns (metric CRS) with name, class, value, error; and the names of those without a boundary."""
    classes = town_classes(summary, towns, row=row, name_col=name_col)
    joined = _joined(summary, towns, name_col=name_col)
    value = pd.to_numeric(joined[f"row{row}_value"], errors="coerce") if f"row{row}_value" in joined else np.nan
    error = joined["error"].fillna("").astype(str).to_numpy() if "error" in joined else np.full(len(towns), "")
    geoms = np.asarray(towns.geometry.to_numpy(), dtype=object)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    invalid = ~empty & ~shapely.is_valid(geoms)
    if invalid.any():  # a failed town's bow-tie still shows where it is
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    frame = gpd.GeoDataFrame(
        {
            "name": towns[name_col].astype(str).to_numpy(),
            "map_class": classes.to_numpy(),
            "value": np.asarray(value, dtype=float) if not np.isscalar(value) else np.full(len(towns), np.nan),
            "error": error,
        },
        geometry=geoms,
        crs=towns.crs,
    )
    without = list(frame.loc[empty, "name"])
    frame = frame.loc[~empty]
    if frame.empty:
        raise InputError("no town of the layer has a boundary to map")
    return frame.to_crs(metric_crs(frame)), without


def _texts(frame: gpd.GeoDataFrame, without: Sequence[str], *, row: int, spec: Any, year: int | None) -> tuple[str, str, str]:
    """Title (Chinese, English) and the subtitle with the row, the target and the count per class."""
    name_zh = spec.name_zh if spec is not None else "15分钟生活圈覆盖率"
    name_en = spec.name_en if spec is not None else "15-minute life-circle coverage"
    title_zh = f"各镇{name_zh}达标情况"
    title_en = f"{name_en}: status by town"
    target = ""
    if spec is not None and year is not None:
        years = sorted(y for y, v in spec.targets.items() if v is not None and y <= year)
        if years:
            target = f"，{years[-1]} 年目标 target ≥ {spec.targets[years[-1]]:g} {spec.unit}"
    counts = frame["map_class"].value_counts()
    tally = "，".join(f"{STATUS_CLASSES[k][0].split()[0]} {int(counts[k])}" for k in STATUS_CLASSES if k in counts)
    sub = f"第 {row} 项 annex row {row}{target}；{len(frame) + len(without)} 镇 towns：{tally}"
    if without:
        sub += f"；{len(without)} 镇无边界未绘出 without a boundary, not drawn"
    return title_zh, title_en, sub


def _counts_label(key: str, n: int) -> str:
    return f"{STATUS_CLASSES[key][0]}　{n} 镇"


# -- the print map -----------------------------------------------------------------------------


def province_map(
    summary: pd.DataFrame,
    towns: gpd.GeoDataFrame,
    *,
    row: int | None = None,
    profile: Profile | str | Path | None = None,
    year: int | None = None,
    name_col: str = "name",
    title_zh: str | None = None,
    title_en: str | None = None,
    paper: str = "A3",
    orientation: str = "auto",
    source: str = "OpenStreetMap; mtown_geo batch summary",
    data_date: str | date | None = None,
    prepared_by: str | None = None,
    labels: bool = True,
) -> Figure:
    """The print map of a batch: every town coloured by its status on one annex row.

    Parameters
    ----------
    summary : DataFrame
        The batch summary (see :func:`town_classes`).
    towns : GeoDataFrame
        The town layer the batch ran on (any CRS; the map is drawn in the metric CRS of
        its centre, :func:`mtown_geo.crs.metric_crs`).
    row : int, optional
        The annex row; by default the profile's row computed from the 15-minute life
        circle (row 9 of the Zhejiang profile), or 9 without a profile.
    profile : Profile, name or path, optional
        The profile of the batch: names the row and, with ``year``, states its target.
    year : int, optional
        The report year of the batch.
    title_zh, title_en : str, optional
        The title (default: 各镇<row name>达标情况 and its English).
    paper, orientation, source, data_date, prepared_by
        As in :func:`mtown_geo.render.layers_map` (A3 by default).
    labels : bool
        Write each town's name inside it where it fits (largest towns first, 8 pt down to
        5 pt, no two names overlapping).

    Returns
    -------
    matplotlib.figure.Figure
        Save it with :func:`mtown_geo.render.save_figure`.

    Raises
    ------
    InputError
        The summary does not belong to the layer, the row is unknown, or no town has a
        boundary.
    """
    row_n, spec = _row_spec(profile, row)
    frame, without = _frame(summary, towns, row=row_n, name_col=name_col)
    zh, en, sub = _texts(frame, without, row=row_n, spec=spec, year=year)
    layers = []
    for key, (_, colour) in STATUS_CLASSES.items():
        part = frame[frame["map_class"] == key]
        if len(part):
            style = {"facecolor": colour, "edgecolor": _EDGE, "linewidth": 0.35}
            layers.append((part, style, _counts_label(key, len(part))))
    fig = layers_map(
        layers,
        crs=frame.crs,
        title_zh=zh if title_zh is None else title_zh,
        title_en=en if title_en is None else title_en,
        subtitle=sub,
        legend_title="图例 Legend",
        paper=paper,
        orientation=orientation,
        source=source,
        data_date=data_date,
        attribution=ATTRIBUTION,
        prepared_by=prepared_by,
    )
    if labels:
        _label_towns(fig, frame)
    return fig


def _map_axes(fig: Figure) -> Any:
    return next(ax for ax in fig.axes if ax.get_gid() == "map")


def _label_towns(fig: Figure, frame: gpd.GeoDataFrame) -> int:
    """Write the towns' names inside them where they fit; returns how many were written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ax = _map_axes(fig)
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    bbox = ax.get_window_extent(renderer)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    per_px = ((x1 - x0) / bbox.width, (y1 - y0) / bbox.height)
    geoms = frame.geometry.to_numpy()
    order = np.argsort(-shapely.area(geoms), kind="stable")
    placed: list[shapely.Geometry] = []
    names = frame["name"].to_numpy()
    shown: list[str] = []
    for i in order:
        name = str(names[i]).strip()
        geom = geoms[i]
        if not name or geom is None or shapely.is_empty(geom):
            continue
        shapely.prepare(geom)
        anchor = _anchor(geom)
        for size in _LABEL_SIZES_PT:
            w_px, h_px, _ = renderer.get_text_width_height_descent(name, cjk_font(size_pt=size), ismath=False)
            pad = 0.15 * size * renderer.dpi / 72.0  # the label's box around the text
            hw, hh = (w_px / 2 + pad) * per_px[0], (h_px / 2 + pad) * per_px[1]
            box = shapely.box(anchor.x - hw, anchor.y - hh, anchor.x + hw, anchor.y + hh)
            if not geom.contains(box) or (placed and bool(shapely.intersects(np.asarray(placed), box).any())):
                continue
            ax.text(
                anchor.x,
                anchor.y,
                name,
                ha="center",
                va="center",
                fontproperties=cjk_font(size_pt=size),
                parse_math=False,
                color="#111111",
                bbox=_LABEL_BOX,
                gid="label-town",
                zorder=8,
                clip_on=True,
            )
            placed.append(box)
            shown.append(name)
            break
    missing = missing_chars("".join(shown))
    if missing:
        warnings.warn(
            f"the map font has no glyph for {missing!r} in the town names: those characters print as empty boxes",
            MtownGeoWarning,
            stacklevel=3,
        )
    log.debug("town names written: %d of %d", len(shown), len(frame))
    return len(shown)


def _anchor(geom: shapely.Geometry) -> shapely.Point:
    """Where a town's name goes: the pole of inaccessibility of its largest part (the most room around it)."""
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3] if len(parts) else parts
    if not len(parts):
        return shapely.point_on_surface(geom)
    big = parts[int(np.argmax(shapely.area(parts)))]
    tolerance = max(math.sqrt(shapely.area(big)) / 200.0, 1.0)
    try:
        return shapely.ops.polylabel(big, tolerance=tolerance)
    except Exception:  # pragma: no cover - GEOS refused a degenerate ring
        return shapely.point_on_surface(big)


# -- the HTML map ------------------------------------------------------------------------------


def province_web_map(
    summary: pd.DataFrame,
    towns: gpd.GeoDataFrame,
    *,
    row: int | None = None,
    profile: Profile | str | Path | None = None,
    year: int | None = None,
    name_col: str = "name",
    title: str | None = None,
    tiles: bool = False,
) -> folium.Map:
    """The interactive map of a batch: every town coloured by its status on one annex row.

    One self-contained HTML page (Leaflet embedded; no tile server unless ``tiles``):
    the towns in the colours of :data:`STATUS_CLASSES`, a legend with the number of towns
    per class, and for each town a tooltip with its name, class, value and, for a failed
    town, the error. Names are shown as text, never read as HTML.

    Parameters
    ----------
    summary, towns, row, profile, year, name_col
        As in :func:`province_map`.
    title : str, optional
        The page title (default: the print map's Chinese and English title).
    tiles : bool
        Offer OpenStreetMap tiles as the background (needs the network when viewed).

    Returns
    -------
    folium.Map
        Save it with :func:`mtown_geo.render.save_map`.
    """
    row_n, spec = _row_spec(profile, row)
    frame, without = _frame(summary, towns, row=row_n, name_col=name_col)
    zh, en, sub = _texts(frame, without, row=row_n, spec=spec, year=year)
    wgs = frame.to_crs(4326)
    west, south, east, north = (float(v) for v in wgs.total_bounds)
    fmap = new_map((west, south, east, north), tiles=tiles)
    page = _Page((west, south, east, north))
    keys = list(STATUS_CLASSES)
    geo, keep = page.geometry(frame, simplify_m=20.0)
    k = [keys.index(c) for c in frame["map_class"].to_numpy()[keep]]
    unit = spec.unit if spec is not None else "%"
    value = [None if not np.isfinite(v) else round(float(v), 1) for v in frame["value"].to_numpy()[keep]]
    props = {
        "name": [str(n) for n in frame["name"].to_numpy()[keep]],
        "k": k,
        "value": value,
        "error": [str(e) or None for e in frame["error"].to_numpy()[keep]],
    }
    tip = [
        {"p": "name", "h": "镇 town"},
        {"p": "k", "h": "状态 status", "f": "cls"},
        {"p": "value", "h": f"第 {row_n} 项 row {row_n}", "u": unit, "d": 1, "skip": True},
        {"p": "error", "h": "错误 error", "skip": True},
    ]
    part = {
        "g": geo,
        "p": props,
        "by": "k",
        "cl": [[label, colour] for label, colour in STATUS_CLASSES.values()],
        "s": {"fill": "#cccccc", "color": _EDGE, "w": 0.8, "fo": 0.85},
        "pane": "mgAreas",
        "tip": tip,
    }
    counts = frame["map_class"].value_counts()
    legend = [
        {
            "h": f"第 {row_n} 项 {spec.name_zh if spec is not None else '15分钟生活圈覆盖率'}",
            "items": [
                {"t": "box", "c": colour, "e": _EDGE, "l": _counts_label(key, int(counts[key]))}
                for key, (_, colour) in STATUS_CLASSES.items()
                if key in counts
            ],
        }
    ]
    if without:
        legend[0]["note"] = (
            f"{len(without)} 镇无边界未绘出 without a boundary: " + "、".join(without[:10]) + ("…" if len(without) > 10 else "")
        )
    page.layer("towns", "各镇状态 towns by status", sub, [part], legend, on=True)
    page.tree.append("towns")
    page.add_to(fmap, title=title if title is not None else f"{zh}  {en}", tiles=tiles)
    return fmap


# -- writing -----------------------------------------------------------------------------------


def _fingerprint(frame: gpd.GeoDataFrame, without: Sequence[str], options: dict[str, Any]) -> str:
    """What the maps show: the towns' names, classes, values, errors and boundaries, the options, the version."""
    h = hashlib.sha256()
    h.update(json.dumps({"options": options, "without": list(without), "version": __version__}, default=str).encode())
    for col in ("name", "map_class", "error"):
        h.update(json.dumps([str(v) for v in frame[col]], ensure_ascii=False).encode("utf-8"))
    h.update(np.round(frame["value"].to_numpy(float), 6).tobytes())
    for wkb in shapely.to_wkb(frame.geometry.to_numpy()):
        h.update(wkb)
    return h.hexdigest()


def _unchanged(folder: Path, fingerprint: str) -> bool:
    """Whether ``folder`` holds these maps already: the toolkit's files, complete and unchanged, of the same fingerprint."""
    listed = own_files(folder)
    if listed is None or set(listed) != set(_FILES):
        return False
    for rel, info in listed.items():
        p = folder / rel
        if not p.is_file() or p.stat().st_size != info["bytes"] or file_sha256(p) != info["sha256"]:
            return False
    try:
        old = json.loads((folder / _FINGERPRINT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(old, dict) and old.get("fingerprint") == fingerprint


def write_province_maps(
    summary: pd.DataFrame,
    towns: gpd.GeoDataFrame,
    out: str | os.PathLike[str],
    *,
    row: int | None = None,
    profile: Profile | str | Path | None = None,
    year: int | None = None,
    name_col: str = "name",
    data_date: str | date | None = None,
    prepared_by: str | None = None,
    overwrite: bool = False,
    dpi: float = 200,
) -> list[Path]:
    """Write the province's summary maps into a folder: PNG, PDF and HTML, with ``manifest.json``.

    The files are ``summary_map.png`` (``dpi``), ``summary_map.pdf`` (vector, searchable
    text), ``summary_map.html`` and ``summary_map.json`` (the number of towns per class and
    the fingerprint of what the maps show). They are built in a hidden work folder and
    moved into ``out`` only when all are complete (:func:`mtown_geo._io.atomic_dir`): an
    earlier summary map there is replaced, a folder holding other files is refused. When
    ``out`` already holds the same maps (same towns, statuses, values, options and
    toolkit version, files unchanged), nothing is written.

    Parameters
    ----------
    summary, towns, row, profile, year, name_col, data_date, prepared_by
        As in :func:`province_map`.
    out : path
        The folder of the maps (a batch writes them into ``<out>/summary_map``).
    overwrite : bool
        Allow a folder that holds other files (only the toolkit's own files are replaced).
    dpi : float
        Resolution of the PNG (default 200: an A3 sheet of 3300 × 2340 pixels).

    Returns
    -------
    list of Path
        The files of the folder (PNG, PDF, HTML, JSON).

    Raises
    ------
    InputError
        See :func:`province_map`.
    OutputFolderError, OutputNotWritableError
        The folder is refused or cannot be written; nothing is changed.
    """
    row_n, _ = _row_spec(profile, row)
    frame, without = _frame(summary, towns, row=row_n, name_col=name_col)
    options: dict[str, Any] = {"row": row_n, "profile": None if profile is None else resolve(profile).name, "year": year}
    options.update({"data_date": str(data_date), "prepared_by": prepared_by, "dpi": dpi})
    fingerprint = _fingerprint(frame, without, options)
    folder = Path(out).expanduser().absolute()
    paths = [folder / f for f in _FILES]
    if folder.is_dir() and _unchanged(folder, fingerprint):
        log.info("%s already holds these summary maps: left as it is", folder)
        return paths
    kw: dict[str, Any] = {"row": row, "profile": profile, "year": year, "name_col": name_col}
    fig = province_map(summary, towns, **kw, data_date=data_date, prepared_by=prepared_by)
    fmap = province_web_map(summary, towns, **kw)
    counts = {k: int(v) for k, v in frame["map_class"].value_counts().items()}
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        save_figure(fig, tmp / MAP_NAME, dpi=dpi)
        save_map(fmap, tmp / f"{MAP_NAME}.html")
        info = {"row": row_n, "towns": len(frame) + len(without), "classes": counts, "without_boundary": list(without)}
        (tmp / _FINGERPRINT).write_text(
            json.dumps({**info, "fingerprint": fingerprint}, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    log.info("wrote the summary maps into %s", folder)
    return paths


def map_folder(out_dir: Path, town_folders: Sequence[str]) -> Path:
    """The folder of a batch's summary maps: ``summary_map``, or ``summary_map_<n>`` when a town's folder has that name."""
    taken = {str(f).casefold() for f in town_folders}
    name, n = MAP_DIR, 0
    while name.casefold() in taken:
        n += 1
        name = f"{MAP_DIR}_{n}"
    return out_dir / name


def _data_date_of(out_dir: Path, folders: Sequence[str]) -> str | None:
    """The OSM data date a finished town's manifest records (every town of a batch reads the same extract)."""
    for f in folders:
        try:
            man = json.loads((out_dir / str(f) / "manifest.json").read_text(encoding="utf-8"))
            dates = [s.get("date") for s in man["provenance"]["sources"] if s.get("date")]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if dates:
            return str(dates[0])
    return None


def write_batch_maps(
    summary: pd.DataFrame,
    towns: gpd.GeoDataFrame,
    out_dir: str | os.PathLike[str],
    *,
    profile: Profile | str | Path | None = None,
    year: int | None = None,
    name_col: str = "name",
) -> list[Path]:
    """The summary maps at the end of a batch, into ``<out_dir>/summary_map``; a failure is a warning.

    The towns' results and the summary table are written before: a map that cannot be
    made (a folder of the user's in its place, a full disk) leaves them as they are and
    is reported as a :class:`~mtown_geo.MtownGeoWarning`. Returns the files written (none
    on failure).
    """
    out = Path(out_dir)
    has = "folder" in summary
    folders = [str(f) for f in summary["folder"].dropna()] if has else []
    done = [str(f) for f in summary.loc[summary["status"] == "done", "folder"].dropna()] if has else []
    try:
        return write_province_maps(
            summary,
            towns,
            map_folder(out, folders),
            profile=profile,
            year=year,
            name_col=name_col,
            data_date=_data_date_of(out, done) or "见各镇 manifest.json see each town's manifest.json",
        )
    except (MtownGeoError, OSError) as exc:
        msg = f"the summary map was not written ({type(exc).__name__}: {exc}); the towns' results and summary.csv are complete"
        log.warning("%s", msg)
        warnings.warn(msg, MtownGeoWarning, stacklevel=2)
        return []
