"""A real transformers decoder: tiny Llama (2 layers) with a DynamicCache, decode steps."""

from __future__ import annotations

import torch

import symshape
from symshape.exporting.readback import input_symbols
from symshape.integrations.transformers.tiny_models import llama_decode_inputs

from .conftest import export_with, max_diff_vs_eager


def test_llama_decode_steps(llama) -> None:
    sets = [llama_decode_inputs(llama, 2, 3, 5, seed=0), llama_decode_inputs(llama, 3, 4, 7, seed=1)]
    before = [s["cache"].layers[0].keys.clone() for s in sets]
    spec = symshape.infer_dims(llama, sets)

    assert list(spec.dims) == ["batch", "seq_len", "past_len"]
    exprs = {a.label: a.expr for a in spec.axes}
    assert exprs["input_ids.shape[0]"] == exprs["attention_mask.shape[0]"] == "batch"
    assert exprs["position_ids.shape[1]"] == "seq_len"
    assert exprs["cache['key_cache'][1].shape[2]"] == "past_len"
    assert exprs["attention_mask.shape[1]"] == "past_len + seq_len"
    (total,) = [r for r in spec.relations if r.kind == "sum"]
    assert total.members == ("attention_mask.shape[1]",) and not total.expressible
    assert spec.dynamic_shapes["attention_mask"][1] == torch.export.Dim.AUTO
    # Batch is shared by every input and every cache layer.
    assert sum(1 for e in exprs.values() if e == "batch") == 3 + 4

    program = export_with(llama, spec)
    assert len(input_symbols(program)) == 4  # batch, seq_len, past_len + the AUTO mask axis
    held_out = llama_decode_inputs(llama, 4, 1, 9, seed=3)  # a one-token decode step
    assert max_diff_vs_eager(program, llama, (), held_out) < 1e-4
    # Nothing of the user's was touched by inference or export.
    assert all(torch.equal(b, s["cache"].layers[0].keys) for b, s in zip(before, sets))
    assert sets[0]["cache"].get_seq_length() == 5
