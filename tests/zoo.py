"""A zoo of tiny random transformers models with realistic inputs and a ground-truth dims table.

Every entry of :data:`ZOO` is one transformers family built from a config (random weights,
2 layers, hidden 32-64, vocab 128; no hub access), with:

- ``build()``: the model in eval mode, weights fixed by a seed;
- ``make_inputs(case, seed)``: one input set (keyword arguments of ``forward``) for the sizes
  named in ``case`` (``batch``, ``seq_len``, ``past_len``, ``encoder_seq_len``, ``height``,
  ``width``). Decoders get a DECODE step: ``seq_len`` new tokens after ``past_len`` cached
  positions, with the cache class and layout the model itself would build. ``make_inputs``
  only needs the config, not the model, and fresh inputs must be built for every call
  (``forward`` grows caches in place);
- ``train_cases`` (the example sets a user would write) and ``held_out`` (a new set, for
  decoders a one-token decode step: ``seq_len = 1``);
- ``truth``: ``"path:axis" -> expression`` over the dim names, for every DYNAMIC tensor
  axis, and ``"path" -> expression`` for a dynamic ``int`` leaf (a sliding cache layer's
  ``cumulative_length``). Axes and ints that are not listed are static (the same in every
  case, held-out included). Paths are pytree key paths printed like
  ``symshape.observation.format_path``, with the cache flattening ``symshape.caches`` registers
  (at the time of writing): ``cache['key_cache'][0]`` / ``cache['value_cache'][0]`` per layer,
  ``cache['cumulative_length'][i]`` for a sliding layer, ``cache['conv_states'][0]`` /
  ``cache['recurrent_states'][0]`` for Mamba, and ``cache.self_attention_cache['key_cache'][0]``
  / ``cache.cross_attention_cache[...]`` for an ``EncoderDecoderCache``. ``encoder_outputs`` is
  a ``BaseModelOutput`` (a registered ``ModelOutput``): ``encoder_outputs['last_hidden_state']``.
  ``tests/test_zoo_eager.py`` checks every row (and the static claim) on the real inputs;
- ``expected_free_symbols``: how many independent dynamic dims the inputs really have;
- ``notes``: anything a dims-inference tool should know (specialisations, bounds, loops).

Cache keyword: in transformers 5.24 every family here takes the cache as ``cache`` (it was
``past_key_values`` in 4.x), GPT-2 and Falcon included.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.utils._pytree as pytree
import transformers
from transformers import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput

VOCAB = 128
CACHE_KWARG = "cache"

Case = dict[str, int]


@dataclass
class ZooEntry:
    """One family of the zoo (see the module docstring for the meaning of each field)."""

    name: str
    model_class: str
    build: Callable[[], torch.nn.Module]
    make_inputs: Callable[[Case, int], dict[str, Any]]
    train_cases: list[Case]
    held_out: Case
    truth: dict[str, str]
    expected_free_symbols: int
    notes: str = ""
    #: ``None`` when the entry feeds no cache (encoders, Mamba's plain forward).
    cache_kwarg: str | None = None
    cache_class: str | None = None
    #: Expected shapes of some output fields for a case, for the eager smoke test.
    output_shapes: Callable[[Case], dict[str, tuple[int, ...]]] = field(default=lambda case: {})

    @property
    def dims(self) -> list[str]:
        return sorted(self.train_cases[0])


# --------------------------------------------------------------------------------------------
# shared helpers


def _built(config_fn: Callable[[], Any], model_cls: Callable[[Any], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return model_cls(config_fn()).eval()


def _ids(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, shape, generator=gen, dtype=torch.int64)


def _positions(batch: int, start: int, length: int) -> torch.Tensor:
    """``(batch, length)`` positions ``start .. start + length - 1``, contiguous (not an expand view)."""
    return torch.arange(start, start + length, dtype=torch.int64).unsqueeze(0).repeat(batch, 1)


def _filled_cache(config: Any, num_layers: int, kv_shape: tuple[int, ...], gen: torch.Generator) -> DynamicCache:
    """A ``DynamicCache`` laid out from ``config`` (sliding layers included), each layer holding ``kv_shape``."""
    cache = DynamicCache(config=config)
    for layer_idx in range(num_layers):
        key = torch.randn(kv_shape, generator=gen)
        value = torch.randn(kv_shape, generator=gen)
        cache.update(key, value, layer_idx)
    return cache


def _kv_truth(
    prefix: str, num_layers: int, length: str, sliding: tuple[int, ...] = (), window_full: bool = False
) -> dict[str, str]:
    """Truth rows for ``(batch, heads, length, head_dim)`` key/value layers under ``prefix``.

    ``sliding`` lists the DynamicSlidingWindowLayer indices: they add the int counter
    ``prefix['cumulative_length'][i]`` (the number of tokens seen, ``length``), which symshape
    carries as the first size of a storage-free ``(n, 0)`` tensor (axis 0), and when
    ``window_full`` their keys/values hold a constant ``sliding_window - 1`` tokens (no row).
    """
    rows: dict[str, str] = {}
    for kind in ("key_cache", "value_cache"):
        for i in range(num_layers):
            rows[f"{prefix}['{kind}'][{i}]:0"] = "batch"
            if not (window_full and i in sliding):
                rows[f"{prefix}['{kind}'][{i}]:2"] = length
    for i in sliding:
        rows[f"{prefix}['cumulative_length'][{i}]:0"] = length  # the counter's carrier
    return rows


def _sliding_layers(config: Any) -> tuple[int, ...]:
    cache = DynamicCache(config=config)
    return tuple(i for i, layer in enumerate(cache.layers) if getattr(layer, "is_sliding", False))


# --------------------------------------------------------------------------------------------
# decoder-only causal LMs with a DynamicCache


def _decoder_only_entry(
    name: str,
    model_class: str,
    config_fn: Callable[[], Any],
    num_kv_heads: int,
    head_dim: int,
    train_cases: list[Case],
    held_out: Case,
    notes: str,
    takes_position_ids: bool = True,
    window_full: bool = False,
) -> ZooEntry:
    cfg = config_fn()
    num_layers = cfg.num_hidden_layers if hasattr(cfg, "num_hidden_layers") else cfg.n_layer
    sliding = _sliding_layers(cfg)

    def make_inputs(case: Case, seed: int) -> dict[str, Any]:
        batch, seq_len, past_len = case["batch"], case["seq_len"], case["past_len"]
        gen = torch.Generator().manual_seed(seed)
        config = config_fn()
        cache = _filled_cache(config, num_layers, (batch, num_kv_heads, past_len, head_dim), gen)
        inputs: dict[str, Any] = {
            "input_ids": _ids(gen, batch, seq_len),
            "attention_mask": torch.ones(batch, past_len + seq_len, dtype=torch.int64),
        }
        if takes_position_ids:
            inputs["position_ids"] = _positions(batch, past_len, seq_len)
        inputs[CACHE_KWARG] = cache
        return inputs

    truth = {
        "input_ids:0": "batch",
        "input_ids:1": "seq_len",
        "attention_mask:0": "batch",
        "attention_mask:1": "past_len + seq_len",
    }
    if takes_position_ids:
        truth |= {"position_ids:0": "batch", "position_ids:1": "seq_len"}
    truth |= _kv_truth(CACHE_KWARG, num_layers, "past_len", sliding, window_full)

    return ZooEntry(
        name=name,
        model_class=model_class,
        build=functools.partial(_built, config_fn, getattr(transformers, model_class)),
        make_inputs=make_inputs,
        train_cases=train_cases,
        held_out=held_out,
        truth=truth,
        expected_free_symbols=3,
        notes=notes,
        cache_kwarg=CACHE_KWARG,
        cache_class="DynamicCache" + (f" (sliding layers {list(sliding)})" if sliding else ""),
        output_shapes=lambda c: {"logits": (c["batch"], c["seq_len"], VOCAB)},
    )


def _llama_config() -> Any:
    return transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )


def _qwen2_config() -> Any:
    return transformers.Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )


def _qwen3_config() -> Any:
    # head_dim is explicit and != hidden / heads (64 / 4 = 16), as in real Qwen3 checkpoints.
    return transformers.Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=256,
    )


def _mistral_config() -> Any:
    # sliding_window keeps Mistral's default 4096, as in Mistral-7B-v0.1: cache layers are
    # DynamicSlidingWindowLayer, but no case comes near the window.
    return transformers.MistralConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=256,
    )


def _phi3_config() -> Any:
    return transformers.Phi3Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        original_max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


#: Gemma-2's sliding window in the "gemma2" entry: small, but larger than every past_len + seq_len used.
GEMMA2_SLIDING_WINDOW = 16
#: Window of the "gemma2_window_full" entry: smaller than every past_len used.
GEMMA2_SMALL_WINDOW = 4


def _gemma2_config(sliding_window: int = GEMMA2_SLIDING_WINDOW) -> Any:
    return transformers.Gemma2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=sliding_window,
        max_position_embeddings=256,
        layer_types=["sliding_attention", "full_attention"],
    )


def _gemma2_small_window_config() -> Any:
    return _gemma2_config(GEMMA2_SMALL_WINDOW)


def _gpt2_config() -> Any:
    return transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
    )


def _gpt_neox_config() -> Any:
    return transformers.GPTNeoXConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
    )


def _falcon_config() -> Any:
    # Falcon-7B layout: multi-query attention (one key/value head), rotary, parallel attention.
    return transformers.FalconConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        multi_query=True,
        new_decoder_architecture=False,
        alibi=False,
        max_position_embeddings=256,
        bos_token_id=0,
        eos_token_id=0,
    )


# Train cases: the first two move batch and seq_len in lockstep (2->3, 3->4), the way examples
# are often written; some entries add a third set that breaks the lockstep.
_TWO_LOCKSTEP = [{"batch": 2, "seq_len": 3, "past_len": 5}, {"batch": 3, "seq_len": 4, "past_len": 7}]
_THREE = [*_TWO_LOCKSTEP, {"batch": 2, "seq_len": 5, "past_len": 4}]
_DECODE = {"batch": 4, "seq_len": 1, "past_len": 9}

_ROPE_NOTE = "Rotary positions: no hard position bound below max_position_embeddings=256."

DECODER_ONLY = [
    _decoder_only_entry(
        "llama",
        "LlamaForCausalLM",
        _llama_config,
        2,
        16,
        _TWO_LOCKSTEP,
        _DECODE,
        "GQA (4 query heads, 2 kv heads). " + _ROPE_NOTE,
    ),
    _decoder_only_entry(
        "qwen2",
        "Qwen2ForCausalLM",
        _qwen2_config,
        2,
        16,
        _THREE,
        {"batch": 5, "seq_len": 1, "past_len": 11},
        "GQA, q/k/v biases, full attention (use_sliding_window=False). " + _ROPE_NOTE,
    ),
    _decoder_only_entry(
        "qwen3",
        "Qwen3ForCausalLM",
        _qwen3_config,
        2,
        32,
        _TWO_LOCKSTEP,
        _DECODE,
        "GQA with explicit head_dim=32 != hidden/heads=16, q/k RMSNorm. " + _ROPE_NOTE,
    ),
    _decoder_only_entry(
        "mistral",
        "MistralForCausalLM",
        _mistral_config,
        2,
        16,
        _THREE,
        {"batch": 4, "seq_len": 1, "past_len": 10},
        "sliding_window=4096 (default): DynamicCache layers are DynamicSlidingWindowLayer, never full in "
        "these cases, so the cache length is past_len; beyond 4095 cached tokens it would be capped. " + _ROPE_NOTE,
    ),
    _decoder_only_entry(
        "phi3",
        "Phi3ForCausalLM",
        _phi3_config,
        4,
        16,
        _TWO_LOCKSTEP,
        _DECODE,
        "Fused qkv_proj and gate_up_proj; no GQA (kv heads = heads); pad_token_id set below vocab. " + _ROPE_NOTE,
    ),
    _decoder_only_entry(
        "gemma2",
        "Gemma2ForCausalLM",
        _gemma2_config,
        2,
        16,
        _THREE,
        {"batch": 4, "seq_len": 1, "past_len": 12},
        f"Layer 0 sliding (window {GEMMA2_SLIDING_WINDOW}), layer 1 full. Layer 0 is a "
        "DynamicSlidingWindowLayer: it keeps min(past_len, sliding_window - 1) tokens, carries the Python int "
        "cumulative_length (= past_len, an int leaf cache['cumulative_length'][0]) and its mask sizes branch on "
        f"cumulative_length >= sliding_window. Every case keeps past_len + seq_len <= {GEMMA2_SLIDING_WINDOW}, "
        "so its keys stay past_len long (see gemma2_window_full for the other regime). Attention and final "
        "logit soft-capping; embeddings scaled by sqrt(hidden_size). Export: the int leaf must be dynamic too "
        "(static, the program guards cumulative_length == its example value); with Dim.AUTO everywhere it "
        "exports and runs all cases, with seq_len and past_len bounded above (range [2, 12]) by the window.",
    ),
    _decoder_only_entry(
        "gemma2_window_full",
        "Gemma2ForCausalLM",
        _gemma2_small_window_config,
        2,
        16,
        [
            {"batch": 2, "seq_len": 3, "past_len": 5},
            {"batch": 3, "seq_len": 4, "past_len": 7},
            {"batch": 2, "seq_len": 2, "past_len": 6},
        ],
        {"batch": 4, "seq_len": 1, "past_len": 9},
        f"Same model with sliding_window={GEMMA2_SMALL_WINDOW} < past_len in every case (long-context regime): "
        f"the sliding layer 0 keeps a CONSTANT {GEMMA2_SMALL_WINDOW - 1} tokens (static axis, no truth row) while "
        "past_len only shows in cache['cumulative_length'][0] (an int leaf), the full layer 1 and the mask. "
        "Its mask covers sliding_window - 1 + seq_len keys at offset past_len - sliding_window + 1; export "
        f"needs past_len >= {GEMMA2_SMALL_WINDOW} (guard on cumulative_length >= sliding_window). Between the "
        "two regimes the sliding length is min(past_len, window - 1): never mix them in one set of cases. "
        "HARD FOR EXPORT (observed, torch 2.13): with Dim.AUTO on every dynamic axis and the int leaf, the "
        "program specialises cache['key_cache'][1]:2 to the example's past_len (an int leaf cannot share a "
        "named Dim, so cumulative_length and the full layer's length stay separate symbols); with named Dims "
        "export fails on a guard min(48 + 16*seq_len, 96 + 32*seq_len) == 48 + 16*seq_len it cannot discharge.",
        window_full=True,
    ),
    _decoder_only_entry(
        "gpt2",
        "GPT2LMHeadModel",
        _gpt2_config,
        4,
        16,
        _TWO_LOCKSTEP,
        _DECODE,
        "Learned absolute position embeddings: past_len + seq_len <= n_positions=64 (max position bound). "
        "Forward order is (input_ids, cache, attention_mask, token_type_ids, position_ids, ...): cache is the "
        "2nd positional parameter, so pass everything by keyword. No GQA.",
    ),
    _decoder_only_entry(
        "gpt_neox",
        "GPTNeoXForCausalLM",
        _gpt_neox_config,
        4,
        16,
        _THREE,
        {"batch": 5, "seq_len": 1, "past_len": 13},
        "Partial rotary (partial_rotary_factor=0.25), fused query_key_value, parallel residual. "
        "cache comes after inputs_embeds in the signature. " + _ROPE_NOTE,
    ),
    _decoder_only_entry(
        "falcon",
        "FalconForCausalLM",
        _falcon_config,
        1,
        16,
        _TWO_LOCKSTEP,
        _DECODE,
        "Multi-query attention: cache has ONE key/value head (static size 1 axis, not to be confused with "
        "a dynamic dim that happens to be 1). " + _ROPE_NOTE,
    ),
]


# --------------------------------------------------------------------------------------------
# encoder-decoder: T5, BART, Whisper (decode step with EncoderDecoderCache + encoder_outputs)


def _encoder_decoder_cache(
    config: Any,
    num_layers: int,
    batch: int,
    heads: int,
    head_dim: int,
    past_len: int,
    enc_len: int,
    gen: torch.Generator,
) -> EncoderDecoderCache:
    """Self-attention cache of ``past_len`` and cross-attention cache of ``enc_len``, as after a prefill.

    The cross cache is filled BEFORE building the ``EncoderDecoderCache``: its constructor sets
    ``is_updated[layer]`` from the cross cache length, which tells the cross-attention to reuse
    the cached keys/values instead of projecting ``encoder_outputs`` again (as in ``generate``).
    """
    self_cache = _filled_cache(config, num_layers, (batch, heads, past_len, head_dim), gen)
    cross_cache = _filled_cache(config, num_layers, (batch, heads, enc_len, head_dim), gen)
    return EncoderDecoderCache(self_cache, cross_cache)


def _enc_dec_truth(num_layers: int, enc: str, with_encoder_mask: bool, with_decoder_positions: bool) -> dict[str, str]:
    truth = {
        "decoder_input_ids:0": "batch",
        "decoder_input_ids:1": "seq_len",
        "decoder_attention_mask:0": "batch",
        "decoder_attention_mask:1": "past_len + seq_len",
        "encoder_outputs['last_hidden_state']:0": "batch",
    }
    if enc != "const":
        truth["encoder_outputs['last_hidden_state']:1"] = enc
    if with_encoder_mask:
        truth |= {"attention_mask:0": "batch", "attention_mask:1": enc}
    if with_decoder_positions:
        truth |= {"decoder_position_ids:0": "batch", "decoder_position_ids:1": "seq_len"}
    # The sub-caches are attributes of the EncoderDecoderCache: GetAttrKey, printed ``.name``.
    truth |= _kv_truth(f"{CACHE_KWARG}.self_attention_cache", num_layers, "past_len")
    cross = _kv_truth(f"{CACHE_KWARG}.cross_attention_cache", num_layers, enc)
    truth |= {k: v for k, v in cross.items() if v != "const"}
    return truth


def _seq2seq_entry(
    name: str,
    model_class: str,
    config_fn: Callable[[], Any],
    heads: int,
    head_dim: int,
    d_model: int,
    train_cases: list[Case],
    held_out: Case,
    notes: str,
) -> ZooEntry:
    """T5 / BART: what ``generate`` passes at a decode step, plus a decoder_attention_mask."""
    num_layers = 2

    def make_inputs(case: Case, seed: int) -> dict[str, Any]:
        batch, seq_len, past_len, enc_len = case["batch"], case["seq_len"], case["past_len"], case["encoder_seq_len"]
        gen = torch.Generator().manual_seed(seed)
        config = config_fn()
        encoder_hidden = torch.randn(batch, enc_len, d_model, generator=gen)
        cache = _encoder_decoder_cache(config, num_layers, batch, heads, head_dim, past_len, enc_len, gen)
        return {
            "attention_mask": torch.ones(batch, enc_len, dtype=torch.int64),  # the encoder's mask
            "decoder_input_ids": _ids(gen, batch, seq_len),
            "decoder_attention_mask": torch.ones(batch, past_len + seq_len, dtype=torch.int64),
            "encoder_outputs": BaseModelOutput(last_hidden_state=encoder_hidden),
            CACHE_KWARG: cache,
        }

    return ZooEntry(
        name=name,
        model_class=model_class,
        build=functools.partial(_built, config_fn, getattr(transformers, model_class)),
        make_inputs=make_inputs,
        train_cases=train_cases,
        held_out=held_out,
        truth=_enc_dec_truth(num_layers, "encoder_seq_len", with_encoder_mask=True, with_decoder_positions=False),
        expected_free_symbols=4,
        notes=notes,
        cache_kwarg=CACHE_KWARG,
        cache_class="EncoderDecoderCache(DynamicCache, DynamicCache)",
        output_shapes=lambda c: {"logits": (c["batch"], c["seq_len"], VOCAB)},
    )


def _t5_config() -> Any:
    return transformers.T5Config(
        vocab_size=VOCAB,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def _bart_config() -> Any:
    return transformers.BartConfig(
        vocab_size=VOCAB,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=2,
    )


_SEQ2SEQ_TRAIN = [
    {"batch": 2, "seq_len": 3, "past_len": 5, "encoder_seq_len": 6},
    {"batch": 3, "seq_len": 4, "past_len": 7, "encoder_seq_len": 9},
]
_SEQ2SEQ_HELD_OUT = {"batch": 4, "seq_len": 1, "past_len": 10, "encoder_seq_len": 12}

SEQ2SEQ = [
    _seq2seq_entry(
        "t5",
        "T5ForConditionalGeneration",
        _t5_config,
        4,
        8,
        32,
        _SEQ2SEQ_TRAIN,
        _SEQ2SEQ_HELD_OUT,
        "Decode step as generate() runs it: decoder_input_ids, encoder_outputs (BaseModelOutput), the "
        "encoder attention_mask (batch, encoder_seq_len), an EncoderDecoderCache whose cross cache is "
        "already filled (length encoder_seq_len); decoder_attention_mask (batch, past_len + seq_len) is "
        "added although generate() only forwards it when the user gives one. Relative position buckets: "
        "no position bound.",
    ),
    _seq2seq_entry(
        "bart",
        "BartForConditionalGeneration",
        _bart_config,
        4,
        8,
        32,
        [*_SEQ2SEQ_TRAIN, {"batch": 2, "seq_len": 2, "past_len": 6, "encoder_seq_len": 5}],
        _SEQ2SEQ_HELD_OUT,
        "Same decode-step layout as T5. Learned positions (offset 2): past_len + seq_len <= "
        "max_position_embeddings=64 for the decoder, encoder_seq_len <= 64 for the encoder (not run here). "
        "Decoder positions come from the cache length (no decoder_position_ids parameter).",
    ),
]


#: Whisper's encoder length is fixed by the config (2 * max_source_positions mel frames -> max_source_positions).
WHISPER_ENC_LEN = 16


def _whisper_config() -> Any:
    return transformers.WhisperConfig(
        vocab_size=VOCAB,
        num_mel_bins=8,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=WHISPER_ENC_LEN,
        max_target_positions=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )


def _whisper_inputs(case: Case, seed: int) -> dict[str, Any]:
    batch, seq_len, past_len = case["batch"], case["seq_len"], case["past_len"]
    gen = torch.Generator().manual_seed(seed)
    config = _whisper_config()
    encoder_hidden = torch.randn(batch, WHISPER_ENC_LEN, 32, generator=gen)
    cache = _encoder_decoder_cache(config, 2, batch, 4, 8, past_len, WHISPER_ENC_LEN, gen)
    return {
        "decoder_input_ids": _ids(gen, batch, seq_len),
        "decoder_attention_mask": torch.ones(batch, past_len + seq_len, dtype=torch.int64),
        "decoder_position_ids": _positions(batch, past_len, seq_len),
        "encoder_outputs": BaseModelOutput(last_hidden_state=encoder_hidden),
        CACHE_KWARG: cache,
    }


WHISPER = ZooEntry(
    name="whisper",
    model_class="WhisperForConditionalGeneration",
    build=functools.partial(_built, _whisper_config, transformers.WhisperForConditionalGeneration),
    make_inputs=_whisper_inputs,
    train_cases=[{"batch": 2, "seq_len": 3, "past_len": 5}, {"batch": 3, "seq_len": 4, "past_len": 7}],
    held_out={"batch": 4, "seq_len": 1, "past_len": 9},
    truth=_enc_dec_truth(2, "const", with_encoder_mask=False, with_decoder_positions=True),
    expected_free_symbols=3,
    notes=(
        f"The encoder length is STATIC: the encoder demands input_features of exactly 2 * max_source_positions "
        f"frames, so encoder_outputs and the cross-attention cache have length {WHISPER_ENC_LEN} in every case "
        "(encoder_seq_len is not a dim). Decode step as WhisperForConditionalGeneration.prepare_inputs_for_generation "
        "builds it: decoder_position_ids from the decoder_attention_mask, encoder_outputs precomputed, no encoder "
        "attention_mask. Learned decoder positions: past_len + seq_len <= max_target_positions=64."
    ),
    cache_kwarg=CACHE_KWARG,
    cache_class="EncoderDecoderCache(DynamicCache, DynamicCache)",
    output_shapes=lambda c: {"logits": (c["batch"], c["seq_len"], VOCAB)},
)


# --------------------------------------------------------------------------------------------
# encoders: BERT, ViT


def _bert_config() -> Any:
    return transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
    )


def _bert_inputs(case: Case, seed: int) -> dict[str, Any]:
    batch, seq_len = case["batch"], case["seq_len"]
    gen = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, seq_len, dtype=torch.int64)
    mask[0, seq_len - 1 :] = 0  # one padded position, as from a tokenizer with padding
    token_type_ids = torch.zeros(batch, seq_len, dtype=torch.int64)
    token_type_ids[:, seq_len // 2 :] = 1  # sentence pair
    return {"input_ids": _ids(gen, batch, seq_len), "attention_mask": mask, "token_type_ids": token_type_ids}


BERT = ZooEntry(
    name="bert",
    model_class="BertModel",
    build=functools.partial(_built, _bert_config, transformers.BertModel),
    make_inputs=_bert_inputs,
    train_cases=[{"batch": 2, "seq_len": 5}, {"batch": 3, "seq_len": 6}, {"batch": 2, "seq_len": 8}],
    held_out={"batch": 5, "seq_len": 11},
    truth={
        f"{name}:{axis}": dim
        for name in ("input_ids", "attention_mask", "token_type_ids")
        for axis, dim in ((0, "batch"), (1, "seq_len"))
    },
    expected_free_symbols=2,
    notes=(
        "Learned absolute positions: seq_len <= max_position_embeddings=64 (export bounds it: [2, 64]). "
        "The attention mask has one padded position (row 0) and token_type_ids mark a sentence pair. "
        "With Dim.AUTO per axis export gives 3 symbols, not 2: nothing in the graph ties attention_mask:0 "
        "to batch (the mask broadcasts), the truth is still batch. No cache (encoder)."
    ),
    output_shapes=lambda c: {"last_hidden_state": (c["batch"], c["seq_len"], 32), "pooler_output": (c["batch"], 32)},
)

VIT_PATCH = 4


def _vit_config() -> Any:
    return transformers.ViTConfig(
        image_size=16,
        patch_size=VIT_PATCH,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    )


def _vit_inputs(case: Case, seed: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    pixel_values = torch.randn(case["batch"], 3, case["height"], case["width"], generator=gen)
    return {"pixel_values": pixel_values, "interpolate_pos_encoding": True}


VIT = ZooEntry(
    name="vit",
    model_class="ViTModel",
    build=functools.partial(_built, _vit_config, transformers.ViTModel),
    make_inputs=_vit_inputs,
    train_cases=[
        {"batch": 2, "height": 20, "width": 20},
        {"batch": 3, "height": 24, "width": 28},
        {"batch": 2, "height": 28, "width": 16},
    ],
    held_out={"batch": 4, "height": 36, "width": 32},
    truth={"pixel_values:0": "batch", "pixel_values:2": "height", "pixel_values:3": "width"},
    expected_free_symbols=3,
    notes=(
        f"interpolate_pos_encoding=True (a bool kwarg) makes height/width free: without it the embeddings raise "
        f"unless height == width == image_size=16. height and width are multiples of patch_size={VIT_PATCH} in "
        "every case (the stride-4 patch conv floors otherwise); the token count is "
        "1 + (height // 4) * (width // 4), and the position embeddings are bicubically interpolated from a 4x4 "
        "grid to (height // 4, width // 4). TRAP, hence no native-size case: ViTEmbeddings.interpolate_pos_encoding "
        "returns early (no interpolation) when num_patches == 16 and height == width, and that test runs under "
        "torch.export too (it only skips under torch.jit tracing). Exported from a 16x16 example the program "
        "guards height == width (and the patch count); exported from any other size it guards "
        "(height // 4) * (width // 4) != 16, so 16x16 itself is rejected. Checked by hand with Dim.AUTO from "
        "24x28: batch, height >= 8, width >= 8 free, held-out runs."
    ),
    output_shapes=lambda c: {
        "last_hidden_state": (c["batch"], 1 + (c["height"] // VIT_PATCH) * (c["width"] // VIT_PATCH), 32),
        "pooler_output": (c["batch"], 32),
    },
)


# --------------------------------------------------------------------------------------------
# Mamba: plain forward (see notes)


def _mamba_config() -> Any:
    return transformers.MambaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        state_size=8,
        num_hidden_layers=2,
        conv_kernel=4,
        expand=2,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
    )


def _mamba_decode_inputs(case: Case, seed: int) -> dict[str, Any]:
    """One-token decode step as ``generate`` runs it: input_ids and the state cache, no attention_mask.

    In 5.24 Mamba's cache is a ``DynamicCache`` of ``LinearAttentionLayer``s, each holding a
    conv state ``(batch, expand * hidden, conv_kernel)`` and an SSM state
    ``(batch, expand * hidden, state_size)``: only batch is dynamic.
    """
    batch, seq_len = case["batch"], case.get("seq_len", 1)
    if seq_len != 1:
        raise ValueError("a Mamba decode step takes exactly one token (the recurrent path needs seq_len == 1)")
    gen = torch.Generator().manual_seed(seed)
    config = _mamba_config()
    cache = DynamicCache(config=config)
    inter = config.intermediate_size
    for layer_idx in range(config.num_hidden_layers):
        cache.update_conv_state(torch.randn(batch, inter, config.conv_kernel, generator=gen), layer_idx)
        cache.update_recurrent_state(torch.randn(batch, inter, config.state_size, generator=gen), layer_idx)
    return {
        "input_ids": _ids(gen, batch, 1),
        CACHE_KWARG: cache,
        "use_cache": True,
    }


MAMBA = ZooEntry(
    name="mamba",
    model_class="MambaForCausalLM",
    build=functools.partial(_built, _mamba_config, transformers.MambaForCausalLM),
    make_inputs=_mamba_decode_inputs,
    train_cases=[{"batch": 2, "seq_len": 1}, {"batch": 3, "seq_len": 1}],
    held_out={"batch": 5, "seq_len": 1},
    truth={
        "input_ids:0": "batch",
        **{f"cache['{group}'][{i}]:0": "batch" for group in ("conv_states", "recurrent_states") for i in range(2)},
    },
    expected_free_symbols=1,
    notes=(
        "Decode step: only batch is dynamic. seq_len is 1 in every case, not a dim: the recurrent path "
        "(causal_conv1d_update + selective_state_update) is taken on `seq_len == 1`, a longer input takes the "
        "full-sequence path instead. There is no past_len: the states are fixed size (conv_kernel=4 columns, "
        "state_size=8), nothing in the inputs records how many tokens were seen. No attention_mask: "
        "MambaForCausalLM.prepare_inputs_for_generation drops it at every decode step. The cache is NOT "
        "flattenable by transformers' own "
        "DynamicCache registration (register_dynamic_cache_export_support refuses LinearAttentionLayer); "
        "symshape's registration flattens it to cache['conv_states'][i] / cache['recurrent_states'][i] and "
        "torch.export then works with a dynamic batch (checked by hand: Dim.AUTO gives one symbol, program == "
        "eager at batch 3). Forward updates the states in place (copy_)."
    ),
    cache_kwarg=CACHE_KWARG,
    cache_class="DynamicCache of LinearAttentionLayer (conv/recurrent states)",
    output_shapes=lambda c: {"logits": (c["batch"], 1, VOCAB)},
)


def _mamba_prefill_inputs(case: Case, seed: int) -> dict[str, Any]:
    batch, seq_len = case["batch"], case["seq_len"]
    gen = torch.Generator().manual_seed(seed)
    return {
        "input_ids": _ids(gen, batch, seq_len),
        "attention_mask": torch.ones(batch, seq_len, dtype=torch.int64),
        "use_cache": False,
    }


MAMBA_PREFILL = ZooEntry(
    name="mamba_prefill",
    model_class="MambaForCausalLM",
    build=functools.partial(_built, _mamba_config, transformers.MambaForCausalLM),
    make_inputs=_mamba_prefill_inputs,
    train_cases=[{"batch": 2, "seq_len": 3}, {"batch": 3, "seq_len": 4}, {"batch": 2, "seq_len": 6}],
    held_out={"batch": 4, "seq_len": 7},
    truth={
        "input_ids:0": "batch",
        "input_ids:1": "seq_len",
        "attention_mask:0": "batch",
        "attention_mask:1": "seq_len",
    },
    expected_free_symbols=2,
    notes=(
        "Plain forward (use_cache=False, a bool constant), no cache. seq_len is a true dynamic dim of the inputs "
        "but NOT exportable as one on CPU: without the mamba_ssm / causal_conv1d kernels the selective scan is a "
        "Python loop `for index in range(seq_len)`, which tracing unrolls, so torch.export specialises seq_len "
        "(checked: Dim('seq_len') -> 'your code specialized it to be a constant'; Dim.AUTO keeps batch only). "
        "The held-out seq_len=7 is longer than every train case."
    ),
    output_shapes=lambda c: {"logits": (c["batch"], c["seq_len"], VOCAB)},
)


# tests/zoo_families.py builds its entries from the helpers above (import ZOO from here, not from there).
from .zoo_families import FAMILIES  # noqa: E402

ZOO: dict[str, ZooEntry] = {
    e.name: e for e in [*DECODER_ONLY, *SEQ2SEQ, WHISPER, BERT, VIT, MAMBA, MAMBA_PREFILL, *FAMILIES]
}


# --------------------------------------------------------------------------------------------
# helpers for checking the truth tables against real inputs


def flat_leaves(inputs: dict[str, Any]) -> dict[str, Any]:
    """``path -> shape`` (tensor leaves) or ``path -> value`` (int leaves), as symshape sees ``inputs``.

    Uses symshape's cache registration and path format, so the truth tables are checked
    against the paths symshape reports.
    """
    from symshape.core.paths import format_path
    from symshape.integrations.transformers.caches import ensure_registered

    ensure_registered()
    leaves = {}
    for keys, leaf in pytree.tree_flatten_with_path(inputs)[0]:
        if isinstance(leaf, torch.Tensor):
            leaves[format_path(keys)] = tuple(leaf.shape)
        elif isinstance(leaf, int) and not isinstance(leaf, bool):
            leaves[format_path(keys)] = leaf
    return leaves


def split_key(key: str) -> tuple[str, int | None]:
    """``"cache['key_cache'][0]:2"`` -> (path, 2); ``"cache['cumulative_length'][0]"`` -> (path, None)."""
    path, sep, axis = key.rpartition(":")
    return (path, int(axis)) if sep and axis.isdigit() else (key, None)


def evaluate(expression: str, case: Case) -> int:
    """Value of a truth expression (names, ints, + - * //) for a case."""

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Name):
            return case[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__, ast.FloorDiv: int.__floordiv__}
            return ops[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(f"unsupported truth expression {expression!r}")

    return ev(ast.parse(expression, mode="eval"))
