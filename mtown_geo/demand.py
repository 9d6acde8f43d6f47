"""Demand units: weighted points standing for where people live.

Every indicator is a weighted share of demand units. A unit is a point with
``area_m2`` (land it stands for), ``pop`` (people it stands for) and, where residential
land is known, ``res_area_m2`` (residential land it stands for).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from . import crs as _crs
from ._errors import InputError

__all__ = ["UNIT_COLUMNS", "cells", "grid"]

#: Columns every demand-unit layer carries (besides geometry).
UNIT_COLUMNS = ["area_m2", "pop", "res_area_m2"]


def _area_geometry(area: Any, *, what: str = "area") -> tuple[shapely.Geometry, Any]:
    """Union of a polygon layer in its (projected) CRS; errors for empty or non-polygonal input."""
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        crs = _crs.require_projected(area, what=what)
        if area.empty:
            raise InputError(f"the {what} layer is empty")
        geom = shapely.make_valid(area.geometry.union_all() if isinstance(area, gpd.GeoDataFrame) else area.union_all())
    else:
        raise InputError(f"the {what} must be a GeoDataFrame or GeoSeries of polygons with a CRS")
    if geom.is_empty or geom.area <= 0:
        raise InputError(f"the {what} has no area: give polygons")
    return geom, crs


def grid(area: gpd.GeoDataFrame | gpd.GeoSeries, *, cell_m: float = 50.0) -> gpd.GeoDataFrame:
    """A regular square grid of demand units over an area.

    Parameters
    ----------
    area : GeoDataFrame or GeoSeries
        Polygons in a projected metric CRS (see :func:`mtown_geo.crs.to_metric`).
    cell_m : float, optional
        Cell side in metres (default 50).

    Returns
    -------
    GeoDataFrame
        One point per cell that overlaps the area, at the cell centre when the centre
        lies in the area, else at a point of the clipped cell; columns ``x``, ``y`` (cell
        centre), ``cell_m``, ``area_m2`` (area of the cell inside the area, so the sum is
        the area's exact area), ``pop`` (0) and ``res_area_m2`` (0); in the area's CRS.

    Raises
    ------
    CRSError
        The area is in a geographic CRS.
    """
    if not cell_m > 0:
        raise InputError(f"cell_m must be positive, got {cell_m}")
    geom, crs = _area_geometry(area)
    minx, miny, maxx, maxy = geom.bounds
    x0 = np.floor(minx / cell_m) * cell_m
    y0 = np.floor(miny / cell_m) * cell_m
    nx = int(np.ceil((maxx - x0) / cell_m))
    ny = int(np.ceil((maxy - y0) / cell_m))
    if nx * ny > 50_000_000:
        raise InputError(f"a {cell_m} m grid over this area has {nx * ny:,} cells: use a larger cell_m")
    xs = x0 + (np.arange(nx) + 0.5) * cell_m
    ys = y0 + (np.arange(ny) + 0.5) * cell_m
    cx, cy = (a.ravel() for a in np.meshgrid(xs, ys))
    boxes = shapely.box(cx - cell_m / 2, cy - cell_m / 2, cx + cell_m / 2, cy + cell_m / 2)
    shapely.prepare(geom)
    hit = shapely.intersects(geom, boxes)
    cx, cy, boxes = cx[hit], cy[hit], boxes[hit]
    inside = shapely.contains_xy(geom, cx, cy)
    full = shapely.contains(geom, boxes)
    cell_m = float(cell_m)
    area_m2 = np.full(len(boxes), cell_m * cell_m, dtype=float)
    pts = shapely.points(cx, cy)
    partial = ~full
    if partial.any():
        clipped = shapely.intersection(boxes[partial], geom)
        area_m2[partial] = shapely.area(clipped)
        moved = partial & ~inside
        if moved.any():
            pts[moved] = shapely.point_on_surface(shapely.intersection(boxes[moved], geom))
    keep = area_m2 > 0
    return gpd.GeoDataFrame(
        {
            "x": cx[keep],
            "y": cy[keep],
            "cell_m": float(cell_m),
            "area_m2": area_m2[keep],
            "pop": 0.0,
            "res_area_m2": 0.0,
        },
        geometry=pts[keep],
        crs=crs,
    )


def cells(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The square cells of grid demand units (for maps), same index and columns, polygon geometry."""
    for col in ("x", "y", "cell_m"):
        if col not in units:
            raise InputError(f"these demand units are not a grid (no {col!r} column)")
    half = units["cell_m"].to_numpy() / 2
    x = units["x"].to_numpy()
    y = units["y"].to_numpy()
    boxes = gpd.GeoSeries(shapely.box(x - half, y - half, x + half, y + half), index=units.index, crs=units.crs)
    return units.set_geometry(boxes)
