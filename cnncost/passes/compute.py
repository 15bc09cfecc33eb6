"""Multiply-accumulates per node, per sample (batch 1), from the registry's rules."""

from __future__ import annotations

from collections.abc import Mapping

from cnncost.ir import Dim, Graph
from cnncost.layers import Call, rule_for
from cnncost.layers.base import guarded
from cnncost.passes.shapes import ShapeResult


def count_macs(graph: Graph, shapes: ShapeResult) -> Mapping[str, Dim]:
    """MACs of each node for one sample; None where they cannot be determined."""
    result: dict[str, Dim] = {}
    for node in graph.nodes:
        rule = rule_for(node)
        node_shapes = shapes.nodes[node.name]
        if rule is None or any(s is None for s in (*node_shapes.inputs, *node_shapes.outputs)):
            result[node.name] = None
            continue
        result[node.name] = guarded(Call(node, node_shapes.inputs), rule.macs, node_shapes.outputs)
    return result
