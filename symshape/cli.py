"""The ``symshape`` command (also ``python -m symshape``).

    symshape infer MODULE:FACTORY [--json FILE]      report; the spec as JSON
    symshape export MODULE:FACTORY -o FILE.pt2        infer, export, verify, torch.export.save
                   [--onnx FILE.onnx]                 also ONNX with symshape's dim names (symshape[onnx])
    symshape demo                                     a built-in tiny Llama, end to end

``FACTORY`` is a callable in ``MODULE`` (a module name importable from the current
directory, or a ``.py`` file) that takes no argument and returns ``(model, inputs)``,
``inputs`` being the list of input sets ``symshape.infer_dims`` takes.

The report goes to stdout: rich tables on a terminal, plain text otherwise, JSON with
``--format json``. Progress (building, inferring, tracing, verifying) goes to stderr.
Errors print a message and exit non-zero (1: the model, inputs or export failed;
2: bad command line or ``MODULE:FACTORY``); ``--debug`` adds the Python traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import report as report_mod
from .errors import ExportError, InputsError, SymshapeError

#: Exit codes.
OK, FAILED, USAGE = 0, 1, 2


class CliError(Exception):
    """An error the command explains in one message (no traceback unless --debug)."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


# -- progress ---------------------------------------------------------------------------


class Progress:
    """One line per long step on stderr: a spinner on a terminal, plain lines otherwise."""

    def __init__(self, stream: Any = None, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        start = time.perf_counter()
        if self.tty:
            from rich.console import Console

            console = Console(file=self.stream, stderr=self.stream is sys.stderr, highlight=False)
            with console.status(f"{text} ..."):
                yield
            console.print(f"[green]✓[/green] {text} [dim]({time.perf_counter() - start:.2f} s)[/dim]")
        else:
            print(f"symshape: {text} ...", file=self.stream, flush=True)
            yield
            print(f"symshape: {text}: done in {time.perf_counter() - start:.2f} s", file=self.stream, flush=True)


# -- loading MODULE:FACTORY -------------------------------------------------------------------


def load_factory(target: str) -> Callable[[], Any]:
    """``"pkg.models:make"`` or ``"path/to/file.py:make"`` -> the callable."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"expected MODULE:FACTORY (for example mypkg.models:make_llama or models.py:make_llama), got {target!r}", USAGE)
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise CliError(f"no such file: {module_name} (in MODULE:FACTORY {target!r})", USAGE)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules.setdefault(path.stem, module)
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:
            raise CliError(f"importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current directory
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise CliError(f"cannot import module {module_name!r}: {exc} (run from the directory that contains it, or give a .py path)", USAGE) from exc
            raise CliError(f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            raise CliError(f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            callables = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__)
            hint = f"; callables defined there: {', '.join(callables)}" if callables else ""
            raise CliError(f"module {module_name!r} has no attribute {attr!r}{hint}", USAGE)
        obj = getattr(obj, part)
    if not callable(obj):
        kind = type(obj).__name__
        raise CliError(f"{target} is not callable (a{'n' if kind[0] in 'aeiou' else ''} {kind}): FACTORY must be a function returning (model, inputs)", USAGE)
    return obj


def call_factory(target: str) -> tuple[Any, list[Any]]:
    factory = load_factory(target)
    try:
        made = factory()
    except Exception as exc:
        raise CliError(f"the factory {target} raised {type(exc).__name__}: {exc}") from exc
    if not (isinstance(made, (tuple, list)) and len(made) == 2):
        raise CliError(f"the factory {target} must return (model, inputs), got {type(made).__name__}" + (f" of length {len(made)}" if isinstance(made, (tuple, list)) else ""))
    model, inputs = made
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        raise CliError(f"the factory {target} returned inputs of type {type(inputs).__name__}: expected a list of input sets (tuples, dicts or (tuple, dict) pairs)")
    return model, list(inputs)


# -- output ---------------------------------------------------------------------------------


def _names(pairs: Sequence[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    names = {}
    for pair in pairs:
        key, sep, value = pair.rpartition("=")
        if not sep or not key or not value:
            raise CliError(f"--name takes KEY=NAME (KEY is 'path:axis' or an inferred dim name), got {pair!r}", USAGE)
        names[key] = value
    return names


def _format(requested: str, stream: Any) -> str:
    if requested != "auto":
        return requested
    return "rich" if getattr(stream, "isatty", lambda: False)() else "text"


def emit_report(report: report_mod.Report, fmt: str, stream: Any = None) -> None:
    stream = stream if stream is not None else sys.stdout
    if fmt == "json":
        print(json.dumps(report.to_dict(), indent=1), file=stream)
    elif fmt == "rich":
        from rich.console import Console

        report_mod.render_rich(report, Console(file=stream, soft_wrap=False, highlight=False))
    else:
        print(report_mod.render_text(report), file=stream)


def spec_document(spec: Any, report: report_mod.Report) -> str:
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


# -- commands -------------------------------------------------------------------------------


def cmd_infer(args: argparse.Namespace, progress: Progress) -> int:
    from .infer import infer_dims

    with progress.step(f"building model and inputs ({args.target})"):
        model, inputs = call_factory(args.target)
    with progress.step(f"inferring dims from {len(inputs)} input set(s)"):
        spec = infer_dims(model, inputs, names=_names(args.name))
    report = report_mod.build(spec)
    if args.json:
        _write(args.json, spec_document(spec, report), "the spec (JSON)", progress)
    emit_report(report, _format(args.format, sys.stdout))
    return OK


def export_and_verify(model: Any, inputs: list[Any], progress: Progress, *, names: dict[str, str] | None = None, strict: bool = False, verify: bool = True) -> Any:
    """``symshape.export`` with its tracing and verification shown as two steps."""
    from .export import export

    with progress.step("tracing with torch.export (refining where the model requires it)"):
        result = export(model, inputs, strict=strict, verify=False, names=names)
    if verify:
        with progress.step(f"verifying the program against eager on {len(result.sets)} input set(s)"):
            result.verify(model)
    return result


def cmd_export(args: argparse.Namespace, progress: Progress) -> int:
    import torch

    with progress.step(f"building model and inputs ({args.target})"):
        model, inputs = call_factory(args.target)
    result = export_and_verify(model, inputs, progress, names=_names(args.name), strict=args.strict, verify=not args.no_verify)
    report = report_mod.build(result.spec, result)
    if args.json:
        _write(args.json, spec_document(result.spec, report), "the spec (JSON)", progress)
    emit_report(report, _format(args.format, sys.stdout))
    if result.checks and not result.ok:
        bad = [c for c in result.checks if c.covered and not c.passed]
        what = "; ".join(f"set #{c.set_index}: " + ("rejected" if not c.accepted else f"max |program - eager| = {c.max_abs_diff:.2e}") for c in bad)
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
    return OK


def _export_onnx(args: argparse.Namespace, model: Any, inputs: list[Any], result: Any, progress: Progress) -> None:
    """``--onnx FILE``: torch.onnx.export of the program, symshape's dim names, onnxruntime check."""
    from .onnx_export import export_onnx, require_onnx

    require_onnx()  # the install hint before any work
    verify = not args.no_verify
    with progress.step(f"converting to ONNX (torch.onnx.export, dynamo=True){' and checking with onnxruntime' if verify else ''}"):
        made = export_onnx(model, inputs, args.onnx, result=result, verify=verify, names=_names(args.name))
    if args.format != "json":
        print(f"\n{made.explain()}")
    if made.checks and not made.ok:
        bad = "; ".join(f"{c.label}: {c.error or f'max |onnx - eager| = {c.max_abs_diff:.2e}'}" for c in made.checks if not c.ok)
        raise CliError(f"onnxruntime check failed ({bad}); the ONNX model was written to {args.onnx} for inspection")


def cmd_demo(args: argparse.Namespace, progress: Progress) -> int:
    from .export import ATOL
    from .infer import infer_dims
    from .tiny_models import llama_decode_inputs, tiny_llama

    out = sys.stdout
    cases = [(2, 3, 5), (3, 4, 7)]
    with progress.step(f"building a tiny Llama ({args.layers} layers, random weights, nothing downloaded)"):
        model = tiny_llama(num_layers=args.layers, hidden_size=64)
        sets = [llama_decode_inputs(model, *case, seed=i) for i, case in enumerate(cases)]
    print(f"input sets: two decode steps with a DynamicCache, (batch, seq_len, past_len) = {cases[0]} and {cases[1]}\n", file=out)
    with progress.step("inferring dims"):
        start = time.perf_counter()
        spec = infer_dims(model, sets)
        elapsed = time.perf_counter() - start
    fmt = _format(args.format, out)
    emit_report(report_mod.build(spec), fmt)
    print(f"\ninferred in {1000 * elapsed:.1f} ms. dynamic_shapes for torch.export.export:", file=out)
    for name, value in spec.dynamic_shapes.items():
        print(f"  {name}: {value}", file=out)
    print(file=out)

    result = export_and_verify(model, sets, progress)
    print("after export (what the model requires, how the program was checked):", file=out)
    facts = report_mod.build(result.spec, result).export or {}
    if fmt == "json":
        print(json.dumps(facts, indent=1), file=out)
    else:
        print("\n".join(report_mod._export_lines(facts)), file=out)

    held_out = (4, 1, 9)
    with progress.step(f"verifying a held-out one-token decode step {held_out}"):
        inputs = llama_decode_inputs(model, *held_out, seed=3)
        expected = model(**copy.deepcopy(inputs)).logits
        got = result.program.module()(**copy.deepcopy(inputs)).logits
        diff = (expected - got).abs().max().item()
    print(f"\nheld-out decode step (batch, seq_len, past_len) = {held_out}: max |program - eager| = {diff:.2e}", file=out)
    status = "OK" if result.ok and diff <= ATOL else "MISMATCH"
    print(f"{status}: dims {', '.join(result.spec.dims)}; {result.reading.symbols if result.reading else '?'} free symbols in the program", file=out)
    return OK if status == "OK" else FAILED


# -- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    common.add_argument("--format", choices=("auto", "rich", "text", "json"), default="auto", help="report format (auto: rich on a terminal, plain text otherwise)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")

    parser = argparse.ArgumentParser(prog="symshape", description="Named torch.export dims and relations, inferred from example inputs.", parents=[common])
    sub = parser.add_subparsers(dest="command", metavar="{infer,export,demo}")
    sub.required = True

    target_help = "MODULE:FACTORY; FACTORY() returns (model, inputs). MODULE is importable from the current directory, or a .py file"
    names_help = "rename a dim: 'path:axis=NAME' or 'inferred_name=NAME' (repeatable)"

    p = sub.add_parser("infer", parents=[common], help="infer the dims, print the report, write the spec JSON")
    p.add_argument("target", metavar="MODULE:FACTORY", help=target_help)
    p.add_argument("--json", metavar="FILE", help="write the spec (and the report facts) as JSON; '-' for stdout")
    p.add_argument("--name", action="append", metavar="KEY=NAME", help=names_help)
    p.set_defaults(run=cmd_infer)

    p = sub.add_parser("export", parents=[common], help="infer, export, verify against eager, save with torch.export.save")
    p.add_argument("target", metavar="MODULE:FACTORY", help=target_help)
    p.add_argument("-o", "--output", required=True, metavar="FILE.pt2", help="where to save the ExportedProgram")
    p.add_argument("--json", metavar="FILE", help="also write the final spec (and the report facts) as JSON")
    p.add_argument("--name", action="append", metavar="KEY=NAME", help=names_help)
    p.add_argument("--strict", action="store_true", help="torch.export strict mode (default: non-strict)")
    p.add_argument("--no-verify", action="store_true", help="do not run the program against eager before saving")
    p.add_argument("--onnx", metavar="FILE", help="also write an ONNX model (torch.onnx.export, dynamo=True) whose dim_params are symshape's names, checked with onnxruntime; needs pip install 'symshape[onnx]'")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("demo", parents=[common], help="the built-in tiny LLM, end to end")
    p.add_argument("--layers", type=int, default=2, help="decoder layers of the tiny Llama (default 2)")
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    progress = Progress(quiet=args.quiet or args.format == "json")
    try:
        return args.run(args, progress)
    except KeyboardInterrupt:
        print("symshape: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `symshape infer ... | head`: stop quietly
        with contextlib.suppress(Exception):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    except Exception as exc:  # noqa: BLE001 - every error becomes one message and an exit status
        if args.debug:
            traceback.print_exc()
        print(_message(exc, args), file=sys.stderr)
        return exc.code if isinstance(exc, CliError) else FAILED


def _message(exc: Exception, args: argparse.Namespace) -> str:
    hint = "" if args.debug else "\n(run with --debug for the Python traceback)"
    if isinstance(exc, CliError):
        cause = exc.__cause__
        return f"symshape {args.command}: error: {exc}" + (hint if cause is not None else "")
    if isinstance(exc, ExportError):
        return f"symshape {args.command}: torch.export failed, explained:\n\n{exc}"
    if isinstance(exc, InputsError):
        return f"symshape {args.command}: bad input sets: {exc}"
    if isinstance(exc, SymshapeError):
        return f"symshape {args.command}: error: {exc}"
    return f"symshape {args.command}: unexpected {type(exc).__name__}: {exc}{hint}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
