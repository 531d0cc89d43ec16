"""``python -m symshape.demo``: the main job on a built-in tiny LLM.

Builds a 2-layer Llama from its config (random weights, nothing downloaded), makes
two decode-step input sets with a DynamicCache, infers the dims, prints the report,
then exports with the spec and checks a held-out one-token decode step.
"""

from __future__ import annotations

import copy
import time

import torch

from .infer import infer_dims
from .program import input_symbols
from .tiny_models import llama_decode_inputs, tiny_llama


def main() -> None:
    model = tiny_llama(num_layers=2, hidden_size=64)
    sets = [llama_decode_inputs(model, 2, 3, 5, seed=0), llama_decode_inputs(model, 3, 4, 7, seed=1)]
    print("input sets: (batch, seq_len, past_len) = (2, 3, 5) and (3, 4, 7)\n")

    start = time.perf_counter()
    spec = infer_dims(model, sets)
    print(spec.explain())
    print(f"\ninferred in {1000 * (time.perf_counter() - start):.1f} ms")

    print("\ndynamic_shapes for torch.export.export:")
    for name, value in spec.dynamic_shapes.items():
        print(f"  {name}: {value}")

    start = time.perf_counter()
    program = torch.export.export(model, spec.args, spec.kwargs, dynamic_shapes=spec.dynamic_shapes, strict=False)
    print(f"\nexported in {time.perf_counter() - start:.2f} s; free symbols in the program: {len(input_symbols(program))}")

    held_out = llama_decode_inputs(model, 4, 1, 9, seed=3)
    expected = model(**copy.deepcopy(held_out)).logits
    got = program.module()(**copy.deepcopy(held_out)).logits
    print(f"held-out decode step (batch 4, seq_len 1, past_len 9): max |program - eager| = {(expected - got).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
