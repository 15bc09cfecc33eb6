"""What Keras itself says about a model: the reference our numbers are checked against."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np


def layer_params(layer) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    return trainable, non_trainable


def _is_model(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _output_shapes(layer) -> list[tuple]:
    shapes = []
    for node in getattr(layer, "_inbound_nodes", []):
        outputs = node.output_tensors
        shapes.append([tuple(t.shape) for t in outputs])
    return shapes


def keras_rows(model, prefix: str = "") -> dict[str, dict]:
    """Row name -> {"shape": first output shape, "trainable", "non_trainable"} as Keras has it.

    Nested models are flattened into `outer/inner` rows, as cnncost names them; a nested
    functional model's own InputLayer is no row (cnncost joins the inner graph to the tensor the
    model is called on). Only the first call of each layer inside the model is listed (with its
    weights).
    """
    rows: dict[str, dict] = {}
    for layer in model.layers:
        if prefix and type(layer).__name__ == "InputLayer":
            continue
        name = prefix + layer.name
        if _is_model(layer):
            rows.update(keras_rows(layer, name + "/"))
            continue
        trainable, non_trainable = layer_params(layer)
        shapes = _output_shapes(layer)
        rows[name] = {
            "shape": shapes[0][0] if shapes else None,
            "trainable": trainable,
            "non_trainable": non_trainable,
        }
    return rows


def write_config_only(model, path: Path) -> Path:
    """A `.keras` zip with config.json and metadata.json only (no weights)."""
    import keras

    config = keras.saving.serialize_keras_object(model)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
    return path


def assert_parity(report, model) -> None:
    """Every row's shape and trainable / non-trainable params equal Keras's; totals too."""
    ours = {row.name: row for row in report.layers}
    reference = keras_rows(model)
    missing = sorted(set(reference) - set(ours))
    assert not missing, f"rows Keras has and we do not: {missing[:5]}"
    for name, ref in reference.items():
        row = ours[name]
        assert row.status != "unsupported", (name, row.status)
        if ref["shape"] is not None:
            assert tuple(row.output_shapes[0]) == ref["shape"], (name, row.output_shapes, ref)
        assert (row.trainable_params, row.non_trainable_params) == (
            ref["trainable"],
            ref["non_trainable"],
        ), (name, row.trainable_params, row.non_trainable_params, ref)
    assert_ops_parity(report, model)
    assert report.totals["params"] == model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert report.totals["trainable_params"] == trainable


def assert_ops_parity(report, model) -> None:
    """Every output shape of every keras.ops node of the model's own graph equals Keras's
    (`model.layers`, which `keras_rows` reads, holds no operations); ops own no weights."""
    import keras

    ours = {row.name: row for row in report.layers}
    for op in getattr(model, "operations", ()):
        if isinstance(op, keras.layers.Layer):
            continue
        for k, node in enumerate(op._inbound_nodes):
            row = ours[op.name if k == 0 else f"{op.name}:{k}"]
            expected = [tuple(t.shape) for t in node.output_tensors]
            assert [tuple(s) for s in row.output_shapes] == expected, (op.name, row.output_shapes)
            assert row.params == 0, (op.name, row.params)
