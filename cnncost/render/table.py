"""The terminal table (rich): one row per layer (or per type / nested model), totals, the
conventions in the title, the heaviest layers' shares and every warning below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cnncost.diagnostics import for_people
from cnncost.render import escape
from cnncost.render.numbers import LOWER_BOUND, bound_mark, human, seconds_text, shape_text
from cnncost.render.share import SHARED
from cnncost.render.view import View, make_view
from cnncost.report import Report

HEADERS = {
    "name": "Layer",
    "type": "Type",
    "output_shape": "Output",
    "params": "Params",
    "trainable_params": "Trainable",
    "non_trainable_params": "Frozen",
    "macs": "MACs",
    "flops": "FLOPs",
    "train_flops": "Train FLOPs",
    "activation_bytes": "Act. bytes",
    "weight_bytes": "W. bytes",
    "receptive_field": "RF/jump",
    "count": "Count",
    "inputs": "Inputs",
    "status": "Status",
    "bytes_moved": "Bytes moved",
    "arithmetic_intensity": "FLOP/B",
    "bound": "Bound",
    "latency_s": "Pred. time",
    "floor_s": "Floor",
    "train_latency_s": "Pred. train",
    "layer_kind": "Kind",
    "time_source": "Time from",
    "train_time_source": "Train from",
}
# report --percent: each summable column's share of the model total (cnncost.render.share)
# (the header is `%`: the share column stands right after its number column)
HEADERS.update({f"{key}_share": "%" for key in SHARED})


TEXT_COLUMNS = frozenset(
    {"name", "type", "output_shape", "receptive_field", "inputs", "status", "bound", "time_source"}
    | {"train_time_source"}
)


def _axes_text(values: Any) -> str:
    """One number when every axis agrees (`22`), else one per axis (`22x18`)."""
    texts = ["?" if v is None else str(v) for v in values or []]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


def _size_text(field: Mapping[str, Any]) -> str:
    """`22`, or `3..5` per axis where the size depends on the unit's position."""
    low, high = field.get("size_min"), field.get("size_max")
    if low and high and low != high:
        texts = [f"{a}..{b}" if a != b else str(a) for a, b in zip(low, high, strict=True)]
        return texts[0] if len(set(texts)) == 1 else "x".join(texts)
    return _axes_text(field.get("size"))


def _local_rf_text(field: Mapping[str, Any]) -> str:
    return f"{_size_text(field)}/{_axes_text(field.get('jump'))}"


GATED_NOTE = (
    "* local receptive field behind a channel-only global gate (squeeze-and-excitation); "
    "the formal receptive field is the whole input"
)


def _is_gated(row: Mapping[str, Any]) -> bool:
    return any(
        f and f.get("global") and f.get("local")
        for f in (row.get("receptive_field") or {}).values()
    )


def rf_text(value: Any) -> str:
    """`22/8` (size/jump; per axis `22x18/8x4` when they differ), `851/32*` for the local RF behind
    a global gate (see GATED_NOTE), `global`, or '' where there is no spatial relation; a trailing
    `?` where the RF is not exact."""
    if not value:
        return ""
    parts = []
    for field in value.values():
        if field is None:  # no spatial relation to that input
            continue
        if field.get("global"):
            local = field.get("local")
            parts.append(f"{_local_rf_text(local)}*" if local else "global")
            continue
        parts.append(_local_rf_text(field) + ("" if field.get("exact", True) else "?"))
    return " ".join(parts)


def cell_text(column: str, value: Any, units: str) -> str:
    if column == "output_shape":
        return shape_text(value)
    if column == "receptive_field":
        return rf_text(value)
    if column == "inputs":
        return ",".join(value or [])
    if column.endswith("_s") and isinstance(value, (int, float)):
        return seconds_text(value)
    if column == "arithmetic_intensity" and isinstance(value, float):
        return f"{value:.3g}"
    if column == "bound":
        return value or ""
    if column.endswith("_share"):
        from cnncost.render.share import share_text

        return share_text(value)
    if isinstance(value, (int, type(None))) and column not in ("name", "type"):
        return human(value, units)
    return str(value)


def title(data: Mapping[str, Any]) -> str:
    return "\n".join(title_lines(data))


def title_lines(data: Mapping[str, Any]) -> list[str]:
    """The title's two lines, as raw text (a renderer escapes each line for its format)."""
    model = data["model"]
    inputs = ", ".join(f"{t['name']} {shape_text(t['shape'])}" for t in model["inputs"])
    # the device's numbers are in the line below the table; empty settings are left out
    in_device_line = {"peak_flops", "bandwidth", "overhead_s", "call_overhead_s"}
    conventions = ", ".join(
        f"{k}={v}"
        for k, v in data["conventions"].items()
        if k not in in_device_line and v not in ({}, None, [])
    )
    return [f"{model['name']} ({model['source']})", f"input {inputs}; {conventions}"]


def footer_lines(data: Mapping[str, Any], view: View) -> list[str]:
    """The lines under a Markdown table: `cnncost.render.summary.summary_markdown_lines`."""
    from cnncost.render.summary import summary_markdown_lines

    return summary_markdown_lines(data, view)


def _device_line(data: Mapping[str, Any]) -> str:
    """The roofline's whole-model predictions, when the report has them."""
    totals, conventions = data["totals"], data["conventions"]
    if "device" not in conventions:
        return ""
    parts = [
        f"{label} {seconds_text(totals[key])}"
        for key, label in (
            ("latency_s", "inference"),
            ("train_step_s", "train step"),
            ("epoch_s", f"epoch ({totals.get('steps_per_epoch')} steps)"),
        )
        if isinstance(totals.get(key), float)
    ]
    rate = totals.get("train_samples_per_s")
    if isinstance(rate, float):
        parts.append(f"{rate:,.1f} train samples/s")
    return (
        f"predicted on {conventions['device']} ({conventions['peak_dtype']} "
        f"{conventions['peak_flops'] / 1e12:.3g} TFLOP/s, {conventions['bandwidth'] / 1e9:.4g} "
        f"GB/s, {conventions['overhead_s'] * 1e6:.3g} us/layer, "
        f"{conventions.get('call_overhead_s', 0) * 1e6:.3g} us/call), batch {conventions['batch']}: "
        + (", ".join(parts) if parts else "unknown (see warnings)")
        + _time_sources(data.get("layers") or [])
    )


def _time_sources(rows) -> str:
    """`; time from fitted:conv 52, kind-factors 3, ...`: how many rows each model predicted
    (JSON/CSV `time_source`), said only when some row was not the raw roofline."""
    counts: dict[str, int] = {}
    for row in rows:
        source = row.get("time_source")
        if isinstance(source, str):
            counts[source] = counts.get(source, 0) + 1
    if set(counts) <= {"roofline"}:
        return ""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return "; time from " + ", ".join(f"{source} {n}" for source, n in ordered)


def render_table(
    report: Report | Mapping[str, Any],
    units: str = "auto",
    view_of: Callable[[Mapping[str, Any]], View] = make_view,
):
    """A rich renderable: the table, the totals summary, the heaviest layers, every warning.

    The table is laid out for the width of the console it is printed on (`cnncost.render.fit`):
    numbers are never cut, names and types are shortened from the middle."""
    data = report.to_dict() if isinstance(report, Report) else report
    return _FittedTable(data, view_of(data), units)


class _FittedTable:
    """Builds the rich table when the console's width is known (rich's render protocol)."""

    def __init__(self, data: Mapping[str, Any], view: View, units: str):
        self.data, self.view, self.units = data, view, units

    def __rich_console__(self, console, options):
        yield from build_table(self.data, self.view, self.units, options.max_width)


def build_table(data: Mapping[str, Any], view: View, units: str, width: int) -> list:
    """The renderables of `render_table` for a console `width` cells wide."""
    from rich.table import Table
    from rich.text import Text

    from cnncost.render.fit import fit_columns
    from cnncost.render.summary import summary_lines

    headers = {c: HEADERS.get(c, c) for c in view.columns}
    footers = {}
    for index, column in enumerate(view.columns):
        total = view.totals.get(column, "")
        footers[column] = (
            "total"
            if index == 0
            else bound_mark(data, column) + cell_text(column, total, units)
            if total != ""
            else ""
        )
    # Text, never markup: a name is shown as written, escaped (cnncost/render/escape.py)
    texts = [[escape.text(_cell(row, c, units)) for c in view.columns] for row in view.rows]
    fitted = fit_columns(
        view.columns, {c: column_kind(c) for c in view.columns}, headers, footers, texts, width
    )
    table = Table(
        title=Text("\n".join(escape.text(line) for line in title_lines(data))),
        title_justify="left",
        show_footer=True,
        pad_edge=False,
    )
    for column in fitted.columns:
        numeric = column not in TEXT_COLUMNS
        table.add_column(
            headers[column],
            footer=footers[column],
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=column_kind(column) != "wrap",
            width=fitted.widths[column],
        )
    for row, cells in zip(view.rows, fitted.cells, strict=True):
        status = row.get("status")
        style = "red" if status == "unsupported" else "yellow" if status == "partial" else None
        table.add_row(*(Text(cell) for cell in cells), style=style)
    parts: list = [table]
    if fitted.name_prefix:
        prefix = escape.text(fitted.name_prefix)
        parts.append(Text(f"(… at the start of a name stands for {prefix})"))
    if fitted.dropped:
        left_out = ", ".join(fitted.dropped)
        parts.append(Text(f"(columns left out to fit {width} columns: {left_out})"))
    parts += [Text(escape.text(line)) for line in summary_lines(data, view, width)]
    parts += [
        Text(f"warning: {escape.text(w)}", style="yellow") for w in for_people(data["warnings"])
    ]
    return parts


def _cell(row: Mapping[str, Any], column: str, units: str) -> str:
    """A cell; a group's unknown sum shows the sum of its known members as a lower bound."""
    from cnncost.render.grouping import LOWER_BOUNDS

    bounds = row.get(LOWER_BOUNDS) or {}
    if row.get(column) is None and column in bounds:
        return LOWER_BOUND + cell_text(column, bounds[column], units)
    return cell_text(column, row.get(column), units)


def column_kind(column: str) -> str:
    """How `cnncost.render.fit` may narrow a column: names shorten, shapes wrap at spaces, numbers
    never change."""
    if column in ("name", "type", "layer_kind", "time_source", "train_time_source"):
        return "shorten"
    if column in ("output_shape", "receptive_field", "inputs"):
        return "wrap"
    return "fixed"


def _recording_console(width: int):
    from io import StringIO

    from rich.console import Console

    return Console(
        file=StringIO(), width=width, record=True, color_system=None, highlight=False, markup=False
    )


def table_text(
    report: Report | Mapping[str, Any],
    width: int = 100,
    view_of: Callable[[Mapping[str, Any]], View] = make_view,
) -> str:
    """The rendered table as plain text (no colour codes), `width` columns wide."""
    console = _recording_console(width)
    console.print(render_table(report, view_of=view_of))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def table_html(report: Report | Mapping[str, Any], width: int = 120) -> str:
    """The rendered table as a self-contained HTML fragment (inline styles) for notebooks."""
    console = _recording_console(width)
    console.print(render_table(report))
    return console.export_html(
        inline_styles=True, code_format='<pre style="font-family: monospace">{code}</pre>'
    )
