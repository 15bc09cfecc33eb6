"""Generators of hostile model and side files: small on disk, unbounded work or memory if read
naively (issue 17, items 1, 2 and 4).

Each `make_*` function writes into a folder and returns the path; `ALL_MODELS` lists the model
generators (`name -> function(folder) -> path`), `SIDE_FILES` the ones for claims files, device
profiles and suggest JSON, and `special_files(folder)` the things that are not regular files (a
FIFO, a link to /dev/zero, a folder whose SavedModel part is a FIFO). Sizes are parameters so a
test can draw them with hypothesis; the defaults are the instances of the review.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

STAMP = (2024, 1, 1, 0, 0, 0)
METADATA = b'{"keras_version": "3.15.1"}'


def write_keras(path: Path, config: dict | bytes | str) -> Path:
    """A config-only `.keras` zip (deflated, so repetitive JSON compresses to almost nothing)."""
    if isinstance(config, dict):
        config = json.dumps(config)
    data = config.encode() if isinstance(config, str) else config
    with zipfile.ZipFile(path, "w") as archive:
        for name, member in (("config.json", data), ("metadata.json", METADATA)):
            info = zipfile.ZipInfo(name, date_time=STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member)
    return path


def tensor(layer: str, node: int = 0, index: int = 0) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, index]}}


def layer(class_name: str, name: str, inputs: list, module: str = "keras.layers", **config):
    """A functional layer entry; `inputs` are layer names or (layer, node, index) triples."""
    tensors = [tensor(*i) if isinstance(i, tuple) else tensor(i) for i in inputs]
    args = [tensors[0]] if len(tensors) == 1 else [tensors]
    return {
        "module": module,
        "class_name": class_name,
        "config": {"name": name, **config},
        "name": name,
        "inbound_nodes": [{"args": args, "kwargs": {}}] if inputs else [],
    }


def input_layer(name: str = "x", shape=(None, 8, 8, 3)) -> dict:
    return {
        "class_name": "InputLayer",
        "name": name,
        "config": {"name": name, "batch_shape": list(shape), "dtype": "float32"},
        "inbound_nodes": [],
    }


def functional(name: str, layers: list, inputs=("x",), outputs=("out",)) -> dict:
    return {
        "class_name": "Functional",
        "config": {
            "name": name,
            "layers": layers,
            "input_layers": [[i, 0, 0] for i in inputs],
            "output_layers": [[o, 0, 0] for o in outputs],
        },
    }


def sequential(name: str, shape, layers: list[tuple[str, dict]]) -> dict:
    entries = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": list(shape)}}]
    for index, (class_name, config) in enumerate(layers):
        entries.append({"class_name": class_name, "config": {"name": f"l{index}", **config}})
    return {"class_name": "Sequential", "config": {"name": name, "layers": entries}}


# -- item 1: unbounded work from a small file -----------------------------------------------------


def doubling_config(depth: int, width: int = 2) -> dict:
    """Nested Functional models, each calling the level below `width` times in a chain: the
    file grows linearly with `depth`, the inlined graph as width**depth."""
    model = sequential("level0", (None, 4), [("ReLU", {})])["config"]
    model = {"class_name": "Sequential", "config": model}
    for level in range(1, depth + 1):
        inner = dict(model, name="inner")
        inner["config"] = dict(model["config"], name="inner")
        calls = [{"args": [tensor("x")], "kwargs": {}}]
        calls += [{"args": [tensor("inner", k)], "kwargs": {}} for k in range(width - 1)]
        inner_entry = {**inner, "name": "inner", "inbound_nodes": calls}
        model = functional(
            f"level{level}",
            [input_layer("x", (None, 4)), inner_entry],
            outputs=(),
        )
        model["config"]["output_layers"] = [["inner", width - 1, 0]]
    return model


def make_nested_doubling(folder: Path, depth: int = 14) -> Path:
    return write_keras(folder / f"nested_doubling_{depth}.keras", doubling_config(depth))


def huge_index_config(index: int = 10**9, node: int = 0) -> dict:
    """A reference to output `index` of a custom (unknown) layer."""
    return functional(
        "huge_index",
        [
            input_layer("x"),
            layer("Mystery", "u", ["x"], module="my_package.layers"),
            layer("ReLU", "out", [("u", node, index)]),
        ],
    )


def make_huge_tensor_index(folder: Path, index: int = 10**9) -> Path:
    return write_keras(folder / "huge_tensor_index.keras", huge_index_config(index))


def make_huge_node_index(folder: Path, node: int = 10**9) -> Path:
    return write_keras(folder / "huge_node_index.keras", huge_index_config(0, node))


def make_empty_objects(folder: Path, megabytes: int = 63) -> Path:
    """`megabytes` MiB of `{},` in the layer list of a Functional config (a ~100 KiB zip)."""
    count = megabytes * 2**20 // 3
    head = b'{"class_name": "Functional", "config": {"name": "m", "layers": ['
    tail = b'{}], "input_layers": [["x", 0, 0]], "output_layers": [["x", 0, 0]]}}'
    return write_keras(folder / "empty_objects.keras", head + b"{}," * count + tail)


def make_many_lambdas(folder: Path, count: int = 20_000) -> Path:
    config = sequential("lambdas", (None, 8), [("Lambda", {"function": "f"})] * count)
    return write_keras(folder / f"lambdas_{count}.keras", config)


def make_high_rank(folder: Path, rank: int = 200_000) -> Path:
    config = sequential("rank", [None] + [1] * (rank - 1), [("ReLU", {})])
    return write_keras(folder / f"rank_{rank}.keras", config)


def make_long_name(folder: Path, chars: int = 10 * 2**20) -> Path:
    config = sequential("name", (None, 8), [("ReLU", {})])
    config["config"]["layers"][1]["config"]["name"] = "n" * chars
    return write_keras(folder / "long_name.keras", config)


def make_long_string(folder: Path, field: str = "padding", chars: int = 5 * 2**20) -> Path:
    """A `chars`-long string in one field of a Conv2D (`class_name`, `module`, `dtype`, or a
    config field such as `padding`): whatever quotes it must not print it whole."""
    entry = {"class_name": "Conv2D", "module": "keras.layers",
             "config": {"name": "c", "filters": 4, "kernel_size": 3}}  # fmt: skip
    if field in ("class_name", "module"):
        entry[field] = "s" * chars
    else:
        entry["config"][field] = "s" * chars
    config = sequential("long", (None, 8, 8, 3), [])
    config["config"]["layers"].append(entry)
    return write_keras(folder / f"long_{field}.keras", config)


def make_many_outputs(folder: Path, count: int = 200_000) -> Path:
    """One layer listed as a model output `count` times."""
    config = functional("outs", [input_layer("x"), layer("ReLU", "out", ["x"])])
    config["config"]["output_layers"] = [["out", 0, 0]] * count
    return write_keras(folder / "many_outputs.keras", config)


def make_wide_call(folder: Path, count: int = 300_000) -> Path:
    """One Add call on `count` references to the same tensor (each reference ~70 bytes)."""
    config = functional("wide", [input_layer("x"), layer("Add", "out", ["x"] * count)])
    return write_keras(folder / f"wide_call_{count}.keras", config)


def make_many_calls(folder: Path, count: int = 300_000) -> Path:
    """One shared layer called `count` times on the input (each call a row)."""
    entry = layer("ReLU", "out", ["x"])
    entry["inbound_nodes"] = entry["inbound_nodes"] * count
    config = functional("calls", [input_layer("x"), entry])
    return write_keras(folder / f"many_calls_{count}.keras", config)


def make_deep_arguments(folder: Path, depth: int = 100_000) -> Path:
    """Call arguments nested `depth` lists deep (raw JSON text, no recursion to write it)."""
    text = json.dumps(functional("deep", [input_layer("x"), layer("ReLU", "out", ["x"])]))
    marker = '"args": ['
    nested = "[" * depth + "0" + "]" * depth
    return write_keras(
        folder / "deep_arguments.keras", text.replace(marker, marker + nested + ",", 1)
    )


def make_saved_many_objects(folder: Path, megabytes: int = 16) -> Path:
    """A SavedModel folder whose keras_metadata.pb is `megabytes` MiB of empty objects (2 bytes
    each on disk, ~80 bytes each once parsed)."""
    saved = folder / "saved_many_objects"
    saved.mkdir(parents=True, exist_ok=True)
    (saved / "saved_model.pb").write_bytes(b"")
    (saved / "keras_metadata.pb").write_bytes(b"\x0a\x00" * (megabytes * 2**19))
    return saved


def make_many_members(folder: Path, count: int = 200_000) -> Path:
    """A .keras zip of `count` empty members besides config.json (its directory alone is ~100
    bytes a member once read)."""
    path = folder / "many_members.keras"
    config = json.dumps(sequential("m", (None, 8), [("ReLU", {})])).encode()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("config.json", date_time=STAMP), config)
        for index in range(count):
            archive.writestr(zipfile.ZipInfo(str(index), date_time=STAMP), b"")
    return path


# -- item 4: numbers out of range -----------------------------------------------------------------


def make_long_int(folder: Path, digits: int = 5_000) -> Path:
    """A JSON integer over Python's 4,300-digit str->int limit (written as raw JSON text)."""
    text = json.dumps(sequential("n", (None, 8), [("Dense", {"units": 7})]))
    return write_keras(folder / "long_int.keras", text.replace("7", "9" * digits, 1))


def make_huge_units(folder: Path, digits: int = 1_500) -> Path:
    config = sequential("units", (None, 8), [("Dense", {"units": 10 ** (digits - 1)})])
    return write_keras(folder / f"units_{digits}.keras", config)


def make_huge_input(folder: Path, digits: int = 1_500) -> Path:
    config = sequential("size", (None, 10 ** (digits - 1), 3), [("ReLU", {})])
    return write_keras(folder / f"input_{digits}.keras", config)


def make_overflowing_product(folder: Path) -> Path:
    """Every size within the per-size cap, the product of them far beyond any count."""
    size = 2**31 - 1
    config = sequential("product", (None, size, size, size, size), [("Dense", {"units": size})])
    return write_keras(folder / "overflowing_product.keras", config)


def make_float_sizes(folder: Path) -> Path:
    text = json.dumps(sequential("f", (None, 8), [("Dense", {"units": 7})]))
    return write_keras(folder / "inf_units.keras", text.replace("7", "1e999", 1))


def make_nan_constant(folder: Path) -> Path:
    text = json.dumps(sequential("f", (None, 8), [("Dense", {"units": 7})]))
    return write_keras(folder / "nan_units.keras", text.replace("7", "NaN", 1))


ALL_MODELS: dict[str, Callable[[Path], Path]] = {
    "nested_doubling": make_nested_doubling,
    "huge_tensor_index": make_huge_tensor_index,
    "huge_node_index": make_huge_node_index,
    "empty_objects": make_empty_objects,
    "many_lambdas": make_many_lambdas,
    "high_rank": make_high_rank,
    "long_name": make_long_name,
    "many_outputs": make_many_outputs,
    "long_padding": make_long_string,
    "long_class_name": lambda folder: make_long_string(folder, "class_name"),
    "long_dtype": lambda folder: make_long_string(folder, "dtype"),
    "wide_call": make_wide_call,
    "many_calls": make_many_calls,
    "deep_arguments": make_deep_arguments,
    "saved_many_objects": make_saved_many_objects,
    "many_members": make_many_members,
    "long_int": make_long_int,
    "huge_units": make_huge_units,
    "huge_input": make_huge_input,
    "overflowing_product": make_overflowing_product,
    "float_sizes": make_float_sizes,
    "nan_constant": make_nan_constant,
}


# -- side files -----------------------------------------------------------------------------------


def make_inf_claims(folder: Path) -> Path:
    path = folder / "inf_claims.toml"
    path.write_text('[[claim]]\nquantity = "params"\nvalue = inf\n')
    return path


def make_nan_claims(folder: Path) -> Path:
    path = folder / "nan_claims.toml"
    path.write_text('[[claim]]\nquantity = "macs"\nvalue = nan\n')
    return path


def make_huge_claims(folder: Path) -> Path:
    path = folder / "huge_claims.toml"
    path.write_text('[[claim]]\nquantity = "flops"\nvalue = 1e308\n')
    return path


def make_nan_device(folder: Path) -> Path:
    path = folder / "nan_device.json"
    path.write_text(
        '{"name": "nan", "peak_flops": {"float32": NaN}, "bandwidth": 1e12, "overhead_s": 0}'
    )
    return path


def make_inf_device(folder: Path) -> Path:
    path = folder / "inf_device.json"
    path.write_text(
        '{"name": "inf", "peak_flops": {"float32": 1e12}, "bandwidth": Infinity, "overhead_s": 0}'
    )
    return path


def make_long_int_json(folder: Path, digits: int = 5_000) -> Path:
    """A bare JSON model config (what `suggest` and `report` read) with a 5,000-digit size."""
    path = folder / "long_int.json"
    text = json.dumps(sequential("n", (None, 8), [("Dense", {"units": 7})]))
    path.write_text(text.replace("7", "9" * digits, 1))
    return path


def make_deep_claims(folder: Path, depth: int = 100_000) -> Path:
    path = folder / "deep_claims.toml"
    path.write_text("a = " + "[" * depth + "]" * depth + "\n")
    return path


def make_deep_device(folder: Path, depth: int = 100_000) -> Path:
    path = folder / "deep_device.json"
    path.write_text('{"name": ' + "[" * depth + "]" * depth + "}")
    return path


def make_big_claims(folder: Path, megabytes: int = 64) -> Path:
    """A claims file of `megabytes` MiB (a valid claim, then a comment)."""
    path = folder / "big_claims.toml"
    with open(path, "w") as stream:
        stream.write('[[claim]]\nquantity = "params"\nvalue = 1\n#')
        stream.write("x" * (megabytes * 2**20))
    return path


SIDE_FILES: dict[str, Callable[[Path], Path]] = {
    "inf_claims": make_inf_claims,
    "nan_claims": make_nan_claims,
    "huge_claims": make_huge_claims,
    "nan_device": make_nan_device,
    "inf_device": make_inf_device,
    "long_int_json": make_long_int_json,
    "deep_claims": make_deep_claims,
    "deep_device": make_deep_device,
    "big_claims": make_big_claims,
}


# -- item 2: things that are not regular files ----------------------------------------------------


def special_files(folder: Path) -> dict[str, Path]:
    """A FIFO, a link to /dev/zero, /dev/zero itself, a link to a FIFO, and a SavedModel folder
    whose parts are a FIFO and a link to /dev/zero. Reading any of them naively hangs or never
    ends."""
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "fifo.keras"
    os.mkfifo(fifo)
    zero_link = folder / "zero.json"
    zero_link.symlink_to("/dev/zero")
    fifo_link = folder / "fifo_link.keras"
    fifo_link.symlink_to(fifo)
    plugin_fifo = folder / "plugin_fifo.py"
    os.mkfifo(plugin_fifo)
    plugin_zero = folder / "plugin_zero.py"
    plugin_zero.symlink_to("/dev/zero")
    saved = folder / "saved_fifo"
    saved.mkdir()
    os.mkfifo(saved / "keras_metadata.pb")
    (saved / "saved_model.pb").write_bytes(b"")
    saved_zero = folder / "saved_zero"
    saved_zero.mkdir()
    (saved_zero / "keras_metadata.pb").symlink_to("/dev/zero")
    (saved_zero / "saved_model.pb").symlink_to("/dev/zero")
    return {
        "fifo": fifo,
        "zero_link": zero_link,
        "dev_zero": Path("/dev/zero"),
        "fifo_link": fifo_link,
        "saved_fifo": saved,
        "saved_zero": saved_zero,
        "plugin_fifo": plugin_fifo,
        "plugin_zero": plugin_zero,
    }
