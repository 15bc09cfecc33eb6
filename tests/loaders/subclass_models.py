"""Keras models that are not plain Functional/Sequential models, for the subclass/trace tests.

Importable by name (`subclass_models`) so that a `.keras` file of `TinyBackbone` names this
module, the way kimm / keras-hub files name theirs.
"""

from __future__ import annotations

import keras
from keras import layers, ops

PACKAGE = "cnncost_tests"


@keras.saving.register_keras_serializable(package=PACKAGE)
class TinyBackbone(keras.Model):
    """A Functional subclass (kimm/keras-hub style): its config holds constructor arguments."""

    def __init__(self, filters=8, blocks=2, size=24, **kwargs):
        inputs = keras.Input((size, size, 3), name="image")
        x = layers.Conv2D(filters, 3, strides=2, padding="same", name="stem")(inputs)
        x = layers.BatchNormalization(name="stem_bn")(x)
        for i in range(blocks):
            y = layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv")(x)
            y = layers.ReLU(name=f"block{i}_relu")(y)
            x = layers.Add(name=f"block{i}_add")([x, y])
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        outputs = layers.Dense(5, name="logits")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.filters, self.blocks, self.size = filters, blocks, size

    def get_config(self):
        return {
            "filters": self.filters,
            "blocks": self.blocks,
            "size": self.size,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ConvBlock(layers.Layer):
    """A composite layer: conv -> batch norm -> activation (three sub-layer calls)."""

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)
        self.bn = layers.BatchNormalization()
        self.act = layers.Activation("relu")

    def call(self, x, training=None):
        return self.act(self.bn(self.conv(x), training=training))


class ResidualStage(layers.Layer):
    """A nested composite: a list of ConvBlocks, a residual add and a shared 1x1 conv."""

    def __init__(self, filters, depth, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [ConvBlock(filters) for _ in range(depth)]
        self.mix = layers.Conv2D(filters, 1)  # called twice: one set of weights

    def call(self, x, training=None):
        y = x
        for block in self.blocks:
            y = block(y, training=training)
        x = self.mix(x + y)  # `+` on tensors is keras.ops.add
        return self.mix(x)


class SubclassedNet(keras.Model):
    """A subclassed model with its own `call`: conv blocks, a residual stage, keras.ops calls,
    a nested Sequential head."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = ConvBlock(8, strides=2, name="stem")
        self.stage = ResidualStage(8, depth=2, name="stage")
        self.side = layers.Conv2D(4, 1, name="side")
        self.head = keras.Sequential([layers.Dense(16), layers.Dense(3)], name="head")

    def call(self, inputs, training=None):
        x = self.stem(inputs, training=training)
        x = self.stage(x, training=training)
        x = ops.concatenate([x, self.side(x)], axis=-1)
        x = ops.mean(x, axis=[1, 2])  # a global average written with keras.ops
        return self.head(x)
