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


def test_seed_cnn_is_the_seed_exactly():
    m = seed_cnn()
    assert m.count_params() == 5_392_494
    assert [layer.count_params() for layer in m.layers] == [
        896,
        0,
        18_496,
        0,
        73_856,
        0,
        0,
        5_299_246,
    ]
    assert [tuple(layer.output.shape) for layer in m.layers] == [
        (None, 254, 254, 32),
        (None, 127, 127, 32),
        (None, 125, 125, 64),
        (None, 62, 62, 64),
        (None, 60, 60, 128),
        (None, 30, 30, 128),
        (None, 115_200),
        (None, 46),
    ]
    assert all(getattr(layer, "padding", "valid") == "valid" for layer in m.layers)


def test_variants_differ_where_they_say():
    counts = {v: resolve_model(v, 64, 10).count_params() for v in VARIANTS}
    # GAP head: Dense sees 128 features, not 6*6*128
    assert counts["seed-gap"] == 896 + 18_496 + 73_856 + 128 * 10 + 10
    assert counts["seed-extra-pool"] < counts["seed"]
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
    assert m.output_shape == (None, 5) and m.layers[0].output.shape == (None, 9, 9, 4)
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
