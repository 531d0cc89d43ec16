"""Copies of input sets that never share a tensor or a cache with the user's.

Two ways, one result:

* When every container of the set is one pytree rebuilds faithfully (its builtin
  containers, and the classes symshape itself registers: transformers caches, rebuilt
  without ``__init__`` from their leaves and a context of plain data), ``copy_set`` is
  ``unflatten(copied leaves, spec)``: one walk, no ``__reduce_ex__`` per object (a
  32-layer ``DynamicCache``: 0.71 ms instead of 0.95 ms, flatten included).
* Otherwise ``copy.deepcopy`` walks the containers and objects (caches keep their class
  and attributes); tensors are replaced up front and handed to it through the memo,
  which is an order of magnitude faster than ``Tensor.__deepcopy__`` on many leaves.

Either way a tensor that appears twice in the set is copied once (the copy keeps the
aliasing), and a tensor that is not a plain, grad-free ``torch.Tensor`` goes through
``copy.deepcopy``.
"""

from __future__ import annotations

import collections
import copy
import enum
import threading
from collections.abc import Callable
from typing import Any

import torch

from .. import _torch
from . import trees

#: Leaves that are immutable: the copy may share them.
_IMMUTABLE = (int, float, bool, complex, str, bytes, type(None), torch.dtype, torch.device, torch.layout, enum.Enum)
#: Containers whose pytree unflatten builds a fresh object equal to the one flattened.
_BUILTIN = frozenset({dict, list, tuple, collections.OrderedDict, collections.defaultdict, collections.deque})
#: symshape's own registrations rebuild their objects from leaves and context alone (tests/test_caches.py).
_OWN_PACKAGE = __name__.partition(".")[0]
#: Context -> holds only plain data (str, numbers, None, tuples of them), for the contexts last seen.
_PLAIN_CONTEXTS: dict[Any, bool] = {}
_PLAIN_TYPES = (str, int, float, bool, type(None))


def memo_copy(values: Any, replace: Callable[[torch.Tensor], torch.Tensor | None], rebuild: bool = True) -> Any:
    """A deep copy of ``values`` in which every tensor leaf ``t`` becomes ``replace(t)``
    (``None``: let deepcopy copy it); ``rebuild=False``: always by ``copy.deepcopy``."""
    leaves, spec = trees.flatten(values)
    memo: dict[int, Any] = {}
    if rebuild and _rebuilds(spec):
        return trees.unflatten(_copy_leaves(leaves, replace, memo), spec)
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            new = replace(leaf)
            if new is not None:
                memo[id(leaf)] = new
    return copy.deepcopy(values, memo)


def _copy_leaves(
    leaves: list[Any], replace: Callable[[torch.Tensor], torch.Tensor | None], memo: dict[int, Any]
) -> list[Any]:
    """Each leaf copied once (the same tensor twice: one copy, shared as in the original);
    immutable leaves are shared."""
    copied = []
    append, get = copied.append, memo.get
    clone = replace is _clone  # inlined for the common leaf: a plain, grad-free tensor
    for leaf in leaves:
        new = get(id(leaf))
        if new is None:
            if clone and type(leaf) is torch.Tensor and not leaf.requires_grad:
                new = leaf.clone()
            elif isinstance(leaf, torch.Tensor):
                new = replace(leaf)
                if new is None:
                    new = copy.deepcopy(leaf, memo)
            elif isinstance(leaf, _IMMUTABLE):
                append(leaf)
                continue
            else:
                new = copy.deepcopy(leaf, memo)
            memo[id(leaf)] = new
        append(new)
    return copied


def _rebuilds(spec: _torch.TreeSpec) -> bool:
    """Every node of ``spec`` is rebuilt by pytree into an object equal to the original and
    sharing nothing mutable with it (else the caller deep-copies)."""
    stack = [spec]
    while stack:
        node = stack.pop()
        if node.is_leaf():
            continue
        kind = node.type
        if kind is _torch.NAMEDTUPLE:
            if getattr(node.context, "__dictoffset__", 1) != 0:
                return False  # a namedtuple subclass with instance attributes: unflatten drops them
        elif kind not in _BUILTIN:
            entry = _torch.node_def(kind)
            module = getattr(getattr(entry, "unflatten_fn", None), "__module__", "") or ""
            if module.partition(".")[0] != _OWN_PACKAGE or not _plain_context(node.context):
                return False
        stack.extend(node.children())
    return True


def _plain_context(context: Any) -> bool:
    """Only str, numbers, None and tuples of them: nothing the copy would share with the
    original (an attribute symshape could not encode is kept in the context as is).
    Memoised by equality: hashing a 32-layer cache's context is 20x cheaper than walking it."""
    try:
        found = _PLAIN_CONTEXTS.get(context)
    except TypeError:  # unhashable: something else than plain data
        return False
    if found is None:
        found = _walk_plain(context)
        if len(_PLAIN_CONTEXTS) >= 64:
            _PLAIN_CONTEXTS.clear()
        _PLAIN_CONTEXTS[context] = found
    return found


def _walk_plain(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        elif type(item) not in _PLAIN_TYPES:
            return False
    return True


def _clone(t: torch.Tensor) -> torch.Tensor | None:
    return t.clone() if type(t) is torch.Tensor and not t.requires_grad else None


def _meta(t: torch.Tensor) -> torch.Tensor:
    return torch.empty(t.shape, dtype=t.dtype, device="meta")


def copy_set(values: Any) -> Any:
    """A deep copy of an input set (forward mutates caches: run copies)."""
    return memo_copy(values, _clone)


class DeferredCopy:
    """A copy of an input set, taken when first asked for and then kept.

    ``infer_dims`` keeps a copy of the example set for export; a user who only reads
    ``dynamic_shapes`` never needs it, and cloning it was a sixth of the call (a 32-layer
    cache). The leaves and the structure are held from now, so a cache that ``forward``
    grows later (it replaces its tensors) still gives the set as it was observed; a tensor
    changed in place keeps its shape, and is copied with the values it has then. A set
    that deep-copying would walk (other containers, leaves that are neither plain
    tensors nor immutable) is copied at once instead.
    """

    def __init__(self, values: Any) -> None:
        leaves, spec = trees.flatten(values)
        self._copy: list[Any] = []
        self._lock = threading.Lock()
        if _rebuilds(spec) and all(type(leaf) is torch.Tensor or isinstance(leaf, _IMMUTABLE) for leaf in leaves):
            self._leaves, self._spec = leaves, spec
        else:
            self._copy.append(copy_set(values))

    def get(self) -> Any:
        """The copy (the same object on every call)."""
        with self._lock:
            if not self._copy:
                self._copy.append(trees.unflatten(_copy_leaves(self._leaves, _clone, {}), self._spec))
                del self._leaves, self._spec
            return self._copy[0]


def meta_copy(values: Any) -> Any:
    """A copy whose tensors are ``meta`` tensors: shapes and dtypes, no storage.
    (Cache layers may hold tensors pytree does not see; deepcopy copies those.)

    Always a deep copy: ``observe`` keeps one for every recorded call, and a rebuilt cache
    registers each of its objects with the cache integration (a weak reference each),
    measured at +0.4-0.7 KB and no faster per call of a 2-layer Llama."""
    return memo_copy(values, _meta, rebuild=False)


def is_shape_only(values: Any) -> bool:
    """True when an input set holds meta tensors (a call recorded as shapes only)."""
    return any(isinstance(leaf, torch.Tensor) and leaf.device.type == "meta" for leaf in trees.leaves(values))
