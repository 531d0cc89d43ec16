"""Every private torch touchpoint in ``symshape._torch``, exercised on real torch.

If a torch release moves or changes one of them, the test named after it fails here,
with the touchpoint in its name, instead of symshape failing deep inside an export.
"""

from __future__ import annotations

import collections
import threading

import pytest
import torch
from torch.export import Dim

from symshape import _torch


class _Pair:
    """A container of two tensors, registered with pytree by the test below only."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        self.a, self.b = a, b


def test_pytree_flatten_with_paths_and_keys() -> None:
    leaves, spec = _torch.tree_flatten_with_path({"x": [torch.ones(1), 3], "y": None})
    keys = [path for path, _ in leaves]
    assert keys[0] == (_torch.MappingKey("x"), _torch.SequenceKey(0))
    assert [leaf for _, leaf in leaves][1:] == [3, None]
    assert _torch.tree_unflatten([v for _, v in leaves], spec)["x"][1] == 3
    assert _torch.tree_structure([1, 2]) == _torch.tree_flatten([3, 4])[1]
    assert _torch.tree_leaves((1, (2, 3))) == [1, 2, 3]
    assert isinstance(spec, _torch.TreeSpec)
    assert _torch.GetAttrKey("a").name == "a"


def test_node_type_and_node_def() -> None:
    point = collections.namedtuple("point", "x y")
    assert _torch.node_type(point(1, 2)) is _torch.NAMEDTUPLE
    assert _torch.node_type({"a": 1}) is dict
    entry = _torch.node_def(dict)
    assert entry is not None and entry.flatten_fn({"a": 1})[0] == [1]
    assert _torch.node_def(int) is None
    assert _torch.is_registered(list) and not _torch.is_registered(_Pair)


def test_register_pytree_node_and_flatten_spec() -> None:
    _torch.register_pytree_node(
        _Pair,
        lambda p: ([p.a, p.b], None),
        lambda values, _: _Pair(*values),
        flatten_with_keys_fn=lambda p: ([(_torch.GetAttrKey("a"), p.a), (_torch.GetAttrKey("b"), p.b)], None),
    )
    _torch.register_flatten_spec(_Pair, lambda p, spec: [p.a, p.b])
    assert _torch.is_registered(_Pair)

    class Model(torch.nn.Module):
        def forward(self, pair: _Pair) -> torch.Tensor:
            return pair.a + pair.b

    program = torch.export.export(Model(), (_Pair(torch.ones(2), torch.ones(2)),), strict=False)
    out = program.module()(_Pair(torch.ones(2), torch.full((2,), 2.0)))  # the flatten spec is what runs here
    assert torch.equal(out, torch.full((2,), 3.0))


def test_fake_tensor_cache_switch() -> None:
    before = torch._dynamo.config.fake_tensor_cache_enabled
    with _torch.fake_tensor_cache(not before):
        assert torch._dynamo.config.fake_tensor_cache_enabled is (not before)
    assert torch._dynamo.config.fake_tensor_cache_enabled is before


class _Add(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


def test_recording_symbols_maps_each_symbol_to_its_source() -> None:
    n = Dim("n")
    with _torch.recording_symbols() as symbols:
        torch.export.export(_Add(), (torch.ones(3, 2), torch.ones(3, 2)), dynamic_shapes=({0: n}, {0: n}), strict=False)
    assert symbols and all(s.startswith("s") for s in symbols)
    assert "L['x'].size()[0]" in symbols.values()
    with _torch.recording_symbols() as outside:
        pass
    assert outside == {}  # nothing recorded when no export ran in the block


def test_recording_symbols_is_scoped_to_the_thread_that_exports() -> None:
    """Two recordings open at once in two threads: each sees only its own export's
    symbols. (torch.export itself is not thread-safe, so the exports take turns while
    both recordings are open; a process-wide recorder would mix them.)"""

    class Left(torch.nn.Module):
        def forward(self, left: torch.Tensor) -> torch.Tensor:
            return left * 2

    class Right(torch.nn.Module):
        def forward(self, right: torch.Tensor) -> torch.Tensor:
            return right + 1

    left_open, right_done = threading.Event(), threading.Event()
    seen: dict[str, dict[str, str]] = {}
    errors: list[BaseException] = []

    def export(model: torch.nn.Module, size: int, name: str) -> None:
        torch.export.export(model, (torch.ones(size, 3),), dynamic_shapes=({0: Dim(f"{name}_n")},), strict=False)

    def left() -> None:
        try:
            with _torch.recording_symbols() as symbols:
                left_open.set()
                assert right_done.wait(timeout=120)  # the other thread exported while this recording was open
                export(Left(), 4, "left")
            seen["left"] = symbols
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    def right() -> None:
        try:
            assert left_open.wait(timeout=120)
            with _torch.recording_symbols() as symbols:
                export(Right(), 5, "right")
            seen["right"] = symbols
        except BaseException as exc:
            errors.append(exc)
        finally:
            right_done.set()

    threads = [threading.Thread(target=left), threading.Thread(target=right)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert seen["left"] and seen["right"]
    assert all("left" in source for source in seen["left"].values()), seen["left"]
    assert all("right" in source for source in seen["right"].values()), seen["right"]


class _Sliced(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("table", torch.arange(16.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[0]]  # guards x.shape[0] <= 16


def test_guard_frames_name_the_model_line() -> None:
    failures = _torch.guard_frames(_Sliced(), (torch.ones(4),), {}, ({0: Dim("n")},), False)
    assert failures
    frames = [f for stack, _ in failures for f in stack]
    assert any(f["filename"].endswith("test_torch_boundary.py") and "self.table" in f["loc"] for f in frames), frames
    assert any("L['x'].size()[0]" in s for _, sources in failures for s in sources)


def test_recording_guards_name_the_model_line_of_the_failed_trace() -> None:
    """The wrapped ``ShapeEnv._log_guard`` sees every guard (the one the slice adds here,
    ``s0 <= 16``), ``TracingContext.extract_stack`` is empty outside dynamo so the model
    frame comes from the interpreter's stack, and torch's own method is back after the block."""
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    own = ShapeEnv._log_guard
    with _torch.recording_symbols() as symbols, _torch.recording_guards() as guards:
        assert ShapeEnv._log_guard is not own
        with pytest.raises(Exception, match="Constraints violated"):
            torch.export.export(_Sliced(), (torch.ones(4),), dynamic_shapes=({0: Dim("n")},), strict=False)
    assert ShapeEnv._log_guard is own  # draft_export (the fallback) finds no symshape frame in the stack
    lines = [(where, names, guard) for where, names, guard in guards if where[0].endswith("test_torch_boundary.py")]
    assert lines, guards
    (filename, lineno, function), names, guard = lines[0]
    assert function == "forward" and "self.table" in open(filename).read().splitlines()[lineno - 1]
    assert [symbols[n] for n in names] == ["L['x'].size()[0]"] and guard.free_symbols
    with _torch.recording_guards() as outside:
        pass
    assert outside == []


class _PadsToFour(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % 4 != 0:  # the guard (x.shape[0] % 4) == 0, for a multiple of 4
            x = torch.nn.functional.pad(x, (0, 4 - x.shape[0] % 4))
        return x.reshape(-1, 4).sum(0)


def test_stopping_on_divisibility_raises_at_the_next_guard_with_the_model_line() -> None:
    """The guard ``Eq(Mod(s0, 4), 0)`` reaches ``ShapeEnv._log_guard``; its symbol's source
    comes from ``ShapeEnv.var_to_sources``; the trace stops at the next guard on ``s0``
    (the reshape's), with the model line of the divisibility; torch's warning about the
    failed ``evaluate_expr`` is dropped; a source not watched traces to the end."""
    args, shapes = (torch.ones(8),), ({0: Dim("n")},)
    with _torch.recording_guards(), _torch.stopping_on_divisibility(lambda s: s == "L['x'].size()[0]"):
        with pytest.raises(_torch.DivisibilityGuardError) as info:
            torch.export.export(_PadsToFour(), args, dynamic_shapes=shapes, strict=False)
    ((source, divisor, (filename, lineno, function)),) = info.value.found
    assert (source, divisor) == ("L['x'].size()[0]", 4)
    assert function == "forward" and "% 4 != 0" in open(filename).read().splitlines()[lineno - 1]
    with _torch.recording_guards(), _torch.stopping_on_divisibility(lambda s: False):
        with pytest.raises(Exception, match="Constraints violated"):
            torch.export.export(_PadsToFour(), args, dynamic_shapes=shapes, strict=False)


def test_treespec_built_leaf_by_leaf_equals_tree_flatten() -> None:
    tree = {"a": [torch.ones(1), 2], "b": (None,)}
    expected = _torch.tree_flatten(tree)[1]
    built = _torch.make_treespec(
        dict,
        ["a", "b"],
        [
            _torch.make_treespec(list, None, [_torch.LEAF_SPEC, _torch.LEAF_SPEC]),
            _torch.make_treespec(tuple, None, [_torch.LEAF_SPEC]),
        ],
    )
    assert built == expected and _torch.tree_unflatten([1, 2, 3], built) == {"a": [1, 2], "b": (3,)}
    assert _torch.tree_flatten(5)[1] == _torch.LEAF_SPEC


class _Concat(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, y]) * m


def test_program_guards_are_source_text() -> None:
    shapes = ({0: Dim("a")}, {0: Dim("b")}, {0: Dim.AUTO})
    program = torch.export.export(
        _Concat(), (torch.ones(2), torch.ones(3), torch.ones(5)), dynamic_shapes=shapes, strict=False
    )
    guards = _torch.program_guards(program)
    assert guards and all(isinstance(g, str) for g in guards)
    assert any("L['m'].size()[0]" in g and "L['x'].size()[0]" in g for g in guards), guards  # m = a + b
    plain = torch.export.export(_Add(), (torch.ones(2), torch.ones(2)), strict=False)
    assert _torch.program_guards(plain) == []


@pytest.mark.parametrize("name", sorted(n for n in vars(_torch) if not n.startswith("_")))
def test_every_public_name_of_the_shim_resolves(name: str) -> None:
    assert getattr(_torch, name) is not None


def test_sharing_symbols_gives_a_group_one_symbol() -> None:
    """The two inputs of one Dim get one symbol inside the block, and one each outside
    it (torch then ties them with a guard); the shared program still rejects inputs that
    disagree."""
    n = Dim("n")

    def export() -> tuple[torch.export.ExportedProgram, dict[str, str]]:
        inputs = (torch.ones(3, 2), torch.ones(3, 2))
        with _torch.recording_symbols() as symbols:
            program = torch.export.export(_Add(), inputs, dynamic_shapes=({0: n}, {0: n}), strict=False)
        return program, symbols

    with _torch.sharing_symbols(lambda source: "n" if source.endswith(".size()[0]") else None):
        shared, symbols = export()
    assert list(symbols.values()) == ["L['x'].size()[0]"]
    assert len(export()[1]) == 2
    assert torch.equal(shared.module()(torch.ones(5, 2), torch.ones(5, 2)), torch.full((5, 2), 2.0))
    with pytest.raises(Exception, match="size"):
        shared.module()(torch.ones(5, 2), torch.ones(4, 2))
