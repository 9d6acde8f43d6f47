"""The engine: attachment to edges, multi-source search, diagnostics and errors."""

from __future__ import annotations

import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import access

from .conftest import OSM_FILES, shared_path


def _offset_point(net: mg.Network, edge: int, frac: float, offset_m: float) -> shapely.Point:
    """A point ``frac`` along an edge and ``offset_m`` metres off it, perpendicular."""
    geom = net.edges.geometry.iloc[edge]
    (x0, y0), (x1, y1) = geom.coords[0], geom.coords[-1]
    dx, dy = x1 - x0, y1 - y0
    n = np.hypot(dx, dy)
    return shapely.Point(x0 + frac * dx - dy / n * offset_m, y0 + frac * dy + dx / n * offset_m)


def _main_nodes(net: mg.Network) -> gpd.GeoSeries:
    """Nodes of the network's largest connected piece."""
    return net.nodes.geometry[net.component == 0]


def _long_edges(net: mg.Network, k: int, min_m: float = 60.0) -> np.ndarray:
    comp0 = net.component[net.edges["u"].to_numpy()] == 0
    long = np.flatnonzero(comp0 & (net.edges["length_m"].to_numpy() > min_m))
    return long[:k]


def test_mid_edge_attachment_matches_hand_calculation(karhula_walk):
    net = karhula_walk
    e_o, e_f = _long_edges(net, 200)[[10, 150]]
    origin = _offset_point(net, e_o, 0.3, 12.0)
    facility = _offset_point(net, e_f, 0.6, 20.0)
    fac = gpd.GeoDataFrame({"category": ["x"]}, geometry=[facility], crs=net.crs)
    org = gpd.GeoDataFrame(geometry=[origin], crs=net.crs)
    got = mg.access.travel_times(net, fac, org, max_time_min=120)["x"].iloc[0]

    # by hand: walk 12 m to the origin's edge, along it to either end, through the network
    # (networkx), along the facility's edge from either end, 20 m to the facility
    speed = 4.0 * 1000 / 60  # metres per minute
    G = net.to_networkx()
    eo, ef = net.edges.iloc[e_o], net.edges.iloc[e_f]
    ends_o = {eo.u: 0.3 * eo.time_min, eo.v: 0.7 * eo.time_min}
    ends_f = {ef.u: 0.6 * ef.time_min, ef.v: 0.4 * ef.time_min}
    best = np.inf
    for a, ta in ends_o.items():
        dist = nx.single_source_dijkstra_path_length(G, a, weight="time_min")
        for b, tb in ends_f.items():
            best = min(best, ta + dist.get(b, np.inf) + tb)
    want = 12.0 / speed + best + 20.0 / speed
    assert np.isfinite(want)
    assert got == pytest.approx(want, rel=1e-9)


def test_origin_and_facility_on_the_same_edge(karhula_walk):
    net = karhula_walk
    e = int(_long_edges(net, 1)[0])
    fac = gpd.GeoDataFrame({"category": ["x"]}, geometry=[_offset_point(net, e, 0.8, 5.0)], crs=net.crs)
    org = gpd.GeoDataFrame(geometry=[_offset_point(net, e, 0.2, 5.0)], crs=net.crs)
    got = mg.access.travel_times(net, fac, org, max_time_min=60)["x"].iloc[0]
    speed = 4.0 * 1000 / 60
    want = 5.0 / speed + 0.6 * net.edges["time_min"].iloc[e] + 5.0 / speed
    assert got == pytest.approx(want, rel=1e-9)


def test_times_beyond_the_limit_are_inf(karhula_walk):
    net = karhula_walk
    fac = gpd.GeoDataFrame({"category": ["x"]}, geometry=[_main_nodes(net).iloc[0]], crs=net.crs)
    org = gpd.GeoDataFrame(geometry=net.nodes.geometry.iloc[:500].to_numpy(), crs=net.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        short = mg.access.travel_times(net, fac, org, max_time_min=3)["x"]
        long = mg.access.travel_times(net, fac, org, max_time_min=300)["x"]
    assert (short[np.isfinite(short)] <= 3).all()
    both = np.isfinite(short)
    np.testing.assert_allclose(short[both], long[both])
    assert (long[~both] > 3).all()


def test_polygon_facility_is_reached_through_its_boundary(karhula_walk):
    """A park polygon is reached at the nearest place its edge meets a road, not at its centroid."""
    net = karhula_walk
    e = int(_long_edges(net, 1, min_m=120.0)[0])
    mid = _offset_point(net, e, 0.5, 0.0)
    park = mid.buffer(40.0)  # a round park straddling the street
    fac = gpd.GeoDataFrame({"category": ["park"]}, geometry=[park], crs=net.crs)
    org = gpd.GeoDataFrame(geometry=[_offset_point(net, e, 0.5, 0.0)], crs=net.crs)
    t = mg.access.travel_times(net, fac, org)["park"].iloc[0]
    speed = 4.0 * 1000 / 60
    # the street crosses the boundary 40 m from the origin (or a shorter way exists)
    assert t <= 40.0 / speed + 1e-9


def test_category_without_facilities_is_inf_with_a_warning(karhula_walk):
    net = karhula_walk
    fac = gpd.GeoDataFrame({"category": ["a"]}, geometry=[_main_nodes(net).iloc[0]], crs=net.crs)
    org = gpd.GeoDataFrame(geometry=net.nodes.geometry.iloc[:5].to_numpy(), crs=net.crs)
    with pytest.warns(mg.EmptyCategoryWarning, match="'kindergarten'"):
        t = mg.access.travel_times(net, fac, org, categories=["a", "kindergarten"])
    assert list(t.columns) == ["a", "kindergarten"]
    assert np.isinf(t["kindergarten"]).all()


def test_empty_facility_layer_is_an_error(karhula_walk):
    empty = gpd.GeoDataFrame({"category": []}, geometry=[], crs=karhula_walk.crs)
    org = gpd.GeoDataFrame(geometry=karhula_walk.nodes.geometry.iloc[:5].to_numpy(), crs=karhula_walk.crs)
    with pytest.raises(mg.InputError, match="facility layer is empty"):
        mg.access.travel_times(karhula_walk, empty, org)
    with pytest.raises(ValueError):  # InputError is also a ValueError
        mg.access.travel_times(karhula_walk, empty, org)


def test_layers_without_crs_are_refused(karhula_walk):
    fac = gpd.GeoDataFrame({"category": ["a"]}, geometry=[_main_nodes(karhula_walk).iloc[0]])
    org = gpd.GeoDataFrame(geometry=karhula_walk.nodes.geometry.iloc[:5].to_numpy(), crs=karhula_walk.crs)
    with pytest.raises(mg.CRSError, match="no CRS"):
        mg.access.travel_times(karhula_walk, fac, org)


def test_far_facilities_are_listed_and_warned_not_dropped_silently(karhula_walk):
    net = karhula_walk
    near = _main_nodes(net).iloc[0]
    far = shapely.Point(near.x + 5000, near.y + 5000)
    fac = gpd.GeoDataFrame({"category": ["a", "a"], "name": ["near", "far away"]}, geometry=[near, far], crs=net.crs)
    with pytest.warns(mg.SnapWarning, match="far away"):
        r = mg.access.reach(net, fac)
    diag = r.facility_diagnostics()
    assert list(diag["status"]) == ["ok", "too_far"]
    assert diag["snap_dist_m"].iloc[1] > 4000


def test_geographic_inputs_are_reprojected_once(karhula_walk):
    """Facilities and origins in lon/lat give the same times as in the network CRS."""
    net = karhula_walk
    fac = gpd.GeoDataFrame({"category": ["a"]}, geometry=_main_nodes(net).iloc[[3]].to_numpy(), crs=net.crs)
    org = gpd.GeoDataFrame(geometry=net.nodes.geometry.iloc[100:130].to_numpy(), crs=net.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        a = mg.access.travel_times(net, fac, org)
        b = mg.access.travel_times(net, fac.to_crs(4326), org.to_crs(4326))
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-6)


def test_nearest_facility_labels(karhula_walk):
    net = karhula_walk
    nodes = _main_nodes(net)
    fac = gpd.GeoDataFrame({"category": ["a", "a"]}, geometry=nodes.iloc[[0, 400]].to_numpy(), crs=net.crs)
    org = gpd.GeoDataFrame(geometry=nodes.iloc[[0, 400]].to_numpy(), crs=net.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        r = mg.access.reach(net, fac, max_time_min=500)
        near = r.at(org, nearest=True)["a"].tolist()
        times = r.at(org)["a"].tolist()
    assert near == [0, 1]
    assert times == [0.0, 0.0]


def test_input_index_is_kept(karhula_walk):
    net = karhula_walk
    fac = gpd.GeoDataFrame({"category": ["a"]}, geometry=_main_nodes(net).iloc[[3]].to_numpy(), crs=net.crs)
    idx = pd.Index(["p", "q", "r"], name="unit")
    org = gpd.GeoDataFrame(geometry=net.nodes.geometry.iloc[[5, 6, 7]].to_numpy(), crs=net.crs, index=idx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.SnapWarning)
        t = mg.access.travel_times(net, fac, org)
    assert t.index.equals(idx)


def test_snap_equals_the_nearest_edge_by_exhaustive_search(demo_osm):
    """snap against shapely distances to every edge: same edge (the lowest position of equals),
    same distance and position along it; a network built from arrays makes no edge geometry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.DisconnectedNetworkWarning)
        net = mg.network.from_osm(demo_osm, mode="walk")
    rng = np.random.default_rng(11)
    xy_nodes = net.nodes[["x", "y"]].to_numpy()
    (x0, y0), (x1, y1) = xy_nodes.min(axis=0), xy_nodes.max(axis=0)
    xy = np.concatenate(
        [
            rng.uniform([x0 - 400, y0 - 400], [x1 + 400, y1 + 400], size=(150, 2)),
            xy_nodes[rng.choice(len(xy_nodes), 60, replace=False)],  # on nodes: ties between the edges there
            xy_nodes[rng.choice(len(xy_nodes), 60, replace=False)] + rng.normal(0.0, 4.0, size=(60, 2)),
        ]
    )
    pts = gpd.GeoSeries(shapely.points(xy), crs=net.crs)
    got = mg.access.snap(net, pts, max_snap_dist_m=1e9)
    assert not isinstance(net.edge_table, gpd.GeoDataFrame)  # no LineString made for the snap
    lines = np.asarray(net.edges.geometry.values)
    for i, p in enumerate(shapely.points(xy)):
        d = shapely.distance(p, lines)
        best = float(d.min())
        near = np.flatnonzero(d <= best + 1e-9)
        assert got["edge"].iloc[i] == near[0], i  # ties: the lowest edge position
        assert got["snap_dist_m"].iloc[i] == pytest.approx(best, rel=1e-9, abs=1e-9)
        if len(near) == 1:
            frac = shapely.line_locate_point(lines[near[0]], p, normalized=True)
            assert got["frac"].iloc[i] == pytest.approx(frac, abs=1e-9)
    assert got["ok"].all()
    _ = net.edge_tree  # with the STRtree built, snap takes the STRtree route: the same answers to the bit
    pd.testing.assert_frame_equal(mg.access.snap(net, pts, max_snap_dist_m=1e9), got, check_exact=True)


def test_boundary_crossings_equal_an_exhaustive_search(demo_osm):
    """The places where edges cross facility outlines, found from the node coordinates without
    edge geometry, are those of every ring against every edge (shapely), by ring and edge; the
    STRtree route, once the STRtree is built, gives the same points in the same order."""
    path = mg.demo_osm_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = mg.network.from_osm(path, mode="walk")
        fac = mg.facilities.from_osm(path)
    pts, kind = mg.access._access_points(net, fac, spacing_m=25.0)
    assert not isinstance(net.edge_table, gpd.GeoDataFrame)  # no LineString made for all edges
    got = pts[kind == mg.access._KIND_CROSSING]
    assert len(got) > 20

    geoms = np.asarray(fac.to_crs(net.crs).geometry.values)
    poly = np.flatnonzero(np.isin(shapely.get_type_id(geoms), [3, 6]))
    parts, part_owner = shapely.get_parts(geoms[poly], return_index=True)
    rings = shapely.get_exterior_ring(parts)
    lines = np.asarray(net.edges.geometry.values)
    want_owner, want_pts = [], []
    for i, ring in enumerate(rings):
        for e in np.flatnonzero(shapely.intersects(ring, lines)):
            cross = shapely.get_parts(shapely.intersection(ring, lines[e]))
            cross = cross[shapely.get_type_id(cross) == 0]
            want_owner += [poly[part_owner[i]]] * len(cross)
            want_pts += list(cross)
    assert got["owner"].tolist() == want_owner
    assert shapely.equals_exact(np.asarray(got.geometry.values), np.array(want_pts), tolerance=0).all()

    _ = net.edge_tree  # the STRtree route
    pts2, kind2 = mg.access._access_points(net, fac, spacing_m=25.0)
    assert np.array_equal(kind2, kind)
    assert pts2["owner"].tolist() == pts["owner"].tolist()
    assert shapely.to_wkb(pts2.geometry.values).tolist() == shapely.to_wkb(pts.geometry.values).tolist()


def test_attachment_warnings_count_one_facility_in_the_singular():
    diag = pd.DataFrame(
        {
            "status": ["too_far"] + ["small_piece"] * 7 + ["no_geometry"] * 2,
            "category": ["school"] + ["park"] * 7 + ["market"] * 2,
            "name": ["一中"] + [f"公园{i}" for i in range(7)] + [None, "菜场"],
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mg.access.warn_statuses(diag, "walk")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3 and all(issubclass(w.category, mg.SnapWarning) for w in caught)
    far, none, small = sorted(messages, key=lambda m: ("farther" not in m, "empty" not in m))
    assert far.startswith("1 facility lies farther than the snap distance from the walk network and is not used: check")
    assert "(school:一中)" in far
    assert none.startswith("2 facilities have an empty geometry and are not used (market:row 8, market:菜场)")
    assert small.startswith("7 facilities attach only to small pieces of the walk network that are cut off from the rest")
    assert "(e.g. park:公园0, park:公园1, park:公园2, park:公园3, park:公园4)" in small


def test_attachment_diagnostics_count_as_grouping_the_snaps_by_feature(andorra_walk) -> None:
    """The diagnostics' counts, nearest distances and pieces per feature are, value for value,
    what grouping the access points' snaps by their feature gives, on Andorra's facilities
    (polygons with many access points, points, some too far or on small pieces)."""
    path = shared_path(OSM_FILES["andorra"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = mg.facilities.from_osm(path)
        att = mg.access.attach(andorra_walk, fac, max_snap_dist_m=60.0)
    got = att.diagnostics()
    snaps = att.snaps.assign(owner=att.points["owner"].to_numpy())
    g = snaps.groupby("owner")
    used = snaps[snaps["ok"]].groupby("owner")
    n = len(att.facilities)
    want = {
        "access_points": g.size().reindex(range(n), fill_value=0).to_numpy(),
        "access_points_used": used.size().reindex(range(n), fill_value=0).to_numpy(),
        "snap_dist_m": g["snap_dist_m"].min().reindex(range(n)).to_numpy(),
        "component": used["component"].min().reindex(range(n), fill_value=-1).to_numpy(),
    }
    statuses = set(got["status"])
    assert {"ok", "too_far"} <= statuses and len(got) > 500
    for col, values in want.items():
        assert got[col].dtype == values.dtype
        assert got[col].to_numpy().tobytes() == values.tobytes(), col


def _groupby_diagnostics(att: access.Attachment) -> dict[str, np.ndarray]:
    """The diagnostics of an attachment by pandas' groupby: the plain route."""
    fac = att.facilities
    snaps = att.snaps.assign(owner=att.points["owner"].to_numpy())
    g = snaps.groupby("owner")
    used = snaps[snaps["ok"]].groupby("owner")
    n = len(fac)
    return {
        "access_points": g.size().reindex(range(n), fill_value=0).to_numpy(),
        "access_points_used": used.size().reindex(range(n), fill_value=0).to_numpy(),
        "snap_dist_m": g["snap_dist_m"].min().reindex(range(n)).to_numpy(),
        "component": used["component"].min().reindex(range(n), fill_value=-1).to_numpy(),
    }


def _parish_walk_and_facilities(andorra_parishes: list) -> tuple[gpd.GeoDataFrame, mg.Network, gpd.GeoDataFrame]:
    """The first Andorran parish, its walk network and its OSM facilities (300 m around it)."""
    _, town_m, ext = andorra_parishes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = mg.network.from_osm(ext, mode="walk", boundary=town_m, buffer_m=300.0)
        fac = mg.facilities.from_osm(ext, boundary=town_m, buffer_m=300.0, crs=net.crs)
    return town_m, net, fac


def test_diagnostics_and_warnings_as_by_groupby(andorra_parishes):
    town_m, net, fac = _parish_walk_and_facilities(andorra_parishes)
    # a facility far out of the network and one without geometry: too_far and no_geometry
    far = gpd.GeoDataFrame(
        {"category": ["primary_school", "primary_school"], "name": ["far", None]},
        geometry=[shapely.Point(town_m.total_bounds[:2] - 50_000.0), shapely.Point()],
        crs=net.crs,
    )
    fac = gpd.GeoDataFrame(pd.concat([fac, far], ignore_index=True), crs=net.crs)
    att = access.attach(net, fac)
    diag = att.diagnostics()
    for col, values in _groupby_diagnostics(att).items():
        assert diag[col].dtype == values.dtype, col
        np.testing.assert_array_equal(diag[col].to_numpy(), values)
    assert {"ok", "too_far", "no_geometry", "small_piece"} <= set(diag["status"])
    # the warnings of a search: those of warn_statuses over the whole table's searched rows
    cats = sorted({*sorted(set(fac["category"]))[:6], "primary_school"})
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        r = access.reach(net, att, categories=cats, max_time_min=5.0)
    full = r.facility_diagnostics()
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        access.warn_statuses(full[full["category"].isin(cats)], net.mode)
    said = [str(w.message) for w in got if issubclass(w.category, mg.SnapWarning)]
    assert said == [str(w.message) for w in want]
    assert len(said) >= 2


def _statuses_said_row_by_row(diag: pd.DataFrame, mode: str) -> list[str]:
    """What warn_statuses says, written row by row with iterrows: the plain route."""
    out = []
    for status, (one, several) in access._STATUS_MEANING.items():
        bad = diag[diag["status"] == status]
        if len(bad):
            meaning = (one if len(bad) == 1 else several).format(mode=mode) + access._STATUS_FIX.get(status, "")
            names = ", ".join(
                f"{r.get('category', 'feature')}:{r['name'] if isinstance(r.get('name'), str) else f'row {i}'}"
                for i, r in bad.head(5).iterrows()
            )
            many = "facility" if len(bad) == 1 else "facilities"
            out.append(
                f"{len(bad)} {many} {meaning} ({'' if len(bad) <= 5 else 'e.g. '}{names}); see Reach.facility_diagnostics()"
            )
    return out


def test_warn_statuses_as_row_by_row(andorra_parishes):
    town_m, net, fac = _parish_walk_and_facilities(andorra_parishes)
    far = shapely.Point(town_m.total_bounds[:2] - 50_000.0)
    more = [fac.iloc[:3].assign(geometry=[shapely.Point()] * 3), fac.iloc[3:10].assign(geometry=[far] * 7)]
    fac = gpd.GeoDataFrame(pd.concat([fac, *more], ignore_index=True), crs=net.crs)
    diag = access.attach(net, fac).diagnostics()
    tables = [
        diag,
        diag.drop(columns=["name"]),
        diag.drop(columns=["category", "name"]),
        diag.set_axis([f"f{k}" for k in range(len(diag))]),
        diag[diag["status"] != "ok"].iloc[:4],
    ]
    for table in tables:
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            access.warn_statuses(table, "walk")
        said = [str(w.message) for w in got]
        assert said == _statuses_said_row_by_row(table, "walk")
    assert len(_statuses_said_row_by_row(diag, "walk")) == 3


def test_attach_chosen_categories_as_the_chosen_rows_attached(karhula_walk, demo_osm):
    """attach(categories=...) makes the access points of the chosen rows' geometries alone and
    numbers their owners by row in the whole layer: the same points, kinds and snaps as the
    chosen rows attached as a layer of their own, owners mapped back to the whole layer."""
    fac = mg.facilities.from_osm(demo_osm)
    fac = fac.set_index(fac.index + 1000)  # an index that is not the row positions
    cats = sorted(fac["category"].unique())[::3]
    att = access.attach(karhula_walk, fac, categories=cats)
    rows = np.flatnonzero(fac["category"].isin(cats).to_numpy())
    assert 0 < len(rows) < len(fac)
    pts, kind = access._access_points(karhula_walk, fac.reset_index(drop=True).iloc[rows], spacing_m=25.0)
    pts["owner"] = rows[pts["owner"].to_numpy()]
    assert set(kind.tolist()) >= {access._KIND_POINT, access._KIND_RING}
    pd.testing.assert_frame_equal(att.points.drop(columns="geometry"), pts.drop(columns="geometry"), check_exact=True)
    assert att.points.crs == pts.crs and att.points.geometry.to_wkb().equals(pts.geometry.to_wkb())
    np.testing.assert_array_equal(att._kind, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        pd.testing.assert_frame_equal(att.snaps, access.snap(karhula_walk, pts), check_exact=True)
    pd.testing.assert_frame_equal(att.facilities, fac.reset_index(drop=True))


def test_same_edge_pairs_as_by_merge(andorra_parishes):
    """The origin-point pairs on one edge are those of pandas' inner merge on the edge, in its
    order, on a real network (origins on a grid over the parish, points the facilities)."""
    town_m, net, fac = _parish_walk_and_facilities(andorra_parishes)
    w, s, e, n = town_m.total_bounds
    xs, ys = np.meshgrid(np.arange(w, e, 40.0), np.arange(s, n, 40.0))
    grid = gpd.GeoSeries(shapely.points(xs.ravel(), ys.ravel()), crs=net.crs)
    origins = access.snap(net, grid)
    points = access.attach(net, fac).snaps
    o, p, total = access.same_edge(net, origins, points)
    o_edge, p_edge = origins["edge"].to_numpy(), points["edge"].to_numpy()
    o_idx = np.flatnonzero((o_edge >= 0) & origins["ok"].to_numpy())
    p_idx = np.flatnonzero((p_edge >= 0) & points["ok"].to_numpy())
    pairs = pd.DataFrame({"o": o_idx, "edge": o_edge[o_idx]}).merge(pd.DataFrame({"edge": p_edge[p_idx], "p": p_idx}), on="edge")
    assert len(pairs) > 100 and pairs["edge"].duplicated().any() and pairs["o"].duplicated().any()
    np.testing.assert_array_equal(o, pairs["o"].to_numpy())
    np.testing.assert_array_equal(p, pairs["p"].to_numpy())
    assert o.dtype == pairs["o"].dtype and p.dtype == pairs["p"].dtype and len(total) == len(o)


def test_categories_present_as_by_pandas(andorra_parishes):
    """The categories a layer holds, read from its distinct values, are pandas' dropna-astype
    set of them, on real facilities and on columns of other values."""
    _, _, fac = _parish_walk_and_facilities(andorra_parishes)
    odd = [
        fac["category"].astype(object).where(fac.index % 7 != 0, None),
        pd.Series([1, "1", None, 2.5, np.nan, True, "b"], dtype=object),
        pd.Series(["b", None, "a"], dtype="str"),
    ]
    for col in (fac["category"], *odd):
        assert access._categories_present(col) == sorted(set(col.dropna().astype(str)))
    assert len(access._categories_present(fac["category"])) > 5
