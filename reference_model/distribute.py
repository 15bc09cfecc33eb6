"""`train --strategy`: tf.distribute strategies on TensorFlow, keras.distribution on JAX; the
chief/worker roles under TF_CONFIG, and the processes of a multi-host JAX cluster
(`jax.distributed`, through `keras.distribution.initialize`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ._env import set_backend_default
from .errors import UsageError

set_backend_default()

STRATEGIES = ("none", "mirrored", "multiworker", "data-parallel")


# The variables `keras.distribution.initialize` reads (Keras's own names), which the `train`
# options --coordinator, --num-processes and --process-id set for this process.
CLUSTER_ENV = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


@dataclass(frozen=True)
class JaxCluster:
    """One process of a multi-host JAX run: every process runs the same command with the same
    coordinator (process 0's `host:port`, which it listens on) and process count, and its own
    id in 0..num_processes-1."""

    coordinator: str
    num_processes: int
    process_id: int


def _check_address(address: str, source: str) -> str:
    """`host:port` (`[v6]:port` too) with a port in 1..65535, or a UsageError."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or host in ("", "[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"{source} {address!r}: expected HOST:PORT (process 0's address)")
    return address.strip()


def _check_int(value, source: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9:
        raise UsageError(f"{source} {str(value)[:40]!r}: expected a whole number")
    return int(text)


def jax_cluster(
    coordinator: str | None = None,
    num_processes: int | str | None = None,
    process_id: int | str | None = None,
    environ=None,
) -> JaxCluster | None:
    """The multi-host cluster this process belongs to: from the arguments (the `train`
    options), each one missing taken from Keras's variables (CLUSTER_ENV), None when neither
    names any. A cluster named in part, or with a bad address, count or id, is a UsageError.
    Cheap: nothing is imported."""
    environ = os.environ if environ is None else environ
    names = ("--coordinator", "--num-processes", "--process-id")
    given = [coordinator, num_processes, process_id]
    for i, key in enumerate(CLUSTER_ENV):
        if given[i] is None and environ.get(key, "") != "":
            given[i] = environ[key]
            names = (*names[:i], key, *names[i + 1 :])
    if all(v is None for v in given):
        return None
    missing = [name for name, v in zip(names, given) if v is None]
    if missing:
        raise UsageError(
            "a multi-host JAX run needs --coordinator, --num-processes and --process-id "
            f"(or {', '.join(CLUSTER_ENV)}); missing {', '.join(missing)}"
        )
    # Keras's variable may list every process's address: the first is the coordinator
    addresses = [a for a in str(given[0]).split(",") if a.strip()]
    if not addresses:
        raise UsageError(f"{names[0]} is empty: expected HOST:PORT (process 0's address)")
    for address in addresses:
        _check_address(address, names[0])
    count = _check_int(given[1], names[1])
    index = _check_int(given[2], names[2])
    if count < 1:
        raise UsageError(f"{names[1]} is {count}: at least 1")
    if len(addresses) > 1 and len(addresses) != count:
        raise UsageError(f"{names[0]} lists {len(addresses)} addresses for {count} processes")
    if not index < count:
        raise UsageError(f"{names[2]} is {index}: must be 0..{count - 1} for {count} processes")
    return JaxCluster(addresses[0].strip(), count, index)


def check_cluster(strategy: str, backend: str, environ=None) -> JaxCluster | None:
    """The cluster from the environment (the options were put there), checked against the
    strategy and backend before anything loads: only `--strategy data-parallel` on jax runs
    over several processes."""
    cluster = jax_cluster(environ=environ)
    if cluster is not None and (strategy != "data-parallel" or backend != "jax"):
        raise UsageError(
            "--coordinator/--num-processes/--process-id (or KERAS_DISTRIBUTION_*) are for "
            f"--strategy data-parallel on the jax backend, not --strategy {strategy} on {backend}"
        )
    return cluster


def set_cluster_env(cluster: JaxCluster, environ=None) -> None:
    """Put a cluster given as options where `jax_cluster` and Keras read it."""
    environ = os.environ if environ is None else environ
    values = (cluster.coordinator, cluster.num_processes, cluster.process_id)
    for key, value in zip(CLUSTER_ENV, values):
        environ[key] = str(value)


class KerasDistribution:
    """The engine of a backend without tf.distribute, shaped like a tf.distribute strategy for
    the trainer (`scope()`, `num_replicas_in_sync`): nothing (one device), or
    `keras.distribution.DataParallel` over every device (JAX): each batch is split across the
    devices, the weights replicated. Over several processes (hosts), each process feeds its own
    part of every global batch (`local_replicas` devices' worth) from its own share of the
    training files."""

    def __init__(self, replicas: int = 1, local_replicas: int | None = None, processes: int = 1):
        self.num_replicas_in_sync = replicas
        self.local_replicas = replicas if local_replicas is None else local_replicas
        self.processes = processes

    def scope(self):
        import contextlib

        return contextlib.nullcontext()


def make_keras_distribution(name: str, backend: str) -> KerasDistribution:
    if name == "none":
        return KerasDistribution(1)
    if name == "data-parallel":
        if backend != "jax":
            raise UsageError(
                f"--strategy data-parallel is keras.distribution (jax backend), not {backend}"
            )
        import keras

        cluster = check_cluster(name, backend)
        if cluster is not None:
            # jax.distributed.initialize, before any other JAX call: process 0 listens on the
            # coordinator address, the others connect; then every device of every process is
            # in jax.devices()
            keras.distribution.initialize(
                cluster.coordinator, cluster.num_processes, cluster.process_id
            )
        devices = keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        processes = cluster.num_processes if cluster is not None else 1
        if processes > 1:
            # each process's input is its own share already (`train.pipeline_config`)
            distribution.auto_shard_dataset = False
        keras.distribution.set_distribution(distribution)
        return KerasDistribution(len(devices), len(devices) // processes, processes)
    raise UsageError(
        f"--strategy {name} is tf.distribute (TensorFlow backend); on the {backend} backend use "
        "none or data-parallel (jax)"
    )


def make_strategy(name: str):
    """Must run before any other TensorFlow op: MultiWorkerMirroredStrategy configures the
    runtime's collective ops and cannot once the eager context exists. On the jax and torch
    backends: `KerasDistribution`."""
    # the backend from the environment (set before Keras loads, `_env`): importing Keras here
    # would load TensorFlow before the strategy is made
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        return make_keras_distribution(name, backend)
    if name == "data-parallel":
        raise UsageError("--strategy data-parallel is for the jax backend; on TensorFlow: mirrored")
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise UsageError("--strategy multiworker needs TF_CONFIG (cluster and task)")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        patch_keras_multiworker()
        return strategy
    raise UsageError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")


def task() -> tuple[str | None, int]:
    """This process's role: (type, index) under TF_CONFIG; ("process", id) in a multi-host JAX
    cluster of more than one process; (None, 0) alone."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    t = config.get("task", {})
    if not t:
        cluster = jax_cluster()
        if cluster is not None and cluster.num_processes > 1:
            return "process", cluster.process_id
    return t.get("type"), int(t.get("index", 0))


def process_shard() -> tuple[int, int] | None:
    """(this process's id, the process count) in a multi-host JAX cluster of more than one
    process: its share of the training files, as `worker_shard` for tf.distribute."""
    cluster = jax_cluster()
    if cluster is None or cluster.num_processes == 1:
        return None
    return cluster.process_id, cluster.num_processes


def worker_shard() -> tuple[int, int] | None:
    """(this worker's input pipeline index, the number of workers) under TF_CONFIG, None
    without one: the chief first (index 0) when the cluster has one, then the workers in order,
    as tf.distribute numbers the input pipelines of MultiWorkerMirroredStrategy."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = config.get("cluster", {})
    chiefs, workers = len(cluster.get("chief", [])), len(cluster.get("worker", []))
    kind, index = task()
    if kind not in ("chief", "worker") or chiefs + workers == 0:
        return None
    return (0 if kind == "chief" else chiefs + index), chiefs + workers


def is_chief() -> bool:
    """The worker that writes the real checkpoints: `chief`, or worker 0 when there is none."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    kind, index = task()
    if kind is None or kind == "chief":
        return True
    if kind == "process":  # a multi-host JAX cluster: process 0
        return index == 0
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})


def patch_keras_multiworker() -> None:
    """Work around two Keras 3.15 bugs that stop `fit` under MultiWorkerMirroredStrategy.

    1. `_maybe_symbolic_build` reduces the first *data batch* across workers with
       `strategy.reduce("MEAN", ...)`, which raises for a PerReplica batch on this strategy;
       the build only needs shapes and dtypes, so one replica's batch is enough.
    2. `reduce_per_replica` averages the scalar loss/metric logs with `axis=0`, which fails
       ("Invalid reduction dimension 0 for input with 0 dimensions"); scalars are averaged
       across replicas with `axis=None`, which is what `mean` means for them.
    Both are patched on Keras's TF trainer only; MirroredStrategy and no strategy never reach
    these branches.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tft

    if getattr(tft, "_reference_model_patched", False):
        return
    original = tft.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if not (
            tft._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean")
        ):
            return original(values, strategy, reduction)

        def one(v):
            local = (
                strategy.experimental_local_results(v)[0] if tft._is_per_replica_instance(v) else v
            )
            if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return original(v, strategy, reduction)

        return tf.nest.map_structure(one, values)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: (
                        self.distribute_strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    batch,
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tft.reduce_per_replica = reduce_per_replica
    tft.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    tft._reference_model_patched = True
