"""validate: the join of cnncost rows with measured layers, the statistics, impossible times,
the profile JSON schema; a slow end-to-end run of `profile` + `validate` on the seed CNN."""

from __future__ import annotations

import copy
import json
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rm_helpers import run_cli

from reference_model.profile import PROFILE_SCHEMA, check_profile, time_spread
from reference_model.validate import (
    by_kind,
    impossible_times,
    join_layers,
    mape,
    ranks,
    spearman,
    summary_lines,
    validate,
)


def _row(name, type_="Conv2D", **extra):
    return {"name": name, "type": type_, **extra}


def _measured(name, latency, type_="Conv2D"):
    return {
        "name": name,
        "type": type_,
        "input_shapes": [[1, 4]],
        "output_shapes": [[1, 4]],
        "latency_s": latency,
        "min_s": latency,
    }


def test_join_matches_names_nested_prefixes_and_lists_everything_else():
    predicted = [
        _row("input_layer", "InputLayer"),
        _row("conv"),
        _row("block/conv_a"),
        _row("block/relu", "ReLU"),
        _row("only_in_cnncost", "Dense"),
    ]
    measured = [_measured("conv", 1e-3), _measured("block", 2e-3), _measured("ghost", 1e-3)]
    join = join_layers(predicted, measured)
    assert [m.name for m in join.matched] == ["conv", "block"]
    assert [r["name"] for r in join.matched[1].predicted] == ["block/conv_a", "block/relu"]
    assert join.inputs == ("input_layer",)
    assert join.unmatched_predicted == ("only_in_cnncost",)
    assert join.unmatched_measured == ("ghost",)
    # every cnncost row is matched, an input, or listed as unmatched: nothing disappears
    covered = {r["name"] for m in join.matched for r in m.predicted}
    covered |= set(join.inputs) | set(join.unmatched_predicted)
    assert covered == {r["name"] for r in predicted}


def test_nested_totals_are_sums_and_unknown_when_a_part_is():
    join = join_layers(
        [_row("b/x", latency_s=1.0), _row("b/y", latency_s=2.0, floor_s=None)],
        [_measured("b", 1.0)],
    )
    assert join.matched[0].total("latency_s") == 3.0
    assert join.matched[0].total("floor_s") is None


def test_ranks_average_ties():
    assert ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]


@settings(deadline=None)  # the first example imports pandas
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=3, max_size=30))
def test_spearman_equals_pandas(pairs):
    import pandas as pd

    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    expected = pd.Series(a).rank().corr(pd.Series(b).rank())
    ours = spearman(a, b)
    if ours is None:
        assert pd.isna(expected) or len(set(a)) == 1 or len(set(b)) == 1
    else:
        assert ours == pytest.approx(expected, abs=1e-9)


def test_spearman_of_a_monotone_map_is_one_and_mape_by_hand():
    assert spearman([1, 2, 3, 4], [10, 100, 1000, 10**4]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert mape([1.5, 1.0], [1.0, 2.0]) == pytest.approx(100 * (0.5 + 0.5) / 2)


def _profile(layers, inference=0.01, train=0.03):
    return {
        "schema": PROFILE_SCHEMA,
        "model": "m",
        "model_name": "m",
        "backend": "tensorflow",
        "keras_version": "3",
        "python": "3.11",
        "device": {"kind": "cpu", "name": "test cpu"},
        "dtype_policy": "float32",
        "batch": 2,
        "input_shapes": [[2, 4]],
        "repeats": 3,
        "warmup": 1,
        "params": 10,
        "inference": {
            "latency_s": inference,
            "samples_per_s": 2 / inference,
            "device_peak_bytes": None,
        },
        "train_step": {"latency_s": train, "samples_per_s": 2 / train, "device_peak_bytes": None},
        "layers": layers,
        "tf_profiler": None,
        "host_peak_rss_bytes": 1,
    }


def _predicted(rows, latency=0.012, floor=0.002, train=0.03, train_floor=0.01):
    return {
        "conventions": {"device": "d"},
        "totals": {
            "latency_s": latency,
            "floor_s": floor,
            "train_step_s": train,
            "train_floor_s": train_floor,
            "train_samples_per_s": 2 / train,
            "weight_bytes": 40,
            "peak_activation_bytes": 64,
            "train_bytes": 200,
        },
        "layers": rows,
    }


def test_by_kind_groups_rows_by_cnncost_layer_kind():
    rows = [
        {"kind": "matmul", "predicted": 2.0, "measured": 4.0, "ratio": 0.5},
        {"kind": "matmul", "predicted": 3.0, "measured": 2.0, "ratio": 1.5},
        {"kind": "matmul", "predicted": 1.0, "measured": 1.0, "ratio": 1.0},
        {"kind": "depthwise", "predicted": 1.0, "measured": 4.0, "ratio": 0.25},
    ]
    summary = by_kind(rows)
    assert list(summary) == ["depthwise", "matmul"]
    assert summary["matmul"]["layers"] == 3
    assert summary["matmul"]["predicted_s"] == 6.0 and summary["matmul"]["measured_s"] == 7.0
    assert summary["matmul"]["median_ratio"] == 1.0
    assert summary["matmul"]["mape_pct"] == pytest.approx(100 * (0.5 + 0.5 + 0) / 3)
    assert summary["depthwise"]["mape_pct"] == pytest.approx(75.0)


def test_a_measurement_faster_than_the_compute_floor_is_impossible():
    rows = [
        _row("input", "InputLayer"),
        _row("fast", flops=10**9, floor_s=1e-3, latency_s=2e-3, bytes_moved=1, bound="compute"),
        _row("fine", flops=10**6, floor_s=1e-6, latency_s=1e-5, bytes_moved=1, bound="memory"),
    ]
    # `fast` measured at half its floor: 10^9 FLOPs in 0.5 ms on a 10^12 FLOP/s device
    profile = _profile([_measured("fast", 0.5e-3), _measured("fine", 2e-5)], inference=1e-3)
    result = validate(_predicted(rows), profile)
    flagged = {item["what"] for item in result["impossible"]}
    assert flagged == {"fast", "model inference"}  # 1 ms < the model floor of 2 ms
    assert result["latency"]["inference"]["ratio"] == pytest.approx(12)
    assert result["layers"]["matched"] == 2
    # per-layer ratios predicted/measured: fast 2e-3 / 0.5e-3, fine 1e-5 / 2e-5; the median of
    # an even count is the mean of the middle two
    assert result["layers"]["median_ratio"] == pytest.approx((2e-3 / 0.5e-3 + 1e-5 / 2e-5) / 2)
    # the same numbers, honestly measured, flag nothing
    honest = _profile([_measured("fast", 2.5e-3), _measured("fine", 2e-5)])
    assert validate(_predicted(rows), honest)["impossible"] == []


def test_impossible_times_ignores_zero_floors():
    join = join_layers([_row("flat", floor_s=0.0)], [_measured("flat", 1e-9)])
    assert impossible_times(join, {}, {"inference": {"latency_s": 1.0}}) == []


def test_validate_reports_how_far_its_own_measurements_spread():
    rows = [
        _row("a", flops=10, floor_s=1e-9, latency_s=1e-3, bytes_moved=1, bound="compute"),
        _row("b", flops=10, floor_s=1e-9, latency_s=1e-3, bytes_moved=1, bound="compute"),
        _row("c", flops=10, floor_s=1e-9, latency_s=1e-3, bytes_moved=1, bound="compute"),
    ]
    # stored timed calls of each: (max - min) / median
    calls = {"a": [1e-3, 1.1e-3, 1.2e-3], "b": [2e-3, 2e-3, 2e-3], "c": [1e-3, 3e-3, 1.5e-3]}
    layers = []
    for name, times in calls.items():
        layer = _measured(name, statistics.median(times))
        layer["spread"] = time_spread(times)
        layers.append(layer)
    profile = _profile(layers)
    profile["inference"]["spread"] = time_spread([0.010, 0.011, 0.0104])
    profile["train_step"]["spread"] = None  # one timed call: nothing to compare
    result = validate(_predicted(rows), check_profile(profile))
    spread = result["measured_spread"]
    assert spread["inference"] == pytest.approx((0.011 - 0.010) / 0.0104)
    assert spread["train_step"] is None
    # layers: a (1.2 - 1.0) / 1.1, b 0, c (3 - 1) / 1.5; median a's, widest c's
    assert spread["layers_median"] == pytest.approx(0.2 / 1.1)
    assert spread["layers_widest"] == {"name": "c", "spread": pytest.approx(2 / 1.5)}
    assert [r["measured_spread"] for r in result["layers"]["rows"]] == [
        pytest.approx(0.2 / 1.1),
        0.0,
        pytest.approx(2 / 1.5),
    ]
    line = next(x for x in summary_lines(result) if x.startswith("measured spread"))
    assert "of 3 timed calls): inference 10%, train step -, layers median 18%" in line
    assert "widest 133% (c)" in line


def test_a_profile_from_before_spreads_validates_and_says_so():
    profile = check_profile(_profile([_measured("a", 1e-3)]))  # no "spread" anywhere
    rows = [_row("a", flops=10, floor_s=1e-9, latency_s=1e-3, bytes_moved=1, bound="compute")]
    result = validate(_predicted(rows), profile)
    assert result["measured_spread"]["inference"] is None
    assert result["measured_spread"]["layers_widest"] is None
    assert any(x.startswith("measured spread: not recorded") for x in summary_lines(result))
    assert result["noisy_device"] is None
    # predicted with a profile stored by `calibrate --accept-noisy`: said next to the spread
    predicted = _predicted(rows)
    predicted["warning_details"] = [
        {"kind": "roofline", "layer": None, "message": "roofline: 1 layers have no time"},
        {"kind": "noisy-device", "layer": None, "message": "device profile 'd' is flagged noisy"},
    ]
    result = validate(predicted, profile)
    assert result["noisy_device"] == "device profile 'd' is flagged noisy"
    assert "NOISY DEVICE PROFILE: device profile 'd' is flagged noisy" in summary_lines(result)


@pytest.mark.parametrize("value", [-0.1, "5%", True, float("nan"), float("inf")])
def test_check_profile_refuses_a_bad_spread(value):
    profile = _profile([_measured("a", 1e-3)])
    profile["layers"][0]["spread"] = value
    with pytest.raises(ValueError, match="layers\\[0\\].spread"):
        check_profile(profile)


def test_check_profile_accepts_a_good_one_and_names_the_broken_field():
    layers = [_measured("a", 1e-3)]
    assert check_profile(_profile(layers))["model"] == "m"
    for path, value, message in [
        (("schema",), "other/1", "schema"),
        (("inference", "latency_s"), -1.0, "latency_s"),
        (("layers", 0, "latency_s"), "1ms", "layers\\[0\\].latency_s"),
        (("batch",), 0, "batch"),
        (("train_step",), [], "train_step"),
    ]:
        broken = copy.deepcopy(_profile(layers))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(ValueError, match=message):
            check_profile(broken)
    missing = _profile(layers)
    del missing["device"]
    with pytest.raises(ValueError, match="device"):
        check_profile(missing)
    twice = _profile([_measured("a", 1e-3), _measured("a", 1e-3)])
    with pytest.raises(ValueError, match="duplicate"):
        check_profile(twice)


@pytest.mark.slow
def test_profile_then_validate_the_seed_cnn(tmp_path):
    """Real measurement at 64x64, batch 2, 3 repeats: schema, FLOPs equal the TF profiler's,
    every cnncost layer joined."""
    devices = tmp_path / "devices"
    env = {"CNNCOST_DEVICES_DIR": str(devices)}
    import subprocess
    import sys

    from rm_helpers import REPO, cli_env

    done = subprocess.run(
        [sys.executable, "-m", "cnncost", "calibrate", "--name", "cpu", "--matmul-size", "512",
         "--repeats", "3", "--accept-noisy"],
        cwd=REPO, env=cli_env(**env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = tmp_path / "profile.json"
    args = ("seed", "--image-size", "64", "--batch", "2", "--repeats", "3", "--warmup", "1")
    done = run_cli("profile", *args, "--out", str(out), **env)
    assert done.returncode == 0, done.stderr
    profile = check_profile(json.loads(out.read_text()))
    assert profile["input_shapes"] == [[2, 64, 64, 3]]
    # the uint8 input's Rescaling first, then the seed's layers
    names = [layer["name"] for layer in profile["layers"]]
    assert names[:3] == ["rescaling", "conv2d", "max_pooling2d"]
    assert profile["layers"][1]["output_shapes"] == [[2, 62, 62, 32]]
    assert profile["tf_profiler"]["total_flops"] > 0
    report = tmp_path / "validate.json"
    png = tmp_path / "validate.png"
    done = run_cli(
        "validate", "x", "--profile", str(out), "--device", "cpu", "--json", str(report),
        "--plot", str(png), **env,
    )  # fmt: skip
    result = json.loads(report.read_text())
    assert done.returncode == (1 if result["impossible"] else 0), done.stderr
    assert result["flops"]["equal"], result["flops"]
    layers = 1 + 3 + 3 + 1 + 1  # Rescaling, 3 conv + 3 pool, Flatten, Dense
    assert result["flops"]["layers_equal"] == result["flops"]["layers_compared"] == layers
    assert result["unmatched"] == {"predicted": [], "measured": [], "inputs": ["input_layer"]}
    assert result["layers"]["matched"] == layers
    # the statistics are those of the joined rows, and the rows hold the profile's measurements
    # (the values themselves depend on the machine's load: a busy CPU reorders small layers)
    rows = result["layers"]["rows"]
    measured = {layer["name"]: layer["latency_s"] for layer in profile["layers"]}
    assert [r["measured"] for r in rows] == [measured[r["name"]] for r in rows]
    pred, meas = [r["predicted"] for r in rows], [r["measured"] for r in rows]
    assert result["layers"]["spearman"] == pytest.approx(spearman(pred, meas))
    assert result["layers"]["mape_pct"] == pytest.approx(mape(pred, meas))
    assert result["layers"]["median_ratio"] == pytest.approx(
        statistics.median(p / m for p, m in zip(pred, meas, strict=True))
    )
    inference = result["latency"]["inference"]
    assert inference["measured"] == profile["inference"]["latency_s"]
    assert inference["ratio"] == pytest.approx(inference["predicted"] / inference["measured"])
    assert png.stat().st_size > 10_000
    assert f"per layer ({layers} timed)" in done.stdout
    assert "measured spread ((max - min) / median of 3 timed calls)" in done.stdout
    assert len(result["measured_spread"]) == 5 and result["measured_spread"]["repeats"] == 3
    # Rescaling, convolutions, pooling, Flatten and Dense: four kinds, every layer in one
    kinds = result["layers"]["by_kind"]
    assert set(kinds) == {"elementwise", "matmul", "pooling", "other"}
    assert sum(k["layers"] for k in kinds.values()) == layers
