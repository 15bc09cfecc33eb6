"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, padding, cropping, upsampling."""

from __future__ import annotations

from cnncost.ir import Shape
from cnncost.layers.base import (
    MAX_SIZE,
    Call,
    LayerRule,
    Window,
    as_tuple,
    data_format,
    expect_rank,
    is_int,
    positive,
    product,
    set_axes,
    spatial_axes,
)


def _flatten(call: Call) -> tuple[Shape, ...]:
    return ((call.shape[0], product(call.shape[1:])),)


def _reshape(call: Call) -> tuple[Shape, ...]:
    target = call.config.get("target_shape")
    if (
        not isinstance(target, (list, tuple))
        or not all(is_int(d) and (d > 0 or d == -1) for d in target)
        or list(target).count(-1) > 1
    ):
        raise call.fail(
            f"target_shape must be positive integers and at most one -1, not {target!r}"
        )
    total = product(call.shape[1:])
    if -1 in target:
        rest = product([d for d in target if d != -1])
        missing = None if total is None else total // rest
        if total is not None and missing * rest != total:
            raise call.fail(f"cannot reshape {total} values into {list(target)}")
        return ((call.shape[0], *(missing if d == -1 else d for d in target)),)
    if total is not None and is_int(total) and product(target) != total:
        raise call.fail(f"cannot reshape {total} values into {list(target)}")
    return ((call.shape[0], *target),)


def _permute(call: Call) -> tuple[Shape, ...]:
    dims = call.config.get("dims")
    rank = len(call.shape) - 1
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, rank + 1)):
        raise call.fail(f"dims must be a permutation of 1..{rank}, not {dims!r}")
    return ((call.shape[0], *(call.shape[d] for d in dims)),)


def _repeat_vector(call: Call) -> tuple[Shape, ...]:
    n = call.config.get("n")
    if not is_int(n) or n <= 0:
        raise call.fail(f"n must be a positive integer, not {n!r}")
    shape = expect_rank(call, 2)
    return ((shape[0], n, shape[1]),)


def _pairs(call: Call, key: str, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras's padding/cropping argument forms: n, (a, b, ...) symmetric, or ((l, r), ...)."""
    value = call.config.get(key, 1)
    if (
        rank == 1
        and isinstance(value, (list, tuple))
        and len(value) == 2
        and all(is_int(v) for v in value)
    ):
        pairs = (tuple(value),)
    elif is_int(value):
        pairs = ((value, value),) * rank
    elif isinstance(value, (list, tuple)) and len(value) == rank:
        pairs = tuple(
            (v, v)
            if is_int(v)
            else tuple(v)
            if isinstance(v, (list, tuple)) and len(v) == 2
            else None
            for v in value
        )
    else:
        pairs = None
    if pairs is None or any(p is None or not all(is_int(x) and x >= 0 for x in p) for p in pairs):
        raise call.fail(f"{key} must be non-negative ints, not {value!r}")
    if any(x > MAX_SIZE for p in pairs for x in p):
        raise call.fail(f"{key} {value!r} is above cnncost's cap of 2**31 - 1 = {MAX_SIZE}")
    return pairs


def _axes(call: Call, rank: int) -> tuple[int, ...]:
    return spatial_axes(rank + 2, data_format(call) if rank > 1 else "channels_last")


def padding_rule(rank: int, key: str, sign: int) -> LayerRule:
    """ZeroPadding (sign +1) and Cropping (sign -1) as a 1-tap window with explicit padding."""

    def shapes(call: Call) -> tuple[Shape, ...]:
        shape = expect_rank(call, rank + 2)
        values = {}
        for axis, (left, right) in zip(_axes(call, rank), _pairs(call, key, rank)):
            n = shape[axis]
            size = None if n is None else n + sign * (left + right)
            if is_int(size) and size <= 0:
                raise call.fail(
                    f"cropping {left}+{right} leaves nothing of size {n} on axis {axis}"
                )
            values[axis] = size
        return (set_axes(shape, values),)

    def window(call: Call) -> Window:
        pairs = tuple((sign * l, sign * r) for l, r in _pairs(call, key, rank))
        return Window(_axes(call, rank), (1,) * rank, (1,) * rank, (1,) * rank, pairs)

    return LayerRule(shapes, rf="window", window=window)


def upsampling_rule(rank: int) -> LayerRule:
    def size(call: Call) -> tuple[int, ...]:
        return positive(as_tuple(call.config.get("size", 2), rank, "size"), "size")

    def shapes(call: Call) -> tuple[Shape, ...]:
        shape = expect_rank(call, rank + 2)
        values = {
            axis: None if shape[axis] is None else shape[axis] * s
            for axis, s in zip(_axes(call, rank), size(call))
        }
        return (set_axes(shape, values),)

    def window(call: Call) -> Window | None:
        # "nearest": output o repeats input o // s (a transposed window of kernel s, stride s).
        # "bilinear" (half-pixel centres): o samples x = (o + 1/2)/s - 1/2 and reads the inputs
        # with |x - i| < 1, i.e. input i feeds o in s*i - s//2 .. s*i - s//2 + (2s - s%2) - 1.
        s = size(call)
        interpolation = call.config.get("interpolation", "nearest")
        if interpolation == "nearest":
            return Window(_axes(call, rank), s, s, (1,) * rank, ((0, 0),) * rank, True)
        if interpolation == "bilinear":
            kernel = tuple(2 * f - f % 2 for f in s)
            pairs = tuple((f // 2, f // 2) for f in s)
            return Window(_axes(call, rank), kernel, s, (1,) * rank, pairs, True)
        return None  # bicubic, lanczos, area: wider supports, not modelled

    return LayerRule(shapes, rf="window", window=window, cost="upsampling")


RULES = {
    "Flatten": LayerRule(_flatten, rf="global"),
    "Reshape": LayerRule(_reshape, rf="reshape"),
    "Permute": LayerRule(_permute, rf="reshape"),
    "RepeatVector": LayerRule(_repeat_vector, rf="reshape"),
}
for _r in (1, 2, 3):
    RULES[f"ZeroPadding{_r}D"] = padding_rule(_r, "padding", +1)
    RULES[f"Cropping{_r}D"] = padding_rule(_r, "cropping", -1)
    RULES[f"UpSampling{_r}D"] = upsampling_rule(_r)
