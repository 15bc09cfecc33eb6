"""The tf.data pipeline on real JPEGs written with Pillow."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from rm_helpers import damaged_jpeg

from reference_model.data.annotations import BBox
from reference_model.data.images import clip_bbox, jpeg_problem
from reference_model.data.pipeline import (
    UNDECODABLE,
    PipelineConfig,
    box_tuple,
    cache_key,
    crop_to_box,
    decode_cropped,
    make_dataset,
    shard_order,
)


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    root = tmp_path_factory.mktemp("jpegs")
    files = []
    for i, (w, h) in enumerate([(40, 30), (120, 90), (64, 200), (300, 150), (33, 33)]):
        img = np.full((h, w, 3), 20 * i, np.uint8)
        img[: h // 2, : w // 2] = 250  # a bright top-left quarter
        path = root / f"img_{i}.jpg"
        Image.fromarray(img).save(path, "JPEG", quality=95)
        files.append(str(path))
    return files


@pytest.mark.parametrize("uint8", [True, False])
def test_batches_have_the_model_size_range_and_keep_order(jpegs, uint8):
    """uint8 batches (0..255) by default, for models that scale them in their first layer;
    float32 in [0, 1] for a float-input model (an older run's): the same pixels / 255."""
    cfg = PipelineConfig((24, 32), batch_size=2, uint8=uint8)
    ds = make_dataset(jpegs, [0, 1, 2, 3, 4], [box_tuple(None)] * 5, cfg)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    assert [x.shape for x in xs] == [(2, 24, 32, 3), (2, 24, 32, 3), (1, 24, 32, 3)]
    assert np.concatenate(ys).tolist() == [0, 1, 2, 3, 4]  # unshuffled: file order
    x = np.concatenate(xs)
    if uint8:
        assert x.dtype == np.uint8
        x = x / 255
    else:
        assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    # the bright quarter survives the resize in the right place
    assert x[:, :6, :8].mean() > 0.9 and x[3, 18:, 24:].mean() < 0.3


def test_uint8_and_float_batches_hold_the_same_pixels(jpegs):
    cfg = PipelineConfig((24, 32), batch_size=5)
    raw = next(iter(make_dataset(jpegs, [0] * 5, [box_tuple(None)] * 5, cfg)))[0].numpy()
    cfg = PipelineConfig((24, 32), batch_size=5, uint8=False)
    scaled = next(iter(make_dataset(jpegs, [0] * 5, [box_tuple(None)] * 5, cfg)))[0].numpy()
    assert raw.dtype == np.uint8 and scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, raw.astype(np.float32) / np.float32(255))


def test_cache_and_shuffle_give_the_same_images_in_a_new_order(jpegs, tmp_path):
    cfg = PipelineConfig(
        (16, 16), batch_size=5, cache=str(tmp_path / "cache"), shuffle=True, seed=1
    )
    ds = make_dataset(jpegs, [0, 1, 2, 3, 4], [box_tuple(None)] * 5, cfg)
    first = next(iter(ds))[1].numpy().tolist()
    second = next(iter(ds))[1].numpy().tolist()
    assert sorted(first) == sorted(second) == [0, 1, 2, 3, 4]
    assert list(tmp_path.iterdir())  # the cache file was written


def test_crop_matches_the_pure_clip_and_falls_back_to_the_whole_image():
    import tensorflow as tf

    image = tf.reshape(tf.range(80 * 100 * 3) % 251, (80, 100, 3))
    for box in [
        BBox(10, 20, 50, 60),
        BBox(-5, -5, 500, 400),
        BBox(90, 70, 140, 120),
        BBox(120, 10, 150, 50),
    ]:
        got = crop_to_box(image, tf.constant(box_tuple(box))).numpy()
        clipped = clip_bbox(box, 100, 80)
        want = (
            image.numpy()
            if clipped is None
            else image.numpy()[clipped.y1 : clipped.y2, clipped.x1 : clipped.x2]
        )
        assert np.array_equal(got, want)
    assert crop_to_box(image, tf.constant((-1, -1, -1, -1))).shape == (80, 100, 3)


def test_crop_in_the_pipeline_zooms_on_the_box(jpegs):
    boxes = [(0, 0, 20, 15), (0, 0, 60, 45), (0, 0, 32, 100), (0, 0, 150, 75), (0, 0, 16, 16)]
    ds = make_dataset(jpegs, [0] * 5, boxes, PipelineConfig((8, 8), 5, crop=True))
    x = next(iter(ds))[0].numpy()
    assert x.min() > 0.9  # every box is the bright quarter only


def test_an_undecodable_file_is_dropped_not_fatal(jpegs, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage \xff\xd9")  # passes the byte check, fails decode
    files = [jpegs[0], str(bad), jpegs[1]]
    ds = make_dataset(files, [7, 8, 9], [box_tuple(None)] * 3, PipelineConfig((8, 8), 4))
    assert np.concatenate([y.numpy() for _, y in ds]).tolist() == [7, 9]
    assert ds.skipped == {str(bad): UNDECODABLE}  # and named


@pytest.fixture(scope="module")
def damaged(jpegs, tmp_path_factory):
    """Real JPEGs damaged past the scan's byte check (its `jpeg_problem` passes them)."""
    root = tmp_path_factory.mktemp("damaged")
    out = []
    for i, how in enumerate(("quant", "huff", "quant")):
        path = root / f"bad_{i}.jpg"
        path.write_bytes(damaged_jpeg(Path(jpegs[i]).read_bytes(), how))
        assert jpeg_problem(path) is None
        out.append(str(path))
    return out


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_every_dropped_file_is_named_wherever_it_falls(jpegs, damaged, data):
    """Damaged files first, last, next to each other, all of them; shuffled or not, sharded or
    not, cached or not: the batches hold exactly the decodable files of this pipeline's share,
    and `skipped` names exactly its undecodable ones (tf.data's error guard drops them; their
    names come from the gaps in the decoded files' order)."""
    files = data.draw(st.permutations(jpegs + damaged), label="files")
    files = files[: data.draw(st.integers(1, len(files)), label="count")]
    shuffle, cache = data.draw(st.booleans(), label="shuffle"), data.draw(st.booleans())
    shard = data.draw(st.sampled_from([None, (0, 2), (1, 2)]), label="shard")
    if shard and len(files) // 2 < 2:
        shard = None
    cfg = PipelineConfig((8, 8), 2, shuffle=shuffle, seed=3, cache="" if cache else None)
    cfg = replace(cfg, shard=shard)
    labels = list(range(len(files)))
    ds = make_dataset(files, labels, [box_tuple(None)] * len(files), cfg)
    for _ in range(2):  # a second pass (from the cache when cached) names nothing new
        seen = sorted(int(v) for _, y in ds for v in y.numpy())
    share = sorted(shard_order(len(files), cfg))
    # a shard drops its last partial batch (drop_remainder): those files are read, not batched
    expected = [i for i in share if files[i] not in damaged]
    assert set(seen) <= set(expected) and len(expected) - len(seen) < (2 if shard else 1)
    assert ds.skipped == {files[i]: UNDECODABLE for i in share if files[i] in damaged}


def test_a_cache_file_keeps_the_names_of_the_files_it_left_out(jpegs, damaged, tmp_path):
    """A cache file is read as it is (nothing decoded again): the files its pipeline dropped are
    named beside it, and a pipeline that reads it back names them too."""
    files = [jpegs[0], damaged[0], jpegs[1], damaged[1]]
    cfg = PipelineConfig((8, 8), 2, cache=str(tmp_path / "c"))
    first = make_dataset(files, [0, 1, 2, 3], [box_tuple(None)] * 4, cfg)
    assert sorted(int(v) for _, y in first for v in y.numpy()) == [0, 2]
    named = {damaged[0]: UNDECODABLE, damaged[1]: UNDECODABLE}
    assert first.skipped == named
    again = make_dataset(files, [0, 1, 2, 3], [box_tuple(None)] * 4, cfg)
    assert again.skipped == named  # before reading: the cache file's record
    assert sorted(int(v) for _, y in again for v in y.numpy()) == [0, 2]
    assert again.skipped == named


def labels_and_shapes(ds):
    batches = [(x.numpy().shape[1:3], y.numpy().tolist()) for x, y in ds]
    return {shape for shape, _ in batches}, [v for _, ys in batches for v in ys]


def test_a_cache_file_never_serves_another_runs_data(jpegs, tmp_path):
    """tf.data reads an existing cache file as it is; the file is named after what it holds."""
    cache = str(tmp_path / "cache")
    boxes = [box_tuple(None)] * 3
    first = make_dataset(jpegs[:3], [0, 1, 2], boxes, PipelineConfig((16, 16), 4, cache=cache))
    assert labels_and_shapes(first) == ({(16, 16)}, [0, 1, 2])
    relabelled = make_dataset(jpegs[:3], [5, 6, 7], boxes, PipelineConfig((16, 16), 4, cache=cache))
    assert labels_and_shapes(relabelled) == ({(16, 16)}, [5, 6, 7])
    resized = make_dataset(jpegs[:3], [0, 1, 2], boxes, PipelineConfig((8, 8), 4, cache=cache))
    assert labels_and_shapes(resized) == ({(8, 8)}, [0, 1, 2])
    others = make_dataset(jpegs[2:], [0, 1, 2], boxes, PipelineConfig((16, 16), 4, cache=cache))
    assert labels_and_shapes(others)[1] == [0, 1, 2]
    # and the same data again reuses its own file: one cache per distinct content, 4 here
    again = make_dataset(jpegs[:3], [0, 1, 2], boxes, PipelineConfig((16, 16), 4, cache=cache))
    assert labels_and_shapes(again) == ({(16, 16)}, [0, 1, 2])
    assert len(list(tmp_path.glob("cache.*.index"))) == 4


def test_cache_key_changes_with_each_input_of_the_cached_elements(jpegs):
    base = (jpegs[:2], [0, 1], [box_tuple(None)] * 2, PipelineConfig((16, 16), 4, cache="c"))
    key = cache_key(*base)
    files, labels, boxes, cfg = base
    variants = [
        (files[::-1], labels, boxes, cfg),
        (files, [1, 1], boxes, cfg),
        (files, labels, [(0, 0, 5, 5), box_tuple(None)], cfg),
        (files, labels, boxes, replace(cfg, image_size=(16, 8))),
        (files, labels, boxes, replace(cfg, crop=True)),
        (files, labels, boxes, replace(cfg, resize="nearest")),
    ]
    keys = [cache_key(*v) for v in variants]
    assert key not in keys and len(set(keys)) == len(variants)
    # batch size, shuffling and the seed do not change what is cached
    assert cache_key(files, labels, boxes, replace(cfg, batch_size=1, shuffle=True, seed=9)) == key


def test_repeat_gives_as_many_steps_as_asked_and_reshuffles(jpegs):
    cfg = PipelineConfig((8, 8), 2, shuffle=True, seed=0, repeat=True)
    ds = make_dataset(jpegs, [0, 1, 2, 3, 4], [box_tuple(None)] * 5, cfg)
    labels = [v for _, y in ds.take(10) for v in y.numpy().tolist()]
    # 10 batches of 2 from 5 images: 4 full passes, each a permutation of the 5 labels
    assert len(labels) == 10 * 2
    assert all(sorted(labels[i : i + 5]) == [0, 1, 2, 3, 4] for i in range(0, 20, 5))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.tuples(*[st.integers(-6, 20)] * 4),  # any order: x2 < x1 and y2 < y1 included
)
def test_crop_to_box_is_clip_bbox_then_a_slice(width, height, coords):
    import tensorflow as tf

    image = np.arange(height * width * 3, dtype=np.int32).reshape(height, width, 3)
    got = crop_to_box(tf.constant(image), tf.constant(coords, tf.int32)).numpy()
    clipped = clip_bbox(BBox(*coords), width, height)
    want = image if clipped is None else image[clipped.y1 : clipped.y2, clipped.x1 : clipped.x2]
    assert np.array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(
    coords=st.tuples(
        st.integers(-20, 140), st.integers(-20, 110), st.integers(-20, 140), st.integers(-20, 110)
    )
)
def test_decoding_only_the_box_matches_decoding_all_then_cropping(jpeg_bytes, coords):
    """decode_and_crop_jpeg against decode_jpeg + crop_to_box, boxes inside, across, outside
    and empty (a 120x90 synthetic garment JPEG): the same window always; the pixels equal up to
    libjpeg's chroma upsampling at the window's edge (it sees no neighbours outside it)."""
    import tensorflow as tf

    box = tf.constant(coords, tf.int32)
    whole = crop_to_box(tf.io.decode_jpeg(jpeg_bytes, channels=3), box).numpy().astype(int)
    part = decode_cropped(jpeg_bytes, box).numpy().astype(int)
    assert part.shape == whole.shape
    assert np.abs(part - whole).mean() <= 4


def test_decoding_only_the_box_is_close_on_average(jpeg_bytes):
    import tensorflow as tf

    full = tf.io.decode_jpeg(jpeg_bytes, channels=3)
    diffs = []
    for x1, y1, x2, y2 in [(0, 0, 120, 90), (10, 10, 100, 80), (-5, 3, 60, 200), (33, 17, 71, 55),
                           (50, 40, 51, 41), (0, 0, 0, 0)]:  # fmt: skip
        box = tf.constant((x1, y1, x2, y2), tf.int32)
        whole = crop_to_box(full, box).numpy().astype(int)
        diffs.append(np.abs(decode_cropped(jpeg_bytes, box).numpy().astype(int) - whole))
    assert diffs[0].max() == 0 and diffs[-1].max() == 0  # the whole image: decoded alike
    assert np.mean([d.mean() for d in diffs]) < 0.5


@pytest.fixture(scope="module")
def jpeg_bytes():
    import io

    from reference_model.data.synth import draw_garment

    image = draw_garment(np.random.default_rng(0), 5, 120, 90, (10, 10, 100, 80))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# -- shard files per worker -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 60),
    count=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    shuffle=st.booleans(),
)
def test_worker_shards_are_disjoint_equal_and_cover_all_but_the_remainder(n, count, seed, shuffle):
    from reference_model.data.pipeline import shard_order

    cfg = PipelineConfig((8, 8), 4, shuffle=shuffle, seed=seed)
    whole = shard_order(n, cfg)
    assert sorted(whole) == list(range(n))  # no shard: every file once
    shards = [shard_order(n, replace(cfg, shard=(i, count))) for i in range(count)]
    assert [len(s) for s in shards] == [n // count] * count  # equal: no worker waits for ever
    flat = [i for s in shards for i in s]
    assert len(set(flat)) == len(flat) == (n // count) * count  # disjoint
    assert set(flat) <= set(whole)
    if shuffle:  # each shard is a slice of the run's one permutation of the file names
        assert all(s == whole[i::count][: n // count] for i, s in enumerate(shards))


def test_each_worker_decodes_only_its_files_and_caches_them_apart(jpegs, tmp_path):
    import tensorflow as tf

    files = jpegs * 3  # 15 names (each image thrice)
    labels = list(range(15))
    cfg = PipelineConfig((8, 8), 1, shuffle=True, seed=3, cache=str(tmp_path / "c"))
    seen = []
    for index in range(2):
        shard = replace(cfg, shard=(index, 2))
        ds = make_dataset(files, labels, [box_tuple(None)] * 15, shard, with_paths=True)
        policy = ds.options().experimental_distribute.auto_shard_policy
        assert policy == tf.data.experimental.AutoShardPolicy.OFF  # not sharded again
        got = sorted(int(y) for _, ys, _ in ds for y in ys.numpy())
        assert len(got) == 15 // 2
        seen.append(got)
    assert not set(seen[0]) & set(seen[1])
    # batches of 2 from a share of 7: three full ones (the remainder would give one of the
    # replicas an empty batch)
    ds = make_dataset(
        files, labels, [box_tuple(None)] * 15, replace(cfg, batch_size=2, shard=(0, 2))
    )
    assert [len(y) for _, y in ds] == [2, 2, 2]
    from reference_model.errors import UsageError

    with pytest.raises(UsageError, match="gets 7 training images, fewer than one batch of 8"):
        make_dataset(
            files, labels, [box_tuple(None)] * 15, replace(cfg, batch_size=8, shard=(1, 2))
        )
    assert len(list(tmp_path.glob("c.*.paths.index"))) == 2  # one cache file per shard
    unsharded = make_dataset(files, labels, [box_tuple(None)] * 15, replace(cfg, cache=None))
    policy = unsharded.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA


def test_only_multiworker_training_is_sharded_in_worker_order(monkeypatch):
    import json

    from reference_model.distribute import worker_shard
    from reference_model.train import TrainConfig, pipeline_config

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_shard() is None
    shards = []
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    for kind, index in (("chief", 0), ("worker", 0), ("worker", 1)):
        task = {"cluster": cluster, "task": {"type": kind, "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(task))
        shards.append(worker_shard())
        cfg = TrainConfig(data="/d", out="/o", strategy="multiworker")
        assert pipeline_config(cfg, "train", (8, 8), 4, True).shard == worker_shard()
        assert pipeline_config(cfg, "val", (8, 8), 4, False).shard is None
        plain = TrainConfig(data="/d", out="/o", strategy="mirrored")
        assert pipeline_config(plain, "train", (8, 8), 4, True).shard is None
    assert shards == [(0, 3), (1, 3), (2, 3)]
    task = {"cluster": {"worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(task))
    assert worker_shard() == (1, 2)
