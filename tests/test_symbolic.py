"""Acceptance 1: a formula evaluated at a size equals the numeric analysis at that size.

Random Sequential chains (conv with strides/dilation/padding, pooling, zero padding, crops,
batch norm, activations, then Flatten+Dense or global pooling) are written as Keras 3 configs;
`formulas(...).evaluate(size)` is compared with `analyze_graph` and the receptive-field pass run
on the plain integer size, for every layer and every quantity. ResNet50 (merges, "same" padding
with stride 2, whose left padding depends on the size's parity) is checked at several sizes.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost.analysis import Options, analyze_graph, load_graph
from cnncost.errors import CnnCostError
from cnncost.loaders.keras_config import graph_from_config
from cnncost.passes.receptive_field import receptive_fields
from cnncost.passes.shapes import infer_shapes
from cnncost.symbolic import formulas, parse_symbolic_shape, symbolic_inputs

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"


def layer(class_name: str, name: str, **config) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": {"name": name, **config}}


def sequential(layers: list[dict], channels: int = 3) -> dict:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "random",
            "layers": [
                layer("InputLayer", "input_layer", batch_shape=[None, None, None, channels]),
                *layers,
            ],
        },
    }


@st.composite
def chain(draw):
    layers = []
    for index in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "pool", "avgpool", "pad", "crop", "bn", "act"]))
        k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        padding = draw(st.sampled_from(["valid", "same"]))
        name = f"{kind}_{index}"
        if kind == "conv":
            dilation = draw(st.integers(1, 3)) if s == 1 else 1
            layers.append(
                layer(
                    "Conv2D",
                    name,
                    filters=draw(st.integers(1, 5)),
                    kernel_size=[k, draw(st.integers(1, 4))],
                    strides=[s, draw(st.integers(1, 3)) if dilation == 1 else 1],
                    padding=padding,
                    dilation_rate=[dilation, dilation],
                    use_bias=draw(st.booleans()),
                    activation=draw(st.sampled_from(["linear", "relu"])),
                )
            )
        elif kind in ("pool", "avgpool"):
            cls = "MaxPooling2D" if kind == "pool" else "AveragePooling2D"
            layers.append(layer(cls, name, pool_size=[k, k], strides=[s, s], padding=padding))
        elif kind == "pad":
            layers.append(layer("ZeroPadding2D", name, padding=[[k, 0], [1, s]]))
        elif kind == "crop":
            layers.append(layer("Cropping2D", name, cropping=[[0, 1], [1, 0]]))
        elif kind == "bn":
            layers.append(layer("BatchNormalization", name, axis=-1))
        else:
            layers.append(layer("Activation", name, activation="relu"))
    head = draw(st.sampled_from(["flatten", "gap", "none"]))
    if head == "flatten":
        layers += [layer("Flatten", "flatten"), layer("Dense", "dense", units=7)]
    elif head == "gap":
        layers += [layer("GlobalAveragePooling2D", "gap"), layer("Dense", "dense", units=7)]
    return layers


def numeric_view(graph, size: tuple[int, int]) -> dict:
    """Everything the formulas claim, from the ordinary passes at an integer size."""
    overrides = {"input_layer": (None, *size, graph.node("input_layer").config["batch_shape"][-1])}
    report = analyze_graph(graph, Options(input_shape=overrides))
    rf = receptive_fields(graph, infer_shapes(graph, overrides))
    rows = {}
    for row in report.layers:
        node_rf = rf.nodes[row.name]["input_layer"]
        if node_rf is None or node_rf.local is None:
            rf_value = "global" if node_rf is not None and node_rf.is_global else None
        elif node_rf.is_global:
            rf_value = "global"
        else:
            rf_value = tuple((m.size_max, m.jump, m.start) for m in node_rf.local.maps)
        rows[row.name] = {
            "shape": row.output_shapes,
            "params": row.params,
            "macs": row.macs,
            "flops": row.extra["flops"],
            "rf": rf_value,
        }
    return rows


def formula_view(evaluated) -> dict:
    rows = {}
    for row in evaluated.rows:
        rf = row.receptive_field["input_layer"]
        rows[row.name] = {
            "shape": row.output_shapes,
            "params": row.values["params"],
            "macs": row.values["macs"],
            "flops": row.values["flops"],
            "rf": rf
            if not isinstance(rf, tuple)
            else tuple((a.size, Fraction(a.jump), a.start) for a in rf),
        }
    return rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(chain(), st.integers(1, 70), st.integers(1, 70))
def test_formulas_evaluated_equal_the_numeric_analysis(layers, height, width):
    graph = graph_from_config(sequential(layers))
    result = formulas(graph)
    try:
        expected = numeric_view(graph, (height, width))
    except CnnCostError:
        # the model does not build at this size: the formulas must refuse it too
        with pytest.raises(CnnCostError, match="does not build"):
            result.evaluate({"H": height, "W": width})
        return
    low_h, low_w = result.valid_from["H"], result.valid_from["W"]
    # the model builds exactly from valid_from on (sizes never shrink as the input grows)
    assert height >= low_h and width >= low_w
    evaluated = result.evaluate({"H": height, "W": width})
    assert formula_view(evaluated) == expected


@pytest.mark.parametrize("size", [(224, 224), (193, 200), (97, 64)])
def test_resnet50_formulas_at_several_sizes(size):
    graph = load_graph(ROOT / "examples" / "models" / "resnet50.keras")
    result = formulas(graph)
    evaluated = result.evaluate({"H": size[0], "W": size[1]})
    assert formula_view(evaluated) == numeric_view(graph, size)


def test_same_padding_start_is_a_formula_of_the_parity():
    # 3x3 stride 2 "same": total padding max(3 - 2 + e, 0) with e = (-n) mod 2, left half of it:
    # 0 for an even size (start 1), 1 for an odd one (start 0).
    conv = layer("Conv2D", "conv", filters=1, kernel_size=[3, 3], strides=[2, 2], padding="same")
    graph = graph_from_config(sequential([conv]))
    start = formulas(graph).row("conv").receptive_field["input_layer"][0].start
    assert start.free_symbols
    for n, expected in ((8, 1), (9, 0), (30, 1), (31, 0)):
        assert (
            formulas(graph)
            .evaluate({"H": n, "W": n})
            .row("conv")
            .receptive_field["input_layer"][0]
            .start
            == expected
        )
        assert numeric_view(graph, (n, n))["conv"]["rf"][0][2] == expected


def test_seed_formulas_hold_their_derivation():
    result = formulas(SEED)
    H, W = sp.symbols("H W", integer=True, positive=True)
    conv = result.row("conv2d")
    # valid 3x3 conv, 3 -> 32 channels: (H-2)(W-2) positions, 3*3*3 MACs per output channel
    assert sp.expand(conv.values["macs"] - 3 * 3 * 3 * 32 * (H - 2) * (W - 2)) == 0
    assert result.valid_from == {"H": 22, "W": 22}
    at_256 = result.evaluate({"H": 256, "W": 256})
    assert at_256.totals["params"] == 5_392_494
    assert at_256.totals["macs"] == 614_461_824
    # one more row or column of input is one more row of the first conv's output
    at_257 = result.evaluate({"H": 257, "W": 256})
    assert at_257.row("conv2d").values["macs"] == 3 * 3 * 3 * 32 * 255 * 254


def test_symbolic_input_shape_text():
    H = sp.Symbol("H", integer=True, positive=True)
    assert parse_symbolic_shape("H,W,3")[0] == H
    assert parse_symbolic_shape("1xHxWx3")[3] == 3
    with pytest.raises(CnnCostError, match="neither"):
        parse_symbolic_shape("H,-2,3")
    graph = load_graph(SEED)
    assert symbolic_inputs(graph, "S,S,3")["input_layer"][1] == sp.Symbol(
        "S", integer=True, positive=True
    )
    with pytest.raises(CnnCostError, match="rank"):
        symbolic_inputs(graph, "H,W")


def test_evaluate_needs_every_symbol():
    result = formulas(SEED)
    with pytest.raises(CnnCostError, match="give a value for 'W'"):
        result.evaluate({"H": 256})
    with pytest.raises(CnnCostError, match="no size symbol 'X'"):
        result.evaluate({"H": 256, "W": 256, "X": 1})


def test_import_cnncost_does_not_import_sympy():
    import subprocess
    import sys

    code = "import sys, cnncost, cnncost.cli; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_formula_cli_json_latex_and_errors():
    import json
    import subprocess
    import sys

    run = [sys.executable, "-m", "cnncost", "formula", str(SEED)]
    out = subprocess.run([*run, "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    H, W = sp.symbols("H W", integer=True, positive=True)
    macs = sp.sympify(data["totals"]["macs"], locals={"H": H, "W": W})
    assert macs.subs({H: 256, W: 256}) == 614_461_824
    latex = subprocess.run([*run, "--format", "latex"], capture_output=True, text=True, cwd=ROOT)
    assert r"\begin{align*}" in latex.stdout
    for bad in (["--input-shape", "H,-1,3"], ["--at", "H=256"], ["--at", "H:256"]):
        result = subprocess.run([*run, *bad], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 2 and result.stderr.startswith("cnncost: error:"), bad


def channels_first_model(height: int, width: int):
    keras = pytest.importorskip("keras")
    from keras import layers as L

    cf = {"data_format": "channels_first"}
    inp = keras.Input((3, height, width))
    x = L.Conv2D(8, 3, strides=2, padding="same", **cf)(inp)
    x = L.Conv2D(8, (3, 5), dilation_rate=2, groups=4, **cf)(x)
    x = L.MaxPooling2D(3, strides=2, padding="same", **cf)(x)
    x = L.BatchNormalization(axis=1)(x)
    x = L.SeparableConv2D(5, 3, **cf)(x)
    x = L.Flatten()(x)  # written as channels_last by Keras
    return keras.Model(inp, L.Dense(3)(x))


def test_channels_first_formulas_are_in_the_spatial_sizes_and_hold_where_keras_builds():
    from cnncost.loaders.keras_live import graph_from_model

    graph = graph_from_model(channels_first_model(32, 30))
    result = formulas(graph)
    (name,) = result.inputs
    channels, height, width = result.inputs[name][1:]
    assert channels == 3 and {str(height), str(width)} == {"H", "W"}
    at_built = result.evaluate({"H": 32, "W": 30})
    report = analyze_graph(graph)
    assert [(r.output_shapes, r.params, r.macs) for r in report.layers] == [
        (r.output_shapes, r.values["params"], r.values["macs"]) for r in at_built.rows
    ]
    low_h, low_w = result.valid_from["H"], result.valid_from["W"]
    channels_first_model(low_h, low_w)  # Keras builds it at the bound...
    for h, w in ((low_h - 1, low_w), (low_h, low_w - 1)):
        with pytest.raises(ValueError):  # ...and not one below it, on either axis
            channels_first_model(h, w)
        with pytest.raises(CnnCostError, match="does not build at"):
            result.evaluate({"H": h, "W": w})


def test_evaluate_refuses_sizes_where_the_model_does_not_build():
    result = formulas(SEED)
    assert result.valid_from == {"H": 22, "W": 22}
    # 3x3 valid conv, 2x2 pool, three times: 10 -> 8 -> 4 -> 2 -> 1 -> then a 3x3 conv on 1
    with pytest.raises(CnnCostError, match=r"H=10, W=10: layer 'conv2d_2' \(Conv2D\)"):
        result.evaluate({"H": 10, "W": 10})
    # 21 -> 19 -> 9 -> 7 -> 3 -> 1 -> a 2x2 pool on 1: empty; the width alone is fine
    with pytest.raises(CnnCostError, match="'max_pooling2d_2'"):
        result.evaluate({"H": 21, "W": 300})
    assert result.evaluate({"H": 22, "W": 22}).row("max_pooling2d_2").output_shapes[0][1] == 1
