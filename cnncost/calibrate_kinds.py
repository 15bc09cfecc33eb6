"""Per-layer-kind efficiency factors, measured on synthetic Keras layers (`calibrate --kinds`).

For each kind (`cnncost.passes.roofline.KINDS`) a few synthetic chain models of that kind only are
built at a few generic feature-map shapes (an ImageNet-style pyramid, batch 1; no layer of any
validation model is used), then:

1. cnncost predicts each model's raw roofline work: per layer max(FLOPs / peak, bytes /
   bandwidth) on the just-calibrated peak and bandwidth, no factors, no overheads;
2. the model is timed whole, compiled (`model(x, training=False)`), median of `repeats` calls,
   all models timed in interleaved rounds (`interleaved_medians`) so that load from other jobs
   on a shared machine spreads over every model; per layer: (median - call_overhead_s) / layers;
3. per kind, `time per layer = overhead + work per layer / efficiency` is fitted over the
   shapes by least squares on relative errors (weights 1 / time^2), overhead >= 0;
4. a training step (`train_on_batch`, Adam, mean squared error) of the same models, minus the
   fixed per-step cost (`train_call_overhead_s`: `train_on_batch` of a one-unit Dense model),
   gives the backward efficiency b of `step = forward / e + (train - forward) / (e * b) +
   calls * o` (calls: kernel-groups: forward, input gradient, weight gradient, update), as total
   backward work over total backward time.
   Kinds without weights (pooling, other) have no gradient in a chain of their own: their b
   stays 1 (not measured).

Every timing is a median: the machine may be shared with other jobs. Each sample also keeps
its rounds' spread, (max - min) / median (`cnncost.spread`), and the profile's `spread` gets
one figure per kind, `kinds.<kind>`: the median of its shapes' spreads (`kind_spreads`). The fit is per kind, not
per model, so a validation model checks it rather than feeding it.

The shape-dependent time model (`cnncost.time_model`) is measured here too (`measure_time_model`,
below: `synthetic_layers` at generic sizes, timed in interleaved rounds); its fit is
`cnncost.time_model.fit`, kept apart from the timing (no Keras, refit from stored samples).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnncost.devices import DeviceProfile, KindFactors, _compiled_runner
from cnncost.passes.roofline import DEPTHWISE, ELEMENTWISE, KINDS, MATMUL, OTHER, POOLING
from cnncost.spread import spread

# (height = width, channels) at batch 1: pyramid levels 112..7 with channels doubling (equal
# elements or MACs per level), plus off-diagonal shapes so that work varies 16x within a kind.
SHAPES: tuple[tuple[int, int], ...] = (
    (112, 32),
    (56, 64),
    (28, 128),
    (14, 256),
    (7, 512),
    (112, 64),
    (28, 32),
    (7, 128),
)


@dataclass(frozen=True)
class KindSample:
    """One synthetic model of one kind at one shape: what cnncost predicts and what ran."""

    kind: str
    shape: tuple[int, int]
    layers: int
    work_s: float  # sum of raw roofline forward work of its layers
    train_work_s: float  # sum of raw roofline training work
    train_calls: int  # kernel-groups of the training step (for the per-call overhead)
    inference_s: float  # measured median, minus the call overhead
    train_step_s: float | None  # measured median, minus the train call overhead
    # (max - min) / median of the timed rounds (cnncost.spread); None: not recorded
    inference_spread: float | None = None
    train_spread: float | None = None


def _model(kind: str, size: int, channels: int):
    """A chain of layers of one kind only (plus the input), batch 1, channels last."""
    import keras

    layers = keras.layers
    x = keras.Input((size, size, channels), batch_size=1)
    if kind == MATMUL:
        y = layers.Conv2D(channels, 1, use_bias=False)(x)
        y = layers.Conv2D(channels, 3, padding="same")(y)
        y = layers.Conv2D(channels, 1, use_bias=False)(y)
        y = layers.Conv2D(channels, 3, padding="same")(y)
    elif kind == DEPTHWISE:
        y = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        y = layers.DepthwiseConv2D(5, padding="same", use_bias=False)(y)
        y = layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(y)
        y = layers.DepthwiseConv2D(3, padding="same")(y)
    elif kind == ELEMENTWISE:
        a = layers.ReLU()(layers.BatchNormalization()(x))
        b = layers.Activation("swish")(layers.BatchNormalization()(a))
        y = layers.Multiply()([layers.Add()([a, b]), a])
    elif kind == POOLING:
        y = layers.MaxPooling2D(3, strides=1, padding="same")(x)
        y = layers.AveragePooling2D(3, strides=1, padding="same")(y)
        y = layers.MaxPooling2D(2)(y)
        y = layers.GlobalAveragePooling2D()(y)
    elif kind == OTHER:
        y = layers.ZeroPadding2D(1)(x)
        y = layers.Cropping2D(1)(y)
        y = layers.Reshape((size * size, channels))(y)
        y = layers.Reshape((size, size, channels))(y)
    else:
        raise ValueError(f"no benchmark for layer kind {kind!r}")
    return keras.Model(x, y, name=f"{kind}_{size}x{size}x{channels}")


def _raw_roofline(model, device: DeviceProfile):
    """cnncost's roofline of a live model on `device` without factors or overheads."""
    from cnncost.analysis import load_graph
    from cnncost.passes.compute import count_compute
    from cnncost.passes.memory import count_memory
    from cnncost.passes.params import count_params
    from cnncost.passes.roofline import roofline
    from cnncost.passes.shapes import infer_shapes

    raw = dataclasses.replace(device, efficiency={}, overhead_s=0.0, call_overhead_s=0.0)
    graph = load_graph(model)
    shapes = infer_shapes(graph, {})
    params = count_params(graph, shapes)
    compute = count_compute(graph, shapes, params)
    memory = count_memory(graph, shapes, params, 1)
    return roofline(graph, compute, memory, params, 1, raw)


def fit_overhead_and_efficiency(
    work_per_layer: Sequence[float], time_per_layer: Sequence[float]
) -> tuple[float, float]:
    """(overhead_s, efficiency) of `time = overhead + work / efficiency`, least squares on
    relative errors (weights 1/time^2), overhead >= 0; times <= 0 are left out. A slope <= 0 (time not growing with
    work) gives efficiency 1 and the mean excess time as the overhead."""
    points = [(x, t) for x, t in zip(work_per_layer, time_per_layer, strict=True) if t > 0]
    if not points:  # nothing measurable (every time under the call overhead)
        return 0.0, 1.0
    work_per_layer, time_per_layer = [x for x, _ in points], [t for _, t in points]
    weights = [1.0 / t**2 for t in time_per_layer]
    sw = sum(weights)
    sx = sum(w * x for w, x in zip(weights, work_per_layer, strict=True))
    sy = sum(w * y for w, y in zip(weights, time_per_layer, strict=True))
    sxx = sum(w * x * x for w, x in zip(weights, work_per_layer, strict=True))
    sxy = sum(w * x * y for w, x, y in zip(weights, work_per_layer, time_per_layer, strict=True))
    det = sw * sxx - sx * sx
    slope = (sw * sxy - sx * sy) / det if det > 0 else 0.0
    overhead = (sy - slope * sx) / sw
    if overhead < 0:  # refit through the origin
        overhead, slope = 0.0, sxy / sxx if sxx > 0 else 0.0
    if slope <= 0:
        excess = [max(y - x, 0.0) for x, y in zip(work_per_layer, time_per_layer, strict=True)]
        return statistics.fmean(excess), 1.0
    return overhead, 1.0 / slope


def fit_training(samples: Sequence[KindSample], factors: KindFactors) -> float:
    """The backward efficiency b of `step = forward / e + backward / (e * b) + calls * o`, with
    e and o the inference fit's: total backward work over total backward time across the
    samples with a training time (a ratio of sums: the large shapes, where the overheads matter
    least, weigh most); 1.0 without any. One parameter, not a second line fit: a fitted
    per-kernel-group overhead traded off against b from one calibration to the next."""
    e, o = factors.efficiency, factors.overhead_s or 0.0
    work = time = 0.0
    for s in samples:
        if s.train_step_s is None:
            continue
        backward_work = max(s.train_work_s - s.work_s, 0.0) / e
        backward_time = s.train_step_s - s.work_s / e - s.train_calls * o
        if backward_work > 0 and backward_time > 0:
            work, time = work + backward_work, time + backward_time
    return work / time if time > 0 else 1.0


# The ceiling of a kind's efficiency: the work is FLOPs / peak or bytes / bandwidth of the peak
# and bandwidth just calibrated, so an efficiency above 1 predicts times below the device's
# floor (FLOPs / peak). Such a fit (seen: 2.37 under load on a CPU; 6.35 for convolutions at
# batch 1 on an H200, where ~70 us of call overhead dwarfs ~10 us of work) is refitted at 1.
MAX_EFFICIENCY = 1.0


def overhead_at(
    work_per_layer: Sequence[float], time_per_layer: Sequence[float], efficiency: float
) -> float:
    """The overhead of `time = overhead + work / efficiency` for a fixed efficiency: the
    weighted (1/time^2, as the free fit) mean of time - work / efficiency, at least 0."""
    points = [(x, t) for x, t in zip(work_per_layer, time_per_layer, strict=True) if t > 0]
    if not points:
        return 0.0
    weights = [1.0 / t**2 for _, t in points]
    excess = sum(w * (t - x / efficiency) for w, (x, t) in zip(weights, points, strict=True))
    return max(excess / sum(weights), 0.0)


def free_efficiency(samples: Sequence[KindSample]) -> float:
    """The efficiency the free fit gives, before the MAX_EFFICIENCY ceiling."""
    return fit_overhead_and_efficiency(
        [s.work_s / s.layers for s in samples], [s.inference_s / s.layers for s in samples]
    )[1]


def over_peak(samples: Sequence[KindSample]) -> dict[str, float]:
    """{kind: free-fit efficiency} for every kind whose free fit exceeds MAX_EFFICIENCY (and
    was therefore refitted at it)."""
    kinds = dict.fromkeys(s.kind for s in samples)
    free = {kind: free_efficiency([s for s in samples if s.kind == kind]) for kind in kinds}
    return {kind: e for kind, e in free.items() if e > MAX_EFFICIENCY}


def fit_kind(samples: Sequence[KindSample]) -> KindFactors:
    works = [s.work_s / s.layers for s in samples]
    times = [s.inference_s / s.layers for s in samples]
    overhead, efficiency = fit_overhead_and_efficiency(works, times)
    if efficiency > MAX_EFFICIENCY:  # faster than the hardware: refit at the ceiling
        efficiency = MAX_EFFICIENCY
        overhead = overhead_at(works, times, efficiency)
    inference = KindFactors(efficiency, overhead)
    # the backward pass runs at e * b: no faster than the ceiling either
    backward = min(fit_training(samples, inference), MAX_EFFICIENCY / efficiency)
    return KindFactors(efficiency, overhead, backward)


def samples_from_summary(rows: Sequence[Mapping[str, Any]]) -> list[KindSample]:
    """The samples a profile stores under `measured.kinds.samples` (to refit them)."""
    return [
        KindSample(
            r["kind"], tuple(r["shape"]), r["layers"], r["work_s"], r["train_work_s"],
            r["train_calls"], r["inference_s"], r["train_step_s"],
            r.get("inference_spread"), r.get("train_spread"),
        )
        for r in rows
    ]  # fmt: skip


def refit(profile: DeviceProfile) -> DeviceProfile:
    """The profile with its kind factors fitted again from its stored samples."""
    samples = samples_from_summary(profile.measured["kinds"]["samples"])
    kinds = dict.fromkeys(s.kind for s in samples)
    factors = {kind: fit_kind([s for s in samples if s.kind == kind]) for kind in kinds}
    measured = dict(profile.measured)
    measured["kinds"] = {**measured["kinds"], "over_peak": over_peak(samples)}
    return dataclasses.replace(profile, efficiency=factors, measured=measured)


def _train_runner(model) -> Callable[[], Any]:
    import numpy as np

    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((1, *model.input_shape[1:])).astype("float32")
    y = np.zeros((1, *model.output_shape[1:]), dtype="float32")
    return lambda: model.train_on_batch(x, y)


def interleaved_times(runs: Sequence[Callable[[], Any]], repeats: int) -> list[list[float]]:
    """The times of each run, timed in `repeats` rounds that call every run once (after one
    warm-up call each): a burst of load from another job hits all runs alike instead of all
    repeats of one."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, record in zip(runs, times, strict=True):
            start = time.perf_counter()
            run()
            record.append(time.perf_counter() - start)
    return times


def interleaved_medians(runs: Sequence[Callable[[], Any]], repeats: int) -> list[float]:
    """Median time of each run (`interleaved_times`)."""
    return [statistics.median(record) for record in interleaved_times(runs, repeats)]


def kind_spreads(samples: Sequence[KindSample]) -> dict[str, float]:
    """{`kinds.<kind>`: median over the kind's shapes of their inference spreads}: one figure
    per kind for the profile's `spread` (judged like the others). The median, not the widest:
    with 8 shapes of batch-1 models timed in ~100 us, one shape's rounds spreading wide is
    common on any machine; half of them doing so is load."""
    by_kind: dict[str, list[float]] = {}
    for s in samples:
        if s.inference_spread is not None:
            by_kind.setdefault(s.kind, []).append(s.inference_spread)
    return {f"kinds.{kind}": statistics.median(v) for kind, v in by_kind.items()}


def measure_kinds(
    device: DeviceProfile,
    kinds: Sequence[str] = KINDS,
    shapes: Sequence[tuple[int, int]] = SHAPES,
    repeats: int = 10,
    train: bool = True,
) -> tuple[dict[str, KindFactors], float | None, list[KindSample]]:
    """(factors per kind, train call overhead, the samples) on the current Keras backend, for
    a `device` whose peak/bandwidth/call overhead were just calibrated on the same engine."""
    import keras
    import numpy as np

    run_compiled = _compiled_runner(keras.backend.backend())
    rng = np.random.default_rng(0)
    cases, inference_runs, train_runs = [], [], []
    for kind in kinds:
        for size, channels in shapes:
            model = _model(kind, size, channels)
            result = _raw_roofline(model, device)
            timed = [n for n in result.nodes.values() if n.inference is not None]
            x = keras.ops.convert_to_tensor(
                rng.standard_normal((1, size, size, channels)).astype("float32")
            )
            inference_runs.append(run_compiled(lambda t, m=model: m(t, training=False), x))
            trains = train and bool(model.trainable_weights)  # pooling/other: no gradients
            if trains:
                train_runs.append(_train_runner(model))
            cases.append((kind, (size, channels), timed, trains))
    train_call_runs = []
    if train:
        call_model_input = keras.Input((8,), batch_size=1)
        call_model = keras.Model(call_model_input, keras.layers.Dense(1)(call_model_input))
        train_call_runs.append(_train_runner(call_model))
    # one set of rounds for everything: inference, the training step's fixed cost, the steps
    times = interleaved_times([*inference_runs, *train_call_runs, *train_runs], repeats)
    medians = [statistics.median(record) for record in times]
    inference = medians[: len(inference_runs)]
    train_call = medians[len(inference_runs)] if train else None
    first_step = len(inference_runs) + len(train_call_runs)
    steps_left = iter(zip(medians[first_step:], times[first_step:], strict=True))
    samples = []
    timed_cases = zip(cases, inference, times[: len(inference_runs)], strict=True)
    for (kind, shape, timed, trains), median, record in timed_cases:
        step, step_times = next(steps_left) if trains else (None, None)
        samples.append(
            KindSample(
                kind,
                shape,
                len(timed),
                sum(n.inference.work_s for n in timed),
                sum(n.training.work_s for n in timed),
                sum(n.training.calls for n in timed),
                max(median - device.call_overhead_s, 0.0),
                None if step is None else max(step - train_call, 0.0),
                spread(record),
                None if step_times is None else spread(step_times),
            )
        )
    keras.backend.clear_session()
    factors = {
        kind: fit_kind([s for s in samples if s.kind == kind])
        for kind in kinds
        if any(s.kind == kind for s in samples)
    }
    return factors, train_call, samples


def samples_summary(samples: Sequence[KindSample]) -> list[Mapping[str, Any]]:
    """The samples as JSON-ready rows (stored in the profile's `measured`)."""
    return [
        {
            "kind": s.kind,
            "shape": list(s.shape),
            "layers": s.layers,
            "work_s": s.work_s,
            "train_work_s": s.train_work_s,
            "train_calls": s.train_calls,
            "inference_s": s.inference_s,
            "train_step_s": s.train_step_s,
            "inference_spread": s.inference_spread,
            "train_spread": s.train_spread,
        }
        for s in samples
    ]


# -- the shape-dependent time model (cnncost.time_model): synthetic layers, timed --------------
#
# Generic sizes only: spatial sizes 9, 13, 23, 33, 45 and 65 (odd, and none of the validation
# models' feature-map sizes: 224 / 2^k, 256 / 2^k, the ZeroPadding'd 225, 113, 57, 29, 15,
# InceptionV3's 149, 147, 73, 71, 35, 17, 8, Xception's 149, 147, 74, 37, 19, 10), channels
# 24, 48, 96 and 192 (3 for a stem), batch 1 and 32. So no synthetic layer has the exact
# configuration of a layer of the seed CNN, ResNet50, MobileNetV2, EfficientNetB0, VGG16,
# DenseNet121, InceptionV3, Xception or ConvNeXtTiny (tests/test_calibrate_time_model.py checks
# the sizes against those lists), and no validation model runs during calibration.
SIZES = (9, 13, 23, 33, 45, 65)
CHANNELS = (24, 48, 96, 192)
BATCHES = (1, 32)
FLOP_BUDGET = 1.5e9  # forward FLOPs per synthetic model at most (~10 ms at 150 GFLOP/s)
ELEMENT_BUDGET = 4 * 10**6  # input elements (batch * size^2 * channels) at most: 16 MB float32


@dataclass(frozen=True)
class SynthLayer:
    """One synthetic model of the time model's calibration: `layers` layers of one time kind
    (`variant`: which class or configuration), on a `size` x `size` x `channels` input."""

    kind: str
    variant: str
    size: int
    channels: int
    batch: int
    kernel: int = 1
    stride: int = 1
    layers: int = 2
    in_channels: int | None = None  # a first layer from this many channels (a stem); None: same

    @property
    def name(self) -> str:
        stem = "" if self.in_channels is None else f"_from{self.in_channels}"
        return (
            f"{self.kind}_{self.variant}_k{self.kernel}_s{self.stride}_c{self.channels}{stem}"
            f"_{self.size}px_b{self.batch}_x{self.layers}"
        )


# time kinds whose synthetic layers hold weights (the others train after a BatchNormalization)
WEIGHTED_KINDS = frozenset({"conv", "depthwise", "grouped", "dense", "batchnorm"})
GROUP_WIDTH = 8  # input channels per group of the `grouped` samples' "g8" variant


def _group_width(c: SynthLayer) -> int:
    """Input channels each output channel reads: all (conv), 1 (depthwise, grouped "dw": groups
    = channels), or GROUP_WIDTH (grouped "g8")."""
    if c.kind == "conv":
        return c.channels
    return GROUP_WIDTH if c.variant == "g8" else 1


def _conv_flops(c: SynthLayer) -> float:
    """A rough forward FLOP count (2 MACs per tap), only to keep each model within budget."""
    out = -(-c.size // c.stride)
    first = c.in_channels or c.channels
    kernel = c.kernel**2 * _group_width(c) / c.channels
    return 2 * c.batch * out**2 * kernel * c.channels * (first + c.channels * (c.layers - 1))


def synthetic_layers() -> list[SynthLayer]:
    """The synthetic models of the time model's calibration (generic sizes: see `SIZES`)."""
    pairs = [(c, s) for s in reversed(SIZES) for c in CHANNELS]  # large spatial first
    configs: list[SynthLayer] = []

    def pick(kind, variant, kernel, stride, batch, count, start, layers=2):
        """`count` (channels, size) pairs within the FLOP budget, rotating from `start`; every
        other model of a kind chains twice as many layers (per-layer and per-call fixed costs
        then differ between samples, so the fit can tell them apart)."""
        chosen = 0
        doubles = kind not in ("concat", "reshape") and not variant.startswith("global")
        for i in range(len(pairs)):
            channels, size = pairs[(start + 7 * i) % len(pairs)]
            length = layers * (1 + sum(1 for c in configs if c.kind == kind) % 2 * doubles)
            c = SynthLayer(kind, variant, size, channels, batch, kernel, stride, length)
            too_big = _conv_flops(c) > FLOP_BUDGET or batch * size**2 * channels > ELEMENT_BUDGET
            if size // stride < 3 or too_big:
                continue
            configs.append(c)
            chosen += 1
            if chosen == count:
                return

    start = 0
    for kind in ("conv", "depthwise"):
        kernels = (1, 3, 5, 7) if kind == "conv" else (3, 5, 7)
        for kernel in kernels:
            for stride in (1, 2):
                for batch in BATCHES:
                    pick(kind, kind, kernel, stride, batch, 2 if batch == 1 else 1, start)
                    start += 5
    # Conv2D(groups > 1): run by Keras's TF backend through XLA, much slower than DepthwiseConv2D
    # on a CPU, its backward most of all; small sizes at batch 32 keep the calibration bounded
    for variant in ("dw", "g8"):
        for kernel in (3, 7):
            for stride in (1, 2):
                for batch in BATCHES:
                    pick("grouped", variant, kernel, stride, batch, 1, start)
                    start += 5
    for batch, size in ((1, 65), (32, 23)):  # a narrow stem: 3 input channels
        configs.append(SynthLayer("conv", "conv", size, 24, batch, 3, 2, 2, in_channels=3))
    configs.append(SynthLayer("conv", "conv", 65, 48, 1, 7, 2, 1, in_channels=3))
    for features, units, batch in (
        (96, 192, 1), (384, 768, 1), (1536, 384, 1), (2304, 640, 1),
        (96, 192, 32), (384, 768, 32), (1536, 384, 32),
    ):  # fmt: skip
        layers = 2 + 2 * (len(configs) % 2)
        configs.append(
            SynthLayer("dense", "dense", 1, units, batch, layers=layers, in_channels=features)
        )
    for variant, kernel, stride, layers in (
        ("max", 2, 2, 2), ("avg", 2, 2, 2), ("max", 3, 2, 2), ("max", 3, 1, 2),
        ("avg", 3, 1, 2), ("global_avg", 1, 1, 1), ("global_max", 1, 1, 1),
    ):  # fmt: skip
        for batch in BATCHES:
            pick("pooling", variant, kernel, stride, batch, 1, start, layers)
            start += 3
    elementwise = (
        ("batchnorm", ("batchnorm",), 3),
        ("activation", ("relu", "swish", "sigmoid"), 3),
        ("merge", ("add", "multiply"), 3),
        ("concat", ("concat",), 2),
        ("reshape", ("flatten",), 2),
        ("padding", ("zero",), 2),
    )
    for kind, variants, layers in elementwise:
        for batch in BATCHES:
            for variant in variants:
                count = 2 if batch == 1 and len(variants) == 1 else 1
                pick(kind, variant, 1, 1, batch, count, start, layers)
                start += 5
    return configs


def _synthetic_model(c: SynthLayer, train: bool = False):
    """The Keras model of a synthetic configuration; `train` for a weightless kind: the same
    chain after a BatchNormalization (the training step needs a weight to train)."""
    import keras

    L = keras.layers
    if c.kind == "dense":
        x = keras.Input((c.in_channels,))
    else:
        x = keras.Input((c.size, c.size, c.in_channels or c.channels))
    y = x
    weightless = c.kind not in WEIGHTED_KINDS
    if train and weightless:
        y = L.BatchNormalization()(y)
    for i in range(c.layers):
        if c.kind == "conv":
            y = L.Conv2D(c.channels, c.kernel, strides=c.stride, padding="same")(y)
        elif c.kind == "depthwise":
            y = L.DepthwiseConv2D(c.kernel, strides=c.stride, padding="same")(y)
        elif c.kind == "grouped":
            groups = c.channels // _group_width(c)
            y = L.Conv2D(c.channels, c.kernel, strides=c.stride, padding="same", groups=groups)(y)
        elif c.kind == "dense":
            y = L.Dense(c.channels)(y)
        elif c.kind == "pooling":
            if c.variant.startswith("global"):
                pool = (
                    L.GlobalAveragePooling2D if c.variant == "global_avg" else L.GlobalMaxPooling2D
                )
                y = pool()(y)
                break
            pool = L.MaxPooling2D if c.variant == "max" else L.AveragePooling2D
            y = pool(c.kernel, strides=c.stride, padding="same")(y)
        elif c.kind == "batchnorm":
            y = L.BatchNormalization()(y)
        elif c.kind == "activation":
            y = L.ReLU()(y) if c.variant == "relu" else L.Activation(c.variant)(y)
        elif c.kind == "merge":
            y = (L.Add() if c.variant == "add" else L.Multiply())([y, x if i else y])
        elif c.kind == "concat":
            y = L.Concatenate()([y, y])
        elif c.kind == "reshape":
            y = L.Reshape(tuple(y.shape[1:]))(L.Flatten()(y))
            break
        elif c.kind == "padding":
            y = L.ZeroPadding2D(1)(y)
        else:
            raise ValueError(f"no synthetic layer for time kind {c.kind!r}")
    return keras.Model(x, y, name=c.name + ("_train" if train else ""))


def sample_features(
    model, device: DeviceProfile, batch: int
) -> dict[str, dict[str, dict[str, float]]]:
    """{time kind: {phase: {feature: sum over the model's layers}}} of a live model on `device`
    (raw roofline work, the layers' shapes): what the time model's fit sees of it."""
    from cnncost.analysis import load_graph
    from cnncost.passes.compute import count_compute
    from cnncost.passes.memory import count_memory
    from cnncost.passes.params import count_params
    from cnncost.passes.roofline import roofline, time_features
    from cnncost.passes.shapes import infer_shapes
    from cnncost.time_model import INFERENCE, TRAINING

    raw = dataclasses.replace(
        device, efficiency={}, overhead_s=0.0, call_overhead_s=0.0, time_model=None
    )
    graph = load_graph(model)
    shapes = infer_shapes(graph, {})
    params = count_params(graph, shapes)
    compute = count_compute(graph, shapes, params)
    memory = count_memory(graph, shapes, params, batch)
    result = roofline(graph, compute, memory, params, batch, raw, shapes=shapes)
    sums: dict[str, dict[str, dict[str, float]]] = {}
    for node in graph.nodes:
        evaluated = result.nodes[node.name]
        if node.is_input or evaluated.inference is None:
            continue
        found = time_features(
            node,
            shapes,
            batch,
            (evaluated.inference, evaluated.training),
            result.peak_flops,
            raw.bandwidth,
        )
        if found is None:
            raise ValueError(f"synthetic layer {node.name} ({node.class_name}) has no time kind")
        kind, values = found
        for phase, phase_values in zip((INFERENCE, TRAINING), values, strict=True):
            into = sums.setdefault(kind, {}).setdefault(phase, {})
            for name, value in phase_values.items():
                into[name] = into.get(name, 0.0) + value
    return sums


def _inputs(model, batch: int, rng):
    return rng.standard_normal((batch, *model.input_shape[1:])).astype("float32")


def _batch_train_runner(model, batch: int, rng) -> Callable[[], Any]:
    import numpy as np

    model.compile(optimizer="adam", loss="mse")
    x = _inputs(model, batch, rng)
    y = np.zeros((batch, *model.output_shape[1:]), dtype="float32")
    return lambda: model.train_on_batch(x, y)


def measure_time_model(
    device: DeviceProfile,
    train_call_s: float,
    configs: Sequence[SynthLayer] | None = None,
    repeats: int = 10,
    train: bool = True,
):
    """The shape-dependent time model (`cnncost.time_model`) of this engine: every synthetic
    model (`synthetic_layers`) timed compiled (inference) and as a `train_on_batch` step, all in
    `repeats` interleaved rounds (`interleaved_times`), medians minus the call overheads
    (`device.call_overhead_s`, `train_call_s`), then `cnncost.time_model.fit` (kept apart:
    the fit needs no Keras and refits from the stored samples)."""
    import keras
    import numpy as np

    from cnncost.time_model import TimeSample, fit

    started = time.perf_counter()
    configs = synthetic_layers() if configs is None else list(configs)
    run_compiled = _compiled_runner(keras.backend.backend())
    rng = np.random.default_rng(0)
    runs, meta = [], []  # meta: (config index, phase, features)
    for i, c in enumerate(configs):
        model = _synthetic_model(c)
        x = keras.ops.convert_to_tensor(_inputs(model, c.batch, rng))
        runs.append(run_compiled(lambda t, m=model: m(t, training=False), x))
        meta.append((i, "inference", sample_features(model, device, c.batch)))
        if train:
            train_model = model if model.trainable_weights else _synthetic_model(c, train=True)
            if train_model is not model:
                features = sample_features(train_model, device, c.batch)
            else:
                features = meta[-1][2]
            runs.append(_batch_train_runner(train_model, c.batch, rng))
            meta.append((i, "training", features))
    built = time.perf_counter()
    times = interleaved_times(runs, repeats)
    measured: dict[int, dict[str, Any]] = {}
    for (i, phase, features), record in zip(meta, times, strict=True):
        call = device.call_overhead_s if phase == "inference" else train_call_s
        measured.setdefault(i, {})[phase] = (
            max(statistics.median(record) - call, 0.0),
            spread(record),
            features,
        )
    keras.backend.clear_session()
    samples = []
    for i, c in enumerate(configs):
        inference_s, inference_spread, inference_features = measured[i]["inference"]
        feats = {k: {"inference": v["inference"]} for k, v in inference_features.items()}
        step = step_spread = None
        if "training" in measured[i]:
            step, step_spread, train_features = measured[i]["training"]
            for k, v in train_features.items():
                feats.setdefault(k, {})["training"] = v["training"]
        samples.append(TimeSample(c.name, feats, inference_s, step, inference_spread, step_spread))
    spreads = [s.inference_spread for s in samples if s.inference_spread is not None]
    step_spreads = [s.train_spread for s in samples if s.train_spread is not None]
    info = {
        "median_inference_spread": statistics.median(spreads) if spreads else None,
        "median_train_spread": statistics.median(step_spreads) if step_spreads else None,
        "build_s": round(built - started, 1),
        "timing_s": round(time.perf_counter() - built, 1),
        "rounds": repeats,
        "models": len(configs),
    }
    method = (
        "synthetic chains per time kind (generic sizes 9-65 px, channels 24-192, batch 1 and 32);"
        " interleaved rounds, medians minus the call overheads; NNLS on relative errors"
    )
    return fit(samples, device.peak_for("float32")[0], method, info)
