"""Roofline arithmetic on hand-checkable layers, on a made-up device with round numbers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnncost.analysis import analyze
from cnncost.devices import DeviceProfile, KindFactors
from cnncost.errors import CnnCostError
from cnncost.passes.roofline import KINDS, layer_kind, roofline_time

# 1 GFLOP/s, 1 GB/s, 1 microsecond per call: times are FLOPs or bytes in nanoseconds.
ROUND = DeviceProfile("round", {"float32": 1e9, "bfloat16": 4e9}, 1e9, 1e-6)


@pytest.fixture
def round_device(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("CNNCOST_DEVICES_DIR", str(tmp_path))
    (tmp_path / "round.json").write_text(json.dumps(ROUND.to_dict()))
    return "round"


def _conv_model(keras, activation=None):
    return keras.Sequential(
        [
            keras.Input((10, 10, 8)),
            keras.layers.Conv2D(16, 3, name="conv", activation=activation),
            keras.layers.Flatten(name="flat"),
        ]
    )


def test_conv_is_compute_bound_with_hand_counted_flops_and_bytes(round_device):
    import keras

    report = analyze(_conv_model(keras), batch=2, device=round_device)
    conv = {r.name: r for r in report.layers}["conv"].extra
    flops = 2 * (2 * 8 * 8 * 16 * 3 * 3 * 8 + 8 * 8 * 16)  # batch 2: 2*MACs + bias add per output
    bytes_in = 2 * 10 * 10 * 8 * 4
    bytes_w = (3 * 3 * 8 * 16 + 16) * 4
    bytes_out = 2 * 8 * 8 * 16 * 4
    assert conv["flops"] == flops
    assert conv["bytes_moved"] == bytes_in + bytes_w + bytes_out
    assert conv["bound"] == "compute"  # 296,960 FLOPs vs 19,264 bytes at 1 FLOP per byte
    assert conv["latency_s"] == pytest.approx(flops / 1e9 + 1e-6, rel=1e-12)
    assert conv["floor_s"] == pytest.approx(flops / 1e9, rel=1e-12)
    assert conv["arithmetic_intensity"] == pytest.approx(flops / (bytes_in + bytes_w + bytes_out))


def test_flatten_is_memory_bound_reads_and_writes_its_tensor(round_device):
    import keras

    report = analyze(_conv_model(keras), batch=2, device=round_device)
    flat = {r.name: r for r in report.layers}["flat"].extra
    tensor = 2 * 8 * 8 * 16 * 4
    assert flat["flops"] == 0
    assert flat["bytes_moved"] == 2 * tensor
    assert flat["bound"] == "memory"
    assert flat["latency_s"] == pytest.approx(2 * tensor / 1e9 + 1e-6, rel=1e-12)
    assert flat["floor_s"] == 0


def test_training_step_of_a_first_layer_has_no_input_gradient(round_device):
    import keras

    report = analyze(_conv_model(keras), batch=2, device=round_device)
    rows = {r.name: r for r in report.layers}
    conv = rows["conv"].extra
    bytes_in, bytes_out = 2 * 10 * 10 * 8 * 4, 2 * 8 * 8 * 16 * 4
    w = (3 * 3 * 8 * 16 + 16) * 4
    # forward + weight gradient (read dy and x, write dw) + Adam (read w, g, m, v; write w, m, v)
    train_bytes = (bytes_in + w + bytes_out) + (bytes_out + bytes_in + w) + 7 * w
    # three calls: forward, weight gradient, update
    expected = max(conv["train_flops"] / 1e9, train_bytes / 1e9) + 3 * 1e-6
    assert conv["train_latency_s"] == pytest.approx(expected, rel=1e-12)
    # Flatten has no weights but passes a gradient back to the trainable conv: 2 calls.
    flat = rows["flat"].extra
    tensor = 2 * 8 * 8 * 16 * 4
    assert flat["train_latency_s"] == pytest.approx(4 * tensor / 1e9 + 2e-6, rel=1e-12)
    total = sum(r.extra["train_latency_s"] for r in report.layers if r.type != "InputLayer")
    assert report.totals["train_step_s"] == pytest.approx(total)
    assert report.totals["latency_s"] == pytest.approx(conv["latency_s"] + flat["latency_s"])


def test_epoch_time_is_steps_times_the_step(round_device):
    import keras

    report = analyze(_conv_model(keras), batch=32, device=round_device, dataset_size=1000)
    assert report.totals["steps_per_epoch"] == math.ceil(1000 / 32) == 32
    assert report.totals["epoch_s"] == pytest.approx(32 * report.totals["train_step_s"])
    assert report.totals["train_samples_per_s"] == pytest.approx(32 / report.totals["train_step_s"])


def test_bfloat16_policy_uses_the_bfloat16_peak_and_two_byte_activations(round_device):
    import keras

    report = analyze(_conv_model(keras), batch=2, device=round_device, dtype="bfloat16")
    conv = {r.name: r for r in report.layers}["conv"].extra
    assert report.conventions["peak_dtype"] == "bfloat16"
    assert conv["floor_s"] == pytest.approx(conv["flops"] / 4e9)
    assert conv["bytes_moved"] == (2 * 10 * 10 * 8 + 3 * 3 * 8 * 16 + 16 + 2 * 8 * 8 * 16) * 2


def test_a_dtype_the_device_lacks_is_an_error(round_device):
    import keras

    with pytest.raises(CnnCostError, match="no peak for float16"):
        analyze(_conv_model(keras), device=round_device, dtype="float16")


def test_dataset_size_without_device_is_an_error():
    import keras

    with pytest.raises(CnnCostError, match="needs a device"):
        analyze(_conv_model(keras), dataset_size=10)


@given(
    flops=st.integers(0, 10**15),
    moved=st.integers(0, 10**12),
    peak=st.floats(1e6, 1e16),
    bandwidth=st.floats(1e6, 1e14),
    overhead=st.floats(0, 1e-3),
)
def test_roofline_time_is_the_larger_bound_plus_overhead(flops, moved, peak, bandwidth, overhead):
    r = roofline_time(flops, moved, peak, bandwidth, overhead)
    assert r.time_s >= r.floor_s
    assert r.time_s >= moved / bandwidth
    assert r.time_s == pytest.approx(max(flops / peak, moved / bandwidth) + overhead)
    assert r.bound == ("compute" if flops / peak >= moved / bandwidth else "memory")
    # Doubling the work never makes it faster.
    assert roofline_time(2 * flops, moved, peak, bandwidth, overhead).time_s >= r.time_s


# -- per-layer-kind factors ------------------------------------------------------------------------

# matmul kind at half the roofline, 2 us per layer, backward at a quarter of the forward's rate,
# 5 us per kernel-group of a training step; elementwise four times faster than the roofline (a cached tensor); the rest raw.
FACTORED = DeviceProfile(
    "factored",
    {"float32": 1e9},
    1e9,
    1e-6,
    efficiency={
        "matmul": KindFactors(
            0.5, overhead_s=2e-6, backward_efficiency=0.25, train_overhead_s=5e-6
        ),
        "elementwise": KindFactors(efficiency=4.0),
    },
    call_overhead_s=1e-4,
    train_call_overhead_s=3e-4,
)


@pytest.fixture
def factored_device(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("CNNCOST_DEVICES_DIR", str(tmp_path))
    (tmp_path / "factored.json").write_text(json.dumps(FACTORED.to_dict()))
    return "factored"


def test_kind_factors_scale_the_conv_and_leave_the_floor_on_the_raw_peak(factored_device):
    import keras

    report = analyze(_conv_model(keras), batch=2, device=factored_device)
    rows = {r.name: r for r in report.layers}
    conv = rows["conv"].extra
    flops = 2 * (2 * 8 * 8 * 16 * 3 * 3 * 8 + 8 * 8 * 16)  # as in the raw test above
    assert conv["layer_kind"] == "matmul"
    # compute-bound: flops / 1e9 at efficiency 0.5, plus the kind's 2 us (not the device's 1 us)
    assert conv["latency_s"] == pytest.approx(flops / 1e9 / 0.5 + 2e-6, rel=1e-12)
    assert conv["floor_s"] == pytest.approx(flops / 1e9, rel=1e-12)  # physics, no factor
    # training: the forward part at 0.5, the rest at 0.5 * 0.25; three kernel-groups of 5 us
    forward, train = flops / 1e9, conv["train_flops"] / 1e9  # both compute-bound
    expected = forward / 0.5 + (train - forward) / (0.5 * 0.25) + 3 * 5e-6
    assert conv["train_latency_s"] == pytest.approx(expected, rel=1e-12)
    # Flatten is "other", which has no factors: raw roofline with the device's 1 us
    flat = rows["flat"].extra
    assert flat["layer_kind"] == "other"
    assert flat["latency_s"] == pytest.approx(2 * (2 * 8 * 8 * 16 * 4) / 1e9 + 1e-6, rel=1e-12)
    # the model: layers + the call overhead; the train step: layers + the train call overhead
    assert report.totals["latency_s"] == pytest.approx(conv["latency_s"] + flat["latency_s"] + 1e-4)
    assert report.totals["train_step_s"] == pytest.approx(
        conv["train_latency_s"] + flat["train_latency_s"] + 3e-4
    )


def test_an_efficiency_above_one_predicts_below_the_roofline_but_never_moves_the_floor(
    factored_device,
):
    import keras

    model = keras.Sequential([keras.Input((10, 10, 8)), keras.layers.BatchNormalization(name="bn")])
    bn = {r.name: r for r in analyze(model, batch=2, device=factored_device).layers}["bn"].extra
    tensor = 2 * 10 * 10 * 8 * 4
    weights = 4 * 8 * 4  # gamma, beta, moving mean, moving variance
    assert bn["layer_kind"] == "elementwise"
    assert bn["bytes_moved"] == 2 * tensor + weights
    assert bn["latency_s"] == pytest.approx((2 * tensor + weights) / 1e9 / 4 + 1e-6, rel=1e-12)
    assert bn["floor_s"] == pytest.approx(2 * (2 * 10 * 10 * 8) / 1e9, rel=1e-12)  # 2 FLOPs/elem


def test_a_profile_without_factors_gives_the_raw_roofline(round_device):
    import keras

    conv = {r.name: r for r in analyze(_conv_model(keras), batch=2, device=round_device).layers}
    flops = conv["conv"].extra["flops"]
    assert conv["conv"].extra["latency_s"] == pytest.approx(flops / 1e9 + 1e-6, rel=1e-12)


def _node(class_name, module="keras.layers", **config):
    from cnncost.ir import Node

    return Node(class_name, class_name, module, config)


@pytest.mark.parametrize(
    "node, kind",
    [
        (_node("Conv2D", filters=8), "matmul"),
        (_node("Conv1D", filters=8, groups=2), "matmul"),  # grouped, 4 channels per group
        (_node("Conv2D", filters=8, groups=8), "depthwise"),  # one channel per group
        (_node("DepthwiseConv2D"), "depthwise"),
        (_node("DepthwiseConv1D"), "depthwise"),
        (_node("SeparableConv2D", filters=8), "matmul"),  # its MACs are mostly the pointwise
        (_node("Conv2DTranspose", filters=8), "matmul"),
        (_node("Dense"), "matmul"),
        (_node("EinsumDense"), "matmul"),
        (_node("MultiHeadAttention"), "matmul"),
        (_node("MaxPooling2D"), "pooling"),
        (_node("AveragePooling1D"), "pooling"),
        (_node("GlobalAveragePooling2D"), "pooling"),
        (_node("GlobalMaxPooling3D"), "pooling"),
        (_node("BatchNormalization"), "elementwise"),
        (_node("LayerNormalization"), "elementwise"),
        (_node("ReLU"), "elementwise"),
        (_node("Activation"), "elementwise"),
        (_node("Add"), "elementwise"),
        (_node("Multiply"), "elementwise"),
        (_node("Rescaling"), "elementwise"),
        (_node("Add", module="keras.src.ops.numpy"), "elementwise"),  # ops.Add
        (_node("Flatten"), "other"),
        (_node("Reshape"), "other"),
        (_node("ZeroPadding2D"), "other"),
        (_node("Dropout"), "other"),
        (_node("MyCustomLayer", module="my.package"), "other"),  # no rule
    ],
    ids=lambda v: getattr(v, "class_name", v),
)
def test_layer_kinds_come_from_the_registry_cost_key(node, kind):
    assert layer_kind(node) == kind
    assert kind in KINDS


def test_rules_with_macs_and_no_cost_row_are_matmul_kind():
    """An LSTM multiply-accumulates on the matmul units; a keras.ops depthwise conv is
    depthwise; an activation op is elementwise."""
    import keras
    from keras import ops

    from cnncost.analysis import load_graph
    from cnncost.passes.roofline import layer_kind

    sequence = keras.Input((16, 8), name="sequence")
    image = keras.Input((8, 8, 4), name="image")
    lstm = keras.layers.LSTM(4, name="lstm")(sequence)
    relu = ops.relu(ops.depthwise_conv(image, ops.ones((3, 3, 4, 1))))
    graph = load_graph(keras.Model([sequence, image], [lstm, relu]))
    kinds = {node.class_name: layer_kind(node) for node in graph.nodes}
    assert kinds["LSTM"] == "matmul"
    assert kinds["DepthwiseConv"] == "depthwise" and kinds["Relu"] == "elementwise"
