"""The commands: ``infer``, ``export`` (one program, or a plan with ``--plan``), ``demo``, and how
their reports are written."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from ..exporting import ExportResult, export
from ..exporting.verify import check_program
from ..infer import infer_dims
from ..integrations.executorch import export_executorch, require_executorch
from ..integrations.onnx import export_onnx, require_onnx
from ..integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama
from ..plan import Plan, export_plan
from ..report import Report, build, export_lines, render_text
from ..report.facts import check_facts
from ..report.rich import render_rich
from ..report.text import check_state
from ..spec import DimSpec
from .errors import FAILED, OK, USAGE, CliError
from .factory import call_factory
from .progress import Progress


def parse_names(pairs: Sequence[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    names = {}
    for pair in pairs:
        key, sep, value = pair.rpartition("=")
        if not sep or not key or not value:
            raise CliError(f"--name takes KEY=NAME (KEY is 'path:axis' or an inferred dim name), got {pair!r}", USAGE)
        names[key] = value
    return names


def choose_format(requested: str, stream: Any) -> str:
    if requested != "auto":
        return requested
    return "rich" if getattr(stream, "isatty", lambda: False)() else "text"


def emit_report(report: Report, fmt: str, stream: Any = None) -> None:
    stream = stream if stream is not None else sys.stdout
    if fmt == "json":
        print(json.dumps(report.to_dict(), indent=1), file=stream)
    elif fmt == "rich":
        render_rich(report, Console(file=stream, soft_wrap=False, highlight=False))
    else:
        print(render_text(report), file=stream)


def spec_document(spec: DimSpec, report: Report) -> str:
    """The spec's JSON (``DimSpec.from_json`` reads it back) with the report facts under ``"report"``."""
    return json.dumps({**spec.to_dict(), "report": report.to_dict()}, indent=1)


def _write(path: str, text: str, what: str, progress: Progress) -> None:
    if path == "-":
        print(text)
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:
        raise CliError(f"cannot write {what} to {path}: {exc}") from exc
    if not progress.quiet:
        print(f"symshape: wrote {what} to {path}", file=progress.stream)


def cmd_infer(args: argparse.Namespace, progress: Progress) -> int:
    with progress.step(f"building model and inputs ({args.target})"):
        model, inputs = call_factory(args.target)
    with progress.step(f"inferring dims from {len(inputs)} input set(s)"):
        spec = infer_dims(model, inputs, names=parse_names(args.name), dynamic=args.dynamic)
    report = build(spec)
    if args.json:
        _write(args.json, spec_document(spec, report), "the spec (JSON)", progress)
    emit_report(report, choose_format(args.format, sys.stdout))
    return OK


def export_and_verify(
    model: Any,
    inputs: list[Any],
    progress: Progress,
    *,
    names: dict[str, str] | None = None,
    strict: bool = False,
    verify: bool = True,
    dynamic: list[str] | None = None,
) -> ExportResult:
    """``symshape.export`` with its tracing and verification shown as two steps."""
    with progress.step("tracing with torch.export (refining where the model requires it)"):
        result = export(model, inputs, strict=strict, verify=False, names=names, dynamic=dynamic)
    if verify:
        with progress.step(f"verifying the program against eager on {len(result.sets)} input set(s) and probes"):
            result.verify(model)
    return result


def cmd_export(args: argparse.Namespace, progress: Progress) -> int:
    if args.plan:
        return cmd_export_plan(args, progress)
    if args.executorch:
        require_executorch()  # the install hint before any work
    with progress.step(f"building model and inputs ({args.target})"):
        model, inputs = call_factory(args.target)
    result = export_and_verify(
        model,
        inputs,
        progress,
        names=parse_names(args.name),
        strict=args.strict,
        verify=not args.no_verify,
        dynamic=args.dynamic,
    )
    report = build(result.spec, result)
    if args.json:
        _write(args.json, spec_document(result.spec, report), "the spec (JSON)", progress)
    emit_report(report, choose_format(args.format, sys.stdout))
    if result.checks and not result.ok:
        bad = [c for c in result.checks if c.covered and not c.passed]
        what = "; ".join(
            f"set #{c.set_index}: "
            + ("rejected" if not c.accepted else f"max |program - eager| = {c.max_abs_diff:.2e}")
            for c in bad
        )
        raise CliError(f"verification failed ({what}); {args.output} not written (--no-verify saves without checking)")
    with progress.step(f"saving with torch.export.save to {args.output}"):
        try:
            torch.export.save(result.program, args.output)
        except Exception as exc:
            raise CliError(f"torch.export.save could not write {args.output}: {type(exc).__name__}: {exc}") from exc
    if args.format != "json":
        print(f"\nsaved the ExportedProgram to {args.output} (torch.export.load reads it back)")
    if args.onnx:
        _export_onnx(args, model, inputs, result, progress)
    if args.executorch:
        _export_executorch(args, model, inputs, progress)
    return OK


#: What ``--plan`` does not combine with, and what to do instead.
_NOT_WITH_PLAN = {
    "json": "--json writes the spec of one program; with --plan every program's spec is in DIR/manifest.json",
    "onnx": "--onnx converts one program; convert the plan in Python: symshape.load_plan(DIR).to_onnx(ONNX_DIR)",
    "executorch": "--executorch lowers one program; a plan lowers in Python, with bounded dims: "
    'symshape.export_plan(model, inputs, bounds="config").to_executorch(FILE.pte)',
}


def cmd_export_plan(args: argparse.Namespace, progress: Progress) -> int:
    """``export --plan DIR``: ``symshape.export_plan`` on the factory's input sets, the
    plan's report, and ``Plan.save(DIR)`` when every call is held and every check passed."""
    for option, why in _NOT_WITH_PLAN.items():
        if getattr(args, option):
            raise CliError(f"--plan and --{option} do not combine: {why}", USAGE)
    directory = Path(args.plan)
    if directory.exists() and not directory.is_dir():
        raise CliError(f"--plan {args.plan}: exists and is not a directory", USAGE)
    with progress.step(f"building model and inputs ({args.target})"):
        model, inputs = call_factory(args.target)
    verify = not args.no_verify
    with progress.step(
        f"exporting a plan from {len(inputs)} input set(s): one program per regime, each checked against eager"
        + (" on its calls and probes" if verify else " on its calls")
    ):
        plan = export_plan(
            model, inputs, names=parse_names(args.name), dynamic=args.dynamic, verify=verify, strict=args.strict
        )
    if args.format == "json":
        print(json.dumps(plan_summary(plan, directory), indent=1))
    else:
        print(plan.explain())
    if verify:
        bad = [f"{name}: check failed" for name, r in plan.programs.items() if r.verified and not r.ok]
        bad += [f"call #{index}: {why}" for index, why in plan.coverage.uncovered]
        if bad:
            raise CliError(
                f"the plan does not hold the workload ({'; '.join(bad)}); {args.plan} not written "
                "(--no-verify saves without checking)"
            )
    with progress.step(f"saving the plan to {args.plan} (one .pt2 per program, manifest.json)"):
        try:
            plan.save(directory)
        except OSError as exc:
            raise CliError(f"cannot write the plan to {args.plan}: {exc}") from exc
    if args.format != "json":
        files = ", ".join(f"{name}.pt2" for name in plan.programs)
        print(f"\nsaved the plan to {args.plan}: {files}, manifest.json (symshape.load_plan reads it back)")
    return OK


def plan_summary(plan: Plan, directory: Path) -> dict[str, Any]:
    """``--format json``: the programs, their regions and dims, and the routing of each call."""
    return {
        "plan": str(directory),
        "names": plan.names,
        "programs": [
            {
                "name": name,
                "file": f"{name}.pt2",
                "region": str(plan.contracts[name].region),
                "dims": list(result.spec.dims),
                "calls": [i for i, routed in plan.coverage.routed.items() if routed == name],
                "ok": result.ok,
            }
            for name, result in plan.programs.items()
        ],
        "uncovered": [index for index, _ in plan.coverage.uncovered],
    }


def _export_onnx(args: argparse.Namespace, model: Any, inputs: list[Any], result: Any, progress: Progress) -> None:
    """``--onnx FILE``: torch.onnx.export of the program, symshape's dim names, onnxruntime check."""
    require_onnx()  # the install hint before any work
    verify = not args.no_verify
    with progress.step(
        f"converting to ONNX (torch.onnx.export, dynamo=True){' and checking with onnxruntime' if verify else ''}"
    ):
        made = export_onnx(model, inputs, args.onnx, result=result, verify=verify, names=parse_names(args.name))
    if args.format != "json":
        print(f"\n{made.explain()}")
    if made.checks and not made.ok:
        bad = "; ".join(
            f"{c.label}: {c.error or f'max |onnx - eager| = {c.max_abs_diff:.2e}'}" for c in made.checks if not c.passed
        )
        raise CliError(f"onnxruntime check failed ({bad}); the ONNX model was written to {args.onnx} for inspection")


def _export_executorch(args: argparse.Namespace, model: Any, inputs: list[Any], progress: Progress) -> None:
    """``--executorch FILE``: export again with the dims bounded from the model's config
    (ExecuTorch plans memory for each dim's maximum; the .pt2 keeps the unbounded contract),
    lower with XNNPACK, run in the ExecuTorch runtime against eager."""
    verify = not args.no_verify
    with progress.step(
        "exporting with bounded dims and lowering to ExecuTorch (XNNPACK)"
        + (", then checking in the ExecuTorch runtime" if verify else "")
    ):
        made = export_executorch(
            model,
            inputs,
            args.executorch,
            verify=verify,
            names=parse_names(args.name),
            strict=args.strict,
            dynamic=args.dynamic,
        )
    if args.format != "json":
        print(f"\n{made.explain()}")
    if made.checks and not made.ok:
        bad = "; ".join(f"{c.label}: {c.error or f'max |pte - eager| = {c.max_abs_diff:.2e}'}" for c in made.failed)
        raise CliError(
            f"ExecuTorch runtime check failed ({bad}); the program was written to {args.executorch} for inspection"
        )


def cmd_demo(args: argparse.Namespace, progress: Progress) -> int:
    out = sys.stdout
    cases = [(2, 3, 5), (3, 4, 7)]
    with progress.step(f"building a tiny Llama ({args.layers} layers, random weights, nothing downloaded)"):
        model = tiny_llama(num_layers=args.layers, hidden_size=64)
        sets = [llama_decode_inputs(model, *case, seed=i) for i, case in enumerate(cases)]
    print(
        f"input sets: two decode steps with a DynamicCache, (batch, seq_len, past_len) = {cases[0]} and {cases[1]}\n",
        file=out,
    )
    with progress.step("inferring dims"):
        start = time.perf_counter()
        spec = infer_dims(model, sets)
        elapsed = time.perf_counter() - start
    fmt = choose_format(args.format, out)
    emit_report(build(spec), fmt)
    print(f"\ninferred in {1000 * elapsed:.1f} ms. dynamic_shapes for torch.export.export:", file=out)
    for name, value in spec.dynamic_shapes.items():
        print(f"  {name}: {value}", file=out)
    print(file=out)

    result = export_and_verify(model, sets, progress)
    print("after export (what the model requires, how the program was checked):", file=out)
    facts = build(result.spec, result).export
    assert facts is not None  # build() with a result always has export facts
    if fmt == "json":
        print(json.dumps(facts, indent=1), file=out)
    else:
        print("\n".join(export_lines(facts)), file=out)

    held_out = (4, 1, 9)
    with progress.step(f"verifying a held-out one-token decode step {held_out}"):
        (check,) = check_program(
            result.program, model, result.spec, [llama_decode_inputs(model, *held_out, seed=3)], "held-out"
        )
    state = check_state(check_facts(check))
    print(f"\nheld-out decode step (batch, seq_len, past_len) = {held_out}: {state}", file=out)
    status = "OK" if result.ok and check.passed else "MISMATCH"
    print(
        f"{status}: dims {', '.join(result.spec.dims)}; {result.reading.symbols if result.reading else '?'} "
        "free symbols in the program",
        file=out,
    )
    return OK if status == "OK" else FAILED
