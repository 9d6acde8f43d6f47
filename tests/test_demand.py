"""Demand units: exact weights from polygons, rasters, census counts and buildings.

Every figure is checked against an independent route: the HSY 2020 population grid as
vector polygons (areal interpolation with shapely) for the raster reader, geopandas
overlays and joins for clipped pieces and zones, pyrosm for OSM land use, geodesic areas
(pyproj.Geod) for building footprints, and the census table for county totals.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from rasterio.warp import Resampling, calculate_default_transform, reproject

import mtown_geo as mg
from mtown_geo import _geom, demand

from .conftest import OSM_FILES, assert_same_frames, shared_path

HSY_TIF = "helsinki_pyrosm/population_hsy2020_250m_epsg3879.tif"
HSY_GPKG = "helsinki_pyrosm/population_grid_2020_hsy.gpkg"
HSY_TOTAL = 71_724  # people in the HSY 2020 grid (data README)
CELL = 250.0


# ---------------------------------------------------------------------------------------
# Fixtures (real data)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hsy_tif() -> Path:
    return shared_path(HSY_TIF)


@pytest.fixture(scope="module")
def hsy_cells() -> gpd.GeoDataFrame:
    """The HSY grid as vector squares in EPSG:3879 (independent of the GeoTIFF).

    The GeoPackage stores the squares in EPSG:4326; back in EPSG:3879 their corners lie
    within about a metre of the 250 m lattice of the HSY grid, so they are snapped to it.
    """
    g = gpd.read_file(shared_path(HSY_GPKG)).to_crs(3879)
    bounds = shapely.bounds(np.asarray(g.geometry.values))
    snapped = np.round(bounds / CELL) * CELL
    assert np.abs(bounds - snapped).max() < 2.0  # really the 250 m lattice
    assert np.all(snapped[:, 2] - snapped[:, 0] == CELL) and np.all(snapped[:, 3] - snapped[:, 1] == CELL)
    return gpd.GeoDataFrame(
        {"id": g["id"].to_numpy(), "pop": g["population"].to_numpy(dtype=float)},
        geometry=shapely.box(*snapped.T),
        crs=3879,
    )


def _overlay_pop(cells: gpd.GeoDataFrame, area: shapely.Geometry, area_crs: int | str) -> float:
    """People in an area by areal interpolation of the vector grid, done in EPSG:3879.

    The area (densified to 5 m) is carried into the grid's CRS: the opposite direction to
    the reader, which carries the raster cells into the area's CRS.
    """
    a = gpd.GeoSeries([shapely.segmentize(area, 5.0)], crs=area_crs).to_crs(3879).iloc[0]
    cell_geoms = np.asarray(cells.geometry.values)
    frac = shapely.area(shapely.intersection(cell_geoms, a)) / shapely.area(cell_geoms)
    return float((cells["pop"].to_numpy() * frac).sum())


def _warp_to_wgs84(src_path: Path, out: Path, resampling: Resampling, *, resolution: float = 0.001) -> Path:
    with rasterio.open(src_path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds, resolution=resolution
        )
        profile = src.profile.copy()
        profile.update(crs="EPSG:4326", transform=transform, width=width, height=height)
        with rasterio.open(out, "w", **profile) as dst:
            reproject(
                rasterio.band(src, 1),
                rasterio.band(dst, 1),
                resampling=resampling,
                src_nodata=src.nodata,
                dst_nodata=src.nodata,
            )
    return out


def _copy_raster(src_path: Path, out: Path, *, edit=None, **profile_changes) -> Path:
    """A copy of a real raster with some profile entries (and optionally values) changed."""
    with rasterio.open(src_path) as src:
        data = src.read(1)
        profile = src.profile.copy()
    if edit is not None:
        data = edit(data.copy())
    profile.update(profile_changes)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data, 1)
    return out


@pytest.fixture(scope="module")
def demo_metric(demo_bounds):
    return mg.crs.to_metric(demo_bounds)


@pytest.fixture(scope="module")
def demo_residential(demo_osm):
    return mg.demand.residential_from_osm(demo_osm)


@pytest.fixture(scope="module")
def demo_parcels(demo_residential):
    return mg.crs.to_metric(demo_residential)


@pytest.fixture(scope="module")
def helsinki_buildings() -> gpd.GeoDataFrame:
    """OSM building footprints of central Helsinki, with ``building:levels`` as a column (EPSG:4326)."""
    ext = mg.sources.read_osm(shared_path(OSM_FILES["helsinki"]), buildings=True)
    f = ext.features
    b = f[f["tags"].map(lambda t: "building" in t).to_numpy(dtype=bool)]
    b = b[b.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    b["levels"] = b["tags"].map(lambda t: t.get("building:levels"))
    return b[["osm_id", "levels", "geometry"]].set_index("osm_id")


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    g = gpd.read_file(shared_path("zhejiang_census_tudigong/zhejiang_counties_2021.geojson"))
    return mg.crs.to_metric(g)


# ---------------------------------------------------------------------------------------
# from_raster
# ---------------------------------------------------------------------------------------


def test_raster_whole_grid_keeps_every_cell_and_the_total(hsy_tif, hsy_cells):
    area = gpd.GeoSeries([shapely.box(*hsy_cells.total_bounds).buffer(1000)], crs=3879)
    # the area reaches 1 km beyond the grid on purpose: refused by default, read when allowed
    with pytest.raises(mg.InputError, match="covers only"):
        mg.demand.from_raster(hsy_tif, area=area)
    units = mg.demand.from_raster(hsy_tif, area=area, min_coverage=0)
    with rasterio.open(hsy_tif) as ds:
        footprint = shapely.box(*ds.bounds)
    assert units.attrs["raster_report"]["coverage"] == pytest.approx(footprint.area / area.iloc[0].area, rel=1e-9)
    assert list(units.index) == list(range(len(units)))
    assert {"area_m2", "pop", "res_area_m2", "row", "col", "value", "frac"} <= set(units.columns)
    with rasterio.open(hsy_tif) as ds:
        assert len(units) == ds.width * ds.height  # no nodata cell, every cell inside
    assert units["pop"].sum() == pytest.approx(HSY_TOTAL, rel=1e-12)
    assert units["pop"].sum() == pytest.approx(hsy_cells["pop"].sum(), rel=1e-12)
    assert np.all(units["frac"] == 1.0)
    assert units["area_m2"].to_numpy() == pytest.approx(CELL * CELL, rel=1e-9)
    # each unit carries the count of the vector cell its point lies in (0 where the grid has none)
    joined = gpd.sjoin(units, hsy_cells, how="left", predicate="within")
    assert not joined.index.duplicated().any()
    expected = joined["pop_right"].fillna(0.0).to_numpy()
    assert units["pop"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert int(joined["id"].notna().sum()) == len(hsy_cells) == 92


def test_raster_equals_vector_overlay_per_cell(hsy_tif, hsy_cells):
    centre = shapely.Point(25_496_000, 6_672_500)
    area = gpd.GeoSeries([centre.buffer(700)], crs=3879)
    units = mg.demand.from_raster(hsy_tif, area=area)
    a = area.iloc[0]
    cells = np.asarray(hsy_cells.geometry.values)
    frac = shapely.area(shapely.intersection(cells, a)) / shapely.area(cells)
    want = pd.Series(hsy_cells["pop"].to_numpy() * frac, index=hsy_cells["id"])
    joined = gpd.sjoin(units, hsy_cells, how="left", predicate="within")
    got = joined.dropna(subset=["id"]).set_index("id")["pop_left"]
    # every vector cell touching the area is a unit, with the same share of its people
    touching = want[want > 0]
    assert set(touching.index) <= set(got.index)
    assert got.reindex(touching.index).to_numpy() == pytest.approx(touching.to_numpy(), rel=1e-9)
    assert units["pop"].sum() == pytest.approx(want.sum(), rel=1e-9)
    # clipped cells carry their overlapped area, summing to the circle's own area
    assert units["area_m2"].sum() == pytest.approx(a.area, rel=1e-9)
    assert units["frac"].between(0, 1).all() and (units["frac"] < 1).any()
    # points lie on the clipped cells, inside the area
    assert shapely.covers(a.buffer(1e-6), np.asarray(units.geometry.values)).all()


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example reads the raster
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    crs=st.sampled_from([3067, 32635]),
    fx=st.floats(0.0, 1.0),
    fy=st.floats(0.0, 1.0),
    w=st.floats(30.0, 3000.0),
    h=st.floats(30.0, 3000.0),
)
def test_raster_total_preserved_for_random_boxes_in_another_crs(hsy_tif, hsy_cells, crs, fx, fy, w, h):
    grid_bounds = hsy_cells.to_crs(crs).total_bounds
    cx = grid_bounds[0] + fx * (grid_bounds[2] - grid_bounds[0])
    cy = grid_bounds[1] + fy * (grid_bounds[3] - grid_bounds[1])
    box = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    with rasterio.open(hsy_tif) as ds:
        footprint = gpd.GeoSeries([shapely.box(*ds.bounds).segmentize(5.0)], crs=3879).to_crs(crs).iloc[0]
    if not box.intersection(footprint).area > 0:  # the grid's frames are turned: a corner box may miss the raster
        with pytest.raises(mg.InputError, match="does not overlap"):
            mg.demand.from_raster(hsy_tif, area=gpd.GeoSeries([box], crs=crs))
        return
    units = mg.demand.from_raster(hsy_tif, area=gpd.GeoSeries([box], crs=crs), min_coverage=0)
    assert units.crs.to_epsg() == crs
    want = _overlay_pop(hsy_cells, box, crs)
    assert units["pop"].sum() == pytest.approx(want, rel=1e-6, abs=1e-6)
    assert units["pop"].to_numpy() == pytest.approx((units["value"] * units["frac"]).to_numpy(), rel=1e-12)
    assert units["area_m2"].sum() == pytest.approx(box.intersection(footprint).area, rel=1e-6)


def test_raster_wgs84_copy_sum_resampled_preserves_the_total(hsy_tif, hsy_cells, tmp_path):
    # 'sum' resampling moves counts, so totals (not densities) survive the warp; the copy
    # is float32, hence the 1e-6 relative tolerance on 71,724 people.
    warped = _warp_to_wgs84(hsy_tif, tmp_path / "hsy_wgs84_sum.tif", Resampling.sum)
    with rasterio.open(warped) as ds:
        assert ds.crs.to_epsg() == 4326
    grid_3067 = hsy_cells.to_crs(3067)
    whole = gpd.GeoSeries([shapely.box(*grid_3067.total_bounds).buffer(2000)], crs=3067)
    units = mg.demand.from_raster(warped, area=whole, min_coverage=0)
    assert units["pop"].sum() == pytest.approx(HSY_TOTAL, rel=1e-6)
    # a box cutting the grid: the warped cells cut by its edge spread their people evenly,
    # so the two estimates can differ by at most what those cut cells hold
    box = shapely.box(384_600, 6_671_000, 385_900, 6_672_300)  # inside the grid
    part = mg.demand.from_raster(warped, area=gpd.GeoSeries([box], crs=3067))
    want = _overlay_pop(hsy_cells, box, 3067)
    cut = part.loc[part["frac"] < 1, "value"].sum()
    assert 0 < want < HSY_TOTAL
    assert abs(part["pop"].sum() - want) <= cut
    assert part["area_m2"].sum() == pytest.approx(box.area, rel=1e-6)


def test_raster_wgs84_copy_nearest_resampled_copies_counts(hsy_tif, hsy_cells, tmp_path):
    # 'nearest' copies each source count into every finer cell whose centre it holds:
    # totals are NOT preserved, but each warped cell must read as the count under its centre
    warped = _warp_to_wgs84(hsy_tif, tmp_path / "hsy_wgs84_nearest.tif", Resampling.nearest)
    whole = gpd.GeoSeries([shapely.box(*hsy_cells.total_bounds).buffer(2000)], crs=3879)
    units = mg.demand.from_raster(warped, area=whole, min_coverage=0)
    with rasterio.open(warped) as ds:
        t = ds.transform
    lon = t.c + (units["col"].to_numpy() + 0.5) * t.a
    lat = t.f + (units["row"].to_numpy() + 0.5) * t.e
    centres = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(3879)
    joined = gpd.sjoin(centres, hsy_cells, how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    x, y = centres.geometry.x.to_numpy(), centres.geometry.y.to_numpy()
    off_edge = (np.abs(x / CELL - np.round(x / CELL)) * CELL > 1) & (np.abs(y / CELL - np.round(y / CELL)) * CELL > 1)
    assert off_edge.sum() > 0.9 * len(units)
    expected = joined["pop"].fillna(0.0).to_numpy()
    assert units["value"].to_numpy()[off_edge] == pytest.approx(expected[off_edge])
    assert units["pop"].sum() > 5 * HSY_TOTAL  # ~16 copies of each 250 m count: counts inflated


def test_raster_open_dataset_and_nodata_cells(hsy_tif, hsy_cells, tmp_path):
    # three populated cells set to nodata (-1) are skipped, and their people with them
    with rasterio.open(hsy_tif) as ds:
        values = ds.read(1)
    picks = [(0, 3), (5, 4), (8, 9)]
    lost = sum(float(values[r, c]) for r, c in picks)

    def _drop(a):
        for r, c in picks:
            a[r, c] = -1
        return a

    holes = _copy_raster(hsy_tif, tmp_path / "holes.tif", edit=_drop)
    area = gpd.GeoSeries([shapely.box(*hsy_cells.total_bounds).buffer(500)], crs=3879)
    with rasterio.open(holes) as ds:
        units = mg.demand.from_raster(ds, area=area, min_coverage=0)
        assert not ds.closed  # an open dataset is left open
    assert len(units) == values.size - len(picks)
    assert not set(zip(units["row"], units["col"], strict=True)) & set(picks)
    assert units["pop"].sum() == pytest.approx(HSY_TOTAL - lost, rel=1e-12)
    assert lost > 0


def test_raster_without_nodata_warns(hsy_tif, tmp_path):
    plain = _copy_raster(hsy_tif, tmp_path / "plain.tif", nodata=None)
    area = gpd.GeoSeries([shapely.Point(25_496_000, 6_672_500).buffer(400)], crs=3879)
    with pytest.warns(mg.MtownGeoWarning, match="no nodata"):
        units = mg.demand.from_raster(plain, area=area)
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.MtownGeoWarning)  # the real file declares nodata: silent
        same = mg.demand.from_raster(hsy_tif, area=area)
    assert units["pop"].to_numpy() == pytest.approx(same["pop"].to_numpy())


def test_raster_errors(hsy_tif, hsy_cells, tmp_path):
    area = gpd.GeoSeries([shapely.Point(25_496_000, 6_672_500).buffer(400)], crs=3879)
    far = gpd.GeoSeries([shapely.box(25_400_000, 6_600_000, 25_401_000, 6_601_000)], crs=3879)
    with pytest.raises(mg.InputError, match="does not overlap") as err:
        mg.demand.from_raster(hsy_tif, area=far)
    assert "25494750" in str(err.value) and "25400000" in str(err.value)  # both extents shown
    # any CRS works for the area (longitude/latitude is projected to its metric CRS); no CRS fails
    assert len(mg.demand.from_raster(hsy_tif, area=area.to_crs(4326))) == len(mg.demand.from_raster(hsy_tif, area=area))
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.demand.from_raster(hsy_tif, area=area.set_crs(None, allow_override=True))
    no_crs = _copy_raster(hsy_tif, tmp_path / "nocrs.tif", crs=None)
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.demand.from_raster(no_crs, area=area)

    def _negative(a):
        a[4, 5] = -7
        return a

    negative = _copy_raster(hsy_tif, tmp_path / "negative.tif", edit=_negative)
    with pytest.raises(mg.InputError, match="negative"):
        mg.demand.from_raster(negative, area=gpd.GeoSeries([shapely.box(*hsy_cells.total_bounds)], crs=3879))
    empty_cells = _copy_raster(hsy_tif, tmp_path / "all_nodata.tif", edit=lambda a: np.full_like(a, -1))
    with pytest.raises(mg.InputError, match="nodata"):
        mg.demand.from_raster(empty_cells, area=area)
    with pytest.raises(mg.DataNotFoundError):
        mg.demand.from_raster(tmp_path / "missing.tif", area=area)
    with pytest.raises(mg.InputError, match="band"):
        mg.demand.from_raster(hsy_tif, area=area, band=2)
    with pytest.raises(mg.InputError, match="empty"):
        mg.demand.from_raster(hsy_tif, area=area.iloc[:0])
    not_raster = tmp_path / "not_a_raster.tif"
    not_raster.write_text("population by cell")
    with pytest.raises(mg.InputError, match="cannot read"):
        mg.demand.from_raster(not_raster, area=area)
    assert issubclass(mg.InputError, ValueError)


def _crop_raster(src_path: Path, out: Path, *, cols: slice) -> Path:
    """The real raster cut to some of its columns (a tile that stops short of the town), with rasterio."""
    from rasterio.windows import Window

    with rasterio.open(src_path) as src:
        win = Window(cols.start, 0, cols.stop - cols.start, src.height)
        data = src.read(1, window=win)
        profile = src.profile.copy()
        profile.update(width=data.shape[1], height=data.shape[0], transform=src.window_transform(win))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data, 1)
    return out


def test_raster_covering_part_of_the_town_is_refused_with_the_share(hsy_tif, hsy_cells, tmp_path):
    """A tile holding the western 5 of the grid's 12 columns, over a town the whole grid covers:
    refused with the share (shapely on the cell outlines), accepted with a lower threshold."""
    west = _crop_raster(hsy_tif, tmp_path / "west.tif", cols=slice(0, 5))
    with rasterio.open(hsy_tif) as ds:
        town = shapely.box(*ds.bounds).buffer(-100)  # inside the full grid
    with rasterio.open(west) as ds:
        tile = shapely.box(*ds.bounds)
    share = tile.intersection(town).area / town.area
    assert 0.3 < share < 0.5
    area = gpd.GeoSeries([town], crs=3879)
    with pytest.raises(mg.InputError, match="covers only") as err:
        mg.demand.from_raster(west, area=area)
    msg = str(err.value)
    assert f"{share:.1%} of the area with valid cells" in msg
    assert f"{1 - share:.1%} of the area lies beyond the raster's edge" in msg and "min_coverage" in msg
    units = mg.demand.from_raster(west, area=area, min_coverage=0.3)
    rep = units.attrs["raster_report"]
    assert rep["coverage"] == pytest.approx(share, rel=1e-9)
    assert rep["footprint_share"] == pytest.approx(share, rel=1e-9) and rep["nodata_share"] == pytest.approx(0, abs=1e-12)
    # the people placed are those of the vector cells inside both the tile and the town
    want = _overlay_pop(hsy_cells, town.intersection(tile), 3879)
    assert units["pop"].sum() == pytest.approx(want, rel=1e-9) and rep["pop"] == pytest.approx(want, rel=1e-9)
    # the whole grid covers the town: read without a word
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.MtownGeoWarning)
        full = mg.demand.from_raster(hsy_tif, area=area)
    assert full.attrs["raster_report"]["coverage"] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(mg.InputError, match="min_coverage"):
        mg.demand.from_raster(hsy_tif, area=area, min_coverage=1.5)


def test_raster_nodata_over_half_the_town_is_refused(hsy_tif, tmp_path):
    """The eastern 6 columns set to nodata (-1): the town lies inside the raster, half of it on nodata."""

    def _east_nodata(a):
        a[:, 6:] = -1
        return a

    half = _copy_raster(hsy_tif, tmp_path / "half.tif", edit=_east_nodata)
    with rasterio.open(hsy_tif) as ds:
        t = ds.transform
        town = shapely.box(*ds.bounds).buffer(-100)
    east = shapely.box(t.c + 6 * t.a, t.f + 11 * t.e, t.c + 12 * t.a, t.f)  # the nodata columns' outline
    nodata_share = east.intersection(town).area / town.area
    with pytest.raises(mg.InputError) as err:
        mg.demand.from_raster(half, area=gpd.GeoSeries([town], crs=3879))
    msg = str(err.value)
    assert f"covers only {1 - nodata_share:.1%}" in msg
    assert f"0.0% of the area lies beyond the raster's edge, {nodata_share:.1%} on nodata or NaN cells" in msg


def test_raster_nan_cells_without_nodata_are_flagged(hsy_tif, tmp_path):
    """NaN in a raster that declares no nodata value: warned, counted, located, and left out."""
    picks = [(2, 3), (7, 8), (9, 1)]

    def _nan(a):
        for r, c in picks:
            a[r, c] = np.nan
        return a

    nan = _copy_raster(hsy_tif, tmp_path / "nan.tif", edit=_nan, nodata=None)
    with rasterio.open(hsy_tif) as ds:
        values = ds.read(1)
        t = ds.transform
        whole = gpd.GeoSeries([shapely.box(*ds.bounds)], crs=3879)
    with pytest.warns(mg.MtownGeoWarning) as record:
        units = mg.demand.from_raster(nan, area=whole)
    told = [str(w.message) for w in record if "NaN" in str(w.message)]
    assert len(told) == 1 and told[0].startswith("3 cells of")
    first = min(picks)
    x, y = t.c + t.a * (first[1] + 0.5), t.f + t.e * (first[0] + 0.5)
    lon, lat = Transformer.from_crs(3879, 4326, always_xy=True).transform(x, y)
    assert f"row {first[0]}, col {first[1]} (lon {lon:.5f}, lat {lat:.5f})" in told[0]
    rep = units.attrs["raster_report"]
    assert rep["nan_cells"] == 3 and rep["n_cells"] == values.size - 3
    assert rep["coverage"] == pytest.approx(1 - 3 / values.size, rel=1e-9)
    assert units["pop"].sum() == pytest.approx(values.sum() - sum(float(values[r, c]) for r, c in picks), rel=1e-9)


@pytest.mark.parametrize("bad", [1e30, -3.4e38, np.inf])
def test_raster_absurd_counts_are_refused_with_count_and_place(hsy_tif, tmp_path, bad):
    """An unset nodata value written into cells: 1e30 people in a 250 m cell, or a huge negative."""
    picks = [(4, 5), (4, 6)]

    def _bad(a):
        for r, c in picks:
            a[r, c] = bad
        return a

    broken = _copy_raster(hsy_tif, tmp_path / "bad.tif", edit=_bad)
    with rasterio.open(hsy_tif) as ds:
        whole = gpd.GeoSeries([shapely.box(*ds.bounds)], crs=3879)
    with pytest.raises(mg.InputError) as err:
        mg.demand.from_raster(broken, area=whole)
    msg = str(err.value)
    assert "has 2 " in msg and "row 4, col 5" in msg
    kind = {1e30: "people per hectare", -3.4e38: "negative", np.inf: "infinite"}[bad]
    assert kind in msg


# ---------------------------------------------------------------------------------------
# from_polygons
# ---------------------------------------------------------------------------------------


def test_polygons_one_point_per_parcel(demo_parcels):
    units = mg.demand.from_polygons(demo_parcels)
    geoms = np.asarray(demo_parcels.geometry.values)
    assert len(units) == len(demo_parcels)
    assert list(units["source_id"]) == list(demo_parcels.index)
    assert np.array_equal(units["area_m2"].to_numpy(), shapely.area(geoms))  # exactly shapely's areas
    assert np.array_equal(units["res_area_m2"].to_numpy(), units["area_m2"].to_numpy())
    assert (units["pop"] == 0).all()
    assert shapely.covers(geoms, np.asarray(units.geometry.values)).all()
    assert units.crs == demo_parcels.crs
    other = mg.demand.from_polygons(demo_parcels, residential=False)
    assert (other["res_area_m2"] == 0).all()
    assert "pop" not in demo_parcels.columns and "source_id" not in demo_parcels.columns  # input untouched


def test_polygons_split_into_pieces_matches_geopandas_overlay(hsy_cells):
    parcels = hsy_cells.to_crs(3067)  # real 250 m cells with people, as polygons in TM35FIN
    units = mg.demand.from_polygons(parcels, pop_col="pop", max_cell_m=100.0)
    # pieces: the parcels overlaid with the 100 m lattice, by geopandas (a different algorithm)
    b = parcels.total_bounds
    xs = np.arange(np.floor(b[0] / 100) * 100, b[2], 100.0)
    ys = np.arange(np.floor(b[1] / 100) * 100, b[3], 100.0)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    lattice = gpd.GeoDataFrame({"cell": np.arange(len(gx))}, geometry=shapely.box(gx, gy, gx + 100, gy + 100), crs=3067)
    over = gpd.overlay(parcels.reset_index(names="source_id"), lattice, how="intersection", keep_geom_type=True)
    over = over[over.area > 1e-6]
    assert len(units) == len(over)
    assert np.sort(units["area_m2"].to_numpy()) == pytest.approx(np.sort(over.area.to_numpy()), rel=1e-9, abs=1e-6)
    assert units["area_m2"].max() <= 100.0 * 100.0 * (1 + 1e-12)
    by_src = units.groupby("source_id")[["area_m2", "pop"]].sum()
    assert by_src["area_m2"].to_numpy() == pytest.approx(parcels.area.to_numpy(), rel=1e-9)
    assert by_src["pop"].to_numpy() == pytest.approx(parcels["pop"].to_numpy(), rel=1e-9)
    assert units["pop"].sum() == pytest.approx(HSY_TOTAL, rel=1e-12)
    # a parcel's people are spread by area
    density = units["pop"] / units["area_m2"]
    src_density = parcels["pop"] / parcels.area
    assert density.to_numpy() == pytest.approx(src_density.loc[units["source_id"]].to_numpy(), rel=1e-9)


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cell=st.floats(15.0, 600.0))
def test_polygons_pieces_preserve_area_for_any_cell(demo_parcels, cell):
    units = mg.demand.from_polygons(demo_parcels, max_cell_m=cell)
    by_src = units.groupby("source_id")["area_m2"].sum()
    assert by_src.reindex(demo_parcels.index).to_numpy() == pytest.approx(demo_parcels.area.to_numpy(), rel=1e-9)
    geoms = np.asarray(demo_parcels.loc[units["source_id"]].geometry.values)
    assert shapely.covers(shapely.buffer(geoms, 1e-6), np.asarray(units.geometry.values)).all()
    # only parcels wider or taller than a cell are split; their pieces fit in one cell
    b = demo_parcels.bounds
    small = (b.maxx - b.minx <= cell) & (b.maxy - b.miny <= cell)
    counts = units.groupby("source_id").size().reindex(demo_parcels.index)
    assert (counts[small] == 1).all()
    pieces = units[~units["source_id"].isin(demo_parcels.index[small])]
    assert (pieces["area_m2"] <= cell * cell * (1 + 1e-9)).all()


def test_polygons_errors(demo_parcels, hsy_cells):
    # any CRS works (longitude/latitude is projected to the metric CRS); no CRS fails
    ll = mg.demand.from_polygons(demo_parcels.to_crs(4326))
    assert ll.crs.equals(mg.crs.metric_crs(demo_parcels))
    assert ll["area_m2"].sum() == pytest.approx(demo_parcels.to_crs(ll.crs).area.sum(), rel=1e-12)
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.demand.from_polygons(demo_parcels.set_crs(None, allow_override=True))
    with pytest.raises(mg.InputError, match="empty"):
        mg.demand.from_polygons(demo_parcels.iloc[:0])
    with pytest.raises(mg.InputError, match="must hold polygons"):
        mg.demand.from_polygons(demo_parcels.set_geometry(demo_parcels.centroid))
    with pytest.raises(mg.InputError, match="no column 'people'"):
        mg.demand.from_polygons(hsy_cells, pop_col="people")
    bad = hsy_cells.copy()
    bad.loc[bad.index[3], "pop"] = -5
    with pytest.raises(mg.InputError, match="negative"):
        mg.demand.from_polygons(bad, pop_col="pop")
    bad.loc[bad.index[3], "pop"] = np.nan
    with pytest.raises(mg.InputError, match="missing"):
        mg.demand.from_polygons(bad, pop_col="pop")
    with pytest.raises(mg.InputError, match="positive"):
        mg.demand.from_polygons(hsy_cells, max_cell_m=0)
    # a self-intersecting parcel is repaired, with a warning
    bow = gpd.GeoSeries([shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])], crs=hsy_cells.crs)
    with pytest.warns(mg.RepairWarning):
        units = mg.demand.from_polygons(bow)
    assert units["area_m2"].iloc[0] == pytest.approx(5000.0)


# ---------------------------------------------------------------------------------------
# from_census and from_buildings
# ---------------------------------------------------------------------------------------


def test_census_areal_weighting_preserves_county_totals(counties):
    table = pd.read_csv(shared_path("zhejiang_census_tudigong/zhejiang_county_census2020.csv"), dtype={"CODE": str})
    c = counties.assign(CODE=counties["CODE"].astype(str)).set_index("CODE")
    units = mg.demand.from_census(c, count_col="POPU", cell_m=5000.0)
    assert set(units["basis"]) == {"cell"}
    per = units.groupby("source_id")["pop"].sum()
    want = table.set_index("CODE")["POPU"].reindex(per.index)
    assert per.to_numpy() == pytest.approx(want.to_numpy(), rel=1e-9)
    assert units["pop"].sum() == pytest.approx(table["POPU"].sum(), rel=1e-9)
    assert units.groupby("source_id")["area_m2"].sum().to_numpy() == pytest.approx(c.area.loc[per.index].to_numpy(), rel=1e-9)
    assert (units["res_area_m2"] == 0).all()
    one = mg.demand.from_census(c, count_col="POPU")
    assert len(one) == len(c) and set(one["basis"]) == {"polygon"}
    assert one["pop"].to_numpy() == pytest.approx(c["POPU"].to_numpy())


def test_census_building_weighting_matches_overlay(hsy_cells, helsinki_buildings):
    census = hsy_cells.to_crs(3067).set_index("id")
    bld = helsinki_buildings.to_crs(3067)
    with pytest.warns(mg.MtownGeoWarning, match="no building"):
        units = mg.demand.from_census(census, count_col="pop", buildings=bld, floors_col="levels")
    # totals preserved per census cell, whether spread over buildings or kept on one point
    per = units.groupby("source_id")["pop"].sum().reindex(census.index)
    assert per.to_numpy() == pytest.approx(census["pop"].to_numpy(), rel=1e-9)
    # the building shares, by an independent geopandas overlay
    floors = pd.to_numeric(bld["levels"], errors="coerce").fillna(1.0)
    over = gpd.overlay(
        census.reset_index()[["id", "pop", "geometry"]],
        bld.assign(floors=floors).reset_index()[["osm_id", "floors", "geometry"]],
        how="intersection",
        keep_geom_type=True,
    )
    over = over[over.area > 0]
    over["w"] = over.area * over["floors"]
    over["want"] = over["pop"] * over["w"] / over.groupby("id")["w"].transform("sum")
    got = units[units["basis"] == "building"].set_index(["source_id", "building_id"])["pop"]
    want = over.groupby(["id", "osm_id"])["want"].sum()
    assert len(got) == len(want) > 100
    assert got.reindex(want.index).to_numpy() == pytest.approx(want.to_numpy(), rel=1e-6)
    bare = units[units["basis"] == "polygon"]
    assert set(bare["source_id"]).isdisjoint(set(over["id"]))
    assert len(bare) == (census["pop"] > 0).sum() - over["id"].nunique()


def test_census_errors(counties):
    with pytest.raises(mg.InputError, match="no column 'people'"):
        mg.demand.from_census(counties, count_col="people")
    with pytest.raises(mg.InputError, match="not both"):
        mg.demand.from_census(counties, count_col="POPU", buildings=counties, cell_m=1000.0)
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.demand.from_census(counties.set_crs(None, allow_override=True), count_col="POPU")
    assert mg.demand.from_census(counties.to_crs(4326), count_col="POPU")["pop"].sum() == pytest.approx(counties["POPU"].sum())
    with pytest.raises(mg.InputError, match="must hold numbers"):
        mg.demand.from_census(counties, count_col="NAME")


def test_buildings_people_in_proportion_to_floor_area(helsinki_buildings):
    bld = helsinki_buildings.to_crs(3067)
    units = mg.demand.from_buildings(bld, floors_col="levels", control_total=HSY_TOTAL)
    assert len(units) == len(bld)
    assert units["pop"].sum() == pytest.approx(HSY_TOTAL, rel=1e-12)
    # shares by geodesic footprint areas (pyproj.Geod on the lon/lat polygons)
    geod = Geod(ellps="WGS84")
    foot = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in helsinki_buildings.geometry])
    floors = pd.to_numeric(helsinki_buildings["levels"], errors="coerce").fillna(1.0).to_numpy()
    share = foot * floors / (foot * floors).sum()
    assert units["pop"].to_numpy() == pytest.approx(HSY_TOTAL * share, rel=1e-4)
    assert units["floors"].to_numpy() == pytest.approx(floors)
    assert list(units["source_id"]) == list(bld.index)
    # unknown floors take default_floors
    twice = mg.demand.from_buildings(bld, floors_col="levels", default_floors=2, control_total=HSY_TOTAL)
    unknown = pd.to_numeric(bld["levels"], errors="coerce").isna().to_numpy()
    assert unknown.any() and (twice["floors"].to_numpy()[unknown] == 2).all()


def test_buildings_without_control_total_warn_and_errors(helsinki_buildings):
    bld = helsinki_buildings.to_crs(3067)
    with pytest.warns(mg.MtownGeoWarning, match="relative weight"):
        units = mg.demand.from_buildings(bld)
    assert units["pop"].to_numpy() == pytest.approx(bld.area.to_numpy(), rel=1e-12)
    with pytest.raises(mg.InputError, match="control_total"):
        mg.demand.from_buildings(bld, control_total=-1)
    with pytest.raises(mg.InputError, match="default_floors"):
        mg.demand.from_buildings(bld, default_floors=0, control_total=10)
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.demand.from_buildings(helsinki_buildings.set_crs(None, allow_override=True), control_total=10)


# ---------------------------------------------------------------------------------------
# residential_from_osm, with_residential, assign_zones
# ---------------------------------------------------------------------------------------


def test_residential_from_osm_matches_pyrosm(demo_osm, demo_residential, demo_metric):
    import pyrosm

    res = demo_residential
    assert res.crs.to_epsg() == 4326
    assert res.attrs["attribution"].startswith("© OpenStreetMap contributors")
    assert set(res.geom_type) <= {"Polygon", "MultiPolygon"}
    assert not res.duplicated(["osm_type", "osm_id"]).any()
    other = pyrosm.OSM(str(demo_osm)).get_landuse(custom_filter={"landuse": ["residential"]})
    other = other.set_index(other["id"].astype(np.int64)).to_crs(demo_metric.crs)
    # the two readers treat ways cut by the extract's edge differently: compare the land
    # lying inside the town boundary (150 m inside the extract)
    town = demo_metric[demo_metric["kind"] == "镇域"].union_all()
    inner = other[other.within(town)]
    assert len(inner) >= 10
    ours = res.set_index("osm_id").loc[inner.index]
    assert ours["area_m2"].to_numpy() == pytest.approx(inner.area.to_numpy(), rel=1e-9)
    # the same features, but for ways the extract cut down to a line or a point
    feats = mg.sources.read_osm(demo_osm).features
    degenerate = set(feats.loc[~feats.geom_type.isin(["Polygon", "MultiPolygon"]), "osm_id"])
    assert set(res["osm_id"]) <= set(other.index)
    assert set(other.index) - set(res["osm_id"]) <= degenerate


def test_residential_from_osm_clipped_to_boundary(demo_osm, demo_residential, demo_metric):
    town = demo_metric[demo_metric["kind"] == "镇域"]
    clipped = mg.demand.residential_from_osm(demo_osm, boundary=town)
    assert clipped.crs == town.crs
    raw = demo_residential.to_crs(town.crs).set_index("osm_id")
    want = gpd.clip(raw, town)
    want = want[want.area > 0]
    got = clipped.set_index("osm_id")
    assert set(got.index) == set(want.index)
    assert got.geometry.area.loc[want.index].to_numpy() == pytest.approx(want.area.to_numpy(), rel=1e-9)
    assert got["area_m2"].to_numpy() == pytest.approx(got.geometry.area.to_numpy(), rel=1e-9)
    wider = mg.demand.residential_from_osm(demo_osm, boundary=town, buffer_m=100.0)
    assert wider["area_m2"].sum() > clipped["area_m2"].sum()
    with pytest.raises(mg.InputError, match="boundary"):
        mg.demand.residential_from_osm(demo_osm, buffer_m=100.0)


def test_residential_from_osm_none_warns():
    path = shared_path(OSM_FILES["guixi_pbf"])  # Guixi has no landuse=residential in OSM
    with pytest.warns(mg.MtownGeoWarning, match="no landuse=residential"):
        res = mg.demand.residential_from_osm(path)
    assert res.empty and {"osm_id", "area_m2"} <= set(res.columns)


def test_with_residential_on_grid_equals_exact_overlay(demo_metric, demo_parcels):
    built = demo_metric[demo_metric["kind"] == "建成区"]
    units = mg.demand.grid(built, cell_m=50.0)
    out = mg.demand.with_residential(units, demo_parcels, area=built)
    assert out.index.equals(units.index) and (units["res_area_m2"] == 0).all()  # input untouched
    # independent: geopandas overlay of the clipped cells with the dissolved residential land
    cells = mg.demand.cells(units).reset_index(names="unit")[["unit", "geometry"]]
    clipped_cells = gpd.overlay(cells, built[["geometry"]], how="intersection", keep_geom_type=True)
    land = gpd.GeoDataFrame(geometry=[demo_parcels.union_all()], crs=demo_parcels.crs)
    over = gpd.overlay(clipped_cells, land, how="intersection", keep_geom_type=True)
    want = over.groupby("unit").apply(lambda g: g.area.sum(), include_groups=False).reindex(units.index, fill_value=0.0)
    assert out["res_area_m2"].to_numpy() == pytest.approx(want.to_numpy(), rel=1e-7, abs=1e-6)
    total = shapely.intersection(demo_parcels.union_all(), built.union_all()).area
    assert out["res_area_m2"].sum() == pytest.approx(total, rel=1e-9)
    assert (out["res_area_m2"] <= out["area_m2"] * (1 + 1e-9)).all()
    # overlapping residential polygons count once
    doubled = pd.concat([demo_parcels, demo_parcels])
    again = mg.demand.with_residential(units, doubled, area=built)
    assert again["res_area_m2"].to_numpy() == pytest.approx(out["res_area_m2"].to_numpy(), rel=1e-9, abs=1e-6)
    # residential land in another CRS is brought to the units' CRS
    lonlat = mg.demand.with_residential(units, demo_parcels.to_crs(4326), area=built)
    assert lonlat["res_area_m2"].sum() == pytest.approx(total, rel=1e-4)


def test_residential_land_of_real_cells_equals_the_overlay_of_every_cell_bit_for_bit():
    """Andorra's parishes, OSM residential land, 50 m cells: the land of each (cell, piece of
    land) pair is, to the bit, the area of their overlay, whether the cell lies wholly in the
    land (taken without an overlay) or is cut by its edge; and with_residential sums them."""
    path = shared_path(OSM_FILES["andorra"])
    towns = mg.batch.towns_from_osm(path, admin_level="7")
    metric = mg.crs.metric_crs(towns)
    land = mg.demand.residential_from_osm(path).to_crs(metric)
    n_whole = 0
    for name in ("Andorra la Vella", "Escaldes-Engordany", "Encamp"):
        area = towns[towns["name"] == name].to_crs(metric)
        units = mg.demand.grid(area, cell_m=50.0)
        got = mg.demand.with_residential(units, land, area=area)["res_area_m2"].to_numpy()
        parts = shapely.get_parts(shapely.intersection(land.union_all(), area.union_all()))
        parts = parts[np.isin(shapely.get_type_id(parts), [3]) & (shapely.area(parts) > 0)]
        boxes = np.asarray(mg.demand.cells(units).geometry.values)
        i_box, i_part = shapely.STRtree(parts).query(boxes, predicate="intersects")
        plain = shapely.area(shapely.intersection(boxes[i_box], parts[i_part]))
        assert np.array_equal(mg.demand._box_land_m2(boxes[i_box], parts[i_part]), plain)
        n_whole += int(shapely.contains_properly(parts[i_part], boxes[i_box]).sum())
        want = np.bincount(i_box, weights=plain, minlength=len(units))
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6)  # the same land, dissolved by another route
    assert n_whole > 300  # many cells lie wholly in residential land: the case taken without an overlay


def test_with_residential_without_area_caps_edge_cells(demo_metric, demo_parcels):
    built = demo_metric[demo_metric["kind"] == "建成区"]
    units = mg.demand.grid(built, cell_m=50.0)
    with pytest.warns(mg.MtownGeoWarning, match="capped"):
        out = mg.demand.with_residential(units, demo_parcels)
    assert (out["res_area_m2"] <= out["area_m2"]).all()
    squares = mg.demand.cells(units)
    full = np.isclose(units["area_m2"], 2500.0)
    whole = shapely.area(shapely.intersection(np.asarray(squares.geometry.values)[full], demo_parcels.union_all()))
    assert out["res_area_m2"].to_numpy()[full] == pytest.approx(whole, rel=1e-9, abs=1e-6)


def test_with_residential_for_point_units(hsy_tif, hsy_cells):
    # OSM land-use polygons of central Helsinki (any kind): real shapes over part of the HSY grid
    feats = mg.sources.read_osm(shared_path(OSM_FILES["helsinki"])).features
    is_land = (
        feats["tags"].map(lambda t: "landuse" in t).to_numpy() & feats.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    )
    land = feats.loc[is_land, ["geometry"]].to_crs(3879)
    area = gpd.GeoSeries([shapely.box(*hsy_cells.total_bounds)], crs=3879)
    units = mg.demand.from_raster(hsy_tif, area=area)
    out = mg.demand.with_residential(units, land)
    inside = gpd.sjoin(units, land, how="inner", predicate="intersects").index.unique()
    assert 0 < len(inside) < len(units)
    want = np.where(units.index.isin(inside), units["area_m2"], 0.0)
    assert np.array_equal(out["res_area_m2"].to_numpy(), want)


def test_with_residential_errors(demo_metric, demo_parcels):
    built = demo_metric[demo_metric["kind"] == "建成区"]
    units = mg.demand.grid(built, cell_m=100.0)
    with pytest.raises(mg.InputError, match="empty"):
        mg.demand.with_residential(units, demo_parcels.iloc[:0])
    with pytest.raises(mg.CRSError, match="geographic"):
        mg.demand.with_residential(units.to_crs(4326), demo_parcels)
    with pytest.raises(mg.InputError, match="polygons"):
        mg.demand.with_residential(units, demo_parcels.set_geometry(demo_parcels.centroid))
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.demand.with_residential(units, gpd.GeoDataFrame(geometry=list(demo_parcels.geometry)))
    moved = units.to_crs(3879)  # x, y stay in the grid's CRS (UTM 35N)
    with pytest.raises(mg.InputError, match="outside their own cell"):
        mg.demand.with_residential(moved, demo_parcels)


def test_assign_zones_matches_spatial_join(hsy_tif, hsy_cells):
    area = gpd.GeoSeries([shapely.box(*hsy_cells.total_bounds).buffer(300)], crs=3879)
    units = mg.demand.from_raster(hsy_tif, area=area, min_coverage=0)  # the area reaches 300 m beyond the grid
    zones = hsy_cells.to_crs(4326)  # another CRS: brought to the units' CRS
    out = mg.demand.assign_zones(units, zones, zone_col="id")
    joined = gpd.sjoin(units, hsy_cells, how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    assert out.index.equals(units.index) and "zone" not in units.columns
    got, want = out["zone"].to_numpy(dtype=float), joined["id"].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got).sum() == len(units) - 92
    assert np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


def test_assign_zones_overlaps_and_errors(hsy_tif, guixi_boundary):
    metric = mg.crs.to_metric(guixi_boundary)
    units = mg.demand.grid(metric.buffer(300), cell_m=200.0)
    named = metric.assign(name=["东门街道"])[["name", "geometry"]]
    out = mg.demand.assign_zones(units, named, zone_col="name")
    inside = shapely.covers(metric.union_all(), np.asarray(units.geometry.values))
    assert (out["zone"].to_numpy()[inside] == "东门街道").all()
    assert out["zone"][~inside].isna().all() and (~inside).sum() > 0
    twice = pd.concat([named, named.assign(name="again")], ignore_index=True)
    with pytest.warns(mg.MtownGeoWarning, match="more than one zone"):
        over = mg.demand.assign_zones(units, twice, zone_col="name")
    assert (over["zone"].to_numpy()[inside] == "东门街道").all()
    with pytest.raises(mg.InputError, match="no column 'code'"):
        mg.demand.assign_zones(units, named, zone_col="code")
    with pytest.raises(mg.InputError, match="empty"):
        mg.demand.assign_zones(units, named.iloc[:0], zone_col="name")
    with pytest.raises(mg.CRSError):
        mg.demand.assign_zones(units.to_crs(4326), named, zone_col="name")


def test_grid_over_scattered_land_matches_an_exact_overlay():
    """Cells of a grid over many separate parcels: each cell's area is its exact overlap with the land."""
    feats = mg.sources.read_osm(mg.demo_osm_path("karhula")).features
    land = feats[feats["tags"].map(lambda t: t.get("landuse") in ("residential", "farmland", "industrial")).to_numpy()]
    land = land[land.geom_type.isin(["Polygon", "MultiPolygon"])].to_crs(32635)
    units = mg.demand.grid(land, cell_m=40.0)
    whole = land.union_all()
    boxes = mg.demand.cells(units).geometry.to_numpy()
    np.testing.assert_allclose(units["area_m2"].to_numpy(), shapely.area(shapely.intersection(boxes, whole)), rtol=0, atol=1e-6)
    assert units["area_m2"].sum() == pytest.approx(whole.area, rel=1e-9)
    # no cell that touches the land is missing: every cell of the lattice with overlap is there
    assert (units["area_m2"] > 0).all()
    assert shapely.contains(shapely.buffer(shapely.union_all(boxes), 1e-6), whole)


# ---------------------------------------------------------------------------------------
# Grid sanity: too coarse (warned), too large for the memory (refused before building)
# ---------------------------------------------------------------------------------------


def _candidate_cells(area: gpd.GeoDataFrame, cell_m: float) -> int:
    """Cells of each polygon part's bounding box on the grid's lattice, counted with plain Python."""
    total = 0
    for part in shapely.get_parts(np.asarray(area.geometry.values)):
        for poly in shapely.get_parts(part):
            x0, y0, x1, y1 = poly.bounds
            nx = max(int(np.ceil(x1 / cell_m)) - int(np.floor(x0 / cell_m)), 1)
            ny = max(int(np.ceil(y1 / cell_m)) - int(np.floor(y0 / cell_m)), 1)
            total += nx * ny
    return total


def test_grid_refuses_forty_million_cells_before_building_them(demo_metric):
    """cell_m 0.25 over the demo town's built-up area: 40 M cells to test (under the old 50 M guard); refused
    at once with the figures, where building it grew past 7 GB and crashed in GEOS."""
    import resource
    import time

    built = demo_metric[demo_metric["kind"] == "建成区"]
    geom = shapely.union_all(np.asarray(built.geometry.values))
    candidates = _candidate_cells(gpd.GeoDataFrame(geometry=[geom], crs=built.crs), 0.25)
    assert 40_000_000 < candidates < 50_000_000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(mg.InputError) as info:
        mg.demand.grid(built, cell_m=0.25, max_memory_bytes=4 * 1024**3)
    assert time.perf_counter() - t0 < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 200_000  # kB: nothing was built
    msg = str(info.value)
    need = candidates * mg.demand.GRID_BYTES_PER_CELL / 1024**3
    assert f"({candidates:,} cells to test) and need about {need:.1f} GB of memory; 4.0 GB is free" in msg
    # the size suggested is the smallest usual one that fits, and it is built without complaint
    assert "use cell_m: 1 or more" in msg
    assert _candidate_cells(gpd.GeoDataFrame(geometry=[geom], crs=built.crs), 1.0) * mg.demand.GRID_BYTES_PER_CELL < 4 * 1024**3


@pytest.mark.slow
def test_grid_memory_estimate_matches_the_grid(demo_metric):
    """The unit count the estimate gives is within 3 % of the grid actually built; candidates are exact."""
    built = demo_metric[demo_metric["kind"] == "建成区"]
    for cell in (4.0, 10.0, 50.0):
        with pytest.raises(mg.InputError) as info:
            mg.demand.check_grid_memory(built, cell_m=cell, bytes_per_unit=1e9)  # any unit is too much
        msg = str(info.value)
        units = int(msg.split("about ")[1].split(" demand units")[0].replace(",", ""))
        candidates = int(msg.split("(")[1].split(" cells to test")[0].replace(",", ""))
        real = mg.demand.grid(built, cell_m=cell)
        assert abs(units - len(real)) / len(real) < 0.03, (cell, units, len(real))
        assert candidates == _candidate_cells(built, cell)
    # the estimate returned when it fits: the grid's own peak, or the caller's per-unit figure
    est = mg.demand.check_grid_memory(built, cell_m=50.0, bytes_per_unit=1000, extra_bytes=1e6, max_memory_bytes=1e12)
    assert est == max(_candidate_cells(built, 50.0) * mg.demand.GRID_BYTES_PER_CELL, est)
    assert est >= 1e6 + 1000 * 0.97 * len(mg.demand.grid(built, cell_m=50.0))


def test_memory_cap_from_the_environment(monkeypatch):
    monkeypatch.setenv(mg.demand.MEMORY_ENV, "0.5")
    assert mg.demand.available_memory_bytes() <= 0.5 * 1024**3
    monkeypatch.setenv(mg.demand.MEMORY_ENV, "lots")
    with pytest.raises(mg.InputError, match="MTOWN_GEO_MAX_MEMORY_GB='lots' is not a number of gigabytes"):
        mg.demand.available_memory_bytes()
    monkeypatch.setenv(mg.demand.MEMORY_ENV, "-1")
    with pytest.raises(mg.InputError, match="positive number"):
        mg.demand.available_memory_bytes()


def test_grid_warns_when_coarser_than_the_town_or_the_reach(demo_metric):
    built = demo_metric[demo_metric["kind"] == "建成区"]
    # a 2 km cell over a 1.2 km² built-up area: a handful of units that look like a result
    with pytest.warns(mg.GridResolutionWarning) as record:
        units = mg.demand.grid(built, cell_m=2000.0)
    assert units["area_m2"].sum() == pytest.approx(built.area.sum())  # still exact
    texts = [str(w.message) for w in record if issubclass(w.category, mg.GridResolutionWarning)]
    assert any(f"the 2000 m grid has only {len(units)} demand units" in t and "fewer than 100" in t for t in texts)
    # 150 m cells against the 5-minute walk (333 m): more than a third of the reach
    with pytest.warns(mg.GridResolutionWarning, match=r"coarse for the shortest reach it must resolve \(333 m") as record:
        units = mg.demand.grid(built, cell_m=150.0, reach_m=mg.standards.load().reach_m("5min"))
    assert len(units) >= 100  # enough units: only the reach is at fault
    assert not any("fewer than" in str(w.message) for w in record)
    # the default cell: silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.GridResolutionWarning)
        mg.demand.grid(built, cell_m=50.0, reach_m=333.3)


def test_grid_refuses_a_cell_that_is_not_a_finite_positive_number(demo_metric):
    built = demo_metric[demo_metric["kind"] == "建成区"]
    for bad in (0, -50, float("inf"), float("nan")):
        with pytest.raises(mg.InputError, match="cell_m must be a positive number of metres"):
            mg.demand.grid(built, cell_m=bad)


def test_cells_clipped_in_one_call_equal_one_clip_per_cell():
    """The grid's cut cells, clipped by their rectangles in one call, are the geometries
    ``shapely.clip_by_rect`` gives cell by cell (land use of a real extract, 50 m cells)."""
    from mtown_geo.demand import _clip_by_rects

    ext = mg.sources.read_osm(mg.demo_osm_path())
    land = ext.features[ext.features["tags"].map(lambda t: isinstance(t, dict) and "landuse" in t).to_numpy()]
    polys = mg.crs.to_metric(land[land.geom_type.isin(["Polygon", "MultiPolygon"])]).geometry.to_numpy()
    b = shapely.bounds(polys)
    rng = np.random.default_rng(3)
    pick = rng.integers(0, len(polys), 3000)
    x = rng.uniform(b[pick, 0] - 25, b[pick, 2] - 25)
    y = rng.uniform(b[pick, 1] - 25, b[pick, 3] - 25)
    got = _clip_by_rects(polys[pick], x, y, x + 50.0, y + 50.0)
    want = [
        shapely.clip_by_rect(polys[i], a, c, a + 50.0, c + 50.0) for i, a, c in zip(pick, x.tolist(), y.tolist(), strict=True)
    ]
    assert (~shapely.is_empty(got)).sum() > 1000
    assert shapely.to_wkb(got).tolist() == shapely.to_wkb(np.array(want, dtype=object)).tolist()


def test_land_within_is_the_intersection_cut_once(wudaokou_bounds):
    town = wudaokou_bounds[wudaokou_bounds["kind"] == "镇域"]
    built = wudaokou_bounds[wudaokou_bounds["kind"] == "建成区"]
    metric = mg.crs.metric_crs(town)
    land = _geom.polygon_union(town, crs=metric, what="town")
    area = _geom.polygon_union(built, crs=metric, what="built-up area")
    first = demand._land_within(land, area)
    assert shapely.to_wkb(first) == shapely.to_wkb(shapely.intersection(land, area))
    assert demand._land_within(land, area) is first
    # an equal geometry that is another object: cut again (the cache knows objects, not values)
    other = shapely.from_wkb(shapely.to_wkb(land))
    again = demand._land_within(other, area)
    assert again is not first
    assert shapely.to_wkb(again) == shapely.to_wkb(first)


def test_the_towns_residential_land_is_the_plain_intersection_of_the_layers(andorra_parishes):
    """A run's 居住用地 layer (``Town.residential_land``, the intersection the demand units were
    measured on) covers the same land as the plain intersection of the two layers' unions."""
    from mtown_geo.pipeline import inputs
    from mtown_geo.pipeline.schema import load_profile, load_study
    from mtown_geo.pipeline.town import build_town

    for name, town_m, ext in andorra_parishes:
        study = load_study({"name": name, "osm": str(ext.path), "boundaries": {"town": "<memory>"}, "demand": {"cell_m": 50}})
        study = study.with_data(town=town_m, builtup=inputs.builtup_from_osm(ext, town_m), osm=ext)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            tw = build_town(study, load_profile(study), [])
        land = tw.residential_land()
        plain = shapely.intersection(tw.residential.geometry.union_all(), tw.built.to_crs(tw.metric).geometry.union_all())
        assert plain.area > 1e5
        assert land.area == pytest.approx(plain.area, rel=1e-12, abs=0)
        assert shapely.symmetric_difference(land, plain).area <= 1e-9 * plain.area
        # the very intersection with_residential cut for the demand units, not a new one
        assert tw.residential_land() is land
        assert tw.units["res_area_m2"].sum() == pytest.approx(_geom.polygonal(land).area, rel=1e-9)


def test_boxes_meeting_the_land_are_the_pairs_of_the_trees_predicate(andorra_parishes):
    """``_meeting`` (bounding boxes, then prepared land) gives the pairs of
    ``STRtree.query(predicate="intersects")``, in the same order (OSM residential land of two
    parishes' extracts against the 50 m cells of their built-up areas)."""
    from mtown_geo.pipeline import inputs

    n_pairs = 0
    for _, town_m, ext in andorra_parishes:
        built = inputs.builtup_from_osm(ext, town_m)
        land = mg.demand.residential_from_osm(ext).to_crs(town_m.crs)
        parts = shapely.get_parts(shapely.intersection(land.union_all(), built.union_all()))
        parts = parts[shapely.area(parts) > 0]
        boxes = np.asarray(mg.demand.cells(mg.demand.grid(built, cell_m=50.0)).geometry.values)
        want = shapely.STRtree(parts).query(boxes, predicate="intersects")
        prepared = parts.copy()
        shapely.prepare(prepared)
        got = demand._meeting(shapely.STRtree(prepared), prepared, boxes)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        n_pairs += want.shape[1]
    assert n_pairs > 1000


def test_grid_points_are_the_centres_inside_and_points_of_the_cut_cells_outside(andorra_parishes):
    """Each grid unit's point, checked cell by cell: its centre when the centre lies in the
    area, else a point of the cell's part inside the area (the parishes' OSM built-up areas)."""
    from mtown_geo.pipeline import inputs

    n_moved = 0
    for _, town_m, ext in andorra_parishes:
        built = inputs.builtup_from_osm(ext, town_m)
        units = mg.demand.grid(built, cell_m=50.0)
        geom = built.union_all()
        boxes = np.asarray(mg.demand.cells(units).geometry.values)
        for box, x, y, pt in zip(boxes, units["x"], units["y"], units.geometry, strict=True):
            if geom.contains(shapely.Point(x, y)):
                assert (pt.x, pt.y) == (x, y)
            else:
                assert box.intersection(geom).buffer(1e-6).contains(pt)
                n_moved += 1
    assert n_moved > 20


def test_the_town_grid_and_land_equal_the_public_functions_and_the_plain_union(andorra_parishes):
    """A town's demand units (its built-up area unioned once for the grid and the residential
    land) are, to the bit, those of ``demand.grid`` and ``demand.with_residential`` over its
    layers; its 居住用地 land is, to the bit, the built-up area's cut of the plain union of the
    residential polygons that meet it (the same land as a cut of the union of all of them), and
    it is the land the units measured (kept, not cut again)."""
    from mtown_geo.pipeline import inputs
    from mtown_geo.pipeline.schema import load_profile, load_study
    from mtown_geo.pipeline.town import build_town

    for name, town_m, ext in andorra_parishes:
        study = load_study({"name": name, "osm": str(ext.path), "boundaries": {"town": "<memory>"}, "demand": {"cell_m": 50}})
        study = study.with_data(town=town_m, builtup=inputs.builtup_from_osm(ext, town_m), osm=ext)
        prof = load_profile(study)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            tw = build_town(study, prof, [])
            built = tw.built.to_crs(tw.metric)
            reach_m = inputs.shortest_reach_m(prof, inputs.grid_circles(study, prof))
            units = mg.demand.grid(built, cell_m=50.0, reach_m=reach_m)
            units = mg.demand.with_residential(units, tw.residential, area=built)
        for col in ("x", "y", "cell_m", "area_m2", "res_area_m2"):
            assert np.array_equal(tw.units[col].to_numpy(), units[col].to_numpy()), col
        assert shapely.to_wkb(tw.units.geometry.values).tolist() == shapely.to_wkb(units.geometry.values).tolist()
        res, _ = _geom.valid_polygons(tw.residential, what="residential", drop_empty=True)
        area, _ = _geom.valid_polygons(built, what="built-up area")
        area_u = _geom.polygonal(shapely.union_all(area))
        meeting = res[shapely.intersects(res, area_u)]
        plain = shapely.intersection(_geom.polygonal(shapely.union_all(meeting)), area_u)
        assert plain.area > 1e5 and len(meeting) < len(res)
        assert shapely.to_wkb(tw.residential_land()) == shapely.to_wkb(plain)
        # the same land as cutting the union of all the residential polygons
        everything = _geom.polygonal(shapely.intersection(_geom.polygonal(shapely.union_all(res)), area_u))
        land = _geom.polygonal(tw.residential_land())
        assert shapely.get_num_geometries(land) == shapely.get_num_geometries(everything)
        assert shapely.symmetric_difference(land, everything).area < 1e-9 * everything.area
        far = shapely.box(0.0, 0.0, 1.0, 1.0)  # no residential polygon meets it
        assert _geom.polygon_union(tw.residential, crs=tw.metric, what="residential", drop_empty=True, meeting=far).is_empty
        assert tw.residential_land() is tw._land


def test_the_osm_residential_layer_is_the_landuse_polygons_projected(andorra_parishes):
    """A town's residential layer from OSM (only its landuse=residential polygons projected,
    the frame made of them) is, to the bit, the extract's features chosen and projected as a
    frame and joined as every source is; the units measure it as it is, without projecting
    again in their own CRS, and give the same cells, land and figures as after ``to_crs``."""
    from mtown_geo.pipeline import inputs, town
    from mtown_geo.pipeline.schema import load_study

    for name, town_m, ext in andorra_parishes:
        study = load_study({"name": name, "osm": str(ext.path), "boundaries": {"town": "<memory>"}, "demand": {"cell_m": 50}})
        study = study.with_data(town=town_m, builtup=inputs.builtup_from_osm(ext, town_m), osm=ext)
        metric = town_m.crs
        got = inputs.residential(study, metric, town_m)
        f = ext.features
        is_res = np.array(
            [
                g.geom_type in ("Polygon", "MultiPolygon") and t.get("landuse") == "residential"
                for g, t in zip(f.geometry, f["tags"], strict=True)
            ]
        )
        chosen = f.loc[is_res, ["osm_id", "geometry"]].to_crs(metric)[["geometry"]]
        ref = gpd.GeoDataFrame(pd.concat([chosen], ignore_index=True), crs=metric)
        assert len(ref) > 20
        assert_same_frames(got, ref)
        assert got.index.equals(ref.index) and type(got.index) is type(ref.index)
        assert got.crs.is_exact_same(ref.crs) and got.geometry.name == ref.geometry.name
        assert list(got.dtypes.astype(str)) == list(ref.dtypes.astype(str))

        built = inputs.builtup_from_osm(ext, town_m).to_crs(metric)
        area, area_crs = demand._area_geometry(built)
        units = demand._grid_over(area, area_crs, cell_m=50.0)
        new_units, new_land = town._with_residential(units, got, area)
        old_units, old_land = demand._residential_cut(units, got.to_crs(units.crs), area_geom=area)
        assert new_units["res_area_m2"].sum() > 1e4
        assert_same_frames(new_units, old_units)
        assert shapely.to_wkb(new_land) == shapely.to_wkb(old_land)
