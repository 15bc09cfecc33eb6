"""Shared helpers of the keras.ops rule families (`ops_numpy`, `ops_math`).

An op's constructor arguments are in `node.config`; its call arguments in `node.arguments` /
`node.keyword_arguments`, with each keras tensor replaced by a `TensorRef` (lists become tuples).
The tensors' shapes (batch axis included) are `call.input_shapes`, in the same depth-first order
as the `TensorRef`s in the arguments, then the keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cnncost.ir import Dim, Shape, TensorRef
from cnncost.layers.base import Call, FieldError, LayerRule, is_int
from cnncost.layers.merging import broadcast

# A literal or a call argument that is not a tensor and not a number (a slice, a string).
NOT_ARRAY = object()


# How Keras serializes a constant tensor / numpy array passed to an op (`x + np.array(...)`).
CONSTANTS = ("__tensor__", "__numpy__")


def _literal_shape(value: Any, depth: int = 0) -> Shape | object:
    """numpy's shape of a literal: () for a number, nested lengths for regular lists, and the
    value's shape for a serialized constant tensor."""
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return ()
    if isinstance(value, Mapping) and value.get("class_name") in CONSTANTS:
        return _literal_shape(as_mapping(value.get("config")).get("value"), depth + 1)
    if isinstance(value, (list, tuple)) and depth < 16:
        if not value:
            return (0,)
        inner = [_literal_shape(v, depth + 1) for v in value]
        if any(s is NOT_ARRAY for s in inner) or len(set(inner)) != 1:
            return NOT_ARRAY
        return (len(value), *inner[0])
    return NOT_ARRAY


class _Arguments:
    """Positional and keyword call arguments with each tensor replaced by its shape."""

    def __init__(self, call: Call):
        shapes = iter(call.input_shapes)
        self.missing = False

        def swap(value: Any, depth: int = 0) -> Any:
            if isinstance(value, TensorRef):
                shape = next(shapes, None)
                if shape is None:
                    self.missing = True
                return _Tensor(shape)
            if isinstance(value, (list, tuple)) and depth < 16:
                return tuple(swap(v, depth + 1) for v in value)
            return value

        self.args = tuple(swap(a) for a in call.node.arguments)
        self.kwargs = {k: swap(v) for k, v in call.node.keyword_arguments.items()}
        if not call.node.arguments and not call.node.keyword_arguments:
            # A legacy config without the call structure: the tensors, in order.
            self.args = tuple(_Tensor(s) for s in call.input_shapes)

    def get(self, index: int, name: str, default: Any = None) -> Any:
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)


class _Tensor:
    __slots__ = ("shape",)

    def __init__(self, shape: Shape):
        self.shape = shape


def arguments(call: Call) -> _Arguments:
    return _Arguments(call)


def shape_of(value: Any) -> Shape | None:
    """The shape of an argument: a tensor's, a literal's; None when absent or not an array."""
    if isinstance(value, _Tensor):
        return value.shape
    if value is None:
        return None
    shape = _literal_shape(value)
    return None if shape is NOT_ARRAY else shape


def is_tensor(value: Any) -> bool:
    return isinstance(value, _Tensor)


def tensor_list(value: Any) -> list[Shape]:
    """The shapes of a list-of-tensors argument (Stack, Meshgrid ...)."""
    if isinstance(value, _Tensor):
        return [value.shape]
    if isinstance(value, tuple):
        return [s for v in value if (s := shape_of(v)) is not None]
    raise FieldError(f"expects a list of tensors, not {value!r}")


def operand_shapes(call: Call, count: int | None = None) -> list[Shape]:
    """Shapes of the positional operands (tensors and number literals), first `count` of them."""
    args = arguments(call).args
    if count is not None:
        args = args[:count]
    shapes = [s for a in args if (s := shape_of(a)) is not None]
    return shapes or list(call.input_shapes)


def broadcast_all(call: Call, shapes: Sequence[Shape]) -> Shape:
    if not shapes:
        raise call.fail("has no operands")
    return broadcast(call, tuple(tuple(s) for s in shapes))


def axis_index(call: Call, axis: Any, rank: int, what: str = "axis") -> int:
    if not is_int(axis) or not -rank <= axis < rank:
        raise call.fail(f"{what} {axis!r} is out of range for an input of rank {rank}")
    return axis % rank


def axes_list(call: Call, axis: Any, rank: int) -> tuple[int, ...]:
    """`axis` of a reduction: None (all axes), an int, or a list of ints."""
    if axis is None:
        return tuple(range(rank))
    items = [axis] if is_int(axis) else axis
    if not isinstance(items, (list, tuple)):
        raise call.fail(f"axis {axis!r} is not an int or a list of ints")
    return tuple(sorted({axis_index(call, a, rank) for a in items}))


def reduce_shape(shape: Shape, axes: Sequence[int], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def add(a: Dim, b: Dim) -> Dim:
    return None if a is None or b is None else a + b


def unknown_macs(call: Call, outputs) -> Dim:
    """The work depends on the backend's algorithm (sorting, decompositions, FFT sizes, data-
    dependent iterations): MACs and FLOPs are left unknown (the row is `partial`), never guessed."""
    return None


# The analysis names this reason for rows whose MACs a rule leaves unknown on purpose.
unknown_macs.unknown_reason = (  # type: ignore[attr-defined]
    "sorting, selection, matrix factorizations, FFTs and data-dependent iterations are not modelled"
)


def rule(shapes, rf: str = "reshape", cost: str | None = None, **extra) -> LayerRule:
    return LayerRule(shapes, rf=rf, cost=cost, **extra)


def config(call: Call, key: str, default: Any = None) -> Any:
    value = call.config.get(key, default)
    return default if value is None and default is not None else value


def int_list(call: Call, value: Any, what: str) -> list[int]:
    items = [value] if is_int(value) else value
    if not isinstance(items, (list, tuple)) or not all(is_int(v) for v in items):
        raise call.fail(f"{what} must be an int or a list of ints, not {value!r}")
    return list(items)


def size_list(call: Call, value: Any, what: str) -> list[int | None]:
    """`int_list`, where None is a size known only at run time: a traced call writes the batch
    size it computed with (`ops.shape(x)[0]`) as None."""
    items = [value] if is_int(value) or value is None else value
    if not isinstance(items, (list, tuple)) or not all(v is None or is_int(v) for v in items):
        raise call.fail(f"{what} must be an int or a list of ints, not {value!r}")
    return list(items)


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
