"""Traced layers that hold tensors themselves: variables from `add_weight` and stored constants
become rows (cnncost.layers.traced), batch-size arithmetic is traced at a stand-in batch size
and written back as None, and what the trace cannot attribute keeps the layer one row.
Every figure is checked against Keras (shapes, count_params) or written as the arithmetic."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

import cnncost  # noqa: E402
from cnncost.loaders.keras_trace import TRACE_BATCH  # noqa: E402


class ClassTokenEmbedding(keras.layers.Layer):
    """ViT's patch embedding shape: a conv, a class token tiled to the batch size (`ops.shape`),
    position embeddings looked up from stored ids (an eager constant)."""

    def __init__(self, tokens, dim, **kwargs):
        super().__init__(**kwargs)
        self.tokens, self.dim = tokens, dim

    def build(self, input_shape):
        self.class_token = self.add_weight(shape=(1, 1, self.dim), name="class_token")
        self.patches = keras.layers.Conv2D(self.dim, 2, strides=2, name="patches")
        self.patches.build(input_shape)
        self.positions = keras.layers.Embedding(self.tokens + 1, self.dim, name="positions")
        self.positions.build((1, self.tokens + 1))
        self.position_ids = ops.expand_dims(ops.arange(self.tokens + 1), 0)

    def call(self, x):
        patches = self.patches(x)
        shape = ops.shape(patches)
        patches = ops.reshape(patches, (shape[0], -1, self.dim))
        token = ops.tile(self.class_token, (shape[0], 1, 1))
        return ops.concatenate([token, patches], axis=1) + self.positions(self.position_ids)


def _model(layer, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


def test_class_token_and_position_embedding_are_exact_rows():
    model = _model(ClassTokenEmbedding(16, 8, name="embed"), (8, 8, 3))
    report = cnncost.analyze(model)
    rows = {row.name: row for row in report.layers}
    assert report.complete and all(row.status == "exact" for row in report.layers)
    assert report.totals["params"] == model.count_params() == 8 + (2 * 2 * 3 * 8 + 8) + 17 * 8
    assert report.outputs[0].shape == tuple(model.output.shape) == (None, 17, 8)
    assert rows["embed/class_token"].type == "TracedWeight"
    assert rows["embed/position_ids"].type == "TracedConstant"
    (tile,) = [row for row in report.layers if row.type == "Tile"]
    assert tile.output_shapes == ((None, 1, 8),)  # the batch size written back as None
    # the conv, then one add per output element (the concatenation and lookups do no arithmetic)
    assert report.totals["macs"] == 2 * 2 * 3 * 8 * (4 * 4)
    assert report.totals["flops"] == 2 * (2 * 2 * 3 * 8 * (4 * 4)) + 8 * 16 + 17 * 8


def test_per_call_rows_count_once_per_batch():
    """The position lookup depends on no input: its output exists once per call, while the
    tiled class token (one copy per sample) and everything after the input scale with it."""
    model = _model(ClassTokenEmbedding(16, 8, name="embed"), (8, 8, 3))
    one, four = cnncost.analyze(model), cnncost.analyze(model, batch=4)
    rows1 = {r.name: r for r in one.layers}
    rows4 = {r.name: r for r in four.layers}
    (tile,) = [row for row in four.layers if row.type == "Tile"]
    lookup = "embed/positions"
    assert rows4[lookup].extra["activation_bytes"] == rows1[lookup].extra["activation_bytes"]
    assert rows1[lookup].extra["activation_bytes"] == 1 * 17 * 8 * 4
    assert tile.extra["activation_bytes"] == 4 * (1 * 8 * 4)
    assert rows4["embed/class_token"].extra["activation_bytes"] == 0  # a weight, not an activation
    assert four.totals["flops"] == 4 * one.totals["flops"]


class BatchFolding(keras.layers.Layer):
    """Swin's window partition in small: the batch folded into the first axis, k rows per
    sample (`k * batch`), then unfolded."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")

    def call(self, x):
        shape = ops.shape(x)
        folded = ops.reshape(x, (shape[0] * shape[1], shape[2])) * self.scale
        return ops.reshape(folded, (shape[0], shape[1], shape[2]))


def test_a_batch_folded_into_the_first_axis_counts_its_rows_per_sample():
    model = _model(BatchFolding(name="fold"), (5, 4))
    one, four = cnncost.analyze(model), cnncost.analyze(model, batch=4)
    assert one.complete and all(row.status == "exact" for row in one.layers)
    assert one.totals["params"] == model.count_params() == 4
    assert one.outputs[0].shape == (None, 5, 4)
    (multiply,) = [row for row in one.layers if row.type == "Multiply"]
    assert str(multiply.output_shapes[0][0]) == "5*batch"  # 5 rows of 4 per sample
    assert multiply.extra["flops"] == 5 * 4  # one multiply per element of one sample
    assert four.totals["flops"] == 4 * (5 * 4)
    assert four.totals["activation_bytes"] == 4 * one.totals["activation_bytes"]


class BatchHalving(keras.layers.Layer):
    """Divides the batch size: not a multiple of it, so no shape can say it."""

    def call(self, x):
        shape = ops.shape(x)
        halves = ops.reshape(x, (shape[0] // 2, 2 * shape[1], shape[2]))
        return ops.reshape(halves, (shape[0], shape[1], shape[2]))


def test_a_trace_that_divides_the_batch_keeps_the_layer_one_row():
    model = _model(BatchHalving(name="halve"), (6, 4))
    report = cnncost.analyze(model)
    rows = {row.name: row for row in report.layers}
    assert rows["halve"].status == "unsupported" and rows["halve"].params == 0


class EagerOnly(keras.layers.Layer):
    """Uses a variable only where no symbolic tensor is involved (a list the trace cannot
    replace): its params would be lost, so the layer stays one row."""

    def build(self, input_shape):
        self.parts = [self.add_weight(shape=(input_shape[-1],), name="w")]

    def call(self, x):
        return x + ops.sum(self.parts[0])


def test_a_variable_the_trace_cannot_see_keeps_the_layer_one_row():
    model = _model(EagerOnly(name="eager"), (3,))
    report = cnncost.analyze(model)
    rows = {row.name: row for row in report.layers}
    assert rows["eager"].status == "unsupported" and rows["eager"].params == 3


def test_sizes_equal_to_the_stand_in_batch_are_unknown_or_right_never_wrong():
    """The stand-in batch size is written back as None wherever it appears in a traced call's
    arguments, so a literal of that size (here a reshape to it) loses its value: that size is
    unknown afterwards, never wrong; sizes that only appear in shapes stay exact."""

    class Literal(keras.layers.Layer):
        def call(self, x):
            batch = ops.shape(x)[0]
            token = ops.tile(ops.ones((1, 1, 2)), (batch, 1, 1))
            joined = ops.concatenate([token, ops.reshape(x, (batch, TRACE_BATCH, 2))], axis=1)
            return ops.reshape(joined, (batch, -1))

    model = _model(Literal(name="lit"), (TRACE_BATCH, 2))
    report = cnncost.analyze(model)
    # Keras itself leaves the size after the dynamic reshape unknown: (None, None)
    assert tuple(model.output.shape)[0] is None
    ours = report.outputs[0].shape
    assert ours is None or all(o is None or o == k for o, k in zip(ours, (None, 98 * 2)))
