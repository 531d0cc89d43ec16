"""An explained refusal costs one trace: the model line comes from the guards the failed
trace recorded (``exporting.trace``), not from a second trace with ``draft_export``.

Traces are counted at torch's entry points (``torch.export.export``, which
``exporting.trace`` calls, and ``torch.export.draft_export``, which ``_torch.guard_frames``
calls); nothing here is timed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
import torch

import symshape
from symshape.exporting.trace import TraceFailure, exportable, source_lines, trace


class Loop(torch.nn.Module):
    """Specialises x.shape[1]: a Python loop over a size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(x.shape[1]):
            out = out + i
        return out


class Branch(torch.nn.Module):
    """Bounds x.shape[1]: a branch on a size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > 4:
            return x * 2
        return x


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    """Counts the calls of torch's two trace entry points."""
    calls: Counter = Counter()
    for name in ("export", "draft_export"):
        original = getattr(torch.export, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch.export, name, counted)
    yield calls


SETS = [(torch.randn(2, 3),), (torch.randn(4, 6),)]  # x.shape[1] is 3, then 6


@pytest.mark.parametrize(
    ("model", "what", "line"),
    [
        (Loop(), "x_dim1 is specialised to 3", r"for i in range\(x\.shape\[1\]\):"),
        (Branch(), "x_dim1 must be <= 4", r"if x\.shape\[1\] > 4:"),
    ],
    ids=["loop-specialises", "branch-bounds"],
)
def test_an_explained_refusal_needs_exactly_one_trace(traces: Counter, model, what: str, line: str) -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(model, SETS)
    text = str(info.value)
    assert what in text
    assert re.search(rf"model code:  .*test_refusal_cost\.py:\d+ in forward: {line}", text), text
    assert traces == Counter(export=1), traces  # the failed trace only: no draft_export, no retrace


def test_the_failed_trace_hands_its_guards_to_source_lines(traces: Counter) -> None:
    """The record is an explicit out-parameter: ``trace`` fills it, ``source_lines`` reads it."""
    spec = symshape.infer_dims(Loop(), SETS)
    module, layout = exportable(Loop(), spec.layout)
    failures: list[TraceFailure] = [TraceFailure(spec, True, [])]  # stale: trace empties it first
    with pytest.raises(Exception, match=r"specialized|Constraints violated"):
        trace(module, spec, layout, False, {}, False, failures=failures)
    assert len(failures) == 1 and failures[0].spec is spec and failures[0].guards
    found = source_lines(module, spec, layout, False, failures)
    assert [re.sub(r"^.*test_refusal_cost\.py:\d+ ", "", w) for w in found["x_dim1"]] == [
        "in forward: for i in range(x.shape[1]):"
    ]
    assert traces == Counter(export=1)

    # A record of another spec's trace says nothing about this one: the model is traced again.
    other = symshape.infer_dims(Loop(), [(torch.randn(2, 5),), (torch.randn(4, 7),)])
    assert "x_dim1" in source_lines(module, other, layout, False, failures)
    assert traces["draft_export"] == 1
