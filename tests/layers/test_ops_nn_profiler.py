"""The tf-profiler convention on keras.ops nn/core/image ops and inference-identity augmentation
layers, against TensorFlow's own profiler (slow: runs the profiler).

MixUp and RandomHue are left out: they update their seed generator's state even when not
training, which the profiler's freezing of variables to constants cannot handle."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

from cnncost.analysis import analyze, load_graph  # noqa: E402
from cnncost.layers import registry_key  # noqa: E402


def _compare(model):
    """Each layer row equals the profiler's row; the ops rows together equal its op scopes."""
    from support.tf_profiler_reference import profile_model

    total, reference = profile_model(model)
    graph = load_graph(model)
    report = analyze(graph, flops_convention="tf-profiler")
    ops_nodes = {n.name for n in graph.nodes if registry_key(n).startswith("ops.")}
    ops_ours = 0
    for row in report.layers:
        assert row.extra["flops"] is not None, (row.name, report.warnings)
        if row.name in ops_nodes:
            ops_ours += row.extra["flops"]
        else:
            assert row.extra["flops"] == sum(reference.get(row.name, {}).values()), row.name
    ops_reference = sum(sum(v.values()) for k, v in reference.items() if k.startswith("ops:"))
    assert ops_ours == ops_reference
    assert report.totals["flops"] == total


def _chain(shape, *steps):
    x = keras.Input(shape)
    y = x
    for step in steps:
        y = step(y)
    return keras.Model(x, y)


MODELS = {
    "activations": lambda: _chain(
        (4, 6),
        ops.relu,
        ops.sigmoid,
        keras.activations.swish,
        ops.relu6,
        ops.softplus,
        ops.softsign,
        ops.hard_sigmoid,
        ops.hard_silu,
        ops.selu,
        ops.tanh_shrink,
        ops.hard_tanh,
        ops.log_sigmoid,
        ops.squareplus,
        ops.sparse_plus,
        ops.sparse_sigmoid,
        ops.leaky_relu,
        ops.elu,
        lambda x: ops.elu(x, alpha=0.5),
        lambda x: ops.gelu(x, approximate=False),
    ),
    "softmax": lambda: _chain(
        (3, 4, 5),
        ops.softmax,
        lambda x: ops.softmax(x, axis=1),
        lambda x: ops.softmax(x, axis=None),
        ops.log_softmax,
        lambda x: ops.log_softmax(x, axis=1),
    ),
    "data_movement": lambda: _chain(
        (4, 6, 8),
        lambda x: ops.cast(x, "float16"),
        lambda x: ops.cast(x, "float32"),
        ops.stop_gradient,
        ops.convert_to_tensor,
        lambda x: ops.depth_to_space(x, 2),
        lambda x: ops.space_to_depth(x, 2),
        lambda x: ops.image.pad_images(x, 1, 2, 1, 0),
        lambda x: ops.image.crop_images(x, 1, 1, 1, 1),
        lambda x: ops.image.extract_patches(x, 2),
        lambda x: ops.slice(x, [0, 0, 0, 0], [1, 1, 2, 8]),
    ),
    "augmentation": lambda: _chain(
        (8, 8, 3),
        layers.RandomShear(0.2),
        layers.RandomErasing(),
        layers.RandAugment(),
        layers.RandomCrop(5, 6),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_tf_profiler_convention_on_ops(name):
    _compare(MODELS[name]())
