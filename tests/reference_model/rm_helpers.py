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


def run_script(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """The installed `reference-model` console script, as a user runs it (this checkout's code
    first on PYTHONPATH); `python -m reference_model` where the script is not installed."""
    import shutil

    script = shutil.which("reference-model")
    command = [script] if script else [sys.executable, "-m", "reference_model"]
    return subprocess.run(
        [*command, *args],
        cwd=REPO,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_last_line_error(proc: subprocess.CompletedProcess, text: str) -> None:
    """Exit 2, no traceback, and the error as the last stderr line (TensorFlow's C++ start-up
    lines may precede an error found after it loads)."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("reference-model: error:") and text in last, last


def list_images(root: Path, names: list[str], category: int = 1) -> None:
    """Append rows naming `names` (category `category`) to the dataset's image list, as a
    hostile or damaged annotation file would (the declared count is kept right)."""
    path = root / "Anno" / "list_category_img.txt"
    lines = path.read_text(encoding="latin-1").splitlines()
    rows = [line for line in lines[2:] if line.strip()] + [f"{n} {category}" for n in names]
    text = "\n".join([str(len(rows)), lines[1], *rows]) + "\n"
    path.write_text(text, encoding="latin-1")


def jpeg_bytes(width: int = 16, height: int = 12, **save) -> bytes:
    """A real JPEG (Pillow) of that size."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(width * 7919 + height)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", **save)
    return buf.getvalue()


def with_frame_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOFn) claiming width x height: a decompression bomb when
    large (a few hundred bytes that ask the decoder for width * height * 3 bytes)."""
    out = bytearray(data)
    i = 2
    while i + 4 <= len(out):
        marker, length = out[i + 1], int.from_bytes(out[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            out[i + 5 : i + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
            return bytes(out)
        i += 2 + length
    raise AssertionError("no frame header")


def tiny_config(data, out, **changes):
    """A one-epoch TrainConfig on a tiny dataset (seed-gap at 24x24, no evaluation)."""
    from dataclasses import replace

    from reference_model.train import TrainConfig

    cfg = TrainConfig(
        data=str(data),
        out=str(out),
        model="seed-gap",
        image_size=24,
        batch_size=4,
        epochs=1,
        verbose="0",
        evaluate=False,
    )
    return replace(cfg, **changes)


def damaged_jpeg(data: bytes, how: str = "quant") -> bytes:
    """The JPEG with its entropy-coded data made undecodable while every byte the scan reads (start
    and end markers, frame header) stays valid, as a bit flip inside a downloaded file leaves
    it: `quant`, the frame's components name quantization table 3, which the file does not
    define; `huff`, the first Huffman table's code counts overflow (libjpeg: "Bogus Huffman
    table definition"). Both TensorFlow's and Pillow's decoders refuse it."""
    out = bytearray(data)
    i = 2
    while i + 4 <= len(out) and out[i + 1] != 0xDA:  # up to the scan
        marker, length = out[i + 1], int.from_bytes(out[i + 2 : i + 4], "big")
        if how == "quant" and marker == 0xC0:
            for c in range(out[i + 9]):  # (id, sampling, table) per component from i + 10
                out[i + 10 + 3 * c + 2] = 3
            return bytes(out)
        if how == "huff" and marker == 0xC4:
            out[i + 5 : i + 21] = bytes([255] * 16)  # 16 code counts after the class/id byte
            return bytes(out)
        i += 2 + length
    raise AssertionError(f"no {how} segment")
