"""The `full` FLOP convention: one table of per-element costs, and how a layer call maps onto it.

`flops = 2 * macs + elementwise work`, where the elementwise work of a call is a sum over table
rows of `row cost * element count`. Rows are keyed by the `cost` field of each `LayerRule` and,
for activation functions (the `Activation` layer and the fused `activation=` of Conv/Dense), by
`activation:<name>`.

Counting rule for the constants: every arithmetic operation, comparison and elementary function
call (exp, log, erf, tanh, sqrt, rsqrt, a division) on one element is 1 FLOP. A cost is a
`Cost` of four coefficients, so that pooling windows and merges of n inputs are exact:

    flops = output * out_elems + input * in_elems + tap * out_elems * taps
            + merge * out_elems * (n_inputs - 1)

Each row has three costs: `forward` (inference), `backward` (the gradient with respect to the
inputs, given the gradient of the outputs) and `weights` (the gradient with respect to the
layer's own elementwise weights: bias, gamma/beta, PReLU alpha). `train_forward` differs from
`forward` only where training runs a different computation (BatchNormalization computes batch
statistics). MAC-based work (convolutions, matmuls) is not in the table: it is `2 * macs` forward,
`2 * macs` for the input gradient and `2 * weight macs` for the weight gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FULL = "full"
TF_PROFILER = "tf-profiler"
CONVENTIONS = (FULL, TF_PROFILER)


@dataclass(frozen=True)
class Cost:
    """FLOPs per output element, per input element, per window tap, and per extra merge input."""

    output: int = 0
    input: int = 0
    tap: int = 0
    merge: int = 0

    def describe(self) -> str:
        parts = []
        for coefficient, what in (
            (self.output, "per output element"),
            (self.input, "per input element"),
            (self.tap, "per output element per window tap"),
            (self.merge, "per output element per input after the first"),
        ):
            if coefficient:
                parts.append(f"{coefficient} {what}")
        return " + ".join(parts) if parts else "0"


@dataclass(frozen=True)
class CostRow:
    key: str
    forward: Cost
    backward: Cost
    weights: Cost = field(default_factory=Cost)
    train_forward: Cost | None = None
    note: str = ""


def _row(key, forward, backward, note, weights=Cost(), train_forward=None) -> CostRow:
    return CostRow(key, forward, backward, weights, train_forward, note)


O = Cost  # Cost(output=...) reads as "per output element"

_ACTIVATIONS = (
    # name, forward, input-gradient (a Cost, or an int per output element), derivation.
    # Every keras.activations function that serializes to a name has a row
    # (tests/test_conventions.py checks the list against Keras).
    ("linear", 0, 0, "identity"),
    ("relu", 1, 1, "max(x, 0); gradient: select"),
    ("relu6", 2, 2, "min(max(x, 0), 6); gradient: two compares"),
    ("leaky_relu", 2, 2, "max(x, a*x): mul + max; gradient: select + mul"),
    ("elu", 3, 2, "x > 0 ? x : exp(x) - 1: exp, sub, select; gradient: select, add"),
    ("selu", 4, 3, "scale * elu(x): elu + mul; gradient: elu's + mul"),
    ("celu", 4, 3, "max(0,x) + min(0, a*(exp(x/a)-1)): div, exp, sub, mul (min/max fused)"),
    ("exponential", 1, 1, "exp; gradient: mul by exp(x)"),
    ("sigmoid", 3, 3, "1 / (1 + exp(-x)): exp, add, div; gradient: y*(1-y)*dy"),
    ("hard_sigmoid", 4, 2, "clip(x/6 + 1/2, 0, 1): mul, add, max, min; gradient: mask, mul"),
    ("sparse_sigmoid", 6, 4, "x<=-1 ? 0 : x>=1 ? 1 : (x+1)/2: 2 compares, add, mul, 2 selects"),
    ("tanh", 1, 3, "tanh; gradient: (1 - y^2) * dy"),
    ("hard_tanh", 2, 2, "clip(x, -1, 1): max, min; gradient: two compares"),
    ("tanh_shrink", 2, 2, "x - tanh(x): tanh, sub; gradient: tanh(x)^2 * dy"),
    ("swish", 4, 6, "x * sigmoid(x): sigmoid + mul; gradient: s + x*s*(1-s) times dy"),
    ("silu", 4, 6, "same as swish"),
    ("hard_swish", 5, 4, "x * hard_sigmoid(x)"),
    ("hard_silu", 5, 4, "same as hard_swish"),
    (
        "gelu",
        5,
        8,
        "exact (approximate=False, what a config names): x/2 * (1 + erf(x/sqrt 2)): "
        "div, erf, add, mul, mul; gradient 8",
    ),
    (
        "gelu_approximate",
        8,
        12,
        "approximate=True: x/2 * (1 + tanh(c*(x + 0.044715*x^3))): pow, "
        "mul, add, mul, tanh, add, mul, mul; gradient 12 (only from code: configs name `gelu`)",
    ),
    (
        "keras_hub>gelu_approximate",
        8,
        12,
        "keras-hub's registered gelu(x, approximate=True) (SigLIP): as gelu_approximate",
    ),
    (
        "quick_gelu",
        5,
        7,
        "x * sigmoid(1.702 x) (CLIP's, as keras-hub names it): mul, sigmoid, mul; "
        "gradient: swish's + one mul",
    ),
    ("softplus", 3, 3, "log(1 + exp(x)): exp, add, log; gradient: sigmoid(x) * dy"),
    ("softsign", 3, 4, "x / (1 + |x|): abs, add, div"),
    (
        "squareplus",
        5,
        4,
        "(x + sqrt(x^2 + b)) / 2: square, add, sqrt, add, div; gradient: (1 + x/sqrt(..))/2 * dy",
    ),
    (
        "sparse_plus",
        7,
        6,
        "x<=-1 ? 0 : x>=1 ? x : (x+1)^2/4: 2 compares, add, square, mul, "
        "2 selects; gradient: (x+1)/2 on the middle piece: add, mul, 2 compares, select, mul",
    ),
    ("mish", 5, 10, "x * tanh(softplus(x)): softplus 3, tanh, mul"),
    ("log_sigmoid", 4, 4, "-softplus(-x): neg, softplus 3"),
    ("hard_shrink", 3, 2, "|x| > t ? x : 0: abs, compare, select; gradient: compare, select"),
    (
        "soft_shrink",
        6,
        3,
        "x>t ? x-t : x<-t ? x+t : 0: 2 compares, sub, add, 2 selects; "
        "gradient: abs, compare, select",
    ),
    ("threshold", 2, 1, "x > t ? x : default: compare, select; gradient: select"),
    (
        "glu",
        Cost(input=2),
        Cost(input=2),
        "a * sigmoid(b) on the two halves of the last axis, "
        "per input element: (sigmoid 3 + mul) / 2; gradient: s*dy, (s*dy)*a*(1-s): (1 + 3) / 2",
    ),
    ("softmax", 5, 4, "max, sub, exp, sum, div; gradient: y * (dy - sum(y*dy))"),
    ("log_softmax", 5, 3, "max, sub, exp, sum, log+sub"),
    (
        "sparsemax",
        10,
        4,
        "sort not counted (comparisons, not elementwise); cumsum, k*z, 1 + k*z, "
        "compare, select, 2 sums, (sum - 1)/k amortised 1, sub, max; gradient: masked mean: sum, "
        "div amortised, sub, mul",
    ),
)

# keras.ops elementwise functions and reductions (cnncost/layers/ops_numpy.py, ops_math.py):
# key (row "op:<key>"), forward, input gradient (a Cost, or an int per output element),
# derivation under the counting rule above. Comparisons, rounding and bit operations have no
# gradient (0).
_OPS = (
    ("abs", 1, 2, "|x|; gradient: sign(x) * dy"),
    ("negative", 1, 1, "-x (also conj); gradient: -dy"),
    ("sign", 1, 0, "sign(x); gradient 0"),
    (
        "compare",
        1,
        0,
        "one comparison, logical, bit or classification op (isnan, signbit, fmax...)",
    ),
    ("round", 1, 0, "floor / ceil / round / trunc; gradient 0"),
    ("sqrt", 1, 2, "sqrt; gradient: dy / (2 y): mul, div"),
    ("square", 1, 2, "x*x; gradient: 2 x dy: 2 mul"),
    ("reciprocal", 1, 3, "1/x; gradient: -dy * y * y: neg, 2 mul"),
    ("cbrt", 1, 3, "cbrt; gradient: dy / (3 y^2): square, mul, div"),
    ("exp", 1, 1, "exp (also expm1); gradient: dy * exp(x)"),
    ("exp2", 2, 2, "exp(x * ln 2): mul, exp; gradient: dy * y * ln 2"),
    ("log", 1, 1, "log; gradient: dy / x"),
    ("log2", 2, 2, "log(x) * (1 / ln b) (log2, log10): log, mul; gradient: dy / (x ln b)"),
    ("log1p", 2, 2, "log(1 + x): add, log; gradient: dy / (1 + x)"),
    ("sin", 1, 2, "sin / cos / sinh / cosh; gradient: dy * cos(x) (its pair function, mul)"),
    ("tan", 1, 3, "tan / tanh; gradient: dy * (1 + y^2) (or 1 - y^2): square, add, mul"),
    ("arcsin", 1, 4, "arcsin / arccos / arcsinh / arccosh; gradient: dy / sqrt(1 -+ x^2)"),
    ("arctan", 1, 3, "arctan / arctanh; gradient: dy / (1 +- x^2): square, add, div"),
    ("sinc", 4, 6, "sin(pi x) / (pi x): mul, sin, div, select at 0; gradient: (cos - sinc)/x"),
    ("i0", 1, 2, "Bessel I0 (one function call); gradient: dy * I1(x)"),
    ("scale", 1, 1, "multiply by a constant (deg2rad, rad2deg)"),
    ("angle", 1, 4, "atan2(imag, real); gradient: 4 per element"),
    ("nan_to_num", 6, 3, "3 tests (nan, +inf, -inf) and 3 selects; gradient: 3 masks"),
    ("clip", 2, 2, "max, min; gradient: two compares as a mask"),
    ("power", 1, 4, "x ** y; gradient to x: dy * y * x**(y-1): sub, pow, 2 mul"),
    ("arctan2", 1, 6, "atan2; gradient: (x dy, -y dy) / (x^2 + y^2): 2 squares, add, div, 2 mul"),
    ("hypot", 4, 4, "sqrt(x^2 + y^2): 2 squares, add, sqrt; gradient: (x, y) * dy / h"),
    ("floor_divide", 2, 0, "floor(x / y): div, floor; gradient 0"),
    ("mod", 4, 0, "x - floor(x / y) * y (also fmod with trunc): div, floor, mul, sub"),
    ("divide_no_nan", 3, 3, "y == 0 ? 0 : x / y: compare, div, select; gradient as divide"),
    ("heaviside", 4, 0, "x < 0 ? 0 : x == 0 ? h : 1: 2 compares, 2 selects; gradient 0"),
    ("ldexp", 2, 1, "x * 2**n: exp2, mul; gradient: dy * 2**n"),
    ("logaddexp", 7, 6, "max + log1p(exp(-|a - b|)): sub, abs, neg, exp, log1p, max, add"),
    ("logaddexp2", 9, 6, "logaddexp in base 2: 2 more multiplies by ln 2"),
    ("isclose", 6, 0, "|a - b| <= atol + rtol |b|: sub, 2 abs, mul, add, compare"),
    ("select", 1, 1, "one select per output element (where, select); gradient: masked dy"),
    (
        "erf",
        1,
        5,
        "erf / erfc / erfinv; gradient: 2/sqrt(pi) exp(-x^2) dy: square, neg, exp, 2 mul",
    ),
    ("rsqrt", 1, 3, "1 / sqrt(x); gradient: -y^3 / 2 dy: 3 mul"),
    ("linspace", 2, 0, "start + i * step: mul, add per output"),
    ("logspace", 3, 0, "base ** (start + i * step) (also geomspace): mul, add, pow"),
    ("product", 1, 1, "one multiply per output element (outer, kron); gradient: dy * other"),
    ("unravel_index", 2, 0, "per output coordinate: one division and one modulo"),
    (
        "flop",
        1,
        1,
        "a rule's own exact count (trace, diff, cross, cdist, segment ops, norms): "
        "1 per counted FLOP; gradient taken as the same count",
    ),
    ("ptp", Cost(input=2, output=-1), Cost(input=1), "max and min: 2 (n-1) compares + 1 sub"),
    ("var", Cost(input=4), Cost(input=3), "mean n, sub n, square n, sum n-1, div 1 = 4n"),
    ("std", Cost(input=4, output=1), Cost(input=3, output=1), "var + sqrt per output"),
    (
        "nan_reduce",
        Cost(input=3, output=-1),
        Cost(input=1),
        "isnan, select, then n-1 "
        "adds / compares / muls (nansum, nanmax, nanmin, nanprod, nanargmax, nanargmin)",
    ),
    (
        "nanmean",
        Cost(input=4, output=-1),
        Cost(input=2),
        "isnan n, select n, sum n-1, count n-1, div 1",
    ),
    (
        "nanvar",
        Cost(input=8, output=-1),
        Cost(input=4),
        "nanmean 4n-1, sub, square, select n each, sum n-1, div 1",
    ),
    ("nanstd", Cost(input=8), Cost(input=4, output=1), "nanvar + sqrt per output"),
    ("count_nonzero", Cost(input=2, output=-1), O(0), "n compares + n-1 adds"),
    ("logsumexp", Cost(input=4), Cost(input=3), "max n-1, sub n, exp n, sum n-1, log 1, add 1"),
)

_ROWS: list[CostRow] = [
    _row("bias", O(1), O(0), "bias add; weight gradient: sum of dy over positions", weights=O(1)),
    _row("scale", O(1), O(1), "multiply by a constant (attention's 1/sqrt(key_dim))"),
    _row("max_pool", Cost(output=-1, tap=1), Cost(tap=1), "k-1 compares per window"),
    _row("avg_pool", Cost(tap=1), Cost(tap=1), "k-1 adds + 1 multiply per window"),
    _row("global_max_pool", Cost(output=-1, input=1), Cost(input=1), "n-1 compares per channel"),
    _row("global_avg_pool", Cost(input=1), Cost(input=1), "n-1 adds + 1 multiply per channel"),
    _row(
        "batch_norm",
        O(2),
        O(8),
        "inference: x*scale + shift, per-channel folding not counted; training: mean 1, sub 1, "
        "square 1, sum 1, normalize 1, scale 1, shift 1; input gradient 8",
        weights=O(2),
        train_forward=O(7),
    ),
    _row(
        "layer_norm",
        O(7),
        O(8),
        "mean 1, sub 1, square 1, sum 1, normalize 1, scale 1, shift 1 (also GroupNormalization)",
        weights=O(2),
    ),
    _row(
        "rms_norm",
        O(4),
        O(6),
        "square 1, sum 1, multiply by rsqrt 1, scale 1 (per-vector mean/rsqrt not counted); "
        "input gradient: dy*scale, *x, sum, *rsqrt, subtract, scale",
        weights=O(2),
    ),
    _row("unit_norm", O(3), O(5), "square, sum, multiply by rsqrt (per-vector rsqrt not counted)"),
    _row("normalization", O(2), O(1), "(x - mean) * rsqrt(var) with precomputed statistics"),
    _row("rescaling", O(2), O(1), "x * scale + offset"),
    _row("resizing:nearest", O(0), O(0), "gather"),
    _row("resizing:bilinear", O(7), O(7), "4 weighted taps: 4 mul + 3 add"),
    _row("resizing:bicubic", O(31), O(31), "16 weighted taps: 16 mul + 15 add"),
    _row("resizing:lanczos3", O(71), O(71), "6x6 weighted taps: 36 mul + 35 add"),
    _row("resizing:lanczos5", O(199), O(199), "10x10 weighted taps: 100 mul + 99 add"),
    _row(
        "resizing:area",
        Cost(input=1),
        Cost(input=1),
        "average of the covered input pixels: each input added once, one scale per output "
        "(exact for integer shrink factors; a convention otherwise)",
    ),
    _row("upsampling:nearest", O(0), Cost(tap=1), "copy; gradient: sum over the copies"),
    _row("upsampling:bilinear", O(7), O(7), "4 weighted taps: 4 mul + 3 add"),
    _row("upsampling:bicubic", O(31), O(31), "16 weighted taps: 16 mul + 15 add"),
    _row("upsampling:lanczos3", O(71), O(71), "6x6 weighted taps: 36 mul + 35 add"),
    _row("upsampling:lanczos5", O(199), O(199), "10x10 weighted taps: 100 mul + 99 add"),
    _row(
        "reduce_sum",
        Cost(input=1, output=-1),
        Cost(input=1),
        "n-1 adds (or compares) per output over its n inputs; gradient: broadcast back",
    ),
    _row(
        "reduce_mean",
        Cost(input=1),
        Cost(input=1),
        "n-1 adds + 1 scale per output over its n inputs; gradient: scaled broadcast",
    ),
    _row("add", Cost(merge=1), O(0), "n-1 adds (also Subtract); gradient passes through"),
    _row("multiply", Cost(merge=1), Cost(output=1, merge=1), "n-1 muls; gradient dy*other"),
    _row("divide", Cost(merge=1), Cost(output=3), "a/b; gradient: dy/b and -dy*a/b^2"),
    _row("average", Cost(output=1, merge=1), O(1), "n-1 adds + 1 multiply"),
    _row("maximum", Cost(merge=1), Cost(output=1, merge=1), "n-1 compares (also Minimum)"),
    _row("scale_add", O(2), O(1), "x + y * scale (InceptionResNet's CustomScaleLayer)"),
    _row("layer_scale", O(1), O(1), "x * gamma (ConvNeXt's LayerScale)", weights=O(2)),
    _row(
        "scalar_affine",
        O(2),
        O(1),
        "x * s + b with scalar s, b (kimm LearnableAffine); gradients dy*s, sum(dy*x), sum(dy)",
        weights=O(3),
    ),
    _row(
        "add_embedding",
        O(1),
        O(0),
        "x + learned embedding (kimm PositionEmbedding); its gradient is dy summed over the batch",
        weights=O(1),
    ),
    _row("prelu", O(2), O(2), "max(x, 0) + alpha*min(x, 0)", weights=O(2)),
    _row("softmax", O(5), O(4), "as activation:softmax (attention scores)"),
    # keras.ops nn/core/image and the recurrent/attention layers (cnncost/layers/ops_nn.py, ...)
    _row(
        "batch_norm_op",
        O(2),
        O(1),
        "ops.batch_normalization with given statistics: x * inv + shift, inv = rsqrt(var + eps) "
        "* scale per channel (not counted); gradient: dy * inv",
    ),
    _row(
        "moments",
        Cost(input=4),
        Cost(input=4),
        "ops.moments: per input element 1 add for the mean, then sub, square, add for the "
        "variance (the two per-output divides not counted)",
    ),
    _row("polar", O(4), O(6), "ops.polar: r*cos(t) + i*r*sin(t): cos, sin, 2 mul"),
    _row("saturate_cast", O(2), O(1), "ops.saturate_cast: clip to the target range (max, min)"),
    _row(
        "window_tap",
        O(1),
        O(1),
        "one operation per window tap; the rule gives the tap count (adaptive pooling: average "
        "k-1 adds + 1 scale per window of k taps, max k-1 compares)",
    ),
    _row("pointwise_add", O(1), O(0), "one add (or compare) per element; gradient passes through"),
    _row(
        "pointwise_multiply", O(1), O(2), "one multiply per element; gradient: dy*other both ways"
    ),
    _row(
        "l2_normalize_inputs",
        Cost(input=3),
        Cost(input=5),
        "Dot(normalize=True): each input vector l2-normalised: square, sum, multiply by rsqrt "
        "(per-vector rsqrt not counted), as unit_norm",
    ),
    _row(
        "elementary",
        O(1),
        O(1),
        "one elementary operation (square, add, max, sqrt, log, arctan2, compare) per element; "
        "the rule gives the count (spectrogram post-processing, Discretization's binary search)",
    ),
    _row(
        "lstm_cell",
        O(9),
        O(12),
        "per unit per step, besides the matmuls, the bias and the activations (their own rows): "
        "4 adds of x@W + h@U, c = f*c + i*g (3), h = o*act(c) (1), and 1 for the state carry; "
        "gradient: dc, do, di, df, dg, dc_prev products and the 4 gate sums (estimate 12)",
    ),
    _row(
        "gru_cell",
        O(8),
        O(11),
        "per unit per step, besides the matmuls, biases and activations: 2 adds (z, r gates), "
        "r * (h@U_h) and its add (2), h = z*h + (1-z)*hh (4); gradient estimate 11",
    ),
    _row(
        "simple_rnn_cell",
        O(1),
        O(0),
        "per unit per step: x@W + h@U (1 add); bias and activation have their own rows",
    ),
]
for _name, _forward, _backward, _note in _ACTIVATIONS:
    _forward = _forward if isinstance(_forward, Cost) else O(_forward)
    _backward = _backward if isinstance(_backward, Cost) else O(_backward)
    _ROWS.append(_row(f"activation:{_name}", _forward, _backward, _note))

for _name, _forward, _backward, _note in _OPS:
    _forward = _forward if isinstance(_forward, Cost) else O(_forward)
    _backward = _backward if isinstance(_backward, Cost) else O(_backward)
    _ROWS.append(_row(f"op:{_name}", _forward, _backward, _note))

TABLE: Mapping[str, CostRow] = {row.key: row for row in _ROWS}


def convention_rows() -> list[dict[str, Any]]:
    """The table as rows for display (`cnncost conventions`)."""
    return [
        {
            "key": row.key,
            "forward": row.forward.describe(),
            "input_gradient": row.backward.describe(),
            "weight_gradient": row.weights.describe(),
            "train_forward": (row.train_forward or row.forward).describe(),
            "note": row.note,
        }
        for row in _ROWS
    ]


# -- how a layer call maps onto the table -----------------------------------------------------------


def activation_key(name: str) -> str:
    return f"activation:{name.lower()}"


def _relu_layer_key(config: Mapping[str, Any]) -> str:
    if config.get("negative_slope"):
        return activation_key("leaky_relu")
    if config.get("max_value") is not None:
        return activation_key("relu6")  # clip at the top: one more compare
    return activation_key("relu")


def _interpolation_key(prefix: str, config: Mapping[str, Any]) -> str:
    default = "bilinear" if prefix == "resizing" else "nearest"  # Keras's defaults
    return f"{prefix}:{str(config.get('interpolation', default)).lower()}"


def row_keys(cost: str | None, config: Mapping[str, Any]) -> list[str]:
    """Table rows (each applied per the row's Cost) for a layer with registry cost `cost`."""
    from cnncost.layers.activation import activation_name

    if cost is None:
        return []
    if cost in ("conv", "dense"):
        keys = ["bias"] if config.get("use_bias", True) else []
        return keys + [activation_key(activation_name(config.get("activation")))]
    if cost == "activation":
        return [activation_key(activation_name(config.get("activation")))]
    if cost == "relu_layer":
        return [_relu_layer_key(config)]
    if cost == "leaky_relu_layer":
        return [activation_key("leaky_relu")]
    if cost == "elu_layer":
        return [activation_key("elu")]
    if cost == "softmax_layer":
        return [activation_key("softmax")]
    if cost == "prelu_layer":
        return ["prelu"]
    if cost == "dot":  # the Dot layer: only normalize=True adds elementwise work
        return ["l2_normalize_inputs"] if config.get("normalize") else []
    if cost == "gelu_op":  # ops.gelu: approximate=True by default (keras.ops signature)
        return [activation_key("gelu_approximate" if config.get("approximate", True) else "gelu")]
    if cost == "layer_norm_op":  # ops.layer_normalization: rms_scaling switches to RMS
        return ["rms_norm" if config.get("rms_scaling") else "layer_norm"]
    if cost in ("resizing", "upsampling"):
        return [_interpolation_key(cost, config)]
    return [cost]
