"""The config parser on graph structures Keras builds: shared layers, nested models."""

from __future__ import annotations

import pytest


def test_nested_model_called_twice_shares_its_weights(tmp_path):
    keras = pytest.importorskip("keras")
    from keras import layers
    from support.keras_reference import write_config_only

    import cnncost

    inner = keras.Sequential(
        [keras.Input((8, 8, 3)), layers.Conv2D(4, 3, name="conv")], name="inner"
    )
    x = keras.Input((8, 8, 3))
    y = keras.Input((8, 8, 3))
    model = keras.Model([x, y], layers.Add()([inner(x), inner(y)]))
    report = cnncost.analyze(write_config_only(model, tmp_path / "m.keras"))
    rows = {row.name: row for row in report.layers}
    assert rows["inner/conv"].params == 3 * 3 * 3 * 4 + 4
    assert rows["inner:1/conv"].params == 0  # the second call reuses the first call's kernel
    assert rows["inner:1/conv"].macs == rows["inner/conv"].macs == 6 * 6 * 3 * 3 * 3 * 4
    assert report.totals["params"] == model.count_params()


def nested_functional(calls: int):
    """A functional model (its own InputLayer, a branch and a merge) inside another, called
    `calls` times: the inner graph is joined to each call's tensor, its InputLayer is no row."""
    keras = pytest.importorskip("keras")
    from keras import layers

    inner_input = keras.Input((8, 8, 3), name="inner_input")
    a = layers.Conv2D(4, 3, padding="same", name="conv")(inner_input)
    b = layers.BatchNormalization(name="bn")(a)
    inner = keras.Model(inner_input, layers.Add(name="add")([a, b]), name="block")
    inputs = [keras.Input((8, 8, 3), name=f"image_{i}") for i in range(calls)]
    outputs = [inner(x) for x in inputs]
    merged = outputs[0] if calls == 1 else layers.Concatenate(name="cat")(outputs)
    head = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D(name="gap")(merged))
    return keras.Model(inputs, head, name="outer")


@pytest.mark.parametrize("calls", [1, 2])
@pytest.mark.parametrize("path", ["file", "live"])
def test_nested_functional_model_keras_parity(tmp_path, calls, path):
    from support.keras_reference import assert_parity, keras_rows, write_config_only

    import cnncost

    model = nested_functional(calls)
    source = write_config_only(model, tmp_path / "m.keras") if path == "file" else model
    report = cnncost.analyze(source)
    assert "block/inner_input" not in keras_rows(model)
    assert_parity(report, model)
    names = [row.name for row in report.layers]
    assert "block/conv" in names and ("block:1/conv" in names) == (calls == 2)


def test_a_nested_functional_model_as_the_model_output(tmp_path):
    """Keras writes `output_layers: [["plain", 1, 0]]` for a nested Functional model's first call
    (counted from 1 there, from 0 in `inbound_nodes`): file and live path agree with Keras."""
    import keras

    import cnncost
    from tests.support.keras_reference import write_config_only

    inner_input = keras.Input((4,))
    inner = keras.Model(inner_input, keras.layers.Dense(4, name="dense")(inner_input), name="plain")
    inputs = keras.Input((4,))
    x = keras.layers.Dense(4, name="first")(inputs)
    model = keras.Model(inputs, [inner(x), inner(inner(x))])
    config = keras.saving.serialize_keras_object(model)["config"]
    assert config["output_layers"] == [["plain", 1, 0], ["plain", 3, 0]]  # Keras's own counting
    for source in (model, write_config_only(model, tmp_path / "nested_out.keras")):
        report = cnncost.analyze(source)
        assert [t.name for t in report.outputs] == ["plain/dense", "plain:2/dense"]
        assert report.totals["params"] == model.count_params() == (4 * 4 + 4) + (4 * 4 + 4)
