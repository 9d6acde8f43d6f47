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
import numpy as np
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


def _stock_pdfs(sheets: list, tmp_path: Path, meta: dict) -> list[bytes]:
    """Each sheet saved by matplotlib's own ``savefig`` (the reference bytes), then given the
    map canvas again."""
    out = []
    for i, fig in enumerate(sheets):
        fig.savefig(tmp_path / f"stock{i}.pdf", format="pdf", metadata=meta, dpi=fig.dpi)
        static.MapCanvas(fig)
        out.append((tmp_path / f"stock{i}.pdf").read_bytes())
    return out


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
        stock = _stock_pdfs(sheets, tmp_path, meta)
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


# -- layers written path by path --------------------------------------------------------

HIGHWAY_WIDTHS_PT = {"primary": 1.6, "secondary": 1.3, "tertiary": 1.3, "residential": 0.7, "service": 0.5}


@pytest.fixture(scope="module")
def karhula_layers() -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Karhula's highway ways (their lines, their width by class) and its building outlines, in degrees."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ext = mg.sources.read_osm(mg.demo_osm_path("karhula"), buildings=True)
    lines = [np.asarray(g.coords) for g in ext.way_lines()]
    widths = np.array([HIGHWAY_WIDTHS_PT.get(str(h), 0.5) for h in ext.ways["highway"]])
    polys = ext.features.geometry
    polys = polys[polys.geom_type.isin(["Polygon", "MultiPolygon"])]
    rings = [np.asarray(part.exterior.coords) for g in polys for part in getattr(g, "geoms", [g])]
    assert len(lines) > 300 and len(rings) > 500 and len(set(widths.tolist())) >= 3
    return lines, widths, rings


def _layer_sheet(lines: list[np.ndarray], widths: np.ndarray, rings: list[np.ndarray], *, flip: bool) -> Figure:
    """A sheet of collections matplotlib's PDF writes path by path: lines of several widths (runs of one width
    and changes), dashed and translucent lines, and buildings filled one colour each (some not at all)."""
    from matplotlib.collections import LineCollection, PolyCollection

    fig = Figure(figsize=(8.27, 5.85), dpi=300)
    ax = fig.add_axes((0.04, 0.04, 0.92, 0.92))
    xy = np.concatenate(lines)
    ax.set_xlim(xy[:, 0].min(), xy[:, 0].max())
    ax.set_ylim(xy[:, 1].min(), xy[:, 1].max())
    order = np.argsort(widths, kind="stable") if flip else np.arange(len(lines))
    ax.add_collection(LineCollection([lines[i] for i in order], linewidths=widths[order], colors="#5b9bd0", zorder=2))
    colours = np.array([(0.2, 0.3, 0.4, 1.0), (0.2, 0.3, 0.4, 1.0), (0.8, 0.1, 0.1, 1.0)])
    ax.add_collection(
        LineCollection(lines[::2], linewidths=0.45, colors=colours[np.arange(len(lines[::2])) // 7 % 3], linestyles=(0, (2, 1)))
    )
    ax.add_collection(LineCollection(lines[1::3], linewidths=widths[1::3], colors="#8c8c8c", alpha=0.5, zorder=3))
    faces = np.tile([0.9, 0.85, 0.8, 1.0], (len(rings), 1))
    faces[::5] = (0.5, 0.6, 0.7, 1.0)
    faces[::11, 3] = 0.0  # not filled: an outline alone
    ax.add_collection(PolyCollection(rings, facecolors=faces, edgecolors="#333333", linewidths=0.12, zorder=1))
    hatched = PolyCollection(rings[::9], facecolors="none", edgecolors=colours[np.arange(len(rings[::9])) // 4 % 3], hatch="//")
    ax.add_collection(hatched)  # hatched outlines: the hatch's colour follows the edge's
    static.MapCanvas(fig)
    return fig


def test_layers_written_path_by_path_are_matplotlibs_pdf_byte_for_byte(karhula_layers, tmp_path, monkeypatch):
    """Collections matplotlib writes one path at a time: each page is matplotlib's own file with cold and warm
    caches, the paths whose state repeats the last one's are written without the state's check, and the
    operators of the paths of 8 vertices or more are made once for the sheets that draw them again."""
    lines, widths, rings = karhula_layers
    sheets = [_layer_sheet(lines, widths, rings, flip=False), _layer_sheet(lines, widths, rings, flip=True)]
    rc = {"savefig.facecolor": "white", "savefig.edgecolor": "white", "pdf.fonttype": 3, "pdf.compression": 2}
    meta = {"CreationDate": None, "Producer": None}
    checks = []
    stock_check = RendererPdf.check_gc

    def counted(self, gc, fillcolor=None):
        checks.append(1)
        return stock_check(self, gc, fillcolor)

    with rc_context(rc):
        stock = _stock_pdfs(sheets, tmp_path, meta)
        stock_checks = len(checks)
        monkeypatch.setattr(RendererPdf, "check_gc", counted)
        _text.clear_caches()
        for rnd in ("cold", "warm"):
            for i, fig in enumerate(sheets):
                checks.clear()
                _text.print_pdf(fig, tmp_path / f"{rnd}{i}.pdf", metadata=meta)
                assert (tmp_path / f"{rnd}{i}.pdf").read_bytes() == stock[i], (rnd, i)
                n_paths = sum(len(c.get_paths()) for c in fig.axes[0].collections)
                assert 0 < len(checks) < n_paths / 2, (rnd, i, len(checks), n_paths)  # most paths repeat a state
            if rnd == "cold":
                kept = len(_text._PATHS.data)
                assert kept > 300  # the longer outlines and lines
        assert len(_text._PATHS.data) == kept  # the warm round converted no path again
    assert stock_checks == 0


def test_marker_paths_from_the_path_cache_are_told_apart_as_matplotlib_tells_them(karhula_layers, tmp_path):
    """matplotlib writes a marker object per layer of markers even where two layers draw the same marker
    (it tells marker paths apart by the objects their operators are held in): the path cache must not make
    two of them one."""
    from matplotlib.path import Path as MplPath

    lines, _, rings = karhula_layers
    big = max(rings, key=len)
    assert len(big) >= _text._PATH_MIN_VERTICES
    outline = (big - big.mean(axis=0)) / np.ptp(big, axis=0).max()  # a building's outline as a marker
    marker = MplPath(outline, closed=True)
    xy = np.concatenate(lines)
    fig = Figure(figsize=(5.0, 5.0), dpi=300)
    ax = fig.add_axes((0.05, 0.05, 0.9, 0.9))
    for k, colour in enumerate(("#cfe6b6", "#bcd8ee")):  # the same marker in two layers
        where = xy[k * 40 : k * 40 + 120 : 40]
        ax.scatter(where[:, 0], where[:, 1], s=400.0, marker=marker, c=colour, edgecolors="#333333", linewidths=0.5)
    static.MapCanvas(fig)
    rc = {"savefig.facecolor": "white", "savefig.edgecolor": "white", "pdf.fonttype": 3, "pdf.compression": 2}
    meta = {"CreationDate": None, "Producer": None}
    with rc_context(rc):
        fig.savefig(tmp_path / "stock.pdf", format="pdf", metadata=meta, dpi=fig.dpi)
        static.MapCanvas(fig)
        stock = (tmp_path / "stock.pdf").read_bytes()
        assert b"/M1 " in stock  # a second marker object
        _text.clear_caches()
        for rnd in ("cold", "warm"):
            _text.print_pdf(fig, tmp_path / f"{rnd}.pdf", metadata=meta)
            assert (tmp_path / f"{rnd}.pdf").read_bytes() == stock, rnd
