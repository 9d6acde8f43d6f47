"""Many towns at once: the per-town study on every town of a province, on Dask.

Each town gets :func:`mtown_geo.run` on its own part of one regional OSM extract
(its boundary plus a buffer). Tasks carry the extract's path and the town's polygon,
never big objects; each worker process reads the regional extract once and keeps it
(:func:`mtown_geo.sources.read_osm` caches it) and cuts every town out of it in memory
(:meth:`OSMExtract.subset`). A town that fails gets an error row and the batch goes on.

Started again on the same output folder, a batch keeps the towns already finished *with
the same inputs and configuration*: each town's folder holds ``batch.json``, the
fingerprint of what made it (the study settings and profile, the regional extract's
SHA-256 and every other file the study names, the town's name, code and geometry, the
toolkit version), listed with its checksum in the folder's ``manifest.json``. A town is
resumed only when that fingerprint equals the current batch's and every file the manifest
lists is there; otherwise it is redone, and the summary says why (changed configuration,
inputs or version, or an incomplete folder).

Town folder names are made from the town's code and name, safe on every platform (no path
separators, no dot-only or Windows-reserved names, at most 96 UTF-8 bytes, unique within
the batch even on case-insensitive file systems) and always inside the output folder.

Runs on a ``dask.distributed.LocalCluster`` sized to the machine by default, or on an
existing cluster given its scheduler address.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import logging
import os
import re
import sys
import time
import traceback
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from tqdm.auto import tqdm

from . import _frames, _geom, report
from . import crs as _crs
from ._errors import DataNotFoundError, InputError, MtownGeoError, StudyError
from ._io import MANIFEST, check_output_root, file_sha256, own_files
from ._version import __version__
from ._yaml import load_with_lines
from .pipeline import inputs
from .pipeline.schema import load_profile
from .sources.osm import read_osm
from .sources.vector import read_vector
from .study import load_study, run

__all__ = ["SUMMARY_NAME", "run_batch", "towns_from_osm"]

log = logging.getLogger(__name__)

#: File name of the batch summary (CSV; an XLSX beside it).
SUMMARY_NAME = "summary"

#: File of each town's folder that holds the fingerprint of its inputs and configuration.
FINGERPRINT_NAME = "batch.json"

#: Longest town folder name in UTF-8 bytes. File systems allow 255 bytes (ext4, APFS) or 255
#: UTF-16 units (NTFS); the margin leaves room for the hidden work-folder affixes
#: (``.NAME.partial-XXXXXXXX``) and for Windows' 260-character paths.
MAX_FOLDER_BYTES = 96

_UNSAFE = re.compile(r"[^\w\-.]+", re.UNICODE)  # \w: letters, digits and _ of every script
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})


def _fit_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form has at most ``limit`` bytes."""
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", errors="ignore")


def _folder_name(code: str, name: str) -> str:
    """A folder name for a town, safe on Linux, macOS and Windows.

    Characters other than letters, digits, ``_``, ``-`` and ``.`` (path separators,
    ``: * ? " < > |``, control characters, spaces) become ``_``; leading and trailing dots,
    spaces and ``_`` go (no hidden or dot-only names such as ``.`` and ``..``); Windows'
    reserved device names get a ``_`` in front; a name longer than
    :data:`MAX_FOLDER_BYTES` UTF-8 bytes is cut and ends with ``~`` and 8 hex digits of
    the full label's hash, so that different long names stay different.
    """
    label = unicodedata.normalize("NFC", f"{code}_{name}" if code else name)
    safe = _UNSAFE.sub("_", label).strip("._ ") or "town"
    if safe.split(".")[0].upper() in _WINDOWS_RESERVED:
        safe = f"_{safe}"
    if len(safe.encode("utf-8")) > MAX_FOLDER_BYTES:
        digest = hashlib.sha256(label.encode("utf-8")).hexdigest()[:8]
        safe = _fit_bytes(safe, MAX_FOLDER_BYTES - 9).rstrip("._ ") + "~" + digest
    return safe


def _unique_folder(folder: str, index: int, taken: set[str]) -> str:
    """``folder``, or with ``_<index>`` (then a counter) appended when another town has it.

    Names are compared case-folded: Windows and macOS file systems do not tell ``Vaduz``
    from ``VADUZ``.
    """
    candidate, n = folder, 0
    while candidate.casefold() in taken:
        suffix = f"_{index}" if n == 0 else f"_{index}_{n}"
        candidate = _fit_bytes(folder, MAX_FOLDER_BYTES - len(suffix)).rstrip("._ ") + suffix
        n += 1
    taken.add(candidate.casefold())
    return candidate


def _town_dir(out_dir: Path, folder: str) -> Path:
    """The town's folder, checked to be a direct child of the batch's output folder."""
    path = out_dir / folder
    if folder in ("", ".", "..") or Path(os.path.normpath(path)).parent != out_dir or path.name != folder:
        raise InputError(f"town folder name {folder!r} does not stay inside {out_dir}")  # pragma: no cover - _folder_name
    return path


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


#: whether this worker process has moved its long-lived objects out of the collector's view
_HEAP_FROZEN = False


def _freeze_worker_heap() -> None:
    """In a Dask worker, once: collect, then freeze (:func:`gc.freeze`) what the process holds.

    A worker keeps the regional extract (read once, :func:`mtown_geo.sources.read_osm`), the
    modules and Dask's own state for good: hundreds of thousands of objects that every full
    collection of the cyclic garbage collector walked again, several times per town (about
    0.1 s each on a country extract). Frozen, they are left out of those walks; objects are
    still freed as before when no longer referenced. Outside a Dask worker (a town run in the
    caller's own process) nothing is done: the caller's heap is not ours to freeze.
    """
    global _HEAP_FROZEN
    if _HEAP_FROZEN:
        return
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):  # not inside a Dask worker
        return
    gc.collect()
    gc.freeze()
    _HEAP_FROZEN = True


def _run_town(task: dict[str, Any]) -> dict[str, Any]:
    """One town, inside a worker: read (cached) the extract, cut the town out, run, summarise."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"town": task["index"], "name": task["name"], "code": task["code"], "folder": task["folder"]}
    try:
        geom = shapely.from_wkb(task["wkb"])
        if geom is None or geom.is_empty:
            raise InputError("the town's boundary is empty")
        if not geom.is_valid:
            raise InputError(f"the town's boundary is not a valid polygon ({shapely.is_valid_reason(geom)}); repair it first")
        town = _frames.geo_frame({"kind": ["镇域"], "name": [task["name"]]}, [geom], task["crs"])
        town_m = _geom.to_metric(town, crs=_crs.metric_crs(town), what="town boundary")
        study = load_study({**task["study"], "name": task["name"], "code": task["code"], "boundaries": {"town": "<memory>"}})
        extract = inputs.extract_for(study, town_m)  # the town's part of the regional extract
        _freeze_worker_heap()
        built = inputs.builtup_from_osm(extract, town_m) if task["builtup"] == "osm" else town_m
        study = study.with_data(town=town_m, builtup=built, osm=extract)
        out = Path(task["out"]) / task["folder"]
        result = run(study, out=out, extra_files={FINGERPRINT_NAME: json.dumps(task["fingerprint"], indent=2)})
        ind = result.indicators
        computed = (ind["origin"] == "computed").to_numpy()
        for n, value, status in zip(*(_objects(ind[c])[computed] for c in ("row", "value", "status")), strict=True):
            key = f"row{n}" if n != "—" else "greenway"
            row[f"{key}_value"] = value
            row[f"{key}_status"] = status
        tasks = result.tables.get("tasks")
        row.update(_task_columns(_records(tasks) if tasks is not None else []))
        # 缺数据: what no source holds for the town (its rows show lower bounds, status no_data)
        row["data_gaps"] = ", ".join(result.data_gaps)
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

    The resident size comes from psutil (installed with dask.distributed) on every
    platform. The peak is the process's own high-water mark: ``VmHWM`` on Linux (unlike
    ``ru_maxrss``, not inherited from the parent before ``exec``), the peak working set on
    Windows, ``ru_maxrss`` elsewhere (bytes on macOS, KiB on the BSDs). NaN where the
    platform tells nothing.
    """
    rss = peak = float("nan")
    try:
        import psutil

        info = psutil.Process().memory_info()
        rss = info.rss / 2**20
        if hasattr(info, "peak_wset"):  # Windows
            peak = float(info.peak_wset) / 2**20
    except Exception:  # pragma: no cover - psutil missing or refused
        pass
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = float(line.split()[1]) / 1024.0
                    elif line.startswith("VmRSS:") and rss != rss:
                        rss = float(line.split()[1]) / 1024.0
        except (OSError, ValueError, IndexError):  # pragma: no cover - /proc not mounted
            pass
    if peak != peak:
        try:
            import resource
        except ImportError:  # pragma: no cover - Windows without psutil
            return rss, peak
        maxrss = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        peak = maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024.0
    return rss, peak


def _fingerprint_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


def _study_files(study: Any) -> dict[str, str]:
    """SHA-256 of every local file a validated study names (rasters, tables, layers, profile)."""
    out: dict[str, str] = {}

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)
        elif isinstance(value, str) and value not in ("osm", "<memory>"):
            try:
                path = study.path(value)
                if path.is_file():
                    out[str(path.resolve())] = file_sha256(path)
            except (OSError, ValueError):
                pass

    dump = study.model_dump(mode="json")
    for key in ("name", "code", "boundaries", "osm"):
        dump.pop(key, None)
    visit(dump)
    return out


def _resume_verdict(folder: Path, fingerprint: dict[str, Any]) -> tuple[str, list[str]]:
    """Whether a town's earlier result can be kept.

    Returns ``("new", [])`` when there is none, ``("resume", [])`` when it is complete and
    its fingerprint equals ``fingerprint``, else ``("redo", reasons)`` with reasons among
    ``configuration``, ``inputs``, ``version`` and ``incomplete``.
    """
    if not folder.is_dir() or not any(folder.iterdir()):
        return "new", []
    listed = own_files(folder)
    if listed is None:
        return "redo", ["version" if (folder / MANIFEST).is_file() else "incomplete"]
    if FINGERPRINT_NAME not in listed:
        return "redo", ["version"]
    for rel, info in listed.items():
        path = folder / rel
        if not path.is_file() or path.stat().st_size != info["bytes"]:
            return "redo", ["incomplete"]
    for rel in (FINGERPRINT_NAME, "indicators.json"):
        checked = listed.get(rel)
        if checked is None or file_sha256(folder / rel) != checked["sha256"]:
            return "redo", ["incomplete"]
    try:
        old = json.loads((folder / FINGERPRINT_NAME).read_text(encoding="utf-8"))
    except ValueError:
        return "redo", ["incomplete"]
    reasons = [k for k in ("configuration", "inputs", "version") if old.get(k) != fingerprint[k]]
    return ("redo", reasons) if reasons else ("resume", [])


def _done_row(index: int, folder: Path, name: str, code: str) -> dict[str, Any]:
    """The summary row of a town finished in an earlier run with the same fingerprint."""
    data = json.loads((folder / "indicators.json").read_text(encoding="utf-8"))
    row: dict[str, Any] = {
        "town": index,
        "name": name,
        "code": code,
        "folder": folder.name,
        "status": "done",
        "error": "",
        "resumed": True,
        "redone": "",
    }
    for r in data["indicators"]:
        if r.get("origin") == "computed":
            key = f"row{r['row']}" if r["row"] != "—" else "greenway"
            row[f"{key}_value"] = r["value"]
            row[f"{key}_status"] = r["status"]
    row.update(_task_columns(data.get("tasks", [])))
    row["data_gaps"] = ", ".join(str(r["category"]) for r in data.get("inventory", []) if r.get("status") == "no_data")
    return row


def _resume_note(n_towns: int, resumed: int, redone: dict[int, list[str]], new: int) -> str:
    """One line: how many towns were resumed, redone (and why) and run for the first time."""
    why: dict[str, int] = {}
    for reasons in redone.values():
        for r in reasons:
            why[r] = why.get(r, 0) + 1
    label = {
        "configuration": "changed configuration",
        "inputs": "changed inputs",
        "version": "another toolkit version",
        "incomplete": "incomplete earlier result",
    }
    detail = ", ".join(f"{n} {label[k]}" for k, n in why.items())
    return f"{n_towns} towns: {resumed} resumed, {len(redone)} redone" + (f" ({detail})" if detail else "") + f", {new} new"


def _objects(column: pd.Series) -> np.ndarray:
    """A column's values as Python objects (floats, text, NaN for a missing text): those of
    its rows in ``iterrows`` and ``to_dict(orient="records")``."""
    return column.to_numpy(dtype=object)


def _records(frame: pd.DataFrame) -> list[dict[Any, Any]]:
    """``frame.to_dict(orient="records")``, read column by column (:func:`_objects`)."""
    return [dict(zip(frame.columns, r, strict=True)) for r in zip(*(_objects(c) for _, c in frame.items()), strict=True)]


def _task_columns(records: Iterable[Mapping[Any, Any]]) -> dict[str, Any]:
    """Summary columns of the policy tasks (主要任务): ``task_<key>_value`` and ``task_<key>_status``."""
    out: dict[str, Any] = {}
    for r in records:
        value = r.get("value")
        out[f"task_{r['key']}_value"] = None if value is None or (isinstance(value, float) and np.isnan(value)) else value
        out[f"task_{r['key']}_status"] = r.get("status")
    return out


def read_study_keys(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The study-file keys of a batch (``batch --study``) from a YAML file.

    Relative paths in it (``profile``, ``population.raster``...) are taken from the file's
    folder.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    StudyError
        Not valid YAML (the message gives the line and column), a YAML tag that is not
        plain data (``!!python/...``), or not a mapping of keys.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataNotFoundError(f"study file {p} does not exist")
    try:
        data, _ = load_with_lines(p.read_text(encoding="utf-8"), source=p)
    except UnicodeDecodeError:
        raise StudyError(f"{p}: not a UTF-8 text file; save the study file as UTF-8") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise StudyError(
            f"{p}{where}: a YAML tag that is not plain data ({exc.problem}); a study file holds only keys, text, "
            "numbers and lists: remove the tag"
        ) from None
    except yaml.YAMLError as exc:
        raise StudyError(f"{p}: not valid YAML: {str(exc).replace('<unicode string>', str(p))}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StudyError(f"{p}: a study file is a mapping of keys (year, profile, demand...), not {type(data).__name__}")
    data.setdefault("base_dir", p.resolve().parent)
    return data


def _read_towns(path: str | os.PathLike[str], *, layer: str | int | None) -> gpd.GeoDataFrame:
    """The town layer of a batch, read with the toolkit's vector reader (clear errors, GBK text)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataNotFoundError(f"towns file {p} does not exist; give a GeoPackage, GeoJSON or Shapefile of town polygons")
    return read_vector(p, layer=layer)


def _no_geometry_row(index: int, name: str, code: str, folder: str, null: bool) -> dict[str, Any]:
    """The summary row of a town whose polygon is missing: it is not run."""
    what = "no geometry (NULL)" if null else "an empty geometry"
    log.warning("town %s (row %d of the towns layer) has %s: not run", name, index + 1, what)
    return {
        "town": index,
        "name": name,
        "code": code,
        "folder": folder,
        "status": "failed",
        "error": f"InputError: {name!r} (row {index + 1} of the towns layer) has {what}; draw its boundary or remove the row",
    }


#: Dask settings of a local cluster without the dashboard. No HTTP routes; and none of the
#: periodic work done only for the dashboard, which each server (scheduler, nannies,
#: workers) runs on its event loop and, in a worker, against the town's thread for the
#: interpreter lock: the statistical profiler (every thread's stack every 10 ms, about 3 %
#: of a worker's time and 25 MiB), the event loop's health tick (every 20 ms: once a second
#: still tells a blocked loop), the system monitor (CPU, memory, network and disk every
#: 0.5 s: every 5 s), the cluster's widget text (every 0.5 s: every 10 s). Work stealing
#: is off: towns are independent tasks queued on the scheduler and given to whichever
#: worker is free, so there is nothing to rebalance. An idle local cluster of two workers
#: takes about a third less CPU with these (parent and workers together: about 3 % of a
#: two-core machine).
_QUIET_CLUSTER: dict[str, Any] = {
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.deploy.cluster-repr-interval": "10s",
    "distributed.scheduler.work-stealing": False,
}


def _connect(
    scheduler: str | None,
    *,
    n_workers: int | None,
    memory_limit: str,
    security: Any,
    dashboard: bool | str,
) -> tuple[Any, Any]:
    """A Dask client, and the local cluster it runs on (None for an existing scheduler).

    The local cluster listens on 127.0.0.1 only, speaks TLS with certificates made for this
    run (every connection must present one, so no other process can submit work), and
    serves no HTTP routes unless the dashboard is asked for: a Dask scheduler always runs an
    HTTP server (on port 8787 when it is given no address), so it is given a free port on
    127.0.0.1 and no routes. Without the dashboard the cluster also runs without the
    periodic work only the dashboard shows (Dask's statistical profiler, its system monitor
    and event loop tick at their default rates; see :data:`_QUIET_CLUSTER`).
    """
    import dask
    from dask.distributed import Client, LocalCluster
    from distributed.security import Security

    if scheduler is not None:
        if dashboard:
            log.warning("dashboard is ignored: the cluster at %s serves its own", scheduler)
        sec = security if security is not None else Security()
        if not (scheduler.startswith("tls://") or sec.require_encryption):
            log.warning(
                "the connection to the Dask scheduler %s is neither encrypted nor authenticated: whoever can reach it "
                "can run code as its workers' user. Use a tls:// address with a CA file, client certificate and key",
                scheduler,
            )
        try:
            return Client(scheduler, security=sec), None
        except OSError as exc:  # refused, reset, timed out, certificate rejected
            raise InputError(
                f"cannot connect to the Dask scheduler {scheduler} ({type(exc).__name__}: {exc}). Check the address; "
                "a cluster that uses TLS is reached at tls://host:port with its CA file, a client certificate and key "
                "(--tls-ca-file, --tls-cert, --tls-key, or distributed.comm.tls.* in Dask's configuration)"
            ) from None
    try:
        sec = Security.temporary()
    except ImportError as exc:  # pragma: no cover - cryptography is a dependency
        raise InputError(f"the local Dask cluster needs the package cryptography for TLS: {exc}") from None
    if dashboard:
        if importlib.util.find_spec("bokeh") is None:
            raise InputError("the Dask dashboard needs the package bokeh: pip install bokeh (or run without it)")
        address = "127.0.0.1:8787" if dashboard is True else str(dashboard)
        settings: dict[str, Any] = {}
    else:
        address = "127.0.0.1:0"
        settings = _QUIET_CLUSTER
    with dask.config.set(settings):  # read by the scheduler and, through the nannies, the workers
        cluster = LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            host="127.0.0.1",
            security=sec,
            dashboard_address=address,
        )
    try:
        client = Client(cluster, security=sec)
    except BaseException:
        cluster.close()
        raise
    log.info("local Dask cluster at %s (TLS, 127.0.0.1 only)", cluster.scheduler_address)
    if dashboard:
        log.warning("Dask dashboard at %s (no authentication: any local user can open it)", cluster.dashboard_link)
    return client, cluster


def run_batch(
    towns: gpd.GeoDataFrame | str | os.PathLike[str],
    *,
    osm: str | os.PathLike[str],
    out: str | os.PathLike[str],
    study: dict[str, Any] | str | os.PathLike[str] | None = None,
    name_col: str = "name",
    code_col: str = "code",
    builtup: str = "osm",
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: str = "2GiB",
    progress: bool = False,
    security: Any = None,
    dashboard: bool | str = False,
    layer: str | int | None = None,
    summary_map: bool = True,
) -> pd.DataFrame:
    """Run the per-town study on every town of a layer, on Dask.

    Parameters
    ----------
    towns : GeoDataFrame or path
        Town polygons with a name and a code column (any CRS); a file is read with
        :func:`mtown_geo.sources.read_vector` (``layer`` chooses the layer of a file
        holding several). A town without geometry (NULL or empty) gets an error row;
        the others run.
    osm : path
        The regional OSM extract (``.osm.pbf``) covering every town and a buffer.
    out : path
        Output folder: one sub-folder per town (named from its code and name, made safe
        and unique) and the summary table. Started again on the same folder, the batch
        keeps the towns finished with the same inputs and configuration.
    study : dict or path, optional
        Study-file keys applied to every town (``year``, ``profile``, ``demand``,
        ``population``, ``circles``, ``outputs``...), or a YAML file of them (its relative
        paths are taken from its folder); boundaries, name and code come from the town
        layer, ``osm`` from the argument.
    builtup : {"osm", "town"}
        The built-up area of each town: OSM residential/commercial/retail land inside it
        (closed by 100 m; the whole town when there is none), or the town polygon itself.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tls://host:8786``); by default a
        ``LocalCluster`` with one single-threaded worker process per core, listening on
        127.0.0.1 only and with TLS and client certificates made for this run
        (:meth:`distributed.security.Security.temporary`): no other process can connect
        to it.
    n_workers : int, optional
        Workers of the local cluster, at least 1 (default: the machine's cores).
    memory_limit : str
        Memory limit per local worker (default 2 GiB).
    progress : bool
        Show a progress bar.
    security : distributed.security.Security, optional
        TLS settings to connect to ``scheduler`` (CA file, client certificate and key);
        by default Dask's configuration (``distributed.comm.tls.*``). A scheduler reached
        without TLS is logged as a warning: whoever can reach it can run code as its
        workers' user.
    dashboard : bool or str
        Serve Dask's dashboard for the local cluster (needs ``bokeh``): ``True`` for
        127.0.0.1:8787, or an address (``"127.0.0.1:8790"``). Off by default; the dashboard
        has no authentication, so keep it on 127.0.0.1.
    layer : str or int, optional
        The layer of a towns file that holds several.
    summary_map : bool
        After the summary, draw every town coloured by its 15-minute life-circle status
        into ``out/summary_map`` (PNG, PDF, HTML; see :mod:`mtown_geo.render.province`).

    Returns
    -------
    DataFrame
        The summary: one row per town (``name``, ``code``, ``status`` done/failed,
        ``error``, every computed indicator's value and status (``pass``, ``fail``, or
        ``no_data`` when what it needs is missing from the data), ``data_gaps`` (the
        categories and layers no source holds for the town), the policy tasks' values
        and statuses (``task_<key>_value``, ``task_<key>_status``), ``seconds``, ``finished``
        (local time), the worker's resident memory after the town and its peak so far
        (``worker_rss_mib``, ``worker_peak_mib``), its process id ``worker``, whether it
        was ``resumed`` from an earlier run and, for a town redone, why (``redone``:
        ``configuration``, ``inputs``, ``version`` or ``incomplete``)), also written to
        ``out/summary.csv`` and ``out/summary.xlsx``. ``summary.attrs["resume"]`` says in
        one line how many towns were resumed, redone (and why) and new.

    Raises
    ------
    OutputFolderError
        ``out`` is the current, home or a root folder (or a parent of one), a file or a
        symbolic link. Each town's own folder follows the rules of :func:`mtown_geo.run`.
    OutputNotWritableError
        ``out`` cannot be written (checked before any town runs).
    """
    from dask.distributed import as_completed

    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1):
        raise InputError(f"n_workers must be a whole number of at least 1, got {n_workers!r}")
    if scheduler is not None and n_workers is not None:
        log.warning("n_workers=%d is ignored: the cluster at %s has its own workers", n_workers, scheduler)

    osm_path = Path(osm).expanduser().resolve()
    if not osm_path.exists():
        raise DataNotFoundError(f"regional OSM extract {osm_path} does not exist")
    if not isinstance(towns, gpd.GeoDataFrame):
        towns = _read_towns(towns, layer=layer)
    _crs.require_crs(towns, what="town layer")
    if towns.empty:
        raise InputError("the town layer is empty")
    for col in (name_col,):
        if col not in towns:
            raise InputError(f"the town layer has no {col!r} column (set name_col)")
    if builtup not in ("osm", "town"):
        raise InputError(f"builtup must be 'osm' or 'town', got {builtup!r}")
    base = read_study_keys(study) if isinstance(study, (str, os.PathLike)) else dict(study or {})
    for key in ("name", "code", "boundaries", "osm"):
        base.pop(key, None)
    base["osm"] = str(osm_path)

    checked = load_study({**base, "name": "check", "boundaries": {"town": "<memory>"}})  # fail fast on a bad study dict
    out_dir = check_output_root(out, writable=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    # what makes a town's result: the configuration, the inputs, the toolkit version
    config = checked.model_dump(mode="json")
    for key in ("name", "code", "boundaries", "osm"):
        config.pop(key, None)
    config_key = _fingerprint_hash(
        {"study": config, "profile": load_profile(checked).model_dump(mode="json"), "builtup": builtup}
    )
    shared_inputs = {"osm": file_sha256(osm_path), "files": _study_files(checked)}

    towns4326 = towns.to_crs(4326)
    geoms = towns4326.geometry.to_numpy()
    rows: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    taken: set[str] = set()
    redone: dict[int, list[str]] = {}
    new = 0
    for i, (_, t) in enumerate(towns4326.iterrows()):
        name = str(t[name_col])
        code = str(t[code_col]) if code_col in towns4326 and pd.notna(t[code_col]) else str(i)
        folder = _unique_folder(_folder_name(code, name), i, taken)
        town_dir = _town_dir(out_dir, folder)
        geom = geoms[i]  # None for a NULL geometry (a row's .geometry would be NaN)
        if geom is None or shapely.is_empty(geom):
            rows.append(_no_geometry_row(i, name, code, folder, geom is None))
            continue
        wkb = shapely.to_wkb(geom)
        town_key = {"name": name, "code": code, "wkb": shapely.to_wkb(shapely.normalize(geom), hex=True)}
        fingerprint = {
            "format": 1,
            "configuration": config_key,
            "inputs": _fingerprint_hash({**shared_inputs, "town": town_key}),
            "version": __version__,
        }
        verdict, reasons = _resume_verdict(town_dir, fingerprint)
        if verdict == "resume":
            rows.append(_done_row(i, town_dir, name, code))
            continue
        if verdict == "redo":
            redone[i] = reasons
        else:
            new += 1
        tasks.append(
            {
                "index": i,
                "name": name,
                "code": code,
                "folder": folder,
                "wkb": wkb,
                "crs": "EPSG:4326",
                "osm": str(osm_path),
                "out": str(out_dir),
                "study": base,
                "builtup": builtup,
                "fingerprint": fingerprint,
            }
        )
    note = _resume_note(len(towns), len(rows), redone, new)
    log.info("%s", note)
    if tasks:
        client, cluster = _connect(
            scheduler, n_workers=n_workers, memory_limit=memory_limit, security=security, dashboard=dashboard
        )
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
    resumed = summary["resumed"] if "resumed" in summary else pd.Series(False, index=summary.index)
    summary["resumed"] = resumed.astype("boolean").fillna(False).astype(bool)
    summary["redone"] = [", ".join(redone.get(int(i), [])) for i in summary["town"]]
    summary.attrs["resume"] = note
    # names from the town layer are text: never a live formula in the CSV or the XLSX
    report.write_csv(summary, out_dir / f"{SUMMARY_NAME}.csv", index=False)
    report.write_xlsx({"towns": summary}, out_dir / f"{SUMMARY_NAME}.xlsx")
    if summary_map:  # the province at a glance; a map that cannot be made is a warning
        from .render.province import write_batch_maps

        write_batch_maps(summary, towns4326, out_dir, profile=load_profile(checked), year=checked.year, name_col=name_col)
    n_done = int((summary["status"] == "done").sum())
    log.info("batch finished: %d done, %d failed", n_done, len(summary) - n_done)
    return summary
