"""Print maps: the CPU time of a town's PNG + PDF sheets, as a run writes them.

For each town the study is run once without writing (untimed); then the study's own
map-writing step draws every print map of the town (life circles, travel times, parks,
greenways, facilities) into a temporary folder, ``--runs`` times after one warm-up. The
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
import json
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import fmt_ratio, load_average, machine_lines, shared_file, table

import mtown_geo as mg
from mtown_geo import study

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


def _result(town: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if town == "demo":
            return study.run(mg.demo_study(tempfile.mkdtemp(prefix="mtown-bench-maps-")))
        if town == "guixi":
            return study.run(_guixi_study())
    raise SystemExit(f"unknown town {town!r}: demo or guixi")


def _map_step() -> Callable[[Any, Path], None]:
    """The function a run calls to write a town's print maps."""
    step = getattr(study, "_print_maps", None)
    if step is None:
        raise SystemExit("this version of mtown_geo has no study._print_maps: point the script at the map-writing step")
    return step  # type: ignore[no-any-return]


def _clear_text_caches() -> None:
    try:
        from mtown_geo.render import _text
    except ImportError:  # a version without text caches
        return
    _text.clear_caches()


def time_town(town: str, runs: int, *, warm: bool) -> dict[str, Any]:
    result = _result(town)
    step = _map_step()
    import mtown_geo.render as render

    saving = [0.0]
    original = render.save_figure

    def timed_save(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            saving[0] += time.process_time() - t0

    totals, saves = [], []
    sheets, png_kb, pdf_kb = 0, 0.0, 0.0
    render.save_figure = timed_save  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(runs + 1):
                if not warm:
                    _clear_text_caches()
                folder = Path(tempfile.mkdtemp(prefix="mtown-bench-maps-"))
                saving[0] = 0.0
                t0 = time.process_time()
                step(result, folder)
                total = time.process_time() - t0
                if i == 0:
                    continue  # warm-up: imports, the font file
                totals.append(total)
                saves.append(saving[0])
                pngs, pdfs = sorted(folder.glob("*.png")), sorted(folder.glob("*.pdf"))
                sheets = len(pngs)
                png_kb = sum(p.stat().st_size for p in pngs) / 1024 / max(sheets, 1)
                pdf_kb = sum(p.stat().st_size for p in pdfs) / 1024 / max(sheets, 1)
    finally:
        render.save_figure = original  # type: ignore[assignment]
    total, save = statistics.median(totals), statistics.median(saves)
    return {
        "town": town,
        "sheets": sheets,
        "town_s": total,
        "sheet_s": total / sheets,
        "build_s": (total - save) / sheets,
        "save_s": save / sheets,
        "png_kb": png_kb,
        "pdf_kb": pdf_kb,
        "runs": runs,
        "load": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", nargs="+", default=["demo", "guixi"], help="demo and/or guixi")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm", action="store_true", help="keep the text caches between runs")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--baseline", type=Path, help="figures of another run (--json) to compare with")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run of the first town")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    for line in machine_lines(["matplotlib", "shapely"]):
        print(line)
    print(f"mtown_geo {mg.__version__} from {Path(mg.__file__).parent}")
    rows = [time_town(t, args.runs, warm=args.warm) for t in args.towns]
    base = {r["town"]: r for r in json.loads(args.baseline.read_text())} if args.baseline else {}
    header = ["town", "sheets", "CPU s / town", "CPU s / sheet", "build s / sheet", "save s / sheet", "PNG kB", "PDF kB"]
    if base:
        header += ["/ town vs baseline", "/ sheet vs baseline"]
    out = []
    for r in rows:
        line = [
            r["town"],
            str(r["sheets"]),
            f"{r['town_s']:.2f}",
            f"{r['sheet_s']:.3f}",
            f"{r['build_s']:.3f}",
            f"{r['save_s']:.3f}",
            f"{r['png_kb']:.0f}",
            f"{r['pdf_kb']:.0f}",
        ]
        if base:
            b = base.get(r["town"])
            line += [fmt_ratio(r["town_s"] / b["town_s"]), fmt_ratio(r["sheet_s"] / b["sheet_s"])] if b else ["—", "—"]
        out.append(line)
    print()
    print(table(header, out))
    print(f"\nmedian of {args.runs} runs; load average at the end {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.profile:
        import cProfile
        import pstats

        result = _result(args.towns[0])
        folder = Path(tempfile.mkdtemp(prefix="mtown-bench-maps-"))
        _clear_text_caches()
        profiler = cProfile.Profile()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            profiler.runcall(_map_step(), result, folder)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
