"""Every private torch API symshape touches, in one place.

torch 2.13 offers no public way to flatten a pytree with key paths, to learn which
input size a symbol (``s77``) stands for, or to read the guards of an exported
program. symshape needs all three, so it reads torch's internals here and nowhere
else; ``tests/test_torch_boundary.py`` exercises each touchpoint, so a torch release
that moves one fails there, loudly, instead of deep inside an export.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.fx._pytree as _fx_pytree
import torch.utils._pytree as _pytree
from torch._logging.structured import INTERN_TABLE
from torch.fx.experimental.symbolic_shapes import ShapeEnv

# -- pytree (torch.utils._pytree has no public twin in torch 2.13) --------------------

MappingKey = _pytree.MappingKey
SequenceKey = _pytree.SequenceKey
GetAttrKey = _pytree.GetAttrKey
TreeSpec = _pytree.TreeSpec
tree_flatten = _pytree.tree_flatten
tree_flatten_with_path = _pytree.tree_flatten_with_path
tree_leaves = _pytree.tree_leaves
tree_structure = _pytree.tree_structure
tree_unflatten = _pytree.tree_unflatten
register_pytree_node = _pytree.register_pytree_node

#: What ``namedtuple`` instances report as their node type.
NAMEDTUPLE = _pytree.namedtuple


def node_type(obj: Any) -> type:
    """The pytree node type of ``obj`` (``namedtuple`` for every namedtuple class)."""
    return _pytree._get_node_type(obj)


def node_def(cls: type) -> Any | None:
    """torch's registration record of a container type (``flatten_fn``,
    ``flatten_with_keys_fn``), or None when ``cls`` is not a registered container."""
    return _pytree.SUPPORTED_NODES.get(cls)


def is_registered(cls: type) -> bool:
    return cls in _pytree.SUPPORTED_NODES


def register_flatten_spec(cls: type, fn: Callable[[Any, Any], list[Any]]) -> None:
    """How an unlifted program flattens its inputs of type ``cls`` (``torch.fx._pytree``)."""
    _fx_pytree.register_pytree_flatten_spec(cls, fn)


# -- tracing ---------------------------------------------------------------------------


def fake_tensor_cache(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """torch's fake-tensor dispatch cache on or off for the traces inside the block."""
    return torch._dynamo.config.patch(fake_tensor_cache_enabled=enabled)


_SYMBOL_SINK: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("symshape_symbols", default=None)
_HOOK_LOCK = threading.Lock()
_hook_installed = False


def _install_symbol_hook() -> None:
    """Wrap ``ShapeEnv.create_symbol`` once per process.

    The wrapper records into the sink of the *current context* only (a ContextVar),
    so two exports in two threads never see each other's symbols, and calls made
    outside :func:`recording_symbols` pass straight through.
    """
    global _hook_installed
    with _HOOK_LOCK:
        if _hook_installed:
            return
        original = ShapeEnv.create_symbol

        @functools.wraps(original)
        def create_symbol(self: Any, val: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
            expr = original(self, val, source, *args, **kwargs)
            sink = _SYMBOL_SINK.get()
            if sink is not None and getattr(expr, "is_Symbol", False):
                name = getattr(source, "name", None)
                name = name() if callable(name) else name  # a property in torch 2.13, a method before
                if isinstance(name, str):
                    sink.setdefault(str(expr), name)
            return expr

        ShapeEnv.create_symbol = create_symbol
        _hook_installed = True


@contextlib.contextmanager
def recording_symbols() -> Iterator[dict[str, str]]:
    """Inside the block, every symbol torch creates is recorded as ``{"s77":
    "L['x'].size()[0]"}`` in the yielded dict (torch's source text, untranslated)."""
    _install_symbol_hook()
    sink: dict[str, str] = {}
    token = _SYMBOL_SINK.set(sink)
    try:
        yield sink
    finally:
        _SYMBOL_SINK.reset(token)


def guard_frames(
    module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], dynamic_shapes: Any, strict: bool
) -> list[tuple[list[dict[str, Any]], list[str]]]:
    """Run ``draft_export`` and return, per guard it had to add, the user stack
    (frames with ``filename``, ``line``, ``name``, ``loc``; file names resolved) and
    the sources of the symbols involved (torch's text, ``L['x'].size()[0]``)."""
    draft = torch.export.draft_export(module, args, kwargs, dynamic_shapes=dynamic_shapes, strict=strict)
    report = draft._report
    # Frames name files by index into torch's process-wide intern table; a report
    # only lists the files first seen during its own trace.
    files = {index: name for name, index in INTERN_TABLE.items()} | dict(getattr(report, "str_to_filename", {}))
    out = []
    for failure in report.failures:
        data = failure.data if isinstance(failure.data, dict) else {}
        frames = [
            {**f, "filename": str(files.get(f.get("filename"), f.get("filename")))} for f in data.get("user_stack", [])
        ]
        out.append((frames, [str(s) for s in data.get("symbol_to_sources", {}).values()]))
    return out


# -- reading an ExportedProgram --------------------------------------------------------


def program_guards(program: torch.export.ExportedProgram) -> list[str]:
    """The input guards of a program, as torch's Python source text
    (``L['x'].size()[0] <= 16``); a program with none gives []."""
    return list(getattr(program, "_guards_code", None) or [])
