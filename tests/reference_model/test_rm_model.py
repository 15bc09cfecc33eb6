"""The seed CNN exactly, its variants, spec files and config-only .keras files."""

import json
import zipfile

import numpy as np
import pytest

from reference_model.errors import UsageError
from reference_model.model import (
    VARIANTS,
    build_from_spec,
    input_size,
    keras_file_kind,
    resolve_model,
    seed_cnn,
)


def conv_params(k, c_in, c_out):
    return k * k * c_in * c_out + c_out  # kernel + bias


def test_seed_cnn_is_the_seed_exactly():
    m = seed_cnn()
    # 256 -(3x3 valid)-> 254 -(pool 2)-> 127 -> 125 -> 62 -> 60 -> 30; Flatten 30*30*128
    convs = [conv_params(3, 3, 32), conv_params(3, 32, 64), conv_params(3, 64, 128)]
    dense = 30 * 30 * 128 * 46 + 46
    # uint8 images in, cast and scaled to [0, 1] by the first layer (no weights)
    assert m.inputs[0].dtype == "uint8" and type(m.layers[0]).__name__ == "Rescaling"
    assert m.layers[0].scale == 1 / 255 and m.layers[0].offset == 0
    assert [layer.count_params() for layer in m.layers] == [
        0, convs[0], 0, convs[1], 0, convs[2], 0, 0, dense
    ]  # fmt: skip
    assert m.count_params() == sum(convs) + dense == 5_392_494  # the seed's printed summary
    assert [tuple(layer.output.shape) for layer in m.layers] == [
        (None, 256, 256, 3),
        (None, 256 - 2, 256 - 2, 32),
        (None, 254 // 2, 254 // 2, 32),
        (None, 127 - 2, 127 - 2, 64),
        (None, 125 // 2, 125 // 2, 64),
        (None, 62 - 2, 62 - 2, 128),
        (None, 60 // 2, 60 // 2, 128),
        (None, 30 * 30 * 128),
        (None, 46),
    ]
    assert all(getattr(layer, "padding", "valid") == "valid" for layer in m.layers)


def test_variants_differ_where_they_say():
    counts = {v: resolve_model(v, 64, 10).count_params() for v in VARIANTS}
    convs = conv_params(3, 3, 32) + conv_params(3, 32, 64) + conv_params(3, 64, 128)
    # at 64: 62 -> 31 -> 29 -> 14 -> 12 -> 6; the extra pool: 3
    assert counts["seed"] == convs + 6 * 6 * 128 * 10 + 10
    assert counts["seed-extra-pool"] == convs + 3 * 3 * 128 * 10 + 10
    # GAP head: Dense sees 128 features, not 6*6*128
    assert counts["seed-gap"] == convs + 128 * 10 + 10
    # BN variant: conv biases dropped, 4 BN parameters (gamma, beta, mean, variance) per channel
    bn_convs = convs - (32 + 64 + 128) + 4 * (32 + 64 + 128)
    assert counts["seed-bn"] == bn_convs + 6 * 6 * 128 * 10 + 10
    bn = resolve_model("seed-bn", 64, 10)
    assert sum(type(layer).__name__ == "BatchNormalization" for layer in bn.layers) == 3


def test_spec_json_file(tmp_path):
    spec = {
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "strides": 2},
            {"type": "global_max_pool"},
        ]
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(spec))
    m = resolve_model(str(path), 20, 5)
    # (20 - 3) // 2 + 1 = 9 per side at stride 2, valid padding
    assert m.output_shape == (None, 5) and m.layers[1].output.shape == (
        None,
        (20 - 3) // 2 + 1,
        9,
        4,
    )
    with pytest.raises(UsageError, match="unknown layer type"):
        build_from_spec([{"type": "lstm"}], (8, 8, 3), 2)


def write_config_only(model, path):
    """What `cnncost suggest` writes: a .keras zip with config.json and metadata.json only."""
    import keras

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(keras.saving.serialize_keras_object(model)))
        z.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))


def test_config_only_keras_file_builds_a_fresh_trainable_model(tmp_path):
    path = tmp_path / "suggested.keras"
    write_config_only(build_from_spec(VARIANTS["seed-extra-pool"], (48, 40, 3), 7), path)
    assert keras_file_kind(path) == "config"
    m = resolve_model(str(path), 256, 7)  # the file's own input size wins over --image-size
    assert input_size(m) == (48, 40)
    m.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((4, 48, 40, 3)).astype("float32")
    before = [w.copy() for w in m.get_weights()]
    m.fit(x, np.arange(4) % 7, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, m.get_weights(), strict=True))


def test_model_files_that_do_not_fit_the_data_are_refused(tmp_path):
    path = tmp_path / "m.keras"
    write_config_only(build_from_spec(VARIANTS["seed-gap"], (32, 32, 3), 7), path)
    with pytest.raises(UsageError, match="7"):
        resolve_model(str(path), 32, 46)
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    with pytest.raises(UsageError, match="not a .keras"):
        resolve_model(str(bad), 32, 7)
    with pytest.raises(UsageError, match="not a variant"):
        resolve_model(str(tmp_path / "missing.keras"), 32, 7)


def test_a_spec_keras_refuses_is_a_one_line_usage_error():
    with pytest.raises(UsageError, match="model spec layer .*bogus") as info:
        build_from_spec([{"type": "conv2d", "filters": 4, "bogus": 1}], (8, 8, 3), 2)
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="does not build") as info:  # pooled down to nothing
        build_from_spec([{"type": "maxpool", "pool": 2}] * 4, (8, 8, 3), 2)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def keras_file(tmp_path, name, layer_config=None):
    """A small functional model saved as .keras; `layer_config` replaces its hidden layer's entry
    in config.json (a class Keras does not know, ...)."""
    import keras

    inp = keras.Input((8, 8, 3))
    hidden = keras.layers.Lambda(lambda t: t * 2, name="hidden")(inp)
    x = keras.layers.GlobalAveragePooling2D()(hidden)
    path = tmp_path / name
    keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x)).save(path)
    if layer_config is not None:
        with zipfile.ZipFile(path) as z:
            parts = {n: z.read(n) for n in z.namelist()}
        config = json.loads(parts["config.json"])
        layers = config["config"]["layers"]
        index = next(i for i, la in enumerate(layers) if la["config"].get("name") == "hidden")
        layers[index] = {**layers[index], **layer_config}
        parts["config.json"] = json.dumps(config).encode()
        with zipfile.ZipFile(path, "w") as z:
            for n, data in parts.items():
                z.writestr(n, data)
    return path


@pytest.mark.parametrize(
    "layer_config",
    [
        None,  # a Lambda: its code is never run
        {"class_name": "NoSuchLayer", "module": "nowhere.layers"},
        {"class_name": "Dense", "config": {"units": "many"}},
    ],
)
def test_a_keras_file_keras_cannot_build_safely_is_a_usage_error(tmp_path, layer_config):
    path = keras_file(tmp_path, "m.keras", layer_config)
    with pytest.raises(UsageError, match="Keras cannot build it") as info:
        resolve_model(str(path), 8, 3)
    assert "\n" not in str(info.value)


def test_train_with_a_lambda_keras_file_is_one_line_and_writes_nothing(tmp_path):
    """Through the console script, as a user runs it."""
    from rm_helpers import assert_last_line_error, run_script, write_tiny_dataset

    path = keras_file(tmp_path, "m.keras")
    data = write_tiny_dataset(tmp_path / "df", classes=3, images_per_class=2)
    out = tmp_path / "run"
    proc = run_script("train", "--data", str(data), "--out", str(out), "--model", str(path))
    assert_last_line_error(proc, "Keras cannot build it")
    assert not out.exists()


def test_cnncost_reads_the_saved_model_and_counts_the_rescaling(tmp_path):
    """The trainer's model file (uint8 input, Rescaling first) through cnncost's file path, as
    `cnncost report final.keras` reads it: every row exact, the Rescaling row's cost counted
    (Keras computes x * scale + offset: 2 FLOPs per element) and the input 1 byte per element."""
    from cnncost import analyze

    model = resolve_model("seed", 64, 10)
    path = tmp_path / "seed.keras"
    model.save(path)
    report = analyze(str(path), batch=2)
    rows = {r.name: r for r in report.layers}
    assert all(r.status == "exact" for r in report.layers)
    assert report.totals["params"] == model.count_params()
    image = 64 * 64 * 3
    scale = rows["rescaling"]
    assert scale.type == "Rescaling" and scale.extra["flops"] == 2 * 2 * image and scale.macs == 0
    (first,) = [r for r in report.layers if r.type == "InputLayer"]
    assert first.extra["activation_bytes"] == 2 * image * 1  # uint8
    assert scale.extra["activation_bytes"] == 2 * image * 4  # float32 out
    assert report.totals["flops"] == sum(r.extra["flops"] for r in report.layers)
