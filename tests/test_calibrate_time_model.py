"""The time model's synthetic layers (`cnncost.calibrate_kinds`): generic sizes only, every time
kind covered, features summed as cnncost counts them, and one tiny real run (plumbing only)."""

from __future__ import annotations

import pytest

from cnncost.calibrate_kinds import (
    ELEMENT_BUDGET,
    FLOP_BUDGET,
    WEIGHTED_KINDS,
    SynthLayer,
    _conv_flops,
    _synthetic_model,
    measure_time_model,
    sample_features,
    synthetic_layers,
)
from cnncost.devices import DeviceProfile
from cnncost.time_model import C0, KIND_FEATURES, P0, TIME_KINDS

# Feature-map sizes of the validation models (docs/validation.md): the 224 and 256 pyramids,
# the sizes ZeroPadding gives before stride-2 layers (ResNet50 230 / 114, MobileNetV2 and
# EfficientNetB0 225 / 113 / 57 / 29 / 15, DenseNet121 230 / 58 / ...), InceptionV3 and
# Xception at 299 (149, 147, 73, 71, 35, 17, 8; 74, 37, 19, 10).
VALIDATION_SIZES = (
    {224 // 2**k for k in range(6)}
    | {256 // 2**k for k in range(6)}
    | {230, 114, 225, 113, 57, 29, 15, 58, 30, 16, 226, 62, 60, 254, 252, 126, 124}
    | {299, 149, 147, 73, 71, 35, 17, 8, 74, 37, 19, 10, 150, 75, 38}
)
DEVICE = DeviceProfile("cpu", {"float32": 1e11}, 1e10, 0.0, call_overhead_s=0.0)


def test_the_synthetic_layers_use_generic_sizes_only():
    configs = synthetic_layers()
    sizes = {c.size for c in configs if c.kind != "dense"}
    assert sizes and not sizes & VALIDATION_SIZES
    assert len({c.name for c in configs}) == len(configs)  # each model once


def test_the_synthetic_layers_cover_every_time_kind_kernel_stride_and_batch():
    configs = synthetic_layers()
    assert {c.kind for c in configs} == set(TIME_KINDS)
    conv = [c for c in configs if c.kind == "conv"]
    assert {c.kernel for c in conv} == {1, 3, 5, 7}
    assert {c.stride for c in conv} == {1, 2}
    assert {c.batch for c in configs} == {1, 32}
    assert {c.kernel for c in configs if c.kind == "depthwise"} == {3, 5, 7}
    assert any(c.in_channels == 3 for c in conv)  # a narrow stem
    for c in configs:
        if c.kind != "dense":
            assert _conv_flops(c) <= FLOP_BUDGET
            assert c.batch * c.size**2 * c.channels <= ELEMENT_BUDGET


def _one_per_variant():
    seen, out = set(), []
    for c in synthetic_layers():
        if (c.kind, c.variant) not in seen:
            seen.add((c.kind, c.variant))
            out.append(SynthLayer(c.kind, c.variant, 9, 16, 2, c.kernel, c.stride, c.layers,
                                  c.in_channels and min(c.in_channels, 16)))  # fmt: skip
    return out


@pytest.mark.parametrize("config", _one_per_variant(), ids=lambda c: c.name)
def test_every_synthetic_model_has_only_layers_of_its_time_kind(config):
    for train in (False, True):
        model = _synthetic_model(config, train=train)
        sums = sample_features(model, DEVICE, config.batch)
        kinds = set(sums)
        weightless = config.kind not in WEIGHTED_KINDS
        expected = {config.kind, "batchnorm"} if train and weightless else {config.kind}
        assert kinds == expected
        for phases in sums.values():
            assert set(phases) == {"inference", "training"}
            for values in phases.values():
                assert all(v >= 0 for v in values.values())
        if not train:
            assert model.trainable_weights or weightless


def test_sample_features_sum_the_layers_by_hand():
    # two 3x3 convs, 8 -> 8 channels, 9x9 "same", batch 2: per layer FLOPs (full convention)
    # 2 * MACs + bias adds per output; bytes in + weights + out
    c = SynthLayer("conv", "conv", 9, 8, 2, kernel=3, stride=1, layers=2)
    sums = sample_features(_synthetic_model(c), DEVICE, 2)["conv"]["inference"]
    flops = 2 * (2 * 9 * 9 * 8 * 3 * 3 * 8 + 9 * 9 * 8)
    moved = (2 * 9 * 9 * 8 + 3 * 3 * 8 * 8 + 8 + 2 * 9 * 9 * 8) * 4
    work = max(flops / 1e11, moved / 1e10)
    assert sums["layer"] == 2
    assert sums["compute"] == pytest.approx(2 * flops / 1e11)
    assert sums["memory"] == pytest.approx(2 * moved / 1e10)
    assert sums["narrow"] == pytest.approx(2 * work * C0 / (C0 + 8))
    assert sums["short"] == pytest.approx(2 * work * P0 / (P0 + 2 * 9 * 9))
    assert sums["window"] == pytest.approx(2 * work * 8 / 9)
    assert sums["strided"] == 0


def test_measure_time_model_runs_real_synthetic_layers():
    # tiny shapes, two rounds: checks the plumbing (models build, run, train, are fitted), not
    # the figures
    configs = [
        SynthLayer("conv", "conv", 9, 8, 1, 3, 1, 2),
        SynthLayer("conv", "conv", 13, 8, 2, 1, 2, 2),
        SynthLayer("pooling", "max", 9, 8, 1, 2, 2, 2),
    ]
    model = measure_time_model(DEVICE, 0.0, configs, repeats=2)
    assert [s.name for s in model.samples] == [c.name for c in configs]
    assert set(model.kinds) == {"conv", "pooling"}  # and batchnorm, in the pooling's training
    assert all(set(m.inference) == set(KIND_FEATURES[k]) for k, m in model.kinds.items())
    for s in model.samples:
        assert s.inference_s is not None and s.inference_s >= 0
        assert s.train_step_s is not None  # the pooling chain trains after a BatchNormalization
    assert set(model.samples[2].features) == {"pooling", "batchnorm"}
    assert "inference" not in model.samples[2].features["batchnorm"]
    assert model.info["models"] == 3 and model.info["rounds"] == 2
    assert model.dtype == "float32"


def test_calibrate_stores_and_names_the_time_model(monkeypatch, tmp_path, capsys):
    import json

    import cnncost.devices
    from cnncost.cli import main
    from cnncost.time_model import KindTimeModel, TimeModel

    model = TimeModel(
        {"conv": KindTimeModel({"layer": 1e-4, "compute": 1.2}, {"layer": 2e-4}, 2)},
        call_s={"inference": 250e-6, "training": 0.0},
    )

    def fake_calibrate(name, **kwargs):
        assert kwargs["kinds"] is True
        return DeviceProfile(name, {"float32": 1e11}, 1e10, time_model=model)

    monkeypatch.setattr(cnncost.devices, "calibrate_keras", fake_calibrate)
    out = tmp_path / "d.json"
    assert main(["calibrate", "--engine", "keras", "--kinds", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "time model: 0 synthetic models, 1 time kinds fitted (conv)" in text
    assert "fixed cost per model call: inference 250 us, training 0 us" in text
    stored = json.loads(out.read_text())["time_model"]
    assert stored["kinds"]["conv"]["inference"] == {"layer": 1e-4, "compute": 1.2}
    assert stored["call_s"] == {"inference": 250e-6, "training": 0.0}
