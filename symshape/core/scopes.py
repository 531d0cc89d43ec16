"""Settings that hold while symshape traces a model, contributed by integrations.

An integration (transformers) knows that some of a model's settings do not export
(a custom op with no ONNX function, a kernel ExecuTorch's verifier refuses) and that
an equivalent one does. It registers a *trace scope*: a context manager that selects
the export-friendly setting on entry and puts the user's back on exit, so the model
is left exactly as it was. Lower layers enter :func:`trace_scope` and never import
the integration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

_SCOPES: list[Callable[[Any], contextlib.AbstractContextManager[Any]]] = []


def add_trace_scope(scope: Callable[[Any], contextlib.AbstractContextManager[Any]]) -> None:
    """Enter ``scope(model)`` around every trace symshape makes of ``model``."""
    if scope not in _SCOPES:
        _SCOPES.append(scope)


@contextlib.contextmanager
def trace_scope(model: Any) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for scope in _SCOPES:
            stack.enter_context(scope(model))
        yield
