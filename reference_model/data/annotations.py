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
    line_numbers: tuple[int, ...] = ()  # 1-based line of each row in the file

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
    # (line number, text) of the non-blank lines: numbers are the file's, blank lines counted
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a header line")
    try:
        declared = int(lines[0][1].strip())
    except ValueError:
        raise DataError(
            f"{path}:{lines[0][0]}: first line should be a row count, got {lines[0][1]!r}"
        ) from None
    columns = tuple(lines[1][1].split())
    rows = []
    for number, line in lines[2:]:
        try:
            rows.append(split_row(line, len(columns)))
        except ValueError as exc:
            raise DataError(f"{path}:{number}: {exc}") from None
    return Table(path, declared, columns, tuple(rows), tuple(n for n, _ in lines[2:]))


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
    numbers = table.line_numbers or tuple(range(3, 3 + len(table.rows)))
    for index, (number, (name, ctype)) in enumerate(zip(numbers, table.rows, strict=True), 1):
        cats.append(Category(index, name, _int(ctype, table.path, number)))
    return tuple(cats)


def by_image(table: Table) -> dict[str, tuple[int, tuple[str, ...]]]:
    """image name -> (line, the row's other fields); an image listed twice is an error (the
    second row would silently replace the first)."""
    out: dict[str, tuple[int, tuple[str, ...]]] = {}
    numbers = table.line_numbers or tuple(range(3, 3 + len(table.rows)))
    for number, (name, *values) in zip(numbers, table.rows, strict=True):
        if name in out:
            raise DataError(
                f"{table.path}:{number}: {name} is listed again (first at line {out[name][0]})"
            )
        out[name] = (number, tuple(values))
    return out


def parse_category_labels(table: Table) -> dict[str, int]:
    return {
        name: _int(label, table.path, number)
        for name, (number, (label,)) in by_image(table).items()
    }


def parse_bboxes(table: Table) -> dict[str, BBox]:
    return {
        name: BBox(*(_int(v, table.path, number) for v in values))
        for name, (number, values) in by_image(table).items()
    }


def parse_partition(table: Table) -> dict[str, str]:
    out = {}
    for name, (number, (status,)) in by_image(table).items():
        if status not in SPLIT_NAMES:
            raise DataError(
                f"{table.path}:{number}: unknown evaluation_status {status!r} for {name}"
            )
        out[name] = status
    return out


def find_anno_dir(root: Path) -> Path:
    for name in ANNO_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root}: no Anno/ or Anno_coarse/ folder (is this the DeepFashion root?)")


def _int(text: str, path: str, line: int | None = None) -> int:
    try:
        return int(text)
    except ValueError:
        where = f"{path}:{line}" if line else path
        raise DataError(f"{where}: expected an integer, got {text!r}") from None
