"""Shared helpers for the reference_model tests (not fixtures: plain functions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_env(**extra: str) -> dict:
    env = dict(os.environ)
    # The package is used from the checkout; an installed copy must not shadow it.
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reference_model", *args],
        cwd=REPO,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen_cli(*args: str, log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "reference_model", *args],
        cwd=REPO,
        env=cli_env(**env),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, text: str) -> None:
    """Exit code 2 and stderr exactly one line, `reference-model: error: ...text...`: no
    traceback and no TensorFlow/absl start-up lines before it."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("reference-model: error:") and text in lines[0], lines[0]


def write_tiny_dataset(root: Path, classes: int = 3, images_per_class: int = 8) -> Path:
    """A few 24-28 px JPEGs per class in the DeepFashion layout, no damaged files: enough for
    seed-gap at 24x24 to train an epoch in about a second."""
    from reference_model.data.synth import SynthSpec, write_synthetic

    spec = SynthSpec(
        classes=classes,
        images_per_class=images_per_class,
        max_size=28,
        min_size=24,
        corrupt=False,
    )
    write_synthetic(root, spec)
    return root
