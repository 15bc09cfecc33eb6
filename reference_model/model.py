"""The seed CNN and its variants, built from a small layer spec; and user-given model files.

A spec is a list of dicts, e.g. `{"type": "conv2d", "filters": 32, "kernel": 3}`; the
classifier head `Dense(num_classes, softmax)` is always appended. The same specs can live in a
JSON file (`train --model spec.json`), and a `.keras` file from `cnncost suggest` (config only,
no weights) or a trained one can be given instead (`train --model file.keras`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ._env import set_backend_default
from .errors import UsageError

set_backend_default()

_CONVS = [
    {"type": "conv2d", "filters": 32, "kernel": 3},
    {"type": "maxpool", "pool": 2},
    {"type": "conv2d", "filters": 64, "kernel": 3},
    {"type": "maxpool", "pool": 2},
    {"type": "conv2d", "filters": 128, "kernel": 3},
    {"type": "maxpool", "pool": 2},
]
_BN_CONVS = [
    layer
    for spec in _CONVS
    for layer in (
        [
            {
                "type": "conv2d",
                "filters": spec["filters"],
                "kernel": 3,
                "activation": None,
                "use_bias": False,
            },
            {"type": "batchnorm"},
            {"type": "relu"},
        ]
        if spec["type"] == "conv2d"
        else [spec]
    )
]
VARIANTS: dict[str, list[dict]] = {
    # The seed exactly: 5,392,494 params at 256x256x3 and 46 classes.
    "seed": _CONVS + [{"type": "flatten"}],
    # The seed's own first attempt: a global pooling head, independent of the input size.
    "seed-gap": _CONVS + [{"type": "global_avg_pool"}],
    # One more pooling before Flatten: 4x fewer Dense weights (the 98% of the seed's params).
    "seed-extra-pool": _CONVS + [{"type": "maxpool", "pool": 2}, {"type": "flatten"}],
    # Batch norm after each conv (conv bias dropped: BN's beta does its job).
    "seed-bn": _BN_CONVS + [{"type": "flatten"}],
}


def _layer(spec: dict):
    import keras

    kind = spec.get("type")
    args = {k: v for k, v in spec.items() if k != "type"}
    if kind == "conv2d":
        return keras.layers.Conv2D(
            args.pop("filters"),
            args.pop("kernel", 3),
            strides=args.pop("strides", 1),
            padding=args.pop("padding", "valid"),
            activation=args.pop("activation", "relu"),
            **args,
        )
    if kind in ("maxpool", "avgpool"):
        cls = keras.layers.MaxPooling2D if kind == "maxpool" else keras.layers.AveragePooling2D
        return cls(
            args.pop("pool", 2),
            strides=args.pop("strides", None),
            padding=args.pop("padding", "valid"),
            **args,
        )
    simple = {
        "flatten": keras.layers.Flatten,
        "batchnorm": keras.layers.BatchNormalization,
        "relu": keras.layers.ReLU,
        "global_avg_pool": keras.layers.GlobalAveragePooling2D,
        "global_max_pool": keras.layers.GlobalMaxPooling2D,
        "dropout": keras.layers.Dropout,
        "dense": keras.layers.Dense,
    }
    if kind not in simple:
        raise UsageError(f"unknown layer type {kind!r} in model spec")
    return simple[kind](**args)


def build_from_spec(
    spec: list[dict], input_shape: tuple[int, int, int], num_classes: int, name: str = "sequential"
):
    import keras

    layers = [keras.Input(input_shape)] + [_layer(s) for s in spec]
    # float32 output even under mixed precision: a float16 softmax loses small probabilities.
    layers.append(keras.layers.Dense(num_classes, activation="softmax", dtype="float32"))
    try:
        return keras.Sequential(layers, name=name)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"model spec does not build: {exc}") from None


def seed_cnn(image_size: int = 256, num_classes: int = 46):
    return build_from_spec(VARIANTS["seed"], (image_size, image_size, 3), num_classes)


def keras_file_kind(path: Path) -> str:
    """`weights` for a saved model, `config` for a config-only file (cnncost suggest output)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        raise UsageError(f"{path} is not a .keras file (not a zip)") from None
    if "config.json" not in names:
        raise UsageError(f"{path} has no config.json")
    return "weights" if "model.weights.h5" in names else "config"


def load_config_only(path: Path):
    """A fresh (untrained) model from a `.keras` zip holding only config.json."""
    import keras

    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    # safe_mode refuses Lambda layers' code, as cnncost never executes anything in a file.
    return keras.saving.deserialize_keras_object(config, safe_mode=True)


def resolve_model(arg: str, image_size: int, num_classes: int):
    """The model a `--model` argument names: a variant, a spec JSON or a .keras file."""
    if arg in VARIANTS:
        return build_from_spec(
            VARIANTS[arg], (image_size, image_size, 3), num_classes, name=arg.replace("-", "_")
        )
    path = Path(arg)
    if not path.is_file():
        raise UsageError(f"--model {arg}: not a variant ({', '.join(VARIANTS)}) nor a file")
    if path.suffix == ".json":
        spec = json.loads(path.read_text())
        spec = spec["layers"] if isinstance(spec, dict) else spec
        return build_from_spec(spec, (image_size, image_size, 3), num_classes, name=path.stem)
    if path.suffix != ".keras":
        raise UsageError(f"--model {arg}: expected a variant name, .json spec or .keras file")
    if keras_file_kind(path) == "config":
        model = load_config_only(path)
    else:
        import keras

        model = keras.saving.load_model(path, compile=False)
    return check_model(model, num_classes, str(path))


def check_model(model, num_classes: int, source: str):
    out = model.output_shape
    if not isinstance(out, tuple) or out[-1] != num_classes:
        raise UsageError(f"{source}: model outputs {out}, the data has {num_classes} classes")
    shape = model.input_shape
    if len(shape) != 4 or shape[-1] != 3:
        raise UsageError(f"{source}: expected an image input (None, H, W, 3), got {shape}")
    return model


def input_size(model) -> tuple[int, int]:
    """(height, width) the data must be resized to; a file's own size wins over --image-size."""
    _, h, w, _ = model.input_shape
    if h is None or w is None:
        raise UsageError("the model input has no fixed size; give one in the spec")
    return int(h), int(w)
