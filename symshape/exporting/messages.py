"""torch's text protocol: constraint-violation messages and input sources.

torch reports (on the exception's ``.msg``)::

    Constraints violated (b)! ...
      - The values of b = L['y'].size()[0] and a = L['x'].size()[0] must always be equal.
    Suggested fixes:
      b = a

Fixes are ``name = 5`` (specialised), ``name = other`` (equal), ``name = 2*other + 1``
(derived), ``name = Dim('name', min=4, max=256)`` (bounds) and a new root ``_n`` with
``n = 3*_n`` (divisibility). Sources are ``L['cache']['key_cache'][0].size()[2]`` at
trace time, ``z.size()[0]`` in run-time guards and ``L['n']`` for an int input. This
module only reads torch's text; it never parses symshape's own messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

#: A tensor axis at trace time: ``L['cache']['key_cache'][0].size()[2]``.
SOURCE = re.compile(r"L\['([^']+)'\]((?:\[[^\]]+\]|\.[A-Za-z_]\w*)*)\.size\(\)\[(\d+)\]")
_AFFINE = re.compile(r"^(?:(\d+)\*)?([A-Za-z_]\w*)(?:\s*([+-])\s*(\d+))?$")
_DIM = re.compile(r"^Dim\('([^']+)'(.*)\)$")
#: The header of another section of torch's message.
_HEADER = re.compile(r"(?<=\S)\s*(?:Specializations unexpectedly required|Constraints violated) \(")

#: A tensor axis in a run-time guard: ``z.size()[0]``.
RUNTIME_SOURCE = re.compile(r"\b([A-Za-z_]\w*(?:\[[^\]]+\]|\.[A-Za-z_]\w*)*)\.size\(\)\[(\d+)\]")

#: An int input: ``L['cache']['cumulative_length'][0]`` (applied after SOURCE).
INT_SOURCE = re.compile(r"L\['([^']+)'\]((?:\[[^\]]+\]|\.[A-Za-z_]\w*)*)")


def translate_sources(text: str) -> str:
    """torch's input sources in symshape's paths: ``L['cache']['key_cache'][0].size()[2]``
    (trace time), ``z.size()[0]`` (run-time guards) and ``L['n']`` (an int input) ->
    ``cache['key_cache'][0].shape[2]``, ``z.shape[0]``, ``n``."""
    text = SOURCE.sub(lambda m: f"{m.group(1)}{m.group(2)}.shape[{m.group(3)}]", text)
    text = INT_SOURCE.sub(lambda m: f"{m.group(1)}{m.group(2)}", text)
    return RUNTIME_SOURCE.sub(lambda m: f"{m.group(1)}.shape[{m.group(2)}]", text)


@dataclass(frozen=True)
class Fix:
    """One suggested fix: ``name = <kind>``."""

    name: str
    kind: str  # "const", "affine" (incl. plain equality), "bounds", "new_root"
    value: int | None = None  # const
    root: str | None = None  # affine
    coef: int = 1
    offset: int = 0
    low: int | None = None  # bounds
    high: int | None = None
    text: str = ""  # the fix as torch wrote it


@dataclass(frozen=True)
class Violation:
    """A parsed ``Constraints violated`` message."""

    bullets: tuple[str, ...]  # torch's bullets, sources translated to symshape paths
    fixes: tuple[Fix, ...]
    raw_bullets: tuple[str, ...] = ()  # torch's bullets as written (for guard analysis)


def _bounds(args: str) -> tuple[int | None, int | None]:
    low = re.search(r"min=(-?\d+)", args)
    high = re.search(r"max=(-?\d+)", args)  # max=oo means no bound
    return (int(low.group(1)) if low else None, int(high.group(1)) if high else None)


def parse_violation(message: str) -> Violation | None:
    """Parse torch's message; None if it is not a constraint violation."""
    if "Constraints violated" not in message:
        return None
    body, _, fixes_text = message.partition("Suggested fixes:")
    # torch can glue the next section's header onto a bullet, with no newline.
    lines = [_HEADER.split(line, maxsplit=1)[0] for line in body.splitlines()]
    raw = tuple(dict.fromkeys(line.strip()[2:] for line in lines if line.strip().startswith("- ")))
    bullets = tuple(translate_sources(b) for b in raw)
    fixes = []
    for line in fixes_text.splitlines():
        if not re.match(r"^\s+[A-Za-z_]\w*\s*=", line):
            if fixes:
                break  # the paragraph after the fixes
            continue
        name, _, rhs = (part.strip() for part in line.partition("="))
        text = f"{name} = {rhs}"
        if re.fullmatch(r"-?\d+", rhs):
            fixes.append(Fix(name, "const", value=int(rhs), text=text))
        elif (m := _DIM.match(rhs)) is not None:
            low, high = _bounds(m.group(2))
            fixes.append(Fix(name, "bounds", low=low, high=high, text=text))
        elif (m := _AFFINE.match(rhs.replace(" ", ""))) is not None:
            sign = -1 if m.group(3) == "-" else 1
            fixes.append(
                Fix(
                    name,
                    "affine",
                    root=m.group(2),
                    coef=int(m.group(1) or 1),
                    offset=sign * int(m.group(4) or 0),
                    text=text,
                )
            )
        else:
            fixes.append(Fix(name, "unknown", text=text))
    # A root torch introduces (``_n`` in ``n = 3*_n``) is one another fix is written in.
    roots = {f.root for f in fixes if f.kind == "affine"}
    fixes = [replace(f, kind="new_root") if f.kind == "bounds" and f.name in roots else f for f in fixes]
    return Violation(bullets, tuple(fixes), raw)


def range_guards(violation: Violation) -> Violation:
    """The guards of ``violation`` that are a range of one dim, as bounds fixes: torch does
    not always suggest one beside them (for wav2vec2 it suggests a divisibility fitted to
    the example instead)."""
    fixes = tuple(f for f in map(_range_guard, violation.raw_bullets) if f is not None)
    return Violation(violation.bullets, fixes, violation.raw_bullets)


#: ``Not all values of n = S ... satisfy the generated guard 60 <= S and S <= IntInfinity()``.
_RANGE_GUARD = re.compile(
    r"Not all values of (\w+) = (.+?) in the specified range satisfy the generated guard "
    r"(-?\d+) <= (.+?) and (.+?) <= (-?\d+|IntInfinity\(\)|int_oo|oo)\.?$"
)


def _range_guard(bullet: str) -> Fix | None:
    m = _RANGE_GUARD.match(bullet)
    if m is None or not m.group(2) == m.group(4) == m.group(5):
        return None
    high = int(m.group(6)) if m.group(6).lstrip("-").isdigit() else None
    return Fix(m.group(1), "bounds", low=int(m.group(3)), high=high, text=f"{m.group(1)} in [{m.group(3)}, {high}]")
