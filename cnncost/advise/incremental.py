"""Edits of the IR graph and their exact metrics, without re-parsing or re-analysing the model.

`suggest` evaluates thousands of edit combinations. Re-parsing the edited Keras config and running
every pass on it costs ~10-50 ms for ResNet50; here an edit is applied to the parsed `Graph`
(a node's config changed, a node inserted and its consumers rewired) and evaluated by composing
per-node results along the graph:

- a node's output shapes, params, MACs, FLOPs and output bytes are functions of the node and
  its input shapes only, so they are memoised on (node, input shapes): an edit re-computes only
  the nodes whose input shapes it changes (downstream of the first edit) and every other node is
  a dictionary hit;
- the receptive field composes the same way: a node's `AxisMap` state is a function of the node,
  its input states and its input shapes (`receptive_field._transfer`, the pass's own transfer
  function), memoised on them;
- totals are sums, the peak activation memory is the pass's own liveness sweep
  (`memory.peak_live_bytes`) over the edited order, the final RF the largest local state.

The per-node functions are the registry's rules and the passes' own helpers, so the result equals a
full re-analysis (tests/advise/test_incremental.py checks it on random edits). Graphs this module
does not model node by node (an unsupported layer, a nested model, shared layers, the tf-profiler
convention, symbolic sizes) are evaluated by the full analysis instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cnncost.advise.results import Metrics, count_idle, metrics, works_spatially
from cnncost.analysis import Options, analyze_graph, input_overrides
from cnncost.conventions import TF_PROFILER
from cnncost.ir import Graph, Node, TensorRef
from cnncost.layers import Call, rule_for
from cnncost.layers.base import guarded, numel, product, spatial_axes
from cnncost.layers.layout import input_data_formats
from cnncost.loaders.keras_config import dtype_policy_name
from cnncost.passes.compute import _padding_aware, elementwise
from cnncost.passes.memory import dtype_bytes, peak_live_bytes, policy_dtypes
from cnncost.passes.receptive_field import Local, _number, _transfer, identity_map
from cnncost.passes.shapes import NodeShapes, ShapeResult

# -- graph edits ----------------------------------------------------------------------------------


def set_node_fields(graph: Graph, name: str, **fields: Any) -> Graph:
    """Node `name` with `fields` set in its config (what `config_edit.set_fields` does)."""
    node = graph.node(name)
    edited = replace(node, config={**node.config, **fields})
    return replace(graph, nodes=tuple(edited if n is node else n for n in graph.nodes))


def _rewire(value: Any, old: TensorRef, new: TensorRef) -> Any:
    if isinstance(value, TensorRef):
        return new if value == old else value
    if isinstance(value, tuple):
        return tuple(_rewire(v, old, new) for v in value)
    if isinstance(value, list):
        return [_rewire(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _rewire(v, old, new) for k, v in value.items()}
    return value


def insert_node_after(graph: Graph, name: str, layer: Mapping[str, Any]) -> Graph:
    """The layer config `layer` ({class_name, config}) called on output 0 of `name`, every other
    consumer of that output rewired to it (what `config_edit.insert_after` does to the config).
    The new node is placed right after `name` in the node order (the file order of the config)."""
    cfg = layer["config"]
    old, new = TensorRef(name, 0), TensorRef(cfg["name"], 0)
    consumers = {
        node.name
        for node in graph.nodes
        if any(r.node == name and r.index == 0 for r in node.inputs)
    }
    recorded = None
    for node in graph.nodes:
        if node.name in consumers and recorded is None:
            for ref, shape in zip(node.inputs, node.recorded_input_shapes):
                if ref == old and recorded is None:
                    recorded = shape
    inserted = Node(
        name=cfg["name"],
        class_name=layer["class_name"],
        module=layer.get("module", "keras.layers"),
        config=cfg,
        inputs=(old,),
        arguments=(old,),
        recorded_input_shapes=(recorded,),
        layer=cfg["name"],
        trainable=cfg.get("trainable", True),
        dtype_policy=dtype_policy_name(cfg.get("dtype")),
        registered_name=layer.get("registered_name"),
    )
    nodes = []
    for node in graph.nodes:
        if node.name in consumers:
            node = replace(
                node,
                inputs=_rewire(node.inputs, old, new),
                arguments=_rewire(node.arguments, old, new),
                keyword_arguments=_rewire(dict(node.keyword_arguments), old, new),
            )
        nodes.append(node)
        if node.name == name:
            nodes.append(inserted)
    return replace(graph, nodes=tuple(nodes), outputs=_rewire(graph.outputs, old, new))


def remove_nodes(graph: Graph, names: set[str]) -> Graph:
    return replace(graph, nodes=tuple(n for n in graph.nodes if n.name not in names))


def replace_node(graph: Graph, name: str, layer: Mapping[str, Any]) -> Graph:
    """Node `name` replaced by the layer config `layer`, on the same inputs, consumers renamed."""
    node = graph.node(name)
    new_name = layer["config"]["name"]
    swapped = replace(
        node,
        name=new_name,
        layer=new_name,
        class_name=layer["class_name"],
        module=layer.get("module", "keras.layers"),
        config=layer["config"],
        registered_name=layer.get("registered_name"),
    )
    old, new = TensorRef(name, 0), TensorRef(new_name, 0)
    nodes = []
    for n in graph.nodes:
        if n is node:
            nodes.append(swapped)
        elif old in n.inputs:
            nodes.append(
                replace(
                    n,
                    inputs=_rewire(n.inputs, old, new),
                    arguments=_rewire(n.arguments, old, new),
                    keyword_arguments=_rewire(dict(n.keyword_arguments), old, new),
                )
            )
        else:
            nodes.append(n)
    return replace(graph, nodes=tuple(nodes), outputs=_rewire(graph.outputs, old, new))


# -- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeResult:
    outputs: tuple
    params: int
    macs: Any
    flops: Any
    output_bytes: tuple


@dataclass(frozen=True)
class _Bytes:
    output_bytes: tuple


@dataclass(frozen=True)
class _RF:
    """A node's RF state for the first input, with the summaries the metrics read."""

    state: Any
    size: tuple | None  # per-axis local RF (size_max), None unless Local
    jump: tuple | None


@dataclass(frozen=True, slots=True)
class _Record:
    """What a run keeps of a node: its result and RF state (memoised on the node, its input
    shapes and its inputs' RF states)."""

    outputs: tuple
    params: Any
    macs: Any
    flops: Any
    output_bytes: tuple
    rf: _RF | None
    size: tuple | None
    jump: tuple | None
    spatial_out: tuple | None  # the output's spatial size when its RF is local


@dataclass(frozen=True, slots=True)
class _Static:
    refs: tuple
    is_input: bool
    spatial: bool


@dataclass(frozen=True)
class _Step:
    """The running totals after a node (so a later edit restarts from there)."""

    params: Any
    macs: Any
    flops: Any
    best_rf: tuple | None
    final_map: tuple | None
    final_jump: tuple | None
    levels: frozenset
    worked: frozenset


@dataclass
class _Run:
    nodes: tuple[Node, ...]
    results: dict[str, _NodeResult]
    states: dict[str, _RF | None]
    steps: list[_Step]
    input_shape: Any


_START = _Step(0, 0, 0, None, None, None, frozenset(), frozenset())


class Evaluator:
    """Exact metrics of edited graphs of one model, memoised per node (see the module doc).

    Graph edits keep `graph.nodes` topological: a node inserted after `s` in the config (file
    order) is placed by Kahn's algorithm right after `s` (it is the only node `s` makes ready, and
    every other ready node comes later in the file), which is where `insert_node_after` puts it;
    in-place changes, replacements and removals of dead nodes keep the order. So an edited graph
    shares the unedited graph's prefix up to its first changed node, and evaluation restarts
    there from the running totals of the unedited graph."""

    def __init__(self, graph: Graph, options: Options) -> None:
        self.graph = graph
        self.options = options
        self.incremental = _node_by_node(graph, options)
        self._nodes: dict[tuple, _NodeResult] = {}
        self._interned: dict[Any, _RF] = {}
        self._overrides: dict[Any, dict] = {}
        self._static: dict[Node, _Static] = {}
        self._records: dict[tuple, _Record] = {}
        self._base: dict[str, _Run] = {}
        self.evaluated = 0

    def overrides(self, input_shape: Any) -> dict:
        key = repr(input_shape)
        if key not in self._overrides:
            self._overrides[key] = input_overrides(self.graph, input_shape)
        return self._overrides[key]

    def evaluate(self, graph: Graph, input_shape: Any = None, peak: bool = True) -> Metrics:
        """Metrics of `graph` (an edit of the evaluator's graph) at `input_shape` (None: the
        options'); raises CnnCostError when the edited model does not build. `peak=False`
        skips the peak activation memory (None then; the search does not rank by it)."""
        self.evaluated += 1
        shape = self.options.input_shape if input_shape is None else input_shape
        if not self.incremental:
            report = analyze_graph(graph, replace(self.options, input_shape=shape))
            return metrics(report, graph)
        key = repr(shape)
        overrides = self.overrides(shape)
        base = self._base.get(key)
        if base is None:
            base = self._base[key] = self._run(self.graph.nodes, overrides, None, 0)
        start = 0
        for edited, original in zip(graph.nodes, base.nodes):
            if edited is not original:
                break
            start += 1
        run = base if start == len(graph.nodes) == len(base.nodes) else None
        if run is None:
            run = self._run(graph.nodes, overrides, base, start)
        return self._metrics(graph, run, peak)

    def _run(self, nodes, overrides, base: _Run | None, start: int) -> _Run:
        """Records from node `start` on (those before are `base`'s)."""
        records: dict[str, _Record] = {}
        steps: list[_Step] = []
        step = _START if start == 0 else base.steps[start - 1]
        input_shape = None if base is None else base.input_shape
        old = {} if base is None else base.results
        params, macs, flops = step.params, step.macs, step.flops
        best_rf, final_map, final_jump = step.best_rf, step.final_map, step.final_jump
        levels, worked = set(step.levels), set(step.worked)
        first = self.graph.inputs[0].node
        memo, static = self._records, self._static
        get = records.get
        for node in nodes[start:]:
            info = static.get(node) or self._static_info(node)
            sources = [get(name) or old[name] for name, _ in info.refs]
            inputs = tuple(r.outputs[i] for r, (_, i) in zip(sources, info.refs))
            override = overrides.get(node.name) if info.is_input else None
            key = (node, inputs, tuple(id(r.rf) for r in sources), override)
            record = memo.get(key)
            if record is None:
                record = self._record(node, inputs, sources, override, first, input_shape)
                memo[key] = record
            records[node.name] = record
            if node.name == first:
                input_shape = record.outputs[0]
            params = None if params is None or record.params is None else params + record.params
            macs = None if macs is None or record.macs is None else macs + record.macs
            flops = None if flops is None or record.flops is None else flops + record.flops
            if info.spatial and sources and sources[0].jump is not None:
                worked.add(sources[0].jump)
            if record.size is not None:
                if best_rf is None or record.size > best_rf:
                    best_rf = record.size
                if record.spatial_out is not None:
                    final_map = record.spatial_out
                final_jump = record.jump
                levels.add(record.jump)
            if base is None:
                steps.append(
                    _Step(
                        params, macs, flops, best_rf, final_map, final_jump,
                        frozenset(levels), frozenset(worked),
                    )
                )  # fmt: skip
        if base is not None:  # an edited graph: its last step is all the metrics need
            steps = [_Step(params, macs, flops, best_rf, final_map, final_jump, levels, worked)]
            records = _Layered(records, old)
        return _Run(tuple(nodes), records, {}, steps, input_shape)

    def _static_info(self, node: Node) -> _Static:
        info = _Static(
            tuple((ref.node, ref.index) for ref in node.inputs),
            node.is_input,
            works_spatially(node),
        )
        self._static[node] = info
        return info

    def _record(self, node, inputs, sources, override, first, input_shape) -> _Record:
        result = self._node(node, inputs, override)
        if node.name == first:
            input_shape = result.outputs[0]
        rf = self._state(node, first, inputs, result.outputs, sources, input_shape)
        out = result.outputs[0] if result.outputs else None
        spatial_out = None
        if rf is not None and rf.size is not None and out is not None and input_shape is not None:
            if len(out) == len(input_shape):
                spatial_out = tuple(out[1:-1])
        return _Record(
            result.outputs, result.params, result.macs, result.flops, result.output_bytes,
            rf, None if rf is None else rf.size, None if rf is None else rf.jump, spatial_out,
        )  # fmt: skip

    def _metrics(self, graph: Graph, run: _Run, peak: bool) -> Metrics:
        step = run.steps[-1]
        batch = self.options.batch
        value = None
        if peak:
            by_name = {n.name: _Bytes(run.results[n.name].output_bytes) for n in graph.nodes}
            if not any(b is None for r in by_name.values() for b in r.output_bytes):
                value = peak_live_bytes(graph, by_name)
        return Metrics(
            step.params,
            None if step.macs is None else step.macs * batch,
            None if step.flops is None else step.flops * batch,
            value,
            step.best_rf,
            tuple(run.input_shape[1:-1]),
            step.final_map,
            count_idle(set(step.levels), set(step.worked), step.final_jump),
        )

    def _node(self, node: Node, inputs: tuple, override: Any) -> _NodeResult:
        key = (node, inputs, override)
        hit = self._nodes.get(key)
        if hit is not None:
            return hit
        options = self.options
        rule = rule_for(node)
        call = Call(node, inputs)
        if override is not None:
            outputs = (override,)
        elif any(s is None for s in inputs):
            outputs = (None,)
        else:
            outputs = tuple(guarded(call, rule.output_shapes))
        # params (passes/params.py): later calls of a shared layer own none
        if node.shares_weights_with is not None:
            params = 0
        elif any(s is None for s in inputs):
            params = None
        else:
            params = sum(numel(w.shape) for w in guarded(call, rule.weights))
        # MACs and FLOPs per sample (passes/compute.py, conventions other than tf-profiler)
        macs = flops = None
        if not any(s is None for s in (*inputs, *outputs)):
            macs = guarded(call, rule.macs, outputs)
            if options.padding_aware and macs:
                macs = _padding_aware(call, rule, outputs, macs)
            if macs is not None:
                work = elementwise(call, rule, outputs)
                flops = None if work.forward is None else 2 * macs + work.forward
        # output bytes (passes/memory.py): the compute dtype of the layer's policy, whole batch
        policy = (None if options.dtype == "float32" else options.dtype) or node.dtype_policy
        size = dtype_bytes(policy_dtypes(policy or "float32")[1])
        output_bytes = tuple(
            None if s is None or size is None else product(s[1:]) * size * options.batch
            for s in outputs
        )
        result = _NodeResult(outputs, params, macs, flops, output_bytes)
        self._nodes[key] = result
        return result

    def _state(self, node: Node, first: str, inputs, outputs, sources, input_shape):
        """The RF state of `node` for the first model input (receptive_field.receptive_fields),
        interned: one `_RF` object per distinct state, so records can be keyed by identity."""
        if node.is_input:
            if node.name != first or input_shape is None or len(input_shape) < 3:
                return None
            axes = spatial_axes(len(input_shape), self._format(node.name))
            return self._intern(Local(axes, tuple(identity_map(input_shape[a]) for a in axes)))
        present = [(ref, r.rf) for ref, r in zip(node.inputs, sources) if r.rf is not None]
        if not present:
            return None
        shapes = ShapeResult({node.name: NodeShapes(inputs, outputs, True)}, ())
        state = _transfer(node, first, [(ref, r.state) for ref, r in present], shapes, [])
        same = next((r for _, r in present if r.state is state), None)
        return same if same is not None else self._intern(state)

    def _intern(self, state: Any) -> _RF:
        found = self._interned.get(state)
        if found is None:
            found = self._interned[state] = _summary(state)
        return found

    def _format(self, name: str) -> str:
        formats = self.__dict__.get("_formats")
        if formats is None:
            formats = self.__dict__["_formats"] = input_data_formats(self.graph)
        return formats[name]


class _Layered(dict):
    """An edited run's values over the unedited run's (the prefix both share)."""

    def __init__(self, own: dict, under: Mapping) -> None:
        super().__init__(own)
        self.under = under

    def __missing__(self, key):
        return self.under[key]

    def __contains__(self, key) -> bool:
        return super().__contains__(key) or key in self.under


def _summary(state: Any) -> _RF:
    if isinstance(state, Local):
        return _RF(
            state,
            tuple(m.size_max for m in state.maps),
            tuple(_number(m.jump) for m in state.maps),
        )
    return _RF(state, None, None)


def _node_by_node(graph: Graph, options: Options) -> bool:
    """Whether the evaluator models this graph node by node (else: full analysis per edit)."""
    if options.flops_convention == TF_PROFILER or options.device is not None:
        return False
    if len(graph.inputs) != 1:
        return False
    for node in graph.nodes:
        if rule_for(node) is None or "/" in node.name or node.shares_weights_with is not None:
            return False
        if ":" in node.name:
            return False
        # the RF transfer of a non-merge layer with several inputs depends on whether they are
        # the same object (receptive_field._transfer); the evaluator interns equal states
        if len({ref.node for ref in node.inputs}) > 1 and rule_for(node).rf != "merge":
            return False
    return True
