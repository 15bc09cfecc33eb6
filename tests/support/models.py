"""Models the tests build, defined once."""

from __future__ import annotations


def seed_cnn(keras=None, input_shape=(256, 256, 3), classes: int = 46):
    """The seed project's DeepFashion CNN (shared/seed/NOTES.md): 5,392,494 params at 256x256x3.

    `keras` is the Keras module to build with (Keras 3 by default; tf_keras for legacy files).
    """
    if keras is None:
        import keras
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(classes, activation="softmax"),
        ]
    )
