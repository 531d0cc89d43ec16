"""symshape's readers of torch's words, on real torch 2.13 messages.

The fixtures in ``tests/fixtures/torch_messages/`` were captured from real
``torch.export`` runs (``python tests/fixtures/torch_messages/capture.py`` regenerates
them); each holds torch's raw text and what symshape must read from it. This file
only reads them: no export runs here.

* constraint violations -> ``parse_violation``: bullets (sources in symshape's paths)
  and suggested fixes;
* other errors and run-time guard failures -> ``parse_violation`` is None and
  ``translate_sources`` gives symshape's paths;
* guards of exported programs and deferred asserts -> ``GuardTranslator`` over a
  DimSpec inferred from the fixture's example shapes: whether the guard is modelled,
  whether it holds for every size, and the names its reading is in.

A fixture with an ``xfail`` entry records the right reading where symshape's is
known to be wrong; its test is ``xfail(strict=True)``, so fixing the bug makes it fail
until the entry is removed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sympy
import torch

import symshape
from symshape.exporting.messages import Fix, Violation, parse_violation, translate_sources
from symshape.exporting.prove import GuardTranslator

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torch_messages"
FIX_FIELDS = ("name", "kind", "value", "root", "coef", "offset", "low", "high", "text")


def _load() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


ALL = _load()


def _params(group: str) -> list[Any]:
    """The fixtures of one group (by the form of ``expected``), xfail where recorded."""
    key = {"violation": "bullets", "other": "translated", "guard": "modelled"}[group]
    return [
        pytest.param(f, id=f["kind"], marks=[pytest.mark.xfail(strict=True, reason=f["xfail"])] if "xfail" in f else [])
        for f in ALL
        if key in f["expected"]
    ]


def _inputs(shapes: Any) -> Any:
    """Example values from a fixture's shapes: a list of ints is a tensor shape, an int an int input."""
    if isinstance(shapes, int):
        return shapes
    if isinstance(shapes, dict):
        return {k: _inputs(v) for k, v in shapes.items()}
    if shapes and all(isinstance(s, int) for s in shapes):
        return torch.zeros(shapes)
    return [_inputs(v) for v in shapes]


def _fix(fix: Fix) -> dict[str, Any]:
    return {name: getattr(fix, name) for name in FIX_FIELDS}


# -- the suite itself ----------------------------------------------------------------------


def test_fixtures_are_real_captures_of_many_kinds() -> None:
    assert len(ALL) >= 15
    assert len({f["kind"] for f in ALL}) == len(ALL)
    for path, f in zip(sorted(FIXTURES.glob("*.json")), ALL):
        assert path.stem == f["kind"]
        assert {"kind", "how", "torch", "message", "expected"} <= f.keys()
        assert f["torch"].startswith("2.13"), f["kind"]
        assert f["message"].strip() and f["how"].strip()
        if "modelled" in f["expected"]:
            assert f["sets"] and isinstance(f["names"], dict)
    groups = {g: len(_params(g)) for g in ("violation", "other", "guard")}
    assert sum(groups.values()) == len(ALL) and all(groups.values()), groups
    assert (FIXTURES / "capture.py").is_file()


# -- constraint violations -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", _params("violation"))
def test_violation_is_parsed(fixture: dict[str, Any]) -> None:
    expected = fixture["expected"]
    violation = parse_violation(fixture["message"])
    assert expected["is_violation"] is True
    assert isinstance(violation, Violation)
    assert list(violation.bullets) == expected["bullets"]
    assert [_fix(f) for f in violation.fixes] == expected["fixes"]
    assert len(violation.raw_bullets) == len(violation.bullets)


# -- other errors, run-time guard failures -------------------------------------------------


@pytest.mark.parametrize("fixture", _params("other"))
def test_other_message_is_translated(fixture: dict[str, Any]) -> None:
    expected = fixture["expected"]
    assert expected["is_violation"] is False
    assert parse_violation(fixture["message"]) is None
    assert translate_sources(fixture["message"]) == expected["translated"]


# -- guards of exported programs -----------------------------------------------------------


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.'\]]){re.escape(name)}(?![\w\[(])", text) is not None


def _translate(guards: GuardTranslator, fixture: dict[str, Any]) -> Any:
    """The fixture's guard through the translator: guard text, or an assert's sympy
    text with the program's input symbols mapped as read_program maps them."""
    if "symbols" not in fixture:
        return guards.condition(fixture["message"])
    symbols = {}
    for symbol, (path, axis) in fixture["symbols"].items():
        row = guards.rows[(path, axis)]
        symbols[symbol] = guards.own_variable(row) if guards.has_own_symbol(row) else row.terms[0][0]
    return guards.sympy_condition(sympy.sympify(fixture["message"]), symbols)


@pytest.mark.parametrize("fixture", _params("guard"))
def test_guard_is_read(fixture: dict[str, Any]) -> None:
    expected = fixture["expected"]
    spec = symshape.infer_dims(None, [_inputs(s) for s in fixture["sets"]], names=fixture["names"])
    guards = GuardTranslator(spec)
    guard = _translate(guards, fixture)
    assert (guard is not None) == expected["modelled"]
    if guard is None:
        return
    assert guards.always_true(guard.condition) == expected["always_true"]
    assert "L[" not in guard.text and ".size()" not in guard.text, guard.text  # symshape's names only
    for name in expected["mentions"]:
        assert _mentions(guard.text, name), (name, guard.text)
