"""One unknown row never erases a total: totals are sums over the known rows, the rows they leave
out are named (JSON `left_out`, `complete: false`), the table marks them `≥`, and params stay exact
when every weight-holding row is known (issue 12, items 5 and 9)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cnncost
from tests.support.keras_reference import write_config_only


def _model_with_a_lambda():
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubled")(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(5, name="head")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def lambda_file(tmp_path_factory):
    return write_config_only(_model_with_a_lambda(), tmp_path_factory.mktemp("p") / "lam.keras")


def test_params_stay_exact_when_only_a_weightless_row_is_unknown(lambda_file):
    report = cnncost.analyze(lambda_file)
    rows = {row.name: row for row in report.layers}
    assert rows["doubled"].status == "unsupported" and rows["doubled"].params == 0
    assert "params" not in report.left_out
    assert report.totals["params"] == _model_with_a_lambda().count_params()
    assert report.totals["params"] == (3 * 3 * 3 * 8 + 8) + (3 * 3 * 8 * 4 + 4) + (4 * 5 + 5)


def test_cost_totals_are_known_sums_naming_what_they_leave_out(lambda_file):
    report = cnncost.analyze(lambda_file)
    assert not report.complete
    assert report.left_out["macs"] == ("doubled",) and report.left_out["flops"] == ("doubled",)
    known = [row.macs for row in report.layers if row.macs is not None]
    assert report.totals["macs"] == sum(known)
    assert report.totals["macs"] == 14 * 14 * 3 * 3 * 3 * 8 + 12 * 12 * 3 * 3 * 8 * 4 + 4 * 5
    assert report.exact_total("macs") is None and report.exact_total("params") is not None
    assert any("lower bounds" in w and "doubled" in w for w in report.warnings)


def test_json_and_table_mark_lower_bounds(lambda_file):
    command = [sys.executable, "-m", "cnncost", "report", str(lambda_file)]
    data = json.loads(
        subprocess.run([*command, "--format", "json"], capture_output=True, text=True).stdout
    )
    assert data["complete"] is False and data["left_out"]["macs"] == ["doubled"]
    assert isinstance(data["totals"]["macs"], int) and isinstance(data["totals"]["flops"], int)
    table = subprocess.run(command, capture_output=True, text=True)
    assert table.returncode == 0
    from cnncost.render.numbers import human

    assert f"MACs ≥{human(data['totals']['macs'])}" in table.stdout  # the summary block
    params = next(line for line in table.stdout.splitlines() if line.startswith("params "))
    assert params.split()[1] == human(data["totals"]["params"])  # exact: no mark


def test_a_complete_report_says_so(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)])
    report = cnncost.analyze(model)
    assert report.complete and report.left_out == {}
    assert report.to_dict()["complete"] is True


def _multi_output_custom_model():
    import keras

    @keras.saving.register_keras_serializable(package="mine")
    class Halves(keras.layers.Layer):
        def call(self, x):
            return x[..., :2], x[..., 2:]

        def compute_output_shape(self, shape):
            return (*shape[:-1], 2), (*shape[:-1], shape[-1] - 2)

    inputs = keras.Input((8, 8, 5))
    x = keras.layers.Conv2D(5, 1, name="conv")(inputs)
    low, high = Halves(name="halves")(x)
    return keras.Model(inputs, [low, high])


def test_an_unsupported_multi_output_layer_keeps_every_output(tmp_path):
    """Both outputs of an unsupported layer are model outputs: no IndexError, both outputs kept
    (unknown: a `.keras` config records the shapes of call arguments, not of model outputs)."""
    model = _multi_output_custom_model()
    path = write_config_only(model, tmp_path / "halves.keras")
    report = cnncost.analyze(path)
    row = next(r for r in report.layers if r.name == "halves")
    assert row.status == "unsupported"
    assert row.output_shapes == (None, None)
    assert [(t.name, t.shape) for t in report.outputs] == [("halves", None), ("halves", None)]
    assert report.left_out["params"] == ("halves",)
    assert report.totals["params"] == 5 * 5 + 5


def test_live_custom_layers_count_their_own_variables():
    """A live model's custom layer that no trace can enter (it calls a TensorFlow function that
    the trace maps onto no keras.ops call) is
    still unsupported for its cost, but its params are its variables', trainable and not, at the
    top level and inside a nested model."""
    import keras

    class Affine(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")
            self.shift = self.add_weight(shape=(input_shape[-1],), name="shift", trainable=False)

        def call(self, x):
            import tensorflow as tf

            return tf.math.cumsum(x, axis=-1) * self.scale + self.shift  # no keras.ops maps it

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = Affine(name="affine")(x)
    nested = keras.Sequential([keras.Input((6, 6, 4)), Affine(name="inner")], name="nested")
    model = keras.Model(inputs, nested(x))
    report = cnncost.analyze(model)
    rows = {row.name: row for row in report.layers}
    for name in ("affine", "nested/inner"):
        assert rows[name].status == "unsupported"
        assert (rows[name].trainable_params, rows[name].non_trainable_params) == (4, 4)
    assert "params" not in report.left_out
    assert report.totals["params"] == model.count_params() == (3 * 3 * 3 * 4 + 4) + 2 * (4 + 4)
