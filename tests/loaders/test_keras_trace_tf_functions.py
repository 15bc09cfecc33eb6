"""TensorFlow functions called on symbolic tensors inside traced layers become the keras.ops
calls of the tf-keras table (cnncost.loaders.tf_functions); one the table does not map keeps its
layer one honest unsupported row. Shapes and params against Keras; costs as arithmetic."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
from keras import layers  # noqa: E402

import cnncost  # noqa: E402

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow functions need its backend"
)


class ResizeThenConv(layers.Layer):
    """keras-hub's DepthAnything `interpolate` on the TensorFlow backend: a compat.v1 resize."""

    def __init__(self, size, v1, **kwargs):
        super().__init__(**kwargs)
        self.size, self.v1 = size, v1
        self.conv = layers.Conv2D(4, 1, name="conv")

    def call(self, x):
        if self.v1:
            x = tf.compat.v1.image.resize(x, size=self.size, method="bilinear", align_corners=True)
        else:
            x = tf.image.resize(x, self.size)
        return self.conv(tf.nn.relu(x))


class Unmapped(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(3, name="dense")

    def call(self, x):
        return self.dense(tf.math.cumsum(x, axis=1))  # not in the table


class BackendConcat(layers.Layer):
    """Keras's own TensorFlow backend called directly (keras-hub's D-FINE reaches it through
    `keras.utils.bounding_boxes`): it converts its inputs, then calls tf.concat."""

    def call(self, x):
        from keras.src import backend

        return backend.numpy.concatenate([x, x * 2.0], axis=-1)


@pytest.mark.parametrize("v1", [False, True])
def test_tf_resize_in_a_custom_layer_is_a_resize_row(v1):
    inputs = keras.Input((6, 5, 3))
    model = keras.Model(inputs, ResizeThenConv((12, 10), v1, name="up")(inputs))
    report = cnncost.analyze(model)
    rows = {row.type: row for row in report.layers}
    assert report.complete and all(row.status == "exact" for row in report.layers)
    assert report.outputs[0].shape == tuple(model.output.shape) == (None, 12, 10, 4)
    assert rows["Resize"].output_shapes == ((None, 12, 10, 3),)
    assert report.totals["params"] == model.count_params() == 3 * 4 + 4
    assert report.totals["macs"] == 12 * 10 * 3 * 4
    # bilinear resize 7 per output element, relu 1, conv 2 per MAC + bias 1
    out = 12 * 10 * 3
    assert report.totals["flops"] == 7 * out + out + 2 * 12 * 10 * 3 * 4 + 12 * 10 * 4


def test_an_unmapped_tf_function_keeps_its_layer_one_unsupported_row():
    inputs = keras.Input((6, 5))
    model = keras.Model(inputs, Unmapped(name="cum")(inputs))
    report = cnncost.analyze(model)
    (row,) = [row for row in report.layers if row.name == "cum"]
    assert row.status == "unsupported" and row.macs is None
    assert row.trainable_params == model.count_params() == 5 * 3 + 3  # from its variables
    assert not report.complete and "cum" in report.left_out["macs"]


def test_a_keras_backend_function_called_directly_is_traced():
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, BackendConcat(name="cat")(inputs))
    report = cnncost.analyze(model)
    assert report.complete and all(row.status == "exact" for row in report.layers)
    assert report.outputs[0].shape == tuple(model.output.shape) == (None, 4, 6)
    assert {row.type for row in report.layers} >= {"Multiply", "Concatenate"}


def test_the_dispatcher_is_gone_after_the_trace():
    from tensorflow.python.util import dispatch

    before = list(dispatch._GLOBAL_DISPATCHERS)
    inputs = keras.Input((6, 5, 3))
    cnncost.analyze(keras.Model(inputs, ResizeThenConv((3, 3), False)(inputs)))
    assert dispatch._GLOBAL_DISPATCHERS == before
    with pytest.raises(ValueError):  # TensorFlow refuses symbolic tensors again
        tf.image.resize(keras.Input((4, 4, 1)), (2, 2))
