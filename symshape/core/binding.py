"""Binding input sets to the forward signature, and the call layout.

Users give input sets in the seed's three forms: a tuple (positional arguments), a
dict (keyword arguments) or a pair ``(tuple, dict)``. Every set is bound to the
forward signature so that every leaf has a name, and one call layout is chosen for
all sets: positional when every set is a plain tuple, keyword otherwise
(torch.export refuses dynamic shapes split between args and kwargs).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InputsError, MixedArgumentsError

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
        return _cached_signature(target)
    except (TypeError, ValueError):  # builtins without a signature
        return None


#: ``inspect.signature`` per function (a bound method by its function: ``model.forward`` is
#: a new object on every access), with the attributes it was computed from.
_SIGNATURES: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], inspect.Signature]] = weakref.WeakKeyDictionary()
_BOUND_SIGNATURES: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], inspect.Signature]] = (
    weakref.WeakKeyDictionary()
)


def _cached_signature(target: Any) -> inspect.Signature:
    """``inspect.signature(target)``, computed once per plain function or method.

    It is computed again when an attribute ``inspect.signature`` reads (code, defaults,
    ``__signature__``, ``__wrapped__``) is another object than last time. Other callables
    (partials, objects with ``__call__``, builtins) are not cached."""
    bound = inspect.ismethod(target)
    func = target.__func__ if bound else target
    if not inspect.isfunction(func):
        return inspect.signature(target)
    attrs = func.__dict__
    marks = (func.__code__, func.__defaults__, func.__kwdefaults__)
    marks += (attrs.get("__signature__"), attrs.get("__wrapped__"))
    table = _BOUND_SIGNATURES if bound else _SIGNATURES
    found = table.get(func)
    if found is not None and all(a is b for a, b in zip(found[0], marks)):
        return found[1]
    signature = inspect.signature(target)
    table[func] = (marks, signature)
    return signature


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
    arguments = _plain_bind(signature, args, kwargs)
    if arguments is None:
        arguments = signature.bind(*args, **kwargs).arguments
    passed_positionally = set(list(signature.parameters)[: len(args)])
    entries: list[tuple[Param, Any, Any]] = []
    for name, value in arguments.items():
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


_P = inspect.Parameter
_BY_POSITION = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
_BY_NAME = (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)
#: id(signature) -> (signature, ((name, kind, required), ...)); a few, for the signatures in use.
_PARAMETERS: dict[int, tuple[inspect.Signature, tuple[tuple[str, Any, bool], ...]]] = {}


def _plain_bind(signature: inspect.Signature, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """``signature.bind(*args, **kwargs).arguments`` for the plain case, in a fraction of its
    time: the arguments fill named parameters (no ``*args`` / ``**kwargs`` entry), the
    positional ones the first parameters, every required one is given. None otherwise
    (``Signature.bind`` then binds, or raises its ``TypeError``)."""
    found = _PARAMETERS.get(id(signature))
    if found is None or found[0] is not signature:
        if len(_PARAMETERS) >= 64:
            _PARAMETERS.clear()
        params = tuple((p.name, p.kind, p.default is _P.empty) for p in signature.parameters.values())
        found = _PARAMETERS[id(signature)] = (signature, params)
    params = found[1]
    count = len(args)
    if count > len(params) or any(kind not in _BY_POSITION for _, kind, _ in params[:count]):
        return None
    arguments = {name: value for (name, _, _), value in zip(params, args)}
    given = 0
    for name, kind, required in params[count:]:
        if name in kwargs:
            if kind not in _BY_NAME:
                return None
            arguments[name] = kwargs[name]
            given += 1
        elif required and kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            return None
    return arguments if given == len(kwargs) else None  # else a name no parameter takes (or one taken twice)


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
            raise MixedArgumentsError(
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
