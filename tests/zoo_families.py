"""More zoo families (issue 11): sliding windows past the window, hybrid and recurrent caches,
MLA, MoE, ALiBi, Marian, audio, vision and LLaVA.

Same format as :mod:`tests.zoo` (read its docstring first); ``tests/zoo.py`` registers
:data:`FAMILIES` in ``ZOO``, so import ``ZOO`` from there, not this module. Every model is built
from a tiny config (random weights, 2 layers, hidden 32-64, vocab 128, no hub access).

Dims beyond the ones tests/zoo.py lists: ``num_samples`` (raw audio samples, wav2vec2). Cases
of a family whose seq_len is 1 in every set (the hybrid/recurrent decode steps) keep the
``seq_len`` key, pinned to 1: it is not a dim there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import transformers
from transformers import DynamicCache
from transformers.cache_utils import CacheLayerMixin, LinearAttentionCacheLayerMixin

from .zoo import (
    _DECODE,
    _ROPE_NOTE,
    _SEQ2SEQ_HELD_OUT,
    _SEQ2SEQ_TRAIN,
    _THREE,
    CACHE_KWARG,
    VOCAB,
    Case,
    ZooEntry,
    _built,
    _decoder_only_entry,
    _ids,
    _positions,
    _seq2seq_entry,
)

# --------------------------------------------------------------------------------------------
# sliding windows with int counters: gpt-oss, Starcoder2, Gemma3 (window full), Cohere2 (not full)

#: Window of the gpt-oss / Starcoder2 / Gemma3 entries: every past_len is >= it, so each sliding
#: layer keeps a constant SLIDING_WINDOW - 1 tokens and its mask takes the "full" branch.
SLIDING_WINDOW = 8
#: Cohere2's window: larger than every past_len + seq_len, so its sliding layer keeps past_len tokens.
COHERE2_WINDOW = 16

_WINDOW_FULL_TRAIN = [
    {"batch": 2, "seq_len": 3, "past_len": 9},
    {"batch": 3, "seq_len": 4, "past_len": 12},
    {"batch": 2, "seq_len": 2, "past_len": 10},
]
_WINDOW_FULL_HELD_OUT = {"batch": 4, "seq_len": 1, "past_len": 15}

_WINDOW_FULL_NOTE = (
    f"sliding_window={SLIDING_WINDOW} <= past_len in every case (held-out included): each sliding layer "
    f"(DynamicSlidingWindowLayer) keeps a CONSTANT {SLIDING_WINDOW - 1} tokens (static axis, no truth row), "
    "past_len shows only in its int counter cache['cumulative_length'][i], the full layers and the mask; its "
    f"mask covers {SLIDING_WINDOW - 1} + seq_len keys at offset past_len - {SLIDING_WINDOW - 1} (branch on "
    f"cumulative_length >= {SLIDING_WINDOW}). Never mix with past_len < {SLIDING_WINDOW} in one recording: the "
    "kept length is min(past_len, window - 1)."
)


def _gpt_oss_config() -> Any:
    # YaRN rope as in gpt-oss, with an original context consistent with max_position_embeddings.
    return transformers.GptOssConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        num_local_experts=4,
        num_experts_per_tok=2,
        sliding_window=SLIDING_WINDOW,
        max_position_embeddings=256,
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 150000.0,
            "factor": 4.0,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "truncate": False,
            "original_max_position_embeddings": 64,
        },
    )


def _starcoder2_config() -> Any:
    # No layer_types: every layer is sliding (sliding_window is set).
    return transformers.Starcoder2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=SLIDING_WINDOW,
        max_position_embeddings=256,
        bos_token_id=0,
        eos_token_id=0,
    )


def _gemma3_config() -> Any:
    return transformers.Gemma3TextConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=SLIDING_WINDOW,
        max_position_embeddings=256,
        layer_types=["sliding_attention", "full_attention"],
    )


def _cohere2_config() -> Any:
    return transformers.Cohere2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=COHERE2_WINDOW,
        max_position_embeddings=256,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


SLIDING = [
    _decoder_only_entry(
        "gpt_oss",
        "GptOssForCausalLM",
        _gpt_oss_config,
        2,
        8,
        _WINDOW_FULL_TRAIN,
        _WINDOW_FULL_HELD_OUT,
        "Layer 0 sliding, layer 1 full (gpt-oss alternates). " + _WINDOW_FULL_NOTE + " MoE (4 experts, top-2, "
        "default experts kernel: the transformers.grouped_mm_fallback custom op), attention sinks, YaRN rope.",
        window_full=True,
    ),
    _decoder_only_entry(
        "starcoder2",
        "Starcoder2ForCausalLM",
        _starcoder2_config,
        2,
        8,
        _WINDOW_FULL_TRAIN,
        _WINDOW_FULL_HELD_OUT,
        "EVERY layer is sliding (no layer_types): " + _WINDOW_FULL_NOTE + " So no key/value axis is dynamic at "
        "all: past_len lives only in the two int counters and attention_mask:1. " + _ROPE_NOTE,
        window_full=True,
    ),
    _decoder_only_entry(
        "gemma3",
        "Gemma3ForCausalLM",
        _gemma3_config,
        2,
        16,
        _WINDOW_FULL_TRAIN,
        _WINDOW_FULL_HELD_OUT,
        "Gemma3 text model, layer 0 sliding (local rope base), layer 1 full. " + _WINDOW_FULL_NOTE + " q/k "
        "RMSNorm, embeddings scaled by sqrt(hidden_size).",
        window_full=True,
    ),
    _decoder_only_entry(
        "cohere2",
        "Cohere2ForCausalLM",
        _cohere2_config,
        2,
        8,
        [
            {"batch": 2, "seq_len": 3, "past_len": 5},
            {"batch": 3, "seq_len": 4, "past_len": 7},
            {"batch": 2, "seq_len": 2, "past_len": 9},
        ],
        {"batch": 4, "seq_len": 1, "past_len": 12},
        f"Sliding/global mix: layer 0 sliding (window {COHERE2_WINDOW}, rope), layer 1 global (no positional "
        f"encoding). Every case keeps past_len + seq_len <= {COHERE2_WINDOW} (the window is never full): the "
        "sliding layer keeps past_len tokens and carries the int counter cache['cumulative_length'][0] "
        "(= past_len). Parallel attention + MLP block, logit_scale on the logits.",
    ),
]


# --------------------------------------------------------------------------------------------
# caches filled per layer type: hybrid / recurrent decode steps and MLA


@dataclass(frozen=True)
class CacheShapes:
    """Per-row shapes of what a decode cache holds, for each layer type the config gives.

    Attention layers (``CacheLayerMixin``) hold keys ``(batch, kv_heads, past_len, key_dim)`` and
    values ``(batch, kv_heads, past_len, value_dim)``; linear-attention layers hold a conv state
    ``(batch, *conv)`` and, when ``recurrent`` is set, a recurrent state ``(batch, *recurrent)``.
    A hybrid layer (Falcon-H1) holds both.
    """

    kv_heads: int
    key_dim: int
    value_dim: int
    conv: tuple[int, ...] | None = None
    recurrent: tuple[int, ...] | None = None


def _state_cache(config: Any, shapes: CacheShapes, batch: int, past_len: int, gen: torch.Generator) -> DynamicCache:
    """A ``DynamicCache`` laid out from ``config`` as after a prefill of ``past_len`` tokens."""
    cache = DynamicCache(config=config)
    for i, layer in enumerate(cache.layers):
        if isinstance(layer, LinearAttentionCacheLayerMixin):  # the first update sets has_previous_state
            cache.update_conv_state(torch.randn(batch, *shapes.conv, generator=gen), i)
            if shapes.recurrent is not None:
                cache.update_recurrent_state(torch.randn(batch, *shapes.recurrent, generator=gen), i)
        if isinstance(layer, CacheLayerMixin):
            key = torch.randn(batch, shapes.kv_heads, past_len, shapes.key_dim, generator=gen)
            value = torch.randn(batch, shapes.kv_heads, past_len, shapes.value_dim, generator=gen)
            cache.update(key, value, i)
    return cache


def _state_truth(config: Any, shapes: CacheShapes) -> dict[str, str]:
    """Rows for the cache :func:`_state_cache` builds: batch everywhere, past_len on key/value axis 2."""
    rows: dict[str, str] = {}
    layers = DynamicCache(config=config).layers
    attention = [i for i, layer in enumerate(layers) if isinstance(layer, CacheLayerMixin)]
    linear = [i for i, layer in enumerate(layers) if isinstance(layer, LinearAttentionCacheLayerMixin)]
    for kind in ("key_cache", "value_cache"):
        for i in attention:
            rows[f"{CACHE_KWARG}['{kind}'][{i}]:0"] = "batch"
            rows[f"{CACHE_KWARG}['{kind}'][{i}]:2"] = "past_len"
    groups = ("conv_states", "recurrent_states") if shapes.recurrent is not None else ("conv_states",)
    for group in groups:
        for i in linear:
            rows[f"{CACHE_KWARG}['{group}'][{i}]:0"] = "batch"
    return rows


def _state_decode_entry(
    name: str,
    model_class: str,
    config_fn: Callable[[], Any],
    shapes: CacheShapes,
    train_cases: list[Case],
    held_out: Case,
    notes: str,
) -> ZooEntry:
    """A decode step with the cache the model builds: input_ids, attention_mask, position_ids, cache.

    When seq_len is 1 in every train case (a recurrent decode step), seq_len is not a dim: the
    true dims are batch and past_len, and the mask is ``past_len + 1`` long.
    """
    decode_only = {case["seq_len"] for case in train_cases} == {1}
    cfg = config_fn()

    def make_inputs(case: Case, seed: int) -> dict[str, Any]:
        batch, seq_len, past_len = case["batch"], case["seq_len"], case["past_len"]
        gen = torch.Generator().manual_seed(seed)
        return {
            "input_ids": _ids(gen, batch, seq_len),
            "attention_mask": torch.ones(batch, past_len + seq_len, dtype=torch.int64),
            "position_ids": _positions(batch, past_len, seq_len),
            CACHE_KWARG: _state_cache(config_fn(), shapes, batch, past_len, gen),
        }

    truth = {"input_ids:0": "batch", "attention_mask:0": "batch", "position_ids:0": "batch"}
    if decode_only:
        truth["attention_mask:1"] = "past_len + 1"
    else:
        truth |= {"input_ids:1": "seq_len", "position_ids:1": "seq_len", "attention_mask:1": "past_len + seq_len"}
    truth |= _state_truth(cfg, shapes)
    layer_types = [type(layer).__name__ for layer in DynamicCache(config=cfg).layers]
    return ZooEntry(
        name=name,
        model_class=model_class,
        build=functools.partial(_built, config_fn, getattr(transformers, model_class)),
        make_inputs=make_inputs,
        train_cases=train_cases,
        held_out=held_out,
        truth=truth,
        expected_free_symbols=2 if decode_only else 3,
        notes=notes,
        cache_kwarg=CACHE_KWARG,
        cache_class=f"DynamicCache ({', '.join(layer_types)})",
        output_shapes=lambda c: {"logits": (c["batch"], c["seq_len"], VOCAB)},
    )


#: Decode-only recordings: one new token per step, batch and past_len moving independently.
_DECODE_ONLY_TRAIN = [
    {"batch": 2, "seq_len": 1, "past_len": 5},
    {"batch": 3, "seq_len": 1, "past_len": 7},
    {"batch": 2, "seq_len": 1, "past_len": 4},
]
_DECODE_ONLY_HELD_OUT = {"batch": 4, "seq_len": 1, "past_len": 9}

_RECURRENT_NOTE = (
    "DECODE STEPS ONLY: seq_len is 1 in every set, not a dim (true dims: batch, past_len). seq_len == 1 "
    "selects the recurrent path (the cached conv state is rolled by one column, the state updated once); a "
    "longer input takes the chunked / full-sequence path, another program. The conv/recurrent states are "
    "fixed size (only batch is dynamic); past_len shows only in the attention layers' keys/values and the mask."
)

_JAMBA_HIDDEN, _JAMBA_EXPAND, _JAMBA_CONV, _JAMBA_STATE = 32, 2, 4, 8


def _jamba_config() -> Any:
    # Layer 0 Mamba, layer 1 attention (attn period 2, offset 1); layer 1 is also the MoE layer.
    return transformers.JambaConfig(
        vocab_size=VOCAB,
        hidden_size=_JAMBA_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts=4,
        num_experts_per_tok=2,
        expert_layer_period=2,
        expert_layer_offset=1,
        attn_layer_period=2,
        attn_layer_offset=1,
        mamba_d_state=_JAMBA_STATE,
        mamba_d_conv=_JAMBA_CONV,
        mamba_expand=_JAMBA_EXPAND,
        max_position_embeddings=256,
    )


_LFM2_HIDDEN, _LFM2_CONV = 32, 3


def _lfm2_config() -> Any:
    # Layer 0 a short convolution (conv_L_cache=3), layer 1 full attention.
    return transformers.Lfm2Config(
        vocab_size=VOCAB,
        hidden_size=_LFM2_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        conv_L_cache=_LFM2_CONV,
        block_multiple_of=16,
        max_position_embeddings=256,
        layer_types=["conv", "full_attention"],
    )


_QWEN3_NEXT_LINEAR = {"key_heads": 2, "value_heads": 4, "key_dim": 8, "value_dim": 8, "conv": 4}


def _qwen3_next_config() -> Any:
    lin = _QWEN3_NEXT_LINEAR
    return transformers.Qwen3NextConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        linear_conv_kernel_dim=lin["conv"],
        linear_key_head_dim=lin["key_dim"],
        linear_value_head_dim=lin["value_dim"],
        linear_num_key_heads=lin["key_heads"],
        linear_num_value_heads=lin["value_heads"],
        moe_intermediate_size=32,
        shared_expert_intermediate_size=32,
        num_experts=4,
        num_experts_per_tok=2,
        layer_types=["linear_attention", "full_attention"],
        max_position_embeddings=256,
    )


def _qwen3_next_shapes() -> CacheShapes:
    # Gated DeltaNet: the conv runs over q, k and v concatenated; the state is (value heads, k dim, v dim).
    lin = _QWEN3_NEXT_LINEAR
    conv_channels = 2 * lin["key_heads"] * lin["key_dim"] + lin["value_heads"] * lin["value_dim"]
    return CacheShapes(
        kv_heads=2,
        key_dim=8,
        value_dim=8,
        conv=(conv_channels, lin["conv"]),
        recurrent=(lin["value_heads"], lin["key_dim"], lin["value_dim"]),
    )


_FALCON_H1_SSM = {"d_ssm": 64, "heads": 4, "head_dim": 16, "groups": 1, "state": 8, "conv": 4}


def _falcon_h1_config() -> Any:
    ssm = _FALCON_H1_SSM
    return transformers.FalconH1Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        mamba_d_ssm=ssm["d_ssm"],
        mamba_n_heads=ssm["heads"],
        mamba_d_head=ssm["head_dim"],
        mamba_n_groups=ssm["groups"],
        mamba_d_state=ssm["state"],
        mamba_d_conv=ssm["conv"],
        mamba_expand=2,
        mamba_chunk_size=16,
        max_position_embeddings=256,
    )


def _falcon_h1_shapes() -> CacheShapes:
    # Mamba-2: the conv runs over x, B and C (d_ssm + 2 * groups * state); the state is (heads, head dim, state).
    ssm = _FALCON_H1_SSM
    return CacheShapes(
        kv_heads=2,
        key_dim=8,
        value_dim=8,
        conv=(ssm["d_ssm"] + 2 * ssm["groups"] * ssm["state"], ssm["conv"]),
        recurrent=(ssm["heads"], ssm["head_dim"], ssm["state"]),
    )


_DEEPSEEK_MLA = {"kv_lora_rank": 16, "qk_rope_head_dim": 8}


def _deepseek_v3_config() -> Any:
    # Layer 0 dense, layer 1 MoE (4 routed experts in 2 groups, 1 shared); MLA with a q LoRA.
    return transformers.DeepseekV3Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        n_shared_experts=1,
        n_routed_experts=4,
        n_group=2,
        topk_group=1,
        num_experts_per_tok=2,
        first_k_dense_replace=1,
        kv_lora_rank=_DEEPSEEK_MLA["kv_lora_rank"],
        q_lora_rank=24,
        qk_rope_head_dim=_DEEPSEEK_MLA["qk_rope_head_dim"],
        qk_nope_head_dim=8,
        v_head_dim=8,
        max_position_embeddings=256,
    )


STATEFUL = [
    _state_decode_entry(
        "jamba",
        "JambaForCausalLM",
        _jamba_config,
        CacheShapes(
            kv_heads=2,
            key_dim=8,
            value_dim=8,
            conv=(_JAMBA_EXPAND * _JAMBA_HIDDEN, _JAMBA_CONV),
            recurrent=(_JAMBA_EXPAND * _JAMBA_HIDDEN, _JAMBA_STATE),
        ),
        _DECODE_ONLY_TRAIN,
        _DECODE_ONLY_HELD_OUT,
        "Layer 0 Mamba (LinearAttentionLayer: conv state (batch, 64, 4), SSM state (batch, 64, 8)), layer 1 "
        "attention + MoE (DynamicLayer). " + _RECURRENT_NOTE + " No rope: position_ids only reach the mask builder. "
        "Without mamba_ssm / causal_conv1d the reference PyTorch kernels run.",
    ),
    _state_decode_entry(
        "lfm2",
        "Lfm2ForCausalLM",
        _lfm2_config,
        CacheShapes(kv_heads=2, key_dim=8, value_dim=8, conv=(_LFM2_HIDDEN, _LFM2_CONV)),
        _DECODE_ONLY_TRAIN,
        _DECODE_ONLY_HELD_OUT,
        "Layer 0 a gated short convolution (LinearAttentionLayer with a conv state (batch, 32, 3) and NO "
        "recurrent state), layer 1 full attention with rope. " + _RECURRENT_NOTE,
    ),
    _state_decode_entry(
        "qwen3_next",
        "Qwen3NextForCausalLM",
        _qwen3_next_config,
        _qwen3_next_shapes(),
        _DECODE_ONLY_TRAIN,
        _DECODE_ONLY_HELD_OUT,
        "Layer 0 gated DeltaNet (conv state (batch, 64, 4), recurrent state (batch, 4, 8, 8)), layer 1 gated "
        "full attention with partial rope; MoE MLPs (4 experts + shared expert). " + _RECURRENT_NOTE + " Without "
        "flash-linear-attention the reference fused_recurrent_gated_delta_rule runs.",
    ),
    _state_decode_entry(
        "falcon_h1",
        "FalconH1ForCausalLM",
        _falcon_h1_config,
        _falcon_h1_shapes(),
        _DECODE_ONLY_TRAIN,
        _DECODE_ONLY_HELD_OUT,
        "EVERY layer is hybrid (LinearAttentionAndFullAttentionLayer): attention and Mamba-2 side by side, so "
        "each layer holds keys/values (past_len) AND a conv state (batch, 80, 4) and an SSM state "
        "(batch, 4, 16, 8). " + _RECURRENT_NOTE + " muP-style multipliers left at 1.",
    ),
    _state_decode_entry(
        "deepseek_v3",
        "DeepseekV3ForCausalLM",
        _deepseek_v3_config,
        # MLA caches the latents, single-head: keys = kv_nope (kv_lora_rank), values = k_rot (qk_rope_head_dim).
        CacheShapes(kv_heads=1, key_dim=_DEEPSEEK_MLA["kv_lora_rank"], value_dim=_DEEPSEEK_MLA["qk_rope_head_dim"]),
        _THREE,
        _DECODE,
        "Multi-head LATENT attention: the cache holds the compressed latents, not per-head keys/values: key_cache "
        "is kv_nope (batch, 1, past_len, kv_lora_rank=16), value_cache is the shared rotary key k_rot (batch, 1, "
        "past_len, qk_rope_head_dim=8): one 'head', different last dims. Keys/values are re-expanded through "
        "kv_b_proj at every step. Layer 1 is MoE (group-limited top-2 routing, shared expert). " + _ROPE_NOTE,
    ),
]


# --------------------------------------------------------------------------------------------
# plain DynamicCache decoders: Mixtral (MoE), BLOOM (ALiBi); Marian (seq2seq)


def _mixtral_config() -> Any:
    return transformers.MixtralConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=256,
    )


def _bloom_config() -> Any:
    return transformers.BloomConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        n_layer=2,
        n_head=4,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )


def _marian_config() -> Any:
    # As in the opus-mt checkpoints: pad == decoder_start == the last vocab id, eos 0.
    return transformers.MarianConfig(
        vocab_size=VOCAB,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        pad_token_id=VOCAB - 1,
        decoder_start_token_id=VOCAB - 1,
        eos_token_id=0,
        forced_eos_token_id=0,
        scale_embedding=True,
    )


PLAIN = [
    _decoder_only_entry(
        "mixtral",
        "MixtralForCausalLM",
        _mixtral_config,
        2,
        8,
        _THREE,
        _DECODE,
        "Sparse MoE: 4 experts, top-2 routing, default experts kernel (transformers.grouped_mm_fallback custom "
        "op; 'eager' would loop over the experts hit, a data-dependent count). sliding_window=None: full "
        "DynamicLayers. " + _ROPE_NOTE,
    ),
    _decoder_only_entry(
        "bloom",
        "BloomForCausalLM",
        _bloom_config,
        4,
        8,
        _THREE,
        _DECODE,
        "ALiBi: no position embeddings and no position_ids parameter; the per-head linear biases are built "
        "from attention_mask (cumsum over its past_len + seq_len columns), so the mask carries the positions. "
        "No position bound. cache is the 2nd positional parameter: pass everything by keyword.",
        takes_position_ids=False,
    ),
]

MARIAN = [
    _seq2seq_entry(
        "marian",
        "MarianMTModel",
        _marian_config,
        4,
        8,
        32,
        [*_SEQ2SEQ_TRAIN, {"batch": 2, "seq_len": 2, "past_len": 6, "encoder_seq_len": 5}],
        _SEQ2SEQ_HELD_OUT,
        "Same decode-step layout as BART. Sinusoidal positions (a fixed table of max_position_embeddings=64 "
        "rows): past_len + seq_len <= 64 for the decoder, encoder_seq_len <= 64 for the encoder. "
        "scale_embedding=True; shared encoder/decoder embeddings.",
    ),
]


# --------------------------------------------------------------------------------------------
# audio: wav2vec2 on raw waveforms

#: Feature encoder: three convs (kernel, stride) = (10, 5), (3, 2), (3, 2): 20 samples per frame.
_W2V_KERNELS, _W2V_STRIDES = (10, 3, 3), (5, 2, 2)


def _wav2vec2_config() -> Any:
    # The "large-lv60" layout (layer-norm feature encoder, stable layer norm): the variant that takes an
    # attention_mask over the samples.
    return transformers.Wav2Vec2Config(
        vocab_size=32,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=(32, 32, 32),
        conv_stride=_W2V_STRIDES,
        conv_kernel=_W2V_KERNELS,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )


def _wav2vec2_frames(num_samples: int) -> int:
    for kernel, stride in zip(_W2V_KERNELS, _W2V_STRIDES):
        num_samples = (num_samples - kernel) // stride + 1
    return num_samples


def _wav2vec2_inputs(case: Case, seed: int) -> dict[str, Any]:
    """A padded batch as the feature extractor returns it: the last row's clip is shorter, zero-padded."""
    batch, num_samples = case["batch"], case["num_samples"]
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(batch, num_samples, generator=gen)
    mask = torch.ones(batch, num_samples, dtype=torch.int64)
    short = (3 * num_samples) // 4
    values[-1, short:] = 0.0
    mask[-1, short:] = 0
    return {"input_values": values, "attention_mask": mask}


WAV2VEC2 = ZooEntry(
    name="wav2vec2",
    model_class="Wav2Vec2Model",
    build=functools.partial(_built, _wav2vec2_config, transformers.Wav2Vec2Model),
    make_inputs=_wav2vec2_inputs,
    train_cases=[
        {"batch": 2, "num_samples": 1603},
        {"batch": 3, "num_samples": 2011},
        {"batch": 2, "num_samples": 1800},
    ],
    held_out={"batch": 4, "num_samples": 2417},
    truth={
        f"{name}:{axis}": dim
        for name in ("input_values", "attention_mask")
        for axis, dim in ((0, "batch"), (1, "num_samples"))
    },
    expected_free_symbols=2,
    notes=(
        "Raw waveform (batch, num_samples), any length >= 40: the conv feature encoder gives "
        "((n - 10) // 5 + 1 - 3) // 2 + 1 ... frames (floors: lengths are not multiples of anything). The last "
        "row is padded (attention_mask 0 over its last quarter): the model turns the sample mask into a frame "
        "mask from attention_mask.sum(-1) (data-dependent VALUES, static shapes) and zeroes padded frames with a "
        "boolean-mask assignment. Convolutional relative positions (kernel 16, groups 4): no length bound. "
        "Eval mode: no SpecAugment masking."
    ),
    output_shapes=lambda c: {
        "last_hidden_state": (c["batch"], _wav2vec2_frames(c["num_samples"]), 32),
        "extract_features": (c["batch"], _wav2vec2_frames(c["num_samples"]), 32),
    },
)


# --------------------------------------------------------------------------------------------
# vision: Swin, ConvNeXt, DETR, SigLIP


def _swin_config() -> Any:
    # One stage of two blocks (2 layers): a window block and a SHIFTED-window block (shift 2), patch 4,
    # window 4; no patch merging (a merge follows every stage but the last).
    return transformers.SwinConfig(
        image_size=64,
        patch_size=4,
        num_channels=3,
        embed_dim=16,
        depths=[2],
        num_heads=[2],
        window_size=4,
        mlp_ratio=2.0,
    )


def _pixels(case: Case, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(case["batch"], 3, case["height"], case["width"], generator=gen)


_PIXEL_TRUTH = {"pixel_values:0": "batch", "pixel_values:2": "height", "pixel_values:3": "width"}

SWIN = ZooEntry(
    name="swin",
    model_class="SwinModel",
    build=functools.partial(_built, _swin_config, transformers.SwinModel),
    make_inputs=lambda case, seed: {"pixel_values": _pixels(case, seed)},
    train_cases=[
        {"batch": 2, "height": 64, "width": 64},
        {"batch": 3, "height": 64, "width": 96},
        {"batch": 2, "height": 96, "width": 128},
    ],
    held_out={"batch": 4, "height": 128, "width": 160},
    truth=_PIXEL_TRUTH,
    expected_free_symbols=3,
    notes=(
        "height and width are multiples of 32 in every case, so the token grid (height // 4, width // 4) is a "
        "multiple of the window 4 and maybe_pad pads by 0 (it always pads, by (4 - w % 4) % 4: a modulo, no "
        "branch). No absolute position embeddings (relative bias per window), so any size runs. Block 1 shifts "
        "its windows by 2 (torch.roll) and builds the shifted-window attention mask from the padded sizes. TRAP: "
        "a block whose resolution is <= window_size switches to window = resolution and NO shift "
        "(set_shift_and_window_size), and it STORES that on the module (self.window_size / self.shift_size are "
        "overwritten in forward): one image of 16 pixels or less changes the model for every later call. The "
        "smallest size here, 64, keeps the grid at 16 > 4."
    ),
    output_shapes=lambda c: {
        "last_hidden_state": (c["batch"], (c["height"] // 4) * (c["width"] // 4), 16),
        "pooler_output": (c["batch"], 16),
    },
)


def _convnext_config() -> Any:
    return transformers.ConvNextConfig(num_channels=3, patch_size=4, num_stages=2, hidden_sizes=[16, 32], depths=[1, 1])


CONVNEXT = ZooEntry(
    name="convnext",
    model_class="ConvNextModel",
    build=functools.partial(_built, _convnext_config, transformers.ConvNextModel),
    make_inputs=lambda case, seed: {"pixel_values": _pixels(case, seed)},
    train_cases=[
        {"batch": 2, "height": 32, "width": 32},
        {"batch": 3, "height": 40, "width": 56},
        {"batch": 2, "height": 56, "width": 48},
    ],
    held_out={"batch": 4, "height": 72, "width": 64},
    truth=_PIXEL_TRUTH,
    expected_free_symbols=3,
    notes=(
        "Fully convolutional: stem conv (kernel 4, stride 4), one downsampling conv (2, 2); the global average "
        "pool makes pooler_output size-independent. Any height/width >= 8 runs (floors); the cases use multiples "
        "of 8, so the feature map is (height // 8, width // 8). No position embeddings, no bound."
    ),
    output_shapes=lambda c: {
        "last_hidden_state": (c["batch"], 32, c["height"] // 8, c["width"] // 8),
        "pooler_output": (c["batch"], 32),
    },
)

DETR_QUERIES = 5


def _detr_config() -> Any:
    # A tiny ResNet from the AutoBackbone API (no timm, no pretrained weights): stride 8 at its last stage.
    backbone = transformers.ResNetConfig(
        num_channels=3,
        embedding_size=16,
        hidden_sizes=[16, 32],
        depths=[1, 1],
        layer_type="basic",
        out_features=["stage2"],
    )
    return transformers.DetrConfig(
        backbone_config=backbone,
        num_queries=DETR_QUERIES,
        encoder_layers=2,
        decoder_layers=2,
        d_model=32,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
    )


def _detr_inputs(case: Case, seed: int) -> dict[str, Any]:
    """A padded batch as DetrImageProcessor returns it: the last image is smaller, padded bottom-right."""
    mask = torch.ones(case["batch"], case["height"], case["width"], dtype=torch.int64)
    mask[-1, (3 * case["height"]) // 4 :, :] = 0
    mask[-1, :, (5 * case["width"]) // 8 :] = 0
    return {"pixel_values": _pixels(case, seed), "pixel_mask": mask}


DETR = ZooEntry(
    name="detr",
    model_class="DetrModel",
    build=functools.partial(_built, _detr_config, transformers.DetrModel),
    make_inputs=_detr_inputs,
    train_cases=[
        {"batch": 2, "height": 48, "width": 64},
        {"batch": 3, "height": 56, "width": 40},
        {"batch": 2, "height": 64, "width": 72},
    ],
    held_out={"batch": 4, "height": 80, "width": 96},
    truth={**_PIXEL_TRUTH, "pixel_mask:0": "batch", "pixel_mask:1": "height", "pixel_mask:2": "width"},
    expected_free_symbols=3,
    notes=(
        "pixel_mask (batch, height, width) marks the padding of the smaller last image; it is resized (nearest) "
        "to the stride-8 feature map and drives the sine position embedding and the encoder mask. The backbone "
        "(ResNet: 7x7/2 conv, 3x3/2 max pool, one 3x3/2 stage) ceils; the cases use multiples of 8, so the "
        f"encoder sees (height // 8) * (width // 8) tokens. {DETR_QUERIES} object queries (static decoder length)."
    ),
    output_shapes=lambda c: {
        "last_hidden_state": (c["batch"], DETR_QUERIES, 32),
        "encoder_last_hidden_state": (c["batch"], (c["height"] // 8) * (c["width"] // 8), 32),
    },
)

SIGLIP_SIZE = 16


def _siglip_config() -> Any:
    return transformers.SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=SIGLIP_SIZE,
        patch_size=4,
    )


SIGLIP = ZooEntry(
    name="siglip_vision",
    model_class="SiglipVisionModel",
    build=functools.partial(_built, _siglip_config, transformers.SiglipVisionModel),
    make_inputs=lambda case, seed: {
        "pixel_values": _pixels({**case, "height": SIGLIP_SIZE, "width": SIGLIP_SIZE}, seed)
    },
    train_cases=[{"batch": 2}, {"batch": 3}, {"batch": 5}],
    held_out={"batch": 4},
    truth={"pixel_values:0": "batch"},
    expected_free_symbols=1,
    notes=(
        f"As SiglipImageProcessor feeds it: every image resized to image_size={SIGLIP_SIZE}, so only batch is "
        "dynamic (16 patch tokens, no CLS; attention-pooling head). Without interpolate_pos_encoding any other "
        "size fails (position_ids are 16 long). With interpolate_pos_encoding=True it has ViT's trap: "
        "num_patches == 16 and height == width returns the table uninterpolated (see the vit entry)."
    ),
    output_shapes=lambda c: {"last_hidden_state": (c["batch"], 16, 32), "pooler_output": (c["batch"], 32)},
)


# --------------------------------------------------------------------------------------------
# LLaVA: fixed images, varying text

LLAVA_IMAGE_TOKEN = VOCAB - 1
LLAVA_PAD = 0
LLAVA_BATCH = 2  # prompts, one image each: pixel_values is the same shape in every set
LLAVA_IMAGE_TOKENS = 16  # (16 / 4) ** 2 CLIP patches; the CLS token is dropped ("default" strategy)


def _llava_config() -> Any:
    vision = transformers.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=16,
        patch_size=4,
        projection_dim=32,
    )
    text = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=LLAVA_PAD,
    )
    return transformers.LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=LLAVA_IMAGE_TOKEN,
        image_seq_length=LLAVA_IMAGE_TOKENS,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def _llava_inputs(case: Case, seed: int) -> dict[str, Any]:
    """A batched prefill as the processor + generate give it: [pad.. ] bos, 16 image tokens, text; the
    second prompt is 2 tokens shorter (left padding). The images are the same size in every set."""
    seq_len = case["seq_len"]
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, LLAVA_IMAGE_TOKEN, (LLAVA_BATCH, seq_len), generator=gen)
    mask = torch.ones(LLAVA_BATCH, seq_len, dtype=torch.int64)
    for row, pad in enumerate((0, 2)):
        ids[row, :pad] = LLAVA_PAD
        mask[row, :pad] = 0
        ids[row, pad] = 1  # bos
        ids[row, pad + 1 : pad + 1 + LLAVA_IMAGE_TOKENS] = LLAVA_IMAGE_TOKEN
    pixel_values = torch.randn(LLAVA_BATCH, 3, 16, 16, generator=gen)
    return {"input_ids": ids, "pixel_values": pixel_values, "attention_mask": mask}


LLAVA = ZooEntry(
    name="llava",
    model_class="LlavaForConditionalGeneration",
    build=functools.partial(_built, _llava_config, transformers.LlavaForConditionalGeneration),
    make_inputs=_llava_inputs,
    train_cases=[{"seq_len": 22}, {"seq_len": 25}, {"seq_len": 29}],
    held_out={"seq_len": 34},
    truth={"input_ids:1": "seq_len", "attention_mask:1": "seq_len"},
    expected_free_symbols=1,
    notes=(
        f"Prefill with FIXED images: {LLAVA_BATCH} prompts with one 16x16 image each, pixel_values "
        f"({LLAVA_BATCH}, 3, 16, 16) in every set, so batch is static too; only the text length varies. seq_len "
        f"counts every token: {LLAVA_IMAGE_TOKENS} image placeholders (token {LLAVA_IMAGE_TOKEN}) + bos + text "
        "(+ 2 left pads on row 1), so seq_len >= 19. The placeholder count must equal the image features "
        "(torch_compilable_check on a data-dependent sum) and the features are scattered into the embeddings by "
        "masked_scatter (data-dependent positions, static shapes). Returns a fresh DynamicCache (use_cache "
        "default). Llama text model: " + _ROPE_NOTE
    ),
    output_shapes=lambda c: {"logits": (LLAVA_BATCH, c["seq_len"], VOCAB)},
)


FAMILIES: list[ZooEntry] = [
    *SLIDING,
    *STATEFUL,
    *PLAIN,
    *MARIAN,
    WAV2VEC2,
    SWIN,
    CONVNEXT,
    DETR,
    SIGLIP,
    LLAVA,
]
