"""Interactive maps (folium / Leaflet) of travel times, facilities and boundaries.

Text from data and profiles (town, park, greenway, facility and category names) is shown as
text: tooltips and popups set it with ``textContent``, and layer names, titles and labels go
through :func:`escape_text`. Markup or script in a name is displayed, never run.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from folium.template import Template

from ..demand import cells
from ..sources.osm import ATTRIBUTION
from ..standards import Profile

__all__ = ["TIME_BINS", "escape_text", "new_map", "reach_map", "save_map", "siting_map", "town_map"]

#: Travel-time classes of the maps: (upper bound in minutes, colour, label).
TIME_BINS: tuple[tuple[float, str, str], ...] = (
    (5.0, "#1a9850", "≤ 5 分钟 min"),
    (10.0, "#91cf60", "5–10 分钟 min"),
    (15.0, "#fee08b", "10–15 分钟 min"),
    (30.0, "#fc8d59", "15–30 分钟 min"),
    (np.inf, "#d73027", "> 30 分钟 min / 不可达 unreachable"),
)


# folium builds popup contents with ``$(html)[0]``; this is all of jQuery it needs
_DOLLAR_SHIM = (
    "window.$ = window.$ || function (h) { var t = document.createElement('template'); "
    "t.innerHTML = String(h).trim(); return [t.content.firstChild]; };"
)


#: Characters that HTML escaping leaves alone but that act inside the places folium puts
#: text: a JavaScript template literal (`` ` ``, ``${``, ``\\``) and a Jinja template that
#: branca compiles again (``{{``, ``{%``).
_NOT_HTML = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def escape_text(value: object) -> str:
    """Text from data (a town, park or category name) made safe to show on a map page.

    HTML-escaped (``&``, ``<``, ``>``, quotes), and the characters that would open an
    interpolation or an escape where folium places text (a JavaScript template literal, a
    Jinja template) written as character references too. The browser shows the text as it
    was; nothing in it runs. Use it for every text that goes into a layer name, a tooltip
    string, a legend or a title; property values shown by the map's tooltips and popups
    are set as text by the page itself and need no escaping.

    Examples
    --------
    >>> escape_text("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> escape_text("${x} {{ y }}")
    '&#36;&#123;x&#125; &#123;&#123; y &#125;&#125;'
    """
    return html.escape(str(value), quote=True).translate(_NOT_HTML)


@functools.lru_cache(maxsize=1)
def _leaflet_data_uris() -> tuple[str, str]:
    """Leaflet's JavaScript and CSS (from the django-js-lib-leaflet wheel) as ``data:`` URIs,
    its images inlined, so a map needs no CDN: saved, or shown inline in Jupyter."""
    import base64
    from importlib import resources

    base = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    js = (base / "leaflet.js").read_bytes()
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers-2x.png", "layers.png", "marker-icon-2x.png", "marker-icon.png", "marker-shadow.png"):
        data = base64.b64encode((base / "images" / name).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{name})", f"url(data:image/png;base64,{data})")
    return (
        "data:text/javascript;base64," + base64.b64encode(js).decode("ascii"),
        "data:text/css;base64," + base64.b64encode(css.encode("utf-8")).decode("ascii"),
    )


def new_map(bounds: tuple[float, float, float, float], *, tiles: bool = True) -> folium.Map:
    """An empty folium map fitted to lon/lat bounds (west, south, east, north).

    With ``tiles=False`` the background is plain and the map needs no tile server; the
    OSM attribution is always shown. Leaflet itself is embedded (no CDN), so the map
    works offline, saved with :func:`save_map` or shown inline in a notebook.
    """
    west, south, east, north = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=14,
        tiles="OpenStreetMap" if tiles else None,
        attr=ATTRIBUTION,
        control_scale=True,
    )
    js, css = _leaflet_data_uris()
    fmap.default_js = [("leaflet", js)]
    fmap.default_css = [("leaflet_css", css)]
    root: Any = fmap.get_root()
    root.header.add_child(Element(f"<script>{_DOLLAR_SHIM}</script>"))
    if not tiles:
        root.html.add_child(_Text("<style>.leaflet-container{background:#f4f4f0}</style>"))
        root.html.add_child(
            _Text(
                '<div style="position:fixed;bottom:2px;right:8px;z-index:9999;font:11px sans-serif">'
                f"{escape_text(ATTRIBUTION)}</div>"
            )
        )
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def save_map(fmap: folium.Map, path: str | Path) -> Path:
    """Write a map as one self-contained HTML file, atomically."""
    from .._io import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(fmap.get_root().render(), encoding="utf-8")
    return path


def _colour(t: float) -> str:
    for upper, colour, _ in TIME_BINS:
        if t <= upper:
            return colour
    return TIME_BINS[-1][1]


def _legend(fmap: folium.Map, title: str) -> None:
    """The travel-time legend, headed by the title, which also becomes the page's title."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;background:{c};'
        f'margin-right:6px;vertical-align:middle"></span>{escape_text(label)}</div>'
        for _, c, label in TIME_BINS
    )
    root: Any = fmap.get_root()
    root.title = escape_text(title)
    root.html.add_child(
        _Text(
            '<div class="mtown-legend" style="position:fixed;bottom:24px;left:12px;z-index:9999;'
            'background:white;padding:8px 10px;border:1px solid #999;border-radius:4px;font:12px sans-serif">'
            f"<b>{escape_text(title)}</b>{rows}</div>"
        )
    )


def _banner(fmap: folium.Map, text: str) -> None:
    """A warning across the top of the page (escaped text on a yellow band): e.g. data no source holds."""
    root: Any = fmap.get_root()
    root.html.add_child(
        _Text(
            '<div class="mtown-banner" style="position:fixed;top:10px;left:60px;max-width:45%;z-index:9999;'
            "background:#FFEB9C;color:#5c3b00;padding:6px 10px;border:1px solid #9C6500;border-radius:4px;"
            f'font:13px sans-serif">{escape_text(text)}</div>'
        )
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
    geom = wgs.geometry.simplify(0).set_precision(1e-6, mode="pointwise")
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
        _GeoJson(
            _geojson(layer, ["minutes", "colour"]),
            name=escape_text(f"{label} 出行时间 travel time"),
            show=i == 0,
            style_function=lambda f: {
                "fillColor": f["properties"]["colour"],
                "color": f["properties"]["colour"],
                "weight": 0,
                "fillOpacity": 0.6,
            },
            tooltip=_Tooltip(fields=["minutes"], aliases=["分钟 min (-1 = 不可达)"]),
        ).add_to(fmap)
    if boundaries is not None and len(boundaries):
        b = boundaries.to_crs(4326)
        fields = [c for c in ("name", "kind") if c in b]
        _GeoJson(
            _geojson(b, fields),
            name="边界 boundaries",
            style_function=lambda f: {"fill": False, "color": "#333333", "weight": 2, "dashArray": "6 4"},
            tooltip=_Tooltip(fields=fields, aliases=_aliases(fields)) if fields else None,
        ).add_to(fmap)
    if facilities is not None and len(facilities):
        _facility_markers(facilities, profile).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _legend(fmap, title or "出行时间 Travel time")
    return fmap


class _Text(Element):
    """Text added to the page as it is."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


class _GeoJson(folium.GeoJson):
    """:class:`folium.GeoJson` that adds its rendered script to the page as text.

    branca adds what a layer renders to the page inside an ``Element`` that compiles it as
    a Jinja template again; a GeoJSON layer's script holds all of its data, and lexing that
    as a template takes longer than the rest of writing the map (and would misread a name
    containing ``{{``). This is folium's ``GeoJson.render`` chain with the text added as
    it is: the same HTML.
    """

    def render(self, **kwargs: Any) -> str:
        from folium.features import GeoJsonStyleMapper
        from folium.map import ElementAddToElement
        from folium.utilities import get_obj_in_upper_tree

        if type(self).includes:  # pragma: no cover - a folium that adds class includes
            super().render(**kwargs)
            return ""
        self.parent_map = get_obj_in_upper_tree(self, folium.Map)  # type: ignore[assignment]
        if (self.style or self.highlight) and self.data["features"]:
            mapper = GeoJsonStyleMapper(self.data, self.feature_identifier, self)
            if self.style:
                self.style_map = mapper.get_style_map(self.style_function)
            if self.highlight:
                self.highlight_map = mapper.get_highlight_map(self.highlight_function)
        if self.show:
            self.add_child(
                ElementAddToElement(element_name=self.get_name(), element_parent_name=cast(Element, self._parent).get_name()),
                name=self.get_name() + "_add",
            )
        figure = self.get_root()
        macros = self._template.module.__dict__
        for part in ("header", "html", "script"):
            macro = macros.get(part)
            if macro is not None:
                getattr(figure, part).add_child(_Text(macro(self, kwargs)), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)
        return ""


_CIRCLE_ORDER = ("15min", "5min", "10min", "30min")

#: Headings of the property columns the maps show in tooltips and popups.
_ALIASES = {
    "name": "名称 name",
    "kind": "类型 kind",
    "category": "类别 category",
    "size_label": "规模 size",
    "radius_m": "服务半径 radius (m)",
    "area_m2": "面积 area (m²)",
    "length_m": "长度 length (m)",
    "pop": "人口 people",
}


def _aliases(fields: Sequence[str]) -> list[str]:
    return [_ALIASES.get(f, f) for f in fields]


def _js_literal(values: Sequence[str]) -> str:
    """A list of strings as a JavaScript array literal that no HTML parser or Jinja reads into."""
    text = json.dumps([str(v) for v in values], ensure_ascii=False)
    for ch in "<>&'{}`$":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


# A tooltip / popup of GeoJSON properties, as folium's (a table of field headings and
# values) but with every heading and value set as text (``textContent``), never parsed as
# HTML: a name from the data shows as it is, whatever it holds.
_DETAIL_JS = """
    function(layer){
    let div = L.DomUtil.create('div');
    let fields = {{ this.fields_js }};
    let aliases = {{ this.aliases_js }};
    let table = L.DomUtil.create('table', '', div);
    fields.forEach(function (field, i) {
        let row = L.DomUtil.create('tr', '', table);
        {% if this.labels %}L.DomUtil.create('th', '', row).textContent = aliases[i];{% endif %}
        let v = layer.feature.properties[field];
        let cell = L.DomUtil.create('td', '', row);
        cell.style.overflowWrap = 'anywhere';  // a long name wraps inside the box
        cell.textContent = v === null || v === undefined ? '' : (typeof v === 'object' ? JSON.stringify(v) : String(v));
    });
    return div;
    }
"""


class _Tooltip(folium.GeoJsonTooltip):
    """:class:`folium.GeoJsonTooltip` that shows property values and headings as text."""

    _template = Template(
        "{% macro script(this, kwargs) %}\n{{ this._parent.get_name() }}.bindTooltip("
        + _DETAIL_JS
        + ",{{ this.tooltip_options | tojavascript }});\n{% endmacro %}"
    )

    def __init__(self, fields: Sequence[str], aliases: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(fields=list(fields), aliases=None if aliases is None else list(aliases), **kwargs)
        self.fields_js = _js_literal(self.fields)
        self.aliases_js = _js_literal(self.aliases)


class _Popup(folium.GeoJsonPopup):
    """:class:`folium.GeoJsonPopup` that shows property values and headings as text."""

    _template = Template(
        "{% macro script(this, kwargs) %}\n{{ this._parent.get_name() }}.bindPopup("
        + _DETAIL_JS
        + ",{{ this.popup_options | tojavascript }});\n{% endmacro %}"
    )

    def __init__(self, fields: Sequence[str], aliases: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(fields=list(fields), aliases=None if aliases is None else list(aliases), **kwargs)
        self.fields_js = _js_literal(self.fields)
        self.aliases_js = _js_literal(self.aliases)


def _geojson(gdf: gpd.GeoDataFrame, fields: Sequence[str]) -> str:
    """A FeatureCollection (WGS 84, coordinates to 1e-6°, floats to 2 decimals, inf and NaN as null).

    Geometries are written by GEOS in one array call and the properties by :mod:`json`:
    several times faster than :meth:`GeoDataFrame.to_json`, which builds a dict per feature.
    """
    keep = [c for c in fields if c in gdf.columns]
    frame = gdf[[*keep, gdf.geometry.name]].to_crs(4326)
    geoms = shapely.set_precision(frame.geometry.to_numpy(), 1e-6, mode="pointwise")
    columns: list[list[Any]] = []
    for c in keep:
        col = frame[c]
        if pd.api.types.is_float_dtype(col):
            arr = np.round(col.to_numpy(dtype=float, na_value=np.nan), 2)
            columns.append([float(v) if np.isfinite(v) else None for v in arr])
        else:
            values = col.to_numpy(dtype=object)
            columns.append([None if _missing(v) else v for v in values])
    records = [dict(zip(keep, row, strict=True)) for row in zip(*columns, strict=True)] if keep else [{}] * len(frame)
    gj = shapely.to_geojson(np.where(shapely.is_empty(geoms), None, geoms))
    head = '{"type": "Feature", "properties": '
    features = [
        head + json.dumps(r, ensure_ascii=False, default=_json_value) + ', "geometry": ' + (g if g is not None else "null") + "}"
        for r, g in zip(records, gj, strict=True)
    ]
    return '{"type": "FeatureCollection", "features": [' + ", ".join(features) + "]}"


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and bool(np.isnan(v)))


def _json_value(v: Any) -> Any:
    """numpy scalars and other values :mod:`json` does not know, as plain values or text."""
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def town_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    profile: Profile,
    tiles: bool = True,
    title: str = "",
    banner: str = "",
) -> folium.Map:
    """The interactive map of a town's results, one toggleable layer per circle and category.

    Parameters
    ----------
    layers : mapping of name to GeoDataFrame
        A study's layers (see :func:`mtown_geo.run`): ``units_<circle>`` (demand units with
        ``t_<category>`` minutes), ``isochrones_<circle>``, ``gaps_<circle>``,
        ``facilities``, ``parks_buffers``, ``parks_parks``, ``parks_uncovered``,
        ``greenways``, ``proposed_sites_<circle>``, ``boundaries``; any may be missing.
    profile : Profile
        For the Chinese names of circles and categories and the thresholds.
    tiles : bool
        OpenStreetMap tiles, or a plain background that needs no tile server.
    title : str
        The legend's heading and the page's title.
    banner : str
        A warning shown across the top of the page (e.g. the categories no data source holds).

    Returns
    -------
    folium.Map
        With a layer control, a legend and the OSM attribution; save it with
        :func:`save_map` for a self-contained HTML file.
    """
    extent = next((g for k, g in layers.items() if k == "boundaries" and len(g)), None)
    if extent is None:
        extent = next(g for g in layers.values() if len(g))
    fmap = new_map(tuple(extent.to_crs(4326).total_bounds), tiles=tiles)
    circles = [c for c in _CIRCLE_ORDER if f"units_{c}" in layers] + sorted(
        k.split("_", 1)[1] for k in layers if k.startswith("units_") and k.split("_", 1)[1] not in _CIRCLE_ORDER
    )
    shown = False
    for circle in circles:
        units = layers[f"units_{circle}"]
        cspec = profile.circles.get(circle)
        cname = cspec.name_zh if cspec is not None else circle
        cats = [c[2:] for c in units.columns if c.startswith("t_")]
        has_cells = {"x", "y", "cell_m"} <= set(units.columns)
        shapes = cells(units).geometry if has_cells else units.geometry
        shapes = shapes.to_crs(4326)  # once for all categories
        required = set(cspec.required) if cspec is not None else set(cats)
        for cat in cats:
            if cat not in required:
                continue
            label = profile.categories[cat].name_zh if cat in profile.categories else cat
            t = units[f"t_{cat}"].to_numpy(dtype=float)
            layer = gpd.GeoDataFrame(
                {"minutes": np.where(np.isfinite(t), np.round(t, 1), -1.0), "colour": [_colour(v) for v in t]},
                geometry=shapes.to_numpy(),
                crs=4326,
            )
            style = (
                (
                    lambda f: {
                        "fillColor": f["properties"]["colour"],
                        "color": f["properties"]["colour"],
                        "weight": 0,
                        "fillOpacity": 0.6,
                    }
                )
                if has_cells
                else (lambda f: {"color": f["properties"]["colour"], "radius": 5})
            )
            _GeoJson(
                _geojson(layer, ["minutes", "colour"]),
                name=escape_text(f"{cname} · {label} 出行时间 travel time"),
                show=not shown,
                style_function=style,
                tooltip=_Tooltip(fields=["minutes"], aliases=[f"{label} 分钟 min (-1 = 不可达)"]),
            ).add_to(fmap)
            shown = True
        iso = layers.get(f"isochrones_{circle}")
        if iso is not None and len(iso):
            for cat, part in iso.groupby("category", sort=False):
                label = profile.categories[cat].name_zh if cat in profile.categories else str(cat)
                _GeoJson(
                    _geojson(part, ["category", "threshold_min", "area_m2"]),
                    name=escape_text(f"{cname} · {label} 服务范围 service area"),
                    show=False,
                    style_function=lambda f: {"fillColor": "#4575b4", "color": "#313695", "weight": 1, "fillOpacity": 0.25},
                ).add_to(fmap)
        gaps = layers.get(f"gaps_{circle}")
        if gaps is not None and len(gaps):
            for cat, part in gaps.groupby("category", sort=False):
                label = profile.categories[cat].name_zh if cat in profile.categories else str(cat)
                _GeoJson(
                    _geojson(part, ["category", "area_m2", "pop"]),
                    name=escape_text(f"{cname} · {label} 服务盲区 gaps"),
                    show=False,
                    style_function=lambda f: {"fillColor": "#d73027", "color": "#a50026", "weight": 1, "fillOpacity": 0.45},
                    tooltip=_Tooltip(fields=["area_m2", "pop"], aliases=["面积 m²", "人口 people"]),
                ).add_to(fmap)
        sites = layers.get(f"proposed_sites_{circle}")
        if sites is not None and len(sites):
            group = folium.FeatureGroup(name=escape_text(f"{cname} · 建议新增设施 proposed sites"), show=False)
            for _, r in sites.to_crs(4326).iterrows():
                cat = str(r.get("category", ""))
                zh = profile.categories[cat].name_zh if cat in profile.categories else cat
                folium.CircleMarker(
                    [r.geometry.y, r.geometry.x],
                    radius=6,
                    color="#000",
                    weight=2,
                    fill=True,
                    fill_color="#1a9850",
                    fill_opacity=1,
                    tooltip=escape_text(f"新增{zh} #{int(r['order'])} → {100 * float(r['coverage']):.1f}%"),
                ).add_to(group)
            group.add_to(fmap)
    for key, name, colour in (
        ("parks_buffers", "公园服务半径 park service radii", "#1a9850"),
        ("parks_uncovered", "未覆盖居住用地 residential land not covered", "#d73027"),
        ("parks_parks", "公园 parks", "#006837"),
    ):
        gdf = layers.get(key)
        if gdf is not None and len(gdf):
            fields = [c for c in ("name", "size_label", "radius_m", "area_m2") if c in gdf.columns]
            _GeoJson(
                _geojson(gdf, fields),
                name=name,
                show=False,
                style_function=lambda f, c=colour: {"fillColor": c, "color": c, "weight": 1, "fillOpacity": 0.3},
                tooltip=_Tooltip(fields=fields, aliases=_aliases(fields)) if fields else None,
            ).add_to(fmap)
    green = layers.get("greenways")
    if green is not None and len(green):
        fields = [c for c in ("name", "length_m") if c in green.columns]
        _GeoJson(
            _geojson(green, fields),
            name="绿道 greenways",
            show=False,
            style_function=lambda f: {"color": "#00a651", "weight": 4},
            tooltip=_Tooltip(fields=fields, aliases=_aliases(fields)) if fields else None,
        ).add_to(fmap)
    bounds = layers.get("boundaries")
    if bounds is not None and len(bounds):
        fields = [c for c in ("name", "kind") if c in bounds]
        _GeoJson(
            _geojson(bounds, fields),
            name="边界 boundaries",
            style_function=lambda f: {"fill": False, "color": "#333333", "weight": 2, "dashArray": "6 4"},
            tooltip=_Tooltip(fields=fields, aliases=_aliases(fields)) if fields else None,
        ).add_to(fmap)
    fac = layers.get("facilities")
    if fac is not None and len(fac):
        _facility_markers(fac, profile).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _legend(fmap, title or "出行时间 Travel time")
    if banner:
        _banner(fmap, banner)
    return fmap


def siting_map(
    units: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    label: str,
    bounds: tuple[float, float, float, float],
    tiles: bool = True,
) -> folium.Map:
    """The interactive map of a siting plan: demand cells by coverage state and the new sites.

    Parameters
    ----------
    units : GeoDataFrame
        Demand cells (``x``, ``y``, ``cell_m``, any metric CRS) with ``covered_before``,
        ``covered_after`` and ``new_site`` (the order of the site that covers them, or NA).
    sites : GeoDataFrame
        The proposed sites (points) with ``order`` and ``coverage`` (0–1, after the site).
    label : str
        The facility category's name, shown in layer names and tooltips (escaped).
    bounds : tuple of float
        West, south, east, north in degrees (WGS 84): the extent the map opens on.
    tiles : bool
        OpenStreetMap tiles, or a plain background that needs no tile server.

    Returns
    -------
    folium.Map
        With a layer control and the OSM attribution.
    """
    fmap = new_map(bounds, tiles=tiles)
    shapes = cells(units).to_crs(4326)
    state = np.where(
        units["covered_before"],
        "已覆盖 covered",
        np.where(units["covered_after"], "新增覆盖 newly covered", "未覆盖 not covered"),
    )
    colour = {"已覆盖 covered": "#9e9e9e", "新增覆盖 newly covered": "#1a9850", "未覆盖 not covered": "#d73027"}
    layer = gpd.GeoDataFrame(
        {"state": state, "site": units["new_site"].astype("Float64").fillna(-1).astype(int).to_numpy()},
        geometry=shapes.geometry.to_numpy(),
        crs=4326,
    )
    _GeoJson(
        _geojson(layer, ["state", "site"]),
        name=escape_text(f"{label} 覆盖 coverage"),
        style_function=lambda f: {"fillColor": colour[f["properties"]["state"]], "weight": 0, "fillOpacity": 0.55},
        tooltip=_Tooltip(fields=["state", "site"], aliases=["状态 state", "新增点 new site (-1 = none)"]),
    ).add_to(fmap)
    group = folium.FeatureGroup(name=escape_text(f"新增{label} proposed sites"))
    for _, r in sites.to_crs(4326).iterrows():
        folium.CircleMarker(
            [r.geometry.y, r.geometry.x],
            radius=7,
            color="#000",
            weight=2,
            fill=True,
            fill_color="#1a9850",
            fill_opacity=1,
            tooltip=escape_text(f"新增{label} #{int(r['order'])} → {100 * float(r['coverage']):.1f}%"),
        ).add_to(group)
    group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def _facility_markers(fac: gpd.GeoDataFrame, profile: Profile | None) -> folium.GeoJson:
    """Facilities as one GeoJSON layer of circle markers, with a popup (name, category in
    Chinese and English, attachment problems) and a tooltip; one layer, not one folium
    element per facility, keeps maps of large towns quick to write and to open."""
    f = fac.to_crs(4326)
    cats = [str(c) for c in (f["category"] if "category" in f else [""] * len(f))]
    zh = [profile.categories[c].name_zh if profile is not None and c in profile.categories else c for c in cats]
    names = [n if isinstance(n, str) and n else "(未命名 unnamed)" for n in (f["name"] if "name" in f else [None] * len(f))]
    status = [s if isinstance(s, str) and s != "ok" else "" for s in (f["status"] if "status" in f else [None] * len(f))]
    # the popup and tooltip show these values as text (see _Tooltip): no escaping here
    points = gpd.GeoDataFrame(
        {
            "name": names,
            "category": [f"{z} ({c})" if z != c else c for z, c in zip(zh, cats, strict=True)],
            "attachment": status,
        },
        geometry=f.geometry.representative_point().to_numpy(),
        crs=4326,
    )
    fields = ["name", "category"] + (["attachment"] if any(status) else [])
    aliases = ["名称 name", "类别 category", "接入 attachment"][: len(fields)]
    return _GeoJson(
        _geojson(points, fields),
        name="设施 facilities",
        show=True,
        marker=folium.CircleMarker(radius=4, color="#2b2b2b", weight=1, fill=True, fill_color="#4575b4", fill_opacity=0.9),
        popup=_Popup(fields=fields, aliases=aliases, max_width=260),
        tooltip=_Tooltip(fields=["category", "name"], aliases=["类别 category", "名称 name"]),
    )
