"""keras.ops operations of the `nn`, `core` and `image` families, as functional-graph nodes.

Registered under `ops.<Class>` (see `cnncost/layers/ops.py` for the numpy family). Shapes include
the batch axis, as the ops see it. An op owns no weights: a kernel passed to `ops.conv` is a
tensor argument (a constant recorded in the config, or another layer's output), so every rule
here has 0 params and its MACs come from the operand shapes. Every `Operation` subclass of
keras.src.ops.nn / core / image has a rule here or an entry in `EXCLUDED` with the reason
(tests/layers/test_ops_nn_coverage.py enumerates them from Keras).

FLOP work that is not a table row is marked with `unmodelled(...)`: the row keeps exact shapes
and params, its FLOPs are reported unknown with a warning naming the op (never a silent 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from cnncost.ir import Dim, Shape, TensorRef, batch_multiple
from cnncost.layers.base import (
    Call,
    LayerRule,
    Window,
    as_tuple,
    channel_axis,
    data_format,
    is_int,
    positive,
    product,
    set_axes,
    spatial_axes,
    window_output_length,
)
from cnncost.layers.conv import conv_rule, depthwise_rule, separable_rule, transpose_rule
from cnncost.layers.merging import broadcast
from cnncost.layers.pooling import adaptive_rule, pooling_rule

# -- operands ---------------------------------------------------------------------------------


def _literal_shape(value: Any, depth: int = 0) -> Shape | None:
    """Shape of a nested list literal (a constant tensor recorded in the config)."""
    if isinstance(value, (list, tuple)):
        if not value:
            return (0,)
        inner = _literal_shape(value[0], depth + 1) if depth < 16 else None
        return None if inner is None else (len(value), *inner)
    if isinstance(value, (int, float, bool)):
        return ()
    return None


def value_shape(call: Call, value: Any) -> Shape | None:
    """Shape of one call argument: a graph tensor, a recorded constant, a list or a scalar."""
    if isinstance(value, TensorRef):
        try:
            return call.input_shapes[call.node.inputs.index(value)]
        except (ValueError, IndexError):
            return None
    if isinstance(value, Mapping) and value.get("class_name") in ("__tensor__", "__numpy__"):
        config = value.get("config")
        return _literal_shape(config.get("value")) if isinstance(config, Mapping) else None
    return _literal_shape(value)


def operand_shape(call: Call, index: int, name: str) -> Shape | None:
    """The shape of positional argument `index` (or keyword `name`); None when absent."""
    args = call.node.arguments
    if index < len(args):
        return value_shape(call, args[index])
    if name in call.node.keyword_arguments:
        return value_shape(call, call.node.keyword_arguments[name])
    return None


def _known_operand(call: Call, index: int, name: str) -> tuple[int, ...]:
    shape = operand_shape(call, index, name)
    if shape is None or not all(is_int(d) for d in shape):
        raise call.fail(f"the shape of `{name}` must be known, got {shape}")
    return shape


def _with_config(call: Call, **extra: Any) -> Call:
    """The same call with more config fields (to reuse a layer rule's formulas)."""
    return Call(replace(call.node, config={**call.node.config, **extra}), call.input_shapes)


def _rank(call: Call) -> int:
    rank = len(call.shape) - 2
    if rank not in (1, 2, 3):
        raise call.fail(f"expects a batched 1-D, 2-D or 3-D input, got rank {len(call.shape)}")
    return rank


def _by_rank(make: Callable[[int], LayerRule], derive: Callable[[Call], Call]) -> LayerRule:
    """A rule that evaluates `make(rank)`'s functions on `derive(call)` (the layer formulas with
    the geometry read from the operand shapes)."""
    rules: dict[int, LayerRule] = {}

    def rule(call: Call) -> tuple[LayerRule, Call]:
        rank = _rank(call)
        if rank not in rules:
            rules[rank] = make(rank)
        return rules[rank], derive(call)

    def shapes(call: Call) -> tuple[Shape, ...]:
        r, c = rule(call)
        return r.output_shapes(c)

    def macs(call: Call, outputs) -> Dim:
        r, c = rule(call)
        return r.macs(c, outputs)

    def window(call: Call) -> Window | None:
        r, c = rule(call)
        return r.window(c) if r.window is not None else None

    def windowed(call: Call, outputs) -> Dim:
        r, c = rule(call)
        return (r.windowed_macs or r.macs)(c, outputs)

    return LayerRule(
        shapes, macs=macs, rf="window", window=window, windowed_macs=windowed, cost=None
    )


# -- convolutions: the layer formulas, geometry from the kernel operand -----------------------------


def _conv_call(call: Call) -> Call:
    # ops.conv(inputs, kernel): kernel (*k, C_in, C_out); Keras 3.15 refuses a kernel whose C_in
    # differs from the input's (no grouped ops.conv).
    kernel = _known_operand(call, 1, "kernel")
    cin = call.shape[channel_axis(len(call.shape), data_format(call))]
    if len(kernel) != len(call.shape) or (cin is not None and kernel[-2] != cin):
        raise call.fail(f"kernel shape {list(kernel)} does not fit the input {list(call.shape)}")
    return _with_config(call, kernel_size=list(kernel[:-2]), filters=kernel[-1])


def _depthwise_call(call: Call) -> Call:
    # ops.depthwise_conv(inputs, kernel): kernel (*k, C_in, depth_multiplier).
    kernel = _known_operand(call, 1, "kernel")
    if len(kernel) != len(call.shape):
        raise call.fail(f"kernel shape {list(kernel)} does not fit the input {list(call.shape)}")
    return _with_config(call, kernel_size=list(kernel[:-2]), depth_multiplier=kernel[-1])


def _separable_call(call: Call) -> Call:
    # depthwise kernel (*k, C_in, m), then pointwise kernel (1.., C_in * m, filters).
    depthwise = _known_operand(call, 1, "depthwise_kernel")
    pointwise = _known_operand(call, 2, "pointwise_kernel")
    if len(depthwise) != len(call.shape) or len(pointwise) != len(call.shape):
        raise call.fail(f"kernel shapes {list(depthwise)}, {list(pointwise)} do not fit the input")
    return _with_config(
        call,
        kernel_size=list(depthwise[:-2]),
        depth_multiplier=depthwise[-1],
        filters=pointwise[-1],
    )


def _transpose_call(call: Call) -> Call:
    # ops.conv_transpose(inputs, kernel): kernel (*k, C_out, C_in).
    kernel = _known_operand(call, 1, "kernel")
    if len(kernel) != len(call.shape):
        raise call.fail(f"kernel shape {list(kernel)} does not fit the input {list(call.shape)}")
    return _with_config(call, kernel_size=list(kernel[:-2]), filters=kernel[-2])


def _pool(cost: str) -> LayerRule:
    return replace(
        _by_rank(lambda r: pooling_rule(r, cost), lambda c: c), cost=cost, windowed_macs=None
    )


# -- activations --------------------------------------------------------------------------------

_ACTIVATIONS = {
    "Relu": "relu",
    "Relu6": "relu6",
    "Sigmoid": "sigmoid",
    "SparseSigmoid": "sparse_sigmoid",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "SoftShrink": "soft_shrink",
    "SparsePlus": "sparse_plus",
    "Silu": "silu",  # what keras.activations.swish(x) records
    "Squareplus": "squareplus",
    "LogSigmoid": "log_sigmoid",
    "LeakyRelu": "leaky_relu",
    "HardSigmoid": "hard_sigmoid",
    "HardSilu": "hard_silu",
    "Elu": "elu",
    "Selu": "selu",
    "Celu": "celu",
    "TanhShrink": "tanh_shrink",
    "HardTanh": "hard_tanh",
    "HardShrink": "hard_shrink",
    "Threshold": "threshold",
}
# Normalised over `axis`: every output of a slice depends on the whole slice.
_AXIS_ACTIVATIONS = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Sparsemax": "sparsemax"}


def axis_list(call: Call, key: str = "axis", default: Any = -1) -> tuple[int, ...]:
    """`axis` (an int, a list, or None for all axes) normalised to sorted non-negative axes."""
    rank = len(call.shape)
    value = call.config.get(key, default)
    axes = list(range(rank)) if value is None else [value] if is_int(value) else value
    if not isinstance(axes, (list, tuple)) or not all(
        is_int(a) and -rank <= a < rank for a in axes
    ):
        raise call.fail(f"{key} {value!r} is out of range for an input of rank {rank}")
    return tuple(sorted({a % rank for a in axes}))


def _glu(call: Call) -> tuple[Shape, ...]:
    # glu(x) = a * sigmoid(b), a and b the two halves of `axis`.
    (axis,) = axis_list(call)
    n = call.shape[axis]
    if is_int(n) and n % 2:
        raise call.fail(f"axis {axis} of size {n} cannot be split in two halves")
    return (set_axes(call.shape, {axis: None if n is None else n // 2}),)


# -- normalisation and statistics ----------------------------------------------------------------


def _moments(call: Call) -> tuple[Shape, ...]:
    # mean and variance over `axes`: two outputs, reduced axes kept as 1 with keepdims.
    axes = axis_list(call, "axes", None)
    if call.config.get("keepdims", False):
        shape = tuple(1 if i in axes else d for i, d in enumerate(call.shape))
    else:
        shape = tuple(d for i, d in enumerate(call.shape) if i not in axes)
    return (shape, shape)


def _dot_product_attention(call: Call) -> tuple[Shape, ...]:
    # query (B, T, N, H) or (B, T, H); key (B, S, K, H); value (B, S, K, Hv): out (B, T, N, Hv).
    query, key, value = (operand_shape(call, i, n) for i, n in enumerate(("query", "key", "value")))
    if None in (query, key, value) or not len(query) == len(key) == len(value) or len(query) < 3:
        raise call.fail("query, key and value must have the same rank (3 or 4)")
    return (tuple(query[:-1]) + (value[-1],),)


def _attention_dims(call: Call):
    query, key, value = (operand_shape(call, i, n) for i, n in enumerate(("query", "key", "value")))
    heads = query[2] if len(query) == 4 else 1
    return heads, query[1], key[1], query[-1], value[-1]


def _dot_product_attention_macs(call: Call, outputs) -> Dim:
    # scores q.k: N*T*S*H; weighted sum of values: N*T*S*Hv (grouped K < N heads are repeated).
    heads, t, s, h, hv = _attention_dims(call)
    scores = product([heads, t, s])
    return None if scores is None or None in (h, hv) else scores * (h + hv)


def _dot_product_attention_counts(call: Call, outputs) -> dict[str, Dim]:
    heads, t, s, _, _ = _attention_dims(call)
    scores = product([heads, t, s])
    counts: dict[str, Dim] = {"scale": scores, "softmax": scores}  # scores * scale, softmax
    if operand_shape(call, 3, "bias") is not None:
        counts["pointwise_add"] = scores  # + bias
    if call.config.get("attn_logits_soft_cap"):
        # soft cap: c * tanh(scores / c): a divide, a tanh, a multiply per score.
        counts["activation:tanh"] = scores
        counts["pointwise_multiply"] = 2 * scores if scores is not None else None
    return counts


# -- one-hot, depth/space, fold/unfold ------------------------------------------------------------


def _num_classes(call: Call) -> int:
    n = call.config.get("num_classes")
    if not is_int(n) or n <= 0:
        raise call.fail(f"num_classes must be a positive integer, not {n!r}")
    return n


def _insert_axis(call: Call, shape: Shape, size: int) -> Shape:
    axis = call.config.get("axis", -1)
    rank = len(shape) + 1
    if not is_int(axis) or not -rank <= axis < rank:
        raise call.fail(f"axis {axis!r} is out of range for an output of rank {rank}")
    axis %= rank
    return (*shape[:axis], size, *shape[axis:])


def _one_hot(call: Call) -> tuple[Shape, ...]:
    # a new axis of num_classes at `axis`
    return (_insert_axis(call, call.shape, _num_classes(call)),)


def _multi_hot(call: Call) -> tuple[Shape, ...]:
    # keras.ops.multi_hot (MultiHot.compute_output_spec, as the op computes): num_classes
    # inserted at `axis` (-1: appended), then axis 1 (the indices of one sample) is reduced
    # away; a rank-2 result keeps only its last axis.
    n = _num_classes(call)
    shape = list(call.shape)
    axis = call.config.get("axis", -1)
    if axis == -1:
        shape.append(n)
    elif is_int(axis) and 0 <= axis < len(shape):
        shape.insert(axis, n)
    else:
        raise call.fail(f"axis must be -1 or in [0, {len(shape)}), not {axis!r}")
    return ((shape[-1],) if len(shape) == 2 else (shape[0], *shape[2:]),)


def _block(call: Call) -> int:
    b = call.config.get("block_size")
    if not is_int(b) or b <= 0:
        raise call.fail(f"block_size must be a positive integer, not {b!r}")
    return b


def _depth_to_space(call: Call) -> tuple[Shape, ...]:
    # (H, W, C) -> (H*b, W*b, C/b^2)
    b, fmt_ = _block(call), data_format(call)
    shape = call.shape
    h, w = spatial_axes(4, fmt_)
    c = channel_axis(4, fmt_)
    if len(shape) != 4 or (is_int(shape[c]) and shape[c] % (b * b)):
        raise call.fail(f"needs a rank-4 input with channels divisible by {b * b}")
    scale = {h: shape[h], w: shape[w]}
    values = {a: None if n is None else n * b for a, n in scale.items()}
    values[c] = None if shape[c] is None else shape[c] // (b * b)
    return (set_axes(shape, values),)


def _space_to_depth(call: Call) -> tuple[Shape, ...]:
    # (H, W, C) -> (H/b, W/b, C*b^2)
    b, fmt_ = _block(call), data_format(call)
    shape = call.shape
    h, w = spatial_axes(4, fmt_)
    c = channel_axis(4, fmt_)
    if len(shape) != 4 or any(is_int(shape[a]) and shape[a] % b for a in (h, w)):
        raise call.fail(f"needs a rank-4 input with height and width divisible by {b}")
    values = {a: None if shape[a] is None else shape[a] // b for a in (h, w)}
    values[c] = None if shape[c] is None else shape[c] * b * b
    return (set_axes(shape, values),)


def _fold_geometry(call: Call):
    cfg = call.config
    kernel = positive(as_tuple(cfg.get("kernel_size"), 2, "kernel_size"), "kernel_size")
    dilation = positive(as_tuple(cfg.get("dilation", 1), 2, "dilation"), "dilation")
    padding = as_tuple(cfg.get("padding", 0), 2, "padding")
    stride = positive(as_tuple(cfg.get("stride", 1), 2, "stride"), "stride")
    if any(p < 0 for p in padding):
        raise call.fail(f"padding must be non-negative, got {list(padding)}")
    return kernel, dilation, padding, stride


def _blocks(n: Dim, k: int, d: int, p: int, s: int) -> Dim:
    return None if n is None else (n + 2 * p - d * (k - 1) - 1) // s + 1


def _unfold(call: Call) -> tuple[Shape, ...]:
    # (N, C, H, W) -> (N, C*kh*kw, L), L = number of sliding blocks (torch.nn.Unfold)
    shape = call.shape
    if len(shape) != 4:
        raise call.fail(f"expects (N, C, H, W), got rank {len(shape)}")
    kernel, dilation, padding, stride = _fold_geometry(call)
    blocks = product(
        [_blocks(shape[2 + i], kernel[i], dilation[i], padding[i], stride[i]) for i in (0, 1)]
    )
    channels = None if shape[1] is None else shape[1] * kernel[0] * kernel[1]
    return ((shape[0], channels, blocks),)


def _fold(call: Call) -> tuple[Shape, ...]:
    # (N, C*kh*kw, L) -> (N, C, *output_size), overlapping blocks summed (torch.nn.Fold)
    shape = call.shape
    kernel = _fold_geometry(call)[0]
    size = positive(as_tuple(call.config.get("output_size"), 2, "output_size"), "output_size")
    taps = kernel[0] * kernel[1]
    if len(shape) != 3 or (is_int(shape[1]) and shape[1] % taps):
        raise call.fail(f"expects (N, C*{taps}, L), got {list(shape)}")
    return ((shape[0], None if shape[1] is None else shape[1] // taps, *size),)


# -- core ----------------------------------------------------------------------------------------


def _slice(call: Call) -> tuple[Shape, ...]:
    # ops.slice(x, start_indices, shape): the output is `shape` (every axis, batch included).
    # A traced call may slice a first axis `k * batch` whole (`ops.shape(x)[0]` at the stand-in
    # batch sizes): that size is kept only where it is the input's own first axis.
    shape = call.config.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != len(call.shape):
        raise call.fail(f"shape {shape!r} must give every axis of the input {list(call.shape)}")
    first_ok = batch_multiple(shape[0]) is not None and shape[0] == call.shape[0]
    if not all(
        d is None or (is_int(d) and d >= 0) or (i == 0 and first_ok) for i, d in enumerate(shape)
    ):
        raise call.fail(f"shape {shape!r} must be non-negative integers")
    return (tuple(shape),)


def _scatter(call: Call) -> tuple[Shape, ...]:
    # ops.scatter(indices, values, shape): a new tensor of `shape`.
    shape = call.config.get("shape")
    if not isinstance(shape, (list, tuple)) or not all(
        d is None or (is_int(d) and d >= 0) for d in shape
    ):
        raise call.fail(f"shape must be non-negative integers, not {shape!r}")
    return (tuple(shape),)


def _first_operand(call: Call) -> tuple[Shape, ...]:
    shape = operand_shape(call, 0, "inputs")
    if shape is None:
        raise call.fail("the shape of the updated tensor is unknown")
    return (shape,)


def _scatter_update_counts(call: Call, outputs) -> dict[str, Dim]:
    # reduction None: updates are written (no arithmetic); "add"/"max"/...: one op per update.
    if call.config.get("reduction") is None:
        return {}
    updates = operand_shape(call, 2, "updates")
    count = None if updates is None else product(updates)
    if count is None:
        return {"scatter reduction (updates size unknown)": None}  # FLOPs unknown, a warning
    return {"pointwise_add": count}


_MAX_OUTPUTS = 2**16  # outputs of one call (unstack): a larger count is config corruption


def _unstack(call: Call) -> tuple[Shape, ...]:
    (axis,) = axis_list(call, "axis", 0)
    size = call.shape[axis]
    num = call.config.get("num") or size
    if not is_int(num) or num <= 0:
        raise call.fail(f"unstacking needs a known size on axis {axis}, got {size}")
    if is_int(size) and num != size:
        raise call.fail(f"num={num} differs from the size {size} of axis {axis}")
    if num > _MAX_OUTPUTS:
        raise call.fail(f"{num} outputs is above cnncost's cap of {_MAX_OUTPUTS} per call")
    rest = tuple(d for i, d in enumerate(call.shape) if i != axis)
    return (rest,) * num


# -- image ---------------------------------------------------------------------------------------


def _image_axes(call: Call) -> tuple[tuple[int, int], int]:
    shape = call.shape
    if len(shape) != 4:
        raise call.fail(f"expects a batch of images of rank 4, got shape {list(shape)}")
    fmt_ = data_format(call)
    return spatial_axes(4, fmt_), channel_axis(4, fmt_)


def _resize(call: Call) -> tuple[Shape, ...]:
    # ops.image.resize(images, size): the spatial axes become `size` (after an optional crop or
    # pad to the target aspect ratio, which does not change the output size).
    axes, _ = _image_axes(call)
    size = positive(as_tuple(call.config.get("size"), 2, "size"), "size")
    return (set_axes(call.shape, dict(zip(axes, size))),)


def _resize_counts(call: Call, outputs) -> dict[str, Dim]:
    # Keras's interpolation rows, as for the Resizing layer: taps per output element.
    # With antialias=True a downscale widens the kernel by the scale factor: not modelled.
    interpolation = str(call.config.get("interpolation", "bilinear")).lower()
    axes, _ = _image_axes(call)
    if call.config.get("antialias") and interpolation not in ("nearest", "area"):
        shrinks = [
            n is None or out < n for n, out in ((call.shape[a], outputs[0][a]) for a in axes)
        ]
        if any(shrinks):
            return {f"unmodelled:antialiased {interpolation} downscale": None}
    return {f"resizing:{interpolation}": None}


def _grayscale(call: Call) -> tuple[Shape, ...]:
    _, c = _image_axes(call)
    if is_int(call.shape[c]) and call.shape[c] != 3:
        raise call.fail(f"expects 3 channels, got {call.shape[c]}")
    return (set_axes(call.shape, {c: 1}),)


def _grayscale_macs(call: Call, outputs) -> Dim:
    # y = 0.2989 r + 0.587 g + 0.114 b: 3 MACs per pixel
    axes, _ = _image_axes(call)
    pixels = product([call.shape[a] for a in axes])
    return None if pixels is None else 3 * pixels


def _blur_kernel(call: Call) -> tuple[int, int]:
    return positive(as_tuple(call.config.get("kernel_size", 3), 2, "kernel_size"), "kernel_size")


def _blur_macs(call: Call, outputs) -> Dim:
    # a depthwise kh x kw convolution with "same" padding: kh*kw MACs per output element
    kh, kw = _blur_kernel(call)
    elements = product(outputs[0][1:])
    return None if elements is None else elements * kh * kw


def _blur_window(call: Call) -> Window:
    axes, _ = _image_axes(call)
    return Window(axes, _blur_kernel(call), (1, 1), (1, 1), "same")


def _sobel(call: Call) -> tuple[Shape, ...]:
    # tf.image.sobel_edges: (N, H, W, C, 2), the vertical and horizontal 3x3 responses
    _image_axes(call)
    return ((*call.shape, 2),)


def _sobel_macs(call: Call, outputs) -> Dim:
    elements = product(outputs[0][1:])  # two 3x3 depthwise filters: 9 MACs per output element
    return None if elements is None else 9 * elements


def _pad_crop(sign: int, prefix: str):
    """PadImages (+1) and CropImages (-1): per axis, `target` when given, else n +- (a + b)."""

    def shapes(call: Call) -> tuple[Shape, ...]:
        axes, _ = _image_axes(call)
        cfg = call.config
        values = {}
        names = (("top", "bottom", "target_height"), ("left", "right", "target_width"))
        for axis, (first, second, target_key) in zip(axes, names):
            a, b = cfg.get(f"{first}_{prefix}"), cfg.get(f"{second}_{prefix}")
            target = cfg.get(target_key)
            for value in (a, b, target):
                if value is not None and (not is_int(value) or value < 0):
                    raise call.fail(f"{prefix} sizes must be non-negative integers, not {value!r}")
            n = call.shape[axis]
            if target is not None:
                values[axis] = target
            elif n is None:
                values[axis] = None
            else:
                values[axis] = n + sign * ((a or 0) + (b or 0))
            if is_int(values[axis]) and values[axis] <= 0:
                raise call.fail(f"{prefix} leaves nothing on axis {axis}")
        return (set_axes(call.shape, values),)

    return shapes


def _extract_patches(call: Call) -> tuple[Shape, ...]:
    # (N, H, W, C) -> (N, H', W', kh*kw*C), H' as a conv of the patch size
    axes, c = _image_axes(call)
    cfg = call.config
    size = positive(as_tuple(cfg.get("size"), 2, "size"), "size")
    strides_value = cfg.get("strides")
    strides = size if strides_value is None else as_tuple(strides_value, 2, "strides")
    dilation = as_tuple(cfg.get("dilation_rate", 1), 2, "dilation_rate")
    padding = str(cfg.get("padding", "valid")).lower()
    values = {
        a: window_output_length(call.shape[a], k, s, d, padding, call, a)
        for a, k, s, d in zip(axes, size, positive(strides, "strides"), dilation)
    }
    channels = call.shape[c]
    values[c] = None if channels is None else channels * size[0] * size[1]
    return (set_axes(call.shape, values),)


def _extract_patches_macs(call: Call, outputs) -> Dim:
    # Keras computes the patches as a convolution with an identity kernel
    # (kh, kw, C, kh*kw*C) (keras/src/ops/image.py): kh*kw*C MACs per output element.
    _, c = _image_axes(call)
    size = positive(as_tuple(call.config.get("size"), 2, "size"), "size")
    elements = product(outputs[0][1:])
    channels = call.shape[c]
    return None if elements is None or channels is None else elements * size[0] * size[1] * channels


def _map_coordinates(call: Call) -> tuple[Shape, ...]:
    # the output has the shape of `coordinates` without its first axis (one per input axis)
    coordinates = operand_shape(call, 1, "coordinates")
    if coordinates is None or len(coordinates) < 1:
        raise call.fail("the shape of `coordinates` must be known")
    return (tuple(coordinates[1:]),)


def _ssim(call: Call) -> tuple[Shape, ...]:
    return ((call.shape[0],),)  # one similarity per image pair


def unmodelled(what: str):
    """element_counts that mark a row's FLOPs as not modelled (a warning, FLOPs unknown)."""
    key = f"unmodelled:{what}"
    return lambda call, outputs: {key: None}


def _same_as_images(call: Call) -> tuple[Shape, ...]:
    _image_axes(call)
    return (call.shape,)


def _polar(call: Call) -> tuple[Shape, ...]:
    return (broadcast(call, call.input_shapes),)


def _axis_rule(cost: str, key: str = "axis", shapes=None) -> LayerRule:
    return LayerRule(
        shapes or (lambda c: (c.shape,)),
        rf="reduce",
        cost=cost,
        reduced_axes=lambda c: axis_list(c, key),
    )


RULES: dict[str, LayerRule] = {
    # activations: elementwise, the table row of the same activation function
    **{f"ops.{name}": LayerRule(cost=f"activation:{fn}") for name, fn in _ACTIVATIONS.items()},
    **{f"ops.{name}": _axis_rule(f"activation:{fn}") for name, fn in _AXIS_ACTIVATIONS.items()},
    # ops.gelu defaults to approximate=True (the tanh form); the row follows the config
    "ops.Gelu": LayerRule(cost="gelu_op"),
    "ops.Glu": _axis_rule("activation:glu", shapes=_glu),
    # convolutions and pooling with the geometry of the operands (0 params: kernels are inputs)
    "ops.Conv": _by_rank(conv_rule, _conv_call),
    "ops.DepthwiseConv": _by_rank(depthwise_rule, _depthwise_call),
    "ops.SeparableConv": _by_rank(separable_rule, _separable_call),
    "ops.ConvTranspose": _by_rank(transpose_rule, _transpose_call),
    "ops.MaxPool": _pool("max_pool"),
    "ops.AveragePool": _pool("avg_pool"),
    "ops.AdaptiveAveragePool": adaptive_rule("avg"),
    "ops.AdaptiveMaxPool": adaptive_rule("max"),
    # normalisation with statistics over `axis` (given tensors: no weights)
    "ops.BatchNorm": LayerRule(cost="batch_norm_op"),
    "ops.LayerNorm": _axis_rule("layer_norm_op"),
    "ops.RMSNorm": _axis_rule("rms_norm"),
    "ops.Normalize": _axis_rule("unit_norm"),
    "ops.Moments": LayerRule(_moments, rf="reshape", cost="moments"),
    "ops.DotProductAttention": LayerRule(
        _dot_product_attention,
        macs=_dot_product_attention_macs,
        rf="reshape",
        element_counts=_dot_product_attention_counts,
        cost="attention",  # the roofline's matmul kind; FLOPs from element_counts
        weight_macs=lambda c, o: 0,
    ),
    # data movement: no arithmetic (one-hot writes ones and zeros)
    "ops.OneHot": LayerRule(_one_hot, rf="reshape"),
    "ops.MultiHot": LayerRule(_multi_hot, rf="reshape"),
    "ops.DepthToSpace": LayerRule(_depth_to_space, rf="reshape"),
    "ops.SpaceToDepth": LayerRule(_space_to_depth, rf="reshape"),
    "ops.Unfold": LayerRule(_unfold, rf="reshape"),
    # fold sums the overlapping blocks: n-1 adds per output over its n inputs
    "ops.Fold": LayerRule(_fold, rf="reshape", cost="reduce_sum"),
    "ops.Polar": LayerRule(_polar, rf="merge", cost="polar"),
    # core: casts and gradient stops pass values through; slices and scatters move data
    "ops.Cast": LayerRule(),
    "ops.ConvertToTensor": LayerRule(),
    "ops.StopGradient": LayerRule(),
    "ops.SaturateCast": LayerRule(cost="saturate_cast"),
    "ops.Slice": LayerRule(_slice, rf="reshape"),
    "ops.SliceUpdate": LayerRule(_first_operand, rf="reshape"),
    "ops.Scatter": LayerRule(_scatter, rf="reshape"),
    "ops.ScatterUpdate": LayerRule(
        _first_operand, rf="reshape", element_counts=_scatter_update_counts
    ),
    "ops.Unstack": LayerRule(_unstack, rf="reshape"),
    # image
    "ops.Resize": LayerRule(_resize, rf="reshape", element_counts=_resize_counts),
    "ops.RGBToGrayscale": LayerRule(_grayscale, macs=_grayscale_macs, weight_macs=lambda c, o: 0),
    "ops.RGBToHSV": LayerRule(_same_as_images, element_counts=unmodelled("rgb_to_hsv")),
    "ops.HSVToRGB": LayerRule(_same_as_images, element_counts=unmodelled("hsv_to_rgb")),
    "ops.GaussianBlur": LayerRule(
        _same_as_images,
        macs=_blur_macs,
        rf="window",
        window=_blur_window,
        weight_macs=lambda c, o: 0,
    ),
    "ops.SobelEdges": LayerRule(_sobel, macs=_sobel_macs, rf="reshape", weight_macs=lambda c, o: 0),
    "ops.ExtractPatches": LayerRule(
        _extract_patches, macs=_extract_patches_macs, rf="reshape", weight_macs=lambda c, o: 0
    ),
    "ops.PadImages": LayerRule(_pad_crop(+1, "padding"), rf="reshape"),
    "ops.CropImages": LayerRule(_pad_crop(-1, "cropping"), rf="reshape"),
    # sampling at computed coordinates: the work per output depends on the interpolation and
    # on coordinate arithmetic Keras does per call; FLOPs not modelled, shapes exact
    "ops.AffineTransform": LayerRule(
        _same_as_images, rf="reshape", element_counts=unmodelled("affine_transform")
    ),
    "ops.PerspectiveTransform": LayerRule(
        _same_as_images, rf="reshape", element_counts=unmodelled("perspective_transform")
    ),
    "ops.ElasticTransform": LayerRule(
        _same_as_images, rf="reshape", element_counts=unmodelled("elastic_transform")
    ),
    "ops.MapCoordinates": LayerRule(
        _map_coordinates, rf="reshape", element_counts=unmodelled("map_coordinates")
    ),
    "ops.SSIM": LayerRule(_ssim, rf="global", element_counts=unmodelled("ssim")),
}

_CALLABLE = (
    "takes Python functions, which Keras serializes as bytecode and cnncost never runs (as for "
    "Lambda): the row is unsupported, its output shape taken from the shapes the file records"
)
_UNSERIALIZABLE = (
    "Keras 3.15 cannot serialize it (get_config raises NotImplementedError for its Python "
    "functions), so no model config, saved or live, contains it"
)
_LOSS = (
    "a loss between targets and predictions, which Keras computes in compile()/fit() outside "
    "the model; in a graph its row is unsupported (output shape from the recorded shapes)"
)
EXCLUDED: dict[str, str] = {
    "ops.Cond": f"control flow (true_fn/false_fn): {_CALLABLE}",
    "ops.Switch": f"control flow (a list of branches): {_CALLABLE}",
    "ops.WhileLoop": f"a loop (cond/body): {_UNSERIALIZABLE}",
    "ops.ForiLoop": f"a loop (body_fun): {_UNSERIALIZABLE}",
    "ops.Scan": f"a loop over a function f: {_CALLABLE}",
    "ops.AssociativeScan": f"a scan of a function f: {_CALLABLE}",
    "ops.Map": f"maps a function f: {_CALLABLE}",
    "ops.VectorizedMap": f"vectorizes a function: {_CALLABLE}",
    "ops.BinaryCrossentropy": _LOSS,
    "ops.CategoricalCrossentropy": _LOSS,
    "ops.SparseCategoricalCrossentropy": _LOSS,
    "ops.CTCLoss": _LOSS,
    "ops.CTCDecode": (
        "greedy/beam-search decoding: data-dependent work and a sparse, variable-length result "
        "(only the batch-level sequence lengths are static)"
    ),
    "ops.PSNR": "reduces over the whole batch to one scalar: there is no per-sample cost",
    "ops.ScaleAndTranslate": _UNSERIALIZABLE.replace(" for its Python functions", ""),
}
