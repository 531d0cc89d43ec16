"""Name the roots.

Names follow transformers / optimum conventions where the argument name and axis
say what an axis is (``input_ids.shape[0]`` is ``batch``, a cache's axis 2 is
``past_len``), then an int argument's own name, then a deterministic fallback built
from the path (``x_dim1``). User overrides (``names={"x:0": "batch"}``) win. The
result depends only on the paths and the solution, never on hashing or timing.
"""

from __future__ import annotations

import functools
import keyword
import operator
import re
import weakref
from collections.abc import Mapping, Sequence

from ..core.paths import argument_of
from ..errors import InputsError
from .observation import Observation
from .solver import Solution

CACHE_ARGS = {"cache", "past_key_values", "past_key_value", "cache_params", "encoder_decoder_cache"}
SEQUENCE_ARGS = {
    "input_ids",
    "position_ids",
    "token_type_ids",
    "inputs_embeds",
    "labels",
    "hidden_states",
    "input_embeds",
}
DECODER_SEQUENCE_ARGS = {f"decoder_{a}" for a in ("input_ids", "position_ids", "inputs_embeds", "attention_mask")}
ENCODER_SEQUENCE_ARGS = {"encoder_hidden_states", "encoder_outputs", "encoder_attention_mask"}
BATCH_FIRST_ARGS = (
    SEQUENCE_ARGS
    | DECODER_SEQUENCE_ARGS
    | ENCODER_SEQUENCE_ARGS
    | CACHE_ARGS
    | {
        "attention_mask",
        "pixel_values",
        "pixel_mask",
        "input_features",
        "input_values",
        "image_sizes",
        "token_type_ids",
    }
)

# Higher wins when several axes of one class suggest a name.
STRONG, MEDIUM, WEAK = 3, 2, 1


def conventional_name(
    path: str, axis: int | None, rank: int | None, arguments: frozenset[str]
) -> tuple[str, int] | None:
    """The conventional name of one axis, with its strength, or None."""
    arg = argument_of(path)
    return _conventional(arg, axis, rank, _part(path), arg == path, _encoder_decoder(arguments))


#: A sliding cache layer's int counter, carried as the first size of a storage-free
#: tensor (integrations.transformers.caches): the tokens seen so far, past_len.
_COUNTER_KEYS = ("cumulative_length", "_previous_number_of_accepted_tokens")


def _part(path: str) -> str:
    """What the path says about the leaf beyond its argument: a cache's counter, its
    cross-attention half, or nothing."""
    if any(f"'{key}" in path for key in _COUNTER_KEYS):
        return "counter"
    return "cross" if "cross" in path else ""


@functools.lru_cache(maxsize=256)
def _encoder_decoder(arguments: frozenset[str]) -> bool:
    return any(a.startswith("decoder_") for a in arguments)


@functools.lru_cache(maxsize=4096)
def _conventional(
    arg: str, axis: int | None, rank: int | None, part: str, whole: bool, encoder_decoder: bool
) -> tuple[str, int] | None:
    """:func:`conventional_name` from what it depends on (memoised: called once per axis
    of every input, and a model's axes repeat a handful of patterns)."""
    if axis is None:
        return (arg, MEDIUM) if arg.isidentifier() and whole else None
    if part == "counter":
        return ("past_len", MEDIUM) if axis == 0 else None
    if axis == 0 and arg in BATCH_FIRST_ARGS and (rank or 0) >= 2:
        return "batch", STRONG
    if arg in CACHE_ARGS and rank == 4:
        if axis == 2:
            return ("encoder_seq_len" if part == "cross" else "past_len"), STRONG
        return {1: ("num_kv_heads", WEAK), 3: ("head_dim", WEAK)}.get(axis)
    if arg == "cache_position" and axis == 0:
        return "seq_len", MEDIUM
    if axis == 1:
        if arg in DECODER_SEQUENCE_ARGS:
            return "seq_len", STRONG
        if arg in ENCODER_SEQUENCE_ARGS or (
            encoder_decoder and arg in {"input_ids", "attention_mask", "inputs_embeds"}
        ):
            return "encoder_seq_len", STRONG
        if arg in SEQUENCE_ARGS:
            return "seq_len", STRONG
        if arg == "attention_mask":
            return "mask_len", WEAK
        if arg == "input_values":
            return "num_samples", MEDIUM
    if arg in {"pixel_values", "pixel_mask"} and rank is not None and axis >= rank - 2:
        return ("height" if axis == rank - 2 else "width"), STRONG
    if arg == "input_features" and axis == 2:
        return "num_frames", MEDIUM
    return None


#: Conventional names of axes that are dynamic in real use: one that never varied in
#: the input sets is worth a warning (it is exported static).
CONVENTIONALLY_DYNAMIC = frozenset({"batch", "seq_len", "past_len", "encoder_seq_len", "height", "width", "num_frames"})


def conventionally_dynamic(path: str, axis: int | None, rank: int | None, arguments: frozenset[str]) -> str | None:
    """The conventional name of an axis that is dynamic in real use (``batch``), or None."""
    hint = conventional_name(path, axis, rank, arguments)
    return hint[0] if hint is not None and hint[0] in CONVENTIONALLY_DYNAMIC else None


class Conventions:
    """:func:`conventional_name` of every column of one observation.

    A name depends on the leaf's argument, rank, path (``cross``, whole argument) and
    the axis only; leaves share a handful of such patterns, so each (pattern, axis) is
    looked up once however many columns have it.
    """

    def __init__(self, observation: Observation) -> None:
        self.observation = observation
        encoder_decoder = _encoder_decoder(frozenset(observation.arguments))
        keys = zip(
            observation.arguments,
            observation.ranks,
            map(_part, observation.paths),
            map(operator.eq, observation.arguments, observation.paths),
        )
        ids: dict[tuple, int] = {}
        self.pattern = [ids.setdefault(key, len(ids)) for key in keys]
        self.patterns = [(*key, encoder_decoder) for key in ids]
        self.found: dict[tuple[int, int | None], tuple[str, int] | None] = {}

    def key(self, column: int) -> tuple[int, int | None]:
        """Columns with one key have one conventional name."""
        return self.pattern[self.observation.column_leaf[column]], self.observation.column_axis[column]

    def __call__(self, column: int) -> tuple[str, int] | None:
        """``(name, strength)`` or None."""
        key = self.key(column)
        if key not in self.found:
            arg, rank, part, whole, encoder_decoder = self.patterns[key[0]]
            self.found[key] = _conventional(arg, key[1], rank, part, whole, encoder_decoder)
        return self.found[key]

    def dynamic(self, column: int) -> str | None:
        """The conventional name of a column that is dynamic in real use, or None."""
        hint = self(column)
        return hint[0] if hint is not None and hint[0] in CONVENTIONALLY_DYNAMIC else None


_CONVENTIONS: weakref.WeakKeyDictionary[Observation, Conventions] = weakref.WeakKeyDictionary()


def conventions(observation: Observation) -> Conventions:
    """The :class:`Conventions` of ``observation`` (built once, shared by the stages)."""
    found = _CONVENTIONS.get(observation)
    if found is None:
        found = _CONVENTIONS[observation] = Conventions(observation)
    return found


def fallback_name(path: str, axis: int | None) -> str:
    """``cache['key_cache'][0]``, axis 2 -> ``cache_key_cache_0_dim2``."""
    ident = re.sub(r"\W+", "_", path).strip("_") or "input"
    if ident[0].isdigit():
        ident = f"d_{ident}"
    return ident if axis is None else f"{ident}_dim{axis}"


def check_name(name: object, where: str) -> str:
    """A dim name must be a Python identifier and not a keyword (torch.export requires it)."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise InputsError(
            f"names[{where!r}] = {name!r} is not a valid dim name: use a Python identifier such as 'batch'"
        )
    return name


def _column_lookup(observation: Observation) -> dict[str, int]:
    """``"path:axis"`` (tensors) and ``"path"`` (int leaves) -> column index."""
    return {observation.key(i): i for i in range(observation.num_columns)}


def _overrides(
    observation: Observation, solution: Solution, names: Mapping[str, str], auto: Sequence[str], describe: Sequence[str]
) -> dict[int, str]:
    """Resolve user overrides to ``root id -> name``."""
    lookup = _column_lookup(observation)
    result: dict[int, str] = {}
    owner: dict[str, str] = {}
    for key, name in names.items():
        check_name(name, key)
        if key in lookup:
            column = lookup[key]
            cls = solution.column_class[column]
            label = observation.label(column)
            if cls < 0:
                raise InputsError(
                    f"names[{key!r}]: {label} is static (value {observation.column_values[column][0]} in every set), "
                    f"so it has no dim to name"
                )
            expr = solution.class_expr[cls]
            if not expr.is_root:
                raise InputsError(
                    f"names[{key!r}]: {label} is not a root dim, it is {describe[cls]}; name one of the roots "
                    "it is made of"
                )
            root = expr.roots[0]
        elif key in auto:
            root = auto.index(key)
        else:
            examples = ", ".join(repr(k) for k in list(lookup)[:4])
            raise InputsError(
                f"names[{key!r}] matches no input axis and no inferred dim; keys are 'path:axis' "
                f"(for example {examples}) or a dim name ({', '.join(auto) or 'none inferred'})"
            )
        if root in result and result[root] != name:
            raise InputsError(f"names gives two names to one dim: {result[root]!r} and {name!r} (via {key!r})")
        if name in owner and result.get(root) != name:
            raise InputsError(f"names gives {name!r} to two different dims (via {owner[name]!r} and {key!r})")
        result[root] = name
        owner[name] = key
    return result


def name_roots(observation: Observation, solution: Solution, names: Mapping[str, str] | None = None) -> list[str]:
    """One unique, valid, deterministic name per root of ``solution``."""
    hints = conventions(observation)
    candidates: list[list[tuple[int, int, str]]] = []  # per root: (-strength, order, name)
    for cls in solution.roots:
        best: dict[str, tuple[int, int]] = {}  # name -> its strongest, earliest claim
        seen = set()
        for order, column in enumerate(solution.classes[cls]):
            key = hints.key(column)
            if key in seen:
                continue  # same pattern and axis as an earlier column: same name, weaker claim
            seen.add(key)
            hint = hints(column)
            if hint is not None and hint[0].isidentifier() and not keyword.iskeyword(hint[0]):
                claim = (-hint[1], order)
                if hint[0] not in best or claim < best[hint[0]]:
                    best[hint[0]] = claim
        options = sorted((strength, order, name) for name, (strength, order) in best.items())
        first = solution.classes[cls][0]
        options.append((0, 0, fallback_name(observation.path(first), observation.column_axis[first])))
        candidates.append(options)

    def assign(reserved: dict[int, str]) -> list[str]:
        taken = set(reserved.values())
        chosen: dict[int, str] = dict(reserved)
        # Strongest claims first, so that "batch" goes to the class that is most surely the batch.
        for root in sorted(range(len(candidates)), key=lambda r: (candidates[r][0][0], r)):
            if root in chosen:
                continue
            for _, _, name in candidates[root]:
                if name not in taken:
                    break
            else:
                base, n = candidates[root][-1][2], 2
                while f"{base}_{n}" in taken:
                    n += 1
                name = f"{base}_{n}"
            chosen[root] = name
            taken.add(name)
        return [chosen[r] for r in range(len(candidates))]

    auto = assign({})
    if not names:
        return auto
    describe = [solution.class_expr[c].format(auto) for c in range(len(solution.classes))]
    return assign(_overrides(observation, solution, names, auto, describe))
