"""The `tf-profiler` FLOP convention: what TensorFlow's profiler reports for each Keras 3 layer.

The reference is `tf.compat.v1.profiler.profile(graph, options=ProfileOptionBuilder.
float_operation())` on the graph of `tf.function(lambda x: model(x, training=False))` at batch 1
with variables frozen to constants. The profiler sums, per TF op, the statistic registered for the
op type (`tensorflow/python/profiler/internal/flops_registry.py` and `ops/nn_ops.py`):

    Conv2D, Conv3D            2 * out_elements * kernel_taps * in_channels   (= 2 * MACs)
    DepthwiseConv2dNative     2 * out_elements * kernel_taps                 (= 2 * MACs)
    Conv2DBackpropInput       2 * out_elements * kernel_elements / (out_channels * s_h * s_w)
    MatMul                    2 * k * m * n                                  (= 2 * MACs)
    BiasAdd, Add(V2), Sub, Mul, RealDiv, Maximum, Minimum, Neg    1 per output element
    SquaredDifference         2 per output element;  Rsqrt 2 per input element
    Mean                      1 per input element;   Softmax 5 per input element
    MaxPool, AvgPool          kernel_area * out_elements
    anything else (Relu, Relu6, Sigmoid, Tanh, Erfc, Exp, Pad, Max, ConcatV2, ...)   0

and an op whose shapes are not fully known contributes 0. Keras 3 builds these ops per layer
(`keras/src/backend/tensorflow/`); the counts below follow them, and are checked against the real
profiler on the seed CNN and eight keras.applications models (tests/test_tf_profiler.py).

Two kinds of work the profiler does not see are reported as `missed`, so that the report can say
so instead of copying the miss: Keras 3 runs grouped convolutions (`groups > 1`) through an
XLA-compiled function (one StatefulPartitionedCall, no statistics, no static output shape), and
ops that follow such a call in the same layer chain lose their shapes (ConvNeXt's LayerNorm after
its depthwise conv).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.ir import Dim, Shape
from cnncost.layers import Call, LayerRule
from cnncost.layers.activation import activation_name
from cnncost.layers.base import channel_axis, data_format, product


@dataclass(frozen=True)
class ProfilerCount:
    """`flops`: what the profiler reports (None: not modelled); `missed`: work it does not see."""

    flops: Dim
    missed: Dim = 0


def _elements(shape: Shape) -> Dim:
    return product(shape[1:])


# Activation functions: profiler FLOPs per element of the (Keras 3, TF backend) op sequence.
# relu/relu6/sigmoid/tanh/elu/selu/softplus/softsign/exp are single ops with no statistics.
ACTIVATION_FLOPS_PER_ELEMENT = {
    "linear": 0,
    "relu": 0,
    "relu6": 0,
    "sigmoid": 0,
    "tanh": 0,
    "elu": 0,
    "selu": 0,
    "softplus": 0,
    "softsign": 0,
    "exponential": 0,
    "softmax": 5,  # Softmax op
    "gelu": 4,  # exact form: 3 Mul + 1 Neg around Erfc (no statistics)
    "silu": 2,  # tf.nn.silu: x * sigmoid(beta * x): Sigmoid (none) + 2 Mul
    "swish": 2,
}


def _activation(name: str, elements: Dim) -> Dim:
    per = ACTIVATION_FLOPS_PER_ELEMENT.get(name.lower())
    return None if per is None or elements is None else per * elements


def _bias_and_activation(call: Call, out: Shape) -> Dim:
    elements = _elements(out)
    bias = elements if call.config.get("use_bias", True) else 0
    act = _activation(activation_name(call.config.get("activation")), elements)
    return None if act is None or elements is None else bias + act


def _weighted(call: Call, rule: LayerRule, outputs, macs: Dim) -> ProfilerCount:
    rest = _bias_and_activation(call, outputs[0])
    if rest is None or macs is None:
        return ProfilerCount(None)
    name = call.node.class_name
    groups = call.config.get("groups", 1) or 1
    if groups > 1:
        # Keras 3 (TF backend) runs a grouped conv as an XLA-compiled function: no statistics,
        # and its output has no static shape, so the BiasAdd after it counts 0 too.
        return ProfilerCount(0, 2 * macs + rest)
    if "Transpose" in name:
        if "2D" not in name:
            return ProfilerCount(None)
        # Conv2DBackpropInput: 2 * out * (kh*kw*filters*cin) / (filters * s_h * s_w).
        kernel, strides = call.config.get("kernel_size"), call.config.get("strides", 1)
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        sh, sw = (strides, strides) if isinstance(strides, int) else strides
        cin = call.shape[channel_axis(len(call.shape), data_format(call))]
        return ProfilerCount(2 * _elements(outputs[0]) * kh * kw * cin // (sh * sw) + rest)
    return ProfilerCount(2 * macs + rest)


def _batch_norm(call: Call, outputs) -> ProfilerCount:
    # tf.nn.batch_normalization: inv = rsqrt(var + eps) [C add, 2C]; inv *= gamma [C];
    # x * inv [N]; offset - mean * inv [C mul, C sub]; + [N].
    n = _elements(outputs[0])
    channels = product(call.shape[a] for a in _axes(call))
    if call.config.get("center", True) is False or n is None or channels is None:
        return ProfilerCount(None)
    per_channel = 6 if call.config.get("scale", True) else 5
    return ProfilerCount(2 * n + per_channel * channels)


def _axes(call: Call) -> list[int]:
    axis = call.config.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis)
    rank = len(call.shape)
    return [a % rank for a in axes]


def _layer_norm(call: Call, outputs) -> ProfilerCount:
    # moments: Mean [N], SquaredDifference [2N], Mean [N]; batch_normalization with gamma/beta:
    # AddV2 [2N + G], Rsqrt [2G], Mul [3N], Neg [G]  ->  9N + 4G, G = number of normalized groups.
    cfg = call.config
    if not cfg.get("center", True) or not cfg.get("scale", True) or cfg.get("rms_scaling"):
        return ProfilerCount(None)
    n = _elements(outputs[0])
    normalized = product([call.shape[a] for a in _axes(call)])
    if n is None or normalized is None:
        return ProfilerCount(None)
    return ProfilerCount(9 * n + 4 * (n // normalized))


def _normalization(call: Call, outputs) -> ProfilerCount:
    # (x - mean) / maximum(sqrt(var), eps): Sub [N], RealDiv [N], Maximum [C] (Sqrt: none).
    n = _elements(outputs[0])
    channels = product([call.shape[a] for a in _axes(call)])
    if cfg_invert(call) or n is None or channels is None:
        return ProfilerCount(None)
    return ProfilerCount(2 * n + channels)


def cfg_invert(call: Call) -> bool:
    return bool(call.config.get("invert", False))


def _per_output(per: int):
    def count(call: Call, outputs) -> ProfilerCount:
        n = _elements(outputs[0])
        return ProfilerCount(None if n is None else per * n)

    return count


def _merge(per_extra_input: int, per_output: int = 0):
    def count(call: Call, outputs) -> ProfilerCount:
        n = _elements(outputs[0])
        extra = len(call.input_shapes) - 1
        return ProfilerCount(None if n is None else (per_extra_input * extra + per_output) * n)

    return count


def _pool(call: Call, outputs) -> ProfilerCount:
    name = call.node.class_name
    pool = call.config.get("pool_size", 2)
    rank = 3 if "3D" in name else 1 if "1D" in name else 2
    taps = pool**rank if isinstance(pool, int) else product(pool)
    n = _elements(outputs[0])
    if rank == 3:
        return ProfilerCount(0, None if n is None else taps * n)  # MaxPool3D/AvgPool3D: none
    return ProfilerCount(None if n is None else taps * n)


def _global_pool(call: Call, outputs) -> ProfilerCount:
    if "Max" in call.node.class_name:
        return ProfilerCount(0)  # Max reduction: no statistics (comparisons, not counted)
    return ProfilerCount(_elements(call.shape))  # Mean: 1 per input element


def _activation_layer(call: Call, outputs) -> ProfilerCount:
    return ProfilerCount(
        _activation(activation_name(call.config.get("activation")), _elements(outputs[0]))
    )


def _relu_layer(call: Call, outputs) -> ProfilerCount:
    cfg = call.config
    plain = not cfg.get("negative_slope") and not cfg.get("threshold")
    if plain and cfg.get("max_value") in (None, 6, 6.0):
        return ProfilerCount(0)  # Relu / Relu6 ops
    return ProfilerCount(None)


def _zero(call: Call, outputs) -> ProfilerCount:
    return ProfilerCount(0)


_BY_CLASS = {
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "Normalization": _normalization,
    "Activation": _activation_layer,
    "ReLU": _relu_layer,
    "Softmax": _per_output(5),
    "LayerScale": _per_output(1),
    "Rescaling": _per_output(2),  # x * scale + offset: Mul + AddV2
    "Add": _merge(1),
    "Subtract": _merge(1),
    "Multiply": _merge(1),
    "Maximum": _merge(1),
    "Minimum": _merge(1),
    "Average": _merge(1, 1),  # (n-1) AddV2 + RealDiv
    "ops.Add": _merge(1),
    "ops.Subtract": _merge(1),
    "ops.Multiply": _merge(1),
    "ops.Divide": _merge(1),
    "ops.TrueDivide": _merge(1),
    "ops.Maximum": _merge(1),
    "ops.Minimum": _merge(1),
}

# Data movement only (Reshape, Pad, StridedSlice, ConcatV2, Identity, ...): no statistics.
_ZERO = {
    "InputLayer",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "Concatenate",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "Identity",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Embedding",
}


def profiler_flops(call: Call, rule: LayerRule, outputs) -> ProfilerCount:
    """FLOPs the TF profiler reports for this call at batch 1 (None where not modelled)."""
    from cnncost.layers import registry_key
    from cnncost.layers.base import guarded

    key = registry_key(call.node)
    if rule.cost in ("conv", "dense") and key != "EinsumDense":
        return _weighted(call, rule, outputs, guarded(call, rule.macs, outputs))
    if key in _ZERO:
        return ProfilerCount(0)
    if rule.cost in ("max_pool", "avg_pool"):
        return _pool(call, outputs)
    if rule.cost in ("global_avg_pool", "global_max_pool"):
        return _global_pool(call, outputs)
    count = _BY_CLASS.get(key)
    return ProfilerCount(None) if count is None else guarded(call, count, outputs)
