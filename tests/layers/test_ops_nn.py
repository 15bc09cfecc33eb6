"""keras.ops nn / core / image operations in functional graphs, checked against Keras.

Each row is (id, input shapes, a function building the op call on keras inputs). The model is
analysed from a config-only `.keras` file and live; both must equal Keras's output shapes and
param counts (0: an op owns no weights). A few rows run in the fast tier, the rest in the full
suite; `test_every_ops_nn_rule_has_a_row` keeps the table complete.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402
from support.coverage import keras_op_classes, uncovered  # noqa: E402
from support.keras_reference import (  # noqa: E402
    assert_ops_parity,
    assert_parity,
    write_config_only,
)

import cnncost  # noqa: E402
from cnncost.layers import ops_nn  # noqa: E402


def const(*shape):
    """A constant kernel (recorded in the config as a `__tensor__` literal)."""
    return np.ones(shape, "float32")


def one(fn):
    return lambda xs: fn(xs[0])


ROWS = [
    # activations
    ("relu", [(6, 4)], one(ops.relu)),
    ("relu6", [(6, 4)], one(ops.relu6)),
    ("sigmoid", [(6, 4)], one(ops.sigmoid)),
    ("sparse_sigmoid", [(6, 4)], one(ops.sparse_sigmoid)),
    ("softplus", [(6, 4)], one(ops.softplus)),
    ("softsign", [(6, 4)], one(ops.softsign)),
    ("soft_shrink", [(6, 4)], one(lambda x: ops.soft_shrink(x, 0.3))),
    ("sparse_plus", [(6, 4)], one(ops.sparse_plus)),
    ("swish", [(6, 4)], one(keras.activations.swish)),
    ("squareplus", [(6, 4)], one(ops.squareplus)),
    ("log_sigmoid", [(6, 4)], one(ops.log_sigmoid)),
    ("leaky_relu", [(6, 4)], one(ops.leaky_relu)),
    ("hard_sigmoid", [(6, 4)], one(ops.hard_sigmoid)),
    ("hard_silu", [(6, 4)], one(ops.hard_silu)),
    ("elu", [(6, 4)], one(ops.elu)),
    ("selu", [(6, 4)], one(ops.selu)),
    ("gelu", [(6, 4)], one(ops.gelu)),
    ("celu", [(6, 4)], one(ops.celu)),
    ("glu", [(6, 4)], one(ops.glu)),
    ("tanh_shrink", [(6, 4)], one(ops.tanh_shrink)),
    ("hard_tanh", [(6, 4)], one(ops.hard_tanh)),
    ("hard_shrink", [(6, 4)], one(ops.hard_shrink)),
    ("threshold", [(6, 4)], one(lambda x: ops.threshold(x, 0.1, 0.0))),
    ("softmax_axis1", [(6, 4)], one(lambda x: ops.softmax(x, axis=1))),
    ("log_softmax", [(6, 4)], one(ops.log_softmax)),
    ("sparsemax", [(6, 4)], one(ops.sparsemax)),
    # convolutions with constant kernels, pooling
    ("conv2d", [(9, 8, 3)], one(lambda x: ops.conv(x, const(3, 3, 3, 5), strides=2))),
    ("conv1d_same", [(9, 3)], one(lambda x: ops.conv(x, const(3, 3, 4), padding="same"))),
    (
        "conv2d_cf",
        [(3, 9, 8)],
        one(lambda x: ops.conv(x, const(3, 3, 3, 5), data_format="channels_first")),
    ),
    ("depthwise", [(7, 7, 3)], one(lambda x: ops.depthwise_conv(x, const(3, 3, 3, 2)))),
    (
        "separable",
        [(7, 7, 3)],
        one(lambda x: ops.separable_conv(x, const(3, 3, 3, 2), const(1, 1, 6, 4), padding="same")),
    ),
    ("conv_transpose", [(5, 5, 3)], one(lambda x: ops.conv_transpose(x, const(3, 3, 4, 3), 2))),
    ("max_pool", [(9, 8, 3)], one(lambda x: ops.max_pool(x, 3, strides=2, padding="same"))),
    ("average_pool1d", [(9, 3)], one(lambda x: ops.average_pool(x, 2))),
    (
        "adaptive_avg_cf",
        [(3, 7, 5)],
        one(lambda x: ops.adaptive_average_pool(x, (3, 2), data_format="channels_first")),
    ),
    (
        "adaptive_max_cf",
        [(3, 7)],
        one(lambda x: ops.adaptive_max_pool(x, (4,), data_format="channels_first")),
    ),
    # normalisation, statistics, attention
    (
        "batch_norm",
        [(5, 3)],
        one(lambda x: ops.batch_normalization(x, const(3), const(3), axis=-1)),
    ),
    ("layer_norm", [(5, 3)], one(ops.layer_normalization)),
    ("rms_norm", [(5, 3)], one(ops.rms_normalization)),
    ("normalize", [(5, 3)], one(ops.normalize)),
    ("moments", [(6, 5, 3)], one(lambda x: ops.moments(x, [1, 2])[1])),
    (
        "dot_product_attention",
        [(5, 2, 4), (7, 2, 4), (7, 2, 4)],
        lambda xs: ops.dot_product_attention(*xs),
    ),
    # data movement
    ("one_hot", [(5,)], one(lambda x: ops.one_hot(ops.cast(x, "int32"), 10, axis=1))),
    ("multi_hot", [(5,)], one(lambda x: ops.multi_hot(ops.cast(x, "int32"), 10))),
    ("multi_hot_rank3", [(4, 5)], one(lambda x: ops.multi_hot(ops.cast(x, "int32"), 7))),
    ("depth_to_space", [(4, 4, 8)], one(lambda x: ops.depth_to_space(x, 2))),
    ("space_to_depth", [(4, 6, 3)], one(lambda x: ops.space_to_depth(x, 2))),
    ("unfold", [(3, 8, 7)], one(lambda x: ops.unfold(x, 3, stride=2, padding=1))),
    ("fold", [(27, 16)], one(lambda x: ops.fold(x, (8, 8), 3, stride=2, padding=1))),
    ("polar", [(4,), (4,)], lambda xs: ops.polar(*xs)),
    # core
    ("cast", [(5, 3)], one(lambda x: ops.cast(x, "float16"))),
    ("saturate_cast", [(5, 3)], one(lambda x: ops.saturate_cast(x, "uint8"))),
    ("convert_to_tensor", [(5, 3)], one(ops.convert_to_tensor)),
    ("stop_gradient", [(5, 3)], one(ops.stop_gradient)),
    ("slice", [(6, 5, 3)], one(lambda x: ops.slice(x, [0, 1, 0, 0], [1, 3, 5, 2]))),
    (
        "slice_update",
        [(5, 4), (2, 4)],
        lambda xs: ops.slice_update(xs[0], (0, 1, 0), xs[1]),
    ),
    ("scatter", [(4, 2)], one(lambda x: ops.scatter(ops.cast(x, "int32"), ops.ones((4,)), (5, 5)))),
    ("scatter_update", [(5, 4)], one(lambda x: ops.scatter_update(x, [[0, 1]], [1.0]))),
    ("unstack", [(3, 4)], one(lambda x: ops.unstack(x, axis=1)[2])),
    # image
    ("resize_bicubic", [(8, 7, 3)], one(lambda x: ops.image.resize(x, (4, 5), "bicubic"))),
    (
        "resize_cf",
        [(3, 8, 7)],
        one(lambda x: ops.image.resize(x, (12, 9), data_format="channels_first")),
    ),
    ("grayscale", [(8, 7, 3)], one(ops.image.rgb_to_grayscale)),
    ("rgb_to_hsv", [(8, 7, 3)], one(ops.image.rgb_to_hsv)),
    ("hsv_to_rgb", [(8, 7, 3)], one(ops.image.hsv_to_rgb)),
    ("gaussian_blur", [(8, 7, 3)], one(lambda x: ops.image.gaussian_blur(x, (5, 3)))),
    ("sobel", [(8, 7, 3)], one(ops.image.sobel_edges)),
    (
        "extract_patches",
        [(8, 7, 3)],
        one(lambda x: ops.image.extract_patches(x, 3, strides=2, padding="same")),
    ),
    (
        "pad_images",
        [(8, 7, 3)],
        one(lambda x: ops.image.pad_images(x, 1, 2, target_height=12, target_width=11)),
    ),
    ("crop_images", [(8, 7, 3)], one(lambda x: ops.image.crop_images(x, 1, 2, 3, 1))),
    ("affine", [(8, 7, 3), (8,)], lambda xs: ops.image.affine_transform(*xs)),
    ("perspective", [(8, 7, 3), (4, 2), (4, 2)], lambda xs: ops.image.perspective_transform(*xs)),
    ("elastic", [(8, 7, 3)], one(ops.image.elastic_transform)),
    (
        "map_coordinates",
        [(8, 7)],
        one(lambda x: ops.image.map_coordinates(x, np.zeros((3, 2, 4), "float32"), 1)),
    ),
    ("ssim", [(16, 16, 3), (16, 16, 3)], lambda xs: ops.image.ssim(*xs)),
]
FAST = {"swish", "conv2d", "resize_bicubic", "slice", "dot_product_attention", "gelu"}


def _model(input_shapes, build):
    inputs = [keras.Input(shape) for shape in input_shapes]
    return keras.Model(inputs, build(inputs))


def _params(rows):
    return [
        pytest.param(shapes, build, id=name, marks=() if name in FAST else pytest.mark.slow)
        for name, shapes, build in rows
    ]


@pytest.mark.parametrize("input_shapes,build", _params(ROWS))
def test_op_matches_keras(tmp_path, input_shapes, build):
    model = _model(input_shapes, build)
    path = write_config_only(model, tmp_path / "m.keras")
    for source in (path, model):
        report = cnncost.analyze(source)
        assert_parity(report, model)  # layers and every keras.ops node (assert_ops_parity)
        assert any(not isinstance(op, keras.layers.Layer) for op in model.operations)


def test_every_ops_nn_rule_has_a_row():
    tested = set()
    for _name, shapes, build in ROWS:
        config = keras.saving.serialize_keras_object(_model(shapes, build))
        for layer in config["config"]["layers"]:
            if (layer.get("module") or "").startswith("keras.src.ops"):
                tested.add("ops." + layer["class_name"])
    assert sorted(set(ops_nn.RULES) - tested) == []


@pytest.mark.parametrize("family", ["nn", "core", "image"])
def test_every_op_class_is_covered(family):
    classes = keras_op_classes(family)
    assert len(classes) > 10
    assert uncovered([f"ops.{name}" for name in classes]) == []


def test_exclusions_are_explained_and_not_rules():
    from cnncost.layers import known_classes

    for key, reason in ops_nn.EXCLUDED.items():
        assert key not in known_classes()
        assert len(reason) > 30, key


# -- numbers, written as arithmetic ----------------------------------------------------------------


def _row(report, prefix):
    return next(row for row in report.layers if row.name.startswith(prefix))


def _analyze(input_shape, fn):
    return cnncost.analyze(_model([input_shape], one(fn)))


def test_swish_records_silu_with_its_flops():
    report = _analyze((6, 4), keras.activations.swish)
    row = _row(report, "silu")
    assert row.status == "exact"
    assert row.macs == 0 and row.extra["flops"] == 4 * 6 * 4  # x * sigmoid(x): 4 per element


def test_gelu_follows_approximate():
    assert (
        _row(_analyze((6, 4), ops.gelu), "gelu").extra["flops"] == 8 * 6 * 4
    )  # tanh form (default)
    exact = _analyze((6, 4), lambda x: ops.gelu(x, approximate=False))
    assert _row(exact, "gelu").extra["flops"] == 5 * 6 * 4  # erf form


def test_conv_op_macs_from_kernel_shape():
    report = _analyze((9, 8, 3), lambda x: ops.conv(x, const(3, 3, 3, 5), strides=2))
    row = _row(report, "conv")
    assert row.output_shapes[0] == (None, 4, 3, 5)
    assert row.params == 0
    assert row.macs == 4 * 3 * 5 * (3 * 3 * 3)
    assert row.extra["flops"] == 2 * row.macs  # no bias, no activation


def test_separable_and_transpose_op_macs():
    report = _analyze(
        (7, 7, 3), lambda x: ops.separable_conv(x, const(3, 3, 3, 2), const(1, 1, 6, 4))
    )
    assert _row(report, "separable").macs == 5 * 5 * 3 * 2 * 9 + 5 * 5 * 6 * 4
    report = _analyze((5, 5, 3), lambda x: ops.conv_transpose(x, const(3, 3, 4, 3), 2))
    row = _row(report, "conv_transpose")
    assert row.output_shapes[0] == (None, 11, 11, 4)
    assert row.macs == 5 * 5 * 3 * 4 * 9  # every input times every tap, into every output channel


def test_max_pool_op_flops_per_window():
    report = _analyze((8, 8, 3), lambda x: ops.max_pool(x, 2))
    assert _row(report, "max_pool").extra["flops"] == 4 * 4 * 3 * (2 * 2 - 1)


@pytest.mark.parametrize(
    "interpolation, per_output",
    [("nearest", 0), ("bilinear", 7), ("bicubic", 31), ("lanczos3", 71), ("lanczos5", 199)],
)
def test_resize_cost_per_interpolation(interpolation, per_output):
    report = _analyze((8, 7, 3), lambda x: ops.image.resize(x, (4, 5), interpolation))
    assert _row(report, "resize").extra["flops"] == per_output * 4 * 5 * 3


def test_antialiased_downscale_is_unknown_not_zero():
    report = _analyze((8, 7, 3), lambda x: ops.image.resize(x, (4, 5), antialias=True))
    row = _row(report, "resize")
    assert row.output_shapes[0] == (None, 4, 5, 3)
    assert row.extra["flops"] is None
    assert any("resize" in w and "no FLOP cost" in w for w in report.warnings)


def test_adaptive_pool_channels_last_has_the_computed_shape():
    # Keras 3.15's symbolic adaptive pool keeps a spurious axis for channels_last; the op
    # returns (N, *output_size, C), which is what cnncost reports.
    report = _analyze((7, 5, 4), lambda x: ops.adaptive_average_pool(x, (3, 2)))
    assert _row(report, "adaptive").output_shapes[0] == (None, 3, 2, 4)


def test_slice_and_cast_cost_nothing():
    report = _analyze(
        (6, 5, 3), lambda x: ops.cast(ops.slice(x, [0, 1, 0, 0], [1, 3, 5, 2]), "int32")
    )
    for name in ("slice", "cast"):
        row = _row(report, name)
        assert (row.macs, row.extra["flops"], row.params) == (0, 0, 0)


def test_dot_product_attention_macs():
    q, k, v = keras.Input((5, 2, 4)), keras.Input((7, 2, 4)), keras.Input((7, 2, 4))
    report = cnncost.analyze(keras.Model([q, k, v], ops.dot_product_attention(q, k, v)))
    row = _row(report, "dot_product_attention")
    assert row.macs == 2 * 5 * 7 * 4 + 2 * 5 * 7 * 4  # q.k and weights.v per head
    assert row.extra["flops"] == 2 * row.macs + (1 + 5) * 2 * 5 * 7  # scale + softmax per score


# -- hypothesis: random geometry against Keras's own shape inference ---------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def conv_case(draw):
    rank = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    size = tuple(draw(st.integers(k, 9)) for k in kernel)
    strides = draw(st.integers(1, 3))
    dilation = 1 if strides > 1 else draw(st.integers(1, 2))
    if any(dilation * (k - 1) + 1 > n for k, n in zip(kernel, size)):
        dilation = 1
    return (
        rank,
        kernel,
        size,
        draw(st.integers(1, 4)),  # in channels
        draw(st.integers(1, 4)),  # out channels (depth multiplier for depthwise)
        strides,
        dilation,
        draw(st.sampled_from(["valid", "same"])),
        draw(st.sampled_from(["conv", "depthwise", "transpose"])),
    )


@SETTINGS
@given(conv_case())
def test_conv_ops_match_keras_shapes_and_macs(case):
    rank, kernel, size, cin, cout, strides, dilation, padding, kind = case
    if kind == "transpose":
        dilation = 1
    x = keras.Input((*size, cin))
    if kind == "conv":
        y = ops.conv(x, const(*kernel, cin, cout), strides, padding, dilation_rate=dilation)
    elif kind == "depthwise":
        y = ops.depthwise_conv(
            x, const(*kernel, cin, cout), strides, padding, dilation_rate=dilation
        )
    else:
        y = ops.conv_transpose(x, const(*kernel, cout, cin), strides, padding)
    model = keras.Model(x, y)
    report = cnncost.analyze(model)
    assert_parity(report, model)
    assert_ops_parity(report, model)
    out = report.layers[-1].output_shapes[0]
    spatial_out = int(np.prod(out[1:-1]))
    taps = int(np.prod(kernel))
    expected = {
        "conv": spatial_out * cout * taps * cin,
        "depthwise": spatial_out * cin * cout * taps,
        "transpose": int(np.prod(size)) * cin * cout * taps,  # every input times every tap
    }[kind]
    assert report.layers[-1].macs == expected


@SETTINGS
@given(
    st.integers(2, 9),
    st.integers(2, 9),
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from(["nearest", "bilinear", "bicubic", "area", "lanczos3"]),
)
def test_resize_shapes_match_keras(h, w, oh, ow, interpolation):
    x = keras.Input((h, w, 2))
    model = keras.Model(x, ops.image.resize(x, (oh, ow), interpolation))
    report = cnncost.analyze(model)
    assert_parity(report, model)
    assert_ops_parity(report, model)
    per_output = {"nearest": 0, "bilinear": 7, "bicubic": 31, "lanczos3": 71}
    flops = report.layers[-1].extra["flops"]
    if interpolation == "area":
        assert flops == h * w * 2  # each input added once, one scale per output
    else:
        assert flops == per_output[interpolation] * oh * ow * 2


# -- exclusions: the claims in their reasons, checked against Keras ---------------------------------


def test_unserializable_ops_cannot_be_saved_by_keras():
    x = keras.Input((4,))
    for build in (
        lambda: ops.fori_loop(0, 3, lambda i, v: v * 2, x),
        lambda: ops.while_loop(lambda v: ops.sum(v) < 10, lambda v: (v * 2,), (x,))[0],
    ):
        with pytest.raises(NotImplementedError):
            keras.saving.serialize_keras_object(keras.Model(x, build()))


@pytest.mark.filterwarnings("ignore:The object being serialized includes a `lambda`")
def test_callable_ops_are_unsupported_rows_with_recorded_shapes(tmp_path):
    x = keras.Input((4,))
    y = ops.cond(ops.sum(x) > 0, lambda: x * 2, lambda: x)
    model = keras.Model(x, keras.layers.Dense(3)(y))
    for source in (model, write_config_only(model, tmp_path / "m.keras")):
        report = cnncost.analyze(source)
        row = next(r for r in report.layers if r.type == "Cond")
        assert row.status == "unsupported"
        assert row.output_shapes[0] == (None, 4)
        assert next(r for r in report.layers if r.type == "Dense").params == 4 * 3 + 3
