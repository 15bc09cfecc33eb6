"""A custom layer whose call computes with a size the model leaves unknown besides the batch
(SAM's prompt count: `points (None, None, 2)`): one row, with a warning naming the unknown size
and how to give it; with the input sizes given (`input_shape=`, `--input-shape`), traced at
those sizes. Shapes and params against the same model built by Keras at those sizes."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

import cnncost  # noqa: E402


class PointEmbedding(layers.Layer):
    """SAM's `_embed_box` shape: each point's 2 corners folded into the token axis (`N * 2`),
    plus a label embedding looked up from a constant (an Embedding called on an eager tensor)."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.project = layers.Dense(dim, name="project")
        self.label = layers.Embedding(1, dim, name="label")

    def call(self, points, labels):
        n = ops.shape(points)[1]
        x = self.project(ops.reshape(points, (-1, n * 2, 2)))
        x = x + self.label(ops.arange(1, dtype="int32"))
        return x * ops.expand_dims(ops.repeat(labels, 2, axis=1), -1)


def _model(n):
    points, labels = keras.Input((n, 2, 2), name="points"), keras.Input((n,), name="labels")
    outputs = PointEmbedding(4, name="prompt")(points, labels)
    return keras.Model({"points": points, "labels": labels}, outputs)


def test_an_unknown_size_is_named_with_how_to_give_it():
    report = cnncost.analyze(_model(None))
    (row,) = [row for row in report.layers if row.name == "prompt"]
    assert row.status == "unsupported" and not report.complete
    (warning,) = [w for w in report.warnings if w.startswith("prompt: unsupported")]
    assert "'points' axis 1" in warning and "'labels' axis 1" in warning
    assert "--input-shape" in warning


@pytest.mark.parametrize("n", [1, 3])
def test_given_sizes_trace_the_layer_at_those_sizes(n):
    model, fixed = _model(None), _model(n)
    report = cnncost.analyze(model, input_shape={"points": (n, 2, 2), "labels": (n,)})
    assert report.complete and all(row.status == "exact" for row in report.layers)
    assert report.outputs[0].shape == tuple(fixed.output.shape) == (None, 2 * n, 4)
    assert report.totals["params"] == model.count_params() == fixed.count_params()
    assert report.totals["params"] == (2 * 4 + 4) + 4
    assert report.totals["macs"] == (2 * n) * 2 * 4  # the Dense on 2n tokens


def test_sizes_equal_to_the_models_own_change_nothing():
    from cnncost.loaders.keras_trace import calls_at_input_shape

    model = _model(3)
    assert calls_at_input_shape(model, {"points": (3, 2, 2), "labels": (3,)}) == {}
