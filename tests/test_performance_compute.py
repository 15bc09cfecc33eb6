"""Analysing ResNet50 in-process (Graph already loaded) stays well under 50 ms."""

from __future__ import annotations

import time

from cnncost.analysis import Options, analyze_graph, load_graph


def test_resnet50_analysis_is_fast():
    import keras

    graph = load_graph(keras.applications.ResNet50(weights=None))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        analyze_graph(graph, Options(flops_convention="tf-profiler", padding_aware=True))
        best = min(best, time.perf_counter() - start)
    assert best < 0.050
