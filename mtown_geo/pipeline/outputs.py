"""Writing a run's folder: tables, GeoPackage layers, maps, rasters and the manifest, atomically,
with the disk space checked first. The renderers (folium, matplotlib) are loaded only here, and only
when maps are written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely
from geopandas.array import GeometryDtype, to_wkb
from pandas.arrays import BooleanArray, FloatingArray, IntegerArray

from .. import inventory, lifecircle, report, standards
from .._errors import (
    DiskFullError,
)
from .._io import MARKER, atomic_dir, write_manifest_text
from ..sources.osm import ATTRIBUTION
from ..standards import Profile
from . import steps
from . import tasks as _tasks
from .result import StudyResult
from .schema import Study

log = logging.getLogger(__name__)


def write(
    result: StudyResult,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    extra_files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write a result's tables, layers, maps and manifest into a folder, atomically.

    The folder rules of :func:`run` apply (``overwrite`` as there). ``extra_files``
    (relative name → text or bytes) are written into the folder too, inside the same atomic
    step (the demo keeps its study file beside the results).
    """
    st, prof = result.study, result.profile
    need = _output_bytes(result)
    _check_space(Path(out), need)
    with atomic_dir(out, overwrite=overwrite, protect=[st.base_dir]) as tmp, _disk_full_as_error(tmp, Path(out), need):
        for rel, content in (extra_files or {}).items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        tables = {"indicators": result.indicators, **result.tables}
        prov = result.provenance()
        report.write_tables(tables, tmp, title=f"{st.name} 现代化美丽城镇空间指标 ({st.year})", provenance=prov, profile=prof)
        if st.outputs.geopackage:
            write_gpkg(result.layers, tmp / "layers.gpkg")
        if st.outputs.maps:
            _interactive_map(result, tmp / "map.html")
        if st.outputs.static_maps:
            _print_maps(result, tmp / "maps")
        if "tasks" in result.tables and (st.outputs.maps or st.outputs.static_maps):
            _tasks.write_maps(result, tmp, interactive=st.outputs.maps, static=st.outputs.static_maps)
        for name, raster in result.rasters.items():
            (tmp / "rasters").mkdir(exist_ok=True)
            raster.write(tmp / "rasters" / f"{name}.tif")
        man = manifest(st, prof)
        man["notes"] = result.notes
        man["data_date"] = result.data_date
        man["provenance"] = prov.to_dict()
        write_manifest(man, tmp, profile=prof)
    result.out_dir = Path(out)
    return Path(out)


def manifest(st: Study, prof: Profile) -> dict[str, Any]:
    """The manifest of a study's outputs: its input files with SHA-256, configuration, profile, versions."""
    inputs: dict[str, str | Path] = {}
    if st._town is None:
        inputs["study.boundaries.town"] = st.path(st.boundaries.town)
        if st.boundaries.builtup:
            inputs["study.boundaries.builtup"] = st.path(st.boundaries.builtup)
    if st._extract is not None and st._extract.path is not None:
        inputs["study.osm"] = st._extract.path
    elif st.osm:
        inputs["study.osm"] = st.osm_path()
    if st.population.raster:
        inputs["study.population.raster"] = st.path(st.population.raster)
    man = report.manifest(inputs=inputs, config=st.model_dump(mode="json"), profile=prof)
    man["attribution"] = ATTRIBUTION
    return man


def write_manifest(man: Mapping[str, Any], folder: Path, *, profile: Profile | None = None) -> None:
    """Write ``manifest.json`` into ``folder``: the manifest as JSON text (two-space indents).

    ``profile``: the profile whose dump ``man["profile"]`` is (:func:`manifest`); its text is
    then the one encoded for that profile before (the same for every town of a batch), not
    encoded again. The file is the same.
    """
    if profile is None or "profile" not in man:
        text = json.dumps(man, ensure_ascii=False, indent=2, default=str)
    else:
        token = f"\0profile {id(profile)}"  # no value of a manifest holds a NUL character
        text = json.dumps({**man, "profile": token}, ensure_ascii=False, indent=2, default=str)
        text = text.replace(f'\n  "profile": {json.dumps(token)}', f'\n  "profile": {_profile_text(profile)}', 1)
    write_manifest_text(folder, text, marked=MARKER in man)


def _profile_text(profile: Profile) -> str:
    """A profile's dump as JSON text one level into the manifest, encoded once per profile object."""
    return standards.derived(profile, "manifest text", _profile_json)


def _profile_json(profile: Profile) -> str:
    text = json.dumps(profile.model_dump(mode="json"), ensure_ascii=False, indent=2, default=str)
    return text.replace("\n", "\n  ")


_MIB = 1024 * 1024


def _output_bytes(result: StudyResult) -> int:
    """About how many bytes :func:`write` puts on the disk (within a factor of about 2).

    The GeoPackage takes about the layers' WKB and attribute bytes; the interactive map
    repeats each demand unit as GeoJSON text (about 270 bytes) in every category layer of
    its circle; a print map (PNG at 300 dpi and PDF) takes about 2 MiB.
    """
    st = result.study
    layer_bytes = 0
    map_bytes = 0
    for name, gdf in result.layers.items():
        if not len(gdf):
            continue
        column = gdf.geometry
        geoms = column.to_numpy()
        # WKB: 16 bytes a coordinate and about 21 a geometry; text: the mean length of a sample
        wkb = 16 * int(shapely.get_num_coordinates(geoms).sum()) + 21 * len(geoms)
        attrs = 0
        geometry = column.name
        for col, dtype in gdf.dtypes.items():
            if col == geometry:
                continue
            if dtype.kind in "fiub":
                attrs += 8 * len(gdf)
            else:
                step = max(1, len(gdf) // 256)
                chars = _text_chars(gdf[col], step)
                if chars is None:
                    sample = gdf[col].iloc[::step].astype(str).tolist()  # missing values stay NaN
                    chars = sum(len(t) for t in sample if isinstance(t, str))
                attrs += int(chars * len(gdf) / len(range(0, len(gdf), step)))
        layer_bytes += wkb + attrs
        if name.startswith("units_"):
            map_bytes += 270 * len(gdf) * len(lifecircle.time_columns(gdf))
        else:
            map_bytes += 3 * wkb
    # each table's ``memory_usage(deep=True).sum()``, added up column by column (no Series of them)
    total = 64 * 1024 + sum(
        int(df.index.memory_usage(deep=True) + sum(c.memory_usage(index=False, deep=True) for _, c in df.items())) * 4
        for df in result.tables.values()
    )
    if st.outputs.geopackage:
        total += int(1.2 * layer_bytes) + 64 * 1024 * len(result.layers)
    if st.outputs.maps:
        total += map_bytes + 2 * _MIB
    if st.outputs.static_maps:
        total += 2 * _MIB * (sum(1 for k in result.layers if k.startswith("units_")) + 2)
    total += sum(int(getattr(getattr(r, "values", None), "nbytes", 0)) for r in result.rasters.values())
    return total


_PLAIN = (str, int, float, bool)
_PLAIN_TYPES = frozenset(_PLAIN)


def _text_chars(values: pd.Series, step: int) -> int | None:
    """The characters of every ``step``-th value of a column of text (or of plain Python values)
    written as text, missing values counting none: what ``values.iloc[::step].astype(str)``
    gives, read from the array. None for a column of other values (left to pandas)."""
    if values.dtype != "object" and values.dtype != "str":
        return None
    sample = np.asarray(values.array, dtype=object)[::step]
    present = sample[~pd.isna(sample)].tolist()
    types = set(map(type, present))
    if types == {str}:
        return sum(map(len, present))
    if not types <= _PLAIN_TYPES:
        return None
    return sum(len(v) if type(v) is str else len(str(v)) for v in present)


def _free_bytes(path: Path) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent)."""
    p = path.expanduser().resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def _mib(n: float) -> str:
    return f"{n / _MIB:,.1f} MiB"


def _check_space(out: Path, need: int) -> None:
    """Refuse before writing anything when the disk of ``out`` has less room than the outputs need."""
    free = _free_bytes(out)
    if free < need:
        raise DiskFullError(
            f"not enough space to write the results into {out.expanduser().resolve()}: they need about {_mib(need)}, "
            f"the disk has {_mib(free)} free. Free some space, or choose an output folder on another disk"
        )


@contextlib.contextmanager
def _disk_full_as_error(tmp: Path, out: Path, need: int) -> Iterator[None]:
    """Turn a write that fails because the disk filled up into a :class:`DiskFullError`
    naming the folder and the space needed (the partial folder is then removed by
    :func:`atomic_dir`)."""
    try:
        yield
    except Exception as exc:
        codes = {getattr(e, "errno", None) for e in (exc, exc.__cause__, exc.__context__) if e is not None}
        text = str(exc).lower()
        free = _free_bytes(tmp)
        full = bool(codes & {errno.ENOSPC, errno.EDQUOT}) or "no space left" in text or "disk is full" in text
        if not full and not (isinstance(exc, (OSError, RuntimeError)) and free < _MIB):
            raise
        written = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        raise DiskFullError(
            f"the disk filled up while writing the results into {out.expanduser().resolve()} "
            f"({type(exc).__name__}: {exc}); {_mib(written)} were written, {_mib(free)} are left. The results need about "
            f"{_mib(max(need, written))}: free some space, or choose an output folder on another disk. The output folder "
            "was left as it was"
        ) from exc


@contextlib.contextmanager
def _fast_gpkg() -> Iterator[None]:
    """GeoPackage writes without SQLite's per-layer disk syncs and without SpatiaLite.

    Outputs are built in a temporary folder and moved into place only when complete
    (:func:`mtown_geo._io.atomic_dir`), so the journal and the syncs SQLite makes after each
    layer buy nothing here; dropping them halves the time of a small layer. GDAL also loads
    SpatiaLite's SQL functions each time it opens the file, which a GeoPackage written here
    never calls (its triggers use GDAL's own ``ST_*`` functions). The settings are GDAL's, for
    the whole process, and are restored when the block ends.
    """
    settings = {"OGR_SQLITE_SYNCHRONOUS": "OFF", "OGR_SQLITE_JOURNAL": "MEMORY", "SPATIALITE_LOAD": "NO"}
    before = {k: pyogrio.get_gdal_config_option(k) for k in settings}
    pyogrio.set_gdal_config_options(settings)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def write_gpkg(layers: Mapping[str, gpd.GeoDataFrame], path: Path) -> list[str]:
    """Write layers into one GeoPackage, each with its spatial index; empty layers are left out.

    Values are written as by :func:`to_gpkg`. The layers are written without their
    spatial indexes, which are then added in one pass over the file (:func:`_add_rtree_indexes`):
    GDAL opens the file again for each layer and reads every trigger already in it, so
    indexes made layer by layer cost more than the layers themselves. The file is the one
    layer-by-layer writes give, with the same R-tree contents and triggers.

    Parameters
    ----------
    layers
        Layer name → layer, written in this order.
    path
        The GeoPackage to write (a new file: layers of an existing one are replaced).

    Returns
    -------
    list of str
        The names of the layers written.
    """
    written: dict[str, gpd.GeoDataFrame] = {}
    crs_names: dict[int, tuple[Any, str]] = {}
    with _fast_gpkg():
        for name, gdf in layers.items():
            if len(gdf):
                _to_gpkg(gdf, path, name, spatial_index=False, crs_names=crs_names)
                written[name] = gdf
    if written:
        _add_rtree_indexes(path, written)
    return list(written)


# The GeoPackage R-tree extension (GeoPackage 1.4, F.3), with the triggers exactly as GDAL
# writes them (the tests compare them with GDAL's own).
_RTREE_EXTENSION = ("gpkg_rtree_index", "http://www.geopackage.org/spec120/#extension_rtree", "write-only")
_EXTENSIONS_TABLE = (
    "CREATE TABLE gpkg_extensions (table_name TEXT,column_name TEXT,extension_name TEXT NOT NULL,"
    "definition TEXT NOT NULL,scope TEXT NOT NULL,CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))"
)
_VALUES = "(NEW.{i},ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}),ST_MinY(NEW.{c}), ST_MaxY(NEW.{c}))"
_RTREE_TRIGGERS = (
    (
        "insert",
        "AFTER INSERT ON {t} WHEN (new.{c} NOT NULL AND NOT ST_IsEmpty(NEW.{c})) "
        "BEGIN INSERT OR REPLACE INTO {r} VALUES " + _VALUES + "; END",
    ),
    (
        "update6",
        "AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) "
        "AND (OLD.{c} NOTNULL AND NOT ST_IsEmpty(OLD.{c})) BEGIN UPDATE {r} SET minx = ST_MinX(NEW.{c}), "
        "maxx = ST_MaxX(NEW.{c}),miny = ST_MinY(NEW.{c}), maxy = ST_MaxY(NEW.{c}) WHERE id = NEW.{i};END",
    ),
    (
        "update7",
        "AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) "
        "AND (OLD.{c} ISNULL OR ST_IsEmpty(OLD.{c})) BEGIN INSERT INTO {r} VALUES " + _VALUES + "; END",
    ),
    (
        "update2",
        "AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) "
        "BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END",
    ),
    (
        "update5",
        "AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) "
        "BEGIN DELETE FROM {r} WHERE id = OLD.{i}; INSERT OR REPLACE INTO {r} VALUES " + _VALUES + "; END",
    ),
    (
        "update4",
        "AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) "
        "BEGIN DELETE FROM {r} WHERE id IN (OLD.{i}, NEW.{i}); END",
    ),
    ("delete", "AFTER DELETE ON {t} WHEN old.{c} NOT NULL BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END"),
)


def _quote(name: str) -> str:
    """An SQL identifier in double quotes (as GDAL quotes them)."""
    return '"' + name.replace('"', '""') + '"'


def _add_rtree_indexes(path: Path, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Add the GeoPackage R-tree spatial index of each layer, written without one, in one transaction.

    The index holds each feature's bounding box (as GDAL's ``ST_MinX``... give it, rounded
    outwards to 32-bit floats by SQLite's R-tree) under its feature id; features without a
    geometry or with an empty one have none, as GDAL does. The feature ids are those GDAL
    gives a new layer (1, 2, ... in row order): this is checked, and a layer whose ids are
    otherwise is an error rather than a wrong index. Each tree is packed at once
    (:func:`_load_rtree`), not built by one insert per feature.
    """
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA journal_mode=MEMORY")
        con.execute("BEGIN")
        if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_extensions'").fetchone() is None:
            con.execute(_EXTENSIONS_TABLE)
        columns = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        for name, gdf in layers.items():
            column = columns[name]
            fid = next(row[1] for row in con.execute(f"PRAGMA table_info({_quote(name)})") if row[5] == 1)
            n = len(gdf)
            ids = con.execute(f"SELECT min({_quote(fid)}), max({_quote(fid)}), count(*) FROM {_quote(name)}").fetchone()
            if tuple(ids) != (1, n, n):
                raise RuntimeError(
                    f"layer {name!r} of {path} has feature ids {ids[0]}..{ids[1]} for {ids[2]} features where "
                    f"1..{n} were expected: its spatial index cannot be made from the rows"
                )
            geoms = gdf.geometry.to_numpy()
            keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
            bounds = shapely.bounds(geoms[keep])
            rtree = f"rtree_{name}_{column}"
            q = {"t": _quote(name), "c": _quote(column), "i": _quote(fid), "r": _quote(rtree)}
            con.execute(f"CREATE VIRTUAL TABLE {q['r']} USING rtree(id, minx, maxx, miny, maxy)")
            ids = np.flatnonzero(keep) + 1
            if len(ids) and np.isfinite(bounds).all() and np.abs(bounds).max() < 1e38:
                _load_rtree(con, rtree, ids, bounds[:, [0, 2, 1, 3]])
            else:  # nothing to index, or bounds beyond 32-bit floats: SQLite's own inserts
                rows = zip(
                    ids.tolist(),
                    bounds[:, 0].tolist(),
                    bounds[:, 2].tolist(),
                    bounds[:, 1].tolist(),
                    bounds[:, 3].tolist(),
                    strict=True,
                )
                con.executemany(f"INSERT INTO {q['r']} VALUES (?, ?, ?, ?, ?)", rows)
            con.execute("INSERT INTO gpkg_extensions VALUES (?, ?, ?, ?, ?)", (name, column, *_RTREE_EXTENSION))
            for suffix, body in _RTREE_TRIGGERS:
                con.execute(f"CREATE TRIGGER {_quote(f'{rtree}_{suffix}')} " + body.format(**q))
        con.execute("COMMIT")
    finally:
        con.close()


# SQLite's R-tree (ext/rtree/rtree.c): a box is stored as 32-bit floats moved outwards by a factor
# of 1 ± 2⁻²³ where the nearest float falls inside it; a node is a blob of a 16-bit depth (of the
# tree, in the root node 1 only), a 16-bit cell count and the cells (a 64-bit id and the box),
# all big-endian, zero-padded to the node size.
_RTREE_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])
_RTREE_MAX_DEPTH = 40


def _float32_outwards(values: np.ndarray, *, down: bool) -> np.ndarray:
    """Coordinates as SQLite's R-tree stores them (``rtreeValueDown`` / ``rtreeValueUp``)."""
    f = values.astype(np.float32)
    inside = f > values if down else f < values
    if inside.any():
        away = (values < 0) == down
        moved = (values * np.where(away, 1 + 2.0**-23, 1 - 2.0**-23)).astype(np.float32)
        f = np.where(inside, moved, f)
    return f


def _load_rtree(con: sqlite3.Connection, rtree: str, ids: np.ndarray, boxes: np.ndarray) -> None:
    """Fill an empty SQLite R-tree (just created) with boxes at once: the tree is packed here
    and its node, row-id and parent tables written directly, as GDAL's own bulk loader does.

    Inserting the boxes one by one makes SQLite choose a leaf and split nodes for each; packing
    sorts them instead (sort-tile-recursive: vertical slices by box centre, each cut into full
    nodes by height), level by level up to the root. The stored boxes are the ones SQLite's
    inserts store (rounded outwards to 32-bit floats), each node's box the union of its cells';
    the tree answers the same queries, takes later inserts and deletes as SQLite's own, and
    passes SQLite's ``rtreecheck``.

    Parameters
    ----------
    con
        An open connection, inside a transaction.
    rtree
        The R-tree's table name (unquoted), created with columns ``id, minx, maxx, miny, maxy``.
    ids
        The feature ids, int64.
    boxes
        ``(minx, maxx, miny, maxy)`` per feature, finite float64, in metres of the layer's CRS.
    """
    q = {k: _quote(f"{rtree}_{k}") for k in ("node", "rowid", "parent")}
    node_bytes = con.execute(f"SELECT length(data) FROM {q['node']} WHERE nodeno = 1").fetchone()[0]
    fanout = (node_bytes - 4) // _RTREE_CELL.itemsize
    cells = np.empty(len(ids), _RTREE_CELL)
    cells["id"] = ids
    box = cells["box"]
    box[:, 0] = _float32_outwards(boxes[:, 0], down=True)
    box[:, 1] = _float32_outwards(boxes[:, 1], down=False)
    box[:, 2] = _float32_outwards(boxes[:, 2], down=True)
    box[:, 3] = _float32_outwards(boxes[:, 3], down=False)
    nodes: list[tuple[int, bytes]] = []
    rowids: list[tuple[int, int]] = []
    parents: list[tuple[int, int]] = []
    level = _str_pack(cells, fanout)  # the leaves
    next_no = 2
    depth = 0
    leaf = True
    while True:
        root = len(level) == 1
        numbers = [1] if root else list(range(next_no, next_no + len(level)))
        next_no += 0 if root else len(level)
        for no, group in zip(numbers, level, strict=True):
            if leaf:
                rowids.extend(zip(group["id"].tolist(), [no] * len(group), strict=True))
            else:
                parents.extend((child, no) for child in group["id"].tolist())
            blob = bytearray(node_bytes)
            blob[0:2] = (depth if root else 0).to_bytes(2, "big")
            blob[2:4] = len(group).to_bytes(2, "big")
            blob[4 : 4 + group.nbytes] = group.tobytes()
            nodes.append((no, bytes(blob)))
        if root:
            break
        up = np.empty(len(level), _RTREE_CELL)
        up["id"] = numbers
        up["box"] = [(g["box"][:, 0].min(), g["box"][:, 1].max(), g["box"][:, 2].min(), g["box"][:, 3].max()) for g in level]
        level = _str_pack(up, fanout)
        depth += 1
        leaf = False
        if depth > _RTREE_MAX_DEPTH:  # pragma: no cover - 51**40 boxes
            raise ValueError(f"R-tree {rtree} too deep")
    con.executemany(f"INSERT OR REPLACE INTO {q['node']} VALUES (?, ?)", nodes)
    con.executemany(f"INSERT INTO {q['rowid']} VALUES (?, ?)", rowids)
    con.executemany(f"INSERT INTO {q['parent']} VALUES (?, ?)", parents)


def _str_pack(cells: np.ndarray, fanout: int) -> list[np.ndarray]:
    """Cells grouped into nodes of at most ``fanout`` by sort-tile-recursive packing: sorted by
    the x of their box centres into vertical slices of whole nodes, each slice sorted by y."""
    n = len(cells)
    if n <= fanout:
        return [cells]
    box = cells["box"].astype(float)
    per_slice = fanout * int(np.ceil(np.sqrt(np.ceil(n / fanout))))
    order = np.argsort(box[:, 0] + box[:, 1], kind="stable")
    cells = cells[order]
    y = (box[:, 2] + box[:, 3])[order]
    groups: list[np.ndarray] = []
    for start in range(0, n, per_slice):
        part = cells[start : start + per_slice]
        part = part[np.argsort(y[start : start + per_slice], kind="stable")]
        groups.extend(part[i : i + fanout] for i in range(0, len(part), fanout))
    return groups


def to_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str, *, spatial_index: bool = True) -> None:
    """Write one layer into a GeoPackage: values of no GeoPackage type as text, infinities as NULL.

    ``gdf`` is not modified. ``spatial_index=False`` leaves out the layer's spatial index
    (:func:`write_gpkg` adds them all at the end). The layer is the one
    :meth:`geopandas.GeoDataFrame.to_file` writes of ``gdf`` with the changed columns replaced
    (:func:`_to_gpkg`).
    """
    _to_gpkg(gdf, path, layer, spatial_index=spatial_index, crs_names={})


def _as_gpkg_value(v: Any) -> Any:
    """A value of an object column as the GeoPackage holds it: text unless a plain Python value."""
    return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)


def _to_gpkg(
    gdf: gpd.GeoDataFrame, path: Path, layer: str, *, spatial_index: bool, crs_names: dict[int, tuple[Any, str]]
) -> None:
    """:func:`to_gpkg`, handing pyogrio's writer the layer's arrays directly.

    The file is the one ``frame.to_file(path, layer=layer, driver="GPKG")`` writes, ``frame``
    being ``gdf`` with the changed columns replaced (in a shallow copy). geopandas and pyogrio
    inspect the frame for what a layer of this toolkit never has (a named or text index to write
    as a column, several geometry columns, dates with time zones) and name the type of every
    geometry to choose the layer's type; here the columns are converted as pyogrio converts them,
    in the same pass as the values, and the type comes from shapely's type ids
    (:func:`_gpkg_geometry_type`). A frame with any of those goes through ``to_file``.
    ``crs_names`` keeps the name GDAL is given for each CRS object, across the layers of a file.
    """
    geometry = gdf.geometry
    crs = geometry.crs
    kind = _gpkg_geometry_type(geometry.to_numpy()) if crs is not None and len(gdf) else None
    plain = (
        kind is not None
        and gdf.index.names == [None]
        and pd.api.types.is_integer_dtype(gdf.index.dtype)
        and gdf.columns.is_unique
    )
    changed: dict[Any, Any] = {}
    fields: list[str] = []
    data: list[Any] = []
    masks: list[Any] = []
    for col, column in gdf.items():
        values: Any = column
        dtype = column.dtype
        if isinstance(dtype, GeometryDtype):
            plain = plain and col == geometry.name
            continue
        if dtype == "object":
            values = changed[col] = column.map(_as_gpkg_value)
        elif dtype.kind == "f" or pd.api.types.is_float_dtype(dtype):
            arr = column.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(arr).any():  # GeoPackage readers take NULL for "not reached", not inf
                values = changed[col] = np.where(np.isinf(arr), np.nan, arr)
        if not plain:
            continue
        if (
            not isinstance(col, str)
            or isinstance(values.dtype, pd.DatetimeTZDtype)
            or (values.dtype == "object" and pd.api.types.infer_dtype(values) == "datetime")
        ):
            plain = False  # a column name that is no text, or dates with their time zones
            continue
        fields.append(col)
        array = values if isinstance(values, np.ndarray) else values.values
        if not isinstance(array, pd.api.extensions.ExtensionArray):
            data.append(array)
            masks.append(None)
        elif isinstance(array, IntegerArray | FloatingArray | BooleanArray):
            data.append(array._data)  # type: ignore[union-attr]
            masks.append(array._mask)  # type: ignore[union-attr]
        else:
            data.append(np.asarray(array))
            masks.append(np.asarray(array.isna()))
    options = {} if spatial_index else {"SPATIAL_INDEX": "NO"}
    if not plain or kind is None or crs is None:
        frame = gdf
        if changed:
            frame = gdf.copy(deep=False)
            for col, new in changed.items():
                frame[col] = new
        frame.to_file(path, layer=layer, driver="GPKG", **options)
        return
    known = crs_names.get(id(crs))
    if known is None or known[0] is not crs:
        epsg = crs.to_epsg()
        known = crs_names[id(crs)] = (crs, f"EPSG:{epsg}" if epsg else crs.to_wkt("WKT1_GDAL"))
    geometry_type, promote = kind
    pyogrio.raw.write(
        os.fspath(Path(path).expanduser()),
        to_wkb(geometry.array),
        data,
        fields,
        field_mask=masks,
        layer=layer,
        driver="GPKG",
        geometry_type=geometry_type,
        crs=known[1],
        promote_to_multi=promote,
        nan_as_null=True,
        append=False,
        layer_options=options,
        gdal_tz_offsets={},
    )


# Layer geometry types by shapely's type ids (a LinearRing, id 2, is left to pyogrio), and the
# multi-part type of each single-part one
_GEOMETRY_TYPES = {
    0: "Point",
    1: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}
_MULTI = {0: 4, 1: 5, 3: 6}


def _gpkg_geometry_type(geoms: np.ndarray) -> tuple[str, bool] | None:
    """The layer geometry type and whether to promote parts to multi-parts, as
    :func:`pyogrio.write_dataframe` chooses them for a GeoPackage, from shapely's type ids
    instead of the type names of every geometry. None for a type it leaves to pyogrio.

    One type names the layer; a single-part type with its own multi-part type names the
    multi-part type and promotes the single parts; other mixtures (or no geometry at all) are
    ``Unknown``. `` Z`` is added when a geometry that is present and not empty has Z.
    """
    ids = shapely.get_type_id(geoms)
    present = np.unique(ids[ids >= 0]).tolist()
    if 2 in present:
        return None
    promote = False
    if len(present) == 1:
        kind = _GEOMETRY_TYPES[present[0]]
    elif len(present) == 2 and _MULTI.get(present[0]) == present[1]:
        kind, promote = _GEOMETRY_TYPES[present[1]], True
    else:
        kind = "Unknown"
    if kind != "Unknown" and bool(shapely.has_z(geoms[(ids >= 0) & ~shapely.is_empty(geoms)]).any()):
        kind += " Z"
    return kind, promote or kind.startswith("Multi")


def _interactive_map(result: StudyResult, path: Path) -> None:
    from ..render import save_map, town_map

    if not any(len(g) for g in result.layers.values()):
        return
    fmap = town_map(
        result.layers,
        profile=result.profile,
        tiles=result.study.outputs.tiles,
        banner=_gap_banner(result, result.data_gaps) or "",
        town=result.study.name,
        basemap=result.basemap,
        weight=result.weight or None,
        max_time_min=steps.SEARCH_LIMIT_MIN,
    )
    save_map(fmap, path)


def _gap_banner(result: StudyResult, keys: list[str]) -> str | None:
    """The banner of a map whose indicator rests on categories (or layers) no data source holds, else None."""
    inv = result.tables.get("inventory")
    if inv is None:
        return None
    absent = set(inventory.gaps(inv))  # read once, not once per key
    missing = [k for k in keys if k in absent]
    if not missing:
        return None
    names = "、".join(str(inv.loc[k, "name_zh"]) for k in missing[:3])
    if len(missing) > 3:  # a long list would cover the map: the inventory sheet has them all
        names += f" 等 {len(missing)} 类 ({len(missing) - 3} more: see the inventory)"
    return (
        f"缺数据 Data missing: 数据中没有{names}——图中的缺口来自数据，不是本镇的服务缺口；覆盖率为下限。"
        f"No data source holds any {names} here: the gaps shown are in the data, not necessarily in the town; "
        "the rate is a lower bound. Add an Amap / Baidu POI export or the town's own table."
    )


def _print_maps(result: StudyResult, folder: Path) -> None:
    """One PNG (300 dpi) and PDF per indicator and an overview of the facilities, on the run's own basemap.

    Life circles: how many required categories each place reaches (k of n); elderly care
    and childcare: travel time with the service area and the gaps; parks; greenways.
    Each paints only the land its rate measures.
    """
    from ..render import facilities_map, layers_map, life_circle_map, save_figures, travel_time_map

    st, prof, layers = result.study, result.profile, result.layers
    folder.mkdir(parents=True, exist_ok=True)
    bounds = layers.get("boundaries")
    fac = layers.get("facilities")
    weight = st.demand.column
    common: dict[str, Any] = {"boundaries": bounds, "data_date": result.data_date, "basemap": result.basemap}
    built = bounds[bounds["kind"] == "建成区"] if bounds is not None else None
    figures: list[tuple[str, Any]] = []
    for circle in [c for c in ("15min", "5min", "10min", "30min") if len(layers.get(f"units_{c}", ()))]:
        units = layers[f"units_{circle}"]
        cspec = prof.circles[circle]
        grid = {"x", "y", "cell_m"} <= set(units.columns)
        w = weight if weight in units and units[weight].sum() > 0 else ("area_m2" if "area_m2" in units else None)
        if not grid:
            w = None  # villages: each counts once
        land = (layers.get("residential") if w == "res_area_m2" else built) if grid else None
        req_fac = fac[fac["category"].isin(cspec.required)] if fac is not None else None
        figures.append(
            (
                f"{circle}_coverage",
                life_circle_map(
                    units,
                    units["n_reached"],
                    len(cspec.required),
                    weight=w,
                    land=land,
                    facilities=req_fac,
                    profile=prof,
                    title_zh=f"{st.name} {cspec.name_zh}",
                    title_en=f"{cspec.name_en} ({st.year}): categories reached",
                    banner=_gap_banner(result, cspec.required),
                    **common,
                ),
            )
        )
        if circle != "15min" or not grid:
            continue
        times = pd.DataFrame(
            {cat: units[col].to_numpy(float) for cat, col in lifecircle.time_columns(units).items()}, index=units.index
        )
        iso = layers.get(f"isochrones_{circle}")
        gaps = layers.get(f"gaps_{circle}")
        for cat in ("elderly_care", "childcare"):
            if cat not in times:
                continue
            name_zh = prof.categories[cat].name_zh
            figures.append(
                (
                    f"{circle}_{cat}",
                    travel_time_map(
                        units,
                        times,
                        cat,
                        max_time_min=steps.SEARCH_LIMIT_MIN,
                        threshold_min=prof.threshold_min(circle, cat),
                        weight=w,
                        land=land,
                        service_area=iso[iso["category"] == cat] if iso is not None and len(iso) else None,
                        gaps=gaps[gaps["category"] == cat] if gaps is not None and len(gaps) else None,
                        profile=prof,
                        facilities=fac,
                        title_zh=f"{st.name} {name_zh}可达时间",
                        banner=_gap_banner(result, [cat]),
                        **common,
                    ),
                )
            )
    if "parks_buffers" in layers:
        park_layers: list[tuple[Any, Any, str]] = []
        buffers = layers["parks_buffers"]
        for colour, (_, row) in zip(("#a6d96a", "#d9ef8b", "#fee08b"), buffers.iterrows(), strict=False):
            park_layers.append(
                (
                    buffers.loc[[row.name]],
                    {"facecolor": colour, "edgecolor": "#66bd63", "alpha": 0.45},
                    f"公园 {row['size_label']} → {row['radius_m']:g} m 服务半径 radius",
                )
            )
        if "parks_covered" in layers:
            park_layers.append(
                (
                    layers["parks_covered"],
                    {"facecolor": "#1a9850", "alpha": 0.85},
                    "覆盖居住用地 covered residential {area_ha:.1f} ha",
                )
            )
        if "parks_uncovered" in layers:
            park_layers.append(
                (
                    layers["parks_uncovered"],
                    {"facecolor": "#d73027", "alpha": 0.85, "hatch": "////"},
                    "未覆盖居住用地 not covered {area_ha:.1f} ha",
                )
            )
        park_layers.append((layers["parks_parks"], {"facecolor": "#006837", "edgecolor": "#00441b"}, "公园 parks {n} 处"))
        rate = result.tables.get("parks")
        sub = f"覆盖率 coverage {100 * float(rate['rate'].iloc[0]):.1f}%" if rate is not None and len(rate) else None
        figures.append(
            (
                "row08_parks",
                layers_map(
                    park_layers,
                    title_zh=f"{st.name} 公园绿地服务半径覆盖",
                    title_en="Park service-radius coverage",
                    subtitle=sub,
                    banner=_gap_banner(result, [inventory.PARK_LAND]),
                    **common,
                ),
            )
        )
    if "greenways" in layers and len(layers["greenways"]):
        green = layers["greenways"]
        g = result.tables.get("greenways")
        sub = f"万人拥有绿道长度 {float(g['km_per_10k'].iloc[0]):.2f} km/万人" if g is not None and len(g) else None
        figures.append(
            (
                "greenways",
                layers_map(
                    [(green, {"color": "#00a651", "linewidth": 2.0}, "绿道 greenways {km:.2f} km")],
                    title_zh=f"{st.name} 绿道",
                    title_en="Greenways",
                    subtitle=sub,
                    crs=green.crs,
                    **common,
                ),
            )
        )
    if fac is not None and len(fac):
        needed = [c for c in result.data_gaps if c in prof.categories]
        banner = _gap_banner(result, needed)
        figures.append(
            ("facilities", facilities_map(fac, profile=prof, title_zh=f"{st.name} 公共服务设施分布", banner=banner, **common))
        )
    save_figures(figures, folder)
