"""Every class keras.layers exports has a rule or a documented exclusion; the new formula families
(Dot, adaptive pooling, recurrent layers, attention variants) checked against Keras and numpy.

Shapes and params of every rule are compared with Keras in test_rules_vs_keras.py (a row per
class); here: the enumeration, the inference-identity claim for augmentation layers, MACs and
FLOPs written as arithmetic, and hypothesis property tests on random small configurations.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402
from support.coverage import keras_layer_classes, uncovered  # noqa: E402
from support.keras_reference import assert_parity, layer_params  # noqa: E402

import cnncost  # noqa: E402
from cnncost.layers import augmentation, excluded_classes, known_classes  # noqa: E402
from cnncost.layers.pooling import adaptive_bins  # noqa: E402

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_every_keras_layer_class_is_covered():
    classes = keras_layer_classes()
    assert len(classes) > 150
    assert uncovered(classes) == []


def test_exclusions_have_reasons_and_no_rule():
    excluded = excluded_classes()
    for name in ("Lambda", "Layer", "Wrapper", "InputSpec", "TFSMLayer", "Pipeline"):
        assert name in excluded
    for key, reason in excluded.items():
        assert key not in known_classes(), key
        assert len(reason) > 30, key


def test_no_exclusion_shadows_a_keras_layer_we_could_cost():
    # every excluded keras.layers name really is exported by Keras (no stale entries)
    exported = set(keras_layer_classes())
    stale = [k for k in excluded_classes() if not k.startswith("ops.") and k not in exported]
    assert stale == []


# -- augmentation: identity at inference, as Keras runs it ------------------------------------------

_FACTORS = {
    "RandomColorDegeneration": (0.3,),
    "RandomHue": (0.3, (0, 255)),
    "RandomPosterization": (4, (0, 255)),
    "RandomSaturation": (0.3,),
    "RandomSharpness": (0.3,),
    "RandomShear": (0.3,),
    "Solarization": (0.5,),
    "MaxNumBoundingBoxes": (3,),
}


@pytest.mark.parametrize("name", augmentation.IDENTITY_AT_INFERENCE)
def test_augmentation_is_identity_at_inference(name):
    images = np.random.default_rng(0).uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    layer = getattr(layers, name)(*_FACTORS.get(name, ()))
    out = np.asarray(layer(images, training=False))
    np.testing.assert_array_equal(out, images)
    # and the rule reports it as such: no MACs, no FLOPs
    inputs = keras.Input((12, 12, 3))
    report = cnncost.analyze(keras.Model(inputs, layer(inputs)))
    row = report.layers[-1]
    assert (row.macs, row.extra["flops"], row.params) == (0, 0, 0)


def test_every_keras_augmentation_layer_is_classified():
    """A new Keras random layer must be checked for identity at inference before it gets a rule."""
    from keras.src.layers.preprocessing.image_preprocessing.base_image_preprocessing_layer import (
        BaseImagePreprocessingLayer,
    )

    from cnncost.layers.core import INFERENCE_IDENTITY

    classes = {
        name
        for name, obj in vars(layers).items()
        if inspect.isclass(obj) and issubclass(obj, BaseImagePreprocessingLayer)
    }
    classified = (
        set(augmentation.IDENTITY_AT_INFERENCE)
        | set(augmentation.RULES)
        | set(augmentation.EXCLUDED)
        | set(INFERENCE_IDENTITY)
        | {"CenterCrop", "Resizing"}
    )
    assert sorted(classes - classified) == []


# -- formulas as arithmetic --------------------------------------------------------------------------


def _row(report, prefix):
    return next(row for row in report.layers if row.name.startswith(prefix))


def _analyze(shapes, build):
    inputs = [keras.Input(s) for s in shapes]
    return cnncost.analyze(keras.Model(inputs, build(inputs)))


def test_lstm_macs_and_flops():
    report = _analyze([(6, 3)], lambda xs: layers.LSTM(5)(xs[0]))
    row = _row(report, "lstm")
    assert row.params == 3 * 20 + 5 * 20 + 20
    assert row.macs == 6 * (3 * 4 * 5 + 5 * 4 * 5)
    # per step: cell 9*u, 3 sigmoid gates 3*3u, 2 tanh 1*2u, bias 4u
    assert row.extra["flops"] == 2 * row.macs + 6 * (9 * 5 + 3 * 3 * 5 + 2 * 5 + 4 * 5)


def test_gru_reset_after_bias_and_macs():
    report = _analyze([(7, 4)], lambda xs: layers.GRU(3)(xs[0]))
    row = _row(report, "gru")
    assert row.params == 4 * 9 + 3 * 9 + 2 * 9
    assert row.macs == 7 * (4 * 3 * 3 + 3 * 3 * 3)


def test_conv_lstm_macs():
    report = _analyze([(4, 6, 6, 3)], lambda xs: layers.ConvLSTM2D(2, 3)(xs[0]))
    row = _row(report, "conv_lstm2d")
    # per step and output position: input conv 9*3*8, recurrent ("same") conv 9*2*8
    assert row.macs == 4 * (4 * 4) * (9 * 3 * 8 + 9 * 2 * 8)


def test_bidirectional_doubles_and_concatenates():
    report = _analyze([(6, 3)], lambda xs: layers.Bidirectional(layers.SimpleRNN(4))(xs[0]))
    row = _row(report, "bidirectional")
    assert row.output_shapes[0] == (None, 8)
    assert row.params == 2 * (3 * 4 + 4 * 4 + 4)
    assert row.macs == 2 * 6 * (3 * 4 + 4 * 4)


def test_time_distributed_multiplies_by_steps():
    report = _analyze([(5, 7)], lambda xs: layers.TimeDistributed(layers.Dense(3))(xs[0]))
    row = _row(report, "time_distributed")
    assert row.macs == 5 * 7 * 3
    assert row.extra["flops"] == 2 * 5 * 7 * 3 + 5 * 3  # bias on every step


def test_dot_macs_and_normalize():
    report = _analyze([(5, 3), (7, 3)], lambda xs: layers.Dot(axes=2)(xs))
    assert _row(report, "dot").macs == 5 * 7 * 3
    report = _analyze([(6,), (6,)], lambda xs: layers.Dot(axes=1, normalize=True)(xs))
    row = _row(report, "dot")
    assert row.macs == 6
    assert row.extra["flops"] == 2 * 6 + 3 * (6 + 6)  # both inputs l2-normalised


def test_attention_macs():
    report = _analyze([(5, 6), (7, 6)], lambda xs: layers.Attention()([xs[0], xs[1], xs[1]]))
    row = _row(report, "attention")
    assert row.macs == 5 * 7 * 6 + 5 * 7 * 6  # with key = value of 6 features
    report = _analyze([(5, 8), (7, 8)], lambda xs: layers.AdditiveAttention()(xs))
    assert _row(report, "additive").macs == 5 * 7 * 8 + 5 * 7 * 8  # scale . tanh, then @ v


def test_group_query_attention_macs():
    report = _analyze(
        [(5, 8), (7, 8)], lambda xs: layers.GroupQueryAttention(4, 4, 2)(xs[0], xs[1])
    )
    row = _row(report, "group")
    projections = 5 * 8 * 4 * 4 + 2 * 7 * 8 * 2 * 4 + 5 * 4 * 4 * 8
    assert row.macs == projections + 2 * 4 * 5 * 7 * 4


def test_adaptive_avg_pool_flops_are_the_window_taps():
    report = _analyze([(5, 3)], lambda xs: layers.AdaptiveAveragePooling1D(3)(xs[0]))
    # windows over 5 into 3: [0,2) [1,4) [3,5) -> 2 + 3 + 2 taps, per channel
    assert _row(report, "adaptive").extra["flops"] == (2 + 3 + 2) * 3


# -- hypothesis: random small configurations against Keras and numpy ---------------------------------


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 12))
def test_adaptive_bins_cover_like_numpy_reference(n, out):
    # reference: PyTorch's definition, start = floor(i*n/out), end = ceil((i+1)*n/out)
    bins = adaptive_bins(n, out)
    expected = [(int(np.floor(i * n / out)), int(np.ceil((i + 1) * n / out))) for i in range(out)]
    assert bins == expected


@SETTINGS
@given(
    st.integers(2, 9),
    st.integers(2, 9),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from(["Average", "Max"]),
)
def test_adaptive_pooling_matches_keras_numerically(h, w, oh, ow, kind):
    """Shapes vs Keras, and the windows: averaging each bin in numpy equals Keras's output.
    (Max pooling is compared on shapes only: TF 2.21's adaptive max pool crashes the process
    with a floating-point exception on some sizes.)"""
    layer = getattr(layers, f"Adaptive{kind}Pooling2D")((oh, ow))
    if kind == "Average":
        x = np.random.default_rng(h * 31 + w).normal(size=(1, h, w, 2)).astype("float32")
        ours = np.empty((1, oh, ow, 2), "float32")
        for i, (a, b) in enumerate(adaptive_bins(h, oh)):
            for j, (c, d) in enumerate(adaptive_bins(w, ow)):
                ours[0, i, j] = np.mean(x[0, a:b, c:d], axis=(0, 1))
        np.testing.assert_allclose(np.asarray(layer(x)), ours, rtol=1e-5, atol=1e-6)
    inputs = keras.Input((h, w, 2))
    model = keras.Model(inputs, layer(inputs))
    assert_parity(cnncost.analyze(model), model)


@SETTINGS
@given(
    st.sampled_from(["SimpleRNN", "GRU", "LSTM"]),
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(1, 5),
    st.booleans(),
    st.booleans(),
)
def test_recurrent_params_and_shapes_match_keras(kind, units, features, steps, sequences, bias):
    layer = getattr(layers, kind)(
        units, return_sequences=sequences, return_state=True, use_bias=bias
    )
    inputs = keras.Input((steps, features))
    # a list of outputs (this branch's live loader predates tuple outputs; main reads both)
    model = keras.Model(inputs, list(layer(inputs)))
    report = cnncost.analyze(model)
    assert_parity(report, model)
    row = _row(report, layer.name)
    assert [tuple(s) for s in row.output_shapes] == [tuple(t.shape) for t in model.outputs]
    gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}[kind]
    assert row.params == sum(layer_params(layer))
    assert row.macs == steps * (features * gates * units + units * gates * units)


@SETTINGS
@given(
    st.lists(st.integers(1, 4), min_size=2, max_size=3),
    st.lists(st.integers(1, 4), min_size=1, max_size=2),
    st.integers(1, 5),
    st.data(),
)
def test_dot_shapes_match_keras(first, second, contracted, data):
    """Random ranks and contracted axes: cnncost's Dot shape and MACs vs Keras and numpy."""
    a = data.draw(st.integers(0, len(first)))
    b = data.draw(st.integers(0, len(second)))
    shape1 = tuple(first[:a]) + (contracted,) + tuple(first[a:])
    shape2 = tuple(second[:b]) + (contracted,) + tuple(second[b:])
    layer = layers.Dot(axes=(a + 1, b + 1))
    x1, x2 = keras.Input(shape1), keras.Input(shape2)
    try:
        model = keras.Model([x1, x2], layer([x1, x2]))
    except ValueError:
        return  # Keras's batch_dot refuses this combination: no model to compare with
    report = cnncost.analyze(model)
    assert_parity(report, model)
    out = report.layers[-1]
    assert out.macs == int(np.prod(out.output_shapes[0][1:])) * contracted


def test_docs_list_every_exclusion():
    from pathlib import Path

    from cnncost.layers import ops_nn

    text = (Path(__file__).parents[2] / "docs" / "layers.md").read_text()
    documented = {k for k in excluded_classes() if not k.startswith("ops.")} | set(ops_nn.EXCLUDED)
    missing = [k for k in documented if f"`{k.removeprefix('ops.')}`" not in text]
    assert missing == []


@SETTINGS
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(1, 5),
    st.booleans(),
    st.booleans(),
)
def test_group_query_attention_params_match_keras(groups, kv_heads, head_dim, tq, tk, bias, gate):
    heads = groups * kv_heads
    layer = layers.GroupQueryAttention(head_dim, heads, kv_heads, use_bias=bias, use_gate=gate)
    q, v = keras.Input((tq, 6)), keras.Input((tk, 6))
    model = keras.Model([q, v], layer(q, v))
    report = cnncost.analyze(model)
    assert_parity(report, model)
    projections = (2 if gate else 1) * tq * 6 * heads * head_dim + 2 * tk * 6 * kv_heads * head_dim
    projections += tq * heads * head_dim * 6
    assert report.layers[-1].macs == projections + 2 * heads * tq * tk * head_dim


@SETTINGS
@given(
    st.integers(1, 3),
    st.integers(3, 7),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["valid", "same"]),
    st.booleans(),
)
def test_conv_lstm_params_and_shapes_match_keras(steps, size, channels, filters, k, padding, seq):
    layer = layers.ConvLSTM1D(filters, k, padding=padding, return_sequences=seq)
    inputs = keras.Input((steps, size, channels))
    model = keras.Model(inputs, layer(inputs))
    report = cnncost.analyze(model)
    assert_parity(report, model)
    positions = size - k + 1 if padding == "valid" else size
    assert report.layers[-1].macs == steps * positions * (k * channels + k * filters) * 4 * filters


@pytest.mark.parametrize(
    "build",
    [
        lambda: layers.AdaptiveAveragePooling2D(2),
        lambda: layers.Discretization([0.0, 1.0]),
        lambda: layers.CategoryEncoding(10, output_mode="count"),
    ],
)
def test_unknown_input_size_gives_unknown_flops_not_a_guess(build):
    """Work that depends on the input size: unknown size -> FLOPs unknown, with a warning."""
    shape = (4, 4, 3) if isinstance(build(), layers.AdaptiveAveragePooling2D) else (4,)
    inputs = keras.Input(shape)
    model = keras.Model(inputs, build()(inputs))
    unknown = (None, *([None] * (len(shape) - 1)), shape[-1]) if len(shape) > 1 else (None, None)
    report = cnncost.analyze(model, input_shape=unknown)
    row = report.layers[-1]
    assert row.params == 0
    assert row.extra["flops"] is None
    assert any("input size unknown" in w for w in report.warnings)


# -- malformed configurations: a one-line LayerError, never another exception -----------------------

_VALUES = [None, 0, -1, 1, 2, 3, 2**40, 1.5, "x", "valid", "same", [], [1], [1, 2], [[1, 2], [3, 4]],
           {}, {"class_name": "Dense", "config": {"units": 2}}, {"class_name": "LSTM"}, True]  # fmt: skip
_KEYS = [
    "units", "axis", "axes", "size", "output_size", "kernel_size", "strides", "padding",
    "data_format", "num_classes", "block_size", "shape", "num", "height", "width", "layer",
    "cell", "merge_mode", "num_query_heads", "num_key_value_heads", "head_dim", "frame_length",
    "frame_step", "fft_length", "mode", "num_tokens", "num_bins", "output_mode",
    "bin_boundaries", "input_dim", "output_dim", "sequence_stride", "num_mel_bins", "filters",
    "return_sequences", "return_state", "use_bias", "interpolation", "antialias", "approximate",
    "top_cropping", "target_height", "dilation", "stride", "reduction", "score_mode",
    "use_scale", "tie_weights", "vocabulary_size", "pad_to_max_tokens", "max_tokens",
]  # fmt: skip
_SHAPES = [(None, 4), (None, 4, 3), (None, 5, 6, 3), (None, 2, 5, 6, 3), (None, None, 3), (None,),
           (None, 0, 3), (None, 3, 3, 3, 3, 3)]  # fmt: skip


def _new_rule_keys() -> list[str]:
    from cnncost.layers import attention, ops_nn, pooling, preprocessing, recurrent

    return sorted(
        set(ops_nn.RULES)
        | set(recurrent.RULES)
        | set(augmentation.RULES)
        | {"Attention", "AdditiveAttention", "GroupQueryAttention", "Dot", "ReversibleEmbedding"}
        | {k for k in pooling.RULES if k.startswith("Adaptive")}
        | (set(preprocessing.RULES) - {"Rescaling", "Resizing", "CenterCrop"})
        | (set(attention.RULES) - {"MultiHeadAttention"})
    )


@pytest.mark.parametrize("key", _new_rule_keys())
def test_malformed_configs_fail_with_one_line_errors(key):
    import random

    from cnncost.errors import LayerError
    from cnncost.ir import Node
    from cnncost.layers import _REGISTRY
    from cnncost.layers.base import Call, guarded

    rule = _REGISTRY[key]
    rng = random.Random(key)
    module = "keras.src.ops.nn" if key.startswith("ops.") else "keras.layers"
    for _ in range(60):
        config = {k: rng.choice(_VALUES) for k in rng.sample(_KEYS, rng.randint(0, 8))}
        shapes = tuple(rng.choice(_SHAPES) for _ in range(rng.randint(1, 3)))
        call = Call(Node("n", key.removeprefix("ops."), module, config), shapes)
        try:
            outputs = guarded(call, rule.output_shapes)
            guarded(call, rule.weights)
            guarded(call, rule.macs, outputs)
            if rule.element_counts is not None:
                guarded(call, rule.element_counts, outputs)
            if rule.window is not None:
                guarded(call, rule.window)
        except LayerError as exc:
            assert "\n" not in str(exc)


# -- configurations without a rule: unsupported rows, never a failure ------------------------------


@keras.saving.register_keras_serializable(package="cnncost_tests")
class MinimalCell(layers.Layer):
    """A custom RNN cell (the Keras guide's example): its cost cannot be known from the config."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units))

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@pytest.mark.parametrize(
    "build, reason",
    [
        (lambda: layers.RNN(MinimalCell()), "cell class 'MinimalCell'"),
        (lambda: layers.Bidirectional(layers.RNN(MinimalCell())), "cell class 'MinimalCell'"),
        (lambda: layers.TimeDistributed(layers.Lambda(lambda x: x * 2)), "Lambda"),
    ],
)
def test_rules_that_cannot_cost_a_configuration_leave_it_unsupported(tmp_path, build, reason):
    from support.keras_reference import write_config_only

    inputs = keras.Input((5, 4))
    hidden = build()(inputs)
    model = keras.Model(inputs, layers.Dense(2)(hidden))
    sources = [model]
    if "Lambda" not in reason:  # a Lambda's code is saved for safe_mode=False loads only
        sources.append(write_config_only(model, tmp_path / "m.keras"))
    for source in sources:
        report = cnncost.analyze(source)
        wrapper = report.layers[1]
        assert wrapper.status == "unsupported"
        assert any(reason in w for w in report.warnings), report.warnings
        dense = report.layers[-1]
        assert dense.params == sum(layer_params(model.layers[-1]))  # later rows still costed
