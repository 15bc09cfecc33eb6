"""The `tf-profiler` FLOP convention: what TensorFlow's profiler reports for each Keras 3 layer.

The reference is `tf.compat.v1.profiler.profile(graph, options=ProfileOptionBuilder.
float_operation())` on the graph of `tf.function(lambda x: model(x, training=False))` at batch 1
with variables frozen to constants. The profiler sums, per TF op, the statistic registered for the
op type (`tensorflow/python/profiler/internal/flops_registry.py` and `ops/nn_ops.py`), truncated
to an integer:

    Conv2D, Conv3D            2 * out_elements * kernel_taps * in_channels   (= 2 * MACs)
    DepthwiseConv2dNative     2 * out_elements * kernel_taps
    Conv2DBackpropInput       2 * out_elements * kernel_elements / (out_channels * s_h * s_w)
    MatMul, BatchMatMulV2     2 * k * m * n                                  (= 2 * MACs)
    BiasAdd, Add(V2), Sub, Mul, RealDiv, Maximum, Minimum, Pow, Neg, Square, Log,
    Greater(Equal), Less(Equal), Equal, NotEqual                1 per output element
    SquaredDifference 2 per output element;  Rsqrt 2 per input element;  Softmax 5 per element
    Mean                      1 per input element;   Sum  input - output elements
    MaxPool, AvgPool          kernel_area * out_elements
    anything else             0: Relu, Relu6, LeakyRelu, Elu, Selu, Sigmoid, Tanh, Softplus,
                              Softsign, Exp, Expm1, Erfc, Sqrt, Abs, SelectV2, Max, Einsum,
                              Conv3DBackpropInputV2, MaxPool3D, AvgPool3D, Resize*, ...

and an op whose shapes are not fully known contributes 0. Keras 3 builds these ops per layer
(`keras/src/backend/tensorflow/`); the counts below follow them. Every rule here is checked
against the real profiler on one or more tiny models per layer configuration
(`tests/test_tf_profiler.py::test_layer_rule_equals_tensorflow_profiler`) and on the seed CNN and
eight keras.applications models.

What a rule returns besides the count:
- `missed`: work the profiler does not see, as the FLOPs it would report for it if it could
  (`2 * MACs` of a matmul/conv, `taps * out` of a pool): Keras 3 runs grouped convolutions
  (`groups > 1`) through an XLA-compiled function (one StatefulPartitionedCall, no statistics, no
  static output shape, so the ops after it count 0 too); `tf.einsum` equations that Keras does
  not rewrite into a matmul run as an `Einsum` op; Conv3DTranspose and 3-D pooling ops have no
  statistics.
- `unseen`: TF op types in the layer that compute something but have no registered statistics
  (the profiler counts them 0), so that the report can name them.
- `reason`: why the count is not modelled (`flops` None) or why work is missed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from cnncost.ir import Dim, Shape
from cnncost.layers import Call, LayerRule
from cnncost.layers.activation import activation_name
from cnncost.layers.augmentation import IDENTITY_AT_INFERENCE
from cnncost.layers.base import channel_axis, data_format, is_int, product
from cnncost.layers.core import INFERENCE_IDENTITY

# What TF knows of a tensor's shape in the profiled graph: all of it; nothing (the output of an
# XLA-compiled call and what is computed from it); or part of it (a concatenation of the two).
STATIC, SHAPELESS, PARTIAL = "static", "shapeless", "partial"


@dataclass(frozen=True)
class ProfilerCount:
    """What the profiler reports for one layer call.

    `flops`: the profiler's count (None: not modelled, `reason` says why); `missed`: work it does
    not see (what it would count if it could); `unseen`: op types it counts 0 although they
    compute; `reason`: why `flops` is None, or what makes `missed` invisible.
    """

    flops: Dim
    missed: Dim = 0
    unseen: tuple[str, ...] = ()
    reason: str = ""
    output: str = STATIC  # what TF knows of the output's shape (see `after_xla`)

    @property
    def shapeless_output(self) -> bool:
        """TF knows no static shape for what comes out (an XLA-compiled call, and what follows)."""
        return self.output != STATIC


def _unknown(reason: str) -> ProfilerCount:
    return ProfilerCount(None, reason=reason)


def _elements(shape: Shape) -> Dim:
    return product(shape[1:])


def _plus(*counts: ProfilerCount) -> ProfilerCount:
    """The ops of several parts of one layer call, counted together."""
    for count in counts:
        if count.flops is None:
            return count
    flops: Dim = sum(c.flops for c in counts)
    missed: Dim = sum(c.missed for c in counts)
    unseen = tuple(dict.fromkeys(op for c in counts for op in c.unseen))
    reason = "; ".join(dict.fromkeys(c.reason for c in counts if c.reason))
    return ProfilerCount(flops, missed, unseen, reason)


# -- activation functions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationOps:
    """Profiler FLOPs per element of an activation's op sequence and the ops it counts 0."""

    per_element: int
    unseen: tuple[str, ...] = ()
    note: str = ""


# Measured op sequences of keras.activations on the TF backend (TF 2.21, Keras 3.15).
ACTIVATIONS: dict[str, ActivationOps] = {
    "linear": ActivationOps(0),
    "relu": ActivationOps(0, ("Relu",)),
    "relu6": ActivationOps(0, ("Relu6",)),
    "leaky_relu": ActivationOps(0, ("LeakyRelu",)),
    "elu": ActivationOps(0, ("Elu",)),
    "selu": ActivationOps(0, ("Selu",)),
    "sigmoid": ActivationOps(0, ("Sigmoid",)),
    "tanh": ActivationOps(0, ("Tanh",)),
    "softplus": ActivationOps(0, ("Softplus",)),
    "softsign": ActivationOps(0, ("Softsign",)),
    "exponential": ActivationOps(0, ("Exp",)),
    "log_softmax": ActivationOps(0, ("LogSoftmax",)),
    "softmax": ActivationOps(5, (), "Softmax op"),
    "gelu": ActivationOps(4, ("Erfc",), "exact form: 3 Mul + Neg around Erfc"),
    "silu": ActivationOps(2, ("Sigmoid",), "x * sigmoid(1 * x): 2 Mul"),
    "swish": ActivationOps(2, ("Sigmoid",), "as silu"),
    "hard_sigmoid": ActivationOps(2, ("Relu6",), "relu6(x + 3) / 6: AddV2, RealDiv"),
    "hard_silu": ActivationOps(3, ("Relu6",), "x * hard_sigmoid(x): AddV2, RealDiv, Mul"),
    "hard_swish": ActivationOps(3, ("Relu6",), "as hard_silu"),
    "hard_tanh": ActivationOps(2, (), "clip to [-1, 1]: Minimum, Maximum"),
    "celu": ActivationOps(5, ("Expm1",), "Maximum, Minimum, RealDiv, Mul, AddV2"),
    "hard_shrink": ActivationOps(1, ("Abs", "SelectV2"), "Greater"),
    "soft_shrink": ActivationOps(4, ("SelectV2",), "Greater, Less, Sub, AddV2"),
    "tanh_shrink": ActivationOps(1, ("Tanh",), "x - tanh(x): Sub"),
    "log_sigmoid": ActivationOps(2, ("Softplus",), "-softplus(-x): 2 Neg"),
    "mish": ActivationOps(1, ("Softplus", "Tanh"), "x * tanh(softplus(x)): Mul"),
    "sparse_plus": ActivationOps(5, ("SelectV2",), "LessEqual, Less, AddV2, Pow, Mul"),
    "sparse_sigmoid": ActivationOps(4, ("SelectV2",), "LessEqual, GreaterEqual, AddV2, Mul"),
    "squareplus": ActivationOps(4, ("Sqrt",), "Square, AddV2, AddV2, RealDiv"),
    # Special forms (see _activation): glu halves the last axis; sparsemax has per-row ops.
    "glu": ActivationOps(0, ("Sigmoid",), "a * sigmoid(b) on the two halves: 1 Mul per half"),
    "sparsemax": ActivationOps(8, ("TopKV2", "Cumsum", "SelectV2"), "8 per element + 1"),
}


def _activation(name: str, elements: Dim) -> ProfilerCount:
    """Profiler count of activation `name` applied to `elements` values (before any split)."""
    key = name.lower()
    ops = ACTIVATIONS.get(key)
    if ops is None:
        return _unknown(f"activation {name!r} is not modelled")
    if elements is None:
        return _unknown("element count unknown")
    if key == "glu":
        return ProfilerCount(elements // 2, unseen=ops.unseen)  # Mul on one half
    if key == "sparsemax":
        # Sub, RealDiv, Sub, Greater, Sub, Maximum per element (6N), two Sum reductions
        # (N - R each), Sub and RealDiv per row (2R), and one scalar AddV2: 8N + 1.
        return ProfilerCount(8 * elements + 1, unseen=ops.unseen)
    return ProfilerCount(ops.per_element * elements, unseen=ops.unseen)


def _bias_and_activation(call: Call, elements: Dim) -> ProfilerCount:
    if elements is None:
        return _unknown("output size unknown")
    bias = elements if call.config.get("use_bias", True) else 0
    return _plus(
        ProfilerCount(bias), _activation(activation_name(call.config.get("activation")), elements)
    )


# -- convolutions, dense, einsum ---------------------------------------------------------------------


def _space_to_batch_positions(call: Call, rule: LayerRule, outputs) -> Dim:
    """Output positions TF computes for a dilated conv (tf.nn.convolution's space-to-batch path).

    With `dilation_rate > 1`, TF pads each spatial axis to a multiple of the rate and convolves
    each of the rate^rank phases with the undilated kernel (VALID): along an axis of input n,
    base padding `b` (`d*(k-1)` for "same", 0 for "valid"; Keras pads "causal" itself) and
    `extra = (-(n + b)) % d`, the conv computes `n + b + extra - d*(k-1)` positions.
    """
    window = rule.window(call)
    positions: Dim = 1
    for axis, k, d in zip(window.axes, window.kernel, window.dilation):
        n = call.shape[axis]
        if not is_int(n):
            return None
        if window.padding == "causal":
            n, base = n + d * (k - 1), 0
        else:
            base = d * (k - 1) if window.padding == "same" else 0
        positions *= n + base + (-(n + base)) % d - d * (k - 1)
    return positions


def _weighted(call: Call, rule: LayerRule, outputs, macs: Dim) -> ProfilerCount:
    rest = _bias_and_activation(call, _elements(outputs[0]))
    if macs is None:
        return _unknown("MACs unknown")
    if rest.flops is None:
        return rest
    name = call.node.class_name
    cfg = call.config
    groups = cfg.get("groups", 1) or 1
    if groups > 1:
        # Keras 3 (TF backend) runs a grouped conv as an XLA-compiled function: no statistics,
        # and its output has no static shape, so the BiasAdd after it counts 0 too.
        return ProfilerCount(
            0,
            2 * macs + rest.flops,
            ("StatefulPartitionedCall",),
            "Keras 3 runs grouped convolutions in an XLA-compiled function",
            output=SHAPELESS,
        )
    if "Transpose" in name:
        return _plus(_transposed(call, rule, outputs, macs), rest)
    window = rule.window(call) if rule.window is not None else None
    if window is not None and any(d > 1 for d in window.dilation):
        if any(s > 1 for s in window.strides):
            return _unknown("TF does not run a conv with both strides and dilation > 1")
        spatial = product([outputs[0][a] for a in window.axes])
        padded = _space_to_batch_positions(call, rule, outputs)
        if spatial is None or padded is None:
            return _unknown("spatial size unknown")
        windowed = macs if rule.windowed_macs is None else rule.windowed_macs(call, outputs)
        # The sliding part runs on the padded phases; a separable conv's pointwise part does not.
        conv = 2 * (macs - windowed + windowed // spatial * padded)
        return _plus(ProfilerCount(conv, unseen=("SpaceToBatchND",)), rest)
    return _plus(ProfilerCount(2 * macs), rest)


def _transposed(call: Call, rule: LayerRule, outputs, macs: Dim) -> ProfilerCount:
    name = call.node.class_name
    if "3D" in name:
        return ProfilerCount(
            0,
            2 * macs,
            ("Conv3DBackpropInputV2",),
            "Conv3DBackpropInputV2 (Conv3DTranspose) has no registered statistics",
        )
    # Conv2DBackpropInput (Conv1DTranspose runs it on an expanded axis):
    # int(2 * out * (taps * filters * cin) / (filters * stride product)).
    window = rule.window(call)
    cin = call.shape[channel_axis(len(call.shape), data_format(call))]
    out = _elements(outputs[0])
    if out is None or not is_int(cin):
        return _unknown("shape unknown")
    return ProfilerCount(2 * out * product(window.kernel) * cin // product(window.strides))


# Equations Keras's TF backend rewrites into tf.matmul (keras/src/backend/tensorflow/numpy.py,
# `einsum`, after renaming the letters in order of appearance); any other runs as tf.einsum, an
# `Einsum` op the profiler has no statistics for.
MATMUL_EQUATIONS = frozenset(
    {
        "a,b->ab",
        "ab,b->a",
        "ab,bc->ac",
        "ab,cb->ac",
        "abc,cd->abd",
        "abc,dc->abd",
        "abcd,abde->abce",
        "abcd,abed->abce",
        "abcd,acbe->adbe",
        "abcd,adbe->acbe",
        "abcd,aecd->acbe",
        "abcd,aecd->aceb",
        "abc,cde->abde",
        "abc,dce->abde",
        "abc,dec->abde",
        "abcd,cde->abe",
        "abcd,ced->abe",
        "abcd,ecd->abe",
        "abcde,aebf->adbcf",
        "abcde,afce->acdbf",
    }
)


def normalize_equation(equation: str) -> str:
    """Rename the letters of an einsum equation in order of first appearance (as Keras does)."""
    mapping: dict[str, str] = {}
    result = ""
    for char in equation.replace(" ", ""):
        if char in string.ascii_letters:
            mapping.setdefault(char, string.ascii_letters[len(mapping)])
            result += mapping[char]
        else:
            result += char
    return result


_EINSUM_REASON = "tf.einsum runs as an Einsum op with no registered statistics"


def _einsum(equation: str, macs: Dim) -> ProfilerCount:
    """keras.ops.einsum: a matmul for the equations Keras rewrites, else an Einsum op."""
    if normalize_equation(equation) in MATMUL_EQUATIONS:
        return ProfilerCount(2 * macs)
    return ProfilerCount(0, 2 * macs, ("Einsum",), _EINSUM_REASON)


def _einsum_dense(call: Call, rule: LayerRule, outputs, macs: Dim) -> ProfilerCount:
    if macs is None:
        return _unknown("MACs unknown")
    elements = _elements(outputs[0])
    bias = elements if call.config.get("bias_axes") else 0
    activation = _activation(activation_name(call.config.get("activation")), elements)
    return _plus(
        _einsum(str(call.config.get("equation", "")), macs), ProfilerCount(bias), activation
    )


# -- MultiHeadAttention -------------------------------------------------------------------------


def _letter(i: int) -> str:
    return string.ascii_lowercase[i]


def _projection_equation(free: int, bound: int, out: int) -> str:
    """keras `_build_proj_equation`: free input axes, bound (contracted) axes, new output axes."""
    letters = [_letter(i) for i in range(free + bound + out)]
    inp = "".join(letters[: free + bound])
    kernel = "".join(letters[free:])
    output = "".join(letters[:free] + letters[free + bound :])
    return f"{inp},{kernel}->{output}"


def _attention_equations(rank: int, attention_axes: tuple[int, ...]) -> tuple[str, str]:
    """keras `_build_attention_equation` for projected tensors of `rank` (heads axis included)."""
    target = "".join(_letter(i) for i in range(rank))
    batch_dims = tuple(i for i in range(rank) if i not in (*attention_axes, rank - 1))
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += _letter(offset)
            offset += 1
    product_notation = "".join(
        [target[i] for i in batch_dims]
        + [target[i] for i in attention_axes]
        + [source[i] for i in attention_axes]
    )
    return (
        f"{source},{target}->{product_notation}",
        f"{product_notation},{source}->{target}",
    )


def _attention(call: Call, outputs) -> ProfilerCount:
    from cnncost.layers.attention import _spec

    cfg = call.config
    if cfg.get("use_gate") or cfg.get("sliding_window"):
        return _unknown("use_gate / sliding_window attention is not modelled")
    kwargs = call.node.keyword_arguments
    if kwargs.get("use_causal_mask") or kwargs.get("attention_mask") is not None:
        return _unknown("attention with a mask or use_causal_mask is not modelled")
    if kwargs.get("return_attention_scores"):
        return _unknown("attention returning its scores is not modelled")
    spec = _spec(call)
    h, kd, vd = spec.heads, spec.key_dim, spec.value_dim
    rank = len(spec.query)
    pq, pk, pv = (product(s[1:-1]) for s in (spec.query, spec.key, spec.value))
    lq, lk, rest = spec.length(spec.query), spec.length(spec.key), spec.batch_like
    if None in (pq, pk, pv, lq, lk, rest):
        return _unknown("sequence lengths unknown")
    bias = cfg.get("use_bias", True)
    out_dims = product(spec.output_dims)
    project = _projection_equation(rank - 1, 1, 2)
    parts = [
        _einsum(project, pq * spec.query[-1] * h * kd),
        _einsum(project, pk * spec.key[-1] * h * kd),
        _einsum(project, pv * spec.value[-1] * h * vd),
        _einsum(_projection_equation(rank - 1, 2, len(spec.output_dims)), pq * h * vd * out_dims),
    ]
    if bias:
        parts.append(ProfilerCount(pq * h * kd + pk * h * kd + pv * h * vd + pq * out_dims))
    scores = rest * h * lq * lk
    score_macs, context_macs = scores * kd, scores * vd
    # Query attention axes in the projected tensor (batch, <axes>, heads, dim): Keras keeps them.
    axes = spec.attention_axes
    if cfg.get("dropout", 0.0) == 0.0 and rank == 3:
        # ops.dot_product_attention (TF): tf.einsum "BTNH,BSNH->BNTS" (called directly, so an
        # Einsum op), Mul by the scale on the scores, Softmax, tf.einsum "BNTS,BSNH->BTNH".
        parts += [
            ProfilerCount(0, 2 * score_macs, ("Einsum",), _EINSUM_REASON),
            ProfilerCount(scores + 5 * scores),
            ProfilerCount(0, 2 * context_macs, ("Einsum",), _EINSUM_REASON),
        ]
    else:
        dot, combine = _attention_equations(rank + 1, axes)
        # query * 1/sqrt(key_dim) (Mul), scores einsum, Softmax layer over the key axes,
        # (Dropout: identity at inference), context einsum.
        if len(axes) == 1:
            softmax = 5 * scores  # tf.nn.softmax over the last axis
        else:
            softmax = 3 * scores + scores // lk  # exp(x - logsumexp(x)): see _softmax_layer
        parts += [
            ProfilerCount(pq * h * kd),
            _einsum(dot, score_macs),
            ProfilerCount(softmax),
            _einsum(combine, context_macs),
        ]
    return _plus(*parts)


# -- normalization ---------------------------------------------------------------------------------


def _axes(call: Call) -> list[int]:
    axis = call.config.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis)
    rank = len(call.shape)
    return [a % rank for a in axes]


def _batch_norm(call: Call, outputs) -> ProfilerCount:
    # tf.nn.batch_normalization: inv = rsqrt(var + eps) [C add, 2C]; inv *= gamma [C, with
    # scale]; x * inv [N]; offset - mean * inv (or -mean * inv) [2C]; + [N]. Measured: center
    # does not change the count (Sub becomes Neg).
    n = _elements(outputs[0])
    channels = product(call.shape[a] for a in _axes(call))
    if n is None or channels is None:
        return _unknown("shape unknown")
    per_channel = 6 if call.config.get("scale", True) else 5
    return ProfilerCount(2 * n + per_channel * channels)


def _layer_norm(call: Call, outputs) -> ProfilerCount:
    # moments: Mean [N], SquaredDifference [2N], Mean [N] = 4N; var + eps [G], Rsqrt [2G]; then
    #   center+scale: inv*gamma [N], x*inv [N], -mean [G], -mean*inv [N], +beta [N], + [N]
    #   scale only:   inv*gamma [N], x*inv [N], -mean [G], -mean*inv [N], + [N]
    #   center only:  x*inv [N], -mean [G], -mean*inv [G], +beta [N], + [N]
    #   neither:      x*inv [N], -mean [G], -mean*inv [G], + [N]
    # rms_scaling: reduce_variance (Mean, Sub, Square, Mean = 4N), + eps [G], Rsqrt [2G],
    #   x*inv [N], *gamma [N].   G = number of groups normalized separately.
    cfg = call.config
    n = _elements(outputs[0])
    normalized = product([call.shape[a] for a in _axes(call)])
    if n is None or normalized is None:
        return _unknown("shape unknown")
    groups = n // normalized
    if cfg.get("rms_scaling"):
        return ProfilerCount(6 * n + 3 * groups)
    center, scale = cfg.get("center", True), cfg.get("scale", True)
    per = {(True, True): (9, 4), (False, True): (8, 4), (True, False): (7, 5)}
    a, b = per.get((bool(center), bool(scale)), (6, 5))
    return ProfilerCount(a * n + b * groups)


def _group_norm(call: Call, outputs) -> ProfilerCount:
    # Reshape to (..., G, C/G); moments 4N; + eps [G]; Rsqrt [2G]; then
    #   center+scale: inv*gamma [C], x*inv [N], -mean [G], -mean*inv [C], beta - .. [C], + [N]
    #   scale only:   inv*gamma [C], x*inv [N], -mean [G], -mean*inv [C], + [N]
    #   center only:  x*inv [N], -mean [G], -mean*inv [G], beta + .. [C], + [N]
    #   neither:      x*inv [N], -mean [G], -mean*inv [G], + [N]
    cfg = call.config
    n = _elements(outputs[0])
    channels = call.shape[_axes(call)[0]]
    groups = cfg.get("groups", 32)
    if groups == -1:
        groups = channels
    if n is None or not is_int(channels) or not is_int(groups):
        return _unknown("shape unknown")
    center, scale = bool(cfg.get("center", True)), bool(cfg.get("scale", True))
    if scale:
        flops = 6 * n + 4 * groups + (3 if center else 2) * channels
    else:
        flops = 6 * n + 5 * groups + (channels if center else 0)
    return ProfilerCount(flops)


def _unit_norm(call: Call, outputs) -> ProfilerCount:
    # Square [N], Sum [N - G], Minimum/Maximum with eps [G], Rsqrt [2G], Mul [N]: 3N + 2G.
    n = _elements(outputs[0])
    normalized = product([call.shape[a] for a in _axes(call)])
    if n is None or normalized is None:
        return _unknown("shape unknown")
    return ProfilerCount(3 * n + 2 * (n // normalized), unseen=())


def _normalization(call: Call, outputs) -> ProfilerCount:
    # (x - mean) / maximum(sqrt(var), eps): Sub [N], RealDiv [N], Maximum [C] (Sqrt: none);
    # invert: x * maximum(sqrt(var), eps) + mean: Mul [N], AddV2 [N], Maximum [C].
    n = _elements(outputs[0])
    channels = product([call.shape[a] for a in _axes(call)])
    if n is None or channels is None:
        return _unknown("shape unknown")
    return ProfilerCount(2 * n + channels, unseen=("Sqrt",))


# -- activation layers ---------------------------------------------------------------------------


def _activation_layer(call: Call, outputs) -> ProfilerCount:
    return _activation(activation_name(call.config.get("activation")), _elements(call.shape))


def _relu_layer(call: Call, outputs) -> ProfilerCount:
    # keras.activations.relu (ReLU.static_call) on the TF backend, per element N:
    #   negative_slope only -> LeakyRelu (0); otherwise
    #   negative part: relu(-x + threshold) [Neg, AddV2] or relu(-x) [Neg], with a slope;
    #   threshold: where(x > threshold, x, 0) [Greater]; max_value == 6 -> Relu6; else Relu;
    #   a max_value other than 6 (or with a threshold): clip [Minimum, Maximum];
    #   slope: x -= slope * negative_part [Mul, Sub].
    cfg = call.config
    n = _elements(outputs[0])
    if n is None:
        return _unknown("shape unknown")
    slope = cfg.get("negative_slope") or 0.0
    threshold = cfg.get("threshold") or 0.0
    max_value = cfg.get("max_value")
    if slope != 0.0 and max_value is None and threshold == 0:
        return ProfilerCount(0, unseen=("LeakyRelu",))
    per, unseen = 0, []
    if slope != 0.0:
        per += 2 if threshold != 0 else 1
        unseen.append("Relu")
    clip = max_value is not None
    if threshold != 0:
        per += 1
        unseen.append("SelectV2")
    elif max_value == 6:
        unseen.append("Relu6")
        clip = False
    else:
        unseen.append("Relu")
    if clip:
        per += 2
    if slope != 0.0:
        per += 2
    return ProfilerCount(per * n, unseen=tuple(dict.fromkeys(unseen)))


def _elu_layer(call: Call, outputs) -> ProfilerCount:
    # alpha == 1: the Elu op; otherwise where(x > 0, x, alpha * elu(x)): Greater, Mul.
    n = _elements(outputs[0])
    if n is None:
        return _unknown("shape unknown")
    if call.config.get("alpha", 1.0) == 1.0:
        return ProfilerCount(0, unseen=("Elu",))
    return ProfilerCount(2 * n, unseen=("Elu", "SelectV2"))


def _prelu(call: Call, outputs) -> ProfilerCount:
    # relu(x) - alpha * relu(-x): Neg of alpha [alpha elements], Neg [N], Mul [N], AddV2 [N].
    from cnncost.layers.activation import _prelu_weights

    n = _elements(outputs[0])
    alpha = product(_prelu_weights(call)[0].shape)
    if n is None or alpha is None:
        return _unknown("shape unknown")
    return ProfilerCount(3 * n + alpha, unseen=("Relu",))


def _softmax_layer(call: Call, outputs) -> ProfilerCount:
    # One axis: tf.nn.softmax (5 per element); off the last axis TF transposes around it and
    # computes the rank - 1 twice (2 scalar Sub). Several axes: exp(x - logsumexp(x)):
    # Sub [N], Sum [N - R], Log [R], AddV2 [R], Sub [N] (Max, Exp: none) = 3N + R, R = number
    # of groups normalized separately.
    n = _elements(outputs[0])
    if n is None:
        return _unknown("shape unknown")
    axis = call.config.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis)
    rank = len(call.shape)
    axes = [a % rank for a in axes]
    if len(axes) == 1:
        return ProfilerCount(5 * n + (0 if axes[0] == rank - 1 else 2))
    normalized = product([call.shape[a] for a in axes])
    if normalized is None:
        return _unknown("shape unknown")
    return ProfilerCount(3 * n + n // normalized, unseen=("Max", "Exp"))


# -- resampling -------------------------------------------------------------------------------------

_RESIZE_OPS = {
    "nearest": "ResizeNearestNeighbor",
    "bilinear": "ResizeBilinear",
    "bicubic": "ResizeBicubic",
    "area": "ResizeArea",
    "lanczos3": "ScaleAndTranslate",
    "lanczos5": "ScaleAndTranslate",
}


def _resize(interpolation: str) -> ProfilerCount:
    op = _RESIZE_OPS.get(interpolation)
    if op is None:
        return _unknown(f"interpolation {interpolation!r} is not modelled")
    # tf.image.resize: one op with no statistics; lanczos goes through ScaleAndTranslate with
    # its scale computed as a RealDiv of two 2-vectors (2 FLOPs).
    flops = 2 if op == "ScaleAndTranslate" else 0
    return ProfilerCount(flops, unseen=() if interpolation == "nearest" else (op,))


def _resizing(call: Call, outputs) -> ProfilerCount:
    cfg = call.config
    if cfg.get("pad_to_aspect_ratio"):
        return _unknown(
            "pad_to_aspect_ratio builds a tf.cond whose ops have shapes the profiler only "
            "partly knows"
        )
    count = _resize(str(cfg.get("interpolation", "bilinear")).lower())
    if cfg.get("crop_to_aspect_ratio"):
        # The crop box: 14 scalar ops (2 each of Mul, RealDiv, Minimum, Maximum, Sub,
        # RealDiv, AddV2) on the dynamic shape.
        count = _plus(count, ProfilerCount(14))
    return count


def _upsampling(call: Call, outputs) -> ProfilerCount:
    name = call.node.class_name
    rank = 3 if "3D" in name else 1 if "1D" in name else 2
    interpolation = str(call.config.get("interpolation", "nearest")).lower()
    if rank != 2 or interpolation == "nearest":
        # ops.repeat per spatial axis: each computes the repeated length with one scalar Mul.
        return ProfilerCount(rank)
    return _resize(interpolation)


def _center_crop(call: Call, outputs) -> ProfilerCount:
    axes = [a for a in range(1, len(call.shape) - 1)]
    fits = all(
        is_int(call.shape[a]) and is_int(outputs[0][a]) and outputs[0][a] <= call.shape[a]
        for a in axes
    )
    if fits:
        return ProfilerCount(0)  # a StridedSlice
    return _unknown("CenterCrop onto a larger size resizes the input: not modelled")


# -- pooling, merges and the rest --------------------------------------------------------------------


def _per_output(per: int, unseen: tuple[str, ...] = ()):
    def count(call: Call, outputs) -> ProfilerCount:
        n = _elements(outputs[0])
        return _unknown("shape unknown") if n is None else ProfilerCount(per * n, unseen=unseen)

    return count


def _merge(per_extra_input: int, per_output: int = 0):
    def count(call: Call, outputs) -> ProfilerCount:
        n = _elements(outputs[0])
        extra = call.operand_count - 1
        if n is None:
            return _unknown("shape unknown")
        return ProfilerCount((per_extra_input * extra + per_output) * n)

    return count


def _pool(call: Call, outputs) -> ProfilerCount:
    name = call.node.class_name
    pool = call.config.get("pool_size", 2)
    rank = 3 if "3D" in name else 1 if "1D" in name else 2
    taps = pool**rank if isinstance(pool, int) else product(pool)
    n = _elements(outputs[0])
    if n is None:
        return _unknown("shape unknown")
    if rank == 3:
        op = "MaxPool3D" if "Max" in name else "AvgPool3D"
        return ProfilerCount(0, taps * n, (op,), f"{op} has no registered statistics")
    return ProfilerCount(taps * n)  # MaxPool / AvgPool (1-D on an expanded axis)


def _global_pool(call: Call, outputs) -> ProfilerCount:
    if "Max" in call.node.class_name:
        return ProfilerCount(0, unseen=("Max",))  # Max reduction: no statistics
    return ProfilerCount(_elements(call.shape))  # Mean: 1 per input element


def _zero(call: Call, outputs) -> ProfilerCount:
    return ProfilerCount(0)


_BY_CLASS = {
    "BatchNormalization": _batch_norm,
    "SyncBatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "GroupNormalization": _group_norm,
    "UnitNormalization": _unit_norm,
    "Normalization": _normalization,
    "MultiHeadAttention": _attention,
    "Activation": _activation_layer,
    "ReLU": _relu_layer,
    "LeakyReLU": lambda call, outputs: ProfilerCount(0, unseen=("LeakyRelu",)),
    "ELU": _elu_layer,
    "PReLU": _prelu,
    "Softmax": _softmax_layer,
    "Masking": _per_output(1, ("Any", "SelectV2")),  # NotEqual, then any/where: no statistics
    "LayerScale": _per_output(1),
    "CustomScaleLayer": _per_output(2),  # x + y * scale: Mul + AddV2
    "Rescaling": _per_output(2),  # x * scale + offset: Mul + AddV2
    "Resizing": _resizing,
    "UpSampling1D": _upsampling,
    "UpSampling2D": _upsampling,
    "UpSampling3D": _upsampling,
    "CenterCrop": _center_crop,
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
    # keras.ops numpy/math elementwise ops and matmul, each measured on the profiler
    # (tests/layers/test_ops_numpy_models.py): Square, Pow, Neg, Log and the comparisons count 1
    # per output element; Rsqrt 2; clip is Maximum + Minimum; Sqrt/Abs/Exp/SelectV2 have none.
    "ops.Square": _per_output(1),
    "ops.Power": _per_output(1),
    "ops.Negative": _per_output(1),
    "ops.Log": _per_output(1),
    **{
        f"ops.{name}": _per_output(1)
        for name in ("Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual")
    },
    "ops.Rsqrt": _per_output(2),
    "ops.Clip": _per_output(2),
    "ops.Sqrt": _per_output(0, ("Sqrt",)),
    "ops.Abs": _per_output(0, ("Abs",)),
    "ops.Absolute": _per_output(0, ("Abs",)),
    "ops.Exp": _per_output(0, ("Exp",)),
    "ops.Where": _per_output(0, ("SelectV2",)),
    "ops.Matmul": lambda call, outputs: _ops_matmul(call, outputs),
    "ops.Reciprocal": _per_output(1),
    **{
        f"ops.{name}": _per_output(0, (name,))
        for name in ("Tanh", "Floor", "Round", "Sign", "Log1p", "Erf", "Sin")
    },
    # Reductions (measured): Mean 1 per input element, Sum input - output; Keras's std/var are
    # two Means, a Sub and a Square over the input (Sqrt uncounted); argmax/argmin add an
    # Equal and a Less over the input to ArgMax's input - output; Max/Min have no statistics.
    "ops.Mean": lambda call, outputs: _ops_reduce(call, outputs, 1, 0),
    "ops.Sum": lambda call, outputs: _ops_reduce(call, outputs, 1, -1),
    "ops.Std": lambda call, outputs: _ops_reduce(call, outputs, 4, 0, ("Sqrt",)),
    "ops.Var": lambda call, outputs: _ops_reduce(call, outputs, 4, 0),
    "ops.Argmax": lambda call, outputs: _ops_reduce(call, outputs, 3, -1),
    "ops.Argmin": lambda call, outputs: _ops_reduce(call, outputs, 3, -1),
    "ops.Max": lambda call, outputs: _ops_reduce(call, outputs, 0, 0, ("Max",)),
    "ops.Min": lambda call, outputs: _ops_reduce(call, outputs, 0, 0, ("Min",)),
}


def _ops_reduce(call: Call, outputs, per_input: int, per_output: int, unseen=()):
    """A keras.ops reduction: `per_input` x input elements + `per_output` x output elements."""
    n_in, n_out = _elements(call.shape), _elements(outputs[0])
    if n_in is None or n_out is None:
        return _unknown("shape unknown")
    return ProfilerCount(per_input * n_in + per_output * n_out, unseen=unseen)


def _ops_matmul(call: Call, outputs) -> ProfilerCount:
    """keras.ops.matmul is one MatMul / BatchMatMulV2: 2 * k * m * n at batch 1."""
    from cnncost.layers.ops_numpy import _matmul_macs

    macs = _matmul_macs(call, outputs)
    return _unknown("shape unknown") if macs is None else ProfilerCount(2 * macs)


# Data movement only (Reshape, Pad, StridedSlice, ConcatV2, Identity, ...), or identity at
# inference (dropout, noise, random augmentation, activity regularization): no statistics.
_ZERO = {
    *INFERENCE_IDENTITY,
    "InputLayer",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "Concatenate",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Embedding",
    "ops.Concatenate",
    "ops.Reshape",
    "ops.Transpose",
    # StridedSlice, Split, Pack, Pad/MirrorPad, ExpandDims, Squeeze, Tile, ReverseV2 (measured)
    "ops.GetItem",
    "ops.Split",
    "ops.Stack",
    "ops.Pad",
    "ops.ExpandDims",
    "ops.Squeeze",
    "ops.Tile",
    "ops.Flip",
    "ops.Swapaxes",
    "ops.Moveaxis",
    "ops.Roll",
    "ops.BroadcastTo",
    "ops.TopK",  # TopKV2 has no registered statistics (measured)
}

# keras.ops nn / core / image (cnncost/layers/ops_nn.py), checked against the profiler in
# tests/layers/test_ops_nn_profiler.py.
_OPS_ACTIVATIONS = {
    "ops.Relu": "relu",
    "ops.Relu6": "relu6",
    "ops.Sigmoid": "sigmoid",
    "ops.SparseSigmoid": "sparse_sigmoid",
    "ops.Softplus": "softplus",
    "ops.Softsign": "softsign",
    "ops.SparsePlus": "sparse_plus",
    "ops.Silu": "silu",
    "ops.Squareplus": "squareplus",
    "ops.LogSigmoid": "log_sigmoid",
    "ops.HardSigmoid": "hard_sigmoid",
    "ops.HardSilu": "hard_silu",
    "ops.Selu": "selu",
    "ops.TanhShrink": "tanh_shrink",
    "ops.HardTanh": "hard_tanh",
}


def _ops_activation(name: str):
    def count(call: Call, outputs) -> ProfilerCount:
        return _activation(name, _elements(call.shape))

    return count


def _ops_gelu(call: Call, outputs) -> ProfilerCount:
    if call.config.get("approximate", True):
        return _unknown("ops.gelu(approximate=True) is not measured")
    return _activation("gelu", _elements(call.shape))


def _extract_patches(call: Call, outputs) -> ProfilerCount:
    # one Conv2D with an identity kernel: 2 * MACs; with dilation TF adds space-to-batch ops
    from cnncost.layers.ops_nn import RULES

    if call.config.get("dilation_rate", 1) not in (1, [1, 1], (1, 1)):
        return _unknown("dilated extract_patches runs through space-to-batch ops: not measured")
    macs = RULES["ops.ExtractPatches"].macs(call, outputs)
    return _unknown("shape unknown") if macs is None else ProfilerCount(2 * macs)


def _ops_softmax(per_element: int, unseen: tuple[str, ...] = ()):
    """`ops.softmax` / `ops.log_softmax` run `tf.nn.softmax` (5 per element) / `tf.nn.log_softmax`
    (LogSoftmax: no statistics) on one axis (axis None: on the flattened tensor); off the last
    axis TF transposes around it and computes the rank - 1 twice (2 scalar Sub)."""

    def count(call: Call, outputs) -> ProfilerCount:
        n = _elements(outputs[0])
        if n is None:
            return _unknown("shape unknown")
        axis = call.config.get("axis", -1)
        off_last = is_int(axis) and axis % len(call.shape) != len(call.shape) - 1
        return ProfilerCount(per_element * n + (2 if off_last else 0), unseen=unseen)

    return count


def _ops_leaky_relu(call: Call, outputs) -> ProfilerCount:
    return ProfilerCount(0, unseen=("LeakyRelu",))  # tf.nn.leaky_relu, any slope


_BY_CLASS.update(
    {
        **{key: _ops_activation(name) for key, name in _OPS_ACTIVATIONS.items()},
        "ops.Gelu": _ops_gelu,
        "ops.LeakyRelu": _ops_leaky_relu,
        "ops.Softmax": _ops_softmax(5),
        "ops.LogSoftmax": _ops_softmax(0, ("LogSoftmax",)),
        "ops.Elu": _elu_layer,  # alpha == 1: Elu; otherwise where(x > 0, y, alpha * y)
        "ops.ExtractPatches": _extract_patches,
    }
)
# Data movement, dtype conversion and identity at inference: no statistics.
_ZERO |= {
    "ops.Cast",
    "ops.ConvertToTensor",
    "ops.StopGradient",
    "ops.Slice",
    "ops.Unstack",
    "ops.DepthToSpace",
    "ops.SpaceToDepth",
    "ops.PadImages",
    "ops.CropImages",
    "RandomCrop",
    *IDENTITY_AT_INFERENCE,
}

# Classes Keras 3 no longer has (configs from tf.keras): no Keras 3 graph to profile.
_NOT_IN_KERAS_3 = {"ThresholdedReLU"}


def profiler_flops(
    call: Call, rule: LayerRule, outputs, inputs: tuple[str, ...] = ()
) -> ProfilerCount:
    """FLOPs the TF profiler reports for this call at batch 1 (None where not modelled).

    `inputs`: what TF knows of each input's shape (STATIC, SHAPELESS or PARTIAL; all STATIC
    when not given), from the `output` of the counts of the calls that produced them.
    """
    from cnncost.layers import registry_key

    key = registry_key(call.node)
    counted = _profiler_flops(key, call, rule, outputs)
    if all(state == STATIC for state in inputs):
        return counted
    return after_xla(key, call, outputs, counted, inputs)


def _profiler_flops(key: str, call: Call, rule: LayerRule, outputs) -> ProfilerCount:
    from cnncost.layers.base import guarded

    if key == "EinsumDense":
        return _einsum_dense(call, rule, outputs, guarded(call, rule.macs, outputs))
    if rule.cost in ("conv", "dense"):
        return guarded(call, _weighted, rule, outputs, guarded(call, rule.macs, outputs))
    if key in _ZERO:
        return ProfilerCount(0)
    if key in _NOT_IN_KERAS_3:
        return _unknown(f"{key} is not a Keras 3 layer: there is no TF graph to profile")
    if rule.cost in ("max_pool", "avg_pool"):
        return _pool(call, outputs)
    if rule.cost in ("global_avg_pool", "global_max_pool"):
        return _global_pool(call, outputs)
    count = _BY_CLASS.get(key)
    if count is None:
        return _unknown(f"no tf-profiler rule for {key}")
    return guarded(call, count, outputs)


# -- downstream of XLA-compiled grouped convolutions ---------------------------------------------
#
# The XLA call of a grouped conv (see `_weighted`) has an output of unknown shape, and TF's shape
# inference carries that on: an op whose input shape is not fully known has no statistics, so the
# profiler counts nothing downstream (the batch dim stays unknown even through a merge with a
# static tensor, since broadcasting 1 against an unknown dim is unknown), except
# - ops on constants only: BatchNormalization's per-channel rsqrt(var + eps) * gamma and
#   beta - mean * inv (5 or 6 per channel), Normalization's maximum(sqrt(var), eps) (1 per
#   channel), PReLU's -alpha, the scalar shape arithmetic of UpSampling (1 Mul per axis),
#   Resizing's lanczos scale and crop box, Softmax's axis arithmetic off the last axis (2 Sub);
# - layers after which Keras gives the tensor a static shape again: Flatten, Reshape and
#   `ops.reshape` to a fully given shape, GroupNormalization (they reshape to a static target),
#   nearest UpSampling (ops.repeat with static lengths) and Dense on an input of rank > 2 (its
#   matmul runs on a static 2-D reshape, so it is counted in full too).
# A concatenation of a shapeless and a static tensor has a partly known shape (batch and
# spatial dims known, channels not): a conv after it counts its BiasAdd but not its Conv2D. That
# is not modelled: such rows are reported unknown until a layer restores the shape.
# Measured with TF 2.21 / Keras 3.15 (tests/test_tf_profiler.py::test_after_xla_*).

_XLA_REASON = "its input comes from an XLA call and has no static shape"


def _constant_ops(call: Call, key: str, outputs, counted: ProfilerCount) -> Dim:
    """The part of `counted` computed from constants only (see above)."""
    if key in ("BatchNormalization", "SyncBatchNormalization"):
        channels = product(call.shape[a] for a in _axes(call))
        return (6 if call.config.get("scale", True) else 5) * channels
    if key == "Normalization":
        return product([call.shape[a] for a in _axes(call)])
    if key == "PReLU":
        from cnncost.layers.activation import _prelu_weights

        return product(_prelu_weights(call)[0].shape)
    if key in ("UpSampling1D", "UpSampling2D", "UpSampling3D", "Resizing"):
        return counted.flops  # scalar shape arithmetic and the lanczos scale only
    if key == "Softmax":
        axis = call.config.get("axis", -1)
        off_last = is_int(axis) and axis % len(call.shape) != len(call.shape) - 1
        return 2 if off_last else 0
    return 0


def _static_again(key: str, call: Call) -> bool:
    """Whether Keras gives this layer's output a static shape whatever TF knows of its input."""
    if key in ("Flatten", "Reshape", "GroupNormalization"):
        return True
    if key == "Dense":
        return len(call.shape) > 2
    if key == "ops.Reshape":
        newshape = call.config.get("newshape")
        return isinstance(newshape, (list, tuple)) and all(is_int(d) and d > 0 for d in newshape)
    if key.startswith("UpSampling"):  # nearest: ops.repeat with static lengths (not a resize)
        rank2 = key == "UpSampling2D"
        return not rank2 or str(call.config.get("interpolation", "nearest")) == "nearest"
    return False


def after_xla(
    key: str, call: Call, outputs, counted: ProfilerCount, inputs: tuple[str, ...]
) -> ProfilerCount:
    """What the profiler counts for a call with an input whose shape TF does not know."""
    static = _static_again(key, call)
    if static and key == "Dense":
        return counted  # its matmul runs on a static 2-D reshape: counted in full
    if not static and (
        PARTIAL in inputs or (key in ("Concatenate", "ops.Concatenate") and STATIC in inputs)
    ):
        return ProfilerCount(
            None,
            reason="its input concatenates a tensor without static shape (after an XLA call) "
            "with one that has it: TF knows part of the shape, which is not modelled",
            output=PARTIAL,
        )
    output = STATIC if static else SHAPELESS
    if counted.flops is None:
        return ProfilerCount(None, reason=counted.reason, output=output)
    from cnncost.layers.base import guarded

    constant = guarded(call, _constant_ops, key, outputs, counted)
    return ProfilerCount(
        constant,
        counted.flops - constant + counted.missed,
        counted.unseen,
        _XLA_REASON if counted.flops != constant else counted.reason,
        output=output,
    )


def xla_warning(grouped: list[str], hidden: list[tuple[str, Dim]], full_total: Dim) -> str:
    """How much work the profiler hides behind XLA-compiled grouped convolutions: the FLOPs of
    the `full` convention of the grouped convs and of the rows after them that it counts 0."""
    shown = ", ".join(grouped[:4]) + (f" and {len(grouped) - 4} more" if len(grouped) > 4 else "")
    known = [f for _, f in hidden if f is not None]
    total = sum(known)
    share = (
        f" ({100 * total / full_total:.1f}% of the model's {full_total:,})"
        if is_int(full_total) and full_total and len(known) == len(hidden)
        else ""
    )
    return (
        f"tf-profiler convention: Keras runs {len(grouped)} grouped convolutions ({shown}) as "
        "XLA calls, whose outputs have no static shape in TensorFlow's graph, so the profiler "
        f"counts nothing for them and for the {len(hidden) - len(grouped)} layers computed from "
        "them (except per-channel constants) up to a layer that restores a static shape "
        "(Flatten, Reshape, Dense on rank > 2, ...); "
        f"this hides {total:,} FLOPs of the `full` convention{share}"
    )
