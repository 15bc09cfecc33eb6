"""MultiHeadAttention: four EinsumDense projections and the two attention matmuls.

Keras 3 (`keras/src/layers/attention/multi_head_attention.py`) projects query (Tq, Dq), key
(Tk, Dk) and value (Tk, Dv) to H heads of `key_dim` (query, key) and `value_dim` (value), takes
`softmax(q k^T / sqrt(key_dim))` over the attention axes, weights the values with it and projects
the H*value_dim context back to `output_shape` (default: the query's last dimension).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.ir import Dim, Shape, Weight
from cnncost.layers.base import Call, LayerRule, is_int, product, weight


@dataclass(frozen=True)
class _Attention:
    heads: int
    key_dim: int
    value_dim: int
    output_dims: tuple[int, ...]
    query: Shape
    key: Shape
    value: Shape
    attention_axes: tuple[int, ...]  # axes of the query/key/value shapes attended over

    def length(self, shape: Shape) -> Dim:
        return product([shape[a] for a in self.attention_axes])

    @property
    def batch_like(self) -> Dim:
        """Product of the non-batch, non-feature axes that are not attended over."""
        others = [a for a in range(1, len(self.query) - 1) if a not in self.attention_axes]
        return product([self.query[a] for a in others])


def _positive(call: Call, key: str, value) -> int:
    if not is_int(value) or value <= 0:
        raise call.fail(f"{key} must be a positive integer, not {value!r}")
    return value


def _spec(call: Call) -> _Attention:
    cfg = call.config
    shapes = call.input_shapes
    if len(shapes) < 2:
        raise call.fail("needs query and value inputs")
    query, value = shapes[0], shapes[1]
    key = shapes[2] if len(shapes) > 2 else value
    heads = _positive(call, "num_heads", cfg.get("num_heads"))
    key_dim = _positive(call, "key_dim", cfg.get("key_dim"))
    value_dim = cfg.get("value_dim") or key_dim
    _positive(call, "value_dim", value_dim)
    for name, shape in (("query", query), ("key", key), ("value", value)):
        if len(shape) < 3 or not is_int(shape[-1]):
            raise call.fail(f"{name} needs rank >= 3 and a known last dimension, got {shape}")
    if len(key) != len(query) or len(value) != len(query):
        raise call.fail("query, key and value must have the same rank")
    out = cfg.get("output_shape")
    if out is None:
        output_dims = (query[-1],)
    elif is_int(out):
        output_dims = (out,)
    else:
        output_dims = tuple(_positive(call, "output_shape", d) for d in out)
    axes = cfg.get("attention_axes")
    if axes is None:
        attention_axes = tuple(range(1, len(query) - 1))
    else:
        axes = [axes] if is_int(axes) else list(axes)
        rank = len(query)
        if not all(is_int(a) and -rank <= a < rank for a in axes):
            raise call.fail(f"attention_axes {axes!r} out of range for rank {rank}")
        attention_axes = tuple(sorted(a % rank for a in axes))
    return _Attention(heads, key_dim, value_dim, output_dims, query, key, value, attention_axes)


def _shapes(call: Call) -> tuple[Shape, ...]:
    spec = _spec(call)
    return (tuple(spec.query[:-1]) + spec.output_dims,)


def _gated(call: Call) -> bool:
    return bool(call.config.get("use_gate", False))


def _weights(call: Call) -> tuple[Weight, ...]:
    spec = _spec(call)
    bias = call.config.get("use_bias", True)
    h = spec.heads
    weights: list[Weight] = []
    for name, shape, dim in (
        ("query", spec.query, spec.key_dim),
        ("key", spec.key, spec.key_dim),
        ("value", spec.value, spec.value_dim),
    ):
        weights.append(weight(f"{name}/kernel", (shape[-1], h, dim), True))
        if bias:
            weights.append(weight(f"{name}/bias", (h, dim), True))
    if _gated(call):
        # use_gate: a sigmoid EinsumDense from the query to (heads, value_dim) that multiplies
        # the attention output before the output projection.
        weights.append(weight("gate/kernel", (spec.query[-1], h, spec.value_dim), True))
        if bias:
            weights.append(weight("gate/bias", (h, spec.value_dim), True))
    weights.append(weight("attention_output/kernel", (h, spec.value_dim, *spec.output_dims), True))
    if bias:
        weights.append(weight("attention_output/bias", spec.output_dims, True))
    return tuple(weights)


def _projection_macs(call: Call, outputs) -> Dim:
    """The four EinsumDense projections (the MACs that involve weights)."""
    spec = _spec(call)
    h, kd, vd = spec.heads, spec.key_dim, spec.value_dim
    positions_q = product(spec.query[1:-1])
    positions_k = product(spec.key[1:-1])
    positions_v = product(spec.value[1:-1])
    if None in (positions_q, positions_k, positions_v):
        return None
    gate = positions_q * spec.query[-1] * h * vd if _gated(call) else 0  # gate_dense
    return (
        positions_q * spec.query[-1] * h * kd  # query_dense
        + positions_k * spec.key[-1] * h * kd  # key_dense
        + positions_v * spec.value[-1] * h * vd  # value_dense
        + positions_q * h * vd * product(spec.output_dims)  # output_dense
        + gate
    )


def _macs(call: Call, outputs) -> Dim:
    spec = _spec(call)
    h, kd, vd = spec.heads, spec.key_dim, spec.value_dim
    projections = _projection_macs(call, outputs)
    lq, lk, rest = spec.length(spec.query), spec.length(spec.key), spec.batch_like
    if None in (projections, lq, lk, rest):
        return None
    scores = rest * h * lq * lk * kd  # q . k over key_dim for every (query, key) pair
    context = rest * h * lq * lk * vd  # attention-weighted sum of values
    return projections + scores + context


def element_counts(call: Call, outputs) -> dict[str, Dim]:
    """Elementwise work of an attention call, by convention-table row."""
    spec = _spec(call)
    h, kd, vd = spec.heads, spec.key_dim, spec.value_dim
    positions_q = product(spec.query[1:-1])
    positions_k = product(spec.key[1:-1])
    scores = product([spec.batch_like, h, spec.length(spec.query), spec.length(spec.key)])
    if None in (positions_q, positions_k, scores):
        return {"bias": None}
    counts: dict[str, Dim] = {
        "scale": positions_q * h * kd,  # query * 1/sqrt(key_dim)
        "softmax": scores,
    }
    gated = positions_q * h * vd if _gated(call) else 0
    if gated:
        counts["activation:sigmoid"] = gated  # the gate's activation
        counts["multiply"] = gated  # gate * attention output
    if call.config.get("use_bias", True):
        counts["bias"] = (
            positions_q * h * kd
            + positions_k * h * kd
            + positions_k * h * vd
            + positions_q * product(spec.output_dims)
            + gated
        )
    return counts


RULES = {
    "MultiHeadAttention": LayerRule(
        _shapes,
        _weights,
        _macs,
        rf="reshape",
        cost="attention",
        element_counts=element_counts,
        weight_macs=_projection_macs,
    ),
}
