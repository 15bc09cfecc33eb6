"""Every hostile side file and option of tests/support/hostile_side_files.py, through the real
console script under a 2 GiB address-space cap: the expected exit code, at most one stderr line
and never a traceback, within 2 s of CPU time (issue 17's acceptance bound; CPU time, so a
loaded machine does not make it flaky)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys

import pytest

from tests.support.hostile_side_files import cases

CNNCOST = shutil.which("cnncost")
ADDRESS_SPACE = 2 << 30
CPU_SECONDS = 2.0


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("side_files")


@pytest.mark.slow
def test_every_side_file_case_is_bounded_and_one_line(folder):
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    failures = []
    for name, argv, env, code in cases(folder):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(
            [*command, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=folder,
            env={**os.environ, **env},
            preexec_fn=_capped,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        lines = result.stderr.splitlines()
        if (
            result.returncode != code
            or "Traceback" in result.stderr
            or len(lines) > 1
            or (code == 2 and not (lines and lines[0].startswith("cnncost: error: ")))
            or cpu > CPU_SECONDS
        ):
            failures.append((name, result.returncode, round(cpu, 2), result.stderr[-300:]))
    assert not failures, failures
