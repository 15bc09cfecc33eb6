"""`cnncost suggest` and `cnncost audit` output as text (data in, text out)."""

from __future__ import annotations

from typing import Any

from cnncost.render import escape

METRICS = (
    ("params", "params"),
    ("macs", "MACs"),
    ("flops", "FLOPs"),
    ("peak_activation_bytes", "peak activations (bytes)"),
    ("receptive_field", "largest RF"),
    ("input_size", "input size"),
    ("rf_coverage", "RF / input"),
    ("final_feature_map", "final feature map"),
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
    # every string of the result (names, paths, notes) escaped (cnncost/render/escape.py)
    data = escape.strings(data, escape.text)
    written = escape.strings(written or {}, escape.text)
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
    objective = data.get("objective")
    if objective:
        lines.append(
            f"target-RF options ranked by {objective['name']} "
            f"({data.get('combinations_evaluated', 0):,} combinations evaluated): "
            f"score = {objective['score']}; {objective['pareto']}"
        )
    if not data["suggestions"]:
        lines.append("no suggestions")
    for number, suggestion in enumerate(data["suggestions"], 1):
        lines.append("")
        flag = "" if suggestion["meets_target"] else "  [target not met: closest option]"
        lines.append(f"{number}. [{suggestion['kind']}] {suggestion['title']}{flag}")
        lines.append(f"   {suggestion['detail']}")
        ranking = suggestion.get("ranking")
        if ranking:
            terms = " + ".join(f"{k} {v:.2f}" for k, v in ranking["terms"].items() if v)
            lines.append(f"   rank {ranking['rank']}: score {ranking['score']:.2f} = {terms or 0}")
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


def _cell(value: Any) -> str:
    return "-" if value is None else _fmt(value)


def render_audit_text(data: dict[str, Any]) -> str:
    """Claimed vs exact, one line per claim, then the mistakes named for each wrong one."""
    data = escape.strings(data, escape.text)  # names and claim texts: cnncost/render/escape.py
    lines = [
        f"audit of {data['model']['source']} at input {data['model']['input_shape'] or 'as saved'}"
        f" (FLOP convention {data['conventions']['flops']})",
        "",
    ]
    header = ("#", "layer", "quantity", "claimed", "exact", "verdict")
    rows = [
        (
            str(n),
            c["layer"],
            c["quantity"],
            _cell(c["claimed"]),
            _cell(c["exact"]),
            c["verdict"],
        )
        for n, c in enumerate(data["claims"], 1)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    wrong = [(n, c) for n, c in enumerate(data["claims"], 1) if c["verdict"] == "wrong"]
    if wrong:
        lines.append("")
        lines.append("mistakes")
    for number, claim in wrong:
        lines.append(
            f"  {number}. {claim['layer']} {claim['quantity']}: {', '.join(claim['mistakes'])}"
        )
        if claim["source"]:
            lines.append(f"     claim: {claim['source']}")
        lines.append(f"     {claim['explanation']}")
    lines.append("")
    lines.append(f"{data['wrong']} of {len(data['claims'])} claims wrong")
    return "\n".join(lines) + "\n"


def render_audit_markdown(data: dict[str, Any]) -> str:
    layers = [escape.markdown_code(c["layer"]) for c in data["claims"]]
    inline = [escape.markdown_code(c["layer"], in_table=False) for c in data["claims"]]
    data = escape.strings(data, escape.markdown)  # cnncost/render/escape.py
    lines = [
        "| # | layer | quantity | claimed | exact | verdict | most likely mistake |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, c in enumerate(data["claims"], 1):
        lines.append(
            f"| {number} | {layers[number - 1]} | {c['quantity']} | {_cell(c['claimed'])} | "
            f"{_cell(c['exact'])} | {c['verdict']} | {', '.join(c['mistakes'])} |"
        )
    lines.append("")
    for number, c in enumerate(data["claims"], 1):
        if c["verdict"] == "wrong":
            source = f" ({c['source']})" if c["source"] else ""
            lines.append(
                f"{number}. {inline[number - 1]} {c['quantity']}{source}: {c['explanation']}."
            )
    return "\n".join(lines) + "\n"
