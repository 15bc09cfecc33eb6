"""The tf.data input pipeline: parallel JPEG decode, optional bbox crop, resize, cache, prefetch.

Images are cached as uint8 after the resize (4x smaller than float32) and batched as uint8:
the models built here take uint8 and scale to [0, 1] in their first layer (`Rescaling(1/255)`,
on the device), so a quarter of float32's bytes cross from the host. A model with a float input
(a run saved before, a user's `.keras`) is fed float32 in [0, 1] scaled after batching, as the
seed's `ImageDataGenerator(rescale=1/255)` did (`PipelineConfig.uint8=False`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from .._env import set_backend_default
from .annotations import BBox
from .images import MAX_PIXELS

set_backend_default()

NO_BOX = (-1, -1, -1, -1)


@dataclass(frozen=True)
class PipelineConfig:
    image_size: tuple[int, int]  # (height, width) of the model input
    batch_size: int
    crop: bool = False  # crop to the bbox (clipped to the image) before resizing
    cache: str | None = None  # None: no cache; "": in memory; a path: a cache file
    shuffle: bool = False
    seed: int = 0
    ignore_errors: bool = True  # a JPEG that passed the byte check but fails to decode
    # "area-like" antialiased bilinear by default: DeepFashion images are ~300 px and shrink
    # to the model size, where nearest neighbour (Keras 2's default, the seed's) aliases.
    resize: str = "bilinear"  # "bilinear" (antialiased) or "nearest"
    repeat: bool = False  # repeat (after the shuffle) for a fixed number of steps per epoch
    # (index, count): read only this worker's share of the files (multi-worker training); each
    # worker then decodes 1/count of the images instead of all of them
    shard: tuple[int, int] | None = None
    # uint8 batches (0..255) for a model that scales them itself (`model.takes_uint8`); False:
    # float32 in [0, 1] for a model with a float input (older runs' checkpoints)
    uint8: bool = True


def box_tuple(box: BBox | None) -> tuple[int, int, int, int]:
    return (box.x1, box.y1, box.x2, box.y2) if box else NO_BOX


def decode_and_resize(
    path, label, box, size: tuple[int, int], crop: bool, resize: str = "bilinear"
):
    """One image: read, decode to RGB, crop to the clipped bbox when asked, resize to uint8."""
    import tensorflow as tf

    contents = tf.io.read_file(path)
    # The frame header's size first (a few bytes): an image over MAX_PIXELS is an error here,
    # dropped and named like any undecodable file, before the decoder allocates anything.
    shape = tf.io.extract_jpeg_shape(contents, output_type=tf.int64)
    check = tf.debugging.assert_less_equal(
        shape[0] * shape[1], tf.constant(MAX_PIXELS, tf.int64), message="image too large"
    )
    with tf.control_dependencies([check]):
        contents = tf.identity(contents)
    if crop:
        image = decode_cropped(contents, box)
    else:
        image = tf.io.decode_jpeg(contents, channels=3)
    image = tf.image.resize(image, size, method=resize, antialias=resize == "bilinear")
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label


def decode_cropped(contents, box):
    """Decode only the clipped box (`tf.image.decode_and_crop_jpeg`: the JPEG's blocks outside
    it are skipped), the whole image when the box is absent or empty; the same pixels as
    decoding everything and `crop_to_box` (tested)."""
    import tensorflow as tf

    shape = tf.io.extract_jpeg_shape(contents)
    h, w = shape[0], shape[1]
    x1, y1, x2, y2, valid = _clipped_box(box, h, w)
    window = tf.where(valid, tf.stack([y1, x1, y2 - y1, x2 - x1]), tf.stack([0, 0, h, w]))
    return tf.image.decode_and_crop_jpeg(contents, window, channels=3)


def _clipped_box(box, h, w):
    """(x1, y1, x2, y2) clipped to an h x w image, and whether the clipped box is non-empty."""
    import tensorflow as tf

    x1 = tf.clip_by_value(box[0], 0, w)
    y1 = tf.clip_by_value(box[1], 0, h)
    x2 = tf.clip_by_value(box[2], 0, w)
    y2 = tf.clip_by_value(box[3], 0, h)
    return x1, y1, x2, y2, tf.logical_and(x2 > x1, y2 > y1)


def crop_to_box(image, box):
    """tf version of `images.clip_bbox` + crop; the whole image when the box is absent/empty."""
    import tensorflow as tf

    shape = tf.shape(image)
    x1, y1, x2, y2, valid = _clipped_box(box, shape[0], shape[1])
    return tf.cond(valid, lambda: image[y1:y2, x1:x2, :], lambda: image)


def cache_key(
    files: Sequence[str],
    labels: Sequence[int],
    boxes: Sequence[tuple[int, int, int, int]],
    cfg: PipelineConfig,
) -> str:
    """A hash of everything that decides the cached elements: tf.data reads an existing cache
    file as it is, whatever the dataset now holds, so a cache file is named after this."""
    content = {
        "files": list(files),
        "labels": [int(v) for v in labels],
        "boxes": [[int(v) for v in b] for b in boxes],
        "image_size": [int(v) for v in cfg.image_size],
        "crop": cfg.crop,
        "resize": cfg.resize,
        "ignore_errors": cfg.ignore_errors,
        # the elements of a cache file whose dropped files are named beside it (older ones: not)
        "names_dropped": 1,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def cache_file(
    files: Sequence[str],
    labels: Sequence[int],
    boxes: Sequence[tuple[int, int, int, int]],
    cfg: PipelineConfig,
    with_paths: bool = False,
) -> str | None:
    """The cache tf.data uses: None (none), "" (in memory), or `<cache>.<key>` (a file;
    `.paths` added when the elements carry their file paths: another element structure)."""
    if not cfg.cache:
        return cfg.cache
    return f"{cfg.cache}.{cache_key(files, labels, boxes, cfg)}" + (".paths" if with_paths else "")


def shard_order(n: int, cfg: PipelineConfig) -> list[int]:
    """The indices of the files this pipeline reads, in the order it reads them: a seeded
    permutation of the file names when shuffling (made before anything is decoded: the shuffle
    buffer holds 10k decoded images, and the annotation list is grouped by category, so a window
    over it saw one class for the first 3,000 images; the same permutation as the PyDataset
    loader), then, for a shard (index, count), every count-th of them from `index`, cut to
    n // count: every worker gets as many files as every other (workers that run out at
    different steps would wait on each other for ever), and the shards are disjoint; the
    n % count left over are not read in this pass."""
    import numpy as np

    order = np.random.default_rng([cfg.seed, 0]).permutation(n) if cfg.shuffle else np.arange(n)
    if cfg.shard is not None:
        index, count = cfg.shard
        if not (0 <= index < count):
            raise ValueError(f"shard {index} of {count}")
        order = order[index::count][: n // count]
    return [int(i) for i in order]


def make_dataset(
    files: Sequence[str],
    labels: Sequence[int],
    boxes: Sequence[tuple[int, int, int, int]],
    cfg: PipelineConfig,
    with_paths: bool = False,
):
    """A batched `tf.data.Dataset` of (uint8 images, or float32 in [0, 1] when `cfg.uint8` is
    False, int32 labels), with each image's file path as a third element when `with_paths`.

    Files that fail to decode (a JPEG that passed the scan's byte check but whose data is
    damaged) are dropped by the error guard and named, as they are met, in the dataset's
    `skipped` attribute ({path: reason}, filled while the dataset is read, as the PyDataset
    loader's is): see `_name_the_dropped`."""
    import tensorflow as tf

    if not files:
        raise ValueError("no images for this split")
    order = shard_order(len(files), cfg)
    if cfg.shard is not None and len(order) < cfg.batch_size:
        from ..errors import UsageError

        raise UsageError(
            f"worker {cfg.shard[0]} of {cfg.shard[1]} gets {len(order)} training images, fewer "
            f"than one batch of {cfg.batch_size}: use fewer workers or a smaller --batch-size"
        )
    # the cache is named after its content (this shard's files), not their order
    kept = sorted(order)
    cache = cache_file(
        [files[i] for i in kept],
        [labels[i] for i in kept],
        [boxes[i] for i in kept],
        cfg,
        with_paths,
    )
    files = [files[i] for i in order]
    labels = [labels[i] for i in order]
    boxes = [boxes[i] for i in order]
    n = len(files)
    skipped = _skip_record(cache)
    # one end marker after the files (position n, no file: never read, never batched), so that
    # the files dropped after the last decodable one are named too
    ds = tf.data.Dataset.from_tensor_slices(
        (
            [*files, ""],
            tf.constant([*labels, 0], tf.int32),
            tf.constant([*boxes, NO_BOX], tf.int32),
            tf.range(n + 1, dtype=tf.int64),
        )
    )
    size = tuple(cfg.image_size)

    def load(p, y, b, i):
        x, y = tf.cond(
            i < n,
            lambda: decode_and_resize(p, y, b, size, cfg.crop, cfg.resize),
            lambda: (tf.zeros((*size, 3), tf.uint8), y),
        )
        return (x, y, p, i) if with_paths else (x, y, i)

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if cfg.ignore_errors:
        ds = _name_the_dropped(ds.ignore_errors(), files, skipped, cache)
    else:
        ds = ds.filter(lambda *e: e[-1] < n).map(lambda *e: e[:-1])
    if cache is not None:
        ds = ds.cache(cache)
    if cfg.shuffle:
        # Shuffle after the cache so each epoch sees a new order of the cached images.
        ds = ds.shuffle(min(len(files), 10_000), seed=cfg.seed, reshuffle_each_iteration=True)
    if cfg.repeat:
        ds = ds.repeat()  # each pass is reshuffled; batches may span two passes
    # A shard's last, partial batch is dropped: tf.distribute splits each worker's batch across
    # the replicas, and a remainder smaller than the replicas would give one of them an empty
    # batch (a different few images are left out each epoch, as the shuffle moves them).
    ds = ds.batch(cfg.batch_size, drop_remainder=cfg.shard is not None)
    if not cfg.uint8:  # a float-input model: scaled here, on the host
        ds = ds.map(
            lambda x, y, *p: (tf.cast(x, tf.float32) / 255.0, y, *p),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    options = tf.data.Options()
    # The dropped files are named from the gaps in the order of the decoded images (above):
    # the parallel decode must keep the files' order (tf.data's default, stated here).
    options.deterministic = True
    # Sharded by file above: tf.distribute must not shard again (each worker's dataset is its
    # own). Otherwise the input is a list of file names in memory, not files: tf.distribute
    # shards its batches across workers (each worker decodes every image, keeps every n-th batch).
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = (
        policy.OFF if cfg.shard is not None else policy.DATA
    )
    ds = ds.with_options(options).prefetch(tf.data.AUTOTUNE)
    ds.skipped = skipped  # the same dict, filled as the dataset is read
    return ds


UNDECODABLE = "tf.io.decode_jpeg failed"


def _skip_record(cache: str | None) -> dict[str, str]:
    """The files named so far: empty, or, for a cache file already written (read as it is:
    nothing is decoded, or dropped, here), the names the pipeline that wrote it left beside it
    (`<cache>.undecodable.json`)."""
    if not cache:
        return {}
    from pathlib import Path

    side = Path(cache + ".undecodable.json")
    if Path(cache + ".index").is_file() and side.is_file():
        try:
            named = json.loads(side.read_text())
        except (OSError, ValueError):
            named = None
        if isinstance(named, dict) and all(isinstance(v, str) for v in named.values()):
            return {str(k): v for k, v in named.items()}
    return {}


def _name_the_dropped(ds, files: Sequence[str], skipped: dict[str, str], cache: str | None):
    """Elements (..., position) in file order after the error guard -> the same without the
    position, the end marker (position len(files)) removed, each dropped file named in
    `skipped`.

    The decode keeps the files' order, so the files the guard dropped are the gaps in the
    positions that come through: a `scan` carries the last position seen (in the graph, per
    element), and only where a gap opens (a dropped file: rare) does Python run, to name the
    files in it. The end marker always comes through and closes the last gap. Each pass over
    the files (every epoch without a cache, the first with one) names them again: once each in
    the dict. With a cache file, the names are also written beside it when the pass ends."""
    import tensorflow as tf

    n = len(files)

    def name(last, position):
        for k in range(int(last) + 1, int(position)):
            skipped[files[k]] = UNDECODABLE
        if int(position) == n and cache:
            from pathlib import Path

            Path(cache + ".undecodable.json").write_text(json.dumps(skipped, sort_keys=True))
        return True

    def with_last(last, element):
        return element[-1], (*element, last)

    def keep(*element):
        position, last = element[-2], element[-1]
        gap = position - last > 1
        if cache:  # the end of the pass: the names beside the cache file
            gap = tf.logical_or(gap, position == n)
        named = tf.cond(
            gap,
            lambda: tf.py_function(name, [last, position], tf.bool),
            lambda: tf.constant(True),
        )
        return tf.logical_and(named, position < n)

    ds = ds.scan(tf.constant(-1, tf.int64), with_last).filter(keep)
    return ds.map(lambda *element: element[:-2])
