"""Run TensorFlow's own profiler on a Keras model, and map its ops back to layers.

The model is traced as `tf.function(lambda x: model(x, training=False))` at batch 1, its variables
frozen to constants (`convert_variables_to_constants_v2`), and profiled with
`tf.compat.v1.profiler.profile(graph, options=ProfileOptionBuilder.float_operation())`.

Keras 3 enters each layer's name scope so that TF makes it unique with a `_<k>` suffix (the bare
name is consumed first: layer `conv2d` runs under `conv2d_1`, layer `conv2d_1` under
`conv2d_1_2`), so a scope component maps back to a layer by removing one `_<k>` suffix. Ops of
keras.ops operations of a functional model sit directly under the model scope
(`convnext_tiny_1/Add_3`) and are returned under their op-scope name.
"""

from __future__ import annotations

import re
from collections import defaultdict


def profile_model(model, input_shape=None) -> tuple[int, dict[str, int], dict[str, dict[str, int]]]:
    """(total profiler FLOPs, FLOPs by op name, FLOPs by layer path -> {op type: FLOPs})."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    shape = [1, *(input_shape or model.inputs[0].shape[1:])]
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec(shape, model.inputs[0].dtype))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, cmd="graph", options=options)
    by_op: dict[str, int] = {}

    def walk(node):
        for child in node.children:
            if child.float_ops:
                by_op[child.name] = child.float_ops
            walk(child)

    walk(profile)
    types = {op.name: op.type for op in graph.get_operations()}
    by_layer: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for op_name, flops in by_op.items():
        by_layer[layer_of(op_name)][types.get(op_name, "?")] += flops
    return profile.total_float_ops, by_op, {k: dict(v) for k, v in by_layer.items()}


def layer_of(op_name: str) -> str:
    """`model_1/conv2d_1_2/convolution` -> `conv2d_1`; `model_1/Add_3` -> `Add_3`."""
    parts = op_name.split("/")
    if len(parts) < 3:
        return parts[-1] if len(parts) == 1 else parts[1]
    return re.sub(r"_\d+$", "", parts[1])
