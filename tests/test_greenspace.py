"""园林城镇: green-land ratio (overlaps once, lower bound) and green-cover ratio from a land-cover raster."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import numpy as np
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


@pytest.mark.parametrize(
    ("key", "centre", "radius_m"),
    [("liechtenstein", (9.5209, 47.1410), 2000.0), ("haidian", (116.330, 40.003), 700.0)],
)
def test_prefiltered_unions_count_the_same_land_as_the_full_ones(key: str, centre: tuple[float, float], radius_m: float) -> None:
    """Only the polygons linked to the built-up area are unioned: the same land as every polygon's union."""
    ext = osm.read_osm(shared_path(OSM_FILES[key]))
    rules = mg.standards.load().tasks.greenspace
    pt = gpd.GeoDataFrame(geometry=[shapely.Point(centre)], crs=4326)
    metric = _crs.metric_crs(pt)
    area = gpd.GeoDataFrame(geometry=pt.to_crs(metric).buffer(radius_m), crs=metric)
    parts = []
    for k, cls in rules.classes.items():
        sel = osm.select(ext, cls.osm, exclude=rules.exclude, kind="polygon")
        parts.append(gpd.GeoDataFrame({"green_class": [k] * len(sel)}, geometry=sel.geometry.to_numpy(), crs=4326))
    green = gpd.GeoDataFrame(gpd.pd.concat(parts, ignore_index=True), crs=4326).to_crs(metric)
    linked = greenspace._linked_to(np.asarray(green.geometry.values), area.union_all())
    assert 0 < linked.sum() < len(green)  # some polygons are left out
    # the same set as a search that tests every pair of boxes that meet (the R-tree's exact test)
    geoms = np.asarray(green.geometry.values)
    tree = shapely.STRtree(geoms)
    want = np.zeros(len(geoms), dtype=bool)
    front = np.unique(tree.query(area.union_all(), predicate="intersects"))
    while len(front):
        want[front] = True
        nxt = np.unique(tree.query(geoms[front], predicate="intersects")[1])
        front = nxt[~want[nxt]]
    assert linked.tolist() == want.tolist()
    fast = greenspace.land_ratio(green, area, order=list(rules.classes))
    full = greenspace.land_ratio(green, area, order=list(rules.classes), prefilter=False)
    assert fast.green_m2 > 1e4
    assert fast.green_m2 == pytest.approx(full.green_m2, rel=1e-9)
    assert fast.rate == pytest.approx(full.rate, rel=1e-9)
    assert list(fast.by_class.index) == list(full.by_class.index)
    np.testing.assert_allclose(fast.by_class.to_numpy(), full.by_class.to_numpy(), rtol=1e-9)
    assert list(fast.layer["green_class"]) == list(full.layer["green_class"])
    for a, b in zip(fast.layer.geometry, full.layer.geometry, strict=True):
        assert shapely.symmetric_difference(a, b).area <= 1e-6
    # the exact test matters: a polygon whose envelope meets the area but that lies apart
    # from it, and from every polygon that reaches it, is left out
    apart = green.geometry.to_numpy()[~linked]
    assert not shapely.intersects(apart, area.union_all()).any()
