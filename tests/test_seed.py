"""Every scenario of the seed example (onnx-diagnostic's ModelInputs), redone.

Each one: infer_dims, a real torch.export.export with the spec, the program run on
another input set with other sizes against eager, and the seed's symbol count.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

import symshape
from symshape.exporting.readback import input_symbols

from .conftest import export_with, max_diff_vs_eager


class AddModel(torch.nn.Module):
    def forward(self, x, y):
        return x + y


def _xy(rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(rows, cols), torch.randn(1, cols)


def _check_two_independent_dims(spec: symshape.DimSpec) -> None:
    # (5, 6) -> (7, 8) moved in lockstep inside x: two dims, not x.shape[1] = x.shape[0] + 1.
    assert list(spec.dims) == ["x_dim0", "x_dim1"]
    exprs = {(a.path, a.axis): a.expr for a in spec.axes}
    assert exprs == {("x", 0): "x_dim0", ("x", 1): "x_dim1", ("y", 0): "1", ("y", 1): "x_dim1"}
    assert any("x_dim0 + 1" in r.expr for r in spec.rejected)


def test_args() -> None:
    x, y = _xy(5, 6)
    spec = symshape.infer_dims(AddModel(), [(x, y), _xy(7, 8)])
    _check_two_independent_dims(spec)
    assert isinstance(spec.dynamic_shapes, tuple) and spec.kwargs == {}
    program = export_with(AddModel(), spec)
    assert len(input_symbols(program)) == 2
    assert max_diff_vs_eager(program, AddModel(), _xy(9, 4), {}) == 0.0


def test_kwargs() -> None:
    x, y = _xy(5, 6)
    x2, y2 = _xy(7, 8)
    spec = symshape.infer_dims(AddModel(), [dict(x=x, y=y), dict(x=x2, y=y2)])
    _check_two_independent_dims(spec)
    assert spec.args == () and set(spec.kwargs) == {"x", "y"}
    program = export_with(AddModel(), spec)
    assert len(input_symbols(program)) == 2
    x3, y3 = _xy(3, 11)
    assert max_diff_vs_eager(program, AddModel(), (), dict(x=x3, y=y3)) == 0.0


def test_args_and_kwargs_move_to_kwargs() -> None:
    x, y = _xy(5, 6)
    x2, y2 = _xy(7, 8)
    spec = symshape.infer_dims(AddModel(), [((x,), dict(y=y)), ((x2,), dict(y=y2))])
    _check_two_independent_dims(spec)
    # torch.export refuses dynamic shapes split between args and kwargs: all keyword.
    assert spec.args == () and list(spec.kwargs) == ["x", "y"]
    assert set(spec.dynamic_shapes) == {"x", "y"}
    program = export_with(AddModel(), spec)
    assert len(input_symbols(program)) == 2
    x3, y3 = _xy(4, 5)
    assert max_diff_vs_eager(program, AddModel(), (), dict(x=x3, y=y3)) == 0.0


class CacheModel(torch.nn.Module):
    def forward(self, cache, z):
        return z + cache.layers[0].keys + cache.layers[1].keys + cache.layers[0].values + cache.layers[1].values


def _cache(batch: int, heads: int, seq: int, dim: int, layers: int = 2) -> DynamicCache:
    cache = DynamicCache()
    for i in range(layers):
        cache.update(torch.randn(batch, heads, seq, dim), torch.randn(batch, heads, seq, dim), i)
    return cache


def test_dynamic_cache_two_layers() -> None:
    inputs = [(_cache(2, 4, 3, 7), torch.randn(1, 1, 1, 7)), (_cache(3, 4, 4, 8), torch.randn(1, 1, 1, 8))]
    spec = symshape.infer_dims(CacheModel(), inputs)
    # The seed's 13 independent DYNAMIC hints become 3 named dims.
    assert list(spec.dims) == ["batch", "past_len", "head_dim"]
    by_label = {a.label: a.expr for a in spec.axes}
    for kind in ("key_cache", "value_cache"):
        for layer in (0, 1):
            path = f"cache[{kind!r}][{layer}]"
            assert [by_label[f"{path}.shape[{i}]"] for i in range(4)] == ["batch", "4", "past_len", "head_dim"]
    assert by_label["z.shape[3]"] == "head_dim"  # z's last axis shares the cache's last-axis symbol
    assert [by_label[f"z.shape[{i}]"] for i in range(3)] == ["1", "1", "1"]
    assert not [r for r in spec.relations if r.kind != "equal"]  # lockstep sizes: no offsets

    program = export_with(CacheModel(), spec)
    assert len(input_symbols(program)) == 3
    held_out = (_cache(5, 4, 6, 3), torch.randn(1, 1, 1, 3))
    assert max_diff_vs_eager(program, CacheModel(), held_out, {}) == 0.0
