"""Batches of real towns on a local Dask cluster: faults, resumption, and the summary."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity

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


@pytest.mark.slow
def test_batch_runs_and_isolates_a_broken_town(first_batch):
    layer, out, summary = first_batch
    assert len(summary) == len(layer) == 6
    bad = summary[summary["name"] == "Broken"].iloc[0]
    assert bad["status"] == "failed" and "not a valid polygon" in bad["error"]
    good = summary[summary["name"] != "Broken"]
    assert (good["status"] == "done").all()
    assert (out / "summary.csv").exists() and (out / "summary.xlsx").exists()


@pytest.mark.slow
def test_summary_equals_the_per_town_results(first_batch):
    _, out, summary = first_batch
    for _, row in summary[summary["status"] == "done"].iterrows():
        data = json.loads((out / row["folder"] / "indicators.json").read_text(encoding="utf-8"))
        nine = next(r for r in data["indicators"] if r["row"] == 9)
        assert row["row9_value"] == pytest.approx(nine["value"])
        assert row["row9_status"] == nine["status"]


@pytest.mark.slow
def test_a_town_equals_its_own_study_run(first_batch, liechtenstein):
    """The batch's number for a town equals a direct run on the same town and extract."""
    layer, _, summary = first_batch
    path, _ = liechtenstein
    town = layer[layer["name"] == "Planken"]
    metric = mg.crs.metric_crs(town)
    ext = mg.sources.read_osm(path)
    study = mg.study.load_study({**STUDY, "name": "Planken", "osm": str(path), "boundaries": {"town": "<memory>"}})
    built = mg.pipeline.inputs.builtup_from_osm(ext, town.to_crs(metric))
    direct = mg.run(study.with_data(town=town.to_crs(metric), builtup=built))
    d = direct.indicators.set_index(direct.indicators["row"].astype(str))
    got = summary.set_index("name").loc["Planken", "row9_value"]
    assert got == pytest.approx(d.loc["9", "value"])
    # a town's values are read from its tables as iterrows and to_dict give them
    ind = direct.indicators[direct.indicators["origin"] == "computed"]
    rows = list(zip(*(batch._objects(ind[c]) for c in ("row", "value", "status")), strict=True))
    want = [(r["row"], r["value"], r["status"]) for _, r in ind.iterrows()]
    tasks = direct.tables["tasks"]
    for got_rows, want_rows in ((rows, want), (batch._records(tasks), tasks.to_dict(orient="records"))):
        assert len(got_rows) == len(want_rows) > 3
        assert [[type(v) for v in (r.values() if isinstance(r, dict) else r)] for r in got_rows] == [
            [type(v) for v in (r.values() if isinstance(r, dict) else r)] for r in want_rows
        ]
        assert repr(got_rows) == repr(want_rows)  # NaN as NaN


@pytest.mark.slow
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


# ---------------------------------------------------------------------------------------
# Town folder names: safe on every platform, unique, always inside --out
# ---------------------------------------------------------------------------------------

HOSTILE_NAMES = [".", "..", "a/b", "镇" * 320, "同名镇", "同名镇"]


def test_town_folder_names_are_safe_and_unique(tmp_path):
    names = [*HOSTILE_NAMES, "a\\b", "CON", "nul.txt", " . ", "Vaduz", "VADUZ", "x" * 300, "x" * 300 + "y", "..."]
    taken: set[str] = set()
    folders = [batch._unique_folder(batch._folder_name("", n), i, taken) for i, n in enumerate(names)]
    assert len({f.casefold() for f in folders}) == len(folders)  # unique, even where case does not count
    for folder in folders:
        assert folder.strip(".") != "" and not folder.startswith(".") and not folder.endswith((".", " "))
        assert not set(folder) & set('/\\:*?"<>|'), folder
        assert folder.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}
        assert len(folder.encode("utf-8")) <= batch.MAX_FOLDER_BYTES
        path = tmp_path / folder
        path.mkdir()  # the file system takes it (a 960-byte name would not)
        assert path.resolve().parent == tmp_path.resolve()
    long_a, long_b = folders[names.index("x" * 300)], folders[names.index("x" * 300 + "y")]
    assert long_a != long_b  # cut names keep a hash of the full name
    assert folders[names.index("镇" * 320)].startswith("镇" * 20)


@pytest.fixture(scope="module")
def hostile_batch(liechtenstein, tmp_path_factory):
    path, towns = liechtenstein
    six = towns[towns["name"].isin(["Planken", "Gamprin", "Schellenberg", "Ruggell", "Mauren", "Eschen"])].copy()
    layer = six.assign(name=HOSTILE_NAMES, code="").reset_index(drop=True)
    root = tmp_path_factory.mktemp("hostile")
    (root / "towns.gpkg").write_bytes(b"the planner's town layer")
    (root / "study.yaml").write_text("year: 2025\n", encoding="utf-8")
    out = root / "batch"
    out.mkdir()
    (out / "README.txt").write_text("batch of 2025", encoding="utf-8")
    summary = batch.run_batch(layer, osm=path, out=out, study=STUDY, n_workers=2, builtup="town")
    return root, out, summary


@pytest.mark.slow
def test_batch_with_dot_slash_long_and_duplicate_names_keeps_every_file(hostile_batch):
    root, out, summary = hostile_batch
    assert list(summary["status"]) == ["done"] * len(HOSTILE_NAMES), summary[["name", "error"]]
    assert list(summary["name"]) == HOSTILE_NAMES
    folders = list(summary["folder"])
    assert len(set(folders)) == len(folders)
    for folder in folders:
        town = out / folder
        assert town.resolve().parent == out.resolve()
        assert (town / "manifest.json").exists() and (town / "indicators.json").exists()
    # nothing outside the towns' own folders was replaced
    assert (root / "towns.gpkg").read_bytes() == b"the planner's town layer"
    assert (root / "study.yaml").read_text(encoding="utf-8") == "year: 2025\n"
    assert (out / "README.txt").read_text(encoding="utf-8") == "batch of 2025"
    assert sorted(p.name for p in root.iterdir()) == ["batch", "study.yaml", "towns.gpkg"]
    expected = set(folders) | {"README.txt", "summary.csv", "summary.xlsx", "summary_map"}
    assert {p.name for p in out.iterdir()} == expected


# ---------------------------------------------------------------------------------------
# Resuming: only towns whose inputs and configuration are unchanged
# ---------------------------------------------------------------------------------------

STUDY_CHANGED = {**STUDY, "year": 2023, "demand": {"cell_m": 200}}
THREE = ["Planken", "Schellenberg", "Gamprin"]


def _verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in summary.columns if c.endswith(("_value", "_status"))]
    return summary.set_index("name")[cols].sort_index()


@pytest.mark.slow
def test_resume_redoes_towns_after_a_study_change(first_batch, liechtenstein, tmp_path):
    import shutil

    layer, out, _ = first_batch
    path, _ = liechtenstein
    three = layer[layer["name"].isin(THREE)].reset_index(drop=True)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for folder in out.iterdir():
        if folder.is_dir() and any(folder.name.endswith(n) for n in THREE):
            shutil.copytree(folder, earlier / folder.name)
    assert len(list(earlier.iterdir())) == 3
    # the same towns and settings: every town resumed
    same = batch.run_batch(three, osm=path, out=earlier, study=STUDY, n_workers=2)
    assert same["resumed"].all() and (same["redone"] == "").all()
    assert same.attrs["resume"] == "3 towns: 3 resumed, 0 redone, 0 new"
    # another year and cell size: every town redone, to the numbers of a fresh batch
    redone = batch.run_batch(three, osm=path, out=earlier, study=STUDY_CHANGED, n_workers=2)
    assert not redone["resumed"].any()
    assert (redone["redone"] == "configuration").all()
    assert redone.attrs["resume"] == "3 towns: 0 resumed, 3 redone (3 changed configuration), 0 new"
    fresh = batch.run_batch(three, osm=path, out=tmp_path / "fresh", study=STUDY_CHANGED, n_workers=2)
    assert fresh.attrs["resume"] == "3 towns: 0 resumed, 0 redone, 3 new"
    pd.testing.assert_frame_equal(_verdicts(redone), _verdicts(fresh))
    assert not _verdicts(redone).equals(_verdicts(same))  # the change did change the numbers
    # a town whose boundary changed, and a town whose folder lost a file: only those two redone
    moved = three.copy()
    i = int(np.flatnonzero(moved["name"] == "Planken")[0])
    moved.loc[i, "geometry"] = shapely.affinity.translate(moved.geometry.iloc[i], xoff=0.0005)
    gamprin = next(p for p in earlier.iterdir() if p.name.endswith("Gamprin"))
    (gamprin / "layers.gpkg").unlink()
    again = batch.run_batch(moved, osm=path, out=earlier, study=STUDY_CHANGED, n_workers=2)
    why = dict(zip(again["name"], again["redone"], strict=True))
    assert why == {"Planken": "inputs", "Gamprin": "incomplete", "Schellenberg": ""}
    assert again.set_index("name").loc["Schellenberg", "resumed"]
    assert (gamprin / "layers.gpkg").exists()


def test_worker_memory_readings():
    """Resident memory from psutil (every platform) and a peak not below it."""
    import psutil

    x = np.ones(40 * 2**20 // 8)  # 40 MiB more
    rss, peak = batch._memory_mib()
    assert rss == pytest.approx(psutil.Process().memory_info().rss / 2**20, rel=0.05)
    assert peak >= rss - 1.0 and rss > 40
    del x


def _freeze_probe() -> tuple[int, int, bool]:
    import gc

    from mtown_geo import batch as b

    b._freeze_worker_heap()
    first = gc.get_freeze_count()
    b._freeze_worker_heap()  # a second town: nothing more is frozen
    return first, gc.get_freeze_count(), b._HEAP_FROZEN


def _periodic_ms(dask_worker: Any = None, dask_scheduler: Any = None) -> dict[str, float]:
    """The period (ms) of a Dask server's periodic callbacks, by name."""
    server = dask_worker if dask_worker is not None else dask_scheduler
    return {name: pc.callback_time for name, pc in server.periodic_callbacks.items()}


def _profiling(dask_worker: Any) -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def test_a_worker_freezes_its_heap_once_and_the_calling_process_never():
    """A batch worker moves its long-lived objects out of the collector's view once; the
    process that calls run_batch (here the test's) keeps its heap as it is."""
    import gc

    before = gc.get_freeze_count()
    batch._freeze_worker_heap()
    assert gc.get_freeze_count() == before and not batch._HEAP_FROZEN
    client, cluster = batch._connect(None, n_workers=1, memory_limit="1GiB", security=None, dashboard=False)
    try:
        first, second, flag = client.submit(_freeze_probe, pure=False).result()
        # without a dashboard to show them, the workers take no profiler samples, and the
        # servers check their event loop once a second and the system every 5 s
        profiling = client.run(_profiling)
        worker_ms = client.run(_periodic_ms)
        scheduler_ms = client.run_on_scheduler(_periodic_ms)
        stealing = client.run_on_scheduler(lambda dask_scheduler: "stealing" in dask_scheduler.extensions)
    finally:
        client.close()
        cluster.close()
    for periods in [*worker_ms.values(), scheduler_ms]:
        assert periods["tick"] == 1000 and periods["monitor"] == 5000
        assert "profile" not in periods and "profile-cycle" not in periods
    assert stealing is False and "stealing" not in scheduler_ms
    # the modules alone are tens of thousands of objects; a second call freezes nothing more (the
    # count only falls, as frozen objects that are let go are freed)
    assert flag and first > 10_000 and second <= first
    assert list(profiling.values()) == [False]
