"""Bulk geometry paths against the one-by-one operations they replace: the same geometries, to the bit.

The street layer and the village road-status layer merge their lines per group in bulk
(:func:`mtown_geo._geom.merged_lines_by_group`), the built-up land from OSM closes only the
land-use clusters that can reach the town (and is the same from any extract that holds them), and :func:`mtown_geo._geom.polygon_union` reuses the
union of polygons it has just unioned. Each is compared here, as WKB, with the plain route on
real data and on the awkward cases (crossing, touching, overlapping and closed lines).
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import _geom, streets
from mtown_geo.pipeline import inputs
from mtown_geo.sources.osm import read_osm

from .conftest import OSM_FILES, shared_path


def _merged_one_by_one(lines: np.ndarray, group: np.ndarray, n: int) -> list[bytes]:
    """The route the bulk merge replaces: a union then a merge per group, in the lines' order."""
    return [shapely.to_wkb(shapely.line_merge(shapely.union_all(list(lines[group == k])))) for k in range(n)]


def _wkb(geoms: np.ndarray) -> list[bytes]:
    return list(shapely.to_wkb(np.asarray(geoms, dtype=object)))


def _street_pieces(path: object) -> tuple[np.ndarray, np.ndarray, int]:
    """The pieces of the counted streets of an extract and their (road, dual) groups, as the street layer makes them."""
    ext = read_osm(path)
    roads = gpd.GeoDataFrame(ext.ways.drop(columns=["start", "stop"]), geometry=ext.way_lines().to_numpy(), crs=4326)
    roads = _geom.to_metric(roads).reset_index(drop=True)
    internal = streets.counted(roads, internal=True)
    pcs = streets.pieces(roads.loc[internal])
    key = np.flatnonzero(internal)[pcs["road"].to_numpy()] * 2 + pcs["dual"].to_numpy(bool)
    keys, group = np.unique(key, return_inverse=True)
    return np.asarray(pcs.geometry.values, dtype=object), group, len(keys)


def test_merged_street_pieces_equal_the_union_then_merge_of_each_road() -> None:
    lines, group, n = _street_pieces(mg.demo_osm_path("karhula"))
    assert n > 100 and len(lines) > 10 * n  # many roads of many pieces
    assert _wkb(_geom.merged_lines_by_group(lines, group, n)) == _merged_one_by_one(lines, group, n)


def test_merged_street_pieces_equal_on_a_chinese_town() -> None:
    lines, group, n = _street_pieces(shared_path(OSM_FILES["guixi_pbf"]))
    assert _wkb(_geom.merged_lines_by_group(lines, group, n)) == _merged_one_by_one(lines, group, n)


def test_merged_lines_fall_back_to_the_union_where_lines_cross_touch_or_overlap() -> None:
    L = shapely.LineString
    cases = [
        [L([(0, 0), (1, 0)]), L([(2, 0), (1, 0)]), L([(2, 0), (3, 1)])],  # a chain, pieces reversed
        [L([(0, 0), (2, 2)]), L([(0, 2), (2, 0)])],  # a crossing
        [L([(0, 0), (2, 0)]), L([(1, 0), (1, 1)])],  # a T: one end on the other's inside
        [L([(0, 0), (2, 0)]), L([(1, 0), (3, 0)])],  # overlapping stretches
        [L([(0, 0), (1, 0)]), L([(0, 0), (1, 0)])],  # the same piece twice
        [L([(0, 0), (1, 0), (1, 1), (0, 0)]), L([(0, 0), (-1, 0)])],  # a closed line touched at its ends
        [L([(0, 0), (2, 2), (2, 0), (0, 2)])],  # one line crossing itself
        [L([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)])],  # a loop alone
        [L([(5, 5), (6, 5)])],  # a single piece
        [L([(0, 0), (1, 0)]), L([(3, 0), (4, 0)])],  # two stretches apart
    ]
    lines = np.array([g for case in cases for g in case], dtype=object)
    group = np.repeat(np.arange(len(cases)), [len(c) for c in cases])
    n = len(cases) + 1  # and a last group without lines
    simple = shapely.is_simple(shapely.multilinestrings(lines, indices=group))
    assert simple.tolist() == [True, False, False, False, False, False, False, True, True, True]
    got = _geom.merged_lines_by_group(lines, group, n)
    assert _wkb(got) == _merged_one_by_one(lines, group, n)
    assert got[-1].is_empty
    # shuffled input: each group's lines are still taken in their order
    perm = np.random.default_rng(1).permutation(len(lines))
    assert _wkb(_geom.merged_lines_by_group(lines[perm], group[perm], n)) == _merged_one_by_one(lines[perm], group[perm], n)


def test_union_by_group_equals_a_union_per_group() -> None:
    # overlapping polygons in groups of 1 to a few hundred: the streets' pieces widened to 4 m, per road
    lines, group, n = _street_pieces(mg.demo_osm_path("karhula"))
    polys = shapely.buffer(lines, 2.0)
    group = np.where(group >= 3, group + 1, group)  # and group 3 without polygons
    n += 1
    got = _geom.union_by_group(polys, group, n)
    want = [shapely.to_wkb(shapely.union_all(polys[group == k])) for k in range(n)]
    assert _wkb(got) == want
    sizes = np.bincount(group, minlength=n)
    assert got[3].is_empty and sizes[3] == 0 and sizes.max() > 100 and (sizes == 1).any()


def test_road_status_layer_equals_the_union_then_merge_of_each_way() -> None:
    net = mg.network.from_osm(mg.demo_osm_path("karhula"), mode="drive")
    roads = mg.sources.osm.road_attributes(read_osm(mg.demo_osm_path("karhula")).ways)
    vil = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(26.93, 60.50)], crs=4326)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = mg.villages.assess(net, roads, vil, vil.copy())
    layer = r.layers["road_status"]
    edges = net.edges
    status = mg.villages.edge_status(mg.villages.edge_attributes(net, roads), mg.villages._rules(None).two_lane)
    df = pd.DataFrame(
        {
            "osm_id": edges["osm_id"].fillna(-1).to_numpy(),
            "status": status["status"].to_numpy(),
            "reason": status["reason"].to_numpy(),
            "geometry": np.asarray(edges.geometry.values, dtype=object),
        }
    )
    old = df.groupby(["osm_id", "status", "reason"], sort=False)["geometry"].agg(
        lambda g: shapely.line_merge(shapely.union_all(list(g)))
    )
    assert len(layer) == len(old) > 50
    assert _wkb(layer.geometry.to_numpy()) == _wkb(old.to_numpy())
    assert layer["osm_id"].tolist() == old.index.get_level_values(0).tolist()


def _land_use(ext: object, town_m: gpd.GeoDataFrame) -> np.ndarray:
    """The extract's residential, commercial and retail polygons in the town's CRS, repaired."""
    f = ext.features  # type: ignore[attr-defined]
    tags = f["tags"].map(lambda t: t.get("landuse") in ("residential", "commercial", "retail")).to_numpy()
    polys = f[tags & f.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    geoms, _ = _geom.valid_polygons(polys.to_crs(town_m.crs), what="land", drop_empty=True)
    return geoms


def test_builtup_from_osm_closes_the_land_near_the_town_as_all_the_land_use() -> None:
    """The closing inside the town sees only the land within 200 m: closing the land-use polygons
    within 210 m of the town gives the same land as closing all of the extract's (the same parts;
    where GEOS's buffers of the larger land end their arcs elsewhere, slivers below 1e-6 of the area)."""
    path = shared_path(OSM_FILES["liechtenstein"])
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    full = read_osm(path)
    left_out = 0
    for name in ("Balzers", "Planken", "Vaduz", "Eschen"):
        town = towns[towns["name"] == name]
        town_m = _geom.to_metric(town[["geometry"]], crs=mg.crs.metric_crs(town))
        bbox = town.to_crs(4326).total_bounds + np.array([-0.02, -0.02, 0.02, 0.02])
        ext = full.subset(tuple(float(v) for v in bbox))
        area = _geom.polygon_union(town_m, what="town")
        geoms = _land_use(ext, town_m)
        everything = _geom.polygonal(shapely.union_all(geoms)).buffer(100.0).buffer(-100.0).intersection(area)
        near = shapely.dwithin(geoms, area, 210.0)
        left_out += int((~near).sum())
        got = inputs.builtup_from_osm(ext, town_m).geometry.iloc[0]
        assert shapely.get_num_geometries(got) == shapely.get_num_geometries(everything), name
        assert shapely.symmetric_difference(got, everything).area < 1e-6 * everything.area, name
    assert left_out > 50  # land use far from the towns was not closed


def test_builtup_from_osm_of_the_batch_towns_as_by_the_plain_route() -> None:
    """Every town of Liechtenstein and Andorra, with the part of the extract the batch cuts for it:
    the built-up land is, to the bit, the plain closing of the land-use polygons within 210 m of
    the town, and the same from the whole country's extract."""
    left_out = 0
    for key, level in (("liechtenstein", "8"), ("andorra", "7")):
        path = shared_path(OSM_FILES[key])
        towns = mg.batch.towns_from_osm(path, admin_level=level)
        study = mg.study.load_study({"name": key, "osm": str(path), "boundaries": {"town": "<memory>"}})
        full = read_osm(path)
        for i in range(len(towns)):
            town = towns.iloc[[i]][["geometry"]]
            town_m = _geom.to_metric(town, crs=mg.crs.metric_crs(town), what="town")
            ext = inputs.extract_for(study, town_m)
            area = _geom.polygon_union(town_m, what="town")
            geoms = _land_use(ext, town_m)
            near = shapely.dwithin(geoms, area, 210.0)
            left_out += int((~near).sum())
            want = _geom.polygonal(shapely.union_all(geoms[near])).buffer(100.0).buffer(-100.0).intersection(area)
            name = towns["name"].iloc[i]
            got = inputs.builtup_from_osm(ext, town_m)
            assert list(got["kind"]) == ["建成区"] and got.crs == town_m.crs, name
            assert shapely.to_wkb(got.geometry.iloc[0]) == shapely.to_wkb(want), name
            whole = inputs.builtup_from_osm(full, town_m)
            assert shapely.to_wkb(whole.geometry.iloc[0]) == shapely.to_wkb(want), name
    assert left_out > 500  # the neighbours' land use was not closed


def test_polygon_union_reuses_a_union_only_for_the_same_polygons() -> None:
    a = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)], crs=3857)
    first = _geom.polygon_union(a, what="x")
    assert _geom.polygon_union(a.copy(), what="x") is first  # the same polygons: the union made before
    moved = a.copy()
    moved.geometry = moved.geometry.translate(1e-9, 0)
    other = _geom.polygon_union(moved, what="x")
    assert other is not first and other.bounds[0] == 1e-9
    flipped = _geom.polygon_union(a.iloc[::-1], what="x")  # the order is part of the key
    assert flipped is not first and flipped.equals(first)
    # a repaired row warns each time, and the repaired polygons give the union of the plain route
    bow = gpd.GeoDataFrame(geometry=[shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])], crs=3857)
    for _ in range(2):
        with pytest.warns(mg.RepairWarning):
            got = _geom.polygon_union(bow, what="x")
    with pytest.warns(mg.RepairWarning):
        fixed, _ = _geom.valid_polygons(bow, what="x")
    assert shapely.to_wkb(got) == shapely.to_wkb(_geom.polygonal(shapely.union_all(fixed)))
