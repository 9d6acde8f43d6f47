"""城乡公交一体化: stop merging, 500 m / 300 m coverage, villages within reach, served stops."""

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
from mtown_geo import transit
from mtown_geo.sources import osm

from .conftest import OSM_FILES, shared_path

CRS = "EPSG:4549"


def _pts(xy: list[tuple[float, float]], **cols: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=[shapely.Point(x, y) for x, y in xy], crs=CRS)


def test_the_two_sides_of_a_road_are_one_stop() -> None:
    stops = _pts([(0, 0), (0, 30), (500, 0), (500, 45)], name=["东站", "东站", "西站", None], served=[True, False, False, False])
    m = transit.merge_stops(stops, crs=CRS)
    assert len(m) == 3  # 30 m apart merge, 45 m apart do not (profile: 40 m)
    first = m.iloc[0]
    assert first["n_features"] == 2 and first["name"] == "东站" and bool(first["served"])
    assert first.geometry.equals(shapely.Point(0, 15))
    assert len(transit.merge_stops(stops, merge_dist_m=50, crs=CRS)) == 2


def test_one_stop_in_a_square_covers_a_circle() -> None:
    square = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1000, 1000)], crs=CRS)
    c = transit.area_coverage(_pts([(500, 500)]), square, radius_m=500)
    assert c.rate == pytest.approx(math.pi / 4, rel=5e-4)  # π r² / (2r)²; the circle's 128-gon is 0.04 % short
    assert c.covered_m2 + c.gaps.area == pytest.approx(1e6)
    # a stop at a corner: a quarter circle
    c2 = transit.area_coverage(_pts([(0, 0)]), square, radius_m=300)
    assert c2.covered_m2 == pytest.approx(math.pi * 300**2 / 4, rel=5e-4)
    # no stop: nothing covered (the study reports "data missing", not this 0)
    assert transit.area_coverage(_pts([]), square, radius_m=500).rate == 0.0


def test_villages_within_reach_by_hand() -> None:
    villages = _pts([(0, 0), (1900, 0), (2100, 0)], name=["甲村", "乙村", "丙村"])
    vr = transit.village_reach(villages, _pts([(0, 400)]), dists_m=[2000, 500])
    assert vr["dist_m"].to_numpy() == pytest.approx([400, math.hypot(1900, 400), math.hypot(2100, 400)])
    assert vr["within_2000m"].tolist() == [True, True, False]
    assert vr["within_500m"].tolist() == [True, False, False]
    none = transit.village_reach(villages, _pts([]), dists_m=[2000])
    assert np.isinf(none["dist_m"]).all() and not none["within_2000m"].any()


def test_network_coverage_walks_the_streets(karhula_walk: mg.Network) -> None:
    """Along the streets never covers more than the straight-line circle of the same radius."""
    units = mg.demand.grid(mg.demo_boundaries("karhula").to_crs(karhula_walk.crs), cell_m=50)
    area = gpd.GeoDataFrame(geometry=[mg.demo_boundaries("karhula").to_crs(karhula_walk.crs).union_all()], crs=karhula_walk.crs)
    centre = area.union_all().centroid
    stops = gpd.GeoDataFrame(geometry=[centre], crs=karhula_walk.crs)
    walked = transit.network_coverage(karhula_walk, stops, units, dist_m=500)
    straight = transit.area_coverage(stops, area, radius_m=500).rate
    assert 0 < walked < straight
    # the same threshold as a time: 500 m at 4 km/h is 7.5 minutes
    assert transit.network_coverage(karhula_walk, stops, units, time_min=7.5) == pytest.approx(walked)
    with pytest.raises(mg.InputError, match="exactly one"):
        transit.network_coverage(karhula_walk, stops, units)


def _reference_stops(path: str) -> gpd.GeoDataFrame:
    """Stops read by pyrosm, selected by the rule text (bus_stop; platform / stop_position with bus=yes; bus station)."""
    pyrosm = pytest.importorskip("pyrosm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = pyrosm.OSM(path).get_data_by_custom_criteria(
            custom_filter={
                "highway": ["bus_stop"],
                "public_transport": ["platform", "stop_position"],
                "amenity": ["bus_station"],
            },
            filter_type="keep",
            keep_nodes=True,
            keep_ways=True,
            keep_relations=False,
        )
    tags = [json.loads(t) if isinstance(t, str) else {} for t in d["tags"]]
    for k in ("highway", "public_transport", "amenity"):
        if k not in d:
            d[k] = None
    bus = np.array([t.get("bus") == "yes" for t in tags])
    is_way_highway = (d["osm_type"] == "way").to_numpy() & d["highway"].notna().to_numpy()  # highway ways are roads, not stops
    keep = (
        (d["highway"] == "bus_stop").to_numpy()
        | (d["public_transport"].isin(["platform", "stop_position"]).to_numpy() & bus)
        | (d["amenity"] == "bus_station").to_numpy()
    ) & ~is_way_highway
    d = d[keep]
    # a way stands for the centre of its nodes, as the reader keeps it
    pts = [
        g
        if g.geom_type == "Point"
        else shapely.centroid(
            shapely.MultiPoint(
                np.asarray(g.exterior.coords if g.geom_type == "Polygon" else g.coords)[:-1]
                if g.geom_type == "Polygon"
                else np.asarray(g.coords)
            )
        )
        for g in d.geometry
    ]
    return gpd.GeoDataFrame({"osm_type": d["osm_type"].to_numpy(), "id": d["id"].to_numpy()}, geometry=pts, crs=4326)


@pytest.fixture(scope="module")
def haidian():
    path = shared_path(OSM_FILES["haidian"])
    ext = osm.read_osm(path)
    w, s, e, n = ext.bounds
    box = gpd.GeoDataFrame(geometry=[shapely.box(w, s, e, n)], crs=4326)
    metric = _crs.metric_crs(box)
    area = gpd.GeoDataFrame(geometry=[box.to_crs(metric).union_all().buffer(-400)], crs=metric)
    return path, ext, area, metric


def test_haidian_coverage_against_pyrosm_and_shapely(haidian) -> None:
    path, ext, area, metric = haidian
    rules = mg.standards.load().tasks.transit
    sel = osm.select(ext, rules.osm)
    ref = _reference_stops(str(path)).to_crs(metric)
    assert len(sel) == len(ref) > 60
    stops = transit.merge_stops(sel, crs=metric)
    # independent merge: 20 m discs that touch belong to one stop (single linkage at 40 m)
    blobs = shapely.get_parts(shapely.union_all(ref.buffer(rules.merge_dist_m / 2)))
    members = [ref[ref.within(b)] for b in blobs]
    centres = [shapely.Point(m.geometry.x.mean(), m.geometry.y.mean()) for m in members]
    assert len(stops) == len(centres) < len(ref)
    geom = area.union_all()
    for radius in (500.0, 300.0):
        expected = (
            shapely.intersection(shapely.union_all([c.buffer(radius, quad_segs=32) for c in centres]), geom).area / geom.area
        )
        got = transit.area_coverage(stops, area, radius_m=radius).rate
        assert got == pytest.approx(expected, rel=1e-9)
    assert 0.2 < transit.area_coverage(stops, area, radius_m=500).rate < 1.0


def test_haidian_served_stops_against_osmium(haidian) -> None:
    """Stops on a route=bus relation: the relation members read with osmium directly."""
    import osmium

    path, ext, _, _ = haidian
    members: set[str] = set()
    n_rel = 0
    for obj in osmium.FileProcessor(str(path)).with_filter(osmium.filter.KeyFilter("route")):
        if obj.is_relation() and obj.tags.get("type") == "route" and obj.tags.get("route") == "bus":
            n_rel += 1
            members.update(f"{'node' if m.type == 'n' else 'way'}/{m.ref}" for m in obj.members if m.type in "nw")
    assert (ext.routes["route"] == "bus").sum() == n_rel == 80
    sel = osm.select(ext, mg.standards.load().tasks.transit.osm)
    ids = [f"{t}/{i}" for t, i in zip(sel["osm_type"], sel["osm_id"], strict=True)]
    flags = transit.served(ids, ext.routes)
    assert flags is not None
    assert flags.tolist() == [i in members for i in ids]
    assert 0 < flags.sum() < len(ids)
    # an extract without bus relations: unknown, not "none served"
    assert transit.served(ids, ext.routes.iloc[0:0]) is None


def test_guixi_has_no_stop_so_coverage_is_missing(tmp_path) -> None:
    """The Guixi extract has 0 bus stops: every bus row says "data missing", none says 0 %."""
    town = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    st = {
        "name": "东门街道",
        "boundaries": {"town": str(town), "builtup": str(town)},
        "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
        "demand": {"cell_m": 100},
        "circles": ["15min"],
        "siting": {"enabled": False},
        "tasks": {"streets": False, "greenspace": False, "chargers": False, "neighbourhood": False, "villages": False},
        "outputs": {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.run(st)
    t = r.tables["tasks"].set_index("key")
    for key in ("bus_500m", "bus_300m", "bus_500m_network", "bus_stops_served"):
        assert t.loc[key, "status"] == "missing", key
        assert pd.isna(t.loc[key, "value"]), key
        assert "data missing" in t.loc[key, "note"]
    assert "建成区面积" in t.loc["bus_500m", "denominator"]
    assert any("no bus stop" in n for n in r.notes)


def test_haidian_merge_and_served_match_the_pandas_and_string_routes(haidian) -> None:
    """The merged stops' names and served flags, and served() itself, as the plain routes give them:
    pandas' groupby of the names (NaN for an unnamed stop when another has a name, None when none
    has), ``any`` per stop, and membership in a set of ``<kind>/<id>`` strings."""
    _, ext, area, metric = haidian
    sel = osm.select(ext, mg.standards.load().tasks.transit.osm)
    ids = [f"{t}/{i}" for t, i in zip(sel["osm_type"], sel["osm_id"], strict=True)]
    odd = ["node/0" + ids[0].split("/")[1], "node/-0", "relation/5", "node/--5", "way/x", "node/", "nodes", ids[0]]
    bus = ext.routes[ext.routes["route"] == "bus"]
    members = {f"{k}/{int(i)}" for col, k in (("nodes", "node"), ("ways", "way")) for ids_ in bus[col] for i in ids_}
    for some in (ids, odd):
        flags = transit.served(some, ext.routes)
        assert flags is not None and flags.tolist() == [s in members for s in some]
    names = sel["name"].to_numpy(dtype=object).copy()
    names[::3] = None  # some stops without a name
    layer = sel.assign(served=transit.served(ids, ext.routes), name=names)
    m = transit.merge_stops(layer, crs=metric)
    pts = shapely.point_on_surface(np.asarray(layer.to_crs(metric).geometry.values))
    labels, _ = mg._points.merge(shapely.get_coordinates(pts), 40.0)
    plain = pd.DataFrame({"g": labels, "name": layer["name"].to_numpy(dtype=object)}).groupby("g")["name"]
    want = plain.agg(transit._joined_names).to_numpy()
    got = m["name"].to_numpy()
    assert len(got) == len(want) and any(isinstance(w, float) for w in want)  # some stops without a name
    assert all(
        (g is w) or (g == w) or (isinstance(g, float) and isinstance(w, float) and np.isnan(g) and np.isnan(w))
        for g, w in zip(got, want, strict=True)
    )
    assert m["served"].tolist() == pd.Series(layer["served"].to_numpy()).groupby(labels).any().tolist()
    unnamed = transit.merge_stops(layer.assign(name=None), crs=metric)["name"].to_numpy()
    assert (
        unnamed.tolist()
        == pd.DataFrame({"g": labels, "name": [None] * len(labels)}).groupby("g")["name"].agg(transit._joined_names).tolist()
    )
    assert all(n is None for n in unnamed)
    # the figures without the gaps: the same as area_coverage's, to the bit
    both = transit._area_coverages(m, area, radii_m=[500.0, 300.0], gaps=[True, False])
    for radius, fast in zip((500.0, 300.0), both, strict=True):
        full = transit.area_coverage(m, area, radius_m=radius)
        assert (fast.radius_m, fast.rate, fast.covered_m2, fast.total_m2) == (radius, full.rate, full.covered_m2, full.total_m2)
        assert shapely.equals_exact(fast.covered, full.covered, tolerance=0)
    assert shapely.equals_exact(both[0].gaps, transit.area_coverage(m, area, radius_m=500.0).gaps, tolerance=0)
    assert both[1].gaps.is_empty


def test_haidian_coverage_of_a_small_area_unions_only_the_circles_that_reach_it(haidian) -> None:
    """The circles of stops farther from the area than the radius are left out of the union:
    the covered part and the gaps are those of the union of every circle, to the bit."""
    _, ext, area, metric = haidian
    stops = transit.merge_stops(osm.select(ext, mg.standards.load().tasks.transit.osm), crs=metric)
    pts = np.asarray(stops.geometry.values, dtype=object)
    middle = area.union_all().centroid
    for where, r_m in ((middle, 800.0), (middle, 1500.0), (shapely.Point(middle.x + 5e5, middle.y), 500.0)):
        small = gpd.GeoDataFrame(
            geometry=[where.buffer(r_m).union(shapely.box(where.x, where.y, where.x + 900, where.y + 300))], crs=metric
        )
        geom = small.union_all()
        for radius in (500.0, 300.0):
            kept = transit._reaching(pts, geom, radius)
            if where is middle:
                assert 0 < len(kept) < len(pts)  # some circles are left out
            else:
                assert len(kept) == len(pts)  # none reaches: all kept
            every = shapely.union_all(shapely.buffer(pts, radius, quad_segs=transit.QUAD_SEGS))
            c = transit.area_coverage(stops, small, radius_m=radius)
            assert shapely.to_wkb(c.covered) == shapely.to_wkb(shapely.intersection(geom, every))
            assert shapely.to_wkb(c.gaps) == shapely.to_wkb(shapely.difference(geom, every))
            assert c.covered_m2 == shapely.intersection(geom, every).area


def test_haidian_served_reads_each_route_table_as_it_is(haidian) -> None:
    """The members of a route table are kept for the next town of the same extract; another
    table (half the relations, a copy) gets its own, and the answers are the set route's."""
    _, ext, _, _ = haidian
    sel = osm.select(ext, mg.standards.load().tasks.transit.osm)
    ids = [f"{t}/{i}" for t, i in zip(sel["osm_type"], sel["osm_id"], strict=True)]
    bus = ext.routes[ext.routes["route"] == "bus"]

    def plain(table: pd.DataFrame) -> list[bool]:
        members = {f"{k}/{int(i)}" for col, k in (("nodes", "node"), ("ways", "way")) for ids_ in table[col] for i in ids_}
        return [s in members for s in ids]

    first = transit.served(ids, ext.routes)
    assert first is not None and first.tolist() == plain(bus)
    assert transit._route_members(ext.routes, "bus", keep=True) is transit._route_members(ext.routes, "bus", keep=True)  # kept
    half = ext.routes.iloc[: len(ext.routes) // 2]
    got = transit.served(ids, half)
    assert got is not None and got.tolist() == plain(half[half["route"] == "bus"]) != first.tolist()
    again = transit.served(ids, ext.routes.copy())
    assert again is not None and again.tolist() == first.tolist()
    assert transit.served(ids, ext.routes, route="tram") is None
    # a caller's table changed in place is read afresh
    mine = ext.routes.copy()
    assert transit.served(ids, mine) is not None
    mine["route"] = "tram"
    assert transit.served(ids, mine) is None


def test_haidian_served_by_integer_ids_equals_served_by_text(haidian) -> None:
    """The selection's stops flagged from their integer ids: served()'s flags of ``<type>/<id>``."""
    _, ext, _, _ = haidian
    sel = osm.select(ext, mg.standards.load().tasks.transit.osm)
    types, nums = sel["osm_type"].to_numpy(), sel["osm_id"].to_numpy()
    assert nums.dtype.kind == "i" and set(types) == {"node"}
    bus = ext.routes[ext.routes["route"] == "bus"]
    way_ids = np.array([int(i) for ids_ in bus["ways"] for i in ids_][:40], dtype=np.int64)
    mixed_t = np.concatenate([types, np.full(len(way_ids), "way", dtype=object), np.full(5, "relation", dtype=object)])
    mixed_n = np.concatenate([nums, way_ids, nums[:5]])
    for t, n in ((types, nums), (types[::-1], nums[::-1]), (mixed_t, mixed_n), (mixed_t[::-1], mixed_n + 1)):
        want = transit.served([f"{a}/{b}" for a, b in zip(t, n, strict=True)], ext.routes)
        got = transit._served_by_id(t, n, ext.routes)
        assert want is not None and got is not None and got.tolist() == want.tolist()
    assert 0 < transit._served_by_id(types, nums, ext.routes).sum() < len(types)  # type: ignore[union-attr]
    as_float = transit._served_by_id(types, nums.astype(float), ext.routes)  # "node/123.0" is no OSM id
    assert as_float is not None and not as_float.any()
    assert transit._served_by_id(types, nums, ext.routes.iloc[0:0]) is None
