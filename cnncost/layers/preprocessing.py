"""Preprocessing layers that matter at inference: Rescaling, Resizing, CenterCrop."""

from __future__ import annotations

from cnncost.ir import Shape
from cnncost.layers.base import (
    Call,
    LayerRule,
    data_format,
    expect_rank,
    is_int,
    set_axes,
    spatial_axes,
)


def _to_size(call: Call) -> tuple[Shape, ...]:
    shape = expect_rank(call, 4)
    height, width = call.config.get("height"), call.config.get("width")
    if not all(is_int(v) and v > 0 for v in (height, width)):
        raise call.fail(f"height/width must be positive integers, not {height!r}/{width!r}")
    axes = spatial_axes(4, data_format(call))
    return (set_axes(shape, dict(zip(axes, (height, width)))),)


RULES = {
    "Rescaling": LayerRule(cost="rescaling"),
    # A resize is a spatial resampling the RF pass does not model exactly: marked "reshape".
    "Resizing": LayerRule(_to_size, rf="reshape", cost="resizing"),
    "CenterCrop": LayerRule(_to_size, rf="reshape"),
}
