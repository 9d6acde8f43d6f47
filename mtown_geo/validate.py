"""Checking a town's inputs before any computation.

:func:`validate` looks at every input layer a study uses — boundaries, road network,
facilities, residential land, population raster — and returns one
:class:`ValidationReport` of the problems it finds: missing or geographic CRSs where
metres are needed, empty layers, invalid geometries (repaired with
``shapely.make_valid`` and listed), layers that miss the town, what the topology repair
of road centrelines changed and what it left open (near-misses, cut-off pieces, bridges
without levels), facilities far from any road, duplicate facilities, points that look
shifted (GCJ-02/BD-09), population rasters that miss the town or have no nodata value. Every problem says what is
wrong, where, and how to fix it, with a severity:

* ``error`` — a result computed from these inputs would be wrong or impossible;
* ``warning`` — the result is computed but may mislead; read the message;
* ``info`` — worth knowing (what was repaired or assumed).

Examples
--------
>>> import mtown_geo as mg
>>> report = mg.validate.validate(boundary=town, network=net, facilities=fac)  # doctest: +SKIP
>>> print(report.to_text())  # doctest: +SKIP
>>> report.raise_for_errors()  # doctest: +SKIP
>>> town = report.layers["boundary"]  # repaired where needed  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import textwrap
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.windows import from_bounds
from shapely.errors import GEOSException

from . import _frames, _geom, _words, demand
from . import crs as _crs
from ._errors import CoordinateShiftWarning, InputError, MtownGeoError, MtownGeoWarning, RepairWarning
from ._lines import LineNetwork, lines_to_network
from .network import Network
from .sources.osm import is_osm_file
from .sources.vector import read_vector
from .standards import Profile, resolve

__all__ = ["CHECKS", "Problem", "ValidationReport", "render_text", "validate"]

log = logging.getLogger(__name__)

Severity = Literal["error", "warning", "info"]

#: The checks :func:`validate` runs, by the code that names them in the report (pass
#: codes in ``skip=`` to leave checks out).
CHECKS: dict[str, str] = {
    "not_a_layer": "the input is not a layer, or its file cannot be read",
    "empty": "the layer has no features",
    "no_crs": "the layer has no CRS",
    "geographic_crs": "the layer is in degrees where metres are needed",
    "crs_mismatch": "the coordinates do not fit the layer's CRS",
    "missing_geometry": "features without a geometry",
    "bad_coordinates": "geometries with NaN or infinite coordinates",
    "geometry_type": "geometries of the wrong type for the layer",
    "invalid_geometry": "invalid geometries (repaired with shapely.make_valid)",
    "outside_town": "the layer does not overlap the town",
    "partly_outside": "part of the layer lies outside the town",
    "network_coverage": "the network does not cover all of the town",
    "network_pieces": "the network falls into pieces",
    "network_repairs": "what the topology repair of road centrelines changed (crossings split, ends snapped...)",
    "near_miss": "centreline ends left open just beyond the snap tolerance of another line",
    "bridge_classes": "bridge or elevated-road classes in centrelines without a level or bridge column",
    "no_category": "facilities without a category column or with unknown categories",
    "far_from_road": "facilities farther from any road than the snap distance",
    "duplicate_facility": "facilities of one category within a few metres of each other",
    "coordinate_shift": "points that look shifted (GCJ-02 or BD-09) against the roads",
    "raster_unreadable": "the population raster cannot be read",
    "raster_no_crs": "the population raster has no CRS",
    "raster_outside_town": "the population raster misses the town",
    "raster_partial": "the population raster covers only part of the town",
    "raster_no_nodata": "the population raster has no nodata value",
    "raster_values": "negative or no population inside the town",
    "population": "population counted inside the town",
}

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_POLYGON_LAYERS = ("boundary", "builtup", "residential")
_METRIC_HINT = (
    "nothing to do for the toolkit's own functions; to measure the layer yourself, project it first with "
    "mtown_geo.crs.to_metric(gdf)"
)


@dataclass(frozen=True)
class Problem:
    """One problem with an input.

    Attributes
    ----------
    severity : {"error", "warning", "info"}
    layer : str
        The input it concerns (``boundary``, ``facilities``...).
    check : str
        The check that found it (a key of :data:`CHECKS`).
    message : str
        What is wrong.
    where : str
        Where: rows (file rows or index labels), names, coordinates, extents.
    fix : str
        How to fix it.
    rows : tuple
        Index labels of the rows concerned (empty when the whole layer is concerned).
    """

    severity: Severity
    layer: str
    check: str
    message: str
    where: str = ""
    fix: str = ""
    rows: tuple[Any, ...] = ()


@dataclass
class ValidationReport:
    """The problems found in a town's inputs, and the inputs as they should be used.

    Attributes
    ----------
    problems : list of Problem
        Errors first, then warnings, then information.
    repaired : dict of str to GeoDataFrame
        The layers in which something was repaired (invalid geometries made valid),
        by input name.
    layers : dict of str to GeoDataFrame or Network
        Every input read, repaired where needed (files given by path are read here).
    """

    problems: list[Problem] = field(default_factory=list)
    repaired: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    layers: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """Whether no error was found (warnings may remain)."""
        return not self.errors

    def table(self) -> pd.DataFrame:
        """Deprecated name of :meth:`to_frame`."""
        _frames.renamed("table", "to_frame", "ValidationReport")
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:
        """The problems as a table: severity, layer, check, message, where, fix."""
        cols = ["severity", "layer", "check", "message", "where", "fix"]
        return pd.DataFrame([{c: getattr(p, c) for c in cols} for p in self.problems], columns=cols)

    def raise_for_errors(self) -> None:
        """Raise :class:`~mtown_geo.InputError` listing every error; do nothing when there is none."""
        errs = self.errors
        if not errs:
            return
        lines = [f"{len(errs)} problem{'s' if len(errs) != 1 else ''} in the inputs must be fixed first:"]
        for p in errs:
            where = f" ({p.where})" if p.where else ""
            fix = f" Fix: {p.fix}" if p.fix else ""
            lines.append(f"- {p.layer}: {p.message}{where}.{fix}")
        raise InputError("\n".join(lines))

    def to_text(self, *, width: int = 100) -> str:
        """The report as plain text (see :func:`render_text`)."""
        return render_text(self, width=width)

    def __str__(self) -> str:
        return self.to_text()


def render_text(report: ValidationReport, *, width: int = 100) -> str:
    """Render a validation report as a plain-text table for a terminal.

    Parameters
    ----------
    report : ValidationReport
    width : int, optional
        Line width in characters (default 100); long messages wrap.

    Returns
    -------
    str
        A summary line, then one block per problem: severity, layer and check on the
        first line, the message, ``where:`` and ``fix:`` lines indented below.
    """
    if not isinstance(report, ValidationReport):
        raise InputError(f"render_text needs a ValidationReport, got {type(report).__name__}")
    counts = {s: sum(p.severity == s for p in report.problems) for s in ("error", "warning", "info")}
    head = (
        f"Input check: {counts['error']} error{'s' if counts['error'] != 1 else ''}, "
        f"{counts['warning']} warning{'s' if counts['warning'] != 1 else ''}, {counts['info']} note"
        f"{'s' if counts['info'] != 1 else ''}"
    )
    if not report.problems:
        return head + " — the inputs look fine."
    layer_w = max(len(p.layer) for p in report.problems)
    check_w = max(len(p.check) for p in report.problems)
    indent = " " * (8 + layer_w + 2 + check_w + 2)
    body_w = max(30, width - len(indent))
    out = [head, ""]
    for p in report.problems:
        first = f"{p.severity.upper():<8}{p.layer:<{layer_w}}  {p.check:<{check_w}}  "
        msg = textwrap.wrap(p.message, body_w) or [""]
        out.append(first + msg[0])
        out.extend(indent + line for line in msg[1:])
        for label, text in (("where: ", p.where), ("fix:   ", p.fix)):
            if text:
                wrapped = textwrap.wrap(text, body_w - len(label)) or [""]
                out.append(indent + label + wrapped[0])
                out.extend(indent + " " * len(label) + line for line in wrapped[1:])
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


class _Collector:
    def __init__(self, skip: set[str]) -> None:
        self.problems: list[Problem] = []
        self.skip = skip

    def add(
        self,
        severity: Severity,
        layer: str,
        check: str,
        message: str,
        *,
        where: str = "",
        fix: str = "",
        rows: Iterable[Any] = (),
    ) -> None:
        if check in self.skip:
            return
        self.problems.append(Problem(severity, layer, check, message, where, fix, tuple(rows)))

    def wants(self, check: str) -> bool:
        return check not in self.skip


def _read(value: Any, name: str, out: _Collector) -> gpd.GeoDataFrame | None:
    """A layer from a GeoDataFrame, GeoSeries or file path; None (and an error) when unusable."""
    if isinstance(value, gpd.GeoDataFrame):
        return value
    if isinstance(value, gpd.GeoSeries):
        return gpd.GeoDataFrame(geometry=value)
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.exists():
            out.add("error", name, "not_a_layer", f"the file {path} does not exist", fix="check the path")
            return None
        try:
            gdf: gpd.GeoDataFrame = read_vector(path)
            return gdf
        except (MtownGeoError, OSError, ValueError, RuntimeError) as exc:
            out.add("error", name, "not_a_layer", f"{path.name} cannot be read as a vector layer: {exc}", fix="open it in QGIS")
            return None
    out.add(
        "error",
        name,
        "not_a_layer",
        f"expected a GeoDataFrame or the path of a vector file, got {type(value).__name__}",
        fix="read the file with geopandas.read_file or mtown_geo.sources",
    )
    return None


def _labels(index: pd.Index, pos: np.ndarray, *, limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in index[pos[:limit]])
    more = f" and {len(pos) - limit} more" if len(pos) > limit else ""
    return f"rows {shown}{more}"


def _looks_like_degrees(bounds: np.ndarray) -> bool:
    return bool(np.all(np.abs(bounds[[0, 2]]) <= 180.0) and np.all(np.abs(bounds[[1, 3]]) <= 90.0))


def _projects_to_earth(coords: np.ndarray, crs: CRS) -> bool:
    """Whether projected coordinates map to real longitudes/latitudes."""
    corners = np.array(
        [
            [coords[:, 0].min(), coords[:, 1].min()],
            [coords[:, 0].max(), coords[:, 1].max()],
            [coords[:, 0].min(), coords[:, 1].max()],
            [coords[:, 0].max(), coords[:, 1].min()],
        ]
    )
    try:
        ll = gpd.GeoSeries(shapely.points(corners), crs=crs).to_crs(4326)
    except Exception:  # pyproj refuses absurd input in many ways
        return False
    x, y = ll.x.to_numpy(), ll.y.to_numpy()
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(x).all() and np.isfinite(y).all() and (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all())


def _check_layer(name: str, gdf: gpd.GeoDataFrame, out: _Collector) -> tuple[gpd.GeoDataFrame | None, bool]:
    """Generic checks of one vector layer: (layer to use, repaired?). None when unusable.

    The steps: rows and geometries present (:func:`_emptiness`), a CRS its coordinates fit
    (:func:`_has_crs`, :func:`_crs_checks`), the right geometry types (:func:`_geometry_types`), invalid
    geometries repaired and listed (:func:`_repair`).
    """
    if gdf.empty:
        out.add("error", name, "empty", f"the {name} layer has no features", fix="check the file, layer name or filter")
        return None, False
    has_crs = _has_crs(name, gdf, out)
    missing = _emptiness(name, gdf, out)
    if missing is None:
        return None, False
    geoms = np.asarray(gdf.geometry.values)
    bad_pos = _bad_coordinates(name, gdf, geoms, out)
    usable = has_crs and not len(bad_pos) and _crs_checks(name, gdf, geoms, missing, out)
    usable = _geometry_types(name, gdf, geoms, missing, out) and usable
    invalid = ~missing & ~shapely.is_valid(geoms)
    invalid[bad_pos] = False
    repaired = bool(invalid.any())
    if repaired:
        gdf = _repair(name, gdf, np.flatnonzero(invalid), out)
    if missing.any():
        gdf = gdf.loc[~missing]
    return (gdf if usable else None), repaired


def _emptiness(name: str, gdf: gpd.GeoDataFrame, out: _Collector) -> np.ndarray | None:
    """The rows without a geometry (warned), or None when the layer has no feature with one (an error)."""
    geoms = np.asarray(gdf.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.all():
        out.add("error", name, "missing_geometry", f"no feature of the {name} layer has a geometry", fix="check the file")
        return None
    if missing.any():
        pos = np.flatnonzero(missing)
        out.add(
            "warning",
            name,
            "missing_geometry",
            f"{len(pos)} of {_words.count(len(gdf), 'feature', 'features')} {_words.agree(len(pos), 'has', 'have')} no geometry "
            f"and {_words.agree(len(pos), 'is', 'are')} left out",
            where=_labels(gdf.index, pos),
            fix="delete them or draw their geometry",
            rows=gdf.index[pos],
        )
    return np.asarray(missing, dtype=bool)


def _bad_coordinates(name: str, gdf: gpd.GeoDataFrame, geoms: np.ndarray, out: _Collector) -> np.ndarray:
    """Positions of geometries with NaN or infinite coordinates (an error when any)."""
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    bad_pos = np.unique(which[~np.isfinite(coords).all(axis=1)]) if len(coords) else np.empty(0, dtype=np.int64)
    if len(bad_pos):
        out.add(
            "error",
            name,
            "bad_coordinates",
            f"{_words.count(len(bad_pos), 'geometry has', 'geometries have')} NaN or infinite coordinates",
            where=_labels(gdf.index, bad_pos),
            fix="fix or delete these rows (a table with empty coordinate cells?)",
            rows=gdf.index[bad_pos],
        )
    return bad_pos


def _has_crs(name: str, gdf: gpd.GeoDataFrame, out: _Collector) -> bool:
    """Whether the layer has a CRS (an error naming the fix when not)."""
    if gdf.crs is None:
        out.add(
            "error",
            name,
            "no_crs",
            f"the {name} layer has no CRS",
            where="whole layer",
            fix="set the CRS its coordinates are in: gdf.set_crs(4326) for longitude/latitude, gdf.set_crs(4549) for "
            "CGCS2000 Gauss–Krüger 120°E; Amap/Baidu coordinates need mtown_geo.crs.to_wgs84",
        )
        return False
    return True


def _crs_checks(name: str, gdf: gpd.GeoDataFrame, geoms: np.ndarray, missing: np.ndarray, out: _Collector) -> bool:
    """The coordinates fit the layer's CRS (an error when not); a geographic polygon layer is noted. Whether usable."""
    coords = shapely.get_coordinates(geoms)
    finite = coords[np.isfinite(coords).all(axis=1)] if len(coords) else coords
    if not len(finite):
        return True
    bounds = np.array([finite[:, 0].min(), finite[:, 1].min(), finite[:, 0].max(), finite[:, 1].max()])
    crs = CRS.from_user_input(gdf.crs)
    problem = _crs_mismatch(name, crs, bounds, finite)
    if problem:
        message, fix = problem
        out.add("error", name, "crs_mismatch", message, where="whole layer", fix=fix)
        return False
    if crs.is_geographic and name in _POLYGON_LAYERS:
        target = _crs.metric_crs(gdf.loc[~missing] if missing.any() else gdf)
        out.add(
            "info",
            name,
            "geographic_crs",
            f"the {name} layer is in {crs.name}, in degrees; its areas and distances are measured in "
            f"{target.name} (EPSG:{target.to_epsg()})",
            where="whole layer",
            fix=_METRIC_HINT,
        )
    return True


def _crs_mismatch(name: str, crs: CRS, bounds: np.ndarray, finite: np.ndarray) -> tuple[str, str] | None:
    """(message, fix) when the coordinates cannot be in the layer's CRS, else None."""
    if crs.is_geographic and not _looks_like_degrees(bounds):
        return (
            f"the {name} layer says it is in {crs.name} (degrees) but its coordinates reach "
            f"x {bounds[0]:.0f}…{bounds[2]:.0f}, y {bounds[1]:.0f}…{bounds[3]:.0f}: they are metres",
            "set the real CRS with gdf.set_crs(<EPSG, e.g. 4549>, allow_override=True)",
        )
    if crs.is_projected and _looks_like_degrees(bounds) and max(abs(bounds[2] - bounds[0]), abs(bounds[3] - bounds[1])) < 5:
        return (
            f"the {name} layer says it is in {crs.name} (metres) but its coordinates "
            f"(x {bounds[0]:.4f}…{bounds[2]:.4f}, y {bounds[1]:.4f}…{bounds[3]:.4f}) look like longitude/latitude",
            "set the real CRS with gdf.set_crs(4326, allow_override=True)",
        )
    if crs.is_projected and not _projects_to_earth(finite, crs):
        return (
            f"the {name} layer's coordinates (x {bounds[0]:.4g}…{bounds[2]:.4g}, y {bounds[1]:.4g}…{bounds[3]:.4g}) "
            f"do not fall on the Earth in its CRS, {crs.name}",
            "set the CRS the coordinates are really in with gdf.set_crs(..., allow_override=True)",
        )
    return None


def _geometry_types(name: str, gdf: gpd.GeoDataFrame, geoms: np.ndarray, missing: np.ndarray, out: _Collector) -> bool:
    """Polygon layers hold polygons (an error otherwise); facilities lines are warned. Whether usable."""
    present = ~missing
    types = shapely.get_type_id(geoms)
    if name in _POLYGON_LAYERS:
        wrong = present & ~np.isin(types, (3, 6))
        if wrong.any():
            pos = np.flatnonzero(wrong)
            kinds = sorted(set(gdf.geometry.iloc[pos].geom_type))
            out.add(
                "error",
                name,
                "geometry_type",
                f"{_words.count(len(pos), 'feature', 'features')} of the {name} layer {_words.agree(len(pos), 'is', 'are')} "
                f"{', '.join(kinds)}, not polygons",
                where=_labels(gdf.index, pos),
                fix="give polygons (a boundary traced as a line can be closed and polygonised in QGIS)",
                rows=gdf.index[pos],
            )
            return False
    elif name == "facilities":
        wrong = present & ~np.isin(types, (0, 3, 4, 6))
        if wrong.any():
            pos = np.flatnonzero(wrong)
            out.add(
                "warning",
                name,
                "geometry_type",
                f"{_words.count(len(pos), 'facility is a line: it is', 'facilities are lines: they are')} reached through a point on "
                f"{_words.agree(len(pos), 'it', 'them')}",
                where=_labels(gdf.index, pos),
                fix="give facilities as points or polygons",
                rows=gdf.index[pos],
            )
    return True


def _repair(name: str, gdf: gpd.GeoDataFrame, pos: np.ndarray, out: _Collector) -> gpd.GeoDataFrame:
    """The layer with its invalid rows (positions ``pos``) repaired as every run repairs them, listed in ``out``.

    Polygons go through :func:`mtown_geo._geom.valid_polygons` (``shapely.make_valid``, the
    polygonal part kept), so the layer validate returns is the one the indicators measure;
    other geometries are made valid as they are.
    """
    geoms = np.asarray(gdf.geometry.values)
    fixed = geoms.copy()
    polygonal = np.isin(shapely.get_type_id(geoms[pos]), (3, 6))
    area = ""
    if polygonal.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RepairWarning)  # the report lists them
            fixed_poly, repairs = _geom.valid_polygons(gdf.iloc[pos[polygonal]], what=f"{name} layer", drop_empty=True)
        fixed[pos[polygonal]] = fixed_poly
        before, after = float(repairs["area_before_m2"].sum()), float(repairs["area_after_m2"].sum())
        area = f"; their area {before:,.0f} m² before, {after:,.0f} m² after"
    if (~polygonal).any():
        fixed[pos[~polygonal]] = shapely.make_valid(geoms[pos[~polygonal]])
    reasons = [shapely.is_valid_reason(g) for g in geoms[pos[:5]]]
    out.add(
        "warning",
        name,
        "invalid_geometry",
        f"{len(pos)} of {_words.count(len(gdf), 'geometry', 'geometries')} of the {name} layer "
        f"{_words.agree(len(pos), 'is', 'are')} invalid ({'; '.join(reasons)}{'; …' if len(pos) > 5 else ''}; coordinates in the "
        f"layer's CRS); {_words.agree(len(pos), 'it was', 'they were')} repaired with shapely.make_valid{area}",
        where=_labels(gdf.index, pos),
        fix="use report.repaired[...] (or report.layers[...]), or fix them in QGIS (Vector › Geometry Tools › Fix Geometries)",
        rows=gdf.index[pos],
    )
    return gdf.set_geometry(gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs))


# ---------------------------------------------------------------------------------------
# Layer-specific checks
# ---------------------------------------------------------------------------------------


def _overlap(name: str, gdf: gpd.GeoDataFrame, town: shapely.Geometry, town_name: str, metric: CRS, out: _Collector) -> None:
    geoms = gdf.to_crs(metric).geometry
    hits = geoms.intersects(town).to_numpy()
    if not hits.any():
        b = gdf.to_crs(4326).total_bounds
        out.add(
            "error",
            name,
            "outside_town",
            f"no feature of the {name} layer overlaps the {town_name}",
            where=f"the layer spans lon {b[0]:.4f}…{b[2]:.4f}, lat {b[1]:.4f}…{b[3]:.4f}",
            fix="check that the layer belongs to this town and that its CRS is right (a wrong CRS moves it far away)",
        )
        return
    if name in ("builtup", "residential"):
        area = float(geoms.union_all().area)
        inside = float(geoms.union_all().intersection(town).area)
        if area > 0 and inside / area < 0.99:
            share = 1.0 - inside / area
            out.add(
                "warning" if name == "builtup" else "info",
                name,
                "partly_outside",
                f"{share:.1%} of the {name} area lies outside the {town_name}",
                where=f"{(area - inside) / 1e4:.2f} ha outside",
                fix="clip it to the town boundary, or check that both boundaries are of the same date and source"
                if name == "builtup"
                else "only the part inside the town counts",
            )


def _network_checks(net: Network, town: shapely.Geometry | None, metric: CRS | None, out: _Collector) -> None:
    if town is not None and metric is not None and out.wants("network_coverage"):
        nodes = net.nodes.geometry
        hull = shapely.convex_hull(shapely.multipoints(np.asarray(nodes.values)))
        hull_m = gpd.GeoSeries([hull], crs=net.crs).to_crs(metric).iloc[0]
        covered = float(town.intersection(hull_m).area / town.area) if town.area > 0 else 1.0
        if covered == 0:
            out.add(
                "error",
                "network",
                "outside_town",
                "the road network does not reach the town",
                where=f"network source {net.source or '?'}",
                fix="build the network from an extract that covers the town (mtown_geo.network.from_osm(..., boundary=town))",
            )
        elif covered < 0.95:
            out.add(
                "warning",
                "network",
                "network_coverage",
                f"the road network covers only {covered:.0%} of the town (by its outline)",
                where="the parts of the town beyond the network's outermost nodes",
                fix="use a larger OSM extract or a larger buffer_m when building the network",
            )
    if net.n_components > 1:
        comps = net.components()
        small = comps.iloc[1:]
        comp = net.component
        first_node = pd.Series(np.arange(len(comp))).groupby(comp).first()
        ll = gpd.GeoSeries(net.nodes.geometry.to_numpy()[first_node.loc[small.index].to_numpy()], crs=net.crs).to_crs(4326)
        shown = "; ".join(
            f"{km * 1000:.0f} m at {x:.6f}, {y:.6f}"
            for km, x, y in zip(small["length_km"].to_numpy()[:6], ll.x.to_numpy()[:6], ll.y.to_numpy()[:6], strict=True)
        )
        own_lines = isinstance(net, LineNetwork)
        out.add(
            # a planner's own centrelines should be one piece; OSM extracts always have stray bits
            "warning" if own_lines else "info",
            "network",
            "network_pieces",
            f"the {net.mode} network falls into {net.n_components} pieces; the largest holds "
            f"{comps['length_km'].iloc[0] / comps['length_km'].sum():.0%} of its length",
            where=f"{_words.count(len(small), 'smaller piece', 'smaller pieces')}, {small['length_km'].sum():.1f} km in all (length, lon, lat): {shown}"
            + (f"; and {len(small) - 6} more" if len(small) > 6 else ""),
            fix="pieces cut off from the rest serve only what lies on them; check for missing links (bridges, gates)"
            + ("; near-misses (listed) may be the gaps" if own_lines else ""),
        )
    if isinstance(net, LineNetwork):
        _repair_checks(net, out)


def _lonlat(points: gpd.GeoSeries) -> list[str]:
    ll = points.to_crs(4326)
    return [f"{x:.6f}, {y:.6f}" for x, y in zip(ll.x.to_numpy(), ll.y.to_numpy(), strict=True)]


def _repair_checks(net: LineNetwork, out: _Collector) -> None:
    """What the topology repair of centrelines did, and what it left open."""
    rep = net.repairs
    loc = rep.locations
    summary = rep.summary()
    changed = {k: int(summary[k]) for k in ("crossing", "t_junction", "snapped_end", "duplicate", "zero_length") if summary[k]}
    if changed or rep.grade_separated or rep.unknown_classes or rep.excluded_classes:
        words = {
            "crossing": "crossings split and joined",
            "t_junction": "ends joined to the line they touch",
            "snapped_end": "ends moved onto a line they missed by at most the snap tolerance",
            "duplicate": "lines drawn twice dropped",
            "zero_length": "lines of no length dropped",
        }
        parts = [f"{n} {words[k]}" for k, n in changed.items()]
        if rep.grade_separated:
            parts.append(f"{rep.grade_separated} crossings on different levels kept apart")
        where = []
        for kind in (*changed, "grade_separated"):
            at = loc[loc["kind"] == kind]
            if len(at):
                where.append(f"{kind}: " + "; ".join(_lonlat(at.geometry.iloc[:3])) + (" …" if len(at) > 3 else ""))
        if rep.unknown_classes:
            parts.append(f"road classes not known (base speed): {rep.unknown_classes}")
        if rep.excluded_classes:
            parts.append(f"left out for the {net.mode} mode: {rep.excluded_classes}")
        out.add(
            "info",
            "network",
            "network_repairs",
            f"the road centrelines ({rep.n_lines} lines) were repaired: " + "; ".join(parts),
            where=" | ".join(where),
            fix="review every repair in QGIS: network.repairs.locations.to_file('repairs.gpkg')",
            rows=tuple(loc.loc[loc["kind"].isin(list(changed)), "line"].unique()),
        )
    near = loc[loc["kind"] == "near_miss"].sort_values("dist_m")
    if len(near):
        places = _lonlat(near.geometry)
        shown = "; ".join(
            f"line {r.line} misses line {r.other} by {r.dist_m:.2f} m at {pl}"
            for r, pl in zip(near.iloc[:8].itertuples(), places[:8], strict=False)
        )
        out.add(
            "warning",
            "network",
            "near_miss",
            (
                f"1 line end stops {near['dist_m'].iat[0]:.2f} m short of another line"
                if len(near) == 1
                else f"{len(near)} line ends stop {near['dist_m'].min():.2f}–{near['dist_m'].max():.2f} m short of another line"
            )
            + f", beyond the snap tolerance of {rep.snap_tol_m:g} m: left open, such a gap can cut the network in two",
            where=shown + (f"; and {len(near) - 8} more" if len(near) > 8 else ""),
            fix=f"join them in the lines, or raise network.snap_tol_m (to {math.ceil(near['dist_m'].max() * 10) / 10:g} m "
            "closes all of them) if every one is a real junction",
            rows=tuple(near["line"]),
        )
    if rep.bridges_without_levels:
        classes = ", ".join(f"{k}: {n} lines" for k, n in rep.bridge_classes.items())
        out.add(
            "warning",
            "network",
            "bridge_classes",
            f"the centrelines have classes that mark bridges or elevated roads ({classes}) but no level or bridge "
            f"column: such lines are joined to every street they cross ({rep.bridge_crossings_joined} crossings "
            "joined), so a viaduct joins the streets below it",
            where="whole layer",
            fix="name the layer's level or bridge column (network.level_col / network.bridge_col in the study file)",
        )


def _road_distances(network: Network | gpd.GeoDataFrame, geoms: gpd.GeoSeries) -> np.ndarray:
    if isinstance(network, Network):
        tree, crs = network.edge_tree, network.crs
    else:
        crs = _crs.metric_crs(network) if not CRS.from_user_input(network.crs).is_projected else CRS.from_user_input(network.crs)
        tree = shapely.STRtree(np.asarray(network.to_crs(crs).geometry.values))
    g = np.asarray(geoms.to_crs(crs).values)
    idx, dist = tree.query_nearest(g, return_distance=True, all_matches=False)
    out = np.full(len(g), np.inf)
    out[idx[0]] = dist
    return out


def _facility_checks(
    fac: gpd.GeoDataFrame,
    network: Network | gpd.GeoDataFrame | None,
    profile: Profile,
    max_snap_dist_m: float,
    duplicate_dist_m: float,
    out: _Collector,
    reference: gpd.GeoDataFrame | None = None,
) -> None:
    names = fac["name"] if "name" in fac else pd.Series([None] * len(fac), index=fac.index)
    has_cat = "category" in fac
    if not has_cat:
        out.add(
            "error",
            "facilities",
            "no_category",
            "the facility layer has no 'category' column",
            where="whole layer",
            fix="classify it: mtown_geo.facilities.classify (OSM tags) or mtown_geo.sources.tables.read_facility_table",
        )
    else:
        cats = fac["category"].astype("string")
        unknown = cats.isna() | ~cats.isin(list(profile.categories))
        if unknown.any():
            pos = np.flatnonzero(unknown.to_numpy())
            values = sorted({str(v) for v in cats.iloc[pos].fillna("(empty)")})
            described = []
            for v in values[:8]:
                known = profile.match_category(v) if v != "(empty)" else None
                close = profile.similar_categories(v) if known is None and v != "(empty)" else []
                if known is not None:
                    described.append(f"{v} (= {known}: a study file accepts it, functions need the id)")
                elif close:
                    described.append(f"{v} (did you mean {' or '.join(close)}?)")
                else:
                    described.append(v)
            out.add(
                "warning",
                "facilities",
                "no_category",
                f"{_words.count(len(pos), 'facility has', 'facilities have')} a category the profile {profile.name!r} does not know "
                f"as an id ({'; '.join(described)}{'…' if len(values) > 8 else ''}): "
                f"{_words.agree(len(pos), 'it counts', 'they count')} for nothing",
                where=_labels(fac.index, pos),
                fix=f"use the profile's category ids ({', '.join(list(profile.categories)[:6])}…); "
                "profile.resolve_category(name) gives the id of a Chinese name or alias",
                rows=fac.index[pos],
            )
    metric = _crs.metric_crs(fac)
    fac_m = fac.to_crs(metric)
    if network is not None and out.wants("far_from_road"):
        dist = _road_distances(network, fac.geometry)
        far = dist > max_snap_dist_m
        if far.any():
            pos = np.flatnonzero(far)
            where = "; ".join(
                f"{fac.index[p]}: {names.iloc[p] if isinstance(names.iloc[p], str) else '(no name)'} {dist[p]:.0f} m"
                for p in pos[:6]
            )
            out.add(
                "warning",
                "facilities",
                "far_from_road",
                f"{len(pos)} of {_words.count(len(fac), 'facility', 'facilities')} {_words.agree(len(pos), 'lies', 'lie')} farther "
                f"than {max_snap_dist_m:.0f} m from any road of the "
                f"network (up to {np.nanmax(np.where(np.isfinite(dist[pos]), dist[pos], np.nan)):.0f} m) and will not be reached",
                where=where + (f"; and {len(pos) - 6} more" if len(pos) > 6 else ""),
                fix="check their coordinates and CRS (GCJ-02/BD-09?), or build the network with a larger buffer_m",
                rows=fac.index[pos],
            )
    if has_cat and duplicate_dist_m > 0 and out.wants("duplicate_facility"):
        _duplicates(fac, fac_m, names, duplicate_dist_m, out)
    if network is not None and out.wants("coordinate_shift"):
        # each source of a merged layer (osm, amap, table...) on its own: one may be shifted, not the others
        groups: list[tuple[str, gpd.GeoDataFrame]] = [("whole layer", fac)]
        if "source" in fac and fac["source"].nunique(dropna=True) > 1:
            groups = [(f"rows from {src}", part) for src, part in fac.groupby("source", sort=True)]
        for where, part in groups:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CoordinateShiftWarning)
                check = _crs.detect_shift(part, network, reference=reference, warn=False)
            if check.likely:
                out.add(
                    "error",
                    "facilities",
                    "coordinate_shift",
                    check.message,
                    where=where,
                    fix=f"mtown_geo.crs.to_wgs84(facilities, source={check.system!r}); for Amap/Baidu tables, "
                    f"read_facility_table(..., crs={check.system!r}) (in a study file: `crs: {check.system}` on the "
                    "table's entry) converts them. If the coordinates are WGS-84 for sure, leave this check out "
                    "with skip=['coordinate_shift']",
                    rows=part.index,
                )
            elif check.best is None and not check.message.startswith("only"):
                out.add(
                    "warning" if reference is not None else "info",
                    "facilities",
                    "coordinate_shift",
                    check.message,
                    where=where,
                    fix="make sure of the layer's coordinate system at its source: Amap and Tencent export GCJ-02, "
                    "Baidu BD-09, GPS and OSM WGS-84"
                    + ("" if reference is not None else "; pass reference=<named OSM features> to compare names too"),
                    rows=part.index,
                )


def _duplicate_pairs(geoms: np.ndarray, cats: np.ndarray, dist_m: float) -> list[tuple[int, int]]:
    """Pairs (i < j) of likely duplicates among metric geometries of the same category.

    Two points within ``dist_m``; a point within ``dist_m`` of a polygon (the same
    site mapped as a node and as an area); two polygons that mostly coincide
    (intersection over union of 0.8 or more) — a pitch inside a sports centre is not a
    duplicate of it.
    """
    pairs: list[tuple[int, int]] = []
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    for cat in np.unique(cats):
        pos = np.flatnonzero(cats == cat)
        if len(pos) < 2:
            continue
        g = geoms[pos]
        tree = shapely.STRtree(g)
        a, b = tree.query(g, predicate="dwithin", distance=dist_m)
        keep = a < b
        a, b = a[keep], b[keep]
        both_poly = polygonal[pos[a]] & polygonal[pos[b]]
        if both_poly.any():
            ga, gb = g[a[both_poly]], g[b[both_poly]]
            union = shapely.area(shapely.union(ga, gb))
            with np.errstate(invalid="ignore", divide="ignore"):
                iou = shapely.area(shapely.intersection(ga, gb)) / union
            same = np.ones(len(a), dtype=bool)
            same[np.flatnonzero(both_poly)] = iou >= 0.8
            a, b = a[same], b[same]
        pairs.extend(zip(pos[a].tolist(), pos[b].tolist(), strict=True))
    return sorted(pairs)


def _duplicates(fac: gpd.GeoDataFrame, fac_m: gpd.GeoDataFrame, names: pd.Series, dist_m: float, out: _Collector) -> None:
    geoms = np.asarray(fac_m.geometry.values)
    cats = fac["category"].astype("string").fillna("").to_numpy()
    pairs = _duplicate_pairs(geoms, cats, dist_m)
    if not pairs:
        return
    rows = sorted({p for pair in pairs for p in pair})

    def _label(p: int) -> str:
        nm = names.iloc[p]
        return f"{fac.index[p]} ({nm})" if isinstance(nm, str) and nm else str(fac.index[p])

    shown = "; ".join(f"{_label(i)} = {_label(j)} [{cats[i]}]" for i, j in pairs[:6])
    out.add(
        "warning",
        "facilities",
        "duplicate_facility",
        f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''} of facilities of the same category lie within {dist_m:g} m "
        "of each other or cover the same ground: probably the same facility entered twice (e.g. mapped as a point and as an area, or taken "
        "from OSM and from a POI table). Travel times are not affected; counts and per-capita figures are",
        where=shown + (f"; and {len(pairs) - 6} more pairs" if len(pairs) > 6 else ""),
        fix="drop one of each pair (gdf.drop(index=[...])) or keep one source per category",
        rows=fac.index[rows],
    )


def _raster_checks(path_value: Any, town: gpd.GeoDataFrame | None, out: _Collector, min_coverage: float = 0.95) -> None:
    name = "population_raster"
    if not isinstance(path_value, (str, os.PathLike)):
        out.add("error", name, "raster_unreadable", f"expected the path of a GeoTIFF, got {type(path_value).__name__}")
        return
    path = Path(path_value)
    if not path.exists():
        out.add("error", name, "raster_unreadable", f"the file {path} does not exist", fix="check the path")
        return
    try:
        src = rasterio.open(path)
    except RasterioError as exc:
        out.add("error", name, "raster_unreadable", f"{path.name} cannot be read as a raster: {exc}", fix="open it in QGIS")
        return
    with src:
        if src.crs is None:
            out.add(
                "error",
                name,
                "raster_no_crs",
                f"{path.name} has no CRS",
                where="whole raster",
                fix="assign it in QGIS (Raster › Projections › Assign Projection) or with gdal_edit.py -a_srs EPSG:xxxx",
            )
            return
        nodata = src.nodata
        if nodata is None:
            out.add(
                "warning",
                name,
                "raster_no_nodata",
                f"{path.name} has no nodata value: cells outside the surveyed area count as their stored value "
                "(often 0, sometimes −9999 or −3.4e38)",
                where="whole raster",
                fix="set it, e.g. gdal_edit.py -a_nodata -1 (WorldPop uses −99999, GHS-POP −200)",
            )
        if town is None:
            return
        town_r = town.to_crs(src.crs)
        shape = shapely.make_valid(town_r.geometry.union_all())
        footprint = shapely.box(*src.bounds)
        if shape.area <= 0:
            return
        share = float(shape.intersection(footprint).area / shape.area)
        if share == 0:
            b = town.to_crs(4326).total_bounds
            out.add(
                "error",
                name,
                "raster_outside_town",
                f"{path.name} does not cover the town at all",
                where=f"raster bounds {tuple(round(v, 1) for v in src.bounds)} in {src.crs.to_string()}; "
                f"town at lon {b[0]:.3f}…{b[2]:.3f}, lat {b[1]:.3f}…{b[3]:.3f}",
                fix="use the raster of this town's country/region (WorldPop, GHS-POP) and check its CRS",
            )
            return
        # the share of the town on valid cells: the figure a run refuses below min_coverage
        metric = _crs.metric_crs(town)
        coverage: dict[str, Any] | None = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MtownGeoWarning)
            try:
                cells = demand.from_raster(src, area=town.to_crs(metric), min_coverage=0.0)
                coverage = cells.attrs.get("raster_report")
            except MtownGeoError:
                coverage = None  # the values are reported below
        for w in caught:
            if "NaN" in str(w.message):
                out.add(
                    "warning",
                    name,
                    "raster_values",
                    str(w.message),
                    where="inside the town",
                    fix="declare the nodata value (gdal_edit.py -a_nodata nan <file>) or fill the cells",
                )
        valid_share = coverage["coverage"] if coverage is not None else share
        if valid_share < 0.99:
            beyond = 1.0 - (coverage["footprint_share"] if coverage is not None else share)
            nodata = coverage["nodata_share"] if coverage is not None else 0.0
            refused = valid_share < min_coverage
            out.add(
                "error" if refused else "warning",
                name,
                "raster_partial",
                f"{path.name} covers only {valid_share:.1%} of the town with valid cells ({beyond:.1%} of the town lies "
                f"beyond its edge, {nodata:.1%} on nodata or NaN cells): people in the rest are not counted"
                + (f"; a run refuses it below {min_coverage:.0%}" if refused else ""),
                where=f"raster bounds {tuple(round(v, 1) for v in src.bounds)} in {src.crs.to_string()}",
                fix="use a raster that covers the whole town, merge tiles first (gdalbuildvrt) or fill its nodata; "
                "lower population.min_coverage only if the rest is uninhabited",
            )
        inter = shape.intersection(footprint)
        with warnings.catch_warnings():  # rasterio's window helpers use a deprecated Affine operator
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            win = from_bounds(*inter.bounds, transform=src.transform).round_offsets().round_lengths()
            win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
            transform = src.window_transform(win)
        data = src.read(1, window=win, masked=True)
        if data.size == 0:
            return
        outside = geometry_mask([inter], out_shape=data.shape, transform=transform, all_touched=True)
        values = np.ma.array(data, mask=np.ma.getmaskarray(data) | outside)
        vals = values.compressed().astype(float)
        neg = vals[vals < 0]
        if len(neg):
            out.add(
                "error",
                name,
                "raster_values",
                f"{_words.count(len(neg), 'cell inside the town holds a negative value', 'cells inside the town hold negative values')} "
                f"(down to {neg.min():g})" + (": probably an unset nodata value" if nodata is None else ""),
                where="inside the town",
                fix="set the raster's nodata value to that number (gdal_edit.py -a_nodata <value>)",
            )
        total = float(vals[vals > 0].sum()) if len(vals) else 0.0
        if total <= 0:
            out.add(
                "error",
                name,
                "raster_values",
                "no population inside the town: every cell there is nodata or zero",
                where="inside the town",
                fix="check that the raster and the town boundary belong together",
            )
        else:
            out.add(
                "info",
                name,
                "population",
                f"{total:,.0f} people inside the town by the raster's cells that touch it (an upper bound; "
                "the indicators weigh cells by the share inside)",
                where=_words.count(len(vals), "cell", "cells"),
            )


# ---------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------


def validate(
    *,
    boundary: Any = None,
    builtup: Any = None,
    network: Any = None,
    facilities: Any = None,
    residential: Any = None,
    population_raster: str | os.PathLike[str] | None = None,
    profile: Profile | str | Path | None = None,
    max_snap_dist_m: float | None = None,
    duplicate_dist_m: float = 5.0,
    reference: gpd.GeoDataFrame | None = None,
    min_coverage: float = 0.95,
    skip: Iterable[str] = (),
) -> ValidationReport:
    """Check a town's inputs before any computation, in one report.

    Parameters
    ----------
    boundary : GeoDataFrame, GeoSeries or path, optional
        The town (镇域) polygons; the other layers are checked against them.
    builtup : GeoDataFrame, GeoSeries or path, optional
        The built-up area (建成区) polygons; the reference area when no ``boundary``.
    network : Network, GeoDataFrame or path, optional
        A mode network (:class:`mtown_geo.network.Network`) or road centrelines. For
        centrelines (a layer, or a network built from them) the report lists what the
        topology repair changed, the ends it left open just beyond the snap tolerance
        (near-misses), the pieces cut off and bridge classes without levels.
    facilities : GeoDataFrame or path, optional
        Facilities with a ``category`` column (points or polygons).
    residential : GeoDataFrame, GeoSeries or path, optional
        Residential land (居住用地) polygons.
    population_raster : path, optional
        A population GeoTIFF (any CRS).
    profile : Profile, str or path, optional
        The standard profile (categories, snap distance); default ``zhejiang-2023``.
    max_snap_dist_m : float, optional
        Facilities farther than this from any road (metres) are reported; default the
        profile's ``max_snap_dist_m`` (300 m).
    duplicate_dist_m : float, optional
        Facilities of one category closer than this (metres) are reported as likely
        duplicates (default 5; 0 leaves the check out).
    reference : GeoDataFrame, optional
        Named features known to be WGS-84 (the ``features`` of an OpenStreetMap
        extract): the shift check also compares facility names with them, which decides
        where streets alone cannot (dense towns). See :func:`mtown_geo.crs.detect_shift`.
    min_coverage : float, optional
        Share of the town (0–1) a population raster's valid cells must cover; less is
        an error (default 0.95, as :func:`mtown_geo.demand.from_raster`).
    skip : iterable of str, optional
        Checks to leave out, by code (keys of :data:`CHECKS`), e.g.
        ``["coordinate_shift"]``.

    Returns
    -------
    ValidationReport
        Problems sorted errors first; ``report.repaired`` holds the layers in which
        invalid geometries were repaired, ``report.layers`` every input as it should be
        used. Malformed inputs are reported, never raised; only bad arguments of this
        function itself raise :class:`~mtown_geo.InputError`.
    """
    skip_set = {str(s) for s in skip}
    unknown = skip_set - set(CHECKS)
    if unknown:
        raise InputError(f"unknown checks in skip: {sorted(unknown)}; the checks are {', '.join(CHECKS)}")
    if not duplicate_dist_m >= 0:
        raise InputError(f"duplicate_dist_m must be 0 or more, got {duplicate_dist_m}")
    if not (isinstance(min_coverage, (int, float)) and 0 <= min_coverage <= 1):
        raise InputError(f"min_coverage must be a share between 0 and 1, got {min_coverage!r}")
    prof = resolve(profile)
    snap_m = float(prof.max_snap_dist_m if max_snap_dist_m is None else max_snap_dist_m)
    if not snap_m > 0:
        raise InputError(f"max_snap_dist_m must be positive, got {max_snap_dist_m}")
    out = _Collector(skip_set)
    report = ValidationReport()

    layers: dict[str, gpd.GeoDataFrame] = {}
    for name, value in (("boundary", boundary), ("builtup", builtup), ("facilities", facilities), ("residential", residential)):
        if value is None:
            continue
        gdf = _read(value, name, out)
        if gdf is None:
            continue
        checked, repaired = _check_layer(name, gdf, out)
        report.layers[name] = checked if checked is not None else gdf
        if repaired and checked is not None:
            report.repaired[name] = checked
        if checked is not None:
            layers[name] = checked

    net: Network | gpd.GeoDataFrame | None = None
    if isinstance(network, Network):
        net = network
        report.layers["network"] = network
    elif isinstance(network, (str, os.PathLike)) and is_osm_file(network):
        out.add(
            "error",
            "network",
            "not_a_layer",
            f"{Path(network).name} is an OSM extract, not a network",
            fix="build the network first: mtown_geo.network.from_osm(path, mode='walk', boundary=town) and pass it",
        )
    elif network is not None:
        roads = _read(network, "network", out)
        if roads is not None:
            checked, repaired = _check_layer("network", roads, out)
            report.layers["network"] = checked if checked is not None else roads
            if checked is not None:
                kinds = set(checked.geom_type)
                if kinds - {"LineString", "MultiLineString"}:
                    out.add(
                        "error",
                        "network",
                        "geometry_type",
                        f"the road layer holds {sorted(kinds - {'LineString', 'MultiLineString'})}, not only lines",
                        fix="give road centrelines (lines)",
                    )
                else:
                    net = checked
                if repaired:
                    report.repaired["network"] = checked
    lines_net: LineNetwork | None = None
    if isinstance(net, gpd.GeoDataFrame) and net.crs is not None:
        # road centrelines: build the walk network to show what its topology repair does
        mode = "walk" if "walk" in prof.modes else next(iter(prof.modes))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MtownGeoWarning)
                lines_net = lines_to_network(net, mode=mode, profile=prof, source="the road centrelines")
        except (MtownGeoError, GEOSException) as exc:
            out.add(
                "error",
                "network",
                "not_a_layer",
                f"no {mode} network can be built from the road centrelines: {exc}",
                fix="check the layer's road classes and geometries",
            )

    # the reference area: the town, else the built-up area
    town_name, town_gdf = None, None
    if "boundary" in layers:
        town_name, town_gdf = "town boundary", layers["boundary"]
    elif "builtup" in layers:
        town_name, town_gdf = "built-up area", layers["builtup"]
    town_m: shapely.Geometry | None = None
    metric: CRS | None = None
    if town_gdf is not None:
        metric = _crs.metric_crs(town_gdf)
        town_m = _geom.polygon_union(town_gdf, crs=metric, what=town_name or "boundary", allow_empty=True)
        if town_m.is_empty or town_m.area <= 0:
            town_m = None
    elif any(v is not None for v in (network, facilities, residential, population_raster)):
        out.add(
            "info",
            "boundary",
            "outside_town",
            "no town boundary or built-up area given: whether the layers cover the town is not checked",
            fix="pass boundary=... (镇域) or builtup=... (建成区)",
        )

    if town_m is not None and metric is not None and town_name is not None:
        for name in ("builtup", "facilities", "residential"):
            if name in layers and layers[name] is not town_gdf and out.wants("outside_town"):
                _overlap(name, layers[name], town_m, town_name, metric, out)
        if isinstance(net, gpd.GeoDataFrame):
            _overlap("network", net, town_m, town_name, metric, out)
    if isinstance(net, Network):
        _network_checks(net, town_m, metric, out)
    elif lines_net is not None:
        _network_checks(lines_net, None, None, out)

    if "facilities" in layers:
        try:
            _facility_checks(layers["facilities"], net, prof, snap_m, duplicate_dist_m, out, reference)
        except (MtownGeoError, GEOSException, ValueError) as exc:
            out.add(
                "error",
                "facilities",
                "not_a_layer",
                f"the facility layer cannot be checked against the network: {exc}",
                fix="look for absurd coordinates or a wrong CRS in the layer",
            )

    if population_raster is not None:
        _raster_checks(population_raster, town_gdf, out, min_coverage)

    report.problems = sorted(out.problems, key=lambda p: _SEVERITY_ORDER[p.severity])
    if report.problems:
        log.info("input check: %d errors, %d warnings", len(report.errors), len(report.warnings))
    return report
