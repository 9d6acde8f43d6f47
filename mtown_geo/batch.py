"""Many towns at once: the per-town study on every town of a province, on Dask.

Each town gets :func:`mtown_geo.run` on its own part of one regional OSM extract
(its boundary plus a buffer). Tasks carry the extract's path and the town's polygon,
never big objects; each worker process reads the regional extract once and keeps it
(:func:`mtown_geo.sources.read_osm` caches it) and cuts every town out of it in memory
(:meth:`OSMExtract.subset`). A town that fails gets an error row and the batch goes on;
finished towns (their folder holds ``manifest.json``, written last and atomically) are
not redone when a killed batch is started again.

Runs on a ``dask.distributed.LocalCluster`` sized to the machine by default, or on an
existing cluster given its scheduler address.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crs as _crs
from ._errors import InputError, MtownGeoError
from ._io import atomic_file
from .sources.osm import read_osm

__all__ = ["SUMMARY_NAME", "run_batch", "towns_from_osm"]

log = logging.getLogger(__name__)

#: File name of the batch summary (CSV; an XLSX beside it).
SUMMARY_NAME = "summary"

_SAFE = re.compile(r"[^\w\-.]+", re.UNICODE)


def _folder_name(code: str, name: str) -> str:
    label = f"{code}_{name}" if code else name
    return _SAFE.sub("_", label).strip("_") or "town"


def towns_from_osm(
    source: str | os.PathLike[str],
    *,
    admin_level: str | Iterable[str] = "8",
    name_col: str = "name",
) -> gpd.GeoDataFrame:
    """Administrative areas of an OSM extract as a town layer (name, code, geometry).

    Parameters
    ----------
    source : path
        An OSM file with boundary relations (``boundary=administrative``).
    admin_level : str or iterable of str
        The level(s) to keep: in China townships (乡镇/街道) are ``8``; Liechtenstein's
        municipalities are ``8``, Andorra's parishes ``7``.

    Returns
    -------
    GeoDataFrame
        EPSG:4326; ``name``, ``code`` (OSM ``ref`` or the relation id) and polygons,
        sorted by name.
    """
    levels = {admin_level} if isinstance(admin_level, str) else set(admin_level)
    f = read_osm(source).features
    tags = f["tags"]
    is_admin = tags.map(lambda t: t.get("boundary") == "administrative" and t.get("admin_level") in levels).to_numpy(bool)
    keep = is_admin & (f["osm_type"] == "relation").to_numpy() & f["name"].notna().to_numpy()
    sub = f.loc[keep]
    if sub.empty:
        raise InputError(f"{source}: no named boundary=administrative relation at admin_level {sorted(levels)}")
    codes = [t.get("ref") or t.get("ref:stat") or f"r{i}" for t, i in zip(sub["tags"], sub["osm_id"], strict=True)]
    out = gpd.GeoDataFrame({"name": sub["name"].to_numpy(), "code": codes}, geometry=sub.geometry.to_numpy(), crs=4326)
    return out.sort_values("name").reset_index(drop=True)


def _builtup_from_osm(extract: Any, town_m: gpd.GeoDataFrame, metric: Any) -> gpd.GeoDataFrame:
    """Built-up land of a town from OSM land use (residential, commercial, retail), closed by 100 m."""
    f = extract.features
    is_b = f["tags"].map(lambda t: t.get("landuse") in ("residential", "commercial", "retail")).to_numpy()
    polys = f.loc[is_b]
    polys = polys[polys.geom_type.isin(["Polygon", "MultiPolygon"])]
    area = town_m.union_all()
    if polys.empty:
        return town_m
    built = shapely.make_valid(polys.to_crs(metric).union_all()).buffer(100.0).buffer(-100.0).intersection(area)
    if built.is_empty or built.area < 1.0:
        return town_m
    return gpd.GeoDataFrame({"kind": ["建成区"]}, geometry=[built], crs=metric)


def _run_town(task: dict[str, Any]) -> dict[str, Any]:
    """One town, inside a worker: read (cached) the extract, cut the town out, run, summarise."""
    from .study import load_study, run

    t0 = time.perf_counter()
    row: dict[str, Any] = {"town": task["index"], "name": task["name"], "code": task["code"], "folder": task["folder"]}
    try:
        geom = shapely.from_wkb(task["wkb"])
        if geom is None or geom.is_empty:
            raise InputError("the town's boundary is empty")
        if not geom.is_valid:
            raise InputError(f"the town's boundary is not a valid polygon ({shapely.is_valid_reason(geom)}); repair it first")
        town = gpd.GeoDataFrame({"kind": ["镇域"], "name": [task["name"]]}, geometry=[geom], crs=task["crs"])
        metric = _crs.metric_crs(town)
        town_m = town.to_crs(metric)
        # the town's part of the regional extract: its bounding box plus the network buffer
        box = town_m.total_bounds + np.array([-1, -1, 1, 1]) * (task["buffer_m"] + 500.0)
        bbox = gpd.GeoSeries([shapely.box(*box)], crs=metric).to_crs(4326).total_bounds
        extract = read_osm(task["osm"]).subset((float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])))
        built = _builtup_from_osm(extract, town_m, metric) if task["builtup"] == "osm" else town_m
        study = load_study({**task["study"], "name": task["name"], "code": task["code"], "boundaries": {"town": "<memory>"}})
        study = study.with_data(town=town_m, builtup=built, osm=extract)
        out = Path(task["out"]) / task["folder"]
        result = run(study, out=out)
        ind = result.indicators
        for _, r in ind[ind["origin"] == "computed"].iterrows():
            key = f"row{r['row']}" if r["row"] != "—" else "greenway"
            row[f"{key}_value"] = r["value"]
            row[f"{key}_status"] = r["status"]
        row["status"] = "done"
        row["error"] = ""
        row["notes"] = len(result.notes)
    except (MtownGeoError, ValueError, OSError, RuntimeError) as exc:
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        log.debug("town %s failed:\n%s", task["name"], traceback.format_exc())
    except Exception as exc:  # an unforeseen failure of one town must not stop the batch
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc} (unexpected; the traceback is in the log)"
        log.warning("town %s failed unexpectedly:\n%s", task["name"], traceback.format_exc())
    row["seconds"] = round(time.perf_counter() - t0, 2)
    row["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    rss, peak = _memory_mib()
    row["worker_rss_mib"] = round(rss, 1)
    row["worker_peak_mib"] = round(peak, 1)
    row["worker"] = os.getpid()
    return row


def _memory_mib() -> tuple[float, float]:
    """Resident memory of this (worker) process after the town and its peak so far, MiB.

    Read from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) where there is one: unlike
    ``ru_maxrss``, the peak then is the process's own, not its parent's at the fork.
    """
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("Vm"))
        return float(fields["VmRSS"].split()[0]) / 1024.0, float(fields["VmHWM"].split()[0]) / 1024.0
    except (OSError, KeyError, ValueError):
        try:
            import resource
        except ImportError:  # pragma: no cover - not on Windows
            return float("nan"), float("nan")
        return float("nan"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _done_row(index: int, folder: Path, name: str, code: str) -> dict[str, Any] | None:
    """The summary row of a town finished in an earlier run (its manifest and indicators exist)."""
    if not (folder / "manifest.json").exists() or not (folder / "indicators.json").exists():
        return None
    data = json.loads((folder / "indicators.json").read_text(encoding="utf-8"))
    row: dict[str, Any] = {
        "town": index,
        "name": name,
        "code": code,
        "folder": folder.name,
        "status": "done",
        "error": "",
        "resumed": True,
    }
    for r in data["indicators"]:
        if r.get("origin") == "computed":
            key = f"row{r['row']}" if r["row"] != "—" else "greenway"
            row[f"{key}_value"] = r["value"]
            row[f"{key}_status"] = r["status"]
    return row


def run_batch(
    towns: gpd.GeoDataFrame | str | os.PathLike[str],
    *,
    osm: str | os.PathLike[str],
    out: str | os.PathLike[str],
    study: dict[str, Any] | None = None,
    name_col: str = "name",
    code_col: str = "code",
    builtup: str = "osm",
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: str = "2GiB",
    progress: bool = False,
) -> pd.DataFrame:
    """Run the per-town study on every town of a layer, on Dask.

    Parameters
    ----------
    towns : GeoDataFrame or path
        Town polygons with a name and a code column (any CRS); a file is read with
        geopandas.
    osm : path
        The regional OSM extract (``.osm.pbf``) covering every town and a buffer.
    out : path
        Output folder: one sub-folder per town and the summary table.
    study : dict, optional
        Study-file keys applied to every town (``year``, ``profile``, ``demand``,
        ``population``, ``circles``, ``outputs``...); boundaries, name and code come from
        the town layer, ``osm`` from the argument.
    builtup : {"osm", "town"}
        The built-up area of each town: OSM residential/commercial/retail land inside it
        (closed by 100 m; the whole town when there is none), or the town polygon itself.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); by default a
        ``LocalCluster`` with one single-threaded worker process per core.
    n_workers : int, optional
        Workers of the local cluster (default: the machine's cores).
    memory_limit : str
        Memory limit per local worker (default 2 GiB).
    progress : bool
        Show a progress bar.

    Returns
    -------
    DataFrame
        The summary: one row per town (``name``, ``code``, ``status`` done/failed,
        ``error``, every computed indicator's value and pass/fail, ``seconds``, ``finished``
        (local time), the worker's resident memory after the town and its peak so far
        (``worker_rss_mib``, ``worker_peak_mib``) and its process id ``worker``), also
        written to ``out/summary.csv`` and ``out/summary.xlsx``.
    """
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    osm_path = Path(osm).expanduser().resolve()
    if not osm_path.exists():
        from ._errors import DataNotFoundError

        raise DataNotFoundError(f"regional OSM extract {osm_path} does not exist")
    if not isinstance(towns, gpd.GeoDataFrame):
        towns = gpd.read_file(towns)
    _crs.require_crs(towns, what="town layer")
    if towns.empty:
        raise InputError("the town layer is empty")
    for col in (name_col,):
        if col not in towns:
            raise InputError(f"the town layer has no {col!r} column (set name_col)")
    if builtup not in ("osm", "town"):
        raise InputError(f"builtup must be 'osm' or 'town', got {builtup!r}")
    out_dir = Path(out).expanduser().resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    base = dict(study or {})
    for key in ("name", "code", "boundaries", "osm"):
        base.pop(key, None)
    base["osm"] = str(osm_path)
    buffer_m = float(base.get("network", {}).get("buffer_m", 1000.0))
    from .study import load_study

    load_study({**base, "name": "check", "boundaries": {"town": "<memory>"}})  # fail fast on a bad study dict

    towns4326 = towns.to_crs(4326)
    rows: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, (_, t) in enumerate(towns4326.iterrows()):
        name = str(t[name_col])
        code = str(t[code_col]) if code_col in towns4326 and pd.notna(t[code_col]) else str(i)
        folder = _folder_name(code, name)
        if folder in seen:
            folder = f"{folder}_{i}"
        seen.add(folder)
        done = _done_row(i, out_dir / folder, name, code)
        if done is not None:
            rows.append(done)
            continue
        geom = t.geometry
        tasks.append(
            {
                "index": i,
                "name": name,
                "code": code,
                "folder": folder,
                "wkb": shapely.to_wkb(geom) if geom is not None else None,
                "crs": "EPSG:4326",
                "osm": str(osm_path),
                "out": str(out_dir),
                "study": base,
                "buffer_m": buffer_m,
                "builtup": builtup,
            }
        )
    log.info("%d towns: %d already done, %d to run", len(towns), len(rows), len(tasks))
    if tasks:
        if scheduler is None:
            workers = n_workers or os.cpu_count() or 1
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit, dashboard_address=None
            )
            client = Client(cluster)
        else:
            cluster = None
            client = Client(scheduler)
        try:
            futures = client.map(_run_town, tasks, pure=False)
            bar = tqdm(total=len(futures), desc="towns", disable=not progress, unit="town")
            for fut in as_completed(futures):
                try:
                    row = fut.result()
                except Exception as exc:  # a worker died: the town gets an error row
                    task = tasks[futures.index(fut)]
                    row = {
                        "town": task["index"],
                        "name": task["name"],
                        "code": task["code"],
                        "folder": task["folder"],
                        "status": "failed",
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                rows.append(row)
                bar.update()
                bar.set_postfix(done=sum(r["status"] == "done" for r in rows), failed=sum(r["status"] == "failed" for r in rows))
            bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    summary = pd.DataFrame(rows).sort_values("town").reset_index(drop=True)
    if "resumed" in summary:
        summary["resumed"] = summary["resumed"].fillna(False).astype(bool)
    with atomic_file(out_dir / f"{SUMMARY_NAME}.csv") as tmp:
        summary.to_csv(tmp, index=False, encoding="utf-8-sig")
    with atomic_file(out_dir / f"{SUMMARY_NAME}.xlsx") as tmp:
        summary.to_excel(tmp, index=False, sheet_name="towns", engine="openpyxl")
    n_done = int((summary["status"] == "done").sum())
    log.info("batch finished: %d done, %d failed", n_done, len(summary) - n_done)
    return summary
