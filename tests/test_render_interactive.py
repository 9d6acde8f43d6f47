"""The interactive map opens in a real browser (headless Chromium) with no JavaScript error."""

from __future__ import annotations

import shutil
import warnings

import pytest

import mtown_geo as mg
from mtown_geo import render

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian package `chromium`; .ci/run installs it)"
)
def test_map_opens_in_chromium_without_errors(demo_map):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.goto(demo_map[False].as_uri())
        page.wait_for_selector(".leaflet-control-layers-overlays")
        names = page.eval_on_selector_all(
            ".leaflet-control-layers-overlays label span", "els => els.map(e => e.textContent.trim())"
        )
        n_paths = page.eval_on_selector_all("path.leaflet-interactive", "els => els.length")
        # a facility popup opens with its Chinese category name
        page.locator("path.leaflet-interactive").last.click(force=True)
        popup = page.locator(".leaflet-popup-content").all_inner_texts()
        browser.close()
    assert errors == []
    assert "幼儿园 kindergarten 出行时间 travel time" in names
    assert "设施 facilities" in names and "边界 boundaries" in names
    assert n_paths > 50
    assert popup and any("公交站点" in t or "幼儿园" in t for t in popup)


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian package `chromium`; .ci/run installs it)"
)
def test_study_map_has_a_layer_per_circle_and_category(tmp_path):
    from playwright.sync_api import sync_playwright

    study_file = mg.demo_study(tmp_path / "s")
    st = mg.load_study(study_file)
    st = st.model_copy(
        update={
            "outputs": st.outputs.model_copy(update={"tiles": False, "rasters": False}),
            "siting": st.siting.model_copy(update={"enabled": False}),
        }
    )
    result = mg.run(st, out=tmp_path / "out")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.goto((tmp_path / "out" / "map.html").as_uri())
        page.wait_for_selector(".leaflet-control-layers-overlays")
        names = page.eval_on_selector_all(
            ".leaflet-control-layers-overlays label span", "els => els.map(e => e.textContent.trim())"
        )
        browser.close()
    assert errors == []
    profile = result.profile
    for cat in ("kindergarten", "bus_stop"):
        zh = profile.categories[cat].name_zh
        assert f"15分钟生活圈 · {zh} 出行时间 travel time" in names
        assert f"15分钟生活圈 · {zh} 服务范围 service area" in names
    assert any("服务盲区 gaps" in n for n in names)
    assert {"设施 facilities", "边界 boundaries"} <= set(names)


@pytest.mark.slow
def test_layers_render_as_folium_renders_them(monkeypatch, tmp_path):
    """The map's GeoJSON layers give the page folium's own GeoJson gives, byte for byte
    once the random element ids are numbered in order."""
    import re

    import folium

    from mtown_geo.render import interactive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        result = mg.run(mg.demo_study(tmp_path / "s"))

    def page() -> str:
        fmap = render.town_map(result.layers, profile=result.profile, tiles=False, title="t")
        ids: dict[str, str] = {}
        return re.sub(r"[0-9a-f]{32}", lambda m: ids.setdefault(m.group(0), f"id{len(ids)}"), fmap.get_root().render())

    ours = page()
    monkeypatch.setattr(interactive, "_GeoJson", folium.GeoJson)
    assert ours == page()

    # each layer's GeoJSON equals geopandas' own (rounded the same way)
    import json

    import numpy as np
    import pandas as pd

    for gdf in result.layers.values():
        if not len(gdf):
            continue
        fields = [c for c in gdf.columns if c != gdf.geometry.name]
        ref = gdf.to_crs(4326)
        ref = ref.set_geometry(ref.geometry.set_precision(1e-6, mode="pointwise"))
        for c in fields:
            if pd.api.types.is_float_dtype(ref[c]):
                ref[c] = ref[c].replace([np.inf, -np.inf], np.nan).round(2)
        want = json.loads(ref.to_json(na="null", drop_id=True))
        got = json.loads(interactive._geojson(gdf, fields))
        assert got["features"] == want["features"]


def test_reach_map_page_holds_no_markup_from_data(demo_osm, demo_bounds, tmp_path):
    """Names in the boundaries, facilities and title reach the page only as JSON data or as
    escaped text: no tag from them is in the HTML, and no template from them is evaluated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        fac = mg.facilities.from_osm(demo_osm, categories=["kindergarten", "bus_stop"])
    units = mg.demand.grid(demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(3067), cell_m=200)
    times = {c: [1.0] * len(units) for c in ("kindergarten", "bus_stop")}
    import pandas as pd

    bad = "<img src=x onerror=alert(1)>`${alert(2)}`{{ 7*7 }}"
    fmap = render.reach_map(
        mg.demand.cells(units),
        pd.DataFrame(times, index=units.index),
        facilities=fac.assign(name=bad),
        boundaries=demo_bounds.assign(name=bad),
        profile=mg.standards.load(),
        tiles=False,
        title=bad,
    )
    html = render.save_map(fmap, tmp_path / "m.html").read_text(encoding="utf-8")
    assert "<img" not in html and ">49" not in html
    # the raw text is only in the layers' GeoJSON, as JSON strings (shown with textContent)
    in_data = '"\\u003cimg src=x onerror=alert(1)\\u003e`${alert(2)}`{{ 7*7 }}"'
    assert html.count("{{ 7*7 }}") == html.count("${alert") == html.count(in_data) == len(fac) + len(demo_bounds)
    assert "&lt;img src=x onerror=alert(1)&gt;&#96;&#36;&#123;alert(2)&#125;&#96;&#123;&#123; 7*7 &#125;&#125;" in html
    assert render.escape_text(bad) in html
