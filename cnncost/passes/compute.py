"""Compute per node: MACs, FLOPs (under a convention) and training FLOPs, per sample.

- `macs`: from the registry's rules. With `padding_aware`, the windowed part of a convolution's
  MACs is scaled by the exact fraction of kernel taps that land inside the input (taps on the
  implicit zero padding are skipped, as XLA's cost analysis does), computed per spatial axis from
  the rule's `Window` and TF's "same" split (`total = max((ceil(n/s)-1)*s + k_eff - n, 0)`,
  left = total // 2). The axes are independent, so the count is a product over axes.
- `flops` (`full` convention): `2 * macs` + the table rows of `cnncost.conventions`.
- `flops` (`tf-profiler` convention): `cnncost.tf_profiler.profiler_flops`.
- `train_flops`: forward (training form) + input gradient (`2 * macs` + table `backward`), the
  latter only where some upstream node has trainable weights (the first layer's input gradient is
  never needed) + weight gradient (`2 * weight macs` + table `weights`) only for layers with
  trainable weights (frozen layers are left out). Always in the `full` convention's table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cnncost import conventions
from cnncost.conventions import TABLE, Cost
from cnncost.ir import Dim, Graph, Node, Shape, known_sum
from cnncost.layers import Call, LayerRule, rule_for
from cnncost.layers.base import Window, guarded, is_int, product
from cnncost.passes.batch import per_row
from cnncost.passes.params import NodeParams
from cnncost.passes.shapes import ShapeResult


@dataclass(frozen=True)
class NodeCompute:
    macs: Dim
    flops: Dim
    train_flops: Dim
    notes: tuple[str, ...] = ()  # why a value is None, or what a convention misses


@dataclass(frozen=True)
class ComputeResult:
    nodes: Mapping[str, NodeCompute]
    warnings: tuple[str, ...]


def count_macs(graph: Graph, shapes: ShapeResult, padding_aware: bool = False) -> Mapping[str, Dim]:
    """MACs of each node for one sample; None where they cannot be determined."""
    result: dict[str, Dim] = {}
    for node in graph.nodes:
        call, rule, outputs = _call(node, shapes)
        if call is None:
            result[node.name] = None
            continue
        macs = guarded(call, rule.macs, outputs)
        if padding_aware and macs:
            macs = _padding_aware(call, rule, outputs, macs)
        result[node.name] = macs
    return result


def _call(node: Node, shapes: ShapeResult):
    rule = rule_for(node)
    node_shapes = shapes.nodes[node.name]
    if rule is None or any(s is None for s in (*node_shapes.inputs, *node_shapes.outputs)):
        return None, rule, node_shapes.outputs
    return Call(node, node_shapes.inputs), rule, node_shapes.outputs


# -- padding-aware MACs ---------------------------------------------------------------------------


def pad_before(n: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Left padding of one axis of a forward window, as TensorFlow splits it."""
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        return 0
    if padding == "causal":
        return effective - 1
    out = -(-n // stride)  # ceil(n / s)
    total = max((out - 1) * stride + effective - n, 0)
    return total // 2


def floor_sum(count: int, modulus: int, slope: int, offset: int) -> int:
    """`sum(floor((slope*i + offset) / modulus) for i in range(count))`, for non-negative
    `slope`/`offset` and positive `modulus`, in O(log) steps (the Euclid-like reduction of the
    AtCoder Library's `floor_sum`): whole quotients of `slope` and `offset` are arithmetic series
    taken out in closed form; what is left counts lattice points under a line whose roles of
    slope and modulus swap, as in Euclid's algorithm.
    """
    total = 0
    while True:
        if slope >= modulus:
            total += count * (count - 1) // 2 * (slope // modulus)
            slope %= modulus
        if offset >= modulus:
            total += count * (offset // modulus)
            offset %= modulus
        top = slope * count + offset
        if top < modulus:
            return total
        count, offset = divmod(top, modulus)
        modulus, slope = slope, modulus


def _pairs_at_most(limit: int, positions: int, taps: int, stride: int, dilation: int) -> int:
    """#{(p, t): 0 <= p < positions, 0 <= t < taps, p*stride + t*dilation <= limit}.

    For each tap t the positions allowed are `clamp(floor((limit - t*d)/s) + 1, 0, P)`, which
    decreases with t: the first `full` taps (those with `limit - t*d >= (P-1)*s`) allow all P
    positions, taps from `reach` on (`t*d > limit`) allow none, and the taps in between add
    `floor((limit - t*d)/s) + 1`; with u = reach-1-t this is `floor((d*u + b)/s) + 1`,
    b = limit - (reach-1)*d >= 0, a `floor_sum`.
    """
    if limit < 0 or positions <= 0 or taps <= 0:
        return 0
    full = min(max((limit - (positions - 1) * stride) // dilation + 1, 0), taps)
    reach = min(limit // dilation + 1, taps)
    partial = reach - full
    offset = limit - (reach - 1) * dilation
    return full * positions + partial + floor_sum(partial, stride, dilation, offset)


def inside_pairs(
    positions: int, taps: int, stride: int, dilation: int, before: int, length: int
) -> int:
    """#{(p, t): 0 <= p < positions, 0 <= t < taps, 0 <= p*s - before + t*d < length}, exactly,
    without looping over positions or taps (a difference of two `_pairs_at_most` counts)."""
    if length <= 0:
        return 0
    high = _pairs_at_most(before + length - 1, positions, taps, stride, dilation)
    return high - _pairs_at_most(before - 1, positions, taps, stride, dilation)


def valid_taps(n: int, out: int, kernel: int, stride: int, dilation: int, before: int) -> int:
    """Sum over output positions o of the taps t with 0 <= o*s - before + t*d < n."""
    return inside_pairs(out, kernel, stride, dilation, before, n)


def transposed_valid_taps(
    n: int, out: int, kernel: int, stride: int, dilation: int, padding: str | int
) -> int:
    """Scatter form: input i, tap t writes output i*s + t*d - before; count those inside.

    `padding` is "valid"/"same", or the left padding itself (a transposed `Window`'s pairs).
    """
    effective = dilation * (kernel - 1) + 1
    if isinstance(padding, int):
        before = padding
    else:
        before = 0 if padding == "valid" else max((n - 1) * stride + effective - out, 0) // 2
    return inside_pairs(n, kernel, stride, dilation, before, out)


def _padding_aware(call: Call, rule: LayerRule, outputs, macs: Dim) -> Dim:
    if rule.window is None or rule.cost != "conv":
        return macs
    window: Window = guarded(call, rule.window)
    windowed = macs if rule.windowed_macs is None else guarded(call, rule.windowed_macs, outputs)
    shape_in, shape_out = call.shape, outputs[0]
    if isinstance(window.padding, tuple) and not window.transposed:
        return macs  # explicit pairs are only used by ZeroPadding/Cropping, which have no MACs
    all_taps, kept_taps = 1, 1
    for index, (axis, k, s, d) in enumerate(
        zip(window.axes, window.kernel, window.strides, window.dilation)
    ):
        n, out = shape_in[axis], shape_out[axis]
        if not (is_int(n) and is_int(out)):
            return None  # depends on sizes we do not know
        if window.transposed:
            all_taps *= n * k
            padding = window.padding
            left = padding if isinstance(padding, str) else padding[index][0]
            kept_taps *= transposed_valid_taps(n, out, k, s, d, left)
        else:
            all_taps *= out * k
            kept_taps *= valid_taps(n, out, k, s, d, pad_before(n, k, s, d, window.padding))
    # windowed = all_taps * (channels factor), so the division is exact.
    return macs - windowed + windowed * kept_taps // all_taps


# -- elementwise work by the convention table --------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    output: Dim
    input: Dim
    taps: int
    extra_inputs: int

    def apply(self, cost: Cost, elements: Dim = None) -> Dim:
        """FLOPs of `cost` on these counts; `elements` overrides the output count."""
        out = self.output if elements is None else elements
        if out is None or self.input is None:
            return None
        return (
            cost.output * out
            + cost.input * self.input
            + cost.tap * out * self.taps
            + cost.merge * out * self.extra_inputs
        )


def _elements(shapes: tuple[Shape, ...]) -> Dim:
    total: Dim = 0
    for shape in shapes:
        size = product(shape[1:])
        if size is None:
            return None
        total = total + size
    return total


def _counts(call: Call, rule: LayerRule, outputs) -> _Counts:
    window = guarded(call, rule.window) if rule.window is not None else None
    taps = product(window.kernel) if window is not None else 0  # None: a window not modelled
    return _Counts(
        _elements(outputs), _elements(call.input_shapes), taps, max(call.operand_count - 1, 0)
    )


@dataclass(frozen=True)
class _Elementwise:
    forward: Dim
    train_forward: Dim
    backward: Dim
    weights: Dim
    missing: tuple[str, ...]


def elementwise(call: Call, rule: LayerRule, outputs) -> _Elementwise:
    """The table's forward / training / gradient FLOPs of one call."""
    counts = _counts(call, rule, outputs)
    if rule.element_counts is not None:
        items = list(guarded(call, rule.element_counts, outputs).items())
    else:
        items = [(key, None) for key in conventions.row_keys(rule.cost, call.config)]
    totals = [0, 0, 0, 0]
    missing = []
    for key, elements in items:
        row = TABLE.get(key)
        if row is None:
            missing.append(key)
            continue
        costs = (row.forward, row.train_forward or row.forward, row.backward, row.weights)
        for i, cost in enumerate(costs):
            value = counts.apply(cost, elements)
            totals[i] = None if value is None or totals[i] is None else totals[i] + value
    if missing:
        return _Elementwise(None, None, None, None, tuple(missing))
    return _Elementwise(*totals, ())


# -- the pass ---------------------------------------------------------------------------------------


def _trainable_layers(graph: Graph, params: Mapping[str, NodeParams]) -> set[str]:
    """Nodes whose call uses trainable weights (shared calls count with the first call)."""
    result = set()
    for node in graph.nodes:
        owner = node.shares_weights_with or node.name
        if owner in params and params[owner].trainable != 0:  # `!=`: also for symbolic counts
            result.add(node.name)
    return result


def _needs_input_gradient(graph: Graph, trainable: set[str]) -> set[str]:
    """Nodes that must pass a gradient to their inputs: some upstream node has trainable weights."""
    upstream: dict[str, bool] = {}
    result = set()
    for node in graph.nodes:
        feeds = [ref.node for ref in node.inputs]
        needs = any(upstream[f] or f in trainable for f in feeds)
        upstream[node.name] = needs
        if needs:
            result.add(node.name)
    return result


def _lora_merge_macs(node_params: NodeParams) -> int:
    """MACs of `lora_a @ lora_b` (Keras recomputes the merged kernel in each call)."""
    factors = {w.name: w.shape for w in node_params.weights if w.name.startswith("lora_")}
    a = next((shape for name, shape in factors.items() if name.endswith("_a")), None)
    b = next((shape for name, shape in factors.items() if name.endswith("_b")), None)
    return math.prod(a) * b[-1] if a and b else 0


def count_compute(
    graph: Graph,
    shapes: ShapeResult,
    params: Mapping[str, NodeParams],
    flops_convention: str = conventions.FULL,
    padding_aware: bool = False,
) -> ComputeResult:
    """MACs, FLOPs and training FLOPs of every node, per sample."""
    if flops_convention not in conventions.CONVENTIONS:
        from cnncost.errors import CnnCostError

        raise CnnCostError(
            f"unknown FLOP convention {flops_convention!r}: "
            f"choose one of {', '.join(conventions.CONVENTIONS)}"
        )
    macs = count_macs(graph, shapes, padding_aware)
    trainable = _trainable_layers(graph, params)
    needs_gradient = _needs_input_gradient(graph, trainable)
    profiler_misses: list[tuple[str, int, str]] = []
    profiler_unseen: dict[str, list[str]] = {}  # op type -> layers where the profiler counts it 0
    profiler_unknown: list[tuple[str, str]] = []
    shapeless: dict[str, str] = {}  # outputs whose static shape TF does not (fully) know
    xla_grouped: list[str] = []  # grouped convs Keras runs as XLA calls
    xla_hidden: list[tuple[str, Dim]] = []  # them and the rows after them: (name, full FLOPs)
    full_total: list[Dim] = []
    warnings: list[str] = []
    result: dict[str, NodeCompute] = {}
    for node in graph.nodes:
        call, rule, outputs = _call(node, shapes)
        node_macs = macs[node.name]
        if call is None or node_macs is None:
            result[node.name] = NodeCompute(per_row(node_macs), None, None)
            continue
        work = elementwise(call, rule, outputs)
        notes: list[str] = []
        lora = _lora_merge_macs(params[node.name])
        if lora:
            warnings.append(
                f"{node.name}: LoRA adds its low-rank update to the kernel on every call "
                f"({lora:,} MACs per call, not per sample): not included in its MACs/FLOPs"
            )
        if work.missing:
            notes.append(f"no FLOP-table row for {', '.join(work.missing)}")
            warnings.append(
                f"{node.name}: no FLOP cost known for {', '.join(work.missing)}; "
                "its flops and train_flops are not counted"
            )
        full_flops = known_sum((2 * node_macs, work.forward))
        full_total.append(full_flops)
        if flops_convention == conventions.TF_PROFILER:
            from cnncost.tf_profiler import STATIC, profiler_flops

            # After an XLA-compiled grouped conv TF knows no static shapes (tf_profiler.after_xla).
            inputs = tuple(shapeless.get(ref.node, STATIC) for ref in node.inputs)
            counted = profiler_flops(call, rule, outputs, inputs)
            if counted.shapeless_output:
                shapeless[node.name] = counted.output
                xla_hidden.append((node.name, full_flops))
                if "StatefulPartitionedCall" in counted.unseen:
                    xla_grouped.append(node.name)
            flops = counted.flops
            if flops is None:
                notes.append(f"tf-profiler count not modelled: {counted.reason}")
                profiler_unknown.append((node.name, counted.reason))
            if counted.missed:
                profiler_misses.append((node.name, counted.missed, counted.reason))
                notes.append(f"the TF profiler misses {counted.missed} FLOPs here")
            for op in counted.unseen:
                profiler_unseen.setdefault(op, []).append(node.name)
        else:
            flops = full_flops
        weight_macs = (
            node_macs if rule.weight_macs is None else guarded(call, rule.weight_macs, outputs)
        )
        input_gradient = (
            known_sum((2 * node_macs, work.backward)) if node.name in needs_gradient else 0
        )
        weight_gradient = (
            known_sum((2 * weight_macs, work.weights)) if node.name in trainable else 0
        )
        train_forward = known_sum((2 * node_macs, work.train_forward))
        train = known_sum((train_forward, input_gradient, weight_gradient))
        result[node.name] = NodeCompute(
            per_row(node_macs), per_row(flops), per_row(train), tuple(notes)
        )
    warnings.extend(_profiler_warnings(profiler_misses, profiler_unseen, profiler_unknown))
    if xla_grouped:
        from cnncost.tf_profiler import xla_warning

        warnings.append(xla_warning(xla_grouped, xla_hidden, known_sum(full_total)))
    return ComputeResult(result, tuple(warnings))


def _names(names: list[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _profiler_warnings(misses, unseen, unknown) -> list[str]:
    """The tf-profiler convention's caveats: work it misses, ops it counts 0, rows not modelled."""
    warnings = []
    if misses:
        total = sum(missed for _, missed, _ in misses)
        reasons = "; ".join(dict.fromkeys(reason for _, _, reason in misses if reason))
        warnings.append(
            f"tf-profiler convention: TensorFlow's profiler does not see {total} FLOPs of "
            f"{len(misses)} layers ({_names([name for name, _, _ in misses])}): {reasons}; "
            "their flops here are what the profiler reports, not the work done"
        )
    if unseen:
        parts = [f"{op} ({_names(names, 4)})" for op, names in unseen.items()]
        warnings.append(
            "tf-profiler convention: TensorFlow's profiler counts 0 FLOPs for ops with no "
            f"registered statistics: {'; '.join(parts)}"
        )
    for name, reason in unknown:
        warnings.append(
            f"{name}: tf-profiler convention: its count is not modelled ({reason}); "
            "its flops are not counted"
        )
    return warnings
