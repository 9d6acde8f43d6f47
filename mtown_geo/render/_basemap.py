"""An offline basemap made from the data a run already has: no tile server.

:func:`basemap_from_osm` takes an :class:`~mtown_geo.sources.osm.OSMExtract` that was
read once for the indicators (never a file: drawing code reads nothing) and keeps what a
reader needs to find their way on a plan figure, cut to an area and projected to the
map's metric CRS:

* **streets** in road classes (expressway, arterial, secondary, branch, minor street,
  service road, path) with their names, drawn with widths and colours by class;
* **water**: water areas (``natural=water``, ``waterway=riverbank``, reservoirs) and
  waterway lines (rivers, canals, streams);
* **green land**: parks, gardens, pitches, grass, woods;
* **land use** (``landuse=*``) in the classes of GB 50137 (居住 residential, 商业
  commercial, 工业 industrial, 公共服务 public, 农林 farmland...), tinted in light
  versions of the standard's colours;
* **buildings** when the extract was read with them (``read_osm(..., buildings=True)``).

:func:`basemap_from_network` makes the street layer alone from a
:class:`~mtown_geo.network.Network` (for studies built on planners' centrelines).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .._errors import InputError
from ..crs import require_crs, require_projected
from ..network import Network
from ..sources.osm import OSMExtract

__all__ = [
    "LANDUSE_STYLES",
    "ROAD_CLASSES",
    "Basemap",
    "basemap_from_network",
    "basemap_from_osm",
    "road_class",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoadClass:
    """How a road class is drawn: casing and fill widths (points), colours, and whether it is named on maps."""

    key: str
    label: str
    fill: str
    casing: str
    width_pt: float
    casing_pt: float
    named: bool
    dashes: tuple[float, float] | None = None


#: Road classes from the most to the least important (OSM ``highway`` values in :data:`_HIGHWAY_CLASS`).
ROAD_CLASSES: tuple[RoadClass, ...] = (
    RoadClass("expressway", "快速路 expressway", "#f6c36b", "#9a6a1f", 3.0, 4.2, True),
    RoadClass("arterial", "主干路 arterial", "#fbe3a6", "#8a7a5a", 2.6, 3.6, True),
    RoadClass("secondary", "次干路 secondary", "#ffffff", "#7d7d7d", 2.1, 3.0, True),
    RoadClass("branch", "支路 branch", "#ffffff", "#8f8f8f", 1.5, 2.2, True),
    RoadClass("minor", "街巷 street", "#ffffff", "#a6a6a6", 0.9, 1.5, False),
    RoadClass("service", "内部路 service", "#ffffff", "#bdbdbd", 0.5, 0.9, False),
    RoadClass("path", "步行道 path", "#8c8c8c", "none", 0.45, 0.0, False, (2.0, 1.6)),
)

_HIGHWAY_CLASS: dict[str, str] = {
    "motorway": "expressway",
    "motorway_link": "expressway",
    "trunk": "expressway",
    "trunk_link": "expressway",
    "primary": "arterial",
    "primary_link": "arterial",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "branch",
    "tertiary_link": "branch",
    "residential": "minor",
    "unclassified": "minor",
    "living_street": "minor",
    "road": "minor",
    "pedestrian": "minor",
    "service": "service",
    "track": "path",
    "footway": "path",
    "path": "path",
    "cycleway": "path",
    "steps": "path",
    "bridleway": "path",
    "corridor": "path",
}

#: Land-use classes: (legend label, fill colour), tints of the GB 50137 land-use colours.
LANDUSE_STYLES: dict[str, tuple[str, str]] = {
    "residential": ("居住 residential", "#fbf1b8"),
    "commercial": ("商业 commercial", "#f7cfc9"),
    "public": ("公共服务 public", "#f3d3e8"),
    "industrial": ("工业 industrial", "#e3d4c3"),
    "transport": ("交通 transport", "#e4e4e4"),
    "farmland": ("农林 farmland", "#edf3d8"),
    "green": ("绿地 green", "#cfe6b6"),
    "water": ("水域 water", "#b7d8f0"),
}
WATER_LINE = "#5b9bd0"
BUILDING_FILL = "#d8d1ca"
BUILDING_EDGE = "#b3aaa1"

_LANDUSE_CLASS = {
    "residential": "residential",
    "commercial": "commercial",
    "retail": "commercial",
    "industrial": "industrial",
    "railway": "transport",
    "garages": "transport",
    "education": "public",
    "religious": "public",
    "institutional": "public",
    "civic_admin": "public",
    "military": "public",
    "farmland": "farmland",
    "farmyard": "farmland",
    "orchard": "farmland",
    "vineyard": "farmland",
    "greenhouse_horticulture": "farmland",
    "plant_nursery": "farmland",
    "aquaculture": "farmland",
    "grass": "green",
    "forest": "green",
    "meadow": "green",
    "village_green": "green",
    "recreation_ground": "green",
    "cemetery": "green",
    "allotments": "green",
    "reservoir": "water",
    "basin": "water",
}
_GREEN_LEISURE = {
    "park",
    "garden",
    "playground",
    "pitch",
    "nature_reserve",
    "golf_course",
    "recreation_ground",
    "common",
    "dog_park",
}
_PUBLIC_AMENITY = {"school", "kindergarten", "university", "college", "hospital", "clinic", "townhall", "library"}
_WATER_LINES = {"river": 1.6, "canal": 1.3, "stream": 0.7, "drain": 0.5, "ditch": 0.5}


def road_class(highway: Any) -> str | None:
    """The road class key of an OSM ``highway`` value (None for values not drawn)."""
    if not isinstance(highway, str):
        return None
    return _HIGHWAY_CLASS.get(highway)


def _empty(crs: CRS, columns: dict[str, Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({k: pd.Series([], dtype=v) for k, v in columns.items()}, geometry=[], crs=crs)


@dataclass(frozen=True, eq=False)
class Basemap:
    """Reference layers for maps, in one projected metric CRS.

    Attributes
    ----------
    crs : pyproj.CRS
        The layers' CRS (projected, metres).
    roads : GeoDataFrame
        ``road_class`` (a key of :data:`ROAD_CLASSES`), ``name`` (None where unnamed),
        line geometry.
    water : GeoDataFrame
        ``kind`` (``"area"`` or a waterway value such as ``"river"``), ``name``, geometry.
    green : GeoDataFrame
        ``name``, polygons of parks, gardens, pitches, grass and woods.
    landuse : GeoDataFrame
        ``landuse_class`` (a key of :data:`LANDUSE_STYLES`), polygons.
    buildings : GeoDataFrame
        Building footprints (empty when the source had none).
    extent : shapely geometry
        The area the layers were cut to.
    source : str
        Where the layers come from (for the map's margin).
    """

    crs: CRS
    roads: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    green: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    extent: shapely.Geometry
    source: str = "OpenStreetMap"
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"Basemap({len(self.roads):,} road pieces, {len(self.water):,} water, {len(self.green):,} green, "
            f"{len(self.landuse):,} land use, {len(self.buildings):,} buildings; {self.crs.name})"
        )

    def to_crs(self, crs: Any) -> Basemap:
        """The same layers in another projected CRS."""
        target = CRS.from_user_input(require_projected(crs, what="basemap CRS"))
        if target.equals(self.crs):
            return self
        ext = gpd.GeoSeries([self.extent], crs=self.crs).to_crs(target).iloc[0]
        return replace(
            self,
            crs=target,
            roads=self.roads.to_crs(target),
            water=self.water.to_crs(target),
            green=self.green.to_crs(target),
            landuse=self.landuse.to_crs(target),
            buildings=self.buildings.to_crs(target),
            extent=ext,
            _cache={},
        )

    def named_roads(self) -> gpd.GeoDataFrame:
        """Named roads of the classes named on maps, merged into one line per name and class."""
        key = "named"
        if key not in self._cache:
            named_classes = [c.key for c in ROAD_CLASSES if c.named]
            r = self.roads[self.roads["name"].notna() & self.roads["road_class"].isin(named_classes)]
            rows = []
            for (cls, name), g in r.groupby(["road_class", "name"], sort=False):
                merged = shapely.line_merge(shapely.union_all(g.geometry.to_numpy()))
                rows.append({"road_class": cls, "name": name, "geometry": merged})
            self._cache[key] = (
                gpd.GeoDataFrame(rows, geometry="geometry", crs=self.crs)
                if rows
                else _empty(self.crs, {"road_class": object, "name": object})
            )
        return self._cache[key]


def _area_geometry(area: Any, crs: CRS) -> shapely.Geometry:
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        require_crs(area, what="basemap area")
        geoms = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        return geoms.to_crs(crs).union_all()
    if isinstance(area, shapely.Geometry):
        return area
    raise InputError(f"area must be a GeoDataFrame, GeoSeries or shapely geometry in the map CRS, got {type(area).__name__}")


def basemap_from_osm(
    extract: Any,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry,
    crs: Any,
    margin_m: float = 0.0,
) -> Basemap:
    """The basemap of an area from an OSM extract already read.

    Parameters
    ----------
    extract : OSMExtract
        From :func:`mtown_geo.sources.read_osm` (read once by the caller; buildings
        are drawn when it was read with ``buildings=True``).
    area : GeoDataFrame, GeoSeries or shapely geometry
        The area to keep (e.g. the town boundary); a shapely geometry is taken to be in
        ``crs``. Layers are cut to its bounding box widened by ``margin_m``.
    crs : CRS
        Projected metric CRS of the maps (e.g. ``mtown_geo.crs.metric_crs(town)``).
    margin_m : float, optional
        Context kept around the area, in metres (default 0).

    Returns
    -------
    Basemap
    """
    if not isinstance(extract, OSMExtract):
        raise InputError(
            f"extract must be an OSMExtract (mtown_geo.sources.read_osm(path)), got {type(extract).__name__}; "
            "the basemap is made from data already read, not from a file"
        )
    target = CRS.from_user_input(require_projected(crs, what="basemap CRS"))
    if not (isinstance(margin_m, (int, float)) and np.isfinite(margin_m) and margin_m >= 0):
        raise InputError(f"margin_m must be a non-negative number of metres, got {margin_m!r}")
    geom = _area_geometry(area, target)
    if geom.is_empty:
        raise InputError("the basemap area is empty")
    x0, y0, x1, y1 = shapely.bounds(geom)
    box = shapely.box(x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m)
    w, s, e, n = (float(v) for v in gpd.GeoSeries([box], crs=target).to_crs(4326).total_bounds)
    ext = extract.subset((w, s, e, n))
    bounds = (x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m)
    # streets
    cls = ext.ways["highway"].map(_HIGHWAY_CLASS)
    keep = cls.notna().to_numpy().copy()
    if "area" in ext.ways:
        keep &= ext.ways["area"].to_numpy() != "yes"
    lines = ext.way_lines()[keep].to_crs(target)
    road_geoms = shapely.clip_by_rect(lines.to_numpy(), *bounds)
    names = ext.ways["name"].to_numpy()[keep]
    roads = gpd.GeoDataFrame(
        {"road_class": cls.to_numpy()[keep], "name": [n if isinstance(n, str) and n.strip() else None for n in names]},
        geometry=road_geoms,
        crs=target,
    )
    roads = roads[~roads.geometry.is_empty].reset_index(drop=True)
    order = {c.key: i for i, c in enumerate(ROAD_CLASSES)}
    roads = roads.iloc[np.argsort([-order[c] for c in roads["road_class"]], kind="stable")].reset_index(drop=True)
    # areas and waterway lines
    feats = ext.features
    water_rows: list[tuple[str, Any, Any]] = []
    green_rows: list[tuple[Any, Any]] = []
    land_rows: list[tuple[str, Any]] = []
    building_rows: list[Any] = []
    if len(feats):
        fgeoms = np.asarray(feats.to_crs(target).geometry.values)
        poly = np.isin(shapely.get_type_id(fgeoms), (3, 6))
        line = np.isin(shapely.get_type_id(fgeoms), (1, 5))
        for i, (tags, name) in enumerate(zip(feats["tags"].to_numpy(), feats["name"].to_numpy(), strict=True)):
            g = fgeoms[i]
            if line[i]:
                w = tags.get("waterway")
                if w in _WATER_LINES:
                    water_rows.append((w, name, g))
                continue
            if not poly[i]:
                continue
            if tags.get("natural") == "water" or tags.get("waterway") == "riverbank" or "water" in tags:
                water_rows.append(("area", name, g))
            elif tags.get("leisure") in _GREEN_LEISURE or tags.get("natural") in ("wood", "scrub", "grassland"):
                green_rows.append((name, g))
            elif "landuse" in tags:
                lc = _LANDUSE_CLASS.get(tags["landuse"])
                if lc == "water":
                    water_rows.append(("area", name, g))
                elif lc == "green":
                    green_rows.append((name, g))
                elif lc is not None:
                    land_rows.append((lc, g))
            elif tags.get("amenity") in _PUBLIC_AMENITY:
                land_rows.append(("public", g))
            elif "building" in tags:
                building_rows.append(g)

    def clip(geoms: list[Any]) -> np.ndarray:
        arr = np.asarray(geoms, dtype=object) if geoms else np.empty(0, dtype=object)
        return shapely.clip_by_rect(arr, *bounds) if len(arr) else arr

    water = gpd.GeoDataFrame(
        {"kind": [r[0] for r in water_rows], "name": [r[1] for r in water_rows]},
        geometry=clip([r[2] for r in water_rows]),
        crs=target,
    )
    green = gpd.GeoDataFrame({"name": [r[0] for r in green_rows]}, geometry=clip([r[1] for r in green_rows]), crs=target)
    landuse = gpd.GeoDataFrame({"landuse_class": [r[0] for r in land_rows]}, geometry=clip([r[1] for r in land_rows]), crs=target)
    buildings = gpd.GeoDataFrame(geometry=clip(building_rows), crs=target)
    layers = [g[~g.geometry.is_empty].reset_index(drop=True) for g in (water, green, landuse, buildings)]
    bm = Basemap(
        crs=target,
        roads=roads,
        water=layers[0],
        green=layers[1],
        landuse=layers[2],
        buildings=layers[3],
        extent=shapely.box(*bounds),
    )
    log.debug("basemap: %r", bm)
    return bm


def basemap_from_network(network: Any) -> Basemap:
    """A basemap of the streets alone, from a :class:`~mtown_geo.network.Network` (``highway`` and ``name`` columns)."""
    if not isinstance(network, Network):
        raise InputError(f"expected a Network, got {type(network).__name__}")
    e = network.edges
    hw = e["highway"] if "highway" in e else pd.Series([None] * len(e), index=e.index)
    cls = hw.map(lambda h: road_class(h) or "minor").to_numpy()
    names = e["name"].to_numpy() if "name" in e else np.full(len(e), None, dtype=object)
    roads = gpd.GeoDataFrame(
        {"road_class": cls, "name": [n if isinstance(n, str) and n.strip() else None for n in names]},
        geometry=e.geometry.to_numpy(),
        crs=network.crs,
    )
    crs = CRS.from_user_input(network.crs)
    empty = _empty(crs, {})
    return Basemap(
        crs=crs,
        roads=roads,
        water=_empty(crs, {"kind": object, "name": object}),
        green=_empty(crs, {"name": object}),
        landuse=_empty(crs, {"landuse_class": object}),
        buildings=empty,
        extent=shapely.box(*e.total_bounds),
        source="road centrelines",
    )
