"""Cold against warm: what a full garbage collection before a call costs each stage.

Run by hand, never in tests::

    python benchmarks/bench_cold.py [--reps 100]

``bench_infer.py`` runs ``gc.collect()`` before every timed call, so the call it times
starts with the CPU caches cold (the collection walked every object in the process).
This script times the stages of ``infer_dims`` on llama32 (a 32-layer ``DynamicCache``,
3 sets) both ways, in the same rounds: right after a collection (cold), then once more
(warm). Then ``infer_dims`` and ``AdditionalInputs`` back to back without any collection,
as a loop that calls them repeatedly sees them.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from bench_infer import llama_case, run_additional_inputs
from machine import machine_info
from timing import load

import symshape
from symshape.core.binding import normalise
from symshape.core.copying import copy_set
from symshape.infer.observation import observe_sets
from symshape.infer.solver import solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    opts = parser.parse_args()
    print(load())
    symshape.register_caches()
    case = llama_case()
    _, sets = normalise(case.model, case.sets)
    observation = observe_sets(sets)
    stages = {
        "normalise": lambda: normalise(case.model, case.sets),
        "observe_sets": lambda: observe_sets(sets),
        "solve": lambda: solve(observation.column_values, observation.column_leaf),
        "copy_set": lambda: copy_set(sets[0]),
        "infer_dims + dynamic_shapes": lambda: symshape.infer_dims(case.model, case.sets).dynamic_shapes,
        "AdditionalInputs": lambda: run_additional_inputs(case),
    }
    print(f"\nllama32, median of {opts.reps} rounds\n\n| stage | cold us | warm us |\n|---|---:|---:|")
    for name, fn in stages.items():
        fn()
        cold, warm = [], []
        for _ in range(opts.reps):
            gc.collect()
            start = time.perf_counter()
            fn()
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            fn()
            warm.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(cold) * 1e6:.0f} | {statistics.median(warm) * 1e6:.0f} |")
    print("\nBack to back, no collection (3 blocks each, alternating; ms per call):")
    blocks: dict[str, list[float]] = {"symshape": [], "AdditionalInputs": []}
    for block in range(6):
        name = ("symshape", "AdditionalInputs")[block % 2]
        fn = stages["infer_dims + dynamic_shapes" if name == "symshape" else "AdditionalInputs"]
        start = time.perf_counter()
        for _ in range(opts.reps * 3):
            fn()
        blocks[name].append((time.perf_counter() - start) / (opts.reps * 3) * 1e3)
    for name, values in blocks.items():
        print(f"  {name}: {statistics.median(values):.3f} ms")
    ratio = statistics.median(blocks["symshape"]) / statistics.median(blocks["AdditionalInputs"])
    print(f"  ratio: {ratio:.2f}x\n\n{load()}\n{machine_info()}")


if __name__ == "__main__":
    main()
