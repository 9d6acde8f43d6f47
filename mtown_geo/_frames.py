"""Result objects as tables: the one-row reading of a result's headline figures.

Every result object has ``to_frame()``. Results that are one set of figures (a rate, its
numerator and denominator, counts) give one row of their plain fields through
:func:`one_row`; results that are one row per thing (nodes, sites, repairs, bands) build
their own table.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from geopandas.array import from_shapely

from ._errors import DeprecatedNameWarning

__all__: list[str] = []


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, numbers.Number, np.bool_))


def one_row(result: Any, *, drop: Iterable[str] = (), extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """A dataclass result as a one-row DataFrame of its plain fields, in field order.

    Numbers, text, flags and None are kept; a list or tuple of them is joined by ``"; "``
    (``notes``); tables, layers, geometries, arrays and dicts are left out (they are
    attributes of their own). ``extra`` adds columns at the end.
    """
    skip = set(drop)
    row: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        if f.name in skip or f.name.startswith("_"):
            continue
        value = getattr(result, f.name)
        if _plain(value):
            row[f.name] = value
        elif isinstance(value, (list, tuple)) and all(_plain(v) for v in value):
            row[f.name] = "; ".join(str(v) for v in value)
    row.update(extra or {})
    return pd.DataFrame([row])


def geo_frame(
    data: Mapping[Any, Any] | pd.DataFrame,
    geoms: Any,
    crs: Any,
    *,
    index: pd.Index | None = None,
) -> gpd.GeoDataFrame:
    """``gpd.GeoDataFrame(data, geometry=geoms, crs=crs, index=index)``, built directly.

    The same frame as geopandas' constructor gives: the columns of ``data`` in their order
    and dtypes, then the active geometry column ``"geometry"`` (a geometry array in ``crs``),
    the same index and ``attrs``. The constructor adds the geometry column to a frame that
    has none yet, and on the way looks up the frame's CRS through a failing attribute
    lookup that formats an error message; here the geometry array is made with its CRS
    first and the frame built once from its columns, which is how geopandas itself makes
    a frame out of a table that already holds a geometry column.

    Parameters
    ----------
    data
        Columns: a mapping of column name to values (array, list, Series or scalar), or a
        plain DataFrame (copied, as the constructor copies it).
    geoms
        One shapely geometry (or None) per row: a list or a 1-D array.
    crs
        The CRS of the geometries (anything pyproj accepts), or None.
    index
        The frame's index, as the constructor's ``index=`` (a DataFrame ``data`` is
        reindexed to it).

    Anything else (a Series or geometry array as ``geoms``, a GeoDataFrame or a column
    named ``"geometry"`` in ``data``, column labels on several levels, only scalars) goes
    through geopandas' constructor itself, so the result never differs from it.
    """
    plain_geoms = isinstance(geoms, list) or (isinstance(geoms, np.ndarray) and geoms.ndim == 1)
    if plain_geoms and isinstance(data, pd.DataFrame) and not isinstance(data, gpd.GeoDataFrame):
        if data.columns.nlevels == 1 and "geometry" not in data.columns:
            frame = pd.DataFrame(data, index=index, copy=True)
            frame.insert(frame.shape[1], "geometry", from_shapely(geoms, crs=crs))
            return _geo_from_plain(frame, data.attrs)
    elif (
        plain_geoms
        and isinstance(data, Mapping)
        and "geometry" not in data
        and any(not pd.api.types.is_scalar(v) for v in data.values())
    ):
        columns = dict(data)
        columns["geometry"] = from_shapely(geoms, crs=crs)
        return _geo_from_plain(pd.DataFrame(columns, index=index), {})
    if index is None:
        return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs, index=index)


def _geo_from_plain(frame: pd.DataFrame, attrs: dict[Any, Any]) -> gpd.GeoDataFrame:
    """A DataFrame whose last column ``"geometry"`` is a geometry array, as a GeoDataFrame.

    The frame's data are taken over as they are (the frame itself is not used again), as
    geopandas does when an operation gives a table with one geometry column named
    ``"geometry"``.
    """
    from_mgr = getattr(gpd.GeoDataFrame, "_from_mgr", None)
    if from_mgr is None:  # a pandas without it: the public route, the same frame
        out = gpd.GeoDataFrame(frame, geometry="geometry")
    else:
        mgr = frame._mgr
        out = from_mgr(mgr, mgr.axes)
        out._geometry_column_name = "geometry"
    if attrs:
        out.attrs = attrs
    return out


def renamed(old: str, new: str, owner: str) -> None:
    """Warn that ``owner.old()`` is now ``owner.new()`` (a :class:`~mtown_geo.DeprecatedNameWarning`).

    Called from the old method, so the warning points at the line that called it.
    """
    warnings.warn(f"{owner}.{old}() is now {owner}.{new}()", DeprecatedNameWarning, stacklevel=3)
