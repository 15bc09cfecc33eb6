"""TensorFlow functions called on symbolic Keras tensors while a trace runs, as keras.ops calls.

A custom layer may call TensorFlow directly (`tf.compat.v1.image.resize(x, size)` in
keras-hub's `interpolate` on the TensorFlow backend; `tf.cast` inside Keras's own backend code
that a layer reaches through `keras.src.backend`). A symbolic Keras tensor cannot enter a
TensorFlow function: it raises `ValueError` on conversion. TensorFlow then offers the call to
its *fallback dispatchers* (`tf.__internal__.dispatch.GlobalOpDispatcher`, the mechanism
tf-keras uses to record such calls as `TFOpLambda` layers), with the function and its
arguments. While a trace runs, cnncost registers one: it names the function as tf-keras does
(`get_canonical_name_for_symbol`, e.g. `compat.v1.image.resize_images`), looks it up in the one
table of TensorFlow functions cnncost knows (`cnncost.loaders.keras2.TF_FUNCTIONS`, the table
for tf-keras files), and makes the keras.ops call that table gives
(`tf.compat.v1.image.resize(x, size, method="bilinear", align_corners=True)` ->
`keras.ops.image.resize(x, size, interpolation="bilinear")`). That keras.ops call is recorded by
the trace like any other (one row, its usual rule). The function is never run.

A function the table does not list, or arguments it cannot express (a size computed at run time,
`preserve_aspect_ratio=True`), is declined: TensorFlow raises its own error, the layer's call
fails, and the trace keeps that layer one row, `unsupported` (never a guessed number). Only the
TensorFlow backend calls TensorFlow functions: on another backend nothing is registered.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cnncost.loaders.keras2 import IDENTITY_FUNCTIONS, TF_FUNCTIONS, TFOp, Unmapped, keras_op_call

# What a value computed at run time looks like to the table (`keras2._literal` refuses it).
_RUN_TIME = {"class_name": "__keras_tensor__"}


def tf_name(function: Any) -> str | None:
    """The name tf-keras records for a TensorFlow API function (`image.resize`,
    `compat.v1.image.resize_images`, `math.add`), None for anything else."""
    from tensorflow.python.util.tf_export import get_canonical_name_for_symbol

    try:
        return get_canonical_name_for_symbol(function, add_prefix_to_v1_names=True)
    except Exception:  # not a TensorFlow API symbol
        return None


def _plain(value: Any, depth: int = 0) -> Any:
    """An argument as a tf-keras config holds it (JSON values): tuples as lists, NumPy and
    eager scalars as numbers, dtypes by name; any tensor (symbolic or eager, a value the call
    computes at run time) as the marker the table refuses."""
    import numpy as np

    if depth > 8:
        return _RUN_TIME
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    name = getattr(value, "name", None)
    if type(value).__name__ == "DType" and isinstance(name, str):
        return name  # tf.float32 -> "float32"
    return _RUN_TIME  # a tensor (a value computed at run time), or an object with no spelling


def _operation(spec: TFOp, op: tuple[str, str] | None, config: Mapping[str, Any]) -> Any:
    class_name, family = op or (spec.op, spec.family)
    if family == "layers":
        from keras import layers

        return getattr(layers, class_name)()
    module = importlib.import_module(f"keras.src.ops.{family}")
    return getattr(module, class_name)(**config)


# Conversions Keras's own TensorFlow backend makes before computing (`keras.src.backend.
# tensorflow.numpy.concatenate` converts its inputs, then calls tf.concat): a symbolic tensor is
# already a tensor, so the conversion is the tensor itself (or a keras.ops.cast to the dtype
# asked for). The backend's computation then reaches TensorFlow functions of the table.
CONVERSIONS = frozenset({"convert_to_tensor", "compat.v1.convert_to_tensor"})


def _converted(function: Any, args: tuple, kwargs: Mapping[str, Any]) -> Any:
    from keras import backend, ops
    from keras.src.backend import KerasTensor

    bound = inspect.signature(function).bind(*args, **kwargs).arguments
    values = list(bound.values())
    tensor = values[0] if values else None
    dtype = bound.get("dtype") or bound.get("dtype_hint")
    if not isinstance(tensor, KerasTensor):
        raise Unmapped("a conversion of something that is no symbolic tensor")
    if dtype is None or backend.standardize_dtype(_plain(dtype)) == tensor.dtype:
        return tensor
    return ops.cast(tensor, backend.standardize_dtype(_plain(dtype)))


def as_keras_op(function: Any, args: tuple, kwargs: Mapping[str, Any]) -> Any:
    """The keras.ops call the table gives for `function(*args, **kwargs)`, made on the same
    (symbolic) tensors; raises `Unmapped` when there is none."""
    name = tf_name(function)
    if name in CONVERSIONS:
        return _converted(function, args, kwargs)
    spec = TFOp("Identity", "layers") if name in IDENTITY_FUNCTIONS else TF_FUNCTIONS.get(name)
    if spec is None:
        raise Unmapped(f"tf.{name}")
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise Unmapped(f"tf.{name}: {error}") from None
    values = dict(bound.arguments)
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and parameter.name in values:
            values.update(values.pop(parameter.name))
    if not values:
        raise Unmapped(f"tf.{name} without arguments")
    first_name = next(iter(values))
    first = values.pop(first_name)
    # tf-keras records the first argument as the layer's input and every other argument by name;
    # operands (`y` of tf.add) stay tensors, every other argument must be a literal.
    tf_kwargs = {k: v if k in spec.operands else _plain(v) for k, v in values.items()}
    converted, call_args = keras_op_call(spec, first, tf_kwargs)
    return _operation(spec, converted.op, converted.config)(*call_args, **converted.kwargs)


def _holds_keras_tensor(structure: Any) -> bool:
    from keras import tree
    from keras.src.backend import KerasTensor

    try:
        return any(isinstance(v, KerasTensor) for v in tree.flatten(structure))
    except Exception:  # a structure tree cannot walk: not ours to handle
        return False


@contextmanager
def tf_functions_as_keras_ops() -> Iterator[None]:
    """While the context is open (a trace), a TensorFlow function called on symbolic Keras
    tensors becomes the keras.ops call of `TF_FUNCTIONS` (module docstring)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        yield
        return
    from tensorflow.python.util import dispatch

    class KerasOpsDispatcher(dispatch.GlobalOpDispatcher):
        def handle(self, op, args, kwargs):
            if not _holds_keras_tensor((args, kwargs)):
                return self.NOT_SUPPORTED
            try:
                return as_keras_op(op, args, kwargs)
            except Exception:  # unmapped, or the keras op refuses: TensorFlow's error stands
                return self.NOT_SUPPORTED

    dispatcher = KerasOpsDispatcher()
    dispatcher.register()
    try:
        yield
    finally:
        # TensorFlow has no public way to unregister a global dispatcher.
        if dispatcher in dispatch._GLOBAL_DISPATCHERS:
            dispatch._GLOBAL_DISPATCHERS.remove(dispatcher)
