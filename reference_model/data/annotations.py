"""Parsers for the DeepFashion Category & Attribute Prediction annotation files.

Every file has the same shape: a count line, a header line naming the columns, then
whitespace-separated rows. Parsing is strict about structure (so a wrong file is reported,
not silently misread) and lenient about spacing (the official files pad with runs of spaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

# The two folder names the annotations have been distributed under (the newer release renamed
# Anno/ to Anno_coarse/ when it added Anno_fine/).
ANNO_DIRS = ("Anno", "Anno_coarse")
CATEGORY_TYPES = {1: "upper", 2: "lower", 3: "full"}
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Table:
    """One annotation file: its declared count, column names and rows (tuples of strings)."""

    path: str
    declared_count: int
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def count_matches(self) -> bool:
        return self.declared_count == len(self.rows)


@dataclass(frozen=True)
class Category:
    id: int  # 1-based, as in list_category_img.txt
    name: str
    type: int  # 1 upper, 2 lower, 3 full body


@dataclass(frozen=True)
class BBox:
    x1: int
    y1: int
    x2: int
    y2: int


def split_row(line: str, n_columns: int) -> tuple[str, ...]:
    """Split a row into `n_columns` fields; the first field keeps any inner spaces.

    Values (labels, coordinates, split names) never contain spaces but names can, so the row is
    split from the right: extra words belong to the name, not to a new column.
    """
    parts = line.strip().rsplit(None, n_columns - 1)
    if len(parts) != n_columns:
        raise ValueError(f"expected {n_columns} fields, got {len(parts)}")
    return tuple(parts)


def parse_table(text: str, path: str = "<text>") -> Table:
    """Parse the count line, the header line and the rows of one annotation file."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a header line")
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path}: first line should be a row count, got {lines[0]!r}") from None
    columns = tuple(lines[1].split())
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        try:
            rows.append(split_row(line, len(columns)))
        except ValueError as exc:
            raise DataError(f"{path}:{number}: {exc}") from None
    return Table(path, declared, columns, tuple(rows))


def read_table(path: Path, expected_columns: tuple[str, ...]) -> Table:
    if not path.is_file():
        raise DataError(f"missing annotation file {path}")
    # The official files are ASCII; latin-1 never fails, so a stray byte cannot stop a run.
    table = parse_table(path.read_text(encoding="latin-1"), str(path))
    if table.columns != expected_columns:
        raise DataError(f"{path}: header {table.columns} is not {expected_columns}")
    return table


def parse_categories(table: Table) -> tuple[Category, ...]:
    cats = []
    for index, (name, ctype) in enumerate(table.rows, start=1):
        cats.append(Category(index, name, _int(ctype, table.path)))
    return tuple(cats)


def parse_category_labels(table: Table) -> dict[str, int]:
    return {name: _int(label, table.path) for name, label in table.rows}


def parse_bboxes(table: Table) -> dict[str, BBox]:
    return {row[0]: BBox(*(_int(v, table.path) for v in row[1:])) for row in table.rows}


def parse_partition(table: Table) -> dict[str, str]:
    out = {}
    for name, status in table.rows:
        if status not in SPLIT_NAMES:
            raise DataError(f"{table.path}: unknown evaluation_status {status!r} for {name}")
        out[name] = status
    return out


def find_anno_dir(root: Path) -> Path:
    for name in ANNO_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root}: no Anno/ or Anno_coarse/ folder (is this the DeepFashion root?)")


def _int(text: str, path: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}: expected an integer, got {text!r}") from None
