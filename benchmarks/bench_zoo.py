"""``symshape.export`` on every zoo family: symbols against the truth, guards, time, held-out.

Run by hand, never in tests::

    python benchmarks/bench_zoo.py                  # every family of tests/zoo.py's ZOO
    python benchmarks/bench_zoo.py swin vit         # some families only
    python benchmarks/bench_zoo.py --timeout 120    # seconds allowed per family (default 600)
    python benchmarks/bench_zoo.py --in-process     # no child process: no timeout

For each family: build the model (tests/zoo.py: tiny config, random weights), make its
train input sets (``make_inputs(case, seed=i)``), run ``symshape.export(model, sets)`` in
its two timed halves (``symshape.export(model, sets, verify=False)``, then
``result.verify(model)``: what ``verify=True`` does), then run ``result.program.module()``
and the eager model on a fresh held-out set (seed 99) and compare every output tensor.
Prints one markdown table, a row as soon as its family is done; one family's failure (an
``ExportError``, any other exception, a timeout, a crash) is its status and never stops the
table. The families run in a spawned child process, one at a time, so that a family that
exceeds ``--timeout`` can be killed (a hang in z3 or in C++ ignores Python signals); the
child is replaced after a kill and warms up again (outside the timed calls).

Columns:

* ``symbols``: distinct free symbols in the shapes of the program's user inputs
  (``symshape.input_symbols``, what ``tests/test_zoo_export.py`` reads as
  ``result.reading.symbols``);
* ``truth``: the entry's ``expected_free_symbols`` (the true number of independent dims);
* ``spec dims``: the dims symshape inferred (``len(result.spec.dims)``);
* ``guards``: ``symshape.exporting.readback.guard_count`` (guards on input shapes plus
  deferred runtime asserts);
* ``traces``: ``result.traces`` (torch.export calls: 1 + refinement rounds);
* ``export (s)``: wall time of ``symshape.export(..., verify=False)``: inference, traces,
  read-back (after a warm-up export of a tiny Llama, so no family pays first-call costs);
* ``verify (s)``: wall time of ``result.verify(model)``: every train set and symshape's
  probes through the program and eager;
* ``held-out diff``: max abs difference program vs eager (a freshly built model: the one
  given to export may have been changed by the runs on other sizes) on the held-out set, or
  ``rejected: ...`` (the program refused it: its first line), ``eager failed: ...``,
  ``wrong: ...`` (another output structure or shape);
* ``status``: ``ok``, ``ok, verify FAILED`` (the export's own checks failed: a set or a
  probe the program rejects or computes differently), or the first line of the
  ``ExportError`` (other exceptions: their type and first line).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import gc
import logging
import multiprocessing
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.utils._pytree as pytree  # noqa: E402

import symshape  # noqa: E402
from symshape.exporting.readback import guard_count, input_symbols  # noqa: E402
from tests.zoo import ZOO, ZooEntry  # noqa: E402

HELD_OUT_SEED = 99


@dataclasses.dataclass
class Row:
    family: str
    truth: int
    symbols: int | None = None
    spec_dims: int | None = None
    guards: int | None = None
    traces: int | None = None
    seconds: float | None = None
    verify_seconds: float | None = None
    held_out: str = "-"
    status: str = ""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line if isinstance(exc, symshape.ExportError) else f"{type(exc).__name__}: {line}"


def held_out_diff(entry: ZooEntry, program: torch.export.ExportedProgram) -> str:
    """Program vs eager on copies of a fresh held-out set: the max abs difference over every
    output tensor, or which side failed. Eager runs a FRESHLY BUILT model (same seed, same
    weights): export and verification run the user's model on many sizes, and a model that
    keeps state from its inputs (Swin stores a clamped window size) is no longer the reference."""
    inputs = entry.make_inputs(entry.held_out, seed=HELD_OUT_SEED)
    with torch.no_grad():
        try:
            expected = entry.build()(**copy.deepcopy(inputs))
        except Exception as exc:
            return f"eager failed: {first_line(exc)}"
        try:
            got = program.module()(**copy.deepcopy(inputs))
        except Exception as exc:
            return f"rejected: {first_line(exc)}"
    exp = [t for t in pytree.tree_leaves(expected) if isinstance(t, torch.Tensor)]
    out = [t for t in pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]
    if len(exp) != len(out):
        return f"wrong: {len(out)} output tensors from the program, {len(exp)} from eager"
    diff = 0.0
    for e, g in zip(exp, out):
        if e.shape != g.shape:
            return f"wrong: output shape {tuple(g.shape)} from the program, {tuple(e.shape)} from eager"
        if e.numel():
            diff = max(diff, (e.float() - g.float()).abs().max().item())
    return f"{diff:.1e}"


def bench(entry: ZooEntry) -> Row:
    row = Row(entry.name, entry.expected_free_symbols)
    try:
        model = entry.build()
        sets = [entry.make_inputs(case, seed=i) for i, case in enumerate(entry.train_cases)]
    except Exception as exc:
        row.status = f"build failed: {first_line(exc)}"
        return row
    gc.collect()
    start = time.perf_counter()
    try:
        result = symshape.export(model, sets, verify=False)
    except Exception as exc:
        row.seconds = time.perf_counter() - start
        row.status = first_line(exc)
        return row
    row.seconds = time.perf_counter() - start
    row.symbols = len(input_symbols(result.program))
    row.spec_dims = len(result.spec.dims)
    row.guards = guard_count(result.program)
    row.traces = result.traces
    start = time.perf_counter()
    try:
        result.verify(model)
        row.status = "ok" if result.ok else "ok, verify FAILED"
    except Exception as exc:
        row.status = f"ok, verify raised {first_line(exc)}"
    row.verify_seconds = time.perf_counter() - start
    try:
        row.held_out = held_out_diff(entry, result.program)
    except Exception as exc:
        row.held_out = f"bench error: {first_line(exc)}"
    return row


def cell(value: Any) -> str:
    text = "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:160]


HEAD = ["family", "symbols", "truth", "spec dims", "guards", "traces", "export (s)", "verify (s)", "held-out diff"]
HEAD.append("status")


def header() -> str:
    return "| " + " | ".join(HEAD) + " |\n|" + "---|" * len(HEAD)


def line(r: Row) -> str:
    values = [r.family, r.symbols, r.truth, r.spec_dims, r.guards, r.traces, r.seconds, r.verify_seconds]
    return "| " + " | ".join(cell(v) for v in [*values, r.held_out, r.status]) + " |"


def quiet() -> None:
    warnings.filterwarnings("ignore")
    for name in ("transformers", "torch", "torch._dynamo", "torch.export", "torch.fx.experimental.symbolic_shapes"):
        logging.getLogger(name).setLevel(logging.ERROR)


def warm_up() -> None:
    """One tiny export first, so that no family pays the first-call costs (imports, registrations)."""
    from symshape.integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama

    model = tiny_llama(num_layers=1, hidden_size=32)
    with contextlib.suppress(Exception):
        symshape.export(model, [llama_decode_inputs(model, 2, 3, 5), llama_decode_inputs(model, 3, 4, 7)], verify=False)


def guarded(name: str) -> Row:
    """``bench`` for one family; whatever goes wrong becomes the row's status."""
    try:
        return bench(ZOO[name])
    except Exception as exc:  # the table must go on
        traceback.print_exc(file=sys.stderr)
        return Row(name, ZOO[name].expected_free_symbols, status=f"bench error: {first_line(exc)}")


def worker(conn: Any) -> None:
    """Child process: warm up once, then bench the families the parent sends until it sends None."""
    quiet()
    warm_up()
    conn.send("ready")
    while (name := conn.recv()) is not None:
        conn.send(dataclasses.asdict(guarded(name)))


class Worker:
    """A spawned child that benches one family at a time; killed and replaced when a family
    exceeds the timeout (a long z3 or C++ call cannot be interrupted from Python)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.conn.recv()  # "ready": imports and warm-up done, outside the families' timeouts

    def run(self, name: str, timeout: float) -> Row | None:
        """The family's row, or None when it timed out or the child died (then this worker is dead)."""
        self.conn.send(name)
        try:
            if self.conn.poll(timeout if timeout > 0 else None):
                return Row(**self.conn.recv())
        except (EOFError, OSError):  # the child died (a crash in native code)
            pass
        self.stop()
        return None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(timeout=30)
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help="zoo family names (default: every family)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per family (0: no limit)")
    parser.add_argument(
        "--in-process", action="store_true", help="no child process (no timeout; a hang or crash stops the run)"
    )
    args = parser.parse_args(argv)
    unknown = [f for f in args.families if f not in ZOO]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(sorted(ZOO))}")
    names = args.families or list(ZOO)
    quiet()
    import transformers

    versions = f"torch {torch.__version__}, transformers {transformers.__version__}, symshape {symshape.__version__}"
    print(f"{versions}, {torch.get_num_threads()} threads\n\n{header()}", flush=True)
    if args.in_process:
        warm_up()
    pool: Worker | None = None
    started = time.perf_counter()
    for name in names:
        print(f"[bench_zoo] {name} ...", file=sys.stderr, flush=True)
        if args.in_process:
            row = guarded(name)
        else:
            pool = pool or Worker()
            row = pool.run(name, args.timeout)
            if row is None:
                pool = None
                row = Row(name, ZOO[name].expected_free_symbols, status=f"timeout: no result after {args.timeout:g} s")
        print(line(row), flush=True)
        print(f"[bench_zoo] {name}: {row.status}", file=sys.stderr, flush=True)
    if pool is not None:
        pool.close()
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
