"""The tf-profiler convention equals TensorFlow's own profiler, layer by layer (slow: real TF).

Run time on 2 CPU cores: about 1-2 minutes for all nine models (see docs/conventions.md).
"""

from __future__ import annotations

import math

import pytest
from support.models import seed_cnn

from cnncost.analysis import analyze, load_graph
from cnncost.layers import registry_key

FULLY_SEEN = ["ResNet50", "MobileNetV2", "EfficientNetB0", "VGG16", "DenseNet121", "InceptionV3"]


def _model(name):
    import keras

    return seed_cnn() if name == "seed" else getattr(keras.applications, name)(weights=None)


def _compare(model):
    """Our rows vs the profiler's; returns (report, profiler total)."""
    from support.tf_profiler_reference import profile_model

    total, reference = profile_model(model)
    graph = load_graph(model)
    report = analyze(graph, flops_convention="tf-profiler")
    assert report.conventions["flops"] == "tf-profiler"
    # keras.ops nodes run under op scopes (`Add_3`) that do not name our rows: compare their sum.
    ops_nodes = {n.name for n in graph.nodes if registry_key(n).startswith("ops.")}
    ops_ours = 0
    layer_rows = set()
    for row in report.layers:
        if row.name in ops_nodes:
            ops_ours += row.extra["flops"]
            continue
        layer_rows.add(row.name)
        measured = sum(reference.get(row.name, {}).values())
        assert row.extra["flops"] == measured, (row.name, row.type, reference.get(row.name))
    ops_reference = sum(sum(v.values()) for k, v in reference.items() if k.startswith("ops:"))
    assert ops_ours == ops_reference
    assert set(k for k in reference if not k.startswith("ops:")) <= layer_rows
    assert report.totals["flops"] == total
    return report, total


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seed", *FULLY_SEEN])
def test_profiler_convention_equals_tensorflow_profiler(name):
    report, _ = _compare(_model(name))
    assert not any("tf-profiler convention" in w for w in report.warnings)


@pytest.mark.slow
def test_convnext_grouped_convs_are_reported_as_missed():
    import keras

    model = _model("ConvNeXtTiny")
    report, total = _compare(model)
    grouped = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1
    ]
    assert len(grouped) == 18
    # What the profiler does not see: each grouped conv (2 * MACs + its bias add) and the
    # LayerNormalization right after it (its input has no static shape after the XLA call):
    # moments 4N + batch_normalization 5N + 4G (G = positions normalized separately).
    missed = 0
    for layer in grouped:
        out = math.prod(layer.output.shape[1:])
        kh, kw = layer.kernel_size
        missed += 2 * out * kh * kw * (layer.input.shape[-1] // layer.groups) + out
        positions = math.prod(layer.output.shape[1:-1])
        missed += 9 * out + 4 * positions
    warning = next(w for w in report.warnings if "tf-profiler convention" in w)
    assert f"does not see {missed} FLOPs of 36 layers" in warning
    assert grouped[0].name in warning
    full = analyze(model)
    # The profiler's total is less than the work done by the grouped convs' share at least.
    assert full.totals["macs"] * 2 > total
