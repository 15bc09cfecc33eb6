"""Fuzzing: mutated `.keras` zips and configs (bytes, JSON values, structure) give a report or
a one-line `CnnCostError`, never another exception, a hang or unbounded memory.

Bounded for CI: a fixed number of examples per test, a deadline per example, and the console
script on a smaller sample (exit code 0/1 with a report, or 2 with one `cnncost: error:` line).
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncost
from cnncost.analysis import analyze_graph
from cnncost.errors import CnnCostError
from cnncost.loaders.keras2 import normalize_config
from cnncost.loaders.keras_config import graph_from_config

ROOT = Path(__file__).resolve().parents[2]
CNNCOST = shutil.which("cnncost")


def _tensor(layer, node=0, index=0, shape=None):
    config = {"keras_history": [layer, node, index]}
    if shape is not None:
        config["shape"] = shape
    return {"class_name": "__keras_tensor__", "config": config}


def _call(*inputs):
    args = [inputs[0]] if len(inputs) == 1 else [list(inputs)]
    return [{"args": args, "kwargs": {}}]


SEQUENTIAL = {
    "class_name": "Sequential",
    "config": {
        "name": "seed",
        "layers": [
            {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 32, 32, 3]}},
            {"class_name": "Conv2D", "config": {"name": "c1", "filters": 8, "kernel_size": [3, 3],
                                                "strides": [1, 1], "padding": "valid",
                                                "dilation_rate": [1, 1], "groups": 1}},
            {"class_name": "MaxPooling2D", "config": {"name": "p1", "pool_size": [2, 2],
                                                      "strides": [2, 2], "padding": "valid"}},
            {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1}},
            {"class_name": "DepthwiseConv2D", "config": {"name": "dw", "kernel_size": 3,
                                                         "padding": "same", "depth_multiplier": 2}},
            {"class_name": "Flatten", "config": {"name": "f"}},
            {"class_name": "Dense", "config": {"name": "d", "units": 10}},
        ],
    },
}  # fmt: skip

FUNCTIONAL = {
    "class_name": "Functional",
    "config": {
        "name": "res",
        "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
             "config": {"name": "x", "batch_shape": [None, 16, 16, 4]}},
            {"class_name": "Conv2D", "name": "a", "module": "keras.layers",
             "config": {"name": "a", "filters": 4, "kernel_size": 3, "padding": "same"},
             "inbound_nodes": _call(_tensor("x", shape=[None, 16, 16, 4]))},
            {"class_name": "Add", "name": "add", "module": "keras.layers", "config": {"name": "add"},
             "inbound_nodes": _call(_tensor("x"), _tensor("a"))},
            {"class_name": "Sequential", "name": "inner", "config": SEQUENTIAL["config"],
             "inbound_nodes": []},
            {"class_name": "GlobalAveragePooling2D", "name": "gap", "config": {"name": "gap"},
             "inbound_nodes": _call(_tensor("add"))},
            {"class_name": "Reshape", "name": "r", "config": {"name": "r", "target_shape": [2, -1]},
             "inbound_nodes": _call(_tensor("gap"))},
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["r", 0, 0]],
    },
}  # fmt: skip

KERAS2 = {
    "class_name": "Functional",
    "config": {
        "name": "k2",
        "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
             "config": {"name": "x", "batch_input_shape": [None, 12, 12, 3]}},
            {"class_name": "Convolution2D", "name": "c", "inbound_nodes": [[["x", 0, 0, {}]]],
             "config": {"name": "c", "nb_filter": 6, "nb_row": 3, "nb_col": 3,
                        "border_mode": "same", "dim_ordering": "tf"}},
            {"class_name": "TFOpLambda", "name": "tf.math.add", "config": {
                "name": "tf.math.add", "function": "math.add"},
             "inbound_nodes": [["c", 0, 0, {"y": ["c", 0, 0], "name": None}]]},
            {"class_name": "Sequential", "name": "s", "inbound_nodes": [[["tf.math.add", 0, 0, {}]]],
             "config": {"name": "s", "layers": [
                 {"class_name": "InputLayer", "config": {"name": "si", "batch_input_shape": {
                     "class_name": "__tuple__", "items": [None, 12, 12, 6]}}},
                 {"class_name": "Conv2D", "config": {"name": "sc", "filters": 2, "kernel_size": 1}}]}},
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["s", 1, 0]],
    },
}  # fmt: skip

BASES = [SEQUENTIAL, FUNCTIONAL, KERAS2]

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["same", "valid", "causal", "channels_first", "InputLayer", "Conv2D",
                     "Sequential", "Functional", "__keras_tensor__", "__tuple__", "x", "a"]),
)  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["class_name", "config", "name", "args", "items",
                                         "keras_history", "layers", "shape"]), children,
                        max_size=3),
    ),
    max_leaves=8,
)  # fmt: skip


def _paths(value, prefix=()):
    """Every location in a JSON tree."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(config, data) -> object:
    """Apply a few random edits: replace a value, delete it, duplicate or reorder a list."""
    config = copy.deepcopy(config)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(config))
        path = data.draw(st.sampled_from(paths))
        if not path:
            config = data.draw(json_value)
            continue
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "reverse"]))
        if action == "replace":
            parent[key] = data.draw(json_value)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif isinstance(parent[key], list):
            parent[key].reverse()
    return config


def _analyze_config(config) -> None:
    for legacy in (False, True):
        try:
            candidate = normalize_config(config) if legacy else config
            analyze_graph(graph_from_config(candidate)).to_dict()
        except CnnCostError as exc:
            assert "\n" not in str(exc)


SETTINGS = settings(
    max_examples=300,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(base=st.sampled_from(BASES), data=st.data())
def test_mutated_configs_give_a_report_or_one_error(base, data):
    _analyze_config(_mutate(base, data))


def _zip_bytes(config) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")
    return buffer.getvalue()


@st.composite
def mutated_zips(draw) -> bytes:
    data = bytearray(_zip_bytes(draw(st.sampled_from(BASES))))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[position : position + draw(st.integers(1, 16))]
    return bytes(data)


@SETTINGS
@given(content=mutated_zips())
def test_mutated_zip_bytes_give_a_report_or_one_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "model.keras"
    path.write_bytes(content)
    try:
        cnncost.analyze(path).to_dict()
    except CnnCostError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(base=st.sampled_from(BASES), data=st.data(), corrupt=st.booleans())
def test_console_script_on_mutated_files(tmp_path_factory, base, data, corrupt):
    content = _zip_bytes(_mutate(base, data))
    if corrupt:
        position = data.draw(st.integers(0, len(content) - 1))
        content = content[:position] + bytes([content[position] ^ 0x5A]) + content[position + 1 :]
    path = tmp_path_factory.mktemp("fuzz_cli") / "model.keras"
    path.write_bytes(content)
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    result = subprocess.run(
        [*command, "report", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert result.stderr.startswith("cnncost: error: ")
        assert result.stderr.count("\n") == 1
    else:
        assert result.returncode in (0, 1), result.stderr
        json.loads(result.stdout)
