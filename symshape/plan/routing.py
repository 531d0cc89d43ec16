"""Routing a call to the program whose region holds it, without tracing.

Per program, once: the layout, the input treespec, and the leaf index of every axis to
read (``readers``: one axis per dim of its region; ``fixed``: its static axes). Per
call: bind the arguments to the signature, flatten once per layout, compare the
treespec, read a few sizes and test a few integer constraints. A call whose cache is
empty while a program takes a cache of length 0 (the recorded prefill) is given one,
built from zeros, and the program's returned cache is written back (:mod:`.bind`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core import trees
from ..core.binding import Layout
from ..core.paths import argument_of, axis_label
from ..integrations.transformers import is_cache
from ..spec import DimSpec
from .contract import Contract
from .leaves import Leaf, program_leaves

_JSON_DEFAULTS = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Parameter:
    """One parameter of the routed signature; ``default`` only when ``has_default``."""

    name: str
    kind: str  # inspect.Parameter kind name: "POSITIONAL_OR_KEYWORD", ...
    has_default: bool = False
    default: Any = None

    def to_json(self) -> list[Any]:
        return [self.name, self.kind, self.has_default, self.default]

    @classmethod
    def from_json(cls, data: Any) -> Parameter:
        name, kind, has_default, default = data
        if kind not in _KINDS:
            raise ValueError(f"unknown parameter kind {kind!r}")
        if not isinstance(default, _JSON_DEFAULTS):
            raise ValueError(f"default of {name!r} is not a JSON constant")
        return cls(str(name), kind, bool(has_default), default)


_KINDS = frozenset(k.name for k in type(inspect.Parameter.POSITIONAL_ONLY))


def signature_of(model: Any) -> list[Parameter]:
    """The forward signature as data; defaults that are not JSON constants are dropped
    (such an argument must then be passed)."""
    target = getattr(model, "forward", model)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    out = []
    for p in sig.parameters.values():
        has = p.default is not inspect.Parameter.empty and isinstance(p.default, _JSON_DEFAULTS)
        out.append(Parameter(p.name, p.kind.name, has, p.default if has else None))
    return out


def bind_arguments(params: Sequence[Parameter], args: tuple, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: value}`` as :func:`symshape.core.binding.normalise` names inputs
    (``args[1]`` for ``*args``, a ``**kwargs`` key by itself)."""
    positional = [p for p in params if p.kind in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    values: dict[str, Any] = {}
    if args:
        star = next((p for p in params if p.kind == "VAR_POSITIONAL"), None)
        for i, a in enumerate(args):
            if i < len(positional):
                values[positional[i].name] = a
            elif star is not None:
                values[f"{star.name}[{i - len(positional)}]"] = a
            else:
                raise TypeError(f"{len(args)} positional arguments given, the signature takes {len(positional)}")
    values.update(kwargs)
    return values


@dataclass
class Route:
    """A program, ready to be routed to."""

    name: str
    layout: Layout
    spec: DimSpec
    contract: Contract
    in_spec: Any
    run: Callable[..., Any]
    dims: tuple[str, ...] = ()
    readers: tuple[tuple[int, int | None], ...] = ()
    fixed: tuple[tuple[int, int | None, int], ...] = ()
    compiled: tuple = ()
    #: input name -> (treespec of the input, per leaf (dtype or None, [(terms, const) per axis] or int))
    fills: dict[str, tuple[Any, list[Any]]] = field(default_factory=dict)
    fixed_labels: tuple[str, ...] = ()  # the axis of each ``fixed`` entry, for messages
    example: dict[str, Any] = field(default_factory=dict, repr=False)  # the program's example, by input
    model_fixed: frozenset[str] = frozenset()  # axis labels the model fixes here (for messages)
    constants: tuple[tuple[int, Any], ...] = ()  # (leaf index, value) of flags the program was traced with

    def sizes(self, leaves: Sequence[Any]) -> list[int] | None:
        """The region's dims read from a call's leaves, or None when a static axis or a
        flag differs or the region does not hold."""
        try:
            for i, value in self.constants:
                if leaves[i] != value or type(leaves[i]) is not type(value):
                    return None
            for i, axis, value in self.fixed:
                leaf = leaves[i]
                if (leaf if axis is None else leaf.shape[axis]) != value:
                    return None
            sizes = [leaves[i] if axis is None else leaves[i].shape[axis] for i, axis in self.readers]
        except (AttributeError, IndexError, TypeError):
            return None
        for terms, op, bound in self.compiled:
            v = 0
            for k, c in terms:
                v += c * sizes[k]
            if (v != bound) if op == "==" else (v > bound) if op == "<=" else (v < bound):
                return None
        return sizes

    def read(self, leaves: Sequence[Any]) -> dict[str, int]:
        """The dims of the region read from a call of this structure (for messages)."""
        out = {}
        for dim, (i, axis) in zip(self.dims, self.readers):
            try:
                out[dim] = int(leaves[i] if axis is None else leaves[i].shape[axis])
            except (AttributeError, IndexError, TypeError):
                pass
        return out


def make_route(name: str, program: Any, spec: DimSpec, contract: Contract) -> Route:
    """Precompute what routing reads for one program (``program``: an ExportedProgram)."""
    trees.prepare()
    leaves, inputs = program_leaves(program, spec)
    index = {leaf.path: i for i, leaf in enumerate(leaves)}
    dims = tuple(contract.region.dims)
    readers = tuple((index[contract.readers[d][0]], contract.readers[d][1]) for d in dims)
    fixed = tuple((index[p], a, v) for p, a, v in contract.fixed if p in index)
    route = Route(
        name,
        spec.layout,
        spec,
        contract,
        program.call_spec.in_spec,
        program.module(),
        dims,
        readers,
        fixed,
        contract.region.compiled(dims),
    )
    route.constants = tuple(
        (i, leaf.value) for i, leaf in enumerate(leaves) if isinstance(leaf.value, (bool, float, str))
    )
    route.example = inputs
    route.fills = _fills(spec, contract, leaves, inputs)
    route.fixed_labels = tuple(axis_label(p, a) for p, a, _ in contract.fixed if p in index)
    return route


def _fills(
    spec: DimSpec, contract: Contract, leaves: Sequence[Leaf], inputs: Mapping[str, Any]
) -> dict[str, tuple[Any, list[Any]]]:
    """Inputs the program takes as caches of length 0 that a caller may pass empty:
    per input, its treespec and per leaf ``(dtype, [(terms, const) per axis])`` (a tensor),
    ``(None, [(terms, const)])`` (an int) or ``(None, value)`` (a constant)."""
    fills = {}
    rows = {(a.path, a.axis): a for a in spec.axes}
    for name, value in inputs.items():
        mine = [leaf for leaf in leaves if argument_of(leaf.path) == name]
        tensors = [leaf for leaf in mine if leaf.kind == "tensor"]
        if not is_cache(value) or not tensors or not all(leaf.empty for leaf in tensors):
            continue
        plan: list[Any] = []
        for leaf in mine:
            if leaf.kind == "constant":
                plan.append((None, leaf.value))
                continue
            axes = [None] if leaf.kind == "int" else list(range(len(leaf.shape)))
            shape = [rows.get((leaf.path, axis)) for axis in axes]
            if any(r is None for r in shape):
                break
            plan.append((leaf.dtype, [(r.terms, r.const) for r in shape]))
        else:
            dims = {d for _, axes in plan if isinstance(axes, list) for terms, _ in axes for d, _ in terms}
            # every size of the cache must be read from the other inputs (the batch from input_ids)
            if all(d in contract.readers and argument_of(contract.readers[d][0]) != name for d in dims):
                fills[name] = (trees.structure(value), plan)
    return fills


def filled(route: Route, name: str, sizes: Mapping[str, int]) -> Any:
    """A cache of length 0 laid out as ``route``'s input ``name``, at ``sizes``."""
    structure, plan = route.fills[name]
    leaves = []
    for dtype, axes in plan:
        if dtype is not None:
            shape = [sum(c * sizes[d] for d, c in terms) + const for terms, const in axes]
            leaves.append(torch.zeros(shape, dtype=dtype))
        elif isinstance(axes, list):
            terms, const = axes[0]
            leaves.append(sum(c * sizes[d] for d, c in terms) + const)
        else:
            leaves.append(axes)
    return trees.unflatten(leaves, structure)


_MISSING = object()


@dataclass
class Candidate:
    """A program a call may run through, with the arguments to call it with."""

    route: Route
    args: tuple
    kwargs: dict[str, Any]
    #: input name -> the caller's object that a built cache of length 0 replaced
    replaced: dict[str, Any] = field(default_factory=dict)


class Router:
    """Finds the programs whose structure and region hold a call, in plan order."""

    def __init__(self, routes: Sequence[Route], params: Sequence[Parameter]) -> None:
        self.routes = list(routes)
        self.params = list(params)
        self.defaults = {p.name: p.default for p in params if p.has_default}
        self.by_layout: list[tuple[Layout, list[tuple[Any, list[Route]]]]] = []
        for route in self.routes:
            classes = next((c for layout, c in self.by_layout if layout == route.layout), None)
            if classes is None:
                classes = []
                self.by_layout.append((route.layout, classes))
            for in_spec, members in classes:
                if in_spec == route.in_spec:
                    members.append(route)
                    break
            else:
                classes.append((route.in_spec, [route]))

    def arrange(self, values: Mapping[str, Any], layout: Layout) -> dict[str, Any] | None:
        """``values`` in ``layout``'s order, defaults filled; None when they do not fit it."""
        out = {}
        for p in layout.params:
            v = values.get(p.name, _MISSING)
            if v is _MISSING:
                if p.name not in self.defaults:
                    return None
                v = self.defaults[p.name]
            out[p.name] = v
        for name, v in values.items():
            if (
                name not in out
                and v is not None
                and not (name in self.defaults and not isinstance(v, torch.Tensor) and v == self.defaults[name])
            ):
                return None
        return out

    def candidates(self, args: tuple, kwargs: Mapping[str, Any]) -> Any:
        """Yield a :class:`Candidate` per program that holds the call, first match first."""
        values = bind_arguments(self.params, args, kwargs)
        for layout, classes in self.by_layout:
            arranged = self.arrange(values, layout)
            if arranged is None:
                continue
            pa, pk = layout.split(arranged)
            leaves, spec = trees.flatten((pa, pk))
            for in_spec, members in classes:
                if spec == in_spec:
                    for route in members:
                        if route.sizes(leaves) is not None:
                            yield Candidate(route, pa, pk)
        yield from self._filled_candidates(values)

    def _filled_candidates(self, values: Mapping[str, Any]) -> Any:
        """Programs that take a cache of length 0 where the call passes an empty cache."""
        for route in self.routes:
            arranged = self.arrange(values, route.layout) if route.fills else None
            done = self.fill(route, arranged) if arranged is not None else None
            if done is None:
                continue
            arranged, replaced = done
            pa, pk = route.layout.split(arranged)
            leaves, spec = trees.flatten((pa, pk))
            if spec == route.in_spec and route.sizes(leaves) is not None:
                yield Candidate(route, pa, pk, replaced)

    def fill(self, route: Route, arranged: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """``arranged`` with each empty cache ``route`` takes as a cache of length 0 built
        from zeros, and the caller's objects it replaced; None when there is none to fill."""
        empty = [n for n in route.fills if is_cache(arranged.get(n)) and not _has_tensor(arranged[n])]
        if not empty:
            return None
        sizes = _read_outside(route, {n: v for n, v in arranged.items() if n not in empty})
        if sizes is None:
            return None
        replaced = {n: arranged[n] for n in empty}
        filled_in = dict(arranged)
        try:
            for n in empty:
                filled_in[n] = filled(route, n, sizes)
        except (KeyError, RuntimeError, ValueError):
            return None
        return filled_in, replaced


def _has_tensor(value: Any) -> bool:
    return any(isinstance(t, torch.Tensor) for t in trees.leaves(value))


def _read_outside(route: Route, outside: Mapping[str, Any]) -> dict[str, int] | None:
    """The dims a fill needs, read from the other inputs (their readers are outside the cache)."""
    sizes = {}
    by_path = trees.leaves_by_path(dict(outside))
    for dim, (path, axis) in route.contract.readers.items():
        if path not in by_path:
            continue
        leaf = by_path[path]
        try:
            sizes[dim] = int(leaf if axis is None else leaf.shape[axis])
        except (AttributeError, IndexError, TypeError):
            return None
    return sizes
