"""Fitting a table into a terminal width without cutting a number.

Columns are of three kinds:

* `fixed` (numbers, statuses): always their full width; a number is never cut or wrapped.
* `wrap` (output shapes, receptive fields, input lists): may wrap at spaces only, so their
  narrowest width is their longest space-free word (`60..68/8`, `112x112x96`).
* `shorten` (layer names, types): shortened to fit. Types first lose well-known word endings
  (`BatchNormalization` -> `BatchNorm`), then any text loses its middle (`block2a_e…ivation`), so
  the start (the block) and the end (what the layer is) stay readable.

When even the narrowest widths do not fit, columns are left out from the right (never the first)
and the renderer says which ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len

ELLIPSIS = "…"

# Word endings of Keras class names, replaced (in this order) when the type column is too narrow.
# Tier 1 keeps the name recognisable to anyone who knows Keras; tier 2 is terser.
TYPE_ABBREVIATIONS = (
    (
        # BatchNormalization -> BatchNorm, but a bare Normalization stays
        ("Normalization", "Norm", True),
        ("AveragePooling", "AvgPool", False),
        ("MaxPooling", "MaxPool", False),
        ("DepthwiseConv", "DWConv", False),
        ("SeparableConv", "SepConv", False),
        ("ZeroPadding", "ZeroPad", False),
        ("Transpose", "T", False),
    ),
    (
        ("Global", "G", False),
        ("Normalization", "Norm", False),
    ),
)

MIN_SHORTENED = 8  # a shortened type is never narrower than this
MIN_NAME = 12  # nor a shortened layer name: columns on the right are left out first


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, its middle replaced by `…` (about 55% head, 45% tail)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    tail = max(1, keep - (keep * 11 + 19) // 20)  # keep - ceil(0.55 * keep), at least 1
    # a wide last character takes 2 cells: kept when it fits beside the ellipsis, else dropped
    end = _cells_from_end(text, tail) or (text[-1] if cell_len(text[-1]) <= keep else "")
    return _cells_from_start(text, keep - cell_len(end)) + ELLIPSIS + end


def _cells_from_start(text: str, width: int) -> str:
    """The longest start of `text` that fits `width` terminal cells (a CJK character is 2)."""
    out, used = [], 0
    for char in text:
        used += cell_len(char)
        if used > width:
            break
        out.append(char)
    return "".join(out)


def _cells_from_end(text: str, width: int) -> str:
    return _cells_from_start(text[::-1], width)[::-1]


def abbreviate_type(text: str, tier: int) -> str:
    """A Keras class name with the word endings of TYPE_ABBREVIATIONS[0..tier-1] shortened."""
    for rules in TYPE_ABBREVIATIONS[:tier]:
        for long, short, only_inside in rules:
            if only_inside and text.startswith(long):
                continue
            text = text.replace(long, short)
    return text


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


@dataclass(frozen=True)
class FittedColumns:
    """Which columns stay, their widths, and the cell texts after shortening."""

    columns: tuple[str, ...]
    widths: Mapping[str, int]
    cells: tuple[tuple[str, ...], ...]  # per row, in `columns` order
    dropped: tuple[str, ...]
    name_prefix: str = ""  # written as a leading `…` in the name column (see common_prefix)


MIN_PREFIX = 6  # a shared start of names shorter than this is kept


def common_prefix(texts: Sequence[str]) -> str:
    """The longest start, ending with `_` or `/`, that at least half of `texts` share
    (`convnext_tiny_` in ConvNeXt): the name column writes it as `…` when names do not fit."""
    counts: dict[str, int] = {}
    numbered: set[str] = set()  # `stage_` before `0_block...`: the number belongs to the word
    for text in texts:
        for index, char in enumerate(text[:-1]):
            if char in "_/":
                counts[text[: index + 1]] = counts.get(text[: index + 1], 0) + 1
                if text[index + 1].isdigit():
                    numbered.add(text[: index + 1])
    shared = [
        p
        for p, n in counts.items()
        if 2 * n >= len(texts) and len(p) >= MIN_PREFIX and p not in numbered
    ]
    return max(shared, key=len, default="")


def _strip_prefix(texts: Sequence[str], prefix: str) -> list[str]:
    return [ELLIPSIS + t[len(prefix) :] if prefix and t.startswith(prefix) else t for t in texts]


def table_overhead(count: int) -> int:
    """Cells a rich table (pad_edge=False, box borders) adds around `count` columns:
    count + 1 vertical rules and one space of padding on each inner side, 2*count - 2."""
    return (count + 1) + max(2 * count - 2, 0)


def _natural(column: str, texts: Sequence[str], extra: Sequence[str]) -> int:
    return max((cell_len(t) for t in (*texts, *extra)), default=0)


def _minimum(
    column: str, kind: str, natural: int, texts: Sequence[str], header: str, footer: str
) -> int:
    if kind == "fixed":
        return natural
    if kind == "wrap":
        return max(_longest_word(t) for t in (*texts, header, footer))
    least = MIN_NAME if column == "name" else MIN_SHORTENED
    return min(natural, max(least, cell_len(header), cell_len(footer)))


def fit_columns(
    columns: Sequence[str],
    kinds: Mapping[str, str],
    headers: Mapping[str, str],
    footers: Mapping[str, str],
    rows: Sequence[Sequence[str]],
    width: int,
) -> FittedColumns:
    """Widths for `columns` whose table is at most `width` cells wide; `kinds[c]` is `fixed`,
    `wrap` or `shorten` (see the module docstring); `rows` are the cell texts in column order."""
    columns = list(columns)
    texts = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
    dropped: list[str] = []
    prefix = ""
    if "name" in texts and kinds.get("name") == "shorten":
        overhead = table_overhead(len(columns))
        natural = sum(_natural(c, texts[c], [headers[c], footers.get(c, "")]) for c in columns)
        if natural + overhead > width:  # the names must shrink: first lose what they share
            prefix = common_prefix(texts["name"])
            texts["name"] = _strip_prefix(texts["name"], prefix)
    while True:
        widths = _widths(columns, kinds, headers, footers, texts, width)
        if widths is not None or len(columns) == 1:
            break
        dropped.insert(0, columns.pop())
    if widths is None:  # one column that does not fit: show it whole, the terminal wraps it
        widths = {columns[0]: _natural(columns[0], texts[columns[0]], [headers[columns[0]]])}
    cells = []
    for r in range(len(rows)):
        cells.append(tuple(_fit_cell(texts[c][r], kinds[c], widths[c]) for c in columns))
    return FittedColumns(tuple(columns), widths, tuple(cells), tuple(dropped), prefix)


def _fit_cell(text: str, kind: str, width: int) -> str:
    if kind != "shorten" or cell_len(text) <= width:
        return text
    return shorten_middle(text, width)


def _widths(columns, kinds, headers, footers, texts, width) -> dict[str, int] | None:
    budget = width - table_overhead(len(columns))
    natural, minimum = {}, {}
    for c in columns:
        extra = [headers[c], footers.get(c, "")]
        natural[c] = _natural(c, texts[c], extra)
        minimum[c] = _minimum(c, kinds[c], natural[c], texts[c], headers[c], footers.get(c, ""))
    if sum(minimum.values()) > budget:
        return None
    widths = dict(natural)
    # types first lose word endings (only when the table is too wide)
    for tier in (1, 2):
        if sum(widths.values()) <= budget:
            return widths
        for c in columns:
            if kinds[c] == "shorten" and c == "type":
                texts[c] = [abbreviate_type(t, tier) for t in texts[c]]
                widths[c] = max(_natural(c, texts[c], [headers[c]]), minimum[c])
                widths[c] = min(widths[c], natural[c])
    # then wrap columns give up their slack, and names/types shrink: the widest one first
    # (a tie goes to the later column, so the layer name keeps the most)
    excess = sum(widths.values()) - budget
    while excess > 0:
        shrinkable = [c for c in columns if kinds[c] != "fixed" and widths[c] > minimum[c]]
        wraps = [c for c in shrinkable if kinds[c] == "wrap"]
        pool = wraps or shrinkable
        widest = max(pool, key=lambda c: (widths[c], columns.index(c)))
        widths[widest] -= 1
        excess -= 1
    return widths
