"""The run folder (reference_model/runfolder.py and train's use of it), class by class:

- a fresh run never deletes what the program did not write, and refuses a non-empty folder that
  is not one of its runs;
- one trainer per run folder (an exclusive lock);
- every step after the last epoch is resumable, and state files are replaced durably;
- a damaged or hand-edited state.json / run.json is one line, never a traceback.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rm_helpers import (
    REPO,
    assert_last_line_error,
    assert_one_line_error,
    cli_env,
    popen_cli,
    run_script,
    tiny_config,
    write_tiny_dataset,
)

from reference_model import runfolder as R
from reference_model.errors import UsageError
from reference_model.train import TrainConfig, check_config, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under root, by relative path."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


# -- a fresh run deletes nothing it did not write ----------------------------------------------

# Relative paths a user may keep in a folder, among them the names the program uses itself.
USER_NAMES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "eval/notes.txt",
                "eval/metrics.json",
                "checkpoints/epoch-001.keras",
                "checkpoints/mine.bin",
                "history.csv",
                "final.keras",
                "best-epoch-002.weights.npz",
                "best-epoch-mine.weights.npz",
                "photos/a.jpg",
            ]
        ),
        st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=20)
        .map(lambda s: s.encode()[:200].decode("utf-8", "ignore") or "x")
        .filter(lambda s: s not in (".", "..", "state.json", R.LOCK_NAME)),
    ),
    min_size=1,
    max_size=6,
)


def write_files(root: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        path = root / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(b"user data %d" % i)
        except OSError:  # a name that is a file in one entry and a folder in another
            pass


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=USER_NAMES)
def test_a_folder_that_is_not_a_run_is_refused_and_left_as_it_was(tiny, tmp_path_factory, names):
    out = tmp_path_factory.mktemp("user")
    write_files(out, names)
    before = snapshot(out)
    with pytest.raises(UsageError, match="not empty and is not a reference-model run"):
        train(tiny_config(tiny, out))
    assert snapshot(out) == before


@settings(max_examples=40, deadline=None)
@given(names=USER_NAMES)
def test_clearing_a_killed_first_epoch_removes_only_the_programs_own_files(names):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / R.LOCK_NAME).write_text(R.LOCK_TEXT)
        write_files(root, names)
        before = snapshot(root)
        removed = R.clear_stale(R.RunPaths(root))
        after = snapshot(root)
        gone = set(before) - set(after)
        assert gone == {os.path.relpath(p, root) for p in removed}
        for rel in gone:  # each removed path is one the program writes, by its exact name
            name, parent = Path(rel).name, Path(rel).parent.name
            own = (
                (rel in ("checkpoints", "eval"))
                or (parent == "" and R.OWN_FILES.fullmatch(name))
                or (parent == "checkpoints" and R.OWN_CHECKPOINT.fullmatch(name))
                or (parent == "eval" and name in R.OWN_EVAL)
            )
            assert own, rel
        for rel, content in after.items():  # a folder removed only when it was left empty
            assert before[rel] == content


def test_only_the_programs_best_weights_files_are_pruned(tmp_path):
    for name in ("best-epoch-003.weights.npz", "best-epoch-mine.weights.npz", "best-epoch-7.x"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in R.RunPaths(tmp_path).all_best_weights()] == [
        "best-epoch-003.weights.npz"
    ]


def test_the_console_script_refuses_a_users_folder(tiny, tmp_path):
    user = tmp_path / "mine"
    (user / "eval").mkdir(parents=True)
    (user / "eval" / "thesis.tex").write_text("months of work")
    (user / "checkpoints").mkdir()
    (user / "checkpoints" / "model.keras").write_bytes(b"another model")
    before = snapshot(user)
    proc = run_script("train", "--data", str(tiny), "--out", str(user), "--model", "seed-gap")
    assert_one_line_error(proc, "not empty and is not a reference-model run")
    assert snapshot(user) == before


@pytest.mark.slow
def test_a_fresh_run_over_a_killed_one_keeps_the_files_the_user_added(tiny, tmp_path):
    """A run of ours killed in its first epoch, where the user also put files: a fresh run
    replaces the run's files and keeps the user's."""
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / R.LOCK_NAME).write_text(R.LOCK_TEXT)
    (run / "eval" / "predictions.csv").write_text("stale")
    (run / "eval" / "notes.txt").write_text("keep me")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "epoch-004.keras").write_bytes(b"stale")
    (run / "checkpoints" / "mine.keras").write_bytes(b"keep me too")
    proc = run_script(
        "train", "--data", str(tiny), "--out", str(run), "--model", "seed-gap",
        "--image-size", "24", "--batch-size", "4", "--epochs", "1", "--verbose", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "eval" / "notes.txt").read_text() == "keep me"
    assert (run / "checkpoints" / "mine.keras").read_bytes() == b"keep me too"
    assert not (run / "checkpoints" / "epoch-004.keras").exists()
    assert (run / "eval" / "predictions.csv").read_text() != "stale"


# -- one trainer per run folder ---------------------------------------------------------------


def hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding the run folder's lock, as a running trainer does."""
    code = (
        "import sys, time; from pathlib import Path; from reference_model.runfolder import RunLock;"
        f"lock = RunLock(Path({str(folder)!r})); print('locked', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture(scope="module")
def one_epoch_run(tiny, tmp_path_factory):
    """A run of one epoch (evaluated), copied by each test that damages or locks it."""
    run = tmp_path_factory.mktemp("one") / "run"
    train(tiny_config(tiny, run, epochs=1, evaluate=True, patience=100))
    return run


def copy_run(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to, symlinks=True)
    return to


def test_a_second_trainer_on_a_locked_run_folder_is_one_line(one_epoch_run, tmp_path):
    run = copy_run(one_epoch_run, tmp_path / "run")
    holder = hold_lock(run)
    try:
        before = snapshot(run)
        resumed = run_script("train", "--out", str(run), "--resume", "--epochs", "2")
        assert_one_line_error(
            resumed, f"another trainer is using this run folder (pid {holder.pid})"
        )
        assert snapshot(run) == before
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_fresh_trainer_meets_the_lock_and_a_freed_lock_lets_the_run_go_on(
    one_epoch_run, tiny, tmp_path
):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    holder = hold_lock(fresh)
    try:
        proc = run_script(
            "train", "--data", str(tiny), "--out", str(fresh), "--model", "seed-gap",
            "--image-size", "24", "--epochs", "1",
        )  # fmt: skip
        assert_last_line_error(proc, "another trainer is using this run folder")
        assert sorted(p.name for p in fresh.iterdir()) == [R.LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()
    run = copy_run(one_epoch_run, tmp_path / "run")
    hold_lock(run).kill()  # a trainer that died holding the lock: the lock went with it
    resumed = run_script("train", "--out", str(run), "--resume", "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def test_the_lock_is_exclusive_across_processes_and_freed_on_release(tmp_path):
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(UsageError, match=f"pid {holder.pid}"):
            R.RunLock(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    lock = R.RunLock(tmp_path)
    with pytest.raises(UsageError, match=f"pid {os.getpid()}"):
        R.RunLock(tmp_path)  # another open of the file, even in this process, is refused
    lock.release()
    R.RunLock(tmp_path).release()


@pytest.mark.slow
def test_two_real_trainers_on_one_out(tiny, tmp_path):
    run = tmp_path / "run"
    args = (
        "train", "--data", str(tiny), "--out", str(run), "--model", "seed-gap",
        "--image-size", "24", "--batch-size", "4", "--epochs", "3", "--verbose", "0",
    )  # fmt: skip
    first = popen_cli(*args, log=tmp_path / "first.log")
    deadline = time.time() + 300
    while not (run / "run.json").is_file():
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    second = run_script(*args)
    resume = run_script("train", "--out", str(run), "--resume")
    assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()[-3000:]
    # the second fresh run stops at the state.json check or at the lock, whichever it meets
    assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr[-3000:]
    assert ("another trainer" in second.stderr) or ("already holds a run" in second.stderr)
    assert resume.returncode == 2 and "Traceback" not in resume.stderr, resume.stderr[-3000:]
    with (run / "history.csv").open() as f:
        assert [line.split(",")[0] for line in f.read().splitlines()[1:]] == ["1", "2", "3"]


# -- every step after the last epoch is resumable ---------------------------------------------


@pytest.fixture(scope="module")
def two_epoch_run(tiny, tmp_path_factory):
    run = tmp_path_factory.mktemp("two") / "run"
    cfg = tiny_config(tiny, run, epochs=2, evaluate=True, patience=100)
    train(cfg)
    return cfg


@pytest.mark.parametrize("killed_at", ["final-model", "evaluation", "run-json"])
def test_a_run_killed_after_its_last_epoch_resumes_to_the_end(two_epoch_run, tmp_path, killed_at):
    """The files a kill leaves at each point after the last epoch (the writes are atomic, so a
    kill leaves a temporary file or the old one, never half a file): `--resume` finishes the run
    without training another step, and a second `--resume` says it is finished."""
    import keras

    cfg = two_epoch_run
    run = copy_run(Path(cfg.out), tmp_path / "run")
    expected = keras.saving.load_model(run / "final.keras").get_weights()
    history = (run / "history.csv").read_text()
    record = json.loads((run / "run.json").read_text())
    # the state of each kill point: run.json still `running`, later files absent or partial
    running = {k: v for k, v in record.items() if k not in ("test", "epochs_run")}
    R.write_json_atomic(run / "run.json", {**running, "status": "running"})
    if killed_at == "final-model":
        (run / "final.keras").unlink()
        (run / "final.tmp.keras").write_bytes(b"PK\x03\x04 half a zip")
        for name in R.OWN_EVAL:
            (run / "eval" / name).unlink()
        (run / "eval").rmdir()
    elif killed_at == "evaluation":
        (run / "eval" / "predictions.csv").write_text("index,file\n0,")
        (run / "eval" / "confusion.png").unlink()
    else:
        (run / "run.json.tmp").write_text('{"status": "fini')

    from reference_model.evaluate import evaluate_run

    train(replace(cfg, out=str(run)), resume=True)
    finished = json.loads((run / "run.json").read_text())
    assert finished["status"] == "finished"
    assert finished["epochs_run"] == 2 and finished["test"]["n"] == record["test"]["n"]
    assert (run / "history.csv").read_text() == history  # no epoch trained again
    model = keras.saving.load_model(run / "final.keras")
    assert int(model.optimizer.iterations) == int(
        keras.saving.load_model(run / "checkpoints" / "epoch-002.keras").optimizer.iterations
    )
    # the final model is the best epoch's weights, as an uninterrupted run's
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert evaluate_run(run, "test")["top1"] == pytest.approx(finished["test"]["top1"])
    assert not (run / "final.tmp.keras").exists()
    proc = run_script("train", "--out", str(run), "--resume")
    assert_one_line_error(proc, "the run already finished (2 epochs")


def test_state_files_are_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(("fsync", fd)) or real_fsync(fd))
    monkeypatch.setattr(
        os, "replace", lambda a, b: calls.append(("replace", Path(b).name)) or real_replace(a, b)
    )
    R.write_json_atomic(tmp_path / "state.json", {"epoch": 1})
    R.save_weights_npz(tmp_path / "best-epoch-001.weights.npz", [np.zeros(2)])
    kinds = [c[0] for c in calls]
    # per file: the new file's data, then the rename, then the folder's entry
    assert kinds == ["fsync", "replace", "fsync"] * 2, calls
    assert json.loads((tmp_path / "state.json").read_text()) == {"epoch": 1}


@pytest.mark.slow
def test_a_real_kill_after_the_last_epoch_leaves_a_resumable_run(tiny, tmp_path):
    """SIGKILL as soon as state.json records the last epoch: the process is then pruning,
    restoring the best weights, writing final.keras or evaluating. `--resume` finishes it."""
    for attempt in range(3):
        run = tmp_path / f"run{attempt}"
        log = tmp_path / f"run{attempt}.log"
        proc = popen_cli(
            "train", "--data", str(tiny), "--out", str(run), "--model", "seed-gap",
            "--image-size", "24", "--batch-size", "4", "--epochs", "2", "--patience", "100",
            "--verbose", "0", log=log,
        )  # fmt: skip
        deadline = time.time() + 300
        while True:
            try:
                if json.loads((run / "state.json").read_text())["epoch"] == 2:
                    break
            except (OSError, ValueError):
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if json.loads((run / "run.json").read_text())["status"] == "running":
            break
    else:
        pytest.fail("the run finished before each of 3 kills landed")
    before = (run / "history.csv").read_text()
    resumed = run_script("train", "--out", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished" and record["epochs_run"] == 2
    assert (run / "history.csv").read_text() == before
    assert (run / "final.keras").is_file() and (run / "eval" / "predictions.csv").is_file()


# -- damaged state.json and run.json: one line ------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=8,
)
STATE_KEYS = [f.name for f in fields(R.TrainState)]


@settings(max_examples=300, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=40),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(st.sampled_from(STATE_KEYS), JSON, max_size=7).map(
            lambda d: json.dumps(d).encode()
        ),
    )
)
def test_any_state_file_is_a_state_or_one_line(content):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        paths = R.RunPaths(Path(tmp))
        paths.state.write_bytes(content)
        try:
            state = R.read_state(paths)
        except UsageError as exc:
            assert "\n" not in str(exc) and "state.json" in str(exc)
            return
    # accepted: every field has its type, and the files it names are inside the run folder
    assert isinstance(state.epoch, int) and state.epoch >= state.best_epoch >= 0
    assert isinstance(state.best, float) and not math.isnan(state.best)
    for name in (state.checkpoint, state.best_weights):
        assert name is None or (".." not in name and not name.startswith("/"))


CONFIG_KEYS = [f.name for f in fields(TrainConfig)]


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON, max_size=4))
def test_any_run_json_config_is_a_config_or_one_line(changes):
    saved = {**asdict(TrainConfig(data="/d", out="/o")), **changes}
    try:
        cfg = check_config(saved)
    except UsageError as exc:
        assert "\n" not in str(exc) and "config" in str(exc)
        return
    hints = {"str": str, "int": int, "float": (int, float), "bool": bool}
    for f in fields(TrainConfig):
        value = getattr(cfg, f.name)
        kinds = [hints[t.strip()] for t in str(f.type).split("|") if t.strip() != "None"]
        assert (value is None and "None" in str(f.type)) or isinstance(value, tuple(kinds))
        if isinstance(value, int) and not isinstance(value, bool) and f.name != "seed":
            assert value >= 0
    assert 0 < cfg.fraction <= 1 and cfg.learning_rate > 0


@pytest.mark.parametrize(
    "damage, command, text",
    [
        ({"state.json": b""}, "resume", "state.json: unreadable"),
        ({"state.json": b'{"epoch": "3"}'}, "resume", "epoch must be an integer"),
        ({"state.json": b'{"epoch": 1, "checkpoint": "../../x.keras"}'}, "resume", "checkpoint"),
        ({"run.json": b'{"config": {"data": 1, "out": "x"}}'}, "resume", "config data is 1"),
        ({"run.json": b'{"config": {"data": "d", "out": "o", "epochs": "x"}, "class_names": []}'},
         "evaluate",
         "config epochs is 'x'"),
        ({"run.json": b'{"config": {"data": "d", "out": "o"}, "class_names": 5}'}, "evaluate",
         "class_names is not a list"),
        ({"run.json": b"[]"}, "evaluate", "no config"),
        ({"history.csv": b"epoch,loss\nx,1\n"}, "resume", "a row without an epoch number ('x')"),
        ({"history.csv": b"epoch,loss\n\xff\xfe,1\n"}, "resume", "history.csv: unreadable"),
    ],
)  # fmt: skip
def test_damaged_run_files_are_one_line(one_epoch_run, tmp_path, damage, command, text):
    run = copy_run(one_epoch_run, tmp_path / "run")
    for name, content in damage.items():
        (run / name).write_bytes(content)
    if command == "resume":
        proc = run_script("train", "--out", str(run), "--resume", "--epochs", "3")
    else:
        proc = run_script("evaluate", "--run", str(run))
    assert_one_line_error(proc, text)
