"""MACs of every weight layer type against a brute-force count, with and without padded taps.

The brute force loops over output elements and kernel taps, as a direct implementation does, and
counts the multiplies it performs: every tap (padded taps included), or only the taps that land
inside the input (`padding_aware`). Channel loops are the same for every tap, so they are counted
as a factor. Dense/EinsumDense are counted by `np.einsum` on arrays of ones: the sum of the output
is the number of products the contraction performs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncost.ir import Node
from cnncost.layers import Call, rule_for
from cnncost.layers.conv import transpose_output_length
from cnncost.passes.compute import (
    _padding_aware,
    floor_sum,
    inside_pairs,
    pad_before,
    transposed_valid_taps,
    valid_taps,
)

SETTINGS = settings(max_examples=60, deadline=None)


def _call(class_name: str, config: dict, *input_shapes):
    node = Node(name="layer", class_name=class_name, module="keras.layers", config=config)
    rule = rule_for(node)
    call = Call(node, tuple(input_shapes))
    return call, rule, tuple(rule.output_shapes(call))


def _ours(class_name: str, config: dict, *input_shapes, padding_aware=False):
    call, rule, outputs = _call(class_name, config, *input_shapes)
    macs = rule.macs(call, outputs)
    if padding_aware:
        macs = _padding_aware(call, rule, outputs, macs)
    return macs, outputs


def _tf_pad_before(n, k_eff, stride, padding):
    """TensorFlow's split of "same" padding: the smaller half goes first."""
    if padding == "valid":
        return 0
    if padding == "causal":
        return k_eff - 1
    out = math.ceil(n / stride)
    return max((out - 1) * stride + k_eff - n, 0) // 2


def brute_force_window(sizes, kernel, strides, dilation, padding, out_sizes, skip_padded):
    """Number of (output position, tap) pairs a direct sliding-window loop multiplies."""
    before = [
        _tf_pad_before(n, d * (k - 1) + 1, s, padding)
        for n, k, s, d in zip(sizes, kernel, strides, dilation)
    ]
    count = 0
    for position in itertools.product(*(range(o) for o in out_sizes)):
        for tap in itertools.product(*(range(k) for k in kernel)):
            inside = all(
                0 <= o * s - b + t * d < n
                for o, s, b, t, d, n in zip(position, strides, before, tap, dilation, sizes)
            )
            count += inside or not skip_padded
    return count


@st.composite
def conv_configs(draw, rank: int):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    padding = draw(st.sampled_from(["valid", "same"] + (["causal"] if rank == 1 else [])))
    if padding != "valid" or max(strides) == 1:
        dilation = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    else:
        dilation = (1,) * rank  # Keras forbids strides > 1 with dilation > 1
    if max(strides) > 1:
        dilation = (1,) * rank
    sizes = tuple(
        draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 9)) for k, d in zip(kernel, dilation)
    )
    groups = draw(st.sampled_from([1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    filters = groups * draw(st.integers(1, 3))
    return kernel, strides, dilation, padding, sizes, groups, cin, filters


def _spatial(outputs):
    return outputs[0][1:-1]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("padding_aware", [False, True])
@SETTINGS
@given(data=st.data())
def test_conv_macs_equal_brute_force(rank, padding_aware, data):
    kernel, strides, dilation, padding, sizes, groups, cin, filters = data.draw(conv_configs(rank))
    config = {
        "filters": filters,
        "kernel_size": list(kernel),
        "strides": list(strides),
        "dilation_rate": list(dilation),
        "padding": padding,
        "groups": groups,
    }
    macs, outputs = _ours(f"Conv{rank}D", config, (None, *sizes, cin), padding_aware=padding_aware)
    pairs = brute_force_window(
        sizes, kernel, strides, dilation, padding, _spatial(outputs), padding_aware
    )
    assert macs == pairs * (cin // groups) * filters


@pytest.mark.parametrize("padding_aware", [False, True])
@SETTINGS
@given(data=st.data())
def test_depthwise_and_separable_macs_equal_brute_force(padding_aware, data):
    kernel, strides, dilation, padding, sizes, _, cin, filters = data.draw(conv_configs(2))
    multiplier = data.draw(st.integers(1, 3))
    config = {
        "kernel_size": list(kernel),
        "strides": list(strides),
        "dilation_rate": list(dilation),
        "padding": padding,
        "depth_multiplier": multiplier,
    }
    macs, outputs = _ours(
        "DepthwiseConv2D", config, (None, *sizes, cin), padding_aware=padding_aware
    )
    pairs = brute_force_window(
        sizes, kernel, strides, dilation, padding, _spatial(outputs), padding_aware
    )
    assert macs == pairs * cin * multiplier  # one input channel per output channel
    separable, outputs = _ours(
        "SeparableConv2D",
        {**config, "filters": filters},
        (None, *sizes, cin),
        padding_aware=padding_aware,
    )
    pointwise = math.prod(_spatial(outputs)) * cin * multiplier * filters  # 1x1: no padding
    assert separable == pairs * cin * multiplier + pointwise


def brute_force_transposed(sizes, kernel, strides, dilation, padding, out_sizes, skip_outside):
    """Scatter form: input i, tap t adds into output i*s + t*d - before (TF's conv_transpose)."""
    before = []
    for n, k, s, d, out in zip(sizes, kernel, strides, dilation, out_sizes):
        k_eff = d * (k - 1) + 1
        before.append(0 if padding == "valid" else max((n - 1) * s + k_eff - out, 0) // 2)
    count = 0
    for position in itertools.product(*(range(n) for n in sizes)):
        for tap in itertools.product(*(range(k) for k in kernel)):
            inside = all(
                0 <= i * s + t * d - b < out
                for i, s, t, d, b, out in zip(position, strides, tap, dilation, before, out_sizes)
            )
            count += inside or not skip_outside
    return count


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("padding_aware", [False, True])
@SETTINGS
@given(data=st.data())
def test_transposed_conv_macs_equal_brute_force(rank, padding_aware, data):
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    strides = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    padding = data.draw(st.sampled_from(["valid", "same"]))
    sizes = tuple(data.draw(st.integers(1, 6)) for _ in range(rank))
    cin, filters = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    config = {"filters": filters, "kernel_size": list(kernel), "strides": list(strides)}
    config["padding"] = padding
    macs, outputs = _ours(
        f"Conv{rank}DTranspose", config, (None, *sizes, cin), padding_aware=padding_aware
    )
    pairs = brute_force_transposed(
        sizes, kernel, strides, (1,) * rank, padding, _spatial(outputs), padding_aware
    )
    assert macs == pairs * cin * filters


# -- the closed-form tap counts against the per-position loops they replace -----------------------


def loop_valid_taps(n, out, kernel, stride, dilation, before):
    """The gather loop: output o, tap t reads input o*s - before + t*d."""
    return sum(
        0 <= o * stride - before + t * dilation < n for o in range(out) for t in range(kernel)
    )


def loop_transposed_valid_taps(n, out, kernel, stride, dilation, before):
    """The scatter loop: input i, tap t writes output i*s - before + t*d."""
    return sum(
        0 <= i * stride - before + t * dilation < out for i in range(n) for t in range(kernel)
    )


@settings(max_examples=400, deadline=None)
@given(
    n=st.integers(1, 12),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 5),
    dilation=st.integers(1, 4),
    padding=st.sampled_from(["valid", "same", "causal"]),
)
def test_valid_taps_closed_form_equals_loop(n, kernel, stride, dilation, padding):
    k_eff = dilation * (kernel - 1) + 1
    if padding == "valid" and k_eff > n:
        return  # no output
    out = (n - k_eff) // stride + 1 if padding == "valid" else -(-n // stride)
    before = pad_before(n, kernel, stride, dilation, padding)
    assert before == _tf_pad_before(n, k_eff, stride, padding)
    expected = loop_valid_taps(n, out, kernel, stride, dilation, before)
    assert valid_taps(n, out, kernel, stride, dilation, before) == expected


@settings(max_examples=400, deadline=None)
@given(
    n=st.integers(1, 12),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 5),
    dilation=st.integers(1, 4),
    padding=st.sampled_from(["valid", "same"]),
    output_padding=st.one_of(st.none(), st.integers(0, 4)),
)
def test_transposed_valid_taps_closed_form_equals_loop(
    n, kernel, stride, dilation, padding, output_padding
):
    if output_padding is not None and output_padding >= stride:
        output_padding = stride - 1  # Keras: output_padding < strides
    out = transpose_output_length(n, kernel, stride, dilation, padding, output_padding)
    k_eff = dilation * (kernel - 1) + 1
    before = 0 if padding == "valid" else max((n - 1) * stride + k_eff - out, 0) // 2
    expected = loop_transposed_valid_taps(n, out, kernel, stride, dilation, before)
    assert transposed_valid_taps(n, out, kernel, stride, dilation, padding) == expected
    assert transposed_valid_taps(n, out, kernel, stride, dilation, before) == expected


@settings(max_examples=400, deadline=None)
@given(
    positions=st.integers(0, 10),
    taps=st.integers(0, 10),
    stride=st.integers(1, 6),
    dilation=st.integers(1, 6),
    before=st.integers(-20, 40),
    length=st.integers(-2, 40),
)
def test_inside_pairs_equals_loop_for_any_offset(positions, taps, stride, dilation, before, length):
    expected = sum(
        0 <= p * stride - before + t * dilation < length
        for p in range(positions)
        for t in range(taps)
    )
    assert inside_pairs(positions, taps, stride, dilation, before, length) == expected


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(0, 30),
    modulus=st.integers(1, 40),
    slope=st.integers(0, 100),
    offset=st.integers(0, 100),
)
def test_floor_sum_equals_loop(count, modulus, slope, offset):
    expected = sum((slope * i + offset) // modulus for i in range(count))
    assert floor_sum(count, modulus, slope, offset) == expected


def test_tap_counts_do_not_loop_over_huge_sizes():
    """A kernel, stride or length of 10**9 is counted in closed form (the loops took minutes).

    Expected values by hand: a "same" kernel of 10**9 + 1 (k_eff - 1 = 10**9, left padding
    5*10**8) over n = 64 has every input position under every output's window: 64 * 64 taps.
    """
    huge = 10**9
    before = pad_before(64, huge + 1, 1, 1, "same")
    assert before == huge // 2
    assert valid_taps(64, 64, huge + 1, 1, 1, before) == 64 * 64
    # n = 10**9, kernel 3, "same": every output sees 3 taps except the two borders (2 each).
    assert valid_taps(huge, huge, 3, 1, 1, 1) == 3 * huge - 2
    # transposed, stride 10**6, kernel 3, "same": 16 inputs scatter 3 taps each, all inside
    # the n*s output (left padding max(3 - 10**6, 0) // 2 = 0).
    assert transposed_valid_taps(16, 16 * 10**6, 3, 10**6, 1, "same") == 16 * 3


@SETTINGS
@given(
    leading=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    features=st.integers(1, 6),
    units=st.integers(1, 6),
)
def test_dense_on_nd_inputs_equals_einsum_count(leading, features, units):
    macs, _ = _ours("Dense", {"units": units}, (None, *leading, features))
    x = np.ones((1, *leading, features), dtype=np.int64)
    kernel = np.ones((features, units), dtype=np.int64)
    assert macs == int(np.einsum("...i,ij->...j", x, kernel).sum())


@SETTINGS
@given(
    equation=st.sampled_from(["ab,bc->ac", "abc,cd->abd", "abc,cde->abde", "abcd,cde->abe"]),
    sizes=st.lists(st.integers(1, 4), min_size=5, max_size=5),
)
def test_einsum_dense_equals_einsum_count(equation, sizes):
    inp, rest = equation.split(",")
    ker, out = rest.split("->")
    size = dict(zip("abcde", sizes))
    size["a"] = 1  # the batch axis
    input_shape = tuple(size[c] for c in inp)
    output_shape = [size[c] for c in out[1:]]
    macs, outputs = _ours(
        "EinsumDense",
        {"equation": equation, "output_shape": output_shape},
        (None, *input_shape[1:]),
    )
    ones = np.einsum(
        equation,
        np.ones(input_shape, dtype=np.int64),
        np.ones(tuple(size[c] for c in ker), dtype=np.int64),
    )
    assert macs == int(ones.sum())


@SETTINGS
@given(
    heads=st.integers(1, 3),
    key_dim=st.integers(1, 4),
    value_dim=st.sampled_from([None, 2, 3]),
    tq=st.integers(1, 5),
    tk=st.integers(1, 5),
    dq=st.integers(1, 4),
    dv=st.integers(1, 4),
)
def test_attention_macs_equal_einsum_count(heads, key_dim, value_dim, tq, tk, dq, dv):
    config = {"num_heads": heads, "key_dim": key_dim, "value_dim": value_dim}
    macs, outputs = _ours("MultiHeadAttention", config, (None, tq, dq), (None, tk, dv))
    vd = value_dim or key_dim

    def products(equation, a, b):
        return int(np.einsum(equation, np.ones(a, np.int64), np.ones(b, np.int64)).sum())

    expected = (
        products("btd,dhk->bthk", (1, tq, dq), (dq, heads, key_dim))  # query projection
        + products("btd,dhk->bthk", (1, tk, dv), (dv, heads, key_dim))  # key projection
        + products("btd,dhk->bthk", (1, tk, dv), (dv, heads, vd))  # value projection
        + products("bqhk,bshk->bhqs", (1, tq, heads, key_dim), (1, tk, heads, key_dim))
        + products("bhqs,bshv->bqhv", (1, heads, tq, tk), (1, tk, heads, vd))
        + products("bqhv,hvo->bqo", (1, tq, heads, vd), (heads, vd, dq))  # output projection
    )
    assert macs == expected
    assert outputs == ((None, tq, dq),)


def test_a_scalar_operand_counts_like_a_tensor_operand(tmp_path):
    """`x * 2.0` does one multiply per element: the literal is an operand, not nothing."""
    import keras
    from support.keras_reference import write_config_only

    from cnncost.analysis import analyze

    x = keras.Input((8, 8, 4))
    y = keras.ops.add(keras.ops.multiply(x, 2.0), 1.0)
    report = analyze(write_config_only(keras.Model(x, y), tmp_path / "m.keras"))
    flops = {row.type: row.extra["flops"] for row in report.layers}
    assert flops["Multiply"] == flops["Add"] == 8 * 8 * 4


def test_lora_merge_cost_is_named_not_silently_added(tmp_path):
    import keras
    from support.keras_reference import write_config_only

    from cnncost.analysis import analyze

    x = keras.Input((5, 7))
    model = keras.Model(x, keras.layers.Dense(4, lora_rank=2, name="adapted")(x))
    report = analyze(write_config_only(model, tmp_path / "m.keras"))
    row = next(r for r in report.layers if r.name == "adapted")
    assert row.macs == 5 * 7 * 4  # the matmul with the (merged) kernel, per sample
    assert row.trainable_params == 7 * 2 + 2 * 4 + 4 and row.non_trainable_params == 7 * 4
    assert any("adapted" in w and f"{7 * 2 * 4:,} MACs per call" in w for w in report.warnings)


def test_reductions_cost_one_op_per_reduced_element(tmp_path):
    import keras
    from support.keras_reference import write_config_only

    from cnncost.analysis import analyze

    x = keras.Input((4, 6, 5))
    mean = keras.ops.mean(x, axis=(1, 2), keepdims=True)
    total = keras.ops.sum(x, axis=-1)
    report = analyze(write_config_only(keras.Model(x, [mean, total]), tmp_path / "m.keras"))
    flops = {row.type: row.extra["flops"] for row in report.layers}
    assert flops["Mean"] == 4 * 6 * 5  # (n - 1) adds + 1 scale for each of the 5 means, n = 24
    assert flops["Sum"] == 4 * 6 * (5 - 1)  # n - 1 adds for each of the 24 sums, n = 5
