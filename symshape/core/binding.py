"""Binding input sets to the forward signature, and the call layout.

Users give input sets in the seed's three forms: a tuple (positional arguments), a
dict (keyword arguments) or a pair ``(tuple, dict)``. Every set is bound to the
forward signature so that every leaf has a name, and one call layout is chosen for
all sets: positional when every set is a plain tuple, keyword otherwise
(torch.export refuses dynamic shapes split between args and kwargs).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InputsError

POSITIONAL = "positional"
KEYWORD = "keyword"


@dataclass(frozen=True)
class Param:
    """One top-level input as the user sees it (the first element of every path)."""

    name: str  # "x", "args[1]" for an element of *args, "z" for a key of **kwargs
    passed: str  # POSITIONAL or KEYWORD: how it is passed to forward at export
    group: str | None = None  # the *args / **kwargs parameter it belongs to
    group_kind: str | None = None  # "var_positional" or "var_keyword"


@dataclass(frozen=True)
class Layout:
    """How the normalised sets are passed to forward and how dynamic shapes nest."""

    params: tuple[Param, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def split(self, values: Mapping[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """Return ``(args, kwargs)`` to call forward (or torch.export) with."""
        args = tuple(values[p.name] for p in self.params if p.passed == POSITIONAL)
        kwargs = {p.name: values[p.name] for p in self.params if p.passed == KEYWORD}
        return args, kwargs

    def join(self, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The inverse of :meth:`split`: ``name -> value`` in parameter order."""
        positional = iter(args)
        return {p.name: next(positional) if p.passed == POSITIONAL else kwargs[p.name] for p in self.params}

    def nest(self, per_param: Mapping[str, Any]) -> tuple | dict[str, Any]:
        """Arrange one object per top-level input the way torch.export wants
        ``dynamic_shapes``: a tuple for a purely positional call, otherwise a dict
        keyed by the forward's parameter names (``*args`` as a tuple, ``**kwargs``
        as a nested dict)."""
        if all(p.passed == POSITIONAL and p.group is None for p in self.params):
            return tuple(per_param[p.name] for p in self.params)
        nested: dict[str, Any] = {}
        for p in self.params:
            value = per_param[p.name]
            if p.group is None:
                nested[p.name] = value
            elif p.group_kind == "var_positional":
                nested[p.group] = (*nested.get(p.group, ()), value)
            else:
                nested.setdefault(p.group, {})[p.name] = value
        return nested

    def to_json(self) -> list[list[Any]]:
        return [[p.name, p.passed, p.group, p.group_kind] for p in self.params]

    @classmethod
    def from_json(cls, data: list[list[Any]]) -> Layout:
        return cls(tuple(Param(*row) for row in data))


def _signature(model: Any) -> inspect.Signature | None:
    if model is None:
        return None
    target = getattr(model, "forward", model) if _is_module(model) else model
    if not callable(target):
        raise InputsError(f"model must be a torch.nn.Module, a callable or None, got {type(model).__name__}")
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):  # builtins without a signature
        return None


def _is_module(model: Any) -> bool:
    return isinstance(model, torch.nn.Module)


def _split_set(index: int, item: Any) -> tuple[tuple, dict[str, Any]]:
    """One input set in the seed's forms -> (positional, keyword)."""
    if isinstance(item, dict):
        return (), dict(item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], tuple) and isinstance(item[1], dict):
        return item[0], dict(item[1])
    if isinstance(item, (tuple, list)):
        return tuple(item), {}
    raise InputsError(
        f"input set #{index} is a {type(item).__name__}; each input set is a tuple "
        f"(positional arguments), a dict (keyword arguments) or a pair (tuple, dict). "
        f"To pass one tensor, write [(tensor,), ...]."
    )


def _materialise(inputs: Any) -> list[Any]:
    """Accept any iterable of input sets; refuse what is clearly one set."""
    if isinstance(inputs, (torch.Tensor, dict, str, bytes)) or not isinstance(inputs, Iterable):
        raise InputsError(
            f"inputs must be a list (or any iterable) of input sets, got a {type(inputs).__name__}; "
            f"for a single set write [inputs]"
        )
    sets = list(inputs)
    if not sets:
        raise InputsError("no input sets: give at least one (two or more to find dynamic dims)")
    if isinstance(inputs, tuple) and any(isinstance(s, torch.Tensor) for s in sets):
        raise InputsError(
            "inputs is a tuple of tensors, which looks like one positional input set; wrap it in a list: [inputs]"
        )
    return sets


def bind_call(signature: inspect.Signature, args: tuple, kwargs: dict[str, Any]) -> list[tuple[Param, Any, Any]]:
    """Bind one call to ``signature``: ``(Param, value, parameter kind)`` per top-level
    input in signature order, ``*args`` and ``**kwargs`` expanded (``args[1]``, their keys).
    A positional-or-keyword parameter is ``passed`` as this call passed it. Raises
    ``TypeError`` (from ``Signature.bind``) when the call does not fit."""
    bound = signature.bind(*args, **kwargs)
    passed_positionally = set(list(signature.parameters)[: len(args)])
    entries: list[tuple[Param, Any, Any]] = []
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            entries += [
                (Param(f"{name}[{i}]", POSITIONAL, name, "var_positional"), v, kind) for i, v in enumerate(value)
            ]
        elif kind is inspect.Parameter.VAR_KEYWORD:
            entries += [(Param(k, KEYWORD, name, "var_keyword"), v, kind) for k, v in value.items()]
        elif kind is inspect.Parameter.POSITIONAL_ONLY:
            entries.append((Param(name, POSITIONAL), value, kind))
        elif kind is inspect.Parameter.KEYWORD_ONLY:
            entries.append((Param(name, KEYWORD), value, kind))
        else:  # positional or keyword: as this call passed it; the layout decides later
            entries.append((Param(name, POSITIONAL if name in passed_positionally else KEYWORD), value, kind))
    return entries


def _bind(
    index: int, signature: inspect.Signature | None, args: tuple, kwargs: dict[str, Any]
) -> list[tuple[Param, Any]]:
    """Bind one set to the signature; return its top-level inputs in signature order."""
    if signature is None:
        entries = [(Param(f"arg{i}", POSITIONAL), v) for i, v in enumerate(args)]
        entries += [(Param(k, KEYWORD), v) for k, v in kwargs.items()]
        return entries
    try:
        return [(param, value) for param, value, _ in bind_call(signature, args, kwargs)]
    except TypeError as exc:
        raise InputsError(
            f"input set #{index} does not fit forward{signature}: {exc} "
            f"(positional: {len(args)}, keyword: {sorted(kwargs)})"
        ) from None


def normalise(model: Any, inputs: Any) -> tuple[Layout, list[dict[str, Any]]]:
    """Bind every input set to ``model``'s forward and choose one call layout.

    Returns the layout and, per set, an ordered dict ``name -> value`` (the user's
    objects, not copies). Raises :class:`InputsError` naming the set and argument
    when a set does not fit the signature or the sets disagree on their arguments.
    """
    sets = _materialise(inputs)
    signature = _signature(model)
    splits = [_split_set(i, s) for i, s in enumerate(sets)]
    bound = [_bind(i, signature, args, kwargs) for i, (args, kwargs) in enumerate(splits)]

    all_positional = all(not kwargs for _, kwargs in splits)
    uses_var_positional = any(p.group_kind == "var_positional" for entries in bound for p, _ in entries)

    reference = bound[0]
    ref_names = [p.name for p, _ in reference]
    for i, entries in enumerate(bound[1:], start=1):
        names = [p.name for p, _ in entries]
        if names != ref_names and sorted(names) == sorted(ref_names):
            # Keywords carry no order (names of positional entries encode their position).
            by_name = dict((p.name, (p, v)) for p, v in entries)
            bound[i] = entries = [by_name[n] for n in ref_names]
            names = ref_names
        if names != ref_names:
            missing = [n for n in ref_names if n not in names]
            extra = [n for n in names if n not in ref_names]
            detail = []
            if missing:
                detail.append(f"missing {missing}")
            if extra:
                detail.append(f"extra {extra}")
            raise InputsError(
                f"input set #{i} does not pass the same arguments as set #0: {', '.join(detail)}. "
                f"Every set must pass the same arguments (set #0 passes {ref_names})."
            )

    params = tuple(
        Param(p.name, _export_passing(p, signature, all_positional, uses_var_positional), p.group, p.group_kind)
        for p, _ in reference
    )
    values = [{p.name: v for p, v in entries} for entries in bound]
    return Layout(params), values


def _export_passing(
    param: Param, signature: inspect.Signature | None, all_positional: bool, uses_var_positional: bool
) -> str:
    """Keyword form wherever Python allows it, unless every set was positional."""
    if signature is None or all_positional:
        return param.passed
    if param.group_kind is not None:
        return POSITIONAL if param.group_kind == "var_positional" else KEYWORD
    kind = signature.parameters[param.name].kind
    if kind is inspect.Parameter.POSITIONAL_ONLY:
        return POSITIONAL
    if uses_var_positional and kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
        return POSITIONAL  # these precede *args, which cannot be passed by keyword
    return KEYWORD
