"""The incremental evaluation (cnncost.advise.incremental) equals a full re-analysis (parse the
edited Keras config, run every pass) on random edits; and for random plain conv nets, the edited
model's RF predicted by cnncost is the one measured by gradient in Keras."""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnncost.advise import analyse_config, load_model_config, metrics, suggest
from cnncost.advise.context import make_context
from cnncost.advise.search import apply_to_config, apply_to_graph, candidate_edits, compatible
from cnncost.analysis import Options
from cnncost.errors import CnnCostError
from cnncost.loaders.keras_config import graph_from_config

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"


@functools.cache
def _context(name: str, options: Options | None = None):
    context = make_context(load_model_config(MODELS / f"{name}.keras"), options or Options())
    windows = context.windows()
    configs = {row.name: context.layer_config(row.name) for row in windows}
    return context, candidate_edits(windows, configs, context.rank, context.insert_positions())


def _full(config, options):
    """The reference: the edited config parsed and analysed by every pass."""
    graph = graph_from_config(json.loads(json.dumps(config)))
    return metrics(analyse_config(config, options), graph)


def _check_edits(context, edits, options):
    graph = apply_to_graph(edits, context.graph, context.rank)
    config = apply_to_config(edits, context.model.config, context.rank)
    try:
        full = _full(config, options)
    except CnnCostError:
        with pytest.raises(CnnCostError):  # the edit breaks the model both ways
            context.evaluator.evaluate(graph)
        return
    assert context.evaluator.evaluate(graph) == full, [e.label for e in edits]
    # the search's path: blocks composed in closed form, no peak memory
    without_peak = dataclasses.replace(full, peak_activation_bytes=None)
    assert context.evaluator.evaluate(graph, peak=False) == without_peak, [e.label for e in edits]


@pytest.mark.parametrize("name", ["resnet50", "seed_cnn", "mobilenet_v2"])
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_incremental_equals_full_reanalysis_on_random_edits(name, data):
    context, edits = _context(name)
    assert context.evaluator.incremental  # these models are evaluated node by node
    chosen = tuple(sorted(data.draw(st.lists(st.sampled_from(edits), min_size=1, max_size=3))))
    assume(compatible(chosen))
    _check_edits(context, chosen, Options())


@settings(max_examples=8, deadline=None)
@given(side=st.integers(22, 300), batch=st.integers(1, 4))
def test_incremental_equals_full_reanalysis_at_other_input_sizes(side, batch):
    """The resize search evaluates the unedited graph at other input sizes (and batches)."""
    options = Options(batch=batch)
    context, _ = _context("seed_cnn", options)
    shape = f"{side},{side},3"
    expected = metrics(
        analyse_config(context.model.config, Options(input_shape=shape, batch=batch)),
        context.graph,
    )
    assert context.evaluator.evaluate(context.graph, shape) == expected


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("seed_cnn", {"target_rf": 128, "max_flops": 300_000_000}),
        ("resnet50", {"target_rf": 800, "max_params": 20_000_000}),
    ],
)
def test_every_suggestion_after_equals_its_config_reanalysed(name, kwargs):
    """Every family's `after` (target RF, resize, global pooling, unproductive, dead compute)."""
    advice = suggest(MODELS / f"{name}.keras", **kwargs)
    checked = 0
    for suggestion in advice.suggestions:
        if suggestion.config is None:
            continue
        # a resized input is in the edited config itself
        assert _full(suggestion.config, Options()) == suggestion.after, suggestion.title
        checked += 1
    assert checked >= 3


# -- random plain conv nets (Keras) -------------------------------------------------------------


@st.composite
def plain_nets(draw):
    """A Sequential-like Functional chain: convs (kernel 1-5, stride 1-2, same/valid) and 2x2
    poolings, then global pooling, on a 40-72 pixel input."""
    side = draw(st.integers(40, 72))
    layers = []
    for _ in range(draw(st.integers(2, 4))):
        if draw(st.booleans()) or not layers:
            layers.append(
                (
                    "conv",
                    draw(st.integers(1, 5)),
                    draw(st.sampled_from([1, 1, 2])),
                    draw(st.sampled_from(["same", "valid"])),
                )
            )
        else:
            layers.append(("pool", 2, 2, "valid"))
    return side, tuple(layers)


def _build(side, layers, path):
    keras = pytest.importorskip("keras")
    from support.keras_reference import write_config_only

    inputs = keras.Input((side, side, 3))
    x = inputs
    for index, (kind, kernel, stride, padding) in enumerate(layers):
        if kind == "conv":
            x = keras.layers.Conv2D(4, kernel, strides=stride, padding=padding, name=f"c{index}")(x)
        else:
            x = keras.layers.MaxPooling2D(2, name=f"p{index}")(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return write_config_only(keras.Model(inputs, outputs), path)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=plain_nets(), data=st.data())
def test_random_plain_nets_incremental_equals_full(net, data):
    side, layers = net
    path = _build(side, layers, Path(tempfile.mkdtemp()) / "net.keras")
    try:
        context = make_context(load_model_config(path), Options())
    except CnnCostError:
        assume(False)  # a valid conv on a map smaller than its kernel: not a model
    windows = context.windows()
    configs = {row.name: context.layer_config(row.name) for row in windows}
    edits = candidate_edits(windows, configs, context.rank, context.insert_positions())
    chosen = tuple(sorted(data.draw(st.lists(st.sampled_from(edits), min_size=1, max_size=3))))
    assume(compatible(chosen))
    _check_edits(context, chosen, Options())


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=plain_nets(), data=st.data())
def test_random_plain_nets_edited_rf_is_measured_by_gradient(net, data):
    """The predicted RF of an edited plain net equals the gradient support in Keras."""
    keras = pytest.importorskip("keras")
    from cnncost.verify import empirical_receptive_field

    side, layers = net
    path = _build(side, layers, Path(tempfile.mkdtemp()) / "net.keras")
    try:
        context = make_context(load_model_config(path), Options())
    except CnnCostError:
        assume(False)
    windows = context.windows()
    configs = {row.name: context.layer_config(row.name) for row in windows}
    edits = candidate_edits(windows, configs, context.rank, context.insert_positions())
    chosen = tuple(sorted(data.draw(st.lists(st.sampled_from(edits), min_size=1, max_size=2))))
    assume(compatible(chosen))
    try:
        after = context.evaluator.evaluate(apply_to_graph(chosen, context.graph, context.rank))
    except CnnCostError:
        assume(False)  # the edited map would be smaller than a kernel
    config = apply_to_config(chosen, context.model.config, context.rank)
    model = keras.saving.deserialize_keras_object(config)
    last = [layer.name for layer in model.layers if len(layer.output.shape) == 4][-1]
    out = model.get_layer(last).output.shape
    # units whose whole RF lies inside the image (a clipped region measures less than the RF)
    assume(min(out[1:3]) >= 5 and 2 * max(after.rf) <= side)
    measured = empirical_receptive_field(model, last)
    try:
        size = measured.size
    except CnnCostError:
        assume(False)
    assert size == after.rf, [e.label for e in chosen]
