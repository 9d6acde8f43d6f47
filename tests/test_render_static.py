"""Print maps: Chinese text in the packaged font, 300 dpi PNG, PDF with the font embedded,
a true scale bar and north arrow, figures checked against independent computations."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pytest
import shapely
from fontTools.ttLib import TTCollection
from matplotlib import colors as mcolors
from matplotlib import font_manager
from matplotlib.text import Text
from PIL import Image
from pyproj import Geod, Proj, Transformer

import mtown_geo as mg
from mtown_geo.render import _fonts, static
from mtown_geo.render.interactive import TIME_BINS

from .conftest import shared_path

CATS = ["kindergarten", "bus_stop"]


# ---------------------------------------------------------------------------------------
# The real demo town: network, facilities, a 50 m grid over the built-up area, travel times
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_osm, demo_bounds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        town = demo_bounds[demo_bounds["kind"] == "镇域"]
        net = mg.network.from_osm(demo_osm, mode="walk", boundary=town)
        fac = mg.facilities.from_osm(demo_osm, categories=CATS)
        builtup = demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(net.crs)
        units = mg.demand.grid(builtup, cell_m=50)
        times = mg.access.travel_times(net, fac, units, categories=CATS, max_time_min=60)
    return {"net": net, "fac": fac, "units": units, "times": times, "builtup": builtup, "bounds": demo_bounds}


@pytest.fixture(scope="module")
def tt_map(demo):
    return static.travel_time_map(
        demo["units"],
        demo["times"],
        "kindergarten",
        boundaries=demo["bounds"],
        facilities=demo["fac"],
        threshold_min=15,
        data_date="2020-06",
    )


@pytest.fixture(scope="module")
def saved(tt_map, tmp_path_factory):
    out = tmp_path_factory.mktemp("static")
    png, pdf = static.save_figure(tt_map, out / "kindergarten_15min")
    return png, pdf


def _text(fig, gid):
    found = [t for t in fig.findobj(Text) if t.get_gid() == gid]
    assert len(found) == 1, f"expected one text {gid!r}, found {len(found)}"
    return found[0]


def _sc_face_index_fonttools(path: Path) -> int:
    """The Simplified Chinese face of the collection, found from its name table (not matplotlib)."""
    coll = TTCollection(str(path), lazy=True)
    names = [f["name"].getDebugName(6) for f in coll.fonts]
    return names.index("NotoSansCJKsc-Regular")


def _exact_cell_areas(units: gpd.GeoDataFrame, area: shapely.Geometry) -> np.ndarray:
    """Area of each grid cell inside the area, by exact polygon intersection."""
    h = units["cell_m"].to_numpy() / 2
    x, y = units["x"].to_numpy(), units["y"].to_numpy()
    return shapely.area(shapely.intersection(shapely.box(x - h, y - h, x + h, y + h), area))


def _percent(text: str, after: str) -> float:
    m = re.search(re.escape(after) + r"[^0-9]*([0-9]+(?:\.[0-9]+)?)%", text)
    assert m, f"no percentage after {after!r} in {text!r}"
    return float(m.group(1))


# ---------------------------------------------------------------------------------------
# The font: packaged, resolved by matplotlib, covers the text, no system font involved
# ---------------------------------------------------------------------------------------


def test_font_comes_from_the_installed_package():
    path = _fonts.cjk_font_path()
    files = metadata.files("noto-cjk-sans-otc") or []
    shipped = {Path(str(f.locate())).resolve() for f in files if str(f).endswith(".ttc")}
    assert path.resolve() in shipped
    assert not str(path).startswith("/usr/share/fonts")
    assert _fonts.cjk_face_index() == _sc_face_index_fonttools(path)


def test_title_font_resolves_to_the_packaged_face_and_covers_every_character(tt_map):
    title = _text(tt_map, "map-title")
    text = title.get_text()
    assert "幼儿园" in text and "kindergarten" in text
    resolved = font_manager.findfont(title.get_fontproperties(), fallback_to_default=False)
    path = _fonts.cjk_font_path()
    assert Path(str(resolved)).resolve() == path.resolve()
    assert resolved.face_index == _sc_face_index_fonttools(path)
    # the face's own character map (read with fontTools) has a real glyph for every character
    face = TTCollection(str(path), lazy=True).fonts[resolved.face_index]
    cmap = face.getBestCmap()
    chars = {c for c in text if not c.isspace()}
    assert chars <= set(map(chr, cmap))
    assert all(cmap[ord(c)] != ".notdef" for c in chars)
    # ... which a Latin-only font would not have (the check can fail)
    dejavu = font_manager.FontProperties(fname=Path(matplotlib.get_data_path(), "fonts/ttf/DejaVuSans.ttf"))
    from matplotlib.ft2font import FT2Font

    assert ord("幼") not in FT2Font(dejavu.get_file()).get_charmap()
    assert _fonts.missing_chars(text) == ""


def test_every_text_on_the_sheet_uses_the_packaged_font(tt_map):
    path = _fonts.cjk_font_path().resolve()
    texts = [t for t in tt_map.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert len(texts) > 12  # title, subtitle, legend, scale bar, north arrow, footer
    for t in texts:
        resolved = font_manager.findfont(t.get_fontproperties(), fallback_to_default=False)
        assert Path(str(resolved)).resolve() == path, t.get_text()
        assert _fonts.missing_chars(t.get_text()) == "", t.get_text()


def test_glyphs_are_distinct_shapes_not_boxes():
    """Two different characters rasterise to different, non-empty bitmaps (tofu would be equal boxes)."""
    from matplotlib.ft2font import FT2Font

    face = FT2Font(str(_fonts.cjk_font_path()), face_index=_fonts.cjk_face_index())
    face.set_size(48, 72)
    bitmaps = []
    for ch in "镇园":
        face.set_text(ch)
        face.draw_glyphs_to_bitmap()
        img = np.asarray(face.get_image())
        assert img.sum() > 0
        bitmaps.append(img)
    shape = tuple(max(a.shape[i] for a in bitmaps) for i in (0, 1))
    padded = [np.pad(a, [(0, shape[0] - a.shape[0]), (0, shape[1] - a.shape[1])]) for a in bitmaps]
    assert np.abs(padded[0].astype(int) - padded[1].astype(int)).sum() > 0.1 * padded[0].sum()


def test_missing_font_package_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "noto_cjk_sans_otc", None)  # as if the package were not installed
    with pytest.raises(mg.DataNotFoundError, match="pip install noto-cjk-sans-otc"):
        _fonts.cjk_font_path()


def _run_font_script(body: str, tmp_path: Path) -> str:
    """Run a script in a fresh interpreter (its own font manager) and return its output."""
    from .conftest import ROOT

    script = tmp_path / "fonts_probe.py"
    script.write_text(body, encoding="utf-8")
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_system_copy_of_the_family_does_not_change_the_maps_font(tmp_path):
    """A byte-identical copy of the face that matplotlib's family lookup prefers (as Debian's
    fonts-noto-cjk gives) must neither stop the maps nor replace the packaged file."""
    packaged = _fonts.cjk_font_path()
    copy = tmp_path / "system-fonts" / packaged.name
    copy.parent.mkdir()
    shutil.copyfile(packaged, copy)
    out = _run_font_script(
        f"""
from pathlib import Path
from matplotlib import font_manager
from matplotlib.figure import Figure
from mtown_geo.render import _fonts, static
font_manager.fontManager.addfont({str(copy)!r})
by_family = font_manager.findfont(font_manager.FontProperties(family=_fonts.FAMILY), fallback_to_default=False)
assert Path(str(by_family)).resolve() != Path({str(packaged)!r}).resolve(), by_family  # the lookup goes elsewhere
prop = _fonts.cjk_font(size_pt=12)
used = font_manager.findfont(prop)
fig = Figure(figsize=(4, 2))
fig.text(0.1, 0.5, "镇域 15分钟生活圈", fontproperties=prop)
png, pdf = static.save_figure(fig, Path("probe"))
print(used, used.face_index, pdf.stat().st_size)
""",
        tmp_path,
    )
    used, face, size = out.split()
    assert Path(used).resolve() == packaged.resolve()
    assert int(face) == _sc_face_index_fonttools(packaged)
    data = (tmp_path / "probe.pdf").read_bytes()
    assert int(size) == len(data) and b"NotoSansCJKsc-Regular" in data and b"DejaVu" not in data


def test_without_the_package_an_installed_copy_of_the_face_is_used(tmp_path):
    packaged = _fonts.cjk_font_path()
    copy = tmp_path / "system-fonts" / packaged.name
    copy.parent.mkdir()
    shutil.copyfile(packaged, copy)
    out = _run_font_script(
        f"""
import sys
sys.modules["noto_cjk_sans_otc"] = None  # as if the package were not installed
from matplotlib import font_manager
from mtown_geo.render import _fonts
font_manager.fontManager.addfont({str(copy)!r})
f = _fonts.cjk_font_file()
print(f.path, f.face_index, _fonts.missing_chars("镇域公园绿道"))
""",
        tmp_path,
    )
    path, face, *missing = out.split()
    assert Path(path).resolve() != packaged.resolve()  # the copy (or the system's own copy), never the package
    assert _sc_face_index_fonttools(Path(path)) == int(face)
    assert missing == []


def test_without_any_copy_of_the_face_the_error_says_what_to_install(tmp_path):
    out = _run_font_script(
        """
import sys
sys.modules["noto_cjk_sans_otc"] = None
from matplotlib import font_manager
from mtown_geo import DataNotFoundError
from mtown_geo.render import _fonts
font_manager.fontManager.ttflist = [e for e in font_manager.fontManager.ttflist if e.name != _fonts.FAMILY]
try:
    _fonts.cjk_font()
except DataNotFoundError as exc:
    print(exc)
""",
        tmp_path,
    )
    assert "pip install noto-cjk-sans-otc" in out


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_characters_without_a_glyph_are_reported(demo):
    assert _fonts.missing_chars("镇域 ≤ 5–10 © m² 😀") == "😀"
    with pytest.warns(mg.MtownGeoWarning, match="😀"):
        static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, title_zh="公交站 😀", data_date="2020")


def test_building_and_saving_leave_global_settings_alone(demo, tmp_path):
    before = dict(matplotlib.rcParams)
    fig = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, data_date="2020")
    static.save_figure(fig, tmp_path / "m")
    assert dict(matplotlib.rcParams) == before


# ---------------------------------------------------------------------------------------
# The files: PNG at 300 dpi, PDF with the font embedded
# ---------------------------------------------------------------------------------------


def test_png_is_300_dpi_at_the_sheet_size(tt_map, saved):
    png, _ = saved
    w_in, h_in = tt_map.get_size_inches()
    with Image.open(png) as img:
        dpi = img.info["dpi"]
        size = img.size
        rgb = np.asarray(img.convert("RGB"))
    assert dpi == pytest.approx((300, 300), abs=0.01)
    assert size == (round(w_in * 300), round(h_in * 300))
    assert size == (3507, 2481)  # A4 landscape
    # the classes present on the map appear in their exact colours
    colours = {tuple(int(255 * v) for v in mcolors.to_rgb(c)) for _, c, _ in TIME_BINS}
    pixels = {tuple(p) for p in rgb[::7, ::7].reshape(-1, 3)}
    assert len(colours & pixels) >= 3


def test_pdf_embeds_the_packaged_font(saved):
    _, pdf = saved
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"NotoSansCJKsc-Regular" in data
    assert b"DejaVu" not in data  # no text fell back to matplotlib's default font
    assert b"/ToUnicode" in data  # the text can be searched and copied


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (Debian package poppler-utils) is not installed")
def test_pdf_text_extracts_as_chinese(saved):
    _, pdf = saved
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True, timeout=60)
    text = out.stdout.decode("utf-8")
    assert "幼儿园可达时间" in text
    assert "© OpenStreetMap contributors" in text
    assert "数据日期 Data date: 2020-06" in text


# ---------------------------------------------------------------------------------------
# The demo town's map: figures against independent computations
# ---------------------------------------------------------------------------------------


def test_travel_time_map_of_the_demo_town(demo, tt_map):
    units, times = demo["units"], demo["times"]
    t = times["kindergarten"].to_numpy()
    builtup = demo["builtup"].union_all()
    area = _exact_cell_areas(units, builtup)
    # subtitle: area-weighted share within 15 minutes
    subtitle = _text(tt_map, "map-subtitle").get_text()
    expected = 100 * area[t <= 15].sum() / builtup.area
    assert _percent(subtitle, "coverage within 15 min") == pytest.approx(expected, abs=0.051)
    # legend: each class's share, classified here with pandas
    classes = pd.cut(t, [-np.inf, 5, 10, 15, 30, np.inf], labels=False, right=True)
    legend = next(x for x in tt_map.legends if x.get_gid() == "map-legend")
    labels = [x.get_text() for x in legend.get_texts()]
    for i, (_, _, label) in enumerate(TIME_BINS):
        row = next(lab for lab in labels if lab.startswith(label))
        assert float(re.search(r"([0-9.]+)%$", row).group(1)) == pytest.approx(
            100 * area[classes == i].sum() / builtup.area, abs=0.051
        )
    n_kg = int((demo["fac"]["category"] == "kindergarten").sum())
    assert f"幼儿园 kindergarten（{n_kg}）" in labels
    assert "镇域 town boundary" in labels and "建成区 built-up area" in labels
    # every cell is drawn, in its class colour, by one collection
    ax = tt_map.axes[0]
    cells = [c for c in ax.collections if c.get_gid() == "units"]
    assert len(cells) == 1 and len(cells[0].get_paths()) == len(units)
    face = cells[0].get_facecolor()[:, :3]
    expected_rgb = np.array([mcolors.to_rgb(TIME_BINS[i][1]) for i in classes])
    np.testing.assert_allclose(face, expected_rgb, atol=1e-6)
    # each cell's path is its square
    first = cells[0].get_paths()[0].vertices
    assert shapely.Polygon(first).area == pytest.approx(50 * 50)
    # margin: attribution, source and date
    assert "© OpenStreetMap contributors" in _text(tt_map, "map-attribution").get_text()
    source = _text(tt_map, "map-source").get_text()
    assert "2020-06" in source and "EPSG:32635" in source


def test_coverage_map_rate(demo):
    units = demo["units"]
    covered = demo["times"]["bus_stop"] <= 5
    fig = static.coverage_map(units, covered, boundaries=demo["bounds"], title_zh="5分钟 公交站", data_date="2020")
    area = _exact_cell_areas(units, demo["builtup"].union_all())
    expected = 100 * area[covered.to_numpy()].sum() / area.sum()
    subtitle = _text(fig, "map-subtitle").get_text()
    assert _percent(subtitle, "覆盖率 Coverage") == pytest.approx(expected, abs=0.051)
    assert "按面积 area-weighted" in subtitle
    assert f"未覆盖 not covered: {int((~covered).sum()):,}" in subtitle
    # by population when asked: the rate follows the weight column
    weighted = units.assign(pop=np.arange(len(units), dtype=float))
    fig = static.coverage_map(weighted, covered, weight="pop", data_date="2020")
    pop = weighted["pop"].to_numpy()
    assert _percent(_text(fig, "map-subtitle").get_text(), "Coverage") == pytest.approx(
        100 * pop[covered.to_numpy()].sum() / pop.sum(), abs=0.051
    )


def test_many_cells_draw_as_one_collection_quickly(demo):
    units = mg.demand.grid(demo["builtup"], cell_m=12)
    assert len(units) > 5000
    times = pd.DataFrame({"x": np.linspace(0, 40, len(units))}, index=units.index)
    start = time.perf_counter()
    fig = static.travel_time_map(units, times, "x", data_date="2020")
    fig.canvas.draw()
    elapsed = time.perf_counter() - start
    ax = fig.axes[0]
    assert len(ax.collections) == 1 and len(ax.collections[0].get_paths()) == len(units)
    assert elapsed < 8.0  # about a second on a laptop; generous for a shared 2-core machine


# ---------------------------------------------------------------------------------------
# Scale bar and north arrow
# ---------------------------------------------------------------------------------------


def _scale_bar(fig):
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_gid() == "scale-bar"]
    width = sum(p.get_width() for p in bars)
    label = _text(fig, "scale-bar-label").get_text()
    value, unit = label.split()
    metres = float(value) * {"m": 1.0, "km": 1000.0}[unit]
    return ax, bars, width, metres


def test_scale_bar_length_equals_its_label(tt_map, demo):
    ax, bars, width, metres = _scale_bar(tt_map)
    assert len(bars) == 2
    # grid metres per ground metre at the map centre (UTM: 0.9996 near the central meridian)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    lon, lat = Transformer.from_crs(demo["units"].crs, 4326, always_xy=True).transform((x0 + x1) / 2, (y0 + y1) / 2)
    k = Proj(demo["units"].crs).get_factors(lon, lat).parallel_scale
    assert width == pytest.approx(metres * k, rel=1e-5)
    assert width == pytest.approx(metres, rel=1e-3)
    # a round length, between a tenth and a quarter of the map's width
    mantissa = metres / 10 ** math.floor(math.log10(metres))
    assert mantissa in (1.0, 2.0, 5.0)
    assert 0.1 * (x1 - x0) <= width <= 0.25 * (x1 - x0)
    # bars are inside the map frame
    assert all(x0 < p.get_x() < x1 and y0 < p.get_y() < y1 for p in bars)


def test_scale_bar_corrects_a_distorting_projection(demo):
    """In Web Mercator at 60°N a ground metre spans about two map units: the bar follows."""
    merc = demo["bounds"].to_crs(3857)
    fig = static.layers_map([(merc, {"facecolor": "#cccccc"}, "边界 boundaries")], data_date="2020")
    ax, _, width, metres = _scale_bar(fig)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    _, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform((x0 + x1) / 2, (y0 + y1) / 2)
    # Web Mercator maps the ellipsoid's parallel (radius N·cos φ) onto a circle of radius a, by hand:
    e2 = 0.00669437999014  # WGS 84 first eccentricity squared
    phi = math.radians(lat)
    k = math.sqrt(1 - e2 * math.sin(phi) ** 2) / math.cos(phi)
    assert k > 1.9
    assert width == pytest.approx(metres * k, rel=1e-4)


@pytest.mark.parametrize("max_m, expected", [(1234.0, 1000.0), (480.0, 200.0), (7.0, 5.0), (0.3, 0.2), (5000.0, 5000.0)])
def test_scale_bar_length_is_round(max_m, expected):
    assert static.scale_bar_length_m(max_m) == pytest.approx(expected)


def _arrow_angle_deg(fig) -> float:
    """Clockwise angle of the north arrow from the top of the sheet, from its drawn path."""
    fig.canvas.draw()
    arrow = next(p for p in fig.axes[0].patches if p.get_gid() == "north-arrow")
    verts = arrow.get_path().vertices  # display coordinates: tail, then towards the head
    dx, dy = verts[1] - verts[0]
    return math.degrees(math.atan2(dx, dy))


def test_north_arrow_points_to_true_north(demo):
    """The demo town lies 6° east of UTM zone 34's central meridian: true north is turned there."""
    layer = demo["bounds"].to_crs(32634)
    fig = static.layers_map([(layer, {"facecolor": "#dddddd"}, "边界 boundaries")], data_date="2020")
    ax = fig.axes[0]
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    lon, lat = Transformer.from_crs(32634, 4326, always_xy=True).transform((x0 + x1) / 2, (y0 + y1) / 2)
    convergence = Proj(32634).get_factors(lon, lat).meridian_convergence
    assert abs(convergence) > 4
    assert _arrow_angle_deg(fig) == pytest.approx(-convergence, abs=0.05)
    # in the town's own UTM zone the arrow is (nearly) upright
    assert abs(_arrow_angle_deg(static.layers_map([(demo["bounds"].to_crs(32635), None, "b")], data_date="x"))) < 0.1


# ---------------------------------------------------------------------------------------
# Generic layers
# ---------------------------------------------------------------------------------------


def test_layers_map_labels_carry_totals(demo, demo_osm):
    edges = demo["net"].edges
    res = mg.demand.residential_from_osm(demo_osm)
    fig = static.layers_map(
        [
            (res, {"facecolor": "#fdae61", "alpha": 0.6}, "居住用地 residential {area_ha:.2f} ha（{n:.0f}）"),
            (edges, {"color": "#555555", "linewidth": 0.6}, "步行网络 walk network {km:.2f} km"),
            (demo["fac"], {"marker": "^", "color": "#4575b4"}, "设施 facilities"),
        ],
        boundaries=demo["bounds"],
        crs=demo["net"].crs,
        title_zh="居住用地与步行网络",
        title_en="Residential land and walk network",
        data_date="2020",
    )
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    # network length: geodesic lengths of the edges on the ellipsoid, summed
    geod = Geod(ellps="WGS84")
    geodesic_km = sum(geod.geometry_length(g) for g in edges.to_crs(4326).geometry) / 1000
    km = float(re.search(r"walk network ([0-9.]+) km", " ".join(labels)).group(1))
    assert km == pytest.approx(geodesic_km, abs=0.01 + 1e-3 * km)
    # residential area: geodesic area of the union on the ellipsoid
    union = res.to_crs(4326).union_all()
    area_ha = abs(geod.geometry_area_perimeter(union)[0]) / 1e4
    ha = float(re.search(r"residential ([0-9.]+) ha", " ".join(labels)).group(1))
    assert ha == pytest.approx(area_ha, rel=2e-3)
    assert f"（{len(res)}）" in " ".join(labels)
    # residential land is in EPSG:4326: the map is drawn in the CRS asked for
    assert "EPSG:32635" in _text(fig, "map-source").get_text()
    assert fig.axes[0].get_xlim()[0] > 1e5


def test_layers_map_of_parks_and_greenways_in_a_chinese_town(tmp_path):
    osm = shared_path("shenzhen_longgang_osm/longgang_center.osm.pbf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        ext = mg.sources.read_osm(osm)
        parks = mg.parks.from_osm(ext)
        green = mg.greenways.from_osm(ext)
    assert len(parks) and len(green)
    crs = parks.crs
    fig = static.layers_map(
        [
            (parks, {"facecolor": "#1a9850"}, "公园 parks {area_ha:.1f} ha"),
            (green, {"color": "#00a651", "linewidth": 2}, "绿道 greenways {km:.2f} km"),
        ],
        title_zh="龙岗中心区 公园与绿道",
        title_en="Longgang centre: parks and greenways",
        data_date="2019-11",
    )
    assert fig.axes[0].get_xlim()[0] > 1e5  # drawn in the parks' Gauss–Krüger zone, in metres
    labels = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    geod = Geod(ellps="GRS80")
    km = sum(geod.geometry_length(g) for g in green.to_crs(4326).geometry) / 1000
    assert float(re.search(r"greenways ([0-9.]+) km", labels).group(1)) == pytest.approx(km, abs=0.01 + 1e-3 * km)
    ha = abs(geod.geometry_area_perimeter(parks.to_crs(4326).union_all())[0]) / 1e4
    assert float(re.search(r"parks ([0-9.]+) ha", labels).group(1)) == pytest.approx(ha, abs=0.05 + 1e-3 * ha)
    assert str(crs.to_epsg()) in _text(fig, "map-source").get_text()
    png, pdf = static.save_figure(fig, tmp_path / "parks")
    assert png.stat().st_size > 50_000 and pdf.stat().st_size > 10_000


# ---------------------------------------------------------------------------------------
# Saving atomically
# ---------------------------------------------------------------------------------------


def test_failed_save_leaves_no_partial_file(demo, tmp_path):
    fig = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, data_date="2020")
    stem = tmp_path / "gaps"
    stem.with_suffix(".png").write_bytes(b"previous map")
    fig.text(0.5, 0.5, r"$\frac{$")  # an annotation matplotlib cannot typeset: drawing fails
    with pytest.raises(mg.InputError, match="nothing was written"):
        static.save_figure(fig, stem)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gaps.png"]
    assert stem.with_suffix(".png").read_bytes() == b"previous map"


def test_a_failed_move_restores_the_previous_files(tmp_path):
    """The second file cannot be moved into place (a folder is in the way): the first is rolled back."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "new.png").write_bytes(b"new png")
    (work / "new.pdf").write_bytes(b"new pdf")
    (tmp_path / "m.png").write_bytes(b"old png")
    (tmp_path / "m.pdf").mkdir()
    (tmp_path / "m.pdf" / "inside").write_bytes(b"x")
    with pytest.raises(OSError):
        static._move_together([(work / "new.png", tmp_path / "m.png"), (work / "new.pdf", tmp_path / "m.pdf")], work)
    assert (tmp_path / "m.png").read_bytes() == b"old png"
    assert (tmp_path / "m.pdf" / "inside").read_bytes() == b"x"


def test_save_refuses_a_folder_as_target(demo, tmp_path):
    fig = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, data_date="2020")
    (tmp_path / "m.pdf").mkdir()
    with pytest.raises(mg.InputError, match="is a folder"):
        static.save_figure(fig, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pdf"]


def test_save_replaces_old_files_and_keeps_dollar_signs_literal(demo, tmp_path):
    fig = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, title_en=r"Cost $\frac{$ and $5", data_date="2020")
    (tmp_path / "m.png").write_bytes(b"old")
    png, pdf = static.save_figure(fig, tmp_path / "m.png")
    assert (png.name, pdf.name) == ("m.png", "m.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pdf", "m.png"]
    with Image.open(png) as img:
        assert img.format == "PNG"
    assert r"$\frac{$ and $5" in _text(fig, "map-title").get_text()


# ---------------------------------------------------------------------------------------
# Bad input: clear errors
# ---------------------------------------------------------------------------------------


def test_bad_input_gets_clear_errors(demo):
    units, times = demo["units"], demo["times"]
    with pytest.raises(mg.CRSError, match="to_metric"):
        static.travel_time_map(units.to_crs(4326), times, "kindergarten")
    with pytest.raises(mg.InputError, match=r"'school' is not a column.*kindergarten"):
        static.travel_time_map(units, times, "school")
    with pytest.raises(mg.InputError, match="no value for 10 of the"):
        static.travel_time_map(units, times.iloc[10:], "kindergarten")
    with pytest.raises(mg.InputError, match="missing \\(NaN\\)"):
        static.travel_time_map(units, times.assign(kindergarten=np.nan), "kindergarten")
    with pytest.raises(mg.InputError, match="True/False"):
        static.coverage_map(units, times["kindergarten"])
    with pytest.raises(mg.InputError, match="weight column 'people'"):
        static.coverage_map(units, times["kindergarten"] < 15, weight="people")
    with pytest.raises(mg.InputError, match="unknown style keys \\['colour'\\]"):
        static.layers_map([(units, {"colour": "red"}, "x")])
    with pytest.raises(mg.InputError, match="not a colour"):
        static.layers_map([(units, {"color": "reddish"}, "x")])
    with pytest.raises(mg.InputError, match=r"cannot be filled.*\{km"):
        static.layers_map([(units, None, "{length:.1f}")])
    with pytest.raises(mg.CRSError, match="geographic"):
        static.layers_map([(units.to_crs(4326), None, "x")])
    with pytest.raises(mg.CRSError, match="has no CRS"):
        static.layers_map([(units, None, "x"), (units.set_crs(None, allow_override=True), None, "y")])
    with pytest.raises(mg.InputError, match="non-empty list"):
        static.layers_map(units)
    with pytest.raises(mg.InputError, match="dpi"):
        static.save_figure(static.layers_map([(units, None, "x")], data_date="x"), "/tmp/never", dpi=0)
