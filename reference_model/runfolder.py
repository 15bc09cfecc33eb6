"""The run folder's files and the training state, with no TensorFlow or Keras: the cheap checks
of `train` (is there a run here? has it finished?) read them before TensorFlow is imported."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BEST_PREFIX = "best-epoch-"
BEST_SUFFIX = ".weights.npz"


@dataclass(frozen=True)
class TrainState:
    epoch: int = 0  # epochs completed
    best: float = math.inf  # best monitored value so far
    best_epoch: int = 0
    wait: int = 0  # epochs since the last improvement
    stopped_early: bool = False
    checkpoint: str | None = None  # relative to the run folder
    best_weights: str | None = None  # relative to the run folder: the best epoch's weights

    def finished(self, epochs: int) -> bool:
        return self.stopped_early or self.epoch >= epochs


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    def best_weights(self, epoch: int) -> Path:
        # One file per best epoch, named in state.json: a kill between writing a new best and
        # writing the state leaves the state naming the previous best, which is still there.
        return self.root / f"{BEST_PREFIX}{epoch:03d}{BEST_SUFFIX}"

    def all_best_weights(self) -> list[Path]:
        return sorted(self.root.glob(f"{BEST_PREFIX}*{BEST_SUFFIX}"))

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:03d}.keras"


def read_state(paths: RunPaths) -> TrainState | None:
    if not paths.state.is_file():
        return None
    return TrainState(**json.loads(paths.state.read_text()))


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)  # atomic on POSIX: a reader sees the old or the new file, never half


def truncate_history(path: Path, epochs: int) -> None:
    """Keep only the rows of completed epochs 1..epochs (a kill can leave one more)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    fields = list(rows[0].keys())
    kept = [r for r in rows if int(r["epoch"]) <= epochs]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(kept)


def clear_stale(paths: RunPaths) -> list[Path]:
    """Remove what a run killed before its first state.json left behind (history rows, best
    weights, checkpoints, final model, evaluation), so a fresh run starts from nothing; returns
    what was removed. Only files this program writes are touched."""
    removed = []
    stale = [paths.history, paths.root / "final.keras", *paths.all_best_weights()]
    stale += [paths.state.with_suffix(".json.tmp")]
    for path in stale:
        if path.is_file():
            path.unlink()
            removed.append(path)
    for folder in (paths.checkpoints, paths.root / "eval"):
        if folder.is_dir():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def save_weights_npz(path: Path, weights: list) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, *weights)
    os.replace(tmp, path)


def load_weights_npz(path: Path) -> list:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]
