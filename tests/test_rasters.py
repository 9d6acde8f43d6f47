"""Travel-time rasters on real networks and the real Helsinki population grid.

Independent route: the cell centres come from ``rasterio.transform.xy`` (not from the
module's own arithmetic) and their times from a separate ``Reach.at`` call; files are
read back with rasterio.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.errors
import rasterio.transform
from affine import Affine

import mtown_geo as mg
from mtown_geo import rasters

from .conftest import OSM_FILES, shared_path

POP_TIF = "helsinki_pyrosm/population_hsy2020_250m_epsg3879.tif"


def _quiet_at(reach: mg.access.Reach, pts: gpd.GeoSeries) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        return reach.at(pts).to_numpy(dtype=float).T


def _centres(transform: Affine, height: int, width: int, crs: object) -> gpd.GeoSeries:
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    xs, ys = rasterio.transform.xy(transform, rows.ravel(), cols.ravel(), offset="center")
    return gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=crs)


def _expected(reach: mg.access.Reach, transform: Affine, height: int, width: int, crs: object) -> np.ndarray:
    times = _quiet_at(reach, _centres(transform, height, width, crs))
    return np.where(np.isfinite(times), times, -1.0).reshape(len(reach.categories), height, width)


@pytest.fixture(scope="module")
def karhula_reach(karhula_walk, demo_osm):
    fac = mg.facilities.from_osm(demo_osm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        return mg.access.reach(karhula_walk, fac, categories=["sports", "kindergarten", "bus_stop"], max_time_min=20)


@pytest.fixture(scope="module")
def helsinki_reach():
    path = shared_path(OSM_FILES["helsinki"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(path, mode="walk")
    fac = mg.facilities.from_osm(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        return mg.access.reach(net, fac, categories=["park", "primary_school", "health_station"], max_time_min=30)


def test_values_at_cell_centres_equal_reach_at(karhula_reach):
    tt = rasters.travel_time_raster(karhula_reach, resolution_m=100)
    assert tt.array.dtype == np.float32
    assert tt.categories == karhula_reach.categories
    assert tt.crs.equals(karhula_reach.network.crs)
    assert tt.transform.a == 100 and tt.transform.e == -100
    assert tt.transform.c % 100 == 0 and tt.transform.f % 100 == 0  # aligned on whole cells
    # the grid covers the network
    x0, y0, x1, y1 = karhula_reach.network.edges.total_bounds
    assert tt.transform.c <= x0 and tt.transform.f >= y1
    assert tt.transform.c + 100 * tt.width >= x1 and tt.transform.f - 100 * tt.height <= y0
    want = _expected(karhula_reach, tt.transform, tt.height, tt.width, tt.crs)
    np.testing.assert_allclose(tt.array, want.astype(np.float32), rtol=1e-6, atol=1e-5)
    valid = tt.array != -1
    assert 0.2 < valid.mean() < 1.0  # the town has fields and water: not every cell is served
    assert (tt.array[valid] <= 20).all() and (tt.array[valid] >= 0).all()
    np.testing.assert_array_equal(np.isnan(tt.band("sports")), tt.array[0] == -1)


def test_raster_aligned_to_the_helsinki_population_grid(helsinki_reach, tmp_path):
    pop_path = shared_path(POP_TIF)
    out = tmp_path / "times.tif"
    tt = rasters.travel_time_raster(helsinki_reach, like=pop_path, path=out)
    assert tt.path == out
    with rasterio.open(pop_path) as pop, rasterio.open(out) as got:
        assert got.transform == pop.transform
        assert (got.height, got.width) == (pop.height, pop.width)
        assert got.crs == pop.crs
        assert got.crs.to_epsg() == 3879
        assert got.count == 3
        assert got.descriptions == ("park", "primary_school", "health_station")
        assert got.nodata == -1
        assert got.dtypes == ("float32",) * 3
        data = got.read()
        people = pop.read(1)
        pop_nodata = pop.nodata
    np.testing.assert_array_equal(data, tt.array)
    # independent: centres in EPSG:3879 by rasterio, times by Reach.at (which reprojects them)
    want = _expected(helsinki_reach, tt.transform, tt.height, tt.width, tt.crs)
    np.testing.assert_allclose(data, want.astype(np.float32), rtol=1e-6, atol=1e-5)
    # the grid only partly overlaps the OSM extract: cells far west of it have no time
    valid = data[0] != -1
    assert valid.any() and not valid.all()
    assert not valid[:, 0].any()
    # people and times line up cell for cell: some people live within 10 min of a park
    inhabited = people != pop_nodata
    near_park = valid & (data[0] <= 10)
    assert people[inhabited & near_park].sum() > 0
    # no temporary file is left beside the result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["times.tif"]


def test_like_as_open_dataset_and_geographic_grid(karhula_reach, tmp_path):
    """A template in lon/lat (as WorldPop ships) gives the same values as Reach.at at its centres."""
    lonlat = karhula_reach.network.edges.to_crs(4326).total_bounds
    res = 0.002
    transform = Affine(res, 0, lonlat[0], 0, -res, lonlat[3])
    width = int(np.ceil((lonlat[2] - lonlat[0]) / res))
    height = int(np.ceil((lonlat[3] - lonlat[1]) / res))
    tpl = tmp_path / "tpl.tif"
    with rasterio.open(
        tpl, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32", crs="EPSG:4326", transform=transform
    ) as dst:
        dst.write(np.ones((1, height, width), dtype=np.float32))
    with rasterio.open(tpl) as ds:
        tt = rasters.travel_time_raster(karhula_reach, like=ds, categories=["bus_stop", "sports"])
    assert tt.categories == ("bus_stop", "sports")
    assert tt.crs.to_epsg() == 4326 and tt.transform == transform and tt.array.shape == (2, height, width)
    times = _quiet_at(karhula_reach, _centres(transform, height, width, "EPSG:4326"))
    want = np.where(np.isfinite(times), times, -1.0).reshape(3, height, width)
    np.testing.assert_allclose(tt.array, want[[2, 0]].astype(np.float32), rtol=1e-6, atol=1e-5)
    assert (tt.array != -1).any()


def test_area_masks_cells_outside(karhula_reach, demo_bounds):
    town = demo_bounds[demo_bounds["kind"] == "建成区"]
    tt = rasters.travel_time_raster(karhula_reach, resolution_m=50, area=town)
    centres = _centres(tt.transform, tt.height, tt.width, tt.crs)
    inside = centres.within(town.to_crs(tt.crs).union_all()).to_numpy().reshape(tt.height, tt.width)
    assert inside.any() and not inside.all()
    assert (tt.array[:, ~inside] == -1).all()
    want = _expected(karhula_reach, tt.transform, tt.height, tt.width, tt.crs)
    np.testing.assert_allclose(tt.array[:, inside], want[:, inside].astype(np.float32), rtol=1e-6, atol=1e-5)
    # the grid spans the area's extent, not the network's
    bx0, by0, bx1, by1 = town.to_crs(tt.crs).total_bounds
    x0, y1 = tt.transform.c, tt.transform.f
    assert x0 <= bx0 < x0 + 50 and x0 + 50 * (tt.width - 1) < bx1 <= x0 + 50 * tt.width
    assert y1 - 50 < by1 <= y1 and y1 - 50 * tt.height <= by0 < y1 - 50 * (tt.height - 1)


def test_write_replaces_an_existing_file(karhula_reach, tmp_path):
    out = tmp_path / "sub" / "t.tif"
    first = rasters.travel_time_raster(karhula_reach, resolution_m=200, path=out)
    second = rasters.travel_time_raster(karhula_reach, resolution_m=100, categories=["sports"], path=out)
    assert first.path == second.path == out
    with rasterio.open(out) as ds:
        assert ds.count == 1 and ds.descriptions == ("sports",) and ds.res == (100.0, 100.0)
        np.testing.assert_array_equal(ds.read(1), second.array[0])
        assert "OpenStreetMap" in ds.tags()["attribution"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["t.tif"]


def test_bad_arguments_are_clear_errors(karhula_reach, tmp_path):
    with pytest.raises(mg.InputError, match="either like"):
        rasters.travel_time_raster(karhula_reach)
    with pytest.raises(mg.InputError, match="either like"):
        rasters.travel_time_raster(karhula_reach, like=tmp_path / "x.tif", resolution_m=10)
    with pytest.raises(mg.DataNotFoundError, match="does not exist"):
        rasters.travel_time_raster(karhula_reach, like=tmp_path / "missing.tif")
    with pytest.raises(mg.InputError, match="resolution_m"):
        rasters.travel_time_raster(karhula_reach, resolution_m=-5)
    with pytest.raises(mg.InputError, match="unknown categories"):
        rasters.travel_time_raster(karhula_reach, resolution_m=100, categories=["hospital"])
    with pytest.raises(mg.InputError, match="more than"):
        rasters.travel_time_raster(karhula_reach, resolution_m=0.1)
    with pytest.raises(mg.InputError, match=r"\.tif"):
        rasters.travel_time_raster(karhula_reach, resolution_m=100, path=tmp_path / "t.png")
    assert not (tmp_path / "t.png").exists()
    with pytest.raises(mg.InputError, match="expected a Reach"):
        rasters.travel_time_raster(None, resolution_m=100)  # type: ignore[arg-type]
    text = tmp_path / "not_a_raster.tif"
    text.write_text("hello")
    with pytest.raises(mg.InputError, match="cannot read"):
        rasters.travel_time_raster(karhula_reach, like=text)
    nocrs = tmp_path / "nocrs.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(nocrs, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32") as dst:
            dst.write(np.zeros((1, 2, 2), dtype=np.float32))
        with pytest.raises(mg.CRSError, match="no CRS"):
            rasters.travel_time_raster(karhula_reach, like=nocrs)
    with pytest.raises(mg.CRSError, match="no CRS"):
        rasters.travel_time_raster(
            karhula_reach, resolution_m=100, area=gpd.GeoSeries([karhula_reach.network.nodes.geometry.iloc[0].buffer(100)])
        )


def test_tags_state_the_cut_off_and_what_no_data_means(karhula_walk, demo_osm, tmp_path):
    """A Reach cut at 5 min leaves cells with no data that are merely farther; a whole-network search only unreachable ones."""
    fac = mg.facilities.from_osm(demo_osm, categories=["kindergarten"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        cut = mg.access.reach(karhula_walk, fac, max_time_min=5)
        whole = mg.access.reach(karhula_walk, fac, max_time_min=np.inf)
    a = rasters.travel_time_raster(cut, resolution_m=100, path=tmp_path / "cut.tif")
    b = rasters.travel_time_raster(whole, resolution_m=100, path=tmp_path / "whole.tif")
    with rasterio.open(a.path) as ds:
        tags = ds.tags()
        assert tags["max_time_min"] == "5" and ds.tags(1)["max_time_min"] == "5"
        assert "cut-off of 5 min" in tags["nodata_meaning"] and tags["nodata"] == "-1" and ds.nodata == -1
        assert tags["snap_dist_m"] == "300"
    with rasterio.open(b.path) as ds:
        assert ds.tags()["max_time_min"] == "none"
        assert ds.tags()["nodata_meaning"].startswith("unreachable")
    A, B = a.array[0], b.array[0]
    nd = A == -1
    np.testing.assert_array_equal(A[~nd], B[~nd])  # within the cut-off both searches agree
    assert (B[nd] > 5).any()  # cells the cut search left empty are 5+ minutes away...
    assert ((B[nd] > 5) | (B[nd] == -1)).all()  # ...or unreachable in the whole search too
    # with the whole network searched, no data is exactly: off the network, or on a piece without a kindergarten
    centres = _centres(b.transform, b.height, b.width, b.crs)
    snaps = mg.access.snap(karhula_walk, centres)
    used = whole.point_snaps[whole.point_snaps["ok"]]
    pieces = set(used["component"])
    unreachable = ~snaps["ok"].to_numpy() | ~snaps["component"].isin(pieces).to_numpy()
    assert unreachable.any() and (~unreachable).any()
    np.testing.assert_array_equal(B.ravel() == -1, unreachable)
