"""The page side of the interactive map: compact layer data and the script that draws it.

A town map holds tens of thousands of demand cells, each drawn for every category. Written as
folium GeoJSON (one feature dict, one style dict and six-decimal coordinates per cell and
category) a 10 km² town at 50 m cells takes tens of megabytes. Here the layers are sent once
as compact data and drawn by a small script in the page:

* **geometries** are quantised to 1e-6° (≈ 0.1 m) and written as integer steps from the
  previous vertex (:func:`encode`), with the ring and part sizes beside them; the cells of a
  circle are written once and shared by all its categories;
* **properties** are written column by column (a list of values per property), and only the
  few a tooltip shows;
* **styles** are shared: a layer names the property that picks its class, and the classes
  (label, colour) are written once per layer, not a style per feature.

The script (:data:`SCRIPT`) builds each layer as one ``L.geoJSON`` the first time it is
switched on, draws the cells on a canvas, and adds a grouped, collapsed layer control, a
legend of every visible layer and a title. All text from data reaches the page as JSON
strings and is set with ``textContent``: it is shown, never parsed as HTML.

Every map page of the package is made this way (the town, travel-time, siting, policy-task
and province maps): :class:`Page` collects a page's data, :func:`area_part`,
:func:`add_boundaries` and :func:`add_basemap` add the common layers, and :meth:`Page.add_to`
puts the data and the script on a folium map through :class:`Script` and :class:`Text`,
elements whose text is added to the page as it is (never compiled as a template).

The vector basemap's data, and its JSON text, are made once for a basemap, a frame and a page
origin and reused by the next page that draws the same (a run's policy-task map after its town
map): the page is the same to the byte as one that made its own. Only the last basemap is kept
(its data, and its layers' geometries to know it again); the study area's outlines likewise.

Geometries are simplified in metres and their vertices projected to WGS 84 as GeoPandas
projects them (the same transformation), without making the projected geometries; a layer
drawn in groups (service areas and gaps by category) is simplified once for all its groups.
"""

from __future__ import annotations

import functools
import html
import json
import operator
import threading
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import Element, MacroElement

from ._basemap import BUILDING_EDGE, BUILDING_FILL, ROAD_CLASSES, WATER_LINE, Basemap, road_class

__all__ = [
    "BASE_MARGIN_M",
    "BOUNDARY_LOOK",
    "CSS",
    "SCRIPT",
    "Page",
    "Script",
    "Text",
    "add_basemap",
    "add_boundaries",
    "area_part",
    "area_parts",
    "encode",
    "escape_text",
    "is_missing",
    "js_json",
    "json_values",
    "metric",
]

_SCALE = 1e6  # coordinates in millionths of a degree

_GEOJSON_TYPE = {
    shapely.GeometryType.POINT: "Point",
    shapely.GeometryType.LINESTRING: "LineString",
    shapely.GeometryType.POLYGON: "Polygon",
    shapely.GeometryType.MULTIPOINT: "MultiPoint",
    shapely.GeometryType.MULTILINESTRING: "MultiLineString",
    shapely.GeometryType.MULTIPOLYGON: "MultiPolygon",
}


def _homogeneous(geoms: np.ndarray) -> np.ndarray:
    """Geometries of one dimension (collections reduced to their parts of the highest one)."""
    dims = shapely.get_dimensions(geoms)
    top = int(dims.max()) if len(dims) else 0
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):
        parts = shapely.get_parts(geoms[i])
        parts = parts[shapely.get_dimensions(parts) == top]
        out[i] = shapely.union_all(parts) if len(parts) else None
    out[shapely.get_dimensions(out) != top] = None
    return out


def encode(geoms: np.ndarray, origin: tuple[int, int], *, crs: Any = None) -> dict[str, Any]:
    """Geometries (WGS 84 lon/lat, none empty) as compact data for the page's script.

    Returns ``{"t": GeoJSON type, "c": [dx, dy, ...], "n": [[sizes], ...]}``: the vertices
    in millionths of a degree, each as the step from the one before (the first from
    ``origin``), and the sizes of the rings, parts and geometries from the innermost level
    out (shapely's ragged-array offsets as counts).

    With ``crs`` (the geometries' CRS, when not WGS 84) the vertices are projected to WGS 84
    as :meth:`geopandas.GeoSeries.to_crs` projects them (the same transformation, the same
    numbers), without making the projected geometries.
    """
    geoms = np.asarray(geoms, dtype=object)
    if crs is not None and (shapely.get_type_id(geoms) == 7).any():
        # collections are reduced to their parts by a union, made in WGS 84
        geoms, crs = gpd.GeoSeries(geoms, crs=crs).to_crs(4326).to_numpy(), None
    geoms = _homogeneous(geoms)
    if len(geoms) == 0:
        return {"t": "Point", "c": [], "n": []}
    kind, coords, counts = _ragged(geoms)
    if crs is not None:
        coords = _lonlat_of(coords, crs)
    q = np.round(np.asarray(coords, dtype=float) * _SCALE).astype(np.int64)
    q -= np.asarray(origin, dtype=np.int64)
    steps = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    sizes = [np.asarray(c, dtype=np.int64).tolist() for c in counts]
    return {"t": _GEOJSON_TYPE[kind], "c": steps.ravel().tolist(), "n": sizes}


_WGS84 = pyproj.CRS.from_user_input(4326)


@functools.lru_cache(maxsize=16)
def _to_wgs84(crs: pyproj.CRS) -> pyproj.Transformer:
    """The transformation GeoPandas uses from ``crs`` to WGS 84 (lon, lat)."""
    return pyproj.Transformer.from_crs(crs, _WGS84, always_xy=True)


def _lonlat_of(coords: np.ndarray, crs: Any) -> np.ndarray:
    """Vertices (x, y[, z]) in ``crs`` in WGS 84, as :meth:`geopandas.GeoSeries.to_crs` gives them."""
    src = pyproj.CRS.from_user_input(crs)
    if src.is_exact_same(_WGS84):
        return coords
    to = _to_wgs84(src)
    if coords.shape[1] == 2:
        return np.column_stack(to.transform(coords[:, 0], coords[:, 1]))
    return np.column_stack(to.transform(coords[:, 0], coords[:, 1], coords[:, 2]))


def _ragged(geoms: np.ndarray) -> tuple[shapely.GeometryType, np.ndarray, list[np.ndarray]]:
    """:func:`shapely.to_ragged_array` of geometries of one dimension, its offsets as counts
    (innermost first): the same type, coordinates and counts.

    Lines and areas are read without copying what needs no copy: shapely takes every part and
    ring of every geometry out as a new geometry; here only the parts of multi-part geometries
    and the rings of polygons with holes are (the sizes of the others are their vertex counts).
    Anything else (points, missing or empty geometries, Z) goes through shapely's own.
    """
    types = shapely.get_type_id(geoms)
    kinds = set(np.unique(types).tolist())
    plain = (
        bool(kinds)
        and (kinds <= {1, 5} or kinds <= {3, 6})
        and not shapely.is_empty(geoms).any()
        and not shapely.has_z(geoms).any()
        and not shapely.has_m(geoms).any()
    )
    parts, per_geom = _flat(geoms, types >= 4) if plain and kinds & {5, 6} else (geoms, None)
    if not plain or (per_geom is not None and shapely.is_empty(parts).any()):
        kind, coords, offsets = shapely.to_ragged_array(geoms)
        return kind, coords, [np.diff(np.asarray(o, dtype=np.int64)) for o in offsets]
    coords = shapely.get_coordinates(geoms)
    if kinds <= {1, 5}:
        inner = [shapely.get_num_coordinates(parts)]
    else:
        holes = shapely.get_num_interior_rings(parts)
        rings, per_part = _flat(parts, holes > 0, rings=True)
        inner = [shapely.get_num_coordinates(rings), per_part]
    if per_geom is None:
        return shapely.GeometryType(min(kinds)), coords, inner
    return shapely.GeometryType(max(kinds)), coords, [*inner, per_geom]


def _flat(geoms: np.ndarray, split: np.ndarray, *, rings: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The parts of geometries in order (or with ``rings``, the rings of polygons), taking apart
    only those where ``split`` is true (the others are one part: themselves; or one ring, of
    their vertex count); and how many parts each has."""
    if rings:
        counts = shapely.get_num_interior_rings(geoms) + 1
    else:
        counts = np.where(split, shapely.get_num_geometries(geoms), 1)
    counts = np.asarray(counts, dtype=np.int64)
    if not split.any():
        return geoms, counts
    starts = np.cumsum(counts) - counts
    out = np.empty(int(counts.sum()), dtype=object)
    out[starts[~split]] = geoms[~split]
    taken = shapely.get_rings(geoms[split]) if rings else shapely.get_parts(geoms[split])
    n = counts[split]
    first = np.cumsum(n) - n
    out[np.repeat(starts[split] - first, n) + np.arange(len(taken))] = taken
    return out, counts


def js_json(value: Any) -> str:
    """A value as JSON that is also a safe JavaScript literal inside an HTML ``<script>``.

    ``<``, ``>`` and ``&`` (which could close the script or open a comment) and the two line
    separators JavaScript does not allow in strings are written as ``\\u`` escapes; the
    text reads back the same.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch in ("<", ">", "&", "\u2028", "\u2029"):
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


#: Styles of the title, the layer control's tree and the legend.
CSS = """
<style>
.mtown-title{position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:800;max-width:min(60%,720px);
 background:rgba(255,255,255,.92);border:1px solid #999;border-radius:4px;padding:6px 14px;text-align:center;
 font:13px "Noto Sans CJK SC","Microsoft YaHei",sans-serif;pointer-events:none;box-shadow:0 1px 4px rgba(0,0,0,.25)}
.mtown-title h1{font-size:17px;margin:0;line-height:1.35}
.mtown-title .mtown-sub{color:#333;margin-top:2px}
.mtown-title .mtown-banner{background:#FFEB9C;color:#5c3b00;border:1px solid #9C6500;border-radius:3px;padding:3px 8px;margin-top:4px;
 pointer-events:auto}
.mtown-layers .leaflet-control-layers-list{overflow-y:auto;min-width:220px;max-width:330px}
.mtown-layers .mtown-layers-head{font-weight:bold;margin-bottom:4px}
.mtown-layers details>summary{cursor:pointer;font-weight:bold;margin:2px 0}
.mtown-layers details details>summary{font-weight:normal}
.mtown-layers .mtown-group-items{margin-left:14px}
.mtown-layers label{display:block;padding-left:1.3em;text-indent:-1.3em}
.mtown-legend{background:rgba(255,255,255,.94);border:1px solid #999;border-radius:4px;padding:6px 9px;max-width:380px;
 overflow-y:auto;overflow-x:hidden;font:12px "Noto Sans CJK SC","Microsoft YaHei",sans-serif;line-height:1.45}
.mtown-legend details>summary{cursor:pointer;list-style-position:outside}
.mtown-legend .items.two{columns:2;column-gap:10px}
.mtown-legend .item{white-space:nowrap;break-inside:avoid}
.mtown-legend .sw{display:inline-block;width:16px;height:11px;margin-right:5px;vertical-align:middle;box-sizing:border-box}
.mtown-legend .sw-line{height:0;border-top-style:solid}
.mtown-legend .sw-dash{height:0;border-top-style:dashed}
.mtown-legend .sw-dot{width:11px;border-radius:50%;margin:0 10px 0 0}
.mtown-legend .note{color:#555;font-size:11px}
.mtown-detail th{text-align:left;padding-right:8px;font-weight:normal;color:#555}
.leaflet-tooltip.mtown-num{background:none;border:none;box-shadow:none;padding:0;color:#fff;font:bold 11px sans-serif;cursor:pointer}
.leaflet-tooltip.mtown-num:before{display:none}
.leaflet-container{background:#f4f4f0}
</style>
"""

#: The page's script: ``(function (map, M, tiles) {...})``, called with the Leaflet map,
#: the map's data (see :mod:`mtown_geo.render.interactive`) and the tile layer (or null).
SCRIPT = r"""
(function (map, M, tiles) {
  'use strict';
  var O = M.o;
  [['mgBase', 250], ['mgRoads', 260], ['mgCells', 390], ['mgAreas', 410], ['mgLines', 450], ['mgPoints', 620]]
    .forEach(function (p) { map.createPane(p[0]).style.zIndex = p[1]; });
  map.getPane('mgBase').style.pointerEvents = 'none';
  var canvas = L.canvas({pane: 'mgCells', padding: 0.3});
  function decode(g) {
    var c = g.c, n = c.length >> 1, items = new Array(n), x = O[0], y = O[1];
    for (var i = 0; i < n; i++) { x += c[2 * i]; y += c[2 * i + 1]; items[i] = [x / 1e6, y / 1e6]; }
    g.n.forEach(function (sizes) {
      var out = new Array(sizes.length), k = 0;
      for (var j = 0; j < sizes.length; j++) { out[j] = items.slice(k, k + sizes[j]); k += sizes[j]; }
      items = out;
    });
    return items;
  }
  function collection(part) {
    var g = typeof part.g === 'string' ? M.geoms[part.g] : part.g;
    var coords = g._d || (g._d = decode(g));
    var keys = Object.keys(part.p || {}), feats = new Array(coords.length);
    for (var i = 0; i < coords.length; i++) {
      var pr = {};
      keys.forEach(function (k) { pr[k] = part.p[k][i]; });
      feats[i] = {type: 'Feature', properties: pr, geometry: {type: g.t, coordinates: coords[i]}};
    }
    return {type: 'FeatureCollection', features: feats};
  }
  function fmt(row, v, part) {
    if (v === null || v === undefined || v === '') return row.z || '';
    if (row.f === 'cls') return part.cl[v][0];
    if (row.f === 'bits') {
      var out = [];
      row.names.forEach(function (nm, i) { if (Math.floor(v / Math.pow(2, i)) % 2) out.push(nm); });
      return out.length ? out.join('、') : '—';
    }
    if (row.f === 'of') return v + ' / ' + row.of + ' ' + (row.u || '');
    if (typeof v === 'number') {
      var s = row.d === undefined ? String(v) : v.toLocaleString('zh-CN', {minimumFractionDigits: row.d, maximumFractionDigits: row.d});
      return row.u ? s + ' ' + row.u : s;
    }
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  function has(rows, props) {
    return rows.some(function (r) { var v = props[r.p]; return v !== null && v !== undefined && v !== ''; });
  }
  function detail(rows, part) {
    return function (layer) {
      var div = L.DomUtil.create('div', 'mtown-detail');
      if (rows.length === 1 && !rows[0].h) { div.textContent = fmt(rows[0], layer.feature.properties[rows[0].p], part); return div; }
      var table = L.DomUtil.create('table', '', div);
      rows.forEach(function (r) {
        var v = layer.feature.properties[r.p];
        if (r.skip && (v === null || v === undefined || v === '')) return;
        var tr = L.DomUtil.create('tr', '', table);
        L.DomUtil.create('th', '', tr).textContent = r.h;
        var td = L.DomUtil.create('td', '', tr);
        td.style.overflowWrap = 'anywhere';
        td.textContent = fmt(r, v, part);
      });
      return div;
    };
  }
  function styler(part) {
    var s = part.s;
    return function (f) {
      var c = part.by ? part.cl[f.properties[part.by]] : null;
      return {
        fill: s.fill !== 'none', fillColor: c ? c[1] : s.fill, fillOpacity: s.fo === undefined ? 0.6 : s.fo,
        color: s.color === 'by' && c ? c[1] : s.color, weight: c && c[2] !== undefined ? c[2] : s.w,
        opacity: s.op === undefined ? 1 : s.op, stroke: (c && c[2] !== undefined ? c[2] : s.w) > 0, dashArray: s.dash || null, lineCap: 'round', lineJoin: 'round'
      };
    };
  }
  function build(part) {
    var style = styler(part);
    return L.geoJSON(collection(part), {
      pane: part.pane, renderer: part.pane === 'mgCells' ? canvas : undefined, interactive: !!(part.tip || part.pop),
      style: style,
      pointToLayer: function (f, ll) { return L.circleMarker(ll, L.extend({radius: part.r || 5}, style(f))); },
      onEachFeature: function (f, layer) {
        // a number on the symbol (part.lab: the property), always shown; else the hover tooltip
        if (part.lab) layer.bindTooltip(String(f.properties[part.lab]), {permanent: true, direction: 'center', className: 'mtown-num'});
        else if (part.tip && has(part.tip, f.properties)) layer.bindTooltip(detail(part.tip, part), {sticky: part.pane === 'mgCells'});
        if (part.pop && has(part.pop, f.properties)) layer.bindPopup(detail(part.pop, part), {maxWidth: 280});
      }
    });
  }
  var built = {};
  function layerOf(id) {
    if (!built[id]) {
      var fg = L.featureGroup();
      M.layers[id].parts.forEach(function (p) { build(p).addTo(fg); });
      built[id] = fg;
    }
    return built[id];
  }
  var on = {}, order = [], base = null;
  (function walk(items) { items.forEach(function (it) { if (it.items) walk(it.items); else order.push(it); }); })(M.tree);
  function setOn(id, v) {
    if (v) { layerOf(id).addTo(map); on[id] = true; } else { if (built[id]) map.removeLayer(built[id]); delete on[id]; }
    update();
  }
  function setBase(id) {
    if (base === 'vector' && built._base) map.removeLayer(built._base);
    if (base === 'tiles' && tiles) map.removeLayer(tiles);
    base = id;
    if (id === 'vector') {
      if (!built._base) { var fg = L.featureGroup(); M.base.parts.forEach(function (p) { build(p).addTo(fg); }); built._base = fg; }
      built._base.addTo(map);
    }
    if (id === 'tiles' && tiles) tiles.addTo(map);
    update();
  }
  // title
  var title = L.DomUtil.create('div', 'mtown-title', map.getContainer());
  L.DomUtil.create('h1', '', title).textContent = M.title;
  var sub = L.DomUtil.create('div', 'mtown-sub', title);
  if (M.banner) L.DomUtil.create('div', 'mtown-banner', title).textContent = M.banner;
  L.DomEvent.disableClickPropagation(title);
  // legend
  var legendBox;
  var legend = L.control({position: 'bottomleft'});
  legend.onAdd = function () {
    legendBox = L.DomUtil.create('div', 'mtown-legend leaflet-control');
    L.DomEvent.disableClickPropagation(legendBox);
    L.DomEvent.disableScrollPropagation(legendBox);
    return legendBox;
  };
  var lastGroup = null, lastList = null;
  function block(b) {
    // blocks of one group (b.g: the layers of one task) share a heading, the one of the first shown
    var list;
    if (b.g && b.g === lastGroup) list = lastList;
    else {
      var det = L.DomUtil.create('details', 'mtown-legend-block', legendBox);
      det.open = !b.closed;
      L.DomUtil.create('b', '', L.DomUtil.create('summary', '', det)).textContent = b.h;
      if (b.note) L.DomUtil.create('div', 'note', det).textContent = b.note;
      list = L.DomUtil.create('div', 'items' + (b.items.length > 14 ? ' two' : ''), det);
    }
    lastGroup = b.g || null; lastList = list;
    b.items.forEach(function (it) {
      var row = L.DomUtil.create('div', 'item', list);
      var sw = L.DomUtil.create('span', 'sw sw-' + it.t, row);
      if (it.t === 'line' || it.t === 'dash') { sw.style.borderTopColor = it.c; sw.style.borderTopWidth = (it.w || 2) + 'px'; }
      else { sw.style.background = it.c; sw.style.border = '1px solid ' + (it.e || it.c); }
      L.DomUtil.create('span', 'label', row).textContent = it.l;
    });
  }
  function update() {
    if (!legendBox) return;
    legendBox.textContent = '';
    lastGroup = null;
    var shown = order.filter(function (id) { return on[id]; });
    shown.forEach(function (id) { M.layers[id].legend.forEach(block); });
    M.fixed.legend.forEach(block);
    if (base === 'vector') M.base.legend.forEach(block);
    legendBox.style.maxHeight = Math.max(120, map.getSize().y * 0.55) + 'px';
    // what is on: each layer's full name, or the headline of its group (said once)
    var said = [];
    shown.forEach(function (id) { var t = M.layers[id].sub || M.layers[id].full; if (said.indexOf(t) < 0) said.push(t); });
    sub.textContent = said.length ? said.join('；') : '（未选图层 no layer on）';
  }
  // grouped, collapsed layer control (Leaflet's own classes and look)
  var control = L.control({position: 'topright'});
  control.onAdd = function () {
    var box = L.DomUtil.create('div', 'leaflet-control-layers leaflet-control mtown-layers');
    var a = L.DomUtil.create('a', 'leaflet-control-layers-toggle', box);
    a.href = '#'; a.title = '图层 Layers'; a.setAttribute('role', 'button');
    var list = L.DomUtil.create('section', 'leaflet-control-layers-list', box);
    L.DomUtil.create('div', 'mtown-layers-head', list).textContent = '图层 Layers';
    var bases = L.DomUtil.create('div', 'leaflet-control-layers-base', list);
    M.bases.forEach(function (b) {
      var lab = L.DomUtil.create('label', '', bases);
      var inp = L.DomUtil.create('input', 'leaflet-control-layers-selector', lab);
      inp.type = 'radio'; inp.name = 'mtown-base'; inp.value = b.id; inp.checked = b.id === M.base_on;
      L.DomEvent.on(inp, 'change', function () { if (inp.checked) setBase(b.id); });
      L.DomUtil.create('span', '', lab).textContent = b.label;
    });
    L.DomUtil.create('div', 'leaflet-control-layers-separator', list);
    var overlays = L.DomUtil.create('div', 'leaflet-control-layers-overlays', list);
    (function tree(items, parent) {
      items.forEach(function (it) {
        if (it.items) {
          var d = L.DomUtil.create('details', 'mtown-group', parent);
          d.open = !!it.open;
          L.DomUtil.create('summary', '', d).textContent = it.label;
          tree(it.items, L.DomUtil.create('div', 'mtown-group-items', d));
          return;
        }
        var spec = M.layers[it];
        var lab = L.DomUtil.create('label', '', parent);
        lab.title = spec.full;
        var inp = L.DomUtil.create('input', 'leaflet-control-layers-selector', lab);
        inp.type = 'checkbox'; inp.value = it; inp.checked = !!spec.on;
        L.DomEvent.on(inp, 'change', function () { setOn(it, inp.checked); });
        L.DomUtil.create('span', '', lab).textContent = spec.label;
      });
    })(M.tree, overlays);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var expand = function () {
      list.style.maxHeight = (map.getSize().y - 60) + 'px';
      box.classList.add('leaflet-control-layers-expanded');
    };
    var collapse = function () { box.classList.remove('leaflet-control-layers-expanded'); };
    L.DomEvent.on(box, 'mouseenter', expand);
    L.DomEvent.on(box, 'mouseleave', collapse);
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      if (box.classList.contains('leaflet-control-layers-expanded')) collapse(); else expand();
    });
    L.DomEvent.on(a, 'focus', expand);
    return box;
  };
  control.addTo(map);
  legend.addTo(map);
  M.fixed.parts.forEach(function (p) { build(p).addTo(map); });
  if (tiles && M.base_on !== 'tiles') map.removeLayer(tiles);
  setBase(M.base_on);
  order.forEach(function (id) { if (M.layers[id].on) setOn(id, true); });
  update();
})
"""


# -- folium elements and the page's model ---------------------------------------------------------


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


class Text(Element):
    """Text added to the page as it is."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


class Script(MacroElement):
    """Script run once the map exists: ``head``, the map's variable name, ``tail``; added to the
    page as it is (never compiled as a template, nothing in it replaced)."""

    def __init__(self, head: str, tail: str) -> None:
        super().__init__()
        self._head, self._tail = head, tail

    def render(self, **kwargs: Any) -> str:
        parent = cast(Element, self._parent)
        figure: Any = self.get_root()
        figure.script.add_child(Text(self._head + parent.get_name() + self._tail), name=self.get_name())
        return ""


#: Metres of context kept around the town for the vector basemap of the page.
BASE_MARGIN_M = 300.0

BOUNDARY_LOOK = {
    "镇域": ("#5e3c99", 2.5, "8 4 2 4", "镇域 town boundary"),
    "建成区": ("#222222", 1.5, None, "建成区 built-up area"),
}


def is_missing(v: Any) -> bool:
    """Whether a value is missing (None, NA, NaT or NaN)."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and bool(np.isnan(v)))


_Geo = TypeVar("_Geo", gpd.GeoDataFrame, gpd.GeoSeries)


def metric(gdf: _Geo) -> _Geo:
    """A layer in a metric CRS (its own when projected, else its UTM zone), for simplifying in metres."""
    if gdf.crs is not None and gdf.crs.is_projected:
        return gdf
    return gdf.to_crs(gdf.estimate_utm_crs())


def json_values(col: pd.Series | np.ndarray, decimals: int | None = None) -> list[Any]:
    """A column as JSON values: floats rounded (None where NaN or inf), numpy scalars as plain values, text as text."""
    arr = np.asarray(col)
    if arr.dtype.kind in "fc":
        a = np.round(arr.astype(float), 2 if decimals is None else decimals)
        return [float(v) if np.isfinite(v) else None for v in a]
    if arr.dtype.kind in "iub":
        return arr.tolist()
    return [
        None
        if is_missing(v)
        else (v.item() if isinstance(v, np.generic) else v if isinstance(v, (str, int, float, bool)) else str(v))
        for v in arr
    ]


class Page:
    """The data of one map page: shared geometries, layers, the control's tree, the legend's blocks."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        west, south, east, north = bounds
        self.origin = (round((west + east) / 2 * 1e6), round((south + north) / 2 * 1e6))
        self.geoms: dict[str, Any] = {}
        self.layers: dict[str, Any] = {}
        self.tree: list[Any] = []
        self.fixed: dict[str, list[Any]] = {"parts": [], "legend": []}
        self.base: dict[str, list[Any]] = {"parts": [], "legend": []}
        self._base_data: _BaseData | None = None

    @classmethod
    def like(cls, page: Page) -> Page:
        """An empty page of the same origin (the same quantisation frame as ``page``)."""
        new = cls((0.0, 0.0, 0.0, 0.0))
        new.origin = page.origin
        return new

    def geometry(
        self, gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, simplify_m: float | None = 0.0, exact: bool = True
    ) -> tuple[Any, np.ndarray]:
        """A layer's geometries encoded (simplified in metres, then in WGS 84), and which rows were kept (not empty).

        With ``exact`` (the default) areas keep their topology when simplified (no ring
        crosses another); lines and points, and areas with ``exact=False`` (a background, a
        layer only drawn), are simplified plainly: several times faster, and at a metre a
        crossing changes nothing drawn.
        """
        geo = gdf if isinstance(gdf, gpd.GeoSeries) else gdf.geometry
        if simplify_m is not None:
            geo = metric(geo)
            areas = exact and bool(np.isin(shapely.get_type_id(geo.to_numpy()), (3, 6, 7)).any())
            geo = geo.simplify(simplify_m, preserve_topology=areas)
        return self.projected(geo.to_numpy(), geo.crs)

    def projected(self, arr: np.ndarray, crs: Any) -> tuple[Any, np.ndarray]:
        """Geometries in ``crs`` encoded in WGS 84 (as ``GeoSeries.to_crs(4326)`` projects them),
        and which were kept (not empty)."""
        if crs is None:
            gpd.GeoSeries(arr).to_crs(4326)  # raises GeoPandas' error: naive geometries cannot be projected
        keep = ~(shapely.is_empty(arr) | shapely.is_missing(arr))
        return encode(arr[keep], self.origin, crs=crs), keep

    def lonlat(self, arr: np.ndarray) -> tuple[Any, np.ndarray]:
        """Geometries already in WGS 84 encoded as they are, and which were kept (not empty)."""
        keep = ~(shapely.is_empty(arr) | shapely.is_missing(arr))
        return encode(arr[keep], self.origin), keep

    def layer(
        self, key: str, label: str, full: str, parts: list[Any], legend: list[Any], *, on: bool = False, sub: str = ""
    ) -> str:
        """Add a layer of the control: its entry ``label``, its ``full`` name (the entry's hover text,
        and what the title's second line says while it is on, unless ``sub`` says it for its group),
        its drawn parts and its legend blocks; ``on`` at start. Returns its key."""
        spec: dict[str, Any] = {"label": label, "full": full, "parts": parts, "legend": legend, "on": on}
        if sub:
            spec["sub"] = sub
        self.layers[key] = spec
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

    def _model_text(self, model: dict[str, Any]) -> str:
        """``js_json(model)``, with the basemap's text written once for the pages that share it."""
        data = self._base_data
        if data is None or not data.held_by(self):
            return js_json(model)
        if data.text is None:
            data.text = (js_json(self.base), js_json(data.roads))
        marks = {_MARK + "base": data.text[0], _MARK + "roads": data.text[1]}
        whole, model = model, {**model, "base": _MARK + "base"}
        if data.roads is not None:
            model["geoms"] = {k: _MARK + "roads" if k == "roads" else v for k, v in self.geoms.items()}
        else:
            del marks[_MARK + "roads"]
        text = js_json(model)
        for mark, value in marks.items():
            quoted = js_json(mark)
            if text.count(quoted) != 1:  # cannot be (the mark holds a random name): write it all
                return js_json(whole)
            text = text.replace(quoted, value)
        return text

    def add_to(self, fmap: folium.Map, *, title: str, banner: str = "", tiles: bool) -> None:
        root: Any = fmap.get_root()
        root.title = escape_text(title)
        root.header.add_child(Text(CSS), name="mtown_css")
        tile = next((c for c in fmap._children.values() if isinstance(c, folium.TileLayer)), None)
        model = self._model_text(self.model(title=title, banner=banner, tiles=tiles))
        tile_name = tile.get_name() if tile is not None else "null"
        Script(SCRIPT.strip() + "(", f", {model}, {tile_name});").add_to(fmap)


def area_part(
    page: Page,
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
    exact: bool = True,
) -> dict[str, Any] | None:
    """Polygons or lines of one look, with a tooltip of (column, heading, unit, decimals);
    ``exact`` as in :meth:`Page.geometry`."""
    if gdf is None or not len(gdf):
        return None
    geo, keep = page.geometry(gdf, simplify_m=simplify_m, exact=exact)
    columns = {col: gdf[col].to_numpy() for col, *_ in fields if col in gdf.columns}
    return _area_of(geo, keep, columns, fields=fields, fill=fill, edge=edge, fo=fo, w=w, dash=dash, pane=pane)


def area_parts(
    page: Page,
    gdf: gpd.GeoDataFrame,
    by: np.ndarray,
    keys: Sequence[Any],
    *,
    fields: Sequence[tuple[str, str, str, int | None]],
    fill: str,
    edge: str,
    fo: float,
    w: float = 1.0,
    dash: str | None = None,
    simplify_m: float = 1.0,
    pane: str = "mgAreas",
    exact: bool = True,
) -> dict[Any, dict[str, Any] | None]:
    """:func:`area_part` of each group of a layer's rows (those where ``by == key``, for each of
    ``keys``), the same to the byte as one call per group; the layer's geometries are simplified
    and projected once, and its columns read once."""
    if gdf is None or not len(gdf):
        return dict.fromkeys(keys)
    sels = {k: np.asarray(by == k, dtype=bool) for k in keys}
    look: dict[str, Any] = {"fill": fill, "edge": edge, "fo": fo, "w": w, "dash": dash, "pane": pane}
    geo = gdf.geometry
    if simplify_m is not None and not (geo.crs is not None and geo.crs.is_projected):
        # each group would be simplified in the UTM zone of its own extent: one call per group
        return {
            k: area_part(page, gdf[sel], fields=fields, simplify_m=simplify_m, exact=exact, **look) for k, sel in sels.items()
        }
    arr = geo.to_numpy()
    used = np.zeros(len(arr), dtype=bool)
    for sel in sels.values():
        used |= sel
    if simplify_m is not None:
        # as Page.geometry simplifies each group: keeping topology where the group holds areas
        areas = np.isin(shapely.get_type_id(arr), (3, 6, 7))
        topo = np.zeros(len(arr), dtype=bool)
        if exact:
            for sel in sels.values():
                if areas[sel].any():
                    topo |= sel
        arr = arr.copy()
        for flag in (True, False):
            rows = np.flatnonzero(used & (topo == flag))
            if len(rows):
                arr[rows] = shapely.simplify(arr[rows], simplify_m, preserve_topology=flag)
    rows = np.flatnonzero(used)
    columns = {col: gdf[col].to_numpy() for col, *_ in fields if col in gdf.columns}
    out: dict[Any, dict[str, Any] | None] = {}
    for k, sel in sels.items():
        if not sel.any():
            out[k] = None
            continue
        g, keep = page.projected(arr[sel], geo.crs)
        out[k] = _area_of(g, keep, {c: v[sel] for c, v in columns.items()}, fields=fields, **look)
    return out


def _area_of(
    geo: Any,
    keep: np.ndarray,
    columns: dict[str, np.ndarray],
    *,
    fields: Sequence[tuple[str, str, str, int | None]],
    fill: str,
    edge: str,
    fo: float,
    w: float,
    dash: str | None,
    pane: str,
) -> dict[str, Any]:
    """The part of :func:`area_part` of encoded geometries, the rows kept and the columns' values."""
    props: dict[str, list[Any]] = {}
    tip = []
    for col, heading, unit, dec in fields:
        if col not in columns:
            continue
        values = columns[col][keep]
        if unit == "ha":
            values = np.asarray(values, dtype=float) / 1e4
        props[col] = json_values(values, dec)
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


def add_boundaries(page: Page, bounds: gpd.GeoDataFrame | None) -> None:
    """The study area's outlines, one look per kind: always drawn (not a layer of the control), in the legend.

    The data is made once for outlines and a page origin: a second page of the same (the
    policy-task map after the town map of a run) takes the last one's.
    """
    if bounds is None or not len(bounds):
        return
    key = _LayerKey(bounds)
    with _BASE_LOCK:
        last = _BOUNDS_LAST[0] if _BOUNDS_LAST else None
    if last is not None and last[0] == page.origin and last[1].matches(key):
        parts, legend = last[2], last[3]
    else:
        parts, legend = _boundary_data(page, bounds)
        with _BASE_LOCK:
            _BOUNDS_LAST[:] = [(page.origin, key, parts, legend)]
    page.fixed["parts"].extend(parts)
    page.fixed["legend"].append(legend)


def _boundary_data(page: Page, bounds: gpd.GeoDataFrame) -> tuple[list[Any], dict[str, Any]]:
    """The outlines' drawn parts and legend block on a page (read only: shared by the pages of the same)."""
    kinds = np.asarray([str(k) for k in (bounds["kind"] if "kind" in bounds else ["边界 boundary"] * len(bounds))], dtype=object)
    looks = []
    parts = []
    tip = [{"p": "name", "h": "名称 name", "skip": True}, {"p": "kind", "h": "类型 kind"}]
    for kind in dict.fromkeys(kinds):
        colour, width, dash, label = BOUNDARY_LOOK.get(kind, ("#333333", 2.0, "6 4", kind))
        sel = kinds == kind
        geo, keep = page.geometry(bounds[sel], simplify_m=0.5)
        props: dict[str, list[Any]] = {"kind": [kind] * int(keep.sum())}
        if "name" in bounds:
            props["name"] = json_values(bounds["name"].to_numpy()[sel][keep])
        style: dict[str, Any] = {"fill": "none", "color": colour, "w": width}
        if dash:
            style["dash"] = dash
        parts.append({"g": geo, "p": props, "s": style, "pane": "mgLines", "tip": tip})
        looks.append({"t": "dash" if dash else "line", "c": colour, "w": 2, "l": label})
    return parts, {"h": "边界 boundaries", "items": looks}


#: The outlines' data of the last page made (:func:`add_boundaries`): its origin, the outlines'
#: key (:class:`_LayerKey`: their geometries, CRS, kinds and names), the drawn parts and the legend
#: block. One entry only, as for the basemap.
_BOUNDS_LAST: list[tuple[tuple[int, int], _LayerKey, list[Any], dict[str, Any]]] = []


#: The basemap data of the last page made (:func:`add_basemap`), under a key of its layers, frame
#: and origin (:class:`_BaseKey`): a run's town map and its policy-task map draw the same basemap,
#: cut to the same frame, and the second takes the first's data (the same text, to the byte). One
#: entry only, so a batch worker keeps no more than one town's basemap (its data and, in the key,
#: its layers' geometries and drawn values).
_BASE_LAST: list[tuple[_BaseKey, _BaseData]] = []
_BASE_LOCK = threading.Lock()


#: A name no data holds, for the places the basemap's JSON text goes into a page's model.
_MARK = f"\x00mtown-base-{uuid.uuid4().hex}\x00"


class _BaseData:
    """The basemap's data on a page: the roads' geometries (None without roads), the drawn parts
    and the legend blocks, in the order the page adds them; and, once written, their JSON text.
    Shared by the pages that draw the same basemap: read only."""

    __slots__ = ("legend", "parts", "roads", "text")

    def __init__(self, roads: Any, parts: list[Any], legend: list[Any]) -> None:
        self.roads, self.parts, self.legend = roads, parts, legend
        self.text: tuple[str, str] | None = None

    def held_by(self, page: Page) -> bool:
        """Whether the page's basemap is this data and nothing else."""
        base = page.base
        return (
            set(base) == {"parts", "legend"}
            and page.geoms.get("roads") is self.roads
            and len(base["parts"]) == len(self.parts)
            and all(a is b for a, b in zip(base["parts"], self.parts, strict=True))
            and len(base["legend"]) == len(self.legend)
            and all(a is b for a, b in zip(base["legend"], self.legend, strict=True))
        )


class _BaseKey:
    """What a basemap's page data is made of: its CRS, frame and page origin and, per layer, the
    geometries (the objects themselves, held here: none can be freed and another take its place),
    their CRS and the values of the columns drawn. Two keys match when all of these are the same:
    the same geometry objects (or, failing that, the same WKB) and equal values."""

    __slots__ = ("frame", "layers")

    def __init__(
        self, layers: Sequence[gpd.GeoDataFrame | None], crs: Any, box: tuple[float, ...], origin: tuple[int, int]
    ) -> None:
        self.frame = (str(crs), tuple(float(v) for v in box), tuple(origin))
        self.layers = tuple(None if gdf is None else _LayerKey(gdf) for gdf in layers)

    def matches(self, other: _BaseKey) -> bool:
        if self.frame != other.frame or len(self.layers) != len(other.layers):
            return False
        for a, b in zip(self.layers, other.layers, strict=True):
            if a is None or b is None:
                if a is not b:
                    return False
            elif not a.matches(b):
                return False
        return True


class _LayerKey:
    """One basemap layer in a :class:`_BaseKey`."""

    __slots__ = ("crs", "geoms", "values")

    def __init__(self, gdf: gpd.GeoDataFrame) -> None:
        self.geoms = np.array(gdf.geometry.to_numpy(), dtype=object)  # a copy: the layer may change after
        self.crs = gdf.crs
        cols = [c for c in ("road_class", "name", "kind") if c in gdf.columns]
        self.values = {c: np.array(gdf[c].to_numpy(), dtype=object) for c in cols}

    def matches(self, other: _LayerKey) -> bool:
        if len(self.geoms) != len(other.geoms) or self.values.keys() != other.values.keys():
            return False
        if not (self.crs is other.crs or self.crs == other.crs):
            return False
        if not all(map(operator.is_, self.geoms, other.geoms)):
            wkb = {"output_dimension": 4, "include_srid": True}
            if not np.array_equal(shapely.to_wkb(self.geoms, **wkb), shapely.to_wkb(other.geoms, **wkb)):
                return False
        return all(_same_values(self.values[c], other.values[c]) for c in self.values)


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two object arrays hold the same values (the same objects, or equal ones of one type)."""
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        if x is y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y):  # the same, or both NaN
            continue
        try:
            if type(x) is not type(y) or not bool(x == y):
                return False
        except (TypeError, ValueError):
            return False
    return True


def add_basemap(page: Page, basemap: Basemap | None, streets: gpd.GeoDataFrame | None, extent: gpd.GeoDataFrame) -> None:
    """The vector basemap (streets by class, water, green land, buildings), cut to the town and a margin.

    The data is made once for a basemap, a frame and a page origin: a second page of the same
    (the policy-task map after the town map of a run) reuses the last one's.
    """
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
        roads = metric(roads)
        crs = roads.crs
        water = green = buildings = None
    else:
        return
    x0, y0, x1, y1 = extent.to_crs(crs).total_bounds
    box = (x0 - BASE_MARGIN_M, y0 - BASE_MARGIN_M, x1 + BASE_MARGIN_M, y1 + BASE_MARGIN_M)
    key = _BaseKey([roads, water, green, buildings], crs, box, page.origin)
    with _BASE_LOCK:
        hit = _BASE_LAST[0][1] if _BASE_LAST and _BASE_LAST[0][0].matches(key) else None
    if hit is None:
        made = Page.like(page)
        roads_geo, parts, legend = _basemap_data(made, (roads, water, green, buildings), crs, box)
        hit = _BaseData(roads_geo, parts, legend)
        with _BASE_LOCK:
            _BASE_LAST[:] = [(key, hit)]
    if hit.roads is not None:
        page.geoms["roads"] = hit.roads
    page.base["parts"].extend(hit.parts)
    page.base["legend"].extend(hit.legend)
    page._base_data = hit


def _basemap_data(
    page: Page, layers: tuple[gpd.GeoDataFrame | None, ...], crs: Any, box: tuple[float, float, float, float]
) -> tuple[Any, list[Any], list[Any]]:
    """The basemap's data on an empty page of the same origin: the roads' geometries (None without
    roads), the drawn parts and the legend blocks, in the order the page adds them."""
    roads, water, green, buildings = layers

    def cut(gdf: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The layer's geometries in the basemap's CRS cut to the frame, none empty; and which rows they are."""
        if gdf is None or not len(gdf):
            return None
        geoms = shapely.clip_by_rect(gdf.geometry.to_crs(crs).to_numpy(), *box)
        inside = ~shapely.is_empty(geoms)
        return (geoms[inside], inside) if inside.any() else None

    # what is drawn, in order: (geometries, tolerance in metres, look); simplified and projected at once
    drawn: list[tuple[np.ndarray, float, dict[str, Any] | None]] = []
    items: list[dict[str, Any]] = []
    base = {"fields": [], "fo": 1.0, "w": 0.5, "dash": None, "pane": "mgBase"}
    w = cut(water)
    if w is not None and water is not None:
        geoms, inside = w
        if "kind" in water:
            kind = water["kind"][inside]
            area, lines = geoms[(kind == "area").to_numpy(bool)], geoms[(kind != "area").to_numpy(bool)]
        else:
            area, lines = geoms, geoms[:0]
        drawn.append((area, 1.0, {**base, "fill": "#b7d8f0", "edge": "#8cbbe0"}))
        drawn.append((lines, 1.0, {**base, "fill": "none", "edge": WATER_LINE, "fo": 0, "w": 2.0}))
        items.append({"t": "box", "c": "#b7d8f0", "e": "#8cbbe0", "l": "水域 water"})
    g = cut(green)
    if g is not None:
        drawn.append((g[0], 1.0, {**base, "fill": "#cfe6b6", "edge": "#b5d69a"}))
        items.append({"t": "box", "c": "#cfe6b6", "e": "#b5d69a", "l": "绿地 green land"})
    b = cut(buildings)
    if b is not None:
        drawn.append((b[0], 0.5, {**base, "fill": BUILDING_FILL, "edge": BUILDING_EDGE}))
        items.append({"t": "box", "c": BUILDING_FILL, "e": BUILDING_EDGE, "l": "建筑 buildings"})
    r = cut(roads)
    order = [c.key for c in ROAD_CLASSES]
    rank = {key: i for i, key in enumerate(order)}
    if r is not None and roads is not None:
        geoms, inside = r
        classes = roads["road_class"].to_numpy(dtype=object)[inside]
        known = np.fromiter((c in rank for c in classes.tolist()), dtype=bool, count=len(classes))
        ranks = np.fromiter((rank[c] for c in classes[known].tolist()), dtype=np.int64, count=int(known.sum()))
        by_class = np.argsort(-ranks, kind="stable")  # the minor roads first, the main ones drawn over them
        road_geoms, road_ranks = geoms[known][by_class], ranks[by_class]
        road_names = roads["name"].to_numpy()[inside][known][by_class] if "name" in roads else None
        drawn.append((road_geoms, 1.0, None))
    simple = _simplified([d[0] for d in drawn], crs, [d[1] for d in drawn])
    geo: Any = None
    for (geoms, _, look), (metric_geoms, metric_crs) in zip(drawn, simple, strict=True):
        if look is None:
            geo, keep = page.projected(metric_geoms, metric_crs)
        elif len(geoms):
            part_geo, part_keep = page.projected(metric_geoms, metric_crs)
            page.base["parts"].append(_area_of(part_geo, part_keep, {}, **look))
    if r is not None:
        page.geoms["roads"] = geo
        k = road_ranks[keep].tolist()
        names = json_values(road_names[keep]) if road_names is not None else [None] * len(k)
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
    return page.geoms.get("roads"), page.base["parts"], page.base["legend"]


def _simplified(arrays: list[np.ndarray], crs: Any, tolerances: list[float]) -> list[tuple[np.ndarray, Any]]:
    """Each array of geometries (in ``crs``) simplified plainly by its tolerance in metres, as
    :meth:`Page.geometry` with ``exact=False`` simplifies them; with the CRS each is then in (its
    UTM zone when ``crs`` is not projected)."""
    if not arrays:
        return []
    if gpd.GeoSeries(arrays[0][:0], crs=crs).crs.is_projected:
        return [(shapely.simplify(a, t, preserve_topology=False), crs) for a, t in zip(arrays, tolerances, strict=True)]
    out = []
    for a, t in zip(arrays, tolerances, strict=True):
        geo = metric(gpd.GeoSeries(a, crs=crs)).simplify(t, preserve_topology=False)
        out.append((geo.to_numpy(), geo.crs))
    return out
