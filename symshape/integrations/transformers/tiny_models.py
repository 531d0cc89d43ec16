"""Tiny randomly initialised models and realistic inputs for them.

Tests and benchmarks need a real Hugging Face decoder (with its KV cache and
masking code) but cannot download weights, so models are built from a config
with random weights. ``transformers`` is imported lazily, inside the functions,
so that importing this module stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    import transformers

#: Name of the cache keyword of ``LlamaForCausalLM.forward`` in transformers 5.x
#: (it was ``past_key_values`` in 4.x).
CACHE_KWARG = "cache"


def tiny_llama(num_layers: int = 2, hidden_size: int = 64, seed: int = 0) -> transformers.LlamaForCausalLM:
    """Build a small random ``LlamaForCausalLM`` in eval mode.

    Grouped-query attention (4 query heads, 2 key/value heads) is kept on purpose,
    so the cache head count differs from the attention head count, as in real models.
    The weights depend only on ``seed``.
    """
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    return model.eval()


def llama_decode_inputs(
    model: transformers.LlamaForCausalLM,
    batch: int,
    seq_len: int,
    past_len: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Keyword arguments for one decode step of ``model.forward``.

    The step feeds ``seq_len`` new tokens after ``past_len`` cached positions:
    ``input_ids`` and ``position_ids`` are ``(batch, seq_len)``, ``attention_mask``
    covers the past and the new tokens, and the cache (a ``DynamicCache``) holds
    ``(batch, num_key_value_heads, past_len, head_dim)`` keys and values per layer.
    All random tensors come from a generator seeded with ``seed``, so the same
    arguments give identical inputs. Note that ``forward`` grows the cache in
    place: build fresh inputs for each call.
    """
    import transformers

    config = model.config
    gen = torch.Generator().manual_seed(seed)
    head_dim = getattr(config, "head_dim", None) or (config.hidden_size // config.num_attention_heads)
    kv_shape = (batch, config.num_key_value_heads, past_len, head_dim)
    dtype = model.dtype

    # Layer types come from the config; each layer is then filled with past_len positions.
    cache = transformers.DynamicCache(config=config)
    for layer_idx in range(config.num_hidden_layers):
        key = torch.randn(kv_shape, generator=gen, dtype=dtype)
        value = torch.randn(kv_shape, generator=gen, dtype=dtype)
        cache.update(key, value, layer_idx)

    input_ids = torch.randint(0, config.vocab_size, (batch, seq_len), generator=gen, dtype=torch.int64)
    positions = torch.arange(past_len, past_len + seq_len, dtype=torch.int64)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones(batch, past_len + seq_len, dtype=torch.int64),
        "position_ids": positions.unsqueeze(0).repeat(batch, 1),  # contiguous, not a stride-0 view
        CACHE_KWARG: cache,
    }
