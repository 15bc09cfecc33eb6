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
from cnncost.passes.receptive_field import AxisMap, Local, _number, _transfer, identity_map
from cnncost.passes.shapes import NodeShapes, ShapeResult

# -- graph edits ----------------------------------------------------------------------------------


# Edited nodes, reused across the combinations of one search so that the evaluator's memo (keyed
# by node identity) finds them again: (node, what changed) -> the new node. Keys hold the nodes.
_EDITED: dict[tuple, Node] = {}
_EDITED_LIMIT = 100_000


def _edited(key: tuple, make) -> Node:
    found = _EDITED.get(key)
    if found is None:
        if len(_EDITED) >= _EDITED_LIMIT:
            _EDITED.clear()
        found = _EDITED[key] = make()
    return found


def set_node_fields(graph: Graph, name: str, **fields: Any) -> Graph:
    """Node `name` with `fields` set in its config (what `config_edit.set_fields` does)."""
    node = graph.node(name)
    edited = _edited(
        (node, repr(sorted(fields.items()))),
        lambda: replace(node, config={**node.config, **fields}),
    )
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


def _consumers(graph: Graph) -> dict[str, set[str]]:
    """Names of the nodes reading output 0 of each node (cached on the graph object)."""
    found = graph.__dict__.get("_consumers")
    if found is None:
        found = {}
        for node in graph.nodes:
            for ref in node.inputs:
                if ref.index == 0:
                    found.setdefault(ref.node, set()).add(node.name)
        object.__setattr__(graph, "_consumers", found)
    return found


def insert_node_after(graph: Graph, name: str, layer: Mapping[str, Any]) -> Graph:
    """The layer config `layer` ({class_name, config}) called on output 0 of `name`, every other
    consumer of that output rewired to it (what `config_edit.insert_after` does to the config).
    The new node is placed right after `name` in the node order (the file order of the config)."""
    cfg = layer["config"]
    old, new = TensorRef(name, 0), TensorRef(cfg["name"], 0)
    consumers = _consumers(graph).get(name, set())
    recorded = None
    for node in graph.nodes:
        if node.name in consumers and recorded is None:
            for ref, shape in zip(node.inputs, node.recorded_input_shapes):
                if ref == old and recorded is None:
                    recorded = shape
    inserted = _edited((graph.node(name), repr(layer)), lambda: Node(
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
    ))  # fmt: skip
    nodes = []
    for node in graph.nodes:
        if node.name in consumers:
            node = _edited((node, old, new), lambda node=node: replace(
                node,
                inputs=_rewire(node.inputs, old, new),
                arguments=_rewire(node.arguments, old, new),
                keyword_arguments=_rewire(dict(node.keyword_arguments), old, new),
            ))  # fmt: skip
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
class _Block:
    """The totals of a block (see `Evaluator._block`) and its cut node's record."""

    last: _Record
    params: Any
    macs: Any
    flops: Any
    best_rf: tuple | None
    final_map: tuple | None
    final_jump: tuple | None
    levels: frozenset
    worked: frozenset


@dataclass(frozen=True)
class _Affine:
    """A block's RF transfer in closed form for given entry shapes (`Evaluator._block`)."""

    summary: _Block  # the probe's totals (shapes, params, FLOPs do not depend on the RF)
    widest: tuple | None  # the largest per-axis B - A over the nodes with a local RF
    steps: tuple  # the distinct per-axis S of those nodes (their stages)
    worked: tuple  # per-axis S of the maps the block's spatial convs read
    exit: tuple | None  # (A, B, S) of the block's last node, when its RF is local
    final: tuple | None  # (A, B, S) of the block's last node with a local RF


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


def _plus(total: Any, value: Any) -> Any:
    return None if total is None or value is None else total + value


class _Acc:
    """Running totals along a run (sums, None once a value is unknown; the largest local RF;
    the last local map; the stages seen and those a spatial conv reads)."""

    __slots__ = (
        "params", "macs", "flops", "best_rf", "final_map", "final_jump", "levels", "worked",
        "input_shape",
    )  # fmt: skip

    @classmethod
    def start(cls, step: _Step) -> _Acc:
        acc = cls()
        acc.params, acc.macs, acc.flops = step.params, step.macs, step.flops
        acc.best_rf, acc.final_map, acc.final_jump = step.best_rf, step.final_map, step.final_jump
        acc.levels, acc.worked = set(step.levels), set(step.worked)
        acc.input_shape = None
        return acc

    def add(self, record: _Record, source_jump: tuple | None) -> None:
        self.params = _plus(self.params, record.params)
        self.macs = _plus(self.macs, record.macs)
        self.flops = _plus(self.flops, record.flops)
        if source_jump is not None:
            self.worked.add(source_jump)
        if record.size is not None:
            if self.best_rf is None or record.size > self.best_rf:
                self.best_rf = record.size
            if record.spatial_out is not None:
                self.final_map = record.spatial_out
            self.final_jump = record.jump
            self.levels.add(record.jump)

    def absorb(self, block: _Block) -> None:
        self.params = _plus(self.params, block.params)
        self.macs = _plus(self.macs, block.macs)
        self.flops = _plus(self.flops, block.flops)
        if block.best_rf is not None and (self.best_rf is None or block.best_rf > self.best_rf):
            self.best_rf = block.best_rf
        if block.final_map is not None:
            self.final_map = block.final_map
        if block.final_jump is not None:
            self.final_jump = block.final_jump
        self.levels |= block.levels
        self.worked |= block.worked

    def step(self, frozen: bool) -> _Step:
        levels = frozenset(self.levels) if frozen else self.levels
        worked = frozenset(self.worked) if frozen else self.worked
        return _Step(
            self.params, self.macs, self.flops, self.best_rf, self.final_map, self.final_jump,
            levels, worked,
        )  # fmt: skip


def _cut_nodes(graph: Graph) -> frozenset[str]:
    """Names of the nodes after which no later node reads an earlier one (block boundaries: a
    ResNet block's output, every layer of a chain; the last node). Node i is one when every
    node before it is last read at or before i (a model output is read "at the end")."""
    end = len(graph.nodes)
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for ref in node.inputs:
            last_use[ref.node] = max(last_use.get(ref.node, -1), i)
    for ref in graph.outputs:
        last_use[ref.node] = end
    cuts = set()
    reach = -1  # the latest position at which a node before i is read
    for i, node in enumerate(graph.nodes):
        if reach <= i:
            cuts.add(node.name)
        reach = max(reach, last_use.get(node.name, -1))
    return frozenset(cuts)


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
        self._blocks: dict[tuple, _Block] = {}
        self._affine: dict[tuple, Any] = {}
        self.cuts = _cut_nodes(graph)
        self._cuts = self.cuts if self.incremental else frozenset()
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
            run = self._run(graph.nodes, overrides, base, start, blocks=not peak)
        return self._metrics(graph, run, peak)

    def _run(self, nodes, overrides, base: _Run | None, start: int, blocks: bool = False) -> _Run:
        """Records from node `start` on (those before are `base`'s). `blocks`: after the first
        cut node, evaluate whole blocks (the nodes up to the next cut) from the block memo; only
        the totals and the cut nodes' records are then kept (enough for all metrics but the
        peak memory)."""
        records: dict[str, _Record] = {}
        steps: list[_Step] = []
        acc = _Acc.start(_START if start == 0 else base.steps[start - 1])
        acc.input_shape = None if base is None else base.input_shape
        old = {} if base is None else base.results
        first = self.graph.inputs[0].node
        cuts = self._cuts
        get = records.get

        def lookup(name):
            return get(name) or old[name]

        count = len(nodes)
        index = start
        carry = None  # the last cut's exit map in closed form: (name, template, lows, highs, advs)
        while index < count:
            node = nodes[index]
            if blocks and index > start and nodes[index - 1].name in cuts:
                end = index
                while end < count - 1 and nodes[end].name not in cuts:
                    end += 1
                previous, block = nodes[index - 1].name, nodes[index : end + 1]
                form, numbers = False, None
                if carry is not None:
                    form = self._affine_form(block, previous, carry[1], first, acc.input_shape)
                    numbers = carry[2:]
                    if form is False:
                        records[carry[0]] = self._materialise(carry)
                    carry = None
                if form is False:
                    entry = lookup(previous)
                    state = None if entry.rf is None else entry.rf.state
                    if isinstance(state, Local) and all(
                        m.period == 1 and not m.shift for m in state.maps
                    ):
                        form = self._affine_form(block, previous, entry, first, acc.input_shape)
                        numbers = (
                            [m.low[0] for m in state.maps],
                            [m.high[0] for m in state.maps],
                            [m.advance for m in state.maps],
                        )
                if form is not False:
                    summary, carry = self._compose(form, *numbers, nodes[end].name)
                    if carry is None:
                        records[nodes[end].name] = summary.last
                else:
                    summary = self._block(block, previous, lookup(previous), first, acc.input_shape)
                    records[nodes[end].name] = summary.last
                acc.absorb(summary)
                index = end + 1
                continue
            if carry is not None:
                records[carry[0]] = self._materialise(carry)
                carry = None
            record = self._visit(node, lookup, overrides, first, acc)
            records[node.name] = record
            if base is None:
                steps.append(acc.step(frozen=True))
            index += 1
        if base is not None:  # an edited graph: its last step is all the metrics need
            steps = [acc.step(frozen=False)]
            records = _Layered(records, old)
        return _Run(tuple(nodes), records, {}, steps, acc.input_shape)

    def _visit(self, node: Node, lookup, overrides, first: str, acc: _Acc) -> _Record:
        """One node's record (memoised on the node, its input shapes and input RF states),
        added to the running totals `acc`."""
        info = self._static.get(node) or self._static_info(node)
        sources = [lookup(name) for name, _ in info.refs]
        inputs = tuple(r.outputs[i] for r, (_, i) in zip(sources, info.refs))
        override = overrides.get(node.name) if info.is_input else None
        key = (node, inputs, tuple(id(r.rf) for r in sources), override)
        record = self._records.get(key)
        if record is None:
            record = self._record(node, inputs, sources, override, first, acc.input_shape)
            self._records[key] = record
        if node.name == first:
            acc.input_shape = record.outputs[0]
        acc.add(record, sources[0].jump if info.spatial and sources else None)
        return record

    def _block(self, block, previous: str, entry: _Record, first: str, input_shape) -> _Block:
        """The totals of a block of nodes fed by the cut node `previous` (record `entry`), node
        by node, memoised on the block's nodes and the entry's shapes and RF state."""
        key = (tuple(block), entry.outputs, id(entry.rf))
        found = self._blocks.get(key)
        if found is None:
            found = self._blocks[key] = self._walk(block, previous, entry, first, input_shape)[0]
        return found

    def _affine_form(self, block, previous: str, entry: _Record, first: str, input_shape):
        """The block's RF transfer in closed form for these entry shapes, or False.

        Along period-1 maps every RF transfer is affine in the entry map, per axis
        `low' = low + A*adv`, `high' = high + B*adv`, `adv' = S*adv` (a window adds its
        padding/extent times the advance; a merge takes the min/max of such terms, all with the
        one entry advance). So a block is probed once per entry shapes with the unit map
        (low = high = 0, adv = 1), which gives each node's (A, B, S); any entry map is then
        composed through the whole block in O(1) per distinct term (`_compose`)."""
        key = (tuple(block), entry.outputs, entry.rf.state.axes)
        form = self._affine.get(key)
        if form is None:
            form = self._affine[key] = self._probe(block, previous, entry, first, input_shape)
        return form

    def _walk(self, block, previous, entry, first, input_shape):
        records = {previous: entry}
        acc = _Acc.start(_START)
        acc.input_shape = input_shape  # the model input's (its rank tells spatial outputs)
        for node in block:
            records[node.name] = self._visit(node, records.__getitem__, {}, first, acc)
        found = _Block(
            records[block[-1].name], acc.params, acc.macs, acc.flops, acc.best_rf,
            acc.final_map, acc.final_jump, frozenset(acc.levels), frozenset(acc.worked),
        )  # fmt: skip
        return found, records, acc

    def _probe(self, block, previous, entry, first, input_shape):
        """The affine form of a block for these entry shapes, or False (see `_block`)."""
        unit = Local(
            entry.rf.state.axes, tuple(AxisMap(1, 1, (0,), (0,)) for _ in entry.rf.state.maps)
        )
        probe = replace(entry, rf=self._intern(unit), size=None, jump=None)
        summary, records, acc = self._walk(block, previous, probe, first, input_shape)
        terms = []  # (A, B, S) per axis of each node with a local RF, in order
        for node in block:
            rf = records[node.name].rf
            if rf is None or not isinstance(rf.state, Local):
                continue
            if any(m.period != 1 or m.shift or m.low[0] is None for m in rf.state.maps):
                return False
            terms.append(tuple((m.low[0], m.high[0], m.advance) for m in rf.state.maps))
        worked = []  # the S of the inputs the block's spatial convs read
        for node in block:
            if self._static_info(node).spatial and node.inputs:
                source = records[node.inputs[0].node].rf
                if source is not None and isinstance(source.state, Local):
                    worked.append(tuple(m.advance for m in source.state.maps))
        last = records[block[-1].name]
        exit_terms = None
        if last.rf is not None and isinstance(last.rf.state, Local):
            exit_terms = terms[-1]
        final = terms[-1] if terms else None
        # size = (high - low + 1) + (B - A) * adv per axis: the lexicographic largest size is the
        # one with the lexicographic largest (B - A), whatever the entry map
        widest = max((tuple(b - a for a, b, _ in t) for t in terms), default=None)
        steps = tuple({tuple(s for _, _, s in t) for t in terms})
        return _Affine(summary, widest, steps, tuple(set(worked)), exit_terms, final)

    def _compose(self, form: _Affine, lows, highs, advances, name: str):
        """The block's totals for an entry map (lows, highs, advances per axis) and the exit
        map in the same numbers (None when the block's last node has no local RF)."""
        best = None
        if form.widest is not None:
            best = tuple(
                h - lo + 1 + d * adv for d, lo, h, adv in zip(form.widest, lows, highs, advances)
            )
        levels = {tuple(s * adv for s, adv in zip(step, advances)) for step in form.steps}
        worked = {tuple(s * adv for s, adv in zip(w, advances)) for w in form.worked}
        summary = form.summary
        final_jump = summary.final_jump
        if form.final is not None:
            final_jump = tuple(s * adv for (_, _, s), adv in zip(form.final, advances))
        carry = None
        if form.exit is not None:
            carry = (
                name,
                summary.last,
                [lo + a * adv for (a, _, _), lo, adv in zip(form.exit, lows, advances)],
                [h + b * adv for (_, b, _), h, adv in zip(form.exit, highs, advances)],
                [s * adv for (_, _, s), adv in zip(form.exit, advances)],
            )
        block = _Block(
            summary.last, summary.params, summary.macs, summary.flops, best, summary.final_map,
            final_jump, levels, worked,
        )  # fmt: skip
        return block, carry

    def _materialise(self, carry) -> _Record:
        """The cut node's record from its exit map in closed form."""
        _, template, lows, highs, advances = carry
        state = replace(
            template.rf.state,
            maps=tuple(AxisMap(1, adv, (lo,), (h,)) for lo, h, adv in zip(lows, highs, advances)),
        )
        rf = self._intern(state)
        return replace(template, rf=rf, size=rf.size, jump=rf.jump)

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
