"""Write models with tf-keras (Keras 2) as `.h5` files and SavedModel folders, plus what tf-keras
itself says about each layer (the reference), as `reference.json`.

Run in a subprocess (`python tests/support/tf_keras_models.py OUT_DIR NAME...`) so that tf-keras
and Keras 3 never share a process. NAME is one of `BUILDERS` or a `tf_keras.applications` function name; `.keras` files
(tf-keras's zip format) are written too, except for `NO_KERAS_FILE`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Small inputs keep the files and the SavedModel tracing quick; shapes are still checked exactly.
INPUT_SHAPES = {"ConvNeXtTiny": (64, 64, 3)}
DEFAULT_INPUT = (96, 96, 3)


def seed_cnn(keras):
    """The seed project's CNN, written with Keras 2 exactly as the seed wrote it."""
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=(256, 256, 3)),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(128, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(46, activation="softmax"),
        ]
    )


def tf_ops(keras):
    """One call of each TensorFlow function tf-keras records as a TFOpLambda/SlicingOpLambda
    that cnncost maps onto keras.ops (cnncost.loaders.keras2.TF_FUNCTIONS), as tf-keras models
    write them: positional and keyword arguments, tf.compat.v1 spellings, a constant first
    operand (`1.0 - x`), a tensor keyword operand (`tf.matmul(a, b)`)."""
    import tensorflow as tf

    x = keras.Input((8, 8, 6))
    unary = [tf.nn.relu, tf.nn.relu6, tf.nn.silu, tf.nn.swish, tf.nn.gelu, tf.math.sigmoid,
             tf.nn.sigmoid, tf.math.tanh, tf.math.exp, tf.math.sqrt, tf.math.rsqrt,
             tf.math.square, tf.math.abs, tf.math.negative, tf.nn.elu, tf.nn.selu,
             tf.math.softplus, tf.identity]  # fmt: skip
    outs = [f(x) for f in unary]
    outs += [
        tf.nn.leaky_relu(x, alpha=0.1), tf.nn.softmax(x, axis=-1), tf.nn.softmax(x),
        tf.nn.gelu(x, approximate=True),
        x + 1.0, 1.0 - x, 2 * x, x / 2, x * tf.nn.sigmoid(x), tf.math.maximum(x, 0.0), x**2,
        tf.reduce_mean(x, axis=[1, 2], keepdims=True), tf.reduce_sum(x, axis=-1),
        tf.math.reduce_max(x, 1), tf.math.reduce_min(x),
        tf.compat.v1.reduce_mean(x, axis=[1, 2], keep_dims=True),
        tf.reshape(x, (-1, 64, 6)), tf.transpose(x, (0, 3, 1, 2)),
        tf.concat(tf.split(x, 2, axis=-1), axis=-1), tf.concat(tf.split(x, [1, 2, 3], -1), -1),
        tf.stack([x, x], axis=1), tf.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]]),
        tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT"),
        tf.squeeze(tf.expand_dims(x, 1), axis=1), tf.tile(x, [1, 2, 1, 1]),
        tf.matmul(x, x, transpose_b=True), tf.matmul(x, x, transpose_a=True),
        tf.matmul(tf.reshape(x, (-1, 48, 8)), tf.reshape(x, (-1, 8, 48))),
        x[:, 1:5, ::2, :3], x[:, :, :, 0], x[:, None], x[:, 2], x[1:],
        tf.image.resize(x, (16, 16)), tf.image.resize(x, (4, 4), method="nearest"),
        tf.compat.v1.image.resize(x, (12, 12)), tf.compat.v1.image.resize_bilinear(x, (16, 16)),
        tf.nn.avg_pool2d(x, 2, 2, "VALID"), tf.nn.max_pool2d(x, 3, 1, "SAME"),
        tf.clip_by_value(x, 0.0, 6.0), tf.cast(x, "float16"),
    ]  # fmt: skip
    return keras.Model(x, outs)


def tf_ops_net(keras):
    """A small CNN with weights written the way tf-keras model zoos write it: tf.nn activations,
    an SE gate over tf.reduce_mean, split/concat branches, slicing and a resize."""
    import tensorflow as tf

    layers = keras.layers
    x = keras.Input((32, 32, 3))
    y = tf.nn.relu(layers.Conv2D(16, 3, strides=2, padding="same")(x))
    a, b = tf.split(y, 2, axis=-1)
    y = tf.concat([layers.Conv2D(8, 3, padding="same")(a), layers.Conv2D(8, 1)(b)], axis=-1)
    gate = tf.reduce_mean(y, axis=[1, 2], keepdims=True)
    gate = tf.nn.sigmoid(layers.Conv2D(16, 1)(tf.nn.silu(layers.Conv2D(4, 1)(gate))))
    y = y * gate
    y = tf.image.resize(y[:, :, :, :12], (24, 24))
    y = tf.reduce_mean(layers.Conv2D(10, 3)(y), axis=[1, 2])
    return keras.Model(x, tf.nn.softmax(y))


def tf_ops_ellipsis(keras):
    """`x[..., 0]`: tf-keras writes it to .h5 but cannot save it in its .keras format."""
    x = keras.Input((8, 8, 6))
    return keras.Model(x, [x[..., 0], x[..., 1:3, :]])


BUILDERS = {
    "tf_ops_ellipsis": tf_ops_ellipsis,
    "seed": seed_cnn,
    "tf_ops": tf_ops,
    "tf_ops_net": tf_ops_net,
}


NO_KERAS_FILE = {"tf_ops_ellipsis"}


def _count(weights) -> int:
    return sum(int(w.shape.num_elements()) for w in weights)


def reference_rows(model, prefix: str = "") -> dict[str, dict]:
    """Row name (`outer/inner` inside nested models) -> first output shape and params."""
    import tf_keras

    rows = {}
    for layer in model.layers:
        name = prefix + layer.name
        if isinstance(layer, tf_keras.Model):
            rows.update(reference_rows(layer, name + "/"))
            continue
        shape = layer.get_output_shape_at(0)
        shapes = [shape] if isinstance(shape, tuple) else shape
        rows[name] = {
            "shape": list(shape) if isinstance(shape, tuple) else None,
            "shapes": [list(s) for s in shapes],
            "trainable": _count(layer.trainable_weights),
            "non_trainable": _count(layer.non_trainable_weights),
        }
    return rows


def main(out_dir: str, names: list[str]) -> None:
    import tf_keras

    out = Path(out_dir)
    reference = {}
    for name in names:
        if name in BUILDERS:
            model = BUILDERS[name](tf_keras)
        else:
            shape = INPUT_SHAPES.get(name, DEFAULT_INPUT)
            model = getattr(tf_keras.applications, name)(weights=None, input_shape=shape)
        model.save(out / f"{name}.h5")
        if name not in NO_KERAS_FILE:
            model.save(out / f"{name}.keras")  # tf-keras's zip format
        model.save(out / f"{name}_savedmodel", save_format="tf")
        reference[name] = {
            "rows": reference_rows(model),
            "params": model.count_params(),
            "trainable": _count(model.trainable_weights),
            "input_shape": list(model.input_shape[1:]),
        }
    (out / "reference.json").write_text(json.dumps(reference))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
