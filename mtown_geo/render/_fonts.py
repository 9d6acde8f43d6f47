"""The Chinese font of the print maps, shipped with the install (never taken from the system).

The maps set their text in **Noto Sans CJK SC** (思源黑体 简体, SIL Open Font License 1.1),
read from the OpenType collection ``NotoSansCJK-Regular.ttc`` that the PyPI package
``noto-cjk-sans-otc`` carries. The collection holds the Japanese, Korean, Simplified
Chinese, Traditional Chinese and Hong Kong faces of the same design; the maps use the
Simplified Chinese face, whose glyph shapes follow the mainland standard (GB 18030). It
covers Latin, digits and the symbols the maps use (``≤ – © ² ·``), so one font serves the
Chinese and the English text alike.

The font is registered with matplotlib's font manager the first time it is asked for
(:func:`cjk_font`), not at import, and no global ``rcParams`` are changed: the maps pass
the font to every text they draw.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from importlib import resources
from pathlib import Path

from matplotlib import font_manager

from .._errors import DataNotFoundError

__all__ = ["FAMILY", "POSTSCRIPT_NAME", "cjk_face_index", "cjk_font", "cjk_font_path", "missing_chars"]

log = logging.getLogger(__name__)

#: Family name of the face the maps use (matplotlib resolves text to it by this name).
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


@functools.cache
def cjk_face_index() -> int:
    """Index of the Simplified Chinese face (:data:`FAMILY`) inside the collection.

    Raises
    ------
    DataNotFoundError
        The collection has no face of that name (a different or damaged file).
    """
    from matplotlib import ft2font

    path = cjk_font_path()
    first = ft2font.FT2Font(str(path))
    for index in range(first.num_faces):
        face = first if index == 0 else ft2font.FT2Font(str(path), face_index=index)
        if face.postscript_name == POSTSCRIPT_NAME:
            return index
    raise DataNotFoundError(
        f"{path} holds no face named {POSTSCRIPT_NAME}: reinstall it with pip install --force-reinstall {_DISTRIBUTION}"
    )


@functools.cache
def _register() -> None:
    """Add the collection to matplotlib's font manager and check that the family resolves to it."""
    path = cjk_font_path()
    if not hasattr(font_manager, "FontPath"):  # matplotlib < 3.11 reads only the first face of a collection
        import matplotlib

        raise DataNotFoundError(
            f"matplotlib {matplotlib.__version__} cannot read the Chinese face of the font collection {path.name}: "
            "upgrade it with pip install 'matplotlib>=3.11'"
        )
    index = cjk_face_index()
    font_manager.fontManager.addfont(path)
    found = font_manager.findfont(font_manager.FontProperties(family=FAMILY), fallback_to_default=False)
    found_index = getattr(found, "face_index", 0)
    if Path(str(found)).resolve() != path.resolve() or found_index != index:
        raise DataNotFoundError(  # pragma: no cover - only with a shadowing font of the same name
            f"matplotlib resolves the family {FAMILY!r} to {found} (face {found_index}), "
            f"not to the packaged {path} (face {index})"
        )
    log.debug("registered %s (face %d) as %r", path, index, FAMILY)


def cjk_font(*, size_pt: float | None = None) -> font_manager.FontProperties:
    """Font properties that draw Chinese and English text in the packaged Noto Sans CJK SC.

    Parameters
    ----------
    size_pt : float, optional
        Font size in points (default: matplotlib's default size).

    Returns
    -------
    matplotlib.font_manager.FontProperties
        A new object, to pass as ``fontproperties=`` (or ``prop=`` for legends).

    Raises
    ------
    DataNotFoundError
        The font package is missing, or matplotlib is too old to read it.
    """
    _register()
    return font_manager.FontProperties(family=FAMILY, size=size_pt)


@functools.cache
def _charmap() -> frozenset[int]:
    from matplotlib import ft2font

    face = ft2font.FT2Font(str(cjk_font_path()), face_index=cjk_face_index())
    return frozenset(face.get_charmap())


def missing_chars(text: str) -> str:
    """The characters of ``text`` the packaged font has no glyph for (drawn as empty boxes).

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
