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


def _query_key_value(call: Call) -> tuple[Shape, Shape, Shape]:
    """The call's (query, value[, key]) inputs as (query, key, value); key defaults to value."""
    shapes = call.input_shapes
    if len(shapes) < 2:
        raise call.fail("needs query and value inputs")
    query, value = shapes[0], shapes[1]
    return query, shapes[2] if len(shapes) > 2 else value, value


def _spec(call: Call) -> _Attention:
    cfg = call.config
    query, key, value = _query_key_value(call)
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


# -- Attention (Luong) and AdditiveAttention (Bahdanau) ----------------------------------------------
# keras/src/layers/attention/attention.py: inputs [query (B, Tq, dim), value (B, Tv, dv),
# key (B, Tv, dim) = value by default]; scores (B, Tq, Tv), softmax over Tv, output
# scores @ value: (B, Tq, dv). `return_attention_scores=True` adds the scores as an output.


def _luong_dims(call: Call) -> tuple[Dim, Dim, int, int]:
    query, key, value = _query_key_value(call)
    for name, shape in (("query", query), ("value", value), ("key", key)):
        if len(shape) != 3 or not is_int(shape[-1]):
            raise call.fail(f"{name} must be (batch, steps, features) with known features")
    if query[-1] != key[-1]:
        raise call.fail(f"query and key features differ: {query[-1]} and {key[-1]}")
    return query[1], value[1], query[-1], value[-1]


def _scores_output(call: Call) -> bool:
    return bool(call.node.keyword_arguments.get("return_attention_scores"))


def _luong_shapes(call: Call) -> tuple[Shape, ...]:
    tq, tv, _, dv = _luong_dims(call)
    query = call.input_shapes[0]
    out = (query[0], tq, dv)
    return (out, (query[0], tq, tv)) if _scores_output(call) else (out,)


def _luong_weights(call: Call) -> tuple[Weight, ...]:
    # use_scale: a scalar `scale`; score_mode="concat": a scalar `concat_score_weight`
    weights = []
    if call.config.get("use_scale", False):
        weights.append(weight("scale", (), True))
    if call.config.get("score_mode", "dot") == "concat":
        weights.append(weight("concat_score_weight", (), True))
    return tuple(weights)


def _luong_macs(call: Call, outputs) -> Dim:
    # dot: q . k per score (Tq*Tv*dim); concat: the scores are elementwise. Then weights @ value.
    tq, tv, dim, dv = _luong_dims(call)
    scores = product([tq, tv])
    if scores is None:
        return None
    dot = scores * dim if call.config.get("score_mode", "dot") == "dot" else 0
    return dot + scores * dv


def _luong_counts(call: Call, outputs) -> dict[str, Dim]:
    tq, tv, dim, _ = _luong_dims(call)
    scores = product([tq, tv])
    if scores is None:
        return {"attention scores (input size unknown)": None}
    scaled = call.config.get("use_scale", False)
    counts: dict[str, Dim] = {"softmax": scores}
    if call.config.get("score_mode", "dot") == "dot":
        if scaled:
            counts["scale"] = scores  # scores * scale
        return counts
    # concat: w * sum(tanh(scale * (q + k)), axis=-1): add, (scale), tanh, dim-1 adds, w *
    counts["pointwise_add"] = scores * dim + scores * (dim - 1)
    counts["activation:tanh"] = scores * dim
    counts["scale"] = scores * dim * scaled + scores
    return counts


def _additive_weights(call: Call) -> tuple[Weight, ...]:
    # use_scale (default True): `scale` of shape (dim,)
    _, _, dim, _ = _luong_dims(call)
    return (weight("scale", (dim,), True),) if call.config.get("use_scale", True) else ()


def _additive_weight_macs(call: Call, outputs) -> Dim:
    # sum(scale * tanh(q + k), axis=-1) is a dot with `scale`: Tq*Tv*dim MACs (use_scale)
    tq, tv, dim, _ = _luong_dims(call)
    scores = product([tq, tv])
    if scores is None:
        return None
    return scores * dim if call.config.get("use_scale", True) else 0


def _additive_macs(call: Call, outputs) -> Dim:
    tq, tv, _, dv = _luong_dims(call)
    scores = product([tq, tv])
    weighted = _additive_weight_macs(call, outputs)
    return None if scores is None or weighted is None else weighted + scores * dv


def _additive_counts(call: Call, outputs) -> dict[str, Dim]:
    tq, tv, dim, _ = _luong_dims(call)
    scores = product([tq, tv])
    if scores is None:
        return {"attention scores (input size unknown)": None}
    adds = scores * dim  # q + k
    if not call.config.get("use_scale", True):
        adds += scores * (dim - 1)  # the plain sum over dim (with a scale it is in the MACs)
    return {"pointwise_add": adds, "activation:tanh": scores * dim, "softmax": scores}


# -- GroupedQueryAttention --------------------------------------------------------------------------
# keras/src/layers/attention/grouped_query_attention.py: query (B, Tq, m) -> u query heads,
# key/value (B, Tk, m_k / m_v) -> v key-value heads (repeated u/v times), head_dim h; output
# projected back to m (the query's features).


@dataclass(frozen=True)
class _Grouped:
    heads: int
    kv_heads: int
    head_dim: int
    query: Shape
    key: Shape
    value: Shape


def _grouped(call: Call) -> _Grouped:
    cfg = call.config
    query, key, value = _query_key_value(call)
    heads = _positive(call, "num_query_heads", cfg.get("num_query_heads"))
    kv_heads = _positive(call, "num_key_value_heads", cfg.get("num_key_value_heads"))
    head_dim = _positive(call, "head_dim", cfg.get("head_dim"))
    if heads % kv_heads:
        raise call.fail(f"num_query_heads {heads} is not a multiple of {kv_heads}")
    for name, shape in (("query", query), ("key", key), ("value", value)):
        if len(shape) != 3 or not is_int(shape[-1]):
            raise call.fail(f"{name} must be (batch, steps, features) with known features")
    return _Grouped(heads, kv_heads, head_dim, query, key, value)


def _grouped_shapes(call: Call) -> tuple[Shape, ...]:
    spec = _grouped(call)
    out = spec.query
    if _scores_output(call):
        return (out, (out[0], spec.heads, spec.query[1], spec.key[1]))
    return (out,)


def _grouped_weights(call: Call) -> tuple[Weight, ...]:
    spec = _grouped(call)
    bias = call.config.get("use_bias", True)
    u, v, h, m = spec.heads, spec.kv_heads, spec.head_dim, spec.query[-1]
    weights: list[Weight] = []
    projections = [("query", m, u), ("key", spec.key[-1], v), ("value", spec.value[-1], v)]
    if call.config.get("use_gate", False):
        projections.append(("gate", m, u))  # a sigmoid EinsumDense on the query
    for name, features, n in projections:
        weights.append(weight(f"{name}/kernel", (features, n, h), True))
        if bias:
            weights.append(weight(f"{name}/bias", (n, h), True))
    weights.append(weight("attention_output/kernel", (u, h, m), True))
    if bias:
        weights.append(weight("attention_output/bias", (m,), True))
    return tuple(weights)


def _grouped_projection_macs(call: Call, outputs) -> Dim:
    spec = _grouped(call)
    u, v, h, m = spec.heads, spec.kv_heads, spec.head_dim, spec.query[-1]
    tq, tk = spec.query[1], spec.key[1]
    if None in (tq, tk):
        return None
    gate = tq * m * u * h if call.config.get("use_gate", False) else 0
    return (
        tq * m * u * h  # query
        + tk * spec.key[-1] * v * h  # key
        + tk * spec.value[-1] * v * h  # value
        + tq * u * h * m  # output
        + gate
    )


def _grouped_macs(call: Call, outputs) -> Dim:
    spec = _grouped(call)
    projections = _grouped_projection_macs(call, outputs)
    if projections is None:
        return None
    # scores "bquh,bkuh->buqk" and context "buqk,bkuh->bquh" on the repeated heads
    return projections + 2 * spec.heads * spec.query[1] * spec.key[1] * spec.head_dim


def _grouped_counts(call: Call, outputs) -> dict[str, Dim]:
    spec = _grouped(call)
    u, v, h, m = spec.heads, spec.kv_heads, spec.head_dim, spec.query[-1]
    tq, tk = spec.query[1], spec.key[1]
    if None in (tq, tk):
        return {"attention scores (input size unknown)": None}
    scores = u * tq * tk
    # dropout > 0 scales the query (Tq*u*h); otherwise ops.dot_product_attention scales scores
    scale = tq * u * h if call.config.get("dropout", 0.0) else scores
    counts: dict[str, Dim] = {"scale": scale, "softmax": scores}
    gated = tq * u * h if call.config.get("use_gate", False) else 0
    if gated:
        counts["activation:sigmoid"] = gated
        counts["pointwise_multiply"] = gated
    if call.config.get("use_bias", True):
        counts["bias"] = tq * u * h + 2 * tk * v * h + tq * m + gated
    return counts


RULES.update(
    {
        "Attention": LayerRule(
            _luong_shapes,
            _luong_weights,
            _luong_macs,
            rf="reshape",
            element_counts=_luong_counts,
            cost="attention",  # the roofline's matmul kind; FLOPs from element_counts
            weight_macs=lambda c, o: 0,
        ),
        "AdditiveAttention": LayerRule(
            _luong_shapes,
            _additive_weights,
            _additive_macs,
            rf="reshape",
            element_counts=_additive_counts,
            cost="attention",  # the roofline's matmul kind; FLOPs from element_counts
            weight_macs=_additive_weight_macs,
        ),
        # the class GroupedQueryAttention, exported and serialized as GroupQueryAttention
        "GroupQueryAttention": LayerRule(
            _grouped_shapes,
            _grouped_weights,
            _grouped_macs,
            rf="reshape",
            cost="attention",
            element_counts=_grouped_counts,
            weight_macs=_grouped_projection_macs,
        ),
    }
)
