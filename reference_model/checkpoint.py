"""One resumable callback for early stopping, per-epoch checkpoints and the history CSV.

Keras's EarlyStopping, ModelCheckpoint and CSVLogger each reset their state when `fit` starts,
so a resumed run would forget the patience counter and the best weights, and a run killed
between the CSV row and the checkpoint would repeat a row. Here every epoch writes, in order:
the checkpoint, the best weights (if improved, to a file named after the epoch), the history
row, and last `state.json`, which names the checkpoint and the best weights' file; only then are
older checkpoints and best-weight files removed. A kill at any point leaves a `state.json` that
agrees with a checkpoint and a best-weights file, and resume drops history rows past it.
The run folder's files and the state are in `runfolder` (no Keras there).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

from ._env import set_backend_default
from .errors import UsageError
from .runfolder import (  # noqa: F401  (re-exported: the run folder's API lives there)
    RunLock,
    RunPaths,
    TrainState,
    clear_stale,
    load_weights_npz,
    read_state,
    replace_durably,
    save_weights_npz,
    truncate_history,
    write_json_atomic,
)

set_backend_default()

import keras  # noqa: E402  (a Callback subclass needs the class at import time)


class ResumableTraining(keras.callbacks.Callback):
    def __init__(
        self,
        paths: RunPaths,
        state: TrainState,
        patience: int,
        monitor: str = "val_loss",
        keep: int = 2,
        writer: bool = True,
        min_delta: float = 0.0,
    ):
        super().__init__()
        self.paths, self.state, self.patience = paths, state, patience
        self.monitor, self.keep, self.writer, self.min_delta = monitor, keep, writer, min_delta
        self.epoch_seconds: list[float] = []
        self._best_weights = None
        if state.best_epoch:
            best = paths.root / (state.best_weights or "best.weights.npz")  # older runs: one file
            if not best.is_file():
                # without it final.keras would silently be the last epoch's weights
                raise UsageError(f"{best}: the best epoch's weights named by state.json are gone")
            try:
                self._best_weights = load_weights_npz(best)
            except (OSError, ValueError, KeyError) as exc:
                raise UsageError(f"{best}: unreadable ({exc})") from None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        seconds = time.perf_counter() - self._t0
        self.epoch_seconds.append(seconds)
        value = float(logs.get(self.monitor, logs.get("loss", math.nan)))
        done = epoch + 1
        improved = value < self.state.best - self.min_delta
        state = replace(
            self.state,
            epoch=done,
            best=value if improved else self.state.best,
            best_epoch=done if improved else self.state.best_epoch,
            wait=0 if improved else self.state.wait + 1,
        )
        if improved:
            self._best_weights = self.model.get_weights()
        stop = state.wait >= self.patience
        state = replace(
            state,
            stopped_early=stop,
            checkpoint=str(self.paths.checkpoint(done).relative_to(self.paths.root)),
            best_weights=(
                self.paths.best_weights(done).name if improved else self.state.best_weights
            ),
        )
        # Every worker saves (under MultiWorkerMirroredStrategy saving may need all of them);
        # only the chief's files land in the run folder.
        target = self.paths.checkpoint(done) if self.writer else None
        self._save_checkpoint(target)
        if self.writer:
            if improved:
                save_weights_npz(self.paths.best_weights(done), self._best_weights)
            self._append_history(done, logs, seconds)
            write_json_atomic(self.paths.state, asdict(state))
            self._prune(done, state)
        self.state = state
        if stop:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        # Restore the best epoch's weights whether or not patience ran out, so final.keras is
        # always the model with the lowest validation loss (Keras restores only on a stop).
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)

    def _save_checkpoint(self, target: Path | None) -> None:
        import tempfile

        if target is None:
            with tempfile.TemporaryDirectory() as tmp:
                self.model.save(Path(tmp) / "ckpt.keras")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.stem + ".tmp.keras")
        self.model.save(tmp)
        replace_durably(tmp, target)

    def _append_history(self, epoch: int, logs: dict, seconds: float) -> None:
        row = {
            "epoch": epoch,
            **{k: f"{float(v):.6g}" for k, v in sorted(logs.items())},
            "seconds": f"{seconds:.3f}",
        }
        new = not self.paths.history.is_file() or self.paths.history.stat().st_size == 0
        with self.paths.history.open("a", newline="") as f:
            w = csv.DictWriter(f, list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    def _prune(self, epoch: int, state: TrainState) -> None:
        """After state.json is written: checkpoints older than the last `keep`, and every
        best-weights file but the one the state names."""
        for old in range(1, epoch - self.keep + 1):
            path = self.paths.checkpoint(old)
            if path.is_file():
                path.unlink()
        for path in self.paths.all_best_weights():
            if path.name != state.best_weights:
                path.unlink()
