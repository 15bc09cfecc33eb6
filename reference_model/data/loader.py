"""The backend-neutral input pipeline: a `keras.utils.PyDataset` that decodes JPEGs with Pillow
in parallel threads, for the jax and torch backends (no TensorFlow needed).

It yields what `pipeline.make_dataset` (tf.data) yields, batch for batch: the same files in the
same order (a seeded permutation of the file names when shuffling, made before anything is
decoded), the same labels, each image decoded to RGB, cropped to its clipped bounding box when
asked, resized to the model size (bilinear with antialiasing, or nearest) and rounded to uint8,
batched as uint8 (the model scales them itself), or scaled to float32 in [0, 1] per batch for a
float-input model (`uint8=False`). The pixels agree with tf.data's to JPEG-decoder
precision (two libjpeg builds: a mean difference of about one level in 255, at most a few), not
bit for bit (tested).

Files that cannot be decoded are left out of their batch and named in `skipped` (path: reason).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._env import set_backend_default
from .annotations import BBox
from .images import MAX_PIXELS, clip_bbox

set_backend_default()


def decode_resize(
    path: str, box: tuple[int, int, int, int], size: tuple[int, int], crop: bool, resize: str
) -> np.ndarray:
    """One image as uint8 (height, width, 3): decode, crop to the clipped box when asked (the
    whole image when the box is absent or empty), resize. OSError/ValueError when undecodable."""
    from PIL import Image

    with Image.open(path) as opened:
        # the header's size before decoding (Pillow's own bomb check would raise
        # DecompressionBombError, which is not an OSError, only above twice this)
        if opened.width * opened.height > MAX_PIXELS:
            raise ValueError(f"{opened.width}x{opened.height} is over {MAX_PIXELS:,} pixels")
        image = opened.convert("RGB")
    if crop and box[2] > box[0] and box[3] > box[1]:
        clipped = clip_bbox(BBox(*box), image.width, image.height)
        if clipped is not None:
            image = image.crop((clipped.x1, clipped.y1, clipped.x2, clipped.y2))
    method = Image.BILINEAR if resize == "bilinear" else Image.NEAREST
    height, width = size
    return np.asarray(image.resize((width, height), method), dtype=np.uint8)


def _keras_pydataset():
    import keras

    return keras.utils.PyDataset


class ImageBatches(_keras_pydataset()):  # type: ignore[misc]
    """Batches of (uint8 images, or float32 in [0, 1] when `uint8` is False, int32 labels) for
    `model.fit` on any backend.

    `shuffle`: a new permutation of the file names each pass, seeded by (seed, pass);
    `repeat`: endless (for --steps-per-epoch), each pass reshuffled; `cache`: keep the decoded
    uint8 images in memory after their first use. `threads` decode the images of one batch in
    parallel; Keras's `workers` prepare several batches ahead (prefetch)."""

    def __init__(
        self,
        files: Sequence[str],
        labels: Sequence[int],
        boxes: Sequence[tuple[int, int, int, int]],
        image_size: tuple[int, int],
        batch_size: int,
        crop: bool = False,
        shuffle: bool = False,
        seed: int = 0,
        repeat: bool = False,
        cache: bool = False,
        resize: str = "bilinear",
        threads: int = 8,
        workers: int = 2,
        max_queue_size: int = 8,
        multiple_of: int = 1,
        with_paths: bool = False,
        uint8: bool = True,
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        if not files:
            raise ValueError("no images for this split")
        self.files = list(files)
        self.labels = np.asarray(labels, dtype=np.int32)
        self.boxes = [tuple(int(v) for v in b) for b in boxes]
        self.image_size = tuple(image_size)
        self.batch_size = batch_size
        self.crop, self.shuffle, self.seed = crop, shuffle, seed
        self.repeat, self.resize = repeat, resize
        # data parallel over N devices: every batch a multiple of N (a pass's last, partial
        # batch loses at most N - 1 images)
        self.multiple_of = multiple_of
        # evaluation: each batch also carries its files' paths, so every prediction row is
        # named by the file it was made from, whatever was skipped
        self.with_paths = with_paths
        self.uint8 = uint8
        self.per_pass = math.ceil(len(self.files) / batch_size)
        self.skipped: dict[str, str] = {}
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        self._pool = ThreadPoolExecutor(max(1, threads))
        self._lock = threading.Lock()
        self._orders: dict[int, np.ndarray] = {}

    @property
    def num_batches(self):
        return None if self.repeat else self.per_pass

    def __len__(self) -> int:
        return self.per_pass

    def order(self, epoch_pass: int) -> np.ndarray:
        """The file indices of one pass over the data, in the order they are batched."""
        if not self.shuffle:
            return np.arange(len(self.files))
        with self._lock:
            if epoch_pass not in self._orders:
                rng = np.random.default_rng([self.seed, epoch_pass])
                self._orders[epoch_pass] = rng.permutation(len(self.files))
                for old in [k for k in self._orders if k < epoch_pass - 2]:
                    del self._orders[old]
            return self._orders[epoch_pass]

    def _image(self, index: int) -> np.ndarray | None:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        try:
            image = decode_resize(
                self.files[index], self.boxes[index], self.image_size, self.crop, self.resize
            )
        except Exception as exc:  # noqa: BLE001  PIL: truncated, not an image, a bomb, ...
            with self._lock:
                self.skipped[self.files[index]] = f"{type(exc).__name__}: {exc}"
            return None
        if self._cache is not None:
            self._cache[index] = image
        return image

    def batch_indices(self, index: int) -> np.ndarray:
        epoch_pass, within = divmod(index, self.per_pass)
        order = self.order(epoch_pass)
        return order[within * self.batch_size : (within + 1) * self.batch_size]

    def __getitem__(self, index: int):
        if not self.repeat and not 0 <= index < self.per_pass:
            raise IndexError(index)  # also ends a plain `for x, y in batches` loop
        indices = self.batch_indices(index)
        images = list(self._pool.map(self._image, indices))
        kept = [i for i, image in zip(indices, images) if image is not None]
        images = [image for image in images if image is not None]
        usable = len(kept) - len(kept) % self.multiple_of
        kept, images = kept[:usable], images[:usable]
        paths = (np.asarray([self.files[i] for i in kept], dtype=object),) * self.with_paths
        if not kept:  # every image of the batch undecodable: an empty batch would break fit
            height, width = self.image_size
            dtype = np.uint8 if self.uint8 else np.float32
            empty = np.zeros((0, height, width, 3), dtype), np.zeros((0,), np.int32)
            return (*empty, *paths)
        x = np.stack(images)  # uint8
        if not self.uint8:  # a float-input model: scaled here, on the host
            x = x.astype(np.float32) / 255.0
        return (x, self.labels[kept], *paths)


def make_loader(
    files: Sequence[str],
    labels: Sequence[int],
    boxes: Sequence[tuple[int, int, int, int]],
    cfg,
    threads: int | None = None,
    with_paths: bool = False,
) -> ImageBatches:
    """The PyDataset for a `pipeline.PipelineConfig` (as `make_dataset` takes it). A cache file
    is tf.data's format: here `cache` may only be "" (in memory)."""
    import os

    from ..errors import UsageError

    if cfg.cache:
        raise UsageError(
            "--cache FILE is tf.data's cache (TensorFlow backend); on this backend use --cache "
            "without a file (in memory)"
        )
    import keras

    if cfg.shard is not None:
        # this process's share of the files (a multi-host run), as tf.data takes a worker's
        from .pipeline import shard_order

        kept = sorted(shard_order(len(files), cfg))
        if len(kept) < cfg.batch_size:
            raise UsageError(
                f"process {cfg.shard[0]} of {cfg.shard[1]} gets {len(kept)} training images, "
                f"fewer than one batch of {cfg.batch_size}: use fewer processes or a smaller "
                "--batch-size"
            )
        files = [files[i] for i in kept]
        labels = [labels[i] for i in kept]
        boxes = [boxes[i] for i in kept]
    distribution = keras.distribution.distribution()
    devices = getattr(getattr(distribution, "device_mesh", None), "devices", None)
    multiple_of = int(np.size(devices)) if devices is not None else 1
    if devices is not None and keras.backend.backend() == "jax":
        import jax

        # over several processes, each batch here is this process's devices' part
        multiple_of = max(1, multiple_of // jax.process_count())
    return ImageBatches(
        files,
        labels,
        boxes,
        cfg.image_size,
        cfg.batch_size,
        crop=cfg.crop,
        shuffle=cfg.shuffle,
        seed=cfg.seed,
        repeat=cfg.repeat,
        cache=cfg.cache == "",
        resize=cfg.resize,
        threads=threads or min(16, os.cpu_count() or 1),
        multiple_of=multiple_of,
        with_paths=with_paths,
        uint8=cfg.uint8,
    )


def make_input(
    files: Sequence[str],
    labels: Sequence[int],
    boxes: Sequence[tuple[int, int, int, int]],
    cfg,
    with_paths: bool = False,
):
    """The input pipeline of the running backend: tf.data where TensorFlow runs the model,
    this PyDataset on jax and torch. Either names the files it could not decode in its
    `skipped` ({path: reason}), filled as it is read."""
    import keras

    if keras.backend.backend() == "tensorflow":
        from .pipeline import make_dataset

        return make_dataset(files, labels, boxes, cfg, with_paths=with_paths)
    return make_loader(files, labels, boxes, cfg, with_paths=with_paths)
