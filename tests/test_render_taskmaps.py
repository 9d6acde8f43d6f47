"""The interactive map of the policy tasks, read as a planner reads it in a real browser:
title, folded layer control grouped by task, legend figures, Chinese tooltips with units."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import render

from .conftest import chromium_browser, needs_chromium, watch_page


def _specs(layers: dict[str, gpd.GeoDataFrame]) -> list:
    """Two task maps of Andorra la Vella's street layers, styled and labelled as the run's are."""
    blocks, streets, junctions = layers["blocks"], layers["streets"], layers["junctions"]
    ok = blocks[blocks["within_max"].to_numpy(bool)]
    big = blocks[~blocks["within_max"].to_numpy(bool)]
    main = streets[streets["variant"] == "main"]
    inner = streets[streets["variant"] == "internal"]
    return [
        (
            "tasks_streets",
            [
                (ok, {"facecolor": "#a6d96a", "edgecolor": "none", "alpha": 0.7}, "街区长边≤300 m blocks {n:.0f} 个"),
                (big, {"facecolor": "#fdae61", "edgecolor": "none", "alpha": 0.7}, "街区长边>300 m blocks {n:.0f} 个"),
                (main, {"color": "#2166ac", "linewidth": 1.2}, "道路 roads {km:.1f} km"),
                (junctions, {"color": "#000000", "markersize": 3}, "交叉口 junctions {n:.0f} 处"),
            ],
            "小街区密路网",
            "Street density and block size",
            "路网密度 12.34 km/km²",
        ),
        (
            "tasks_inner",
            [(inner, {"color": "#878787", "linewidth": 0.7}, "公共内部道路 public internal roads {km:.1f} km")],
            "内部道路",
            "Internal roads",
            "",
        ),
    ]


@pytest.fixture(scope="module")
def alv_task_map(andorra_la_vella_streets, tmp_path_factory):
    layers, parish = andorra_la_vella_streets
    bounds = parish.assign(kind="镇域", name="Andorra la Vella")[["kind", "name", "geometry"]]
    specs = _specs(layers)
    fmap = render.task_map(specs, boundaries=bounds, tiles=False, town="Andorra la Vella", streets=layers["streets"])
    path = render.save_map(fmap, tmp_path_factory.mktemp("tasks") / "tasks_map.html")
    return specs, bounds, path


def _km(gdf: gpd.GeoDataFrame) -> float:
    """Length of the lines in km, measured with shapely on the layer's own (metric) coordinates."""
    return float(shapely.length(gdf.geometry.to_numpy()).sum()) / 1000


_STATE = r"""
() => {
  const ctl = document.querySelector('.mtown-layers');
  const list = ctl.querySelector('.leaflet-control-layers-list');
  return {
    expanded: ctl.classList.contains('leaflet-control-layers-expanded'),
    listVisible: list.offsetParent !== null && list.getBoundingClientRect().height > 0,
    groups: [...ctl.querySelectorAll('.leaflet-control-layers-overlays details')].map(d => ({
      label: d.querySelector('summary').textContent,
      open: d.open,
      entries: [...d.querySelectorAll('label')].map(l => l.textContent),
    })),
    checked: [...ctl.querySelectorAll('.leaflet-control-layers-overlays input:checked')].map(i => i.parentElement.textContent),
    title: document.querySelector('.mtown-title h1').textContent,
    sub: document.querySelector('.mtown-title .mtown-sub').textContent,
    headings: [...document.querySelectorAll('.mtown-legend summary b')].map(e => e.textContent),
    legend: [...document.querySelectorAll('.mtown-legend .item')].map(e => e.textContent),
    scale: [...document.querySelectorAll('.leaflet-control-scale-line')].map(e => e.textContent.trim()),
    attribution: document.querySelector('.leaflet-control-attribution').textContent,
    pageTitle: document.title,
  };
}
"""

# every feature of the layers on the map: the text its tooltip shows
_TIPS = r"""
() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const out = [], seen = new Set();
  const walk = l => {
    if (l.eachLayer) { l.eachLayer(walk); return; }
    if (!l.feature || !l.getTooltip() || seen.has(L.stamp(l))) return;
    seen.add(L.stamp(l));
    l.openTooltip(l.getLatLng ? l.getLatLng() : l.getBounds().getCenter());
    out.push({props: l.feature.properties, text: l.getTooltip().getElement().innerText});
    l.closeTooltip();
  };
  map.eachLayer(l => { if (l.eachLayer) walk(l); });
  return out;
}
"""


@pytest.mark.slow
@needs_chromium
def test_task_map_reads_at_a_glance(alv_task_map, andorra_la_vella_streets):
    """Andorra la Vella's task map as a planner opens it: the title, the control folded and grouped by
    task with the first task on, legend figures equal to those measured from the layers, a metric
    scale, the OSM credit, and tooltips in Chinese with units and no placeholder values."""
    from playwright.sync_api import sync_playwright

    specs, _, path = alv_task_map
    layers, _ = andorra_la_vella_streets
    blocks, streets, junctions = layers["blocks"], layers["streets"], layers["junctions"]
    n_ok = int(blocks["within_max"].sum())
    main_km = _km(streets[streets["variant"] == "main"])
    inner_km = _km(streets[streets["variant"] == "internal"])
    with sync_playwright() as p:
        browser = chromium_browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = watch_page(page)
        page.goto(path.as_uri())
        page.wait_for_selector(".mtown-legend summary")
        start = page.evaluate(_STATE)
        tips = page.evaluate(_TIPS)
        page.hover(".mtown-layers")
        expanded = page.evaluate(_STATE)["expanded"]
        # the second task switched on: its legend joins under its own heading, the title says it
        page.eval_on_selector('.leaflet-control-layers-overlays input[value="tasks_inner:0"]', "e => e.click()")
        both = page.evaluate(_STATE)
        page.eval_on_selector_all(
            '.leaflet-control-layers-overlays input[value^="tasks_streets:"]', "els => els.forEach(e => e.click())"
        )
        second = page.evaluate(_STATE)
        inner_tips = page.evaluate(_TIPS)
        browser.close()
    assert errors == []
    assert start["title"] == start["pageTitle"] == "Andorra la Vella 主要任务 policy tasks"
    assert start["sub"] == "小街区密路网 Street density and block size：路网密度 12.34 km/km²"
    # folded at start, opened by hovering; a group per task, its layers named with their figures
    assert not start["expanded"] and not start["listVisible"] and expanded
    want_first = [
        f"街区长边≤300 m blocks {n_ok} 个",
        f"街区长边>300 m blocks {len(blocks) - n_ok} 个",
        f"道路 roads {main_km:.1f} km",
        f"交叉口 junctions {len(junctions)} 处",
    ]
    assert start["groups"] == [
        {"label": "小街区密路网 Street density and block size", "open": True, "entries": want_first},
        {"label": "内部道路 Internal roads", "open": False, "entries": [f"公共内部道路 public internal roads {inner_km:.1f} km"]},
    ]
    assert start["checked"] == want_first  # the first task on, the other a click away
    # the legend: the first task's layers under its heading, then the boundary; no basemap block offline
    # without a basemap layer on (streets only, folded)
    assert start["headings"][:2] == ["小街区密路网 Street density and block size", "边界 boundaries"]
    assert start["legend"][:4] == want_first
    assert "镇域 town boundary" in start["legend"]
    assert both["headings"][:2] == ["小街区密路网 Street density and block size", "内部道路 Internal roads"]
    assert f"公共内部道路 public internal roads {inner_km:.1f} km" in both["legend"]
    assert both["sub"] == "小街区密路网 Street density and block size：路网密度 12.34 km/km²；内部道路 Internal roads"
    assert second["sub"] == "内部道路 Internal roads" and second["checked"] == [
        f"公共内部道路 public internal roads {inner_km:.1f} km"
    ]
    # metric scale only, the OSM credit
    assert start["scale"] and all(re.fullmatch(r"\d+ (m|km)", s) for s in start["scale"]), start["scale"]
    assert "© OpenStreetMap contributors (ODbL 1.0)" in start["attribution"]
    # tooltips: every feature of the layers on has one, in Chinese with units, no placeholder value
    n_features = sum(len(g) for g, _, _ in specs[0][1])
    task_tips = [t["text"] for t in tips if "道路 street" not in t["text"] and "类型 kind" not in t["text"]]
    assert len(task_tips) == n_features
    for text in task_tips + [t["text"] for t in inner_tips]:
        assert not re.search(r"(?<![\d.])-1(?![\d.])|\bnan\b|\bNone\b|undefined|null|\binf\b", text), text
    assert sum("长度 length" in t and re.search(r"\t[\d,]+ m\b", t) is not None for t in task_tips) == len(
        streets[streets["variant"] == "main"]
    )
    assert sum("面积 area" in t and "公顷 ha" in t and "长边 long side" in t for t in task_tips) == len(blocks)
    assert sum("相交道路 roads meeting" in t and "条" in t for t in task_tips) == len(junctions)
    assert any("道路等级 road class" in t and "(residential)" in t for t in task_tips)
    named = streets[streets["variant"] == "main"]["name"].dropna()
    assert any(f"名称 name\t{named.iloc[0]}" in t for t in task_tips)


def test_task_map_geometry_and_figures_from_the_layers(alv_task_map, andorra_la_vella_streets):
    """The page's data decode to the layers' own geometry (points to 1e-6°), every feature is there
    once, the legend figures are the layers' measured ones, and the file is far smaller than the
    GeoJSON of the same layers."""
    from mtown_geo.render import _leaflet

    specs, _, path = alv_task_map
    layers, _ = andorra_la_vella_streets
    html = path.read_text(encoding="utf-8")
    model = json.loads(re.search(r"\}\)\(\w+, (\{.*\}), null\);", html).group(1))
    jn = model["layers"]["tasks_streets:3"]
    (part,) = jn["parts"]
    assert part["g"]["t"] == "Point" and part["pane"] == "mgPoints"
    xy = np.cumsum(np.asarray(part["g"]["c"], dtype=np.int64).reshape(-1, 2), axis=0) + np.asarray(model["o"])
    want = shapely.get_coordinates(layers["junctions"].to_crs(4326).geometry.to_numpy())
    assert np.abs(xy / 1e6 - want).max() <= 0.5e-6 + 1e-12
    # every feature of every layer, once
    for stem, lay, *_ in specs:
        for j, (gdf, _, _) in enumerate(lay):
            parts = model["layers"][f"{stem}:{j}"]["parts"]
            assert sum(len(p["g"]["n"][-1]) if p["g"]["n"] else len(p["g"]["c"]) // 2 for p in parts) == len(gdf)
    # a layer's tooltip values: lengths in metres as measured, rounded
    roads = model["layers"]["tasks_streets:2"]["parts"][0]
    heads = {r["h"]: r["p"] for r in roads["tip"]}
    main = layers["streets"][layers["streets"]["variant"] == "main"]
    assert roads["p"][heads["长度 length"]] == pytest.approx(np.round(main["length_m"].to_numpy(), 0).tolist())
    # the layers' data take a third of the room their GeoJSON takes
    data = sum(len(_leaflet.js_json(model["layers"][f"{stem}:{j}"])) for stem, lay, *_ in specs for j in range(len(lay)))
    geojson = sum(len(gdf.to_crs(4326).to_json()) for _, lay, *_ in specs for gdf, _, _ in lay)
    assert data < geojson / 3


def test_points_among_areas_are_dots_in_the_layers_colours(andorra_la_vella_streets, tmp_path):
    """A layer of areas and points (a centre given either way): its points become dots in the
    layer's colours (never Leaflet's default pin, an image the page does not hold), its areas areas."""
    layers, _ = andorra_la_vella_streets
    blocks = layers["blocks"].head(3)
    mixed = pd.concat([blocks, layers["junctions"].head(2)], ignore_index=True)[["geometry"]].assign(
        name=["a", "b", "c", "d", "e"]
    )
    specs = [
        (
            "tasks_x",
            [(mixed, {"facecolor": "#8c510a", "color": "#543005", "markersize": 9}, "centres {n} 处")],
            "邻里中心",
            "centres",
            "",
        )
    ]
    html = render.save_map(render.task_map(specs, tiles=False), tmp_path / "m.html").read_text(encoding="utf-8")
    model = json.loads(re.search(r"\}\)\(\w+, (\{.*\}), null\);", html).group(1))
    parts = model["layers"]["tasks_x:0"]["parts"]
    assert [p["g"]["t"] for p in parts] == ["Polygon", "Point"]
    assert parts[1]["s"]["fill"] == "#8c510a" and parts[1]["r"] == 6
    # areas as the print map draws them: a facecolor without an edgecolor is a fill without an outline
    assert parts[0]["s"]["fill"] == "#8c510a" and parts[0]["s"]["w"] == 0
    assert model["layers"]["tasks_x:0"]["label"] == "centres 5 处"
    assert "marker-icon" not in html.split("<script>", 1)[-1]


def test_task_map_holds_no_markup_from_data(andorra_la_vella_streets, tmp_path):
    """Names in the layers, labels, task titles and the town reach the page only as JSON data (set
    as text) or escaped: no tag or template from them is in the HTML."""
    layers, parish = andorra_la_vella_streets
    bad = "<img src=x onerror=alert(1)>`${alert(2)}`{{ 7*7 }}"
    stops = layers["junctions"].head(4).assign(name=bad)
    label = bad.replace("{", "{{").replace("}", "}}") + " {n:.0f} 处"  # a label is a template: literal braces doubled
    specs = [("tasks_bus", [(stops, {"facecolor": "#2166ac", "markersize": 6}, label)], bad, bad, bad)]
    fmap = render.task_map(specs, boundaries=parish.assign(kind="镇域", name=bad), tiles=False, town=bad)
    html = render.save_map(fmap, tmp_path / "m.html").read_text(encoding="utf-8")
    assert "<img" not in html and ">49" not in html
    assert render.escape_text(f"{bad} 主要任务 policy tasks") in html  # the page's <title>
    # the rest only in the map's data, as JSON strings
    in_data = '"\\u003cimg src=x onerror=alert(1)\\u003e`${alert(2)}`{{ 7*7 }}"'
    assert html.count(in_data) == len(stops) + 2  # each stop's name, the boundary's, the task's subtitle
    assert html.count("{{ 7*7 }}") == html.count("${alert(2)}") > len(stops) + 2  # and in the title, labels, headings


def test_bad_task_maps_are_refused(andorra_la_vella_streets):
    layers, _ = andorra_la_vella_streets
    with pytest.raises(mg.InputError, match="no task map to draw"):
        render.task_map([], tiles=False)
    empty = layers["junctions"].iloc[:0]
    with pytest.raises(mg.InputError, match="all empty"):
        render.task_map([("t", [(empty, {}, "x")], "a", "b", "")], tiles=False)
    no_crs = gpd.GeoDataFrame(geometry=list(layers["junctions"].geometry))
    with pytest.raises(mg.CRSError, match="no CRS"):
        render.task_map([("t", [(no_crs, {}, "x")], "a", "b", "")], tiles=False)
    with pytest.raises(mg.InputError, match="'teal-ish' is not a colour"):
        render.task_map([("t", [(layers["junctions"], {"color": "teal-ish"}, "x")], "a", "b", "")], tiles=False)
    with pytest.raises(mg.InputError, match="cannot be filled"):
        render.task_map([("t", [(layers["junctions"], {}, "交叉口 {count}")], "a", "b", "")], tiles=False)
