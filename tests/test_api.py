"""The Python API: analyze() on paths and live models, Report.to_dict / to_dataframe / __rich__."""

from __future__ import annotations

import pytest
from test_cli import SEED

import cnncost
import cnncost.errors


def test_dataframe_round_trips_to_the_json_numbers():
    report = cnncost.analyze(SEED)
    frame = report.to_dataframe()
    data = report.to_dict()
    assert list(frame["name"]) == [r["name"] for r in data["layers"]]
    assert list(frame["params"]) == [r["params"] for r in data["layers"]]
    assert list(frame["macs"]) == [r["macs"] for r in data["layers"]]
    assert int(frame["params"].sum()) == data["totals"]["params"]


def test_rich_renderable():
    from rich.console import Console

    console = Console(record=True, width=120, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(cnncost.analyze(SEED))
    assert "5,392,494" in console.export_text()


def test_input_shape_argument_forms():
    a = cnncost.analyze(SEED, input_shape="128,128,3").totals
    b = cnncost.analyze(SEED, input_shape="1x128x128x3").totals
    c = cnncost.analyze(SEED, input_shape=(128, 128, 3)).totals
    d = cnncost.analyze(SEED, input_shape={"input_layer": (None, 128, 128, 3)}).totals
    assert (
        a["params"] == c["params"] == d["params"] == 14 * 14 * 128 * 46 + 46 + 896 + 18_496 + 73_856
    )
    assert b["macs"] == a["macs"]


def test_wrong_input_rank_is_a_clear_error():
    with pytest.raises(cnncost.errors.CnnCostError, match="rank 4"):
        cnncost.analyze(SEED, input_shape="128,3")


def test_analyze_rejects_other_objects():
    with pytest.raises(cnncost.errors.CnnCostError, match="pass a .keras path"):
        cnncost.analyze(42)


@pytest.mark.slow
def test_api_example_runs():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "examples/api_example.py"], capture_output=True, text=True, cwd=root,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    # MobileNetV2 at 224x224: ~300M multiply-adds, as its paper reports (Table 3: 300M).
    assert "total MACs: 300,774,272" in result.stdout
