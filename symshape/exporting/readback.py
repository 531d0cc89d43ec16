"""Reading an ExportedProgram back, in symshape's names.

Which symbols the user inputs carry, what the guards require (translated from
``L['x'].size()[0]`` to ``x.shape[0]`` and dim names), and whether each relation
symshape could not state as a Dim (a sum of roots, left ``Dim.AUTO``) is enforced
by the program: z3 checks that the guards leave no other value possible.
Guards are walked into z3 by :mod:`.prove`, never evaluated as text.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .. import _torch
from ..core.paths import format_path
from ..core.records import ProgramReading, RelationCheck
from ..core.rows import ROOT, SUM, RelationRow
from ..spec import DimSpec
from .prove import Guard, GuardTranslator, UnmodelledError


def user_inputs(program: torch.export.ExportedProgram) -> list[tuple[str, Any, Any]]:
    """``(placeholder name, pytree key path in (args, kwargs), fake value)`` per user input."""
    user = [
        s for s in program.graph_signature.input_specs if s.kind == torch.export.graph_signature.InputKind.USER_INPUT
    ]
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    leaves = _torch.tree_flatten_with_path(program.example_inputs)[0]
    out = []
    for (path, _), spec in zip(leaves, user):
        name = getattr(spec.arg, "name", None)
        node = nodes.get(name)
        out.append((name, path, node.meta.get("val") if node is not None else None))
    return out


def input_symbols(program: torch.export.ExportedProgram) -> set[str]:
    """Free symbols in the shapes of the program's user inputs (``{"s13", "s70"}``).

    This is the number users care about: how many independent sizes the exported
    program accepts. Parameters and buffers are static and never contribute.
    """
    symbols: set[str] = set()
    for _, _, value in user_inputs(program):
        sizes = value.shape if isinstance(value, torch.Tensor) else [value]
        for size in sizes:
            if isinstance(size, torch.SymInt):
                symbols |= {str(s) for s in size.node.expr.free_symbols}
    return symbols


def _asserts(program: torch.export.ExportedProgram) -> list[Any]:
    """The sympy conditions of the deferred runtime asserts in the graph."""
    return [
        n.args[0].meta["val"].node.expr
        for n in program.graph.nodes
        if n.op == "call_function"
        and "_assert_scalar" in str(n.target)
        and isinstance(getattr(n.args[0], "meta", {}).get("val"), torch.SymBool)
    ]


def guard_count(program: torch.export.ExportedProgram) -> int:
    """Guards on input shapes plus deferred runtime asserts in the graph."""
    return len(_torch.program_guards(program)) + len(_asserts(program))


def symshape_path(keys: tuple, spec: DimSpec) -> str:
    """``(SequenceKey(1), MappingKey('cache'), MappingKey('key_cache'), SequenceKey(0))``
    (a path in the program's ``(args, kwargs)``) -> ``cache['key_cache'][0]``."""
    positional = [p.name for p in spec.layout.params if p.passed == "positional"]
    head, rest = keys[0], keys[1:]
    if getattr(head, "idx", None) == 0:  # args
        name, rest = positional[rest[0].idx], rest[1:]
    else:
        name, rest = rest[0].key, rest[1:]
    return format_path((_torch.MappingKey(name), *rest))


def read_program(program: torch.export.ExportedProgram, spec: DimSpec) -> ProgramReading:
    """Translate the program's symbolic input shapes and guards into symshape's names."""
    guards = GuardTranslator(spec)
    symbols: dict[str, str] = {}  # torch symbol -> dim name, or own variable of an AUTO axis / int input
    auto_axes = []
    for _, keys, value in user_inputs(program):
        path = symshape_path(keys, spec)
        if isinstance(value, torch.SymInt):  # an int input (Dim.DYNAMIC)
            row = guards.rows.get((path, None))
            if row is not None and value.node.expr.is_Symbol:
                symbols[str(value.node.expr)] = guards.own_variable(row)
            continue
        if not isinstance(value, torch.Tensor):
            continue
        for axis, size in enumerate(value.shape):
            row = guards.rows.get((path, axis))
            if row is None or not isinstance(size, torch.SymInt):
                continue
            expr = size.node.expr
            if row.role == ROOT and expr.is_Symbol:
                symbols[str(expr)] = row.terms[0][0]
            elif row.role == SUM:
                auto_axes.append((row, expr))
                if expr.is_Symbol:
                    symbols[str(expr)] = guards.own_variable(row)

    # Guards on the inputs, and the deferred asserts torch leaves in the graph
    # (strict mode moves relations there).
    translated: list[Guard | None] = [guards.condition(g) for g in _torch.program_guards(program)]
    translated += [guards.sympy_condition(e, symbols) for e in _asserts(program)]
    # A guard is shown unless z3 proves the Dims already imply it; nonlinear ones (products of
    # sizes: Swin's height * width windows) are shown unproven, and are no facts for proofs.
    requirements = [g for g in translated if g is not None and (g.nonlinear or not guards.always_true(g.condition))]
    linear = [g for g in requirements if not g.nonlinear]
    return ProgramReading(
        symbols=len(input_symbols(program)),
        guards=guard_count(program),
        requirements=tuple(dict.fromkeys(g.text for g in requirements)),
        relation_checks=tuple(_relation_check(guards, row, expr, symbols, linear) for row, expr in auto_axes),
        shapes={row.label: _stated(guards, expr, symbols) for row, expr in auto_axes},
        required=_model_relations(guards, spec, linear),
    )


def _model_relations(guards: GuardTranslator, spec: DimSpec, requirements: list[Guard]) -> tuple[RelationRow, ...]:
    """Relations the evidence policy did not trust (``mask_len = past_len + 1`` seen in two
    decode steps) that the program's guards enforce: z3 shows that no other value of the
    root passes them. The model requires these, whatever the number of sets."""
    facts = [g.condition for g in requirements]
    found = []
    for rel in spec.rejected:
        root = spec.root_of(rel.members)
        if rel.kind == "equal" or not rel.terms or root is None or root in dict(rel.terms):
            continue
        rhs = guards.linear_term(rel.terms, rel.const, rel.rhs)
        if guards.always_true(guards.key_term(root).z3 == rhs.z3, *facts):
            why = "the program's guards allow no other value"
            found.append(replace(rel, origin="model", reason=why, coincidence_prone=False))
    return tuple(found)


def _stated(guards: GuardTranslator, expr: Any, symbols: dict[str, str]) -> str:
    try:
        return guards.describe(guards.sympy_term(expr, symbols))
    except UnmodelledError:
        return str(expr)


def _relation_check(
    guards: GuardTranslator, row: Any, expr: Any, symbols: dict[str, str], requirements: list[Guard]
) -> RelationCheck:
    """Does the program hold ``row`` (an AUTO axis) to the sum symshape inferred?"""
    relation = f"{row.label} = {row.expr}"
    wanted = guards.expression_term(row)
    if not expr.is_Symbol:
        stated = _stated(guards, expr, symbols)
        try:
            ok = guards.always_true(guards.sympy_term(expr, symbols).z3 == wanted.z3)
        except UnmodelledError:
            ok = False
        return RelationCheck(
            relation, "stated" if ok else "not enforced", f"the program computes {row.label} as {stated}"
        )
    own = guards.key_term(guards.own_variable(row))
    if guards.always_true(own.z3 == wanted.z3, *[g.condition for g in requirements]):
        return RelationCheck(
            relation, "enforced", f"{row.label} has its own symbol, and the program's guards allow no other value"
        )
    related = [g.text for g in requirements if row.label in g.text]
    what = (
        f"the program's guards only require {' and '.join(related)}" if related else "no guard of the program checks it"
    )
    return RelationCheck(
        relation,
        "not enforced",
        f"{row.label} has its own symbol and {what} (a wrong size may still fail inside the graph); "
        f"the relation held on every observed set",
    )
