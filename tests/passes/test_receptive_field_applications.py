"""Acceptance: every keras.applications model gets a receptive field on every spatial layer, and
several of them agree end to end with the gradient-measured one at a reduced input size."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from cnncost.loaders.keras_live import graph_from_model  # noqa: E402
from cnncost.passes.receptive_field import Global, Local, receptive_fields  # noqa: E402
from cnncost.passes.shapes import infer_shapes  # noqa: E402
from cnncost.verify import empirical_regions, probe_model  # noqa: E402

APPLICATIONS = sorted(name for name in dir(keras.applications) if name[0].isupper())

# Known published receptive fields of the last feature map (google-research/receptive_field).
PUBLISHED = {"ResNet50": 483, "VGG16": 212, "MobileNetV2": 491, "InceptionV3": 1311}


def _rf(model):
    graph = graph_from_model(model)
    return graph, receptive_fields(graph, infer_shapes(graph))


@pytest.mark.slow
@pytest.mark.parametrize("name", APPLICATIONS)
def test_every_spatial_layer_has_a_receptive_field(name):
    model = getattr(keras.applications, name)(weights=None)
    graph, rf = _rf(model)
    (input_name,) = [ref.node for ref in graph.inputs]
    size_known = None not in model.inputs[0].shape[1:]  # MobileNetV3: (None, None, 3)
    if not size_known:  # a "same" strided layer's padding depends on the size: give one
        shapes = infer_shapes(graph, {input_name: (None, 224, 224, 3)})
        unknown_start, rf = rf, receptive_fields(graph, shapes)
    for node in graph.nodes:
        state = rf.nodes[node.name][input_name].state
        assert isinstance(state, (Local, Global)), (node.name, state)
        if isinstance(state, Local):
            assert all(m.jump > 0 and m.size_max >= 1 for m in state.maps)
            assert all(m.start is not None for m in state.maps), node.name
            if not size_known:  # same sizes and jumps without the input size
                other = unknown_start.nodes[node.name][input_name].state
                assert [m.size_max for m in other.maps] == [m.size_max for m in state.maps]
                assert [m.jump for m in other.maps] == [m.jump for m in state.maps]
    if name in PUBLISHED:
        last = [rf.nodes[n.name][input_name].state for n in graph.nodes]
        local = [s for s in last if isinstance(s, Local)][-1]
        assert local.maps[0].size_max == PUBLISHED[name]
    keras.backend.clear_session()


# (application, reduced input size, how many layers to probe)
END_TO_END = [("ResNet50", 64), ("MobileNetV2", 64), ("EfficientNetB0", 64), ("Xception", 71)]


@pytest.mark.slow
@pytest.mark.parametrize("name,size", END_TO_END)
def test_applications_match_gradient_support(name, size):
    model = getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=(size, size, 3)
    )
    graph, rf = _rf(model)
    (input_name,) = [ref.node for ref in graph.inputs]
    spatial = [
        layer
        for layer in model.layers[1:]
        if len(layer.output.shape) == 4
        and isinstance(rf.nodes[layer.name][input_name].state, Local)
    ]
    chosen = spatial[:: max(1, len(spatial) // 24)]  # about 24 layers spread over the depth
    probes, expected = [], []
    for layer in chosen:
        state = rf.nodes[layer.name][input_name].state
        h, w = layer.output.shape[1:3]
        for t in sorted({0, 1, h // 2, h - 1}):
            unit = (min(t, h - 1), min(t, w - 1))
            probes.append((layer.name, unit))
            expected.append(state)
    measured = empirical_regions(model, probes, probe=probe_model(model), chunk=16)
    exact = 0
    for (name_, unit), state, regions in zip(probes, expected, measured):
        if state.gated:  # a squeeze-and-excitation gate: the formal RF is the whole image
            assert list(regions) == [(0, size - 1)] * 2, (name_, unit, regions)
            continue
        analytic = [m.region(u) for m, u in zip(state.maps, unit)]
        if all(m.interior[0] <= u <= m.interior[1] for m, u in zip(state.maps, unit)):
            assert list(regions) == analytic, (name_, unit, analytic, regions)
            exact += 1
        else:
            for (low, high), got in zip(analytic, regions):
                # a padded unit (e.g. the rim of a ZeroPadding2D) may depend on nothing
                if got is not None:
                    assert max(low, 0) <= got[0] <= got[1] <= min(high, size - 1), (name_, unit)
    assert exact > 0
    keras.backend.clear_session()
