"""Golden output: the seed model's table at 80 and 120 columns, exactly as a terminal shows it.

Regenerate after an intended change with `CNNCOST_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden_table.py`, and read the diff before committing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("width", [80, 120])
def test_seed_table_matches_golden(width):
    text = _table(width)
    assert max(len(line) for line in text.splitlines()) <= width
    golden = GOLDEN / f"seed_cnn_table_{width}.txt"
    if os.environ.get("CNNCOST_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_readme_shows_the_current_table():
    readme = (ROOT / "README.md").read_text()
    golden = (GOLDEN / "seed_cnn_table_80.txt").read_text()
    assert "\n".join(line.rstrip() for line in golden.splitlines()) in readme
