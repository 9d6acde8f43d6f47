"""Parks: size classes, service-radius coverage (exact overlay), the network variant, real towns."""

from __future__ import annotations

import logging
import math
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

import mtown_geo as mg
from mtown_geo import _graph, parkland, parks
from mtown_geo.standards import ParkRule, ParkSizeClass, TagRule

from .conftest import OSM_FILES, assert_same_frames, shared_path

CRS = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E (Zhejiang)
X0, Y0 = 500_000.0, 3_300_000.0
GEOD = Geod(ellps="GRS80")


def _box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _layer(*geoms: shapely.Geometry, **cols: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=CRS)


def _geodesic_area_m2(geom: shapely.Geometry, crs) -> float:
    """Area on the GRS80 ellipsoid, independent of any map projection."""
    g = gpd.GeoSeries([geom], crs=crs).to_crs(4326).iloc[0]
    return sum(abs(GEOD.geometry_area_perimeter(p)[0]) for p in shapely.get_parts(g))


def _residential(extract) -> gpd.GeoDataFrame:
    f = extract.features
    keep = (
        f["tags"].map(lambda t: t.get("landuse") == "residential").to_numpy()
        & f.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    )
    return f.loc[keep]


# -- size classes and exact areas on constructed geometries ----------------------------------


def test_a_park_of_5000_m2_gets_500_m_and_one_of_4999_m2_gets_300_m():
    # residential land 400–600 m north of the parks' south edge; a 50 m deep park's 500 m
    # buffer reaches y = 550 above its flat top edge, a 300 m buffer only y = 350
    res = _layer(_box(0, 450, 100, 650))
    big = _layer(_box(0, 0, 100, 50))  # 5000 m²
    small = _layer(_box(0, 0, 100, 49.99))  # 4999 m²
    c_big = parks.classify(big)
    c_small = parks.classify(small)
    assert c_big["area_m2"].iloc[0] == pytest.approx(5000.0, abs=1e-6)
    assert c_small["area_m2"].iloc[0] == pytest.approx(4999.0, abs=1e-6)
    assert (c_big["size_class"].iloc[0], c_big["radius_m"].iloc[0]) == ("5000m2", 500.0)
    assert (c_small["size_class"].iloc[0], c_small["radius_m"].iloc[0]) == ("2000m2", 300.0)
    cov_big = parks.service_radius_coverage(big, res)
    cov_small = parks.service_radius_coverage(small, res)
    assert cov_big.total_m2 == pytest.approx(100 * 200)
    assert cov_big.covered_m2 == pytest.approx(100 * (550 - 450), rel=1e-9)
    assert cov_big.rate == pytest.approx(0.5, rel=1e-9)
    assert cov_small.covered_m2 == 0.0
    assert cov_big.rule == "mohurd-2021" and cov_big.verified
    assert cov_big.by_class.loc["5000m2", "parks"] == 1 and cov_small.by_class.loc["2000m2", "parks"] == 1


def test_parks_smaller_than_the_smallest_class_have_no_radius():
    res = _layer(_box(0, 60, 100, 160))
    tiny = _layer(_box(0, 0, 100, 19.99))  # 1999 m²
    cov = parks.service_radius_coverage(tiny, res)
    assert cov.covered_m2 == 0.0 and cov.n_parks == 0
    assert cov.by_class.loc["none", "parks"] == 1
    assert cov.by_class.loc["none", "park_area_m2"] == pytest.approx(1999.0, abs=1e-6)
    assert any("no park of 2000 m² or more" in n for n in cov.notes)


def test_the_buffer_area_matches_the_minkowski_formula():
    # a square park of side a buffered by r covers a² + 4·a·r + π·r² (its Minkowski sum with a disc)
    a, r = 100.0, 500.0
    park = _layer(_box(0, 0, a, a))
    res = _layer(_box(-1000, -1000, 1100, 1100))
    cov = parks.service_radius_coverage(park, res)
    assert cov.covered_m2 == pytest.approx(a * a + 4 * a * r + math.pi * r * r, rel=5e-5)


def test_overlapping_buffers_are_counted_once():
    # two 5000 m² parks 10 m apart, one above the other: their buffers reach y = 550 and y = 610
    p = _layer(_box(0, 0, 100, 50), _box(0, 60, 100, 110))
    res = _layer(_box(0, 500, 100, 700))
    cov = parks.service_radius_coverage(p, res)
    assert cov.n_parks == 2
    assert cov.covered_m2 == pytest.approx(100 * (610 - 500), rel=1e-9)  # not 100·50 + 100·110
    assert cov.by_class.loc["5000m2", "covered_m2"] == pytest.approx(100 * 110, rel=1e-9)
    # overlapping residential polygons count once too
    cov2 = parks.service_radius_coverage(p, _layer(_box(0, 500, 100, 700), _box(0, 500, 100, 600)))
    assert cov2.total_m2 == pytest.approx(100 * 200) and cov2.covered_m2 == pytest.approx(cov.covered_m2)


def test_only_residential_land_inside_the_builtup_area_counts():
    p = _layer(_box(0, 0, 100, 50))
    res = _layer(_box(0, 450, 100, 650))
    built = _layer(_box(-50, 500, 150, 1000))
    cov = parks.service_radius_coverage(p, res, builtup=built)
    assert cov.total_m2 == pytest.approx(100 * 150)
    assert cov.covered_m2 == pytest.approx(100 * 50)
    assert cov.rate == pytest.approx(1 / 3)
    layers = parks.coverage_layers(p, res, builtup=built)
    assert layers["covered"]["area_m2"].iloc[0] + layers["uncovered"]["area_m2"].iloc[0] == pytest.approx(cov.total_m2)
    assert layers["buffers"].set_index("size_class").loc["5000m2", "geometry"].area == pytest.approx(
        parks.service_radius_coverage(p, _layer(_box(-2000, -2000, 2000, 2000))).covered_m2
    )


def test_touching_pieces_are_merged_before_their_size_is_measured():
    # two 3000 m² halves of one park, 0.5 m apart (a path), within the 1 m merge tolerance
    lu = gpd.GeoDataFrame(
        {"用地代码": ["G1", "G1", "R2", "G1"], "name": ["东湖公园", None, None, "西园"]},
        geometry=[_box(0, 0, 100, 30), _box(0, 30.5, 100, 60.5), _box(0, 100, 100, 200), _box(500, 0, 600, 30)],
        crs=CRS,
    )
    out = parks.from_landuse(lu)
    assert len(out) == 2
    merged = out[out["n_pieces"] == 2].iloc[0]
    assert merged["area_m2"] == pytest.approx(6000.0)  # the gap is not park
    assert merged["name"] == "东湖公园"
    c = parks.classify(out)
    assert list(c["radius_m"]) == [500.0, 300.0]  # 6000 m² and 3000 m²
    # 2 m apart: two parks of 3000 m²
    lu2 = lu.set_geometry([_box(0, 0, 100, 30), _box(0, 32, 100, 62), _box(0, 100, 100, 200), _box(500, 0, 600, 30)])
    out2 = parks.from_landuse(lu2)
    assert sorted(out2["area_m2"]) == pytest.approx([3000.0, 3000.0, 3000.0])


def test_from_landuse_reads_class_codes_and_refuses_a_layer_without_them():
    lu = gpd.GeoDataFrame(
        {"地类编码": [1401, "1402", " 1401 "]}, geometry=[_box(0, 0, 10, 10), _box(20, 0, 30, 10), _box(40, 0, 50, 10)], crs=CRS
    )
    assert len(parks.from_landuse(lu)) == 2
    with pytest.raises(mg.InputError, match="class_col"):
        parks.from_landuse(lu.rename(columns={"地类编码": "code"}))


def test_rule_variants_are_selectable_and_the_unverified_ones_flagged():
    table = parks.rules()
    assert table.loc["mohurd-2021", "default"] and table.loc["mohurd-2021", "verified"]
    assert not table.loc["variant-1ha", "verified"]
    p = _layer(_box(0, 0, 100, 49.99))  # 4999 m²: 300 m in every shipped rule
    res = _layer(_box(0, 0, 100, 400))
    with pytest.warns(mg.AssumptionWarning, match="variant-1ha"):
        cov = parks.service_radius_coverage(p, res, rule="variant-1ha")
    assert not cov.verified and cov.rule == "variant-1ha"
    assert any("not verified" in n for n in cov.notes)
    assert cov.covered_m2 == pytest.approx(100 * (49.99 + 300))
    # a 1500 m² park: no radius under mohurd-2021, 300 m under the historic-district rule
    q = _layer(_box(0, 0, 100, 15))
    assert parks.service_radius_coverage(q, res).covered_m2 == 0
    with pytest.warns(mg.AssumptionWarning):
        assert parks.service_radius_coverage(q, res, rule="historic-district").covered_m2 == pytest.approx(100 * 315)
    custom = ParkRule(
        name_zh="自定义", source="test rule", verified=False, classes=[ParkSizeClass(min_area_m2=1000, radius_m=50)]
    )
    with pytest.warns(mg.AssumptionWarning):
        assert parks.service_radius_coverage(q, res, rule=custom).covered_m2 == pytest.approx(100 * 65)
    with pytest.raises(mg.InputError, match="unknown park rule"):
        parks.service_radius_coverage(p, res, rule="nope")


def test_no_park_gives_zero_with_a_note_and_bad_residential_land_is_an_error():
    res = _layer(_box(0, 0, 100, 100))
    none = gpd.GeoDataFrame({"name": []}, geometry=[], crs=CRS)
    cov = parks.service_radius_coverage(none, res)
    assert cov.rate == 0.0 and cov.covered_m2 == 0.0 and cov.total_m2 == pytest.approx(10_000)
    assert cov.notes and "coverage is 0" in cov.notes[0]
    p = _layer(_box(0, 0, 100, 50))
    with pytest.raises(mg.InputError, match="empty"):
        parks.service_radius_coverage(p, gpd.GeoDataFrame(geometry=[], crs=CRS))
    with pytest.raises(mg.InputError, match="no area"):
        parks.service_radius_coverage(p, gpd.GeoDataFrame(geometry=[shapely.Point(X0, Y0)], crs=CRS))
    with pytest.raises(mg.InputError, match="built-up"):
        parks.service_radius_coverage(p, res, builtup=_layer(_box(5000, 5000, 5100, 5100)))
    with pytest.raises(mg.CRSError):
        parks.service_radius_coverage(p, gpd.GeoDataFrame(geometry=[_box(0, 0, 1, 1)]))
    with pytest.raises(mg.InputError):
        parks.service_radius_coverage(p, [_box(0, 0, 1, 1)])


def test_layers_in_lon_lat_are_measured_in_a_metric_crs():
    p = _layer(_box(0, 0, 100, 60)).to_crs(4326)
    res = _layer(_box(0, 450, 100, 650)).to_crs(4326)
    cov = parks.service_radius_coverage(p, res)
    # EPSG:4549 and the chosen zone are both CGCS2000 Gauss-Krüger: areas agree closely
    assert cov.total_m2 == pytest.approx(20_000, rel=1e-3)
    assert cov.rate == pytest.approx(110 / 200, rel=1e-3)


def test_park_area_per_resident():
    p = _layer(_box(0, 0, 100, 100), _box(50, 0, 150, 100))  # overlapping: 15 000 m² of park
    r = parks.area_per_capita(p, 1000)
    assert r.park_area_m2 == pytest.approx(15_000) and r.m2_per_person == pytest.approx(15.0)
    assert r.meets and r.min_m2_per_person == 8.0 and "55014" in r.source
    assert not parks.area_per_capita(p, 2000).meets  # 7.5 m² per person
    inside = parks.area_per_capita(p, 1000, scope=_layer(_box(0, 0, 100, 100)))
    assert inside.park_area_m2 == pytest.approx(10_000)
    assert parks.area_per_capita(gpd.GeoDataFrame(geometry=[], crs=CRS), 10).m2_per_person == 0.0
    for bad in (0, -5, float("nan"), True, "1000"):
        with pytest.raises(mg.InputError):
            parks.area_per_capita(p, bad)


# -- real data ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helsinki():
    return mg.sources.read_osm(shared_path(OSM_FILES["helsinki"]))


@pytest.fixture(scope="module")
def helsinki_walk(helsinki):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        return mg.network.from_osm(helsinki, mode="walk")


@pytest.fixture(scope="module")
def haidian():
    return mg.sources.read_osm(shared_path(OSM_FILES["haidian"]))


@pytest.fixture(scope="module")
def haidian_walk(haidian):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        return mg.network.from_osm(haidian, mode="walk")


def test_haidian_parks_match_the_published_total_and_geodesic_areas(haidian):
    # the data README: "12 parks (330 ha)" — the leisure=park polygons
    prof = mg.standards.load()
    only_parks = prof.model_copy(update={"parks": prof.parks.model_copy(update={"osm": [TagRule(tags={"leisure": "park"})]})})
    p = parks.from_osm(haidian, profile=only_parks)
    p = p[p["matched_by"] == "tag"]  # leave out named green spaces (大草坪)
    assert len(p) == 12
    assert p["area_m2"].sum() / 1e4 == pytest.approx(330, rel=0.01)
    assert p.crs.to_epsg() == 4548  # CGCS2000 Gauss-Krüger 117°E for Beijing
    # each area agrees with the area on the ellipsoid (Gauss-Krüger scale error near the
    # central meridian is below 1e-4)
    for geom, area in zip(p.geometry, p["area_m2"], strict=True):
        assert area == pytest.approx(_geodesic_area_m2(geom, p.crs), rel=3e-4)


def test_haidian_named_green_spaces_count_and_sports_grounds_do_not(haidian):
    p = parks.from_osm(haidian)
    names = set(p["name"].dropna())
    assert "大草坪" in names  # landuse=grass with a name
    assert p.loc[p["name"] == "大草坪", "matched_by"].iloc[0] == "name"
    assert not names & {"东大操场", "清华附中操场", "西湖游泳池"}  # named, but sports grounds
    assert {"圆明园", "世纪林"} <= names


def _sampled_coverage(classed: gpd.GeoDataFrame, land: shapely.Geometry, step_m: float) -> float:
    """Covered share of land by point sampling and straight distances to park polygons (no buffers)."""
    minx, miny, maxx, maxy = land.bounds
    xs = np.arange(minx + step_m / 2, maxx, step_m)
    ys = np.arange(miny + step_m / 2, maxy, step_m)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    inside = shapely.contains_xy(land, gx, gy)
    pts = shapely.points(gx[inside], gy[inside])
    covered = np.zeros(len(pts), dtype=bool)
    for radius, group in classed[classed["radius_m"].notna()].groupby("radius_m"):
        tree = shapely.STRtree(group.geometry.to_numpy())
        _, d = tree.query_nearest(pts, return_distance=True, all_matches=False)
        covered |= d <= radius
    return covered.mean()


def test_haidian_coverage_matches_point_sampling(haidian):
    p = parks.from_osm(haidian)
    res = _residential(haidian)
    cov = parks.service_radius_coverage(p, res)
    assert 0.3 < cov.rate < 0.95  # partial: a discriminating case
    land = shapely.union_all(res.to_crs(p.crs).geometry.to_numpy())
    assert cov.total_m2 == pytest.approx(land.area, rel=1e-9)
    sampled = _sampled_coverage(parks.classify(p), land, 4.0)
    assert cov.rate == pytest.approx(sampled, abs=0.01)


def test_helsinki_coverage_under_a_custom_rule_matches_point_sampling(helsinki):
    p = parks.from_osm(helsinki)
    res = _residential(helsinki)
    rule = ParkRule(
        name_zh="short radii",
        source="test",
        verified=False,
        classes=[ParkSizeClass(min_area_m2=5000, radius_m=150), ParkSizeClass(min_area_m2=2000, max_area_m2=5000, radius_m=100)],
    )
    with pytest.warns(mg.AssumptionWarning):
        cov = parks.service_radius_coverage(p, res, rule=rule)
    assert 0.05 < cov.rate < 0.95
    land = shapely.union_all(res.to_crs(p.crs).geometry.to_numpy())
    sampled = _sampled_coverage(parks.classify(p, rule=rule), land, 2.0)
    assert cov.rate == pytest.approx(sampled, abs=0.01)


def test_entrances_lie_on_the_park_edge_or_where_paths_cross_it(helsinki, helsinki_walk):
    p = parks.from_osm(helsinki)
    ent = parks.entrances(p, helsinki_walk, points=helsinki)
    assert set(ent["via"]) >= {"entrance", "crossing"}
    classed = parks.classify(p).to_crs(helsinki_walk.crs)
    edge = classed.geometry.boundary
    d_edge = np.array([edge.loc[k].distance(g) for k, g in zip(ent["park"], ent.geometry, strict=True)])
    mapped = (ent["via"] == "entrance").to_numpy()
    assert (d_edge[mapped] <= 20.0 + 1e-6).all()
    crossing = (ent["via"] == "crossing").to_numpy()
    assert (d_edge[crossing] < 1e-6).all()
    tree = shapely.STRtree(helsinki_walk.edges.geometry.to_numpy())
    _, d_net = tree.query_nearest(ent.geometry.to_numpy()[crossing], return_distance=True, all_matches=False)
    assert (d_net < 1e-6).all()
    assert ent["radius_m"].notna().all()  # only parks with a radius have entrances


def _walk_m_by_networkx(net: mg.Network, origin: shapely.Point, targets: np.ndarray) -> float:
    """Walk distance (m) from a point to the nearest target: snapped legs + networkx Dijkstra on edge lengths."""
    G = nx.Graph()
    e = net.edges
    for u, v, length in zip(e["u"], e["v"], e["length_m"], strict=True):
        if not G.has_edge(u, v) or G[u][v]["w"] > length:
            G.add_edge(int(u), int(v), w=float(length))
    pts = gpd.GeoSeries([origin, *targets], crs=net.crs)
    sn = mg.access.snap(net, pts, max_snap_dist_m=1e9)
    o = sn.iloc[0]
    G.add_edge("o", int(e["u"].iloc[int(o.edge)]), w=o.snap_dist_m + o.frac * e["length_m"].iloc[int(o.edge)])
    G.add_edge("o", int(e["v"].iloc[int(o.edge)]), w=o.snap_dist_m + (1 - o.frac) * e["length_m"].iloc[int(o.edge)])
    best = math.inf
    for k in range(1, len(sn)):
        t = sn.iloc[k]
        L = e["length_m"].iloc[int(t.edge)]
        if int(t.edge) == int(o.edge):
            best = min(best, o.snap_dist_m + abs(o.frac - t.frac) * L + t.snap_dist_m)
        G.add_edge(("t", k), int(e["u"].iloc[int(t.edge)]), w=t.snap_dist_m + t.frac * L)
        G.add_edge(("t", k), int(e["v"].iloc[int(t.edge)]), w=t.snap_dist_m + (1 - t.frac) * L)
        G.add_edge(("t", k), "sink", w=0.0)
    if nx.has_path(G, "o", "sink"):
        best = min(best, nx.dijkstra_path_length(G, "o", "sink", weight="w"))
    return best


@pytest.mark.parametrize("town", ["helsinki", "haidian"])
def test_the_network_variant_never_covers_more_than_the_buffers(town, request):
    extract = request.getfixturevalue(town)
    net = request.getfixturevalue(f"{town}_walk")
    p = parks.from_osm(extract)
    res = _residential(extract)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        cov = parks.service_radius_coverage(p, res, network=net, entrance_points=extract)
        layers = parks.coverage_layers(p, res, network=net, entrance_points=extract)
    assert cov.network_mode == "walk"
    assert 0 < cov.network_covered_m2 <= cov.covered_m2 + 1e-6
    by = cov.by_class.drop(index="none")
    assert (by["network_covered_m2"] <= by["covered_m2"] + 1e-6).all()
    assert layers["network_covered"]["area_m2"].iloc[0] == pytest.approx(cov.network_covered_m2)
    # per unit: the walk is never shorter than the straight line to the nearest entrance
    units, ent = layers["units"], layers["entrances"]
    origins = shapely.points(units["origin_x"], units["origin_y"])
    for key in ("5000m2", "2000m2"):
        walk = units[f"walk_m_{key}"].to_numpy()
        pts = ent.loc[ent["size_class"] == key].geometry.to_crs(units.crs).to_numpy()
        if len(pts) == 0:
            assert np.isinf(walk).all()
            continue
        _, straight = shapely.STRtree(pts).query_nearest(origins, return_distance=True, all_matches=False)
        fin = np.isfinite(walk)
        assert fin.any()
        # haversine edge lengths vs projected straight lines: allow the projection's scale error
        assert (walk[fin] >= straight[fin] * (1 - 1e-3) - 1e-6).all()
        # a unit reached on foot lies within the class's radius
        radius = 500.0 if key == "5000m2" else 300.0
        assert (units.loc[units[f"covered_{key}"], f"walk_m_{key}"] <= radius + 1e-6).all()
    # one reached unit, recomputed with networkx on edge lengths
    key = "5000m2"
    k = int(np.flatnonzero(np.isfinite(units[f"walk_m_{key}"].to_numpy()))[0])
    pts = ent.loc[ent["size_class"] == key].geometry.to_crs(net.crs).to_numpy()
    origin = gpd.GeoSeries([origins[k]], crs=units.crs).to_crs(net.crs).iloc[0]
    assert units[f"walk_m_{key}"].iloc[k] == pytest.approx(_walk_m_by_networkx(net, origin, pts), rel=1e-6)


def test_walk_distances_do_not_depend_on_the_walking_speed(helsinki, helsinki_walk):
    p = parks.from_osm(helsinki)
    res = _residential(helsinki)
    slow = helsinki_walk.with_speed(3.0)  # elderly pace: times change, metres do not
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        a = parks.service_radius_coverage(p, res, network=helsinki_walk)
        b = parks.service_radius_coverage(p, res, network=slow)
    assert a.network_covered_m2 == pytest.approx(b.network_covered_m2, rel=1e-9)
    assert a.network_covered_m2 > 0


# -- Guixi: no park inside 东门街道, one outside ----------------------------------------------


@pytest.fixture(scope="module")
def guixi():
    return mg.sources.read_osm(shared_path(OSM_FILES["guixi_pbf"]))


def test_guixi_has_no_park_within_reach_of_dongmen_and_reports_zero(guixi, guixi_boundary):
    p = parks.from_osm(guixi, boundary=guixi_boundary)  # parks within 500 m, the largest radius
    assert len(p) == 0
    # 东门街道 has no residential land in OSM: the whole 街道 stands for it here
    cov = parks.service_radius_coverage(p, guixi_boundary)
    assert cov.rate == 0.0 and cov.total_m2 == pytest.approx(
        _geodesic_area_m2(guixi_boundary.to_crs(4548).geometry.iloc[0], 4548), rel=1e-3
    )
    assert any("coverage is 0" in n for n in cov.notes)


def test_guixi_park_outside_the_jiedao_still_serves_land_within_its_radius(guixi, guixi_boundary, guixi_walk):
    p = parks.from_osm(guixi, boundary=guixi_boundary, buffer_m=2000)
    assert len(p) == 1 and p["name"].iloc[0] == "早闲公园"
    dongmen = guixi_boundary.to_crs(p.crs).geometry.iloc[0]
    park = p.geometry.iloc[0]
    assert not park.intersects(dongmen)  # outside the 街道
    assert park.distance(dongmen) > 500  # beyond its own radius from the 街道
    assert p["area_m2"].iloc[0] == pytest.approx(_geodesic_area_m2(park, p.crs), rel=3e-4)
    # built-up land reaching 1.2 km beyond the 街道, towards the park
    land = gpd.GeoDataFrame(geometry=[dongmen.buffer(1200)], crs=p.crs)
    cov = parks.service_radius_coverage(p, land)
    want = shapely.intersection(land.geometry.iloc[0], park.buffer(500, quad_segs=1024)).area  # near-true arcs
    assert want > 0
    assert cov.covered_m2 == pytest.approx(want, rel=1e-4)
    assert cov.by_class.loc["5000m2", "parks"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        net_cov = parks.service_radius_coverage(p, land, network=guixi_walk)
    assert net_cov.network_covered_m2 <= net_cov.covered_m2 + 1e-6
    # the 街道 alone is beyond the park's reach
    assert parks.service_radius_coverage(p, guixi_boundary).covered_m2 == 0.0


def test_layers_for_maps(helsinki, helsinki_walk):
    p = parks.from_osm(helsinki)
    res = _residential(helsinki)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        layers = parks.coverage_layers(p, res, network=helsinki_walk, entrance_points=helsinki)
    assert set(layers) == {"parks", "buffers", "covered", "uncovered", "entrances", "units", "network_covered"}
    assert layers["parks"].index.equals(p.index)
    assert {"size_class", "size_label", "radius_m"} <= set(layers["parks"].columns)
    assert all(isinstance(v, gpd.GeoDataFrame) and v.crs is not None for v in layers.values())
    units = layers["units"]
    assert units["area_m2"].sum() == pytest.approx(layers["covered"]["area_m2"].iloc[0] + layers["uncovered"]["area_m2"].iloc[0])
    assert isinstance(parks.service_radius_coverage(p, res).to_frame(), pd.DataFrame)


def test_the_network_variant_refuses_a_network_that_does_not_walk(guixi_walk):
    drive = mg.Network(guixi_walk.nodes, guixi_walk.edges, mode="drive", speed_kmh=30.0)
    p = _layer(_box(0, 0, 100, 60))
    with pytest.raises(mg.InputError, match="mode='walk'"):
        parks.service_radius_coverage(p, _layer(_box(0, 100, 100, 200)), network=drive)


def test_the_documented_park_tags_are_the_profiles():
    """``parks.from_osm`` names the park tags of ``zhejiang-2023``: every ``key=a|b`` it lists is one of the
    profile's ``parks.osm`` rules, and every rule is listed (it once named ``nature_reserve``, which the
    profile does not have)."""
    import re

    doc = parks.from_osm.__doc__ or ""
    listed = re.findall(r"``(\w+)=([\w|]+)``", doc.split("in\n    ``zhejiang-2023``")[0])
    rules = {(k, tuple(v if isinstance(v, list) else [v])) for r in mg.standards.load().parks.osm for k, v in r.tags.items()}
    assert {(k, tuple(v.split("|"))) for k, v in listed} == rules


def test_osm_parks_same_with_and_without_info_log(andorra_parishes, caplog):
    """Only polygons are tried as parks unless the count of parks mapped as points is logged."""
    for _, town_m, ext in andorra_parishes:
        with caplog.at_level(logging.WARNING, logger="mtown_geo.parkland"):
            quiet = parkland.from_osm(ext, boundary=town_m, crs=town_m.crs)
        with caplog.at_level(logging.INFO, logger="mtown_geo.parkland"):
            told = parkland.from_osm(ext, boundary=town_m, crs=town_m.crs)
        assert len(quiet) > 0
        assert_same_frames(quiet, told)


def test_the_distance_network_shares_the_walk_networks_indexes_and_walks_the_same(helsinki, helsinki_walk):
    net = helsinki_walk.with_speed(helsinki_walk.speed_kmh)  # a copy without built indexes
    units = mg.demand.grid(gpd.GeoSeries([shapely.box(*net.nodes.total_bounds).buffer(-200)], crs=net.crs), cell_m=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        warnings.simplefilter("ignore", mg.GridResolutionWarning)
        mg.access.snap(net, units)  # the walk network's indexes, built as a life circle builds them
        shared = parks._distance_network(net)
        for name in ("straight_edges", "edge_piece_tree", "edge_start_tree"):
            assert getattr(shared, name) is getattr(net, name)
        assert shared.component is net.component
        assert "edge_tree" not in vars(shared)
        # the same network with its indexes built afresh
        v = net.access_speed_kmh * 1000.0 / 60.0
        t = net.edge_table["length_m"].to_numpy() / v
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_graph, "_SHARE_LINKS", False)
            fresh = net.with_edge_times(t, np.where(np.isfinite(net.edge_table["time_rev_min"].to_numpy()), t, np.inf))
        assert fresh.component is not net.component
        np.testing.assert_array_equal(shared.component, fresh.component)
        np.testing.assert_array_equal(shared.straight_edges[0], fresh.straight_edges[0])
        np.testing.assert_array_equal(shared.straight_edges[1], fresh.straight_edges[1])
        ent = parks.entrances(parks.from_osm(helsinki), net, points=helsinki)
        fac = gpd.GeoDataFrame({"category": ent["size_class"].to_numpy()}, geometry=ent.geometry.to_numpy(), crs=ent.crs)
        a = mg.access.reach(shared, fac, max_time_min=10.0).at(units)
        b = mg.access.reach(fresh, fac, max_time_min=10.0).at(units)
    assert np.isfinite(a.to_numpy()).any()
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_the_units_layer_is_the_grid_with_its_cells_origins_and_walks(helsinki, helsinki_walk):
    p = parks.from_osm(helsinki)
    res = _residential(helsinki)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        warnings.simplefilter("ignore", mg.GridResolutionWarning)
        ov = parks._overlay(
            p, res, profile=None, rule=None, builtup=None, network=helsinki_walk, entrance_points=helsinki, cell_m=20.0
        )
        grid = mg.demand.grid(gpd.GeoSeries([ov.land], crs=ov.crs), cell_m=20.0)
    # the layer as geopandas builds it column by column
    want = gpd.GeoDataFrame(grid.drop(columns="geometry"), geometry=mg.demand.cells(grid).geometry.to_numpy(), crs=grid.crs)
    want["origin_x"] = grid.geometry.x.to_numpy()
    want["origin_y"] = grid.geometry.y.to_numpy()
    for key, radius in (("5000m2", 500.0), ("2000m2", 300.0)):
        walk = ov.net_units[f"walk_m_{key}"].to_numpy()
        want[f"walk_m_{key}"] = walk
        want[f"covered_{key}"] = walk <= radius * (1 + 1e-9)
    want["covered"] = want["covered_5000m2"] | want["covered_2000m2"]
    assert want["covered"].any()
    assert_same_frames(ov.net_units, want)
    assert ov.net_units.crs == want.crs and ov.net_units.index.equals(want.index)
    # one entrance per park and place, in the order they were found
    ent = ov.entrances
    key = pd.DataFrame({"p": ent["park"].astype(str), "x": np.round(ent.geometry.x, 2), "y": np.round(ent.geometry.y, 2)})
    assert not key.duplicated().any()
    assert ent.index.equals(pd.RangeIndex(len(ent)))
