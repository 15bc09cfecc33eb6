"""Warnings by kind (issue 15, item 9): a stable `kind` per warning in the JSON, misaligned merges
explained once in the table, `--hide-warnings KIND,..` filtering them."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from test_cli import ROOT, SEED, run

import cnncost
from cnncost.diagnostics import KIND_NAMES, KINDS, classify, for_people, parse_kinds
from cnncost.errors import CnnCostError
from tests.support.keras_reference import write_config_only


def textbook_unet(levels: int = 3, size: int = 64):
    """Ronneberger et al.'s shape with 'same' convs: two 3x3 convs per level, 2x2 max pooling
    down, 2x2 stride-2 transposed convs up, skip concatenations."""
    import keras
    from keras import layers

    x = inputs = keras.Input((size, size, 1), name="image")
    skips = []
    for level in range(levels):
        x = layers.Conv2D(4 * 2**level, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(4 * 2**level, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(4 * 2**levels, 3, padding="same", activation="relu")(x)
    for level in reversed(range(levels)):
        x = layers.Conv2DTranspose(4 * 2**level, 2, strides=2)(x)
        x = layers.Concatenate(name=f"merge{level}")([skips[level], x])
        x = layers.Conv2D(4 * 2**level, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, layers.Conv2D(2, 1)(x), name="unet")


@pytest.fixture(scope="module")
def unet_file(tmp_path_factory):
    return write_config_only(textbook_unet(), tmp_path_factory.mktemp("unet") / "unet.keras")


def _json(*args):
    result = run(*args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_warning_has_a_kind_and_its_row(unet_file):
    data = _json("report", str(unet_file))
    # 3 merges x 2 spatial axes
    assert len(data["warnings"]) == 3 * 2
    assert [d["message"] for d in data["warning_details"]] == data["warnings"]
    assert {d["kind"] for d in data["warning_details"]} == {"misaligned-merge"}
    assert [d["layer"] for d in data["warning_details"]] == [
        name for name in ("merge2", "merge1", "merge0") for _axis in (1, 2)
    ]


def test_the_table_explains_misaligned_merges_once(unet_file):
    data = _json("report", str(unet_file))
    rows = {row["name"]: row for row in data["layers"]}
    # the distance between the merged inputs' centres (RF `start`, input pixels) from the rows
    # themselves, not from the warning text
    spreads = []
    for name in ("merge2", "merge1", "merge0"):
        starts = [Fraction(rows[i]["receptive_field"]["image"]["start"][0]).limit_denominator()
                  for i in rows[name]["inputs"]]  # fmt: skip
        spreads.append(max(starts) - min(starts))
        assert rows[name]["receptive_field"]["image"]["aligned"] is False
    result = run("report", str(unet_file), "--no-color")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # undo the terminal's wrapping
    assert text.count("warning:") == 1
    (explained,) = [part for part in text.split("warning: ")[1:]]
    assert explained.startswith("misaligned-merge: 3 merges (merge2, merge1, merge0)")
    spread = max(spreads)
    shown = str(spread.numerator) if spread.denominator == 1 else f"{float(spread):g}"
    assert f"up to {shown} pixels apart" in explained
    assert "nothing needs fixing" in explained and "--hide-warnings misaligned-merge" in explained


def test_hide_warnings_by_kind(unet_file):
    data = _json("report", str(unet_file), "--hide-warnings", "misaligned-merge")
    assert data["warnings"] == [] and data["warning_details"] == []
    result = run("report", str(unet_file), "--hide-warnings", "lower-bound,misaligned-merge")
    assert result.returncode == 0 and "warning" not in result.stdout
    # other kinds stay
    data = _json("report", str(unet_file), "--hide-warnings", "lower-bound")
    assert len(data["warnings"]) == 3 * 2


def test_unknown_kind_is_one_line_naming_the_kinds():
    result = run("report", str(SEED), "--hide-warnings", "misaligned")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "misaligned-merge" in result.stderr
    with pytest.raises(CnnCostError):
        parse_kinds("misaligned-merge,nope")
    assert parse_kinds("all") == frozenset((*KIND_NAMES, "other"))


def _lambda_model():
    import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubled")(x)
    return keras.Model(inputs, keras.layers.Conv2D(2, 1, name="head")(x))


def test_kinds_of_real_warnings(tmp_path):
    path = write_config_only(_lambda_model(), tmp_path / "lam.keras")
    kinds = [classify(w) for w in cnncost.analyze(path).warnings]
    assert ("unsupported-layer", "doubled") in kinds
    assert ("lower-bound", None) in kinds
    assert ("input-size-unknown", None) in kinds or ("shape-unknown", "head") in kinds
    kinds = [classify(w) for w in cnncost.analyze(SEED, input_shape=(128, 128, 3)).warnings]
    profiler = cnncost.analyze(
        ROOT / "examples" / "models" / "convnext_tiny.keras", flops_convention="tf-profiler"
    )
    kinds += [classify(w) for w in profiler.warnings]
    assert all(kind != "other" for kind, _ in kinds), kinds
    assert ("tf-profiler", None) in kinds


def test_every_kind_is_documented():
    page = (ROOT / "docs" / "commands" / "report.md").read_text()
    for kind in KINDS:
        assert f"`{kind.name}`" in page, kind.name


def test_other_warnings_are_printed_as_they_are():
    messages = ["a: unsupported layer class 'X' (no rule); its params and cost are not counted"]
    assert for_people(messages) == messages
    assert classify("something new") == ("other", None)
    # shared-layer rows (name:1) and nested rows (outer/inner) keep their whole name
    assert classify("blk/add:1: misaligned merge on axis 1 of 'x': ...")[1] == "blk/add:1"
