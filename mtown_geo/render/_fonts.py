"""The Chinese font of the print maps, shipped with the install and used by its file path.

The maps set their text in **Noto Sans CJK SC** (思源黑体 简体, SIL Open Font License 1.1),
read from the OpenType collection ``NotoSansCJK-Regular.ttc`` that the PyPI package
``noto-cjk-sans-otc`` carries. The collection holds the Japanese, Korean, Simplified
Chinese, Traditional Chinese and Hong Kong faces of the same design; the maps use the
Simplified Chinese face, whose glyph shapes follow the mainland standard (GB 18030). It
covers Latin, digits and the symbols the maps use (``≤ – © ² ·``), so one font serves the
Chinese and the English text alike.

Every text of a map is given the font *file* and the face's index inside it
(:class:`matplotlib.font_manager.FontPath`), never a family name: matplotlib's family
lookup is not used, so whatever fonts the system has — a copy of the same family from
Debian/Ubuntu's ``fonts-noto-cjk``, Microsoft YaHei on Windows, PingFang on macOS, or no
Chinese font at all — the maps look the same. Nothing is registered with matplotlib's
font manager and no global ``rcParams`` are changed.

Where the ``noto-cjk-sans-otc`` package is missing, any installed copy of the same face
(PostScript name ``NotoSansCJKsc-Regular``) that matplotlib knows of is used instead, by its
path and face index too; without either, drawing a map raises
:class:`~mtown_geo.DataNotFoundError` with the ``pip install`` command.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from importlib import resources
from pathlib import Path

from matplotlib import font_manager

from .._errors import DataNotFoundError

__all__ = ["FAMILY", "POSTSCRIPT_NAME", "cjk_face_index", "cjk_font", "cjk_font_file", "cjk_font_path", "missing_chars"]

log = logging.getLogger(__name__)

#: Family name of the face the maps use (for documentation: the maps never look it up by name).
FAMILY = "Noto Sans CJK SC"
#: PostScript name of that face (the name a PDF embeds it under).
POSTSCRIPT_NAME = "NotoSansCJKsc-Regular"

_PACKAGE = "noto_cjk_sans_otc"
_DISTRIBUTION = "noto-cjk-sans-otc"
_FILE = "NotoSansCJK-Regular.ttc"


def cjk_font_path() -> Path:
    """Path of the packaged font collection ``NotoSansCJK-Regular.ttc``.

    Returns
    -------
    pathlib.Path
        The ``.ttc`` file inside the installed ``noto-cjk-sans-otc`` package.

    Raises
    ------
    DataNotFoundError
        The package is not installed, or its font file is missing; the message gives
        the ``pip install`` command.
    """
    try:
        path = Path(str(resources.files(_PACKAGE) / _FILE))
    except ModuleNotFoundError:
        raise DataNotFoundError(
            f"the Chinese map font ships with the '{_DISTRIBUTION}' package, which is not installed: pip install {_DISTRIBUTION}"
        ) from None
    if not path.is_file():
        raise DataNotFoundError(
            f"the font file {path} is missing from the '{_DISTRIBUTION}' installation: "
            f"reinstall it with pip install --force-reinstall {_DISTRIBUTION}"
        )
    return path


def _face_index_in(path: Path) -> int | None:
    """Index of the face named :data:`POSTSCRIPT_NAME` in a font file (None when it has none)."""
    from matplotlib import ft2font

    try:
        first = ft2font.FT2Font(str(path))
        for index in range(first.num_faces):
            face = first if index == 0 else ft2font.FT2Font(str(path), face_index=index)
            if face.postscript_name == POSTSCRIPT_NAME:
                return index
    except (OSError, RuntimeError, ValueError):  # unreadable or not a font
        return None
    return None


def cjk_face_index(path: str | Path | None = None) -> int:
    """Index of the Simplified Chinese face (:data:`POSTSCRIPT_NAME`) inside a collection.

    Parameters
    ----------
    path : path, optional
        The font file (default: the packaged collection, :func:`cjk_font_path`).

    Raises
    ------
    DataNotFoundError
        The file has no face of that name (a different or damaged file).
    """
    target = cjk_font_path() if path is None else Path(path)
    index = _cached_face_index(str(target))
    if index is None:
        raise DataNotFoundError(
            f"{target} holds no face named {POSTSCRIPT_NAME}: reinstall it with pip install --force-reinstall {_DISTRIBUTION}"
        )
    return index


@functools.cache
def _cached_face_index(path: str) -> int | None:
    return _face_index_in(Path(path))


def _installed_copy() -> font_manager.FontPath | None:
    """Another installed copy of the face (a system font), by path and face index, or None."""
    files = sorted({e.fname for e in font_manager.fontManager.ttflist if e.name == FAMILY})
    for fname in files:
        index = _cached_face_index(fname)
        if index is not None:
            return font_manager.FontPath(fname, index)
    return None


@functools.cache
def cjk_font_file() -> font_manager.FontPath:
    """The font file and face the maps draw with: the packaged one, else any installed copy.

    Returns
    -------
    matplotlib.font_manager.FontPath
        A path string carrying the face index (``.path``, ``.face_index``).

    Raises
    ------
    DataNotFoundError
        Neither the ``noto-cjk-sans-otc`` package nor another copy of the face is installed,
        or matplotlib is too old to read a face of a collection.
    """
    if not hasattr(font_manager, "FontPath"):  # matplotlib < 3.11 reads only the first face of a collection
        import matplotlib

        raise DataNotFoundError(
            f"matplotlib {matplotlib.__version__} cannot read the Chinese face of the font collection {_FILE}: "
            "upgrade it with pip install 'matplotlib>=3.11'"
        )
    try:
        path = cjk_font_path()
    except DataNotFoundError:
        copy = _installed_copy()
        if copy is None:
            raise
        log.info(
            "the %s package is not installed: the maps use the installed copy %s (face %d)",
            _DISTRIBUTION,
            copy.path,
            copy.face_index,
        )
        return copy
    return font_manager.FontPath(str(path), cjk_face_index(path))


def cjk_font(*, size_pt: float | None = None) -> font_manager.FontProperties:
    """Font properties that draw Chinese and English text in Noto Sans CJK SC, by file.

    Parameters
    ----------
    size_pt : float, optional
        Font size in points (default: matplotlib's default size).

    Returns
    -------
    matplotlib.font_manager.FontProperties
        A new object naming the font file and face (:func:`cjk_font_file`), to pass as
        ``fontproperties=`` (or ``prop=`` for legends). matplotlib resolves it to that
        file whatever fonts the system has.

    Raises
    ------
    DataNotFoundError
        The font is missing, or matplotlib is too old to read it.
    """
    return font_manager.FontProperties(fname=cjk_font_file(), size=size_pt)


@functools.cache
def _charmap() -> frozenset[int]:
    from matplotlib import ft2font

    font = cjk_font_file()
    face = ft2font.FT2Font(font.path, face_index=font.face_index)
    return frozenset(face.get_charmap())


def missing_chars(text: str) -> str:
    """The characters of ``text`` the map font has no glyph for (drawn as empty boxes).

    Whitespace and control characters are ignored; each missing character is listed once,
    in order of appearance.
    """
    cmap = _charmap()
    out: dict[str, None] = {}
    for ch in text:
        if ch.isspace() or unicodedata.category(ch).startswith("C"):
            continue
        if ord(ch) not in cmap:
            out[ch] = None
    return "".join(out)
