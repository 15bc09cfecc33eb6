"""Image files and names (reference_model/data/images.py), class by class:

- every image name from the annotation files is confined to the dataset root (absolute paths,
  `..`, entities that decode to them, links out of the tree, names the OS refuses): each one is
  skipped and named, never read, never a traceback;
- a JPEG's size is read from its frame header before anything decodes it: a decompression bomb
  is skipped and named by `scan`, and both loaders refuse it, name it and keep every prediction
  row on its own file.
"""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rm_helpers import jpeg_bytes, list_images, run_script, with_frame_size, write_tiny_dataset

from reference_model.data import dataset as D
from reference_model.data.images import (
    MAX_PIXELS,
    NAME_MAX,
    image_bases,
    jpeg_dimensions,
    jpeg_problem,
    name_problem,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("confine")
    root = write_tiny_dataset(base / "df")
    # a real JPEG outside the dataset, and links in the tree that lead to it
    secret = base / "secret" / "photo.jpg"
    secret.parent.mkdir()
    secret.write_bytes(jpeg_bytes(20, 20))
    (root / "img" / "link.jpg").symlink_to(secret)
    (root / "img" / "linked_dir").symlink_to(secret.parent, target_is_directory=True)
    return root


# Path parts an annotation row may hold: ordinary folders, `.`/`..`, entities, very long names.
PART = st.one_of(
    st.sampled_from(["img", "Img", "..", ".", "", "&#46;&#46;", "&#47;", "linked_dir", "link.jpg",
                     "secret", "photo.jpg", "x" * (NAME_MAX + 1), "é" * 200]),
    st.text(st.characters(codec="latin-1", exclude_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85 \t/"),
            min_size=1, max_size=12),
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(PART, min_size=1, max_size=6), absolute=st.booleans())
def test_every_listed_name_is_confined_to_the_root_or_skipped_and_named(tiny, parts, absolute):
    name = "/".join(parts)
    if absolute:
        name = str(tiny.parent / "secret") + "/" + name
    name = name.strip()  # the row's spacing is not part of the name
    if not name or name.isdigit():
        return
    original = (tiny / "Anno" / "list_category_img.txt").read_bytes()
    try:
        list_images(tiny, [name])
        ds = D.load_dataset(tiny)  # never an OSError, whatever the name
    finally:
        (tiny / "Anno" / "list_category_img.txt").write_bytes(original)
    bases = image_bases(tiny)
    for sample in ds.samples:  # everything read is really inside the dataset's tree
        real = os.path.realpath(sample.file)
        assert any(real.startswith(b + os.sep) for b in bases), (sample.name, real)
    listed = {s.name for s in ds.samples} | {n for n, _ in ds.skipped_files}
    assert name in listed  # used or named, never silently dropped
    reasons = dict(ds.skipped_files)
    if name in reasons and name_problem(name):
        assert reasons[name] == name_problem(name)


@pytest.mark.parametrize(
    "name, problem",
    [
        ("img/a.jpg", None),
        ("/etc/passwd", "outside-root"),
        ("img/../../secret/photo.jpg", "outside-root"),
        ("..", "outside-root"),
        ("img/" + "x" * NAME_MAX + "/a.jpg", None),
        ("img/" + "x" * (NAME_MAX + 1) + "/a.jpg", "bad-name"),
        ("img/" + "é" * 128, "bad-name"),  # 256 bytes in UTF-8
        ("img/a\0.jpg", "bad-name"),
        ("img/" + "/".join(["d"] * 2100), "bad-name"),  # over PATH_MAX
    ],
)
def test_name_problems(name, problem):
    assert name_problem(name) == problem


def test_scan_names_each_rejected_path_through_the_console_script(tiny, tmp_path):
    root = tmp_path / "df"
    import shutil

    shutil.copytree(tiny, root, symlinks=True)
    secret = tiny.parent / "secret" / "photo.jpg"
    hostile = {
        str(secret): "outside-root",  # absolute
        "img/../../secret/photo.jpg": "outside-root",
        "img/&#46;&#46;/&#46;&#46;/secret/photo.jpg": "outside-root",  # `..` once decoded
        "img/link.jpg": "outside-root",  # a link in the tree to a file outside it
        "img/linked_dir/photo.jpg": "outside-root",
        "img/" + "x" * 300 + "/img_1.jpg": "bad-name",  # over NAME_MAX: was an OSError
    }
    list_images(root, list(hostile))
    proc = run_script("scan", "--data", str(root), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    skipped = {row["image"]: row["reason"] for row in summary["skipped_files"]}
    assert {name: skipped.get(name) for name in hostile} == hostile
    assert summary["skipped"]["outside-root"] == 5 and summary["skipped"]["bad-name"] == 1
    text = run_script("scan", "--data", str(root))
    assert text.returncode == 0, text.stderr[-3000:]
    for name, reason in hostile.items():
        assert f"skipped {reason}: {ascii(name)}" in text.stdout


# -- the frame header's size, before any decoding --------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    progressive=st.booleans(),
    exif=st.booleans(),
    subsampling=st.sampled_from([0, 1, 2]),
)
def test_the_header_size_is_pillows(width, height, progressive, exif, subsampling):
    from PIL import Image

    extra = {"exif": Image.Exif()} if exif else {}
    if exif:
        extra["exif"][0x010E] = "x" * 3000  # a long APP1 segment before the frame
    data = jpeg_bytes(width, height, progressive=progressive, subsampling=subsampling, **extra)
    assert Image.open(io.BytesIO(data)).size == (width, height)
    assert jpeg_dimensions(io.BytesIO(data)) == (width, height)


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 65535), height=st.integers(1, 65535))
def test_a_claimed_size_over_the_limit_is_too_large(tmp_path_factory, width, height):
    path = tmp_path_factory.mktemp("bomb") / "b.jpg"
    path.write_bytes(with_frame_size(jpeg_bytes(8, 8), width, height))
    assert jpeg_problem(path) == ("too-large" if width * height > MAX_PIXELS else None)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"\xff\xd8\xff\xd9", "bad-header"),  # SOI, EOI: no frame
        (b"\xff\xd8\xff\xda\x00\x02\xff\xd9", "bad-header"),  # a scan before any frame
        (b"\xff\xd8\xff\xe0\x00\x01\xff\xd9", "bad-header"),  # a segment length under 2
        (b"\xff\xd8\xff\xe0\xff\xff" + b"\x00" * 10 + b"\xff\xd9", "bad-header"),  # runs off
        (b"\xff\xd8\xff" + b"\xfe\x00\x02\xff" * 600 + b"\xd9", "bad-header"),  # endless segments
    ],
)
def test_a_header_without_a_frame(tmp_path, content, problem):
    path = tmp_path / "h.jpg"
    path.write_bytes(content)
    assert jpeg_problem(path) == problem


@pytest.mark.parametrize("loader", ["tf.data", "pydataset"])
def test_bombs_and_undecodable_files_are_named_counted_and_rows_stay_on_their_files(
    tmp_path, loader
):
    """Past the scan (a loader given the files directly): a 50000 x 50000 header and a file
    whose data does not decode are each named and counted, and every predictions.csv row's
    label is the label of the file it names."""
    import keras

    from reference_model.data.loader import make_loader
    from reference_model.data.pipeline import NO_BOX, PipelineConfig, make_dataset
    from reference_model.evaluate import evaluate_split

    files, labels = [], []
    for i in range(7):
        path = tmp_path / f"ok_{i}.jpg"
        path.write_bytes(jpeg_bytes(10 + i, 10))
        files.append(str(path))
        labels.append(i % 3)
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(with_frame_size(jpeg_bytes(8, 8), 50000, 50000))
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(jpeg_bytes(8, 8)[:200] + b"\x00" * 50 + b"\xff\xd9")
    for at, path in ((1, bomb), (5, garbage)):
        files.insert(at, str(path))
        labels.insert(at, 2)
    truth = dict(zip(files, labels, strict=True))
    cfg = PipelineConfig((8, 8), 3)
    boxes = [NO_BOX] * len(files)
    if loader == "tf.data":
        ds = make_dataset(files, labels, boxes, cfg, with_paths=True)
    else:
        ds = make_loader(files, labels, boxes, cfg, with_paths=True)
    inp = keras.Input((8, 8, 3))
    model = keras.Model(
        inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp))
    )
    result = evaluate_split(model, ds, ["a", "b", "c"], tmp_path / "eval", files)
    assert sorted(result["undecodable"]) == sorted([str(bomb), str(garbage)])
    assert result["n"] == 7 and result["listed"] == 9
    with (tmp_path / "eval" / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == [f for f in files if f not in (str(bomb), str(garbage))]
    assert all(r["label"] == "abc"[truth[r["file"]]] for r in rows)


def test_scan_names_a_decompression_bomb(tiny, tmp_path):
    import shutil

    root = tmp_path / "df"
    shutil.copytree(tiny, root, symlinks=True)
    bomb = root / "img" / "bomb.jpg"
    bomb.write_bytes(with_frame_size(jpeg_bytes(8, 8), 50000, 50000))
    list_images(root, ["img/bomb.jpg"])
    proc = run_script("scan", "--data", str(root), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert {"image": "img/bomb.jpg", "reason": "too-large"} in summary["skipped_files"]
    assert summary["skipped"]["too-large"] == 1
    assert np.sum(list(summary["skipped"].values())) == len(summary["skipped_files"])
