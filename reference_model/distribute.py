"""`train --strategy`: tf.distribute strategies on TensorFlow, keras.distribution on JAX; the
chief/worker roles under TF_CONFIG."""

from __future__ import annotations

import json
import os

from ._env import set_backend_default
from .errors import UsageError

set_backend_default()

STRATEGIES = ("none", "mirrored", "multiworker", "data-parallel")


class KerasDistribution:
    """The engine of a backend without tf.distribute, shaped like a tf.distribute strategy for
    the trainer (`scope()`, `num_replicas_in_sync`): nothing (one device), or
    `keras.distribution.DataParallel` over every local device (JAX): each batch is split across
    the devices, the weights replicated."""

    def __init__(self, replicas: int = 1):
        self.num_replicas_in_sync = replicas

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

        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return KerasDistribution(len(devices))
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
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    t = config.get("task", {})
    return t.get("type"), int(t.get("index", 0))


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
