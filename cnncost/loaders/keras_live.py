"""A live `keras.Model` -> a Keras model configuration -> the same parser as files.

Three kinds of live model:

- a model with a graph (`keras.Model(inputs, outputs)`, `keras.Sequential`, and any subclass of
  Keras's `Functional`: kimm models, keras-hub backbones, a class whose `__init__` ends in
  `super().__init__(inputs, outputs)`): serialized *as a plain Functional/Sequential*, whatever
  its class and whatever its own `get_config` returns (such classes save their constructor
  arguments, not the layer graph). Nested models are serialized the same way, at every depth.
- a subclassed model with its own `call`: traced (`cnncost.loaders.keras_trace`); so is a
  composite custom layer (a user class made of sub-layers) called inside a functional model,
  which becomes a nested model.

Needs keras (it is a live object); the file path never comes here without `--trust-model-code`.
"""

from __future__ import annotations

import copy
from typing import Any

from cnncost.ir import Graph
from cnncost.loaders.keras_config import graph_from_config


def serialize_layer(layer: Any, at: Any = None) -> dict[str, Any]:
    """`keras.saving.serialize_keras_object(layer)`, except that a model with a graph is written
    as its graph (class `Functional`/`Sequential`), also for subclasses and nested models. `at`:
    the arguments of the graph's calls at the input sizes given (`keras_trace.calls_at_input_shape`),
    on which its custom layers are traced."""
    from keras import Sequential
    from keras.src.models.functional import Functional
    from keras.src.saving import serialization_lib

    if isinstance(layer, Sequential):
        entry = {
            "module": "keras",
            "class_name": "Sequential",
            "config": sequential_config(layer),
            "registered_name": None,
            "name": layer.name,
        }
        build_config = layer.get_build_config() if layer.built else None
        if build_config:
            entry["build_config"] = build_config  # the parser's fallback for the input shape
        return entry
    if isinstance(layer, Functional):
        return {
            "module": "keras",
            "class_name": "Functional",
            "config": functional_config(layer, at),
            "registered_name": None,
            "name": layer.name,
        }
    try:
        return serialization_lib.serialize_keras_object(layer)
    except Exception:  # noqa: BLE001 - the layer's own get_config is user code
        # A layer whose `get_config` raises (some keras-hub layers) cannot be written as Keras
        # writes it; it stays one row of its class, with no config (unsupported unless a plugin
        # describes it; its params come from its live variables, `with_recorded_weights`).
        from keras.saving import get_registered_name

        return {
            "module": type(layer).__module__,
            "class_name": type(layer).__name__,
            "config": {"name": layer.name, "trainable": layer.trainable},
            "registered_name": get_registered_name(type(layer)),
            "name": layer.name,
        }


def sequential_config(model: Any) -> dict[str, Any]:
    """`Sequential.get_config`, with nested models serialized by `serialize_layer`."""
    import keras
    from keras import Sequential

    config = Sequential.get_config(model)
    # `Model.layers` of a Sequential includes its InputLayer, as `get_config` lists it.
    layers = keras.Model.layers.fget(model)
    if len(layers) == len(config["layers"]):
        config["layers"] = [
            serialize_layer(layer) if isinstance(layer, keras.Model) else entry
            for layer, entry in zip(layers, config["layers"])
        ]
    return config


def functional_config(model: Any, at: Any = None) -> dict[str, Any]:
    """What `Functional.get_config` writes for a plain Functional model, for any Functional
    instance: Keras writes the constructor arguments instead for subclasses whose `__init__`
    differs from Functional's (`functional_like_constructor`), and a class may override
    `get_config` altogether. This is Keras 3's own loop, with `serialize_layer` per layer."""
    from keras import tree
    from keras.src.models.functional import Functional, make_node_key, serialize_node

    nodes = model._nodes  # the node keys of this model's graph
    reindex: dict[str, int] = {}
    for operation in model.operations:
        # As Keras writes `input_layers`/`output_layers`: a call of a nested Functional model is
        # counted from 1 (its own first node links its inputs to its outputs); the parser
        # subtracts it again, as Keras's loader does. `inbound_nodes` count from 0
        # (`serialize_node`).
        kept = 1 if isinstance(operation, Functional) else 0
        for index, _node in enumerate(operation._inbound_nodes):
            key = make_node_key(operation, index)
            if key in nodes:
                reindex[key] = kept
                kept += 1
    layers = []
    for operation in model.operations:
        inbound, calls = [], []
        for index, node in enumerate(operation._inbound_nodes):
            if make_node_key(operation, index) in nodes:
                data = serialize_node(node, own_nodes=nodes)
                if data is not None:
                    inbound.append(data)
                    calls.append(node)
        given = (at or {}).get(id(calls[0])) if calls else None
        traced = _traced_layer(operation, calls[0], given) if calls else None
        entry = dict(traced or serialize_layer(operation, at))
        if calls and traced is None:
            entry = _with_unknown_sizes(entry, operation, given or calls[0].arguments)
        entry["name"] = operation.name
        entry["inbound_nodes"] = inbound
        layers.append(entry)

    def reference(tensor: Any) -> list:
        operation, node_index, tensor_index = tensor._keras_history
        return [operation.name, reindex[make_node_key(operation, node_index)], tensor_index]

    return copy.deepcopy(
        {
            "name": model.name,
            "trainable": model.trainable,
            "layers": layers,
            # flattened: a model called on a dict has its inputs in the dict's (sorted) order
            "input_layers": [reference(t) for t in tree.flatten(model._inputs_struct)],
            "output_layers": [reference(t) for t in tree.flatten(model._outputs_struct)],
        }
    )


def _traced_layer(layer: Any, node: Any, given: Any = None) -> dict[str, Any] | None:
    """A custom layer without a rule (`keras_trace.is_traceable`) called in a functional model,
    traced on the inputs of its first call and written as a nested Functional model: its rows
    are `layer/sub_layer` (its own variables `layer/variable`). None when it is not traceable,
    its call cannot be traced (its tensor arguments, positional then keyword, are the inputs
    of the trace), the trace does not reach every variable of the layer, or the
    traced calls fail cnncost's shape rules; it then stays one row, with its recorded weights."""

    from cnncost.errors import CnnCostError
    from cnncost.loaders.keras_trace import is_traceable, traced_config

    if not is_traceable(layer):
        return None
    args, kwargs = given or (node.arguments.args, node.arguments.kwargs)
    try:
        config = traced_config(layer, call_args=tuple(args), call_kwargs=kwargs, check_weights=True)
        _check_shapes(config)
    except CnnCostError:
        return None
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": config["config"],
        "registered_name": None,
        "name": layer.name,
    }


def _with_unknown_sizes(entry: dict[str, Any], layer: Any, arguments: Any) -> dict[str, Any]:
    """A custom layer left one row: its config says which input sizes were unknown (the
    warning names them and how to give them)."""
    from cnncost.loaders.keras_trace import UNKNOWN_SIZES, is_traceable, unknown_sizes

    if isinstance(arguments, tuple):
        args, kwargs = arguments
    else:
        args, kwargs = arguments.args, arguments.kwargs
    note = unknown_sizes(args, kwargs) if is_traceable(layer) else None
    if note is None or not isinstance(entry.get("config"), dict):
        return entry
    return {**entry, "config": {**entry["config"], UNKNOWN_SIZES: note}}


def _check_shapes(config: dict[str, Any]) -> None:
    """Raise `CnnCostError` if cnncost's shape rules refuse the traced calls of a composite layer
    (e.g. `ops.reshape(x, (ops.shape(x)[0], ...))` traces a reshape to an unknown batch size):
    such a layer then stays one row, as it was before tracing, instead of failing the model."""
    from cnncost.passes.shapes import infer_shapes

    infer_shapes(graph_from_config(config))


def live_config(model: Any, input_shape: Any = None) -> dict[str, Any]:
    """The Keras model configuration cnncost parses for a live model (graph, or traced)."""
    from keras import Sequential
    from keras.src.models.functional import Functional

    if isinstance(model, Functional) and input_shape is not None:
        from cnncost.loaders.keras_trace import calls_at_input_shape

        return serialize_layer(model, calls_at_input_shape(model, input_shape) or None)
    if isinstance(model, (Sequential, Functional)):
        return serialize_layer(model)
    from cnncost.loaders.keras_trace import traced_config

    return traced_config(model, input_shape)


def graph_from_model(model: Any, input_shape: Any = None) -> Graph:
    """A `Graph` from a live keras model or layer. `input_shape` (one shape without the batch
    dimension, `a;b` or a list for several inputs, a dict for dict inputs) is needed only to
    trace a subclassed model that has not been built."""
    config = live_config(model, input_shape)
    graph = graph_from_config(config, source=f"<live {type(model).__name__} {model.name!r}>")
    return with_recorded_weights(graph, model)


def _layers_by_path(layer: Any, prefix: str = "", found: dict | None = None) -> dict[str, Any]:
    """Every layer under `layer` by the parser's row path (`outer/inner`), depth-first."""
    found = {} if found is None else found
    for child in layer._flatten_layers(include_self=False, recursive=False):
        path = prefix + child.name
        found.setdefault(path, child)
        _layers_by_path(child, path + "/", found)
    return found


def with_recorded_weights(graph: Graph, model: Any) -> Graph:
    """Rows without a rule get the variables of their live layer (`Node.recorded_weights`), so
    their params are exact although their cost is unknown (a custom layer's `add_weight`s)."""
    from dataclasses import replace

    from cnncost.ir import Weight
    from cnncost.layers import rule_for

    unknown = [node for node in graph.nodes if not node.is_input and rule_for(node) is None]
    if not unknown:
        return graph
    layers = _layers_by_path(model)
    recorded = {}
    for node in unknown:
        layer = layers.get(node.layer or node.name)
        if layer is not None:
            recorded[node.name] = replace(
                node,
                recorded_weights=tuple(
                    Weight(v.path, tuple(int(d) for d in v.shape), bool(v.trainable))
                    for v in layer.weights
                ),
            )
    if not recorded:
        return graph
    return replace(graph, nodes=tuple(recorded.get(n.name, n) for n in graph.nodes))


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
