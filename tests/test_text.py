"""The print maps' text from the shared caches, checked against matplotlib's own routes.

Real text only: the street and place names of the two OSM extracts shipped with the
package and pyrosm (五道口示范区, Chinese; Karhula, Finnish and Swedish), and the sheets'
own words. What is checked: a PDF text's extent read off its glyph layout is the one
matplotlib measures with ``set_text`` (cold and warm caches, at the sizes the sheets use);
the text operators written from the kept bodies give matplotlib's own PDF byte for byte,
when the files number their glyphs alike and when they do not.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib as mpl
import pytest
from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfFile, RendererPdf
from matplotlib.figure import Figure

import mtown_geo as mg
from mtown_geo.render import _text, static
from mtown_geo.render._fonts import cjk_font

SIZES_PT = (5.0, 6.0, 6.5, 7.0, 7.5, 9.0, 10.0, 11.5, 16.0)
SHEET_WORDS = [
    "比例尺 Scale",
    "位置示意 Location",
    "数据来源 Source: © OpenStreetMap 贡献者 contributors　数据日期 Data date: 2020-06",
    "坐标系 CRS: WGS 84 / UTM zone 50N (EPSG:32650)",
    "步行时间 walking time ≤ 15 min",
    "7/10 类　31.4%",
    "公园 (≥2000 m²) park of 2000 m² or more　1 处",
    "— ",
    " —",
    "—",
    " ",
    "·",
    "fi fl ffi",
    "AVATAR Wolf",
]


@pytest.fixture(scope="module")
def names() -> list[str]:
    """The distinct names of the ways and features of both shipped extracts, and the sheets' words."""
    found: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for town in ("wudaokou", "karhula"):
            ext = mg.sources.read_osm(mg.demo_osm_path(town), buildings=True)
            for frame in (ext.ways, ext.features):
                if "name" in frame:
                    found.update(str(n) for n in frame["name"].dropna() if str(n).strip() and "\n" not in str(n))
    assert len(found) > 200
    return sorted(found) + SHEET_WORDS


def _renderer(tmp_path: Path) -> tuple[_text._MapRendererPdf, PdfFile]:
    file = _text._MapPdfFile(str(tmp_path / "probe.pdf"))
    return _text._MapRendererPdf(file, 72.0, 8.27, 11.69), file


def test_a_pdf_texts_extent_from_its_layout_is_matplotlibs_measure(names, tmp_path):
    """Width, height and descent read off the glyph layout are what ``set_text`` gives, cold and warm, for every
    real name at every size; the layout route is taken for nearly all of them (the rest are measured as before)."""
    renderer, file = _renderer(tmp_path)
    assert not mpl.rcParams["pdf.use14corefonts"]
    read_off = 0
    try:
        for size in SIZES_PT:
            prop = cjk_font(size_pt=size)
            _text.clear_caches()
            for warm in (False, True):
                for s in names:
                    stock = tuple(float(v) for v in RendererPdf.get_text_width_height_descent(renderer, s, prop, False))
                    assert renderer.get_text_width_height_descent(s, prop, False) == stock, (s, size, warm)
            key = _text._font_key(prop)
            assert key is not None
            for s in names:
                if renderer._shape(s, prop, key)[1] is not None:
                    read_off += 1
    finally:
        file.close()
    assert read_off >= 0.9 * len(names) * len(SIZES_PT)


def test_an_extent_read_off_the_layout_is_refused_where_set_text_would_differ(tmp_path):
    """A glyph the face lacks (another font or the missing glyph), or kerning scaled by matplotlib's setting, is not
    read off the layout: such texts are measured as before."""
    renderer, file = _renderer(tmp_path)
    try:
        prop = cjk_font(size_pt=7.0)
        key = _text._font_key(prop)
        assert key is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for s in ("a\tb", "\u0378", ""):
                assert renderer._shape(s, prop, key)[1] is None, s
                stock = tuple(float(v) for v in RendererPdf.get_text_width_height_descent(renderer, s, prop, False))
                assert renderer.get_text_width_height_descent(s, prop, False) == stock
        # kerning scaled by matplotlib's setting: measured as before too
        _text.clear_caches()
        with rc_context({"text.kerning_factor": 6}):
            assert renderer._shape("AVATAR Wolf", prop, key)[1] is None
            stock = tuple(float(v) for v in RendererPdf.get_text_width_height_descent(renderer, "AVATAR Wolf", prop, False))
            assert renderer.get_text_width_height_descent("AVATAR Wolf", prop, False) == stock
    finally:
        file.close()


def _sheet(words: list[str]) -> Figure:
    """A page of real names in the maps' font: straight and turned, at the sheets' sizes."""
    fig = Figure(figsize=(8.27, 11.69), dpi=300)
    for i, s in enumerate(words):
        size = SIZES_PT[i % len(SIZES_PT)]
        fig.text(0.05 + 0.4 * (i % 2), 0.97 - 0.023 * (i // 2), s, fontproperties=cjk_font(size_pt=size), rotation=(i % 3) * 17.0)
    static.MapCanvas(fig)
    return fig


def test_text_bodies_give_matplotlibs_pdf_when_the_files_number_their_glyphs_alike_or_not(names, tmp_path):
    """Two pages with the same texts in another order (the files give the glyphs other codes) and one page
    again: each file is matplotlib's own, with cold and warm caches, and the kept bodies are used."""
    chinese = [s for s in names if any(ord(c) > 0x2E80 for c in s)][:40]
    latin = [s for s in names if s.isascii()][:20]
    assert len(chinese) == 40 and len(latin) == 20
    words = chinese + latin + SHEET_WORDS[:7]
    sheets = [_sheet(words), _sheet(words[::-1]), _sheet(words)]
    rc = {"savefig.facecolor": "white", "savefig.edgecolor": "white", "pdf.fonttype": 3, "pdf.compression": 2}
    meta = {"CreationDate": None, "Producer": None}
    with rc_context(rc):
        stock = []
        for i, fig in enumerate(sheets):
            fig.savefig(tmp_path / f"stock{i}.pdf", format="pdf", metadata=meta, dpi=fig.dpi)
            static.MapCanvas(fig)
            stock.append((tmp_path / f"stock{i}.pdf").read_bytes())
        _text.clear_caches()
        for rnd in ("cold", "warm"):
            for i, fig in enumerate(sheets):
                _text.print_pdf(fig, tmp_path / f"{rnd}{i}.pdf", metadata=meta)
                assert (tmp_path / f"{rnd}{i}.pdf").read_bytes() == stock[i], (rnd, i)
            if rnd == "cold":
                bodies = len(_text._BODIES.data)
                # the reversed page numbers its Chinese glyphs otherwise: its bodies are other ones
                assert len(words) < bodies <= 2 * len(words)
        assert len(_text._BODIES.data) == bodies  # the warm round wrote every text from a kept body
