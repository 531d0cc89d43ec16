"""Tiny encoder-decoders set up for ``generate()``, shared by the observe and plan tests."""

from __future__ import annotations

from typing import Any

import torch
import transformers

from .zoo import ZOO


def seq2seq(family: str) -> Any:
    """A tiny T5 or BART for conditional generation (random weights, seed 0)."""
    if family == "t5":
        config = transformers.T5Config(
            vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
            relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
            decoder_start_token_id=0,
        )  # fmt: skip
        cls = transformers.T5ForConditionalGeneration
    else:
        config = transformers.BartConfig(
            vocab_size=128, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
            pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
        )  # fmt: skip
        cls = transformers.BartForConditionalGeneration
    torch.manual_seed(0)
    return cls(config).eval()


def whisper() -> Any:
    """The zoo's tiny Whisper, offline and deterministic: greedy, no language/task prompt
    (no tokenizer), token ids from the config."""
    model = ZOO["whisper"].build()
    config = model.config
    model.generation_config.do_sample = False
    model.generation_config.decoder_start_token_id = config.decoder_start_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    return model
