"""Every `cnncost report` / `diff` / `plot` / `help` option, through the real console script."""

from __future__ import annotations

import csv
import io
import json

import pytest
from test_cli import ROOT, SEED, run

RESNET = ROOT / "examples" / "models" / "resnet50.keras"
CONVNEXT = ROOT / "examples" / "models" / "convnext_tiny.keras"


def _json(*args):
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_csv_round_trips_to_the_json_numbers():
    data = _json("report", str(SEED), "--format", "json")
    result = run("report", str(SEED), "--format", "csv", "--columns", "name,params,macs")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["name"] for r in rows] == [r["name"] for r in data["layers"]]
    for row, expected in zip(rows, data["layers"], strict=True):
        assert int(row["params"]) == expected["params"]
        assert int(row["macs"]) == expected["macs"]


def test_columns_choose_and_order():
    result = run("report", str(SEED), "--format", "csv", "--columns", "macs,name")
    assert result.stdout.splitlines()[0] == "macs,name"


def test_unknown_column_is_an_error():
    result = run("report", str(SEED), "--columns", "name,bogus")
    assert result.returncode == 2 and "unknown column 'bogus'" in result.stderr


def test_sort_and_top():
    rows = list(
        csv.DictReader(
            io.StringIO(
                run(
                    "report", str(RESNET), "--format", "csv", "--sort", "params", "--top", "3"
                ).stdout
            )
        )
    )
    assert len(rows) == 3
    params = [int(r["params"]) for r in rows]
    assert params == sorted(params, reverse=True)
    all_params = [r["params"] for r in _json("report", str(RESNET), "--format", "json")["layers"]]
    assert params == sorted(all_params, reverse=True)[:3]


def test_top_must_be_positive():
    assert run("report", str(SEED), "--top", "0").returncode == 2


def test_depth_collapses_nested_models_exactly():
    data = _json("report", str(CONVNEXT), "--format", "json")
    nested = [r for r in data["layers"] if "/" in r["name"]]
    assert nested, "ConvNeXt's stem is a nested Sequential"
    prefix = nested[0]["name"].split("/")[0]
    nested = [r for r in nested if r["name"].startswith(prefix + "/")]
    result = run(
        "report", str(CONVNEXT), "--format", "csv", "--depth", "0", "--columns", "name,params,macs"
    )
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert not any("/" in name for name in rows)
    assert int(rows[prefix]["params"]) == sum(r["params"] for r in nested)
    assert int(rows[prefix]["macs"]) == sum(r["macs"] for r in nested)


def test_by_type_totals_add_up():
    data = _json("report", str(RESNET), "--format", "json")
    result = run("report", str(RESNET), "--format", "csv", "--by-type")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sum(int(r["count"]) for r in rows) == len(data["layers"])
    assert sum(int(r["params"]) for r in rows) == data["totals"]["params"]
    conv = next(r for r in rows if r["type"] == "Conv2D")
    assert int(conv["count"]) == sum(1 for r in data["layers"] if r["type"] == "Conv2D")


@pytest.mark.parametrize(
    "units,expected", [("raw", "5,392,494"), ("K", "5392.49K"), ("M", "5.39M"), ("auto", "5.39M")]
)
def test_units(units, expected):
    result = run("report", str(SEED), "--units", units, "--no-color")
    assert result.returncode == 0
    assert expected in result.stdout


def test_output_file(tmp_path):
    out = tmp_path / "r.md"
    result = run("report", str(SEED), "--format", "markdown", "--output", str(out))
    assert result.returncode == 0 and result.stdout == ""
    text = out.read_text()
    assert "| conv2d | Conv2D |" in text and "5,392,494" in text


def test_output_to_unwritable_place_is_one_line(tmp_path):
    result = run("report", str(SEED), "--output", str(tmp_path / "no" / "such" / "dir.txt"))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1


def test_no_color_has_no_escape_codes():
    result = run("report", str(SEED), "--no-color")
    assert "\x1b[" not in result.stdout


def test_diff_same_model_two_sizes():
    data = _json("diff", str(SEED), str(SEED), "--b-input-shape", "128,128,3", "--format", "json")
    assert data["totals"]["params"]["delta"] == (14 * 14 - 30 * 30) * 128 * 46
    conv = next(r for r in data["layers"] if r["a"] == "conv2d")
    assert conv["macs_delta"] == 3 * 3 * 3 * 32 * (126 * 126 - 254 * 254)
    table = run("diff", str(SEED), str(SEED), "--b-input-shape", "128,128,3", "--no-color")
    assert table.returncode == 0 and "5,392,494 -> 1,247,342" in table.stdout


def test_diff_matches_by_name_then_position():
    data = _json("diff", str(SEED), str(RESNET), "--format", "json")
    assert data["layers"][0]["a"] == "input_layer" and data["layers"][0]["b"] == "input_layer"
    assert len(data["layers"]) == len(_json("report", str(RESNET), "--format", "json")["layers"])


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "seed.png"
    result = run("plot", str(SEED), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_version_and_help():
    from cnncost import __version__

    assert run("--version").stdout.strip() == f"cnncost {__version__}"
    assert "report" in run("help").stdout
    assert "--input-shape" in run("help", "report").stdout
    assert run("help", "nope").returncode == 2


def test_batch_scales_compute_and_activations_not_params():
    one = _json("report", str(SEED), "--format", "json")["totals"]
    four = _json("report", str(SEED), "--format", "json", "--batch", "4")["totals"]
    assert four["macs"] == 4 * one["macs"] and four["flops"] == 4 * one["flops"]
    assert four["activation_bytes"] == 4 * one["activation_bytes"]
    assert four["params"] == one["params"] and four["weight_bytes"] == one["weight_bytes"]


def test_flops_convention_is_stated_and_changes_the_count():
    full = _json("report", str(SEED), "--format", "json")
    tf = _json("report", str(SEED), "--format", "json", "--flops-convention", "tf-profiler")
    assert tf["conventions"]["flops"] == "tf-profiler" and full["conventions"]["flops"] == "full"
    # Conv2D: the profiler counts 2*MACs and the bias add, but not the fused ReLU (activations 0).
    conv_full = full["layers"][1]["flops"]
    conv_tf = tf["layers"][1]["flops"]
    assert conv_tf == 2 * 3 * 3 * 3 * 32 * 254 * 254 + 254 * 254 * 32
    assert conv_full > conv_tf
    assert run("report", str(SEED), "--flops-convention", "fvcore").returncode == 2


def test_padding_aware_counts_fewer_taps_on_same_padding():
    plain = _json("report", str(RESNET), "--format", "json")["totals"]["macs"]
    aware = _json("report", str(RESNET), "--format", "json", "--padding-aware")["totals"]["macs"]
    assert 0 < aware < plain
    seed = _json("report", str(SEED), "--format", "json", "--padding-aware")["totals"]["macs"]
    assert seed == 614_461_824  # valid padding everywhere: no tap falls on padding


def test_dtype_policy_halves_activation_bytes_not_variables():
    fp32 = _json("report", str(SEED), "--format", "json")["totals"]
    mixed = _json("report", str(SEED), "--format", "json", "--dtype", "mixed_float16")["totals"]
    assert mixed["activation_bytes"] * 2 == fp32["activation_bytes"]
    assert mixed["weight_bytes"] == fp32["weight_bytes"] == 5_392_494 * 4


def test_conventions_command():
    rows = json.loads(run("conventions", "--format", "json").stdout)
    keys = {row["key"] for row in rows}
    assert "bias" in keys and any(k.startswith("activation:") for k in keys)
    assert run("conventions").returncode == 0


def test_view_flags_with_json_are_refused_not_ignored():
    result = run("report", str(SEED), "--format", "json", "--top", "3")
    assert result.returncode == 2
    assert "--top" in result.stderr and "whole report" in result.stderr
