"""Reading the part of a classified raster (land cover) that covers an area."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window, from_bounds

from .._errors import CRSError, DataNotFoundError, InputError

__all__ = ["ClassRaster", "read_classes"]


@dataclass(frozen=True)
class ClassRaster:
    """A window of a classified raster: class codes, their geotransform, CRS and nodata code."""

    classes: np.ndarray
    transform: Any
    crs: Any
    nodata: float | None
    path: Path


def read_classes(path: str | os.PathLike[str], area: gpd.GeoDataFrame | gpd.GeoSeries, *, band: int = 1) -> ClassRaster:
    """Read the window of a classified GeoTIFF (any CRS) that covers an area.

    Parameters
    ----------
    path : path-like
        A land-cover raster whose values are class codes (ESA WorldCover, a planner's
        classification).
    area : GeoDataFrame or GeoSeries
        The area to read (any CRS; taken to the raster's).
    band : int
        Band number (1-based).

    Returns
    -------
    ClassRaster

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    InputError
        Not a raster, no such band, or the raster does not cover the area.
    CRSError
        The raster has no CRS.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataNotFoundError(f"land-cover raster {p} does not exist")
    try:
        ds = rasterio.open(p)
    except RasterioIOError as exc:
        raise InputError(f"cannot read {p} as a raster: {exc}") from None
    with ds:
        if ds.crs is None:
            raise CRSError(f"{p} has no CRS: set it (gdal_edit.py -a_srs EPSG:4326 {p.name}) before use")
        if not 1 <= band <= ds.count:
            raise InputError(f"{p} has {ds.count} band(s); band {band} does not exist")
        b = area.to_crs(ds.crs).total_bounds
        rb = ds.bounds
        if b[0] >= rb.right or b[2] <= rb.left or b[1] >= rb.top or b[3] <= rb.bottom:
            raise InputError(
                f"{p.name} (x {rb.left:.4f}…{rb.right:.4f}, y {rb.bottom:.4f}…{rb.top:.4f}) does not cover the built-up area "
                f"(x {b[0]:.4f}…{b[2]:.4f}, y {b[1]:.4f}…{b[3]:.4f}, both in {ds.crs})"
            )
        w = from_bounds(*b, transform=ds.transform)
        c0, r0 = max(math.floor(w.col_off), 0), max(math.floor(w.row_off), 0)
        c1 = min(math.ceil(w.col_off + w.width), ds.width)
        r1 = min(math.ceil(w.row_off + w.height), ds.height)
        win = Window(c0, r0, max(c1 - c0, 1), max(r1 - r0, 1))
        data = ds.read(band, window=win)
        return ClassRaster(classes=data, transform=ds.window_transform(win), crs=ds.crs, nodata=ds.nodata, path=p)
