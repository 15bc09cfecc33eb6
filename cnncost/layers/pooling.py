"""Max/average pooling of every rank, and global pooling (the RF becomes the whole input)."""

from __future__ import annotations

from cnncost.ir import Dim, Shape
from cnncost.layers.base import (
    Call,
    LayerRule,
    Window,
    as_tuple,
    channel_axis,
    data_format,
    expect_rank,
    is_int,
    is_size,
    positive,
    product,
    set_axes,
    spatial_axes,
    window_output_length,
)


def _geometry(call: Call, rank: int):
    cfg = call.config
    pool = positive(as_tuple(cfg.get("pool_size", 2), rank, "pool_size"), "pool_size")
    strides_value = cfg.get("strides")
    strides = pool if strides_value is None else as_tuple(strides_value, rank, "strides")
    positive(strides, "strides")
    padding = cfg.get("padding", "valid")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise call.fail(f"unknown padding {padding!r}")
    return pool, strides, padding.lower()


def pooling_rule(rank: int, cost: str) -> LayerRule:
    def shapes(call: Call) -> tuple[Shape, ...]:
        shape = expect_rank(call, rank + 2)
        pool, strides, padding = _geometry(call, rank)
        axes = spatial_axes(len(shape), data_format(call))
        values = {
            axis: window_output_length(shape[axis], k, s, 1, padding, call, axis)
            for axis, k, s in zip(axes, pool, strides)
        }
        return (set_axes(shape, values),)

    def window(call: Call) -> Window:
        pool, strides, padding = _geometry(call, rank)
        return Window(
            spatial_axes(rank + 2, data_format(call)), pool, strides, (1,) * rank, padding
        )

    return LayerRule(shapes, rf="window", window=window, cost=cost)


def global_pooling_rule(rank: int, cost: str) -> LayerRule:
    def shapes(call: Call) -> tuple[Shape, ...]:
        shape = expect_rank(call, rank + 2)
        fmt_ = data_format(call)
        axes = spatial_axes(len(shape), fmt_)
        if call.config.get("keepdims", False):
            return (set_axes(shape, {a: 1 for a in axes}),)
        return ((shape[0], shape[channel_axis(len(shape), fmt_)]),)

    return LayerRule(shapes, rf="global", cost=cost)


RULES = {}
for _r in (1, 2, 3):
    RULES[f"MaxPooling{_r}D"] = RULES[f"MaxPool{_r}D"] = pooling_rule(_r, "max_pool")
    RULES[f"AveragePooling{_r}D"] = RULES[f"AvgPool{_r}D"] = pooling_rule(_r, "avg_pool")
    RULES[f"GlobalAveragePooling{_r}D"] = RULES[f"GlobalAvgPool{_r}D"] = global_pooling_rule(
        _r, "global_avg_pool"
    )
    RULES[f"GlobalMaxPooling{_r}D"] = RULES[f"GlobalMaxPool{_r}D"] = global_pooling_rule(
        _r, "global_max_pool"
    )


# -- adaptive pooling: the AdaptiveAveragePooling/AdaptiveMaxPooling layers and the ops -----------


def _adaptive_rank(call: Call) -> int:
    rank = len(call.shape) - 2
    if rank not in (1, 2, 3):
        raise call.fail(f"expects a batched 1-D, 2-D or 3-D input, got rank {len(call.shape)}")
    return rank


def adaptive_bins(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch/Keras adaptive windows on one axis: bin i covers [floor(i*n/out), ceil((i+1)*n/out))."""
    return [(i * n // out, -((-(i + 1) * n) // out)) for i in range(out)]


def _output_size(call: Call, rank: int) -> tuple[int, ...]:
    return positive(as_tuple(call.config.get("output_size"), rank, "output_size"), "output_size")


def adaptive_shapes(call: Call) -> tuple[Shape, ...]:
    # (N, *output_size, C) channels_last, (N, C, *output_size) channels_first. (Keras 3.15's
    # symbolic ops.adaptive_*_pool keeps a spurious axis for channels_last; the op computes this.)
    rank = _adaptive_rank(call)
    axes = spatial_axes(rank + 2, data_format(call))
    return (set_axes(call.shape, dict(zip(axes, _output_size(call, rank)))),)


def adaptive_taps(call: Call) -> Dim:
    """Window taps summed over every output position of one channel: the product over axes of
    sum_i (end_i - start_i), the windows being separable."""
    rank = _adaptive_rank(call)
    total: Dim = 1
    for axis, out in zip(spatial_axes(rank + 2, data_format(call)), _output_size(call, rank)):
        n = call.shape[axis]
        if not is_int(n):
            return None
        total *= sum(end - start for start, end in adaptive_bins(n, out))
    return total


def _adaptive_counts(kind: str):
    def counts(call: Call, outputs) -> dict[str, Dim]:
        # Average: per window k-1 adds + 1 scale = k ops; max: k-1 compares. Per channel.
        taps = adaptive_taps(call)
        channels = call.shape[channel_axis(len(call.shape), data_format(call))]
        outs = product(outputs[0][1:])
        if taps is None or not is_size(channels) or outs is None:
            # not {"window_tap": None}: None would mean "one per output element"
            return {"window taps (input size unknown)": None}
        per_out = 0 if kind == "avg" else outs
        return {"window_tap": taps * channels - per_out}

    return counts


def adaptive_rule(kind: str) -> LayerRule:
    # Overlapping windows of varying size: the receptive field is not tracked.
    return LayerRule(adaptive_shapes, rf="reshape", element_counts=_adaptive_counts(kind))


for _r in (1, 2, 3):
    RULES[f"AdaptiveAveragePooling{_r}D"] = adaptive_rule("avg")
    RULES[f"AdaptiveMaxPooling{_r}D"] = adaptive_rule("max")
