"""tf-keras models with TensorFlow ops (TFOpLambda / SlicingOpLambda) in `.keras`, `.h5` and
SavedModel files: every recorded tf call becomes the keras.ops operation Keras 3 would write.

References nobody here wrote: tf-keras itself (each layer's output shapes and weights, written by
tests/support/tf_keras_models.py in a subprocess), and Keras 3, which builds the converted config
(`keras.Model.from_config`): its shapes must equal tf-keras's, so the conversion is checked
whether or not cnncost has a rule for the op yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnncost
from cnncost.layers import known_classes
from cnncost.loaders.dispatch import detect_format
from cnncost.loaders.keras2 import TF_OP_CLASSES, normalize_config
from cnncost.loaders.keras_file import read_keras_archive
from cnncost.loaders.keras_h5 import read_h5_config
from cnncost.loaders.saved_model import read_saved_model_config

pytestmark = pytest.mark.slow

GENERATOR = Path(__file__).parents[1] / "support" / "tf_keras_models.py"
FILES = [
    ("tf_ops", ".keras"), ("tf_ops", ".h5"), ("tf_ops", "_savedmodel"),
    ("tf_ops_net", ".keras"), ("tf_ops_net", ".h5"), ("tf_ops_net", "_savedmodel"),
    ("tf_ops_ellipsis", ".h5"), ("tf_ops_ellipsis", "_savedmodel"),
]  # fmt: skip

# keras.ops classes the tf ops map onto that have no cnncost rule yet (none: every row of every
# file must be exact and equal tf-keras's).
AWAITING_RULES: frozenset[str] = frozenset()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("tf_keras_ops")
    names = sorted({name for name, _ in FILES})
    subprocess.run(
        [sys.executable, str(GENERATOR), str(out), *names],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out, json.loads((out / "reference.json").read_text())


def _config(path: Path):
    kind = detect_format(path)
    if kind == "keras":
        return read_keras_archive(path)[0]
    if kind == "h5":
        return read_h5_config(path)[0]
    return read_saved_model_config(path)


def _with_tensor_placeholders(value):
    """Keras 3's deserializer wants a shape and dtype on every tensor reference (it replaces
    the tensor by the one the history names); cnncost's parser does not."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            value["config"].setdefault("shape", [])
            value["config"].setdefault("dtype", "float32")
        for item in value.values():
            _with_tensor_placeholders(item)
    elif isinstance(value, list):
        for item in value:
            _with_tensor_placeholders(item)
    return value


@pytest.mark.parametrize(("name", "form"), FILES)
def test_every_tf_op_becomes_a_keras_op(files, name, form):
    out, _ = files
    raw = _config(out / f"{name}{form}")
    recorded = [lay for lay in raw["config"]["layers"] if lay["class_name"] in TF_OP_CLASSES]
    assert recorded, "the model records TensorFlow ops"
    converted = normalize_config(raw)["config"]["layers"]
    left = [lay["config"]["name"] for lay in converted if lay["class_name"] in TF_OP_CLASSES]
    assert not left, f"tf ops left unmapped: {left}"


@pytest.mark.parametrize(("name", "form"), FILES)
def test_keras3_builds_the_converted_model_with_tf_keras_shapes(files, name, form):
    """The converted config is what Keras 3 writes for the same keras.ops calls: Keras 3 builds
    it, and every operation's output shapes equal those tf-keras recorded for the layer."""
    import keras

    out, reference = files
    config = _with_tensor_placeholders(normalize_config(_config(out / f"{name}{form}")))
    model = keras.Model.from_config(config["config"])
    rows = reference[name]["rows"]
    for operation in model.operations:
        outputs = operation.output if isinstance(operation.output, list) else [operation.output]
        assert [list(t.shape) for t in outputs] == rows[operation.name]["shapes"], operation.name
    assert model.count_params() == reference[name]["params"]


@pytest.mark.parametrize(("name", "form"), FILES)
def test_rows_equal_tf_keras(files, name, form):
    """cnncost's rows equal tf-keras's wherever cnncost has the op's rule; the only rows left
    unknown are ops in AWAITING_RULES (none once the keras.ops rules are merged)."""
    out, reference = files
    report = cnncost.analyze(out / f"{name}{form}")
    known = set(known_classes())
    pending = set()
    for row in report.layers:  # in graph order: a row's inputs come before it
        ref = reference[name]["rows"][row.name]
        awaiting = row.type in AWAITING_RULES and f"ops.{row.type}" not in known
        if awaiting or any(i.split(":")[0] in pending for i in row.inputs):
            pending.add(row.name)
            continue
        assert row.status == "exact", (row.name, row.type, row.status)
        assert [list(s) for s in row.output_shapes] == ref["shapes"], row.name
        assert (row.trainable_params, row.non_trainable_params) == (
            ref["trainable"],
            ref["non_trainable"],
        ), row.name
    assert set(reference[name]["rows"]) == {row.name for row in report.layers}
    if not pending:
        assert report.totals["params"] == reference[name]["params"]
        # the receptive field is not tracked through a resize or a slice of a spatial axis
        # (as for the Resizing layer): those are the only warnings allowed
        others = [w for w in report.warnings if "receptive field" not in w]
        assert report.complete and not others, report.warnings
