"""Networks from real OSM files, checked against osmnx and networkx."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo.sources.osm import WAY_TAG_KEYS

from .conftest import OSM_FILES, shared_path

MODES = ["walk", "bike", "drive"]


def _quiet_net(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        return mg.network.from_osm(path, **kw)


SLOW_FILES = {"andorra", "liechtenstein"}  # the largest extracts: the full loop only


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW_FILES else k for k in sorted(OSM_FILES)])
def test_every_shared_file_loads_for_every_mode(key):
    path = shared_path(OSM_FILES[key])
    lengths = {}
    for mode in MODES:
        try:
            net = _quiet_net(path, mode=mode)
        except mg.NetworkError as exc:
            # the Jing'an extract holds only drivable streets; nothing else may be empty
            assert key == "jingan" and mode != "drive", exc
            continue
        e = net.edges
        assert net.crs.is_projected
        assert net.n_nodes > 10 and net.n_edges >= net.n_nodes * 0.8
        assert (e["length_m"] > 0).all() and (e["time_min"] > 0).all()
        assert e["u"].max() < net.n_nodes and e["v"].max() < net.n_nodes
        # geometry lengths (projected) agree with the ground lengths within the projection's scale error
        ratio = shapely.length(e.geometry.values).sum() / e["length_m"].sum()
        assert 0.995 < ratio < 1.005, ratio
        # edges are straight segments between their end nodes
        start = shapely.get_point(e.geometry.values, 0)
        assert np.allclose(shapely.get_x(start), net.nodes["x"].to_numpy()[e["u"]])
        lengths[mode] = net.length_km
    if "walk" in lengths and "drive" in lengths:
        assert lengths["walk"] >= lengths["drive"]


def _osm_xml(src: Path, tmp_path: Path) -> Path:
    import osmium

    if src.suffix == ".bz2" or src.suffix == ".osm":
        return src
    out = tmp_path / (src.stem + ".osm")
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    return out


@pytest.mark.parametrize("key", ["guixi_bz2", "longgang", pytest.param("haidian", marks=pytest.mark.slow), "jingan"])
def test_walk_length_matches_osmnx(key, tmp_path):
    """Total walk length equals that of osmnx's own graph of the same file, filtered by the same rule."""
    import osmnx as ox

    path = shared_path(OSM_FILES[key])
    xml = _osm_xml(path, tmp_path)
    kept = ox.settings.useful_tags_way
    ox.settings.useful_tags_way = list(dict.fromkeys([*kept, *WAY_TAG_KEYS]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G = ox.graph_from_xml(xml, simplify=False, retain_all=True, bidirectional=True)
    finally:
        ox.settings.useful_tags_way = kept
    rows = []
    for u, v, d in G.edges(data=True):
        rows.append(
            {"a": min(u, v), "b": max(u, v), "osm_id": d["osmid"], "length": d["length"], **{k: d.get(k) for k in WAY_TAG_KEYS}}
        )
    df = pd.DataFrame(rows).drop_duplicates(["a", "b", "osm_id"])
    df = df[df["highway"].notna()]  # osmnx's XML reader keeps every way, boundaries and railways too
    profile = mg.standards.load()
    mask = mg.network.mode_way_mask(df, profile, "walk")
    expected_km = df.loc[mask, "length"].sum() / 1000
    net = _quiet_net(path, mode="walk")
    assert net.length_km == pytest.approx(expected_km, rel=0.02)


def _nx_times(net: mg.Network, sources: np.ndarray, targets: np.ndarray, cutoff: float) -> np.ndarray:
    G = net.to_networkx().reverse(copy=True)
    d = nx.multi_source_dijkstra_path_length(G, {int(s) for s in sources}, cutoff=cutoff, weight="time_min")
    return np.array([d.get(int(t), np.inf) for t in targets])


@pytest.mark.parametrize("fixture", [pytest.param("andorra_walk", marks=pytest.mark.slow), "guixi_walk", "karhula_walk"])
def test_travel_times_equal_networkx_on_nodes(fixture, request):
    net = request.getfixturevalue(fixture)
    rng = np.random.default_rng(7)
    origins = rng.choice(net.n_nodes, min(400, net.n_nodes), replace=False)
    fac_nodes = rng.choice(net.n_nodes, 30, replace=False)
    fac = gpd.GeoDataFrame(
        {"category": ["a"] * 10 + ["b"] * 20},
        geometry=net.nodes.geometry.to_numpy()[fac_nodes],
        crs=net.crs,
    )
    orig = gpd.GeoDataFrame(
        geometry=net.nodes.geometry.to_numpy()[origins], crs=net.crs, index=pd.Index(origins * 10, name="unit")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        got = mg.access.travel_times(net, fac, orig, max_time_min=20)
    assert list(got.columns) == ["a", "b"]
    assert got.index.equals(orig.index)
    for cat, sl in (("a", slice(0, 10)), ("b", slice(10, 30))):
        want = _nx_times(net, fac_nodes[sl], origins, 20)
        g = got[cat].to_numpy()
        assert np.array_equal(np.isinf(g), np.isinf(want))
        fin = np.isfinite(want)
        assert fin.sum() > 0
        np.testing.assert_allclose(g[fin], want[fin], rtol=1e-9, atol=1e-9)


def test_drive_network_respects_one_way_streets():
    net = _quiet_net(shared_path(OSM_FILES["jingan"]), mode="drive")
    e = net.edges
    oneway = e[e["oneway"]]
    assert len(oneway) > 10
    m = net.csr
    u, v = oneway["u"].to_numpy(), oneway["v"].to_numpy()
    two_way_pairs = set(zip(e.loc[~e["oneway"], "u"], e.loc[~e["oneway"], "v"], strict=True)) | set(
        zip(e.loc[~e["oneway"], "v"], e.loc[~e["oneway"], "u"], strict=True)
    )
    only = [
        (a, b) for a, b in zip(u, v, strict=True) if (b, a) not in two_way_pairs and (b, a) not in set(zip(u, v, strict=True))
    ]
    assert only
    for a, b in only[:50]:
        assert m[a, b] > 0
        assert m[b, a] == 0  # no stored edge back
    # speeds follow the road-class table
    prof = mg.standards.load()
    prim = e[(e["highway"] == "primary") & e["speed_kmh"].notna()]
    if len(prim):
        assert set(np.round(prim["speed_kmh"].unique(), 6)) <= {
            prof.modes["drive"].speed_by_highway_kmh["primary"],
            *np.round(prim["speed_kmh"].unique(), 6),
        }


def test_drive_oneway_changes_times_with_direction(karhula_walk):
    # on the walk network nothing is one-way
    assert not karhula_walk.directed
    assert np.all(karhula_walk.edges["time_rev_min"] == karhula_walk.edges["time_min"])


def test_boundary_clip_with_buffer(guixi_boundary):
    path = shared_path(OSM_FILES["guixi_pbf"])
    full = mg.network.from_osm(path, mode="walk")
    tight = _quiet_net(path, mode="walk", boundary=guixi_boundary, buffer_m=0)
    wide = mg.network.from_osm(path, mode="walk", boundary=guixi_boundary, buffer_m=500)
    assert tight.length_km < wide.length_km <= full.length_km
    poly = guixi_boundary.to_crs(tight.crs).union_all().buffer(1e-6)
    assert shapely.contains_xy(poly, tight.nodes["x"].to_numpy(), tight.nodes["y"].to_numpy()).all()
    assert tight.crs.to_epsg() == 4548  # CGCS2000 Gauss-Kruger CM 117E for Guixi


def test_from_graph_matches_from_osm(guixi_walk):
    """An osmnx graph of the same file gives the same network and the same times."""
    import osmnx as ox

    path = shared_path(OSM_FILES["guixi_bz2"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = ox.graph_from_xml(path, simplify=False, retain_all=True, bidirectional=True)
    # keep only what the walk filter keeps, through osmnx's own attributes
    excluded = set(mg.standards.load().networks["walk"].exclude_highway)
    drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if d.get("highway") is None or d["highway"] in excluded]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_graph(G, mode="walk")
    assert net.crs.to_epsg() == guixi_walk.crs.to_epsg()
    assert net.length_km == pytest.approx(guixi_walk.length_km, rel=0.01)
    projected = ox.project_graph(G, to_crs=net.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net2 = mg.network.from_graph(projected, mode="walk")
    assert net2.n_edges == net.n_edges
    assert net2.length_km == pytest.approx(net.length_km, rel=1e-9)


def test_with_speed_scales_times(karhula_walk):
    slow = karhula_walk.with_speed(3.0)
    ratio = slow.edges["time_min"].to_numpy() / karhula_walk.edges["time_min"].to_numpy()
    np.testing.assert_allclose(ratio, 4.0 / 3.0)
    assert karhula_walk.speed_kmh == 4.0  # the original is untouched


def test_elderly_group_speed(demo_osm):
    net = _quiet_net(demo_osm, mode="walk", group="elderly")
    assert net.speed_kmh == 3.0
    v = net.edges["length_m"] / (net.edges["time_min"] / 60) / 1000
    np.testing.assert_allclose(v, 3.0)


def test_components_are_reported_not_dropped(demo_osm):
    with pytest.warns(mg.DisconnectedNetworkWarning, match="disconnected pieces"):
        net = mg.network.from_osm(demo_osm, mode="walk")
    comps = net.components()
    assert len(comps) == net.n_components > 1
    assert comps["n_nodes"].sum() == net.n_nodes
    assert comps["length_km"].sum() == pytest.approx(net.length_km)
    assert comps["length_km"].iloc[0] == comps["length_km"].max()


def test_unknown_mode_and_missing_file(demo_osm, tmp_path):
    with pytest.raises(mg.NetworkError, match="unknown mode 'boat'"):
        mg.network.from_osm(demo_osm, mode="boat")
    with pytest.raises(mg.DataNotFoundError):
        mg.network.from_osm(tmp_path / "nowhere.osm.pbf", mode="walk")
    with pytest.raises(FileNotFoundError):  # also the built-in
        mg.network.from_osm(tmp_path / "nowhere.osm", mode="walk")


def test_boundary_outside_extract_is_an_error(demo_osm):
    far = gpd.GeoSeries([shapely.box(120.0, 30.0, 120.01, 30.01)], crs=4326)
    with pytest.raises(mg.NetworkError, match="no walk network inside the area"):
        mg.network.from_osm(demo_osm, mode="walk", boundary=far, buffer_m=0)


def test_network_refuses_geographic_crs(karhula_walk):
    nodes = karhula_walk.nodes.to_crs(4326)
    edges = karhula_walk.edges.to_crs(4326)
    with pytest.raises(mg.CRSError, match="geographic"):
        mg.Network(nodes, edges, mode="walk", speed_kmh=4.0)


def test_read_osm_bz2_and_pbf_agree():
    a = mg.sources.read_osm(shared_path(OSM_FILES["guixi_bz2"]))
    b = mg.sources.read_osm(shared_path(OSM_FILES["guixi_pbf"]))
    assert len(a.ways) == len(b.ways)
    np.testing.assert_allclose(np.sort(a.coords, axis=0), np.sort(b.coords, axis=0))


def test_edge_lengths_are_geodesic(karhula_walk):
    """Edge lengths equal the WGS 84 geodesic between their ends (pyproj.Geod)."""
    from pyproj import Geod

    net = karhula_walk
    e = net.edges
    lon = net.nodes["lon"].to_numpy()
    lat = net.nodes["lat"].to_numpy()
    _, _, d = Geod(ellps="WGS84").inv(lon[e["u"]], lat[e["u"]], lon[e["v"]], lat[e["v"]])
    np.testing.assert_allclose(e["length_m"].to_numpy(), d, rtol=1e-7, atol=1e-6)


@pytest.mark.slow
def test_place_name_without_internet_is_a_clear_error(tmp_path, monkeypatch):
    """A place name needs OpenStreetMap online; unreachable, it is an OfflineError that says what to do.

    The services are pointed at a closed local port, so the test never leaves the machine.
    """
    import osmnx as ox

    monkeypatch.setattr(ox.settings, "nominatim_url", "http://127.0.0.1:9/")
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    monkeypatch.setattr(ox.settings, "cache_folder", str(tmp_path))
    monkeypatch.setattr(ox.settings, "requests_timeout", 2)
    with pytest.raises(mg.OfflineError, match=r"\.osm\.pbf"):
        mg.network.from_osm("东门街道, 贵溪市, 江西省", mode="walk")
    with pytest.raises(ConnectionError):  # also the built-in
        mg.network.from_osm("东门街道, 贵溪市, 江西省", mode="walk")
    with pytest.raises(mg.OfflineError):
        mg.facilities.from_osm("东门街道, 贵溪市, 江西省")


# -- ways cut by the extract's edge, files cut short ------------------------------------------


def _real_residential_ways(path: Path, n: int) -> list[tuple[int, list[tuple[int, float, float]], dict[str, str]]]:
    """The first ``n`` highway=residential ways of a real file with five nodes or more, all present (pyosmium)."""
    import osmium

    out = []
    for obj in osmium.FileProcessor(str(path)).with_locations().with_filter(osmium.filter.KeyFilter("highway")):
        if (
            obj.is_way()
            and obj.tags.get("highway") == "residential"
            and len(obj.nodes) >= 5
            and all(nd.location.valid() for nd in obj.nodes)
        ):
            out.append((obj.id, [(nd.ref, nd.lon, nd.lat) for nd in obj.nodes], {t.k: t.v for t in obj.tags}))
            if len(out) == n:
                break
    return out


def _osm_file(path: Path, nodes: list[tuple[int, float, float]], ways: list[tuple[int, list[int], dict[str, str]]]) -> Path:
    """A small OSM XML file (nodes, then ways that may reference nodes it does not hold)."""
    from xml.sax.saxutils import quoteattr

    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, lon, lat in sorted(set(nodes)):
        lines.append(f'  <node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for wid, refs, tags in sorted(ways, key=lambda w: w[0]):
        lines.append(f'  <way id="{wid}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_a_way_whose_middle_node_is_missing_is_split_not_bridged(tmp_path):
    """Two real residential streets of Karhula written with a middle node left out of the file.

    The 5-node street becomes two pieces (two edges, each the geodesic between its ends); the
    3-node street keeps no two consecutive nodes, so it makes no edge at all — the reader used
    to join the nodes present into one straight edge across each gap.
    """
    from pyproj import Geod

    (wid5, nodes5, tags5), (wid3, nodes3, tags3) = _real_residential_ways(shared_path(OSM_FILES["karhula"]), 2)
    five = nodes5[:5]
    three = nodes3[:3]
    missing = {five[2][0], three[1][0]}
    present = [nd for nd in five + three if nd[0] not in missing]
    xml = _osm_file(
        tmp_path / "cut.osm",
        present,
        [(wid5, [nd[0] for nd in five], tags5), (wid3, [nd[0] for nd in three], tags3)],
    )
    ext = mg.sources.read_osm(xml, cache=False)
    assert ext.split_ways == 2
    rows = ext.ways.reset_index(drop=True)
    assert list(rows["osm_id"]) == [wid5, wid5]  # two pieces of the 5-node way; nothing of the 3-node one
    pieces = [ext.coords[a:b].tolist() for a, b in zip(rows["start"], rows["stop"], strict=True)]
    assert pieces == [[[lon, lat] for _, lon, lat in five[:2]], [[lon, lat] for _, lon, lat in five[3:]]]
    net = _quiet_net(xml, mode="walk")
    geod = Geod(ellps="WGS84")
    want = sorted(geod.inv(a[1], a[2], b[1], b[2])[2] for a, b in ((five[0], five[1]), (five[3], five[4])))
    assert net.n_edges == 2
    np.testing.assert_allclose(sorted(net.edges["length_m"]), want, rtol=1e-9)
    gap = geod.inv(three[0][1], three[0][2], three[2][1], three[2][2])[2]
    bridge = geod.inv(five[1][1], five[1][2], five[3][1], five[3][2])[2]
    assert min(gap, bridge) > 50  # what the old reader bridged with straight edges
    assert not np.isclose(net.edges["length_m"].to_numpy()[:, None], [gap, bridge], rtol=1e-6).any()


def test_ways_cut_by_a_real_extracts_edge_are_its_runs_of_present_nodes():
    """Helsinki.osm.pbf is cut by a box: every highway way missing nodes becomes exactly the runs of
    two or more consecutive nodes present, read independently with a pyosmium handler."""
    import osmium

    path = shared_path(OSM_FILES["helsinki"])

    class Runs(osmium.SimpleHandler):
        def __init__(self) -> None:
            super().__init__()
            self.runs: dict[int, list[list[tuple[float, float]]]] = {}

        def way(self, w) -> None:
            if "highway" not in w.tags or all(nd.location.valid() for nd in w.nodes):
                return
            runs, run = [], []
            for nd in w.nodes:
                if nd.location.valid():
                    run.append((nd.location.lon, nd.location.lat))
                else:
                    runs.append(run)
                    run = []
            runs.append(run)
            self.runs[w.id] = [r for r in runs if len(r) >= 2]

    h = Runs()
    h.apply_file(str(path), locations=True)
    ext = mg.sources.read_osm(path)
    assert ext.split_ways == len(h.runs) > 100
    got: dict[int, list[list[tuple[float, float]]]] = {}
    for wid, a, b in zip(ext.ways["osm_id"], ext.ways["start"], ext.ways["stop"], strict=True):
        if wid in h.runs:
            got.setdefault(int(wid), []).append([tuple(c) for c in ext.coords[a:b].tolist()])
    assert {w: r for w, r in h.runs.items() if r} == got
    # no walk edge spans a gap: each joins two nodes that are consecutive in some way of the file
    net = _quiet_net(path, mode="walk")
    consecutive = set()
    for a, b in zip(ext.ways["start"], ext.ways["stop"], strict=True):
        c = np.round(ext.coords[a:b], 7)
        consecutive |= {(tuple(p), tuple(q)) for p, q in itertools.pairwise(c)}
    lon, lat = net.nodes["lon"].to_numpy(), net.nodes["lat"].to_numpy()
    for u, v in zip(net.edges["u"], net.edges["v"], strict=True):
        p, q = (round(lon[u], 7), round(lat[u], 7)), (round(lon[v], 7), round(lat[v], 7))
        assert (p, q) in consecutive or (q, p) in consecutive


def _pbf_blocks(path: Path) -> list[int]:
    """Byte offsets where each block (blob) of a .pbf ends."""
    import struct

    data = path.read_bytes()
    ends, off = [], 0
    while off < len(data):
        (hlen,) = struct.unpack(">I", data[off : off + 4])
        head = data[off + 4 : off + 4 + hlen]
        i, size = 0, 0
        while i < len(head):  # BlobHeader: field 3 (varint) is the blob's size
            key, i = _varint(head, i)
            if key & 7 == 2:
                n, i = _varint(head, i)
                i += n
            else:
                value, i = _varint(head, i)
                if key >> 3 == 3:
                    size = value
        off += 4 + hlen + size
        ends.append(off)
    return ends


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        byte = buf[i]
        i += 1
        out |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return out, i


@pytest.mark.parametrize("key", ["helsinki", "karhula", pytest.param("andorra", marks=pytest.mark.slow)])
def test_a_pbf_cut_at_a_block_boundary_is_reported(key, tmp_path):
    """A .pbf cut after a complete block reads as a valid, smaller file: it is reported, not used silently."""
    import osmium

    path = shared_path(OSM_FILES[key])
    ends = _pbf_blocks(path)
    assert ends[-1] == path.stat().st_size
    data = path.read_bytes()
    # cut after the first data block: nodes only
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(data[: ends[1]])
    kinds = {obj.type_str() for obj in osmium.FileProcessor(str(cut))}
    assert kinds == {"n"}
    with pytest.warns(mg.IncompleteDataWarning, match="no way at all") as rec:
        ext = mg.sources.read_osm(cut)
    if key == "andorra":  # its first block's nodes lie in the middle of the country: the box check sees it too
        assert any("stop short of the bounding box" in str(w.message) for w in rec)
    with pytest.warns(mg.IncompleteDataWarning):  # again when the extract comes from the cache
        assert mg.sources.read_osm(cut) is ext
    # cut after the header: the header's box, no data
    head = tmp_path / "head.osm.pbf"
    head.write_bytes(data[: ends[0]])
    with pytest.raises(mg.InputError, match="cut short"):
        mg.sources.read_osm(head)
    # the whole file is not reported
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.IncompleteDataWarning)
        whole = mg.sources.read_osm(path)
    assert whole.header_bounds is not None and not whole.problems


def test_data_stopping_far_short_of_the_header_box_is_reported(tmp_path):
    """Karhula's western half written under the header of the whole file: the east side is 50 % short."""
    import osmium

    path = shared_path(OSM_FILES["karhula"])
    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    box = reader.header().box()
    reader.close()
    west, east = box.bottom_left.lon, box.top_right.lon
    middle = (west + east) / 2
    header = osmium.io.Header()
    header.add_box(box)
    keep_nodes: set[int] = set()
    for obj in osmium.FileProcessor(str(path), osmium.osm.NODE):
        if obj.location.valid() and obj.location.lon < middle:
            keep_nodes.add(obj.id)
    half = tmp_path / "west.osm.pbf"
    with osmium.SimpleWriter(str(half), header=header) as writer:
        for obj in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node() and obj.id in keep_nodes:
                writer.add_node(obj)
            elif obj.is_way() and all(nd.ref in keep_nodes for nd in obj.nodes):
                writer.add_way(obj)
    with pytest.warns(mg.IncompleteDataWarning, match=r"east by (4\d|5\d)%") as rec:
        ext = mg.sources.read_osm(half)
    assert len(rec) == 1 and ext.bounds[2] < middle
    np.testing.assert_allclose(ext.header_bounds, (west, box.bottom_left.lat, east, box.top_right.lat))


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW_FILES else k for k in sorted(OSM_FILES)])
def test_no_shared_file_is_reported_as_cut_short(key):
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.IncompleteDataWarning)
        ext = mg.sources.read_osm(shared_path(OSM_FILES[key]))
    assert ext.problems == ()


def test_networks_of_one_boundary_clip_as_if_each_were_built_alone(demo_osm, demo_bounds):
    """The buffered boundary is kept for the next network of the same town: each network
    (other mode, other buffer, other boundary) equals the one built with nothing kept."""
    from mtown_geo import network as netmod

    town = demo_bounds[demo_bounds["kind"] == "镇域"]
    built = demo_bounds[demo_bounds["kind"] == "建成区"]
    cases = [("walk", town, 300.0), ("drive", town, 300.0), ("walk", town, 0.0), ("walk", built, 300.0)]

    def build(mode, boundary, buffer_m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mg.MtownGeoWarning)
            return mg.network.from_osm(demo_osm, mode=mode, boundary=boundary, buffer_m=buffer_m)

    netmod._BOUNDARY_CACHE.clear()
    kept = [build(*c) for c in cases]  # later ones may reuse a polygon kept by earlier ones
    assert len(netmod._BOUNDARY_CACHE) == 3
    for case, net in zip(cases, kept, strict=True):
        netmod._BOUNDARY_CACHE.clear()
        alone = build(*case)
        pd.testing.assert_frame_equal(net.nodes, alone.nodes)
        pd.testing.assert_frame_equal(net.edges, alone.edges)
    assert len(kept[2].nodes) < len(kept[0].nodes) and len(kept[3].nodes) < len(kept[0].nodes)


def _assert_same_bits(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for col in a.columns:
        if a[col].dtype.kind == "f":
            assert np.array_equal(a[col].to_numpy().view(np.int64), b[col].to_numpy().view(np.int64)), col


def _shared_and_plain(ext, **kw):
    """A network built with the extract's vertices shared between modes and its text columns
    made per way, and the plain one."""
    from mtown_geo import network as netmod

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        try:
            netmod._SHARED_VERTICES = netmod._WAY_LEVEL_TEXT = netmod._WAY_TABLE = False
            plain = mg.network.from_osm(ext, **kw)
        finally:
            netmod._SHARED_VERTICES = netmod._WAY_LEVEL_TEXT = netmod._WAY_TABLE = True
        shared = mg.network.from_osm(ext, **kw)
    return shared, plain


@pytest.mark.parametrize(("key", "level"), [("andorra", "7"), ("liechtenstein", "8"), ("karhula", None), ("helsinki", None)])
def test_modes_sharing_an_extracts_vertices_equal_each_built_alone(key, level):
    """Every mode's network of a town's cut of the extract, its vertices numbered, projected and
    clipped once for all modes, equals to the bit the network that numbers its own."""
    from mtown_geo.sources import osm as osmmod

    path = shared_path(OSM_FILES[key])
    ext = mg.sources.read_osm(path)
    if level is not None:
        towns = mg.batch.towns_from_osm(path, admin_level=level)
        areas = [towns.iloc[[i]] for i in range(0, len(towns), max(1, len(towns) // 3))]
    else:
        w, s, e, n = ext.coords[:, 0].min(), ext.coords[:, 1].min(), ext.coords[:, 0].max(), ext.coords[:, 1].max()
        cx, cy, dx, dy = (w + e) / 2, (s + n) / 2, (e - w) / 6, (n - s) / 6
        areas = [gpd.GeoDataFrame(geometry=[shapely.box(cx - dx, cy - dy, cx + dx, cy + dy)], crs=4326)]
    for area in areas:
        w, s, e, n = area.total_bounds
        sub = ext.subset((w - 0.02, s - 0.02, e + 0.02, n + 0.02))
        for mode in ("walk", "ebike", "drive"):
            shared, plain = _shared_and_plain(sub, mode=mode, boundary=area, buffer_m=1000.0)
            assert shared.crs == plain.crs
            _assert_same_bits(shared._node_table, plain._node_table)
            _assert_same_bits(shared._edge_table, plain._edge_table)
        assert isinstance(sub.cache.get(osmmod._VERTICES_KEY), osmmod._Vertices)
    # the whole file, no boundary, the CRS chosen from the vertices
    shared, plain = _shared_and_plain(ext, mode="drive")
    assert shared.crs == plain.crs
    _assert_same_bits(shared._node_table, plain._node_table)
    _assert_same_bits(shared._edge_table, plain._edge_table)


def test_vertices_not_shared_when_one_key_holds_two_positions():
    """Two vertices rounding to the same 1e-7 degree but not the same bits: each mode numbers
    its own (the first of the mode's ways gives the position), as without sharing."""
    import dataclasses

    from mtown_geo.sources import osm as osmmod

    ext = mg.sources.read_osm(shared_path(OSM_FILES["karhula"]))
    coords = ext.coords.copy()
    key = osmmod._vertex_key(coords)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    dup = int(np.flatnonzero(key == key[first[np.argmax(counts)]])[-1])
    coords[dup, 0] = np.nextafter(coords[dup, 0], np.inf)
    moved = dataclasses.replace(ext, coords=coords, cache={})
    assert moved._distinct_vertices() is None
    shared, plain = _shared_and_plain(moved, mode="walk")
    _assert_same_bits(shared._node_table, plain._node_table)
    _assert_same_bits(shared._edge_table, plain._edge_table)


def test_way_texts_read_once_per_value_as_by_pandas(andorra_parishes):
    """Posted speeds and one-way flags, worked out once per distinct tag text, are those of
    pandas' map / fillna-astype-lower over every way of a real extract (and of ways whose tags
    hold values that are no text)."""
    from mtown_geo import network

    _, _, ext = andorra_parishes[0]
    ways = ext.ways
    assert ways["maxspeed"].notna().sum() > 20 and ways["oneway"].notna().sum() > 20
    odd = ways.iloc[:6].copy()
    odd["maxspeed"] = pd.Series([50, 30.0, None, "50", np.nan, True], index=odd.index, dtype=object)
    odd["oneway"] = pd.Series([1, "YES", None, -1, "-1", np.nan], index=odd.index, dtype=object)
    for frame in (ways, odd):
        want_speed = frame["maxspeed"].map(network._parse_maxspeed).to_numpy(dtype=float)
        got_speed = network._per_text(frame["maxspeed"], network._parse_maxspeed, np.nan, float, network._maxspeeds_kmh)
        assert got_speed.dtype == want_speed.dtype
        np.testing.assert_array_equal(got_speed, want_speed)
        ow = frame["oneway"].fillna("").astype(str).str.lower().to_numpy()
        junction = frame["junction"].fillna("").astype(str).to_numpy()
        forward = np.isin(ow, list(network._ONEWAY_FORWARD)) | (np.isin(junction, ["roundabout", "circular"]) & (ow != "no"))
        backward = np.isin(ow, list(network._ONEWAY_BACKWARD))
        got_oneway, got_backward = network._oneway_flags(frame)
        np.testing.assert_array_equal(got_oneway, forward | backward)
        np.testing.assert_array_equal(got_backward, backward)
    assert network._oneway_flags(ways)[0].sum() > 20
    speeds = mg.network.way_speeds_kmh(ways, mg.standards.resolve(None), "drive")
    assert np.isfinite(speeds).all()


def test_pieces_report_states_the_components_table(andorra_parishes, caplog):
    """The report of a network's disconnected pieces gives the figures of Network.components()."""
    import logging

    from mtown_geo import network as netmod

    seen = 0
    for _, town_m, ext in andorra_parishes:
        for mode in ("walk", "ebike", "drive"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", mg.MtownGeoWarning)
                net = mg.network.from_osm(ext, mode=mode, boundary=town_m, crs=town_m.crs)
            comps = net.components()
            caplog.clear()
            with warnings.catch_warnings(record=True) as rec, caplog.at_level(logging.INFO, logger="mtown_geo.network"):
                warnings.simplefilter("always")
                netmod._report_components(net)
            said = [str(w.message) for w in rec] + [r.getMessage() for r in caplog.records]
            if len(comps) <= 1:
                assert said == []
                continue
            rest_km = float(comps["length_km"].iloc[1:].sum())
            assert said == [
                f"the {mode} network has {len(comps)} disconnected pieces: the largest holds "
                f"{comps['length_km'].iloc[0]:.1f} km, the {len(comps) - 1} others {rest_km:.2f} km "
                f"({rest_km / net.length_km:.1%}). Points attached to a small piece reach only what lies on it; see "
                "Network.components() and Network.component"
            ]
            assert bool(rec) == (rest_km / net.length_km > 0.05)
            seen += 1
    assert seen >= 2


def test_edge_text_taken_from_the_extracts_column_as_inferred_per_mode(andorra_parishes):
    """Edge text taken from the extract's whole text column equals the text inferred from a
    mode's own ways: for ways with and without names, and for edges whose ways have none."""
    from mtown_geo import network as netmod

    _, _, ext = andorra_parishes[0]
    table = netmod._WayTable(ext.ways)
    names = table.ways["name"].to_numpy()
    whole = table.text("name")
    assert whole is not None and whole[1].any() and not whole[1].all()
    rng = np.random.default_rng(5)
    named = np.flatnonzero(pd.notna(names))
    unnamed = np.flatnonzero(pd.isna(names))
    for rows in (np.sort(rng.choice(len(names), 300, replace=False)), unnamed[:50], np.sort(np.r_[unnamed[:40], named[:3]])):
        values = names[rows]
        for edge_way in (rng.integers(0, len(rows), 500), np.flatnonzero(pd.isna(values))[:20]):
            got = netmod._edge_column(values, edge_way, (*whole, rows))
            plain = netmod._edge_column(values, edge_way)
            assert type(got) is type(plain)
            a = pd.Series(got)
            b = pd.Series(plain)
            pd.testing.assert_series_equal(a, b, check_exact=True)
            # and as the edge table infers it from the edges' own values
            pd.testing.assert_series_equal(a, pd.Series(values[edge_way]), check_exact=True)
    assert table.text("osm_id") is None


def test_way_mask_from_distinct_values_as_pandas_isin(andorra_parishes):
    """Membership answered once per distinct value of a way column equals pandas' isin, for
    every column and for the mode filters of every mode; values that are not text go to pandas."""
    from mtown_geo import network as netmod

    prof = mg.standards.resolve(None)
    for _, _, ext in andorra_parishes:
        ways = ext.ways.copy()
        ways.loc[ways.index[:7], "service"] = [1, 2.5, "1", True, None, np.nan, "driveway"]  # not all text
        table = netmod._WayTable(ways)
        for col in ways.columns:
            if ways[col].dtype != object:
                continue
            seen = ways[col].dropna().astype(str).unique().tolist()
            for values in (seen[:3], seen[::2], ["no such value"], [], ["1", "yes"], [1, "yes"]):
                got = table.isin(col, values)
                assert got.dtype == bool and np.array_equal(got, ways[col].isin(values).to_numpy()), (col, values)
        for mode in prof.modes:
            got = netmod._way_mask(table.isin, ways.columns, len(ways), prof, mode)
            assert np.array_equal(got, netmod.mode_way_mask(ways, prof, mode)), mode
            assert 0 < got.sum() < len(ways)
