"""The maps of the policy tasks: a print map per task and one interactive map of them all.

A task map is a *spec*: ``(file stem, layers, title zh, title en, subtitle)`` where each
layer is ``(GeoDataFrame, matplotlib style, legend label)``; the label may name ``{n}``,
``{km}`` or ``{area_ha}`` (:func:`mtown_geo.render.layers_map` fills them in). The run's
task step makes the specs (:func:`mtown_geo.pipeline.tasks.map_specs`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from jinja2 import Template
from jinja2.utils import htmlsafe_json_dumps
from matplotlib.figure import Figure

from .interactive import _GeoJson, _Text, _Tooltip, escape_text, new_map  # data added as text, values shown as text
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


def _display(v: Any) -> str:
    """A property as tooltip text: numbers rounded, flags yes/no (the tooltip shows it as text)."""
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.1f}"
    return str(v)


#: GeoJSON types written from shapely's ragged arrays (2-D, not empty); any other geometry is
#: written from its ``__geo_interface__``.
_RAGGED = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}

#: What JSON written into an HTML script escapes (as Jinja's ``tojson``).
_HTMLSAFE = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027"))


def _json_value(v: Any) -> str:
    """A property value as :func:`json.dumps` writes it (text through its C escaper, the common case)."""
    return encode_basestring_ascii(v) if isinstance(v, str) else json.dumps(v)


def _nest(flat: list[Any], offsets: Sequence[np.ndarray]) -> list[Any]:
    """Coordinates nested by shapely's ragged-array offsets (innermost first), one item per geometry."""
    items = flat
    for off in offsets:
        o = off.tolist()
        items = [items[a:b] for a, b in itertools.pairwise(o)]
    return items


def _coordinates(geoms: np.ndarray) -> list[str | None]:
    """Each geometry's GeoJSON ``{"coordinates": ..., "type": ...}`` as JSON text with sorted keys
    (``None`` for a missing or empty one): the coordinates as :meth:`GeoDataFrame.to_json` writes them
    (shortest float text), read from shapely's arrays a type at a time rather than a feature at a time."""
    out: list[str | None] = [None] * len(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)  # written as null, as geopandas does
    tid = shapely.get_type_id(geoms)
    ragged = np.isin(tid, list(_RAGGED)) & ~missing
    ragged[ragged] &= ~shapely.has_z(geoms[ragged])
    for t, name in _RAGGED.items():
        idx = np.flatnonzero(ragged & (tid == t))
        if not len(idx):
            continue
        _, coords, offsets = shapely.to_ragged_array(geoms[idx])
        flat = coords.tolist()
        nested = flat if t == 0 else _nest(flat, offsets)
        tail = f', "type": "{name}"}}'
        for i, c in zip(idx.tolist(), nested, strict=True):
            out[i] = '{"coordinates": ' + json.dumps(c) + tail
    for i in np.flatnonzero(~ragged & ~missing).tolist():
        out[i] = json.dumps(geoms[i].__geo_interface__, sort_keys=True)
    return out


def _collection(props: pd.DataFrame, geoms: np.ndarray) -> tuple[str, dict[str, Any] | None]:
    """A layer as the FeatureCollection text folium writes into the page for it, and its first feature.

    The same text as ``GeoJson(frame.to_json())`` renders (features with an ``id``, keys sorted,
    ``<``, ``>``, ``&`` and ``'`` escaped) for a frame of these properties (text, from
    :func:`_display`) and geometries (WGS 84), without a dict per feature read and written
    twice. ``id`` is the row's index label, or its position when the labels repeat.
    """
    n = len(geoms)
    ids = props.index.astype(str) if props.index.is_unique else pd.Index([str(i) for i in range(n)])
    fields = sorted(props.columns)
    cols = [[key + _json_value(v) for v in props[k].tolist()] for k in fields for key in (json.dumps(k) + ": ",)]
    rows = ["{" + ", ".join(r) + "}" for r in zip(*cols, strict=True)] if fields else ["{}"] * n
    feats = [
        '{"geometry": '
        + (g if g is not None else "null")
        + ', "id": '
        + json.dumps(i)
        + ', "properties": '
        + r
        + ', "type": "Feature"}'
        for g, i, r in zip(_coordinates(geoms), ids, rows, strict=True)
    ]
    text = '{"features": [' + ", ".join(feats) + '], "type": "FeatureCollection"}'
    for ch, esc in _HTMLSAFE:
        text = text.replace(ch, esc)
    first = json.loads('{"features": [' + feats[0] + "]}")["features"][0] if n else None
    return text, first


class _Collection(_GeoJson):
    """A GeoJSON layer of data given as the text the page gets (see :func:`_collection`).

    folium checks the layer (its feature id, style and tooltip fields) on its first feature
    only; the page gets the whole collection, the same HTML as :class:`folium.GeoJson` of it.
    A style must be the same for every feature.
    """

    def __init__(self, text: str, first: dict[str, Any] | None, **kwargs: Any) -> None:
        super().__init__({"type": "FeatureCollection", "features": [first] if first is not None else []}, **kwargs)
        self._text = text

    def render(self, **kwargs: Any) -> str:
        super().render(**kwargs)
        script: Any = self.get_root().script  # type: ignore[attr-defined]
        part = script._children[self.get_name()]
        stub = str(htmlsafe_json_dumps(self.data, sort_keys=True))
        if part._text.count(stub) != 1:  # pragma: no cover - a folium that writes its data otherwise
            raise RuntimeError("the layer's data was not found in the script folium wrote for it")
        part._text = part._text.replace(stub, self._text)
        return ""


#: The table style folium's GeoJSON tooltip adds to the page head, as it writes it.
_TIP_CSS = Template(
    """
                    <style>
                        .{{ this.class_name }} {
                            {{ this.style }}
                        }
                       .{{ this.class_name }} table{
                            margin: auto;
                        }
                        .{{ this.class_name }} tr{
                            text-align: left;
                        }
                        .{{ this.class_name }} th{
                            padding: 2px; padding-right: 8px;
                        }
                    </style>
            """
)


class _LayerTooltip(_Tooltip):
    """:class:`~mtown_geo.render.interactive._Tooltip` whose page parts are added as text.

    folium compiles the tooltip's table style as a template for each tooltip, and branca
    compiles each part it renders as a template once more; here the style template is
    compiled once and the parts (text from data is escaped, nothing in them is template
    syntax) are added as they are: the same HTML. The fields are the layer's own columns.
    """

    def render(self, **kwargs: Any) -> str:
        figure: Any = self.get_root()
        figure.header.add_child(_Text(_TIP_CSS.render(this=self)), name=self.get_name() + "tablestyle")
        macros = self._template.module.__dict__
        for part in ("header", "html", "script"):
            macro = macros.get(part)
            if macro is not None:
                text = str(macro(self, kwargs))
                # as Jinja renders the text as a template: one final newline dropped
                getattr(figure, part).add_child(_Text(text[:-1] if text.endswith("\n") else text), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)
        return ""


def _layer(frame: pd.DataFrame, geoms: np.ndarray, **kwargs: Any) -> _Collection:
    text, first = _collection(frame, geoms)
    return _Collection(text, first, **kwargs)


def task_map(specs: Sequence[TaskMapSpec], *, boundaries: gpd.GeoDataFrame | None = None, tiles: bool = True) -> folium.Map:
    """One interactive map of every task spec: a layer group per task (the first shown), the
    boundaries dashed on top; every property shown as text in the tooltips.

    Returns
    -------
    folium.Map
        Save it with :func:`mtown_geo.render.save_map`.
    """
    bounds = boundaries
    extent = bounds if bounds is not None and len(bounds) else next(g for _, lay, *_ in specs for g, _, _ in lay)
    fmap = new_map(tuple(extent.to_crs(4326).total_bounds), tiles=tiles)
    for i, (_stem, lay, zh, en, _) in enumerate(specs):
        group = folium.FeatureGroup(name=escape_text(f"{zh} {en}"), show=i == 0)
        for gdf, style, label in lay:
            g = gdf.to_crs(4326)
            fields = [c for c in g.columns if c != g.geometry.name][:8]
            props = pd.DataFrame({c: [_display(v) for v in g[c].tolist()] for c in fields}, index=g.index)
            geoms = np.asarray(g.geometry.values, dtype=object)
            colour = style.get("facecolor", style.get("color", "#333333"))
            line = style.get("color", colour)
            width = style.get("linewidth", 1.0)
            legend = re.sub(r"\{[^}]*\}", "", label).strip()
            kinds = set(g.geom_type)
            dot = folium.CircleMarker(
                radius=max(3.0, float(style.get("markersize", 6.0)) / 1.5),
                color="#222",
                weight=1,
                fill=True,
                fill_color=colour,
                fill_opacity=0.9,
            )
            if kinds <= {"Point", "MultiPoint"}:
                layer = _layer(
                    props,
                    geoms,
                    name=escape_text(legend),
                    marker=dot,
                    tooltip=_LayerTooltip(fields=fields) if fields else None,
                )
            else:
                layer = _layer(
                    props,
                    geoms,
                    name=escape_text(legend),
                    # points among areas or lines (a centre given as a point or an area) as dots in
                    # the layer's colours, not Leaflet's default pin
                    marker=dot if kinds & {"Point", "MultiPoint", "GeometryCollection"} else None,
                    style_function=lambda f, c=colour, lc=line, w=width: {
                        "fillColor": c,
                        "color": lc if lc != "none" else c,
                        "weight": w,
                        "fillOpacity": 0.45,
                    },
                    tooltip=_LayerTooltip(fields=fields) if fields else None,
                )
            layer.add_to(group)
        group.add_to(fmap)
    if bounds is not None and len(bounds):
        b = bounds.to_crs(4326)
        _layer(
            b[["kind"]].astype(object).where(b[["kind"]].notna(), None),
            np.asarray(b.geometry.values, dtype=object),
            name="边界 boundaries",
            style_function=lambda f: {"fill": False, "color": "#333333", "weight": 2, "dashArray": "6 4"},
        ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
