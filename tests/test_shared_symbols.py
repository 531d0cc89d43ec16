"""One symbol per named Dim during symshape's trace (issue 14, goal 3).

torch gives each axis of a named Dim its own symbol and ties them with guards; the
model's own guards then come once per axis (one per cache layer). symshape's trace
gives them one symbol: fewer guards, the same contract.
"""

from __future__ import annotations

import pytest
import torch

import symshape
from symshape.integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama

from .conftest import max_diff_vs_eager

pytestmark = pytest.mark.usefixtures("one_thread")


def _decode_sets(model):
    return [llama_decode_inputs(model, 2, 3, 5, seed=0), llama_decode_inputs(model, 3, 4, 7, seed=1)]


@pytest.fixture(scope="module")
def exported():
    """symshape.export of a 2- and a 4-layer tiny Llama (verify off), by layer count."""
    out = {}
    for layers in (2, 4):
        model = tiny_llama(num_layers=layers, hidden_size=32)
        out[layers] = (model, symshape.export(model, _decode_sets(model), verify=False))
    return out


def _cache_inputs(program: torch.export.ExportedProgram) -> list:
    """The fake cache tensors of the program's inputs, in input order."""
    return [
        node.meta["val"]
        for node in program.graph.nodes
        if node.op == "placeholder" and "cache" in node.name and isinstance(node.meta.get("val"), torch.Tensor)
    ]


def test_the_program_has_one_symbol_per_dim(exported) -> None:
    _, result = exported[4]
    assert result.traces == 1 and result.reading.symbols == 4
    caches = _cache_inputs(result.program)
    assert len(caches) == 8  # keys and values of 4 layers
    assert len({str(t.shape[0]) for t in caches}) == 1  # batch
    assert len({str(t.shape[2]) for t in caches}) == 1  # past_len


def test_guards_do_not_grow_with_the_layers(exported) -> None:
    two, four = exported[2][1].reading.guards, exported[4][1].reading.guards
    assert two == four, f"{two} guards at 2 layers, {four} at 4"
    assert four <= 4


def test_the_program_accepts_new_sizes_and_matches_eager(exported) -> None:
    model, result = exported[4]
    held_out = llama_decode_inputs(model, 4, 1, 9, seed=3)
    assert max_diff_vs_eager(result.program, model, (), held_out) < 1e-4


def _one_layer_shorter(inputs: dict) -> dict:
    layer = inputs["cache"].layers[1]
    layer.keys, layer.values = layer.keys[:, :, :-1], layer.values[:, :, :-1]
    return inputs


def _one_layer_other_batch(inputs: dict) -> dict:
    layer = inputs["cache"].layers[2]
    layer.keys, layer.values = layer.keys[:1], layer.values[:1]
    return inputs


def _values_shorter_than_keys(inputs: dict) -> dict:
    layer = inputs["cache"].layers[3]
    layer.values = layer.values[:, :, :-1]
    return inputs


@pytest.mark.parametrize("break_", [_one_layer_shorter, _one_layer_other_batch, _values_shorter_than_keys])
def test_inputs_that_disagree_on_a_shared_dim_are_rejected(exported, break_) -> None:
    """The axes share one symbol, so the program checks they agree (as it checks
    duck-sized inputs): the contract is as tight as with a symbol per axis."""
    model, result = exported[4]
    bad = break_(llama_decode_inputs(model, 2, 3, 5, seed=4))
    with pytest.raises(Exception, match=r"cache|size|shape"):
        result.program.module()(**bad)
