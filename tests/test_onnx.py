"""``symshape.export_onnx`` and ``symshape export --onnx``: ONNX graphs whose ``dim_param``s are
symshape's names (never torch's ``s0``), checked with onnxruntime on observed and held-out sets.

Needs the ``onnx`` extra (``pip install 'symshape[onnx]'``; ``make install`` installs it).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx", reason="the symshape[onnx] extra is not installed")
pytest.importorskip("onnxscript", reason="the symshape[onnx] extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the symshape[onnx] extra is not installed")

import symshape
from symshape import cli
from symshape.integrations.onnx import naming as onnx_naming
from symshape.integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama

from .zoo import ZOO

TORCH_SYMBOL = re.compile(r"\b[su]\d+\b")


def dim_params(path: Path) -> dict[str, list[str | int]]:
    """Every graph input and output of the saved model -> its dims, read back from the file."""
    graph = onnx.load(str(path)).graph
    return {
        v.name: [d.dim_param if d.HasField("dim_param") else d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*graph.input, *graph.output)
    }


def show(title: str, made: symshape.OnnxExportResult) -> None:
    print(f"\n== {title} ==\n{made.explain()}")


def no_torch_symbols(path: Path) -> None:
    graph = onnx.load(str(path)).graph
    for v in (*graph.input, *graph.output, *graph.value_info):
        for d in v.type.tensor_type.shape.dim:
            assert not TORCH_SYMBOL.search(d.dim_param), f"{v.name}: torch symbol {d.dim_param!r} left in the graph"


def assert_verified(made: symshape.OnnxExportResult, observed: int, held_out: int) -> None:
    labels = [c.label for c in made.checks]
    assert labels == [f"set #{i}" for i in range(observed)] + [f"held-out #{i}" for i in range(held_out)]
    for c in made.checks:
        assert c.error is None and c.max_abs_diff is not None and c.max_abs_diff <= 1e-4, c
    assert made.ok


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> symshape.OnnxExportResult:
    entry = ZOO["bert"]
    model = entry.build()
    sets = [entry.make_inputs(case, seed) for seed, case in enumerate(entry.train_cases)]
    path = tmp_path_factory.mktemp("onnx") / "bert.onnx"
    return symshape.export_onnx(model, sets, path, held_out=[entry.make_inputs(entry.held_out, 99)])


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> symshape.OnnxExportResult:
    model = tiny_llama()
    sets = [llama_decode_inputs(model, *case, seed=i) for i, case in enumerate([(2, 3, 5), (3, 4, 7)])]
    held_out = [llama_decode_inputs(model, 4, 1, 9, seed=7)]  # a one-token decode step, other sizes
    path = tmp_path_factory.mktemp("onnx") / "llama.onnx"
    return symshape.export_onnx(model, sets, path, held_out=held_out)


def test_bert_dim_params_are_symshape_names(bert: symshape.OnnxExportResult) -> None:
    show("BERT-like encoder (ZOO['bert'])", bert)
    dims = dim_params(bert.path)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert dims[name] == ["batch", "seq_len"]
    assert dims["last_hidden_state"] == ["batch", "seq_len", 32]
    assert dims["pooler_output"] == ["batch", 32]
    assert bert.dim_params == {n: tuple(d) for n, d in dims.items() if n in bert.dim_params}
    no_torch_symbols(bert.path)


def test_bert_onnxruntime_matches_eager_on_observed_and_held_out(bert: symshape.OnnxExportResult) -> None:
    assert_verified(bert, observed=3, held_out=1)
    assert "(5, 11)" in bert.checks[-1].shapes  # the held-out sizes were never observed


def test_llama_decode_dim_params_are_symshape_names(llama: symshape.OnnxExportResult) -> None:
    show("tiny Llama decode step with a DynamicCache", llama)
    dims = dim_params(llama.path)
    assert dims["input_ids"] == dims["position_ids"] == ["batch", "seq_len"]
    assert dims["attention_mask"] == ["batch", "past_len + seq_len"]  # a derived axis, readable
    for kind in ("key", "value"):
        for layer in (0, 1):
            assert dims[f"cache_{kind}_cache_{layer}"] == ["batch", 2, "past_len", 16]
            assert dims[f"out_cache_{kind}_cache_{layer}"] == ["batch", 2, "past_len + seq_len", 16]
    assert dims["logits"] == ["batch", "seq_len", 128]
    paths = {v.name: v.path for v in llama.inputs}
    assert paths["cache_key_cache_1"] == "cache['key_cache'][1]"
    no_torch_symbols(llama.path)


def test_llama_onnxruntime_matches_eager_on_observed_and_held_out(llama: symshape.OnnxExportResult) -> None:
    assert_verified(llama, observed=2, held_out=1)
    assert "input_ids=(4, 1)" in llama.checks[-1].shapes


def test_readable_expressions() -> None:
    import sympy

    b, p, s = (sympy.Symbol(n, integer=True, nonnegative=True) for n in ("batch", "past_len", "seq_len"))
    renamed = {"s13": b, "s70": s, "s10": p, "s53": p + s}
    assert onnx_naming.readable("s10 + s70", renamed) == "past_len + seq_len"
    assert onnx_naming.readable("s53", renamed) == "past_len + seq_len"
    assert onnx_naming.readable("2*s10 + 1", renamed) == "2*past_len + 1"
    assert onnx_naming.readable("s99", renamed) == "s99"  # unknown: left as it is, not guessed


FACTORY = textwrap.dedent(
    """
    import torch

    class Step(torch.nn.Module):
        def forward(self, x, past):
            return torch.cat([past, x], dim=1).sum(-1)

    def make():
        return Step(), [(torch.randn(2, 3, 4), torch.randn(2, 5, 4)), (torch.randn(3, 2, 4), torch.randn(3, 6, 4))]
    """
)


def test_cli_export_onnx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "onnx_models.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "onnx_models", raising=False)
    code = cli.main(["export", "onnx_models:make", "-o", "step.pt2", "--onnx", "step.onnx", "--format", "text"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "converting to ONNX" in err
    dims = dim_params(tmp_path / "step.onnx")
    print(out)
    assert dims["x"] == ["x_dim0", "x_dim1", 4] and dims["past"] == ["x_dim0", "past_dim1", 4]
    assert dims["output"] == ["x_dim0", "past_dim1 + x_dim1"]
    assert "set #1" in out and "max |onnx - eager|" in out
