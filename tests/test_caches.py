"""transformers cache classes flatten leaf by leaf and round-trip through torch.export.

Each cache kind: two input sets with other batch / past lengths -> infer_dims gives
named dims -> a real non-strict export -> ``program.module()`` on a third set with
other sizes matches eager, and the user's caches are untouched by inference.
"""

from __future__ import annotations

import copy
import io
import sys
from typing import Any

import pytest
import torch
import torch.utils._pytree as pytree
import transformers
from transformers import DynamicCache, EncoderDecoderCache, StaticCache

import symshape
from symshape.core.paths import format_path
from symshape.integrations.transformers.caches import ensure_registered

from .conftest import export_with, max_diff_vs_eager

HEADS, HEAD_DIM, WINDOW = 2, 8, 4


def _gemma_config(
    layer_types: list[str], kv_heads: int = HEADS, head_dim: int = HEAD_DIM
) -> transformers.Gemma3TextConfig:
    return transformers.Gemma3TextConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=len(layer_types),
        num_attention_heads=2,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        sliding_window=WINDOW,
        layer_types=layer_types,
        max_position_embeddings=128,
    )


SLIDING_FULL = _gemma_config(["sliding_attention", "full_attention"])


def _kv(batch: int, length: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch, HEADS, length, HEAD_DIM, generator=gen), torch.randn(
        batch, HEADS, length, HEAD_DIM, generator=gen
    )


def dynamic_cache(batch: int, past: int, config: Any = SLIDING_FULL, seed: int = 0) -> DynamicCache:
    gen = torch.Generator().manual_seed(seed)
    cache = DynamicCache(config=config) if config is not None else DynamicCache()
    for i in range(config.num_hidden_layers if config is not None else 2):
        cache.update(*_kv(batch, past, gen), i)
    return cache


def static_cache(batch: int, past: int, seed: int = 0) -> StaticCache:
    gen = torch.Generator().manual_seed(seed)
    cache = StaticCache(config=SLIDING_FULL, max_cache_len=8)
    for i in range(2):
        cache.update(*_kv(batch, past, gen), i)
    return cache


def linear_cache(batch: int, past: int, seed: int = 0) -> DynamicCache:
    """Qwen3-Next layout: a linear-attention (conv + recurrent state) layer, then full attention."""
    config = transformers.Qwen3NextConfig(num_hidden_layers=2, layer_types=["linear_attention", "full_attention"])
    gen = torch.Generator().manual_seed(seed)
    cache = DynamicCache(config=config)
    cache.update_conv_state(torch.randn(batch, 12, 4, generator=gen), layer_idx=0)
    cache.update_recurrent_state(torch.randn(batch, 2, 8, 8, generator=gen), layer_idx=0)
    cache.update(*_kv(batch, past, gen), 1)
    return cache


def snapshot(obj: Any) -> Any:
    """Everything a cache holds, tensors cloned, to compare before / after."""
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: snapshot(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [snapshot(v) for v in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return (type(obj), snapshot(vars(obj)))
    return obj


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def paths(obj: Any) -> list[str]:
    ensure_registered()
    return [format_path(p) for p, _ in pytree.tree_flatten_with_path(obj)[0]]


def infer_export_check(model: torch.nn.Module, sets: list[dict], held_out: dict) -> dict[str, str]:
    """infer_dims -> export -> program on a third set == eager; the user's sets untouched.
    Returns the inferred expression of every axis, by label."""
    before = [snapshot(s) for s in sets]
    spec = symshape.infer_dims(model, sets)
    assert all(same(snapshot(s), b) for s, b in zip(sets, before)), "infer_dims changed a user input"
    program = export_with(model, spec)
    assert max_diff_vs_eager(program, model, (), held_out) < 1e-5
    assert all(same(snapshot(s), b) for s, b in zip(sets, before)), "export changed a user input"
    return {a.label: a.expr for a in spec.axes}


def _mean(t: torch.Tensor) -> torch.Tensor:
    """(batch, ...) -> (batch, 1, 1)."""
    return t.flatten(1).mean(1)[:, None, None]


# ---------------------------------------------------------------- registration


def test_noop_when_transformers_cache_utils_was_never_imported(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "transformers.cache_utils")
    ensure_registered()
    assert "transformers.cache_utils" not in sys.modules


def test_registers_the_cache_classes_models_use() -> None:
    ensure_registered()
    for cls in (DynamicCache, StaticCache, EncoderDecoderCache, transformers.cache_utils.MtpCache):
        assert cls in pytree.SUPPORTED_NODES
        assert pytree.SUPPORTED_SERIALIZED_TYPES[cls].serialized_type_name == f"{cls.__module__}.{cls.__qualname__}"
        assert cls in torch.fx._pytree.SUPPORTED_NODES


def test_a_class_registered_by_someone_else_is_left_alone() -> None:
    ensure_registered()
    cls = transformers.cache_utils.DFlashCache
    saved = pytree.SUPPORTED_NODES[cls]
    serialized = pytree.SUPPORTED_SERIALIZED_TYPES[cls]
    pytree._deregister_pytree_node(cls)
    torch.fx._pytree._deregister_pytree_flatten_spec(cls)
    try:
        pytree.register_pytree_node(cls, lambda c: ([c.layers[0].keys], None), lambda v, _: v)
        ensure_registered()
        assert pytree.SUPPORTED_NODES[cls].unflatten_fn(["x"], None) == ["x"]  # still the user's
        assert cls not in torch.fx._pytree.SUPPORTED_NODES
    finally:
        pytree._deregister_pytree_node(cls)
        pytree.register_pytree_node(
            cls,
            saved.flatten_fn,
            saved.unflatten_fn,
            serialized_type_name=serialized.serialized_type_name,
            to_dumpable_context=serialized.to_dumpable_context,
            from_dumpable_context=serialized.from_dumpable_context,
            flatten_with_keys_fn=saved.flatten_with_keys_fn,
        )
        from symshape.integrations.transformers.caches import flatten_spec

        torch.fx._pytree.register_pytree_flatten_spec(cls, flatten_spec)


def test_full_dynamic_cache_flattens_like_transformers_own_registration() -> None:
    from transformers.integrations.executorch import (
        _flatten_cache_dict_with_keys,
        _get_cache_dict,
        _get_dynamic_cache_layout,
    )

    cache = dynamic_cache(2, 5, config=None)
    ensure_registered()
    ours, _ = pytree.SUPPORTED_NODES[DynamicCache].flatten_with_keys_fn(cache)
    theirs, _ = _flatten_cache_dict_with_keys(_get_cache_dict(cache), _get_dynamic_cache_layout(cache))
    assert (
        [k for k, _ in ours]
        == [k for k, _ in theirs]
        == [pytree.MappingKey("key_cache"), pytree.MappingKey("value_cache")]
    )
    assert all(same(a, b) for (_, a), (_, b) in zip(ours, theirs))
    assert paths({"cache": cache}) == [
        "cache['key_cache'][0]",
        "cache['key_cache'][1]",
        "cache['value_cache'][0]",
        "cache['value_cache'][1]",
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda b, p: dynamic_cache(b, p),
        lambda b, p: dynamic_cache(b, p, config=_gemma_config(["sliding_attention"] * 3)),
        lambda b, p: static_cache(b, min(p, 8)),
        lambda b, p: linear_cache(b, p),
        lambda b, p: EncoderDecoderCache(dynamic_cache(b, p), dynamic_cache(b, 2 * p, config=None)),
    ],
    ids=["sliding+full", "all-sliding", "static", "linear", "encoder-decoder"],
)
def test_roundtrip_rebuilds_an_identical_cache_and_the_structure_ignores_sizes(make) -> None:
    small, large = make(2, 2), make(3, 9)  # 2 < window - 1 < 9: the sliding window fills up
    ensure_registered()
    assert pytree.tree_structure(small) == pytree.tree_structure(large)
    for cache in (small, large):
        leaves, spec = pytree.tree_flatten(cache)
        assert not any(leaf is None for leaf in leaves)
        rebuilt = pytree.tree_unflatten(leaves, spec)
        assert same(snapshot(rebuilt), snapshot(cache))
        # a tree_map keeps the structure whatever it puts in the leaves (export wraps ints, fakes tensors)
        assert pytree.tree_structure(pytree.tree_map(lambda _: None, cache)) == spec
        assert pytree.treespec_loads(pytree.treespec_dumps(spec)) == spec


def test_paths_are_readable() -> None:
    assert paths({"cache": dynamic_cache(2, 9)}) == [
        "cache['key_cache'][0]",
        "cache['key_cache'][1]",
        "cache['value_cache'][0]",
        "cache['value_cache'][1]",
        "cache['cumulative_length'][0]",
    ]
    assert paths({"cache": static_cache(2, 5)}) == [
        "cache['key_cache'][0]",
        "cache['key_cache'][1]",
        "cache['value_cache'][0]",
        "cache['value_cache'][1]",
        "cache['cumulative_length'][0]",
        "cache['cumulative_length'][1]",
        "cache['cumulative_length_int'][0]",
    ]
    assert paths({"cache": linear_cache(2, 5)}) == [
        "cache['key_cache'][1]",
        "cache['value_cache'][1]",
        "cache['conv_states'][0]",
        "cache['recurrent_states'][0]",
    ]
    enc_dec = EncoderDecoderCache(dynamic_cache(2, 3, config=None), dynamic_cache(2, 5, config=None))
    assert paths({"cache": enc_dec})[:2] == [
        "cache.self_attention_cache['key_cache'][0]",
        "cache.self_attention_cache['key_cache'][1]",
    ]
    assert paths({"cache": enc_dec})[4] == "cache.cross_attention_cache['key_cache'][0]"


# ---------------------------------------------------------------- export, simple modules


class ReadSliding(torch.nn.Module):
    """Reads every layer; positions and mask offset come from the sliding layer's counter."""

    def forward(self, x, cache):
        out = x * (torch.arange(x.shape[1]) + cache.get_seq_length())[None, :, None]
        for layer in cache.layers:
            out = out + _mean(layer.keys) - _mean(layer.values)
        kv_length, kv_offset = cache.get_mask_sizes(x.shape[1], 0)
        return out + kv_offset - kv_length


def test_sliding_dynamic_cache_exports() -> None:
    """The sliding layer's int counter is carried as a (n, 0) tensor: it shares past_len's
    named Dim, so the program has one symbol per dim, and the window-full guard that the
    counter's comparison adds becomes a bound on past_len."""
    sets = [
        {"x": torch.randn(2, 3, 8), "cache": dynamic_cache(2, 6)},
        {"x": torch.randn(3, 2, 8), "cache": dynamic_cache(3, 9, seed=1)},
    ]
    held_out = {"x": torch.randn(4, 5, 8), "cache": dynamic_cache(4, 13, seed=2)}
    before = [snapshot(s) for s in sets]
    result = symshape.export(ReadSliding(), sets)
    assert all(same(snapshot(s), b) for s, b in zip(sets, before)), "export changed a user input"
    exprs = {a.label: a.expr for a in result.spec.axes}
    assert exprs["cache['cumulative_length'][0].shape[0]"] == "past_len"  # a carried counter, not context
    assert exprs["cache['cumulative_length'][0].shape[1]"] == "0"  # the carrier holds no data
    assert exprs["cache['key_cache'][1].shape[2]"] == "past_len"
    assert exprs["cache['key_cache'][0].shape[2]"] == str(WINDOW - 1)  # the sliding layer is full
    assert exprs["cache['key_cache'][0].shape[0]"] == exprs["x.shape[0]"] == "batch"
    assert [r.change for r in result.refinements] == [f"past_len >= {WINDOW}"]  # the window is full
    assert result.reading.symbols == 3  # batch, x_dim1, past_len: no symbol for the counter
    assert result.ok
    assert max_diff_vs_eager(result.program, ReadSliding(), (), held_out) < 1e-5
    assert sets[1]["cache"].get_seq_length() == 9 and sets[1]["cache"].layers[0].cumulative_length == 9
    carried = pytree.tree_flatten(sets[0]["cache"])[0][-1]
    assert carried.shape == (6, 0) and carried.untyped_storage().nbytes() == 0


class ReadStatic(torch.nn.Module):
    def forward(self, x, cache):
        sliding, full = cache.layers
        out = x * (torch.arange(x.shape[1]) + sliding.get_seq_length())[None, :, None]
        out = out + full.cumulative_length + sliding.cumulative_length * 2
        for layer in cache.layers:
            out = out + _mean(layer.keys) * _mean(layer.values)
        return out


def test_static_cache_exports() -> None:
    sets = [
        {"x": torch.randn(2, 3, 8), "cache": static_cache(2, 3)},
        {"x": torch.randn(3, 2, 8), "cache": static_cache(3, 5, seed=1)},
    ]
    held_out = {"x": torch.randn(4, 5, 8), "cache": static_cache(4, 6, seed=2)}
    exprs = infer_export_check(ReadStatic(), sets, held_out)
    assert exprs["cache['key_cache'][0].shape[0]"] == exprs["cache['value_cache'][1].shape[0]"] == "batch"
    assert exprs["cache['key_cache'][1].shape[2]"] == "8"  # max_cache_len
    # the static sliding layer's counter, carried as a (n, 0) tensor: a dim of its own (no key length shows
    # it), named for what it counts
    assert exprs["cache['cumulative_length_int'][0].shape[0]"] == "past_len"
    assert sets[0]["cache"].layers[1].batch_size == 2 and int(sets[1]["cache"].layers[1].cumulative_length) == 5


class ReadEncoderDecoder(torch.nn.Module):
    def forward(self, x, cache):
        out = x * (torch.arange(x.shape[1]) + cache.get_seq_length())[None, :, None]
        for part in (cache.self_attention_cache, cache.cross_attention_cache):
            for layer in part.layers:
                out = out + _mean(layer.keys) - _mean(layer.values)
        return out


def test_encoder_decoder_cache_exports() -> None:
    def make(batch: int, seq: int, past: int, encoder: int, seed: int) -> dict:
        cache = EncoderDecoderCache(
            dynamic_cache(batch, past, seed=seed), dynamic_cache(batch, encoder, config=None, seed=seed + 10)
        )
        return {"x": torch.randn(batch, seq, 8), "cache": cache}

    sets = [make(2, 3, 6, 5, 0), make(3, 2, 9, 7, 1)]
    exprs = infer_export_check(ReadEncoderDecoder(), sets, make(4, 4, 13, 11, 2))
    assert exprs["cache.self_attention_cache['key_cache'][1].shape[2]"] == "past_len"
    assert exprs["cache.self_attention_cache['cumulative_length'][0].shape[0]"] == "past_len"
    assert exprs["cache.cross_attention_cache['key_cache'][0].shape[2]"] == "encoder_seq_len"
    assert exprs["cache.cross_attention_cache['value_cache'][1].shape[0]"] == "batch"


class ReadLinear(torch.nn.Module):
    def forward(self, x, cache):
        assert cache.has_previous_state(0)
        conv, state = cache.get_conv_state(0), cache.get_recurrent_state(0)
        attention = cache.layers[1]
        out = x * (torch.arange(x.shape[1]) + cache.get_seq_length())[None, :, None]
        return out + _mean(conv) * _mean(state) + _mean(attention.keys) - _mean(attention.values)


def test_linear_attention_cache_exports() -> None:
    sets = [
        {"x": torch.randn(2, 3, 8), "cache": linear_cache(2, 5)},
        {"x": torch.randn(3, 2, 8), "cache": linear_cache(3, 7, seed=1)},
    ]
    exprs = infer_export_check(ReadLinear(), sets, {"x": torch.randn(4, 1, 8), "cache": linear_cache(4, 9, seed=2)})
    assert exprs["cache['conv_states'][0].shape[0]"] == exprs["cache['recurrent_states'][0].shape[0]"] == "batch"
    assert exprs["cache['conv_states'][0].shape[2]"] == "4"
    assert exprs["cache['key_cache'][1].shape[2]"] == "past_len"


def test_saved_program_loads_and_runs() -> None:
    sets = [
        {"x": torch.randn(2, 3, 8), "cache": dynamic_cache(2, 6)},
        {"x": torch.randn(3, 2, 8), "cache": dynamic_cache(3, 9, seed=1)},
    ]
    model = ReadSliding()
    program = symshape.export(model, sets).program  # refined: past_len >= the window (the counter is past_len)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    buffer.seek(0)
    loaded = torch.export.load(buffer)
    assert (
        max_diff_vs_eager(loaded, model, (), {"x": torch.randn(4, 5, 8), "cache": dynamic_cache(4, 13, seed=2)}) < 1e-5
    )


# ---------------------------------------------------------------- a real sliding-window model


@pytest.fixture(scope="module")
def gemma():
    torch.manual_seed(0)
    return transformers.Gemma3ForCausalLM(
        _gemma_config(["sliding_attention", "full_attention"], kv_heads=1, head_dim=16)
    ).eval()


def gemma_inputs(model: Any, batch: int, seq: int, past: int, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    cache = DynamicCache(config=model.config)
    for i in range(model.config.num_hidden_layers):
        cache.update(torch.randn(batch, 1, past, 16, generator=gen), torch.randn(batch, 1, past, 16, generator=gen), i)
    ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=gen)
    return {"input_ids": ids, "attention_mask": torch.ones(batch, past + seq, dtype=torch.long), "cache": cache}


def test_real_sliding_model_same_outputs_after_roundtrip_and_export(gemma) -> None:
    ensure_registered()
    inputs = gemma_inputs(gemma, 2, 3, 9)  # past beyond the window; positions come from the cache
    leaves, spec = pytree.tree_flatten(inputs)
    rebuilt = pytree.tree_unflatten(leaves, copy.deepcopy(spec))
    assert torch.equal(gemma(**copy.deepcopy(inputs)).logits, gemma(**rebuilt).logits)

    sets = [gemma_inputs(gemma, 2, 3, 9), gemma_inputs(gemma, 3, 2, 12, seed=1)]
    before = [snapshot(s) for s in sets]
    result = symshape.export(gemma, sets)
    assert all(same(snapshot(s), b) for s, b in zip(sets, before)), "export changed a user input"
    assert result.ok and result.reading.symbols == 4  # batch, seq_len, past_len, and the mask sum
    assert max_diff_vs_eager(result.program, gemma, (), gemma_inputs(gemma, 4, 4, 15, seed=2)) < 1e-5


def test_layers_of_one_class_in_other_states_keep_their_own_spec() -> None:
    """A flatten works the spec out once per kind of layer: an uninitialised layer
    between two filled ones, and a layer whose constant differs, are not given the
    spec of the layer before them."""
    gen = torch.Generator().manual_seed(0)
    cache = DynamicCache()
    cache.update(*_kv(2, 3, gen), 0)
    cache.update(*_kv(2, 3, gen), 2)  # layer 1 is created empty
    cache.update(*_kv(2, 3, gen), 3)
    cache.layers[3].device = torch.device("meta")
    ensure_registered()
    leaves, spec = pytree.tree_flatten(cache)
    layers = spec.context.layers
    assert layers[0] == layers[2] and layers[1] != layers[0] and layers[3] != layers[0]
    assert len(leaves) == 6  # keys and values of layers 0, 2, 3
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert same(snapshot(rebuilt), snapshot(cache))
    assert rebuilt.layers[3].device == torch.device("meta") and not rebuilt.layers[1].is_initialized
