"""What ``symshape.export_executorch`` returns: the ``.pte``, the bounds its memory plan
was sized for, the lowering time, and the checks of the ExecuTorch runtime against eager."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...core.records import ATOL, Check, failed
from ...exporting import ExportResult
from ...spec import DimSpec


def bound_lines(spec: DimSpec) -> list[str]:
    """One line per dim: its min and max, and where the bounds come from."""
    reasons: dict[str, list[str]] = {}
    for b in spec.bounds:
        for name in b.dims:
            reasons.setdefault(name, []).append(f"{b.origin}: {b.reason}" + (f"; {b.stated_as}" if b.stated_as else ""))
    lines = []
    for d in spec.dim_rows:
        text = f"  {d.name}: min {'default' if d.min is None else d.min}, max {'none' if d.max is None else d.max}"
        if d.max is None:
            size = d.values[spec.example_index]  # the example's size: the memory plan's capacity
            text += (
                f" (no max: the memory plan takes the example's size{f', {size},' if size else ''} as the "
                f"capacity, larger sizes are rejected; pass bounds={{{d.name!r}: (min, max)}})"
            )
        elif reasons.get(d.name):
            text += f"  [{'; '.join(dict.fromkeys(reasons[d.name]))}]"
        lines.append(text)
    return lines


@dataclass
class ExecuTorchResult:
    """The ``.pte`` file, the ``ExportResult`` it was lowered from, and the checks."""

    path: Path
    export: ExportResult  # the symshape ExportResult the program was lowered from
    lowering_seconds: float
    checks: list[Check] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when input sets were run in the ExecuTorch runtime (``verify=True``)."""
        return bool(self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that make ``ok`` False: an observed or held-out set rejected, or any
        output (probes too) off eager by more than ``ATOL``. Sets of another structure than
        the example (``covered=False``) and coverage gaps (probes the program rejects) are
        reported, not counted, as in ``ExportResult.ok``."""
        return failed(self.checks)

    @property
    def ok(self) -> bool:
        """Verified, and no check :attr:`failed`."""
        return self.verified and not self.failed

    @property
    def bounds(self) -> dict[str, tuple[int | None, int | None]]:
        """Dim name -> ``(min, max)`` the program was exported with (None: torch's default)."""
        return {d.name: (d.min, d.max) for d in self.export.spec.dim_rows}

    @property
    def coverage_gaps(self) -> list[Check]:
        """Probes eager runs and the ExecuTorch program rejects."""
        return [c for c in self.checks if c.gap]

    def explain(self) -> str:
        spec = self.export.spec
        lines = [f"ExecuTorch program: {self.path} (XNNPACK; lowered in {self.lowering_seconds:.1f} s)"]
        if spec.dim_rows:
            lines.append("dims, and the bounds the memory plan is sized for:")
        lines += bound_lines(spec)
        if self.checks:
            lines.append(f"ExecuTorch runtime vs eager (atol {ATOL:g}):")
        for c in self.checks:
            if not c.covered:
                state = f"not run: {c.error}"
            elif not c.accepted or c.error:
                state = f"ERROR: {c.error}" if c.origin != "probe" or c.accepted else str(c.error)
            else:
                state = f"max |pte - eager| = {c.max_abs_diff:.2e}" + ("" if c.passed else "  MISMATCH")
            fed = f" {c.shapes}" if c.shapes else ""
            tag = " (synthetic values)" if c.synthetic else ""
            lines.append(f"  {c.label}{fed}{tag}: {state}")
        return "\n".join(lines)

    def __str__(self) -> str:
        state = "verified" if self.ok else "not verified" if not self.checks else "CHECK FAILED"
        return f"ExecuTorchResult({self.path}; lowered in {self.lowering_seconds:.1f} s; {state})"
