"""Write models with tf-keras (Keras 2) as `.h5` files and SavedModel folders, plus what tf-keras
itself says about each layer (the reference), as `reference.json`.

Run in a subprocess (`python tests/support/tf_keras_models.py OUT_DIR NAME...`) so that tf-keras
and Keras 3 never share a process. NAME is `seed` or a `tf_keras.applications` function name.
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
        rows[name] = {
            "shape": list(shape) if isinstance(shape, tuple) else None,
            "trainable": _count(layer.trainable_weights),
            "non_trainable": _count(layer.non_trainable_weights),
        }
    return rows


def main(out_dir: str, names: list[str]) -> None:
    import tf_keras

    out = Path(out_dir)
    reference = {}
    for name in names:
        if name == "seed":
            model = seed_cnn(tf_keras)
        else:
            shape = INPUT_SHAPES.get(name, DEFAULT_INPUT)
            model = getattr(tf_keras.applications, name)(weights=None, input_shape=shape)
        model.save(out / f"{name}.h5")
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
