"""keras.ops operations that appear as nodes of functional graphs (e.g. ConvNeXt's `Add`).

Registered under `ops.<ClassName>` so they never collide with the layer of the same name. Their
config holds the op's keyword arguments (`axis`, `newshape`, `axes`, `keepdims`); shapes here
include the batch axis, as the ops see it.
"""

from __future__ import annotations

from typing import Any

from cnncost.ir import Shape, batch_multiple, batch_symbol
from cnncost.layers.base import Call, LayerRule, is_int, is_symbolic, product
from cnncost.layers.merging import _concatenate
from cnncost.layers.ops_common import broadcast_all, operand_shapes

_ELEMENTWISE = {
    "Add": "add",
    "Subtract": "add",
    "Multiply": "multiply",
    "Divide": "divide",
    "TrueDivide": "divide",
    "Maximum": "maximum",
    "Minimum": "maximum",
}


def _elementwise(call: Call) -> tuple[Shape, ...]:
    """numpy broadcasting of the operands: tensors, number literals (shape ()) and constant
    tensors recorded in the config (`x + np.array([...])`)."""
    return (broadcast_all(call, operand_shapes(call)),)


def _reshape(call: Call) -> tuple[Shape, ...]:
    """`ops.reshape(x, newshape)`: newshape covers every axis, batch included; -1 is inferred.
    A None entry is a size only known at run time: `ops.reshape(x, (ops.shape(x)[0], -1, c))`
    traced symbolically writes the batch as None, and then the other axes reshape one sample;
    `k * batch` (`cnncost.ir.batch_symbol`) is a traced reshape that folds k rows per sample
    into the first axis (Swin's windows)."""
    target = call.config.get("newshape")
    if (
        not isinstance(target, (list, tuple))
        or not all(
            d is None or is_symbolic(d) or (is_int(d) and (d > 0 or d == -1)) for d in target
        )
        or list(target).count(-1) > 1
    ):
        raise call.fail(f"newshape must be positive integers and at most one -1, not {target!r}")
    shape = call.shape
    batched = _batched_reshape(call, shape, list(target))
    if batched is not None:
        return (batched,)
    if target and target[0] is None and shape and shape[0] is None and None not in target[1:]:
        return ((None, *_reshaped(call, shape[1:], target[1:])),)
    if None in target:
        return (tuple(None if d == -1 else d for d in target),)
    return (_reshaped(call, shape, target),)


def _batch_multiple(dim: Any) -> int | None:
    """k where the first axis holds k rows per sample: the batch itself (None) is 1, a traced
    `k * batch` is k; None for anything else (a fixed size)."""
    return 1 if dim is None else batch_multiple(dim)


def _batch_dim(multiple: int) -> Any:
    return None if multiple == 1 else multiple * batch_symbol()


def _batched_reshape(call: Call, shape: Shape, target: list) -> Shape | None:
    """A reshape between first axes that are multiples of the batch size (`k * batch`, None
    for k = 1), the rest known: sizes per sample are kept, so with n = k_in * (elements per
    input row), a -1 first axis becomes (n / rest of the target) * batch and a -1 elsewhere
    n / (k_out * the other sizes). None when this does not apply (the usual rules do)."""
    if not shape or not target:
        return None
    k_in = _batch_multiple(shape[0])
    per_row = product(shape[1:])
    if k_in is None or not is_int(per_row) or not all(is_int(d) for d in target[1:]):
        return None
    elements = k_in * per_row
    if target[0] == -1:
        rest = product(target[1:])
        if elements % rest:
            raise call.fail(f"cannot reshape {per_row} values per sample into {target[1:]}")
        return (_batch_dim(elements // rest), *target[1:])
    k_out = _batch_multiple(target[0])
    if k_out is None:
        return None
    known = product([d for d in target[1:] if d != -1]) * k_out
    if elements % known or (-1 not in target and elements != known):
        raise call.fail(f"cannot reshape {per_row} values per sample into {target[1:]}")
    return (target[0], *(elements // known if d == -1 else d for d in target[1:]))


def _reshaped(call: Call, shape: Shape, target) -> Shape:
    total = product(shape)
    if -1 not in target:
        if total is not None and is_int(total) and product(target) != total:
            raise call.fail(f"cannot reshape {total} values into {list(target)}")
        return tuple(target)
    rest = product([d for d in target if d != -1])
    missing = None if total is None else total // rest
    if is_int(total) and missing * rest != total:
        raise call.fail(f"cannot reshape {total} values into {list(target)}")
    return tuple(missing if d == -1 else d for d in target)


def _transpose(call: Call) -> tuple[Shape, ...]:
    rank = len(call.shape)
    axes = call.config.get("axes")
    if axes is None:
        return (tuple(reversed(call.shape)),)
    if not isinstance(axes, (list, tuple)) or sorted(a % rank for a in axes) != list(range(rank)):
        raise call.fail(f"axes must be a permutation of 0..{rank - 1}, not {axes!r}")
    return (tuple(call.shape[a] for a in axes),)


def _reduced_axes(call: Call) -> tuple[int, ...]:
    rank = len(call.shape)
    axis = call.config.get("axis")
    axes = list(range(rank)) if axis is None else [axis] if is_int(axis) else axis
    if not isinstance(axes, (list, tuple)) or not all(
        is_int(a) and -rank <= a < rank for a in axes
    ):
        raise call.fail(f"axis {axis!r} is out of range for an input of rank {rank}")
    return tuple(sorted({a % rank for a in axes}))


def _reduce(call: Call) -> tuple[Shape, ...]:
    """`ops.mean` / `ops.sum` / `ops.max` ...: the reduced axes become 1 or disappear."""
    reduced = _reduced_axes(call)
    if call.config.get("keepdims", False):
        return (tuple(1 if i in reduced else d for i, d in enumerate(call.shape)),)
    return (tuple(d for i, d in enumerate(call.shape) if i not in reduced),)


RULES = {
    **{
        f"ops.{name}": LayerRule(_elementwise, rf="merge", cost=cost)
        for name, cost in _ELEMENTWISE.items()
    },
    "ops.Concatenate": LayerRule(_concatenate, rf="merge"),
    # Data movement only: no arithmetic. The receptive field is not tracked through them.
    "ops.Reshape": LayerRule(_reshape, rf="reshape"),
    "ops.Transpose": LayerRule(_transpose, rf="reshape"),
    # Reductions: one add per reduced input element (a mean adds one scale per output). The
    # receptive field passes pointwise, with statistics over the reduced axes: a reduction over
    # the spatial axes (an SE gate's `ops.mean(x, axis=[1, 2], keepdims=True)`) is a global
    # gate, like GlobalAveragePooling2D.
    "ops.Mean": LayerRule(_reduce, rf="reduce", cost="reduce_mean", reduced_axes=_reduced_axes),
    "ops.Sum": LayerRule(_reduce, rf="reduce", cost="reduce_sum", reduced_axes=_reduced_axes),
    "ops.Max": LayerRule(_reduce, rf="reduce", cost="reduce_sum", reduced_axes=_reduced_axes),
    "ops.Min": LayerRule(_reduce, rf="reduce", cost="reduce_sum", reduced_axes=_reduced_axes),
}
