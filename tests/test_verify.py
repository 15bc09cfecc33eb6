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


# -- few units, bounded memory (issue 12, item 10) ---------------------------------------------


def small_unet(size=64, channels=4):
    """Two poolings down, two nearest upsamplings up, with skip concatenations."""
    inp = keras.Input((size, size, 1))
    c1 = layers.Conv2D(channels, 3, padding="same", name="c1")(inp)
    c2 = layers.Conv2D(channels, 3, padding="same", name="c2")(layers.MaxPooling2D(2)(c1))
    b = layers.Conv2D(channels, 3, padding="same", name="b")(layers.MaxPooling2D(2)(c2))
    u2 = layers.UpSampling2D(2, name="u2")(b)
    d2 = layers.Conv2D(channels, 3, padding="same", name="d2")(layers.Concatenate()([u2, c2]))
    u1 = layers.UpSampling2D(2, name="u1")(d2)
    d1 = layers.Conv2D(channels, 3, padding="same", name="d1")(layers.Concatenate()([u1, c1]))
    return keras.Model(inp, d1)


def _analytic(model, layer):
    from cnncost.analysis import analyze

    row = next(r for r in analyze(model).layers if r.name == layer)
    (rf,) = row.extra["receptive_field"].values()
    return rf


@pytest.mark.parametrize(
    ("layer", "units"),
    [
        ("d2", [(10, 10), (11, 11)]),  # measured jump 4 (true 2) before
        ("u2", [(10, 10), (11, 11)]),  # measured jump 0
        ("u1", [(10, 10), (11, 11), (12, 12)]),  # one region repeated: period 4 unseen
    ],
)
def test_too_few_units_for_the_jump_are_refused(layer, units):
    from cnncost.errors import CnnCostError

    model = small_unet()
    measured = empirical_receptive_field(model, layer, units)
    for attribute in ("jump", "start", "size"):
        with pytest.raises(CnnCostError, match="too few units to determine the jump") as error:
            getattr(measured, attribute)
        assert "\n" not in str(error.value) and repr(layer) in str(error.value)
    assert all(region is not None for region in measured.axes[0].regions.values())


@pytest.mark.parametrize("layer", ["c2", "u2", "d2", "u1", "d1"])
def test_default_units_measure_the_unet_like_cnncost(layer):
    model = small_unet()
    measured = empirical_receptive_field(model, layer)
    rf = _analytic(model, layer)
    assert list(measured.jump) == rf["jump"]
    assert [float(s) for s in measured.start] == rf["start"]
    assert list(measured.size) == rf["size_max"]


def test_summary_confirms_a_period_over_two_repeats():
    # nearest upsampling by 4 of a 3-tap conv: unit u -> [4*(u//4) - 4, 4*(u//4) + 7]
    def region(u):
        return (4 * (u // 4) - 4 + 50, 4 * (u // 4) + 7 + 50)

    seen = {u: region(u) for u in range(10, 13)}  # 3 units, one repeated region
    assert summarize_axis(seen, 200).reason.startswith("too few units")
    seen = {u: region(u) for u in range(10, 21)}  # 11 units: phase 1 of 4 seen advancing once
    assert summarize_axis(seen, 200).jump is None
    axis = summarize_axis({u: region(u) for u in range(10, 22)}, 200)  # 12 = 3 periods of 4
    assert (axis.jump, axis.size_min, axis.size_max, axis.reason) == (1, 12, 12, None)
    # anchor: unit 12 (phase 0 of the period), region [12 - 4 + 50, 12 + 7 + 50], jump 1
    assert axis.start == Fraction((12 - 4 + 50) + (12 + 7 + 50), 2) - 12 * 1


def test_backward_passes_fit_the_memory_budget():
    from cnncost.errors import CnnCostError
    from cnncost.verify import _bytes_per_unit, empirical_regions

    model = small_unet(size=32)
    probe = probe_model(model)
    sub = keras.Model(probe.inputs, probe.get_layer("d1").output)
    per_unit = _bytes_per_unit(sub, "float64")
    # every operation's output (float64: 8 bytes), 3 times (the tape keeps it; its gradient;
    # TF's temporaries):
    # input, c1, pool, c2, pool, b, u2, concat, d2, u1, concat, d1
    outputs = [32 * 32, 32 * 32 * 4, 16 * 16 * 4, 16 * 16 * 4, 8 * 8 * 4, 8 * 8 * 4,
               16 * 16 * 4, 16 * 16 * 8, 16 * 16 * 4, 32 * 32 * 4, 32 * 32 * 8, 32 * 32 * 4]  # fmt: skip
    assert per_unit == 3 * 8 * sum(outputs)
    probes = [("d1", (u, u)) for u in range(8, 14)]
    unbounded = empirical_regions(model, probes, probe=probe)
    bounded = empirical_regions(model, probes, probe=probe, max_bytes=2 * per_unit)
    assert bounded == unbounded
    with pytest.raises(CnnCostError, match="per unit .* over max_bytes") as error:
        empirical_regions(model, probes, probe=probe, max_bytes=per_unit - 1)
    assert "\n" not in str(error.value)


LARGE_INPUT = """
import resource, sys
sys.path.insert(0, {tests!r})
import keras
from test_verify import small_unet
from cnncost.verify import _bytes_per_unit, empirical_receptive_field, probe_model
model = small_unet(size=704, channels=8)
probe = probe_model(model)
per_unit = _bytes_per_unit(keras.Model(probe.inputs, probe.get_layer("d1").output), "float64")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
measured = empirical_receptive_field(model, "d1", max_bytes=2**30)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(per_unit, peak, *measured.size, *measured.jump, *measured.start)
"""


@pytest.mark.slow
def test_large_input_is_measured_in_bounded_memory():
    """704x704: one pass of the 32 default units took 32 * per_unit (~7 GiB here, 28 GiB with
    16 channels); now the passes fit max_bytes (1 GiB) plus TF's own ~1 GiB."""
    import subprocess
    import sys
    from pathlib import Path

    script = LARGE_INPUT.format(tests=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=900, check=True
    )
    per_unit, peak, *rf = done.stdout.split()[-8:]
    assert 32 * int(per_unit) > 5 * 2**30  # what the old single pass of 32 units needed
    assert int(peak) < 2**30 + 1.5 * 2**30, int(peak) / 2**30
    analytic = _analytic(small_unet(size=704, channels=8), "d1")
    assert [int(r) for r in rf[:2]] == analytic["size_max"]
    assert [Fraction(r) for r in rf[2:4]] == analytic["jump"]
    assert [float(Fraction(r)) for r in rf[4:]] == analytic["start"]
