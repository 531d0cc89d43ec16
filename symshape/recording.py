"""``symshape.observe``: record the real calls of a model (e.g. during ``generate()``).

    with symshape.observe(model) as obs:
        model.generate(**batch, max_new_tokens=8)
    result = symshape.export(model, obs.inputs)

Every call of ``model.<method>`` made inside the block is bound to the method's
signature and recorded as one input set (a dict of keyword arguments, or a pair
``(args, kwargs)`` when the signature has positional-only or ``*args`` parameters).
The model is restored exactly on exit (the instance attribute is removed, or the one
that was there is put back).

What is kept (memory stays bounded on long generations):

* every call: the shape, dtype and structure of every tensor (as ``meta`` tensors,
  which own no storage) and every Python value: enough for inference;
* the first ``keep_first`` calls (default 8) and then calls 16, 32, 64, ... (powers of
  two): a deep copy of every tensor, taken *before* the call runs (``forward`` grows
  caches in place). These serve as export examples and for verification;
  ``keep="all"`` keeps every call in full, ``keep="shapes"`` none.

Calls kept as shapes only are verified after export on inputs of their exact shapes
built from a kept call (values tiled from it); their check says so.

Prefill and decode realities (transformers conventions):

* an empty ``DynamicCache`` (prefill: no layer initialised yet) is recorded as a
  cache of length 0 when another call shows the layout of that cache: same layers,
  keys and values of shape ``(batch, heads, 0, head_dim)``. A length of 0 is then a
  valid value of ``past_len`` (the program accepts it) but never the tracing example;
* an ``EncoderDecoderCache`` whose cross-attention cache is still empty is left as is:
  at that call the model computes the cross-attention keys and values from
  ``encoder_outputs``, a different graph from the decode steps. Such calls are not
  covered by the decode program; the report says so;
* keyword arguments that some calls do not pass are filled with the signature's
  default (usually ``None``) so that all calls name the same arguments.

This module also builds a synthetic example that is safe to trace when no recorded
call is (:func:`safe_example`): a decode step (one token) is extended to several
tokens consistently (ids, mask, positions grow together), and an axis declared
dynamic (``dynamic={"batch"}``) that did not vary is grown by repeating rows.
"""

from __future__ import annotations

import copy
import inspect
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import torch
import torch.utils._pytree as pytree

from .inputs import copy_set
from .naming import argument_of, conventionally_dynamic

#: Calls kept in full at the start of a recording.
KEEP_FIRST = 8


@dataclass(frozen=True)
class CallRecord:
    """What was kept of one recorded call."""

    index: int
    kept: bool  # a full deep copy (True) or shapes only (meta tensors)
    bytes_kept: int  # tensor storage kept for this call
    shapes: dict[str, Any]  # path -> shape (tensors) or value (ints), before the call ran


class RecordedInputs(list):
    """The recorded input sets: a plain list that also tells symshape that its sets
    may differ in structure (prefill / decode) and that a safe example may be built."""

    symshape_partial = True
    symshape_synthesize = True

    def __init__(self, items: Iterable[Any] = (), records: Sequence[CallRecord] = (), notes: Sequence[str] = ()) -> None:
        super().__init__(items)
        self.records = list(records)
        self.notes = list(notes)


def _is_cache(value: Any) -> bool:
    cache_utils = sys.modules.get("transformers.cache_utils")
    return cache_utils is not None and isinstance(value, cache_utils.Cache)


def _tensor_bytes(obj: Any) -> int:
    seen: set[int] = set()
    total = 0
    for leaf in _leaves(obj):
        if isinstance(leaf, torch.Tensor) and leaf.device.type != "meta":
            key = id(leaf.untyped_storage()) if leaf.numel() else id(leaf)
            if key not in seen:
                seen.add(key)
                total += leaf.untyped_storage().nbytes()
    return total


def _leaves(obj: Any) -> list[Any]:
    from .caches import ensure_registered

    ensure_registered()
    return pytree.tree_leaves(obj)


def meta_copy(values: Any) -> Any:
    """A copy of an input set whose tensors are ``meta`` tensors (shapes and dtypes, no storage)."""
    memo: dict[int, Any] = {}
    for leaf in _leaves(values):
        if isinstance(leaf, torch.Tensor):
            memo[id(leaf)] = torch.empty(leaf.shape, dtype=leaf.dtype, device="meta")
    # Cache layers may hold tensors pytree does not see (uninitialised layers hold none).
    return copy.deepcopy(values, memo)


def _shapes(values: Mapping[str, Any]) -> dict[str, Any]:
    from .observation import leaves_by_path

    out: dict[str, Any] = {}
    for path, leaf in leaves_by_path(dict(values)).items():
        if isinstance(leaf, torch.Tensor):
            out[path] = tuple(leaf.shape)
        elif isinstance(leaf, int) and not isinstance(leaf, bool):
            out[path] = leaf
    return out


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class Observer:
    """The recording made by :func:`observe` (see the module docstring)."""

    def __init__(self, model: Any, *, max_calls: int | None, method: str, keep: str, keep_first: int) -> None:
        if keep not in ("auto", "all", "shapes"):
            raise ValueError(f"keep must be 'auto', 'all' or 'shapes', got {keep!r}")
        self.model = model
        self.method = method
        self.max_calls = max_calls
        self.keep = keep
        self.keep_first = keep_first
        self.calls_seen = 0
        self._sets: list[Any] = []
        self._records: list[CallRecord] = []
        self._signature: inspect.Signature | None = None
        self._inputs: RecordedInputs | None = None
        self._passed: dict[str, None] = {}  # keyword names passed by some call, in order

    # -- recording -------------------------------------------------------------------
    def _keeps(self, index: int) -> bool:
        if self.keep == "all":
            return True
        if self.keep == "shapes":
            return False
        return index < self.keep_first or _is_power_of_two(index)

    def _record(self, args: tuple, kwargs: dict[str, Any]) -> None:
        index = self.calls_seen
        self.calls_seen += 1
        if self.max_calls is not None and len(self._sets) >= self.max_calls:
            return
        values = self._bind(args, kwargs)
        kept = self._keeps(index)
        stored = copy_set(values) if kept else meta_copy(values)
        self._sets.append(stored)
        self._records.append(CallRecord(index, kept, _tensor_bytes(stored), _shapes(stored if isinstance(stored, dict) else stored[1])))
        self._inputs = None

    def _bind(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        sig = self._signature
        if sig is None:
            return (tuple(args), dict(kwargs)) if args else dict(kwargs)
        bound = sig.bind(*args, **kwargs)
        kinds = {n: p.kind for n, p in sig.parameters.items()}
        positional: list[Any] = []
        keyword: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = kinds[name]
            if kind is inspect.Parameter.POSITIONAL_ONLY:
                positional.append(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                positional.extend(value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                keyword.update(value)
            else:
                keyword[name] = value
        for name in keyword:
            self._passed.setdefault(name, None)
        return (tuple(positional), keyword) if positional else keyword

    # -- results ---------------------------------------------------------------------
    @property
    def records(self) -> list[CallRecord]:
        """One record per recorded call: kept in full or as shapes, bytes kept, shapes."""
        return list(self._records)

    @property
    def inputs(self) -> RecordedInputs:
        """The recorded input sets, usable by ``infer_dims`` and ``export``."""
        if self._inputs is None:
            sets, notes = _finalise(self._sets, self._signature, list(self._passed))
            self._inputs = RecordedInputs(sets, self._records, notes)
        return self._inputs

    @property
    def bytes_kept(self) -> int:
        return sum(r.bytes_kept for r in self._records)

    def infer_dims(self, **options: Any):
        """``symshape.infer_dims(model, obs.inputs, **options)`` (``names=``, ``dynamic=``)."""
        from .infer import infer_dims

        return infer_dims(self.model, self.inputs, **options)

    def export(self, **options: Any):
        """``symshape.export(model, obs.inputs, **options)``."""
        from .export import export

        return export(self.model, self.inputs, **options)

    def summary(self) -> str:
        kept = sum(r.kept for r in self._records)
        lines = [
            f"{len(self._records)} call(s) of {self.method} recorded ({self.calls_seen} seen); "
            f"{kept} kept in full, {len(self._records) - kept} as shapes; {self.bytes_kept} bytes of tensors kept"
        ]
        lines += [f"  - {n}" for n in self.inputs.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Observer({len(self._records)} calls, {self.bytes_kept} bytes kept)"


class observe:  # noqa: N801 - used as a context manager, like a function
    """Record every call of ``model.<method>`` made inside the ``with`` block.

    ``max_calls`` stops recording after that many calls (the calls still run).
    ``keep`` is ``"auto"`` (full copies of the first ``keep_first`` calls and of calls
    16, 32, 64, ...; shapes only for the others), ``"all"`` or ``"shapes"``.
    """

    def __init__(self, model: Any, *, max_calls: int | None = None, method: str = "forward", keep: str = "auto", keep_first: int = KEEP_FIRST) -> None:
        self.observer = Observer(model, max_calls=max_calls, method=method, keep=keep, keep_first=keep_first)
        self._saved: tuple[bool, Any] | None = None

    def __enter__(self) -> Observer:
        obs = self.observer
        model = obs.model
        original = getattr(model, obs.method)
        try:
            obs._signature = inspect.signature(original)
        except (TypeError, ValueError):
            obs._signature = None
        instance_dict = getattr(model, "__dict__", {})
        self._saved = (obs.method in instance_dict, instance_dict.get(obs.method))

        def recorder(*args: Any, **kwargs: Any) -> Any:
            obs._record(args, kwargs)
            return original(*args, **kwargs)

        recorder.__wrapped__ = original  # type: ignore[attr-defined]
        try:
            recorder.__signature__ = obs._signature  # type: ignore[attr-defined]
        except AttributeError:
            pass
        model.__dict__[obs.method] = recorder  # an instance attribute shadows the method (Module.__setattr__ bypassed)
        return obs

    def __exit__(self, *exc: Any) -> None:
        obs = self.observer
        had, value = self._saved  # type: ignore[misc]
        if had:
            obs.model.__dict__[obs.method] = value
        else:
            del obs.model.__dict__[obs.method]


# ------------------------------------------------------------------ prefill realities


def _finalise(sets: list[Any], signature: inspect.Signature | None, passed: list[str]) -> tuple[list[Any], list[str]]:
    """Fill absent keyword arguments with their default and give empty caches length 0."""
    notes: list[str] = []
    out = []
    for s in sets:
        args, kwargs = s if isinstance(s, tuple) else ((), s)
        kwargs = dict(kwargs)
        if signature is not None:
            for name in passed:
                if name not in kwargs and name in signature.parameters and signature.parameters[name].default is not inspect.Parameter.empty:
                    kwargs[name] = signature.parameters[name].default
            order = {n: i for i, n in enumerate(passed)}
            kwargs = dict(sorted(kwargs.items(), key=lambda kv: order.get(kv[0], len(order))))
        out.append((args, kwargs) if args else kwargs)
    for name in passed:
        for i, s in enumerate(out):
            kwargs = s[1] if isinstance(s, tuple) else s
            value = kwargs.get(name)
            if not _is_cache(value):
                continue
            reference = _reference_call(out, name)
            if reference is None:
                continue
            note = _materialise_empty_cache(kwargs, name, reference, i)
            if note:
                notes.append(note)
    return out, notes


def _layers_initialised(cache: Any) -> bool | None:
    layers = getattr(cache, "layers", None)
    if not layers:
        return None
    states = [bool(getattr(layer, "is_initialized", False)) for layer in layers]
    return all(states) if all(states) or not any(states) else None


def _reference_call(sets: list[Any], name: str) -> dict[str, Any] | None:
    """The first call whose cache ``name`` has every layer initialised (for its layout)."""
    for s in sets:
        kwargs = s[1] if isinstance(s, tuple) else s
        cache = kwargs.get(name)
        target = getattr(cache, "self_attention_cache", cache)
        if _layers_initialised(target) and (not hasattr(cache, "cross_attention_cache") or _layers_initialised(cache.cross_attention_cache)):
            return kwargs
    return None


def _batch_of(kwargs: Mapping[str, Any], reference: Mapping[str, Any], ref_batch: int) -> int:
    """This call's batch: axis 0 of the first tensor argument whose axis 0 is the reference cache's."""
    for name, value in reference.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == ref_batch:
            mine = kwargs.get(name)
            if isinstance(mine, torch.Tensor) and mine.dim() >= 1:
                return mine.shape[0]
    return ref_batch


def _materialise_empty_cache(kwargs: dict[str, Any], name: str, reference: Mapping[str, Any], index: int) -> str | None:
    cache = kwargs[name]
    ref_cache = reference[name]
    if hasattr(cache, "cross_attention_cache"):
        if _layers_initialised(cache.cross_attention_cache) is False:
            return (
                f"call #{index}: {name}.cross_attention_cache is empty: the model computes the cross-attention keys and "
                f"values from encoder_outputs at this call (the first decoder step), a different graph from the later "
                f"steps; a program exported from a later step does not cover it (export it separately)"
            )
        cache, ref_cache, where = cache.self_attention_cache, ref_cache.self_attention_cache, f"{name}.self_attention_cache"
    else:
        where = name
    if _layers_initialised(cache) is not False:
        return None
    layers, ref_layers = cache.layers, getattr(ref_cache, "layers", [])
    if len(layers) != len(ref_layers) or any(type(a).__name__ != "DynamicLayer" or type(a) is not type(b) for a, b in zip(layers, ref_layers)):
        return f"call #{index}: {where} is empty and its layers are not plain DynamicLayers: left as is"
    batch = _batch_of(kwargs, reference, ref_layers[0].keys.shape[0])
    for layer, ref in zip(layers, ref_layers):
        for attr in ("keys", "values"):
            t = getattr(ref, attr)
            shape = (batch, *t.shape[1:-2], 0, t.shape[-1])
            device = "meta" if t.device.type == "meta" else t.device
            setattr(layer, attr, torch.zeros(shape, dtype=t.dtype, device=device))
        layer.device = ref.device if hasattr(ref, "device") else torch.device("cpu")
        layer.is_initialized = True
    return f"call #{index}: {where} was empty (prefill): recorded as a cache of length 0"


# ------------------------------------------------------------------ safe examples


def is_shape_only(values: Any) -> bool:
    """True when an input set holds meta tensors (a call recorded as shapes only)."""
    return any(isinstance(leaf, torch.Tensor) and leaf.device.type == "meta" for leaf in _leaves(values))



def resize(t: torch.Tensor, shape: Sequence[int], path: str = "", cyclic_axes: Iterable[int] = ()) -> torch.Tensor:
    """``t`` grown or cut to ``shape``, axis by axis, consistently with what the axis holds.

    Growing: position-like int tensors (``position_ids``, ``cache_position``) continue
    counting; axes in ``cyclic_axes`` (a batch) repeat their rows; other axes repeat
    their last slice (a mask gains ones after a real token, ids repeat the last token).
    Cutting keeps the leading part. An axis of size 0 cannot grow: ValueError.
    """
    cyclic = set(cyclic_axes)
    positional = "position" in argument_of(path) and not t.is_floating_point()
    for axis, new in enumerate(shape):
        old = t.shape[axis]
        if new == old:
            continue
        if new < old:
            t = t.narrow(axis, 0, new)
            continue
        if old == 0:
            raise ValueError(f"{path}.shape[{axis}] is 0 and cannot be grown to {new}")
        if axis in cyclic:
            index = torch.arange(new, device=t.device) % old
            t = t.index_select(axis, index)
            continue
        last = t.narrow(axis, old - 1, 1)
        reps = [1] * t.dim()
        reps[axis] = new - old
        tail = last.repeat(*reps)
        if positional:
            steps = torch.arange(1, new - old + 1, dtype=t.dtype, device=t.device)
            view = [1] * t.dim()
            view[axis] = new - old
            tail = tail + steps.view(view)
        t = torch.cat([t, tail], dim=axis)
    return t.contiguous()


def materialise_like(target: Any, source: Any) -> Any:
    """A set with ``target``'s structure and shapes (meta tensors allowed) and real
    values taken from ``source`` (same structure), resized leaf by leaf."""
    from .caches import ensure_registered
    from .observation import format_path

    ensure_registered()
    t_leaves, spec = pytree.tree_flatten_with_path(target)
    s_leaves = pytree.tree_leaves(source)
    out = []
    for (keys, t), s in zip(t_leaves, s_leaves):
        if isinstance(t, torch.Tensor) and t.device.type == "meta":
            path = format_path(keys)
            if isinstance(s, torch.Tensor) and s.device.type != "meta" and s.dim() == t.dim():
                try:
                    out.append(resize(s.to(t.dtype), t.shape, path, cyclic_axes=(0,) if t.dim() >= 2 else ()))
                    continue
                except ValueError:
                    pass
            out.append(torch.zeros(t.shape, dtype=t.dtype) if not t.is_floating_point() else torch.randn(t.shape, generator=torch.Generator().manual_seed(0)).to(t.dtype))
        else:
            out.append(copy.deepcopy(t) if isinstance(t, torch.Tensor) else t)
    return pytree.tree_unflatten(out, spec)


def declared_columns(observation: Any, solution: Any, declared: Iterable[str]) -> tuple[dict[str, list[int]], list[str]]:
    """Static columns made dynamic by ``dynamic=``: a conventional dim name (``"batch"``:
    every axis conventionally called so) or ``"path:axis"``. Returns name -> columns, and
    the entries that matched nothing static (already dynamic, or unknown)."""
    from .naming import conventional_name

    arguments = frozenset(argument_of(leaf.path) for leaf in observation.leaves)
    by_label: dict[str, int] = {}
    for i, c in enumerate(observation.columns):
        leaf = observation.leaves[c.leaf]
        by_label[leaf.path if c.axis is None else f"{leaf.path}:{c.axis}"] = i
    groups: dict[str, list[int]] = {}
    unmatched = []
    for entry in declared:
        if entry in by_label:
            cols = [by_label[entry]]
        else:
            cols = []
            for i, c in enumerate(observation.columns):
                leaf = observation.leaves[c.leaf]
                found = conventional_name(leaf.path, c.axis, leaf.rank, arguments)
                if found and found[0] == entry:
                    cols.append(i)
        static = [i for i in cols if solution.column_class[i] < 0]
        if static:
            values = {observation.columns[i].values[0] for i in static}
            if len(values) > 1:  # conventional names over axes that differ: keep the most common value
                counts = {v: sum(observation.columns[i].values[0] == v for i in static) for v in values}
                keep = max(sorted(values), key=counts.get)
                static = [i for i in static if observation.columns[i].values[0] == keep]
            groups[entry] = static
        else:
            unmatched.append(entry)
    return groups, unmatched


def conventional_static(observation: Any, solution: Any) -> dict[str, list[str]]:
    """Static axes with a conventionally dynamic name (batch, seq_len, past_len, ...)."""
    arguments = frozenset(argument_of(leaf.path) for leaf in observation.leaves)
    found: dict[str, list[str]] = {}
    for i, c in enumerate(observation.columns):
        if solution.column_class[i] >= 0 or c.axis is None:
            continue
        leaf = observation.leaves[c.leaf]
        name = conventionally_dynamic(leaf.path, c.axis, leaf.rank, arguments)
        if name is not None:
            found.setdefault(name, []).append(f"{observation.label(c)}={c.values[0]}")
    return found


def safe_example(
    observation: Any,
    solution: Any,
    names: Sequence[str],
    sets: Sequence[Any],
    eligible: Iterable[int],
    declared: Mapping[str, list[int]],
    run: Any = None,
) -> tuple[Any, str] | tuple[None, str]:
    """Build an input set that is safe to trace from an observed one.

    Every dynamic root and every declared group gets an example value >= 2 distinct from
    the others (a decode step's one token becomes several, a batch of 1 becomes 2); each
    axis is resized to its expression at the new values, so every relation solved from
    the observations holds in the new set. ``run(set)`` (eager forward) must accept it.
    Returns (set, description) or (None, why not).
    """
    roots = list(solution.roots)
    group_names = list(declared)
    col_of = {(c.leaf, c.axis): i for i, c in enumerate(observation.columns)}
    static_values = {c.values[0] for i, c in enumerate(observation.columns) if solution.column_class[i] < 0 and c.axis is not None}
    reasons: list[str] = []
    candidates = []
    for s in eligible:
        root_values = [solution.class_values[cls][s] for cls in roots]
        group_values = [observation.columns[cols[0]].values[s] for cols in declared.values()]
        if min([*root_values, *group_values], default=1) < 1:
            zero = [names[r] for r, v in enumerate(root_values) if v < 1]
            reasons.append(f"set #{s} has {', '.join(zero) or 'a declared axis'} = 0")
            continue
        bad = sum(v < 2 for v in [*root_values, *group_values]) + len(root_values) + len(group_values) - len(set([*root_values, *group_values]))
        candidates.append((bad, -s, s, root_values, group_values))
    if not candidates:
        return None, "; ".join(reasons) or "no eligible input set"
    candidates.sort()
    for _, _, base, root_values, group_values in candidates:
        old = [*root_values, *group_values]
        new: list[int] = []
        for k, v in enumerate(old):
            declared_group = k >= len(roots)  # did not vary: must take another value
            if v >= 2 and v not in new and not declared_group:
                new.append(v)
                continue
            w = max(2, v + 1 if declared_group else v)
            while w in new or w in old or w in static_values:
                w += 1
            new.append(w)
        new_roots, new_groups = new[: len(roots)], new[len(roots):]
        changes = [f"{names[r]} {a} -> {b}" for r, (a, b) in enumerate(zip(root_values, new_roots)) if a != b]
        changes += [f"{g} {a} -> {b}" for g, a, b in zip(group_names, group_values, new_groups) if a != b]
        group_of = {col: (g, v) for g, (cols, v) in zip(group_names, zip(declared.values(), new_groups)) for col in cols}
        try:
            candidate = _resized_set(observation, solution, sets[base], col_of, new_roots, group_of)
        except ValueError as exc:
            reasons.append(f"set #{base}: {exc}")
            continue
        if run is not None:
            try:
                run(copy_set(candidate))
            except Exception as exc:  # the model refuses the built set: say so, try the next
                reasons.append(f"set #{base} resized ({', '.join(changes)}) fails in eager: {type(exc).__name__}: {str(exc)[:200]}")
                continue
        return candidate, f"built from set #{base}: {', '.join(changes)}"
    return None, "; ".join(reasons)


def _resized_set(observation: Any, solution: Any, base: Any, col_of: Mapping, new_roots: Sequence[int], group_of: Mapping) -> Any:
    from .caches import ensure_registered

    ensure_registered()
    leaves, spec = pytree.tree_flatten(base)
    out = []
    for index, (leaf, value) in enumerate(zip(observation.leaves, leaves)):
        if leaf.kind == "tensor":
            shape, cyclic = [], []
            for axis in range(leaf.rank or 0):
                col = col_of[(index, axis)]
                if col in group_of:
                    shape.append(group_of[col][1])
                    cyclic.append(axis)
                elif solution.column_class[col] >= 0:
                    shape.append(solution.class_expr[solution.column_class[col]].evaluate(new_roots))
                    if axis == 0 and (leaf.rank or 0) >= 2:  # a batch: repeat whole rows
                        cyclic.append(axis)
                else:
                    shape.append(value.shape[axis])
            out.append(resize(value, shape, leaf.path, cyclic) if list(shape) != list(value.shape) else value.clone())
        elif leaf.kind == "int":
            col = col_of[(index, None)]
            cls = solution.column_class[col]
            out.append(solution.class_expr[cls].evaluate(new_roots) if cls >= 0 else value)
        else:
            out.append(copy.deepcopy(value))
    return pytree.tree_unflatten(out, spec)


# ---------------------------------------------------------------- calls of several structures


def _set_key(values: Any) -> tuple[tuple[Any, ...], dict[str, str]]:
    import torch
    import torch.utils._pytree as pytree

    from .caches import ensure_registered
    from .observation import format_path

    ensure_registered()
    leaves, spec = pytree.tree_flatten_with_path(values)
    tags: dict[str, str] = {}
    for keys, leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            tags[format_path(keys)] = f"tensor{leaf.dim()}"
        elif isinstance(leaf, int) and not isinstance(leaf, bool):
            tags[format_path(keys)] = "int"
    return (str(spec), tuple(tags.items())), tags


def main_structure(sets: list[dict[str, Any]]) -> tuple[list[int], dict[int, Any], list[str]]:
    """Sets of several structures: keep the structure most sets share (ties: more sized
    leaves), project onto it the sets that hold all its sized leaves, leave out the others."""
    from .observation import format_path, leaves_by_path

    keys = [_set_key(s) for s in sets]
    counts: dict[Any, int] = {}
    for key, _ in keys:
        counts[key] = counts.get(key, 0) + 1
    if len(counts) == 1:
        return list(range(len(sets))), {}, []
    main_key = max(counts, key=lambda k: (counts[k], len(k[1])))
    main_index = next(i for i, (k, _) in enumerate(keys) if k == main_key)
    main_tags = keys[main_index][1]
    used, projected, notes = [], {}, []
    for i, (key, tags) in enumerate(keys):
        if key == main_key:
            used.append(i)
            continue
        missing = [p for p, tag in main_tags.items() if tags.get(p) != tag]
        if missing:
            notes.append(
                f"input set #{i} is left out: it lacks {missing[0]} as {main_tags[missing[0]]}"
                + (f" (and {len(missing) - 1} more leaves)" if len(missing) > 1 else "")
                + f" that {counts[main_key]} other set(s) have; a call of another structure is another graph "
                f"(e.g. a prefill without cache): export it separately"
            )
            continue
        flat = leaves_by_path(sets[i])
        main_leaves, spec = pytree.tree_flatten_with_path(sets[main_index])
        values = [flat[format_path(p)] if format_path(p) in main_tags else v for p, v in main_leaves]
        projected[i] = pytree.tree_unflatten(values, spec)
        used.append(i)
        extra = [p for p in tags if p not in main_tags]
        notes.append(
            f"input set #{i} has another structure ({', '.join(extra[:3]) or 'other constants'} present only there); "
            f"its sizes of the shared inputs are used, not as an example"
        )
    return used, projected, notes
