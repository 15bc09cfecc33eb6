"""Write the corpus of hostile and broken model files in `tests/data/bad/`, and `EXPECTED.tsv`:
for each file, extra CLI arguments, the exit code and the exact stderr line `cnncost report`
must give (`{path}` stands for the path as given on the command line).

Run from the repository root: `python tests/data/make_bad_files.py`. Files are small and
deterministic (fixed zip timestamps); h5py is needed for the .h5 cases.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent / "bad"
STAMP = (2024, 1, 1, 0, 0, 0)


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=STAMP)
            info.compress_type = compression
            archive.writestr(info, data)


def _keras(path: Path, config, compression=zipfile.ZIP_DEFLATED) -> None:
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    _zip(path, {"config.json": data, "metadata.json": b'{"keras_version": "3.15.1"}'}, compression)


def _input(name="input_layer", shape=(None, 8, 8, 3)):
    return {
        "class_name": "InputLayer",
        "config": {"name": name, "batch_shape": list(shape), "dtype": "float32"},
        "name": name,
        "inbound_nodes": [],
    }


def _tensor(layer: str, node=0, index=0):
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, index]}}


def _layer(class_name: str, name: str, inputs: list[str], **config):
    args = [_tensor(inputs[0])] if len(inputs) == 1 else [[_tensor(i) for i in inputs]]
    return {
        "module": "keras.layers",
        "class_name": class_name,
        "config": {"name": name, **config},
        "name": name,
        "inbound_nodes": [{"args": args, "kwargs": {}}],
    }


def _functional(layers, inputs=("input_layer",), outputs=("out",)):
    return {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": layers,
            "input_layers": [[i, 0, 0] for i in inputs],
            "output_layers": [[o, 0, 0] for o in outputs],
        },
    }


def _sequential(layers, shape=(None, 8, 8, 3)):
    return {
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": [_input(shape=shape), *layers]},
    }


def _conv(name="conv2d", **overrides):
    return {
        "class_name": "Conv2D",
        "config": {"name": name, "filters": 4, "kernel_size": [3, 3], **overrides},
    }


def _valid_keras() -> bytes:
    path = HERE / "_valid.tmp"
    _keras(path, _sequential([_conv()]))
    data = path.read_bytes()
    path.unlink()
    return data


def _deep_models(depth: int):
    model = _sequential([_conv()])
    for level in range(depth):
        model = {
            "class_name": "Sequential",
            "config": {"name": f"level{level}", "layers": [_input(f"in{level}"), model]},
        }
    return model


# (file name, writer, extra args, exit code, stderr line)
CASES: list[tuple[str, object, str, int, str]] = []


def case(name: str, args: str = "", code: int = 2, message: str = ""):
    def register(writer):
        CASES.append((name, writer, args, code, message))
        return writer

    return register


@case("empty.keras", message="cnncost: error: {path}: the file is empty")
def _(path):
    path.write_bytes(b"")


@case("text.keras", message="cnncost: error: {path}: not a .keras file (not a zip archive)")
def _(path):
    path.write_text("this is not a model\n")


@case(
    "text.model",
    message="cnncost: error: {path}: not a Keras model (not a .keras zip, an HDF5 .h5 file, a SavedModel folder or a JSON model config)",
)
def _(path):
    path.write_text("this is not a model\n")


@case(
    "truncated.keras",
    message="cnncost: error: {path}: not a readable zip archive (truncated or corrupted)",
)
def _(path):
    data = _valid_keras()
    path.write_bytes(data[: len(data) // 2])


@case(
    "corrupt_member.keras",
    message="cnncost: error: {path}: config.json is corrupted in the archive",
)
def _(path):
    data = bytearray(_valid_keras())
    start = data.index(b"config.json") + len("config.json")  # compressed data follows the name
    for i in range(start + 4, start + 12):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@case("bomb.keras", message="cnncost: error: {path}: config.json is larger than 67108864 bytes")
def _(path):
    # 80 MB of spaces in config.json, bzip2-compressed to a few hundred bytes.
    _keras(path, b" " * (80 * 1024 * 1024), compression=zipfile.ZIP_BZIP2)


@case(
    "no_config.keras",
    message="cnncost: error: {path}: not a Keras model archive (no config.json inside)",
)
def _(path):
    _zip(path, {"model.weights.h5": b"\x00" * 16})


@case(
    "bad_json.keras",
    message="cnncost: error: {path}: config.json is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
)
def _(path):
    _keras(path, b"{not json")


@case("deep_json.keras", message="cnncost: error: {path}: config.json is nested too deeply")
def _(path):
    _keras(path, b"[" * 200_000 + b"]" * 200_000)


@case("deep_models.keras", message="cnncost: error: models are nested too deeply")
def _(path):
    _keras(path, _deep_models(80))


@case(
    "not_a_model.keras",
    message="cnncost: error: the configuration describes a 'Conv2D', not a Keras model",
)
def _(path):
    _keras(path, _conv())


@case("cycle.keras", message="cnncost: error: the graph has a cycle through layer 'a'")
def _(path):
    layers = [
        _input(),
        _layer("Add", "a", ["input_layer", "b"]),
        _layer("ReLU", "b", ["a"]),
        _layer("ReLU", "out", ["b"]),
    ]
    _keras(path, _functional(layers))


@case("dangling.keras", message="cnncost: error: reference to missing layer 'ghost' (call 0)")
def _(path):
    _keras(path, _functional([_input(), _layer("ReLU", "out", ["ghost"])]))


@case(
    "missing_output.keras", message="cnncost: error: reference to missing layer 'nowhere' (call 0)"
)
def _(path):
    layers = [_input(), _layer("ReLU", "relu", ["input_layer"])]
    _keras(path, _functional(layers, outputs=("nowhere",)))


@case("duplicate_names.keras", message="cnncost: error: duplicate layer name 'conv2d'")
def _(path):
    _keras(path, _sequential([_conv(), _conv()]))


@case(
    "filters_string.keras",
    message="cnncost: error: layer 'conv2d' (Conv2D): filters must be a positive integer, not '4'",
)
def _(path):
    _keras(path, _sequential([_conv(filters="4")]))


@case(
    "filters_zero.keras",
    message="cnncost: error: layer 'conv2d' (Conv2D): filters must be a positive integer, not 0",
)
def _(path):
    _keras(path, _sequential([_conv(filters=0)]))


@case(
    "kernel_negative.keras",
    message="cnncost: error: layer 'conv2d' (Conv2D): kernel_size must be positive, got [-3, 3]",
)
def _(path):
    _keras(path, _sequential([_conv(kernel_size=[-3, 3])]))


@case(
    "kernel_wrong_type.keras",
    message="cnncost: error: layer 'conv2d' (Conv2D): kernel_size must be an int or 2 ints, not {'h': 3}",
)
def _(path):
    _keras(path, _sequential([_conv(kernel_size={"h": 3})]))


@case(
    "kernel_too_big.keras",
    message="cnncost: error: layer 'conv2d' (Conv2D): window 5 (kernel 5, dilation 1) is larger than its input size 4 on axis 1 (input shape (None, 4, 4, 3))",
)
def _(path):
    _keras(path, _sequential([_conv(kernel_size=[5, 5])], shape=(None, 4, 4, 3)))


@case(
    "pool_too_big.keras",
    message="cnncost: error: layer 'max_pooling2d' (MaxPooling2D): window 3 (kernel 3, dilation 1) is larger than its input size 2 on axis 1 (input shape (None, 2, 2, 3))",
)
def _(path):
    pool = {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "pool_size": 3}}
    _keras(path, _sequential([pool], shape=(None, 2, 2, 3)))


@case(
    "input_negative.keras",
    message="cnncost: error: layer 'input_layer' (InputLayer): sizes must be positive integers or None, not (None, -8, 8, 3)",
)
def _(path):
    _keras(path, _sequential([_conv()], shape=(None, -8, 8, 3)))


@case(
    "input_zero.keras",
    message="cnncost: error: layer 'input_layer' (InputLayer): sizes must be positive integers or None, not (None, 8, 0, 3)",
)
def _(path):
    _keras(path, _sequential([_conv()], shape=(None, 8, 0, 3)))


@case("layers_not_list.keras", message="cnncost: error: Sequential model (top): no layer list")
def _(path):
    _keras(path, {"class_name": "Sequential", "config": {"name": "s", "layers": "conv"}})


# -- over cnncost's caps (cnncost/limits.py, docs/limits.md) ----------------------------------


def _doubling(depth: int):
    """Nested models, each calling the level below twice: 2**depth inlined rows."""
    model = _sequential([{"class_name": "ReLU", "config": {"name": "relu"}}], shape=(None, 4))
    for level in range(depth):
        calls = [{"args": [_tensor("x")], "kwargs": {}}, {"args": [_tensor("inner")], "kwargs": {}}]
        inner = {**model, "name": "inner", "inbound_nodes": calls}
        inner["config"] = {**model["config"], "name": "inner"}
        model = _functional([_input("x", (None, 4)), inner], inputs=("x",), outputs=())
        model["config"]["name"] = f"level{level}"
        model["config"]["output_layers"] = [["inner", 1, 0]]
    return model


@case(
    "nested_doubling.keras",
    message="cnncost: error: more than 10000 layers once nested models are inlined (each call of a nested model is a copy of its layers): above cnncost's cap (docs/limits.md)",
)
def _(path):
    _keras(path, _doubling(14))


@case(
    "huge_tensor_index.keras",
    message="cnncost: error: reference to output 1000000000 of layer 'u': indices must be in 0..4096 (docs/limits.md)",
)
def _(path):
    unknown = _layer("Mystery", "u", ["input_layer"])
    unknown["module"] = "my_package.layers"
    out = _layer("ReLU", "out", ["input_layer"])
    out["inbound_nodes"][0]["args"] = [_tensor("u", 0, 10**9)]
    _keras(path, _functional([_input(), unknown, out]))


@case(
    "long_integer.keras",
    message="cnncost: error: {path}: config.json holds a 5000-digit integer, above cnncost's cap of 20 digits (docs/limits.md)",
)
def _(path):
    text = json.dumps(_sequential([_conv(filters=7)]))
    _keras(path, text.replace(": 7", ": " + "9" * 5000, 1).encode())


@case(
    "rank_too_high.keras",
    message="cnncost: error: a shape of rank 65, above cnncost's cap of 64 (docs/limits.md)",
)
def _(path):
    _keras(path, _sequential([_conv()], shape=(None,) + (1,) * 64))


@case(
    "long_name.keras",
    message="cnncost: error: model sequential: a name of 2000 characters (starting 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn'), above cnncost's cap of 1024 (docs/limits.md)",
)
def _(path):
    _keras(path, _sequential([_conv(name="n" * 2000)]))


@case("lambda.keras", code=0, message="")
def _(path):
    lam = {"class_name": "Lambda", "config": {"name": "lambda", "function": "x * 2"}}
    _keras(path, _sequential([_conv(), lam]))


CASES.append(("lambda.keras", None, "--strict", 1, ""))


@case("custom_class.keras", args="--strict", code=1, message="")
def _(path):
    custom = {"module": "my_project.layers", "class_name": "Mystery", "config": {"name": "m"}}
    _keras(path, _sequential([custom, _conv()]))


@case(
    "weights_only.h5",
    message="cnncost: error: {path}: holds weights only (no model_config): save the model with model.save(), not save_weights()",
)
def _(path):
    import h5py

    with h5py.File(path, "w", track_order=False) as handle:
        handle.attrs["layer_names"] = [b"dense"]


@case(
    "plain.h5",
    message="cnncost: error: {path}: an HDF5 file but not a Keras model (no model_config)",
)
def _(path):
    import h5py

    with h5py.File(path, "w") as handle:
        handle.create_dataset("x", data=[1, 2, 3])


@case(
    "truncated.h5",
    message="cnncost: error: {path}: cannot read the HDF5 file (truncated or corrupted)",
)
def _(path):
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(_sequential([_conv()]))
        handle.create_dataset("pad", data=list(range(512)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@case("legacy_bad_inbound.h5", message="cnncost: error: layer 'relu': malformed inbound node 7")
def _(path):
    import h5py

    config = {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "x",
                    "config": {"name": "x", "batch_input_shape": [None, 4]},
                    "inbound_nodes": [],
                },
                {
                    "class_name": "ReLU",
                    "name": "relu",
                    "config": {"name": "relu"},
                    "inbound_nodes": [[7]],
                },
            ],
            "input_layers": [["x", 0, 0]],
            "output_layers": [["relu", 0, 0]],
        },
    }
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)


@case(
    "savedmodel_no_metadata",
    message="cnncost: error: {path}: a SavedModel without keras_metadata.pb (written by tf.saved_model.save or model.export, not Keras's model.save): it holds no layer configuration",
)
def _(path):
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"\x08\x01")


@case(
    "savedmodel_garbage",
    message="cnncost: error: {path}: keras_metadata.pb is not a valid protocol buffer",
)
def _(path):
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"")
    (path / "keras_metadata.pb").write_bytes(b"\x0a\xff\xff\xff\xff\x0f garbage")


def _metadata(identifier: str, metadata: str) -> bytes:
    """A SavedMetadata message, encoded by hand: nodes (1) { node_path (3), identifier (4),
    metadata (5) }."""

    def field(number: int, data: bytes) -> bytes:
        return bytes([number << 3 | 2]) + _varint(len(data)) + data

    node = field(3, b"root") + field(4, identifier.encode()) + field(5, metadata.encode())
    return field(1, node)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


@case(
    "savedmodel_subclassed",
    message="cnncost: error: {path}: a subclassed Keras model: its layers are Python code, not a configuration (rebuild it as a Functional or Sequential model)",
)
def _(path):
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"")
    (path / "keras_metadata.pb").write_bytes(_metadata("_tf_keras_model", '{"name": "m"}'))


@case(
    "savedmodel_kernel_too_big",
    message="cnncost: error: layer 'conv2d' (Conv2D): window 3 (kernel 3, dilation 1) is larger than its input size 2 on axis 1 (input shape (None, 2, 2, 3))",
)
def _(path):
    path.mkdir()
    config = _sequential([_conv()], shape=(None, 2, 2, 3))
    for layer in config["config"]["layers"]:  # Keras 2 spellings, SavedModel tuples
        if layer["class_name"] == "InputLayer":
            shape = layer["config"].pop("batch_shape")
            layer["config"]["batch_input_shape"] = {"class_name": "__tuple__", "items": shape}
    (path / "saved_model.pb").write_bytes(b"")
    (path / "keras_metadata.pb").write_bytes(_metadata("_tf_keras_sequential", json.dumps(config)))


def main() -> None:
    if HERE.exists():
        shutil.rmtree(HERE)
    HERE.mkdir()
    lines = ["# file\targs\texit code\tstderr line ({path} is the path given)"]
    for name, writer, args, code, message in CASES:
        if writer is not None:
            writer(HERE / name)
        lines.append(f"{name}\t{args}\t{code}\t{message}")
    (HERE / "EXPECTED.tsv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
