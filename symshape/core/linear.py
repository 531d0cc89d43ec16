"""Writing integer linear expressions and comparisons the way a person reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_FLIP = {"<=": ">=", "<": ">", ">=": "<=", ">": "<", "==": "==", "!=": "!="}


def format_linear(terms: Sequence[tuple[str, int]], const: int) -> str:
    """``[("past_len", 1), ("seq_len", 1)], 0`` -> ``"past_len + seq_len"``.

    Terms in name order, so that the text does not depend on input order; negative
    coefficients print as subtraction (``a - 2*b``).
    """
    ordered = sorted((name, c) for name, c in terms if c)
    if not ordered:
        return str(const)
    text = ""
    for i, (name, c) in enumerate(ordered):
        magnitude = name if abs(c) == 1 else f"{abs(c)}*{name}"
        if i == 0:
            text = magnitude if c > 0 else f"-{magnitude}"
        else:
            text += f" + {magnitude}" if c > 0 else f" - {magnitude}"
    if const > 0:
        text += f" + {const}"
    elif const < 0:
        text += f" - {-const}"
    return text


def format_comparison(terms: Mapping[str, int], const: int, op: str) -> str:
    """``sum(c * name) + const OP 0`` as a person writes it: positive terms on one side,
    negative ones on the other, the constant on the right, and on the left the side
    with fewer terms (an axis alone, or a term with coefficient 1, if it can be).

    ``{"past_len": 1, "seq_len": 1, "attention_mask.shape[1]": -1}, 0, "<="`` ->
    ``attention_mask.shape[1] >= past_len + seq_len``.
    """
    pos = [(n, c) for n, c in terms.items() if c > 0]
    neg = [(n, -c) for n, c in terms.items() if c < 0]
    # pos OP neg - const     or, flipped,     neg FLIP pos + const
    options = []
    if pos:
        options.append((len(pos), not _is_axis(pos), _scaled(pos), 0, pos, op, neg, -const))
    if neg:
        options.append((len(neg), not _is_axis(neg), _scaled(neg), 1, neg, _FLIP[op], pos, const))
    if not options:
        return f"{const} {'=' if op == '==' else op} 0"
    *_, left, relation, right, right_const = min(options, key=lambda o: o[:4])
    symbol = "=" if relation == "==" else relation
    return f"{format_linear(left, 0)} {symbol} {format_linear(right, right_const)}"


def _scaled(side: Sequence[tuple[str, int]]) -> bool:
    return any(c != 1 for _, c in side)


def _is_axis(side: Sequence[tuple[str, int]]) -> bool:
    return len(side) == 1 and ".shape[" in side[0][0]
