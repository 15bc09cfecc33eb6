"""Grouping rows by block and stage (`report --group`), from nested models and Keras names.

Keras applications name their layers by stage and block: `conv2_block1_1_conv` (ResNet),
`block2a_expand_conv` (EfficientNet: stage 2, block a), `block_3_depthwise` (MobileNetV2), and a
nested model's rows are `outer/inner`. A row's *prefixes* are the leading `/`-parts and
`_`-words of its name, shortest first (`conv2`, `conv2_block1`, `conv2_block1_1`, ...); a word
made of letters, digits and one last lower-case letter (`block2a`) also gives the prefix without
that letter (`block2`), the stage above the block.

A group is a run of at least two *consecutive* rows (in the report's topological order) that
share a prefix, built top-down: within a group, its rows are split again by their next-longer
prefix. Runs whose names differ only by Keras's numbering suffix (`dense`, `dense_1`, ...) are
not a group. A row with Keras's automatic name for its class (`add_3` for an `Add`: the
residual adds of ConvNeXt) between two rows of the same group joins that group. A group with a single sub-group of the same rows is one level, named by the prefix that ends
in a number (`convnext_tiny_stage_0`, whose rows are all `convnext_tiny_stage_0_block_...`), else
by the longer one (`convnext_tiny`), except for the stage/block split (`block1` -> `block1a`),
which is two levels.

A group's row sums its members exactly; when a member's value is unknown the group's value is
`None` (JSON null, the table's `?`) and the row is `partial`: the table then shows the sum of
the known members as a lower bound (`≥`), never as the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnncost.ir import known_sum

_STAGE_BLOCK = re.compile(r"^([A-Za-z]+\d+)[a-z]$")  # block2a -> stage block2, block a
_NUMBERING = re.compile(r"_\d+$")  # Keras's dense_1, dense_2 for repeated auto names

MAX_ROWS = 40  # --group without --depth: the deepest level that shows at most this many rows

LOWER_BOUNDS = "_lower_bounds"  # a group row's known part of each unknown sum (not a column)


@dataclass(frozen=True)
class Node:
    """A layer (no children) or a group of consecutive layers; `rows` index the report's layers."""

    key: str
    rows: tuple[int, ...]
    children: tuple[Node, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.children)


def name_prefixes(name: str) -> list[str]:
    """The prefixes of a row name, shortest first, ending with the name itself."""
    prefixes: list[str] = []
    parts = name.split("/")
    for index, part in enumerate(parts):
        base = "/".join(parts[:index])
        words = part.split("_")
        for count in range(1, len(words) + 1):
            word = words[count - 1]
            head = "_".join(words[: count - 1])
            joined = (base + "/" if base else "") + (head + "_" if head else "")
            stage = _STAGE_BLOCK.match(word)
            if stage:
                prefixes.append(joined + stage.group(1))
            prefixes.append(joined + word)
    return list(dict.fromkeys(prefixes))


def _next_key(prefixes: Sequence[str], parent: str | None) -> str | None:
    """The shortest prefix below `parent` (None at the top), or None when the row is `parent`
    (or an automatically named row that joined the group)."""
    if parent is None:
        return prefixes[0]
    if parent not in prefixes:
        return None
    index = prefixes.index(parent)
    return prefixes[index + 1] if index + 1 < len(prefixes) else None


def snake_case(class_name: str) -> str:
    """Keras's automatic layer name for a class: `GlobalAveragePooling2D` ->
    `global_average_pooling2d` (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name.split(".")[-1])
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_named(name: str, class_name: str) -> bool:
    """`add_3` for an `Add`: the name Keras gives a layer nobody named."""
    return _NUMBERING.sub("", name.split("/")[-1]) == snake_case(class_name)


def _numbered_only(names: Sequence[str]) -> bool:
    """`dense`, `dense_1`, `dense_2`: the same auto name, numbered by Keras (not a block)."""
    return len({_NUMBERING.sub("", n) for n in names}) == 1


def build_tree(names: Sequence[str], types: Sequence[str] | None = None) -> tuple[Node, ...]:
    """The group tree of the rows named `names` (in report order), of classes `types`."""
    prefixes = [name_prefixes(n) for n in names]
    auto = [bool(types) and auto_named(n, t) for n, t in zip(names, types or names, strict=True)]
    return _build(names, prefixes, auto, tuple(range(len(names))), None)


def _run_end(prefixes, auto, indices, start: int, key: str | None, parent) -> int:
    """Where the run of `key` that begins at `start` ends (exclusive): consecutive rows with
    that key, and automatically named rows between two of them."""
    end = start + 1
    while key is not None and end < len(indices):
        if _next_key(prefixes[indices[end]], parent) == key:
            end += 1
            continue
        joined = end
        while joined < len(indices) and auto[indices[joined]]:
            joined += 1
        if joined > end and joined < len(indices):
            if _next_key(prefixes[indices[joined]], parent) == key:
                end = joined + 1
                continue
        break
    return end


def _build(names, prefixes, auto, indices: tuple[int, ...], parent: str | None) -> tuple[Node, ...]:
    nodes: list[Node] = []
    start = 0
    while start < len(indices):
        key = _next_key(prefixes[indices[start]], parent)
        end = _run_end(prefixes, auto, indices, start, key, parent)
        run = indices[start:end]
        if key is None or len(run) < 2 or _numbered_only([names[i] for i in run]):
            nodes += [Node(names[i], (i,)) for i in run]
        else:
            children = _build(names, prefixes, auto, run, key)
            only = children[0] if len(children) == 1 else None
            if only is not None and only.is_group and not _is_stage_split(key, only.key):
                # the same rows under a longer name: one level, not two
                nodes.append(Node(_chain_name(key, only.key), run, only.children))
            else:
                nodes.append(Node(key, run, children))
        start = end
    return tuple(nodes)


def _chain_name(parent: str, child: str) -> str:
    """The name of a group that is also its only sub-group: the one whose last word is a number
    (`convnext_tiny_stage_0`, not `convnext_tiny_stage` or `convnext_tiny_stage_0_block`), else
    the longer (`convnext_tiny`, not `convnext`)."""
    if any(c.isdigit() for c in re.split(r"[_/]", parent)[-1]) or "/" in child[len(parent) :]:
        return parent  # a numbered block, or a nested model (`stem`, not `stem/stem`)
    return child


def _is_stage_split(parent: str, child: str) -> bool:
    """`block2` -> `block2a`: a stage and its block, two levels worth keeping."""
    return child.startswith(parent) and len(child) == len(parent) + 1


def levels(nodes: Sequence[Node]) -> int:
    """How many levels of groups the tree has (0: no groups)."""
    return max((1 + levels(n.children) for n in nodes if n.is_group), default=0)


def cut(nodes: Sequence[Node], depth: int) -> list[Node]:
    """The nodes shown at `depth`: groups at level `depth` collapsed, shallower ones opened."""
    shown: list[Node] = []
    for node in nodes:
        if node.is_group and depth > 0:
            shown += cut(node.children, depth - 1)
        else:
            shown.append(node)
    return shown


def auto_depth(nodes: Sequence[Node], max_rows: int = MAX_ROWS) -> int:
    """The deepest level whose view has at most `max_rows` rows (0 when none does)."""
    best = 0
    for depth in range(levels(nodes) + 1):
        if len(cut(nodes, depth)) <= max_rows:
            best = depth
    return best


def group_row(node: Node, layers: Sequence[Mapping[str, Any]], summable) -> dict[str, Any]:
    """One row for a group: exact sums, the last member's output and receptive field."""
    members = [layers[i] for i in node.rows]
    if not node.is_group:
        return dict(members[0])
    row: dict[str, Any] = {
        "name": node.key,
        "type": f"{len(members)} layers",
        "count": len(members),
        "inputs": members[0].get("inputs", []),
        "output_shape": members[-1].get("output_shape"),
    }
    if "receptive_field" in members[-1]:
        row["receptive_field"] = members[-1]["receptive_field"]
    bounds = {}
    for field in summable:
        if any(field in m for m in members):
            values = [m.get(field) for m in members]
            row[field] = known_sum(values)
            if row[field] is None:  # unknown members: the known part is only a lower bound
                bounds[field] = sum(v for v in values if v is not None)
    if "arithmetic_intensity" in members[-1]:  # --device: the group's FLOPs per byte moved
        flops, moved = row.get("flops"), row.get("bytes_moved")
        row["arithmetic_intensity"] = flops / moved if flops is not None and moved else None
    row["status"] = "exact" if all(m["status"] == "exact" for m in members) else "partial"
    if bounds:
        row[LOWER_BOUNDS] = bounds
    return row


def group_rows(
    layers: Sequence[Mapping[str, Any]], depth: int | None, summable: Sequence[str]
) -> list[dict[str, Any]]:
    """The rows of `report --group [--depth N]` (depth None: `auto_depth`)."""
    tree = build_tree([row["name"] for row in layers], [row["type"] for row in layers])
    if depth is None:
        depth = auto_depth(tree)
    return [group_row(node, layers, summable) for node in cut(tree, depth)]
