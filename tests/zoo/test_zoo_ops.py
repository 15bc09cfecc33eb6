"""Zoo tier: functional models calling keras.ops the way keras-io examples do, live and from
file (plain Functional models: no opt-in flag needed), every row against Keras, complete."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from zoo.harness import check_live_and_file  # noqa: E402
from zoo.ops_models import OPS_MODELS  # noqa: E402

import cnncost  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OPS_MODELS))
def test_ops_model(tmp_path, name):
    keras.backend.clear_session()
    check_live_and_file(OPS_MODELS[name](), tmp_path, name, trust_model_code=False)


def _se_block(gate_pool):
    """An MBConv block whose SE gate pools with `gate_pool` (everything else supported today)."""
    inputs = keras.Input((32, 32, 16))
    x = keras.layers.Conv2D(64, 1, activation="swish")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    gate = gate_pool(x)
    gate = keras.layers.Conv2D(4, 1, activation="swish")(gate)
    gate = keras.layers.Conv2D(64, 1, activation="sigmoid")(gate)
    x = keras.layers.Multiply()([x, gate])
    x = keras.layers.Conv2D(16, 1)(x)
    x = keras.layers.Conv2D(16, 3, padding="same")(keras.layers.Add()([x, inputs]))
    return keras.Model(inputs, x)


@pytest.mark.slow
def test_se_gate_with_ops_mean_is_a_global_gate():
    """An SE gate written with `ops.mean(x, axis=[1, 2], keepdims=True)` has the receptive
    field of the same gate written with GlobalAveragePooling2D(keepdims=True) (issue 12, item
    6): the output row's receptive field is known, global, and its local part is the same."""
    keras.backend.clear_session()
    with_mean = _se_block(lambda x: keras.ops.mean(x, axis=[1, 2], keepdims=True))
    assert "Mean" in {layer["class_name"] for layer in with_mean.get_config()["layers"]}
    (ours,) = cnncost.analyze(with_mean).layers[-1].extra["receptive_field"].values()
    keras.backend.clear_session()
    with_gap = _se_block(keras.layers.GlobalAveragePooling2D(keepdims=True))
    (twin,) = cnncost.analyze(with_gap).layers[-1].extra["receptive_field"].values()
    assert twin["exact"] and twin["global"], twin  # the reference itself is known
    assert ours == twin
