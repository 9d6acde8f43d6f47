"""Reading planners' vector files (Shapefile, GeoPackage, GeoJSON, KML...) without mojibake.

Shapefiles made in China often store their attribute text in GBK (the Windows code page
936) without a ``.cpg`` file saying so; read as UTF-8 or Latin-1, 东门街道 turns into
``¶«ÃÅ½ÖµÀ``. :func:`read_vector` reads the text bytes of a shapefile as they are and
decodes them itself:

1. with the ``encoding`` given, else
2. with the encoding its ``.cpg`` file names, else
3. as UTF-8 when every text value is valid UTF-8 (plain ASCII included), else
4. with the Chinese, Japanese or Korean code page the ``.dbf`` header's language driver
   byte names, else
5. as GB18030 (a superset of GBK and GB2312) when every value is valid GB18030.

A value cut in the middle of a multi-byte character (the ``.dbf`` stores fields of fixed
byte width) loses only the cut character. Other formats (GeoPackage, GeoJSON, KML) store
UTF-8 and are read as they are.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError as _PyprojCRSError

from .._errors import CRSError, DataNotFoundError, InputError, RepairWarning

__all__ = ["read_vector"]

log = logging.getLogger(__name__)

#: dBase language driver ids (byte 29 of a .dbf header) of the East Asian code pages.
_LDID_CODEPAGES = {
    0x13: "cp932",
    0x4D: "gb18030",  # 936, GBK (PRC)
    0x4E: "cp949",
    0x4F: "cp950",
    0x78: "cp950",
    0x79: "cp949",
    0x7A: "gb18030",  # 936, GBK (PRC)
    0x7B: "cp932",
}

_GBK_NAMES = {"936", "cp936", "ms936", "gbk", "gb2312", "gb-2312", "euc-cn", "gb18030", "windows-936", "ansi-936"}
_UTF8_NAMES = {"65001", "utf8", "utf-8", "cp65001"}
_LATIN1_NAMES = {"88591", "8859-1", "iso-8859-1", "iso8859-1", "latin1", "latin-1"}


def _codec(name: str, *, what: str) -> str:
    """A Python codec name for an encoding as .cpg files and users write it ('936', 'GBK', 'UTF-8'...)."""
    norm = re.sub(r"[\s_]+", "-", name.strip().lower())
    if norm in _GBK_NAMES:
        return "gb18030"
    if norm in _UTF8_NAMES:
        return "utf-8"
    if norm in _LATIN1_NAMES:
        return "latin-1"
    m = re.fullmatch(r"(?:ansi-|cp-?|windows-)?(\d{3,5})", norm)
    if m:
        norm = f"cp{m.group(1)}"
    try:
        return codecs.lookup(norm).name
    except LookupError:
        raise InputError(
            f"unknown text encoding {name!r} (from {what}); pass the file's encoding with encoding=..., "
            "e.g. 'gb18030' for GBK/GB2312 text or 'utf-8'"
        ) from None


def _find_file(folder: Path, stem: str, suffix: str) -> Path | None:
    """A file ``stem + suffix`` in a folder, whatever the case of its name."""
    exact = folder / f"{stem}{suffix}"
    if exact.exists():
        return exact
    want = f"{stem}{suffix}".lower()
    try:
        for entry in os.scandir(folder):
            if entry.name.lower() == want:
                return Path(entry.path)
    except OSError:
        return None
    return None


def _sidecar(path: Path, layer: str, suffix: str, *, size: int = -1) -> bytes | None:
    """The bytes of a shapefile's companion file (.cpg, .dbf, .prj), beside it, in its folder or in its .zip."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = Path(info.filename)
                if name.stem == layer and name.suffix.lower() == suffix:
                    with zf.open(info) as fh:
                        return fh.read(size)
        return None
    folder, stem = (path, layer) if path.is_dir() else (path.parent, path.stem)
    found = _find_file(folder, stem, suffix)
    if found is None:
        return None
    with open(found, "rb") as fh:
        return fh.read(size)


def _decode(raw: str, encoding: str, errors: str = "strict") -> str:
    """Decode text read byte for byte (as Latin-1); an incomplete character at the end is dropped."""
    data = raw.encode("latin-1")
    return codecs.getincrementaldecoder(encoding)(errors).decode(data, final=False)


def _decodes_all(values: list[str], encoding: str) -> int:
    """How many values are not valid text in an encoding."""
    bad = 0
    for v in values:
        try:
            _decode(v, encoding)
        except UnicodeDecodeError:
            bad += 1
    return bad


def _is_text(col: pd.Series) -> bool:
    return col.dtype == object or pd.api.types.is_string_dtype(col.dtype)


def _text_cells(df: pd.DataFrame) -> list[str]:
    out: set[str] = set()
    for col in df.columns:
        if _is_text(df[col]):
            out.update(v for v in df[col].to_numpy(dtype=object) if isinstance(v, str))
    return sorted(out)


def _shapefile_encoding(values: list[str], path: Path, layer: str, encoding: str | None) -> tuple[str, str]:
    """(codec, how it was chosen) for a shapefile's raw text values."""
    if encoding is not None:
        return _codec(encoding, what="encoding="), "given"
    cpg = _sidecar(path, layer, ".cpg")
    if cpg is not None and cpg.strip():
        text = cpg.decode("ascii", errors="replace").strip()
        return _codec(text, what=f"the .cpg file of {layer}"), f".cpg file ({text})"
    if all(v.isascii() for v in values):
        return "utf-8", "ASCII text"
    if _decodes_all(values, "utf-8") == 0:
        return "utf-8", "detected: valid UTF-8"
    header = _sidecar(path, layer, ".dbf", size=32)
    ldid = header[29] if header is not None and len(header) > 29 else 0
    if ldid in _LDID_CODEPAGES:
        return _LDID_CODEPAGES[ldid], f".dbf language driver 0x{ldid:02X}"
    return "gb18030", "detected: not UTF-8, read as GB18030 (GBK)"


def _read_shapefile(path: Path, layer: str, encoding: str | None) -> tuple[gpd.GeoDataFrame, str]:
    # read the text bytes as they are (Latin-1 maps every byte to one character) and decode here
    raw = pyogrio.read_dataframe(path, layer=layer, encoding="ISO-8859-1")
    geom_name = raw.geometry.name
    names = [c for c in raw.columns if c != geom_name]
    values = sorted(set(_text_cells(raw.drop(columns=geom_name)) + [str(c) for c in names]))
    codec, how = _shapefile_encoding(values, path, layer, encoding)
    bad = _decodes_all(values, codec)
    errors = "strict"
    if bad:
        fallback = next((c for c in ("utf-8", "gb18030") if c != codec and _decodes_all(values, c) == 0), None)
        if fallback is not None and encoding is None:
            warnings.warn(
                f"{path.name}: {how} says {codec}, but {bad} text values are not valid {codec}; "
                f"they all read as {fallback}, which is used. Pass encoding=... to choose",
                RepairWarning,
                stacklevel=3,
            )
            codec, how = fallback, f"{how}, corrected to {fallback}"
        else:
            warnings.warn(
                f"{path.name}: {bad} text values are not valid {codec} ({how}); their undecodable bytes "
                "are shown as U+FFFD. Pass the file's encoding with encoding=...",
                RepairWarning,
                stacklevel=3,
            )
            errors = "replace"
    table = {v: _decode(v, codec, errors) for v in values}
    out = raw.rename(columns={c: table.get(str(c), c) for c in names})
    for col in out.columns:
        if col != geom_name and _is_text(out[col]):
            out[col] = out[col].map(lambda v: table.get(v, v) if isinstance(v, str) else v)
    return out, f"{codec} ({how})"


def _crs_hint(bounds: np.ndarray) -> str:
    """What the coordinates of a layer without CRS look like."""
    west, south, east, north = (float(b) for b in bounds)
    if not np.all(np.isfinite(bounds)):
        return ""
    if -180 <= west <= east <= 180 and -90 <= south <= north <= 90:
        return " Its coordinates look like longitude/latitude: crs=4326 (WGS 84: GPS, OSM) or crs=4490 (CGCS2000)."
    if west >= 1e7 and east < 1e8 and 1e6 <= south <= north < 1e7:
        zone = int(west // 1e6)
        if zone == int(east // 1e6):
            if 25 <= zone <= 45:
                return f" Its x values carry the zone number {zone}: crs={4513 + zone - 25} (CGCS2000 3-degree Gauss–Krüger zone {zone})."
            if 13 <= zone <= 23:
                return f" Its x values carry the zone number {zone}: crs={4491 + zone - 13} (CGCS2000 6-degree Gauss–Krüger zone {zone})."
    if west >= 1e5 and east <= 9e5 and 1e6 <= south <= north <= 6.5e6:
        return (
            " Its coordinates look like Gauss–Krüger metres without a zone number: CGCS2000 3-degree zones are "
            "EPSG:4534–4554 by central meridian, e.g. crs=4549 for 120°E (mtown_geo.crs.gauss_kruger_epsg(lon) gives the code)."
        )
    return ""


#: GDAL drivers that read a file without a CRS as WGS 84 longitude/latitude.
_LONLAT_BY_DEFAULT = {"GeoJSON", "GeoJSONSeq", "TopoJSON", "ESRIJSON"}


def _fits_lonlat(crs: CRS, bounds: np.ndarray) -> bool:
    """Whether a layer's bounds can be in its CRS: inside ±180° / ±90° when it is geographic."""
    if not crs.is_geographic or not np.all(np.isfinite(bounds)):
        return True
    west, south, east, north = (float(b) for b in bounds)
    tol = 1e-7
    return -180 - tol <= west and east <= 180 + tol and -90 - tol <= south and north <= 90 + tol


def _extent(bounds: np.ndarray) -> str:
    west, south, east, north = (f"{b:,.0f}" if abs(b) >= 1000 else f"{b:.6g}" for b in (float(v) for v in bounds))
    return f"x from {west} to {east}, y from {south} to {north}"


def read_vector(
    path: str | os.PathLike[str],
    *,
    layer: str | int | None = None,
    encoding: str | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Read a vector file a planner has, with its attribute text decoded correctly.

    Parameters
    ----------
    path : path-like
        A Shapefile (``.shp``; also a folder of shapefiles or a ``.zip`` holding one),
        GeoPackage, GeoJSON, KML (when GDAL has the driver), FileGDB or any other
        vector format GDAL reads.
    layer : str or int, optional
        The layer to read; required when the file holds several (the error lists them).
    encoding : str, optional
        Text encoding of a shapefile's attributes (``"gbk"``, ``"gb18030"``,
        ``"utf-8"``, ``"936"``...), overriding its ``.cpg`` and the detection; for other
        formats passed to GDAL.
    crs : optional
        The CRS of the coordinates when the file has none (a shapefile without
        ``.prj``), e.g. ``4326`` or ``4549``. A file that has a CRS must agree with it.

    Returns
    -------
    GeoDataFrame
        The features in the file's CRS, with plain columns (names and text decoded,
        no ``attrs``), a ``geometry`` column and a fresh ``RangeIndex``. The encoding
        used is logged.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    CRSError
        The file has no CRS (a shapefile without ``.prj``, a GeoJSON without a ``crs``
        member whose coordinates are not longitude/latitude) and ``crs`` is not given,
        ``crs`` contradicts the file's CRS, or the file declares a geographic CRS for
        coordinates beyond ±180° / ±90°; the message says how to set it.
    InputError
        Not a vector file, several layers and no ``layer``, an unknown layer, a layer
        without geometry, or an unknown encoding.

    Warns
    -----
    RepairWarning
        A shapefile's text is not valid in the encoding its ``.cpg`` names (another
        encoding that reads it all is used), or in any encoding (bad bytes become U+FFFD).

    Examples
    --------
    >>> from mtown_geo.sources.vector import read_vector
    >>> roads = read_vector("道路中心线.shp")  # doctest: +SKIP
    """
    if encoding is not None:
        _codec(encoding, what="encoding=")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataNotFoundError(f"vector file {p} does not exist")
    try:
        layers = pyogrio.list_layers(p)
    except (DataSourceError, DataLayerError) as exc:
        raise InputError(
            f"cannot read {p} as a vector file ({exc}). mtown_geo reads Shapefile, GeoPackage, GeoJSON, KML "
            "and the other vector formats of GDAL"
        ) from None
    if len(layers) == 0:
        raise InputError(f"{p} holds no layer")
    names = [str(n) for n in layers[:, 0]]
    listing = ", ".join(f"{n!r} ({g or 'no geometry'})" for n, g in zip(names, layers[:, 1], strict=True))
    if layer is None:
        if len(names) > 1:
            raise InputError(f"{p.name} holds {len(names)} layers: {listing}. Choose one with layer=...")
        name = names[0]
    elif isinstance(layer, int) and not isinstance(layer, bool):
        if not 0 <= layer < len(names):
            raise InputError(f"{p.name} has no layer number {layer}; its layers are {listing}")
        name = names[layer]
    else:
        if str(layer) not in names:
            raise InputError(f"{p.name} has no layer {layer!r}; its layers are {listing}")
        name = str(layer)
    if layers[names.index(name), 1] is None:
        raise InputError(f"the layer {name!r} of {p.name} has no geometry (a plain table); give a layer with features")
    try:
        # (text read byte for byte here: only the driver's name is used)
        driver = str(pyogrio.read_info(p, layer=name, encoding="ISO-8859-1")["driver"])
        if driver == "ESRI Shapefile":
            gdf, used = _read_shapefile(p, name, encoding)
        else:
            gdf = pyogrio.read_dataframe(p, layer=name, encoding=encoding)
            used = encoding or "UTF-8 / as GDAL reports it"
    except (DataSourceError, DataLayerError) as exc:
        raise InputError(f"cannot read the layer {name!r} of {p}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"the text of {p.name} is not valid {exc.encoding}; pass its encoding with encoding=...") from None

    file_crs = gdf.crs
    bounds = np.asarray(gdf.total_bounds, dtype=float)
    if file_crs is not None and not _fits_lonlat(CRS.from_user_input(file_crs), bounds):
        if driver in _LONLAT_BY_DEFAULT:
            # GeoJSON without a `crs` member: GDAL reads it as WGS 84 (RFC 7946) whatever it holds
            if crs is None:
                raise CRSError(
                    f"{p.name}: its coordinates cannot be longitude/latitude ({_extent(bounds)}), but a GeoJSON without "
                    "a `crs` member is read as WGS 84 (RFC 7946), so they would be placed nowhere. Name the CRS they "
                    "are in: read_vector(path, crs=...), or give the file a `crs` member, e.g. "
                    '"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}}, or save it from '
                    f"QGIS with its CRS (Layer ▸ Set CRS, then Export ▸ Save Features As, GeoPackage).{_crs_hint(bounds)}"
                )
            file_crs = None
            gdf = gdf.set_crs(None, allow_override=True)
        else:
            raise CRSError(
                f"{p.name} says its CRS is {CRS.from_user_input(file_crs).name} (degrees), but its coordinates cannot "
                f"be longitude/latitude ({_extent(bounds)}): the CRS it declares is wrong. Set the right one "
                f"(QGIS: Layer ▸ Set CRS, then save), or read it with crs=... after removing the wrong one.{_crs_hint(bounds)}"
            )
    if crs is not None:
        try:
            wanted = CRS.from_user_input(crs)
        except _PyprojCRSError as exc:
            raise CRSError(f"crs={crs!r} is not a coordinate reference system pyproj knows: {exc}") from None
        if file_crs is None:
            gdf = gdf.set_crs(wanted)
        elif not CRS.from_user_input(file_crs).equals(wanted):
            raise CRSError(
                f"{p.name} says its CRS is {CRS.from_user_input(file_crs).name}, not {wanted.name}; crs= only "
                "names the CRS of files that have none. To change coordinates, reproject the result: .to_crs(...)"
            )
    elif file_crs is None:
        no_prj = driver == "ESRI Shapefile" and _sidecar(p, name, ".prj", size=1) is None
        raise CRSError(
            f"{p.name} has no CRS{' (there is no .prj file beside the .shp)' if no_prj else ''}, so its coordinates "
            "cannot be placed. Name the CRS they are in: read_vector(path, crs=...), or give the file one "
            f"(QGIS: Layer ▸ Set CRS, then save).{_crs_hint(bounds)}"
        )
    data = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    geom_col = "geometry" if "geometry" not in data.columns else str(gdf.geometry.name)
    data[geom_col] = gdf.geometry.to_numpy()
    out = gpd.GeoDataFrame(data, geometry=geom_col, crs=gdf.crs)
    out.attrs = {}
    log.info(
        "read %s (layer %r, %s): %d features, text %s, CRS %s",
        p.name,
        name,
        driver,
        len(out),
        used,
        CRS.from_user_input(out.crs).to_string(),
    )
    return out
