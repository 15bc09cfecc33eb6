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

    @keras.saving.register_keras_serializable(package="cnncost_tests")
    def cube_root_unit(x):
        return keras.ops.sign(x) * keras.ops.abs(x) ** (1 / 3)

    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation=cube_root_unit)]
    )
    for convention, warning in (
        ("full", "cube_root_unit"),
        ("tf-profiler", "cube_root_unit' is not modelled"),
    ):
        report = analyze(model, flops_convention=convention)
        row = next(r for r in report.layers if r.type == "Conv2D")
        assert row.extra["flops"] is None and row.status == "partial"
        assert any(row.name in w and warning in w for w in report.warnings), report.warnings
        assert report.left_out["flops"] == (row.name,) and report.exact_total("flops") is None
        assert report.totals["macs"] == 6 * 6 * 3 * 3 * 3 * 4 and "macs" not in report.left_out


def test_every_keras_activation_has_a_row():
    """Every function in keras.activations that serializes to a name maps to a table row."""
    import keras

    names = set()
    for attribute in dir(keras.activations):
        function = getattr(keras.activations, attribute)
        if attribute.startswith("_") or attribute in ("serialize", "deserialize", "get"):
            continue
        serialized = keras.activations.serialize(function)
        assert isinstance(serialized, str), (attribute, serialized)
        names.add(serialized)
        assert conventions.activation_key(serialized) in TABLE, serialized
    # Keras 3.15's list (hard_swish and swish serialize as hard_silu and silu).
    assert len(names) >= 30
    assert {"gelu", "glu", "sparsemax", "squareplus", "threshold", "celu"} <= names


# Keras 3.15's keras.activations names, checked without Keras (the test above checks Keras).
KERAS_ACTIVATIONS = (
    "celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh "
    "leaky_relu linear log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink "
    "softmax softplus softsign sparse_plus sparse_sigmoid sparsemax squareplus swish tanh "
    "tanh_shrink threshold"
).split()


@pytest.mark.parametrize("name", [*KERAS_ACTIVATIONS, "gelu_approximate"])
def test_activation_rows_state_their_derivation(name):
    row = TABLE[conventions.activation_key(name)]
    assert row.note
    assert row.forward != Cost() or name == "linear"


def test_new_activation_constants():
    # Counted by the table's rule (one FLOP per arithmetic op, comparison or elementary call).
    forward = {key: TABLE[f"activation:{key}"].forward for key in ("squareplus", "hard_tanh")}
    assert forward["squareplus"] == Cost(output=1 + 1 + 1 + 1 + 1)  # square, add, sqrt, add, div
    assert forward["hard_tanh"] == Cost(output=2)  # max, min
    # glu halves the last axis; Keras reports the unsplit shape, so the row is per input element:
    # (sigmoid 3 + mul 1) per output = 4 / 2 per input element.
    assert TABLE["activation:glu"].forward == Cost(input=(3 + 1) // 2)


def test_resizing_defaults_to_bilinear_and_upsampling_to_nearest():
    assert row_keys("resizing", {}) == ["resizing:bilinear"]
    assert row_keys("upsampling", {}) == ["upsampling:nearest"]
    for key in ("lanczos3", "lanczos5", "area", "bicubic"):
        assert f"resizing:{key}" in TABLE
