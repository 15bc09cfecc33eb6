"""Containers and encodings a loader meets before any config (issue 17, item 5): an encrypted
zip member, an `.h5` whose `model_config` is a number or a blob, a Keras 2 `TFOpLambda` with
malformed arguments, and JSON nested past the one cap every command applies. Each is a report
or one line, never a traceback; every command accepts the same nesting."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost.analysis import analyze_graph
from cnncost.cli import main
from cnncost.errors import CnnCostError, ModelFileError
from cnncost.loaders.dispatch import load_model_file
from cnncost.loaders.keras2 import MAX_DEPTH, TF_FUNCTIONS, normalize_config
from cnncost.loaders.keras_config import graph_from_config

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"
CNNCOST = shutil.which("cnncost")


def _seed_members() -> dict[str, bytes]:
    with zipfile.ZipFile(SEED) as archive:
        return {name: archive.read(name) for name in ("config.json", "metadata.json")}


def _encrypted(path: Path, member: str) -> None:
    """A zip whose `member` has the "encrypted" flag set (what a password-protected zip has)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in _seed_members().items():
            archive.writestr(name, data)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (found := raw.find(signature, start)) >= 0:
            name_at = found + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at : name_at + len(member)] == member.encode():
                raw[found + offset] |= 0x1
            start = found + 4
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("member", ["config.json", "metadata.json"])
def test_an_encrypted_member_is_one_line(tmp_path, member):
    path = tmp_path / "locked.keras"
    _encrypted(path, member)
    with pytest.raises(ModelFileError, match=f"{member} is encrypted"):
        load_model_file(path)
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    for args in (["report", str(path)], ["suggest", str(path), "--target-rf", "300"]):
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "is encrypted" in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1


# -- .h5 model_config of every HDF5 type --------------------------------------------------------

_attribute_values = st.one_of(
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=True),
    st.booleans(),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(0, 9), min_size=1, max_size=4).map(np.array),
    st.lists(st.floats(allow_nan=False), min_size=1, max_size=3).map(np.array),
    st.binary(min_size=1, max_size=8).map(np.void),  # an opaque blob
    st.lists(st.binary(min_size=1, max_size=4), min_size=1, max_size=3).map(np.array),
    # HDF5 strings end at a NUL: h5py refuses to write one, so no file can hold it
    st.text(st.characters(exclude_characters="\x00"), max_size=20),
    st.sampled_from(["5", "[1, 2]", "null", '{"class_name": 3}']),
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(config=_attribute_values, version=_attribute_values)
def test_any_h5_model_config_attribute_is_one_line(tmp_path_factory, config, version):
    h5py = pytest.importorskip("h5py")
    path = tmp_path_factory.mktemp("h5") / "m.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = config
        handle.attrs["keras_version"] = version
    with pytest.raises(CnnCostError) as caught:
        load_model_file(path)
    assert "\n" not in str(caught.value)


# -- Keras 2 TFOpLambda with malformed arguments --------------------------------------------------


def _tf_op_model(function, node) -> dict:
    return {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "in",
                    "config": {"batch_input_shape": [None, 8, 8, 3], "name": "in"},
                    "inbound_nodes": [],
                },
                {
                    "class_name": "TFOpLambda",
                    "name": "op",
                    "config": {"name": "op", "function": function, "dtype": "float32"},
                    "inbound_nodes": [node],
                },
            ],
            "input_layers": [["in", 0, 0]],
            "output_layers": [["op", 0, 0]],
        },
    }


_ARGUMENTS = [
    "axis", "size", "paddings", "mode", "ksize", "strides", "padding", "slice_spec", "perm",
    "num_or_size_splits", "transpose_a", "y", "b", "method", "constant_values", "shape", "name",
]  # fmt: skip
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.just(["in", 0, 0]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_ARGUMENTS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
_kwargs = st.dictionaries(st.sampled_from(_ARGUMENTS), _json, max_size=4)
_nodes = st.one_of(
    _kwargs.map(lambda kw: [["in", 0, 0, kw]]),
    _kwargs.map(lambda kw: [["_CONSTANT_VALUE", -1, 1.0, kw]]),
    st.dictionaries(st.sampled_from(["args", "kwargs"]), _json, max_size=2),
    _json,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(function=st.sampled_from(sorted(TF_FUNCTIONS) + ["identity"]) | _json, node=_nodes)
def test_a_tf_op_lambda_with_any_arguments_is_a_report_or_one_line(function, node):
    try:
        report = analyze_graph(graph_from_config(normalize_config(_tf_op_model(function, node))))
    except CnnCostError as exc:
        assert "\n" not in str(exc)
    else:
        json.dumps(report.to_dict(), default=str)


# -- nesting: one cap, the same for every command -------------------------------------------------


def _nested(depth: int, container: str):
    value = 1
    for _ in range(depth):
        value = [value] if container == "list" else {"k": value}
    return value


def _deep_model(tmp_path: Path, depth: int, container: str) -> Path:
    members = _seed_members()
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"]["note"] = _nested(depth, container)
    path = tmp_path / f"deep{depth}.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", members["metadata.json"])
    return path


COMMANDS = {
    "report": lambda m, c: ["report", m, "--format", "json"],
    "suggest": lambda m, c: ["suggest", m, "--target-rf", "300", "--format", "json"],
    "audit": lambda m, c: ["audit", m, c, "--format", "json"],
    "formula": lambda m, c: ["formula", m, "--format", "json"],
}


@pytest.mark.parametrize("container", ["list", "dict"])
@pytest.mark.parametrize("depth", [MAX_DEPTH - 8, MAX_DEPTH + 1, 900])
def test_every_command_accepts_the_same_nesting(tmp_path, capsys, depth, container):
    """Under and over the cap: all four commands agree (none hits RecursionError)."""
    model = str(_deep_model(tmp_path, depth, container))
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nlayer = "total"\nquantity = "params"\nvalue = 5392494\n')
    codes = {}
    for name, argv in COMMANDS.items():
        codes[name] = main(argv(model, str(claims)))
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.splitlines()) <= 1, (name, err)
        if depth > MAX_DEPTH:
            assert "nested too deeply" in err, (name, err)
    assert set(codes.values()) == ({0} if depth <= MAX_DEPTH else {2}), codes


def test_cli_suggest_and_audit_refuse_what_report_refuses(tmp_path):
    model = str(_deep_model(tmp_path, 900, "list"))
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nlayer = "total"\nquantity = "params"\nvalue = 1\n')
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    for argv in (COMMANDS["suggest"](model, ""), COMMANDS["audit"](model, str(claims))):
        result = subprocess.run([*command, *argv], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().endswith(f"nested too deeply (over {MAX_DEPTH} levels)")
