"""Census of the zoo tier: every kimm model, every keras-hub vision backbone and the keras.ops
models of tests/zoo, each run through cnncost live and from its `.keras` file.

Per model: complete or not, the rows cnncost cannot cost grouped by cause (class name + reason),
rows whose numbers differ from Keras's, errors, and the time to build and to analyse. Three ways
of analysing each model:

- `live`: `cnncost.analyze(model)` on the model as the package builds it (a Functional subclass
  for kimm and keras-hub);
- `graph`: `cnncost.analyze(keras.Model(model.inputs, model.outputs))`, the same graph as a plain
  Functional model: what cnncost makes of the layers beneath a refusal of the subclass;
- `file`: a config-only `.keras` file analysed with `trust_model_code=True` (when this cnncost
  has the flag; without it otherwise).

    python benchmarks/zoo_census.py [--only kimm|keras_hub|ops] [--limit N] [NAME ...]
        [--json census.json] [--markdown census.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT))  # cnncost from PYTHONPATH / the install first, else this checkout

from zoo.catalog import KERAS_HUB_MODELS, KIMM_ZOO, build_keras_hub, build_kimm  # noqa: E402
from zoo.harness import model_from_file  # noqa: E402
from zoo.ops_models import OPS_MODELS  # noqa: E402
from zoo.reference import graph_params, mismatches, unknown_rows  # noqa: E402


def _generic(message: str) -> str:
    """An error message with model-specific names and numbers blanked, to group by cause."""
    message = message.strip().splitlines()[0] if message.strip() else message
    message = re.sub(r"'[^']*'", "'…'", message)
    message = re.sub(r"\b\d+\b", "N", message)
    return message[:160]


def _error_cause(error: BaseException) -> str:
    return f"error {type(error).__name__}: {_generic(str(error))}"


def _row_causes(report) -> Counter:
    causes: Counter = Counter()
    for row in unknown_rows(report):
        if row.status == "unsupported":
            reason = str(row.extra.get("reason") or "no reason given").split(": describe it")[0]
            causes[f"unsupported {row.type}: {_generic(str(reason))}"] += 1
        else:
            causes[f"{row.status} (downstream/unknown value) {row.type}"] += 1
    return causes


def _analyse(run, model) -> dict:

    start = time.perf_counter()
    try:
        report = run()
    except Exception as error:  # noqa: BLE001 - the census records every failure
        return {
            "outcome": "error",
            "error": f"{type(error).__name__}: {str(error)[:300]}",
            "causes": {_error_cause(error): 1},
            "traceback": traceback.format_exc(limit=-3)[-800:],
            "time_s": round(time.perf_counter() - start, 3),
        }
    seconds = time.perf_counter() - start
    wrong = mismatches(report, model)
    numeric = [m for m in wrong if m.what in ("missing", "shape", "params")]
    causes = _row_causes(report)
    for m in numeric:
        causes[f"wrong {m.what}"] += 1
    totals_ok = report.totals.get("params") == graph_params(model)
    unknown = unknown_rows(report)
    if not totals_ok and not unknown:
        causes["params total differs from Keras's per-layer params with every row known"] += 1
    complete = not unknown and not numeric and totals_ok and report.complete
    return {
        "outcome": "complete" if complete else "incomplete",
        "rows": len(report.layers),
        "unknown_rows": len(unknown),
        "wrong_rows": len(numeric),
        "wrong_examples": [f"{m.row}: {m.what} ours={m.ours} keras={m.keras}" for m in numeric[:3]],
        "params_total": report.totals.get("params"),
        "totals_ok": totals_ok,
        "complete_field": report.complete,
        "causes": dict(causes),
        "time_s": round(seconds, 3),
    }


def _file_run(model, folder: Path, name: str):
    import keras
    from support.keras_reference import write_config_only

    import cnncost

    path = write_config_only(model, folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.keras")

    def run():
        keras.backend.clear_session()  # automatic layer names restart, as in a fresh process
        return analyse_file()

    def analyse_file():
        try:
            return cnncost.analyze(path, trust_model_code=True)
        except TypeError as error:  # this cnncost has no such option yet
            if "trust_model_code" not in str(error):
                raise
            return cnncost.analyze(path)

    return run, path


def _has_flag() -> bool:
    import inspect

    from cnncost import analysis

    source = inspect.getsource(analysis)
    return "trust_model_code" in source


def census_one(zoo: str, name: str, build, folder: Path) -> dict:
    import keras

    import cnncost

    keras.backend.clear_session()  # also collects garbage (about 0.5 s)
    record: dict = {"zoo": zoo, "name": name}
    start = time.perf_counter()
    try:
        model = build()
    except Exception as error:  # noqa: BLE001
        record.update(build_error=f"{type(error).__name__}: {str(error)[:300]}")
        return record
    record["build_s"] = round(time.perf_counter() - start, 3)
    record["class"] = type(model).__name__
    record["params"] = model.count_params()
    record["live"] = _analyse(lambda: cnncost.analyze(model), model)
    if zoo != "ops":
        plain = keras.Model(model.inputs, model.outputs)
        record["graph"] = _analyse(lambda: cnncost.analyze(plain), model)
    try:
        run, path = _file_run(model, folder, name)
        reference = model_from_file(path)  # what the file means to Keras
    except Exception as error:  # noqa: BLE001
        record["file"] = {
            "outcome": "error",
            "causes": {"error writing the file": 1},
            "error": f"{type(error).__name__}: {str(error)[:300]}",
        }
    else:
        record["file"] = _analyse(run, reference)
    return record


def catalogue(only: str | None, names: list[str]):
    entries = (
        [("kimm", n, lambda n=n: build_kimm(n)) for n in KIMM_ZOO]
        + [("keras_hub", n, lambda n=n: build_keras_hub(n)) for n in KERAS_HUB_MODELS]
        + [("ops", n, build) for n, build in OPS_MODELS.items()]
    )
    if only:
        entries = [e for e in entries if e[0] == only]
    if names:
        entries = [e for e in entries if e[1] in names]
    return entries


# ---- summary ---------------------------------------------------------------------------------


def summarise(records: list[dict]) -> dict:
    out: dict = {"models": len(records), "by_zoo": {}, "causes": {}}
    for zoo in sorted({r["zoo"] for r in records}):
        rs = [r for r in records if r["zoo"] == zoo]
        built = [r for r in rs if "build_error" not in r]
        row: dict = {"models": len(rs), "built": len(built)}
        for way in ("live", "graph", "file"):
            ways = [r[way] for r in built if way in r]
            if not ways:
                continue
            row[way] = {
                "complete": sum(w["outcome"] == "complete" for w in ways),
                "any_unknown_row": sum(w.get("unknown_rows", 0) > 0 for w in ways),
                "wrong_rows": sum(w.get("wrong_rows", 0) > 0 for w in ways),
                "error": sum(w["outcome"] == "error" for w in ways),
                "median_s": _median([w["time_s"] for w in ways]),
                "max_s": max(w["time_s"] for w in ways),
            }
        row["build_median_s"] = _median([r["build_s"] for r in built])
        row["build_max_s"] = max((r["build_s"] for r in built), default=None)
        out["by_zoo"][zoo] = row
    out["causes"] = {way: rank_causes(records, way) for way in ("live", "graph", "file")}
    return out


def _median(values):
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else round((values[mid - 1] + values[mid]) / 2, 3)


def rank_causes(records: list[dict], way: str) -> list[dict]:
    """Causes ranked by how many models they block; `sole` counts models blocked by it alone."""
    models: dict[str, list[str]] = defaultdict(list)
    rows: Counter = Counter()
    sole: Counter = Counter()
    for r in records:
        w = r.get(way)
        if not w or w["outcome"] == "complete":
            continue
        causes = w.get("causes", {})
        for cause, count in causes.items():
            models[cause].append(r["name"])
            rows[cause] += count
        if len(causes) == 1:
            sole[next(iter(causes))] += 1
    ranked = sorted(models, key=lambda c: (-len(models[c]), c))
    return [
        {
            "cause": c,
            "models": len(models[c]),
            "sole_blocker": sole[c],
            "rows": rows[c],
            "examples": models[c][:4],
        }
        for c in ranked
    ]


def markdown(summary: dict, records: list[dict], note: str) -> str:
    lines = [f"Measured: {note}", ""]
    lines.append(
        "| zoo | models | built | way | complete | any unknown row | wrong rows | "
        "error | median s | max s |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for zoo, row in summary["by_zoo"].items():
        for way in ("live", "graph", "file"):
            if way in row:
                w = row[way]
                lines.append(
                    f"| {zoo} | {row['models']} | {row['built']} | {way} | {w['complete']} | "
                    f"{w['any_unknown_row']} | {w['wrong_rows']} | {w['error']} | "
                    f"{w['median_s']} | {w['max_s']} |"
                )
        lines.append(
            f"| {zoo} | | | build | | | | | {row['build_median_s']} | {row['build_max_s']} |"
        )
    for way in ("graph", "live", "file"):
        lines += ["", f"Causes, `{way}` (models blocked, of which by this cause alone; rows):", ""]
        lines.append("| cause | models | sole | rows | e.g. |")
        lines.append("|---|---|---|---|---|")
        for c in summary["causes"][way]:
            cause = c["cause"].replace("|", "\\|")
            lines.append(
                f"| {cause} | {c['models']} | {c['sole_blocker']} | {c['rows']} | "
                f"{', '.join(c['examples'])} |"
            )
    failed = [r for r in records if "build_error" in r]
    if failed:
        lines += ["", "Did not build:", ""]
        lines += [f"- {r['name']}: {r['build_error']}" for r in failed]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--only", choices=["kimm", "keras_hub", "ops"])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--note", default="", help="the branch state measured, for the summary")
    parser.add_argument("--resummarise", type=Path, help="summarise a census JSON again, no runs")
    args = parser.parse_args(argv)
    if args.resummarise:
        data = json.loads(args.resummarise.read_text())
        print(markdown(summarise(data["models"]), data["models"], args.note or "(no note)"))
        return 0
    entries = catalogue(args.only, args.names)[: args.limit]
    records = []
    with tempfile.TemporaryDirectory() as folder:
        for zoo, name, build in entries:
            start = time.perf_counter()
            record = census_one(zoo, name, build, Path(folder))
            record["total_s"] = round(time.perf_counter() - start, 3)
            records.append(record)
            ways = " ".join(
                f"{w}={record[w]['outcome']}" for w in ("live", "graph", "file") if w in record
            )
            print(
                f"{zoo:9} {name:32} {record['total_s']:7.2f}s {ways or record.get('build_error')}",
                flush=True,
            )
    summary = summarise(records)
    summary["trust_model_code_flag"] = _has_flag()
    import cnncost

    summary["cnncost"] = cnncost.__file__
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "models": records}, indent=1))
    text = markdown(
        summary, records, f"{args.note or '(no note)'}; cnncost from {summary['cnncost']}"
    )
    if args.markdown:
        args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
