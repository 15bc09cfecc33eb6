"""`cnncost suggest` and `cnncost audit` output as text (data in, text out)."""

from __future__ import annotations

from typing import Any

METRICS = (
    ("params", "params"),
    ("macs", "MACs"),
    ("flops", "FLOPs"),
    ("peak_activation_bytes", "peak activations (bytes)"),
    ("receptive_field", "largest RF"),
    ("input_size", "input size"),
    ("rf_coverage", "RF / input"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return "x".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _change(before: Any, after: Any) -> str:
    if isinstance(before, int) and isinstance(after, int) and before:
        return f"{(after - before) / before:+.1%}"
    return ""


def render_advice_text(data: dict[str, Any], written: dict[int, str] | None = None) -> str:
    lines = [
        f"model {data['model']['source']}: FLOP convention {data['conventions']['flops']}, "
        f"batch {data['conventions']['batch']}",
    ]
    before = data["before"]
    lines.append(
        "now: "
        + ", ".join(f"{label} {_fmt(before[key])}" for key, label in METRICS if key in before)
    )
    for note in data["notes"]:
        lines.append(f"note: {note}")
    if not data["suggestions"]:
        lines.append("no suggestions")
    for number, suggestion in enumerate(data["suggestions"], 1):
        lines.append("")
        flag = "" if suggestion["meets_target"] else "  [target not met: closest option]"
        lines.append(f"{number}. [{suggestion['kind']}] {suggestion['title']}{flag}")
        lines.append(f"   {suggestion['detail']}")
        after = suggestion["after"]
        if after is not None:
            width = max(len(label) for _, label in METRICS)
            for key, label in METRICS:
                b, a = before.get(key), after.get(key)
                lines.append(
                    f"   {label:<{width}}  {_fmt(b):>15} -> {_fmt(a):>15}  {_change(b, a)}"
                )
        if written and number in written:
            lines.append(f"   written: {written[number]}")
    return "\n".join(lines) + "\n"
