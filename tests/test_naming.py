"""Names: conventions from argument names, fallbacks, determinism across processes."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import torch.utils._pytree as pytree

import symshape

from .conftest import export_with, max_diff_vs_eager


def _dims(model, sets) -> list[str]:
    return list(symshape.infer_dims(model, sets).dims)


def test_vision_names() -> None:
    def f(pixel_values):
        return pixel_values.mean()

    sets = [({"pixel_values": torch.zeros(b, 3, h, w)}) for b, h, w in ((2, 32, 48), (3, 40, 40), (4, 24, 64))]
    assert _dims(f, sets) == ["batch", "height", "width"]


def test_encoder_decoder_names() -> None:
    def f(input_ids, attention_mask, decoder_input_ids, encoder_hidden_states):
        return input_ids

    def one(b: int, enc: int, dec: int) -> dict:
        return {
            "input_ids": torch.zeros(b, enc),
            "attention_mask": torch.zeros(b, enc),
            "decoder_input_ids": torch.zeros(b, dec),
            "encoder_hidden_states": torch.zeros(b, enc, 8),
        }

    spec = symshape.infer_dims(f, [one(2, 7, 3), one(3, 9, 5)])
    assert list(spec.dims) == ["batch", "encoder_seq_len", "seq_len"]


def test_fallback_names_are_valid_identifiers() -> None:
    sets = [({"1st": torch.zeros(n), "a-b": [torch.zeros(n + 2, 2 * n + 1)]},) for n in (2, 3)]
    names = _dims(None, sets)
    assert names == ["arg0_1st_dim0", "arg0_a_b_0_dim0", "arg0_a_b_0_dim1"]
    assert all(n.isidentifier() for n in names)


class Pair:
    """A user container registered with pytree: dynamic_shapes follows its flatten."""

    def __init__(self, left: torch.Tensor, right: torch.Tensor) -> None:
        self.left, self.right = left, right


pytree.register_pytree_node(
    Pair,
    lambda p: ([p.left, p.right], None),
    lambda children, _: Pair(*children),
    flatten_with_keys_fn=lambda p: ([(pytree.GetAttrKey("left"), p.left), (pytree.GetAttrKey("right"), p.right)], None),
)


def test_registered_container_follows_its_flatten() -> None:
    class M(torch.nn.Module):
        def forward(self, pair, scale):
            return pair.left * scale + pair.right

    sets = [(Pair(torch.randn(b, 4), torch.randn(b, 4)), torch.randn(b, 1)) for b in (2, 5)]
    spec = symshape.infer_dims(M(), sets)
    assert [a.label for a in spec.axes if a.expr == "pair_left_dim0"] == [
        "pair.left.shape[0]",
        "pair.right.shape[0]",
        "scale.shape[0]",
    ]
    assert spec.dynamic_shapes[0] == [{0: spec.dims["pair_left_dim0"]}, {0: spec.dims["pair_left_dim0"]}]
    program = export_with(M(), spec)
    assert max_diff_vs_eager(program, M(), (Pair(torch.randn(7, 4), torch.randn(7, 4)), torch.randn(7, 1)), {}) == 0.0


SCRIPT = """
import torch, symshape
from symshape.integrations.transformers.tiny_models import tiny_llama, llama_decode_inputs
m = tiny_llama()
print(symshape.infer_dims(m, [llama_decode_inputs(m, 2, 3, 5), llama_decode_inputs(m, 3, 4, 7)]).to_json())
"""


def test_same_json_in_two_processes_with_different_hash_seeds() -> None:
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outputs.append(
            subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True).stdout
        )
    assert outputs[0] == outputs[1] and '"past_len"' in outputs[0]
