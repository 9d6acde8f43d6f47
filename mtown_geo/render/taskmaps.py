"""The maps of the policy tasks: a print map per task and one interactive map of them all.

A task map is a *spec*: ``(file stem, layers, title zh, title en, subtitle)`` where each
layer is ``(GeoDataFrame, matplotlib style, legend label)``; the label may name ``{n}``,
``{km}`` or ``{area_ha}`` (:func:`mtown_geo.render.layers_map` fills them in). The run's
task step makes the specs (:func:`mtown_geo.pipeline.tasks.map_specs`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .interactive import _GeoJson, _Tooltip, escape_text, new_map  # data added as text, values shown as text
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
            props = pd.DataFrame({c: g[c].map(_display).to_numpy() for c in fields}, index=g.index)
            frame = gpd.GeoDataFrame(props, geometry=g.geometry.to_numpy(), crs=4326)
            colour = style.get("facecolor", style.get("color", "#333333"))
            line = style.get("color", colour)
            width = style.get("linewidth", 1.0)
            legend = re.sub(r"\{[^}]*\}", "", label).strip()
            kinds = set(frame.geom_type)
            if kinds <= {"Point", "MultiPoint"}:
                layer = _GeoJson(
                    frame.to_json(),
                    name=escape_text(legend),
                    marker=folium.CircleMarker(
                        radius=max(3.0, float(style.get("markersize", 6.0)) / 1.5),
                        color="#222",
                        weight=1,
                        fill=True,
                        fill_color=colour,
                        fill_opacity=0.9,
                    ),
                    tooltip=_Tooltip(fields=fields) if fields else None,
                )
            else:
                layer = _GeoJson(
                    frame.to_json(),
                    name=escape_text(legend),
                    style_function=lambda f, c=colour, lc=line, w=width: {
                        "fillColor": c,
                        "color": lc if lc != "none" else c,
                        "weight": w,
                        "fillOpacity": 0.45,
                    },
                    tooltip=_Tooltip(fields=fields) if fields else None,
                )
            layer.add_to(group)
        group.add_to(fmap)
    if bounds is not None and len(bounds):
        _GeoJson(
            bounds.to_crs(4326)[["kind", "geometry"]].to_json(),
            name="边界 boundaries",
            style_function=lambda f: {"fill": False, "color": "#333333", "weight": 2, "dashArray": "6 4"},
        ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
