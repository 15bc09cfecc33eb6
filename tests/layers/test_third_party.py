"""Rules for third-party zoo layers known by registered name (cnncost/layers/third_party.py),
checked against the packages themselves: every row's shape and params equal Keras's, from the
saved `.keras` file (which imports nothing) and live."""

from __future__ import annotations

import pytest

import cnncost
from cnncost.layers import third_party
from tests.support.keras_reference import assert_parity, write_config_only

kimm = pytest.importorskip("kimm")  # a dev dependency (the zoo extra): present in CI


def _kimm_model():
    import keras

    image = keras.Input((8, 8, 4))
    x = kimm.layers.LayerScale(name="scale_channels")(image)
    x = kimm.layers.LayerScale(axis=[1, 2], name="scale_space")(x)
    x = kimm.layers.LearnableAffine(scale_value=2.0, bias_value=0.5, name="affine")(x)
    tokens = keras.layers.Reshape((16, 16), name="to_tokens")(
        keras.layers.Conv2D(16, 2, strides=2, name="patches")(x)
    )
    tokens = kimm.layers.PositionEmbedding(height=4, width=4, name="position")(tokens)
    return keras.Model(image, tokens)


def test_kimm_layers_match_keras_from_file_and_live(tmp_path):
    model = _kimm_model()
    path = write_config_only(model, tmp_path / "kimm_layers.keras")
    for source in (path, model):
        report = cnncost.analyze(source)
        assert report.complete, report.left_out
        assert_parity(report, model)
    rows = {row.name: row for row in report.layers}
    assert rows["scale_space"].params == 8 * 8
    assert rows["position"].output_shapes == ((None, 16 + 1, 16),)
    assert rows["position"].params == (16 + 1) * 16 + 16
    # x * gamma: 1 FLOP per element; x * s + b: 2; the positional add: 1 per output element
    assert rows["scale_channels"].extra["flops"] == 8 * 8 * 4
    assert rows["affine"].extra["flops"] == 2 * 8 * 8 * 4
    assert rows["position"].extra["flops"] == 17 * 16


# keras-hub classes by rule key -> constructor arguments
KERAS_HUB_LAYERS = {
    "keras_hub>HGNetV2LearnableAffineBlock": (
        "keras_hub.src.models.hgnetv2.hgnetv2_layers.HGNetV2LearnableAffineBlock",
        {"scale_value": 2.0, "bias_value": 0.5},
    ),
    "keras_hub.src.models.dinov2.dinov2_layers.DINOV2LayerScale": (
        "keras_hub.src.models.dinov2.dinov2_layers.DINOV2LayerScale",
        {"hidden_dim": 4},
    ),
    **{
        f"keras_hub.src.models.{module}.DropPath": (
            f"keras_hub.src.models.{module}.DropPath",
            {},
        )
        for module in (
            "mit.mit_layers",
            "mobilenetv5.mobilenetv5_layers",
            "swin_transformer.swin_transformer_layers",
        )
    },
}


@pytest.mark.parametrize("key", sorted(KERAS_HUB_LAYERS))
def test_keras_hub_layers_match_keras_from_file_and_live(tmp_path, key):
    import importlib

    import keras

    pytest.importorskip("keras_hub")  # a dev dependency (README's install): present in CI
    path, arguments = KERAS_HUB_LAYERS[key]
    module, name = path.rsplit(".", 1)
    layer = getattr(importlib.import_module(module), name)(name="layer", **arguments)
    inputs = keras.Input((6, 4))
    model = keras.Model(inputs, layer(inputs))
    saved = write_config_only(model, tmp_path / "layer.keras")
    for source in (saved, model):
        report = cnncost.analyze(source)
        assert report.complete, report.left_out
        assert_parity(report, model)


def test_every_third_party_rule_is_tested_here():
    tested = {
        f"kimm>{type(layer).__name__}"
        for layer in _kimm_model().layers
        if type(layer).__module__.startswith("kimm")
    }
    assert tested | set(KERAS_HUB_LAYERS) == set(third_party.RULES)
