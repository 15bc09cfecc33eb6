"""Ground truth measured with Keras itself (imported lazily; only this module's functions need it).

`empirical_receptive_field(model, layer)` measures the *structural* receptive field
(docs/receptive-field.md): the set of input pixels one output unit depends on, as the support of the gradient of that unit
with respect to the input, in a probe copy of the model where nothing can cancel:

- every kernel is a positive constant (1/fan-in, so values stay O(1)), biases and offsets are 0
  (1 for transposed convs, whose outputs that read no input would otherwise be 0),
  Rescaling is the identity,
  BatchNormalization / Normalization are positive affine maps (mean 0, variance 1, gamma 1);
- every activation is linear (ReLU units that are off would hide pixels), max pooling becomes
  average pooling (a max routes the gradient to one pixel), Subtract/Maximum/Minimum become Add;
- the input is all ones and the arithmetic is float64, so products of many small positive
  weights along long paths cannot underflow to zero. channels_first models are the exception:
  TensorFlow's CPU kernels have no float64 NCHW convolution (XLA has one, but its gradient of a
  bilinear resize is wrong), so their probe runs in float32, which holds the products of a few
  dozen layers' 1/fan-in weights (down to ~1e-45), enough for the small models measured here.

The support is then exactly the set of pixels joined to the unit by a path of nonzero taps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

Region = tuple[int, int] | None  # [first, last] input pixel on one axis; None: no dependency

_LINEAR_ACTIVATION_LAYERS = {"ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "ThresholdedReLU"}
_TO_ADD = {"Subtract", "Maximum", "Minimum"}


def _rewrite(config: Any, dtype: str = "float64") -> Any:
    """The probe's configuration: `dtype`, linear activations, no max, no subtraction."""
    if isinstance(config, list):
        return [_rewrite(v, dtype) for v in config]
    if not isinstance(config, dict):
        return config
    out = {k: _rewrite(v, dtype) for k, v in config.items()}
    inner = out.get("config")
    class_name = out.get("class_name")
    if not isinstance(inner, dict) or not isinstance(class_name, str):
        return out
    if class_name == "DTypePolicy" or class_name == "FloatDTypePolicy":
        inner["name"] = dtype
        return out
    if isinstance(inner.get("dtype"), str):
        inner["dtype"] = dtype
    if "activation" in inner:
        inner["activation"] = "linear"
    if class_name == "Rescaling":  # keep values near 1 (see _positive_value)
        inner["scale"], inner["offset"] = 1.0, 0.0
    renamed = None
    if class_name.startswith("MaxPool"):
        renamed = class_name.replace("MaxPooling", "AveragePooling").replace("MaxPool", "AvgPool")
    elif class_name.startswith("GlobalMaxPool"):
        renamed = class_name.replace("Max", "Average")
    elif class_name in _TO_ADD:
        renamed = "Add"
    elif class_name in _LINEAR_ACTIVATION_LAYERS:
        renamed = "Activation"
        keep = {k: inner[k] for k in ("name", "trainable", "dtype") if k in inner}
        out["config"] = {**keep, "activation": "linear"}
    if renamed is not None:
        out["class_name"] = renamed
        if "registered_name" in out:
            out["registered_name"] = None
    return out


def _all_layers(model) -> list:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if hasattr(layer, "layers"):
            layers.extend(_all_layers(layer))
    return layers


def _positive_value(layer, name: str, shape: tuple[int, ...]):
    """Values that keep every activation near 1 (a product of small values, as in a gate
    x * g, would otherwise shrink geometrically with depth and underflow)."""
    import numpy as np

    base = name.rsplit("/", 1)[-1]
    if base == "bias" and "Transpose" in type(layer).__name__:
        # A transposed conv's outputs that read no input (kernel < stride) equal the bias: keep
        # them nonzero so a later Multiply does not zero the other factor's gradient.
        return np.ones(shape)
    if base in ("moving_mean", "mean", "beta", "bias"):
        return np.zeros(shape)
    if base in ("moving_variance", "variance", "gamma", "count"):
        return np.ones(shape)
    depthwise = base == "depthwise_kernel" or type(layer).__name__.startswith("DepthwiseConv")
    taps = shape[:-2] if depthwise else shape[:-1]  # depthwise: one input channel per output
    fan_in = math.prod(taps) if len(shape) >= 2 else 1
    return np.full(shape, 1.0 / fan_in)


def probe_model(model, dtype: str = "float64"):
    """A copy of `model` (same topology and layer names) in which no dependency can cancel."""
    import keras

    config = _rewrite(keras.saving.serialize_keras_object(model), dtype)
    probe = keras.saving.deserialize_keras_object(config)
    for layer in _all_layers(probe):
        for variable in layer.weights:
            variable.assign(_positive_value(layer, variable.name, tuple(variable.shape)))
    return probe


# The memory one backward pass may use (`_bytes_per_unit` times the units it measures): 2 GiB
# measures a 704x704 U-Net with 16 channels one unit at a time (32 at a time, as before, took
# about 28 GiB); `max_bytes=` raises or lowers it.
DEFAULT_MAX_BYTES = 2 * 2**30
MAX_CHUNK = 32
DEFAULT_RUN = 16  # units measured by default (empirical_receptive_field)


def _bytes_per_unit(sub, dtype) -> int:
    """What one unit (one batch element) of a backward pass through `sub` holds: every
    operation's outputs (the tape keeps them), as much again for their gradients and once more
    for TF's temporaries (measured on a 704x704 U-Net with 16 channels: 0.87 GiB more per unit
    in a pass, 1.19 GiB estimated; TF itself adds about 1 GiB whatever the batch)."""
    import numpy as np

    itemsize = np.dtype(getattr(dtype, "name", dtype)).itemsize
    elements = 0
    for operation in sub.operations:  # the InputLayer's output is the input
        outputs = operation.output if isinstance(operation.output, (list, tuple)) else [
            operation.output
        ]  # fmt: skip
        elements += sum(math.prod(d or 1 for d in t.shape[1:]) for t in outputs)
    return 3 * elements * itemsize


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def empirical_regions(
    model,
    probes: Sequence[tuple[str, tuple[int, ...]]],
    input_name: str | None = None,
    chunk: int | None = None,
    probe=None,
    data_format: str = "channels_last",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[tuple[Region, ...]]:
    """For each (layer name, output unit index over the spatial axes), the input region per axis.

    A unit is a spatial position, all its channels together; `data_format` says where the
    channels are, in the input and in the measured layers' outputs. The model's input must have
    a known spatial size. Several probes share one backward pass (one per batch element): at
    most `chunk`, and no more than fit in `max_bytes` (`_bytes_per_unit`); when one unit alone
    does not fit, a one-line `CnnCostError` says how much it needs.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from cnncost.errors import CnnCostError

    channels_first = _channels_first(data_format)
    if probe is None:
        probe = probe_model(model, "float32" if channels_first else "float64")
    names = [t.name.split(":")[0] for t in probe.inputs]
    inputs = list(probe.inputs)
    target = (
        0
        if input_name is None
        else [layer.name for layer in _input_layers(probe)].index(input_name)
    )
    layer_names = list(dict.fromkeys(name for name, _ in probes))
    outputs = [probe.get_layer(name).output for name in layer_names]
    sub = keras.Model(inputs, outputs)
    shape = tuple(inputs[target].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"input {names[target]!r} needs a known size, got {shape}")
    dtype = inputs[target].dtype
    per_unit = _bytes_per_unit(sub, dtype)
    if per_unit > max_bytes:
        raise CnnCostError(
            f"measuring {', '.join(map(repr, layer_names))} at input {shape} needs about "
            f"{_gib(per_unit)} per unit (activations and gradients of "
            f"{len(sub.operations)} operations), over max_bytes={_gib(max_bytes)}: measure at "
            "a smaller input size (the RF size and jump do not depend on it) or raise max_bytes"
        )
    chunk = max(1, min(chunk or MAX_CHUNK, max_bytes // per_unit))
    results: list[tuple[Region, ...]] = []
    for begin in range(0, len(probes), chunk):
        batch = probes[begin : begin + chunk]
        xs = [
            tf.ones((len(batch), *[1 if d is None else d for d in t.shape[1:]]), dtype)
            for t in inputs
        ]

        with tf.GradientTape() as tape:
            tape.watch(xs[target])
            ys = sub(xs if len(xs) > 1 else xs[0])
            ys = ys if isinstance(ys, (list, tuple)) else [ys]
            terms = []
            for b, (name, unit) in enumerate(batch):
                y = ys[layer_names.index(name)]
                # All channels of the position: the union of their supports (a Concatenate's
                # channels come from different branches).
                position = (b, slice(None), *unit) if channels_first else (b, *unit)
                terms.append(tf.reduce_sum(y[position]))
            loss = tf.add_n(terms)
        grad = np.abs(tape.gradient(loss, xs[target]).numpy())
        for b in range(len(batch)):
            support = grad[b].sum(axis=0 if channels_first else -1) > 0  # over channels
            regions = []
            for axis in range(support.ndim):
                other = tuple(a for a in range(support.ndim) if a != axis)
                hits = np.flatnonzero(support.any(axis=other) if other else support)
                regions.append((int(hits[0]), int(hits[-1])) if hits.size else None)
            results.append(tuple(regions))
    return results


def _channels_first(data_format: str) -> bool:
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"unknown data_format {data_format!r}")
    return data_format == "channels_first"


def input_data_format(model, input_name: str | None = None) -> str:
    """The layout of a model input as cnncost reads it (its nearest windowed consumer's)."""
    from cnncost.layers.layout import input_data_formats
    from cnncost.loaders.keras_live import graph_from_model

    graph = graph_from_model(model)
    name = graph.inputs[0].node if input_name is None else input_name
    return input_data_formats(graph)[name]


def _input_layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ == "InputLayer"]


@dataclass(frozen=True)
class EmpiricalAxis:
    """What was measured on one axis. Units whose region touches the input border (pixel 0 or
    n-1) are clipped by it and left out of the summary values."""

    regions: Mapping[int, Region]
    input_size: int
    size_min: int | None
    size_max: int | None
    jump: Fraction | None
    start: Fraction | None
    reason: str | None = None  # why size/jump/start are not determined (then None)

    def touches_border(self, unit: int) -> bool:
        region = self.regions[unit]
        return region is None or region[0] == 0 or region[1] == self.input_size - 1


@dataclass(frozen=True)
class EmpiricalReceptiveField:
    layer: str
    units: tuple[tuple[int, ...], ...]
    axes: tuple[EmpiricalAxis, ...]

    def _determined(self) -> None:
        from cnncost.errors import CnnCostError

        for index, axis in enumerate(self.axes):
            if axis.reason is not None:
                raise CnnCostError(f"layer {self.layer!r}, axis {index}: {axis.reason}")

    @property
    def size(self) -> tuple[int, ...]:
        """The largest RF over the units (one period of them at least); a one-line
        `CnnCostError` when the units measured cannot tell (see `summarize_axis`)."""
        self._determined()
        return tuple(a.size_max for a in self.axes)

    @property
    def jump(self) -> tuple[Fraction, ...]:
        self._determined()
        return tuple(a.jump for a in self.axes)

    @property
    def start(self) -> tuple[Fraction, ...]:
        self._determined()
        return tuple(a.start for a in self.axes)


# A period is accepted only when every phase of it is seen advancing twice: with fewer units, a
# pattern of period 2 (nearest upsampling) seen on two units looks like period 1 with the wrong
# jump (a U-Net decoder measured on 2 units gave jump 0 and 4 for the true 2).
REPEATS = 2


def summarize_axis(regions: Mapping[int, Region], input_size: int) -> EmpiricalAxis:
    """Sizes over interior units (those whose region does not touch the border: the border clips
    it); the jump from the smallest period p with which lows and highs advance uniformly, each of
    the p phases seen advancing `REPEATS` times (3 consecutive interior units for p = 1, 6 for
    p = 2, 12 for upsampling by 4). With fewer, nothing is summarized and `reason` says why."""
    inner = {
        u: r for u, r in regions.items() if r is not None and r[0] > 0 and r[1] < input_size - 1
    }
    sizes = [r[1] - r[0] + 1 for r in inner.values()]
    units = sorted(inner)
    reason = None
    for period in range(1, max(len(units), 2)):
        pairs = [u for u in units if u + period in inner]
        if any(sum(1 for u in pairs if u % period == r) < REPEATS for r in range(period)):
            reason = (
                f"too few units to determine the jump and start: {len(units)} of the "
                f"{len(regions)} units measured are away from the input border (size "
                f"{input_size}), too few to confirm a period of {period} (each phase seen "
                f"advancing {REPEATS} times, e.g. {REPEATS * period + period} consecutive "
                "interior units); measure more units or a larger input"
            )
            break
        steps = {(inner[u + period][0] - inner[u][0], inner[u + period][1] - inner[u][1])
                 for u in pairs}  # fmt: skip
        # one step for lows and highs alike, and not 0 (a region that does not move is one
        # phase of a longer period: nearest upsampling by 4 repeats each region 4 times)
        if len(steps) == 1 and len({s for pair in steps for s in pair}) == 1 and steps != {(0, 0)}:
            jump = Fraction(steps.pop()[0], period)
            anchor = next(u for u in units if u % period == 0)  # every phase was seen
            low, high = inner[anchor]
            start = Fraction(low + high, 2) - anchor * jump
            return EmpiricalAxis(dict(regions), input_size, min(sizes), max(sizes), jump, start)
    if reason is None:
        reason = f"no period found in the regions of the {len(units)} interior units measured"
    return EmpiricalAxis(dict(regions), input_size, None, None, None, None, reason)


def empirical_receptive_field(
    model,
    layer: str,
    units: Sequence[tuple[int, ...]] | None = None,
    input_name=None,
    data_format: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> EmpiricalReceptiveField:
    """Measure `layer`'s receptive field on `model`'s input (see the module docstring).

    `units`: output unit indices over the spatial axes; by default a diagonal run of up to 16
    consecutive units around the middle of the output (enough to confirm the period of
    upsampling by up to 4, see `summarize_axis`). `data_format` of the input and of `layer`'s
    output: by default the input's, as cnncost reads it (`input_data_format`). `max_bytes`
    bounds the memory of one backward pass (`empirical_regions`). What the units cannot
    determine (too few away from the border) is refused: `size`, `jump` and `start` raise a
    one-line `CnnCostError`, and the measured `regions` remain.
    """
    if data_format is None:
        data_format = input_data_format(model, input_name)
    channels_first = _channels_first(data_format)
    spatial = slice(2, None) if channels_first else slice(1, -1)
    probe = probe_model(model, "float32" if channels_first else "float64")
    out_shape = tuple(probe.get_layer(layer).output.shape[spatial])
    in_shape = tuple(probe.inputs[0 if input_name is None else _index(probe, input_name)].shape)
    spatial_in = in_shape[spatial]
    if units is None:
        run = min(DEFAULT_RUN, *out_shape) if out_shape else 1
        units = [tuple(n // 2 - run // 2 + t for n in out_shape) for t in range(run)]
    units = [tuple(u) for u in units]
    regions = empirical_regions(
        model,
        [(layer, u) for u in units],
        input_name,
        probe=probe,
        data_format=data_format,
        max_bytes=max_bytes,
    )
    axes = []
    for axis, n in enumerate(spatial_in):
        per_unit = {}
        for unit, region in zip(units, regions):
            key = unit[axis] if axis < len(unit) else 0
            per_unit.setdefault(key, region[axis])
        axes.append(summarize_axis(per_unit, n))
    return EmpiricalReceptiveField(layer, tuple(units), tuple(axes))


def _index(model, input_name: str) -> int:
    return [layer.name for layer in _input_layers(model)].index(input_name)
