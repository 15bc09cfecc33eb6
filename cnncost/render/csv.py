"""CSV: one row per view row, exact values.

Names go through `escape.csv_cell` (one line, never a spreadsheet formula). Shapes and input lists
are JSON text. The receptive field is flat columns, one per field and axis, for each model input:
`rf_size_0`, `rf_size_1`, `rf_jump_0`, ..., `rf_interior_lo_0`, `rf_interior_hi_0`, ...,
`rf_global`, `rf_aligned`, `rf_exact`, `rf_reason`, and `rf_local_*` (the local field behind a
global gate) where some row has one. With several model inputs the prefix names the input:
`rf[input_name]_size_0`. Axis 0 is the first spatial axis (H of NHWC). An empty cell is a value
that is unknown (`null` in JSON) or a field that does not apply to that row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cnncost.passes.receptive_field import RF_KEYS  # the JSON object's keys, in column order
from cnncost.render.escape import csv_cell
from cnncost.render.view import View

PER_AXIS = frozenset(
    {"size", "jump", "start", "effective_padding", "size_min", "size_max", "interior"}
)


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"  # as in the JSON
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))  # ASCII only: \\uXXXX escapes
    if isinstance(value, str):
        return csv_cell(value)
    return "" if value is None else value


def flat_field(field: Mapping[str, Any] | None, prefix: str) -> dict[str, Any]:
    """One receptive-field object as flat `{column: scalar}`: a per-axis list `size: [3, 5]` as
    `size_0`, `size_1`; a per-axis range `interior: [[0, 9], ..]` as `interior_lo_0`,
    `interior_hi_0`; a nested field (`local`) with the prefix `local_`."""
    flat: dict[str, Any] = {}
    if not field:
        return flat
    for key in RF_KEYS:
        if key not in field:
            continue
        value = field.get(key)
        if key == "local":
            flat.update(flat_field(value, f"{prefix}local_"))
        elif isinstance(value, list):
            for axis, item in enumerate(value):
                if key == "interior":  # [low, high] per axis, or null where unknown
                    low, high = item if isinstance(item, list) and len(item) == 2 else (None, None)
                    flat[f"{prefix}{key}_lo_{axis}"], flat[f"{prefix}{key}_hi_{axis}"] = low, high
                else:
                    flat[f"{prefix}{key}_{axis}"] = item
        elif key not in PER_AXIS:
            flat[f"{prefix}{key}"] = value
        # a per-axis field that is null as a whole leaves its cells empty (other rows name them)
    return flat


def flat_rf(value: Mapping[str, Any] | None, inputs: Sequence[str]) -> dict[str, Any]:
    """A row's `receptive_field` ({input name: field or null}) as flat columns."""
    flat: dict[str, Any] = {}
    for name, field in (value or {}).items():
        prefix = "rf_" if len(inputs) <= 1 else f"rf[{name}]_"
        flat.update(flat_field(field, prefix))
    return flat


def render_csv(view: View, inputs: Sequence[str] = ()) -> str:
    """`inputs`: the model's input names (the RF column prefix when there are several)."""
    flats = [flat_rf(row.get("receptive_field"), inputs) for row in view.rows]
    rf_columns = list(dict.fromkeys(key for flat in flats for key in flat))
    header: list[str] = []
    for column in view.columns:
        header += rf_columns if column == "receptive_field" else [column]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in header])
    for row, flat in zip(view.rows, flats, strict=True):
        cells = []
        for column in view.columns:
            if column == "receptive_field":
                cells += [_cell(flat.get(c)) for c in rf_columns]
            else:
                cells.append(_cell(row.get(column)))
        writer.writerow(cells)
    return out.getvalue()
