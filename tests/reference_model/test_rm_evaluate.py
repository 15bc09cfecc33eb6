"""Metrics on hand-made arrays, and the one-pass order of predictions and labels."""

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_model.evaluate import (
    confusion_matrix,
    evaluate_split,
    metrics,
    per_class,
    top_k_accuracy,
)


def test_top_k_accuracy():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 2, 2])
    assert top_k_accuracy(probs, labels, 1) == 0.25
    assert top_k_accuracy(probs, labels, 2) == 0.75
    assert top_k_accuracy(probs, labels, 5) == 1.0  # k beyond the classes: everything counts


def test_confusion_and_per_class_report():
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 1, 1, 0, 1])
    cm = confusion_matrix(labels, preds, 4)
    assert cm.tolist() == [[2, 1, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    r = per_class(cm, ["a", "b", "c", "d"])
    assert r[0].precision == pytest.approx(2 / 3) and r[0].recall == pytest.approx(2 / 3)
    assert r[1].precision == pytest.approx(1 / 3) and r[1].recall == pytest.approx(1 / 2)
    assert r[2].recall == 0 and r[2].support == 1 and r[3].support == 0


def test_evaluation_keeps_predictions_and_labels_in_one_order(tmp_path):
    """A model that 'predicts' the label written into the image: any reordering between the
    prediction pass and the label pass would show as errors."""
    import keras
    import tensorflow as tf

    n, k = 37, 5
    labels = np.arange(n) % k
    x = np.zeros((n, 4, 4, 3), np.float32)
    x[np.arange(n), 0, 0, 0] = labels  # the label, hidden in one pixel
    inp = keras.Input((4, 4, 3))
    one_hot = keras.layers.Lambda(lambda t: tf.one_hot(tf.cast(t[:, 0, 0, 0], tf.int32), k))(inp)
    model = keras.Model(inp, one_hot)
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).shuffle(64, seed=0).batch(8)
    result = evaluate_split(model, ds, [f"c{i}" for i in range(k)], tmp_path)
    assert result["top1"] == 1.0 and result["n"] == n
    assert np.trace(result["confusion"]) == n
    for name in (
        "metrics.json",
        "per_class.csv",
        "confusion.csv",
        "confusion.png",
        "predictions.csv",
    ):
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "confusion.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true\\predicted", "c0", "c1", "c2", "c3", "c4"]
    assert [int(v) for v in rows[1][1:]] == [8, 0, 0, 0, 0]


def test_metrics_summary_fields():
    probs = np.eye(3)[[0, 1, 2, 1]]
    m = metrics(probs, np.array([0, 1, 2, 2]), ["a", "b", "c"])
    assert m["top1"] == 0.75 and m["n"] == 4
    assert m["macro_recall"] == pytest.approx((1 + 1 + 0.5) / 3)


def _run_for(tmp_path, data, class_names, outputs):
    """A run folder as `train` leaves it, with a fresh (untrained) model of `outputs` classes."""
    from dataclasses import asdict

    from reference_model.model import VARIANTS, build_from_spec
    from reference_model.train import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    cfg = TrainConfig(data=str(data), out=str(run), image_size=24, batch_size=4, split="item")
    record = {"config": asdict(cfg), "class_names": list(class_names)}
    (run / "run.json").write_text(json.dumps(record))
    build_from_spec(VARIANTS["seed-gap"], (24, 24, 3), outputs).save(run / "final.keras")
    return run


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    from rm_helpers import write_tiny_dataset

    from reference_model.data.dataset import load_dataset, make_labels

    root = write_tiny_dataset(tmp_path_factory.mktemp("seven"), classes=7, images_per_class=4)
    return root, make_labels(load_dataset(root), "official").class_names


def test_evaluate_refuses_data_whose_classes_are_not_the_models(seven, tmp_path):
    from reference_model.errors import UsageError
    from reference_model.evaluate import evaluate_run

    root, names = seven
    assert len(names) == 7
    run = _run_for(tmp_path, root, names[:6], outputs=6)
    with pytest.raises(UsageError, match="data's 7 classes are not the 6 the model was trained"):
        evaluate_run(run, "train")
    assert not (run / "eval-train").exists()


def test_evaluate_refuses_a_model_of_another_width(seven, tmp_path):
    from reference_model.errors import UsageError
    from reference_model.evaluate import evaluate_run

    root, names = seven
    run = _run_for(tmp_path, root, names, outputs=6)
    with pytest.raises(UsageError, match="outputs 6 classes, run.json names 7"):
        evaluate_run(run, "train")
    # the same folder with a model of the right width evaluates
    (tmp_path / "ok").mkdir()
    run7 = _run_for(tmp_path / "ok", root, names, outputs=7)
    assert evaluate_run(run7, "train")["n"] > 0


def test_a_run_saved_before_the_uint8_input_still_evaluates_the_same(seven, tmp_path, capsys):
    """A run whose final.keras takes float32 in [0, 1] (no Rescaling: saved before the models
    took uint8) is fed float batches scaled on the host, and evaluates exactly as the same
    weights behind the uint8 input do."""
    import keras

    from reference_model.evaluate import evaluate_run
    from reference_model.model import VARIANTS, build_from_spec

    root, names = seven
    new = _run_for(tmp_path, root, names, outputs=7)
    model = keras.saving.load_model(new / "final.keras")
    (tmp_path / "old").mkdir()
    old = _run_for(tmp_path / "old", root, names, outputs=7)
    legacy = keras.Sequential([keras.Input((24, 24, 3))] + model.layers[1:])
    legacy.save(old / "final.keras")
    assert build_from_spec(VARIANTS["seed-gap"], (24, 24, 3), 7).inputs[0].dtype == "uint8"
    ours, theirs = evaluate_run(new, "train"), evaluate_run(old, "train")
    assert ours["n"] == theirs["n"] > 0
    assert ours == theirs
    rows = [
        list(csv.DictReader((r / "eval-train" / "predictions.csv").read_text().splitlines()))
        for r in (new, old)
    ]
    for a, b in zip(*rows, strict=True):
        assert [a[k] for k in ("file", "label", "predicted")] == [
            b[k] for k in ("file", "label", "predicted")
        ]
        assert abs(float(a["confidence"]) - float(b["confidence"])) <= 1e-4
    # `predict` too: the uint8 image to the new model, the image / 255 to the old one
    from reference_model.cli import main

    images = [a["file"] for a in rows[0][:3]]
    printed = []
    for run in (new, old):
        capsys.readouterr()
        assert main(["predict", "--run", str(run), *images]) == 0
        printed.append([line.split("\t") for line in capsys.readouterr().out.splitlines()])
    assert [r[:2] for r in printed[0]] == [r[:2] for r in printed[1]] and len(printed[0]) == 3
    assert all(abs(float(a[2]) - float(b[2])) <= 1e-3 for a, b in zip(*printed, strict=True))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_top_k_accuracy_equals_keras_sparse_top_k(data):
    import keras

    k_classes = data.draw(st.integers(2, 7), label="classes")
    rows = data.draw(st.integers(1, 12), label="rows")
    # distinct scores per row (a permutation): Keras's in_top_k and our stable sort agree on
    # everything but ties, which are resolved differently by design
    probs = np.array(
        [data.draw(st.permutations(range(k_classes))) for _ in range(rows)], dtype=np.float32
    )
    labels = np.array(data.draw(st.lists(st.integers(0, k_classes - 1), min_size=rows,
                                         max_size=rows)))  # fmt: skip
    for k in (1, 3, 5):
        metric = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
        metric.update_state(labels, probs)
        assert top_k_accuracy(probs, labels, k) == pytest.approx(float(metric.result()))


@pytest.mark.parametrize("loader", ["tf.data", "pydataset"])
def test_undecodable_images_are_named_and_counted(tmp_path, loader):
    """A file that passes the byte check (JPEG start and end markers) but does not decode: it is
    not evaluated, and the evaluation names it and counts it (listed = n + 1)."""
    import keras
    from PIL import Image

    from reference_model.data.loader import make_loader
    from reference_model.data.pipeline import NO_BOX, PipelineConfig, make_dataset

    files = []
    for i in range(5):
        path = tmp_path / f"ok_{i}.jpg"
        Image.fromarray(np.full((10, 10, 3), 40 * i, np.uint8)).save(path, "JPEG")
        files.append(str(path))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + b"\x00garbage" * 20 + b"\xff\xd9")
    files.insert(2, str(bad))
    labels = [0, 1, 0, 1, 0, 1]
    cfg = PipelineConfig((8, 8), 4)
    if loader == "tf.data":
        ds = make_dataset(files, labels, [NO_BOX] * 6, cfg, with_paths=True)
    else:
        ds = make_loader(files, labels, [NO_BOX] * 6, cfg)
    inp = keras.Input((8, 8, 3))
    model = keras.Model(
        inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp))
    )
    result = evaluate_split(model, ds, ["a", "b"], tmp_path / "eval", files)
    assert result["n"] == 5 and result["listed"] == 6
    assert list(result["undecodable"]) == [str(bad)]
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["listed"] == 6 and list(saved["undecodable"]) == [str(bad)]
    with (tmp_path / "eval" / "predictions.csv").open() as f:
        evaluated = [row["file"] for row in csv.DictReader(f)]
    assert evaluated == [f for f in files if f != str(bad)]  # the right file on each row


# -- class names from the dataset's files reach the confusion plot as plain text -----------------


@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.text(max_size=30), min_size=1, max_size=4))
def test_any_class_names_plot(names, tmp_path_factory):
    """Mathtext (`$\\nosuch$`), lone surrogates, control characters, empty names: the plot is
    drawn, each label the name as written (printable) or escaped."""
    from reference_model.evaluate import plot_confusion, plot_label

    path = tmp_path_factory.mktemp("plot") / "confusion.png"
    k = len(names)
    plot_confusion(np.arange(k * k).reshape(k, k), names, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in names:
        label = plot_label(name)
        label.encode("utf-8")  # drawable: no lone surrogate left
        assert all(c.isprintable() for c in label)
        if name.isprintable() and len(name) <= 60 and name.encode("utf-8", "replace"):
            assert label == name or "\\u" in label or "\\U" in label


def test_a_category_named_like_mathtext_finishes_the_run(tmp_path):
    """A category `$\\nosuch$` used to crash the confusion plot after the last epoch."""
    from rm_helpers import write_tiny_dataset

    from reference_model.train import TrainConfig, train

    data = write_tiny_dataset(tmp_path / "df")
    cats = data / "Anno" / "list_category_cloth.txt"
    lines = cats.read_text().splitlines()
    lines[2] = "$\\nosuch$ " + lines[2].split()[-1]  # the first category, with images
    cats.write_text("\n".join(lines) + "\n")
    cfg = TrainConfig(
        data=str(data), out=str(tmp_path / "run"), model="seed-gap", image_size=24,
        batch_size=4, epochs=1, verbose="0",
    )  # fmt: skip
    record = train(cfg)
    assert record["status"] == "finished" and "$\\nosuch$" in record["class_names"]
    assert (tmp_path / "run" / "eval" / "confusion.png").stat().st_size > 0
