"""The report as plain text: ``spec.explain()``, ``result.explain()`` and the CLI
when stdout is not a terminal."""

from __future__ import annotations

from typing import Any

from .facts import DimInfo, Report, ResultLike, SpecLike, build, listing, values_text


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for r in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def headline(report: Report) -> str:
    return (
        f"symshape: {len(report.dims)} dim(s) from {report.num_sets} input set(s); "
        f"{report.num_dynamic} dynamic and {report.num_static} static axes; "
        f"example for export: set #{report.example_index}"
    )


def dim_where(d: DimInfo) -> str:
    text = (
        f"{len(d.axes)} {'axis' if len(d.axes) == 1 else 'axes'}: {listing(d.axes)}"
        if d.axes
        else "(no axis of its own)"
    )
    if d.derived_axes:
        text += f"; also in {len(d.derived_axes)} derived: {listing(d.derived_axes)}"
    return text


def set_header(num_sets: int) -> str:
    return "values per set" if num_sets > 3 else "values (" + ", ".join(f"#{i}" for i in range(num_sets)) + ")"


def render_text(report: Report) -> str:
    lines = [headline(report)]
    if report.dims:
        lines += ["", "dims"]
        lines += _table(
            ["name", "range", set_header(report.num_sets), "source", "appears at"],
            [[d.name, d.range_text, values_text(d.values), d.source_text, dim_where(d)] for d in report.dims],
        )
    if report.relations:
        lines += ["", "relations (support; can torch.export state it?)"]
        for r in report.relations:
            origin = "required by the model" if r.origin == "model" else "observed"
            lines.append(f"  {r.text}")
            lines.append(f"      {r.kind}, {origin}; {r.support_text}; torch can state it: {r.stated_as}")
    if report.ints:
        lines += ["", "int inputs (torch.export takes Dim.DYNAMIC, not a named Dim, for an int)"]
        lines += [f"  {i['path']} = {i['expr']} (values {values_text(i['values'])})" for i in report.ints]
    if report.static:
        lines += [
            "",
            f"static ({len(report.static)} {'axis' if len(report.static) == 1 else 'axes'})",
            "  " + listing(report.static),
        ]
    if report.bounds:
        lines += ["", "bounds (the ranges torch is given, and why)"]
        lines += [f"  {bound_text(b)}" for b in report.bounds]
    if report.rejected:
        lines += ["", "seen but not trusted (not emitted)"]
        lines += [f"  {r['relation']}: {r['reason']}" for r in report.rejected]
    if report.warnings:
        lines += ["", "warnings"] + [f"  - {w.text}" for w in report.warnings]
    if report.export is not None:
        lines += ["", *export_lines(report.export)]
    return "\n".join(lines)


def export_lines(facts: dict[str, Any]) -> list[str]:
    """What export found and how the program was checked (``result.explain()``, the CLI)."""
    lines = [
        f"export: {facts['traces']} trace(s); {facts['free_symbols']} free symbols in the program's inputs; "
        f"{facts['guards']} guards"
    ]
    for r in facts["refinements"]:
        lines.append(f"  refined {r['change']}: {r['reason']}" + (f" [{r['source']}]" if r["source"] else ""))
    for c in facts["relation_checks"]:
        lines.append(f"  {c['relation']}: {c['status']} ({c['detail']})")
    if facts["requirements"]:
        lines.append("  the program requires:")
        lines += [f"    {text}" for text in facts["requirements"]]
    for c in facts["checks"]:
        lines.append(f"  {check_label(c)}: {check_state(c)}")
    if facts["verified"] is False:
        lines.append("  not verified: no input set was run through the program (verify=False)")
    return lines


def check_label(c: dict[str, Any]) -> str:
    label = f"{'set' if c['origin'] == 'observed' else c['origin']} #{c['set']}"
    return f"{label} ({c['sizes']})" if c["sizes"] else label


def check_state(c: dict[str, Any]) -> str:
    """One check in words: the difference to eager, or why there is none."""
    if not c["covered"]:
        return f"not covered: {c['error']}"
    if not c["accepted"]:
        return str(c["error"]) if c["origin"] == "probe" else f"REJECTED: {c['error']}"
    state = f"max |program - eager| = {c['max_abs_diff']:.2e}"
    if c["error"]:
        state += f" ({c['error']})"
    if c["synthetic"]:
        state += " (shapes recorded; values tiled from the example)"
    return state


def explain(spec: SpecLike, result: ResultLike | None = None) -> str:
    """The plain-text report (what ``spec.explain()`` returns)."""
    return render_text(build(spec, result))


def bound_text(b: dict[str, Any]) -> str:
    """``past_len + seq_len <= 256: config.max_position_embeddings = 256 ...; split as ...``."""
    parts = [f">= {b['low']}" if b["low"] is not None else "", f"<= {b['high']}" if b["high"] is not None else ""]
    text = f"{b['expr']} {' and '.join(p for p in parts if p)} ({b['origin']}): {b['reason']}"
    return text + (f"; {b['stated_as']}" if b["stated_as"] else "")
