"""The summary block under a table, and the totals-only view (`report --totals-only`).

What a person reads at a glance: params, MACs/FLOPs, memory in KB/MB/GB, the receptive field of
the output and the heaviest layers. Exact numbers stay in JSON/CSV; here `≥` marks a total that
leaves out rows whose value is unknown (see `cnncost.render.numbers.bound_mark`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from cnncost.render.numbers import bound_mark, human, shape_text

LABEL_WIDTH = 10  # `params    `, `memory    `, ...: the labels of the block, left-aligned

# decimal units (1 KB = 1000 bytes), like the K/M/G of counts
_BYTE_UNITS = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))


def bytes_text(value: Any) -> str:
    """21322284 -> '21.3 MB' (decimal units), 512 -> '512 B'; None -> '?'."""
    if value is None:
        return "?"
    if not isinstance(value, int):
        return str(value)
    for suffix, scale in _BYTE_UNITS:
        if abs(value) >= scale:
            number = value / scale
            return f"{number:.3g} {suffix}" if number < 1000 else f"{number:.0f} {suffix}"
    return f"{value} B"


def _count(data: Mapping[str, Any], key: str) -> str:
    return bound_mark(data, key) + human(data["totals"].get(key))


def _bytes(data: Mapping[str, Any], key: str) -> str:
    return bound_mark(data, key) + bytes_text(data["totals"].get(key))


def _params_line(data: Mapping[str, Any]) -> str:
    totals = data["totals"]
    exact = totals.get("params")
    text = _count(data, "params")
    if isinstance(exact, int) and exact >= 1000:
        text += f" ({exact:,}"
        frozen = totals.get("non_trainable_params")
        if isinstance(frozen, int) and frozen:
            text += f"; {bound_mark(data, 'non_trainable_params')}{frozen:,} frozen"
        text += ")"
    return text


def _compute_line(data: Mapping[str, Any]) -> str:
    totals = data["totals"]
    parts = [
        f"{label} {_count(data, key)}"
        for key, label in (("macs", "MACs"), ("flops", "FLOPs"), ("train_flops", "train FLOPs"))
        if key in totals
    ]
    return ", ".join(parts)


def _memory_line(data: Mapping[str, Any]) -> str:
    totals = data["totals"]
    parts = []
    if "weight_bytes" in totals:
        parts.append(f"weights {_bytes(data, 'weight_bytes')}")
    if "activation_bytes" in totals:
        text = f"activations {_bytes(data, 'activation_bytes')}"
        if "peak_activation_bytes" in totals:
            text += f" (peak {_bytes(data, 'peak_activation_bytes')})"
        parts.append(text)
    if "train_bytes" in totals:
        parts.append(f"training {_bytes(data, 'train_bytes')}")
    return ", ".join(parts)


def _field_text(field: Mapping[str, Any]) -> str:
    """`851/32` (size/jump, one number when every axis agrees, else per axis)."""
    from cnncost.render.table import rf_text

    return rf_text({"x": field})


def _rf_line(data: Mapping[str, Any]) -> str:
    """The receptive field of each model output, and the input size it is measured against."""
    rows = {row["name"]: row for row in data["layers"]}
    outputs = [t["name"] for t in data["model"].get("outputs", [])] or [data["layers"][-1]["name"]]
    parts = []
    for name in outputs:
        row = rows.get(name)
        fields = [f for f in ((row or {}).get("receptive_field") or {}).values() if f]
        if not fields:
            continue
        field = fields[0]
        if field.get("global") and field.get("local"):
            text = f"global (local {_field_text(field['local'])} behind a channel gate)"
        elif field.get("global"):
            text = "global" + _last_local(data["layers"])
        else:
            text = _field_text(field)
        parts.append(f"{name} {text}" if len(outputs) > 1 else text)
    if not parts:
        return ""
    inputs = [shape_text(t["shape"]) for t in data["model"]["inputs"]]
    return "; ".join(parts) + f" (input {', '.join(inputs)})"


def _last_local(layers: Sequence[Mapping[str, Any]]) -> str:
    """`; last local 22/8 at max_pooling2d_2`: the deepest row whose RF is still local."""
    for row in reversed(layers):
        fields = [f for f in (row.get("receptive_field") or {}).values() if f]
        if not fields:
            continue
        if not fields[0].get("global"):
            return f"; last local {_field_text(fields[0])} at {row['name']}"
        if fields[0].get("local"):  # behind a squeeze-and-excitation gate
            local = _field_text(fields[0]["local"])
            return f"; last local {local} at {row['name']} (behind a channel gate)"
    return ""


def _heaviest(data: Mapping[str, Any], field: str, count: int = 3) -> str:
    from cnncost.render.view import heaviest_shares

    shares = heaviest_shares(data, field, count)
    return ", ".join(f"{name} {share:.1%}" for name, share in shares)


def summary_entries(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs of the summary block, in order; empty entries are left out."""
    entries = [
        ("params", _params_line(data)),
        ("compute", _compute_line(data)),
        ("memory", _memory_line(data)),
        ("RF", _rf_line(data)),
    ]
    flops, params = _heaviest(data, "flops"), _heaviest(data, "params")
    if flops:
        entries.append(("heaviest", f"FLOPs: {flops}"))
    if params:
        entries.append(("heaviest" if not flops else "", f"params: {params}"))
    return [(label, text) for label, text in entries if text]


def summary_block(data: Mapping[str, Any], width: int | None = 80) -> list[str]:
    """The summary block, each entry wrapped to `width` under its label (None: no wrapping)."""
    lines = []
    for label, text in summary_entries(data):
        lines += _wrap(f"{label:<{LABEL_WIDTH}}", text, width)
    return lines


def summary_lines(data: Mapping[str, Any], view: Any, width: int | None = 80) -> list[str]:
    """Everything below the table: notes on the view, the summary block, the device line."""
    from cnncost.render.table import GATED_NOTE, _device_line, _is_gated

    lines = []
    if view.hidden_rows:
        lines.append(f"({view.hidden_rows} more rows not shown)")
    if "receptive_field" in view.columns and any(_is_gated(row) for row in view.rows):
        lines.append(GATED_NOTE)
    lines += summary_block(data, width)
    blocks = _heaviest_groups(data, view)
    if blocks:
        lines += _wrap(" " * LABEL_WIDTH, f"blocks: {blocks}", width)
    device = _device_line(data)
    if device:
        lines.append(device)
    return lines


def _heaviest_groups(data: Mapping[str, Any], view: Any, count: int = 3) -> str:
    """With --group: the blocks with the largest share of the FLOPs (of MACs without FLOPs)."""
    groups = [r for r in view.rows if "count" in r and r.get("name")]
    field = "flops" if any(isinstance(r.get("flops"), int) for r in groups) else "macs"
    total = data["totals"].get(field)
    known = [r for r in groups if isinstance(r.get(field), int)]
    if not known or not total or field in data.get("left_out", {}):
        return ""
    known.sort(key=lambda r: -r[field])
    label = "FLOPs" if field == "flops" else "MACs"
    return ", ".join(f"{r['name']} {r[field] / total:.1%}" for r in known[:count]) + f" of {label}"


def _wrap(head: str, text: str, width: int | None) -> list[str]:
    if width is None:
        return [head + text]
    return textwrap.wrap(
        text,
        width=max(width, LABEL_WIDTH + 20),
        initial_indent=head,
        subsequent_indent=" " * LABEL_WIDTH,
        break_long_words=False,
        break_on_hyphens=False,
    )


def summary_markdown_lines(data: Mapping[str, Any], view: Any = None) -> list[str]:
    """The summary as a Markdown list (`- params: 5.39M (5,392,494)`), view notes first."""
    from cnncost.render.table import GATED_NOTE, _device_line, _is_gated

    lines = []
    if view is not None and view.hidden_rows:
        lines.append(f"({view.hidden_rows} more rows not shown)")
    if view is not None and "receptive_field" in view.columns:
        if any(_is_gated(row) for row in view.rows):
            lines.append(GATED_NOTE)
    if lines:
        lines.append("")
    label = ""
    for entry_label, text in summary_entries(data):
        label = entry_label or label
        lines.append(f"- {label}: {text}")
    if view is not None:
        blocks = _heaviest_groups(data, view)
        if blocks:
            lines.append(f"- heaviest: blocks: {blocks}")
    device = _device_line(data)
    if device:
        lines.append(f"- {device}")
    return lines


def totals_text(data: Mapping[str, Any], width: int = 80) -> str:
    """`report --totals-only`: the title, the summary block and the warnings, no table."""
    from cnncost.render.table import _device_line, title

    lines = [*title(data).splitlines(), ""]
    lines += summary_block(data, width)
    device_line = _device_line(data)
    if device_line:
        lines.append(device_line)
    lines += [f"warning: {w}" for w in data["warnings"]]
    return "\n".join(lines) + "\n"


def totals_csv(data: Mapping[str, Any]) -> str:
    """`report --totals-only --format csv`: one row of exact totals, `complete` and, per total
    that is a lower bound, the rows it leaves out."""
    import csv
    import io

    totals = {k: v for k, v in data["totals"].items() if isinstance(v, (int, float)) or v is None}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["total", "value", "complete", "left_out"])
    for key, value in totals.items():
        left_out = data.get("left_out", {}).get(key, [])
        writer.writerow([key, "" if value is None else value, not left_out, ";".join(left_out)])
    return out.getvalue()
