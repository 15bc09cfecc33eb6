"""Zoo tier: complete `.keras` files as users have them (`model.save()`, weights included),
analysed with `trust_model_code=True`, for a few small models of each package (the per-model
tests use config-only files, which hold the same config.json, to keep the tier fast)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")

from zoo.catalog import build_keras_hub, build_kimm  # noqa: E402
from zoo.harness import model_from_file  # noqa: E402
from zoo.reference import assert_zoo_parity  # noqa: E402

import cnncost  # noqa: E402
from cnncost.errors import CnnCostError  # noqa: E402

SAVED = {
    "kimm-ResNet18": lambda: build_kimm("ResNet18"),
    "kimm-MobileNetV3W050Small": lambda: build_kimm("MobileNetV3W050Small"),
    "keras_hub-ResNetBackbone-bottleneck-v1": lambda: build_keras_hub(
        "ResNetBackbone-bottleneck-v1"
    ),
    "keras_hub-MiTBackbone": lambda: build_keras_hub("MiTBackbone"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAVED))
def test_saved_file(tmp_path, name):
    keras.backend.clear_session()
    model = SAVED[name]()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reference = model_from_file(path)  # what the file means to Keras (see harness.py)
    assert reference.count_params() == model.count_params()
    keras.backend.clear_session()  # automatic layer names restart, as in a fresh process
    assert_zoo_parity(cnncost.analyze(path, trust_model_code=True), reference)


@pytest.mark.slow
def test_subclass_file_without_the_flag_is_a_one_line_refusal_naming_it(tmp_path):
    """Without the opt-in flag a subclass model's file is refused, the message names the flag
    (issue 12, item 1), and nothing of the package is imported to say so."""
    keras.backend.clear_session()
    path = tmp_path / "resnet18.keras"
    build_kimm("ResNet18").save(path)
    with pytest.raises(CnnCostError) as caught:
        cnncost.analyze(path)
    message = str(caught.value)
    assert "\n" not in message
    assert "trust_model_code" in message or "--trust-model-code" in message, message
    code = (
        "import sys, cnncost\n"
        "try:\n"
        f"    cnncost.analyze({str(path)!r})\n"
        "except cnncost.errors.CnnCostError:\n"
        "    pass\n"
        "print(sorted(m for m in ('kimm', 'keras', 'tensorflow') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout
