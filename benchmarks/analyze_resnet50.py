"""Time `analyze_graph` on ResNet50 (Graph already loaded): best of N runs, in milliseconds.

    python benchmarks/analyze_resnet50.py [runs]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(runs: int = 20) -> None:
    import keras

    from cnncost.analysis import Options, analyze_graph, load_graph

    graph = load_graph(keras.applications.ResNet50(weights=None))
    for label, options in (
        ("full", Options()),
        ("tf-profiler", Options(flops_convention="tf-profiler")),
        ("full --padding-aware", Options(padding_aware=True)),
    ):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            analyze_graph(graph, options)
            times.append(time.perf_counter() - start)
        print(f"ResNet50 analyze_graph ({label}): best {min(times) * 1e3:.1f} ms, "
              f"median {sorted(times)[len(times) // 2] * 1e3:.1f} ms over {runs} runs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
