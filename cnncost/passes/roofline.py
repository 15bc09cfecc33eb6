"""Roofline latency per node on a device profile, for inference and for a training step.

For one layer call on the whole batch:

    compute time = flops / peak_flops            (full-convention FLOPs: the work done)
    memory time  = bytes_moved / bandwidth
    time         = max(compute time, memory time) + overhead
    bound        = "compute" if compute time >= memory time else "memory"
    intensity    = flops / bytes_moved            (FLOPs per byte)

`bytes_moved` of a forward call = its inputs read + its weights read + its outputs written, each
once (no cache reuse across layers, no fusion): `in + w + out`.

A training step per layer (Adam), each term only where the compute pass does that work:
- forward: `in + w + out` bytes;
- input gradient (some upstream layer is trainable): read the output gradient and the weights,
  write the input gradient: `out + w + in`;
- weight gradient (trainable weights): read the output gradient and the inputs, write the weight
  gradient: `out + in + tw` (tw: trainable weight bytes);
- Adam update: read weight, gradient, 2 slots, write weight and 2 slots: `7 * tw`.
The overhead is paid once per kernel-group: forward, input gradient, weight gradient, update.

`floor_s = flops / peak_flops` is a hard lower bound (no device does the work faster than its
peak); the memory term is not one (caches, fusion and views can avoid the traffic), so a
measured time below `floor_s` is impossible, one below `time` merely beats the model.
The whole model's latency is the sum over its layers (layers run one after another), plus the
device's `call_overhead_s` once (one compiled call of the model; `train_call_overhead_s` for a
train step).

Per-layer-kind efficiency (`DeviceProfile.efficiency`, measured by `cnncost calibrate --kinds`):
each layer has one kind (`layer_kind`, from its registry rule), and a kind's factors e (efficiency),
b (backward efficiency), o (overhead per layer) and t (overhead per kernel-group of a training
step) turn the raw roofline into the predicted time:

    inference time = max(compute, memory) / e + o
    training time  = forward / e + (train - forward) / (e * b) + calls * t

where `forward` and `train` are the raw roofline terms max(compute, memory) of the forward call and
of the whole training work. `floor_s` stays `flops / peak` on the raw peak: the factors describe
how fast a kind usually runs, never a bound, so the impossible-measurement check is unchanged.

Shape-dependent time model (`DeviceProfile.time_model`, `cnncost.time_model`, fitted by
`cnncost calibrate --kinds` on synthetic layers): a layer whose *time kind* (`time_kind`: conv,
dense, depthwise, grouped, pooling, batchnorm, activation, merge, concat, reshape, padding) was fitted, at
the dtype of the peak used, gets `max(sum(coefficient * feature), floor_s)`, its features
computed from the layer's FLOPs, bytes, kernel-groups, input channels, batch * output positions,
kernel and stride (`layer_shape`). Otherwise the kind factors above predict, and without them the
raw roofline. Each evaluation says which (`source`: `fitted:<time kind>`, `kind-factors`,
`roofline`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cnncost.devices import DeviceProfile, KindFactors
from cnncost.ir import Graph, Node
from cnncost.layers import rule_for
from cnncost.layers.base import no_macs
from cnncost.passes.compute import ComputeResult, _needs_input_gradient, _trainable_layers
from cnncost.passes.memory import MemoryResult
from cnncost.passes.params import NodeParams
from cnncost.passes.shapes import ShapeResult
from cnncost.time_model import INFERENCE, TRAINING, LayerShape, features, predict

ADAM_UPDATE_ACCESSES = 7  # read w, g, m, v; write w, m, v

# Layer kinds with their own efficiency factors. "matmul": convolutions (not depthwise), Dense,
# EinsumDense, attention: dense multiply-accumulate. "depthwise": one filter per input channel
# (DepthwiseConv, a grouped Conv with one filter per group). "pooling": windowed and
# global pooling. "elementwise": every other layer with per-element arithmetic (activations,
# normalizations, merges, rescaling, resizing). "other": no arithmetic (reshapes, padding,
# cropping, dropout at inference): a copy or a view.
MATMUL, DEPTHWISE, POOLING, ELEMENTWISE, OTHER = (
    "matmul",
    "depthwise",
    "pooling",
    "elementwise",
    "other",
)
KINDS = (MATMUL, DEPTHWISE, POOLING, ELEMENTWISE, OTHER)
_MAC_COSTS = frozenset({"conv", "dense", "attention"})
_POOLING_COSTS = frozenset({"max_pool", "avg_pool", "global_max_pool", "global_avg_pool"})
_DEPTHWISE_CLASSES = frozenset({"DepthwiseConv1D", "DepthwiseConv2D", "DepthwiseConv"})


def layer_kind(node: Node) -> str:
    """The efficiency kind of a layer, from its registry rule's `cost` key (the one place that
    classifies); a layer without a rule (unsupported or plugin-less) is "other"."""
    rule = rule_for(node)
    cost = rule.cost if rule is not None else None
    # a rule with multiply-accumulates and no per-element row (RNNs, keras.ops convs, Dot,
    # extract_patches) runs on the matmul units like a conv
    multiplies = rule is not None and cost is None and rule.macs is not no_macs
    if cost in _MAC_COSTS or multiplies:
        groups = node.config.get("groups", 1)
        filters = node.config.get("filters")
        grouped_depthwise = isinstance(groups, int) and groups > 1 and groups == filters
        return DEPTHWISE if node.class_name in _DEPTHWISE_CLASSES or grouped_depthwise else MATMUL
    if cost in _POOLING_COSTS:
        return POOLING
    if cost is not None:
        return ELEMENTWISE
    return OTHER


# Time kinds of the shape-dependent model (cnncost.time_model.TIME_KINDS), by Keras class: the
# classes the calibration's synthetic layers are made of, and their close relatives.
_TIME_KIND_CLASSES = {
    "Dense": "dense",
    "BatchNormalization": "batchnorm",
    "ReLU": "activation",
    "Activation": "activation",
    "LeakyReLU": "activation",
    **dict.fromkeys(("Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum"), "merge"),
    "Concatenate": "concat",
    "Reshape": "reshape",
    "Flatten": "reshape",
    **dict.fromkeys(("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"), "padding"),
}
_CONV_CLASSES = frozenset({"Conv1D", "Conv2D", "Conv3D"})
_NOT_ELEMENTWISE_ACTIVATIONS = frozenset({"softmax", "log_softmax"})  # reductions


def time_kind(node: Node) -> str | None:
    """The layer's kind in the shape-dependent time model, or None (not modelled: the kind
    factors predict it). Only Keras's own classes (a rule matched by class and origin)."""
    if rule_for(node) is None:
        return None
    kind = layer_kind(node)
    if node.class_name in _CONV_CLASSES and (_int(node.config.get("groups", 1)) or 1) > 1:
        return "grouped"  # XLA-compiled on the TF backend (also groups == filters)
    if kind == DEPTHWISE:
        return "depthwise"
    if kind == MATMUL:
        return (
            "conv" if node.class_name in _CONV_CLASSES else _TIME_KIND_CLASSES.get(node.class_name)
        )
    if kind == POOLING:
        return "pooling"
    if node.class_name == "Activation":
        if str(node.config.get("activation")) in _NOT_ELEMENTWISE_ACTIVATIONS:
            return None
    return _TIME_KIND_CLASSES.get(node.class_name)


def _ints(value, rank: int) -> tuple[int, ...] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * rank
    if isinstance(value, (list, tuple)) and all(_int(v) is not None for v in value):
        return tuple(value)
    return None


def layer_shape(node: Node, inputs, outputs, batch: int) -> LayerShape | None:
    """The shape features of a layer call (`cnncost.time_model.LayerShape`) from its input and
    output shapes (per sample, batch axis first): input channels (the channel axis of the
    first input), batch * output spatial positions, kernel and stride areas (pool size, or
    the whole input for global pooling); None when a size is unknown."""
    if not inputs or not outputs or inputs[0] is None or outputs[0] is None:
        return None
    first, out = tuple(inputs[0]), tuple(outputs[0])
    if len(first) < 2 or len(out) < 1 or any(_int(d) is None for d in (*first[1:], *out[1:])):
        return None
    channels_first = node.config.get("data_format") == "channels_first"
    channels = first[1] if channels_first else first[-1]
    spatial_out = out[2:] if channels_first else out[1:-1]
    spatial_in = first[2:] if channels_first else first[1:-1]
    positions = batch * math.prod(spatial_out)
    rank = len(spatial_in)
    kernel = _ints(node.config.get("kernel_size", node.config.get("pool_size")), rank)
    if kernel is None and node.class_name.startswith("Global"):
        kernel = spatial_in
    strides = node.config.get("strides")
    if strides is None and "pool_size" in node.config:
        strides = kernel  # Keras: pooling strides default to the pool size
    stride = _ints(strides, rank)
    return LayerShape(
        channels,
        positions,
        math.prod(kernel) if kernel else 1,
        math.prod(stride) if stride else 1,
    )


@dataclass(frozen=True)
class Roofline:
    """One roofline evaluation: work in, time out."""

    flops: int
    bytes_moved: int
    compute_s: float
    memory_s: float
    overhead_s: float

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s) + self.overhead_s

    @property
    def floor_s(self) -> float:
        return self.compute_s

    @property
    def bound(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float | None:
        return self.flops / self.bytes_moved if self.bytes_moved else None


def roofline_time(
    flops: int, bytes_moved: int, peak_flops: float, bandwidth: float, overhead_s: float = 0.0
) -> Roofline:
    return Roofline(flops, bytes_moved, flops / peak_flops, bytes_moved / bandwidth, overhead_s)


@dataclass(frozen=True)
class KindRoofline:
    """A raw roofline evaluation scaled by a layer kind's factors (see the module docstring).

    `raw` is the roofline at the device's peak and bandwidth (its `floor_s` is the hard bound);
    `forward_raw_s` is the raw max(compute, memory) of the forward call alone, the part of a
    training step that runs at the forward efficiency (equal to the raw time for inference).
    """

    raw: Roofline
    factors: KindFactors
    forward_raw_s: float
    calls: int  # kernel-groups: 1 for inference; forward, gradients and update for training
    per_call_s: float  # the kind's overhead per kernel-group
    # the shape-dependent time model's prediction (before the floor); None: not used
    fitted_s: float | None = None
    source: str = "roofline"  # fitted:<time kind>, kind-factors or roofline

    @property
    def overhead_s(self) -> float:
        return self.calls * self.per_call_s

    @property
    def work_s(self) -> float:
        """The raw roofline work time, max(compute, memory), before factors and overheads."""
        return max(self.raw.compute_s, self.raw.memory_s)

    @property
    def flops(self) -> int:
        return self.raw.flops

    @property
    def bytes_moved(self) -> int:
        return self.raw.bytes_moved

    @property
    def bound(self) -> str:
        return self.raw.bound

    @property
    def intensity(self) -> float | None:
        return self.raw.intensity

    @property
    def floor_s(self) -> float:
        return self.raw.floor_s

    @property
    def time_s(self) -> float:
        if self.fitted_s is not None:  # the time model, never below the compute floor
            return max(self.fitted_s, self.floor_s)
        work = self.work_s
        forward = min(self.forward_raw_s, work)
        e, b = self.factors.efficiency, self.factors.backward_efficiency
        return forward / e + (work - forward) / (e * b) + self.overhead_s


def kind_time(
    flops: int,
    bytes_moved: int,
    forward_raw_s: float | None,
    peak_flops: float,
    bandwidth: float,
    factors: KindFactors,
    calls: int,
    device_overhead_s: float,
) -> KindRoofline:
    """The roofline of `flops`/`bytes_moved` scaled by `factors`; `forward_raw_s` None means
    all of it is forward work (inference), otherwise it is a training step. `calls`
    kernel-groups each pay the kind's overhead (training: its train overhead; the device's
    when the kind has none)."""
    raw = roofline_time(flops, bytes_moved, peak_flops, bandwidth)
    per_call = device_overhead_s if factors.overhead_s is None else factors.overhead_s
    if forward_raw_s is not None and factors.train_overhead_s is not None:
        per_call = factors.train_overhead_s
    forward = max(raw.compute_s, raw.memory_s) if forward_raw_s is None else forward_raw_s
    return KindRoofline(raw, factors, forward, calls, per_call)


def time_features(
    node: Node,
    shapes: ShapeResult,
    batch: int,
    evaluated: tuple[KindRoofline, KindRoofline],
    peak: float,
    bandwidth: float,
) -> tuple[str, tuple[dict[str, float], dict[str, float]]] | None:
    """The layer's time kind and its time-model features for the inference and the training
    evaluation (`cnncost.time_model.features`), or None: no time kind, or a size unknown. What
    the calibration fits on (`calibrate_kinds.sample_features`) and the prediction reads."""
    kind = time_kind(node)
    node_shapes = shapes.nodes.get(node.name)
    if kind is None or node_shapes is None:
        return None
    shape = layer_shape(node, node_shapes.inputs, node_shapes.outputs, batch)
    if shape is None:
        return None
    inference, training = (
        features(e.flops, e.bytes_moved, e.calls, shape, peak, bandwidth) for e in evaluated
    )
    return kind, (inference, training)


def _fitted(
    node: Node,
    shapes: ShapeResult,
    batch: int,
    device: DeviceProfile,
    dtype: str,
    peak: float,
    evaluated: tuple[KindRoofline, KindRoofline],
) -> tuple[KindRoofline, KindRoofline]:
    """The inference and training evaluations with the time model's prediction where it has
    coefficients for the layer's time kind at this dtype (each phase on its own)."""
    found = time_features(node, shapes, batch, evaluated, peak, device.bandwidth)
    if found is None:
        return evaluated
    kind, values = found
    out = []
    for phase, evaluation, phase_values in zip(
        (INFERENCE, TRAINING), evaluated, values, strict=True
    ):
        coefficients = device.time_model.coefficients(kind, phase, dtype)
        if coefficients is None:
            out.append(evaluation)
            continue
        fitted = predict(coefficients, phase_values)
        out.append(replace(evaluation, fitted_s=fitted, source=f"fitted:{kind}"))
    return out[0], out[1]


@dataclass(frozen=True)
class NodeRoofline:
    inference: KindRoofline | None  # None for InputLayer rows and unknown (symbolic) sizes
    training: KindRoofline | None
    kind: str | None = None  # the layer's efficiency kind (KINDS)


@dataclass(frozen=True)
class RooflineResult:
    nodes: Mapping[str, NodeRoofline]
    dtype: str  # the peak used: float32, tfloat32, bfloat16, ...
    peak_flops: float
    latency_s: float | None  # whole model, inference, one batch
    train_step_s: float | None
    floor_s: float | None
    train_floor_s: float | None
    warnings: tuple[str, ...]


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def roofline(
    graph: Graph,
    compute: ComputeResult,
    memory: MemoryResult,
    params: Mapping[str, NodeParams],
    batch: int,
    device: DeviceProfile,
    compute_dtype: str = "float32",
    tf32: bool = False,
    shapes: ShapeResult | None = None,
) -> RooflineResult:
    """Per-node roofline on `device`. `compute` is per sample in the full convention; `memory`
    already covers the whole batch. `shapes` (per sample) lets the device's time model, if it
    has one, predict the layers of the kinds it was fitted on."""
    dtype, peak = device.peak_for(compute_dtype, tf32)
    bandwidth, overhead = device.bandwidth, device.overhead_s
    trainable = _trainable_layers(graph, params)
    needs_gradient = _needs_input_gradient(graph, trainable)
    nodes: dict[str, NodeRoofline] = {}
    unknown: list[str] = []
    for node in graph.nodes:
        if node.is_input:
            nodes[node.name] = NodeRoofline(None, None)
            continue
        work = compute.nodes[node.name]
        mem = memory.nodes[node.name]
        in_bytes = [memory.nodes[r.node].output_bytes[r.index] for r in node.inputs]
        values = [
            _int(work.flops),
            _int(work.train_flops),
            _int(mem.weight_bytes),
            _int(mem.activation_bytes),
            *(_int(b) for b in in_bytes),
        ]
        if any(v is None for v in values):
            unknown.append(node.name)
            nodes[node.name] = NodeRoofline(None, None, layer_kind(node))
            continue
        flops, train_flops = work.flops * batch, work.train_flops * batch
        w, out, inp = mem.weight_bytes, mem.activation_bytes, sum(in_bytes)
        node_params = params[node.name]
        tw = w * node_params.trainable // node_params.total if node_params.total else 0
        forward = inp + w + out
        train_bytes, calls = forward, 1
        if node.name in needs_gradient:
            train_bytes += out + w + inp
            calls += 1
        if node.name in trainable:
            train_bytes += out + inp + tw + ADAM_UPDATE_ACCESSES * tw
            calls += 2
        kind = layer_kind(node)
        factors = device.factors(kind)
        inference = kind_time(flops, forward, None, peak, bandwidth, factors, 1, overhead)
        forward_raw = max(inference.raw.compute_s, inference.raw.memory_s)
        training = kind_time(
            train_flops, train_bytes, forward_raw, peak, bandwidth, factors, calls, overhead
        )
        fallback = "kind-factors" if kind in device.efficiency else "roofline"
        inference, training = (
            replace(inference, source=fallback),
            replace(training, source=fallback),
        )
        if device.time_model is not None and shapes is not None:
            inference, training = _fitted(
                node, shapes, batch, device, dtype, peak, (inference, training)
            )
        nodes[node.name] = NodeRoofline(inference, training, kind)
    warnings = []
    if unknown:
        warnings.append(
            f"roofline: {len(unknown)} layers have no time (unknown sizes; first: {unknown[0]}); "
            "the model's predicted times are not given"
        )

    def total(kind: str, attr: str) -> float | None:
        if unknown:
            return None
        call = 0.0
        if attr == "time_s":
            call = device.call_overhead_s if kind == "inference" else device.train_call_s
            fitted = any(
                getattr(n, kind) is not None and getattr(n, kind).source.startswith("fitted:")
                for n in nodes.values()
            )
            if fitted:  # the time model's own fixed cost per model call
                call += device.time_model.call_s.get(kind, 0.0)
        return call + sum(
            getattr(getattr(n, kind), attr) for n in nodes.values() if getattr(n, kind)
        )

    return RooflineResult(
        nodes,
        dtype,
        peak,
        total("inference", "time_s"),
        total("training", "time_s"),
        total("inference", "floor_s"),
        total("training", "floor_s"),
        tuple(warnings),
    )
