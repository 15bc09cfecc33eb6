"""The run folder's files and the training state, with no TensorFlow or Keras: the cheap checks
of `train` (is there a run here? has it finished?) read them before TensorFlow is imported."""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .errors import UsageError

BEST_PREFIX = "best-epoch-"
BEST_SUFFIX = ".weights.npz"
# The lock file marks a folder as a run of this program (it is the first file a run writes) and
# is what two trainers on one --out contend for (fcntl.flock, released when the process ends).
LOCK_NAME = ".reference-model.lock"
LOCK_TEXT = "reference-model run folder lock\n"
# Every name a run writes in its folder: a fresh run may remove these (a run killed before its
# first state.json left them) and nothing else. The program never deletes a folder's contents
# recursively: it removes the files it names here, then the folders if they are left empty.
OWN_FILES = re.compile(
    r"history\.csv|final\.keras|final\.tmp\.keras|state\.json\.tmp|run\.json\.tmp"
    rf"|{re.escape(BEST_PREFIX)}\d+{re.escape(BEST_SUFFIX)}(\.tmp\.npz)?"
)
OWN_CHECKPOINT = re.compile(r"epoch-\d{3,}(\.tmp)?\.keras")
OWN_EVAL = ("metrics.json", "per_class.csv", "confusion.csv", "confusion.png", "predictions.csv")


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
        # by the exact pattern the program writes, so a user's `best-epoch-mine...` is not ours
        own = re.compile(rf"{re.escape(BEST_PREFIX)}\d+{re.escape(BEST_SUFFIX)}")
        return sorted(p for p in self.root.glob(f"{BEST_PREFIX}*") if own.fullmatch(p.name))

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:03d}.keras"


def read_state(paths: RunPaths) -> TrainState | None:
    """The run's state, None when there is no state.json, a UsageError when it is not one this
    program wrote (empty, not JSON, a wrong key or type, a path out of the run folder)."""
    if not paths.state.is_file():
        return None
    try:
        data = json.loads(paths.state.read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{paths.state}: unreadable ({_short(exc)}); the run folder is damaged"
        ) from None
    return check_state(data, str(paths.state))


def _short(exc: Exception, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_state(data, source: str = "state.json") -> TrainState:
    """A TrainState from state.json's contents, every field checked: epochs are integers
    0 <= best_epoch <= epoch, `best` a number (inf before the first epoch), the checkpoint
    `checkpoints/epoch-NNN.keras` and the best weights `best-epoch-NNN.weights.npz` (plain
    names inside the run folder, never a path out of it)."""

    def bad(why: str) -> UsageError:
        return UsageError(f"{source}: {why}; the run folder is damaged")

    if not isinstance(data, dict):
        raise bad(f"expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(TrainState)}
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise bad(f"unknown key {unknown[0][:40]!r}")
    for key in ("epoch", "best_epoch", "wait"):
        if key in data and not (_is_int(data[key]) and 0 <= data[key] < 2**31):
            raise bad(f"{key} must be an integer >= 0, got {_short_repr(data[key])}")
    best = data.get("best", math.inf)
    if not (isinstance(best, (int, float)) and not isinstance(best, bool)) or math.isnan(best):
        raise bad(f"best must be a number, got {_short_repr(best)}")
    if not isinstance(data.get("stopped_early", False), bool):
        raise bad(f"stopped_early must be true or false, got {_short_repr(data['stopped_early'])}")
    for key, pattern in (
        ("checkpoint", r"checkpoints/epoch-\d{3,}\.keras"),
        ("best_weights", rf"{re.escape(BEST_PREFIX)}\d{{3,}}{re.escape(BEST_SUFFIX)}"),
    ):
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and re.fullmatch(pattern, value)):
            raise bad(f"{key} must name a file of the run, got {_short_repr(value)}")
    state = TrainState(**{**data, "best": float(best)})
    if state.best_epoch > state.epoch:
        raise bad(f"best_epoch {state.best_epoch} is after epoch {state.epoch}")
    if state.epoch and state.checkpoint is None:
        raise bad(f"epoch {state.epoch} done but no checkpoint named")
    return state


def _short_repr(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fsync_file(path: Path) -> None:
    """Flush a file's data to the disk (so a rename after it never exposes an empty file after a
    power loss or a kill of the machine)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename in it) to the disk; not every file system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_durably(tmp: Path, path: Path) -> None:
    """tmp -> path: fsync the new file, rename it over the old one (atomic on POSIX: a reader
    sees the old or the new file, never half of one), fsync the folder."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    replace_durably(tmp, path)


def read_history(path: Path) -> list[tuple[int, dict]]:
    """(epoch, row) of each history.csv row; a UsageError for a file this program did not
    write (not text, a row whose epoch is not a number)."""
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: unreadable ({_short(exc)}); the run folder is damaged") from None
    out = []
    for row in rows:
        try:
            out.append((int(row.get("epoch") or ""), row))
        except (TypeError, ValueError):
            raise UsageError(
                f"{path}: a row without an epoch number ({_short_repr(row.get('epoch'))}); "
                "the run folder is damaged"
            ) from None
    return out


def truncate_history(path: Path, epochs: int) -> None:
    """Keep only the rows of completed epochs 1..epochs (a kill can leave one more)."""
    rows = read_history(path)
    if not rows:
        return
    fields = list(rows[0][1].keys())
    kept = [row for epoch, row in rows if epoch <= epochs]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(kept)


def is_own_folder(root: Path) -> bool:
    """Whether `root` is a run folder of this program: it holds our lock file, or a run.json
    with a config (runs from before the lock file)."""
    lock = root / LOCK_NAME
    if lock.is_file() and not lock.is_symlink():
        try:
            with lock.open("rb") as f:
                if f.read(len(LOCK_TEXT)).decode("latin-1") == LOCK_TEXT:
                    return True
        except OSError:
            pass
    record = root / "run.json"
    try:
        data = json.loads(record.read_bytes()) if record.is_file() else None
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("config"), dict)


def check_fresh_folder(root: Path) -> None:
    """A fresh run may use a new folder, an empty one, or a run folder of ours (one killed in its
    first epoch, before any state.json); anything else is refused, so no user file is touched."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"--out {root}: not a folder")
    if not root.exists():
        return
    try:
        entries = next(os.walk(root), (None, [], []))
    except OSError as exc:
        raise UsageError(f"--out {root}: cannot list it ({_short(exc)})") from None
    if (entries[1] or entries[2]) and not is_own_folder(root):
        raise UsageError(
            f"--out {root}: the folder is not empty and is not a reference-model run; "
            "give a new or empty folder"
        )


def clear_stale(paths: RunPaths) -> list[Path]:
    """Remove what a run killed before its first state.json left behind (history rows, best
    weights, checkpoints, final model, evaluation), so a fresh run starts from nothing; returns
    what was removed. Only the files this program writes, by their names (OWN_FILES,
    OWN_CHECKPOINT, OWN_EVAL), never a folder's other contents: `checkpoints/` and `eval/` are
    removed only when that leaves them empty."""
    removed = []

    def unlink(path: Path) -> None:
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)

    for path in sorted(paths.root.iterdir()):
        if OWN_FILES.fullmatch(path.name):
            unlink(path)
    for folder, own in (
        (paths.checkpoints, OWN_CHECKPOINT.fullmatch),
        (paths.root / "eval", lambda name: name in OWN_EVAL),
    ):
        if folder.is_dir() and not folder.is_symlink():
            for path in sorted(folder.iterdir()):
                if own(path.name):
                    unlink(path)
            try:
                folder.rmdir()  # only if nothing else is left in it
                removed.append(folder)
            except OSError:
                pass
    return removed


class RunLock:
    """An exclusive lock on a run folder (fcntl.flock on its lock file) for the life of the
    process or until `release`; a second trainer on the same folder gets a one-line error."""

    def __init__(self, root: Path):
        import fcntl

        self.path = root / LOCK_NAME
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            self.fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise UsageError(
                f"{self.path}: cannot open the run's lock file ({_short(exc)})"
            ) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._holder()
            os.close(self.fd)
            raise UsageError(
                f"--out {root}: another trainer is using this run folder"
                + (f" (pid {holder})" if holder else "")
                + "; wait for it to end or give another --out"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{LOCK_TEXT}pid {os.getpid()}\n".encode())
        os.fsync(self.fd)

    def _holder(self) -> str | None:
        try:
            text = os.pread(self.fd, 200, 0).decode("latin-1")
        except OSError:
            return None
        match = re.search(r"^pid (\d+)$", text, re.M)
        return match.group(1) if match else None

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1


def save_weights_npz(path: Path, weights: list) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, *weights)
    replace_durably(tmp, path)


def load_weights_npz(path: Path) -> list:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]
