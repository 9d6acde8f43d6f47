"""Interactive maps (folium / Leaflet) of travel times, facilities and boundaries."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element

from ..sources.osm import ATTRIBUTION
from ..standards import Profile

__all__ = ["TIME_BINS", "new_map", "reach_map", "save_map"]

#: Travel-time classes of the maps: (upper bound in minutes, colour, label).
TIME_BINS: tuple[tuple[float, str, str], ...] = (
    (5.0, "#1a9850", "≤ 5 分钟 min"),
    (10.0, "#91cf60", "5–10 分钟 min"),
    (15.0, "#fee08b", "10–15 分钟 min"),
    (30.0, "#fc8d59", "15–30 分钟 min"),
    (np.inf, "#d73027", "> 30 分钟 min / 不可达 unreachable"),
)


_LEAFLET_JS = "mtown-geo:inline:leaflet.js"
_LEAFLET_CSS = "mtown-geo:inline:leaflet.css"
# folium builds popup contents with ``$(html)[0]``; this is all of jQuery it needs
_DOLLAR_SHIM = (
    "window.$ = window.$ || function (h) { var t = document.createElement('template'); "
    "t.innerHTML = String(h).trim(); return [t.content.firstChild]; };"
)


def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JavaScript and CSS (from the django-js-lib-leaflet wheel), images inlined."""
    import base64
    from importlib import resources

    base = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers-2x.png", "layers.png", "marker-icon-2x.png", "marker-icon.png", "marker-shadow.png"):
        data = base64.b64encode((base / "images" / name).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{name})", f"url(data:image/png;base64,{data})")
    return js, css


def new_map(bounds: tuple[float, float, float, float], *, tiles: bool = True) -> folium.Map:
    """An empty folium map fitted to lon/lat bounds (west, south, east, north).

    With ``tiles=False`` the background is plain and the map needs no tile server; the
    OSM attribution is always shown. Save it with :func:`save_map` to get one HTML file
    that works offline (Leaflet is embedded, nothing is fetched from a CDN).
    """
    west, south, east, north = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=14,
        tiles="OpenStreetMap" if tiles else None,
        attr=ATTRIBUTION,
        control_scale=True,
    )
    fmap.default_js = [("leaflet", _LEAFLET_JS)]
    fmap.default_css = [("leaflet_css", _LEAFLET_CSS)]
    root: Any = fmap.get_root()
    root.header.add_child(Element(f"<script>{_DOLLAR_SHIM}</script>"))
    if not tiles:
        root.html.add_child(Element("<style>.leaflet-container{background:#f4f4f0}</style>"))
        root.html.add_child(
            Element(
                '<div style="position:fixed;bottom:2px;right:8px;z-index:9999;font:11px sans-serif">'
                f"{html.escape(ATTRIBUTION)}</div>"
            )
        )
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def save_map(fmap: folium.Map, path: str | Path) -> Path:
    """Write a map as one self-contained HTML file (Leaflet inlined), atomically."""
    from .._io import atomic_file

    text = fmap.get_root().render()
    js, css = _leaflet_assets()
    text = text.replace(f'<script src="{_LEAFLET_JS}"></script>', f"<script>{js}</script>")
    text = text.replace(f'<link rel="stylesheet" href="{_LEAFLET_CSS}"/>', f"<style>{css}</style>")
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _colour(t: float) -> str:
    for upper, colour, _ in TIME_BINS:
        if t <= upper:
            return colour
    return TIME_BINS[-1][1]


def _legend(title: str) -> Element:
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;background:{c};'
        f'margin-right:6px;vertical-align:middle"></span>{html.escape(label)}</div>'
        for _, c, label in TIME_BINS
    )
    return Element(
        '<div class="mtown-legend" style="position:fixed;bottom:24px;left:12px;z-index:9999;'
        'background:white;padding:8px 10px;border:1px solid #999;border-radius:4px;font:12px sans-serif">'
        f"<b>{html.escape(title)}</b>{rows}</div>"
    )


def reach_map(
    cells: gpd.GeoDataFrame,
    times: pd.DataFrame,
    *,
    facilities: gpd.GeoDataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    profile: Profile | None = None,
    categories: Sequence[str] | None = None,
    tiles: bool = True,
    title: str = "",
) -> folium.Map:
    """A folium map: one layer per category with demand cells coloured by travel time.

    Parameters
    ----------
    cells : GeoDataFrame
        Demand-unit polygons (e.g. :func:`mtown_geo.demand.cells`), any CRS.
    times : DataFrame
        Travel times in minutes, index-aligned with ``cells``, one column per category.
    facilities : GeoDataFrame, optional
        Facilities (``category``, ``name``) shown as markers with popups.
    boundaries : GeoDataFrame, optional
        Study-area outlines (``kind``: 镇域 / 建成区).
    profile : Profile, optional
        For the Chinese category names.
    tiles : bool, optional
        OpenStreetMap tiles (default); ``False`` gives a plain background that needs no
        tile server.

    Returns
    -------
    folium.Map
        With a layer control, a legend and the OSM attribution.
    """
    cats = list(times.columns if categories is None else categories)
    wgs = cells.to_crs(4326)
    west, south, east, north = wgs.total_bounds
    fmap = new_map((west, south, east, north), tiles=tiles)
    root: Any = fmap.get_root()
    geom = wgs.geometry.simplify(0).set_precision(1e-6)
    for i, cat in enumerate(cats):
        label = cat
        if profile is not None and cat in profile.categories:
            label = f"{profile.categories[cat].name_zh} {profile.categories[cat].name_en}"
        t = times[cat].to_numpy(dtype=float)
        layer = gpd.GeoDataFrame(
            {"minutes": np.where(np.isfinite(t), np.round(t, 1), -1.0), "colour": [_colour(x) for x in t]},
            geometry=geom.values,
            crs=4326,
        )
        folium.GeoJson(
            layer.to_json(),
            name=f"{label} 出行时间 travel time",
            show=i == 0,
            style_function=lambda f: {
                "fillColor": f["properties"]["colour"],
                "color": f["properties"]["colour"],
                "weight": 0,
                "fillOpacity": 0.6,
            },
            tooltip=folium.GeoJsonTooltip(fields=["minutes"], aliases=["分钟 min (-1 = 不可达)"]),
        ).add_to(fmap)
    if boundaries is not None and len(boundaries):
        b = boundaries.to_crs(4326)
        fields = [c for c in ("name", "kind") if c in b]
        folium.GeoJson(
            b[[*fields, "geometry"]].to_json(),
            name="边界 boundaries",
            style_function=lambda f: {"fill": False, "color": "#333333", "weight": 2, "dashArray": "6 4"},
            tooltip=folium.GeoJsonTooltip(fields=fields) if fields else None,
        ).add_to(fmap)
    if facilities is not None and len(facilities):
        f = facilities.to_crs(4326)
        group = folium.FeatureGroup(name="设施 facilities", show=True)
        pts = f.geometry.representative_point()
        for (_, row), pt in zip(f.iterrows(), pts, strict=True):
            cat = str(row.get("category", ""))
            zh = profile.categories[cat].name_zh if profile is not None and cat in profile.categories else cat
            name = row.get("name")
            name = name if isinstance(name, str) and name else "(未命名 unnamed)"
            popup = f"<b>{html.escape(name)}</b><br>{html.escape(zh)} ({html.escape(cat)})"
            folium.CircleMarker(
                [pt.y, pt.x],
                radius=4,
                color="#2b2b2b",
                weight=1,
                fill=True,
                fill_color="#4575b4",
                fill_opacity=0.9,
                popup=folium.Popup(popup, max_width=260),
                tooltip=f"{zh}: {name}",
            ).add_to(group)
        group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    root.html.add_child(_legend(title or "出行时间 Travel time"))
    return fmap
