"""Isochrones: the land within a travel time of the nearest facility, along the network.

A service area follows the streets: it is the union of every network edge whose whole
length lies within the threshold and of the reachable part of every edge that is cut
by it, widened by a walking-access band of ``buffer_m`` metres on each side. Nothing
that cannot be reached is filled in — no convex or concave hull — so blocks whose
inside lies farther than ``buffer_m`` from any reachable street stay holes, and a
river without a bridge stays a gap.

The times are those of the engine (:mod:`mtown_geo.access`): ``Reach.node_min`` gives
every node its time to the nearest facility; a point at fraction ``s`` of edge
``u → v`` needs ``s · time_rev_min`` to walk back to ``u`` (direction ``v → u``) or
``(1 − s) · time_min`` to walk on to ``v``, one-way edges allowing only their
direction; a facility attached to the edge itself is reached along it, with the
facility's own off-network leg. So the reachable part of a cut edge is exact, and a
point on a reachable line has ``Reach.at(point) <= threshold``.

* :func:`reachable_lines` — the reachable pieces of the network, per category and
  threshold (the exact skeleton of every service area).
* :func:`service_areas` — the service-area polygons: per category, per facility (one
  search per facility), or the category's area split into catchments by the nearest
  facility; as disks (``0–t``) or as non-overlapping rings (``5–10``, ``10–15``...).

The access band (``buffer_m``, default 50 m) is a fixed width: walking it takes up to
``buffer_m / access_speed`` minutes more (0.75 min at 4 km/h), which the area does not
subtract from the threshold. Use :func:`mtown_geo.rasters.travel_time_raster` or
``Reach.at`` where the off-network leg must count exactly.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse.csgraph import dijkstra

from ._errors import InputError, SnapWarning
from .access import Reach, _append_rows

__all__ = ["DEFAULT_BUFFER_M", "reachable_lines", "service_areas"]

log = logging.getLogger(__name__)

#: Default half-width (metres) of the walking-access band around reachable streets:
#: the depth of a typical plot between a street and the buildings behind it, walked in
#: 0.75 min at 4 km/h.
DEFAULT_BUFFER_M = 50.0

By = Literal["category", "facility", "split"]
_BY = ("category", "facility", "split")

# largest (facilities x nodes) block of per-facility times held at once (float64)
_BLOCK_CELLS = 4_000_000


# -- arguments -------------------------------------------------------------------------


def _check_reach(reach: object) -> Reach:
    if not isinstance(reach, Reach):
        raise InputError(
            f"expected a Reach (made by mtown_geo.access.reach(network, facilities, ...)), got {type(reach).__name__}"
        )
    return reach


def _thresholds(thresholds_min: float | Sequence[float], reach: Reach) -> np.ndarray:
    """Thresholds as a sorted array of distinct positive minutes within the search limit."""
    if isinstance(thresholds_min, numbers.Real):
        values = [float(thresholds_min)]
    elif isinstance(thresholds_min, str) or not isinstance(thresholds_min, Sequence | np.ndarray | pd.Series):
        raise InputError(f"thresholds_min must be a number or a list of numbers (minutes), got {thresholds_min!r}")
    else:
        try:
            values = [float(t) for t in thresholds_min]
        except (TypeError, ValueError):
            raise InputError(f"thresholds_min must be numbers (minutes), got {list(thresholds_min)!r}") from None
    if not values:
        raise InputError("thresholds_min is empty: give at least one threshold in minutes, e.g. [5, 10, 15]")
    arr = np.array(values, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(f"thresholds must be positive finite minutes, got {values}")
    if len(np.unique(arr)) != len(arr):
        raise InputError(f"thresholds must not repeat, got {values}")
    too_far = arr[arr > reach.max_time_min]
    if len(too_far):
        raise InputError(
            f"the threshold {too_far.max():g} min exceeds the search limit of the Reach ({reach.max_time_min:g} min), "
            f"beyond which no time is known: compute it with mtown_geo.access.reach(..., max_time_min={too_far.max():g})"
        )
    return np.sort(arr)


def _categories(categories: Sequence[str] | None, reach: Reach) -> list[int]:
    """Positions in ``reach.categories`` of the categories asked for (all by default)."""
    if not reach.categories:
        raise InputError("the Reach has no category: compute it with at least one facility category")
    if categories is None:
        return list(range(len(reach.categories)))
    if isinstance(categories, str):
        categories = [categories]
    unknown = [c for c in categories if c not in reach.categories]
    if unknown:
        raise InputError(f"unknown categories {unknown}: the Reach has {list(reach.categories)}")
    if len(set(categories)) != len(categories):
        raise InputError("categories must not repeat")
    return [reach.categories.index(c) for c in categories]


# -- reachable intervals of edges ------------------------------------------------------


def _frac_within(budget_min: np.ndarray, time_min: np.ndarray) -> np.ndarray:
    """Fraction (0–1) of an edge of ``time_min`` travelled within ``budget_min`` (>= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(time_min == 0, 1.0, np.where(np.isinf(time_min), 0.0, budget_min / time_min))
    return np.clip(frac, 0.0, 1.0)


def _attachments(reach: Reach) -> pd.DataFrame:
    """Usable facility access points: edge, position, access leg, facility row and category position."""
    snaps = reach.point_snaps
    owner = reach.points["owner"].to_numpy()
    lookup = {c: i for i, c in enumerate(reach.categories)}
    fac_cat = np.array([lookup.get(str(c), -1) for c in reach.facilities["category"].to_numpy()], dtype=np.int64)
    cat = fac_cat[owner] if len(owner) else np.empty(0, dtype=np.int64)
    ok = snaps["ok"].to_numpy() & (cat >= 0)
    return pd.DataFrame(
        {
            "edge": snaps["edge"].to_numpy()[ok],
            "frac": snaps["frac"].to_numpy()[ok],
            "access_min": snaps["access_min"].to_numpy()[ok],
            "owner": owner[ok],
            "cat": cat[ok],
        }
    )


def _intervals(
    reach: Reach,
    node_min: np.ndarray,
    direct: pd.DataFrame,
    theta: float,
) -> pd.DataFrame:
    """Merged reachable intervals ``[s0, s1]`` (fractions from u) of the edges, per group.

    ``node_min`` holds one row of node times per group; ``direct`` the access points
    of each group's facilities (columns ``group``, ``edge``, ``frac``, ``access_min``),
    whose own edges are reachable along the edge.
    """
    edges = reach.network.edges
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    t_uv = edges["time_min"].to_numpy(dtype=float)
    t_vu = edges["time_rev_min"].to_numpy(dtype=float)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    # from u: the point walks back to u (direction v -> u)
    tu = node_min[:, u]
    g, e = np.nonzero(tu <= theta)
    parts.append((g, e, np.zeros(len(e)), _frac_within(theta - tu[g, e], t_vu[e])))
    # from v: the point walks on to v (direction u -> v)
    tv = node_min[:, v]
    g, e = np.nonzero(tv <= theta)
    parts.append((g, e, 1.0 - _frac_within(theta - tv[g, e], t_uv[e]), np.ones(len(e))))
    # along the facility's own edge
    d = direct[direct["access_min"].to_numpy() <= theta]
    if len(d):
        e = d["edge"].to_numpy()
        f = d["frac"].to_numpy()
        left = theta - d["access_min"].to_numpy()
        parts.append(
            (
                d["group"].to_numpy(),
                e,
                np.clip(f - _frac_within(left, t_uv[e]), 0.0, 1.0),
                np.clip(f + _frac_within(left, t_vu[e]), 0.0, 1.0),
            )
        )
    grp = np.concatenate([p[0] for p in parts]).astype(np.int64)
    edge = np.concatenate([p[1] for p in parts]).astype(np.int64)
    s0 = np.concatenate([p[2] for p in parts])
    s1 = np.concatenate([p[3] for p in parts])
    keep = s1 > s0
    return _merge(grp[keep], edge[keep], s0[keep], s1[keep])


def _merge(grp: np.ndarray, edge: np.ndarray, s0: np.ndarray, s1: np.ndarray) -> pd.DataFrame:
    """Union of overlapping or touching intervals of the same (group, edge)."""
    if len(grp) == 0:
        return pd.DataFrame({"group": grp, "edge": edge, "s0": s0, "s1": s1})
    order = np.lexsort((s0, edge, grp))
    grp, edge, s0, s1 = grp[order], edge[order], s0[order], s1[order]
    key = pd.Series(grp * (int(edge.max()) + 1) + edge)
    reach_end = pd.Series(s1).groupby(key.to_numpy()).cummax().to_numpy()
    new_key = np.ones(len(key), dtype=bool)
    new_key[1:] = key.to_numpy()[1:] != key.to_numpy()[:-1]
    start = new_key.copy()
    start[1:] |= s0[1:] > reach_end[:-1]
    first = np.flatnonzero(start)
    return pd.DataFrame(
        {
            "group": grp[first],
            "edge": edge[first],
            "s0": s0[first],
            "s1": np.maximum.reduceat(s1, first),
        }
    )


def _pieces(reach: Reach, iv: pd.DataFrame) -> np.ndarray:
    """LineStrings of the intervals ``iv`` (fractions of the edges' lengths)."""
    geoms = np.asarray(reach.network.edges.geometry.values)[iv["edge"].to_numpy()]
    s0 = iv["s0"].to_numpy()
    s1 = iv["s1"].to_numpy()
    out = np.empty(len(iv), dtype=object)
    straight = shapely.get_num_coordinates(geoms) == 2
    if straight.any():
        xy = shapely.get_coordinates(geoms[straight]).reshape(-1, 2, 2)
        a, b = xy[:, 0, :], xy[:, 1, :]
        p0 = a + (b - a) * s0[straight, None]
        p1 = a + (b - a) * s1[straight, None]
        out[straight] = shapely.linestrings(np.stack([p0, p1], axis=1))
    for i in np.flatnonzero(~straight):
        out[i] = shapely.ops.substring(geoms[i], s0[i], s1[i], normalized=True)
    return out


def _category_intervals(reach: Reach, ks: list[int], thetas: np.ndarray) -> dict[tuple[int, float], pd.DataFrame]:
    """Reachable intervals of every (category position, threshold)."""
    att = _attachments(reach)
    out: dict[tuple[int, float], pd.DataFrame] = {}
    for k in ks:
        direct = att[att["cat"].to_numpy() == k].assign(group=0)
        for theta in thetas:
            out[k, float(theta)] = _intervals(reach, reach.node_min[k : k + 1], direct, float(theta))
    return out


# -- public: lines ---------------------------------------------------------------------


def reachable_lines(
    reach: Reach,
    *,
    thresholds_min: float | Sequence[float],
    categories: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """The parts of the network from which the nearest facility is within each threshold.

    Parameters
    ----------
    reach : Reach
        Node times from :func:`mtown_geo.access.reach`.
    thresholds_min : float or sequence of float
        Thresholds in minutes, each at most ``reach.max_time_min``.
    categories : sequence of str, optional
        Categories of the Reach to draw (default: all of them).

    Returns
    -------
    GeoDataFrame
        In the network's CRS, one row per reachable piece of an edge: ``category``,
        ``threshold_min``, ``edge`` (edge position in ``reach.network.edges``),
        ``start_frac`` and ``end_frac`` (the piece's ends as fractions of the edge from
        its ``u`` end, 0–1; pieces of one edge never overlap or touch), ``length_m``
        (the network length of the piece, metres) and LineString geometry. Every point
        of a piece reaches a facility of the category within the threshold along the
        network (the off-network leg of the facility included); every point of an edge
        outside the pieces does not.

    Examples
    --------
    >>> r = mg.access.reach(net, fac, max_time_min=15)  # doctest: +SKIP
    >>> mg.isochrones.reachable_lines(r, thresholds_min=[5, 10, 15])  # doctest: +SKIP
    """
    reach = _check_reach(reach)
    thetas = _thresholds(thresholds_min, reach)
    ks = _categories(categories, reach)
    ivs = _category_intervals(reach, ks, thetas)
    length = reach.network.edges["length_m"].to_numpy(dtype=float)
    cats: list[str] = []
    thr: list[np.ndarray] = []
    parts: list[pd.DataFrame] = []
    for (k, theta), iv in ivs.items():
        cats.extend([reach.categories[k]] * len(iv))
        thr.append(np.full(len(iv), theta))
        parts.append(iv)
    iv_all = pd.concat(parts, ignore_index=True)
    edge = iv_all["edge"].to_numpy(dtype=np.int64)
    s0 = iv_all["s0"].to_numpy(dtype=float)
    s1 = iv_all["s1"].to_numpy(dtype=float)
    table = pd.DataFrame(
        {
            "category": pd.Series(cats, dtype=object),
            "threshold_min": np.concatenate(thr),
            "edge": edge,
            "start_frac": s0,
            "end_frac": s1,
            "length_m": (s1 - s0) * length[edge],
        }
    )
    return gpd.GeoDataFrame(table, geometry=_pieces(reach, iv_all), crs=reach.network.crs)


# -- public: polygons ------------------------------------------------------------------


def _buffered(reach: Reach, iv: pd.DataFrame, n_groups: int, buffer_m: float) -> np.ndarray:
    """One polygon per group: its reachable pieces widened by ``buffer_m`` (round caps and joins).

    Pieces that meet end to end are merged into longer lines first, each line is
    buffered on its own and the buffers of a group are unioned: much faster than
    buffering one large MultiLineString, for the same polygon.
    """
    out = np.array([shapely.Polygon() for _ in range(n_groups)], dtype=object)
    if len(iv) == 0:
        return out
    pieces = _pieces(reach, iv)
    grp = iv["group"].to_numpy()
    present = np.unique(grp)
    merged = shapely.line_merge(shapely.multilinestrings(pieces, indices=np.searchsorted(present, grp)))
    lines, which = shapely.get_parts(merged, return_index=True)
    bufs = shapely.buffer(lines, buffer_m)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(present) + 1))
    for i, g in enumerate(present):
        out[g] = shapely.union_all(bufs[order[bounds[i] : bounds[i + 1]]])
    return out


def _facility_node_min(reach: Reach, owners: np.ndarray, att: pd.DataFrame, limit: float) -> np.ndarray:
    """Node times to each facility of ``owners`` separately: one bounded search per facility.

    The reversed network gets one source node per facility, joined to both ends of each
    edge its access points attach to (the partial edge plus the access leg), as in
    :func:`mtown_geo.access.reach`; the searches run together in one
    ``scipy.sparse.csgraph.dijkstra`` call per block of facilities.
    """
    net = reach.network
    n = net.n_nodes
    S = len(owners)
    out = np.full((S, n), np.inf)
    if S == 0 or len(att) == 0:
        return out
    src = np.searchsorted(owners, att["owner"].to_numpy())
    e = att["edge"].to_numpy()
    f = att["frac"].to_numpy()
    acc = att["access_min"].to_numpy()
    edges = net.edges
    w_u = acc + f * edges["time_min"].to_numpy(dtype=float)[e]
    w_v = acc + (1.0 - f) * edges["time_rev_min"].to_numpy(dtype=float)[e]
    rows = np.concatenate([src, src])
    cols = np.concatenate([edges["u"].to_numpy()[e], edges["v"].to_numpy()[e]])
    w = np.concatenate([w_u, w_v])
    fin = np.isfinite(w)
    aug = _append_rows(net.csr_reverse, rows[fin], cols[fin], w[fin], S)
    block = max(1, _BLOCK_CELLS // max(n + S, 1))
    for b0 in range(0, S, block):
        idx = np.arange(b0, min(S, b0 + block))
        dist = dijkstra(aug, directed=True, indices=n + idx, limit=limit, min_only=False)
        out[idx] = np.atleast_2d(dist)[:, :n]
    return out


def _split_cells(
    reach: Reach, k: int, iv: pd.DataFrame, owners: np.ndarray, area: shapely.Geometry, buffer_m: float
) -> np.ndarray:
    """The category's area divided among its facilities (one geometry per owner).

    Points along the reachable pieces (every ``buffer_m / 4`` metres at most) take the
    facility nearest to them along the network (``Reach.at(..., nearest=True)``); each
    piece of land goes with the nearest such point (Voronoi cells, dissolved per facility).
    """
    out = np.array([shapely.Polygon() for _ in range(len(owners))], dtype=object)
    if len(iv) == 0 or area.is_empty:
        return out
    spacing = max(buffer_m / 4.0, 0.5)
    geoms = np.asarray(reach.network.edges.geometry.values)[iv["edge"].to_numpy()]
    s0 = iv["s0"].to_numpy()
    s1 = iv["s1"].to_numpy()
    length = (s1 - s0) * shapely.length(geoms)
    n_pts = np.maximum(1, np.ceil(length / spacing).astype(np.int64))
    rep = np.repeat(np.arange(len(iv)), n_pts)
    first = np.concatenate([[0], np.cumsum(n_pts)[:-1]])
    i = np.arange(int(n_pts.sum())) - np.repeat(first, n_pts)
    s = s0[rep] + (i + 0.5) / n_pts[rep] * (s1[rep] - s0[rep])
    pts = shapely.line_interpolate_point(geoms[rep], s, normalized=True)
    xy = shapely.get_coordinates(pts)
    _, uniq = np.unique(np.round(xy, 6), axis=0, return_index=True)
    pts = pts[np.sort(uniq)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapWarning)
        who = reach.at(gpd.GeoSeries(pts, crs=reach.network.crs), nearest=True)[reach.categories[k]].to_numpy()
    served = who >= 0
    if not served.all():
        log.debug("%d of %d points along the reachable streets have no facility (crossing edges)", (~served).sum(), len(who))
    pts, who = pts[served], who[served]
    present = np.unique(who)
    if len(present) == 1:
        out[np.searchsorted(owners, present[0])] = area
        return out
    xmin, ymin, xmax, ymax = shapely.bounds(area)
    frame = shapely.box(xmin, ymin, xmax, ymax).buffer(buffer_m, join_style="mitre")
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True))
    for j in present:
        dissolved = shapely.coverage_union_all(cells[who == j])
        out[np.searchsorted(owners, j)] = shapely.intersection(dissolved, area)
    return out


def service_areas(
    reach: Reach,
    *,
    thresholds_min: float | Sequence[float],
    by: By = "category",
    rings: bool = False,
    buffer_m: float | None = None,
    categories: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Network service areas (isochrones) of the facility categories.

    Parameters
    ----------
    reach : Reach
        Node times from :func:`mtown_geo.access.reach` (searched at least as far as the
        largest threshold).
    thresholds_min : float or sequence of float
        Thresholds in minutes (e.g. ``[5, 10, 15]``), each at most ``reach.max_time_min``.
    by : {"category", "facility", "split"}, optional
        ``"category"`` (default): one area per category, the land within the threshold
        of its *nearest* facility. ``"facility"``: one area per facility, the land
        within the threshold of *that* facility (areas of neighbouring facilities
        overlap; one bounded search per facility). ``"split"``: the category's area
        divided among its facilities by which one is nearest along the network
        (catchments: the pieces do not overlap and together make the category's area).
    rings : bool, optional
        Non-overlapping bands between consecutive thresholds (``0–5``, ``5–10``,
        ``10–15``) instead of nested areas from 0 (default False).
    buffer_m : float, optional
        Half-width in metres of the access band around the reachable streets (default
        :data:`DEFAULT_BUFFER_M`, 50 m). Its walk is not subtracted from the threshold.
    categories : sequence of str, optional
        Categories of the Reach to draw (default: all of them).

    Returns
    -------
    GeoDataFrame
        In the network's (projected) CRS, one row per category and threshold (and per
        facility for ``"facility"`` and ``"split"``, every facility of the category,
        with an empty polygon where it serves nothing): ``category``, ``from_min``
        (0, or the previous threshold for rings), ``threshold_min``, for ``"facility"``
        and ``"split"`` also ``facility`` (row position in ``reach.facilities``, as in
        ``Reach.nearest``) and ``name`` (when the facilities have names), ``area_m2``
        (square metres) and (Multi)Polygon geometry with its holes.

    Raises
    ------
    InputError
        Not a Reach, unknown ``by`` or category, thresholds that are not positive or
        exceed the Reach's search limit, a non-positive ``buffer_m``.

    Examples
    --------
    >>> r = mg.access.reach(net, fac, max_time_min=15)  # doctest: +SKIP
    >>> areas = mg.isochrones.service_areas(r, thresholds_min=[5, 10, 15], rings=True)  # doctest: +SKIP
    """
    reach = _check_reach(reach)
    if by not in _BY:
        raise InputError(f"by must be one of {list(_BY)}, got {by!r}")
    thetas = _thresholds(thresholds_min, reach)
    ks = _categories(categories, reach)
    if buffer_m is None:
        buffer_m = DEFAULT_BUFFER_M
    if isinstance(buffer_m, bool) or not isinstance(buffer_m, numbers.Real) or not (0 < float(buffer_m) < np.inf):
        raise InputError(f"buffer_m must be a positive number of metres (the access band around the streets), got {buffer_m!r}")
    buffer_m = float(buffer_m)
    ivs = _category_intervals(reach, ks, thetas)
    att = _attachments(reach)
    fac_cat = reach.facilities["category"].astype(str).to_numpy()
    names = reach.facilities["name"].to_numpy() if "name" in reach.facilities else None
    rows: list[dict[str, object]] = []
    for k in ks:
        disks = [_buffered(reach, ivs[k, float(t)], 1, buffer_m)[0] for t in thetas]
        if by == "category":
            groups = [disks]
            owners = np.empty(0, dtype=np.int64)
        else:
            owners = np.flatnonzero(fac_cat == reach.categories[k])
            if by == "facility":
                catt = att[att["cat"].to_numpy() == k]
                node_min = _facility_node_min(reach, owners, catt, float(thetas[-1]))
                direct = catt.assign(group=np.searchsorted(owners, catt["owner"].to_numpy()))
                per_t = [_buffered(reach, _intervals(reach, node_min, direct, float(t)), len(owners), buffer_m) for t in thetas]
            else:
                per_t = [
                    _split_cells(reach, k, ivs[k, float(t)], owners, disk, buffer_m)
                    for t, disk in zip(thetas, disks, strict=True)
                ]
            groups = [[per_t[i][j] for i in range(len(thetas))] for j in range(len(owners))]
        for j, geoms in enumerate(groups):
            for i, t in enumerate(thetas):
                geom = geoms[i]
                lower = 0.0
                if rings and i > 0:
                    lower = float(thetas[i - 1])
                    inner = geoms[i - 1] if by == "facility" else disks[i - 1]
                    geom = shapely.difference(geom, inner)
                row: dict[str, object] = {"category": reach.categories[k], "from_min": lower, "threshold_min": float(t)}
                if by != "category":
                    row["facility"] = int(owners[j])
                    if names is not None:
                        row["name"] = names[owners[j]]
                row["geometry"] = geom
                rows.append(row)
    columns = ["category", "from_min", "threshold_min"]
    if by != "category":
        columns += ["facility"] + (["name"] if names is not None else [])
    table = pd.DataFrame(rows, columns=[*columns, "geometry"])
    geometry = np.asarray(table["geometry"].to_numpy(), dtype=object)
    out = gpd.GeoDataFrame(table[columns], geometry=geometry, crs=reach.network.crs)
    out.insert(len(columns), "area_m2", shapely.area(geometry) if len(geometry) else np.empty(0))
    if by != "category":
        out["facility"] = out["facility"].astype(np.int64)
    log.info(
        "service areas of %d categories at %s min (by %s%s): %d rows",
        len(ks),
        ", ".join(f"{t:g}" for t in thetas),
        by,
        ", rings" if rings else "",
        len(out),
    )
    return out
