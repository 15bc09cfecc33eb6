"""Cheap checks on image files, and the bounding-box arithmetic shared by every loader."""

from __future__ import annotations

import html
from pathlib import Path

from .annotations import BBox

# A JPEG starts with SOI + a marker (FF D8 FF) and ends with EOI (FF D9). Checking both ends
# finds empty, non-JPEG and truncated files (the usual damage from an interrupted unzip) by
# reading a few bytes, instead of decoding all 289,222 images before training starts.
_SOI = b"\xff\xd8\xff"
_EOI = b"\xff\xd9"
_TAIL = 1024


def resolve_image(root: Path, name: str) -> Path | None:
    """The file for an annotation's image name, or None when it is not on disk.

    Folder names in the lists can carry HTML entities (`&amp;`) that some unzip tools or
    mirrors write decoded (`&`), so both spellings are tried; and the official `Img/img.zip`
    unpacks to `Img/img/...` while the lists say `img/...`, so `root/Img/` is tried too.
    """
    for folder in (root, root / "Img"):
        for candidate in dict.fromkeys((name, html.unescape(name))):
            path = folder / candidate
            if path.is_file():
                return path
    return None


def jpeg_problem(path: Path) -> str | None:
    """None for a plausible JPEG, else why not: `empty`, `not-jpeg` or `truncated`."""
    size = path.stat().st_size
    if size == 0:
        return "empty"
    with path.open("rb") as f:
        head = f.read(len(_SOI))
        if head != _SOI:
            return "not-jpeg"
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    # Some encoders pad after EOI; padding is harmless, a missing EOI is not.
    if not tail.rstrip(b"\x00\r\n ").endswith(_EOI):
        return "truncated"
    return None


def clip_bbox(box: BBox, width: int, height: int) -> BBox | None:
    """The box clipped to a width x height image (x2, y2 exclusive); None if nothing is left.

    The official boxes can reach past the image edge (and a few have x1 > x2 after clipping),
    so a crop must never trust them as given.
    """
    x1, y1 = max(0, min(box.x1, width)), max(0, min(box.y1, height))
    x2, y2 = max(0, min(box.x2, width)), max(0, min(box.y2, height))
    if x2 <= x1 or y2 <= y1:
        return None
    return BBox(x1, y1, x2, y2)
