"""The interactive task map: layers written as folium writes them, without a dict per feature."""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from jinja2.utils import htmlsafe_json_dumps

from mtown_geo.render import task_map
from mtown_geo.render.interactive import _GeoJson, _Tooltip
from mtown_geo.render.taskmaps import _collection, _display


def _old_route(g: gpd.GeoDataFrame) -> str:
    """What folium wrote for a layer given as ``frame.to_json()``."""
    return str(htmlsafe_json_dumps(json.loads(g.to_json()), sort_keys=True))


def _frame(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    g = layer.to_crs(4326)
    fields = [c for c in g.columns if c != g.geometry.name][:8]
    props = pd.DataFrame({c: g[c].map(_display).to_numpy() for c in fields}, index=g.index)
    return gpd.GeoDataFrame(props, geometry=g.geometry.to_numpy(), crs=4326)


def test_layer_text_is_what_folium_wrote_from_to_json(andorra_la_vella_streets) -> None:
    layers, parish = andorra_la_vella_streets
    for name in ("streets", "blocks", "junctions"):
        frame = _frame(layers[name])
        assert len(frame) > 10
        text, first = _collection(pd.DataFrame(frame.drop(columns="geometry")), np.asarray(frame.geometry.values))
        assert text == _old_route(frame), name
        assert first == json.loads(frame.to_json())["features"][0]
    # every kind of geometry: collections (lines and points), multi-parts,
    # 3-D, empty and missing ones, text that HTML and JavaScript would read, a repeated index
    st = layers["streets"]
    odd = [
        shapely.GeometryCollection([st.geometry.iloc[0], st.geometry.iloc[1].centroid]),
        shapely.MultiPoint(np.asarray(layers["junctions"].geometry.values[:3])),
        layers["blocks"].geometry.union_all(),
        shapely.Point(1, 2, 3),
        shapely.LineString(),
        None,
        parish.geometry.iloc[0],
    ]
    mixed = gpd.GeoDataFrame(
        {"name": ["</script><b>&", "it's", "中文 name", "${x} {{ y }}", "", "a\nb", "\\"]},
        geometry=gpd.GeoSeries(odd, crs=parish.crs).to_crs(4326).to_numpy(),
        crs=4326,
        index=[5, 5, 1, 2, 3, 4, 0],
    )
    assert "GeometryCollection" in set(mixed.geom_type)
    text, _ = _collection(pd.DataFrame(mixed.drop(columns="geometry")), np.asarray(mixed.geometry.values))
    unique = mixed.reset_index(drop=True)
    assert text == _old_route(unique)
    assert "</script>" not in text


def test_task_map_is_the_folium_geojson_map(andorra_la_vella_streets) -> None:
    """The page holds every feature of every layer, and is the page folium's own GeoJSON layers
    and tooltips make of the same frames (random element names aside)."""
    layers, parish = andorra_la_vella_streets
    specs = [
        (
            "tasks_streets",
            [
                (layers["blocks"], {"facecolor": "#fdd49e", "color": "#7f2704", "linewidth": 0.4}, "街区 blocks ({n})"),
                (layers["streets"], {"color": "#444444", "linewidth": 1.2}, "道路 streets {km}"),
                (layers["junctions"], {"color": "#d7301f", "markersize": 6}, "交叉口 junctions"),
            ],
            "小街区密路网",
            "streets",
            "",
        )
    ]
    bounds = parish.assign(kind="镇域")[["kind", "geometry"]]
    page = task_map(specs, boundaries=bounds, tiles=False).get_root().render()

    # the same map through folium.GeoJson from GeoDataFrame.to_json()
    from mtown_geo.render.interactive import escape_text, new_map

    fmap = new_map(tuple(bounds.to_crs(4326).total_bounds), tiles=False)
    group = folium.FeatureGroup(name=escape_text("小街区密路网 streets"), show=True)
    for gdf, style, label in specs[0][1]:
        frame = _frame(gdf)
        fields = [c for c in frame.columns if c != "geometry"]
        colour = style.get("facecolor", style.get("color", "#333333"))
        legend = re.sub(r"\{[^}]*\}", "", label).strip()
        if set(frame.geom_type) <= {"Point", "MultiPoint"}:
            kw = {
                "marker": folium.CircleMarker(
                    radius=max(3.0, float(style.get("markersize", 6.0)) / 1.5),
                    color="#222",
                    weight=1,
                    fill=True,
                    fill_color=colour,
                    fill_opacity=0.9,
                )
            }
        else:
            look = {
                "fillColor": colour,
                "color": style.get("color", colour),
                "weight": style.get("linewidth", 1.0),
                "fillOpacity": 0.45,
            }
            kw = {"style_function": lambda f, s=look: s}
        _GeoJson(frame.to_json(), name=escape_text(legend), tooltip=_Tooltip(fields=fields), **kw).add_to(group)
    group.add_to(fmap)
    _GeoJson(
        bounds.to_crs(4326).to_json(),
        name="边界 boundaries",
        style_function=lambda f: {"fill": False, "color": "#333333", "weight": 2, "dashArray": "6 4"},
    ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    ref = fmap.get_root().render()

    def norm(h: str) -> str:
        return re.sub(r"_[0-9a-f]{32}", "_ID", h)

    assert norm(page) == norm(ref)
    n = sum(len(layers[k]) for k in ("blocks", "streets", "junctions")) + len(bounds)
    assert page.count('"type": "Feature"') == n


def test_points_among_areas_are_dots_not_default_pins(andorra_la_vella_streets) -> None:
    """A layer of areas and points (a centre given either way): its points are circle markers in
    the layer's colours; Leaflet's default pin (an image the page does not hold) is never used."""
    layers, _ = andorra_la_vella_streets
    blocks = layers["blocks"].head(3)
    mixed = pd.concat([blocks, layers["junctions"].head(2)], ignore_index=True)[["geometry"]].assign(
        name=["a", "b", "c", "d", "e"]
    )
    specs = [
        (
            "tasks_x",
            [(mixed, {"facecolor": "#8c510a", "color": "#543005", "markersize": 9}, "centres {n}")],
            "邻里中心",
            "centres",
            "",
        )
    ]
    page = task_map(specs, tiles=False).get_root().render()
    assert page.count("_pointToLayer(feature, latlng)") == 1
    assert "new L.CircleMarker(latlng, opts)" in page
    assert '"fillColor": "#8c510a"' in page
    # drawn in the browser: five features, the two points as circles
    assert page.count('"type": "Feature"') == 5
