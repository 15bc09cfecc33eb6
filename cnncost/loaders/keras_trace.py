"""Trace a subclassed Keras model (one with its own `call`) into a Functional configuration.

The model is called once on symbolic inputs (`keras.Input`, no data, no weights touched) while
three Keras hooks are wrapped, the way torchinfo records PyTorch modules:

- `Layer.symbolic_call`: a *composite* layer (a user class, not part of Keras, that owns
  sub-layers and no weights of its own, or the model itself) is not recorded; its own `call` runs
  on the symbolic tensors instead, so every sub-layer call inside it is recorded, with its row
  named `composite/sub_layer` (at any depth, like rows of nested models). Any other layer (Keras's
  own, a custom leaf layer, a model with a graph) is one row.
- `Operation.symbolic_call`: a `keras.ops` call (and Python operators on tensors: `x + y` is
  `keras.ops.add`) is one row, like in a functional graph.
- `Node.__init__`: each call Keras records at the traced level becomes a row, with its input and
  output tensors. Calls Keras makes below that level (inside a recorded layer's shape inference,
  or while a layer builds itself: `Layer._maybe_build`) are not rows.

The record is then written as the configuration of a Functional model with those rows (shared
layers: one entry called several times), and parsed like any other. What a trace cannot see is
documented in docs/models.md: Python control flow that depends on tensor values (only the path
taken for symbolic inputs is recorded), layers called outside `call`, weights a composite layer
creates itself (such a layer stays one row, unsupported unless a plugin handles it), and layers
that are never called (their weights are not part of the traced graph).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cnncost.errors import ModelConfigError

_LOCK = threading.Lock()  # the hooks are class attributes: one trace at a time


@dataclass(frozen=True)
class _Named:
    """Stands in for an operation in `_keras_history` while a call is serialized (Keras writes
    `operation.name` there)."""

    name: str


@dataclass
class _Record:
    rows: dict[int, str] = field(default_factory=dict)  # id(operation) -> row name
    taken: set[str] = field(default_factory=set)  # the row names given so far
    operations: list[Any] = field(default_factory=list)  # first-call order
    calls: dict[int, list[Any]] = field(default_factory=dict)  # id(operation) -> its nodes
    # id(KerasTensor) -> (row, call index, output index): who produced each tensor
    producers: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    alive: list[Any] = field(default_factory=list)  # keeps recorded tensors' ids unique
    created: list[Any] = field(default_factory=list)  # every Node made during the trace
    prefix: list[str] = field(default_factory=list)  # the composite layers being inlined
    depth: int = 0  # > 0 inside a recorded call: its internals are not rows
    skip: list[int] = field(default_factory=list)  # composites whose own Node is not a row
    top: int = 0  # id of the traced model: its rows carry no prefix, as in a functional model

    def row_name(self, operation: Any) -> str:
        base = "/".join([*self.prefix, operation.name])
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def add(self, node: Any) -> None:
        operation = node.operation
        key = id(operation)
        if key not in self.rows:
            self.rows[key] = self.row_name(operation)
            self.operations.append(operation)
            self.calls[key] = []
        call_index = len(self.calls[key])
        self.calls[key].append(node)
        for index, tensor in enumerate(node.outputs):
            self.producers[id(tensor)] = (self.rows[key], call_index, index)
            self.alive.append(tensor)


def _owns_weights(layer: Any) -> bool:
    """Whether the layer created variables itself (`add_weight`), not only through sub-layers."""
    own = list(getattr(layer, "_trainable_variables", ())) + list(
        getattr(layer, "_non_trainable_variables", ())
    )
    return bool(own)


def is_composite(layer: Any) -> bool:
    """A user layer/model built from sub-layers, with no weights of its own and no plugin rule
    for its class: traced through. Keras's own classes and models with a graph never are; a
    class that merely shares a Keras name (kimm's `Attention`) is. A leaf layer (no sub-layers)
    stays one row: its `call` may use backend functions that symbolic tensors cannot enter."""
    from keras.saving import get_registered_name
    from keras.src.models.functional import Functional

    from cnncost.layers import has_plugin

    if isinstance(layer, Functional) or type(layer).__module__.split(".")[0] == "keras":
        return False
    if not getattr(layer, "_layers", None) or _owns_weights(layer):
        return False
    # a plugin describes the class as one row
    return not has_plugin(type(layer).__name__, get_registered_name(type(layer)))


@contextmanager
def _hooks(record: _Record) -> Iterator[None]:
    from keras.src.layers.layer import Layer
    from keras.src.ops.node import Node
    from keras.src.ops.operation import Operation

    layer_symbolic_call = Layer.symbolic_call
    layer_maybe_build = Layer._maybe_build
    operation_symbolic_call = Operation.symbolic_call
    node_init = Node.__init__

    def maybe_build(self, *args, **kwargs):
        # Building runs below the traced level (a Sequential builds its own graph on a new Input).
        record.depth += 1
        try:
            return layer_maybe_build(self, *args, **kwargs)
        finally:
            record.depth -= 1

    def layer_call(self, *args, **kwargs):
        if record.depth == 0 and is_composite(self):
            prefix = [] if id(self) == record.top else [self.name]
            record.prefix.extend(prefix)
            try:
                outputs = self.call(*args, **kwargs)
            finally:
                del record.prefix[len(record.prefix) - len(prefix) :]
            record.skip.append(id(self))  # Layer.__call__ makes its Node right after this
            return outputs
        record.depth += 1
        try:
            return layer_symbolic_call(self, *args, **kwargs)
        except ValueError:
            # A nested model built for another input size than it is called on (kimm's
            # ReparameterizableConv2D builds its 1x1 branch for the padded input and calls it on
            # the unpadded one): Keras's own symbolic call checks the input spec and refuses;
            # Keras builds such models through the backend's output spec, which does not. So do
            # we (its rows get the sizes of the actual input from the parser).
            from keras import Model
            from keras.src import backend

            if not isinstance(self, Model):
                raise
            return backend.compute_output_spec(self.call, *args, **kwargs)
        finally:
            record.depth -= 1

    def operation_call(self, *args, **kwargs):
        # Operation.symbolic_call, with the output spec computed below the traced level.
        record.depth += 1
        try:
            outputs = self.compute_output_spec(*args, **kwargs)
        finally:
            record.depth -= 1
        Node(operation=self, call_args=args, call_kwargs=kwargs, outputs=outputs)
        return outputs

    def node_created(self, operation, call_args=None, call_kwargs=None, outputs=None):
        node_init(self, operation, call_args, call_kwargs, outputs)
        record.created.append(self)
        if record.depth:
            return
        if record.skip and record.skip[-1] == id(operation):
            record.skip.pop()
            return
        record.add(self)

    with _LOCK:
        Layer.symbolic_call = layer_call
        Layer._maybe_build = maybe_build
        Operation.symbolic_call = operation_call
        Node.__init__ = node_created
        try:
            yield
        finally:
            Layer.symbolic_call = layer_symbolic_call
            Layer._maybe_build = layer_maybe_build
            Operation.symbolic_call = operation_symbolic_call
            Node.__init__ = node_init


def _forget(nodes: list[Any]) -> None:
    """Remove the trace's nodes from the model's layers, leaving them as they were."""
    for node in reversed(nodes):
        inbound = node.operation._inbound_nodes
        if inbound and inbound[-1] is node:
            inbound.pop()
        for tensor in node.arguments.keras_tensors:
            history = getattr(tensor, "_keras_history", None)
            operation = getattr(history, "operation", None)
            outbound = getattr(operation, "_outbound_nodes", None)
            if outbound and node in outbound:
                outbound.remove(node)


# -- input shapes ---------------------------------------------------------------------------


def _shape(value: Any) -> tuple:
    from cnncost.analysis import parse_shape

    dims = parse_shape(value)
    if any(not isinstance(d, (int, type(None))) for d in dims):
        raise ModelConfigError(f"a traced model needs numeric input sizes, not {value!r}")
    return dims


def _built_shapes(model: Any) -> Any:
    """The input shape(s) Keras recorded when the model was built, or None."""
    try:
        config = model.get_build_config() or {}
    except Exception:  # a model may override get_build_config; then we know nothing
        return None
    shape = config.get("input_shape") if isinstance(config, Mapping) else None
    if shape is None and isinstance(config, Mapping) and config.get("shapes_dict"):
        values = list(config["shapes_dict"].values())
        shape = values[0] if len(values) == 1 else None
    return shape


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value
    )


def _inputs(model: Any, input_shape: Any) -> tuple[Any, list[Any]]:
    """(the call's input structure of keras.Input tensors, those tensors in order)."""
    import keras

    def make(dims: tuple, name: str, built_rank: int | None):
        # A given shape is per sample (no batch dim) unless it has the built model's rank.
        if built_rank is not None and len(dims) == built_rank:
            return keras.Input(batch_shape=dims, name=name)
        return keras.Input(shape=dims, name=name)

    built = _built_shapes(model)
    if input_shape is None:
        if built is None:
            raise ModelConfigError(
                f"{type(model).__name__} {model.name!r} is a subclassed model that has not been "
                "built: pass input_shape= (--input-shape) so cnncost can trace it on a symbolic "
                "input of that shape"
            )
        # The batch size the model was built with is not the model's: it stays unknown.
        if _is_shape(built):
            tensor = keras.Input(batch_shape=(None, *built[1:]), name="input_layer")
            return tensor, [tensor]
        if isinstance(built, Mapping) and all(_is_shape(s) for s in built.values()):
            tensors = {k: keras.Input(batch_shape=(None, *v[1:]), name=k) for k, v in built.items()}
            return tensors, list(tensors.values())
        if isinstance(built, (list, tuple)) and all(_is_shape(s) for s in built):
            tensors = [
                keras.Input(batch_shape=(None, *s[1:]), name=f"input_layer_{i}")
                for i, s in enumerate(built)
            ]
            return tensors, tensors
        raise ModelConfigError(
            f"cannot read the input shape {type(model).__name__} {model.name!r} was built with: "
            "pass input_shape= (--input-shape)"
        )
    rank = len(built) if _is_shape(built) else None
    if isinstance(input_shape, Mapping):
        tensors = {k: make(_shape(v), str(k), None) for k, v in input_shape.items()}
        return tensors, list(tensors.values())
    if isinstance(input_shape, str) and ";" in input_shape:
        parts = input_shape.split(";")
        tensors = [make(_shape(p), f"input_layer_{i}", None) for i, p in enumerate(parts)]
        return tensors, tensors
    if (
        isinstance(input_shape, list)
        and input_shape
        and all(isinstance(s, (list, tuple, str)) for s in input_shape)
    ):
        tensors = [make(_shape(s), f"input_layer_{i}", None) for i, s in enumerate(input_shape)]
        return tensors, tensors
    tensor = make(_shape(input_shape), "input_layer", rank)
    return tensor, [tensor]


# -- the configuration ------------------------------------------------------------------------


def _serialize_call(node: Any, record: _Record) -> dict[str, Any]:
    """A recorded call as an `inbound_nodes` entry, tensors pointing at their recorded producer."""
    from keras.src.ops.node import KerasHistory
    from keras.src.saving import serialization_lib

    tensors = node.arguments.keras_tensors
    saved = [getattr(t, "_keras_history", None) for t in tensors]
    try:
        for tensor in tensors:
            producer = record.producers.get(id(tensor))
            if producer is None:
                raise ModelConfigError(
                    f"the trace reached {node.operation.name!r} with a tensor that no traced "
                    "call produced (a layer called outside the model's call?)"
                )
            row, call_index, index = producer
            tensor._keras_history = KerasHistory(_Named(row), call_index, index)
        return {
            "args": serialization_lib.serialize_keras_object(node.arguments.args),
            "kwargs": serialization_lib.serialize_keras_object(node.arguments.kwargs),
        }
    finally:
        for tensor, history in zip(tensors, saved):
            if history is not None:
                tensor._keras_history = history


def _layer_entry(operation: Any, record: _Record) -> dict[str, Any]:
    from cnncost.loaders.keras_live import serialize_layer

    try:
        entry = dict(serialize_layer(operation))
    except Exception:  # a custom class without a working get_config: its class is enough
        cls = type(operation)
        entry = {
            "module": cls.__module__,
            "class_name": cls.__name__,
            "config": {"name": operation.name},
            "registered_name": cls.__name__,
        }
    key = id(operation)
    entry["name"] = record.rows[key]
    entry["inbound_nodes"] = [_serialize_call(node, record) for node in record.calls[key]]
    return entry


def _reference(tensor: Any, record: _Record, what: str) -> list:
    producer = record.producers.get(id(tensor))
    if producer is None:
        raise ModelConfigError(f"the traced model returns a {what} no traced call produced")
    return list(producer)


def traced_config(
    model: Any,
    input_shape: Any = None,
    like: Any = None,
    call_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Functional configuration of one symbolic call of `model` (see the module docstring).

    Inputs: `like` (a structure of KerasTensors the model was called on, for a composite layer
    inside a functional model), else `input_shape`, else the shape the model was built with.
    `call_kwargs` are non-tensor keyword arguments of that call (`training=...`)."""
    import keras
    from keras import tree
    from keras.src.layers.layer import Layer

    if not isinstance(model, Layer):
        raise ModelConfigError(f"cannot trace a {type(model).__name__}: not a Keras layer")
    if _owns_weights(model) and getattr(model, "_layers", None):
        raise ModelConfigError(
            f"{type(model).__name__} {model.name!r} creates weights itself, outside its "
            "sub-layers: a trace cannot attribute them to rows"
        )
    if like is not None:
        names = iter(range(len(tree.flatten(like))))
        structure = tree.map_structure(
            lambda t: keras.Input(
                batch_shape=tuple(t.shape), dtype=t.dtype, name=f"input_layer_{next(names)}"
            ),
            like,
        )
        tensors = tree.flatten(structure)
    else:
        structure, tensors = _inputs(model, input_shape)
    record = _Record(top=id(model))
    inputs = []
    for tensor in tensors:
        layer = tensor._keras_history.operation
        record.add(layer._inbound_nodes[0])
        inputs.append(
            {
                "class_name": "InputLayer",
                "module": "keras.layers",
                "name": record.rows[id(layer)],
                "config": {
                    "batch_shape": list(tensor.shape),
                    "dtype": tensor.dtype,
                    "name": record.rows[id(layer)],
                },
                "inbound_nodes": [],
            }
        )
    try:
        with _hooks(record):
            outputs = model(structure, **dict(call_kwargs or {}))
        input_layers = {id(t._keras_history.operation) for t in tensors}
        # An InputLayer the call records again (keras-hub's HGNetV2Encoder) computes nothing:
        # the trace's own inputs above stand for it, by the same row name.
        layers = inputs + [
            _layer_entry(op, record)
            for op in record.operations
            if id(op) not in input_layers and not isinstance(op, keras.layers.InputLayer)
        ]
        output_refs = [_reference(t, record, "tensor") for t in tree.flatten(outputs)]
    except ModelConfigError:
        raise
    except Exception as exc:  # the model's own code failed on symbolic inputs
        from cnncost.loaders.keras_build import first_line

        raise ModelConfigError(
            f"tracing {type(model).__name__} {model.name!r} failed ({first_line(exc)})"
        ) from None
    finally:
        _forget(record.created)
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": model.name,
            "trainable": model.trainable,
            "layers": layers,
            "input_layers": [[entry["name"], 0, 0] for entry in inputs],
            "output_layers": output_refs,
        },
    }
