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
- `TFOpLambda` / `SlicingOpLambda` layers (a `tf.*` function or `x[...]` called on Keras
  tensors) become the keras.ops operation Keras 3 writes for the same call (`TF_FUNCTIONS`: one
  table, tf function -> keras op class and argument mapping); others, and calls whose arguments
  keras.ops cannot express, stay `TFOpLambda` and are reported unsupported.

Nothing is executed: the config is plain data, and so is the result. Walks are bounded in depth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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

# -- tf-keras TensorFlow ops -------------------------------------------------------------------
# A `TFOpLambda` (or `SlicingOpLambda`) records `tf.<function>(x, **kwargs)`: its inbound node
# holds the first argument (a tensor reference, a list of them for tf.concat, or
# `["_CONSTANT_VALUE", -1, value, kwargs]` for `1.0 - x`) and every other argument by its TF
# name, tensors written `[layer, node_index, tensor_index]`. `TF_FUNCTIONS` says which keras.ops
# operation computes the same thing and how TF's arguments become that operation's constructor
# arguments (its config, what Keras 3 writes for `keras.ops.<op>(...)`) and call arguments; the
# result is a node exactly as Keras 3 serializes the keras.ops call, so the keras.ops rules
# (`cnncost.layers.ops*`) give its shape, params (none) and cost. A call whose arguments have no
# keras.ops equivalent (a tensor-valued shape, `preserve_aspect_ratio=True`, a gaussian resize)
# keeps its TFOpLambda class and is reported unsupported: never a guessed number.


class Unmapped(Exception):
    """A TF call whose arguments the keras.ops operation cannot express."""


@dataclass(frozen=True)
class Converted:
    """What a `TFOp.convert` makes of TF's arguments: the keras op's config (and, where the
    arguments select a different op, e.g. a transposed tf.matmul, that op) plus call kwargs."""

    config: dict[str, Any]
    op: tuple[str, str] | None = None  # (class, family) replacing the table's
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TFOp:
    """One tf function as a keras.ops operation `keras.src.ops.<family>.<op>`.

    config: keras config key -> the TF argument it takes its value from ("a|b": TF's aliases,
    e.g. compat.v1's `keep_dims`); operands: TF arguments passed on as further positional call
    arguments (`y` of tf.add, `b` of tf.matmul); fixed: keras config values TF implies where its
    default differs from Keras's (tf.nn.gelu is exact by default, keras.ops.gelu approximate);
    convert: TF arguments whose values need rewriting. Any other TF argument must hold its
    default (None, False or 0), else the call is not mapped.
    """

    op: str
    family: str = "numpy"
    config: Mapping[str, str] = field(default_factory=dict)
    operands: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    convert: Callable[[dict[str, Any]], Converted] | None = None


# TF arguments that change neither shapes nor cost.
_IGNORED_ARGUMENTS = frozenset({"name", "validate_indices", "align_corners", "half_pixel_centers"})


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__"


def _literal(value: Any, what: str) -> Any:
    """A value fixed in the file; a tensor (computed at run time) cannot be mapped."""
    if _is_tensor(value) or (
        isinstance(value, list)
        and any(
            _is_tensor(v) or isinstance(v, list) and any(_is_tensor(w) for w in v) for v in value
        )
    ):
        raise Unmapped(f"{what} is computed at run time")
    return value


def _ints(value: Any, what: str) -> list[int]:
    value = _literal(value, what)
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return value
    raise Unmapped(f"{what} {_short(value)} is not a list of integers")


def _split(kwargs: dict[str, Any]) -> Converted:
    """tf.split's `num_or_size_splits` is a count or the piece sizes; keras.ops.split (numpy's)
    takes a count or the split points: sizes [a, b, c] -> points [a, a + b]."""
    sections = _literal(kwargs.pop("num_or_size_splits", None), "num_or_size_splits")
    if isinstance(sections, list):
        sizes = _ints(sections, "num_or_size_splits")
        if any(s < 0 for s in sizes):
            raise Unmapped("a split size of -1 (inferred) is not mapped")
        sections = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]
    elif not (isinstance(sections, int) and not isinstance(sections, bool)):
        raise Unmapped(f"num_or_size_splits {_short(sections)}")
    kwargs.pop("num", None)
    return Converted({"indices_or_sections": sections, "axis": kwargs.pop("axis", 0)})


_PAD_MODES = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}


def _pad(kwargs: dict[str, Any]) -> Converted:
    """tf.pad(x, paddings, mode="CONSTANT", constant_values=0) -> keras.ops.pad(x, pad_width,
    mode, constant_values) (constant_values is a call argument of keras's Pad)."""
    width = _literal(kwargs.pop("paddings", None), "paddings")
    mode = kwargs.pop("mode", "CONSTANT")
    if not isinstance(mode, str) or mode.upper() not in _PAD_MODES:
        raise Unmapped(f"pad mode {_short(mode)}")
    value = _literal(kwargs.pop("constant_values", 0), "constant_values")
    return Converted(
        {"pad_width": width, "mode": _PAD_MODES[mode.upper()]},
        kwargs={"constant_values": value if mode.upper() == "CONSTANT" and value else None},
    )


def _matmul(kwargs: dict[str, Any]) -> Converted:
    """tf.matmul(a, b, transpose_a/b, adjoint_a/b): keras.ops.matmul has no transpose flags;
    a transposed operand is keras.ops.einsum over the last two axes (adjoint = transpose for
    real tensors), the same products and sums."""
    flip_a = bool(kwargs.pop("transpose_a", False)) | bool(kwargs.pop("adjoint_a", False))
    flip_b = bool(kwargs.pop("transpose_b", False)) | bool(kwargs.pop("adjoint_b", False))
    if not (flip_a or flip_b):
        return Converted({})
    a = "...ji" if flip_a else "...ij"
    b = "...kj" if flip_b else "...jk"
    return Converted({"subscripts": f"{a},{b}->...ik"}, op=("Einsum", "numpy"))


_RESIZE_V1_METHODS = {0: "bilinear", 1: "nearest", 2: "bicubic", 3: "area"}
_RESIZE_METHODS = {"bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5"}


def _resize(method: str | None = None) -> Callable[[dict[str, Any]], Converted]:
    """tf.image.resize(images, size, method, preserve_aspect_ratio, antialias) and the
    compat.v1 resize functions (method fixed by the name, or tf.compat.v1's enum numbers):
    keras.ops.image.resize on NHWC images."""

    def convert(kwargs: dict[str, Any]) -> Converted:
        size = _ints(kwargs.pop("size", None), "size")
        chosen = kwargs.pop("method", None) if method is None else method
        chosen = _RESIZE_V1_METHODS.get(chosen, chosen) if chosen is not None else "bilinear"
        chosen = {"nearest_neighbor": "nearest"}.get(chosen, chosen)
        if chosen not in _RESIZE_METHODS:
            raise Unmapped(f"resize method {_short(chosen)}")
        if kwargs.pop("preserve_aspect_ratio", False):
            raise Unmapped("preserve_aspect_ratio=True")
        return Converted({
            "size": size, "interpolation": chosen,
            "antialias": bool(kwargs.pop("antialias", False)),
            "crop_to_aspect_ratio": False, "pad_to_aspect_ratio": False,
            "fill_mode": "constant", "fill_value": 0.0, "data_format": "channels_last",
        })  # fmt: skip

    return convert


def _window(value: Any, what: str) -> int | list[int]:
    """A tf.nn pooling ksize/strides: an int, one for every spatial axis ([2]), one per spatial
    axis, or NHWC [1, h, w, 1]."""
    values = _ints(value, what)
    if len(values) == 1:
        return values[0]  # keras.ops pools take one int for every spatial axis
    if len(values) == 4:
        if values[0] != 1 or values[3] != 1:
            raise Unmapped(f"{what} {values} pools over the batch or channels")
        values = values[1:3]
    return values


def _pool(kwargs: dict[str, Any]) -> Converted:
    """tf.nn.avg_pool2d / max_pool2d(input, ksize, strides, padding, data_format="NHWC")."""
    if kwargs.pop("data_format", "NHWC") not in ("NHWC", None):
        raise Unmapped("data_format other than NHWC")
    padding = kwargs.pop("padding", None)
    if padding not in ("SAME", "VALID"):
        raise Unmapped(f"padding {_short(padding)}")
    return Converted({
        "pool_size": _window(kwargs.pop("ksize", None), "ksize"),
        "strides": _window(kwargs.pop("strides", None), "strides"),
        "padding": padding.lower(), "data_format": "channels_last",
    })  # fmt: skip


def _get_item(kwargs: dict[str, Any]) -> Converted:
    """`x[...]` (SlicingOpLambda): tf-keras writes each slice as {"start", "stop", "step"} and
    `...` as {"class_name": "__ellipsis__"}; Keras 3 passes the key to GetItem as a call
    argument with `__slice__` / `__ellipsis__` objects."""
    spec = kwargs.pop("slice_spec", None)
    # x[k] is x[(k,)]: Keras 3 computes the shape of a tuple key (not of a bare slice).
    key = [_key(item) for item in (spec if isinstance(spec, list) else [spec])]
    return Converted({}, kwargs={"__key__": key})


def _key(item: Any) -> Any:
    if item is None or (isinstance(item, int) and not isinstance(item, bool)):
        return item
    if isinstance(item, Mapping) and item.get("class_name") == "__ellipsis__":
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(item, Mapping) and set(item) == {"start", "stop", "step"}:
        bounds = {k: item[k] for k in ("start", "stop", "step")}
        if not all(v is None or isinstance(v, int) and not isinstance(v, bool)
                   for v in bounds.values()):  # fmt: skip
            raise Unmapped("a slice bound is computed at run time")
        return {"class_name": "__slice__", "config": bounds}
    raise Unmapped(f"index {_short(item)}")


def _reduction(op: str) -> TFOp:
    """tf.reduce_*(input_tensor, axis=None, keepdims=False); compat.v1 adds `keep_dims` and
    `reduction_indices`."""
    return TFOp(op, config={"axis": "axis|reduction_indices", "keepdims": "keepdims|keep_dims"})


_BINARY = {"Add": ("add",), "Subtract": ("subtract", "sub"), "Multiply": ("multiply", "mul"),
           "TrueDivide": ("truediv",), "Divide": ("divide",), "Maximum": ("maximum",),
           "Minimum": ("minimum",), "Power": ("pow",)}  # fmt: skip
_NN_UNARY = {"Relu": ("nn.relu",), "Relu6": ("nn.relu6",), "Silu": ("nn.silu", "nn.swish"),
             "Sigmoid": ("math.sigmoid", "nn.sigmoid"), "Softplus": ("math.softplus", "nn.softplus"),
             "Selu": ("nn.selu",), "Softsign": ("math.softsign", "nn.softsign")}  # fmt: skip
_NUMPY_UNARY = {"Tanh": "tanh", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Square": "square",
                "Negative": "negative", "Absolute": "abs", "Reciprocal": "reciprocal",
                "Sign": "sign", "Floor": "floor", "Ceil": "ceil", "Round": "round",
                "Sin": "sin", "Cos": "cos", "Log1p": "log1p", "Expm1": "expm1"}  # fmt: skip

# tf function (as tf-keras records it, without "tf.") -> the keras.ops operation.
TF_FUNCTIONS: dict[str, TFOp] = {
    **{f"math.{f}": TFOp(op, operands=("y",)) for op, fs in _BINARY.items() for f in fs},
    **{f"__operators__.{f}": TFOp(op, operands=("y",)) for op, fs in _BINARY.items() for f in fs},
    **{f: TFOp(op, "nn") for op, fs in _NN_UNARY.items() for f in fs},
    **{f"math.{f}": TFOp(op) for op, f in _NUMPY_UNARY.items()},
    "math.rsqrt": TFOp("Rsqrt", "math"),
    "math.erf": TFOp("Erf", "math"),
    "nn.gelu": TFOp(
        "Gelu", "nn", config={"approximate": "approximate"}, fixed={"approximate": False}
    ),
    "nn.elu": TFOp("Elu", "nn", fixed={"alpha": 1.0}),
    "nn.leaky_relu": TFOp(
        "LeakyRelu", "nn", config={"negative_slope": "alpha"}, fixed={"negative_slope": 0.2}
    ),
    "nn.softmax": TFOp("Softmax", "nn", config={"axis": "axis|dim"}, fixed={"axis": -1}),
    "math.softmax": TFOp("Softmax", "nn", config={"axis": "axis|dim"}, fixed={"axis": -1}),
    "nn.log_softmax": TFOp("LogSoftmax", "nn", config={"axis": "axis|dim"}, fixed={"axis": -1}),
    "math.log_softmax": TFOp("LogSoftmax", "nn", config={"axis": "axis|dim"}, fixed={"axis": -1}),
    "math.reduce_mean": _reduction("Mean"),
    "math.reduce_sum": _reduction("Sum"),
    "math.reduce_max": _reduction("Max"),
    "math.reduce_min": _reduction("Min"),
    "math.reduce_prod": _reduction("Prod"),
    "math.reduce_variance": _reduction("Var"),
    "math.reduce_std": _reduction("Std"),
    "reshape": TFOp("Reshape", config={"newshape": "shape"}),
    "transpose": TFOp("Transpose", config={"axes": "perm"}),
    "concat": TFOp("Concatenate", config={"axis": "axis"}),
    "stack": TFOp("Stack", config={"axis": "axis"}, fixed={"axis": 0}),
    "split": TFOp("Split", convert=_split),
    "pad": TFOp("Pad", convert=_pad),
    "expand_dims": TFOp("ExpandDims", config={"axis": "axis|dim"}),
    "squeeze": TFOp("Squeeze", config={"axis": "axis|squeeze_dims"}),
    "tile": TFOp("Tile", config={"repeats": "multiples"}),
    "gather": TFOp("Take", config={"axis": "axis"}, operands=("indices",)),
    "clip_by_value": TFOp("Clip", config={"x_min": "clip_value_min", "x_max": "clip_value_max"}),
    "cast": TFOp("Cast", "core", config={"dtype": "dtype"}),
    "linalg.matmul": TFOp("Matmul", operands=("b",), convert=_matmul),
    "image.resize": TFOp("Resize", "image", convert=_resize()),
    "image.resize_images": TFOp("Resize", "image", convert=_resize()),
    "image.resize_bilinear": TFOp("Resize", "image", convert=_resize("bilinear")),
    "image.resize_nearest_neighbor": TFOp("Resize", "image", convert=_resize("nearest")),
    "image.resize_bicubic": TFOp("Resize", "image", convert=_resize("bicubic")),
    "image.resize_area": TFOp("Resize", "image", convert=_resize("area")),
    "nn.avg_pool2d": TFOp("AveragePool", "nn", convert=_pool),
    "nn.avg_pool": TFOp("AveragePool", "nn", convert=_pool),
    "nn.max_pool2d": TFOp("MaxPool", "nn", convert=_pool),
    "nn.max_pool": TFOp("MaxPool", "nn", convert=_pool),
    "__operators__.getitem": TFOp("GetItem", convert=_get_item),
}
# tf.compat.v1.<f> is recorded under its own name and takes the same (or aliased) arguments.
TF_FUNCTIONS.update({f"compat.v1.{name}": spec for name, spec in list(TF_FUNCTIONS.items())
                     if not name.startswith("__")})  # fmt: skip
# tf.identity is a layer in Keras 3, not an operation.
IDENTITY_FUNCTIONS = frozenset({"identity", "compat.v1.identity"})
TF_OP_CLASSES = frozenset({"TFOpLambda", "SlicingOpLambda"})


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


def _is_constant(value: Any) -> bool:
    """tf-keras's `["_CONSTANT_VALUE", -1, value, kwargs]`: a first argument that is no tensor."""
    return (
        isinstance(value, list)
        and len(value) in (3, 4)
        and value[0] == "_CONSTANT_VALUE"
        and value[1] == -1
        and (len(value) == 3 or isinstance(value[3], Mapping))
    )


def _tf_first_argument(
    node: Any, scope: _Scope, layer_name: str, shape: Any, depth: int = 0
) -> tuple[Any, dict[str, Any]]:
    """The first argument of a recorded tf call (Keras 3 tensors) and the call's keyword
    arguments (tf-keras attaches them to every tensor of the first argument)."""
    if depth > MAX_DEPTH:
        raise ModelConfigError(f"layer {layer_name!r}: inbound node nested too deeply")
    if _is_constant(node) or _is_history(node):
        kwargs = dict(node[3]) if len(node) == 4 else {}
        kwargs = _kwargs_tensors(kwargs, scope, layer_name, 0)
        if _is_constant(node):
            return node[2], kwargs
        return scope.tensor(node, layer_name, _shape_list(shape)), kwargs
    if isinstance(node, Mapping) and node:  # a dict of tensors (tf.nest structure)
        values, kwargs = {}, {}
        for key, item in node.items():
            values[key], kwargs = _tf_first_argument(item, scope, layer_name, None, depth + 1)
        return values, kwargs
    if not isinstance(node, list) or not node:
        raise ModelConfigError(f"layer {layer_name!r}: malformed inbound node {_short(node)}")
    items, kwargs = [], {}
    for item in node:
        value, kwargs = _tf_first_argument(item, scope, layer_name, None, depth + 1)
        items.append(value)
    return items, kwargs


def keras_op_call(spec: TFOp, first: Any, tf_kwargs: dict[str, Any]) -> tuple[Converted, list]:
    """TF's keyword arguments as the keras op's config, call args and call kwargs."""
    kwargs = dict(tf_kwargs)
    converted = spec.convert(kwargs) if spec.convert else Converted({})
    config = {**spec.fixed, **converted.config}
    for key, names in spec.config.items():
        for tf_name in names.split("|"):
            if tf_name in kwargs:
                value = _literal(kwargs.pop(tf_name), tf_name)
                if value is not None:
                    config[key] = value
    args = [first] + [kwargs.pop(name) for name in spec.operands if name in kwargs]
    call_kwargs = dict(converted.kwargs)
    if "__key__" in call_kwargs:  # GetItem's key is its second positional argument
        args.append(call_kwargs.pop("__key__"))
    for name, value in kwargs.items():
        if name not in _IGNORED_ARGUMENTS and not _is_default(value):
            raise Unmapped(f"argument {name}={_short(value)}")
    return Converted(config, converted.op, call_kwargs), args


def _is_default(value: Any) -> bool:
    return (
        value is None
        or value is False
        or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)
    )


def _tf_op(layer: Mapping[str, Any], scope: _Scope, layer_name: str) -> dict[str, Any] | None:
    """A TFOpLambda / SlicingOpLambda as the keras.ops call Keras 3 would write for it; when its
    function or arguments have no keras.ops equivalent, the TFOpLambda itself with its calls in
    Keras 3 form (reported unsupported). None when the layer is already in Keras 3 form."""
    function = _mapping(layer.get("config")).get("function")
    inbound = layer.get("inbound_nodes")
    if not isinstance(inbound, list) or any(
        isinstance(node, Mapping) and "args" in node for node in inbound
    ):
        return None  # already Keras 3 form
    build = layer.get("build_config")
    shape = build.get("input_shape") if isinstance(build, Mapping) else None
    recorded = [
        _tf_first_argument(node, scope, layer_name, shape if i == 0 else None)
        for i, node in enumerate(inbound)
    ]
    if not isinstance(function, str):  # a list or dict here is malformed: never hashed
        function = repr(function)
    spec = TF_FUNCTIONS.get(function)
    if function in IDENTITY_FUNCTIONS:
        spec = TFOp("Identity", "layers")
    try:
        if spec is None:
            raise Unmapped(f"tf.{function}")
        calls, op = [], (spec.op, spec.family)
        for first, tf_kwargs in recorded:
            converted, args = keras_op_call(spec, first, tf_kwargs)
            op = converted.op or op
            calls.append(({"args": args, "kwargs": converted.kwargs}, converted.config))
    except Unmapped:
        return {
            **layer,
            "inbound_nodes": [{"args": [first], "kwargs": kw} for first, kw in recorded],
        }
    keep = {k: v for k, v in layer["config"].items() if k == "name"}  # ops hold no dtype
    class_name, family = op
    return {
        **{k: v for k, v in layer.items() if k not in ("build_config", "registered_name")},
        "class_name": class_name,
        "module": "keras.layers" if family == "layers" else f"keras.src.ops.{family}",
        "registered_name": None,
        "config": {**keep, **calls[0][1]} if calls else keep,
        "inbound_nodes": [call for call, _ in calls],
    }


def _layer(layer: Any, scope: _Scope | None, depth: int) -> Any:
    if (
        not isinstance(layer, Mapping)
        or not isinstance(layer.get("config"), Mapping)
        or not isinstance(layer.get("class_name"), str)
    ):
        return layer  # the parser reports malformed entries with their context
    class_name = layer.get("class_name")
    if class_name in TF_OP_CLASSES and scope is not None:
        name = layer.get("name", layer["config"].get("name"))
        op = _tf_op(layer, scope, str(name))
        if op is not None:
            return op
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
