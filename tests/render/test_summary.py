"""The summary block, --totals-only, --percent and --units (issue 15, item 2)."""

from __future__ import annotations

import copy
import csv
import io
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnncost
from cnncost.cli import main
from cnncost.render.numbers import human
from cnncost.render.share import share_text
from cnncost.render.summary import bytes_text, summary_block, summary_entries
from cnncost.render.view import make_view

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"
SEED = MODELS / "seed_cnn.keras"
SEED_PARAMS = (
    (3 * 3 * 3 * 32 + 32)
    + (3 * 3 * 32 * 64 + 64)
    + (3 * 3 * 64 * 128 + 128)
    + (30 * 30 * 128 * 46 + 46)
)


@cache
def _seed() -> dict:
    return cnncost.analyze(str(SEED)).to_dict()


def test_bytes_in_decimal_units():
    assert bytes_text(SEED_PARAMS * 4) == "21.6 MB"  # 21,569,976 bytes of float32 weights
    assert bytes_text(999) == "999 B" and bytes_text(1000) == "1 KB"
    assert bytes_text(3 * 10**9) == "3 GB" and bytes_text(None) == "?"


def test_summary_entries_of_the_seed():
    entries = dict(summary_entries(_seed()))
    assert entries["params"] == f"5.39M ({SEED_PARAMS:,})"
    assert entries["compute"] == "MACs 614M, FLOPs 1.24G, train FLOPs 3.59G"
    assert entries["memory"].startswith("weights 21.6 MB, activations 18.9 MB (peak 10.3 MB)")
    # the dense head sees the whole image; the last local RF is the last pooling's 22 px
    assert entries["RF"] == "global; last local 22/8 at max_pooling2d_2 (input 256x256x3)"
    assert entries["heaviest"].startswith("FLOPs: conv2d_1 46.7%")


def test_lower_bounds_are_marked_in_the_summary():
    data = copy.deepcopy(_seed())
    data["left_out"] = {"flops": ["conv2d"]}
    assert "FLOPs ≥1.24G" in dict(summary_entries(data))["compute"]


def test_summary_wraps_under_its_label():
    for line in summary_block(_seed(), 50):
        assert len(line) <= 50 or " " not in line.strip()
        assert line[:10].strip() in ("", "params", "compute", "memory", "RF", "heaviest")


@given(st.integers(1, 10**14), st.sampled_from(["K", "M", "G"]))
def test_fixed_units_never_round_a_count_to_zero(value, unit):
    text = human(value, unit)
    assert text.endswith(unit) and float(text[:-1]) > 0
    number = value / {"K": 1e3, "M": 1e6, "G": 1e9}[unit]
    assert abs(float(text[:-1]) - number) <= max(0.005, number * 0.005)


def test_units_g_on_the_seed_is_not_zero(capsys):
    columns = ("params", "macs", "flops")
    assert main(["report", str(SEED), "--units", "G", "--no-color",
                 "--columns", "name," + ",".join(columns)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    layers = {r["name"]: r for r in _seed()["layers"]}
    rows = [line.strip("│").split("│") for line in out.splitlines() if line.startswith("│")]
    for cells in rows:
        name = cells[0].strip()
        if name not in layers:
            continue  # the total row
        for column, cell in zip(columns, cells[1:], strict=True):
            shown = float(cell.strip().removesuffix("G"))
            assert (shown == 0) == (layers[name][column] == 0), (name, column, cell)
    assert "0.000000896G" in out  # conv2d: 3*3*3*32 + 32 = 896 params


def test_totals_only(capsys):
    assert main(["report", str(SEED), "--totals-only"]) == 0
    out = capsys.readouterr().out
    assert "│" not in out and "conv2d " not in out.split("heaviest")[0]
    assert f"({SEED_PARAMS:,})" in out
    assert main(["report", str(SEED), "--totals-only", "--format", "csv"]) == 0
    rows = {r["total"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert int(rows["params"]["value"]) == SEED_PARAMS and rows["params"]["complete"] == "True"
    assert int(rows["macs"]["value"]) == _seed()["totals"]["macs"]


def test_totals_only_refuses_row_options(capsys):
    assert main(["report", str(SEED), "--totals-only", "--top", "3"]) == 2
    assert "--top" in capsys.readouterr().err


def test_percent_shares_sum_to_one(capsys):
    view = make_view(_seed(), percent=True)
    assert "params_share" in view.columns and "flops_share" in view.columns
    assert sum(r["params_share"] for r in view.rows) == pytest.approx(1.0)
    dense = next(r for r in view.rows if r["name"] == "dense")
    assert dense["params_share"] == (30 * 30 * 128 * 46 + 46) / SEED_PARAMS
    assert main(["report", str(SEED), "--percent", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert float(rows[-1]["params_share"]) == pytest.approx(dense["params_share"])


def test_a_share_column_by_name(capsys):
    assert main(["report", str(SEED), "--format", "csv", "--columns", "name,macs,macs_share"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    conv = next(r for r in rows if r["name"] == "conv2d")
    assert float(conv["macs_share"]) == pytest.approx(254 * 254 * 32 * 3 * 3 * 3 / 614_461_824)


def test_percent_is_unknown_when_the_total_is_a_lower_bound():
    data = copy.deepcopy(_seed())
    data["left_out"] = {"flops": ["conv2d"]}
    view = make_view(data, percent=True)
    assert all(r["flops_share"] is None for r in view.rows)
    assert all(r["params_share"] is not None for r in view.rows)


def test_share_text():
    assert share_text(0.4671) == "46.7%" and share_text(0) == "0%"
    assert share_text(0.00004) == "<0.1%" and share_text(None) == "?"


def test_markdown_summary_is_a_list(capsys):
    assert main(["report", str(SEED), "--format", "markdown", "--totals-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"- params: 5.39M ({SEED_PARAMS:,})" in lines
    assert "|" not in "".join(lines)  # no table
    assert main(["report", str(SEED), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| conv2d | Conv2D |" in out and "- memory: weights 21.6 MB" in out
