"""The FLOP-convention table: every registry cost resolves to rows, and the table is displayable."""

from __future__ import annotations

import pytest

from cnncost import conventions
from cnncost.conventions import TABLE, Cost, convention_rows, row_keys
from cnncost.layers import _REGISTRY, known_classes
from cnncost.layers.base import LayerRule


def test_every_registry_cost_with_default_config_has_rows():
    for name in known_classes():
        rule: LayerRule = _REGISTRY[name]
        if rule.element_counts is not None:
            continue
        for key in row_keys(rule.cost, {}):
            assert key in TABLE, (name, rule.cost, key)


@pytest.mark.parametrize(
    "cost, config, keys",
    [
        ("conv", {"activation": "relu"}, ["bias", "activation:relu"]),
        ("dense", {"use_bias": False, "activation": "softmax"}, ["activation:softmax"]),
        ("relu_layer", {"max_value": 6.0}, ["activation:relu6"]),
        ("relu_layer", {"negative_slope": 0.1}, ["activation:leaky_relu"]),
        ("resizing", {"interpolation": "bilinear"}, ["resizing:bilinear"]),
        ("activation", {"activation": "swish"}, ["activation:swish"]),
    ],
)
def test_row_keys(cost, config, keys):
    assert row_keys(cost, config) == keys


def test_pooling_costs_are_per_window():
    # max over k values: k-1 compares; average: k-1 adds + 1 multiply
    assert TABLE["max_pool"].forward == Cost(output=-1, tap=1)
    assert TABLE["avg_pool"].forward == Cost(tap=1)


def test_rows_for_display():
    rows = convention_rows()
    assert {row["key"] for row in rows} == set(TABLE)
    relu = next(row for row in rows if row["key"] == "activation:relu")
    assert relu["forward"] == "1 per output element"
    assert conventions.CONVENTIONS == ("full", "tf-profiler")


def test_unknown_activation_is_partial_with_a_warning(tmp_path):
    import keras

    from cnncost.analysis import analyze

    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="squareplus")]
    )
    report = analyze(model)
    row = next(r for r in report.layers if r.type == "Conv2D")
    assert row.extra["flops"] is None and row.status == "partial"
    assert any("activation:squareplus" in w for w in report.warnings)
    assert report.totals["flops"] is None
    assert report.totals["macs"] == 6 * 6 * 3 * 3 * 3 * 4
