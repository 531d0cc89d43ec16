"""symshape.export: refinement on torch's request, explained errors, read-back, verification."""

from __future__ import annotations

import re

import pytest
import torch

import symshape
from symshape.integrations.transformers.tiny_models import llama_decode_inputs

from .conftest import max_diff_vs_eager


def test_llama_exports_in_one_trace_and_is_verified(llama) -> None:
    sets = [llama_decode_inputs(llama, 2, 3, 5, seed=0), llama_decode_inputs(llama, 3, 4, 7, seed=1)]
    lengths = [s["cache"].get_seq_length() for s in sets]
    result = symshape.export(llama, sets)
    assert result.traces == 1 and result.refinements == []
    assert result.reading.symbols == 4
    (check,) = result.reading.relation_checks
    assert check.expr == "attention_mask.shape[1] = past_len + seq_len" and check.status == "enforced"
    assert [c.accepted for c in result.observed_checks] == [True, True] and result.ok
    assert [s["cache"].get_seq_length() for s in sets] == lengths  # verification ran on copies
    held_out = llama_decode_inputs(llama, 4, 1, 9, seed=3)
    assert max_diff_vs_eager(result.program, llama, (), held_out) < 1e-4
    assert "enforced" in result.explain()


class PositionTable(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pos", torch.randn(16))

    def forward(self, x):
        return x + self.pos[: x.shape[0]]


def test_bound_required_by_the_model_is_applied_and_recorded() -> None:
    result = symshape.export(PositionTable(), [(torch.randn(5),), (torch.randn(9),)])
    (refinement,) = result.refinements
    assert refinement.change == "x_dim0 <= 16" and "x.shape[0] <= 16" in refinement.reason
    assert result.spec.dim_rows[0].max == 16 and result.initial_spec.dim_rows[0].max is None
    assert result.traces == 2 and result.ok


class Blocks(torch.nn.Module):
    def forward(self, x):
        return x.reshape(-1, 3).sum(1)


def test_divisibility_gets_a_named_root() -> None:
    result = symshape.export(Blocks(), [(torch.randn(6),), (torch.randn(12),)])
    assert [r.change for r in result.refinements] == ["x_dim0 = 3*x_dim0_div3"]
    assert [a.expr for a in result.spec.axes] == ["3*x_dim0_div3"]
    assert [(d.name, d.values) for d in result.spec.dim_rows] == [("x_dim0_div3", (2, 4))]
    assert [r.origin for r in result.spec.relations] == ["model"]
    assert max_diff_vs_eager(result.program, Blocks(), (torch.randn(21),), {}) == 0.0


def test_a_fix_the_data_breaks_is_an_explained_error() -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(Blocks(), [(torch.randn(6),), (torch.randn(10),)])
    text = str(info.value)
    assert "x_dim0 must be of the form 3*x_dim0_div3" in text
    assert "observed:    set #0: 6, set #1: 10" in text and "broken by:   set #1 (x_dim0 = 10)" in text


class Loop(torch.nn.Module):
    def forward(self, x):
        out = x
        for i in range(x.shape[1]):
            out = out + i
        return out


def test_specialised_axis_names_input_dim_values_and_code() -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(Loop(), [(torch.randn(2, 3),), (torch.randn(4, 6),)])
    text = str(info.value)
    assert "x_dim1 is specialised to 3" in text
    assert "appears at:  x.shape[1]" in text and "set #0: 3, set #1: 6" in text
    assert re.search(r"model code:  .*test_export.py:\d+ in forward: for i in range\(x.shape\[1\]\):", text)
    assert not re.search(r"\bs\d+\b", text)


class Branch(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] > 4:
            return x * 2
        return x


def test_branch_on_a_size_is_explained() -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(Branch(), [(torch.randn(3),), (torch.randn(6),)])
    text = str(info.value)
    assert "x_dim0 must be <= 4" in text and "broken by:   set #1 (x_dim0 = 6)" in text
    assert "if x.shape[0] > 4:" in text


class Add(torch.nn.Module):
    def forward(self, x, y):
        return x + y


def test_other_failures_never_show_torch_symbols() -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(Add(), [(torch.randn(4), torch.randn(5)), (torch.randn(6), torch.randn(7))])
    text = str(info.value)
    assert "x_dim0" in text and "y_dim0" in text and not re.search(r"\bs\d+\b", text)


def test_plain_function_and_var_keyword_forward() -> None:
    def f(x, **extra):
        return x + extra["y"]

    sets = [dict(x=torch.randn(3, 4), y=torch.randn(1, 4)), dict(x=torch.randn(5, 6), y=torch.randn(1, 6))]
    result = symshape.export(f, sets)  # torch alone fails on dynamic shapes under **kwargs
    assert result.ok and result.reading.symbols == 2


def test_export_needs_a_model() -> None:
    with pytest.raises(symshape.InputsError, match="needs a model"):
        symshape.export(None, [(torch.randn(2),), (torch.randn(3),)])


def test_verification_reports_a_set_the_program_rejects() -> None:
    class Total(torch.nn.Module):
        def forward(self, x, y, z):
            return torch.cat([x, y]) * int(z.shape[0])  # specialises z, which is left Dim.AUTO

    sets = [(torch.randn(a), torch.randn(b), torch.randn(a + b)) for a, b in ((2, 5), (4, 4), (6, 6))]
    result = symshape.export(Total(), sets)
    assert result.spec.axes[2].expr == "x_dim0 + y_dim0"
    (check,) = result.reading.relation_checks
    assert check.status == "not enforced"
    accepted = [c.accepted for c in result.observed_checks]
    assert accepted == [c.set_index == result.spec.example_index for c in result.observed_checks]
    rejected = [c for c in result.observed_checks if not c.accepted]
    assert all("z.shape[0]" in c.error for c in rejected) and not result.ok


def test_strict_mode_exports_and_reads_back(llama) -> None:
    sets = [llama_decode_inputs(llama, 2, 3, 5, seed=0), llama_decode_inputs(llama, 3, 4, 7, seed=1)]
    result = symshape.export(llama, sets, strict=True)
    assert result.ok and result.reading.symbols == 4
    # Strict mode names the guarded inputs L['flat_args'][i]; read back, they enforce the mask relation,
    # and the program does reject a mask of another length.
    (check,) = result.reading.relation_checks
    assert check.status == "enforced", check
    assert "attention_mask.shape[1] >= past_len + seq_len" in result.reading.requirements
    wrong = llama_decode_inputs(llama, 2, 3, 5, seed=2)
    wrong["attention_mask"] = torch.ones(2, 9, dtype=torch.int64)
    with pytest.raises(Exception, match=r"attention_mask\.size\(\)\[1\]"):
        result.program.module()(**wrong)


def test_fake_tensor_cache_is_on_from_eight_repeated_blocks() -> None:
    from symshape.exporting.trace import cache_pays_off

    def blocks(n: int) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.ModuleList(torch.nn.Linear(2, 2) for _ in range(n)))

    assert not cache_pays_off(blocks(2)) and not cache_pays_off(torch.nn.Linear(2, 2))
    assert cache_pays_off(blocks(8))


def test_fake_tensor_cache_option_is_checked() -> None:
    with pytest.raises(symshape.OptionError, match=r"fake_tensor_cache='yes'"):
        symshape.export(torch.nn.Identity(), [torch.ones(2)], fake_tensor_cache="yes")
