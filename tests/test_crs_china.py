"""China's shifted coordinate systems (GCJ-02, BD-09), CGCS2000, and the shift detector.

Published coordinate pairs the conversions are checked against (none of them computed by
this package):

* Amap's own coordinate-conversion service (Web服务 API 坐标转换, coordsys=gps), example
  location 116.481499,39.990475 → "116.487585177952,39.991754014757", as printed by the
  amapGeocode R package README (github.com/womeimingzi11/amapGeocode).
* eviltransform (github.com/googollee/eviltransform, python/test.py): WGS-84 → GCJ-02
  pairs in Shanghai, Shenzhen and Beijing.
* coordtransform (github.com/wandergis/coordtransform, test/app.js): WGS-84 → GCJ-02,
  GCJ-02 → BD-09 and BD-09 → GCJ-02 at 116.404, 39.915.
* Alibaba Cloud 地址标准化 TransferCoord documentation (help.aliyun.com, address
  purification, coordinate-system conversion): GCJ-02 120.026268,30.279164 (Hangzhou,
  Zhejiang) → BD-09 120.032768,30.285238 and WGS-84 120.021519,30.281543.
"""

from __future__ import annotations

import types
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod

import mtown_geo as mg
from mtown_geo import crs

from .conftest import OSM_FILES, shared_path

GEOD = Geod(ellps="WGS84")


def dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance on the WGS 84 ellipsoid (pyproj), metres."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _apply(gdf: gpd.GeoDataFrame, fn) -> gpd.GeoDataFrame:
    """Move every coordinate of a layer with a (lon, lat) → (lon, lat) function."""

    def f(xy: np.ndarray) -> np.ndarray:
        x, y = fn(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return gdf.set_geometry(gpd.GeoSeries(shapely.transform(gdf.geometry.values, f), index=gdf.index, crs=gdf.crs))


# -- published pairs ------------------------------------------------------------------------


def test_amap_service_example_gps_to_gcj02():
    lon, lat = crs.wgs84_to_gcj02(116.481499, 39.990475)
    # Amap's service and the published algorithm agree to centimetres
    assert dist_m(lon, lat, 116.487585177952, 39.991754014757) < 0.1
    back = crs.gcj02_to_wgs84(116.487585177952, 39.991754014757)
    assert dist_m(*back, 116.481499, 39.990475) < 0.1


@pytest.mark.parametrize(
    ("wgs_lat", "wgs_lng", "gcj_lat", "gcj_lng"),
    [
        (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
        (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
        (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
    ],
)
def test_eviltransform_pairs(wgs_lat, wgs_lng, gcj_lat, gcj_lng):
    lon, lat = crs.wgs84_to_gcj02(wgs_lng, wgs_lat)
    assert abs(lon - gcj_lng) < 1e-6 and abs(lat - gcj_lat) < 1e-6  # the suite's own 6-decimal tolerance
    back_lon, back_lat = crs.gcj02_to_wgs84(gcj_lng, gcj_lat)
    assert dist_m(back_lon, back_lat, wgs_lng, wgs_lat) < 0.05  # exact inverse (theirs: 0.5 m)


def test_wandergis_coordtransform_pairs():
    lon, lat = crs.wgs84_to_gcj02(116.404, 39.915)
    assert abs(lon - 116.41024449916938) < 1e-9 and abs(lat - 39.91640428150164) < 1e-9
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert abs(lon - 116.41036949371029) < 1e-9 and abs(lat - 39.92133699351021) < 1e-9
    # their BD-09 → GCJ-02 is the one-step formula; ours iterates, the two agree to centimetres
    lon, lat = crs.bd09_to_gcj02(116.404, 39.915)
    assert dist_m(lon, lat, 116.39762729119315, 39.90865673957631) < 0.1
    assert dist_m(*crs.gcj02_to_bd09(lon, lat), 116.404, 39.915) < 1e-3


def test_aliyun_transfercoord_hangzhou():
    gcj = (120.026268, 30.279164)
    bd = crs.gcj02_to_bd09(*gcj)
    assert dist_m(*bd, 120.032768, 30.285238) < 0.1
    assert dist_m(*crs.bd09_to_wgs84(*bd), *crs.gcj02_to_wgs84(*gcj)) < 1e-3
    wgs = crs.gcj02_to_wgs84(*gcj)
    # the exact inverse returns the GCJ-02 input when shifted forward again...
    assert dist_m(*crs.wgs84_to_gcj02(*wgs), *gcj) < 1e-3
    # ...while the service's published WGS-84 is the one-step approximation: 1.7 m off
    published = (120.021519, 30.281543)
    assert 1.0 < dist_m(*crs.wgs84_to_gcj02(*published), *gcj) < 2.5
    assert dist_m(*wgs, *published) < 2.5


# -- round trips and the area rule --------------------------------------------------------

china = st.tuples(st.floats(73.5, 135.0), st.floats(18.0, 53.5))


@given(china)
@settings(max_examples=300, deadline=None)
def test_gcj02_round_trip_below_a_centimetre(pt):
    lon, lat = pt
    g = crs.wgs84_to_gcj02(lon, lat)
    assert 1.0 < dist_m(lon, lat, *g) < 2000.0  # a real shift happened
    assert dist_m(*crs.gcj02_to_wgs84(*g), lon, lat) < 0.01
    w = crs.gcj02_to_wgs84(lon, lat)
    assert dist_m(*crs.wgs84_to_gcj02(*w), lon, lat) < 0.01


@given(china)
@settings(max_examples=300, deadline=None)
def test_bd09_round_trip_below_a_centimetre(pt):
    lon, lat = pt
    b = crs.wgs84_to_bd09(lon, lat)
    assert dist_m(*crs.bd09_to_wgs84(*b), lon, lat) < 0.01
    assert dist_m(*crs.gcj02_to_bd09(*crs.bd09_to_gcj02(lon, lat)), lon, lat) < 0.01


@given(st.lists(china, min_size=1, max_size=50))
@settings(max_examples=50, deadline=None)
def test_vectorised_equals_scalar(pts):
    lon = np.array([p[0] for p in pts])
    lat = np.array([p[1] for p in pts])
    vx, vy = crs.gcj02_to_wgs84(lon, lat)
    assert isinstance(vx, np.ndarray) and vx.shape == lon.shape
    for i in range(len(pts)):
        sx, sy = crs.gcj02_to_wgs84(float(lon[i]), float(lat[i]))
        assert isinstance(sx, float)
        assert abs(sx - vx[i]) < 1e-12 and abs(sy - vy[i]) < 1e-12


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(24.94, 60.17), (1.52, 42.51), (139.69, 35.68), (151.2, -33.87), (-74.0, 40.7), (72.0, 30.0), (100.0, 56.0)],
)
def test_outside_china_unchanged(lon, lat):
    for fn in (
        crs.wgs84_to_gcj02,
        crs.gcj02_to_wgs84,
        crs.wgs84_to_bd09,
        crs.bd09_to_wgs84,
        crs.gcj02_to_bd09,
        crs.bd09_to_gcj02,
    ):
        assert fn(lon, lat) == (lon, lat)
    assert not crs.in_shift_area(lon, lat)


def test_nan_stays_nan_and_shapes_broadcast():
    x, y = crs.gcj02_to_wgs84(np.array([np.nan, 120.0]), 30.0)
    assert np.isnan(x[0]) and np.isfinite(x[1]) and y.shape == (2,)
    with pytest.raises(mg.InputError):
        crs.wgs84_to_gcj02([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(mg.InputError):
        crs.wgs84_to_gcj02("东经120度", 30.0)


# -- layers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def longgang_features() -> gpd.GeoDataFrame:
    ext = mg.sources.read_osm(shared_path(OSM_FILES["longgang"]))
    return ext.features[["osm_type", "osm_id", "geometry"]]


def test_to_wgs84_mixed_real_geometries_round_trip(longgang_features):
    feats = longgang_features
    assert {"Point", "MultiPolygon", "LineString"} <= set(feats.geom_type)
    for source, forward in (("gcj02", crs.wgs84_to_gcj02), ("bd09", crs.wgs84_to_bd09)):
        shifted = _apply(feats, forward)
        before = shifted.copy()
        back = crs.to_wgs84(shifted, source=source)
        assert back.crs.to_epsg() == 4326
        assert back.index.equals(feats.index) and list(back.columns) == list(feats.columns)
        assert shifted.geom_equals_exact(before, tolerance=0).all()  # input untouched
        metric = crs.metric_crs(feats)
        err = back.to_crs(metric).geometry.hausdorff_distance(feats.to_crs(metric).geometry)
        assert err.max() < 0.01
        assert (back.geom_type == feats.geom_type).all()
        # the vertex count and ring structure are kept
        assert (shapely.get_num_coordinates(back.geometry.values) == shapely.get_num_coordinates(feats.geometry.values)).all()


def test_to_wgs84_from_web_mercator_and_without_crs():
    pts = gpd.GeoDataFrame(
        {"name": ["西湖", "钱塘江"]}, geometry=gpd.points_from_xy([120.1469, 120.2105], [30.2426, 30.2285]), crs=4326
    )
    gcj = _apply(pts, crs.wgs84_to_gcj02)
    expected = np.column_stack(crs.gcj02_to_wgs84(gcj.geometry.x.to_numpy(), gcj.geometry.y.to_numpy()))
    for layer in (gcj.to_crs(3857), gcj.set_crs(None, allow_override=True)):
        out = crs.to_wgs84(layer, source="amap")
        got = shapely.get_coordinates(out.geometry.values)
        assert np.abs(got - expected).max() < 1e-9
        assert dist_m(got[:, 0], got[:, 1], pts.geometry.x, pts.geometry.y).max() < 0.01
    series = crs.to_wgs84(gcj.geometry, source="gcj02")
    assert isinstance(series, gpd.GeoSeries) and series.crs.to_epsg() == 4326


def test_cgcs2000_is_used_as_it_is():
    assert crs.is_cgcs2000(4490) and crs.is_cgcs2000("EPSG:4549") and crs.is_cgcs2000(4513)
    assert not crs.is_cgcs2000(4326) and not crs.is_cgcs2000(32650)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([120.15, 120.2], [30.25, 30.3]), crs=4490)
    out = crs.to_wgs84(pts, source="cgcs2000")
    assert out.crs.to_epsg() == 4326
    assert np.allclose(shapely.get_coordinates(out.geometry.values), shapely.get_coordinates(pts.geometry.values), atol=1e-9)
    gk = pts.to_crs(4549)
    back = crs.to_wgs84(gk, source="wgs84")
    assert dist_m(back.geometry.x, back.geometry.y, pts.geometry.x, pts.geometry.y).max() < 0.001
    assert crs.parse_crs("cgcs2000").to_epsg() == 4490 and crs.parse_crs("WGS84").to_epsg() == 4326
    with pytest.raises(mg.CRSError, match="to_wgs84"):
        crs.parse_crs("gcj02")


def test_to_wgs84_errors_and_warnings():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([120.1, np.nan], [30.2, 30.3]), crs=4326)
    with pytest.raises(mg.InputError, match="rows 1"):
        crs.to_wgs84(pts)
    metres = gpd.GeoDataFrame(geometry=gpd.points_from_xy([500000.0], [3300000.0]), crs=4326)
    with pytest.raises(mg.CRSError, match="not longitude/latitude"):
        crs.to_wgs84(metres)
    with pytest.raises(mg.CRSError, match="unknown coordinate system"):
        crs.to_wgs84(pts.iloc[:1], source="mars2000")
    with pytest.warns(mg.CoordinateShiftWarning, match="outside"):
        out = crs.to_wgs84(gpd.GeoDataFrame(geometry=gpd.points_from_xy([24.94], [60.17]), crs=4326))
    assert out.geometry.x.iloc[0] == 24.94
    empty = crs.to_wgs84(gpd.GeoDataFrame(geometry=[], crs=4326))
    assert empty.empty and empty.crs.to_epsg() == 4326
    with pytest.raises(mg.InputError):
        crs.to_wgs84(pd.DataFrame({"x": [1]}))


# -- the shift detector against a real network ---------------------------------------------------


@pytest.fixture(scope="module", params=["longgang", "haidian"])
def town(request):
    path = shared_path(OSM_FILES[request.param])
    ext = mg.sources.read_osm(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(ext, mode="walk")
    fac = mg.facilities.from_osm(ext).drop_duplicates("facility_id").reset_index(drop=True)
    return request.param, net, fac


def test_detect_shift_flags_shifted_copies_only(town):
    _, net, fac = town
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.CoordinateShiftWarning)
        original = crs.detect_shift(fac, net)
    assert not original.likely and original.system is None
    assert "no shift" in original.message
    # the evidence, checked by an independent route: shapely distances to the union of the edges
    pts = fac[fac.geom_type == "Point"].to_crs(net.crs)
    roads = net.edges.geometry.union_all()
    direct = np.median([p.distance(roads) for p in pts.geometry])
    assert original.n_points == len(pts)
    assert original.median_dist_m["as_given"] == pytest.approx(direct, abs=1e-6)

    with pytest.warns(mg.CoordinateShiftWarning, match="GCJ-02"):
        gcj = crs.detect_shift(_apply(fac, crs.wgs84_to_gcj02), net)
    assert gcj.likely and gcj.system == "gcj02"
    assert gcj.median_dist_m["gcj02"] == pytest.approx(original.median_dist_m["as_given"], abs=0.01)
    assert gcj.median_dist_m["gcj02"] <= 0.5 * gcj.median_dist_m["as_given"]
    assert "to_wgs84" in gcj.message

    with pytest.warns(mg.CoordinateShiftWarning, match="BD-09"):
        bd = crs.detect_shift(_apply(fac, crs.wgs84_to_bd09), net)
    assert bd.likely and bd.system == "bd09"
    table = bd.to_frame()
    assert list(table.index) == ["as_given", "gcj02", "bd09", "control"]


def test_detect_shift_against_road_lines(town):
    _, net, fac = town
    roads = net.edges[["geometry"]].to_crs(4326)
    assert not crs.detect_shift(fac, roads, warn=False).likely
    assert crs.detect_shift(_apply(fac, crs.wgs84_to_gcj02), roads, warn=False).system == "gcj02"


def test_detect_shift_few_points_and_outside_china(karhula_walk):
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([26.94, 26.95], [60.52, 60.53]), crs=4326)
    res = crs.detect_shift(pts, karhula_walk)
    assert not res.likely and res.n_points == 0 and "cannot tell" in res.message


# -- malformed inputs raise the toolkit's own errors -------------------------------------------------

coord = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-200, 200))


@st.composite
def malformed_layers(draw):
    kind = draw(st.sampled_from(["empty", "nan", "no_crs_metres", "projected_degrees_label", "mixed", "not_a_frame"]))
    n = draw(st.integers(1, 6))
    xs = [draw(coord) for _ in range(n)]
    ys = [draw(coord) for _ in range(n)]
    if kind == "empty":
        return gpd.GeoDataFrame(geometry=[], crs=draw(st.sampled_from([4326, 4549, None])))
    if kind == "nan":
        xs[0] = np.nan
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=4326)
    if kind == "no_crs_metres":
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy([5e5 + abs(x) if np.isfinite(x) else 5e5 for x in xs], [3e6] * n))
    if kind == "projected_degrees_label":
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy([1e6] * n, [1e7] * n), crs=4326)
    if kind == "mixed":
        geoms = [
            shapely.Point(120, 30),
            shapely.LineString([(120, 30), (xs[0], ys[0])]),
            shapely.box(120, 30, 120.01, 30.01),
            None,
        ]
        return gpd.GeoDataFrame(geometry=geoms[: max(2, n % 5)], crs=draw(st.sampled_from([4326, None, "EPSG:3857"])))
    return draw(st.sampled_from([None, 3, "points.csv", pd.DataFrame({"lon": xs, "lat": ys})]))


@given(layer=malformed_layers(), source=st.sampled_from(["gcj02", "bd09", "wgs84", "baidu", "nonsense"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_to_wgs84_malformed_inputs_raise_own_errors(layer, source):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.CoordinateShiftWarning)
            out = crs.to_wgs84(layer, source=source)
    except mg.MtownGeoError:
        return
    # when it succeeds, the result is a well-formed WGS-84 layer of the same length
    assert out.crs.to_epsg() == 4326 and len(out) == len(layer)
    coords = shapely.get_coordinates(out.geometry.values)
    assert np.isfinite(coords).all()
    assert (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()


@given(layer=malformed_layers())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_detect_shift_malformed_inputs_raise_own_errors(layer, karhula_walk):
    try:
        res = crs.detect_shift(layer, karhula_walk, warn=False)
    except mg.MtownGeoError:
        return
    assert isinstance(res, crs.ShiftCheck) and not res.likely


def test_detect_shift_argument_errors(karhula_walk):
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([26.94], [60.52]), crs=4326)
    with pytest.raises(mg.InputError):
        crs.detect_shift(pts, karhula_walk, alpha=1.5)
    with pytest.raises(mg.InputError):
        crs.detect_shift(pts, "roads.shp")
    assert isinstance(karhula_walk, crs.RoadNetwork)
    half = types.SimpleNamespace(nodes=karhula_walk.nodes, crs=karhula_walk.crs)  # no edge tree
    with pytest.raises(mg.InputError, match="network must be"):
        crs.detect_shift(pts, half)
    with pytest.raises(mg.InputError):
        crs.detect_shift(pts, gpd.GeoDataFrame(geometry=[], crs=4326))
    with pytest.raises(mg.CRSError):
        crs.detect_shift(pts.set_crs(None, allow_override=True), karhula_walk)
    assert CRS.from_user_input(karhula_walk.crs).is_projected


# -- deciding on real POI tables: streets and names, facility by facility -----------------------------------


def _poi_table(ext, net, seed: int = 5) -> gpd.GeoDataFrame:
    """The extract's facilities as a POI table has them: one point per facility, inside its area,
    10–30 m from OSM's own point, with its name (WGS-84)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        fac = mg.facilities.from_osm(ext).drop_duplicates("facility_id").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    pts = fac.to_crs(net.crs).representative_point()
    ang, r = rng.uniform(0, 2 * np.pi, len(pts)), rng.uniform(10, 30, len(pts))
    moved = gpd.GeoSeries(shapely.points(pts.x + r * np.cos(ang), pts.y + r * np.sin(ang)), crs=net.crs).to_crs(4326)
    return gpd.GeoDataFrame({"name": fac["name"], "category": fac["category"]}, geometry=moved.to_numpy(), crs=4326)


@pytest.fixture(scope="module", params=["haidian", "longgang", "guixi_pbf"])
def poi_town(request):
    ext = mg.sources.read_osm(shared_path(OSM_FILES[request.param]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(ext, mode="walk")
    return request.param, ext, net, _poi_table(ext, net)


def _name_hits(table: gpd.GeoDataFrame, ext, metric, tol_m: float = 50.0) -> int:
    """Facilities within tol_m of an OSM feature of the same name (shapely, name by name)."""
    feats = ext.features.dropna(subset=["name"]).to_crs(metric)
    keys = feats["name"].map(crs.normalise_name)
    pts = table.to_crs(metric).geometry
    hits = 0
    for nm, p in zip(table["name"], pts, strict=True):
        same = feats.geometry[(keys == crs.normalise_name(nm)).to_numpy()] if isinstance(nm, str) else []
        hits += len(same) > 0 and shapely.distance(np.asarray(same), p).min() <= tol_m
    return hits


def test_gcj02_and_bd09_copies_of_real_tables_are_decided_and_wgs84_is_not_flagged(poi_town):
    key, ext, net, table = poi_town
    truth_hits = _name_hits(table, ext, net.crs)
    assert truth_hits >= 5
    for system, forward in (("gcj02", crs.wgs84_to_gcj02), ("bd09", crs.wgs84_to_bd09)):
        with pytest.warns(mg.CoordinateShiftWarning, match=system.upper().replace("02", "-02").replace("09", "-09")):
            check = crs.detect_shift(_apply(table, forward), net, reference=ext.features)
        assert check.best == system and check.likely and check.system == system, (key, check.message)
        assert check.name_hits[system] == truth_hits and check.name_hits["as_given"] <= 1
        assert (
            check.p_names[system] < 1e-3
            and f"{truth_hits} {('without a GCJ-02 shift' if system == 'gcj02' else 'without a BD-09 shift')}" in check.message
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.CoordinateShiftWarning)
        wgs = crs.detect_shift(table, net, reference=ext.features)
    assert wgs.best == "as_given" and not wgs.likely and wgs.message.startswith("no shift")
    assert wgs.name_hits["as_given"] == truth_hits


def test_streets_alone_never_give_a_wrong_verdict(poi_town):
    """Without names, the paired street test decides where it can (Haidian) and says so where it
    cannot (Longgang, Guixi) — it never names the wrong system."""
    key, _, net, table = poi_town
    for system, forward in (("as_given", None), ("gcj02", crs.wgs84_to_gcj02), ("bd09", crs.wgs84_to_bd09)):
        pts = table if forward is None else _apply(table, forward)
        check = crs.detect_shift(pts, net, warn=False)
        assert check.best in (None, system), (key, system, check.message)
        if check.best is None:
            assert check.message.startswith("inconclusive")
    if key == "longgang":  # a dense centre whose POIs sit inside their grounds: streets cannot tell
        assert crs.detect_shift(_apply(table, crs.wgs84_to_gcj02), net, warn=False).best is None


def test_facilities_drawn_on_the_streets_decide_without_names(poi_town):
    """OSM's own point facilities (bus stops are nodes of the ways): under the right placement many lie
    on a street, far more than when the whole layer is moved at random (a street grid lines many up at
    once, so the controls are whole-layer moves); no name is needed where there are enough of them."""
    key, ext, net, _ = poi_town
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        fac = mg.facilities.from_osm(ext).drop_duplicates("facility_id").reset_index(drop=True)
    pts = fac[fac.geom_type == "Point"]
    on_ways = int((shapely.distance(np.asarray(pts.to_crs(net.crs).geometry.values)[:, None],
                                    net.edges.geometry.to_numpy()[None, :]).min(axis=1) <= 2.0).sum())  # fmt: skip
    for system, forward in (("as_given", None), ("gcj02", crs.wgs84_to_gcj02), ("bd09", crs.wgs84_to_bd09)):
        check = crs.detect_shift(fac if forward is None else _apply(fac, forward), net, warn=False)
        assert check.best in (None, system), (key, system, check.message)
        assert check.street_hits[system] == on_ways
        if on_ways >= 10:
            assert check.best == system and check.z_on_street[system] >= 5.0


def test_a_table_mixing_systems_is_inconclusive(poi_town):
    key, ext, net, table = poi_town
    half = len(table) // 2
    mixed = pd.concat([_apply(table.iloc[:half], crs.wgs84_to_gcj02), table.iloc[half:]])
    check = crs.detect_shift(mixed, net, reference=ext.features, warn=False)
    assert min(_name_hits(table.iloc[:half], ext, net.crs), _name_hits(table.iloc[half:], ext, net.crs)) >= 2
    assert check.best is None and "mix coordinate systems" in check.message, (key, check.message)


# -- `run` checks every facility table ----------------------------------------------------------------


def _guixi_run(tmp_path, facilities: list, **extra):
    b = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    s = {
        "name": "东门街道",
        "boundaries": {"town": str(b), "builtup": str(b)},
        "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
        "population": {"total": 60000},
        "demand": {"cell_m": 100},
        "circles": ["15min"],
        "facilities": facilities,
        "siting": {"enabled": False},
        "outputs": {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False},
        "base_dir": str(tmp_path),
    }
    s.update(extra)
    return mg.run(s)


@pytest.fixture(scope="module")
def guixi_pois():
    ext = mg.sources.read_osm(shared_path(OSM_FILES["guixi_pbf"]))
    net = mg.network.from_osm(ext, mode="walk")
    return _poi_table(ext, net)


AMAP_CODES = {  # Amap POI classification: category → (类型编码, 类型)
    "primary_school": ("141203", "科教文化服务;学校;小学"),
    "middle_school": ("141202", "科教文化服务;学校;中学"),
    "service_centre": ("130105", "政府机构及社会团体;政府机关;区县级政府及事业单位"),
    "sports": ("080100", "体育休闲服务;运动场馆;运动场馆"),
    "park": ("110101", "风景名胜;公园广场;公园"),
}


def _amap_chinese(pois: gpd.GeoDataFrame, forward=crs.wgs84_to_gcj02) -> pd.DataFrame:
    """An Amap export as Chinese download tools write it: 名称/类型/类型编码/经度/纬度/地址..."""
    lon, lat = pois.geometry.x.to_numpy(), pois.geometry.y.to_numpy()
    if forward is not None:
        lon, lat = forward(lon, lat)
    return pd.DataFrame(
        {
            "名称": pois["name"].fillna("运动场"),
            "类型": [AMAP_CODES[c][1] for c in pois["category"]],
            "类型编码": [AMAP_CODES[c][0] for c in pois["category"]],
            "地址": "",
            "经度": np.round(lon, 6),
            "纬度": np.round(lat, 6),
            "省份": "江西省",
            "城市": "鹰潭市",
            "区县": "贵溪市",
        }
    )


def test_run_reads_an_amap_export_with_chinese_headers_as_gcj02(tmp_path, guixi_pois):
    _amap_chinese(guixi_pois).to_csv(tmp_path / "高德POI.csv", index=False, encoding="utf-8-sig")
    result = _guixi_run(tmp_path, [{"table": "高德POI.csv"}])
    fac = result.layers["facilities"].to_crs(4326)
    assert len(fac) == len(guixi_pois)
    assert list(fac["source"].unique()) == ["amap"]
    d = dist_m(fac.geometry.x, fac.geometry.y, guixi_pois.geometry.x, guixi_pois.geometry.y)
    assert d.max() < 0.15  # Amap's 6 decimals, not the 500–600 m of GCJ-02 read as WGS-84
    note = next(n for n in result.notes if "Amap (高德) export" in n)
    assert "类型编码" in note and "taken as GCJ-02 and converted to WGS-84" in note
    assert not any("CoordinateShiftWarning" in n for n in result.notes)


def test_run_refuses_a_gcj02_table_read_as_wgs84_and_names_the_fix(tmp_path, guixi_pois):
    lon, lat = crs.wgs84_to_gcj02(guixi_pois.geometry.x.to_numpy(), guixi_pois.geometry.y.to_numpy())
    plain = pd.DataFrame({"名称": guixi_pois["name"], "类别": guixi_pois["category"], "经度": lon, "纬度": lat})
    plain.to_csv(tmp_path / "pois.csv", index=False)
    with pytest.raises(mg.InputError) as err:
        _guixi_run(tmp_path, [{"table": "pois.csv"}])
    msg = str(err.value)
    assert "table pois.csv" in msg and "read as WGS-84 but look GCJ-02" in msg
    assert "`crs: gcj02`" in msg and "shift_check: false" in msg
    declared = _guixi_run(tmp_path, [{"table": "pois.csv", "crs": "gcj02"}])
    d = dist_m(
        *(declared.layers["facilities"].to_crs(4326).geometry.x, declared.layers["facilities"].to_crs(4326).geometry.y),
        guixi_pois.geometry.x,
        guixi_pois.geometry.y,
    )
    assert d.max() < 0.01
    unchecked = _guixi_run(tmp_path, [{"table": "pois.csv", "shift_check": False}])
    assert any("pois.csv were not checked" in n for n in unchecked.notes)


def test_run_refuses_an_amap_export_already_converted_to_wgs84(tmp_path, guixi_pois):
    _amap_chinese(guixi_pois, forward=None).to_csv(tmp_path / "amap_wgs.csv", index=False)
    with pytest.raises(mg.InputError, match=r"read as GCJ-02 .* but look WGS-84") as err:
        _guixi_run(tmp_path, [{"table": "amap_wgs.csv"}])
    assert "`crs: wgs84`" in str(err.value)
    ok = _guixi_run(tmp_path, [{"table": "amap_wgs.csv", "crs": "wgs84"}])
    assert (
        dist_m(
            *(ok.layers["facilities"].to_crs(4326).geometry.x, ok.layers["facilities"].to_crs(4326).geometry.y),
            guixi_pois.geometry.x,
            guixi_pois.geometry.y,
        ).max()
        < 0.15
    )


def test_run_notes_a_table_it_cannot_check(tmp_path, guixi_pois):
    few = guixi_pois.iloc[:3]
    pd.DataFrame({"名称": few["name"], "类别": few["category"], "经度": few.geometry.x, "纬度": few.geometry.y}).to_csv(
        tmp_path / "few.csv", index=False
    )
    result = _guixi_run(tmp_path, [{"table": "few.csv"}])
    note = next(n for n in result.notes if n.startswith("CoordinateShiftWarning"))
    assert "cannot tell whether the coordinates of the table few.csv" in note and "only 3 usable points" in note
    # a WGS-84 table the check confirms leaves no such note
    full = guixi_pois
    pd.DataFrame({"名称": full["name"], "类别": full["category"], "经度": full.geometry.x, "纬度": full.geometry.y}).to_csv(
        tmp_path / "all.csv", index=False
    )
    assert not any(n.startswith("CoordinateShiftWarning") for n in _guixi_run(tmp_path, [{"table": "all.csv"}]).notes)
