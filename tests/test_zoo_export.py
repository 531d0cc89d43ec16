"""symshape.export on every zoo family: ground truth, symbols, held-out verification.

Free symbols in the exported program are the family's true dims plus what torch
cannot tie to a named Dim: an axis left Dim.AUTO because it is a sum of roots
(attention_mask = past_len + seq_len gets a symbol of its own, enforced by guards).
A sliding layer's int counter (cumulative_length) adds none: it is carried as a shape.
"""

from __future__ import annotations

import functools
import re

import pytest
import torch
import torch.utils._pytree as pytree

import symshape

from .conftest import max_diff_vs_eager
from .zoo import ZOO, ZooEntry

#: Free symbols torch gives the program: truth (+1 for the AUTO mask axis, +1 for an int counter).
PROGRAM_SYMBOLS = {
    "llama": 4,
    "qwen2": 4,
    "qwen3": 4,
    "phi3": 4,
    "gpt2": 4,
    "gpt_neox": 4,
    "falcon": 4,
    "mistral": 4,  # the sliding layers' cumulative_length is carried as a shape: it shares past_len
    "gemma2": 4,
    "gemma2_window_full": 4,
    "t5": 5,
    "bart": 5,  # batch, encoder_seq_len, seq_len, past_len + decoder mask
    "whisper": 4,
    "bert": 2,
    "vit": 3,
    "mamba": 1,
}

#: Families whose program accepts a longer mask (only mask >= past_len + seq_len is guarded).
MASK_NOT_ENFORCED = {"falcon", "gemma2", "gemma2_window_full"}

#: Dims torch cannot prove a guard for as a named Dim although z3 proves it holds for
#: every size (Gemma2, full window: min(48 + 16*s, 96 + 32*s) == 48 + 16*s): the program checks it at run
#: time and the Dim stays named (one symbol for all its axes).
UNNAMED = {"gemma2_window_full": ["seq_len: guard checked at run time"]}

#: Families the model forbids exporting with their dims, and what the error must name.
NOT_EXPORTABLE = {
    "mamba_prefill": (
        "seq_len is specialised",
        "input_ids.shape[1]",
        r"modeling_mamba\.py:\d+ in mamba_selective_scan: for index in range\(seq_len\)",
    ),
}


@functools.cache
def _model(name: str):
    return ZOO[name].build()


def _snapshot(values: dict) -> list:
    """Every leaf of an input set: tensors by shape and content, ints by value."""
    symshape.register_caches()  # so that a cache is seen leaf by leaf, before and after
    return [
        (tuple(leaf.shape), leaf.dtype, leaf.flatten().tolist()) if isinstance(leaf, torch.Tensor) else leaf
        for leaf in pytree.tree_leaves(values)
    ]


def _module_state(model: torch.nn.Module) -> dict[str, dict]:
    """Every submodule's plain Python attributes (Swin keeps a window size there)."""
    return {
        name: {k: v for k, v in vars(module).items() if isinstance(v, (int, float, bool, str, tuple, type(None)))}
        for name, module in model.named_modules()
    }


def _sets(entry: ZooEntry) -> list[dict]:
    return [entry.make_inputs(case, seed=i) for i, case in enumerate(entry.train_cases)]


@pytest.mark.parametrize("name", sorted(PROGRAM_SYMBOLS))
def test_family_exports_and_verifies(name: str) -> None:
    check_family_export(name, PROGRAM_SYMBOLS[name], name in MASK_NOT_ENFORCED, UNNAMED.get(name, []))


def check_family_export(
    name: str, symbols: int, mask_not_enforced: bool, unnamed: list[str], refined: dict[str, str] | None = None
) -> None:
    """Export one family: truth (with the axes the model refines, ``refined``: Swin's
    ``4*height_div4``), free symbols, refinements, its own checks, inputs unchanged, the
    user's model unchanged, and a held-out set against eager."""
    entry, model = ZOO[name], _model(name)
    state = _module_state(model)
    sets = _sets(entry)
    before = [_snapshot(s) for s in sets]
    result = symshape.export(model, sets)
    assert [_snapshot(s) for s in sets] == before, "export mutated the user's inputs"
    exprs = {(a.path if a.axis is None else f"{a.path}:{a.axis}"): a.expr for a in result.spec.axes}
    truth = {**entry.truth, **(refined or {})}
    assert {k: exprs.get(k) for k in truth} == truth
    assert all(e.lstrip("-").isdigit() for k, e in exprs.items() if k not in entry.truth), (
        "an axis outside the truth table is dynamic"
    )
    assert len(result.spec.dims) == entry.expected_free_symbols
    assert result.reading.symbols == symbols
    assert [r.change for r in result.refinements if r.change.startswith(f"{r.dim}: ")] == unnamed
    assert result.ok, result.checks
    after = _module_state(model)  # attributes a forward adds are lazy set-up (transformers' hook flags)
    assert {n: {k: after[n].get(k) for k in attrs} for n, attrs in state.items()} == state, "model changed"
    # A relation torch states as a derived dim is held by construction; one left AUTO must be enforced.
    expected = {"not enforced"} if mask_not_enforced else {"enforced", "stated"}
    assert {c.status for c in result.reading.relation_checks} <= expected, result.reading.relation_checks
    for check in result.reading.relation_checks:
        if check.status == "not enforced":
            assert "guards only require" in check.detail and "attention_mask.shape[1]" in check.detail, check.detail
    held_out = entry.make_inputs(entry.held_out, seed=99)
    assert max_diff_vs_eager(result.program, model, (), held_out) < 1e-4


@pytest.mark.parametrize("name", sorted(NOT_EXPORTABLE))
def test_family_the_model_forbids_is_explained(name: str) -> None:
    entry = ZOO[name]
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(_model(name), _sets(entry))
    text = str(info.value)
    dim, path, code = NOT_EXPORTABLE[name]
    assert dim in text and path in text and re.search(code, text), text
    assert not re.search(r"\bs\d+\b", text)


def test_every_family_is_covered() -> None:
    """Every zoo family is exported here or in test_zoo_export_more.py (the families of
    tests/zoo_families.py), or is one the model forbids."""
    from .test_zoo_export_more import MORE_SYMBOLS

    assert not set(PROGRAM_SYMBOLS) & set(MORE_SYMBOLS)
    assert set(PROGRAM_SYMBOLS) | set(MORE_SYMBOLS) | set(NOT_EXPORTABLE) == set(ZOO)
