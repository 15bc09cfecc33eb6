"""The real console script, run in a subprocess: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"
CNNCOST = shutil.which("cnncost")


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_console_script_is_installed():
    assert CNNCOST, "the `cnncost` console script is not on PATH (pip install -e .)"


def test_report_json_contract():
    result = run("report", str(SEED), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert data["model"]["inputs"] == [{"name": "input_layer", "shape": [None, 256, 256, 3]}]
    assert data["model"]["outputs"][0]["shape"] == [None, 46]
    assert data["conventions"]["flops"] == "full"
    assert data["totals"]["params"] == 5_392_494
    assert [row["type"] for row in data["layers"]] == [
        "InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D",
        "MaxPooling2D", "Flatten", "Dense",
    ]  # fmt: skip
    conv = data["layers"][1]
    assert conv["inputs"] == ["input_layer"]
    assert conv["output_shape"] == [None, 254, 254, 32]
    assert conv["params"] == 3 * 3 * 3 * 32 + 32
    assert conv["status"] == "exact"
    assert data["warnings"] == []


def test_python_dash_m_is_the_same_program():
    a = run("report", str(SEED), "--format", "json")
    b = subprocess.run(
        [sys.executable, "-m", "cnncost", "report", str(SEED), "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert b.returncode == 0 and json.loads(a.stdout) == json.loads(b.stdout)


def test_table_fits_80_columns():
    result = subprocess.run(
        [sys.executable, "-m", "cnncost", "report", str(SEED)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env={"COLUMNS": "80", "PATH": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("5,392,494" in line for line in lines)
    assert any(line.lstrip("│ ").startswith("conv2d_2") for line in lines)


def test_input_shape_override():
    result = run("report", str(SEED), "--format", "json", "--input-shape", "128,128,3")
    data = json.loads(result.stdout)
    assert data["layers"][1]["output_shape"] == [None, 126, 126, 32]
    # Flatten then sees 14*14*128 features: the dense kernel shrinks accordingly.
    assert data["layers"][-1]["params"] == 14 * 14 * 128 * 46 + 46


def test_report_imports_neither_keras_nor_tensorflow():
    code = (
        "import sys; from cnncost.cli import main; "
        f"rc = main(['report', {str(ROOT / 'examples/models/resnet50.keras')!r}, '--format', 'json']); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax', 'torch'}); "
        "sys.stderr.write('HEAVY=' + ','.join(heavy)); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert result.stderr.endswith("HEAVY="), result.stderr[-300:]


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def _bad_graph() -> str:
    config = json.loads(zipfile.ZipFile(SEED).read("config.json"))
    functional = {
        "class_name": "Functional",
        "config": {
            "name": "broken",
            "layers": [
                {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 4]},
                 "inbound_nodes": []},
                {"class_name": "Dense", "name": "d", "config": {"units": 2},
                 "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                              "config": {"keras_history": ["ghost", 0, 0]}}],
                                    "kwargs": {}}]},
            ],
            "input_layers": [["x", 0, 0]],
            "output_layers": [["d", 0, 0]],
        },
    }  # fmt: skip
    assert config["class_name"] == "Sequential"
    return json.dumps(functional)


BAD_INPUTS = {
    "missing_file": (None, "no such file"),
    "not_a_zip": ("plain text, not a zip", "not a zip archive"),
    "no_config": ({"metadata.json": "{}"}, "no config.json inside"),
    "invalid_json": ({"config.json": "{not json"}, "config.json is not valid JSON"),
    "not_a_model": ({"config.json": json.dumps({"class_name": "Dense", "config": {}})},
                    "describes a 'Dense', not a Keras model"),
    "missing_layer": ({"config.json": _bad_graph()}, "missing layer 'ghost'"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(tmp_path, case):
    content, expected = BAD_INPUTS[case]
    path = tmp_path / f"{case}.keras"
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, dict):
        _zip(path, content)
    result = run("report", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cnncost: error: ") and expected in lines[0], lines[0]


def test_bad_flag_is_one_line_and_exit_2():
    result = run("report", str(SEED), "--format", "yaml")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "invalid choice" in result.stderr


def test_bad_input_shape_is_one_line_and_exit_2():
    result = run("report", str(SEED), "--input-shape", "256,abc")
    assert result.returncode == 2 and "invalid input shape" in result.stderr


def test_kernel_larger_than_input_names_layer_and_sizes():
    result = run("report", str(SEED), "--input-shape", "8,8,3")
    assert result.returncode == 2
    # 8 -conv3-> 6 -pool2-> 3 -conv3-> 1: the second pool's window 2 no longer fits.
    size = (8 - 2) // 2 - 2
    assert "'max_pooling2d_1'" in result.stderr
    assert f"larger than its input size {size}" in result.stderr


def test_unsupported_layer_is_a_row_a_warning_and_strict_exit(tmp_path):
    config = json.loads(zipfile.ZipFile(SEED).read("config.json"))
    lambda_layer = {"module": "keras.layers", "class_name": "Lambda",
                    "config": {"name": "mystery", "function": {"code": "print('pwned')"}}}  # fmt: skip
    config["config"]["layers"].insert(2, lambda_layer)
    path = _zip(tmp_path / "lambda.keras", {"config.json": json.dumps(config)})
    result = run("report", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    row = next(r for r in data["layers"] if r["name"] == "mystery")
    # a Lambda owns no weights (params 0); its cost is unknown and left out of the totals
    assert row["status"] == "unsupported" and row["params"] == 0 and row["macs"] is None
    assert data["complete"] is False and data["left_out"]["macs"][0] == "mystery"
    assert any("mystery" in w and "Lambda" in w for w in data["warnings"])
    assert "pwned" not in result.stdout + result.stderr
    assert run("report", str(path), "--strict").returncode == 1
