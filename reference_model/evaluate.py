"""Top-1/3/5 accuracy, per-class precision/recall, confusion matrix (CSV + PNG).

Predictions and labels come from the *same* pass over an unshuffled dataset, batch by batch, so
row i of the predictions is row i of the labels (the seed's report compared two differently
shuffled passes).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ClassReport:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


def predict_with_labels(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) in dataset order, from one pass."""
    probs, labels, _ = predict_with_paths(model, dataset)
    return probs, labels


def predict_with_paths(model, dataset) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """(probabilities, labels, file paths or None) in dataset order, from one pass over
    batches of (x, y) or (x, y, paths)."""
    probs, labels, paths = [], [], []
    for batch in dataset:
        x, y = batch[0], batch[1]
        if len(y) == 0:
            continue
        probs.append(np.asarray(model.predict_on_batch(x), dtype=np.float64))
        labels.append(np.asarray(y))
        if len(batch) > 2:
            paths += [p.decode() if isinstance(p, bytes) else str(p) for p in np.asarray(batch[2])]
    got_paths = paths if len(paths) == sum(len(y) for y in labels) and paths else None
    return np.concatenate(probs), np.concatenate(labels).astype(int), got_paths


def undecodable(dataset, files: list[str] | None, seen: list[str] | None) -> dict[str, str]:
    """{file: reason} of the split's files that were not evaluated: named by the loader (the
    PyDataset), or the files missing from the paths tf.data's error guard let through."""
    named = dict(getattr(dataset, "skipped", None) or {})
    if named or files is None or seen is None:
        return named
    kept = set(seen)
    return {f: "tf.io.decode_jpeg failed" for f in files if f not in kept}


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, probs.shape[1])
    # Stable sort on the negated scores: ties go to the lower class id, deterministically.
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)
    return cm


def per_class(cm: np.ndarray, names: tuple[str, ...] | list[str]) -> list[ClassReport]:
    out = []
    for i, name in enumerate(names):
        tp, predicted, actual = cm[i, i], cm[:, i].sum(), cm[i, :].sum()
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        out.append(ClassReport(name, float(p), float(r), float(f1), int(actual)))
    return out


def metrics(probs: np.ndarray, labels: np.ndarray, names) -> dict:
    preds = probs.argmax(axis=1)
    cm = confusion_matrix(labels, preds, len(names))
    reports = per_class(cm, names)
    present = [r for r in reports if r.support]
    return {
        "n": int(len(labels)),
        "top1": top_k_accuracy(probs, labels, 1),
        "top3": top_k_accuracy(probs, labels, 3),
        "top5": top_k_accuracy(probs, labels, 5),
        "macro_recall": float(np.mean([r.recall for r in present])) if present else 0.0,
        "confusion": cm,
        "per_class": reports,
        "preds": preds,
    }


def write_outputs(
    result: dict,
    names,
    labels: np.ndarray,
    probs: np.ndarray,
    out: Path,
    files: list[str] | None = None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = {k: result[k] for k in ("n", "top1", "top3", "top5", "macro_recall")}
    summary["listed"] = result.get("listed", result["n"])
    summary["undecodable"] = result.get("undecodable", {})
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    with (out / "per_class.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "precision", "recall", "f1", "support"])
        for r in result["per_class"]:
            w.writerow([r.name, f"{r.precision:.4f}", f"{r.recall:.4f}", f"{r.f1:.4f}", r.support])
    with (out / "confusion.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true\\predicted", *names])
        for name, row in zip(names, result["confusion"], strict=True):
            w.writerow([name, *row.tolist()])
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "file", "label", "predicted", "confidence"])
        for i, (y, p) in enumerate(zip(labels, result["preds"], strict=True)):
            w.writerow([i, files[i] if files else "", names[y], names[p], f"{probs[i, p]:.4f}"])
    plot_confusion(result["confusion"], names, out / "confusion.png")


def plot_label(name: str, limit: int = 60) -> str:
    """A class name as a tick label: printable characters as they are, anything else (control
    characters, lone surrogates) as a Python escape, cut to `limit` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(name))
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_confusion(cm: np.ndarray, names, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    n = len(names)
    size = max(5.0, 0.22 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    # Row-normalised: with DeepFashion's imbalance, raw counts show only the big classes.
    rows = cm.sum(axis=1, keepdims=True)
    ax.imshow(
        np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0), cmap="Blues", vmin=0, vmax=1
    )
    # Class names come from the dataset's files: drawn as plain text (`parse_math=False`), so a
    # name like `$\\nosuch$` is shown as written instead of failing the mathtext parser (which
    # ended a run after its last epoch); control characters are shown as escapes.
    labels = [plot_label(name) for name in names]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7, parse_math=False)
    ax.set_yticks(range(n), labels, fontsize=7, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (row-normalised)")
    import warnings

    with warnings.catch_warnings():  # a name in a script the font lacks: drawn as boxes
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_split(model, dataset, names, out: Path, files: list[str] | None = None) -> dict:
    """Metrics of one pass over `dataset`; images that could not be decoded are named in
    `result["undecodable"]` (and metrics.json) and counted (`listed` = `n` + undecodable)."""
    probs, labels, seen = predict_with_paths(model, dataset)
    result = metrics(probs, labels, names)
    result["undecodable"] = undecodable(dataset, files, seen)
    result["listed"] = len(files) if files is not None else result["n"]
    if seen is None and files is not None and result["undecodable"]:
        seen = [f for f in files if f not in result["undecodable"]]
    # `files` only lines up when no image was dropped, or the evaluated paths are known
    order = seen if seen is not None else files
    write_outputs(
        result, names, labels, probs, out, order if order and len(order) == len(labels) else None
    )
    return result


def evaluate_run(
    run_dir: str | Path, split: str = "test", out: str | Path | None = None, data: str | None = None
) -> dict:
    """Evaluate a finished run's final.keras on one split, rebuilt from its run.json."""
    from dataclasses import replace

    from .errors import UsageError

    run_dir = Path(run_dir)
    # Checked before TensorFlow loads, so the error is the only thing on stderr.
    if not (run_dir / "final.keras").is_file():
        raise UsageError(f"{run_dir}: no final.keras (has the run finished?)")

    from .train import load_run_config, prepare_data, read_run_record

    trained_names = read_run_record(run_dir).get("class_names")
    if not isinstance(trained_names, list) or not all(isinstance(n, str) for n in trained_names):
        raise UsageError(f"{run_dir / 'run.json'}: class_names is not a list of names")
    cfg = load_run_config(run_dir)
    if data:
        cfg = replace(cfg, data=data)
    prepared = prepare_data(cfg)
    if list(prepared.class_names) != trained_names:
        raise UsageError(
            f"the data's {len(prepared.class_names)} classes are not the "
            f"{len(trained_names or [])} the model was trained on (run.json class_names); "
            "evaluate on the dataset and --labels of the run"
        )
    if split not in prepared.splits or not prepared.splits[split].files:
        raise UsageError(f"split {split!r} is empty for this run")

    from .data.loader import make_input
    from .data.pipeline import PipelineConfig
    from .model import input_size, takes_uint8
    from .train import load_checkpoint

    model = load_checkpoint(run_dir / "final.keras")
    width = model.output_shape[-1]
    if width != len(prepared.class_names):
        raise UsageError(
            f"{run_dir / 'final.keras'} outputs {width} classes, "
            f"run.json names {len(prepared.class_names)}"
        )
    s = prepared.splits[split]
    ds = make_input(
        s.files,
        s.labels,
        s.boxes,
        PipelineConfig(input_size(model), cfg.batch_size, cfg.crop, uint8=takes_uint8(model)),
        with_paths=True,
    )
    result = evaluate_split(
        model,
        ds,
        prepared.class_names,
        Path(out) if out else run_dir / f"eval-{split}",
        list(s.files),
    )
    return {
        k: result[k] for k in ("n", "listed", "undecodable", "top1", "top3", "top5", "macro_recall")
    }
