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
