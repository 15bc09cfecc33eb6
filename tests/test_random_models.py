"""Acceptance: randomly generated Sequential and Functional models have Keras's shapes and params.

Hypothesis draws chains and branches of the registry's layers with random kernels, strides,
paddings, dilations and groups where valid; models Keras refuses to build are discarded.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402
from support.keras_reference import assert_parity, write_config_only  # noqa: E402

import cnncost  # noqa: E402

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def spatial_layer(draw, channels: int):
    """A factory of a random 2-D layer, and the channel count it outputs.

    Layers are built outside the strategy (Keras initializers use `random`)."""
    kind = draw(
        st.sampled_from(
            [
                "conv",
                "depthwise",
                "separable",
                "pool",
                "avgpool",
                "pad",
                "crop",
                "bn",
                "act",
                "upsample",
                "transpose",
            ]
        )
    )
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    if kind == "conv":
        dilation = draw(st.integers(1, 2)) if s == 1 else 1
        groups = draw(st.sampled_from([g for g in (1, 2, 4) if channels % g == 0]))
        filters = groups * draw(st.integers(1, 3))
        activation = draw(st.sampled_from([None, "relu"]))
        return lambda: layers.Conv2D(
            filters,
            k,
            strides=s,
            padding=padding,
            dilation_rate=dilation,
            groups=groups,
            activation=activation,
        ), filters
    if kind == "depthwise":
        mult = draw(st.integers(1, 2))
        return lambda: layers.DepthwiseConv2D(
            k, strides=s, padding=padding, depth_multiplier=mult
        ), channels * mult
    if kind == "separable":
        filters = draw(st.integers(1, 6))
        return lambda: layers.SeparableConv2D(filters, k, strides=s, padding=padding), filters
    if kind == "pool":
        return lambda: layers.MaxPooling2D(max(k, 1), strides=s, padding=padding), channels
    if kind == "avgpool":
        return lambda: layers.AveragePooling2D(max(k, 1), strides=s, padding=padding), channels
    if kind == "pad":
        return lambda: layers.ZeroPadding2D(((k, 0), (1, s))), channels
    if kind == "crop":
        return lambda: layers.Cropping2D(((0, 1), (1, 0))), channels
    if kind == "bn":
        return lambda: layers.BatchNormalization(), channels
    if kind == "upsample":
        return lambda: layers.UpSampling2D(s), channels
    if kind == "transpose":
        filters = draw(st.integers(1, 5))
        return lambda: layers.Conv2DTranspose(filters, k, strides=s, padding=padding), filters
    name = draw(st.sampled_from(["relu", "sigmoid", "swish"]))
    return lambda: layers.Activation(name), channels


@st.composite
def sequential_models(draw):
    size = draw(st.integers(12, 40))
    channels = draw(st.integers(1, 8))
    input_shape = (size, size + draw(st.integers(0, 5)), channels)
    factories = []
    for _ in range(draw(st.integers(1, 6))):
        factory, channels = draw(spatial_layer(channels))
        factories.append(factory)
    head = draw(st.sampled_from(["flatten", "gap", "none"]))
    units = draw(st.integers(1, 10))
    if head == "flatten":
        factories += [layers.Flatten, lambda: layers.Dense(units)]
    elif head == "gap":
        factories += [
            layers.GlobalAveragePooling2D,
            lambda: layers.Dense(units, activation="softmax"),
        ]
    return input_shape, factories


@st.composite
def functional_specs(draw):
    return dict(
        size=draw(st.integers(12, 32)),
        channels=draw(st.integers(1, 6)),
        stem_filters=draw(st.sampled_from([2, 4])),
        k1=draw(st.integers(1, 3)),
        k2=draw(st.integers(1, 3)),
        filters=draw(st.integers(1, 4)),
        dilation=draw(st.integers(1, 2)),
        merge=draw(st.sampled_from(["Add", "Concatenate", "Multiply"])),
    )


def _functional(spec):
    """Two branches from one input through a shared layer, merged, with two outputs."""
    inputs = keras.Input((spec["size"], spec["size"], spec["channels"]))
    x = layers.Conv2D(spec["stem_filters"], 3, padding="same")(inputs)
    a = layers.Conv2D(spec["filters"], spec["k1"], padding="same")(x)
    b = layers.Conv2D(spec["filters"], spec["k2"], padding="same", dilation_rate=spec["dilation"])(
        x
    )
    shared = layers.Conv2D(spec["filters"], 1)  # one layer called twice: weights counted once
    a, b = shared(a), shared(b)
    merged = getattr(layers, spec["merge"])()([a, b])
    y = layers.GlobalMaxPooling2D()(merged)
    return keras.Model(inputs, [layers.Dense(2)(y), merged])


def _build(input_shape, factories):
    try:
        return keras.Sequential([keras.Input(input_shape), *(f() for f in factories)])
    except (ValueError, TypeError):
        return None  # Keras refuses the combination (e.g. a window larger than its input)


@SETTINGS
@given(sequential_models())
def test_random_sequential_models(tmp_path_factory, drawn):
    model = _build(*drawn)
    assume(model is not None)
    path = write_config_only(model, tmp_path_factory.mktemp("m") / "m.keras")
    assert_parity(cnncost.analyze(path), model)
    assert_parity(cnncost.analyze(model), model)


@SETTINGS
@given(functional_specs())
def test_random_functional_models(tmp_path_factory, spec):
    model = _functional(spec)
    path = write_config_only(model, tmp_path_factory.mktemp("m") / "m.keras")
    assert_parity(cnncost.analyze(path), model)
    assert_parity(cnncost.analyze(model), model)
