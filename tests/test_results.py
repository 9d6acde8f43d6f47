"""Every result object reads as a table: ``to_frame()`` returns a DataFrame, checked on the demo town."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import pkgutil
import warnings
from typing import Protocol

import numpy as np
import pandas as pd
import pytest
import shapely
from pydantic import BaseModel

import mtown_geo as mg
from mtown_geo import lifecircle

#: Public classes that are not results of a computation, and why.
NOT_RESULTS = {
    "mtown_geo._graph.Network": "an input (the travel network), with its own nodes/edges frames",
    "mtown_geo._lines.LineNetwork": "an input network (its repairs are a RepairReport)",
    "mtown_geo.sources.osm.OSMExtract": "an input (an OSM file read once)",
    "mtown_geo.sources.raster.ClassRaster": "an input (a land-cover raster)",
    "mtown_geo.demo.DemoTown": "a description of a bundled demo town",
    "mtown_geo.documents.Document": "a cited document (metadata)",
    "mtown_geo.documents.Citation": "a citation of a document (metadata)",
    "mtown_geo.provenance.DataSource": "provenance metadata of one input",
    "mtown_geo.provenance.Assumption": "provenance metadata of one assumption",
    "mtown_geo.provenance.Provenance": "provenance metadata of a run (written as JSON)",
    "mtown_geo.report.ComputedValue": "one value of the indicator table a StudyResult holds",
    "mtown_geo.validate.Problem": "one row of ValidationReport.to_frame()",
    "mtown_geo.pipeline.inputs.FacilitySource": "where one facility source sits in a run's facility layer",
    "mtown_geo.pipeline.steps.StepOutput": "what one pipeline step adds to a run (its tables and layers)",
    "mtown_geo.pipeline.town.Town": "a town's inputs, projected once, shared by the pipeline steps",
    "mtown_geo.render._basemap.Basemap": "map drawing settings",
    "mtown_geo.render._basemap.RoadClass": "map drawing settings",
    "mtown_geo.render._classes.TimeClass": "a legend class of the maps",
    "mtown_geo.render._text.MapCanvas": "a map being drawn",
    "mtown_geo.render._leaflet.Page": "an HTML map page being built",
    "mtown_geo.render._leaflet.Script": "a script element of an HTML map page",
    "mtown_geo.render._leaflet.Text": "a text element of an HTML map page",
    "mtown_geo._tablespec.Col": "a column spec of the finished tables",
    "mtown_geo._tablespec.Finished": "a finished table for the report writers",
}

#: Result classes whose to_frame() lives in modules being reorganised; listed so the gap stays visible.
PENDING = {
    "mtown_geo.pipeline.result.StudyResult": "a study run's result: to_frame() (its indicator table) comes with the pipeline",
}


def _public_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(mg.__path__, prefix="mtown_geo."):
        if info.name.startswith("mtown_geo.render"):
            pytest.importorskip("matplotlib")
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isclass(obj) or obj.__module__ != info.name:
                continue
            if issubclass(obj, (BaseException, Warning, BaseModel, enum.Enum)) or Protocol in obj.__mro__[1:]:
                continue
            found[f"{info.name}.{name}"] = obj
    return found


def test_every_result_class_has_to_frame():
    classes = _public_classes()
    assert "mtown_geo.access.Reach" in classes and "mtown_geo.siting.SitingPlan" in classes  # the walk found them
    stale = sorted((set(NOT_RESULTS) | set(PENDING)) - set(classes))
    assert not stale, f"no longer in the package, delete from the lists: {stale}"
    missing = []
    for qual, cls in classes.items():
        if qual in NOT_RESULTS or qual in PENDING:
            continue
        method = getattr(cls, "to_frame", None)
        if not callable(method):
            missing.append(qual)
            continue
        required = [p for p in list(inspect.signature(method).parameters.values())[1:] if p.default is p.empty]
        assert not required, f"{qual}.to_frame() must need no argument, it needs {[p.name for p in required]}"
        assert "DataFrame" in str(inspect.signature(method).return_annotation), f"{qual}.to_frame() returns no DataFrame"
    assert not missing, f"result classes without to_frame() (add one, or list in NOT_RESULTS with why): {missing}"


@pytest.fixture(scope="module")
def demo_reach(demo_osm, karhula_walk):
    fac = mg.facilities.from_osm(demo_osm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        return lifecircle.reach(karhula_walk, fac, circle="15min", max_time_min=np.inf), fac


def test_reach_node_times_and_the_old_name(demo_reach, karhula_walk):
    r, _ = demo_reach
    frame = r.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(r.categories)
    assert frame.index.equals(karhula_walk.nodes.index)
    # independent: a search from the bus stops' nodes by the engine's public primitive
    k = r.categories.index("bus_stop")
    assert np.array_equal(frame["bus_stop"].to_numpy(), r.node_min[k])
    with pytest.warns(mg.DeprecatedNameWarning, match=r"Reach.node_table\(\) is now Reach.to_frame\(\)"):
        old = r.node_table()
    pd.testing.assert_frame_equal(old, frame)


def test_tree_against_networkx(karhula_walk):
    nx = pytest.importorskip("networkx")
    net = karhula_walk
    tree = mg.access.search(net, np.array([0]), weight="length")
    frame = tree.to_frame()
    assert list(frame.columns) == ["dist_m", "pred"]
    e = net.edges
    g = nx.Graph()
    for u, v, length in zip(e["u"], e["v"], e["length_m"], strict=True):
        if not g.has_edge(u, v) or g[u][v]["w"] > length:
            g.add_edge(int(u), int(v), w=float(length))
    want = nx.single_source_dijkstra_path_length(g, 0, weight="w")
    some = list(want)[:: max(1, len(want) // 50)]
    got = frame["dist_m"].to_numpy()
    np.testing.assert_allclose([got[n] for n in some], [want[n] for n in some], rtol=1e-9)


def test_raster_bands_against_the_array(demo_reach):
    r, _ = demo_reach
    tt = mg.rasters.travel_time_raster(r, categories=["kindergarten", "bus_stop"], resolution_m=100)
    frame = tt.to_frame()
    assert list(frame.index) == ["kindergarten", "bus_stop"]
    for i, cat in enumerate(tt.categories):
        a = tt.array[i].ravel()
        timed = a[a != tt.nodata]
        assert frame.loc[cat, "n_cells"] == a.size
        assert frame.loc[cat, "n_nodata"] == int((a == -1).sum())
        assert frame.loc[cat, "median_min"] == pytest.approx(float(np.median(timed)), rel=1e-6)
        assert frame.loc[cat, "lowest_min"] == pytest.approx(float(timed.min()))


def test_siting_plan_reads_as_its_sites(karhula_walk, demo_bounds, demo_reach):
    _, fac = demo_reach
    built = demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(karhula_walk.crs)
    units = mg.demand.grid(built, cell_m=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        plan = mg.siting.add_facilities(
            karhula_walk, fac, units, category="kindergarten", threshold_min=10, k=2, weight="area_m2"
        )
    frame = plan.to_frame()
    pd.testing.assert_frame_equal(pd.DataFrame(frame), pd.DataFrame(plan.sites))
    assert frame is not plan.sites
    # the last site's coverage is the plan's, and its covered area is that share of all units' land
    assert frame["covered_area_m2"].iloc[-1] == pytest.approx(plan.coverage_after * units["area_m2"].sum())


def test_one_row_results_against_exact_geometry(demo_bounds):
    town = demo_bounds.to_crs(3067)
    square = shapely.box(*town.total_bounds).centroid.buffer(300, cap_style="square")
    parks = mg.demand.gpd.GeoDataFrame(geometry=[square], crs=3067)
    per = mg.parks.area_per_capita(parks, 1000.0)
    row = per.to_frame()
    assert len(row) == 1 and row.loc[0, "park_area_m2"] == pytest.approx(600.0 * 600.0)
    assert row.loc[0, "m2_per_person"] == pytest.approx(360.0)
    cov = mg.transit.area_coverage(parks.centroid, town, radius_m=100)
    row = cov.to_frame()
    assert {"covered", "gaps"}.isdisjoint(row.columns)  # geometries stay attributes
    area = float(town.union_all().area)
    assert row.loc[0, "total_m2"] == pytest.approx(area)
    assert row.loc[0, "rate"] == pytest.approx(cov.covered_m2 / area)


def test_shift_and_validation_tables_keep_their_old_names():
    check = mg.validate.ValidationReport(problems=[mg.validate.Problem("warning", "facilities", "snap", "far", "", "move it")])
    frame = check.to_frame()
    assert list(frame["layer"]) == ["facilities"]
    with pytest.warns(mg.DeprecatedNameWarning, match=r"ValidationReport.table\(\) is now"):
        pd.testing.assert_frame_equal(check.table(), frame)
    shift = mg.crs.ShiftCheck(likely=False, system=None, n_points=3, median_dist_m={"as_given": 2.0, "gcj02": 400.0})
    with pytest.warns(mg.DeprecatedNameWarning, match=r"ShiftCheck.table\(\) is now"):
        pd.testing.assert_frame_equal(shift.table(), shift.to_frame())
    assert shift.to_frame().loc["gcj02", "median_dist_m"] == 400.0


def test_facility_report_lists_merges_and_left_out(demo_reach):
    _, fac = demo_reach
    rep = fac.attrs.get("facility_report") or mg.facilities.FacilityReport()
    frame = rep.to_frame()
    assert len(frame) == len(rep.merged) + len(rep.not_public)
    assert set(frame["kind"]) <= {"merged", "not_public"}
    assert dataclasses.is_dataclass(rep)
