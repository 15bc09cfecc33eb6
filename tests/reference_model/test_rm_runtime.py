"""What a run records about where it ran (run.json `runtime`), `train --require-gpu` on a machine
without a GPU, the two-TensorFlows warning, and the install extras (pyproject.toml)."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import replace
from importlib import metadata

import pytest
from rm_helpers import REPO, run_cli, tiny_config, write_tiny_dataset

from reference_model import runtime
from reference_model.train import use_mixed_precision


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def test_require_gpu_without_a_gpu_is_one_line_and_writes_nothing(tiny, tmp_path):
    import tensorflow as tf

    assert not tf.config.list_physical_devices("GPU"), "this test needs a machine without GPU"
    run = tmp_path / "run"
    done = run_cli(
        "train", "--data", str(tiny), "--out", str(run), "--model", "seed-gap",
        "--image-size", "24", "--epochs", "1", "--require-gpu",
    )  # fmt: skip
    # TensorFlow's own C++ start-up lines may precede it (asking TF for GPUs imports it): the
    # error is the last line, one line, no traceback
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("reference-model: error: --require-gpu: no GPU visible to the "
                           "tensorflow backend (it sees /device:CPU:0)"), last  # fmt: skip
    assert ".[gpu]" in last and "Traceback" not in done.stderr
    assert not run.exists()


def test_run_json_records_backend_devices_precision_and_versions(tiny, tmp_path):
    from reference_model.train import train

    cfg = tiny_config(tiny, tmp_path / "run")
    train(replace(cfg, mixed_precision="off"))
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    info = record["runtime"]
    import keras
    import tensorflow as tf

    assert info["backend"] == keras.backend.backend() == "tensorflow"
    assert [d["name"] for d in info["devices"]] == [
        d.name for d in tf.config.list_logical_devices()
    ]
    assert info["gpus"] == len(tf.config.list_logical_devices("GPU")) == 0
    assert info["precision_policy"] == "float32"
    assert info["versions"]["keras"] == keras.__version__
    assert info["versions"]["tensorflow"] == tf.__version__
    assert info["versions"]["tensorflow_distributions"] == runtime.tensorflow_distributions()
    assert record["versions"] == info["versions"]
    assert record["config"]["require_gpu"] is False


def test_mixed_precision_auto_follows_the_gpus_the_backend_sees():
    assert use_mixed_precision("auto", gpus=0) is False
    assert use_mixed_precision("auto", gpus=2) is True
    assert use_mixed_precision("on", gpus=0) is True
    assert use_mixed_precision("off", gpus=1) is False


def test_two_tensorflow_distributions_are_named_in_a_warning(monkeypatch):
    installed = {"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0"}

    def version(name):
        if name in installed:
            return installed[name]
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(runtime.metadata, "version", version)
    assert runtime.tensorflow_distributions() == installed
    info = runtime.runtime_info()
    assert len(info["warnings"]) == 1
    assert "tensorflow 2.21.0, tensorflow-cpu 2.21.0" in info["warnings"][0]
    installed.pop("tensorflow")
    assert runtime.runtime_info()["warnings"] == []


def test_require_gpu_passes_with_a_gpu_and_names_what_the_backend_sees_without():
    runtime.require_gpu({"gpus": 1, "backend": "jax", "devices": []})
    from reference_model.errors import UsageError

    with pytest.raises(UsageError, match=r"jax backend \(it sees cpu:0 cpu\).*jax\[cuda12\]"):
        runtime.require_gpu(
            {"gpus": 0, "backend": "jax", "devices": [{"kind": "cpu", "name": "cpu:0 cpu"}]}
        )


# -- the install extras -------------------------------------------------------------------------


def _extras():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _tensorflows(requirements):
    names = [re.split(r"[\[=<>~! ;]", r, maxsplit=1)[0].lower() for r in requirements]
    return [n for n in names if n in runtime.TENSORFLOW_DISTRIBUTIONS]


def test_each_extra_installs_at_most_one_tensorflow():
    extras = _extras()
    assert _tensorflows(extras["gpu"]) == ["tensorflow"]
    assert any(r.startswith("tensorflow[and-cuda]") for r in extras["gpu"])
    assert _tensorflows(extras["no-tf"]) == []
    for name, requirements in extras.items():
        assert len(_tensorflows(requirements)) <= 1, name
    # the GPU extra and the CPU extras pin the same TensorFlow and Keras versions
    pins = {r for r in extras["train"] + extras["gpu"] if r.startswith(("keras==", "tensorflow"))}
    assert {p.split("==")[1] for p in pins if "tensorflow" in p} == {"2.21.0"}
    assert {r for r in extras["gpu"] + extras["no-tf"] if r.startswith("keras")} == {
        "keras==3.15.1"
    }


def test_every_extra_is_documented_in_one_line():
    text = (REPO / "docs" / "training.md").read_text()
    for name in ("train", "gpu", "no-tf"):
        assert re.search(rf'pip install -e "\.\[{re.escape(name)}\]"', text), name


# -- mixed precision ------------------------------------------------------------------------------


def _fake_gpus(monkeypatch, gpus: int):
    real = runtime.runtime_info

    def info():
        found = real()
        return {**found, "gpus": gpus}

    monkeypatch.setattr(runtime, "runtime_info", info)


def test_mixed_precision_trains_and_a_resume_keeps_the_policy_and_optimizer_state(
    tiny, tmp_path, monkeypatch
):
    """`auto` resolved to mixed_float16 on a (faked) GPU; resumed where it resolves to float32
    (no GPU) the run must keep mixed_float16 and Adam's state, not start a new optimizer."""
    import math

    import keras

    from reference_model.train import prepare_data, train

    cfg = tiny_config(tiny, tmp_path / "run")
    steps = math.ceil(len(prepare_data(cfg).splits["train"]) / cfg.batch_size)
    try:
        _fake_gpus(monkeypatch, 1)
        train(cfg)
        first = json.loads((tmp_path / "run" / "run.json").read_text())
        assert first["mixed_precision"] is True
        assert first["runtime"]["precision_policy"] == "mixed_float16"
        _fake_gpus(monkeypatch, 0)
        train(replace(cfg, epochs=2), resume=True)
        record = json.loads((tmp_path / "run" / "run.json").read_text())
        assert record["mixed_precision"] is True
        assert record["runtime"]["precision_policy"] == "mixed_float16"
        model = keras.saving.load_model(tmp_path / "run" / "final.keras")
        assert model.dtype_policy.name == "mixed_float16"
        assert int(model.optimizer.iterations) == 2 * steps  # state carried over, not reset
    finally:
        keras.config.set_dtype_policy("float32")
