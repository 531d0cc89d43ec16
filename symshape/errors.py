"""The errors symshape raises on purpose.

Every message names the input path, the axis and the observed values, so that the
user can act on it without a debugger. Inner layers raise short messages; the public
functions add the paths and values once. :class:`ExportError` also carries the facts
of its message as fields, for programs that act on them.
"""

from __future__ import annotations

from dataclasses import dataclass


class SymshapeError(Exception):
    """Base of every error symshape raises on purpose."""


class InputsError(SymshapeError, ValueError):
    """The input sets cannot be used as given (structure, types, names), or a
    document (``DimSpec.from_json``) is not what it should be."""


class MixedArgumentsError(InputsError):
    """The input sets do not all pass the same arguments (an optional argument given in
    some calls only): one contract cannot hold them, a plan makes one program per group."""


class OptionError(SymshapeError, ValueError):
    """An option has a value symshape does not accept (``observe(keep="x")``)."""


#: ``ExportError.kind`` values.
CONTRADICTION = "contradiction"  # the model requires what the input sets break
UNFIXABLE = "unfixable"  # torch stopped on a guard and offers no usable fix
NOT_CONVERGED = "not-converged"  # refinement went on past ``max_rounds``
OTHER = "other"  # torch.export failed for another reason than a shape constraint


@dataclass(frozen=True)
class Problem:
    """One cause of an export failure, in symshape's names."""

    dim: str | None  # the symshape dim, when torch's message names one
    requirement: str  # "must be <= 12", "is specialised to 1", or torch's words
    axes: tuple[str, ...] = ()  # the axes that are exactly this dim
    values: tuple[int, ...] = ()  # the dim's value in each input set
    breaking: tuple[tuple[int, str], ...] = ()  # (set index, "seq_len = 40") for the sets that break it
    torch_says: str = ""  # torch's words, sources translated
    sources: tuple[str, ...] = ()  # model code: "file.py:12 in forward: x[: n]"


class ExportError(SymshapeError):
    """torch.export failed; the message is the explained constraint report.

    ``kind`` is one of ``"contradiction"``, ``"unfixable"``, ``"not-converged"``,
    ``"other"``; ``problems`` lists each cause with its dim, axes, values per set, the
    sets that break it and the model lines.
    """

    def __init__(self, message: str, *, kind: str = OTHER, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.problems = tuple(problems)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.dim for p in self.problems if p.dim))

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for p in self.problems for a in p.axes))

    @property
    def values(self) -> dict[str, tuple[int, ...]]:
        """Each dim's observed value per input set."""
        return {p.dim: p.values for p in self.problems if p.dim}

    @property
    def breaking_sets(self) -> tuple[int, ...]:
        return tuple(sorted({i for p in self.problems for i, _ in p.breaking}))

    @property
    def source(self) -> str | None:
        """The first model line that forced a problem, where torch gave one."""
        return next((s for p in self.problems for s in p.sources), None)
