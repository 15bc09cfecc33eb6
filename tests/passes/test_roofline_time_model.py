"""The roofline with a device's shape-dependent time model: which model predicts each layer
(fitted, kind factors, raw roofline), the floor kept, profiles without one unchanged."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnncost.analysis import analyze
from cnncost.devices import DeviceProfile, KindFactors, load_device, without_time_model
from cnncost.ir import Node
from cnncost.passes.roofline import layer_shape, time_kind
from cnncost.time_model import C0, P0, KindTimeModel, TimeModel

# 1 GFLOP/s, 1 GB/s, 1 us per layer, 100 us per call; kind factors for matmul only
BASE = DeviceProfile(
    "base",
    {"float32": 1e9, "bfloat16": 4e9},
    1e9,
    1e-6,
    call_overhead_s=1e-4,
    efficiency={"matmul": KindFactors(0.5, 2e-6, 0.25, 5e-6)},
)
# conv fitted (both phases), batchnorm fitted for inference only; nothing else
MODEL = TimeModel(
    {
        "conv": KindTimeModel(
            {"layer": 40e-6, "compute": 2.0, "narrow": 1.0, "window": 0.5},
            {"layer": 10e-6, "compute": 3.0, "short": 2.0},
            4,
        ),
        "batchnorm": KindTimeModel({"layer": 7e-6, "memory": 1.5}, None, 2),
    },
    call_s={"inference": 30e-6, "training": 60e-6},
)
FITTED = dataclasses.replace(BASE, name="fitted", time_model=MODEL)


def _model(keras):
    return keras.Sequential(
        [
            keras.Input((10, 10, 8)),
            keras.layers.Conv2D(16, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(4, name="dense"),
        ]
    )


@pytest.fixture
def devices(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCOST_DEVICES_DIR", str(tmp_path))
    for profile in (BASE, FITTED):
        (tmp_path / f"{profile.name}.json").write_text(json.dumps(profile.to_dict()))
    return tmp_path


def _rows(report):
    return {r.name: r.extra for r in report.layers}


def test_each_layer_is_predicted_by_the_first_model_that_knows_it(devices):
    import keras

    rows = _rows(analyze(_model(keras), batch=2, device="fitted"))
    conv, bn, flat, dense = rows["conv"], rows["bn"], rows["flat"], rows["dense"]
    # conv: fitted. Batch 2 of 8x8x16 outputs from 8 channels, 3x3 kernel, stride 1
    flops = 2 * (2 * 8 * 8 * 16 * 3 * 3 * 8 + 8 * 8 * 16)
    moved = (2 * 10 * 10 * 8 + 3 * 3 * 8 * 16 + 16 + 2 * 8 * 8 * 16) * 4
    compute, memory = flops / 1e9, moved / 1e9
    work = max(compute, memory)
    expected = 40e-6 + 2.0 * compute + 1.0 * work * C0 / (C0 + 8) + 0.5 * work * (1 - 1 / 9)
    assert conv["time_source"] == "fitted:conv"
    assert conv["latency_s"] == pytest.approx(expected, rel=1e-12)
    # training: its own coefficients on the training work (3 kernel-groups: the first layer
    # has no input gradient), `short` with batch * output positions = 2 * 8 * 8
    train = conv["train_flops"] / 1e9
    train_bytes = moved + (moved - 0) + 7 * (3 * 3 * 8 * 16 + 16) * 4  # see test_roofline.py
    train_work = max(train, train_bytes / 1e9)
    assert conv["train_time_source"] == "fitted:conv"
    assert conv["train_latency_s"] == pytest.approx(
        3 * 10e-6 + 3.0 * train + 2.0 * train_work * P0 / (P0 + 2 * 8 * 8), rel=1e-12
    )
    # batchnorm: fitted at inference; no training coefficients -> elementwise has no kind
    # factors on this device -> the raw roofline
    assert bn["time_source"] == "fitted:batchnorm"
    assert bn["latency_s"] == pytest.approx(7e-6 + 1.5 * bn["bytes_moved"] / 1e9, rel=1e-12)
    assert bn["train_time_source"] == "roofline"
    # Flatten: a time kind (reshape) not fitted, kind "other" has no factors: raw roofline
    assert flat["time_source"] == flat["train_time_source"] == "roofline"
    assert flat["latency_s"] == pytest.approx(flat["bytes_moved"] / 1e9 + 1e-6, rel=1e-12)
    # Dense: not fitted, but kind "matmul" has factors: kind factors, as without a time model
    assert dense["time_source"] == dense["train_time_source"] == "kind-factors"
    before = _rows(analyze(_model(keras), batch=2, device="base"))["dense"]
    assert dense["latency_s"] == before["latency_s"]
    assert dense["train_latency_s"] == before["train_latency_s"]


def test_the_whole_model_adds_the_time_models_fixed_cost_per_call(devices):
    import keras

    report = analyze(_model(keras), batch=2, device="fitted")
    rows = [r.extra for r in report.layers if r.extra["latency_s"] is not None]
    # device call overhead 100 us, the time model's 30 us; training: 100 us (the device has no
    # train call overhead of its own) and 60 us
    assert report.totals["latency_s"] == pytest.approx(
        sum(r["latency_s"] for r in rows) + 1e-4 + 30e-6, rel=1e-12
    )
    assert report.totals["train_step_s"] == pytest.approx(
        sum(r["train_latency_s"] for r in rows) + 1e-4 + 60e-6, rel=1e-12
    )
    # without the time model, the call overhead alone
    before = analyze(_model(keras), batch=2, device="base")
    rows = [r.extra for r in before.layers if r.extra["latency_s"] is not None]
    assert before.totals["latency_s"] == pytest.approx(sum(r["latency_s"] for r in rows) + 1e-4)


def test_a_profile_without_a_time_model_predicts_exactly_as_before(devices):
    import keras

    with_model = analyze(_model(keras), batch=2, device="fitted")
    before = analyze(_model(keras), batch=2, device="base")
    dropped = without_time_model(load_device("fitted"))
    assert dropped.time_model is None
    assert dataclasses.replace(dropped, name="base") == load_device("base")
    for name, row in _rows(before).items():
        if row["latency_s"] is None:
            continue
        # the kind factors' formula, by hand, for the conv (test_roofline.py's)
        assert row["time_source"] == ("kind-factors" if name in ("conv", "dense") else "roofline")
    conv = _rows(before)["conv"]
    flops = conv["flops"] / 1e9
    assert conv["latency_s"] == pytest.approx(flops / 0.5 + 2e-6, rel=1e-12)
    assert before.totals["latency_s"] != with_model.totals["latency_s"]


def test_the_floor_stays_a_lower_bound_under_the_time_model(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("CNNCOST_DEVICES_DIR", str(tmp_path))
    tiny = TimeModel({"conv": KindTimeModel({"compute": 0.01}, {"compute": 0.01})})
    fast = dataclasses.replace(BASE, name="fast", time_model=tiny)
    (tmp_path / "fast.json").write_text(json.dumps(fast.to_dict()))
    report = analyze(_model(keras), batch=2, device="fast")
    conv = _rows(report)["conv"]
    assert conv["time_source"] == "fitted:conv"
    assert conv["latency_s"] == conv["floor_s"] == pytest.approx(conv["flops"] / 1e9)
    assert conv["train_latency_s"] == pytest.approx(conv["train_flops"] / 1e9)


def test_another_dtype_than_the_calibration_falls_back(devices):
    import keras

    rows = _rows(analyze(_model(keras), batch=2, device="fitted", dtype="bfloat16"))
    assert rows["conv"]["time_source"] == "kind-factors"
    assert rows["bn"]["time_source"] == "roofline"


def _node(class_name, **config):
    return Node(class_name, class_name, "keras.layers", config)


@pytest.mark.parametrize(
    ("node", "kind"),
    [
        (_node("Conv2D", filters=8, kernel_size=[3, 3]), "conv"),
        (_node("Conv1D", filters=8, kernel_size=[3]), "conv"),
        # groups > 1 runs through XLA on the TF backend: its own kind, even as a depthwise conv
        (_node("Conv2D", filters=8, groups=8, kernel_size=[3, 3]), "grouped"),
        (_node("Conv2D", filters=8, groups=2, kernel_size=[3, 3]), "grouped"),
        (_node("DepthwiseConv2D", kernel_size=[3, 3]), "depthwise"),
        (_node("Conv2DTranspose", filters=8, kernel_size=[3, 3]), None),
        (_node("SeparableConv2D", filters=8, kernel_size=[3, 3]), None),
        (_node("Dense", units=4), "dense"),
        (_node("MaxPooling2D", pool_size=[2, 2]), "pooling"),
        (_node("GlobalAveragePooling2D"), "pooling"),
        (_node("BatchNormalization"), "batchnorm"),
        (_node("LayerNormalization"), None),
        (_node("ReLU"), "activation"),
        (_node("Activation", activation="swish"), "activation"),
        (_node("Activation", activation="softmax"), None),
        (_node("Add"), "merge"),
        (_node("Multiply"), "merge"),
        (_node("Concatenate"), "concat"),
        (_node("Flatten"), "reshape"),
        (_node("Reshape"), "reshape"),
        (_node("ZeroPadding2D"), "padding"),
        (_node("Dropout"), None),
        (_node("Rescaling"), None),
        (Node("Dense", "Dense", "my.package", {}), None),  # a custom class with the same name
    ],
    ids=lambda v: getattr(v, "class_name", str(v)),
)
def test_time_kinds(node, kind):
    assert time_kind(node) == kind


def test_layer_shape_by_hand():
    conv = _node("Conv2D", kernel_size=[3, 5], strides=[2, 1])
    shape = layer_shape(conv, [(None, 33, 33, 24)], [(None, 17, 33, 48)], 32)
    assert (shape.channels, shape.positions, shape.kernel_area, shape.stride_area) == (
        24,
        32 * 17 * 33,
        3 * 5,
        2 * 1,
    )
    first = _node("Conv2D", kernel_size=[3, 3], strides=[1, 1], data_format="channels_first")
    shape = layer_shape(first, [(None, 24, 9, 9)], [(None, 48, 7, 7)], 1)
    assert (shape.channels, shape.positions) == (24, 7 * 7)
    # pooling strides default to the pool size; global pooling's window is the whole input
    pool = layer_shape(_node("MaxPooling2D", pool_size=[2, 2], strides=None), [(None, 8, 8, 4)],
                       [(None, 4, 4, 4)], 1)  # fmt: skip
    assert (pool.kernel_area, pool.stride_area) == (4, 4)
    gap = layer_shape(_node("GlobalAveragePooling2D"), [(None, 9, 13, 4)], [(None, 4)], 2)
    assert (gap.kernel_area, gap.stride_area, gap.positions) == (9 * 13, 1, 2)
    dense = layer_shape(_node("Dense", units=4), [(None, 96)], [(None, 4)], 32)
    assert (dense.channels, dense.positions, dense.kernel_area) == (96, 32, 1)
    # unknown sizes: no shape, so the time model is not used
    assert layer_shape(conv, [(None, None, 33, 24)], [(None, 17, 33, 48)], 1) is None
    assert layer_shape(conv, [None], [(None, 17, 33, 48)], 1) is None


def test_the_console_script_writes_the_time_source(devices):
    """JSON and CSV rows of the real console script name the model that predicted each row;
    the table's prediction line counts them."""
    seed = Path(__file__).parents[2] / "examples" / "models" / "seed_cnn.keras"
    command = [sys.executable, "-m", "cnncost", "report", str(seed), "--device", "fitted"]
    env = {"CNNCOST_DEVICES_DIR": str(devices), "PATH": "", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run([*command, "--format", "json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["layers"]
    sources = {r["type"]: r["time_source"] for r in rows}
    assert sources["Conv2D"] == "fitted:conv"
    assert sources["Dense"] == "kind-factors"
    assert sources["MaxPooling2D"] == "roofline"
    assert sources["InputLayer"] is None
    assert all("train_time_source" in r for r in rows)
    csv = subprocess.run(
        [*command, "--format", "csv", "--columns", "name,time_source,train_time_source"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert csv.returncode == 0, csv.stderr
    lines = csv.stdout.splitlines()
    assert lines[0] == "name,time_source,train_time_source"
    assert "conv2d,fitted:conv,fitted:conv" in lines
    table = subprocess.run(command, capture_output=True, text=True, env={**env, "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "time from" in table.stdout and "fitted:conv 3" in table.stdout
    assert "Time from" in table.stdout  # the column, when the terminal is wide enough
