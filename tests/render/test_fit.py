"""Fitting a table into the terminal: numbers are never cut, names shorten from the middle."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from cnncost.render.fit import (
    ELLIPSIS,
    MIN_SHORTENED,
    abbreviate_type,
    common_prefix,
    fit_columns,
    shorten_middle,
    table_overhead,
)
from cnncost.render.table import rf_text


def test_shorten_middle_keeps_the_block_and_the_kind():
    assert (
        shorten_middle("block2a_expand_activation", 17) == "block2a_e" + ELLIPSIS + "ivation"
    )  # 9 + 1 + 7
    assert shorten_middle("conv2d", 17) == "conv2d"
    assert cell_len(shorten_middle("x" * 40, 9)) == 9
    assert shorten_middle("0卷", 2) == "0…"  # a wide last character that cannot fit (hypothesis)
    assert shorten_middle("abcd卷", 4) == "a…卷"


@given(st.text(min_size=0, max_size=60, alphabet="abc_/0123456789层卷"), st.integers(1, 70))
def test_shorten_middle_fits_and_keeps_both_ends(text, width):
    short = shorten_middle(text, width)
    assert cell_len(short) <= width
    if cell_len(text) <= width:
        assert short == text
    elif width >= 5:
        head, _, tail = short.partition(ELLIPSIS)
        assert text.startswith(head) and text.endswith(tail) and head and tail


def test_common_prefix_stops_before_a_number():
    names = ["input_layer", "convnext_tiny_stem", *(f"convnext_tiny_stage_{i}" for i in range(4))]
    assert common_prefix(names) == "convnext_tiny_"  # `stage_` would hide the stage number
    assert common_prefix(["conv2_block1_add", "conv2_block2_add", "pool1"]) == "conv2_"
    assert common_prefix(["conv2_block1_add", "pool1", "pool2"]) == ""  # 1 of 3: not half
    assert common_prefix(["a_b", "a_c"]) == ""  # too short to be worth a note


def test_type_abbreviations():
    assert abbreviate_type("BatchNormalization", 1) == "BatchNorm"
    assert abbreviate_type("Normalization", 1) == "Normalization"  # a class of its own
    assert abbreviate_type("GlobalAveragePooling2D", 1) == "GlobalAvgPool2D"
    assert abbreviate_type("GlobalAveragePooling2D", 2) == "GAvgPool2D"
    assert abbreviate_type("Conv2DTranspose", 1) == "Conv2DT"


def test_rf_ranges_are_written_once_when_every_axis_agrees():
    field = {"size": [60, 60], "jump": [8, 8], "size_min": [60, 60], "size_max": [68, 68]}
    assert rf_text({"in": field}) == "60..68/8"
    field = {"size": [60, 5], "jump": [8, 1], "size_min": [60, 5], "size_max": [68, 5]}
    assert rf_text({"in": field}) == "60..68x5/8x1"


_KINDS = st.sampled_from(["fixed", "wrap", "shorten"])
_CELL = st.text(alphabet="ab_x0123456789 ", min_size=0, max_size=25)


@settings(max_examples=150, deadline=None)
@given(st.lists(_KINDS, min_size=1, max_size=8), st.data(), st.integers(20, 200))
def test_fixed_cells_are_never_changed_and_the_table_fits(kinds, data, width):
    columns = [f"c{i}" for i in range(len(kinds))]
    kind_of = dict(zip(columns, kinds, strict=True))
    rows = data.draw(st.lists(st.lists(_CELL, min_size=len(columns), max_size=len(columns)),
                              min_size=1, max_size=6))  # fmt: skip
    headers = {c: c for c in columns}
    fitted = fit_columns(columns, kind_of, headers, {}, rows, width)
    kept = list(fitted.columns)
    assert kept == columns[: len(kept)] and list(fitted.dropped) == columns[len(kept) :]
    if len(kept) > 1 or not fitted.dropped:
        total = sum(fitted.widths[c] for c in kept) + table_overhead(len(kept))
        assert total <= width or len(kept) == 1
    for row, cells in zip(rows, fitted.cells, strict=True):
        for index, column in enumerate(kept):
            text, shown = row[index], cells[index]
            if kind_of[column] != "shorten":
                assert shown == text  # a number, a shape or an RF is never cut
                longest = max((len(w) for w in text.split()), default=0)
                assert fitted.widths[column] >= longest  # wraps only between words
            else:
                assert cell_len(shown) <= fitted.widths[column]
                if shown != text:
                    assert ELLIPSIS in shown and fitted.widths[column] >= min(
                        MIN_SHORTENED, cell_len(text)
                    )
