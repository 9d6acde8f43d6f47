"""行政村通双车道公路 / 山区县城镇通三级公路: village road connectivity (policy task 2).

A village counts as *reached* (通) when the road path from its point to the town seat runs on
qualifying roads — the MOT reading "通达路线连通", not merely a good road nearby. Each edge of
the drive network is judged by the profile's road test (:func:`edge_status`):

* **pass** — tagged ``lanes ≥ 2`` (a one-way carriageway of a major road counts), or a
  carriageway ``width`` at least the threshold (6.0 m for two lanes, 6.5 m for grade 3), or a
  Chinese grade ``highway:CN`` within the limit; and paved;
* **fail** — tagged otherwise (one lane, too narrow, unpaved, a track or path);
* **unknown** — the tags that would decide are missing (most rural roads in OSM): the
  profile's major classes are assumed to pass, the others stay unknown — never a silent fail.

:func:`connect` then asks, for every village, whether it reaches the seat over *passing* edges
only (strict: one search of the engine's :func:`mtown_geo.access.search` restricted to them),
allowing any road for the last ``village_end_m`` at the village and ``seat_end_m`` at the seat;
when not, whether it would over passing-or-unknown edges (status *unknown*), else *fail*. A weak
variant asks only for a passing road within ``weak_dist_m`` of the village point. For each
village not passing, the fastest path to the seat (by drive time) is walked and its weakest link
named — the road to upgrade or to survey first.

:func:`seat_reaches_trunk` applies the mountain-county rule: the town seat reaches a 国道 or 省道
(``ref`` G…/S…) on grade-3-or-better roads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _frames, _geom, access
from ._errors import InputError, ProfileError
from .network import Network
from .standards import Profile, RoadTest, VillageRoadRules, resolve

__all__ = [
    "EDGE_COLUMNS",
    "VillageRoads",
    "assess",
    "connect",
    "edge_attributes",
    "edge_status",
    "seat_reaches_trunk",
    "town_seat",
]

log = logging.getLogger(__name__)

#: Road attributes each network edge needs (see :func:`mtown_geo.sources.osm.road_attributes`).
EDGE_COLUMNS = ("highway", "lanes", "width_m", "surface", "tracktype", "grade_cn", "oneway", "ref_class", "name")

_ONEWAY = {"yes", "true", "1", "-1", "reverse"}
_RANK = {"pass": 0, "unknown": 1, "fail": 2}


def _rules(profile: Profile | str | Path | None) -> VillageRoadRules:
    prof = resolve(profile)
    if prof.tasks is None or prof.tasks.village_roads is None:
        raise ProfileError(f"the profile {prof.name!r} has no tasks.village_roads section")
    return prof.tasks.village_roads


def edge_attributes(network: Network, roads: pd.DataFrame) -> pd.DataFrame:
    """The road attributes of every network edge, joined from its OSM way by ``osm_id``.

    Parameters
    ----------
    network : Network
        Its edges carry ``osm_id`` (networks built from OSM do); edges without one get no
        attribute (all unknown).
    roads : DataFrame
        One row per way with ``osm_id`` and the :data:`EDGE_COLUMNS` (the output of
        :func:`mtown_geo.sources.osm.road_attributes`).

    Returns
    -------
    DataFrame
        One row per edge (the network's edge index) with :data:`EDGE_COLUMNS`.
    """
    missing = [c for c in ("osm_id", *EDGE_COLUMNS) if c not in roads]
    if missing:
        raise InputError(f"the road attributes lack the columns {missing} (use mtown_geo.sources.osm.road_attributes)")
    table = roads.drop_duplicates("osm_id").set_index("osm_id")[list(EDGE_COLUMNS)]
    edges = network.edge_table  # the columns only: no edge geometry is made
    ids = edges["osm_id"] if "osm_id" in edges else pd.Series([None] * network.n_edges)
    out = table.reindex(pd.Index(ids.to_numpy(), dtype=object))
    out.index = edges.index
    if "highway" in edges:
        out["highway"] = out["highway"].where(out["highway"].notna(), edges["highway"])
    return out


def edge_status(attrs: pd.DataFrame, test: RoadTest, *, mountain: bool = False) -> pd.DataFrame:
    """Whether each road segment meets a road test: ``pass``, ``fail`` or ``unknown``, and why.

    Parameters
    ----------
    attrs : DataFrame
        :data:`EDGE_COLUMNS` per segment (numbers parsed: ``lanes``, ``width_m``, ``grade_cn``).
    test : RoadTest
        The profile's ``two_lane`` or ``grade3`` test.
    mountain : bool
        The town lies in a mountain county: the classes of ``unknown_in_mountains`` are not
        assumed to pass.

    Returns
    -------
    DataFrame
        Index-aligned: ``status`` and ``reason`` (the tag that decided, e.g. ``lanes=1``,
        ``surface=gravel``, ``no lanes/width tag (residential)``).
    """
    n = len(attrs)
    hw = attrs["highway"].to_numpy(dtype=object)
    lanes = pd.to_numeric(attrs["lanes"], errors="coerce").to_numpy(float)
    width = pd.to_numeric(attrs["width_m"], errors="coerce").to_numpy(float)
    grade = pd.to_numeric(attrs["grade_cn"], errors="coerce").to_numpy(float)
    surface = attrs["surface"].to_numpy(dtype=object)
    track = attrs["tracktype"].to_numpy(dtype=object)
    oneway = attrs["oneway"].astype(str).str.lower().isin(list(_ONEWAY)).to_numpy()
    assumed = np.isin(hw, test.assume_highway)
    if mountain and test.unknown_in_mountains:
        assumed &= ~np.isin(hw, test.unknown_in_mountains)
    reason = np.full(n, "", dtype=object)

    # size: lanes, width, grade
    with np.errstate(invalid="ignore"):
        lanes_ok = (lanes >= test.min_lanes) | (oneway & (lanes >= 1) & np.isin(hw, test.assume_highway))
        lanes_bad = (lanes < test.min_lanes) & ~lanes_ok
        width_ok = width >= test.min_width_m
        width_bad = width < test.min_width_m
        grade_ok = grade <= test.max_grade_cn
    size = np.full(n, "unknown", dtype=object)
    size_why = np.full(n, "", dtype=object)
    good = lanes_ok | width_ok | grade_ok
    size[good] = "pass"
    size_why[good] = ""
    bad = ~good & (lanes_bad | width_bad)
    size[bad] = "fail"
    size_why[bad & lanes_bad] = [f"lanes={x:g}" for x in lanes[bad & lanes_bad]]
    only_w = bad & ~lanes_bad
    size_why[only_w] = [f"width={x:g} m" for x in width[only_w]]
    fall = (size == "unknown") & assumed
    size[fall] = "pass"
    size_why[fall] = ""
    left = size == "unknown"
    size_why[left] = [f"no lanes/width tag ({h})" for h in hw[left]]

    # surface
    paved = np.isin(surface, test.paved_surfaces)
    by_surface = np.isin(surface, test.unpaved_surfaces)
    by_track = ~paved & ~by_surface & pd.notna(track) & (track != "grade1")
    unpaved = by_surface | by_track
    surf = np.where(unpaved, "fail", np.where(paved, "pass", "unknown")).astype(object)
    no_surface = pd.isna(surface) & pd.isna(track)
    surf[(surf == "unknown") & no_surface & np.isin(hw, test.assume_paved_highway)] = "pass"
    surf_why = np.full(n, "", dtype=object)
    surf_why[by_surface] = [f"surface={s}" for s in surface[by_surface]]
    surf_why[by_track] = [f"tracktype={t}" for t in track[by_track]]
    unk = surf == "unknown"
    surf_why[unk] = [
        f"surface={s} (not in the paved/unpaved lists)" if isinstance(s, str) else "no surface tag" for s in surface[unk]
    ]

    # the worse of size and surface decides; the reasons of the parts with that status are given
    size_rank = _rank_of(size)
    surf_rank = _rank_of(surf)
    status = np.where(size_rank >= surf_rank, size, surf).astype(object)
    from_size = (size == status) & (size_why != "")
    from_surf = (surf == status) & (surf_why != "")
    reason[from_size] = size_why[from_size]
    reason[from_surf & ~from_size] = surf_why[from_surf & ~from_size]
    both = from_size & from_surf
    reason[both] = size_why[both] + "; " + surf_why[both]
    reason[status == "pass"] = ""
    never = np.isin(hw, test.never_highway) | pd.isna(hw)
    status[never] = "fail"
    reason[never] = [f"highway={h}" for h in hw[never]]
    return pd.DataFrame({"status": status, "reason": reason}, index=attrs.index)


def _status_by_way(network: Network, attrs: pd.DataFrame, test: RoadTest, *, mountain: bool) -> pd.DataFrame:
    """:func:`edge_status` of the edges of a network (``attrs``: :func:`edge_attributes`), the same
    frame, judged once per way and road class.

    :func:`edge_attributes` gives every edge of one way (``osm_id``) the way's attributes, and its
    own ``highway`` only where the way has none: edges with the same ``osm_id`` and ``highway``
    have the same attributes, so the same status and reason (the test reads each row alone). An
    edge without ``osm_id`` is judged on its own."""
    table = network.edge_table
    n = len(attrs)
    if "osm_id" not in table or n != len(table):
        return edge_status(attrs, test, mountain=mountain)
    way, _ = pd.factorize(table["osm_id"].to_numpy())
    hw, hw_values = pd.factorize(attrs["highway"].to_numpy(dtype=object))
    key = way.astype(np.int64) * (len(hw_values) + 1) + (hw + 1)
    alone = way < 0
    key[alone] = -1 - np.flatnonzero(alone)  # each on its own
    number, _ = pd.factorize(key)
    first = np.zeros(int(number.max()) + 1, dtype=np.intp)
    first[number[::-1]] = np.arange(n)[::-1]
    judged = edge_status(attrs.iloc[first], test, mountain=mountain)
    return pd.DataFrame(
        {"status": judged["status"].to_numpy()[number], "reason": judged["reason"].to_numpy()[number]}, index=attrs.index
    )


def _in_crs(layer: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """The layer in ``crs``: itself when it is in that CRS already (read, never changed), else
    projected (a new frame)."""
    if layer.crs is not None and layer.crs.is_exact_same(crs):
        return layer
    return layer.to_crs(crs)


def _rank_of(status: np.ndarray) -> np.ndarray:
    """The rank of each status (:data:`_RANK`: pass 0, unknown 1, fail 2)."""
    out = np.zeros(len(status), dtype=np.int8)
    for key, rank in _RANK.items():
        out[status == key] = rank
    return out


def town_seat(
    candidates: gpd.GeoDataFrame,
    builtup: gpd.GeoDataFrame,
    *,
    profile: Profile | str | Path | None = None,
    name_patterns: Sequence[str] | None = None,
) -> tuple[gpd.GeoDataFrame, str]:
    """The town seat (镇政府): the best-named candidate in the built-up area, else the area's centre.

    Parameters
    ----------
    candidates : GeoDataFrame
        Government facilities with ``name`` (the ``service_centre`` category), any CRS.
    builtup : GeoDataFrame
        The built-up area in any CRS (a geographic one is projected to :func:`mtown_geo.crs.metric_crs`).
    name_patterns : sequence of str, optional
        Name fragments in order of preference (default: the profile's ``seat_name_patterns``:
        镇人民政府, 乡人民政府, 街道办事处…).

    Returns
    -------
    (GeoDataFrame, str)
        One point (``name``) in the built-up area's CRS, and how it was found.
    """
    patterns = list(_rules(profile).seat_name_patterns if name_patterns is None else name_patterns)
    crs = _geom.target_crs(builtup, what="built-up area")
    area = _geom.polygon_union(builtup, crs=crs, what="built-up area", drop_empty=True)
    if len(candidates) and "name" in candidates:
        cand = candidates.to_crs(crs)
        pts = cand.geometry.representative_point()
        names = cand["name"].fillna("").astype(str).to_numpy()
        centre = area.representative_point()
        best: tuple[int, float, int] | None = None
        for i, (nm, p) in enumerate(zip(names, pts, strict=True)):
            rank = next((k for k, pat in enumerate(patterns) if pat in nm), None)
            if rank is None:
                continue
            d = float(p.distance(area))
            key = (rank, d, i)
            if d <= 1000.0 and (best is None or key < best):
                best = key
        if best is not None:
            i = best[2]
            geom = pts.iloc[i]
            return _frames.geo_frame({"name": [names[i]]}, [geom], crs), f"named government office {names[i]!r}"
        del centre
    point = area.representative_point()
    return _frames.geo_frame({"name": ["建成区中心"]}, [point], crs), "centre of the built-up area (no 镇政府 found)"


def _seat_costs(network: Network, seat: gpd.GeoDataFrame, weight: str) -> pd.DataFrame:
    """The seat attached to its nearest drive edge however far (a reference point, not a trip's end)."""
    pc = access.point_costs(network, seat, weight=weight, towards=True, max_snap_dist_m=math.inf)  # in any CRS
    if not bool(pc["ok"].iloc[0]):
        raise InputError("the town seat has no location (an empty geometry): give tasks.seat as [lon, lat]")
    far = float(pc["snap_dist_m"].iloc[0])
    if far > network.max_snap_dist_m:
        log.info("the town seat lies %.0f m from the nearest drive road; it is attached there", far)
    return pc


def _seat_zone(network: Network, pc: pd.DataFrame, seat_end_m: float) -> np.ndarray:
    """Nodes within ``seat_end_m`` (any road) of the seat (``pc``: its :func:`_seat_costs` by
    length): the seat end of every path."""
    src = pc[["node_u", "node_v"]].to_numpy().ravel()
    cost = pc[["cost_u", "cost_v"]].to_numpy().ravel()
    zone = access.search(network, src, source_cost=cost, weight="length", limit=max(seat_end_m, 1e-6), towards=True)
    nodes = np.flatnonzero(zone.dist <= seat_end_m + 1e-9)
    if len(nodes) == 0:  # the seat's edge is longer than the allowance: its nearer end
        nodes = np.array([src[int(np.argmin(cost))]])
    return nodes


def _reach_status(
    network: Network, zone: np.ndarray, ok_mask: np.ndarray, maybe_mask: np.ndarray, att: pd.DataFrame, end_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per attached point: its status over passing edges (pass / unknown / fail), and the cost (m)
    to the passing network reaching the zone.

    The passing edges are tried first: a point they reach is *pass* whatever the wider search
    says, so the passing-or-unknown edges are searched only when some attached point is left."""
    out = np.full(len(att), "fail", dtype=object)
    cost_best = np.full(len(att), np.inf)
    left = att["ok"].to_numpy(bool).copy()
    for label, mask in (("pass", ok_mask), ("unknown", maybe_mask)):
        if label == "unknown" and not left.any():
            break
        core = access.search(network, zone, weight="length", edge_mask=mask, towards=True)
        reached = np.flatnonzero(np.isfinite(core.dist))
        near = access.search(network, reached, weight="length", limit=max(end_m, 1e-6), towards=True)
        cost = access.tree_costs(near, att)["cost"].to_numpy()
        hit = cost <= end_m + 1e-9
        out[hit & left] = label
        left &= ~hit
        if label == "pass":
            cost_best = cost
    return out, cost_best


def _weak_status(lines: np.ndarray, points: np.ndarray, ok_mask: np.ndarray, maybe_mask: np.ndarray, dist_m: float) -> np.ndarray:
    """Per point: ``pass`` with a passing line (``ok_mask``) within ``dist_m`` (straight line),
    else ``unknown`` with a passing-or-unknown one (``maybe_mask``), else ``fail``.

    Only the lines an R-tree finds within the distance and a metre of a point can be within it:
    their distances are measured (as a nearest-line search measures them) and the nearest of
    each kind compared with the distance. An empty point is near no line.
    """
    out = np.full(len(points), "fail", dtype=object)
    lim = dist_m + 1e-9
    if len(points) == 0 or len(lines) == 0:
        return out
    pi, li = shapely.STRtree(lines).query(points, predicate="dwithin", distance=lim + 1.0)
    d = shapely.distance(points[pi], lines[li])
    for label, mask in (("unknown", maybe_mask), ("pass", ok_mask)):
        near = np.full(len(points), np.inf)
        m = mask[li]
        np.minimum.at(near, pi[m], d[m])
        out[near <= lim] = label
    return out


def connect(
    network: Network,
    status: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    seat: gpd.GeoDataFrame,
    *,
    village_end_m: float,
    seat_end_m: float,
    weak_dist_m: float,
    attrs: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Each village's connection to the town seat over qualifying roads.

    Parameters
    ----------
    network : Network
        The drive network.
    status : DataFrame
        :func:`edge_status` per edge.
    villages : GeoDataFrame
        Village points (any CRS) with an optional ``name``.
    seat : GeoDataFrame
        The town seat (one point).
    village_end_m, seat_end_m : float
        Road length at the village and at the seat that may be of any kind (metres).
    weak_dist_m : float
        The weak variant: a passing road within this straight-line distance.
    attrs : DataFrame, optional
        :func:`edge_attributes`, for the weakest link's road name and class.

    Returns
    -------
    (DataFrame, GeoDataFrame)
        Per village (index of ``villages``): ``name``, ``status`` (strict: pass / unknown /
        fail), ``weak_status``, ``snap_dist_m``, ``path_km`` (fastest drive path to the seat),
        ``fail_km`` and ``unknown_km`` on it (the end allowances left out), and its weakest
        link: ``weak_link_status``, ``weak_link_road``, ``weak_link_highway``,
        ``weak_link_osm_id``, ``weak_link_reason``, ``weak_link_m``, ``note``; and the non-qualifying
        stretches on the paths of the villages that do not pass (``village`` name, ``status``,
        ``reason``, ``road``, ``length_m``; line geometry in the network's CRS).
    """
    if len(status) != network.n_edges:
        raise InputError("status must hold one row per network edge")
    if len(seat) != 1:
        raise InputError("give exactly one town-seat point")
    for name, val in (("village_end_m", village_end_m), ("seat_end_m", seat_end_m), ("weak_dist_m", weak_dist_m)):
        if not val >= 0:
            raise InputError(f"{name} must be >= 0 metres, got {val}")
    st = status["status"].to_numpy(dtype=object)
    ok_mask = st == "pass"
    maybe_mask = ok_mask | (st == "unknown")
    vil = _in_crs(villages, network.crs)
    names = vil["name"].to_numpy(dtype=object) if "name" in vil else np.full(len(vil), None, dtype=object)
    seat_pc = _seat_costs(network, seat, "length")
    zone = _seat_zone(network, seat_pc, seat_end_m)
    att_len = access.point_costs(network, vil, weight="length", towards=False)
    strict, _ = _reach_status(network, zone, ok_mask, maybe_mask, att_len, village_end_m)
    attached = att_len["ok"].to_numpy()
    strict[~attached] = "unknown"
    # weak: a passing (else unknown) road within weak_dist_m, straight line
    egeo = np.asarray(network.edges.geometry.values, dtype=object)
    vpts = np.asarray(vil.geometry.representative_point().values, dtype=object)
    weak = _weak_status(egeo, vpts, ok_mask, maybe_mask, weak_dist_m)
    # fastest path to the seat and its weakest link
    att_t = access.point_costs(network, vil, weight="time", towards=False)
    seat_t = _seat_costs(network, seat, "time")
    tree_t = access.search(
        network,
        seat_t[["node_u", "node_v"]].to_numpy().ravel(),
        source_cost=seat_t[["cost_u", "cost_v"]].to_numpy().ravel(),
        weight="time",
        towards=True,
    )
    via = access.tree_costs(tree_t, att_t)
    seat_len = seat_pc.iloc[0]
    lengths = network.edges["length_m"].to_numpy(float)
    reasons = status["reason"].to_numpy(dtype=object)
    road_name = attrs["name"].to_numpy(dtype=object) if attrs is not None else np.full(network.n_edges, None, dtype=object)
    road_hw = (
        attrs["highway"].to_numpy(dtype=object)
        if attrs is not None
        else network.edges.get("highway", pd.Series([None] * network.n_edges)).to_numpy(dtype=object)
    )
    osm_ids = (
        network.edges["osm_id"].to_numpy(dtype=object)
        if "osm_id" in network.edges
        else np.full(network.n_edges, None, dtype=object)
    )
    # per village, as arrays: its snap, the node its fastest path leaves from, its edge and the
    # costs to that edge's ends
    snap_m = att_len["snap_dist_m"].to_numpy(float)
    via_node = via["node"].to_numpy()
    node_u = att_len["node_u"].to_numpy()
    cost_u = att_len["cost_u"].to_numpy()
    cost_v = att_len["cost_v"].to_numpy()
    edge_t = att_t["edge"].to_numpy()
    rows = []
    links: list[dict[str, Any]] = []
    for k in range(len(vil)):
        row: dict[str, Any] = {
            "name": names[k],
            "status": strict[k],
            "weak_status": weak[k],
            "snap_dist_m": float(snap_m[k]),
            "path_km": math.nan,
            "fail_km": math.nan,
            "unknown_km": math.nan,
            "weak_link_status": None,
            "weak_link_road": None,
            "weak_link_highway": None,
            "weak_link_osm_id": None,
            "weak_link_reason": None,
            "weak_link_m": math.nan,
            "note": ""
            if attached[k]
            else f"no drivable road within {network.max_snap_dist_m:g} m of the village point: check its location",
        }
        node = int(via_node[k])
        if node >= 0:
            path_nodes = tree_t.path(node)
            inner = tree_t.path_edges(node)
            # the village's own edge counts for the part between the point and the node, the seat's
            # edge for the part between the last node and the seat
            first_len = float(cost_u[k] if node == node_u[k] else cost_v[k])
            end = int(path_nodes[-1])
            last_len = float(seat_len["cost_u"] if end == seat_len["node_u"] else seat_len["cost_v"])
            edges = np.concatenate([[int(edge_t[k])], inner, [int(seat_len["edge"])]])
            seg_len = np.concatenate(
                [
                    [first_len if np.isfinite(first_len) else 0.0],
                    lengths[inner],
                    [last_len if np.isfinite(last_len) else 0.0],
                ]
            )
            total = float(seg_len.sum())
            start = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
            end = start + seg_len
            free = (end <= village_end_m + 1e-9) | (start >= total - seat_end_m - 1e-9)
            est = st[edges]
            row["path_km"] = total / 1000.0
            row["fail_km"] = float(seg_len[(est == "fail") & ~free].sum()) / 1000.0
            row["unknown_km"] = float(seg_len[(est == "unknown") & ~free].sum()) / 1000.0
            if strict[k] != "pass":
                bad = np.flatnonzero((est != "pass") & ~free & (seg_len > 0))
                if len(bad):
                    # stretches: consecutive edges of one way and one status
                    key = [(osm_ids[edges[i]], est[i]) for i in bad]
                    groups: list[list[int]] = []
                    for j, i in enumerate(bad):
                        if groups and key[j] == key[j - 1] and i == groups[-1][-1] + 1:
                            groups[-1].append(int(i))
                        else:
                            groups.append([int(i)])
                    glen = [float(seg_len[g].sum()) for g in groups]
                    worst = max(range(len(groups)), key=lambda g: (_RANK[est[groups[g][0]]], glen[g]))
                    e0 = edges[groups[worst][0]]
                    row.update(
                        {
                            "weak_link_status": est[groups[worst][0]],
                            "weak_link_road": road_name[e0] if isinstance(road_name[e0], str) else None,
                            "weak_link_highway": road_hw[e0],
                            "weak_link_osm_id": osm_ids[e0],
                            "weak_link_reason": reasons[e0],
                            "weak_link_m": glen[worst],
                        }
                    )
                    for g, gl in zip(groups, glen, strict=True):
                        e_g = edges[g]
                        links.append(
                            {
                                "village": names[k],
                                "status": est[g[0]],
                                "reason": reasons[e_g[0]],
                                "road": road_name[e_g[0]] if isinstance(road_name[e_g[0]], str) else None,
                                "highway": road_hw[e_g[0]],
                                "osm_id": osm_ids[e_g[0]],
                                "length_m": gl,
                                "geometry": shapely.line_merge(shapely.union_all(egeo[e_g])),
                            }
                        )
        rows.append(row)
    table = pd.DataFrame(rows, index=vil.index)
    link_cols = ["village", "status", "reason", "road", "highway", "osm_id", "length_m"]
    link_layer = (
        gpd.GeoDataFrame(pd.DataFrame(links), geometry="geometry", crs=network.crs)
        if links
        else _frames.geo_frame({c: [] for c in link_cols}, [], network.crs)
    )
    return table, link_layer


def seat_reaches_trunk(
    network: Network,
    status: pd.DataFrame,
    seat: gpd.GeoDataFrame,
    ref_class: Sequence[Any] | np.ndarray,
    *,
    trunk_classes: Sequence[str] = ("G", "S"),
    seat_end_m: float = 500.0,
) -> tuple[str, str]:
    """Whether the town seat reaches a national or provincial road (国道/省道) on qualifying roads.

    Parameters
    ----------
    network : Network
        The drive network.
    status : DataFrame
        :func:`edge_status` of the grade-3 test per edge.
    seat : GeoDataFrame
        The town seat (one point).
    ref_class : sequence
        Per edge, the letter of its road number (G, S, X, Y, C; None when none).
    trunk_classes : sequence of str
        The letters of the trunk network (default G 国道, S 省道).
    seat_end_m : float
        Road length at the seat that may be of any kind.

    Returns
    -------
    (str, str)
        ``pass`` / ``unknown`` / ``fail`` and a sentence saying why.
    """
    refs = np.asarray(ref_class, dtype=object)
    if len(refs) != network.n_edges or len(status) != network.n_edges:
        raise InputError("ref_class and status must hold one value per network edge")
    trunk = np.isin(refs, list(trunk_classes))
    if not trunk.any():
        return "unknown", f"no road numbered {'/'.join(trunk_classes)}… (国道/省道) in the network's reach"
    e = network.edges
    trunk_nodes = np.unique(np.concatenate([e["u"].to_numpy()[trunk], e["v"].to_numpy()[trunk]]))
    seat_pc = _seat_costs(network, seat, "length")
    zone = _seat_zone(network, seat_pc, seat_end_m)
    st = status["status"].to_numpy(dtype=object)
    for label, mask in (("pass", st == "pass"), ("unknown", (st == "pass") | (st == "unknown"))):
        tree = access.search(network, trunk_nodes, weight="length", edge_mask=mask | trunk, towards=False)
        if np.isfinite(tree.dist[zone]).any():
            d = float(np.min(tree.dist[zone]))
            if label == "pass":
                return "pass", f"reaches a 国道/省道 over {d / 1000:.1f} km of grade-3 roads"
            return "unknown", f"reaches a 国道/省道 only over roads whose grade is not tagged ({d / 1000:.1f} km)"
    return "fail", "no path to a 国道/省道 without a road below grade 3"


@dataclass
class VillageRoads:
    """Village road connectivity of a town.

    Attributes
    ----------
    villages : DataFrame
        Per village (see :func:`connect`).
    n_villages, n_pass, n_unknown, n_fail : int
        Strict statuses.
    rate, weak_rate : float or None
        Share of villages passing, strict and weak (None without villages).
    seat_name, seat_how : str
    mountain : bool or None
        The town lies in a mountain county (None: the county is not known).
    grade3 : str or None
        The mountain rule's status (None when it does not apply), and ``grade3_why``.
    layers : dict of GeoDataFrame
        ``village_roads`` (village points with their statuses), ``village_road_links`` (the
        non-qualifying stretches on the paths of villages that do not pass), ``road_status``
        (every road of the drive network with its two-lane status and reason), ``town_seat``.
    notes : list of str
    """

    villages: pd.DataFrame
    n_villages: int
    n_pass: int
    n_unknown: int
    n_fail: int
    rate: float | None
    weak_rate: float | None
    seat_name: str
    seat_how: str
    mountain: bool | None
    grade3: str | None
    grade3_why: str
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The headline figures as a one-row DataFrame (notes joined by ``"; "``); one row per village is :attr:`villages`."""
        return _frames.one_row(self)


def _road_status_layer(network: Network, status: pd.DataFrame, attrs: pd.DataFrame) -> gpd.GeoDataFrame:
    """The drive network's roads with their two-lane status: one line per way, status and reason."""
    edges = network.edges
    ids = edges["osm_id"] if "osm_id" in edges else pd.Series(np.arange(network.n_edges), index=edges.index)
    osm = ids.fillna(-1).to_numpy()
    st = status["status"].to_numpy()
    why = status["reason"].to_numpy()
    # one line per way, status and reason (numbered in order of first appearance, as a groupby
    # without sorting numbers them; an edge with a missing status or reason is in none): its
    # edges unioned in order, merged
    c_osm, _ = pd.factorize(osm)
    c_st, u_st = pd.factorize(st)
    c_why, u_why = pd.factorize(why)
    held = (c_st >= 0) & (c_why >= 0)
    n_osm = int(c_osm.max()) + 1 if len(c_osm) else 0
    combined = (c_osm[held].astype(np.int64) * len(u_st) + c_st[held]) * len(u_why) + c_why[held]
    number, _ = pd.factorize(combined)
    pos = np.flatnonzero(held)
    first = np.zeros(int(number.max()) + 1 if len(number) else 0, dtype=np.intp)
    first[number[::-1]] = pos[::-1]  # each group's first edge
    geoms = _geom.merged_pieces_by_group(np.asarray(edges.geometry.values, dtype=object)[held], number, len(first))
    # each way's name and class: those of its first edge
    way_first = np.zeros(n_osm, dtype=np.intp)
    way_first[c_osm[::-1]] = np.arange(len(c_osm))[::-1]
    at = way_first[c_osm[first]]
    return _frames.geo_frame(
        {
            "osm_id": osm[first],
            "name": attrs["name"].to_numpy(dtype=object)[at],
            "highway": attrs["highway"].to_numpy(dtype=object)[at],
            "status": st[first],
            "reason": why[first],
            "length_m": shapely.length(geoms),
        },
        geoms,
        network.crs,
    )


def is_mountain(county: str | None, *, profile: Profile | str | Path | None = None) -> bool | None:
    """Whether a county (name, e.g. 淳安县 or 淳安) is one of the profile's mountain counties (None: not given)."""
    if county is None or not str(county).strip():
        return None
    names = _rules(profile).mountain_counties.names
    c = str(county).strip()
    return any(n and (c == n or c.startswith(n)) for n in names)


def assess(
    network: Network,
    roads: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    seat: gpd.GeoDataFrame,
    *,
    county: str | None = None,
    seat_how: str = "",
    profile: Profile | str | Path | None = None,
) -> VillageRoads:
    """Village road connectivity: two-lane reach of every village, and the mountain-county rule.

    Parameters
    ----------
    network : Network
        The drive network (edges with ``osm_id``).
    roads : DataFrame
        Road attributes per way (:func:`mtown_geo.sources.osm.road_attributes`).
    villages : GeoDataFrame
        Village points (any CRS) with ``name``.
    seat : GeoDataFrame
        The town seat (one point; see :func:`town_seat`).
    county : str, optional
        The town's county, for the mountain-county rule (the profile's list).
    profile : Profile, str or path, optional
        Supplies ``tasks.village_roads`` (default ``zhejiang-2023``).

    Returns
    -------
    VillageRoads
    """
    rules = _rules(profile)
    attrs = edge_attributes(network, roads)
    mountain = is_mountain(county, profile=profile)
    two = _status_by_way(network, attrs, rules.two_lane, mountain=bool(mountain))
    notes: list[str] = []
    seat_m = _in_crs(seat, network.crs)
    if len(villages):
        table, links = connect(
            network,
            two,
            villages,
            seat_m,
            village_end_m=rules.village_end_m,
            seat_end_m=rules.seat_end_m,
            weak_dist_m=rules.weak_dist_m,
            attrs=attrs,
        )
    else:
        table = pd.DataFrame(columns=["name", "status", "weak_status"])
        links = _frames.geo_frame({"village": [], "status": [], "reason": []}, [], network.crs)
        notes.append("no village in the town (give `villages:`): village road connectivity is not computed")
    counts = table["status"].value_counts() if len(table) else pd.Series(dtype=int)
    n = len(table)
    grade3: str | None = None
    why = ""
    if mountain is None:
        why = "the town's county is not given (tasks.county): the mountain-county rule is not applied"
    elif not mountain:
        why = f"{county} is not in the profile's mountain-county list: the rule does not apply"
    else:
        g3 = _status_by_way(network, attrs, rules.grade3, mountain=True)
        grade3, why = seat_reaches_trunk(
            network,
            g3,
            seat_m,
            attrs["ref_class"].to_numpy(dtype=object),
            trunk_classes=rules.trunk_ref_classes,
            seat_end_m=rules.seat_end_m,
        )
    vil = _in_crs(villages, network.crs)
    points = _frames.geo_frame(table, vil.geometry.representative_point().to_numpy(), network.crs) if n else None
    layers: dict[str, gpd.GeoDataFrame] = {
        "village_road_links": links,
        "town_seat": seat_m.reset_index(drop=True),
        "road_status": _road_status_layer(network, two, attrs),
    }
    if points is not None:
        layers["village_roads"] = points.reset_index(drop=True)
    return VillageRoads(
        villages=table,
        n_villages=n,
        n_pass=int(counts.get("pass", 0)),
        n_unknown=int(counts.get("unknown", 0)),
        n_fail=int(counts.get("fail", 0)),
        rate=float((table["status"] == "pass").mean()) if n else None,
        weak_rate=float((table["weak_status"] == "pass").mean()) if n else None,
        seat_name=str(seat_m["name"].iloc[0]) if "name" in seat_m else "",
        seat_how=seat_how,
        mountain=mountain,
        grade3=grade3,
        grade3_why=why,
        layers=layers,
        notes=notes,
    )
