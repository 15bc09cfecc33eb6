"""Multi-host JAX (`train --coordinator --num-processes --process-id`, or Keras's
KERAS_DISTRIBUTION_* variables): the cluster's checks, the roles and shares of the processes,
`jax.distributed` with one process on CPU (fast); slow: two real processes train together on
127.0.0.1 and end with identical weights."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pytest
from rm_helpers import REPO, assert_one_line_error, cli_env, run_cli, write_tiny_dataset

from reference_model.distribute import (
    CLUSTER_ENV,
    JaxCluster,
    check_cluster,
    is_chief,
    jax_cluster,
    process_shard,
    set_cluster_env,
    task,
)
from reference_model.errors import UsageError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(address, count, index) -> dict:
    return dict(zip(CLUSTER_ENV, (address, count, index)))


def test_a_cluster_from_the_options_or_from_kerass_variables():
    assert jax_cluster(environ={}) is None
    assert jax_cluster("10.0.0.1:1234", "2", "1", environ={}) == JaxCluster("10.0.0.1:1234", 2, 1)
    assert jax_cluster(environ=env("h:9", "3", "0")) == JaxCluster("h:9", 3, 0)
    # an option wins over the variable; the others still come from the variables
    assert jax_cluster(process_id=2, environ=env("h:9", "3", "0")) == JaxCluster("h:9", 3, 2)
    # Keras's variable may list every process's address: the first is the coordinator
    both = env("10.0.0.1:1234,10.0.0.2:2345", "2", "1")
    assert jax_cluster(environ=both) == JaxCluster("10.0.0.1:1234", 2, 1)
    assert jax_cluster("[::1]:80", 1, 0, environ={}).coordinator == "[::1]:80"
    # empty variables are unset ones
    assert jax_cluster(environ=env("", "", "")) is None


@pytest.mark.parametrize(
    "args, message",
    [
        (("h:1", None, None), "missing --num-processes, --process-id"),
        ((None, "2", None), "missing --coordinator, --process-id"),
        (("h", "2", "0"), "'h': expected HOST:PORT"),
        ((":80", "2", "0"), "expected HOST:PORT"),
        (("h:0", "2", "0"), "expected HOST:PORT"),
        (("h:65536", "2", "0"), "expected HOST:PORT"),
        (("h:x", "2", "0"), "expected HOST:PORT"),
        (("h:1", "two", "0"), "--num-processes 'two': expected a whole number"),
        (("h:1", "-1", "0"), "expected a whole number"),
        (("h:1", "0", "0"), "--num-processes is 0: at least 1"),
        (("h:1", "2", "2"), "--process-id is 2: must be 0..1 for 2 processes"),
        (("h:1", "2", "1.5"), "--process-id '1.5': expected a whole number"),
        (("a:1,b:2,c:3", "2", "0"), "lists 3 addresses for 2 processes"),
        ((",", "2", "0"), "empty"),
    ],
)
def test_a_bad_cluster_is_one_usage_error(args, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        jax_cluster(*args, environ={})


def test_a_bad_variable_is_named_in_the_error():
    with pytest.raises(UsageError, match="KERAS_DISTRIBUTION_PROCESS_ID is 5"):
        jax_cluster(environ=env("h:1", "2", "5"))
    with pytest.raises(UsageError, match="missing KERAS_DISTRIBUTION_JOB_ADDRESSES|missing --co"):
        jax_cluster(environ={CLUSTER_ENV[1]: "2", CLUSTER_ENV[2]: "0"})


def test_a_cluster_runs_only_data_parallel_on_jax():
    cluster = env("h:1", "2", "0")
    assert check_cluster("data-parallel", "jax", cluster) == JaxCluster("h:1", 2, 0)
    for strategy, backend in [("none", "jax"), ("data-parallel", "torch"), ("multiworker", "tf")]:
        with pytest.raises(UsageError, match="for --strategy data-parallel on the jax backend"):
            check_cluster(strategy, backend, cluster)
    assert check_cluster("none", "tensorflow", {}) is None  # no cluster: nothing to check


def test_each_process_has_its_role_and_share(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for key in CLUSTER_ENV:
        monkeypatch.setenv(key, "")  # empty: unset; restored after the test
    assert task() == (None, 0) and is_chief() and process_shard() is None
    for index in (0, 1, 2):
        set_cluster_env(JaxCluster("127.0.0.1:1", 3, index))
        assert task() == ("process", index)
        assert is_chief() == (index == 0)  # process 0 writes the run folder
        assert process_shard() == (index, 3)
    set_cluster_env(JaxCluster("127.0.0.1:1", 1, 0))  # one process: alone, no share
    assert task() == (None, 0) and is_chief() and process_shard() is None


def test_the_processes_read_disjoint_equal_shares_of_the_training_files(tmp_path):
    from reference_model.data.dataset import load_dataset
    from reference_model.data.loader import make_loader
    from reference_model.data.pipeline import PipelineConfig, box_tuple

    ds = load_dataset(write_tiny_dataset(tmp_path, classes=3, images_per_class=7))
    files = [s.file for s in ds.samples]
    labels = list(range(len(files)))  # each file's label is its index: its identity
    boxes = [box_tuple(None)] * len(files)
    shares = []
    for index in range(3):
        cfg = PipelineConfig((8, 8), 2, shuffle=True, seed=5, shard=(index, 3))
        loader = make_loader(files, labels, boxes, cfg)
        shares.append(sorted(loader.labels.tolist()))
        assert loader.files == [files[i] for i in shares[-1]]  # labels kept with their files
    assert [len(s) for s in shares] == [len(files) // 3] * 3
    assert len(set().union(*shares)) == 3 * (len(files) // 3)  # disjoint
    with pytest.raises(UsageError, match="process 1 of 3 gets 7 training images, fewer than"):
        make_loader(files, labels, boxes, PipelineConfig((8, 8), 8, shard=(1, 3)))


def test_cluster_options_outside_data_parallel_jax_are_one_line_before_anything(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", classes=2, images_per_class=3)
    out = tmp_path / "run"
    proc = run_cli(
        "train", "--data", str(data), "--out", str(out), "--coordinator", "127.0.0.1:1",
        "--num-processes", "2", "--process-id", "0",
    )  # fmt: skip
    assert_one_line_error(proc, "for --strategy data-parallel on the jax backend")
    proc = run_cli("train", "--data", str(data), "--out", str(out), "--process-id", "3")
    assert_one_line_error(proc, "missing --coordinator, --num-processes")
    assert not out.exists()


_ONE_PROCESS = """
import json, jax, keras
from reference_model.distribute import make_keras_distribution
d = make_keras_distribution("data-parallel", "jax")
print(json.dumps({
    "processes": jax.process_count(), "index": jax.process_index(),
    "replicas": d.num_replicas_in_sync, "local": d.local_replicas,
    "distribution": type(keras.distribution.distribution()).__name__,
    "sum": float(jax.numpy.sum(jax.numpy.arange(4))),
}))
"""


def test_jax_distributed_with_one_process_on_cpu():
    """`jax.distributed.initialize` with a coordinator and one process (jax's CPU backend
    supports it): the trainer's initialisation path, then DataParallel over its device."""
    pytest.importorskip("jax")
    proc = subprocess.run(
        [sys.executable, "-c", _ONE_PROCESS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=cli_env(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", **env(
            f"127.0.0.1:{free_port()}", "1", "0"
        )),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {
        "processes": 1, "index": 0, "replicas": 1, "local": 1,
        "distribution": "DataParallel", "sum": 0.0 + 1 + 2 + 3,
    }  # fmt: skip


def _train(data, out, index, port, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "reference_model", "train", "--data", str(data), "--out",
         str(out), "--model", "seed", "--image-size", "24", "--batch-size", "4", "--split",
         "random", "--verbose", "2", "--epochs", "2", "--strategy", "data-parallel",
         "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id",
         str(index), *extra],
        cwd=REPO, env=cli_env(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_two_jax_processes_train_together_and_agree_on_the_weights(tmp_path):
    """Two processes on 127.0.0.1 (jax's CPU collectives), one device each: DataParallel over
    both, each feeding its half of every global batch from its own half of the files; both end
    with the same trained weights; process 0 writes the run folder, process 1 its own."""
    pytest.importorskip("jax")
    import keras

    data = write_tiny_dataset(tmp_path / "data", classes=3, images_per_class=12)
    out = tmp_path / "run"
    port = free_port()
    procs = [_train(data, out, index, port) for index in (0, 1)]
    logs = [p.communicate(timeout=500)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(x[-2000:] for x in logs)
    first = keras.saving.load_model(out / "final.keras")
    second = keras.saving.load_model(out / "process-1" / "final.keras")
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    record = json.loads((out / "run.json").read_text())
    assert record["distribute"] == {
        "strategy": "data-parallel", "replicas": 2, "global_batch": 2 * 4,
        "processes": 2, "process_id": 0,
    }  # fmt: skip
    assert record["status"] == "finished" and record["epochs_run"] == 2
    assert record["input_dtype"] == "uint8"
    other = json.loads((out / "process-1" / "run.json").read_text())
    assert other["distribute"]["process_id"] == 1
    keras.utils.set_random_seed(0)
    from reference_model.model import resolve_model

    fresh = resolve_model("seed", 24, 3)
    assert any(
        not np.allclose(a, b) for a, b in zip(fresh.get_weights(), first.get_weights(), strict=True)
    )
