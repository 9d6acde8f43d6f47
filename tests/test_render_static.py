"""Print maps checked as a planner would read them, against independent computations.

Real data only: the embedded demo town (Karhula), Guixi's 东门街道 and Longgang from
../shared/data. What is checked: the packaged Chinese font; 300 dpi PNG and PDF files whose
text (titles, street and facility names) can be extracted; the basemap's layers and labels
drawn; legends whose shares and classes follow the search that made the times; the land a
rate measures painted and nothing else; a true, round scale; furniture (scale bar, north
arrow, legend, inset) off the map; the sheet's orientation and fill; hostile names.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
import shutil
import struct
import subprocess
import sys
import time
import warnings
import zlib
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
from matplotlib import image as mpimg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from PIL import Image
from pyproj import Geod, Transformer

import mtown_geo as mg
from mtown_geo.render import _fonts, static
from mtown_geo.render._basemap import ROAD_CLASSES, basemap_from_network, basemap_from_osm
from mtown_geo.render._classes import time_classes

from .conftest import OSM_FILES, shared_path

CATS = ["kindergarten", "bus_stop"]
HAS_PDFTOTEXT = shutil.which("pdftotext") is not None


# ---------------------------------------------------------------------------------------
# The real demo town: network, facilities, a 50 m grid with its residential land, times, basemap
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_osm, demo_bounds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        town = demo_bounds[demo_bounds["kind"] == "镇域"]
        net = mg.network.from_osm(demo_osm, mode="walk", boundary=town)
        fac = mg.facilities.from_osm(demo_osm, categories=CATS)
        builtup = demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(net.crs)
        res = mg.demand.residential_from_osm(demo_osm).to_crs(net.crs)
        units = mg.demand.with_residential(mg.demand.grid(builtup, cell_m=50), res, area=builtup)
        whole = mg.access.reach(net, fac, categories=CATS, max_time_min=np.inf)
        times = whole.at(units)
        cut = mg.access.reach(net, fac, categories=CATS, max_time_min=15).at(units)
    land = shapely.intersection(res.union_all(), builtup.union_all())
    ext = mg.sources.read_osm(demo_osm, buildings=True)
    basemap = basemap_from_osm(ext, area=town, crs=net.crs, margin_m=1000)
    return {
        "net": net,
        "fac": fac,
        "units": units,
        "times": times,
        "cut_times": cut,
        "reach": whole,
        "builtup": builtup,
        "bounds": demo_bounds,
        "land": land,
        "basemap": basemap,
        "extract": ext,
    }


@pytest.fixture(scope="module")
def tt_map(demo):
    return static.travel_time_map(
        demo["units"],
        demo["times"],
        "kindergarten",
        boundaries=demo["bounds"],
        facilities=demo["fac"],
        land=demo["land"],
        basemap=demo["basemap"],
        weight="res_area_m2",
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


def _texts(fig, gid):
    return [t for t in fig.findobj(Text) if t.get_gid() == gid]


def _sc_face_index_fonttools(path: Path) -> int:
    """The Simplified Chinese face of the collection, found from its name table (not matplotlib)."""
    coll = TTCollection(str(path), lazy=True)
    names = [f["name"].getDebugName(6) for f in coll.fonts]
    return names.index("NotoSansCJKsc-Regular")


def _percent(text: str, after: str) -> float:
    m = re.search(re.escape(after) + r"[^0-9]*([0-9]+(?:\.[0-9]+)?)%", text)
    assert m, f"no percentage after {after!r} in {text!r}"
    return float(m.group(1))


def _legend_rows(fig, gid="map-legend") -> list[str]:
    legend = next(x for x in fig.legends if x.get_gid() == gid)
    return [t.get_text().replace("\n", " ") for t in legend.get_texts()]


def _path_area(path) -> float:
    """Area of a compound path: exteriors counter-clockwise (+), holes clockwise (−), by the shoelace formula."""
    total = 0.0
    for ring in path.to_polygons(closed_only=True):
        x, y = ring[:, 0], ring[:, 1]
        total += 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return total


def _pdf_text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True, timeout=60)
    return out.stdout.decode("utf-8")


def _squash(text: str) -> str:
    """Text with line breaks and spaces removed (pdftotext breaks rotated street names into letters)."""
    return re.sub(r"\s+", "", text)


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
# The files: PNG at 300 dpi, PDF with the font embedded and its text extractable
# ---------------------------------------------------------------------------------------


def test_png_is_300_dpi_at_the_sheet_size(tt_map, saved):
    png, _ = saved
    w_in, h_in = tt_map.get_size_inches()
    with Image.open(png) as img:
        dpi = img.info["dpi"]
        size = img.size
        rgb = np.asarray(img.convert("RGB"))
    assert dpi == pytest.approx((300, 300), abs=0.01)
    assert size == (int(w_in * 300), int(h_in * 300))  # whole pixels of the sheet
    assert size == (3507, 2480)  # A4 landscape, 297 × 210 mm
    # the classes painted on the map appear in their exact colours
    colours = {tuple(round(255 * v) for v in mcolors.to_rgb(c.colour)) for c in time_classes((5, 10, 15, 30))}
    pixels = {tuple(p) for p in rgb[::5, ::5].reshape(-1, 3)}
    assert len(colours & pixels) >= 3


def test_pdf_embeds_the_packaged_font(saved):
    _, pdf = saved
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"NotoSansCJKsc-Regular" in data
    assert b"DejaVu" not in data  # no text fell back to matplotlib's default font
    assert b"/ToUnicode" in data  # the text can be searched and copied


@pytest.mark.skipif(not HAS_PDFTOTEXT, reason="pdftotext (Debian package poppler-utils) is not installed")
def test_pdf_text_holds_the_titles_and_the_street_and_facility_names(tt_map, saved, demo):
    _, pdf = saved
    text = _pdf_text(pdf)
    flat = _squash(text)
    assert "幼儿园可达时间" in flat
    assert _squash("© OpenStreetMap contributors") in flat
    assert _squash("数据日期 Data date: 2020-06") in flat
    assert _squash("比例尺") in flat and "1:" in flat
    # the names placed on the map are in the PDF as text (not outlines) ...
    streets = {t.get_text() for t in _texts(tt_map, "label-street")}
    places = {t.get_text() for t in _texts(tt_map, "label-facility")}
    assert len(streets) >= 3 and places
    for name in streets | places:
        assert _squash(name) in flat, name
    # ... and they are the data's own: OSM street names of the basemap, facility names of the layer
    assert streets <= set(demo["basemap"].roads["name"].dropna())
    assert places <= set(demo["fac"]["name"].dropna())


def _pdf_images(pdf: Path) -> int:
    """Number of raster images in a PDF (``pdfimages -list``)."""
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True, timeout=60)
    return len(out.stdout.splitlines()[2:])


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (Debian package poppler-utils) is not installed")
def test_one_draw_gives_a_png_and_a_pdf_that_look_the_same_as_matplotlib_draws_them(tt_map, saved, tmp_path):
    """The PNG (texts drawn from the shared caches) matches matplotlib's own renderer, and the PDF the PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    png, pdf = saved
    ours = np.asarray(Image.open(png).convert("RGB")).astype(int)
    stock_canvas = FigureCanvasAgg(tt_map)  # matplotlib's renderer, glyph by glyph, nothing cached
    try:
        stock_canvas.draw()
        stock = np.asarray(stock_canvas.buffer_rgba())[..., :3].astype(int)
    finally:
        static.MapCanvas(tt_map)
    assert ours.shape == stock.shape
    differ = np.abs(ours - stock).max(axis=2) > 64
    assert differ.mean() < 0.01, f"{100 * differ.mean():.2f} % of the pixels differ from matplotlib's own drawing"
    # the labels sit where matplotlib puts them: the differences are antialiasing at glyph edges,
    # never a whole label moved (a moved label differs over most of its box)
    for t in _texts(tt_map, "label-street") + _texts(tt_map, "label-facility"):
        bb = t.get_window_extent()
        box = differ[int(ours.shape[0] - bb.y1) : int(ours.shape[0] - bb.y0), int(bb.x0) : int(bb.x1)]
        assert box.size == 0 or box.mean() < 0.2, t.get_text()
    # the PDF of the same draw shows the same sheet: rendered at 60 dpi it matches the PNG scaled down
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf), str(tmp_path / "p")], check=True, timeout=60)
    page = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).astype(int)
    small = np.asarray(Image.open(png).convert("RGB").resize(page.shape[1::-1], Image.Resampling.BOX)).astype(int)
    # (poppler draws hairlines and hatching thinner than Agg: about 10 grey levels apart on average)
    assert np.abs(page - small).mean() < 14.0
    assert (np.abs(page - small).max(axis=2) > 96).mean() < 0.06


@pytest.mark.parametrize("dense", [False, True])
def test_the_pdf_is_matplotlibs_own_byte_for_byte_with_cold_and_warm_caches(demo, tt_map, tmp_path, monkeypatch, dense):
    """Text layouts, glyph outlines and legend boxes from the caches write the PDF matplotlib writes itself
    (also with rasterised layers, drawn at another resolution within the PDF's draw)."""
    from matplotlib import rc_context

    from mtown_geo.render import _text

    fig = tt_map
    if dense:
        monkeypatch.setattr(static, "RASTER_MIN_VERTICES", 1000)
        kw = {"boundaries": demo["bounds"], "basemap": demo["basemap"], "land": demo["land"], "data_date": "2020-06"}
        fig = static.travel_time_map(demo["units"], demo["times"], "kindergarten", facilities=demo["fac"], **kw)
        assert any(c.get_rasterized() for c in fig.findobj(lambda o: o.get_gid() == "basemap-buildings"))
    rc = {"savefig.facecolor": "white", "savefig.edgecolor": "white", "pdf.fonttype": 3, "pdf.compression": 2}
    meta = {"CreationDate": None, "Producer": None}
    with rc_context(rc):
        _text.clear_caches()
        _text.print_pdf(fig, tmp_path / "cold.pdf", metadata=meta)
        _text.print_pdf(fig, tmp_path / "warm.pdf", metadata=meta)
        fig.savefig(tmp_path / "stock.pdf", format="pdf", metadata=meta, dpi=fig.dpi)
        static.MapCanvas(fig)  # savefig left matplotlib's canvas on the figure
    stock = (tmp_path / "stock.pdf").read_bytes()
    assert (tmp_path / "cold.pdf").read_bytes() == stock
    assert (tmp_path / "warm.pdf").read_bytes() == stock


def _stock_pdf(fig, path, meta):
    """The PDF matplotlib's own ``savefig`` writes (the map's canvas put back after it)."""
    fig.savefig(path, format="pdf", metadata=meta, dpi=fig.dpi)
    static.MapCanvas(fig)
    return Path(path).read_bytes()


def test_a_towns_sheets_written_in_turn_are_matplotlibs_pdfs_byte_for_byte(demo, tt_map, tmp_path, monkeypatch):
    """Sheets sharing the basemap reuse the previous page's compressed prefix and path operators; every
    file is still the one matplotlib writes, in the order a run writes them and again with warm caches."""
    from matplotlib import rc_context

    from mtown_geo.render import _text

    monkeypatch.setattr(_text, "_CHECKPOINT_BYTES", 4096)  # the demo's pages are small: keep many states
    monkeypatch.setattr(_text, "_CHUNK_BYTES", 1024)
    departures: list[tuple[int, int]] = []
    stock_depart = _text._PageStream._depart

    def depart(self):
        matched = self._matched
        stock_depart(self)
        departures.append((matched, self._size))  # where the page left the last one, and the bytes taken from it

    monkeypatch.setattr(_text._PageStream, "_depart", depart)
    kw = {"boundaries": demo["bounds"], "basemap": demo["basemap"], "land": demo["land"], "data_date": "2020-06"}
    bus = static.travel_time_map(demo["units"], demo["times"], "bus_stop", facilities=demo["fac"], **kw)
    covered = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, **kw)
    rc = {"savefig.facecolor": "white", "savefig.edgecolor": "white", "pdf.fonttype": 3, "pdf.compression": 2}
    meta = {"CreationDate": None, "Producer": None}
    with rc_context(rc):
        stock = [_stock_pdf(fig, tmp_path / f"stock{i}.pdf", meta) for i, fig in enumerate((tt_map, bus, covered))]
        _text.clear_caches()
        for rnd in range(2):
            for i, fig in enumerate((tt_map, bus, tt_map, covered)):
                _text.print_pdf(fig, tmp_path / "ours.pdf", metadata=meta)
                assert (tmp_path / "ours.pdf").read_bytes() == stock[[0, 1, 0, 2][i]], (rnd, i)
    assert len(departures) == 7  # every page but the first compared with the one before
    assert any(taken > 0 for _, taken in departures)  # compressed bytes of the last page reused
    assert all(taken <= matched for matched, taken in departures)


def test_long_paths_operators_from_the_cache_are_matplotlibs(tt_map):
    """The operators of a long path come from the cache only for the same vertices, codes, transform, clip and
    simplification; anything else is converted anew."""
    from matplotlib.backends.backend_pdf import PdfFile
    from matplotlib.path import Path as MplPath
    from matplotlib.transforms import Affine2D

    from mtown_geo.render import _text

    def ops(route, *args, **kw):
        return b"".join(v.pdfRepr() for v in route(*args, **kw))

    stock = PdfFile.pathOperations
    paths = [p for c in tt_map.axes[0].collections for p in c.get_paths() if len(p.vertices) >= 200][:6]
    assert len(paths) >= 3
    affine = tt_map.axes[0].transData.get_affine()
    _text.clear_caches()
    for path in paths:
        for clip, simplify in ((None, None), ((0.0, 0.0, 400.0, 500.0), path.should_simplify), (None, False)):
            for transform in (affine, Affine2D().scale(2.0) + affine):
                expected = ops(stock, path, transform, clip, simplify)
                assert ops(_text._path_operators, path, transform, clip, simplify) == expected  # cold
                assert ops(_text._path_operators, path, transform, clip, simplify) == expected  # from the cache
    path = paths[0]
    moved = MplPath(path.vertices.copy(), path.codes)
    assert ops(_text._path_operators, moved, affine) == ops(stock, path, affine)
    moved.vertices[3] += 5.0  # the same path object, its vertices changed in place
    assert ops(_text._path_operators, moved, affine) == ops(stock, moved, affine) != ops(stock, path, affine)
    opened = MplPath(path.vertices, None)  # same vertices, no codes
    assert ops(_text._path_operators, opened, affine) == ops(stock, opened, affine) != ops(stock, path, affine)
    assert len(_text._PATHS.data) > 0


def test_a_collections_colour_rows_convert_as_matplotlib_parses_them():
    from mtown_geo.render import _text

    rows = [
        np.array([0.2, 0.4, 0.6, 1.0]),
        np.array([0.0, 0.0, 0.0, 0.0]),
        np.array([1.0, 1.0, 1.0, 0.5]),
        np.array([0.2, np.nan, 0.6, 1.0]),  # NaN passes matplotlib's range check
        np.array([[0.1, 0.2, 0.3, 0.4]]),  # one row as a 2-D array
        np.array([0.1, 0.2, 0.3]),  # alpha 1 added as an int
        np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32),
        np.array([0.1, 1.2, 0.3, 1.0]),  # out of range: matplotlib refuses it
        (0.3, 0.3, 0.3, 1.0),
        ("#336699", 0.5),
        "C1",
        "none",
    ]
    for alpha in (None, 0.5):
        for row in rows:
            results = []
            for route in (_text._to_rgba, _text._STOCK_TO_RGBA):
                try:
                    results.append(route(row, alpha))
                except ValueError as exc:
                    results.append(str(exc))
            assert str(results[0]) == str(results[1]), (row, alpha)
            if isinstance(results[0], tuple):  # the same numbers as the same types (the PDF writes ints and floats apart)
                assert [type(v) for v in results[0]] == [type(v) for v in results[1]]
    with _text._cached_layout():
        assert matplotlib.colors.to_rgba is _text._to_rgba
    assert matplotlib.colors.to_rgba is _text._STOCK_TO_RGBA


def _kanji(font_path, n: int) -> str:
    from matplotlib.ft2font import FT2Font

    font = FT2Font(font_path, face_index=font_path.face_index)
    chars = [chr(c) for c in range(0x4E00, 0x9FA5) if font.get_char_index(c)]
    return "".join(chars[:n])


@pytest.mark.parametrize("compression", [2, 0, 6])
def test_texts_written_from_their_glyphs_are_matplotlibs_pdf_byte_for_byte(tmp_path, monkeypatch, compression):
    """Plain texts written from their cached glyphs (more Chinese characters than one Type 3 font subset holds,
    kerned Latin, turned, several sizes, repeated) give matplotlib's file; a linked text takes matplotlib's route."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    from mtown_geo.render import _text

    face = _fonts.cjk_font_file()
    kanji = _kanji(face, 420)
    assert len(kanji) == 420
    fig = Figure(figsize=(5.8, 4.1), dpi=300)
    static.MapCanvas(fig)
    for i in range(0, 420, 30):
        fig.text(0.02, 0.97 - i / 460, kanji[i : i + 30], fontproperties=_fonts.cjk_font(size_pt=6 + (i % 4)))
    for angle, text in (
        (0, "AVATAR Wave To Yo 1:10 000"),
        (30, "Tower Avenue 幼儿园"),
        (-75, "(括号) \\ back\nslash"),
        (90, "AV"),
    ):
        fig.text(0.5, 0.5, text, fontproperties=_fonts.cjk_font(size_pt=9), rotation=angle)
        fig.text(0.3, 0.3, text, fontproperties=_fonts.cjk_font(size_pt=9), rotation=angle)  # the same text again
    # a character the face lacks is drawn from matplotlib's last-resort font: the text changes fonts twice
    fig.text(0.1, 0.05, "公园\u0d9e公园 Park", fontproperties=_fonts.cjk_font(size_pt=8))
    fig.text(0.8, 0.1, "链接 link", fontproperties=_fonts.cjk_font(size_pt=8), url="https://www.openstreetmap.org/copyright")
    written: list[int] = []
    stock_write = _text._MapRendererPdf._write_text

    def write_text(self, *args):
        written.append(1)
        stock_write(self, *args)

    monkeypatch.setattr(_text._MapRendererPdf, "_write_text", write_text)
    rc = {"savefig.facecolor": "white", "savefig.edgecolor": "white", "pdf.fonttype": 3, "pdf.compression": compression}
    meta = {"CreationDate": None, "Producer": None}
    with rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        stock = _stock_pdf(fig, tmp_path / "stock.pdf", meta)
        _text.clear_caches()
        _text.print_pdf(fig, tmp_path / "cold.pdf", metadata=meta)
        _text.print_pdf(fig, tmp_path / "warm.pdf", metadata=meta)
    assert stock.count(b"/Subtype /Type3") >= 4  # ASCII and two subsets of the Chinese face, the last-resort font
    assert b"LastResort" in stock
    assert b"/URI (https://www.openstreetmap.org/copyright)" in stock
    assert (tmp_path / "cold.pdf").read_bytes() == stock
    assert (tmp_path / "warm.pdf").read_bytes() == stock
    lines = sum(len(t.get_text().split("\n")) for t in fig.texts if t.get_url() is None)
    assert len(written) == 2 * lines  # every line of every text but the linked one, in both files


def test_glyph_advances_from_the_cache_are_the_fonts():
    from matplotlib.backends import backend_pdf
    from matplotlib.ft2font import FT2Font, LoadFlags

    from mtown_geo.render import _text

    path = _fonts.cjk_font_file()
    font = FT2Font(path, face_index=path.face_index)
    glyphs = sorted({font.get_char_index(ord(c)) for c in _kanji(path, 200) + "Scale 比例尺 1:10 000"} | {0})
    flags = LoadFlags.NO_SCALE | LoadFlags.NO_HINTING
    _text.clear_caches()
    with _text._cached_layout():
        embedded = backend_pdf.get_font(path)
    assert isinstance(embedded, _text._EmbeddedFont)
    assert embedded.postscript_name == font.postscript_name and embedded.units_per_EM == font.units_per_EM
    for _ in range(2):  # cold, then from the cache
        assert [embedded.load_glyph(g, flags=flags).horiAdvance for g in glyphs] == [
            font.load_glyph(g, flags=flags).horiAdvance for g in glyphs
        ]
    outline = embedded.load_glyph(glyphs[5], flags=LoadFlags.NO_SCALE)  # any other load is the font's own
    assert outline.horiAdvance == font.load_glyph(glyphs[5], flags=LoadFlags.NO_SCALE).horiAdvance
    assert np.array_equal(embedded.get_path()[0], font.get_path()[0])


def test_glyph_outlines_from_the_cache_are_matplotlibs(tt_map):
    from matplotlib.backends import backend_pdf
    from matplotlib.ft2font import FT2Font

    from mtown_geo.render import _text

    path = _fonts.cjk_font().get_file()
    font = FT2Font(path)
    glyphs = sorted({font.get_char_index(ord(c)) for c in "幼儿园可达时间 Scale 比例尺 1:10 000 © OpenStreetMap"})
    stock = backend_pdf._get_pdf_charprocs(path, glyphs)
    assert len(stock) == len(glyphs)
    _text.clear_caches()
    assert _text._charprocs(path, glyphs[::2]) == backend_pdf._get_pdf_charprocs(path, glyphs[::2])  # cold
    assert _text._charprocs(path, glyphs) == stock  # half from the cache


def test_legends_are_laid_out_once_per_draw_and_drawn_the_same(tt_map, monkeypatch):
    """Each legend box is measured once per draw; the sheet's pixels are those of matplotlib's repeated layout."""
    from matplotlib.offsetbox import TextArea

    from mtown_geo.render import _text

    canvas = tt_map.canvas
    canvas.draw()
    once = np.asarray(canvas.buffer_rgba()).copy()
    boxes = _text._legend_boxes(tt_map)
    areas = [b for b in boxes if isinstance(b, TextArea)]
    assert len(areas) >= 8  # the legend's and the basemap legend's entries and titles
    calls: list[int] = []
    stock_bbox = TextArea.get_bbox

    def counted(self, renderer):
        calls.append(id(self))
        return stock_bbox(self, renderer)

    monkeypatch.setattr(TextArea, "get_bbox", counted)
    canvas.draw()
    assert sorted(calls) == sorted(id(a) for a in areas)  # each text area measured once
    assert not any(name in vars(b) for b in boxes for name in _text._LAYOUT_METHODS)  # nothing left on the boxes
    assert not any("_get_layout" in vars(t) for t in tt_map.findobj(Text))  # nor on the texts
    calls.clear()
    monkeypatch.setattr(_text, "laid_out_once", lambda fig: contextlib.nullcontext())
    canvas.draw()
    assert len(calls) > 2 * len(areas)  # matplotlib's own route measures them again and again ...
    assert np.array_equal(np.asarray(canvas.buffer_rgba()), once)  # ... to the same pixels


def _png_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """The chunks of a PNG file as (type, data), each CRC checked with the standard library's zlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (n,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + n]
        (crc,) = struct.unpack(">I", data[at + 8 + n : at + 12 + n])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + n
    assert at == len(data) and chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    return chunks


def _scanlines(rgba: np.ndarray) -> bytes:
    """The PNG's unfiltered RGB scanlines of a pixel array, made the plain way (filter byte 0, then R, G, B)."""
    rgb = np.asarray(rgba)[..., :3]
    return np.concatenate([np.zeros((rgb.shape[0], 1), np.uint8), rgb.reshape(rgb.shape[0], -1)], axis=1).tobytes()


@pytest.mark.parametrize("width", [1, 2, 45])
def test_png_rows_written_in_bands_decode_to_the_pixels(tmp_path, width):
    rng = np.random.default_rng(7)
    for height in (1, 31, 32, 33, 100):  # whole bands, a part band, less than one
        rgba = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)  # alpha too: it must not leak into RGB
        rgba[: height // 2, : width // 2] = 255  # a flat part as on a sheet
        for k, pixels in enumerate((rgba, rgba[:, ::-1], np.asfortranarray(rgba))):  # contiguous or not
            path = tmp_path / f"b{height}-{k}.png"
            static._write_png(path, pixels, dpi=300, text={"Title": "测试"})
            with Image.open(path) as img:
                assert img.mode == "RGB" and img.info["Title"] == "测试"
                assert np.array_equal(np.asarray(img), pixels[..., :3])
            idat = b"".join(body for kind, body in _png_chunks(path) if kind == b"IDAT")
            assert zlib.decompress(idat) == _scanlines(pixels)


def test_png_of_a_sheet_holds_the_pixels_drawn_with_its_resolution_and_texts(tt_map, tmp_path, monkeypatch):
    """A real sheet (basemap with buildings, streets, labels): the PNG decodes to the pixels the figure drew,
    its chunks are valid, and the compressed stream stays near what the standard library's zlib makes."""
    drawn = []
    write = static._write_png

    def keep(path, rgba, **kw):
        drawn.append(np.array(rgba))
        write(path, rgba, **kw)

    monkeypatch.setattr(static, "_write_png", keep)
    png, _ = static.save_figure(tt_map, tmp_path / "sheet")
    (rgba,) = drawn
    assert rgba.shape == (2480, 3507, 4)
    with Image.open(png) as img:  # Pillow's decoder
        assert img.mode == "RGB" and img.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert img.info["Title"] == static._title_of(tt_map) and img.info["Software"] == "mtown_geo"
        assert np.array_equal(np.asarray(img), rgba[..., :3])
    assert np.array_equal(mpimg.imread(png), rgba[..., :3] / np.float32(255))  # matplotlib's (libpng's) decoder
    chunks = _png_chunks(png)
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (3507, 2480, 8, 2, 0, 0, 0)  # 8-bit RGB, not interlaced
    phys = [body for kind, body in chunks if kind == b"pHYs"]
    assert phys == [struct.pack(">IIB", 11811, 11811, 1)]  # 300 dpi in pixels per metre
    texts = {}
    for kind, body in chunks:
        if kind == b"iTXt":  # keyword, 0, compression flag and method, language, 0, translated keyword, 0, text
            key, rest = body.split(b"\x00", 1)
            assert rest[:2] == b"\x00\x00"  # not compressed
            texts[key.decode("latin-1")] = rest[2:].split(b"\x00", 2)[2].decode("utf-8")
    assert texts == {"Title": static._title_of(tt_map), "Copyright": static.ATTRIBUTION, "Software": "mtown_geo"}
    kinds = [kind for kind, _ in chunks]
    first, last = kinds.index(b"IDAT"), len(kinds) - 1 - kinds[::-1].index(b"IDAT")
    assert set(kinds[first : last + 1]) == {b"IDAT"}  # one run of IDAT chunks
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")
    scanlines = _scanlines(rgba)
    assert zlib.decompress(idat) == scanlines
    assert len(idat) < 1.2 * len(zlib.compress(scanlines, 2))  # the files stay the size they were


@pytest.fixture
def no_overlay(monkeypatch):
    """PNGs drawn without blending the basemap's over-layers (tested on their own below): every pixel as drawn."""
    monkeypatch.setattr(static._Overlay, "find", lambda self: [])


def test_png_left_out_only_what_changes_no_pixel(tt_map, tmp_path, no_overlay):
    """The PNG's draw leaves out the map's white background on the white page and the map's empty axes
    (no ticks, no labels): its pixels are those of the whole figure drawn with them."""
    maps = [ax for ax in tt_map.axes if ax.get_gid() in ("map", "inset")]
    assert static._unseen_background(tt_map) == [maps[0].patch]  # the map's background, the first axes drawn
    assert not any(ax.xaxis.get_visible() or ax.yaxis.get_visible() for ax in maps)
    png, _ = static.save_figure(tt_map, tmp_path / "sheet")
    assert all(ax.patch.get_visible() for ax in maps)  # back for the PDF and any later draw
    original_dpi = tt_map.dpi
    try:
        for ax in maps:
            ax.xaxis.set_visible(True)
            ax.yaxis.set_visible(True)
        tt_map.dpi = 300
        tt_map.canvas.draw()  # everything, the white background and the axis artists too
        whole = np.asarray(tt_map.canvas.buffer_rgba())[..., :3].copy()
    finally:
        tt_map.dpi = original_dpi
        for ax in maps:
            ax.xaxis.set_visible(False)
            ax.yaxis.set_visible(False)
    with Image.open(png) as img:
        assert np.array_equal(np.asarray(img), whole)


def test_png_draws_an_axes_background_that_shows(tmp_path):
    fig = Figure(figsize=(2, 1), facecolor="white")
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    assert static._unseen_background(fig) == [ax.patch]  # white on white
    ax.set_facecolor("#fafafa")  # as the overview inset
    assert static._unseen_background(fig) == []
    png, _ = static.save_figure(fig, tmp_path / "grey", dpi=100)
    with Image.open(png) as img:
        assert tuple(np.asarray(img)[50, 100]) == (250, 250, 250)
    ax.set_facecolor("white")
    fig.patches.append(Rectangle((0, 0), 1, 1, transform=fig.transFigure, facecolor="red", zorder=-1, figure=fig))
    assert static._unseen_background(fig) == []  # something lies under the axes: its background hides it
    png, _ = static.save_figure(fig, tmp_path / "red", dpi=100)
    with Image.open(png) as img:
        assert tuple(np.asarray(img)[50, 100]) == (255, 255, 255) and tuple(np.asarray(img)[2, 2]) == (255, 0, 0)


def test_a_sheet_drawn_over_another_sheet_has_the_pixels_of_a_cleared_buffer(tt_map, demo):
    """The sheets share one pixel buffer, not cleared before a draw whose white page sets every pixel:
    whatever the buffer held, the sheet's pixels are those drawn into a cleared buffer."""
    from mtown_geo.render import _text

    other = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, data_date="2020")
    original_dpi = tt_map.dpi
    sheets = []
    try:
        for fig in (tt_map, other):
            fig.dpi = 300
        assert _text._page_covers(tt_map.canvas)
        renderer = tt_map.canvas.get_renderer()
        assert other.canvas.get_renderer() is renderer  # one buffer for both
        renderer.clear()
        tt_map.canvas.draw()
        cleared = np.asarray(tt_map.canvas.buffer_rgba()).copy()
        for noise in (lambda: other.canvas.draw(), lambda: np.random.default_rng(3).bytes(cleared.size)):
            held = noise()
            if held is not None:  # random bytes, alpha too
                np.asarray(renderer.buffer_rgba())[...] = np.frombuffer(held, np.uint8).reshape(cleared.shape)
            tt_map.canvas.draw()
            sheets.append(np.asarray(tt_map.canvas.buffer_rgba()).copy())
        # a page that lets the buffer show through is drawn into a cleared buffer
        tt_map.patch.set_alpha(0.5)
        assert not _text._page_covers(tt_map.canvas)
        tt_map.canvas.draw()
        half = np.asarray(tt_map.canvas.buffer_rgba()).copy()
        renderer.clear()
        tt_map.canvas.draw()
        assert np.array_equal(np.asarray(tt_map.canvas.buffer_rgba()), half)
    finally:
        tt_map.patch.set_alpha(None)
        tt_map.dpi = original_dpi
    for sheet in sheets:
        assert np.array_equal(sheet, cleared)


@pytest.mark.skipif(not HAS_PDFTOTEXT or shutil.which("pdfimages") is None, reason="poppler-utils is not installed")
def test_dense_layers_are_rasterised_in_the_pdf_and_names_stay_text(demo, tmp_path, monkeypatch):
    kw = {"boundaries": demo["bounds"], "basemap": demo["basemap"], "land": demo["land"], "data_date": "2020-06"}
    args = (demo["units"], demo["times"], "kindergarten")
    vector = static.travel_time_map(*args, facilities=demo["fac"], threshold_min=15, **kw)
    _, vector_pdf = static.save_figure(vector, tmp_path / "vector")
    assert _pdf_images(vector_pdf) == 0  # a town of this size: every layer is vector
    n_vertices = sum(len(p.vertices) for c in vector.findobj(lambda o: o.get_gid() == "basemap-buildings") for p in c.get_paths())
    assert n_vertices > 1000
    monkeypatch.setattr(static, "RASTER_MIN_VERTICES", 1000)  # as dense as a large town's buildings
    dense = static.travel_time_map(*args, facilities=demo["fac"], threshold_min=15, **kw)
    rastered = {c.get_gid() for c in dense.findobj(lambda o: hasattr(o, "get_rasterized") and o.get_rasterized())}
    assert "basemap-buildings" in rastered
    assert not any(str(g).startswith(("label", "map-", "basemap-road")) for g in rastered)
    _, dense_pdf = static.save_figure(dense, tmp_path / "dense")
    assert _pdf_images(dense_pdf) >= 1
    text = _squash(_pdf_text(dense_pdf))
    names = {t.get_text() for t in _texts(dense, "label-street") + _texts(dense, "label-facility")}
    assert len(names) >= 3
    for name in names:
        assert _squash(name) in text, name


# ---------------------------------------------------------------------------------------
# The demo town's map: figures against independent computations
# ---------------------------------------------------------------------------------------


def test_shares_and_painted_land_of_the_travel_time_map(demo, tt_map):
    units, times = demo["units"], demo["times"]
    t = times["kindergarten"].to_numpy()
    w = units["res_area_m2"].to_numpy()
    # subtitle: the residential-land-weighted share within 15 minutes
    assert _percent(_text(tt_map, "map-subtitle").get_text(), "coverage within 15 min") == pytest.approx(
        100 * w[t <= 15].sum() / w.sum(), abs=0.051
    )
    # legend: each class's share, classified here with pandas; no path at all is its own class
    finite = np.isfinite(t)
    classes = np.where(finite, pd.cut(np.where(finite, t, 0), [-np.inf, 5, 10, 15, 30, np.inf], labels=False), 5)
    rows = _legend_rows(tt_map)
    labels = ["≤ 5 分钟 min", "5–10 分钟 min", "10–15 分钟 min", "15–30 分钟 min", "> 30 分钟 min", "不可达 unreachable"]
    for i, label in enumerate(labels):
        row = next(r for r in rows if r.startswith(label))
        assert float(re.search(r"([0-9.]+)%$", row).group(1)) == pytest.approx(100 * w[classes == i].sum() / w.sum(), abs=0.051)
    assert (~finite).any()  # the demo has places on pieces of the network without a kindergarten
    assert "幼儿园 kindergarten　1 处" in rows or any(r.startswith("幼儿园 kindergarten") and r.endswith(" 处") for r in rows)
    assert "镇域 town boundary" in rows and "建成区 built-up area" in rows
    # the painted land: per class, exactly the residential land inside that class's cells (exact overlay here)
    ax = tt_map.axes[0]
    coll = next(c for c in ax.collections if c.get_gid() == "units")
    half = units["cell_m"].to_numpy() / 2
    cells = shapely.box(units["x"] - half, units["y"] - half, units["x"] + half, units["y"] + half)
    inside = shapely.area(shapely.intersection(cells, demo["land"]))
    palette = [c.colour for c in time_classes((5, 10, 15, 30))]
    faces = [mcolors.to_hex(f) for f in coll.get_facecolor()]
    painted = {palette.index(f): _path_area(p) for f, p in zip(faces, coll.get_paths(), strict=True)}
    assert len(painted) >= 4
    for i, area in painted.items():
        assert area == pytest.approx(inside[classes == i].sum(), rel=1e-6, abs=1.0)
    # nothing is painted outside the residential land: whole cells would cover far more
    assert sum(painted.values()) == pytest.approx(demo["land"].area, rel=1e-6)
    assert shapely.area(cells).sum() > 1.5 * demo["land"].area


def test_classes_follow_the_search_cut_off(demo):
    """A search cut at 15 min cannot show 15–30 min: the last class is "> 15 分钟或不可达"."""
    units = demo["units"]
    cut = demo["cut_times"]
    assert cut.attrs["max_time_min"] == 15
    fig = static.travel_time_map(units, cut, "kindergarten", threshold_min=15, data_date="2020")
    rows = _legend_rows(fig)
    assert not any(r.startswith("15–30") for r in rows)
    last = next(r for r in rows if r.startswith("> 15"))
    assert "或不可达" in last and "search limit" in last
    t = cut["kindergarten"].to_numpy()
    w = units["area_m2"].to_numpy()
    assert _percent(last, "search limit）") == pytest.approx(100 * w[np.isinf(t)].sum() / w.sum(), abs=0.051)
    # told which places have no path, the cut search shows them apart from "beyond the search"
    no_path = ~np.isfinite(demo["times"]["kindergarten"].to_numpy())
    fig = static.travel_time_map(units, cut, "kindergarten", threshold_min=15, unreachable=no_path, data_date="2020")
    rows = _legend_rows(fig)
    beyond = next(r for r in rows if r.startswith("> 15"))
    assert "超出搜索范围" in beyond
    assert _percent(beyond, "beyond the search）") == pytest.approx(100 * w[np.isinf(t) & ~no_path].sum() / w.sum(), abs=0.051)
    assert _percent(next(r for r in rows if r.startswith("不可达")), "no path）") == pytest.approx(
        100 * w[no_path].sum() / w.sum(), abs=0.051
    )
    # times whose search limit is unknown are refused rather than mislabelled
    bare = pd.DataFrame({"kindergarten": cut["kindergarten"].to_numpy()}, index=units.index)
    with pytest.raises(mg.InputError, match="max_time_min"):
        static.travel_time_map(units, bare, "kindergarten")


def test_basemap_layers_and_labels_are_drawn_without_overlaps(demo, tt_map):
    ax = tt_map.axes[0]
    gids = {c.get_gid() for c in ax.collections}
    for key in ("secondary", "branch", "minor", "path"):
        assert f"basemap-road-{key}" in gids
    assert {"basemap-landuse-residential", "basemap-buildings", "basemap-green", "units"} <= gids
    base_rows = _legend_rows(tt_map, "basemap-legend")
    assert "居住 residential" in base_rows and "建筑 buildings" in base_rows and "次干路 secondary" in base_rows
    # the buildings drawn are the extract's: as many footprints as building polygons in view
    renderer = tt_map.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_gid() in ("label-street", "label-facility", "label-gap")]
    assert len(labels) >= 4
    boxes = [t.get_window_extent(renderer) for t in labels]
    for b in boxes:  # inside the map frame
        assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
    polys = [shapely.box(b.x0, b.y0, b.x1, b.y1) for b in boxes]
    horizontal = [p for p, t in zip(polys, labels, strict=True) if t.get_rotation() == 0]
    for a, b in itertools.pairwise(horizontal):
        assert not a.intersects(b) or a.intersection(b).area < 1.0
    # no facility label covers a facility symbol
    sym = np.vstack([c.get_offsets() for c in ax.collections if str(c.get_gid()).startswith("facilities")])
    pts = ax.transData.transform(sym)
    for t in (t for t in labels if t.get_gid() == "label-facility"):
        b = t.get_window_extent(renderer)
        assert not ((pts[:, 0] > b.x0 + 1) & (pts[:, 0] < b.x1 - 1) & (pts[:, 1] > b.y0 + 1) & (pts[:, 1] < b.y1 - 1)).any()


def test_basemap_from_osm_keeps_the_extract_streets_by_class_and_their_names():
    path = shared_path(OSM_FILES["guixi_pbf"])
    ext = mg.sources.read_osm(path)
    town = gpd.read_file(shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson"))
    crs = mg.crs.metric_crs(town)
    bm = basemap_from_osm(ext, area=town, crs=crs, margin_m=500)
    assert bm.crs.to_epsg() == 4548
    # independently: the extract's ways by highway value, clipped to the same box
    x0, y0, x1, y1 = town.to_crs(crs).total_bounds
    box = shapely.box(x0 - 500, y0 - 500, x1 + 500, y1 + 500)
    lines = ext.way_lines().to_crs(crs)
    hit = lines.intersects(box).to_numpy()
    primary = int((ext.ways["highway"].isin(["primary", "primary_link"]).to_numpy() & hit).sum())
    assert primary > 0
    assert int((bm.roads["road_class"] == "arterial").sum()) == primary
    named = set(ext.ways.loc[hit & ext.ways["name"].notna().to_numpy(), "name"])
    assert set(bm.roads["name"].dropna()) == named
    assert "冶金大道" in set(bm.named_roads()["name"])
    assert len(bm.water) and (bm.water["kind"] == "river").any()  # the Xin river through Guixi
    assert bm.roads.geometry.within(box.buffer(1e-6)).all()
    # the network's own streets when no extract is at hand
    net = mg.network.from_osm(ext, mode="walk", boundary=town)
    streets = basemap_from_network(net)
    assert len(streets.roads) == net.n_edges and set(streets.roads["road_class"]) <= {c.key for c in ROAD_CLASSES}
    with pytest.raises(mg.InputError, match="OSMExtract"):
        basemap_from_osm(path, area=town, crs=crs)
    with pytest.raises(mg.CRSError):
        basemap_from_osm(ext, area=town, crs=4326)


# ---------------------------------------------------------------------------------------
# Scale, north arrow, the sheet
# ---------------------------------------------------------------------------------------


def _map_mm(fig) -> tuple[float, float]:
    ax = fig.axes[0]
    pos = ax.get_position()
    w_in, h_in = fig.get_size_inches()
    return pos.width * w_in * 25.4, pos.height * h_in * 25.4


def test_the_scale_is_true_and_round(tt_map, demo):
    ax = tt_map.axes[0]
    ratio = _text(tt_map, "scale-ratio").get_text()
    denominator = float(ratio.split(":")[1].replace(" ", ""))
    mantissa = denominator / 10 ** math.floor(math.log10(denominator))
    assert mantissa in (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5)
    # a kilometre east–west through the centre, measured on the ellipsoid, against its length on paper
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    to_ll = Transformer.from_crs(demo["units"].crs, 4326, always_xy=True)
    (la, pa), (lb, pb) = to_ll.transform(cx - 500, cy), to_ll.transform(cx + 500, cy)
    ground_m = Geod(ellps="WGS84").inv(la, pa, lb, pb)[2]
    w_mm, _ = _map_mm(tt_map)
    paper_mm = 1000 / (x1 - x0) * w_mm
    assert ground_m / (paper_mm / 1000) == pytest.approx(denominator, rel=1e-4)
    # the bar: its length on paper times the scale is the length it is labelled with
    bars = [p for p in tt_map.patches if p.get_gid() == "scale-bar"]
    bar_mm = sum(p.get_width() for p in bars) * tt_map.get_size_inches()[0] * 25.4
    value, unit = _text(tt_map, "scale-bar-label").get_text().split()
    metres = float(value) * {"m": 1.0, "km": 1000.0}[unit]
    assert bar_mm * denominator / 1000 == pytest.approx(metres, rel=1e-9)
    assert metres / 10 ** math.floor(math.log10(metres)) in (1.0, 2.0, 5.0)


def test_scale_bar_north_arrow_legend_and_inset_cover_nothing(tt_map):
    renderer = tt_map.canvas.get_renderer()
    frame = tt_map.axes[0].get_window_extent(renderer)
    furniture = [p.get_window_extent(renderer) for p in tt_map.patches if p.get_gid() in ("scale-bar", "north-arrow")]
    furniture += [lg.get_window_extent(renderer) for lg in tt_map.legends]
    furniture += [t.get_window_extent(renderer) for t in tt_map.texts if str(t.get_gid()).startswith(("scale", "north"))]
    assert len(furniture) >= 8
    for b in furniture:
        assert b.x0 >= frame.x1 or b.x1 <= frame.x0 or b.y0 >= frame.y1 or b.y1 <= frame.y0, b


def _arrow_angle_deg(fig) -> float:
    """Clockwise angle of the north arrow from the top of the sheet, from its drawn path."""
    fig.canvas.draw()
    arrow = next(p for p in fig.patches if p.get_gid() == "north-arrow")
    verts = arrow.get_transform().transform(arrow.get_path().vertices)  # display coordinates: tail, then the head
    dx, dy = verts[1] - verts[0]
    return math.degrees(math.atan2(dx, dy))


def test_north_arrow_points_to_true_north(demo):
    """The demo town lies 6° east of UTM zone 34's central meridian: true north is turned there."""
    from pyproj import Proj

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


def test_the_sheet_turns_with_the_town_and_the_town_fills_it(demo):
    town = demo["bounds"][demo["bounds"]["kind"] == "镇域"].to_crs(demo["net"].crs)
    x0, y0, x1, y1 = town.total_bounds
    w = x1 - x0
    tall = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[shapely.box(x0, y0, x0 + 0.35 * w, y1)], crs=town.crs)
    wide = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[shapely.box(x0, y0, x1, y0 + 0.3 * (y1 - y0))], crs=town.crs)
    for layer, size in ((tall, (8.27, 11.69)), (wide, (11.69, 8.27))):
        fig = static.layers_map([(layer, None, "镇域")], boundaries=layer, data_date="2020")
        assert tuple(np.round(fig.get_size_inches(), 2)) == size
        ax = fig.axes[0]
        bx0, by0, bx1, by1 = layer.total_bounds
        fill = max((bx1 - bx0) / np.ptp(ax.get_xlim()), (by1 - by0) / np.ptp(ax.get_ylim()))
        assert 0.7 <= fill <= 1.0  # a round scale, a little margin: the town fills the frame
    fig = static.layers_map([(wide, None, "镇域")], boundaries=wide, paper="A3", data_date="2020")
    assert tuple(np.round(fig.get_size_inches(), 2)) == (16.54, 11.69)
    fig = static.layers_map([(tall, None, "镇域")], boundaries=tall, orientation="landscape", data_date="2020")
    assert tuple(np.round(fig.get_size_inches(), 2)) == (11.69, 8.27)


def test_an_overview_inset_where_the_town_is_small(demo):
    """A 1 km² part of Guixi: the inset shows where it lies in the streets around it; the demo town needs none."""
    path = shared_path(OSM_FILES["guixi_pbf"])
    ext = mg.sources.read_osm(path)
    lon, lat = (ext.bounds[0] + ext.bounds[2]) / 2, (ext.bounds[1] + ext.bounds[3]) / 2
    crs = mg.crs.metric_crs((lon, lat, lon, lat))
    cx, cy = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    town = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[shapely.box(cx - 500, cy - 500, cx + 500, cy + 500)], crs=crs)
    bm = basemap_from_osm(ext, area=town, crs=crs, margin_m=1500)
    fig = static.layers_map([(town, {"facecolor": "none"}, "镇域")], boundaries=town, basemap=bm, data_date="2024")
    insets = [a for a in fig.axes if a.get_gid() == "inset"]
    assert len(insets) == 1
    view = next(p for p in insets[0].patches if p.get_gid() == "inset-view")
    ax = fig.axes[0]
    assert view.get_x() == pytest.approx(ax.get_xlim()[0]) and view.get_width() == pytest.approx(np.ptp(ax.get_xlim()))
    ix0, ix1 = insets[0].get_xlim()
    assert ix1 - ix0 > 2 * np.ptp(ax.get_xlim())
    fig = static.layers_map(
        [(demo["bounds"], None, "b")], boundaries=demo["bounds"], basemap=demo["basemap"], crs=demo["net"].crs, data_date="x"
    )
    assert not [a for a in fig.axes if a.get_gid() == "inset"]


@pytest.mark.skipif(not HAS_PDFTOTEXT, reason="pdftotext (Debian package poppler-utils) is not installed")
def test_hostile_and_long_town_names_print_literally_and_fit(demo, tmp_path):
    hostile = "<b>\"&'$\\frac{$"
    long_zh = "浙江省某某市某某县某某镇人民政府关于现代化美丽城镇建设十五分钟生活圈规划实施方案专题研究附图"
    assert len(long_zh) >= 40
    fig = static.coverage_map(
        demo["units"],
        demo["times"]["bus_stop"] <= 5,
        title_zh=f"{hostile} {long_zh}",
        boundaries=demo["bounds"],
        data_date="2020",
    )
    title = _text(fig, "map-title")
    assert title.get_text().replace("\n", " ").startswith(hostile)
    renderer = fig.canvas.get_renderer()
    frame = next(p for p in fig.patches if p.get_gid() == "sheet-frame").get_window_extent(renderer)
    assert title.get_window_extent(renderer).x1 <= frame.x1
    assert title.get_fontsize() >= 7
    _, pdf = static.save_figure(fig, tmp_path / "hostile")
    flat = _squash(_pdf_text(pdf))
    assert _squash(hostile) in flat and long_zh[:20] in flat


def test_counts_print_as_whole_numbers(demo):
    fig = static.facilities_map(demo["fac"], boundaries=demo["bounds"], crs=demo["net"].crs, data_date="2020")
    rows = _legend_rows(fig)
    counted = [r for r in rows if "处" in r]
    assert counted and all(re.search(r"\d 处", r) for r in counted)
    assert not any(re.search(r"\d\.\d+ 处", r) for r in rows)
    n_bus = int((demo["fac"]["category"] == "bus_stop").sum())
    bus = next(r for r in counted if r.startswith("公交站点"))
    shown = int(re.search(r"(\d+) 处", bus).group(1))
    outside = int(re.search(r"另 (\d+) 处", bus).group(1)) if "另" in bus else 0
    assert shown + outside == n_bus
    parks = mg.parks.from_osm(demo["extract"])
    fig = static.layers_map([(parks, None, "公园 parks {n} 处")], boundaries=demo["bounds"], data_date="2020")
    assert f"公园 parks {len(parks)} 处" in _legend_rows(fig)


# ---------------------------------------------------------------------------------------
# Life circles (k of n), gaps, coverage
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def circle(demo, demo_osm):
    prof = mg.standards.load()
    units = demo["units"].assign(pop=demo["units"]["res_area_m2"] / 50.0)  # a known weight: 1 person per 50 m²
    fac = mg.facilities.from_osm(demo_osm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.lifecircle.reach(demo["net"], fac, profile=prof, circle="15min", max_time_min=np.inf)
        times = mg.lifecircle.times_at(r, units, profile=prof, circle="15min")
    assessed = mg.lifecircle.assess(times, units, profile=prof, circle="15min")
    return prof, units, fac, times, assessed


def test_life_circle_map_grades_k_of_n(demo, circle):
    prof, units, fac, times, assessed = circle
    n = len(prof.circles["15min"].required)
    fig = static.life_circle_map(
        assessed, assessed["n_reached"], n, weight="res_area_m2", land=demo["land"], facilities=fac, boundaries=demo["bounds"]
    )
    w = units["res_area_m2"].to_numpy()
    cov = mg.lifecircle.coverage(times, units, profile=prof, circle="15min", weight="res_area_m2")
    sub = _text(fig, "map-subtitle").get_text()
    assert _percent(sub, f"all {n} categories") == pytest.approx(100 * cov.loc[mg.lifecircle.CIRCLE, "rate"], abs=0.051)
    k = assessed["n_reached"].to_numpy()
    assert len(set(k)) >= 2
    rows = _legend_rows(fig)
    for i in range(n + 1):
        row = next(r for r in rows if r.startswith(f"{i}/{n} 类"))
        assert _percent(row, "类") == pytest.approx(100 * w[k == i].sum() / w.sum(), abs=0.051)
    # a graded scale: from red for none to green for all
    coll = next(c for c in fig.axes[0].collections if c.get_gid() == "units")
    assert len(coll.get_paths()) == len(set(k))
    r0, g0, _ = mcolors.to_rgb(static._grades(n + 1)[0])
    r1, g1, _ = mcolors.to_rgb(static._grades(n + 1)[-1])
    assert r0 > g0 and g1 > r1


def test_villages_are_dots_with_their_names(demo):
    """The 30-minute circle is measured from villages: each a dot in its grade, named, counted once."""
    pts = demo["fac"][demo["fac"]["category"] == "bus_stop"].to_crs(demo["net"].crs).head(3)
    villages = gpd.GeoDataFrame(
        {"name": ["Kylä A", "村庄 B", "<b>村 C"], "n_reached": [0, 2, 3]}, geometry=pts.geometry.values, crs=pts.crs
    )
    fig = static.life_circle_map(villages, villages["n_reached"], 3, boundaries=demo["bounds"], data_date="2020")
    ax = fig.axes[0]
    dots = next(c for c in ax.collections if c.get_gid() == "units-points")
    assert len(dots.get_offsets()) == 3
    assert {t.get_text() for t in _texts(fig, "label-unit")} == set(villages["name"])
    assert "按单元数 by unit count" in _text(fig, "map-subtitle").get_text()
    assert _percent(next(r for r in _legend_rows(fig) if r.startswith("3/3")), "类") == pytest.approx(100 / 3, abs=0.051)


def test_gaps_are_hatched_and_labelled_with_the_land_and_people_left_out(demo, circle):
    prof, _units, _fac, times, assessed = circle
    gaps = mg.lifecircle.gaps(assessed, profile=prof, circle="15min", by="category")
    kg = gaps[gaps["category"] == "kindergarten"]
    assert len(kg)
    fig = static.travel_time_map(
        assessed,
        times,
        "kindergarten",
        threshold_min=15,
        weight="res_area_m2",
        land=demo["land"],
        gaps=kg,
        boundaries=demo["bounds"],
        data_date="2020",
    )
    assert any(c.get_gid() == "gaps" and c.get_hatch() for c in fig.axes[0].collections)
    big = kg.sort_values("res_area_m2", ascending=False).iloc[0]
    want = f"未覆盖 {big['res_area_m2'] / 1e4:.1f} ha · {round(big['pop']):,} 人"
    assert want in [t.get_text() for t in _texts(fig, "label-gap")]
    sub = _text(fig, "map-subtitle").get_text()
    assert f"{kg['res_area_m2'].sum() / 1e4:.1f} ha" in sub and f"{round(kg['pop'].sum()):,} 人" in sub


def test_coverage_map_rate(demo):
    units = demo["units"]
    covered = demo["times"]["bus_stop"] <= 5
    fig = static.coverage_map(units, covered, boundaries=demo["bounds"], title_zh="5分钟 公交站", data_date="2020")
    area = units["area_m2"].to_numpy()
    expected = 100 * area[covered.to_numpy()].sum() / area.sum()
    subtitle = _text(fig, "map-subtitle").get_text()
    assert _percent(subtitle, "覆盖率 Coverage") == pytest.approx(expected, abs=0.051)
    assert "按面积 area-weighted" in subtitle
    assert f"未覆盖 not covered: {int((~covered).sum()):,}" in subtitle
    weighted = units.assign(pop=np.arange(len(units), dtype=float))
    fig = static.coverage_map(weighted, covered, weight="pop", data_date="2020")
    pop = weighted["pop"].to_numpy()
    assert _percent(_text(fig, "map-subtitle").get_text(), "Coverage") == pytest.approx(
        100 * pop[covered.to_numpy()].sum() / pop.sum(), abs=0.051
    )


def test_many_cells_draw_as_one_shape_per_class_quickly(demo):
    units = mg.demand.grid(demo["builtup"], cell_m=12)
    assert len(units) > 5000
    times = pd.DataFrame({"x": np.linspace(0, 40, len(units))}, index=units.index)
    start = time.perf_counter()
    fig = static.travel_time_map(units, times, "x", max_time_min=60, data_date="2020")
    fig.canvas.draw()
    elapsed = time.perf_counter() - start
    coll = next(c for c in fig.axes[0].collections if c.get_gid() == "units")
    assert len(coll.get_paths()) == 5  # ≤ 5, 5–10, 10–15, 15–30, 30–60: no class beyond a 60-minute search here
    assert sum(_path_area(p) for p in coll.get_paths()) == pytest.approx(
        len(units) * 12.0**2, rel=1e-9
    )  # no land given: whole cells
    assert elapsed < 15.0  # about a second on a quiet laptop; generous for a shared 2-core machine


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
    assert "EPSG:32635" in _text(fig, "map-crs").get_text()
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
    assert str(crs.to_epsg()) in _text(fig, "map-crs").get_text()
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
    with pytest.raises(mg.InputError, match="no 'people' column for weight='people'"):
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
    with pytest.raises(mg.InputError, match="paper"):
        static.layers_map([(units, None, "x")], paper="Letter")
    with pytest.raises(mg.InputError, match="orientation"):
        static.layers_map([(units, None, "x")], orientation="sideways")
    with pytest.raises(mg.InputError, match="n_reached"):
        static.life_circle_map(units, np.full(len(units), 7), 5)
    with pytest.raises(mg.InputError, match="basemap_from_osm"):
        static.travel_time_map(units, times, "kindergarten", basemap="streets.osm.pbf")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# A whole run: plan figures on the run's own basemap
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not HAS_PDFTOTEXT, reason="pdftotext (Debian package poppler-utils) is not installed")
def test_a_run_writes_plan_figures_on_its_own_basemap(tmp_path):
    path = mg.demo.demo_study(tmp_path / "study", town="karhula")
    st = mg.study.load_study(path)
    st = st.model_copy(
        update={
            "demand": st.demand.model_copy(update={"cell_m": 100.0}),
            "siting": st.siting.model_copy(update={"enabled": False}),
            "outputs": st.outputs.model_copy(update={"maps": False, "rasters": False, "tiles": False}),
        }
    )
    result = mg.study.run(st, out=tmp_path / "out")
    maps = tmp_path / "out" / "maps"
    names = {p.stem for p in maps.glob("*.pdf")}
    assert {"15min_coverage", "5min_coverage", "15min_childcare", "15min_elderly_care", "facilities"} <= names
    assert {p.stem for p in maps.glob("*.png")} == names
    # the basemap came from the run's own extract, read once with its buildings
    assert result.basemap is not None and len(result.basemap.buildings) > 1000
    # the childcare map: the search ran past 15 minutes, so the 15–30 class is measured (it read 0 % when it stopped at 15)
    text = _squash(_pdf_text(maps / "15min_childcare.pdf"))
    m = re.search(r"15–30分钟min([0-9.]+)%", text)
    units = result.layers["units_15min"]
    t, w = units["time_min_childcare"].to_numpy(), units["res_area_m2"].to_numpy()
    assert m and float(m.group(1)) > 5
    assert float(m.group(1)) == pytest.approx(100 * w[(t > 15) & (t <= 30)].sum() / w.sum(), abs=0.051)
    assert ">30分钟min" in text and "不可达" in text
    # the overview names the facilities it shows
    fac_text = _squash(_pdf_text(maps / "facilities.pdf"))
    shown = [n for n in result.layers["facilities"]["name"].dropna() if _squash(n) in fac_text]
    assert len(shown) >= 3


def _street_labels(fig) -> list[tuple[str, float, float, float]]:
    return [(t.get_text(), *t.get_position(), t.get_rotation()) for t in fig.axes[0].texts if t.get_gid() == "label-street"]


def _drawn(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_street_label_places_are_shared_by_a_towns_sheets_and_never_by_the_next_town(demo):
    """Where street names may go is worked out once per view of a town's basemap: a sheet drawn from the
    kept places is the sheet drawn without them, and another town's basemap (here the same streets
    under other names, so the same view and page) never gets the first town's places or names."""
    from dataclasses import replace

    kw = {"boundaries": demo["bounds"], "facilities": demo["fac"], "land": demo["land"], "data_date": "2020-06"}

    def sheets(bm):
        tt = static.travel_time_map(demo["units"], demo["times"], "kindergarten", basemap=bm, **kw)
        cov = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, basemap=bm, **kw)
        return tt, cov

    town_a = replace(demo["basemap"], _cache={})
    roads = town_a.roads.copy()
    roads["name"] = roads["name"].map(lambda n: f"乙{n}" if isinstance(n, str) else n)
    town_b = replace(town_a, roads=roads, _cache={})
    # town B on its own: each sheet laid out without kept places
    alone = [sheets(replace(town_b, _cache={}))[i] for i in (0, 1)]
    alone = [(_street_labels(f), _drawn(f)) for f in alone]
    # town A, then town B, as a batch worker draws them
    a_tt, a_cov = sheets(town_a)
    assert len([k for k in town_a._cache if k[0] == "street-spots"]) == 1  # the second sheet used the first's places
    a_fresh = static.coverage_map(
        demo["units"], demo["times"]["bus_stop"] <= 5, basemap=replace(demo["basemap"], _cache={}), **kw
    )
    assert _street_labels(a_cov) == _street_labels(a_fresh)
    assert np.array_equal(_drawn(a_cov), _drawn(a_fresh))
    a_names = {t for t, *_ in _street_labels(a_tt)}
    assert len(a_names) >= 2 and not any(t.startswith("乙") for t in a_names)
    b_tt, b_cov = sheets(town_b)
    for fig, (labels, pixels) in zip((b_tt, b_cov), alone, strict=True):
        got = _street_labels(fig)
        assert got == labels
        assert got and all(t.startswith("乙") for t, *_ in got)
        assert np.array_equal(_drawn(fig), pixels)


def test_the_measured_land_is_merged_once_for_a_towns_sheets_and_never_reused_for_other_land(demo, demo_osm):
    """The union of the measured land is kept for the last land given only: the same polygons give the
    kept union, any other land (another town's, or the same layer edited in place) its own."""
    crs = demo["net"].crs
    res = mg.demand.residential_from_osm(demo_osm).to_crs(crs)
    town_a = res.reset_index(drop=True)
    town_b = town_a.iloc[: len(town_a) // 2].copy()
    assert len(town_b) >= 2

    def union(gdf):  # the independent route: every polygon merged anew
        return shapely.union_all(shapely.make_valid(gdf.geometry.to_numpy()))

    first = static._land_geometry(town_a, crs)
    assert shapely.equals_exact(first, union(town_a), tolerance=0)
    assert static._land_geometry(town_a.copy(), crs) is first  # equal polygons: the kept union
    b = static._land_geometry(town_b, crs)
    assert shapely.equals_exact(b, union(town_b), tolerance=0)
    assert not shapely.equals(b, first)
    edited = town_b.copy()
    edited.loc[edited.index[0], "geometry"] = shapely.transform(edited.geometry.iloc[0], lambda xy: xy + np.array([25.0, 0.0]))
    moved = static._land_geometry(edited, crs)
    assert shapely.equals_exact(moved, union(edited), tolerance=0) and not shapely.equals(moved, b)
    again = static._land_geometry(town_a, crs)  # back to the first town: merged anew, the same union
    assert again is not first and shapely.equals_exact(again, first, tolerance=0)


def _png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


@pytest.fixture
def underlay_calls(monkeypatch):
    """How often a PNG reused the kept page and under-layers, kept them, or was drawn again."""
    calls = {"reuse": 0, "keep": 0, "redraw": 0}
    reuse, keep, leave = static._Underlay._reuse, static._Underlay._keep, static._Underlay.__exit__

    def count(name, method):
        def wrapped(self, *args):
            calls[name] += 1
            return method(self, *args)

        return wrapped

    def exit_(self, *args):
        out = leave(self, *args)
        calls["redraw"] += self.redraw
        return out

    monkeypatch.setattr(static._Underlay, "_reuse", count("reuse", reuse))
    monkeypatch.setattr(static._Underlay, "_keep", count("keep", keep))
    monkeypatch.setattr(static._Underlay, "__exit__", exit_)
    monkeypatch.setattr(static._UNDERLAY, "last", None, raising=False)
    monkeypatch.setattr(static._Overlay, "find", lambda self: [])  # the under-layers' pixels alone, exactly
    return calls


def _demo_town_sheets(demo, bm, *, last):
    """Three sheets of the demo town on the basemap ``bm``: travel time to kindergartens, bus-stop
    coverage, and either the facilities (``last="facilities"``) or kindergarten coverage."""
    kw = {"boundaries": demo["bounds"], "land": demo["land"], "data_date": "2020-06"}
    sheets = [
        static.travel_time_map(demo["units"], demo["times"], "kindergarten", basemap=bm, facilities=demo["fac"], **kw),
        static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, basemap=bm, **kw),
    ]
    if last == "facilities":
        kw = {"boundaries": demo["bounds"], "crs": demo["net"].crs, "data_date": "2020-06"}
        return [*sheets, static.facilities_map(demo["fac"], basemap=bm, **kw)]
    return [*sheets, static.coverage_map(demo["units"], demo["times"]["kindergarten"] <= 10, basemap=bm, **kw)]


def test_a_towns_sheets_reuse_the_pixels_of_the_basemaps_under_layers_and_look_as_drawn_whole(demo, tmp_path, underlay_calls):
    """The PNGs of a town's sheets after the first take the page with the basemap's land use, green land
    and water from the first sheet's draw: each decodes to the pixels of its whole figure drawn anew,
    and the next town's basemap (other paths, here the same data) draws its own."""
    from dataclasses import replace

    def sheets(bm):
        return _demo_town_sheets(demo, bm, last="facilities")

    town_a = sheets(replace(demo["basemap"], _cache={}))
    run = static._Underlay(town_a[0], static._unseen_background(town_a[0])).run
    gids = [a.get_gid() for a in run]
    assert gids[-1] == "basemap-green" and all(g.startswith("basemap-landuse-") for g in gids[:-1]) and len(gids) >= 3
    assert all(a.get_zorder() < 1.0 for a in run)  # all under the indicator
    town_b = sheets(replace(demo["basemap"], _cache={}))
    for i, fig in enumerate(town_a + town_b):
        png, _ = static.save_figure(fig, tmp_path / f"sheet{i}")
        assert np.array_equal(_png_pixels(png), _drawn(fig)[..., :3])
    assert underlay_calls == {"reuse": 4, "keep": 2, "redraw": 0}  # each town's first sheet draws them


def test_under_layers_changed_after_the_first_sheet_are_drawn_not_reused(demo, tmp_path, underlay_calls):
    """A layer recoloured, a path that may change in place, another view: drawn, never the kept pixels."""
    from dataclasses import replace

    bm = replace(demo["basemap"], _cache={})
    kw = {"boundaries": demo["bounds"], "land": demo["land"], "data_date": "2020-06", "basemap": bm}
    first, same, recoloured, writable = (
        static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= m, **kw) for m in (5, 6, 7, 8)
    )
    farmland = next(a for a in recoloured.axes[0].collections if a.get_gid() == "basemap-landuse-farmland")
    farmland.set_facecolor("#ff00ff")
    green = next(a for a in writable.axes[0].collections if a.get_gid() == "basemap-green")
    green.set_paths([static.MplPath(np.array(p.vertices), p.codes) for p in green.get_paths()])
    assert static._layer_state(green) is None
    assert static._Underlay(writable, static._unseen_background(writable)).run[-1].get_gid() != "basemap-green"
    bigger = demo["bounds"].to_crs(demo["net"].crs)
    bigger["geometry"] = bigger.geometry.buffer(300.0)
    other_view = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, **{**kw, "boundaries": bigger})
    for i, fig in enumerate((first, same, recoloured, writable, other_view)):
        png, _ = static.save_figure(fig, tmp_path / f"sheet{i}")
        assert np.array_equal(_png_pixels(png), _drawn(fig)[..., :3])
    assert underlay_calls == {"reuse": 1, "keep": 4, "redraw": 0}  # only `same` reused the first's


def test_a_sheet_whose_under_layers_change_while_it_is_drawn_is_drawn_again(demo, tmp_path, underlay_calls):
    """The kept pixels are checked again as the first layer is drawn: a sheet that matched before its draw
    and not within it (here its axes' limits move as the aspect is applied) is drawn again, whole."""
    from dataclasses import replace

    bm = replace(demo["basemap"], _cache={})
    kw = {"boundaries": demo["bounds"], "land": demo["land"], "data_date": "2020-06", "basemap": bm}
    first, second = (static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= m, **kw) for m in (5, 6))
    static.save_figure(first, tmp_path / "first")
    ax = second.axes[0]
    x0, x1 = ax.get_xlim()
    apply_aspect = ax.apply_aspect

    def moved(position=None):
        apply_aspect(position)
        ax.set_xlim(x0 + 40.0, x1 + 40.0)

    ax.apply_aspect = moved
    png, _ = static.save_figure(second, tmp_path / "second")
    assert underlay_calls == {"reuse": 1, "keep": 1, "redraw": 1}
    assert static._UNDERLAY.last is None  # nothing kept from a draw that was given up
    assert np.array_equal(_png_pixels(png), _drawn(second)[..., :3])


# ---------------------------------------------------------------------------------------
# Legend labels measured at 10 pt: matplotlib's Agg widths, as few as the choice needs
# ---------------------------------------------------------------------------------------


def _sheet_words(fig, demo) -> list[str]:
    """The legend labels and titles of a sheet and the basemap's street names: texts of real maps."""
    words = [t.get_text() for lg in fig.legends for t in [*lg.get_texts(), lg.get_title()]]
    words += [str(n) for n in demo["basemap"].named_roads()["name"]]
    return [w for w in dict.fromkeys(words) if w]


def test_text_extents_measured_without_drawing_are_the_renderers(tt_map, demo, monkeypatch):
    """Each extent is the one the map renderer gives (matplotlib's Agg measurement), cold and kept, at the
    legend's sizes and at 10 pt, for the labels of a real sheet and the town's street names."""
    from matplotlib.backends.backend_agg import RendererAgg

    monkeypatch.setattr(static, "_TEXT_EXTENTS", {})
    renderer = tt_map.canvas.get_renderer()
    words = _sheet_words(tt_map, demo)
    assert len(words) >= 20
    for size_pt in (10.0, 7.5, 6.0, 5.0):
        prop = _fonts.cjk_font(size_pt=size_pt)
        for w in words:
            assert static._text_extent_px(renderer, w, prop, measure=False) is None  # not kept yet
            expected = renderer.get_text_width_height_descent(w, prop, ismath=False)
            assert static._text_extent_px(renderer, w, prop) == expected
            assert static._text_extent_px(renderer, w, prop) == expected  # kept
            assert RendererAgg.get_text_width_height_descent(renderer, w, prop, ismath=False) == expected
    assert len(static._TEXT_EXTENTS) == 4 * len(words)
    # another resolution is another width, not the kept one
    fig = Figure(figsize=(2, 2), dpi=72)
    other = static.MapCanvas(fig).get_renderer()
    prop = _fonts.cjk_font(size_pt=10.0)
    assert static._text_extent_px(other, words[0], prop) == other.get_text_width_height_descent(words[0], prop, ismath=False)
    assert static._text_extent_px(other, words[0], prop)[0] < static._text_extent_px(renderer, words[0], prop)[0]


def test_kept_text_extents_are_bounded_least_recently_used_first(tt_map, monkeypatch):
    monkeypatch.setattr(static, "_TEXT_EXTENTS", {})
    monkeypatch.setattr(static, "_TEXT_EXTENTS_MAX", 3)
    renderer = tt_map.canvas.get_renderer()
    prop = _fonts.cjk_font(size_pt=10.0)
    for w in ("镇域 town", "建成区 built-up", "水域 water"):
        static._text_extent_px(renderer, w, prop)
    static._text_extent_px(renderer, "镇域 town", prop)  # used again: the last to go
    static._text_extent_px(renderer, "道路 roads", prop)
    assert [k[0] for k in static._TEXT_EXTENTS] == ["水域 water", "镇域 town", "道路 roads"]


def test_legend_label_widths_answer_as_every_label_measured_from_fewer_measurements(tt_map, demo, monkeypatch):
    """Whether the longest label is too wide for a room: the same answer as the largest of all widths at
    10 pt scaled, at the room's very edge (one unit in the last place either side), for the labels of real
    sheets; a label set with one label too wide is answered without measuring all of them."""
    from matplotlib.backends.backend_agg import RendererAgg

    renderer = tt_map.canvas.get_renderer()
    prop10 = _fonts.cjk_font(size_pt=10.0)
    words = _sheet_words(tt_map, demo)
    sets = [words[:6], words[6:14], words, [*words[:5], words[0] + " " + "很长的名称" * 8]]
    measured: list[str] = []
    stock = RendererAgg.get_text_width_height_descent

    def counted(self, s, prop, ismath):
        measured.append(s)
        return stock(self, s, prop, ismath)

    monkeypatch.setattr(RendererAgg, "get_text_width_height_descent", counted)
    for labels in sets:
        widest = max(renderer.get_text_width_height_descent(lab, prop10, ismath=False)[0] for lab in labels)
        for size_pt in (7.5, 7.0, 6.0, 5.5):
            edge = widest * size_pt / 10.0
            for room in (np.nextafter(edge, -np.inf), edge, np.nextafter(edge, np.inf), edge * 0.5, edge * 2):
                monkeypatch.setattr(static, "_TEXT_EXTENTS", {})
                assert static._LabelWidths(renderer, labels)(size_pt, float(room)) == (edge > room)
    # one label far too wide: found first (it looks the widest), the others never measured
    monkeypatch.setattr(static, "_TEXT_EXTENTS", {})
    measured.clear()
    labels = sets[-1]
    assert static._LabelWidths(renderer, labels)(7.5, 700.0)
    assert measured == [labels[-1]]
    # a set that fits is measured whole, once, whatever the sizes asked after
    measured.clear()
    fits = static._LabelWidths(renderer, labels[:5])
    assert not fits(7.5, 5000.0)
    assert not fits(7.0, 5000.0)
    assert sorted(measured) == sorted(set(labels[:5]))
    assert not static._LabelWidths(renderer, [])(7.5, 1.0)


def test_legends_chosen_from_fewer_label_measurements_are_the_same_legends_and_pixels(demo, monkeypatch):
    """Sheets whose legends fit their first size, skip it, or skip every unwrapped size: the legends chosen
    (size, columns, texts, place) and the sheet's pixels are those of measuring every label at 10 pt."""

    class EveryLabel:  # every label measured by the renderer at 10 pt, the largest width compared
        def __init__(self, renderer, labels):
            prop10 = _fonts.cjk_font(size_pt=10.0)
            self.widths = [renderer.get_text_width_height_descent(lab, prop10, ismath=False)[0] for lab in labels]

        def __call__(self, size_pt, room_px):
            return bool(self.widths) and max(self.widths) * size_pt / 10.0 > room_px

    answers: list[bool] = []
    lazy = static._LabelWidths

    class Spied(lazy):  # type: ignore[misc,valid-type]
        def __call__(self, size_pt, room_px):
            answers.append(super().__call__(size_pt, room_px))
            return answers[-1]

    edges = demo["net"].edges
    words = [
        "walk",
        "network",
        "incl.",
        "footways",
        "steps",
        "squares",
        "and",
        "park",
        "paths",
        "along",
        "the",
        "river",
        "and",
        "the",
        "old",
    ]
    # chosen at 7.5 pt; at 7 pt; at 6.5 pt unwrapped; at 6.5 pt wrapped; at 6 pt wrapped
    variants = ["步行网络 " + " ".join(words[:k]) + " {km:.2f} km" for k in (2, 4, 5, 9, 15)]

    def sheet(label):
        return static.layers_map(
            [
                (edges, {"color": "#555555", "linewidth": 0.6}, label),
                (demo["fac"], {"marker": "^", "color": "#4575b4"}, "设施 facilities"),
            ],
            boundaries=demo["bounds"],
            basemap=demo["basemap"],
            title_zh="步行网络",
            title_en="Walk network",
            data_date="2020",
        )

    def chosen(fig):
        return [
            (lg.get_gid(), lg.prop.get_size(), lg._ncols, [t.get_text() for t in lg.get_texts()], lg.get_window_extent().bounds)
            for lg in fig.legends
        ]

    sizes = []
    for label in variants:
        monkeypatch.setattr(static, "_LabelWidths", Spied)
        monkeypatch.setattr(static, "_TEXT_EXTENTS", {})
        new = sheet(label)
        monkeypatch.setattr(static, "_LabelWidths", EveryLabel)
        old = sheet(label)
        assert chosen(new) == chosen(old)
        assert np.array_equal(_drawn(new), _drawn(old))
        texts = chosen(new)[0][3]
        sizes.append((chosen(new)[0][1], any("\n" in t for t in texts)))
    assert sizes == [(7.5, False), (7.0, False), (6.5, False), (6.5, True), (6.0, True)]
    assert True in answers and False in answers  # sizes skipped and sizes tried


def test_a_layer_drawn_alone_and_blended_has_the_pixels_agg_draws_it_with(demo, tt_map):
    """The blend is Agg's own: a street layer (one stroke, one blend per pixel) drawn on a transparent canvas
    and blended over a buffer gives, byte for byte, the pixels Agg draws it with on that buffer, for an
    opaque page and for pixels of any alpha."""
    from matplotlib.backends.backend_agg import RendererAgg

    layer = next(a for a in tt_map.axes[0].collections if a.get_gid() == "basemap-road-path")
    original_dpi = tt_map.dpi
    try:
        tt_map.dpi = 300
        w, h = tt_map.canvas.get_width_height(physical=True)
        alone = RendererAgg(w, h, 300)
        layer.draw(alone)
        pixels = static._OverPixels.of((), np.asarray(alone.buffer_rgba()), [])
        assert len(pixels.full) > 1000 and len(pixels.part) > 1000  # line middles and antialiased edges
        rng = np.random.default_rng(5)
        for page in ("opaque", "any alpha"):
            under = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
            if page == "opaque":
                under[..., 3] = 255
            agg = RendererAgg(w, h, 300)
            np.asarray(agg.buffer_rgba())[...] = under
            layer.draw(agg)
            blended = under.copy()
            pixels.over(blended)
            assert np.array_equal(blended, np.asarray(agg.buffer_rgba())), page
    finally:
        tt_map.dpi = original_dpi


@pytest.fixture
def overlay_calls(monkeypatch):
    """How often the over-layers were drawn alone and blended."""
    calls = {"drawn": 0, "blended": 0}
    of, over = static._OverPixels.of.__func__, static._OverPixels.over

    def of_(cls, *args):
        calls["drawn"] += 1
        return of(cls, *args)

    def over_(self, rgba):
        calls["blended"] += 1
        return over(self, rgba)

    monkeypatch.setattr(static._OverPixels, "of", classmethod(of_))
    monkeypatch.setattr(static._OverPixels, "over", over_)
    monkeypatch.setattr(static._OVERLAY, "last", [], raising=False)
    return calls


def _within_rounding(png: Path, drawn: np.ndarray, *, most: int = 2) -> float:
    """Check a PNG against the figure drawn whole: as drawn where no over-layer touches a pixel, at most
    ``most`` of 255 off elsewhere, on under 1 % of the sheet. Returns the share of pixels that differ."""
    ours = _png_pixels(png).astype(int)
    diff = np.abs(ours - drawn[..., :3]).max(axis=2).reshape(-1)
    touched = np.zeros(diff.size, bool)
    for kept in static._OVERLAY.last:
        touched[kept.full] = touched[kept.part] = True
    assert touched.any() and not diff[~touched].any()
    assert diff.max() <= most
    share = float((diff > 0).mean())
    assert share < 0.01
    return share


def test_a_towns_sheets_blend_the_basemaps_over_layers_drawn_once_and_look_as_drawn_whole(demo, tmp_path, overlay_calls):
    """The streets over the indicator are drawn alone once per town and view and blended into
    each PNG: the sheets look as drawn whole within rounding at antialiased edges where layers overlap,
    and the next town's basemap (other paths, here the same data) is drawn anew."""
    from dataclasses import replace

    def sheets(bm):
        return _demo_town_sheets(demo, bm, last="coverage")

    town_a = sheets(replace(demo["basemap"], _cache={}))
    overlay = static._Overlay(town_a[0], static._Underlay(town_a[0], static._unseen_background(town_a[0])).run)
    gids = [[a.get_gid() for a in run] for run in overlay.runs]
    assert any("basemap-road-casing-minor" in g and "basemap-road-minor" in g for g in gids)
    assert not any("basemap-buildings" in g for g in gids)  # filled and stroked: blends twice, drawn as it is
    indicator = next(a for a in town_a[0].axes[0].collections if a.get_gid() == "units")
    assert all(a.get_zorder() > indicator.get_zorder() for run in overlay.runs for a in run)
    town_b = sheets(replace(demo["basemap"], _cache={}))
    shares = []
    for i, fig in enumerate(town_a + town_b):
        png, _ = static.save_figure(fig, tmp_path / f"sheet{i}")
        shares.append(_within_rounding(png, _drawn(fig)))
    runs = len(overlay.runs)
    assert overlay_calls == {"drawn": 2 * runs, "blended": 6 * runs}  # each town's first sheet draws them
    assert max(shares) > 0  # overlapping layers do round differently: the check can see it


def test_over_layers_changed_between_sheets_are_drawn_anew(demo, tmp_path, overlay_calls):
    """A street class recoloured on the second sheet: its run is drawn anew with the new colour, the
    buildings' pixels are blended from the first sheet's."""
    from dataclasses import replace

    bm = replace(demo["basemap"], _cache={})
    kw = {"boundaries": demo["bounds"], "land": demo["land"], "data_date": "2020-06", "basemap": bm}
    first, recoloured = (static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= m, **kw) for m in (5, 6))
    minor = next(a for a in recoloured.axes[0].collections if a.get_gid() == "basemap-road-minor")
    minor.set_edgecolor("#ff00ff")
    pngs = [static.save_figure(fig, tmp_path / f"sheet{i}")[0] for i, fig in enumerate((first, recoloured))]
    runs = len(static._Overlay(first, static._Underlay(first, static._unseen_background(first)).run).runs)
    assert overlay_calls == {"drawn": runs + 1, "blended": 2 * runs}
    magenta = np.all(_png_pixels(pngs[1]) == (255, 0, 255), axis=2)
    assert magenta.sum() > 1000 and not np.all(_png_pixels(pngs[0]) == (255, 0, 255), axis=2).any()
    _within_rounding(pngs[1], _drawn(recoloured))


def test_a_sheet_whose_over_layers_move_while_it_is_drawn_is_drawn_again(demo, tmp_path, overlay_calls):
    """The runs are found again as they are drawn: a sheet whose layer order changes within its draw (here a
    label put among the streets as the aspect is applied) is drawn again whole, without blending."""
    from dataclasses import replace

    bm = replace(demo["basemap"], _cache={})
    kw = {"boundaries": demo["bounds"], "land": demo["land"], "data_date": "2020-06", "basemap": bm}
    sheet = static.coverage_map(demo["units"], demo["times"]["bus_stop"] <= 5, **kw)
    ax = sheet.axes[0]
    apply_aspect = ax.apply_aspect
    between = ax.text(0.5, 0.5, "x", transform=ax.transAxes, zorder=0.0)

    def moved(position=None):
        apply_aspect(position)
        between.set_zorder(3.03)  # between two casings

    ax.apply_aspect = moved
    assert static._Overlay(sheet).runs  # runs found before the draw
    redraws = []
    leave = static._Overlay.__exit__

    def exit_(self, *args):
        out = leave(self, *args)
        redraws.append(self.redraw)
        return out

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(static._Overlay, "__exit__", exit_)
            png, _ = static.save_figure(sheet, tmp_path / "sheet")
    finally:
        del ax.apply_aspect
    assert redraws == [True] and overlay_calls["blended"] == 0
    assert np.array_equal(_png_pixels(png), _drawn(sheet)[..., :3])


# ---------------------------------------------------------------------------------------
# Waterways: one stroked path per width, kept per view, among the over-layers
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def liechtenstein():
    """Liechtenstein's extract with buildings and its municipalities: rivers, canals, streams and ditches,
    the Rhine along the towns' western edges."""
    path = shared_path(OSM_FILES["liechtenstein"])
    return mg.sources.read_osm(path, buildings=True), mg.batch.towns_from_osm(path, admin_level="8")


def _town_sheets(liechtenstein, name, n=1):
    """Sheets of a municipality over its basemap: the town's land filled as an indicator would be (under
    the streets and waterways), its boundary drawn."""
    ext, towns = liechtenstein
    town = towns[towns["name"] == name].reset_index(drop=True)
    crs = mg.crs.metric_crs(town)
    bm = basemap_from_osm(ext, area=town, crs=crs, margin_m=1500)
    bounds = town[["geometry"]].assign(kind="镇域")
    colours = ("#fdae61", "#a6d96a", "#74add1")
    sheets = [
        static.layers_map(
            [(town, {"facecolor": colours[i % 3], "edgecolor": "none", "alpha": 0.6}, "镇域 town")],
            boundaries=bounds,
            basemap=bm,
            crs=crs,
            title_zh=name,
            title_en=f"sheet {i}",
            data_date="2024-03",
        )
        for i in range(n)
    ]
    return sheets, bm


def _drawn_lines(coll) -> list[tuple[np.ndarray, float]]:
    """Each line a collection strokes with its width in pt: a LineCollection's segments take its widths in
    turn (matplotlib cycles them), a compound path's pieces (split at each move) its path's width."""
    widths = np.atleast_1d(coll.get_linewidths())
    if isinstance(coll, matplotlib.collections.LineCollection):
        return [(seg, float(widths[i % len(widths)])) for i, seg in enumerate(coll.get_segments())]
    out = []
    for i, p in enumerate(coll.get_paths()):
        starts = np.flatnonzero(p.codes == static.MplPath.MOVETO)
        out += [(v, float(widths[i % len(widths)])) for v in np.split(np.asarray(p.vertices), starts[1:]) if len(v) >= 2]
    return out


def test_waterways_cut_into_pieces_by_the_view_keep_their_own_widths(liechtenstein):
    """Schellenberg's sheet cuts a stream into two pieces: every waterway after it still gets its own width.
    Per width, the length of the lines drawn inside the map frame is the length of the extract's
    waterways of that kind inside the frame (river 1.6 pt, canal 1.3, stream 0.7, any other 0.5)."""
    (fig,), bm = _town_sheets(liechtenstein, "Schellenberg")
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    frame = shapely.box(x0, y0, x1, y1)
    water = bm.water[bm.water["kind"] != "area"]
    inside = shapely.intersection(np.asarray(water.geometry.values), frame)
    m = 0.02 * (x1 - x0)  # the basemap is cut to the frame and a margin of 2 %: there a stream is in two pieces
    assert (
        shapely.get_num_geometries(shapely.clip_by_rect(np.asarray(water.geometry.values), x0 - m, y0 - m, x1 + m, y1 + m)) > 1
    ).any()
    width = water["kind"].map({"river": 1.6, "canal": 1.3, "stream": 0.7}).fillna(0.5).to_numpy()
    expected = {w: float(shapely.length(inside[width == w]).sum()) for w in np.unique(width)}
    assert len(expected) == 4 and all(v > 0 for v in expected.values())
    drawn: dict[float, float] = dict.fromkeys(expected, 0.0)
    for coll in ax.collections:
        if str(coll.get_gid()).startswith("basemap-waterways"):
            for v, w in _drawn_lines(coll):
                drawn[round(w, 6)] = drawn.get(round(w, 6), 0.0) + shapely.intersection(shapely.linestrings(v), frame).length
    assert drawn.keys() == expected.keys()
    for w, length_m in expected.items():
        assert drawn[w] == pytest.approx(length_m, rel=1e-9), w


def test_line_styles_given_per_geometry_follow_each_of_its_parts(liechtenstein):
    """A layer of lines coloured and sized per feature, some of several parts (Schellenberg's waterways cut
    to the municipality): each line part drawn with its own feature's colour and width, in the features' order."""
    (fig,), bm = _town_sheets(liechtenstein, "Schellenberg")
    towns = liechtenstein[1]
    town = towns[towns["name"] == "Schellenberg"].to_crs(bm.crs).union_all()
    lines = bm.water[bm.water["kind"] != "area"]
    cut = shapely.intersection(np.asarray(lines.geometry.values), town)
    cut = cut[~shapely.is_empty(cut)]
    parts = shapely.get_num_geometries(cut)
    assert (parts > 1).sum() >= 2 and (parts == 1).any()
    rng = np.random.default_rng(3)
    colours, widths = rng.random((len(cut), 4)), rng.uniform(0.2, 3.0, len(cut))
    coll = static._draw_lines(fig.axes[0], cut, colors=colours, linewidths=widths, zorder=9)
    pieces, owner = shapely.get_parts(cut, return_index=True)
    line = shapely.get_type_id(pieces) == 1  # a point where a waterway touches the boundary is no line
    assert not line.all()
    pieces, owner = pieces[line], owner[line]
    drawn = _drawn_lines(coll)
    assert len(drawn) == len(pieces)
    edge = coll.get_edgecolor()
    for i, ((seg, w), piece, k) in enumerate(zip(drawn, pieces, owner, strict=True)):
        assert np.array_equal(seg, shapely.get_coordinates(piece))
        assert w == widths[k] and np.array_equal(edge[i % len(edge)], colours[k])


def test_waterways_are_read_only_paths_per_width_shared_by_a_towns_sheets_and_a_run_of_over_layers(liechtenstein):
    """Each width a stroked path kept per view (the same read-only path on every sheet of the town), so
    the waterways are a run of over-layers drawn once per town; the legend keeps one water entry."""
    sheets, _ = _town_sheets(liechtenstein, "Balzers", 2)
    layers = [[c for c in fig.axes[0].collections if str(c.get_gid()).startswith("basemap-waterways")] for fig in sheets]
    gids = [c.get_gid() for c in layers[0]]
    assert gids == [f"basemap-waterways-{k}" for k in ("other", "stream", "canal", "river")]
    for a, b in zip(*layers, strict=True):
        assert a.get_paths()[0] is b.get_paths()[0] and static._layer_state(a) is not None
        assert a.get_zorder() == 2.4 and mcolors.same_color(a.get_edgecolor(), static.WATER_LINE)
    assert [c.get_linewidths()[0] for c in layers[0]] == [0.5, 0.7, 1.3, 1.6]
    fig = sheets[0]
    runs = static._Overlay(fig, static._Underlay(fig, static._unseen_background(fig)).run).runs
    # over the buildings (filled and outlined: drawn as they are), under the map's frame and the streets
    assert [[a.get_gid() for a in r] for r in runs][:2] == [gids, [a.get_gid() for a in runs[1]]]
    assert all(str(a.get_gid()).startswith("basemap-road") for a in runs[1])
    assert sum(lab == "水域 water" for lab in _legend_rows(fig, "basemap-legend")) == 1


def test_sheets_with_waterways_among_the_over_layers_look_as_drawn_whole_and_as_a_line_per_piece(
    liechtenstein, tmp_path, overlay_calls
):
    """Two sheets of Vaduz (the Rhine, canals, streams): each PNG is its figure drawn whole within the
    over-layers' rounding; and drawn whole, the sheet differs from the waterways drawn a line per piece
    with their widths only where two pieces overlap at antialiased edges, on under 0.05 % of the sheet."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.collections import LineCollection

    sheets, bm = _town_sheets(liechtenstein, "Vaduz", 2)
    for i, fig in enumerate(sheets):
        png, _ = static.save_figure(fig, tmp_path / f"sheet{i}")
        _within_rounding(png, _drawn(fig), most=3)  # Vaduz's streets: 3 of 255 at a few overlaps
    assert overlay_calls["drawn"] == overlay_calls["blended"] // 2  # the second sheet blends the first's pixels
    fig = sheets[0]
    ax = fig.axes[0]
    whole = _drawn(fig)
    layers = [c for c in ax.collections if str(c.get_gid()).startswith("basemap-waterways")]
    w, h = fig.canvas.get_width_height(physical=True)
    alone = RendererAgg(w, h, fig.dpi)
    for c in layers:
        c.draw(alone)
    cover = np.asarray(alone.buffer_rgba())[..., 3]
    # the old route: one line per piece of each feature, the feature's width
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    m = 0.02 * (x1 - x0)
    water = bm.water[bm.water["kind"] != "area"]
    cut = shapely.clip_by_rect(np.asarray(water.geometry.values), x0 - m, y0 - m, x1 + m, y1 + m)
    width = water["kind"].map({"river": 1.6, "canal": 1.3, "stream": 0.7}).fillna(0.5).to_numpy()
    pieces, owner = shapely.get_parts(cut, return_index=True)
    per_piece = LineCollection(
        [shapely.get_coordinates(p) for p in pieces], colors=static.WATER_LINE, linewidths=width[owner], zorder=2.4
    )
    for c in layers:
        c.remove()
    ax.add_collection(per_piece, autolim=False)
    diff = np.abs(_drawn(fig).astype(int) - whole.astype(int)).max(axis=2)
    alone = RendererAgg(w, h, fig.dpi)
    per_piece.draw(alone)
    old_cover = np.asarray(alone.buffer_rgba())[..., 3]
    # the same where neither draw touches a pixel; where both cover it (alpha 255 alone: a pixel two
    # antialiased pieces nearly cover rounds to 255 too), within 1 of 255
    assert not diff[(cover == 0) & (old_cover == 0)].any()
    assert diff[(cover == 255) & (old_cover == 255)].max() <= 1
    assert diff.max() > 8  # two pieces overlapping at their antialiased edges: summed in one path, blended in turn
    assert (diff > 0).mean() < 5e-4
