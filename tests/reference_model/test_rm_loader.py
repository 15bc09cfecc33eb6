"""The backend-neutral loader (a keras.utils.PyDataset decoding with Pillow): the same batches
as the tf.data pipeline, file-name shuffling before decoding, repeat, in-memory cache,
undecodable files named; slow: the trainer on the jax and torch backends (trains, resumes after a
kill)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rm_helpers import REPO, cli_env, damaged_jpeg, write_tiny_dataset

from reference_model.data.dataset import load_dataset, make_labels
from reference_model.data.loader import ImageBatches, make_input, make_loader
from reference_model.data.pipeline import PipelineConfig, box_tuple, make_dataset
from reference_model.data.synth import SynthSpec, write_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic(
        root, SynthSpec(classes=6, images_per_class=6, min_size=40, max_size=120, corrupt=False)
    )
    ds = load_dataset(root)
    labels = make_labels(ds, "official")
    files = [s.file for s in ds.samples]
    boxes = [box_tuple(s.bbox) for s in ds.samples]
    return files, list(labels.labels), boxes


@pytest.mark.parametrize("crop", [False, True])
def test_the_same_batches_as_the_tf_data_pipeline(synth, crop):
    files, labels, boxes = synth
    cfg = PipelineConfig((48, 40), batch_size=8, crop=crop)
    theirs = list(make_dataset(files, labels, boxes, cfg))
    ours = make_loader(files, labels, boxes, cfg)
    assert len(ours) == len(theirs) == -(-len(files) // 8)
    for (tx, ty), (ox, oy) in zip(theirs, [ours[i] for i in range(len(ours))], strict=True):
        tx, ty = np.asarray(tx), np.asarray(ty)
        assert oy.tolist() == ty.tolist()  # same images in the same order, same labels
        # uint8 to the device from both: the model scales them in its first layer
        assert ox.shape == tx.shape and ox.dtype == tx.dtype == np.uint8
        # two JPEG decoders (TensorFlow's and Pillow's libjpeg builds): not bit for bit, but a
        # mean difference around one level in 255 and at most a few levels; with --crop tf.data
        # decodes only the box (decode_and_crop_jpeg), whose edge pixels differ more
        diff = np.abs(ox.astype(np.int16) - tx.astype(np.int16))
        assert diff.mean() < 2.0, diff.mean()
        assert np.percentile(diff, 99) <= 8, np.percentile(diff, 99)
        assert diff.max() <= (48 if crop else 16), diff.max()


def _old_style(model):
    """The model as runs saved it before the uint8 input: a float32 input in [0, 1] and no
    Rescaling, the same layers (shared, so the same weights) after it."""
    import keras

    assert type(model.layers[0]).__name__ == "Rescaling"
    return keras.Sequential([keras.Input(model.input_shape[1:])] + model.layers[1:])


@pytest.mark.parametrize("loader", ["tf.data", "PyDataset"])
def test_uint8_batches_give_the_outputs_of_the_float_path(synth, loader):
    """Each loader's uint8 batch through the model (Rescaling(1/255) first) gives the outputs
    that the old path gave: float32 batches scaled on the host, through the same layers."""
    from reference_model.model import VARIANTS, build_from_spec, takes_uint8

    files, labels, boxes = synth
    make = make_dataset if loader == "tf.data" else make_loader
    new = build_from_spec(VARIANTS["seed-gap"], (48, 40, 3), 6)
    old = _old_style(new)
    assert takes_uint8(new) and not takes_uint8(old)
    raw = next(iter(make(files, labels, boxes, PipelineConfig((48, 40), 8))))[0]
    scaled = next(iter(make(files, labels, boxes, PipelineConfig((48, 40), 8, uint8=False))))[0]
    raw, scaled = np.asarray(raw), np.asarray(scaled)
    assert raw.dtype == np.uint8 and scaled.dtype == np.float32 and raw.max() > 1
    np.testing.assert_allclose(scaled, raw / 255, rtol=0, atol=1e-6)
    ours, theirs = new.predict_on_batch(raw), old.predict_on_batch(scaled)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours, old.predict_on_batch(raw.astype(np.float32)), atol=1e-3)


def test_make_input_picks_tf_data_on_tensorflow(synth):
    import keras
    import tensorflow as tf

    files, labels, boxes = synth
    assert keras.backend.backend() == "tensorflow"
    assert isinstance(make_input(files, labels, boxes, PipelineConfig((8, 8), 4)), tf.data.Dataset)


def test_shuffling_permutes_the_file_names_per_pass_by_seed(synth):
    files, labels, boxes = synth
    batches = ImageBatches(files, labels, boxes, (8, 8), 6, shuffle=True, seed=3, repeat=True)
    first, second = batches.order(0), batches.order(1)
    assert sorted(first) == sorted(second) == list(range(len(files)))
    assert first.tolist() != second.tolist()  # a new order each pass
    again = ImageBatches(files, labels, boxes, (8, 8), 6, shuffle=True, seed=3)
    assert again.order(0).tolist() == first.tolist()  # deterministic by seed
    # the annotation list is grouped by class: the first batch of a pass is not
    first_labels = [labels[i] for i in first[:6]]
    assert len(set(first_labels)) >= 3
    # repeat: batches continue into the next pass, which uses the next order
    assert batches.num_batches is None
    per_pass = len(batches)
    x, y = batches[per_pass]
    assert y.tolist() == [labels[i] for i in second[:6]]
    unrepeated = ImageBatches(files, labels, boxes, (8, 8), 6)
    assert unrepeated.num_batches == per_pass
    with pytest.raises(IndexError):
        unrepeated[per_pass]
    assert sum(len(y) for _, y in unrepeated) == len(files)  # a plain loop ends


def test_undecodable_files_are_named_and_left_out(synth, tmp_path):
    files, labels, boxes = synth
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    batches = ImageBatches(
        [files[0], str(broken), files[1]], [labels[0], 99, labels[1]], boxes[:3], (8, 8), 3
    )
    x, y = batches[0]
    assert y.tolist() == [labels[0], labels[1]] and x.shape == (2, 8, 8, 3)
    assert list(batches.skipped) == [str(broken)]
    assert batches.skipped[str(broken)].startswith("OSError: ")  # Pillow: truncated file


@pytest.mark.parametrize("shuffle", [False, True])
def test_both_loaders_name_the_same_damaged_files_and_batch_the_rest(synth, tmp_path, shuffle):
    """Real JPEGs damaged past the scan's byte check, first, in the middle and last: both
    loaders leave the same files out of the same batches and name the same files."""
    from pathlib import Path

    from reference_model.data.images import jpeg_problem

    files, labels, boxes = (list(v[:10]) for v in synth)
    for i, how in ((0, "quant"), (4, "huff"), (9, "quant")):
        bad = tmp_path / f"bad_{i}.jpg"
        bad.write_bytes(damaged_jpeg(Path(files[i]).read_bytes(), how))
        assert jpeg_problem(bad) is None  # the scan keeps it: only decoding finds it
        files[i] = str(bad)
    cfg = PipelineConfig((16, 16), batch_size=4, shuffle=shuffle, seed=5)
    theirs = make_dataset(files, labels, boxes, cfg, with_paths=True)
    ours = make_loader(files, labels, boxes, cfg, with_paths=True)
    tf_batches = [[p.decode() for p in np.asarray(b[2])] for b in theirs]
    py_batches = [ours[i][2].tolist() for i in range(len(ours))]
    # tf.data batches after dropping (4 + 3 images), the PyDataset drops within each batch of 4;
    # shuffled, tf.data also shuffles the decoded images (a buffer after its cache): as sets
    tf_files, py_files = sum(tf_batches, []), sum(py_batches, [])
    if shuffle:
        tf_files, py_files = sorted(tf_files), sorted(py_files)
    assert tf_files == py_files and len(py_files) == 7
    named = {str(tmp_path / f"bad_{i}.jpg") for i in (0, 4, 9)}
    assert set(theirs.skipped) == set(ours.skipped) == named
    assert all(ours.skipped[f].startswith("OSError") for f in named)


def test_in_memory_cache_decodes_each_image_once(synth, monkeypatch):
    import reference_model.data.loader as loader

    files, labels, boxes = synth
    calls = []
    real = loader.decode_resize

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(loader, "decode_resize", counting)
    batches = make_loader(files, labels, boxes, PipelineConfig((8, 8), 5, cache=""))
    first = [batches[i][0] for i in range(len(batches))]
    second = [batches[i][0] for i in range(len(batches))]
    assert sorted(calls) == sorted(files)  # once each
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_a_cache_file_is_tf_data_only(synth):
    from reference_model.errors import UsageError

    files, labels, boxes = synth
    with pytest.raises(UsageError, match="--cache FILE is tf.data's cache"):
        make_loader(files, labels, boxes, PipelineConfig((8, 8), 5, cache="/tmp/x"))


# -- the trainer on the jax backend --------------------------------------------------------------


def _backend_train(backend, data, out, *extra, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "reference_model", "train", "--data", str(data), "--out", str(out),
         "--model", "seed", "--image-size", "32", "--batch-size", "16", "--split", "random",
         "--verbose", "0", *extra],
        cwd=REPO, env=cli_env(KERAS_BACKEND=backend), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_seed_cnn_trains_on_jax_or_torch_above_chance_and_resumes_after_a_kill(
    tmp_path, backend
):
    """On jax (the `jax` extra, in the test environment) and torch (the `torch` extra: not in
    `dev`, see docs/training.md; this case runs where torch is installed)."""
    pytest.importorskip(backend)
    data = write_tiny_dataset(tmp_path / "data", classes=4, images_per_class=40)
    run = tmp_path / "run"
    done = _backend_train(backend, data, run, "--epochs", "6", "--learning-rate", "3e-3", "--cache")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert record["runtime"]["backend"] == backend and record["versions"][backend]
    assert record["test"]["top1"] > 1 / 4 + 0.25, record["test"]  # 4 classes: chance 0.25

    # a second run killed after its first epoch, then resumed to the end
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_model", "train", "--data", str(data), "--out",
         str(killed), "--model", "seed", "--image-size", "32", "--batch-size", "16", "--split",
         "random", "--verbose", "0", "--epochs", "50", "--no-evaluate"],
        cwd=REPO, env=cli_env(KERAS_BACKEND=backend), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    state = killed / "state.json"
    deadline = time.monotonic() + 300
    while not state.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = json.loads(state.read_text())
    assert saved["epoch"] >= 1
    done = _backend_train(backend, data, killed, "--resume", "--epochs", str(saved["epoch"] + 2))
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = json.loads((killed / "run.json").read_text())
    assert resumed["status"] == "finished" and resumed["epochs_run"] == saved["epoch"] + 2
    import csv

    with (killed / "history.csv").open() as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == list(range(1, saved["epoch"] + 3))  # no epoch lost or repeated
    assert (killed / "final.keras").is_file()


def test_each_backend_gets_its_own_distribution_engine():
    from reference_model.distribute import KerasDistribution, make_keras_distribution
    from reference_model.errors import UsageError

    none = make_keras_distribution("none", "torch")
    assert isinstance(none, KerasDistribution) and none.num_replicas_in_sync == 1
    with none.scope():
        pass
    with pytest.raises(UsageError, match="--strategy mirrored is tf.distribute"):
        make_keras_distribution("mirrored", "jax")
    with pytest.raises(UsageError, match="data-parallel is keras.distribution \\(jax backend\\)"):
        make_keras_distribution("data-parallel", "torch")


@pytest.mark.slow
def test_data_parallel_on_jax_splits_each_batch_over_the_devices(tmp_path):
    """keras.distribution.DataParallel over 2 (forced) host devices: global batch 2 x 8, every
    batch a multiple of 2 (a pass's odd last image is left out), trains above chance."""
    pytest.importorskip("jax")
    data = write_tiny_dataset(tmp_path / "data", classes=4, images_per_class=30)
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "reference_model", "train", "--data", str(data), "--out",
         str(run), "--model", "seed", "--image-size", "32", "--batch-size", "8", "--split",
         "random", "--verbose", "0", "--epochs", "5", "--learning-rate", "3e-3", "--strategy",
         "data-parallel"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=cli_env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert record["distribute"] == {"strategy": "data-parallel", "replicas": 2, "global_batch": 16}
    assert len(record["runtime"]["devices"]) == 2
    assert record["test"]["n"] % 2 == 0 and record["test"]["top1"] > 0.5
