"""Time `cnncost suggest` as a whole process (cold: a fresh interpreter per run) on ResNet50 and
EfficientNetB0, median of N runs, wall-clock and CPU seconds, with the combinations evaluated.

    python benchmarks/suggest_speed.py [--runs 3] [--pythonpath DIR]

`--pythonpath DIR` times the cnncost of another checkout (e.g. one before the incremental
search) on the same example files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"
CASES = (
    ("resnet50", ["--target-rf", "800"]),
    ("resnet50", ["--target-rf", "2000", "--max-flops", "1e9"]),
    ("efficientnet_b0", ["--target-rf", "1200"]),
)


def timed(command: list[str], env: dict, cwd: str) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (user + system of the child) and the JSON output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, check=True
    )  # cwd: `python -m` puts it first on sys.path
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pythonpath", default=str(ROOT))
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": args.pythonpath}
    print(f"{'model':<16} {'options':<36} {'wall (s)':>9} {'CPU (s)':>8} {'evaluated':>10}")
    for name, options in CASES:
        command = [sys.executable, "-m", "cnncost", "suggest", str(MODELS / f"{name}.keras")]
        command += [*options, "--format", "json"]
        runs = [timed(command, env, args.pythonpath) for _ in range(args.runs)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        evaluated = runs[0][2].get("combinations_evaluated", "-")
        print(f"{name:<16} {' '.join(options):<36} {wall:>9.2f} {cpu:>8.2f} {evaluated!s:>10}")


if __name__ == "__main__":
    main()
