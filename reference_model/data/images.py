"""Cheap checks on image files, and the bounding-box arithmetic shared by every loader."""

from __future__ import annotations

import html
import os
from pathlib import Path, PurePosixPath

from .annotations import BBox

# A JPEG starts with SOI + a marker (FF D8 FF) and ends with EOI (FF D9). Checking both ends
# finds empty, non-JPEG and truncated files (the usual damage from an interrupted unzip) by
# reading a few bytes, instead of decoding all 289,222 images before training starts.
_SOI = b"\xff\xd8\xff"
_EOI = b"\xff\xd9"
_TAIL = 1024
# The largest image decoded: width x height from the JPEG's frame header, checked before any
# decoding (a 50000 x 50000 header in a few hundred bytes would ask for 7.5 GB). Pillow's own
# default limit (`PIL.Image.MAX_IMAGE_PIXELS`, 89,478,485 = 2**30 / 4 / 3 pixels); DeepFashion's
# images are about 300 x 300 (its high-resolution release about 1,100 x 1,500).
MAX_PIXELS = 89_478_485
NAME_MAX = 255  # bytes in one path component (Linux, macOS, Windows file systems)
PATH_MAX = 4095  # bytes in a whole path (Linux's PATH_MAX less the final NUL)
_SEGMENTS = 512  # marker segments read before the frame header at most (EXIF, ICC, ...)
# Start-of-frame markers: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC), which share the range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def name_problem(name: str) -> str | None:
    """Why an annotation's image name cannot be a file inside the dataset root, else None:
    `outside-root` (absolute, or a `..` component: it would read outside --data) or `bad-name`
    (a NUL, a component over NAME_MAX bytes or a path over PATH_MAX, which the OS refuses)."""
    try:
        encoded = os.fsencode(name)
    except UnicodeError:
        return "bad-name"
    if b"\0" in encoded:
        return "bad-name"
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        return "outside-root"
    if len(encoded) > PATH_MAX or any(len(os.fsencode(p)) > NAME_MAX for p in path.parts):
        return "bad-name"
    return None


def _within(path: Path, bases: tuple[str, ...]) -> bool:
    real = os.path.realpath(path)
    return any(real == b or real.startswith(b.rstrip(os.sep) + os.sep) for b in bases)


def image_bases(root: Path) -> tuple[str, ...]:
    """Where an image file may really be: the root, and its `img/` and `Img/` folders (which may
    be links to another disk); a link in the tree pointing anywhere else is refused."""
    return tuple(
        dict.fromkeys(
            os.path.realpath(p) for p in (root, root / "img", root / "Img", root / "Img" / "img")
        )
    )


def locate_image(root: Path, name: str, bases: tuple[str, ...] | None = None):
    """(the file for an annotation's image name, None) or (None, why not): `missing`, or a
    `name_problem`, or `outside-root` for a link that leads out of the dataset.

    Folder names in the lists can carry HTML entities (`&amp;`) that some unzip tools or
    mirrors write decoded (`&`), so both spellings are tried (each checked, as `&#46;&#46;` is
    `..`); and the official `Img/img.zip` unpacks to `Img/img/...` while the lists say
    `img/...`, so `root/Img/` is tried too.
    """
    bases = bases if bases is not None else image_bases(root)
    problem = None
    for candidate in dict.fromkeys((name, html.unescape(name))):
        problem = problem or name_problem(candidate)
        if name_problem(candidate):
            continue
        for folder in (root, root / "Img"):
            path = folder / candidate
            try:
                found = path.is_file()
            except OSError:  # e.g. a component the file system refuses
                found = False
            if found:
                if not _within(path, bases):
                    return None, "outside-root"
                return path, None
    return None, problem or "missing"


def resolve_image(root: Path, name: str) -> Path | None:
    """The file for an annotation's image name inside the root, or None (see `locate_image`)."""
    return locate_image(root, name)[0]


def jpeg_problem(path: Path) -> str | None:
    """None for a plausible JPEG, else why not: `empty`, `not-jpeg`, `truncated`, `bad-header`
    (no valid frame header before the image data) or `too-large` (over MAX_PIXELS)."""
    try:
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
            dims = jpeg_dimensions(f)
    except OSError:
        return "unreadable"
    if dims is None:
        return "bad-header"
    width, height = dims
    return "too-large" if width * height > MAX_PIXELS else None


def jpeg_dimensions(f) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header (SOFn), reading only the marker segments
    before it; None when there is no valid one (a zero size, 0 or 2-3 or over 4 components,
    a marker that is not one, the scan or the end before any frame)."""
    f.seek(2)  # after SOI
    for _ in range(_SEGMENTS):
        byte = f.read(1)
        if byte != b"\xff":
            return None
        marker = b"\xff"
        while marker == b"\xff":  # fill bytes may precede a marker
            marker = f.read(1)
        if not marker:
            return None
        code = marker[0]
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # TEM, RSTn: no length
            continue
        if code in (0xD8, 0xD9, 0xDA, 0x00):  # SOI again, EOI, scan, stuffing: no frame
            return None
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        length = int.from_bytes(length_bytes, "big")
        if length < 2:
            return None
        if code in _SOF:
            frame = f.read(6)  # precision, height, width, components
            if len(frame) < 6 or length < 8:
                return None
            height = int.from_bytes(frame[1:3], "big")
            width = int.from_bytes(frame[3:5], "big")
            if width == 0 or height == 0 or frame[5] not in (1, 3, 4):
                return None
            return width, height
        f.seek(length - 2, 1)
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
