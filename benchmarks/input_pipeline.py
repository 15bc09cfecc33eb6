"""Images per second: the tf.data pipeline vs the seed's single-threaded loader, same JPEGs.

The seed fed Keras 2's `ImageDataGenerator(rescale=1/255).flow_from_dataframe(target_size=
(256, 256), batch_size=32)`, which decodes and resizes one image at a time with Pillow on the
Python thread. The `tf-keras` package still ships it, so both loaders run here in one process
on the same synthetic JPEGs (varied sizes up to 300 px, as written by `reference-model synth`).

    python benchmarks/input_pipeline.py [--images 1000] [--size 256] [--batch 32] [--data DIR]

Each loader makes one full pass after one warm-up batch; the best of `--repeats` passes counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def files_and_labels(data: Path) -> tuple[list[str], list[int], list[str]]:
    from reference_model.data import dataset as D

    ds = D.load_dataset(data)
    labels = D.make_labels(ds, "official")
    return [s.file for s in ds.samples], list(labels.labels), list(labels.class_names)


def time_pass(batches, warmup: int = 1) -> tuple[int, float]:
    """(images after warm-up, seconds) for one pass over an iterable of (x, y) batches."""
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    n, start = 0, time.perf_counter()
    for x, _ in it:
        n += len(x)
    return n, time.perf_counter() - start


def tf_data_rate(
    files, labels, size: int, batch: int, resize: str = "bilinear", cached: bool = False
) -> tuple[int, float]:
    from reference_model.data.pipeline import NO_BOX, PipelineConfig, make_dataset

    cfg = PipelineConfig((size, size), batch, resize=resize, cache="" if cached else None)
    ds = make_dataset(files, labels, [NO_BOX] * len(files), cfg)
    if cached:  # the first pass fills the in-memory cache; time a later epoch
        for _ in ds:
            pass
    return time_pass(ds)


def seed_loader_rate(files, labels, names, size: int, batch: int) -> tuple[int, float]:
    import pandas as pd
    from tf_keras.preprocessing.image import ImageDataGenerator

    df = pd.DataFrame({"filename": files, "class": [names[y] for y in labels]})
    gen = ImageDataGenerator(rescale=1 / 255).flow_from_dataframe(
        df,
        x_col="filename",
        y_col="class",
        target_size=(size, size),
        batch_size=batch,
        class_mode="categorical",
        shuffle=False,
    )
    return time_pass(gen[i] for i in range(len(gen)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000, help="synthetic images to write")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data", help="an existing DeepFashion-layout folder instead of synthetic")
    a = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(a.data) if a.data else Path(tmp) / "df"
        if not a.data:
            from reference_model.data.synth import SynthSpec, write_synthetic

            per_class = max(1, a.images // 46)
            write_synthetic(data, SynthSpec(images_per_class=per_class, corrupt=False))
        files, labels, names = files_and_labels(data)
        import tensorflow as tf

        rows = []
        loaders = (
            (
                "tf.data, antialiased bilinear (default)",
                lambda: tf_data_rate(files, labels, a.size, a.batch),
            ),
            (
                "tf.data, nearest (the seed's resize)",
                lambda: tf_data_rate(files, labels, a.size, a.batch, "nearest"),
            ),
            (
                "tf.data, default, cached epoch",
                lambda: tf_data_rate(files, labels, a.size, a.batch, cached=True),
            ),
            (
                "seed-style ImageDataGenerator.flow_from_dataframe",
                lambda: seed_loader_rate(files, labels, names, a.size, a.batch),
            ),
        )
        for name, fn in loaders:
            best = max((fn() for _ in range(a.repeats)), key=lambda r: r[0] / r[1])
            rows.append((name, best[0], best[1], best[0] / best[1]))
    print(
        f"\n{len(files)} JPEGs (up to 300 px) -> {a.size}x{a.size}, batch {a.batch}, "
        f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, best of {a.repeats}"
    )
    print(f"{'loader':<52}{'images':>8}{'seconds':>10}{'images/s':>11}")
    for name, n, s, rate in rows:
        print(f"{name:<52}{n:>8}{s:>10.2f}{rate:>11.1f}")
    seed_rate = rows[-1][3]
    for name, *_, rate in rows[:-1]:
        print(f"ratio {name} / seed-style: {rate / seed_rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
