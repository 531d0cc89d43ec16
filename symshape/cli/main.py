"""The ``symshape`` command (also ``python -m symshape``): parser and entry point.

    symshape infer MODULE:FACTORY [--json FILE]      report; the spec as JSON
    symshape export MODULE:FACTORY -o FILE.pt2        infer, export, verify, torch.export.save
                   [--onnx FILE.onnx]                 also ONNX with symshape's dim names (symshape[onnx])
                   [--executorch FILE.pte]            also ExecuTorch (XNNPACK), bounded dims (symshape[executorch])
    symshape export MODULE:FACTORY --plan DIR         an export plan: one program per regime, Plan.save(DIR)
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
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence

from ..core.quiet import quiet_loggers
from ..errors import ExportError, InputsError, SymshapeError
from .commands import cmd_demo, cmd_export, cmd_infer
from .errors import FAILED, USAGE, CliError
from .progress import Progress


def _common(defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name. The subcommands'
    copy has no defaults, so that ``symshape --format json infer ...`` keeps its value."""
    common = argparse.ArgumentParser(add_help=False)
    default = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    common.add_argument("--debug", action="store_true", default=default(False), help="show Python tracebacks on errors")
    common.add_argument(
        "--format",
        choices=("auto", "rich", "text", "json"),
        default=default("auto"),
        help="report format (auto: rich on a terminal, plain text otherwise)",
    )
    common.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="no progress lines on stderr"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common(defaults=False)

    parser = argparse.ArgumentParser(
        prog="symshape",
        description="Named torch.export dims and relations, inferred from example inputs.",
        parents=[_common(defaults=True)],
    )
    sub = parser.add_subparsers(dest="command", metavar="{infer,export,demo}")
    sub.required = True

    target_help = (
        "MODULE:FACTORY; FACTORY() returns (model, inputs). MODULE is importable from the current directory, "
        "or a .py file"
    )
    names_help = "rename a dim: 'path:axis=NAME' or 'inferred_name=NAME' (repeatable)"
    dynamic_help = "declare an axis dynamic that did not vary: a conventional name (batch) or 'path:axis' (repeatable)"

    p = sub.add_parser("infer", parents=[common], help="infer the dims, print the report, write the spec JSON")
    p.add_argument("target", metavar="MODULE:FACTORY", help=target_help)
    p.add_argument("--json", metavar="FILE", help="write the spec (and the report facts) as JSON; '-' for stdout")
    p.add_argument("--name", action="append", metavar="KEY=NAME", help=names_help)
    p.add_argument("--dynamic", action="append", metavar="AXIS", help=dynamic_help)
    p.set_defaults(run=cmd_infer)

    p = sub.add_parser(
        "export",
        parents=[common],
        help="infer, export, verify against eager, save with torch.export.save (or an export plan: --plan DIR)",
    )
    p.add_argument("target", metavar="MODULE:FACTORY", help=target_help)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", metavar="FILE.pt2", help="where to save the ExportedProgram")
    where.add_argument(
        "--plan",
        metavar="DIR",
        help="write an export plan instead of one program: one program per regime of the input sets (prefill, "
        "decode, an optional argument given or not, ...), each with its region, routed by region; saved with "
        "Plan.save(DIR) (one .pt2 per program and manifest.json), read back with symshape.load_plan(DIR)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the final spec (and the report facts) as JSON")
    p.add_argument("--name", action="append", metavar="KEY=NAME", help=names_help)
    p.add_argument("--dynamic", action="append", metavar="AXIS", help=dynamic_help)
    p.add_argument("--strict", action="store_true", help="torch.export strict mode (default: non-strict)")
    p.add_argument("--no-verify", action="store_true", help="do not run the program against eager before saving")
    p.add_argument(
        "--onnx",
        metavar="FILE",
        help="also write an ONNX model (torch.onnx.export, dynamo=True) whose dim_params are symshape's "
        "names, checked with onnxruntime; needs pip install 'symshape[onnx]'",
    )
    p.add_argument(
        "--executorch",
        metavar="FILE",
        help="also write an ExecuTorch program (.pte, XNNPACK) exported with the dims bounded from the model's "
        "config, run in the ExecuTorch runtime against eager; needs pip install 'symshape[executorch]'",
    )
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("demo", parents=[common], help="the built-in tiny LLM, end to end")
    p.add_argument("--layers", type=int, default=2, help="decoder layers of the tiny Llama (default 2)")
    p.set_defaults(run=cmd_demo)
    return parser


#: Libraries whose log lines the command hides unless ``--debug``.
FOREIGN_LOGGERS = ("torch", "torch.onnx", "onnxscript", "transformers", "torchao", "executorch")


@contextlib.contextmanager
def _foreign_output_hidden(debug: bool) -> Iterator[None]:
    """torch's and torch.onnx's own warnings and log lines (``torchvision is not
    installed``, ``LeafSpec is deprecated``) stay out of the command's output unless
    ``--debug``; symshape's own findings are in its report, not in warnings."""
    if debug:
        yield
        return
    # CRITICAL: torch logs some failures it recovers from at ERROR, with a traceback
    # (fake_tensor's "failed while attempting to run meta for aten.add.Tensor" while a plan
    # tries a regime); symshape reports the failure itself.
    with warnings.catch_warnings(), quiet_loggers(*FOREIGN_LOGGERS, level=logging.CRITICAL):
        warnings.simplefilter("ignore")
        yield


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage (or --help): the status, not an exit
        return exc.code if isinstance(exc.code, int) else USAGE
    progress = Progress(quiet=args.quiet or args.format == "json")
    try:
        with _foreign_output_hidden(args.debug):
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
