"""Bounded contracts and probes on every zoo family, plus Gemma3 and gpt-oss with small windows.

    python benchmarks/bench_contracts.py [--only llama bert ...]

Per family: ``symshape.export(bounds="config", verify=False)`` timed, then the observed
checks and the probes timed apart (one unlifted module), and what they found: the bounds
chosen with their origin, probes run / refused by eager, coverage gaps (first one shown)
and whether the export is ok. Prints a markdown table; nothing is timed in the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
import transformers
from machine import machine_info

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import symshape  # noqa: E402
from symshape.exporting.probes import run_probes  # noqa: E402
from symshape.exporting.verify import check_sets, program_runner  # noqa: E402
from symshape.integrations.transformers.tiny_models import llama_decode_inputs  # noqa: E402
from tests.zoo import ZOO  # noqa: E402


def _window_model(name: str) -> tuple[torch.nn.Module, list]:
    """Gemma3 (window 16, two decode steps under it) and gpt-oss (window 9, steps past 10-11)."""
    common = dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                  layer_types=["sliding_attention", "full_attention"])
    torch.manual_seed(0)
    if name == "gemma3":
        model = transformers.Gemma3ForCausalLM(transformers.Gemma3TextConfig(sliding_window=16, **common)).eval()
        cases = [(2, 3, 5), (3, 4, 7)]
    else:
        config = transformers.GptOssConfig(sliding_window=9, num_local_experts=4, num_experts_per_tok=2, **common)
        model = transformers.GptOssForCausalLM(config).eval()
        cases = [(2, 1, 10), (3, 1, 11)]
    return model, [llama_decode_inputs(model, *c, seed=i) for i, c in enumerate(cases)]


def _zoo_model(name: str) -> tuple[torch.nn.Module, list]:
    entry = ZOO[name]
    return entry.build(), [entry.make_inputs(case, seed=i) for i, case in enumerate(entry.train_cases)]


def run(name: str) -> str:
    model, sets = _window_model(name) if name in ("gemma3", "gpt_oss") else _zoo_model(name)
    start = time.perf_counter()
    try:
        result = symshape.export(model, sets, bounds="config", verify=False)
    except symshape.SymshapeError as exc:
        return f"| {name} | refused: {type(exc).__name__} ({getattr(exc, 'kind', '')}) | | | | | |"
    export_s = time.perf_counter() - start
    run_program = program_runner(result.program, result.spec)
    start = time.perf_counter()
    result.checks = check_sets(run_program, model, result.spec, result.sets)
    observed_s = time.perf_counter() - start
    start = time.perf_counter()
    probes, refused = run_probes(run_program, model, result.spec)
    probe_s = time.perf_counter() - start
    result.checks += probes
    bounds = "; ".join(
        f"{b.expr} <= {b.high} ({b.origin}{', lowered' if 'lowered' in b.reason else ''})" for b in result.spec.bounds
    )
    gaps = result.coverage_gaps
    first = f"{gaps[0].sizes}: {gaps[0].error.split('rejects it: ')[-1][:90]}" if gaps else ""
    return (
        f"| {name} | {bounds} | {len(probes)} / {refused} | {len(gaps)} {first} | "
        f"{export_s:.1f} s | {observed_s:.2f} s | {100 * probe_s / export_s:.0f} % ({probe_s:.2f} s) | "
        f"{'yes' if result.ok else 'NO'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="families to run (default: the zoo, then gemma3 and gpt_oss)")
    args = parser.parse_args()
    names = args.only or [*ZOO, "gemma3", "gpt_oss"]
    warnings.simplefilter("ignore")
    print("| family | bounds (config) | probes run / refused by eager | coverage gaps | export | observed checks "
          "| probes / export | ok |")
    print("|---|---|---|---|---:|---:|---:|---|")
    for name in names:
        print(run(name), flush=True)
    print(f"\n{machine_info()}")


if __name__ == "__main__":
    main()
