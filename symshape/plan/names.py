"""One name table for every program of a plan: ``batch`` is ``batch`` everywhere.

Each regime's dims are inferred on their own (what varies there), then renamed through
the table, keyed by axis (``"input_ids:1"``): a dim takes the name its first axis (in
flatten order) already has in another program, else its inferred name unless that name
already means other axes (then the name one of its other axes has, else a fresh one).
The user's ``names=`` seed the table.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.paths import axis_key
from ..core.rows import ROOT
from ..spec import DimSpec


class NameTable:
    """``"path:axis"`` -> dim name, shared by the programs of a plan."""

    def __init__(self, user: Mapping[str, str] | None = None) -> None:
        self.by_axis: dict[str, str] = {}
        self.by_dim: dict[str, str] = {}  # user renames of inferred dim names
        for key, name in (user or {}).items():
            (self.by_axis if ":" in key else self.by_dim)[key] = name

    def meaning(self, name: str) -> set[str]:
        """The axes a name stands for so far."""
        return {axis for axis, n in self.by_axis.items() if n == name}

    def names_for(self, spec: DimSpec) -> dict[str, str]:
        """``names=`` for an export whose first inference gave ``spec``:
        ``{"path:axis" of the root's first axis: table name}`` for every root with an axis."""
        chosen: dict[str, str] = {}
        for dim in spec.dims:
            axes = root_axes(spec, dim)
            wanted = self.by_dim.get(dim) or (self.by_axis.get(axes[0]) if axes else None)
            if wanted is None:  # its own name, unless that name already means other axes
                meaning = self.meaning(dim)
                if not meaning or meaning & set(axes):
                    wanted = dim
                else:
                    wanted = next((self.by_axis[a] for a in axes if a in self.by_axis), None) or self._fresh(
                        dim, chosen
                    )
            if wanted in chosen.values():
                wanted = self._fresh(wanted, chosen)
            chosen[dim] = wanted
        return {root_axes(spec, d)[0]: n for d, n in chosen.items() if root_axes(spec, d)}

    def _fresh(self, name: str, chosen: Mapping[str, str]) -> str:
        taken = set(self.by_axis.values()) | set(chosen.values()) | set(chosen)
        k = 2
        while f"{name}_{k}" in taken:
            k += 1
        return f"{name}_{k}"

    def record(self, spec: DimSpec, renamed: Mapping[str, str] | None = None) -> None:
        """Remember the axes of every root dim of ``spec`` (an exported program's final
        spec, or a first inference and the ``names=`` it will be exported with)."""
        renamed = renamed or {}
        for dim in spec.dims:
            axes = root_axes(spec, dim)
            name = renamed.get(axes[0], dim) if axes else dim
            for axis in axes:
                self.by_axis.setdefault(axis, name)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(self.by_axis.values()))


def root_axes(spec: DimSpec, dim: str) -> list[str]:
    """The ``"path:axis"`` keys of the axes that are exactly ``dim``, in flatten order."""
    return [axis_key(a.path, a.axis) for a in spec.axes if a.role == ROOT and a.terms and a.terms[0][0] == dim]
