"""MoE: traced with the export-friendly experts implementation, the user's model untouched."""

from __future__ import annotations

import pytest
import torch
import transformers

import symshape
from symshape.integrations.transformers.implementations import export_friendly


def tiny_qwen3_moe(layers: int = 2) -> transformers.Qwen3MoeForCausalLM:
    config = transformers.Qwen3MoeConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    return transformers.Qwen3MoeForCausalLM(config).eval()


def decode_step(model: torch.nn.Module, batch: int, seq: int, past: int, seed: int) -> dict:
    config = model.config
    gen = torch.Generator().manual_seed(seed)
    cache = transformers.DynamicCache(config=config)
    head_dim = config.hidden_size // config.num_attention_heads
    for layer in range(config.num_hidden_layers):
        kv = [torch.randn(batch, config.num_key_value_heads, past, head_dim, generator=gen) for _ in range(2)]
        cache.update(*kv, layer)
    return {
        "input_ids": torch.randint(0, config.vocab_size, (batch, seq), generator=gen),
        "attention_mask": torch.ones(batch, past + seq, dtype=torch.int64),
        "position_ids": torch.arange(past, past + seq).repeat(batch, 1),
        "cache": cache,
    }


@pytest.fixture(scope="module")
def moe() -> transformers.Qwen3MoeForCausalLM:
    return tiny_qwen3_moe()


def test_the_scope_selects_batched_mm_and_restores_the_users_setting(moe: torch.nn.Module) -> None:
    configs = {
        id(m.config): m.config for m in moe.modules() if hasattr(getattr(m, "config", None), "_experts_implementation")
    }
    before = {k: c._experts_implementation for k, c in configs.items()}
    assert set(before.values()) == {"grouped_mm"}  # transformers' default: a custom op ONNX cannot convert
    with export_friendly(moe):
        assert {c._experts_implementation for c in configs.values()} == {"batched_mm"}
    assert {k: c._experts_implementation for k, c in configs.items()} == before


@pytest.mark.slow
def test_moe_exports_to_onnx_and_the_model_is_left_as_it_was(moe: torch.nn.Module, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    state = {k: v.clone() for k, v in moe.state_dict().items()}
    sets = [decode_step(moe, 2, 3, 5, seed=0), decode_step(moe, 3, 4, 7, seed=1)]
    held_out = [decode_step(moe, 4, 1, 20, seed=2)]
    result = symshape.export(moe, sets)  # verified on the sets and on probes, against the user's grouped_mm
    assert result.ok and not result.coverage_gaps, result.explain()
    assert result.reading.symbols == 4  # batch, seq_len, past_len, and the mask axis (left Dim.AUTO)
    made = symshape.export_onnx(moe, sets, tmp_path / "moe.onnx", held_out=held_out, result=result)
    assert made.ok, made.explain()
    assert [c.label for c in made.checks] == ["set #0", "set #1", "held-out #0"]
    assert moe.config._experts_implementation == "grouped_mm"
    assert all(torch.equal(v, state[k]) for k, v in moe.state_dict().items())
