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
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely

__all__ = ["CSS", "SCRIPT", "encode", "js_json"]

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


def encode(geoms: np.ndarray, origin: tuple[int, int]) -> dict[str, Any]:
    """Geometries (WGS 84 lon/lat, none empty) as compact data for the page's script.

    Returns ``{"t": GeoJSON type, "c": [dx, dy, ...], "n": [[sizes], ...]}``: the vertices
    in millionths of a degree, each as the step from the one before (the first from
    ``origin``), and the sizes of the rings, parts and geometries from the innermost level
    out (shapely's ragged-array offsets as counts).
    """
    geoms = _homogeneous(np.asarray(geoms, dtype=object))
    if len(geoms) == 0:
        return {"t": "Point", "c": [], "n": []}
    kind, coords, offsets = shapely.to_ragged_array(geoms)
    q = np.round(np.asarray(coords, dtype=float) * _SCALE).astype(np.int64)
    q -= np.asarray(origin, dtype=np.int64)
    steps = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    sizes = [np.diff(np.asarray(o, dtype=np.int64)).tolist() for o in offsets]
    return {"t": _GEOJSON_TYPE[kind], "c": steps.ravel().tolist(), "n": sizes}


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
.mtown-layers label{display:block;white-space:nowrap}
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
        if (part.tip && has(part.tip, f.properties)) layer.bindTooltip(detail(part.tip, part), {sticky: part.pane === 'mgCells'});
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
  function block(b) {
    var det = L.DomUtil.create('details', 'mtown-legend-block', legendBox);
    det.open = !b.closed;
    L.DomUtil.create('b', '', L.DomUtil.create('summary', '', det)).textContent = b.h;
    if (b.note) L.DomUtil.create('div', 'note', det).textContent = b.note;
    var list = L.DomUtil.create('div', 'items' + (b.items.length > 14 ? ' two' : ''), det);
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
    var shown = order.filter(function (id) { return on[id]; });
    shown.forEach(function (id) { M.layers[id].legend.forEach(block); });
    M.fixed.legend.forEach(block);
    if (base === 'vector') M.base.legend.forEach(block);
    legendBox.style.maxHeight = Math.max(120, map.getSize().y * 0.55) + 'px';
    sub.textContent = shown.length ? shown.map(function (id) { return M.layers[id].full; }).join('；') : '（未选图层 no layer on）';
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
