"""TensorFlow's own profiler on a Keras model (TF backend only), mapped back to cnncost rows.

The model is traced as `tf.function(lambda x: model(x, training=False))` at batch 1, its variables
frozen to constants (`convert_variables_to_constants_v2`), and profiled with
`tf.compat.v1.profiler.profile(graph, cmd="scope", options=ProfileOptionBuilder.
float_operation())` (the "graph" view nests too deeply for EfficientNet's proto).

Keras 3 enters each layer's name scope so that TF makes it unique with a `_<k>` suffix (the bare
name is consumed first: layer `conv2d` runs under `conv2d_1`, layer `conv2d_1` under
`conv2d_1_2`), so a scope component maps back to a layer by removing one `_<k>` suffix; nested
models are followed down to the layer. Ops of keras.ops operations of a functional model sit
directly under the model scope (`convnext_tiny_1/Add_3`): they map to `ops:<OpType>`.
"""

from __future__ import annotations

import re
from collections import defaultdict


def profiler_flops(model) -> tuple[int, dict[str, dict[str, int]]]:
    """(total profiler FLOPs, row name -> {TF op type: FLOPs}), at batch 1."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    shape = [1, *model.inputs[0].shape[1:]]
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec(shape, model.inputs[0].dtype))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, cmd="scope", options=options)
    by_op: dict[str, int] = {}

    def walk(node):
        for child in node.children:
            if child.float_ops:
                by_op[child.name] = child.float_ops
            walk(child)

    walk(profile)
    types = {op.name: op.type for op in graph.get_operations()}
    by_row: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for op_name, flops in by_op.items():
        by_row[row_of(op_name, model)][types.get(op_name, "?")] += flops
    return profile.total_float_ops, {k: dict(v) for k, v in by_row.items()}


def _unsuffix(component: str) -> str:
    return re.sub(r"_\d+$", "", component)


def row_of(op_name: str, model) -> str:
    """`model_1/conv2d_1_2/convolution` -> `conv2d_1`; nested models -> `outer/inner`."""
    import keras

    parts = op_name.split("/")[1:]  # drop the model's own scope
    path: list[str] = []
    current = model
    for component in parts[:-1]:
        layers = {layer.name: layer for layer in current.layers}
        layer = layers.get(_unsuffix(component))
        if layer is None:
            break
        path.append(layer.name)
        if not isinstance(layer, keras.Model):
            return "/".join(path)
        current = layer
    if path:
        return "/".join(path)
    return f"ops:{_unsuffix(parts[-1]) if parts else op_name}"
