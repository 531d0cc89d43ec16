"""A divisibility guard on a named Dim stops the trace where the model adds it.

torch would refuse the Dim anyway, at the end of the trace and after reasoning about
sizes like ``(n//4 + (4 - (n//4) % 4) % 4)``; symshape writes the fix torch would have
suggested (``n = 4*n_div4``) and traces again.
"""

from __future__ import annotations

import pytest
import torch

import symshape
from symshape.exporting import loop


class PadsToPatches(torch.nn.Module):
    """Pads the length to a multiple of 4 (a branch on ``n % 4``), then works on patches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % 4 != 0:
            x = torch.nn.functional.pad(x, (0, 4 - x.shape[1] % 4))
        patches = x.reshape(x.shape[0], -1, 4)
        return patches.cumsum(1).flatten(1)


def _sets(lengths: list[int]) -> list[tuple[torch.Tensor]]:
    return [(torch.randn(b, n),) for b, n in zip((2, 3, 2), lengths)]


def test_stop_at_the_guard_gives_the_derived_dim_and_the_model_line(monkeypatch) -> None:
    traced = []
    original = loop.trace
    monkeypatch.setattr(loop, "trace", lambda *a, **k: traced.append(a[1]) or original(*a, **k))
    result = symshape.export(PadsToPatches(), _sets([8, 12, 20]))
    assert [a.expr for a in result.spec.axes] == ["x_dim0", "4*x_dim1_div4"]
    (fix,) = [r for r in result.refinements if r.dim == "x_dim1"]
    assert fix.change == "x_dim1 = 4*x_dim1_div4"
    assert "(x.shape[1] % 4) == 0" in fix.reason and "test_divisibility.py" in fix.reason, fix.reason
    assert len(traced) == result.traces == 2 and result.ok, result.checks
    held_out = torch.randn(5, 28)
    torch.testing.assert_close(result.program.module()(held_out), PadsToPatches()(held_out))


def test_sizes_that_break_the_divisibility_are_explained() -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(PadsToPatches(), _sets([8, 12, 10]))
    text = str(info.value)
    assert "x_dim1 must be of the form 4*x_dim1_div4" in text and "set #2 (x_dim1 = 10)" in text, text
