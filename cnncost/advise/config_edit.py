"""Keras config surgery: the edits `suggest` writes, on the JSON Keras itself reads.

Pure dict-in, dict-out functions (every edit returns a new config; the input is never mutated):
set fields of a layer, insert a layer after another (Sequential: into the list; Functional:
rewired by name, the inserted layer's inbound tensor recording the shape/dtype Keras 3 rebuilds
it from), rename references, resize the input, write a `.keras`. This layer knows nothing of the
search or of the advice; it imports only the error class.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnncost.errors import CnnCostError


@dataclass(frozen=True)
class ModelConfig:
    """The Keras config of a model and where it came from (what suggestions edit)."""

    config: Mapping[str, Any]
    metadata: Mapping[str, Any]
    source: str

    @property
    def kind(self) -> str:
        return self.config.get("class_name", "")

    def layers(self) -> list[dict]:
        return self.config["config"]["layers"]


def load_model_config(model: Any) -> ModelConfig:
    """The config of a `.keras` file, a JSON config file, or a live keras.Model."""
    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.suffix == ".json":
            from cnncost.limits import MAX_CONFIG_BYTES, loads_json, read_capped

            data = read_capped(path, MAX_CONFIG_BYTES, "JSON model config")
            config, metadata = loads_json(data, str(path)), {}
        else:
            from cnncost.loaders.keras_file import read_keras_archive

            config, metadata = read_keras_archive(path)
        from cnncost.loaders.keras_config import check_nesting

        check_nesting(config)  # report's cap: no copy or walk below recurses past it
        return ModelConfig(config, metadata, str(path))
    if hasattr(model, "get_config") and hasattr(model, "layers"):
        import keras

        return ModelConfig(keras.saving.serialize_keras_object(model), {}, "live model")
    raise CnnCostError("suggest needs a .keras file, a JSON model config or a keras.Model")


def strip_build_configs(value: Any) -> Any:
    """The config without `build_config` entries, so Keras rebuilds layers for the new shapes."""
    if isinstance(value, dict):
        return {k: strip_build_configs(v) for k, v in value.items() if k != "build_config"}
    if isinstance(value, list):
        return [strip_build_configs(v) for v in value]
    return value


# How to open a config-only file (keras.saving.load_model wants a model.weights.h5 in the zip)
LOAD_CONFIG_ONLY = (
    "keras.models.model_from_json(zipfile.ZipFile(PATH).read('config.json'))"
    " (config only: fresh weights)"
)
LOAD_WITH_WEIGHTS = "keras.saving.load_model(PATH) (freshly initialised weights)"


def write_keras(
    config: Mapping[str, Any],
    path: Path,
    metadata: Mapping[str, Any],
    weights: bool = False,
    force: bool = False,
) -> Path:
    """A config-only `.keras` zip (config.json + metadata.json); with `weights`, the model built
    by Keras from the config and saved with its freshly initialised weights, so that
    `keras.saving.load_model` opens it (needs keras; imported only then). Written atomically,
    an existing file only with `force` (`cnncost.outputs`)."""
    from cnncost.outputs import write_output

    if weights:
        try:
            import keras
        except ImportError:
            raise CnnCostError("writing weights needs keras (pip install keras)") from None
        import tempfile

        model = keras.saving.deserialize_keras_object(strip_build_configs(config))
        with tempfile.TemporaryDirectory() as folder:
            saved = Path(folder) / "model.keras"
            model.save(saved)
            data = saved.read_bytes()
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("config.json", json.dumps(strip_build_configs(config)))
            archive.writestr("metadata.json", json.dumps(dict(metadata) or {"keras_version": "3"}))
        data = buffer.getvalue()
    return write_output(path, data, force=force, create_parent=True)


# -- addressing layers ----------------------------------------------------------------------------


def layer_name(layer: Mapping[str, Any]) -> str:
    return layer.get("name") or layer.get("config", {}).get("name")


def layer_index(config: Mapping[str, Any], name: str) -> int:
    for index, layer in enumerate(config["config"]["layers"]):
        if layer_name(layer) == name:
            return index
    raise CnnCostError(f"no layer named {name!r} in the config")


def layer_config(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return config["config"]["layers"][layer_index(config, name)]["config"]


def names_in(layer: Mapping[str, Any]) -> set[str]:
    """The layer's name and those of the layers of a nested model it holds (Keras wants names
    unique across the whole model)."""
    names = {layer_name(layer)}
    for inner in layer.get("config", {}).get("layers") or []:
        if isinstance(inner, dict):
            names |= names_in(inner)
    return names


def fresh_name(config: Mapping[str, Any], base: str) -> str:
    used = {name for layer in config["config"]["layers"] for name in names_in(layer)}
    for k in itertools.count(1):
        candidate = f"{base}_{k}"
        if candidate not in used:
            return candidate
    raise AssertionError  # pragma: no cover


# -- edits ----------------------------------------------------------------------------------------


def _with_layers(config: Mapping[str, Any], layers: list) -> dict:
    """A new config holding `layers` (the unchanged layers are shared, never mutated: every
    edit here builds new dicts along the path it changes)."""
    return {**config, "config": {**config["config"], "layers": layers}}


def set_fields(config: Mapping[str, Any], name: str, **fields: Any) -> dict:
    """Layer `name` with `fields` set in its config."""
    layers = list(config["config"]["layers"])
    index = layer_index(config, name)
    layers[index] = {**layers[index], "config": {**layers[index]["config"], **fields}}
    return _with_layers(config, layers)


def rename_references(value: Any, old: str, new: str) -> Any:
    """Point every reference to layer `old` (keras_history, output_layers) at `new`."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key == "keras_history" and isinstance(item, list) and item and item[0] == old:
                result[key] = [new, *item[1:]]
            else:
                result[key] = rename_references(item, old, new)
        return result
    if isinstance(value, list):
        if len(value) == 3 and value[0] == old and all(isinstance(v, int) for v in value[1:]):
            return [new, *value[1:]]
        return [rename_references(v, old, new) for v in value]
    return value


def tensor_reference(value: Any, name: str) -> dict | None:
    """The shape/dtype recorded with the first `__keras_tensor__` that references layer `name`."""
    if isinstance(value, dict):
        history = value.get("keras_history")
        if isinstance(history, list) and history and history[0] == name:
            return {k: v for k, v in value.items() if k != "keras_history"}
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = tensor_reference(item, name)
        if found is not None:
            return found
    return None


def insert_after(config: Mapping[str, Any], name: str, new_layer: dict) -> dict:
    """`new_layer` right after layer `name`, its consumers rewired (Functional) or not needed."""
    edited = _with_layers(config, list(config["config"]["layers"]))
    layers = edited["config"]["layers"]
    index = layer_index(edited, name)
    new_name = new_layer["config"]["name"]
    if edited.get("class_name") == "Sequential":
        layers.insert(index + 1, new_layer)
        return edited
    # Keras 3 rebuilds each inbound tensor from its recorded shape and dtype: copy them from a
    # consumer's reference to `name` (made before the edit; Keras reads only rank and dtype)
    tensor = tensor_reference(layers, name) or {"shape": None, "dtype": "float32"}
    rewired = [rename_references(layer, name, new_name) for layer in layers]
    outer = {k: v for k, v in edited["config"].items() if k != "layers"}
    outer = rename_references(outer, name, new_name)
    new_layer = {
        **new_layer,
        "name": new_name,  # Keras 3 Functional configs name each entry at its top level
        "inbound_nodes": [
            {
                "args": [
                    {
                        "class_name": "__keras_tensor__",
                        "config": {**tensor, "keras_history": [name, 0, 0]},
                    }
                ],
                "kwargs": {},
            }
        ],
    }
    rewired.insert(index + 1, new_layer)
    edited["config"] = {**outer, "layers": rewired}
    return edited


def pool_layer(config: Mapping[str, Any], rank: int) -> dict:
    """A 2x2 (per axis) max pooling, stride 2, named freshly for `config`."""
    return {
        "module": "keras.layers",
        "class_name": f"MaxPooling{rank}D",
        "config": {
            "name": fresh_name(config, "max_pooling_inserted"),
            "pool_size": [2] * rank,
            "strides": [2] * rank,
            "padding": "valid",
            "data_format": "channels_last",
        },
        "registered_name": None,
    }


def conv_layer(config: Mapping[str, Any], rank: int, filters: int) -> dict:
    """A 3x3 (per axis) "same" conv with ReLU keeping `filters` channels: one more conv block of
    depth at a stage (RF + 2 * the stage's jump per axis; resolution and width unchanged)."""
    return {
        "module": "keras.layers",
        "class_name": f"Conv{rank}D",
        "config": {
            "name": fresh_name(config, "conv_inserted"),
            "filters": filters,
            "kernel_size": [3] * rank,
            "strides": [1] * rank,
            "padding": "same",
            "data_format": "channels_last",
            "dilation_rate": [1] * rank,
            "groups": 1,
            "activation": "relu",
            "use_bias": True,
        },
        "registered_name": None,
    }


def replace_layer(config: Mapping[str, Any], name: str, new_layer: dict) -> dict:
    """Layer `name` replaced by `new_layer` (same inputs), references renamed."""
    edited = _with_layers(config, list(config["config"]["layers"]))
    index = layer_index(edited, name)
    old = edited["config"]["layers"][index]
    new_name = new_layer["config"]["name"]
    entry = dict(new_layer)
    if "name" in old:
        entry["name"] = new_name
    if "inbound_nodes" in old:
        entry["inbound_nodes"] = old["inbound_nodes"]
    edited["config"]["layers"][index] = entry
    return rename_references(edited, name, new_name)


def remove_layers(config: Mapping[str, Any], names: set[str]) -> dict:
    layers = [layer for layer in config["config"]["layers"] if layer_name(layer) not in names]
    return _with_layers(config, layers)


def with_input_shape(config: Mapping[str, Any], input_name: str, dims: tuple | None) -> dict:
    """The config with input `input_name`'s batch_shape set to (None, *dims)."""
    if dims is None:
        return dict(config)
    return set_fields(config, input_name, batch_shape=[None, *dims])


def refit_nested_inputs(config: Mapping[str, Any], feeds: Mapping[str, list]) -> dict:
    """Nested models keep the input shape they were built with (their InputLayer's batch_shape,
    their build_input_shape) and Keras refuses a call at any other: set it, for each nested
    model named in `feeds`, to the shape the edited model feeds it."""
    edited = copy.deepcopy(dict(config))
    for layer in edited["config"]["layers"]:
        shape = feeds.get(layer_name(layer))
        if shape is None or "layers" not in layer.get("config", {}):
            continue
        inner = layer["config"]
        if "build_input_shape" in inner:
            inner["build_input_shape"] = shape
        for entry in inner["layers"]:
            if entry.get("class_name") == "InputLayer":
                entry["config"]["batch_shape"] = shape
    return edited


def as_list(value: Any, rank: int) -> list[int]:
    return [value] * rank if isinstance(value, int) else list(value)
