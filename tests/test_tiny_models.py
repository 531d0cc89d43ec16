"""Tests of the tiny random models and their decode-step inputs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from symshape.integrations.transformers.tiny_models import CACHE_KWARG, llama_decode_inputs, tiny_llama


@pytest.fixture(scope="module")
def model():
    return tiny_llama()


def test_import_does_not_import_transformers():
    code = "import sys, symshape.integrations.transformers.tiny_models; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cache_kwarg_is_a_forward_parameter(model):
    import inspect

    assert CACHE_KWARG in inspect.signature(type(model).forward).parameters


@pytest.mark.parametrize(("batch", "seq_len", "past_len"), [(2, 3, 5), (3, 1, 7)])
def test_input_shapes(model, batch, seq_len, past_len):
    kw = llama_decode_inputs(model, batch, seq_len, past_len)
    assert set(kw) == {"input_ids", "attention_mask", "position_ids", CACHE_KWARG}
    assert kw["input_ids"].shape == (batch, seq_len)
    assert kw["input_ids"].dtype == torch.int64
    assert int(kw["input_ids"].max()) < model.config.vocab_size
    assert kw["attention_mask"].shape == (batch, past_len + seq_len)
    assert kw["attention_mask"].dtype == torch.int64
    assert bool((kw["attention_mask"] == 1).all())
    expected_pos = torch.arange(past_len, past_len + seq_len).expand(batch, seq_len)
    assert torch.equal(kw["position_ids"], expected_pos)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_cache_layers_and_shapes(num_layers):
    m = tiny_llama(num_layers=num_layers)
    cache = llama_decode_inputs(m, 2, 3, 5)[CACHE_KWARG]
    head_dim = m.config.hidden_size // m.config.num_attention_heads
    assert len(cache.layers) == num_layers
    assert cache.get_seq_length() == 5
    for layer in cache.layers:
        assert layer.keys.shape == (2, m.config.num_key_value_heads, 5, head_dim)
        assert layer.values.shape == (2, m.config.num_key_value_heads, 5, head_dim)


@pytest.mark.parametrize(("batch", "seq_len", "past_len"), [(2, 3, 5), (3, 1, 7)])
def test_forward_logits_shape(model, batch, seq_len, past_len):
    kw = llama_decode_inputs(model, batch, seq_len, past_len)
    with torch.no_grad():
        out = model(**kw)
    assert out.logits.shape == (batch, seq_len, model.config.vocab_size)
    assert kw[CACHE_KWARG].get_seq_length() == past_len + seq_len  # grown in place


def test_same_seed_same_tensors():
    a, b = tiny_llama(seed=1), tiny_llama(seed=1)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    ka, kb = llama_decode_inputs(a, 2, 3, 5, seed=4), llama_decode_inputs(a, 2, 3, 5, seed=4)
    for name in ("input_ids", "attention_mask", "position_ids"):
        assert torch.equal(ka[name], kb[name])
    for la, lb in zip(ka[CACHE_KWARG].layers, kb[CACHE_KWARG].layers):
        assert torch.equal(la.keys, lb.keys) and torch.equal(la.values, lb.values)
    kc = llama_decode_inputs(a, 2, 3, 5, seed=5)
    assert not torch.equal(ka[CACHE_KWARG].layers[0].keys, kc[CACHE_KWARG].layers[0].keys)
