"""``with plan.bind(model): model.generate(...)``: every forward call through a program.

The model's ``forward`` is shadowed by an instance attribute for the duration of the
block (as :func:`symshape.observe` does) that routes each call through the plan, and
removed on exit (or the attribute that was there is put back): the model is exactly as
it was. The wrapper keeps ``forward``'s signature, so ``generate()`` passes the same
arguments as when the calls were recorded.

Encoder-decoder models: ``generate()`` runs the encoder as ``model.get_encoder()(...)``,
not through ``forward``; its ``forward`` is shadowed the same way. With encoder programs
(``export_plan(..., encoder=...)``, see :mod:`.sides`) its calls run through them
(``Binding.encoder_calls``); a plan without one lets the encoder run eager and counts
those calls (``Binding.eager_calls``), so nothing runs eager unseen.

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
from .errors import NotCoveredError, PlanError
from .messages import miss_message
from .routing import Router, signature_of
from .sides import encoder_module, labelled, split_routes

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


def run_routed(router: Router, args: tuple, kwargs: Mapping[str, Any], side: str = "") -> Any:
    """Run the call through the first program of ``router`` whose region holds it (a
    program whose guard rejects it passes it on); caches are written back in place."""
    errors: list[tuple[str, str]] = []
    for candidate in router.candidates(args, kwargs):
        route = candidate.route
        try:
            outputs = route.run(*candidate.args, **candidate.kwargs)
        except Exception as exc:  # a guard of the program rejected it: try the next one
            errors.append((route.name, f"{type(exc).__name__}: {exc}"))
            continue
        values = route.layout.join(candidate.args, candidate.kwargs)
        caches = {n: v for n, v in values.items() if is_cache(v)}
        caches.update(candidate.replaced)
        return restore_caches(outputs, caches)
    raise NotCoveredError(labelled(side, miss_message(router, args, kwargs, errors)))


def _runner(router: Router, side: str = "") -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        return run_routed(router, args, kwargs, side)

    return run


class Binding:
    """The context manager :meth:`Plan.bind` returns.

    ``calls`` counts the calls of ``model.<method>`` run through the plan;
    ``encoder_calls`` those of ``model.get_encoder()`` run through its encoder programs;
    ``eager_calls`` the encoder calls that ran eager because the plan has no encoder
    program (record the encoder to route them: ``export_plan(..., encoder=...)``).
    """

    def __init__(self, model: Any, call: Callable[..., Any], method: str = "forward") -> None:
        if not inspect.ismethod(getattr(model, method, None)):
            raise PlanError(f"plan.bind: {type(model).__name__} has no method {method!r} to route through the plan")
        self.model = model
        self.method = method
        self.call = call
        self.calls = 0
        self.encoder_calls = 0
        self.eager_calls = 0
        #: (object, method name, what runs a call or None for the original, counter name)
        self._targets: list[tuple[Any, str, Callable[..., Any] | None, str]] = [(model, method, call, "calls")]
        self._saved: list[tuple[Any, str, bool, Any]] = []
        routes = getattr(getattr(call, "router", None), "routes", None)
        if routes is not None and method == "forward":
            self._plan_targets(routes, getattr(call, "params", []))

    def _plan_targets(self, routes: list[Any], params: list[Any]) -> None:
        """A plan: each side routes over its own programs (:mod:`.sides`)."""
        forward, encoder = split_routes(routes)
        module = encoder_module(self.model)
        if encoder and module is None:
            raise PlanError(
                f"plan.bind: the plan has encoder programs ({', '.join(r.name for r in encoder)}) but "
                f"{type(self.model).__name__}.get_encoder() gives no encoder module to route through them"
            )
        if encoder:
            self._targets[0] = (self.model, "forward", _runner(Router(forward, params)), "calls")
            run = _runner(Router(encoder, signature_of(module)), "model.get_encoder()")
            self._targets.append((module, "forward", run, "encoder_calls"))
        elif module is not None:
            self._targets.append((module, "forward", None, "eager_calls"))

    @property
    def encoder_runs_eager(self) -> bool:
        """Whether ``model.get_encoder()`` runs eager in the block (no encoder program)."""
        return any(counter == "eager_calls" for *_, counter in self._targets)

    def __enter__(self) -> Binding:
        try:
            for target, method, run, counter in self._targets:
                self._shadow(target, method, run, counter)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _shadow(self, target: Any, method: str, run: Callable[..., Any] | None, counter: str) -> None:
        original = getattr(target, method)
        instance = target.__dict__
        self._saved.append((target, method, method in instance, instance.get(method)))
        runs = original if run is None else run

        def routed(*args: Any, **kwargs: Any) -> Any:
            setattr(self, counter, getattr(self, counter) + 1)
            return runs(*args, **kwargs)

        routed.__wrapped__ = original  # type: ignore[attr-defined]
        try:
            routed.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            pass
        instance[method] = routed

    def __exit__(self, *exc: Any) -> None:
        while self._saved:
            target, method, had, value = self._saved.pop()
            if had:
                target.__dict__[method] = value
            else:
                target.__dict__.pop(method, None)
