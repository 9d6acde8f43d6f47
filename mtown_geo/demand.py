"""Demand units: weighted points standing for where people live.

Every indicator is a weighted share of demand units. A unit is a point with
``area_m2`` (land it stands for), ``pop`` (people it stands for) and, where residential
land is known, ``res_area_m2`` (residential land it stands for), in a projected metric
CRS, on a fresh ``RangeIndex``. The weights are exact: whenever a polygon or a raster cell
is cut (by a grid line or by the study area), each piece carries its share of the whole,
by area, so totals are preserved.

Builders:

* :func:`grid` — a regular square grid over an area (``x``, ``y``, ``cell_m`` columns);
* :func:`from_polygons` — residential parcels or communities, one point per polygon or
  grid pieces of at most one cell;
* :func:`from_raster` — a population raster (WorldPop, GHS-POP, any GeoTIFF in any CRS),
  one point per cell over the area, cells cut by the area carrying their share;
* :func:`from_census` — census polygons with a resident count, spread by area or over
  the buildings inside them;
* :func:`from_buildings` — one unit per building, people ∝ footprint × floors.

:func:`weights` reads the weight every indicator divides by: a column name
(``"res_area_m2"``, ``"pop"``, ``"area_m2"`` or any numeric column) or ``None`` (every unit
counts 1).

Modifiers return new frames: :func:`with_residential` (residential land of each unit),
:func:`assign_zones` (the sub-area each unit lies in). :func:`residential_from_osm` gives
residential land polygons from OpenStreetMap for planners without a land-use map.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReaderBase
from rasterio.windows import Window

from . import _frames, _geom, _words
from . import crs as _crs
from ._errors import CRSError, DataNotFoundError, DeprecatedNameWarning, GridResolutionWarning, InputError, MtownGeoWarning
from .sources.osm import ATTRIBUTION, OSMExtract, read_osm

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "GRID_BYTES_PER_CELL",
    "MAX_PEOPLE_PER_HA",
    "MEMORY_ENV",
    "MIN_GRID_UNITS",
    "RENAMED_WEIGHTS",
    "UNIT_COLUMNS",
    "assign_zones",
    "available_memory_bytes",
    "cells",
    "check_grid_memory",
    "from_buildings",
    "from_census",
    "from_polygons",
    "from_raster",
    "grid",
    "residential_from_osm",
    "weight_name",
    "weights",
    "with_residential",
]

log = logging.getLogger(__name__)

#: Columns every demand-unit layer carries (besides geometry).
UNIT_COLUMNS = ["area_m2", "pop", "res_area_m2"]

#: Old weight names and the column each now is (``None``: every unit counts 1). The only
#: place they are read: :func:`weight_name` maps them with a :class:`DeprecatedNameWarning`.
RENAMED_WEIGHTS: dict[str, str | None] = {"residential": "res_area_m2", "area": "area_m2", "units": None}

#: How to give each usual weight when the units lack it.
_WEIGHT_HINTS = {
    "res_area_m2": "attach residential land with mtown_geo.demand.with_residential(), or use weight='area_m2'",
    "pop": "give population (mtown_geo.demand.from_raster / from_census / from_buildings), or use weight='area_m2'",
    "area_m2": "the units stand for no land",
}

#: Most grid cells or raster cells one call may create.
_MAX_CELLS = 50_000_000

#: Peak memory of :func:`grid` per candidate cell (bytes): every cell of each area part's
#: bounding box is made as a box before the ones outside are dropped. Measured with the
#: peak resident size: 753 B on a 5 km diagonal band (1,000,000 candidates), 1.6 kB per
#: kept unit (≈ 750 B per candidate) on the demo town's and a Jiangxi subdistrict's
#: built-up areas at 1–10 m; rounded up.
GRID_BYTES_PER_CELL = 800
#: Memory assumed free when :mod:`psutil` is not installed (bytes): a small laptop's.
DEFAULT_MEMORY_BYTES = 4 * 1024**3
#: Environment variable that caps the memory (in GB) a grid or a run may plan to use,
#: below what the machine has free (a shared server, parallel batch workers).
MEMORY_ENV = "MTOWN_GEO_MAX_MEMORY_GB"
#: A grid with fewer units than this gives coarse, unstable rates: :func:`grid` warns.
MIN_GRID_UNITS = 100
#: :func:`grid` warns when a cell is larger than this share of the reach it must resolve.
_REACH_SHARE = 1.0 / 3.0
#: Cell sizes suggested in messages (metres).
_NICE_CELLS = (1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000)

_POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon


def weight_name(weight: str | None) -> str | None:
    """The demand-unit column a ``weight`` argument names (``None``: every unit counts 1).

    The old names ``"residential"``, ``"area"`` and ``"units"`` (:data:`RENAMED_WEIGHTS`)
    are read as ``"res_area_m2"``, ``"area_m2"`` and ``None`` with a
    :class:`~mtown_geo.DeprecatedNameWarning`.

    Raises
    ------
    InputError
        A weight that is neither a string nor ``None``.
    """
    if weight is None:
        return None
    if not isinstance(weight, str) or not weight:
        raise InputError(
            f"weight must be a demand-unit column name ('res_area_m2', 'pop', 'area_m2'...) or None "
            f"(every unit counts 1), got {weight!r}"
        )
    if weight in RENAMED_WEIGHTS:
        new = RENAMED_WEIGHTS[weight]
        warnings.warn(
            f"weight={weight!r} is now weight={new!r}: the weight is the demand units' column (None: every unit counts 1)",
            DeprecatedNameWarning,
            stacklevel=_outside_stacklevel(),
        )
        return new
    return weight


def _outside_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside this package (where an old name was written)."""
    package = str(Path(__file__).parent)
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def weights(units: pd.DataFrame, weight: str | None = "res_area_m2") -> np.ndarray:
    """What each demand unit counts for in a weighted share: one value per unit, in order.

    Parameters
    ----------
    units : DataFrame or GeoDataFrame
        Demand units (see the builders of this module).
    weight : str or None, optional
        The column to read: ``"res_area_m2"`` (default, residential land, m²), ``"pop"``
        (people), ``"area_m2"`` (land, m²) or any numeric column; ``None``: every unit
        counts 1 (villages of the 30-minute circle). Old names: see :func:`weight_name`.

    Returns
    -------
    numpy.ndarray
        Float weights, non-negative, with a positive sum.

    Raises
    ------
    InputError
        No units, a missing or non-numeric column, missing, infinite or negative values,
        or a zero total (the message says how to give the weight).
    """
    col = weight_name(weight)
    if len(units) == 0:
        raise InputError("there are no demand units: nothing to weight")
    if col is None:
        return np.ones(len(units))
    if col not in units:
        have = [str(c) for c in units.columns if c != getattr(units, "_geometry_column_name", None)]
        hint = f" ({_WEIGHT_HINTS[col]})" if col in _WEIGHT_HINTS else ""
        raise InputError(
            f"the demand units have no {col!r} column for weight={col!r}{hint}; they have {have}. "
            "Pass weight='res_area_m2' (residential land), 'pop' (people), 'area_m2' (land) or None (each unit counts 1)"
        )
    try:
        w = units[col].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"the demand weight column {col!r} is not numeric") from None
    bad = ~np.isfinite(w)
    if bad.any():
        raise InputError(f"the demand weight column {col!r} has {int(bad.sum())} missing or infinite values")
    if np.any(w < 0):
        raise InputError(f"the demand weight column {col!r} has {int((w < 0).sum())} negative values")
    if not w.sum() > 0:
        hint = f": {_WEIGHT_HINTS[col]}" if col in _WEIGHT_HINTS else ""
        raise InputError(f"every demand unit has {col}=0, so the share is undefined (Σ {col} = 0){hint}")
    return w


def _area_geometry(area: Any, *, what: str = "area") -> tuple[shapely.Geometry, CRS]:
    """The union of a polygon layer in a metric CRS (its own when projected in metres) and that CRS."""
    layer = _geom.as_layer(area, what=what)
    if layer.empty:
        raise InputError(f"the {what} layer is empty")
    crs = _geom.target_crs(layer, what=what)
    return _geom.polygon_union(layer, crs=crs, what=what), crs


def available_memory_bytes() -> int:
    """Memory (bytes) a grid or a run may plan to use.

    What the machine has free (:func:`psutil.virtual_memory`), or
    :data:`DEFAULT_MEMORY_BYTES` (4 GiB) when psutil is not installed; never more than
    the environment variable ``MTOWN_GEO_MAX_MEMORY_GB`` (:data:`MEMORY_ENV`) when set.
    """
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with dask.distributed
        free = DEFAULT_MEMORY_BYTES
    cap = os.environ.get(MEMORY_ENV, "").strip()
    if cap:
        try:
            gb = float(cap)
        except ValueError:
            raise InputError(f"the environment variable {MEMORY_ENV}={cap!r} is not a number of gigabytes") from None
        if not (math.isfinite(gb) and gb > 0):
            raise InputError(f"the environment variable {MEMORY_ENV}={cap!r} must be a positive number of gigabytes")
        free = min(free, int(gb * 1024**3))
    return free


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1024**3:.1f} GB" if n_bytes >= 0.1 * 1024**3 else f"{n_bytes / 1024**2:.0f} MB"


def _grid_size(geom: shapely.Geometry, cell_m: float) -> tuple[int, int]:
    """(candidate cells, expected units) of a ``cell_m`` grid over an area, without making it.

    Candidates are the cells of each polygon part's bounding box (what :func:`grid`
    builds before dropping those outside); units are the cells that meet the area: its
    area in cells, plus half of the cells its boundary cuts (a cut cell's area is on
    average half in; a boundary of length L cuts about 4/π · L / cell_m cells).
    """
    parts = shapely.get_parts(geom)
    b = shapely.bounds(parts[np.isin(shapely.get_type_id(parts), [3, 6])])
    nx = np.maximum(np.ceil(b[:, 2] / cell_m) - np.floor(b[:, 0] / cell_m), 1)
    ny = np.maximum(np.ceil(b[:, 3] / cell_m) - np.floor(b[:, 1] / cell_m), 1)
    candidates = float((nx * ny).sum())
    units = geom.area / cell_m**2 + 2 / math.pi * geom.length / cell_m
    return int(min(candidates, 2**62)), int(min(units, candidates))


def check_grid_memory(
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    cell_m: float,
    bytes_per_unit: float = 0.0,
    extra_bytes: float = 0.0,
    max_memory_bytes: float | None = None,
    what: str = "the grid",
) -> int:
    """Estimated peak memory (bytes) of a ``cell_m`` grid over an area, refused when above what is free.

    The estimate is :data:`GRID_BYTES_PER_CELL` per candidate cell (building the grid),
    or ``bytes_per_unit`` per expected unit plus ``extra_bytes`` (what a caller does with
    the units afterwards), whichever is larger. Nothing is built.

    Parameters
    ----------
    area : GeoDataFrame or GeoSeries
        Polygons in any CRS: a projected one in metres is used as it is, a geographic one is projected to :func:`mtown_geo.crs.metric_crs`.
    cell_m : float
        Cell side (metres).
    bytes_per_unit, extra_bytes : float, optional
        The caller's memory per demand unit and its fixed part (bytes).
    max_memory_bytes : float, optional
        The limit; default :func:`available_memory_bytes`.
    what : str, optional
        What is estimated, for the message (``"the grid"``, ``"the run"``).

    Returns
    -------
    int
        The estimate, in bytes.

    Raises
    ------
    InputError
        The estimate is above the limit; the message gives both figures and the
        smallest usual cell size that fits.
    """
    geom, _ = _area_geometry(area)
    return _check_memory(geom, cell_m, bytes_per_unit, extra_bytes, max_memory_bytes, what)


def _check_memory(
    geom: shapely.Geometry, cell_m: float, bytes_per_unit: float, extra_bytes: float, max_memory_bytes: float | None, what: str
) -> int:
    limit = available_memory_bytes() if max_memory_bytes is None else float(max_memory_bytes)

    def estimate(c: float) -> tuple[float, int, int]:
        candidates, units = _grid_size(geom, c)
        return max(candidates * GRID_BYTES_PER_CELL, units * bytes_per_unit + extra_bytes), candidates, units

    need, candidates, units = estimate(cell_m)
    if need <= limit and candidates <= _MAX_CELLS:
        return int(need)
    fits = [c for c in _NICE_CELLS if c > cell_m and estimate(c)[0] <= limit and estimate(c)[1] <= _MAX_CELLS]
    hint = (
        f"use cell_m: {fits[0]:g} or more (about {estimate(fits[0])[2]:,} units)"
        if fits
        else "the area is too large for this machine at any usual cell size: split it"
    )
    km2 = geom.area / 1e6
    raise InputError(
        f"{what} at cell_m {cell_m:g} m over {km2:,.2f} km² would have about {units:,} demand units "
        f"({candidates:,} cells to test) and need about {_gb(need)} of memory; {_gb(limit)} is free"
        f"{f' (capped by {MEMORY_ENV})' if os.environ.get(MEMORY_ENV) else ''}: {hint}"
    )


def _nice_at_most(value: float) -> float | None:
    """The largest usual cell size not above ``value`` (None below 1 m)."""
    below = [c for c in _NICE_CELLS if c <= value]
    return float(below[-1]) if below else None


def _grid_warnings(geom: shapely.Geometry, cell_m: float, n_units: int, reach_m: float | None, *, stacklevel: int = 3) -> None:
    """Warn when a grid is too coarse for its area or for the reach it must resolve (``stacklevel``
    as :func:`warnings.warn`'s, counted from here)."""
    if n_units < MIN_GRID_UNITS:
        best = _nice_at_most(math.sqrt(geom.area / MIN_GRID_UNITS))
        fix = (
            f"use cell_m: {best:g} or less (about {_grid_size(geom, best)[1]:,} units)"
            if best is not None and best < cell_m
            else "the area itself is very small: check the boundary's CRS and extent"
        )
        warnings.warn(
            f"the {cell_m:g} m grid has only {n_units} demand unit{'s' if n_units != 1 else ''} over "
            f"{geom.area / 1e6:,.3g} km² (fewer than {MIN_GRID_UNITS}): a unit decides {100 / max(n_units, 1):.2g} % "
            f"of a coverage rate on average, so the rates are coarse and look plausible while they are not; {fix}",
            GridResolutionWarning,
            stacklevel=stacklevel,
        )
    if reach_m is not None and cell_m > _REACH_SHARE * reach_m:
        best = _nice_at_most(_REACH_SHARE * reach_m)
        warnings.warn(
            f"the {cell_m:g} m grid is coarse for the shortest reach it must resolve ({reach_m:,.0f} m, a "
            f"threshold times its speed): a unit stands for points up to {cell_m / math.sqrt(2):.0f} m from "
            f"its centre; use cell_m: {best:g} or less (at most a third of the reach)"
            if best is not None
            else f"the {cell_m:g} m grid is coarse for a reach of only {reach_m:,.1f} m",
            GridResolutionWarning,
            stacklevel=stacklevel,
        )


def _clip_by_rects(geoms: np.ndarray, xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray) -> np.ndarray:
    """``shapely.clip_by_rect`` of each geometry by its own rectangle, in one call.

    shapely's public function takes one rectangle per call; its ufunc underneath
    (``shapely.lib.clip_by_rect``) broadcasts over arrays of rectangles and gives the same
    geometries. Where the ufunc is not there, one call per geometry.
    """
    if len(geoms) == 0:
        return np.empty(0, dtype=object)
    ufunc = getattr(shapely.lib, "clip_by_rect", None)
    if isinstance(ufunc, np.ufunc) and ufunc.nin == 5:
        return np.asarray(ufunc(geoms, xmin, ymin, xmax, ymax), dtype=object)
    return np.array(  # pragma: no cover - shapely without the ufunc
        [
            shapely.clip_by_rect(g, a, b, c, d)
            for g, a, b, c, d in zip(geoms, xmin.tolist(), ymin.tolist(), xmax.tolist(), ymax.tolist(), strict=True)
        ],
        dtype=object,
    )


def grid(
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    cell_m: float = 50.0,
    reach_m: float | None = None,
    max_memory_bytes: float | None = None,
) -> gpd.GeoDataFrame:
    """A regular square grid of demand units over an area.

    Parameters
    ----------
    area : GeoDataFrame or GeoSeries
        Polygons in any CRS: a projected one in metres is used as it is, a geographic one is projected to :func:`mtown_geo.crs.metric_crs` (see docs/geometry.md).
    cell_m : float, optional
        Cell side in metres (default 50).
    reach_m : float, optional
        The shortest distance the indicators must resolve (metres; for a life circle its
        threshold times its speed, e.g. 5 min × 4 km/h = 333 m): a
        :class:`~mtown_geo.GridResolutionWarning` is issued when ``cell_m`` is more than
        a third of it.
    max_memory_bytes : float, optional
        Refuse a grid whose estimated peak memory (see :func:`check_grid_memory`) is
        above this; default the memory free (:func:`available_memory_bytes`).

    Returns
    -------
    GeoDataFrame
        One point per cell that overlaps the area, at the cell centre when the centre
        lies in the area, else at a point of the clipped cell; columns ``x``, ``y`` (cell
        centre), ``cell_m``, ``area_m2`` (area of the cell inside the area, so the sum is
        the area's exact area), ``pop`` (0) and ``res_area_m2`` (0); in the area's metric CRS.

    Raises
    ------
    CRSError
        The area has no CRS, or a projected CRS not in metres.
    InputError
        ``cell_m`` is not a positive finite number, or the grid would not fit in memory
        (the message gives the estimate and a cell size that fits).

    Warns
    -----
    GridResolutionWarning
        Fewer than :data:`MIN_GRID_UNITS` (100) units, or ``cell_m`` above a third of
        ``reach_m``: the rates would be coarse while looking plausible.
    """
    _check_cell(cell_m)
    geom, crs = _area_geometry(area)
    return _grid_over(geom, crs, cell_m=cell_m, reach_m=reach_m, max_memory_bytes=max_memory_bytes, stacklevel=4)


def _check_cell(cell_m: Any) -> None:
    if not (isinstance(cell_m, (int, float, np.number)) and math.isfinite(cell_m) and cell_m > 0):
        raise InputError(f"cell_m must be a positive number of metres, got {cell_m!r}")


def _grid_over(
    geom: shapely.Geometry,
    crs: CRS,
    *,
    cell_m: float,
    reach_m: float | None = None,
    max_memory_bytes: float | None = None,
    stacklevel: int = 3,
) -> gpd.GeoDataFrame:
    """:func:`grid` over an area already unioned in its metric CRS (:func:`_area_geometry`):
    the same units. ``stacklevel`` of the warnings, counted from here."""
    _check_cell(cell_m)
    cell_m = float(cell_m)
    _check_memory(geom, cell_m, 0.0, 0.0, max_memory_bytes, "the grid")
    minx, miny, maxx, _ = geom.bounds
    x0 = np.floor(minx / cell_m) * cell_m
    y0 = np.floor(miny / cell_m) * cell_m
    n_x = int(np.ceil((maxx - x0) / cell_m))
    # candidate cells: those of each polygon part's own bounding box (land scattered over a
    # large box, such as a town's residential parcels, would otherwise test every cell of it)
    parts = shapely.get_parts(geom)
    parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    b = shapely.bounds(parts)
    i0 = np.floor((b[:, 0] - x0) / cell_m).astype(np.int64)
    i1 = np.maximum(np.ceil((b[:, 2] - x0) / cell_m).astype(np.int64), i0 + 1)
    j0 = np.floor((b[:, 1] - y0) / cell_m).astype(np.int64)
    j1 = np.maximum(np.ceil((b[:, 3] - y0) / cell_m).astype(np.int64), j0 + 1)
    ni, nj = i1 - i0, j1 - j0
    counts = ni * nj
    rep = np.repeat(np.arange(len(parts)), counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    cell = np.unique((j0[rep] + k // ni[rep]) * n_x + (i0[rep] + k % ni[rep]))
    ii, jj = cell % n_x, cell // n_x
    cx = x0 + (ii + 0.5) * cell_m
    cy = y0 + (jj + 0.5) * cell_m
    half = cell_m / 2
    boxes = shapely.box(cx - half, cy - half, cx + half, cy + half)
    # each cell against the parts it meets: wholly inside one, or clipped by rectangle
    shapely.prepare(parts)
    ci, pj = shapely.STRtree(parts).query(boxes)
    meet = shapely.intersects(parts[pj], boxes[ci])
    ci, pj = ci[meet], pj[meet]
    full_pair = shapely.contains(parts[pj], boxes[ci])
    full = np.zeros(len(boxes), dtype=bool)
    full[ci[full_pair]] = True
    cut = ~full_pair & ~full[ci]
    owner, part_of = ci[cut], pj[cut]
    pieces = _clip_by_rects(parts[part_of], cx[owner] - half, cy[owner] - half, cx[owner] + half, cy[owner] + half)
    area_m2 = np.bincount(owner, weights=shapely.area(pieces) if len(pieces) else None, minlength=len(boxes)).astype(float)
    area_m2[full] = cell_m * cell_m
    # the points of the cells kept (those with area inside), each made once
    keep = np.flatnonzero(area_m2 > 0)
    kx, ky = cx[keep], cy[keep]
    shapely.prepare(geom)
    inside = shapely.contains_xy(geom, kx, ky)
    pts = shapely.points(kx, ky)
    moved = ~full[keep] & ~inside
    if moved.any():
        # the centre lies outside: a point of the clipped cell (its one piece, or the cell ∩ area)
        n_pieces = np.bincount(owner, minlength=len(boxes))[keep]
        piece = np.full(len(boxes), -1, dtype=np.int64)
        piece[owner] = np.arange(len(owner))
        one = np.flatnonzero(moved & (n_pieces == 1))
        if len(one):
            pts[one] = shapely.point_on_surface(pieces[piece[keep[one]]])
        several = np.flatnonzero(moved & (n_pieces > 1))
        if len(several):
            pts[several] = shapely.point_on_surface(shapely.intersection(boxes[keep[several]], geom))
    _grid_warnings(geom, cell_m, len(keep), reach_m, stacklevel=stacklevel)
    return _frames.geo_frame(
        {
            "x": kx,
            "y": ky,
            "cell_m": cell_m,
            "area_m2": area_m2[keep],
            "pop": 0.0,
            "res_area_m2": 0.0,
        },
        pts,
        crs,
    )


def cells(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The square cells of grid demand units (for maps), same index and columns, polygon geometry."""
    for col in ("x", "y", "cell_m"):
        if col not in units:
            raise InputError(f"these demand units are not a grid (no {col!r} column)")
    boxes, _ = _cell_boxes(units)
    return units.set_geometry(gpd.GeoSeries(boxes, index=units.index, crs=units.crs))


def _cell_boxes(units: gpd.GeoDataFrame) -> tuple[np.ndarray, bool]:
    """The square cell of each grid unit, and whether all lie on one lattice.

    Units of :func:`mtown_geo.demand.grid` have centres at ``(i + 0.5) * cell_m``; their
    corners are then computed from the integers ``i``, so neighbours share their edges to
    the last bit.
    """
    cell = units["cell_m"].to_numpy(float)
    x, y = units["x"].to_numpy(float), units["y"].to_numpy(float)
    half = cell / 2
    if len(cell) and np.all(cell == cell[0]):
        fi, fj = x / cell[0] - 0.5, y / cell[0] - 0.5
        i, j = np.round(fi), np.round(fj)
        if np.all(np.abs(fi - i) < 1e-6) and np.all(np.abs(fj - j) < 1e-6):
            c = cell[0]
            return shapely.box(i * c, j * c, (i + 1) * c, (j + 1) * c), True
    return shapely.box(x - half, y - half, x + half, y + half), False


# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------


def _row_labels(index: pd.Index, pos: np.ndarray, *, limit: int = 8) -> str:
    """The index labels at some positions, for messages (at most ``limit`` named)."""
    labels = [repr(v) for v in index[pos[:limit]]]
    more = f" and {len(pos) - limit} more" if len(pos) > limit else ""
    return ", ".join(labels) + more


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Only the polygonal parts of each geometry (what an intersection or a repair left)."""
    out = np.asarray(geoms, dtype=object).copy()
    if len(out) == 0:
        return out
    other = np.flatnonzero(~np.isin(shapely.get_type_id(out), _POLYGON_TYPES))
    for i in other:
        parts = shapely.get_parts(shapely.get_parts(out[i]))
        polys = parts[np.isin(shapely.get_type_id(parts), _POLYGON_TYPES)] if len(parts) else parts
        out[i] = shapely.union_all(polys) if len(polys) else shapely.Polygon()
    return out


def _inner_points(geoms: np.ndarray) -> np.ndarray:
    """The centroid of each polygon when it lies inside it, else a point on its surface."""
    pts = shapely.centroid(geoms)
    outside = ~shapely.contains(geoms, pts)
    if outside.any():
        pts[outside] = shapely.point_on_surface(geoms[outside])
    return pts


def _polygons(layer: Any, *, what: str, crs: Any = None) -> tuple[np.ndarray, CRS, pd.Index]:
    """The polygons of a layer in a metric CRS (``crs``, else as :func:`mtown_geo._geom.to_metric`).

    Returns the (Multi)Polygon geometries, the CRS and the layer's index. Missing, empty
    and non-polygonal rows raise :class:`InputError` naming them; invalid polygons are
    repaired with a :class:`RepairWarning` (:func:`mtown_geo._geom.valid_polygons`).
    """
    layer = _geom.as_layer(layer, what=what)
    if layer.empty:
        raise InputError(f"the {what} is empty (no rows)")
    layer = _geom.to_metric(layer, crs=crs, what=what)
    geoms, _ = _geom.valid_polygons(layer, what=what)
    return geoms, CRS.from_user_input(layer.crs), layer.index


def _counts(frame: Any, col: str, *, what: str, argname: str) -> np.ndarray:
    """A non-negative, finite numeric column of a layer as float64."""
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"the {what} must be a GeoDataFrame with a {argname} column, got {type(frame).__name__}")
    if col not in frame.columns:
        raise InputError(f"the {what} has no column {col!r} ({argname}); its columns are {list(frame.columns)}")
    try:
        values = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        raise InputError(f"the column {col!r} of the {what} must hold numbers (people)") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise InputError(
            f"the column {col!r} of the {what} has {len(bad)} missing or infinite values "
            f"(rows {_row_labels(frame.index, bad)}): fill them (0 if nobody lives there) or drop the rows"
        )
    neg = np.flatnonzero(values < 0)
    if len(neg):
        raise InputError(
            f"the column {col!r} of the {what} has {len(neg)} negative values (rows {_row_labels(frame.index, neg)}); "
            "people cannot be negative"
        )
    return values


def _floors(frame: Any, floors_col: str | None, default_floors: float, *, what: str) -> np.ndarray:
    """Floors per building: the column's numbers, ``default_floors`` where missing or unparseable."""
    n = len(frame)
    if floors_col is None:
        return np.full(n, float(default_floors))
    if not isinstance(frame, gpd.GeoDataFrame) or floors_col not in frame.columns:
        cols = list(frame.columns) if isinstance(frame, gpd.GeoDataFrame) else []
        raise InputError(f"the {what} has no column {floors_col!r} (floors_col); its columns are {cols}")
    floors = np.array(pd.to_numeric(frame[floors_col], errors="coerce"), dtype=float)
    missing = np.isnan(floors)
    bad = np.flatnonzero(np.isinf(floors) | (floors < 0))
    if len(bad):
        raise InputError(
            f"the column {floors_col!r} of the {what} has {len(bad)} negative or infinite floor counts "
            f"(rows {_row_labels(frame.index, bad)})"
        )
    if missing.any():
        log.warning(
            "%d of %d buildings have no usable floor count in %r: %g floor(s) assumed",
            int(missing.sum()),
            n,
            floors_col,
            default_floors,
        )
        floors[missing] = default_floors
    return floors


def _lattice_pieces(geoms: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut polygons along the square lattice of side ``cell_m`` anchored at the CRS origin.

    The lattice is the one :func:`grid` uses, so pieces line up with grid units. Returns
    the position of each piece's polygon, the pieces (cells inside a polygon are the
    cell squares themselves) and their areas; pieces without area are dropped.
    """
    b = shapely.bounds(geoms)
    ix0 = np.floor(b[:, 0] / cell_m).astype(np.int64)
    iy0 = np.floor(b[:, 1] / cell_m).astype(np.int64)
    nx = np.maximum(np.ceil(b[:, 2] / cell_m).astype(np.int64) - ix0, 1)
    ny = np.maximum(np.ceil(b[:, 3] / cell_m).astype(np.int64) - iy0, 1)
    n = nx * ny
    total = int(n.sum())
    if total > _MAX_CELLS:
        raise InputError(f"{cell_m:g} m cells over these polygons make {total:,} pieces: use a larger cell size")
    owner = np.repeat(np.arange(len(geoms)), n)
    k = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
    gx = ix0[owner] + k % nx[owner]
    gy = iy0[owner] + k // nx[owner]
    boxes = shapely.box(gx * cell_m, gy * cell_m, (gx + 1) * cell_m, (gy + 1) * cell_m)
    hit = shapely.intersects(geoms[owner], boxes)
    owner, boxes = owner[hit], boxes[hit]
    full = shapely.contains(geoms[owner], boxes)
    pieces = boxes.copy()
    part = ~full
    if part.any():
        pieces[part] = _polygonal(shapely.intersection(boxes[part], geoms[owner[part]]))
    area = shapely.area(pieces)
    area[full] = cell_m * cell_m
    keep = area > 0
    return owner[keep], pieces[keep], area[keep]


def _split_by_area(owner: np.ndarray, area: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Each piece's share of its owner's total, in proportion to its area (sums preserved)."""
    owner_area = np.bincount(owner, weights=area, minlength=len(totals))
    return totals[owner] * area / owner_area[owner]


def _units_frame(columns: dict[str, Any], points: np.ndarray, crs: Any) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(points, crs=crs), crs=crs)
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Polygons: parcels, communities, census areas
# ---------------------------------------------------------------------------------------


def _polygon_units(
    geoms: np.ndarray,
    index: pd.Index,
    crs: CRS,
    pop: np.ndarray,
    *,
    residential: bool,
    max_cell_m: float | None,
) -> gpd.GeoDataFrame:
    if max_cell_m is None:
        area = shapely.area(geoms)
        return _units_frame(
            {
                "source_id": index.to_numpy(),
                "area_m2": area,
                "pop": pop.astype(float),
                "res_area_m2": area if residential else np.zeros(len(geoms)),
            },
            _inner_points(geoms),
            crs,
        )
    if not (isinstance(max_cell_m, (int, float)) and math.isfinite(max_cell_m) and max_cell_m > 0):
        raise InputError(f"the cell size must be a positive number of metres, got {max_cell_m!r}")
    cell_m = float(max_cell_m)
    b = shapely.bounds(geoms)
    big = ((b[:, 2] - b[:, 0]) > cell_m) | ((b[:, 3] - b[:, 1]) > cell_m)
    small = np.flatnonzero(~big)
    owner_big, pieces, piece_area = _lattice_pieces(geoms[big], cell_m)
    owner_big = np.flatnonzero(big)[owner_big]
    owner = np.concatenate([small, owner_big])
    geo = np.concatenate([geoms[small], pieces])
    area = np.concatenate([shapely.area(geoms[small]), piece_area])
    order = np.argsort(owner, kind="stable")
    owner, geo, area = owner[order], geo[order], area[order]
    piece = np.arange(len(owner)) - np.searchsorted(owner, owner, side="left")
    return _units_frame(
        {
            "source_id": index.to_numpy()[owner],
            "piece": piece,
            "area_m2": area,
            "pop": _split_by_area(owner, area, pop.astype(float)),
            "res_area_m2": area if residential else np.zeros(len(owner)),
        },
        _inner_points(geo),
        crs,
    )


def from_polygons(
    polygons: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    pop_col: str | None = None,
    residential: bool = True,
    max_cell_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Area-weighted demand units from polygons (residential parcels, communities...).

    Parameters
    ----------
    polygons : GeoDataFrame or GeoSeries
        Polygons in any CRS: a projected one in metres is used as it is, a geographic one is projected to :func:`mtown_geo.crs.metric_crs`.
        Invalid polygons are repaired with a :class:`~mtown_geo.RepairWarning`.
    pop_col : str, optional
        Column with the people living in each polygon (non-negative numbers). Without
        it ``pop`` is 0.
    residential : bool, optional
        Whether the polygons are residential land (default True): ``res_area_m2``
        equals ``area_m2``; otherwise ``res_area_m2`` is 0 (attach residential land
        with :func:`with_residential`).
    max_cell_m : float, optional
        Split every polygon wider or taller than this many metres into its pieces on the
        square lattice :func:`grid` uses (cell side ``max_cell_m``); a polygon's pieces
        carry their exact clipped areas and its people in proportion to them. Without it
        (default) each polygon gives one unit.

    Returns
    -------
    GeoDataFrame
        In the polygons' metric CRS, on a new ``RangeIndex``: ``source_id`` (the polygon's
        index label), ``piece`` (number of the piece within its polygon, only with
        ``max_cell_m``), ``area_m2`` (m², the polygon's or piece's exact area, so the
        total equals the polygons' total area), ``pop`` (people; totals per polygon
        preserved), ``res_area_m2`` (m²); point geometry at the centroid of each polygon
        or piece when it lies inside it, else at a point on its surface.

    Raises
    ------
    CRSError
        The polygons have no CRS, or a projected CRS not in metres.
    InputError
        Empty layer, missing, empty, non-polygonal or zero-area geometries, or a bad
        ``pop_col``.
    """
    geoms, crs, index = _polygons(polygons, what="polygon layer")
    if pop_col is None:
        pop = np.zeros(len(geoms))
    else:
        pop = _counts(polygons, pop_col, what="polygon layer", argname="pop_col")
    return _polygon_units(geoms, index, crs, pop, residential=bool(residential), max_cell_m=max_cell_m)


def from_census(
    polygons: gpd.GeoDataFrame,
    *,
    count_col: str,
    buildings: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    floors_col: str | None = None,
    cell_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Demand units from census polygons with a resident count.

    Three ways to place each polygon's residents, each preserving its total exactly:

    * **one point per polygon** (default);
    * **areal weighting** (``cell_m``): a polygon wider or taller than one cell is cut
      along the square lattice of :func:`grid` and each piece gets the count in
      proportion to its area (a smaller polygon stays whole);
    * **building weighting** (``buildings``): the count is spread over the building
      footprints inside the polygon in proportion to footprint area × floors. A building
      cut by the polygon's edge counts with its part inside. A polygon with residents but
      no building inside keeps them on one point (with a warning).

    Parameters
    ----------
    polygons : GeoDataFrame
        Census polygons (communities, villages, enumeration areas) in a projected
        metric CRS.
    count_col : str
        Column with the residents of each polygon (non-negative numbers).
    buildings : GeoDataFrame or GeoSeries, optional
        Building footprints (polygons, any CRS; brought to the census CRS).
    floors_col : str, optional
        Column of ``buildings`` with the number of floors; missing or unparseable values
        count as one floor (logged). Without it every building has one floor.
    cell_m : float, optional
        Cell side in metres for areal weighting (not together with ``buildings``).

    Returns
    -------
    GeoDataFrame
        In the census CRS, on a new ``RangeIndex``: ``source_id`` (census polygon's index
        label), ``basis`` (``"polygon"``, ``"cell"`` or ``"building"``), ``area_m2`` (m²:
        the polygon's or piece's area; for building units the footprint area inside the
        polygon), ``pop`` (people), ``res_area_m2`` (0: attach residential land with
        :func:`with_residential`); building units also have ``building_id`` (the
        building's index label) and ``floors``. Points at the centroid of each
        polygon, piece or footprint when inside it, else on its surface.

    Raises
    ------
    CRSError
        The polygons or the buildings have no CRS, or a projected CRS not in metres.
    InputError
        Empty layers, bad geometries, a missing, negative or non-numeric count, bad
        floors, or both ``buildings`` and ``cell_m``.
    """
    geoms, crs, index = _polygons(polygons, what="census layer")
    count = _counts(polygons, count_col, what="census layer", argname="count_col")
    if buildings is None:
        if floors_col is not None:
            raise InputError("floors_col applies to buildings: give buildings=... too")
        units = _polygon_units(geoms, index, crs, count, residential=False, max_cell_m=cell_m)
        units.insert(1, "basis", "polygon" if cell_m is None else "cell")
        return units
    if cell_m is not None:
        raise InputError("give either buildings (building weighting) or cell_m (areal weighting), not both")
    if not isinstance(buildings, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"buildings must be a GeoDataFrame or GeoSeries of footprints, got {type(buildings).__name__}")
    b = _geom.to_metric(buildings, crs=crs, what="building layer")
    bgeoms, _, bindex = _polygons(b, what="building layer", crs=crs)
    floors = _floors(b, floors_col, 1.0, what="building layer")

    tree = shapely.STRtree(bgeoms)
    pair_poly, pair_bldg = tree.query(geoms, predicate="intersects")
    inside = shapely.contains(geoms[pair_poly], bgeoms[pair_bldg])
    foot = bgeoms[pair_bldg].copy()
    cut = ~inside
    if cut.any():
        foot[cut] = _polygonal(shapely.intersection(bgeoms[pair_bldg[cut]], geoms[pair_poly[cut]]))
    foot_area = shapely.area(foot)
    keep = foot_area > 0
    pair_poly, pair_bldg, foot, foot_area = pair_poly[keep], pair_bldg[keep], foot[keep], foot_area[keep]
    weight = foot_area * floors[pair_bldg]
    poly_weight = np.bincount(pair_poly, weights=weight, minlength=len(geoms))
    has = poly_weight[pair_poly] > 0
    pop = np.zeros(len(pair_poly))
    pop[has] = count[pair_poly[has]] * weight[has] / poly_weight[pair_poly[has]]
    bare = np.flatnonzero((poly_weight <= 0) & (count > 0))
    if len(bare):
        warnings.warn(
            f"{_words.count(len(bare), 'census polygon has', 'census polygons have')} residents but no building (with floors) "
            f"inside (rows {_row_labels(index, bare)}, {count[bare].sum():g} people): "
            f"{_words.agree(len(bare), 'its residents stay on one point', 'their residents stay on one point each')}",
            MtownGeoWarning,
            stacklevel=2,
        )
    n_b, n_p = len(pair_poly), len(bare)
    poly_pts = _inner_points(geoms[bare]) if n_p else np.empty(0, dtype=object)
    order = np.argsort(np.concatenate([pair_poly, bare]), kind="stable")
    cols: dict[str, Any] = {
        "source_id": np.concatenate([index.to_numpy()[pair_poly], index.to_numpy()[bare]])[order],
        "basis": np.array(["building"] * n_b + ["polygon"] * n_p, dtype=object)[order],
        "building_id": np.concatenate([bindex.to_numpy().astype(object)[pair_bldg], np.full(n_p, None, dtype=object)])[order],
        "floors": np.concatenate([floors[pair_bldg], np.full(n_p, np.nan)])[order],
        "area_m2": np.concatenate([foot_area, shapely.area(geoms[bare])])[order],
        "pop": np.concatenate([pop, count[bare]])[order],
        "res_area_m2": 0.0,
    }
    points = np.concatenate([_inner_points(foot) if n_b else np.empty(0, dtype=object), poly_pts])[order]
    return _units_frame(cols, points, crs)


def from_buildings(
    buildings: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    floors_col: str | None = None,
    default_floors: float = 1,
    control_total: float | None = None,
) -> gpd.GeoDataFrame:
    """One demand unit per building, its people in proportion to footprint × floors.

    Parameters
    ----------
    buildings : GeoDataFrame or GeoSeries
        Building footprints (polygons) in any CRS (as for :func:`grid`).
    floors_col : str, optional
        Column with the number of floors (numbers or numeric strings such as OSM's
        ``building:levels``); missing or unparseable values take ``default_floors``
        (logged). Without it every building has ``default_floors``.
    default_floors : float, optional
        Floors of a building whose floor count is not known (default 1, positive).
    control_total : float, optional
        The residents of all these buildings (e.g. the census count of the town):
        ``pop`` is scaled to sum to it. Without it ``pop`` is the floor area in m², a
        relative weight only (coverage shares are unaffected but the total is not a
        number of people): a :class:`~mtown_geo.MtownGeoWarning` says so.

    Returns
    -------
    GeoDataFrame
        In the buildings' metric CRS, on a new ``RangeIndex``: ``source_id`` (building's index
        label), ``floors``, ``footprint_m2``, ``floor_area_m2`` (footprint × floors),
        ``area_m2`` (= footprint, m²), ``pop``, ``res_area_m2`` (0: attach residential
        land with :func:`with_residential`); point at the footprint's centroid when
        inside it, else on its surface.

    Raises
    ------
    CRSError
        No CRS, or a projected CRS not in metres.
    InputError
        Empty layer, bad geometries, negative floors, a bad ``default_floors`` or
        ``control_total``, or a control total to spread over buildings of no floor area.
    """
    if not (isinstance(default_floors, (int, float)) and math.isfinite(default_floors) and default_floors > 0):
        raise InputError(f"default_floors must be a positive number, got {default_floors!r}")
    geoms, crs, index = _polygons(buildings, what="building layer")
    floors = _floors(buildings, floors_col, float(default_floors), what="building layer")
    foot = shapely.area(geoms)
    floor_area = foot * floors
    if control_total is None:
        pop = floor_area.copy()
        warnings.warn(
            "no control_total: pop is the floor area in m² (a relative weight, not people); "
            "give control_total=<residents> for people",
            MtownGeoWarning,
            stacklevel=2,
        )
    else:
        if not (isinstance(control_total, (int, float)) and math.isfinite(control_total) and control_total >= 0):
            raise InputError(f"control_total must be a non-negative number of people, got {control_total!r}")
        total_area = floor_area.sum()
        if total_area <= 0 and control_total > 0:
            raise InputError("the buildings have no floor area (all floors are 0): cannot spread control_total over them")
        pop = control_total * floor_area / total_area if total_area > 0 else np.zeros(len(geoms))
    return _units_frame(
        {
            "source_id": index.to_numpy(),
            "floors": floors,
            "footprint_m2": foot,
            "floor_area_m2": floor_area,
            "area_m2": foot,
            "pop": pop,
            "res_area_m2": 0.0,
        },
        _inner_points(geoms),
        crs,
    )


# ---------------------------------------------------------------------------------------
# Population rasters
# ---------------------------------------------------------------------------------------


def _raster_name(ds: Any) -> str:
    return str(getattr(ds, "name", "") or "the raster")


def _extent(b: tuple[float, float, float, float] | np.ndarray, crs: Any) -> str:
    """A box and its CRS in words, for messages."""
    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    name = f"EPSG:{epsg}" if epsg else c.name
    d = 6 if c.is_geographic else 1
    return f"x {b[0]:.{d}f}…{b[2]:.{d}f}, y {b[1]:.{d}f}…{b[3]:.{d}f} ({name})"


#: Counts above this many people per hectare are no population (the densest blocks on
#: Earth hold a few thousand): an unset nodata value such as 3.4e38 or 1e30.
MAX_PEOPLE_PER_HA = 1e5


def from_raster(
    path_or_dataset: str | os.PathLike[str] | DatasetReaderBase,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    band: int = 1,
    min_coverage: float = 0.95,
) -> gpd.GeoDataFrame:
    """Demand units from a population raster: one point per cell over an area.

    The raster holds people per cell (WorldPop, GHS-POP, a census grid) in any CRS.
    Each cell's outline is carried into the area's CRS (its edges densified, so it
    stays exact in any projection) and cut by the area; a cell cut by the area's edge
    carries the overlapped share of its count (the areal fraction, measured in the
    area's metric CRS, where a cell's area scale is uniform). So the total of ``pop``
    is Σ cell value × overlapped fraction, and a cell inside the area keeps its value.

    Parameters
    ----------
    path_or_dataset : path-like or rasterio dataset
        A raster file (GeoTIFF...) or an open rasterio dataset (left open). Its values
        (after the band's scale and offset) are counts of people per cell.
    area : GeoDataFrame or GeoSeries
        The study area: polygons in any CRS (as for :func:`grid`).
    band : int, optional
        Band to read (1-based, default 1).
    min_coverage : float, optional
        Share of the area (0–1) that the raster's valid cells (not nodata, not NaN)
        must cover (default 0.95). A raster that covers less — it stops short of the
        town, or is nodata over part of it — is refused: people living in the rest
        would not be counted. Lower it only for parts known to be uninhabited (water).

    Returns
    -------
    GeoDataFrame
        In the area's CRS, on a new ``RangeIndex``, one row per cell with data that
        overlaps the area (row-major order): ``row``, ``col`` (the cell in the raster),
        ``value`` (its count), ``frac`` (overlapped share of the cell, 0–1), ``area_m2``
        (m² of the cell inside the area), ``pop`` (``value × frac``), ``res_area_m2``
        (0: attach residential land with :func:`with_residential`); point at the
        centroid of the clipped cell (at a point on its surface when the centroid falls
        outside it). ``attrs["raster_report"]`` holds what a planner should know:
        ``coverage`` (share of the area covered by valid cells), ``footprint_share``
        (share inside the raster's extent), ``nodata_share`` (share inside the extent
        but on nodata or NaN cells), ``n_cells``, ``nan_cells`` (NaN cells the raster
        does not declare as nodata) and ``pop`` (people placed).

    Raises
    ------
    CRSError
        The area is not in a projected CRS, or the raster has no CRS.
    DataNotFoundError
        The file does not exist.
    InputError
        The file is not a raster, the band does not exist, the raster does not overlap
        the area (both extents are given), every cell over the area is nodata, its
        valid cells cover less than ``min_coverage`` of the area (the share is given,
        split into what lies beyond the raster and what is nodata), or cells over the
        area hold negative, infinite or absurd counts (more than
        :data:`MAX_PEOPLE_PER_HA` people per hectare) — with their number and where
        the first one lies.

    Warns
    -----
    MtownGeoWarning
        The raster defines no nodata value (nor a mask): every cell is taken as data;
        cells over the area hold NaN that the raster does not declare as nodata (taken
        as no data, counted and located).
    """
    geom, area_crs = _area_geometry(area)
    if isinstance(min_coverage, bool) or not isinstance(min_coverage, (int, float)) or not 0 <= min_coverage <= 1:
        raise InputError(f"min_coverage must be a share between 0 and 1 (e.g. 0.95), got {min_coverage!r}")
    if isinstance(path_or_dataset, DatasetReaderBase):
        if path_or_dataset.closed:
            raise InputError(f"the rasterio dataset {path_or_dataset.name} is closed: open it again")
        return _raster_units(path_or_dataset, geom, area_crs, band, float(min_coverage))
    if not isinstance(path_or_dataset, (str, os.PathLike)):
        raise InputError(f"give a raster file path or an open rasterio dataset, got {type(path_or_dataset).__name__}")
    path = Path(path_or_dataset).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"raster file {path} does not exist")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot read {path} as a raster: {exc}") from None
    with ds:
        return _raster_units(ds, geom, area_crs, band, float(min_coverage))


def _raster_units(ds: Any, geom: shapely.Geometry, area_crs: CRS, band: int, min_coverage: float) -> gpd.GeoDataFrame:
    name = _raster_name(ds)
    if isinstance(band, bool) or not isinstance(band, (int, np.integer)) or not 1 <= band <= ds.count:
        raise InputError(f"band must be a band number from 1 to {ds.count} for {name}, got {band!r}")
    if ds.crs is None:
        raise CRSError(
            f"{name} has no CRS: set the one its coordinates are in (e.g. gdal_edit.py -a_srs EPSG:4326 <file>) before using it"
        )
    rcrs = CRS.from_user_input(ds.crs)
    T = ds.transform
    if T.is_degenerate:
        raise InputError(f"{name} has a degenerate geotransform: it is not georeferenced")
    cell_size = min(math.hypot(T.a, T.d), math.hypot(T.b, T.e))  # in the raster CRS's units
    same = rcrs.equals(area_crs, ignore_axis_order=True)
    to_raster = Transformer.from_crs(area_crs, rcrs, always_xy=True)
    to_area = Transformer.from_crs(rcrs, area_crs, always_xy=True)
    abox = geom.bounds
    rbox = abox if same else to_raster.transform_bounds(abox[0], abox[1], abox[2], abox[3], densify_pts=21)
    if not np.all(np.isfinite(rbox)):
        raise InputError(f"the area ({_extent(abox, area_crs)}) cannot be expressed in the CRS of {name}")
    inv = ~T
    xs_box = np.array([rbox[0], rbox[2], rbox[0], rbox[2]])
    ys_box = np.array([rbox[1], rbox[1], rbox[3], rbox[3]])
    corner_c = inv.a * xs_box + inv.b * ys_box + inv.c
    corner_r = inv.d * xs_box + inv.e * ys_box + inv.f
    c0 = max(int(np.floor(corner_c.min())) - 1, 0)
    c1 = min(int(np.ceil(corner_c.max())) + 1, ds.width)
    r0 = max(int(np.floor(corner_r.min())) - 1, 0)
    r1 = min(int(np.ceil(corner_r.max())) + 1, ds.height)

    def _no_overlap() -> InputError:
        return InputError(
            f"{name} does not overlap the area: the raster covers {_extent(tuple(ds.bounds), rcrs)}, the area covers "
            f"{_extent(abox, area_crs)} = {_extent(rbox, rcrs)}. Is it the right raster, and is its CRS right?"
        )

    def _footprint() -> shapely.Geometry:
        """The raster's extent in the area's CRS."""
        box = shapely.segmentize(shapely.box(*ds.bounds), cell_size / 4.0)
        if not same:
            box = shapely.transform(box, lambda xy: np.column_stack(to_area.transform(xy[:, 0], xy[:, 1])))
        return box

    def _nothing_over_area() -> InputError:
        # the window overlapped; say whether the area misses the raster or only meets nodata
        if shapely.intersection(_footprint(), geom).area > 0:
            return InputError(f"every cell of {name} over the area is nodata: there is no population to place")
        return _no_overlap()

    to_lonlat = Transformer.from_crs(rcrs, 4326, always_xy=True)

    def _where(r: np.ndarray, c: np.ndarray) -> str:
        """Where the first of some cells lies: its row, column and the lon/lat of its centre."""
        x = T.c + T.a * (c[0] + 0.5) + T.b * (r[0] + 0.5)
        y = T.f + T.d * (c[0] + 0.5) + T.e * (r[0] + 0.5)
        lon, lat = to_lonlat.transform(x, y)
        return f"first at row {int(r[0])}, col {int(c[0])} (lon {lon:.5f}, lat {lat:.5f})"

    if c0 >= c1 or r0 >= r1:
        raise _no_overlap()
    if (c1 - c0) * (r1 - r0) > _MAX_CELLS:
        raise InputError(f"the area covers {(c1 - c0) * (r1 - r0):,} cells of {name}: too many; use a coarser raster")

    flags = ds.mask_flag_enums[band - 1]
    if MaskFlags.all_valid in flags:
        warnings.warn(
            f"{name} defines no nodata value: every cell is taken as a count of people (set one, e.g. "
            "gdal_edit.py -a_nodata -1 <file>, if some cells mean 'no data')",
            MtownGeoWarning,
            stacklevel=3,
        )
    data = ds.read(band, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    values = np.ma.getdata(data).astype(float)
    unmasked = ~np.ma.getmaskarray(data)
    nan = unmasked & np.isnan(values)  # NaN the raster does not declare as nodata
    valid = unmasked & ~nan
    scale, offset = ds.scales[band - 1], ds.offsets[band - 1]
    if scale is not None and offset is not None and (scale != 1 or offset != 0):
        values = values * scale + offset
    rr, cc = np.nonzero(valid | nan)
    if not valid.any():
        raise InputError(f"every cell of {name} over the area is nodata: there is no population to place")
    is_nan = nan[rr, cc]
    vals = values[rr, cc]
    rows, cols = rr + r0, cc + c0

    # cell outlines in the raster CRS (any affine geotransform), then in the area's CRS
    cr = np.stack(
        [np.stack([cols, cols + 1, cols + 1, cols, cols], axis=1), np.stack([rows, rows, rows + 1, rows + 1, rows], axis=1)],
        axis=2,
    )
    xs = T.c + T.a * cr[..., 0] + T.b * cr[..., 1]
    ys = T.f + T.d * cr[..., 0] + T.e * cr[..., 1]
    outlines = shapely.polygons(np.stack([xs, ys], axis=2))
    if not same:
        outlines = shapely.segmentize(outlines, cell_size / 16.0)

        def _project(xy: np.ndarray) -> np.ndarray:
            x, y = to_area.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        outlines = shapely.transform(outlines, _project)
        bad = ~np.isfinite(shapely.area(outlines))
        if bad.any():
            raise InputError(
                f"{int(bad.sum())} cells of {name} near the area cannot be projected to the area's CRS: "
                "is the raster's CRS right?"
            )
    shapely.prepare(geom)
    hit = shapely.intersects(geom, outlines)
    if (hit & is_nan).any():
        k = np.flatnonzero(hit & is_nan)
        warnings.warn(
            f"{_words.count(len(k), 'cell', 'cells')} of {name} over the area {_words.agree(len(k), 'holds', 'hold')} NaN, which the "
            f"raster does not declare as nodata: {_words.agree(len(k), 'it is', 'they are')} taken as no data ({_where(rows[k], cols[k])}). If they mean 'no people', fill them with 0 "
            "(gdal_calc.py); if 'no data', declare it (gdal_edit.py -a_nodata nan <file>)",
            MtownGeoWarning,
            stacklevel=4,
        )
    n_nan = int((hit & is_nan).sum())
    hit &= ~is_nan
    outlines, vals, rows, cols = outlines[hit], vals[hit], rows[hit], cols[hit]
    if len(outlines) == 0:
        raise _nothing_over_area()
    full = shapely.contains(geom, outlines)
    clipped = outlines.copy()
    if (~full).any():
        clipped[~full] = _polygonal(shapely.intersection(outlines[~full], geom))
    cell_area = shapely.area(outlines)
    area_m2 = shapely.area(clipped)
    frac = np.where(full, 1.0, np.clip(area_m2 / cell_area, 0.0, 1.0))
    keep = area_m2 > 0
    clipped, vals, rows, cols, frac, area_m2 = clipped[keep], vals[keep], rows[keep], cols[keep], frac[keep], area_m2[keep]
    if len(vals) == 0:
        raise _nothing_over_area()
    inf = np.flatnonzero(~np.isfinite(vals))
    if len(inf):
        raise InputError(
            f"{name} has {_words.count(len(inf), 'infinite cell', 'infinite cells')} over the area ({_where(rows[inf], cols[inf])}); counts of people "
            "must be finite. If they mean 'no data', declare them as nodata (gdal_edit.py -a_nodata <value> <file>)"
        )
    neg = np.flatnonzero(vals < 0)
    if len(neg):
        raise InputError(
            f"{name} has {_words.count(len(neg), 'negative cell', 'negative cells')} over the area (down to {vals[neg].min():g}; "
            f"{_where(rows[neg], cols[neg])}: {vals[neg[0]]:g}); counts of people cannot be negative. If they mean "
            "'no data', declare them as nodata (gdal_edit.py -a_nodata <value> <file>)"
        )
    per_ha = vals / (cell_area[keep] / 1e4)
    absurd = np.flatnonzero(per_ha > MAX_PEOPLE_PER_HA)
    if len(absurd):
        raise InputError(
            f"{name} has {_words.count(len(absurd), 'cell', 'cells')} over the area with more than {MAX_PEOPLE_PER_HA:,.0f} people per hectare "
            f"(up to {vals[absurd].max():.3g} people in one cell; {_where(rows[absurd], cols[absurd])}): these are no "
            "counts of people. An unset nodata value (3.4e38, 1e30, 65535...)? Declare it as nodata "
            "(gdal_edit.py -a_nodata <value> <file>); a density raster (people per km²) must be turned into counts "
            "per cell first"
        )
    area_total = float(geom.area)
    coverage = float(area_m2.sum() / area_total) if area_total > 0 else 1.0
    footprint_share = min(1.0, float(shapely.intersection(_footprint(), geom).area / area_total)) if area_total > 0 else 1.0
    footprint_share = max(footprint_share, coverage)
    nodata_share = max(0.0, footprint_share - coverage)
    if coverage < min_coverage:
        raise InputError(
            f"{name} covers only {coverage:.1%} of the area with valid cells ({1 - footprint_share:.1%} of the area lies "
            f"beyond the raster's edge, {nodata_share:.1%} on nodata or NaN cells); at least {min_coverage:.0%} is "
            "needed, or the people living in the rest are not counted. Use a raster that covers the whole town "
            "(merge tiles with gdalbuildvrt), fill its nodata, or — only if the uncovered part is uninhabited "
            "(water, mountain) — lower min_coverage (population.min_coverage in a study file)"
        )
    order = np.lexsort((cols, rows))
    pop = vals * frac
    log.info(
        "%s: %d cells over the area, %.1f people; valid cells cover %.1f%% of the area",
        name,
        len(order),
        float(pop.sum()),
        100 * coverage,
    )
    units = _units_frame(
        {
            "row": rows[order],
            "col": cols[order],
            "value": vals[order],
            "frac": frac[order],
            "area_m2": area_m2[order],
            "pop": pop[order],
            "res_area_m2": 0.0,
        },
        _inner_points(clipped[order]),
        area_crs,
    )
    units.attrs["raster_report"] = {
        "coverage": coverage,
        "footprint_share": footprint_share,
        "nodata_share": nodata_share,
        "n_cells": len(order),
        "nan_cells": n_nan,
        "pop": float(pop.sum()),
    }
    return units


# ---------------------------------------------------------------------------------------
# Residential land and sub-areas
# ---------------------------------------------------------------------------------------


def residential_from_osm(
    source: str | os.PathLike[str] | OSMExtract,
    *,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    buffer_m: float = 0.0,
) -> gpd.GeoDataFrame:
    """Residential land polygons (``landuse=residential``) from an OpenStreetMap file.

    For planners without a land-use map. Each OSM feature (way or multipolygon
    relation) gives one row, its polygons dissolved; invalid rings are repaired. Data
    © OpenStreetMap contributors (ODbL 1.0): the frame's ``attrs["attribution"]`` says so.

    Parameters
    ----------
    source : path-like or OSMExtract
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file, or what
        :func:`mtown_geo.sources.read_osm` returned for one.
    boundary : GeoDataFrame or GeoSeries, optional
        Keep only the land inside this boundary (plus ``buffer_m``), clipped to it. A
        bare shapely geometry has no CRS and is refused: wrap it, ``gpd.GeoSeries([geom], crs=4326)``.
    buffer_m : float, optional
        Metres added around the boundary before clipping (default 0).

    Returns
    -------
    GeoDataFrame
        ``osm_type``, ``osm_id``, ``name``, ``area_m2`` (m², measured in the boundary's
        CRS when projected, else in :func:`mtown_geo.crs.metric_crs`), polygon geometry
        — in the boundary's CRS when a boundary layer is given, else in EPSG:4326. An
        empty frame (with a :class:`~mtown_geo.MtownGeoWarning`) when there is none.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    CRSError
        The boundary layer has no CRS.
    InputError
        Empty boundary, a negative ``buffer_m``, or ``buffer_m`` without a boundary.
    """
    if not (isinstance(buffer_m, (int, float)) and math.isfinite(buffer_m) and buffer_m >= 0):
        raise InputError(f"buffer_m must be a non-negative number of metres, got {buffer_m!r}")
    if boundary is None and buffer_m > 0:
        raise InputError("buffer_m applies around a boundary: give boundary=... too")
    ext = source if isinstance(source, OSMExtract) else read_osm(source)
    where = ext.path.name if ext.path is not None else "the OSM data"
    feats = ext.features
    is_res = feats["tags"].map(lambda t: isinstance(t, dict) and t.get("landuse") == "residential").to_numpy(dtype=bool)
    res = feats.loc[is_res, ["osm_type", "osm_id", "name", "geometry"]]
    res = res[np.isin(shapely.get_type_id(np.asarray(res.geometry.values)), _POLYGON_TYPES)]

    out_crs: Any = 4326
    metric: Any = None
    clip: shapely.Geometry | None = None
    if boundary is not None:
        boundary = _geom.as_layer(boundary, what="boundary")
        if boundary.empty:
            raise InputError("the boundary layer is empty")
        out_crs = _crs.require_crs(boundary, what="boundary")
        metric = _geom.target_crs(boundary, what="boundary")
        clip = _geom.polygon_union(boundary, crs=metric, what="boundary")
        if buffer_m > 0:
            clip = clip.buffer(buffer_m)
    columns = ["osm_type", "osm_id", "name", "area_m2"]
    if res.empty:
        return _no_residential(where, clip is not None, columns, out_crs)

    groups = res.groupby(["osm_type", "osm_id"], sort=False)
    first = groups.first(numeric_only=False)
    geoms = np.empty(len(first), dtype=object)
    for i, (_, g) in enumerate(groups["geometry"]):
        geoms[i] = shapely.union_all(np.asarray(g.values))
    geoms, _ = _geom.valid_polygons(gpd.GeoSeries(geoms, crs=4326), what=f"residential land of {where}", drop_empty=True)
    frame = gpd.GeoDataFrame(
        {"osm_type": [k[0] for k in first.index], "osm_id": [k[1] for k in first.index], "name": first["name"].to_numpy()},
        geometry=gpd.GeoSeries(geoms, crs=4326),
        crs=4326,
    )
    if metric is None:
        metric = _crs.metric_crs(frame)
    frame_m = frame.to_crs(metric)
    geoms_m = np.asarray(frame_m.geometry.values)
    if clip is not None:
        geoms_m = _polygonal(shapely.intersection(geoms_m, clip))
    area = shapely.area(geoms_m)
    keep = area > 0
    if not keep.any():
        return _no_residential(where, clip is not None, columns, out_crs)
    result = gpd.GeoDataFrame(
        {
            "osm_type": frame["osm_type"].to_numpy()[keep],
            "osm_id": frame["osm_id"].to_numpy(dtype=np.int64)[keep],
            "name": frame["name"].to_numpy()[keep],
            "area_m2": area[keep],
        },
        geometry=gpd.GeoSeries(geoms_m[keep], crs=metric),
        crs=metric,
    ).to_crs(out_crs)
    result.attrs["attribution"] = ATTRIBUTION
    log.info("%s: %d residential land features, %.0f m²", where, len(result), float(area[keep].sum()))
    return result


def _no_residential(where: str, clipped: bool, columns: list[str], crs: Any) -> gpd.GeoDataFrame:
    warnings.warn(
        f"{where} has no landuse=residential polygon{' inside the boundary' if clipped else ''}: "
        "give residential land from a land-use map",
        MtownGeoWarning,
        stacklevel=3,
    )
    empty = gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    empty.attrs["attribution"] = ATTRIBUTION
    return empty


def _demand_units(units: Any) -> CRS:
    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError(f"the demand units must be a GeoDataFrame, got {type(units).__name__}")
    return _crs.require_projected(units, what="demand units")


def _unit_points(units: gpd.GeoDataFrame) -> np.ndarray:
    geoms = np.asarray(units.geometry.values, dtype=object)
    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(missing):
        raise InputError(
            f"{_words.count(len(missing), 'demand unit has', 'demand units have')} no geometry (rows {_row_labels(units.index, missing)}): drop or fix them"
        )
    not_point = shapely.get_type_id(geoms) != 0
    if not_point.any():
        geoms = geoms.copy()
        geoms[not_point] = shapely.point_on_surface(geoms[not_point])
    return geoms


def _in_crs(layer: Any, crs: CRS, *, what: str) -> gpd.GeoDataFrame | gpd.GeoSeries:
    layer = _geom.as_layer(layer, what=what)
    if layer.empty:
        raise InputError(f"the {what} is empty (no rows)")
    out: gpd.GeoDataFrame | gpd.GeoSeries = _geom.to_metric(layer, crs=crs, what=what)
    return out


#: The last few intersections of :func:`_land_within`, by the identity of their two geometries
#: (kept with them, so that an identity is never reused while it is a key).
_WITHIN: OrderedDict[tuple[int, int], tuple[shapely.Geometry, shapely.Geometry, shapely.Geometry]] = OrderedDict()
_WITHIN_KEPT = 4
_WITHIN_LOCK = threading.Lock()


def _land_within(land: shapely.Geometry, area: shapely.Geometry) -> shapely.Geometry:
    """``shapely.intersection(land, area)``, taken from the last ones when the very same two
    geometries were intersected before.

    Land and area come from :func:`mtown_geo._geom.polygon_union`, which gives back the same
    union object for the same polygons: the residential land inside the built-up area, which
    the demand units, the park coverage and the greenway coverage of a town all measure, is
    cut once per town. The same geometry, to the bit.
    """
    key = (id(land), id(area))
    with _WITHIN_LOCK:
        hit = _WITHIN.get(key)
        if hit is not None and hit[0] is land and hit[1] is area:
            _WITHIN.move_to_end(key)
            return hit[2]
    out = shapely.intersection(land, area)
    with _WITHIN_LOCK:
        _WITHIN[key] = (land, area, out)
        while len(_WITHIN) > _WITHIN_KEPT:
            _WITHIN.popitem(last=False)
    return out


def _land_inside(residential: Any, area: shapely.Geometry, *, crs: Any, what: str, allow_empty: bool = False) -> shapely.Geometry:
    """The residential land inside an area, as :func:`_land_within` cuts it (before its polygonal
    part is taken): the union of only the residential polygons that meet the area (the same land
    inside it), cut once per town. ``area`` is a union in ``crs`` (metres); an empty polygon when
    no residential polygon meets it."""
    land = _geom.polygon_union(residential, crs=crs, what=what, drop_empty=True, allow_empty=allow_empty, meeting=area)
    return land if land.is_empty else _land_within(land, area)


def _meeting(tree: shapely.STRtree, parts: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tree.query(boxes, predicate="intersects")`` (``tree`` made of the prepared ``parts``): the
    same pairs in the same order.

    The tree's predicate prepares each box and tests it against whole parts; here the pairs whose
    bounding boxes meet are tested against the parts, prepared once, which find the edges near a
    box from their own index. The query gives each box's candidates in one order, which the test
    keeps.
    """
    i_box, i_part = tree.query(boxes)
    meet = shapely.intersects(parts[i_part], boxes[i_box])
    return i_box[meet], i_part[meet]


def _box_land_m2(boxes: np.ndarray, land: np.ndarray) -> np.ndarray:
    """``shapely.area(shapely.intersection(boxes, land))``, pair by pair, to the bit.

    A box inside its polygon's interior is its own intersection: the overlay gives back its
    four corners, whose area (two equal products of the same side lengths, whichever corner
    the ring starts at) is the box's own, bit for bit. Only the boxes the polygon's edge
    crosses are overlaid.
    """
    out = np.empty(len(boxes))
    if len(boxes) == 0:
        return out
    shapely.prepare(land)
    inside = shapely.contains_properly(land, boxes)
    out[inside] = shapely.area(boxes[inside])
    cut = ~inside
    out[cut] = shapely.area(shapely.intersection(boxes[cut], land[cut]))
    return out


def with_residential(
    units: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> gpd.GeoDataFrame:
    """Set the residential land each demand unit stands for (``res_area_m2``).

    Residential polygons are dissolved first, so overlapping polygons count once.

    * **Grid units** (with ``x``, ``y`` and ``cell_m``, from :func:`grid`):
      ``res_area_m2`` is the exact area (m²) of residential land inside the cell
      (vector overlay). A cell cut by the study area's edge stands for its part inside
      the area only: give that ``area`` so land outside it is not counted. Without it,
      the whole square is overlaid and, where that exceeds the unit's ``area_m2``, the
      value is capped to it (with a :class:`~mtown_geo.MtownGeoWarning`).
    * **Other units** (parcels, raster cells, buildings): ``res_area_m2`` is ``area_m2``
      when the unit's point lies in residential land (inside ``area`` when given), else 0.

    Parameters
    ----------
    units : GeoDataFrame
        Demand units in a projected metric CRS, with ``area_m2``.
    residential : GeoDataFrame or GeoSeries
        Residential land polygons (any CRS; brought to the units' CRS).
    area : GeoDataFrame or GeoSeries, optional
        The study area the units were made for (any CRS; brought to the units' CRS).

    Returns
    -------
    GeoDataFrame
        A copy of ``units`` (same index) with ``res_area_m2`` in m².

    Raises
    ------
    CRSError
        Units not in a projected CRS; residential land or area without a CRS.
    InputError
        Empty or non-polygonal residential land, units without ``area_m2`` or geometry.
    """
    return _residential_cut(units, residential, area=area)[0]


def _residential_cut(
    units: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    area_geom: shapely.Geometry | None = None,
) -> tuple[gpd.GeoDataFrame, shapely.Geometry | None]:
    """:func:`with_residential`, and the land it measured when an area is given: the union of
    the residential land cut by the area's (:func:`_land_within`, before its polygonal part is
    taken), the geometry a town's 居住用地 layer shows; None without an area.

    ``area_geom`` is the area already unioned in the units' CRS (:func:`_area_geometry` of
    ``area``), given instead of ``area``."""
    crs = _demand_units(units)
    if "area_m2" not in units.columns:
        raise InputError("the demand units have no 'area_m2' column: build them with mtown_geo.demand")
    res_layer = _in_crs(residential, crs, what="residential land layer")
    rgeoms = np.asarray(res_layer.geometry.values if isinstance(res_layer, gpd.GeoDataFrame) else res_layer.values)
    rgeoms = rgeoms[~(shapely.is_missing(rgeoms) | shapely.is_empty(rgeoms))]
    wrong = ~np.isin(shapely.get_type_id(rgeoms), (*_POLYGON_TYPES, 7))
    if wrong.any():
        raise InputError(
            f"residential land must be polygons, but {int(wrong.sum())} geometries are points or lines: "
            "keep only the polygons (gdf[gdf.geom_type.isin(['Polygon', 'MultiPolygon'])])"
        )
    cut = None
    if area is not None and area_geom is None:
        area_geom = _geom.polygon_union(_in_crs(area, crs, what="area"), crs=crs, what="area")
    if area_geom is not None:
        cut = _land_inside(res_layer, area_geom, crs=crs, what="residential land layer", allow_empty=True)
        land = _polygonal(np.array([cut], dtype=object))[0]
    else:
        land = _geom.polygon_union(res_layer, crs=crs, what="residential land layer", allow_empty=True)
    parts = shapely.get_parts(land)
    parts = parts[shapely.area(parts) > 0] if len(parts) else parts
    shapely.prepare(parts)
    tree = shapely.STRtree(parts)
    unit_area = units["area_m2"].to_numpy(dtype=float)
    out = units.copy()
    if all(c in units.columns for c in ("x", "y", "cell_m")):
        half = units["cell_m"].to_numpy(dtype=float) / 2
        x = units["x"].to_numpy(dtype=float)
        y = units["y"].to_numpy(dtype=float)
        boxes, _ = _cell_boxes(units)
        pxy = shapely.get_coordinates(_unit_points(units))
        strays = np.flatnonzero((np.abs(pxy[:, 0] - x) > half + 1e-6) | (np.abs(pxy[:, 1] - y) > half + 1e-6))
        if len(strays):
            raise InputError(
                f"{_words.count(len(strays), 'grid unit lies', 'grid units lie')} outside {_words.agree(len(strays), 'its', 'their')} own "
                f"cell (rows {_row_labels(units.index, strays)}): the x, y columns are in another CRS than the points "
                "(moved with to_crs?). "
                "Attach residential land in the CRS the grid was made in"
            )
        i_box, i_part = _meeting(tree, parts, boxes)
        res = np.bincount(i_box, weights=_box_land_m2(boxes[i_box], parts[i_part]), minlength=len(units))
        over = res > unit_area * (1 + 1e-9) + 1e-6
        if over.any():
            if area_geom is None:
                warnings.warn(
                    f"{_words.count(int(over.sum()), 'grid cell', 'grid cells')} cut by the study area's edge "
                    f"{_words.agree(int(over.sum()), 'has', 'have')} "
                    f"more residential land in {_words.agree(int(over.sum()), 'its', 'their')} square than land inside the area: "
                    f"capped to {_words.agree(int(over.sum()), 'its', 'their')} area_m2. Pass area=<the study area> to count "
                    "only residential land inside it",
                    MtownGeoWarning,
                    stacklevel=3,
                )
            res = np.minimum(res, unit_area)
        out["res_area_m2"] = res
    else:
        pts = _unit_points(units)
        i_pt, _ = tree.query(pts, predicate="intersects")
        inside = np.zeros(len(units), dtype=bool)
        inside[i_pt] = True
        out["res_area_m2"] = np.where(inside, unit_area, 0.0)
    return out, cut


def assign_zones(
    units: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    zone_col: str,
) -> gpd.GeoDataFrame:
    """Add the sub-area (community, village...) each demand unit lies in as ``zone``.

    A unit belongs to the zone its point lies in (or on the edge of); a point in several
    overlapping zones takes the first in the zones' order (with a
    :class:`~mtown_geo.MtownGeoWarning`); a point in none gets NaN.

    Parameters
    ----------
    units : GeoDataFrame
        Demand units in a projected metric CRS (points; other geometries count by a
        point on their surface).
    zones : GeoDataFrame
        Sub-area polygons (any CRS; brought to the units' CRS).
    zone_col : str
        Column of ``zones`` with the sub-area's name or code.

    Returns
    -------
    GeoDataFrame
        A copy of ``units`` (same index) with a ``zone`` column (replaced if present).

    Raises
    ------
    CRSError
        Units not in a projected CRS, or zones without a CRS.
    InputError
        Empty or non-polygonal zones, or no ``zone_col`` column.
    """
    crs = _demand_units(units)
    if not isinstance(zones, gpd.GeoDataFrame):
        raise InputError(f"zones must be a GeoDataFrame of polygons with a {zone_col!r} column, got {type(zones).__name__}")
    if zone_col not in zones.columns:
        raise InputError(f"the zones have no column {zone_col!r}; their columns are {list(zones.columns)}")
    z = _in_crs(zones, crs, what="zone layer")
    zgeoms = np.asarray(z.geometry.values, dtype=object)
    usable = ~(shapely.is_missing(zgeoms) | shapely.is_empty(zgeoms))
    wrong = usable & ~np.isin(shapely.get_type_id(zgeoms), _POLYGON_TYPES)
    if wrong.any():
        raise InputError(
            f"zones must be polygons, but {int(wrong.sum())} rows are not (rows {_row_labels(z.index, np.flatnonzero(wrong))})"
        )
    zgeoms, _ = _geom.valid_polygons(z, what="zone layer", drop_empty=True)
    pts = _unit_points(units)
    tree = shapely.STRtree(np.where(usable, zgeoms, shapely.Polygon()))
    i_pt, i_zone = tree.query(pts, predicate="intersects")
    order = np.lexsort((i_zone, i_pt))
    i_pt, i_zone = i_pt[order], i_zone[order]
    first = np.r_[True, i_pt[1:] != i_pt[:-1]] if len(i_pt) else np.zeros(0, dtype=bool)
    which = np.full(len(units), -1, dtype=np.int64)
    which[i_pt[first]] = i_zone[first]
    w_pt, _ = tree.query(pts, predicate="within")
    multi = int((np.bincount(w_pt, minlength=len(units)) > 1).sum()) if len(w_pt) else 0
    if multi:
        warnings.warn(
            f"{multi} demand units lie in more than one zone (the zones overlap): each takes the first zone",
            MtownGeoWarning,
            stacklevel=2,
        )
    labels = z[zone_col].reset_index(drop=True).reindex(which)
    out = units.copy()
    out["zone"] = labels.to_numpy()
    outside = int((which < 0).sum())
    if outside:
        log.info("%d of %d demand units lie in no zone", outside, len(units))
    return out
