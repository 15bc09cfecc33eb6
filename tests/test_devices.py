"""Device profiles: dense datasheet peaks, user files override, calibration writes a profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnncost.devices import BUILTIN, DeviceProfile, KindFactors, load_device, profile_from_dict
from cnncost.errors import CnnCostError
from cnncost.passes.roofline import KINDS
from cnncost.spread import SPREAD_LIMIT

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "name, key, sparse_tflops",
    [
        # datasheets print "with sparsity" figures; the dense peak is half of them
        ("h100", "bfloat16", 1979),
        ("h200", "float16", 1979),
        ("a100", "tfloat32", 312),
        ("l4", "bfloat16", 242),
    ],
)
def test_builtin_peaks_are_dense_half_of_the_sparse_figures(name, key, sparse_tflops):
    assert BUILTIN[name].peak_flops[key] == pytest.approx(sparse_tflops * 1e12 / 2, rel=1e-3)


def test_builtin_table_covers_the_common_gpus_and_old_ones_lack_bf16():
    assert set(BUILTIN) >= {"h200", "h100", "a100", "l4", "t4", "v100"}
    assert "bfloat16" not in BUILTIN["t4"].peak_flops
    assert "tfloat32" not in BUILTIN["v100"].peak_flops
    assert BUILTIN["a100"].bandwidth == 2039e9


def test_tf32_switch_picks_the_tensor_core_peak():
    assert BUILTIN["a100"].peak_for("float32", tf32=True) == ("tfloat32", 156e12)
    assert BUILTIN["a100"].peak_for("float32") == ("float32", 19.5e12)
    assert BUILTIN["t4"].peak_for("float32", tf32=True) == ("float32", 8.1e12)


def test_user_file_overrides_the_builtin(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCOST_DEVICES_DIR", str(tmp_path))
    mine = DeviceProfile("a100", {"float32": 1.0e13}, 1.5e12, 0.0, "my A100 40GB")
    (tmp_path / "a100.json").write_text(json.dumps(mine.to_dict()))
    assert load_device("a100").bandwidth == 1.5e12
    assert load_device(str(tmp_path / "a100.json")).peak_flops == {"float32": 1.0e13}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"bandwidth": 1}, "peak_flops"),
        ({"peak_flops": {"float32": -1}, "bandwidth": 1}, "positive"),
        ({"peak_flops": {"float32": 1}, "bandwidth": "fast"}, "bandwidth"),
        ({"peak_flops": {"float32": 1}, "bandwidth": 1, "overhead_s": -1}, "overhead_s"),
    ],
)
def test_bad_profiles_are_one_line_errors(data, message):
    with pytest.raises(CnnCostError, match=message):
        profile_from_dict(data, "x.json")


def test_unknown_device_names_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCOST_DEVICES_DIR", str(tmp_path))
    with pytest.raises(CnnCostError, match="h100"):
        load_device("tpu9000")


def test_calibrate_writes_a_profile_report_can_use(tmp_path):
    out = tmp_path / "devices" / "here.json"
    env = {"PYTHONPATH": str(REPO), "CNNCOST_DEVICES_DIR": str(tmp_path / "devices")}
    done = subprocess.run(
        [sys.executable, "-m", "cnncost", "calibrate", "--name", "here", "--matmul-size", "256",
         "--repeats", "2", "--out", str(out), "--accept-noisy"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    profile = load_device(str(out))
    assert profile.name == "here"
    # two interleaved rounds: a spread for each quantity; noisy or not depends on the load
    assert set(profile.spread) == {"peak_flops.float32", "peak_flops.float64", "bandwidth",
                                   "overhead_s"}  # fmt: skip
    assert profile.noisy == any(v > SPREAD_LIMIT for v in profile.spread.values())
    # a 256 matmul is 2*256^3 FLOPs; no CPU does that faster than ~1 microsecond
    assert 1e6 < profile.peak_flops["float32"] < 2 * 256**3 / 1e-6
    assert profile.bandwidth > 1e6 and profile.overhead_s > 0
    model = REPO / "examples" / "models" / "seed_cnn.keras"
    report = subprocess.run(
        [sys.executable, "-m", "cnncost", "report", str(model), "--device", "here",
         "--format", "json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["conventions"]["device"] == "here"
    assert data["totals"]["latency_s"] > 0


def test_a_profile_file_from_before_kind_factors_loads_with_none():
    # committed by the first validation run: no "efficiency", no "train_call_overhead_s"
    old = json.loads((REPO / "docs" / "validation" / "cpu-keras.device.json").read_text())
    assert "efficiency" not in old and "train_call_overhead_s" not in old
    profile = profile_from_dict(old, "cpu-keras.device.json")
    assert profile.efficiency == {}
    assert "spread" not in old and "noisy" not in old
    assert profile.spread == {} and profile.noisy is False
    for kind in KINDS:
        assert profile.factors(kind) == KindFactors(1.0, None, 1.0, None)
    assert profile.train_call_s == profile.call_overhead_s == old["call_overhead_s"]


def test_builtin_datasheet_profiles_have_no_kind_factors():
    # no datasheet gives a depthwise or elementwise efficiency: they keep the raw roofline
    assert all(p.efficiency == {} and p.train_call_overhead_s is None for p in BUILTIN.values())


def test_kind_factors_round_trip_through_json_and_partial_entries_default_to_one():
    profile = DeviceProfile(
        "cpu",
        {"float32": 1e11},
        2e10,
        1e-7,
        call_overhead_s=1e-4,
        efficiency={"depthwise": KindFactors(0.3, 1.2e-4, 0.1, 4e-5), "pooling": KindFactors(1.5)},
        train_call_overhead_s=6e-4,
    )
    again = profile_from_dict(json.loads(json.dumps(profile.to_dict())), "cpu.json")
    assert again == profile
    partial = profile_from_dict(
        {
            "peak_flops": {"float32": 1},
            "bandwidth": 1,
            "efficiency": {"matmul": {"efficiency": 0.5}},
        },
        "p.json",
    )
    assert partial.factors("matmul") == KindFactors(0.5, None, 1.0)
    assert partial.factors("depthwise") == KindFactors()
    assert partial.train_call_s == 0.0


@pytest.mark.parametrize(
    "efficiency, message",
    [
        ([1, 2], "object of layer kind"),
        ({"convolution": {"efficiency": 0.5}}, "unknown layer kind"),
        ({"matmul": 0.5}, "must be an object"),
        ({"matmul": {"efficiency": 0}}, "positive"),
        ({"matmul": {"backward_efficiency": "slow"}}, "positive"),
        ({"matmul": {"overhead_s": -1e-6}}, "overhead_s"),
        ({"matmul": {"train_overhead_s": "x"}}, "train_overhead_s"),
    ],
)
def test_bad_kind_factors_are_one_line_errors(efficiency, message):
    data = {"peak_flops": {"float32": 1}, "bandwidth": 1, "efficiency": efficiency}
    with pytest.raises(CnnCostError, match=message):
        profile_from_dict(data, "x.json")


def test_calibrate_kinds_needs_the_keras_engine(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "cnncost", "calibrate", "--kinds", "--out", str(tmp_path / "x.json")],
        cwd=REPO, env={"PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "--engine keras" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_a_time_model_round_trips_through_the_profile_json_and_can_be_dropped(tmp_path):
    from cnncost.devices import save_device, without_time_model
    from cnncost.time_model import KindTimeModel, TimeModel, TimeSample

    model = TimeModel(
        {"conv": KindTimeModel({"layer": 1e-4, "compute": 1.5}, {"layer": 2e-4}, 3)},
        samples=(TimeSample("s", {"conv": {"inference": {"layer": 2.0}}}, 3e-4, None, 0.1),),
        info={"rounds": 10},
    )
    profile = DeviceProfile("cpu", {"float32": 1e11}, 1e10, time_model=model)
    path = save_device(profile, tmp_path / "cpu.json")
    assert load_device(str(path)) == profile
    assert json.loads(path.read_text())["time_model"]["kinds"]["conv"]["samples"] == 3
    dropped = without_time_model(profile)
    assert dropped.time_model is None and dropped == DeviceProfile("cpu", {"float32": 1e11}, 1e10)
    # a profile without one writes no `time_model` key at all (older readers see no change)
    assert "time_model" not in dropped.to_dict()


@pytest.mark.parametrize("name", ["cpu-keras", "cpu-keras-kinds", "cpu-numpy", "h200-jax-kinds"])
def test_committed_profiles_from_before_the_time_model_load_without_one(name):
    path = Path(__file__).parents[1] / "docs" / "validation" / f"{name}.device.json"
    profile = load_device(str(path))
    assert profile.time_model is None
    assert "time_model" not in json.loads(path.read_text())


def test_a_bad_time_model_in_a_profile_is_one_line_naming_it(tmp_path):
    data = DeviceProfile("cpu", {"float32": 1e11}, 1e10).to_dict()
    data["time_model"] = {"kinds": {"conv": {"inference": {"layer": "fast"}}}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CnnCostError, match=r"time_model\.kinds\['conv'\]\.inference\['layer'\]"):
        load_device(str(path))
