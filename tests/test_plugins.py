"""The plugin API: the example of docs/plugins.md, run as written, gives Keras's own numbers for
two custom layers; rule failures and bad registrations are one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cnncost
from cnncost import plugins
from cnncost.errors import CnnCostError, PluginError

DOC = Path(__file__).parents[1] / "docs" / "plugins.md"


def _doc_plugin_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return next(block for block in blocks if block.startswith("# my_rules.py"))


@pytest.fixture
def doc_plugin(tmp_path):
    path = tmp_path / "my_rules.py"
    path.write_text(_doc_plugin_code())
    plugins.load_plugin(path)
    yield path
    plugins.unregister_rule("ChannelScale")
    plugins.unregister_rule("SpaceToDepth")


def _custom_model():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="docs_example")
    class ChannelScale(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")

        def call(self, x):
            return x * self.scale

    @keras.saving.register_keras_serializable(package="docs_example")
    class SpaceToDepth(keras.layers.Layer):
        def __init__(self, block_size=2, **kwargs):
            super().__init__(**kwargs)
            self.block_size = block_size

        def call(self, x):
            b = self.block_size
            _, h, w, c = x.shape
            x = ops.reshape(x, (-1, h // b, b, w // b, b, c))
            x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
            return ops.reshape(x, (-1, h // b, w // b, c * b * b))

        def get_config(self):
            return {**super().get_config(), "block_size": self.block_size}

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = ChannelScale()(x)
    x = SpaceToDepth(block_size=4)(x)
    x = keras.layers.Conv2D(16, 1)(x)
    outputs = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def test_doc_example_matches_keras(doc_plugin, tmp_path):
    from tests.support.keras_reference import assert_parity, write_config_only

    model = _custom_model()
    path = write_config_only(model, tmp_path / "custom.keras")
    report = cnncost.analyze(path)
    assert_parity(report, model)
    rows = {row.type: row for row in report.layers}
    # ChannelScale: one factor per channel of the 32x32x8 conv output.
    assert rows["ChannelScale"].params == 8
    assert rows["SpaceToDepth"].output_shapes[0] == (None, 32 // 4, 32 // 4, 8 * 4 * 4)
    assert all(row.status == "exact" for row in report.layers)


def test_without_the_plugin_custom_layers_are_unsupported_with_a_reason(tmp_path):
    from tests.support.keras_reference import write_config_only

    path = write_config_only(_custom_model(), tmp_path / "custom.keras")
    report = cnncost.analyze(path)
    rows = {row.type: row for row in report.layers}
    assert rows["ChannelScale"].status == "unsupported"
    assert "plugin" in rows["ChannelScale"].extra["reason"]
    # never a silent total: the known rows' sum, marked as a lower bound naming the row
    custom = tuple(r.name for r in report.layers if r.type in ("ChannelScale", "SpaceToDepth"))
    assert report.left_out["params"] == custom and not report.complete
    assert report.totals["params"] == sum(r.params for r in report.layers if r.name not in custom)
    assert report.exact_total("params") is None
    assert any("ChannelScale" in w and "docs/plugins.md" in w for w in report.warnings)
    assert any("lower bounds" in w and custom[0] in w for w in report.warnings)


def _graph_with(class_name: str, config: dict):
    from cnncost.loaders.keras_config import graph_from_config

    return graph_from_config(
        {
            "class_name": "Sequential",
            "config": {
                "name": "m",
                "layers": [
                    {
                        "class_name": "InputLayer",
                        "config": {"name": "x", "batch_shape": [None, 6, 6, 2]},
                    },
                    {"class_name": class_name, "config": {"name": "custom", **config}},
                ],
            },
        }
    )


@pytest.fixture
def scratch_rule():
    yield "ScratchLayer"
    plugins.unregister_rule("ScratchLayer")


def test_a_failing_rule_is_a_one_line_plugin_error(scratch_rule):
    @plugins.layer_rule(scratch_rule)
    class Broken(plugins.Rule):
        def weights(self, call):
            return (plugins.weight("w", (call.config["missing"],), True),)

    with pytest.raises(PluginError, match=r"plugin rule for 'ScratchLayer' failed in weights"):
        cnncost.analyze(_graph_with(scratch_rule, {}))


@pytest.mark.parametrize(
    "result, message",
    [
        ((), "expected a non-empty tuple of shapes"),
        ((6, 6), "the shape 6"),
        (((None, -1),), "non-negative"),
    ],
)
def test_malformed_rule_results_are_reported(scratch_rule, result, message):
    @plugins.layer_rule(scratch_rule)
    class Wrong(plugins.Rule):
        def output_shapes(self, call):
            return result

    with pytest.raises(PluginError, match=message):
        cnncost.analyze(_graph_with(scratch_rule, {}))


def test_replacing_a_builtin_rule_needs_replace_and_is_undone():
    class Zero(plugins.Rule):
        pass

    with pytest.raises(PluginError, match="built-in rule"):
        plugins.register_rule("Dense", Zero)
    graph = _graph_with("Flatten", {})
    before = cnncost.analyze(graph).layers[-1].output_shapes
    plugins.register_rule("Flatten", Zero, replace=True)
    try:
        assert cnncost.analyze(graph).layers[-1].output_shapes == ((None, 6, 6, 2),)
    finally:
        plugins.unregister_rule("Flatten")
    assert cnncost.analyze(graph).layers[-1].output_shapes == before == ((None, 6 * 6 * 2),)


@pytest.mark.parametrize(
    "source, message",
    [("raise RuntimeError('boom')", "RuntimeError: boom"), ("def (:", "SyntaxError")],
)
def test_a_plugin_that_fails_to_load_is_one_error(tmp_path, source, message):
    path = tmp_path / "bad_plugin.py"
    path.write_text(source)
    with pytest.raises(PluginError, match=message):
        plugins.load_plugin(path)


def test_missing_plugin_module_is_an_error():
    with pytest.raises(CnnCostError, match="cannot load plugin no_such_cnncost_plugin"):
        plugins.load_plugin("no_such_cnncost_plugin")
    with pytest.raises(CnnCostError, match="no such file"):
        plugins.load_plugin("missing_rules.py")


def test_window_rule_without_window_is_refused():
    class NoWindow(plugins.Rule):
        rf = "window"

    with pytest.raises(PluginError, match="no window"):
        plugins.register_rule("NoWindowLayer", NoWindow)
