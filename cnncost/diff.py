"""Compare two reports (two models, or one model at two input sizes), per layer and in totals.

Rows are matched by name first, then the rest by position (so two builds of one architecture
whose layer names differ by a suffix still line up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FIELDS = ("params", "macs", "flops")


@dataclass(frozen=True)
class DiffRow:
    name_a: str | None
    name_b: str | None
    type_a: str | None
    type_b: str | None
    shape_a: Any
    shape_b: Any
    values_a: Mapping[str, Any]
    values_b: Mapping[str, Any]

    def delta(self, field: str) -> Any:
        a, b = self.values_a.get(field), self.values_b.get(field)
        return None if a is None or b is None else b - a


def match_rows(
    rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    by_name_b = {row["name"]: row for row in rows_b}
    matched_b = {row["name"] for row in rows_a if row["name"] in by_name_b}
    rest_b = iter([row for row in rows_b if row["name"] not in matched_b])
    pairs: list[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]] = []
    for row in rows_a:
        if row["name"] in by_name_b:
            pairs.append((row, by_name_b[row["name"]]))
        else:
            pairs.append((row, next(rest_b, None)))
    pairs += [(None, row) for row in rest_b]
    return pairs


def diff_reports(a: Mapping[str, Any], b: Mapping[str, Any], fields=FIELDS) -> list[DiffRow]:
    def values(row):
        return {f: row.get(f) for f in fields} if row else {}

    return [
        DiffRow(
            ra["name"] if ra else None,
            rb["name"] if rb else None,
            ra["type"] if ra else None,
            rb["type"] if rb else None,
            ra.get("output_shape") if ra else None,
            rb.get("output_shape") if rb else None,
            values(ra),
            values(rb),
        )
        for ra, rb in match_rows(a["layers"], b["layers"])
    ]


def diff_totals(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    result = {}
    for key in a["totals"]:
        va, vb = a["totals"].get(key), b["totals"].get(key)
        # a lower-bound total (rows left out) has no exact difference
        exact = key not in a.get("left_out", {}) and key not in b.get("left_out", {})
        delta = vb - va if exact and isinstance(va, int) and isinstance(vb, int) else None
        result[key] = (va, vb, delta)
    return result


def diff_to_dict(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "schema": 1,
        "a": a["model"],
        "b": b["model"],
        "totals": {
            k: {"a": va, "b": vb, "delta": d} for k, (va, vb, d) in diff_totals(a, b).items()
        },
        "layers": [
            {
                "a": row.name_a,
                "b": row.name_b,
                "type_a": row.type_a,
                "type_b": row.type_b,
                "output_shape_a": row.shape_a,
                "output_shape_b": row.shape_b,
                **{f"{f}_a": row.values_a.get(f) for f in FIELDS},
                **{f"{f}_b": row.values_b.get(f) for f in FIELDS},
                **{f"{f}_delta": row.delta(f) for f in FIELDS},
            }
            for row in diff_reports(a, b)
        ],
    }
