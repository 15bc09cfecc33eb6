"""Recurrent layers (SimpleRNN, GRU, LSTM, RNN over cells, ConvLSTM1/2/3D), their cells, and the
wrappers Bidirectional, TimeDistributed and SpectralNormalization.

Per time step a cell multiplies its input by `kernel` and its state by `recurrent_kernel`
(G gates: SimpleRNN 1, GRU 3, LSTM 4), so MACs per sample are
`T * (F * G*units + units * G*units)` for an input (T, F); a ConvLSTM does the same with two
convolutions (`P * k * C_in * 4f + P * k * f * 4f` per step, P output positions; the recurrent
conv is "same", stride 1). The elementwise work per unit and step (gate sums, state updates)
is a convention-table row (`lstm_cell`, `gru_cell`, `simple_rnn_cell`), the activations and
the bias their own rows. Weights are the ones Keras creates (`keras/src/layers/rnn/*.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cnncost.ir import Dim, Node, Shape, Weight
from cnncost.layers.activation import activation_name
from cnncost.layers.base import (
    Call,
    LayerRule,
    Window,
    channel_axis,
    data_format,
    expect_rank,
    is_int,
    is_size,
    product,
    weight,
)
from cnncost.layers.conv import _conv_shape, _geometry

_GATES = {"SimpleRNNCell": 1, "GRUCell": 3, "LSTMCell": 4}
_LAYER_CELL = {"SimpleRNN": "SimpleRNNCell", "GRU": "GRUCell", "LSTM": "LSTMCell"}
_STATES = {"SimpleRNNCell": 1, "GRUCell": 1, "LSTMCell": 2}


@dataclass(frozen=True)
class _Cell:
    """One recurrent cell: its class (a key of `_GATES`) and config."""

    kind: str
    config: Mapping

    def units(self, call: Call) -> int:
        units = self.config.get("units")
        if not is_int(units) or units <= 0:
            raise call.fail(f"units must be a positive integer, not {units!r}")
        return units

    def weights(self, call: Call, features: Dim, prefix: str = "") -> tuple[Weight, ...]:
        u, g = self.units(call), _GATES[self.kind]
        weights = [
            weight(f"{prefix}kernel", (features, g * u), True),
            weight(f"{prefix}recurrent_kernel", (u, g * u), True),
        ]
        if self.config.get("use_bias", True):
            two = self.kind == "GRUCell" and self.config.get("reset_after", True)
            # GRU with reset_after (the default) keeps an input and a recurrent bias: (2, 3u)
            weights.append(weight(f"{prefix}bias", (2, g * u) if two else (g * u,), True))
        return tuple(weights)

    def step_macs(self, call: Call, features: Dim) -> Dim:
        u, g = self.units(call), _GATES[self.kind]
        return None if not is_size(features) else features * g * u + u * g * u

    def step_counts(self, call: Call) -> dict[str, int]:
        """Elementwise work of one step, by table row (elements = units times a factor)."""
        u = self.units(call)
        activation = f"activation:{activation_name(self.config.get('activation', 'tanh'))}"
        recurrent = (
            f"activation:{activation_name(self.config.get('recurrent_activation', 'sigmoid'))}"
        )
        counts: dict[str, int] = {}

        def add(key: str, n: int) -> None:
            counts[key] = counts.get(key, 0) + n

        if self.kind == "LSTMCell":
            add("lstm_cell", u)
            add(recurrent, 3 * u)  # input, forget, output gates
            add(activation, 2 * u)  # candidate and act(c)
        elif self.kind == "GRUCell":
            add("gru_cell", u)
            add(recurrent, 2 * u)  # update and reset gates
            add(activation, u)  # candidate
        else:
            add("simple_rnn_cell", u)
            add(activation, u)
        if self.config.get("use_bias", True):
            two = self.kind == "GRUCell" and self.config.get("reset_after", True)
            add("bias", (2 if two else 1) * _GATES[self.kind] * u)
        return counts

    def state_shapes(self, call: Call, batch: Dim) -> tuple[Shape, ...]:
        return ((batch, self.units(call)),) * _STATES[self.kind]


def _cells(call: Call, spec: Mapping) -> list[_Cell]:
    """The cells of an RNN layer's `cell` config (one cell, or StackedRNNCells, or a list)."""
    if isinstance(spec, list):
        return [c for item in spec for c in _cells(call, item)]
    if not isinstance(spec, Mapping):
        raise call.fail(f"malformed cell {spec!r}")
    name, config = spec.get("class_name"), spec.get("config") or {}
    if name == "StackedRNNCells":
        return _cells(call, config.get("cells") or [])
    if name not in _GATES:
        raise call.fail(f"cell class {name!r} is not modelled (only SimpleRNN/GRU/LSTM cells)")
    return [_Cell(name, config)]


def _layer_cells(call: Call) -> list[_Cell]:
    name = call.node.class_name
    if name in _LAYER_CELL:
        return [_Cell(_LAYER_CELL[name], call.config)]
    if name in _GATES:
        return [_Cell(name, call.config)]
    cells = _cells(call, call.config.get("cell"))
    if not cells:
        raise call.fail("has no cell")
    return cells


def _sequence(call: Call) -> tuple[Dim, Dim, Dim]:
    """(batch, time steps, features) of a recurrent layer's (B, T, F) input."""
    shape = expect_rank(call, 3)
    if not is_size(shape[-1]):
        raise call.fail("the feature dimension of the input must be known")
    return shape[0], shape[1], shape[-1]


def _chain(call: Call, features: Dim):
    """(cell, its input features) through a stack of cells."""
    result = []
    for cell in _layer_cells(call):
        result.append((cell, features))
        features = cell.units(call)
    return result


def _rnn_shapes(call: Call) -> tuple[Shape, ...]:
    batch, steps, features = _sequence(call)
    chain = _chain(call, features)
    units = chain[-1][0].units(call)
    out = (batch, steps, units) if call.config.get("return_sequences") else (batch, units)
    if not call.config.get("return_state"):
        return (out,)
    states = tuple(s for cell, _ in chain for s in cell.state_shapes(call, batch))
    return (out, *states)


def _rnn_weights(call: Call) -> tuple[Weight, ...]:
    _, _, features = _sequence(call)
    chain = _chain(call, features)
    return tuple(
        w
        for i, (cell, f) in enumerate(chain)
        for w in cell.weights(call, f, f"cell_{i}/" if len(chain) > 1 else "")
    )


def _rnn_macs(call: Call, outputs) -> Dim:
    _, steps, features = _sequence(call)
    per_step = [cell.step_macs(call, f) for cell, f in _chain(call, features)]
    if steps is None or None in per_step:
        return None
    return steps * sum(per_step)


def _rnn_counts(call: Call, outputs) -> dict[str, Dim]:
    _, steps, features = _sequence(call)
    counts: dict[str, Dim] = {}
    for cell, _ in _chain(call, features):
        for key, n in cell.step_counts(call).items():
            counts[key] = (counts.get(key) or 0) + n
    return {key: None if steps is None else steps * n for key, n in counts.items()}


RNN_RULE = LayerRule(_rnn_shapes, _rnn_weights, _rnn_macs, rf="reshape", element_counts=_rnn_counts)


# -- a cell called alone: cell(inputs, states) -> (output, states) --------------------------------


def _cell_shapes(call: Call) -> tuple[Shape, ...]:
    shape = expect_rank(call, 2)
    cell = _Cell(call.node.class_name, call.config)
    return ((shape[0], cell.units(call)), *cell.state_shapes(call, shape[0]))


def _cell_rule() -> LayerRule:
    def weights(call: Call) -> tuple[Weight, ...]:
        return _Cell(call.node.class_name, call.config).weights(call, expect_rank(call, 2)[1])

    def macs(call: Call, outputs) -> Dim:
        return _Cell(call.node.class_name, call.config).step_macs(call, call.shape[1])

    def counts(call: Call, outputs) -> dict[str, Dim]:
        return dict(_Cell(call.node.class_name, call.config).step_counts(call))

    return LayerRule(_cell_shapes, weights, macs, rf="reshape", element_counts=counts)


# -- ConvLSTM1D/2D/3D ------------------------------------------------------------------------------


def conv_lstm_rule(rank: int) -> LayerRule:
    def frame(call: Call) -> Call:
        """One time step's call: the input without its time axis."""
        shape = expect_rank(call, rank + 3)
        return Call(call.node, ((shape[0], *shape[2:]),))

    def filters(call: Call) -> int:
        f = call.config.get("filters")
        if not is_int(f) or f <= 0:
            raise call.fail(f"filters must be a positive integer, not {f!r}")
        return f

    def step_shape(call: Call) -> Shape:
        return _conv_shape(frame(call), rank, filters(call))

    def shapes(call: Call) -> tuple[Shape, ...]:
        step = step_shape(call)
        steps = call.shape[1]
        out = (step[0], steps, *step[1:]) if call.config.get("return_sequences") else step
        return (out, step, step) if call.config.get("return_state") else (out,)

    def in_channels(call: Call) -> int:
        c = frame(call).shape[channel_axis(rank + 2, data_format(call))]
        if not is_int(c):
            raise call.fail("the channel dimension of the input must be known")
        return c

    def weights(call: Call) -> tuple[Weight, ...]:
        kernel, f = _geometry(call, rank)[0], filters(call)
        bias = (weight("bias", (4 * f,), True),) if call.config.get("use_bias", True) else ()
        return (
            weight("kernel", (*kernel, in_channels(call), 4 * f), True),
            weight("recurrent_kernel", (*kernel, f, 4 * f), True),
            *bias,
        )

    def positions(call: Call) -> Dim:
        step = step_shape(call)
        fmt_ = data_format(call)
        return product([d for i, d in enumerate(step[1:], 1) if i != channel_axis(rank + 2, fmt_)])

    def macs(call: Call, outputs) -> Dim:
        kernel, f = _geometry(call, rank)[0], filters(call)
        p, steps = positions(call), call.shape[1]
        if p is None or steps is None:
            return None
        taps = product(kernel)
        return steps * p * (taps * in_channels(call) * 4 * f + taps * f * 4 * f)

    def counts(call: Call, outputs) -> dict[str, Dim]:
        p, steps = positions(call), call.shape[1]
        cell = _Cell("LSTMCell", {**call.config, "units": filters(call)})
        scale = None if p is None or steps is None else p * steps
        return {k: None if scale is None else n * scale for k, n in cell.step_counts(call).items()}

    return LayerRule(shapes, weights, macs, rf="reshape", element_counts=counts)


# -- wrappers ---------------------------------------------------------------------------------------


def inner(call: Call, shapes: tuple[Shape, ...], key: str = "layer") -> tuple[LayerRule, Call]:
    """The rule and call of a wrapped layer (`config[key]`, a serialized layer) on `shapes`."""
    from cnncost.layers import rule_for

    spec = call.config.get(key)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("class_name"), str):
        raise call.fail(f"`{key}` is not a serialized layer")
    config = spec.get("config") if isinstance(spec.get("config"), Mapping) else {}
    node = Node(
        name=f"{call.node.name}/{config.get('name', spec['class_name'])}",
        class_name=spec["class_name"],
        module=spec.get("module") or "",
        config=config,
    )
    rule = rule_for(node)
    if rule is None:
        raise call.fail(f"wraps a {spec['class_name']} layer, which has no rule")
    return rule, Call(node, shapes)


def _inner_counts(rule: LayerRule, call: Call, outputs, scale: Dim = 1) -> dict[str, Dim]:
    """The wrapped layer's table rows; elements None (its output count) stay None, because the
    wrapper's own output count is `scale` times the inner one."""
    from cnncost.conventions import row_keys

    if rule.element_counts is not None:
        counts = rule.element_counts(call, outputs)
        if scale == 1:
            return dict(counts)
        return {k: None if v is None or scale is None else v * scale for k, v in counts.items()}
    return {key: None for key in row_keys(rule.cost, call.config)}


# TimeDistributed(layer): the layer on every time step of a (B, T, ...) input.


def _td(call: Call) -> tuple[LayerRule, Call]:
    shape = call.shape
    if len(shape) < 3:
        raise call.fail(f"needs an input of rank >= 3, got {list(shape)}")
    return inner(call, ((shape[0], *shape[2:]),))


def _td_shapes(call: Call) -> tuple[Shape, ...]:
    rule, sub = _td(call)
    steps = call.shape[1]
    return tuple((s[0], steps, *s[1:]) for s in rule.output_shapes(sub))


def _td_macs(call: Call, outputs) -> Dim:
    rule, sub = _td(call)
    macs = rule.macs(sub, rule.output_shapes(sub))
    steps = call.shape[1]
    return None if macs is None or steps is None else steps * macs


def _td_weight_macs(call: Call, outputs) -> Dim:
    rule, sub = _td(call)
    inner_outputs = rule.output_shapes(sub)
    macs = (rule.weight_macs or rule.macs)(sub, inner_outputs)
    steps = call.shape[1]
    return None if macs is None or steps is None else steps * macs


def _td_counts(call: Call, outputs) -> dict[str, Dim]:
    rule, sub = _td(call)
    return _inner_counts(rule, sub, rule.output_shapes(sub), call.shape[1])


def _td_window(call: Call) -> Window | None:
    # only for the per-tap costs of a wrapped pooling layer: its window, one axis later
    rule, sub = _td(call)
    window = rule.window(sub) if rule.window is not None else None
    if window is None:
        return None
    return Window(
        tuple(a + 1 for a in window.axes),
        window.kernel,
        window.strides,
        window.dilation,
        window.padding,
        window.transposed,
    )


# Bidirectional(layer, merge_mode): the layer forward and a copy (or `backward_layer`) backward.
_MERGE_ROWS = {"sum": ("pointwise_add",), "mul": ("pointwise_multiply",)}


def _directions(call: Call) -> tuple[tuple[LayerRule, Call], tuple[LayerRule, Call]]:
    forward = inner(call, call.input_shapes[:1])
    key = "backward_layer" if isinstance(call.config.get("backward_layer"), Mapping) else "layer"
    return forward, inner(call, call.input_shapes[:1], key)


def _merge_mode(call: Call):
    mode = call.config.get("merge_mode", "concat")
    if mode not in ("concat", "sum", "mul", "ave", None):
        raise call.fail(f"unknown merge_mode {mode!r}")
    return mode


def _bi_shapes(call: Call) -> tuple[Shape, ...]:
    (fr, fc), (br, bc) = _directions(call)
    forward, backward = fr.output_shapes(fc), br.output_shapes(bc)
    mode = _merge_mode(call)
    if mode is None:
        outputs = (forward[0], backward[0])
    elif mode == "concat":
        last = forward[0][-1], backward[0][-1]
        outputs = ((*forward[0][:-1], None if None in last else sum(last)),)
    else:
        outputs = (forward[0],)
    return outputs + forward[1:] + backward[1:]


def _bi_weights(call: Call) -> tuple[Weight, ...]:
    (fr, fc), (br, bc) = _directions(call)
    return tuple(
        Weight(f"{direction}/{w.name}", w.shape, w.trainable)
        for direction, (rule, sub) in (("forward", (fr, fc)), ("backward", (br, bc)))
        for w in rule.weights(sub)
    )


def _bi_macs(call: Call, outputs) -> Dim:
    total: Dim = 0
    for rule, sub in _directions(call):
        macs = rule.macs(sub, rule.output_shapes(sub))
        total = None if macs is None or total is None else total + macs
    return total


def _bi_counts(call: Call, outputs) -> dict[str, Dim]:
    counts: dict[str, Dim] = {}
    for rule, sub in _directions(call):
        sub_outputs = rule.output_shapes(sub)
        for key, n in _inner_counts(rule, sub, sub_outputs).items():
            if n is None:  # the inner output count: make it explicit, the wrapper's differs
                n = product(sub_outputs[0][1:])
            previous = counts.get(key, 0)
            counts[key] = None if n is None or previous is None else previous + n
    merged = product(outputs[0][1:])
    mode = _merge_mode(call)
    if mode in _MERGE_ROWS:
        counts[_MERGE_ROWS[mode][0]] = merged  # one add / multiply per merged element
    elif mode == "ave":
        counts["pointwise_add"] = merged  # (a + b) * 0.5
        counts["scale"] = merged
    return counts


# SpectralNormalization(layer): at inference the wrapped layer with its stored kernel; Keras
# adds a non-trainable `vector_u` of shape (1, kernel.shape[-1]) for the power iteration
# (run only when training).


def _sn(call: Call) -> tuple[LayerRule, Call]:
    return inner(call, call.input_shapes)


def _sn_weights(call: Call) -> tuple[Weight, ...]:
    rule, sub = _sn(call)
    weights = rule.weights(sub)
    kernel = next((w for w in weights if w.name in ("kernel", "embeddings")), None)
    if kernel is None:
        raise call.fail("the wrapped layer has no kernel or embeddings to normalise")
    return (*weights, weight("vector_u", (1, kernel.shape[-1]), False))


def _sn_counts(call: Call, outputs) -> dict[str, Dim]:
    rule, sub = _sn(call)
    return _inner_counts(rule, sub, outputs)


RULES = {
    **{name: RNN_RULE for name in ("SimpleRNN", "GRU", "LSTM", "RNN")},
    **{name: _cell_rule() for name in _GATES},
    **{f"ConvLSTM{r}D": conv_lstm_rule(r) for r in (1, 2, 3)},
    "TimeDistributed": LayerRule(
        _td_shapes,
        lambda c: (lambda rule, sub: rule.weights(sub))(*_td(c)),
        _td_macs,
        rf="reshape",
        window=_td_window,
        element_counts=_td_counts,
        weight_macs=_td_weight_macs,
    ),
    "Bidirectional": LayerRule(
        _bi_shapes, _bi_weights, _bi_macs, rf="reshape", element_counts=_bi_counts
    ),
    "SpectralNormalization": LayerRule(
        lambda c: (lambda rule, sub: rule.output_shapes(sub))(*_sn(c)),
        _sn_weights,
        lambda c, o: (lambda rule, sub: rule.macs(sub, o))(*_sn(c)),
        rf="reshape",
        element_counts=_sn_counts,
        weight_macs=lambda c, o: (lambda rule, sub: (rule.weight_macs or rule.macs)(sub, o))(
            *_sn(c)
        ),
    ),
}
# -- configurations the rules do not cover: the node is `unsupported` (cnncost/layers/__init__.py) --


def _cell_reason(spec, depth: int = 0) -> str | None:
    if isinstance(spec, list) and depth < 8:
        return next((r for r in (_cell_reason(s, depth + 1) for s in spec) if r), None)
    if not isinstance(spec, Mapping):
        return None  # malformed: the rule reports it
    name = spec.get("class_name")
    if name == "StackedRNNCells" and depth < 8:
        config = spec.get("config") if isinstance(spec.get("config"), Mapping) else {}
        return _cell_reason(config.get("cells") or [], depth + 1)
    if name in _GATES:
        return None
    return (
        f"an RNN over the cell class {name!r}, which has no rule: describe the RNN with a "
        "plugin rule (docs/plugins.md)"
    )


def _rnn_reason(node: Node) -> str | None:
    return _cell_reason(node.config.get("cell"))


def _wrapped_reason(node: Node) -> str | None:
    """A wrapper whose layer (or backward layer) has no rule, or an unsupported configuration."""
    from cnncost.layers import rule_for, unsupported_reason

    for key in ("layer", "backward_layer"):
        spec = node.config.get(key)
        if not isinstance(spec, Mapping) or not isinstance(spec.get("class_name"), str):
            continue
        config = spec.get("config") if isinstance(spec.get("config"), Mapping) else {}
        inner_node = Node(
            name=node.name, class_name=spec["class_name"], module=spec.get("module") or "",
            config=config,
        )  # fmt: skip
        if rule_for(inner_node) is None:
            return f"wraps a {spec['class_name']} layer: {unsupported_reason(inner_node)}"
    return None


UNSUPPORTED_WHEN = {
    "RNN": _rnn_reason,
    "TimeDistributed": _wrapped_reason,
    "Bidirectional": _wrapped_reason,
    "SpectralNormalization": _wrapped_reason,
}
EXCLUDED = {
    "StackedRNNCells": (
        "a container of cells, not called on tensors by itself: the RNN layer that holds it "
        "is costed cell by cell"
    ),
}
