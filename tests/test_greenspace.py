"""园林城镇: green-land ratio (overlaps once, lower bound) and green-cover ratio from a land-cover raster."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import crs as _crs
from mtown_geo import greenspace
from mtown_geo.sources import osm
from mtown_geo.sources.raster import read_classes

from .conftest import OSM_FILES, shared_path

CRS = "EPSG:4549"


def test_overlaps_count_once_in_the_first_class() -> None:
    area = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1000, 1000)], crs=CRS)
    green = gpd.GeoDataFrame(
        {"green_class": ["park", "park", "green", "green"]},
        geometry=[
            shapely.box(0, 0, 200, 200),  # 4 ha park
            shapely.box(100, 100, 300, 300),  # a park overlapping the first by 1 ha
            shapely.box(200, 0, 400, 200),  # grass touching the park: 4 ha, 1 ha of it under the second park
            shapely.box(900, 900, 1100, 1100),  # a wood half outside the area
        ],
        crs=CRS,
    )
    r = greenspace.land_ratio(green, area, order=["park", "green"])
    park = 4e4 + 4e4 - 1e4
    grass = 4e4 - 1e4 + 1e4  # the 200-400 × 0-200 box less its overlap (200-300 × 100-200) + the clipped wood
    assert r.by_class.loc["park", "area_m2"] == pytest.approx(park)
    assert r.by_class.loc["green", "area_m2"] == pytest.approx(grass)
    assert r.by_class.loc["green", "raw_m2"] == pytest.approx(5e4)
    assert r.green_m2 == pytest.approx(park + grass)
    assert r.rate == pytest.approx((park + grass) / 1e6)
    assert r.layer["area_m2"].sum() == pytest.approx(r.green_m2)
    # the other order moves the shared hectare, not the total
    r2 = greenspace.land_ratio(green, area, order=["green", "park"])
    assert r2.green_m2 == pytest.approx(r.green_m2) and r2.by_class.loc["green", "area_m2"] == pytest.approx(5e4)


def _reference_green(path: str) -> gpd.GeoDataFrame:
    pyrosm = pytest.importorskip("pyrosm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = pyrosm.OSM(path).get_data_by_custom_criteria(
            custom_filter={
                "leisure": ["park", "garden", "common"],
                "landuse": ["village_green", "recreation_ground", "grass", "forest", "flowerbed"],
                "natural": ["wood", "scrub", "grassland", "heath"],
                "tourism": ["zoo"],
            },
            filter_type="keep",
            keep_nodes=False,
            keep_ways=True,
            keep_relations=True,
        )
    tags = [json.loads(t) if isinstance(t, str) else {} for t in d["tags"]]
    access = [t.get("access") for t in tags]
    if "access" in d:
        access = [a if isinstance(a, str) else b for a, b in zip(d["access"], access, strict=True)]
    private_garden = (d.get("leisure") == "garden").to_numpy() & np.isin(np.asarray(access, dtype=object), ["private", "no"])
    d = d[~private_garden]
    return d[d.geom_type.isin(["Polygon", "MultiPolygon"])]


def test_haidian_green_land_against_pyrosm_and_shapely() -> None:
    path = shared_path(OSM_FILES["haidian"])
    ext = osm.read_osm(path)
    rules = mg.standards.load().tasks.greenspace
    w, s, e, n = ext.bounds
    box = gpd.GeoDataFrame(geometry=[shapely.box(w, s, e, n)], crs=4326)
    metric = _crs.metric_crs(box)
    area = gpd.GeoDataFrame(geometry=[box.to_crs(metric).union_all().buffer(-300)], crs=metric)
    parts = []
    for key, cls in rules.classes.items():
        sel = osm.select(ext, cls.osm, exclude=rules.exclude, kind="polygon")
        parts.append(gpd.GeoDataFrame({"green_class": [key] * len(sel)}, geometry=sel.geometry.to_numpy(), crs=4326))
    green = gpd.GeoDataFrame(gpd.pd.concat(parts, ignore_index=True), crs=4326).to_crs(metric)
    r = greenspace.land_ratio(green, area, order=list(rules.classes))
    ref = _reference_green(str(path)).to_crs(metric)
    geom = area.union_all()
    expected = shapely.intersection(shapely.make_valid(shapely.union_all(np.asarray(ref.geometry.values))), geom).area
    assert r.green_m2 == pytest.approx(expected, rel=1e-3)
    assert 0.05 < r.rate < 0.6
    assert r.by_class.loc["park", "area_m2"] > 1e5  # 12 parks (330 ha in the extract)


def _write_tif(path, data: np.ndarray, *, nodata: int | None = 0) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype="uint8", crs=CRS,
        transform=from_origin(0, 100, 10, 10), nodata=nodata,
    ) as ds:  # fmt: skip
        ds.write(data.astype("uint8"), 1)


def test_green_cover_from_a_hand_made_raster(tmp_path) -> None:
    """A 10 × 10 raster of 10 m pixels: trees in the left half, grass in one row, nodata in a corner."""
    data = np.full((10, 10), 50, dtype=np.uint8)  # 50: built-up
    data[:, :5] = 10  # trees
    data[9, :] = 30  # grass on the bottom row
    data[0, 9] = 0  # nodata
    tif = tmp_path / "lc.tif"
    _write_tif(tif, data)
    # the area covers the pixel centres of columns 0-7 and rows 0-9 (x 0-80 m)
    area = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 80, 100)], crs=CRS)
    rc = read_classes(tif, area)
    r = greenspace.cover_ratio(
        rc.classes, transform=rc.transform, crs=rc.crs, area=area, green_classes=[10, 20, 30], nodata=rc.nodata
    )
    # 80 pixels inside; green: 5 columns × 9 rows of trees + 8 grass pixels of the bottom row
    assert r.n_pixels == 80 and r.n_green == 45 + 8
    assert r.rate == pytest.approx(53 / 80)
    # a corner with nodata is left out of both counts
    area2 = gpd.GeoDataFrame(geometry=[shapely.box(60, 60, 100, 100)], crs=CRS)
    rc2 = read_classes(tif, area2)
    r2 = greenspace.cover_ratio(rc2.classes, transform=rc2.transform, crs=rc2.crs, area=area2, green_classes=[10], nodata=0)
    assert r2.n_pixels == 15 and r2.n_green == 0
    with pytest.raises(mg.InputError, match="does not cover"):
        read_classes(tif, gpd.GeoDataFrame(geometry=[shapely.box(500, 500, 600, 600)], crs=CRS))


def _green_layer(ext: osm.OSMExtract, metric) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The profile's green-land classes of an extract, in a metric CRS (as the green-land task selects them)."""
    rules = mg.standards.load().tasks.greenspace
    parts = []
    for k, cls in rules.classes.items():
        sel = osm.select(ext, cls.osm, exclude=rules.exclude, kind="polygon")
        parts.append(gpd.GeoDataFrame({"green_class": [k] * len(sel)}, geometry=sel.geometry.to_numpy(), crs=4326))
    return gpd.GeoDataFrame(gpd.pd.concat(parts, ignore_index=True), crs=4326).to_crs(metric), list(rules.classes)


def _assert_same_land(fast: greenspace.LandRatio, full: greenspace.LandRatio) -> None:
    """The same figures to 1e-12 and, per class, the same point set: the same polygons, the
    symmetric difference under 1e-9 of the class's area, the areas to 1e-12."""
    assert fast.green_m2 > 1e4
    for a, b in ((fast.green_m2, full.green_m2), (fast.rate, full.rate), (fast.total_m2, full.total_m2)):
        assert a == pytest.approx(b, rel=1e-12, abs=0)
    assert list(fast.by_class.index) == list(full.by_class.index)
    np.testing.assert_allclose(fast.by_class.to_numpy(), full.by_class.to_numpy(), rtol=1e-12, atol=0)
    assert list(fast.layer["green_class"]) == list(full.layer["green_class"])
    np.testing.assert_allclose(fast.layer["area_m2"].to_numpy(), full.layer["area_m2"].to_numpy(), rtol=1e-12, atol=0)
    for a, b in zip(fast.layer.geometry, full.layer.geometry, strict=True):
        assert a.is_valid and b.is_valid
        assert shapely.get_type_id(a) == shapely.get_type_id(b)
        assert shapely.get_num_geometries(a) == shapely.get_num_geometries(b)
        assert sorted(shapely.get_num_interior_rings(shapely.get_parts(a))) == sorted(
            shapely.get_num_interior_rings(shapely.get_parts(b))
        )
        assert a.area == pytest.approx(b.area, rel=1e-12, abs=0)
        assert shapely.symmetric_difference(a, b).area <= 1e-9 * b.area


@pytest.mark.parametrize(
    ("key", "centre", "radius_m"),
    [("liechtenstein", (9.5209, 47.1410), 2000.0), ("haidian", (116.330, 40.003), 700.0)],
)
def test_prefiltered_unions_count_the_same_land_as_the_full_ones(key: str, centre: tuple[float, float], radius_m: float) -> None:
    """Only the polygons that meet the built-up area are unioned: the same land as the union
    of every polygon."""
    ext = osm.read_osm(shared_path(OSM_FILES[key]))
    pt = gpd.GeoDataFrame(geometry=[shapely.Point(centre)], crs=4326)
    metric = _crs.metric_crs(pt)
    area = gpd.GeoDataFrame(geometry=pt.to_crs(metric).buffer(radius_m), crs=metric)
    green, order = _green_layer(ext, metric)
    geoms = np.asarray(green.geometry.values)
    geom = area.union_all()
    meets = shapely.intersects(geoms, geom)
    keep = greenspace._meeting(geoms, np.ones(len(geoms), dtype=bool), geom)
    # the polygons that meet the area, by the exact test, and no other
    assert keep.tolist() == meets.tolist()
    assert 0 < keep.sum() < len(geoms)
    # only among the rows asked about
    even = np.arange(len(geoms)) % 2 == 0
    assert greenspace._meeting(geoms, even, geom).tolist() == (even & meets).tolist()
    fast = greenspace.land_ratio(green, area, order=order)
    full = greenspace.land_ratio(green, area, order=order, prefilter=False)
    _assert_same_land(fast, full)


def test_prefiltered_unions_in_andorran_parishes(andorra_parishes) -> None:
    """Two parishes of a batch run, each its extract, with a built-up area of many parts: the
    quick route counts the same land as every polygon's union."""
    for _name, town_m, ext in andorra_parishes:
        metric = town_m.crs
        green, order = _green_layer(ext, metric)
        # the parish's land within 1.2 km of its 6 largest green polygons' centres: an area of several parts
        big = green.loc[green.area.sort_values().index[-6:]]
        built = gpd.GeoDataFrame(
            geometry=[shapely.intersection(town_m.union_all(), shapely.union_all(big.centroid.buffer(1200.0).to_numpy()))],
            crs=metric,
        )
        fast = greenspace.land_ratio(green, built, order=order)
        full = greenspace.land_ratio(green, built, order=order, prefilter=False)
        _assert_same_land(fast, full)


def test_overlay_polygons_gathered_without_a_union() -> None:
    """An overlay that leaves lines behind: its polygons are kept as one valid MultiPolygon, the
    same land as their union; a point-touching pair stays two polygons."""
    a = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    b = shapely.MultiPolygon(
        [shapely.box(10, 0, 20, 5), shapely.box(-5, 10, 0, 15), shapely.box(2, 2, 4, 4), shapely.box(6, 6, 8, 8)]
    )
    hit = shapely.intersection(shapely.union(a, shapely.box(30, 30, 40, 40)), b)
    assert shapely.get_type_id(hit) == 7  # polygons, lines and points
    got = greenspace._polygonal(hit)
    parts = [p for p in shapely.get_parts(hit) if shapely.get_type_id(p) == 3]
    ref = shapely.union_all(parts)
    assert got.is_valid
    assert shapely.get_type_id(got) == 6 and shapely.get_num_geometries(got) == 2
    assert shapely.equals(got, ref) and got.area == ref.area == 8.0
    two = greenspace._polygonal(
        shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2), shapely.LineString([(5, 5), (6, 6)])])
    )
    assert shapely.get_type_id(two) == 6 and shapely.get_num_geometries(two) == 2 and two.is_valid
    # polygons that overlap (not an overlay's) are unioned
    over = greenspace._polygonal(shapely.GeometryCollection([shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)]))
    assert over.is_valid and over.area == pytest.approx(7.0)


def test_green_land_task_tries_only_the_polygons_that_may_reach_the_area(andorra_parishes) -> None:
    """The polygons the green-land task leaves out before projecting lie far from the built-up
    area once projected, and the land counted is the same to the bit."""
    from mtown_geo.pipeline.tasks import _may_reach

    for _name, town_m, ext in andorra_parishes:
        metric = town_m.crs
        feats = ext.features
        geoms = feats.geometry.to_numpy()
        polys = np.isin(shapely.get_type_id(geoms), [3, 6])
        built = town_m.union_all().representative_point().buffer(800.0)
        keep = _may_reach(geoms[polys], built, metric)
        assert 0 < keep.sum() < 0.8 * len(keep)
        dropped = gpd.GeoSeries(geoms[polys][~keep], crs=4326).to_crs(metric).to_numpy()
        assert shapely.distance(dropped, built).min() > 900.0  # the 1 km margin, less the box's corners
        green, order = _green_layer(ext, metric)
        green_4326 = green.to_crs(4326)
        near = _may_reach(green_4326.geometry.to_numpy(), built, metric)
        area = gpd.GeoDataFrame(geometry=[built], crs=metric)
        every = greenspace.land_ratio(green, area, order=order)
        tried = greenspace.land_ratio(green[near], area, order=order)
        assert every.green_m2 > 0 and tried.green_m2 == every.green_m2
        assert list(shapely.to_wkb(tried.layer.geometry.to_numpy())) == list(shapely.to_wkb(every.layer.geometry.to_numpy()))
        pd.testing.assert_frame_equal(tried.by_class, every.by_class, check_exact=True)
