"""Functional models that call keras.ops the way keras-io examples do.

Each is small (32x32 inputs) and plain Functional, so its `.keras` file holds the graph and is
analysed without the opt-in flag. Where the pattern comes from is named beside each model.
"""

from __future__ import annotations

from collections.abc import Callable


def _k():
    import keras

    return keras


def slicing():
    """Crop and channel slices (`x[:, 2:-2, 2:-2, :]`, `x[..., :8]`), as in keras-io's
    YOLO/object-detection heads and `resnet50.preprocess_input` (BGR flip)."""
    keras = _k()
    inputs = keras.Input((32, 32, 3))
    x = keras.applications.resnet50.preprocess_input(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = x[:, 2:-2, 2:-2, :]
    x = x[..., :8]
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x), name="slicing")


def split_concat():
    """ShuffleNet-style block: channel split, a branch on one half, concat, channel shuffle."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 16))
    left, right = ops.split(inputs, 2, axis=-1)
    right = keras.layers.Conv2D(8, 1, activation="relu")(right)
    right = keras.layers.DepthwiseConv2D(3, padding="same")(right)
    x = ops.concatenate([left, right], axis=-1)
    x = ops.reshape(x, (-1, 32, 32, 2, 8))
    x = ops.transpose(x, (0, 1, 2, 4, 3))
    x = ops.reshape(x, (-1, 32, 32, 16))
    return keras.Model(inputs, x, name="split_concat")


def pad():
    """Reflection padding before a valid convolution (keras-io CycleGAN's ReflectionPadding2D),
    and zero padding with `ops.pad`."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 3))
    x = ops.pad(inputs, [[0, 0], [3, 3], [3, 3], [0, 0]], mode="reflect")
    x = keras.layers.Conv2D(8, 7)(x)
    x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    x = keras.layers.Conv2D(8, 3, strides=2)(x)
    return keras.Model(inputs, x, name="pad")


def matmul_attention():
    """Self-attention over a feature map written with ops (keras-io's non-local / SAGAN block):
    reshape to (HW, C), softmax(Q K^T) V, reshape back, residual add."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((16, 16, 32))
    q = ops.reshape(keras.layers.Conv2D(8, 1)(inputs), (-1, 16 * 16, 8))
    k = ops.reshape(keras.layers.Conv2D(8, 1)(inputs), (-1, 16 * 16, 8))
    v = ops.reshape(keras.layers.Conv2D(32, 1)(inputs), (-1, 16 * 16, 32))
    weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))), axis=-1)
    x = ops.reshape(ops.matmul(weights, v), (-1, 16, 16, 32))
    return keras.Model(inputs, inputs + x, name="matmul_attention")


def resize():
    """FPN / segmentation decoder upsampling with `ops.image.resize` (keras-io DeepLabV3+)."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 3))
    low = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    high = keras.layers.Conv2D(16, 3, strides=4, padding="same")(low)
    up = ops.image.resize(high, (32, 32), interpolation="bilinear")
    x = ops.concatenate([low, up], axis=-1)
    x = keras.layers.Conv2D(4, 1)(x)
    return keras.Model(inputs, x, name="resize")


def activations():
    """Activations called as functions: `keras.activations.swish(x)` (records nn Silu),
    `ops.relu`, `ops.gelu`, `ops.sigmoid`, `ops.hard_sigmoid`."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 3))
    x = keras.activations.swish(keras.layers.Conv2D(8, 3, padding="same")(inputs))
    x = ops.relu(keras.layers.Conv2D(8, 3, padding="same")(x))
    x = ops.gelu(keras.layers.Conv2D(8, 3, padding="same")(x))
    x = x * ops.sigmoid(x) + ops.hard_sigmoid(x)
    return keras.Model(inputs, x, name="activations")


def se_gate_mean():
    """Squeeze-and-excite with `ops.mean(x, axis=[1, 2], keepdims=True)` (the kecam/kimm style),
    in an MBConv block (keras-io EfficientNet-style)."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 16))
    x = keras.layers.Conv2D(64, 1)(inputs)
    x = ops.silu(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    gate = ops.mean(x, axis=[1, 2], keepdims=True)
    gate = keras.layers.Conv2D(4, 1, activation="swish")(gate)
    gate = keras.layers.Conv2D(64, 1, activation="sigmoid")(gate)
    x = x * gate
    x = keras.layers.Conv2D(16, 1)(x)
    x = keras.layers.Conv2D(16, 3, padding="same")(x + inputs)
    return keras.Model(inputs, x, name="se_gate_mean")


def norm_math():
    """RMS normalisation and a power written with ops (`square`, `mean`, `sqrt`, `power`)."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 8))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    rms = ops.sqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + 1e-6)
    x = x / rms
    x = ops.power(x, 2.0)
    return keras.Model(inputs, x, name="norm_math")


def stack_expand():
    """`ops.expand_dims`, `ops.stack` and `ops.squeeze`: stacking two branches on a new axis
    and reducing over it (selective-kernel-style fusion)."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 8))
    a = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    b = keras.layers.Conv2D(8, 5, padding="same")(inputs)
    stacked = ops.stack([a, b], axis=1)
    weights = ops.softmax(ops.expand_dims(ops.mean(stacked, axis=[2, 3]), axis=2), axis=1)
    weights = ops.expand_dims(weights, axis=2)
    x = ops.sum(stacked * weights, axis=1)
    return keras.Model(inputs, x, name="stack_expand")


def dot_layer():
    """keras.layers.Dot on two embeddings (keras-io siamese network's cosine similarity)."""
    keras = _k()
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    a = keras.layers.Dense(16)(x)
    b = keras.layers.Dense(16)(x)
    return keras.Model(inputs, keras.layers.Dot(axes=1, normalize=True)([a, b]), name="dot")


def vit_patches():
    """keras-io's image classification with ViT: `ops.image.extract_patches`, reshape, a
    projection, layer norm and multi-head attention."""
    keras = _k()
    ops = keras.ops
    inputs = keras.Input((32, 32, 3))
    patches = ops.image.extract_patches(inputs, 8)  # (4, 4, 8*8*3)
    patches = ops.reshape(patches, (-1, 16, 8 * 8 * 3))
    x = keras.layers.Dense(32)(patches)
    y = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16)(y, y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="vit_patches")


OPS_MODELS: dict[str, Callable] = {
    "slicing": slicing,
    "split_concat": split_concat,
    "pad": pad,
    "matmul_attention": matmul_attention,
    "resize": resize,
    "activations": activations,
    "se_gate_mean": se_gate_mean,
    "norm_math": norm_math,
    "stack_expand": stack_expand,
    "dot_layer": dot_layer,
    "vit_patches": vit_patches,
}
