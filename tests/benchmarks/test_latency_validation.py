"""benchmarks/latency_validation.py: the plan, the time estimate, --models, the Markdown of a
run (with a failed configuration), and (slow) `--quick` end to end through the script itself.
No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "latency_validation.py"


@pytest.fixture(scope="module")
def lv():
    spec = importlib.util.spec_from_file_location("latency_validation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_plan_is_the_issues_list(lv):
    configs = {(c.model, c.batch): c for c in lv.PLAN}
    assert len(configs) == len(lv.PLAN)  # no configuration twice
    # the six configurations of docs/validation.md, per layer
    for key in [("seed", 1), ("seed", 32)] + [(m, 1) for m in lv.VALIDATED]:
        assert configs[key].layers and not configs[key].held_out
    held_out = [m for m, _ in lv.HELD_OUT]
    assert {"DenseNet121", "InceptionV3", "Xception", "ConvNeXtTiny"} <= set(held_out)
    assert sum(m.startswith("kimm:") for m in held_out) == 2
    assert not set(held_out) & set(lv.VALIDATED)
    for model in held_out:
        # inference and training step at batch 1 (per layer) and 32 (whole model)
        assert configs[(model, 1)].layers and configs[(model, 1)].held_out
        assert not configs[(model, 32)].layers and configs[(model, 32)].held_out
    assert all(c.repeats >= 2 for c in lv.PLAN)  # a spread needs two timed calls


def test_select_keeps_the_plans_order_and_refuses_an_unknown_model(lv):
    chosen = lv.select(lv.PLAN, "VGG16, seed")
    assert [(c.model, c.batch) for c in chosen] == [
        ("seed", 1),
        ("seed", 32),
        ("VGG16", 1),
        ("VGG16", 32),
    ]
    assert lv.select(lv.PLAN, None) == lv.PLAN
    with pytest.raises(SystemExit, match="not in the plan"):
        lv.select(lv.PLAN, "seed,ResNet9")


def test_estimate_counts_every_timed_call_and_the_fixed_costs(lv):
    predicted = {
        "totals": {"latency_s": 0.01, "train_step_s": 0.03},
        "conventions": {"call_overhead_s": 1e-4},
        "layers": [{"type": "InputLayer"}] + [{"type": "Conv2D"}] * 3,
    }
    config = lv.Config("m", 1, repeats=10, warmup=3, layers=True)
    calls = 3 + 10
    expected = (
        lv.SAFETY * calls * (0.01 + 0.03)  # whole model and training step
        + 3 * (lv.MODEL_COMPILE_S_PER_LAYER + lv.MODEL_COMPILE_S_PER_LAYER_SAMPLE * 1)
        + lv.SAFETY * calls * (0.01 + 3 * 1e-4)  # each layer alone, one call overhead each
        + 3 * lv.LAYER_COMPILE_S
        + 3 * lv.PROFILER_S_PER_LAYER  # batch 1: the TF profiler
    )
    assert lv.config_estimate_s(config, predicted) == pytest.approx(expected)
    whole = lv.Config("m", 32, layers=False, repeats=2, warmup=1)
    assert lv.config_estimate_s(whole, predicted) == pytest.approx(
        lv.SAFETY * 3 * (0.01 + 0.03)
        + 3 * (lv.MODEL_COMPILE_S_PER_LAYER + lv.MODEL_COMPILE_S_PER_LAYER_SAMPLE * 32)
    )


def test_markdown_of_a_run_names_the_predictors_and_a_failed_configuration(lv):
    from reference_model.validate import PREDICTORS

    data = {
        "started_utc": "2026-11-30T00:00:00Z",
        "machine": {
            "cpu": "some CPU",
            "cpu_count": 2,
            "backend": "tensorflow",
            "keras": "3",
            "load_start": [1.0, 1.0, 1.0],
        },
        "elapsed_s": 10.0,
        "estimate_s": 12.0,
        "calibration": {
            "command": ["cnncost", "calibrate", "--kinds"],
            "device": {"peak_flops": {"float32": 2e11}, "bandwidth": 3e10, "spread": {}},
        },
        "predictors": {
            p: {"device_file": f"device.{p}.json", "drops": list(d)} for p, d in PREDICTORS.items()
        },
        "shape_model_present": False,
        "configs": [{"config": {"model": "VGG16", "batch": 32}, "error": "MemoryError: "}],
    }
    text = lv.render_markdown(data)
    assert "float32 200 GFLOP/s, 30.0 GB/s" in text
    assert "`raw` = device.raw.json (without time_model, efficiency, train_call_overhead_s)" in text
    assert "`shape` predicts exactly as `kinds`" in text
    assert "- VGG16 batch 32: FAILED (MemoryError: )" in text
    data["shape_model_present"] = True
    assert "predicts exactly as" not in lv.render_markdown(data)


def test_revalidate_an_earlier_runs_profiles_without_measuring(lv, tmp_path, capsys):
    """A run folder made of the stored seed profiles (tests/reference_model/data/heldout),
    validated again with its calibration: every output rewritten, nothing measured."""
    keras = pytest.importorskip("keras")
    from dataclasses import asdict

    data = ROOT / "tests" / "reference_model" / "data" / "heldout"
    run = tmp_path / "run"
    (run / "profiles").mkdir(parents=True)
    (run / "device.json").write_text((data / "device.json").read_text())
    configs = []
    for batch, layers in ((1, True), (2, False)):
        name = f"seed_b{batch}.json"
        (run / "profiles" / name).write_text((data / f"seed_b{batch}.profile.json").read_text())
        config = lv.Config("seed", batch, 64, layers, repeats=2, warmup=1)
        configs.append({"config": asdict(config), "estimate_s": 1.0, "elapsed_s": 2.0,
                        "profile": f"profiles/{name}"})  # fmt: skip
    configs.append({"config": asdict(lv.Config("VGG16", 32)), "error": "MemoryError: "})
    earlier = {
        "schema": "reference_model.latency_validation/1",
        "started_utc": "2026-11-30T00:00:00Z",
        "machine": {
            "cpu": "c",
            "cpu_count": 2,
            "backend": "tensorflow",
            "keras": "3",
            "load_start": [1, 1, 1],
            "load_end": [1, 1, 1],
        },  # fmt: skip
        "estimate_s": 5.0,
        "elapsed_s": 4.0,
        "calibration": {"command": ["cnncost", "calibrate"]},
        "configs": configs,
    }
    (run / "latency_validation.json").write_text(json.dumps(earlier))
    out = tmp_path / "again"
    keras.backend.clear_session()  # the seed's layer names as profiled
    code = lv.run(lv.parse_args(["--revalidate", str(run), "--out", str(out)]))
    assert code == 1  # the configuration that failed when measured is still a failure
    result = json.loads((out / "latency_validation.json").read_text())
    assert result["revalidated"]["from"] == str(run)
    assert [c.get("error") for c in result["configs"]] == [None, None, "MemoryError: "]
    for entry, batch in zip(result["configs"], (1, 2)):
        profile = json.loads((data / f"seed_b{batch}.profile.json").read_text())
        assert entry["row"]["inference"]["measured"] == profile["inference"]["latency_s"]
        assert set(entry["validations"]) == {"raw", "kinds", "shape"}
        assert entry["elapsed_s"] == 2.0  # the measurement's, kept
    assert entry["row"]["layers"]["timed"] == 0 and result["configs"][0]["row"]["layers"]["timed"]
    table = (out / "latency_validation.md").read_text()
    assert "nothing was measured" in table and "| seed | 2 |" in table
    assert "- VGG16 batch 32: FAILED (MemoryError: )" in table
    with pytest.raises(SystemExit, match="must differ"):
        lv.run(lv.parse_args(["--revalidate", str(run), "--out", str(run)]))
    with pytest.raises(SystemExit, match="--force"):
        lv.run(lv.parse_args(["--revalidate", str(run), "--out", str(out)]))
    keras.backend.clear_session()


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
    """--quick through the script as a user runs it: a 2-round calibration, three tiny
    configurations, every output written (about a minute)."""
    pytest.importorskip("kimm")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "estimated wall time" in done.stdout
    data = json.loads((out / "latency_validation.json").read_text())
    assert data["schema"] == "reference_model.latency_validation/1" and data["quick"]
    assert data["calibration"]["command"][:5] == [
        "cnncost",
        "calibrate",
        "--engine",
        "keras",
        "--kinds",
    ]
    assert [(c["config"]["model"], c["config"]["batch"]) for c in data["configs"]] == [
        ("seed", 1),
        ("seed", 2),
        ("kimm:RegNetX002", 1),
    ]
    for entry in data["configs"]:
        assert "error" not in entry
        assert set(entry["validations"]) == {"raw", "kinds", "shape"}
        assert (out / entry["profile"]).is_file()
    raw = json.loads((out / "device.raw.json").read_text())
    assert "efficiency" not in raw and "efficiency" in data["calibration"]["device"]
    table = (out / "latency_validation.md").read_text()
    assert "| seed | 1 |" in table and "| kimm:RegNetX002 | 1 |" in table
    # an existing run is not replaced without --force
    again = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert again.returncode != 0 and "--force" in again.stderr
