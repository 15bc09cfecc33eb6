"""Time `cnncost report` against what a user would otherwise run: load the model in Keras and
call `summary()`. Whole processes, cold (a fresh interpreter each run), on the same `.keras` files
(full files with weights, as users have them), median of N runs, printed as ratios in one run.

    python benchmarks/report_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = {"seed_cnn": None, "resnet50": "ResNet50", "efficientnet_b7": "EfficientNetB7"}
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}


def build_files(folder: Path) -> dict[str, Path]:
    """Save each model as a complete `.keras` file (weights included)."""
    code = f"""
import sys, keras
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent / "examples")!r})
from build_models import seed_cnn
for name, app in {MODELS!r}.items():
    model = seed_cnn() if app is None else getattr(keras.applications, app)(weights=None)
    model.save({str(folder)!r} + "/" + name + ".keras")
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV, capture_output=True)
    return {name: folder / f"{name}.keras" for name in MODELS}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=ENV, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = build_files(Path(tmp))
        print(
            f"{'model':<16} {'report (json)':>14} {'report (table)':>15} "
            f"{'keras load+summary':>19} {'ratio (json)':>13}"
        )
        for name, path in files.items():
            ours = [
                timed(["cnncost", "report", str(path), "--format", "json"])
                for _ in range(args.runs)
            ]
            table = [timed(["cnncost", "report", str(path)]) for _ in range(args.runs)]
            keras_code = (
                "import keras; m = keras.saving.load_model("
                f"{str(path)!r}, compile=False); m.summary(print_fn=lambda *a, **k: None)"
            )
            theirs = [timed([sys.executable, "-c", keras_code]) for _ in range(args.runs)]
            a, b = statistics.median(ours), statistics.median(theirs)
            t = statistics.median(table)
            print(f"{name:<16} {a:>13.3f}s {t:>14.3f}s {b:>18.3f}s {b / a:>12.1f}x")


if __name__ == "__main__":
    main()
