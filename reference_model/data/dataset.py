"""The DeepFashion Category & Attribute dataset as records: image, item, category, bbox, split.

`load_dataset` reads the four annotation files, resolves every listed image on disk, skips and
counts the missing or damaged ones, and returns plain frozen data. Labels and splits are
separate pure functions of those records so each choice can be compared on the same data.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ..errors import DataError
from . import annotations as A
from .images import image_bases, jpeg_problem, locate_image

LABEL_SCHEMES = ("official", "folder")
SPLIT_METHODS = ("official", "item", "random")
# item: 80/10/10 by item folder. random: the seed's image-level 80/20 train/test, then 10% of
# train held out for validation (0.8 * 0.1 = 0.08).
DEFAULT_FRACTIONS = {"item": (0.8, 0.1, 0.1), "random": (0.72, 0.08, 0.2)}


@dataclass(frozen=True)
class Sample:
    name: str  # as written in the annotation files, e.g. img/Sheer_Pleated-Front_Blouse/img_1.jpg
    file: str  # the resolved path on disk
    item: str  # the item folder, e.g. Sheer_Pleated-Front_Blouse
    category: int  # official 1-based category id
    bbox: A.BBox | None = None
    partition: str | None = None  # official train/val/test, when listed


@dataclass(frozen=True)
class Dataset:
    root: str
    categories: tuple[A.Category, ...]
    samples: tuple[Sample, ...]
    listed: int  # rows in list_category_img.txt
    # images listed per official category (before skipping); read-only, as the record is frozen
    category_counts: Mapping[int, int]
    skipped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()
    # (image name, reason) of every listed image left out: missing or damaged
    skipped_files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Labels:
    scheme: str
    class_names: tuple[str, ...]
    labels: tuple[int, ...]  # one contiguous 0-based id per sample, in sample order


def item_of(name: str) -> str:
    """The item folder of an image name (`img/<Item>/img_x.jpg` -> `<Item>`)."""
    parts = name.replace("\\", "/").split("/")
    return parts[-2] if len(parts) >= 2 else ""


def folder_label(item: str) -> str:
    """The seed's label: the item folder name after its last underscore."""
    return item.rsplit("_", 1)[-1]


def load_dataset(root: str | Path, check_images: bool = True) -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    anno = A.find_anno_dir(root)
    cats_t = A.read_table(anno / "list_category_cloth.txt", ("category_name", "category_type"))
    labels_t = A.read_table(anno / "list_category_img.txt", ("image_name", "category_label"))
    categories = A.parse_categories(cats_t)
    img_labels = A.parse_category_labels(labels_t)
    bbox_t = _optional(anno / "list_bbox.txt", ("image_name", "x_1", "y_1", "x_2", "y_2"))
    bboxes = A.parse_bboxes(bbox_t) if bbox_t else {}
    part_t = _optional(
        root / "Eval" / "list_eval_partition.txt", ("image_name", "evaluation_status")
    )
    partition = A.parse_partition(part_t) if part_t else {}

    warnings = [
        f"{t.path}: declares {t.declared_count} rows, has {len(t.rows)}"
        for t in (cats_t, labels_t, bbox_t, part_t)
        if t is not None and not t.count_matches
    ]
    ids = {c.id for c in categories}
    skipped: Counter[str] = Counter()
    skipped_files: list[tuple[str, str]] = []
    samples = []
    bases = image_bases(root)
    for name, cat in img_labels.items():
        if cat not in ids:
            raise DataError(f"{labels_t.path}: {name!r} has category {cat}, not in 1..{len(ids)}")
        # Every name is confined to the root: an absolute path, a `..` or a link out of it is
        # skipped as `outside-root` and named, never read.
        path, problem = locate_image(root, name, bases)
        if path is not None and check_images:
            problem = jpeg_problem(path)
        if problem:
            skipped[problem] += 1
            skipped_files.append((name, problem))
            continue
        samples.append(
            Sample(name, str(path), item_of(name), cat, bboxes.get(name), partition.get(name))
        )
    if not samples:
        raise DataError(f"{root}: none of the {len(img_labels)} listed images could be read")
    return Dataset(
        str(root),
        categories,
        tuple(samples),
        len(img_labels),
        MappingProxyType(dict(Counter(img_labels.values()))),
        MappingProxyType(dict(skipped)),
        tuple(warnings),
        tuple(skipped_files),
    )


def _optional(path: Path, columns: tuple[str, ...]) -> A.Table | None:
    return A.read_table(path, columns) if path.is_file() else None


def make_labels(ds: Dataset, scheme: str) -> Labels:
    if scheme == "official":
        # Non-empty is judged on the annotation list, not on what survived the image checks,
        # so a damaged file can never change the class ids a model was trained with.
        kept = [c for c in ds.categories if ds.category_counts.get(c.id, 0) > 0]
        index = {c.id: i for i, c in enumerate(kept)}
        return Labels(
            scheme, tuple(c.name for c in kept), tuple(index[s.category] for s in ds.samples)
        )
    if scheme == "folder":
        # Sorted, as Keras's flow_from_dataframe ordered the seed's class names.
        names = sorted({folder_label(s.item) for s in ds.samples})
        index = {n: i for i, n in enumerate(names)}
        return Labels(scheme, tuple(names), tuple(index[folder_label(s.item)] for s in ds.samples))
    raise DataError(f"unknown label scheme {scheme!r} (choose from {', '.join(LABEL_SCHEMES)})")


def label_disagreements(ds: Dataset) -> list[tuple[str, str, int]]:
    """(folder label, official category, images) wherever the seed's label is not the official.

    Most frequent first; an empty list means the folder names alone give the official labels.
    """
    names = {c.id: c.name for c in ds.categories}
    pairs = Counter(
        (folder_label(s.item), names[s.category])
        for s in ds.samples
        if folder_label(s.item) != names[s.category]
    )
    return [(f, o, n) for (f, o), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]


def unit_hash(seed: int, key: str) -> float:
    """A stable number in [0, 1) for `key`: splits that survive re-ordering and re-listing."""
    digest = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(
    ds: Dataset, method: str, seed: int = 0, fractions: tuple[float, float, float] | None = None
) -> tuple[str | None, ...]:
    """train / val / test (or None: not used) for each sample, in sample order."""
    if method == "official":
        if not any(s.partition for s in ds.samples):
            raise DataError(f"{ds.root}: no Eval/list_eval_partition.txt for --split official")
        return tuple(s.partition for s in ds.samples)
    if method not in DEFAULT_FRACTIONS:
        raise DataError(f"unknown split {method!r} (choose from {', '.join(SPLIT_METHODS)})")
    train, val, _ = fractions or DEFAULT_FRACTIONS[method]
    # item: every image of one item folder lands in the same split, so near-duplicate views of
    # one garment cannot sit on both sides. random: per image, as the seed did.
    keys = [s.item if method == "item" else s.name for s in ds.samples]
    out = []
    for key in keys:
        u = unit_hash(seed, key)
        out.append("train" if u < train else "val" if u < train + val else "test")
    return tuple(out)


def keep_fraction(ds: Dataset, fraction: float, seed: int) -> tuple[bool, ...]:
    """Keep about `fraction` of the images (the seed used 60%), stable under re-ordering."""
    if not 0 < fraction <= 1:
        raise DataError(f"--fraction must be in (0, 1], got {fraction}")
    return tuple(fraction >= 1 or unit_hash(seed + 1, s.name) < fraction for s in ds.samples)


def used_splits(
    ds: Dataset, method: str, seed: int = 0, fraction: float = 1.0
) -> tuple[str | None, ...]:
    """Each sample's split, None where `--fraction` leaves it out (as `train` and `scan` use)."""
    splits = assign_splits(ds, method, seed)
    keep = keep_fraction(ds, fraction, seed)
    return tuple(s if k else None for s, k in zip(splits, keep, strict=True))


def summary(ds: Dataset, labels: Labels, splits: tuple[str | None, ...]) -> dict:
    """Counts for run.json and the `scan` command."""
    per_split = Counter(s for s in splits if s)
    return {
        "root": ds.root,
        "listed": ds.listed,
        "usable": len(ds.samples),
        "skipped": dict(sorted(ds.skipped.items())),
        "skipped_files": [{"image": n, "reason": r} for n, r in ds.skipped_files],
        "categories": len(ds.categories),
        "empty_categories": [c.name for c in ds.categories if ds.category_counts.get(c.id, 0) == 0],
        "label_scheme": labels.scheme,
        "classes": len(labels.class_names),
        "splits": {k: per_split.get(k, 0) for k in A.SPLIT_NAMES},
        "warnings": list(ds.warnings),
    }
