"""Human number formatting for tables (exact values stay in JSON/CSV)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_UNITS = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3))


def human(value: Any, unit: str = "auto") -> str:
    """1234567 -> '1.23M' (auto), or in a fixed unit ('raw', 'K', 'M', 'G'); None -> '?'."""
    if value is None:
        return "?"
    if not isinstance(value, int):
        return str(value)
    if unit == "raw":
        return f"{value:,}"
    if unit != "auto":
        return fixed_unit_text(value, unit)
    for suffix, scale in _UNITS:
        if abs(value) >= scale:
            return (
                f"{value / scale:.3g}{suffix}"
                if value / scale < 1000
                else f"{value / scale:.0f}{suffix}"
            )
    return str(value)


def fixed_unit_text(value: int, unit: str) -> str:
    """`value` in a fixed unit (K, M, G, T): two decimals from 1 unit up (`5.39M`, `5392.49K`),
    three significant digits below it (`0.00539G`, `0.000896M`), so that a count that is not
    zero never reads `0.00G`."""
    number = value / dict(_UNITS)[unit]
    if value == 0 or abs(number) >= 1:
        return f"{number:.2f}{unit}"
    digits = 2 - math.floor(math.log10(abs(number)))  # decimals for 3 significant digits
    text = f"{number:.{digits}f}".rstrip("0")
    return f"{text}{unit}"


def shape_text(shape: Any) -> str:
    """`254x254x32` for (None, 254, 254, 32): the batch axis is left out when unknown, since
    every row shares it (the title states the batch); other unknown dims are `?`."""
    if shape is None:
        return "?"
    if shape and isinstance(shape[0], (list, tuple)):
        return " ".join(shape_text(s) for s in shape)
    dims = list(shape[1:]) if shape and shape[0] is None else list(shape)
    return "x".join("?" if d is None else str(d) for d in dims) or "scalar"


def seconds_text(value: Any) -> str:
    """0.000123 -> '123us', 0.0456 -> '45.6ms', 12.3 -> '12.3s', 4000 -> '1.11h'; None -> '?'."""
    if value is None:
        return "?"
    if value >= 3600:
        return f"{value / 3600:.3g}h"
    if value >= 60:
        return f"{value / 60:.3g}min"
    for suffix, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value * 1e9:.3g}ns"


LOWER_BOUND = "≥"  # marks a total that leaves out rows whose value is unknown


def bound_mark(data: Mapping[str, Any], key: str) -> str:
    """`≥` when the report's total `key` leaves out rows (JSON `left_out`), else nothing."""
    return LOWER_BOUND if key in data.get("left_out", {}) else ""
