"""Slope-dependent walking times (Tobler) on a real network over a DEM of known slope."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import mtown_geo as mg
from mtown_geo import terrain


def test_tobler_factor_known_values():
    assert terrain.tobler_factor(0.0) == pytest.approx(1.0)
    assert terrain.tobler_factor(-0.05) == pytest.approx(np.exp(3.5 * 0.05))  # fastest: 5 % down
    assert terrain.tobler_factor(0.10) == pytest.approx(np.exp(-3.5 * 0.15) / np.exp(-3.5 * 0.05))


def _tilted_dem(path, net, slope_x):
    """A DEM rising by slope_x metres per metre eastwards, in the network's CRS, covering it."""
    x0, y0, x1, y1 = net.nodes.total_bounds
    res = 10.0
    width = int((x1 - x0) / res) + 40
    height = int((y1 - y0) / res) + 40
    left, top = x0 - 200, y1 + 200
    cols = np.arange(width)
    xs = left + (cols + 0.5) * res
    z = np.tile(100.0 + slope_x * (xs - left), (height, 1)).astype("float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs=net.crs.to_wkt(),
        transform=from_origin(left, top, res, res),
        nodata=-9999,
    ) as ds:
        ds.write(z, 1)
    return path


def test_slope_times_by_hand(karhula_walk, tmp_path):
    net = karhula_walk
    dem = _tilted_dem(tmp_path / "dem.tif", net, 0.08)
    hilly = terrain.with_slope(net, dem)
    e = net.edges
    dx = net.nodes["x"].to_numpy()[e["v"]] - net.nodes["x"].to_numpy()[e["u"]]
    # each edge's slope u→v is 0.08 × east-west run / ground length (projected ≈ ground here)
    run = np.hypot(dx, net.nodes["y"].to_numpy()[e["v"]] - net.nodes["y"].to_numpy()[e["u"]])
    s = 0.08 * dx / run
    want_fwd = e["time_min"] / terrain.tobler_factor(s)
    want_rev = e["time_rev_min"] / terrain.tobler_factor(-s)
    np.testing.assert_allclose(hilly.edges["time_min"], want_fwd, rtol=2e-3)
    np.testing.assert_allclose(hilly.edges["time_rev_min"], want_rev, rtol=2e-3)
    # going east (uphill) takes longer than coming back
    east = dx > 20
    assert (hilly.edges.loc[east, "time_min"] > hilly.edges.loc[east, "time_rev_min"]).all()
    assert net.edges["time_min"].equals(e["time_min"])  # input untouched


def test_flat_dem_changes_nothing(karhula_walk, tmp_path):
    dem = _tilted_dem(tmp_path / "flat.tif", karhula_walk, 0.0)
    flat = terrain.with_slope(karhula_walk, dem)
    np.testing.assert_allclose(flat.edges["time_min"], karhula_walk.edges["time_min"])


def test_dem_missing_the_town_is_an_error(karhula_walk, tmp_path):
    path = tmp_path / "far.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="float32",
        crs="EPSG:4549",
        transform=from_origin(500000, 3300000, 30, 30),
        nodata=-9999,
    ) as ds:
        ds.write(np.zeros((10, 10), dtype="float32"), 1)
    with pytest.raises(mg.InputError, match="does not cover"):
        terrain.with_slope(karhula_walk, path)
