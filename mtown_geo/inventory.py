"""What the data holds before anything is judged: facilities per category and source.

A life circle's coverage falls to zero when one of its required categories has no
facility anywhere near the town — and in the OpenStreetMap data of most Chinese towns
several categories (health stations, home elderly care, childcare...) are simply not
mapped. A zero that comes from missing data must not be reported as a service failure.

:func:`take` counts, for every category of the profile, the facilities each source holds
inside the town and within the buffer around it (the same reach the run uses), and marks
every category that a life circle requires and no source holds as *data missing*
(缺数据), naming what to add. The report then gives the status 缺数据 to every indicator
row that depends on such a category, and shows the rate computed from what is there as
a lower bound (see :mod:`mtown_geo.report`).

No rule of the form "a town of this population needs at least N facilities" is applied:
the profile gives none, and the standards found do not state one a planner could check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _geom
from . import crs as _crs
from ._errors import InputError
from .standards import Profile, resolve

__all__ = [
    "CLOSED",
    "GREENWAYS",
    "NO_DATA",
    "OK",
    "PARK_LAND",
    "SOURCE_COL",
    "depends_on",
    "gaps",
    "layer_row",
    "take",
    "what_to_add",
]

log = logging.getLogger(__name__)

#: Status of a required category that some source holds.
OK = "ok"
#: Status of a required category that no source holds inside the town and its buffer.
NO_DATA = "no_data"
#: Status of a required category whose only features in the data are not open to the public
#: (inside a campus, ``access=private``): a real gap in service, not in the data.
CLOSED = "closed"
#: Column of a facility layer naming the source each facility came from (the file's name).
SOURCE_COL = "dataset"
#: Inventory rows of the layers that are not facility categories.
PARK_LAND = "park_land"
GREENWAYS = "greenways"


def depends_on(profile: Profile, key: str) -> list[str]:
    """What a computed indicator rests on: inventory rows (category ids, :data:`PARK_LAND`, :data:`GREENWAYS`).

    ``circle:<c>`` rests on every category the circle requires, ``category:<c>:<cat>`` on
    ``cat``, ``park_coverage`` on the park land and ``greenway_per_10k`` on the greenways.
    """
    parts = key.split(":")
    if parts[0] == "circle" and len(parts) == 2 and parts[1] in profile.circles:
        return list(profile.circles[parts[1]].required)
    if parts[0] == "category" and len(parts) == 3:
        return [parts[2]]
    if key == "park_coverage":
        return [PARK_LAND]
    if key == "greenway_per_10k":
        return [GREENWAYS]
    return []


def what_to_add(name_zh: str, *, kind: str = "facility") -> str:
    """The note of a category (or layer) no source holds: what is missing and what to add."""
    if kind == "parks":
        where = "a land-use map with the park land (公园绿地 G1) under `parks:` in the study file"
    elif kind == "greenways":
        where = "the town's greenway layer (lines) under `greenways:` in the study file"
    else:
        where = (
            "an Amap (高德) or Baidu POI export, or the planner's own table of facilities "
            "(名称, 类别, 经度, 纬度), under `facilities:` in the study file"
        )
    return f"缺数据 data missing: no source holds any {name_zh} here; add {where}"


def _area(boundary: Any) -> tuple[shapely.Geometry, Any]:
    if isinstance(boundary, shapely.Geometry):
        boundary = gpd.GeoSeries([boundary], crs=4326)
    if not isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"boundary must be a GeoDataFrame, GeoSeries or shapely geometry, got {type(boundary).__name__}")
    _crs.require_crs(boundary, what="town boundary")
    if boundary.empty:
        raise InputError("the town boundary is empty")
    metric = _crs.metric_crs(boundary)
    return shapely.make_valid(boundary.to_crs(metric).union_all()), metric


def take(
    facilities: gpd.GeoDataFrame,
    *,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    buffer_m: float = 1000.0,
    profile: Profile | str | Path | None = None,
    circles: Sequence[str] | None = None,
    sources: Sequence[str] = (),
    not_public: Sequence[Sequence[Any]] = (),
) -> pd.DataFrame:
    """Facilities per category and source inside a town and its buffer; required categories no source holds.

    Parameters
    ----------
    facilities : GeoDataFrame
        Categorised facilities (:func:`mtown_geo.facilities.from_osm`,
        :func:`mtown_geo.sources.read_facility_table`), any CRS; the source of each is
        read from the column :data:`SOURCE_COL` when present, else ``source``.
    boundary : GeoDataFrame, GeoSeries or shapely geometry
        The town (镇域); a bare geometry is taken as EPSG:4326.
    buffer_m : float
        Metres around the town within which a facility still serves it (the study's
        ``network.buffer_m``).
    profile : Profile, str or path, optional
        Its categories, in order, make the rows (default ``zhejiang-2023``).
    circles : sequence of str, optional
        The circles whose required categories are judged (default every circle of the
        profile).
    sources : sequence of str, optional
        Source names to list even when they hold nothing (the study's sources in order).
    not_public : sequence of tuples, optional
        Features the sources hold inside the town and its buffer but left out of a category
        as not open to the public, as ``(category, facility_id, ...)`` (the
        ``not_public`` of :class:`mtown_geo.facilities.FacilityReport`). A required category
        with none counted but some left out is :data:`CLOSED`, not :data:`NO_DATA`: the data
        hold the facilities, the public cannot use them.

    Returns
    -------
    DataFrame
        Indexed by category: ``name_zh``, ``name_en``, ``needed_for`` (the circles that
        require it, e.g. ``"15min"``), one count column per source, ``in_town`` and
        ``in_buffer`` (facilities inside the town, and outside it within ``buffer_m``),
        ``total``, ``not_public`` (features left out as not open to the public), ``status``
        (:data:`OK`, :data:`NO_DATA` for a required category with no facility in any source,
        :data:`CLOSED` when the only ones are not public, ``""`` for a category no circle
        requires) and ``note``.
        ``attrs["buffer_m"]`` and ``attrs["sources"]`` record the settings.

    Raises
    ------
    InputError
        A facility layer without a ``category`` column, a negative buffer, an unknown circle.
    CRSError
        A layer without a CRS.
    """
    prof = resolve(profile)
    if not (isinstance(buffer_m, (int, float)) and np.isfinite(buffer_m) and buffer_m >= 0):
        raise InputError(f"buffer_m must be a non-negative number of metres, got {buffer_m!r}")
    if "category" not in facilities:
        raise InputError("the facility layer has no 'category' column (use mtown_geo.facilities.from_osm or classify)")
    names = list(circles) if circles is not None else list(prof.circles)
    unknown = [c for c in names if c not in prof.circles]
    if unknown:
        raise InputError(f"circles {unknown} are not circles of the profile {prof.name!r} ({sorted(prof.circles)})")
    town, metric = _area(boundary)
    reach = _geom.buffered(town, buffer_m) if buffer_m > 0 else town
    if len(facilities):
        _crs.require_crs(facilities, what="facility layer")
        geoms = np.asarray(facilities.to_crs(metric).geometry.values)
        inside = shapely.intersects(geoms, town)
        near = ~inside & shapely.intersects(geoms, reach)
    else:
        inside = near = np.zeros(0, dtype=bool)
    col = SOURCE_COL if SOURCE_COL in facilities else ("source" if "source" in facilities else None)
    labels = (
        facilities[col].fillna("—").astype(str).to_numpy() if col is not None else np.full(len(facilities), "—", dtype=object)
    )
    order = list(dict.fromkeys([*sources, *labels[inside | near]]))
    cats = facilities["category"].astype(str).to_numpy()
    closed: dict[str, set[str]] = {}
    for item in not_public:
        closed.setdefault(str(item[0]), set()).add(str(item[1]))
    rows = []
    for key, spec in prof.categories.items():
        mine = (cats == key) & (inside | near)
        needed_for = [c for c in names if key in prof.circles[c].required]
        row: dict[str, Any] = {"category": key, "name_zh": spec.name_zh, "name_en": spec.name_en}
        row["needed_for"] = ", ".join(needed_for)
        for label in order:
            row[label] = int((mine & (labels == label)).sum())
        row["in_town"] = int((mine & inside).sum())
        row["in_buffer"] = int((mine & near).sum())
        row["total"] = int(mine.sum())
        row["not_public"] = len(closed.get(key, ()))
        if not needed_for:
            row["status"], row["note"] = "", ""
        elif row["total"] == 0 and row["not_public"]:
            row["status"] = CLOSED
            row["note"] = (
                f"不对外开放 not public: the data hold {row['not_public']} {spec.name_zh}, none open to the public "
                "(inside closed grounds such as a campus, or access=private): a gap in service, not in the data"
            )
        elif row["total"] == 0:
            row["status"], row["note"] = NO_DATA, what_to_add(spec.name_zh)
        else:
            row["status"], row["note"] = OK, ""
        rows.append(row)
    out = pd.DataFrame(rows).set_index("category")
    for label in order:
        out[label] = out[label].astype("Int64")
    out.attrs["buffer_m"] = float(buffer_m)
    out.attrs["sources"] = order
    missing = list(out.index[out["status"] == NO_DATA])
    if missing:
        log.info("no facility in any source for %s (inside the town and %g m around it)", missing, buffer_m)
    return out


def layer_row(
    inventory: pd.DataFrame,
    key: str,
    *,
    name_zh: str,
    name_en: str,
    counts: Mapping[str, int],
    in_town: int,
    in_buffer: int,
    needed_for: str,
    kind: str,
) -> pd.DataFrame:
    """The inventory with one more row for a layer that is not a facility category (park land, greenways).

    ``counts`` gives the features per source; the row is :data:`NO_DATA` when they add
    up to nothing, with the note of :func:`what_to_add` for ``kind`` (``"parks"`` or
    ``"greenways"``). Source columns a row's layer does not read are blank (``<NA>``) in
    that row; ``attrs["sources_of"]`` maps each layer row to its sources.
    """
    total = int(sum(counts.values()))
    fixed = ("name_zh", "name_en", "needed_for", "in_town", "in_buffer", "total", "not_public", "status", "note")
    row: dict[str, Any] = {"name_zh": name_zh, "name_en": name_en, "needed_for": needed_for}
    row.update({label: int(n) for label, n in counts.items()})
    row.update({"in_town": int(in_town), "in_buffer": int(in_buffer), "total": total, "not_public": 0})
    row["status"] = NO_DATA if total == 0 else OK
    row["note"] = what_to_add(name_zh, kind=kind) if total == 0 else ""
    extra = pd.DataFrame([row], index=pd.Index([key], name=inventory.index.name))
    # the source columns in the order they were met, the totals and the verdict last; a source
    # that a row's layer does not read stays blank in that row (not 0: it was not asked)
    head = ["name_zh", "name_en", "needed_for"]
    tail = ["in_town", "in_buffer", "total", "not_public", "status", "note"]
    sources = [c for c in [*inventory.columns, *extra.columns] if c not in fixed]
    merged = pd.concat([inventory, extra]).reindex(columns=list(dict.fromkeys(head + sources + tail)))
    for c in sources:
        merged[c] = merged[c].astype("Int64")
    for c in ("in_town", "in_buffer", "total", "not_public"):
        merged[c] = merged[c].astype(int)
    merged.attrs = dict(inventory.attrs)
    merged.attrs["sources_of"] = {**inventory.attrs.get("sources_of", {}), key: list(counts)}
    return merged


def gaps(inventory: pd.DataFrame) -> list[str]:
    """The categories (and layers) of an inventory that no source holds, in order."""
    return [str(k) for k in inventory.index[inventory["status"] == NO_DATA]]
