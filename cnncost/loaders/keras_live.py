"""A live `keras.Model` -> the same config parser as files, plus Keras's own shapes as a check."""

from __future__ import annotations

from typing import Any

from cnncost.ir import Graph
from cnncost.loaders.keras_config import graph_from_config


def graph_from_model(model: Any) -> Graph:
    import keras

    config = keras.saving.serialize_keras_object(model)
    return graph_from_config(config, source=f"<live {type(model).__name__} {model.name!r}>")


def keras_output_shapes(model: Any) -> dict[str, tuple]:
    """Keras's own output shape of each (single-call) layer of a functional/sequential model."""
    shapes = {}
    for layer in model.layers:
        try:
            output = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue
        if isinstance(output, (list, tuple)):
            continue
        shapes[layer.name] = tuple(output.shape)
    return shapes
