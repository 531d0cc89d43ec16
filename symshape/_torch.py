"""Every private torch API symshape touches, in one place.

torch 2.13 offers no public way to flatten a pytree with key paths, to learn which
input size a symbol (``s77``) stands for, to give the axes of one named Dim one
symbol, or to read the guards of an exported program. symshape needs each of them,
so it reads torch's internals here and nowhere else; ``tests/test_torch_boundary.py``
exercises each touchpoint, so a torch release that moves one fails there, loudly,
instead of deep inside an export.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import torch
import torch.fx._pytree as _fx_pytree
import torch.utils._pytree as _pytree
from torch._guards import TracingContext
from torch._logging.structured import INTERN_TABLE
from torch.fx.experimental.symbolic_shapes import ShapeEnv, StatefulSymbolicContext

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

#: The spec of every leaf (pytree shares one instance; a fresh ``TreeSpec(None, None, [])``
#: is a different class and never equal to it).
LEAF_SPEC = _pytree._LEAF_SPEC


def make_treespec(node_type: Any, context: Any, children: list[Any]) -> TreeSpec:
    """The spec ``tree_flatten`` builds for a node of ``node_type`` (as ``node_type``
    returns it) with this context and these child specs."""
    return _pytree.TreeSpec(node_type, context, children)


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
_SHARING: contextvars.ContextVar[_Sharing | None] = contextvars.ContextVar("symshape_sharing", default=None)
_HOOK_LOCK = threading.Lock()
_hook_installed = False


class _Sharing:
    """The groups of :func:`sharing_symbols`, and the symbol each group has per ShapeEnv."""

    def __init__(self, group_of: Callable[[str], Hashable | None]) -> None:
        self.group_of = group_of
        #: Per ShapeEnv (a trace may make more than one), group -> (value, symbol).
        self.symbols: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[Any, Any]]] = weakref.WeakKeyDictionary()


def _source_name(source: Any) -> str | None:
    name = getattr(source, "name", None)
    name = name() if callable(name) else name  # a property in torch 2.13, a method before
    return name if isinstance(name, str) else None


def _install_symbol_hook() -> None:
    """Wrap ``ShapeEnv.create_symbol`` once per process.

    The wrapper records into the sink of the *current context* only (a ContextVar),
    so two exports in two threads never see each other's symbols, and calls made
    outside :func:`recording_symbols` and :func:`sharing_symbols` pass straight through.
    """
    global _hook_installed
    with _HOOK_LOCK:
        if _hook_installed:
            return
        original = ShapeEnv.create_symbol
        parameters = list(inspect.signature(original).parameters)[1:]  # val, source, dynamic_dim, ...

        @functools.wraps(original)
        def create_symbol(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = dict(zip(parameters, args)) | kwargs
            sharing, name = _SHARING.get(), _source_name(call["source"])
            group = sharing.group_of(name) if sharing is not None and name is not None else None
            known = sharing.symbols.setdefault(self, {}) if group is not None else {}
            shared = known.get(group)
            if shared is not None and shared[0] == call["val"]:
                expr = _duck(self, name, call, shared[1])
            else:
                expr = original(self, *args, **kwargs)
                if group is not None and getattr(expr, "is_Symbol", False):
                    known.setdefault(group, (call["val"], expr))
            sink = _SYMBOL_SINK.get()
            if sink is not None and name is not None and getattr(expr, "is_Symbol", False):
                sink.setdefault(str(expr), name)
            return expr

        ShapeEnv.create_symbol = create_symbol
        _hook_installed = True


def _duck(shape_env: Any, name: str, call: dict[str, Any], symbol: Any) -> Any:
    """``symbol`` for the source ``name`` too, recorded as torch's duck-sizing branch of
    ``create_symbol`` records a size it gives an existing symbol."""
    context = call.get("symbolic_context")
    shape_env.source_to_var[name] = symbol
    shape_env.var_to_sources[symbol].append(call["source"])
    if isinstance(context, StatefulSymbolicContext):
        context.shape_env_to_source_to_symbol_cache.setdefault(id(shape_env), {})[name] = symbol
    return symbol


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


@contextlib.contextmanager
def sharing_symbols(group_of: Callable[[str], Hashable | None]) -> Iterator[None]:
    """Inside the block, input sizes of one group (``group_of`` their source, torch's text
    ``L['x'].size()[0]``; None: no group) and one value get one symbol per trace.

    A named Dim turns torch's duck sizing off (``create_symbol``: a constrained size is
    DYNAMIC), so the 32 cache layers of one ``past_len`` get 32 symbols, and every guard
    the model adds on them comes 32 times, with the equalities that tie them back
    together. One symbol per Dim is what the Dim states; the program still checks that
    the inputs sharing it agree, as it does for duck-sized inputs.
    """
    _install_symbol_hook()
    token = _SHARING.set(_Sharing(group_of))
    try:
        yield
    finally:
        _SHARING.reset(token)


#: A guard torch added: where ((file name, line number, function name) of the innermost
#: frame outside torch), its symbols (``("s12", "s77")``) and the guard itself (sympy).
GuardEvent = tuple[tuple[str, int, str], tuple[str, ...], Any]

_GUARD_SINK: contextvars.ContextVar[list[GuardEvent] | None] = contextvars.ContextVar("symshape_guards", default=None)
_guard_recordings = 0  # open recording_guards() blocks, all threads
_original_log_guard: Any = None
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_SYMSHAPE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_frame(depth: int = 2) -> tuple[str, int, str] | None:
    """The innermost frame of the traced code that is not torch's: dynamo's record of the
    user's frames when it traces (strict), else the interpreter's own stack (non-strict),
    from ``depth`` frames above this one (the caller of the ``_log_guard`` wrapper)."""
    stack = TracingContext.extract_stack()
    for frame in reversed(stack):
        if "/torch/" not in frame.filename:
            return frame.filename, frame.lineno, frame.name
    if stack:
        return None
    current = sys._getframe(depth)
    while current is not None:
        filename = current.f_code.co_filename
        if filename.startswith(_SYMSHAPE_DIR):
            return None  # past the model, back in symshape's trace: the guard came from torch itself
        if not filename.startswith(_TORCH_DIR) and "/torch/" not in filename:
            return filename, current.f_lineno, current.f_code.co_name
        current = current.f_back
    return None


def _recording_log_guard(self: Any, prefix: str, g: Any, *args: Any, **kwargs: Any) -> Any:
    """``ShapeEnv._log_guard`` while a recording is open: the guard and its model line go to
    the current context's sink (a run-time assert is not a guard: left out, as
    ``draft_export`` does), then torch's own method runs; a guard that
    :func:`stopping_on_divisibility` watches for stops the trace."""
    sink = _GUARD_SINK.get()
    if sink is not None and not prefix.startswith("runtime_assert"):
        names = tuple(sorted(str(s) for s in getattr(g, "free_symbols", ())))
        where = _user_frame() if names else None
        if where is not None:
            sink.append((where, names, g))
    watch = _DIVISIBILITY_WATCH.get()
    if watch is not None and prefix == "eval":
        watch.see(self, g)
    return _original_log_guard(self, prefix, g, *args, **kwargs)


#: One divisibility guard: torch's source of the size (``L['x'].size()[2]``), the
#: divisor, and the model line (file, line, function) if known.
Divisibility = tuple[str, int, tuple[str, int, str] | None]


class DivisibilityGuardError(Exception):
    """The trace added ``size % divisor == 0`` on watched input sizes (``found``), and then
    a guard on one of them: torch would refuse the Dims at the end of the trace."""

    def __init__(self, found: list[Divisibility]) -> None:
        super().__init__("; ".join(f"{source} % {divisor} == 0" for source, divisor, _ in found))
        self.found = list(found)


class _Watch:
    """What :func:`stopping_on_divisibility` watches, and what it found so far."""

    def __init__(self, watched: Callable[[str], bool]) -> None:
        self.watched = watched
        self.found: list[Divisibility] = []
        self.symbols: set[Any] = set()
        self.stopped = False

    def see(self, shape_env: Any, g: Any) -> None:
        """Note a divisibility guard and let torch add it: the next one often follows
        (``width % 4``, then ``height % 4``), and one trace should find both. Stop at the
        first other guard on a noted size: from there on, the sizes no longer simplify."""
        found = _divisibility(shape_env, g, self.watched)
        if found is not None:
            source, divisor, symbol = found
            self.found.append((source, divisor, _user_frame(3)))  # past see() and the _log_guard wrapper
            self.symbols.add(symbol)
        elif self.symbols & set(getattr(g, "free_symbols", ())):
            self.stopped = True  # torch logs a warning as the stop passes through evaluate_expr: dropped
            raise DivisibilityGuardError(self.found)


_DIVISIBILITY_WATCH: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "symshape_divisibility", default=None
)


def _not_our_stop(record: logging.LogRecord) -> bool:
    """False for torch's "failed during evaluate_expr" warning about a stop symshape raised."""
    watch = _DIVISIBILITY_WATCH.get()
    return not (watch and watch.stopped and str(record.msg).startswith("failed during evaluate_expr"))


def _divisibility(shape_env: Any, g: Any, watched: Callable[[str], bool]) -> tuple[str, int, Any] | None:
    """``(source, c, symbol)`` for a guard ``Eq(Mod(s, c), 0)`` on one watched input symbol
    ``s``: a Dim's range cannot imply it, so torch refuses the Dim at the end of the trace
    anyway (after tracing the rest of the model on sizes it cannot simplify)."""
    if type(g).__name__ != "Equality" or not getattr(g.rhs, "is_zero", False):
        return None
    mod = g.lhs
    if type(mod).__name__ not in {"Mod", "PythonMod"} or len(mod.args) != 2:
        return None
    symbol, divisor = mod.args
    if not getattr(symbol, "is_Symbol", False) or not getattr(divisor, "is_Integer", False) or int(divisor) < 2:
        return None
    for src in getattr(shape_env, "var_to_sources", {}).get(symbol) or []:
        name = _source_name(src)
        if name is not None and watched(name):
            return name, int(divisor), symbol
    return None


@contextlib.contextmanager
def stopping_on_divisibility(watched: Callable[[str], bool]) -> Iterator[None]:
    """Inside the block (and a :func:`recording_guards` block), a trace that adds
    ``size % c == 0`` on input sizes whose source (torch's text, ``L['x'].size()[2]``) is
    ``watched`` stops with :class:`DivisibilityGuardError` at the next guard on one of
    them, instead of tracing the rest of the model first. A trace with no such guard
    after them ends as torch ends it."""
    token = _DIVISIBILITY_WATCH.set(_Watch(watched))
    logger = logging.getLogger(ShapeEnv.__module__)
    logger.addFilter(_not_our_stop)
    try:
        yield
    finally:
        logger.removeFilter(_not_our_stop)
        _DIVISIBILITY_WATCH.reset(token)


@contextlib.contextmanager
def recording_guards() -> Iterator[list[GuardEvent]]:
    """Inside the block, every guard torch adds on a symbol is recorded in the yielded
    list with the model line that added it: a failed trace then says where the model
    specialised or bounded a size, without tracing again.

    ``ShapeEnv._log_guard`` (every guard goes through it) is wrapped only while some
    block is open, in any thread: outside, no symshape frame sits between torch and the
    model, where ``draft_export`` looks for the user's frame. Like the symbol hook, the
    wrapper records into the current context's sink only.
    """
    global _guard_recordings, _original_log_guard
    sink: list[GuardEvent] = []
    token = _GUARD_SINK.set(sink)
    with _HOOK_LOCK:
        if _guard_recordings == 0 and ShapeEnv._log_guard is not _recording_log_guard:
            _original_log_guard = ShapeEnv._log_guard
            ShapeEnv._log_guard = _recording_log_guard
        _guard_recordings += 1
    try:
        yield sink
    finally:
        with _HOOK_LOCK:
            _guard_recordings -= 1
            if _guard_recordings == 0 and ShapeEnv._log_guard is _recording_log_guard:
                ShapeEnv._log_guard = _original_log_guard
        _GUARD_SINK.reset(token)


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
        # Another thread's recording_guards() wrapper stands for the model's frame: not a user frame.
        frames = [f for f in frames if f["filename"] != __file__]
        out.append((frames, [str(s) for s in data.get("symbol_to_sources", {}).values()]))
    return out


# -- reading an ExportedProgram --------------------------------------------------------


def program_guards(program: torch.export.ExportedProgram) -> list[str]:
    """The input guards of a program, as torch's Python source text
    (``L['x'].size()[0] <= 16``); a program with none gives []."""
    return list(getattr(program, "_guards_code", None) or [])
