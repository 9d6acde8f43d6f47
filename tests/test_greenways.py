"""Greenways: OSM identification, de-duplication of parallel lanes, km per 10,000 residents, coverage."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import greenways as gw

from .conftest import OSM_FILES, shared_path

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_300_000.0


def _line(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in pts])


def _lines(*geoms: shapely.Geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [f"l{i}" for i in range(len(geoms))]}, geometry=list(geoms), crs=CRS)


def _box(x0: float, y0: float, x1: float, y1: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)], crs=CRS)


def _km(lines: gpd.GeoDataFrame, **kw) -> float:
    return gw.length_per_10k(lines, 10_000, **kw).km


# -- de-duplication on constructed lines (hand calculations) ---------------------------------


def test_walk_and_cycle_lanes_of_one_greenway_count_once():
    lanes = _lines(_line((0, 0), (1000, 0)), _line((0, 5), (1000, 5)))
    r = gw.length_per_10k(lanes, 10_000)
    assert r.raw_km == pytest.approx(2.0)
    assert r.km == pytest.approx(1.0, abs=1e-9)
    assert r.km_per_10k == pytest.approx(1.0) and r.meets_target


def test_paths_on_opposite_banks_count_separately():
    banks = _lines(_line((0, 0), (1000, 0)), _line((0, 60), (1000, 60)))  # a 60 m wide river between
    assert _km(banks) == pytest.approx(2.0)
    # the tolerance decides: 80 m would merge them
    assert _km(banks, tolerance_m=80) == pytest.approx(1.0, abs=0.006)


def test_crossings_junctions_and_joints_keep_their_full_length():
    cross = _lines(_line((0, 0), (1000, 0)), _line((500, -500), (500, 500)))
    assert _km(cross) == pytest.approx(2.0)
    tee = _lines(_line((0, 0), (1000, 0)), _line((500, 0), (500, 500)))
    assert _km(tee) == pytest.approx(1.5)
    pieces = _lines(_line((0, 0), (300, 0)), _line((300, 0), (700, 0)), _line((700, 0), (1000, 0)))
    assert _km(pieces) == pytest.approx(1.0)  # one greenway mapped as three consecutive ways


def test_the_longer_lane_and_bends_are_kept():
    longer = _lines(_line((0, 0), (1000, 0)), _line((-100, 5), (1100, 5)))
    c = gw.centrelines(longer)
    assert c["length_m"].sum() == pytest.approx(1200.0)
    assert c.index.equals(longer.index) and list(c["raw_length_m"]) == pytest.approx([1000.0, 1200.0])
    bend = _lines(_line((0, 0), (500, 0), (500, 500)), _line((0, 8), (492, 8), (492, 500)))
    assert gw.centrelines(bend)["length_m"].sum() == pytest.approx(1000.0, abs=5.0)
    # a lane given twice in one planner's row (MultiLineString) counts once too
    multi = gpd.GeoDataFrame(geometry=[shapely.MultiLineString([_line((0, 0), (1000, 0)), _line((0, 6), (1000, 6))])], crs=CRS)
    assert _km(multi) == pytest.approx(1.0)


def test_scope_clips_the_length():
    line = _lines(_line((0, 0), (1000, 0)))
    r = gw.length_per_10k(line, 5000, scope=_box(-10, -10, 500, 10))
    assert r.km == pytest.approx(0.5) and r.km_per_10k == pytest.approx(1.0)
    assert r.scope_area_m2 == pytest.approx(510 * 20)
    assert not r.verified and r.notes  # zhejiang-2023 counts greenways by an unverified rule


def test_no_greenway_is_zero_with_a_note_and_the_population_must_be_positive():
    empty = gpd.GeoDataFrame(geometry=[], crs=CRS)
    r = gw.length_per_10k(empty, 30_000)
    assert r.km == 0.0 and r.km_per_10k == 0.0 and not r.meets_target
    assert any("no greenway" in n for n in r.notes)
    outside = gw.length_per_10k(_lines(_line((0, 0), (100, 0))), 30_000, scope=_box(500, 500, 600, 600))
    assert outside.km == 0.0 and any("inside the scope" in n for n in outside.notes)
    line = _lines(_line((0, 0), (1000, 0)))
    for bad in (0, -1, float("nan"), True, "10000", None):
        with pytest.raises(mg.InputError):
            gw.length_per_10k(line, bad)
    with pytest.raises(mg.InputError, match="polygons"):
        gw.length_per_10k(_box(0, 0, 10, 10), 1000)
    with pytest.raises(mg.CRSError):
        gw.length_per_10k(gpd.GeoDataFrame(geometry=[_line((0, 0), (1, 0))]), 1000)


# -- population sources -----------------------------------------------------------------------


def test_population_from_the_census_table():
    table = pd.read_csv(shared_path("zhejiang_census_tudigong/zhejiang_county_census2020.csv"))
    line = _lines(_line((0, 0), (2000, 0)))
    r = gw.length_per_10k(line, table, key_col="CODE", row=330102)
    want = float(table.loc[table["CODE"] == 330102, "POPU"].iloc[0])  # 上城区
    assert r.pop == want
    assert r.km_per_10k == pytest.approx(2.0 / (want / 10_000))
    assert "POPU" in r.population_from
    by_name = gw.length_per_10k(line, table.set_index("NAME"), row="上城区")
    assert by_name.pop == want
    with pytest.raises(mg.InputError, match="row"):
        gw.length_per_10k(line, table)
    with pytest.raises(mg.InputError, match="0 rows"):
        gw.length_per_10k(line, table, key_col="CODE", row=999999)


def test_population_from_demand_units_is_their_sum():
    grid = gpd.read_file(shared_path("helsinki_pyrosm/population_grid_2020_hsy.gpkg"))
    pop, how = gw.population_of(grid, pop_col="population")
    assert pop == 71_724  # the data README's total
    assert "92 demand units" in how
    # inside a scope: the cells whose point lies in it
    metric = mg.crs.metric_crs(grid)
    g = grid.to_crs(metric)
    scope = gpd.GeoDataFrame(geometry=[g.geometry.iloc[:10].union_all().buffer(-1)], crs=metric)
    pop10, _ = gw.population_of(grid, pop_col="population", scope=scope)
    assert pop10 == grid["population"].iloc[:10].sum()
    with pytest.raises(mg.InputError, match="'pop'"):
        gw.population_of(grid)


# -- service coverage -------------------------------------------------------------------------


def test_service_coverage_is_an_exact_overlay():
    line = _lines(_line((0, 0), (1000, 0)))
    res = _box(0, 500, 1000, 1500)  # the buffer's flat edge at y = 1000 halves it
    cov = gw.service_coverage(line, res)
    assert cov.radius_m == 1000.0
    assert cov.total_m2 == pytest.approx(1e6) and cov.covered_m2 == pytest.approx(5e5)
    assert cov.rate == pytest.approx(0.5)
    inside = gw.service_coverage(line, res, builtup=_box(0, 900, 1000, 1100))
    assert inside.total_m2 == pytest.approx(2e5) and inside.covered_m2 == pytest.approx(1e5)
    assert gw.service_coverage(line, res, radius_m=300).covered_m2 == 0.0
    none = gw.service_coverage(gpd.GeoDataFrame(geometry=[], crs=CRS), res)
    assert none.rate == 0.0 and none.notes
    with pytest.raises(mg.InputError, match="empty"):
        gw.service_coverage(line, gpd.GeoDataFrame(geometry=[], crs=CRS))
    with pytest.raises(mg.InputError, match="built-up"):
        gw.service_coverage(line, res, builtup=_box(5000, 5000, 5001, 5001))


# -- real data --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def longgang():
    return mg.sources.read_osm(shared_path(OSM_FILES["longgang"]))


def test_longgang_greenway_routes_are_found(longgang):
    g = gw.from_osm(longgang)
    # independent: the route relations' own member lists, for routes named 绿道 (广东绿道) or 綠道 (大運公園綠道)
    routes = longgang.routes[longgang.routes["name"].str.contains("绿道|綠道", na=False)]
    assert len(routes) == 2
    members = {w for ways in routes["ways"] for w in ways}
    present = set(longgang.ways["osm_id"]) & members
    assert len(present) == 20
    by_route = set(g.loc[g["matched_by"].str.contains("route"), "osm_id"])
    assert by_route == present
    assert set(g.loc[g["osm_id"].isin(present), "route"].str.split(";").explode()) == {"广东绿道", "大運公園綠道"}
    assert (g["length_m"] > 0).all() and g.crs.to_epsg() == 4547


def test_longgang_waterside_paths_lie_within_30_m_of_water(longgang):
    g = gw.from_osm(longgang)
    side = g[g["matched_by"] == "waterside"]
    assert len(side) > 0
    assert set(side["highway"]) <= {"cycleway", "footway", "path", "pedestrian"}
    f = longgang.features
    is_water = f["tags"].map(
        lambda t: t.get("natural") == "water" or "water" in t or t.get("waterway") in ("river", "canal", "stream")
    )
    water = f.loc[is_water.to_numpy()].to_crs(g.crs).geometry.union_all()
    # every kept vertex of a waterside piece lies within 30 m of water (plus half a 5 m piece)
    pts = shapely.points(shapely.get_coordinates(side.geometry.to_numpy()))
    assert (shapely.distance(pts, water) <= 30 + 2.5 + 1e-6).all()
    assert side["length_m"].sum() >= 100  # runs shorter than 100 m are not counted


def test_longgang_parallel_footway_and_cycleway_count_once(longgang):
    ids = {"cycle": 255515881, "foot": 255515882, "path": 249334897, "cycle2": 249508413}
    ways = longgang.ways.set_index("osm_id")
    metric = mg.crs.metric_crs(longgang.bounds)
    geoms = longgang.way_lines().set_axis(longgang.ways["osm_id"]).to_crs(metric)
    for long_id, short_id in ((ids["cycle"], ids["foot"]), (ids["path"], ids["cycle2"])):
        pair = gpd.GeoDataFrame(
            {"highway": [ways.loc[long_id, "highway"], ways.loc[short_id, "highway"]]},
            geometry=[geoms.loc[long_id], geoms.loc[short_id]],
            crs=metric,
        )
        a, b = pair.geometry
        assert b.hausdorff_distance(a) < 15 or b.difference(a.buffer(15)).length < 0.2 * b.length  # a parallel lane
        got = gw.centrelines(pair)["length_m"].sum()
        # independent route: the longer line plus what of the shorter lies beyond 15 m of it
        want = a.length + b.difference(a.buffer(15, quad_segs=64)).length
        assert got == pytest.approx(want, abs=10.0)  # within two 5 m pieces
        assert got < a.length + b.length - 0.8 * b.length


def test_longgang_cycleways_deduplicated_lose_nothing_beyond_the_tolerance(longgang):
    metric = mg.crs.metric_crs(longgang.bounds)
    sel = longgang.ways["highway"].isin(["cycleway", "footway", "path", "pedestrian"]).to_numpy()
    lines = gpd.GeoDataFrame(
        {"osm_id": longgang.ways["osm_id"].to_numpy()[sel]},
        geometry=longgang.way_lines().to_crs(metric).to_numpy()[sel],
        crs=metric,
    )
    c = gw.centrelines(lines)
    raw, kept = c["raw_length_m"].sum(), c["length_m"].sum()
    assert kept < raw  # there are parallel lanes
    assert (c["length_m"] <= c["raw_length_m"] + 1e-6).all()
    # every point of every input line lies within the tolerance of what is kept
    kept_geom = shapely.union_all(c.geometry.to_numpy())
    sample = shapely.line_interpolate_point(
        np.repeat(lines.geometry.to_numpy(), 21), np.tile(np.linspace(0, 1, 21), len(lines)), normalized=True
    )
    assert (shapely.distance(sample, kept_geom) <= 15 + 5 + 1e-6).all()


def test_guixi_has_no_greenway_and_reports_zero(guixi_boundary):
    g = gw.from_osm(shared_path(OSM_FILES["guixi_pbf"]), boundary=guixi_boundary)
    assert len(g) == 0 and list(g.columns) == [*gw.COLUMNS, "geometry"]
    r = gw.length_per_10k(g, 60_000, scope=guixi_boundary)
    assert r.km == 0.0 and any("no greenway" in n for n in r.notes)


def test_haidian_greenway_coverage_matches_point_sampling():
    ext = mg.sources.read_osm(shared_path(OSM_FILES["haidian"]))
    g = gw.from_osm(ext)
    f = ext.features
    res = f.loc[
        f["tags"].map(lambda t: t.get("landuse") == "residential").to_numpy()
        & f.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    ]
    cov = gw.service_coverage(g, res, radius_m=300)
    assert 0.05 < cov.rate < 0.95
    land = shapely.union_all(res.to_crs(g.crs).geometry.to_numpy())
    minx, miny, maxx, maxy = land.bounds
    gx, gy = (a.ravel() for a in np.meshgrid(np.arange(minx + 2, maxx, 4.0), np.arange(miny + 2, maxy, 4.0)))
    inside = shapely.contains_xy(land, gx, gy)
    pts = shapely.points(gx[inside], gy[inside])
    _, d = shapely.STRtree(g.geometry.to_numpy()).query_nearest(pts, return_distance=True, all_matches=False)
    assert cov.rate == pytest.approx((d <= 300).mean(), abs=0.01)
