"""The resumable callback driven with made-up logs and a fake model: patience carried across a
resume, early stop, best-weight restore, pruning, the best-weights file named in the state, and
history truncation."""

import csv
import json

import numpy as np
import pytest

from reference_model.checkpoint import ResumableTraining
from reference_model.runfolder import RunPaths, TrainState, read_state, truncate_history


class FakeModel:
    """What the callback uses of a Keras model; its 'weights' are the epoch that set them."""

    def __init__(self):
        self.value = 0.0
        self.stop_training = False

    def get_weights(self):
        return [np.full(3, self.value), np.full((2, 2), -self.value)]

    def set_weights(self, weights):
        self.value = float(weights[0][0])

    def save(self, path):
        path.write_text(json.dumps(self.value))


def run_epochs(paths, state, losses, first_epoch, patience=3, keep=2, model=None):
    """Keras's calls for epochs first_epoch+1.. while it keeps training; returns the callback."""
    model = model or FakeModel()
    cb = ResumableTraining(paths, state, patience, keep=keep)
    cb.set_model(model)
    for epoch, loss in enumerate(losses, start=first_epoch):
        model.value = float(epoch + 1)  # the weights after this epoch
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {"loss": loss + 1, "val_loss": loss})
        if model.stop_training:
            break
    cb.on_train_end()
    return cb, model


def epochs_in_history(paths):
    with paths.history.open() as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_patience_carries_across_a_resume_and_the_best_weights_come_back(tmp_path):
    paths = RunPaths(tmp_path)
    val_loss = [3, 2, 2.5, 2.6, 2.7]  # best at epoch 2, then 3 epochs without improvement
    first, model = run_epochs(paths, TrainState(), val_loss[:3], 0)  # killed after epoch 3
    assert not model.stop_training
    assert first.state == read_state(paths)
    assert (first.state.epoch, first.state.best_epoch, first.state.wait) == (3, 2, 3 - 2)
    assert model.value == 2.0  # on_train_end restored epoch 2's weights

    resumed, model = run_epochs(paths, read_state(paths), val_loss[3:], 3)
    state = read_state(paths)
    assert state.wait == 5 - 2 and state.stopped_early and model.stop_training
    assert (state.epoch, state.best, state.best_epoch) == (5, 2, 2)
    assert model.value == 2.0  # epoch 2's weights, loaded from its file by the new callback
    assert epochs_in_history(paths) == [1, 2, 3, 4, 5]
    # pruned to the last keep=2 checkpoints, and to the one best-weights file the state names
    assert sorted(p.name for p in paths.checkpoints.iterdir()) == [
        "epoch-004.keras",
        "epoch-005.keras",
    ]
    assert state.checkpoint == "checkpoints/epoch-005.keras"
    assert [p.name for p in paths.all_best_weights()] == ["best-epoch-002.weights.npz"]
    assert state.best_weights == "best-epoch-002.weights.npz"


def test_without_a_resume_the_same_losses_stop_at_the_same_epoch(tmp_path):
    paths = RunPaths(tmp_path)
    cb, model = run_epochs(paths, TrainState(), [3, 2, 2.5, 2.6, 2.7, 1.0], 0)
    assert cb.state.epoch == 5 and cb.state.stopped_early  # the 6th epoch never runs
    assert model.value == 2.0


def test_an_improvement_resets_patience_and_names_a_new_best_file(tmp_path):
    paths = RunPaths(tmp_path)
    cb, model = run_epochs(paths, TrainState(), [3, 2, 2.5, 1.5, 1.6], 0, patience=2)
    assert (cb.state.best_epoch, cb.state.wait, cb.state.stopped_early) == (4, 5 - 4, False)
    assert cb.state.best_weights == "best-epoch-004.weights.npz"
    assert [p.name for p in paths.all_best_weights()] == ["best-epoch-004.weights.npz"]
    assert model.value == 4.0


def test_a_kill_between_the_best_weights_and_the_state_leaves_a_consistent_pair(tmp_path):
    """Epoch 3 improves and writes its best-weights file, then the process dies before
    state.json: the state still names epoch 2's file, which must still be there."""
    paths = RunPaths(tmp_path)
    run_epochs(paths, TrainState(), [3, 2], 0)
    np.savez(paths.best_weights(3), np.full(3, 3.0), np.full((2, 2), -3.0))  # the orphan
    state = read_state(paths)
    assert state.best_weights == "best-epoch-002.weights.npz"
    assert (paths.root / state.best_weights).is_file()
    cb, model = run_epochs(paths, state, [2.5], 2)
    assert model.value == 2.0
    assert [p.name for p in paths.all_best_weights()] == ["best-epoch-002.weights.npz"]


@pytest.mark.parametrize("epochs, kept", [(0, []), (2, [1, 2]), (3, [1, 2, 3]), (9, [1, 2, 3])])
def test_truncate_history_keeps_completed_epochs(tmp_path, epochs, kept):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n1,3.0\n2,2.0\n3,2.5\n")
    truncate_history(path, epochs)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == kept
    assert [float(r["loss"]) for r in rows] == [3.0, 2.0, 2.5][: len(kept)]
