"""Rules are matched on the config's module and registered name as well as the class name: a
custom class that merely shares a Keras class name is `unsupported` (or served by a plugin rule
registered under its name), never given Keras's rule (issue 12, item 4)."""

from __future__ import annotations

import pytest

import cnncost
from cnncost import plugins
from tests.support.keras_reference import write_config_only


def _clashing_model():
    """A user's `Identity` that owns 16 weights and a kimm-style `LayerScale` (Keras's ConvNeXt
    LayerScale needs `projection_dim`; this one does not have it)."""
    import keras

    @keras.saving.register_keras_serializable(package="mine")
    class Identity(keras.layers.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=(4, 4), name="table")

        def call(self, x):
            return x

    @keras.saving.register_keras_serializable(package="mine")
    class LayerScale(keras.layers.Layer):
        def build(self, input_shape):
            self.gamma = self.add_weight(shape=(input_shape[-1],), name="gamma")

        def call(self, x):
            return x * self.gamma

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = Identity(name="mine_identity")(x)
    x = LayerScale(name="mine_scale")(x)
    x = keras.layers.Identity(name="keras_identity")(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def clash_file(tmp_path_factory):
    return write_config_only(_clashing_model(), tmp_path_factory.mktemp("clash") / "clash.keras")


def test_custom_classes_with_keras_names_are_unsupported_not_keras(clash_file):
    rows = {row.name: row for row in cnncost.analyze(clash_file).layers}
    for name in ("mine_identity", "mine_scale"):
        assert rows[name].status == "unsupported", name
        assert rows[name].params is None  # not Keras's 0 for Identity: it owns 4*4 weights
        assert "shares a Keras class name" in rows[name].extra["reason"]
        assert "mine>" in rows[name].extra["reason"]
    # Keras's own Identity keeps its rule; the conv before the custom layers stays exact
    assert rows["keras_identity"].status == "exact" and rows["keras_identity"].params == 0
    assert rows["conv"].params == 3 * 3 * 3 * 4 + 4


def test_a_plugin_registered_under_the_registered_name_serves_the_custom_class(clash_file):
    class IdentityWithTable(plugins.Rule):
        def weights(self, call):
            return (plugins.weight("table", (4, 4), trainable=True),)

    plugins.register_rule("mine>Identity", IdentityWithTable)
    try:
        report = cnncost.analyze(clash_file)
    finally:
        plugins.unregister_rule("mine>Identity")
    rows = {row.name: row for row in report.layers}
    assert rows["mine_identity"].status == "exact" and rows["mine_identity"].params == 4 * 4
    # the registered name does not touch Keras's own Identity
    assert rows["keras_identity"].params == 0
    assert (
        rows["mine_identity"].params == _clashing_model().get_layer("mine_identity").count_params()
    )


def test_the_decision_reads_module_and_registered_name():
    from cnncost.ir import Node
    from cnncost.layers import is_keras_class, rule_for

    def node(module, registered):
        return Node("x", "Identity", module, {}, registered_name=registered)

    assert is_keras_class(node("keras.layers", None))
    assert is_keras_class(node("", None))  # legacy configs record no module
    assert is_keras_class(node("tf_keras.layers", None))
    assert not is_keras_class(node("kimm.layers", "kimm>Identity"))
    assert not is_keras_class(node("my_project.layers", "Identity"))
    assert not is_keras_class(node("keras.layers", "mine>Identity"))
    assert rule_for(node("my_project.layers", "Identity")) is None
    assert rule_for(node("keras.layers", None)) is not None
