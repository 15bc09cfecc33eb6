"""The gradient-support ground truth itself: the probe copy and what it measures."""

from __future__ import annotations

from fractions import Fraction

import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from cnncost.verify import (  # noqa: E402
    empirical_receptive_field,
    probe_model,
    summarize_axis,
)


def small_seed(size=64):
    """The seed CNN's layer stack at a smaller input (the RF does not depend on the size)."""
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
        ]
    )


def test_probe_is_linear_positive_and_has_no_max():
    model = small_seed()
    probe = probe_model(model)
    assert [type(layer).__name__ for layer in probe.layers][1] == "AveragePooling2D"
    assert all(layer.get_config().get("activation") in (None, "linear") for layer in probe.layers)
    assert all((w.numpy() >= 0).all() for w in probe.weights)
    assert [layer.name for layer in probe.layers] == [layer.name for layer in model.layers]


def test_seed_stack_measured_22_jump_8():
    model = small_seed()
    measured = empirical_receptive_field(model, model.layers[-1].name)
    assert measured.size == (22, 22)
    assert measured.jump == (8, 8)
    assert measured.start == (Fraction(21, 2), Fraction(21, 2))


def test_relu_that_is_off_does_not_hide_pixels():
    # With real weights a dead ReLU zeroes the gradient; the probe is linear, so the RF is whole.
    model = keras.Sequential(
        [keras.Input((16, 1)), layers.Conv1D(1, 5, activation="relu", bias_initializer="zeros")]
    )
    model.layers[0].kernel.assign(-abs(model.layers[0].kernel.numpy()))  # always off on ones
    measured = empirical_receptive_field(model, model.layers[0].name)
    assert measured.size == (5,)


def test_summary_finds_the_period_of_upsampled_regions():
    # unit 2q -> [q, q], unit 2q+1 -> [q, q+1] (nearest upsampling by 2, then a 2-tap conv)
    regions = {u: (u // 2, u // 2 + u % 2) for u in range(4, 12)}
    axis = summarize_axis(regions, 100)
    assert axis.jump == Fraction(1, 2) and (axis.size_min, axis.size_max) == (1, 2)
    assert axis.start == 0


def layout_twin(data_format: str):
    cf = data_format == "channels_first"
    kw = {"data_format": data_format}
    inp = keras.Input((2, 20, 17) if cf else (20, 17, 2))
    x = layers.Conv2D(3, (3, 2), strides=2, padding="same", **kw)(inp)
    x = layers.BatchNormalization(axis=1 if cf else -1)(x)
    x = layers.MaxPooling2D(2, **kw)(x)
    x = layers.UpSampling2D(2, **kw)(x)
    x = layers.Conv2D(2, 3, dilation_rate=2, name="last", **kw)(x)
    x = layers.Flatten()(x)  # channels_last in the config either way: must not decide
    return keras.Model(inp, x)


def test_channels_first_is_measured_like_its_channels_last_twin():
    from cnncost.verify import input_data_format

    first, last = layout_twin("channels_first"), layout_twin("channels_last")
    assert input_data_format(first) == "channels_first"  # read from the windowed layers
    units = [(1, 2), (2, 2), (3, 1)]
    measured_first = empirical_receptive_field(first, "last", units)
    measured_last = empirical_receptive_field(last, "last", units)
    assert [a.regions for a in measured_first.axes] == [a.regions for a in measured_last.axes]
    assert measured_first.axes[0].input_size == 20 and measured_first.axes[1].input_size == 17
