"""Two tiers: `pytest` runs the fast tests; `pytest --full` adds the slow ones (marked `slow`).

Slow tests are deselected, not skipped, in the fast tier, so no skipped test is counted as run.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", help="run the full suite, slow tests included")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
