"""A small synthetic dataset in exactly the DeepFashion Category & Attribute layout.

No download works in CI, so tests and demos train on this. Each class is a garment-like patch
(a colour from a palette and a stripe pattern, both jittered) inside a bounding box on a noisy
background, in images of varied sizes: a small CNN learns it in a few epochs on a CPU, and the
bbox crop has something to find. The files carry the edge cases of the real download: padded
columns, item folders with `&`, HTML entities and dots, folder names whose suffix is not the
official category, empty categories, boxes past the image edge, and a few damaged or missing
JPEGs that must be skipped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError

# The 50 official categories in official order: 1 upper, 2 lower, 3 full body.
CATEGORIES: tuple[tuple[str, int], ...] = tuple(
    [
        (n, 1)
        for n in (
            "Anorak Blazer Blouse Bomber Button-Down Cardigan Flannel Halter Henley "
            "Hoodie Jacket Jersey Parka Peacoat Poncho Sweater Tank Tee Top "
            "Turtleneck"
        ).split()
    ]
    + [
        (n, 2)
        for n in (
            "Capris Chinos Culottes Cutoffs Gauchos Jeans Jeggings Jodhpurs Joggers "
            "Leggings Sarong Shorts Skirt Sweatpants Sweatshorts Trunks"
        ).split()
    ]
    + [
        (n, 3)
        for n in (
            "Caftan Cape Coat Coverup Dress Jumpsuit Kaftan Kimono Nightdress "
            "Onesie Robe Romper Shirtdress Sundress"
        ).split()
    ]
)
# Left without images, so "46 non-empty of 50" holds here as in the real data; spread through
# the list so the contiguous re-numbering is exercised, not just a cut at the end.
EMPTY = ("Capris", "Caftan", "Halter", "Sundress")
# Item folders whose suffix is not the official category (the seed's folder labels then differ).
MISNAMED = {"Button-Down": "Shirt", "Tee": "T-Shirt", "Jumpsuit": "Romper"}
ODD_ITEMS = ("Lace_&_Mesh", "Striped_&amp;_Solid", "Retro_2.0", "St._Tropez")
PALETTE = (
    (220, 40, 40),
    (40, 180, 60),
    (40, 80, 220),
    (230, 200, 40),
    (200, 60, 200),
    (40, 200, 210),
    (240, 130, 30),
    (30, 30, 30),
)
PATTERNS = ("hstripes", "vstripes", "diagonal", "checker", "dots", "solid")
CORRUPT = ("truncated", "not-jpeg", "empty", "missing")


@dataclass(frozen=True)
class SynthSpec:
    classes: int = 46  # how many of the non-empty categories get images (at most 46)
    images_per_class: int = 10
    items_per_class: int = 3
    min_size: int = 80
    max_size: int = 300
    corrupt: bool = True
    seed: int = 0


@dataclass(frozen=True)
class SynthResult:
    root: str
    images: int  # good JPEGs written
    damaged: int  # listed but missing or damaged
    class_names: tuple[str, ...]


def non_empty_categories() -> list[tuple[int, str]]:
    return [(i, n) for i, (n, _) in enumerate(CATEGORIES, start=1) if n not in EMPTY]


def draw_garment(
    rng: np.random.Generator,
    class_index: int,
    width: int,
    height: int,
    box: tuple[int, int, int, int],
) -> np.ndarray:
    """An RGB image: noise background, class pattern inside `box` (clipped to the image)."""
    img = rng.normal(128, 40, (height, width, 3)).clip(0, 255)
    x1, y1, x2, y2 = box
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    colour = np.array(PALETTE[class_index % len(PALETTE)], float) + rng.normal(0, 12, 3)
    pattern = PATTERNS[(class_index // len(PALETTE)) % len(PATTERNS)]
    h, w = y2 - y1, x2 - x1
    # Period relative to the box, so the pattern survives a resize to 32 px.
    period = max(4, min(w, h) // 4)
    yy, xx = np.mgrid[0:h, 0:w]
    on = {
        "hstripes": (yy // (period // 2)) % 2 == 0,
        "vstripes": (xx // (period // 2)) % 2 == 0,
        "diagonal": ((xx + yy) // (period // 2)) % 2 == 0,
        "checker": ((xx // period) + (yy // period)) % 2 == 0,
        "dots": ((xx % period - period / 2) ** 2 + (yy % period - period / 2) ** 2)
        < (period / 3) ** 2,
        "solid": np.ones((h, w), bool),
    }[pattern]
    patch = np.where(on[..., None], colour, colour * 0.35 + 160)
    img[y1:y2, x1:x2] = patch + rng.normal(0, 8, patch.shape)
    return img.clip(0, 255).astype(np.uint8)


def _box(rng: random.Random, width: int, height: int, overflow: bool) -> tuple[int, ...]:
    bw, bh = int(width * rng.uniform(0.5, 0.85)), int(height * rng.uniform(0.5, 0.85))
    x1, y1 = rng.randint(0, width - bw), rng.randint(0, height - bh)
    if overflow:  # as some official boxes do: reach past the right and bottom edges
        return x1, y1, width + 25, height + 40
    return x1, y1, x1 + bw, y1 + bh


def _rows(header: str, rows: list[str]) -> str:
    return f"{len(rows)}\n{header}\n" + "\n".join(rows) + "\n"


def write_synthetic(out: str | Path, spec: SynthSpec = SynthSpec()) -> SynthResult:
    if not 16 <= spec.min_size <= spec.max_size:
        raise UsageError(
            f"image sizes must satisfy 16 <= min ({spec.min_size}) <= max ({spec.max_size})"
        )
    out = Path(out)
    try:
        return _write(out, spec)
    except OSError as exc:  # a folder that cannot be made or written (read-only, /proc, ...)
        where = exc.filename or out
        raise UsageError(f"cannot write the dataset to {out}: {where}: {exc.strerror}") from None


def _write(out: Path, spec: SynthSpec) -> SynthResult:
    from PIL import Image  # lazily: only `synth` needs Pillow

    rng, nprng = random.Random(spec.seed), np.random.default_rng(spec.seed)
    chosen = non_empty_categories()[: max(1, min(spec.classes, 46))]
    cat_rows, img_rows, bbox_rows, part_rows = [], [], [], []
    for name, ctype in CATEGORIES:
        cat_rows.append(f"{name:<29}{ctype}")
    counter, written = 0, 0
    for class_index, (cat_id, cat_name) in enumerate(chosen):
        items = []
        for k in range(spec.items_per_class):
            suffix = MISNAMED.get(cat_name, cat_name) if k == 1 else cat_name
            prefix = ODD_ITEMS[(class_index + k) % len(ODD_ITEMS)] if k == 2 else f"Style{k}"
            items.append(f"{prefix}_{suffix}")
        for j in range(spec.images_per_class):
            counter += 1
            item = items[j % len(items)]
            name = f"img/{item}/img_{counter:08d}.jpg"
            width = rng.randint(spec.min_size, spec.max_size)
            height = rng.randint(spec.min_size, spec.max_size)
            box = _box(rng, width, height, overflow=(j == 3))
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(draw_garment(nprng, class_index, width, height, box)).save(
                path, "JPEG", quality=90
            )
            written += 1
            img_rows.append(f"{name:<70}{cat_id}")
            bbox_rows.append(f"{name:<70}" + "  ".join(f"{v:>3}" for v in box))
            part = "train" if rng.random() < 0.7 else rng.choice(("val", "test"))
            part_rows.append(f"{name:<70}{part}")
    damaged = 0
    if spec.corrupt:
        cat_id = chosen[0][0]
        for kind in CORRUPT:
            counter += 1
            name = f"img/Damaged_{chosen[0][1]}/img_{counter:08d}.jpg"
            _write_damaged(out / name, kind)
            damaged += 1
            img_rows.append(f"{name:<70}{cat_id}")
            bbox_rows.append(f"{name:<70}  0    0  10  10")
            part_rows.append(f"{name:<70}train")
    anno, ev = out / "Anno", out / "Eval"
    anno.mkdir(parents=True, exist_ok=True)
    ev.mkdir(parents=True, exist_ok=True)
    (anno / "list_category_cloth.txt").write_text(_rows("category_name  category_type", cat_rows))
    (anno / "list_category_img.txt").write_text(_rows("image_name  category_label", img_rows))
    (anno / "list_bbox.txt").write_text(_rows("image_name  x_1  y_1  x_2  y_2", bbox_rows))
    (ev / "list_eval_partition.txt").write_text(_rows("image_name  evaluation_status", part_rows))
    return SynthResult(str(out), written, damaged, tuple(n for _, n in chosen))


def _write_damaged(path: Path, kind: str) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "missing":
        return
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-jpeg":
        path.write_text("this is not an image\n")
    else:  # truncated: a real JPEG cut in half, as an interrupted download leaves it
        Image.new("RGB", (64, 64), (120, 30, 30)).save(path, "JPEG")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
