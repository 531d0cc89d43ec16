"""Interleaved timing for the benchmarks: every tool once per round, in a rotating order.

On a shared machine (2 cores, other people's jobs) absolute times move by 2-3x within
minutes. Timing each tool inside the same round, with the order rotating, exposes all
tools to the same load; medians over rounds and the median of per-round ratios are
what the benchmarks report. ``load()`` is printed beside every table.
"""

from __future__ import annotations

import gc
import importlib
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    """``load average 1.23, 0.98, 0.75 (2 cpus)``, as ``uptime`` prints it."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cpus)"


def timed(fn: Callable[[], Any], gc_off: bool = False, warm: bool = False) -> tuple[Any, float]:
    """``fn()`` and its wall time; the collector runs before (and, unless ``gc_off``,
    stays enabled during) the call.

    A full collection walks every object in the process and leaves the CPU caches cold:
    the timed call is a first call. ``warm`` runs ``fn`` once more, untimed, between the
    collection and the timed call: the timed call is a repeated one."""
    gc.collect()
    if warm:
        fn()
    if gc_off:
        gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start
    finally:
        gc.enable()


def interleaved(
    tools: dict[str, Callable[[], Any]], reps: int, gc_off: bool = False, warm: bool = False
) -> dict[str, list[float]]:
    """Seconds per tool per round; round ``r`` starts with tool ``r mod len(tools)``."""
    names = list(tools)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(tools[name], gc_off, warm)[1])
    return times


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median of the per-round ratios (robust to load that changes between rounds)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def baseline_package(revision: str, name: str = "symshape_baseline") -> Any:
    """The ``symshape`` package as it was at git ``revision``, imported as ``name``.

    Import the current ``symshape`` and register its caches first: the baseline then
    finds the cache classes registered and flattens them with the current code, so the
    comparison measures the rest of the pipeline, not a cache-flatten change.
    """
    target = Path(tempfile.mkdtemp(prefix="symshape_baseline_"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "symshape"], check=True, capture_output=True
    ).stdout
    archive_path = target / "symshape.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    (target / "symshape").rename(target / name)
    sys.path.insert(0, str(target))
    return importlib.import_module(name)
