"""What a report shows: column choice, sorting, top-N, collapsing nested models, per-type totals.

Pure functions from the JSON-contract dict to a `View`; the renderers (table, csv, markdown) only
format a View. Exact values are kept; formatting is the renderer's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnncost.errors import CnnCostError
from cnncost.ir import known_sum

SUMMABLE = (
    "params",
    "trainable_params",
    "non_trainable_params",
    "macs",
    "flops",
    "train_flops",
    "activation_bytes",
    "weight_bytes",
    "bytes_moved",
    "latency_s",
    "floor_s",
    "train_latency_s",
)
DEFAULT_COLUMNS = ("name", "type", "output_shape", "params", "macs", "flops", "receptive_field")
# With --device the rows carry roofline fields; the default view then trades the shape/RF columns
# for them, so that it still fits an 80-column terminal (`--columns` shows any mix).
# --by-type: every summable field would not fit 80 columns; --columns shows the others.
BY_TYPE_COLUMNS = ("type", "count", "params", "macs", "flops", "train_flops", "latency_s")
ROOFLINE_COLUMNS = (
    "name",
    "type",
    "flops",
    "arithmetic_intensity",
    "bound",
    "latency_s",
    "train_latency_s",
    "time_source",
)


@dataclass(frozen=True)
class View:
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]
    totals: Mapping[str, Any]
    hidden_rows: int = 0  # rows left out by --top


def collapse(rows: Sequence[Mapping[str, Any]], depth: int) -> list[dict[str, Any]]:
    """Rows of nested models deeper than `depth` levels merged into one row per prefix.

    `depth=0` shows each top-level nested model as one row; numbers are summed exactly.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    order: list[str] = []
    for row in rows:
        parts = row["name"].split("/")
        key = "/".join(parts[: depth + 1])
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(row)
    result = []
    for key in order:
        members = groups[key]
        if len(members) == 1 and members[0]["name"] == key:
            result.append(dict(members[0]))
            continue
        merged = {
            "name": key,
            "type": f"{len(members)} layers",
            "inputs": members[0].get("inputs", []),
            "output_shape": members[-1].get("output_shape"),
            "status": "exact" if all(m["status"] == "exact" for m in members) else "partial",
        }
        if "receptive_field" in members[-1]:
            merged["receptive_field"] = members[-1]["receptive_field"]
        for field in SUMMABLE:
            if any(field in m for m in members):
                merged[field] = known_sum([m.get(field) for m in members])
        result.append(merged)
    return result


def by_type(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per layer type: count and summed numbers, in order of first appearance."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["type"], []).append(row)
    result = []
    for layer_type, members in groups.items():
        merged: dict[str, Any] = {"type": layer_type, "count": len(members)}
        for field in SUMMABLE:
            if any(field in m for m in members):
                merged[field] = known_sum([m.get(field) for m in members])
        merged["status"] = "exact" if all(m["status"] == "exact" for m in members) else "partial"
        result.append(merged)
    return result


def _sort_key(field: str):
    def key(row: Mapping[str, Any]):
        value = row.get(field)
        if isinstance(value, (int, float)):
            return (0, -value)
        return (1, 0) if value is None else (0, str(value))

    return key


def make_view(
    data: Mapping[str, Any],
    columns: Sequence[str] | None = None,
    sort: str | None = None,
    top: int | None = None,
    depth: int | None = None,
    group_by_type: bool = False,
    group: bool = False,
    percent: bool = False,
) -> View:
    rows: list[Mapping[str, Any]] = list(data["layers"])
    if depth is not None and depth < 0:
        raise CnnCostError("--depth must be 0 or more")
    if group and group_by_type:
        raise CnnCostError("--group and --by-type are two views: rows per block, or per type")
    if group:  # blocks and stages from names and nested models (cnncost.render.grouping)
        from cnncost.render.grouping import group_rows

        rows = group_rows(rows, depth, SUMMABLE)
    elif depth is not None:
        rows = collapse(rows, depth)
    if group_by_type:
        rows = by_type(rows)
    if percent or any(c.endswith("_share") for c in columns or ()):
        from cnncost.render.share import add_shares

        rows = add_shares(rows, data)
    # keys starting with `_` carry renderer notes (a group's lower bounds), not columns
    available = list(dict.fromkeys(k for row in rows for k in row if not k.startswith("_")))
    if columns:
        unknown = [c for c in columns if c not in available]
        if unknown:
            raise CnnCostError(f"unknown column {unknown[0]!r}; available: {', '.join(available)}")
        chosen = tuple(columns)
    elif group_by_type:
        chosen = tuple(c for c in BY_TYPE_COLUMNS if c in available)
    else:
        defaults = ROOFLINE_COLUMNS if "latency_s" in available else DEFAULT_COLUMNS
        chosen = tuple(c for c in defaults if c in available)
    if percent and not columns:
        from cnncost.render.share import with_share_columns

        chosen = with_share_columns(chosen, available)
    if top is not None and sort is None:
        sort = next((f for f in ("flops", "macs", "params") if f in available), None)
    if sort is not None:
        if sort not in available:
            raise CnnCostError(f"cannot sort by unknown column {sort!r}")
        rows = sorted(rows, key=_sort_key(sort))
    hidden = 0
    if top is not None:
        if top < 1:
            raise CnnCostError("--top must be 1 or more")
        hidden = max(len(rows) - top, 0)
        rows = rows[:top]
    return View(chosen, tuple(rows), data["totals"], hidden)


def heaviest_shares(data: Mapping[str, Any], field: str, count: int = 3) -> list[tuple[str, float]]:
    """The `count` layers with the largest share of a total (e.g. FLOPs), as (name, fraction)."""
    total = data["totals"].get(field)
    if not total:
        return []
    rows = [r for r in data["layers"] if isinstance(r.get(field), int)]
    rows.sort(key=lambda r: -r[field])
    return [(r["name"], r[field] / total) for r in rows[:count]]
