"""Eager checks of the model zoo: every entry builds, runs on every case, and its truth table
matches the inputs it makes (no export, no inference here)."""

from __future__ import annotations

import functools
import inspect

import pytest
import torch

from .zoo import CACHE_KWARG, ZOO, ZooEntry, evaluate, flat_leaves, split_key

FAMILIES = sorted(ZOO)


@functools.cache
def _model(name: str) -> torch.nn.Module:
    return ZOO[name].build()


def _cases(entry: ZooEntry) -> list[dict[str, int]]:
    return [*entry.train_cases, entry.held_out]


def test_zoo_is_large_enough():
    assert len({e.model_class for e in ZOO.values()}) >= 12


@pytest.mark.parametrize("name", FAMILIES)
def test_entry_is_well_formed(name):
    entry = ZOO[name]
    dims = set(entry.train_cases[0])
    assert len(entry.train_cases) >= 2
    assert all(set(case) == dims for case in _cases(entry))
    for dim in dims:  # every dim moves in the train cases unless it is pinned (Mamba's one-token step)
        values = {case[dim] for case in entry.train_cases}
        assert len(values) >= 2 or values == {entry.held_out[dim]}, f"{dim} never varies in the train cases"
        if len(values) >= 2:  # the held-out set is new in every dim that moves
            assert entry.held_out[dim] not in values, f"held-out {dim} was seen in the train cases"
    if entry.cache_kwarg is not None:
        assert entry.held_out["seq_len"] == 1  # decoders: a one-token decode step
        assert entry.cache_kwarg in inspect.signature(type(_model(name)).forward).parameters
    assert entry.expected_free_symbols <= len(dims)
    used = {name for expr in entry.truth.values() for name in expr.replace("+", " ").replace("-", " ").split()}
    assert {u for u in used if not u.isdigit()} <= dims


@pytest.mark.parametrize("name", FAMILIES)
def test_eager_forward(name):
    entry, model = ZOO[name], _model(name)
    assert not model.training
    for case in _cases(entry):
        inputs = entry.make_inputs(case, seed=0)
        with torch.no_grad():
            out = model(**inputs)
        for field, shape in entry.output_shapes(case).items():
            assert tuple(out[field].shape) == shape, f"{name} {case}: {field}"
        assert all(torch.isfinite(t).all() for t in out.values() if isinstance(t, torch.Tensor))


@pytest.mark.parametrize("name", FAMILIES)
def test_truth_matches_inputs(name):
    """Every truth row holds on every case; every axis without a row is the same in every case."""
    entry = ZOO[name]
    observed = [flat_leaves(entry.make_inputs(case, seed=1)) for case in _cases(entry)]
    assert all(obs.keys() == observed[0].keys() for obs in observed), "cases differ in structure"
    claimed = set()
    for key, expression in entry.truth.items():
        path, axis = split_key(key)
        assert path in observed[0], f"{key}: no such leaf; leaves are {sorted(observed[0])}"
        claimed.add((path, axis))
        for case, obs in zip(_cases(entry), observed):
            got = obs[path] if axis is None else obs[path][axis]
            assert got == evaluate(expression, case), f"{key} = {got} at {case}, truth says {expression}"
    for path, value in observed[0].items():
        axes = [None] if isinstance(value, int) else range(len(value))
        for axis in axes:
            if (path, axis) not in claimed:
                seen = {obs[path] if axis is None else obs[path][axis] for obs in observed}
                assert len(seen) == 1, f"{path} axis {axis} varies ({sorted(seen)}) but has no truth row"


@pytest.mark.parametrize("name", [n for n in FAMILIES if ZOO[n].cache_kwarg is not None])
def test_cache_layout_is_the_models_own(name):
    """The cache we fill has the layer classes and shapes the model builds itself in a prefill."""
    entry, model = ZOO[name], _model(name)
    case = entry.train_cases[0]
    ours = entry.make_inputs(case, seed=0)[CACHE_KWARG]
    batch = case["batch"]
    with torch.no_grad():
        if "decoder_input_ids" in inspect.signature(type(model).forward).parameters:
            encoder_outputs = entry.make_inputs(case, seed=0)["encoder_outputs"]
            ids = torch.zeros(batch, case["past_len"], dtype=torch.int64)
            theirs = model(decoder_input_ids=ids, encoder_outputs=encoder_outputs, use_cache=True).cache
        elif "past_len" in case:
            theirs = model(input_ids=torch.zeros(batch, case["past_len"], dtype=torch.int64), use_cache=True).cache
        else:  # Mamba: a prefill of any length leaves fixed-size states
            theirs = model(input_ids=torch.zeros(batch, 5, dtype=torch.int64), use_cache=True).cache
    assert type(ours) is type(theirs)

    def layer_types(cache):
        caches = (
            [cache.self_attention_cache, cache.cross_attention_cache]
            if hasattr(cache, "cross_attention_cache")
            else [cache]
        )
        return [[type(layer).__name__ for layer in c.layers] for c in caches]

    assert layer_types(ours) == layer_types(theirs)
    assert flat_leaves({CACHE_KWARG: ours}) == flat_leaves({CACHE_KWARG: theirs})
