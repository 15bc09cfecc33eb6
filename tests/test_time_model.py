"""The shape-dependent time model's fit (`cnncost.time_model`), on stored samples: no timing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncost.errors import CnnCostError
from cnncost.time_model import (
    C0,
    FEATURES,
    INFERENCE,
    KIND_FEATURES,
    P0,
    TRAINING,
    KindTimeModel,
    LayerShape,
    TimeModel,
    TimeSample,
    features,
    fit,
    fit_phase,
    predict,
    predict_floored,
    refit,
    time_model_from_dict,
)

STORED = Path(__file__).parent / "data" / "time_model" / "samples.json"


def _stored():
    data = json.loads(STORED.read_text())
    return data["truth"], [
        TimeSample(s["name"], s["features"], s["inference_s"], s["train_step_s"])
        for s in data["samples"]
    ]


def test_features_by_hand():
    # 2 GFLOP at 100 GFLOP/s = 20 ms; 1 GB at 10 GB/s = 100 ms: memory-bound, work 100 ms
    shape = LayerShape(channels=48, positions=192, kernel_area=9, stride_area=4)
    f = features(2e9, 1e9, 3, shape, 1e11, 1e10)
    assert f["layer"] == 3
    assert f["compute"] == pytest.approx(0.02)
    assert f["memory"] == pytest.approx(0.1)
    assert f["narrow"] == pytest.approx(0.1 * C0 / (C0 + 48))
    assert f["short"] == pytest.approx(0.1 * P0 / (P0 + 192))
    assert f["window"] == pytest.approx(0.1 * (1 - 1 / 9))
    assert f["strided"] == pytest.approx(0.1 * (1 - 1 / 4))
    assert set(f) == set(FEATURES)
    # a 1x1 kernel at stride 1 has no window or stride term
    plain = features(2e9, 1e9, 1, LayerShape(48, 192), 1e11, 1e10)
    assert plain["window"] == plain["strided"] == 0.0


def test_the_fit_recovers_the_coefficients_of_the_stored_samples():
    """Real synthetic-layer features, times from a known formula with 2% noise."""
    truth, samples = _stored()
    model = fit(samples)
    assert set(model.kinds) == set(truth)
    for kind, phases in truth.items():
        for phase, coefficients in phases.items():
            fitted = model.kinds[kind].coefficients(phase)
            assert set(fitted) == set(KIND_FEATURES[kind])
            # the prediction is what is fitted: within the noise on every sample
            for s in samples:
                if kind in s.features:
                    predicted = predict(fitted, s.features[kind][phase]) + model.call_s[phase]
                    assert predicted == pytest.approx(s.measured(phase), rel=0.05)
            # and the per-layer overhead, the coefficient a person reads first, is recovered
            assert fitted["layer"] == pytest.approx(coefficients["layer"], rel=0.15)
    # conv inference: compute + window terms to within 10% (features well apart)
    conv = model.kinds["conv"].inference
    assert conv["compute"] + conv["window"] * (8 / 9) == pytest.approx(1.25 + 0.5 * 8 / 9, rel=0.1)
    assert model.kinds["conv"].samples == sum(1 for s in samples if "conv" in s.features)


def test_refit_from_the_json_form_gives_the_same_model():
    _, samples = _stored()
    model = fit(samples, method="stored", info={"rounds": 10})
    again = time_model_from_dict(json.loads(json.dumps(model.to_dict())), "x.json")
    assert again == model
    assert refit(again) == model


def test_a_kind_without_training_samples_has_no_training_coefficients():
    s = TimeSample("x", {"merge": {INFERENCE: {"layer": 2.0, "memory": 1e-4}}}, 3e-4, None)
    model = fit(
        [s, TimeSample("y", {"merge": {INFERENCE: {"layer": 2.0, "memory": 4e-4}}}, 6e-4, None)]
    )
    assert model.kinds["merge"].training is None
    assert model.coefficients("merge", TRAINING, "float32") is None
    assert model.coefficients("merge", INFERENCE, "float32") is not None
    # another dtype than the calibration's, or a kind not fitted: no coefficients
    assert model.coefficients("merge", INFERENCE, "bfloat16") is None
    assert model.coefficients("conv", INFERENCE, "float32") is None
    assert model.coefficients(None, INFERENCE, "float32") is None


def test_samples_with_no_time_are_left_out_of_the_fit():
    f = {"batchnorm": {INFERENCE: {"layer": 1.0, "memory": 1e-4}}}
    kept = [TimeSample("a", f, 2e-4, None), TimeSample("b", f, 0.0, None)]
    assert fit_phase(kept, INFERENCE)["batchnorm"]["layer"] + fit_phase(kept, INFERENCE)[
        "batchnorm"
    ]["memory"] * 1e-4 == pytest.approx(2e-4)
    assert fit_phase([TimeSample("b", f, None, None)], INFERENCE) == {}


_kind = st.sampled_from(sorted(KIND_FEATURES))


@st.composite
def sample_sets(draw):
    """A random set of samples of one kind with random non-negative features and times."""
    kind = draw(_kind)
    names = KIND_FEATURES[kind]
    n = draw(st.integers(1, 12))
    samples = []
    for i in range(n):
        values = {name: draw(st.floats(0.0, 1e-2)) for name in names}
        values["layer"] = float(draw(st.integers(1, 4)))
        t = draw(st.floats(1e-6, 1e-1))
        samples.append(TimeSample(f"s{i}", {kind: {INFERENCE: values, TRAINING: values}}, t, t))
    return kind, samples


@settings(max_examples=60, deadline=None)
@given(
    drawn=sample_sets(),
    flops=st.floats(0, 1e12),
    moved=st.floats(0, 1e10),
    extra=st.floats(1.0, 100.0),
    channels=st.integers(1, 4096),
    positions=st.integers(1, 10**6),
    kernel=st.integers(1, 49),
    stride=st.integers(1, 4),
)
def test_any_fit_predicts_non_negative_times_monotone_in_work_and_never_below_the_floor(
    drawn, flops, moved, extra, channels, positions, kernel, stride
):
    kind, samples = drawn
    model = fit(samples)
    coefficients = model.coefficients(kind, INFERENCE, "float32")
    assert coefficients is not None
    assert all(c >= 0 and math.isfinite(c) for c in coefficients.values())
    shape = LayerShape(channels, positions, kernel, stride)
    peak, bandwidth = 1e11, 1e10
    base = features(flops, moved, 1, shape, peak, bandwidth)
    more = features(flops * extra, moved * extra, 1, shape, peak, bandwidth)
    t, t_more = predict(coefficients, base), predict(coefficients, more)
    assert t >= 0
    assert t_more >= t * (1 - 1e-12)  # more work at the same shape never takes less time
    floor = flops / peak
    assert predict_floored(coefficients, base, floor) >= floor


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kinds=[]), "'kinds' must be an object"),
        (lambda d: d["kinds"].update(lstm={"inference": {}}), "unknown time kind"),
        (lambda d: d["kinds"]["conv"].update(inference={"flux": 1.0}), "unknown feature 'flux'"),
        (lambda d: d["kinds"]["conv"].update(inference={"layer": -1.0}), "finite number >= 0"),
        (lambda d: d["kinds"]["conv"].update(inference={"layer": float("nan")}), "finite"),
        (lambda d: d["kinds"]["conv"].update(samples=True), "'samples' must be a count"),
        (lambda d: d.update(schema=2), "schema 2 is not 1"),
        (lambda d: d.update(constants={"C0": 8, "P0": 64}), "constants"),
        (lambda d: d.update(samples={}), "'samples' must be a list"),
        (lambda d: d["samples"][0].update(inference_s="1ms"), "'inference_s' must be a number"),
        (lambda d: d["samples"][0]["features"].update(conv={"backward": {}}), "unknown phase"),
        (lambda d: d.update(dtype=32), "'dtype' and 'method' must be strings"),
    ],
)
def test_bad_time_models_are_one_line_errors(mutate, message):
    model = TimeModel(
        {"conv": KindTimeModel({"layer": 1e-4, "compute": 1.2}, None, 1)},
        samples=(TimeSample("s", {"conv": {INFERENCE: {"layer": 1.0}}}, 1e-4, None),),
    )
    data = json.loads(json.dumps(model.to_dict()))
    assert time_model_from_dict(data, "p.json") == model
    mutate(data)
    with pytest.raises(CnnCostError, match=message) as info:
        time_model_from_dict(data, "p.json")
    assert "\n" not in str(info.value) and str(info.value).startswith("p.json: time_model")


def test_the_module_imports_without_numpy_or_keras():
    import subprocess
    import sys

    code = (
        "import sys; import cnncost.time_model, cnncost.devices, cnncost.passes.roofline; "
        "print(sorted(m for m in ('numpy', 'keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_fixed_cost_per_model_call_is_told_apart_from_the_per_layer_overhead():
    # chains of 1, 2 and 4 layers: time = 300 us per call + 50 us per layer + 2 x memory
    samples = []
    for i, (layers, memory) in enumerate([(1, 1e-4), (2, 3e-4), (4, 2e-4), (2, 5e-5), (4, 1e-3)]):
        values = {"layer": float(layers), "memory": memory}
        t = 300e-6 + 50e-6 * layers + 2 * memory
        samples.append(TimeSample(f"s{i}", {"merge": {INFERENCE: values}}, t, None))
    model = fit(samples)
    assert model.call_s[INFERENCE] == pytest.approx(300e-6, rel=1e-6)
    assert model.kinds["merge"].inference["layer"] == pytest.approx(50e-6, rel=1e-6)
    assert model.kinds["merge"].inference["memory"] == pytest.approx(2.0, rel=1e-6)
    assert TRAINING not in model.call_s  # no training samples
    assert time_model_from_dict(model.to_dict(), "p.json").call_s == model.call_s
    with pytest.raises(CnnCostError, match="'call_s' must be an object of phase -> seconds"):
        time_model_from_dict({**model.to_dict(), "call_s": {"backward": 1.0}}, "p.json")
