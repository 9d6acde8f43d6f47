"""Public car chargers: which count, radius coverage, drive times, villages within 30 minutes."""

from __future__ import annotations

import json
import math
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import access, batch, chargers, transit
from mtown_geo import crs as _crs
from mtown_geo.sources import osm

from .conftest import OSM_FILES, shared_path

CRS = "EPSG:4549"


def test_stations_merge_and_keep_the_public_ones() -> None:
    pts = gpd.GeoDataFrame(
        {"name": ["站A", "站A桩", "单位内部", "站B"], "public": [True, True, False, True]},
        geometry=[shapely.Point(0, 0), shapely.Point(20, 0), shapely.Point(500, 0), shapely.Point(3000, 0)],
        crs=CRS,
    )
    st = chargers.stations(pts, crs=CRS)
    assert len(st) == 2 and st["n_features"].tolist() == [2, 1]
    assert len(chargers.stations(pts, public_only=False, crs=CRS)) == 3


def test_radius_coverage_and_count_by_hand() -> None:
    built = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2000, 2000)], crs=CRS)
    town = gpd.GeoDataFrame(geometry=[shapely.box(-1000, -1000, 3000, 3000)], crs=CRS)
    pts = gpd.GeoDataFrame({"public": [True, True]}, geometry=[shapely.Point(1000, 1000), shapely.Point(5000, 5000)], crs=CRS)
    a = chargers.assess(pts, built, town=town)
    assert a.radius_rate == pytest.approx(math.pi * 900**2 / 4e6, rel=5e-4)
    assert a.n_stations == 1 and a.n_nearby == 2  # the second lies outside the town
    assert a.drive_rate is None and any("drive" in n for n in a.notes)
    none = chargers.assess(pts.iloc[0:0], built, town=town)
    assert none.radius_rate is None and none.n_stations == 0  # data missing, not 0 %


def _reference_chargers(path: str) -> gpd.GeoDataFrame:
    """Car chargers read by pyrosm and filtered by the rule text."""
    pyrosm = pytest.importorskip("pyrosm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = pyrosm.OSM(path).get_data_by_custom_criteria(
            custom_filter={"amenity": ["charging_station"], "man_made": ["charge_point"]},
            filter_type="keep",
            keep_nodes=True,
            keep_ways=True,
            keep_relations=False,
        )
    tags = [json.loads(t) if isinstance(t, str) else {} for t in d["tags"]]
    full = [
        {**t, **{k: v for k, v in zip(d.columns, row, strict=True) if isinstance(v, str)}}
        for t, row in zip(tags, d.itertuples(index=False), strict=True)
    ]
    car = [t.get("motorcar") == "yes" or any(k.startswith("socket:") for k in t) for t in full]
    bad = [t.get("motorcar") == "no" or t.get("bicycle") == "yes" or t.get("charging_station:type") == "lockers" for t in full]
    public = [t.get("access") not in ("private", "customers", "employees", "no", "permit") for t in full]
    keep = np.array([(not b) or c for b, c in zip(bad, car, strict=True)]) & np.array(public)
    pts = [g if g.geom_type == "Point" else g.representative_point() for g in d.geometry]
    return gpd.GeoDataFrame({"id": d["id"].to_numpy()}, geometry=pts, crs=4326)[keep]


@pytest.fixture(scope="module")
def schaan():
    path = shared_path(OSM_FILES["liechtenstein"])
    ext = osm.read_osm(path)
    towns = batch.towns_from_osm(path, admin_level="8")
    town = towns[towns["name"] == "Schaan"]
    metric = _crs.metric_crs(town)
    town_m = town.to_crs(metric)
    built = mg.pipeline.inputs.builtup_from_osm(ext, town_m)
    st = mg.load_study(
        {
            "name": "Schaan",
            "boundaries": {"town": "<memory>"},
            "osm": str(path),
            "demand": {"cell_m": 100},
            "circles": [],
            "siting": {"enabled": False},
            "tasks": {"streets": False, "greenspace": False, "neighbourhood": False, "transit": False, "villages": False},
            "outputs": {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False},
        }
    ).with_data(town=town_m, builtup=built, osm=ext)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.run(st)
    return path, town_m, built, r


def test_schaan_chargers_against_pyrosm_shapely_and_networkx(schaan) -> None:
    path, town_m, built, r = schaan
    t = r.tables["tasks"].set_index("key")
    ref = _reference_chargers(str(path)).to_crs(town_m.crs)
    # e-bike chargers (bicycle=yes) and the private one are gone: 6 public car chargers in the country
    assert len(ref) == 6
    near = ref[ref.dwithin(town_m.union_all(), 1000.0).to_numpy()]
    stations = r.layers["chargers"]
    # independent merge (touching 15 m discs) and radius coverage with shapely
    blobs = shapely.get_parts(shapely.union_all(near.buffer(15.0)))
    centres = [shapely.Point(near[near.within(b)].geometry.x.mean(), near[near.within(b)].geometry.y.mean()) for b in blobs]
    assert len(stations) == len(centres)
    inside = sum(bool(town_m.union_all().covers(c)) for c in centres)
    assert t.loc["town_charger", "value"] == inside
    geom = built.union_all()
    expected = shapely.intersection(shapely.union_all([c.buffer(900.0, quad_segs=32) for c in centres]), geom).area / geom.area
    assert t.loc["charger_radius", "value"] == pytest.approx(100 * expected, rel=1e-9)
    # the 5-minute drive share: networkx from every demand cell (the engine's attachment of points)
    net = r.networks["drive"]
    e = net.edges
    g = nx.DiGraph()
    for u, v, tf, tb in zip(e["u"], e["v"], e["time_min"], e["time_rev_min"], strict=True):
        for a, b, w in ((u, v, tf), (v, u, tb)):
            if np.isfinite(w) and (not g.has_edge(a, b) or g[a][b]["w"] > w):
                g.add_edge(a, b, w=w)
    src = access.point_costs(net, stations, weight="time", towards=True)
    rev = g.reverse(copy=True)
    rev.add_node("S")
    for _, s in src.iterrows():
        walk_in = s["snap_dist_m"] / (net.access_speed_kmh * 1000 / 60)  # the charger's own off-road leg
        for n0, c0 in ((s["node_u"], s["cost_u"] + walk_in), (s["node_v"], s["cost_v"] + walk_in)):
            if np.isfinite(c0) and (not rev.has_edge("S", int(n0)) or rev["S"][int(n0)]["w"] > c0):
                rev.add_edge("S", int(n0), w=c0)
    dist = nx.single_source_dijkstra_path_length(rev, "S", weight="w")
    cells = mg.demand.grid(built.to_crs(net.crs), cell_m=100)
    att = access.point_costs(net, cells, weight="time", towards=False)
    acc = att["snap_dist_m"].to_numpy() / (net.access_speed_kmh * 1000 / 60)
    tt = (
        np.minimum(
            att["cost_u"].to_numpy() + np.array([dist.get(int(n), np.inf) for n in att["node_u"]]),
            att["cost_v"].to_numpy() + np.array([dist.get(int(n), np.inf) for n in att["node_v"]]),
        )
        + acc
    )
    tt = np.where(att["ok"].to_numpy(), tt, np.inf)
    w = cells["area_m2"].to_numpy()
    share = w[tt <= 5.0 + 1e-9].sum() / w.sum()
    # the engine also takes a charger on a cell's own edge directly: never slower than via the nodes
    assert t.loc["charger_drive", "value"] >= 100 * share - 1e-6
    assert t.loc["charger_drive", "value"] == pytest.approx(100 * share, abs=0.5)


def test_charger_rows_name_their_denominator(schaan) -> None:
    *_, r = schaan
    t = r.tables["tasks"].set_index("key")
    assert "建成区面积" in t.loc["charger_radius", "denominator"]
    assert t.loc["town_charger", "note"].startswith(("yes", "no"))
    assert not t.loc["charger_radius", "verified"] and "UNVERIFIED" in t.loc["charger_radius", "note"]
    assert transit.QUAD_SEGS == 32


def test_schaan_one_drive_search_gives_the_times_of_two(schaan) -> None:
    """assess() reads the built-up area's 5-minute share and the villages' 30-minute times from one
    search to 30 minutes: the same figures as a search of each limit (network_coverage, minutes_to)."""
    _, town_m, built, r = schaan
    net = r.networks["drive"]
    st = r.layers["chargers"]
    units = mg.demand.grid(built.to_crs(net.crs), cell_m=100)
    # villages: the cells' centres over the whole town, some beyond 5 minutes
    grid = mg.demand.grid(town_m.to_crs(net.crs), cell_m=400)
    vil = gpd.GeoDataFrame({"name": [f"v{i}" for i in range(len(grid))]}, geometry=grid.geometry.centroid, crs=net.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        a = chargers.assess(st, built, town=town_m, units=units, drive=net, villages=vil)
        shared = transit._point_reach(net, st, max_time_min=30.0)
        for limit, origins in ((5.0, units), (2.0, units), (0.5, vil), (5.0, vil), (30.0, vil)):
            plain = transit.minutes_to(net, st, origins, max_time_min=limit)
            fast = transit._minutes_at(shared, origins, max_time_min=limit)
            assert np.array_equal(plain, fast)
            assert (limit < 1.0 or np.isfinite(plain).any()) and (limit == 30.0 or np.isinf(plain).any())
        assert a.drive_rate == transit.network_coverage(net, st, units, time_min=5.0)
        assert np.array_equal(a.villages["drive_min"].to_numpy(), transit.minutes_to(net, st, vil, max_time_min=30.0))
    with pytest.raises(mg.InputError, match="searched to 30"):
        transit._minutes_at(shared, vil, max_time_min=31.0)
