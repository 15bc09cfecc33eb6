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


# The spec's layer types and the keys each one cannot do without.
LAYER_TYPES: dict[str, tuple[str, ...]] = {
    "conv2d": ("filters",),
    "maxpool": (),
    "avgpool": (),
    "flatten": (),
    "batchnorm": (),
    "relu": (),
    "global_avg_pool": (),
    "global_max_pool": (),
    "dropout": ("rate",),
    "dense": ("units",),
}


def check_spec(spec, source: str = "model spec") -> list[dict]:
    """The list of layer dicts in a spec (a list, or {"layers": [...]}), or a UsageError naming
    the first layer that lacks a type or a required key. No Keras here."""
    layers = spec.get("layers") if isinstance(spec, dict) else spec
    if not isinstance(layers, list):
        raise UsageError(f'{source}: expected a list of layers or {{"layers": [...]}}')
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise UsageError(f"{source}: layer {index} is {layer!r}, not an object")
        kind = layer.get("type")
        if kind not in LAYER_TYPES:
            raise UsageError(
                f"{source}: unknown layer type {kind!r} in model spec (layer {index}; "
                f"choose from {', '.join(LAYER_TYPES)})"
            )
        missing = [key for key in LAYER_TYPES[kind] if key not in layer]
        if missing:
            raise UsageError(f"{source}: layer {index} ({kind}) needs {', '.join(missing)}")
    return layers


def load_spec(path: Path) -> list[dict]:
    """A spec file's layers, or a one-line UsageError (not JSON, wrong shape, missing keys)."""
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--model {path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--model {path}: not JSON ({exc})") from None
    return check_spec(spec, f"--model {path}")


def check_model_arg(arg: str) -> None:
    """The cheap part of `resolve_model`, run before TensorFlow is imported: a variant name, a
    valid spec file or a .keras zip with a config.json."""
    if arg in VARIANTS:
        return
    path = Path(arg)
    if not path.is_file():
        raise UsageError(f"--model {arg}: not a variant ({', '.join(VARIANTS)}) nor a file")
    if path.suffix == ".json":
        load_spec(path)
    elif path.suffix == ".keras":
        keras_file_kind(path)
    else:
        raise UsageError(f"--model {arg}: expected a variant name, .json spec or .keras file")


def one_line(exc: Exception, limit: int = 300) -> str:
    """Keras's multi-line, colour-coded error text as one plain line (the CLI prints one)."""
    import re

    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _layer(spec: dict):
    try:
        return _make_layer(spec)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"model spec layer {spec}: {type(exc).__name__}: {one_line(exc)}"
        ) from None


def _make_layer(spec: dict):
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


# The images reach the model as uint8 (0..255): a quarter of float32's bytes from the host to
# the device (docs/training.md, "Can the input pipeline feed the GPU?"). The model's first layer
# casts them to its compute dtype and scales them to [0, 1] on the device, as the seed's
# `ImageDataGenerator(rescale=1/255)` did on the host: Keras computes x * (1/255) + 0, 2 FLOPs
# per element (cnncost's Rescaling row); no weights, so the seed's parameter count is unchanged.
INPUT_DTYPE = "uint8"
RESCALE = 1 / 255


def build_from_spec(
    spec: list[dict], input_shape: tuple[int, int, int], num_classes: int, name: str = "sequential"
):
    import keras

    layers = [
        keras.Input(input_shape, dtype=INPUT_DTYPE),
        keras.layers.Rescaling(RESCALE, name="rescaling"),
    ] + [_layer(s) for s in check_spec(spec)]
    # float32 output even under mixed precision: a float16 softmax loses small probabilities.
    layers.append(keras.layers.Dense(num_classes, activation="softmax", dtype="float32"))
    try:
        return keras.Sequential(layers, name=name)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"model spec does not build: {one_line(exc)}") from None


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
    check_model_arg(arg)
    path = Path(arg)
    if path.suffix == ".json":
        spec = load_spec(path)
        return build_from_spec(spec, (image_size, image_size, 3), num_classes, name=path.stem)
    kind = keras_file_kind(path)
    try:
        if kind == "config":
            model = load_config_only(path)
        else:
            import keras

            # safe_mode (the default, said here): a Lambda's code in the file is refused
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001  (Keras raises anything for a file it cannot build)
        # A Lambda (refused in safe mode), a class Keras does not know, a damaged config: the
        # file cannot be built here, in one line, never a traceback.
        raise UsageError(f"--model {path}: Keras cannot build it ({one_line(exc)})") from None
    if not isinstance(model, keras_model_class()):
        raise UsageError(f"--model {path}: holds a {type(model).__name__}, not a model")
    return check_model(model, num_classes, str(path))


def keras_model_class():
    import keras

    return keras.Model


def check_model(model, num_classes: int, source: str):
    out = model.output_shape
    if not isinstance(out, tuple) or out[-1] != num_classes:
        raise UsageError(f"{source}: model outputs {out}, the data has {num_classes} classes")
    shape = model.input_shape
    if len(shape) != 4 or shape[-1] != 3:
        raise UsageError(f"{source}: expected an image input (None, H, W, 3), got {shape}")
    return model


def takes_uint8(model) -> bool:
    """Whether the model takes uint8 images (0..255, scaled by its own first layer, as every
    model built here since the uint8 input); else it takes float32 in [0, 1], scaled on the host
    (the runs and checkpoints saved before, and `.keras` files with a float input), which the
    loaders still feed as before."""
    return str(getattr(model.inputs[0], "dtype", "")) == INPUT_DTYPE


def input_size(model) -> tuple[int, int]:
    """(height, width) the data must be resized to; a file's own size wins over --image-size."""
    _, h, w, _ = model.input_shape
    if h is None or w is None:
        raise UsageError("the model input has no fixed size; give one in the spec")
    return int(h), int(w)
