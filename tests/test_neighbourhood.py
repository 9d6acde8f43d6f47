"""邻里中心: per community (inside or within 500 m) and by walking time, against shapely and networkx."""

from __future__ import annotations

import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import access, batch, neighbourhood
from mtown_geo import crs as _crs
from mtown_geo.sources import osm

from .conftest import OSM_FILES, shared_path

CRS = "EPSG:4549"


def test_communities_by_hand() -> None:
    zones = gpd.GeoDataFrame(
        {"name": ["甲社区", "乙社区", "丙社区"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000), shapely.box(5000, 0, 6000, 1000)],
        crs=CRS,
    )
    centres = gpd.GeoDataFrame(geometry=[shapely.Point(500, 500), shapely.Point(2300, 500)], crs=CRS)
    z = neighbourhood.zones(zones, centres, dist_m=500)
    assert z["n_inside"].tolist() == [1, 0, 0]
    assert z["dist_m"].tolist() == pytest.approx([0.0, 300.0, 2700.0])
    assert z["covered"].tolist() == [True, True, False]
    assert not neighbourhood.zones(zones, centres, dist_m=200)["covered"].iloc[1]
    with pytest.raises(mg.InputError, match="column"):
        neighbourhood.zones(zones, centres, name_col="名称")


@pytest.fixture(scope="module")
def triesenberg(tmp_path_factory):
    path = shared_path(OSM_FILES["liechtenstein"])
    ext = osm.read_osm(path)
    towns = batch.towns_from_osm(path, admin_level="8")
    town = towns[towns["name"] == "Triesenberg"]
    metric = _crs.metric_crs(town)
    town_m = town.to_crs(metric)
    built = mg.pipeline.inputs.builtup_from_osm(ext, town_m)
    # two communities: the built-up area's west and east halves
    b = built.total_bounds
    mid = (b[0] + b[2]) / 2
    geom = built.union_all()
    zones = gpd.GeoDataFrame(
        {"名称": ["西社区", "东社区"]},
        geometry=[geom.intersection(shapely.box(b[0], b[1], mid, b[3])), geom.intersection(shapely.box(mid, b[1], b[2], b[3]))],
        crs=metric,
    )
    zfile = tmp_path_factory.mktemp("zones") / "zones.geojson"
    zones.to_file(zfile, driver="GeoJSON")
    st = mg.load_study(
        {
            "name": "Triesenberg",
            "boundaries": {"town": "<memory>"},
            "osm": str(path),
            "demand": {"cell_m": 100, "weight": "area"},
            "circles": [],
            "zones": {"file": str(zfile), "name_col": "名称"},
            "siting": {"enabled": False},
            "tasks": {"streets": False, "greenspace": False, "chargers": False, "transit": False, "villages": False},
            "outputs": {"maps": False, "static_maps": False, "rasters": False, "isochrones": False, "geopackage": False},
        }
    ).with_data(town=town_m, builtup=built, osm=ext)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.MtownGeoWarning)
        r = mg.run(st)
    return r, built, zones


@pytest.mark.slow  # Triesenberg from the Liechtenstein extract
def test_triesenberg_communities_against_shapely(triesenberg) -> None:
    r, _, zones = triesenberg
    centres = r.layers["neighbourhood_centres"]
    assert len(centres) >= 1 and "Gemeindesaal Triesenberg" in set(centres["name"])
    t = r.tables["neighbourhood_zones"].set_index("zone")
    for name, geom in zip(zones["名称"], zones.geometry, strict=True):
        d = min(geom.distance(c) for c in centres.geometry)
        assert t.loc[name, "dist_m"] == pytest.approx(d, abs=1e-6)
        assert bool(t.loc[name, "covered"]) == (d <= 500.0)
    row = r.tables["tasks"].set_index("key").loc["centre_zones"]
    assert row["value"] == pytest.approx(100 * t["covered"].mean())
    assert row["denominator"] == "社区 communities: 2"


@pytest.mark.slow  # Triesenberg from the Liechtenstein extract
def test_triesenberg_walking_coverage_against_networkx(triesenberg) -> None:
    r, built, _ = triesenberg
    net = r.networks["walk"]
    centres = r.layers["neighbourhood_centres"]
    g = net.to_networkx().reverse(copy=True)
    g.add_node("S")
    walk_in = 1.0 / (net.access_speed_kmh * 1000 / 60)
    for _, s in access.point_costs(net, centres, weight="time", towards=True).iterrows():
        for n0, c0 in ((s["node_u"], s["cost_u"]), (s["node_v"], s["cost_v"])):
            c = c0 + s["snap_dist_m"] * walk_in
            if np.isfinite(c) and (not g.has_edge("S", int(n0)) or g["S"][int(n0)]["time_min"] > c):
                g.add_edge("S", int(n0), time_min=c)
    dist = nx.single_source_dijkstra_path_length(g, "S", weight="time_min")
    cells = mg.demand.grid(built.to_crs(net.crs), cell_m=100)
    att = access.point_costs(net, cells, weight="time", towards=False)
    tt = (
        np.minimum(
            att["cost_u"].to_numpy() + np.array([dist.get(int(n), np.inf) for n in att["node_u"]]),
            att["cost_v"].to_numpy() + np.array([dist.get(int(n), np.inf) for n in att["node_v"]]),
        )
        + att["snap_dist_m"].to_numpy() * walk_in
    )
    tt = np.where(att["ok"].to_numpy(), tt, np.inf)
    w = cells["area_m2"].to_numpy()
    rows = r.tables["tasks"].set_index("key")
    for key, minutes in (("centre_5min", 5.0), ("centre_15min", 15.0)):
        share = 100 * w[tt <= minutes + 1e-9].sum() / w.sum()
        assert rows.loc[key, "value"] >= share - 1e-6  # the engine also walks a cell's own edge straight to a centre on it
        assert rows.loc[key, "value"] == pytest.approx(share, abs=0.5)
    assert rows.loc["centre_15min", "value"] > rows.loc["centre_5min", "value"] > 0
    assert "建成区面积" in rows.loc["centre_5min", "denominator"]
