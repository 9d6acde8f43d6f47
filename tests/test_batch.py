"""Batches of real towns on a local Dask cluster: faults, resumption, and the summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg
from mtown_geo import batch

from .conftest import OSM_FILES, shared_path

STUDY = {
    "demand": {"cell_m": 150},
    "circles": ["15min"],
    "outputs": {"maps": False, "static_maps": False, "rasters": False, "tiles": False},
}


@pytest.fixture(scope="module")
def liechtenstein():
    path = shared_path(OSM_FILES["liechtenstein"])
    towns = batch.towns_from_osm(path, admin_level="8")
    return path, towns


def test_towns_from_osm(liechtenstein):
    _, towns = liechtenstein
    assert len(towns) == 11  # the 11 municipalities
    assert {"Vaduz", "Schaan", "Balzers", "Planken"} <= set(towns["name"])
    assert towns.geometry.is_valid.all()
    area_km2 = towns.to_crs(mg.crs.metric_crs(towns)).area.sum() / 1e6
    assert 150 < area_km2 < 170  # Liechtenstein is 160 km²


@pytest.fixture(scope="module")
def first_batch(liechtenstein, tmp_path_factory):
    path, towns = liechtenstein
    six = towns[towns["name"].isin(["Planken", "Gamprin", "Schellenberg", "Ruggell", "Mauren"])].copy()
    # a deliberately broken town: a self-intersecting "bow-tie" boundary
    x0, y0, x1, y1 = six.total_bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    broken = six.iloc[[0]].assign(name="Broken", code="bad", geometry=[bowtie])
    layer = pd.concat([six, broken], ignore_index=True)
    out = tmp_path_factory.mktemp("batch")
    summary = batch.run_batch(layer, osm=path, out=out, study=STUDY, n_workers=2)
    return layer, out, summary


def test_batch_runs_and_isolates_a_broken_town(first_batch):
    layer, out, summary = first_batch
    assert len(summary) == len(layer) == 6
    bad = summary[summary["name"] == "Broken"].iloc[0]
    assert bad["status"] == "failed" and "not a valid polygon" in bad["error"]
    good = summary[summary["name"] != "Broken"]
    assert (good["status"] == "done").all()
    assert (out / "summary.csv").exists() and (out / "summary.xlsx").exists()


def test_summary_equals_the_per_town_results(first_batch):
    _, out, summary = first_batch
    for _, row in summary[summary["status"] == "done"].iterrows():
        data = json.loads((out / row["folder"] / "indicators.json").read_text(encoding="utf-8"))
        nine = next(r for r in data["indicators"] if r["row"] == 9)
        assert row["row9_value"] == pytest.approx(nine["value"])
        assert row["row9_status"] == nine["status"]


def test_a_town_equals_its_own_study_run(first_batch, liechtenstein):
    """The batch's number for a town equals a direct run on the same town and extract."""
    layer, _, summary = first_batch
    path, _ = liechtenstein
    town = layer[layer["name"] == "Planken"]
    metric = mg.crs.metric_crs(town)
    ext = mg.sources.read_osm(path)
    study = mg.study.load_study({**STUDY, "name": "Planken", "osm": str(path), "boundaries": {"town": "<memory>"}})
    from mtown_geo.batch import _builtup_from_osm

    built = _builtup_from_osm(ext, town.to_crs(metric), metric)
    direct = mg.run(study.with_data(town=town.to_crs(metric), builtup=built))
    d = direct.indicators.set_index(direct.indicators["row"].astype(str))
    got = summary.set_index("name").loc["Planken", "row9_value"]
    assert got == pytest.approx(d.loc["9", "value"])


def test_resumed_batch_redoes_nothing(first_batch, liechtenstein):
    layer, out, summary = first_batch
    path, _ = liechtenstein
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/manifest.json")}
    again = batch.run_batch(layer, osm=path, out=out, study=STUDY, n_workers=2)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/manifest.json")} == stamps
    done = again[again["status"] == "done"]
    assert done["resumed"].all()
    np.testing.assert_allclose(
        done["row9_value"].to_numpy(float), summary.loc[summary["status"] == "done", "row9_value"].to_numpy(float)
    )
    # the broken town is tried again (and fails again)
    assert again.set_index("name").loc["Broken", "status"] == "failed"


def test_bad_inputs(tmp_path, liechtenstein):
    path, towns = liechtenstein
    with pytest.raises(mg.DataNotFoundError):
        batch.run_batch(towns, osm=tmp_path / "none.osm.pbf", out=tmp_path)
    with pytest.raises(mg.StudyError, match="yaer"):
        batch.run_batch(towns, osm=path, out=tmp_path, study={"yaer": 2025})
