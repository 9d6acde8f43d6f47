"""Text of the print maps drawn from caches shared by every sheet of a process.

A plan sheet carries some sixty texts (title, legend entries, street and facility names,
the margin), most of them the same on every sheet of a town, and the same again in the
sheet's PNG and its PDF. matplotlib measures and shapes each text anew on every draw, and
with a Chinese face of 65,000 glyphs that is most of a sheet's cost. The canvas and the
renderers here keep, per font file, face, size and resolution:

* the **extent** of a text (width, height, descent) that layout asks for, in both
  backends;
* in the PNG (Agg), the text's **bitmap**, rendered once and then copied onto the sheet
  (rotated street names are turned as whole bitmaps, as matplotlib drew every text until
  3.10);
* in the PDF, the **glyph layout** of a text (glyph indices, advances and kerns): the text
  is still written as text, in the embedded font, and can be searched and copied; a plain
  text's operators are written from it directly, with the file's glyph codes and font names
  looked up once per glyph and subset of the file (:meth:`_MapRendererPdf._write_text`).
  The layout also gives the text's extent (the pen's advance and the union of the glyphs'
  boxes, each glyph's box read once per size: :func:`_extent_from_layout`), so a text new
  to the process is laid out once for the PDF, not measured and then laid out again;
* the PDF **operators of a text** after its position (font selections and glyph strings),
  per layout, size and the glyph codes the file gave it: the sheets of a town write most
  texts with the same codes;
* the **outline** and the **advance** of each glyph the PDFs embed (the Type 3 glyph
  procedure and its width), made once per process instead of once per file, and each
  small stream (a glyph procedure) compressed once;
* the PDF **operators of a long path** (a basemap layer drawn on every sheet of a town),
  keyed by its vertices, codes, transform and clip (:func:`_path_operators`); in the page,
  any path of 8 vertices or more (the paths of a layer drawn one path per feature, such as
  the locator inset's roads of several widths);
* the **last page's content** and its zlib compressor at points along it: the sheets of a
  town begin with the same basemap, and the part of a page that repeats the last one is
  not compressed again (:class:`_PageStream`).

While a PDF is drawn, the colour of each path of a collection (a row of its colour array)
is converted directly rather than by matplotlib's general colour parser (:func:`_to_rgba`),
and a path whose graphics state (width, dashes, colours) repeats the path's before it is
written without checking that state again (:meth:`_MapRendererPdf._iter_collection`).

Within one draw (the PNG's, then the PDF's), each text and each legend box is laid out
once (:func:`laid_out_once`); matplotlib lays legends out again at every level of their
boxes. The files are those matplotlib writes itself: the PDF byte for byte, the PNG up to
antialiasing at glyph edges (bitmaps turned whole).

A sheet's PDF (A4, caches warm) costs about 0.03 CPU s for the demo town and 0.045 s for a
town with a dense basemap (a Liechtenstein municipality): 35–50 % less than when
matplotlib's PDF backend writes it with only the text layouts and glyph outlines cached.
About a quarter of what is left is zlib compressing the part of each page that differs
from the last one (and everything drawn after it: the streets and buildings over the
indicator), which the file's bytes require.

Texts set by a font *file* (every text of the maps, see :mod:`mtown_geo.render._fonts`)
are cached; any other text (a family name, math text, font features, another language
tag) is drawn by matplotlib as usual. The caches are bounded (least recently used go first);
the last page of each thread (a dense town's: about 7 MB with its compressor states) is
kept until the next one replaces it.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib import _text_helpers
from matplotlib import colors as mcolors
from matplotlib.backends import backend_pdf
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_pdf import (
    GraphicsContextPdf,
    Name,
    Op,
    PdfFile,
    RendererPdf,
    Stream,
    Verbatim,
    _fill,
    pdfRepr,
)
from matplotlib.figure import Figure
from matplotlib.font_manager import FontPath, FontProperties
from matplotlib.ft2font import LoadFlags
from matplotlib.offsetbox import OffsetBox
from matplotlib.path import Path as MplPath
from matplotlib.text import Text

__all__ = ["MapCanvas", "clear_caches", "laid_out_once", "print_pdf"]

_EXTENTS_MAX = 20_000  # (width, height, descent) triples
_BITMAPS_MAX = 2_000  # grey bitmaps of a text (a street name at 300 dpi: ~15 kB)
_LAYOUTS_MAX = 5_000  # glyph layouts of the PDF
_GLYPHS_MAX = 20_000  # glyph outlines embedded in the PDFs (a few hundred bytes each)
_GLYPH_METRICS_MAX = 60_000  # a glyph's vertical extent or advance at a size (about 150 bytes each)


class _LRU:
    """A bounded mapping, least recently used first out; safe to share between threads (writes under a lock)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        # without the lock: each OrderedDict operation is atomic, and a key another thread
        # drops between the two only stays where it was (a draw asks some 2,000 times per sheet)
        data = self.data
        value = data.get(key)
        if value is not None:
            try:
                data.move_to_end(key)
            except KeyError:  # dropped meanwhile (contextlib.suppress would cost as much as the lookup)
                return value
        return value

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


_EXTENTS = _LRU(_EXTENTS_MAX)
_BITMAPS = _LRU(_BITMAPS_MAX)
_LAYOUTS = _LRU(_LAYOUTS_MAX)
_GLYPHS = _LRU(_GLYPHS_MAX)
_GLYPH_METRICS = _LRU(_GLYPH_METRICS_MAX)


def clear_caches() -> None:
    """Forget every cached text extent, bitmap, layout, glyph outline, path, stream and this thread's last page."""
    for cache in (_EXTENTS, _BITMAPS, _LAYOUTS, _PROGRAMS, _BODIES, _GLYPHS, _GLYPH_METRICS, _PATHS, _STREAMS):
        cache.clear()
    _PAGES.__dict__.pop("last", None)


def _font_key(prop: FontProperties) -> tuple[str, int, float] | None:
    """(font file, face index, size in points) of a text set by font file, else None (not cached)."""
    fname = prop.get_file()
    if fname is None:
        return None
    return (str(fname), int(getattr(fname, "face_index", 0) or 0), float(prop.get_size_in_points()))


def _plain(prop: FontProperties, ismath: Any, mtext: Any) -> tuple[str, int, float] | None:
    """The font key when a text can be drawn from the caches (plain text, by file, no font features)."""
    if ismath:
        return None
    if mtext is not None and (mtext.get_fontfeatures() or mtext.get_language()):
        return None
    return _font_key(prop)


def _height_metrics(
    get_font: Callable[[], Any], key: tuple[str, int, float], dpi: float, backend: str
) -> tuple[float, float, float] | None:
    """(ascent, descent, line gap) of a face at a size, in pixels at ``dpi``, as :meth:`Text._get_layout` reads them."""
    k = (backend, "height", key, dpi)
    hit = _EXTENTS.get(k)
    if hit is None:
        font = get_font()
        for table_name, gap_key, ascent_key, descent_key in (
            ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
            ("hhea", "lineGap", "ascent", "descent"),
        ):
            table = font.get_sfnt_table(table_name)
            if table is None:
                continue
            scale = key[2] * dpi / 72 / font.get_sfnt_table("head")["unitsPerEm"]
            hit = (table[ascent_key] * scale, -table[descent_key] * scale, table[gap_key] * scale)
            break
        else:
            return None
        _EXTENTS.put(k, hit)
    return hit


class _MapRendererAgg(RendererAgg):
    """Agg renderer drawing plain texts as cached bitmaps."""

    #: set by :meth:`MapCanvas.draw` for a draw whose page background sets every pixel
    _mtown_page_covers = False

    def clear(self) -> None:
        if not self._mtown_page_covers:  # else the page background overwrites every pixel anyway
            super().clear()

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[float | None, float | None, float | None]:
        key = _font_key(prop)
        metrics = None if key is None else _height_metrics(lambda: self._prepare_font(prop), key, self.dpi, "agg")
        return (None, None, None) if metrics is None else metrics

    def get_text_width_height_descent(self, s: str, prop: FontProperties, ismath: Any) -> tuple[float, float, float]:
        key = None if ismath else _font_key(prop)
        if key is None:
            return super().get_text_width_height_descent(s, prop, ismath)
        k = ("agg", s, key, self.dpi, get_hinting_flag())
        hit = _EXTENTS.get(k)
        if hit is None:
            hit = self._shape(s, prop, k, antialiased=True)[1]
        return hit

    def _shape(
        self, s: str, prop: FontProperties, k: tuple[Any, ...], *, antialiased: bool
    ) -> tuple[tuple[np.ndarray, float, float, float], tuple[float, float, float]]:
        """Lay a text out once: its bitmap and its extent, both kept (the costly part is the layout)."""
        font = self._prepare_font(prop)
        font.set_text(s, 0, flags=k[4])
        w, h = font.get_width_height()
        d = font.get_descent() / 64.0
        extent = (w / 64.0, h / 64.0, d)
        font.draw_glyphs_to_bitmap(antialiased=antialiased)
        xo, yo = font.get_bitmap_offset()
        bitmap = (np.array(font.get_image(), dtype=np.uint8), xo / 64.0, yo / 64.0, d)
        _EXTENTS.put(k, extent)
        _BITMAPS.put((*k, antialiased), bitmap)
        return bitmap, extent

    def draw_text(
        self, gc: Any, x: float, y: float, s: str, prop: FontProperties, angle: float, ismath: Any = False, mtext: Any = None
    ) -> None:
        key = _plain(prop, ismath, mtext)
        if key is None or not s:
            super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
            return
        aa = bool(gc.get_antialiased())
        k = ("agg", s, key, self.dpi, get_hinting_flag())
        hit = _BITMAPS.get((*k, aa))
        if hit is None:
            hit = self._shape(s, prop, k, antialiased=aa)[0]
        image, xo, yo, d = hit
        if image.size == 0:
            return
        # as matplotlib ≤ 3.10 drew text: the bitmap at angle 0, turned about the anchor
        rad = math.radians(angle)
        xd, yd = d * math.sin(rad), d * math.cos(rad)
        rx = xo * math.cos(rad) - yo * math.sin(rad)
        ry = xo * math.sin(rad) + yo * math.cos(rad)
        self._renderer.draw_text_image(image, round(x + rx + xd), round(y - ry + yd) + 1, angle, gc)


def _legend_boxes(fig: Figure) -> list[OffsetBox]:
    """The offset boxes of a figure's legends (packers, padded boxes, text and drawing areas), outermost first."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    boxes: list[OffsetBox] = []
    stack = [getattr(lg, "_legend_box", None) for lg in legends if lg is not None]
    while stack:
        box = stack.pop()
        if isinstance(box, OffsetBox):
            boxes.append(box)
            stack.extend(box.get_children())
    return boxes


_LAYOUT_METHODS = ("get_bbox", "_get_bbox_and_child_offsets")


@contextlib.contextmanager
def laid_out_once(fig: Figure) -> Iterator[None]:
    """Each text and legend box of ``fig`` laid out once per renderer while the block runs (one draw).

    matplotlib lays a legend out from the leaves up every time a box is asked for its size:
    the legend measures its whole tree, then each packer, as it draws, measures its subtree
    again, and every text area its text; a text with a box around it (the map's labels) is
    laid out for the box and again for the text. Nothing a layout depends on (texts, fonts,
    the renderer's resolution) changes within one draw, so each box's extent and its
    children's offsets, and each text's lines and extent, are kept for the draw and dropped
    after it.
    """
    boxes = _legend_boxes(fig)
    texts = [
        *fig.texts,
        *(t for ax in fig.axes for t in ax.texts),
        *(t for b in boxes for t in b.get_children() if isinstance(t, Text)),
    ]
    candidates: list[tuple[Any, tuple[str, ...]]] = [(b, _LAYOUT_METHODS) for b in boxes]
    candidates += [(t, ("_get_layout",)) for t in texts]
    patched = [(a, names) for a, names in candidates if not any(name in vars(a) for name in names)]
    for artist, names in patched:
        for name in names:
            vars(artist)[name] = _once_per_renderer(getattr(artist, name), fig)
    try:
        yield
    finally:
        for artist, names in patched:
            for name in names:
                vars(artist).pop(name, None)


def _once_per_renderer(method: Callable[[Any], Any], fig: Figure) -> Callable[[Any], Any]:
    memo: dict[tuple[int, float], Any] = {}

    def once(renderer: Any) -> Any:
        # the renderers of a draw live until it ends; the figure's dpi changes while a
        # rasterised part of a PDF is drawn
        key = (id(renderer), fig.dpi)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = method(renderer)
        return hit

    return once


_LOCAL = threading.local()  # per thread: the Agg renderer the map sheets draw into


def _page_covers(canvas: FigureCanvasAgg) -> bool:
    """Whether the figure's background sets every pixel of the canvas, whatever the buffer held.

    It does when it is one opaque colour, without edge, hatch, effects, filter or clip,
    spanning the whole canvas: Agg then copies the colour into each pixel.
    """
    patch = canvas.figure.patch
    if not patch.get_visible() or mcolors.to_rgba(patch.get_facecolor())[3] != 1 or patch.get_linewidth() != 0:
        return False
    if patch.get_hatch() or patch.get_path_effects() or patch.get_agg_filter() is not None or patch.get_sketch_params():
        return False
    if patch.get_clip_on() and (patch.get_clip_box() is not None or patch.get_clip_path() is not None):
        return False
    x0, y0, x1, y1 = patch.get_window_extent().extents
    w, h = canvas.get_width_height(physical=True)
    return bool(x0 <= 0 and y0 <= 0 and x1 >= w and y1 >= h)


class MapCanvas(FigureCanvasAgg):
    """The Agg canvas of a map sheet: texts from the shared caches, one pixel buffer for all sheets.

    The sheets of one size share a renderer per thread (an A4 sheet at 300 dpi is a 44 MB
    buffer): a run that lays out every map of a town before saving them holds one buffer,
    not one per sheet. A canvas whose sheet was not the last one drawn into it is drawn
    again before its pixels are read.
    """

    def get_renderer(self) -> _MapRendererAgg:
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        pool: dict[Any, _MapRendererAgg] = getattr(_LOCAL, "renderers", {})
        renderer = pool.get(key)
        if renderer is None:
            renderer = _MapRendererAgg(w, h, self.figure.dpi)
            _LOCAL.renderers = pool = {key: renderer}  # keep the last size only
        self.renderer = renderer
        self._lastKey = key
        return renderer

    def draw(self) -> None:
        # a sheet's white page sets every pixel of the shared buffer: it is not cleared first
        # (a 35 MB pass less at A4 300 dpi, 0.01 s)
        renderer = self.get_renderer()
        renderer._mtown_page_covers = _page_covers(self)
        try:
            with laid_out_once(self.figure):
                super().draw()
        finally:
            renderer._mtown_page_covers = False
        self.renderer._mtown_sheet = weakref.ref(self.figure)

    def _own_pixels(self) -> None:
        sheet = getattr(self.get_renderer(), "_mtown_sheet", None)
        if sheet is None or sheet() is not self.figure:
            self.draw()

    def buffer_rgba(self) -> memoryview:
        self._own_pixels()
        return super().buffer_rgba()

    def tostring_argb(self) -> bytes:
        self._own_pixels()
        return super().tostring_argb()


# -- PDF --------------------------------------------------------------------------------

_PDF_FONT: contextvars.ContextVar[tuple[str, int, float] | None] = contextvars.ContextVar("mtown_geo_pdf_font", default=None)
_STOCK_LAYOUT = _text_helpers.layout
_PROGRAMS = _LRU(_LAYOUTS_MAX)  # glyphs of a plain text as the PDF writes them (per thread)
_BODIES = _LRU(_LAYOUTS_MAX)  # operators of a plain text after its position, per layout, size and the file's codes
_OP_GSAVE, _OP_GRESTORE, _OP_BT, _OP_ET = (pdfRepr(op) for op in (Op.gsave, Op.grestore, Op.begin_text, Op.end_text))
_OP_CM, _OP_TF, _OP_TD, _OP_TJ = (pdfRepr(op) for op in (Op.concat_matrix, Op.selectfont, Op.textpos, Op.showkern))
_SWAP = threading.RLock()


def _layout(string: str, font: Any, *, features: Any = None, language: Any = None) -> Iterator[Any]:
    """matplotlib's glyph layout, from the cache while a map's PDF text is being written."""
    key = _PDF_FONT.get()
    if key is None or features or language:
        return _STOCK_LAYOUT(string, font, features=features, language=language)
    k = (string, key, font, threading.get_ident())
    items = _LAYOUTS.get(k)
    if items is None:
        items = list(_STOCK_LAYOUT(string, font))
        _LAYOUTS.put(k, items)
    return iter(items)


def _glyph_rows(font: Any, glyph_index: int, face: tuple[Any, ...]) -> tuple[int, int]:
    """(bottom, top) of a glyph's box at 72 dpi, unhinted, in 26.6 units: the box ``set_text`` puts at the glyph's pen position."""
    k = ("rows", *face, glyph_index)
    hit = _GLYPH_METRICS.get(k)
    if hit is None:
        box = font.load_glyph(glyph_index, flags=LoadFlags.NO_HINTING).bbox
        hit = (int(box[1]), int(box[3]))
        _GLYPH_METRICS.put(k, hit)
    return hit


def _glyph_advance(font: Any, char: str, face: tuple[Any, ...]) -> int:
    """The advance of one character's glyph at 72 dpi, unhinted, in 26.6 units: the width ``set_text`` gives it alone."""
    k = ("advance", *face, char)
    hit = _GLYPH_METRICS.get(k)
    if hit is None:
        font.set_text(char, 0.0, flags=LoadFlags.NO_HINTING)
        hit = int(font.get_width_height()[0])
        _GLYPH_METRICS.put(k, hit)
    return hit


def _extent_from_layout(font: Any, items: list[Any], face: tuple[Any, ...]) -> tuple[float, float, float] | None:
    """(width, height, descent) in points that ``font.set_text(s, 0, flags=NO_HINTING)`` gives, from the text's layout.

    ``set_text`` lays the text out as the layout does, puts each glyph's box at its pen
    position and gives the pen's advance past the last glyph as the width, and the union
    of the glyphs' boxes (an empty glyph's is its origin) as height and descent: the same
    numbers, from each glyph's box and the last one's advance, kept per process.
    ``None`` where that does not hold: a glyph from another font, a missing glyph, a
    raised or lowered glyph, or a last glyph that is not one character's own.
    """
    if not items:
        return None
    bottom, top = 32000, -32000
    for item in items:
        if item.ft_object is not font or item.y or not item.glyph_index:
            return None
        low, high = _glyph_rows(font, item.glyph_index, face)
        bottom, top = min(bottom, low), max(top, high)
    last = items[-1]
    x = last.x * 64
    if len(last.char) != 1 or font.get_char_index(ord(last.char)) != last.glyph_index or x != int(x):
        return None
    width = int(x) + _glyph_advance(font, last.char, face)
    return (width / 64.0, (top - bottom) / 64.0, -bottom / 64.0)


# What the PDF graphics state compares when a path is drawn (GraphicsContextPdf.delta)
_GC_PARAMS = tuple(p for params, _ in GraphicsContextPdf.commands for p in params)


def _self_equal(gc: Any) -> bool:
    """Whether each value of a graphics state compares equal to itself as the PDF state's check compares it (no NaN)."""
    for p in _GC_PARAMS:
        value = getattr(gc, p, None)
        if value is None:
            continue
        try:
            if value != value:
                return False
        except (TypeError, ValueError):
            array = np.asarray(value)
            if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and np.isnan(array).any()):
                return False
    return True


def _collection_state(gc: Any, fill: Any) -> tuple[Any, ...]:
    """The values of a graphics state that matplotlib sets per path of a collection, and the path's fill colour."""
    return (gc._linewidth, gc._dashes, gc._rgb, gc._hatch_color, fill)


def _same_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two paths' :func:`_collection_state` are equal as the PDF state's check compares them.

    Stricter than the check (values of the same types, no NaN): equal states give no
    change to write; where this cannot tell, the states count as different.
    """
    if not (type(a[0]) is float and a[0] == b[0]) or a[2] is None or b[2] is None:
        return False
    try:
        if not (type(a[1]) is type(b[1]) and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]):
            return False
    except (TypeError, ValueError):  # arrays of several values inside: not told here
        return False
    fa, fb = a[4], b[4]
    if fa is None or fb is None:
        return fa is fb
    if type(fa) is not np.ndarray or type(fb) is not np.ndarray or fa.shape != fb.shape:
        return False
    return bool(fa.tolist() == fb.tolist())  # new floats: a NaN is never equal


class _MapRendererPdf(RendererPdf):
    """PDF renderer measuring and laying out plain texts from the shared caches (text stays text)."""

    #: set while the path a collection yields has the drawing state of the one before (see :meth:`_iter_collection`)
    _mtown_repeat = False

    def _iter_collection(self, gc: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """matplotlib's paths of a collection, each marked when its drawing state repeats the last one's.

        matplotlib draws a collection it does not write as reusable objects (a layer of one
        path per feature: the inset's roads of several widths, lines coloured by value) path by path,
        and checks the whole graphics state before each one. Where a path's state (width,
        dashes, colours, alpha, caps, joins, clip, hatch: what the check compares) is the
        one the path before it set, the check would write nothing: :meth:`draw_path` leaves
        it out and writes the path and its paint operator at once.
        """
        last: tuple[Any, ...] | None = None
        plain: bool | None = None
        try:
            for item in super()._iter_collection(gc, *args, **kwargs):  # type: ignore[misc]  # private in the stubs
                gc0 = item[3]  # one state for all paths, matplotlib sets the per-path values on it
                if plain is None:
                    plain = _self_equal(gc0)
                state = _collection_state(gc0, item[4])
                self._mtown_repeat = plain and last is not None and _same_state(state, last)
                last = state
                yield item
                self._mtown_repeat = False
        finally:
            self._mtown_repeat = False

    def draw_path(self, gc: Any, path: MplPath, transform: Any, rgbFace: Any = None) -> None:
        if not self._mtown_repeat:
            super().draw_path(gc, path, transform, rgbFace)
            return
        self._mtown_repeat = False
        # as RendererPdf.draw_path, without the check of a state that is already set
        self.file.writePath(path, transform, rgbFace is None and gc.get_hatch_path() is None, gc.get_sketch_params())
        self.file.output(self.gc.paint())

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[float | None, float | None, float | None]:
        key = None if mpl.rcParams["pdf.use14corefonts"] else _font_key(prop)
        metrics = None if key is None else _height_metrics(lambda: self._get_font_ttf(prop), key, 72.0, "pdf")
        return super()._get_font_height_metrics(prop) if metrics is None else metrics

    def get_text_width_height_descent(self, s: str, prop: FontProperties, ismath: Any) -> tuple[float, float, float]:
        key = None if ismath or mpl.rcParams["pdf.use14corefonts"] else _font_key(prop)
        if key is None:
            return super().get_text_width_height_descent(s, prop, ismath)
        k = ("pdf", s, key)
        hit = _EXTENTS.get(k)
        if hit is None:
            hit = self._shape(s, prop, key)[1]
            if hit is None:
                hit = tuple(float(v) for v in super().get_text_width_height_descent(s, prop, ismath))
            _EXTENTS.put(k, hit)
        return hit

    def draw_text(
        self, gc: Any, x: float, y: float, s: str, prop: FontProperties, angle: float, ismath: Any = False, mtext: Any = None
    ) -> None:
        key = None if mpl.rcParams["pdf.use14corefonts"] else _plain(prop, ismath, mtext)
        program = None
        if key is not None and gc.get_url() is None and isinstance(self.file, _MapPdfFile):
            program = self._text_program(s, prop, key)
        if program is not None:
            self._write_text(gc, x, y, prop, angle, program)
            return
        token = _PDF_FONT.set(key)
        try:
            super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        finally:
            _PDF_FONT.reset(token)

    def _text_program(self, s: str, prop: FontProperties, key: tuple[str, int, float]) -> list[tuple[Any, ...]] | None:
        """The glyphs of a plain text as :meth:`RendererPdf.draw_text` writes them, laid out once per process.

        Each glyph is (font object, character, glyph index, x offset, kern before it in the
        PDF's text units, written); ``None`` (matplotlib draws the text) where a glyph is
        raised or lowered, or a kern is not a float, which the stock route writes otherwise.
        """
        return self._shape(s, prop, key)[0]

    def _shape(
        self, s: str, prop: FontProperties, key: tuple[str, int, float]
    ) -> tuple[list[tuple[Any, ...]] | None, tuple[float, float, float] | None]:
        """A text's glyph program (:meth:`_text_program`) and its extent, from one glyph layout kept per process.

        The layout is matplotlib's (:func:`matplotlib._text_helpers.layout` at 72 dpi,
        unhinted) without loading each glyph again after it; the extent is the one
        ``set_text`` gives (:func:`_extent_from_layout`), or ``None`` where it cannot be
        read off the layout (then the caller measures the stock way).
        """
        # what decides the font object matplotlib lays the text out with (font_manager.get_font): the
        # file once per family name of the properties, two settings, and the thread
        k = (
            s,
            key,
            len(prop.get_family()),
            mpl.rcParams["text.kerning_factor"],
            mpl.rcParams["font.enable_last_resort"],
            threading.get_ident(),
        )
        shaped = _PROGRAMS.get(k)
        if shaped is None:
            fontsize = prop.get_size_in_points()
            font = self._get_font_ttf(prop)
            # _text_helpers.layout also loads each glyph after laying the text out; nothing here reads it
            items = font._layout(s, LoadFlags.NO_HINTING)
            plain = all(not item.y and (not item.prev_kern or type(item.prev_kern) is float) for item in items)
            glyphs = [
                (
                    item.ft_object,
                    item.char,
                    item.glyph_index,
                    item.x,
                    pdfRepr(-1000 * item.prev_kern / fontsize) if item.prev_kern else None,
                )
                for item in items
            ]
            # the glyph metrics depend on the font object's settings too (get_font's key)
            face = (*key[:2], fontsize, mpl.rcParams["text.hinting_factor"], mpl.rcParams["text.kerning_factor"])
            extent = None if mpl.rcParams["text.kerning_factor"] else _extent_from_layout(font, items, face)
            shaped = (glyphs if plain else None, extent)
            _PROGRAMS.put(k, shaped)
        return shaped

    def _write_text(self, gc: Any, x: float, y: float, prop: FontProperties, angle: float, glyphs: list[tuple[Any, ...]]) -> None:
        """Write a plain text's operators, byte for byte as :meth:`RendererPdf.draw_text` writes them (fonts as text).

        The glyph codes and font names of the file are looked up once per glyph and font
        subset in the file and then kept with it; the text's glyph layout and kerns are the
        process's (:meth:`_text_program`). What follows the text's position (the font
        selections and glyph strings) depends only on the layout, the size and the codes
        and names the file gave its glyphs: it is kept per process and written again
        wherever a page draws the text with the same codes (:meth:`_text_body`).
        """
        self.check_gc(gc, gc._rgb)
        file = self.file
        fontsize = prop.get_size_in_points()
        fonttype = mpl.rcParams["pdf.fonttype"]
        codes, names = file._mtown_codes, file._mtown_names
        track = file._character_tracker.track_glyph
        used: list[Any] = []  # per glyph: its code in the file, and the file's name of its font subset where it changes
        prev_font = None
        for ft, char, glyph, _, _ in glyphs:
            code = codes.get((ft, char, glyph))
            if code is None:
                code = codes[ft, char, glyph] = track(ft, char, glyph)
            used.append(code)
            if (ft, code[0]) != prev_font:
                prev_font = (ft, code[0])
                name = names.get(prev_font)
                if name is None:
                    name = names[prev_font] = file.fontName(FontPath(ft.fname, ft.face_index), code[0])
                used.append(name)
        key = (id(glyphs), fontsize, fonttype, tuple(used))
        hit = _BODIES.get(key)
        if hit is None or hit[0] is not glyphs:  # the id of a layout no longer kept may be another's
            hit = (glyphs, self._text_body(glyphs, used, fontsize, fonttype))
            _BODIES.put(key, hit)
        a = math.radians(angle)
        cos, sin = math.cos(a), math.sin(a)
        position = _fill(
            [
                _number_repr(cos),
                _number_repr(sin),
                _number_repr(-sin),
                _number_repr(cos),
                _number_repr(x),
                _number_repr(y),
                _OP_CM,
            ]
        )
        file.write(b"%s\n%s\n%s" % (_OP_GSAVE, position, hit[1]))

    def _text_body(self, glyphs: list[tuple[Any, ...]], used: list[Any], fontsize: float, fonttype: int) -> bytes:
        """The operators of a text after its position (``BT`` ... ``ET``, ``Q``), as :meth:`RendererPdf.draw_text` writes them."""
        out = [_OP_BT]
        shown: list[bytes] = []  # the TJ array of the current font subset
        run: list[int] = []  # glyph codes not yet in it

        def show() -> None:
            if run:
                shown.append(pdfRepr(self._encode_glyphs(run, fonttype)))
                run.clear()
            if shown:
                out.append(_fill([_fill([b"[", *shown, b"]"]), _OP_TJ]))
                shown.clear()

        prev_start_x: float = 0
        i = 0
        for _, _, _, gx, kern in glyphs:
            charcode = used[i][1]
            i += 1
            if i < len(used) and type(used[i]) is Name:  # the font subset changes here
                show()
                out.append(_fill([pdfRepr(used[i]), _number_repr(fontsize), _OP_TF]))
                out.append(_fill([_number_repr(gx - prev_start_x), _number_repr(0), _OP_TD]))  # y - old y: the int 0
                prev_start_x = gx
                i += 1
            if kern is not None:
                if run:
                    shown.append(pdfRepr(self._encode_glyphs(run, fonttype)))
                    run.clear()
                shown.append(kern)
            run.append(charcode)
        show()
        out += (_OP_ET, _OP_GRESTORE)
        return b"\n".join(out) + b"\n"


_STOCK_CHARPROCS = backend_pdf._get_pdf_charprocs
_STOCK_GET_FONT = backend_pdf.get_font
_ADVANCE_FLAGS = LoadFlags.NO_SCALE | LoadFlags.NO_HINTING


class _Advance:
    """The unscaled advance of a glyph, as the glyph matplotlib loads for a Type 3 font's Widths carries it."""

    __slots__ = ("horiAdvance",)

    def __init__(self, advance: int) -> None:
        self.horiAdvance = advance


class _EmbeddedFont:
    """A font as the PDF file embeds it: the unscaled glyph advances (the Widths) kept per process.

    Everything else is the font's own. Loading a glyph of a Chinese face in design units
    takes about 30 µs, and a PDF embeds the widths of every character of a subset.
    """

    def __init__(self, font: Any, face: tuple[str, int]) -> None:
        self._font = font
        self._face = face

    def __getattr__(self, name: str) -> Any:
        return getattr(self._font, name)

    def load_glyph(self, glyph_index: int, flags: Any = LoadFlags.FORCE_AUTOHINT) -> Any:
        if flags != _ADVANCE_FLAGS:
            return self._font.load_glyph(glyph_index, flags=flags)
        key = ("advance", *self._face, int(glyph_index))
        hit = _GLYPHS.get(key)
        if hit is None:
            hit = _Advance(self._font.load_glyph(glyph_index, flags=flags).horiAdvance)
            _GLYPHS.put(key, hit)
        return hit


def _get_font(font_path: Any, *args: Any, **kwargs: Any) -> Any:
    """matplotlib's font of a file, with its glyph advances from the cache (see :class:`_EmbeddedFont`)."""
    font = _STOCK_GET_FONT(font_path, *args, **kwargs)
    if args or kwargs or isinstance(font_path, (list, tuple)):
        return font
    return _EmbeddedFont(font, (str(font_path), int(getattr(font_path, "face_index", 0) or 0)))


def _charprocs(font_path: str, glyph_indices: Any) -> dict[str, bytes]:
    """matplotlib's Type 3 glyph procedures (outline as PDF operators) of a font, each glyph made once per process."""
    face = (str(font_path), int(getattr(font_path, "face_index", 0) or 0))
    procs: dict[str, bytes] = {}
    for index in glyph_indices:
        key = (*face, int(index))
        hit = _GLYPHS.get(key)
        if hit is None:
            ((name, proc),) = _STOCK_CHARPROCS(font_path, [index]).items()
            hit = (name, proc)
            _GLYPHS.put(key, hit)
        procs[hit[0]] = hit[1]
    return procs


_STOCK_TO_RGBA = mcolors.to_rgba


def _to_rgba(c: Any, alpha: Any = None) -> Any:
    """:func:`matplotlib.colors.to_rgba`, with a row of a float RGBA array converted here.

    matplotlib's PDF backend converts the colour of each path of a collection (a row of
    the collection's colour array) on its own; a row of four values in 0–1 is the same
    tuple of floats matplotlib's parser gives (anything else is left to it).
    """
    if alpha is None and type(c) is np.ndarray and c.dtype == np.float64 and c.shape == (4,):
        rgba = tuple(c.tolist())
        if all(0.0 <= v <= 1.0 for v in rgba):
            return rgba
    return _STOCK_TO_RGBA(c, alpha)


@contextlib.contextmanager
def _cached_layout() -> Iterator[None]:
    """matplotlib's PDF text layout, glyph outlines and advances looked up in the caches (all other text as
    usual), and collections' colour rows converted directly (:func:`_to_rgba`)."""
    with _SWAP:
        previous = _text_helpers.layout, backend_pdf._get_pdf_charprocs, backend_pdf.get_font, mcolors.to_rgba
        _text_helpers.layout = _layout
        backend_pdf._get_pdf_charprocs = _charprocs
        backend_pdf.get_font = _get_font  # type: ignore[assignment]  # returns a font proxy
        mcolors.to_rgba = _to_rgba
        try:
            yield
        finally:
            _text_helpers.layout, backend_pdf._get_pdf_charprocs, backend_pdf.get_font, mcolors.to_rgba = previous


_PATH_MIN_VERTICES = 64  # shorter paths are written faster than they are looked up
_WRITE_MIN_VERTICES = 8  # the same for a path written into the page (a line of a layer coloured by value)
_PATHS_MAX_BYTES = 32 << 20  # path operators kept (with their keys): a dense town's basemap is 2–4 MB
_CHECKPOINT_BYTES = 128 << 10  # content between two kept compressor states of a page (each state: 256 kB)
_CHUNK_BYTES = 64 << 10  # content compressed at a time
_STREAMS_MAX_BYTES = 16 << 20  # small streams (glyph procedures) and their compressed bytes


class _SizedLRU(_LRU):
    """An :class:`_LRU` bounded by the bytes of its keys and values rather than by their count."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(0)
        self.max_bytes = max_bytes
        self.nbytes = 0

    def put(self, key: Any, value: Any, nbytes: int = 0) -> None:
        if nbytes > self.max_bytes:
            return
        with self.lock:
            old = self.data.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            self.data[key] = (value, nbytes)
            self.nbytes += nbytes
            while self.nbytes > self.max_bytes:
                self.nbytes -= self.data.popitem(last=False)[1][1]

    def get(self, key: Any) -> Any:
        hit = super().get(key)
        return None if hit is None else hit[0]

    def clear(self) -> None:
        with self.lock:
            self.data.clear()
            self.nbytes = 0


_PATHS = _SizedLRU(_PATHS_MAX_BYTES)
_STREAMS = _SizedLRU(_STREAMS_MAX_BYTES)


def _path_operators(
    path: MplPath,
    transform: Any,
    clip: Any = None,
    simplify: Any = None,
    sketch: Any = None,
    *,
    min_vertices: int = _PATH_MIN_VERTICES,
) -> list[Verbatim]:
    """matplotlib's PDF operators of a path (:meth:`PdfFile.pathOperations`), a long path's made once per process.

    The key holds everything the conversion reads: the vertices and codes as bytes, the
    path's simplification settings, the transform's matrix, the clip box and the
    simplification flag; a basemap drawn on every sheet of a town is converted once.
    Paths of fewer than ``min_vertices`` vertices are converted each time.
    """
    vertices = np.asarray(path.vertices)
    if sketch is not None or len(vertices) < min_vertices:
        return _STOCK_PATH_OPERATIONS(path, transform, clip, simplify, sketch)
    codes = path.codes
    key = (
        np.ascontiguousarray(vertices, dtype=np.float64).tobytes(),
        None if codes is None else np.ascontiguousarray(codes, dtype=np.uint8).tobytes(),
        bool(path.should_simplify),
        float(path.simplify_threshold),
        None if transform is None else np.ascontiguousarray(transform, dtype=np.float64).tobytes(),
        None if clip is None else tuple(float(v) for v in clip),
        None if simplify is None else bool(simplify),
    )
    hit = _PATHS.get(key)
    if hit is None:
        hit = _STOCK_PATH_OPERATIONS(path, transform, clip, simplify, sketch)
        size = len(key[0]) + len(key[1] or b"") + sum(len(v.pdfRepr()) for v in hit)
        _PATHS.put(key, hit, size)
    # new objects, as matplotlib makes them: the file tells marker paths apart by these objects, not by their bytes
    return [Verbatim(v.pdfRepr()) for v in hit]


_STOCK_PATH_OPERATIONS = PdfFile.pathOperations


class _PageReference:
    """The content of the last page a thread wrote, with its zlib compressor's state at points along it."""

    __slots__ = ("checkpoints", "compressed", "content", "level")

    def __init__(self, level: int, content: bytes, compressed: bytes, checkpoints: list[tuple[int, int, Any]]) -> None:
        self.level = level
        self.content = content
        self.compressed = compressed
        # (content offset, compressed offset, compressor state there), in order
        self.checkpoints = checkpoints


_PAGES = threading.local()  # per thread: the _PageReference of the last page


class _PageStream(Stream):
    """A page's content stream, compressed as matplotlib compresses it, reusing the last page's prefix.

    The sheets of a town begin alike (the basemap is drawn first, to the same bytes), and
    zlib's output depends only on the bytes given, not on how they are split between calls.
    While the page repeats the last page's content, nothing is compressed; where it departs
    from it, the compressor's state kept at the last checkpoint before that point is copied,
    the compressed bytes up to there are written and the rest is compressed as usual, in
    chunks of :data:`_CHUNK_BYTES`. The page then becomes the reference for the next one.
    """

    __slots__ = ("_checkpoints", "_chunks", "_compressed", "_level", "_matched", "_pending", "_pending_bytes", "_ref", "_size")

    def __init__(self, id: int, len: Any, file: PdfFile, level: int) -> None:
        super().__init__(id, len, file)
        ref = getattr(_PAGES, "last", None)
        self._ref: _PageReference | None = ref if ref is not None and ref.level == level else None
        self._level = level
        self._matched = 0  # bytes equal to the reference's so far (while _ref is set)
        self._chunks: list[bytes] = []  # the content compressed so far
        self._size = 0
        self._compressed: list[bytes] = []  # what the compressor gave for them
        self._checkpoints: list[tuple[int, int, Any]] = []
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes) -> None:
        if self.compressobj is None:  # ended: the length object follows the stream
            self.file.write(data)
            return
        ref = self._ref
        if ref is not None:
            if ref.content.startswith(data, self._matched):
                self._matched += len(data)
                return
            self._depart()
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= _CHUNK_BYTES:
            self._compress_pending()

    def _emit(self, compressed: bytes) -> None:
        if compressed:
            self.file.write(compressed)
            self._compressed.append(compressed)

    def _depart(self) -> None:
        """Leave the reference where the page departs from it: its compressed prefix written, the rest pending."""
        ref, matched = self._ref, self._matched
        assert ref is not None
        self._ref = None
        start, out = 0, 0
        for checkpoint in ref.checkpoints:
            if checkpoint[0] > matched:
                break
            start, out, state = checkpoint
            self._checkpoints.append(checkpoint)
        if start:
            self.compressobj = state.copy()
            self._emit(ref.compressed[:out])
            self._chunks.append(ref.content[:start])
            self._size = start
        if matched > start:
            self._pending.append(ref.content[start:matched])
            self._pending_bytes += matched - start

    def _compress_pending(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        compressor = self.compressobj
        assert compressor is not None  # set until the stream ends
        self._emit(compressor.compress(data))
        self._chunks.append(data)
        self._size += len(data)
        last = self._checkpoints[-1][0] if self._checkpoints else 0
        if self._size - last >= _CHECKPOINT_BYTES:
            self._checkpoints.append((self._size, sum(map(len, self._compressed)), compressor.copy()))

    def _flush(self) -> None:
        if self.compressobj is None:
            return
        if self._ref is not None:
            self._depart()
        self._compress_pending()
        self._emit(self.compressobj.flush())
        self.compressobj = None
        _PAGES.last = _PageReference(self._level, b"".join(self._chunks), b"".join(self._compressed), self._checkpoints)


def _number_repr(obj: Any) -> bytes:
    """:func:`matplotlib.backends.backend_pdf.pdfRepr`, with Python floats and ints formatted here (the most
    frequent operands of a page); everything else, and what it refuses, is left to matplotlib."""
    kind = type(obj)
    if kind is float and math.isfinite(obj):
        return (b"%.10f" % obj).rstrip(b"0").rstrip(b".")
    if kind is int:
        return b"%d" % obj
    return pdfRepr(obj)


class _MapPdfFile(PdfFile):
    """matplotlib's PDF file, writing long paths from the shared cache and the page content as a :class:`_PageStream`."""

    pathOperations = staticmethod(_path_operators)  # noqa: N815 (matplotlib's name)

    def __init__(self, filename: Any, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filename, metadata=metadata)
        self._mtown_codes: dict[tuple[Any, str, int], tuple[int, int]] = {}  # glyph -> (subset, code) in this file
        self._mtown_names: dict[tuple[Any, int], Name] = {}  # (font, subset) -> the file's font name

    def writePath(self, path: MplPath, transform: Any, clip: Any = False, sketch: Any = None) -> None:  # noqa: N802 (matplotlib's name)
        """Write a path's operators into the page as :meth:`PdfFile.writePath` does, any path of
        :data:`_WRITE_MIN_VERTICES` vertices or more converted once per process (:func:`_path_operators`).

        A layer drawn one path per feature (the inset's roads of several widths) repeats on every
        sheet of a town: its paths' operators are made on the first.
        """
        if clip:
            clip = (0.0, 0.0, self.width * 72, self.height * 72)
            simplify = path.should_simplify
        else:
            clip = None
            simplify = False
        self.output(*_path_operators(path, transform, clip, simplify, sketch, min_vertices=_WRITE_MIN_VERTICES))

    def output(self, *data: Any) -> None:
        """Write PDF objects as :meth:`PdfFile.output` does (numbers formatted here, one write per line)."""
        self.write(_fill([_number_repr(x) for x in data]) + b"\n")

    def beginStream(self, id: int, len: Any, extra: Any = None, png: Any = None) -> None:  # noqa: N802 (matplotlib's name)
        level = mpl.rcParams["pdf.compression"]
        if getattr(self, "_mtown_page", False) and level and extra is None and png is None:
            assert self.currentstream is None
            self.currentstream = _PageStream(id, len, self, int(level))
        else:
            super().beginStream(id, len, extra, png)

    def outputStream(self, ref: Any, data: bytes, *, extra: Any = None) -> None:  # noqa: N802 (matplotlib's name)
        """A whole stream (a glyph procedure, a character map) written as :class:`Stream` writes it, compressed once per process."""
        level = mpl.rcParams["pdf.compression"]
        if not level or self.currentstream is not None or not isinstance(data, bytes):
            super().outputStream(ref, data, extra=extra)
            return
        key = (int(level), data)
        packed = _STREAMS.get(key)
        if packed is None:
            compressor = zlib.compressobj(level)
            packed = compressor.compress(data) + compressor.flush()
            _STREAMS.put(key, packed, len(data) + len(packed))
        self.recordXref(ref.id)
        header = {} if extra is None else dict(extra)
        header["Length"] = len(packed)
        header["Filter"] = Name("FlateDecode")
        write = self.fh.write
        write(b"%d 0 obj\n" % ref.id)
        write(pdfRepr(header))
        write(b"\nstream\n")
        write(packed)
        write(b"\nendstream\nendobj\n")

    def newPage(self, width: float, height: float) -> None:  # noqa: N802 (matplotlib's name)
        self._mtown_page = True
        try:
            super().newPage(width, height)
        finally:
            self._mtown_page = False


def print_pdf(fig: Figure, path: str | Path, *, metadata: dict[str, str] | None = None) -> None:
    """Write a figure as a one-page PDF, as ``fig.savefig(path, format="pdf")`` does, with cached text.

    The figure's own size and face colour are used (no ``bbox_inches``); parts marked
    ``rasterized=True`` are rasterised at the figure's dpi.
    """
    dpi = fig.dpi
    fig.dpi = 72  # PDF points
    try:
        width, height = fig.get_size_inches()
        file = _MapPdfFile(str(path), metadata=metadata)
        try:
            file.newPage(width, height)
            renderer: Any = MixedModeRenderer(fig, width, height, dpi, _MapRendererPdf(file, dpi, height, width))
            with _cached_layout():
                with laid_out_once(fig):
                    fig.draw(renderer)
                renderer.finalize()
                file.finalize()  # the fonts are embedded here
        finally:
            file.close()
    finally:
        fig.dpi = dpi
