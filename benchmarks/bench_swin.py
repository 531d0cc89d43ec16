"""Swin against a ViT of the same size: ``symshape.export`` (verify off), interleaved.

Run by hand, never in tests::

    python benchmarks/bench_swin.py            # 3 rounds
    python benchmarks/bench_swin.py --reps 5

Both models come from tests/zoo.py (tiny configs, random weights) with their train sets.
One untimed export of each first, so that neither pays transformers' lazy imports of its
modeling code nor torch's first-call costs; then both export once per round, in a
rotating order (``timing.interleaved``). Prints the medians, the median of per-round
ratios (the issue's goal: Swin within 3x ViT), and for each model its traces, guards
(``guard_count``: input-shape guards plus run-time asserts) and free symbols.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from timing import interleaved, load, median_ms, ratio  # noqa: E402

import symshape  # noqa: E402
from symshape.exporting.readback import guard_count  # noqa: E402
from tests.zoo import ZOO  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    results = {}
    tools = {}
    for name in ("vit", "swin"):
        entry = ZOO[name]
        model = entry.build()
        sets = [entry.make_inputs(case, seed=i) for i, case in enumerate(entry.train_cases)]
        results[name] = symshape.export(model, sets, verify=False)  # warm-up, and the program's figures
        tools[name] = lambda model=model, sets=sets: symshape.export(model, sets, verify=False)
    times = interleaved(tools, args.reps)
    print(load())
    print("| model | export median (ms) | traces | guards | symbols |")
    print("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        figures = (f"{median_ms(times[name]):.0f}", result.traces, guard_count(result.program), result.reading.symbols)
        print(f"| {name} | {' | '.join(map(str, figures))} |")
    print(f"swin / vit: {ratio(times['swin'], times['vit']):.2f}x (median of per-round ratios, {args.reps} rounds)")


if __name__ == "__main__":
    main()
