"""小街区密路网: road density, junctions and blocks, against hand calculation and an independent reader."""

from __future__ import annotations

import json
import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import crs as _crs
from mtown_geo import streets
from mtown_geo.sources.osm import read_osm

from .conftest import OSM_FILES, assert_same_frames, shared_path

CRS = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E: a metric CRS


def _grid(
    spacing: float = 100.0, n: int = 4, x0: float = 50.0, lo: float = -100.0, hi: float = 500.0, top: float = 370.0
) -> list[shapely.LineString]:
    """n streets each way at ``spacing`` from ``x0`` with a vertex at every crossing: east-west ones
    from ``lo`` to ``hi``, north-south ones from ``lo`` up to ``top``."""
    stops = [x0 + i * spacing for i in range(n)]
    lines = []
    for c in stops:
        lines.append(shapely.LineString([(c, lo), *[(c, s) for s in stops], (c, top)]))
        lines.append(shapely.LineString([(lo, c), *[(s, c) for s in stops], (hi, c)]))
    return lines


@pytest.fixture(scope="module")
def grid_roads() -> gpd.GeoDataFrame:
    """A 4 × 4 grid of residential streets 100 m apart over a 400 m square (the north-south ones end
    at y = 370), a dual carriageway north of it, a private and a public service way and a motorway —
    each with an answer known by hand."""
    lines = _grid()
    rows = [{"highway": "residential", "oneway": None} for _ in lines]
    # a dual carriageway 16 m apart along y = 380 / 396 (x 0…400): two one-way ways of opposite direction
    lines += [shapely.LineString([(0, 380), (400, 380)]), shapely.LineString([(400, 396), (0, 396)])]
    rows += [{"highway": "primary", "oneway": "yes"}, {"highway": "primary", "oneway": "yes"}]
    # service ways: private (never counted) and public (the internal variant only)
    lines += [shapely.LineString([(60, 20), (140, 20)]), shapely.LineString([(160, 20), (240, 20)])]
    rows += [{"highway": "service", "access": "private"}, {"highway": "service"}]
    # a motorway (not part of the urban grid)
    lines += [shapely.LineString([(0, 10), (400, 10)])]
    rows += [{"highway": "motorway", "oneway": "yes"}]
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=lines, crs=CRS)


@pytest.fixture(scope="module")
def square() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 400, 400)], crs=CRS)


def test_hand_made_grid(grid_roads: gpd.GeoDataFrame, square: gpd.GeoDataFrame) -> None:
    a = streets.assess(grid_roads, square)
    # 4 east-west streets × 400 m + 4 north-south × 370 m inside + the dual carriageway once (400 m)
    assert a.area_km2 == pytest.approx(0.16)
    assert a.raw_km == pytest.approx(1.6 + 1.48 + 0.8, abs=1e-9)
    assert a.km == pytest.approx(1.6 + 1.48 + 0.4, abs=1e-9)
    assert a.density_km_per_km2 == pytest.approx(3.48 / 0.16)
    # the public service way (80 m) counts only in the internal variant
    assert a.internal_km == pytest.approx(3.56, abs=1e-9)
    # 16 crossings of degree 4, none merged (100 m apart); the dual carriageway meets no street
    assert a.n_junctions == 16
    assert a.junction_density_per_km2 == pytest.approx(16 / 0.16)
    # 9 inner squares of 100 m (the 16 m strip between the carriageways is no block)
    assert a.n_blocks == 9
    assert a.block_share == 1.0
    assert a.block_median_m == pytest.approx(100.0)
    assert a.layers["blocks"]["area_m2"].sum() == pytest.approx(9 * 100 * 100)
    assert set(a.layers["streets"]["variant"]) == {"main", "internal"}
    assert a.layers["streets"]["dual"].sum() == 2


def test_long_blocks_fail_the_300_m_rule(square: gpd.GeoDataFrame) -> None:
    """Streets 400 m apart one way, 100 m the other: every block's long side is 400 m."""
    lines = [shapely.LineString([(0, y), *[(x, y) for x in (0, 100, 200, 300, 400)]]) for y in (0.0, 400.0)]
    lines += [shapely.LineString([(x, -50), (x, 0), (x, 400), (x, 450)]) for x in (0, 100, 200, 300, 400)]
    roads = gpd.GeoDataFrame({"highway": ["tertiary"] * len(lines)}, geometry=lines, crs=CRS)
    bl = streets.blocks(roads, square)
    assert len(bl) == 4
    assert bl["long_side_m"].to_numpy() == pytest.approx([400.0] * 4)
    assert bl["short_side_m"].to_numpy() == pytest.approx([100.0] * 4)
    assert not bl["within_max"].any()


def test_junctions_closer_than_the_merge_distance_are_one() -> None:
    # a side street meeting both carriageways of a dual road 12 m apart: two degree-3 nodes, one junction
    lines = [
        shapely.LineString([(0, 0), (100, 0), (200, 0)]),
        shapely.LineString([(200, 12), (100, 12), (0, 12)]),
        shapely.LineString([(100, 12), (100, 0), (100, -100)]),
    ]
    roads = gpd.GeoDataFrame({"highway": ["secondary"] * 3, "oneway": ["yes", "yes", None]}, geometry=lines, crs=CRS)
    jn = streets.junctions(roads)
    assert len(jn) == 1 and jn["n_nodes"].iloc[0] == 2
    assert len(streets.junctions(roads, merge_m=5)) == 2


def test_errors_are_clear(grid_roads: gpd.GeoDataFrame) -> None:
    with pytest.raises(mg.CRSError):
        streets.density(grid_roads.set_crs(4326, allow_override=True), shapely.box(0, 0, 1, 1))
    with pytest.raises(mg.InputError, match="no area"):
        streets.density(grid_roads, shapely.LineString([(0, 0), (1, 1)]))


# -- real data: an independent reader (pyrosm) and plain shapely ---------------------------------------


def _pyrosm_ways(path: str) -> gpd.GeoDataFrame:
    pyrosm = pytest.importorskip("pyrosm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = pyrosm.OSM(str(path)).get_data_by_custom_criteria(
            custom_filter={"highway": True}, filter_type="keep", keep_nodes=False, keep_relations=False
        )
    tags = [json.loads(t) if isinstance(t, str) else (t if isinstance(t, dict) else {}) for t in w["tags"]]
    for key in ("junction", "area"):
        if key not in w:
            w[key] = [t.get(key) for t in tags]
    return w


def _reference_counted(w: pd.DataFrame) -> np.ndarray:
    """The profile's classes and exclusions, written out here from the rule text."""
    classes = {
        "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link", "tertiary",
        "tertiary_link", "unclassified", "residential", "living_street",
    }  # fmt: skip
    return (w["highway"].isin(classes) & ~w["access"].isin(["private", "no"]) & ~w["area"].isin(["yes"])).to_numpy()


@pytest.fixture(scope="module")
def guixi() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    path = shared_path(OSM_FILES["guixi_pbf"])
    boundary = gpd.read_file(shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson"))
    metric = _crs.metric_crs(boundary)
    ext = read_osm(path)
    roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326).to_crs(
        metric
    )
    ref = _pyrosm_ways(str(path)).to_crs(metric)
    return roads, boundary.to_crs(metric), ref


def test_guixi_density_against_shapely_on_pyrosm_ways(guixi) -> None:
    roads, area, ref = guixi
    a = streets.assess(roads, area)
    sel = ref[_reference_counted(ref)]
    geom = area.union_all()
    raw_m = float(shapely.length(shapely.intersection(np.asarray(sel.geometry.values), geom)).sum())
    assert a.raw_km == pytest.approx(raw_m / 1000.0, rel=1e-9)
    # dual carriageways counted once: at most half of the one-way length comes off
    oneway = sel["oneway"].isin(["yes", "-1"]).to_numpy()
    oneway_m = float(shapely.length(shapely.intersection(np.asarray(sel.geometry.values[oneway]), geom)).sum())
    assert 0 < (a.raw_km - a.km) * 1000.0 <= oneway_m / 2 + 1e-6
    assert a.area_km2 == pytest.approx(5.65, abs=0.02)  # 东门街道, 5.65 km² (data README)
    assert a.density_km_per_km2 == pytest.approx(a.km / a.area_km2)
    assert a.density_km_per_km2 < 8  # a sparse OSM street grid: below the national target


def test_guixi_junctions_against_osmnx(guixi, tmp_path) -> None:
    """Junction count from osmnx's own graph of the XML file (nodes of 3+ counted segments, 15 m clusters)."""
    ox = pytest.importorskip("osmnx")
    import bz2

    import networkx as nx

    roads, area, _ = guixi
    xml = tmp_path / "guixi.osm"
    xml.write_bytes(bz2.decompress(shared_path(OSM_FILES["guixi_bz2"]).read_bytes()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = ox.graph_from_xml(xml, bidirectional=True, simplify=False, retain_all=True)
    g = ox.project_graph(g, to_crs=roads.crs)
    edges = ox.graph_to_gdfs(g, nodes=False).reset_index()
    for key in ("access", "area"):
        if key not in edges:
            edges[key] = None
    hw = edges["highway"].map(lambda h: h[0] if isinstance(h, list) else h)
    edges = edges.assign(highway=hw)
    keep = _reference_counted(edges)
    und = nx.Graph()
    und.add_edges_from(zip(edges["u"][keep], edges["v"][keep], strict=True))
    nodes = [n for n, d in und.degree() if d >= 3]
    xy = np.array([(g.nodes[n]["x"], g.nodes[n]["y"]) for n in nodes])
    clusters = shapely.get_parts(shapely.union_all(shapely.buffer(shapely.points(xy), 7.5)))
    centres = [shapely.centroid(shapely.MultiPoint([p for p in shapely.points(xy) if c.contains(p)])) for c in clusters]
    geom = area.union_all()
    expected = sum(bool(geom.covers(c)) for c in centres)
    a = streets.assess(roads, area)
    assert a.n_junctions == expected
    assert a.n_junctions > 10


def test_guixi_blocks_against_an_independent_polygonize(guixi) -> None:
    roads, area, ref = guixi
    rules = mg.standards.load().tasks.streets
    sel = ref[_reference_counted(ref)]
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(np.asarray(sel.geometry.values)))))
    geom = area.union_all()
    faces = faces[[geom.covers(f.representative_point()) for f in faces]]
    rect = [shapely.oriented_envelope(f) for f in faces]
    sides = []
    for r in rect:
        c = np.asarray(r.exterior.coords)
        a_, b_ = math.dist(c[0], c[1]), math.dist(c[1], c[2])
        sides.append((max(a_, b_), min(a_, b_)))
    keep = [f.area >= rules.min_block_area_m2 and s[1] >= rules.min_block_width_m for f, s in zip(faces, sides, strict=True)]
    longs = np.array([s[0] for s, k in zip(sides, keep, strict=True) if k])
    bl = streets.blocks(roads, area)
    assert len(bl) == len(longs) > 5
    assert np.median(bl["long_side_m"]) == pytest.approx(np.median(longs), rel=1e-9)
    assert bl["within_max"].mean() == pytest.approx(np.mean(longs <= 300.0))


@pytest.mark.slow
def test_liechtenstein_at_country_size() -> None:
    """All of Liechtenstein (160 km², ~8k highway ways) in one go, against shapely on pyrosm's ways."""
    path = shared_path(OSM_FILES["liechtenstein"])
    ext = read_osm(path)
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    metric = _crs.metric_crs(towns)
    country = gpd.GeoDataFrame(geometry=[towns.to_crs(metric).union_all()], crs=metric)
    roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326).to_crs(
        metric
    )
    a = streets.assess(roads, country)
    ref = _pyrosm_ways(str(path)).to_crs(metric)
    sel = ref[_reference_counted(ref)]
    raw_m = float(shapely.length(shapely.intersection(np.asarray(sel.geometry.values), country.union_all())).sum())
    assert a.raw_km == pytest.approx(raw_m / 1000.0, rel=1e-6)
    assert a.n_blocks > 300 and 0 < a.block_share < 1
    assert a.n_junctions > 1000


def test_andorra_streets_layer_is_linear_where_a_road_touches_the_edge(andorra_la_vella_streets) -> None:
    """A road clipped to the parish that also touches its edge at a point: the layer keeps its lines
    (no GeometryCollection a map cannot show) with the length of the clip, measured independently."""
    layer = andorra_la_vella_streets[0]["streets"]
    geoms = np.asarray(layer.geometry.values)
    assert set(layer.geom_type) <= {"LineString", "MultiLineString"}
    # the length measured on the clip (points included) is the length of the lines kept
    assert np.allclose(layer["length_m"].to_numpy(), shapely.length(geoms), rtol=1e-12, atol=0)
    # the streets whose clip touches the edge at a point too are kept, with their lines
    assert (layer["name"] == "Carrer del Valira").sum() >= 2
    assert float(layer["length_m"].sum()) == pytest.approx(float(shapely.length(geoms).sum()), rel=1e-12)


def _pieces_of(line: shapely.LineString, step_m: float = 10.0) -> list[shapely.LineString]:
    xy = shapely.get_coordinates(shapely.segmentize(line, step_m))
    return [shapely.LineString(xy[i : i + 2]) for i in range(len(xy) - 1)]


def test_street_lines_merged_from_their_pieces_as_the_merge_of_every_piece() -> None:
    """The streets layer's lines (pieces merged back per road and dual flag) are, to the bit, what
    merging every piece gives, on all of Andorra, in order and shuffled, and for the lines the
    direct route must leave to the merge of pieces (a closed ring, a line touching itself, a
    piece turned round, two roads in one group)."""
    path = shared_path(OSM_FILES["andorra"])
    ext = read_osm(path)
    roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
    roads = roads.to_crs(_crs.metric_crs(roads))
    pcs = streets.pieces(roads[streets.counted(roads, internal=True)].reset_index(drop=True))
    keys, group = np.unique(pcs["road"].to_numpy(np.int64) * 2 + pcs["dual"].to_numpy(bool), return_inverse=True)
    lines = np.asarray(pcs.geometry.values, dtype=object)
    assert len(keys) > 3000 and len(lines) > 60_000
    rng = np.random.default_rng(7)
    for order in (np.arange(len(lines)), rng.permutation(len(lines))):
        want = mg._geom.merged_lines_by_group(lines[order], group[order], len(keys))
        got = mg._geom.merged_pieces_by_group(lines[order], group[order], len(keys))
        assert shapely.to_wkb(got).tolist() == shapely.to_wkb(want).tolist()
    ring = shapely.LineString([(0, 0), (40, 0), (40, 30), (0, 30), (0, 0)])
    loop = shapely.LineString([(0, 0), (50, 0), (50, 20), (20, 20), (20, -20)])  # crosses itself
    turned = _pieces_of(shapely.LineString([(0, 0), (35, 5)]))
    turned[1] = shapely.reverse(turned[1])
    cases = [_pieces_of(ring), _pieces_of(loop), turned, _pieces_of(shapely.LineString([(0, 0), (25, 0)]))]
    cases[-1] += _pieces_of(shapely.LineString([(25, 0), (25, 25)])) + _pieces_of(shapely.LineString([(25, 0), (50, 0)]))
    geoms = np.array([p for c in cases for p in c], dtype=object)
    grp = np.repeat(np.arange(len(cases)), [len(c) for c in cases])
    want = mg._geom.merged_lines_by_group(geoms, grp, len(cases))
    got = mg._geom.merged_pieces_by_group(geoms, grp, len(cases))
    assert shapely.to_wkb(got).tolist() == shapely.to_wkb(want).tolist()
    assert shapely.is_closed(got[0]) and got[1].geom_type == "MultiLineString"


def test_assess_makes_lines_only_of_the_pieces_near_the_areas_with_the_same_answers() -> None:
    """assess pairs dual roads only among the roads that can reach the areas' box, measures a piece
    only where its box meets the built-up area's or the town's (as a line only where its road
    comes near the area's edge), and merges and clips only the roads with a piece near them
    (clipping only the lines near the edge): on Andorra la Vella among all of
    Andorra's roads (most of them far off), its figures and streets layer are, to the bit, those
    of the plain route: every piece a line, each measured, every road merged and clipped."""
    path = shared_path(OSM_FILES["andorra"])
    towns = mg.batch.towns_from_osm(path, admin_level="7")
    metric = _crs.metric_crs(towns)
    parish = towns[towns["name"] == "Andorra la Vella"].to_crs(metric).reset_index(drop=True)
    ext = read_osm(path)
    roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
    roads = roads.to_crs(metric).reset_index(drop=True)
    built = mg.pipeline.inputs.builtup_from_osm(ext, parish)
    got = streets.assess(roads, built, town=parish)
    # the plain route
    built_g = shapely.union_all(built.geometry.to_numpy())
    town_g = shapely.union_all(parish.geometry.to_numpy())
    main = streets.counted(roads)
    internal = streets.counted(roads, internal=True)
    pcs = streets.pieces(roads.loc[internal])
    road = np.flatnonzero(internal)[pcs["road"].to_numpy()]
    lines = np.asarray(pcs.geometry.values, dtype=object)
    factor = pcs["factor"].to_numpy()
    is_main = main[road]
    far = ~shapely.intersects(lines, shapely.box(*town_g.union(built_g).bounds))
    assert far.mean() > 0.5  # most pieces lie far off: the fast route leaves them out
    assert (pcs["dual"].to_numpy() & ~far).sum() > 50  # dual roads near the areas: pairing is looked for there only
    in_built = streets._lengths_in(lines, built_g)
    in_town = streets._lengths_in(lines[is_main], town_g)
    assert got.km == float((in_built[is_main] * factor[is_main]).sum()) / 1000.0
    assert got.raw_km == float(in_built[is_main].sum()) / 1000.0
    assert got.internal_km == float((in_built * factor).sum()) / 1000.0
    assert got.town_km == float((in_town * factor[is_main]).sum()) / 1000.0
    keys, group = np.unique(road * 2 + pcs["dual"].to_numpy(bool), return_inverse=True)
    merged = mg._geom.merged_pieces_by_group(lines, group, len(keys))
    clipped = shapely.intersection(merged, town_g.union(built_g))
    keep = ~shapely.is_empty(clipped) & (shapely.length(clipped) > 0)
    layer = got.layers["streets"]
    assert len(layer) == int(keep.sum()) > 500
    assert layer["osm_id"].tolist() == roads["osm_id"].to_numpy()[keys[keep] // 2].tolist()
    assert layer["dual"].tolist() == (keys[keep] % 2).astype(bool).tolist()
    assert layer["length_m"].tolist() == shapely.length(clipped[keep]).tolist()
    assert shapely.to_wkb(layer.geometry.to_numpy()).tolist() == shapely.to_wkb(streets._linear(clipped[keep])).tolist()


def test_road_vertices_are_grouped_as_numpys_unique_rows() -> None:
    """The junction count groups the road vertices (to the centimetre) with one lexical sort: the
    same rows and the same inverse as numpy's unique by rows, on all of Liechtenstein's roads."""
    ext = read_osm(shared_path(OSM_FILES["liechtenstein"]))
    lines = gpd.GeoSeries(ext.way_lines().to_numpy(), crs=4326)
    xy = np.round(shapely.get_coordinates(lines.to_crs(_crs.metric_crs(lines)).to_numpy()), 2)
    want, want_inv = np.unique(xy, axis=0, return_inverse=True)
    got, got_inv = streets._unique_rows(xy)
    assert len(xy) > 90_000 and len(want) < len(xy)  # shared vertices
    assert got.tobytes() == want.tobytes()
    assert got_inv.tolist() == want_inv.ravel().tolist()


def test_pieces_are_lines_only_at_an_areas_edge_with_the_same_lengths_and_clips(andorra_parishes) -> None:
    """A piece of a road well inside an area (or well outside) is measured without a line, and a
    simple open line of a road well inside is not clipped: on two Andorran parishes, their
    built-up areas and boundaries, every piece of every counted road has, to the bit, the
    length inside that shapely gives for the piece as a line, each road's merged line the clip
    of shapely.intersection, and assess the figures and layers of the plain route."""
    rules = streets._rules(None)
    n_whole = n_edge = n_kept = 0
    for _, town_m, ext in andorra_parishes:
        roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
        roads = roads.to_crs(town_m.crs)
        roads = roads[streets.counted(roads, internal=True)].reset_index(drop=True)
        geoms = np.asarray(roads.geometry.values, dtype=object)
        a, b, road, _, _ = streets._piece_coords(roads.geometry.to_numpy(), streets._dual_candidates(roads), rules)
        pieces = streets._segments(a, b)
        built = mg.pipeline.inputs.builtup_from_osm(ext, town_m)
        for area in (shapely.union_all(built.geometry.to_numpy()), shapely.union_all(town_m.geometry.to_numpy())):
            at = np.flatnonzero(streets._near(np.minimum(a, b), np.maximum(a, b), area))
            lines = np.full(len(a), None, dtype=object)
            got = streets._piece_lengths_in(a, b, road, geoms, area, lines, at)
            assert got.tolist() == streets._lengths_in(pieces[at], area).tolist()
            made = np.flatnonzero(~shapely.is_missing(lines))
            assert shapely.to_wkb(lines[made]).tolist() == shapely.to_wkb(pieces[made]).tolist()
            n_whole += len(at) - len(made)
            n_edge += len(made)
            # each road's line, clipped
            ids, first = np.unique(road, return_index=True)
            number = np.searchsorted(ids, road)
            merged = mg._geom.merged_pieces_by_group(pieces, number, len(ids))
            clipped = streets._clipped(merged, geoms[ids], a[first], area)
            want = shapely.intersection(merged, area)
            empty = shapely.is_empty(want)
            assert (shapely.is_empty(clipped) == empty).all() and empty.sum() > 100
            assert shapely.to_wkb(clipped[~empty]).tolist() == shapely.to_wkb(want[~empty]).tolist()
            inside, _ = streets._sides(geoms[ids], a[first], area)
            n_kept += int((inside & (shapely.get_type_id(merged) == 1)).sum())
    assert n_whole > 20_000 and n_edge > 1_000 and n_kept > 500  # both routes taken


def test_the_streets_task_projects_only_the_ways_it_can_count(andorra_parishes) -> None:
    """The streets task makes lines of, and projects, only the ways streets.counted can count:
    the same rows, tags and lines, to the bit, as the whole extract projected and kept where it
    meets the box, and the same figures and layers of assess."""
    from mtown_geo.pipeline import tasks

    for _, town_m, ext in andorra_parishes:
        box = town_m.total_bounds + np.array([-1, -1, 1, 1]) * 2500.0
        got = tasks._street_ways(ext, town_m.crs, box, None)
        plain = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
        plain = plain.to_crs(town_m.crs)
        plain = plain[plain.intersects(shapely.box(*box)).to_numpy()].reset_index(drop=True)
        counted = streets.counted(plain, internal=True)
        assert 0 < counted.sum() < 0.7 * len(plain)
        assert_same_frames(got, plain[counted].reset_index(drop=True))
        built = mg.pipeline.inputs.builtup_from_osm(ext, town_m)
        fast, slow = streets.assess(got, built, town=town_m), streets.assess(plain, built, town=town_m)
        assert fast.to_frame().to_dict("records") == slow.to_frame().to_dict("records")
        for key in ("streets", "blocks", "junctions"):
            assert_same_frames(fast.layers[key], slow.layers[key])


def test_dual_carriageways_paired_as_by_an_strtree_query_of_every_piece(andorra_parishes) -> None:
    """The pieces of dual roads are found among the midpoint pairs of a k-d tree, then measured by
    GEOS: on two Andorran parishes' roads, the same pieces, to the piece, as a shapely STRtree
    ``dwithin`` query of every one-way piece's midpoint against every other one-way piece."""
    rules = streets._rules(None)
    n_dual = 0
    for _, town_m, ext in andorra_parishes:
        roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
        roads = roads.to_crs(town_m.crs)
        roads = roads[streets.counted(roads, internal=True)].reset_index(drop=True)
        pcs = streets.pieces(roads)
        xy = shapely.get_coordinates(pcs.geometry.to_numpy()).reshape(-1, 2, 2)
        a, b, road = xy[:, 0], xy[:, 1], pcs["road"].to_numpy()
        hw = roads["highway"].to_numpy(dtype=object)
        one = roads["oneway"].astype(str).str.lower().isin(["yes", "true", "1", "-1", "reverse"]).to_numpy()
        cand_road = one & ~roads["junction"].isin(["roundabout", "circular"]).to_numpy()
        cand_road &= ~np.array([isinstance(h, str) and h.endswith("_link") for h in hw], dtype=bool)
        cand = np.flatnonzero(cand_road[road])
        d = (b - a)[cand]
        d /= np.linalg.norm(d, axis=1)[:, None]
        tree = shapely.STRtree(pcs.geometry.to_numpy()[cand])
        i, j = tree.query(shapely.points((a[cand] + b[cand]) / 2.0), predicate="dwithin", distance=rules.dual_carriageway_gap_m)
        ok = (road[cand][i] != road[cand][j]) & (
            np.einsum("ij,ij->i", d[i], d[j]) < -math.cos(math.radians(rules.dual_carriageway_angle_deg))
        )
        want = np.zeros(len(pcs), dtype=bool)
        want[cand[np.unique(i[ok])]] = True
        assert pcs["dual"].to_numpy().tolist() == want.tolist()
        assert pcs["factor"].to_numpy().tolist() == np.where(want, 0.5, 1.0).tolist()
        n_dual += int(want.sum())
    assert n_dual > 1000


def test_point_to_piece_distances_as_geos_measures_them(andorra_parishes) -> None:
    """The dual-carriageway pairing measures a midpoint's distance to a piece in numpy: on every
    one-way piece of two Andorran parishes against the midpoints of the pieces near it, within a
    micrometre of the distance GEOS gives (the pairs closer to the gap than that go to GEOS),
    with the foot of the perpendicular before, on and after the piece."""
    rules = streets._rules(None)
    n_ends = n_line = 0
    for _, town_m, ext in andorra_parishes:
        roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
        roads = roads.to_crs(town_m.crs)
        roads = roads[streets.counted(roads, internal=True)].reset_index(drop=True)
        a, b, road, _, _ = streets._piece_coords(roads.geometry.to_numpy(), streets._dual_candidates(roads), rules)
        one = np.flatnonzero(streets._dual_candidates(roads)[road])
        mid = (a[one] + b[one]) / 2.0
        tree = shapely.STRtree(shapely.points(mid))
        j, i = tree.query(shapely.linestrings(np.stack([a[one], b[one]], axis=1)), predicate="dwithin", distance=60.0)
        got = streets._point_segment_m(mid[i], a[one][j], b[one][j])
        want = shapely.distance(shapely.points(mid[i]), shapely.linestrings(np.stack([a[one][j], b[one][j]], axis=1)))
        assert len(i) > 50_000
        assert np.abs(got - want).max() < streets._CLOSE_M / 100
        d = b[one][j] - a[one][j]
        r = np.einsum("ij,ij->i", mid[i] - a[one][j], d) / np.einsum("ij,ij->i", d, d)
        n_ends += int(((r <= 0) | (r >= 1)).sum())
        n_line += int(((r > 0) & (r < 1)).sum())
        assert (np.abs(got - rules.dual_carriageway_gap_m) < 1.0).sum() > 100
    assert n_ends > 10_000 and n_line > 10_000


@pytest.mark.parametrize(("apart_m", "paired"), [(40.0, True), (40.0 + 1e-7, False), (40.0 - 1e-7, True), (40.1, False)])
def test_dual_carriageways_at_the_gap_are_decided_by_geos(apart_m: float, paired: bool) -> None:
    """Two one-way roads running opposite ways exactly ``dual_carriageway_gap_m`` (40 m) apart are a
    dual road (GEOS's ``dwithin`` holds at the distance), a tenth of a micrometre farther they are not."""
    assert streets._rules(None).dual_carriageway_gap_m == 40.0
    y = 3_300_000.0
    roads = gpd.GeoDataFrame(
        {"highway": ["primary", "primary"], "oneway": ["yes", "yes"]},
        geometry=[
            shapely.LineString([(500_000.0, y), (500_200.0, y)]),
            shapely.LineString([(500_200.0, y + apart_m), (500_000.0, y + apart_m)]),
        ],
        crs=CRS,
    )
    pcs = streets.pieces(roads)
    assert len(pcs) == 40
    assert pcs["dual"].tolist() == [paired] * 40


def test_assess_junctions_and_blocks_are_those_of_the_public_functions(andorra_parishes) -> None:
    """assess counts the roads once for its junctions and blocks: on two Andorran parishes, its
    layers are, to the bit, streets.junctions kept where they lie in the built-up area (inside or
    on its edge) and streets.blocks of the built-up area; each junction's degree is the largest of
    its vertices' (a pandas group maximum)."""
    n_jn = n_bl = 0
    for _, town_m, ext in andorra_parishes:
        roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
        roads = roads.to_crs(town_m.crs).reset_index(drop=True)
        built = mg.pipeline.inputs.builtup_from_osm(ext, town_m)
        got = streets.assess(roads, built, town=town_m)
        built_g = streets._area_geom(built, roads, roads, what="built-up area")
        jn = streets.junctions(roads)
        pts = jn.geometry.to_numpy()
        jn = jn[shapely.contains(built_g, pts) | shapely.touches(built_g, pts)].reset_index(drop=True)
        assert_same_frames(got.layers["junctions"], jn)
        assert_same_frames(got.layers["blocks"], streets.blocks(roads, built_g))
        # the faces of the noded lines, polygonized whole or part by part
        counted_lines = roads.geometry.to_numpy()[streets.counted(roads)]
        noded = shapely.union_all(shapely.get_parts(counted_lines))
        assert shapely.to_wkb(noded) == shapely.to_wkb(shapely.union_all(counted_lines))
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
        assert len(faces) > 100
        assert shapely.to_wkb(faces).tolist() == shapely.to_wkb(shapely.get_parts(shapely.polygonize([noded]))).tolist()
        n_jn += len(jn)
        n_bl += len(got.layers["blocks"])
        # the degree of each junction, grouped by pandas
        lines = roads.geometry.to_numpy()[streets.counted(roads)]
        coords, which = shapely.get_coordinates(lines, return_index=True)
        ends = np.r_[True, which[1:] != which[:-1]] | np.r_[which[1:] != which[:-1], True]
        xy, inv = np.unique(np.round(coords, 2), axis=0, return_inverse=True)
        deg = np.bincount(inv.ravel(), weights=np.where(ends, 1, 2), minlength=len(xy))
        labels, _ = mg._points.merge(xy[deg >= 3], 15.0)
        want = pd.Series(deg[deg >= 3]).groupby(labels).max().to_numpy().astype(int)
        assert streets.junctions(roads)["degree"].tolist() == want.tolist()
    assert n_jn > 100 and n_bl > 30


def test_dual_candidates_and_line_parts_on_odd_values() -> None:
    """One-way flags read once per distinct value, as the text of each (None, NaN, numbers, any
    case); a layer of single LineStrings is its own parts, any other is split as shapely does."""
    roads = pd.DataFrame(
        {
            "oneway": ["yes", "YES", None, np.nan, 1, 1.0, "-1", "no", "Reverse", "yes", "yes", "yes"],
            "junction": [None, None, None, None, None, None, None, None, None, "roundabout", "circular", None],
            "highway": ["primary"] * 11 + ["primary_link"],
        }
    )
    want = roads["oneway"].to_numpy(dtype=object).astype(str)
    want = np.isin(np.char.lower(want), ["yes", "true", "1", "-1", "reverse"])
    want &= ~roads["junction"].isin(["roundabout", "circular"]).to_numpy() & ~roads["highway"].str.endswith("_link").to_numpy()
    got = streets._dual_candidates(roads)
    assert got.tolist() == want.tolist() == [True, True, False, False, True, False, True, False, True, False, False, False]
    single = np.array([shapely.LineString([(0, 0), (1, 0)]), shapely.LineString([(2, 0), (3, 1)])], dtype=object)
    parts, owner = streets._line_parts(single)
    assert parts is single and owner.tolist() == [0, 1]
    mixed = np.array(
        [single[0], None, shapely.MultiLineString([[(0, 1), (1, 1)], [(2, 2), (3, 3)]]), shapely.Point(0, 0)], dtype=object
    )
    parts, owner = streets._line_parts(mixed)
    assert owner.tolist() == [0, 2, 2]
    assert shapely.to_wkt(parts).tolist() == ["LINESTRING (0 0, 1 0)", "LINESTRING (0 1, 1 1)", "LINESTRING (2 2, 3 3)"]


def test_road_and_line_numbers_grouped_as_numpys_unique(andorra_parishes) -> None:
    """The pieces' roads (in order) and the (road, dual flag) keys of the streets layer are grouped
    without a sort: the same arrays as numpy's unique, on two Andorran parishes' pieces, also out
    of order and empty."""
    rules = streets._rules(None)
    for _, town_m, ext in andorra_parishes:
        roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
        roads = roads.to_crs(town_m.crs)
        roads = roads[streets.counted(roads, internal=True)].reset_index(drop=True)
        _, _, road, _, dual = streets._piece_coords(roads.geometry.to_numpy(), streets._dual_candidates(roads), rules)
        at = np.flatnonzero(np.arange(len(road)) % 3 != 0)
        shuffled = np.random.default_rng(0).permutation(road)
        for values in (road, road[at], shuffled, road[:0]):
            want = np.unique(values, return_index=True, return_inverse=True)
            got = streets._runs(values)
            assert all(np.array_equal(g, w.ravel()) and g.dtype == w.dtype for g, w in zip(got, want, strict=True))
        key = road.astype(np.int64) * 2 + dual
        assert dual.sum() > 100
        for values in (key, key[::-1], key[:0]):
            want = np.unique(values, return_inverse=True)
            got = streets._unique_ints(values)
            assert all(np.array_equal(g, w.ravel()) and g.dtype == w.dtype for g, w in zip(got, want, strict=True))
