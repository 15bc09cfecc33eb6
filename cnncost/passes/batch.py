"""How many times each row's per-sample work and outputs count in a batch.

The rules count a call's work and output elements per sample: axis 0 is the batch (every tensor
of a functional graph has it). A row that depends on no model input is different: it computes on
variables and stored constants only (a traced layer's `TracedWeight` / `TracedConstant` rows and
what is computed from them, such as a position embedding looked up from stored ids), once per
call whatever the batch size, and its axis 0 is an ordinary axis. Such a row counts
`shape[0]` times (the whole tensor, once), not `batch` times, unless its axis 0 is the unknown
batch size itself (`ops.tile(self.class_token, (ops.shape(x)[0], 1, 1))` makes one copy per
sample); a first axis `k * batch` (windows folded into the batch by a traced call) counts k
times per sample. Held rows output their variable or constant, which exists once: their outputs are no
activations at all (`holds_state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.ir import Graph, Node, batch_multiple, batch_symbol
from cnncost.layers import traced
from cnncost.layers.base import is_int, is_symbolic
from cnncost.passes.shapes import ShapeResult


def per_row(value: Any) -> Any:
    """A per-sample count, or None where it still holds the batch size: a tensor whose batch
    axis is not the first (`ops.transpose` of a traced qkv tensor, `(3, batch, ...)`) has no
    per-sample count along axis 0, and its value is left unknown rather than written with a
    symbol (input sizes given as symbols stay: `cnncost formula`)."""
    if is_symbolic(value) and batch_symbol() in value.free_symbols:
        return None
    return value


def holds_state(node: Node) -> bool:
    """A row that outputs a variable or a stored constant (nothing is computed or allocated)."""
    return node.registered_name in traced.RULES


def batch_factors(graph: Graph, shapes: ShapeResult, batch: int) -> Mapping[str, int]:
    """Row name -> the factor its per-sample work and activation bytes are multiplied by."""
    depends: set[str] = {ref.node for ref in graph.inputs}
    factors: dict[str, int] = {}
    mapped: dict[str, int] = {}  # rows of a mapped function -> elements per batch
    for node in graph.nodes:  # topological order
        outputs = shapes.nodes[node.name].outputs
        first = outputs[0] if outputs and outputs[0] is not None else None
        count = _elements_mapped(node, shapes, batch, mapped)
        if count is not None:
            # a row of `ops.map(f, xs)`'s function, on one element (axis 0 is no batch): the
            # whole tensor (axis 0 times a per-sample count) once per element mapped
            mapped[node.name] = count
            whole = first[0] if first and is_int(first[0]) else 1
            factors[node.name] = count * whole
            if any(ref.node in depends for ref in node.inputs):
                depends.add(node.name)
        elif first and batch_multiple(first[0]) is not None:
            # k * batch rows (a traced call that folds the batch: `cnncost.ir.batch_symbol`)
            factors[node.name] = batch_multiple(first[0]) * batch
            depends.add(node.name)
        elif node.is_input or any(ref.node in depends for ref in node.inputs):
            depends.add(node.name)
            factors[node.name] = batch
        elif holds_state(node):
            factors[node.name] = 0
        elif not first:
            factors[node.name] = 1  # a scalar (or unknown shape: nothing is counted then)
        else:
            factors[node.name] = batch if first[0] is None else int(first[0])
    return factors


def _elements_mapped(
    node: Node, shapes: ShapeResult, batch: int, mapped: Mapping[str, int]
) -> int | None:
    """How many elements a row of a mapped function runs on per batch (`traced.ELEMENT` rows
    start a map body, `traced.STACK` rows end it); None outside map bodies. A map over a
    per-sample tensor's leading axis (None: the batch; `k * batch`) runs once per sample (k
    times); over a constant's, as many times as that axis is long."""
    if node.registered_name == traced.ELEMENT:
        inputs = shapes.nodes[node.name].inputs
        length = inputs[0][0] if inputs and inputs[0] else None
        if length is None:
            return batch
        if batch_multiple(length) is not None:
            return batch_multiple(length) * batch
        return int(length) if is_int(length) else None
    if node.registered_name == traced.STACK:
        return None
    inside = [mapped[ref.node] for ref in node.inputs if ref.node in mapped]
    return max(inside) if inside else None
