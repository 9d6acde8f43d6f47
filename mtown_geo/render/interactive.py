"""Interactive maps (folium / Leaflet) of travel times, facilities and boundaries.

Text from data and profiles (town, park, greenway, facility and category names) is shown as
text: tooltips and popups set it with ``textContent``, and layer names, titles and labels go
through :func:`escape_text`. Markup or script in a name is displayed, never run.
"""

from __future__ import annotations

import base64
import functools
import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.template import Template

from .._errors import InputError
from .._io import atomic_file
from ..demand import cells
from ..lifecircle import time_column, time_columns
from ..sources.osm import ATTRIBUTION
from ..standards import Profile
from . import _leaflet
from ._basemap import BUILDING_EDGE, BUILDING_FILL, ROAD_CLASSES, WATER_LINE, Basemap, road_class
from ._classes import breaks_for, classify, time_classes
from .static import _CYCLE, _FACILITY_STYLE, _grades

__all__ = ["TIME_BINS", "escape_text", "new_map", "reach_map", "save_map", "siting_map", "town_map"]

#: Travel-time classes of a whole-network search, 15-minute threshold: (upper bound in
#: minutes, colour, label), from :func:`mtown_geo.render.time_classes`; the last class,
#: "不可达 unreachable", is places with no path at all.
TIME_BINS: tuple[tuple[float, str, str], ...] = tuple((c.upper_min, c.colour, c.label) for c in time_classes())


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
    OSM attribution is always shown, and the scale is metric only (m / km). Leaflet itself
    is embedded (no CDN), so the map works offline, saved with :func:`save_map` or shown
    inline in a notebook.
    """
    west, south, east, north = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=14,
        tiles="OpenStreetMap" if tiles else None,
        attr=ATTRIBUTION,
        control_scale=False,
    )
    js, css = _leaflet_data_uris()
    fmap.default_js = [("leaflet", js)]
    fmap.default_css = [("leaflet_css", css)]
    root: Any = fmap.get_root()
    root.header.add_child(Element(f"<script>{_DOLLAR_SHIM}</script>"))
    _Script("L.control.scale({imperial: false, metric: true, maxWidth: 160, position: 'bottomright'}).addTo(", ");").add_to(fmap)
    # a plain light background and the OSM attribution whatever the base layer: the vector basemap,
    # the facilities and the streets all come from OSM, and the tiles may be switched off
    root.html.add_child(_Text("<style>.leaflet-container{background:#f4f4f0}</style>"))
    _Script("", f".attributionControl.addAttribution({_leaflet.js_json(escape_text(ATTRIBUTION))});").add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


class _Script(MacroElement):
    """Script run once the map exists: ``head``, the map's variable name, ``tail``; added to the
    page as it is (never compiled as a template, nothing in it replaced)."""

    def __init__(self, head: str, tail: str) -> None:
        super().__init__()
        self._head, self._tail = head, tail

    def render(self, **kwargs: Any) -> str:
        parent = cast(Element, self._parent)
        figure: Any = self.get_root()
        figure.script.add_child(_Text(self._head + parent.get_name() + self._tail), name=self.get_name())
        return ""


def save_map(fmap: folium.Map, path: str | Path) -> Path:
    """Write a map as one self-contained HTML file, atomically."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(fmap.get_root().render(), encoding="utf-8")
    return path


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


# -- the town map: compact layers drawn by the page's script (see _leaflet) --------------------

#: Metres of context kept around the town for the vector basemap of the page.
_BASE_MARGIN_M = 300.0

_BOUNDARY_LOOK = {
    "镇域": ("#5e3c99", 2.5, "8 4 2 4", "镇域 town boundary"),
    "建成区": ("#222222", 1.5, None, "建成区 built-up area"),
}
_SERVICE_AREA = ("#4575b4", "#313695")
_GAP = ("#d73027", "#a50026")
_SITE = "#1a9850"


def _facility_colour(cat: str, i: int) -> str:
    style = _FACILITY_STYLE.get(cat)
    return style[1] if style is not None else _CYCLE[i % len(_CYCLE)]


_Geo = TypeVar("_Geo", gpd.GeoDataFrame, gpd.GeoSeries)


def _metric(gdf: _Geo) -> _Geo:
    """A layer in a metric CRS (its own when projected, else its UTM zone), for simplifying in metres."""
    if gdf.crs is not None and gdf.crs.is_projected:
        return gdf
    return gdf.to_crs(gdf.estimate_utm_crs())


def _values(col: pd.Series | np.ndarray, decimals: int | None = None) -> list[Any]:
    """A column as JSON values: floats rounded (None where NaN or inf), numpy scalars as plain values, text as text."""
    arr = np.asarray(col)
    if arr.dtype.kind in "fc":
        a = np.round(arr.astype(float), 2 if decimals is None else decimals)
        return [float(v) if np.isfinite(v) else None for v in a]
    if arr.dtype.kind in "iub":
        return arr.tolist()
    return [
        None
        if _missing(v)
        else (v.item() if isinstance(v, np.generic) else v if isinstance(v, (str, int, float, bool)) else str(v))
        for v in arr
    ]


class _Page:
    """The data of one map page: shared geometries, layers, the control's tree, the legend's blocks."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        west, south, east, north = bounds
        self.origin = (round((west + east) / 2 * 1e6), round((south + north) / 2 * 1e6))
        self.geoms: dict[str, Any] = {}
        self.layers: dict[str, Any] = {}
        self.tree: list[Any] = []
        self.fixed: dict[str, list[Any]] = {"parts": [], "legend": []}
        self.base: dict[str, list[Any]] = {"parts": [], "legend": []}

    def geometry(self, gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, simplify_m: float | None = 0.0) -> tuple[Any, np.ndarray]:
        """A layer's geometries encoded (simplified in metres, then in WGS 84), and which rows were kept (not empty)."""
        geo = gdf if isinstance(gdf, gpd.GeoSeries) else gdf.geometry
        if simplify_m is not None:
            geo = _metric(geo).simplify(simplify_m, preserve_topology=True)
        return self.lonlat(geo.to_crs(4326).to_numpy())

    def lonlat(self, arr: np.ndarray) -> tuple[Any, np.ndarray]:
        """Geometries already in WGS 84 encoded as they are, and which were kept (not empty)."""
        keep = ~(shapely.is_empty(arr) | shapely.is_missing(arr))
        return _leaflet.encode(arr[keep], self.origin), keep

    def layer(self, key: str, label: str, full: str, parts: list[Any], legend: list[Any], *, on: bool = False) -> str:
        self.layers[key] = {"label": label, "full": full, "parts": parts, "legend": legend, "on": on}
        return key

    def model(self, *, title: str, banner: str, tiles: bool) -> dict[str, Any]:
        bases = []
        if self.base["parts"]:
            bases.append({"id": "vector", "label": "矢量底图 vector basemap (OSM, offline)"})
        if tiles:
            bases.append({"id": "tiles", "label": "OpenStreetMap 瓦片 tiles (online)"})
        bases.append({"id": "none", "label": "无底图 no basemap"})
        return {
            "o": list(self.origin),
            "title": title,
            "banner": banner,
            "geoms": self.geoms,
            "layers": self.layers,
            "tree": self.tree,
            "fixed": self.fixed,
            "base": self.base,
            "bases": bases,
            # the vector basemap works offline (most planning offices): on at start; tiles are a choice
            "base_on": bases[0]["id"],
        }

    def add_to(self, fmap: folium.Map, *, title: str, banner: str = "", tiles: bool) -> None:
        root: Any = fmap.get_root()
        root.title = escape_text(title)
        root.header.add_child(_Text(_leaflet.CSS), name="mtown_css")
        tile = next((c for c in fmap._children.values() if isinstance(c, folium.TileLayer)), None)
        model = _leaflet.js_json(self.model(title=title, banner=banner, tiles=tiles))
        tile_name = tile.get_name() if tile is not None else "null"
        _Script(_leaflet.SCRIPT.strip() + "(", f", {model}, {tile_name});").add_to(fmap)


def _time_part(
    page: _Page, gref: str, t: np.ndarray, classes: Sequence[Any], label: str, weights: np.ndarray | None, *, points: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A category's travel times on shared cells: the class of each cell and its minutes; with the legend's block."""
    k = classify(t, classes)
    minutes = [float(v) if np.isfinite(v) else None for v in np.round(t, 1)]
    part = {
        "g": gref,
        "p": {"k": k.tolist(), "t": minutes},
        "by": "k",
        "cl": [[c.label, c.colour] for c in classes],
        "s": {"color": "by", "w": 1 if points else 0, "fo": 0.85 if points else 0.62},
        "pane": "mgPoints" if points else "mgCells",
        "r": 7,
        "tip": [
            {"p": "t", "h": f"{label} 出行时间 travel time", "u": "分钟 min", "d": 1, "z": "—"},
            {"p": "k", "h": "分级 class", "f": "cls"},
        ],
    }
    items = []
    share = _shares(k, len(classes), weights)
    for i, c in enumerate(classes):
        items.append({"t": "dot" if points else "box", "c": c.colour, "l": c.label + share[i]})
    return part, {"h": f"{label} 出行时间 travel time", "items": items}


def _shares(k: np.ndarray, n: int, weights: np.ndarray | None) -> list[str]:
    """Each class's share of the weight (" · 12.3 %"), or nothing without weights."""
    if weights is None or not np.nansum(weights) > 0:
        return [""] * n
    w = np.where(np.isfinite(weights), weights, 0.0)
    sums = np.bincount(k, weights=w, minlength=n)
    return [f" · {100 * s / w.sum():.1f} %" for s in sums]


def _symbol_points(fac: gpd.GeoDataFrame) -> np.ndarray:
    """Where each facility's symbol goes: a point on its geometry in WGS 84 (found in WGS 84)."""
    return cast(np.ndarray, fac.to_crs(4326).geometry.representative_point().to_numpy())


@dataclass(frozen=True)
class _Symbols:
    """Facilities as a map draws them: each one's category, name, attachment status (blank when
    ``ok``) and symbol point (WGS 84). Made once per map; subsets are taken from it."""

    cats: list[str]
    names: list[str]
    status: list[str]
    points: np.ndarray

    @classmethod
    def of(cls, fac: gpd.GeoDataFrame) -> _Symbols:
        f = fac.to_crs(4326)
        n = len(f)
        return cls(
            cats=[str(c) for c in (f["category"] if "category" in f else [""] * n)],
            names=[v if isinstance(v, str) and v else "(未命名 unnamed)" for v in (f["name"] if "name" in f else [None] * n)],
            status=[v if isinstance(v, str) and v != "ok" else "" for v in (f["status"] if "status" in f else [None] * n)],
            points=_symbol_points(f),
        )

    def take(self, sel: np.ndarray) -> _Symbols:
        """The facilities where ``sel`` (a boolean mask) is true."""
        idx = np.flatnonzero(sel)
        return _Symbols(
            cats=[self.cats[i] for i in idx],
            names=[self.names[i] for i in idx],
            status=[self.status[i] for i in idx],
            points=self.points[idx],
        )


def _facility_part(
    page: _Page, fac: gpd.GeoDataFrame, profile: Profile | None, order: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Facilities as circle symbols coloured by category (one layer), with their legend block (counts per category)."""
    if fac is None or not len(fac):
        return None
    return _symbol_part(page, _Symbols.of(fac), profile, order)


def _symbol_part(
    page: _Page, sym: _Symbols, profile: Profile | None, order: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """:func:`_facility_part` of facilities already read (:class:`_Symbols`)."""
    if not len(sym.cats):
        return None
    cats, names, status = sym.cats, sym.names, sym.status
    present = [c for c in order if c in set(cats)] + sorted(set(cats) - set(order))
    idx = {c: i for i, c in enumerate(present)}

    def zh(c: str) -> str:
        return profile.categories[c].name_zh if profile is not None and c in profile.categories else c

    def full(c: str) -> str:
        if profile is not None and c in profile.categories:
            return f"{profile.categories[c].name_zh} {profile.categories[c].name_en}"
        return c

    geo, keep = page.lonlat(sym.points)
    sel = np.flatnonzero(keep)
    props = {
        "name": [names[i] for i in sel],
        "category": [f"{zh(cats[i])} ({cats[i]})" if zh(cats[i]) != cats[i] else cats[i] for i in sel],
        "c": [idx[cats[i]] for i in sel],
    }
    pop: list[dict[str, Any]] = [{"p": "name", "h": "名称 name"}, {"p": "category", "h": "类别 category"}]
    if any(status):
        props["attachment"] = [status[i] for i in sel]
        pop.append({"p": "attachment", "h": "接入 attachment", "skip": True})
    colours = [_facility_colour(c, i) for i, c in enumerate(present)]
    part = {
        "g": geo,
        "p": props,
        "by": "c",
        "cl": [[full(c), colours[i]] for i, c in enumerate(present)],
        "s": {"color": "#ffffff", "w": 1.5, "fo": 0.95},
        "pane": "mgPoints",
        "r": 6,
        "tip": [{"p": "category", "h": "类别 category"}, {"p": "name", "h": "名称 name"}],
        "pop": pop,
    }
    counts = Counter(cats[i] for i in sel)
    items = [
        {"t": "dot", "c": colours[i], "e": "#ffffff", "l": f"{full(c)} · {int(counts.get(c, 0))} 处"}
        for i, c in enumerate(present)
    ]
    return part, {"h": "设施 facilities", "items": items}


def _area_part(
    page: _Page,
    gdf: gpd.GeoDataFrame,
    *,
    fields: Sequence[tuple[str, str, str, int | None]],
    fill: str,
    edge: str,
    fo: float,
    w: float = 1.0,
    dash: str | None = None,
    simplify_m: float = 1.0,
    pane: str = "mgAreas",
) -> dict[str, Any] | None:
    """Polygons or lines of one look, with a tooltip of (column, heading, unit, decimals)."""
    if gdf is None or not len(gdf):
        return None
    geo, keep = page.geometry(gdf, simplify_m=simplify_m)
    props: dict[str, list[Any]] = {}
    tip = []
    for col, heading, unit, dec in fields:
        if col not in gdf.columns:
            continue
        values = gdf[col].to_numpy()[keep]
        if unit == "ha":
            values = np.asarray(values, dtype=float) / 1e4
        props[col] = _values(values, dec)
        row: dict[str, Any] = {"p": col, "h": heading, "skip": True}
        if unit:
            row["u"] = "公顷 ha" if unit == "ha" else unit
        if dec is not None:
            row["d"] = dec
        tip.append(row)
    style: dict[str, Any] = {"fill": fill, "color": edge, "w": w, "fo": fo}
    if dash:
        style["dash"] = dash
    return {"g": geo, "p": props, "s": style, "pane": pane, "tip": tip or None}


def _add_boundaries(page: _Page, bounds: gpd.GeoDataFrame | None) -> None:
    """The study area's outlines, one look per kind: always drawn (not a layer of the control), in the legend."""
    if bounds is None or not len(bounds):
        return
    kinds = np.asarray([str(k) for k in (bounds["kind"] if "kind" in bounds else ["边界 boundary"] * len(bounds))], dtype=object)
    looks = []
    tip = [{"p": "name", "h": "名称 name", "skip": True}, {"p": "kind", "h": "类型 kind"}]
    for kind in dict.fromkeys(kinds):
        colour, width, dash, label = _BOUNDARY_LOOK.get(kind, ("#333333", 2.0, "6 4", kind))
        sel = kinds == kind
        geo, keep = page.geometry(bounds[sel], simplify_m=0.5)
        props: dict[str, list[Any]] = {"kind": [kind] * int(keep.sum())}
        if "name" in bounds:
            props["name"] = _values(bounds["name"].to_numpy()[sel][keep])
        style: dict[str, Any] = {"fill": "none", "color": colour, "w": width}
        if dash:
            style["dash"] = dash
        page.fixed["parts"].append({"g": geo, "p": props, "s": style, "pane": "mgLines", "tip": tip})
        looks.append({"t": "dash" if dash else "line", "c": colour, "w": 2, "l": label})
    page.fixed["legend"].append({"h": "边界 boundaries", "items": looks})


def _add_basemap(page: _Page, basemap: Basemap | None, streets: gpd.GeoDataFrame | None, extent: gpd.GeoDataFrame) -> None:
    """The vector basemap (streets by class, water, green land, buildings), cut to the town and a margin."""
    if basemap is not None:
        roads, water, green, buildings = basemap.roads, basemap.water, basemap.green, basemap.buildings
        crs = basemap.crs
    elif streets is not None and len(streets):
        hw = streets["highway"] if "highway" in streets else pd.Series([None] * len(streets), index=streets.index)
        roads = gpd.GeoDataFrame(
            {"road_class": [road_class(h) or "minor" for h in hw], "name": streets.get("name")},
            geometry=streets.geometry.to_numpy(),
            crs=streets.crs,
        )
        roads = _metric(roads)
        crs = roads.crs
        water = green = buildings = None
    else:
        return
    x0, y0, x1, y1 = extent.to_crs(crs).total_bounds
    box = (x0 - _BASE_MARGIN_M, y0 - _BASE_MARGIN_M, x1 + _BASE_MARGIN_M, y1 + _BASE_MARGIN_M)

    def cut(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
        if gdf is None or not len(gdf):
            return None
        g = gdf.to_crs(crs)
        g = g.set_geometry(shapely.clip_by_rect(g.geometry.to_numpy(), *box))
        g = g[~g.geometry.is_empty]
        return g if len(g) else None

    items: list[dict[str, Any]] = []
    w = cut(water)
    if w is not None:
        area = w[w["kind"] == "area"] if "kind" in w else w
        part = _area_part(page, area, fields=[], fill="#b7d8f0", edge="#8cbbe0", fo=1.0, w=0.5, pane="mgBase")
        if part is not None:
            page.base["parts"].append(part)
        lines = w[w["kind"] != "area"] if "kind" in w else w.iloc[:0]
        part = _area_part(page, lines, fields=[], fill="none", edge=WATER_LINE, fo=0, w=2.0, pane="mgBase")
        if part is not None:
            page.base["parts"].append(part)
        items.append({"t": "box", "c": "#b7d8f0", "e": "#8cbbe0", "l": "水域 water"})
    g = cut(green)
    if g is not None:
        part = _area_part(page, g, fields=[], fill="#cfe6b6", edge="#b5d69a", fo=1.0, w=0.5, pane="mgBase")
        if part is not None:
            page.base["parts"].append(part)
            items.append({"t": "box", "c": "#cfe6b6", "e": "#b5d69a", "l": "绿地 green land"})
    b = cut(buildings)
    if b is not None:
        part = _area_part(
            page, b, fields=[], fill=BUILDING_FILL, edge=BUILDING_EDGE, fo=1.0, w=0.5, simplify_m=0.5, pane="mgBase"
        )
        if part is not None:
            page.base["parts"].append(part)
            items.append({"t": "box", "c": BUILDING_FILL, "e": BUILDING_EDGE, "l": "建筑 buildings"})
    r = cut(roads)
    if r is not None:
        order = [c.key for c in ROAD_CLASSES]
        r = r[r["road_class"].isin(order)]
        r = r.iloc[np.argsort([-order.index(c) for c in r["road_class"]], kind="stable")]
        geo, keep = page.geometry(r, simplify_m=1.0)
        page.geoms["roads"] = geo
        k = [order.index(c) for c in r["road_class"].to_numpy()[keep]]
        names = _values(r["name"].to_numpy()[keep]) if "name" in r else [None] * len(k)
        px = 1.6  # pixels per point of the print widths
        page.base["parts"].append(
            {
                "g": "roads",
                "p": {"k": k},
                "by": "k",
                "cl": [[c.label, c.casing if c.casing != "none" else c.fill, c.casing_pt * px] for c in ROAD_CLASSES],
                "s": {"fill": "none", "color": "by", "w": 1},
                "pane": "mgRoads",
            }
        )
        page.base["parts"].append(
            {
                "g": "roads",
                "p": {"k": k, "name": names},
                "by": "k",
                "cl": [[c.label, c.fill, c.width_pt * px] for c in ROAD_CLASSES],
                "s": {"fill": "none", "color": "by", "w": 1},
                "pane": "mgRoads",
                "tip": [{"p": "name", "h": "道路 street"}],
            }
        )
        present = set(k)
        items = [
            {"t": "line", "c": c.casing if c.casing != "none" else c.fill, "w": max(2, round(c.width_pt)), "l": c.label}
            for i, c in enumerate(ROAD_CLASSES)
            if i in present
        ] + items
    if items:
        page.base["legend"].append({"h": "底图 basemap (© OpenStreetMap contributors)", "items": items, "closed": True})


def _label(profile: Profile | None, cat: str) -> str:
    return profile.categories[cat].name_zh if profile is not None and cat in profile.categories else str(cat)


def _weights(units: gpd.GeoDataFrame, weight: str | None) -> tuple[np.ndarray | None, str]:
    """The weight of each unit for the legend's shares (and which units are drawn), and how it reads."""
    if weight is None:
        for col in ("res_area_m2", "pop", "area_m2"):
            if col in units and float(np.nansum(units[col].to_numpy(float))) > 0:
                weight = col
                break
    if weight is None or weight not in units:
        return None, "按个数 by count"
    reads = {"res_area_m2": "按居住用地面积 by residential land", "pop": "按人口 by people", "area_m2": "按面积 by area"}
    return units[weight].to_numpy(float), reads.get(weight, f"按 {weight}")


def town_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    profile: Profile,
    tiles: bool = True,
    title: str = "",
    banner: str = "",
    town: str = "",
    basemap: Basemap | None = None,
    weight: str | None = None,
    max_time_min: float = np.inf,
) -> folium.Map:
    """The interactive map of a town's results, readable at a glance and offline.

    The page opens on the 15-minute circle's whole coverage (how many of its required
    categories each place reaches, k of n, with the facilities of those categories) over a
    vector basemap made from the run's own OSM data. A collapsed layer control groups the
    other layers by circle and category (travel time, service area, gaps), then parks and
    greenways; the legend shows every visible layer (its classes with their shares, the
    facility symbols with their counts, the boundaries, the basemap), and the scale is metric.
    Travel-time classes say only what the search measured (:func:`time_classes`).

    Parameters
    ----------
    layers : mapping of name to GeoDataFrame
        A study's layers (see :func:`mtown_geo.run`): ``units_<circle>`` (demand units with
        ``time_min_<category>`` minutes, ``n_reached``, ``missing``), ``isochrones_<circle>``,
        ``gaps_<circle>``, ``facilities``, ``parks_buffers``, ``parks_parks``,
        ``parks_uncovered``, ``greenways``, ``proposed_sites_<circle>``, ``boundaries``,
        ``streets``; any may be missing.
    profile : Profile
        For the Chinese names of circles and categories and the thresholds.
    tiles : bool
        Offer OpenStreetMap tiles (online) and open on them; the vector basemap is offered
        either way, and is the background when ``False``.
    title : str
        The map's title (and the page's); default: the town's name and what the map shows.
    banner : str
        A warning shown under the title (e.g. the categories no data source holds).
    town : str
        The town's name, for the default title.
    basemap : Basemap, optional
        Streets, water, green land and buildings (``StudyResult.basemap``); without it, the
        ``streets`` layer gives the streets.
    weight : str, optional
        The unit column the rates are weighted by (``res_area_m2``, ``pop``, ``area_m2``);
        cells with no weight are not drawn, and the legend gives each class's share of it.
        Default: the first of those with a positive total.
    max_time_min : float
        The cut-off in minutes of the search behind the times (``inf``: the whole network,
        as :func:`mtown_geo.run` searches); ``units.attrs["max_time_min"]`` when present.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` for one self-contained HTML file.
    """
    extent = next((g for k, g in layers.items() if k == "boundaries" and len(g)), None)
    if extent is None:
        extent = next(g for g in layers.values() if len(g))
    bounds = tuple(float(v) for v in extent.to_crs(4326).total_bounds)
    fmap = new_map(bounds, tiles=tiles)  # type: ignore[arg-type]
    page = _Page(bounds)  # type: ignore[arg-type]
    circles = [c for c in _CIRCLE_ORDER if f"units_{c}" in layers] + sorted(
        k.split("_", 1)[1] for k in layers if k.startswith("units_") and k.split("_", 1)[1] not in _CIRCLE_ORDER
    )
    fac = layers.get("facilities")
    # read once: every facility symbol of the map is drawn from these
    symbols = _Symbols.of(fac) if fac is not None and len(fac) else None
    fac_cats = fac.get("category") if symbols is not None and fac is not None else None
    fac_cat_values = fac_cats.to_numpy(dtype=object) if fac_cats is not None else None

    first = True
    for circle in circles:
        units = layers[f"units_{circle}"]
        if not len(units):
            continue
        cspec = profile.circles.get(circle)
        cname = cspec.name_zh if cspec is not None else circle
        cats = list(time_columns(units))
        required = list(cspec.required) if cspec is not None else cats
        cats = [c for c in required if c in cats]
        has_cells = {"x", "y", "cell_m"} <= set(units.columns)
        w, reads = _weights(units, weight if has_cells else None)
        drawn = np.ones(len(units), dtype=bool) if w is None or not has_cells else (np.nan_to_num(w) > 0)
        if not drawn.any():
            drawn[:] = True
        u = units[drawn]
        wd = w[drawn] if w is not None else None
        shapes = cells(u).geometry if has_cells else u.geometry
        geo, keep = page.geometry(shapes, simplify_m=None)
        u, wd = u[keep], (wd[keep] if wd is not None else None)
        gref = f"units_{circle}"
        page.geoms[gref] = geo
        points = not has_cells and bool(np.all(np.isin(shapely.get_type_id(shapes.to_numpy()[keep]), (0, 4))))
        limit = float(units.attrs.get("max_time_min", max_time_min))
        note = f"{reads}；{'格网 ' + format(float(units['cell_m'].iloc[0]), 'g') + ' m cells' if has_cells else '村 villages'}"
        group: list[Any] = []
        # the whole circle: categories reached, k of n
        if "n_reached" in u:
            n = len(required)
            grades = _grades(n + 1)
            kk = np.clip(u["n_reached"].to_numpy(int), 0, n)
            missing = u["missing"].fillna("").astype(str).str.split(",") if "missing" in u else None
            bits = np.zeros(len(u), dtype=np.int64)
            if missing is not None:
                sets = [set(m) for m in missing]
                for j, cat in enumerate(required):
                    bits |= np.array([cat in s for s in sets], dtype=np.int64) << j
            labels = [f"{i} / {n} 类" + ("（全部 all）" if i == n else "（无 none）" if i == 0 else "") for i in range(n + 1)]
            share = _shares(kk, n + 1, wd)
            part = {
                "g": gref,
                "p": {"n": kk.tolist(), "m": bits.tolist()},
                "by": "n",
                "cl": [[labels[i], grades[i]] for i in range(n + 1)],
                "s": {"color": "by", "w": 1 if points else 0, "fo": 0.85 if points else 0.62},
                "pane": "mgPoints" if points else "mgCells",
                "r": 7,
                "tip": [
                    {"p": "n", "h": "可达必备类别 categories reached", "f": "of", "of": n, "u": "类"},
                    {"p": "m", "h": "缺少 missing", "f": "bits", "names": [_label(profile, c) for c in required]},
                ],
            }
            blocks = [
                {
                    "h": f"{cname} 必备设施可达类别 categories reached (k / n)",
                    "note": f"{n} 类必备设施各在其时限内 · {note}",
                    "items": [
                        {"t": "dot" if points else "box", "c": grades[i], "l": labels[i] + share[i]} for i in range(n, -1, -1)
                    ],
                }
            ]
            parts = [part]
            if symbols is None:
                fp = None
            else:
                sym = symbols.take(fac_cats.isin(required).to_numpy()) if fac_cats is not None else symbols
                fp = _symbol_part(page, sym, profile, required)
            if fp is not None:
                parts.append(fp[0])
                blocks.append(fp[1])
            full = f"{cname} · 全部必备类别覆盖 whole circle (k / n)"
            group.append(page.layer(f"{circle}:all", "全部类别覆盖 whole circle (k / n)", full, parts, blocks, on=first))
            first = False
        iso = layers.get(f"isochrones_{circle}")
        gaps = layers.get(f"gaps_{circle}")
        # each layer's categories read once; each category's rows picked by a plain array
        iso_cats = iso["category"].to_numpy(dtype=object) if iso is not None and "category" in iso else None
        gap_cats = gaps["category"].to_numpy(dtype=object) if gaps is not None and "category" in gaps else None
        for cat in cats:
            label = _label(profile, cat)
            try:
                threshold = profile.threshold_min(circle, cat)
            except Exception:
                threshold = 15.0
            classes = time_classes(breaks_for(threshold), max_time_min=limit)
            t = u[time_column(cat)].to_numpy(dtype=float)
            part, block = _time_part(page, gref, t, classes, label, wd, points=points)
            block["h"] = f"{cname} · {label} 出行时间 travel time"
            block["note"] = f"时限 threshold {threshold:g} 分钟 min · {note}"
            parts, blocks = [part], [block]
            fp = None
            if symbols is not None and fac_cat_values is not None:
                fp = _symbol_part(page, symbols.take(fac_cat_values == cat), profile, [cat])
            if fp is not None:
                parts.append(fp[0])
                blocks.append(fp[1])
            items = [
                page.layer(f"{circle}:{cat}:t", "出行时间 travel time", f"{cname} · {label} 出行时间 travel time", parts, blocks)
            ]
            if iso is not None and len(iso) and "category" in iso:
                sel = iso[iso_cats == cat]
                sp = _area_part(
                    page,
                    sel,
                    fields=[("threshold_min", "时限 threshold", "分钟 min", None), ("area_m2", "面积 area", "ha", 1)],
                    fill=_SERVICE_AREA[0],
                    edge=_SERVICE_AREA[1],
                    fo=0.18,
                    w=1.5,
                    dash="6 4",
                )
                if sp is not None:
                    lab = f"{cname} · {label} 服务范围 service area"
                    leg = {
                        "h": lab,
                        "items": [
                            {
                                "t": "box",
                                "c": _SERVICE_AREA[0],
                                "e": _SERVICE_AREA[1],
                                "l": f"≤ {threshold:g} 分钟步行可达 within {threshold:g} min",
                            }
                        ],
                    }
                    items.append(page.layer(f"{circle}:{cat}:s", "服务范围 service area", lab, [sp], [leg]))
            if gaps is not None and len(gaps) and "category" in gaps:
                sel = gaps[gap_cats == cat]
                gp = _area_part(
                    page,
                    sel,
                    fields=[
                        ("area_m2", "面积 area", "ha", 2),
                        ("res_area_m2", "居住用地 residential land", "ha", 2),
                        ("pop", "人口 people", "人", 0),
                    ],
                    fill=_GAP[0],
                    edge=_GAP[1],
                    fo=0.45,
                    simplify_m=0.0,
                )
                if gp is not None:
                    lab = f"{cname} · {label} 服务盲区 gaps"
                    people = float(np.nansum(sel["pop"].to_numpy(float))) if "pop" in sel else np.nan
                    text = f"{threshold:g} 分钟内未覆盖 not within {threshold:g} min" + (
                        f" · {people:,.0f} 人" if np.isfinite(people) else ""
                    )
                    leg = {"h": lab, "items": [{"t": "box", "c": _GAP[0], "e": _GAP[1], "l": text}]}
                    items.append(page.layer(f"{circle}:{cat}:g", "服务盲区 gaps", lab, [gp], [leg]))
            group.append({"label": label, "items": items})
        sites = layers.get(f"proposed_sites_{circle}")
        if sites is not None and len(sites):
            s = sites.to_crs(4326)
            geo_s, keep_s = page.geometry(s, simplify_m=None)
            s = s[keep_s]
            site_text = [
                f"新增{_label(profile, str(r.get('category', '')))} #{int(r['order'])} → {100 * float(r['coverage']):.1f}%"
                for _, r in s.iterrows()
            ]
            part = {
                "g": geo_s,
                "p": {"label": site_text},
                "s": {"fill": _SITE, "color": "#000000", "w": 2, "fo": 1},
                "pane": "mgPoints",
                "r": 7,
                "tip": [{"p": "label"}],
            }
            lab = f"{cname} · 建议新增设施 proposed sites"
            leg = {
                "h": lab,
                "items": [
                    {"t": "dot", "c": _SITE, "e": "#000000", "l": "建议新增设施（序号 → 覆盖率）proposed site (order → coverage)"}
                ],
            }
            group.append(page.layer(f"{circle}:sites", "建议新增设施 proposed sites", lab, [part], [leg]))
        en = cspec.name_en if cspec is not None else ""
        page.tree.append({"label": f"{cname} {en}".strip(), "open": circle == circles[0], "items": group})
    # parks and greenways
    parks: list[Any] = []
    for key, name, colour, fields in (
        (
            "parks_buffers",
            "公园服务半径 park service radii",
            "#1a9850",
            [("size_label", "规模 size", "", None), ("radius_m", "服务半径 radius", "m", 0)],
        ),
        (
            "parks_parks",
            "公园 parks",
            "#006837",
            [
                ("name", "名称 name", "", None),
                ("size_label", "规模 size", "", None),
                ("radius_m", "服务半径 radius", "m", 0),
                ("area_m2", "面积 area", "ha", 2),
            ],
        ),
        ("parks_uncovered", "未覆盖居住用地 residential land not covered", "#d73027", [("area_m2", "面积 area", "ha", 2)]),
    ):
        gdf = layers.get(key)
        area = _area_part(page, gdf, fields=fields, fill=colour, edge=colour, fo=0.3) if gdf is not None else None
        if area is not None:
            leg = {"h": name, "items": [{"t": "box", "c": colour, "l": name}]}
            parks.append(page.layer(key, name, name, [area], [leg]))
    green = layers.get("greenways")
    if green is not None and len(green):
        line = _area_part(
            page,
            green,
            fields=[("name", "名称 name", "", None), ("length_m", "长度 length", "m", 0)],
            fill="none",
            edge="#00a651",
            fo=0,
            w=4,
        )
        if line is not None:
            total = float(np.nansum(green["length_m"].to_numpy(float))) / 1000 if "length_m" in green else np.nan
            leg = {
                "h": "绿道 greenways",
                "items": [
                    {
                        "t": "line",
                        "c": "#00a651",
                        "w": 4,
                        "l": f"绿道 greenway · {total:.2f} km" if np.isfinite(total) else "绿道 greenway",
                    }
                ],
            }
            parks.append(page.layer("greenways", "绿道 greenways", "绿道 greenways", [line], [leg]))
    if parks:
        page.tree.append({"label": "公园与绿道 parks and greenways", "items": parks})
    fp = _symbol_part(page, symbols, profile, list(profile.categories)) if symbols is not None else None
    if fp is not None:
        page.tree.append(
            {
                "label": "参考 reference",
                "items": [page.layer("facilities", "全部设施 all facilities", "全部设施 all facilities", [fp[0]], [fp[1]])],
            }
        )
    _add_boundaries(page, layers.get("boundaries"))
    _add_basemap(page, basemap, layers.get("streets"), extent)
    if not title:
        title = f"{town} 生活圈设施可达性 life-circle access".strip()
    page.add_to(fmap, title=title, banner=banner, tiles=tiles)
    return fmap


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
    threshold_min: float = 15.0,
    max_time_min: float | None = None,
    basemap: Basemap | None = None,
) -> folium.Map:
    """A map of travel times: one layer per category, demand cells coloured by time class.

    Parameters
    ----------
    cells : GeoDataFrame
        Demand-unit polygons (e.g. :func:`mtown_geo.demand.cells`), any CRS.
    times : DataFrame
        Travel times in minutes (``inf`` where none was found), index-aligned with ``cells``,
        one column per category.
    facilities : GeoDataFrame, optional
        Facilities (``category``, ``name``), drawn with their category's layer.
    boundaries : GeoDataFrame, optional
        Study-area outlines (``kind``: 镇域 / 建成区), always drawn.
    profile : Profile, optional
        For the Chinese category names.
    tiles : bool, optional
        Offer (and open on) OpenStreetMap tiles; ``False`` needs no tile server.
    title : str, optional
        The map's title.
    threshold_min : float, optional
        The threshold the classes are built around (5-minute steps up to it, then twice it).
    max_time_min : float, optional
        The cut-off of the search behind ``times`` (``inf``: the whole network); default
        ``times.attrs["max_time_min"]``. The classes stop there ("> cut-off 或不可达").
    basemap : Basemap, optional
        The vector basemap.

    Returns
    -------
    folium.Map
    """
    if max_time_min is None:
        max_time_min = times.attrs.get("max_time_min")
    if max_time_min is None:
        raise InputError(
            "the times do not say where their search stopped: pass max_time_min= (Reach.max_time_min of the "
            "search, or numpy.inf when the whole network was searched)"
        )
    cats = list(times.columns if categories is None else categories)
    wgs = cells.to_crs(4326)
    bounds = tuple(float(v) for v in wgs.total_bounds)
    fmap = new_map(bounds, tiles=tiles)  # type: ignore[arg-type]
    page = _Page(bounds)  # type: ignore[arg-type]
    geo, keep = page.geometry(cells.geometry, simplify_m=None)
    page.geoms["cells"] = geo
    classes = time_classes(breaks_for(threshold_min), max_time_min=float(max_time_min))
    for i, cat in enumerate(cats):
        label = _label(profile, cat)
        if profile is not None and cat in profile.categories:
            label = f"{profile.categories[cat].name_zh} {profile.categories[cat].name_en}"
        part, block = _time_part(page, "cells", times[cat].to_numpy(dtype=float)[keep], classes, label, None, points=False)
        parts, blocks = [part], [block]
        if facilities is not None and "category" in facilities:
            fp = _facility_part(page, facilities[facilities["category"] == cat], profile, [cat])
            if fp is not None:
                parts.append(fp[0])
                blocks.append(fp[1])
        full = f"{label} 出行时间 travel time"
        page.tree.append(page.layer(f"t:{cat}", full, full, parts, blocks, on=i == 0))
    _add_boundaries(page, boundaries)
    _add_basemap(page, basemap, None, boundaries if boundaries is not None and len(boundaries) else wgs)
    page.add_to(fmap, title=title or "出行时间 travel time", tiles=tiles)
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
