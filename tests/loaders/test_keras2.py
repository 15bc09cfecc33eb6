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
    config["config"]["layers"][2]["config"]["function"] = "nn.depth_to_space"
    from cnncost.analysis import analyze_graph
    from cnncost.loaders.keras_config import graph_from_config

    report = analyze_graph(graph_from_config(normalize_config(config)))
    row = next(r for r in report.layers if r.name == "tf.math.add")
    assert row.status == "unsupported"
    assert "tf.nn.depth_to_space" in row.extra["reason"]


# -- TensorFlow ops (TFOpLambda / SlicingOpLambda) -------------------------------------------
# test_keras2_tf_ops.py checks real tf-keras files against tf-keras and Keras 3; these check the
# conversion rules on hand-written records.


def _tf_model(*ops: dict) -> dict:
    """A Keras 2 functional config: input `x` (None, 8, 8, 6), then `ops` in order."""
    layers = [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
               "config": {"name": "x", "batch_input_shape": [None, 8, 8, 6]}}]  # fmt: skip
    for op in ops:
        layers.append({"class_name": op.get("class", "TFOpLambda"), "name": op["name"],
                       "config": {"name": op["name"], "function": op["function"]},
                       "inbound_nodes": [op["node"]]})  # fmt: skip
    return {"class_name": "Functional", "config": {
        "name": "m", "layers": layers, "input_layers": [["x", 0, 0]],
        "output_layers": [[layers[-1]["name"], 0, 0]]}}  # fmt: skip


def _converted(*ops: dict) -> dict:
    return normalize_config(_tf_model(*ops))["config"]["layers"][-1]


def _tensor(name: str, index: int = 0) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, index]}}


def test_constant_first_operand_is_a_literal_argument():
    # tf-keras writes `1.0 - x` as subtract(1.0, y=x) with the constant in place of a tensor.
    op = _converted({"name": "s", "function": "math.subtract",
                     "node": ["_CONSTANT_VALUE", -1, 1.0, {"y": ["x", 0, 0], "name": None}]})  # fmt: skip
    assert (op["class_name"], op["module"]) == ("Subtract", "keras.src.ops.numpy")
    assert op["inbound_nodes"] == [{"args": [1.0, _tensor("x")], "kwargs": {}}]


def test_tf_arguments_become_the_keras_op_config():
    op = _converted({"name": "r", "function": "math.reduce_mean",  # tf.compat.v1.reduce_mean
                     "node": ["x", 0, 0, {"axis": [1, 2], "keep_dims": True, "name": None}]})  # fmt: skip
    assert op["class_name"] == "Mean"
    assert op["config"] == {"name": "r", "axis": [1, 2], "keepdims": True}
    # tf.nn.gelu is exact unless told otherwise; keras.ops.gelu's default is approximate.
    op = _converted({"name": "g", "function": "nn.gelu", "node": ["x", 0, 0, {}]})
    assert (op["module"], op["config"]) == ("keras.src.ops.nn", {"name": "g", "approximate": False})


def test_split_sizes_become_split_points():
    op = _converted({"name": "s", "function": "split",
                     "node": ["x", 0, 0, {"num_or_size_splits": [1, 2, 3], "axis": -1}]})  # fmt: skip
    assert op["config"] == {"name": "s", "indices_or_sections": [1, 1 + 2], "axis": -1}


def test_transposed_matmul_is_an_einsum():
    op = _converted({"name": "m", "function": "linalg.matmul",
                     "node": ["x", 0, 0, {"b": ["x", 0, 0], "transpose_b": True}]})  # fmt: skip
    assert (op["class_name"], op["config"]) == ("Einsum", {"name": "m",
                                                           "subscripts": "...ij,...kj->...ik"})  # fmt: skip
    assert op["inbound_nodes"][0]["args"] == [_tensor("x"), _tensor("x")]


def test_slice_spec_becomes_a_getitem_key():
    op = _converted({"class": "SlicingOpLambda", "name": "g", "function": "__operators__.getitem",
                     "node": ["x", 0, 0, {"slice_spec": [{"class_name": "__ellipsis__"},
                                                         {"start": 1, "stop": None, "step": 2}]}]})  # fmt: skip
    assert op["class_name"] == "GetItem"
    assert op["inbound_nodes"][0]["args"][1] == [
        {"class_name": "__ellipsis__", "config": {}},
        {"class_name": "__slice__", "config": {"start": 1, "stop": None, "step": 2}},
    ]


@pytest.mark.parametrize(
    ("function", "kwargs"),
    [
        ("image.resize", {"size": [4, 4], "preserve_aspect_ratio": True}),
        ("image.resize", {"size": [4, 4], "method": "gaussian"}),
        ("reshape", {"shape": ["x", 0, 0]}),  # a shape computed at run time
        ("linalg.matmul", {"b": ["x", 0, 0], "a_is_sparse": True}),  # an argument not mapped
        ("nn.relu", {"y": ["x", 0, 0]}),
    ],
)
def test_calls_without_a_keras_equivalent_stay_unsupported(function, kwargs):
    from cnncost.analysis import analyze_graph
    from cnncost.loaders.keras_config import graph_from_config

    config = normalize_config(_tf_model({"name": "t", "function": function,
                                         "node": ["x", 0, 0, kwargs]}))  # fmt: skip
    assert config["config"]["layers"][-1]["class_name"] == "TFOpLambda"
    row = analyze_graph(graph_from_config(config)).layers[-1]
    assert (row.status, row.inputs[0]) == ("unsupported", "x")
    assert f"tf.{function}" in row.extra["reason"]


def test_table_names_keras_ops_and_their_constructor_arguments():
    """Each entry's class exists in keras.src.ops.<family> and takes the config keys the table
    writes (Keras 3 would fail to build the converted model otherwise)."""
    import importlib
    import inspect

    from cnncost.loaders.keras2 import TF_FUNCTIONS

    for function, spec in TF_FUNCTIONS.items():
        cls = getattr(importlib.import_module(f"keras.src.ops.{spec.family}"), spec.op, None)
        assert cls is not None, (function, spec.op)
        parameters = inspect.signature(cls.__init__).parameters
        for key in [*spec.config, *spec.fixed]:
            assert key in parameters, (function, spec.op, key)


def test_tf_keras_dot_keras_file_is_normalized(tmp_path):
    import zipfile

    config = _tf_model({"name": "tf.nn.relu", "function": "nn.relu",
                        "node": ["x", 0, 0, {"name": None}]})  # fmt: skip
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "2.15.0"}))
    row = cnncost.analyze(path).layers[-1]
    assert (row.name, row.type, row.inputs) == ("tf.nn.relu", "Relu", ("x",))


def test_dict_first_argument_stays_unsupported_not_a_model_error():
    from cnncost.analysis import analyze_graph
    from cnncost.loaders.keras_config import graph_from_config

    node = {"a": ["x", 0, 0, {}], "b": ["x", 0, 0, {}]}
    config = normalize_config(_tf_model({"name": "t", "function": "nest.flatten", "node": node}))
    row = analyze_graph(graph_from_config(config)).layers[-1]
    assert (row.status, row.inputs) == ("unsupported", ("x",))
