"""Travel-time rasters: minutes to the nearest facility of each category, cell by cell.

:func:`travel_time_raster` evaluates ``Reach.at`` at the centre of every cell of a
grid — the grid of another raster (``like``: a population raster such as WorldPop or
GHS-POP, in any CRS, so times and people line up cell for cell) or a grid of
``resolution_m`` metres over an area in the network's CRS. The value of a cell is the
exact time of its centre: the walk from the centre to the nearest edge at the access
speed, the partial edge, the network, the facility's own partial edge and access leg.

The times are only known as far as the Reach searched (``Reach.max_time_min``, its
*cut-off*): a cell holds no data (−1) when its centre lies farther than the snap
distance from the network, when no facility can be reached from it at all, or when
the nearest one lies beyond the cut-off. With a search of the whole network
(``max_time_min=numpy.inf``, as :func:`mtown_geo.run` does) the last case cannot
happen and "no data" means "unreachable". The GeoTIFF says which in its tags
(``max_time_min``, ``nodata_meaning``).

The result is a :class:`TravelTimeRaster` (an array of float32 minutes, one band per
category, with its grid); given a ``path`` it is also written as a multi-band GeoTIFF
(band descriptions = category names, nodata −1), atomically.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.crs
import rasterio.errors
import shapely
from affine import Affine
from pyproj import CRS, Transformer

from . import _geom
from ._errors import CRSError, DataNotFoundError, InputError, SnapWarning
from ._io import atomic_file
from .access import Reach

__all__ = ["NODATA", "TravelTimeRaster", "travel_time_raster"]

log = logging.getLogger(__name__)

#: Value of cells without a travel time: farther than the snap distance from the network,
#: no facility reachable at all, or the nearest beyond the search's cut-off.
NODATA = -1.0

_MAX_CELLS = 50_000_000  # cells per band: beyond this, ask for a coarser grid
_CHUNK = 500_000  # cell centres per call of Reach.at
_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True, eq=False)
class TravelTimeRaster:
    """Travel times to the nearest facility of each category on a raster grid.

    Attributes
    ----------
    array : numpy.ndarray
        float32 of shape ``(len(categories), height, width)``: minutes from the cell's
        centre to the nearest facility of each category; :data:`NODATA` (−1) where the
        centre lies beyond the snap distance, no facility is reachable at all, or the
        nearest lies beyond ``max_time_min``.
    transform : affine.Affine
        The grid's affine transform (cell corner coordinates in ``crs``).
    crs : pyproj.CRS
        The grid's CRS (the ``like`` raster's, or the network's).
    categories : tuple of str
        The category of each band, in band order.
    nodata : float
        The no-data value, −1.
    path : pathlib.Path or None
        The GeoTIFF written by :func:`travel_time_raster` or :meth:`write`, if any.
    max_time_min : float
        The search's cut-off in minutes (``Reach.max_time_min``; ``inf``: the whole
        network was searched, so no data means unreachable).
    snap_dist_m : float
        The farthest a cell centre may lie from the network and still have a time.
    """

    array: np.ndarray
    transform: Affine
    crs: CRS
    categories: tuple[str, ...]
    nodata: float = NODATA
    path: Path | None = None
    max_time_min: float = float("inf")
    snap_dist_m: float = float("nan")

    @property
    def nodata_meaning(self) -> str:
        """What a no-data cell means, in words (also written in the GeoTIFF's tags)."""
        snap = f"{self.snap_dist_m:g} m" if math.isfinite(self.snap_dist_m) else "the snap distance"
        if math.isinf(self.max_time_min):
            return (
                f"unreachable: the cell centre lies farther than {snap} from the network, or no facility of the "
                "category can be reached from it at all (the whole network was searched)"
            )
        return (
            f"no time within the search's cut-off of {self.max_time_min:g} min: the nearest facility is farther, "
            f"none can be reached at all, or the cell centre lies farther than {snap} from the network"
        )

    @property
    def height(self) -> int:
        return int(self.array.shape[1])

    @property
    def width(self) -> int:
        return int(self.array.shape[2])

    def to_frame(self) -> pd.DataFrame:
        """Per band (index ``category``): ``n_cells``, ``n_nodata``, ``nodata_share`` (0–1) and the
        ``lowest_min``, ``median_min`` and ``highest_min`` of the cells with a time (NaN when none has one)."""
        rows = []
        for cat in self.categories:
            values = self.band(cat)
            timed = values[np.isfinite(values)]
            n = int(values.size)
            rows.append(
                {
                    "category": cat,
                    "n_cells": n,
                    "n_nodata": n - int(timed.size),
                    "nodata_share": (n - int(timed.size)) / n if n else float("nan"),
                    "lowest_min": float(timed.min()) if timed.size else float("nan"),
                    "median_min": float(np.median(timed)) if timed.size else float("nan"),
                    "highest_min": float(timed.max()) if timed.size else float("nan"),
                }
            )
        return pd.DataFrame(rows).set_index("category")

    def band(self, category: str) -> np.ndarray:
        """The minutes of one category as a 2-D float array, NaN where there is no data."""
        if category not in self.categories:
            raise InputError(f"no band for {category!r}: the raster has {list(self.categories)}")
        values = self.array[self.categories.index(category)].astype(float)
        values[values == self.nodata] = np.nan
        return values

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the raster as a GeoTIFF (float32, one band per category, nodata −1).

        The file is written under a temporary name beside ``path`` and renamed into
        place when complete, so a failure never leaves a partial file. Band descriptions
        are the category names; tags record the units (minutes), the search's cut-off
        (``max_time_min``: a number of minutes, or ``none`` when the whole network was
        searched), the snap distance, what no data means (``nodata_meaning``) and the
        OpenStreetMap attribution.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        target = Path(path)
        if target.suffix.lower() not in _SUFFIXES:
            raise InputError(f"a travel-time raster is written as GeoTIFF: give a .tif path, got {str(target)!r}")
        profile: dict[str, Any] = {
            "driver": "GTiff",
            "width": self.width,
            "height": self.height,
            "count": len(self.categories),
            "dtype": "float32",
            "crs": rasterio.crs.CRS.from_wkt(self.crs.to_wkt()),
            "transform": self.transform,
            "nodata": self.nodata,
            "compress": "deflate",
            "predictor": 3,
            "interleave": "band",
        }
        if self.width >= 256 and self.height >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        with atomic_file(target) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(self.array)
            cutoff = "none" if math.isinf(self.max_time_min) else f"{self.max_time_min:g}"
            for i, name in enumerate(self.categories, start=1):
                dst.set_band_description(i, name)
                dst.update_tags(i, category=name, units="minutes", max_time_min=cutoff)
            dst.update_tags(
                units="minutes to the nearest facility of the band's category",
                nodata=f"{self.nodata:g}",
                nodata_meaning=self.nodata_meaning,
                max_time_min=cutoff,
                snap_dist_m=f"{self.snap_dist_m:g}",
                attribution="© OpenStreetMap contributors (ODbL 1.0)",
            )
        log.info("wrote %s (%d bands, %d x %d cells)", target, len(self.categories), self.width, self.height)
        return target


def _grid_of(like: Any) -> tuple[Affine, int, int, CRS]:
    """Transform, width, height and CRS of a raster dataset or file."""
    if isinstance(like, (str, os.PathLike)):
        path = Path(like)
        if not path.exists():
            raise DataNotFoundError(f"the template raster {path} does not exist")
        try:
            with rasterio.open(path) as ds:
                return _grid_of(ds)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read {path} as a raster ({exc}): give a GeoTIFF or another GDAL raster") from None
    if not all(hasattr(like, a) for a in ("transform", "width", "height", "crs")):
        raise InputError(f"like must be a raster path or an open rasterio dataset, got {type(like).__name__}")
    if like.crs is None:
        raise CRSError(
            "the template raster has no CRS: set it (e.g. with gdal_edit.py -a_srs EPSG:4549) so its cells can be placed"
        )
    return Affine(*list(like.transform)[:6]), int(like.width), int(like.height), CRS.from_user_input(like.crs.to_wkt())


def _grid_over(bounds: np.ndarray, resolution_m: float) -> tuple[Affine, int, int]:
    """A north-up grid of ``resolution_m`` cells aligned on multiples of the resolution."""
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    x0 = math.floor(xmin / resolution_m) * resolution_m
    y1 = math.ceil(ymax / resolution_m) * resolution_m
    width = max(1, math.ceil((xmax - x0) / resolution_m))
    height = max(1, math.ceil((y1 - ymin) / resolution_m))
    return Affine(resolution_m, 0.0, x0, 0.0, -resolution_m, y1), width, height


def travel_time_raster(
    reach: Reach,
    *,
    categories: Sequence[str] | None = None,
    like: Any = None,
    resolution_m: float | None = None,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    path: str | os.PathLike[str] | None = None,
    max_snap_dist_m: float | None = None,
) -> TravelTimeRaster:
    """Travel time (minutes) from every cell centre to the nearest facility of each category.

    Parameters
    ----------
    reach : Reach
        Node times from :func:`mtown_geo.access.reach`.
    categories : sequence of str, optional
        Categories to rasterise, one band each, in this order (default: all of the
        Reach's).
    like : path or rasterio dataset, optional
        A raster whose grid to use (transform, size and CRS, any CRS — e.g. the
        population raster). Give either ``like`` or ``resolution_m``.
    resolution_m : float, optional
        Cell size in metres of a north-up grid in the network's CRS, aligned on
        multiples of the cell size, covering ``area`` (default: the network's extent).
    area : GeoDataFrame or GeoSeries, optional
        Polygons (any CRS): cells whose centre lies outside hold no data; with
        ``resolution_m`` the grid covers their extent.
    path : path, optional
        Also write the raster there as a GeoTIFF (``.tif``), atomically.
    max_snap_dist_m : float, optional
        Cell centres farther than this from the network (metres) hold no data (default:
        the network's, 300 m in the shipped profiles).

    Returns
    -------
    TravelTimeRaster
        float32 minutes, one band per category, nodata −1, with the grid's transform and
        CRS, the Reach's cut-off (``max_time_min``) and the snap distance (and ``path``
        when written). Search the Reach as far as the times should be known: a Reach
        cut at 15 minutes holds no data where the nearest facility is 16 minutes away.

    Raises
    ------
    InputError
        Not a Reach, neither or both of ``like`` and ``resolution_m``, a non-positive
        resolution, an unknown category, an unreadable ``like``, an empty ``area``, a grid
        of more than 50 million cells, a ``path`` that is not ``.tif``.
    CRSError
        ``like`` or ``area`` without a CRS.
    DataNotFoundError
        ``like`` is a path that does not exist.

    Examples
    --------
    >>> r = mg.access.reach(net, fac, max_time_min=30)  # doctest: +SKIP
    >>> tt = mg.rasters.travel_time_raster(r, like="pop.tif", path="out/times.tif")  # doctest: +SKIP
    """
    if not isinstance(reach, Reach):
        raise InputError(
            f"expected a Reach (made by mtown_geo.access.reach(network, facilities, ...)), got {type(reach).__name__}"
        )
    cats = tuple(reach.categories if categories is None else ([categories] if isinstance(categories, str) else categories))
    unknown = [c for c in cats if c not in reach.categories]
    if unknown:
        raise InputError(f"unknown categories {unknown}: the Reach has {list(reach.categories)}")
    if not cats or len(set(cats)) != len(cats):
        raise InputError(f"give one or more distinct categories, got {list(cats)}")
    if (like is None) == (resolution_m is None):
        raise InputError(
            "give either like (a raster whose grid to follow, e.g. the population raster) or resolution_m (a cell size "
            "in metres), not both and not neither"
        )
    net = reach.network
    area_geom = _geom.polygon_union(area, crs=net.crs, what="area", drop_empty=True) if area is not None else None
    if like is not None:
        transform, width, height, grid_crs = _grid_of(like)
    else:
        if isinstance(resolution_m, bool) or not isinstance(resolution_m, numbers.Real) or not 0 < resolution_m < np.inf:
            raise InputError(f"resolution_m must be a positive number of metres, got {resolution_m!r}")
        grid_crs = net.crs
        extent = area_geom.bounds if area_geom is not None else net.edges.total_bounds
        transform, width, height = _grid_over(np.asarray(extent), float(resolution_m))
    if width * height > _MAX_CELLS:
        raise InputError(
            f"the grid has {width * height:,} cells (more than {_MAX_CELLS:,}): choose a coarser resolution_m or a smaller area"
        )
    array = np.full((len(cats), height, width), NODATA, dtype=np.float32)
    # cell centres, in the grid's CRS and in the network's
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    gx = transform.a * cols + transform.b * rows + transform.c
    gy = transform.d * cols + transform.e * rows + transform.f
    if grid_crs.equals(net.crs):
        nx_, ny_ = gx.ravel(), gy.ravel()
    else:
        to_net = Transformer.from_crs(grid_crs, net.crs, always_xy=True)
        nx_, ny_ = (np.asarray(a) for a in to_net.transform(gx.ravel(), gy.ravel()))
    snap_m = net.max_snap_dist_m if max_snap_dist_m is None else float(max_snap_dist_m)
    xmin, ymin, xmax, ymax = net.edges.total_bounds
    near = (
        np.isfinite(nx_)
        & np.isfinite(ny_)
        & (nx_ >= xmin - snap_m)
        & (nx_ <= xmax + snap_m)
        & (ny_ >= ymin - snap_m)
        & (ny_ <= ymax + snap_m)
    )
    if area_geom is not None:
        shapely.prepare(area_geom)
        near[near] = shapely.contains_xy(area_geom, nx_[near], ny_[near])
    cells = np.flatnonzero(near)
    flat = array.reshape(len(cats), -1)
    for c0 in range(0, len(cells), _CHUNK):
        idx = cells[c0 : c0 + _CHUNK]
        pts = gpd.GeoSeries(shapely.points(nx_[idx], ny_[idx]), crs=net.crs)
        with warnings.catch_warnings():
            # cells far from the network are expected (fields, water): they hold no data
            warnings.simplefilter("ignore", SnapWarning)
            times = reach.at(pts, max_snap_dist_m=snap_m)[list(cats)].to_numpy(dtype=float).T
        flat[:, idx] = np.where(np.isfinite(times), times, NODATA).astype(np.float32)
    has = (array != NODATA).any(axis=0)
    log.info("travel-time raster: %d x %d cells, %d near the network, %d with a time", width, height, len(cells), int(has.sum()))
    result = TravelTimeRaster(
        array=array, transform=transform, crs=grid_crs, categories=cats, max_time_min=reach.max_time_min, snap_dist_m=snap_m
    )
    if path is not None:
        result = replace(result, path=result.write(path))
    return result
