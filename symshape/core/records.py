"""What export found and checked, as plain data: refinements, the program read back,
and the checks against eager. The report renders these; export and the
integrations (ONNX, ExecuTorch) produce them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Largest |program - eager| difference a verified set may show, for every target
#: (torch program, ONNX Runtime, ExecuTorch).
ATOL = 1e-4


@dataclass(frozen=True)
class Refinement:
    """One change versus the first spec, with its reason."""

    dim: str
    change: str  # "seq_len <= 64", "past_len = 2*past_len_div2", "b = a"
    reason: str  # torch's words, in symshape's names
    source: str | None = None  # model file:line and code, where known


@dataclass(frozen=True)
class RelationCheck:
    """Whether the program enforces a relation symshape left to torch (``Dim.AUTO``)."""

    expr: str  # "attention_mask.shape[1] = past_len + seq_len"
    status: str  # "stated" (in the program's shapes), "enforced" (by its guards), "not enforced"
    detail: str


@dataclass(frozen=True)
class ProgramReading:
    """What the program says about its input shapes, in symshape's names."""

    symbols: int  # free symbols in the user inputs
    guards: int
    requirements: tuple[str, ...]  # non-trivial guards, written as a person reads them
    relation_checks: tuple[RelationCheck, ...]
    shapes: dict[str, str]  # axis label -> the program's expression in symshape names
    #: Relations the data showed too few times to trust that the guards enforce: the
    #: model requires them (``origin="model"``), and the export states them as Dims.
    required: tuple[Any, ...] = ()  # RelationRow


@dataclass(frozen=True)
class Check:
    """One input set run through an exported artifact and through eager."""

    set_index: int
    accepted: bool
    max_abs_diff: float | None  # over every output tensor; None if not accepted
    error: str | None = None
    #: False for a set of another structure than the example (e.g. a prefill call whose
    #: cache is empty, recorded by ``observe``): another graph, not run through the program.
    covered: bool = True
    #: True when the set was recorded as shapes only and run on values tiled from the example.
    synthetic: bool = False
    #: ``"observed"`` (one of the input sets), ``"probe"`` (built from the contract, see
    #: :mod:`symshape.exporting.probes`) or ``"held-out"`` (given by the user).
    origin: str = "observed"
    #: The input shapes that were fed, for reports (``(input_ids=(4, 1), ...)``); may be empty.
    shapes: str = ""
    #: For a probe: the dim sizes it was built at (``batch=2, seq_len=1, past_len=13``).
    sizes: str = ""

    @property
    def passed(self) -> bool:
        """Accepted, and every output within ``ATOL`` of eager."""
        return self.accepted and self.max_abs_diff is not None and self.max_abs_diff <= ATOL

    @property
    def gap(self) -> bool:
        """A probe eager runs and the artifact rejects: a coverage gap (reported, not a failure)."""
        return self.origin == "probe" and not self.accepted

    @property
    def label(self) -> str:
        label = f"{'set' if self.origin == 'observed' else self.origin} #{self.set_index}"
        return f"{label} ({self.sizes})" if self.sizes else label


def failed(checks: list[Check]) -> list[Check]:
    """The checks that make a verification fail: a covered set not accepted, or any output
    (probes too) off eager by more than ``ATOL``. Sets of another structure than the example
    (``covered=False``) and coverage gaps are reported, not counted. One rule for every
    target (torch program, ONNX, ExecuTorch)."""
    return [c for c in checks if c.covered and not c.gap and not c.passed]
