"""Golden output: tables at 80 and 120 columns, exactly as a terminal shows them.

The seed model through the real console script; ResNet50 and EfficientNetB0 (flat: one row per
layer; grouped: `--group`, one row per block/stage) through `cnncost.cli.main` in this process.

Regenerate after an intended change with `CNNCOST_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden_table.py`, and read the diff before committing it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnncost.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def _table(width: int) -> str:
    env = {**os.environ, "COLUMNS": str(width), "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-m", "cnncost", "report", "examples/models/seed_cnn.keras", "--no-color"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _check(text: str, golden: Path) -> None:
    if os.environ.get("CNNCOST_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("width", [80, 120])
def test_seed_table_matches_golden(width):
    text = _table(width)
    assert max(len(line) for line in text.splitlines()) <= width
    _check(text, GOLDEN / f"seed_cnn_table_{width}.txt")


def _report(monkeypatch, capsys, model: str, width: int, *flags: str) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.chdir(ROOT)  # the title names the file as given: the same in every checkout
    code = main(["report", f"examples/models/{model}.keras", "--no-color", *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


CASES = [
    (model, view, width)
    for model in ("seed_cnn", "resnet50", "efficientnet_b0")
    for view in ("flat", "grouped")
    for width in (80, 120)
    if (model, view) != ("seed_cnn", "flat")  # the console-script test above
]


@pytest.mark.parametrize("model,view,width", CASES)
def test_deep_model_tables_match_golden(monkeypatch, capsys, model, view, width):
    flags = ("--group",) if view == "grouped" else ()
    text = _report(monkeypatch, capsys, model, width, *flags)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    _check(text, GOLDEN / f"{model}_{view}_{width}.txt")


# Each number a cell can hold: counts with a unit (5.39M), shapes (56x56x256), receptive fields
# (19/4, 60..68/8, 851/32*), shares (4.9%). A cut number would leave a fragment that is none.
_CELL = re.compile(
    r"^(≥?\d+(\.\d+)?[KMGT]?|\d+(x\d+)*|[\d.x]+/[\dx]+\*?\??|global|\?|<?\d+(\.\d)?%|)$"
)


@pytest.mark.parametrize("model", ["resnet50", "efficientnet_b0"])
@pytest.mark.parametrize("flags", [(), ("--group",), ("--percent",)])
def test_no_number_is_cut_at_80_columns(monkeypatch, capsys, model, flags):
    text = _report(monkeypatch, capsys, model, 80, *flags)
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert rows
    for line in rows:
        cells = [c.strip() for c in line.strip("│").split("│")]
        for cell in cells[2:]:  # after the name and type
            assert _CELL.match(cell), (cell, line)
        # the name is whole, or shortened in the middle; never wrapped onto a second line
        assert cells[0], line


def test_readme_shows_the_current_table():
    readme = (ROOT / "README.md").read_text()
    golden = (GOLDEN / "seed_cnn_table_80.txt").read_text()
    assert "\n".join(line.rstrip() for line in golden.splitlines()) in readme
