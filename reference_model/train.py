"""`reference-model train`: the seed's recipe (Adam, cross-entropy, early stopping with patience
3) with checkpoints and resume, mixed precision on GPU and tf.distribute strategies."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._env import set_backend_default
from .errors import UsageError

set_backend_default()


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    model: str = "seed"
    image_size: int = 256
    batch_size: int = 32  # per replica, as the seed used on one GPU
    epochs: int = 20
    learning_rate: float = 1e-3
    patience: int = 3
    labels: str = "official"
    split: str = "official"
    fraction: float = 1.0
    crop: bool = False
    class_weight: str = "none"
    cache: str | None = None
    strategy: str = "none"
    mixed_precision: str = "auto"  # auto: on when a GPU is visible; on; off
    seed: int = 0
    steps_per_epoch: int | None = None
    keep_checkpoints: int = 2
    verbose: str = "auto"
    evaluate: bool = True
    require_gpu: bool = False  # stop with a one-line error when the backend sees no GPU


@dataclass(frozen=True)
class SplitData:
    files: tuple[str, ...]
    labels: tuple[int, ...]
    boxes: tuple[tuple[int, int, int, int], ...]

    def __len__(self) -> int:
        return len(self.files)


@dataclass(frozen=True)
class PreparedData:
    class_names: tuple[str, ...]
    splits: Mapping[str, SplitData]  # read-only (a MappingProxyType), as the record is frozen
    summary: Mapping[str, Any]  # the counts for run.json; `dict(summary)` to serialise


def prepare_data(cfg: TrainConfig) -> PreparedData:
    """Records -> labels -> splits -> (files, labels, boxes) per split. No TensorFlow here."""
    from .data import dataset as D
    from .data.pipeline import box_tuple

    ds = D.load_dataset(cfg.data)
    labels = D.make_labels(ds, cfg.labels)
    splits = D.used_splits(ds, cfg.split, cfg.seed, cfg.fraction)
    out = {}
    for name in ("train", "val", "test"):
        idx = [i for i, s in enumerate(splits) if s == name]
        out[name] = SplitData(
            tuple(ds.samples[i].file for i in idx),
            tuple(labels.labels[i] for i in idx),
            tuple(box_tuple(ds.samples[i].bbox) for i in idx),
        )
    summary = D.summary(ds, labels, splits)
    summary["label_disagreements"] = [
        {"folder": f, "official": o, "images": n} for f, o, n in D.label_disagreements(ds)
    ]
    if not out["train"] or not out["val"]:
        raise UsageError(
            f"split {cfg.split!r} leaves train={len(out['train'])}, "
            f"val={len(out['val'])} images; both must be non-empty"
        )
    return PreparedData(labels.class_names, MappingProxyType(out), MappingProxyType(summary))


def versions() -> dict:
    import keras

    from .runtime import versions as backend_versions

    return backend_versions(keras.backend.backend())


def use_mixed_precision(setting: str, gpus: int | None = None) -> bool:
    """`gpus`: how many GPUs the backend sees (asked of the backend when not given)."""
    if setting not in ("auto", "on", "off"):
        raise UsageError(f"--mixed-precision must be auto, on or off, not {setting!r}")
    if setting != "auto":
        return setting == "on"
    from .runtime import gpu_count

    # float16 only pays on GPUs with tensor cores; on a CPU it is slower, so auto means GPU.
    return bool(gpu_count() if gpus is None else gpus)


def read_run_record(out: Path) -> dict:
    """A run folder's run.json, or a UsageError (missing, not JSON, no config)."""
    path = out / "run.json"
    if not path.is_file():
        raise UsageError(f"{out}: no run.json (not a run folder?)")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise UsageError(f"{path}: no config (not a run.json of this program?)")
    return record


def load_run_config(out: Path) -> TrainConfig:
    return check_config(read_run_record(out)["config"], str(out / "run.json"))


# The integer fields that must be at least 1 (the others, such as the seed, at least 0).
_INT_FIELDS = ("image_size", "batch_size", "epochs", "patience", "keep_checkpoints")


def _choices() -> dict[str, tuple[str, ...]]:
    """The fields with a fixed set of values (the CLI's choices); the others are checked where
    they are used."""
    from .data.dataset import LABEL_SCHEMES, SPLIT_METHODS
    from .data.weights import CLASS_WEIGHT_MODES
    from .distribute import STRATEGIES

    return {
        "mixed_precision": ("auto", "on", "off"),
        "verbose": ("auto", "0", "1", "2"),
        "strategy": STRATEGIES,
        "class_weight": CLASS_WEIGHT_MODES,
        "labels": LABEL_SCHEMES,
        "split": SPLIT_METHODS,
    }


# The float fields' ranges (as the command line takes them): a learning rate > 0, a fraction of
# the data in (0, 1].
_FLOAT_RANGES = {"learning_rate": lambda v: v > 0, "fraction": lambda v: 0 < v <= 1}


def check_config(saved: dict, source: str = "run.json") -> TrainConfig:
    """A TrainConfig from run.json's `config`, each field's type and range checked (a run.json
    edited by hand or damaged gives one line, not a traceback later). Unknown keys are ignored
    (a newer program's), missing ones take the defaults except `data` and `out`."""
    from typing import get_type_hints

    hints = get_type_hints(TrainConfig)
    all_choices = _choices()
    values = {}
    for f in fields(TrainConfig):
        if f.name not in saved:
            continue
        value, hint = saved[f.name], hints[f.name]
        optional = type(None) in getattr(hint, "__args__", ())
        base = next((t for t in getattr(hint, "__args__", (hint,)) if t is not type(None)), hint)
        if value is None and optional:
            values[f.name] = None
            continue
        if base is bool:
            ok = isinstance(value, bool)
        elif base is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
            ok = ok and (value >= 1 or f.name not in (*_INT_FIELDS, "steps_per_epoch"))
        elif base is float:
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and abs(value) < 2**53
                and _FLOAT_RANGES.get(f.name, lambda v: True)(value)
            )
        else:
            ok = isinstance(value, str) and "\0" not in value
        choices = all_choices.get(f.name)
        if ok and choices and value not in choices:
            text = repr(value)
            raise UsageError(
                f"{source}: config {f.name} is {text[:40] + ('...' if len(text) > 40 else '')}, "
                f"expected one of {', '.join(choices)}"
            )
        if not ok:
            text = repr(value)
            raise UsageError(
                f"{source}: config {f.name} is {text[:40] + ('...' if len(text) > 40 else '')}, "
                f"expected {'an integer >= 1' if f.name in _INT_FIELDS else base.__name__}"
                f"{' in (0, 1]' if f.name == 'fraction' else ' > 0' if f.name in _FLOAT_RANGES else ''}"
                f"{' or null' if optional else ''}"
            )
        values[f.name] = value
    missing = [n for n in ("data", "out") if n not in values]
    if missing:
        raise UsageError(f"{source}: incomplete config (no {', '.join(missing)})")
    return TrainConfig(**values)


def with_absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """run.json keeps absolute paths, so `evaluate` and `--resume` work from any directory."""
    return replace(
        cfg,
        data=str(Path(cfg.data).resolve()),
        out=str(Path(cfg.out).resolve()),
        cache=str(Path(cfg.cache).resolve()) if cfg.cache else cfg.cache,
    )


def run_finalised(out: Path) -> bool:
    """Whether everything after the last epoch is done: final.keras written and run.json set to
    `finished` (its last write). A run killed after its last epoch is not, and resumes there."""
    try:
        record = json.loads((out / "run.json").read_bytes())
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("status") == "finished"
        and (out / "final.keras").is_file()
    )


def check_run_folder(cfg: TrainConfig, resume: bool):
    """The state a run continues from (None: a fresh run), or a UsageError. No TensorFlow."""
    from .runfolder import RunPaths, check_fresh_folder, read_history, read_state

    out = Path(cfg.out)
    paths = RunPaths(out)
    if not resume:
        if paths.state.is_file():
            raise UsageError(f"{out} already holds a run; use --resume or another --out")
        check_fresh_folder(out)  # new, empty, or a run of ours killed in its first epoch
        return None
    state = read_state(paths)
    if state is None:
        raise UsageError(f"--resume: no state.json in {out} (no epoch finished yet?)")
    if state.finished(cfg.epochs) and run_finalised(out):
        how = "stopped early" if state.stopped_early else f"--epochs {cfg.epochs}"
        raise UsageError(
            f"{out}: the run already finished ({state.epoch} epochs, {how}); "
            "give a larger --epochs to continue it"
        )
    read_history(paths.history)  # a damaged history.csv: one line now, not after TF loads
    if state.checkpoint is None or not (out / state.checkpoint).is_file():
        raise UsageError(f"{out}: the checkpoint state.json names ({state.checkpoint}) is gone")
    return state


def load_checkpoint(path: Path):
    """A run's checkpoint or final model, or a UsageError naming it (damaged, or not ours)."""
    import keras

    from .model import one_line

    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # noqa: BLE001  (a damaged file raises anything; one line here)
        raise UsageError(f"{path}: cannot load the model ({one_line(exc, 200)})") from None


def train(cfg: TrainConfig, resume: bool = False) -> dict:
    """Run (or continue) a training run in `cfg.out`; returns the run.json contents."""
    from .distribute import is_chief

    # Every cheap check first, before TensorFlow is imported: a user mistake is then the only
    # line on stderr, and nothing in the run folder is written or changed.
    cfg = with_absolute_paths(cfg)
    state = check_run_folder(cfg, resume)
    locks = []
    try:
        if is_chief() and state is not None:
            # One trainer per run folder, locked before anything is read for the run; the state
            # is read again under the lock (another trainer may have moved it on).
            from .runfolder import RunLock

            locks.append(RunLock(Path(cfg.out)))
            state = check_run_folder(cfg, resume)
        return _checked_run(cfg, resume, state, locks)
    finally:
        for lock in locks:  # also on an error: a caller in this process may train again
            lock.release()


def _checked_run(cfg: TrainConfig, resume: bool, state, locks: list) -> dict:
    """The other cheap checks and the data (no TensorFlow yet), then the backend and the run."""
    from .distribute import is_chief
    from .model import check_model_arg

    check_model_arg(cfg.model)
    if cfg.cache and not Path(cfg.cache).parent.is_dir():
        raise UsageError(f"--cache {cfg.cache}: no folder {Path(cfg.cache).parent}")
    if cfg.mixed_precision not in ("auto", "on", "off"):
        raise UsageError(f"--mixed-precision must be auto, on or off, not {cfg.mixed_precision!r}")
    import os

    from .distribute import check_cluster

    # a multi-host JAX cluster (--coordinator ... or KERAS_DISTRIBUTION_*) only with
    # --strategy data-parallel on jax; checked before anything loads
    check_cluster(cfg.strategy, os.environ.get("KERAS_BACKEND", "tensorflow"))
    data = prepare_data(cfg)

    from .distribute import make_strategy

    strategy = make_strategy(cfg.strategy)  # first TF op: multi-worker setup precedes the rest
    _quiet_known_warnings()
    from .runtime import require_gpu, runtime_info

    runtime = runtime_info()
    if cfg.require_gpu:
        require_gpu(runtime)  # before anything in the run folder is written
    for warning in runtime["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return _locked_run(cfg, resume, data, strategy, state, runtime, is_chief(), locks)


def _locked_run(cfg, resume, data, strategy, state, runtime, chief, locks: list) -> dict:
    """Build or load the model; a fresh run locks its folder here (appending the lock to
    `locks`: a resumed run's is locked already), then runs."""
    import keras

    from . import checkpoint as C
    from .model import resolve_model

    out = Path(cfg.out)
    paths = C.RunPaths(out)
    num_classes = len(data.class_names)
    keras.utils.set_random_seed(cfg.seed)
    mixed = use_mixed_precision(cfg.mixed_precision, runtime["gpus"])
    if state is not None:
        # A resumed run keeps the policy it started with, whatever `auto` resolves to on this
        # machine: its checkpoint holds that policy's model and optimizer (a LossScaleOptimizer
        # under mixed_float16), whose state a different policy would silently drop.
        started = read_run_record(out).get("mixed_precision")
        if isinstance(started, bool):
            if started != mixed and cfg.mixed_precision == "auto":
                print(
                    "note: --mixed-precision auto: keeping the run's "
                    f"{'mixed_float16' if started else 'float32'} policy",
                    file=sys.stderr,
                )
            mixed = started
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    runtime["precision_policy"] = keras.config.dtype_policy().name

    with strategy.scope():
        if state is not None:
            model = load_checkpoint(out / state.checkpoint)
        else:
            model = resolve_model(cfg.model, cfg.image_size, num_classes)
            model.compile(
                optimizer=keras.optimizers.Adam(cfg.learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(3, name="top3")],
            )
    if chief and state is None:
        # Nothing is written before this point. The lock file is the folder's first file; the
        # folder is checked again under the lock, and only then are a killed first epoch's
        # files (by name, never a folder's other contents) removed.
        out.mkdir(parents=True, exist_ok=True)
        locks.append(C.RunLock(out))
        check_run_folder(cfg, resume)
        C.clear_stale(paths)
    return _train_locked(cfg, data, strategy, model, state, runtime, mixed, chief)


def _train_locked(cfg, data, strategy, model, state, runtime, mixed, chief) -> dict:
    """The run itself, with the run folder locked: fit from `state` (a fresh run: None), then
    every step after the last epoch (final model, evaluation, run.json `finished`), each of them
    redone by a resume after a kill."""
    from . import checkpoint as C
    from .data.loader import make_input
    from .data.weights import class_weights
    from .model import input_size, takes_uint8

    out = Path(cfg.out)
    paths = C.RunPaths(out)
    num_classes = len(data.class_names)
    size = input_size(model)
    # uint8 batches for a model that scales them itself; float32 in [0, 1] for a run (or a
    # --model file) whose model has a float input, as it was trained
    uint8 = takes_uint8(model)
    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.batch_size * replicas
    # what this process's input gives per step: the global batch, except in a multi-host JAX
    # cluster, where each process feeds its own devices' part of it
    input_batch = cfg.batch_size * getattr(strategy, "local_replicas", replicas)
    processes = getattr(strategy, "processes", 1)

    first_epoch = state.epoch if state is not None else 0

    def pipeline(name: str, shuffle: bool, with_paths: bool = False):
        split = data.splits[name]
        # tf.data where TensorFlow runs the model; else a PyDataset decoding with Pillow
        return make_input(
            split.files,
            split.labels,
            split.boxes,
            replace(
                pipeline_config(cfg, name, size, input_batch, shuffle, first_epoch), uint8=uint8
            ),
            with_paths=with_paths,
        )

    train_ds = pipeline("train", shuffle=True)
    val_ds = pipeline("val", shuffle=False)
    earlier = _earlier_undecodable(out, state)  # before run.json is rewritten below
    record = {
        "config": asdict(cfg),
        "command": sys.argv,
        "versions": runtime["versions"],
        # backend, devices (and how many GPUs), precision policy: a CPU fallback shows here
        "runtime": runtime,
        "class_names": list(data.class_names),
        "data": dict(data.summary),
        "distribute": {
            "strategy": cfg.strategy,
            "replicas": replicas,
            "global_batch": global_batch,
            # a multi-host JAX cluster: how many processes, and which one wrote this record
            **({"processes": processes, "process_id": _process_id()} if processes > 1 else {}),
        },
        "mixed_precision": mixed,
        "input_size": list(size),
        "input_dtype": "uint8" if uint8 else "float32",
        "params": model.count_params(),
    }
    record["data"]["undecodable_in_training"] = dict(sorted(earlier.items()))
    record["data"]["undecodable_in_training_count"] = len(earlier)
    if chief:
        C.write_json_atomic(out / "run.json", {**record, "status": "running"})
    if state is not None:
        C.truncate_history(paths.history, state.epoch)
    state = state or C.TrainState()
    callback = C.ResumableTraining(
        paths, state, cfg.patience, keep=cfg.keep_checkpoints, writer=chief
    )
    weights = class_weights(data.splits["train"].labels, num_classes, cfg.class_weight)
    verbose = cfg.verbose if cfg.verbose == "auto" else int(cfg.verbose)
    start = time.perf_counter()
    if not state.finished(cfg.epochs):
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.epochs,
            initial_epoch=state.epoch,
            callbacks=[callback],
            class_weight=weights,
            verbose=verbose,
            steps_per_epoch=cfg.steps_per_epoch,
        )
    else:
        # Killed after its last epoch (while final.keras or the evaluation was written): the
        # epochs are done, only what follows them is redone, from the last checkpoint.
        callback.set_model(model)
        callback.on_train_end()
    final = out / "final.keras" if chief else _worker_dir(out) / "final.keras"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name("final.tmp.keras")
    model.save(tmp)
    C.replace_durably(tmp, final)  # a kill leaves the old final.keras or none, never half
    # Both loaders name the train/val images they could not decode as they meet them (the scan's
    # header check has left out the bombs and bad headers before either); a resumed run keeps
    # the names found before it (a cache read back decodes nothing, so finds nothing again).
    skipped = {**earlier, **train_ds.skipped, **val_ds.skipped}
    record["data"]["undecodable_in_training"] = dict(sorted(skipped.items()))
    record["data"]["undecodable_in_training_count"] = len(skipped)
    record.update(
        {
            "status": "finished",
            "epochs_run": callback.state.epoch,
            "best_epoch": callback.state.best_epoch,
            "best_val_loss": callback.state.best,
            "stopped_early": callback.state.stopped_early,
            "seconds_this_session": round(time.perf_counter() - start, 3),
            "epoch_seconds_this_session": [round(s, 3) for s in callback.epoch_seconds],
        }
    )
    single = cfg.strategy != "multiworker" and processes == 1  # else `evaluate` afterwards
    if chief and cfg.evaluate and len(data.splits["test"]) and single:
        from .evaluate import evaluate_split

        result = evaluate_split(
            model,
            pipeline("test", shuffle=False, with_paths=True),
            data.class_names,
            out / "eval",
            list(data.splits["test"].files),
        )
        record["test"] = {
            k: result[k] for k in ("top1", "top3", "top5", "n", "listed", "undecodable")
        }
    if chief:
        C.write_json_atomic(out / "run.json", record)
    else:
        C.write_json_atomic(final.parent / "run.json", record)
    return record


def _quiet_known_warnings() -> None:
    import warnings

    # Both are expected here and would only confuse a user: the dataset is shuffled by the
    # pipeline, and its length is unknown until the first epoch ends (the JPEG error guard can
    # drop elements), which Keras reports as "ran out of data" once.
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    # (The training data never runs out with --steps-per-epoch: it repeats; the validation pass
    # still ends with this warning.)
    warnings.filterwarnings("ignore", message=".*Your input ran out of data.*")


def pipeline_config(
    cfg: TrainConfig,
    split: str,
    size: tuple[int, int],
    global_batch: int,
    shuffle: bool,
    first_epoch: int = 0,
):
    """The input pipeline's settings for one split of a run that starts after `first_epoch`."""
    from .data.pipeline import PipelineConfig
    from .distribute import process_shard, worker_shard

    return PipelineConfig(
        size,
        global_batch,
        cfg.crop,
        cache_path(cfg.cache, split),
        shuffle,
        # A resumed run must not replay epoch 1's order: the shuffle seed moves with the epoch
        # it starts from (the orders then differ from an uninterrupted run's, never repeat).
        cfg.seed + first_epoch,
        # With --steps-per-epoch an epoch is that many steps, whatever the data's size: the
        # training data repeats (reshuffled each pass) instead of running out.
        repeat=shuffle and cfg.steps_per_epoch is not None,
        # Multi-worker: each worker reads only its share of the training files (decoding is
        # the bottleneck, docs/training.md); validation stays sharded by batch.
        # A multi-host JAX cluster: each process reads its share of the training files in the
        # same way; validation is read whole by every process (the same batches everywhere).
        shard=(worker_shard() if cfg.strategy == "multiworker" else process_shard())
        if split == "train"
        else None,
    )


def cache_path(cache: str | None, split: str) -> str | None:
    """None: no cache; "": in memory; else one cache file per split and per worker (tf.data
    locks a cache file while writing it: two workers given one --cache PATH crashed on the
    lock). `make_dataset` adds a hash of what is cached, so another run's cache is never read."""
    if cache is None or cache == "":
        return cache
    from .distribute import task

    kind, index = task()
    return f"{cache}.{split}" + ("" if kind is None else f".{kind}-{index}")


def _earlier_undecodable(out: Path, state) -> dict[str, str]:
    """The undecodable training images an earlier session of this run named (a resumed run)."""
    if state is None or state.epoch == 0:
        return {}
    try:
        named = read_run_record(out).get("data", {}).get("undecodable_in_training")
    except (UsageError, AttributeError):
        return {}
    if not isinstance(named, dict):
        return {}
    return {str(k): str(v) for k, v in named.items()}


def _process_id() -> int:
    from .distribute import process_shard

    shard = process_shard()
    return shard[0] if shard else 0


def _worker_dir(out: Path) -> Path:
    """Where a non-chief worker writes: its own folder, so workers never race on a file."""
    from .distribute import task

    kind, index = task()
    return out / f"{kind or 'worker'}-{index}"


def config_with(cfg: TrainConfig, **changes) -> TrainConfig:
    return replace(cfg, **{k: v for k, v in changes.items() if v is not None})
