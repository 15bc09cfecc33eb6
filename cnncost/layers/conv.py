"""Convolutions of every rank: plain (with groups), depthwise, separable and transposed.

MACs per output element of a conv are `prod(kernel) * C_in/groups`; padded taps are counted
(as papers, torchvision and the TF profiler do). `--padding-aware` is handled by the compute pass
from the same window.
"""

from __future__ import annotations

from cnncost.ir import Shape, Weight
from cnncost.layers.base import (
    Call,
    LayerRule,
    Window,
    as_tuple,
    at_most_max_size,
    channel_axis,
    data_format,
    expect_rank,
    is_int,
    positive,
    product,
    set_axes,
    spatial_axes,
    weight,
    window_output_length,
)


def _geometry(
    call: Call, rank: int
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str]:
    cfg = call.config
    kernel = positive(as_tuple(cfg.get("kernel_size"), rank, "kernel_size"), "kernel_size")
    strides = positive(as_tuple(cfg.get("strides", 1), rank, "strides"), "strides")
    dilation = positive(
        as_tuple(cfg.get("dilation_rate", 1), rank, "dilation_rate"), "dilation_rate"
    )
    at_most_max_size(
        tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation)),
        "effective window dilation_rate*(kernel_size-1)+1",
    )
    padding = cfg.get("padding", "valid")
    if not isinstance(padding, str):
        raise call.fail(f"padding must be a string, not {padding!r}")
    padding = padding.lower()
    if padding == "causal" and rank != 1:
        raise call.fail("causal padding is only for 1-D convolutions")
    return kernel, strides, dilation, padding


def _no_strided_dilation(call: Call, rank: int) -> None:
    """Keras's Conv and ConvTranspose layers refuse strides > 1 together with dilation > 1
    (`BaseConv.__init__`); the model cannot exist, so there are no numbers to report."""
    _, strides, dilation, _ = _geometry(call, rank)
    if max(strides) > 1 and max(dilation) > 1:
        raise call.fail(
            f"strides > 1 is not supported together with dilation_rate > 1 (as in Keras); "
            f"got strides={list(strides)} and dilation_rate={list(dilation)}"
        )


def _in_channels(call: Call, rank: int) -> int:
    shape = expect_rank(call, rank + 2)
    channels = shape[channel_axis(len(shape), data_format(call))]
    if not is_int(channels):
        raise call.fail("the channel dimension of the input must be known")
    return channels


def _int_field(call: Call, key: str, default: int | None = None) -> int:
    value = call.config.get(key, default)
    if not is_int(value) or value <= 0:
        raise call.fail(f"{key} must be a positive integer, not {value!r}")
    return value


def _out_channels(call: Call, kind: str, rank: int) -> int:
    if kind == "depthwise":
        return _in_channels(call, rank) * _int_field(call, "depth_multiplier", 1)
    return _int_field(call, "filters")


def _conv_shape(call: Call, rank: int, out_channels: int) -> Shape:
    shape = expect_rank(call, rank + 2)
    fmt_ = data_format(call)
    kernel, strides, dilation, padding = _geometry(call, rank)
    axes = spatial_axes(len(shape), fmt_)
    values = {
        axis: window_output_length(shape[axis], k, s, d, padding, call, axis)
        for axis, k, s, d in zip(axes, kernel, strides, dilation)
    }
    values[channel_axis(len(shape), fmt_)] = out_channels
    return set_axes(shape, values)


def _window(call: Call, rank: int) -> Window:
    kernel, strides, dilation, padding = _geometry(call, rank)
    return Window(spatial_axes(rank + 2, data_format(call)), kernel, strides, dilation, padding)


def _bias(call: Call, size: int, trainable: bool = True) -> tuple[Weight, ...]:
    return (weight("bias", (size,), trainable),) if call.config.get("use_bias", True) else ()


def _spatial_out(call: Call, outputs: tuple[Shape, ...], rank: int):
    out = outputs[0]
    return product([out[a] for a in spatial_axes(len(out), data_format(call))])


# -- plain convolution (Conv1D/2D/3D, groups) ---------------------------------------------------


def conv_rule(rank: int) -> LayerRule:
    def groups(call: Call) -> int:
        g = _int_field(call, "groups", 1)
        cin = _in_channels(call, rank)
        filters = _int_field(call, "filters")
        if cin % g or filters % g:
            raise call.fail(f"groups={g} must divide input channels {cin} and filters {filters}")
        return g

    def shapes(call: Call) -> tuple[Shape, ...]:
        groups(call)
        _no_strided_dilation(call, rank)
        return (_conv_shape(call, rank, _int_field(call, "filters")),)

    def weights(call: Call) -> tuple[Weight, ...]:
        kernel = _geometry(call, rank)[0]
        cin, filters = _in_channels(call, rank), _int_field(call, "filters")
        return (
            weight("kernel", (*kernel, cin // groups(call), filters), True),
            *_bias(call, filters),
        )

    def macs(call: Call, outputs):
        kernel = _geometry(call, rank)[0]
        per_output = product(kernel) * (_in_channels(call, rank) // groups(call))
        spatial = _spatial_out(call, outputs, rank)
        return None if spatial is None else spatial * _int_field(call, "filters") * per_output

    return LayerRule(shapes, weights, macs, "window", lambda c: _window(c, rank), "conv")


# -- depthwise convolution ------------------------------------------------------------------------


def depthwise_rule(rank: int) -> LayerRule:
    def shapes(call: Call) -> tuple[Shape, ...]:
        return (_conv_shape(call, rank, _out_channels(call, "depthwise", rank)),)

    def weights(call: Call) -> tuple[Weight, ...]:
        kernel = _geometry(call, rank)[0]
        cin, mult = _in_channels(call, rank), _int_field(call, "depth_multiplier", 1)
        return (weight("kernel", (*kernel, cin, mult), True), *_bias(call, cin * mult))

    def macs(call: Call, outputs):
        kernel = _geometry(call, rank)[0]
        spatial = _spatial_out(call, outputs, rank)
        out_channels = _out_channels(call, "depthwise", rank)
        return None if spatial is None else spatial * out_channels * product(kernel)

    return LayerRule(shapes, weights, macs, "window", lambda c: _window(c, rank), "conv")


# -- separable convolution: depthwise, then a 1x1 pointwise conv -----------------------------------


def separable_rule(rank: int) -> LayerRule:
    def shapes(call: Call) -> tuple[Shape, ...]:
        return (_conv_shape(call, rank, _int_field(call, "filters")),)

    def weights(call: Call) -> tuple[Weight, ...]:
        kernel = _geometry(call, rank)[0]
        cin, mult = _in_channels(call, rank), _int_field(call, "depth_multiplier", 1)
        filters = _int_field(call, "filters")
        return (
            weight("depthwise_kernel", (*kernel, cin, mult), True),
            weight("pointwise_kernel", (*(1,) * rank, cin * mult, filters), True),
            *_bias(call, filters),
        )

    def macs(call: Call, outputs):
        kernel = _geometry(call, rank)[0]
        cin, mult = _in_channels(call, rank), _int_field(call, "depth_multiplier", 1)
        spatial = _spatial_out(call, outputs, rank)
        if spatial is None:
            return None
        depthwise = spatial * cin * mult * product(kernel)
        pointwise = spatial * cin * mult * _int_field(call, "filters")
        return depthwise + pointwise

    def depthwise_macs(call: Call, outputs):
        kernel = _geometry(call, rank)[0]
        cin, mult = _in_channels(call, rank), _int_field(call, "depth_multiplier", 1)
        spatial = _spatial_out(call, outputs, rank)
        return None if spatial is None else spatial * cin * mult * product(kernel)

    return LayerRule(
        shapes,
        weights,
        macs,
        "window",
        lambda c: _window(c, rank),
        "conv",
        windowed_macs=depthwise_macs,
    )


# -- transposed convolution -------------------------------------------------------------------------


def transpose_output_length(
    n, kernel: int, stride: int, dilation: int, padding: str, output_padding
):
    """Keras's `compute_conv_transpose_output_shape` for one axis (TF semantics)."""
    if n is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        if output_padding is None:
            output_padding = max(effective, stride) - effective
        return (n - 1) * stride + effective + output_padding
    if output_padding is None:
        return n * stride
    return (n - 1) * stride + effective - 2 * (effective // 2) + output_padding


def transpose_rule(rank: int) -> LayerRule:
    def output_padding(call: Call):
        value = call.config.get("output_padding")
        if value is None:
            return (None,) * rank
        padding = as_tuple(value, rank, "output_padding")
        strides = _geometry(call, rank)[1]
        if any(not 0 <= p < s for p, s in zip(padding, strides)):  # Keras's check, with >= 0
            raise call.fail(
                f"output_padding {list(padding)} must be >= 0 and less than strides {list(strides)}"
            )
        return padding

    def shapes(call: Call) -> tuple[Shape, ...]:
        shape = expect_rank(call, rank + 2)
        fmt_ = data_format(call)
        kernel, strides, dilation, padding = _geometry(call, rank)
        _no_strided_dilation(call, rank)
        if padding not in ("valid", "same"):
            raise call.fail(f"unknown padding {padding!r}")
        axes = spatial_axes(len(shape), fmt_)
        values = {
            axis: transpose_output_length(shape[axis], k, s, d, padding, op)
            for axis, k, s, d, op in zip(axes, kernel, strides, dilation, output_padding(call))
        }
        values[channel_axis(len(shape), fmt_)] = _int_field(call, "filters")
        return (set_axes(shape, values),)

    def weights(call: Call) -> tuple[Weight, ...]:
        kernel = _geometry(call, rank)[0]
        cin, filters = _in_channels(call, rank), _int_field(call, "filters")
        return (weight("kernel", (*kernel, filters, cin), True), *_bias(call, filters))

    def macs(call: Call, outputs):
        # Each input element is multiplied by every kernel tap into every output channel
        # (the scatter form; taps that land outside the cropped output are counted, as in TF).
        shape = call.shape
        kernel = _geometry(call, rank)[0]
        spatial_in = product([shape[a] for a in spatial_axes(len(shape), data_format(call))])
        if spatial_in is None:
            return None
        return spatial_in * _in_channels(call, rank) * _int_field(call, "filters") * product(kernel)

    def window(call: Call) -> Window:
        # TF runs the transposed conv as the gradient of a conv over the output (length N), so
        # its left padding is that conv's: "valid" 0; "same" total//2 with
        # total = max((n-1)*s + k_eff - N, 0), which is max(k_eff - s, 0) when output_padding is
        # None (N = n*s) and 2*(k_eff//2) - output_padding otherwise: never dependent on n.
        kernel, strides, dilation, padding = _geometry(call, rank)
        pairs = []
        for k, s, d, op in zip(kernel, strides, dilation, output_padding(call)):
            k_eff = d * (k - 1) + 1
            if padding != "same":
                total = 0
            elif op is None:
                total = max(k_eff - s, 0)
            else:
                total = max(2 * (k_eff // 2) - op, 0)
            pairs.append((total // 2, total - total // 2))
        return Window(
            spatial_axes(rank + 2, data_format(call)),
            kernel,
            strides,
            dilation,
            tuple(pairs),
            True,
        )

    return LayerRule(shapes, weights, macs, "window", window, "conv")


RULES = {
    **{f"Conv{r}D": conv_rule(r) for r in (1, 2, 3)},
    **{f"Convolution{r}D": conv_rule(r) for r in (1, 2, 3)},
    **{f"Conv{r}DTranspose": transpose_rule(r) for r in (1, 2, 3)},
    **{f"Convolution{r}DTranspose": transpose_rule(r) for r in (1, 2, 3)},
    "DepthwiseConv1D": depthwise_rule(1),
    "DepthwiseConv2D": depthwise_rule(2),
    "SeparableConv1D": separable_rule(1),
    "SeparableConv2D": separable_rule(2),
    "SeparableConvolution1D": separable_rule(1),
    "SeparableConvolution2D": separable_rule(2),
}
