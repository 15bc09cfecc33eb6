"""`cnncost plot`: per-layer FLOPs (or MACs) and params as bars, and receptive-field growth.

matplotlib is imported here only (an optional extra: `pip install cnncost[plot]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.errors import CnnCostError


def _rf_sizes(row: Mapping[str, Any]) -> float | None:
    field = next(iter((row.get("receptive_field") or {}).values()), None)
    if not field or field.get("global") or not field.get("size"):
        return None
    sizes = [s for s in field["size"] if isinstance(s, (int, float))]
    return float(max(sizes)) if sizes else None


MAX_WIDTH_INCHES = 590.0


def plot_report(data: Mapping[str, Any], out: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CnnCostError("cnncost plot needs matplotlib: pip install 'cnncost[plot]'") from None
    rows = [r for r in data["layers"] if r["type"] != "InputLayer"]
    names = [r["name"] for r in rows]
    cost_field = "flops" if any(r.get("flops") for r in rows) else "macs"
    # floats: matplotlib converts ints through a C long, and counts reach 2**100 (limits.py)
    cost = [float(r.get(cost_field) or 0) for r in rows]
    params = [float(r.get("params") or 0) for r in rows]
    rf = [_rf_sizes(r) for r in rows]
    panels = 3 if any(v is not None for v in rf) else 2
    # Agg draws at most 2**16 pixels a side: at dpi 110 that is 595 inches (about 1,700 rows)
    width = min(max(6.0, 0.35 * len(rows)), MAX_WIDTH_INCHES)
    fig, axes = plt.subplots(panels, 1, figsize=(width, 2.6 * panels), sharex=True)
    positions = range(len(rows))
    axes[0].bar(positions, cost, color="tab:blue")
    axes[0].set_ylabel(cost_field.upper() if cost_field == "macs" else "FLOPs")
    axes[1].bar(positions, params, color="tab:orange")
    axes[1].set_ylabel("params")
    if panels == 3:
        input_size = max(
            (d for d in (data["model"]["inputs"][0]["shape"] or [])[1:-1] if d), default=None
        )
        xs = [i for i, v in enumerate(rf) if v is not None]
        axes[2].step(xs, [rf[i] for i in xs], where="mid", color="tab:green", label="RF size")
        if input_size:
            axes[2].axhline(input_size, color="grey", linestyle="--", label=f"input {input_size}")
        axes[2].set_ylabel("receptive field (px)")
        axes[2].legend(loc="upper left")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(list(positions))
    axes[-1].set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    fig.suptitle(f"{data['model']['name']}: per-layer cost")
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise CnnCostError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        plt.close(fig)
