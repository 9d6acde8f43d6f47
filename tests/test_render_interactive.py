"""The interactive map opens in a real browser (headless Chromium) with no JavaScript error."""

from __future__ import annotations

import re
import warnings

import pytest

import mtown_geo as mg
from mtown_geo import render

from .conftest import chromium_browser, needs_chromium, watch_page


@pytest.fixture(scope="module")
def demo_map(tmp_path_factory, demo_osm, demo_bounds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        net = mg.network.from_osm(demo_osm, mode="walk", boundary=demo_bounds[demo_bounds["kind"] == "镇域"])
        fac = mg.facilities.from_osm(demo_osm, categories=["kindergarten", "bus_stop"])
        units = mg.demand.grid(demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(net.crs), cell_m=100)
        times = mg.access.travel_times(net, fac, units, categories=["kindergarten", "bus_stop"], max_time_min=30)
    profile = mg.standards.load()
    out = tmp_path_factory.mktemp("map")
    paths = {}
    for tiles in (False, True):
        fmap = render.reach_map(
            mg.demand.cells(units), times, facilities=fac, boundaries=demo_bounds, profile=profile, tiles=tiles
        )
        paths[tiles] = render.save_map(fmap, out / f"map_{tiles}.html")
    return paths


def test_html_is_self_contained(demo_map):
    text = demo_map[False].read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in text and "code.jquery.com" not in text
    assert "© OpenStreetMap contributors" in text
    assert "tile.openstreetmap.org" not in text
    assert "tile.openstreetmap.org" in demo_map[True].read_text(encoding="utf-8")


# the leaves of the layers on the map whose feature has a property, and the tooltip a hover opens there
_HOVER = r"""
(prop) => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const found = [];
  const walk = l => { if (l.eachLayer) l.eachLayer(walk); else if (l.feature && prop in l.feature.properties) found.push(l); };
  map.eachLayer(l => { if (l.eachLayer) walk(l); });
  const out = [];
  for (const x of found.slice(0, 400)) {
    const at = x.getLatLng ? x.getLatLng() : x.getBounds().getCenter();
    x.fire('mouseover', {latlng: at, originalEvent: new MouseEvent('mouseover')}, true);
    document.querySelectorAll('.leaflet-tooltip').forEach(t => out.push(t.innerText));
    x.fire('mouseout', {latlng: at, originalEvent: new MouseEvent('mouseout')}, true);
  }
  return out;
}
"""


@needs_chromium
def test_reach_map_opens_in_chromium_with_honest_classes(demo_map):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = chromium_browser(p)
        page = browser.new_page()
        errors = watch_page(page)
        page.goto(demo_map[False].as_uri())
        page.wait_for_selector(".leaflet-control-layers-overlays", state="attached")
        titles = page.eval_on_selector_all(".leaflet-control-layers-overlays label", "els => els.map(e => e.title)")
        checked = page.eval_on_selector_all(".leaflet-control-layers-overlays input:checked", "els => els.length")
        legend = page.locator(".mtown-legend").inner_text()
        tips = page.evaluate(_HOVER, "t")
        # a facility popup opens with its Chinese category name
        page.evaluate(_CLICK_FACILITY)
        popup = page.locator(".leaflet-popup-content").all_inner_texts()
        browser.close()
    assert errors == []
    assert titles == ["幼儿园 kindergarten 出行时间 travel time", "公交站点 bus stop 出行时间 travel time"]
    assert checked == 1
    # the search stopped at 30 minutes: the classes stop there, and "beyond" is not called unreachable
    assert "> 30 分钟或不可达 min or unreachable（搜索上限 search limit）" in legend
    assert "15–30 分钟 min" in legend and "30–" not in legend
    assert tips and all("出行时间 travel time" in t and "分级 class" in t for t in tips)
    assert any(re.search(r"\d+\.\d 分钟 min", t) for t in tips)
    assert not any("-1" in t for t in tips)
    assert popup and any("幼儿园" in t for t in popup)


_CLICK_FACILITY = r"""
() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  let hit = null;
  const walk = l => { if (l.eachLayer) l.eachLayer(walk); else if (!hit && l instanceof L.CircleMarker && l.feature && l.feature.properties.category) hit = l; };
  map.eachLayer(l => { if (l.eachLayer) walk(l); });
  hit.fire('click', {latlng: hit.getLatLng(), originalEvent: new MouseEvent('click')}, true);
}
"""


@pytest.fixture(scope="module")
def demo_town(shared_demo, tmp_path_factory):
    """The default demo town's run (shared by the session), its map written with the run's basemap."""
    result = shared_demo.result
    fmap = render.town_map(result.layers, profile=result.profile, tiles=False, town=result.study.name, basemap=result.basemap)
    return result, render.save_map(fmap, tmp_path_factory.mktemp("town") / "map.html")


def _expected_entries(result) -> int:
    """The layers the control should list, counted from the run's layers."""
    n = 0
    layers, prof = result.layers, result.profile
    for key, units in layers.items():
        if not key.startswith("units_") or not len(units):
            continue
        circle = key.split("_", 1)[1]
        req = [c for c in prof.circles[circle].required if f"time_min_{c}" in units]
        n += 1  # the whole circle
        for cat in req:
            n += 1
            for extra in ("isochrones", "gaps"):
                g = layers.get(f"{extra}_{circle}")
                n += g is not None and bool((g["category"] == cat).any())
        n += len(layers.get(f"proposed_sites_{circle}", ())) > 0
    n += sum(len(layers.get(k, ())) > 0 for k in ("parks_buffers", "parks_parks", "parks_uncovered", "greenways", "facilities"))
    return n


_PAGE_STATE = r"""
() => {
  const ctl = document.querySelector('.mtown-layers');
  const list = ctl.querySelector('.leaflet-control-layers-list');
  return {
    expanded: ctl.classList.contains('leaflet-control-layers-expanded'),
    listVisible: list.offsetParent !== null && list.getBoundingClientRect().height > 0,
    entries: ctl.querySelectorAll('.leaflet-control-layers-overlays input[type=checkbox]').length,
    checked: [...ctl.querySelectorAll('.leaflet-control-layers-overlays input:checked')].map(i => i.parentElement.title),
    bases: [...ctl.querySelectorAll('.leaflet-control-layers-base input:checked')].map(i => i.value),
    scale: [...document.querySelectorAll('.leaflet-control-scale-line')].map(e => e.textContent.trim()),
    title: document.querySelector('.mtown-title h1').textContent,
    sub: document.querySelector('.mtown-title .mtown-sub').textContent,
    headings: [...document.querySelectorAll('.mtown-legend summary b')].map(e => e.textContent),
    dots: [...document.querySelectorAll('.mtown-legend .sw-dot + .label')].map(e => e.textContent),
    attribution: document.querySelector('.leaflet-control-attribution').textContent,
    panes: [...document.querySelectorAll('.leaflet-mgRoads-pane path, .leaflet-mgBase-pane path')].length,
  };
}
"""


@pytest.mark.slow
@needs_chromium
def test_town_map_reads_at_a_glance(demo_town):
    """What a planner sees on opening the demo town's map: a title, the layer control folded
    away, one layer on (the 15-minute circle's whole coverage) with its legend and the facility
    symbols, a metric scale, the OSM credit, streets drawn offline; and what a hover shows."""
    from playwright.sync_api import sync_playwright

    result, path = demo_town
    prof = result.profile
    with sync_playwright() as p:
        browser = chromium_browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = watch_page(page)
        page.goto(path.as_uri())
        page.wait_for_selector(".mtown-legend summary")
        start = page.evaluate(_PAGE_STATE)
        cells = page.evaluate(_HOVER, "n")
        # a category's travel time switched on: its legend joins, and its tooltip gives minutes
        page.hover(".mtown-layers")
        expanded = page.evaluate(_PAGE_STATE)["expanded"]
        page.eval_on_selector('.leaflet-control-layers-overlays input[value="15min:kindergarten:t"]', "e => e.click()")
        on = page.evaluate(_PAGE_STATE)
        times = page.evaluate(_HOVER, "t")
        page.eval_on_selector('.leaflet-control-layers-overlays input[value="15min:kindergarten:t"]', "e => e.click()")
        off = page.evaluate(_PAGE_STATE)
        browser.close()
    assert errors == []
    name_15 = prof.circles["15min"].name_zh
    # title: the town and what the map shows
    assert start["title"] == f"{result.study.name} 生活圈设施可达性 life-circle access"
    assert start["sub"] == f"{name_15} · 全部必备类别覆盖 whole circle (k / n)"
    # the control: folded, every layer in it, one on
    assert not start["expanded"] and not start["listVisible"] and expanded
    assert start["entries"] == _expected_entries(result) > 20
    assert start["checked"] == [f"{name_15} · 全部必备类别覆盖 whole circle (k / n)"]
    assert start["bases"] == ["vector"] and start["panes"] > 100  # streets and buildings drawn, no tile server
    # metric scale only
    assert start["scale"] and all(re.fullmatch(r"\d+ (m|km)", s) for s in start["scale"]), start["scale"]
    assert "© OpenStreetMap contributors" in start["attribution"] and "ODbL" in start["attribution"]
    # the legend: the layer's grades, its facilities with their counts, the boundaries
    assert start["headings"][:3] == [
        f"{name_15} 必备设施可达类别 categories reached (k / n)",
        "设施 facilities",
        "边界 boundaries",
    ]
    fac = result.layers["facilities"]
    req = prof.circles["15min"].required
    counts = fac[fac["category"].isin(req)]["category"].value_counts()
    want = sorted(f"{prof.categories[c].name_zh} {prof.categories[c].name_en} · {n} 处" for c, n in counts.items())
    assert sorted(start["dots"]) == want
    # hover: categories reached in Chinese, with the missing ones named
    n_req = len(req)
    assert cells and all(re.search(rf"可达必备类别 categories reached\t\d+ / {n_req} 类", t) for t in cells), cells[:3]
    assert any("缺少 missing" in t and "幼儿园" in t for t in cells)
    zh = prof.categories["kindergarten"].name_zh
    assert f"{name_15} · {zh} 出行时间 travel time" in on["headings"]
    assert len(on["checked"]) == 2 and on["sub"].count("·") == 2
    assert f"{name_15} · {zh} 出行时间 travel time" not in off["headings"] and len(off["checked"]) == 1
    assert times and all(f"{zh} 出行时间 travel time" in t for t in times)
    assert any(re.search(r"\d+\.\d 分钟 min", t) for t in times)
    assert not any("-1" in t for t in times)


def test_town_map_data_decode_to_the_layers(demo_town):
    """The compact coordinates read back to the layers' own to 1e-6°, and the file is small:
    the demo town's map stays far under the 5 MB a 10 km² town at 50 m cells may take."""
    import json

    import numpy as np
    import shapely

    from mtown_geo.render import _leaflet

    result, path = demo_town
    fac = result.layers["facilities"].to_crs(4326)
    pts = fac.geometry.representative_point().to_numpy()
    origin = (120_000_000, 30_000_000)
    enc = json.loads(_leaflet.js_json(_leaflet.encode(pts, origin)))
    xy = np.cumsum(np.asarray(enc["c"], dtype=np.int64).reshape(-1, 2), axis=0) + np.asarray(origin)
    assert np.abs(xy / 1e6 - shapely.get_coordinates(pts)).max() <= 0.5e-6 + 1e-12
    units = result.layers["units_15min"]
    cells = mg.demand.cells(units).to_crs(4326).geometry.to_numpy()
    enc = _leaflet.encode(cells, origin)
    assert enc["t"] == "Polygon" and enc["n"][0] == [5] * len(cells) and enc["n"][1] == [1] * len(cells)
    xy = np.cumsum(np.asarray(enc["c"], dtype=np.int64).reshape(-1, 2), axis=0) + np.asarray(origin)
    assert np.abs(xy / 1e6 - shapely.get_coordinates(cells)).max() <= 0.5e-6 + 1e-12
    size_mb = path.stat().st_size / 1e6
    assert size_mb < 1.5, size_mb


@pytest.mark.slow
def test_a_real_town_map_is_under_the_size_budget(tmp_path):
    """A real Chinese town of about 10 km² at 50 m cells, every cell drawn: under 5 MB."""
    import geopandas as gpd
    import shapely

    from .conftest import OSM_FILES, shared_path

    osm = shared_path(OSM_FILES["longgang"])
    ext = mg.sources.read_osm(osm)
    town = gpd.GeoDataFrame(
        {"kind": ["镇域", "建成区"]},
        geometry=[shapely.box(*ext.bounds).centroid.buffer(0.0155, cap_style="square")] * 2,
        crs=4326,
    )
    area_km2 = float(town.to_crs(mg.crs.metric_crs(town)).area.iloc[0]) / 1e6
    assert 9 < area_km2 < 12
    town.to_file(tmp_path / "town.geojson")
    st = mg.load_study(
        {
            "name": "龙岗中心",
            "profile": "zhejiang-2023",
            "boundaries": {"town": str(tmp_path / "town.geojson")},
            "osm": str(osm),
            "population": {"total": 80000},
            "demand": {"cell_m": 50},
            "outputs": {"tiles": False, "static_maps": False, "rasters": False, "geopackage": False},
            "siting": {"enabled": False},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        result = mg.run(st, out=tmp_path / "out")
    fmap = render.town_map(
        result.layers, profile=result.profile, tiles=False, town="龙岗中心", basemap=result.basemap, weight="area_m2"
    )
    size_mb = render.save_map(fmap, tmp_path / "map.html").stat().st_size / 1e6
    assert len(result.layers["units_15min"]) > 3500
    assert size_mb < 5, size_mb


@pytest.fixture(scope="module")
def demo_siting(shared_demo, tmp_path_factory):
    """Three new kindergartens for the demo town (a real siting plan on its walk network), and the
    siting map of it as ``mtown-geo site`` writes it."""
    from mtown_geo import siting

    result = shared_demo.result
    units = result.layers["units_15min"][["x", "y", "cell_m", "area_m2", "pop", "res_area_m2", "geometry"]]
    fac = result.layers["facilities"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        plan = siting.add_facilities(
            result.networks["walk"], fac, units, category="kindergarten", threshold_min=15, k=3, weight="res_area_m2"
        )
    assessed = units.join(plan.units)
    fmap = render.siting_map(
        assessed,
        plan.sites,
        label="幼儿园",
        tiles=False,
        town=result.study.name,
        category="kindergarten",
        profile=result.profile,
        weight=plan.weight,
        threshold_min=plan.threshold_min,
        facilities=fac[fac["category"] == "kindergarten"],
        boundaries=result.layers["boundaries"],
        basemap=result.basemap,
    )
    return result, plan, assessed, render.save_map(fmap, tmp_path_factory.mktemp("siting") / "map.html")


# every feature with a tooltip or popup: its properties and the texts they show
_SITING_TEXTS = r"""
() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const out = [], seen = new Set();
  const walk = l => {
    if (l.eachLayer) { l.eachLayer(walk); return; }
    if (!l.feature || seen.has(L.stamp(l))) return;
    seen.add(L.stamp(l));
    const at = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
    const tip = l.getTooltip();
    if (tip) l.openTooltip(at);
    const item = {props: l.feature.properties, tooltip: tip ? tip.getElement().innerText : null, popup: null};
    if (tip && !tip.options.permanent) l.closeTooltip();
    if (l.getPopup()) { l.openPopup(at); item.popup = l.getPopup().getElement().innerText; l.closePopup(); }
    out.push(item);
  };
  map.eachLayer(l => { if (l.eachLayer) walk(l); });
  return out;
}
"""


@pytest.mark.slow
@needs_chromium
def test_siting_map_reads_at_a_glance(demo_siting):
    """The siting map of three new kindergartens in the demo town, as a planner opens it: the title,
    the coverage before and after, the folded control, the cells by state with counts and shares
    computed here from the plan, numbered sites with their figures, and no placeholder for a cell
    that no new site serves."""
    from playwright.sync_api import sync_playwright

    result, plan, units, path = demo_siting
    with sync_playwright() as p:
        browser = chromium_browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = watch_page(page)
        page.goto(path.as_uri())
        page.wait_for_selector(".mtown-legend summary")
        start = page.evaluate(_PAGE_STATE)
        entries = page.eval_on_selector_all(".leaflet-control-layers-overlays label", "els => els.map(e => e.textContent)")
        legend = page.eval_on_selector_all(".mtown-legend .item", "els => els.map(e => e.textContent)")
        numbers = page.eval_on_selector_all(".leaflet-tooltip.mtown-num", "els => els.map(e => e.textContent)")
        texts = page.evaluate(_SITING_TEXTS)
        page.eval_on_selector('.leaflet-control-layers-overlays input[value="served"]', "e => e.click()")
        served = page.eval_on_selector_all(".mtown-legend .item", "els => els.map(e => e.textContent)")
        browser.close()
    assert errors == []
    town = result.study.name
    assert start["title"] == f"{town} 新增幼儿园选址 new kindergarten sites"
    # the coverage the plan reports, before and after
    before, after = 100 * plan.coverage_before, 100 * plan.coverage_after
    assert start["sub"] == f"幼儿园覆盖率 coverage {before:.1f} % → {after:.1f} %（建议新址 {len(plan.sites)} 处 new sites）"
    assert not start["expanded"] and not start["listVisible"]
    assert entries == [
        "覆盖状态 coverage",
        "各新址新增覆盖 area of each new site",
        "建议新增幼儿园 proposed sites",
        "现有幼儿园 existing facilities",
    ]
    assert start["checked"] == ["幼儿园覆盖状态 coverage", "建议新增幼儿园 proposed sites", "现有幼儿园 existing facilities"]
    assert start["scale"] and all(re.fullmatch(r"\d+ (m|km)", s) for s in start["scale"]), start["scale"]
    assert "© OpenStreetMap contributors (ODbL 1.0)" in start["attribution"]
    # the cells drawn (those with residential land) by state: counts and shares of the residential land
    w = units["res_area_m2"].to_numpy(float)
    drawn = w > 0
    b, a = units["covered_before"].to_numpy(bool), units["covered_after"].to_numpy(bool)
    states = [b & drawn, a & ~b & drawn, ~a & drawn]
    labels = ["现有设施已覆盖 covered now", "新址新增覆盖 newly covered", "仍未覆盖 not covered"]
    for lab, sel in zip(labels, states, strict=True):
        assert f"{lab} · {int(sel.sum())} 格 · {100 * w[sel].sum() / w.sum():.1f} %" in legend, (lab, legend)
    assert f"建议新址（按增设顺序编号）new site, numbered · {len(plan.sites)} 处" in legend
    n_kg = int((result.layers["facilities"]["category"] == "kindergarten").sum())
    assert f"幼儿园 kindergarten · {n_kg} 处" in legend
    # the sites numbered on the map; a click gives each one's figures
    assert sorted(numbers) == [str(i) for i in range(1, len(plan.sites) + 1)]
    pops = {t["props"]["o"]: t["popup"] for t in texts if t["props"] and "o" in t["props"]}
    for _, site in plan.sites.iterrows():
        pop = pops[f"新增幼儿园 #{int(site['order'])}"]
        assert f"建成后覆盖率 coverage once built\t{100 * site['coverage']:.1f} %" in pop
        assert f"{site['new_res_area_m2'] / 1e4:,.2f} 公顷 ha" in pop
    # each cell's tooltip: its state, the new site serving it where there is one, nothing else
    cells = [t for t in texts if t["props"] and "k" in t["props"] and "w" in t["props"]]
    assert len(cells) == int(drawn.sum())
    newly = units.loc[drawn, "new_site"]
    assert sum("服务新址 served by new site\t#" in t["tooltip"] for t in cells) == int(newly.notna().sum())
    for t in cells:
        assert "状态 state" in t["tooltip"] and "居住用地 residential land" in t["tooltip"]
        assert not re.search(r"(?<![\d.])-1(?![\d.])|\bnan\b|None|undefined|null", t["tooltip"]), t["tooltip"]
    # the area each new site newly covers: its cells, and its share of the land, which is what the
    # plan says the site adds to the coverage
    for _, site in plan.sites.iterrows():
        order = int(site["order"])
        sel = (units["new_site"] == order).fillna(False).to_numpy(bool) & drawn
        share = 100 * w[sel].sum() / w.sum()
        assert share == pytest.approx(100 * site["coverage_gain"], abs=1e-9)
        assert f"新址 site #{order} · {int(sel.sum())} 格 · {share:.1f} %" in served, served


def test_siting_map_refuses_units_without_the_plan(demo_siting):
    _, plan, units, _ = demo_siting
    with pytest.raises(mg.InputError, match=r"units.join\(plan.units\)"):
        render.siting_map(units.drop(columns=["new_site"]), plan.sites, label="幼儿园", tiles=False)


def test_reach_map_page_holds_no_markup_from_data(demo_osm, demo_bounds, tmp_path):
    """Names in the boundaries, facilities and title reach the page only as JSON data or as
    escaped text: no tag from them is in the HTML, and no template from them is evaluated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        fac = mg.facilities.from_osm(demo_osm, categories=["kindergarten", "bus_stop"])
    units = mg.demand.grid(demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(3067), cell_m=200)
    times = {c: [1.0] * len(units) for c in ("kindergarten", "bus_stop")}
    import numpy as np
    import pandas as pd

    bad = "<img src=x onerror=alert(1)>`${alert(2)}`{{ 7*7 }}"
    fmap = render.reach_map(
        mg.demand.cells(units),
        pd.DataFrame(times, index=units.index),
        max_time_min=np.inf,
        facilities=fac.assign(name=bad),
        boundaries=demo_bounds.assign(name=bad),
        profile=mg.standards.load(),
        tiles=False,
        title=bad,
    )
    html = render.save_map(fmap, tmp_path / "m.html").read_text(encoding="utf-8")
    assert "<img" not in html and ">49" not in html
    # the raw text is only in the map's data, as JSON strings (shown with textContent): each
    # facility's and boundary's name and the title
    in_data = '"\\u003cimg src=x onerror=alert(1)\\u003e`${alert(2)}`{{ 7*7 }}"'
    assert html.count("{{ 7*7 }}") == html.count("${alert") == html.count(in_data) == len(fac) + len(demo_bounds) + 1
    assert "&lt;img src=x onerror=alert(1)&gt;&#96;&#36;&#123;alert(2)&#125;&#96;&#123;&#123; 7*7 &#125;&#125;" in html
    assert render.escape_text(bad) in html


def test_the_vector_basemap_is_on_at_start_even_where_tiles_are_offered(shared_demo, tmp_path):
    """Offline (most planning offices) tiles draw nothing: the map opens on the run's own vector
    basemap and offers the tiles as a choice."""
    import json
    import re

    result = shared_demo.result
    fmap = render.town_map(result.layers, profile=result.profile, tiles=True, town=result.study.name, basemap=result.basemap)
    html = render.save_map(fmap, tmp_path / "map.html").read_text(encoding="utf-8")
    bases = json.loads(re.search(r'"bases":(\[.*?\])', html).group(1))
    assert [b["id"] for b in bases] == ["vector", "tiles", "none"]
    assert re.search(r'"base_on":"(\w+)"', html).group(1) == "vector"


# -- the page's data made in bulk: the same as made one geometry, group or page at a time ---------


def _layers_and_basemap(result):
    base = result.basemap
    frames = [g for g in result.layers.values() if len(g)]
    return frames + [g for g in (base.roads, base.water, base.green, base.buildings) if g is not None and len(g)]


def test_page_geometries_are_laid_out_as_shapely_lays_them_out(shared_demo):
    """Lines and areas laid out for the page (parts taken apart only where a geometry has several,
    rings only where a polygon has holes) are shapely's ragged arrays: the same type, coordinates
    and counts, for every layer of a run and its basemap (lines, multi-lines, polygons with and
    without holes, polygons mixed with multipolygons)."""
    import numpy as np
    import shapely

    from mtown_geo.render import _leaflet

    seen: set[object] = set()
    for gdf in _layers_and_basemap(shared_demo.result):
        geoms = gdf.geometry.to_crs(4326).to_numpy()
        geoms = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
        dims = shapely.get_dimensions(geoms)
        for dim in np.unique(dims):
            sub = _leaflet._homogeneous(geoms[dims == dim])
            kind, coords, counts = _leaflet._ragged(sub)
            want_kind, want_coords, offsets = shapely.to_ragged_array(sub)
            assert kind == want_kind
            assert np.array_equal(coords, want_coords)
            assert [np.asarray(c).tolist() for c in counts] == [np.diff(o).tolist() for o in offsets]
            types = frozenset(shapely.get_type_id(sub).tolist())
            seen |= types | {types}
            parts = shapely.get_parts(sub)
            if dim == 2 and (shapely.get_num_interior_rings(parts) > 0).any():
                seen.add("holes")
    assert {1, 3, 5, 6, frozenset({3, 6}), frozenset({1, 5}), "holes"} <= seen


def test_a_layer_drawn_by_group_is_the_same_as_each_group_drawn_alone(shared_demo):
    """:func:`area_parts` (a layer simplified and projected once for all its groups) gives each
    group's part as :func:`area_part` of the group alone: service areas and gaps by category, a
    layer in lon/lat (simplified in each group's own UTM zone), and groups of lines beside groups
    of areas (only areas keep their topology)."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from mtown_geo.render import _leaflet

    layers = shared_demo.result.layers
    iso, gaps, green = layers["isochrones_15min"], layers["gaps_15min"], layers["greenways"]
    mixed = gpd.GeoDataFrame(
        pd.concat([gaps.assign(category="g:" + gaps["category"]), green.assign(category="greenway")], ignore_index=True),
        crs=gaps.crs,
    )
    cases = [
        (iso, {"fields": [("threshold_min", "t", "min", None), ("area_m2", "a", "ha", 1)], "w": 1.5, "dash": "6 4"}),
        (gaps, {"fields": [("area_m2", "a", "ha", 2), ("pop", "p", "人", 0)], "simplify_m": 0.0}),
        (iso.to_crs(4326), {"fields": [("area_m2", "a", "ha", 1)]}),
        (mixed, {"fields": [("name", "n", "", None), ("area_m2", "a", "ha", 2)]}),
    ]
    page = _leaflet.Page(tuple(float(v) for v in iso.to_crs(4326).total_bounds))
    for gdf, opts in cases:
        by = gdf["category"].to_numpy(dtype=object)
        keys = [*dict.fromkeys(by.tolist()), "nothing of this name"]
        look = {"fill": "#4575b4", "edge": "#313695", "fo": 0.2, **opts}
        together = _leaflet.area_parts(page, gdf, by, keys, **look)
        assert list(together) == keys and together["nothing of this name"] is None
        for key in keys[:-1]:
            alone = _leaflet.area_part(page, gdf[by == key], **look)
            assert _leaflet.js_json(together[key]) == _leaflet.js_json(alone), key
        assert len(keys) > 2
    assert np.isin(["greenway", f"g:{gaps['category'].iloc[0]}"], mixed["category"]).all()


def test_the_basemap_is_shared_by_content_not_by_the_objects(shared_demo):
    """The second page of a run takes the basemap's data when its layers hold the same geometries
    and names: the same objects, or copies of them (compared by WKB); a layer with one building
    moved, or one street renamed, is made again, and its page is the page made alone."""
    import pickle

    import geopandas as gpd
    import shapely

    from mtown_geo.render import _leaflet

    def copy_of(bm):  # new objects throughout, geometries too (deepcopy keeps shapely's)
        return pickle.loads(pickle.dumps(bm))

    result = shared_demo.result
    basemap, extent = result.basemap, result.layers["boundaries"]
    bounds = tuple(float(v) for v in extent.to_crs(4326).total_bounds)

    def text(bm, *, alone: bool = False) -> str:
        if alone:
            _leaflet._BASE_LAST.clear()
        page = _leaflet.Page(bounds)
        _leaflet.add_basemap(page, bm, None, extent)
        return _leaflet.js_json(page.model(title="", banner="", tiles=False))

    try:
        first = text(basemap, alone=True)
        kept = _leaflet._BASE_LAST[0]
        assert text(basemap) == first and _leaflet._BASE_LAST[0] is kept  # the same objects
        twin = copy_of(basemap)
        assert twin.buildings.geometry.iloc[0] is not basemap.buildings.geometry.iloc[0]
        assert text(twin) == first and _leaflet._BASE_LAST[0] is kept  # equal copies
        moved = copy_of(basemap)
        geoms = moved.buildings.geometry.to_numpy().copy()
        geoms[0] = shapely.affinity.translate(geoms[0], 40.0, 0.0)
        moved.buildings.geometry = gpd.GeoSeries(geoms, index=moved.buildings.index, crs=moved.buildings.crs)
        assert text(moved) != first and _leaflet._BASE_LAST[0] is not kept
        assert text(moved) == text(moved, alone=True)
        renamed = copy_of(basemap)
        named = renamed.roads["name"].notna().to_numpy().nonzero()[0]
        renamed.roads.loc[renamed.roads.index[named[0]], "name"] = "新路 New Road"
        text(basemap, alone=True)
        assert text(renamed) == text(renamed, alone=True) != first
    finally:
        _leaflet._BASE_LAST.clear()


def _page_model(html: str) -> dict:
    """The data a page's script is called with, read back from the saved page."""
    import json

    from mtown_geo.render import _leaflet

    start = html.index(_leaflet.SCRIPT.strip() + "(") + len(_leaflet.SCRIPT.strip()) + 1
    start = html.index(", ", start) + 2
    model, _ = json.JSONDecoder().raw_decode(html, start)
    return model


def test_town_map_bits_say_which_categories_each_place_misses(demo_town):
    """The whole circle's layer marks, for each cell drawn, the required categories the cell's
    ``missing`` names (bit j: the j-th required category), read cell by cell."""
    import numpy as np

    result, path = demo_town
    model = _page_model(path.read_text(encoding="utf-8"))
    units = result.layers["units_15min"]
    required = list(result.profile.circles["15min"].required)
    part = model["layers"]["15min:all"]["parts"][0]
    weight = next(c for c in ("res_area_m2", "pop", "area_m2") if np.nansum(units[c].to_numpy(float)) > 0)
    drawn = units[np.nan_to_num(units[weight].to_numpy(float)) > 0]
    expected = []
    for text in drawn["missing"]:
        names = set(text.split(",")) if isinstance(text, str) else set()
        expected.append(sum(2**j for j, cat in enumerate(required) if cat in names))
    assert part["p"]["m"] == expected
    assert any(expected) and len(set(expected)) > 2


def test_the_boundaries_are_shared_by_the_next_page_of_the_same(shared_demo):
    """A page after another of the same outlines and origin takes its outline data (the same
    objects; the page as made alone); renamed outlines, or another origin, are made again."""
    import pickle

    from mtown_geo.render import _leaflet

    bounds = shared_demo.result.layers["boundaries"]
    frame = tuple(float(v) for v in bounds.to_crs(4326).total_bounds)

    def page_of(outlines, box=frame, *, alone: bool = False):
        if alone:
            _leaflet._BOUNDS_LAST.clear()
        page = _leaflet.Page(box)
        _leaflet.add_boundaries(page, outlines)
        return page, _leaflet.js_json(page.model(title="", banner="", tiles=False))

    try:
        first, text = page_of(bounds, alone=True)
        second, again = page_of(pickle.loads(pickle.dumps(bounds)))  # equal copies
        assert again == text and all(a is b for a, b in zip(first.fixed["parts"], second.fixed["parts"], strict=True))
        renamed = bounds.copy()
        renamed["name"] = "新名 renamed"
        _, changed = page_of(renamed)
        assert changed != text and "新名 renamed" in changed and changed == page_of(renamed, alone=True)[1]
        moved = (frame[0] + 0.01, frame[1], frame[2] + 0.01, frame[3])
        _, elsewhere = page_of(bounds, moved)
        assert elsewhere != text and elsewhere == page_of(bounds, moved, alone=True)[1]
    finally:
        _leaflet._BOUNDS_LAST.clear()


def _basemap_geometries_layer_by_layer(page, basemap, extent) -> list:
    """The basemap's drawn geometries on a page as each layer alone gives them: cut to the frame
    as a GeoDataFrame, simplified and projected by :meth:`Page.geometry` (water areas and lines,
    green land, buildings, then the roads ordered minor first)."""
    import numpy as np
    import shapely

    from mtown_geo.render import _leaflet
    from mtown_geo.render._basemap import ROAD_CLASSES

    x0, y0, x1, y1 = extent.to_crs(basemap.crs).total_bounds
    m = _leaflet.BASE_MARGIN_M
    out = []

    def cut(gdf):
        g = gdf.to_crs(basemap.crs)
        g = g.set_geometry(shapely.clip_by_rect(g.geometry.to_numpy(), x0 - m, y0 - m, x1 + m, y1 + m))
        return g[~g.geometry.is_empty]

    water = cut(basemap.water)
    for sub, tol in ((water[water["kind"] == "area"], 1.0), (water[water["kind"] != "area"], 1.0), (cut(basemap.green), 1.0)):
        if len(sub):
            out.append(page.geometry(sub, simplify_m=tol, exact=False)[0])
    buildings = cut(basemap.buildings)
    if len(buildings):
        out.append(page.geometry(buildings, simplify_m=0.5, exact=False)[0])
    order = [c.key for c in ROAD_CLASSES]
    roads = cut(basemap.roads)
    roads = roads[roads["road_class"].isin(order)]
    roads = roads.iloc[np.argsort([-order.index(c) for c in roads["road_class"]], kind="stable")]
    out.append(page.geometry(roads, simplify_m=1.0, exact=False)[0])
    return out


@pytest.mark.parametrize("lonlat", [False, True], ids=["projected", "lon/lat"])
def test_the_basemap_drawn_at_once_is_each_layer_drawn_alone(shared_demo, lonlat):
    """The basemap's layers, simplified and projected to WGS 84 together, are drawn as each layer
    alone gives them, to the byte; also for a basemap in lon/lat (each layer simplified in the
    UTM zone of its own extent, as alone)."""
    import dataclasses

    from mtown_geo.render import _leaflet

    result = shared_demo.result
    basemap, extent = result.basemap, result.layers["boundaries"]
    if lonlat:
        layers = ("roads", "water", "green", "buildings")
        basemap = dataclasses.replace(
            basemap, crs=extent.to_crs(4326).crs, **{k: getattr(basemap, k).to_crs(4326) for k in layers}
        )
    bounds = tuple(float(v) for v in extent.to_crs(4326).total_bounds)
    page = _leaflet.Page(bounds)
    try:
        _leaflet._BASE_LAST.clear()
        _leaflet.add_basemap(page, basemap, None, extent)
    finally:
        _leaflet._BASE_LAST.clear()
    drawn = [p["g"] for p in page.base["parts"] if p["g"] != "roads"] + [page.geoms["roads"]]
    expected = _basemap_geometries_layer_by_layer(_leaflet.Page(bounds), basemap, extent)
    assert len(drawn) == len(expected) >= 4
    assert [_leaflet.js_json(g) for g in drawn] == [_leaflet.js_json(g) for g in expected]


def test_page_vertices_projected_alone_are_those_of_the_projected_geometries(shared_demo):
    """Geometries encoded from their own CRS (the vertices projected as GeoPandas projects them,
    no projected geometries made) are encoded as the same layers projected to WGS 84 first:
    every layer of a run and its basemap, a layer in another projected CRS, and collections
    (reduced to their parts in WGS 84)."""
    import numpy as np
    import shapely

    from mtown_geo.render import _leaflet

    result = shared_demo.result
    origin = (116_330_000, 39_990_000)
    frames = _layers_and_basemap(result)
    frames.append(result.layers["streets"].to_crs(3857))
    parks, streets = result.layers["parks_parks"], result.layers["streets"]
    mixed = np.array(
        [shapely.GeometryCollection([p, s]) for p, s in zip(parks.geometry, streets.geometry.iloc[: len(parks)], strict=True)],
        dtype=object,
    )
    frames.append(parks.set_geometry(mixed, crs=parks.crs))
    for gdf in frames:
        geoms = gdf.geometry.to_numpy()
        geoms = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
        wgs = gdf.geometry.to_crs(4326).to_numpy()
        wgs = wgs[~(shapely.is_empty(wgs) | shapely.is_missing(wgs))]
        dims = shapely.get_dimensions(geoms)
        for dim in np.unique(dims):
            sel = dims == dim
            assert _leaflet.encode(geoms[sel], origin, crs=gdf.crs) == _leaflet.encode(wgs[sel], origin)
