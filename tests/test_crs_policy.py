"""One CRS policy and one repair policy (docs/geometry.md), checked across the public functions.

Every measuring function takes a layer in longitude/latitude (EPSG:4326) and gives what it gives
for the same layer projected to its metric CRS; a layer without a CRS is a CRSError everywhere.
Invalid polygons are repaired with shapely.make_valid, their polygonal part kept, and listed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import _geom

from .conftest import OSM_FILES, shared_path

REL = 1e-9  # a round trip through longitude/latitude moves coordinates by far less than a micrometre


@pytest.fixture(scope="module")
def town() -> dict[str, Any]:
    """The Wudaokou demo's 镇域, built-up area, residential land, parks, stops and roads."""
    demo_bounds = mg.demo_boundaries("wudaokou")
    osm = mg.demo_osm_path("wudaokou")
    metric = mg.crs.metric_crs(demo_bounds)
    built = demo_bounds[demo_bounds["kind"] == "建成区"].to_crs(4326)
    whole = demo_bounds[demo_bounds["kind"] == "镇域"].to_crs(4326)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        res = mg.demand.residential_from_osm(osm, boundary=whole)
        parks = mg.parks.from_osm(osm, boundary=whole, crs=metric)
        fac = mg.facilities.from_osm(osm, boundary=whole)
    ext = mg.sources.read_osm(osm)
    roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
    green = parks.assign(green_class="park")
    return {
        "metric": metric,
        "built": built,
        "whole": whole,
        "res": res,
        "parks": parks,
        "stops": fac.assign(geometry=fac.to_crs(metric).centroid.to_crs(4326)),
        "roads": roads,
        "green": green,
    }


def _both(layers: dict[str, Any], metric: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    ll = {k: v.to_crs(4326) for k, v in layers.items()}
    m = {k: v.to_crs(metric) for k, v in layers.items()}
    return ll, m


#: name -> (layers it takes from the town fixture, call, the figures to compare)
CASES: dict[str, tuple[tuple[str, ...], Callable[..., Any], Callable[[Any], list[float]]]] = {
    "demand.grid": (
        ("built",),
        lambda built: mg.demand.grid(built, cell_m=100.0),
        lambda g: [len(g), float(g["area_m2"].sum())],
    ),
    "demand.from_polygons": (
        ("res",),
        lambda res: mg.demand.from_polygons(res),
        lambda u: [len(u), float(u["area_m2"].sum())],
    ),
    "parks.service_radius_coverage": (
        ("parks", "res", "built"),
        lambda parks, res, built: mg.parks.service_radius_coverage(parks, res, builtup=built),
        lambda c: [c.covered_m2, c.percent],
    ),
    "parks.area_per_capita": (
        ("parks", "whole"),
        lambda parks, whole: mg.parks.area_per_capita(parks, 10_000, scope=whole),
        lambda r: [r.park_area_m2],
    ),
    "greenways.service_coverage": (
        ("roads", "res"),
        lambda roads, res: mg.greenways.service_coverage(roads[roads["highway"].isin(["cycleway", "footway"])], res),
        lambda c: [c.covered_m2, c.total_m2],
    ),
    "streets.density": (
        ("roads", "built"),
        lambda roads, built: mg.streets.density(roads, built),
        lambda d: [d],
    ),
    "transit.area_coverage": (
        ("stops", "built"),
        lambda stops, built: mg.transit.area_coverage(stops, built, radius_m=300.0),
        lambda c: [c.covered_m2, c.total_m2],
    ),
    "greenspace.land_ratio": (
        ("green", "whole"),
        lambda green, whole: mg.greenspace.land_ratio(green, whole),
        lambda r: [r.green_m2, r.total_m2],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_longitude_latitude_gives_the_projected_result(town: dict[str, Any], name: str) -> None:
    keys, call, figures = CASES[name]
    ll, m = _both({k: town[k] for k in keys}, town["metric"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        got, want = figures(call(**ll)), figures(call(**m))
    assert len(got) == len(want) and len(want) > 0
    assert want[-1] != 0  # a figure that measures something
    np.testing.assert_allclose(got, want, rtol=REL, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_a_layer_without_crs_is_refused(town: dict[str, Any], name: str) -> None:
    keys, call, _ = CASES[name]
    _, m = _both({k: town[k] for k in keys}, town["metric"])
    for k in keys:
        bad = dict(m, **{k: m[k].set_crs(None, allow_override=True)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            with pytest.raises(mg.CRSError, match="no CRS"):
                call(**bad)


def test_travel_time_raster_area_in_any_crs(town: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        walk = mg.network.from_osm(mg.demo_osm_path("wudaokou"), mode="walk")
        fac = mg.facilities.from_osm(mg.demo_osm_path("wudaokou"))
        reach = mg.access.reach(walk, fac, categories=["kindergarten"], max_time_min=15)
    ll = mg.rasters.travel_time_raster(reach, area=town["built"], resolution_m=100)
    m = mg.rasters.travel_time_raster(reach, area=town["built"].to_crs(4547), resolution_m=100)  # another GK zone
    assert ll.transform == m.transform and np.array_equal(ll.array, m.array)
    assert np.isfinite(ll.array[ll.array != ll.nodata]).any()
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.rasters.travel_time_raster(reach, area=town["built"].set_crs(None, allow_override=True), resolution_m=100)


def test_to_metric_projects_at_most_once(town: dict[str, Any]) -> None:
    built = town["built"]
    m = _geom.to_metric(built, what="built-up area")
    assert m.crs.equals(town["metric"]) and m is not built
    assert _geom.to_metric(m, what="built-up area") is m  # already metric: the very object, no to_crs
    assert _geom.to_metric(m, crs=town["metric"], what="built-up area") is m
    with pytest.raises(mg.CRSError, match="not metres"):
        _geom.to_metric(built.to_crs(2263), what="built-up area")  # New York State Plane, in US feet
    with pytest.raises(mg.CRSError, match="set_crs"):
        _geom.to_metric(built.set_crs(None, allow_override=True), what="built-up area")
    with pytest.raises(mg.CRSError, match="bare shapely geometry"):
        _geom.polygon_union(built.geometry.iloc[0], what="boundary")
    assert _geom.polygon_union(built.geometry.iloc[0], what="boundary", geom_crs=4326).area == pytest.approx(
        float(m.area.sum()), rel=REL
    )
    # metre coordinates labelled as degrees are refused, not projected into nonsense
    with pytest.raises(mg.CRSError, match="not longitude/latitude"):
        _geom.to_metric(m.set_crs(4326, allow_override=True), what="built-up area")


def test_bare_boundary_geometry_needs_its_crs(town: dict[str, Any]) -> None:
    geom = town["built"].geometry.iloc[0]
    for call in (
        lambda: mg.parks.from_osm(mg.demo_osm_path("wudaokou"), boundary=geom),
        lambda: mg.greenways.from_osm(mg.demo_osm_path("wudaokou"), boundary=geom),
        lambda: mg.facilities.from_osm(mg.demo_osm_path("wudaokou"), boundary=geom),
        lambda: mg.demand.residential_from_osm(mg.demo_osm_path("wudaokou"), boundary=geom),
    ):
        with pytest.raises(mg.CRSError, match="GeoSeries"):
            call()


def test_a_bow_tie_park_is_repaired_and_listed() -> None:
    """A park of Guixi (早闲公园) drawn as a bow-tie over its corners: two triangles, listed as repaired."""
    path = shared_path(OSM_FILES["guixi_pbf"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        parks = mg.parks.from_osm(path, crs=4548)
    park = parks.loc[parks["name"] == "早闲公园"]
    assert len(park) == 1
    west, south, east, north = park.to_crs(4326).total_bounds
    a, b, c, d = (west, south), (east, south), (east, north), (west, north)
    bow = gpd.GeoDataFrame(
        {"name": ["早闲公园 (bow-tie)", "早闲公园"]},
        geometry=[shapely.Polygon([a, c, b, d]), park.to_crs(4326).geometry.iloc[0]],
        crs=4326,
        index=["bow", "real"],
    ).to_crs(4548)
    with pytest.warns(mg.RepairWarning, match=r"1 invalid polygons.*'bow'.*Self-intersection"):
        geoms, repairs = _geom.valid_polygons(bow, what="park layer")
    assert repairs["row"].tolist() == ["bow"]
    assert repairs["reason"].iloc[0].startswith("Self-intersection")
    # independent route: the two triangles between the crossing of the diagonals and each side
    pa, pb, pc, pd = shapely.get_coordinates(bow.geometry.iloc[0].exterior)[[0, 2, 1, 3]]
    centre = shapely.intersection(shapely.LineString([pa, pc]), shapely.LineString([pb, pd]))
    triangles = shapely.Polygon([pd, pa, centre]).area + shapely.Polygon([pb, pc, centre]).area
    assert repairs["area_after_m2"].iloc[0] == pytest.approx(triangles, rel=1e-9)
    assert geoms[0].area == pytest.approx(triangles, rel=1e-9) and geoms[0].geom_type == "MultiPolygon"
    assert geoms[1] is bow.geometry.iloc[1]  # a valid row is kept as it is
    assert repairs["area_after_m2"].iloc[0] != pytest.approx(repairs["area_before_m2"].iloc[0])


def test_missing_rows_are_refused_by_label_unless_dropped() -> None:
    square = shapely.box(0, 0, 100, 100)
    layer = gpd.GeoSeries([square, None, shapely.Point(5, 5)], index=["a", "b", "c"], crs=3067)
    with pytest.raises(mg.InputError, match="'b'"):
        _geom.valid_polygons(layer, what="residential land")
    with pytest.raises(mg.InputError, match=r"Point.*'c'"):
        _geom.valid_polygons(layer.drop("b"), what="residential land")
    geoms, repairs = _geom.valid_polygons(layer, what="residential land", drop_empty=True)
    assert [g.area for g in geoms] == [10_000.0, 0.0, 0.0] and repairs.empty
    assert _geom.polygon_union(layer, what="residential land", drop_empty=True).area == 10_000.0
