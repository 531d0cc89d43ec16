"""One symbol per size that really varies: counters carried as shapes, guards torch cannot
prove kept on the named Dim, and relations the program enforces stated as derived dims."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.utils._pytree as pytree

import symshape
from symshape.core.paths import format_path
from symshape.exporting.readback import user_inputs
from symshape.integrations.transformers.tiny_models import llama_decode_inputs

from .conftest import max_diff_vs_eager
from .test_caches import dynamic_cache


def _input_sizes(program: torch.export.ExportedProgram) -> dict[str, tuple]:
    """Placeholder name -> its sizes, as sympy text (``s12``) or ints."""
    return {name: tuple(str(s) for s in value.shape) for name, _, value in user_inputs(program)}


@pytest.fixture(scope="module")
def decode_only(llama):
    """Two decode steps (seq_len 1 in both): mask = past_len + 1 is seen on two points only."""
    sets = [llama_decode_inputs(llama, 2, 1, 5), llama_decode_inputs(llama, 3, 1, 9, seed=1)]
    before = copy.deepcopy(sets)
    result = symshape.export(llama, sets)
    return result, sets, before


def test_a_relation_the_program_enforces_is_stated_even_on_minimum_evidence(decode_only) -> None:
    result, _, _ = decode_only
    (required,) = [r for r in result.spec.relations if r.origin == "model"]
    assert required.expr == "attention_mask.shape[1] = past_len + 1" and required.distinct == 2
    assert required.expressible  # stated as a derived Dim: it adds no symbol
    assert {a.label: a.expr for a in result.spec.axes}["attention_mask.shape[1]"] == "past_len + 1"
    assert sorted(result.spec.dims) == ["batch", "past_len"]
    assert result.reading.symbols == 2  # the truth: batch and past_len
    assert not [r for r in result.spec.rejected if "attention_mask" in r.expr]
    (why,) = [r for r in result.refinements if r.change == "mask_len = past_len + 1"]
    assert "allow no other value of mask_len" in why.reason and "mask_len <= past_len + 1" in why.reason
    assert "affine, required by the model" in result.explain()
    assert result.ok


def test_an_unprovable_guard_keeps_one_symbol_for_every_cache_axis(decode_only) -> None:
    result, _, _ = decode_only
    changes = [r.change for r in result.refinements]
    assert "past_len: guard checked at run time" in changes
    assert not any("Dim.DYNAMIC" in c for c in changes)
    (why,) = [r for r in result.refinements if r.change == "past_len: guard checked at run time"]
    assert "torch cannot prove min(" in why.reason and "z3 proves it holds for every size" in why.reason
    sizes = _input_sizes(result.program)
    lengths = {sizes[name][2] for name in sizes if name.startswith(("cache_key_cache", "cache_value_cache"))}
    assert len(lengths) == 1 and not next(iter(lengths)).isdigit()  # keys and values of both layers: one symbol


def test_the_decode_only_program_runs_new_sizes_and_leaves_inputs_alone(decode_only, llama) -> None:
    result, sets, before = decode_only
    for got, want in zip(sets, before):
        assert [t.tolist() for t in pytree.tree_leaves(got)] == [t.tolist() for t in pytree.tree_leaves(want)]
    assert max_diff_vs_eager(result.program, llama, (), llama_decode_inputs(llama, 4, 1, 17, seed=7)) < 1e-4
    with pytest.raises(Exception, match=r"Guard failed|shape"):  # the program holds mask = past + 1
        bad = llama_decode_inputs(llama, 2, 1, 6, seed=8)
        bad["attention_mask"] = torch.ones(2, 9, dtype=torch.long)
        result.program.module()(**bad)


class IgnoresMaskLength(torch.nn.Module):
    """Reads the mask only through a sum: its length is free, whatever the data showed."""

    def forward(self, x: torch.Tensor, cache: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x * cache.mean() + mask.float().sum()


def test_a_relation_the_program_does_not_enforce_stays_untrusted() -> None:
    sets = [
        (torch.randn(2, 1), torch.randn(2, 5), torch.ones(2, 6)),
        (torch.randn(3, 1), torch.randn(3, 9), torch.ones(3, 10)),
    ]
    result = symshape.export(IgnoresMaskLength(), sets)
    assert not [r for r in result.spec.relations if r.origin == "model"]
    assert [r.expr for r in result.spec.rejected if r.expr.startswith("mask")] == ["mask.shape[1] = cache_dim1 + 1"]
    assert result.reading.symbols == 3 and result.ok


def test_a_sliding_counter_is_carried_as_a_storage_free_shape() -> None:
    symshape.register_caches()
    cache = dynamic_cache(2, 9)
    leaves = {format_path(k): v for k, v in pytree.tree_flatten_with_path({"cache": cache})[0]}
    carrier = leaves["cache['cumulative_length'][0]"]
    assert carrier.shape == (9, 0) and carrier.untyped_storage().nbytes() == 0
    assert pytree.tree_flatten(cache)[0][-1] is carrier  # one object per value: torch matches leaves by identity
    rebuilt = pytree.tree_unflatten(*pytree.tree_flatten(cache))
    assert rebuilt.layers[0].cumulative_length == 9 and type(rebuilt.layers[0].cumulative_length) is int
    cache.layers[0].cumulative_length = 10
    assert pytree.tree_flatten(cache)[0][-1].shape == (10, 0)


def test_a_window_crossed_between_the_sets_is_explained_not_exported() -> None:
    """Starcoder2 (every layer sliding, window 8): one set under the window, one past it.
    The counter now shares a Dim, so torch's window-full guard meets the data and the
    export refuses, naming the counter's axes, the values per set and the model line."""
    from .zoo import ZOO

    entry = ZOO["starcoder2"]
    sets = [
        entry.make_inputs({"batch": 2, "seq_len": 2, "past_len": 3}, seed=0),
        entry.make_inputs({"batch": 3, "seq_len": 3, "past_len": 14}, seed=1),
    ]
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(entry.build(), sets)
    text = str(info.value)
    assert "must be >= 8" in text and "cache['cumulative_length'][0].shape[0]" in text
    assert "set #0: 3, set #1: 14" in text and "cache_utils.py" in text
