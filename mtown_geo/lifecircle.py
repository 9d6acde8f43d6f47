"""Life-circle coverage: the 5/15/30-minute circles of the standard profile.

A demand unit is covered by a circle when *every required category* of the circle is
within its threshold (the profile's default AND rule); per-category coverage and the
"k of n" count come from the same table. Coverage is a weighted share: by residential
land (``weight="res_area_m2"``, the default denominator of row 9, 建成区15分钟生活圈覆盖率), by
population (``"pop"``) or by plain area (``"area_m2"``) — the official denominator is not
published, so all three are offered; ``weight=None`` counts every unit once (villages).

Typical use::

    times = lifecircle.travel_times(net, fac, units, profile=p, circle="15min")
    table = lifecircle.coverage(times, units, profile=p, circle="15min")
    units_assessed = lifecircle.assess(times, units, profile=p, circle="15min")
    holes = lifecircle.gaps(units_assessed, profile=p, circle="15min")

What-ifs on a search already made (new sites, closed ones), computing only what changes::

    r = lifecircle.reach(net, fac, profile=p, circle="15min")
    lifecircle.times_at(r, units, profile=p, circle="15min")   # the units are attached once
    lifecircle.what_if(r, units, add=sites, category="kindergarten", profile=p, circle="15min")
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _frames, access, demand
from ._errors import EmptyCategoryWarning, InputError
from .demand import weight_name
from .demand import weights as unit_weights
from .network import Network
from .standards import Profile, resolve

__all__ = [
    "CIRCLE",
    "assess",
    "categories_of",
    "coverage",
    "coverage_by_zone",
    "gaps",
    "k_of_n",
    "reach",
    "thresholds",
    "time_column",
    "time_columns",
    "times_at",
    "travel_times",
    "what_if",
    "what_if_reach",
]

log = logging.getLogger(__name__)

#: Row label of the whole circle (every required category) in coverage tables.
CIRCLE = "__circle__"

#: Prefix of the demand units' travel-time columns (minutes), see `time_column`.
_TIME_PREFIX = "time_min_"


def time_column(category: str) -> str:
    """Name of a category's travel-time column in assessed demand units.

    Parameters
    ----------
    category : str
        A facility category of the profile (``"kindergarten"``).

    Returns
    -------
    str
        ``"time_min_<category>"``: travel time in minutes to the nearest facility of the
        category (``inf`` / NULL when none is reachable), as written by `assess`.
    """
    if not isinstance(category, str) or not category:
        raise InputError(f"a category must be a non-empty string, got {category!r}")
    return _TIME_PREFIX + category


def time_columns(frame: pd.DataFrame) -> dict[str, str]:
    """The travel-time columns of a table, by category: the inverse of `time_column`.

    Parameters
    ----------
    frame : DataFrame
        Demand units as returned by `assess` (or read back from the ``units_<circle>``
        layer of a study's GeoPackage).

    Returns
    -------
    dict
        ``{category: column}`` in the table's column order, for every column named
        ``time_min_<category>`` (minutes); empty when the table has none.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtown_geo import lifecircle
    >>> units = pd.DataFrame({"time_min_kindergarten": [3.0], "time_min_park": [9.5], "n_reached": [2]})
    >>> cols = lifecircle.time_columns(units)
    >>> cols
    {'kindergarten': 'time_min_kindergarten', 'park': 'time_min_park'}
    >>> units[list(cols.values())].set_axis(list(cols), axis=1).columns.tolist()  # one column per category
    ['kindergarten', 'park']
    """
    return {
        str(c)[len(_TIME_PREFIX) :]: str(c)
        for c in frame.columns
        if isinstance(c, str) and c.startswith(_TIME_PREFIX) and len(c) > len(_TIME_PREFIX)
    }


def categories_of(profile: Profile | str | Path | None, circle: str, *, optional: bool = True) -> list[str]:
    """The circle's required categories, then its optional ones (when ``optional``)."""
    spec = resolve(profile).circle(circle)
    return list(spec.required) + ([c for c in spec.optional if c not in spec.required] if optional else [])


def thresholds(profile: Profile | str | Path | None, circle: str) -> pd.Series:
    """Threshold in minutes of each category of a circle (required and optional)."""
    prof = resolve(profile)
    cats = categories_of(prof, circle)
    return pd.Series([prof.threshold_min(circle, c) for c in cats], index=cats, name="threshold_min", dtype=float)


def reach(
    network: Network,
    facilities: gpd.GeoDataFrame | access.Attachment,
    *,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    max_snap_dist_m: float | None = None,
    labels: bool = True,
    max_time_min: float | None = None,
) -> access.Reach | None:
    """The engine's search for a circle: its categories on its mode, cut at its largest threshold.

    Returns ``None`` (with an :class:`EmptyCategoryWarning`) when no facility of any of
    the circle's categories exists. ``labels`` records the nearest facility of every
    node (for catchments); :func:`travel_times` does without. A mode's ``wait_min`` is *not* in the node times:
    :func:`travel_times` adds it.

    ``max_time_min`` searches farther than the largest threshold (minutes, the wait
    included; ``numpy.inf``: the whole network), so that times beyond the thresholds are
    known — for maps whose classes run past them, and to tell "farther" from "no path
    at all". The coverage does not change: it only looks within the thresholds.

    ``facilities`` may be a layer already attached to ``network``
    (:func:`mtown_geo.access.attach`): the circle's categories are then taken from it
    (:meth:`~mtown_geo.access.Attachment.select`) without attaching them again, with the
    same result.
    """
    prof = resolve(profile)
    cats = categories_of(prof, circle)
    spec = prof.circle(circle)
    if network.mode != spec.mode:
        raise InputError(
            f"the {circle} circle is measured on the {spec.mode!r} mode but the network is {network.mode!r}: "
            f"build it with mtown_geo.network.from_osm(..., mode={spec.mode!r})"
        )
    wait = prof.mode(spec.mode).wait_min
    limit = float(thresholds(prof, circle).max())
    if max_time_min is not None:
        if isinstance(max_time_min, bool) or not isinstance(max_time_min, (int, float)) or not max_time_min >= limit:
            raise InputError(
                f"max_time_min must be at least the circle's largest threshold ({limit:g} min), got {max_time_min!r}"
            )
        limit = float(max_time_min)
    fac: gpd.GeoDataFrame | access.Attachment
    if isinstance(facilities, access.Attachment):
        fac = facilities.select(cats)
        found = len(fac.facilities)
    else:
        fac = facilities[facilities["category"].isin(cats)] if len(facilities) else facilities
        found = len(fac)
    if found == 0:
        warnings.warn(
            f"no facility of any category of the {circle} circle: every time is inf",
            category=EmptyCategoryWarning,
            stacklevel=2,
        )
        return None
    return access.reach(
        network, fac, categories=cats, max_time_min=max(limit - wait, 1e-9), max_snap_dist_m=max_snap_dist_m, labels=labels
    )


def travel_times(
    network: Network,
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    max_snap_dist_m: float | None = None,
) -> pd.DataFrame:
    """Travel times (minutes) from demand units to the circle's categories on its mode.

    The network must be of the circle's travel mode (e.g. ``walk`` for the 15-minute
    circle, ``ebike`` for the 30-minute circle in ``zhejiang-2023``). A mode with a
    ``wait_min`` (bus) adds the wait to every finite time. The search stops at the
    circle's largest threshold.

    Returns
    -------
    DataFrame
        Indexed like ``demand``; one column per category of the circle (required, then
        optional); ``inf`` where none is reachable within the threshold.
    """
    prof = resolve(profile)
    r = reach(network, facilities, profile=prof, circle=circle, max_snap_dist_m=max_snap_dist_m, labels=False)
    return times_at(r, demand, profile=prof, circle=circle, max_snap_dist_m=max_snap_dist_m)


def times_at(
    reach_: access.Reach | None,
    demand: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    max_snap_dist_m: float | None = None,
) -> pd.DataFrame:
    """Times of a circle's search (:func:`reach`) at demand units, the mode's wait included."""
    prof = resolve(profile)
    cats = categories_of(prof, circle)
    if reach_ is None:
        return pd.DataFrame(np.inf, index=demand.index, columns=cats)
    times = reach_.at(demand, max_snap_dist_m=max_snap_dist_m)
    wait = prof.mode(prof.circle(circle).mode).wait_min
    if not wait:
        return times
    out = times + wait
    out.attrs["max_time_min"] = reach_.max_time_min + wait  # the search's cut-off, the wait included
    return out


def _check_aligned(times: pd.DataFrame, demand: pd.DataFrame) -> None:
    if not times.index.equals(demand.index):
        raise InputError("times and demand units must share one index (compute the times for these units)")


def _reached(times: pd.DataFrame, prof: Profile, circle: str, cats: Sequence[str]) -> np.ndarray:
    missing = [c for c in cats if c not in times]
    if missing:
        raise InputError(f"the times have no column for the categories {missing} of the {circle} circle")
    limits = np.array([prof.threshold_min(circle, c) for c in cats])
    if not times.columns.is_unique:
        return times[list(cats)].to_numpy(dtype=float) <= limits[None, :]
    # column by column: the frame of these columns is not made
    reached = np.empty((len(times), len(cats)), dtype=bool)
    for j, c in enumerate(cats):
        reached[:, j] = times[c].to_numpy(dtype=float) <= limits[j]
    return reached


def _warn_assumptions(prof: Profile, circle: str) -> None:
    spec = prof.circle(circle)
    if not spec.verified:
        log.info("the %s circle of profile %s rests on an unverified rule: %s", circle, prof.name, spec.source)


def coverage(
    times: pd.DataFrame,
    demand: pd.DataFrame,
    *,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    weight: str | None = "res_area_m2",
) -> pd.DataFrame:
    """Coverage of a life circle: per category and for the whole circle.

    Parameters
    ----------
    times : DataFrame
        Minutes from each demand unit to each category (:func:`travel_times`).
    demand : DataFrame or GeoDataFrame
        The demand units, same index as ``times``, with the weight column.
    profile : Profile, str or path, optional
        The standard profile (thresholds, required categories).
    circle : str, optional
        A circle of the profile (default ``"15min"``).
    weight : str or None, optional
        The demand units' column a unit counts for: residential land (``"res_area_m2"``,
        default), people (``"pop"``), land (``"area_m2"``) or any numeric column; ``None``:
        one each (villages). See :func:`mtown_geo.demand.weights`.

    Returns
    -------
    DataFrame
        One row per category (required first, then optional) and a last row
        :data:`CIRCLE` for the whole circle (every required category reached); columns
        ``name_zh``, ``name_en``, ``required``, ``threshold_min``, ``covered``, ``total``
        (in the weight's unit: m² or people), ``rate`` (0–1), ``weight`` (the column
        name, None when every unit counts 1), ``verified``.
    """
    prof = resolve(profile)
    _check_aligned(times, demand)
    cats = categories_of(prof, circle)
    required = set(prof.circle(circle).required)
    col = weight_name(weight)
    w = unit_weights(demand, col)
    reached = _reached(times, prof, circle, cats)
    total = float(w.sum())
    rows = []
    for j, cat in enumerate(cats):
        spec = prof.category(cat)
        covered = float(w[reached[:, j]].sum())
        rows.append(
            {
                "category": cat,
                "name_zh": spec.name_zh,
                "name_en": spec.name_en,
                "required": cat in required,
                "threshold_min": prof.threshold_min(circle, cat),
                "covered": covered,
                "total": total,
                "rate": covered / total,
                "weight": col,
                "verified": spec.verified,
            }
        )
    req_idx = [j for j, c in enumerate(cats) if c in required]
    all_ok = reached[:, req_idx].all(axis=1)
    cspec = prof.circle(circle)
    covered = float(w[all_ok].sum())
    rows.append(
        {
            "category": CIRCLE,
            "name_zh": cspec.name_zh,
            "name_en": cspec.name_en,
            "required": True,
            "threshold_min": cspec.time_min if cspec.time_min is not None else prof.threshold_min(circle),
            "covered": covered,
            "total": total,
            "rate": covered / total,
            "weight": col,
            "verified": cspec.verified,
        }
    )
    _warn_assumptions(prof, circle)
    return pd.DataFrame(rows).set_index("category")


def k_of_n(
    times: pd.DataFrame,
    demand: pd.DataFrame,
    *,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    weight: str | None = "res_area_m2",
) -> pd.DataFrame:
    """How much demand reaches exactly k of the circle's n required categories.

    Returns
    -------
    DataFrame
        Index ``k`` = 0..n; columns ``weight_sum``, ``share`` (0–1) and ``share_at_least``
        (the share reaching k or more; ``share_at_least`` at k = n is the circle's rate).
    """
    prof = resolve(profile)
    _check_aligned(times, demand)
    req = list(prof.circle(circle).required)
    col = weight_name(weight)
    w = unit_weights(demand, col)
    n_reached = _reached(times, prof, circle, req).sum(axis=1)
    sums = np.bincount(n_reached, weights=w, minlength=len(req) + 1)
    share = sums / w.sum()
    at_least = share[::-1].cumsum()[::-1]
    df = pd.DataFrame({"weight_sum": sums, "share": share, "share_at_least": at_least})
    df.index.name = "k"
    return df


def assess(
    times: pd.DataFrame,
    demand: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
) -> gpd.GeoDataFrame:
    """Demand units with their times and whether each category and the circle are reached.

    Returns
    -------
    GeoDataFrame
        A copy of ``demand`` with ``time_min_<category>`` (minutes; named by `time_column`),
        ``n_reached`` (required categories within their threshold), ``n_required``, ``covered``
        (all required reached) and ``missing`` (the required categories not reached,
        comma-separated).
    """
    prof = resolve(profile)
    _check_aligned(times, demand)
    cats = categories_of(prof, circle)
    req = list(prof.circle(circle).required)
    reached = _reached(times, prof, circle, req)
    added: dict[str, Any] = {time_column(c): times[c].to_numpy(dtype=float) for c in cats}
    added["n_required"] = len(req)
    added["n_reached"] = reached.sum(axis=1)
    added["covered"] = reached.all(axis=1)
    added["missing"] = _missing_text(reached, req)
    if isinstance(demand, gpd.GeoDataFrame) and demand.columns.is_unique and not demand.columns.isin(list(added)).any():
        # the new columns appended in one step (a column set at a time copies the frame's index each time)
        out = pd.concat([demand, pd.DataFrame(added, index=demand.index)], axis=1)
        out.attrs = copy.deepcopy(demand.attrs)
        return out
    out = demand.copy()  # units assessed before: their columns replaced where they stand
    for name, values in added.items():
        out[name] = values
    return out


def _missing_text(reached: np.ndarray, req: Sequence[str]) -> list[str]:
    """Per unit (row of ``reached``), the required categories it does not reach, joined by
    commas; each distinct row is written once."""
    names = np.array(req, dtype=object)
    if reached.shape[1] > 62:  # pragma: no cover - more categories than bits of a code
        return [",".join(names[~row]) for row in reached]
    codes = reached.astype(np.int64) @ (np.int64(1) << np.arange(reached.shape[1], dtype=np.int64))
    _, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    texts = [",".join(names[~reached[k]]) for k in first]
    return [texts[i] for i in inv.ravel().tolist()]


def coverage_by_zone(
    times: pd.DataFrame,
    demand: pd.DataFrame,
    *,
    zone_col: str = "zone",
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    weight: str | None = "res_area_m2",
) -> pd.DataFrame:
    """Coverage per sub-area (community, village): one row per zone.

    Units with no zone (NaN) are left out. Columns: ``total`` (weight), the rate of each
    required category, and :data:`CIRCLE` (the whole circle's rate); zones without any
    weight get NaN rates.
    """
    prof = resolve(profile)
    _check_aligned(times, demand)
    if zone_col not in demand:
        raise InputError(f"the demand units have no {zone_col!r} column: assign zones with mtown_geo.demand.assign_zones()")
    req = list(prof.circle(circle).required)
    col = weight_name(weight)
    w = unit_weights(demand, col)
    reached = _reached(times, prof, circle, req)
    frame = pd.DataFrame(reached, columns=req, index=demand.index).astype(float).mul(w, axis=0)
    frame[CIRCLE] = np.where(reached.all(axis=1), w, 0.0)
    frame["total"] = w
    zones = demand[zone_col]
    keep = zones.notna().to_numpy()
    g = frame[keep].groupby(zones[keep].to_numpy())
    sums = g.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = sums[[*req, CIRCLE]].div(sums["total"].replace(0, np.nan), axis=0)
    rates.insert(0, "total", sums["total"])
    rates.index.name = zone_col
    return rates


def gaps(
    assessed: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    by: Literal["circle", "category"] = "circle",
    polygons: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Uncovered demand dissolved into gap polygons, with the area and people in each.

    Parameters
    ----------
    assessed : GeoDataFrame
        Demand units from :func:`assess`.
    by : {"circle", "category"}
        Gaps of the whole circle (units not reaching every required category), or one
        set of gaps per required category.
    polygons : GeoDataFrame, optional
        The land each unit stands for, same index (e.g. parcels). Grid units (with
        ``x``, ``y``, ``cell_m``) use their cells when this is not given.

    Returns
    -------
    GeoDataFrame
        One row per connected gap: ``circle``, ``category`` (:data:`CIRCLE` for the whole
        circle), ``area_m2``, ``res_area_m2``, ``pop``, ``units``, polygon geometry in the
        units' CRS; largest first within each category.
    """
    prof = resolve(profile)
    if "covered" not in assessed:
        raise InputError("gaps() needs assessed units: pass the result of lifecircle.assess()")
    if polygons is not None:
        if not polygons.index.equals(assessed.index):
            raise InputError("polygons must have the same index as the assessed units")
        shapes = polygons.geometry.to_crs(assessed.crs).to_numpy()
        on_lattice = False
    elif {"x", "y", "cell_m"} <= set(assessed.columns):
        shapes, on_lattice = demand._cell_boxes(assessed)
    else:
        raise InputError("gaps() needs the land each unit stands for: grid units, or polygons=")
    req = list(prof.circle(circle).required)
    targets: list[tuple[str, np.ndarray]]
    if by == "circle":
        targets = [(CIRCLE, ~assessed["covered"].to_numpy(bool))]
    elif by == "category":
        # each unit's missing categories, split once in Python (no missing text: none)
        # (each distinct missing text once)
        codes, texts = pd.factorize(assessed["missing"].to_numpy(dtype=object))  # -1: no text
        missing = [m.split(",") if isinstance(m, str) else [""] for m in texts]
        targets = [(c, np.array([c in m for m in missing] + [False], dtype=bool)[codes]) for c in req]
    else:
        raise InputError(f"by must be 'circle' or 'category', got {by!r}")
    area = assessed["area_m2"].to_numpy(float) if "area_m2" in assessed else np.zeros(len(assessed))
    res = assessed["res_area_m2"].to_numpy(float) if "res_area_m2" in assessed else np.zeros(len(assessed))
    pop = assessed["pop"].to_numpy(float) if "pop" in assessed else np.zeros(len(assessed))
    # each unit's representative point, made once for every category it is a gap of: a grid
    # unit's cell centre (inside its cell, so inside the gap its cell belongs to)
    any_gap = np.logical_or.reduce([mask for _, mask in targets]) if targets else np.zeros(len(assessed), dtype=bool)
    rep_all = np.empty(len(assessed), dtype=object)
    if polygons is None:
        rep_all[any_gap] = shapely.points(assessed["x"].to_numpy(float)[any_gap], assessed["y"].to_numpy(float)[any_gap])
    else:
        rep_all[any_gap] = shapely.point_on_surface(shapes[any_gap])
    cat_col: list[str] = []
    geoms: list[shapely.Geometry] = []
    sums: list[tuple[float, float, float, int]] = []
    # categories missed by the same units have the same gaps: each distinct set is dissolved once
    done: dict[bytes, tuple[np.ndarray, list[tuple[float, float, float, int]]]] = {}
    for cat, mask in targets:
        if not mask.any():
            continue
        key = np.packbits(mask).tobytes()
        if key not in done:
            done[key] = _gap_parts(shapes, on_lattice, np.flatnonzero(mask), rep_all, area, res, pop)
        parts, stats = done[key]
        cat_col.extend([cat] * len(parts))
        geoms.extend(parts.tolist())
        sums.extend(stats)
    # largest first within each category (a stable order: ties keep their row order)
    cat_arr = np.array(cat_col, dtype=object)
    area_arr = np.array([s[0] for s in sums], dtype=float)
    order = np.lexsort((-area_arr, np.unique(cat_arr, return_inverse=True)[1].ravel())) if len(sums) else np.empty(0, np.int64)
    pick = order.tolist()
    return _frames.geo_frame(
        {
            "circle": [circle] * len(pick),
            "category": [cat_col[i] for i in pick],
            "area_m2": [sums[i][0] for i in pick],
            "res_area_m2": [sums[i][1] for i in pick],
            "pop": [sums[i][2] for i in pick],
            "units": [sums[i][3] for i in pick],
        },
        [geoms[i] for i in pick],
        assessed.crs,
    )


def _gap_parts(
    shapes: np.ndarray, on_lattice: bool, idx: np.ndarray, rep_all: np.ndarray, area: np.ndarray, res: np.ndarray, pop: np.ndarray
) -> tuple[np.ndarray, list[tuple[float, float, float, int]]]:
    """The connected gaps of the units at ``idx`` and, for each, the sums of ``area``,
    ``res`` and ``pop`` over its units and their number."""
    # cells of one lattice share their edges exactly: a coverage union (10x faster)
    merged = shapely.coverage_union_all(shapes[idx]) if on_lattice else shapely.union_all(shapes[idx])
    parts = shapely.get_parts(merged)
    parts = parts[shapely.area(parts) > 0]
    # each unit goes to the gap its representative point falls in (the gaps are the query
    # geometries: each is prepared once, and tested against the points in its box)
    hit_part, hit_unit = shapely.STRtree(rep_all[idx]).query(parts, predicate="contains")
    owner = np.full(len(idx), -1)
    owner[hit_unit] = hit_part
    # the units of each gap in their row order (a stable sort by gap: no pass over all units per gap)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(parts) + 1))
    stats = []
    for p in range(len(parts)):
        sel = idx[order[bounds[p] : bounds[p + 1]]]
        stats.append((float(area[sel].sum()), float(res[sel].sum()), float(pop[sel].sum()), len(sel)))
    return parts, stats


def what_if_reach(
    reach_: access.Reach | None,
    *,
    add: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    remove: str | int | Sequence[str | int] | None = None,
    category: str | None = None,
    replace: bool = False,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
) -> access.Reach:
    """A circle's search (:func:`reach`) with facilities added or removed (:meth:`Reach.edit`).

    Only the changed categories are searched again; the network, its indexes and the
    other categories' times are reused, and so are the snaps of the units already given
    to :func:`times_at` with this search. The result equals a new :func:`reach` on the
    edited layer (the search's layer without the removed rows, then the added ones).

    Parameters
    ----------
    reach_ : Reach
        The circle's search, as :func:`reach` made it.
    add : GeoDataFrame or GeoSeries, optional
        New sites (points or polygons, any CRS). Their category is ``category``, or the
        ``category`` column of a GeoDataFrame. Without a ``facility_id`` they are numbered
        ``new/<row>``.
    remove : str, int or sequence of them, optional
        Facilities to remove: values of the layer's ``facility_id`` column (``way/123``, as
        in the run's layers and tables), or row positions of ``reach_.facilities`` when the
        layer has no such column. An unknown one is an error.
    category : str, optional
        The category of the added sites; with ``replace``, the category to replace.
    replace : bool, optional
        Remove every facility of ``category`` first: the added sites replace them (or,
        without ``add``, the category is left empty — its rate becomes 0 with an
        :class:`EmptyCategoryWarning`, as a run without such facilities).
    profile, circle
        The profile and the circle of ``reach_``.

    Returns
    -------
    Reach
    """
    prof = resolve(profile)
    cats = categories_of(prof, circle)
    if reach_ is None:
        raise InputError(
            f"there is no search of the {circle} circle to change (the run found no facility of any of its "
            "categories): build one with lifecircle.reach() on a layer holding the new sites"
        )
    if not isinstance(reach_, access.Reach):
        raise InputError(f"reach_ must be the circle's search (an access.Reach), got {type(reach_).__name__}")
    if list(reach_.categories) != cats or reach_.network.mode != prof.circle(circle).mode:
        raise InputError(
            f"this search covers {list(reach_.categories)} on the {reach_.network.mode!r} network, not the {circle} "
            f"circle of the profile {prof.name!r} ({cats} on {prof.circle(circle).mode!r}): pass the circle's own search"
        )
    if category is not None and category not in cats:
        raise InputError(f"{category!r} is not a category of the {circle} circle ({cats})")
    if replace and category is None:
        raise InputError("replace=True needs the category to replace: category=...")
    fac = reach_.facilities
    drop = _rows_to_remove(fac, remove, circle=circle)
    if replace:
        drop = np.union1d(drop, np.flatnonzero((fac["category"] == category).to_numpy()))
    added = None
    if add is not None:
        added = _sites_to_add(add, category=category, fac=fac, n_kept=len(fac) - len(drop))
    return reach_.edit(add=added, drop=[int(r) for r in drop])


def what_if(
    reach_: access.Reach | None,
    demand: gpd.GeoDataFrame,
    *,
    add: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    remove: str | int | Sequence[str | int] | None = None,
    category: str | None = None,
    replace: bool = False,
    profile: Profile | str | Path | None = None,
    circle: str = "15min",
    weight: str | None = "res_area_m2",
    max_snap_dist_m: float | None = None,
) -> pd.DataFrame:
    """The coverage of a circle with facilities added or removed: a planner's what-if.

    After a first computation (:func:`reach` and :func:`times_at` with these units),
    adding five kindergartens or closing a clinic and reading the circle's coverage again
    takes a fraction of a second: only the changed category is searched again and the
    units are not attached again (:func:`what_if_reach`). The table equals the one a
    new computation on the edited facility layer gives, to the bit.

    Parameters
    ----------
    reach_ : Reach
        The circle's search (:func:`reach`).
    demand : GeoDataFrame
        The demand units, with the weight column (the units of the first computation, so
        that their snaps are reused; others are attached once).
    add, remove, category, replace
        The change, as in :func:`what_if_reach`.
    profile, circle, weight
        As in :func:`coverage`.
    max_snap_dist_m : float, optional
        As in :func:`times_at`.

    Returns
    -------
    DataFrame
        The circle's coverage table (:func:`coverage`: one row per category and
        :data:`CIRCLE`), with the change.

    Examples
    --------
    >>> r = lifecircle.reach(net, fac, circle="15min")  # doctest: +SKIP
    >>> lifecircle.what_if(r, units, add=sites, category="kindergarten")  # doctest: +SKIP
    >>> lifecircle.what_if(r, units, remove=["way/123"])  # doctest: +SKIP
    """
    prof = resolve(profile)
    new = what_if_reach(reach_, add=add, remove=remove, category=category, replace=replace, profile=prof, circle=circle)
    times = times_at(new, demand, profile=prof, circle=circle, max_snap_dist_m=max_snap_dist_m)
    return coverage(times, demand, profile=prof, circle=circle, weight=weight)


def _rows_to_remove(fac: gpd.GeoDataFrame, remove: str | int | Sequence[str | int] | None, *, circle: str) -> np.ndarray:
    """Row positions of the facilities named by ``remove`` (facility ids, or row positions without them)."""
    if remove is None:
        return np.empty(0, dtype=np.int64)
    values = [remove] if isinstance(remove, (str, int, np.integer)) else list(remove)
    if "facility_id" in fac:
        ids = fac["facility_id"].astype(str).to_numpy()
        wanted = np.array([str(v) for v in values], dtype=object)
        missing = [v for v in wanted if v not in set(ids)]
        if missing:
            raise InputError(
                f"no facility with facility_id {missing} among the {circle} circle's facilities: see reach.facilities for the ids"
            )
        return np.flatnonzero(np.isin(ids, wanted))
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < len(fac)]
    if bad:
        raise InputError(
            f"no facility at {bad} among the {circle} circle's {len(fac)} facilities: without a facility_id column, "
            f"remove takes row positions of reach.facilities (0..{len(fac) - 1})"
        )
    return np.unique(np.asarray(values, dtype=np.int64))


def _sites_to_add(
    add: gpd.GeoDataFrame | gpd.GeoSeries, *, category: str | None, fac: gpd.GeoDataFrame, n_kept: int
) -> gpd.GeoDataFrame:
    """New sites as rows of the facility layer: with their category and, when the layer has ids, ``new/<row>``."""
    if isinstance(add, gpd.GeoSeries):
        add = add.to_frame(name="geometry")
    if not isinstance(add, gpd.GeoDataFrame):
        raise InputError(f"add must be a GeoDataFrame or GeoSeries of sites, got {type(add).__name__}")
    out = add.reset_index(drop=True)
    if category is not None:
        if "category" in out and not (out["category"] == category).all():
            raise InputError(f"the sites' category column disagrees with category={category!r}")
        out = out.assign(category=category)
    elif "category" not in out:
        raise InputError("say which category the new sites are: category=... (or a category column)")
    if "facility_id" in fac and "facility_id" not in out:
        out = out.assign(facility_id=[f"new/{n_kept + j}" for j in range(len(out))])
    return out
