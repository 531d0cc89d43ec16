"""Shared helpers: export with a spec and compare the program with eager."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
import torch
import torch.utils._pytree as pytree

import symshape

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # `make test` runs one worker per core: no thread oversubscription


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on shared cores: one intra-op thread is an order of magnitude faster
    (``pytestmark = pytest.mark.usefixtures("one_thread")`` in a module that wants it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def export_with(model: Any, spec: symshape.DimSpec) -> torch.export.ExportedProgram:
    """torch.export.export with the spec, non-strict, as the issues ask."""
    return torch.export.export(model, spec.args, spec.kwargs, dynamic_shapes=spec.dynamic_shapes, strict=False)


def max_diff_vs_eager(program: torch.export.ExportedProgram, model: Any, args: tuple, kwargs: dict) -> float:
    """Run the program and the model on copies of one input set; max abs difference over all output tensors."""
    expected = model(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    got = program.module()(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    exp_leaves = [t for t in pytree.tree_leaves(expected) if isinstance(t, torch.Tensor)]
    got_leaves = [t for t in pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]
    assert len(exp_leaves) == len(got_leaves) > 0
    diffs = []
    for e, g in zip(exp_leaves, got_leaves):
        assert e.shape == g.shape, f"shape {tuple(g.shape)} from the program, {tuple(e.shape)} from eager"
        diffs.append((e.float() - g.float()).abs().max().item() if e.numel() else 0.0)
    return max(diffs)


@pytest.fixture(scope="session")
def llama():
    from symshape.integrations.transformers.tiny_models import tiny_llama

    return tiny_llama(num_layers=2, hidden_size=64)
