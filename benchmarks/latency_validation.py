"""Held-out latency validation (issue 16): one calibration, then every configuration profiled
and validated against three predictors from that one calibration, back to back.

    python benchmarks/latency_validation.py --out DIR [--quick] [--models A,B,...]
        [--device FILE.json] [--accept-noisy] [--estimate-only] [--force]
    python benchmarks/latency_validation.py --revalidate RUN --out DIR [--device FILE.json]

1. `cnncost calibrate --engine keras --kinds` writes DIR/device.json (refused on a busy machine
   unless --accept-noisy; --device FILE uses a stored calibration instead);
2. each configuration of the plan (`PLAN`: the six of docs/validation.md, the four models at
   batch 32, and held-out models no calibration has seen, at batch 1 and 32) is profiled
   (`reference_model.profile.profile_model`: per layer at batch 1, whole model and training step
   at both batches; DIR/profiles/MODEL_bN.json);
3. each profile is validated (`reference_model.validate.validate`) with the device JSON as three
   predictors (`reference_model.validate.PREDICTORS`): `raw` (the roofline alone), `kinds` (the
   per-kind factors) and `shape` (the JSON as written: the shape-dependent `time_model` where
   the calibration wrote one);
4. DIR/latency_validation.json (everything) and DIR/latency_validation.md (the table, with the
   measurement spreads and the goal column: within ±20%, per-layer Spearman >= 0.9) are
   rewritten after every configuration, so an interrupted run keeps what it measured.

Before measuring, every model is built once and cnncost predicts its times with the committed
calibration (`--estimate-device`, default docs/validation/cpu-keras-kinds.device.json): the
estimate of the whole run's wall time is printed (and compared per configuration as it runs).
`--quick`: a tiny plan at 64 px, 2 repeats, a 2-round calibration stored even if noisy (a smoke
test of the harness; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ESTIMATE_DEVICE = ROOT / "docs" / "validation" / "cpu-keras-kinds.device.json"


@dataclass(frozen=True)
class Config:
    """One measured configuration: a model at a batch size, how it is timed."""

    model: str  # a `reference-model profile` MODEL (seed, ResNet50, kimm:RegNetY008)
    batch: int
    image_size: int | None = None  # None: 256 for the seed models, 224 otherwise
    layers: bool = True  # time each layer alone (per-layer MAPE and Spearman)
    repeats: int = 10
    warmup: int = 3
    held_out: bool = False  # a model no calibration or earlier validation used


# Models whose batch-32 training step takes several seconds here (VGG16 ~30 s): 2 timed calls.
SLOW_AT_32 = ("ResNet50", "VGG16", "DenseNet121", "InceptionV3", "Xception", "ConvNeXtTiny")


def _b32(model: str, held_out: bool, image_size: int | None = None) -> Config:
    # batch 32 on 2 cores: whole model and training step only, timed after one warm-up call
    # (which also compiles); 3 timed calls, 2 for the slow models
    repeats = 2 if model in SLOW_AT_32 else 3
    return Config(model, 32, image_size, False, repeats, warmup=1, held_out=held_out)


VALIDATED = ("ResNet50", "MobileNetV2", "EfficientNetB0", "VGG16")  # docs/validation.md
HELD_OUT: tuple[tuple[str, int | None], ...] = (
    ("DenseNet121", None),
    ("InceptionV3", None),
    ("Xception", None),
    ("ConvNeXtTiny", None),
    ("kimm:RegNetY008", None),  # grouped convolutions, squeeze-and-excite
    ("kimm:MobileViTXXS", 256),  # attention (traced), at its native 256 px
)
PLAN: tuple[Config, ...] = (
    Config("seed", 1),
    Config("seed", 32, repeats=5),  # as in docs/validation.md, per layer too
    *(Config(m, 1) for m in VALIDATED),
    *(_b32(m, False) for m in VALIDATED),
    *(c for m, size in HELD_OUT for c in (Config(m, 1, size, held_out=True), _b32(m, True, size))),
)
QUICK_PLAN: tuple[Config, ...] = (
    Config("seed", 1, 64, repeats=2, warmup=1),
    Config("seed", 2, 64, layers=False, repeats=2, warmup=1),
    Config("kimm:RegNetX002", 1, 64, layers=False, repeats=2, warmup=1, held_out=True),
)
CALIBRATE_ARGS = ("--engine", "keras", "--kinds")
QUICK_CALIBRATE_ARGS = ("--repeats", "2", "--matmul-size", "512", "--accept-noisy")

# The estimate (`config_estimate_s`), seconds, from runs on the shared 2-core machine: the
# calibration at its defaults (10 rounds, n = 2048) and at --quick's; compiling each layer alone
# (a tf.function traced per layer); compiling the model's call and its training step, per layer
# and growing with the batch (the first call allocates the activations: MobileNetV2 took ~10 s
# at batch 1 and ~28 s at batch 32 beyond its timed calls); the TF profiler's FLOP count per
# layer (batch 1); and a factor on the timed calls, as the predictions under test have run 0.3
# to 1.7 times the measured times here (estimating with them alone overran at batch 32).
# calibrate --kinds: 38 s before the time model, 88-133 s with it (docs/validation.md)
CALIBRATE_S, QUICK_CALIBRATE_S = 150.0, 60.0
LAYER_COMPILE_S = 0.06
MODEL_COMPILE_S_PER_LAYER, MODEL_COMPILE_S_PER_LAYER_SAMPLE = 0.06, 0.003
PROFILER_S_PER_LAYER = 0.02
SAFETY = 2.0


def slug(model: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in model).strip("-").lower()


def profile_name(config: Config) -> str:
    return f"{slug(config.model)}_b{config.batch}.json"


def config_estimate_s(config: Config, predicted: dict[str, Any]) -> float:
    """Wall time of profiling and validating one configuration, from cnncost's own prediction
    (`predicted`: its report dict at the configuration's batch, with a calibrated device):
    every timed call (warm-up + repeats) of the whole model, the training step and each layer
    alone (the sum of the layers' predicted times, each paying one call overhead), times
    SAFETY, plus the compile and profiler costs above."""
    totals = predicted["totals"]
    layers = sum(1 for r in predicted["layers"] if r["type"] != "InputLayer")
    calls = config.warmup + config.repeats
    call_overhead = predicted["conventions"].get("call_overhead_s") or 0.0
    inference = totals.get("latency_s") or 0.0
    train = totals.get("train_step_s") or 0.0
    seconds = SAFETY * calls * (inference + train)
    seconds += layers * (
        MODEL_COMPILE_S_PER_LAYER + MODEL_COMPILE_S_PER_LAYER_SAMPLE * config.batch
    )
    if config.layers:
        seconds += SAFETY * calls * (inference + layers * call_overhead)
        seconds += layers * LAYER_COMPILE_S
    if config.batch == 1:
        seconds += layers * PROFILER_S_PER_LAYER
    return seconds


# -- running ------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def calibrate(out: Path, quick: bool, accept_noisy: bool) -> dict[str, Any]:
    """`cnncost calibrate --engine keras --kinds` into `out` (a subprocess: the command as a
    user runs it); a refused calibration stops the run (exit 2, its one line)."""
    command = [sys.executable, "-m", "cnncost", "calibrate", *CALIBRATE_ARGS]
    command += ["--name", "heldout", "--out", str(out), "--force"]
    command += list(QUICK_CALIBRATE_ARGS) if quick else (["--accept-noisy"] if accept_noisy else [])
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_child_env())
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"latency_validation: calibration failed ({done.returncode}): {last}")
    return {
        "command": ["cnncost", *command[3:]],
        "elapsed_s": elapsed,
        "output": done.stdout.strip().splitlines(),
    }


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def write_predictor_devices(device_file: Path, out: Path) -> dict[str, dict[str, Any]]:
    """DIR/device.<predictor>.json for each predictor (`strip_device` of the one calibration)."""
    from reference_model.validate import PREDICTORS, strip_device

    device = json.loads(device_file.read_text())
    written = {}
    for predictor, drops in PREDICTORS.items():
        path = out / f"device.{predictor}.json"
        path.write_text(json.dumps(strip_device(device, predictor), indent=2) + "\n")
        written[predictor] = {"device_file": path.name, "drops": list(drops)}
    return written


def build(config: Config):
    from reference_model.profile import build_named_model

    return build_named_model(config.model, config.image_size, "float32")


def plan_estimate(plan: tuple[Config, ...], device: str) -> tuple[list[float], float]:
    """(estimate per configuration, seconds spent building and predicting)."""
    import keras

    from cnncost import analyze

    start = time.perf_counter()
    estimates = []
    for config in plan:
        model = build(config)
        predicted = analyze(model, batch=config.batch, dtype="float32", device=device).to_dict()
        estimates.append(config_estimate_s(config, predicted))
        del model
        keras.backend.clear_session()
    return estimates, time.perf_counter() - start


def measure(config: Config, model) -> dict[str, Any]:
    """Profile one configuration (`reference-model profile`'s measurement)."""
    from reference_model.profile import profile_model

    return profile_model(
        model,
        batch=config.batch,
        repeats=config.repeats,
        warmup=config.warmup,
        layers=config.layers,
        train=True,
        tf_flops=config.batch == 1,
        label=config.model,
    )


def validate_profile(
    config: Config, model, profile: dict[str, Any], devices: dict[str, str], convention
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(validation per predictor, the table's row) of one profile."""
    from cnncost import analyze
    from reference_model.validate import set_row, validate

    results = {
        predictor: validate(
            analyze(model, batch=config.batch, dtype="float32", device=path).to_dict(),
            profile,
            convention if profile.get("tf_profiler") else None,
        )
        for predictor, path in devices.items()
    }
    return results, set_row(config.model, config.batch, results)


def render_markdown(data: dict[str, Any]) -> str:
    """The run as Markdown: machine, calibration, predictors, the table, notes."""
    from reference_model.validate import markdown_table

    predictors = list(data["predictors"])
    calibration = data["calibration"]
    device = calibration.get("device") or {}
    peak = (device.get("peak_flops") or {}).get("float32")
    wall = (data.get("revalidated") or {}).get("measured_elapsed_s", data.get("elapsed_s"))
    spreads = ", ".join(f"{k} {v:.0%}" for k, v in (device.get("spread") or {}).items())
    lines = [
        f"# Held-out latency validation ({data['started_utc']})",
        "",
        f"Machine: {data['machine']['cpu']} ({data['machine']['cpu_count']} CPUs), "
        f"{data['machine']['backend']} / Keras {data['machine']['keras']}; load average "
        f"{data['machine']['load_start']} at the start, {data['machine'].get('load_end')} at "
        f"the end. Wall time {wall or 0:.0f} s (estimated "
        f"{data['estimate_s']:.0f} s).",
        "",
        *(
            [
                f"Validated again on {data['revalidated']['utc']} from "
                f"{data['revalidated']['from']} with {data['revalidated']['device']}: the "
                "measurements are those of the run above (its wall time "
                f"{data['revalidated']['measured_elapsed_s'] or 0:.0f} s), nothing was measured.",
                "",
            ]
            if data.get("revalidated")
            else []
        ),
        "Calibration: `"
        + " ".join(calibration["command"])
        + "`"
        + (f": float32 {peak / 1e9:.0f} GFLOP/s" if peak else "")
        + (f", {device['bandwidth'] / 1e9:.1f} GB/s" if device.get("bandwidth") else "")
        + (", **flagged noisy**" if device.get("noisy") else "")
        + f"; spreads {spreads or 'not recorded'}",
        "",
        "Predictors (the same calibration): "
        + "; ".join(
            f"`{p}` = {info['device_file']}"
            + (f" (without {', '.join(info['drops'])})" if info["drops"] else " (as written)")
            for p, info in data["predictors"].items()
        )
        + "."
        + (
            ""
            if data["shape_model_present"]
            else " The device JSON has no `time_model`: `shape` predicts exactly as `kinds`."
        ),
        "",
        "Errors: predicted / measured - 1. Spread: (max - min) / median of the timed calls.",
        "",
        markdown_table([c["row"] for c in data["configs"] if "row" in c], predictors),
    ]
    notes = []
    for c in data["configs"]:
        name = f"{c['config']['model']} batch {c['config']['batch']}"
        if "error" in c:
            notes.append(f"- {name}: FAILED ({c['error']})")
            continue
        row = c["row"]
        if row["flops_equal"] is False:
            notes.append(f"- {name}: cnncost's tf-profiler FLOPs differ from the TF profiler's")
        if any(row["impossible"].values()):
            notes.append(f"- {name}: measurements below the compute floor {row['impossible']}")
        sources = row["layers"].get("time_sources", {}).get(predictors[-1])
        if sources:
            notes.append(
                f"- {name}: layers predicted by ({predictors[-1]}) "
                + ", ".join(f"{k} {v}" for k, v in sources.items())
            )
    if notes:
        lines += ["Notes:", "", *notes, ""]
    return "\n".join(lines)


def write_outputs(data: dict[str, Any], out: Path) -> None:
    (out / "latency_validation.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "latency_validation.md").write_text(render_markdown(data))


def select(plan: tuple[Config, ...], models: str | None) -> tuple[Config, ...]:
    """The plan's configurations of the `--models` named (all when none)."""
    if not models:
        return plan
    wanted = [m.strip() for m in models.split(",") if m.strip()]
    known = list(dict.fromkeys(c.model for c in plan))
    unknown = [m for m in wanted if m not in known]
    if unknown or not wanted:
        raise SystemExit(
            f"latency_validation: --models {models!r}: not in the plan ({', '.join(known)})"
        )
    return tuple(c for c in plan if c.model in wanted)


def _done_line(entry: dict[str, Any]) -> str:
    from cnncost.render.numbers import seconds_text

    head = f"  {entry.get('elapsed_s', 0):.0f} s"
    if "error" in entry:
        return f"{head}: FAILED {entry['error']}"
    row = entry["row"]
    parts = []
    for key, label in (("inference", "inference"), ("train_step", "train step")):
        part = row[key]
        if part["measured"] is None:
            continue
        errors = ", ".join(f"{p} {e:+.0f}%" for p, e in part["error_pct"].items() if e is not None)
        parts.append(f"{label} {seconds_text(part['measured'])} ({errors})")
    rho = row["layers"]["spearman"]
    if any(v is not None for v in rho.values()):
        parts.append(
            "Spearman " + ", ".join(f"{p} {v:.2f}" for p, v in rho.items() if v is not None)
        )
    goal = row["goal"][list(row["goal"])[-1]]
    verdict = {True: "met", False: "missed", None: "-"}[goal["met"]]
    return f"{head}: " + "; ".join(parts) + f"; goal {verdict}"


def _machine() -> dict[str, Any]:
    import keras

    from reference_model.profile import device_info

    backend = keras.backend.backend()
    info = device_info(backend)
    return {
        "cpu": info["name"],
        "kind": info["kind"],
        "cpu_count": info["cpu_count"],
        "backend": backend,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "load_start": _load(),
    }


def run(args: argparse.Namespace) -> int:
    if args.revalidate:
        return revalidate(args)
    plan = select(QUICK_PLAN if args.quick else PLAN, args.models)
    out = Path(args.out)
    _check_out(out, args.force or args.estimate_only)
    if args.device and not Path(args.device).is_file():
        raise SystemExit(f"latency_validation: --device {args.device}: no such file")
    from reference_model.validate import SET_SCHEMA

    started = time.perf_counter()  # the wall time counts the plan's builds too, as the estimate
    print(f"plan: {len(plan)} configurations; predicting each with {args.estimate_device}")
    estimates, builds_s = plan_estimate(plan, args.estimate_device)
    calibrate_s = 0.0 if args.device else (QUICK_CALIBRATE_S if args.quick else CALIBRATE_S)
    # the plan's builds are spent already; the run builds every model once more
    total = calibrate_s + 2 * builds_s + sum(estimates)
    for config, estimate in zip(plan, estimates):
        timing = (
            f"{'per layer, ' if config.layers else ''}{config.warmup} warm-up + "
            f"{config.repeats} timed calls"
        )
        print(f"  {config.model:<20} batch {config.batch:<3} {timing:<40} ~{estimate:.0f} s")
    print(
        f"estimated wall time: {total / 60:.1f} min (calibration {calibrate_s:.0f} s, model "
        f"builds 2 x {builds_s:.0f} s, measuring {sum(estimates):.0f} s)",
        flush=True,
    )
    if args.estimate_only:
        return 0

    out.mkdir(parents=True, exist_ok=True)
    (out / "profiles").mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "schema": SET_SCHEMA,
        "command": ["benchmarks/latency_validation.py", *sys.argv[1:]],
        "started_utc": _now(),
        "quick": args.quick,
        "machine": _machine(),
        "estimate_s": total,
    }
    device_file = out / "device.json"
    if args.device:
        shutil.copyfile(args.device, device_file)
        calibration: dict[str, Any] = {"command": ["(stored)", str(args.device)], "elapsed_s": 0}
    else:
        print("calibrating: cnncost calibrate " + " ".join(CALIBRATE_ARGS), flush=True)
        calibration = calibrate(device_file, args.quick, args.accept_noisy)
        print(f"  {calibration['elapsed_s']:.0f} s: " + " ".join(calibration["output"][:1]))
    _set_calibration(data, calibration, device_file, out)

    def entry_for(config: Config, estimate: float, model, devices, convention) -> dict:
        entry: dict[str, Any] = {
            "config": asdict(config),
            "estimate_s": estimate,
            "load_before": _load(),
        }
        start = time.perf_counter()
        try:
            profile = measure(config, model)
            path = out / "profiles" / profile_name(config)
            path.write_text(json.dumps(profile, indent=2) + "\n")
            entry["profile"] = f"profiles/{path.name}"
            entry["validations"], entry["row"] = validate_profile(
                config, model, profile, devices, convention
            )
        except Exception as exc:  # a harness: the failure is recorded, the next one runs
            entry["error"] = _error_text(exc)
        entry["elapsed_s"] = time.perf_counter() - start
        entry["load_after"] = _load()
        return entry

    _each_model(list(zip(plan, estimates)), data, out, entry_for, started)
    data["machine"]["load_end"] = _load()
    return _finish(data, out, started, f" (estimated {total / 60:.1f})")


def _check_out(out: Path, replace: bool) -> None:
    if (out / "latency_validation.json").exists() and not replace:
        raise SystemExit(f"latency_validation: {out} holds an earlier run (--force replaces it)")


def _set_calibration(data: dict, calibration: dict, device_file: Path, out: Path) -> None:
    calibration["device"] = json.loads(device_file.read_text())
    data["calibration"] = calibration
    data["predictors"] = write_predictor_devices(device_file, out)
    data["shape_model_present"] = "time_model" in calibration["device"]
    data["configs"] = []


def _each_model(plan, data: dict, out: Path, entry_for, started: float) -> None:
    """Build each model once, then `entry_for(config, estimate, model, devices, convention)`
    for each of its configurations; the outputs rewritten after every one."""
    import gc

    import keras

    from cnncost import analyze

    devices = {p: str(out / info["device_file"]) for p, info in data["predictors"].items()}
    index = 0
    for name in dict.fromkeys(c.model for c, _ in plan):
        group = [(c, e) for c, e in plan if c.model == name]
        model, convention, failure = None, None, None
        try:
            model = build(group[0][0])
            if keras.backend.backend() == "tensorflow" and any(c.batch == 1 for c, _ in group):
                convention = analyze(model, flops_convention="tf-profiler").to_dict()
        except Exception as exc:  # a harness: the failure is recorded, the run goes on
            failure = _error_text(exc)
        for config, estimate in group:
            index += 1
            print(
                f"[{index}/{len(plan)}] {config.model} batch {config.batch}: "
                f"~{estimate:.0f} s (load {_load()[0]})",
                flush=True,
            )
            if failure is not None:
                entry = {"config": asdict(config), "estimate_s": estimate, "error": failure}
                entry["elapsed_s"] = 0.0
            else:
                entry = entry_for(config, estimate, model, devices, convention)
            data["configs"].append(entry)
            data["elapsed_s"] = time.perf_counter() - started
            write_outputs(data, out)
            print(_done_line(entry), flush=True)
        del model
        keras.backend.clear_session()
        gc.collect()


def _finish(data: dict, out: Path, started: float, note: str = "") -> int:
    data["finished_utc"] = _now()
    data["elapsed_s"] = time.perf_counter() - started
    write_outputs(data, out)
    failed = sum("error" in c for c in data["configs"])
    print(
        f"done in {data['elapsed_s'] / 60:.1f} min{note}; wrote "
        f"{out / 'latency_validation.md'} and .json"
        + (f"; {failed} configurations FAILED" if failed else "")
    )
    return 1 if failed else 0


def revalidate(args: argparse.Namespace) -> int:
    """An earlier run's profiles validated again (a new calibration, or cnncost changed since):
    `--revalidate RUN` with RUN/device.json or `--device`, written to `--out`; nothing is
    measured, and each configuration keeps its measurement's times and loads."""
    source = Path(args.revalidate)
    try:
        earlier = json.loads((source / "latency_validation.json").read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"latency_validation: --revalidate {source}: {exc}") from None
    out = Path(args.out)
    if out.resolve() == source.resolve():
        raise SystemExit("latency_validation: --out must differ from --revalidate")
    _check_out(out, args.force)
    device_file = Path(args.device) if args.device else source / "device.json"
    if not device_file.is_file():
        raise SystemExit(f"latency_validation: no device file {device_file}")
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in earlier.items() if k not in ("configs", "finished_utc")}
    data["revalidated"] = {
        "from": str(source),
        "utc": _now(),
        "device": str(device_file),
        "measured_elapsed_s": earlier.get("elapsed_s"),
    }
    calibration = dict(earlier.get("calibration") or {})
    if args.device:
        calibration = {"command": ["(stored)", str(args.device)], "elapsed_s": 0}
    shutil.copyfile(device_file, out / "device.json")
    _set_calibration(data, calibration, out / "device.json", out)
    entries, plan, failed = {}, [], []
    for entry in earlier.get("configs", []):
        config = Config(**entry["config"])
        if args.models and config.model not in args.models.split(","):
            continue
        if "profile" not in entry:
            failed.append(entry)  # it failed when measured: nothing to validate, kept as it is
            continue
        entries[(config.model, config.batch)] = entry
        plan.append((config, entry.get("estimate_s", 0.0)))

    def entry_for(config: Config, estimate: float, model, devices, convention) -> dict:
        entry = dict(entries[(config.model, config.batch)])
        profile = json.loads((source / entry["profile"]).read_text())
        entry["validations"], entry["row"] = validate_profile(
            config, model, profile, devices, convention
        )
        entry.pop("error", None)
        entry["profile"] = str(source / entry["profile"])
        return entry

    _each_model(plan, data, out, entry_for, started)
    data["configs"] += failed
    return _finish(data, out, started, " (revalidated, nothing measured)")


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for the device, profiles, JSON, table")
    p.add_argument("--quick", action="store_true", help="a tiny plan, 2 repeats (smoke test)")
    p.add_argument("--models", help="only these models of the plan (comma-separated)")
    p.add_argument("--device", help="a stored calibration (device JSON) instead of calibrating")
    p.add_argument("--accept-noisy", action="store_true", help="store a noisy calibration")
    p.add_argument("--estimate-device", default=str(ESTIMATE_DEVICE))
    p.add_argument("--estimate-only", action="store_true", help="print the plan and estimate")
    p.add_argument("--force", action="store_true", help="replace an earlier run in --out")
    p.add_argument("--revalidate", metavar="RUN", help="validate an earlier run's profiles again")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run(parse_args()))
