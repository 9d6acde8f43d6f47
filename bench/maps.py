"""Print maps: the CPU time of a town's PNG + PDF sheets, as a run writes them.

For each town the study is run once without writing (untimed); then the run's own
map-writing step (``_print_maps``) draws every print map of the town (life circles, travel times, parks,
greenways, facilities) into a temporary folder, and after it the task maps
(``pipeline.tasks.write_maps``, print maps only: streets, bus stops, neighbourhood centres...),
``--runs`` times after one warm-up. The
script reports CPU seconds (``time.process_time``) per town and per sheet, split into
building the figures and saving them (PNG + PDF), and the sizes of the files.

The text caches of the maps live for the whole process: they are cleared before every
timed run, so each run costs what the *first* town of a worker costs (later towns reuse
the legend, margin and basemap texts); ``--warm`` keeps them.

    python bench/maps.py                            # the demo town and Guixi, 3 runs each
    python bench/maps.py --json /tmp/new.json       # keep the figures
    python bench/maps.py --baseline /tmp/old.json   # ... and print the ratios against another run

To compare with another version of the code, run the same command with that version on
``PYTHONPATH`` and ``--json``, then this one with ``--baseline`` (back to back, same load).

Not a test: run it by hand and record the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import fmt_ratio, load_average, machine_lines, shared_file, table

import mtown_geo as mg

GUIXI = "guixi_jiangxi_osm/dongmen_jiedao_boundary.geojson"


def _guixi_study() -> dict[str, Any]:
    boundary = str(shared_file(GUIXI))
    osm = next(p for p in shared_file("guixi_jiangxi_osm").iterdir() if p.name.endswith(".osm.pbf"))
    return {
        "name": "东门街道",
        "boundaries": {"town": boundary, "builtup": boundary},
        "osm": str(osm),
        "population": {"total": 60000},
        "demand": {"cell_m": 50},
    }


def _package(checkout: Path) -> ModuleType:
    """The ``mtown_geo`` package of another checkout, imported as ``mtown_geo_baseline`` beside this one."""
    init = checkout / "mtown_geo" / "__init__.py"
    if not init.exists():
        raise SystemExit(f"{checkout} holds no mtown_geo package")
    spec = importlib.util.spec_from_file_location("mtown_geo_baseline", init, submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mtown_geo_baseline"] = module
    spec.loader.exec_module(module)
    return module


class _Version:
    """One version of the code: its study of a town and its map-writing step, timed."""

    def __init__(self, package: ModuleType, town: str) -> None:
        self.package = package
        self.study = importlib.import_module(package.__name__ + ".study")
        self.render = importlib.import_module(package.__name__ + ".render")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if town == "demo":
                self.result = self.study.run(package.demo_study(tempfile.mkdtemp(prefix="mtown-bench-maps-")))
            elif town == "guixi":
                self.result = self.study.run(_guixi_study())
            else:
                raise SystemExit(f"unknown town {town!r}: demo or guixi")
        self.step = None
        for module in ("pipeline.outputs", "study"):  # where a run's map-writing step lives (newer, older)
            with contextlib.suppress(ImportError):
                self.step = getattr(importlib.import_module(f"{package.__name__}.{module}"), "_print_maps", None)
            if self.step is not None:
                break
        if self.step is None:
            raise SystemExit(f"{package.__file__}: no _print_maps in pipeline.outputs or study; point the script at the step")
        self.tasks = None  # the run's task maps (``pipeline.tasks.write_maps``), where the version has them
        with contextlib.suppress(ImportError):
            write_maps = getattr(importlib.import_module(f"{package.__name__}.pipeline.tasks"), "write_maps", None)
            if write_maps is not None:
                self.tasks = lambda result, folder: write_maps(result, folder, interactive=False)
        # the modules through which the steps call save_figure (patched to time the saving)
        self.savers = [self.render]
        with contextlib.suppress(ImportError):
            self.savers.append(importlib.import_module(package.__name__ + ".render.taskmaps"))
        self.totals: list[float] = []
        self.saves: list[float] = []
        self.sheets, self.png_kb, self.pdf_kb = 0, 0.0, 0.0
        self.task_totals: list[float] = []
        self.task_sheets = 0

    def clear_caches(self) -> None:
        static = importlib.import_module(self.package.__name__ + ".render.static")
        kept = getattr(static, "_UNDERLAY", None)  # the last sheet's page and basemap under-layers, where kept
        if kept is not None:
            kept.__dict__.pop("last", None)
        try:
            text = importlib.import_module(self.package.__name__ + ".render._text")
        except ImportError:  # a version without text caches
            return
        text.clear_caches()

    def run(self, *, record: bool, warm: bool) -> None:
        saving = [0.0]
        original = self.render.save_figure
        patched = [m for m in self.savers if getattr(m, "save_figure", None) is original]

        def timed_save(*args: Any, **kwargs: Any) -> Any:
            t0 = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                saving[0] += time.process_time() - t0

        if not warm:
            self.clear_caches()
        task_total = 0.0
        folder = Path(tempfile.mkdtemp(prefix="mtown-bench-maps-"))
        for m in patched:
            m.save_figure = timed_save
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.process_time()
                self.step(self.result, folder)
                total = time.process_time() - t0
                step_saving = saving[0]
                if self.tasks is not None:  # after the print maps, as a run draws them (texts shared)
                    t0 = time.process_time()
                    self.tasks(self.result, folder / "tasks")
                    task_total = time.process_time() - t0
        finally:
            for m in patched:
                m.save_figure = original
        if record:
            self.totals.append(total)
            self.saves.append(step_saving)
            pngs, pdfs = sorted(folder.glob("*.png")), sorted(folder.glob("*.pdf"))
            self.sheets = len(pngs)
            self.png_kb = sum(p.stat().st_size for p in pngs) / 1024 / max(self.sheets, 1)
            self.pdf_kb = sum(p.stat().st_size for p in pdfs) / 1024 / max(self.sheets, 1)
            if self.tasks is not None:
                self.task_totals.append(task_total)
                self.task_sheets = len(list((folder / "tasks" / "maps").glob("*.png")))
        shutil.rmtree(folder, ignore_errors=True)

    def row(self, town: str, label: str) -> dict[str, Any]:
        total, save = statistics.median(self.totals), statistics.median(self.saves)
        n = max(self.sheets, 1)
        return {
            "town": town,
            "code": label,
            "sheets": self.sheets,
            "town_s": total,
            "sheet_s": total / n,
            "build_s": (total - save) / n,
            "save_s": save / n,
            "png_kb": self.png_kb,
            "pdf_kb": self.pdf_kb,
            "runs": len(self.totals),
            "task_sheets": self.task_sheets,
            "task_s": statistics.median(self.task_totals) if self.task_totals else None,
        }


def time_town(town: str, runs: int, *, warm: bool, baseline: ModuleType | None) -> list[dict[str, Any]]:
    """Median CPU times of the town's maps; with a baseline, both versions interleaved run by run."""
    versions = {"this": _Version(mg, town)}
    if baseline is not None:
        versions["baseline"] = _Version(baseline, town)
    for i in range(runs + 1):  # run 0: warm-up (imports, the font file)
        for v in versions.values():
            v.run(record=i > 0, warm=warm)
    return [v.row(town, label) for label, v in versions.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", nargs="+", default=["demo", "guixi"], help="demo and/or guixi")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm", action="store_true", help="keep the text caches between runs")
    parser.add_argument("--baseline", type=Path, help="another checkout (its folder) timed in the same process, run by run")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run of the first town")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    baseline = _package(args.baseline.resolve()) if args.baseline else None
    for line in machine_lines(["matplotlib", "shapely"]):
        print(line)
    print(
        f"mtown_geo {mg.__version__} from {Path(mg.__file__).parent}" + (f"; baseline from {args.baseline}" if baseline else "")
    )
    rows = [row for t in args.towns for row in time_town(t, args.runs, warm=args.warm, baseline=baseline)]
    header = ["town", "code", "sheets", "CPU s / town", "CPU s / sheet", "build s / sheet", "save s / sheet", "PNG kB", "PDF kB"]
    if baseline is not None:
        header.append("vs baseline")
    by = {(r["town"], r["code"]): r for r in rows}
    out = []
    for r in rows:
        line = [
            r["town"],
            r["code"],
            str(r["sheets"]),
            f"{r['town_s']:.2f}",
            f"{r['sheet_s']:.3f}",
            f"{r['build_s']:.3f}",
            f"{r['save_s']:.3f}",
            f"{r['png_kb']:.0f}",
            f"{r['pdf_kb']:.0f}",
        ]
        if baseline is not None:
            b = by.get((r["town"], "baseline"))
            line.append(fmt_ratio(r["town_s"] / b["town_s"]) if b else "—")
        out.append(line)
    print()
    print(table(header, out))
    task_rows = [r for r in rows if r["task_s"] is not None and r["task_sheets"]]
    if task_rows:
        out = []
        for r in task_rows:
            line = [r["town"], r["code"], str(r["task_sheets"]), f"{r['task_s']:.2f}", f"{r['task_s'] / r['task_sheets']:.3f}"]
            if baseline is not None:
                b = by.get((r["town"], "baseline"))
                line.append(fmt_ratio(r["task_s"] / b["task_s"]) if b and b["task_s"] else "—")
            out.append(line)
        print("\ntask maps (`pipeline.tasks.write_maps`, print maps only), drawn after the sheets above:\n")
        print(table(["town", "code", "sheets", "CPU s / town", "CPU s / sheet"] + (["vs baseline"] if baseline else []), out))
    caches = "kept between runs" if args.warm else "cleared before each run"
    print(f"\nmedian of {args.runs} runs (interleaved); text caches {caches}; load average at the end {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.profile:
        import cProfile
        import pstats

        version = _Version(mg, args.towns[0])
        version.run(record=False, warm=False)
        profiler = cProfile.Profile()
        profiler.runcall(version.run, record=False, warm=args.warm)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
