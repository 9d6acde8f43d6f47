"""Travel networks of a mode (walk, bike, drive...) built from OSM files or graphs.

A :class:`Network` holds the nodes and edges of one travel mode as GeoDataFrames in a
projected metric CRS, and the sparse matrix of edge travel times (minutes) that the
engine (:mod:`mtown_geo.access`) searches. :func:`from_osm` builds it from the reader's
arrays: the nodes' Points and the edges' LineStrings are made on first use of
``Network.nodes`` / ``Network.edges`` (a layer written, drawn or attached to), never for a
search. Edges are the straight segments between
consecutive OSM vertices (the network is not simplified), so attaching a point to
the nearest edge is exact and every bend of a street is kept.

Examples
--------
>>> import mtown_geo as mg
>>> net = mg.network.from_osm(mg.demo_osm_path(), mode="walk")  # doctest: +SKIP
>>> net  # doctest: +SKIP
Network(mode='walk', 4,466 nodes, 4,631 edges, 103.9 km, EPSG:3067...)
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Container, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from . import _geom
from . import crs as _crs
from ._errors import CRSError, DataNotFoundError, DisconnectedNetworkWarning, InputError, NetworkError, OfflineError
from ._graph import Network, _merge_parallel
from ._lines import LineNetwork, RepairReport, lines_to_network
from .sources.osm import OSMExtract, _first_of, _to_metric, _vertex_key, is_osm_file, read_osm
from .standards import Profile, resolve

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["LineNetwork", "Network", "RepairReport", "from_graph", "from_lines", "from_osm", "mode_way_mask", "way_speeds_kmh"]

log = logging.getLogger(__name__)

_ONEWAY_FORWARD = {"yes", "true", "1"}
_ONEWAY_BACKWARD = {"-1", "reverse"}
#: The columns of an extract's ways a network is made of (its vertices, :func:`way_speeds_kmh`,
#: :func:`_oneway_flags` and the edges' attributes): the only ones taken of the ways kept.
_NETWORK_WAY_COLUMNS = frozenset({"start", "stop", "highway", "name", "osm_id", "maxspeed", "oneway", "junction"})


# -- OSM ways → networks ---------------------------------------------------------------


def mode_way_mask(ways: pd.DataFrame, profile: Profile, mode: str) -> np.ndarray:
    """Which highway ways of an :class:`~mtown_geo.sources.OSMExtract` the mode may use.

    Applies the profile's network filter (osmnx-style): a way is dropped when its
    ``highway`` value is excluded or one of its tags has an excluded value, unless an
    ``include_tags`` tag explicitly allows the mode (e.g. a cycleway with ``foot=yes``
    for walking).
    """
    return _way_mask(lambda key, values: ways[key].isin(values).to_numpy(), ways.columns, len(ways), profile, mode)


def _way_mask(
    isin: Callable[[str, Sequence[str]], np.ndarray], columns: Container[str], n: int, profile: Profile, mode: str
) -> np.ndarray:
    """:func:`mode_way_mask` of n ways with these columns, ``isin(key, values)`` telling which
    ways' ``key`` is one of ``values``."""
    flt = profile.networks[profile.mode(mode).network]
    keep = ~isin("highway", flt.exclude_highway)
    excluded = {key: isin(key, values) for key, values in flt.exclude_tags.items() if key in columns}
    for hit in excluded.values():
        keep &= ~hit
    allowed = np.zeros(n, dtype=bool)
    for key, values in flt.include_tags.items():
        if key in columns:
            allowed |= isin(key, values)
    # an explicit permission overrides a highway-class exclusion, never a private/area one
    hard = np.zeros(n, dtype=bool)
    for key in ("area", "access"):
        if key in excluded:
            hard |= excluded[key]
    return np.asarray(keep | (allowed & ~hard), dtype=bool)


_MAXSPEED_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)


def _maxspeeds_kmh(column: pd.Series) -> np.ndarray:
    return column.map(_parse_maxspeed).to_numpy(dtype=float)


def _parse_maxspeed(value: Any) -> float:
    """Parse an OSM ``maxspeed`` value to km/h (NaN when not a number: 'signals', 'CN:urban'...)."""
    if not isinstance(value, str):
        return math.nan
    first = value.split(";")[0]
    m = _MAXSPEED_RE.match(first)
    if not m:
        return math.nan
    speed = float(m.group(1))
    if (m.group(2) or "").lower() == "mph":
        speed *= 1.609344
    return speed if speed > 0 else math.nan


def way_speeds_kmh(ways: pd.DataFrame, profile: Profile, mode: str, *, group: str | None = None) -> np.ndarray:
    """Travel speed (km/h) of each way for a mode: the road-class table and ``maxspeed``
    for modes that use them (drive), else the mode's (or the speed group's) flat speed."""
    spec = profile.mode(mode)
    base = profile.speed_kmh(mode, group)
    speeds = np.full(len(ways), base, dtype=float)
    if spec.speed_by_highway_kmh:
        by_class = ways["highway"].map(spec.speed_by_highway_kmh).to_numpy(dtype=float)
        speeds = np.where(np.isnan(by_class), speeds, by_class)
    if spec.use_maxspeed and "maxspeed" in ways:
        posted = _per_text(ways["maxspeed"], _parse_maxspeed, math.nan, float, _maxspeeds_kmh) * spec.maxspeed_factor
        speeds = np.where(np.isnan(posted), speeds, posted)
    return speeds


def _per_text(
    column: pd.Series, fn: Callable[[str], Any], missing: Any, dtype: Any, plain: Callable[[pd.Series], np.ndarray]
) -> np.ndarray:
    """``plain(column)`` for a column of text and missing values, made once per distinct text:
    ``fn`` of each text, ``missing`` where the value is missing, as an array of ``dtype``. A
    column holding other values goes through ``plain``."""
    codes, uniq = pd.factorize(column.to_numpy(dtype=object))  # missing values: code -1
    if not all(type(u) is str for u in uniq):
        return plain(column)
    return np.array([*(fn(u) for u in uniq), missing], dtype=dtype)[codes]


def _ground_length_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Length on the WGS 84 ellipsoid of short segments (m).

    Uses the meridional and prime-vertical radii of curvature at each segment's middle
    latitude: for segments of a few kilometres it agrees with the geodesic to well under
    a millimetre per kilometre, at numpy speed.
    """
    a = 6378137.0
    e2 = 6.69437999014e-3
    phi = np.radians((lat1 + lat2) / 2.0)
    w = np.sqrt(1.0 - e2 * np.sin(phi) ** 2)
    n_rad = a / w
    m_rad = a * (1.0 - e2) / w**3
    dphi = np.radians(lat2 - lat1)
    dlmb = np.radians(lon2 - lon1)
    return np.hypot(m_rad * dphi, n_rad * np.cos(phi) * dlmb)


#: The last few buffered boundaries, by a digest of the boundary, the CRS and the buffer: the
#: networks of one town (walk, e-bike, drive) are clipped by the same polygon, buffered once.
_BOUNDARY_CACHE: dict[tuple[str, str, float], shapely.Geometry] = {}
_BOUNDARY_CACHE_SIZE = 4


def _boundary_polygon(boundary: Any, target_crs: CRS, buffer_m: float) -> shapely.Geometry:
    """The boundary (GeoDataFrame, GeoSeries or shapely geometry in EPSG:4326) buffered, in target_crs.

    The same boundary, CRS and buffer give the polygon computed last time (the last few kept).
    """
    digest = _boundary_digest(boundary)
    if digest is None:
        return _buffered_boundary(boundary, target_crs, buffer_m)
    key = (digest, CRS.from_user_input(target_crs).to_wkt(), float(buffer_m))
    hit = _BOUNDARY_CACHE.get(key)
    if hit is None:
        hit = _buffered_boundary(boundary, target_crs, buffer_m)
        _BOUNDARY_CACHE[key] = hit
        while len(_BOUNDARY_CACHE) > _BOUNDARY_CACHE_SIZE:
            _BOUNDARY_CACHE.pop(next(iter(_BOUNDARY_CACHE)))
    return hit


def _boundary_digest(boundary: Any) -> str | None:
    """A digest of a boundary's geometries and CRS (None when it is not a valid boundary: no cache)."""
    if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return None if boundary.empty else _geom.layer_digest(boundary)
    if isinstance(boundary, shapely.Geometry):
        return _geom.digest(np.array([boundary], dtype=object), crs="EPSG:4326")
    return None


def _buffered_boundary(boundary: Any, target_crs: CRS, buffer_m: float) -> shapely.Geometry:
    if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if boundary.empty:
            raise InputError("the boundary layer is empty")
        _crs.require_crs(boundary, what="boundary")
        geom = (
            boundary.to_crs(target_crs).geometry.union_all()
            if isinstance(boundary, gpd.GeoDataFrame)
            else boundary.to_crs(target_crs).union_all()
        )
    elif isinstance(boundary, shapely.Geometry):
        geom = gpd.GeoSeries([boundary], crs=4326).to_crs(target_crs).iloc[0]
    else:
        raise InputError("boundary must be a GeoDataFrame, a GeoSeries or a shapely geometry in EPSG:4326")
    if geom is None or geom.is_empty:
        raise InputError("the boundary has no area")
    geom = shapely.make_valid(geom)
    if geom.area <= 0:
        raise InputError("the boundary has no area: give polygons, not points or lines")
    return _geom.buffered(geom, buffer_m) if buffer_m > 0 else geom


#: The way columns copied to a network's edges.
_EDGE_WAY_COLUMNS = ("highway", "name", "osm_id")
#: Key of an extract's :attr:`~mtown_geo.sources.OSMExtract.cache` entry with its ways as networks read them.
_WAY_TABLE_KEY = "network.ways"
#: Take a mode's ways from the extract's network columns, cut once for all modes, and its edges'
#: text from the extract's text columns (False: each network cuts and infers its own).
_WAY_TABLE = True


class _WayTable:
    """An extract's ways as its networks read them, kept for every mode's network: the columns
    of :data:`_NETWORK_WAY_COLUMNS`, and the text columns as pandas infers them over all ways."""

    def __init__(self, ways: pd.DataFrame) -> None:
        self.all = ways
        self.ways = ways[[c for c in ways.columns if c in _NETWORK_WAY_COLUMNS]]
        self._text: dict[str, tuple[Any, np.ndarray] | None] = {}
        self._codes: dict[str, tuple[np.ndarray, Any, bool]] = {}

    def isin(self, key: str, values: Sequence[str]) -> np.ndarray:
        """``ways[key].isin(values)`` as an array, answered once per distinct value of the column
        (its codes made once): the same membership of text in text, missing values in none."""
        hit = self._codes.get(key)
        if hit is None:
            codes, uniques = pd.factorize(self.all[key].to_numpy())  # missing values: code -1
            hit = self._codes[key] = (codes, uniques, all(type(u) is str for u in uniques))
        codes, uniques, text = hit
        if not (text and all(type(v) is str for v in values)):
            return self.all[key].isin(values).to_numpy()
        wanted = set(values)
        member = np.fromiter((u in wanted for u in uniques), dtype=bool, count=len(uniques))
        return np.append(member, False)[codes]

    def text(self, column: str) -> tuple[Any, np.ndarray] | None:
        """The column as a pandas string array and where it holds a value; None unless pandas
        infers the column's values as text."""
        if column not in self._text:
            values = self.ways[column].to_numpy()
            col = pd.Series(values, copy=False)
            text = values.dtype == object and isinstance(col.dtype, pd.StringDtype)
            self._text[column] = (col.array, col.notna().to_numpy()) if text else None
        return self._text[column]


def _way_table(extract: OSMExtract) -> _WayTable:
    """The extract's :class:`_WayTable` (made once, kept in its cache)."""
    hit = extract.cache.get(_WAY_TABLE_KEY)
    if hit is None:
        hit = extract.cache[_WAY_TABLE_KEY] = _WayTable(extract.ways)
    return hit


#: Number a mode's vertices with the extract's distinct vertices, projected and clipped once
#: for all modes (False: each network numbers, projects and clips its own).
_SHARED_VERTICES = True


def _network_from_segments(
    lon: np.ndarray,
    lat: np.ndarray,
    seg_a: np.ndarray,
    seg_b: np.ndarray,
    seg_way: np.ndarray,
    way_attrs: dict[str, np.ndarray],
    way_speed_kmh: np.ndarray,
    way_oneway: np.ndarray,
    *,
    target_crs: CRS,
    mode: str,
    base_speed_kmh: float,
    access_speed_kmh: float,
    profile_name: str,
    source: str,
    clip: shapely.Geometry | None,
    max_snap_dist_m: float = 300.0,
    xy: tuple[np.ndarray, np.ndarray] | None = None,
    inside: np.ndarray | None = None,
    way_text: dict[str, tuple[Any, np.ndarray, np.ndarray]] | None = None,
) -> Network:
    """Assemble a Network from vertex coordinates (lon/lat) and segments between vertex indices.

    ``seg_way`` is the way of each segment: ``way_attrs`` (columns copied to the edges),
    ``way_speed_kmh`` and ``way_oneway`` are per way. Nothing is made per segment but arrays.
    ``xy`` (the vertices in ``target_crs``) and ``inside`` (which vertices lie in ``clip``)
    are computed here unless given; vertices no segment uses are left out of the network.
    ``way_text`` holds the text columns of ``way_attrs`` over all of the extract's ways (see
    :func:`_edge_column`).
    """
    if xy is None:
        xy = _to_metric(lon, lat, target_crs)
    x, y = xy
    keep = seg_a != seg_b
    if clip is not None:
        if inside is None:
            inside = shapely.contains_xy(clip, x, y)
        keep &= inside[seg_a] & inside[seg_b]
    sel = np.flatnonzero(keep)
    if len(sel) == 0:
        raise NetworkError(
            f"no {mode} network inside the area: the file has no ways this mode may use there"
            + (" (check the boundary overlaps the OSM extract)" if clip is not None else "")
        )
    seg_a, seg_b, seg_way = seg_a[sel], seg_b[sel], seg_way[sel]
    # the vertices used, in vertex order, numbered 0..n-1 (a mask and a running count: no sort)
    is_used = np.zeros(len(lon), dtype=bool)
    is_used[seg_a] = True
    is_used[seg_b] = True
    used = np.flatnonzero(is_used)
    number = np.cumsum(is_used) - 1
    u = number[seg_a]
    v = number[seg_b]
    nx_, ny_ = x[used], y[used]
    length = _ground_length_m(lon[seg_a], lat[seg_a], lon[seg_b], lat[seg_b])
    time = length / (way_speed_kmh[seg_way] * 1000.0 / 60.0)
    u, v, length, time, time_rev, first = _merge_parallel(u, v, length, time, way_oneway[seg_way], len(used))
    edge_way = seg_way[first]
    # plain tables: the Network makes the Points and straight LineStrings only when a layer is used
    nodes = pd.DataFrame({"x": nx_, "y": ny_, "lon": lon[used], "lat": lat[used]})
    edges = pd.DataFrame(
        {
            "u": u.astype(np.int64),
            "v": v.astype(np.int64),
            "length_m": length,
            "speed_kmh": way_speed_kmh[edge_way],
            "time_min": time,
            "time_rev_min": time_rev,
            "oneway": np.isinf(time_rev),
            **{c: _edge_column(values, edge_way, (way_text or {}).get(c)) for c, values in way_attrs.items()},
        }
    )
    net = Network(
        nodes,
        edges,
        mode=mode,
        speed_kmh=base_speed_kmh,
        access_speed_kmh=access_speed_kmh,
        profile=profile_name,
        source=source,
        max_snap_dist_m=max_snap_dist_m,
        straight=True,
        crs=target_crs,
    )
    _report_components(net)
    return net


#: Make text columns of the edges pandas text once per way, then take them per edge (False:
#: let the edge table infer them from the edges' values).
_WAY_LEVEL_TEXT = True


def _edge_column(values: np.ndarray, edge_way: np.ndarray, whole: tuple[Any, np.ndarray, np.ndarray] | None = None) -> Any:
    """A way attribute spread over the edges: ``values[edge_way]``, text made a pandas string
    array once per way (the dtype and values the edge table would infer from the edges' own).

    ``whole`` is the column over all of the extract's ways when it is text (its string array,
    where it holds a value, and the extract's row of each way): a part of a text column is
    text too, so the edges take their values from it.
    """
    if _WAY_LEVEL_TEXT and values.dtype == object:
        if whole is not None:
            text, present, rows = whole
            at = rows[edge_way]
            return text.take(at) if present[at].any() else values[edge_way]
        col = pd.Series(values, copy=False)
        # the edges' values infer as text too unless all of them are missing
        if isinstance(col.dtype, pd.StringDtype) and col.notna().to_numpy()[edge_way].any():
            return col.array.take(edge_way)
    return values[edge_way]


def _report_components(net: Network) -> None:
    n = net.n_components
    if n <= 1:
        return
    # the lengths of Network.components(), without making its table
    edges = net.edge_table
    length_km = np.bincount(net.component[edges["u"].to_numpy()], weights=edges["length_m"].to_numpy(), minlength=n) / 1000.0
    rest_km = float(length_km[1:].sum())
    share = rest_km / max(net.length_km, 1e-9)
    msg = (
        f"the {net.mode} network has {n} disconnected pieces: the largest holds "
        f"{length_km[0]:.1f} km, the {n - 1} others {rest_km:.2f} km "
        f"({share:.1%}). Points attached to a small piece reach only what lies on it; see "
        "Network.components() and Network.component"
    )
    if share > 0.05:
        warnings.warn(msg, DisconnectedNetworkWarning, stacklevel=3)
    else:
        log.info(msg)


def _oneway_flags(ways: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(one-way, reversed) flags per way from ``oneway`` and ``junction`` tags."""
    ow = _per_text(ways["oneway"], str.lower, "", object, lambda c: c.fillna("").astype(str).str.lower().to_numpy())
    junction = _per_text(ways["junction"], str, "", object, lambda c: c.fillna("").astype(str).to_numpy())
    forward = np.isin(ow, list(_ONEWAY_FORWARD)) | (np.isin(junction, ["roundabout", "circular"]) & (ow != "no"))
    backward = np.isin(ow, list(_ONEWAY_BACKWARD))
    return forward | backward, backward


def _from_extract(
    extract: OSMExtract,
    *,
    mode: str,
    profile: Profile,
    group: str | None,
    boundary: Any,
    buffer_m: float,
    crs: Any,
    source: str,
) -> Network:
    if mode not in profile.modes:
        raise NetworkError(f"unknown mode {mode!r}; the profile {profile.name!r} has the modes {sorted(profile.modes)}")
    ways = extract.ways
    if len(ways) == 0:
        raise NetworkError(f"{source}: the OSM data has no highway ways")
    table = _way_table(extract) if _WAY_TABLE else None
    mask = (
        _way_mask(table.isin, ways.columns, len(ways), profile, mode) if table is not None else mode_way_mask(ways, profile, mode)
    )
    if not mask.any():
        raise NetworkError(f"{source}: no way may be used by the mode {mode!r}")
    if table is not None:
        rows = np.flatnonzero(mask)
        ways = table.ways.take(rows)
        way_text = {c: (*t, rows) for c in _EDGE_WAY_COLUMNS if (t := table.text(c)) is not None}
    else:
        ways = ways.loc[mask, [c for c in ways.columns if c in _NETWORK_WAY_COLUMNS]]
        way_text = {}
    spec = profile.mode(mode)
    directed = profile.networks[spec.network].oneway
    speeds = way_speeds_kmh(ways, profile, mode, group=group)
    if directed:
        oneway, backward = _oneway_flags(ways)
    else:
        oneway = np.zeros(len(ways), dtype=bool)
        backward = oneway
    start = ways["start"].to_numpy()
    stop = ways["stop"].to_numpy()
    n_pts = stop - start
    # vertex positions of the kept ways, then segments between consecutive vertices
    vidx = np.repeat(start - np.concatenate([[0], np.cumsum(n_pts)[:-1]]), n_pts) + np.arange(int(n_pts.sum()))
    shared = extract._distinct_vertices() if _SHARED_VERTICES else None
    if shared is not None:
        vid = shared.vid[vidx]
        lon_u, lat_u = shared.lon, shared.lat
        coords = extract.coords[vidx]
        lon_lo, lon_hi, lat_lo, lat_hi = coords[:, 0].min(), coords[:, 0].max(), coords[:, 1].min(), coords[:, 1].max()
    else:
        coords = extract.coords[vidx]
        uniq, vid = np.unique(_vertex_key(coords), return_inverse=True)
        first = _first_of(vid, len(uniq))
        lon_u, lat_u = coords[first, 0], coords[first, 1]
        lon_lo, lon_hi, lat_lo, lat_hi = lon_u.min(), lon_u.max(), lat_u.min(), lat_u.max()
    way_of_vertex = np.repeat(np.arange(len(ways)), n_pts)
    seg_first = np.ones(len(vid), dtype=bool)
    seg_first[np.cumsum(n_pts)[:-1]] = False  # a vertex that starts a way has no segment before it
    seg_first[0] = False
    b_pos = np.flatnonzero(seg_first)
    a_pos = b_pos - 1
    seg_way = way_of_vertex[b_pos]
    seg_a, seg_b = vid[a_pos], vid[b_pos]
    rev = backward[seg_way]
    seg_a, seg_b = np.where(rev, seg_b, seg_a), np.where(rev, seg_a, seg_b)
    way_attrs = {c: ways[c].to_numpy() for c in _EDGE_WAY_COLUMNS}
    if crs is None:
        _west, _south, _east, _north = extract.bounds
        if boundary is not None:
            bgeo = boundary if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)) else gpd.GeoSeries([boundary], crs=4326)
            target = _crs.metric_crs(bgeo)
        else:
            target = _crs.metric_crs((float(lon_lo), float(lat_lo), float(lon_hi), float(lat_hi)))
    else:
        target = _crs.require_projected(crs, what="target CRS")
    clip = _boundary_polygon(boundary, target, buffer_m) if boundary is not None else None
    xy = inside = None
    if shared is not None:
        crs_key, xy = shared.xy(target)
        inside = shared.inside(crs_key, xy, clip) if clip is not None else None
    return _network_from_segments(
        lon_u,
        lat_u,
        seg_a,
        seg_b,
        seg_way,
        way_attrs,
        np.asarray(speeds, dtype=float),
        np.asarray(oneway, dtype=bool),
        target_crs=target,
        mode=mode,
        base_speed_kmh=profile.speed_kmh(mode, group),
        access_speed_kmh=profile.access_speed_kmh,
        profile_name=profile.name,
        source=source,
        clip=clip,
        max_snap_dist_m=profile.max_snap_dist_m,
        xy=xy,
        inside=inside,
        way_text=way_text,
    )


def from_osm(
    source: str | os.PathLike[str] | OSMExtract | shapely.Geometry,
    *,
    mode: str = "walk",
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    buffer_m: float = 1000.0,
    profile: Profile | str | Path | None = None,
    group: str | None = None,
    crs: Any = None,
) -> Network:
    """Build the network of a travel mode from OpenStreetMap.

    Parameters
    ----------
    source : path, OSMExtract, place name or polygon
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file (read offline with pyosmium), an
        extract already read with :func:`mtown_geo.sources.read_osm`, or — online, through
        osmnx — a place name (``"东门街道, 贵溪市"``) or a shapely polygon in EPSG:4326.
    mode : str, optional
        A mode of the profile: ``"walk"`` (default), ``"bike"``, ``"ebike"``, ``"drive"``,
        ``"bus"``. One-way rules apply only to modes on the drive network.
    boundary : GeoDataFrame, GeoSeries or shapely geometry, optional
        The study area (a geometry without CRS is taken as EPSG:4326). The network is
        clipped to it plus ``buffer_m``, so facilities just outside still serve it.
    buffer_m : float, optional
        Buffer around the boundary, metres (default 1000).
    profile : Profile, str or path, optional
        Standard profile with the mode filters and speeds (default ``zhejiang-2023``).
    group : str, optional
        A speed group of the mode (e.g. ``"elderly"`` for walking).
    crs : optional
        Projected CRS of the result; by default :func:`mtown_geo.crs.metric_crs` of the
        area (CGCS2000 Gauss–Krüger in China, UTM elsewhere).

    Returns
    -------
    Network

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    NetworkError
        Unknown mode, or no usable way in the area.
    OfflineError
        A place name or polygon was given and OSM cannot be reached.
    """
    prof = resolve(profile)
    if mode not in prof.modes:
        raise NetworkError(f"unknown mode {mode!r}; the profile {prof.name!r} has the modes {sorted(prof.modes)}")
    if buffer_m < 0:
        raise InputError(f"buffer_m must be >= 0, got {buffer_m}")
    if isinstance(source, OSMExtract):
        return _from_extract(
            source,
            mode=mode,
            profile=prof,
            group=group,
            boundary=boundary,
            buffer_m=buffer_m,
            crs=crs,
            source=str(source.path or "<extract>"),
        )
    if isinstance(source, shapely.Geometry):
        return _from_osmnx(
            lambda ox, nt: ox.graph_from_polygon(source, network_type=nt, simplify=False, retain_all=True),
            mode=mode,
            profile=prof,
            group=group,
            crs=crs,
            label="polygon",
        )
    path = Path(source)
    if path.exists() or is_osm_file(path):
        if not path.exists():
            raise DataNotFoundError(f"OSM file {path} does not exist")
        extract = read_osm(path)
        return _from_extract(
            extract, mode=mode, profile=prof, group=group, boundary=boundary, buffer_m=buffer_m, crs=crs, source=str(path)
        )
    place = str(source)
    return _from_osmnx(
        lambda ox, nt: ox.graph_from_place(place, network_type=nt, simplify=False, retain_all=True),
        mode=mode,
        profile=prof,
        group=group,
        crs=crs,
        label=repr(place),
    )


_OSMNX_TYPES = {"walk": "walk", "bike": "bike", "drive": "drive"}


def _from_osmnx(
    fetch: Callable[[Any, str], Any], *, mode: str, profile: Profile, group: str | None, crs: Any, label: str
) -> Network:
    import osmnx as ox
    import requests

    network_type = _OSMNX_TYPES[profile.mode(mode).network]
    try:
        graph = fetch(ox, network_type)
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise OfflineError(
            f"cannot download OSM data for {label}: OpenStreetMap (Overpass) is not reachable "
            f"({type(exc).__name__}). Work offline with an .osm.pbf extract instead, e.g. from "
            "download.geofabrik.de"
        ) from None
    return from_graph(graph, mode=mode, profile=profile, group=group, crs=crs)


# -- networkx graphs → networks --------------------------------------------------------


def from_graph(
    graph: nx.Graph,
    *,
    mode: str = "walk",
    profile: Profile | str | Path | None = None,
    group: str | None = None,
    crs: Any = None,
    length_attr: str = "length",
) -> Network:
    """Build a :class:`Network` from any osmnx / networkx graph.

    Parameters
    ----------
    graph : networkx graph
        Nodes with ``x`` and ``y``; edges with a length in metres (``length``) and
        optionally ``geometry`` (shapely LineString in the graph's CRS), ``highway``,
        ``maxspeed``, ``oneway``; ``graph.graph["crs"]`` set (osmnx does). Geographic
        graphs are projected to :func:`~mtown_geo.crs.metric_crs`.
    mode : str, optional
        The profile mode whose speeds apply. Reciprocal directed edges of the same
        length are merged into one two-way edge; an edge without its reverse is one-way
        on directed modes and two-way on undirected ones (walk, bike).
    length_attr : str, optional
        Edge attribute holding the length in metres.

    Returns
    -------
    Network
    """
    import networkx as nx

    prof = resolve(profile)
    if mode not in prof.modes:
        raise NetworkError(f"unknown mode {mode!r}; the profile {prof.name!r} has the modes {sorted(prof.modes)}")
    if not isinstance(graph, nx.Graph):
        raise InputError(f"expected a networkx graph, got {type(graph).__name__}")
    graph_crs = graph.graph.get("crs")
    if graph_crs is None:
        raise CRSError('the graph has no CRS: set graph.graph["crs"] (osmnx graphs carry "epsg:4326")')
    src_crs = CRS.from_user_input(graph_crs)
    if graph.number_of_edges() == 0:
        raise NetworkError("the graph has no edges")
    node_keys = list(graph.nodes)
    try:
        xs = np.array([graph.nodes[k]["x"] for k in node_keys], dtype=float)
        ys = np.array([graph.nodes[k]["y"] for k in node_keys], dtype=float)
    except KeyError:
        raise InputError("every graph node needs 'x' and 'y' attributes") from None
    pos = {k: i for i, k in enumerate(node_keys)}
    rows = []
    for u, v, data in graph.edges(data=True):
        if length_attr not in data:
            raise InputError(f"edge ({u}, {v}) has no {length_attr!r} attribute (metres)")
        rows.append(
            (
                pos[u],
                pos[v],
                float(data[length_attr]),
                data.get("geometry"),
                data.get("highway"),
                data.get("name"),
                data.get("osmid"),
                data.get("maxspeed"),
            )
        )
    e = pd.DataFrame(rows, columns=["u", "v", "length_m", "geometry", "highway", "name", "osm_id", "maxspeed"])
    for col in ("highway", "name", "osm_id", "maxspeed"):
        e[col] = e[col].map(lambda val: val[0] if isinstance(val, list) and val else val)
    if src_crs.is_geographic:
        target = _crs.metric_crs((float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())))
        src4326 = CRS.from_epsg(4326)
        if src_crs != src4326:
            tr0 = Transformer.from_crs(src_crs, src4326, always_xy=True)
            xs, ys = tr0.transform(xs, ys)
    else:
        target = src_crs
    if crs is not None:
        target = _crs.require_projected(crs, what="target CRS")
    tr = Transformer.from_crs(src_crs if not src_crs.is_geographic else 4326, target, always_xy=True)
    px, py = (np.asarray(a) for a in tr.transform(xs, ys))
    geoms = e["geometry"].to_numpy()
    has_geom = np.array([g is not None for g in geoms])
    straight = shapely.linestrings(np.stack([np.column_stack([px[e.u], py[e.u]]), np.column_stack([px[e.v], py[e.v]])], axis=1))
    if has_geom.any():
        projected = gpd.GeoSeries(list(geoms[has_geom]), crs=src_crs).to_crs(target).values
        straight[has_geom] = np.asarray(projected)
    e["geometry"] = straight
    e = e[e["u"] != e["v"]].reset_index(drop=True)
    # merge reciprocal pairs (u→v and v→u of equal length) into one two-way edge
    directed_graph = graph.is_directed() and prof.networks[prof.mode(mode).network].oneway
    lo = np.minimum(e["u"], e["v"])
    hi = np.maximum(e["u"], e["v"])
    e["_key"] = lo.astype(np.int64) * len(node_keys) + hi
    e["_len"] = e["length_m"].round(3)
    if directed_graph:
        e["_fwd"] = e["u"] < e["v"]
        g = e.groupby(["_key", "_len"])
        both = g["_fwd"].transform("nunique") > 1
        e["oneway"] = ~both
        # keep one row per reciprocal pair (the u<v one), all one-way rows
        e = e[~both | e["_fwd"]].copy()
        e = e.drop_duplicates(["_key", "_len", "u"])
    else:
        e["oneway"] = False
        e = e.drop_duplicates(["_key", "_len"])
    e = e.drop(columns=[c for c in e.columns if c.startswith("_")]).reset_index(drop=True)
    speeds = way_speeds_kmh(e, prof, mode, group=group)
    time = e["length_m"].to_numpy() / (speeds * 1000.0 / 60.0)
    nodes = gpd.GeoDataFrame({"x": px, "y": py, "key": node_keys}, geometry=shapely.points(px, py), crs=target)
    edges = gpd.GeoDataFrame(
        {
            "u": e["u"].to_numpy(np.int64),
            "v": e["v"].to_numpy(np.int64),
            "length_m": e["length_m"].to_numpy(float),
            "speed_kmh": speeds,
            "time_min": time,
            "time_rev_min": np.where(e["oneway"].to_numpy(bool), np.inf, time),
            "oneway": e["oneway"].to_numpy(bool),
            "highway": e["highway"].to_numpy(),
            "name": e["name"].to_numpy(),
            "osm_id": e["osm_id"].to_numpy(),
        },
        geometry=e["geometry"].to_numpy(),
        crs=target,
    )
    net = Network(
        nodes,
        edges,
        mode=mode,
        speed_kmh=prof.speed_kmh(mode, group),
        access_speed_kmh=prof.access_speed_kmh,
        profile=prof.name,
        source="graph",
        max_snap_dist_m=prof.max_snap_dist_m,
    )
    _report_components(net)
    return net


def from_lines(lines: gpd.GeoDataFrame | gpd.GeoSeries, *, mode: str = "walk", **kwargs: Any) -> LineNetwork:
    """Build a mode's network from a planner's road centrelines, repairing their topology.

    Lines are split where they cross on the same level (a ``layer`` / bridge / tunnel
    field keeps grade-separated roads apart), ends that miss by less than ``snap_tol_m``
    are snapped, duplicates and zero-length pieces are dropped, and speeds come from a
    road-class field (Chinese classes 主干路, 次干路, 支路, 县道, 乡道, 村道... are known; give
    your own mapping with ``speeds_kmh``). Every keyword of
    :func:`mtown_geo._lines.lines_to_network` is accepted (``class_col``, ``oneway_col``,
    ``oneway_values``, ``name_col``, ``level_col``, ``bridge_col``, ``tunnel_col``,
    ``snap_tol_m``, ``profile``, ``group``, ``crs``...).

    Returns
    -------
    LineNetwork
        A :class:`Network` whose ``repairs`` attribute (a :class:`RepairReport`) lists
        what was repaired and where.
    """
    return lines_to_network(lines, mode=mode, **kwargs)
