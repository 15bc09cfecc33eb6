"""Run analyses of mutated configs under a memory cap and report each one's outcome and time.

Usage: `python hostile_worker.py < cases.json`, where each case is
`{"config": <model config> | "file": <.keras path>, "edits": [[path, value], ...],
"padding_aware": bool}`. Prints one JSON line per case: {"outcome": "report" | "error" |
"memory" | "crash", "seconds": float, "message": str}. The address space is capped (RLIMIT_AS,
`CNNCOST_HOSTILE_AS_BYTES`, default 2 GiB) before cnncost is imported, so a run that tries to
allocate more fails with MemoryError ("memory") instead of taking the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import zipfile

LIMIT = int(os.environ.get("CNNCOST_HOSTILE_AS_BYTES", 2 << 30))
resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

from cnncost.analysis import Options, analyze_graph  # noqa: E402
from cnncost.errors import CnnCostError  # noqa: E402
from cnncost.loaders.keras_config import graph_from_config  # noqa: E402

_configs: dict[str, str] = {}


def _base(case) -> dict:
    if "config" in case:
        return case["config"]
    path = case["file"]
    if path not in _configs:
        _configs[path] = zipfile.ZipFile(path).read("config.json").decode()
    return json.loads(_configs[path])


def _apply(config: dict, path: list, value) -> None:
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


def run(case) -> dict:
    config = _base(case)
    for path, value in case.get("edits", []):
        _apply(config, path, value)
    started = time.perf_counter()
    try:
        report = analyze_graph(
            graph_from_config(config), Options(padding_aware=case.get("padding_aware", False))
        )
        json.dumps(report.to_dict(), default=str)
        outcome, message = "report", ""
    except CnnCostError as exc:
        outcome, message = "error", str(exc)
    except MemoryError:
        outcome, message = "memory", "MemoryError"
    except Exception as exc:  # a crash is what the caller checks for
        outcome, message = "crash", f"{type(exc).__name__}: {exc}"
    return {"outcome": outcome, "seconds": time.perf_counter() - started, "message": message}


def main() -> None:
    for case in json.load(sys.stdin):
        print(json.dumps(run(case)), flush=True)


if __name__ == "__main__":
    main()
