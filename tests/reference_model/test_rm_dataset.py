"""Records, labels, splits and class weights on a synthetic dataset in the official layout."""

import shutil
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_model.data import dataset as D
from reference_model.data.synth import CATEGORIES, EMPTY, MISNAMED, SynthSpec, write_synthetic
from reference_model.data.weights import class_weights
from reference_model.errors import DataError


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("deepfashion")
    write_synthetic(root, SynthSpec(images_per_class=3, max_size=96, min_size=40, seed=1))
    return root


@pytest.fixture(scope="module")
def ds(synth_root):
    return D.load_dataset(synth_root)


def test_damaged_and_missing_images_are_skipped_and_counted(ds):
    assert ds.listed == 46 * 3 + 4
    assert len(ds.samples) == 46 * 3
    assert ds.skipped == {"truncated": 1, "not-jpeg": 1, "empty": 1, "missing": 1}


def test_official_labels_are_the_46_non_empty_categories_in_official_order(ds):
    labels = D.make_labels(ds, "official")
    expected = [name for name, _ in CATEGORIES if name not in EMPTY]
    assert list(labels.class_names) == expected and len(expected) == 46
    # Contiguous ids: every sample's id names its own official category.
    names = {c.id: c.name for c in ds.categories}
    assert all(
        labels.class_names[y] == names[s.category]
        for s, y in zip(ds.samples, labels.labels, strict=True)
    )
    assert set(labels.labels) == set(range(46))


def test_empty_categories_come_from_the_image_list(ds):
    labels = D.make_labels(ds, "official")
    summary = D.summary(ds, labels, D.assign_splits(ds, "official"))
    assert sorted(summary["empty_categories"]) == sorted(EMPTY)
    assert summary["categories"] == 50 and summary["classes"] == 46


def test_folder_labels_and_where_they_disagree(ds):
    folder = D.make_labels(ds, "folder")
    assert list(folder.class_names) == sorted(folder.class_names)
    assert "Shirt" in folder.class_names and "T-Shirt" in folder.class_names
    disagreements = {(f, o) for f, o, _ in D.label_disagreements(ds)}
    assert disagreements == {(v, k) for k, v in MISNAMED.items()}
    assert D.folder_label("Reindeer_Pattern_Sweater") == "Sweater"
    assert D.folder_label("St._Tropez_Tee") == "Tee"


def test_item_split_never_puts_one_item_in_two_splits(ds):
    splits = D.assign_splits(ds, "item", seed=3)
    where = defaultdict(set)
    for s, split in zip(ds.samples, splits, strict=True):
        where[s.item].add(split)
    assert all(len(v) == 1 for v in where.values())
    assert len({next(iter(v)) for v in where.values()}) == 3  # all three splits used


def test_official_split_follows_the_partition_file(ds, synth_root):
    from reference_model.data.annotations import parse_partition, read_table

    part = parse_partition(
        read_table(
            synth_root / "Eval" / "list_eval_partition.txt", ("image_name", "evaluation_status")
        )
    )
    splits = D.assign_splits(ds, "official")
    assert all(part[s.name] == split for s, split in zip(ds.samples, splits, strict=True))


def test_random_split_is_per_image_seeded_and_near_the_seeds_fractions(ds):
    a, b = D.assign_splits(ds, "random", seed=0), D.assign_splits(ds, "random", seed=0)
    assert a == b and a != D.assign_splits(ds, "random", seed=1)
    counts = Counter(a)
    assert 0.1 < counts["test"] / len(a) < 0.3  # the seed's 20%


def test_keep_fraction(ds):
    keep = D.keep_fraction(ds, 0.6, seed=0)
    assert 0.45 < sum(keep) / len(keep) < 0.75
    with pytest.raises(DataError):
        D.keep_fraction(ds, 0.0, seed=0)


def test_anno_coarse_layout_loads_the_same(synth_root, tmp_path):
    copy = tmp_path / "df"
    shutil.copytree(synth_root, copy)
    (copy / "Anno").rename(copy / "Anno_coarse")
    assert len(D.load_dataset(copy).samples) == 46 * 3


def test_unknown_category_id_is_an_error(synth_root, tmp_path):
    copy = tmp_path / "df"
    shutil.copytree(synth_root, copy)
    path = copy / "Anno" / "list_category_img.txt"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(None, 1)[0] + "  51"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="category 51"):
        D.load_dataset(copy)


def test_bad_choices_and_missing_root(ds, tmp_path):
    with pytest.raises(DataError):
        D.make_labels(ds, "nope")
    with pytest.raises(DataError):
        D.assign_splits(ds, "nope")
    with pytest.raises(DataError, match="does not exist"):
        D.load_dataset(tmp_path / "missing")


def test_class_weights():
    labels = [0] * 8 + [1] * 2
    assert class_weights(labels, 3, "none") is None
    bal = class_weights(labels, 3, "balanced")
    assert bal == pytest.approx({0: 10 / 16, 1: 10 / 4, 2: 0.0})
    sq = class_weights(labels, 3, "sqrt")
    assert sq[1] == pytest.approx(2.5**0.5) and sq[0] == pytest.approx(0.625**0.5)
    # balanced weights make every present class contribute equally to the loss
    assert 8 * bal[0] == pytest.approx(2 * bal[1])


@pytest.mark.parametrize(
    "rel", ["Anno/list_bbox.txt", "Eval/list_eval_partition.txt", "Anno/list_category_img.txt"]
)
def test_a_wrong_count_line_is_a_warning_for_every_file(synth_root, tmp_path, rel):
    copy = tmp_path / "df"
    shutil.copytree(synth_root, copy)
    path = copy / rel
    lines = path.read_text().splitlines()
    rows = len(lines) - 2
    path.write_text("\n".join([str(rows + 5), *lines[1:]]) + "\n")
    warnings = D.load_dataset(copy).warnings
    assert warnings == (f"{path}: declares {rows + 5} rows, has {rows}",)


def test_used_splits_leave_out_what_the_fraction_drops(ds):
    full = D.used_splits(ds, "item", 0, 1.0)
    half = D.used_splits(ds, "item", 0, 0.5)
    keep = D.keep_fraction(ds, 0.5, 0)
    assert half == tuple(s if k else None for s, k in zip(full, keep, strict=True))
    assert 0 < sum(s is not None for s in half) < len(ds.samples)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=60), st.integers(6, 8))
def test_class_weights_even_out_the_weighted_class_totals(labels, num_classes):
    counts = Counter(labels)
    present = len(counts)
    balanced = class_weights(labels, num_classes, "balanced")
    sqrt = class_weights(labels, num_classes, "sqrt")
    assert set(balanced) == set(sqrt) == set(range(num_classes))
    for c in range(num_classes):
        if c not in counts:
            assert balanced[c] == sqrt[c] == 0.0
            continue
        # balanced: every present class weighs the same in the loss, n / present in total
        assert balanced[c] * counts[c] == pytest.approx(len(labels) / present)
        assert sqrt[c] == pytest.approx(balanced[c] ** 0.5)
    # so the weighted total is the number of samples, as unweighted
    assert sum(balanced[c] * n for c, n in counts.items()) == pytest.approx(len(labels))


def test_every_skipped_image_is_named_with_its_reason(ds):
    named = dict(ds.skipped_files)
    assert sorted(named.values()) == sorted(["truncated", "not-jpeg", "empty", "missing"])
    assert all(name.startswith("img/Damaged_") for name in named)
    summary = D.summary(ds, D.make_labels(ds, "official"), D.used_splits(ds, "official"))
    assert [r["image"] for r in summary["skipped_files"]] == [n for n, _ in ds.skipped_files]


def test_the_unpacked_official_download_root_img_img_is_accepted(synth_root, tmp_path):
    """The official Img/img.zip unpacks to Img/img/..., the lists say img/...: both work."""
    root = tmp_path / "DeepFashion"
    (root / "Img").mkdir(parents=True)
    shutil.copytree(synth_root / "img", root / "Img" / "img")
    shutil.copytree(synth_root / "Anno", root / "Anno")
    shutil.copytree(synth_root / "Eval", root / "Eval")
    moved = D.load_dataset(root)
    assert len(moved.samples) == len(D.load_dataset(synth_root).samples) == 46 * 3
    assert all("/Img/img/" in s.file for s in moved.samples)
