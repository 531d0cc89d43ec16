"""symshape.observe: record generate() calls, infer, export, verify every recorded call."""

from __future__ import annotations

import pytest
import torch

import symshape
from symshape.infer.resize import resize
from symshape.integrations.transformers.tiny_models import tiny_llama
from symshape.recording import RecordedInputs

from .generation_models import whisper
from .zoo import ZOO


@pytest.fixture(scope="module")
def model():
    m = tiny_llama(num_layers=2, hidden_size=64)
    m.generation_config.pad_token_id = 0
    return m


def _prompt(batch: int, length: int = 5, pad: int = 2):
    gen = torch.Generator().manual_seed(batch)
    ids = torch.randint(3, 120, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.int64)
    if batch > 1 and pad:
        mask[1, :pad] = 0  # left padding
        ids[1, :pad] = 0
    return ids, mask


def _record(model, batch: int, new_tokens: int = 4, pad: int = 2, **options):
    ids, mask = _prompt(batch, pad=pad)
    with symshape.observe(model, **options) as obs:
        model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False
        )
    return obs


def test_observe_restores_the_model(model):
    before = dict(model.__dict__)
    obs = _record(model, 2, new_tokens=3)
    assert "forward" not in model.__dict__ and model.__dict__.keys() == before.keys()
    assert isinstance(obs.inputs, RecordedInputs) and isinstance(obs.inputs, list)
    assert len(obs.inputs) == 3  # prefill + 2 decode steps
    # the prefill's empty cache is recorded as a cache of length 0
    assert obs.inputs[0]["cache"].layers[0].keys.shape == (2, 2, 0, 16)
    assert obs.inputs[1]["input_ids"].shape == (2, 1)


def test_observe_restores_an_instance_attribute():
    m = tiny_llama(num_layers=1, hidden_size=32)
    marker = m.forward
    m.forward = marker  # an instance attribute that must come back as is
    with symshape.observe(m):
        m(input_ids=torch.ones(1, 3, dtype=torch.int64))
    assert m.__dict__["forward"] is marker


def test_max_calls_and_keep_policy(model):
    obs = _record(model, 2, new_tokens=6, max_calls=4, keep_first=2)
    assert obs.calls_seen == 6 and len(obs.records) == 4
    assert [r.kept for r in obs.records] == [True, True, True, False]  # 0, 1, then 2 (a power of two)
    assert obs.records[3].bytes_kept == 0 and obs.records[0].bytes_kept > 0


def test_llama_generate_batch2_left_padded(model):
    obs = _record(model, 2)
    result = symshape.export(model, obs.inputs)
    spec = result.spec
    assert set(spec.dims) == {"seq_len", "past_len"}  # batch 2 everywhere: static
    assert any(r.expr.startswith("attention_mask.shape[1]") and r.rhs == "past_len + seq_len" for r in spec.relations)
    # no recorded call is safe (prefill: past_len 0, decode: seq_len 1): a synthetic example was built
    assert spec.example_index == len(obs.inputs)
    assert any("synthetic" in n for n in spec.notes)
    (batch,) = [nv for nv in spec.never_varied if nv.name == "batch"]  # one detector, one finding
    assert batch.value == 2 and "input_ids.shape[0]" in batch.axes and batch.hint == "dynamic={'batch'}"
    assert "pass dynamic={'batch'}" in spec.explain()
    assert len(result.observed_checks) == len(obs.inputs) == 4  # prefill + 3 decode steps
    assert all(c.accepted and c.covered for c in result.observed_checks), result.explain()
    assert result.ok, result.explain()
    assert max(c.max_abs_diff for c in result.observed_checks) < 1e-4


def test_llama_generate_batch1_declared_dynamic(model):
    obs = _record(model, 1)
    spec = obs.infer_dims()
    assert "batch" not in spec.dims
    assert [nv.name for nv in spec.never_varied if nv.name == "batch"] == ["batch"]
    result = symshape.export(model, obs.inputs, dynamic={"batch"})
    assert set(result.spec.dims) == {"batch", "seq_len", "past_len"}
    assert result.ok and all(c.accepted for c in result.observed_checks), result.explain()
    # the program runs another batch size too (no padding: generate drops an all-ones mask, as at batch 1)
    other = _record(model, 3, new_tokens=2, pad=0)
    runnable = result.program.module()
    for values in other.inputs:
        out = runnable(**symshape.core.copying.copy_set(values))
        assert out.logits.shape[0] == 3


def test_shape_only_calls_are_verified_on_tiled_values(model):
    obs = _record(model, 2, new_tokens=5, keep_first=2)  # calls 0, 1, 2, 4 kept; 3 as shapes
    assert [r.kept for r in obs.records] == [True, True, True, False, True]
    result = symshape.export(model, obs.inputs)
    assert [c.synthetic for c in result.observed_checks] == [False, False, False, True, False]
    assert result.ok, result.explain()


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_encoder_decoder_generate(name):
    entry = ZOO[name]
    model = entry.build()
    ids, mask = _prompt(2, length=6)
    with symshape.observe(model) as obs:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert len(obs.inputs) == 5
    result = symshape.export(model, obs.inputs, dynamic={"batch"})
    assert set(result.spec.dims) == {"batch", "past_len"}
    first, *decode = result.observed_checks
    # the first decoder step fills the cross-attention cache: another graph, reported, not run
    assert not first.covered and "another structure" in first.error
    assert all(c.accepted and c.covered and c.max_abs_diff < 1e-4 for c in decode), result.explain()
    assert result.ok
    assert any("cross_attention_cache is empty" in n for n in obs.inputs.notes)


def test_absent_argument_is_filled_with_its_default(model):
    with symshape.observe(model) as obs:
        model(input_ids=torch.ones(2, 3, dtype=torch.int64), attention_mask=torch.ones(2, 3, dtype=torch.int64))
        model(input_ids=torch.ones(2, 4, dtype=torch.int64))
        model(input_ids=torch.ones(2, 6, dtype=torch.int64))
    assert obs.inputs[1]["attention_mask"] is None
    spec = obs.infer_dims()
    # the structure most calls share has no mask; call #0 adds its input_ids sizes
    assert spec.dims["seq_len"] and [d.values for d in spec.dim_rows] == [(3, 4, 6)]
    assert any("input set #0 has another structure" in n for n in spec.notes)


def test_resize_keeps_meaning():
    positions = torch.tensor([[4, 5]])
    assert resize(positions, (2, 4), "position_ids", cyclic_axes=(0,)).tolist() == [[4, 5, 6, 7], [4, 5, 6, 7]]
    mask = torch.tensor([[0, 1, 1]])
    assert resize(mask, (1, 5), "attention_mask").tolist() == [[0, 1, 1, 1, 1]]
    with pytest.raises(ValueError):
        resize(torch.zeros(1, 0), (1, 2), "x")


def test_whisper_generate_from_audio_features():
    from .zoo import WHISPER_ENC_LEN

    model = whisper()
    config = model.config
    # the encoder demands exactly 2 * max_source_positions mel frames
    features = torch.randn(2, config.num_mel_bins, 2 * WHISPER_ENC_LEN, generator=torch.Generator().manual_seed(0))
    with symshape.observe(model) as obs:
        out = model.generate(input_features=features, max_new_tokens=4)
    assert out.shape[0] == 2
    # 4 decoder calls; the encoder runs through get_encoder(), not forward: not recorded
    assert len(obs.inputs) == 4
    assert all(
        "input_features" not in s and s["encoder_outputs"]["last_hidden_state"].shape == (2, WHISPER_ENC_LEN, 32)
        for s in obs.inputs
    )
    assert all(s["decoder_input_ids"].shape == (2, 1) for s in obs.inputs)
    assert any("cross_attention_cache is empty" in n for n in obs.inputs.notes)
    # every decode step has seq_len 1: declare it (and batch) dynamic, as a synthetic example is built
    result = symshape.export(model, obs.inputs, dynamic={"batch", "seq_len"})
    assert set(result.spec.dims) == {"batch", "seq_len", "past_len"}
    assert len(result.observed_checks) == 4
    first, *decode = result.observed_checks
    # the first decoder step fills the cross-attention cache: another graph, reported, not run
    assert not first.covered and not first.accepted and "another structure" in first.error
    assert all(c.accepted and c.covered and c.max_abs_diff < 1e-4 for c in decode), result.explain()
    assert result.ok
