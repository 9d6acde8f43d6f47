"""Greenways: OSM identification, de-duplication of parallel lanes, km per 10,000 residents, coverage."""

from __future__ import annotations

import contextlib

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import yaml
from pyproj import Geod, Transformer

import mtown_geo as mg
from mtown_geo import _geom, greenlines
from mtown_geo import greenways as gw

from .conftest import OSM_FILES, assert_same_frames, shared_path
from .test_greenlines import joined_to_area

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
    with pytest.raises(mg.InputError, match="polygon, not a line"):
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


# -- every extract, by an independent route --------------------------------------------------
#
# The ways are read with a pyosmium handler written here (split where nodes are missing),
# the profile's greenway rule from its YAML with plain yaml; whole ways are measured on the
# ellipsoid (pyproj.Geod), waterside parts by clipping each candidate with a 30 m band around
# the union of the water, in an azimuthal equidistant projection centred on the data.


class _Greenway(osmium.SimpleHandler):
    def __init__(self) -> None:
        super().__init__()
        self.ways: list[tuple[int, dict[str, str], list[tuple[float, float]]]] = []
        self.water: list[shapely.Geometry] = []
        self.routes: list[tuple[dict[str, str], list[int]]] = []
        self._wkb = osmium.geom.WKBFactory()

    def way(self, w) -> None:
        tags = {t.k: t.v for t in w.tags}
        if "highway" in tags:
            run: list[tuple[float, float]] = []
            for nd in [*w.nodes, None]:
                if nd is not None and nd.location.valid():
                    run.append((nd.location.lon, nd.location.lat))
                    continue
                if len(run) >= 2:
                    self.ways.append((w.id, tags, run))
                run = []
        elif tags.get("waterway") in ("river", "canal", "stream") and not w.is_closed():
            pts = [(nd.location.lon, nd.location.lat) for nd in w.nodes if nd.location.valid()]
            if len(pts) == len(w.nodes) >= 2:
                self.water.append(shapely.LineString(pts))

    def area(self, a) -> None:
        tags = a.tags
        if tags.get("natural") == "water" or "water" in tags or tags.get("waterway") == "riverbank":
            with contextlib.suppress(RuntimeError):
                self.water.append(shapely.from_wkb(self._wkb.create_multipolygon(a)))

    def relation(self, r) -> None:
        if r.tags.get("type") == "route":
            self.routes.append(({t.k: t.v for t in r.tags}, [m.ref for m in r.members if m.type == "w"]))


def _greenway_rule() -> dict:
    from importlib import resources

    text = resources.files(mg.standards).joinpath("zhejiang-2023.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["greenways"]


def _fold(text: str) -> str:
    return text.casefold().replace("綠", "绿")


def _is_named(text: str | None, patterns: list[str]) -> bool:
    return isinstance(text, str) and any(_fold(p) in _fold(text) for p in patterns)


def _independent_greenways(path) -> tuple[float, float, dict[int, float]]:
    """Metres of greenway by name or route (whole ways), of waterside runs, and the waterside metres per way."""
    rule = _greenway_rule()
    h = _Greenway()
    h.apply_file(str(path), locations=True)
    pats = rule["name_patterns"]
    members: set[int] = set()
    for tags, ways in h.routes:
        fits = any(
            all(k in tags and (v == "*" or tags[k] in (v if isinstance(v, list) else [v])) for k, v in r["tags"].items())
            for r in rule["osm"]
        )
        if fits and any(_is_named(tags.get(k), pats) for k in ("name", "name:zh", "name:en")):
            members |= set(ways)
    if not h.ways:
        return 0.0, 0.0, {}
    lon0, lat0 = np.mean([p for _, _, r in h.ways for p in r], axis=0)
    to_m = Transformer.from_crs(4326, f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m", always_xy=True)

    def metric(g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda c: np.column_stack(to_m.transform(c[:, 0], c[:, 1])))

    geod = Geod(ellps="WGS84")
    whole, cand, owner = 0.0, [], []
    for wid, tags, run in h.ways:
        if tags.get("area") == "yes":  # a square's outline is no route
            continue
        line = shapely.LineString(run)
        if _is_named(tags.get("name"), pats) or wid in members:
            whole += geod.geometry_length(line)
        elif (
            tags.get("highway") in rule["waterside_highway"]
            and tags.get("access") not in ("private", "no")
            and tags.get("bridge") in (None, "", "no")
        ):
            cand.append(metric(line))
            owner.append(wid)
    per_way: dict[int, float] = {}
    if not cand or not h.water:
        return whole, 0.0, per_way
    band = shapely.union_all([metric(w) for w in h.water]).buffer(rule["waterside_dist_m"], quad_segs=16)
    shapely.prepare(band)
    parts, part_owner = [], []
    for line, wid in zip(cand, owner, strict=True):
        if not band.intersects(line):
            continue
        clipped = line if band.contains(line) else line.intersection(band)
        for p in shapely.get_parts(clipped):
            if p.geom_type == "LineString" and p.length > 0:
                parts.append(p)
                part_owner.append(wid)
    if not parts:
        return whole, 0.0, per_way
    g = nx.Graph()
    g.add_nodes_from(range(len(parts)))
    i, j = shapely.STRtree(parts).query(parts, predicate="intersects")
    g.add_edges_from(zip(i.tolist(), j.tolist(), strict=True))
    side = 0.0
    for comp in nx.connected_components(g):
        length = sum(parts[k].length for k in comp)
        if length >= 100.0:  # a run along the water of at least 100 m
            side += length
            for k in comp:
                per_way[part_owner[k]] = per_way.get(part_owner[k], 0.0) + parts[k].length
    return whole, side, per_way


# the country-size extracts run in the full loop only
@pytest.mark.parametrize(
    "key", [pytest.param(k, marks=pytest.mark.slow) if k in {"andorra", "liechtenstein"} else k for k in sorted(OSM_FILES)]
)
def test_greenway_lengths_equal_an_independent_sum_on_every_extract(key):
    path = shared_path(OSM_FILES[key])
    whole, side, _ = _independent_greenways(path)
    g = gw.from_osm(path)
    got = float(g["length_m"].sum()) if len(g) else 0.0
    assert got == pytest.approx(whole + side, rel=0.005, abs=1e-6)
    if not len(g):
        return
    # de-duplication, explained: every metre it removes lies beside a kept lane of another way
    c = gw.centrelines(g)
    assert c["raw_length_m"].sum() == pytest.approx(got, rel=1e-9)
    assert (c["length_m"] <= c["raw_length_m"] + 1e-6).all()
    tol = mg.standards.load().greenways.dedupe_tolerance_m
    kept = c.geometry.to_numpy()
    short = np.flatnonzero((c["raw_length_m"] - c["length_m"]).to_numpy() > 1.0)
    samples, row = [], []
    for pos in short:
        raw = g.geometry.iloc[pos]
        removed = raw if kept[pos].is_empty else raw.difference(kept[pos].buffer(0.01))
        for part in shapely.get_parts(removed):
            if part.length > 1.0:
                samples += list(shapely.line_interpolate_point(part, np.linspace(0, 1, 5), normalized=True))
                row += [pos] * 5
    if samples:
        pi, ki = shapely.STRtree(kept).query(np.array(samples), predicate="dwithin", distance=tol + 5.0)
        beside = np.zeros(len(samples), dtype=bool)
        beside[pi[ki != np.array(row)[pi]]] = True
        assert beside.all(), g.iloc[sorted({row[k] for k in np.flatnonzero(~beside)})][["osm_id", "highway"]]


def test_pedestrian_square_outlines_are_not_greenways():
    """Central Helsinki: two waterside pedestrian squares mapped as area=yes outlines used to add 47 %
    to the greenway length (1,091 m instead of 742 m raw), and let two short footways pass the
    100 m minimum by joining them."""
    path = shared_path(OSM_FILES["helsinki"])
    h = _Greenway()
    h.apply_file(str(path), locations=True)
    squares = {wid for wid, tags, _ in h.ways if tags.get("area") == "yes" and tags.get("highway") == "pedestrian"}
    assert {457665104, 581909838} <= squares
    g = gw.from_osm(path)
    assert not set(g["osm_id"]) & squares
    assert g["length_m"].sum() == pytest.approx(742.4, abs=0.5)
    _, _, per_way = _independent_greenways(path)
    for footway in (45571443, 581909836):
        assert footway not in set(g["osm_id"]) and footway not in per_way
    # the walk network leaves the squares out for the same reason
    net = mg.network.from_osm(path, mode="walk")
    assert not set(net.edges["osm_id"]) & squares


def test_the_greenway_service_rate_is_a_share():
    """The overlay's rounding can put covered land an ulp above all land (a rate of 1.0000000000000002
    here): the rate and the covered area stay within the land."""
    line = _lines(_line((0, 0), (1000, 0)))
    corners = [(111.3278684582, -150.2866894), (219.884756215, -30.925111521), (498.88397431566, 192.3341355105),
               (445.27156893996, 16.5844880994), (391.862178572, -129.737751759)]  # fmt: skip
    land = gpd.GeoDataFrame(geometry=[shapely.Polygon([(X0 + x, Y0 + y) for x, y in corners])], crs=CRS)
    cov = gw.service_coverage(line, land)  # wholly within 1 km of the line
    assert cov.rate == 1.0 and cov.covered_m2 == cov.total_m2
    rng = np.random.default_rng(0)
    for _ in range(100):
        pts = rng.uniform(0, 400, (7, 2)) + np.array([X0 + 100, Y0 - 200])
        poly = gpd.GeoDataFrame(geometry=[shapely.convex_hull(shapely.MultiPoint(pts))], crs=CRS)
        r = gw.service_coverage(line, poly)
        assert 0.0 <= r.rate <= 1.0 and r.covered_m2 <= r.total_m2


def test_lines_kept_and_names_matched_in_bulk_as_one_by_one() -> None:
    """The line parts of clips (every Andorran highway way cut by each parish and by bands
    around points, so that collections, points and several parts occur) and the name match
    of every way name are, to the bit, what the one-geometry and one-name helpers give."""
    from mtown_geo import greenlines

    path = shared_path(OSM_FILES["andorra"])
    ext = mg.sources.read_osm(path)
    metric = mg.crs.metric_crs(ext.bounds)
    lines = np.asarray(ext.way_lines().to_crs(metric).values, dtype=object)
    towns = mg.batch.towns_from_osm(path, admin_level="7").to_crs(metric)
    rings = shapely.buffer(shapely.points(shapely.get_coordinates(lines[::50])), 15.0)
    areas = [*towns.geometry, shapely.union_all(rings)]
    clips = np.concatenate([shapely.intersection(lines, a) for a in areas] + [np.array([None], dtype=object)])
    kinds = set(shapely.get_type_id(clips[:-1]).tolist())
    assert {1, 5, 7} <= kinds  # lines, several lines, collections of lines and points
    want = [greenlines._lineal(g) for g in clips]
    got = greenlines._lineal_all(clips)
    assert shapely.to_wkb(got).tolist() == shapely.to_wkb(np.array(want, dtype=object)).tolist()
    names = ext.ways["name"].to_numpy(dtype=object)
    patterns = ["绿道", "Greenway", "riu", "CAMÍ"]
    hit = greenlines._named_all(names, patterns)
    assert hit.tolist() == [greenlines._named(n, patterns) for n in names] and 0 < hit.sum() < len(names)


def test_greenways_in_a_boundary_as_clipped_from_all(andorra_parishes):
    """from_osm with a boundary measures waterside runs only for the paths joined to it: the
    same rows as all greenways of the extract clipped to the boundary afterwards."""
    pruned_any = False
    for _, town_m, ext in andorra_parishes:
        got = greenlines.from_osm(ext, boundary=town_m, crs=town_m.crs)
        every = greenlines.from_osm(ext, crs=town_m.crs)
        area = _geom.polygon_union(town_m, crs=town_m.crs, what="boundary", drop_empty=True)
        clipped = greenlines._lineal_all(shapely.intersection(every.geometry.to_numpy(), area))
        want = every.set_geometry(list(clipped), crs=town_m.crs)
        want = want.loc[~shapely.is_empty(clipped)].reset_index(drop=True)
        want["length_m"] = shapely.length(want.geometry.to_numpy())
        assert_same_frames(got, want)
        assert (got["matched_by"].str.contains("waterside")).sum() > 10
        spec = greenlines._spec(mg.standards.resolve(None))
        cand = np.flatnonzero(greenlines._waterside_candidates(ext.ways, spec))
        lines = ext.way_lines_at(greenlines._waterside_candidates(ext.ways, spec), town_m.crs)
        pruned_any |= not joined_to_area(lines[cand], area).all()
    assert pruned_any  # some paths are left out, and the answer is the same
