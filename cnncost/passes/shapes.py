"""Shape inference: every node's input and output shapes, by the registry's rules.

Keras 3 records the shape of every tensor argument in `inbound_nodes`; those recorded shapes are
a free cross-check (a disagreement is a warning) and, for a layer we do not know, the only source
of its output shape (taken from its consumers, when the input size was not overridden).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cnncost.errors import LayerError
from cnncost.ir import Graph, Node, Shape, TensorRef
from cnncost.layers import Call, rule_for
from cnncost.layers.base import fmt, guarded
from cnncost.limits import MAX_COUNT, MAX_RANK, MAX_SIZE


@dataclass(frozen=True)
class NodeShapes:
    """`None` in place of a whole shape means it could not be determined."""

    inputs: tuple[Shape | None, ...]
    outputs: tuple[Shape | None, ...]
    supported: bool
    note: str = ""


@dataclass(frozen=True)
class ShapeResult:
    nodes: Mapping[str, NodeShapes]
    warnings: tuple[str, ...]


def _recorded_outputs(graph: Graph) -> dict[tuple[str, int], Shape]:
    """Output shapes as recorded in the file, from each consumer's arguments."""
    recorded: dict[tuple[str, int], Shape] = {}
    for node in graph.nodes:
        for ref, shape in zip(node.inputs, node.recorded_input_shapes):
            if shape is not None:
                recorded.setdefault((ref.node, ref.index), shape)
    return recorded


def _output_counts(graph: Graph) -> dict[str, int]:
    """How many outputs of each node the graph uses (its consumers' and the model's outputs): an
    unsupported layer keeps every output anything refers to."""
    counts: dict[str, int] = {}
    for ref in (*(r for node in graph.nodes for r in node.inputs), *graph.outputs):
        counts[ref.node] = max(counts.get(ref.node, 1), ref.index + 1)
    return counts


def _unknown_outputs(name: str, count: int, recorded, overridden: bool) -> tuple[Shape, ...]:
    if overridden:
        return (None,) * count
    return tuple(recorded.get((name, i)) for i in range(count))


def _compatible(ours: Shape, theirs: Shape) -> bool:
    return len(ours) == len(theirs) and all(
        a is None or b is None or a == b for a, b in zip(ours, theirs)
    )


def infer_shapes(graph: Graph, input_shapes: Mapping[str, Shape] | None = None) -> ShapeResult:
    """Shapes for every node; `input_shapes` overrides model input shapes by input node name."""
    overrides = dict(input_shapes or {})
    recorded = _recorded_outputs(graph)
    output_counts = _output_counts(graph)
    results: dict[str, NodeShapes] = {}
    warnings: list[str] = []
    for node in graph.nodes:
        inputs = tuple(_output_of(results, node, ref) for ref in node.inputs)
        rule = rule_for(node)
        if node.is_input and node.name in overrides:
            _check_bounds(node, (overrides[node.name],))
            results[node.name] = NodeShapes((), (overrides[node.name],), True)
            continue
        if rule is None:
            count = output_counts.get(node.name, 1)
            outputs = _unknown_outputs(node.name, count, recorded, bool(overrides))
            _check_bounds(node, outputs)
            results[node.name] = NodeShapes(inputs, outputs, False, "unknown layer class")
            continue
        if any(shape is None for shape in inputs):
            # Downstream of a layer we could not analyse and whose shape the file does not record.
            results[node.name] = NodeShapes(inputs, (None,), True, "input shape unknown")
            continue
        outputs = guarded(Call(node, inputs), rule.output_shapes)
        _check_bounds(node, outputs)
        results[node.name] = NodeShapes(inputs, tuple(outputs), True)
        if not overrides:
            for shape, theirs in zip(inputs, node.recorded_input_shapes):
                if theirs is not None and shape and not _compatible(shape, theirs):
                    warnings.append(
                        f"{node.name}: input shape {fmt(shape)} differs from the {fmt(theirs)} "
                        "recorded in the file"
                    )
    return ShapeResult(results, tuple(warnings))


def _check_bounds(node: Node, outputs) -> None:
    """Every shape within cnncost's caps (docs/limits.md): rank <= MAX_RANK; each known size of
    a model input <= MAX_SIZE, of any other output <= MAX_COUNT. Checked on every node's
    outputs, so no rule (Dense units, Reshape targets, Flatten, tiled or upsampled sizes, ...)
    can hand the later passes or the output a size no count can hold."""
    cap, shown_cap = (
        (MAX_SIZE, f"2**31 - 1 = {MAX_SIZE}") if node.is_input else (MAX_COUNT, "2**100")
    )
    for shape in outputs:
        if shape is None:
            continue
        if len(shape) > MAX_RANK:
            raise LayerError(
                f"layer {node.name!r} ({node.class_name}): an output of rank {len(shape)}, "
                f"above cnncost's cap of {MAX_RANK} (docs/limits.md)"
            )
        for dim in shape:
            if isinstance(dim, int) and dim > cap:
                shown = dim if dim < 10**30 else f"a {len(str(dim))}-digit number"
                raise LayerError(
                    f"layer {node.name!r} ({node.class_name}): an output size of {shown}, "
                    f"above cnncost's cap of {shown_cap} (docs/limits.md)"
                )


def _output_of(results: Mapping[str, NodeShapes], node: Node, ref: TensorRef) -> Shape:
    outputs = results[ref.node].outputs
    if ref.index >= len(outputs):
        raise LayerError(
            f"layer {node.name!r} uses output {ref.index} of {ref.node!r}, which has {len(outputs)}"
        )
    return outputs[ref.index]
