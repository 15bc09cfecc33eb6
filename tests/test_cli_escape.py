"""Hostile names through the real console script: every output format stays inert and parseable.

The model and layer names of a generated `.keras` (tests/support/hostile_names.py) hold terminal
escapes (OSC, CSI, C1), BEL, line breaks, rich markup (`[/]`), a spreadsheet formula, a lone
surrogate, mathtext, bidi overrides, HTML and Markdown. Every command and format must exit 0,
write valid UTF-8 with no control character but the line feed, and keep its structure (one table
row per layer, one CSV record per layer, one error line); JSON keeps the names exactly.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost.render import escape
from tests.support.hostile_names import LAYER_NAMES, MODEL_NAME, SEED, seed_with_names

ROOT = Path(__file__).resolve().parent.parent
CNNCOST = shutil.which("cnncost")
CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")  # C0 but \n, DEL, C1 in UTF-8


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_inert(data: bytes) -> str:
    """Valid UTF-8 (so no surrogate), no control character but the line feed; the text."""
    text = data.decode("utf-8")
    assert not CONTROL.search(data), CONTROL.search(data)
    for char in ("\u202e", "\u2028", "\U000e0041"):
        assert char not in text
    return text


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    return seed_with_names(tmp_path_factory.mktemp("hostile") / "h.keras", MODEL_NAME, LAYER_NAMES)


def test_json_keeps_the_names_exactly(hostile):
    result = run("report", str(hostile), "--format", "json")
    assert result.returncode == 0, result.stderr
    result.stdout.decode("ascii")
    data = json.loads(result.stdout)
    assert data["model"]["name"] == MODEL_NAME
    assert [r["name"] for r in data["layers"][1:]] == list(LAYER_NAMES)


@pytest.mark.parametrize("plain", [False, True])
def test_table_shows_every_name_escaped(hostile, plain):
    # FORCE_COLOR: rich writes colours as to a terminal; the escapes must still be ours only
    args = ("--no-color",) if plain else ()
    result = run("report", str(hostile), *args, env={"FORCE_COLOR": "1", "COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    shown = result.stdout.decode("utf-8")
    if plain:
        assert_inert(result.stdout)
    else:  # only rich's own SGR sequences (ESC [ ... m)
        assert_inert(re.sub(rb"\x1b\[[0-9;]*m", b"", result.stdout))
        shown = re.sub("\x1b\\[[0-9;]*m", "", shown)
    for name in (MODEL_NAME, *LAYER_NAMES):
        assert escape.text(name) in shown, escape.text(name)


def test_markdown_has_one_row_per_layer_and_no_markup(hostile):
    from markdown_it import MarkdownIt

    result = run("report", str(hostile), "--format", "markdown")
    assert result.returncode == 0, result.stderr
    text = assert_inert(result.stdout)
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    body = rendered.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    assert len(rows) == 1 + len(LAYER_NAMES)
    header_cells = len(re.findall("<th[ >]", rendered))
    for row, name in zip(rows[1:], LAYER_NAMES, strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        assert len(cells) == header_cells
        assert "<" not in cells[0]  # no element from the name
        assert html.unescape(cells[0]) == escape.text(name)
    assert "<img" not in rendered and "<em>" not in rendered


def test_csv_one_record_per_layer_no_formula(hostile):
    result = run("report", str(hostile), "--format", "csv")
    assert result.returncode == 0, result.stderr
    text = assert_inert(result.stdout)
    assert len(text.splitlines()) == 2 + len(LAYER_NAMES)
    rows = list(csv.DictReader(io.StringIO(text)))
    names = [r["name"] for r in rows[1:]]
    for cell in (c for r in rows for c in r.values()):
        assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r")), cell
    assert names == [escape.csv_cell(n) for n in LAYER_NAMES]
    assert names[2].startswith("'=HYPERLINK")


@pytest.mark.parametrize(
    "args",
    [
        ("diff", "{m}", str(SEED)),
        ("diff", "{m}", str(SEED), "--no-color"),
        ("formula", "{m}"),
        ("formula", "{m}", "--format", "latex"),
        ("suggest", "{m}", "--max-params", "1000000"),
    ],
    ids=lambda a: "-".join(x for x in a if x not in ("{m}", str(SEED))),
)
def test_other_commands_are_inert(hostile, args):
    result = run(*(str(hostile) if a == "{m}" else a for a in args))
    assert result.returncode == 0, result.stderr
    text = assert_inert(result.stdout)
    assert_inert(result.stderr)
    if args[0] != "suggest":  # suggest names the model by its path
        assert escape.text(MODEL_NAME) in text or escape.latex(MODEL_NAME) in text


def test_latex_has_no_command_from_a_name(hostile):
    result = run("formula", str(hostile), "--format", "latex")
    text = assert_inert(result.stdout)
    assert r"\text{\$\textbackslash{}\textbackslash{}nosuch\$}" in text
    assert "\\nosuch" not in text.replace(r"\textbackslash{}nosuch", "")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_audit_output_is_inert(hostile, tmp_path, fmt):
    claims = tmp_path / "claims.toml"
    layer = json.dumps(LAYER_NAMES[1])  # TOML basic strings take JSON's escapes
    claims.write_text(
        f'[[claim]]\nlayer = {layer}\nquantity = "rf"\nvalue = 5\n'
        f'source = "README \\u001b]0;x\\u0007 [/] =1+1 | *a*"\n'
    )
    result = run("audit", str(hostile), str(claims), "--format", fmt)
    assert result.returncode in (0, 1), result.stderr
    text = assert_inert(result.stdout)
    if fmt == "markdown":
        rows = [line for line in text.splitlines() if line.startswith("| ")]
        assert len(rows) == 2  # the header and the claim
        assert rows[1].count(" | ") == rows[0].count(" | ")  # the `|` of the text stayed escaped
    assert "[/]" in text


def test_plot_with_mathtext_and_surrogates_in_names(hostile, tmp_path):
    out = tmp_path / "h.png"
    result = run("plot", str(hostile), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_error_naming_hostile_text_is_one_inert_line(tmp_path):
    # \udcff: the byte 0xff, not UTF-8, in the path (Python reads it as a lone surrogate)
    missing = tmp_path / "no\x1b]0;x\x07\nsuch\udcff.keras"
    result = run("report", str(missing))
    assert result.returncode == 2
    line = assert_inert(result.stderr)
    assert line.count("\n") == 1 and line.startswith("cnncost: error: ")


# -- any names, in process: cnncost.cli.main over every text format --------------------------------

NAME = st.lists(
    st.one_of(
        st.characters(exclude_categories=()),  # any code point, lone surrogates included
        st.sampled_from(["\x1b]0;x\x07", "[/]", "[b]", "=", "|", "\n", "$", "`", "<i>", "\\"]),
    ),
    min_size=1,
    max_size=8,
).map("".join)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(model_name=NAME, layer_names=st.lists(NAME, min_size=8, max_size=8, unique=True))
def test_any_names_never_crash_and_print_inert(tmp_path, capsys, model_name, layer_names):
    from cnncost.cli import main

    path = seed_with_names(tmp_path / "any.keras", model_name, tuple(layer_names))
    for args in (
        ["report", str(path), "--no-color"],
        ["report", str(path), "--format", "markdown"],
        ["report", str(path), "--format", "csv"],
        ["report", str(path), "--format", "json"],
        ["diff", str(path), str(SEED), "--no-color"],
    ):
        code = main(args)
        out, err = capsys.readouterr()
        assert code in (0, 2), (args, err)  # a name the loader refuses is the one-line error
        assert_inert(out.encode("utf-8"))
        assert_inert(err.encode("utf-8"))
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("cnncost: error: ")
        elif args[-1] == "json":
            data = json.loads(out)
            assert [r["name"] for r in data["layers"][1:]] == layer_names


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_a_device_profile_name_is_escaped(tmp_path, fmt):
    profile = tmp_path / "dev.json"
    name = "gpu\x1b]8;;http://evil\x07[/]\n=1+1"
    profile.write_text(
        json.dumps({"name": name, "peak_flops": {"float32": 1e13}, "bandwidth": 1e11})
    )
    result = run("report", str(SEED), "--device", str(profile), "--format", fmt)
    assert result.returncode == 0, result.stderr
    text = assert_inert(result.stdout)
    if fmt == "table":
        assert escape.text(name) in re.sub(r"\s", "", text)  # wrapped over lines


def test_an_error_naming_a_hostile_layer_is_one_inert_line(tmp_path):
    ghost = "ghost\n\x1b]0;x\x07[/]\u2028\ud800"
    tensor = {"shape": [None, 8], "dtype": "float32", "keras_history": [ghost, 0, 0]}
    dense_call = {"args": [{"class_name": "__keras_tensor__", "config": tensor}], "kwargs": {}}
    config = {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": "f",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "name": "in",
                    "config": {"batch_shape": [None, 8], "dtype": "float32", "name": "in"},
                    "inbound_nodes": [],
                },
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "name": "d",
                    "config": {"name": "d", "units": 4},
                    "inbound_nodes": [dense_call],
                },
            ],
            "input_layers": [["in", 0, 0]],
            "output_layers": [["d", 0, 0]],
        },
    }
    path = tmp_path / "dangling.json"
    path.write_text(json.dumps(config))
    result = run("report", str(path))
    assert result.returncode == 2
    line = assert_inert(result.stderr)
    assert line.count("\n") == 1 and "missing layer" in line
