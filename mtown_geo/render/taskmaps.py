"""The maps of the policy tasks: a print map per task and one interactive map of them all.

A task map is a *spec*: ``(file stem, layers, title zh, title en, subtitle)`` where each
layer is ``(GeoDataFrame, matplotlib style, legend label)``; the label may name ``{n}``,
``{km}`` or ``{area_ha}`` (filled in with the layer's totals, the same on the print map and
in the browser). The run's task step makes the specs (:func:`mtown_geo.pipeline.tasks.map_specs`).

The interactive map (:func:`task_map`) is drawn by the same page script as the town map
(:mod:`mtown_geo.render._leaflet`): compact geometries, a collapsed layer control with a
group per task, a legend of the layers switched on with their counts, lengths and areas, a
title, a metric scale and the vector basemap; text from data reaches the page as JSON and is
set as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.figure import Figure

from .._errors import InputError
from ..crs import require_crs
from ._basemap import ROAD_CLASSES, Basemap, road_class
from ._leaflet import Page, add_basemap, add_boundaries, is_missing, json_values, metric
from ._symbology import LAYER_COLOURS, fill_label, geom_kinds, layer_colours
from .interactive import new_map
from .static import layers_map, save_figure

__all__ = ["TaskMapSpec", "save_figures", "task_map", "task_print_maps"]

#: (file stem, [(layer, style, legend label)], title zh, title en, subtitle)
TaskMapSpec = tuple[str, list[tuple[Any, dict[str, Any], str]], str, str, str]


def save_figures(figures: Iterable[tuple[str, Figure]], folder: Path) -> list[Path]:
    """Save each ``(file stem, figure)`` as ``<folder>/<stem>.png`` and ``.pdf`` (see
    :func:`mtown_geo.render.save_figure`) and close it, also when saving fails.

    Returns
    -------
    list of Path
        The files written, PNG and PDF of each figure in turn.
    """
    written: list[Path] = []
    for name, fig in figures:
        try:
            written.extend(save_figure(fig, folder / name))
        finally:
            plt.close(fig)
    return written


def task_print_maps(
    specs: Sequence[TaskMapSpec],
    folder: Path,
    *,
    town: str,
    boundaries: gpd.GeoDataFrame | None = None,
    data_date: str | None = None,
) -> list[Path]:
    """One print map (PNG 300 dpi and PDF) per task spec in ``folder``, titled with the town's name.

    Each figure is drawn, saved and closed before the next is drawn.

    Returns
    -------
    list of Path
        The files written.
    """
    written: list[Path] = []
    for stem, lay, zh, en, subtitle in specs:
        fig = layers_map(
            lay,
            boundaries=boundaries,
            crs=boundaries.crs if boundaries is not None else None,
            title_zh=f"{town} {zh}",
            title_en=en,
            subtitle=subtitle,
            data_date=data_date,
        )
        written.extend(save_figures([(stem, fig)], folder))
    return written


#: Pixels on screen per point of a print map's line width.
_PX_PER_PT = 1.6

#: Tooltip rows of the task layers' columns: column -> (heading, unit, decimals, divisor).
#: An empty unit shows the value as text. Columns not listed are shown under their own name;
#: those in :data:`_HIDDEN` (bookkeeping, or said by the layer itself) are not shown.
_FIELDS: dict[str, tuple[str, str, int | None, float]] = {
    "name": ("名称 name", "", None, 1.0),
    "highway": ("道路等级 road class", "", None, 1.0),
    "status": ("状态 status", "", None, 1.0),
    "reason": ("原因 reason", "", None, 1.0),
    "length_m": ("长度 length", "m", 0, 1.0),
    "area_m2": ("面积 area", "公顷 ha", 2, 1e4),
    "long_side_m": ("长边 long side", "m", 0, 1.0),
    "short_side_m": ("短边 short side", "m", 0, 1.0),
    "degree": ("相交道路 roads meeting", "条", 0, 1.0),
    "path_km": ("至镇政府路径 path to the town seat", "km", 2, 1.0),
    "fail_km": ("其中非双车道 of which not two-lane", "km", 2, 1.0),
    "unknown_km": ("其中未知 of which unknown", "km", 2, 1.0),
    "weak_link_road": ("最弱路段 weakest stretch", "", None, 1.0),
    "weak_link_reason": ("最弱路段原因 why", "", None, 1.0),
    "snap_dist_m": ("至道路距离 distance to the road", "m", 0, 1.0),
    "radius_m": ("服务半径 radius", "m", 0, 1.0),
    "walk_min": ("步行时间 walk time", "分钟 min", 1, 1.0),
    "band": ("步行范围 walk band", "", None, 1.0),
    "green_class": ("绿地类别 class", "", None, 1.0),
    "covered": ("已覆盖 covered", "", None, 1.0),
    "in_town": ("在镇域内 in the town", "", None, 1.0),
    "served": ("有公交线路 on a bus route", "", None, 1.0),
    "source": ("来源 source", "", None, 1.0),
    "note": ("备注 note", "", None, 1.0),
    "osm_id": ("OSM 编号 id", "", None, 1.0),
}
_HIDDEN = frozenset(
    {
        "variant",
        "dual",
        "n_nodes",
        "n_features",
        "within_max",
        "weak_status",
        "weak_link_status",
        "weak_link_highway",
        "weak_link_osm_id",
        "weak_link_m",
        "raw_m2",
    }
)
_MAX_FIELDS = 8

#: Status words of the task layers, in Chinese with the English.
_STATUS = {"pass": "达标 pass", "fail": "未达标 fail", "unknown": "未知 unknown（缺少标签 tags missing）"}
_ROAD_LABEL = {c.key: c.label for c in ROAD_CLASSES}


def _column(values: np.ndarray, col: str, unit: str, decimals: int | None, divisor: float) -> list[Any]:
    """A column's values as the tooltip shows them: numbers scaled and rounded, flags 是/否, status
    words and OSM road classes in Chinese, text as text; None (the row left out) where missing."""
    if col == "status":
        return [None if is_missing(v) or v == "" else _STATUS.get(str(v), str(v)) for v in values]
    if col == "highway":
        return [
            None if is_missing(v) else (f"{_ROAD_LABEL[k]} ({v})" if (k := road_class(v)) in _ROAD_LABEL else str(v))
            for v in values
        ]
    if values.dtype.kind == "b":
        return ["是 yes" if v else "否 no" for v in values.tolist()]
    if unit or values.dtype.kind in "fiu":
        try:
            num = values.astype(float)
        except (TypeError, ValueError):
            return [None if is_missing(v) or v == "" else str(v) for v in values]
        return json_values(num / divisor, 2 if decimals is None else decimals)
    return [None if is_missing(v) or v == "" else (v if isinstance(v, str) else str(v)) for v in values]


def _tooltip(gdf: gpd.GeoDataFrame, rows: np.ndarray) -> tuple[dict[str, list[Any]], list[dict[str, Any]] | None]:
    """The properties and tooltip rows of a layer's features ``rows`` (positions): the listed
    columns first, in their order, then the others under their own names; at most eight."""
    cols = [c for c in gdf.columns if c != gdf.geometry.name and c not in _HIDDEN]
    cols = sorted(cols, key=lambda c: list(_FIELDS).index(c) if c in _FIELDS else len(_FIELDS))[:_MAX_FIELDS]
    props: dict[str, list[Any]] = {}
    tip: list[dict[str, Any]] = []
    for col in cols:
        heading, unit, dec, div = _FIELDS.get(col, (str(col), "", None, 1.0))
        values = _column(gdf[col].to_numpy()[rows], col, unit, dec, div)
        if all(v is None for v in values):
            continue
        key = str(col)
        props[key] = values
        row: dict[str, Any] = {"p": key, "h": heading, "skip": True}
        if unit:
            row["u"] = unit
        if dec is not None:
            row["d"] = dec
        tip.append(row)
    return props, tip or None


def _hex(value: Any, *, what: str) -> str:
    """A matplotlib colour (a name, "C0", an RGB tuple) as the ``#rrggbb`` the page draws, or "none"."""
    if isinstance(value, str) and value == "none":
        return value
    try:
        return str(mcolors.to_hex(value))
    except (TypeError, ValueError):
        raise InputError(f"{what}: {value!r} is not a colour (e.g. '#1a9850', 'tab:green' or 'none')") from None


def _look(style: dict[str, Any], default: str, *, what: str) -> dict[str, Any]:
    """A print layer's matplotlib style read as the page draws it (the same defaults as the print map)."""
    c = {k: _hex(v, what=what) for k, v in layer_colours(style, default).items()}
    lw = style.get("linewidth")
    ls = style.get("linestyle", "-")
    dash = {"--": "6 4", "dashed": "6 4", ":": "2 4", "dotted": "2 4", "-.": "8 4 2 4", "dashdot": "8 4 2 4"}.get(ls)
    return {
        **c,
        "alpha": style.get("alpha"),
        "lw": lw,
        "dash": dash,
        "radius": max(3.0, float(style.get("markersize", 6.0)) / 1.5),
    }


def _parts(page: Page, gdf: gpd.GeoDataFrame, look: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """A layer's features as page parts, one per kind of geometry (areas, lines, points: a centre
    given as a point among areas is a dot in the layer's colours), and the layer's main kind
    (the most common; ties to areas, then lines) for its legend symbol."""
    series = gdf.geometry
    kinds = geom_kinds(series.to_numpy())
    parts = []
    for kind in (2, 1, 0):
        rows = np.flatnonzero(kinds == kind)
        if not len(rows):
            continue
        # the geometries alone: the other columns are read by row below
        kind_geoms = series if len(rows) == len(series) else series.iloc[rows]
        geo, keep = page.geometry(kind_geoms, simplify_m=None if kind == 0 else 1.0, exact=False)
        props, tip = _tooltip(gdf, rows[keep])
        if kind == 2:
            edge = look["edge"]
            w = (0.6 if look["lw"] is None else look["lw"]) * _PX_PER_PT if edge != "none" else 0
            s = {"fill": look["face"], "color": edge if edge != "none" else look["face"], "w": w}
            s["fo"] = look["alpha"] if look["alpha"] is not None else 0.5
            pane, r = "mgAreas", None
        elif kind == 1:
            w = max(1.0, (1.8 if look["lw"] is None else look["lw"]) * _PX_PER_PT)
            s = {"fill": "none", "color": look["colour"], "w": w, "fo": 0}
            if look["alpha"] is not None:
                s["op"] = look["alpha"]
            pane, r = "mgLines", None
        else:
            s = {"fill": look["point_face"], "color": look["point_edge"], "w": 1, "fo": 0.95}
            pane, r = "mgPoints", look["radius"]
        if look["dash"] and kind != 0:
            s["dash"] = look["dash"]
        part: dict[str, Any] = {"g": geo, "p": props, "s": s, "pane": pane, "tip": tip}
        if r is not None:
            part["r"] = r
        parts.append(part)
    counts = np.bincount(kinds[kinds >= 0], minlength=3)
    main = 2 - int(np.argmax(counts[::-1])) if counts.any() else 2
    return parts, main


def _symbol(look: dict[str, Any], main: int, label: str) -> dict[str, Any]:
    """The legend's symbol of a layer: a box, a line or a dot in its colours."""
    if main == 2:
        return {"t": "box", "c": look["face"], "e": look["edge"] if look["edge"] != "none" else look["face"], "l": label}
    if main == 1:
        w = max(2, round((1.8 if look["lw"] is None else look["lw"]) * _PX_PER_PT))
        return {"t": "dash" if look["dash"] else "line", "c": look["colour"], "w": w, "l": label}
    return {"t": "dot", "c": look["point_face"], "e": look["point_edge"], "l": label}


def _in_crs(gdf: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """``gdf.to_crs(crs)``, or the layer itself when it is in that CRS already (read only, no copy)."""
    return gdf if gdf.crs is not None and gdf.crs.is_exact_same(crs) else gdf.to_crs(crs)


def task_map(
    specs: Sequence[TaskMapSpec],
    *,
    boundaries: gpd.GeoDataFrame | None = None,
    tiles: bool = True,
    town: str = "",
    title: str = "",
    basemap: Basemap | None = None,
    streets: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """One interactive map of every task spec, readable at a glance and offline.

    A title (the town and "主要任务 policy tasks"); a collapsed layer control with a group
    per task and an entry per layer, named with its totals as on the print map ("交叉口
    junctions 215 处"); the first task's layers on at start, the others a click away; a
    legend of the layers switched on, grouped by task under the task's headline figure;
    Chinese tooltips with units; the boundaries; the vector basemap (or OpenStreetMap tiles,
    online); a metric scale and the OSM attribution.

    Parameters
    ----------
    specs : sequence of TaskMapSpec
        ``(file stem, [(layer, style, legend label)], title zh, title en, subtitle)`` per
        task (:func:`mtown_geo.pipeline.tasks.map_specs`); layers in any CRS, styles and
        labels as :func:`mtown_geo.render.layers_map` takes them.
    boundaries : GeoDataFrame, optional
        Study-area outlines (``kind``: 镇域 / 建成区), always drawn; the map opens on them, and
        the labels' totals are measured in their CRS when it is projected (as on the print map).
    tiles : bool
        Offer OpenStreetMap tiles (online) as a background; the vector basemap (when there is
        one) is the background at start.
    town : str
        The town's name, for the default title.
    title : str
        The map's title (and the page's); default ``"<town> 主要任务 policy tasks"``.
    basemap : Basemap, optional
        Streets, water, green land and buildings (``StudyResult.basemap``).
    streets : GeoDataFrame, optional
        Streets (``highway``, ``name``) for a basemap of streets alone, without ``basemap``.

    Returns
    -------
    folium.Map
        Save it with :func:`mtown_geo.render.save_map`.

    Raises
    ------
    InputError
        No spec, or no layer with a feature; a label that names an unknown total.
    CRSError
        A layer without a CRS.
    """
    layers = [gdf for _, lay, *_ in specs for gdf, _, _ in lay]
    if not layers:
        raise InputError("no task map to draw: give at least one spec with a layer (pipeline.tasks.map_specs)")
    for i, gdf in enumerate(layers):
        require_crs(gdf, what=f"task map layer {i}")
    has_bounds = boundaries is not None and len(boundaries) > 0
    extent = boundaries if has_bounds else next((g for g in layers if len(g)), None)
    if extent is None:
        raise InputError("the task maps' layers are all empty: nothing to draw")
    bounds = tuple(float(v) for v in extent.to_crs(4326).total_bounds)
    fmap = new_map(bounds, tiles=tiles)  # type: ignore[arg-type]
    page = Page(bounds)  # type: ignore[arg-type]
    measure = boundaries.crs if has_bounds and boundaries is not None and boundaries.crs.is_projected else None
    i = 0
    for t, (stem, lay, zh, en, subtitle) in enumerate(specs):
        heading = f"{zh} {en}".strip()
        headline = f"{heading}：{subtitle}" if subtitle else heading
        items = []
        for j, (gdf, style, label) in enumerate(lay):
            in_m = _in_crs(gdf, measure) if measure is not None else metric(gdf)
            text = fill_label(label, in_m.geometry.to_numpy(), i=i)
            look = _look(dict(style or {}), LAYER_COLOURS[j % len(LAYER_COLOURS)], what=f"task map layer {i}")
            parts, main = _parts(page, in_m, look) if len(gdf) else ([], 2)
            block = {"h": heading, "note": subtitle, "g": stem, "items": [_symbol(look, main, text)]}
            items.append(page.layer(f"{stem}:{j}", text, f"{zh} · {text}", parts, [block], on=t == 0, sub=headline))
            i += 1
        page.tree.append({"label": heading, "open": t == 0, "items": items})
    add_boundaries(page, boundaries if has_bounds else None)
    add_basemap(page, basemap, streets, extent)
    page.add_to(fmap, title=title or f"{town} 主要任务 policy tasks".strip(), tiles=tiles)
    return fmap
