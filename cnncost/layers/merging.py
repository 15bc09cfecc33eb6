"""Merge layers: elementwise (with broadcasting) and concatenation."""

from __future__ import annotations

from cnncost.ir import Dim, Shape
from cnncost.layers.base import Call, LayerRule, is_int


def broadcast(call: Call, shapes: tuple[Shape, ...]) -> Shape:
    """NumPy broadcasting of shapes with unknown (None) dims, as Keras merges do."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out: list[Dim] = []
    for axis, dims in enumerate(zip(*padded)):
        sizes = {d for d in dims if d != 1}
        known_sizes = {d for d in sizes if d is not None}
        if len(known_sizes) > 1 and all(is_int(d) for d in known_sizes):
            raise call.fail(f"inputs cannot be broadcast on axis {axis}: {sorted(known_sizes)}")
        if not sizes:
            out.append(1)
        elif known_sizes:
            out.append(next(iter(known_sizes)))
        else:
            out.append(None)
    return tuple(out)


def _elementwise(call: Call) -> tuple[Shape, ...]:
    if not call.input_shapes:
        raise call.fail("has no inputs")
    return (broadcast(call, call.input_shapes),)


def _concatenate(call: Call) -> tuple[Shape, ...]:
    shapes = call.input_shapes
    if not shapes:
        raise call.fail("has no inputs")
    rank = len(shapes[0])
    axis = call.config.get("axis", -1)
    if not is_int(axis) or not -rank <= axis < rank or any(len(s) != rank for s in shapes):
        raise call.fail(f"cannot concatenate shapes {[list(s) for s in shapes]} on axis {axis!r}")
    axis %= rank
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i] for s in shapes]
        if i == axis:
            out.append(None if any(d is None for d in dims) else sum(dims))
        else:
            known_dims = {d for d in dims if d is not None}
            if len(known_dims) > 1:
                raise call.fail(f"inputs differ on axis {i}: {[list(s) for s in shapes]}")
            out.append(next(iter(known_dims)) if known_dims else None)
    return (tuple(out),)


RULES = {
    "Add": LayerRule(_elementwise, rf="merge", cost="add"),
    "Subtract": LayerRule(_elementwise, rf="merge", cost="add"),
    "Multiply": LayerRule(_elementwise, rf="merge", cost="multiply"),
    "Average": LayerRule(_elementwise, rf="merge", cost="average"),
    "Maximum": LayerRule(_elementwise, rf="merge", cost="maximum"),
    "Minimum": LayerRule(_elementwise, rf="merge", cost="maximum"),
    "Concatenate": LayerRule(_concatenate, rf="merge"),
}


# -- Dot: batched dot product of two inputs over `axes` ------------------------------------------------
# keras/src/layers/merging/dot.py: the output is x1's shape without axes[0], then x2's without
# axes[1] and without the batch axis; a lone batch axis gets a trailing 1. Each output element
# is a sum over the contracted axis: `n` MACs, n = x1.shape[axes[0]]. normalize=True first
# l2-normalises both inputs along their axes.


def _dot_axes(call: Call) -> tuple[int, int]:
    shapes = call.input_shapes
    if len(shapes) != 2:
        raise call.fail("needs exactly two inputs")
    axes = call.config.get("axes")
    values = [axes, axes] if is_int(axes) else axes
    if not isinstance(values, (list, tuple)) or len(values) != 2 or not all(map(is_int, values)):
        raise call.fail(f"axes must be an int or two ints, not {axes!r}")
    result = []
    for value, shape in zip(values, shapes):
        if not -len(shape) <= value < len(shape) or value % len(shape) == 0:
            raise call.fail(f"axis {value} is out of range for input shape {list(shape)}")
        result.append(value % len(shape))
    a, b = shapes[0][result[0]], shapes[1][result[1]]
    if is_int(a) and is_int(b) and a != b:
        raise call.fail(f"the contracted axes differ: {a} and {b}")
    return result[0], result[1]


def _dot_shapes(call: Call) -> tuple[Shape, ...]:
    a, b = _dot_axes(call)
    first = [d for i, d in enumerate(call.input_shapes[0]) if i != a]
    second = [d for i, d in enumerate(call.input_shapes[1]) if i != b][1:]
    out = first + second
    return (tuple(out + [1] if len(out) == 1 else out),)


def _dot_macs(call: Call, outputs) -> Dim:
    a, _ = _dot_axes(call)
    n = call.input_shapes[0][a]
    size = 1
    for d in outputs[0][1:]:
        size = None if d is None or size is None else size * d
    return None if n is None or size is None else size * n


RULES["Dot"] = LayerRule(
    _dot_shapes,
    macs=_dot_macs,
    rf="reshape",
    cost="dot",
    weight_macs=lambda c, o: 0,
)
