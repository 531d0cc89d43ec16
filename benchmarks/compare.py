"""Compare symshape with the other ways of getting ``dynamic_shapes``, on the model zoo.

Run by hand (a few minutes on 2 cores), never in tests::

    python benchmarks/compare.py                    # table on stdout, rewrites benchmarks/RESULTS.md
    python benchmarks/compare.py --only llama gpt2  # some families only (RESULTS.md untouched)
    python benchmarks/compare.py --no-write         # table only

The zoo is ``tests/zoo.py``: 17 tiny transformers models (random weights, built from
configs) with realistic decode-step inputs and a ground-truth table of every dynamic
axis. For each entry, each tool gets the entry's train input sets (fresh copies: forward
grows caches in place) and the model, and produces an ``ExportedProgram``:

* ``symshape``: ``symshape.export(model, sets, verify=False)`` (inference, export with
  named dims, refinement where torch asks, read-back of the program).
* ``AdditionalInputs``: ``torch.export.AdditionalInputs``, one ``add((), set)`` per set,
  passed as ``dynamic_shapes=``; exported on set 0 (torch derives ``Dim.DYNAMIC`` for
  every axis that differs and checks the added sets against the program).
* ``AUTO``: transformers' spec, ``Dim.AUTO`` on every tensor axis
  (``transformers.exporters.exporter_dynamo.get_auto_dynamic_shapes(set0)``),
  exported on set 0.
* ``onnx-diagnostic``: ``ModelInputs(model, sets).guess_dynamic_shapes()`` (``Dim.DYNAMIC``
  on each axis that differs), exported on set 0. Optional: skipped when
  ``onnx_diagnostic`` does not import.

All exports are non-strict. symshape's cache registration (``symshape.caches``) is
active for every tool, so that every tool can see the caches leaf by leaf.

Columns, per tool and entry:

* ``symbols``: free symbols in the program's inputs (``symshape.input_symbols``)
  against the truth (independent dims of the inputs).
* ``relations``: independent equations the program's input shapes state among the
  truth's dynamic axes (dynamic axes that are symbolic in the program minus the free
  symbols they use), against the truth's (dynamic axes minus dims). A relation the
  program only enforces through a guard (symshape's ``attention_mask = past_len +
  seq_len``, left ``Dim.AUTO``) is not counted; symshape's own check of it is in
  the ``symshape relation checks`` table.
* ``specialised``: axes the truth says are dynamic but the program fixed to a constant.
* ``export``: the program was produced (``refused`` = an explained ``ExportError``).
* ``held-out``: the program accepts the entry's held-out set (new sizes; for decoders a
  one-token decode step) and matches eager within 1e-4.
* ``time``: wall time of the tool (spec + export), one run after a warm-up.

Then, for issue 14 (performance), two tables measured in the same run with
``timing.interleaved`` (every tool once per round, rotating order; medians):

* inference alone: ``symshape.infer_dims(model, sets).dynamic_shapes`` against
  ``AdditionalInputs.dynamic_shapes`` on each entry's sets (``--infer-reps`` rounds, 0 to skip);
* refusals: for each entry symshape refuses with an explained ``ExportError``, the
  refusal's time against one static trace of the same model (``torch.export.export``
  on set 0, no dynamic shapes; median of 3).

``RESULTS.md`` keeps what is written below its ``KEEP_MARKER`` line (notes by hand).
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib.metadata
import platform
import re
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # symshape and tests/ from this checkout

import torch
import torch.utils._pytree as pytree
from timing import interleaved, load, median_ms, ratio  # benchmarks/timing.py (run as a script)

import symshape
from symshape.core.paths import format_path
from symshape.exporting.readback import input_symbols, user_inputs
from tests.zoo import ZOO, ZooEntry

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
COMMAND = "python benchmarks/compare.py"
TOLERANCE = 1e-4
#: Everything from this line on in RESULTS.md is written by hand and kept on rewrite.
KEEP_MARKER = "<!-- written by hand below: compare.py keeps everything from this line on -->"


@dataclass
class Outcome:
    tool: str
    entry: str
    exported: str = "no"  # "yes", "refused" (explained ExportError), "error", "skipped"
    error: str = ""
    symbols: int | None = None
    relations: int | None = None
    specialised: int | None = None
    held_out: str = "-"  # "ok", "rejected", "wrong", "-"
    held_out_detail: str = ""
    seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- tools ---------------------------------------------------------------------------------


def tool_symshape(model: Any, sets: list[dict]) -> tuple[torch.export.ExportedProgram, dict]:
    result = symshape.export(model, sets, verify=False)
    reading = result.reading
    checks = [f"{c.expr}: {c.status}" for c in (reading.relation_checks if reading else ())]
    guarded = sum(c.status == "enforced" for c in (reading.relation_checks if reading else ()))
    extra = {
        "dims": list(result.spec.dims),
        "checks": checks,
        "guarded": guarded,
        "refinements": [r.change for r in result.refinements],
    }
    return result.program, extra


def tool_additional_inputs(model: Any, sets: list[dict]) -> tuple[torch.export.ExportedProgram, dict]:
    ai = torch.export.AdditionalInputs()
    for s in sets:
        ai.add((), copy.deepcopy(s))
    return torch.export.export(model, (), sets[0], dynamic_shapes=ai, strict=False), {}


def tool_auto(model: Any, sets: list[dict]) -> tuple[torch.export.ExportedProgram, dict]:
    from transformers.exporters.exporter_dynamo import get_auto_dynamic_shapes

    return torch.export.export(model, (), sets[0], dynamic_shapes=get_auto_dynamic_shapes(sets[0]), strict=False), {}


def onnx_diagnostic_version() -> str | None:
    try:
        from onnx_diagnostic.export import ModelInputs  # noqa: F401
    except Exception:
        return None
    return importlib.metadata.version("onnx-diagnostic")


def tool_onnx_diagnostic(model: Any, sets: list[dict]) -> tuple[torch.export.ExportedProgram, dict]:
    from onnx_diagnostic.export import ModelInputs

    _, kwargs_ds = ModelInputs(model, [copy.deepcopy(s) for s in sets]).guess_dynamic_shapes()
    return torch.export.export(model, (), sets[0], dynamic_shapes=kwargs_ds, strict=False), {}


TOOLS: dict[str, Callable[[Any, list[dict]], tuple[torch.export.ExportedProgram, dict]]] = {
    "symshape": tool_symshape,
    "AdditionalInputs": tool_additional_inputs,
    "AUTO": tool_auto,
    "onnx-diagnostic": tool_onnx_diagnostic,
}


# -- measures ------------------------------------------------------------------------------


def program_shapes(program: torch.export.ExportedProgram) -> dict[str, Any]:
    """``"path:axis"`` -> the program's size (an int or a sympy expression) for each user input axis."""
    shapes: dict[str, Any] = {}
    for _, path, value in user_inputs(program):
        # path is (SequenceKey(1) for kwargs, MappingKey(name), ...): drop the args/kwargs level.
        label = format_path(path[1:])
        if isinstance(value, torch.Tensor):
            for axis, size in enumerate(value.shape):
                shapes[f"{label}:{axis}"] = size.node.expr if isinstance(size, torch.SymInt) else int(size)
        elif isinstance(value, torch.SymInt):
            shapes[label] = value.node.expr
        elif isinstance(value, int):
            shapes[label] = value
    return shapes


def relations_and_specialised(program: torch.export.ExportedProgram, entry: ZooEntry) -> tuple[int, int]:
    shapes = program_shapes(program)
    symbolic = {
        k: v
        for k, v in shapes.items()
        if k in entry.truth and not isinstance(v, int) and not getattr(v, "is_number", False)
    }
    specialised = sum(1 for k in entry.truth if k in shapes and k not in symbolic)
    used = set().union(*(v.free_symbols for v in symbolic.values())) if symbolic else set()
    return len(symbolic) - len(used), specialised


def truth_relations(entry: ZooEntry) -> int:
    return len(entry.truth) - entry.expected_free_symbols


def max_diff(program: torch.export.ExportedProgram, model: Any, inputs: dict) -> tuple[str, str]:
    with torch.no_grad():
        expected = model(**copy.deepcopy(inputs))
    try:
        got = program.module()(**copy.deepcopy(inputs))
    except Exception as exc:
        return "rejected", _short(exc)
    diffs = [0.0]
    exp = [t for t in pytree.tree_leaves(expected) if isinstance(t, torch.Tensor)]
    out = [t for t in pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]
    if len(exp) != len(out):
        return "wrong", f"{len(out)} output tensors, eager has {len(exp)}"
    for e, g in zip(exp, out):
        if e.shape != g.shape:
            return "wrong", f"output shape {tuple(g.shape)}, eager {tuple(e.shape)}"
        if e.numel():
            diffs.append((e.double() - g.double()).abs().max().item())
    return ("ok" if max(diffs) <= TOLERANCE else "wrong"), f"max diff {max(diffs):.1e}"


def _short(exc: BaseException, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_one(tool: str, entry: ZooEntry, model: Any) -> Outcome:
    outcome = Outcome(tool, entry.name)
    sets = [entry.make_inputs(case, seed=i) for i, case in enumerate(entry.train_cases)]
    gc.collect()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program, extra = TOOLS[tool](model, sets)
    except symshape.ExportError as exc:
        outcome.seconds = time.perf_counter() - start
        lines = str(exc).splitlines()
        outcome.exported, outcome.error = "refused", lines[2 if len(lines) > 2 else 0][:160]
        return outcome
    except Exception as exc:
        outcome.seconds = time.perf_counter() - start
        outcome.exported, outcome.error = "error", _short(exc)
        return outcome
    outcome.seconds = time.perf_counter() - start
    outcome.exported, outcome.extra = "yes", extra
    outcome.symbols = len(input_symbols(program))
    outcome.relations, outcome.specialised = relations_and_specialised(program, entry)
    held_out = entry.make_inputs(entry.held_out, seed=99)
    outcome.held_out, outcome.held_out_detail = max_diff(program, model, held_out)
    return outcome


def warm_up(tools: list[str]) -> None:
    """Every tool once on a toy model: imports and first-call costs are not timed."""

    class Toy(torch.nn.Module):
        def forward(self, x, y):
            return x + y

    sets = [dict(x=torch.randn(5, 6), y=torch.randn(1, 6)), dict(x=torch.randn(7, 8), y=torch.randn(1, 8))]
    for tool in tools:
        try:
            TOOLS[tool](Toy(), sets)
        except Exception:
            pass
    symshape.register_caches()


# -- issue 14: inference alone, refusals --------------------------------------------------------


def ai_dynamic_shapes(model: Any, sets: list[dict]) -> Any:
    ai = torch.export.AdditionalInputs()
    for s in sets[1:]:
        ai.add((), s)
    return ai.dynamic_shapes(model, (), sets[0])


def infer_timings(entry: ZooEntry, model: Any, reps: int) -> dict[str, Any]:
    """symshape.infer_dims (+ .dynamic_shapes) against AdditionalInputs, interleaved."""
    sets = [entry.make_inputs(case, seed=i) for i, case in enumerate(entry.train_cases)]
    tools = {
        "symshape": lambda: symshape.infer_dims(model, sets).dynamic_shapes,
        "AdditionalInputs": lambda: ai_dynamic_shapes(model, sets),
    }
    row: dict[str, Any] = {"leaves": len(pytree.tree_leaves(sets[0]))}
    for name in list(tools):
        try:
            tools[name]()  # warm-up; AdditionalInputs refuses some entries
        except Exception as exc:
            row[name] = f"error: {_short(exc, 80)}"
            del tools[name]
    for name, values in interleaved(tools, reps).items():
        row[name] = values
    return row


def refusal_floor(entry: ZooEntry, model: Any, rounds: int = 3) -> float:
    """Median seconds of one static trace of the model on set 0 (no dynamic shapes)."""
    sets = [entry.make_inputs(case, seed=i) for i, case in enumerate(entry.train_cases)]
    times = interleaved({"static": lambda: torch.export.export(model, (), sets[0], strict=False)}, rounds)
    return statistics.median(times["static"])


def infer_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| entry | leaves | symshape ms | AdditionalInputs ms | ratio sym/AI |",
        "|---|---:|---:|---:|---:|",
    ]
    ratios = []
    for name, row in rows.items():
        sym, ai = row.get("symshape"), row.get("AdditionalInputs")
        cells = [f"{median_ms(v):.2f}" if isinstance(v, list) else str(v) for v in (sym, ai)]
        r = "-"
        if isinstance(sym, list) and isinstance(ai, list):
            ratios.append(ratio(sym, ai))
            r = f"{ratios[-1]:.2f}x"
        lines.append(f"| {name} | {row['leaves']} | {cells[0]} | {cells[1]} | {r} |")
    if ratios:
        lines += ["", f"Median ratio over the {len(ratios)} entries both tools take: {statistics.median(ratios):.2f}x."]
    return lines


def refusal_table(outcomes: dict[tuple[str, str], Outcome], floors: dict[str, float]) -> list[str]:
    lines = ["| entry | refusal (s) | one static trace (s) | ratio |", "|---|---:|---:|---:|"]
    for name, floor in floors.items():
        o = outcomes[("symshape", name)]
        lines.append(f"| {name} | {o.seconds:.2f} | {floor:.2f} | {o.seconds / floor:.1f}x |")
    return lines


# -- output ----------------------------------------------------------------------------------


def _cell(o: Outcome, entry: ZooEntry) -> list[str]:
    if o.exported == "skipped":
        return ["skipped"] + [""] * 5
    if o.exported != "yes":
        return [o.exported, "-", "-", "-", "-", f"{o.seconds:.1f}" if o.seconds is not None else "-"]
    return [
        "yes",
        f"{o.symbols}/{entry.expected_free_symbols}",
        f"{o.relations}/{truth_relations(entry)}"
        + (f" (+{o.extra['guarded']} by guards)" if o.extra.get("guarded") else ""),
        str(o.specialised),
        o.held_out,
        f"{o.seconds:.1f}",
    ]


def table(outcomes: dict[tuple[str, str], Outcome], entries: list[ZooEntry], tools: list[str]) -> list[str]:
    lines = [
        "| entry | tool | export | symbols (got/truth) | relations (got/truth) | specialised axes | held-out "
        "| time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries:
        for tool in tools:
            o = outcomes[(tool, entry.name)]
            lines.append("| " + " | ".join([entry.name, tool, *_cell(o, entry)]) + " |")
    return lines


def summary(outcomes: dict[tuple[str, str], Outcome], entries: list[ZooEntry], tools: list[str]) -> list[str]:
    lines = [
        "| tool | exported | held-out ok | no specialised axis | symbols = truth | extra symbols (sum) "
        "| all relations in shapes | missing relations (sum) | median time (s) | total time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    n = len(entries)
    for tool in tools:
        rows = [(outcomes[(tool, e.name)], e) for e in entries]
        if all(o.exported == "skipped" for o, _ in rows):
            lines.append(f"| {tool} | skipped (not installed) | | | | | | | | |")
            continue
        exported = sum(o.exported == "yes" for o, _ in rows)
        exact = sum(o.exported == "yes" and o.symbols == e.expected_free_symbols for o, e in rows)
        rels = sum(o.exported == "yes" and o.relations == truth_relations(e) for o, e in rows)
        nospec = sum(o.exported == "yes" and o.specialised == 0 for o, e in rows)
        held = sum(o.held_out == "ok" for o, _ in rows)
        total = sum(o.seconds or 0.0 for o, _ in rows)
        extra = sum(o.symbols - e.expected_free_symbols for o, e in rows if o.exported == "yes")
        missing = sum(truth_relations(e) - o.relations for o, e in rows if o.exported == "yes")
        median = statistics.median([o.seconds for o, _ in rows if o.seconds is not None] or [0.0])
        lines.append(
            f"| {tool} | {exported}/{n} | {held}/{n} | {nospec}/{n} | {exact}/{n} | {extra} | {rels}/{n} "
            f"| {missing} | {median:.1f} | {total:.1f} |"
        )
    return lines


def details(outcomes: dict[tuple[str, str], Outcome], entries: list[ZooEntry], tools: list[str]) -> list[str]:
    lines = []
    for entry in entries:
        for tool in tools:
            o = outcomes[(tool, entry.name)]
            if o.exported in ("error", "refused"):
                lines.append(f"- {entry.name} / {tool}: {o.exported}: {o.error}")
            elif o.exported == "yes" and o.held_out != "ok":
                lines.append(f"- {entry.name} / {tool}: held-out {o.held_out}: {o.held_out_detail}")
    return lines


def behind(outcomes: dict[tuple[str, str], Outcome], entries: list[ZooEntry], tools: list[str]) -> list[str]:
    """Entries where another tool did better than symshape on correctness or speed."""
    lines = []
    for entry in entries:
        mine = outcomes.get(("symshape", entry.name))
        if mine is None:
            continue
        for tool in tools:
            other = outcomes[(tool, entry.name)]
            if tool == "symshape" or other.exported == "skipped":
                continue
            if other.held_out == "ok" and mine.held_out != "ok":
                lines.append(
                    f"- {entry.name}: {tool} exports a program that runs the held-out set; symshape {mine.exported} "
                    f"({mine.error or mine.held_out_detail})."
                )
            elif (
                mine.seconds
                and other.seconds
                and other.exported == "yes"
                and mine.seconds > 2 * other.seconds
                and mine.seconds - other.seconds > 1.0
            ):
                lines.append(f"- {entry.name}: symshape took {mine.seconds:.1f} s, {tool} {other.seconds:.1f} s.")
    if not lines:
        return []
    return ["### Where symshape is behind", "", *lines, ""]


def symshape_checks(outcomes: dict[tuple[str, str], Outcome], entries: list[ZooEntry]) -> list[str]:
    lines = [
        "| entry | dims | relations torch cannot state, checked in the program | refinements |",
        "|---|---|---|---|",
    ]
    for entry in entries:
        o = outcomes.get(("symshape", entry.name))
        if o is None or o.exported != "yes":
            continue
        dims, checks, refinements = o.extra["dims"], o.extra["checks"], o.extra["refinements"]
        lines.append(
            f"| {entry.name} | {', '.join(dims)} | {'; '.join(checks) or '-'} | {'; '.join(refinements) or '-'} |"
        )
    return lines


def versions(tools: list[str]) -> str:
    import transformers

    parts = [
        f"Python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"transformers {transformers.__version__}",
        f"symshape {symshape.__version__}",
    ]
    od = onnx_diagnostic_version()
    parts.append(f"onnx-diagnostic {od}" if od else "onnx-diagnostic not installed (skipped)")
    return ", ".join(parts)


def write_results(
    outcomes: dict,
    entries: list[ZooEntry],
    tools: list[str],
    elapsed: float,
    infer_rows: dict[str, dict[str, Any]] | None = None,
    floors: dict[str, float] | None = None,
    loads: tuple[str, str] = ("", ""),
) -> str:
    text = "\n".join([
        "# symshape vs the alternatives, on the model zoo",
        "",
        "Regenerate (a few minutes on 2 CPU cores; never run by the tests):",
        "",
        "```",
        COMMAND,
        "```",
        "",
        f"Environment: {versions(tools)}; {platform.machine()}, {torch.get_num_threads()} threads. "
        f"Whole run: {elapsed:.0f} s.",
        "",
        "Each tool gets each zoo entry's train input sets (`tests/zoo.py`: 17 tiny transformers models with",
        "decode-step inputs and a ground-truth table of every dynamic axis) and exports non-strict. See the",
        "docstring of `benchmarks/compare.py` for exactly what each tool is given and how each column is measured:",
        "`symbols` are the free symbols of the program's inputs, `relations` the independent equations its input",
        "shapes state among the truly dynamic axes, `specialised` the truly dynamic axes it fixed to a constant,",
        "`held-out` whether it runs a new input set (for decoders a one-token decode step) and matches eager.",
        "",
        "## Summary",
        "",
        *summary(outcomes, entries, tools),
        "",
        "Sums are over the entries each tool exported (an entry a tool did not export adds nothing).",
        "symshape's extra symbols are the `attention_mask = past_len + seq_len` axes it leaves `Dim.AUTO`",
        "(checked against the program's guards, see the last table) and a sliding cache layer's int",
        "`cumulative_length` (`Dim.DYNAMIC`).",
        "",
        *behind(outcomes, entries, tools),
        "## Per entry",
        "",
        *table(outcomes, entries, tools),
        "",
        "## What went wrong",
        "",
        *(details(outcomes, entries, tools) or ["- nothing"]),
        "",
        "onnx-diagnostic's errors on cached models come from the cache layout: its guess follows its own",
        "flattening of transformers caches (`onnx_diagnostic.torch_export_patches`), not the pytree",
        "registration used here for every tool; under its own patches it may do better (not measured).",
        "",
        "## symshape: relations torch cannot state, and what the model required",
        "",
        "`attention_mask = past_len + seq_len` is a sum of two dims: no torch `Dim` states it, so symshape",
        "leaves that axis `Dim.AUTO` (one more free symbol than the truth) and checks, with z3 over the",
        "program's guards, that the program allows no other value (`enforced`) or not (`not enforced`).",
        "",
        *symshape_checks(outcomes, entries),
        "",
        *performance(outcomes, infer_rows, floors, loads),
    ])
    return text


def performance(
    outcomes: dict[tuple[str, str], Outcome],
    infer_rows: dict[str, dict[str, Any]] | None,
    floors: dict[str, float] | None,
    loads: tuple[str, str],
) -> list[str]:
    """The issue-14 tables (inference alone, refusals), when they were measured."""
    lines: list[str] = []
    if infer_rows or floors:
        lines += ["## Performance (issue 14)", "", f"Load at the start of the run: {loads[0]}; at the end: {loads[1]}."]
        lines.append("")
    if infer_rows:
        reps = next((len(v) for row in infer_rows.values() for v in row.values() if isinstance(v, list)), 0)
        lines += [
            f"Inference alone (`infer_dims(...).dynamic_shapes` vs `AdditionalInputs.dynamic_shapes`, median of {reps} "
            "interleaved rounds; the ratio is the median of per-round ratios):",
            "",
            *infer_table(infer_rows),
            "",
        ]
    if floors:
        lines += ["Explained refusals against one static trace of the same model:", ""]
        lines += [*refusal_table(outcomes, floors), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="zoo entries to run (default: all); RESULTS.md is then not written")
    parser.add_argument("--tools", nargs="*", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--no-write", action="store_true", help="do not rewrite benchmarks/RESULTS.md")
    parser.add_argument("--infer-reps", type=int, default=7, help="rounds of the inference-alone table (0: skip)")
    args = parser.parse_args(argv)

    tools = list(args.tools)
    have_od = onnx_diagnostic_version() is not None
    entries = [ZOO[n] for n in (args.only or list(ZOO))]
    start_load = load()
    start = time.perf_counter()
    warm_up([t for t in tools if t != "onnx-diagnostic" or have_od])
    outcomes: dict[tuple[str, str], Outcome] = {}
    infer_rows: dict[str, dict[str, Any]] = {}
    floors: dict[str, float] = {}
    for entry in entries:
        model = entry.build()
        for tool in tools:
            if tool == "onnx-diagnostic" and not have_od:
                outcomes[(tool, entry.name)] = Outcome(tool, entry.name, exported="skipped")
                continue
            try:
                o = run_one(tool, entry, model)
            except Exception as exc:  # a measuring failure must not stop the run
                traceback.print_exc()
                o = Outcome(tool, entry.name, exported="error", error=_short(exc))
            outcomes[(tool, entry.name)] = o
            cells = _cell(o, entry)
            note = f"  [{o.error or o.held_out_detail}]" if (o.error or o.held_out not in ("ok", "-")) else ""
            print(f"{entry.name:<20} {tool:<17} " + "  ".join(cells) + note, flush=True)
        if args.infer_reps > 0:
            infer_rows[entry.name] = infer_timings(entry, model, args.infer_reps)
        mine = outcomes.get(("symshape", entry.name))
        if mine is not None and mine.exported == "refused" and mine.seconds:
            floors[entry.name] = refusal_floor(entry, model)
    elapsed = time.perf_counter() - start
    loads = (start_load, load())
    print()
    print("\n".join(summary(outcomes, entries, tools)))
    print()
    print("\n".join(performance(outcomes, infer_rows, floors, loads)))
    if not args.no_write and not args.only:
        text = write_results(outcomes, entries, tools, elapsed, infer_rows, floors, loads)
        old = RESULTS.read_text() if RESULTS.exists() else ""
        if KEEP_MARKER in old:
            text = text.rstrip("\n") + "\n\n" + old[old.index(KEEP_MARKER) :]
        RESULTS.write_text(text)
        print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
