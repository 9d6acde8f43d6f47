"""Choosing and checking metric CRSs."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from pyproj import CRS

import mtown_geo as mg
from mtown_geo import crs


@pytest.mark.parametrize(
    ("lon", "epsg"),
    [(75.0, 4534), (117.2, 4548), (118.6, 4549), (120.2, 4549), (121.4, 4549), (121.6, 4550), (135.0, 4554)],
)
def test_gauss_kruger_zone_by_central_meridian(lon, epsg):
    assert crs.gauss_kruger_epsg(lon) == epsg
    # the EPSG definition agrees: its central meridian is the nearest multiple of 3
    proj = CRS.from_epsg(epsg)
    cm = next(p.value for p in proj.coordinate_operation.params if "longitude" in p.name.lower())
    assert abs(cm - lon) <= 1.5
    assert "CGCS2000" in proj.name


def test_gauss_kruger_outside_china_is_refused():
    with pytest.raises(mg.CRSError):
        crs.gauss_kruger_epsg(10.0)


def test_metric_crs_china_vs_elsewhere():
    assert crs.metric_crs((120.0, 30.1, 120.3, 30.4)).to_epsg() == 4549  # Hangzhou
    assert crs.metric_crs((24.9, 60.1, 25.0, 60.2)).to_epsg() == 32635  # Helsinki
    assert crs.metric_crs((-70.7, -33.5, -70.6, -33.4)).to_epsg() == 32719  # Santiago, south
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(117.2, 28.2, 117.3, 28.3)], crs=4326)
    assert crs.metric_crs(gdf).to_epsg() == 4548


def test_require_projected_errors_name_the_fix():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(120, 30)], crs=4326)
    with pytest.raises(mg.CRSError, match="to_metric"):
        crs.require_projected(gdf)
    with pytest.raises(mg.CRSError, match="no CRS"):
        crs.require_projected(gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)]))
    with pytest.raises(mg.CRSError, match="foot"):
        crs.require_projected(CRS.from_epsg(2263))  # New York, feet
    assert crs.require_projected(gdf.to_crs(4549)).to_epsg() == 4549


def test_to_metric_returns_a_new_layer():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(120.2, 30.2)], crs=4326)
    out = crs.to_metric(gdf)
    assert out.crs.to_epsg() == 4549 and gdf.crs.to_epsg() == 4326


def test_layer_crs_is_the_frames_crs():
    """The CRS read from the geometry array is the object ``.crs`` gives, for every shape of frame."""
    pts = shapely.points([[120.1, 30.2], [120.2, 30.3]])
    gdf = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=pts, crs=4326)
    renamed = gdf.rename_geometry("shape")
    cases = [gdf, gdf.geometry, renamed, renamed.set_crs(None, allow_override=True), gdf.to_crs(4549), gdf.iloc[:0]]
    for layer in cases:
        assert crs._layer_crs(layer) is layer.crs
    assert crs._layer_crs(gdf.to_crs(4549)) == CRS.from_epsg(4549)
    # two geometry columns: the active one's
    two = gdf.assign(other=gpd.GeoSeries(pts, crs=4549))
    assert crs._layer_crs(two) is two.crs and two.crs == CRS.from_epsg(4326)
    # a frame without its geometry column raises as .crs does
    bare = gpd.GeoDataFrame(gdf.drop(columns="geometry"))
    with pytest.raises(AttributeError):
        crs._layer_crs(bare)
