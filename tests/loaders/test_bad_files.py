"""The corpus of hostile and broken files (`tests/data/bad/`, written by
`tests/data/make_bad_files.py`): each gives exactly the one-line error (exit code 2) or the
`--strict` exit code listed in `EXPECTED.tsv`, in-process and through the console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnncost
from cnncost.errors import CnnCostError

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "bad"
CNNCOST = shutil.which("cnncost")


def _expected() -> list[tuple[str, str, int, str]]:
    rows = []
    for line in (BAD / "EXPECTED.tsv").read_text().splitlines()[1:]:
        name, args, code, message = line.split("\t")
        rows.append((name, args, int(code), message))
    return rows


CASES = _expected()
IDS = [f"{name}{' ' + args if args else ''}" for name, args, _, _ in CASES]


def test_corpus_is_what_the_script_writes(tmp_path):
    """The committed files are the generator's output (so each case is reviewable as code)."""
    script = (ROOT / "tests" / "data" / "make_bad_files.py").read_text()
    copy = tmp_path / "make_bad_files.py"
    copy.write_text(script)
    subprocess.run([sys.executable, str(copy)], check=True, timeout=120)
    generated = tmp_path / "bad"
    assert (generated / "EXPECTED.tsv").read_text() == (BAD / "EXPECTED.tsv").read_text()
    for name, _, _, _ in CASES:
        ours, committed = generated / name, BAD / name
        assert committed.exists(), name
        if name.endswith(".keras"):
            assert ours.read_bytes() == committed.read_bytes(), name


@pytest.mark.parametrize("name, args, code, message", CASES, ids=IDS)
def test_in_process(name, args, code, message):
    path = BAD / name
    if code == 2:
        expected = message.removeprefix("cnncost: error: ").replace("{path}", str(path))
        with pytest.raises(CnnCostError) as caught:
            cnncost.analyze(path)
        assert str(caught.value) == expected
        assert "\n" not in str(caught.value)
    else:
        report = cnncost.analyze(path)
        assert any(row.status == "unsupported" for row in report.layers)
        # never a silent total: what is not counted is named, the total is a lower bound
        unknown = tuple(row.name for row in report.layers if row.params is None)
        assert report.left_out.get("params", ()) == unknown and not report.complete


@pytest.mark.parametrize("name, args, code, message", CASES, ids=IDS)
def test_console_script(name, args, code, message):
    relative = f"tests/data/bad/{name}"
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, not another one
    result = subprocess.run(
        [*command, "report", relative, *args.split()],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env=env,
    )
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if code == 2:
        assert result.stderr == message.replace("{path}", relative) + "\n"
        assert result.stdout == ""
