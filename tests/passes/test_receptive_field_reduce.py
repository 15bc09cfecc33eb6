"""Reductions in the receptive-field pass: a `keras.ops.mean(x, axis=[1, 2], keepdims=True)`
squeeze-and-excite gate is a global gate, exactly like GlobalAveragePooling2D(keepdims=True).

References: the same model built with GlobalAveragePooling2D (cnncost's GAP handling is itself
checked against gradients in test_receptive_field_applications.py), and the gradient support
measured with Keras (`cnncost.verify`).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

from cnncost.analysis import analyze_graph  # noqa: E402
from cnncost.loaders.keras_live import graph_from_model  # noqa: E402
from cnncost.passes.receptive_field import Global, Local, Unknown, receptive_fields  # noqa: E402
from cnncost.passes.shapes import infer_shapes  # noqa: E402
from cnncost.verify import empirical_regions, probe_model  # noqa: E402

SIZE = 40


def efficientnet_style(gate: str, size: int = SIZE):
    """Three MBConv blocks (expand 1x1, depthwise 3x3, SE gate, project 1x1, residual), the SE
    squeeze written as `ops.mean(..., axis=[1, 2], keepdims=True)` (kimm / kecam style) or as
    GlobalAveragePooling2D(keepdims=True); every other layer is named the same in both."""
    inp = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="swish", name="stem")(inp)
    for i, (strides, channels) in enumerate([(1, 8), (2, 12), (2, 12)]):
        shortcut = x
        y = layers.Conv2D(channels * 4, 1, activation="swish", name=f"b{i}_expand")(x)
        y = layers.DepthwiseConv2D(3, strides, padding="same", name=f"b{i}_dw")(y)
        if gate == "ops":
            s = ops.mean(y, axis=[1, 2], keepdims=True)
        else:
            s = layers.GlobalAveragePooling2D(keepdims=True, name=f"b{i}_squeeze")(y)
        s = layers.Conv2D(4, 1, activation="swish", name=f"b{i}_reduce")(s)
        s = layers.Conv2D(channels * 4, 1, activation="sigmoid", name=f"b{i}_excite")(s)
        y = layers.Multiply(name=f"b{i}_gate")([y, s])
        y = layers.Conv2D(channels, 1, name=f"b{i}_project")(y)
        x = layers.Add(name=f"b{i}_add")([shortcut, y]) if strides == 1 else y
    x = layers.Conv2D(16, 3, name="head")(x)
    return keras.Model(inp, x)


def _states(model):
    graph = graph_from_model(model)
    rf = receptive_fields(graph, infer_shapes(graph))
    (name,) = [ref.node for ref in graph.inputs]
    return {node.name: rf.nodes[node.name][name].state for node in graph.nodes}


def test_ops_mean_gate_is_the_gap_gate():
    with_ops = _states(efficientnet_style("ops"))
    with_gap = _states(efficientnet_style("gap"))
    assert not [n for n, s in with_ops.items() if isinstance(s, Unknown)]
    squeezes = [n for n in with_ops if n not in with_gap]
    assert len(squeezes) == 3 and all(isinstance(with_ops[n], Global) for n in squeezes)
    for name, state in with_gap.items():
        if name.endswith("_squeeze"):
            assert isinstance(state, Global)
            continue
        assert with_ops[name] == state, name
    # after the first gate every layer is gated, with the local RF of the convolutions
    assert with_ops["head"].gated and with_ops["b0_gate"].gated and not with_ops["b0_dw"].gated
    # head: 3x3 on a jump of 2 * 2 * 2 = 8 after stem, b1_dw, b2_dw (3x3 each, jumps 1, 2, 4)
    assert with_ops["head"].maps[0].size_max == 1 + 2 * 1 + 2 * 2 + 2 * 2 + 2 * 4 + 2 * 8


def test_ops_mean_gate_matches_gradient_support():
    model = efficientnet_style("ops")
    states = _states(model)
    probes, expected = [], []
    for layer in model.layers[1:]:
        state = states[layer.name]
        if len(layer.output.shape) != 4 or not isinstance(state, Local):
            continue
        h = layer.output.shape[1]
        for t in sorted({h // 2, h - 1}):
            probes.append((layer.name, (t, t)))
            expected.append(state)
    measured = empirical_regions(model, probes, probe=probe_model(model), chunk=16)
    gated = interior = 0
    for (name, unit), state, regions in zip(probes, expected, measured):
        if state.gated:  # the gate reads every pixel: the formal RF is the whole image
            assert list(regions) == [(0, SIZE - 1)] * 2, (name, unit, regions)
            gated += 1
            continue
        analytic = [m.region(u) for m, u in zip(state.maps, unit)]
        if all(m.interior[0] <= u <= m.interior[1] for m, u in zip(state.maps, unit)):
            assert list(regions) == analytic, (name, unit, analytic, regions)
            interior += 1
    assert gated >= 10 and interior >= 2


def _reduce_model(op, axis, keepdims):
    inp = keras.Input((9, 7, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(inp)
    return keras.Model(inp, op(x, axis=axis, keepdims=keepdims))


REDUCTIONS = [ops.mean, ops.sum, ops.max, ops.min]
# distinct axes of a rank-4 tensor, each written positive or negative
AXES = st.sets(st.sampled_from([1, 2, 3]), min_size=1).flatmap(
    lambda axes: st.tuples(*[st.sampled_from([a, a - 4]) for a in sorted(axes)]).map(list)
)


@settings(max_examples=25, deadline=None)
@given(op=st.sampled_from(REDUCTIONS), axis=AXES, keepdims=st.booleans())
def test_reduction_state_follows_the_reduced_axes(op, axis, keepdims):
    """Over every spatial axis: Global; over none: the conv's local RF (axes renumbered when
    dropped); over some: unknown. Shapes are Keras's own."""
    model = _reduce_model(op, axis, keepdims)
    graph = graph_from_model(model)
    report = analyze_graph(graph)
    last = report.layers[-1]
    assert list(last.output_shapes[0]) == list(model.outputs[0].shape)
    state = _states(model)[last.name]
    reduced = {a % 4 for a in axis}
    if {1, 2} <= reduced:
        assert isinstance(state, Global)
    elif reduced & {1, 2}:
        assert isinstance(state, Unknown) and "some spatial axes" in state.reason
    else:
        assert isinstance(state, Local) and not state.gated
        assert state.axes == (1, 2) and [m.size_max for m in state.maps] == [3, 3]


@pytest.mark.parametrize("keepdims", [True, False])
def test_channel_mean_keeps_the_local_field_and_matches_gradients(keepdims):
    """CBAM-style spatial attention: a mean over channels is pointwise in space."""
    inp = keras.Input((9, 7, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(inp)
    x = layers.Identity(name="after")(ops.mean(x, axis=-1, keepdims=keepdims))
    model = keras.Model(inp, x)
    state = _states(model)["after"]
    (regions,) = empirical_regions(model, [("after", (3, 2))])
    assert list(regions) == [m.region(u) for m, u in zip(state.maps, (3, 2))] == [(3, 5), (2, 4)]
