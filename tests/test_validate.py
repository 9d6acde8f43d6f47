"""Checking inputs before any computation, on real towns and real mistakes made to them."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

import mtown_geo as mg
from mtown_geo import crs
from mtown_geo.validate import CHECKS, Problem, ValidationReport, render_text, validate

from .conftest import OSM_FILES, shared_path

POP_TIF = "helsinki_pyrosm/population_hsy2020_250m_epsg3879.tif"
POP_GPKG = "helsinki_pyrosm/population_grid_2020_hsy.gpkg"


def checks(report: ValidationReport, severity: str | None = None) -> set[str]:
    return {p.check for p in report.problems if severity is None or p.severity == severity}


def problem(report: ValidationReport, check: str) -> Problem:
    found = [p for p in report.problems if p.check == check]
    assert len(found) == 1, report.to_text()
    return found[0]


@pytest.fixture(scope="module")
def karhula(demo_bounds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(mg.demo_osm_path("karhula"), mode="walk")
    fac = mg.facilities.from_osm(mg.demo_osm_path("karhula"))
    town = demo_bounds[demo_bounds["kind"] == "镇域"].reset_index(drop=True)
    built = demo_bounds[demo_bounds["kind"] == "建成区"].reset_index(drop=True)
    return town, built, net, fac


@pytest.fixture(scope="module")
def haidian():
    path = shared_path(OSM_FILES["haidian"])
    ext = mg.sources.read_osm(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(ext, mode="walk")
    fac = mg.facilities.from_osm(ext).drop_duplicates("facility_id").reset_index(drop=True)
    return net, fac


# -- a clean town ---------------------------------------------------------------------------------------


def test_real_town_has_no_errors(karhula):
    town, built, net, fac = karhula
    report = validate(boundary=town, builtup=built, network=net, facilities=fac)
    assert report.ok and not report.errors
    report.raise_for_errors()  # nothing to raise
    assert {"geographic_crs", "network_pieces"} <= checks(report, "info")
    assert report.repaired == {}
    assert report.layers["boundary"] is town and report.layers["network"] is net
    table = report.to_frame()
    assert list(table.columns) == ["severity", "layer", "check", "message", "where", "fix"]
    assert list(table["severity"]) == sorted(table["severity"], key=["error", "warning", "info"].index)
    pieces = problem(report, "network_pieces")
    assert f"{net.n_components} pieces" in pieces.message


# -- broken geometry, missing CRS, empty layers, wrong types --------------------------------------------


def _self_intersecting(boundary: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """The boundary with two neighbouring vertices swapped: a digitising slip that makes a bow-tie."""
    geom = boundary.geometry.iloc[0]
    poly = max(geom.geoms, key=lambda g: g.area) if geom.geom_type == "MultiPolygon" else geom
    ring = np.asarray(poly.exterior.coords)
    # swap the two vertices of the longest edge's neighbours so the edges cross
    k = int(np.argmax(np.hypot(*np.diff(ring[:-1], axis=0).T))) + 1
    ring[[k, k + 1]] = ring[[k + 1, k]]
    ring[-1] = ring[0]
    bad = shapely.Polygon(ring, [r.coords for r in poly.interiors])
    assert not bad.is_valid
    out = boundary.copy()
    out.loc[out.index[0], "geometry"] = bad
    return out, k


def test_invalid_boundary_is_repaired_and_listed(guixi_boundary):
    broken, _ = _self_intersecting(guixi_boundary)
    before = broken.copy()
    report = validate(boundary=broken)
    p = problem(report, "invalid_geometry")
    assert p.severity == "warning" and "Self-intersection" in p.message
    assert p.rows == (broken.index[0],) and f"rows {broken.index[0]}" in p.where
    fixed = report.repaired["boundary"]
    assert fixed.is_valid.all() and set(fixed.geom_type) <= {"Polygon", "MultiPolygon"}
    assert report.layers["boundary"] is fixed
    # independent route: node the broken ring and polygonize it; the repair covers the faces it encloses
    metric = crs.metric_crs(guixi_boundary)
    bad_m = broken.to_crs(metric).geometry.iloc[0]
    noded = shapely.union_all([shapely.LineString(bad_m.exterior.coords)])
    faces = shapely.union_all(list(shapely.polygonize([noded]).geoms))
    holes = shapely.union_all([shapely.Polygon(r) for r in bad_m.interiors]) if bad_m.interiors else shapely.Polygon()
    assert fixed.to_crs(metric).area.sum() == pytest.approx(faces.difference(holes).area, rel=1e-6)
    # and stays close to the real 5.65 km² town
    assert fixed.to_crs(metric).area.sum() == pytest.approx(5.65e6, rel=0.05)
    assert broken.geom_equals_exact(before, tolerance=0).all()  # input untouched


def test_missing_crs_and_empty_layers_are_errors(guixi_boundary, karhula):
    _, _, net, fac = karhula
    report = validate(boundary=guixi_boundary.set_crs(None, allow_override=True), facilities=fac.iloc[0:0], network=net)
    assert {"no_crs", "empty"} <= checks(report, "error")
    assert "set_crs" in problem(report, "no_crs").fix
    with pytest.raises(mg.InputError, match="2 problems") as exc:
        report.raise_for_errors()
    assert "no CRS" in str(exc.value) and "no features" in str(exc.value)


def test_degrees_labelled_as_metres_and_the_reverse(guixi_boundary):
    metres_as_degrees = guixi_boundary.to_crs(4548).set_crs(4326, allow_override=True)
    report = validate(boundary=metres_as_degrees)
    assert "they are metres" in problem(report, "crs_mismatch").message
    degrees_as_metres = guixi_boundary.set_crs(4548, allow_override=True)
    report = validate(boundary=degrees_as_metres)
    assert "look like longitude/latitude" in problem(report, "crs_mismatch").message


def test_wrong_geometry_types(guixi_boundary, karhula):
    town, _, net, fac = karhula
    lines = guixi_boundary.set_geometry(guixi_boundary.boundary)
    report = validate(boundary=lines)
    assert problem(report, "geometry_type").severity == "error"
    roads_with_points = pd.concat([net.edges[["geometry"]].head(20), fac[fac.geom_type == "Point"][["geometry"]].to_crs(net.crs)])
    report = validate(boundary=town, network=gpd.GeoDataFrame(roads_with_points, crs=net.crs))
    assert "not only lines" in problem(report, "geometry_type").message


def test_paths_are_read_and_missing_paths_reported(tmp_path):
    path = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    report = validate(boundary=path, facilities=tmp_path / "nowhere.gpkg")
    assert isinstance(report.layers["boundary"], gpd.GeoDataFrame)
    assert "does not exist" in problem(report, "not_a_layer").message
    report = validate(boundary=[1, 2, 3])
    assert "got list" in problem(report, "not_a_layer").message
    report = validate(network=mg.demo_osm_path())
    assert "from_osm" in problem(report, "not_a_layer").fix


# -- layers against the town -----------------------------------------------------------------------------


def test_layers_that_miss_the_town(karhula, guixi_boundary):
    town, _, net, fac = karhula
    report = validate(boundary=town, builtup=guixi_boundary, facilities=fac)
    p = problem(report, "outside_town")
    assert p.layer == "builtup" and p.severity == "error" and "lat 28." in p.where
    # the network of another town does not reach this one
    report = validate(boundary=guixi_boundary, network=net)
    p = problem(report, "outside_town")
    assert p.layer == "network"


def test_builtup_partly_outside_the_town(guixi_boundary):
    metric = crs.metric_crs(guixi_boundary)
    town_m = guixi_boundary.to_crs(metric)
    shifted = gpd.GeoDataFrame(geometry=[shapely.affinity.translate(town_m.geometry.iloc[0], 800, 0)], crs=metric)
    report = validate(boundary=guixi_boundary, builtup=shifted)
    p = problem(report, "partly_outside")
    outside = shifted.geometry.iloc[0].difference(town_m.geometry.iloc[0]).area / shifted.geometry.iloc[0].area
    assert f"{outside:.1%}" in p.message


def test_network_covering_part_of_the_town(karhula):
    town, built, _, _ = karhula
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        small = mg.network.from_osm(mg.demo_osm_path("karhula"), mode="walk", boundary=built, buffer_m=0)
    report = validate(boundary=town, network=small)
    p = problem(report, "network_coverage")
    metric = crs.metric_crs(town)
    hull = gpd.GeoSeries([shapely.MultiPoint(small.nodes.geometry.tolist()).convex_hull], crs=small.crs).to_crs(metric).iloc[0]
    town_m = town.to_crs(metric).union_all()
    assert f"{town_m.intersection(hull).area / town_m.area:.0%}" in p.message


# -- facilities -------------------------------------------------------------------------------------------


def test_facilities_far_from_the_network(karhula):
    town, built, _, fac = karhula
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        small = mg.network.from_osm(mg.demo_osm_path("karhula"), mode="walk", boundary=built, buffer_m=0)
    report = validate(boundary=town, network=small, facilities=fac, max_snap_dist_m=300)
    # independent route: shapely distance to the union of all edges
    roads = small.edges.geometry.union_all()
    dist = fac.to_crs(small.crs).geometry.distance(roads).to_numpy()
    far = set(fac.index[dist > 300])
    assert far, "the clipped network should leave some facilities far away"
    p = problem(report, "far_from_road")
    assert set(p.rows) == far
    assert f"{len(far)} of {len(fac)} facilities" in p.message


def test_duplicate_facilities(haidian):
    net, fac = haidian
    pts = fac[fac.geom_type == "Point"].reset_index(drop=True)
    metric = net.crs
    copies = pts.iloc[[0, 5, 10]].to_crs(metric)
    copies = copies.set_geometry(copies.geometry.translate(2.0, 1.5)).to_crs(4326)
    both = pd.concat([pts, copies], ignore_index=True)
    report = validate(facilities=both, duplicate_dist_m=5.0)
    p = problem(report, "duplicate_facility")
    # independent route: all pairwise distances per category (scipy)
    xy = np.column_stack([both.to_crs(metric).geometry.x, both.to_crs(metric).geometry.y])
    expected = set()
    for cat in both["category"].unique():
        pos = np.flatnonzero(both["category"].to_numpy() == cat)
        d = cdist(xy[pos], xy[pos])
        i, j = np.nonzero(np.triu(d <= 5.0, k=1))
        expected |= {int(pos[a]) for a in i} | {int(pos[b]) for b in j}
    assert {len(pts), len(pts) + 1, len(pts) + 2} <= expected
    assert set(p.rows) == expected
    assert "duplicate_facility" not in checks(validate(facilities=both, duplicate_dist_m=0))


def test_gcj02_shifted_facilities_are_an_error(haidian):
    net, fac = haidian

    def f(xy):
        x, y = crs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    shifted = fac.set_geometry(gpd.GeoSeries(shapely.transform(fac.geometry.values, f), crs=4326))
    report = validate(network=net, facilities=shifted)
    p = problem(report, "coordinate_shift")
    assert p.severity == "error" and "GCJ-02" in p.message and "to_wgs84" in p.fix
    assert "coordinate_shift" not in checks(validate(network=net, facilities=fac))
    assert "coordinate_shift" not in checks(validate(network=net, facilities=shifted, skip=["coordinate_shift"]))


def test_unknown_categories(karhula):
    _, _, _, fac = karhula
    odd = fac.copy()
    odd.loc[odd.index[:3], "category"] = ["幼儿园", None, "gas_station"]
    report = validate(facilities=odd)
    p = problem(report, "no_category")
    assert p.rows == tuple(odd.index[:3]) and "gas_station" in p.message
    report = validate(facilities=fac.drop(columns="category"))
    assert problem(report, "no_category").severity == "error"


# -- population rasters ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helsinki_grid():
    return gpd.read_file(shared_path(POP_GPKG))


def test_population_raster_inside_the_town(helsinki_grid):
    tif = shared_path(POP_TIF)
    town = gpd.GeoDataFrame(geometry=[helsinki_grid.union_all()], crs=helsinki_grid.crs)
    report = validate(boundary=town, population_raster=tif)
    assert report.ok
    p = problem(report, "population")
    # independent route: the grid's own population column (the same HSY 2020 data as polygons)
    assert int(helsinki_grid["population"].sum()) == 71724
    assert "71,724 people" in p.message


def test_population_raster_missing_the_town(karhula):
    town, _, _, _ = karhula
    report = validate(boundary=town, population_raster=shared_path(POP_TIF))
    p = problem(report, "raster_outside_town")
    assert p.severity == "error" and "EPSG:3879" in p.where


def test_population_raster_partly_covering_the_town(helsinki_grid):
    tif = shared_path(POP_TIF)
    cells = helsinki_grid.to_crs(3879)
    hull = cells.union_all().envelope.buffer(500)
    town = gpd.GeoDataFrame(geometry=[hull], crs=3879)
    with rasterio.open(tif) as src:
        footprint = shapely.box(*src.bounds)
    share = hull.intersection(footprint).area / hull.area
    report = validate(boundary=town, population_raster=tif)
    p = problem(report, "raster_partial")
    assert f"{share:.1%}" in p.message


def _copy_raster(src_path, out_path, *, fill=None):
    """A copy of a real raster without a nodata value; empty cells optionally set to ``fill``."""
    with rasterio.open(src_path) as src:
        profile = src.profile.copy()
        data = src.read(1)
    profile.pop("nodata", None)
    if fill is not None:
        data = np.where(data == 0, fill, data).astype(data.dtype)
    with rasterio.open(out_path, "w", **profile) as dst:
        dst.write(data, 1)
    return data


def test_population_raster_without_nodata(helsinki_grid, tmp_path):
    town = gpd.GeoDataFrame(geometry=[helsinki_grid.union_all()], crs=helsinki_grid.crs)
    plain = tmp_path / "no_nodata.tif"
    data = _copy_raster(shared_path(POP_TIF), plain)
    report = validate(boundary=town, population_raster=plain)
    assert problem(report, "raster_no_nodata").severity == "warning"
    assert (data >= 0).all() and "raster_values" not in checks(report)
    assert "71,724 people" in problem(report, "population").message
    # empty cells written as −9999 without declaring it: negative people inside the town
    filled = tmp_path / "fill.tif"
    data = _copy_raster(shared_path(POP_TIF), filled, fill=-9999.0)
    report = validate(boundary=town, population_raster=filled)
    p = problem(report, "raster_values")
    assert p.severity == "error" and "-9999" in p.message and "unset nodata" in p.message
    assert 0 < int(p.message.split(" cells")[0]) <= int((data == -9999).sum())


def test_population_raster_unreadable(tmp_path, karhula):
    town, _, _, _ = karhula
    bad = tmp_path / "pop.tif"
    bad.write_bytes(b"GeoTIFF? no")
    assert problem(validate(boundary=town, population_raster=bad), "raster_unreadable").severity == "error"
    assert problem(validate(boundary=town, population_raster=tmp_path / "none.tif"), "raster_unreadable")


# -- the report as text ----------------------------------------------------------------------------------


def test_render_text(guixi_boundary, karhula):
    _, _, net, fac = karhula
    broken, _ = _self_intersecting(guixi_boundary)
    report = validate(boundary=broken, network=net, facilities=fac.iloc[0:0])
    text = render_text(report, width=90)
    lines = text.splitlines()
    assert lines[0].startswith("Input check: 2 errors, 1 warning")
    for p in report.problems:
        assert p.check in text
    assert any(line.strip().startswith("fix:") for line in lines)
    assert max(len(line) for line in lines) <= 90 + 20  # long unbroken words may overhang a little
    assert str(report) == report.to_text()
    assert render_text(ValidationReport()).endswith("the inputs look fine.")
    with pytest.raises(mg.InputError):
        render_text("report")  # type: ignore[arg-type]


def test_bad_arguments():
    with pytest.raises(mg.InputError, match="unknown checks"):
        validate(skip=["gcj"])
    with pytest.raises(mg.InputError):
        validate(duplicate_dist_m=-1)
    assert set(CHECKS) >= {"coordinate_shift", "invalid_geometry", "raster_no_nodata"}


# -- malformed inputs: always a report, never a traceback -------------------------------------------------

coord = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-200, 200), st.floats(1e5, 1e7))


@st.composite
def malformed(draw):
    kind = draw(st.sampled_from(["empty", "nan", "no_crs", "mixed", "bowtie", "not_a_layer", "lines", "points"]))
    n = draw(st.integers(1, 5))
    xs = [draw(coord) for _ in range(n)]
    ys = [draw(coord) for _ in range(n)]
    crs_value = draw(st.sampled_from([4326, 4549, 3857, None]))
    if kind == "empty":
        return gpd.GeoDataFrame(geometry=[], crs=crs_value)
    if kind == "nan":
        xs[0] = np.nan
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=crs_value)
    if kind == "no_crs":
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys))
    if kind == "mixed":
        geoms = [shapely.Point(xs[0], ys[0]), shapely.box(120, 30, 120.01, 30.01), None, shapely.LineString([(0, 0), (1, 1)])]
        return gpd.GeoDataFrame({"category": ["park", "kindergarten", None, "x"]}, geometry=geoms, crs=crs_value)
    if kind == "bowtie":
        return gpd.GeoDataFrame(geometry=[shapely.Polygon([(120, 30), (120.01, 30.01), (120.01, 30), (120, 30.01)])], crs=4326)
    if kind == "lines":
        return gpd.GeoDataFrame(geometry=[shapely.LineString([(120, 30), (xs[0], ys[0])])], crs=crs_value)
    if kind == "points":
        return gpd.GeoDataFrame({"category": ["kindergarten"] * n}, geometry=gpd.points_from_xy(xs, ys), crs=crs_value)
    return draw(st.sampled_from([None, 3, "missing.shp", pd.DataFrame({"x": xs})]))


@given(
    boundary=st.one_of(st.none(), malformed()),
    facilities=st.one_of(st.none(), malformed()),
    residential=st.one_of(st.none(), malformed()),
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_malformed_inputs_give_a_report(boundary, facilities, residential, karhula_walk):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray library warnings either
        warnings.simplefilter("ignore", RuntimeWarning)
        report = validate(boundary=boundary, facilities=facilities, residential=residential, network=karhula_walk)
    assert isinstance(report, ValidationReport)
    for p in report.problems:
        assert p.severity in ("error", "warning", "info") and p.check in CHECKS and p.message
    if isinstance(boundary, gpd.GeoDataFrame) and (boundary.empty or boundary.crs is None):
        assert report.errors
    if report.errors:
        with pytest.raises(mg.InputError):
            report.raise_for_errors()


# -- road centrelines: what the repair did and what it left open ------------------------------------------


def test_centreline_repairs_near_misses_and_cut_off_pieces_are_shown(guixi_boundary):
    """Guixi's walk ways as a planner's layer, one spur cut back 1.5 m from its junction: the report
    lists the near-miss with its place, the piece it cuts off (a warning, however short) and the repairs."""
    from pyproj import Transformer

    from .test_centrelines import GAP_M, _cut_back, _spur_ends, _ways_and_reference

    lines, _ = _ways_and_reference("guixi_bz2")
    i, end = next((i, e) for i, e in _spur_ends(lines) if lines.geometry.iat[i].length > 100)
    cut, new_end = _cut_back(lines, i, end, GAP_M)
    lon, lat = Transformer.from_crs(cut.crs, 4326, always_xy=True).transform(new_end.x, new_end.y)
    report = validate(boundary=guixi_boundary, network=cut)
    near = problem(report, "near_miss")
    assert near.severity == "warning" and near.rows == (cut.index[i],)
    assert f"line {cut.index[i]} misses line" in near.where and f"at {lon:.6f}, {lat:.6f}" in near.where
    gap = float(shapely.distance(cut.drop(index=cut.index[i]).geometry.to_numpy(), new_end).min())
    assert f"1 line end stops {gap:.2f} m short of another line" in near.message
    assert f"snap_tol_m (to {math.ceil(gap * 10) / 10:g} m closes all of them)" in near.fix
    pieces = problem(report, "network_pieces")
    assert pieces.severity == "warning" and "falls into 2 pieces" in pieces.message
    assert f"{lines.geometry.iat[i].length - GAP_M:.0f} m at" in pieces.where
    repairs = problem(report, "network_repairs")
    assert repairs.severity == "info" and f"({len(cut)} lines)" in repairs.message
    assert "crossings on different levels kept apart" in repairs.message
    # the same from a network built beforehand; OSM networks keep stray pieces as information
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        net = mg.network.from_lines(cut, mode="walk")
    assert problem(validate(network=net), "near_miss").where == near.where
    assert "near_miss" not in checks(validate(network=net, skip=["near_miss"]))


def test_bridge_classes_without_levels_are_a_warning():
    from .test_centrelines import _ways_and_reference

    lines, _ = _ways_and_reference("guixi_bz2")
    is_bridge = lines["bridge"].notna().to_numpy()
    layer = lines.assign(highway=np.where(is_bridge, "高架桥", lines["highway"])).drop(columns=["layer", "bridge", "tunnel"])
    p = problem(validate(network=layer), "bridge_classes")
    assert p.severity == "warning" and f"高架桥: {int(is_bridge.sum())} lines" in p.message
    assert "a viaduct joins the streets below it" in p.message and "bridge_col" in p.fix
    assert "bridge_classes" not in checks(validate(network=lines))


# -- coordinate shifts in a dense town: streets cannot tell, names can --------------------------------------


@pytest.fixture(scope="module")
def longgang():
    ext = mg.sources.read_osm(shared_path(OSM_FILES["longgang"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(ext, mode="walk")
    fac = mg.facilities.from_osm(ext).drop_duplicates("facility_id").reset_index(drop=True)
    # one point per facility as a POI table has it: inside the area, 10–30 m from OSM's own point
    rng = np.random.default_rng(5)
    pts = fac.to_crs(net.crs).representative_point()
    ang, r = rng.uniform(0, 2 * np.pi, len(pts)), rng.uniform(10, 30, len(pts))
    moved = gpd.GeoSeries(shapely.points(pts.x + r * np.cos(ang), pts.y + r * np.sin(ang)), crs=net.crs).to_crs(4326)
    table = gpd.GeoDataFrame(fac[["category", "name"]].assign(source="table"), geometry=moved.to_numpy(), crs=4326)
    return ext, net, fac, table


def _shifted(gdf, fn=crs.wgs84_to_gcj02):
    def f(xy):
        x, y = fn(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return gdf.set_geometry(gpd.GeoSeries(shapely.transform(gdf.geometry.values, f), index=gdf.index, crs=4326))


def test_dense_town_shift_is_decided_by_names(longgang):
    ext, net, _, table = longgang
    gcj = _shifted(table)
    alone = problem(validate(network=net, facilities=gcj), "coordinate_shift")
    assert alone.severity == "info" and alone.message.startswith("inconclusive") and "reference=" in alone.fix
    named = problem(validate(network=net, facilities=gcj, reference=ext.features), "coordinate_shift")
    assert named.severity == "error" and "GCJ-02" in named.message and "crs: gcj02" in named.fix
    # the evidence, by an independent route: facilities within 50 m of an OSM feature of their name
    feats = ext.features.dropna(subset=["name"]).to_crs(net.crs)
    pts = table.to_crs(net.crs)
    n_hits = sum(
        bool(shapely.distance(feats.geometry[feats["name"] == nm].to_numpy(), p).min() <= 50)
        for nm, p in zip(table["name"], pts.geometry, strict=True)
        if isinstance(nm, str) and (feats["name"] == nm).any()
    )
    assert n_hits >= 20 and f"{n_hits} without a GCJ-02 shift" in named.message
    assert "coordinate_shift" not in checks(validate(network=net, facilities=table, reference=ext.features))


def test_each_source_of_a_merged_layer_is_checked_on_its_own(longgang):
    ext, net, fac, table = longgang
    merged = pd.concat([fac, _shifted(table).assign(source="amap")], ignore_index=True)
    p = problem(validate(network=net, facilities=merged, reference=ext.features), "coordinate_shift")
    assert p.severity == "error" and p.where == "rows from amap"
    assert set(p.rows) == set(range(len(fac), len(merged)))


def test_category_names_get_their_id_or_the_closest_names(karhula):
    _, _, _, fac = karhula
    odd = fac.copy()
    odd.loc[odd.index[:3], "category"] = ["幼儿园", "Kindergarden", "gas_station"]
    p = problem(validate(facilities=odd), "no_category")
    assert "幼儿园 (= kindergarten: a study file accepts it" in p.message
    assert "Kindergarden (did you mean kindergarten?)" in p.message and "gas_station" in p.message


def test_population_raster_below_min_coverage_is_an_error(helsinki_grid):
    tif = shared_path(POP_TIF)
    with rasterio.open(tif) as src:
        footprint = shapely.box(*src.bounds)
    town = footprint.buffer(400)  # the raster stops 400 m short of the town on every side
    share = footprint.area / town.area
    gdf = gpd.GeoDataFrame(geometry=[town], crs=3879)
    p = problem(validate(boundary=gdf, population_raster=tif), "raster_partial")
    assert p.severity == "error" and f"covers only {share:.1%} of the town" in p.message and "refuses" in p.message
    assert problem(validate(boundary=gdf, population_raster=tif, min_coverage=0.5), "raster_partial").severity == "warning"
