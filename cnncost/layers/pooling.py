"""Max/average pooling of every rank, and global pooling (the RF becomes the whole input)."""

from __future__ import annotations

from cnncost.ir import Shape
from cnncost.layers.base import (
    Call,
    LayerRule,
    Window,
    as_tuple,
    channel_axis,
    data_format,
    expect_rank,
    positive,
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
