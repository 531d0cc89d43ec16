"""``with plan.bind(model): model.generate(...)``: every forward call through a program.

The model's ``forward`` is shadowed by an instance attribute for the duration of the
block (as :func:`symshape.observe` does) that routes each call through the plan, and
removed on exit (or the attribute that was there is put back): the model is exactly as
it was. The wrapper keeps ``forward``'s signature, so ``generate()`` passes the same
arguments as when the calls were recorded.

Caches: in transformers 5.24, ``forward`` grows the cache object it is given in place
and returns that same object, and ``generate()`` takes the cache for the next step from
the outputs (``model_kwargs["cache"] = outputs["cache"]``). An exported program cannot
mutate a Python object: it returns a new cache. So after each call the returned cache's
state is written into the caller's cache object (layer by layer, attribute by
attribute, nested caches included) and the outputs carry the caller's object, as eager
does. Whatever ``generate()`` or the user holds stays valid.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..integrations.transformers import is_cache
from .errors import PlanError

#: How deep nested objects (cache -> layers -> ...) are written back.
_DEPTH = 6


def write_back(target: Any, source: Any, depth: int = 0) -> None:
    """Make ``target`` hold ``source``'s state (same classes), keeping ``target``'s identity
    and that of its nested caches and layers."""
    if depth > _DEPTH:
        return
    for name, value in vars(source).items():
        old = target.__dict__.get(name)
        if _same_object_kind(old, value):
            write_back(old, value, depth + 1)
        elif (
            isinstance(value, list)
            and isinstance(old, list)
            and len(old) == len(value)
            and value
            and all(_same_object_kind(o, v) for o, v in zip(old, value))
        ):
            for o, v in zip(old, value):
                write_back(o, v, depth + 1)
        else:
            target.__dict__[name] = value


def _same_object_kind(old: Any, new: Any) -> bool:
    """Both are plain objects of one class (a cache, a layer), not tensors or containers."""
    return (
        old is not None
        and type(old) is type(new)
        and hasattr(new, "__dict__")
        and not isinstance(new, (torch.Tensor, type))
        and (is_cache(new) or type(new).__module__.startswith("transformers."))
    )


def restore_caches(outputs: Any, caches: Mapping[str, Any]) -> Any:
    """Write each cache of ``outputs`` back into the caller's cache of the same argument
    (``caches``: argument name -> the caller's object) and put the caller's object in
    ``outputs``. One cache in and one out are paired; several are paired by name."""
    if not caches or not isinstance(outputs, Mapping):
        return outputs
    returned = [(k, v) for k, v in outputs.items() if is_cache(v)]
    pairs = []
    if len(caches) == 1 and len(returned) == 1:
        pairs = [(next(iter(caches.values())), *returned[0])]
    else:
        pairs = [(caches[k], k, v) for k, v in returned if k in caches]
    for mine, key, theirs in pairs:
        if mine is theirs or type(mine) is not type(theirs):
            continue
        write_back(mine, theirs)
        outputs[key] = mine
    return outputs


class Binding:
    """The context manager :meth:`Plan.bind` returns."""

    def __init__(self, model: Any, call: Callable[..., Any], method: str = "forward") -> None:
        if not inspect.ismethod(getattr(model, method, None)):
            raise PlanError(f"plan.bind: {type(model).__name__} has no method {method!r} to route through the plan")
        self.model = model
        self.method = method
        self.call = call
        self.calls = 0
        self._saved: tuple[bool, Any] | None = None

    def __enter__(self) -> Binding:
        model = self.model
        original = getattr(model, self.method)
        instance = model.__dict__
        self._saved = (self.method in instance, instance.get(self.method))

        def routed(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return self.call(*args, **kwargs)

        routed.__wrapped__ = original  # type: ignore[attr-defined]
        try:
            routed.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            pass
        instance[self.method] = routed
        return self

    def __exit__(self, *exc: Any) -> None:
        had, value = self._saved  # type: ignore[misc]
        if had:
            self.model.__dict__[self.method] = value
        else:
            self.model.__dict__.pop(self.method, None)
