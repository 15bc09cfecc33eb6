"""Convert a Keras 2 (tf.keras / tf-keras, and Keras 1 spellings) model config into the Keras 3
form that `cnncost.loaders.keras_config` parses.

Legacy `.h5` files and SavedModel folders hold the config Keras 2 wrote. It differs from Keras 3's
in a few mechanical ways, all handled here and nowhere else:

- `inbound_nodes` are nested lists `[[layer, node_index, tensor_index, kwargs], ...]` (or one
  such entry), with tensors inside kwargs written as `[layer, node_index, tensor_index]`; Keras 3
  writes `{"args": [...], "kwargs": {...}}` with `__keras_tensor__` objects.
- A nested model that owns an InputLayer has a first node of its own that is not serialized, so
  references to its calls count from 1 (tf-keras `functional._should_skip_first_node`).
- SavedModel metadata writes tuples as `{"class_name": "__tuple__", "items": [...]}`.
- Old class names and argument spellings: one table, `LEGACY_CLASS_NAMES` / `LEGACY_ARGUMENTS`.
- `TFOpLambda` layers (a `tf.*` function called on Keras tensors) become the keras.ops operation
  of the same arithmetic where there is one (`TF_FUNCTIONS`); others stay `TFOpLambda` and are
  reported unsupported.

Nothing is executed: the config is plain data, and so is the result. Walks are bounded in depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.errors import ModelConfigError

MAX_DEPTH = 256  # deeper JSON than any real model config; refused instead of recursing further
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})

# Keras 1 / Keras 2 class names -> Keras 3 class names.
LEGACY_CLASS_NAMES: dict[str, str] = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "Convolution3D": "Conv3D",
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
    "Convolution2DTranspose": "Conv2DTranspose",
    "Convolution3DTranspose": "Conv3DTranspose",
    "SeparableConvolution1D": "SeparableConv1D",
    "SeparableConvolution2D": "SeparableConv2D",
    "DepthwiseConvolution2D": "DepthwiseConv2D",
    "MaxPool1D": "MaxPooling1D",
    "MaxPool2D": "MaxPooling2D",
    "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D",
    "AvgPool2D": "AveragePooling2D",
    "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
}

# Argument spellings, per Keras 3 class ("*" applies to every class). A value that is a string
# renames the key; Keras 1's split kernel sizes are joined in `_join_kernel`.
_CONV = {
    "nb_filter": "filters",
    "subsample": "strides",
    "subsample_length": "strides",
    "border_mode": "padding",
    "atrous_rate": "dilation_rate",
    "filter_length": "kernel_size",
    "bias": "use_bias",
}
_POOL = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}
LEGACY_ARGUMENTS: dict[str, dict[str, str]] = {
    "*": {"dim_ordering": "data_format"},
    "InputLayer": {"batch_input_shape": "batch_shape", "input_dtype": "dtype"},
    "Dense": {"output_dim": "units", "bias": "use_bias"},
    "Conv1D": _CONV,
    "Conv2D": _CONV,
    "Conv3D": _CONV,
    "Conv2DTranspose": _CONV,
    "Conv3DTranspose": _CONV,
    "SeparableConv1D": _CONV,
    "SeparableConv2D": _CONV,
    "DepthwiseConv2D": _CONV,
    "MaxPooling1D": _POOL,
    "MaxPooling2D": _POOL,
    "MaxPooling3D": _POOL,
    "AveragePooling1D": _POOL,
    "AveragePooling2D": _POOL,
    "AveragePooling3D": _POOL,
    "Dropout": {"p": "rate"},
    "LeakyReLU": {"alpha": "negative_slope"},
    "Embedding": {"input_length": "input_length"},
}
_DATA_FORMATS = {"tf": "channels_last", "th": "channels_first", "default": "channels_last"}

# tf-keras TFOpLambda `function` -> (keras.ops class, module). Elementwise binary arithmetic only:
# its result shape is the broadcast of its tensor arguments, which `cnncost.layers.ops` computes.
TF_FUNCTIONS: dict[str, str] = {
    "__operators__.add": "Add",
    "math.add": "Add",
    "__operators__.sub": "Subtract",
    "math.subtract": "Subtract",
    "math.multiply": "Multiply",
    "__operators__.mul": "Multiply",
    "math.truediv": "TrueDivide",
    "__operators__.truediv": "TrueDivide",
    "math.divide": "Divide",
    "math.maximum": "Maximum",
    "math.minimum": "Minimum",
}
_OPS_MODULE = "keras.src.ops.numpy"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_model_class(class_name: Any) -> bool:
    return isinstance(class_name, str) and class_name in MODEL_CLASSES


def _plain(value: Any, depth: int = 0) -> Any:
    """A copy with SavedModel's `__tuple__` / `TensorShape` wrappers turned into lists."""
    if depth > MAX_DEPTH:
        raise ModelConfigError("the configuration is nested too deeply")
    if isinstance(value, Mapping):
        if value.get("class_name") in ("__tuple__", "TensorShape") and "items" in value:
            return _plain(value["items"], depth + 1)
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    return value


def _is_history(value: Any) -> bool:
    """`[layer, node_index, tensor_index]` with an optional kwargs dict: one tensor reference."""
    return (
        isinstance(value, list)
        and len(value) in (3, 4)
        and isinstance(value[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in value[1:3])
        and (len(value) == 3 or isinstance(value[3], Mapping))
    )


class _Scope:
    """The layers of one functional model: which of them count their calls from 1."""

    def __init__(self, layers: list[Any]) -> None:
        self.offsets = {}
        for layer in layers:
            if isinstance(layer, Mapping) and _skips_first_node(layer):
                name = layer.get("name", _mapping(layer.get("config")).get("name"))
                if isinstance(name, str):
                    self.offsets[name] = 1

    def tensor(self, history: list[Any], layer_name: str, shape: Any = None) -> dict[str, Any]:
        name, node_index, tensor_index = history[0], history[1], history[2]
        node_index -= self.offsets.get(name, 0)
        if node_index < 0 or tensor_index < 0:
            raise ModelConfigError(
                f"layer {layer_name!r}: reference to call {history[1]} of {name!r}, "
                "which is not part of the model"
            )
        config: dict[str, Any] = {"keras_history": [name, node_index, tensor_index]}
        if shape is not None:
            config["shape"] = shape
        return {"class_name": "__keras_tensor__", "config": config}


def _skips_first_node(layer: Mapping[str, Any]) -> bool:
    """tf-keras `_should_skip_first_node`: a nested model whose first layer is an InputLayer."""
    if not _is_model_class(layer.get("class_name")):
        return False
    if layer.get("class_name") != "Sequential":
        return True
    inner = _mapping(layer.get("config")).get("layers")
    return (
        isinstance(inner, list)
        and bool(inner)
        and isinstance(inner[0], Mapping)
        and inner[0].get("class_name") == "InputLayer"
    )


def _shape_list(value: Any) -> list | None:
    if isinstance(value, list) and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value
    ):
        return value
    return None


def _leaves(node: Any, layer_name: str, depth: int) -> list[list[Any]]:
    """The tensor references of one legacy call, flattened in order (tf.nest.flatten)."""
    if depth > MAX_DEPTH:
        raise ModelConfigError(f"layer {layer_name!r}: inbound node nested too deeply")
    if _is_history(node):
        return [node]
    if not isinstance(node, list):
        raise ModelConfigError(f"layer {layer_name!r}: malformed inbound node {_short(node)}")
    return [leaf for item in node for leaf in _leaves(item, layer_name, depth + 1)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kwargs_tensors(value: Any, scope: _Scope, layer_name: str, depth: int) -> Any:
    """Tensor references inside call kwargs (`{"y": [layer, 0, 0]}`) as keras tensors."""
    if depth > MAX_DEPTH:
        raise ModelConfigError("call arguments are nested too deeply")
    if _is_history(value) and len(value) == 3:
        return scope.tensor(value, layer_name)
    if isinstance(value, list):
        return [_kwargs_tensors(v, scope, layer_name, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {k: _kwargs_tensors(v, scope, layer_name, depth + 1) for k, v in value.items()}
    return value


def _convert_call(node: Any, scope: _Scope, layer_name: str, input_shapes: Any) -> dict:
    """One legacy call (a reference, or a list of references) as Keras 3's {"args", "kwargs"}."""
    if isinstance(node, Mapping):  # already Keras 3 form
        return dict(node)
    entries = _leaves(node, layer_name, 0)
    if not entries:
        raise ModelConfigError(f"layer {layer_name!r}: an inbound node has no inputs")
    shapes = [None] * len(entries)
    if len(entries) == 1 and _shape_list(input_shapes) is not None:
        shapes = [input_shapes]
    elif isinstance(input_shapes, list) and len(input_shapes) == len(entries):
        shapes = [_shape_list(s) for s in input_shapes]
    tensors = [scope.tensor(e, layer_name, s) for e, s in zip(entries, shapes)]
    kwargs: dict[str, Any] = {}
    for entry in entries:  # tf-keras keeps the kwargs of the last entry
        if len(entry) == 4:
            kwargs = _kwargs_tensors(dict(entry[3]), scope, layer_name, 0)
    args = [tensors[0]] if len(tensors) == 1 else [tensors]
    return {"args": args, "kwargs": kwargs}


def _rename_arguments(class_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    renames = {**LEGACY_ARGUMENTS["*"], **LEGACY_ARGUMENTS.get(class_name, {})}
    out = {}
    for key, value in config.items():
        new = renames.get(key, key)
        if new not in config or new == key:
            out[new] = value
    if isinstance(out.get("data_format"), str):
        out["data_format"] = _DATA_FORMATS.get(out["data_format"], out["data_format"])
    if isinstance(out.get("padding"), str) and class_name.startswith(
        ("Conv", "Separable", "Depth")
    ):
        out["padding"] = out["padding"].lower()
    return _join_kernel(out)


def _join_kernel(config: dict[str, Any]) -> dict[str, Any]:
    """Keras 1 `nb_row`/`nb_col`(/`nb_depth`) -> `kernel_size`."""
    parts = [config.pop(k) for k in ("nb_depth", "nb_row", "nb_col") if k in config]
    if parts and "kernel_size" not in config:
        config["kernel_size"] = parts
    return config


def _tf_op(layer: dict[str, Any], layer_name: str) -> dict[str, Any]:
    """A TFOpLambda as the keras.ops operation of the same arithmetic, where there is one."""
    function = layer["config"].get("function")
    op = TF_FUNCTIONS.get(function) if isinstance(function, str) else None
    if op is None:
        return layer
    calls = []
    for call in layer.get("inbound_nodes", []):
        args = list(call.get("args", []))
        kwargs = dict(call.get("kwargs", {}))
        kwargs.pop("name", None)
        if "y" in kwargs:  # tf.add(x, y=...) -> ops.add(x, y)
            args.append(kwargs.pop("y"))
        calls.append({"args": args, "kwargs": kwargs})
    config = {k: v for k, v in layer["config"].items() if k != "function"}
    return {
        **layer,
        "class_name": op,
        "module": _OPS_MODULE,
        "config": config,
        "inbound_nodes": calls,
    }


def _layer(layer: Any, scope: _Scope | None, depth: int) -> Any:
    if (
        not isinstance(layer, Mapping)
        or not isinstance(layer.get("config"), Mapping)
        or not isinstance(layer.get("class_name"), str)
    ):
        return layer  # the parser reports malformed entries with their context
    class_name = layer.get("class_name")
    if _is_model_class(class_name):
        out = dict(_model(layer, depth + 1))
    else:
        class_name = LEGACY_CLASS_NAMES.get(class_name, class_name)
        config = layer["config"]
        config = _rename_arguments(class_name, config) if isinstance(class_name, str) else config
        out = {**layer, "class_name": class_name, "config": config}
    name = out.get("name", out["config"].get("name"))
    inbound = out.get("inbound_nodes")
    if scope is not None and isinstance(inbound, list):
        build = out.get("build_config")
        shapes = build.get("input_shape") if isinstance(build, Mapping) else None
        out["inbound_nodes"] = [
            _convert_call(call, scope, str(name), shapes if i == 0 else None)
            for i, call in enumerate(inbound)
        ]
    if out.get("class_name") == "TFOpLambda" and scope is not None:
        out = _tf_op(out, str(name))
    return out


def _model(model: Mapping[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ModelConfigError("models are nested too deeply")
    config = model.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
        return dict(model)  # the parser reports it
    layers = config["layers"]
    scope = None if model.get("class_name") == "Sequential" else _Scope(layers)
    new_config = {**config, "layers": [_layer(layer, scope, depth) for layer in layers]}
    if scope is not None:
        for key in ("input_layers", "output_layers"):
            new_config[key] = _model_refs(config.get(key), scope)
    return {**model, "config": new_config}


def _model_refs(value: Any, scope: _Scope) -> Any:
    """`input_layers`/`output_layers` with nested-model call indices counted from 0."""
    if _is_history(value):
        return scope.tensor(value, "(model)")["config"]["keras_history"]
    if isinstance(value, list) and all(_is_history(v) for v in value):
        return [scope.tensor(v, "(model)")["config"]["keras_history"] for v in value]
    return value  # the parser reports malformed references


def normalize_config(config: Any) -> Any:
    """The Keras 3 form of a Keras 2 (or already Keras 3) model config; anything that is not a
    model is returned for the parser to report."""
    config = _plain(config)
    if not isinstance(config, Mapping) or not _is_model_class(config.get("class_name")):
        return config
    return _model(config, 0)
