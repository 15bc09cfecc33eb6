"""Functional subclasses (live, and from a file with --trust-model-code) and traced subclassed
models, checked against Keras itself: every row's shape and params, totals == count_params()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

sys.path.insert(0, str(Path(__file__).parent))  # the test models' module, by its own name
from subclass_models import ConvBlock, ResidualStage, SubclassedNet, TinyBackbone  # noqa: E402

from cnncost import analyze  # noqa: E402
from cnncost.errors import ModelConfigError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
from support.keras_reference import keras_rows  # noqa: E402

ROOT = Path(__file__).parents[2]
HERE = Path(__file__).parent


def _env(*extra: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (ROOT, HERE, *extra))
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _cli(*args: str, extra: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnncost", *args],
        capture_output=True,
        text=True,
        env=_env(*extra),
        timeout=300,
    )


def _assert_functional_parity(report, model) -> None:
    """Every row Keras has (nested models flattened) has Keras's shape and params."""
    rows = {row.name: row for row in report.layers}
    reference = keras_rows(model)
    assert set(reference) == set(rows)
    for name, expected in reference.items():
        row = rows[name]
        assert tuple(row.output_shapes[0][1:]) == tuple(expected["shape"][1:]), name
        assert row.params == expected["trainable"] + expected["non_trainable"], name
    assert report.totals["params"] == model.count_params()
    assert all(row.status == "exact" for row in report.layers)


# -- item 1: Functional subclasses ------------------------------------------------------------


def test_functional_subclass_has_constructor_config_not_a_graph():
    # The premise: Keras saves this class as its constructor arguments.
    config = keras.saving.serialize_keras_object(TinyBackbone())
    assert config["class_name"] == "TinyBackbone"
    assert "layers" not in config["config"]


def test_functional_subclass_live():
    model = TinyBackbone()
    report = analyze(model)
    _assert_functional_parity(report, model)
    # stem: a 3x3 stride-2 conv, 3 -> 8 channels, on 24x24 -> 12x12
    stem = next(r for r in report.layers if r.name == "stem")
    assert stem.params == 3 * 3 * 3 * 8 + 8
    assert stem.macs == 12 * 12 * 3 * 3 * 3 * 8


def test_functional_subclass_nested_in_a_functional_model():
    inputs = keras.Input((24, 24, 3))
    outputs = keras.layers.Dense(2, name="top")(TinyBackbone(name="backbone")(inputs))
    model = keras.Model(inputs, outputs)
    report = analyze(model)
    _assert_functional_parity(report, model)
    assert "backbone/stem" in {r.name for r in report.layers}


def test_functional_subclass_as_the_model_output():
    # Keras writes a nested Functional model's output reference counting its calls from 1 (its
    # own first node); the live path counts from 0 like `inbound_nodes`.
    inputs = keras.Input((24, 24, 3))
    model = keras.Model(inputs, TinyBackbone(name="backbone")(inputs))
    report = analyze(model)
    _assert_functional_parity(report, model)
    assert report.outputs[0].name == "backbone/logits"


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    model = TinyBackbone(filters=6, blocks=3)
    path = tmp_path_factory.mktemp("subclass") / "tiny_backbone.keras"
    model.save(path)
    assert json.loads(zipfile.ZipFile(path).read("config.json"))["class_name"] == "TinyBackbone"
    return model, path


def test_functional_subclass_file_without_flag_is_refused(backbone_file):
    _, path = backbone_file
    with pytest.raises(ModelConfigError, match="--trust-model-code") as caught:
        analyze(path)
    message = str(caught.value)
    assert "'cnncost_tests>TinyBackbone' from 'subclass_models'" in message
    assert "imports and runs that package's code" in message
    assert "\n" not in message


def test_functional_subclass_file_with_flag(backbone_file):
    model, path = backbone_file
    report = analyze(path, trust_model_code=True)
    _assert_functional_parity(report, model)
    assert report.source == str(path)


def test_cli_without_flag_one_line_exit_2(backbone_file):
    _, path = backbone_file
    result = _cli("report", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cnncost: error: ")
    assert "pass --trust-model-code" in lines[0]
    assert "off by default because building imports and runs that package's code" in lines[0]


@pytest.mark.slow  # a subprocess importing TensorFlow; the in-process test above is fast
def test_cli_with_flag(backbone_file):
    model, path = backbone_file
    result = _cli("report", str(path), "--trust-model-code", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["totals"]["params"] == model.count_params()
    assert {row["name"] for row in data["layers"]} == set(keras_rows(model))


def _sentinel_file(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A module that records its import, and a .keras file naming it as its model's module."""
    marker = tmp_path / "imported.txt"
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "cnncost_sentinel.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
    )
    config = {
        "module": "cnncost_sentinel",
        "class_name": "Sentinel",
        "config": {"name": "sentinel"},
        "registered_name": "Sentinel",
    }
    path = tmp_path / "sentinel.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    return path, package, marker


PROBE = """
import sys
from cnncost.cli import main
rc = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow", "cnncost_sentinel"))
print(rc, heavy)
"""


def test_file_never_imports_the_named_module_without_flag(tmp_path):
    path, package, marker = _sentinel_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "report", str(path)],
        capture_output=True,
        text=True,
        env=_env(package),
        timeout=300,
    )
    assert result.stdout.split() == ["2", "[]"], result.stdout + result.stderr
    assert "--trust-model-code" in result.stderr
    assert not marker.exists()


def test_file_imports_the_named_module_only_with_flag(tmp_path, monkeypatch):
    # The other side of the test above: the same file with the flag does import the module
    # (and then fails cleanly, the module has no such class).
    path, package, marker = _sentinel_file(tmp_path)
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, "cnncost_sentinel", raising=False)
    with pytest.raises(ModelConfigError, match="could not build") as caught:
        analyze(path, trust_model_code=True)
    assert "\n" not in str(caught.value)
    assert marker.read_text() == "imported"
    monkeypatch.delitem(sys.modules, "cnncost_sentinel", raising=False)


def test_graph_file_path_imports_no_keras(tmp_path):
    # A plain functional model's file still goes through the parser alone.
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    path = tmp_path / "plain.keras"
    model.save(path)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "report", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stdout + result.stderr


# -- item 2: subclassed models, traced ----------------------------------------------------------


def _eager_reference(model, batch: np.ndarray) -> dict[int, list[tuple]]:
    """id(layer) -> output shapes of each call, from an eager forward pass on real data (Keras
    running the layers, not a trace): every leaf layer's `call` is wrapped on the instance."""
    seen: dict[int, list[tuple]] = {}
    leaves = [layer for layer in model._flatten_layers(include_self=False) if not layer._layers]
    originals = {}
    for layer in leaves:
        original = layer.call
        originals[id(layer)] = (layer, original)

        def wrapped(*args, _layer=layer, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            seen.setdefault(id(_layer), []).append(tuple(out.shape))
            return out

        object.__setattr__(layer, "call", wrapped)
    try:
        model(batch)
    finally:
        for layer, _original in originals.values():
            object.__delattr__(layer, "call")
    return seen


def _layer_by_row(model, row):
    """The sub-layer a traced row names: its last path component (names are unique here);
    None for keras.ops rows and inputs."""
    name = row.name.split("/")[-1].split(":")[0]
    found = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if layer.name == name and type(layer).__name__ == row.type != "InputLayer"
    ]
    assert len(found) <= 1, row.name
    return found[0] if found else None


def _assert_traced_parity(report, model, batch: np.ndarray, leaf_calls: int | None = None) -> None:
    eager = _eager_reference(model, batch)
    calls: dict[int, int] = {}
    checked = 0
    for row in report.layers:
        layer = _layer_by_row(model, row)
        if layer is None:
            continue
        k = calls.get(id(layer), 0)
        calls[id(layer)] = k + 1
        expected = eager[id(layer)][k]
        assert tuple(row.output_shapes[0][1:]) == expected[1:], row.name
        owned = layer.count_params() if layer.built else 0
        assert row.params == (owned if k == 0 else 0), row.name
        checked += 1
    # Every leaf layer Keras ran is a row, as often as it ran.
    assert calls == {key: len(shapes) for key, shapes in eager.items()}
    if leaf_calls is not None:
        assert checked == leaf_calls
    final = report.outputs[0].shape
    assert tuple(final[1:]) == tuple(model(batch).shape[1:])
    assert report.totals["params"] == model.count_params()
    assert all(row.status == "exact" for row in report.layers)


def test_subclassed_model_traced_built():
    model = SubclassedNet()
    batch = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    model(batch)
    report = analyze(model)
    _assert_traced_parity(report, model, batch, 3 + 2 * 3 + 2 + 1 + 2)  # stem, blocks, mix x2, ...
    names = [row.name for row in report.layers]
    # composite layers become path prefixes; the model's own rows have none
    assert "stem/" + model.stem.conv.name in names
    assert "stage/" + model.stage.blocks[1].name + "/" + model.stage.blocks[1].conv.name in names
    mix = "stage/" + model.stage.mix.name
    assert mix in names and mix + ":1" in names  # a shared layer: two calls, one set of weights
    assert "head/" + model.head.layers[0].name in names
    types = {row.type for row in report.layers}
    assert {"Add", "Concatenate", "Mean"} <= types  # `x + y`, ops.concatenate, ops.mean
    # stem conv: 3x3, stride 2, no bias, 3 -> 8 channels, 16x16 -> 8x8 outputs
    stem = next(r for r in report.layers if r.name == "stem/" + model.stem.conv.name)
    assert stem.params == 3 * 3 * 3 * 8
    assert stem.macs == 8 * 8 * 3 * 3 * 3 * 8


def test_composite_layers_in_a_functional_model_are_traced():
    inputs = keras.Input((16, 16, 3))
    x = ConvBlock(8, strides=2, name="cb")(inputs)
    x = ResidualStage(8, 2, name="rs")(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(x))
    report = analyze(model)
    batch = np.ones((1, 16, 16, 3), "float32")
    _assert_traced_parity(report, model, batch, 3 + 2 * 3 + 2 + 2)  # cb, rs blocks, mix x2, ...
    names = [row.name for row in report.layers]
    assert "cb/" + model.get_layer("cb").conv.name in names
    assert (
        "rs/" + model.get_layer("rs").blocks[0].name + "/" + model.get_layer("rs").blocks[0].bn.name
        in names
    )


def test_composite_layer_stays_one_row_when_its_trace_fails_the_shape_rules(monkeypatch):
    # e.g. `ops.reshape(x, (ops.shape(x)[0], ...))` traces a reshape to an unknown batch size,
    # which the Reshape rule refuses: the layer must stay one row, not fail the whole model.
    from cnncost.errors import LayerError
    from cnncost.loaders import keras_live

    def refuse(config):
        raise LayerError("refused by a shape rule")

    monkeypatch.setattr(keras_live, "_check_shapes", refuse)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, ConvBlock(8, name="cb")(inputs))
    report = analyze(model)
    assert [(r.type, r.status) for r in report.layers] == [
        ("InputLayer", "exact"),
        ("ConvBlock", "unsupported"),
    ]
    assert report.layers[-1].name == "cb"


def test_subclassed_model_inside_a_functional_model():
    inputs = keras.Input((16, 16, 3))
    inner = SubclassedNet(name="sub")
    model = keras.Model(inputs, inner(inputs))
    report = analyze(model)
    batch = np.ones((1, 16, 16, 3), "float32")
    _assert_traced_parity(report, model, batch, 3 + 2 * 3 + 2 + 1 + 2)
    assert all(r.name.startswith("sub/") for r in report.layers if r.type != "InputLayer")


def test_subclassed_model_unbuilt_needs_an_input_shape():
    model = SubclassedNet()
    with pytest.raises(ModelConfigError, match="input_shape") as caught:
        analyze(model)
    assert "\n" not in str(caught.value)
    report = analyze(model, input_shape="20,20,3")
    assert report.inputs[0].shape == (None, 20, 20, 3)
    batch = np.zeros((1, 20, 20, 3), "float32")
    _assert_traced_parity(report, model, batch, 3 + 2 * 3 + 2 + 1 + 2)


def test_trace_leaves_the_model_unchanged():
    model = SubclassedNet()
    batch = np.zeros((1, 16, 16, 3), "float32")
    expected = np.asarray(model(batch))
    before = {id(layer): len(layer._inbound_nodes) for layer in model._flatten_layers()}
    analyze(model)
    analyze(model)
    after = {id(layer): len(layer._inbound_nodes) for layer in model._flatten_layers()}
    assert after == before
    np.testing.assert_array_equal(np.asarray(model(batch)), expected)
    # and the hooks are gone: a functional model built afterwards records only its own layers
    inputs = keras.Input((16, 16, 3))
    functional = keras.Model(inputs, model.stem(inputs))
    assert [type(layer).__name__ for layer in functional.layers] == ["InputLayer", "ConvBlock"]


def test_trace_error_is_one_line():
    class Broken(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x) + np.zeros((1, 7))  # incompatible on purpose

    with pytest.raises(ModelConfigError, match="tracing Broken") as caught:
        analyze(Broken(), input_shape="5")
    assert "\n" not in str(caught.value)
    assert "Exception encountered" not in str(caught.value)  # Keras's wrapper line is dropped


def test_value_dependent_control_flow_is_a_one_line_error():
    class Branchy(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            if keras.ops.mean(x) > 0:  # depends on values: a trace cannot take this branch
                return self.dense(x)
            return -self.dense(x)

    with pytest.raises(ModelConfigError, match="cannot be used as a boolean") as caught:
        analyze(Branchy(), input_shape="3")
    assert "\n" not in str(caught.value)


def test_a_model_with_its_own_weights_is_traced_with_a_row_per_variable():
    class OwnWeights(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def build(self, shape):
            self.scale = self.add_weight(shape=(2,), initializer="ones", name="scale")

        def call(self, x):
            return self.dense(x) * self.scale

    model = OwnWeights()
    model(np.zeros((1, 3), "float32"))
    report = analyze(model)
    rows = {row.name: row for row in report.layers}
    assert report.complete and all(row.status == "exact" for row in report.layers)
    assert rows["scale"].type == "TracedWeight" and rows["scale"].params == 2
    assert report.totals["params"] == model.count_params() == (3 * 2 + 2) + 2
    assert report.outputs[0].shape == (None, 2)


def test_a_composite_layer_sharing_a_keras_name_is_traced_through():
    """kimm's ViT `Attention` shape: a user class named like Keras's `Attention`, made of Dense
    layers and keras.ops, reshaping to the symbolic batch size (`ops.shape(x)[0]`, None when
    traced): traced into exact rows, not refused as Keras's Attention nor left one row."""
    import keras
    from keras import ops

    import cnncost

    class Attention(keras.layers.Layer):
        def __init__(self, dim, **kwargs):
            super().__init__(**kwargs)
            self.dim = dim
            self.qkv = keras.layers.Dense(dim * 3, name="qkv")
            self.proj = keras.layers.Dense(dim, name="proj")

        def call(self, x):
            batch = ops.shape(x)[0]
            qkv = ops.reshape(self.qkv(x), (batch, -1, 3, self.dim))
            q, k, v = ops.unstack(qkv, 3, axis=2)
            scores = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))), axis=-1)
            return self.proj(ops.matmul(scores, v))

    inputs = keras.Input((16, 8))
    model = keras.Model(inputs, Attention(8, name="attn")(inputs))
    report = cnncost.analyze(model)
    assert report.complete and all(row.status == "exact" for row in report.layers)
    rows = {row.name: row for row in report.layers}
    assert rows["attn/qkv"].output_shapes == ((None, 16, 24),)
    assert report.totals["params"] == model.count_params() == (8 * 24 + 24) + (8 * 8 + 8)
    # q @ k^T and scores @ v: 16*16*8 MACs each, plus the two Dense layers
    assert report.totals["macs"] == 16 * 8 * 24 + 2 * (16 * 16 * 8) + 16 * 8 * 8


def test_a_nested_model_built_for_another_input_size_is_traced():
    """kimm's ReparameterizableConv2D builds its 1x1 branch (a Sequential) for the padded input
    and calls it on the unpadded one; Keras builds such a layer through the backend's output
    spec. The trace does too: every row exact, params equal Keras's."""
    import keras

    import cnncost

    class TwoBranch(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.pad = keras.layers.ZeroPadding2D(1, name="pad")
            self.wide = keras.Sequential([keras.layers.Conv2D(4, 3, name="conv3")], name="wide")
            self.point = keras.Sequential([keras.layers.Conv2D(4, 1, name="conv1")], name="point")

        def build(self, input_shape):
            padded = self.pad.compute_output_shape(input_shape)
            self.wide.build(padded)
            self.point.build(padded)  # built for the padded size, called on the unpadded one

        def call(self, x):
            return self.wide(self.pad(x)) + self.point(x)

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, TwoBranch(name="block")(inputs))
    report = cnncost.analyze(model)
    assert report.complete and all(row.status == "exact" for row in report.layers)
    assert report.totals["params"] == model.count_params() == (3 * 3 * 3 * 4 + 4) + (3 * 4 + 4)
    assert report.outputs[0].shape == (None, 8, 8, 4)


def test_a_layer_whose_get_config_raises_is_traced_or_one_unsupported_row():
    """Some keras-hub layers raise in `get_config`: the live model is still analysed. A layer
    whose call traces needs no config (its rows are exact); one whose call cannot be traced
    (here: a TensorFlow function the trace does not map onto keras.ops) is one unsupported
    row with its params
    from its variables; the rest exact."""
    import keras

    import cnncost

    class NoConfig(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")

        def call(self, x):
            return x * self.scale

        def get_config(self):
            raise NotImplementedError("no config")

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    model = keras.Model(inputs, NoConfig(name="clear")(x))
    report = cnncost.analyze(model)
    rows = {row.name: row for row in report.layers}
    assert report.complete and rows["clear/scale"].params == 4
    assert report.totals["params"] == model.count_params() == (3 * 3 * 3 * 4 + 4) + 4

    class Opaque(NoConfig):
        def call(self, x):
            import tensorflow as tf

            return tf.math.cumsum(x, axis=1) * self.scale  # a TF function no keras.ops maps

    model = keras.Model(inputs, Opaque(name="opaque")(x))
    report = cnncost.analyze(model)
    rows = {row.name: row for row in report.layers}
    assert rows["opaque"].status == "unsupported" and rows["opaque"].params == 4
    assert rows["conv"].status == "exact"
    assert report.totals["params"] == model.count_params() and "params" not in report.left_out
