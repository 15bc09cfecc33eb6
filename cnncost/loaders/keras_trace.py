"""Trace a subclassed Keras model (one with its own `call`) into a Functional configuration.

The model is called once on symbolic inputs (`keras.Input`, no data, no weights touched) while
three Keras hooks are wrapped, the way torchinfo records PyTorch modules:

- `Layer.symbolic_call`: a *traceable* layer (`is_traceable`: a user class cnncost has no rule
  for, or the model itself) is not recorded; its own `call` runs on the symbolic tensors
  instead, so every sub-layer call inside it is recorded, with its row named `layer/sub_layer`
  (at any depth, like rows of nested models). The variables and stored tensors the layer holds
  itself are replaced by symbolic stand-ins for that call, each one row (`TracedWeight`,
  `TracedConstant`: cnncost.layers.traced), so the ops that use them are recorded too. A layer
  whose call fails, or whose variables do not all reach a row, is recorded as one row instead.
  Keras's own layers and models with a graph are always one row.
- `Operation.symbolic_call`: a `keras.ops` call (and Python operators on tensors: `x + y` is
  `keras.ops.add`) is one row, like in a functional graph.
- `Node.__init__`: each call Keras records at the traced level becomes a row, with its input and
  output tensors. Calls Keras makes below that level (inside a recorded layer's shape inference,
  or while a layer builds itself: `Layer._maybe_build`) are not rows.

The record is then written as the configuration of a Functional model with those rows (shared
layers: one entry called several times), and parsed like any other. Code that computes with the
batch size is traced at stand-in batch sizes (`TRACE_BATCHES`). What a trace cannot see is
documented in docs/models.md: Python control flow that depends on tensor values (only the path
taken for symbolic inputs is recorded), layers called outside `call`, TensorFlow functions
that the tf-keras table does not map onto keras.ops (those it maps become keras.ops rows:
`cnncost.loaders.tf_functions`), and layers that are never called (their weights are not part
of the traced graph; inside a traced layer they are `TracedWeight` rows, as Keras counts them).
`ops.map(f, xs)` is traced through f on one element (`_map_rows`). A functional model's custom
layers can be traced at input sizes the user gives (`calls_at_input_shape`).
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
    # A failure inside a traced layer fails the whole trace (`inline`), which is then run again
    # at stand-in batch sizes (`traced_config`); on that run, the layer stays one row instead.
    propagate: bool = False
    batch: int | None = None  # the stand-in batch size of this trace (None: unknown)
    # Tensors a traced layer holds (its variables, stored constants): id(value) -> the KerasTensor
    # standing in for it, and the rows written for them (`_hold`)
    standins: dict[int, Any] = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)
    variables: set[int] = field(default_factory=set)  # ids of the recorded layers' variables
    called: set[int] = field(default_factory=set)  # ids of every layer called during the trace

    def row_name(self, operation: Any) -> str:
        base = "/".join([*self.prefix, operation.name])
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def checkpoint(self) -> tuple:
        """What `rollback` needs to forget every row recorded after this point."""
        return (
            dict(self.rows),
            set(self.taken),
            len(self.operations),
            {k: len(v) for k, v in self.calls.items()},
            dict(self.producers),
            len(self.held),
            set(self.variables),
        )

    def rollback(self, saved: tuple) -> None:
        rows, taken, operations, calls, producers, held, variables = saved
        self.rows, self.taken, self.producers, self.variables = rows, taken, producers, variables
        del self.operations[operations:]
        self.calls = {k: v[: calls[k]] for k, v in self.calls.items() if k in calls}
        for entry in self.held[held:]:
            self.standins.pop(entry["source"], None)
        del self.held[held:]

    def add(self, node: Any) -> None:
        operation = node.operation
        key = id(operation)
        if key not in self.rows:
            self.rows[key] = self.row_name(operation)
            self.operations.append(operation)
            self.calls[key] = []
            self.variables.update(id(v) for v in getattr(operation, "weights", ()))
        call_index = len(self.calls[key])
        self.calls[key].append(node)
        for index, tensor in enumerate(node.outputs):
            self.producers[id(tensor)] = (self.rows[key], call_index, index)
            self.alive.append(tensor)


def _own_variables(layer: Any) -> list[Any]:
    """The variables the layer created itself (`add_weight`), not through sub-layers."""
    return list(getattr(layer, "_trainable_variables", ())) + list(
        getattr(layer, "_non_trainable_variables", ())
    )


def _has_rule(cls: type) -> bool:
    """Whether cnncost describes the class as one row (a plugin or a third-party rule)."""
    from keras.saving import get_registered_name

    from cnncost.ir import Node
    from cnncost.layers import rule_for

    node = Node(
        name="", class_name=cls.__name__, module=cls.__module__, config={},
        registered_name=get_registered_name(cls),
    )  # fmt: skip
    return rule_for(node) is not None


def is_traceable(layer: Any) -> bool:
    """A user layer or model (not one of Keras's own classes, not a model with a graph) that
    cnncost has no rule for: its `call` is traced, so each sub-layer, keras.ops call and variable
    it uses becomes a row. A class that merely shares a Keras name (kimm's `Attention`) is one;
    so is Keras's `Activation` around an anonymous function."""
    from keras.layers import Activation
    from keras.src.models.functional import Functional

    if isinstance(layer, Activation) and _is_anonymous(layer.activation):
        return True  # `Activation(lambda x: ...)`: a config holds its bytecode, a trace its ops
    if isinstance(layer, Functional) or type(layer).__module__.split(".")[0] == "keras":
        return False
    return not _has_rule(type(layer))


def _is_anonymous(function: Any) -> bool:
    """A lambda or a function defined inside another: no name a config could be read by."""
    qualname = getattr(function, "__qualname__", "")
    return "<lambda>" in qualname or "<locals>" in qualname


def _is_variable(value: Any) -> bool:
    from keras.src.backend.common.variables import Variable

    return isinstance(value, Variable)


def _is_stored_tensor(value: Any) -> bool:
    """A backend tensor a layer keeps (`self.ids = ops.arange(n)`): not symbolic, not a variable."""
    from keras import ops
    from keras.src.backend import KerasTensor

    return not isinstance(value, KerasTensor) and not _is_variable(value) and ops.is_tensor(value)


def _hold(record: _Record, value: Any, name: str) -> Any:
    """The KerasTensor that stands in for a variable or stored tensor of a traced layer, written
    as a `TracedWeight` / `TracedConstant` row (cnncost.layers.traced) the first time."""
    from keras import backend
    from keras.src.backend import KerasTensor

    from cnncost.layers import traced

    key = id(value)
    if key in record.standins:
        return record.standins[key]
    shape = [int(d) for d in value.shape]
    dtype = backend.standardize_dtype(value.dtype)
    variable = _is_variable(value)
    row = record.row_name(_Named(name))
    record.held.append(
        {
            "module": "cnncost.trace",
            "class_name": "TracedWeight" if variable else "TracedConstant",
            "registered_name": traced.WEIGHT if variable else traced.CONSTANT,
            "name": row,
            "config": {
                "name": row,
                "shape": shape,
                "dtype": dtype,
                "trainable": bool(value.trainable) if variable else False,
            },
            "inbound_nodes": [{"args": [], "kwargs": {}}],
            "source": key,
        }
    )
    tensor = KerasTensor(tuple(shape), dtype=dtype)
    record.standins[key] = tensor
    record.producers[id(tensor)] = (row, 0, 0)
    record.alive.extend((tensor, value))
    return tensor


def _hold_variables(record: _Record, structure: Any) -> Any:
    """`structure` with each variable in it replaced by its stand-in (`ops.add(x, self.w[0])`)."""
    from keras import tree

    return tree.map_structure(
        lambda v: _hold(record, v, v.name) if _is_variable(v) else v, structure
    )


def _only_constants(structure: Any) -> bool:
    """Backend tensors among the arguments, and no symbolic one."""
    from keras import tree
    from keras.src.backend import KerasTensor

    values = tree.flatten(structure)
    return not any(isinstance(v, KerasTensor) for v in values) and any(
        _is_stored_tensor(v) for v in values
    )


def _hold_where(record: _Record, structure: Any, held: Any) -> Any:
    """The structure with each value `held(value)` accepts replaced by a `TracedConstant` row."""
    from keras import tree

    return tree.map_structure(lambda v: _hold(record, v, "constant") if held(v) else v, structure)


def _batch_shaped(record: _Record, value: Any) -> bool:
    """An eager tensor whose first axis is k times the stand-in batch size (`ops.arange(batch *
    heads)` built by the traced code): held, so that the two traces write its first axis
    `k * batch` (`_unbatched`), rather than a literal whose length depends on the batch size."""
    if not _is_stored_tensor(value) or not record.batch:
        return False
    shape = tuple(value.shape)
    return bool(shape) and isinstance(shape[0], int) and shape[0] % record.batch == 0


def _is_map(operation: Any) -> bool:
    from keras.src.ops.core import Map

    return isinstance(operation, Map)


def _tensor_reference(record: _Record, tensor: Any) -> dict[str, Any]:
    """A recorded tensor as a config's call argument (Keras 3's `__keras_tensor__`)."""
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": list(tensor.shape),
            "dtype": tensor.dtype,
            "keras_history": list(record.producers[id(tensor)]),
        },
    }


def _structural_row(
    record: _Record, name: str, registered: str, inputs: list, outputs: list
) -> None:
    """A row the trace writes itself (no Keras operation): `registered` is its rule
    (cnncost.layers.traced), `inputs` recorded tensors, `outputs` new KerasTensors it gives."""
    row = record.row_name(_Named(name))
    record.held.append(
        {
            "module": "cnncost.trace",
            "class_name": registered.split(">")[-1],
            "registered_name": registered,
            "name": row,
            "config": {"name": row},
            "inbound_nodes": [
                {"args": [_tensor_reference(record, t) for t in inputs], "kwargs": {}}
            ],
            "source": None,
        }
    )
    for index, tensor in enumerate(outputs):
        record.producers[id(tensor)] = (row, 0, index)
        record.alive.append(tensor)


def _map_rows(record: _Record, operation: Any, args: tuple, kwargs: dict) -> Any:
    """`ops.map(f, xs)` traced as rows: `map/element` takes one element of each tensor of `xs`
    (its leading axis dropped), f's calls on that element are rows `map/...` (traced
    symbolically on the element's spec, as Keras computes the map's output spec), and
    `map/stack` stacks f's outputs along a new leading axis of the length of `xs`. The rows of
    f count once per element (`cnncost.passes.batch`): cost = elements x f's cost on one.
    None (the map stays one row) when f cannot be traced."""
    from keras import tree
    from keras.src.backend import KerasTensor

    from cnncost.layers import traced

    values = list(args) + [kwargs[k] for k in ("f", "xs") if k in kwargs]
    if len(values) != 2:
        return None
    function, xs = values
    flat = tree.flatten(xs)
    if not flat or not all(
        isinstance(t, KerasTensor) and t.shape and id(t) in record.producers for t in flat
    ):
        return None
    saved = record.checkpoint()
    base = record.row_name(operation)  # reserves the map's own name for its rows' prefix
    own = base.split("/")[-1]
    record.prefix.append(own)
    try:
        elements = [KerasTensor(tuple(t.shape[1:]), dtype=t.dtype) for t in flat]
        _structural_row(record, "element", traced.ELEMENT, flat, elements)
        outputs = function(tree.pack_sequence_as(xs, elements))
        results = tree.flatten(outputs)
        if not results or not all(
            isinstance(t, KerasTensor) and id(t) in record.producers for t in results
        ):
            raise ModelConfigError("the mapped function returns a tensor no traced call made")
        stacked = [KerasTensor((flat[0].shape[0], *t.shape), dtype=t.dtype) for t in results]
        _structural_row(record, "stack", traced.STACK, [*results, flat[0]], stacked)
    except Exception:  # noqa: BLE001 - f is the model's code: the map stays one row
        record.rollback(saved)
        return None
    finally:
        record.prefix.pop()
    return tree.pack_sequence_as(outputs, stacked)


@contextmanager
def _held_attributes(layer: Any, record: _Record) -> Iterator[None]:
    """While the layer's call is traced, its own variables and stored tensors are symbolic, so
    that every op using them is recorded even when no input tensor is involved
    (`ops.tile(self.class_token, ...)`). Set and restored without Keras's attribute tracking."""
    own = {id(v) for v in _own_variables(layer)}
    saved = {}
    for attribute, value in list(vars(layer).items()):
        if id(value) in own:
            saved[attribute] = value
            object.__setattr__(layer, attribute, _hold(record, value, value.name))
        elif _is_stored_tensor(value):
            saved[attribute] = value
            object.__setattr__(layer, attribute, _hold(record, value, attribute))
    try:
        yield
    finally:
        for attribute, value in saved.items():
            object.__setattr__(layer, attribute, value)


def _skipped_variables(layer: Any, record: _Record) -> dict[int, str]:
    """The variables of the layer's sub-layers that the traced call never called at all (a
    branch it did not take: `if residual is not None: x += self.residual_layer(residual)`), by
    id, each with its path below the layer (`residual_layer/conv/kernel`)."""
    skipped: dict[int, str] = {}
    for sub in layer._flatten_layers(include_self=False, recursive=True):
        if id(sub) in record.called:
            continue
        for variable in sub.weights:
            path = str(getattr(variable, "path", "") or variable.name)
            head = f"{layer.name}/"
            skipped.setdefault(
                id(variable),
                path[path.find(head) + len(head) :]
                if head in path
                else f"{sub.name}/{variable.name}",
            )
    return skipped


def _check_weights_seen(layer: Any, record: _Record) -> None:
    """Every variable of a traced layer must reach a row: a held variable, or a variable of a
    recorded sub-layer. The variables of a sub-layer the call never called (a branch not
    taken) are Keras's params of the layer all the same: each becomes a `TracedWeight` row read
    by nothing (params, no work). Any other variable the call never used (or used where the
    trace cannot see it: a sub-layer called on constants, eagerly) would be missing from the
    params: the layer is refused (it stays one row)."""
    missing = [
        v for v in layer.weights if id(v) not in record.standins and id(v) not in record.variables
    ]
    skipped = _skipped_variables(layer, record) if missing else {}
    for variable in missing:
        if id(variable) in skipped:
            _hold(record, variable, skipped[id(variable)])
    missing = [v for v in missing if id(v) not in skipped]
    if missing:
        raise ModelConfigError(
            f"the trace of {layer.name!r} does not see where {missing[0].path!r} is used"
        )


@contextmanager
def _hooks(record: _Record, check_weights: bool) -> Iterator[None]:
    from keras.src.layers.layer import Layer
    from keras.src.ops.node import Node
    from keras.src.ops.operation import Operation

    layer_symbolic_call = Layer.symbolic_call
    layer_dunder_call = Layer.__call__
    layer_maybe_build = Layer._maybe_build
    operation_symbolic_call = Operation.symbolic_call
    node_init = Node.__init__

    def dunder_call(self, *args, **kwargs):
        # A layer holding variables called at the traced level on constants only
        # (`self.point_embed(ops.arange(1))`) would run eagerly: its variables would reach no
        # row and its output be a constant. Its constant arguments are held instead
        # (`TracedConstant` rows), so the call is recorded like any other (once per call).
        if record.depth == 0 and self.weights and _only_constants((args, kwargs)):
            args, kwargs = _hold_where(record, (args, kwargs), _is_stored_tensor)
        return layer_dunder_call(self, *args, **kwargs)

    def maybe_build(self, *args, **kwargs):
        # Building runs below the traced level (a Sequential builds its own graph on a new Input).
        record.called.add(id(self))  # every Layer.__call__ builds first, eager or symbolic
        record.depth += 1
        try:
            return layer_maybe_build(self, *args, **kwargs)
        finally:
            record.depth -= 1

    def inline(self, args, kwargs):
        """Trace the layer's own call; None (and nothing recorded) when that fails below the
        traced model, which then keeps the layer as one row."""
        top = id(self) == record.top
        prefix = [] if top else [self.name]
        saved = record.checkpoint()
        record.prefix.extend(prefix)
        try:
            with _held_attributes(self, record):
                outputs = self.call(*args, **kwargs)
            if not top or check_weights:
                _check_weights_seen(self, record)
        except Exception as error:
            if top:
                raise
            record.rollback(saved)
            if record.propagate and not isinstance(error, ModelConfigError):
                raise  # the whole call is traced again at stand-in batch sizes first
            return None
        finally:
            del record.prefix[len(record.prefix) - len(prefix) :]
        record.skip.append(id(self))  # Layer.__call__ makes its Node right after this
        return outputs

    def layer_call(self, *args, **kwargs):
        if record.depth == 0:
            args, kwargs = _hold_variables(record, (args, kwargs))
            if is_traceable(self):
                outputs = inline(self, args, kwargs)
                if outputs is not None:
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
        if record.depth == 0:
            args, kwargs = _hold_variables(record, (args, kwargs))
            args, kwargs = _hold_where(record, (args, kwargs), lambda v: _batch_shaped(record, v))
            if _is_map(self):
                mapped = _map_rows(record, self, args, kwargs)
                if mapped is not None:
                    return mapped
        record.depth += 1
        try:
            outputs = self.compute_output_spec(*args, **kwargs)
        finally:
            record.depth -= 1
        Node(operation=self, call_args=args, call_kwargs=kwargs, outputs=outputs)
        return outputs

    def node_created(self, operation, call_args=None, call_kwargs=None, outputs=None):
        if not record.depth and record.skip and record.skip[-1] == id(operation):
            # An inlined layer's own Node is not made at all: its outputs are its rows' (and
            # may hold what Keras refuses in a Node, e.g. a None beside the tensors).
            record.skip.pop()
            return
        node_init(self, operation, call_args, call_kwargs, outputs)
        record.created.append(self)
        if not record.depth:
            record.add(self)

    from cnncost.loaders.tf_functions import tf_functions_as_keras_ops

    with _LOCK, tf_functions_as_keras_ops():
        Layer.symbolic_call = layer_call
        Layer.__call__ = dunder_call
        Layer._maybe_build = maybe_build
        Operation.symbolic_call = operation_call
        Node.__init__ = node_created
        try:
            yield
        finally:
            Layer.symbolic_call = layer_symbolic_call
            Layer.__call__ = layer_dunder_call
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
        args, kwargs = _without_functions((node.arguments.args, node.arguments.kwargs))
        return {
            "args": serialization_lib.serialize_keras_object(args),
            "kwargs": serialization_lib.serialize_keras_object(kwargs),
        }
    finally:
        for tensor, history in zip(tensors, saved):
            if history is not None:
                tensor._keras_history = history


def _without_functions(structure: Any) -> Any:
    """Python functions among a call's arguments (`ops.map(f, xs)` kept as one row) by name
    only: cnncost never runs them, and Keras's serialization of one holds its closure's objects
    (a module, a layer), which a configuration cannot hold."""
    import inspect

    from keras import tree

    def name(value: Any) -> Any:
        if inspect.isfunction(value) or inspect.ismethod(value):
            return f"<function {getattr(value, '__qualname__', '?')}>"
        return value

    return tree.map_structure(name, structure)


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


def _reference(tensor: Any, record: _Record) -> list:
    """Where an output of the traced call comes from: a recorded call, or a constant the call
    made without any input (DeiT's encoder returns `ops.empty(...)` beside its tensors)."""
    producer = record.producers.get(id(tensor))
    if producer is None and _is_stored_tensor(tensor):
        producer = record.producers[id(_hold(record, tensor, "constant"))]
    if producer is None:
        raise ModelConfigError("the traced model returns a tensor no traced call produced")
    return list(producer)


# A trace is first run with the batch size unknown (None), as Keras builds functional models.
# Code that computes with the batch size (`ops.tile(self.class_token, (ops.shape(x)[0], 1, 1))`)
# fails on None; the call is then traced twice more, at two stand-in batch sizes. The two
# records must agree everywhere except where an argument is the batch size: a value that is
# one stand-in in the first and the other in the second is the batch, written back as None. Any
# other difference (a reshape that folds the batch into an axis other than the first, control
# flow that depends on the batch size) is refused, and so is a trace whose records differ in structure; a value
# k times the stand-ins (Swin's windows, `ops.reshape(x, (batch * windows, ...))`) is written
# `k * batch` (`cnncost.ir.batch_symbol`), k rows per sample. Eager
# constants shaped by the batch (`ops.zeros((batch, n, c))`) are built at these sizes.
TRACE_BATCHES = (97, 89)
TRACE_BATCH = TRACE_BATCHES[0]


def traced_config(
    model: Any,
    input_shape: Any = None,
    call_args: tuple | None = None,
    call_kwargs: Mapping[str, Any] | None = None,
    check_weights: bool = False,
) -> dict[str, Any]:
    """The Functional configuration of one symbolic call of `model` (see the module docstring).

    Inputs: the tensors among `call_args` and `call_kwargs` (the arguments a custom layer inside
    a functional model was called with: KerasTensors, and `training=...` or other non-tensor
    values), else one input of `input_shape`, else of the shape the model was built with.
    `check_weights`: fail unless every variable of `model` reaches a row (a layer that stays
    one row otherwise, with its recorded weights, rather than lose some of them)."""
    from keras import tree
    from keras.src.backend import KerasTensor
    from keras.src.layers.layer import Layer

    if not isinstance(model, Layer):
        raise ModelConfigError(f"cannot trace a {type(model).__name__}: not a Keras layer")
    named = call_args is None  # the model's own inputs, named as the model names them
    if call_args is None:
        call_args = (_inputs(model, input_shape)[0],)

    def trace(batch: int | None) -> dict[str, Any]:
        return _trace(model, call_args, call_kwargs, check_weights, batch, named)

    try:
        return trace(None)
    except _CallFailed as failed:
        tensors = [t for t in tree.flatten((call_args, call_kwargs)) if isinstance(t, KerasTensor)]
        if not any(t.shape and t.shape[0] is None for t in tensors):
            raise failed.error from None
        try:
            first, second = (trace(batch) for batch in TRACE_BATCHES)
        except _CallFailed as again:  # not the batch size: say what failed with it known
            raise again.error from None
        return _unbatched(first, second, model)


class _CallFailed(Exception):
    """The model's own code failed on symbolic inputs (`error`: the one-line error for it)."""

    def __init__(self, error: ModelConfigError) -> None:
        super().__init__(str(error))
        self.error = error


def _trace(
    model: Any, args: tuple, call_kwargs: Any, check_weights: bool, batch: int | None, named: bool
) -> dict[str, Any]:
    """One trace of `model(*args, **call_kwargs)` on fresh inputs shaped like the tensors among
    them (an unknown batch size set to `batch`), named as the first argument's inputs (`named`)
    or `input_layer_<i>`. The inputs are in the order of the positional arguments flattened,
    then of the keyword arguments as given (the order a functional config lists a call's
    tensors in)."""
    import keras
    from keras import tree
    from keras.src.backend import KerasTensor

    names = iter(range(1 << 30))

    def fresh(t: Any) -> Any:
        if not isinstance(t, KerasTensor):
            return t  # a keyword argument that is no tensor (`training=None`)
        shape = tuple(t.shape)
        if batch is not None and shape and shape[0] is None:
            shape = (batch, *shape[1:])
        name = f"input_layer_{next(names)}"
        if named:
            name = t._keras_history.operation.name
        return keras.Input(batch_shape=shape, dtype=t.dtype, name=name)

    positional = tree.map_structure(fresh, args)
    tensors = [t for t in tree.flatten(positional) if isinstance(t, KerasTensor)]
    keywords = {}
    for key, value in dict(call_kwargs or {}).items():
        keywords[key] = tree.map_structure(fresh, value)
        tensors += [t for t in tree.flatten(keywords[key]) if isinstance(t, KerasTensor)]
    unknown_batch = any(
        isinstance(t, KerasTensor) and t.shape and t.shape[0] is None
        for t in tree.flatten((args, call_kwargs))
    )
    record = _Record(top=id(model), propagate=batch is None and unknown_batch, batch=batch)
    inputs = []
    for tensor in tensors:
        layer = tensor._keras_history.operation
        record.add(layer._inbound_nodes[0])
        shape = list(tensor.shape)
        if batch is not None and shape and shape[0] == batch:
            shape[0] = None
        inputs.append(
            {
                "class_name": "InputLayer",
                "module": "keras.layers",
                "name": record.rows[id(layer)],
                "config": {
                    "batch_shape": shape,
                    "dtype": tensor.dtype,
                    "name": record.rows[id(layer)],
                },
                "inbound_nodes": [],
            }
        )
    try:
        with _hooks(record, check_weights):
            outputs = model(*positional, **keywords)
        input_layers = {id(t._keras_history.operation) for t in tensors}
        # An InputLayer the call records again (keras-hub's HGNetV2Encoder) computes nothing:
        # the trace's own inputs above stand for it, by the same row name.
        output_refs = [_reference(t, record) for t in tree.flatten(outputs)]
        held = [{k: v for k, v in e.items() if k != "source"} for e in record.held]
        recorded = [
            _layer_entry(op, record)
            for op in record.operations
            if id(op) not in input_layers and not isinstance(op, keras.layers.InputLayer)
        ]
        layers = inputs + held + recorded
    except ModelConfigError:
        raise
    except Exception as exc:  # the model's own code failed on symbolic inputs
        from cnncost.loaders.keras_build import first_line

        raise _CallFailed(
            ModelConfigError(
                f"tracing {type(model).__name__} {model.name!r} failed ({first_line(exc)})"
            )
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


def _unbatched(first: dict[str, Any], second: dict[str, Any], model: Any) -> dict[str, Any]:
    """The records of one call traced at the two `TRACE_BATCHES`, as one configuration with the
    batch size written back as None in every call's arguments (an operation's config included,
    and recorded tensor shapes); refused wherever they differ otherwise. Names may differ
    (Keras numbers operations as it creates them): the first record's are kept."""
    one, other = TRACE_BATCHES

    def refuse(detail: str) -> ModelConfigError:
        return ModelConfigError(
            f"tracing {type(model).__name__} {model.name!r}: {detail} depends on the batch size "
            "in a way a shape cannot express"
        )

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, str) or a is None or isinstance(a, bool):
            return a
        if isinstance(a, int) and isinstance(b, int) and not isinstance(b, bool):
            if a == b:
                return a
            if (a, b) == (one, other):
                return None
            if a > 0 and a % one == 0 and b % other == 0 and a // one == b // other:
                from cnncost.ir import batch_symbol

                return a // one * batch_symbol()  # k rows per sample (windows)
            raise refuse(f"a call argument ({a} at batch {one}, {b} at batch {other})")
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
            return type(a)(merge(x, y) for x, y in zip(a, b))
        if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
            return {k: merge(a[k], b[k]) for k in a}
        if a == b:
            return a
        raise refuse("the traced structure")

    layers_a, layers_b = first["config"]["layers"], second["config"]["layers"]
    if len(layers_a) != len(layers_b):
        raise refuse("the number of traced calls")
    for a, b in zip(layers_a, layers_b):
        a["inbound_nodes"] = merge(a["inbound_nodes"], b["inbound_nodes"])
        if (
            str(a.get("module", "")).startswith("keras.src.ops")
            or a.get("module") == "cnncost.trace"
        ):
            # (a held constant's shape may hold the batch: `_batch_shaped`)
            # an operation's config holds its call's arguments (`Reshape(newshape)`)
            a["config"] = merge(a["config"], b["config"])
        elif a.get("class_name") == "InputLayer":
            a["config"] = merge(a["config"], b["config"])
    return first


# -- a functional model's custom layers traced at the input sizes the user gives ---------------
# A functional model records each call's tensors at the sizes its inputs were declared with; a
# size left unknown there (SAM's number of prompt points: `points (None, None, 2)`) leaves every
# traced layer that computes with it untraceable (`N * 2` fails on None), and a traced layer's
# record holds the sizes it was traced at. When the user gives the input sizes
# (`--input-shape`, `input_shape={...}`), the graph is run symbolically at those sizes
# (`compute_output_spec`, which adds no node to any layer) to get the arguments of every call,
# and the custom layers are traced on those (`cnncost.loaders.keras_live`).

# A row's config key (live models only) saying which sizes a custom layer's inputs leave unknown
# when its trace failed: `cnncost.layers.unsupported_reason` adds it to the warning.
UNKNOWN_SIZES = "cnncost_unknown_sizes"


def given_input_shapes(model: Any, input_shape: Any) -> dict[str, tuple]:
    """Input name -> the batch shape given for it (`cnncost.analysis.input_overrides`, whose
    errors it raises), for a model with a graph."""
    from keras import tree

    from cnncost.analysis import input_overrides
    from cnncost.ir import Graph, Node, TensorRef

    inputs = tree.flatten(model._inputs_struct)
    names = [t._keras_history.operation.name for t in inputs]
    nodes = tuple(
        Node(
            name=name,
            class_name="InputLayer",
            module="keras.layers",
            config={"batch_shape": list(t.shape)},
        )
        for name, t in zip(names, inputs)
    )
    graph = Graph(model.name, nodes, tuple(TensorRef(n) for n in names), ())
    return input_overrides(graph, input_shape)


def calls_at_input_shape(model: Any, input_shape: Any) -> dict[int, tuple[tuple, dict]]:
    """id(Node) -> (args, kwargs) of each call of the functional model's graph (nested models'
    included) with its inputs at the given sizes; {} when the sizes given are the model's own or
    no custom layer would be traced. A call whose output spec fails at those sizes, and the
    calls that depend on it, are left out (traced at their recorded sizes)."""
    import keras
    from keras import tree
    from keras.src.models.functional import Functional

    if not any(is_traceable(layer) for layer in model._flatten_layers(include_self=False)):
        return {}
    given = given_input_shapes(model, input_shape)
    inputs = tree.flatten(model._inputs_struct)
    names = [t._keras_history.operation.name for t in inputs]
    shapes = [tuple(given.get(n, t.shape)) for n, t in zip(names, inputs)]
    if all(s == tuple(t.shape) for s, t in zip(shapes, inputs)):
        return {}
    found: dict[int, tuple[tuple, dict]] = {}

    def run(functional: Any, values: list) -> list:
        tensors = {id(x): y for x, y in zip(functional.inputs, values)}
        for depth in sorted(functional._nodes_by_depth, reverse=True):
            for node in functional._nodes_by_depth[depth]:
                if not node.operation or node.is_input:
                    continue
                if any(id(x) not in tensors for x in node.input_tensors):
                    continue  # depends on a call whose spec failed
                args, kwargs = node.arguments.fill_in(tensors)
                found[id(node)] = (tuple(args), dict(kwargs))
                operation = node.operation
                try:
                    if isinstance(operation, Functional):
                        flat = operation._standardize_inputs(args[0] if args else kwargs["inputs"])
                        outputs = run(operation, list(flat))
                    else:
                        outputs = operation.compute_output_spec(*args, **kwargs)
                except Exception:  # noqa: BLE001 - the layer's own code: left at its sizes
                    continue
                for x, y in zip(node.outputs, tree.flatten(outputs)):
                    if y is not None:
                        tensors[id(x)] = y
        return [tensors.get(id(x)) for x in functional.outputs]

    fresh = [
        keras.Input(batch_shape=s, dtype=t.dtype, name=f"{n}_given")
        for s, t, n in zip(shapes, inputs, names)
    ]
    run(model, fresh)
    return found


def unknown_sizes(args: Any, kwargs: Any) -> str | None:
    """Which of a call's tensors have a size other than the batch left unknown, and how to give
    it: the note for the warning of a custom layer whose trace failed."""
    from keras import tree
    from keras.src.backend import KerasTensor

    found = []
    for tensor in tree.flatten((args, kwargs)):
        if not isinstance(tensor, KerasTensor) or tensor.shape is None:
            continue
        axes = [i for i, d in enumerate(tensor.shape) if d is None and i > 0]
        if not axes:
            continue
        history = getattr(tensor, "_keras_history", None)
        producer = getattr(getattr(history, "operation", None), "name", "?")
        axis = "axes " + ", ".join(map(str, axes)) if len(axes) > 1 else f"axis {axes[0]}"
        found.append(f"{producer!r} {axis} of {tuple(tensor.shape)}")
    if not found:
        return None
    return (
        f"its inputs have sizes the model leaves unknown ({'; '.join(found[:4])}); if its call "
        "computes with them, give the model's input sizes with --input-shape "
        "(input_shape={name: shape, ...} in cnncost.analyze) and it is traced at those sizes"
    )
