"""Memory pass: dtype policies, peak live activations on a branching graph, frozen layers."""

from __future__ import annotations

import pytest

from cnncost.analysis import analyze
from cnncost.passes.memory import policy_dtypes


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("float32", ("float32", "float32")),
        ("mixed_float16", ("float32", "float16")),
        ("mixed_bfloat16", ("float32", "bfloat16")),
        ("bfloat16", ("bfloat16", "bfloat16")),
    ],
)
def test_policy_dtypes(policy, expected):
    assert policy_dtypes(policy) == expected


def _branching(keras, dtype=None):
    x = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(8, 3, padding="same", name="a", dtype=dtype)(x)
    b = keras.layers.Conv2D(8, 1, name="b", dtype=dtype)(a)
    c = keras.layers.Conv2D(8, 1, name="c", dtype=dtype)(a)
    d = keras.layers.Add(name="d", dtype=dtype)([b, c])
    return keras.Model(x, d)


def test_peak_live_activations_on_a_branching_graph():
    import keras

    report = analyze(_branching(keras))
    image, feature = 16 * 16 * 3 * 4, 16 * 16 * 8 * 4
    # While c runs: a (still needed by c), b (needed by d) and c are live; x was freed after a.
    assert report.totals["peak_activation_bytes"] == 3 * feature
    assert report.totals["activation_bytes"] == image + 4 * feature


def test_mixed_float16_weights_float32_activations_16_bit():
    import keras

    report = analyze(_branching(keras, dtype="mixed_float16"))
    rows = {r.name: r for r in report.layers}
    assert rows["a"].extra["weight_bytes"] == (3 * 3 * 3 * 8 + 8) * 4
    assert rows["a"].extra["activation_bytes"] == 16 * 16 * 8 * 2


@pytest.mark.parametrize("policy", [None, "float32", "mixed_bfloat16", "bfloat16", "float16"])
def test_a_uint8_input_keeps_its_bytes_under_any_dtype_policy(policy):
    """Images sent as uint8 and scaled by the model's first layer (the reference model): the
    input is 1 byte per element whatever the policy, as Keras keeps an Input's integer dtype;
    the Rescaling output is in the policy's compute dtype."""
    import keras

    from cnncost.passes.memory import dtype_bytes, policy_dtypes

    keras.config.set_dtype_policy(policy or "float32")
    try:
        x = keras.Input((8, 6, 3), dtype="uint8")
        model = keras.Model(x, keras.layers.Rescaling(1 / 255, name="scale")(x))
        # Keras's own dtypes, the reference for both rows
        assert model.inputs[0].dtype == "uint8"
        compute = model.get_layer("scale").compute_dtype
    finally:
        keras.config.set_dtype_policy("float32")
    assert compute == policy_dtypes(policy or "float32")[1]
    report = analyze(model, dtype=policy or "float32", batch=2)
    rows = {r.name: r for r in report.layers}
    assert rows[model.layers[0].name].extra["activation_bytes"] == 2 * 8 * 6 * 3 * 1
    assert rows["scale"].extra["activation_bytes"] == 2 * 8 * 6 * 3 * dtype_bytes(compute)


def test_frozen_layers_have_no_weight_gradient_and_input_gradient_needs_a_trainable_ancestor():
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, name="frozen", trainable=False),
            keras.layers.Conv2D(4, 3, name="trained"),
        ]
    )
    rows = {r.name: r for r in analyze(model).layers}
    frozen, trained = rows["frozen"], rows["trained"]
    # frozen: forward only (no weight gradient; nothing before it needs an input gradient)
    assert frozen.extra["train_flops"] == frozen.extra["flops"]
    # trained: forward + weight gradient (bias 1/element), no input gradient (its only
    # ancestor is frozen)
    out = 4 * 4 * 4
    assert trained.extra["train_flops"] == trained.extra["flops"] + 2 * trained.macs + out
    report = analyze(model)
    assert report.totals["train_bytes"] == (
        report.totals["weight_bytes"]
        + 3 * 4 * (3 * 3 * 4 * 4 + 4)
        + report.totals["activation_bytes"]
    )
