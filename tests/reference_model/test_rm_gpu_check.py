"""The GPU check (reference_model/gpu_check.py, scripts/gpu_validate.sh): the report's pooled
statistics by hand, the device-profile names, static keyword arguments for jax.jit, the
script's backend-before-keras order and its missing-wheel error; slow: a CPU dry run of the
whole script, and `profile` on the jax backend (BatchNormalization, MobileNetV2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rm_helpers import REPO, cli_env

from reference_model.gpu_check import (
    RESULT_SCHEMA,
    build_report,
    devices_for,
    markdown,
    split_device,
    summarise,
)
from reference_model.profile import PROFILE_SCHEMA, split_static_kwargs
from reference_model.validate import mape, spearman, validate

SCRIPT = REPO / "scripts" / "gpu_validate.sh"


def _profile(batch, dtype, layers, inference, train, peak):
    return {
        "schema": PROFILE_SCHEMA,
        "model": "seed",
        "model_name": "seed",
        "backend": "jax",
        "keras_version": "3",
        "python": "3.12",
        "device": {"kind": "gpu", "name": "test gpu"},
        "dtype_policy": dtype,
        "batch": batch,
        "input_shapes": [[batch, 8, 8, 3]],
        "repeats": 3,
        "warmup": 1,
        "params": 10,
        "inference": {"latency_s": inference, "samples_per_s": 1.0, "device_peak_bytes": None},
        "train_step": {
            "latency_s": train,
            "samples_per_s": batch / train,
            "device_peak_bytes": peak,
        },
        "layers": [
            {
                "name": name,
                "type": "Conv2D",
                "input_shapes": [[batch, 8, 8, 3]],
                "output_shapes": [[batch, 8, 8, 3]],
                "latency_s": latency,
                "min_s": latency,
            }
            for name, latency in layers
        ],
        "tf_profiler": None,
        "host_peak_rss_bytes": 1,
    }


def _predicted(device, layers, inference, train, train_bytes):
    return {
        "conventions": {"device": device},
        "totals": {
            "latency_s": inference,
            "floor_s": None,
            "train_step_s": train,
            "train_floor_s": None,
            "train_samples_per_s": 1.0,
            "weight_bytes": 1,
            "peak_activation_bytes": 1,
            "train_bytes": train_bytes,
        },
        "layers": [
            {"name": name, "type": "Conv2D", "latency_s": t, "floor_s": None, "layer_kind": "x"}
            for name, t in layers
        ],
    }


def _config_step(batch, dtype, measured, predicted_by_device, inference, train, peak):
    profile = _profile(batch, dtype, measured, inference[1], train[1], peak)
    return {
        "step": "config",
        "model": "seed",
        "image_size": 8,
        "batch": batch,
        "dtype": dtype,
        "profile": profile,
        "validations": {
            device: validate(_predicted(device, rows, inference[0], train[0], 100), profile)
            for device, rows in predicted_by_device.items()
        },
    }


def _steps():
    a = _config_step(
        32,
        "float32",
        [("c1", 4.0), ("c2", 1.0)],
        {"h200": [("c1", 2.0), ("c2", 1.5)], "h200+tf32": [("c1", 1.0), ("c2", 0.5)]},
        inference=(3.0, 6.0),
        train=(9.0, 12.0),
        peak=400,
    )
    b = _config_step(
        128,
        "mixed_bfloat16",
        [("c1", 8.0), ("c2", 2.0), ("c3", 1.0)],
        {"h200": [("c1", 8.0), ("c2", 1.0), ("c3", 3.0)]},
        inference=(10.0, 5.0),
        train=(20.0, 40.0),
        peak=None,
    )
    return [a, b]


def test_pooled_layer_statistics_are_over_every_configuration_of_a_profile():
    summary = summarise(_steps(), "h200")
    pred, meas = [2.0, 1.5, 8.0, 1.0, 3.0], [4.0, 1.0, 8.0, 2.0, 1.0]
    assert summary["layers"]["h200"]["layers"] == 5
    # |2-4|/4 + |1.5-1|/1 + 0 + |1-2|/2 + |3-1|/1 = 0.5 + 0.5 + 0 + 0.5 + 2 -> / 5
    assert summary["layers"]["h200"]["mape_pct"] == pytest.approx(100 * 3.5 / 5)
    assert summary["layers"]["h200"]["spearman"] == pytest.approx(spearman(pred, meas))
    # the TF32 profile was only predicted for the float32 configuration
    assert summary["layers"]["h200+tf32"]["layers"] == 2
    assert summary["layers"]["h200+tf32"]["mape_pct"] == pytest.approx(100 * (0.75 + 0.5) / 2)


def test_whole_model_rows_and_ratios():
    summary = summarise(_steps(), "h200")
    first, second = summary["configs"]
    assert first["measured"]["inference_s"] == 6.0 and first["measured"]["train_peak_bytes"] == 400
    assert first["predicted"]["h200"]["inference_ratio"] == pytest.approx(3.0 / 6.0)
    assert first["predicted"]["h200"]["train_memory_ratio"] == pytest.approx(100 / 400)
    assert second["predicted"]["h200"]["train_memory_ratio"] is None  # no device peak measured
    assert "h200+tf32" not in second["predicted"]
    whole = summary["whole_model"]["h200"]
    assert whole["pairs"] == 4
    assert whole["mape_pct"] == pytest.approx(mape([3.0, 9.0, 10.0, 20.0], [6.0, 12.0, 5.0, 40.0]))


def test_report_names_missing_steps_and_renders_markdown(tmp_path):
    for step in _steps():
        name = f"config-b{step['batch']}-{step['dtype']}"
        (tmp_path / f"{name}.json").write_text(json.dumps(step))
    (tmp_path / "plan.txt").write_text(
        "config-b32-float32\nconfig-b128-mixed_bfloat16\ntrain-run\nconfig-b32-bfloat16\n"
    )
    (tmp_path / "broken.json").write_text("{not json")
    result = build_report(tmp_path, "h200", "2026-11-30T00:00:00Z", 12.5)
    assert result["schema"] == RESULT_SCHEMA
    assert result["missing"] == ["train-run", "config-b32-bfloat16"]
    assert len(result["unreadable"]) == 1 and result["unreadable"][0].startswith("broken.json")
    assert result["train_run"] is None and result["calibrated_device"] is None
    text = markdown(result)
    assert "steps that did not finish: train-run, config-b32-bfloat16" in text
    assert "| h200 | 5 | 70% |" in text  # 100 * 3.5 / 5
    assert "| seed 8px b32 float32 | h200 | 3000.000 | 6000.000 | 0.50 |" in text  # ms
    # device peak vs cnncost's training memory: 400 bytes measured is 0 MiB (ratio 100 / 400);
    # none measured (a CPU) is said in words, never a number
    assert text.count("| 0 | 0 | 0.25 |") == 2  # both profiles of the float32 configuration
    b128 = [line for line in text.splitlines() if line.startswith("| seed 8px b128")]
    assert len(b128) == 1 and b128[0].endswith("| 0 | not reported by this backend | - |")


def test_device_names_and_which_profiles_apply_to_a_dtype():
    assert split_device("h200+tf32") == ("h200", True)
    assert split_device("h200") == ("h200", False)
    assert split_device("x/my+tf32.json") == ("x/my+tf32.json", False)
    assert devices_for(["h200", "h200+tf32", "a100"], "float32") == ["h200", "h200+tf32", "a100"]
    assert devices_for(["h200", "h200+tf32", "a100"], "mixed_bfloat16") == ["h200", "a100"]


def test_python_values_are_static_for_jit_and_arrays_are_traced():
    x = np.ones(3)
    static, traced = split_static_kwargs(
        {"training": False, "mask": None, "axis": (1, 2), "name": "n", "x": x, "pair": [x, 1]}
    )
    assert static == {"training": False, "mask": None, "axis": (1, 2), "name": "n"}
    assert set(traced) == {"x", "pair"}


def _blocked_keras_env(tmp_path: Path, **extra: str) -> dict:
    """An environment in which `import keras` fails and records KERAS_BACKEND at that moment."""
    site = tmp_path / "site"
    site.mkdir()
    record = tmp_path / "backend_at_keras_import.txt"
    (site / "sitecustomize.py").write_text(
        "import os, sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'keras':\n"
        f"            with open({str(record)!r}, 'a') as f:\n"
        "                f.write(os.environ.get('KERAS_BACKEND', '<unset>') + '\\n')\n"
        "            raise ModuleNotFoundError('No module named keras (blocked)')\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    env = cli_env(**extra)
    env.pop("KERAS_BACKEND", None)
    env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}"
    env["PYTHON"] = sys.executable
    return env


def test_script_sets_the_backend_before_keras_and_needs_a_keras_wheel(tmp_path):
    out = tmp_path / "out"
    env = _blocked_keras_env(
        tmp_path,
        BACKEND="jax",
        OUT=str(out),
        WHEELS=str(tmp_path / "nowheels"),
        WORK=str(tmp_path / "w"),
    )
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "keras is not installed and no" in done.stderr
    assert "nowheels/keras-*.whl was carried" in done.stderr
    # keras was first looked for with the chosen backend already set, never TensorFlow's default
    record = (tmp_path / "backend_at_keras_import.txt").read_text().split()
    assert record and set(record) == {"jax"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_dry_run_of_the_whole_script_on_the_cpu(tmp_path, backend):
    """scripts/gpu_validate.sh end to end at 32 px, batch 2, on the TensorFlow backend and on
    jax (the H200 machine's): two configurations, the training run, the calibration, one
    JSON + Markdown."""
    if backend == "jax":
        pytest.importorskip("jax")
    out, work = tmp_path / "out", tmp_path / "work"
    env = cli_env(
        BACKEND=backend,
        PYTHON=sys.executable,
        OUT=str(out),
        WORK=str(work),
        IMAGE_SIZE="32",
        BATCHES="2",
        DTYPES="float32 mixed_bfloat16",
        EXTRA_DTYPES="",
        REPEATS="2",
        WARMUP="1",
        TRAIN_IMAGES_PER_CLASS="2",
        TRAIN_BATCH="8",
        TRAIN_EPOCHS="2",
        MATMUL_SIZE="128",
        CALIBRATE_KINDS="0",
        FP32_HIGHEST="0",
        LIMIT_S="240",
    )
    done = subprocess.run(
        ["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    log = (out / "gpu_validate.log").read_text() if (out / "gpu_validate.log").exists() else ""
    assert done.returncode == 0, done.stderr + log
    result = json.loads((out / "gpu_validate.json").read_text())
    assert result["schema"] == RESULT_SCHEMA and result["missing"] == []
    assert result["environment"]["backend"] == backend
    configs = result["summary"]["configs"]
    assert [(c["batch"], c["dtype"]) for c in configs] == [(2, "float32"), (2, "mixed_bfloat16")]
    for step in result["steps"]:
        if step["step"] == "config":
            # every seed layer measured and joined to its cnncost row: the Rescaling of the
            # uint8 input, 3 conv + 3 pool, Flatten, Dense
            assert step["validations"]["h200"]["layers"]["matched"] == 1 + 3 + 3 + 1 + 1
            assert step["validations"]["h200"]["unmatched"]["measured"] == []
    assert set(result["summary"]["layers"]) == {"h200", "h200+tf32"}
    assert result["summary"]["layers"]["h200"]["layers"] == 2 * 9  # two configurations
    train = result["train_run"]
    assert train["data"]["images"] == 2 * 46 and train["data"]["classes"] == 46
    assert train["images_per_s"] > 0 and len(train["epoch_seconds"]) == 2
    rates = train["data"]["loader_images_per_s"]  # the trainer's own loaders over the files
    assert rates["pydataset"] > 0 and rates["tf_data"] > 0  # TensorFlow is installed here
    assert result["calibrated_device"]["peak_flops"]["float32"] > 0
    text = (out / "gpu_validate.md").read_text()
    # the CPU reports no device peak: the memory comparison says so, in every row, never a 0
    assert all(c["measured"]["train_peak_bytes"] is None for c in configs)
    rows = [line for line in text.splitlines() if line.startswith("| seed 32px")]
    assert len(rows) == 3 and all("| not reported by this backend | - |" in r for r in rows)
    assert "device peak not reported by this backend" in text
    assert "## Per-layer latency, pooled over every configuration" in text
    assert "## A short real training run" in text
    assert "- the trainer's loaders (uint8 batches of 8, shuffled, 32 px): PyDataset" in text
    assert (out / "gpu_validate_raw.tar.gz").stat().st_size > 0


def _jax_profile(tmp_path, model: str, *args: str):
    out = tmp_path / f"{model}.json"
    done = subprocess.run(
        [sys.executable, "-m", "reference_model", "profile", model, *args, "--batch", "2",
         "--repeats", "1", "--warmup", "1", "--out", str(out)],
        cwd=REPO, env=cli_env(KERAS_BACKEND="jax"), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_jax_profile_of_batchnorm_models(tmp_path):
    """jax.jit once traced `training=False`, so every model with BatchNormalization failed."""
    pytest.importorskip("jax")
    seed_bn = _jax_profile(tmp_path, "seed-bn", "--image-size", "32")
    assert seed_bn["backend"] == "jax"
    assert [r["type"] for r in seed_bn["layers"]].count("BatchNormalization") == 3
    mobilenet = _jax_profile(tmp_path, "MobileNetV2", "--image-size", "32", "--no-train")
    import keras

    expected = len(keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3)).layers)
    assert len(mobilenet["layers"]) == expected - 1  # every layer but the InputLayer


@pytest.mark.slow
def test_dry_run_of_the_trainer_check_on_the_cpu(tmp_path):
    """scripts/gpu_train_check.sh (prepared for the next GPU session) at 32 px on the CPU: the
    --require-gpu refusal is one line and writes nothing; the short run records its runtime."""
    out = tmp_path / "out"
    env = cli_env(
        KERAS_BACKEND="tensorflow", PYTHON=sys.executable, OUT=str(out),
        WORK=str(tmp_path / "work"), REQUIRE_GPU="0", IMAGES_PER_CLASS="3", IMAGE_SIZE="32",
        BATCH="16", EPOCHS="2",
    )  # fmt: skip
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_train_check.sh")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    refusal = (out / "require_gpu_hidden.txt").read_text().splitlines()
    assert refusal[-2].startswith("reference-model: error: --require-gpu: no GPU visible")
    assert refusal[-1] == "exit 2 ; run folder written: no"
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["runtime"]["gpus"] == 0
    assert (out / "history.csv").is_file() and (out / "eval_metrics.json").is_file()


@pytest.mark.slow
def test_jax_validate_joins_every_layer_of_a_batchnorm_model(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "v.json"
    done = subprocess.run(
        [sys.executable, "-m", "reference_model", "validate", "seed-bn", "--image-size", "32",
         "--batch", "2", "--repeats", "2", "--warmup", "1", "--device", "h200", "--json",
         str(out)],
        cwd=REPO, env=cli_env(KERAS_BACKEND="jax"), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert done.returncode == (1 if result["impossible"] else 0), done.stderr[-3000:]
    assert result["backend"] == "jax" and result["flops"] is None  # the TF profiler: TF only
    # the uint8 input's Rescaling, 3 x (conv, BN, ReLU, pool), Flatten, Dense: each measured
    # and joined
    assert result["layers"]["matched"] == 1 + 3 * 4 + 1 + 1
    assert result["unmatched"]["predicted"] == [] and result["unmatched"]["measured"] == []
