"""The CPU a batch's local Dask cluster uses by itself: idle, with Dask's defaults and as the batch starts it.

Starts the local cluster as :func:`mtown_geo.batch.run_batch` does (two single-threaded
worker processes, TLS, no dashboard), waits 5 s, then reads the CPU time of every thread of
this process (scheduler, nannies, client) and of each worker process from ``/proc`` over
30 s. Run in turn with Dask's defaults for the settings the batch changes and with the
batch's own (``mtown_geo.batch._QUIET_CLUSTER``).

    python bench/cluster.py              # 2 runs of each, about 3 minutes (Linux only)

Not a test: run it by hand on a quiet machine and record the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from unittest import mock

import psutil

from mtown_geo import batch

#: Dask's defaults for the periodic work the batch changes; no HTTP routes and no profiler
#: in both, as the batch has had before
DEFAULTS = {
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
    "distributed.worker.profile.enabled": False,
}


def _cpu_s(pid: int) -> float:
    """CPU seconds of every thread of a process so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure(settings: dict[str, object], label: str, *, seconds: float) -> None:
    with mock.patch.object(batch, "_QUIET_CLUSTER", settings):
        client, cluster = batch._connect(None, n_workers=2, memory_limit="auto", security=None, dashboard=False)
    try:
        time.sleep(5)
        pids = [os.getpid()] + [c.pid for c in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
        before = {p: _cpu_s(p) for p in pids}
        time.sleep(seconds)
        share = {p: 100 * (_cpu_s(p) - before[p]) / seconds for p in pids}
    finally:
        client.close()
        cluster.close()
    workers = " / ".join(f"{share[p]:.1f}" for p in pids[1:])
    print(f"| {label} | {share[pids[0]]:.1f} | {workers} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="runs of each, taken in turn")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each is measured")
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    print("| settings | parent, % of a core | each worker, % of a core |")
    print("|---|---:|---:|")
    for _ in range(args.runs):
        measure(DEFAULTS, "Dask's defaults (no profiler, no HTTP routes)", seconds=args.seconds)
        measure(batch._QUIET_CLUSTER, "the batch's (`_QUIET_CLUSTER`)", seconds=args.seconds)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
