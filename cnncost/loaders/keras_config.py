"""The one parser of Keras model configurations (the `config.json` of a `.keras` file, or
`keras.saving.serialize_keras_object(model)` of a live model).

It handles Sequential and Functional models, nested models (inlined as rows named
`outer/inner`), shared layers (one node per call, `name:k` for the k-th extra call), multi-input and
multi-output models, keras.ops operations in functional graphs, and the legacy list form of
`inbound_nodes`. It never imports Keras and never executes anything from the config.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cnncost.errors import ModelConfigError
from cnncost.ir import Graph, Node, Shape, TensorRef
from cnncost.limits import (
    MAX_EDGES,
    MAX_INDEX,
    MAX_NAME_CHARS,
    MAX_NESTING,
    MAX_RANK,
    MAX_ROWS,
)
from cnncost.loaders.keras2 import MAX_DEPTH

MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})
# MAX_NESTING (cnncost.limits): nested models deeper than this are refused rather than risking
# recursion; MAX_ROWS bounds the inlined graph (a nested model called twice per level doubles
# it), so the parse itself stops as soon as the cap is passed.


@dataclass(frozen=True)
class _Call:
    """One unresolved call: references are (layer, node_index, tensor_index) in its model scope."""

    node: Node
    scope: str
    references: tuple[tuple[str, int, int], ...]
    arguments: tuple[Any, ...]
    keyword_arguments: Mapping[str, Any]


@dataclass
class _Builder:
    nodes: list[Node] = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)
    # (scope, layer, node_index) -> output refs of that call
    produced: dict[tuple[str, str, int], list[TensorRef]] = field(default_factory=dict)
    # placeholder ref (a nested model's input) -> the outer tensor bound to it
    aliases: dict[TensorRef, TensorRef] = field(default_factory=dict)
    # a nested model call's placeholders, bound once the call's own inputs are resolved
    bindings: list[tuple[str, tuple[tuple[str, int, int], ...], tuple[TensorRef, ...]]] = field(
        default_factory=list
    )
    names: set[str] = field(default_factory=set)
    # prefix of a repeated nested-model call -> prefix of its first call (weights are shared)
    weight_owners: dict[str, str] = field(default_factory=dict)


def dtype_policy_name(dtype: Any) -> str:
    """The policy name in a layer's `dtype` field (a string or a serialized DTypePolicy)."""
    if isinstance(dtype, str):
        return _checked_name(dtype, "a dtype policy")
    if isinstance(dtype, Mapping):
        inner = dtype.get("config")
        if isinstance(inner, Mapping) and isinstance(inner.get("name"), str):
            return _checked_name(inner["name"], "a dtype policy")
    return "float32"


def _as_shape(value: Any) -> Shape | None:
    if isinstance(value, (list, tuple)) and len(value) > MAX_RANK:
        raise ModelConfigError(
            f"a shape of rank {len(value)}, above cnncost's cap of {MAX_RANK} (docs/limits.md)"
        )
    if isinstance(value, (list, tuple)) and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value
    ):
        return tuple(value)
    return None


def _is_keras_tensor(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__"


def _history(tensor: Mapping[str, Any]) -> tuple[str, int, int]:
    history = tensor.get("config", {}).get("keras_history")
    if (
        not isinstance(history, (list, tuple))
        or len(history) < 3
        or not isinstance(history[0], str)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in history[1:3])
    ):
        raise ModelConfigError(f"malformed keras_history {_short(history)}")
    return _checked_ref(history[0], history[1], history[2])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _checked_ref(layer: str, node_index: int, tensor_index: int) -> tuple[str, int, int]:
    """A [layer, call, output] reference with both indices in 0..MAX_INDEX (a negative index
    would silently address from the end; a huge one allocates per output)."""
    for what, index in (("call", node_index), ("output", tensor_index)):
        if not 0 <= index <= MAX_INDEX:
            shown = index if abs(index) < 10**12 else f"a {len(str(abs(index)))}-digit number"
            raise ModelConfigError(
                f"reference to {what} {shown} of layer {_short(layer[:80])}: indices must be "
                f"in 0..{MAX_INDEX} (docs/limits.md)"
            )
    return layer, node_index, tensor_index


def _collect_tensors(value: Any, found: list[Mapping[str, Any]], depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise ModelConfigError("call arguments are nested too deeply")
    if _is_keras_tensor(value):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_tensors(item, found, depth + 1)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect_tensors(item, found, depth + 1)


def _replace_tensors(value: Any, refs, depth: int = 0) -> Any:
    """The call structure with each keras tensor replaced by its ref, in `_collect_tensors` order
    (`refs` an iterator: one step per tensor, linear in the number of tensors)."""
    if depth > MAX_NESTING:
        raise ModelConfigError("call arguments are nested too deeply")
    if _is_keras_tensor(value):
        ref = next(refs, None)
        if ref is None:
            raise ModelConfigError("a call has more tensors than references")
        return ref
    if isinstance(value, (list, tuple)):
        return tuple(_replace_tensors(v, refs, depth + 1) for v in value)
    if isinstance(value, Mapping):
        return {k: _replace_tensors(v, refs, depth + 1) for k, v in value.items()}
    return value


def _normalize_inbound(inbound: Any, layer_name: str) -> list[tuple[tuple, dict]]:
    """Each call as (args, kwargs) in the Keras 3 form, converting the legacy list form."""
    if not isinstance(inbound, list):
        raise ModelConfigError(f"layer {layer_name!r}: inbound_nodes is not a list")
    calls = []
    for node in inbound:
        if isinstance(node, Mapping):
            args = node.get("args", [])
            kwargs = node.get("kwargs", {})
            if not isinstance(args, (list, tuple)) or not isinstance(kwargs, Mapping):
                raise ModelConfigError(f"layer {layer_name!r}: malformed inbound node")
            calls.append((tuple(args), dict(kwargs)))
        elif isinstance(node, list):  # legacy: [[layer, node_index, tensor_index, kwargs], ...]
            tensors = []
            kwargs: dict[str, Any] = {}
            for entry in node:
                if not isinstance(entry, list) or len(entry) < 3:
                    raise ModelConfigError(f"layer {layer_name!r}: malformed inbound node")
                tensors.append(
                    {"class_name": "__keras_tensor__", "config": {"keras_history": entry[:3]}}
                )
                if len(entry) > 3 and isinstance(entry[3], Mapping):
                    kwargs.update(entry[3])
            args = (tensors[0],) if len(tensors) == 1 else (tensors,)
            calls.append((args, kwargs))
        else:
            raise ModelConfigError(f"layer {layer_name!r}: malformed inbound node")
    return calls


def _layer_fields(layer: Any, where: str) -> tuple[str, str, Mapping[str, Any]]:
    if not isinstance(layer, Mapping):
        raise ModelConfigError(f"{where}: a layer entry is not an object")
    class_name = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(class_name, str) or not isinstance(config, Mapping):
        raise ModelConfigError(f"{where}: a layer entry has no class_name/config")
    module = layer.get("module") if isinstance(layer.get("module"), str) else ""
    _checked_name(class_name, f"{where}: a class name")
    _checked_name(module, f"{where}: a module name")
    return class_name, module, config


def _registered_name(layer: Any) -> str | None:
    name = layer.get("registered_name") if isinstance(layer, Mapping) else None
    return _checked_name(name, "a registered name") if isinstance(name, str) else None


def _layer_name(layer: Mapping[str, Any], config: Mapping[str, Any], where: str) -> str:
    name = layer.get("name", config.get("name"))
    if not isinstance(name, str) or not name:
        raise ModelConfigError(f"{where}: a layer has no name")
    return _checked_name(name, where)


def _checked_name(name: str, where: str) -> str:
    if len(name) > MAX_NAME_CHARS:
        raise ModelConfigError(
            f"{where[:200]}: a name of {len(name)} characters (starting {name[:40]!r}), above "
            f"cnncost's cap of {MAX_NAME_CHARS} (docs/limits.md)"
        )
    return name


def _refs_list(value: Any, what: str) -> list[tuple[str, int, int]]:
    """`input_layers`/`output_layers`: one [name, node, tensor] triple or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ModelConfigError(f"model has no {what}")
    if len(value) > MAX_INDEX:
        raise ModelConfigError(
            f"model has {len(value)} {what}, above cnncost's cap of {MAX_INDEX} (docs/limits.md)"
        )
    out = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) < 3
            or not isinstance(item[0], str)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in item[1:3])
        ):
            raise ModelConfigError(f"malformed {what} entry {_short(item)}")
        out.append(_checked_ref(item[0], item[1], item[2]))
    return out


def _too_many_rows() -> ModelConfigError:
    return ModelConfigError(
        f"more than {MAX_ROWS} layers once nested models are inlined (each call of a nested "
        "model is a copy of its layers): above cnncost's cap (docs/limits.md)"
    )


def _expanded_rows(model: Any, depth: int = 0) -> int:
    """An upper bound on the rows `model` inlines to, counted on the config as written (each
    nested model's config is visited once and weighted by its number of calls), so a file whose
    nested models call the level below twice per level is refused before any of it is inlined.
    Stops counting past MAX_ROWS. A nested model call counts at least one row (an empty nested
    model still costs an expansion)."""
    if depth > MAX_NESTING:
        raise ModelConfigError("models are nested too deeply")
    config = model.get("config") if isinstance(model, Mapping) else None
    layers = config.get("layers") if isinstance(config, Mapping) else None
    if not isinstance(layers, list):
        return 1
    total = 1 + len(layers)
    for layer in layers:
        if total > MAX_ROWS:
            break
        if not isinstance(layer, Mapping) or layer.get("class_name") not in MODEL_CLASSES:
            continue
        inbound = layer.get("inbound_nodes")
        calls = len(inbound) if isinstance(inbound, list) and inbound else 1
        total += calls * _expanded_rows(layer, depth + 1)
    return total


class _Parser:
    def __init__(self) -> None:
        self.b = _Builder()
        self.expansions = 0
        self.edges = 0  # tensor references of every call: the graph's edges

    def add_node(self, node: Node) -> None:
        if len(self.b.nodes) + self.expansions >= MAX_ROWS:
            raise _too_many_rows()
        _checked_name(node.name, "row name")
        if node.name in self.b.names:
            raise ModelConfigError(f"duplicate layer name {node.name!r}")
        self.b.names.add(node.name)
        self.b.nodes.append(node)

    # -- models ---------------------------------------------------------------------------
    def add_model(
        self,
        model: Mapping[str, Any],
        prefix: str,
        nested: bool,
        trainable: bool,
        depth: int,
    ) -> tuple[list[TensorRef], list[TensorRef]]:
        if depth > MAX_NESTING:
            raise ModelConfigError("models are nested too deeply")
        self.expansions += 1
        if len(self.b.nodes) + self.expansions > MAX_ROWS:
            raise _too_many_rows()
        config = model.get("config")
        if not isinstance(config, Mapping):
            raise ModelConfigError(f"model {prefix or '(top)'}: no config")
        trainable = trainable and config.get("trainable", True) is not False
        if model.get("class_name") == "Sequential":
            return self._add_sequential(model, config, prefix, nested, trainable, depth)
        return self._add_functional(config, prefix, nested, trainable, depth)

    def _input_node(self, name: str, shape: Shape | None, dtype: str, nested: bool) -> TensorRef:
        ref = TensorRef(name, 0)
        if not nested:
            self.add_node(
                Node(
                    name=name,
                    class_name="InputLayer",
                    module="keras.layers",
                    config={"batch_shape": list(shape) if shape is not None else None},
                    layer=name,
                    dtype_policy=dtype,
                )
            )
        return ref

    def _add_sequential(self, model, config, prefix, nested, trainable, depth):
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ModelConfigError(f"Sequential model {prefix or '(top)'}: no layer list")
        where = f"model {prefix.rstrip('/') or config.get('name', '(top)')}"
        entries = [(_layer_fields(layer, where), layer) for layer in layers]
        if entries and entries[0][0][0] == "InputLayer":
            (_, _, in_config), layer = entries[0]
            name = prefix + _layer_name(layer, in_config, where)
            shape = _as_shape(in_config.get("batch_shape", in_config.get("batch_input_shape")))
            dtype = dtype_policy_name(in_config.get("dtype"))
            entries = entries[1:]
        else:
            dtype = dtype_policy_name(config.get("dtype"))
            name = prefix + "input_layer"
            shape = _as_shape(config.get("build_input_shape")) or _as_shape(
                (model.get("build_config") or {}).get("input_shape")
            )
            if shape is None and entries:
                first = entries[0][0][2]
                shape = _as_shape(first.get("batch_shape", first.get("batch_input_shape")))
        current = self._input_node(name, shape, dtype, nested)
        inputs = [current]
        for (class_name, module, layer_config), layer in entries:
            layer_name = prefix + _layer_name(layer, layer_config, where)
            outputs = self._add_call(
                layer,
                class_name,
                module,
                layer_config,
                layer_name,
                "",
                0,
                (current,),
                (current,),
                {},
                (None,),
                trainable,
                depth,
            )
            current = outputs[0]
        return inputs, [current]

    def _add_functional(self, config, prefix, nested, trainable, depth):
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ModelConfigError(f"model {prefix or '(top)'}: no layer list")
        where = f"model {prefix.rstrip('/') or config.get('name', '(top)')}"
        scope = prefix
        input_refs = _refs_list(config.get("input_layers"), "input_layers")
        output_refs = _refs_list(config.get("output_layers"), "output_layers")
        for layer in layers:
            class_name, module, layer_config = _layer_fields(layer, where)
            name = _layer_name(layer, layer_config, where)
            if class_name == "InputLayer":
                shape = _as_shape(
                    layer_config.get("batch_shape", layer_config.get("batch_input_shape"))
                )
                ref = self._input_node(
                    prefix + name, shape, dtype_policy_name(layer_config.get("dtype")), nested
                )
                self.b.produced[(scope, name, 0)] = [ref]
                continue
            inbound = _normalize_inbound(layer.get("inbound_nodes", []), name)
            for call_index, (args, kwargs) in enumerate(inbound):
                found: list[Mapping[str, Any]] = []
                _collect_tensors(args, found)
                _collect_tensors(kwargs, found)
                self.edges += len(found)
                if self.edges > MAX_EDGES:
                    raise ModelConfigError(
                        f"more than {MAX_EDGES} tensor references in the calls, above "
                        "cnncost's cap (docs/limits.md)"
                    )
                histories = tuple(_history(t) for t in found)
                recorded = tuple(_as_shape(t.get("config", {}).get("shape")) for t in found)
                node_name = prefix + name + (f":{call_index}" if call_index else "")
                outputs = self._add_call(
                    layer,
                    class_name,
                    module,
                    layer_config,
                    node_name,
                    scope,
                    call_index,
                    histories,
                    args,
                    kwargs,
                    recorded,
                    trainable,
                    depth,
                    first_call_name=prefix + name,
                )
                self.b.produced[(scope, name, call_index)] = outputs
        # Keras counts the calls of a nested Functional model from 1 in `input_layers` and
        # `output_layers` (its own first node links its inputs to its outputs; Keras's loader
        # subtracts 1, `functional_from_config`), but from 0 in `inbound_nodes`.
        functional = {
            _layer_name(layer, layer.get("config") or {}, where)
            for layer in layers
            if isinstance(layer, Mapping) and layer.get("class_name") in ("Functional", "Model")
        }

        def model_ref(ref: tuple[str, int, int]) -> TensorRef:
            layer, node_index, tensor_index = ref
            if layer in functional and node_index > 0:
                node_index -= 1
            return self._produced(scope, (layer, node_index, tensor_index))

        return [model_ref(ref) for ref in input_refs], [model_ref(ref) for ref in output_refs]

    def _produced(self, scope: str, ref: tuple[str, int, int]) -> TensorRef:
        layer, node_index, tensor_index = ref
        outputs = self.b.produced.get((scope, layer, node_index))
        if outputs is None:
            where = f" in model {scope.rstrip('/')}" if scope else ""
            raise ModelConfigError(
                f"reference to missing layer {layer!r} (call {node_index}){where}"
            )
        if tensor_index >= len(outputs) and len(outputs) > 1:
            raise ModelConfigError(f"reference to missing output {tensor_index} of {layer!r}")
        if len(outputs) == 1:
            # A single-output call: Keras writes tensor_index 0, but a layer with several outputs
            # whose count we do not know yet is addressed by index on its one node.
            return TensorRef(outputs[0].node, outputs[0].index + tensor_index)
        return outputs[tensor_index]

    def _add_call(
        self,
        layer,
        class_name,
        module,
        layer_config,
        node_name,
        scope,
        call_index,
        references,
        args,
        kwargs,
        recorded,
        trainable,
        depth,
        first_call_name=None,
    ) -> list[TensorRef]:
        """Add one call; returns its output refs. `references` are histories (functional) or
        already-resolved refs (sequential)."""
        if class_name in MODEL_CLASSES:
            if call_index and first_call_name:
                # A nested model called again reuses the weights of its first call's layers.
                self.b.weight_owners[node_name + "/"] = first_call_name + "/"
            inner_in, inner_out = self.add_model(layer, node_name + "/", True, trainable, depth + 1)
            self.b.bindings.append((scope, tuple(references), tuple(inner_in)))
            return inner_out
        layer_trainable = trainable and layer_config.get("trainable", True) is not False
        owner = self._weight_owner(first_call_name or node_name)
        node = Node(
            name=node_name,
            class_name=class_name,
            module=module,
            config=layer_config,
            arguments=tuple(args),
            keyword_arguments=dict(kwargs),
            recorded_input_shapes=tuple(recorded),
            layer=owner,
            shares_weights_with=owner if owner != node_name else None,
            trainable=layer_trainable,
            dtype_policy=dtype_policy_name(layer_config.get("dtype")),
            registered_name=_registered_name(layer),
        )
        self.add_node(node)
        self.b.calls.append(_Call(node, scope, tuple(references), tuple(args), dict(kwargs)))
        return [TensorRef(node_name, 0)]

    def _weight_owner(self, name: str) -> str:
        """The node that owns the weights of `name` (itself, unless inside a repeated call).

        Each key of `weight_owners` is a row prefix ending in "/", so only the prefixes of
        `name` at its "/"s are looked up: O(nesting depth) per step, not O(repeated calls)."""
        owners = self.b.weight_owners
        changed = bool(owners)
        while changed:
            changed = False
            cut = name.find("/")
            while cut >= 0:
                first = owners.get(name[: cut + 1])
                if first is not None:
                    name, changed = first + name[cut + 1 :], True
                    break
                cut = name.find("/", cut + 1)
        return name

    # -- resolution -----------------------------------------------------------------------
    def _resolve_one(self, scope: str, reference: Any) -> TensorRef:
        if isinstance(reference, TensorRef):
            return reference
        return self._produced(scope, reference)

    def _follow(self, ref: TensorRef) -> TensorRef:
        seen = set()
        while ref in self.b.aliases:
            if ref in seen:
                raise ModelConfigError(f"cyclic model inputs at {ref.node!r}")
            seen.add(ref)
            ref = self.b.aliases[ref]
        return ref

    def _substitute(self, value: Any, refs: list[TensorRef]) -> Any:
        """The call structure with keras tensors replaced by `refs` and placeholders followed."""
        replaced = _replace_tensors(value, iter(refs))
        return _map_refs(replaced, self._follow)

    def finish(self, name: str, source: str, inputs, outputs) -> Graph:
        for scope, references, placeholders in self.b.bindings:
            resolved = [self._resolve_one(scope, r) for r in references]
            if len(resolved) != len(placeholders):
                raise ModelConfigError(
                    f"nested model called with {len(resolved)} inputs, expects {len(placeholders)}"
                )
            for placeholder, ref in zip(placeholders, resolved):
                self.b.aliases[placeholder] = ref
        resolved_nodes = {}
        for call in self.b.calls:
            refs = tuple(self._follow(self._resolve_one(call.scope, r)) for r in call.references)
            n_args = _count(call.arguments)
            arguments = self._substitute(call.arguments, list(refs[:n_args]))
            keyword_arguments = self._substitute(call.keyword_arguments, list(refs[n_args:]))
            resolved_nodes[call.node.name] = replace(
                call.node,
                inputs=refs,
                arguments=tuple(arguments),
                keyword_arguments=dict(keyword_arguments),
            )
        nodes = [resolved_nodes.get(n.name, n) for n in self.b.nodes]
        outputs = [self._follow(r) for r in outputs]
        inputs = [self._follow(r) for r in inputs]
        return Graph(
            name=name,
            nodes=_topological(nodes),
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            source=source,
        )


def _map_refs(value: Any, follow) -> Any:
    if isinstance(value, TensorRef):
        return follow(value)
    if isinstance(value, tuple):
        return tuple(_map_refs(v, follow) for v in value)
    if isinstance(value, dict):
        return {k: _map_refs(v, follow) for k, v in value.items()}
    return value


def _count(value: Any) -> int:
    found: list[Mapping[str, Any]] = []
    _collect_tensors(value, found)
    return len(found)


def _topological(nodes: list[Node]) -> tuple[Node, ...]:
    """Kahn's algorithm, stable in file order; raises on cycles and dangling references."""
    order = {n.name: i for i, n in enumerate(nodes)}
    by_name = {n.name: n for n in nodes}
    waiting = {n.name: 0 for n in nodes}
    consumers: dict[str, list[str]] = {n.name: [] for n in nodes}
    for n in nodes:
        for ref in set(n.inputs):
            if ref.node not in by_name:
                raise ModelConfigError(f"layer {n.name!r} uses missing layer {ref.node!r}")
            waiting[n.name] += 1
            consumers[ref.node].append(n.name)
    ready = [order[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    result = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        result.append(node)
        for consumer in consumers[node.name]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, order[consumer])
    if len(result) != len(nodes):
        stuck = sorted(name for name, count in waiting.items() if count > 0)
        raise ModelConfigError(f"the graph has a cycle through layer {stuck[0]!r}")
    return tuple(result)


def check_nesting(config: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` levels (keras2's cap, deeper than any real model
    config). Checked with an explicit stack, so the check never recurses; every command applies
    it where a config enters (`report` here, `suggest`/`audit` in `advise.load_model_config`),
    so they accept the same configs and no later walk or copy of one (Python's recursive
    `copy.deepcopy`, `json.dumps`) can run out of stack."""
    stack = [(config, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise ModelConfigError(f"the configuration is nested too deeply (over {limit} levels)")
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1) for item in value)


def graph_from_config(config: Any, source: str = "") -> Graph:
    """Parse a serialized Keras model into a `Graph`."""
    if not isinstance(config, Mapping):
        raise ModelConfigError("the configuration is not a JSON object")
    check_nesting(config)
    class_name = config.get("class_name")
    if not isinstance(class_name, str) or class_name not in MODEL_CLASSES:
        what = f"a {class_name!r}" if isinstance(class_name, str) else "no class_name"
        raise ModelConfigError(f"the configuration describes {what}, not a Keras model")
    parser = _Parser()
    try:
        if _expanded_rows(config) > MAX_ROWS:
            raise _too_many_rows()
        inputs, outputs = parser.add_model(config, "", False, True, 0)
        inner = config.get("config")
        name = inner.get("name") if isinstance(inner, Mapping) else None
        if isinstance(name, str):
            _checked_name(name, "the model")
        return parser.finish(name if isinstance(name, str) else "model", source, inputs, outputs)
    except RecursionError:
        raise ModelConfigError("the configuration is nested too deeply") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelConfigError(
            f"malformed model configuration ({type(exc).__name__}: {exc})"
        ) from None
