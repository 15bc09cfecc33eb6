"""Option values and what CSV/Markdown carry (issue 15 items 5 and 6), through the console script.

- `--dtype` takes the policies Keras accepts and cnncost can size; anything else is the one-line
  error listing them (it used to run with a warning per layer and exit 0).
- `--no-color` is plain text: no ANSI sequence at all (rich's `no_color` kept bold and italic).
- CSV carries each row's status and the receptive field as flat columns equal to the JSON fields;
  its warnings go to stderr, one line each. Markdown has the status column and the warnings.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli_escape import run

from cnncost.errors import CnnCostError
from cnncost.passes.memory import POLICIES, policy_dtypes
from tests.support.hostile_names import ROOT, SEED

CLAIMS = ROOT / "examples" / "seed_claims.toml"
EFFICIENTNET = ROOT / "examples" / "models" / "efficientnet_b0.keras"


def test_every_policy_is_one_keras_accepts_with_the_same_dtypes():
    import keras

    for policy in POLICIES:
        reference = keras.DTypePolicy(policy)
        assert policy_dtypes(policy) == (reference.variable_dtype, reference.compute_dtype)


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=20).filter(lambda s: s not in POLICIES))
def test_any_other_policy_is_refused_naming_the_valid_ones(policy):
    from cnncost.analysis import Options

    with pytest.raises(CnnCostError) as error:
        Options(dtype=policy)
    assert all(p in str(error.value) for p in POLICIES)


@pytest.mark.parametrize(
    "args",
    [
        ("report", str(SEED)),
        ("diff", str(SEED), str(SEED)),
        ("formula", str(SEED)),
        ("suggest", str(SEED), "--max-params", "1000000"),
        ("audit", str(SEED), str(CLAIMS)),
    ],
    ids=lambda a: a[0],
)
def test_unknown_dtype_is_one_line_exit_2(args):
    result = run(*args, "--dtype", "fp16")
    assert result.returncode == 2
    assert result.stdout == b""
    error = result.stderr.decode()
    assert error.count("\n") == 1
    assert "unknown dtype policy 'fp16'" in error and "mixed_float16" in error


def test_a_valid_dtype_sizes_the_memory():
    result = run("report", str(SEED), "--format", "json", "--dtype", "mixed_bfloat16")
    assert result.returncode == 0 and result.stderr == b""
    data = json.loads(result.stdout)
    assert data["warnings"] == []
    conv = next(r for r in data["layers"] if r["name"] == "conv2d")
    assert conv["weight_bytes"] == 4 * (3 * 3 * 3 * 32 + 32)  # float32 variables
    assert conv["activation_bytes"] == 2 * 254 * 254 * 32  # bfloat16 outputs


@pytest.mark.parametrize(
    "args", [("report", str(SEED)), ("diff", str(SEED), str(SEED))], ids=lambda a: a[0]
)
def test_no_color_writes_no_ansi_at_all(args):
    forced = {"FORCE_COLOR": "1"}  # rich writes as to a colour terminal
    styled = run(*args, env=forced)
    assert styled.returncode == 0 and b"\x1b[" in styled.stdout  # the test can fail
    plain = run(*args, "--no-color", env=forced)
    assert plain.returncode == 0 and b"\x1b" not in plain.stdout


# -- CSV / Markdown carry the JSON's fields --------------------------------------------------------


def _json(*args: str):
    result = run(*args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _csv(*args: str):
    result = run(*args, "--format", "csv")
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout.decode()))), result.stderr.decode()


def _csv_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _expected_flat(field, prefix="rf_"):
    """The flat columns of one JSON receptive-field object, written from the docs (csv.py)."""
    flat = {}
    for key, value in field.items():
        if key == "local":
            flat.update(_expected_flat(value, f"{prefix}local_") if value else {})
        elif key == "interior":
            for axis, pair in enumerate(value or []):
                low, high = pair if pair else (None, None)
                flat[f"{prefix}interior_lo_{axis}"] = low
                flat[f"{prefix}interior_hi_{axis}"] = high
        elif isinstance(value, list):
            flat.update({f"{prefix}{key}_{axis}": v for axis, v in enumerate(value)})
        elif value is not None or key in ("global", "aligned", "exact", "reason"):
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("model", [SEED, EFFICIENTNET], ids=["seed", "efficientnet_b0"])
def test_csv_rf_columns_and_status_equal_the_json(model):
    data = _json("report", str(model))
    rows, stderr = _csv("report", str(model))
    assert stderr == ""
    assert len(rows) == len(data["layers"])
    assert "receptive_field" not in rows[0]
    for row, layer in zip(rows, data["layers"], strict=True):
        assert row["name"] == layer["name"] and row["status"] == layer["status"]
        (field,) = layer["receptive_field"].values()
        expected = _expected_flat(field) if field else {}
        for column in (c for c in row if c.startswith("rf_")):
            assert row[column] == _csv_value(expected.get(column)), (layer["name"], column)
    if model == EFFICIENTNET:  # squeeze-and-excitation: the local field behind the global gate
        assert any(r["rf_local_size_0"] for r in rows)


@pytest.fixture(scope="module")
def unsupported(tmp_path_factory):
    """The seed with one layer of an unknown custom class: unsupported/partial rows, warnings."""
    with zipfile.ZipFile(SEED) as z:
        config = json.loads(z.read("config.json"))
        metadata = z.read("metadata.json")
    config["config"]["layers"][3].update(class_name="Bogus", module="my.pkg")
    path = tmp_path_factory.mktemp("unsupported") / "u.keras"
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("config.json", json.dumps(config))
        out.writestr("metadata.json", metadata)
    return path


def test_csv_warnings_go_to_stderr_one_line_each(unsupported):
    data = _json("report", str(unsupported))
    rows, stderr = _csv("report", str(unsupported))
    assert data["warnings"]
    assert stderr.splitlines() == [f"cnncost: warning: {w}" for w in data["warnings"]]
    assert [r["status"] for r in rows] == [r["status"] for r in data["layers"]]
    assert {"unsupported", "partial"} <= {r["status"] for r in rows}


def test_csv_columns_option_is_exactly_what_was_asked(unsupported):
    rows, _ = _csv("report", str(unsupported), "--columns", "name,params")
    assert list(rows[0]) == ["name", "params"]


def test_markdown_has_status_and_every_warning(unsupported):
    data = _json("report", str(unsupported))
    result = run("report", str(unsupported), "--format", "markdown")
    assert result.returncode == 0
    text = result.stdout.decode()
    header = next(line for line in text.splitlines() if line.startswith("| Layer"))
    assert header.rstrip(" |").endswith("Status")
    table = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert [line.rstrip(" |").rsplit("| ", 1)[1] for line in table] == [
        r["status"] for r in data["layers"]
    ]
    warnings = [line for line in text.splitlines() if line.startswith("- warning: ")]
    assert len(warnings) == len(data["warnings"])


def test_csv_several_inputs_name_the_input_in_the_rf_columns():
    from cnncost.render.csv import render_csv
    from cnncost.render.view import View

    field = {"size": [3], "jump": [1], "global": False, "local": None}
    row = {"name": "add", "receptive_field": {"a": field, "=b": None}}
    text = render_csv(View(("name", "receptive_field"), (row,), {}), inputs=["a", "=b"])
    (parsed,) = csv.DictReader(io.StringIO(text))
    assert parsed == {
        "name": "add",
        "rf[a]_size_0": "3",
        "rf[a]_jump_0": "1",
        "rf[a]_global": "false",
    }
