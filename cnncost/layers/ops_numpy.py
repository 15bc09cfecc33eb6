"""keras.ops.numpy operations (`keras.src.ops.numpy`), keyed `ops.<Class>`.

Families, each one table: unary elementwise (shape kept, one FLOP-table row per element),
binary/ternary elementwise (numpy broadcasting of tensors and number literals), reductions
(`axis`/`keepdims`), arg-reductions, cumulative ops, data movement (slicing, splitting, stacking,
padding, tiling...) and products (Matmul, Dot, Tensordot, Einsum, Inner, Outer, Kron with MACs).
`Add`, `Multiply`, `Concatenate`, `Reshape`, `Transpose`, `Mean`, `Sum`, `Max`, `Min` are in
`ops.py`. Every class of the module has a rule here or an entry in `EXCLUDED` (docs/ops.md).

Receptive field: elementwise ops are "pointwise" (one operand) or "merge" (several); reductions
are "reduce" (a reduction over spatial axes is a global gate, like GlobalAveragePooling); every
op that moves data is "select" when the axes it changes all come after the spatial ones
(channels sliced, split, stacked, padded: the receptive field passes), else "reshape" (not
tracked).
"""

from __future__ import annotations

import string
from typing import Any

from cnncost.ir import Dim, Shape
from cnncost.layers.base import Call, LayerRule, is_int, product
from cnncost.layers.ops_common import (
    add,
    arguments,
    as_mapping,
    axes_list,
    axis_index,
    broadcast_all,
    config,
    int_list,
    is_tensor,
    operand_shapes,
    reduce_shape,
    rule,
    shape_of,
    size_list,
    tensor_list,
    unknown_macs,
)

# -- unary elementwise: the output has the input's shape ------------------------------------------

# class -> FLOP-table row (`cnncost.conventions`); None: no arithmetic (a copy or a fill).
UNARY = {
    "Abs": "op:abs",
    "Absolute": "op:abs",
    "Fabs": "op:abs",
    "Negative": "op:negative",
    "Sign": "op:sign",
    "Signbit": "op:compare",
    "Floor": "op:round",
    "Ceil": "op:round",
    "Round": "op:round",
    "Trunc": "op:round",
    "Sqrt": "op:sqrt",
    "Square": "op:square",
    "Reciprocal": "op:reciprocal",
    "Cbrt": "op:cbrt",
    "Exp": "op:exp",
    "Exp2": "op:exp2",
    "Expm1": "op:exp",
    "Log": "op:log",
    "Log2": "op:log2",
    "Log10": "op:log2",
    "Log1p": "op:log1p",
    "Sin": "op:sin",
    "Cos": "op:sin",
    "Tan": "op:tan",
    "Sinh": "op:sin",
    "Cosh": "op:sin",
    "Tanh": "op:tan",
    "Arcsin": "op:arcsin",
    "Arccos": "op:arcsin",
    "Arctan": "op:arctan",
    "Arcsinh": "op:arcsin",
    "Arccosh": "op:arcsin",
    "Arctanh": "op:arctan",
    "Sinc": "op:sinc",
    "I0": "op:i0",
    "Deg2rad": "op:scale",
    "Rad2deg": "op:scale",
    "Angle": "op:angle",
    "Isfinite": "op:compare",
    "Isinf": "op:compare",
    "Isnan": "op:compare",
    "Isneginf": "op:compare",
    "Isposinf": "op:compare",
    "Isreal": "op:compare",
    "LogicalNot": "op:compare",
    "BitwiseInvert": "op:compare",
    "BitwiseNot": "op:compare",
    "NanToNum": "op:nan_to_num",
    "Clip": "op:clip",
    "Real": None,
    "Imag": None,
    "Conj": "op:negative",
    "Conjugate": "op:negative",
    "Copy": None,
    "Array": None,
    "ZerosLike": None,
    "OnesLike": None,
    "EmptyLike": None,
    "FullLike": None,
}

# -- binary elementwise: numpy broadcasting of the two operands -------------------------------------

BINARY = {
    "Power": "op:power",
    "Arctan2": "op:arctan2",
    "Hypot": "op:hypot",
    "FloorDivide": "op:floor_divide",
    "Mod": "op:mod",
    "Fmod": "op:mod",
    "DivideNoNan": "op:divide_no_nan",
    "Fmax": "op:compare",
    "Fmin": "op:compare",
    "Equal": "op:compare",
    "NotEqual": "op:compare",
    "Greater": "op:compare",
    "GreaterEqual": "op:compare",
    "Less": "op:compare",
    "LessEqual": "op:compare",
    "LogicalAnd": "op:compare",
    "LogicalOr": "op:compare",
    "LogicalXor": "op:compare",
    "BitwiseAnd": "op:compare",
    "BitwiseOr": "op:compare",
    "BitwiseXor": "op:compare",
    "BitwiseLeftShift": "op:compare",
    "BitwiseRightShift": "op:compare",
    "LeftShift": "op:compare",
    "RightShift": "op:compare",
    "Heaviside": "op:heaviside",
    "Ldexp": "op:ldexp",
    "Logaddexp": "op:logaddexp",
    "Logaddexp2": "op:logaddexp2",
    "Nextafter": "op:compare",
    "Isclose": "op:isclose",
    # gcd/lcm run Euclid's algorithm: the number of steps depends on the values (see _GCD).
}


def _unary(call: Call) -> tuple[Shape, ...]:
    return (call.shape,)


def _binary(call: Call) -> tuple[Shape, ...]:
    """numpy broadcasting of the two operands (a number literal is shape ())."""
    return (broadcast_all(call, operand_shapes(call, 2)),)


def _where(call: Call) -> tuple[Shape, ...]:
    """`where(condition, x1, x2)`: broadcast of the three; `where(condition)` alone is nonzero()."""
    args = arguments(call)
    x1, x2 = args.get(1, "x1"), args.get(2, "x2")
    if x1 is None and x2 is None:
        raise call.fail("where(condition) without x1/x2 has a data-dependent shape (nonzero)")
    shapes = [shape_of(args.get(0, "condition")), shape_of(x1), shape_of(x2)]
    return (broadcast_all(call, [s for s in shapes if s is not None]),)


def _select(call: Call) -> tuple[Shape, ...]:
    """`select(condlist, choicelist, default)`: Keras gives the first choice's shape."""
    choices = tensor_list(arguments(call).get(1, "choicelist"))
    return (tuple(choices[0]),)


def _full(call: Call) -> tuple[Shape, ...]:
    """`full(shape, fill_value)`: the configured shape."""
    shape = config(call, "shape")
    return (tuple(int_list(call, shape, "shape")),)


# -- reductions ------------------------------------------------------------------------------------


def _reduced(call: Call) -> tuple[int, ...]:
    return axes_list(call, call.config.get("axis"), len(call.shape))


def _reduce(call: Call) -> tuple[Shape, ...]:
    """Reduced axes become 1 (`keepdims`) or disappear; axis None reduces every axis."""
    return (reduce_shape(call.shape, _reduced(call), bool(call.config.get("keepdims", False))),)


def _count_nonzero(call: Call) -> tuple[Shape, ...]:
    return (reduce_shape(call.shape, _reduced(call), False),)


def _quantile(call: Call) -> tuple[Shape, ...]:
    """`quantile(x, q)`: the reduced shape, with q's length in front when q is a vector."""
    out = _reduce(call)[0]
    q = shape_of(arguments(call).get(1, "q"))
    if q:
        return ((q[0], *out),)
    return (out,)


def _average(call: Call) -> tuple[Shape, ...]:
    axis = call.config.get("axis")
    rank = len(call.shape)
    if axis is None:
        return ((),)
    return (reduce_shape(call.shape, (axis_index(call, axis, rank),), False),)


def _average_counts(call: Call, outputs) -> dict[str, Dim]:
    """Unweighted: a mean. Weighted: x * w (n), sum (n - 1), sum of w (n - 1), divide (1): 3n - 1
    per output over its n elements (x's elements only: the weights' are not extra work)."""
    if arguments(call).get(1, "weights") is None:
        return {"reduce_mean": None}
    inputs, out = product(call.shape[1:]), product(outputs[0][1:]) if outputs[0] else 1
    return {"op:flop": None if inputs is None or out is None else 3 * inputs - out}


def _average_axes(call: Call) -> tuple[int, ...]:
    axis = call.config.get("axis")
    return axes_list(call, axis, len(call.shape))


def _allclose_counts(call: Call, outputs) -> dict[str, Dim]:
    """isclose (6 FLOPs) per element of one sample, and one `and` to fold it in: 7 each."""
    elements = product(broadcast_all(call, operand_shapes(call, 2))[1:])
    return {"op:flop": None if elements is None else 7 * elements}


def _trace(call: Call) -> tuple[Shape, ...]:
    """Sum over the diagonal of (axis1, axis2): both axes disappear."""
    rank = len(call.shape)
    a1 = axis_index(call, call.config.get("axis1", 0), rank, "axis1")
    a2 = axis_index(call, call.config.get("axis2", 1), rank, "axis2")
    if a1 == a2:
        raise call.fail("axis1 and axis2 must differ")
    return (tuple(d for i, d in enumerate(call.shape) if i not in (a1, a2)),)


def _diagonal_length(call: Call, n: Dim, m: Dim, offset: int) -> Dim:
    if not (is_int(n) and is_int(m)):
        return None
    remaining = m - offset if offset > 0 else n + offset
    return max(0, min(remaining, min(n, m)))


def _trace_counts(call: Call, outputs) -> dict[str, Dim]:
    """(d - 1) adds per output over the d diagonal elements."""
    rank = len(call.shape)
    a1 = axis_index(call, call.config.get("axis1", 0), rank)
    a2 = axis_index(call, call.config.get("axis2", 1), rank)
    offset = call.config.get("offset", 0)
    d = _diagonal_length(call, call.shape[a1], call.shape[a2], offset)
    out = product(outputs[0][1:]) if outputs[0] else 1
    return {"op:flop": None if d is None or out is None else out * max(d - 1, 0)}


def _trapezoid(call: Call) -> tuple[Shape, ...]:
    rank = len(call.shape)
    axis = axis_index(call, call.config.get("axis", -1), rank)
    return (tuple(d for i, d in enumerate(call.shape) if i != axis),)


def _trapezoid_counts(call: Call, outputs) -> dict[str, Dim]:
    """dx * sum((y[1:] + y[:-1]) / 2): n-1 adds, n-1 halvings, n-2 adds, 1 scale per output."""
    rank = len(call.shape)
    n = call.shape[axis_index(call, call.config.get("axis", -1), rank)]
    out = product(outputs[0][1:]) if outputs[0] else 1
    if not is_int(n) or out is None:
        return {"op:flop": None}
    return {"op:flop": out * (3 * (n - 1))}


# -- cumulative ------------------------------------------------------------------------------------


def _cumulative(call: Call) -> tuple[Shape, ...]:
    """Cumulative sums/products: same shape; axis None flattens first."""
    axis = call.config.get("axis")
    if axis is None:
        return ((product(call.shape),),)
    axis_index(call, axis, len(call.shape))
    return (call.shape,)


def _line_work(call: Call, outputs) -> tuple[Dim, Dim]:
    """(elements, lines) of one sample: a line is one run along the axis. axis None scans the
    whole flattened batch as one line: n - 1 adds for n elements, so one add per element of a
    sample (lines 0)."""
    elements = product(call.shape[1:])
    axis = call.config.get("axis")
    if axis is None:
        return elements, 0
    n = call.shape[axis_index(call, axis, len(call.shape))]
    if elements is None or not is_int(n) or n == 0:
        return None, None
    return elements, (elements // n if axis % len(call.shape) else 0)


def _cumulative_counts(call: Call, outputs) -> dict[str, Dim]:
    """n - 1 adds (multiplies) per line of n."""
    elements, lines = _line_work(call, outputs)
    return {"op:flop": None if elements is None else elements - lines}


def _nan_cumulative_counts(call: Call, outputs) -> dict[str, Dim]:
    """isnan and select per element, then n - 1 adds (multiplies) per line."""
    elements, lines = _line_work(call, outputs)
    return {"op:flop": None if elements is None else 3 * elements - lines}


# -- data movement ---------------------------------------------------------------------------------


def _slice_length(call: Call, length: Dim, item: dict) -> Dim:
    cfg = as_mapping(item.get("config"))
    start, stop, step = cfg.get("start"), cfg.get("stop"), cfg.get("step")
    for v in (start, stop, step):
        if v is not None and not is_int(v):
            raise call.fail(f"slice bounds must be ints, not {v!r} (tensor bounds are not static)")
    if step == 0:
        raise call.fail("slice step cannot be zero")
    if is_int(length):
        return len(range(*slice(start, stop, step).indices(length)))
    if start is None and stop is None and step in (None, 1):
        return length  # the whole axis, of any (unknown or symbolic) size
    if length is not None and (step or 1) > 0 and (start or 0) >= 0 and (stop is None or stop < 0):
        # A symbolic size (assumed large enough, as for a valid convolution): both bounds are
        # offsets from the ends, so the length is exact: ceil((n + stop - start) / step).
        span = length + (stop or 0) - (start or 0)
        return (span + (step or 1) - 1) // (step or 1)
    return None


def _get_item(call: Call) -> tuple[Shape, ...]:
    """`x[key]` (Keras's GetItem): ints drop an axis, slices keep it (numpy's length),
    None adds an axis of 1, one Ellipsis stands for the axes not named (implicit at the end)."""
    key = arguments(call).get(1, "key")
    items = list(key) if isinstance(key, tuple) else [key]

    def kind(item: Any) -> str:
        if isinstance(item, dict):
            return str(item.get("class_name"))
        if item is None:
            return "newaxis"
        if is_int(item):
            return "int"
        if is_tensor(item):
            raise call.fail("indexing with a tensor is not static (use ops.take)")
        raise call.fail(f"unsupported index {item!r}")

    kinds = [kind(item) for item in items]
    if any(k not in ("int", "newaxis", "__slice__", "__ellipsis__") for k in kinds):
        raise call.fail(f"unsupported index in {key!r}")
    if kinds.count("__ellipsis__") > 1:
        raise call.fail("at most one Ellipsis in an index")
    if "__ellipsis__" not in kinds:
        items.append({"class_name": "__ellipsis__"})
        kinds.append("__ellipsis__")
    remaining = list(call.shape)
    out: list[Dim] = []
    for position, (item, k) in enumerate(zip(items, kinds)):
        if k == "__ellipsis__":
            rest = kinds[position + 1 :]
            needed = len(rest) - rest.count("newaxis")
            consumed = len(remaining) - needed
            if consumed < 0:
                raise call.fail(f"too many indices for shape {list(call.shape)}")
            out += remaining[:consumed]
            remaining = remaining[consumed:]
        elif k == "newaxis":
            out.append(1)
        else:
            if not remaining:
                raise call.fail(f"too many indices for shape {list(call.shape)}")
            length = remaining.pop(0)
            if k == "int":
                if is_int(length) and not -length <= item < length:
                    raise call.fail(f"index {item} is out of bounds for an axis of {length}")
            else:
                out.append(_slice_length(call, length, item))
    return (tuple(out),)


def _sections(call: Call, n: Dim, value: Any, exact: bool) -> list[Dim]:
    """Lengths of the pieces of an axis of `n` cut by `indices_or_sections`."""
    if is_int(value):
        if value <= 0:
            raise call.fail(f"cannot split into {value} sections")
        if not is_int(n):
            # An unknown length stays unknown; a symbolic one splits evenly (Split requires it).
            return [n // value if n is not None and exact else None] * value
        if exact and n % value:
            raise call.fail(f"an axis of {n} does not split into {value} equal sections")
        # numpy.array_split: the first n % value pieces are one longer.
        return [n // value + (1 if i < n % value else 0) for i in range(value)]
    points = int_list(call, value, "indices_or_sections")
    if not is_int(n):
        return [None] * (len(points) + 1)
    bounds = [min(max(p if p >= 0 else p + n, 0), n) for p in points]
    edges = [0, *bounds, n]
    return [max(b - a, 0) for a, b in zip(edges, edges[1:])]


def _split_on(call: Call, axis: int, exact: bool = True) -> tuple[Shape, ...]:
    shape = call.shape
    axis = axis_index(call, axis, len(shape))
    pieces = _sections(call, shape[axis], call.config.get("indices_or_sections"), exact)
    return tuple(tuple(p if i == axis else d for i, d in enumerate(shape)) for p in pieces)


def _split(call: Call) -> tuple[Shape, ...]:
    return _split_on(call, call.config.get("axis", 0))


def _array_split(call: Call) -> tuple[Shape, ...]:
    return _split_on(call, call.config.get("axis", 0), exact=False)


def _hsplit(call: Call) -> tuple[Shape, ...]:
    return _split_on(call, 0 if len(call.shape) == 1 else 1)


def _vsplit(call: Call) -> tuple[Shape, ...]:
    return _split_on(call, 0)


def _dsplit(call: Call) -> tuple[Shape, ...]:
    if len(call.shape) < 3:
        raise call.fail("dsplit needs an input of rank 3 or more")
    return _split_on(call, 2)


def _same_except(call: Call, shapes: list[Shape], axis: int | None) -> Shape:
    """The common shape of `shapes` (an unknown dim agrees with anything), ignoring `axis`."""
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise call.fail(f"inputs have different ranks: {[list(s) for s in shapes]}")
    out: list[Dim] = []
    for i in range(rank):
        dims = {s[i] for s in shapes if s[i] is not None}
        if i != axis and len(dims) > 1:
            raise call.fail(f"inputs differ on axis {i}: {[list(s) for s in shapes]}")
        out.append(next(iter(dims)) if len(dims) == 1 else None)
    return tuple(out)


def _stack(call: Call) -> tuple[Shape, ...]:
    """A new axis of len(xs) at `axis`."""
    shapes = tensor_list(arguments(call).get(0, "x"))
    common = _same_except(call, shapes, None)
    axis = axis_index(call, call.config.get("axis", 0), len(common) + 1)
    return (tuple(common[:axis]) + (len(shapes),) + tuple(common[axis:]),)


def _join(call: Call, shapes: list[Shape], axis: int) -> Shape:
    axis = axis_index(call, axis, len(shapes[0]))
    common = _same_except(call, shapes, axis)
    total: Dim = 0
    for s in shapes:
        total = add(total, s[axis])
    return tuple(total if i == axis else d for i, d in enumerate(common))


def _at_least(shape: Shape, rank: int) -> Shape:
    """numpy's atleast_2d/atleast_3d: (n,) -> (1, n), (n,) -> (1, n, 1), (a, b) -> (a, b, 1)."""
    if len(shape) >= rank:
        return shape
    if rank == 2:
        return (1,) * (2 - len(shape)) + tuple(shape)
    if len(shape) == 0:
        return (1, 1, 1)
    if len(shape) == 1:
        return (1, shape[0], 1)
    return (*shape, 1)


def _hstack(call: Call) -> tuple[Shape, ...]:
    shapes = tensor_list(arguments(call).get(0, "xs"))
    return (_join(call, shapes, 0 if len(shapes[0]) == 1 else 1),)


def _vstack(call: Call) -> tuple[Shape, ...]:
    shapes = [_at_least(s, 2) for s in tensor_list(arguments(call).get(0, "xs"))]
    return (_join(call, shapes, 0),)


def _dstack(call: Call) -> tuple[Shape, ...]:
    shapes = [_at_least(s, 3) for s in tensor_list(arguments(call).get(0, "xs"))]
    return (_join(call, shapes, 2),)


def _append(call: Call) -> tuple[Shape, ...]:
    shapes = operand_shapes(call, 2)
    axis = call.config.get("axis")
    if axis is None:
        total = add(product(shapes[0]), product(shapes[-1]))
        return ((total,),)
    return (_join(call, shapes, axis),)


def _expand_dims(call: Call) -> tuple[Shape, ...]:
    """New axes of 1 at each `axis` (counted in the output's rank)."""
    axes = int_list(call, call.config.get("axis"), "axis")
    rank = len(call.shape) + len(axes)
    positions = sorted({axis_index(call, a, rank) for a in axes})
    if len(positions) != len(axes):
        raise call.fail(f"repeated axis in {axes}")
    dims = iter(call.shape)
    return (tuple(1 if i in positions else next(dims) for i in range(rank)),)


def _squeeze(call: Call) -> tuple[Shape, ...]:
    axis = call.config.get("axis")
    shape = call.shape
    if axis is None:
        return (tuple(d for d in shape if d != 1),)
    axes = {axis_index(call, a, len(shape)) for a in int_list(call, axis, "axis")}
    for a in axes:
        if shape[a] is not None and shape[a] != 1:
            raise call.fail(f"cannot squeeze axis {a} of size {shape[a]}")
    return (tuple(d for i, d in enumerate(shape) if i not in axes),)


def _pad_pairs(call: Call) -> list[tuple[int, int]]:
    """(before, after) per axis; a single pair or a single int applies to every axis (numpy's
    broadcasting of pad_width)."""
    width = call.config.get("pad_width")
    rank = len(call.shape)
    if is_int(width):
        pairs = [(width, width)] * rank
    elif isinstance(width, (list, tuple)) and len(width) == 1 and is_int(width[0]):
        pairs = [(width[0], width[0])] * rank
    elif isinstance(width, (list, tuple)) and len(width) == 1:
        pairs = [tuple(width[0])] * rank
    elif isinstance(width, (list, tuple)) and len(width) == 2 and all(is_int(w) for w in width):
        pairs = [tuple(width)] * rank
    elif isinstance(width, (list, tuple)) and len(width) == rank:
        pairs = [tuple(p) for p in width]
    else:
        raise call.fail(f"pad_width {width!r} does not match an input of rank {rank}")
    if any(len(p) != 2 or not all(is_int(v) and v >= 0 for v in p) for p in pairs):
        raise call.fail(f"pad_width must be non-negative (before, after) pairs, not {width!r}")
    return pairs


def _pad(call: Call) -> tuple[Shape, ...]:
    """`pad(x, pad_width)`: each axis grows by its (before, after)."""
    pairs = _pad_pairs(call)
    return (tuple(None if d is None else d + a + b for d, (a, b) in zip(call.shape, pairs)),)


def _tile(call: Call) -> tuple[Shape, ...]:
    repeats = size_list(call, call.config.get("repeats"), "repeats")
    shape = list(call.shape)
    if len(shape) > len(repeats):
        repeats = [1] * (len(shape) - len(repeats)) + repeats
    else:
        shape = [1] * (len(repeats) - len(shape)) + shape
    return (tuple(None if d is None or r is None else d * r for d, r in zip(shape, repeats)),)


def _repeat(call: Call) -> tuple[Shape, ...]:
    repeats = size_list(call, call.config.get("repeats"), "repeats")
    axis = call.config.get("axis")
    shape = list(call.shape)
    if None in repeats:  # a count known at run time (a traced batch size): that axis is unknown
        if axis is None:
            return ((None,),)
        shape[axis_index(call, axis, len(shape))] = None
        return (tuple(shape),)
    if axis is None:
        total = product(shape)
        if total is None:
            return ((None,),)
        if len(repeats) == 1:
            return ((total * repeats[0],),)
        if len(repeats) != total:
            raise call.fail(f"{len(repeats)} repeats for {total} elements")
        return ((sum(repeats),),)
    axis = axis_index(call, axis, len(shape))
    n = shape[axis]
    if n is None:
        return (tuple(shape),)
    if len(repeats) == 1:
        shape[axis] = n * repeats[0]
    elif len(repeats) != n:
        raise call.fail(f"{len(repeats)} repeats for an axis of {n}")
    else:
        shape[axis] = sum(repeats)
    return (tuple(shape),)


def _flip(call: Call) -> tuple[Shape, ...]:
    axis = call.config.get("axis")
    if axis is not None:
        for a in int_list(call, axis, "axis"):
            axis_index(call, a, len(call.shape))
    return (call.shape,)


def _roll(call: Call) -> tuple[Shape, ...]:
    return _flip(call)


def _swap(shape: Shape, a: int, b: int) -> Shape:
    out = list(shape)
    out[a], out[b] = out[b], out[a]
    return tuple(out)


def _swapaxes(call: Call) -> tuple[Shape, ...]:
    rank = len(call.shape)
    a = axis_index(call, call.config.get("axis1"), rank, "axis1")
    b = axis_index(call, call.config.get("axis2"), rank, "axis2")
    return (_swap(call.shape, a, b),)


def _rot90(call: Call) -> tuple[Shape, ...]:
    rank = len(call.shape)
    axes = call.config.get("axes", (0, 1))
    if rank < 2 or not isinstance(axes, (list, tuple)) or len(axes) != 2:
        raise call.fail(f"rot90 needs rank >= 2 and two axes, not {axes!r}")
    a, b = (axis_index(call, x, rank, "axes") for x in axes)
    if a == b:
        raise call.fail("rot90 axes must differ")
    k = call.config.get("k", 1)
    return (_swap(call.shape, a, b) if is_int(k) and k % 2 else call.shape,)


def _moveaxis(call: Call) -> tuple[Shape, ...]:
    rank = len(call.shape)
    source = [
        axis_index(call, a, rank) for a in int_list(call, call.config.get("source"), "source")
    ]
    dest = [
        axis_index(call, a, rank)
        for a in int_list(call, call.config.get("destination"), "destination")
    ]
    if len(source) != len(dest) or len(set(source)) != len(source) or len(set(dest)) != len(dest):
        raise call.fail("source and destination must be distinct axes of equal count")
    order = [i for i in range(rank) if i not in source]
    for d, s in sorted(zip(dest, source)):
        order.insert(d, s)
    return (tuple(call.shape[i] for i in order),)


def _broadcast_to(call: Call) -> tuple[Shape, ...]:
    target = tuple(size_list(call, call.config.get("shape"), "shape"))
    broadcast_all(call, [call.shape, target])
    return (target,)


def _ravel(call: Call) -> tuple[Shape, ...]:
    return ((product(call.shape),),)


def _take(call: Call) -> tuple[Shape, ...]:
    """`take(x, indices, axis)`: the indices' shape replaces the axis (or the whole flat x)."""
    indices = shape_of(arguments(call).get(1, "indices"))
    if indices is None:
        raise call.fail("indices must be a tensor or a list of ints")
    axis = call.config.get("axis")
    if axis is None:
        return (tuple(indices),)
    axis = axis_index(call, axis, len(call.shape))
    return (tuple(call.shape[:axis]) + tuple(indices) + tuple(call.shape[axis + 1 :]),)


def _take_along_axis(call: Call) -> tuple[Shape, ...]:
    """numpy broadcasting of x and indices on every axis except `axis`, which is the indices'."""
    indices = shape_of(arguments(call).get(1, "indices"))
    if indices is None:
        raise call.fail("indices must be a tensor")
    axis = call.config.get("axis")
    x = call.shape
    if axis is None:
        return ((indices[0],) if len(indices) == 1 else tuple(indices),)
    rank = len(x)
    if len(indices) != rank:
        raise call.fail(f"indices of rank {len(indices)} for an input of rank {rank}")
    axis = axis_index(call, axis, rank)
    x_rest = tuple(1 if i == axis else d for i, d in enumerate(x))
    i_rest = tuple(1 if i == axis else d for i, d in enumerate(indices))
    out = list(broadcast_all(call, [x_rest, i_rest]))
    out[axis] = indices[axis]
    return (tuple(out),)


def _diag(call: Call) -> tuple[Shape, ...]:
    k = call.config.get("k", 0)
    if not is_int(k):
        raise call.fail(f"k must be an int, not {k!r}")
    shape = call.shape
    if len(shape) == 1:
        n = None if shape[0] is None else shape[0] + abs(k)
        return ((n, n),)
    if len(shape) == 2:
        return ((_diagonal_length(call, shape[0], shape[1], k),),)
    raise call.fail(f"diag needs a 1-D or 2-D input, not shape {list(shape)}")


def _diagflat(call: Call) -> tuple[Shape, ...]:
    k = call.config.get("k", 0)
    if not is_int(k):
        raise call.fail(f"k must be an int, not {k!r}")
    total = product(call.shape)
    n = None if total is None else total + abs(k)
    return ((n, n),)


def _diagonal(call: Call) -> tuple[Shape, ...]:
    shape = call.shape
    rank = len(shape)
    if rank < 2:
        raise call.fail("diagonal needs an input of rank 2 or more")
    a1 = axis_index(call, call.config.get("axis1", 0), rank, "axis1")
    a2 = axis_index(call, call.config.get("axis2", 1), rank, "axis2")
    rest = tuple(d for i, d in enumerate(shape) if i not in (a1, a2))
    return (rest + (_diagonal_length(call, shape[a1], shape[a2], call.config.get("offset", 0)),),)


def _diff(call: Call) -> tuple[Shape, ...]:
    n = call.config.get("n", 1)
    axis = axis_index(call, call.config.get("axis", -1), len(call.shape))
    shape = list(call.shape)
    if shape[axis] is not None:
        shape[axis] = max(shape[axis] - n, 0)
    return (tuple(shape),)


def _diff_counts(call: Call, outputs) -> dict[str, Dim]:
    """n rounds of differences: round r makes one subtraction per element it outputs."""
    n = call.config.get("n", 1)
    axis = axis_index(call, call.config.get("axis", -1), len(call.shape))
    shape = list(call.shape)
    total: Dim = 0
    for r in range(1, n + 1):
        if shape[axis] is not None:
            shape[axis] = max(call.shape[axis] - r, 0)
        elements = product(shape[1:])
        total = None if total is None or elements is None else total + elements
    return {"op:flop": total}


def _tril(call: Call) -> tuple[Shape, ...]:
    if len(call.shape) < 2:
        raise call.fail("tril/triu need an input of rank 2 or more")
    return (call.shape,)


def _sort(call: Call) -> tuple[Shape, ...]:
    axis = call.config.get("axis", -1)
    if axis is None:
        return ((product(call.shape),),)
    axis_index(call, axis, len(call.shape))
    return (call.shape,)


def _argpartition(call: Call) -> tuple[Shape, ...]:
    axis = call.config.get("axis", -1)
    axis_index(call, axis, len(call.shape))
    return (call.shape,)


def _meshgrid(call: Call) -> tuple[Shape, ...]:
    shapes = operand_shapes(call)
    sizes = [product(s) if s else 1 for s in shapes]
    if call.config.get("indexing", "xy") == "xy" and len(sizes) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    return tuple(tuple(sizes) for _ in shapes)


def _vander(call: Call) -> tuple[Shape, ...]:
    if len(call.shape) != 1:
        raise call.fail("vander needs a 1-D input")
    n = call.config.get("N")
    return ((call.shape[0], call.shape[0] if n is None else n),)


def _vander_counts(call: Call, outputs) -> dict[str, Dim]:
    """Powers x**j by repeated multiplication: one multiply per output element."""
    return {"op:flop": product(outputs[0][1:])}


def _unravel_index(call: Call) -> tuple[Shape, ...]:
    dims = int_list(call, call.config.get("shape"), "shape")
    return tuple(call.shape for _ in dims)


def _digitize(call: Call) -> tuple[Shape, ...]:
    return (call.shape,)


def _searchsorted(call: Call) -> tuple[Shape, ...]:
    values = shape_of(arguments(call).get(1, "values"))
    if values is None:
        raise call.fail("values must be a tensor")
    return (tuple(values),)


def _isin(call: Call) -> tuple[Shape, ...]:
    return (call.shape,)


def _unique(call: Call) -> tuple[Shape, ...]:
    """Unique values (and, on request, first indices, inverse indices, counts). Their number
    is data-dependent unless `size` fixes it (padded or truncated): unknown (None) without it."""
    size = call.config.get("size")
    if size is not None and (not is_int(size) or size < 0):
        raise call.fail(f"size must be a non-negative int, not {size!r}")
    axis = call.config.get("axis")
    shape = call.shape
    if axis is None:
        values: Shape = (size,)
        inverse: Shape = shape
    else:
        a = axis_index(call, axis, len(shape))
        values = tuple(size if i == a else d for i, d in enumerate(shape))
        inverse = (shape[a],)
    outputs = [values]
    if call.config.get("return_index"):
        outputs.append((size,))
    if call.config.get("return_inverse"):
        outputs.append(inverse)
    if call.config.get("return_counts"):
        outputs.append((size,))
    return tuple(outputs)


def _slogdet(call: Call) -> tuple[Shape, ...]:
    """(sign, log|det|) of the trailing square matrices. Keras's symbolic sign is a scalar ()
    whatever the batch (its call returns one sign per matrix); the graph is built on it."""
    if len(call.shape) < 2:
        raise call.fail("slogdet needs matrices (rank 2 or more)")
    return ((), tuple(call.shape[:-2]))


def _histogram(call: Call) -> tuple[Shape, ...]:
    bins = call.config.get("bins", 10)
    if not is_int(bins) or bins < 0:
        raise call.fail(f"bins must be a non-negative int, not {bins!r}")
    return ((bins,), (bins + 1,))


def _linspace(call: Call) -> tuple[Shape, ...]:
    """`linspace(start, stop, num, axis)`: the broadcast of start and stop, with num at axis;
    `retstep=True` adds the step (the broadcast shape)."""
    args = arguments(call)
    start, stop = shape_of(args.get(0, "start")), shape_of(args.get(1, "stop"))
    base = broadcast_all(call, [s for s in (start, stop) if s is not None])
    num = call.config.get("num", 50)
    if not is_int(num) or num < 0:
        raise call.fail(f"num must be a non-negative int, not {num!r}")
    axis = axis_index(call, call.config.get("axis", 0), len(base) + 1)
    out = tuple(base[:axis]) + (num,) + tuple(base[axis:])
    return (out, base) if call.config.get("retstep") else (out,)


def _correlate(call: Call) -> tuple[Shape, ...]:
    shapes = operand_shapes(call, 2)
    if len(shapes) != 2 or any(len(s) != 1 for s in shapes):
        raise call.fail("correlate needs two 1-D inputs")
    n, m = shapes[0][0], shapes[1][0]
    mode = call.config.get("mode", "valid")
    if mode not in ("valid", "same", "full"):
        raise call.fail(f"unknown mode {mode!r}")
    if n is None or m is None:
        return ((None,),)
    length = {"valid": max(n, m) - min(n, m) + 1, "same": max(n, m), "full": n + m - 1}[mode]
    return ((length,),)


def _correlate_macs(call: Call, outputs) -> Dim:
    """Each output sums the products of the overlapping elements (zero padding not counted)."""
    shapes = operand_shapes(call, 2)
    n, m = shapes[0][0], shapes[1][0]
    if not (is_int(n) and is_int(m)):
        return None
    out = outputs[0][0]
    full = n + m - 1
    # Overlap of lag t (t = 0..full-1) in the full correlation: min(t+1, n, m, full-t).
    overlaps = [min(t + 1, n, m, full - t) for t in range(full)]
    start = (full - out) // 2 if call.config.get("mode", "valid") == "same" else 0
    if call.config.get("mode", "valid") == "valid":
        start = min(n, m) - 1
    return sum(overlaps[start : start + out])


def _cross(call: Call) -> tuple[Shape, ...]:
    shapes = operand_shapes(call, 2)
    if len(shapes) != 2:
        raise call.fail("cross needs two inputs")
    axis = call.config.get("axis")
    axisa = axis if axis is not None else call.config.get("axisa", -1)
    axisb = axis if axis is not None else call.config.get("axisb", -1)
    axisc = axis if axis is not None else call.config.get("axisc", -1)
    a = list(shapes[0])
    b = list(shapes[1])
    ia, ib = axis_index(call, axisa, len(a)), axis_index(call, axisb, len(b))
    va, vb = a.pop(ia), b.pop(ib)
    for v in (va, vb):
        if v is not None and v not in (2, 3):
            raise call.fail(f"cross needs vectors of 2 or 3 components, not {v}")
    out = list(broadcast_all(call, [tuple(a), tuple(b)]))
    if va == 3 or vb == 3:
        out.insert(axis_index(call, axisc, len(out) + 1), 3)
    return (tuple(out),)


def _cross_counts(call: Call, outputs) -> dict[str, Dim]:
    """Each component is a*b - c*d: 3 FLOPs per output element (2-D vectors: one such value)."""
    return {"op:flop": 3 * product(outputs[0][1:]) if outputs[0] else 3}


# -- products -------------------------------------------------------------------------------------


def _matmul_shapes(call: Call, a: Shape, b: Shape) -> tuple[Shape, Dim]:
    """numpy.matmul: 1-D operands are promoted and the added axis removed; batch axes
    broadcast. Returns the output shape and the contracted length."""
    if not a or not b:
        raise call.fail("matmul operands must have at least one axis")
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    k1, k2 = a2[-1], b2[-2]
    if is_int(k1) and is_int(k2) and k1 != k2:
        raise call.fail(f"matmul contracts {k1} with {k2}: shapes {list(a)} and {list(b)}")
    batch = broadcast_all(call, [a2[:-2], b2[:-2]]) if len(a2) > 2 or len(b2) > 2 else ()
    out = tuple(batch) + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
    return out, k1 if k1 is not None else k2


def _matmul(call: Call) -> tuple[Shape, ...]:
    a, b = operand_shapes(call, 2)
    return (_matmul_shapes(call, a, b)[0],)


def _contraction_macs(out: Shape, k: Dim) -> Dim:
    """One multiply-accumulate per output element per contracted element, per sample (the
    output's first axis is the batch axis; a scalar output is one sample's work)."""
    elements = product(out[1:]) if out else 1
    return None if elements is None or k is None else elements * k


def _matmul_macs(call: Call, outputs) -> Dim:
    a, b = operand_shapes(call, 2)
    out, k = _matmul_shapes(call, a, b)
    return _contraction_macs(out, k)


def _dot_shapes(call: Call) -> tuple[Shape, Dim]:
    a, b = operand_shapes(call, 2)
    if not a or not b:
        return broadcast_all(call, [a, b]), 1  # a scalar operand: multiply
    if len(a) == 1 and len(b) == 1:
        return (), a[0]
    if len(b) == 1:
        return tuple(a[:-1]), a[-1]
    if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
        raise call.fail(f"dot contracts {a[-1]} with {b[-2]}: shapes {list(a)} and {list(b)}")
    return tuple(a[:-1]) + tuple(b[:-2]) + (b[-1],), a[-1] if a[-1] is not None else b[-2]


def _dot(call: Call) -> tuple[Shape, ...]:
    return (_dot_shapes(call)[0],)


def _has_scalar(call: Call) -> bool:
    """dot/inner with a scalar operand is a plain multiply (no accumulation)."""
    return any(len(s) == 0 for s in operand_shapes(call, 2))


def _dot_macs(call: Call, outputs) -> Dim:
    if _has_scalar(call):
        return 0
    out, k = _dot_shapes(call)
    return _contraction_macs(out, k)


def _scalar_product_counts(call: Call, outputs) -> dict[str, Dim]:
    """With a scalar operand: one multiply per output element; otherwise MACs only."""
    return {"op:product": None} if _has_scalar(call) else {}


def _tensordot_axes(call: Call, a: Shape, b: Shape) -> tuple[list[int], list[int]]:
    axes = call.config.get("axes", 2)
    if is_int(axes):
        if axes < 0 or axes > min(len(a), len(b)):
            raise call.fail(f"axes={axes} for shapes {list(a)} and {list(b)}")
        return list(range(len(a) - axes, len(a))), list(range(axes))
    if not isinstance(axes, (list, tuple)) or len(axes) != 2:
        raise call.fail(f"axes must be an int or two lists, not {axes!r}")
    left = [axis_index(call, x, len(a)) for x in int_list(call, axes[0], "axes")]
    right = [axis_index(call, x, len(b)) for x in int_list(call, axes[1], "axes")]
    if len(left) != len(right):
        raise call.fail(f"axes {axes!r} contract different numbers of axes")
    return left, right


def _tensordot_shapes(call: Call) -> tuple[Shape, Dim]:
    a, b = operand_shapes(call, 2)
    left, right = _tensordot_axes(call, a, b)
    k: Dim = 1
    for i, j in zip(left, right):
        da, db = a[i], b[j]
        if is_int(da) and is_int(db) and da != db:
            raise call.fail(f"tensordot contracts {da} with {db}")
        d = da if da is not None else db
        k = None if k is None or d is None else k * d
    out = tuple(d for i, d in enumerate(a) if i not in left) + tuple(
        d for j, d in enumerate(b) if j not in right
    )
    return out, k


def _tensordot(call: Call) -> tuple[Shape, ...]:
    return (_tensordot_shapes(call)[0],)


def _tensordot_macs(call: Call, outputs) -> Dim:
    out, k = _tensordot_shapes(call)
    return _contraction_macs(out, k)


def _inner(call: Call) -> tuple[Shape, ...]:
    a, b = operand_shapes(call, 2)
    if not a or not b:
        return (broadcast_all(call, [a, b]),)
    if is_int(a[-1]) and is_int(b[-1]) and a[-1] != b[-1]:
        raise call.fail(f"inner contracts {a[-1]} with {b[-1]}")
    return (tuple(a[:-1]) + tuple(b[:-1]),)


def _inner_macs(call: Call, outputs) -> Dim:
    if _has_scalar(call):
        return 0
    a, b = operand_shapes(call, 2)
    k = (a[-1] if a[-1] is not None else b[-1]) if a and b else 1
    return _contraction_macs(outputs[0], k)


def _vdot(call: Call) -> tuple[Shape, ...]:
    return ((),)


def _vdot_macs(call: Call, outputs) -> Dim:
    a, _ = operand_shapes(call, 2)
    return product(a)


def _outer(call: Call) -> tuple[Shape, ...]:
    a, b = operand_shapes(call, 2)
    return ((product(a), product(b)),)


def _outer_counts(call: Call, outputs) -> dict[str, Dim]:
    """One multiply per output element; the output's first axis is x1 flattened (its batch
    axis with it), so one sample's share is x1's other elements times all of x2's."""
    a, b = operand_shapes(call, 2)
    share = product([*a[1:], *b]) if a else product(b)
    return {"op:product": share}


def _kron(call: Call) -> tuple[Shape, ...]:
    """Keras's Kron: the elementwise product of the two shapes (zipped to the shorter rank)."""
    a, b = operand_shapes(call, 2)
    return (tuple(None if x is None or y is None else x * y for x, y in zip(a, b)),)


def _einsum_parse(call: Call) -> tuple[list[str], str]:
    subscripts = call.config.get("subscripts")
    if not isinstance(subscripts, str):
        raise call.fail(f"subscripts must be a string, not {subscripts!r}")
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        inputs, output = spec.split("->")
    else:
        inputs = spec
        letters = inputs.replace(",", "").replace("...", "")
        output = ("..." if "..." in inputs else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1)
        )
    return inputs.split(","), output


def _einsum_sizes(call: Call) -> tuple[dict[str, Dim], list[Dim], str]:
    """Sizes of each subscript letter, the broadcast ellipsis shape, and the output spec."""
    terms, output = _einsum_parse(call)
    shapes = operand_shapes(call)
    if len(terms) != len(shapes):
        raise call.fail(f"{len(terms)} einsum terms for {len(shapes)} operands")
    sizes: dict[str, Dim] = {}
    ellipses: list[Shape] = []
    for term, shape in zip(terms, shapes):
        letters = term.replace("...", "")
        if any(c not in string.ascii_letters for c in letters):
            raise call.fail(f"bad einsum term {term!r}")
        if "..." in term:
            before, after = term.split("...")
            n_ell = len(shape) - len(before) - len(after)
            if n_ell < 0:
                raise call.fail(f"einsum term {term!r} for shape {list(shape)}")
            dims = list(shape[: len(before)]) + list(shape[len(shape) - len(after) :])
            ellipses.append(tuple(shape[len(before) : len(before) + n_ell]))
        else:
            if len(term) != len(shape):
                raise call.fail(f"einsum term {term!r} for shape {list(shape)}")
            dims = list(shape)
        for c, d in zip(letters, dims):
            old = sizes.get(c)
            if old is None or old == 1:
                sizes[c] = d if d is not None or old is None else old
            elif d is not None and d != 1 and d != old:
                raise call.fail(f"einsum letter {c!r} is {old} and {d}")
    ellipsis = list(broadcast_all(call, ellipses)) if ellipses else []
    return sizes, ellipsis, output


def _einsum(call: Call) -> tuple[Shape, ...]:
    sizes, ellipsis, output = _einsum_sizes(call)
    if "..." in output:
        before, after = output.split("...")
        out = [sizes.get(c) for c in before] + ellipsis + [sizes.get(c) for c in after]
    else:
        out = [sizes.get(c) for c in output]
    for c in output.replace("...", ""):
        if c not in sizes:
            raise call.fail(f"output letter {c!r} is in no input")
    return (tuple(out),)


def _einsum_terms(call: Call, outputs) -> tuple[Dim, int]:
    """(terms, operands): terms = output elements of one sample x combinations of the summed
    letters; each term is a product of the operands' elements."""
    sizes, _, output = _einsum_sizes(call)
    k = product([sizes[c] for c in sizes if c not in output])
    return _contraction_macs(outputs[0], k), len(operand_shapes(call))


def _einsum_macs(call: Call, outputs) -> Dim:
    """Two or more operands: one multiply-accumulate per term (the first product and the
    accumulation); one operand (a transpose, diagonal or sum): no multiplies."""
    terms, n_ops = _einsum_terms(call, outputs)
    return 0 if n_ops < 2 else terms


def _einsum_counts(call: Call, outputs) -> dict[str, Dim]:
    """Beyond the MACs: n - 2 more multiplies per term for n > 2 operands; for one operand,
    the adds of the sums (terms - outputs)."""
    terms, n_ops = _einsum_terms(call, outputs)
    if terms is None:
        return {"op:flop": None}
    if n_ops >= 2:
        return {"op:flop": terms * (n_ops - 2)}
    out = product(outputs[0][1:]) if outputs[0] else 1
    return {"op:flop": None if out is None else terms - out}


# -- receptive field: which input axes a data-movement op changes (rf "select") ------------------
# Each returns input-axis indices; the receptive field passes unchanged when all of them come
# after the spatial axes (channels sliced, split, stacked or padded), and is unknown otherwise.


def _full_slice(item: Any) -> bool:
    if not isinstance(item, dict) or item.get("class_name") != "__slice__":
        return False
    cfg = as_mapping(item.get("config"))
    return (
        cfg.get("start") in (None, 0) and cfg.get("stop") is None and cfg.get("step") in (None, 1)
    )


def _get_item_touched(call: Call) -> tuple[int, ...]:
    """The first input axis an index changes: indexed, sliced, or with an axis inserted
    before it (an Ellipsis keeps the axes it stands for)."""
    key = arguments(call).get(1, "key")
    items = list(key) if isinstance(key, tuple) else [key]
    rank = len(call.shape)
    kinds = [
        it.get("class_name") if isinstance(it, dict) else "newaxis" if it is None else "int"
        for it in items
    ]
    axis = 0
    for position, (item, kind) in enumerate(zip(items, kinds)):
        if kind == "__ellipsis__":
            rest = kinds[position + 1 :]
            axis = rank - (len(rest) - rest.count("newaxis"))
        elif kind == "newaxis" or not _full_slice(item):
            return (axis,)
        else:
            axis += 1
    return ()


def _axis_touched(call: Call) -> tuple[int, ...]:
    """`axis` (None: the op flattens or covers every axis, from axis 0)."""
    axis = call.config.get("axis")
    if axis is None:
        return (0,)
    return tuple(axis_index(call, a, len(call.shape)) for a in int_list(call, axis, "axis"))


def _split_touched(call: Call) -> tuple[int, ...]:
    rank = len(call.shape)
    fixed = {"Hsplit": 0 if rank == 1 else 1, "Vsplit": 0, "Dsplit": 2}
    axis = fixed.get(call.node.class_name, call.config.get("axis", 0))
    return (axis_index(call, axis, rank),)


def _stack_touched(call: Call) -> tuple[int, ...]:
    """The new axis's position: input axes from there on shift by one."""
    return (axis_index(call, call.config.get("axis", 0), len(call.shape) + 1),)


def _expand_dims_touched(call: Call) -> tuple[int, ...]:
    axes = int_list(call, call.config.get("axis"), "axis")
    rank = len(call.shape) + len(axes)
    return (min(axis_index(call, a, rank) for a in axes),)


def _squeeze_touched(call: Call) -> tuple[int, ...]:
    axis = call.config.get("axis")
    if axis is None:
        return tuple(i for i, d in enumerate(call.shape) if d == 1)  # Keras keeps unknown dims
    return tuple(axis_index(call, a, len(call.shape)) for a in int_list(call, axis, "axis"))


def _pad_touched(call: Call) -> tuple[int, ...]:
    return tuple(i for i, pair in enumerate(_pad_pairs(call)) if any(pair))


def _tile_touched(call: Call) -> tuple[int, ...]:
    repeats = int_list(call, call.config.get("repeats"), "repeats")
    rank = len(call.shape)
    if len(repeats) > rank:
        return (0,)  # new leading axes
    repeats = [1] * (rank - len(repeats)) + repeats
    return tuple(i for i, r in enumerate(repeats) if r != 1)


def select(shapes, touched) -> LayerRule:
    return rule(shapes, rf="select", touched_axes=touched)


RULES: dict[str, LayerRule] = {
    **{f"ops.{name}": rule(_unary, rf="pointwise", cost=cost) for name, cost in UNARY.items()},
    **{f"ops.{name}": rule(_binary, rf="merge", cost=cost) for name, cost in BINARY.items()},
    "ops.Gcd": rule(_binary, rf="merge", macs=unknown_macs),
    "ops.Lcm": rule(_binary, rf="merge", macs=unknown_macs),
    "ops.Where": rule(_where, rf="merge", cost="op:select"),
    "ops.Select": rule(_select, rf="merge", cost="op:select"),
    "ops.Full": rule(_full, rf="reshape"),
    # Reductions ("reduce": pointwise, with statistics over the reduced axes).
    **{
        f"ops.{name}": rule(_reduce, rf="reduce", cost=cost, reduced_axes=_reduced)
        for name, cost in {
            "All": "reduce_sum",
            "Any": "reduce_sum",
            "Amax": "reduce_sum",
            "Amin": "reduce_sum",
            "Prod": "reduce_sum",
            "Argmax": "reduce_sum",
            "Argmin": "reduce_sum",
            "Ptp": "op:ptp",
            "Std": "op:std",
            "Var": "op:var",
            "Nansum": "op:nan_reduce",
            "Nanmax": "op:nan_reduce",
            "Nanmin": "op:nan_reduce",
            "Nanprod": "op:nan_reduce",
            "Nanargmax": "op:nan_reduce",
            "Nanargmin": "op:nan_reduce",
            "Nanmean": "op:nanmean",
            "Nanvar": "op:nanvar",
            "Nanstd": "op:nanstd",
        }.items()
    },
    # Order statistics: a sort or selection whose comparisons depend on the algorithm.
    **{
        f"ops.{name}": rule(_reduce, rf="reduce", macs=unknown_macs, reduced_axes=_reduced)
        for name in ("Median", "Nanmedian")
    },
    **{
        f"ops.{name}": rule(_quantile, rf="reshape", macs=unknown_macs)
        for name in ("Quantile", "Percentile", "Nanquantile", "Nanpercentile")
    },
    "ops.CountNonzero": rule(
        _count_nonzero, rf="reduce", cost="op:count_nonzero", reduced_axes=_reduced
    ),
    "ops.Average": rule(
        _average, rf="reduce", element_counts=_average_counts, reduced_axes=_average_axes
    ),
    "ops.AllClose": rule(lambda call: ((),), rf="reshape", element_counts=_allclose_counts),
    "ops.Trace": rule(_trace, element_counts=_trace_counts),
    "ops.Trapezoid": rule(_trapezoid, element_counts=_trapezoid_counts),
    # Cumulative: one add (multiply) per element after the first of each line.
    "ops.Cumsum": rule(_cumulative, element_counts=_cumulative_counts),
    "ops.Cumprod": rule(_cumulative, element_counts=_cumulative_counts),
    "ops.Nancumsum": rule(_cumulative, element_counts=_nan_cumulative_counts),
    "ops.Nancumprod": rule(_cumulative, element_counts=_nan_cumulative_counts),
    # Data movement: no arithmetic. The receptive field passes through ops that only change
    # axes after the spatial ones ("select"); other data movement makes it unknown.
    "ops.GetItem": select(_get_item, _get_item_touched),
    "ops.Split": select(_split, _split_touched),
    "ops.ArraySplit": select(_array_split, _split_touched),
    "ops.Hsplit": select(_hsplit, _split_touched),
    "ops.Vsplit": select(_vsplit, _split_touched),
    "ops.Dsplit": select(_dsplit, _split_touched),
    "ops.Stack": select(_stack, _stack_touched),
    "ops.Hstack": rule(_hstack),
    "ops.Vstack": rule(_vstack),
    "ops.Dstack": rule(_dstack),
    "ops.Append": rule(_append),
    "ops.ExpandDims": select(_expand_dims, _expand_dims_touched),
    "ops.Squeeze": select(_squeeze, _squeeze_touched),
    "ops.Pad": select(_pad, _pad_touched),
    "ops.Tile": select(_tile, _tile_touched),
    "ops.Repeat": select(_repeat, _axis_touched),
    "ops.Flip": select(_flip, _axis_touched),
    "ops.Fliplr": rule(_unary),
    "ops.Flipud": rule(_unary),
    "ops.Roll": select(_roll, _axis_touched),
    "ops.Rot90": rule(_rot90),
    "ops.Swapaxes": rule(_swapaxes),
    "ops.Moveaxis": rule(_moveaxis),
    "ops.BroadcastTo": rule(_broadcast_to),
    "ops.Ravel": rule(_ravel),
    "ops.Take": select(_take, _axis_touched),
    "ops.TakeAlongAxis": rule(_take_along_axis),
    "ops.Diag": rule(_diag),
    "ops.Diagflat": rule(_diagflat),
    "ops.Diagonal": rule(_diagonal),
    "ops.Tril": rule(_tril),
    "ops.Triu": rule(_tril),
    "ops.Meshgrid": rule(_meshgrid),
    "ops.UnravelIndex": rule(_unravel_index, cost="op:unravel_index"),
    # Keras's symbolic shape for ndim is (rank,) (the call itself returns a scalar); the graph's
    # later ops are built on the symbolic shape, so it is the one used here.
    "ops.Ndim": rule(lambda call: ((len(call.shape),),)),
    "ops.Slogdet": rule(_slogdet, macs=unknown_macs),
    # Keras's symbolic corrcoef keeps x's shape (N, M); the call returns (N, N). The graph is
    # built on the symbolic shape; the work is left unknown rather than tied to either.
    "ops.Corrcoef": rule(_unary, macs=unknown_macs),
    "ops.Size": rule(lambda call: ((),)),
    "ops.Linspace": rule(_linspace, cost="op:linspace"),
    "ops.Logspace": rule(_linspace, cost="op:logspace"),
    "ops.Geomspace": rule(_linspace, cost="op:logspace"),
    # Sorting and searching: comparisons that depend on the algorithm.
    "ops.Sort": rule(_sort, macs=unknown_macs),
    "ops.Unique": rule(_unique, macs=unknown_macs),
    "ops.Argsort": rule(_sort, macs=unknown_macs),
    "ops.Argpartition": rule(_argpartition, macs=unknown_macs),
    "ops.SearchSorted": rule(_searchsorted, macs=unknown_macs),
    "ops.Digitize": rule(_digitize, macs=unknown_macs),
    "ops.IsIn": rule(_isin, macs=unknown_macs),
    "ops.Histogram": rule(_histogram, macs=unknown_macs),
    "ops.Diff": rule(_diff, element_counts=_diff_counts),
    "ops.Vander": rule(_vander, element_counts=_vander_counts),
    "ops.Cross": rule(_cross, element_counts=_cross_counts),
    "ops.Correlate": rule(_correlate, macs=_correlate_macs),
    # Products: MACs = output elements x contracted length (per sample).
    "ops.Matmul": rule(_matmul, macs=_matmul_macs),
    "ops.Dot": rule(_dot, macs=_dot_macs, element_counts=_scalar_product_counts),
    "ops.Tensordot": rule(_tensordot, macs=_tensordot_macs),
    "ops.Einsum": rule(_einsum, macs=_einsum_macs, element_counts=_einsum_counts),
    "ops.Inner": rule(_inner, macs=_inner_macs, element_counts=_scalar_product_counts),
    "ops.Vdot": rule(_vdot, macs=_vdot_macs),
    "ops.Outer": rule(_outer, element_counts=_outer_counts),
    "ops.Kron": rule(_kron, cost="op:product"),
}

EXCLUDED: dict[str, str] = {
    "ops.Nonzero": "data-dependent output shape: the number of nonzero elements",
    "ops.Bincount": "data-dependent output shape: the last axis is max(max(x) + 1, minlength) "
    "(Keras records it as None)",
    "ops.Arange": "its length (stop - start) / step depends on the values of its tensor "
    "arguments (with static arguments it is computed eagerly and is no graph node)",
    "ops.View": "reinterprets the bytes as another dtype: the last axis depends on the input "
    "dtype's item size, and cnncost's graph keeps shapes, not dtypes",
}
