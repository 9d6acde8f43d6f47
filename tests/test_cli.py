"""The command line: the demo runs on the embedded data and writes what it says."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

import mtown_geo as mg
from mtown_geo.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == mg.__version__


def test_demo_writes_tables_and_map(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--no-tiles", "--cell-m", "100"])
    assert result.exit_code == 0, result.output
    cov = pd.read_csv(out / "coverage.csv")
    profile = mg.standards.load()
    assert list(cov["category"]) == profile.circles["15min"].required
    assert cov["coverage"].between(0, 1).all()
    # categories with no facility in the demo town cover nothing; bus stops are everywhere
    assert cov.set_index("category").loc["hospital" if "hospital" in set(cov.category) else "health_station", "coverage"] == 0
    reach = pd.read_csv(out / "reach.csv")
    assert len(reach) > 50
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "OpenStreetMap contributors" in html
    assert "幼儿园" in html
    # no half-written sibling left behind
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_demo_coverage_equals_the_engine(tmp_path, demo_bounds, demo_osm):
    """The demo's coverage numbers are the area share the engine's times give."""
    import warnings

    out = tmp_path / "d"
    assert runner.invoke(app, ["demo", "--out", str(out), "--no-tiles", "--cell-m", "100"]).exit_code == 0
    cov = pd.read_csv(out / "coverage.csv").set_index("category")
    built = demo_bounds[demo_bounds["kind"] == "建成区"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = mg.network.from_osm(demo_osm, mode="walk", boundary=demo_bounds[demo_bounds["kind"] == "镇域"])
        fac = mg.facilities.from_osm(demo_osm, categories=["kindergarten"])
        units = mg.demand.grid(built.to_crs(net.crs), cell_m=100)
        t = mg.access.travel_times(net, fac, units, categories=["kindergarten"], max_time_min=30)
    share = units.loc[t["kindergarten"] <= 15, "area_m2"].sum() / units["area_m2"].sum()
    assert cov.loc["kindergarten", "coverage"] == round(share, 4)
    # the grid covers the built-up area exactly
    assert units["area_m2"].sum() == __import__("pytest").approx(built.to_crs(net.crs).area.sum())


def test_demo_boundaries_match_the_committed_file(demo_bounds):
    import geopandas as gpd

    from .conftest import ROOT

    committed = gpd.read_file(ROOT / "data" / "boundaries" / "karhula_demo.geojson")
    assert list(committed["kind"]) == list(demo_bounds["kind"])
    for a, b in zip(committed.geometry, demo_bounds.geometry, strict=True):
        assert a.symmetric_difference(b).area < 1e-9
