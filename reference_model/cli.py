"""`reference-model` / `python -m reference_model`: synth, scan, train, evaluate, predict, profile, validate.

Thin commands: parse, call one function, print. Every user error is one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._env import set_backend_default
from .errors import UsageError

set_backend_default()

PROG = "reference-model"
SCAN_NAMED = 50  # skipped files `scan` names one per line (--json: all)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + error; the brief is one line
        raise UsageError(message)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    """A seed for NumPy's and Keras's generators: an integer in 0 .. 2**31 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"the seed must be in 0 .. 2**31 - 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .data.dataset import LABEL_SCHEMES, SPLIT_METHODS
    from .data.weights import CLASS_WEIGHT_MODES

    p = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("synth", help="write a small synthetic dataset in the DeepFashion layout")
    s.add_argument("--out", required=True)
    s.add_argument("--classes", type=_positive, default=46)
    s.add_argument("--images-per-class", type=_positive, default=10)
    s.add_argument("--max-size", type=_positive, default=300)
    s.add_argument("--min-size", type=_positive, default=None, help="default min(80, max)")
    s.add_argument("--no-corrupt", action="store_true", help="leave out the damaged files")
    s.add_argument("--seed", type=_seed, default=0)

    def data_args(q):
        q.add_argument("--data", required=True, help="DeepFashion root (img/, Anno/, Eval/)")
        q.add_argument("--labels", choices=LABEL_SCHEMES, default="official")
        q.add_argument("--split", choices=SPLIT_METHODS, default="official")
        q.add_argument("--fraction", type=float, default=1.0)
        q.add_argument("--seed", type=_seed, default=0)

    s = sub.add_parser("scan", help="check a dataset: counts, skipped files, label disagreements")
    data_args(s)
    s.add_argument("--json", action="store_true")

    t = sub.add_parser("train", help="train a model (a fresh run, or --resume one)")
    t.add_argument("--data", help="DeepFashion root (img/, Anno/, Eval/)")
    t.add_argument("--labels", choices=LABEL_SCHEMES, default="official")
    t.add_argument("--split", choices=SPLIT_METHODS, default="official")
    t.add_argument("--fraction", type=float, default=1.0)
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument(
        "--model",
        default="seed",
        help="seed | seed-gap | seed-extra-pool | seed-bn | spec.json | model.keras",
    )
    t.add_argument("--image-size", type=_positive, default=256)
    t.add_argument("--batch-size", type=_positive, default=32, help="per replica")
    t.add_argument("--epochs", type=_positive, default=None, help="default 20")
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--patience", type=_positive, default=3)
    t.add_argument("--crop", action="store_true", help="crop to the bbox before resizing")
    t.add_argument("--class-weight", choices=CLASS_WEIGHT_MODES, default="none")
    t.add_argument(
        "--cache",
        nargs="?",
        const="",
        default=None,
        help="cache decoded images (in memory, or in the given file)",
    )
    t.add_argument(
        "--strategy",
        choices=("none", "mirrored", "multiworker", "data-parallel"),
        default="none",
        help="mirrored/multiworker: tf.distribute (TensorFlow); data-parallel: every local "
        "device through keras.distribution (jax)",
    )
    t.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="multi-host data-parallel (jax): process 0's address, the same on every host",
    )
    t.add_argument("--num-processes", metavar="N", help="multi-host: how many processes (hosts)")
    t.add_argument("--process-id", metavar="I", help="multi-host: this process, 0..N-1")
    t.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto")
    t.add_argument("--steps-per-epoch", type=_positive, default=None)
    t.add_argument("--keep-checkpoints", type=_positive, default=2)
    t.add_argument("--verbose", choices=("auto", "0", "1", "2"), default="auto")
    t.add_argument("--no-evaluate", action="store_true")
    t.add_argument(
        "--require-gpu",
        action="store_true",
        help="stop (one line, nothing written) when the Keras backend sees no GPU",
    )
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out with its saved settings (--epochs may change)",
    )

    e = sub.add_parser("evaluate", help="top-1/3/5, per-class report, confusion matrix")
    e.add_argument("--run", required=True, help="a finished run folder")
    e.add_argument("--split", choices=("train", "val", "test"), default="test")
    e.add_argument("--data", help="the dataset, if it moved since training")
    e.add_argument("--out")

    def model_args(q):
        q.add_argument(
            "model",
            help="seed | seed-gap | ... | spec.json | model.keras | ResNet50 (keras.applications)"
            " | kimm:RegNetY008",
        )
        q.add_argument("--image-size", type=_positive, default=None, help="default 256 (seed), 224")
        q.add_argument("--batch", type=_positive, default=1)
        q.add_argument(
            "--dtype", default="float32", help="float32 | bfloat16 | mixed_bfloat16 | ..."
        )
        q.add_argument("--repeats", type=_positive, default=10)
        q.add_argument("--warmup", type=_positive, default=3)
        q.add_argument("--no-layers", action="store_true", help="skip the per-layer timings")
        q.add_argument("--no-train", action="store_true", help="skip the training step")

    pr = sub.add_parser("profile", help="measure latency, throughput, memory (any Keras backend)")
    model_args(pr)
    pr.add_argument("--out", default="profile.json")

    v = sub.add_parser("validate", help="cnncost's predictions next to the measurements")
    model_args(v)
    v.add_argument("--profile", help="a profile.json (default: profile now)")
    v.add_argument("--device", default="local", help="cnncost device profile (default: local)")
    v.add_argument("--tf32", action="store_true", help="predict float32 at the TF32 peak")
    v.add_argument("--json", dest="json_out", help="write the comparison as JSON")
    v.add_argument("--plot", help="write predicted vs measured per layer (PNG)")
    v.add_argument("--top", type=_positive, default=None, help="table: the N slowest layers")

    r = sub.add_parser("predict", help="classify images with a run's final model")
    r.add_argument("--run", required=True)
    r.add_argument("images", nargs="+")
    return p


def cmd_synth(a) -> int:
    from .data.synth import SynthSpec, write_synthetic

    spec = SynthSpec(
        classes=a.classes,
        images_per_class=a.images_per_class,
        max_size=a.max_size,
        min_size=a.min_size or min(80, a.max_size),
        corrupt=not a.no_corrupt,
        seed=a.seed,
    )
    res = write_synthetic(a.out, spec)
    print(
        f"wrote {res.images} images of {len(res.class_names)} classes "
        f"(+{res.damaged} damaged or missing) to {res.root}"
    )
    return 0


def cmd_scan(a) -> int:
    from .data import dataset as D

    ds = D.load_dataset(a.data)
    labels = D.make_labels(ds, a.labels)
    splits = D.used_splits(ds, a.split, a.seed, a.fraction)
    summary = D.summary(ds, labels, splits)
    summary["label_disagreements"] = [
        {"folder": f, "official": o, "images": n} for f, o, n in D.label_disagreements(ds)
    ]
    if a.json:
        print(json.dumps(summary, indent=2))
        return 0
    for key in (
        "root",
        "listed",
        "usable",
        "skipped",
        "categories",
        "empty_categories",
        "classes",
        "splits",
        "warnings",
    ):
        print(f"{key:>17}: {summary[key]}")
    # each skipped image by name (outside the root, bad name, missing, damaged, too large);
    # the name as a Python literal, so a control character in a list cannot reach the terminal
    skipped = summary["skipped_files"]
    for row in skipped[:SCAN_NAMED]:
        print(f"  skipped {row['reason']}: {ascii(row['image'])}")
    if len(skipped) > SCAN_NAMED:
        print(f"  ... and {len(skipped) - SCAN_NAMED} more (scan --json names every one)")
    print("folder label vs official category (where they differ):")
    for row in summary["label_disagreements"] or [{"folder": "-", "official": "-", "images": 0}]:
        print(f"  {row['folder']:>20} -> {row['official']:<20} {row['images']:>7} images")
    return 0


def cmd_train(a) -> int:
    from .distribute import jax_cluster, set_cluster_env
    from .train import TrainConfig, config_with, load_run_config, train

    # a multi-host JAX cluster: the options (each one missing from KERAS_DISTRIBUTION_*) are
    # checked and put where Keras reads them; not in run.json, as each host has its own id
    cluster = jax_cluster(a.coordinator, a.num_processes, a.process_id)
    if cluster is not None:
        set_cluster_env(cluster)

    if a.resume:
        cfg = config_with(
            load_run_config(Path(a.out)),
            epochs=a.epochs,
            out=a.out,
            require_gpu=True if a.require_gpu else None,
        )
    else:
        if not a.data:
            raise UsageError("train: --data is required (unless --resume)")
        if not Path(a.data).is_dir():
            raise UsageError(f"--data {a.data}: no such folder")
        cfg = TrainConfig(
            data=a.data,
            out=a.out,
            model=a.model,
            image_size=a.image_size,
            batch_size=a.batch_size,
            epochs=a.epochs or 20,
            learning_rate=a.learning_rate,
            patience=a.patience,
            labels=a.labels,
            split=a.split,
            fraction=a.fraction,
            crop=a.crop,
            class_weight=a.class_weight,
            cache=a.cache,
            strategy=a.strategy,
            mixed_precision=a.mixed_precision,
            seed=a.seed,
            steps_per_epoch=a.steps_per_epoch,
            keep_checkpoints=a.keep_checkpoints,
            verbose=a.verbose,
            evaluate=not a.no_evaluate,
            require_gpu=a.require_gpu,
        )
    record = train(cfg, resume=a.resume)
    test = record.get("test")
    print(
        f"done: {record['epochs_run']} epochs, best epoch {record['best_epoch']} "
        f"(val_loss {record['best_val_loss']:.4f})"
        + (f", test top-1 {test['top1']:.3f} top-5 {test['top5']:.3f}" if test else "")
    )
    return 0


def cmd_evaluate(a) -> int:
    from .evaluate import evaluate_run

    res = evaluate_run(a.run, a.split, a.out, a.data)
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    return 0


def _read_run_json(run: Path) -> dict:
    """A run folder's run.json with its class names, or a UsageError."""
    try:
        info = json.loads((run / "run.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"{run}: no run.json (the class names are kept there)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{run}/run.json: unreadable ({exc})") from None
    names = info.get("class_names") if isinstance(info, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UsageError(f"{run}/run.json: no class_names list")
    return info


def cmd_predict(a) -> int:
    missing = [p for p in a.images if not Path(p).is_file()]
    if missing:
        raise UsageError(f"no such image: {missing[0]}")
    run = Path(a.run)
    if not (run / "final.keras").is_file():
        raise UsageError(f"{run}: no final.keras")
    info = _read_run_json(run)
    import numpy as np
    import tensorflow as tf

    from .data.pipeline import decode_and_resize
    from .model import input_size, takes_uint8
    from .train import load_checkpoint

    model = load_checkpoint(run / "final.keras")
    uint8 = takes_uint8(model)  # else a float input in [0, 1] (a run saved before uint8)
    if model.output_shape[-1] != len(info["class_names"]):
        raise UsageError(
            f"{run / 'final.keras'} outputs {model.output_shape[-1]} classes, "
            f"run.json names {len(info['class_names'])}"
        )
    size = input_size(model)
    for path in a.images:
        try:
            image, _ = decode_and_resize(tf.constant(path), 0, (-1, -1, -1, -1), size, False)
        except tf.errors.InvalidArgumentError:
            raise UsageError(f"{path}: not a readable JPEG/PNG image") from None
        x = image[None] if uint8 else tf.cast(image, tf.float32)[None] / 255.0
        probs = np.asarray(model.predict_on_batch(x))[0]
        best = int(probs.argmax())
        print(f"{path}\t{info['class_names'][best]}\t{probs[best]:.3f}")
    return 0


def _profile(a, model=None) -> dict:
    from .profile import build_named_model, profile_model

    model = model or build_named_model(a.model, a.image_size, a.dtype)
    return profile_model(
        model,
        batch=a.batch,
        repeats=a.repeats,
        warmup=a.warmup,
        layers=not a.no_layers,
        train=not a.no_train,
        label=a.model,
    )


def cmd_profile(a) -> int:
    result = _profile(a)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    train = result["train_step"]
    print(
        f"{result['model']} ({result['backend']}, {result['device']['name']}, batch "
        f"{result['batch']}, {result['dtype_policy']}): inference "
        f"{result['inference']['latency_s'] * 1e3:.3f} ms"
        + (f", train step {train['latency_s'] * 1e3:.3f} ms" if train else "")
        + f", {len(result['layers'])} layers timed; wrote {a.out}"
    )
    return 0


def cmd_validate(a) -> int:
    from cnncost import analyze
    from cnncost.errors import CnnCostError

    from .profile import build_named_model, check_profile
    from .validate import plot, render_table, validate

    if a.profile:
        try:
            profile = check_profile(json.loads(Path(a.profile).read_text()))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--profile {a.profile}: {exc}") from None
        image = profile["input_shapes"][0][1] if a.image_size is None else a.image_size
        model = build_named_model(profile["model"], image, profile["dtype_policy"])
    else:
        model = build_named_model(a.model, a.image_size, a.dtype)
        profile = _profile(a, model)
    try:
        predicted = analyze(
            model,
            batch=profile["batch"],
            dtype=profile["dtype_policy"],
            device=a.device,
            tf32=a.tf32,
        ).to_dict()
        convention = (
            analyze(model, flops_convention="tf-profiler").to_dict()
            if profile.get("tf_profiler")
            else None
        )
    except CnnCostError as exc:
        raise UsageError(str(exc)) from None
    result = validate(predicted, profile, convention)
    from rich.console import Console

    Console(soft_wrap=False).print(render_table(result, a.top))
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(result, indent=2) + "\n")
    if a.plot:
        plot(result, a.plot)
    return 1 if result["impossible"] else 0


COMMANDS = {
    "profile": cmd_profile,
    "validate": cmd_validate,
    "synth": cmd_synth,
    "scan": cmd_scan,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
