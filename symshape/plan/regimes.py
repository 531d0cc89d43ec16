"""Regimes: which calls one program must hold.

First by structure (:mod:`.calls`): calls of another structure are another graph. Then,
inside a structure, by the axes that are empty: a prefill whose cache was recorded with
length 0 and the decode steps share a structure, but "the cache is empty" is what a
prefill is, so it is its own regime. A regime is named after its cache state
(``prefill``: every cache empty, ``decode``: a cache holds positions, ``forward``: no
cache), with a suffix where two regimes would share a name (``decode_without_attention_mask``).

Later splits, by what the model requires (a guard, a specialised size), are made by
:mod:`.build` on the regimes made here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..integrations.transformers import is_cache
from .calls import Call, cache_state, none_arguments, zero_axes
from .region import Constraint

#: Regime kinds: why its calls were put together (a structure or an empty cache; a
#: requirement of the model that splits calls; one value of a size the model specialises).
STRUCTURE, GUARD, BUCKET = "structure", "guard", "bucket"


@dataclass
class Regime:
    """Calls (indices into the plan's calls) that one program should hold, and why."""

    name: str
    calls: list[int]
    kind: str = STRUCTURE
    why: str = ""
    #: Axes a companion set moved for this regime's export (see :mod:`.companions`).
    moved: list[str] = field(default_factory=list)
    #: Axes never moved because the model fixes them in this regime, with the reason.
    fixed: dict[str, str] = field(default_factory=dict)
    parent: str | None = None
    #: What the splits above this regime require of its calls (part of its region).
    constraints: list[Constraint] = field(default_factory=list)


def _base_name(call: Call) -> str:
    state = cache_state(call)
    return {"empty": "prefill", "full": "decode", None: "forward"}[state]


def _describe(call: Call) -> str:
    state = cache_state(call)
    caches = [n for n, v in call.values.items() if is_cache(v)]
    where = ", ".join(caches) or "the cache"
    if state == "empty":
        return f"{where} holds no cached position (the first call: the model fills it)"
    if state == "full":
        return f"{where} holds cached positions"
    return "no cache argument"


def initial_regimes(calls: Sequence[Call]) -> list[Regime]:
    """Partition ``calls`` by structure, then by their empty axes; name each part."""
    groups: dict[tuple, list[Call]] = {}
    for call in calls:
        groups.setdefault(call.key, []).append(call)
    parts: list[list[Call]] = []
    for members in groups.values():
        by_zero: dict[frozenset, list[Call]] = {}
        varying = _varying_zero_axes(members)
        for call in members:
            by_zero.setdefault(zero_axes(call) & varying, []).append(call)
        parts += list(by_zero.values())
    parts.sort(key=lambda p: p[0].index)
    bases = [_base_name(p[0]) for p in parts]
    regimes = []
    for k, part in enumerate(parts):
        name = bases[k]
        if bases.count(name) > 1:
            name = _disambiguated(name, part, [p for j, p in enumerate(parts) if j != k and bases[j] == bases[k]])
        why = _describe(part[0])
        extra = _structure_difference(part, parts)
        if extra:
            why += f"; {extra}"
        regimes.append(Regime(name, [c.index for c in part], STRUCTURE, why))
    _unique_names(regimes)
    return regimes


def _varying_zero_axes(members: Sequence[Call]) -> frozenset:
    """Axes that are 0 in some calls of a structure and not in others."""
    sets = [zero_axes(c) for c in members]
    union = frozenset().union(*sets)
    common = frozenset.intersection(*sets) if sets else frozenset()
    return union - common


def _given(call: Call) -> frozenset[str]:
    """The top-level arguments a call passes (not ``None``)."""
    return frozenset(call.values) - none_arguments(call)


def _disambiguated(name: str, part: Sequence[Call], others: Sequence[Sequence[Call]]) -> str:
    mine = _given(part[0])
    theirs = frozenset().union(*[_given(o[0]) for o in others])
    without = sorted(theirs - mine)
    if without:
        return f"{name}_without_{without[0]}"
    with_ = sorted(mine - theirs)
    if with_:
        return f"{name}_with_{with_[0]}"
    return name


def _structure_difference(part: Sequence[Call], parts: Sequence[Sequence[Call]]) -> str:
    mine = _given(part[0])
    elsewhere = frozenset().union(*[_given(p[0]) for p in parts if p is not part])
    missing = sorted(elsewhere - mine)
    if missing:
        return f"{', '.join(missing)} not given in these calls (given in others)"
    return ""


def _unique_names(regimes: list[Regime]) -> None:
    seen: dict[str, int] = {}
    for regime in regimes:
        count = seen.get(regime.name, 0)
        seen[regime.name] = count + 1
        if count:
            regime.name = f"{regime.name}_{count + 1}"
