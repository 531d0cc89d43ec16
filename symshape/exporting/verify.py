"""Verification: run an input set through an exported artifact and through eager,
and compare every output tensor. One routine for every target: the torch program
here, ONNX Runtime and ExecuTorch in the integrations."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from ..core import trees
from ..core.copying import copy_set, is_shape_only
from ..core.preserve import modules_kept
from ..core.records import Check
from ..infer.observation import describe_difference
from ..infer.resize import materialise_like
from ..spec import DimSpec
from .messages import translate_sources

#: Runs an input set through an artifact (or eager) and returns every output tensor.
Runner = Callable[[dict[str, Any]], list[torch.Tensor]]


def output_tensors(outputs: Any) -> list[torch.Tensor]:
    """Every tensor of a model's outputs, in pytree order (caches flattened)."""
    return [t for t in trees.leaves(outputs) if isinstance(t, torch.Tensor)]


def compare(expected: list[torch.Tensor], got: list[torch.Tensor], target: str = "program") -> tuple[float, str | None]:
    """Largest |got - expected| over every output, or ``inf`` and why they cannot be compared."""
    if len(expected) != len(got):
        return float("inf"), f"{len(got)} output tensors from the {target}, {len(expected)} from eager"
    worst = 0.0
    for e, g in zip(expected, got):
        if tuple(e.shape) != tuple(g.shape):
            return float("inf"), f"output shape {tuple(g.shape)} from the {target}, {tuple(e.shape)} from eager"
        if e.numel():
            worst = max(worst, (e.double() - g.double()).abs().max().item())
    return worst, None


def shapes_text(values: dict[str, Any], limit: int = 3) -> str:
    """``(input_ids=(4, 1), attention_mask=(4, 10), ...)``: the tensor shapes fed."""
    shapes = [
        f"{path}={tuple(v.shape)}" for path, v in trees.leaves_by_path(values).items() if isinstance(v, torch.Tensor)
    ]
    return f"({', '.join(shapes[:limit])}{', ...' if len(shapes) > limit else ''})"


def run_check(
    index: int,
    values: dict[str, Any],
    run_artifact: Runner,
    run_eager: Runner,
    *,
    origin: str = "observed",
    target: str = "program",
    expected: list[torch.Tensor] | None = None,
) -> Check:
    """Run ``values`` (copied for each run: forward mutates caches) through the artifact
    and through eager (unless its outputs are ``expected`` already). An artifact that
    raises rejected the set; an eager forward that raises is a failed check with its
    reason, not a traceback."""
    shapes = shapes_text(values)
    try:
        got = run_artifact(copy_set(values))
    except Exception as exc:  # a guard of the artifact rejected this set, or it failed inside
        return Check(
            index, False, None, re.sub(r"\s+", " ", translate_sources(str(exc)))[:500], origin=origin, shapes=shapes
        )
    try:
        if expected is None:
            with torch.no_grad():
                expected = run_eager(copy_set(values))
    except Exception as exc:  # the model itself fails on this set
        reason = re.sub(r"\s+", " ", str(exc))[:400]
        return Check(
            index,
            True,
            float("inf"),
            f"the {target} accepted it but eager forward raised {type(exc).__name__}: {reason}; nothing to compare",
            origin=origin,
            shapes=shapes,
        )
    diff, error = compare(expected, got, target)
    return Check(index, True, diff, error, origin=origin, shapes=shapes)


def eager_runner(model: Any, spec: DimSpec) -> Runner:
    def run(values: dict[str, Any]) -> list[torch.Tensor]:
        args, kwargs = spec.layout.split(values)
        with modules_kept(model):
            return output_tensors(model(*args, **kwargs))

    return run


def program_runner(program: torch.export.ExportedProgram, spec: DimSpec) -> Runner:
    runnable = program.module()

    def run(values: dict[str, Any]) -> list[torch.Tensor]:
        args, kwargs = spec.layout.split(values)
        return output_tensors(runnable(*args, **kwargs))

    return run


def check_sets(
    run_artifact: Runner,
    model: Any,
    spec: DimSpec,
    sets: list[dict[str, Any]],
    *,
    origin: str = "observed",
    target: str = "program",
) -> list[Check]:
    """Every set through an artifact and through ``model``. A set of another structure
    than the example is not run (``covered=False``: another graph); a set recorded as
    shapes only runs on values tiled from the example (``synthetic=True``)."""
    example = spec.layout.join(spec.args, spec.kwargs)
    run_eager = eager_runner(model, spec)
    checks = []
    for index, values in enumerate(sets):
        if trees.structure(values) != trees.structure(example):
            try:
                why = describe_difference(index, example, values, ref_name="the example")
            except Exception:  # a description is a nicety; never fail the verification on it
                why = "its structure differs from the example's"
            text = f"another structure than the example ({why}): another graph, not covered by this {target}"
            checks.append(Check(index, False, None, text, covered=False, origin=origin))
            continue
        synthetic = is_shape_only(values)
        if synthetic:
            values = materialise_like(values, example)
        check = run_check(index, values, run_artifact, run_eager, origin=origin, target=target)
        checks.append(replace(check, synthetic=synthetic))
    return checks


def check_program(
    program: torch.export.ExportedProgram,
    model: Any,
    spec: DimSpec,
    sets: list[dict[str, Any]],
    origin: str = "observed",
) -> list[Check]:
    """:func:`check_sets` for a torch program."""
    return check_sets(program_runner(program, spec), model, spec, sets, origin=origin)
