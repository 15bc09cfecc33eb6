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
from cnncost.layers.base import is_symbolic
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
    for node in graph.nodes:  # topological order
        outputs = shapes.nodes[node.name].outputs
        first = outputs[0] if outputs and outputs[0] is not None else None
        if first and batch_multiple(first[0]) is not None:
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
