"""The `cnncost diff` table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.diff import FIELDS, diff_reports, diff_totals
from cnncost.render.escape import text
from cnncost.render.numbers import bound_mark, human, shape_text


def _delta(value: Any, units: str) -> str:
    if value is None:
        return "?"
    if value == 0:
        return "="
    return ("+" if value > 0 else "-") + human(abs(value), units)


def render_diff(a: Mapping[str, Any], b: Mapping[str, Any], units: str = "auto"):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    fields = [f for f in FIELDS if f in a["totals"] or f in b["totals"]]
    # names and paths as rich Text, escaped (cnncost/render/escape.py): never markup
    table = Table(
        title=Text(
            f"A: {text(a['model']['name'])} ({text(a['model']['source'])})\n"
            f"B: {text(b['model']['name'])} ({text(b['model']['source'])})"
        ),
        title_justify="left",
        pad_edge=False,
    )
    table.add_column("Layer (A / B)", overflow="fold")
    table.add_column("Output A -> B", overflow="fold")
    for field in fields:
        table.add_column(f"{field} A", justify="right", no_wrap=True)
        table.add_column("Δ", justify="right", no_wrap=True)
    for row in diff_reports(a, b, fields):
        name = (
            row.name_a if row.name_a == row.name_b else f"{row.name_a or '-'} / {row.name_b or '-'}"
        )
        same_shape = row.shape_a == row.shape_b
        shapes = (
            shape_text(row.shape_a)
            if same_shape
            else (
                f"{shape_text(row.shape_a) if row.name_a else '-'} -> "
                f"{shape_text(row.shape_b) if row.name_b else '-'}"
            )
        )
        cells = [name, shapes]
        for field in fields:
            cells += [
                human(row.values_a.get(field), units) if row.name_a else "-",
                _delta(row.delta(field), units),
            ]
        table.add_row(*(Text(text(cell)) for cell in cells))
    totals = diff_totals(a, b)
    lines = [
        f"{key.replace('_', ' ')}: {bound_mark(a, key)}{human(va, 'raw')} -> "
        f"{bound_mark(b, key)}{human(vb, 'raw')} ({_delta(d, 'raw')})"
        for key, (va, vb, d) in totals.items()
    ]
    return Group(table, *(Text(line) for line in lines))
