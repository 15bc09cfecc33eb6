"""Property tests of the keras.ops rule families against numpy: random shapes, axes, indices.

Each test builds the node a functional model would record (config = the op's constructor
arguments, arguments = the call with tensors as references) and compares the rule's output
shapes with numpy's on arrays of that shape. numpy is the reference Keras's ops follow.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnncost.ir import Node, TensorRef
from cnncost.layers import Call, rule_for
from cnncost.layers.base import guarded

SETTINGS = settings(max_examples=60, deadline=None)
shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)


def _ref(i: int) -> TensorRef:
    return TensorRef(f"t{i}")


def _node(cls: str, n_tensors: int, config=None, arguments=None, kwargs=None) -> Node:
    refs = tuple(_ref(i) for i in range(n_tensors))
    return Node(
        name="op",
        class_name=cls,
        module="keras.src.ops.numpy",
        config=dict(config or {}),
        inputs=refs,
        arguments=refs if arguments is None else arguments,
        keyword_arguments=dict(kwargs or {}),
    )


def outputs(cls: str, input_shapes, config=None, arguments=None, kwargs=None):
    node = _node(cls, len(input_shapes), config, arguments, kwargs)
    rule = rule_for(node)
    assert rule is not None, cls
    call = Call(node, tuple(tuple(s) for s in input_shapes))
    result = guarded(call, rule.output_shapes)
    return result, guarded(call, rule.macs, result), rule


def shape(cls: str, input_shapes, **kw):
    result, _, _ = outputs(cls, input_shapes, **kw)
    assert len(result) == 1, result
    return tuple(result[0])


# -- elementwise ---------------------------------------------------------------------------------

UNARY = ["Sqrt", "Square", "Abs", "Exp", "Log1p", "Sign", "Isnan", "Erf", "Rsqrt", "Reciprocal"]
BINARY = ["Add", "Power", "Greater", "Arctan2", "Maximum", "Mod", "LogicalAnd", "Hypot", "Isclose"]


@SETTINGS
@given(st.sampled_from(UNARY), shapes)
def test_unary_keeps_the_shape(cls, s):
    assert shape(cls, [s]) == s


@SETTINGS
@given(st.sampled_from(BINARY), hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4))
def test_binary_broadcasts_like_numpy(cls, pair):
    a, b = pair.input_shapes
    assert shape(cls, [a, b]) == np.broadcast_shapes(a, b)


@SETTINGS
@given(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=4))
def test_where_broadcasts_its_three_operands(triple):
    assert shape("Where", list(triple.input_shapes)) == triple.result_shape


@SETTINGS
@given(shapes, st.sampled_from([2, 0.5, -1]))
def test_a_number_literal_is_a_scalar_operand(s, literal):
    node_args = (_ref(0), literal)
    assert shape("Power", [s], arguments=node_args) == s


# -- reductions -----------------------------------------------------------------------------------

REDUCTIONS = {
    "Sum": np.sum,
    "Mean": np.mean,
    "Max": np.max,
    "Prod": np.prod,
    "Std": np.std,
    "Any": np.any,
    "Nanmean": np.nanmean,
    "Median": np.median,
    "Logsumexp": np.sum,
    "Norm": np.sum,  # a vector norm reduces like a sum
}


@SETTINGS
@given(st.sampled_from(sorted(REDUCTIONS)), shapes, st.data(), st.booleans())
def test_reductions_reduce_like_numpy(cls, s, data, keepdims):
    rank = len(s)
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank))
    assume(len({a % rank for a in axes}) == len(axes))
    axis = axes[0] if len(axes) == 1 and data.draw(st.booleans()) else axes
    if cls == "Norm" and not isinstance(axis, int) and len(axes) != 1:
        axis = axes[0]  # numpy's norm takes one or two axes; two means a matrix norm
    expected = REDUCTIONS[cls](
        np.zeros(s), axis=axis if isinstance(axis, int) else tuple(axis), keepdims=keepdims
    ).shape
    got = shape(cls, [s], config={"axis": axis, "keepdims": keepdims})
    assert got == expected


@SETTINGS
@given(st.sampled_from(["Argmax", "Argmin", "Nanargmax"]), shapes, st.data(), st.booleans())
def test_arg_reductions(cls, s, data, keepdims):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(s), len(s) - 1)))
    expected = np.argmax(np.zeros(s), axis=axis, keepdims=keepdims).shape
    assert shape(cls, [s], config={"axis": axis, "keepdims": keepdims}) == expected


@SETTINGS
@given(st.sampled_from(["Cumsum", "Cumprod", "Nancumsum"]), shapes, st.data())
def test_cumulative(cls, s, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(s), len(s) - 1)))
    assert shape(cls, [s], config={"axis": axis}) == np.cumsum(np.zeros(s), axis=axis).shape


@SETTINGS
@given(hnp.array_shapes(min_dims=2, max_dims=4, max_side=5), st.data())
def test_trace_and_diagonal(s, data):
    rank = len(s)
    a1, a2 = data.draw(st.lists(st.integers(0, rank - 1), min_size=2, max_size=2, unique=True))
    offset = data.draw(st.integers(-3, 3))
    config = {"offset": offset, "axis1": a1, "axis2": a2}
    x = np.zeros(s)
    assert shape("Trace", [s], config=config) == np.trace(x, offset, a1, a2).shape
    assert shape("Diagonal", [s], config=config) == np.diagonal(x, offset, a1, a2).shape


# -- data movement ---------------------------------------------------------------------------------


def _encode(item):
    """An index item as Keras serializes it (and the parser keeps it)."""
    if item is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(item, slice):
        config = {"start": item.start, "stop": item.stop, "step": item.step}
        return {"class_name": "__slice__", "config": config}
    return item


@st.composite
def _index(draw, s):
    """A random numpy basic index for shape `s`: ints, slices, None, at most one Ellipsis."""
    items = []
    axis = 0
    ellipsis = False
    for _ in range(draw(st.integers(0, len(s) + 1))):
        kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis"]))
        if kind == "none":
            items.append(None)
        elif kind == "ellipsis" and not ellipsis:
            ellipsis = True
            items.append(Ellipsis)
            axis = len(s) - (len(s) - axis) // 2  # leave some axes for later items
        elif axis < len(s) and kind == "int":
            items.append(draw(st.integers(-s[axis], s[axis] - 1)))
            axis += 1
        elif axis < len(s):
            bound = st.one_of(st.none(), st.integers(-7, 7))
            step = draw(st.one_of(st.none(), st.integers(-3, 3).filter(bool)))
            items.append(slice(draw(bound), draw(bound), step))
            axis += 1
    return tuple(items)


@settings(max_examples=200, deadline=None)
@given(shapes, st.data())
def test_get_item_matches_numpy_indexing(s, data):
    index = data.draw(_index(s))
    try:
        expected = np.zeros(s)[index].shape
    except IndexError:
        assume(False)
    key = tuple(_encode(i) for i in index)
    assert shape("GetItem", [s], arguments=(_ref(0), key)) == expected


@SETTINGS
@given(shapes, st.integers(1, 9))
def test_get_item_single_int_or_slice(s, stop):
    x = np.zeros(s)
    assert shape("GetItem", [s], arguments=(_ref(0), 0)) == x[0].shape
    key = _encode(slice(None, stop))
    assert shape("GetItem", [s], arguments=(_ref(0), key)) == x[:stop].shape


@SETTINGS
@given(shapes, st.data())
def test_split_and_array_split(s, data):
    rank = len(s)
    axis = data.draw(st.integers(-rank, rank - 1))
    n = s[axis]
    x = np.zeros(s)
    sections = data.draw(st.integers(1, 6))
    got = outputs("ArraySplit", [s], config={"indices_or_sections": sections, "axis": axis})[0]
    assert [tuple(g) for g in got] == [p.shape for p in np.array_split(x, sections, axis)]
    if n % sections == 0:
        got = outputs("Split", [s], config={"indices_or_sections": sections, "axis": axis})[0]
        assert [tuple(g) for g in got] == [p.shape for p in np.split(x, sections, axis)]
    points = sorted(data.draw(st.lists(st.integers(-6, 6), max_size=3)))
    got = outputs("Split", [s], config={"indices_or_sections": points, "axis": axis})[0]
    assert [tuple(g) for g in got] == [p.shape for p in np.split(x, points, axis)]


@SETTINGS
@given(shapes, st.data())
def test_pad(s, data):
    pairs = [data.draw(st.tuples(st.integers(0, 3), st.integers(0, 3))) for _ in s]
    width = data.draw(st.sampled_from([pairs, pairs[:1], [pairs[0][0]]]))
    config = {"pad_width": width, "mode": "constant"}
    assert shape("Pad", [s], config=config) == np.pad(np.zeros(s), width).shape


@SETTINGS
@given(shapes, st.integers(1, 4), st.data())
def test_stack(s, n, data):
    axis = data.draw(st.integers(-len(s) - 1, len(s)))
    refs = tuple(_ref(i) for i in range(n))
    got = shape("Stack", [s] * n, config={"axis": axis}, arguments=(refs,))
    assert got == np.stack([np.zeros(s)] * n, axis=axis).shape


@SETTINGS
@given(shapes, st.data())
def test_expand_dims_and_squeeze(s, data):
    out_rank = len(s) + data.draw(st.integers(1, 2))
    axes = data.draw(
        st.lists(st.integers(-out_rank, out_rank - 1), min_size=out_rank - len(s), max_size=3)
    )
    assume(len({a % out_rank for a in axes}) == len(axes) == out_rank - len(s))
    expanded = np.expand_dims(np.zeros(s), tuple(axes)).shape
    assert shape("ExpandDims", [s], config={"axis": axes}) == expanded
    ones = [i for i, d in enumerate(expanded) if d == 1]
    squeeze = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(ones), unique=True)))
    expected = np.squeeze(np.zeros(expanded), axis=None if squeeze is None else tuple(squeeze))
    assert shape("Squeeze", [expanded], config={"axis": squeeze}) == expected.shape


@SETTINGS
@given(shapes, st.lists(st.integers(1, 3), min_size=1, max_size=5), st.data())
def test_tile_and_repeat(s, repeats, data):
    x = np.zeros(s)
    assert shape("Tile", [s], config={"repeats": repeats}) == np.tile(x, repeats).shape
    axis = data.draw(st.one_of(st.none(), st.integers(-len(s), len(s) - 1)))
    r = repeats[0]
    assert shape("Repeat", [s], config={"repeats": r, "axis": axis}) == np.repeat(x, r, axis).shape


@SETTINGS
@given(shapes, st.data())
def test_axis_movers(s, data):
    rank = len(s)
    x = np.zeros(s)
    a = data.draw(st.integers(-rank, rank - 1))
    b = data.draw(st.integers(-rank, rank - 1))
    assert shape("Swapaxes", [s], config={"axis1": a, "axis2": b}) == np.swapaxes(x, a, b).shape
    k = data.draw(st.integers(1, rank))
    source = data.draw(st.permutations(range(rank)))[:k]
    dest = data.draw(st.permutations(range(rank)))[:k]
    expected = np.moveaxis(x, source, dest).shape
    assert shape("Moveaxis", [s], config={"source": source, "destination": dest}) == expected
    perm = data.draw(st.permutations(range(rank)))
    assert shape("Transpose", [s], config={"axes": perm}) == np.transpose(x, perm).shape


@SETTINGS
@given(shapes, st.data())
def test_take_and_take_along_axis(s, data):
    rank = len(s)
    x = np.zeros(s)
    axis = data.draw(st.one_of(st.none(), st.integers(-rank, rank - 1)))
    indices = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    expected = np.take(x, np.zeros(indices, int), axis=axis).shape
    assert shape("Take", [s, indices], config={"axis": axis}) == expected
    along = data.draw(st.integers(-rank, rank - 1))
    idx = list(s)
    idx[along] = data.draw(st.integers(1, 4))
    expected = np.take_along_axis(x, np.zeros(idx, int), axis=along).shape
    assert shape("TakeAlongAxis", [s, tuple(idx)], config={"axis": along}) == expected


# -- products ---------------------------------------------------------------------------------------


@st.composite
def _matmul_pair(draw):
    m, k, n = (draw(st.integers(1, 5)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    a = (*batch.input_shapes[0], m, k) if draw(st.booleans()) else (k,)
    b = (*batch.input_shapes[1], k, n) if draw(st.booleans()) or len(a) == 1 else (k,)
    return a, b, k


@SETTINGS
@given(_matmul_pair())
def test_matmul_shape_and_macs(pair):
    a, b, k = pair
    out = np.matmul(np.zeros(a), np.zeros(b)).shape
    got, macs, _ = outputs("Matmul", [a, b])
    assert tuple(got[0]) == out
    # MACs per sample: the output's first axis is the batch axis (a scalar output is one).
    assert macs == (int(np.prod(out[1:])) if out else 1) * k


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))
def test_einsum_counts_a_batched_matmul_like_matmul(b_, m, k, n):
    a, b = (b_, m, k), (b_, k, n)
    got, macs, _ = outputs("Einsum", [a, b], config={"subscripts": "bij,bjk->bik"})
    ref, ref_macs, _ = outputs("Matmul", [a, b])
    assert got == ref and macs == ref_macs


@st.composite
def _einsum_case(draw):
    letters = "abcdef"
    sizes = {c: draw(st.integers(1, 4)) for c in letters}
    terms = [
        "".join(draw(st.permutations(letters))[: draw(st.integers(1, 4))])
        for _ in range(draw(st.integers(1, 3)))
    ]
    used = sorted(set("".join(terms)))
    out = "".join(draw(st.permutations(used))[: draw(st.integers(0, len(used)))])
    return terms, out, sizes


@SETTINGS
@given(_einsum_case())
def test_einsum_shape_and_macs(case):
    terms, out, sizes = case
    spec = ",".join(terms) + "->" + out
    arrays = [np.zeros([sizes[c] for c in t]) for t in terms]
    expected = np.einsum(spec, *arrays).shape
    got, macs, rule = outputs("Einsum", [a.shape for a in arrays], config={"subscripts": spec})
    assert tuple(got[0]) == expected
    summed = [sizes[c] for c in set("".join(terms)) if c not in out]
    per_sample = int(np.prod(expected[1:])) if expected else 1
    products = per_sample * int(np.prod(summed))  # one term per output and summed index
    node = _node("Einsum", len(terms), {"subscripts": spec})
    call = Call(node, tuple(a.shape for a in arrays))
    (extra,) = rule.element_counts(call, got).values()
    if len(terms) > 1:  # MAC convention: n - 1 multiplies and one accumulate per term
        assert (macs, 2 * macs + extra) == (products, len(terms) * products)
    else:  # a sum, transpose or diagonal: only the adds
        assert (macs, extra) == (0, products - per_sample)


@SETTINGS
@given(st.data())
def test_tensordot(data):
    a = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    n = data.draw(st.integers(0, len(a)))
    b = tuple(a[len(a) - n :]) + data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
    expected = np.tensordot(np.zeros(a), np.zeros(b), axes=n).shape
    got, macs, _ = outputs("Tensordot", [a, b], config={"axes": n})
    assert tuple(got[0]) == expected
    per_sample = int(np.prod(expected[1:])) if expected else 1
    assert macs == per_sample * int(np.prod(a[len(a) - n :]))


@SETTINGS
@given(
    st.one_of(st.none(), st.integers(0, 3)),
    st.one_of(st.none(), st.integers(-3, -1)),
    st.one_of(st.none(), st.integers(1, 3)),
    st.integers(8, 40),
)
def test_slicing_a_symbolic_size_matches_numpy_once_substituted(start, stop, step, n):
    """`x[:, 1:-1]` on an input of symbolic height H is H - 2 (sizes assumed large enough, as
    for valid convolutions); any concrete H >= 8 gives numpy's length."""
    import sympy

    h = sympy.Symbol("H", integer=True, positive=True)
    key = (_encode(slice(None)), _encode(slice(start, stop, step)))
    (got,) = outputs("GetItem", [(None, h, 3)], arguments=(_ref(0), key))[0]
    assert got[1] is not None
    assert int(got[1].subs(h, n)) == len(range(n)[start:stop:step])


_JUNK = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.sampled_from(["x", "->", "a b -> (a b)", 2.5, True, {}, [], [1, "a"], [[1, 2]], [-1, -1]]),
    st.lists(st.integers(-4, 4), max_size=4),
)
_KEYS = (
    "axis axes keepdims k offset axis1 axis2 n indices_or_sections pad_width repeats shape "
    "source destination subscripts num mode bins fft_length sequence_length sequence_stride "
    "size ord num_segments newshape kth N x_min x_max"
).split()


def _op_rules():
    from cnncost.layers import ops, ops_math, ops_numpy

    return sorted(set(ops.RULES) | set(ops_numpy.RULES) | set(ops_math.RULES))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_op_rules()),
    st.dictionaries(st.sampled_from(_KEYS), _JUNK, max_size=4),
    st.lists(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4), max_size=3),
    st.lists(_JUNK, max_size=2),
)
def test_malformed_configs_are_one_line_errors(key, config, input_shapes, extra_args):
    """Whatever a corrupted config holds, a rule answers with shapes or a LayerError."""
    from cnncost.errors import LayerError

    refs = tuple(_ref(i) for i in range(len(input_shapes)))
    node = _node(key[4:], len(refs), config, arguments=(*refs, *extra_args))
    rule = rule_for(node)
    call = Call(node, tuple(input_shapes))
    try:
        result = guarded(call, rule.output_shapes)
        guarded(call, rule.macs, result)
        if rule.element_counts is not None:
            guarded(call, rule.element_counts, result)
        if rule.reduced_axes is not None:
            guarded(call, rule.reduced_axes)
    except LayerError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(shapes, st.data())
def test_get_item_touched_axes_leave_earlier_axes_aligned(s, data):
    """rf "select": every input axis before `min(touched)` keeps its position and every
    element of it (checked by indexing numpy's coordinate grids)."""
    index = data.draw(_index(s))
    try:
        np.zeros(s)[index]
    except IndexError:
        assume(False)
    key = tuple(_encode(i) for i in index)
    node = _node("GetItem", 1, arguments=(_ref(0), key))
    touched = rule_for(node).touched_axes(Call(node, (tuple(s),)))
    kept = min(touched) if touched else len(s)
    grids = np.indices(s)
    for axis in range(kept):
        coordinate = grids[axis][index]
        expected = np.arange(s[axis]).reshape([-1 if i == axis else 1 for i in range(axis + 1)])
        assert coordinate.shape[axis] == s[axis]
        moved = np.moveaxis(coordinate, axis, 0).reshape(s[axis], -1)
        assert (moved == expected.reshape(-1, 1)).all()
