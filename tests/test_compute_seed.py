"""The seed CNN end to end: MACs, FLOPs in both conventions, training FLOPs, memory, batch."""

from __future__ import annotations

import pytest

from cnncost.analysis import analyze
from cnncost.conventions import TABLE


@pytest.fixture(scope="module")
def seed_path(tmp_path_factory):
    from support.keras_reference import write_config_only
    from support.models import seed_cnn

    model = seed_cnn()
    return write_config_only(model, tmp_path_factory.mktemp("seed") / "seed.keras")


# Output sizes: 256 -conv3-> 254 -pool2-> 127 -conv3-> 125 -pool2-> 62 -conv3-> 60 -pool2-> 30.
CONV_MACS = [3 * 3 * 3 * 32 * 254 * 254, 3 * 3 * 32 * 64 * 125 * 125, 3 * 3 * 64 * 128 * 60 * 60]
DENSE_MACS = 30 * 30 * 128 * 46
CONV_OUT = [254 * 254 * 32, 125 * 125 * 64, 60 * 60 * 128]
POOL_OUT = [127 * 127 * 32, 62 * 62 * 64, 30 * 30 * 128]


def test_seed_macs(seed_path):
    report = analyze(seed_path)
    assert report.totals["macs"] == sum(CONV_MACS) + DENSE_MACS == 614_461_824


def test_seed_full_flops(seed_path):
    report = analyze(seed_path)
    relu = TABLE["activation:relu"].forward.output
    softmax = TABLE["activation:softmax"].forward.output
    # max pool 2x2: 3 compares per output element
    expected = (
        sum(2 * m + (1 + relu) * n for m, n in zip(CONV_MACS, CONV_OUT))
        + sum((2 * 2 - 1) * n for n in POOL_OUT)
        + 2 * DENSE_MACS
        + (1 + softmax) * 46
    )
    assert report.totals["flops"] == expected
    assert report.conventions["flops"] == "full"


def test_seed_tf_profiler_flops(seed_path):
    # Conv2D 2*MACs, BiasAdd 1/element, Relu 0, MaxPool 4/output, MatMul 2*MACs, Softmax 5.
    report = analyze(seed_path, flops_convention="tf-profiler")
    expected = (
        sum(2 * m + n for m, n in zip(CONV_MACS, CONV_OUT))
        + sum(2 * 2 * n for n in POOL_OUT)
        + 2 * DENSE_MACS
        + 46
        + 5 * 46
    )
    assert report.totals["flops"] == expected == 1_235_958_612  # TF 2.21's profiler's total


def test_train_flops_skip_first_input_gradient(seed_path):
    report = analyze(seed_path)
    convs = [row for row in report.layers if row.type == "Conv2D"]
    first = convs[0]
    # forward + weight gradient only: nothing before the first conv needs its input gradient
    relu = TABLE["activation:relu"]
    expected = (
        2 * CONV_MACS[0]
        + (1 + relu.forward.output) * CONV_OUT[0]  # forward
        + 2 * CONV_MACS[0]
        + CONV_OUT[0]  # weight gradient: kernel + bias
    )
    assert first.extra["train_flops"] == expected
    second = convs[1]
    assert second.extra["train_flops"] == (
        2 * CONV_MACS[1]
        + (1 + relu.forward.output) * CONV_OUT[1]
        + 2 * CONV_MACS[1]
        + relu.backward.output * CONV_OUT[1]  # input gradient
        + 2 * CONV_MACS[1]
        + CONV_OUT[1]  # weight gradient
    )


def test_batch_scales_compute_and_activations_not_weights(seed_path):
    one = analyze(seed_path)
    eight = analyze(seed_path, batch=8)
    for key in ("macs", "flops", "train_flops", "activation_bytes", "peak_activation_bytes"):
        assert eight.totals[key] == 8 * one.totals[key], key
    assert eight.totals["weight_bytes"] == one.totals["weight_bytes"] == 4 * 5_392_494
    assert eight.conventions["batch"] == 8


def test_seed_memory(seed_path):
    report = analyze(seed_path)
    sizes = [256 * 256 * 3, CONV_OUT[0], POOL_OUT[0], CONV_OUT[1], POOL_OUT[1], CONV_OUT[2]]
    sizes += [POOL_OUT[2], POOL_OUT[2], 46]  # ... flatten, dense
    assert report.totals["activation_bytes"] == 4 * sum(sizes)
    # A chain: the peak is the largest (input + output) pair: input->conv2d.
    assert report.totals["peak_activation_bytes"] == 4 * max(
        a + b for a, b in zip(sizes, sizes[1:])
    )
    params = 5_392_494
    assert report.totals["train_bytes"] == 4 * params * (1 + 1 + 2) + 4 * sum(sizes)


def test_padding_aware_changes_nothing_on_valid_padding(seed_path):
    assert analyze(seed_path, padding_aware=True).totals["macs"] == 614_461_824
