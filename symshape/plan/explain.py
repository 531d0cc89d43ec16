"""``Plan.explain()``: the programs, their regions, the calls each holds, and why."""

from __future__ import annotations

from typing import Any

from ..report import listing
from .sides import encoder_names, takes_encoder_outputs

_KIND = {
    "structure": "its own structure",
    "guard": "split by a requirement of the model",
    "bucket": "one static program per value of a size the model specialises",
}


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _calls(indices: list[int]) -> str:
    return listing([f"#{i}" for i in indices]) if indices else "none"


def _encoder_lines(plan: Any) -> list[str]:
    """Which programs serve ``model.get_encoder()``, or that it runs eager under ``bind``."""
    mine = encoder_names(plan.programs)
    if mine:
        return [
            f"encoder: {listing(mine)} {'serves' if len(mine) == 1 else 'serve'} model.get_encoder() "
            "(generate() calls it outside forward); plan.bind(model) routes its calls there"
        ]
    if encoder_names(name for name, _, _ in plan.coverage.failures):
        return ["encoder: no program (its export failed, see below); inside plan.bind(model) it runs EAGER"]
    if takes_encoder_outputs(plan.router.routes):
        return [
            "encoder: no program; inside plan.bind(model) model.get_encoder() runs EAGER (Binding.eager_calls "
            "counts it): record it with symshape.observe(model.get_encoder()) and pass export_plan(..., encoder=...)"
        ]
    return []


def explain_plan(plan: Any) -> str:
    cov = plan.coverage
    lines = [
        f"plan: {len(plan.programs)} program(s) for {len(cov.routed) or 'the'} observed call(s); "
        f"dims {', '.join(plan.names) or '(none)'} (one name table for every program)"
    ]
    if plan.seconds:
        lines[0] += f"; made in {plan.seconds:.1f} s"
    lines += _encoder_lines(plan)
    by_program: dict[str, list[int]] = {}
    for index, name in cov.routed.items():
        if name is not None:
            by_program.setdefault(name, []).append(index)
    buckets: dict[str, list[str]] = {}
    for name, info in plan.info.items():
        result = plan.programs[name]
        region = plan.contracts[name].region
        lines.append("")
        lines.append(f"{name}: {region}")
        lines.append(f"  why:      {info.why or _KIND.get(info.kind, info.kind)}")
        if info.parent:
            lines.append(f"  from:     {info.parent} ({_KIND.get(info.kind, info.kind)})")
        lines.append(f"  calls:    {_calls(by_program.get(name, []))} (of its regime: {_calls(info.calls)})")
        dims = ", ".join(result.spec.dims) or "none (static)"
        state = "verified" if result.ok else "CHECK FAILED" if result.verified else "not verified"
        if not result.verified and info.saved_state:
            state = f"{info.saved_state} when saved"
        lines.append(f"  program:  dims {dims}; {result.traces} trace(s); {info.seconds:.1f} s; {state}")
        for c in region.constraints:
            if c.reason:
                lines.append(f"  region:   {c.text}: {c.reason}")
        for text in region.unmodelled:
            lines.append(f"  checked by the program only: {text}")
        if info.moved:
            lines.append(
                f"  moved:    {listing(info.moved)} (in a companion call: one value in these calls, "
                "other values in the workload or declared dynamic)"
            )
        reasons: dict[str, list[str]] = {}
        for axis, reason in info.fixed.items():
            reasons.setdefault(reason, []).append(axis)
        for reason, axes in reasons.items():
            lines.append(f"  fixed:    {listing(axes)} (the model fixes it: {_short(reason)})")
        gaps = result.coverage_gaps
        if gaps:
            lines.append(f"  coverage gaps: {len(gaps)} probe(s) eager runs and the program rejects")
        if info.kind == "bucket" and info.parent:
            buckets.setdefault(info.parent, []).append(name)
    for parent, members in buckets.items():
        dims = [c for m in members for c in plan.contracts[m].region.constraints if c.op == "==" and len(c.terms) == 1]
        by_dim: dict[str, list[int]] = {}
        for c in dims:
            by_dim.setdefault(c.terms[0][0], []).append(c.bound)
        for dim, values in by_dim.items():
            named = all(f"specialises {dim}" in plan.info[m].why for m in members)
            if named and len(set(values)) == len(members):
                lines.append("")
                lines.append(f"{parent} buckets: {dim} in {{{', '.join(map(str, sorted(values)))}}}")
    if cov.overlaps:
        lines.append("")
        for a, b, point in cov.overlaps:
            at = ", ".join(f"{d}={v}" for d, v in point.items())
            lines.append(f"overlap: {a} and {b} both hold e.g. {at}; {a} (listed first) serves such calls")
    if cov.uncovered:
        lines.append("")
        for index, why in cov.uncovered:
            lines.append(f"not covered: call #{index}: {why}")
    for name, calls, error in cov.failures:
        lines.append("")
        lines.append(f"no program for {name} (calls {_calls(calls)}): {error.splitlines()[0]}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
