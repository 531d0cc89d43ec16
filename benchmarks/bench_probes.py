"""What probes cost, as a share of the export (goal: at most 15% on the tiny Llama).

    python benchmarks/bench_probes.py [--reps 5] [--layers 2]

Times, per repetition on the same two decode sets: ``symshape.export(verify=False)``
(infer + trace + read back), then the observed checks alone, then the probes alone
(``run_probes`` with the program already unlifted). Medians are reported; nothing is
timed in the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import time

from machine import machine_info

import symshape
from symshape.exporting.probes import run_probes
from symshape.exporting.verify import check_sets, program_runner
from symshape.integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()

    model = tiny_llama(num_layers=args.layers, hidden_size=64)
    sets = [llama_decode_inputs(model, 2, 3, 5, seed=0), llama_decode_inputs(model, 3, 4, 7, seed=1)]
    exports, observed, probes, counts = [], [], [], []
    for _ in range(args.reps):
        start = time.perf_counter()
        result = symshape.export(model, sets, verify=False)
        exports.append(time.perf_counter() - start)
        run = program_runner(result.program, result.spec)
        start = time.perf_counter()
        check_sets(run, model, result.spec, result.sets)
        observed.append(time.perf_counter() - start)
        start = time.perf_counter()
        found, refused = run_probes(run, model, result.spec)
        probes.append(time.perf_counter() - start)
        counts.append((len(found), refused, len([c for c in found if not c.accepted])))
    export_s, probe_s = statistics.median(exports), statistics.median(probes)
    print(f"tiny Llama, {args.layers} layers, 2 decode sets, median of {args.reps}")
    print(f"  export (verify off):   {export_s:.3f} s")
    print(f"  observed checks:       {statistics.median(observed):.3f} s")
    print(f"  probes:                {probe_s:.3f} s  ({counts[-1][0]} run, {counts[-1][1]} refused by eager, "
          f"{counts[-1][2]} coverage gaps)")
    print(f"  probes / export:       {100 * probe_s / export_s:.1f} %  (goal <= 15 %)")
    print(machine_info())


if __name__ == "__main__":
    main()
