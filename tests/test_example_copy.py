"""The spec's example is copied when first read, as the inputs were observed."""

from __future__ import annotations

import pytest
import torch

import symshape
from symshape.core.copying import DeferredCopy
from symshape.integrations.transformers.tiny_models import llama_decode_inputs

from .test_caches import dynamic_cache, same, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")


def _pointers(tree) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in torch.utils._pytree.tree_leaves(tree) if t.numel()}


def test_forward_after_infer_dims_does_not_reach_the_example(llama) -> None:
    sets = [llama_decode_inputs(llama, 2, 3, 5, seed=0), llama_decode_inputs(llama, 3, 4, 7, seed=1)]
    observed = snapshot(sets[0])
    spec = symshape.infer_dims(llama, sets)
    llama(**sets[0])  # forward grows the user's cache (its layers get new tensors)
    assert sets[0]["cache"].get_seq_length() == 8
    example = spec.kwargs
    assert example["cache"].get_seq_length() == 5
    assert same(snapshot(example), observed)
    assert not _pointers(example) & _pointers(sets[0])  # a copy: no storage shared with the user's set


def test_specs_made_from_one_another_share_one_copy() -> None:
    sets = [{"x": torch.ones(2, 3)}, {"x": torch.ones(4, 3)}]
    spec = symshape.infer_dims(None, sets)
    other = spec.with_rows()
    assert other.kwargs["x"] is spec.kwargs["x"] and other.kwargs["x"] is not sets[0]["x"]
    spec.kwargs = {"x": torch.zeros(5, 3)}  # users pass their own example
    assert spec.kwargs["x"].shape == (5, 3) and other.kwargs["x"].shape == (2, 3)


def test_a_tensor_changed_in_place_is_copied_with_its_values_then() -> None:
    values = {"x": torch.ones(2, 3)}
    later = DeferredCopy(values)
    values["x"].add_(1)
    assert torch.equal(later.get()["x"], torch.full((2, 3), 2.0))
    assert later.get() is later.get() and later.get()["x"] is not values["x"]


class _Note:
    """An attribute symshape cannot encode: the cache is deep-copied."""


def test_a_set_deepcopy_would_walk_is_copied_at_once() -> None:
    cache = dynamic_cache(2, 3)
    cache.note = _Note()  # an attribute symshape cannot encode: the copy is a deepcopy, taken now
    later = DeferredCopy({"cache": cache})
    cache.update(torch.ones(2, 2, 1, 8), torch.ones(2, 2, 1, 8), 0)
    assert later.get()["cache"].get_seq_length() == 3
