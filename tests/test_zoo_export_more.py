"""symshape.export on the families of tests/zoo_families.py (the true-symbols issue).

The same checks as tests/test_zoo_export.py (truth, free symbols, the program's own checks,
inputs and model unchanged, a held-out set against eager), in a file of their own so that
pytest-xdist (``--dist loadfile``) runs the two halves of the zoo on different workers.

Free symbols are the truth, plus one for a two-root sum that the program enforces (the
attention mask of a prefix + new tokens call, left ``Dim.AUTO``). A sliding layer's int
counter adds none: it is carried as a shape and shares ``past_len``.
"""

from __future__ import annotations

import pytest

from .test_zoo_export import check_family_export

#: Free symbols in the program's input shapes.
MORE_SYMBOLS = {
    "gpt_oss": 4,  # batch, seq_len, past_len (the sliding counters share it) + the mask sum
    "starcoder2": 4,
    "gemma3": 4,
    "cohere2": 4,
    "deepseek_v3": 4,
    "mixtral": 4,
    "bloom": 3,  # decode and prefix-free calls: batch, seq_len, past_len; its mask is past_len + seq_len, stated
    "marian": 5,
    "jamba": 2,  # decode steps: batch, past_len; mask = past_len + 1 is required by the model
    "lfm2": 2,
    "qwen3_next": 2,
    "falcon_h1": 2,
    "wav2vec2": 2,
    "swin": 3,
    "convnext": 3,
    "detr": 3,
    "siglip_vision": 1,
    "llava": 1,
}

#: Families whose program accepts a longer mask (only mask >= past_len + seq_len is guarded).
MASK_NOT_ENFORCED = {"gpt_oss", "starcoder2"}

#: Dims whose guards torch cannot prove for a named Dim (z3 proves them for every size, or
#: every set satisfies them): the program checks them at run time, and the Dim stays one symbol.
UNNAMED: dict[str, list[str]] = {
    "wav2vec2": ["num_samples: guard checked at run time"],  # torch's fix: 20*k - 17, fitted to 1603
    **{f: ["seq_len: guard checked at run time"] for f in ("gemma3", "gpt_oss", "starcoder2")},
    **{f: ["past_len: guard checked at run time"] for f in ("falcon_h1", "jamba", "lfm2", "qwen3_next")},
}

#: Axes the model refines beyond the truth's dim (still one symbol): Swin pads to a multiple
#: of its patch only when the size is not one (a branch), so its program holds multiples of 4.
REFINED = {"swin": {"pixel_values:2": "4*height_div4", "pixel_values:3": "4*width_div4"}}

#: Families whose export takes tens of seconds on 2 cores.
SLOW = {"swin", "gpt_oss", "gemma3", "starcoder2", "detr", "wav2vec2"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(MORE_SYMBOLS)]
)
def test_family_exports_and_verifies(name: str) -> None:
    check_family_export(name, MORE_SYMBOLS[name], name in MASK_NOT_ENFORCED, UNNAMED.get(name, []), REFINED.get(name))
