"""Run analyses of mutated configs under a memory cap and report each one's outcome and time.

Usage: `python hostile_worker.py < cases.json`, where each case is
`{"config": <model config> | "file": <.keras path>, "edits": [[path, value], ...],
"padding_aware": bool}`, or `{"argv": [...]}` for a whole `cnncost` command run in-process
(`cnncost.cli.main`). Prints one JSON line per case: {"outcome": "report" | "error" | "memory" |
"crash" | "hang", "seconds": float, "message": str}; a command case also gives "exit" (its exit
code), "cpu_seconds" (its CPU time), "json_ok" (whether its stdout, when `--format json`, is valid RFC 8259 JSON) and
"stderr_lines". The address space is capped (RLIMIT_AS, `CNNCOST_HOSTILE_AS_BYTES`, default
2 GiB) before cnncost is imported, so a run that tries to allocate more fails with MemoryError
("memory") instead of taking the machine down; a case still running after
`CNNCOST_HOSTILE_ALARM_S` seconds (default 20) is stopped and reported as "hang".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import sys
import time
import zipfile

LIMIT = int(os.environ.get("CNNCOST_HOSTILE_AS_BYTES", 2 << 30))
ALARM_S = int(os.environ.get("CNNCOST_HOSTILE_ALARM_S", 20))
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


class _Hang(BaseException):
    """Raised by the alarm: not an Exception, so no handler in cnncost swallows it."""


def _alarm(signum, frame):
    raise _Hang()


def _warm_up() -> None:
    """Import what the commands import lazily (matplotlib, sympy, rich), so a case's time is
    its own work, not a first import."""
    import cnncost.advise  # noqa: F401
    import cnncost.audit  # noqa: F401
    import cnncost.plot  # noqa: F401
    import cnncost.render.table  # noqa: F401
    import cnncost.symbolic  # noqa: F401

    with contextlib.suppress(ImportError):
        import matplotlib.pyplot  # noqa: F401


def _strict_json(text: str) -> bool:
    def refuse(token):
        raise ValueError(token)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return False
    return True


def run_command(case) -> dict:
    from cnncost.cli import main

    argv = case["argv"]
    out, err = io.StringIO(), io.StringIO()
    started, cpu_started = time.perf_counter(), time.process_time()
    signal.alarm(ALARM_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        outcome, message = ("report" if code in (0, 1) else "error"), err.getvalue().strip()
    except _Hang:
        code, outcome, message = None, "hang", f"still running after {ALARM_S} s"
    except MemoryError:
        code, outcome, message = None, "memory", "MemoryError"
    except BaseException as exc:  # a crash (or SystemExit) is what the caller checks for
        code, outcome, message = None, "crash", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    stdout = out.getvalue()
    wants_json = "--format" in argv and argv[argv.index("--format") + 1 :][:1] == ["json"]
    return {
        "outcome": outcome,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "message": message[:2000],
        "exit": code,
        "stderr_lines": len(err.getvalue().splitlines()),
        "json_ok": (not wants_json or code not in (0, 1) or _strict_json(stdout)),
    }


def main() -> None:
    cases = json.load(sys.stdin)
    if any("argv" in case for case in cases):
        signal.signal(signal.SIGALRM, _alarm)
        _warm_up()
    for case in cases:
        result = run_command(case) if "argv" in case else run(case)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
