"""The terminal table (rich): one row per layer, totals, conventions and warnings.

Columns are declared once in `COLUMNS`; a column whose field no row has is left out, so a pass
that adds a row field only adds a `Column` here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnncost.render.numbers import human, shape_text
from cnncost.report import Report


def _rf_text(value: Any) -> str:
    if not value:
        return ""
    parts = []
    for field in value.values():
        if field is None:  # no spatial relation to that input
            continue
        if field.get("global"):
            parts.append("global")
            continue
        size = field.get("size") or []
        jump = field.get("jump") or []
        size_text = "x".join("?" if s is None else str(s) for s in size)
        jump_text = "x".join("?" if j is None else str(j) for j in jump)
        parts.append(f"{size_text}/{jump_text}")
    return " ".join(parts)


@dataclass(frozen=True)
class Column:
    key: str  # the row field in the JSON contract
    header: str
    text: Callable[[Any, str], str]
    numeric: bool = True


COLUMNS = (
    Column("name", "Layer", lambda v, u: str(v), numeric=False),
    Column("type", "Type", lambda v, u: str(v), numeric=False),
    Column("output_shape", "Output", lambda v, u: shape_text(v), numeric=False),
    Column("params", "Params", human),
    Column("macs", "MACs", human),
    Column("flops", "FLOPs", human),
    Column("receptive_field", "RF/jump", lambda v, u: _rf_text(v), numeric=False),
)

TOTAL_KEYS = ("params", "trainable_params", "non_trainable_params", "macs", "flops", "train_flops")


def _title(data: dict) -> str:
    model = data["model"]
    inputs = ", ".join(f"{t['name']} {shape_text(t['shape'])}" for t in model["inputs"])
    conventions = ", ".join(f"{k}={v}" for k, v in data["conventions"].items())
    return f"{model['name']} ({model['source']})\ninput {inputs}; {conventions}"


def render_table(report: Report, units: str = "auto"):
    """A rich renderable (Group of the table, totals and warnings)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    data = report.to_dict()
    rows = data["layers"]
    columns = [c for c in COLUMNS if any(c.key in row for row in rows)]
    table = Table(title=_title(data), title_justify="left", show_footer=True, pad_edge=False)
    totals = data["totals"]
    for column in columns:
        footer = "total" if column.key == "name" else ""
        if column.key in totals:
            footer = column.text(totals[column.key], units)
        table.add_column(
            column.header,
            footer=footer,
            justify="right" if column.numeric else "left",
            overflow="fold",
            no_wrap=column.numeric,
        )
    for row in rows:
        cells = [column.text(row.get(column.key), units) for column in columns]
        style = "red" if row["status"] == "unsupported" else "yellow" if row["status"] == "partial" else None
        table.add_row(*cells, style=style)
    summary = ", ".join(
        f"{key.replace('_', ' ')} {human(totals[key], 'raw')}" for key in TOTAL_KEYS if key in totals
    )
    parts = [table, Text(summary)]
    for warning in data["warnings"]:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)
