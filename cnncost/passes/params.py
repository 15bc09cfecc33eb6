"""Parameters per node, split as Keras splits them (trainable / non-trainable).

Calls of a shared layer after the first own no weights (they reuse the first call's).
A frozen layer (`trainable: false` on it or an enclosing model) has only non-trainable weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cnncost.ir import Graph, Node, Weight
from cnncost.layers import Call, registry_key, rule_for
from cnncost.layers.base import guarded, numel
from cnncost.passes.shapes import ShapeResult


@dataclass(frozen=True)
class NodeParams:
    weights: tuple[Weight, ...]
    trainable: int
    non_trainable: int
    known: bool = True

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


NO_PARAMS = NodeParams((), 0, 0)
UNKNOWN_PARAMS = NodeParams((), 0, 0, known=False)


# Classes that can own no weights whatever they compute: a Lambda's function and a Keras 2
# TFOpLambda's TensorFlow call create no tracked variables (Keras counts 0 for them).
WEIGHTLESS_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda"})


def owns_no_weights(node: Node) -> bool:
    """A keras.ops operation or a function wrapper: 0 params even without a rule for its cost."""
    return node.class_name in WEIGHTLESS_CLASSES or registry_key(node).startswith("ops.")


def count_params(graph: Graph, shapes: ShapeResult) -> Mapping[str, NodeParams]:
    result: dict[str, NodeParams] = {}
    for node in graph.nodes:
        rule = rule_for(node)
        node_shapes = shapes.nodes[node.name]
        if node.shares_weights_with is not None:
            result[node.name] = NO_PARAMS
            continue
        if rule is None and owns_no_weights(node):
            result[node.name] = NO_PARAMS
            continue
        if rule is None and node.recorded_weights is not None:
            result[node.name] = _from_weights(node.recorded_weights, node.trainable)
            continue
        if rule is None or any(shape is None for shape in node_shapes.inputs):
            result[node.name] = UNKNOWN_PARAMS
            continue
        weights = tuple(guarded(Call(node, node_shapes.inputs), rule.weights))
        result[node.name] = _from_weights(weights, node.trainable)
    return result


def _from_weights(weights: tuple[Weight, ...], layer_trainable: bool) -> NodeParams:
    trainable = sum(numel(w.shape) for w in weights if w.trainable and layer_trainable)
    total = sum(numel(w.shape) for w in weights)
    return NodeParams(weights, trainable, total - trainable)
