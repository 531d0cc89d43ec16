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
* calls 0 to ``keep_first - 1`` (default 8: calls 0-7) and every call whose index is a
  power of two (8, 16, 32, ...): a deep copy of every tensor, taken *before* the call
  runs (``forward`` grows caches in place). These serve as export examples and for verification;
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
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..core import trees
from ..core.binding import bind_call
from ..core.copying import copy_set, meta_copy
from ..errors import OptionError
from ..exporting import ExportResult, export
from ..infer import infer_dims
from ..integrations.transformers.prefill import fill_empty_caches
from ..spec import DimSpec

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

    def __init__(
        self, items: Iterable[Any] = (), records: Sequence[CallRecord] = (), notes: Sequence[str] = ()
    ) -> None:
        super().__init__(items)
        self.records = list(records)
        self.notes = list(notes)


def _tensor_bytes(obj: Any) -> int:
    seen: set[int] = set()
    total = 0
    for leaf in trees.leaves(obj):
        if isinstance(leaf, torch.Tensor) and leaf.device.type != "meta":
            key = id(leaf.untyped_storage()) if leaf.numel() else id(leaf)
            if key not in seen:
                seen.add(key)
                total += leaf.untyped_storage().nbytes()
    return total


def _shapes(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, leaf in trees.leaves_by_path(dict(values)).items():
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
            raise OptionError(f"observe(keep={keep!r}): keep must be 'auto', 'all' or 'shapes'")
        if not isinstance(keep_first, int) or isinstance(keep_first, bool) or keep_first < 0:
            raise OptionError(f"observe(keep_first={keep_first!r}): keep_first must be an int >= 0")
        if max_calls is not None and (not isinstance(max_calls, int) or isinstance(max_calls, bool) or max_calls < 0):
            raise OptionError(f"observe(max_calls={max_calls!r}): max_calls must be None or an int >= 0")
        if not isinstance(method, str) or not inspect.ismethod(getattr(model, method, None)):
            raise OptionError(f"observe(method={method!r}): {type(model).__name__} has no method {method!r} to record")
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
        self._records.append(
            CallRecord(index, kept, _tensor_bytes(stored), _shapes(stored if isinstance(stored, dict) else stored[1]))
        )
        self._inputs = None

    def _bind(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Keyword form wherever Python allows it: ``(positional, keyword)`` when the
        signature has positional-only or ``*args`` parameters, else a dict."""
        if self._signature is None:
            return (tuple(args), dict(kwargs)) if args else dict(kwargs)
        positional: list[Any] = []
        keyword: dict[str, Any] = {}
        for param, value, kind in bind_call(self._signature, args, kwargs):
            if kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
                positional.append(value)
            else:
                keyword[param.name] = value
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

    def infer_dims(self, **options: Any) -> DimSpec:
        """``symshape.infer_dims(model, obs.inputs, **options)`` (``names=``, ``dynamic=``)."""
        return infer_dims(self.model, self.inputs, **options)

    def export(self, **options: Any) -> ExportResult:
        """``symshape.export(model, obs.inputs, **options)``."""
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
    ``keep`` is ``"auto"`` (full copies of calls 0 to ``keep_first - 1`` and of every
    call whose index is a power of two: 8, 16, 32, ...; shapes only for the others),
    ``"all"`` or ``"shapes"``.
    """

    def __init__(
        self,
        model: Any,
        *,
        max_calls: int | None = None,
        method: str = "forward",
        keep: str = "auto",
        keep_first: int = KEEP_FIRST,
    ) -> None:
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


def _finalise(sets: list[Any], signature: inspect.Signature | None, passed: list[str]) -> tuple[list[Any], list[str]]:
    """Fill absent keyword arguments with their default, and give empty caches the
    layout of a full one (prefill; see :mod:`symshape.integrations.transformers.prefill`)."""
    out = []
    order = {n: i for i, n in enumerate(passed)}
    for s in sets:
        args, kwargs = s if isinstance(s, tuple) else ((), s)
        kwargs = dict(kwargs)
        if signature is not None:
            for name in passed:
                param = signature.parameters.get(name)
                if name not in kwargs and param is not None and param.default is not inspect.Parameter.empty:
                    kwargs[name] = param.default
            kwargs = dict(sorted(kwargs.items(), key=lambda kv: order.get(kv[0], len(order))))
        out.append((args, kwargs) if args else kwargs)
    return out, fill_empty_caches(out, passed)
