"""`cnncost plot`: one figure of fixed size, whatever the depth of the model.

Four panels (1200 x 900 px at the default size):

1. the N heaviest layers by FLOPs (MACs when no FLOPs are known), horizontal bars;
2. the share of FLOPs and of params per block/stage (`cnncost.render.grouping`), or per layer
   type (`--by type`, and when the names give no groups);
3. cumulative FLOPs and params (% of the total) against depth (layer index, topological order);
4. receptive-field size and jump against depth, with the input size drawn in.

Bars and curves use a log scale where the values span more than two decades (`--scale auto`).
An unknown value is never drawn as zero: an unknown layer among the heaviest is a hatched bar
labelled `unknown`, a group with unknown members is hatched and labelled `≥`, the cumulative
curves mark unknown rows with red ticks (they count the known rows only), and every such case is
returned as a warning (the CLI prints it on stderr).

matplotlib is imported here only (an optional extra: `pip install cnncost[plot]`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnncost.errors import CnnCostError
from cnncost.render.escape import plot_label

FIGSIZE = (12.0, 9.0)  # inches
DPI = 100  # FIGSIZE * DPI = 1200 x 900 px
NAME_WIDTH = 30  # bar labels are shortened from the middle to this many characters
DECADES_FOR_LOG = 2  # --scale auto: log when max / min (of the non-zero values) > 10**this
UNKNOWN_COLOR = "tab:red"
MAX_GROUPS = 16  # the grouping level drawn is the deepest with at most this many bars
MAX_UNKNOWN_BARS = 3


@dataclass(frozen=True)
class Options:
    top: int = 15
    by: str = "auto"  # auto | group | type
    scale: str = "auto"  # auto | linear | log


def _short(name: str) -> str:
    """A label for a layer or group name: shortened, then escaped (no mathtext, no control
    characters: cnncost/render/escape.py)."""
    from cnncost.render.fit import shorten_middle

    return plot_label(shorten_middle(name, NAME_WIDTH))


def _rf_field(row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((f for f in (row.get("receptive_field") or {}).values() if f), None)


def rf_point(row: Mapping[str, Any]) -> tuple[float | None, float | None, str]:
    """(largest RF size, largest jump, kind) of a row: kind `local`, `gated` (the local RF
    behind a squeeze-and-excitation gate), `global`, `unknown` or `none` (no spatial relation)."""
    field = _rf_field(row)
    if field is None:
        return None, None, "none"
    kind = "local"
    if field.get("global"):
        if not field.get("local"):
            return None, None, "global"
        field, kind = field["local"], "gated"
    sizes = [s for s in field.get("size") or [] if isinstance(s, (int, float))]
    jumps = [j for j in field.get("jump") or [] if isinstance(j, (int, float))]
    if not sizes or not field.get("exact", True):
        return None, None, "unknown"
    return max(sizes), (max(jumps) if jumps else None), kind


def _use_log(values: Sequence[float], scale: str) -> bool:
    if scale != "auto":
        return scale == "log"
    positive = [v for v in values if v and v > 0]
    return len(positive) > 1 and max(positive) > min(positive) * 10**DECADES_FOR_LOG


def _human(value: float) -> str:
    from cnncost.render.numbers import human

    return human(int(round(value)))


def cost_field(rows: Sequence[Mapping[str, Any]]) -> str:
    return "flops" if any(isinstance(r.get("flops"), int) for r in rows) else "macs"


def plot_warnings(data: Mapping[str, Any]) -> list[str]:
    """What the figure cannot show as a number: unknown costs, params and receptive fields."""
    rows = [r for r in data["layers"] if r["type"] != "InputLayer"]
    warnings = []
    for field, label in ((cost_field(rows), "cost"), ("params", "params")):
        unknown = [r["name"] for r in rows if r.get(field) is None]
        if unknown:
            names = ", ".join(unknown[:5]) + (
                f", +{len(unknown) - 5} more" if len(unknown) > 5 else ""
            )
            warnings.append(
                f"{len(unknown)} layer(s) with unknown {label} ({names}): drawn as hatched "
                "'unknown' bars and red ticks, not as zero; totals and shares count the known "
                "layers only"
            )
    unknown_rf = [r["name"] for r in rows if rf_point(r)[2] == "unknown"]
    if unknown_rf:
        warnings.append(
            f"{len(unknown_rf)} layer(s) with an unknown or inexact receptive field "
            f"({', '.join(unknown_rf[:5])}): marked with red crosses"
        )
    return warnings


def plot_report(
    data: Mapping[str, Any], out: Any, options: Options | None = None, format: str | None = None
) -> list[str]:
    """Draw the figure into `out` (a path, or a binary stream with `format`: png, svg, pdf);
    returns the warnings about values the figure marks as unknown."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CnnCostError("cnncost plot needs matplotlib: pip install 'cnncost[plot]'") from None
    options = options or Options()
    if options.top < 1:
        raise CnnCostError("--top must be 1 or more")
    fig = build_figure(data, options)
    try:
        fig.savefig(out, dpi=DPI, format=format)
    except OSError as exc:
        raise CnnCostError(f"cannot write {out}: {exc.strerror}") from None
    except ValueError as exc:  # an unknown image format
        raise CnnCostError(f"cannot write {out}: {exc}") from None
    finally:
        plt.close(fig)
    return plot_warnings(data)


def build_figure(data: Mapping[str, Any], options: Options):
    """The matplotlib figure (not saved)."""
    import matplotlib.pyplot as plt

    rows = [r for r in data["layers"] if r["type"] != "InputLayer"]
    field = cost_field(rows)
    fig, axes = plt.subplots(2, 2, figsize=FIGSIZE)
    _heaviest_panel(axes[0][0], rows, field, options)
    _share_panel(axes[0][1], data, field, options)
    _cumulative_panel(axes[1][0], data, field)
    _rf_panel(axes[1][1], data)
    label = "FLOPs" if field == "flops" else "MACs"
    totals = data["totals"]
    from cnncost.render.numbers import bound_mark

    fig.suptitle(
        f"{plot_label(data['model']['name'])}: {len(data['layers'])} layers, "
        f"{bound_mark(data, 'params')}{_human_or_unknown(totals.get('params'))} params, "
        f"{bound_mark(data, field)}{_human_or_unknown(totals.get(field))} {label}"
    )
    fig.tight_layout()
    return fig


def _human_ticks(axis) -> None:
    """Tick labels as 1.5M, 200K, ... instead of matplotlib's `1e8` offset."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: _human(v) if v >= 1 else f"{v:g}"))


def _share_label(share: float) -> str:
    return " 0%" if share == 0 else " <0.1%" if share < 0.1 else f" {share:.1f}%"


def _human_or_unknown(value: Any) -> str:
    return "?" if value is None else _human(value)


def _heaviest_panel(ax, rows, field: str, options: Options) -> None:
    label = "FLOPs" if field == "flops" else "MACs"
    known = sorted((r for r in rows if isinstance(r.get(field), int)), key=lambda r: -r[field])
    shown = [r for r in known[: options.top] if r[field] > 0]  # a zero is not among the heaviest
    unknown = [r for r in rows if r.get(field) is None]
    names = [_short(r["name"]) for r in shown]
    values = [r[field] for r in shown]
    log = _use_log(values, options.scale)
    positions = list(range(len(shown)))
    ax.barh(positions, values, color="tab:blue")
    for y, v in zip(positions, values, strict=True):
        ax.text(v, y, " " + _human(v), va="center", fontsize=7)
    extra = unknown[:MAX_UNKNOWN_BARS]
    if extra:
        top = max(values, default=1) or 1
        for offset, row in enumerate(extra):
            y = len(shown) + offset
            # a band across the axis, not a bar of some length: the value is not known
            ax.barh(y, top, color="none", edgecolor=UNKNOWN_COLOR, hatch="//", linewidth=0.8,
                    alpha=0.45, linestyle="--")  # fmt: skip
            ax.text(top / 2 if not log else top**0.5, y, "unknown value (not ranked)",
                    ha="center", va="center", color=UNKNOWN_COLOR, fontsize=7, fontweight="bold",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})  # fmt: skip
            names.append(_short(row["name"]))
        if len(unknown) > len(extra):
            names[-1] += f" (+{len(unknown) - len(extra)} more unknown)"
    ax.set_yticks(list(range(len(names))))
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
        ax.set_xlim(right=max(values, default=1) * 3)  # room for the value labels
    else:
        ax.set_xlim(0, max(values, default=1) * 1.15)
    _human_ticks(ax.xaxis)
    ax.set_xlabel(f"{label} ({'log scale' if log else 'linear'})")
    more = len(known) - len(shown)
    ax.set_title(
        f"heaviest {len(shown)} layers by {label}" + (f" (of {len(known)} known)" if more else ""),
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)


def _groups(data: Mapping[str, Any], by: str) -> tuple[str, list[dict[str, Any]]]:
    """('block' or 'type', rows with summed `params`, `flops`, `macs`): the grouping level
    drawn is the deepest with at most MAX_GROUPS groups."""
    from cnncost.render.grouping import auto_depth, build_tree, cut, group_row
    from cnncost.render.view import SUMMABLE, by_type

    layers = data["layers"]
    if by in ("auto", "group"):
        tree = build_tree([r["name"] for r in layers], [r["type"] for r in layers])
        depth = auto_depth(tree, MAX_GROUPS)
        nodes = cut(tree, depth)
        if by == "group" or (any(n.is_group for n in nodes) and len(nodes) <= MAX_GROUPS):
            return "block", [group_row(n, layers, SUMMABLE) for n in nodes]
    return "type", by_type(layers)


def _share_panel(ax, data: Mapping[str, Any], field: str, options: Options) -> None:
    from cnncost.render.grouping import LOWER_BOUNDS

    kind, groups = _groups(data, options.by)
    if kind == "type":  # types: the heaviest first, at most MAX_GROUPS bars
        groups = sorted(groups, key=lambda g: -(g.get(field) or 0))[:MAX_GROUPS]
    totals = data["totals"]
    label = "FLOPs" if field == "flops" else "MACs"
    height = 0.4
    for series, (key, color, name) in enumerate(
        ((field, "tab:blue", label), ("params", "tab:orange", "params"))
    ):
        total = totals.get(key) or 0
        for index, group in enumerate(groups):
            y = index + (series - 0.5) * height
            value = group.get(key)
            bound = (group.get(LOWER_BOUNDS) or {}).get(key)
            if value is None:  # some member unknown: the known part, hatched, as a lower bound
                share = 100 * (bound or 0) / total if total else 0
                note = f" ≥{share:.1f}% (partial)" if bound else " unknown"
                # at least a short hatched stub, so that an unknown never looks like an empty 0
                ax.barh(y, max(share, 1.5), height, color="none", edgecolor=UNKNOWN_COLOR,
                        hatch="//")  # fmt: skip
                ax.text(max(share, 1.5), y, note, va="center", fontsize=6, color=UNKNOWN_COLOR)
                continue
            share = 100 * value / total if total else 0
            ax.barh(y, share, height, color=color, label=name if index == 0 else None)
            ax.text(share, y, _share_label(share), va="center", fontsize=6)
    names = [_short(str(g.get("name", g.get("type")))) for g in groups]
    if kind == "type":
        names = [f"{n} ×{g['count']}" for n, g in zip(names, groups, strict=True)]
    ax.set_yticks(list(range(len(groups))))
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("% of the model total" + ("" if data.get("complete", True) else " (known part)"))
    ax.set_title(f"share of {label} and params per {kind}", fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(axis="x", alpha=0.3)


def _stage_marks(ax, data: Mapping[str, Any]) -> None:
    """Faint vertical lines where each top-level block/stage starts, labelled at the top."""
    from cnncost.render.grouping import build_tree

    layers = data["layers"]
    tree = build_tree([r["name"] for r in layers], [r["type"] for r in layers])
    groups = [n for n in tree if n.is_group]
    if not groups or len(groups) > 20:
        return
    count = len(data["layers"])
    for node in groups:
        x = node.rows[0]
        ax.axvline(x, color="grey", alpha=0.25, linewidth=0.8)
        if len(node.rows) >= 0.04 * count:  # a label only where the stage is wide enough
            middle = (node.rows[0] + node.rows[-1]) / 2
            ax.text(middle, 0.99, plot_label(node.key[:10]), transform=ax.get_xaxis_transform(),
                    va="top", ha="center", fontsize=7, color="dimgrey")  # fmt: skip


def _cumulative_panel(ax, data: Mapping[str, Any], field: str) -> None:
    layers = data["layers"]
    label = "FLOPs" if field == "flops" else "MACs"
    for key, color, name in ((field, "tab:blue", label), ("params", "tab:orange", "params")):
        values = [r.get(key) for r in layers]
        known_total = sum(v for v in values if isinstance(v, int)) or 1
        running, curve = 0, []
        for v in values:
            running += v if isinstance(v, int) else 0
            curve.append(100 * running / known_total)
        # row i's value counts from x = i to i + 1 (the last step is drawn to the end)
        xs = list(range(len(layers) + 1))
        ax.step(xs, [*curve, curve[-1]], where="post", color=color, label=f"cumulative {name}")
        unknown = [i for i, v in enumerate(values) if v is None]
        if unknown:
            ax.plot(unknown, [curve[i] for i in unknown], "|", color=UNKNOWN_COLOR,
                    markersize=14, markeredgewidth=2, label=f"{name} unknown here (not counted)")  # fmt: skip
    _stage_marks(ax, data)
    ax.set_xlim(0, len(layers))
    ax.set_ylim(0, 105)
    ax.set_xlabel("layer index (depth, topological order)")
    complete = data.get("complete", True)
    ax.set_ylabel("% of total" + ("" if complete else " (of the known part)"))
    ax.set_title(f"cumulative {label} and params against depth", fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)


def _rf_panel(ax, data: Mapping[str, Any]) -> None:
    layers = data["layers"]
    points = [rf_point(r) for r in layers]
    xs = [i for i, p in enumerate(points) if p[0] is not None]
    sizes = [points[i][0] for i in xs]
    jumps = [points[i][1] for i in xs]
    shape = (data["model"]["inputs"][0].get("shape") or [])[1:-1]
    input_size = max((d for d in shape if isinstance(d, int)), default=None)
    if xs:
        # row i's value holds from x = i to i + 1
        ax.step([*xs, xs[-1] + 1], [*sizes, sizes[-1]], where="post", color="tab:green",
                label="RF size (px)")  # fmt: skip
        gated = [i for i in xs if points[i][2] == "gated"]
        if gated:
            ax.plot(gated, [points[i][0] for i in gated], ".", color="tab:olive", markersize=3,
                    label="local RF behind a channel gate (SE)")  # fmt: skip
        jx = [x for x, j in zip(xs, jumps, strict=True) if j is not None]
        jy = [j for j in jumps if j is not None]
        if jx:
            ax.step([*jx, jx[-1] + 1], [*jy, jy[-1]], where="post", color="tab:purple",
                    linestyle=":", label="jump (stride to the input)")  # fmt: skip
    if input_size:
        ax.axhline(input_size, color="black", linestyle="--", linewidth=1,
                   label=f"input size {input_size} px")  # fmt: skip
    # where the receptive field becomes the whole input for good (a squeeze-and-excitation
    # branch is global too, but the main path is not)
    first_global = None
    for i in range(len(points) - 1, -1, -1):
        if points[i][2] not in ("global", "none"):
            break
        if points[i][2] == "global":
            first_global = i
    if first_global is not None:
        ax.axvline(first_global, color="grey", linestyle="-.", linewidth=1,
                   label=f"global from {_short(layers[first_global]['name'])}")  # fmt: skip
    unknown = [i for i, p in enumerate(points) if p[2] == "unknown"]
    if unknown:
        top = max([*sizes, input_size or 1])
        ax.plot(unknown, [top] * len(unknown), "x", color=UNKNOWN_COLOR, markersize=8,
                label="RF unknown / inexact")  # fmt: skip
    values = [*sizes, *(j for j in jumps if j), *([input_size] if input_size else [])]
    if _use_log(values, "auto"):
        ax.set_yscale("log")
    _stage_marks(ax, data)
    ax.set_xlim(0, len(layers))
    ax.set_xlabel("layer index (depth, topological order)")
    ax.set_ylabel("pixels" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.set_title("receptive field growth against depth", fontsize=10)
    if xs or input_size:
        ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)
