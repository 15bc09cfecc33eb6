"""Keras 2 files (tf-keras `.h5` and SavedModel) give the shapes and params Keras gives.

Two references nobody here wrote: tf-keras itself (every layer of the saved model, by name) and
Keras 3 (the same architecture built with `keras.applications`, compared on totals and on every
layer Keras 3 names the same way).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.models import seed_cnn

import cnncost

pytestmark = pytest.mark.slow

MODELS = ["seed", "ResNet50", "MobileNetV3Small", "DenseNet121", "EfficientNetB0", "ConvNeXtTiny"]
GENERATOR = Path(__file__).parents[1] / "support" / "tf_keras_models.py"


@pytest.fixture(scope="module")
def legacy_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("tf_keras")
    subprocess.run(
        [sys.executable, str(GENERATOR), str(out), *MODELS],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out, json.loads((out / "reference.json").read_text())


def _rows(report) -> dict:
    return {row.name: row for row in report.layers}


def _assert_matches_tf_keras(report, reference) -> None:
    ours = _rows(report)
    missing = sorted(set(reference["rows"]) - set(ours))
    assert not missing, f"rows tf-keras has and we do not: {missing[:5]}"
    for name, ref in reference["rows"].items():
        row = ours[name]
        assert row.status == "exact", (name, row.status)
        assert list(row.output_shapes[0]) == ref["shape"], (name, row.output_shapes, ref)
        assert (row.trainable_params, row.non_trainable_params) == (
            ref["trainable"],
            ref["non_trainable"],
        ), (name, ref)
    assert report.totals["params"] == reference["params"]
    assert report.totals["trainable_params"] == reference["trainable"]
    assert not report.warnings, report.warnings


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("form", [".h5", ".keras", "_savedmodel"])
def test_tf_keras_file_matches_tf_keras(legacy_files, name, form):
    out, reference = legacy_files
    report = cnncost.analyze(out / f"{name}{form}")
    _assert_matches_tf_keras(report, reference[name])


def _keras3_model(name: str, input_shape):
    import keras

    if name == "seed":
        return seed_cnn(keras)
    return getattr(keras.applications, name)(weights=None, input_shape=tuple(input_shape))


def _generated_name(name: str, class_name: str) -> bool:
    """Whether `name` is one Keras generates from the class name (keras `to_snake_case`)."""
    snake = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    snake = re.sub("([a-z])([A-Z])", r"\1_\2", snake).lower()
    return re.sub(r"_\d+$", "", name.rsplit("/", 1)[-1]) == snake


@pytest.mark.parametrize("name", MODELS)
def test_tf_keras_file_matches_keras3(legacy_files, name):
    from tests.support.keras_reference import keras_rows

    out, reference = legacy_files
    model = _keras3_model(name, reference[name]["input_shape"])
    keras3 = keras_rows(model)
    for form in (".h5", "_savedmodel"):
        report = cnncost.analyze(out / f"{name}{form}")
        assert report.totals["params"] == model.count_params()
        ours = _rows(report)
        # Every weighted layer of Keras 3, as a multiset of (shape, trainable, non-trainable).
        weighted_ours = sorted(
            (tuple(r.output_shapes[0]), r.trainable_params, r.non_trainable_params)
            for r in report.layers
            if r.params
        )
        weighted_keras3 = sorted(
            (tuple(r["shape"]), r["trainable"], r["non_trainable"])
            for r in keras3.values()
            if r["trainable"] + r["non_trainable"]
        )
        assert weighted_ours == weighted_keras3
        # Layers both name the same way (the applications name theirs) agree on shape; names
        # Keras generates from the class (`re_lu_3`) depend on creation order, so are skipped.
        shared = [n for n in keras3 if n in ours and not _generated_name(n, ours[n].type)]
        for layer_name in shared:
            assert tuple(ours[layer_name].output_shapes[0]) == keras3[layer_name]["shape"], (
                layer_name
            )
        assert ours[report.layers[-1].name].output_shapes[0] == model.output_shape


def test_seed_cnn_exact_figures(legacy_files):
    out, _ = legacy_files
    for form in (".h5", "_savedmodel"):
        report = cnncost.analyze(out / f"seed{form}")
        convs = [r for r in report.layers if r.type == "Conv2D"]
        assert [r.params for r in convs] == [
            (3 * 3 * 3 + 1) * 32,
            (3 * 3 * 32 + 1) * 64,
            (3 * 3 * 64 + 1) * 128,
        ]
        assert report.totals["params"] == 5_392_494
        assert report.totals["macs"] == (
            254 * 254 * 32 * 3 * 3 * 3
            + 125 * 125 * 64 * 3 * 3 * 32
            + 60 * 60 * 128 * 3 * 3 * 64
            + 30 * 30 * 128 * 46
        )
