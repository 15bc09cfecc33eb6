"""Build the example models with Keras and write them as config-only `.keras` files.

Config-only means the zip holds `config.json` and `metadata.json` but no `model.weights.h5`:
everything cnncost needs, a few KB each, safe to commit. Run from the repository root:

    python examples/build_models.py
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUT = Path(__file__).resolve().parent / "models"

# keras.applications models shipped as examples (weights=None builds them offline).
APPLICATIONS = {
    "resnet50": "ResNet50",
    "mobilenet_v2": "MobileNetV2",
    "efficientnet_b0": "EfficientNetB0",
    "efficientnet_b7": "EfficientNetB7",
    "convnext_tiny": "ConvNeXtTiny",
    "vgg16": "VGG16",
}


def seed_cnn(input_shape=(256, 256, 3), classes: int = 46):
    """The seed project's DeepFashion CNN (see ../shared/seed/NOTES.md): 5,392,494 params."""
    import keras
    from keras import layers

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
        ],
        name="seed_cnn",
    )


def unet(input_shape=(256, 256, 1), levels: int = 3, classes: int = 2):
    """A textbook U-Net (Ronneberger et al. 2015, with 'same' convs): two 3x3 convs per level,
    2x2 max pooling down, 2x2 stride-2 transposed convs up, skip concatenations."""
    import keras
    from keras import layers

    x = inputs = keras.Input(input_shape)
    skips = []
    for level in range(levels):
        filters = 16 * 2**level
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"down{level}_a")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"down{level}_b")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    filters = 16 * 2**levels
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="bottom_a")(x)
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="bottom_b")(x)
    for level in reversed(range(levels)):
        filters = 16 * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([skips[level], x])
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec{level}_a")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec{level}_b")(x)
    outputs = layers.Conv2D(classes, 1, activation="softmax", name="mask")(x)
    return keras.Model(inputs, outputs, name="unet")


def write_config_only(model, path: Path) -> Path:
    import keras

    config = keras.saving.serialize_keras_object(model)
    metadata = {"keras_version": keras.__version__, "note": "config only, no weights"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps(metadata))
    return path


def main(names: list[str]) -> None:
    import keras

    OUT.mkdir(parents=True, exist_ok=True)
    wanted = names or ["seed_cnn", "unet", *APPLICATIONS]
    for name in wanted:
        if name == "seed_cnn":
            model = seed_cnn()
        elif name == "unet":
            model = unet()
        else:
            model = getattr(keras.applications, APPLICATIONS[name])(weights=None)
        path = write_config_only(model, OUT / f"{name}.keras")
        print(f"{path.relative_to(OUT.parent.parent)}: {model.count_params():,} params")
        keras.backend.clear_session()


if __name__ == "__main__":
    main(sys.argv[1:])
