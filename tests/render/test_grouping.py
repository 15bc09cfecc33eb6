"""`report --group`: block/stage groups from Keras names sum their rows exactly, and a group with
an unknown row is partial (its sum None, the known part a lower bound), never a wrong number."""

from __future__ import annotations

import copy
import csv
import io
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncost
from cnncost.cli import main
from cnncost.render.grouping import (
    LOWER_BOUNDS,
    MAX_ROWS,
    auto_depth,
    build_tree,
    cut,
    group_rows,
    levels,
    name_prefixes,
)
from cnncost.render.table import table_text
from cnncost.render.view import SUMMABLE, make_view

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"


@cache
def _data(model: str) -> dict:
    return cnncost.analyze(str(MODELS / f"{model}.keras")).to_dict()


def test_prefixes_of_keras_application_names():
    assert name_prefixes("conv2_block1_1_conv") == [
        "conv2", "conv2_block1", "conv2_block1_1", "conv2_block1_1_conv",
    ]  # fmt: skip
    # EfficientNet's block2a is block a of stage 2: both are levels
    assert name_prefixes("block2a_expand_conv") == [
        "block2", "block2a", "block2a_expand", "block2a_expand_conv",
    ]  # fmt: skip
    assert name_prefixes("outer/inner_conv") == ["outer", "outer/inner", "outer/inner_conv"]
    assert name_prefixes("dense") == ["dense"]


def test_keras_numbering_and_scattered_names_are_not_groups():
    tree = build_tree(["dense", "dense_1", "dense_2"])
    assert [n.is_group for n in tree] == [False, False, False]
    # `conv2d` rows separated by pooling rows: no run of two, no group
    tree = build_tree(["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"])
    assert levels(tree) == 0


def test_runs_split_where_a_prefix_stops_and_starts_again():
    tree = build_tree(["top_conv", "top_bn", "avg_pool", "top_dropout", "head"])
    assert [(n.key, n.rows) for n in tree] == [
        ("top", (0, 1)), ("avg_pool", (2,)), ("top_dropout", (3,)), ("head", (4,)),
    ]  # fmt: skip


def test_resnet50_stages_and_blocks():
    data = _data("resnet50")
    tree = build_tree([r["name"] for r in data["layers"]])
    stages = [n.key for n in cut(tree, 0) if n.is_group]
    assert stages == ["conv1", "pool1", "conv2", "conv3", "conv4", "conv5"]
    blocks = [n.key for n in cut(tree, 1) if n.is_group and n.key.startswith("conv")]
    # ResNet50: 3, 4, 6 and 3 bottleneck blocks
    assert blocks == [f"conv{s}_block{b}" for s, n in ((2, 3), (3, 4), (4, 6), (5, 3))
                      for b in range(1, n + 1)]  # fmt: skip
    assert auto_depth(tree) == 1 and len(cut(tree, 1)) <= MAX_ROWS


def test_efficientnet_stage_then_block():
    data = _data("efficientnet_b0")
    tree = build_tree([r["name"] for r in data["layers"]])
    stages = [n.key for n in cut(tree, 0) if n.key.startswith("block")]
    assert stages == [f"block{s}" for s in range(1, 8)]
    blocks = [n.key for n in cut(tree, 1) if n.key.startswith("block")]
    # EfficientNetB0's repeats per stage: 1, 2, 2, 3, 3, 4, 1
    repeats = (1, 2, 2, 3, 3, 4, 1)
    assert blocks == [f"block{s}{'abcd'[b]}" for s, n in enumerate(repeats, 1) for b in range(n)]


def test_convnext_residual_adds_join_their_stage_and_stages_keep_their_number():
    data = _data("convnext_tiny")
    layers = data["layers"]
    tree = build_tree([r["name"] for r in layers], [r["type"] for r in layers])
    shown = [n for n in cut(tree, auto_depth(tree)) if n.is_group]
    stages = [n.key for n in shown if "_stage_" in n.key]
    assert stages == [f"convnext_tiny_stage_{s}" for s in range(4)]
    # ConvNeXt-T: 3, 3, 9, 3 blocks of 7 layers; the adds between blocks of a stage join it
    for node, blocks in zip((n for n in shown if "_stage_" in n.key), (3, 3, 9, 3), strict=True):
        adds = [layers[i]["name"] for i in node.rows if layers[i]["type"] == "Add"]
        assert len(node.rows) == 7 * blocks + len(adds) and len(adds) == blocks - 1
    stem = next(n for n in shown if n.key.endswith("stem"))
    assert stem.key == "convnext_tiny_stem"  # the nested model, not `stem/stem`


@pytest.mark.parametrize(
    "model", ["resnet50", "efficientnet_b0", "mobilenet_v2", "seed_cnn", "convnext_tiny"]
)
def test_every_depth_sums_exactly_and_covers_every_row_once(model):
    data = _data(model)
    layers = data["layers"]
    tree = build_tree([r["name"] for r in layers], [r["type"] for r in layers])
    for depth in range(levels(tree) + 1):
        nodes = cut(tree, depth)
        assert [i for n in nodes for i in n.rows] == list(range(len(layers)))
        rows = group_rows(layers, depth, SUMMABLE)
        for node, row in zip(nodes, rows, strict=True):
            for field in ("params", "macs", "flops", "train_flops", "activation_bytes"):
                assert row[field] == sum(layers[i][field] for i in node.rows)
        for field in ("params", "macs", "flops"):
            assert sum(r[field] for r in rows) == data["totals"][field]


def test_a_group_with_an_unknown_row_is_partial_not_a_wrong_sum():
    data = copy.deepcopy(_data("resnet50"))
    rows = {r["name"]: r for r in data["layers"]}
    rows["conv3_block2_2_conv"]["flops"] = None
    rows["conv3_block2_2_conv"]["status"] = "unsupported"
    data["left_out"] = {"flops": ["conv3_block2_2_conv"]}
    view = make_view(data, group=True, depth=1)
    block = next(r for r in view.rows if r["name"] == "conv3_block2")
    members = [r for r in data["layers"] if r["name"].startswith("conv3_block2_")]
    assert block["flops"] is None and block["status"] == "partial"
    known = sum(r["flops"] for r in members if r["flops"] is not None)
    assert block[LOWER_BOUNDS]["flops"] == known
    assert block["params"] == sum(r["params"] for r in members)  # the known fields stay exact
    other = next(r for r in view.rows if r["name"] == "conv3_block3")
    assert other["status"] == "exact" and LOWER_BOUNDS not in other
    text = table_text(data, 120, lambda d: make_view(d, group=True, depth=1))
    line = next(line for line in text.splitlines() if "conv3_block2 " in line)
    from cnncost.render.numbers import human

    assert f"≥{human(known)}" in line
    # the note is no column: csv never sees it
    assert LOWER_BOUNDS not in view.columns


_WORDS = st.sampled_from(["conv2", "block1", "block2a", "block2b", "bn", "relu", "add", "x"])
_NAMES = st.lists(st.lists(_WORDS, min_size=1, max_size=4).map("_".join), min_size=1, max_size=30)


@settings(max_examples=100, deadline=None)
@given(_NAMES, st.data())
def test_any_names_partition_in_order_and_sum_exactly(names, draw):
    names = [f"{n}:{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
    values = draw.draw(
        st.lists(
            st.one_of(st.none(), st.integers(0, 10**9)), min_size=len(names), max_size=len(names)
        )  # fmt: skip
    )
    layers = [
        {"name": n, "type": "T", "status": "exact" if v is not None else "partial", "flops": v}
        for n, v in zip(names, values, strict=True)
    ]
    tree = build_tree(names)
    for depth in range(levels(tree) + 1):
        nodes = cut(tree, depth)
        assert [i for n in nodes for i in n.rows] == list(range(len(names)))
        for node, row in zip(nodes, group_rows(layers, depth, ("flops",)), strict=True):
            member_values = [values[i] for i in node.rows]
            if None in member_values:
                assert row["flops"] is None and row["status"] == "partial"
                if node.is_group:
                    known = sum(v for v in member_values if v is not None)
                    assert row[LOWER_BOUNDS]["flops"] == known
            else:
                assert row["flops"] == sum(member_values)


def test_cli_group_depth_and_csv(capsys):
    assert main(["report", str(MODELS / "resnet50.keras"), "--group", "--depth", "0",
                 "--format", "csv", "--columns", "name,count,params,flops"]) == 0  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    data = _data("resnet50")
    conv4 = next(r for r in rows if r["name"] == "conv4")
    members = [r for r in data["layers"] if r["name"].startswith("conv4_")]
    assert int(conv4["count"]) == len(members) == 6 * 10 + 2  # 6 blocks, 2 shortcut rows
    assert int(conv4["params"]) == sum(r["params"] for r in members)
    assert sum(int(r["flops"]) for r in rows) == data["totals"]["flops"]


def test_cli_group_refused_with_json(capsys):
    assert main(["report", str(MODELS / "seed_cnn.keras"), "--group", "--format", "json"]) == 2
    assert "--group" in capsys.readouterr().err


def test_group_and_by_type_are_not_mixed(capsys):
    assert main(["report", str(MODELS / "seed_cnn.keras"), "--group", "--by-type"]) == 2
    assert "--by-type" in capsys.readouterr().err


def test_the_summary_names_the_heaviest_blocks():
    data = _data("resnet50")
    text = table_text(data, 120, lambda d: make_view(d, group=True))
    blocks = make_view(data, group=True).rows
    heaviest = max((r for r in blocks if "count" in r), key=lambda r: r["flops"])
    share = heaviest["flops"] / data["totals"]["flops"]
    assert f"blocks: {heaviest['name']} {share:.1%}" in text
    assert "blocks:" not in table_text(data, 120)  # the flat view has no blocks
