"""cnncost's predictions next to a profile's measurements: FLOPs, latency, memory, throughput.

- FLOPs: cnncost's `tf-profiler` convention at batch 1 against the TF profiler's count per layer
  (keras.ops operations compared as one sum, as their ops are not under layer scopes); they must
  be equal wherever the profiler sees the work (where it does not, cnncost's convention already
  says so in a warning, and both are what the profiler reports).
- Latency: the roofline (`cnncost report --device`) per layer and for the whole model, as ratio
  predicted/measured, MAPE (mean |pred - meas| / meas) and Spearman rank correlation (Pearson
  correlation of the average ranks; no scipy needed).
- The prediction used the other way: `floor_s = flops / peak` is the least time the work can take
  on the device; a measured time below it is flagged impossible (a wrong measurement, or a wrong
  device profile).
- Memory, where the backend reports a device peak: weights + peak live activations (inference),
  cnncost's training bytes (weights, gradients, Adam slots, kept activations) for a train step.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VALIDATE_SCHEMA = "reference_model.validate/1"


# -- the join --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    name: str  # the measured layer's name
    predicted: tuple[Mapping[str, Any], ...]  # cnncost rows (several for a nested model)
    measured: Mapping[str, Any]

    def total(self, field: str) -> Any:
        values = [row.get(field) for row in self.predicted]
        return None if any(v is None for v in values) else sum(values)


@dataclass(frozen=True)
class Join:
    matched: tuple[Match, ...]
    inputs: tuple[str, ...]  # cnncost InputLayer rows: no work, nothing to measure
    unmatched_predicted: tuple[str, ...]
    unmatched_measured: tuple[str, ...]


def join_layers(
    predicted: Sequence[Mapping[str, Any]], measured: Sequence[Mapping[str, Any]]
) -> Join:
    """Each measured layer with the cnncost rows it covers: the row of the same name, or the rows
    `name/...` of a nested model measured as one layer. Every cnncost row ends up matched, an
    input, or unmatched; every measured layer matched or unmatched."""
    by_name = {row["name"]: row for row in predicted}
    used: set[str] = set()
    matched, unmatched_measured = [], []
    for layer in measured:
        name = layer["name"]
        rows = [by_name[name]] if name in by_name else []
        rows += [r for r in predicted if r["name"].startswith(name + "/")]
        if not rows:
            unmatched_measured.append(name)
            continue
        used.update(r["name"] for r in rows)
        matched.append(Match(name, tuple(rows), layer))
    inputs = tuple(r["name"] for r in predicted if r["type"] == "InputLayer")
    unmatched_predicted = tuple(
        r["name"] for r in predicted if r["name"] not in used and r["name"] not in inputs
    )
    return Join(tuple(matched), inputs, unmatched_predicted, tuple(unmatched_measured))


# -- statistics ------------------------------------------------------------------------------------


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank (as Spearman's rho needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def pearson(a: Sequence[float], b: Sequence[float]) -> float | None:
    n = len(a)
    if n < 2:
        return None
    mean_a, mean_b = sum(a) / n, sum(b) / n
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    if var_a == 0 or var_b == 0:
        return None
    return cov / math.sqrt(var_a * var_b)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    return pearson(ranks(a), ranks(b))


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float | None:
    """Mean absolute percentage error, in percent of the measured values."""
    pairs = [(p, m) for p, m in zip(predicted, measured) if m > 0]
    if not pairs:
        return None
    return 100 * sum(abs(p - m) / m for p, m in pairs) / len(pairs)


def compare(predicted: float | None, measured: float | None) -> dict[str, Any]:
    if predicted is None or measured is None or measured <= 0:
        return {"predicted": predicted, "measured": measured, "ratio": None, "error_pct": None}
    ratio = predicted / measured
    return {
        "predicted": predicted,
        "measured": measured,
        "ratio": ratio,
        "error_pct": 100 * (ratio - 1),
    }


def impossible_times(join: Join, totals: Mapping[str, Any], profile: Mapping[str, Any]) -> list:
    """Measurements faster than the device's compute floor (FLOPs / peak): not possible."""
    flagged = []
    for match in join.matched:
        floor = match.total("floor_s")
        measured = match.measured["latency_s"]
        if floor and measured < floor:
            flagged.append({"what": match.name, "measured_s": measured, "floor_s": floor})
    for what, measured_key, floor_key in (
        ("model inference", "inference", "floor_s"),
        ("model train step", "train_step", "train_floor_s"),
    ):
        measured = (profile.get(measured_key) or {}).get("latency_s")
        floor = totals.get(floor_key)
        if measured is not None and floor and measured < floor:
            flagged.append({"what": what, "measured_s": measured, "floor_s": floor})
    return flagged


# -- FLOPs ---------------------------------------------------------------------------------------


def profiler_scope(name: str, measured: Mapping[str, Any]) -> str:
    """The profiler row a cnncost row's FLOPs fall under: its own name, or for a row inside a
    traced or nested layer (`outer/inner`, docs/models.md) the longest enclosing name the
    profiler reports (it names ops by the layer called, not by the sub-layers within)."""
    if name in measured:
        return name
    parts = name.split("/")
    for i in range(len(parts) - 1, 0, -1):
        if "/".join(parts[:i]) in measured:
            return "/".join(parts[:i])
    return name


def flops_check(profiler_rows: Sequence[Mapping[str, Any]], tf_profiler: Mapping[str, Any]):
    """cnncost's tf-profiler-convention rows (batch 1) against the profiler's per-layer counts;
    the rows of a traced layer summed under the layer's name (`profiler_scope`)."""
    measured = tf_profiler["layers"]
    ours: dict[str, int] = {}
    ops_ours = 0
    for row in profiler_rows:
        if row["type"] == "InputLayer":
            continue
        scope = profiler_scope(row["name"], measured)
        # a top-level keras.ops node: the profiler's `ops:<TF op>` rows. Its JSON type is the
        # operation's class (`Add` for `x + y` in a functional model), which the profiler's
        # rows name too where no layer scope of that name exists
        top_level_op = row["type"].startswith("ops.") or f"ops:{row['type']}" in measured
        if scope not in measured and top_level_op:
            ops_ours += row["flops"] or 0
            continue
        ours[scope] = ours.get(scope, 0) + (row["flops"] or 0)
    mismatches = [
        {"name": name, "cnncost": flops, "profiler": measured.get(name, 0)}
        for name, flops in ours.items()
        if flops != measured.get(name, 0)
    ]
    compared = len(ours)
    ops_theirs = sum(v for k, v in measured.items() if k.startswith("ops:"))
    ours_total = sum(r["flops"] or 0 for r in profiler_rows)
    unknown = sorted(k for k in measured if not k.startswith("ops:") and k not in ours)
    return {
        "profiler_total": tf_profiler["total_flops"],
        "cnncost_total": ours_total,
        "equal": ours_total == tf_profiler["total_flops"] and not mismatches,
        "layers_compared": compared,
        "layers_equal": compared - len(mismatches),
        "mismatches": mismatches,
        "ops_sum": {"cnncost": ops_ours, "profiler": ops_theirs},
        "profiler_rows_not_in_cnncost": unknown,
    }


# -- how far the measurements themselves spread --------------------------------------------------


def measured_spread(
    profile: Mapping[str, Any], layer_rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The profile's own (max - min) / median of its timed calls (`cnncost.spread`): for the
    whole model, the train step and over the layers (median and widest). None where the profile
    records none (one timed call, or a profile from before spreads were recorded). A prediction
    error smaller than the spread cannot be told from the clock's noise."""
    layers = [(r["measured_spread"], r["name"]) for r in layer_rows]
    layers = [(value, name) for value, name in layers if value is not None]
    widest = max(layers, default=None)
    return {
        "repeats": profile.get("repeats"),
        "inference": profile["inference"].get("spread"),
        "train_step": (profile.get("train_step") or {}).get("spread"),
        "layers_median": statistics.median(v for v, _ in layers) if layers else None,
        "layers_widest": None if widest is None else {"name": widest[1], "spread": widest[0]},
    }


def _spread_line(spread: Mapping[str, Any] | None) -> str:
    if not spread or all(spread[k] is None for k in ("inference", "train_step", "layers_median")):
        return "measured spread: not recorded (one timed call, or a profile from before spreads)"

    def pct(value) -> str:
        return "-" if value is None else f"{value:.0%}"

    widest = spread["layers_widest"]
    return (
        f"measured spread ((max - min) / median of {spread['repeats']} timed calls): inference "
        f"{pct(spread['inference'])}, train step {pct(spread['train_step'])}, layers median "
        f"{pct(spread['layers_median'])}"
        + ("" if widest is None else f", widest {pct(widest['spread'])} ({widest['name']})")
        + "; an error within the spread is the clock's noise, not the prediction's"
    )


# -- the whole comparison ----------------------------------------------------------------------------


def by_kind(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per layer kind (cnncost's `layer_kind`): layers, summed predicted and measured times,
    median ratio predicted/measured, MAPE."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("kind")), []).append(row)
    summary = {}
    for kind, group in sorted(groups.items()):
        ratios = [r["ratio"] for r in group]
        summary[kind] = {
            "layers": len(group),
            "predicted_s": sum(r["predicted"] for r in group),
            "measured_s": sum(r["measured"] for r in group),
            "median_ratio": statistics.median(ratios),
            "mape_pct": mape([r["predicted"] for r in group], [r["measured"] for r in group]),
        }
    return summary


def validate(
    predicted: Mapping[str, Any],
    profile: Mapping[str, Any],
    profiler_convention: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`predicted`: cnncost's report dict with a device (same batch/dtype as the profile);
    `profiler_convention`: cnncost's report at batch 1 in the tf-profiler convention."""
    totals = predicted["totals"]
    # each layer was measured alone, in a compiled call of its own: it pays the call overhead
    call = predicted["conventions"].get("call_overhead_s") or 0.0
    join = join_layers(predicted["layers"], profile["layers"])
    layer_rows = []
    for match in join.matched:
        row = {
            "name": match.name,
            "type": match.measured["type"],
            "bound": match.predicted[0].get("bound") if len(match.predicted) == 1 else "nested",
            "kind": match.predicted[0].get("layer_kind") if len(match.predicted) == 1 else "nested",
            # which of cnncost's models predicted the row (`fitted:<kind>`, `kind-factors`,
            # `roofline`), where the report names one
            "time_source": (
                match.predicted[0].get("time_source") if len(match.predicted) == 1 else "nested"
            ),
            "flops": match.total("flops"),
            "bytes_moved": match.total("bytes_moved"),
            "floor_s": match.total("floor_s"),
        }
        alone = match.total("latency_s")
        row.update(compare(None if alone is None else alone + call, match.measured["latency_s"]))
        row["measured_spread"] = match.measured.get("spread")
        layer_rows.append(row)
    timed = [r for r in layer_rows if r["predicted"] is not None]
    pred = [r["predicted"] for r in timed]
    meas = [r["measured"] for r in timed]
    ratios = [r["ratio"] for r in timed]
    train = profile.get("train_step") or {}
    measured_memory = {
        "inference": profile["inference"].get("device_peak_bytes"),
        "train_step": train.get("device_peak_bytes"),
    }
    weights = totals.get("weight_bytes")
    peak = totals.get("peak_activation_bytes")
    result = {
        "schema": VALIDATE_SCHEMA,
        "model": profile["model"],
        "backend": profile["backend"],
        "device": predicted["conventions"].get("device"),
        "measured_on": profile["device"],
        "batch": profile["batch"],
        "dtype_policy": profile["dtype_policy"],
        "conventions": predicted["conventions"],
        "latency": {
            "inference": compare(totals.get("latency_s"), profile["inference"]["latency_s"]),
            "train_step": compare(totals.get("train_step_s"), train.get("latency_s")),
            "train_samples_per_s": compare(
                totals.get("train_samples_per_s"), train.get("samples_per_s")
            ),
            "sum_of_measured_layers_s": sum(r["measured"] for r in layer_rows),
        },
        "layers": {
            "matched": len(layer_rows),
            "timed": len(timed),
            "mape_pct": mape(pred, meas),
            "spearman": spearman(pred, meas),
            "median_ratio": statistics.median(ratios) if ratios else None,
            "by_kind": by_kind(timed),
            "rows": layer_rows,
        },
        "unmatched": {
            "predicted": list(join.unmatched_predicted),
            "measured": list(join.unmatched_measured),
            "inputs": list(join.inputs),
        },
        "memory": {
            "inference": compare(
                None if weights is None or peak is None else weights + peak,
                measured_memory["inference"],
            ),
            "train_step": compare(totals.get("train_bytes"), measured_memory["train_step"]),
            "host_peak_rss_bytes": profile.get("host_peak_rss_bytes"),
        },
        "impossible": impossible_times(join, totals, profile),
        "measured_spread": measured_spread(profile, layer_rows),
        # the device profile's own noise: stored with `cnncost calibrate --accept-noisy`
        "noisy_device": next(
            (
                d["message"]
                for d in predicted.get("warning_details", ())
                if d.get("kind") == "noisy-device"
            ),
            None,
        ),
        "flops": None,
    }
    if profile.get("tf_profiler") and profiler_convention is not None:
        result["flops"] = flops_check(profiler_convention["layers"], profile["tf_profiler"])
    result["flops_full_convention"] = totals.get("flops")
    return result


# -- output ----------------------------------------------------------------------------------------


def _pct(value) -> str:
    return "-" if value is None else f"{value:+.0f}%"


def _t(value) -> str:
    from cnncost.render.numbers import seconds_text

    return "-" if value is None else seconds_text(value)


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    lat, layers = result["latency"], result["layers"]
    lines = [
        f"{result['model']} on {result['measured_on']['name']} ({result['backend']}), batch "
        f"{result['batch']}, {result['dtype_policy']}; predicted with device {result['device']}",
        f"inference: predicted {_t(lat['inference']['predicted'])}, measured "
        f"{_t(lat['inference']['measured'])} ({_pct(lat['inference']['error_pct'])})",
        f"train step: predicted {_t(lat['train_step']['predicted'])}, measured "
        f"{_t(lat['train_step']['measured'])} ({_pct(lat['train_step']['error_pct'])})",
    ]
    lines.append(_spread_line(result.get("measured_spread")))
    if result.get("noisy_device"):
        lines.append(f"NOISY DEVICE PROFILE: {result['noisy_device']}")
    rho = layers["spearman"]
    mape_pct = layers["mape_pct"]
    lines.append(
        f"per layer ({layers['timed']} timed): MAPE "
        + ("-" if mape_pct is None else f"{mape_pct:.0f}%")
        + ", Spearman "
        + ("-" if rho is None else f"{rho:.3f}")
        + ", median ratio "
        + ("-" if layers["median_ratio"] is None else f"{layers['median_ratio']:.2f}")
    )
    for kind, k in layers.get("by_kind", {}).items():
        lines.append(
            f"  {kind}: {k['layers']} layers, predicted {_t(k['predicted_s'])} vs measured "
            f"{_t(k['measured_s'])} (each alone), median ratio {k['median_ratio']:.2f}, MAPE "
            + ("-" if k["mape_pct"] is None else f"{k['mape_pct']:.0f}%")
        )
    flops = result.get("flops")
    if flops:
        lines.append(
            f"FLOPs (tf-profiler convention, batch 1): cnncost {flops['cnncost_total']:,} vs "
            f"profiler {flops['profiler_total']:,}: "
            + ("equal" if flops["equal"] else f"{len(flops['mismatches'])} layers differ")
            + f" ({flops['layers_equal']}/{flops['layers_compared']} layers equal)"
        )
    for kind in ("inference", "train_step"):
        memory = result["memory"][kind]
        if memory["measured"] is not None:
            lines.append(
                f"memory ({kind}): predicted {memory['predicted']:,} B, measured "
                f"{memory['measured']:,} B ({_pct(memory['error_pct'])})"
            )
    unmatched = result["unmatched"]
    if unmatched["predicted"] or unmatched["measured"]:
        lines.append(
            f"unmatched: cnncost rows {unmatched['predicted']}, measured {unmatched['measured']}"
        )
    for item in result["impossible"]:
        lines.append(
            f"IMPOSSIBLE: {item['what']} measured {_t(item['measured_s'])} < the device floor "
            f"{_t(item['floor_s'])} (FLOPs / peak): a wrong measurement or device profile"
        )
    return lines


def render_table(result: Mapping[str, Any], top: int | None = None):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title="predicted (roofline) vs measured, per layer", title_justify="left")
    for column in ("Layer", "Type", "Bound", "FLOPs", "Floor", "Pred.", "Meas.", "Ratio"):
        table.add_column(
            column, justify="left" if column in ("Layer", "Type", "Bound") else "right"
        )
    rows = sorted(result["layers"]["rows"], key=lambda r: -r["measured"])
    impossible = {item["what"] for item in result["impossible"]}
    for row in rows[:top] if top else rows:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        table.add_row(
            row["name"],
            row["type"],
            row["bound"] or "",
            "-" if row["flops"] is None else f"{row['flops']:.3g}",
            _t(row["floor_s"]),
            _t(row["predicted"]),
            _t(row["measured"]),
            ratio,
            style="red" if row["name"] in impossible else None,
        )
    return Group(table, *(Text(line) for line in summary_lines(result)))


def plot(result: Mapping[str, Any], path: str) -> None:
    """Predicted vs measured per layer, log-log, with y = x and a +-25% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["layers"]["rows"] if r["predicted"]]
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for bound, colour in (("compute", "tab:red"), ("memory", "tab:blue"), ("nested", "tab:gray")):
        chosen = [r for r in rows if r["bound"] == bound]
        if chosen:
            ax.scatter(
                [r["measured"] for r in chosen],
                [r["predicted"] for r in chosen],
                s=14,
                c=colour,
                label=f"{bound}-bound",
                alpha=0.8,
            )
    values = [v for r in rows for v in (r["measured"], r["predicted"]) if v > 0]
    if values:
        low, high = min(values) / 1.5, max(values) * 1.5
        ax.plot([low, high], [low, high], "k-", lw=1, label="predicted = measured")
        ax.fill_between([low, high], [low * 0.75, high * 0.75], [low * 1.25, high * 1.25],
                        color="k", alpha=0.08, label="+-25%")  # fmt: skip
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured per-layer time (s, median)")
    ax.set_ylabel("predicted (roofline) time (s)")
    layers = result["layers"]
    rho = layers["spearman"]
    mape_pct = layers["mape_pct"]
    ax.set_title(
        f"{result['model']}, batch {result['batch']}, device {result['device']}\n"
        f"Spearman {'-' if rho is None else f'{rho:.3f}'}, "
        f"MAPE {'-' if mape_pct is None else f'{mape_pct:.0f}%'}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- held-out validation: one calibration, three predictors (benchmarks/latency_validation.py) --

SET_SCHEMA = "reference_model.latency_validation/1"
GOAL_ERROR_PCT = 20.0  # issue 16: every whole-model inference and train step within +-20% ...
GOAL_SPEARMAN = 0.9  # ... and per-layer Spearman >= 0.9 on every model

# What each predictor leaves out of the one calibrated device JSON (`strip_device`):
# - raw: the roofline alone, max(FLOPs / peak, bytes / bandwidth) + the per-layer and per-call
#   overheads (no per-kind factors, no training-step fixed cost, no time model);
# - kinds: plus `calibrate --kinds`'s per-kind factors and the training step's fixed cost;
# - shape: the JSON as written, with the shape-dependent time model (`time_model`) where the
#   calibration wrote one (without it, `shape` predicts exactly as `kinds`).
PREDICTORS: dict[str, tuple[str, ...]] = {
    "raw": ("time_model", "efficiency", "train_call_overhead_s"),
    "kinds": ("time_model",),
    "shape": (),
}
AFTER = "shape"  # the predictor the goal column judges


def strip_device(device: Mapping[str, Any], predictor: str) -> dict[str, Any]:
    """The device JSON `predictor` predicts with: `device` less the keys it leaves out."""
    if predictor not in PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r} (known: {', '.join(PREDICTORS)})")
    return {k: v for k, v in device.items() if k not in PREDICTORS[predictor]}


def goal(result: Mapping[str, Any]) -> dict[str, Any]:
    """Issue 16's goal on one validation: inference and train step errors within
    +-GOAL_ERROR_PCT, per-layer Spearman >= GOAL_SPEARMAN, each judged where measured. `met`:
    True, False, or None when nothing was measured; `missed`: why, one phrase per miss, naming
    an error within the measurement's own spread ((max - min) / median of the timed calls),
    which cannot be told from the clock's noise."""
    spread = result.get("measured_spread") or {}
    checked, missed = [], []
    for key, label in (("inference", "inference"), ("train_step", "train step")):
        error = result["latency"][key]["error_pct"]
        if error is None:
            continue
        checked.append(key)
        if abs(error) > GOAL_ERROR_PCT:
            noise = spread.get(key)
            note = ""
            if noise is not None:
                within = abs(error) <= 100 * noise
                note = f" (spread {noise:.0%}{', within it' if within else ''})"
            missed.append(f"{label} {error:+.0f}%{note}")
    rho = result["layers"]["spearman"]
    if rho is not None:
        checked.append("layers")
        if rho < GOAL_SPEARMAN:
            missed.append(f"Spearman {rho:.2f}")
    return {"met": None if not checked else not missed, "checked": checked, "missed": missed}


def set_row(model: str, batch: int, results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One configuration's line of the held-out table from its validations, one per predictor
    (`validate` results of the same profile): measured times and spreads, each predictor's
    predictions and errors, per-layer MAPE and Spearman, and the goal per predictor."""
    first = results[next(iter(results))]
    spread = first["measured_spread"]

    def timed(key: str) -> dict[str, Any]:
        return {
            "measured": first["latency"][key]["measured"],
            "spread": spread[key],
            "predicted": {p: r["latency"][key]["predicted"] for p, r in results.items()},
            "error_pct": {p: r["latency"][key]["error_pct"] for p, r in results.items()},
        }

    flops = first.get("flops")
    return {
        "model": model,
        "batch": batch,
        "inference": timed("inference"),
        "train_step": timed("train_step"),
        "layers": {
            "timed": first["layers"]["timed"],
            "mape_pct": {p: r["layers"]["mape_pct"] for p, r in results.items()},
            "spearman": {p: r["layers"]["spearman"] for p, r in results.items()},
            "spread_median": spread["layers_median"],
            "time_sources": {p: time_sources(r["layers"]["rows"]) for p, r in results.items()},
        },
        "flops_equal": None if not flops else flops["equal"],
        "impossible": {p: len(r["impossible"]) for p, r in results.items()},
        "goal": {p: goal(r) for p, r in results.items()},
    }


def time_sources(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many timed layers each of cnncost's models predicted (rows naming none left out)."""
    counts: dict[str, int] = {}
    for row in rows:
        source = row.get("time_source")
        if source is not None and row.get("predicted") is not None:
            counts[str(source)] = counts.get(str(source), 0) + 1
    return dict(sorted(counts.items()))


def _goal_text(g: Mapping[str, Any]) -> str:
    if g["met"] is None:
        return "-"
    partial = "" if "layers" in g["checked"] else " (no per-layer)"
    return ("met" if g["met"] else "missed: " + "; ".join(g["missed"])) + partial


def _spread_text(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def markdown_table(rows: Sequence[Mapping[str, Any]], predictors: Sequence[str]) -> str:
    """The held-out table (Markdown): per configuration, inference and train step measured
    (spread) and each predictor's prediction (error), per-layer MAPE and Spearman per predictor,
    the layers' median spread, and the goal judged on the last predictor."""
    names = " / ".join(predictors)
    after = predictors[-1]
    header = (
        ["model", "batch", "inference meas. (spread)"]
        + [f"inf. {p}" for p in predictors]
        + ["train step meas. (spread)"]
        + [f"train {p}" for p in predictors]
        + ["layers", f"MAPE {names}", f"Spearman {names}", "layer spread (median)"]
        + [f"goal ({after}: ±{GOAL_ERROR_PCT:.0f}%, Spearman ≥ {GOAL_SPEARMAN})"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cells(part: Mapping[str, Any]) -> list[str]:
        measured = f"{_t(part['measured'])} ({_spread_text(part['spread'])})"
        if part["measured"] is None:
            measured = "-"
        return [measured] + [
            "-"
            if part["predicted"][p] is None
            else f"{_t(part['predicted'][p])} ({_pct(part['error_pct'][p])})"
            for p in predictors
        ]

    for row in rows:
        layers = row["layers"]
        mape_cells = [
            "-" if layers["mape_pct"][p] is None else f"{layers['mape_pct'][p]:.0f}%"
            for p in predictors
        ]
        rho_cells = [
            "-" if layers["spearman"][p] is None else f"{layers['spearman'][p]:.2f}"
            for p in predictors
        ]
        line = (
            [row["model"], str(row["batch"])]
            + cells(row["inference"])
            + cells(row["train_step"])
            + [str(layers["timed"]) if layers["timed"] else "-"]
            + [" / ".join(mape_cells), " / ".join(rho_cells)]
            + [_spread_text(layers["spread_median"]), _goal_text(row["goal"][after])]
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |")
    return "\n".join(lines) + "\n"
