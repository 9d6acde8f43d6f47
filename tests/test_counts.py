"""One town, built once: how often a default run projects, snaps and searches one facility.

One kindergarten of the Karhula demo (Otsonkallio, ``node/1324225776``) is followed through
:func:`mtown_geo.run` with every default. The real functions run; thin wrappers count

* projections: ``GeoDataFrame.to_crs`` / ``GeoSeries.to_crs`` calls (the outermost of nested
  ones) on a layer that holds the point, to a CRS other than the layer's;
* snaps: :func:`mtown_geo.access.snap` calls whose points hold it;
* searches: :func:`mtown_geo.access.reach` calls whose facilities hold it, and every call of
  :func:`mtown_geo.access.csr_dijkstra`, the package's one shortest-path search.

A layer holds the point when one of its geometries equals it exactly (within 1e-9° in
EPSG:4326, 1e-4 m in the town's metric CRS). Calls made while the maps' basemap is drawn from
the extract (``basemap``) and while the results are written (``write``) are counted apart.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.array import GeometryArray

import mtown_geo as mg
from mtown_geo import access
from mtown_geo.pipeline import outputs
from mtown_geo.pipeline import run as pipeline_run

FID = "node/1324225776"  # Otsonkallio kindergarten, a point in OSM


class _Spy:
    """Counts what happens to one point during a run, by phase (``run`` or ``write``)."""

    def __init__(self, pt4326: shapely.Point, pt_m: shapely.Point, metric: Any) -> None:
        self.pt4326, self.pt_m, self.metric = pt4326, pt_m, metric
        self.counts: dict[str, Counter[str]] = {"run": Counter(), "basemap": Counter(), "write": Counter()}
        self.phase = "run"
        self._depth = 0

    def holds(self, layer: Any) -> bool:
        if not isinstance(layer, (gpd.GeoDataFrame, gpd.GeoSeries, GeometryArray)) or layer.crs is None or not len(layer):
            return False
        if isinstance(layer, GeometryArray):
            geoms = np.asarray(layer)
        else:
            geoms = np.asarray(layer.geometry.values if isinstance(layer, gpd.GeoDataFrame) else layer.values)
        if layer.crs.equals(self.metric):
            return bool(shapely.equals_exact(geoms, self.pt_m, tolerance=1e-4).any())
        if layer.crs.equals("EPSG:4326"):
            return bool(shapely.equals_exact(geoms, self.pt4326, tolerance=1e-9).any())
        return False

    def count(self, what: str, n: int = 1) -> None:
        self.counts[self.phase][what] += n

    def to_crs(self, real: Any) -> Any:
        def wrapper(obj: Any, crs: Any = None, epsg: Any = None, **kw: Any) -> Any:
            outer = self._depth == 0
            self._depth += 1
            try:
                out = real(obj, crs, epsg, **kw)
            finally:
                self._depth -= 1
            if outer and obj.crs is not None and not obj.crs.equals(out.crs):
                self.count("to_crs_calls")
                if self.holds(obj):
                    self.count("project")
            return out

        return wrapper


@pytest.fixture(scope="module")
def spied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Spy, mg.study.StudyResult]]:
    folder = tmp_path_factory.mktemp("karhula")
    study = mg.load_study(mg.demo_study(folder / "study", town="karhula"))
    bounds = mg.demo_boundaries("karhula")
    town = bounds[bounds["kind"] == "镇域"]
    fac = mg.facilities.from_osm(mg.demo_osm_path("karhula"), boundary=town, buffer_m=1000)
    row = fac[fac["facility_id"] == FID]
    assert len(row) == 1 and row.iloc[0]["category"] == "kindergarten", "the demo's kindergarten"
    metric = mg.crs.metric_crs(town)
    spy = _Spy(row.geometry.iloc[0], row.to_crs(metric).geometry.iloc[0], metric)

    real_snap, real_reach, real_dijkstra, real_write = access.snap, access.reach, access.csr_dijkstra, outputs.write
    real_basemap = pipeline_run._basemap

    def snap(network: Any, points: Any, **kw: Any) -> Any:
        spy.count("snap_calls")
        if spy.holds(points):
            spy.count("snap")
        return real_snap(network, points, **kw)

    def reach(network: Any, facilities: Any, **kw: Any) -> Any:
        spy.count("reach_calls")
        if spy.holds(facilities.facilities if isinstance(facilities, access.Attachment) else facilities):
            spy.count("reach")
        return real_reach(network, facilities, **kw)

    def csr_dijkstra(*args: Any, **kw: Any) -> Any:
        spy.count("dijkstra_calls")
        return real_dijkstra(*args, **kw)

    def write(*args: Any, **kw: Any) -> Any:
        spy.phase = "write"
        try:
            return real_write(*args, **kw)
        finally:
            spy.phase = "run"

    def basemap(*args: Any, **kw: Any) -> Any:
        spy.phase = "basemap"
        try:
            return real_basemap(*args, **kw)
        finally:
            spy.phase = "run"

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gpd.GeoDataFrame, "to_crs", spy.to_crs(gpd.GeoDataFrame.to_crs))
        mp.setattr(gpd.GeoSeries, "to_crs", spy.to_crs(gpd.GeoSeries.to_crs))
        mp.setattr(GeometryArray, "to_crs", spy.to_crs(GeometryArray.to_crs))
        mp.setattr(access, "snap", snap)
        mp.setattr(access, "reach", reach)
        mp.setattr(access, "csr_dijkstra", csr_dijkstra)
        mp.setattr(outputs, "write", write)
        mp.setattr(pipeline_run, "_basemap", basemap)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = mg.run(study, out=folder / "out")
    yield spy, result


def test_the_spy_sees_the_kindergarten(spied: tuple[_Spy, Any]) -> None:
    spy, result = spied
    # the point is in the run's facility layer, in the town's metric CRS
    assert spy.holds(result.layers["facilities"])
    assert result.tables["coverage_15min"].loc["kindergarten", "rate"] == pytest.approx(0.2532209440634403, rel=1e-12)


def test_the_town_projects_the_facility_once(spied: tuple[_Spy, Any]) -> None:
    spy, _ = spied
    # facilities.from_osm(..., crs=<the town's metric CRS>) clips the facilities by the town +
    # 1000 m in that CRS and keeps them so: the only projection; the inventory, the circles, the
    # diagnostics and siting measure the layer as it is (before: 3 in the run, 7 before the
    # town was built once)
    assert spy.counts["run"]["project"] == 1, dict(spy.counts["run"])
    # the maps' basemap projects the extract's features, the node among them, to draw them
    assert spy.counts["basemap"]["project"] == 1, dict(spy.counts["basemap"])


def test_one_facility_is_snapped_once_and_searched_once(spied: tuple[_Spy, Any]) -> None:
    spy, _ = spied
    run = spy.counts["run"]
    # the walk attachment of every facility: the circles search from selections of it, the
    # facilities layer's diagnostics read it, siting reads the 15-minute circle's Reach
    # (before: 3 snaps and 3 searches: the circle's, the diagnostics' and siting's)
    assert run["snap"] == 1, dict(run)
    assert run["reach"] == 1, dict(run)
    # one Reach per circle with facilities (5min, 15min; the 30min circle's categories have none
    # here) and the public-transport task's search from the bus stops
    assert run["reach_calls"] == 3, dict(run)
    # every shortest-path search of the run (before: 44):
    #   8  the circles' searches, one per category with an attached facility (5min and 15min)
    #   1  the public-transport task (bus stops)
    #   4  the village-roads task on the drive network (seat zone 1, reach status 2: the wider
    #      search runs only for villages no passing road reaches, none here; connect 1)
    #   2  siting: the nine categories below their target share the 15-minute threshold, so
    #      one search from the units they leave uncovered marks the network those units reach
    #      and one search from the candidates that reach them gives every category's matrix
    #      (before: 2 per category, 18; the existing coverage is read from the circle's Reach)
    assert run["dijkstra_calls"] == 8 + 1 + 4 + 2, dict(run)
    # snaps of any layer (before: 40, then 15): the attachments (walk; ebike, with no facility),
    # the units once for the walk network (the Reaches of one network share the snaps of the
    # points they are asked about: both walk circles and the public-transport task), the raster
    # cells once (both walk circles' rasters), siting (the candidates, once for the matrix and
    # once for which of them attach; the units' snaps are the circle's), the tasks (villages 4:
    # the seat is attached once; the bus stops' attachment 1)
    assert run["snap_calls"] == 2 + 1 + 1 + 2 + 5, dict(run)


def test_writing_projects_the_point_only_for_the_web_map(spied: tuple[_Spy, Any]) -> None:
    spy, _ = spied
    write = spy.counts["write"]
    # the interactive map's facility symbols, projected once to EPSG:4326 (before: 3 calls)
    assert write["project"] == 1, dict(write)


def test_the_clip_projects_the_facilities_for_the_town(spied: tuple[_Spy, Any]) -> None:
    spy, _ = spied
    bounds = mg.demo_boundaries("karhula")
    town = bounds[bounds["kind"] == "镇域"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_read = mg.facilities.from_osm(mg.demo_osm_path("karhula"), boundary=town, buffer_m=1000)
        projected = mg.facilities.from_osm(mg.demo_osm_path("karhula"), boundary=town, buffer_m=1000, crs=spy.metric)
    assert projected.crs.equals(spy.metric)
    assert projected["facility_id"].tolist() == as_read["facility_id"].tolist()
    # the same coordinates, to the bit, as projecting the layer afterwards
    theirs = np.asarray(as_read.to_crs(spy.metric).geometry.values)
    assert shapely.equals_exact(np.asarray(projected.geometry.values), theirs, tolerance=0).all()


# -- attached once: a selection of an Attachment and its warnings ------------------------------


def _snap_messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, mg.SnapWarning)]


def test_a_selection_of_an_attachment_is_the_attachment_of_that_part(spied: tuple[_Spy, Any]) -> None:
    _, result = spied
    walk = result.networks["walk"]
    fac = result.layers["facilities"]
    cats = ["primary_school", "kindergarten", "bus_stop"]
    part = access.attach(walk, fac).select(cats)
    own = fac[fac["category"].isin(cats)]
    direct = access.attach(walk, own, categories=cats)
    assert len(part.facilities) == len(own) > 0
    pd.testing.assert_frame_equal(part.snaps, direct.snaps)
    assert part.points["owner"].tolist() == direct.points["owner"].tolist()
    assert shapely.equals_exact(np.asarray(part.points.geometry.values), np.asarray(direct.points.geometry.values), 0).all()
    pd.testing.assert_frame_equal(part.diagnostics(), direct.diagnostics())
    # searched from either: the same times and nearest facilities, to the bit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = access.reach(walk, part, categories=cats, max_time_min=20)
        b = access.reach(walk, own, categories=cats, max_time_min=20)
    np.testing.assert_array_equal(a.node_min, b.node_min)
    np.testing.assert_array_equal(a.nearest, b.nearest)
    with pytest.raises(mg.InputError, match="holds no feature of the categories"):
        direct.select(["library"])


def test_the_diagnostics_of_every_selection_are_those_of_its_own_attachment(spied: tuple[_Spy, Any]) -> None:
    """A selection's diagnostics (rows of the whole layer's, made once) equal those of the
    part attached on its own, category by category; the table given out is a copy."""
    _, result = spied
    walk = result.networks["walk"]
    fac = result.layers["facilities"]
    whole = access.attach(walk, fac)
    first = whole.diagnostics()
    first["status"] = "changed"  # the caller's copy: the next call is not changed
    assert (whole.diagnostics()["status"] != "changed").all()
    statuses = set()
    for cat in sorted(fac["category"].unique()):
        part = whole.select([cat])
        direct = access.attach(walk, fac[fac["category"] == cat], categories=[cat])
        pd.testing.assert_frame_equal(part.diagnostics(), direct.diagnostics())
        statuses |= set(part.diagnostics()["status"])
    assert {"ok", "small_piece"} <= statuses


def test_an_attachment_warns_as_the_search_from_it_would(spied: tuple[_Spy, Any]) -> None:
    _, result = spied
    walk = result.networks["walk"]
    fac = result.layers["facilities"]
    att = access.attach(walk, fac)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        att.warn()
    with warnings.catch_warnings(record=True) as searched:
        warnings.simplefilter("always")
        access.reach(walk, fac, max_time_min=15)
    assert _snap_messages(ours) == _snap_messages(searched)
    # the demo's walk network has pieces cut off from the rest, with facilities on them
    assert any(re.search(r"attach(es)? only to (a )?small pieces? of the walk network", m) for m in _snap_messages(ours))
    # one category: as a search of that category alone (its rows numbered within it)
    with warnings.catch_warnings(record=True) as ours_one:
        warnings.simplefilter("always")
        att.select(["bus_stop"]).warn()
    with warnings.catch_warnings(record=True) as searched_one:
        warnings.simplefilter("always")
        access.reach(walk, fac[fac["category"] == "bus_stop"], max_time_min=15)
    assert _snap_messages(ours_one) == _snap_messages(searched_one) != []
