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
* in the PDF, the **glyph layout** of a text (glyph indices and advances): the text is
  still written as text, in the embedded font, and can be searched and copied;
* the **outline** of each glyph the PDFs embed (the Type 3 glyph procedure), made once per
  process instead of once per file.

Within one draw (the PNG's, then the PDF's), each text and each legend box is laid out
once (:func:`laid_out_once`); matplotlib lays legends out again at every level of their
boxes. The files are those matplotlib writes itself: the PDF byte for byte, the PNG up to
antialiasing at glyph edges (bitmaps turned whole).

Texts set by a font *file* (every text of the maps, see :mod:`mtown_geo.render._fonts`)
are cached; any other text (a family name, math text, font features, another language
tag) is drawn by matplotlib as usual. The caches are bounded (least recently used go first).
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib import _text_helpers
from matplotlib.backends import backend_pdf
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_pdf import PdfFile, RendererPdf
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.offsetbox import OffsetBox
from matplotlib.text import Text

__all__ = ["MapCanvas", "clear_caches", "gc_paused", "laid_out_once", "print_pdf"]

_EXTENTS_MAX = 20_000  # (width, height, descent) triples
_BITMAPS_MAX = 2_000  # grey bitmaps of a text (a street name at 300 dpi: ~15 kB)
_LAYOUTS_MAX = 5_000  # glyph layouts of the PDF
_GLYPHS_MAX = 20_000  # glyph outlines embedded in the PDFs (a few hundred bytes each)


class _LRU:
    """A bounded mapping, least recently used first out; safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
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


def clear_caches() -> None:
    """Forget every cached text extent, bitmap, layout and glyph outline."""
    for cache in (_EXTENTS, _BITMAPS, _LAYOUTS, _GLYPHS):
        cache.clear()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a sheet is laid out or drawn.

    A draw makes tens of thousands of short-lived objects (transforms, paths, bounding
    boxes); in a process that holds a town's layers each collection they trigger walks
    every object, which costs 5–10 % of a sheet. Reference counting still frees them; the
    collector runs again when the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


class MapCanvas(FigureCanvasAgg):
    """The Agg canvas of a map sheet: texts from the shared caches, one pixel buffer for all sheets.

    The sheets of one size share a renderer per thread (an A4 sheet at 300 dpi is a 44 MB
    buffer): a run that lays out every map of a town before saving them holds one buffer,
    not one per sheet. A canvas whose sheet was not the last one drawn into it is drawn
    again before its pixels are read.
    """

    def get_renderer(self) -> RendererAgg:
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        pool: dict[Any, RendererAgg] = getattr(_LOCAL, "renderers", {})
        renderer = pool.get(key)
        if renderer is None:
            renderer = _MapRendererAgg(w, h, self.figure.dpi)
            _LOCAL.renderers = pool = {key: renderer}  # keep the last size only
        self.renderer = renderer
        self._lastKey = key
        return renderer

    def draw(self) -> None:
        with laid_out_once(self.figure):
            super().draw()
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


class _MapRendererPdf(RendererPdf):
    """PDF renderer measuring and laying out plain texts from the shared caches (text stays text)."""

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
            hit = tuple(float(v) for v in super().get_text_width_height_descent(s, prop, ismath))
            _EXTENTS.put(k, hit)
        return hit

    def draw_text(
        self, gc: Any, x: float, y: float, s: str, prop: FontProperties, angle: float, ismath: Any = False, mtext: Any = None
    ) -> None:
        key = None if mpl.rcParams["pdf.use14corefonts"] else _plain(prop, ismath, mtext)
        token = _PDF_FONT.set(key)
        try:
            super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        finally:
            _PDF_FONT.reset(token)


_STOCK_CHARPROCS = backend_pdf._get_pdf_charprocs


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


@contextlib.contextmanager
def _cached_layout() -> Iterator[None]:
    """matplotlib's PDF text layout and glyph outlines looked up in the caches (all other text as usual)."""
    with _SWAP:
        previous = _text_helpers.layout, backend_pdf._get_pdf_charprocs
        _text_helpers.layout = _layout
        backend_pdf._get_pdf_charprocs = _charprocs
        try:
            yield
        finally:
            _text_helpers.layout, backend_pdf._get_pdf_charprocs = previous


def print_pdf(fig: Figure, path: str | Path, *, metadata: dict[str, str] | None = None) -> None:
    """Write a figure as a one-page PDF, as ``fig.savefig(path, format="pdf")`` does, with cached text.

    The figure's own size and face colour are used (no ``bbox_inches``); parts marked
    ``rasterized=True`` are rasterised at the figure's dpi.
    """
    dpi = fig.dpi
    fig.dpi = 72  # PDF points
    try:
        width, height = fig.get_size_inches()
        file = PdfFile(str(path), metadata=metadata)
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
