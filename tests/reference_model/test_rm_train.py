"""`train` in this process on a tiny dataset (seed-gap at 24x24, a second an epoch), and its
checks of the run folder through the console program (one line on stderr, nothing changed)."""

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from rm_helpers import assert_one_line_error, run_cli, tiny_config, write_tiny_dataset

from reference_model.train import pipeline_config, prepare_data, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def history_epochs(run):
    with (run / "history.csv").open() as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_steps_per_epoch_beyond_the_data_runs_that_many_steps(tiny, tmp_path):
    import keras

    cfg = tiny_config(tiny, tmp_path / "run", epochs=2)
    n_train = len(prepare_data(cfg).splits["train"])
    steps = 3 * math.ceil(n_train / cfg.batch_size)  # three passes over the data per epoch
    train(replace(cfg, steps_per_epoch=steps))
    model = keras.saving.load_model(tmp_path / "run" / "final.keras")
    assert int(model.optimizer.iterations) == steps * 2
    assert history_epochs(tmp_path / "run") == [1, 2]


def test_run_json_holds_absolute_paths_usable_from_another_directory(tiny, tmp_path, monkeypatch):
    from reference_model.evaluate import evaluate_run

    work = tmp_path / "work"
    (work / "cache").mkdir(parents=True)
    (work / "data").symlink_to(tiny)
    monkeypatch.chdir(work)
    train(tiny_config("data", "run", cache="cache/images"))
    run = work / "run"
    config = json.loads((run / "run.json").read_text())["config"]
    assert config["data"] == str(tiny.resolve())  # the link resolved
    assert config["out"] == str(run)
    assert config["cache"] == str(work / "cache" / "images")
    assert len(list((work / "cache").glob("images.train.*.index"))) == 1

    monkeypatch.chdir(tmp_path)  # where "data" means nothing
    result = evaluate_run(run, "train")
    assert result["n"] == len(prepare_data(tiny_config(tiny, run)).splits["train"])


def test_a_fresh_run_clears_what_a_run_killed_in_its_first_epoch_left(tiny, tmp_path):
    from reference_model.runfolder import LOCK_NAME, LOCK_TEXT

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / LOCK_NAME).write_text(LOCK_TEXT)  # the first file a run writes
    (run / "history.csv").write_text("epoch,loss,seconds\n1,99.0,1.0\n")  # no state.json
    (run / "checkpoints" / "epoch-007.keras").write_bytes(b"stale")
    np.savez(run / "best-epoch-004.weights.npz", np.zeros(3))
    train(tiny_config(tiny, run))
    assert history_epochs(run) == [1]
    with (run / "history.csv").open() as f:
        assert float(next(csv.DictReader(f))["loss"]) != 99.0
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch-001.keras"]
    assert sorted(p.name for p in run.glob("best-*")) == ["best-epoch-001.weights.npz"]
    state = json.loads((run / "state.json").read_text())
    assert state["best_weights"] == "best-epoch-001.weights.npz"


def test_a_resumed_run_shuffles_with_the_seed_plus_its_first_epoch(tiny, tmp_path):
    cfg = tiny_config(tiny, tmp_path, seed=5)
    assert pipeline_config(cfg, "train", (24, 24), 4, True, first_epoch=0).seed == 5
    assert pipeline_config(cfg, "train", (24, 24), 4, True, first_epoch=3).seed == 5 + 3
    assert not pipeline_config(cfg, "train", (24, 24), 4, True).repeat
    stepped = replace(cfg, steps_per_epoch=10)
    assert pipeline_config(stepped, "train", (24, 24), 4, True).repeat
    assert not pipeline_config(stepped, "val", (24, 24), 4, False).repeat


# -- the cheap checks: before TensorFlow, one line, nothing written --------------------------------


def fake_run(run, tiny, epochs=5, stopped_early=False):
    """A finished run's files as `train` leaves them (no model needed for the checks)."""
    run.mkdir(parents=True)
    config = {**tiny_config(tiny, run, epochs=epochs).__dict__}
    record = {"config": config, "status": "finished", "epochs_run": epochs, "test": {"top1": 1}}
    (run / "run.json").write_text(json.dumps(record))
    state = {"epoch": epochs, "best": 0.5, "best_epoch": 2, "wait": 3}
    state["checkpoint"] = f"checkpoints/epoch-{epochs:03d}.keras"
    (run / "state.json").write_text(json.dumps({**state, "stopped_early": stopped_early}))
    (run / "final.keras").write_bytes(b"a model")
    rows = "".join(f"{e},{1 / e}\n" for e in range(1, epochs + 1))
    (run / "history.csv").write_text("epoch,loss\n" + rows)
    return {p.name: p.read_bytes() for p in run.iterdir()}


@pytest.mark.parametrize("stopped_early, more", [(False, []), (True, ["--epochs", "9"])])
def test_resuming_a_finished_run_changes_nothing(tiny, tmp_path, stopped_early, more):
    run = tmp_path / "run"
    before = fake_run(run, tiny, stopped_early=stopped_early)
    proc = run_cli("train", "--out", str(run), "--resume", *more)
    assert_one_line_error(proc, "the run already finished (5 epochs")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_folder_that_holds_a_run_is_refused(tiny, tmp_path):
    run = tmp_path / "run"
    before = fake_run(run, tiny)
    proc = run_cli("train", "--data", str(tiny), "--out", str(run))
    assert_one_line_error(proc, "already holds a run; use --resume")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_resume_without_a_finished_epoch(tiny, tmp_path):
    run = tmp_path / "run"
    fake_run(run, tiny)
    (run / "state.json").unlink()
    assert_one_line_error(run_cli("train", "--out", str(run), "--resume"), "no state.json")


def test_a_split_with_no_training_images(tiny, tmp_path):
    # --fraction 1e-6 keeps an image only if its hash falls below 1e-6: none of these 24
    proc = run_cli("train", "--data", str(tiny), "--out", str(tmp_path / "r"), "--fraction", "1e-6")
    assert_one_line_error(proc, "leaves train=0")
    assert not (tmp_path / "r").exists()


def test_a_cache_in_a_missing_folder(tiny, tmp_path):
    cache = tmp_path / "nowhere" / "c"
    proc = run_cli(
        "train", "--data", str(tiny), "--out", str(tmp_path / "r"), "--cache", str(cache)
    )
    assert_one_line_error(proc, f"no folder {cache.parent}")


@pytest.mark.parametrize(
    "spec, text",
    [
        ('[{"type": "conv2d"}]', "layer 0 (conv2d) needs filters"),
        ('[{"type": "conv2d", "filters": 4}, {"type": "lstm"}]', "unknown layer type 'lstm'"),
        ('{"layers": 3}', "expected a list of layers"),
        ("conv2d 32 3x3", "not JSON"),
    ],
)
def test_a_bad_spec_file_is_one_line(tiny, tmp_path, spec, text):
    path = tmp_path / "spec.json"
    path.write_text(spec)
    proc = run_cli("train", "--data", str(tiny), "--out", str(tmp_path / "r"), "--model", str(path))
    assert_one_line_error(proc, text)


def test_each_worker_and_split_gets_its_own_cache_file(monkeypatch):
    from reference_model.train import cache_path

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cache_path(None, "train") is None and cache_path("", "train") == ""
    assert cache_path("/c/img", "train") == "/c/img.train"
    cluster = {"worker": ["a:1", "b:2"]}
    names = set()
    for index in (0, 1):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(task))
        names |= {cache_path("/c/img", "train"), cache_path("/c/img", "val")}
    assert names == {
        "/c/img.train.worker-0", "/c/img.val.worker-0", "/c/img.train.worker-1",
        "/c/img.val.worker-1",
    }  # fmt: skip
