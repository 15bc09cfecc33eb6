"""End-to-end training through the console program (slow tier).

Data: a synthetic DeepFashion tree of 8 classes x 40 images (JPEGs 48-96 px), which the seed
architecture at 32x32 input learns in a few CPU epochs.
"""

import csv
import json
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from rm_helpers import REPO, cli_env, popen_cli, run_cli

pytestmark = pytest.mark.slow

CLASSES = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("df")
    proc = run_cli(
        "synth",
        "--out",
        str(root),
        "--classes",
        str(CLASSES),
        "--images-per-class",
        "40",
        "--max-size",
        "96",
        "--min-size",
        "48",
    )
    assert proc.returncode == 0, proc.stderr
    return root


def history(run):
    with (run / "history.csv").open() as f:
        return list(csv.DictReader(f))


def test_seed_cnn_learns_well_above_chance(data, tmp_path):
    run = tmp_path / "run"
    proc = run_cli(
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--model",
        "seed",
        "--image-size",
        "32",
        "--epochs",
        "5",
        "--batch-size",
        "16",
        "--verbose",
        "2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    test = record["test"]
    # Chance is 1/8 = 0.125. The official split leaves ~45 test images, so a chance-level model
    # gets 0.125 +- 0.05 (one s.d.); 0.6 is > 9 s.d. above it and still well below what the
    # model reaches here (1.0 in development), so the test fails only if learning broke.
    assert test["n"] >= 30
    assert test["top1"] >= 0.6, test
    assert test["top5"] >= test["top3"] >= test["top1"]
    assert record["params"] == 896 + 18_496 + 73_856 + (2 * 2 * 128) * CLASSES + CLASSES
    assert record["data"]["skipped"] == {"empty": 1, "missing": 1, "not-jpeg": 1, "truncated": 1}
    assert [int(r["epoch"]) for r in history(run)] == [1, 2, 3, 4, 5]
    for name in ("confusion.csv", "confusion.png", "per_class.csv", "predictions.csv"):
        assert (run / "eval" / name).is_file()

    # evaluate and predict on the finished run, as a user would
    ev = run_cli("evaluate", "--run", str(run), "--split", "test")
    assert ev.returncode == 0 and f"top1={test['top1']:.4f}" in ev.stdout, ev.stdout
    image = next((data / "img").glob("Style0_Blouse/*.jpg"))
    pr = run_cli("predict", "--run", str(run), str(image))
    assert pr.returncode == 0 and pr.stdout.split("\t")[1] == "Blouse", pr.stdout


def test_killed_run_resumes_to_the_same_final_epoch_with_history_intact(data, tmp_path):
    run, epochs = tmp_path / "run", 8
    args = (
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--image-size",
        "48",
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--patience",
        "100",
        "--no-evaluate",
        "--verbose",
        "2",
    )
    proc = popen_cli(*args, log=tmp_path / "first.log")
    deadline = time.time() + 300
    while not (run / "state.json").is_file():
        assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # a real kill: no handler, no clean-up
    proc.wait()
    killed_at = json.loads((run / "state.json").read_text())["epoch"]
    assert 1 <= killed_at < epochs
    before = history(run)

    resumed = run_cli("train", "--out", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = history(run)
    assert [int(r["epoch"]) for r in after] == list(range(1, epochs + 1))
    # rows written before the kill are kept as they were (a row past the checkpoint would go)
    assert after[:killed_at] == before[:killed_at]
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == epochs
    assert state["checkpoint"] == f"checkpoints/epoch-{epochs:03d}.keras"
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    # the resumed epochs continued training: the loss after resuming is below epoch 1's
    assert float(after[-1]["loss"]) < float(after[0]["loss"])
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"epoch-{epochs - 1:03d}.keras",
        f"epoch-{epochs:03d}.keras",
    ]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_train_one_epoch_and_agree_on_the_weights(data, tmp_path):
    import keras

    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    out = tmp_path / "run"
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "reference_model",
                    "train",
                    "--strategy",
                    "multiworker",
                    "--data",
                    str(data),
                    "--out",
                    str(out),
                    "--model",
                    "seed-gap",
                    "--image-size",
                    "24",
                    "--epochs",
                    "1",
                    "--batch-size",
                    "8",
                    "--verbose",
                    "2",
                    "--cache",  # one --cache PATH for both: each worker writes its own file
                    str(tmp_path / "images"),
                ],
                cwd=REPO,
                env=cli_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(x[-2000:] for x in logs)
    chief = keras.saving.load_model(out / "final.keras")
    worker = keras.saving.load_model(out / "worker-1" / "final.keras")
    for a, b in zip(chief.get_weights(), worker.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    record = json.loads((out / "run.json").read_text())
    assert record["distribute"] == {"strategy": "multiworker", "replicas": 2, "global_batch": 16}
    assert [int(r["epoch"]) for r in history(out)] == [1]
    for worker in ("worker-0", "worker-1"):
        assert len(list(tmp_path.glob(f"images.train.{worker}.*.index"))) == 1, worker
    # trained, not just initialised alike: the weights moved away from a fresh build
    keras.utils.set_random_seed(0)
    from reference_model.model import resolve_model

    fresh = resolve_model("seed-gap", 24, CLASSES)
    assert any(
        not np.allclose(a, b) for a, b in zip(fresh.get_weights(), chief.get_weights(), strict=True)
    )


def test_crop_cache_class_weights_folder_labels_item_split_mirrored(data, tmp_path):
    run = tmp_path / "run"
    proc = run_cli(
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--image-size",
        "24",
        "--epochs",
        "2",
        "--crop",
        "--cache",
        "--class-weight",
        "balanced",
        "--labels",
        "folder",
        "--split",
        "item",
        "--strategy",
        "mirrored",
        "--model",
        "seed-bn",
        "--verbose",
        "0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    # folder labels: the misnamed Button-Down items add the class "Shirt"
    assert "Shirt" in record["class_names"] and len(record["class_names"]) == CLASSES + 1
    assert record["distribute"]["strategy"] == "mirrored"
    assert record["config"]["crop"] is True and record["config"]["class_weight"] == "balanced"
    assert [int(r["epoch"]) for r in history(run)] == [1, 2]
    again = run_cli("train", "--data", str(data), "--out", str(run))
    assert again.returncode == 2 and "already holds a run" in again.stderr


def test_a_float_input_model_trains_on_float_batches_and_resumes_from_its_checkpoint(
    data, tmp_path
):
    """A model as runs saved them before the uint8 input (float32 in [0, 1], no Rescaling):
    trained, checkpointed and resumed on float batches scaled on the host, and above chance."""
    import keras

    from reference_model.model import VARIANTS, build_from_spec

    new = build_from_spec(VARIANTS["seed-gap"], (32, 32, 3), CLASSES)
    old = keras.Sequential([keras.Input((32, 32, 3))] + new.layers[1:], name="old")
    model = tmp_path / "old.keras"
    old.save(model)
    out = tmp_path / "run"
    args = ("train", "--data", str(data), "--out", str(out), "--model", str(model))
    proc = run_cli(*args, "--epochs", "2", "--learning-rate", "3e-3", "--batch-size", "16",
                   "--verbose", "0", "--split", "random", "--patience", "10")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "run.json").read_text())["input_dtype"] == "float32"
    checkpoint = keras.saving.load_model(sorted((out / "checkpoints").glob("*.keras"))[-1])
    assert checkpoint.inputs[0].dtype == "float32"  # the run's own checkpoints: float input
    proc = run_cli("train", "--out", str(out), "--resume", "--epochs", "6")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "run.json").read_text())
    assert record["input_dtype"] == "float32" and record["epochs_run"] == 6
    assert record["test"]["top1"] > 1 / CLASSES + 0.25, record["test"]


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_damaged_jpegs_are_named_and_counted_in_training_and_evaluation(tmp_path, backend):
    """Real JPEGs damaged inside (the scan's byte check passes them; only decoding fails) in the
    layout the official download unpacks to (`Img/img/...`), through the installed console
    script: both loaders (tf.data on tensorflow, the PyDataset on jax and torch) name every damaged
    training and validation image in run.json and count it, and the evaluation names the test
    one (`listed` = `n` + 1)."""
    if backend != "tensorflow":
        pytest.importorskip(backend)  # torch: where the `torch` extra is installed
    from pathlib import Path

    from rm_helpers import damaged_jpeg, run_script, write_tiny_dataset

    root = write_tiny_dataset(tmp_path / "DeepFashion", classes=3, images_per_class=10)
    (root / "Img").mkdir()
    (root / "img").rename(root / "Img" / "img")
    rows = (root / "Eval" / "list_eval_partition.txt").read_text().splitlines()[2:]
    split_of = dict(row.split() for row in rows)
    chosen = [n for n, s in split_of.items() if s == "train"][:2]
    chosen += [next(n for n, s in split_of.items() if s == part) for part in ("val", "test")]
    damaged = {}
    for k, name in enumerate(chosen):
        path = root / "Img" / name
        path.write_bytes(damaged_jpeg(path.read_bytes(), ("quant", "huff")[k % 2]))
        damaged[split_of[name]] = damaged.get(split_of[name], []) + [str(path)]
    run = tmp_path / "run"
    done = run_script(
        "train", "--data", str(root), "--out", str(run), "--model", "seed-gap",
        "--image-size", "24", "--batch-size", "4", "--epochs", "2", "--verbose", "0",
        KERAS_BACKEND=backend,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert record["runtime"]["backend"] == backend
    assert record["data"]["skipped"] == {}  # the scan found nothing wrong
    in_training = sorted(damaged["train"] + damaged["val"])
    assert sorted(record["data"]["undecodable_in_training"]) == in_training
    assert record["data"]["undecodable_in_training_count"] == 3
    assert list(record["test"]["undecodable"]) == damaged["test"]
    assert record["test"]["listed"] == record["test"]["n"] + 1
    assert record["test"]["listed"] == list(split_of.values()).count("test")
    # the same from `evaluate` afterwards
    ev = run_script("evaluate", "--run", str(run), "--split", "test", KERAS_BACKEND=backend)
    assert ev.returncode == 0, ev.stderr[-3000:]
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
    assert list(metrics["undecodable"]) == damaged["test"] and Path(damaged["test"][0]).is_file()
