"""Geometry values Keras could never build are one-line `LayerError`s naming layer and value.

- strides > 1 with dilation_rate > 1 in Conv/ConvTranspose: Keras's own constructor refuses it
  (checked here against Keras itself), so cnncost reports no numbers for that model;
- output_padding must be in 0..strides-1 (Keras refuses output_padding >= strides);
- any kernel/stride/dilation/pool/upsampling/padding value, or a conv's effective window
  `d*(k-1)+1`, above `MAX_SIZE` = 2**31 - 1 (cnncost's documented cap, `layers/base.py`).
Values at the cap are still analysed (in closed form, instantly).
"""

from __future__ import annotations

import time

import pytest

from cnncost.analysis import Options, analyze_graph
from cnncost.errors import LayerError
from cnncost.layers.base import MAX_SIZE
from cnncost.loaders.keras_config import graph_from_config


def _model(input_shape, class_name, **config):
    layers = [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, *input_shape]}},
        {"class_name": class_name, "config": {"name": "hostile", **config}},
    ]
    return {"class_name": "Sequential", "config": {"name": "m", "layers": layers}}


def _analyze(config, padding_aware=True):
    return analyze_graph(graph_from_config(config), Options(padding_aware=padding_aware))


def _one_line_error(config, *fragments):
    with pytest.raises(LayerError) as info:
        _analyze(config)
    message = str(info.value)
    assert "\n" not in message
    assert "'hostile'" in message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize(
    ("class_name", "extra"),
    [("Conv1D", {}), ("Conv2D", {}), ("Conv2DTranspose", {}), ("Conv3DTranspose", {})],
)
def test_strides_with_dilation_refused_like_keras(class_name, extra):
    keras = pytest.importorskip("keras")
    rank = int(class_name[4])
    with pytest.raises(ValueError, match="dilation_rate > 1"):
        getattr(keras.layers, class_name)(2, 3, strides=2, dilation_rate=2)
    config = _model((9,) * rank + (3,), class_name, filters=2, kernel_size=3, strides=2)
    config["config"]["layers"][1]["config"]["dilation_rate"] = 2
    _one_line_error(config, "strides > 1", "dilation_rate > 1", "strides=[2", "dilation_rate=[2")
    # One axis strided and another dilated is refused too (Keras checks the maxima).
    if rank > 1:
        layer = config["config"]["layers"][1]["config"]
        layer["strides"] = [2] + [1] * (rank - 1)
        layer["dilation_rate"] = [1] * (rank - 1) + [2]
        _one_line_error(config, "strides > 1")


def test_output_padding_must_be_below_strides_like_keras():
    keras = pytest.importorskip("keras")
    with pytest.raises(ValueError, match="output_padding"):
        keras.layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    for bad in (2, -1):
        config = _model(
            (5, 5, 3), "Conv2DTranspose", filters=2, kernel_size=3, strides=2, output_padding=bad
        )
        _one_line_error(config, "output_padding", str(bad))
    ok = _model((5, 5, 3), "Conv2DTranspose", filters=2, kernel_size=3, strides=2, output_padding=1)
    # (n-1)*s + k_eff - 2*(k_eff//2) + op with "valid" is (n-1)*s + k_eff + op = 4*2 + 3 + 1.
    assert _analyze(ok).layers[-1].output_shapes[0] == (None, 12, 12, 2)


HUGE = [MAX_SIZE + 1, 2**40, 10**18]


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    ("class_name", "key", "base"),
    [
        ("Conv1D", "kernel_size", {"filters": 2, "kernel_size": 3, "padding": "same"}),
        ("Conv1D", "strides", {"filters": 2, "kernel_size": 3, "padding": "same"}),
        ("Conv1D", "dilation_rate", {"filters": 2, "kernel_size": 3, "padding": "causal"}),
        ("Conv1DTranspose", "kernel_size", {"filters": 2, "kernel_size": 3}),
        ("Conv1DTranspose", "strides", {"filters": 2, "kernel_size": 3, "padding": "same"}),
        ("DepthwiseConv1D", "kernel_size", {"kernel_size": 3, "padding": "same"}),
        ("SeparableConv1D", "kernel_size", {"filters": 2, "kernel_size": 3, "padding": "same"}),
        ("MaxPooling1D", "pool_size", {"padding": "same"}),
        ("AveragePooling1D", "strides", {"padding": "same"}),
        ("UpSampling1D", "size", {}),
        ("ZeroPadding1D", "padding", {}),
        ("Cropping1D", "cropping", {}),
    ],
)
def test_values_above_the_cap_are_one_line_errors(class_name, key, base, value):
    config = _model((16, 3), class_name, **{**base, key: value})
    _one_line_error(config, key, str(value), "2**31 - 1")


def test_effective_window_above_the_cap_is_an_error_but_the_cap_itself_is_analysed():
    # kernel 2**16 + 1 with dilation 2**15: d*(k-1)+1 = 2**31 + 1 > MAX_SIZE.
    config = _model(
        (16, 3), "Conv1D", filters=2, kernel_size=2**16 + 1, dilation_rate=2**15, padding="same"
    )
    _one_line_error(config, "effective window", str(2**31 + 1))
    # A kernel of exactly MAX_SIZE is a (useless) model cnncost still analyses, instantly.
    config = _model((16, 3), "Conv1D", filters=2, kernel_size=MAX_SIZE, padding="same")
    started = time.perf_counter()
    report = _analyze(config)
    assert time.perf_counter() - started < 2
    # Every one of the 16 outputs covers all 16 inputs: 16*16 taps * 3 in-channels * 2 filters.
    assert report.layers[-1].macs == 16 * 16 * 3 * 2


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("key", ["kernel_size", "strides", "dilation_rate"])
def test_non_positive_geometry_is_a_one_line_error(key, value):
    base = {"filters": 2, "kernel_size": 3, "padding": "same"}
    config = _model((16, 3), "Conv1D", **{**base, key: value})
    _one_line_error(config, key, "positive")


def test_upsampling_size_zero_is_refused():
    _one_line_error(_model((4, 3), "UpSampling1D", size=0), "size", "positive")
