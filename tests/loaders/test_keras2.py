"""The Keras 2 normalizer, on hand-written legacy configs (the tf-keras parity test in
test_legacy_parity.py checks it against real files): Keras 1 spellings, nested-model call
indices counted from 1, TFOpLambda arithmetic with a tensor keyword argument, SavedModel tuples."""

from __future__ import annotations

import json

import pytest

import cnncost
from cnncost.errors import ModelConfigError
from cnncost.loaders.keras2 import normalize_config
from tests.loaders.test_fuzz_files import KERAS2


def test_legacy_config_shapes_and_params(tmp_path):
    import h5py

    path = tmp_path / "k2.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(KERAS2)
        handle.attrs["keras_version"] = "2.4.0"
    report = cnncost.analyze(path)
    rows = {row.name: row for row in report.layers}
    # Convolution2D(nb_filter=6, nb_row=3, nb_col=3, border_mode="same") on 12x12x3.
    assert rows["c"].output_shapes == ((None, 12, 12, 6),)
    assert rows["c"].params == 3 * 3 * 3 * 6 + 6
    # tf.math.add(c, y=c) -> ops.Add of two tensors.
    assert rows["tf.math.add"].type == "Add"
    assert rows["tf.math.add"].inputs == ("c",)
    # The nested Sequential is called once; the output refers to it as call 1 (tf-keras).
    assert rows["s/sc"].output_shapes == ((None, 12, 12, 2),)
    assert rows["s/sc"].params == 6 * 2 + 2
    assert report.outputs[0].shape == (None, 12, 12, 2)
    assert all(row.status == "exact" for row in report.layers)


def test_savedmodel_tuples_become_lists():
    config = normalize_config(
        {"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"name": "i", "batch_input_shape": {
                "class_name": "__tuple__", "items": [None, 4]}}}]}}
    )  # fmt: skip
    assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, 4]


def test_reference_to_a_nested_model_call_outside_the_model_is_refused():
    config = json.loads(json.dumps(KERAS2))
    config["config"]["output_layers"] = [["s", 0, 0]]  # call 0 is the nested model's own
    with pytest.raises(ModelConfigError, match="call 0 of 's', which is not part of the model"):
        normalize_config(config)


def test_unknown_tf_function_stays_unsupported_with_its_name():
    config = json.loads(json.dumps(KERAS2))
    config["config"]["layers"][2]["config"]["function"] = "nn.gelu"
    from cnncost.analysis import analyze_graph
    from cnncost.loaders.keras_config import graph_from_config

    report = analyze_graph(graph_from_config(normalize_config(config)))
    row = next(r for r in report.layers if r.name == "tf.math.add")
    assert row.status == "unsupported"
    assert "tf.nn.gelu" in row.extra["reason"]
