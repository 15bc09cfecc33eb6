"""The per-kind fit of `calibrate --kinds`: exact on noiseless data, and a tiny real run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnncost.calibrate_kinds import (
    MAX_EFFICIENCY,
    KindSample,
    fit_kind,
    fit_overhead_and_efficiency,
    fit_training,
    kind_spreads,
    measure_kinds,
    over_peak,
    overhead_at,
    refit,
    samples_from_summary,
    samples_summary,
)
from cnncost.devices import DeviceProfile, KindFactors


@given(
    overhead=st.floats(0.0, 1e-3),
    efficiency=st.floats(0.05, 5.0),
    works=st.lists(st.floats(1e-6, 1e-2), min_size=2, max_size=8, unique=True),
)
def test_the_fit_recovers_overhead_and_efficiency_from_noiseless_times(overhead, efficiency, works):
    if max(works) < 1.01 * min(works):
        works = [*works, 2 * max(works)]  # a line needs two distinct points
    times = [overhead + w / efficiency for w in works]
    fitted_overhead, fitted_efficiency = fit_overhead_and_efficiency(works, times)
    assert fitted_efficiency == pytest.approx(efficiency, rel=1e-6)
    assert fitted_overhead == pytest.approx(overhead, rel=1e-6, abs=1e-12)


def test_a_negative_intercept_is_refit_through_the_origin():
    # time = work / 0.5 - 10 us would be a negative overhead: refit as a proportion
    works, times = [1e-4, 2e-4, 4e-4], [1.9e-4, 3.9e-4, 7.9e-4]
    overhead, efficiency = fit_overhead_and_efficiency(works, times)
    assert overhead == 0.0
    assert 0.5 < efficiency < 0.53  # slope a bit under 2 once forced through 0


def test_times_that_do_not_grow_with_work_are_all_overhead():
    overhead, efficiency = fit_overhead_and_efficiency([1e-6, 2e-6, 4e-6], [5e-5, 4e-5, 3e-5])
    assert efficiency == 1.0
    # mean of (time - work): (49 + 38 + 26) / 3 us
    assert overhead == pytest.approx((49e-6 + 38e-6 + 26e-6) / 3)


def test_times_under_the_call_overhead_are_left_out():
    assert fit_overhead_and_efficiency([1e-6, 2e-6], [0.0, 0.0]) == (0.0, 1.0)
    overhead, efficiency = fit_overhead_and_efficiency([1e-6, 2e-6, 4e-6], [0.0, 3e-6, 5e-6])
    assert overhead == pytest.approx(1e-6) and efficiency == pytest.approx(1.0)


def _sample(work, train_work, calls, inference, step):
    return KindSample("matmul", (8, 8), 2, work, train_work, calls, inference, step)


def test_the_training_fit_by_hand():
    factors = KindFactors(efficiency=0.5, overhead_s=1e-5)
    # forward work 100 us -> 200 us at e=0.5; backward work 200 us -> 400 us at e=0.5; with
    # 6 kernel-groups of 10 us a step of 200 + 400/b + 60 us; measured 1060 us -> b = 0.5
    small = _sample(100e-6, 300e-6, 6, 220e-6, 1060e-6)
    assert fit_training([small], factors) == pytest.approx(0.5)
    # a ratio of sums: backward work (400 + 1600) us at e=0.5 over backward time (800 + 1600) us
    large = _sample(400e-6, 1200e-6, 6, 820e-6, 800e-6 + 1600e-6 + 60e-6)
    none = _sample(100e-6, 300e-6, 6, 220e-6, None)  # no training time: left out
    assert fit_training([small, large, none], factors) == pytest.approx(2000 / 2400)
    assert fit_training([none], factors) == 1.0


def test_fit_kind_combines_both_fits_and_refit_repeats_it_from_stored_samples():
    # per layer (2 layers): 5 us + work / 0.8; training: b = 0.4, 6 kernel-groups of 5 us
    def sample(work):
        inference = 2 * (5e-6 + work / 2 / 0.8)
        step = work / 0.8 + 2 * work / (0.8 * 0.4) + 6 * 5e-6
        return _sample(work, 3 * work, 6, inference, step)

    samples = [sample(1e-5), sample(1e-4), sample(1e-3)]
    factors = fit_kind(samples)
    assert factors.efficiency == pytest.approx(0.8)
    assert factors.overhead_s == pytest.approx(5e-6)
    assert factors.backward_efficiency == pytest.approx(0.4)
    assert factors.train_overhead_s is None  # training kernel-groups pay the inference overhead
    stored = DeviceProfile(
        "cpu", {"float32": 1e11}, 1e10, measured={"kinds": {"samples": samples_summary(samples)}}
    )
    assert refit(stored).efficiency == {"matmul": factors}


def test_measure_kinds_runs_real_synthetic_layers():
    # tiny shapes, two repeats: checks the plumbing (models build, cnncost predicts them, the
    # times are positive), not the figures
    device = DeviceProfile("cpu", {"float32": 1e11}, 1e10, 0.0, call_overhead_s=0.0)
    factors, train_call, samples = measure_kinds(
        device, kinds=("depthwise", "pooling"), shapes=((8, 4), (16, 8)), repeats=2
    )
    assert set(factors) == {"depthwise", "pooling"}
    assert train_call > 0
    assert [(s.kind, s.shape, s.layers) for s in samples] == [
        ("depthwise", (8, 4), 4),
        ("depthwise", (16, 8), 4),
        ("pooling", (8, 4), 4),
        ("pooling", (16, 8), 4),
    ]
    for s in samples:
        assert s.work_s > 0 and s.inference_s > 0
        assert s.train_work_s >= s.work_s
    # depthwise has trainable kernels: a training step does gradient work the forward does not;
    # a pooling chain has no weights, so no training step is timed and b stays 1
    assert all(s.train_work_s > s.work_s for s in samples if s.kind == "depthwise")
    assert all(s.train_step_s is not None for s in samples if s.kind == "depthwise")
    assert all(s.train_step_s is None for s in samples if s.kind == "pooling")
    assert factors["pooling"].backward_efficiency == 1.0
    assert all(f.efficiency > 0 and f.backward_efficiency > 0 for f in factors.values())
    # two rounds each: every sample has its rounds' spread, a step's only where a step ran
    assert all(s.inference_spread is not None and s.inference_spread >= 0 for s in samples)
    assert all((s.train_spread is None) == (s.train_step_s is None) for s in samples)
    assert set(kind_spreads(samples)) == {"kinds.depthwise", "kinds.pooling"}


def test_kind_spreads_are_the_median_over_shapes_and_round_trip():
    spreads = {"matmul": [0.1, 0.9, 0.2], "pooling": [0.05, 0.4]}
    samples = [
        KindSample(kind, (8, 8), 2, 1e-5, 3e-5, 6, 1e-4, None, value)
        for kind, values in spreads.items()
        for value in values
    ]
    samples.append(KindSample("depthwise", (8, 8), 2, 1e-5, 3e-5, 6, 1e-4, None))  # none kept
    # one shape spreading 90% does not make the kind noisy; the median of its three does count
    assert kind_spreads(samples) == {
        "kinds.matmul": pytest.approx(0.2),
        "kinds.pooling": pytest.approx((0.05 + 0.4) / 2),
    }
    assert samples_from_summary(samples_summary(samples)) == samples
    # samples stored before spreads were recorded load with none
    old = [{k: v for k, v in row.items() if "spread" not in k} for row in samples_summary(samples)]
    assert all(s.inference_spread is None for s in samples_from_summary(old))


def test_a_fit_faster_than_the_peak_is_refitted_at_the_ceiling():
    # 2 layers per sample, per layer 4 us + work / 2.37 (the efficiency once accepted under
    # load): at e = 2.37 a layer would be predicted below its floor (work / 1)
    def sample(work):
        return _sample(work, 3 * work, 6, 2 * (4e-6 + work / 2 / 2.37), None)

    samples = [sample(1e-5), sample(1e-4), sample(1e-3)]
    assert over_peak(samples) == {"matmul": pytest.approx(2.37)}
    factors = fit_kind(samples)
    assert factors.efficiency == MAX_EFFICIENCY == 1.0
    works = [s.work_s / 2 for s in samples]
    times = [s.inference_s / 2 for s in samples]
    # overhead at e = 1: the 1/t^2-weighted mean of (time - work), clipped at 0
    weights = [1 / t**2 for t in times]
    expected = sum(w * (t - x) for w, x, t in zip(weights, works, times)) / sum(weights)
    assert factors.overhead_s == pytest.approx(max(expected, 0.0))
    assert overhead_at(works, times, 1.0) == factors.overhead_s
    for x in works:  # never below the floor
        assert (factors.overhead_s or 0) + x / factors.efficiency >= x
    stored = DeviceProfile(
        "cpu", {"float32": 1e11}, 1e10, measured={"kinds": {"samples": samples_summary(samples)}}
    )
    assert refit(stored).measured["kinds"]["over_peak"] == {"matmul": pytest.approx(2.37)}


def test_a_fit_within_the_peak_is_left_alone_and_the_backward_pass_is_capped_too():
    def sample(work):  # e = 0.5, b = 3 (backward at e * b = 1.5: faster than the peak)
        inference = 2 * (work / 2 / 0.5)
        return _sample(work, 3 * work, 6, inference, work / 0.5 + 2 * work / (0.5 * 3))

    samples = [sample(1e-5), sample(1e-4), sample(1e-3)]
    factors = fit_kind(samples)
    assert over_peak(samples) == {}
    assert factors.efficiency == pytest.approx(0.5)
    assert factors.backward_efficiency == pytest.approx(1 / 0.5)  # e * b capped at 1


def test_the_h200_calibration_refits_within_the_peak():
    """Real samples: `calibrate --kinds` on the H200 through Keras/jax (docs/validation.md)
    fitted matmul at 6.35 and "other" at 11.5 times the calibrated peak."""
    import json
    from pathlib import Path

    from cnncost.devices import profile_from_dict

    path = Path(__file__).parents[1] / "docs" / "validation" / "h200-jax-kinds.device.json"
    stored = profile_from_dict(json.loads(path.read_text()), str(path))
    assert stored.efficiency["matmul"].efficiency > 6  # as it was saved, before the ceiling
    refitted = refit(stored)
    assert set(refitted.measured["kinds"]["over_peak"]) == {"matmul", "other"}
    for factors in refitted.efficiency.values():
        assert 0 < factors.efficiency <= 1.0
        assert factors.efficiency * factors.backward_efficiency <= 1.0 + 1e-12


def test_calibrate_names_each_kind_refitted_at_the_ceiling(monkeypatch, tmp_path, capsys):
    import cnncost.devices
    from cnncost.cli import main

    def fake_calibrate(name, **kwargs):
        assert kwargs["kinds"] is True
        return DeviceProfile(
            name,
            {"float32": 1e11},
            1e10,
            efficiency={"matmul": KindFactors(1.0, 4e-6)},
            measured={"kinds": {"samples": [], "over_peak": {"matmul": 2.37}}},
        )

    monkeypatch.setattr(cnncost.devices, "calibrate_keras", fake_calibrate)
    out = tmp_path / "d.json"
    assert main(["calibrate", "--engine", "keras", "--kinds", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "matmul: the fit gave efficiency 2.37, faster than the calibrated peak" in text
    assert "refitted at 1.00" in text and out.is_file()
