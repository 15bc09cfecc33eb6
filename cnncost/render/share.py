"""`report --percent`: each row's share of a total, as columns `<field>_share` (0..1).

A share is `row value / model total`. It is `None` (the table's `?`) when the row's value is
unknown, and for every row when the total is a lower bound (it leaves out unknown rows,
`left_out`): dividing by a lower bound would overstate every share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SHARED = ("params", "macs", "flops", "train_flops", "activation_bytes", "weight_bytes", "latency_s")
SUFFIX = "_share"


def share(value: Any, total: Any) -> float | None:
    if not isinstance(value, (int, float)) or not isinstance(total, (int, float)) or not total:
        return None
    return value / total


def add_shares(rows: Sequence[Mapping[str, Any]], data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`rows` with a `<field>_share` after each field of SHARED that the rows have."""
    totals, left_out = data["totals"], data.get("left_out", {})
    result = []
    for row in rows:
        out: dict[str, Any] = {}
        for key, value in row.items():
            out[key] = value
            if key in SHARED:
                total = None if key in left_out else totals.get(key)
                out[key + SUFFIX] = share(value, total)
        result.append(out)
    return result


# the shares a plain --percent adds (MACs track FLOPs; `--columns macs,macs_share` shows them)
DEFAULT_SHARES = ("params", "flops", "train_flops", "latency_s")


def with_share_columns(chosen: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    """The view's columns with each of DEFAULT_SHARES followed by its share."""
    columns: list[str] = []
    for column in chosen:
        columns.append(column)
        if column in DEFAULT_SHARES and column + SUFFIX in available:
            columns.append(column + SUFFIX)
    return tuple(columns)


def share_text(value: Any) -> str:
    """0.4671 -> '46.7%', 0.00004 -> '<0.1%', 0 -> '0%'; None -> '?'."""
    if value is None:
        return "?"
    if value == 0:
        return "0%"
    if value < 0.001:
        return "<0.1%"
    return f"{value:.1%}"
