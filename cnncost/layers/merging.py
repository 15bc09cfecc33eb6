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
