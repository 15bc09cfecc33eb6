"""The GPU check behind `scripts/gpu_validate.sh`: measure the seed CNN on this machine's
accelerator through Keras (any backend) and put cnncost's predictions beside the measurements.

Three steps, each its own process (so each has its own device-memory peak, which JAX cannot
reset), then one report:

- `config`: one (model, image size, batch, dtype policy): `profile.profile_model` (per-layer
  latency, whole-model inference, training step, device peak memory) and `validate.validate`
  against cnncost's prediction for each device profile asked for (the datasheet profile first);
- `train-run`: a short real training run of the seed CNN on synthetic DeepFashion data
  (`data.synth`, read back through `data.dataset`, JPEGs decoded with Pillow in a thread pool):
  images/s of `model.fit` after its first (compiling) epoch, the decode rate, the trainer's own
  loaders' rates over the same JPEGs (`loader_rates`), the device peak;
- `report`: every step's JSON into one result JSON and one Markdown page, with per-layer MAPE
  and Spearman per configuration and pooled, whole-model and memory ratios.

No TensorFlow needed (the H200 machine has none): the backend comes from KERAS_BACKEND.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._env import set_backend_default

set_backend_default()

RESULT_SCHEMA = "reference_model.gpu_check/1"


def environment() -> dict[str, Any]:
    """The backend, its devices and versions, and the precision the backend computes float32
    matmuls/convolutions in (JAX on NVIDIA GPUs uses TF32 unless told otherwise)."""
    import keras
    import numpy as np

    from .profile import device_info

    backend = keras.backend.backend()
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "backend": backend,
        "device": device_info(backend),
        "dtype_policy": keras.config.dtype_policy().name,
    }
    if backend == "jax":
        import jax

        env["jax"] = jax.__version__
        env["devices"] = [str(d) for d in jax.devices()]
        env["jax_default_matmul_precision"] = jax.config.jax_default_matmul_precision
    elif backend == "torch":
        import torch

        env["torch"] = torch.__version__
        env["devices"] = [
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        ] or ["cpu"]
        env["allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
    elif backend == "tensorflow":
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
        env["devices"] = [d.name for d in tf.config.list_logical_devices()]
    return env


def split_device(device: str) -> tuple[str, bool]:
    """`h200+tf32` -> ("h200", True): float32 predicted at the TF32 tensor-core peak, which is
    what XLA (JAX) and cuDNN use for float32 convolutions and matmuls on NVIDIA GPUs by default."""
    if device.endswith("+tf32"):
        return device[: -len("+tf32")], True
    return device, False


def devices_for(devices: Sequence[str], dtype: str) -> list[str]:
    """The profiles that mean something for `dtype`: the TF32 variants only for float32."""
    return [d for d in devices if dtype == "float32" or not split_device(d)[1]]


# -- one configuration -------------------------------------------------------------------------


def run_config(
    model_name: str,
    image_size: int,
    batch: int,
    dtype: str,
    repeats: int,
    warmup: int,
    devices: Sequence[str],
) -> dict[str, Any]:
    from cnncost import analyze

    from .profile import build_named_model, profile_model
    from .validate import validate

    model = build_named_model(model_name, image_size, dtype)
    started = time.perf_counter()
    profile = profile_model(
        model, batch=batch, repeats=repeats, warmup=warmup, tf_flops=False, label=model_name
    )
    measured_s = time.perf_counter() - started
    validations = {}
    for device in devices_for(devices, dtype):
        name, tf32 = split_device(device)
        predicted = analyze(model, batch=batch, dtype=dtype, device=name, tf32=tf32).to_dict()
        validations[device] = validate(predicted, profile)
    return {
        "step": "config",
        "precision": os.environ.get("JAX_DEFAULT_MATMUL_PRECISION") or "default",
        "model": model_name,
        "image_size": image_size,
        "batch": batch,
        "dtype": dtype,
        "seconds": round(measured_s, 3),
        "environment": environment(),
        "profile": profile,
        "validations": validations,
    }


# -- a short real training run -----------------------------------------------------------------


def decode_images(files: Sequence[str], size: int, workers: int):
    """uint8 (n, size, size, 3): each JPEG decoded to RGB and resized (bilinear, antialiased),
    decoded in `workers` threads (Pillow releases the GIL while decoding)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from PIL import Image

    def one(path: str):
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return np.stack(list(pool.map(one, files)))


def loader_rates(
    files: Sequence[str],
    labels: Sequence[int],
    boxes: Sequence[tuple[int, int, int, int]],
    size: int,
    batch: int,
) -> dict[str, Any]:
    """Images/s of the trainer's own input pipelines over these JPEGs, as `train` builds them
    (shuffled file names, decode, bilinear antialiased resize to `size`, uint8 batches of
    `batch`), each over one whole pass after a first one (which traces tf.data's functions
    and warms the file cache): the PyDataset loader (Pillow in `min(16, cores)` threads),
    and tf.data where TensorFlow is installed (None otherwise: the H200 machine has none)."""
    from .data.loader import make_loader
    from .data.pipeline import PipelineConfig

    cfg = PipelineConfig((size, size), batch, shuffle=True)

    def timed(passes) -> float:
        passes()  # the first pass: tracing, the OS file cache
        start = time.perf_counter()
        count = passes()
        return count / (time.perf_counter() - start)

    loader = make_loader(files, labels, boxes, cfg)
    rates: dict[str, Any] = {
        "pydataset": timed(lambda: sum(len(loader[i][1]) for i in range(len(loader)))),
        "pydataset_threads": min(16, os.cpu_count() or 1),  # make_loader's default
        "tf_data": None,
    }
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return rates
    from .data.pipeline import make_dataset

    dataset = make_dataset(files, labels, boxes, cfg)
    rates["tf_data"] = timed(lambda: sum(int(y.shape[0]) for _, y in dataset))
    return rates


def run_training(
    image_size: int,
    batch: int,
    dtype: str,
    epochs: int,
    images_per_class: int,
    workdir: str,
    devices: Sequence[str],
) -> dict[str, Any]:
    import keras
    import numpy as np

    from cnncost import analyze

    from .data.dataset import load_dataset, make_labels
    from .data.synth import SynthSpec, write_synthetic
    from .model import takes_uint8
    from .profile import build_named_model, device_peak_bytes

    started = time.perf_counter()
    synth = write_synthetic(
        Path(workdir) / "synth",
        SynthSpec(images_per_class=images_per_class, corrupt=False, min_size=160, max_size=320),
    )
    written_s = time.perf_counter() - started
    dataset = load_dataset(synth.root)
    labels = make_labels(dataset, "official")
    files = [s.file for s in dataset.samples]
    workers = os.cpu_count() or 1
    started = time.perf_counter()
    images = decode_images(files, image_size, workers)
    decode_s = time.perf_counter() - started
    y = np.asarray(labels.labels, dtype="int32")
    classes = len(labels.class_names)
    from .data.pipeline import box_tuple

    loaders = loader_rates(
        files, labels.labels, [box_tuple(s.bbox) for s in dataset.samples], image_size, batch
    )

    keras.utils.set_random_seed(0)
    model = build_named_model("seed", image_size, dtype)
    # uint8 to the device, scaled by the model's first layer, as the trainer's loaders feed it
    x = images if takes_uint8(model) else images.astype("float32") / 255.0
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self._start)

    clock = Clock()
    history = model.fit(
        x, y, batch_size=batch, epochs=epochs, shuffle=True, callbacks=[clock], verbose=2
    )
    steps = -(-len(x) // batch)
    timed = clock.epochs[1:]  # the first epoch compiles the train step
    images_per_s = len(x) * len(timed) / sum(timed) if timed else None
    predictions = {}
    for device in devices_for(devices, dtype):
        name, tf32 = split_device(device)
        totals = analyze(model, batch=batch, dtype=dtype, device=name, tf32=tf32).to_dict()[
            "totals"
        ]
        predictions[device] = {
            "train_step_s": totals["train_step_s"],
            "train_samples_per_s": totals["train_samples_per_s"],
            "train_bytes": totals["train_bytes"],
        }
    return {
        "step": "train-run",
        "model": "seed",
        "image_size": image_size,
        "batch": batch,
        "dtype": dtype,
        "environment": environment(),
        "data": {
            "images": len(x),
            "classes": classes,
            "chance_accuracy": 1 / classes,
            "write_s": round(written_s, 3),
            "decode_s": round(decode_s, 3),
            "decode_workers": workers,
            "decode_images_per_s": len(files) / decode_s,
            # the trainer's loaders over the same files (uint8 batches of `batch`)
            "loader_images_per_s": loaders,
        },
        "epochs": epochs,
        "steps_per_epoch": steps,
        "epoch_seconds": [round(s, 4) for s in clock.epochs],
        "images_per_s": images_per_s,
        "final_loss": float(history.history["loss"][-1]),
        "final_accuracy": float(history.history["accuracy"][-1]),
        "device_peak_bytes": device_peak_bytes(keras.backend.backend()),
        "predicted": predictions,
    }


# -- the report ----------------------------------------------------------------------------------


def _ratio(predicted, measured):
    return None if not predicted or not measured else predicted / measured


def summarise(steps: Sequence[Mapping[str, Any]], primary: str) -> dict[str, Any]:
    """Per configuration: whole-model and memory figures for every device profile, per-layer
    MAPE/Spearman; pooled over all configurations: per-layer MAPE and Spearman per profile."""
    from .validate import mape, spearman

    configs = [s for s in steps if s.get("step") == "config"]
    rows = []
    pooled: dict[str, tuple[list[float], list[float]]] = {}
    for step in configs:
        profile = step["profile"]
        row = {
            "model": step["model"],
            "image_size": step["image_size"],
            "batch": step["batch"],
            "dtype": step["dtype"],
            "precision": step.get("precision", "default"),
            "measured": {
                "inference_s": profile["inference"]["latency_s"],
                "train_step_s": (profile["train_step"] or {}).get("latency_s"),
                "train_samples_per_s": (profile["train_step"] or {}).get("samples_per_s"),
                "train_peak_bytes": (profile["train_step"] or {}).get("device_peak_bytes"),
                "sum_of_layers_s": sum(layer["latency_s"] for layer in profile["layers"]),
            },
            "predicted": {},
        }
        for device, result in step["validations"].items():
            lat, layers, mem = result["latency"], result["layers"], result["memory"]
            row["predicted"][device] = {
                "inference_s": lat["inference"]["predicted"],
                "inference_ratio": lat["inference"]["ratio"],
                "train_step_s": lat["train_step"]["predicted"],
                "train_step_ratio": lat["train_step"]["ratio"],
                "train_bytes": mem["train_step"]["predicted"],
                "train_memory_ratio": mem["train_step"]["ratio"],
                "layers_mape_pct": layers["mape_pct"],
                "layers_spearman": layers["spearman"],
                "layers_median_ratio": layers["median_ratio"],
                "impossible": result["impossible"],
            }
            pred, meas = pooled.setdefault(device, ([], []))
            for r in layers["rows"]:
                if r["predicted"] is not None:
                    pred.append(r["predicted"])
                    meas.append(r["measured"])
        rows.append(row)
    overall = {
        device: {"layers": len(p), "mape_pct": mape(p, m), "spearman": spearman(p, m)}
        for device, (p, m) in pooled.items()
    }
    whole = {}
    for device in overall:
        pairs = [
            (r["predicted"][device][f"{k}_s"], r["measured"][f"{k}_s"])
            for r in rows
            if device in r["predicted"]
            for k in ("inference", "train_step")
            if r["measured"][f"{k}_s"] and r["predicted"][device][f"{k}_s"] is not None
        ]
        whole[device] = {
            "pairs": len(pairs),
            "mape_pct": mape([p for p, _ in pairs], [m for _, m in pairs]),
            "spearman": spearman([p for p, _ in pairs], [m for _, m in pairs]),
        }
    return {"primary_device": primary, "configs": rows, "layers": overall, "whole_model": whole}


def _ms(value) -> str:
    return "-" if value is None else f"{value * 1e3:.3f}"


def _x(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mib(value) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


NO_PEAK = "not reported by this backend"


def _peak(value) -> str:
    """A measured device peak in MiB, or why there is none: the backend reports no device
    memory (a CPU: TensorFlow and jax report a peak for GPUs only), never a number then."""
    return NO_PEAK if value is None else f"{_mib(value)} MiB"


def markdown(result: Mapping[str, Any]) -> str:
    env = result.get("environment") or {}
    summary = result["summary"]
    lines = [
        "# GPU check: cnncost's predictions against the measured device",
        "",
        f"Measured on **{(env.get('device') or {}).get('name', '?')}** with Keras "
        f"{env.get('keras', '?')} on the `{env.get('backend', '?')}` backend"
        + (f" (jax {env['jax']}, {env.get('devices')})" if env.get("jax") else "")
        + f", {result.get('started_utc', '?')}. Script time {result.get('seconds', '?')} s; "
        f"steps that did not finish: {', '.join(result.get('missing', [])) or 'none'}.",
        "",
        result.get(
            "primary_note",
            f"Primary prediction: cnncost device profile `{summary['primary_device']}` (the "
            "datasheet figures), as first predicted; other profiles are listed apart.",
        ),
        "",
        "## Per-layer latency, pooled over every configuration",
        "",
        "| device profile | layers | MAPE | Spearman |",
        "| --- | ---: | ---: | ---: |",
    ]
    for device, k in summary["layers"].items():
        lines.append(
            f"| {device} | {k['layers']} | "
            + ("-" if k["mape_pct"] is None else f"{k['mape_pct']:.0f}%")
            + " | "
            + ("-" if k["spearman"] is None else f"{k['spearman']:.3f}")
            + " |"
        )
    lines += [
        "",
        "## Whole model (inference, training step) and training memory",
        "",
        "Times in ms (median); ratio = predicted / measured; memory in MiB (device peak during "
        "the training step vs cnncost's training bytes: weights, gradients, Adam slots, kept "
        "activations).",
        "",
        "| config | profile | inference pred. | meas. | ratio | train step pred. | meas. | "
        "ratio | layers MAPE | Spearman | train mem. pred. | meas. peak | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summary["configs"]:
        name = f"{row['model']} {row['image_size']}px b{row['batch']} {row['dtype']}"
        if row["precision"] != "default":
            name += f" ({row['precision']} precision)"
        m = row["measured"]
        for device, p in row["predicted"].items():
            lines.append(
                f"| {name} | {device} | {_ms(p['inference_s'])} | {_ms(m['inference_s'])} | "
                f"{_x(p['inference_ratio'])} | {_ms(p['train_step_s'])} | "
                f"{_ms(m['train_step_s'])} | {_x(p['train_step_ratio'])} | "
                + ("-" if p["layers_mape_pct"] is None else f"{p['layers_mape_pct']:.0f}%")
                + " | "
                + ("-" if p["layers_spearman"] is None else f"{p['layers_spearman']:.3f}")
                + f" | {_mib(p['train_bytes'])} | "
                + (NO_PEAK if m["train_peak_bytes"] is None else _mib(m["train_peak_bytes"]))
                + f" | {_x(p['train_memory_ratio'])} |"
            )
    train = result.get("train_run")
    if train:
        data = train["data"]
        lines += [
            "",
            "## A short real training run (seed CNN, synthetic DeepFashion data)",
            "",
            f"{data['images']} synthetic images, {data['classes']} classes, "
            f"{train['image_size']} px, batch {train['batch']}, {train['dtype']}, "
            f"{train['epochs']} epochs of {train['steps_per_epoch']} steps from host memory; "
            f"epoch seconds {train['epoch_seconds']} (the first compiles).",
            "",
            f"- measured: **{train['images_per_s']:,.0f} images/s** (epochs 2 on), final "
            f"training accuracy {train['final_accuracy']:.3f} (chance "
            f"{data['chance_accuracy']:.3f}), device peak {_peak(train['device_peak_bytes'])}"
            if train["images_per_s"]
            else "- measured: too few epochs to time",
            f"- JPEG decode + resize with Pillow, {data['decode_workers']} threads: "
            f"{data['decode_images_per_s']:,.0f} images/s",
        ]
        rates = data.get("loader_images_per_s")
        if rates:
            tf_rate = rates.get("tf_data")
            lines.append(
                f"- the trainer's loaders (uint8 batches of {train['batch']}, shuffled, "
                f"{train['image_size']} px): PyDataset ({rates['pydataset_threads']} threads) "
                f"{rates['pydataset']:,.0f} images/s; tf.data "
                + (
                    "not measured (no TensorFlow)"
                    if tf_rate is None
                    else f"{tf_rate:,.0f} images/s"
                )
            )
        for device, p in train["predicted"].items():
            lines.append(
                f"- predicted ({device}): {p['train_samples_per_s']:,.0f} images/s "
                f"(train step {_ms(p['train_step_s'])} ms), training memory "
                f"{_mib(p['train_bytes'])} MiB"
            )
    calibrated = result.get("calibrated_device")
    if calibrated:
        peaks = ", ".join(
            f"{k} {v / 1e12:.1f} TFLOP/s" for k, v in (calibrated.get("peak_flops") or {}).items()
        )
        lines += [
            "",
            "## This machine's measured roofline (`cnncost calibrate --engine keras`)",
            "",
            f"{peaks}; bandwidth {calibrated.get('bandwidth', 0) / 1e9:,.0f} GB/s; per-op "
            f"overhead {calibrated.get('overhead_s', 0) * 1e6:.1f} us; call overhead "
            f"{(calibrated.get('call_overhead_s') or 0) * 1e6:.1f} us.",
        ]
    return "\n".join(lines) + "\n"


def build_report(workdir: Path, primary: str, started_utc: str, seconds: float | None) -> dict:
    steps, broken = [], []
    for path in sorted(workdir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            broken.append(f"{path.name}: {exc}")
            continue
        if isinstance(data, dict) and data.get("step"):
            steps.append(data)
    expected = []
    plan = workdir / "plan.txt"
    if plan.is_file():
        expected = [line.strip() for line in plan.read_text().splitlines() if line.strip()]
    done = {path.stem for path in workdir.glob("*.json")}
    calibrated = {}
    for name in ("measured", "measured-kinds"):
        path = workdir / "devices" / f"{name}.json"
        try:
            calibrated[name] = json.loads(path.read_text()) if path.is_file() else None
        except (OSError, json.JSONDecodeError) as exc:
            broken.append(f"{path.name}: {exc}")
            calibrated[name] = None
    train = next((s for s in steps if s["step"] == "train-run"), None)
    env = next((s["environment"] for s in steps if s.get("environment")), None)
    return {
        "schema": RESULT_SCHEMA,
        "started_utc": started_utc,
        "seconds": seconds,
        "environment": env,
        "missing": [name for name in expected if name not in done],
        "unreadable": broken,
        "summary": summarise(steps, primary),
        "train_run": train,
        "calibrated_device": calibrated["measured"],
        "calibrated_kinds": calibrated["measured-kinds"],
        "steps": steps,
    }


# -- afterwards: other device profiles, figures -----------------------------------------------------


def revalidate(result: Mapping[str, Any], devices: Sequence[str]) -> dict[str, Any]:
    """The same measurements (every `config` step of a result) against other device profiles,
    e.g. the profile calibrated on the machine itself: a later change kept apart from the first
    prediction. Builds each model again (Keras on any backend, no accelerator needed)."""
    from cnncost import analyze
    from cnncost.errors import CnnCostError

    from .profile import build_named_model
    from .validate import validate

    steps, skipped = [], []
    for step in result["steps"]:
        if step.get("step") != "config":
            continue
        import keras

        keras.backend.clear_session()  # layer names as in the fresh process that measured
        model = build_named_model(step["model"], step["image_size"], step["dtype"])
        validations = {}
        for device in devices_for(devices, step["dtype"]):
            name, tf32 = split_device(device)
            try:
                predicted = analyze(
                    model, batch=step["batch"], dtype=step["dtype"], device=name, tf32=tf32
                ).to_dict()
            except CnnCostError as exc:  # e.g. a profile calibrated for float32 only
                skipped.append(f"{device} b{step['batch']} {step['dtype']}: {exc}")
                continue
            validations[device] = validate(predicted, step["profile"])
        steps.append({**step, "validations": validations})
    return {
        "schema": RESULT_SCHEMA,
        "revalidated_from": result.get("started_utc"),
        "started_utc": result.get("started_utc"),
        "seconds": result.get("seconds"),
        "primary_note": (
            "A later prediction, not the first: the same measurements against device profiles "
            f"{', '.join(f'`{d}`' for d in devices)} (calibrated afterwards)."
        ),
        "environment": result.get("environment"),
        "summary": summarise(steps, devices[0]),
        "skipped": skipped,
        "steps": steps,
    }


def plot_layers(result: Mapping[str, Any], device: str, path: str, title: str = "") -> None:
    """Per-layer predicted vs measured, every configuration pooled, log-log, with y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"float32": "tab:blue", "mixed_bfloat16": "tab:red", "bfloat16": "tab:orange"}
    fig, ax = plt.subplots(figsize=(6.5, 6))
    values = []
    for step in result["steps"]:
        if step.get("step") != "config" or device not in step["validations"]:
            continue
        rows = [r for r in step["validations"][device]["layers"]["rows"] if r["predicted"]]
        precision = step.get("precision", "default")
        label = f"b{step['batch']} {step['dtype']}" + (
            "" if precision == "default" else f" ({precision})"
        )
        ax.scatter(
            [r["measured"] for r in rows],
            [r["predicted"] for r in rows],
            s=22 if step["batch"] > 32 else 12,
            marker="x" if precision != "default" else "o",
            c=colours.get(step["dtype"], "tab:gray"),
            alpha=0.75,
            label=label,
        )
        values += [v for r in rows for v in (r["measured"], r["predicted"])]
    if values:
        low, high = min(values) / 1.5, max(values) * 1.5
        ax.plot([low, high], [low, high], "k-", lw=1, label="predicted = measured")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured per-layer time (s, median, each layer alone)")
    ax.set_ylabel(f"predicted (roofline, device {device}) (s)")
    layers = result["summary"]["layers"].get(device) or {}
    mape_pct, rho = layers.get("mape_pct"), layers.get("spearman")
    ax.set_title(
        (title + "\n" if title else "")
        + f"{layers.get('layers', 0)} layer timings: MAPE "
        + ("-" if mape_pct is None else f"{mape_pct:.0f}%")
        + ", Spearman "
        + ("-" if rho is None else f"{rho:.3f}"),
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_whole(result: Mapping[str, Any], devices: Sequence[str], path: str) -> None:
    """Whole-model inference and training step: measured and predicted bars per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["summary"]["configs"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=False)
    for ax, kind in zip(axes, ("inference", "train_step")):
        names = [
            f"b{r['batch']} {r['dtype']}"
            + ("" if r.get("precision", "default") == "default" else f"\n({r['precision']})")
            for r in rows
        ]
        series = [("measured", [r["measured"][f"{kind}_s"] for r in rows])]
        for device in devices:
            series.append(
                (
                    f"predicted ({device})",
                    [(r["predicted"].get(device) or {}).get(f"{kind}_s") for r in rows],
                )
            )
        width = 0.8 / len(series)
        for i, (label, ys) in enumerate(series):
            xs = [k + i * width for k in range(len(rows))]
            ax.bar(
                [x for x, y in zip(xs, ys) if y],
                [y * 1e3 for y in ys if y],
                width,
                label=label,
            )
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(rows))])
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("ms")
        ax.set_title("inference (model call)" if kind == "inference" else "training step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reference_model.gpu_check")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("config")
    c.add_argument("--model", default="seed")
    c.add_argument("--image-size", type=int, default=256)
    c.add_argument("--batch", type=int, default=32)
    c.add_argument("--dtype", default="float32")
    c.add_argument("--repeats", type=int, default=20)
    c.add_argument("--warmup", type=int, default=5)
    c.add_argument("--devices", default="h200,h200+tf32")
    c.add_argument("--out", required=True)
    t = sub.add_parser("train-run")
    t.add_argument("--image-size", type=int, default=256)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--dtype", default="mixed_bfloat16")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--images-per-class", type=int, default=40)
    t.add_argument("--workdir", required=True)
    t.add_argument("--devices", default="h200,h200+tf32")
    t.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--workdir", required=True)
    r.add_argument("--primary", default="h200")
    r.add_argument("--started-utc", default="")
    r.add_argument("--seconds", type=float, default=None)
    r.add_argument("--json", dest="json_out", required=True)
    r.add_argument("--md", required=True)
    v = sub.add_parser("revalidate", help="a result's measurements against other profiles")
    v.add_argument("result")
    v.add_argument("--devices", required=True)
    v.add_argument("--json", dest="json_out", required=True)
    v.add_argument("--md")
    f = sub.add_parser("plot", help="per-layer and whole-model figures of a result")
    f.add_argument("result")
    f.add_argument("--device", required=True, help="the profile of the per-layer figure")
    f.add_argument("--layers", required=True, help="PNG: per-layer predicted vs measured")
    f.add_argument("--whole", help="PNG: whole-model bars for --whole-devices")
    f.add_argument("--whole-devices", default="")
    f.add_argument("--title", default="")
    a = p.parse_args(argv)
    if a.command == "revalidate":
        result = revalidate(json.loads(Path(a.result).read_text()), a.devices.split(","))
        Path(a.json_out).write_text(json.dumps(result, indent=1) + "\n")
        if a.md:
            Path(a.md).write_text(markdown(result))
        print(markdown(result))
        return 0
    if a.command == "plot":
        result = json.loads(Path(a.result).read_text())
        plot_layers(result, a.device, a.layers, a.title)
        if a.whole:
            plot_whole(result, [d for d in a.whole_devices.split(",") if d], a.whole)
        return 0
    devices = [d for d in getattr(a, "devices", "").split(",") if d]
    if a.command == "config":
        result = run_config(a.model, a.image_size, a.batch, a.dtype, a.repeats, a.warmup, devices)
    elif a.command == "train-run":
        result = run_training(
            a.image_size, a.batch, a.dtype, a.epochs, a.images_per_class, a.workdir, devices
        )
    else:
        result = build_report(Path(a.workdir), a.primary, a.started_utc, a.seconds)
        Path(a.json_out).write_text(json.dumps(result, indent=1) + "\n")
        Path(a.md).write_text(markdown(result))
        print(markdown(result))
        return 0
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
