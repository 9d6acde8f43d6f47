"""Village road connectivity: the road test per edge, edge-filtered searches against networkx, statuses by hand."""

from __future__ import annotations

import itertools
import math
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import access, villages
from mtown_geo import crs as _crs
from mtown_geo.sources import osm

from .conftest import OSM_FILES, assert_same_frames, shared_path

CRS = "EPSG:4549"
PROFILE = mg.standards.load()
RULES = PROFILE.tasks.village_roads


# -- the road test ------------------------------------------------------------------------------------


def _attrs(rows: list[dict]) -> pd.DataFrame:
    cols = {c: [r.get(c) for r in rows] for c in villages.EDGE_COLUMNS}
    return pd.DataFrame(cols)


def test_edge_status_by_hand() -> None:
    rows = [
        {"highway": "residential", "lanes": 2.0, "surface": "asphalt"},  # two lanes, paved
        {"highway": "residential", "lanes": 1.0, "surface": "asphalt"},  # one lane
        {"highway": "unclassified", "width_m": 6.5, "surface": "concrete"},  # wide enough
        {"highway": "unclassified", "width_m": 4.0},  # too narrow
        {"highway": "residential"},  # nothing tagged
        {"highway": "tertiary"},  # assumed two-lane and paved (plains)
        {"highway": "secondary", "lanes": 2.0, "surface": "gravel"},  # unpaved
        {"highway": "track", "lanes": 2.0},  # never a highway
        {"highway": "primary", "lanes": 1.0, "oneway": "yes"},  # one carriageway of a dual road
        {"highway": "unclassified", "grade_cn": 3.0, "surface": "asphalt"},  # tagged 三级
        {"highway": "residential", "lanes": 2.0, "surface": "ground"},
        {"highway": "residential", "lanes": 2.0, "surface": "cobblestone"},  # in neither surface list
    ]
    st = villages.edge_status(_attrs(rows), RULES.two_lane)
    assert st["status"].tolist() == [
        "pass", "fail", "pass", "fail", "unknown", "pass", "fail", "fail", "pass", "pass", "fail", "unknown",
    ]  # fmt: skip
    assert st["reason"].tolist()[:5] == ["", "lanes=1", "", "width=4 m", "no lanes/width tag (residential); no surface tag"]
    assert st["reason"][6] == "surface=gravel" and st["reason"][7] == "highway=track"
    # in a mountain county a tertiary road is not assumed to be two-lane
    assert villages.edge_status(_attrs(rows), RULES.two_lane, mountain=True)["status"][5] == "unknown"
    # grade 3 needs 6.5 m: 6.0 m two-lane roads fail it, secondary is assumed, tertiary unknown
    g3 = villages.edge_status(
        _attrs(
            [{"highway": "unclassified", "width_m": 6.0, "surface": "asphalt"}, {"highway": "secondary"}, {"highway": "tertiary"}]
        ),
        RULES.grade3,
        mountain=True,
    )
    assert g3["status"].tolist() == ["fail", "pass", "unknown"]


def _status_of_one_road(row: dict, test, mountain: bool) -> tuple[str, str]:
    """The road test of one edge, written row by row from the rules (the reference route)."""
    h, lanes, width, grade = row["highway"], row["lanes"], row["width_m"], row["grade_cn"]
    surface, track = row["surface"], row["tracktype"]
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    num = lambda v: float("nan") if missing(v) else float(v)  # noqa: E731
    lanes, width, grade = num(lanes), num(width), num(grade)
    oneway = str(row["oneway"]).lower() in {"yes", "true", "1", "-1", "reverse"}
    assumed = h in test.assume_highway and not (mountain and test.unknown_in_mountains and h in test.unknown_in_mountains)
    lanes_ok = lanes >= test.min_lanes or (oneway and lanes >= 1 and h in test.assume_highway)
    lanes_bad = lanes < test.min_lanes and not lanes_ok
    if lanes_ok or width >= test.min_width_m or grade <= test.max_grade_cn:
        size, size_why = "pass", ""
    elif lanes_bad or width < test.min_width_m:
        size, size_why = "fail", f"lanes={lanes:g}" if lanes_bad else f"width={width:g} m"
    else:
        size, size_why = "unknown", f"no lanes/width tag ({h})"
    if size == "unknown" and assumed:
        size, size_why = "pass", ""
    paved = surface in test.paved_surfaces
    by_surface = surface in test.unpaved_surfaces
    by_track = not paved and not by_surface and not missing(track) and track != "grade1"
    surf = "fail" if by_surface or by_track else ("pass" if paved else "unknown")
    if surf == "unknown" and missing(surface) and missing(track) and h in test.assume_paved_highway:
        surf = "pass"
    surf_why = f"surface={surface}" if by_surface else (f"tracktype={track}" if by_track else "")
    if surf == "unknown":
        surf_why = f"surface={surface} (not in the paved/unpaved lists)" if isinstance(surface, str) else "no surface tag"
    if missing(h) or h in test.never_highway:
        return "fail", f"highway={h}"
    rank = {"pass": 0, "unknown": 1, "fail": 2}
    worst = size if rank[size] >= rank[surf] else surf
    if worst == "pass":
        return "pass", ""
    return worst, "; ".join(w for s, w in ((size, size_why), (surf, surf_why)) if s == worst and w)


def test_edge_status_of_every_andorran_road_equals_the_rules_road_by_road() -> None:
    """Every drive edge of Andorra, both road tests, plains and mountains: statuses and reasons
    equal a road-by-road reading of the rules."""
    ext = osm.read_osm(shared_path(OSM_FILES["andorra"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        net = mg.network.from_osm(ext, mode="drive")
    attrs = villages.edge_attributes(net, osm.road_attributes(ext.ways))
    rows = attrs.astype(object).where(attrs.notna(), None).to_dict(orient="records")
    seen: set[str] = set()
    for test in (RULES.two_lane, RULES.grade3):
        for mountain in (False, True):
            got = villages.edge_status(attrs, test, mountain=mountain)
            want = [_status_of_one_road(r, test, mountain) for r in rows]
            assert list(zip(got["status"], got["reason"], strict=True)) == want
            seen |= {s for s, _ in want}
    assert len(rows) > 5000 and seen == {"pass", "unknown", "fail"}


def test_road_attributes_parse_osm_values() -> None:
    ways = pd.DataFrame(
        {
            "osm_id": [1, 2, 3, 4, 5],
            "highway": ["primary"] * 5,
            "lanes": ["2", "2;3", "two", None, "1"],
            "width": ["6 m", None, "7,5", "20'", "x"],
            "width:carriageway": [None, "6.5", None, None, None],
            "highway:CN": ["3", None, "二级公路", None, "x"],
            "ref": ["S206", "G320;S101", "X123", "Y1", "乡道"],
        }
    )
    a = osm.road_attributes(ways)
    np.testing.assert_allclose(a["lanes"], [2, 2, np.nan, np.nan, 1])
    np.testing.assert_allclose(a["width_m"], [6.0, 6.5, 7.5, 20 * 0.3048, np.nan])
    np.testing.assert_allclose(a["grade_cn"], [3, np.nan, 2, np.nan, np.nan])
    assert a["ref_class"].tolist() == ["S", "G", "X", "Y", None]


# -- a hand-made town ----------------------------------------------------------------------------------


def _network(segments: list[tuple[tuple[float, float], tuple[float, float], int, str]]) -> mg.Network:
    """A drive network of straight roads cut into 100 m edges; each road an OSM way id and class."""
    g = nx.MultiDiGraph(crs=CRS)
    ids: dict[tuple[float, float], int] = {}

    def node(p: tuple[float, float]) -> int:
        if p not in ids:
            ids[p] = len(ids)
            g.add_node(ids[p], x=p[0], y=p[1])
        return ids[p]

    for a, b, osm_id, hw in segments:
        n = max(1, round(math.dist(a, b) / 100))
        pts = [(a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n) for k in range(n + 1)]
        for p, q in itertools.pairwise(pts):
            for u, v in ((p, q), (q, p)):
                g.add_edge(node(u), node(v), length=math.dist(p, q), highway=hw, osmid=osm_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        return mg.network.from_graph(g, mode="drive", crs=CRS)


@pytest.fixture(scope="module")
def town() -> tuple[mg.Network, pd.DataFrame]:
    #  seat (0,0) ──A 1000 m, two lanes──▶ P (1000,0) ──B 1000 m, one lane── V1 (2000,0)
    #                                         │ C 1000 m, untagged residential
    #                                         Q (1000,1000) ──D 500 m, two lanes── (1500,1000)
    net = _network(
        [
            ((0, 0), (1000, 0), 1, "residential"),
            ((1000, 0), (2000, 0), 2, "residential"),
            ((1000, 0), (1000, 1000), 3, "residential"),
            ((1000, 1000), (1500, 1000), 4, "residential"),
        ]
    )
    roads = pd.DataFrame(
        {
            "osm_id": [1, 2, 3, 4],
            "highway": ["residential"] * 4,
            "name": ["甲路", "乙路", "丙路", "丁路"],
            "lanes": [2.0, 1.0, np.nan, 2.0],
            "width_m": [np.nan] * 4,
            "surface": ["asphalt", "asphalt", None, "asphalt"],
            "tracktype": [None] * 4,
            "grade_cn": [np.nan] * 4,
            "oneway": [None] * 4,
            "ref_class": [None] * 4,
        }
    )
    return net, roads


def _points(xy: list[tuple[float, float]], names: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": names}, geometry=[shapely.Point(p) for p in xy], crs=CRS)


def test_hand_made_town_statuses(town) -> None:
    net, roads = town
    seat = _points([(0, 0)], ["镇政府"])
    vil = _points([(2000, 30), (1000, 1000), (300, 100), (1000, 400), (1500, 1050)], ["甲村", "乙村", "丙村", "丁村", "戊村"])
    r = villages.assess(net, roads, vil, seat, profile=PROFILE)
    t = r.villages.set_index("name")
    # 甲村: only the one-lane road B leads there; 丙村 lies on A
    assert t.loc["甲村", "status"] == "fail" and t.loc["丙村", "status"] == "pass"
    # 乙村 and 丁村 depend on C, which has no lane tag; 戊村 on D, which is two-lane but reached over C
    assert t.loc["乙村", "status"] == "unknown" and t.loc["丁村", "status"] == "unknown" and t.loc["戊村", "status"] == "unknown"
    # weak: a two-lane road within 200 m
    assert t["weak_status"].to_dict() == {"甲村": "fail", "乙村": "pass", "丙村": "pass", "丁村": "unknown", "戊村": "pass"}
    # the weakest link of 甲村 is road B (lanes=1): 1000 m less the 300 m allowed at the village end
    assert t.loc["甲村", "weak_link_road"] == "乙路" and t.loc["甲村", "weak_link_reason"] == "lanes=1"
    assert t.loc["甲村", "weak_link_m"] == pytest.approx(700.0)
    assert t.loc["甲村", "path_km"] == pytest.approx(2.0)
    assert t.loc["甲村", "fail_km"] == pytest.approx(0.7)
    assert t.loc["乙村", "weak_link_road"] == "丙路" and t.loc["乙村", "weak_link_status"] == "unknown"
    assert r.n_villages == 5 and r.rate == pytest.approx(1 / 5) and r.weak_rate == pytest.approx(3 / 5)
    links = r.layers["village_road_links"]
    assert set(links["road"]) == {"乙路", "丙路"}
    assert r.grade3 is None and "not given" in r.grade3_why  # no county: the mountain rule is not applied


def test_longer_allowance_at_the_village_end_passes(town) -> None:
    net, roads = town
    attrs = villages.edge_attributes(net, roads)
    status = villages.edge_status(attrs, RULES.two_lane)
    seat = _points([(0, 0)], ["镇政府"])
    vil = _points([(1000, 400)], ["丁村"])
    kw = {"seat_end_m": 0.0, "weak_dist_m": 200.0, "attrs": attrs}
    assert villages.connect(net, status, vil, seat, village_end_m=300.0, **kw)[0]["status"].iloc[0] == "unknown"
    assert villages.connect(net, status, vil, seat, village_end_m=400.0, **kw)[0]["status"].iloc[0] == "pass"


def test_mountain_rule(town) -> None:
    net, roads = town
    roads = roads.assign(ref_class=[None, None, None, "S"], highway=["secondary", "residential", "residential", "secondary"])
    seat = _points([(0, 0)], ["镇政府"])
    r = villages.assess(net, roads, _points([], []), seat, county="淳安县", profile=PROFILE)
    assert r.mountain is True
    # the 省道 D is reached only over C (untagged residential): unknown; with C tagged secondary: pass
    assert r.grade3 == "unknown"
    roads2 = roads.assign(highway=["secondary", "residential", "secondary", "secondary"])
    assert villages.assess(net, roads2, _points([], []), seat, county="淳安", profile=PROFILE).grade3 == "pass"
    roads3 = roads.assign(width_m=[np.nan, np.nan, 4.0, np.nan])
    assert villages.assess(net, roads3, _points([], []), seat, county="淳安县", profile=PROFILE).grade3 == "fail"
    assert villages.assess(net, roads, _points([], []), seat, county="德清县", profile=PROFILE).grade3 is None


# -- the engine's edge-filtered search against networkx ------------------------------------------------


def _nx_graph(net: mg.Network, mask: np.ndarray, weight: str) -> nx.DiGraph:
    e = net.edges
    g = nx.DiGraph()
    g.add_nodes_from(range(net.n_nodes))
    cost = e["length_m"].to_numpy() if weight == "length" else None
    for i, (u, v, tf, tb) in enumerate(zip(e["u"], e["v"], e["time_min"], e["time_rev_min"], strict=True)):
        if not mask[i]:
            continue
        for a, b, t in ((u, v, tf), (v, u, tb)):
            if np.isfinite(t):
                w = cost[i] if cost is not None else t
                if not g.has_edge(a, b) or g[a][b]["w"] > w:
                    g.add_edge(a, b, w=w)
    return g


@pytest.fixture(scope="module")
def triesenberg():
    path = shared_path(OSM_FILES["liechtenstein"])
    ext = osm.read_osm(path)
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    town = towns[towns["name"] == "Triesenberg"]
    metric = _crs.metric_crs(town)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        net = mg.network.from_osm(ext, mode="drive", boundary=town, buffer_m=1000, crs=metric)
    f = ext.features
    is_v = f["tags"].map(lambda t: t.get("place") in ("village", "hamlet")).to_numpy()
    vil = f[is_v].to_crs(metric)
    vil = vil[vil.intersects(town.to_crs(metric).union_all()).to_numpy()][["name", "geometry"]].reset_index(drop=True)
    seat = _points([], []).set_crs(metric, allow_override=True)
    gov = f[f["name"].fillna("").str.contains("Gemeindeverwaltung Triesenberg")]
    seat = gpd.GeoDataFrame({"name": gov["name"].to_numpy()}, geometry=gov.geometry.to_numpy(), crs=4326).to_crs(metric)
    return net, osm.road_attributes(ext.ways), vil, seat


def test_search_matches_networkx_with_an_edge_filter(triesenberg) -> None:
    net, roads, _, _ = triesenberg
    status = villages.edge_status(villages.edge_attributes(net, roads), RULES.two_lane)
    mask = (status["status"] == "pass").to_numpy()
    sources = [0, net.n_nodes // 2]
    for weight in ("length", "time"):
        tree = access.search(net, sources, weight=weight, edge_mask=mask, towards=True)
        ref = nx.multi_source_dijkstra_path_length(_nx_graph(net, mask, weight).reverse(copy=True), set(sources), weight="w")
        expected = np.full(net.n_nodes, np.inf)
        for k, d in ref.items():
            expected[k] = d
        np.testing.assert_allclose(tree.dist, expected, rtol=1e-9)
        # every path runs on allowed edges and adds up to its cost
        reached = np.flatnonzero(np.isfinite(tree.dist))
        for node in reached[:: max(1, len(reached) // 25)]:
            edges = tree.path_edges(node)
            assert mask[edges].all()
            c = net.edges["length_m" if weight == "length" else "time_min"].to_numpy()[edges]
            if weight == "time":  # a hop may run v → u
                back = net.edges["v"].to_numpy()[edges] == tree.path(node)[:-1]
                c = np.where(back, net.edges["time_rev_min"].to_numpy()[edges], c)
            assert c.sum() == pytest.approx(tree.dist[node], rel=1e-9, abs=1e-9)


def test_triesenberg_statuses_against_networkx(triesenberg) -> None:
    """Strict statuses recomputed with networkx: the qualifying subgraph, the seat and village allowances."""
    net, roads, vil, seat = triesenberg
    r = villages.assess(net, roads, vil, seat, profile=PROFILE)
    attrs = villages.edge_attributes(net, roads)
    st = villages.edge_status(attrs, RULES.two_lane)["status"].to_numpy()
    full = _nx_graph(net, np.ones(net.n_edges, bool), "length")
    pc = access.point_costs(net, seat, weight="length", towards=True).iloc[0]
    # the seat zone: nodes within seat_end_m of the seat over any road
    d_seat: dict[int, float] = {}
    for n0, c0 in ((pc["node_u"], pc["cost_u"]), (pc["node_v"], pc["cost_v"])):
        if np.isfinite(c0):
            for k, d in nx.single_source_dijkstra_path_length(full.reverse(copy=True), int(n0), weight="w").items():
                d_seat[k] = min(d_seat.get(k, np.inf), d + c0)
    zone = {k for k, d in d_seat.items() if d <= RULES.seat_end_m}
    att = access.point_costs(net, vil, weight="length", towards=False)
    for label, ok in (("pass", st == "pass"), ("unknown", (st == "pass") | (st == "unknown"))):
        core = set(nx.multi_source_dijkstra_path_length(_nx_graph(net, ok, "length").reverse(copy=True), zone, weight="w"))
        near = nx.multi_source_dijkstra_path_length(full.reverse(copy=True), core, cutoff=RULES.village_end_m, weight="w")
        for k in range(len(vil)):
            a = att.iloc[k]
            cost = min(a["cost_u"] + near.get(int(a["node_u"]), np.inf), a["cost_v"] + near.get(int(a["node_v"]), np.inf))
            got = r.villages["status"].iloc[k]
            if label == "pass":
                assert (got == "pass") == (bool(a["ok"]) and cost <= RULES.village_end_m), vil["name"].iloc[k]
            elif got != "pass":
                expect = "unknown" if (bool(a["ok"]) and cost <= RULES.village_end_m) or not a["ok"] else "fail"
                assert got == expect, vil["name"].iloc[k]
    assert r.n_pass >= 3 and r.n_unknown >= 3
    # the fastest path's length equals networkx's shortest time path from the village's node
    timed = _nx_graph(net, np.ones(net.n_edges, bool), "time")
    k = int(np.flatnonzero(r.villages["status"].to_numpy() != "pass")[0])
    assert r.villages["path_km"].iloc[k] > 0
    seat_t = access.point_costs(net, seat, weight="time", towards=True).iloc[0]
    tree = access.search(
        net, [seat_t["node_u"], seat_t["node_v"]], source_cost=[seat_t["cost_u"], seat_t["cost_v"]], weight="time", towards=True
    )
    a = access.point_costs(net, vil.iloc[[k]], weight="time", towards=False).iloc[0]
    best = min(a["cost_u"] + tree.dist[int(a["node_u"])], a["cost_v"] + tree.dist[int(a["node_v"])])
    ref = min(
        c0 + nx.shortest_path_length(timed, int(n0), int(t0), weight="w") + ct
        for n0, c0 in ((a["node_u"], a["cost_u"]), (a["node_v"], a["cost_v"]))
        for t0, ct in ((seat_t["node_u"], seat_t["cost_u"]), (seat_t["node_v"], seat_t["cost_v"]))
        if np.isfinite(c0) and np.isfinite(ct) and nx.has_path(timed, int(n0), int(t0))
    )
    assert best == pytest.approx(ref, rel=1e-9)


def test_town_seat_prefers_the_named_government(town) -> None:
    built = gpd.GeoDataFrame(geometry=[shapely.box(-100, -100, 2100, 1100)], crs=CRS)
    cand = _points([(500, 0), (900, 0), (5000, 5000)], ["某某村村委会", "某某镇人民政府", "某某镇人民政府(旧址)"])
    seat, how = villages.town_seat(cand, built, profile=PROFILE)
    assert seat["name"].iloc[0] == "某某镇人民政府" and "named" in how
    seat2, how2 = villages.town_seat(cand.iloc[[0]], built, profile=PROFILE)
    assert "centre" in how2 and built.union_all().contains(seat2.geometry.iloc[0])


def test_a_seat_far_from_any_road_still_anchors_the_paths(town) -> None:
    """A built-up centre in a park (1 km from the nearest road) is attached to that road, not refused."""
    net, roads = town
    vil = _points([(2000, 30), (300, 100)], ["甲村", "丙村"])
    near = villages.assess(net, roads, vil, _points([(0, 0)], ["镇政府"]), profile=PROFILE).villages
    far = villages.assess(net, roads, vil, _points([(0, -1000)], ["建成区中心"]), profile=PROFILE).villages
    assert far["status"].tolist() == near["status"].tolist() == ["fail", "pass"]


def _plain_road_status_layer(net: mg.Network, status: pd.DataFrame, attrs: pd.DataFrame) -> gpd.GeoDataFrame:
    """The road-status layer by a pandas groupby and the general line merge (the plain route)."""
    ids = net.edges["osm_id"]
    df = pd.DataFrame(
        {
            "osm_id": ids.to_numpy(),
            "status": status["status"].to_numpy(),
            "reason": status["reason"].to_numpy(),
            "geometry": np.asarray(net.edges.geometry.values, dtype=object),
        }
    )
    df["osm_id"] = df["osm_id"].fillna(-1)
    groups = df.groupby(["osm_id", "status", "reason"], sort=False)
    number = groups.ngroup().to_numpy()
    keys = groups.size().index.to_frame(index=False)
    geoms = mg._geom.merged_lines_by_group(df["geometry"].to_numpy(), number.astype(np.intp), len(keys))
    first = attrs.assign(osm_id=ids.fillna(-1).to_numpy()).drop_duplicates("osm_id").set_index("osm_id")
    return gpd.GeoDataFrame(
        {
            "osm_id": keys["osm_id"].to_numpy(),
            "name": first["name"].reindex(keys["osm_id"]).to_numpy(dtype=object),
            "highway": first["highway"].reindex(keys["osm_id"]).to_numpy(dtype=object),
            "status": keys["status"].to_numpy(),
            "reason": keys["reason"].to_numpy(),
            "length_m": shapely.length(geoms),
        },
        geometry=geoms,
        crs=net.crs,
    )


def test_road_status_layer_equals_the_groupby_route(triesenberg) -> None:
    """The road-status layer, its groups numbered by factorised keys and its lines merged from
    their chained edges, is to the bit the layer of a pandas groupby and the general merge."""
    net, roads, _, _ = triesenberg
    attrs = villages.edge_attributes(net, roads)
    status = villages.edge_status(attrs, RULES.two_lane)
    got = villages._road_status_layer(net, status, attrs)
    want = _plain_road_status_layer(net, status, attrs)
    assert len(got) > 300 and got["status"].nunique() == 3
    assert (shapely.get_num_coordinates(got.geometry.to_numpy()) > 2).sum() > 100  # lines of several edges
    assert_same_frames(got, want)


def test_village_roads_parse_only_the_networks_ways() -> None:
    """The task parses the attributes of the network's ways only: the edges get the same attributes."""
    from mtown_geo.pipeline import tasks

    path = shared_path(OSM_FILES["liechtenstein"])
    ext = osm.read_osm(path)
    towns = mg.batch.towns_from_osm(path, admin_level="8")
    town = towns[towns["name"] == "Vaduz"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        net = mg.network.from_osm(ext, mode="drive", boundary=town, buffer_m=500, crs=_crs.metric_crs(town))
    ways = tasks._network_ways(ext.ways, net)
    assert len(ways) < 0.5 * len(ext.ways)
    got = villages.edge_attributes(net, osm.road_attributes(ways))
    want = villages.edge_attributes(net, osm.road_attributes(ext.ways))
    assert got["lanes"].notna().sum() > 50
    assert_same_frames(got, want)


def test_status_judged_once_per_way_equals_every_edge_judged(triesenberg) -> None:
    """The statuses judged once per way and road class, then given to the way's edges, are to the
    bit those of every edge judged on its own, for both road tests, in and out of the mountains."""
    net, roads, _, _ = triesenberg
    attrs = villages.edge_attributes(net, roads)
    assert net.n_edges > 5 * attrs.drop_duplicates().shape[0]  # many edges per way
    for test, mountain in itertools.product((RULES.two_lane, RULES.grade3), (False, True)):
        got = villages._status_by_way(net, attrs, test, mountain=mountain)
        assert_same_frames(got, villages.edge_status(attrs, test, mountain=mountain))
    assert set(got["status"]) == {"pass", "unknown", "fail"}


def test_weak_status_equals_the_nearest_line_route(triesenberg) -> None:
    """The weak test by box-near lines equals the nearest passing (else unknown) line of an
    STRtree over each kind, for the villages and for points all over the network."""
    net, roads, vil, _ = triesenberg
    st = villages.edge_status(villages.edge_attributes(net, roads), RULES.two_lane)["status"].to_numpy()
    ok, maybe = st == "pass", (st == "pass") | (st == "unknown")
    lines = np.asarray(net.edges.geometry.values, dtype=object)
    nodes = np.asarray(net.nodes.geometry.values, dtype=object)
    far = shapely.points(shapely.get_coordinates(nodes[::7]) + np.array([137.0, -91.0]))
    for pts in (np.asarray(vil.geometry.representative_point().values, dtype=object), far):
        for dist_m in (0.0, 30.0, 150.0, 800.0):
            want = np.full(len(pts), "fail", dtype=object)
            for label, mask in (("unknown", maybe), ("pass", ok)):
                _, d = shapely.STRtree(lines[mask]).query_nearest(pts, return_distance=True, all_matches=False)
                want[d <= dist_m + 1e-9] = label
            got = villages._weak_status(lines, pts, ok, maybe, dist_m)
            assert got.tolist() == want.tolist()
            if dist_m == 150.0 and pts is far:
                assert {"pass", "unknown", "fail"} <= set(got)


def test_villages_that_all_pass_skip_the_wider_search_with_the_same_answers(triesenberg) -> None:
    """Villages reached over passing roads are judged without the passing-or-unknown search:
    their rows are those of the whole town's run."""
    net, roads, vil, seat = triesenberg
    whole = villages.assess(net, roads, vil, seat, profile=PROFILE).villages
    passing = np.flatnonzero(whole["status"].to_numpy() == "pass")
    assert 0 < len(passing) < len(vil)
    part = villages.assess(net, roads, vil.iloc[passing], seat, profile=PROFILE).villages
    cols = ["name", "status", "weak_status", "snap_dist_m", "path_km", "fail_km", "unknown_km"]
    assert_same_frames(part[cols], whole.iloc[passing][cols])
    st = villages.edge_status(villages.edge_attributes(net, roads), RULES.two_lane)["status"].to_numpy()
    calls: list[int] = []
    real = access.search

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(access, "search", counted)
        att = access.point_costs(net, vil.iloc[passing], weight="length", towards=False)
        zone = villages._seat_zone(net, villages._seat_costs(net, seat, "length"), RULES.seat_end_m)
        calls.clear()
        out, _ = villages._reach_status(net, zone, st == "pass", st != "fail", att, RULES.village_end_m)
    assert out.tolist() == ["pass"] * len(passing) and len(calls) == 2  # the passing search and its end allowance
