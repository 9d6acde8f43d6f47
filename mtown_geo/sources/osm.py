"""Reading OpenStreetMap files (``.osm``, ``.osm.bz2``, ``.osm.pbf``) with pyosmium.

One pass over the file collects everything the toolkit uses:

* the ways with a ``highway`` tag, as flat coordinate arrays plus a tag table (the
  network is built from these in :mod:`mtown_geo.network` without making a shapely
  object per way);
* tagged nodes and areas (closed ways and multipolygon relations assembled by
  libosmium) whose keys mark facilities, parks, land use, water or boundaries, and the
  *named* buildings (a school, library or clinic is often mapped only as a building
  outline with a name: ``building=yes`` + ``name=…小学``);
* route relations (hiking / bicycle / foot / bus routes) with their member ways and nodes.

What is kept is data: :data:`WAY_TAG_KEYS` (tags of highway ways, including the lane,
width, surface and reference tags the road-grade rules read), :data:`FEATURE_KEYS` and
:data:`FEATURE_TAGS` (what makes a node or area a feature). :func:`select` picks features
by a profile's tag rules and :func:`unselected` names the rules the reader cannot see.
:func:`road_attributes` turns the lane, width and grade tags of the ways into numbers.

A highway way whose nodes are partly missing from the file (cut by the extract's edge) is
split where nodes are missing: each run of consecutive nodes present becomes a piece,
never a straight line across the gap. A ``.pbf`` whose header declares a bounding box is
checked against the extent of the data read, so that a file cut short (a download that
stopped at a block boundary reads as a valid, smaller file) is reported.

Filtering and assembly happen in libosmium (C++): key and tag filters decide which objects
reach Python at all, node locations and multipolygons are assembled there, and only route
relations among the relations are handed over. What Python does per object is kept to reading
its tags (by count: pyosmium's tag iterator ends every object with a C++ exception) and
keeping the WKB libosmium writes; coordinates and geometries are then decoded in bulk.

Network topology is taken from node *locations*: ways that share a node share its
coordinates, so vertices are identified by their fixed-point coordinates (1e-7°).
Two distinct OSM nodes mapped at exactly the same location are therefore joined,
which is what a mapper almost always meant (duplicate nodes are a validator error).

Data © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from osmium.osm import Area, Node, Relation, Way
from pyproj import CRS, Transformer

from .. import _frames
from .._errors import DataNotFoundError, IncompleteDataWarning, InputError
from ..crs import _layer_crs

if TYPE_CHECKING:
    from ..standards import TagRule

__all__ = [
    "ATTRIBUTION",
    "FEATURE_KEYS",
    "FEATURE_TAGS",
    "NAME_KEYS",
    "ROUTE_TYPES",
    "WAY_TAG_KEYS",
    "OSMExtract",
    "feature_tags",
    "is_osm_file",
    "read_osm",
    "road_attributes",
    "select",
    "unselected",
]

log = logging.getLogger(__name__)

#: Attribution every map or table made from OSM data must carry.
ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"

#: Tags kept for each highway way (network filters, speeds, one-way rules, names).
WAY_TAG_KEYS: tuple[str, ...] = (
    "highway",
    "name",
    "access",
    "foot",
    "bicycle",
    "motor_vehicle",
    "motorcar",
    "service",
    "area",
    "oneway",
    "oneway:bicycle",
    "junction",
    "maxspeed",
    "sidewalk",
    "sidewalk:both",
    "bridge",
    "tunnel",
    "layer",
    "surface",
    "incline",
    "route",
    "waterway",
    # road grade: lanes, carriageway width, surface, reference (G/S/X/Y/C), Chinese grade
    "lanes",
    "width",
    "width:carriageway",
    "tracktype",
    "ref",
    "highway:CN",
)

#: Keys that make a node or area a feature (facility, park, land use, boundary...).
FEATURE_KEYS: tuple[str, ...] = (
    "amenity",
    "shop",
    "leisure",
    "landuse",
    "healthcare",
    "social_facility",
    "office",
    "public_transport",
    "boundary",
    "place",
    "entrance",
    "tourism",
    "club",
)
#: Single key=value tags that also make a feature (water for greenways, gates for parks).
FEATURE_TAGS: tuple[tuple[str, str], ...] = (
    ("natural", "water"),
    ("water", "river"),
    ("barrier", "gate"),
    ("highway", "bus_stop"),
    ("waterway", "riverbank"),
    # green land for 绿地率 (parks and land uses are features by their keys already)
    ("natural", "wood"),
    ("natural", "scrub"),
    ("natural", "grassland"),
    ("natural", "heath"),
    ("tourism", "zoo"),
    # single car chargers (charging stations are amenities)
    ("man_made", "charge_point"),
)

#: Tags that carry a feature's name, in the order they are read (a building with any of
#: them is a *named* building).
NAME_KEYS: tuple[str, ...] = ("name", "name:zh", "official_name", "alt_name")

_WATERWAY_LINES = {"river", "canal", "stream", "drain", "ditch"}

# highway values of ways that may also be features (a stop or platform mapped as a way); any
# highway way with a public_transport tag is looked at too
_FEATURE_HIGHWAYS = {"platform", "bus_stop"}

# The header's bounding box and the data read: a side that stops short of the box by more
# than this share of the box's width or height is reported.
_BBOX_SHORT_SHARE = 0.25

#: Route relations kept (``route=*``): walking and cycling routes, and bus routes.
ROUTE_TYPES: frozenset[str] = frozenset({"hiking", "bicycle", "foot", "running", "mtb", "bus"})

_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".o5m", ".osc")


def is_osm_file(path: str | os.PathLike[str]) -> bool:
    """Whether a path names an OSM file by its suffix (``.osm``, ``.osm.bz2``, ``.osm.pbf``...)."""
    name = str(path).lower()
    return name.endswith(_OSM_SUFFIXES)


#: Cut an extract's features by their bounding boxes before the geometric test (False: test all).
_BOX_FIRST = True
#: Project the lines of :meth:`OSMExtract.way_lines_at` from the extract's distinct vertices,
#: projected once per CRS for every user (False: each call projects its lines' own vertices).
_SHARED_PROJECTION = True
_WGS84 = CRS.from_epsg(4326)


def _to_metric(lon: np.ndarray, lat: np.ndarray, target_crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat (EPSG:4326) to x/y in ``target_crs``, point by point."""
    x, y = Transformer.from_crs(4326, target_crs, always_xy=True).transform(lon, lat)
    return np.asarray(x), np.asarray(y)


#: Key of an extract's :attr:`~mtown_geo.sources.OSMExtract.cache` entry with its vertices.
_VERTICES_KEY = "vertices"
#: Projections and clip masks of an extract's vertices kept (the last few CRSs and clips).
_VERTEX_VIEWS = 4


class _Vertices:
    """The distinct vertices of an extract (``OSMExtract._distinct_vertices``), numbered once
    for every user: each mode's network, the lines of its ways.

    ``vid`` is the number of each of the extract's vertices among the distinct ones
    (positions rounded to 1e-7 degree, ordered by that key like :func:`numpy.unique`);
    ``lon``/``lat`` are the distinct vertices. Their projections and clip masks are
    computed once per CRS and clip (point by point, so each value is the one a mode's
    own vertices would get).
    """

    def __init__(self, vid: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> None:
        self.vid, self.lon, self.lat = vid, lon, lat
        self._xy: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._inside: dict[tuple[str, int], tuple[shapely.Geometry, np.ndarray]] = {}

    def xy(self, target_crs: CRS) -> tuple[str, tuple[np.ndarray, np.ndarray]]:
        key = CRS.from_user_input(target_crs).to_wkt()
        hit = self._xy.get(key)
        if hit is None:
            hit = self._xy[key] = _to_metric(self.lon, self.lat, target_crs)
            while len(self._xy) > _VERTEX_VIEWS:
                self._xy.pop(next(iter(self._xy)))
        return key, hit

    def inside(self, crs_key: str, xy: tuple[np.ndarray, np.ndarray], clip: shapely.Geometry) -> np.ndarray:
        key = (crs_key, id(clip))
        hit = self._inside.get(key)
        if hit is None or hit[0] is not clip:
            hit = self._inside[key] = (clip, shapely.contains_xy(clip, xy[0], xy[1]))
            while len(self._inside) > _VERTEX_VIEWS:
                self._inside.pop(next(iter(self._inside)))
        return hit[1]


def _vertex_key(coords: np.ndarray) -> np.ndarray:
    """One int64 per vertex: its lon/lat rounded to 1e-7 degree (OSM's precision)."""
    return np.rint(coords[:, 0] * 1e7).astype(np.int64) * (1 << 32) + np.rint(coords[:, 1] * 1e7).astype(np.int64)


def _first_of(vid: np.ndarray, n: int) -> np.ndarray:
    """The first position of each of n numbers in vid."""
    first = np.zeros(n, dtype=np.int64)
    first[vid[::-1]] = np.arange(len(vid))[::-1]
    return first


@dataclass(frozen=True, eq=False)
class OSMExtract:
    """The content of an OSM file that mtown_geo uses (coordinates in EPSG:4326).

    Attributes
    ----------
    path : Path or None
        The file read.
    ways : DataFrame
        One row per highway way: ``osm_id``, ``start``/``stop`` offsets into
        :attr:`coords`, and one column per key of :data:`WAY_TAG_KEYS` (``None`` where
        absent).
    coords : ndarray, shape (n, 2)
        Longitude/latitude of the ways' vertices, way after way.
    features : GeoDataFrame
        Tagged nodes, areas and waterway lines: ``osm_type`` (node/way/relation),
        ``osm_id``, ``name``, ``tags`` (a dict), geometry, in EPSG:4326.
    routes : DataFrame
        Route relations of :data:`ROUTE_TYPES`: ``osm_id``, ``route``, ``name``,
        ``tags``, ``ways`` (member way ids) and ``nodes`` (member node ids: a bus
        route's stops).
    timestamp : str or None
        How recent the data is (ISO date): the file header's replication timestamp, else
        the newest timestamp among the objects read; None when neither is known.
    header_bounds : tuple or None
        The bounding box (west, south, east, north) the file's header declares, None when
        it declares none.
    split_ways : int
        Highway ways whose nodes are partly missing from the file (cut by the extract's
        edge): each was split where nodes are missing, its runs of two or more
        consecutive nodes kept as pieces (rows of :attr:`ways` with the same
        ``osm_id``).
    problems : tuple of str
        What makes the file look incomplete (data stopping far short of the extent its
        header declares, tagged nodes but no way): :func:`read_osm` issues each as an
        :class:`~mtown_geo.IncompleteDataWarning` whenever it returns the extract.
    parent : OSMExtract or None
        The extract a :meth:`subset` was cut from.
    cache : dict
        Results derived from the extract and kept for reuse (facility classification, the
        distinct vertices and their projections, the ways as networks read them).
    """

    path: Path | None
    ways: pd.DataFrame
    coords: np.ndarray
    features: gpd.GeoDataFrame
    routes: pd.DataFrame
    bounds: tuple[float, float, float, float] = field(default=(np.nan, np.nan, np.nan, np.nan))
    timestamp: str | None = None
    header_bounds: tuple[float, float, float, float] | None = None
    split_ways: int = 0
    problems: tuple[str, ...] = ()
    parent: OSMExtract | None = field(default=None, repr=False, compare=False)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"OSMExtract({self.path.name if self.path else '<memory>'}: {len(self.ways):,} highway ways, "
            f"{len(self.coords):,} vertices, {len(self.features):,} features, {len(self.routes):,} routes)"
        )

    @cached_property
    def way_bounds(self) -> np.ndarray:
        """Bounding box (west, south, east, north) of every highway way, shape (n, 4)."""
        if len(self.ways) == 0:
            return np.empty((0, 4))
        start = self.ways["start"].to_numpy()
        x, y = self.coords[:, 0], self.coords[:, 1]
        return np.column_stack(
            [
                np.minimum.reduceat(x, start),
                np.minimum.reduceat(y, start),
                np.maximum.reduceat(x, start),
                np.maximum.reduceat(y, start),
            ]
        )

    @cached_property
    def feature_bounds(self) -> np.ndarray:
        """Bounding box (west, south, east, north) of every feature, shape (n, 4); NaN for an
        empty geometry."""
        return np.asarray(shapely.bounds(np.asarray(self.features.geometry.values)), dtype=float).reshape(-1, 4)

    def _features_in(self, west: float, south: float, east: float, north: float) -> gpd.GeoDataFrame:
        """The features that intersect a lon/lat box (as ``features.cx[west:east, south:north]``),
        tried only where their bounding box meets it."""
        feats = self.features
        if not _BOX_FIRST:
            return feats.cx[west:east, south:north]
        fb = self.feature_bounds
        near = np.flatnonzero((fb[:, 0] <= east) & (fb[:, 2] >= west) & (fb[:, 1] <= north) & (fb[:, 3] >= south))
        geoms = np.asarray(feats.geometry.values)[near]
        return feats.iloc[near[shapely.intersects(geoms, shapely.box(west, south, east, north))]]

    def subset(self, bounds: tuple[float, float, float, float]) -> OSMExtract:
        """The part of the extract within a lon/lat box (west, south, east, north).

        Ways and features that touch the box are kept whole; route relations are all kept.
        Cheap: a town's part of a regional extract, without reading the file again.
        """
        west, south, east, north = bounds
        wb = self.way_bounds
        hit = (wb[:, 0] <= east) & (wb[:, 2] >= west) & (wb[:, 1] <= north) & (wb[:, 3] >= south)
        ways = self.ways.loc[hit]
        start = ways["start"].to_numpy()
        n = ways["stop"].to_numpy() - start
        idx = np.repeat(start - np.concatenate([[0], np.cumsum(n)[:-1]]), n) + np.arange(int(n.sum()))
        new_stop = np.cumsum(n)
        ways = ways.assign(start=new_stop - n, stop=new_stop).reset_index(drop=True)
        feats = self._features_in(west, south, east, north) if len(self.features) else self.features
        return OSMExtract(
            path=self.path,
            ways=ways,
            coords=self.coords[idx],
            features=feats.reset_index(drop=True),
            routes=self.routes,
            bounds=(west, south, east, north),
            timestamp=self.timestamp,
            header_bounds=self.header_bounds,
            split_ways=self.split_ways,
            problems=self.problems,
            parent=self.parent if self.parent is not None else self,
        )

    def _distinct_vertices(self) -> _Vertices | None:
        """The extract's distinct vertices (kept in :attr:`cache`), or None when two vertices with
        the same key (1e-7 degree) differ in their coordinates (then no vertex stands for another)."""
        cache = self.cache
        if _VERTICES_KEY in cache:
            hit: _Vertices | None = cache[_VERTICES_KEY]
            return hit
        coords = np.ascontiguousarray(self.coords, dtype=float)
        uniq, vid = np.unique(_vertex_key(coords), return_inverse=True)
        first = _first_of(vid, len(uniq))
        # one vertex per key stands for all: only when all of a key's vertices are the same bits
        same = len(coords) == 0 or bool(np.array_equal(coords.view(np.int64), coords[first[vid]].view(np.int64)))
        out = _Vertices(vid, coords[first, 0], coords[first, 1]) if same else None
        cache[_VERTICES_KEY] = out
        return out

    def way_lines(self) -> gpd.GeoSeries:
        """The highway ways as LineStrings (EPSG:4326), index aligned with :attr:`ways`."""
        lengths = (self.ways["stop"] - self.ways["start"]).to_numpy()
        geoms = shapely.linestrings(self.coords, indices=np.repeat(np.arange(len(lengths)), lengths))
        return gpd.GeoSeries(geoms, index=self.ways.index, crs=4326)

    def way_lines_at(self, rows: np.ndarray, crs: Any) -> np.ndarray:
        """The lines of the chosen highway ways in ``crs``; None for the other ways.

        The same lines, to the bit, as :meth:`way_lines` projected whole, without making or
        projecting the others: each line is made of its own vertices and each vertex
        projected by itself (the extract's distinct vertices, projected once per CRS for every
        call and every network of the extract).

        Parameters
        ----------
        rows : ndarray of bool
            One flag per row of :attr:`ways`.
        crs : anything pyproj takes
            The CRS of the lines (a metric one for lengths).

        Returns
        -------
        ndarray of object
            LineStrings where ``rows`` holds, None elsewhere; aligned with :attr:`ways`.
        """
        ways = self.ways
        out = np.full(len(ways), None, dtype=object)
        pos = np.flatnonzero(rows)
        if len(pos) == 0:
            return out
        start = ways["start"].to_numpy(dtype=np.int64)
        stop = ways["stop"].to_numpy(dtype=np.int64)
        if not (len(start) and start[0] == 0 and np.array_equal(start[1:], stop[:-1])):  # pragma: no cover - not made by read_osm
            out[pos] = np.asarray(self.way_lines().to_crs(crs).values, dtype=object)[pos]
            return out
        n = (stop - start)[pos]
        at = np.repeat(start[pos] - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))  # kept vertices in coords
        parts = np.repeat(np.arange(len(pos)), n)
        shared = self._distinct_vertices() if _SHARED_PROJECTION else None
        if shared is not None and not CRS.from_user_input(crs).is_exact_same(_WGS84):
            # the distinct vertices projected once per CRS (each alike, point by point), taken per vertex
            _, (x, y) = shared.xy(crs)
            vid = shared.vid[at]
            out[pos] = shapely.linestrings(np.column_stack([x[vid], y[vid]]), indices=parts)
            return out
        geoms = shapely.linestrings(self.coords[at], indices=parts)
        out[pos] = np.asarray(gpd.GeoSeries(geoms, crs=4326).to_crs(crs).values, dtype=object)
        return out


_CACHE: OrderedDict[tuple[str, int, int, str], OSMExtract] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4

_BUILDING_MODES = {"named": "named", True: "all", False: "none", "all": "all", "none": "none"}


def read_osm(
    source: str | os.PathLike[str], *, buildings: bool | Literal["named", "all", "none"] = "named", cache: bool = True
) -> OSMExtract:
    """Read an OSM file into an :class:`OSMExtract`.

    Parameters
    ----------
    source : path-like
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file (anything libosmium reads).
    buildings : {"named", "all", "none"} or bool, optional
        Which building outlines (``building=*``) become features besides those that
        carry a facility key (``amenity``, ``leisure``... — always read):

        * ``"named"`` (default): buildings with a name (:data:`NAME_KEYS`), so that a
          school, library or clinic mapped only as a named building outline is found
          by :mod:`mtown_geo.facilities`;
        * ``"all"`` or ``True``: every footprint (slower; for building-based demand
          units);
        * ``"none"`` or ``False``: no building is read for being a building.
    cache : bool, optional
        Keep the last few extracts in memory, keyed by path, size, modification time
        and ``buildings``, so that building several networks and facility layers from
        one file reads it once.

    Returns
    -------
    OSMExtract

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    InputError
        The file cannot be parsed as OSM data; or its header declares a bounding box
        but the file holds no data at all (a file cut short).

    Warns
    -----
    IncompleteDataWarning
        The header declares a bounding box and the data read stop short of one of its
        sides by more than a quarter of the box's width or height, or the file holds
        tagged nodes but no way: the file was probably cut short (a ``.pbf`` truncated
        at a block boundary reads as a valid, smaller file). Download it again.

    Notes
    -----
    A ``.pbf`` cut within its ways or relations keeps the extent of its nodes: the check
    cannot tell it from a smaller file. Compare the file's size or checksum with its
    source when in doubt.
    """
    try:
        mode = _BUILDING_MODES[buildings]
    except (KeyError, TypeError):
        raise InputError(f'buildings must be "named", "all" (or True) or "none" (or False), got {buildings!r}') from None
    path = Path(source).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"OSM file {path} does not exist")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an .osm, .osm.bz2 or .osm.pbf file")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, mode)
    extract: OSMExtract | None = None
    if cache:
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                extract = _CACHE[key]
    if extract is None:
        extract = _parse(path, buildings=mode)
        if cache:
            with _CACHE_LOCK:
                _CACHE[key] = extract
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
    for problem in extract.problems:
        warnings.warn(problem, IncompleteDataWarning, stacklevel=2)
    return extract


def _header(path: Path) -> tuple[str, tuple[float, float, float, float] | None]:
    """The file header's replication timestamp (or "") and its bounding box (None when it declares none)."""

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            header = reader.header()
            stamp = header.get("osmosis_replication_timestamp") or header.get("timestamp")
            box = header.box()
            bbox = (
                (float(box.bottom_left.lon), float(box.bottom_left.lat), float(box.top_right.lon), float(box.top_right.lat))
                if box.valid()
                else None
            )
        finally:
            reader.close()
    except RuntimeError:
        return "", None
    return str(stamp or ""), bbox


def _data_date(stamp: str, newest: Any) -> str | None:
    """The extract's date: its header's replication timestamp, else its newest way's edit."""
    if stamp:
        return stamp[:10]
    return None if newest.year <= 1970 else newest.date().isoformat()


def _check_extent(
    path: Path,
    header_bounds: tuple[float, float, float, float] | None,
    data_bounds: tuple[float, float, float, float],
    *,
    n_ways: int,
    n_features: int,
    n_feature_ways: int,
) -> tuple[str, ...]:
    """What is wrong with the extent of the data read (messages); refuses a declared extent with no data."""
    problems: list[str] = []
    if n_features and not n_ways and not n_feature_ways:
        problems.append(
            f"{path.name} holds {n_features:,} tagged nodes but no way at all: a .pbf cut short after its nodes "
            "reads like this. Download the file again, or use a complete extract"
        )
    if header_bounds is None:
        return tuple(problems)
    west, south, east, north = header_bounds
    if west <= -179.9 and east >= 179.9 and south <= -89.9 and north >= 89.9:
        return tuple(problems)  # the whole world: says nothing about the extract
    box = f"{west:.5f}, {south:.5f}, {east:.5f}, {north:.5f}"
    if not n_ways and not n_features:
        raise InputError(
            f"{path.name}: its header declares the bounding box ({box}) but the file holds no ways and no tagged "
            "features: it was probably cut short. Download it again"
        )
    width, height = east - west, north - south
    if not (width > 0 and height > 0):
        return tuple(problems)
    dw, ds, de, dn = data_bounds
    short = {
        "west": (dw - west) / width,
        "south": (ds - south) / height,
        "east": (east - de) / width,
        "north": (north - dn) / height,
    }
    far = {side: share for side, share in short.items() if share > _BBOX_SHORT_SHARE}
    if far:
        sides = ", ".join(f"{side} by {share:.0%}" for side, share in far.items())
        problems.append(
            f"{path.name}: the data read stop short of the bounding box its header declares ({box}) — {sides} of "
            "the box's size. The file may have been cut short (a .pbf truncated at a block boundary reads as a "
            "valid, smaller file): download it again. If the extract is meant to be empty there (sea, another "
            "country), ignore this warning"
        )
    return tuple(problems)


def _tags(data: Any) -> dict[str, str]:
    """All tags of an osmium object (its ``_pyosmium_data``) as a dict, in the file's order.

    Read by count: pyosmium's own tag iterator ends with a StopIteration thrown from C++,
    which costs more than reading the tags.
    """
    return dict(map(data.tags_next, repeat(data.tags_begin(), data.tags_size())))


def _from_hex_wkb(hexes: list[str]) -> np.ndarray:
    """Shapely geometries of hex WKB strings (decoded to bytes first: GEOS reads hex several times slower)."""
    return np.asarray(shapely.from_wkb([bytes.fromhex(h) for h in hexes]), dtype=object)


def _linestring_wkb_coords(hexes: list[str], counts: np.ndarray) -> np.ndarray:
    """Coordinates of little-endian 2D WKB linestrings (hex) with known point counts, in one go."""
    if not hexes:
        return np.empty((0, 2))
    buf = np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8)
    block = 9 + 16 * counts
    block_start = np.concatenate([[0], np.cumsum(block)[:-1]])
    if not (np.all(buf[block_start] == 1) and np.all(buf[block_start + 1] == 2)):
        # not little-endian plain LineStrings: let shapely decode them
        return np.asarray(shapely.get_coordinates(_from_hex_wkb(hexes)), dtype=float)
    # drop the 9-byte header (byte order, type, count) of every block: the rest is the coordinates
    keep = np.ones(len(buf), dtype=bool)
    keep[(block_start[:, None] + np.arange(9)).ravel()] = False
    return buf[keep].view("<f8").reshape(-1, 2).copy()


def _present_runs(nodes: Any) -> tuple[list[list[tuple[float, float]]], bool]:
    """Runs of consecutive nodes whose location is known, and whether any node's location is missing."""
    runs: list[list[tuple[float, float]]] = []
    run: list[tuple[float, float]] = []
    missing = False
    for n in nodes:
        loc = n.location
        if loc.valid():
            run.append((loc.lon, loc.lat))
        else:
            missing = True
            if run:
                runs.append(run)
                run = []
    if run:
        runs.append(run)
    return runs, missing


def _centroids(raws: list[Any]) -> np.ndarray:
    """The centre (GEOS centroid of the MultiPoint) of each way's present nodes.

    ``raws`` holds, per way, either the hex WKB of its LineString or a list of (lon, lat).
    """
    if not raws:
        return np.empty(0, dtype=object)
    is_wkb = np.array([isinstance(r, str) for r in raws], dtype=bool)
    parts: list[np.ndarray] = [np.empty((0, 2))] * len(raws)
    if is_wkb.any():
        pos = np.flatnonzero(is_wkb)
        xy, owner = shapely.get_coordinates(_from_hex_wkb([raws[i] for i in pos]), return_index=True)
        split = np.split(xy, np.flatnonzero(np.diff(owner)) + 1)
        for i, c in zip(pos, split, strict=True):
            parts[i] = c
    for i in np.flatnonzero(~is_wkb):
        parts[i] = np.asarray(raws[i], dtype=float).reshape(-1, 2)
    counts = np.array([len(c) for c in parts], dtype=np.int64)
    multi = shapely.multipoints(np.concatenate(parts), indices=np.repeat(np.arange(len(parts)), counts))
    return np.asarray(shapely.centroid(multi), dtype=object)


def _parse(path: Path, *, buildings: str) -> OSMExtract:
    wkb = osmium.geom.WKBFactory()
    create_linestring = wkb.create_linestring
    create_multipolygon = wkb.create_multipolygon
    create_point = wkb.create_point
    all_nodes = osmium.geom.ALL
    way_ids: list[int] = []
    way_tags: list[list[str | None]] = []
    way_wkb: list[str] = []
    broken: list[tuple[int, list[str | None], list[list[tuple[float, float]]], bool]] = []
    feat_type: list[str] = []
    feat_id: list[int] = []
    feat_tags: list[dict[str, str]] = []
    feat_wkb: list[str] = []
    route_rows: list[dict[str, Any]] = []
    way_feats: dict[int, tuple[Any, Any]] = {}

    # the newest edit is the extract's date only when the header has no replication timestamp
    stamp, header_bounds = _header(path)
    track_time = not stamp
    newest = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    feature_keys = set(FEATURE_KEYS)
    if buildings == "all":
        feature_keys.add("building")
    named_buildings = buildings == "named"

    fkeys = frozenset(feature_keys)
    fpairs = frozenset(FEATURE_TAGS)
    name_keys = NAME_KEYS

    def is_feature(tags: dict[str, str]) -> bool:
        if not fkeys.isdisjoint(tags) or not fpairs.isdisjoint(tags.items()):
            return True
        # a named building outline: often the only mapping of a school, library or clinic
        return named_buildings and tags.get("building") not in (None, "no") and any(tags.get(k) for k in name_keys)

    keys = WAY_TAG_KEYS
    nones = (None,) * len(keys)
    area_keys = [k for k in feature_keys if k not in ("place", "entrance", "public_transport")]
    extra = ("building",) if buildings != "none" and "building" not in feature_keys else ()
    area_filter = osmium.filter.KeyFilter(*area_keys, *extra, "natural", "water", "waterway", "tourism")
    main_keys = (*feature_keys, *{k for k, _ in FEATURE_TAGS}, "highway", "route")
    processor = osmium.FileProcessor(str(path)).with_locations().with_areas(area_filter)
    processor = processor.with_filter(osmium.filter.KeyFilter(*main_keys, *extra))
    if named_buildings:
        # chained filters AND: (main or building) and (main or name) = main or a named building,
        # so unnamed buildings never reach Python
        processor = processor.with_filter(osmium.filter.KeyFilter(*main_keys, *name_keys))
    # of the relations only the routes reach Python (the multipolygons are assembled in C++)
    routes_only = osmium.filter.TagFilter(("type", "route"))
    routes_only.enable_for(osmium.osm.RELATION)
    processor = processor.with_filter(routes_only)
    try:
        for item in processor:
            obj: Any = item  # pyosmium yields Node | Way | Relation | Area
            kind = type(obj)
            data: Any = obj._pyosmium_data  # the C++ object: its accessors skip the Python wrappers
            get = data.tags_get_value_by_key
            if kind is Way:
                if track_time:
                    newest = max(newest, data.timestamp())
                hw = get("highway", None)
                if hw is not None:
                    # a highway way has a few tags: one dict of them answers the look-ups of
                    # WAY_TAG_KEYS (a key given twice: the first value, as the C++ look-up)
                    tags = _tags(data)
                    tvals = list(map(tags.get, keys)) if len(tags) == data.tags_size() else list(map(get, keys, nones))
                    try:
                        way_wkb.append(create_linestring(obj, use_nodes=all_nodes))
                    except (osmium.InvalidLocationError, RuntimeError):
                        runs, missing = _present_runs(obj.nodes)
                        broken.append((data.id(), tvals, runs, missing))
                        if (hw in _FEATURE_HIGHWAYS or "public_transport" in tags) and is_feature(tags) and any(runs):
                            way_feats[data.id()] = (tags, [p for r in runs for p in r])
                        continue
                    way_ids.append(data.id())
                    way_tags.append(tvals)
                    if (hw in _FEATURE_HIGHWAYS or "public_transport" in tags) and is_feature(tags):
                        # also a feature: a bus platform mapped as a way
                        way_feats[data.id()] = (tags, way_wkb[-1])
                    continue
                tags = _tags(data)
                if is_feature(tags):
                    # closed ways with all their nodes become areas in the assembler; an unclosed
                    # way (mis-mapped), a closed way tagged area=no or one cut by the extract's edge
                    # keeps what it has
                    nodes = obj.nodes
                    if len(nodes) == 0:
                        continue
                    try:
                        line = create_linestring(obj, use_nodes=all_nodes)
                    except (osmium.InvalidLocationError, RuntimeError):
                        pts = [(n.lon, n.lat) for n in nodes if n.location.valid()]
                        if pts:
                            way_feats[data.id()] = (tags, pts)
                        continue
                    # a closed way becomes an area, unless it is tagged as none (a running track
                    # mapped as its line): then it too is kept where it is
                    if tags.get("area") == "no" or not data.is_closed():
                        way_feats[data.id()] = (tags, line)
                elif tags.get("waterway") in _WATERWAY_LINES and not data.is_closed():
                    try:
                        feat_wkb.append(create_linestring(obj))
                    except (osmium.InvalidLocationError, RuntimeError):
                        continue
                    feat_type.append("way")
                    feat_id.append(data.id())
                    feat_tags.append(tags)
            elif kind is Area:
                tags = _tags(data)
                if not is_feature(tags):
                    continue
                try:
                    feat_wkb.append(create_multipolygon(obj))
                except (osmium.InvalidLocationError, RuntimeError):
                    continue
                feat_type.append("way" if data.from_way() else "relation")
                feat_id.append(data.orig_id())
                feat_tags.append(tags)
            elif kind is Node:
                tags = _tags(data)
                if is_feature(tags) and data.location().valid():
                    feat_wkb.append(create_point(obj))
                    feat_type.append("node")
                    feat_id.append(data.id())
                    feat_tags.append(tags)
            elif kind is Relation and get("type", None) == "route" and get("route", None) in ROUTE_TYPES:
                tags = _tags(data)
                members = [(m.type, m.ref) for m in map(data.members_next, repeat(data.members_begin(), data.members_size()))]
                route_rows.append(
                    {
                        "osm_id": data.id(),
                        "route": tags.get("route"),
                        "name": tags.get("name"),
                        "tags": tags,
                        "ways": [ref for t, ref in members if t == "w"],
                        "nodes": [ref for t, ref in members if t == "n"],
                    }
                )
    except RuntimeError as exc:
        raise InputError(f"cannot read {path} as OSM data: {exc}") from None

    # feature ways for which no area was assembled: a point of what is there
    area_ways = {i for t, i in zip(feat_type, feat_id, strict=True) if t == "way"}
    rest = [(wid, tags, raw) for wid, (tags, raw) in way_feats.items() if wid not in area_ways]
    # a way cut by the extract's edge, never closed or tagged area=no has no trustworthy
    # outline: keep where it is (the centre of its nodes), never a made-up polygon
    centres = _centroids([raw for _, _, raw in rest])
    full = ~shapely.is_empty(centres) if len(centres) else np.zeros(0, dtype=bool)
    extra_geoms = centres[full]
    for (wid, tags, _), ok in zip(rest, full, strict=True):
        if ok:
            feat_type.append("way")
            feat_id.append(wid)
            feat_tags.append(tags)

    # every way's WKB holds all its nodes: 9 bytes of header and 16 per node (hex: twice that)
    counts = (np.fromiter(map(len, way_wkb), dtype=np.int64, count=len(way_wkb)) // 2 - 9) // 16
    coords = _linestring_wkb_coords(way_wkb, counts)
    # ways with missing node locations (cut by the extract's edge): split where nodes are
    # missing, each run of two or more consecutive nodes present kept as a piece — never a
    # straight line across the gap
    pieces = [(wid, tvals, run) for wid, tvals, runs, _ in broken for run in runs if len(run) >= 2]
    if pieces:
        coords = np.concatenate([coords, *(np.asarray(p, dtype=float) for _, _, p in pieces)])
        counts = np.concatenate([counts, np.array([len(p) for _, _, p in pieces], dtype=np.int64)])
        way_ids.extend(w for w, _, _ in pieces)
        way_tags.extend(t for _, t, _ in pieces)
    split = [(wid, runs) for wid, _, runs, missing in broken if missing]
    if split:
        lost = sum(1 for _, runs in split if not any(len(r) >= 2 for r in runs))
        log.info(
            "%s: %d highway ways have nodes missing from the file (cut by the extract's edge): split where nodes are "
            "missing into %d pieces; %d keep no two consecutive nodes and are left out",
            path.name,
            len(split),
            sum(1 for _, runs in split for r in runs if len(r) >= 2),
            lost,
        )
    stop = np.cumsum(counts)
    start = stop - counts
    ways = pd.DataFrame(way_tags, columns=list(keys), dtype=object)
    ways.insert(0, "osm_id", np.asarray(way_ids, dtype=np.int64))
    ways.insert(1, "start", start)
    ways.insert(2, "stop", stop)

    feats = gpd.GeoDataFrame(
        {
            "osm_type": feat_type,
            "osm_id": np.asarray(feat_id, dtype=np.int64),
            "name": [t.get("name") for t in feat_tags],
            "tags": feat_tags,
        },
        geometry=np.concatenate([_from_hex_wkb(feat_wkb), np.asarray(extra_geoms, dtype=object)]) if feat_tags else [],
        crs=4326,
    )
    routes = pd.DataFrame(route_rows, columns=["osm_id", "route", "name", "tags", "ways", "nodes"])
    if len(coords):
        bounds = (float(coords[:, 0].min()), float(coords[:, 1].min()), float(coords[:, 0].max()), float(coords[:, 1].max()))
    elif len(feats):
        b = feats.total_bounds
        bounds = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    else:
        bounds = (np.nan, np.nan, np.nan, np.nan)
    data_bounds = bounds
    if len(coords) and len(feats):
        fb = feats.total_bounds
        data_bounds = (min(bounds[0], fb[0]), min(bounds[1], fb[1]), max(bounds[2], fb[2]), max(bounds[3], fb[3]))
    problems = _check_extent(
        path,
        header_bounds,
        data_bounds,
        n_ways=len(ways),
        n_features=len(feats),
        n_feature_ways=int((feats["osm_type"] != "node").sum()) if len(feats) else 0,
    )
    extract = OSMExtract(
        path=path,
        ways=ways,
        coords=coords,
        features=feats,
        routes=routes,
        bounds=bounds,
        timestamp=_data_date(stamp, newest),
        header_bounds=header_bounds,
        split_ways=len(split),
        problems=problems,
    )
    log.debug("read %r", extract)
    return extract


# -- selections by a profile's tag rules ------------------------------------------------------


def _rule_text(rule: TagRule) -> str:
    return " + ".join(f"{k}={'|'.join(v) if isinstance(v, list) else v}" for k, v in rule.tags.items())


def unselected(rules: Iterable[TagRule]) -> list[str]:
    """The tag rules no feature read by :func:`read_osm` can match, as ``key=value`` text.

    A feature is kept by the reader when it has one of :data:`FEATURE_KEYS` or one of the
    key/value pairs of :data:`FEATURE_TAGS`; a rule none of whose tags is such a key or
    pair can never match (a profile rule ``natural=tree`` for instance). Use it to warn
    that a profile asks for what the reader does not keep.
    """
    keys = set(FEATURE_KEYS)
    pairs = set(FEATURE_TAGS)
    out = []
    for rule in rules:
        seen = False
        for key, want in rule.tags.items():
            values = want if isinstance(want, list) else [want]
            if key in keys or (want != "*" and all((key, v) in pairs for v in values)):
                seen = True
                break
        if not seen:
            out.append(_rule_text(rule))
    return out


def rules_matcher(rules: Sequence[TagRule]) -> Callable[[dict[str, Any]], bool]:
    """A test of whether a feature's tags match one of ``rules``: ``any(r.matches(tags) for r in rules)``.

    The same answer, quicker over many features: the rules are grouped by the first key each
    requires, and within a key by the value it asks for; a feature is tried only against the
    rules of the keys it carries and of the values it has there. A rule of that one tag alone
    (no other tag, no ``absent`` key) matches without further test.
    """
    # per first key: {value: (matches outright, rules to test)}, the rules taking any value,
    # and whether any value matches outright
    by_value: dict[str, dict[Any, tuple[bool, list[TagRule]]]] = {}
    any_value: dict[str, list[TagRule]] = {}
    any_alone: dict[str, bool] = {}
    for rule in rules:
        key, want = next(iter(rule.tags.items()))
        values, anys = by_value.setdefault(key, {}), any_value.setdefault(key, [])
        alone = len(rule.tags) == 1 and not rule.absent
        if want == "*":
            if alone:
                any_alone[key] = True
            else:
                anys.append(rule)
            continue
        for v in want if isinstance(want, list) else [want]:
            done, tests = values.get(v, (False, []))
            values[v] = (True, tests) if alone else (done, [*tests, rule])
    groups = [(key, by_value[key], any_value[key], any_alone.get(key, False)) for key in by_value]
    fallback = {key: [r for r in rules if next(iter(r.tags)) == key] for key in by_value}

    def match(tags: dict[str, Any]) -> bool:
        # a feature carries many more tags than the rules have first keys: look those up
        for key, values, anys, alone in groups:
            have = tags.get(key)
            if have is None:
                continue
            if alone:
                return True
            try:
                done, tests = values.get(have, (False, []))
            except TypeError:  # an unhashable value (a layer's own tags): every rule of the key
                if any(r.matches(tags) for r in fallback[key]):
                    return True
                continue
            if done:
                return True
            for rule in tests:
                if rule.matches(tags):
                    return True
            for rule in anys:
                if rule.matches(tags):
                    return True
        return False

    return match


def _contains_any(names: list[str], patterns: Sequence[str]) -> np.ndarray:
    if not patterns:
        return np.zeros(len(names), dtype=bool)
    return np.array([any(p in n for p in patterns) for n in names], dtype=bool)


def select(
    source: OSMExtract | gpd.GeoDataFrame,
    rules: Sequence[TagRule],
    *,
    exclude: Sequence[TagRule] = (),
    name_patterns: Sequence[str] = (),
    exclude_name_patterns: Sequence[str] = (),
    kind: Literal["any", "point", "polygon"] = "any",
) -> gpd.GeoDataFrame:
    """The features of an extract that match a profile's tag rules or name patterns.

    A feature is selected when its tags match one of ``rules`` (every tag of a rule
    must match; see :class:`mtown_geo.standards.TagRule`) or its name (``name``,
    ``name:zh``, ``official_name``, ``alt_name``) contains one of ``name_patterns``, and
    neither its tags match one of ``exclude`` nor its name contains one of
    ``exclude_name_patterns``.

    Parameters
    ----------
    source : OSMExtract or GeoDataFrame
        An extract (its :attr:`~OSMExtract.features`), or a feature layer with ``tags``
        (dicts) and optional ``osm_type``, ``osm_id``, ``name`` columns.
    rules, exclude : sequence of TagRule
        Tag rules that select and that veto.
    name_patterns, exclude_name_patterns : sequence of str
        Name fragments that select and that veto (e.g. 邻里中心; 电动自行车).
    kind : {"any", "point", "polygon"}
        Keep only points (areas by a point on their surface are *not* made: a polygon is
        left out) or only polygons.

    Returns
    -------
    GeoDataFrame
        In the source's CRS (EPSG:4326 for an extract), on a new RangeIndex: ``osm_type``,
        ``osm_id``, ``name``, ``tags`` and ``matched_by`` (``tag`` or ``name``).
    """
    feats = source.features if isinstance(source, OSMExtract) else source
    if not isinstance(feats, gpd.GeoDataFrame) or "tags" not in feats:
        raise InputError("select() takes an OSMExtract or a GeoDataFrame with a 'tags' column of OSM tags")
    if kind not in ("any", "point", "polygon"):
        raise InputError(f"kind must be 'any', 'point' or 'polygon', got {kind!r}")
    cols = ["osm_type", "osm_id", "name", "tags", "matched_by"]
    crs = _layer_crs(feats)
    if len(feats) == 0:
        return _frames.geo_frame({c: [] for c in cols}, [], crs)
    tags = [t if isinstance(t, dict) else {} for t in feats["tags"].to_numpy()]
    geoms = np.asarray(feats.geometry.values)
    type_id = shapely.get_type_id(geoms)
    # only features of the kind asked for are tried, and only those selected against the vetoes
    if kind == "point":
        want = type_id == 0
    elif kind == "polygon":
        want = np.isin(type_id, [3, 6])
    else:
        want = np.ones(len(tags), dtype=bool)
    cand = np.flatnonzero(want)
    match, vetoed = rules_matcher(rules), rules_matcher(exclude)
    by_tag = np.zeros(len(tags), dtype=bool)
    by_tag[cand] = [match(tags[i]) for i in cand]
    by_name = np.zeros(len(tags), dtype=bool)
    names: list[str] = []
    if name_patterns or exclude_name_patterns:
        names = [" ".join(t[k] for k in ("name", "name:zh", "official_name", "alt_name") if k in t) for t in tags]
        by_name = _contains_any(names, name_patterns) & want
    hit = by_tag | by_name
    if exclude:
        hit[hit] = [not vetoed(tags[i]) for i in np.flatnonzero(hit)]
    if exclude_name_patterns:
        hit &= ~_contains_any(names, exclude_name_patterns)
    pos = np.flatnonzero(hit)
    out = _frames.geo_frame(
        {
            "osm_type": feats["osm_type"].to_numpy()[pos] if "osm_type" in feats else np.full(len(pos), "feature"),
            "osm_id": feats["osm_id"].to_numpy()[pos] if "osm_id" in feats else pos,
            "name": [t.get("name") or t.get("name:zh") or None for t in (tags[i] for i in pos)],
            "tags": [tags[i] for i in pos],
            "matched_by": np.where(by_tag[pos], "tag", "name"),
        },
        geoms[pos],
        crs,
    )
    return out


def feature_tags(source: OSMExtract, ids: Iterable[str]) -> list[dict[str, str] | None]:
    """The OSM tags of features given as ``"node/123"`` / ``"way/45"`` ids (a facility's
    ``facility_id``); None for an id the extract does not hold."""
    feats = source.features
    keys = [str(i) for i in ids]
    osm_id = feats["osm_id"].to_numpy()
    rows: Any = slice(None)
    if osm_id.dtype.kind in "iu":
        # only the features whose number one of the ids ends in can be named by it
        nums = []
        for key in keys:
            try:
                num = int(key.rpartition("/")[2])
            except ValueError:
                continue
            if -(2**63) <= num < 2**63:
                nums.append(num)
        rows = np.flatnonzero(np.isin(osm_id, np.array(nums, dtype=np.int64)))
    types = feats["osm_type"].to_numpy(dtype=object)[rows]
    tags = feats["tags"].to_numpy(dtype=object)[rows]
    lookup = {f"{t}/{i}": tg for t, i, tg in zip(types, osm_id[rows].tolist(), tags, strict=True)}
    return [lookup.get(k) for k in keys]


# -- road attributes ----------------------------------------------------------------------------

_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(m|metres|meters|米|ft|')?\s*$", re.IGNORECASE)
_GRADE_WORDS = {"高速": 0.0, "一级": 1.0, "二级": 2.0, "三级": 3.0, "四级": 4.0, "等外": 5.0}
_REF_CLASS = re.compile(r"^\s*([GSXYCZ])\s*\d")


def _first_number(value: Any, *, unit: bool) -> float:
    """The smallest number of an OSM value (``2``, ``2;3``, ``6.5 m``, ``20'``); NaN when none."""
    if not isinstance(value, str):
        return math.nan
    best = math.nan
    for part in value.split(";"):
        m = _NUMBER.match(part)
        if not m:
            continue
        x = float(m.group(1).replace(",", "."))
        if unit and (m.group(2) or "").lower() in ("ft", "'"):
            x *= 0.3048
        if not x > 0:
            continue
        best = x if math.isnan(best) else min(best, x)
    return best


def _grade(value: Any) -> float:
    if not isinstance(value, str):
        return math.nan
    v = value.strip()
    if v[:1].isdigit():
        return float(v[0])
    for word, g in _GRADE_WORDS.items():
        if word in v:
            return g
    return math.nan


def _length_m(value: Any) -> float:
    return _first_number(value, unit=True)


def _count(value: Any) -> float:
    return _first_number(value, unit=False)


def _ref_class(value: Any) -> str | None:
    m = _REF_CLASS.match(value) if isinstance(value, str) else None
    return m.group(1) if m else None


#: Parse each distinct tag value of :func:`road_attributes` once (False: row by row).
_PARSE_DISTINCT = True


def _per_value(values: pd.Series, parse: Callable[[Any], Any], *, dtype: Any = float) -> np.ndarray:
    """``parse`` of every value of a column, computed once per distinct value (a town's ways
    repeat a few lane counts, widths and road numbers)."""
    arr = values.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(arr)
    except TypeError:  # an unhashable value: row by row
        return np.array([parse(v) for v in arr], dtype=dtype)
    # a missing value (code -1) takes the last entry: what parse makes of None
    parsed = np.array([*(parse(v) for v in uniques), parse(None)], dtype=dtype)
    return parsed[codes]


def road_attributes(ways: pd.DataFrame) -> pd.DataFrame:
    """Lane count, carriageway width, Chinese grade and administrative class of highway ways.

    Parameters
    ----------
    ways : DataFrame
        :attr:`OSMExtract.ways` (or any frame with its tag columns).

    Returns
    -------
    DataFrame
        Index-aligned with ``ways``: ``osm_id``, ``highway``, ``name``, ``ref``,
        ``surface``, ``tracktype``, ``oneway`` (the raw tags), and the parsed
        ``lanes`` (float; the smallest of ``2;3``; NaN when not tagged or not a
        number), ``width_m`` (``width:carriageway``, else ``width``, in metres; feet
        converted; NaN when not tagged), ``grade_cn`` (``highway:CN``: 0 高速 … 4 四级,
        5 等外; NaN when not tagged) and ``ref_class`` (the letter of a Chinese road
        number: G 国道, S 省道, X 县道, Y 乡道, C 村道, Z 专用公路; None otherwise).
    """

    def col(key: str) -> pd.Series:
        return ways[key] if key in ways else pd.Series([None] * len(ways), index=ways.index, dtype=object)

    if _PARSE_DISTINCT:
        lengths = _per_value(col("width:carriageway"), _length_m)
        width = pd.Series(np.where(np.isnan(lengths), _per_value(col("width"), _length_m), lengths), index=ways.index)
        lanes = pd.Series(_per_value(col("lanes"), _count), index=ways.index)
        grade = pd.Series(_per_value(col("highway:CN"), _grade), index=ways.index)
        refs = pd.Series(_per_value(col("ref"), _ref_class, dtype=object), index=ways.index, dtype=object)
    else:
        width = col("width:carriageway").map(_length_m)
        width = width.where(width.notna(), col("width").map(_length_m))
        lanes = col("lanes").map(_count)
        grade = col("highway:CN").map(_grade)
        refs = pd.Series([_ref_class(v) for v in col("ref")], index=ways.index, dtype=object)
    return pd.DataFrame(
        {
            "osm_id": col("osm_id"),
            "highway": col("highway"),
            "name": col("name"),
            "ref": col("ref"),
            "surface": col("surface"),
            "tracktype": col("tracktype"),
            "oneway": col("oneway"),
            "lanes": lanes.astype(float),
            "width_m": width.astype(float),
            "grade_cn": grade.astype(float),
            "ref_class": refs,
        },
        index=ways.index,
    )
