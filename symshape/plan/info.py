"""What a plan knows about its programs besides their ExportResults, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ProgramInfo:
    """What the plan knows about one program besides its ExportResult."""

    name: str
    kind: str  # "structure", "guard" or "bucket": why its calls are together
    why: str
    calls: list[int]  # the observed calls (indices into the inputs) of its regime
    seconds: float = 0.0
    parent: str | None = None
    #: Axes fixed by the model in this program although they vary in the workload, with why.
    fixed: dict[str, str] = field(default_factory=dict)
    #: Axes a companion set moved (sizes the workload varies that this regime saw once).
    moved: list[str] = field(default_factory=list)
    #: For a loaded plan: how the program's checks ended when it was saved.
    saved_state: str = ""


@dataclass
class Coverage:
    """Which observed call each program holds, what no program holds, and overlaps."""

    routed: dict[int, str | None] = field(default_factory=dict)
    uncovered: list[tuple[int, str]] = field(default_factory=list)
    overlaps: list[tuple[str, str, dict[str, int]]] = field(default_factory=list)
    failures: list[tuple[str, list[int], str]] = field(default_factory=list)  # regime, its calls, the error
