"""Memory: weight bytes, activation bytes per output, peak live activations, a training estimate.

- A layer's dtype policy names its variable dtype and its compute dtype: `mixed_float16` and
  `mixed_bfloat16` keep float32 variables and compute (so produce outputs) in 16 bits; a plain
  dtype (`float32`, `bfloat16`, ...) is both.
- `activation_bytes`: elements of every output tensor times the compute dtype's size, per sample.
- `peak_activation_bytes`: tensors are allocated when their node runs (in the graph's topological
  order) and freed after their last consumer ran; model outputs live to the end. The peak is the
  largest sum of live tensors while a node runs (its inputs and its outputs both live). Layers
  that could alias their input (Reshape, Flatten, Dropout at inference) are counted as copies.
- Training: every output is kept for the backward pass, plus one gradient per trainable weight
  and Adam's two slots per trainable weight, in the variable dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cnncost.ir import Dim, Graph, Node, Shape, batch_multiple, known_sum, partial_sum
from cnncost.layers import is_keras_class
from cnncost.layers.base import product
from cnncost.passes.batch import per_row
from cnncost.passes.params import NodeParams
from cnncost.passes.shapes import ShapeResult

ADAM_SLOTS = 2  # first and second moment per weight

_BYTES = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint8": 1,
    "uint16": 2,
    "uint32": 4,
    "bool": 1,
}


# the dtype policies a user may name for the whole model (`--dtype`): every plain dtype with a
# known size, and Keras's two mixed policies (float32 variables, 16-bit compute)
POLICIES = (*_BYTES, "mixed_float16", "mixed_bfloat16")


def policy_dtypes(policy: str) -> tuple[str, str]:
    """(variable dtype, compute dtype) of a Keras dtype policy name."""
    if policy.startswith("mixed_"):
        return "float32", policy[len("mixed_") :]
    return policy, policy


def dtype_bytes(dtype: str) -> int | None:
    return _BYTES.get(dtype)


@dataclass(frozen=True)
class NodeMemory:
    weight_bytes: Dim
    activation_bytes: Dim  # all outputs of the node, for the whole batch
    output_bytes: tuple[Dim, ...]


@dataclass(frozen=True)
class MemoryResult:
    """Whole-model totals are sums over the rows whose bytes are known; `left_out` names, per
    total, the rows it could not count (the total is then a lower bound)."""

    nodes: Mapping[str, NodeMemory]
    weight_bytes: Dim
    activation_bytes: Dim
    peak_activation_bytes: Dim
    gradient_bytes: Dim
    optimizer_bytes: Dim
    train_bytes: Dim
    warnings: tuple[str, ...]
    left_out: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _integer_input(node: Node) -> bool:
    """An input of an integer or bool dtype (`keras.Input(shape, dtype="uint8")`: images sent as
    bytes and scaled in the model): a dtype policy (`--dtype`) sets float variables and compute
    only, so in Keras such an input keeps its own dtype whatever the policy, and so here."""
    return node.class_name == "InputLayer" and (node.dtype_policy or "").startswith(
        ("int", "uint", "bool")
    )


def _elements(node: Node, shape: Shape, shapes: ShapeResult) -> Dim:
    """Elements per sample of one output: all axes after the first (the batch). Where another
    axis holds the batch (a traced attention's `(3, 16*batch, ...)`), the whole count over the
    batch; a transpose that moves an unknown batch (`(3, None, ...)`) holds as many elements as
    its input."""
    size = per_row(product(shape[1:]))
    if size is None:  # the batch axis is not the first: `(3, 16*batch, ...)` after a transpose
        size = batch_multiple(product(shape))
    if size is None and node.class_name == "Transpose" and is_keras_class(node) and node.inputs:
        ref = node.inputs[0]
        source = shapes.nodes[ref.node].outputs[ref.index]
        size = None if source is None else per_row(product(source[1:]))
    return size


def count_memory(
    graph: Graph,
    shapes: ShapeResult,
    params: Mapping[str, NodeParams],
    batch: int = 1,
    dtype_override: str | None = None,
    factors: Mapping[str, int] | None = None,
) -> MemoryResult:
    """`factors`: per row, how many times its per-sample outputs count (`passes.batch`);
    `batch` for every row when not given."""
    nodes: dict[str, NodeMemory] = {}
    gradients: dict[str, Dim] = {}
    warnings: list[str] = []
    for node in graph.nodes:
        policy = node.dtype_policy or "float32"
        if dtype_override and not _integer_input(node):
            policy = dtype_override
        variable_dtype, compute_dtype = policy_dtypes(policy)
        variable_size, compute_size = dtype_bytes(variable_dtype), dtype_bytes(compute_dtype)
        if variable_size is None or compute_size is None:
            warnings.append(f"{node.name}: unknown dtype policy {policy!r}; its bytes unknown")
        node_params = params[node.name]
        known = node_params.known and variable_size is not None
        weights = node_params.total * variable_size if known else None
        gradients[node.name] = node_params.trainable * variable_size if known else None
        outputs = []
        for shape in shapes.nodes[node.name].outputs:
            size = None if shape is None or compute_size is None else _elements(node, shape, shapes)
            times = batch if factors is None else factors[node.name]
            outputs.append(None if size is None else size * compute_size * times)
        nodes[node.name] = NodeMemory(weights, known_sum(outputs), tuple(outputs))
    weight_bytes, weights_left_out = partial_sum((n, m.weight_bytes) for n, m in nodes.items())
    activation_bytes, activations_left_out = partial_sum(
        (n, m.activation_bytes) for n, m in nodes.items()
    )
    gradient_bytes, gradients_left_out = partial_sum(gradients.items())
    optimizer_bytes = ADAM_SLOTS * gradient_bytes
    train_bytes = weight_bytes + gradient_bytes + optimizer_bytes + activation_bytes
    peak = peak_live_bytes(graph, nodes)
    left_out = {
        "weight_bytes": weights_left_out,
        "activation_bytes": activations_left_out,
        "peak_activation_bytes": activations_left_out if peak is not None else (),
        "gradient_bytes": gradients_left_out,
        "optimizer_bytes": gradients_left_out,
        "train_bytes": tuple(
            dict.fromkeys(weights_left_out + gradients_left_out + activations_left_out)
        ),
    }
    return MemoryResult(
        nodes,
        weight_bytes,
        activation_bytes,
        peak,
        gradient_bytes,
        optimizer_bytes,
        train_bytes,
        tuple(warnings),
        {key: names for key, names in left_out.items() if names},
    )


def peak_live_bytes(graph: Graph, nodes: Mapping[str, NodeMemory]) -> Dim:
    """Largest sum of live tensors over the graph's topological order."""
    order = {node.name: i for i, node in enumerate(graph.nodes)}
    end = len(graph.nodes)
    last_use: dict[tuple[str, int], int] = {}
    for node in graph.nodes:
        for ref in node.inputs:
            key = (ref.node, ref.index)
            last_use[key] = max(last_use.get(key, -1), order[node.name])
    for ref in graph.outputs:
        last_use[(ref.node, ref.index)] = end
    live: dict[tuple[str, int], Dim] = {}
    peak: Dim = 0
    for step, node in enumerate(graph.nodes):
        for index, size in enumerate(nodes[node.name].output_bytes):
            live[(node.name, index)] = size
        # an unknown size counts 0: the peak is then a lower bound (the caller says which rows)
        current = sum(size for size in live.values() if size is not None)
        if not isinstance(current, int):
            return None  # symbolic: no single peak
        peak = max(peak, current)
        for key in [k for k in live if last_use.get(k, step) <= step]:
            del live[key]
    return peak
