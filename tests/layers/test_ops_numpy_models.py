"""The keras.ops named in issue 12 (GetItem, Split, Pad, Stack, Matmul, Power, Square, Sqrt,
ExpandDims, and resnet50.preprocess_input's slicing) give complete totals, live and from a file,
with the expected MACs / FLOPs written as arithmetic."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402
from support.keras_reference import assert_parity  # noqa: E402

import cnncost  # noqa: E402


def _issue_model():
    x = keras.Input((8, 8, 3))
    y = keras.applications.resnet50.preprocess_input(x)  # GetItem x3, Stack, Add of a constant
    c = layers.Conv2D(4, 3, padding="same", name="conv")(y)  # (8, 8, 4)
    a, b = ops.split(c, 2, axis=-1)  # two (8, 8, 2)
    p = ops.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]])  # (10, 10, 2)
    g = p[:, 1:-1, 1:-1, :]  # (8, 8, 2)
    s = ops.stack([g, b], axis=-1)  # (8, 8, 2, 2)
    e = ops.expand_dims(ops.sqrt(ops.square(b) + 1.0), -1)  # (8, 8, 2, 1)
    m = ops.matmul(s, e)  # (8, 8, 2, 1)
    w = ops.power(m, 2)
    out = layers.Dense(3, name="dense")(layers.Flatten(name="flatten")(w))
    return keras.Model(x, out)


def _rows(report):
    return {row.type: row for row in report.layers}


@pytest.mark.parametrize("source", ["live", "file"])
def test_issue_ops_give_complete_totals(tmp_path, source):
    model = _issue_model()
    if source == "file":
        path = tmp_path / "m.keras"
        model.save(path)
        report = cnncost.analyze(path)
    else:
        report = cnncost.analyze(model)
    assert_parity(report, model)
    assert all(row.status == "exact" for row in report.layers), [
        (row.name, row.status) for row in report.layers if row.status != "exact"
    ]
    rows = _rows(report)
    hw = 8 * 8
    assert rows["Matmul"].macs == hw * 2 * 1 * 2  # (2 x 2) @ (2 x 1) per pixel and channel pair
    assert rows["Power"].extra["flops"] == hw * 2 * 1
    assert rows["Square"].extra["flops"] == hw * 2
    assert rows["Sqrt"].extra["flops"] == hw * 2
    assert rows["Split"].extra["flops"] == 0
    assert rows["Pad"].output_shapes[0] == (None, 10, 10, 2)
    conv = hw * 4 * 3 * 3 * 3
    dense = hw * 2 * 3
    assert report.totals["macs"] == conv + hw * 2 * 2 + dense
    # Adds: preprocess_input's mean subtraction (one per input element), `square + 1`, and the
    # biases; the rest is elementwise work of the rows above.
    preprocess = hw * 3
    expected = (
        2 * (conv + hw * 2 * 2 + dense)
        + preprocess
        + hw * 4  # conv bias
        + hw * 2 * 4  # square, + 1.0, sqrt, power
        + 3  # dense bias
    )
    assert report.totals["flops"] == expected
    assert report.totals["params"] == model.count_params()


def test_preprocess_input_constant_is_an_operand():
    """`x + constant` (a serialized tensor argument) is an add per element, not a copy."""
    x = keras.Input((4, 5, 3))
    model = keras.Model(x, keras.applications.resnet50.preprocess_input(x))
    rows = _rows(cnncost.analyze(model))
    assert rows["Add"].extra["flops"] == 4 * 5 * 3
    assert rows["Stack"].output_shapes[0] == (None, 4, 5, 3)


def test_constant_operand_broadcasts_the_shape():
    import numpy as np

    x = keras.Input((3,))
    model = keras.Model(x, ops.add(x, np.zeros((2, 1, 3), "float32")))
    report = cnncost.analyze(model)
    assert _rows(report)["Add"].output_shapes[0] == (2, None, 3)


def test_spatial_mean_is_a_global_gate():
    """An SE gate written with ops.mean over the spatial axes keeps the receptive field known
    (as GlobalAveragePooling2D(keepdims=True) does)."""

    def model(gate):
        x = keras.Input((16, 16, 4))
        c = layers.Conv2D(4, 3, name="c1")(x)
        g = layers.Dense(4, activation="sigmoid")(gate(c))
        out = layers.Conv2D(4, 3, name="c2")(layers.Multiply()([c, g]))
        return keras.Model(x, out)

    with_ops = cnncost.analyze(model(lambda c: ops.mean(c, axis=[1, 2], keepdims=True)))
    with_gap = cnncost.analyze(model(layers.GlobalAveragePooling2D(keepdims=True)))
    rf_ops = {r.name: r.extra["receptive_field"] for r in with_ops.layers}
    rf_gap = {r.name: r.extra["receptive_field"] for r in with_gap.layers}
    (ours,) = rf_ops["c2"].values()
    (reference,) = rf_gap["c2"].values()
    assert ours["global"] is True and ours["exact"] is True
    assert ours == reference
    assert not any("receptive field" in w for w in with_ops.warnings)


def test_channel_mean_keeps_the_local_receptive_field():
    """A reduction over the channels only (spatial attention) is pointwise in space."""
    x = keras.Input((16, 16, 4))
    c = layers.Conv2D(4, 3, name="c1")(x)
    m = ops.mean(c, axis=-1, keepdims=True)
    out = layers.Conv2D(2, 3, name="c2")(m)
    (rf,) = cnncost.analyze(keras.Model(x, out)).layers[-1].extra["receptive_field"].values()
    assert rf["size"] == [3 + 2, 3 + 2] and rf["global"] is False


def _profiled_model():
    """One input; every op here has a tf-profiler rule (measured on TensorFlow's profiler)."""
    x = keras.Input((6, 5, 4))
    y = keras.applications.resnet50.preprocess_input(x[..., :3])  # GetItem, Stack, Add (BiasAdd)
    a, b = ops.split(ops.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]]), 2, axis=-1)  # (8, 5, 2) each
    c = ops.clip(ops.square(a), 0.0, 4.0) + ops.power(b, 3.0)
    d = ops.where(ops.greater(c, 1.0), ops.sqrt(ops.abs(c)), ops.negative(ops.exp(c)))
    e = ops.rsqrt(ops.log(ops.square(d) + 1.0))
    m = ops.matmul(e, ops.swapaxes(e, 2, 3))  # (8, 5, 5)
    f = ops.squeeze(ops.expand_dims(ops.tile(ops.flip(m, 1), [1, 1, 1, 2]), 1), 1)
    g = layers.Conv2D(2, 3, name="conv")(y)
    return keras.Model(x, [f, g])


def test_tf_profiler_rows_for_ops_as_arithmetic():
    report = cnncost.analyze(_profiled_model(), flops_convention="tf-profiler")
    assert not [w for w in report.warnings if "not modelled" in w], report.warnings
    flops = {row.type: row.extra["flops"] for row in report.layers}
    half = 8 * 5 * 2  # one half of the padded, split input
    assert flops["Add"] == 6 * 5 * 3  # preprocess_input's mean: BiasAdd, 1 per element
    assert flops["Clip"] == 2 * half  # Maximum + Minimum
    assert flops["Power"] == half and flops["Greater"] == half and flops["Negative"] == half
    assert flops["Sqrt"] == 0 and flops["Exp"] == 0 and flops["Where"] == 0
    assert flops["Rsqrt"] == 2 * half and flops["Log"] == half
    assert flops["Matmul"] == 2 * (8 * 5 * 5) * 2  # BatchMatMulV2: 2 * k * m * n
    assert flops["GetItem"] == flops["Split"] == flops["Tile"] == 0


@pytest.mark.slow
def test_tf_profiler_convention_equals_tensorflow_profiler_on_ops():
    from support.tf_profiler_reference import profile_model

    model = _profiled_model()
    total, _ = profile_model(model)
    report = cnncost.analyze(model, flops_convention="tf-profiler")
    assert report.totals["flops"] == total


def test_algorithm_dependent_work_is_unknown_and_says_why():
    """SVD and sort have exact shapes but no MAC count: partial rows, named in one warning
    that does not blame the input size. (top_k counts 0 by convention, like TF's profiler.)"""
    x = keras.Input((8, 8, 3))
    c = layers.Conv2D(4, 3)(x)
    _, s, _ = ops.svd(ops.reshape(c, (-1, 36, 4)))
    values = ops.sort(ops.mean(c, axis=[1, 2]))
    top, _ = ops.top_k(ops.mean(c, axis=[1, 2]), 2)
    norm = ops.norm(ops.reshape(c, (-1, 36, 4)), ord="nuc", axis=(1, 2))
    report = cnncost.analyze(keras.Model(x, [s, values, top, norm]))
    rows = _rows(report)
    for name in ("SVD", "Sort", "Norm"):
        assert rows[name].status == "partial" and rows[name].macs is None, name
        assert "not modelled" in rows[name].extra["reason"]
    assert rows["TopK"].status == "exact" and rows["TopK"].macs == 0
    assert rows["TopK"].extra["flops"] == 0
    assert rows["Conv2D"].status == "exact"
    assert report.totals["params"] == 4 * 3 * 3 * 3 + 4
    (warning,) = [w for w in report.warnings if "cost is not counted" in w]
    assert "svd" in warning and "sort" in warning and "norm" in warning
    assert "top_k" not in warning
    assert not [w for w in report.warnings if "--input-shape" in w]


def test_reduction_that_shifts_the_spatial_axes_makes_the_field_unknown():
    """ops.sum over the height only: one spatial axis reduced, the other kept: not tracked, said."""
    x = keras.Input((16, 16, 4))
    c = layers.Conv2D(4, 3, name="c1")(x)
    out = layers.Conv1D(2, 3, name="c2")(ops.sum(c, axis=1))
    report = cnncost.analyze(keras.Model(x, out))
    (rf,) = report.layers[-1].extra["receptive_field"].values()
    assert rf["exact"] is False and "reduces some spatial axes" in rf["reason"]


def _profiled_reductions():
    """Reductions and more elementwise ops, each with a measured tf-profiler rule."""
    x = keras.Input((6, 5, 4))
    gate = ops.mean(x, axis=[1, 2], keepdims=True)  # an SE gate's squeeze
    y = ops.tanh(ops.reciprocal(x + 2.0)) * gate
    outs = [
        ops.sum(y, axis=1),
        ops.max(ops.floor(y), axis=-1),
        ops.min(ops.round(y), axis=(1, 2)),
        ops.std(ops.sign(y), axis=-1),
        ops.var(ops.log1p(ops.abs(y)), axis=(1, 2), keepdims=True),
        ops.argmax(ops.erf(y), axis=1),
        ops.argmin(ops.sin(y), axis=-1),
        ops.roll(ops.moveaxis(y, -1, 1), 1, axis=2),
        ops.broadcast_to(ops.squeeze(gate, axis=1), (1, 1, 4)),
    ]
    return keras.Model(x, outs)


def test_tf_profiler_rows_for_reductions_as_arithmetic():
    report = cnncost.analyze(_profiled_reductions(), flops_convention="tf-profiler")
    assert not [w for w in report.warnings if "not modelled" in w], report.warnings
    flops = {row.type: row.extra["flops"] for row in report.layers}
    n = 6 * 5 * 4
    assert flops["Mean"] == n  # Mean: 1 per input element
    assert flops["Sum"] == n - 5 * 4  # Sum: input - output elements
    assert flops["Max"] == flops["Min"] == flops["Tanh"] == 0
    assert flops["Std"] == 4 * n and flops["Var"] == 4 * n
    assert flops["Argmax"] == 3 * n - 5 * 4 and flops["Argmin"] == 3 * n - 6 * 5
    assert flops["Reciprocal"] == n


@pytest.mark.slow
def test_tf_profiler_convention_equals_tensorflow_profiler_on_reductions():
    from support.tf_profiler_reference import profile_model

    model = _profiled_reductions()
    total, _ = profile_model(model)
    report = cnncost.analyze(model, flops_convention="tf-profiler")
    assert report.totals["flops"] == total


def _last_rf(model):
    report = cnncost.analyze(model)
    (rf,) = report.layers[-1].extra["receptive_field"].values()
    return rf, report.warnings


def test_preprocess_input_and_channel_slicing_keep_the_receptive_field():
    """GetItem/Stack/Split/Pad on the channel axis move no spatial position ("select")."""
    x = keras.Input((32, 32, 3))
    y = keras.applications.resnet50.preprocess_input(x)
    a, b = ops.split(layers.Conv2D(8, 3, name="c1")(y), 2, axis=-1)
    z = ops.pad(ops.concatenate([a[..., :2], b], axis=-1), [[0, 0], [0, 0], [0, 0], [0, 2]])
    rf, warnings = _last_rf(keras.Model(x, layers.Conv2D(4, 3, name="c2")(z)))
    assert rf["exact"] is True and rf["size"] == [5, 5], rf
    assert not [w for w in warnings if "receptive field" in w]


@pytest.mark.parametrize(
    "move",
    [
        lambda t: t[:, 1:],  # a spatial slice shifts positions
        lambda t: ops.pad(t, [[0, 0], [1, 0], [0, 0], [0, 0]]),
        lambda t: ops.concatenate(ops.split(t, 2, axis=2), axis=-1),
        lambda t: ops.flip(t, axis=1),
    ],
)
def test_moving_a_spatial_axis_makes_the_receptive_field_unknown(move):
    x = keras.Input((16, 16, 4))
    y = move(layers.Conv2D(4, 3, name="c1")(x))
    rf, warnings = _last_rf(keras.Model(x, layers.Conv2D(2, 3, name="c2")(y)))
    assert rf["exact"] is False and rf["size"] == [None, None]
    assert any("receptive field" in w for w in warnings)


@pytest.mark.slow
def test_top_k_counts_zero_as_tensorflows_profiler_does():
    """top_k's convention (docs/conventions.md): 0 MACs and FLOPs; TensorFlow's profiler has no
    statistics for TopKV2, so the tf-profiler total is the Dense layer's alone."""
    from support.tf_profiler_reference import profile_model

    x = keras.Input((16, 12))
    values, _ = ops.top_k(x, k=5)
    model = keras.Model(x, layers.Dense(4)(values))
    total, _ = profile_model(model)
    report = cnncost.analyze(model, flops_convention="tf-profiler")
    assert report.totals["flops"] == total == 16 * (2 * 5 * 4 + 4)
    assert _rows(report)["TopK"].extra["flops"] == 0
